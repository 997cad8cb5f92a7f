-- 40_conferences.sql — conferences: finding one from what a caller typed
-- (_find_conference, the one place for loose conference names; used by
-- api_search, the MCP prompts and completions), the error for an unknown one,
-- and the conference list and detail answers.
--
-- Every API function returns one json value (the complete response body) or
-- raises CH400 / CH404 with a MESSAGE a person understands and a HINT that
-- tells the caller (often an LLM) how to fix the call.

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

-- The one place where a conference given by a caller (the conference
-- parameter of api_search, an MCP prompt or completion argument, a
-- conference named inside a search query) is turned into a conference:
-- its id, or NULL when nothing or several conferences fit.
--
-- 1. Words.  Candidates in order of preference: the slug itself; slug or
--    name equal after normalisation (case, accents, punctuation); every
--    word given appears in the name or slug (so "scottish summit" and
--    "Scottish Summit 2026" find scottish-summit-2026, "31c3" finds "31.
--    Chaos Communication Congress (31C3)").  Several editions: the one that
--    has not ended yet and starts first, else the latest.  At least one
--    given word must be a non-number of three or more characters, so "2026"
--    alone names no conference.
-- 2. Compact form, only when 1 finds nothing: lower case, accents removed,
--    a "20yy" year (four digits) read as "yy", then letters and digits
--    only.  The given text matches a conference when its compact form
--    equals that of the slug, of the name, or of the name with the last two
--    digits of the start year appended (unless the name's compact form
--    already ends with them): "Scottish Summit 26", "scottishsummit2026",
--    "SCOTTISH SUMMIT 2026!" all find scottish-summit-2026.  Exactly one
--    conference must match; several is NULL (the caller's "unknown
--    conference", whose hint lists the slugs).  This is the rule the MCP
--    search_sessions tool used to apply in C after an "unknown conference".
CREATE OR REPLACE FUNCTION confhaven._find_conference(conf text)
RETURNS bigint
LANGUAGE sql STABLE
AS $$
    WITH v AS (
        SELECT lower(btrim(conf)) AS raw,
               btrim(regexp_replace(confhaven.norm(conf), '[^a-z0-9]+', ' ', 'g')) AS key,
               regexp_replace(regexp_replace(confhaven.norm(conf), '(?<![0-9])20([0-9]{2})(?![0-9])', '\1', 'g'),
                              '[^a-z0-9]+', '', 'g') AS compact)
    SELECT coalesce(
        (SELECT c.id
           FROM confhaven.conferences c, v
          WHERE c.is_active
            AND v.key <> ''
            AND (c.slug = v.raw
                 OR btrim(regexp_replace(c.slug, '[^a-z0-9]+', ' ', 'g')) = v.key
                 OR btrim(regexp_replace(c.name_norm, '[^a-z0-9]+', ' ', 'g')) = v.key
                 OR (v.key ~ '(^| )([a-z][a-z0-9]{2,}|[0-9]+[a-z][a-z0-9]*)( |$)'
                     AND string_to_array(v.key, ' ')
                         <@ (string_to_array(btrim(regexp_replace(c.name_norm, '[^a-z0-9]+', ' ', 'g')), ' ')
                             || string_to_array(btrim(regexp_replace(c.slug, '[^a-z0-9]+', ' ', 'g')), ' '))))
          ORDER BY (c.slug = v.raw) DESC,
                   (btrim(regexp_replace(c.name_norm, '[^a-z0-9]+', ' ', 'g')) = v.key) DESC,
                   (c.end_date IS NULL OR c.end_date >= (now() AT TIME ZONE c.timezone)::date) DESC,
                   CASE WHEN c.end_date IS NULL OR c.end_date >= (now() AT TIME ZONE c.timezone)::date
                        THEN c.start_date END ASC NULLS LAST,
                   c.start_date DESC NULLS LAST, c.id
          LIMIT 1),
        (SELECT min(c.id)
           FROM confhaven.conferences c, v,
                LATERAL (SELECT regexp_replace(regexp_replace(c.slug, '(?<![0-9])20([0-9]{2})(?![0-9])', '\1', 'g'),
                                               '[^a-z0-9]+', '', 'g') AS slug_key,
                                regexp_replace(regexp_replace(c.name_norm, '(?<![0-9])20([0-9]{2})(?![0-9])', '\1', 'g'),
                                               '[^a-z0-9]+', '', 'g') AS name_key,
                                substr(to_char(c.start_date, 'YYYY'), 3, 2) AS yy) k
          WHERE c.is_active
            AND v.compact <> ''
            AND (v.compact = k.slug_key
                 OR v.compact = k.name_key
                 OR v.compact = k.name_key || CASE WHEN right(k.name_key, 2) = k.yy THEN '' ELSE k.yy END)
         HAVING count(*) = 1));
$$;

CREATE OR REPLACE FUNCTION confhaven._resolve_conference(conf text, errcode text)
RETURNS bigint
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    v_id bigint;
BEGIN
    -- the common case, a slug, straight from the unique index
    SELECT c.id INTO v_id FROM confhaven.conferences c
     WHERE c.slug = lower(btrim(conf)) AND c.is_active;
    IF v_id IS NULL THEN
        v_id := confhaven._find_conference(conf);
    END IF;
    IF v_id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = errcode,
            MESSAGE = format('unknown conference %s', confhaven._show(conf)),
            HINT = confhaven._slug_hint(btrim(conf));
    END IF;
    RETURN v_id;
END
$$;

-- Conference object as in the contract; session_count is the stored count of
-- sessions a search can return (service sessions such as breaks are not counted).
CREATE OR REPLACE FUNCTION confhaven.conference_json(p_id bigint)
RETURNS json
LANGUAGE sql STABLE
AS $$
    SELECT json_build_object(
        'slug', c.slug,
        'name', c.name,
        'location', c.location,
        'timezone', c.timezone,
        'start_date', to_char(c.start_date, 'YYYY-MM-DD'),
        'end_date', to_char(c.end_date, 'YYYY-MM-DD'),
        'website', c.website,
        'is_active', c.is_active,
        'session_count', c.session_count)
      FROM confhaven.conferences c
     WHERE c.id = p_id;
$$;

CREATE OR REPLACE FUNCTION confhaven.api_conferences(include_past boolean)
RETURNS json
LANGUAGE sql STABLE
AS $$
    WITH sel AS (
        SELECT c.*
          FROM confhaven.conferences c
         WHERE c.is_active
           AND (coalesce(include_past, false)
                OR c.end_date IS NULL
                OR c.end_date >= (now() AT TIME ZONE c.timezone)::date))
    SELECT json_build_object(
        'count', (SELECT count(*) FROM sel),
        'include_past', coalesce(include_past, false),
        'conferences', coalesce((SELECT json_agg(json_build_object(
                                            'slug', sel.slug,
                                            'name', sel.name,
                                            'location', sel.location,
                                            'timezone', sel.timezone,
                                            'start_date', to_char(sel.start_date, 'YYYY-MM-DD'),
                                            'end_date', to_char(sel.end_date, 'YYYY-MM-DD'),
                                            'website', sel.website,
                                            'is_active', sel.is_active,
                                            'session_count', sel.session_count)
                                         ORDER BY sel.start_date NULLS LAST, sel.name, sel.id)
                                   FROM sel), '[]'::json));
$$;

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
        'session_count', c.session_count,
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
