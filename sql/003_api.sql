-- 003_api.sql — the read API called by the nginx module.
--
-- Every function returns one json value (the complete response body) or
-- raises CH400 / CH404 with a MESSAGE a person understands and a HINT that
-- tells the caller (often an LLM) how to fix the call.  All functions are
-- STABLE, take plain parameters and build no dynamic SQL.

-- ISO 8601 local time with the zone's UTC offset at that instant,
-- e.g. iso_local('2026-10-02 08:00+00', 'Europe/London') = '2026-10-02T09:00:00+01:00'.
CREATE OR REPLACE FUNCTION confhaven.iso_local(ts timestamptz, tz text)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT to_char(x.l, 'YYYY-MM-DD"T"HH24:MI:SS')
        || CASE WHEN x.off < interval '0' THEN '-' ELSE '+' END
        || to_char(CASE WHEN x.off < interval '0' THEN -x.off ELSE x.off END, 'HH24:MI')
      FROM (SELECT ts AT TIME ZONE tz AS l,
                   (ts AT TIME ZONE tz) - (ts AT TIME ZONE 'UTC') AS off) x;
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

-- Map an API level parameter to the stored value; NULL/empty -> NULL.
CREATE OR REPLACE FUNCTION confhaven._api_level(level text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE
AS $$
BEGIN
    IF level IS NULL OR btrim(level) = '' THEN
        RETURN NULL;
    END IF;
    CASE lower(btrim(level))
        WHEN 'introductory', '100' THEN RETURN 'Introductory';
        WHEN 'intermediate', '200' THEN RETURN 'Intermediate';
        WHEN 'advanced', '300', '400' THEN RETURN 'Advanced';
        ELSE
            RAISE EXCEPTION USING ERRCODE = 'CH400',
                MESSAGE = format('unknown level %s', confhaven._show(level)),
                HINT = 'Use level=Introductory, Intermediate or Advanced (or 100, 200, 300, 400: 100 = Introductory, 200 = Intermediate, 300/400 = Advanced), or leave level out.';
    END CASE;
END
$$;

-- Hint text listing valid slugs (up to 20, closest-looking first).
CREATE OR REPLACE FUNCTION confhaven._slug_hint(wanted text)
RETURNS text
LANGUAGE sql STABLE
AS $$
    SELECT CASE WHEN count(*) = 0
                THEN 'No conferences have been imported yet.'
                ELSE 'Valid conference slugs: ' || string_agg(slug, ', ' ORDER BY rk, start_date DESC NULLS LAST, slug)
                     || '. GET /api/conferences?include_past=true lists all conferences.' END
      FROM (SELECT c.slug, c.start_date,
                   CASE WHEN wanted IS NOT NULL AND wanted <> ''
                         AND (strpos(c.slug, lower(wanted)) > 0 OR strpos(lower(wanted), c.slug) > 0
                              OR strpos(lower(c.name), lower(wanted)) > 0)
                        THEN 0 ELSE 1 END AS rk
              FROM confhaven.conferences c
             WHERE c.is_active
             ORDER BY rk, c.start_date DESC NULLS LAST, c.slug
             LIMIT 20) s;
$$;

-- Resolve a conference given by slug (case-insensitive) or by name.
CREATE OR REPLACE FUNCTION confhaven._resolve_conference(conf text, errcode text)
RETURNS bigint
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    v_id bigint;
    v    text := btrim(conf);
BEGIN
    SELECT c.id INTO v_id
      FROM confhaven.conferences c
     WHERE c.is_active AND (c.slug = lower(v) OR lower(c.name) = lower(v))
     ORDER BY (c.slug = lower(v)) DESC, c.id
     LIMIT 1;
    IF v_id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = errcode,
            MESSAGE = format('unknown conference %s', confhaven._show(conf)),
            HINT = confhaven._slug_hint(v);
    END IF;
    RETURN v_id;
END
$$;

-- ---------------------------------------------------------------------------
-- 1. api_health
-- ---------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION confhaven.api_health()
RETURNS json
LANGUAGE sql STABLE
AS $$
    SELECT json_build_object(
        'schema_version', (SELECT max(version) FROM confhaven.schema_migrations),
        'conferences', (SELECT count(*) FROM confhaven.conferences WHERE is_active),
        'sessions', (SELECT count(*) FROM confhaven.sessions s
                       JOIN confhaven.conferences c ON c.id = s.conference_id
                      WHERE c.is_active AND NOT s.is_service));
$$;

-- ---------------------------------------------------------------------------
-- 2. api_conferences
-- ---------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION confhaven.api_conferences(include_past boolean)
RETURNS json
LANGUAGE sql STABLE
AS $$
    WITH sel AS (
        SELECT c.id, c.start_date, c.name
          FROM confhaven.conferences c
         WHERE c.is_active
           AND (coalesce(include_past, false)
                OR c.end_date IS NULL
                OR c.end_date >= (now() AT TIME ZONE c.timezone)::date))
    SELECT json_build_object(
        'count', (SELECT count(*) FROM sel),
        'include_past', coalesce(include_past, false),
        'conferences', coalesce((SELECT json_agg(confhaven.conference_json(sel.id)
                                                 ORDER BY sel.start_date NULLS LAST, sel.name, sel.id)
                                   FROM sel), '[]'::json));
$$;

-- ---------------------------------------------------------------------------
-- 3. api_conference
-- ---------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION confhaven.api_conference(slug text)
RETURNS json
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    c confhaven.conferences%ROWTYPE;
BEGIN
    SELECT * INTO c FROM confhaven.conferences x
     WHERE x.is_active AND x.slug = lower(btrim(api_conference.slug));
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'CH404',
            MESSAGE = format('unknown conference %s', confhaven._show(api_conference.slug)),
            HINT = confhaven._slug_hint(btrim(api_conference.slug));
    END IF;
    RETURN json_build_object(
        'slug', c.slug,
        'name', c.name,
        'location', c.location,
        'timezone', c.timezone,
        'start_date', to_char(c.start_date, 'YYYY-MM-DD'),
        'end_date', to_char(c.end_date, 'YYYY-MM-DD'),
        'website', c.website,
        'is_active', c.is_active,
        'session_count', (SELECT count(*) FROM confhaven.sessions s
                           WHERE s.conference_id = c.id AND NOT s.is_service),
        'tracks', coalesce((SELECT json_agg(json_build_object('name', t.name, 'sessions', t.n)
                                            ORDER BY t.name)
                              FROM (SELECT tr.name, count(*) AS n
                                      FROM confhaven.tracks tr
                                      JOIN confhaven.sessions s ON s.track_id = tr.id AND NOT s.is_service
                                     WHERE tr.conference_id = c.id
                                     GROUP BY tr.name) t), '[]'::json),
        'levels', coalesce((SELECT json_agg(l.level ORDER BY l.rk)
                              FROM (SELECT DISTINCT s.level,
                                           array_position(ARRAY['Introductory', 'Intermediate', 'Advanced'], s.level) AS rk
                                      FROM confhaven.sessions s
                                     WHERE s.conference_id = c.id AND s.level IS NOT NULL
                                       AND NOT s.is_service) l), '[]'::json),
        'rooms', coalesce((SELECT json_agg(r.name ORDER BY r.sort, r.name)
                             FROM confhaven.rooms r WHERE r.conference_id = c.id), '[]'::json),
        'days', coalesce((SELECT json_agg(to_char(d.day, 'YYYY-MM-DD') ORDER BY d.day)
                            FROM (SELECT DISTINCT (s.start_at AT TIME ZONE c.timezone)::date AS day
                                    FROM confhaven.sessions s
                                   WHERE s.conference_id = c.id AND s.start_at IS NOT NULL) d), '[]'::json));
END
$$;

-- ---------------------------------------------------------------------------
-- 4. api_search
-- ---------------------------------------------------------------------------
-- Matching: a session matches when its search document matches the query
-- (any query word, prefix match on the last word; quoted phrases, "or" and
-- -exclusions switch to websearch semantics) or when one of the substring
-- rules holds.  Score = seed rules (exact title +10, title contains +5,
-- tag/track contains +3, abstract contains +2, speaker contains +1)
-- + 10 * ts_rank_cd(all words) + 5 * ts_rank_cd(any word).
CREATE OR REPLACE FUNCTION confhaven.api_search(
    q text, conference text, track text, level text, lim integer, include_past boolean)
RETURNS json
LANGUAGE plpgsql STABLE
SET client_min_messages = warning     -- stop-word-only queries raise a NOTICE otherwise
AS $$
DECLARE
    v_q       text := nullif(btrim(regexp_replace(q, '\s+', ' ', 'g')), '');
    v_lq      text;
    v_pat     text;                   -- ILIKE pattern: %q% with wildcards escaped
    v_conf    bigint;
    v_slug    text;
    v_track   text := nullif(btrim(track), '');
    v_level   text := confhaven._api_level(level);
    v_lim     integer := least(greatest(coalesce(lim, 20), 1), 50);
    v_past    boolean := coalesce(include_past, false);
    q_all     tsquery;
    q_any     tsquery;
    q_match   tsquery;
    lex       record;
    part      tsquery;
    v_result  json;
BEGIN
    IF nullif(btrim(conference), '') IS NOT NULL THEN
        v_conf := confhaven._resolve_conference(conference, 'CH400');
        SELECT c.slug INTO v_slug FROM confhaven.conferences c WHERE c.id = v_conf;
    END IF;

    IF v_q IS NOT NULL THEN
        v_lq := lower(v_q);
        v_pat := '%' || replace(replace(replace(v_q, '\', '\\'), '%', '\%'), '_', '\_') || '%';
        q_all := websearch_to_tsquery('english', v_q);
        -- OR of the query's lexemes; the last word also as a prefix
        FOR lex IN
            SELECT t.lexeme, (SELECT max(p) FROM unnest(t.positions) p) AS pos,
                   max((SELECT max(p) FROM unnest(t.positions) p)) OVER () AS last_pos
              FROM unnest(to_tsvector('english', v_q)) t
        LOOP
            IF lex.pos = lex.last_pos AND lex.lexeme ~ '^[a-z0-9]{2,}$' AND v_q ~ '[[:alnum:]]$' THEN
                part := to_tsquery('simple', lex.lexeme || ':*');
            ELSE
                part := plainto_tsquery('simple', lex.lexeme);
            END IF;
            IF numnode(part) > 0 THEN
                q_any := CASE WHEN q_any IS NULL THEN part ELSE q_any || part END;
            END IF;
        END LOOP;
        IF v_q ~* '"|(^|\s)-[[:alnum:]]|\sor\s' THEN
            q_match := q_all;             -- explicit web-search syntax: honour it
        ELSE
            q_match := coalesce(q_any, q_all);
        END IF;
        IF numnode(q_match) = 0 THEN
            q_match := NULL;              -- only stop words: substring rules only
        END IF;
        IF numnode(q_all) = 0 THEN
            q_all := NULL;
        END IF;
    END IF;

    WITH hits AS (                    -- sessions matching the query anywhere (index-assisted)
        SELECT s.id FROM confhaven.sessions s
         WHERE q_match IS NOT NULL AND s.document @@ q_match
        UNION
        SELECT s.id FROM confhaven.sessions s
         WHERE s.title ILIKE v_pat
            OR (q_all IS NOT NULL AND s.abstract_plain ILIKE v_pat)   -- not for stop-word-only queries
        UNION
        SELECT ss.session_id FROM confhaven.session_speakers ss
          JOIN confhaven.speakers sp ON sp.id = ss.speaker_id
         WHERE sp.name ILIKE v_pat
        UNION
        SELECT st.session_id FROM confhaven.session_tags st
          JOIN confhaven.tags t ON t.id = st.tag_id
         WHERE t.name ILIKE v_pat
        UNION
        SELECT s.id FROM confhaven.sessions s
          JOIN confhaven.tracks tr ON tr.id = s.track_id
         WHERE tr.name ILIKE v_pat
    ),
    cand AS (
        SELECT s.id, s.start_at, s.document, s.title, s.abstract_plain, tr.name AS track_name
          FROM confhaven.sessions s
          JOIN confhaven.conferences c ON c.id = s.conference_id AND c.is_active
          LEFT JOIN confhaven.tracks tr ON tr.id = s.track_id
         WHERE NOT s.is_service
           AND (v_q IS NULL OR s.id IN (SELECT hits.id FROM hits))
           AND (v_conf IS NULL OR s.conference_id = v_conf)
           AND (v_track IS NULL OR lower(tr.name) = lower(v_track))
           AND (v_level IS NULL OR s.level = v_level)
           AND (v_past OR s.end_at >= now()
                OR (s.end_at IS NULL AND (c.end_date IS NULL
                                          OR c.end_date >= (now() AT TIME ZONE c.timezone)::date)))
    ),
    scored AS (
        SELECT cand.id, cand.start_at,
               CASE WHEN v_q IS NULL THEN 0::numeric ELSE
                   (10 * m.exact_title::int + 5 * m.in_title::int + 3 * m.in_tags::int
                    + 2 * m.in_abstract::int + 1 * m.in_speakers::int)::numeric
                   + CASE WHEN q_all IS NOT NULL AND cand.document @@ q_all
                          THEN 10 * ts_rank_cd(cand.document, q_all, 32)::numeric ELSE 0 END
                   + CASE WHEN q_any IS NOT NULL AND cand.document @@ q_any
                          THEN 5 * ts_rank_cd(cand.document, q_any, 32)::numeric ELSE 0 END
               END AS score
          FROM cand
          CROSS JOIN LATERAL (
              SELECT v_q IS NOT NULL AND lower(btrim(cand.title)) = v_lq AS exact_title,
                     v_q IS NOT NULL AND cand.title ILIKE v_pat AS in_title,
                     v_q IS NOT NULL AND (coalesce(cand.track_name ILIKE v_pat, false)
                          OR EXISTS (SELECT 1 FROM confhaven.session_tags st
                                       JOIN confhaven.tags t ON t.id = st.tag_id
                                      WHERE st.session_id = cand.id AND t.name ILIKE v_pat)) AS in_tags,
                     q_all IS NOT NULL AND coalesce(cand.abstract_plain ILIKE v_pat, false) AS in_abstract,
                     v_q IS NOT NULL AND EXISTS (SELECT 1 FROM confhaven.session_speakers ss
                                                   JOIN confhaven.speakers sp ON sp.id = ss.speaker_id
                                                  WHERE ss.session_id = cand.id
                                                    AND sp.name ILIKE v_pat) AS in_speakers
          ) m
    ),
    top AS (
        SELECT scored.id, scored.score, scored.start_at
          FROM scored
         ORDER BY scored.score DESC, scored.start_at NULLS LAST, scored.id
         LIMIT v_lim
    )
    SELECT json_build_object(
        'query', json_build_object(
            'q', v_q,
            'conference', v_slug,
            'track', v_track,
            'level', v_level,
            'limit', v_lim,
            'include_past', v_past),
        'count', (SELECT count(*) FROM top),
        'sessions', coalesce(json_agg(json_build_object(
            'id', s.id,
            'external_id', s.external_id,
            'conference', c.slug,
            'title', s.title,
            'speakers', coalesce((SELECT json_agg(sp.name ORDER BY ss.position)
                                    FROM confhaven.session_speakers ss
                                    JOIN confhaven.speakers sp ON sp.id = ss.speaker_id
                                   WHERE ss.session_id = s.id), '[]'::json),
            'start', confhaven.iso_local(s.start_at, c.timezone),
            'end', confhaven.iso_local(s.end_at, c.timezone),
            'timezone', c.timezone,
            'room', r.name,
            'track', tr.name,
            'level', s.level,
            'tags', coalesce((SELECT json_agg(t.name ORDER BY st.position)
                                FROM confhaven.session_tags st
                                JOIN confhaven.tags t ON t.id = st.tag_id
                               WHERE st.session_id = s.id), '[]'::json),
            'snippet', confhaven.snippet(s.abstract_plain),
            'score', round(top.score, 3))
          ORDER BY top.score DESC, top.start_at NULLS LAST, top.id), '[]'::json))
      INTO v_result
      FROM top
      JOIN confhaven.sessions s ON s.id = top.id
      JOIN confhaven.conferences c ON c.id = s.conference_id
      LEFT JOIN confhaven.rooms r ON r.id = s.room_id
      LEFT JOIN confhaven.tracks tr ON tr.id = s.track_id;

    RETURN v_result;
END
$$;

-- ---------------------------------------------------------------------------
-- 5. api_session
-- ---------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION confhaven.api_session(id bigint)
RETURNS json
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    v_result json;
BEGIN
    SELECT json_build_object(
        'id', s.id,
        'external_id', s.external_id,
        'conference', c.slug,
        'conference_name', c.name,
        'title', s.title,
        'subtitle', s.subtitle,
        'speakers', coalesce((SELECT json_agg(sp.name ORDER BY ss.position)
                                FROM confhaven.session_speakers ss
                                JOIN confhaven.speakers sp ON sp.id = ss.speaker_id
                               WHERE ss.session_id = s.id), '[]'::json),
        'start', confhaven.iso_local(s.start_at, c.timezone),
        'end', confhaven.iso_local(s.end_at, c.timezone),
        'timezone', c.timezone,
        'room', r.name,
        'track', tr.name,
        'level', s.level,
        'level_detail', s.level_detail,
        'format', s.format,
        'language', s.language,
        'is_service', s.is_service,
        'tags', coalesce((SELECT json_agg(t.name ORDER BY st.position)
                            FROM confhaven.session_tags st
                            JOIN confhaven.tags t ON t.id = st.tag_id
                           WHERE st.session_id = s.id), '[]'::json),
        'abstract', s.abstract,
        'speakers_detail', coalesce((SELECT json_agg(json_build_object('name', sp.name, 'bio', sp.bio)
                                                     ORDER BY ss.position)
                                       FROM confhaven.session_speakers ss
                                       JOIN confhaven.speakers sp ON sp.id = ss.speaker_id
                                      WHERE ss.session_id = s.id), '[]'::json))
      INTO v_result
      FROM confhaven.sessions s
      JOIN confhaven.conferences c ON c.id = s.conference_id AND c.is_active
      LEFT JOIN confhaven.rooms r ON r.id = s.room_id
      LEFT JOIN confhaven.tracks tr ON tr.id = s.track_id
     WHERE s.id = api_session.id;
    IF v_result IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'CH404',
            MESSAGE = format('no session with id %s', api_session.id),
            HINT = 'Session ids come from the "id" field of GET /api/sessions results; search again to find the session.';
    END IF;
    RETURN v_result;
END
$$;
