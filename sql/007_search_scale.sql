-- 007_search_scale.sql — keyword search at 1,000,000 sessions (make
-- bench-scale) without a sequential scan of sessions.  001–006 stay as they
-- are; the one change is CREATE OR REPLACE of 005's confhaven._search_page
-- (same signature, same result, same ranking).  No new indexes.
--
--   * The candidate queries (004's tiers: head, whole document, relaxed
--     query) were "SELECT ... LIMIT 2001" without ORDER BY, so the planner
--     costed them for their first 2001 rows.  It overestimates how many rows
--     a word matches, so at 1M sessions a Seq Scan on sessions that stops
--     after 2001 matches looked cheaper than the bitmap index scans, and took
--     hundreds of ms (keyword 381 ms, keyword + level 663 ms).  Each is now a
--     MATERIALIZED CTE with the cap applied outside it: a CTE is planned for
--     all its rows, so the planner compares full retrievals and the bitmap
--     index scans win for anything but a near-universal word (for which a
--     Seq Scan is also what it should do); the CTE is still read only as far
--     as the LIMIT needs.  Which rows are found is unchanged below the cap
--     (all matches; every data set but the largest); above it, 2001 of them
--     as before (which ones was never defined: there is no ORDER BY).
--   * _search_page runs with jit = off: the full-retrieval estimates pass
--     jit_above_cost, and JIT compilation (20–40 ms at 1M sessions) cost
--     more than the queries themselves.  The setting applies to the nested
--     calls too (suggestions, parsing).
--   * Deliberately not plan_cache_mode = force_custom_plan: after five calls
--     plpgsql may switch a statement to a generic plan.  For the candidate
--     CTEs the generic plan is the same bitmap index scans (no Seq Scan), and
--     for "no q, level, upcoming" it is much faster than the custom one (an
--     ordered scan of sessions_start_idx that stops at the cap, ~20 ms,
--     instead of a bitmap of every upcoming session and a sort, ~80 ms);
--     forcing custom plans would slow that path on nginx's pooled
--     connections.  EXPLAIN of a single call shows the custom plans.

