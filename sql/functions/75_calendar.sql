-- 75_calendar.sql — iCalendar (RFC 5545) for sessions and personal agenda
-- feeds.  Operations: ngx_http_confhaven_op_calendar.c; tables and columns:
-- migrations/010_calendar.sql.
--
--   GET  /api/sessions/{id}.ics     api_session_ics(id, base)
--   POST /api/agendas               api_agenda_create(body)
--   GET  /api/agendas/{token}       api_agenda(token)
--   PUT  /api/agendas/{token}       api_agenda_replace(token, body)
--   DELETE /api/agendas/{token}     api_agenda_delete(token)
--   GET  /api/agendas/{token}.ics   api_agenda_ics(token, base)
--
-- A VEVENT: UID <session id>@<conference slug>.confhaven (session ids are
-- stable across re-imports: the importer upserts by (conference,
-- external_id)); DTSTAMP is when its content last changed and SEQUENCE
-- how often (ics_refresh, run by every import); DTSTART/DTEND are local
-- times with TZID=<the conference's IANA zone> and a VTIMEZONE built from
-- PostgreSQL's own zone data for the years the events span (every
-- transition as an observance with its real offsets; no RRULE, so rules
-- that changed or follow no weekday pattern are still right).  A local
-- time that would name another instant (the repeated hour when clocks go
-- back) and conferences in UTC use UTC times ("...Z") instead.  TEXT
-- values are escaped (\\ \; \, \n) and every content line is folded at 75
-- octets on UTF-8 character boundaries, never inside an escape, with CRLF
-- line ends.  base is our own absolute URL prefix (scheme://host) from
-- the front end, for the URL of sessions whose schedule names no page.

-- ---------------------------------------------------------------------------
-- Writing content lines
-- ---------------------------------------------------------------------------

-- A TEXT value (RFC 5545 §3.3.11): backslash first, then ; , and newlines;
-- other control characters (not allowed in TEXT) are dropped.
CREATE OR REPLACE FUNCTION confhaven.ics_text(t text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT replace(replace(replace(replace(
               regexp_replace(regexp_replace(t, E'\r\n?', E'\n', 'g'),
                              '[\x01-\x08\x0b-\x1f\x7f]', '', 'g'),
               '\', '\\'), ';', '\;'), ',', '\,'), E'\n', '\n');
$$;

-- One content line, folded (§3.1): at most 75 octets on the first line and
-- 74 after the leading space of each continuation, cut before a UTF-8
-- continuation byte and never between a backslash and what it escapes;
-- CRLF after each physical line.
CREATE OR REPLACE FUNCTION confhaven.ics_fold(line text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
DECLARE
    b    bytea := convert_to(line, 'UTF8');
    n    integer := octet_length(b);
    pos  integer := 0;
    lim  integer := 75;
    cut  integer;
    k    integer;
    out  text[] := '{}';
BEGIN
    IF line IS NULL THEN
        RETURN NULL;
    END IF;
    IF n <= 75 THEN
        RETURN line || E'\r\n';
    END IF;
    WHILE pos < n LOOP
        cut := pos + lim;
        IF cut >= n THEN
            cut := n;
        ELSE
            WHILE cut > pos + 1 AND (get_byte(b, cut) & 192) = 128 LOOP
                cut := cut - 1;
            END LOOP;
            -- an odd run of backslashes before the cut: the last one escapes
            -- the octet after the cut
            k := 0;
            WHILE cut - 1 - k >= pos AND get_byte(b, cut - 1 - k) = 92 LOOP
                k := k + 1;
            END LOOP;
            IF k % 2 = 1 THEN
                cut := cut - 1;
            END IF;
        END IF;
        out := out || convert_from(substring(b FROM pos + 1 FOR cut - pos), 'UTF8');
        pos := cut;
        lim := 74;
    END LOOP;
    RETURN array_to_string(out, E'\r\n ') || E'\r\n';
END
$$;

-- A UTC date-time value: 20260615T120000Z
CREATE OR REPLACE FUNCTION confhaven._ics_utc(ts timestamptz)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT to_char(ts AT TIME ZONE 'UTC', 'YYYYMMDD"T"HH24MISS"Z"');
$$;

-- The zone's offset from UTC at an instant, in seconds.
CREATE OR REPLACE FUNCTION confhaven._tz_offset(ts timestamptz, tz text)
RETURNS integer
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT extract(epoch FROM (ts AT TIME ZONE tz) - (ts AT TIME ZONE 'UTC'))::integer;
$$;

-- A UTC offset value (§3.3.14): +0100, -0330, +053728 (seconds only when
-- there are some).
CREATE OR REPLACE FUNCTION confhaven._ics_offset(secs integer)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE WHEN secs < 0 THEN '-' ELSE '+' END
        || lpad((abs(secs) / 3600)::text, 2, '0')
        || lpad((abs(secs) % 3600 / 60)::text, 2, '0')
        || CASE WHEN abs(secs) % 60 = 0 THEN ''
                ELSE lpad((abs(secs) % 60)::text, 2, '0') END;
$$;

-- DTSTART/DTEND of an event: the local time with TZID, or UTC when the
-- conference is in UTC or the local time would read back as another
-- instant (the hour that repeats when clocks go back).  NULL for NULL.
CREATE OR REPLACE FUNCTION confhaven._ics_time(prop text, ts timestamptz, tz text)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT CASE
        WHEN ts IS NULL THEN NULL
        WHEN tz = 'UTC' OR ((ts AT TIME ZONE tz) AT TIME ZONE tz) <> ts
        THEN prop || ':' || confhaven._ics_utc(ts) || E'\r\n'
        ELSE confhaven.ics_fold(prop || ';TZID=' || tz || ':'
                                || to_char(ts AT TIME ZONE tz, 'YYYYMMDD"T"HH24MISS'))
    END;
$$;

-- ---------------------------------------------------------------------------
-- VTIMEZONE from PostgreSQL's zone data
-- ---------------------------------------------------------------------------

-- The VTIMEZONE of tz for events between first_at and last_at: every
-- offset transition from 1 January of the first event's (local) year to
-- the end of the last event's year, each an observance with its onset in
-- the local time before it (TZOFFSETFROM), its offsets and its
-- abbreviation; before them, the observance in effect on 1 January
-- (its real onset when one is found in the 400 days before, else
-- 19700101T000000 with equal offsets).  Observances whose offset is above
-- the window's lowest are DAYLIGHT, the others STANDARD.  Transitions are
-- found by sampling the offset daily and then by the minute.
CREATE OR REPLACE FUNCTION confhaven.ics_vtimezone(tz text, first_at timestamptz,
                                                   last_at timestamptz)
RETURNS text
LANGUAGE plpgsql STABLE
SET TimeZone = 'UTC'
AS $$
DECLARE
    w_from  timestamptz := date_trunc('year', first_at AT TIME ZONE tz) AT TIME ZONE tz;
    w_to    timestamptz := (date_trunc('year', last_at AT TIME ZONE tz) + interval '1 year')
                           AT TIME ZONE tz;
    t       record;
    obs     jsonb[] := '{}';
    o       jsonb;
    std     integer;
    out     text;
BEGIN
    IF tz IS NULL OR first_at IS NULL OR last_at IS NULL THEN
        RETURN NULL;
    END IF;

    FOR t IN
        WITH days AS (
            SELECT d, confhaven._tz_offset(d, tz) AS off
              FROM generate_series(w_from - interval '400 days', w_to, interval '1 day') d),
        steps AS (
            SELECT d, lag(d) OVER w AS prev_d, off, lag(off) OVER w AS prev_off
              FROM days WINDOW w AS (ORDER BY d)),
        trans AS (
            SELECT (SELECT m FROM generate_series(st.prev_d, st.d, interval '1 minute') m
                     WHERE confhaven._tz_offset(m, tz) = st.off
                     ORDER BY m LIMIT 1) AS at,
                   st.prev_off AS off_from, st.off AS off_to
              FROM steps st
             WHERE st.prev_off <> st.off)
        SELECT at, off_from, off_to FROM trans
         WHERE at >= w_from
            OR at = (SELECT max(x.at) FROM trans x WHERE x.at < w_from)
         ORDER BY at
    LOOP
        obs := obs || jsonb_build_object('at', t.at, 'from', t.off_from, 'to', t.off_to);
    END LOOP;

    IF cardinality(obs) = 0 OR (obs[1] ->> 'at')::timestamptz > w_from THEN
        obs := jsonb_build_object('at', NULL,
                                  'from', confhaven._tz_offset(w_from, tz),
                                  'to', confhaven._tz_offset(w_from, tz)) || obs;
    END IF;

    SELECT min((x ->> 'to')::integer) INTO std FROM unnest(obs) x;

    -- abbreviations as the zone data has them (to_char's TZ reads TimeZone;
    -- the SET clause restores it when the function returns)
    PERFORM set_config('TimeZone', tz, true);

    out := 'BEGIN:VTIMEZONE' || E'\r\n' || confhaven.ics_fold('TZID:' || tz);

    FOREACH o IN ARRAY obs LOOP
        out := out
            || CASE WHEN (o ->> 'to')::integer > std THEN 'BEGIN:DAYLIGHT' ELSE 'BEGIN:STANDARD' END
            || E'\r\n' || 'DTSTART:'
            || CASE WHEN o ->> 'at' IS NULL THEN '19700101T000000'
                    ELSE to_char(((o ->> 'at')::timestamptz AT TIME ZONE 'UTC')
                                 + (o ->> 'from')::integer * interval '1 second',
                                 'YYYYMMDD"T"HH24MISS') END || E'\r\n'
            || 'TZOFFSETFROM:' || confhaven._ics_offset((o ->> 'from')::integer) || E'\r\n'
            || 'TZOFFSETTO:' || confhaven._ics_offset((o ->> 'to')::integer) || E'\r\n'
            || coalesce(confhaven.ics_fold('TZNAME:' || confhaven.ics_text(nullif(btrim(
                   to_char(coalesce((o ->> 'at')::timestamptz, w_from), 'TZ')), ''))), '')
            || CASE WHEN (o ->> 'to')::integer > std THEN 'END:DAYLIGHT' ELSE 'END:STANDARD' END
            || E'\r\n';
    END LOOP;

    RETURN out || 'END:VTIMEZONE' || E'\r\n';
END
$$;

-- ---------------------------------------------------------------------------
-- Events and calendars
-- ---------------------------------------------------------------------------

-- Run by every import (_apply_sessions) once sessions, rooms and speakers
-- are written: each session's calendar state (session_calendar) from the
-- normalised sessions (their "url", pretalx and frab only) and a hash of
-- what a calendar entry shows (title, subtitle, start, end, room, venue,
-- time zone, abstract, url, speakers; times as epochs, so that the
-- connection's TimeZone does not matter).  A new session gets sequence 0;
-- a changed hash raises the sequence by one and moves changed_at (the
-- DTSTAMP); an identical re-import writes nothing.  Returns how many
-- sessions changed.
CREATE OR REPLACE FUNCTION confhaven.ics_refresh(p_conf bigint, p_sessions jsonb)
RETURNS integer
LANGUAGE sql VOLATILE
AS $$
    WITH src AS (
        SELECT x.external_id, left(min(x.url), 2000) AS url
          FROM jsonb_to_recordset(p_sessions) AS x(external_id text, url text)
         GROUP BY x.external_id),
    h AS (
        -- speakers per session by its key (issue 13: a join read every
        -- session_speakers row of the database on every import)
        SELECT s.id, src.url,
               md5(json_build_array(
                   s.title, s.subtitle, extract(epoch FROM s.start_at),
                   extract(epoch FROM s.end_at), r.name, c.location, c.timezone,
                   s.abstract, src.url,
                   (SELECT json_agg(sp.name ORDER BY ss.position)
                      FROM confhaven.session_speakers ss
                      JOIN confhaven.speakers sp ON sp.id = ss.speaker_id
                     WHERE ss.session_id = s.id))::text) AS hash
          FROM confhaven.sessions s
          JOIN confhaven.conferences c ON c.id = s.conference_id
          LEFT JOIN confhaven.rooms r ON r.id = s.room_id
          LEFT JOIN src ON src.external_id = s.external_id
         WHERE s.conference_id = p_conf),
    u AS (
        INSERT INTO confhaven.session_calendar AS k (session_id, url, hash)
        SELECT h.id, h.url, h.hash FROM h
        ON CONFLICT (session_id) DO UPDATE
           SET url = EXCLUDED.url,
               hash = EXCLUDED.hash,
               sequence = k.sequence + 1,
               changed_at = now()
         WHERE k.hash IS DISTINCT FROM EXCLUDED.hash
        RETURNING 1)
    SELECT count(*)::integer FROM u;
$$;

-- A plain text abstract that keeps its paragraphs (abstract_plain folds
-- every blank to one space).
CREATE OR REPLACE FUNCTION confhaven._ics_abstract(t text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT nullif(btrim(regexp_replace(regexp_replace(regexp_replace(
               confhaven.strip_html(t), E'\r\n?', E'\n', 'g'),
               E'[ \t]+', ' ', 'g'), E'\\s*\n\\s*\n\\s*', E'\n\n', 'g')), '');
$$;

-- One VEVENT, or NULL when the session is unknown, in an inactive
-- conference or has no start time.
CREATE OR REPLACE FUNCTION confhaven._ics_vevent(p_id bigint, base text)
RETURNS text
LANGUAGE sql STABLE
AS $$
    SELECT 'BEGIN:VEVENT' || E'\r\n'
        || confhaven.ics_fold('UID:' || s.id || '@' || c.slug || '.confhaven')
        || 'DTSTAMP:' || confhaven._ics_utc(coalesce(k.changed_at, s.updated_at)) || E'\r\n'
        || 'SEQUENCE:' || coalesce(k.sequence, 0) || E'\r\n'
        || confhaven._ics_time('DTSTART', s.start_at, c.timezone)
        || coalesce(confhaven._ics_time('DTEND', s.end_at, c.timezone), '')
        || confhaven.ics_fold('SUMMARY:' || confhaven.ics_text(s.title))
        || coalesce(confhaven.ics_fold('DESCRIPTION:' || confhaven.ics_text(nullif(concat_ws(E'\n\n',
               s.subtitle,
               confhaven._ics_abstract(s.abstract),
               'Speakers: ' || (SELECT string_agg(sp.name, ', ' ORDER BY ss.position)
                                  FROM confhaven.session_speakers ss
                                  JOIN confhaven.speakers sp ON sp.id = ss.speaker_id
                                 WHERE ss.session_id = s.id),
               c.name), ''))), '')
        || coalesce(confhaven.ics_fold('LOCATION:' || confhaven.ics_text(
               nullif(concat_ws(', ', r.name, c.location), ''))), '')
        || coalesce(confhaven.ics_fold('URL:' || CASE
               WHEN k.url ~ '^https?://[A-Za-z0-9._~:/?#@!$&''()*+,;=%\[\]-]+$' THEN k.url
               ELSE rtrim(base, '/') || '/api/sessions/' || s.id END), '')
        || 'END:VEVENT' || E'\r\n'
      FROM confhaven.sessions s
      JOIN confhaven.conferences c ON c.id = s.conference_id AND c.is_active
      LEFT JOIN confhaven.rooms r ON r.id = s.room_id
      LEFT JOIN confhaven.session_calendar k ON k.session_id = s.id
     WHERE s.id = p_id AND s.start_at IS NOT NULL;
$$;

-- A VCALENDAR with the sessions of ids that have a time (in the order of
-- their start), and one VTIMEZONE per zone they use.  feed: the name and
-- refresh interval of a subscribed calendar.
CREATE OR REPLACE FUNCTION confhaven._ics_calendar(p_ids bigint[], base text, feed text)
RETURNS text
LANGUAGE sql STABLE
AS $$
    WITH ev AS (
        SELECT s.id, c.timezone, s.start_at, coalesce(s.end_at, s.start_at) AS end_at
          FROM unnest(p_ids) AS u(id)
          JOIN confhaven.sessions s ON s.id = u.id
          JOIN confhaven.conferences c ON c.id = s.conference_id AND c.is_active
         WHERE s.start_at IS NOT NULL)
    SELECT 'BEGIN:VCALENDAR' || E'\r\n'
        || 'VERSION:2.0' || E'\r\n'
        || 'PRODID:-//ConferenceHaven//Sessions 1.0//EN' || E'\r\n'
        || 'CALSCALE:GREGORIAN' || E'\r\n'
        || coalesce(confhaven.ics_fold('NAME:' || confhaven.ics_text(feed))
                    || confhaven.ics_fold('X-WR-CALNAME:' || confhaven.ics_text(feed))
                    || 'REFRESH-INTERVAL;VALUE=DURATION:PT1H' || E'\r\n'
                    || 'X-PUBLISHED-TTL:PT1H' || E'\r\n', '')
        || coalesce((SELECT string_agg(confhaven.ics_vtimezone(z.timezone, z.first_at, z.last_at),
                                       '' ORDER BY z.timezone)
                       FROM (SELECT timezone, min(start_at) AS first_at, max(end_at) AS last_at
                               FROM ev WHERE timezone <> 'UTC' GROUP BY timezone) z), '')
        || coalesce((SELECT string_agg(confhaven._ics_vevent(ev.id, base), ''
                                       ORDER BY ev.start_at, ev.id)
                       FROM ev), '')
        || 'END:VCALENDAR' || E'\r\n';
$$;

-- GET /api/sessions/{id}.ics: the calendar and its cache tag (the slug).
CREATE OR REPLACE FUNCTION confhaven.api_session_ics(p_id bigint, base text DEFAULT NULL)
RETURNS TABLE (ics text, slug text)
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    v_slug   text;
    v_start  timestamptz;
BEGIN
    SELECT c.slug, s.start_at INTO v_slug, v_start
      FROM confhaven.sessions s
      JOIN confhaven.conferences c ON c.id = s.conference_id AND c.is_active
     WHERE s.id = p_id;
    IF NOT FOUND THEN
        PERFORM confhaven._fail('CH404', format('no session with id %s', p_id),
            'Session ids come from the "id" field of GET /api/sessions results; search again to find the session.');
    END IF;
    IF v_start IS NULL THEN
        PERFORM confhaven._fail('CH404',
            format('session %s has no time in the schedule yet, so it has no calendar entry', p_id),
            'Try again once the conference has scheduled it; GET /api/sessions/' || p_id || ' shows the session.');
    END IF;
    ics := confhaven._ics_calendar(ARRAY[p_id], base, NULL);
    slug := v_slug;
    RETURN NEXT;
END
$$;

-- ---------------------------------------------------------------------------
-- Agendas: a list of sessions behind an unguessable token
-- ---------------------------------------------------------------------------

-- The session ids of a request body {"session_ids": [42, "43", ...]}: at
-- most 200, each a positive integer (a number or a string of digits) of a
-- session that exists; duplicates dropped, order kept.
CREATE OR REPLACE FUNCTION confhaven._agenda_ids(body text)
RETURNS bigint[]
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    shape    constant text := 'Send a JSON object such as {"session_ids": [42, 43]}; '
                              'session ids come from the "id" field of GET /api/sessions results.';
    doc      jsonb;
    e        jsonb;
    k        text;
    v        text;
    i        integer := 0;
    ids      bigint[] := '{}';
    missing  text;
BEGIN
    BEGIN
        doc := body::jsonb;
    EXCEPTION WHEN OTHERS THEN
        PERFORM confhaven._fail('CH400', 'the request body is not valid JSON', shape);
    END;
    IF jsonb_typeof(doc) IS DISTINCT FROM 'object' THEN
        PERFORM confhaven._fail('CH400',
            format('the request body must be a JSON object, not %s', coalesce(jsonb_typeof(doc), 'nothing')),
            shape);
    END IF;
    FOR k IN SELECT jsonb_object_keys(doc) LOOP
        IF k <> 'session_ids' THEN
            PERFORM confhaven._fail('CH400', format('unknown field %s', confhaven._show(k)), shape);
        END IF;
    END LOOP;
    IF NOT doc ? 'session_ids' THEN
        PERFORM confhaven._fail('CH400', 'the field "session_ids" is missing', shape);
    END IF;
    IF jsonb_typeof(doc -> 'session_ids') <> 'array' THEN
        PERFORM confhaven._fail('CH400',
            format('"session_ids" must be an array of session ids, not %s', jsonb_typeof(doc -> 'session_ids')),
            shape);
    END IF;
    IF jsonb_array_length(doc -> 'session_ids') > 200 THEN
        PERFORM confhaven._fail('CH400',
            format('"session_ids" has %s entries; an agenda holds at most 200 sessions',
                   jsonb_array_length(doc -> 'session_ids')),
            'Split the sessions over several agendas.');
    END IF;
    FOR e IN SELECT x FROM jsonb_array_elements(doc -> 'session_ids') x LOOP
        v := CASE jsonb_typeof(e) WHEN 'number' THEN e::text WHEN 'string' THEN e #>> '{}' END;
        IF v IS NULL OR v !~ '^[1-9][0-9]{0,17}$' THEN
            PERFORM confhaven._fail('CH400',
                format('session_ids[%s] is not a session id: %s', i, confhaven._show(e::text)),
                'Session ids are positive integers, e.g. {"session_ids": [42, 43]}.');
        END IF;
        IF NOT v::bigint = ANY (ids) THEN
            ids := ids || v::bigint;
        END IF;
        i := i + 1;
    END LOOP;
    SELECT string_agg(x.id::text, ', ' ORDER BY x.o) INTO missing
      FROM unnest(ids) WITH ORDINALITY AS x(id, o)
     WHERE NOT EXISTS (SELECT 1 FROM confhaven.sessions s
                         JOIN confhaven.conferences c ON c.id = s.conference_id AND c.is_active
                        WHERE s.id = x.id);
    IF missing IS NOT NULL THEN
        PERFORM confhaven._fail('CH400',
            format('no session with id %s', CASE WHEN length(missing) > 200
                                                 THEN left(missing, 197) || '...' ELSE missing END),
            'Session ids come from the "id" field of GET /api/sessions results; search again to find the sessions.');
    END IF;
    RETURN ids;
END
$$;

-- The stored form of a token: its SHA-256.
CREATE OR REPLACE FUNCTION confhaven._agenda_hash(token text)
RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT sha256(convert_to(token, 'UTF8'));
$$;

-- The agenda of a token, or CH404.
CREATE OR REPLACE FUNCTION confhaven._agenda_find(token text)
RETURNS confhaven.agendas
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    a  confhaven.agendas%ROWTYPE;
BEGIN
    IF token ~ '^[A-Za-z0-9_-]{1,128}$' THEN
        SELECT * INTO a FROM confhaven.agendas WHERE token_hash = confhaven._agenda_hash(token);
        IF FOUND THEN
            RETURN a;
        END IF;
    END IF;
    PERFORM confhaven._fail('CH404', 'no agenda with this token (it may have been deleted)',
        'POST /api/agendas with {"session_ids": [...]} creates an agenda and returns its token.');
    RETURN NULL;
END
$$;

-- The JSON answer about an agenda: its sessions (those a re-import has
-- removed are listed under "missing").
CREATE OR REPLACE FUNCTION confhaven._agenda_json(a confhaven.agendas, token text)
RETURNS json
LANGUAGE sql STABLE
AS $$
    SELECT json_build_object(
        'token', token,
        'ics_url', '/api/agendas/' || token || '.ics',
        'session_ids', to_json(a.session_ids),
        'sessions', coalesce((SELECT json_agg(json_build_object(
                                  'id', s.id,
                                  'conference', c.slug,
                                  'title', s.title,
                                  'start', confhaven.iso_local(s.start_at, c.timezone),
                                  'end', confhaven.iso_local(s.end_at, c.timezone),
                                  'timezone', c.timezone,
                                  'room', r.name,
                                  'ics_url', '/api/sessions/' || s.id || '.ics') ORDER BY u.o)
                                FROM unnest(a.session_ids) WITH ORDINALITY AS u(id, o)
                                JOIN confhaven.sessions s ON s.id = u.id
                                JOIN confhaven.conferences c ON c.id = s.conference_id AND c.is_active
                                LEFT JOIN confhaven.rooms r ON r.id = s.room_id), '[]'::json),
        'missing', coalesce((SELECT json_agg(u.id ORDER BY u.o)
                               FROM unnest(a.session_ids) WITH ORDINALITY AS u(id, o)
                              WHERE NOT EXISTS (SELECT 1 FROM confhaven.sessions s
                                                  JOIN confhaven.conferences c
                                                    ON c.id = s.conference_id AND c.is_active
                                                 WHERE s.id = u.id)), '[]'::json),
        'created_at', a.created_at,
        'updated_at', a.updated_at);
$$;

-- POST /api/agendas: a new agenda and its token (256 bits from two
-- gen_random_uuid(), 244 of them random, base64url: 43 characters).  The
-- token is in this answer only; the table keeps its hash.
CREATE OR REPLACE FUNCTION confhaven.api_agenda_create(body text)
RETURNS json
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    ids    bigint[] := confhaven._agenda_ids(body);
    token  text;
    a      confhaven.agendas%ROWTYPE;
BEGIN
    token := translate(encode(decode(replace(gen_random_uuid()::text || gen_random_uuid()::text,
                                             '-', ''), 'hex'), 'base64'), '+/=', '-_');
    INSERT INTO confhaven.agendas (token_hash, session_ids)
    VALUES (confhaven._agenda_hash(token), ids)
    RETURNING * INTO a;
    RETURN confhaven._agenda_json(a, token);
END
$$;

-- GET /api/agendas/{token}
CREATE OR REPLACE FUNCTION confhaven.api_agenda(token text)
RETURNS json
LANGUAGE sql STABLE
AS $$
    SELECT confhaven._agenda_json(confhaven._agenda_find(token), token);
$$;

-- PUT /api/agendas/{token}: the list replaced as a whole.
CREATE OR REPLACE FUNCTION confhaven.api_agenda_replace(token text, body text)
RETURNS json
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    a    confhaven.agendas%ROWTYPE := confhaven._agenda_find(token);
    ids  bigint[] := confhaven._agenda_ids(body);
BEGIN
    UPDATE confhaven.agendas SET session_ids = ids, updated_at = now()
     WHERE id = a.id
    RETURNING * INTO a;
    IF NOT FOUND THEN
        PERFORM confhaven._agenda_find(NULL);
    END IF;
    RETURN confhaven._agenda_json(a, token);
END
$$;

-- DELETE /api/agendas/{token}
CREATE OR REPLACE FUNCTION confhaven.api_agenda_delete(token text)
RETURNS json
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
    DELETE FROM confhaven.agendas WHERE token_hash = confhaven._agenda_hash(token);
    IF NOT FOUND THEN
        PERFORM confhaven._agenda_find(NULL);
    END IF;
    RETURN json_build_object('deleted', true);
END
$$;

-- GET /api/agendas/{token}.ics: built at read time, so it follows every
-- re-import; sessions without a time (or removed) are left out.
CREATE OR REPLACE FUNCTION confhaven.api_agenda_ics(token text, base text DEFAULT NULL)
RETURNS text
LANGUAGE sql STABLE
AS $$
    SELECT confhaven._ics_calendar((confhaven._agenda_find(token)).session_ids, base,
                                   'ConferenceHaven agenda');
$$;
