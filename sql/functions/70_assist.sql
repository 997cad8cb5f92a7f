-- 70_assist.sql — answers that help an assistant ask well: completions of
-- argument values (MCP completion/complete) and a day's programme (the
-- MCP prompt plan_my_day).  Operations: ngx_http_confhaven_op_assist.c.

-- api_complete(field, prefix, conference): up to 100 values of a search
-- argument that start with (or contain a word starting with) prefix, and
-- how many there are: {"values": [...], "total": n}.  field is
-- 'conference' (active slugs, by slug prefix or name), 'track' (in the
-- conference when given) or 'date' (days of the conference, YYYY-MM-DD;
-- none without a conference).
CREATE OR REPLACE FUNCTION confhaven.api_complete(
    field text, prefix text, conference text DEFAULT NULL)
RETURNS json
LANGUAGE sql STABLE
AS $$
    WITH cf AS (
        -- resolved once (an unknown one: tracks of every conference)
        SELECT CASE WHEN field IN ('track', 'date') AND conference IS NOT NULL
                    THEN confhaven._find_conference(conference) END AS id),
    slugs AS (
        SELECT slug, start_date, starts_with(slug, lower(prefix)) AS pre
          FROM confhaven.conferences
         WHERE field = 'conference' AND is_active
           AND (starts_with(slug, lower(prefix))
                OR strpos(lower(name), lower(prefix)) > 0)),
    tracks AS (
        SELECT DISTINCT t.name
          FROM confhaven.tracks t
          JOIN confhaven.conferences c ON c.id = t.conference_id
           AND c.is_active
         CROSS JOIN cf
         WHERE field = 'track'
           AND (cf.id IS NULL OR c.id = cf.id)
           AND (starts_with(lower(t.name), lower(prefix))
                OR strpos(lower(t.name), ' ' || lower(prefix)) > 0)),
    days AS (
        SELECT DISTINCT to_char((s.start_at AT TIME ZONE c.timezone)::date,
                                'YYYY-MM-DD') AS day
          FROM confhaven.sessions s
          JOIN confhaven.conferences c ON c.id = s.conference_id
         CROSS JOIN cf
         WHERE field = 'date'
           AND c.id = cf.id
           AND s.start_at IS NOT NULL),
    m AS (
        SELECT slug AS v, NOT pre AS k2, start_date AS k3
          FROM slugs
        UNION ALL
        SELECT name, false, NULL FROM tracks
        UNION ALL
        SELECT day, false, NULL FROM days WHERE starts_with(day, prefix))
    SELECT json_build_object(
        'values', coalesce((SELECT json_agg(v ORDER BY k2, k3 DESC NULLS LAST,
                                            v)
                              FROM (SELECT * FROM m
                                     ORDER BY k2, k3 DESC NULLS LAST, v
                                     LIMIT 100) x), '[]'::json),
        'total', (SELECT count(*) FROM m))
$$;

-- api_day_plan(conference, day): a conference day's programme for
-- planning: the conference, the chosen day (the given one, else the next
-- one with sessions, else the first), all days, and up to 150 sessions of
-- that day in order with local HH:MM times.  An unknown conference raises
-- CH404; day is YYYY-MM-DD or NULL.
CREATE OR REPLACE FUNCTION confhaven.api_day_plan(conference text, day text)
RETURNS json
LANGUAGE sql STABLE
AS $$
    WITH c AS (
        SELECT * FROM confhaven.conferences
         WHERE id = confhaven._resolve_conference(conference, 'CH404')),
    days AS (
        SELECT DISTINCT (s.start_at AT TIME ZONE c.timezone)::date AS day
          FROM confhaven.sessions s, c
         WHERE s.conference_id = c.id AND s.start_at IS NOT NULL),
    pick AS (
        SELECT coalesce(api_day_plan.day::date,
                        (SELECT min(d.day) FROM days d, c
                          WHERE d.day >= (now() AT TIME ZONE c.timezone)::date),
                        (SELECT min(d.day) FROM days d)) AS day),
    sel AS (
        SELECT s.id, s.title, s.start_at, s.end_at, s.level, s.is_service,
               r.name AS room, r.sort, tr.name AS track,
               (SELECT string_agg(sp.name, ', ' ORDER BY ss.position)
                  FROM confhaven.session_speakers ss
                  JOIN confhaven.speakers sp ON sp.id = ss.speaker_id
                 WHERE ss.session_id = s.id) AS speakers
          FROM confhaven.sessions s
          JOIN c ON c.id = s.conference_id
         CROSS JOIN pick
          LEFT JOIN confhaven.rooms r ON r.id = s.room_id
          LEFT JOIN confhaven.tracks tr ON tr.id = s.track_id
         WHERE (s.start_at AT TIME ZONE c.timezone)::date = pick.day)
    SELECT json_build_object(
        'slug', c.slug, 'name', c.name, 'location', c.location,
        'timezone', c.timezone,
        'date', to_char(pick.day, 'YYYY-MM-DD'),
        'days', coalesce((SELECT json_agg(to_char(d.day, 'YYYY-MM-DD')
                                          ORDER BY d.day) FROM days d),
                         '[]'::json),
        'total', (SELECT count(*) FROM sel),
        'sessions', coalesce((SELECT json_agg(json_build_object(
            'id', x.id, 'title', x.title,
            'start', to_char(x.start_at AT TIME ZONE c.timezone, 'HH24:MI'),
            'end', to_char(x.end_at AT TIME ZONE c.timezone, 'HH24:MI'),
            'room', x.room, 'track', x.track, 'level', x.level,
            'speakers', x.speakers, 'is_service', x.is_service)
            ORDER BY x.start_at, x.sort NULLS LAST, x.room, x.id)
           FROM (SELECT * FROM sel ORDER BY start_at, sort NULLS LAST, room,
                 id LIMIT 150) x), '[]'::json))
      FROM c, pick
$$;
