-- ci/bench-scale-replicate.sql — used by ci/bench-scale only (never a migration).
--
-- Turns the conferences imported by confhaven.import_schedule (the "base",
-- every derived column written by the real import path) into EDITIONS
-- editions each: edition e (2..EDITIONS) is a copy of the base conference
-- held e-1 years earlier (slug and name with the year changed, every date
-- and timestamp column shifted), with its own rooms, tracks, tags, speakers,
-- sessions, speaker/tag links and search vocabulary.  Derived search columns
-- (document, head_doc, *_norm, speaker_names, tag_names, search_lang, ...)
-- do not depend on the conference, so they are copied, not recomputed;
-- conference counters (session_count, max_duration) likewise.  Columns are
-- listed from the catalog, so columns added by later migrations are copied
-- too (date/time columns shifted, except created_at/updated_at).
--
-- psql variable: editions (integer >= 2).
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SET maintenance_work_mem = '1GB';
SET work_mem = '256MB';

CREATE SCHEMA IF NOT EXISTS bench_scale;
DROP TABLE IF EXISTS bench_scale.cmap, bench_scale.smap;

CREATE TABLE bench_scale.cmap AS
SELECT c.id AS base_id, e AS edition, make_interval(years => e - 1) AS shift,
       c.slug AS base_slug,
       CASE WHEN y IS NOT NULL THEN regexp_replace(c.slug, y::text, (y - e + 1)::text)
            ELSE c.slug || '-' || e END AS new_slug,
       CASE WHEN y IS NOT NULL AND strpos(c.name, y::text) > 0
            THEN regexp_replace(c.name, y::text, (y - e + 1)::text)
            ELSE c.name || ' (' || (extract(year FROM coalesce(c.start_date, current_date))::int - e + 1) || ')' END AS new_name,
       NULL::bigint AS new_id
  FROM confhaven.conferences c
 CROSS JOIN generate_series(2, :editions) e
 CROSS JOIN LATERAL (SELECT substring(c.slug FROM '(?:19|20)[0-9]{2}')::int AS y) yy;

-- slugs must stay unique (an edition may land on another base conference's year)
UPDATE bench_scale.cmap m SET new_slug = left(m.new_slug, 58) || '-e' || m.edition
 WHERE EXISTS (SELECT 1 FROM confhaven.conferences c WHERE c.slug = m.new_slug)
    OR (SELECT count(*) FROM bench_scale.cmap m2 WHERE m2.new_slug = m.new_slug) > 1;

CREATE FUNCTION pg_temp.cols(tbl text, skip text[], alias text, shift_expr text)
RETURNS text[] LANGUAGE sql AS $$
    -- [1] column list, [2] select list (date/time columns shifted)
    SELECT ARRAY[string_agg(quote_ident(column_name), ', ' ORDER BY ordinal_position),
                 string_agg(CASE WHEN shift_expr IS NOT NULL AND column_name NOT IN ('created_at', 'updated_at')
                                  AND data_type IN ('timestamp with time zone', 'timestamp without time zone')
                                 THEN format('%s.%I - %s', alias, column_name, shift_expr)
                                 WHEN shift_expr IS NOT NULL AND data_type = 'date'
                                 THEN format('(%s.%I - %s)::date', alias, column_name, shift_expr)
                                 ELSE format('%s.%I', alias, column_name) END, ', ' ORDER BY ordinal_position)]
      FROM information_schema.columns
     WHERE table_schema = 'confhaven' AND table_name = tbl
       AND is_generated = 'NEVER' AND column_name <> ALL (skip);
$$;

DO $$
DECLARE
    c text[];
    t text;
BEGIN
    -- conferences
    c := pg_temp.cols('conferences', ARRAY['id', 'slug', 'name', 'name_norm', 'website'], 'c', 'm.shift');
    EXECUTE format('INSERT INTO confhaven.conferences (slug, name, website, %s)
                    SELECT m.new_slug, m.new_name, replace(c.website, m.base_slug, m.new_slug), %s
                      FROM bench_scale.cmap m JOIN confhaven.conferences c ON c.id = m.base_id
                     ORDER BY m.edition, m.base_id', c[1], c[2]);
    UPDATE bench_scale.cmap m SET new_id = c2.id FROM confhaven.conferences c2 WHERE c2.slug = m.new_slug;

    -- per-conference dimensions and vocabulary
    FOREACH t IN ARRAY ARRAY['rooms', 'tracks', 'tags', 'speakers', 'search_words'] LOOP
        c := pg_temp.cols(t, ARRAY['id', 'conference_id'], 'x', NULL);
        EXECUTE format('INSERT INTO confhaven.%I (conference_id, %s)
                        SELECT m.new_id, %s FROM bench_scale.cmap m
                          JOIN confhaven.%I x ON x.conference_id = m.base_id
                         ORDER BY m.edition, m.base_id', t, c[1], c[2], t);
    END LOOP;

    -- sessions (room and track by name in the new conference)
    c := pg_temp.cols('sessions', ARRAY['id', 'conference_id', 'room_id', 'track_id'], 's', 'm.shift');
    EXECUTE format('INSERT INTO confhaven.sessions (conference_id, room_id, track_id, %s)
                    SELECT m.new_id, rn.id, tn.id, %s
                      FROM bench_scale.cmap m
                      JOIN confhaven.sessions s ON s.conference_id = m.base_id
                      LEFT JOIN confhaven.rooms ro ON ro.id = s.room_id
                      LEFT JOIN confhaven.rooms rn ON rn.conference_id = m.new_id AND rn.name = ro.name
                      LEFT JOIN confhaven.tracks tro ON tro.id = s.track_id
                      LEFT JOIN confhaven.tracks tn ON tn.conference_id = m.new_id AND tn.name = tro.name
                     ORDER BY m.edition, m.base_id, s.id', c[1], c[2]);
END
$$;

CREATE TABLE bench_scale.smap AS
SELECT so.id AS old_id, sn.id AS new_id, m.new_id AS new_conf
  FROM bench_scale.cmap m
  JOIN confhaven.sessions so ON so.conference_id = m.base_id
  JOIN confhaven.sessions sn ON sn.conference_id = m.new_id AND sn.external_id = so.external_id;

INSERT INTO confhaven.session_speakers (session_id, speaker_id, position)
SELECT sm.new_id, spn.id, ss.position
  FROM confhaven.session_speakers ss
  JOIN bench_scale.smap sm ON sm.old_id = ss.session_id
  JOIN confhaven.speakers spo ON spo.id = ss.speaker_id
  JOIN confhaven.speakers spn ON spn.conference_id = sm.new_conf AND spn.external_id = spo.external_id;

INSERT INTO confhaven.session_tags (session_id, tag_id, position)
SELECT sm.new_id, tn.id, st.position
  FROM confhaven.session_tags st
  JOIN bench_scale.smap sm ON sm.old_id = st.session_id
  JOIN confhaven.tags tg ON tg.id = st.tag_id
  JOIN confhaven.tags tn ON tn.conference_id = sm.new_conf AND tn.name = tg.name;

SELECT (SELECT count(*) FROM bench_scale.cmap) AS editions_added,
       (SELECT count(*) FROM bench_scale.smap) AS sessions_added;
DROP SCHEMA bench_scale CASCADE;
