-- 30_import.sql — schedule importer: confhaven.import_schedule(...)
--
-- Three parsers (Sessionize "All" JSON, pretalx/frab schedule JSON, frab /
-- pentabarf schedule.xml) each turn the file into one normalised jsonb array
-- of sessions; confhaven._apply_sessions() then writes that array set-based,
-- and only what changed (issue 13): sessions are matched by (conference,
-- external_id) and compared with the file; only new and changed sessions
-- are written, each once with its search columns, vanished ones deleted,
-- the speaker/tag links of the sessions written rewritten, orphan
-- speakers/rooms/tracks/tags dropped, and the term statistics of the
-- conference (search_words, search_acronyms, search_compounds) corrected
-- by what the sessions written or deleted contributed before and after
-- (20_documents.sql; refresh_documents recomputes all of it from scratch).
-- A re-import of an unchanged file writes no session.  The whole import is
-- one statement, so any error rolls everything back and leaves the previous
-- data untouched.
--
-- Normalised session (keys of the jsonb objects in the array):
--   external_id, title, subtitle, abstract, start_at, end_at (timestamptz as
--   text with offset), room, room_sort, track, level, level_detail, format,
--   language, is_service, is_plenum, tags [text], speakers [{external_id,name,bio}],
--   url (the session's public page, pretalx and frab only), path (where it
--   came from, for error messages)
--
-- Found by fuzzing (t/fuzz/import_mutate.py, make fuzz; was migration 008):
-- frab XML takes the first of a repeated child element ('title[1]'); a
-- file's conference dates are used only as a pair, and start after end is
-- a CH422 naming both dates.

-- ---------------------------------------------------------------------------
-- Small shared helpers
-- ---------------------------------------------------------------------------

