-- 008_import_fuzz.sql — two importer fixes found by fuzzing
-- (t/fuzz/import_mutate.py, make fuzz).  001–007 stay as they are; this
-- file is CREATE OR REPLACE of 002's confhaven._parse_frab_xml and
-- confhaven.import_schedule, same signatures, with two changes:
--
--   * frab XML: an <event> with a child element twice (two <title>, two
--     <date>, ...) made XMLTABLE fail with SQLSTATE 21000 "more than one
--     value returned by column XPath expression", an internal error instead
--     of an answer about the file.  Each text column now takes the first
--     such element ('title[1]'), as a frab reader does; <persons> too.
--   * Sessionize/pretalx/frab: a file whose conference start date is after
--     its end date (e.g. "99999-01-01"), or which gives only one of them
--     next to session days on the other side, failed the conferences CHECK
--     (end_date >= start_date) with SQLSTATE 23514.  Start after end is now
--     a CH422 naming both dates; the file's dates are used only as a pair
--     (else the days of the sessions, as when the file has none).

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
            'speakers', r.speakers);
    END LOOP;
    RETURN to_jsonb(out);
END
$$;

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
