-- 10_util.sql — small helpers every other area uses: errors (_fail, _show),
-- the time zone check behind conferences' CHECK constraint, text
-- normalisation (norm), local ISO times, snippets, json key appending.

-- Raise a ConferenceHaven error (CH400 / CH404 / CH422).
CREATE OR REPLACE FUNCTION confhaven._fail(code text, msg text, hint text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
    IF hint IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = code, MESSAGE = msg;
    END IF;
    RAISE EXCEPTION USING ERRCODE = code, MESSAGE = msg, HINT = hint;
END
$$;

-- Shorten a value for an error message and quote it JSON-style.
CREATE OR REPLACE FUNCTION confhaven._show(v text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE WHEN v IS NULL THEN 'null'
                WHEN length(v) > 60 THEN to_json(left(v, 57) || '...')::text
                ELSE to_json(v)::text END;
$$;

-- True when tz is a time zone name from the IANA database as PostgreSQL knows
-- it (pg_timezone_names).  Abbreviations ("EST") and POSIX strings ("UTC+3")
-- are rejected.  Declared IMMUTABLE so it can back a CHECK constraint: the
-- zone list only changes with a tzdata upgrade.  It loads the one zone
-- (setting TimeZone for the call only; the zone's canonical spelling must
-- be the one given) instead of listing pg_timezone_names, which reads every
-- zone file: about 0.1 s, and the CHECK runs it on every write of a
-- conference (five times per import).  Same answer for every name of
-- pg_timezone_names (issue 13).
CREATE OR REPLACE FUNCTION confhaven.is_valid_timezone(tz text)
RETURNS boolean
LANGUAGE plpgsql IMMUTABLE STRICT
SET timezone = 'UTC'
AS $$
BEGIN
    -- Area/City names (and UTC) only: legacy zones such as EST or CET exist
    -- in pg_timezone_names but ignore daylight saving where people live.
    IF NOT (tz = 'UTC' OR tz ~ '^[A-Za-z]+(/[A-Za-z0-9_+-]+)+$') THEN
        RETURN false;
    END IF;
    BEGIN
        PERFORM set_config('timezone', tz, true);
    EXCEPTION WHEN invalid_parameter_value THEN
        RETURN false;
    END;
    RETURN current_setting('timezone') = tz;
END
$$;

-- Lower-case, accent-free text (the form of every *_norm column and of the
-- query).  unaccent() is only STABLE because its dictionary could change;
-- we store its results, so a dictionary change needs a re-import (rare).
CREATE OR REPLACE FUNCTION confhaven.norm(t text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = confhaven, public, pg_catalog
AS $$
    SELECT lower(unaccent(t));
$$;

-- ISO 8601 local time with the zone's UTC offset at that instant,
-- e.g. iso_local('2026-10-02 08:00+00', 'Europe/London') = '2026-10-02T09:00:00+01:00'.
-- Written without a FROM clause so that the planner inlines it (a SQL
-- function with a FROM clause is planned again for every query that calls it).
CREATE OR REPLACE FUNCTION confhaven.iso_local(ts timestamptz, tz text)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT to_char(ts AT TIME ZONE tz, 'YYYY-MM-DD"T"HH24:MI:SS')
        || CASE WHEN (ts AT TIME ZONE tz) < (ts AT TIME ZONE 'UTC') THEN '-' ELSE '+' END
        || to_char(CASE WHEN (ts AT TIME ZONE tz) < (ts AT TIME ZONE 'UTC')
                        THEN (ts AT TIME ZONE 'UTC') - (ts AT TIME ZONE tz)
                        ELSE (ts AT TIME ZONE tz) - (ts AT TIME ZONE 'UTC') END, 'HH24:MI');
$$;

-- First ~240 characters of the plain abstract, cut at a word boundary.
CREATE OR REPLACE FUNCTION confhaven.snippet(plain text, max_len integer DEFAULT 240)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE
        WHEN plain IS NULL THEN NULL
        WHEN length(plain) <= max_len THEN plain
        ELSE coalesce(substring(left(plain, max_len) FROM '^(.*\S)\s+\S*$'), left(plain, max_len)) || '…'
    END;
$$;

-- a json object with the keys of b added at its end (json keeps key order)
CREATE OR REPLACE FUNCTION confhaven._json_extend(a json, b jsonb)
RETURNS json
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE WHEN b IS NULL OR b = '{}' THEN a
                ELSE (left(a::text, -1) || ', ' || substr(b::text, 2))::json END;
$$;