-- Map free-form level wording to Introductory / Intermediate / Advanced.
-- "100 - Beginner", "Introductory and overview" -> Introductory;
-- "200 - Intermediate" -> Intermediate; "300", "400 - Expert", "Advanced" -> Advanced.
CREATE OR REPLACE FUNCTION confhaven.normalize_level(v text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE
        WHEN v IS NULL THEN NULL
        WHEN v ~* '^\s*l?100\M|beginner|introduct|novice|basic|foundation|overview|all levels'
            THEN 'Introductory'
        WHEN v ~* '^\s*l?200\M|intermediate'
            THEN 'Intermediate'
        WHEN v ~* '^\s*l?[34]00\M|advanced|expert|deep[ -]?dive'
            THEN 'Advanced'
        ELSE NULL END;
$$;

-- Remove HTML markup (only well-known tag names, so "List<T>" survives),
-- comments, and decode entities.  Does not collapse whitespace.
CREATE OR REPLACE FUNCTION confhaven.strip_html(t text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
AS $$
DECLARE
    r    text := t;
BEGIN
    IF position('<' IN r) > 0 THEN
        r := regexp_replace(r, '<!--.*?-->', ' ', 'g');
        r := regexp_replace(r,
            '</?(p|br|a|ul|ol|li|em|strong|b|i|u|s|code|pre|h[1-6]|div|span|blockquote|img|'
            'table|thead|tbody|tr|td|th|hr|sup|sub|del|ins|dl|dt|dd|tt|small|big|center|font|'
            'section|article|figure|figcaption|iframe|video|source|kbd|cite|abbr|q|strike|mark|wbr)'
            '(\s[^<>]*)?/?>', ' ', 'gi');
    END IF;
    IF position('&' IN r) > 0 THEN
        r := replace(r, '&nbsp;', ' ');
        r := replace(r, '&lt;', '<');
        r := replace(r, '&gt;', '>');
        r := replace(r, '&quot;', '"');
        r := replace(r, '&apos;', '''');
        r := replace(r, '&ndash;', '–');
        r := replace(r, '&mdash;', '—');
        r := replace(r, '&hellip;', '…');
        r := replace(r, '&rsquo;', '’');
        r := replace(r, '&lsquo;', '‘');
        r := replace(r, '&rdquo;', '”');
        r := replace(r, '&ldquo;', '“');
        -- numeric entities (decimal, hexadecimal) in one pass over the
        -- text, each decoded once: a loop per distinct entity rescanned the
        -- whole text each time, quadratic in a large schedule
        IF position('&#' IN r) > 0 THEN
            SELECT string_agg(CASE WHEN e.c IS NULL THEN e.t
                                   WHEN e.c BETWEEN 1 AND 1114111
                                        AND e.c NOT BETWEEN 55296 AND 57343
                                   THEN chr(e.c)
                                   ELSE ' ' END, '' ORDER BY e.o)
              INTO r
              FROM (SELECT em.mt[1] AS t, em.o,
                           CASE WHEN em.mt[1] ~ '^&#[0-9]'
                                THEN substr(em.mt[1], 3, length(em.mt[1]) - 3)::integer
                                WHEN em.mt[1] ~ '^&#[xX]'
                                THEN ('x' || lpad(substr(em.mt[1], 4, length(em.mt[1]) - 4), 8, '0'))::bit(32)::integer
                           END AS c
                      FROM regexp_matches(r, '&#[0-9]{1,7};|&#[xX][0-9a-fA-F]{1,6};|[^&]+|&', 'g')
                           WITH ORDINALITY em(mt, o)) e;
        END IF;
        r := replace(r, '&amp;', '&');
    END IF;
    RETURN r;
END
$$;

-- Plain text used for snippets and the search document.  An ASCII text
-- whose only blanks are single spaces is left as it is (issue 13: the
-- regular expression was most of this function's cost in an import).
CREATE OR REPLACE FUNCTION confhaven.plain_text(t text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
DECLARE
    h text := confhaven.strip_html(t);
BEGIN
    IF octet_length(h) = length(h) AND strpos(h, '  ') = 0 AND strpos(h, E'\n') = 0
       AND strpos(h, E'\t') = 0 AND strpos(h, E'\r') = 0 AND strpos(h, E'\f') = 0
       AND strpos(h, E'\x0b') = 0 THEN
        RETURN nullif(btrim(h), '');
    END IF;
    RETURN nullif(btrim(regexp_replace(h, '\s+', ' ', 'g')), '');
END
$$;

-- ---------------------------------------------------------------------------
-- Typed access to JSON with error messages that name the path
-- ---------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION confhaven._j_text(obj jsonb, key text, path text, required boolean)
RETURNS text
LANGUAGE plpgsql IMMUTABLE
AS $$
DECLARE v jsonb := obj -> key;
BEGIN
    IF v IS NULL OR jsonb_typeof(v) = 'null' THEN
        IF required THEN
            PERFORM confhaven._fail('CH422', format('%s.%s is missing', path, key),
                'Upload the schedule file exactly as the conference tool exported it.');
        END IF;
        RETURN NULL;
    END IF;
    IF jsonb_typeof(v) <> 'string' THEN
        PERFORM confhaven._fail('CH422',
            format('%s.%s must be a string, got %s: %s', path, key, jsonb_typeof(v),
                   confhaven._show(v::text)),
            'Upload the schedule file exactly as the conference tool exported it.');
    END IF;
    RETURN v #>> '{}';
END
$$;

-- An identifier: string or number, never empty.
CREATE OR REPLACE FUNCTION confhaven._j_id(obj jsonb, key text, path text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE
AS $$
DECLARE v jsonb := obj -> key;
BEGIN
    IF v IS NULL OR jsonb_typeof(v) = 'null' THEN
        PERFORM confhaven._fail('CH422', format('%s.%s is missing', path, key),
            'Every session, speaker and room needs its id from the export.');
    END IF;
    IF jsonb_typeof(v) NOT IN ('string', 'number') OR btrim(v #>> '{}') = '' THEN
        PERFORM confhaven._fail('CH422',
            format('%s.%s must be a non-empty string or number, got %s', path, key,
                   confhaven._show(v::text)),
            'Every session, speaker and room needs its id from the export.');
    END IF;
    RETURN btrim(v #>> '{}');
END
$$;

CREATE OR REPLACE FUNCTION confhaven._j_bool(obj jsonb, key text, path text, dflt boolean)
RETURNS boolean
LANGUAGE plpgsql IMMUTABLE
AS $$
DECLARE v jsonb := obj -> key;
BEGIN
    IF v IS NULL OR jsonb_typeof(v) = 'null' THEN
        RETURN dflt;
    END IF;
    IF jsonb_typeof(v) <> 'boolean' THEN
        PERFORM confhaven._fail('CH422',
            format('%s.%s must be true or false, got %s', path, key, confhaven._show(v::text)),
            'Upload the schedule file exactly as the conference tool exported it.');
    END IF;
    RETURN v::text::boolean;
END
$$;

-- An array (missing/null -> empty array unless required).
CREATE OR REPLACE FUNCTION confhaven._j_array(obj jsonb, key text, path text, required boolean)
RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE
AS $$
DECLARE v jsonb := obj -> key;
BEGIN
    IF v IS NULL OR jsonb_typeof(v) = 'null' THEN
        IF required THEN
            PERFORM confhaven._fail('CH422', format('%s.%s is missing', path, key),
                'Upload the schedule file exactly as the conference tool exported it.');
        END IF;
        RETURN '[]'::jsonb;
    END IF;
    IF jsonb_typeof(v) <> 'array' THEN
        PERFORM confhaven._fail('CH422',
            format('%s.%s must be an array, got %s', path, key, jsonb_typeof(v)),
            'Upload the schedule file exactly as the conference tool exported it.');
    END IF;
    RETURN v;
END
$$;

-- Parse a date-time.  With an offset (or Z) it is absolute; without one it
-- is local wall-clock time in zone tz.  NULL input -> NULL.  The shapes
-- exports use ("2026-10-02T09:00:00", with "Z" or "+01:00") whose fields
-- are always valid (day 1-28, hours 0-23, ...) take a path without the
-- regular expression and the exception block: both ran for every start
-- and end, about a fifth of a 1,000-session import's parsing (issue 13);
-- anything else takes the general path, as before.
CREATE OR REPLACE FUNCTION confhaven._parse_ts(v text, path text, tz text)
RETURNS timestamptz
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    m     text[];
    shape text;
BEGIN
    IF v IS NULL THEN
        RETURN NULL;
    END IF;
    shape := translate(v, '0123456789', '0000000000');
    IF (shape IN ('0000-00-00T00:00:00', '0000-00-00 00:00:00') AND tz IS NOT NULL
        OR shape IN ('0000-00-00T00:00:00Z', '0000-00-00T00:00:00+00:00', '0000-00-00T00:00:00-00:00')
           AND right(v, 6) !~ '^[+-](1[5-9]|[2-9])' AND (length(v) <> 25 OR right(v, 2) <= '59'))
       AND substr(v, 1, 4) <> '0000'
       AND substr(v, 6, 2) BETWEEN '01' AND '12' AND substr(v, 9, 2) BETWEEN '01' AND '28'
       AND substr(v, 12, 2) <= '23' AND substr(v, 15, 2) <= '59' AND substr(v, 18, 2) <= '59' THEN
        IF length(v) = 19 THEN
            RETURN (left(v, 10) || ' ' || substr(v, 12))::timestamp AT TIME ZONE tz;
        END IF;
        RETURN v::timestamptz;
    END IF;
    m := regexp_match(v,
        '^\s*(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)(Z|[+-]\d{2}(?::?\d{2})?)?\s*$', 'i');
    IF m IS NULL THEN
        PERFORM confhaven._fail('CH422', format('%s is not a date-time: %s', path, confhaven._show(v)),
            'Expected ISO 8601 such as "2026-10-02T09:00:00" or "2026-10-02T09:00:00+01:00".');
    END IF;
    BEGIN
        IF m[3] IS NOT NULL THEN
            RETURN (m[1] || 'T' || m[2] || upper(m[3]))::timestamptz;
        END IF;
        IF tz IS NULL THEN
            PERFORM confhaven._fail('CH400',
                format('%s has no UTC offset and the conference has no time zone', path),
                'Pass timezone=<IANA name>, e.g. timezone=Europe/London.');
        END IF;
        RETURN ((m[1] || ' ' || m[2])::timestamp) AT TIME ZONE tz;
    EXCEPTION
        WHEN datetime_field_overflow OR invalid_datetime_format OR data_exception THEN
            PERFORM confhaven._fail('CH422', format('%s is not a date-time: %s', path, confhaven._show(v)),
                'Expected ISO 8601 such as "2026-10-02T09:00:00" or "2026-10-02T09:00:00+01:00".');
    END;
END
$$;

-- Parse "HH:MM" / "HH:MM:SS" / "D:HH:MM" durations (frab / pretalx).
CREATE OR REPLACE FUNCTION confhaven._parse_duration(v text, path text)
RETURNS interval
LANGUAGE plpgsql IMMUTABLE
AS $$
DECLARE m text[];
BEGIN
    IF v IS NULL OR btrim(v) = '' THEN
        PERFORM confhaven._fail('CH422', format('%s is missing', path),
            'Every event needs a duration such as "00:30".');
    END IF;
    m := regexp_match(btrim(v), '^(?:(\d{1,2}):)?(\d{1,3}):([0-5]\d)(?::([0-5]\d))?$');
    IF m IS NULL THEN
        PERFORM confhaven._fail('CH422', format('%s is not a duration: %s', path, confhaven._show(v)),
            'Expected HH:MM such as "00:30".');
    END IF;
    RETURN make_interval(days => coalesce(m[1], '0')::int, hours => m[2]::int,
                         mins => m[3]::int, secs => coalesce(m[4], '0')::int);
END
$$;

-- ---------------------------------------------------------------------------
-- Parser 1: Sessionize "All" view
-- ---------------------------------------------------------------------------

-- Category role from its title: 'level' | 'format' | 'track' | NULL (ignored).
CREATE OR REPLACE FUNCTION confhaven._sessionize_category_role(title text, ctype text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE
        WHEN ctype IS NOT NULL AND lower(ctype) <> 'session' THEN NULL   -- speaker categories
        WHEN title ~* 'level|difficulty|experience' THEN 'level'
        WHEN title ~* 'type|format' THEN 'format'
        WHEN title ~* 'track|topic|categor|theme|subject|area' THEN 'track'
        ELSE NULL END;
$$;

CREATE OR REPLACE FUNCTION confhaven._parse_sessionize(doc jsonb, tz text)
RETURNS jsonb
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    sessions   jsonb := confhaven._j_array(doc, 'sessions', '$', true);
    speakers   jsonb := confhaven._j_array(doc, 'speakers', '$', true);
    categories jsonb := confhaven._j_array(doc, 'categories', '$', false);
    rooms      jsonb := confhaven._j_array(doc, 'rooms', '$', false);
    spk_map    jsonb := '{}';
    spk_keys   text[] := '{}';    -- speakers in file order, made into spk_map
    spk_vals   jsonb[] := '{}';   -- at the end (growing a jsonb object one key
                                  -- at a time copied it whole every time)
    room_map   jsonb := '{}';
    item_map   jsonb := '{}';   -- category item id -> {role, name, prio}
    out        jsonb[] := '{}';
    e          jsonb;
    i          bigint;
    j          bigint;
    path       text;
    c          jsonb;
    role       text;
    prio       integer;
    sid        text;
    nm         text;
    s_start    timestamptz;
    s_end      timestamptz;
    v          text;
    room_id    text;
    item       jsonb;
    s_spk      jsonb;
    s_tags     text[];
    s_track    text;
    s_track_p  integer;
    s_level    text;
    s_format   text;
BEGIN
    -- speakers: id -> {name, bio}
    FOR e, i IN SELECT x, o - 1 FROM jsonb_array_elements(speakers) WITH ORDINALITY AS t(x, o) LOOP
        path := format('speakers[%s]', i);
        IF jsonb_typeof(e) <> 'object' THEN
            PERFORM confhaven._fail('CH422', path || ' is not an object');
        END IF;
        sid := confhaven._j_id(e, 'id', path);
        nm := btrim(coalesce(nullif(btrim(confhaven._j_text(e, 'fullName', path, false)), ''),
                             concat_ws(' ', nullif(btrim(confhaven._j_text(e, 'firstName', path, false)), ''),
                                            nullif(btrim(confhaven._j_text(e, 'lastName', path, false)), ''))));
        IF nm = '' THEN
            PERFORM confhaven._fail('CH422', path || ' has neither fullName nor firstName/lastName',
                'Every speaker needs a name.');
        END IF;
        spk_keys := spk_keys || sid;
        spk_vals := spk_vals || jsonb_build_object(
            'external_id', sid, 'name', nm,
            'bio', nullif(btrim(confhaven._j_text(e, 'bio', path, false)), ''));
    END LOOP;
    -- a repeated id: the last one counts, as it did key by key
    spk_map := coalesce((SELECT jsonb_object_agg(u.sk, u.sv ORDER BY u.so)
                           FROM unnest(spk_keys, spk_vals) WITH ORDINALITY AS u(sk, sv, so)), '{}');

    -- rooms: id -> {name, sort}
    FOR e, i IN SELECT x, o - 1 FROM jsonb_array_elements(rooms) WITH ORDINALITY AS t(x, o) LOOP
        path := format('rooms[%s]', i);
        IF jsonb_typeof(e) <> 'object' THEN
            PERFORM confhaven._fail('CH422', path || ' is not an object');
        END IF;
        room_map := room_map || jsonb_build_object(confhaven._j_id(e, 'id', path),
            jsonb_build_object('name', btrim(confhaven._j_text(e, 'name', path, true)),
                               'sort', i));
    END LOOP;

    -- categories: item id -> role
    FOR c, i IN SELECT x, o - 1 FROM jsonb_array_elements(categories) WITH ORDINALITY AS t(x, o) LOOP
        path := format('categories[%s]', i);
        IF jsonb_typeof(c) <> 'object' THEN
            PERFORM confhaven._fail('CH422', path || ' is not an object');
        END IF;
        role := confhaven._sessionize_category_role(confhaven._j_text(c, 'title', path, false),
                                                    confhaven._j_text(c, 'type', path, false));
        CONTINUE WHEN role IS NULL;
        -- a category literally about tracks wins over "topics"/"category" for the track
        prio := CASE WHEN c ->> 'title' ~* 'track' THEN i ELSE 1000 + i END;
        FOR item, j IN SELECT x, o - 1 FROM jsonb_array_elements(confhaven._j_array(c, 'items', path, false))
                                            WITH ORDINALITY AS t(x, o) LOOP
            IF jsonb_typeof(item) <> 'object' THEN
                PERFORM confhaven._fail('CH422', format('%s.items[%s] is not an object', path, j));
            END IF;
            item_map := item_map || jsonb_build_object(
                confhaven._j_id(item, 'id', format('%s.items[%s]', path, j)),
                jsonb_build_object('role', role, 'prio', prio,
                    'name', btrim(confhaven._j_text(item, 'name', format('%s.items[%s]', path, j), true))));
        END LOOP;
    END LOOP;

    -- sessions
    FOR e, i IN SELECT x, o - 1 FROM jsonb_array_elements(sessions) WITH ORDINALITY AS t(x, o) LOOP
        path := format('sessions[%s]', i);
        IF jsonb_typeof(e) <> 'object' THEN
            PERFORM confhaven._fail('CH422', path || ' is not an object',
                'sessions must be an array of session objects.');
        END IF;
        sid := confhaven._j_id(e, 'id', path);
        nm := btrim(confhaven._j_text(e, 'title', path, true));
        IF nm = '' THEN
            PERFORM confhaven._fail('CH422', path || '.title is empty');
        END IF;
        v := confhaven._j_text(e, 'startsAt', path, false);
        s_start := confhaven._parse_ts(v, path || '.startsAt', tz);
        v := confhaven._j_text(e, 'endsAt', path, false);
        s_end := confhaven._parse_ts(v, path || '.endsAt', tz);
        IF s_end < s_start THEN
            PERFORM confhaven._fail('CH422', format('%s.endsAt is before startsAt', path));
        END IF;

        -- room
        room_id := NULL;
        IF e ? 'roomId' AND jsonb_typeof(e -> 'roomId') <> 'null' THEN
            room_id := confhaven._j_id(e, 'roomId', path);
            IF NOT room_map ? room_id THEN
                PERFORM confhaven._fail('CH422',
                    format('%s.roomId %s is not in rooms[]', path, confhaven._show(room_id)),
                    'Use the Sessionize "All" view, which lists every room.');
            END IF;
        END IF;

        -- speakers (ordered)
        s_spk := '[]';
        FOR item, j IN SELECT x, o - 1 FROM jsonb_array_elements(confhaven._j_array(e, 'speakers', path, false))
                                            WITH ORDINALITY AS t(x, o) LOOP
            v := CASE WHEN jsonb_typeof(item) = 'object' THEN item ->> 'id' ELSE item #>> '{}' END;
            IF v IS NULL OR NOT spk_map ? v THEN
                PERFORM confhaven._fail('CH422',
                    format('%s.speakers[%s] refers to unknown speaker %s', path, j, confhaven._show(v)),
                    'Use the Sessionize "All" view, which lists every speaker.');
            END IF;
            s_spk := s_spk || jsonb_build_array(spk_map -> v);
        END LOOP;

        -- categories -> level / format / track / tags
        s_tags := '{}'; s_track := NULL; s_track_p := NULL; s_level := NULL; s_format := NULL;
        FOR item, j IN SELECT x, o - 1 FROM jsonb_array_elements(confhaven._j_array(e, 'categoryItems', path, false))
                                            WITH ORDINALITY AS t(x, o) LOOP
            IF jsonb_typeof(item) NOT IN ('number', 'string') THEN
                PERFORM confhaven._fail('CH422',
                    format('%s.categoryItems[%s] must be an id, got %s', path, j, jsonb_typeof(item)));
            END IF;
            c := item_map -> (item #>> '{}');
            CONTINUE WHEN c IS NULL;               -- ignored category (or unknown item)
            CASE c ->> 'role'
                WHEN 'level' THEN s_level := coalesce(s_level, c ->> 'name');
                WHEN 'format' THEN s_format := coalesce(s_format, c ->> 'name');
                WHEN 'track' THEN
                    IF s_track IS NULL OR (c ->> 'prio')::int < s_track_p THEN
                        s_track := c ->> 'name';
                        s_track_p := (c ->> 'prio')::int;
                    END IF;
                    IF NOT (c ->> 'name') = ANY (s_tags) THEN
                        s_tags := s_tags || (c ->> 'name');
                    END IF;
                ELSE NULL;
            END CASE;
        END LOOP;

        out := out || jsonb_build_object(
            'path', path,
            'external_id', sid,
            'title', nm,
            'abstract', confhaven._j_text(e, 'description', path, false),
            'start_at', s_start,
            'end_at', s_end,
            'room', room_map #>> ARRAY[room_id, 'name'],
            'room_sort', (room_map #>> ARRAY[room_id, 'sort'])::int,
            'track', s_track,
            'tags', to_jsonb(s_tags),
            'level', confhaven.normalize_level(s_level),
            'level_detail', s_level,
            'format', s_format,
            'is_service', confhaven._j_bool(e, 'isServiceSession', path, false),
            'is_plenum', confhaven._j_bool(e, 'isPlenumSession', path, false),
            'speakers', s_spk);
    END LOOP;
    RETURN to_jsonb(out);
END
$$;

-- ---------------------------------------------------------------------------
-- Parser 2: pretalx (and frab) schedule JSON
-- ---------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION confhaven._parse_pretalx(doc jsonb, tz text)
RETURNS jsonb
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    conf     jsonb := doc #> '{schedule,conference}';
    days     jsonb;
    day      jsonb;
    di       bigint;
    rk       text;
    rv       jsonb;
    ri       integer := 0;
    room_ord jsonb := '{}';
    e        jsonb;
    ei       bigint;
    p        jsonb;
    pi       bigint;
    path     text;
    ppath    text;
    sid      text;
    nm       text;
    s_start  timestamptz;
    s_spk    jsonb;
    s_track  text;
    pname    text;
    pid      text;
    ab       text;
    descr    text;
    out      jsonb[] := '{}';
BEGIN
    days := confhaven._j_array(conf, 'days', 'schedule.conference', true);
    -- room order from conference.rooms when present
    IF jsonb_typeof(conf -> 'rooms') = 'array' THEN
        FOR rv, ri IN SELECT x, o FROM jsonb_array_elements(conf -> 'rooms') WITH ORDINALITY AS t(x, o) LOOP
            IF jsonb_typeof(rv) = 'object' AND rv ->> 'name' IS NOT NULL AND NOT room_ord ? (rv ->> 'name') THEN
                room_ord := room_ord || jsonb_build_object(rv ->> 'name', ri);
            END IF;
        END LOOP;
    END IF;

    FOR day, di IN SELECT x, o - 1 FROM jsonb_array_elements(days) WITH ORDINALITY AS t(x, o) LOOP
        path := format('schedule.conference.days[%s]', di);
        IF jsonb_typeof(day) <> 'object' THEN
            PERFORM confhaven._fail('CH422', path || ' is not an object');
        END IF;
        IF day ? 'rooms' AND jsonb_typeof(day -> 'rooms') NOT IN ('object', 'null') THEN
            PERFORM confhaven._fail('CH422', path || '.rooms must be an object {room name: [events]}');
        END IF;
        FOR rk, rv IN SELECT key, value FROM jsonb_each(coalesce(nullif(day -> 'rooms', 'null'), '{}')) LOOP
            IF jsonb_typeof(rv) <> 'array' THEN
                PERFORM confhaven._fail('CH422',
                    format('%s.rooms[%s] must be an array of events', path, to_json(rk)));
            END IF;
            IF NOT room_ord ? rk THEN
                room_ord := room_ord || jsonb_build_object(rk, 10000 + (SELECT count(*) FROM jsonb_object_keys(room_ord)));
            END IF;
            FOR e, ei IN SELECT x, o - 1 FROM jsonb_array_elements(rv) WITH ORDINALITY AS t(x, o) LOOP
                ppath := format('%s.rooms[%s][%s]', path, to_json(rk), ei);
                IF jsonb_typeof(e) <> 'object' THEN
                    PERFORM confhaven._fail('CH422', ppath || ' is not an object');
                END IF;
                IF e ? 'id' AND jsonb_typeof(e -> 'id') <> 'null' THEN
                    sid := confhaven._j_id(e, 'id', ppath);
                ELSE
                    sid := confhaven._j_id(e, 'guid', ppath);
                END IF;
                nm := btrim(confhaven._j_text(e, 'title', ppath, true));
                IF nm = '' THEN
                    PERFORM confhaven._fail('CH422', ppath || '.title is empty');
                END IF;
                s_start := confhaven._parse_ts(confhaven._j_text(e, 'date', ppath, true), ppath || '.date', tz);

                s_spk := '[]';
                FOR p, pi IN SELECT x, o - 1 FROM jsonb_array_elements(confhaven._j_array(e, 'persons', ppath, false))
                                                 WITH ORDINALITY AS t(x, o) LOOP
                    IF jsonb_typeof(p) <> 'object' THEN
                        PERFORM confhaven._fail('CH422', format('%s.persons[%s] is not an object', ppath, pi));
                    END IF;
                    pname := btrim(coalesce(p ->> 'public_name', p ->> 'name', p ->> 'full_public_name'));
                    IF pname IS NULL OR pname = '' THEN
                        PERFORM confhaven._fail('CH422',
                            format('%s.persons[%s] has no public_name or name', ppath, pi));
                    END IF;
                    pid := coalesce(p ->> 'code', p ->> 'guid', p ->> 'id', 'name:' || lower(pname));
                    s_spk := s_spk || jsonb_build_array(jsonb_build_object(
                        'external_id', pid, 'name', pname,
                        'bio', nullif(btrim(coalesce(p ->> 'biography', p ->> 'bio')), '')));
                END LOOP;

                ab := nullif(btrim(confhaven._j_text(e, 'abstract', ppath, false)), '');
                descr := nullif(btrim(confhaven._j_text(e, 'description', ppath, false)), '');
                s_track := nullif(btrim(confhaven._j_text(e, 'track', ppath, false)), '');
                out := out || jsonb_build_object(
                    'path', ppath,
                    'external_id', sid,
                    'title', nm,
                    'subtitle', nullif(btrim(confhaven._j_text(e, 'subtitle', ppath, false)), ''),
                    'abstract', CASE WHEN descr IS NULL OR descr = ab THEN ab
                                     ELSE concat_ws(E'\n\n', ab, descr) END,
                    'start_at', s_start,
                    'end_at', s_start + confhaven._parse_duration(e ->> 'duration', ppath || '.duration'),
                    'room', coalesce(nullif(btrim(e ->> 'room'), ''), rk),
                    'room_sort', (room_ord ->> rk)::int,
                    'track', s_track,
                    'tags', CASE WHEN s_track IS NULL THEN '[]'::jsonb ELSE jsonb_build_array(s_track) END,
                    'format', nullif(btrim(confhaven._j_text(e, 'type', ppath, false)), ''),
                    'language', nullif(btrim(confhaven._j_text(e, 'language', ppath, false)), ''),
                    'is_service', false,
                    'is_plenum', false,
                    'speakers', s_spk,
                    'url', nullif(btrim(e ->> 'url'), ''));
            END LOOP;
        END LOOP;
    END LOOP;
    RETURN to_jsonb(out);
END
$$;

-- ---------------------------------------------------------------------------
-- Parser 3: frab / pentabarf schedule.xml
-- ---------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION confhaven._parse_frab_xml(doc xml, tz text)
RETURNS jsonb
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    r       record;
    path    text;
    s_start timestamptz;
    out     jsonb[] := '{}';
    ab      text;
    descr   text;
    s_track text;
BEGIN
    FOR r IN
        SELECT ev.*,
               (SELECT coalesce(jsonb_agg(jsonb_build_object(
                           'external_id', coalesce(nullif(btrim(p.pid), ''), 'name:' || lower(btrim(p.pname))),
                           'name', btrim(p.pname)) ORDER BY p.ord), '[]'::jsonb)
                  FROM XMLTABLE('/persons/person' PASSING ev.persons
                                COLUMNS pid text PATH '@id',
                                        pname text PATH '.',
                                        ord FOR ORDINALITY) p
                 WHERE btrim(p.pname) <> '') AS speakers
          FROM XMLTABLE('/schedule/day/room/event' PASSING doc
                        COLUMNS ord FOR ORDINALITY,
                                ev_id text PATH '@id',
                                ev_guid text PATH '@guid',
                                day_date text PATH '../../@date',
                                room_name text PATH '../@name',
                                date text PATH 'date[1]',
                                duration text PATH 'duration[1]',
                                room text PATH 'room[1]',
                                title text PATH 'title[1]',
                                subtitle text PATH 'subtitle[1]',
                                track text PATH 'track[1]',
                                type text PATH 'type[1]',
                                language text PATH 'language[1]',
                                abstract text PATH 'abstract[1]',
                                description text PATH 'description[1]',
                                url text PATH 'url[1]',
                                persons xml PATH 'persons[1]',
                                has_title boolean PATH 'count(title) > 0',
                                has_date boolean PATH 'count(date) > 0',
                                room_pos integer PATH 'count(../preceding-sibling::room) + 1') ev
    LOOP
        path := format('event %s', coalesce('id="' || r.ev_id || '"', '#' || r.ord));
        IF coalesce(btrim(r.ev_id), '') = '' AND coalesce(btrim(r.ev_guid), '') = '' THEN
            PERFORM confhaven._fail('CH422', format('event #%s (%s) has neither an id nor a guid attribute',
                                                    r.ord, confhaven._show(r.title)),
                'Every <event> needs id="..." (or guid="...").');
        END IF;
        IF NOT r.has_title OR btrim(coalesce(r.title, '')) = '' THEN
            PERFORM confhaven._fail('CH422', path || ': <title> is missing or empty',
                'Every <event> needs a <title>.');
        END IF;
        IF NOT r.has_date THEN
            PERFORM confhaven._fail('CH422', format('%s (%s): <date> is missing', path, confhaven._show(btrim(r.title))),
                'Every <event> needs <date>2025-02-01T10:35:00+01:00</date>.');
        END IF;
        s_start := confhaven._parse_ts(btrim(r.date), path || ' <date>', tz);
        ab := nullif(btrim(r.abstract), '');
        descr := nullif(btrim(r.description), '');
        s_track := nullif(btrim(r.track), '');
        out := out || jsonb_build_object(
            'path', path,
            'external_id', coalesce(nullif(btrim(r.ev_id), ''), btrim(r.ev_guid)),
            'title', btrim(r.title),
            'subtitle', nullif(btrim(r.subtitle), ''),
            'abstract', CASE WHEN descr IS NULL OR descr = ab THEN ab ELSE concat_ws(E'\n\n', ab, descr) END,
            'start_at', s_start,
            'end_at', s_start + confhaven._parse_duration(r.duration, path || ' <duration>'),
            'room', coalesce(nullif(btrim(r.room), ''), nullif(btrim(r.room_name), '')),
            'room_sort', r.room_pos,
            'track', s_track,
            'tags', CASE WHEN s_track IS NULL THEN '[]'::jsonb ELSE jsonb_build_array(s_track) END,
            'format', nullif(btrim(r.type), ''),
            'language', nullif(btrim(r.language), ''),
            'is_service', false,
            'is_plenum', false,
            'speakers', r.speakers,
            'url', nullif(btrim(r.url), ''));
    END LOOP;
    RETURN to_jsonb(out);
END
$$;

-- ---------------------------------------------------------------------------
-- Writer: normalised sessions -> tables
-- ---------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION confhaven._apply_sessions(p_conf bigint, p_sessions jsonb)
RETURNS jsonb
LANGUAGE plpgsql
-- the temporary tables' estimates once led the planner to JIT-compile
-- statements that run in milliseconds, for a second each
SET jit = off
AS $$
DECLARE
    dup         record;
    n_ins       integer;
    n_upd       integer;
    n_del       integer;
    n_total     integer;
    n_service   integer;
    n_neg       integer;       -- words whose count went below zero
    n_new_words integer;       -- words new in the vocabulary
    n_gone      integer;       -- words no session uses any more
    v_written   bigint[] := '{}';  -- sessions inserted or rewritten
    v_rewritten bigint[];      -- of these, sessions that were there before
    v_deleted   bigint[];      -- sessions deleted
    v_words     text[];        -- words whose document frequency changed
    v_gone      text[];        -- of those, the words now used by none
    v_new_words text[];        -- of those, the words new to the conference
    v_ids       bigint[];      -- session ids drawn, in ch_import's order
    v_seq       regclass;
BEGIN
    -- The import works on temporary tables (the file, the conference's
    -- sessions as they are), ANALYZEd so that the planner knows their
    -- sizes: the statistics of confhaven.sessions know nothing yet of a
    -- new conference's rows, and joins planned on them crossed every
    -- session with every other (issue 13).
    CREATE TEMP TABLE IF NOT EXISTS pg_temp.ch_imp (
        ord           integer,
        scan          integer,     -- place in ch_import
        path          text,
        external_id   text,
        title         text,
        subtitle      text,
        abstract      text,
        start_at      timestamptz,
        end_at        timestamptz,
        room          text,
        room_sort     integer,
        track         text,
        level         text,
        level_detail  text,
        format        text,
        language      text,
        is_service    boolean,
        is_plenum     boolean,
        tags          jsonb,
        speakers      jsonb,
        -- filled from the database:
        state         "char",      -- n new, c changed, u unchanged
        session_id    bigint,
        room_id       bigint,
        track_id      bigint,
        spk_ids       bigint[],    -- linked speakers, by position
        spk_pos       integer[],
        speaker_names text[],
        tag_ids       bigint[],    -- linked tags, by position
        tag_pos       integer[],
        tag_names     text[],
        abstract_plain text
    ) ON COMMIT DROP;
    TRUNCATE pg_temp.ch_imp;
    CREATE TEMP TABLE IF NOT EXISTS pg_temp.ch_old (
        id            bigint,
        external_id   text,
        state         "char",      -- c changed, u unchanged, d deleted
        title         text,
        subtitle      text,
        abstract      text,
        abstract_plain text,
        start_at      timestamptz,
        end_at        timestamptz,
        room_id       bigint,
        track_id      bigint,
        level         text,
        level_detail  text,
        format        text,
        language      text,
        is_service    boolean,
        is_plenum     boolean,
        search_lang   text,
        speaker_names text[],
        tag_names     text[],
        spk_ids       bigint[],
        spk_pos       integer[],
        tag_ids       bigint[],
        tag_pos       integer[]
    ) ON COMMIT DROP;
    TRUNCATE pg_temp.ch_old;

    -- the file's sessions as rows, first in the table of the importer
    -- before issue 13, column for column: new sessions take their ids in
    -- the order in which it stores them (see v_ids), as they always did
    CREATE TEMP TABLE IF NOT EXISTS pg_temp.ch_import (
        ord          integer,
        path         text,
        external_id  text,
        title        text,
        subtitle     text,
        abstract     text,
        start_at     timestamptz,
        end_at       timestamptz,
        room         text,
        room_sort    integer,
        track        text,
        level        text,
        level_detail text,
        format       text,
        language     text,
        is_service   boolean,
        is_plenum    boolean,
        tags         jsonb,
        speakers     jsonb
    ) ON COMMIT DROP;
    TRUNCATE pg_temp.ch_import;
    INSERT INTO pg_temp.ch_import
    SELECT o::int, x.path, x.external_id, x.title, x.subtitle, x.abstract, x.start_at, x.end_at,
           x.room, x.room_sort, x.track, x.level, x.level_detail, x.format, x.language,
           coalesce(x.is_service, false), coalesce(x.is_plenum, false),
           coalesce(x.tags, '[]'), coalesce(x.speakers, '[]')
      FROM jsonb_array_elements(p_sessions) WITH ORDINALITY AS a(e, o),
           jsonb_to_record(a.e) AS x(path text, external_id text, title text, subtitle text,
                abstract text, start_at timestamptz, end_at timestamptz, room text, room_sort integer,
                track text, level text, level_detail text, format text, language text,
                is_service boolean, is_plenum boolean, tags jsonb, speakers jsonb);
    GET DIAGNOSTICS n_total = ROW_COUNT;

    SELECT external_id, array_agg(path ORDER BY ord) AS paths INTO dup
      FROM pg_temp.ch_import GROUP BY external_id HAVING count(*) > 1
     ORDER BY min(ord) LIMIT 1;
    IF FOUND THEN
        PERFORM confhaven._fail('CH422',
            format('session id %s appears more than once (%s)', confhaven._show(dup.external_id),
                   array_to_string(dup.paths[1:3], ', ')),
            'Each session in the file needs a unique id.');
    END IF;

    IF n_total = 0 AND EXISTS (SELECT 1 FROM confhaven.sessions WHERE conference_id = p_conf) THEN
        PERFORM confhaven._fail('CH422',
            'the schedule contains no sessions; refusing to delete all sessions of this conference',
            'Upload the full schedule export. To retire a conference, set is_active = false instead.');
    END IF;

    -- dimensions (rows that exist and did not change are not written;
    -- read from ch_import, whose order decides their ids, as it did)
    INSERT INTO confhaven.rooms (conference_id, name, sort)
    SELECT p_conf, room, min(coalesce(room_sort, 100000))
      FROM pg_temp.ch_import WHERE room IS NOT NULL GROUP BY room
    ON CONFLICT (conference_id, name) DO UPDATE SET sort = EXCLUDED.sort
     WHERE rooms.sort IS DISTINCT FROM EXCLUDED.sort;

    INSERT INTO confhaven.tracks (conference_id, name)
    SELECT DISTINCT p_conf, track FROM pg_temp.ch_import WHERE track IS NOT NULL
    ON CONFLICT (conference_id, name) DO NOTHING;

    INSERT INTO confhaven.tags (conference_id, name)
    SELECT DISTINCT p_conf, btrim(t) FROM pg_temp.ch_import, jsonb_array_elements_text(tags) t
     WHERE btrim(t) <> ''
    ON CONFLICT (conference_id, name) DO NOTHING;

    INSERT INTO confhaven.speakers (conference_id, external_id, name, bio)
    SELECT DISTINCT ON (sp ->> 'external_id') p_conf, sp ->> 'external_id', sp ->> 'name', sp ->> 'bio'
      FROM pg_temp.ch_import, jsonb_array_elements(speakers) sp
     ORDER BY sp ->> 'external_id', (sp ->> 'bio') IS NULL
    ON CONFLICT (conference_id, external_id) DO UPDATE
       SET name = EXCLUDED.name, bio = EXCLUDED.bio
     WHERE (speakers.name, speakers.bio) IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.bio);

    INSERT INTO pg_temp.ch_imp (ord, scan, path, external_id, title, subtitle, abstract, start_at,
                                end_at, room, room_sort, track, level, level_detail, format,
                                language, is_service, is_plenum, tags, speakers)
    SELECT i.ord, row_number() OVER (ORDER BY i.ctid), i.path, i.external_id, i.title, i.subtitle,
           i.abstract, i.start_at, i.end_at, i.room, i.room_sort, i.track, i.level,
           i.level_detail, i.format, i.language, i.is_service, i.is_plenum, i.tags, i.speakers
      FROM pg_temp.ch_import i;
    ANALYZE pg_temp.ch_imp;

    -- each imported session's room, track, speakers and tags, looked up
    -- by their unique keys (OFFSET 0 keeps the lookups as they are
    -- written: as joins, estimated at one row each, they crossed every
    -- session with every speaker).  A speaker or tag named twice keeps
    -- its first position.
    UPDATE pg_temp.ch_imp i
       SET room_id = (SELECT r.id FROM confhaven.rooms r
                       WHERE r.conference_id = p_conf AND r.name = i.room),
           track_id = (SELECT t.id FROM confhaven.tracks t
                        WHERE t.conference_id = p_conf AND t.name = i.track),
           spk_ids = sp.ids, spk_pos = sp.pos, speaker_names = sp.names,
           tag_ids = tg.ids, tag_pos = tg.pos, tag_names = tg.names
      FROM pg_temp.ch_imp i2
     CROSS JOIN LATERAL (
            SELECT coalesce(array_agg(y.id ORDER BY y.o), '{}') AS ids,
                   coalesce(array_agg(y.o ORDER BY y.o), '{}') AS pos,
                   coalesce(array_agg(y.name ORDER BY y.o), '{}') AS names
              FROM (SELECT DISTINCT ON (sp.id) sp.id, x.o::int AS o, sp.name
                      FROM jsonb_array_elements(i2.speakers) WITH ORDINALITY AS x(e, o)
                     CROSS JOIN LATERAL (SELECT sp.id, sp.name FROM confhaven.speakers sp
                                          WHERE sp.conference_id = p_conf
                                            AND sp.external_id = x.e ->> 'external_id'
                                         OFFSET 0) sp
                     ORDER BY sp.id, x.o) y) sp
     CROSS JOIN LATERAL (
            SELECT coalesce(array_agg(y.id ORDER BY y.o), '{}') AS ids,
                   coalesce(array_agg(y.o ORDER BY y.o), '{}') AS pos,
                   coalesce(array_agg(y.name ORDER BY y.o), '{}') AS names
              FROM (SELECT DISTINCT ON (t.id) t.id, x.o::int AS o, t.name
                      FROM jsonb_array_elements_text(i2.tags) WITH ORDINALITY AS x(e, o)
                     CROSS JOIN LATERAL (SELECT t.id, t.name FROM confhaven.tags t
                                          WHERE t.conference_id = p_conf AND t.name = btrim(x.e)
                                         OFFSET 0) t
                     ORDER BY t.id, x.o) y) tg
     WHERE i2.ctid = i.ctid;

    -- the conference's sessions as they are, with their links
    INSERT INTO pg_temp.ch_old
    SELECT s.id, s.external_id, 'u', s.title, s.subtitle, s.abstract, s.abstract_plain,
           s.start_at, s.end_at, s.room_id, s.track_id, s.level, s.level_detail, s.format,
           s.language, s.is_service, s.is_plenum, s.search_lang, s.speaker_names, s.tag_names,
           coalesce(sp.ids, '{}'), coalesce(sp.pos, '{}'), coalesce(tg.ids, '{}'), coalesce(tg.pos, '{}')
      FROM confhaven.sessions s
     CROSS JOIN LATERAL (SELECT array_agg(ss.speaker_id ORDER BY ss.position) AS ids,
                                array_agg(ss.position ORDER BY ss.position) AS pos
                           FROM confhaven.session_speakers ss WHERE ss.session_id = s.id) sp
     CROSS JOIN LATERAL (SELECT array_agg(st.tag_id ORDER BY st.position) AS ids,
                                array_agg(st.position ORDER BY st.position) AS pos
                           FROM confhaven.session_tags st WHERE st.session_id = s.id) tg
     WHERE s.conference_id = p_conf;
    ANALYZE pg_temp.ch_old;

    -- what changed: a session is rewritten only when one of its columns
    -- or links differs from the file (a re-import of the same file writes
    -- no session)
    UPDATE pg_temp.ch_imp i
       SET session_id = o.id,
           state = CASE WHEN (i.title, i.subtitle, i.abstract, i.start_at, i.end_at, i.room_id,
                              i.track_id, i.level, i.level_detail, i.format, i.language,
                              i.is_service, i.is_plenum, i.speaker_names, i.tag_names,
                              i.spk_ids, i.spk_pos, i.tag_ids, i.tag_pos)
                             IS NOT DISTINCT FROM
                             (o.title, o.subtitle, o.abstract, o.start_at, o.end_at, o.room_id,
                              o.track_id, o.level, o.level_detail, o.format, o.language,
                              o.is_service, o.is_plenum, o.speaker_names, o.tag_names,
                              o.spk_ids, o.spk_pos, o.tag_ids, o.tag_pos)
                        THEN 'u' ELSE 'c' END
      FROM pg_temp.ch_old o
     WHERE o.external_id = i.external_id;
    UPDATE pg_temp.ch_imp i SET state = 'n' WHERE i.state IS NULL;
    UPDATE pg_temp.ch_old o SET state = i.state
      FROM pg_temp.ch_imp i WHERE i.session_id = o.id AND i.state = 'c';
    UPDATE pg_temp.ch_old o SET state = 'd'
     WHERE NOT EXISTS (SELECT 1 FROM pg_temp.ch_imp i WHERE i.external_id = o.external_id);
    SELECT count(*) FILTER (WHERE state = 'n'), count(*) FILTER (WHERE state <> 'n'),
           count(*) FILTER (WHERE is_service)
      INTO n_ins, n_upd, n_service FROM pg_temp.ch_imp;
    SELECT count(*), coalesce(array_agg(id), '{}') INTO n_del, v_deleted
      FROM pg_temp.ch_old WHERE state = 'd';

    -- ids: the importer before issue 13 upserted every session of the
    -- file, drawing an id for each in the order of ch_import, and new
    -- sessions kept theirs; the same ids are drawn here (one by one: an
    -- import of another conference may draw at the same time)
    v_seq := pg_get_serial_sequence('confhaven.sessions', 'id')::regclass;
    v_ids := ARRAY(SELECT nextval(v_seq) FROM generate_series(1, n_total));

    IF n_ins + n_del > 0 OR EXISTS (SELECT 1 FROM pg_temp.ch_imp WHERE state = 'c') THEN
        -- sessions: each row written once, with its search columns
        -- (20_documents.sql, _search_columns)
        UPDATE pg_temp.ch_imp SET abstract_plain = confhaven.plain_text(abstract)
         WHERE state IN ('n', 'c');
        -- the vocabulary of each session written (_search_columns.words),
        -- for the term statistics
        CREATE TEMP TABLE IF NOT EXISTS pg_temp.ch_words (
            ord           integer,
            words         text[],
            lexemes       text[]
        ) ON COMMIT DROP;
        TRUNCATE pg_temp.ch_words;

        DELETE FROM confhaven.sessions s WHERE s.id = ANY (v_deleted);

        -- sessions: the search columns of each session written computed
        -- once (d, kept in memory: through a temporary table the documents
        -- were compressed twice), then the changed rows rewritten, the new
        -- ones inserted and their words kept
        WITH d AS MATERIALIZED (
            SELECT i.ord, c.*
              FROM pg_temp.ch_imp i
             CROSS JOIN LATERAL confhaven._search_columns(i.title, i.subtitle, i.abstract_plain,
                                                          i.language, i.track, i.tag_names,
                                                          i.speaker_names) c
             WHERE i.state IN ('n', 'c')),
        upd AS (
        UPDATE confhaven.sessions s
           SET title = i.title, subtitle = i.subtitle, abstract = i.abstract,
               abstract_plain = i.abstract_plain, start_at = i.start_at, end_at = i.end_at,
               room_id = i.room_id, track_id = i.track_id, level = i.level,
               level_detail = i.level_detail, format = i.format, language = i.language,
               is_service = i.is_service, is_plenum = i.is_plenum, updated_at = now(),
               document = d.document, head_doc = d.head_doc, search_lang = d.search_lang,
               title_norm = d.title_norm, tags_norm = d.tags_norm,
               speakers_norm = d.speakers_norm, abstract_norm = d.abstract_norm,
               speaker_names = i.speaker_names, tag_names = i.tag_names
          FROM pg_temp.ch_imp i
          JOIN d ON d.ord = i.ord
         WHERE i.state = 'c' AND s.id = i.session_id),
        wrd AS (
            INSERT INTO pg_temp.ch_words (ord, words, lexemes)
            SELECT d.ord, d.words, d.lexemes FROM d),
        ins AS (
            INSERT INTO confhaven.sessions
                  (id, conference_id, external_id, title, subtitle, abstract, abstract_plain,
                   start_at, end_at, room_id, track_id, level, level_detail, format, language,
                   is_service, is_plenum, document, head_doc, search_lang, title_norm,
                   tags_norm, speakers_norm, abstract_norm, speaker_names, tag_names)
            SELECT v_ids[i.scan], p_conf, i.external_id, i.title, i.subtitle, i.abstract,
                   i.abstract_plain, i.start_at, i.end_at, i.room_id, i.track_id, i.level, i.level_detail,
                   i.format, i.language, i.is_service, i.is_plenum, d.document, d.head_doc,
                   d.search_lang, d.title_norm, d.tags_norm, d.speakers_norm, d.abstract_norm,
                   i.speaker_names, i.tag_names
              FROM pg_temp.ch_imp i
              JOIN d ON d.ord = i.ord
             WHERE i.state = 'n'
            RETURNING id, external_id)
        UPDATE pg_temp.ch_imp i SET session_id = ins.id
          FROM ins WHERE ins.external_id = i.external_id;

        SELECT coalesce(array_agg(session_id), '{}'),
               coalesce(array_agg(session_id) FILTER (WHERE state = 'c'), '{}')
          INTO v_written, v_rewritten
          FROM pg_temp.ch_imp WHERE state IN ('n', 'c');

        -- links of the sessions written (a new session has none yet: a
        -- list of all of them made the planner read every link of the
        -- database, issue 13)
        DELETE FROM confhaven.session_speakers ss
         WHERE ss.session_id = ANY (v_rewritten)
           AND NOT EXISTS (SELECT 1 FROM pg_temp.ch_imp i
                            CROSS JOIN LATERAL unnest(i.spk_ids, i.spk_pos) AS l(id, pos)
                            WHERE i.session_id = ss.session_id AND l.id = ss.speaker_id
                              AND l.pos = ss.position);
        INSERT INTO confhaven.session_speakers (session_id, speaker_id, position)
        SELECT i.session_id, l.id, l.pos
          FROM pg_temp.ch_imp i
         CROSS JOIN LATERAL unnest(i.spk_ids, i.spk_pos) AS l(id, pos)
         WHERE i.state IN ('n', 'c')
        ON CONFLICT DO NOTHING;

        DELETE FROM confhaven.session_tags st
         WHERE st.session_id = ANY (v_rewritten)
           AND NOT EXISTS (SELECT 1 FROM pg_temp.ch_imp i
                            CROSS JOIN LATERAL unnest(i.tag_ids, i.tag_pos) AS l(id, pos)
                            WHERE i.session_id = st.session_id AND l.id = st.tag_id
                              AND l.pos = st.position);
        INSERT INTO confhaven.session_tags (session_id, tag_id, position)
        SELECT i.session_id, l.id, l.pos
          FROM pg_temp.ch_imp i
         CROSS JOIN LATERAL unnest(i.tag_ids, i.tag_pos) AS l(id, pos)
         WHERE i.state IN ('n', 'c')
        ON CONFLICT DO NOTHING;

        -- orphans
        DELETE FROM confhaven.speakers sp WHERE sp.conference_id = p_conf
           AND NOT EXISTS (SELECT 1 FROM confhaven.session_speakers ss WHERE ss.speaker_id = sp.id);
        DELETE FROM confhaven.tags t WHERE t.conference_id = p_conf
           AND NOT EXISTS (SELECT 1 FROM confhaven.session_tags st WHERE st.tag_id = t.id);
        DELETE FROM confhaven.rooms r WHERE r.conference_id = p_conf
           AND NOT EXISTS (SELECT 1 FROM confhaven.sessions s WHERE s.room_id = r.id);
        DELETE FROM confhaven.tracks t WHERE t.conference_id = p_conf
           AND NOT EXISTS (SELECT 1 FROM confhaven.sessions s WHERE s.track_id = t.id);

        -- term statistics by difference (20_documents.sql): what the
        -- sessions written or deleted contributed before, subtracted;
        -- what the sessions written contribute now, added
        -- (the words of the sessions written are their _search_columns'
        -- words, which equal _session_words)
        WITH d AS (
            SELECT x.word, sum(x.n)::integer AS n
              FROM (SELECT w.word, -1 AS n
                      FROM pg_temp.ch_old o
                     CROSS JOIN LATERAL confhaven._session_words(o.title, o.tag_names,
                                                                 o.speaker_names,
                                                                 o.abstract_plain) AS w(word)
                     WHERE o.state IN ('c', 'd') AND NOT o.is_service
                    UNION ALL
                    SELECT w.word, 1
                      FROM pg_temp.ch_imp i
                      JOIN pg_temp.ch_words dc ON dc.ord = i.ord
                     CROSS JOIN LATERAL unnest(dc.words) AS w(word)
                     WHERE i.state IN ('n', 'c') AND NOT i.is_service) x
             GROUP BY x.word HAVING sum(x.n) <> 0),
        up AS (
            INSERT INTO confhaven.search_words AS sw (conference_id, word, ndoc)
            SELECT p_conf, d.word, d.n FROM d
            ON CONFLICT (conference_id, word) DO UPDATE SET ndoc = sw.ndoc + EXCLUDED.ndoc
            RETURNING sw.word, sw.ndoc, sw.xmax = 0 AS inserted)
        SELECT coalesce(array_agg(up.word), '{}'),
               coalesce(array_agg(up.word) FILTER (WHERE up.ndoc <= 0), '{}'),
               count(*) FILTER (WHERE up.ndoc < 0),
               count(*) FILTER (WHERE up.inserted),
               coalesce(array_agg(up.word) FILTER (WHERE up.inserted), '{}')
          INTO v_words, v_gone, n_neg, n_new_words, v_new_words FROM up;
        -- the vocabulary of the substring search (021): the words new to
        -- the conference and the lexemes search_words lacks
        INSERT INTO confhaven.search_lexemes (word, word_norm)
        SELECT x.word, confhaven.norm(x.word)
          FROM (SELECT w.word FROM unnest(v_new_words) AS w(word)
                UNION
                SELECT l.word FROM pg_temp.ch_words dc CROSS JOIN LATERAL unnest(dc.lexemes) AS l(word)) x
         WHERE NOT EXISTS (SELECT 1 FROM confhaven.search_lexemes sl WHERE sl.word = x.word)
        ON CONFLICT DO NOTHING;
        -- by the primary key, word by word: with "word = ANY (v_words)"
        -- the generic plan (an import's 6th call in a connection) read
        -- the trigram index for every word of the import, 4-18 s for a
        -- new conference (t/import.t)
        n_gone := 0;
        IF v_gone <> '{}' THEN
            DELETE FROM confhaven.search_words sw
             USING unnest(v_gone) AS g(word)
             WHERE sw.conference_id = p_conf AND sw.word = g.word AND sw.ndoc <= 0;
            GET DIAGNOSTICS n_gone = ROW_COUNT;
        END IF;

        PERFORM confhaven._refresh_conference_counters(p_conf);

        IF n_neg > 0 THEN
            -- the vocabulary was not what the sessions say (written by an
            -- older version, or by hand): count everything again
            PERFORM confhaven.refresh_search_stats(p_conf);
        ELSE
            -- acronyms: the pairs of the sessions written are added; a pair
            -- that a session written or deleted had goes when no other
            -- session of the conference spells it out
            INSERT INTO confhaven.search_acronyms (conference_id, acronym, expansion)
            SELECT DISTINCT p_conf, a.acronym, a.expansion
              FROM pg_temp.ch_imp i
             CROSS JOIN LATERAL confhaven._session_acronyms(i.title, i.subtitle, i.abstract_plain) a
             WHERE i.state IN ('n', 'c') AND NOT i.is_service
            ON CONFLICT DO NOTHING;
            WITH gone AS MATERIALIZED (
                SELECT a.acronym, a.expansion
                  FROM pg_temp.ch_old o
                 CROSS JOIN LATERAL confhaven._session_acronyms(o.title, o.subtitle, o.abstract_plain) a
                 WHERE o.state IN ('c', 'd') AND NOT o.is_service
                EXCEPT
                SELECT a.acronym, a.expansion
                  FROM pg_temp.ch_imp i
                 CROSS JOIN LATERAL confhaven._session_acronyms(i.title, i.subtitle, i.abstract_plain) a
                 WHERE i.state IN ('n', 'c') AND NOT i.is_service),
            kept AS MATERIALIZED (
                SELECT a.acronym, a.expansion
                  FROM pg_temp.ch_old o
                 CROSS JOIN LATERAL confhaven._session_acronyms(o.title, o.subtitle, o.abstract_plain) a
                 WHERE o.state = 'u' AND NOT o.is_service AND EXISTS (SELECT 1 FROM gone))
            DELETE FROM confhaven.search_acronyms sa
             USING gone
             WHERE sa.conference_id = p_conf AND sa.acronym = gone.acronym
               AND sa.expansion = gone.expansion
               AND NOT EXISTS (SELECT 1 FROM kept k
                                WHERE k.acronym = gone.acronym AND k.expansion = gone.expansion);

            -- compounds: found again when a German session was written or
            -- deleted, or the vocabulary of a conference with German
            -- sessions gained or lost a word (a new part); else only the
            -- counts of the words whose counts changed
            IF EXISTS (SELECT 1 FROM pg_temp.ch_old o
                        WHERE o.state IN ('c', 'd') AND o.search_lang = 'german')
               OR EXISTS (SELECT 1 FROM pg_temp.ch_imp i
                           JOIN confhaven.sessions s ON s.id = i.session_id
                          WHERE i.state IN ('n', 'c') AND s.search_lang = 'german')
               OR ((n_new_words > 0 OR n_gone > 0)
                   AND (SELECT 'german' = ANY (c.search_langs) FROM confhaven.conferences c
                         WHERE c.id = p_conf))
            THEN
                PERFORM confhaven._sync_search_compounds(p_conf);
            ELSE
                UPDATE confhaven.search_compounds sc SET ndoc = w.ndoc
                  FROM unnest(v_words) AS c(word), confhaven.search_words w
                 WHERE sc.conference_id = p_conf AND sc.word = c.word
                   AND w.conference_id = p_conf AND w.word = sc.word AND w.ndoc <> sc.ndoc;
            END IF;
        END IF;
    END IF;

    -- HOOK: after sessions of conference p_conf changed.  v_written: ids
    -- of the sessions inserted or rewritten (their rows, links and search
    -- columns are final), v_deleted: ids of the sessions deleted; both
    -- empty when the file changed no session.  Anything kept beside the
    -- sessions (an index of their words, ...) is brought up to date here,
    -- by these ids.

    -- calendar entries: session pages, SEQUENCE/DTSTAMP (75_calendar.sql)
    PERFORM confhaven.ics_refresh(p_conf, p_sessions);

    TRUNCATE pg_temp.ch_import;
    TRUNCATE pg_temp.ch_imp;
    TRUNCATE pg_temp.ch_old;
    IF to_regclass('pg_temp.ch_words') IS NOT NULL THEN
        TRUNCATE pg_temp.ch_words;
    END IF;

    RETURN jsonb_build_object('total', n_total, 'inserted', n_ins, 'updated', n_upd,
                              'deleted', n_del, 'service', n_service);
END
$$;

-- ---------------------------------------------------------------------------
-- Public entry point
-- ---------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION confhaven.import_schedule(
    slug text, name text, timezone text, location text, website text, body text)
RETURNS json
LANGUAGE plpgsql
SET client_min_messages = warning
AS $$
DECLARE
    v_slug    text := btrim(slug);
    v_body    text;
    v_format  text;
    v_json    jsonb;
    v_xml     xml;
    v_conf    confhaven.conferences%ROWTYPE;
    v_exists  boolean;
    f_name    text;       -- values the file carries
    f_tz      text;
    f_loc     text;
    f_start   date;
    f_end     date;
    v_name    text;
    v_tz      text;
    v_loc     text;
    v_web     text;
    v_sess    jsonb;
    v_counts  jsonb;
    v_id      bigint;
    e_msg     text;
    e_detail  text;
    e_ctx     text;
BEGIN
    -- 1. parameters
    IF v_slug IS NULL OR v_slug !~ '^[a-z0-9][a-z0-9-]{0,62}$' THEN
        PERFORM confhaven._fail('CH400', format('invalid conference slug %s', confhaven._show(slug)),
            'A slug is 1-63 characters: lower-case letters, digits and "-", starting with a letter or digit, e.g. "scottish-summit-2026".');
    END IF;
    -- one import of a slug at a time, admin's or organizer's (the same
    -- lock organizer_import takes before it checks who owns the slug)
    PERFORM pg_advisory_xact_lock(hashtext('confhaven organizer_import ' || v_slug));
    IF nullif(btrim(timezone), '') IS NOT NULL AND NOT confhaven.is_valid_timezone(btrim(timezone)) THEN
        PERFORM confhaven._fail('CH400', format('%s is not a valid IANA time zone', confhaven._show(timezone)),
            'Use a zone name from the IANA database such as Europe/London, America/New_York or Australia/Melbourne.');
    END IF;

    SELECT * INTO v_conf FROM confhaven.conferences c WHERE c.slug = v_slug;
    v_exists := FOUND;

    -- 2. body -> format
    v_body := regexp_replace(coalesce(body, ''), '^[\s\uFEFF]+', '');
    IF v_body = '' THEN
        PERFORM confhaven._fail('CH422', 'the schedule body is empty',
            'Send the schedule file (Sessionize "All" JSON, pretalx schedule.json or frab schedule.xml) as the request body.');
    END IF;

    IF left(v_body, 1) = '<' THEN
        v_format := 'frab-xml';
        BEGIN
            v_xml := XMLPARSE(DOCUMENT v_body);
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS e_msg = MESSAGE_TEXT, e_detail = PG_EXCEPTION_DETAIL;
            PERFORM confhaven._fail('CH422',
                format('the schedule is not well-formed XML: %s%s', e_msg,
                       coalesce(': ' || left(nullif(regexp_replace(btrim(e_detail), '\s+', ' ', 'g'), ''), 300), '')),
                'Upload the frab/pentabarf schedule.xml exactly as exported (complete, UTF-8).');
        END;
        IF NOT xpath_exists('/schedule', v_xml) THEN
            PERFORM confhaven._fail('CH422', 'the XML document is not a frab schedule: the root element must be <schedule>',
                'Upload a frab/pentabarf schedule.xml (as published by FOSDEM, CCC, pretalx).');
        END IF;
        f_name := nullif(btrim((xpath('/schedule/conference/title/text()', v_xml))[1]::text), '');
        f_tz := nullif(btrim((xpath('/schedule/conference/time_zone_name/text()', v_xml))[1]::text), '');
        f_loc := nullif(concat_ws(', ',
                    nullif(btrim((xpath('/schedule/conference/venue/text()', v_xml))[1]::text), ''),
                    nullif(btrim((xpath('/schedule/conference/city/text()', v_xml))[1]::text), '')), '');
        -- xpath() returns XML-escaped text; unescape the few entities that matter
        f_name := confhaven.strip_html(f_name);
        f_loc := confhaven.strip_html(f_loc);
        BEGIN
            f_start := btrim((xpath('/schedule/conference/start/text()', v_xml))[1]::text)::date;
            f_end := btrim((xpath('/schedule/conference/end/text()', v_xml))[1]::text)::date;
        EXCEPTION WHEN data_exception THEN
            f_start := NULL; f_end := NULL;
        END;
    ELSE
        BEGIN
            v_json := v_body::jsonb;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS e_msg = MESSAGE_TEXT, e_detail = PG_EXCEPTION_DETAIL, e_ctx = PG_EXCEPTION_CONTEXT;
            e_detail := regexp_replace(e_detail, '^Token "(.{30}).*" is invalid\.$', 'Token "\1..." is invalid.');
            PERFORM confhaven._fail('CH422',
                format('the schedule is not valid JSON: %s%s%s', e_msg,
                       coalesce(' (' || left(nullif(e_detail, ''), 200) || ')', ''),
                       coalesce(' near ' || substring(e_ctx FROM 'JSON data, (line \d+): '), '')),
                'Upload the Sessionize "All" JSON or the pretalx schedule.json exactly as exported (complete, UTF-8).');
        END;
        IF jsonb_typeof(v_json) = 'object' AND v_json ? 'sessions' AND v_json ? 'speakers' THEN
            v_format := 'sessionize';
        ELSIF jsonb_typeof(v_json) = 'object' AND jsonb_typeof(v_json #> '{schedule,conference}') = 'object' THEN
            v_format := 'pretalx';
            f_name := nullif(btrim(v_json #>> '{schedule,conference,title}'), '');
            f_tz := nullif(btrim(v_json #>> '{schedule,conference,time_zone_name}'), '');
            BEGIN
                f_start := (v_json #>> '{schedule,conference,start}')::date;
                f_end := (v_json #>> '{schedule,conference,end}')::date;
            EXCEPTION WHEN data_exception THEN
                f_start := NULL; f_end := NULL;
            END;
        ELSE
            PERFORM confhaven._fail('CH422',
                'unrecognised schedule format: expected a Sessionize "All" export (keys "sessions" and "speakers") or a pretalx/frab schedule.json (key "schedule.conference")',
                'Export from Sessionize with the API view "All" (https://sessionize.com/api/v2/<id>/view/All), or upload pretalx''s schedule/export/schedule.json or frab''s schedule.xml.');
        END IF;
    END IF;

    -- 3. conference attributes: parameter > existing row > file
    -- the file's dates count only as a pair, in order (the table's CHECK)
    IF f_start IS NOT NULL AND f_end IS NOT NULL AND f_start > f_end THEN
        PERFORM confhaven._fail('CH422',
            format('the schedule starts on %s, after its end on %s', f_start, f_end),
            'Check the conference start and end dates in the file.');
    END IF;
    IF f_start IS NULL OR f_end IS NULL THEN
        f_start := NULL;
        f_end := NULL;
    END IF;

    v_name := coalesce(nullif(btrim(name), ''), v_conf.name, f_name);
    v_tz := coalesce(nullif(btrim(timezone), ''), v_conf.timezone, f_tz);
    v_loc := coalesce(nullif(btrim(location), ''), v_conf.location, f_loc);
    v_web := coalesce(nullif(btrim(website), ''), v_conf.website);
    -- answers and pages show it as a link: a web address, nothing else
    IF nullif(btrim(website), '') IS NOT NULL
       AND btrim(website) !~* '^https?://[^\s/?#@]+([/?#][^\s]*)?$' THEN
        PERFORM confhaven._fail('CH400',
            format('website %s is not an http:// or https:// address', confhaven._show(btrim(website))),
            'Pass website=https://<the conference''s site>.');
    END IF;
    IF v_tz IS NULL THEN
        PERFORM confhaven._fail('CH400',
            format('conference "%s" needs a time zone: the %s file does not name one', v_slug, v_format),
            'Pass timezone=<IANA name> (e.g. timezone=Europe/London); Sessionize times are local wall-clock times.');
    END IF;
    IF NOT confhaven.is_valid_timezone(v_tz) THEN
        PERFORM confhaven._fail(CASE WHEN v_tz = f_tz THEN 'CH422' ELSE 'CH400' END,
            format('%s is not a valid IANA time zone', confhaven._show(v_tz)),
            'Pass timezone=<IANA name> such as Europe/London or America/New_York.');
    END IF;
    IF v_name IS NULL THEN
        PERFORM confhaven._fail('CH400',
            format('conference "%s" is new and needs a name', v_slug),
            'Pass name=<display name>, e.g. name=Scottish Summit 2026.');
    END IF;

    -- 4. parse sessions (needs the time zone for local wall-clock times)
    v_sess := CASE v_format
        WHEN 'sessionize' THEN confhaven._parse_sessionize(v_json, v_tz)
        WHEN 'pretalx' THEN confhaven._parse_pretalx(v_json, v_tz)
        ELSE confhaven._parse_frab_xml(v_xml, v_tz) END;

    -- 5. upsert the conference (locks the row: concurrent imports of one slug serialise)
    INSERT INTO confhaven.conferences AS c (slug, name, timezone, location, website, source_format)
    VALUES (v_slug, v_name, v_tz, v_loc, v_web, v_format)
    ON CONFLICT ON CONSTRAINT conferences_slug_key DO UPDATE
       SET name = EXCLUDED.name, timezone = EXCLUDED.timezone, location = EXCLUDED.location,
           website = EXCLUDED.website, source_format = EXCLUDED.source_format,
           generation = c.generation + 1, updated_at = now()
    RETURNING c.id INTO v_id;

    -- 6. sessions
    v_counts := confhaven._apply_sessions(v_id, v_sess);

    -- 7. dates: from the file when it says, else from the sessions' local dates
    UPDATE confhaven.conferences c
       SET start_date = coalesce(f_start, d.first_day, c.start_date),
           end_date = coalesce(f_end, d.last_day, c.end_date)
      FROM (SELECT min((s.start_at AT TIME ZONE v_tz)::date) AS first_day,
                   max((coalesce(s.end_at - interval '1 second', s.start_at) AT TIME ZONE v_tz)::date) AS last_day
              FROM confhaven.sessions s WHERE s.conference_id = v_id) d
     WHERE c.id = v_id;

    RETURN json_build_object(
        'conference', confhaven.conference_json(v_id),
        'format', v_format,
        'sessions', v_counts);
END
$$;

COMMENT ON FUNCTION confhaven.import_schedule(text, text, text, text, text, text) IS
'Import a Sessionize "All" JSON, pretalx schedule JSON or frab schedule.xml for one conference (upsert; idempotent). Raises CH400/CH422.';
