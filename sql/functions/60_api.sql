-- 60_api.sql — the other API entry points: api_health (GET /health) and
-- api_session (GET /api/sessions/{id}, the get_session tool).

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