CREATE OR REPLACE FUNCTION confhaven._search_page(
    f jsonb, v_off integer, v_now timestamptz, v_facets boolean, v_suggest boolean,
    v_info jsonb DEFAULT '{}', v_echo text DEFAULT NULL, v_fp text DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql STABLE
SET client_min_messages = warning
SET jit = off
AS $$
DECLARE
    v_q       text := f ->> 'q';
    v_conf    bigint := (f ->> 'conf')::bigint;
    v_track   text := f ->> 'track';
    v_level   text := f ->> 'level';
    v_lim     integer := (f ->> 'lim')::integer;
    v_past    boolean := (f ->> 'past')::boolean;
    v_speaker text := f ->> 'speaker';
    v_room    text := f ->> 'room';
    v_day     date := (f ->> 'day')::date;
    v_dayrel  integer := (f ->> 'dayrel')::integer;
    v_aft     timestamptz := (f ->> 'aft')::timestamptz;
    v_bef     timestamptz := (f ->> 'bef')::timestamptz;
    v_aft_l   timestamp := (f ->> 'aft_l')::timestamp;
    v_bef_l   timestamp := (f ->> 'bef_l')::timestamp;
    v_aft_t   time := (f ->> 'aft_t')::time;
    v_bef_t   time := (f ->> 'bef_t')::time;
    v_lang    text := f ->> 'lang';
    v_spat    text;
    v_rooms   bigint[];
    v_timed   boolean;
    v_lo      timestamptz := '-infinity';
    v_hi      timestamptz := 'infinity';
    p         record;
    v_tracks  bigint[];
    v_all     bigint[];
    v_sc      numeric[];
    v_total   integer;
    v_capped  boolean;
    v_minst   timestamptz;
    v_slug    text;
    v_result  json;
    v_sugg    text;
    v_n       integer;
    v_what    text;
    v_hl      tsquery;
    v_qm      tsquery;
    v_qa_a    tsquery;
    v_cids    bigint[];
    v_enough  integer;
    v_k       integer;
    v_facet   json;
    v_next    text;
    v_try     jsonb;
    v_tryname text;
    -- candidates per query (see 004); one more tells that there are more
    v_cap     integer := 2000;
BEGIN
    IF v_track IS NOT NULL THEN
        SELECT coalesce(array_agg(t.id), '{}') INTO v_tracks FROM confhaven.tracks t
         WHERE lower(t.name) = lower(v_track) AND (v_conf IS NULL OR t.conference_id = v_conf);
    END IF;
    IF v_room IS NOT NULL THEN
        SELECT array_agg(r.id) INTO v_rooms FROM confhaven.rooms r
         WHERE confhaven.norm(btrim(r.name)) = confhaven.norm(v_room)
           AND (v_conf IS NULL OR r.conference_id = v_conf);
        IF v_rooms IS NULL THEN
            SELECT coalesce(array_agg(r.id), '{}') INTO v_rooms FROM confhaven.rooms r
             WHERE strpos(confhaven.norm(r.name), confhaven.norm(v_room)) > 0
               AND (v_conf IS NULL OR r.conference_id = v_conf);
        END IF;
    END IF;
    IF v_speaker IS NOT NULL THEN
        v_spat := '%' || replace(replace(replace(v_speaker, '\', '\\'), '%', '\%'), '_', '\_') || '%';
    END IF;
    IF v_conf IS NOT NULL THEN
        SELECT c.slug INTO v_slug FROM confhaven.conferences c WHERE c.id = v_conf;
    END IF;

    -- Time filters: exact per-row tests below, plus loose bounds on
    -- start_at (every zone is within UTC-12..UTC+14) for the start index.
    v_timed := v_day IS NOT NULL OR v_dayrel IS NOT NULL OR v_aft IS NOT NULL OR v_bef IS NOT NULL
               OR v_aft_l IS NOT NULL OR v_bef_l IS NOT NULL OR v_aft_t IS NOT NULL OR v_bef_t IS NOT NULL;
    IF v_timed THEN
        IF v_day IS NOT NULL THEN
            v_lo := (v_day::timestamp - interval '14 hours') AT TIME ZONE 'UTC';
            v_hi := (v_day::timestamp + interval '36 hours') AT TIME ZONE 'UTC';
        ELSIF v_dayrel IS NOT NULL THEN
            v_lo := date_trunc('day', v_now AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' + (v_dayrel - 2) * interval '1 day';
            v_hi := date_trunc('day', v_now AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' + (v_dayrel + 3) * interval '1 day';
        END IF;
        v_lo := greatest(v_lo, v_aft, (v_aft_l - interval '14 hours') AT TIME ZONE 'UTC');
        v_hi := least(v_hi, v_bef, (v_bef_l + interval '12 hours') AT TIME ZONE 'UTC');
    END IF;

    IF v_q IS NULL THEN
        IF v_past THEN
            v_minst := '-infinity';
        ELSE            -- a session not yet ended started at most max_duration ago
            SELECT v_now - coalesce(max(c.max_duration), interval '0') - interval '1 day' INTO v_minst
              FROM confhaven.conferences c WHERE c.is_active AND (v_conf IS NULL OR c.id = v_conf);
        END IF;
        v_minst := greatest(v_minst, v_lo);
        SELECT array_agg(y.id ORDER BY y.start_at NULLS LAST, y.id), array_agg(0::numeric)
          INTO v_all, v_sc
          FROM (SELECT x.id, x.start_at FROM (
                  (SELECT s.id, s.start_at
                     FROM confhaven.sessions s
                     JOIN confhaven.conferences c ON c.id = s.conference_id
                    WHERE s.start_at >= v_minst AND s.start_at < v_hi
                      AND NOT s.is_service AND c.is_active
                      AND (v_conf IS NULL OR s.conference_id = v_conf)
                      AND (v_tracks IS NULL OR s.track_id = ANY (v_tracks))
                      AND (v_level IS NULL OR s.level = v_level)
                      AND (v_spat IS NULL OR s.speakers_norm LIKE v_spat)
                      AND (v_rooms IS NULL OR s.room_id = ANY (v_rooms))
                      AND (v_lang IS NULL OR s.search_lang = v_lang)
                      AND (NOT v_timed OR confhaven._search_time_ok(s.start_at, c.timezone, v_now, v_day, v_dayrel,
                                              v_aft, v_bef, v_aft_l, v_bef_l, v_aft_t, v_bef_t))
                      AND (v_past OR s.end_at >= v_now
                           OR (s.end_at IS NULL AND (c.end_date IS NULL
                                                     OR c.end_date >= (v_now AT TIME ZONE c.timezone)::date)))
                    ORDER BY s.start_at, s.id
                    LIMIT v_cap + 1)
                  UNION ALL
                  (SELECT s.id, s.start_at                -- unscheduled sessions come last
                     FROM confhaven.sessions s
                     JOIN confhaven.conferences c ON c.id = s.conference_id
                    WHERE NOT s.is_service AND c.is_active AND s.start_at IS NULL AND NOT v_timed
                      AND (v_conf IS NULL OR s.conference_id = v_conf)
                      AND (v_tracks IS NULL OR s.track_id = ANY (v_tracks))
                      AND (v_level IS NULL OR s.level = v_level)
                      AND (v_spat IS NULL OR s.speakers_norm LIKE v_spat)
                      AND (v_rooms IS NULL OR s.room_id = ANY (v_rooms))
                      AND (v_lang IS NULL OR s.search_lang = v_lang)
                      AND (v_past OR (s.end_at IS NULL AND (c.end_date IS NULL
                                          OR c.end_date >= (v_now AT TIME ZONE c.timezone)::date)))
                    ORDER BY s.id
                    LIMIT v_cap + 1)) x
                ORDER BY x.start_at NULLS LAST, x.id
                LIMIT v_cap + 1) y;
    ELSE
        SELECT * INTO p FROM confhaven._search_parse(v_q, v_conf);
        v_info := v_info || p.info;
        v_qa_a := CASE WHEN p.q_all IS NOT NULL THEN confhaven._tsq_weights(p.q_all, 'A') END;
        v_enough := greatest(v_lim * 3, 50);
        -- The tiers of 004: each only when the previous found too little.
        -- Each is a MATERIALIZED CTE with the cap applied outside it (see
        -- the head of 007): planned for all its rows, run only as far as
        -- the LIMIT reads it.
        v_qm := coalesce(p.q_all, p.q_match);
        WITH m AS MATERIALIZED (
                SELECT s.id
                  FROM confhaven.sessions s
                  JOIN confhaven.conferences c ON c.id = s.conference_id
                 WHERE (s.head_doc @@ v_qm
                        OR s.title_norm LIKE p.pat_full
                        OR s.title_norm LIKE p.pat
                        OR s.tags_norm LIKE p.pat)
                   AND NOT s.is_service AND c.is_active
                   AND (v_conf IS NULL OR s.conference_id = v_conf)
                   AND (v_tracks IS NULL OR s.track_id = ANY (v_tracks))
                   AND (v_level IS NULL OR s.level = v_level)
                   AND (v_spat IS NULL OR s.speakers_norm LIKE v_spat)
                   AND (v_rooms IS NULL OR s.room_id = ANY (v_rooms))
                   AND (v_lang IS NULL OR s.search_lang = v_lang)
                   AND (NOT v_timed OR (s.start_at >= v_lo AND s.start_at < v_hi
                        AND confhaven._search_time_ok(s.start_at, c.timezone, v_now, v_day, v_dayrel,
                                                      v_aft, v_bef, v_aft_l, v_bef_l, v_aft_t, v_bef_t)))
                   AND (v_past OR s.end_at >= v_now
                        OR (s.end_at IS NULL AND (c.end_date IS NULL
                                                  OR c.end_date >= (v_now AT TIME ZONE c.timezone)::date))))
        SELECT array_agg(x.id) INTO v_cids
          FROM (SELECT m.id FROM m LIMIT v_cap + 1) x;
        IF coalesce(array_length(v_cids, 1), 0) < v_enough THEN
            WITH m AS MATERIALIZED (
                    SELECT s.id
                      FROM confhaven.sessions s
                      JOIN confhaven.conferences c ON c.id = s.conference_id
                     WHERE (s.document @@ v_qm
                            OR s.title_norm LIKE p.pat_full
                            OR s.title_norm LIKE p.pat
                            OR s.tags_norm LIKE p.pat
                            OR s.speakers_norm LIKE p.pat
                            OR s.abstract_norm LIKE p.pat)
                       AND NOT s.is_service AND c.is_active
                       AND (v_conf IS NULL OR s.conference_id = v_conf)
                       AND (v_tracks IS NULL OR s.track_id = ANY (v_tracks))
                       AND (v_level IS NULL OR s.level = v_level)
                       AND (v_spat IS NULL OR s.speakers_norm LIKE v_spat)
                       AND (v_rooms IS NULL OR s.room_id = ANY (v_rooms))
                       AND (v_lang IS NULL OR s.search_lang = v_lang)
                       AND (NOT v_timed OR (s.start_at >= v_lo AND s.start_at < v_hi
                            AND confhaven._search_time_ok(s.start_at, c.timezone, v_now, v_day, v_dayrel,
                                                          v_aft, v_bef, v_aft_l, v_bef_l, v_aft_t, v_bef_t)))
                       AND (v_past OR s.end_at >= v_now
                            OR (s.end_at IS NULL AND (c.end_date IS NULL
                                                      OR c.end_date >= (v_now AT TIME ZONE c.timezone)::date))))
            SELECT array_agg(x.id) INTO v_cids
              FROM (SELECT m.id FROM m LIMIT v_cap + 1) x;
            IF coalesce(array_length(v_cids, 1), 0) < v_lim AND p.q_match IS NOT NULL
               AND p.q_match::text IS DISTINCT FROM v_qm::text THEN
                v_qm := p.q_match;
                WITH m AS MATERIALIZED (
                        SELECT s.id
                          FROM confhaven.sessions s
                          JOIN confhaven.conferences c ON c.id = s.conference_id
                         WHERE (s.document @@ v_qm
                                OR s.title_norm LIKE p.pat_full
                                OR s.title_norm LIKE p.pat
                                OR s.tags_norm LIKE p.pat
                                OR s.speakers_norm LIKE p.pat
                                OR s.abstract_norm LIKE p.pat)
                           AND NOT s.is_service AND c.is_active
                           AND (v_conf IS NULL OR s.conference_id = v_conf)
                           AND (v_tracks IS NULL OR s.track_id = ANY (v_tracks))
                           AND (v_level IS NULL OR s.level = v_level)
                           AND (v_spat IS NULL OR s.speakers_norm LIKE v_spat)
                           AND (v_rooms IS NULL OR s.room_id = ANY (v_rooms))
                           AND (v_lang IS NULL OR s.search_lang = v_lang)
                           AND (NOT v_timed OR (s.start_at >= v_lo AND s.start_at < v_hi
                                AND confhaven._search_time_ok(s.start_at, c.timezone, v_now, v_day, v_dayrel,
                                                              v_aft, v_bef, v_aft_l, v_bef_l, v_aft_t, v_bef_t)))
                           AND (v_past OR s.end_at >= v_now
                                OR (s.end_at IS NULL AND (c.end_date IS NULL
                                                          OR c.end_date >= (v_now AT TIME ZONE c.timezone)::date))))
                SELECT array_agg(x.id) INTO v_cids
                  FROM (SELECT m.id FROM m LIMIT v_cap + 1) x;
            END IF;
        END IF;

        -- One total order: the best v_k by the cheap pre-rank scored in
        -- full and sorted by score, then the others in pre-rank order.
        -- Only the page's rows beyond v_k get their full score computed.
        v_k := greatest(v_lim * 3, 60);
        WITH cand AS MATERIALIZED (
            SELECT s.id, s.start_at, s.document,
                   (10 * coalesce(s.title_norm = p.exact OR s.title_norm = p.core, false)::int
                    + 5 * coalesce(s.title_norm LIKE p.pat OR s.title_norm LIKE p.pat_full, false)::int
                    + 3 * coalesce(s.tags_norm LIKE p.pat, false)::int
                    + 2 * coalesce(s.abstract_norm LIKE p.pat, false)::int
                    + (CASE WHEN coalesce(s.speakers_norm LIKE p.pat, false)
                            THEN CASE WHEN p.core LIKE '% %' THEN 4 ELSE 1 END ELSE 0 END))::numeric AS seed,
                   6 * (v_qa_a IS NOT NULL AND s.head_doc @@ v_qa_a)::int
                   + 3 * (p.q_any IS NOT NULL AND s.head_doc @@ p.q_any)::int AS boost
              FROM confhaven.sessions s
             WHERE s.id = ANY (v_cids[1:v_cap])),
        ranked AS (
            SELECT cand.*, row_number() OVER (ORDER BY cand.seed + cand.boost DESC,
                                                       cand.start_at NULLS LAST, cand.id) AS prn
              FROM cand),
        scored AS (
            SELECT ranked.id, ranked.start_at, ranked.prn,
                   CASE WHEN ranked.prn <= v_k OR ranked.prn BETWEEN v_off + 1 AND v_off + v_lim THEN
                        ranked.seed
                        + CASE WHEN p.q_all IS NOT NULL AND ranked.document @@ p.q_all
                               THEN 10 * ts_rank_cd(ranked.document, p.q_all, 32)::numeric ELSE 0 END
                        + CASE WHEN p.q_any IS NOT NULL
                               THEN 5 * ts_rank_cd(ranked.document, p.q_any, 32)::numeric ELSE 0 END
                   END AS score
              FROM ranked)
        SELECT array_agg(x.id ORDER BY x.prn > v_k, CASE WHEN x.prn <= v_k THEN x.score END DESC,
                                       CASE WHEN x.prn <= v_k THEN x.start_at END NULLS LAST,
                                       CASE WHEN x.prn <= v_k THEN x.id END, x.prn),
               array_agg(x.score ORDER BY x.prn > v_k, CASE WHEN x.prn <= v_k THEN x.score END DESC,
                                          CASE WHEN x.prn <= v_k THEN x.start_at END NULLS LAST,
                                          CASE WHEN x.prn <= v_k THEN x.id END, x.prn)
          INTO v_all, v_sc
          FROM scored x;
        v_hl := coalesce(p.q_any, p.q_match);
        v_capped := coalesce(array_length(v_cids, 1), 0) > v_cap;
    END IF;

    v_total := coalesce(array_length(v_all, 1), 0);
    v_capped := coalesce(v_capped, false) OR v_total > v_cap;
    IF v_total > v_cap THEN
        v_total := v_cap;
        v_all := v_all[1:v_cap];
        v_sc := v_sc[1:v_cap];
    END IF;

    IF v_off + v_lim < v_total AND v_off + v_lim <= 1000 AND v_fp IS NOT NULL THEN
        v_next := confhaven._cursor_make(v_off + v_lim, v_lim, v_now, v_fp);
    END IF;

    IF v_facets THEN
        WITH m AS (
            SELECT tr.name AS track, s.level,
                   to_char((s.start_at AT TIME ZONE c.timezone)::date, 'YYYY-MM-DD') AS day
              FROM confhaven.sessions s
              JOIN confhaven.conferences c ON c.id = s.conference_id
              LEFT JOIN confhaven.tracks tr ON tr.id = s.track_id
             WHERE s.id = ANY (v_all)),
        g AS (
            SELECT CASE WHEN grouping(m.track) = 0 THEN 'track'
                        WHEN grouping(m.level) = 0 THEN 'level' ELSE 'day' END AS facet,
                   coalesce(m.track, m.level, m.day) AS value, count(*) AS n
              FROM m
             GROUP BY GROUPING SETS ((m.track), (m.level), (m.day)))
        SELECT json_build_object(
                   'track', coalesce((SELECT json_agg(json_build_object('value', g.value, 'count', g.n)
                                                      ORDER BY g.n DESC, g.value NULLS LAST)
                                        FROM g WHERE g.facet = 'track'), '[]'::json),
                   'level', coalesce((SELECT json_agg(json_build_object('value', g.value, 'count', g.n)
                                                      ORDER BY array_position(ARRAY['Introductory', 'Intermediate', 'Advanced'],
                                                                              g.value) NULLS LAST)
                                        FROM g WHERE g.facet = 'level'), '[]'::json),
                   'day', coalesce((SELECT json_agg(json_build_object('value', g.value, 'count', g.n)
                                                    ORDER BY g.value NULLS LAST)
                                      FROM g WHERE g.facet = 'day'), '[]'::json))
          INTO v_facet;
    END IF;

    -- Nothing found: say what was searched and what a relaxation would find.
    IF v_total = 0 AND v_suggest THEN
        v_what := concat_ws(' ',
            CASE WHEN v_q IS NOT NULL THEN format('sessions matching %s', to_json(v_q)) ELSE 'sessions' END,
            CASE WHEN v_slug IS NOT NULL THEN format('at %s', v_slug) END,
            CASE WHEN v_track IS NOT NULL THEN format('in track %s', to_json(v_track)) END,
            CASE WHEN v_level IS NOT NULL THEN format('at level %s', v_level) END,
            CASE WHEN v_speaker IS NOT NULL THEN format('by a speaker named like %s', to_json(v_speaker)) END,
            CASE WHEN v_room IS NOT NULL THEN format('in room %s', to_json(v_room)) END,
            CASE WHEN v_lang IS NOT NULL THEN format('in %s', initcap(v_lang)) END,
            CASE WHEN v_day IS NOT NULL THEN format('on %s', v_day)
                 WHEN v_dayrel IS NOT NULL THEN CASE v_dayrel WHEN 0 THEN 'today' WHEN 1 THEN 'tomorrow'
                                                            ELSE 'yesterday' END END,
            CASE WHEN coalesce(v_aft::text, v_aft_l::text, v_aft_t::text, v_bef::text, v_bef_l::text,
                               v_bef_t::text) IS NOT NULL THEN 'in the time window' END,
            CASE WHEN NOT v_past THEN 'that have not ended yet' END);
        -- relaxations, most specific first; the first that finds something wins
        FOR v_tryname, v_try IN
            SELECT x.name, x.ff FROM (VALUES
                (1, 'add include_past=true', CASE WHEN NOT v_past THEN f || '{"past": true}' END),
                (2, 'leave out starts_after and starts_before',
                    CASE WHEN f ?| ARRAY['aft', 'bef', 'aft_l', 'bef_l', 'aft_t', 'bef_t']
                         THEN f - ARRAY['aft', 'bef', 'aft_l', 'bef_l', 'aft_t', 'bef_t'] END),
                (3, 'leave out day', CASE WHEN f ?| ARRAY['day', 'dayrel'] THEN f - ARRAY['day', 'dayrel'] END),
                (4, 'leave out room', CASE WHEN f ? 'room' THEN f - 'room' END),
                (5, 'leave out speaker', CASE WHEN f ? 'speaker' THEN f - 'speaker' END),
                (6, 'leave out language', CASE WHEN f ? 'lang' THEN f - 'lang' END),
                (7, 'leave out level', CASE WHEN f ? 'level' THEN f - 'level' END),
                (8, 'leave out track (track names: GET /api/conferences/{slug})',
                    CASE WHEN f ? 'track' THEN f - 'track' END),
                (9, 'leave out conference', CASE WHEN f ? 'conf' THEN f - 'conf' END),
                (10, 'leave out every filter and add include_past=true',
                    CASE WHEN v_q IS NOT NULL AND (f - ARRAY['q', 'lim', 'past'] <> '{}' OR NOT v_past)
                         THEN jsonb_build_object('q', v_q, 'lim', 50, 'past', true) END)
            ) x(o, name, ff)
            WHERE x.ff IS NOT NULL
            ORDER BY x.o
        LOOP
            v_n := (confhaven._search_page(v_try || '{"lim": 50}', 0, v_now, false, false) ->> 'total')::integer;
            IF v_n > 0 THEN
                v_sugg := format('%s %s if you %s.',
                                 CASE WHEN v_n >= v_cap THEN v_cap || ' or more' ELSE v_n::text END,
                                 CASE WHEN v_n = 1 THEN 'session matches' ELSE 'sessions match' END, v_tryname);
                EXIT;
            END IF;
        END LOOP;
        v_sugg := format('No %s.', v_what) || ' '
               || coalesce(v_sugg, CASE WHEN v_q IS NOT NULL
                                        THEN 'Try fewer or more general words (a topic, a technology or a speaker''s name).'
                                        ELSE 'Leave out filters to see more.' END);
    END IF;

    SELECT json_build_object(
        'query', confhaven._json_extend(json_build_object(
            'q', CASE WHEN v_suggest THEN v_echo ELSE v_q END,
            'conference', v_slug,
            'track', v_track,
            'level', v_level,
            'limit', v_lim,
            'include_past', v_past),
            jsonb_strip_nulls(jsonb_build_object(
                'speaker', f ->> 'speaker_echo',
                'room', v_room,
                'day', coalesce(to_char(v_day, 'YYYY-MM-DD'),
                                CASE v_dayrel WHEN 0 THEN 'today' WHEN 1 THEN 'tomorrow' WHEN -1 THEN 'yesterday' END),
                'starts_after', f ->> 'aft_echo',
                'starts_before', f ->> 'bef_echo',
                'language', v_lang,
                'offset', CASE WHEN v_off > 0 THEN v_off END))),
        'count', count(t.id),
        'total', v_total,
        'total_capped', v_capped,
        'offset', v_off,
        'next_cursor', v_next,
        'sessions', coalesce(json_agg(json_build_object(
            'id', s.id,
            'external_id', s.external_id,
            'conference', c.slug,
            'title', btrim(s.title),
            'speakers', to_json(s.speaker_names),
            'start', confhaven.iso_local(s.start_at, c.timezone),
            'end', confhaven.iso_local(s.end_at, c.timezone),
            'timezone', c.timezone,
            'room', r.name,
            'track', tr.name,
            'level', s.level,
            'tags', to_json(s.tag_names),
            'snippet', confhaven.snippet(s.abstract_plain),
            'score', round(t.score, 3),
            'highlight', CASE WHEN v_hl IS NOT NULL THEN confhaven._highlight(s.search_lang, s.abstract_plain, v_hl) END)
          ORDER BY t.ord) FILTER (WHERE t.id IS NOT NULL), '[]'::json),
        'suggestion', v_sugg,
        'interpretation', CASE WHEN v_info <> '{}' THEN v_info END)
      INTO v_result
      FROM (SELECT 1) one
      LEFT JOIN (unnest(v_all[v_off + 1:v_off + v_lim], v_sc[v_off + 1:v_off + v_lim]) WITH ORDINALITY AS t(id, score, ord)
                 JOIN confhaven.sessions s ON s.id = t.id
                 JOIN confhaven.conferences c ON c.id = s.conference_id
                 LEFT JOIN confhaven.rooms r ON r.id = s.room_id
                 LEFT JOIN confhaven.tracks tr ON tr.id = s.track_id) ON true;
    IF v_facets THEN
        v_result := (left(v_result::text, -1) || ', "facets" : ' || v_facet::text || '}')::json;
    END IF;
    RETURN v_result;
END
$$;
