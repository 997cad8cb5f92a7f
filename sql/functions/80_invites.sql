-- 80_invites.sql — calendar invites (send_calendar_invite and
-- POST /api/sessions/{id}/invite).  Operation: ngx_http_confhaven_op_invite.c;
-- table: migration 011.  Addresses never reach the database: only their
-- keyed hash (address_hash, 64 hex digits) does.

-- invite_begin(id, address_hash): the session as an invite needs it, and,
-- when address_hash is given, a claim on sending it:
--   {"state": "new" | "sent" | "pending" | "none", "event_id": ..,
--    "session": {id, title, conference, conference_name, location, room,
--                speakers, timezone, start, end, start_utc, end_utc}}
-- "new": this caller sends (the row is 'pending' now); "sent": it was sent
-- before; "pending": another request is sending it (claimed less than
-- 60 s ago); "none": no hash given, nothing recorded.  A 'failed' row or a
-- stale claim is claimed again.  CH404 for an unknown session, CH422 for
-- one without a time.
CREATE OR REPLACE FUNCTION confhaven.invite_begin(id bigint, address_hash text)
RETURNS json
LANGUAGE plpgsql VOLATILE
AS $$
#variable_conflict use_column
DECLARE
    v_session json;
    v_conf    bigint;
    v_start   timestamptz;
    v_row     confhaven.invites;
    v_state   text;
BEGIN
    SELECT json_build_object(
               'id', s.id,
               'title', s.title,
               'conference', c.slug,
               'conference_name', c.name,
               'location', c.location,
               'room', r.name,
               'speakers', coalesce((SELECT json_agg(sp.name ORDER BY ss.position)
                                       FROM confhaven.session_speakers ss
                                       JOIN confhaven.speakers sp ON sp.id = ss.speaker_id
                                      WHERE ss.session_id = s.id), '[]'::json),
               'timezone', c.timezone,
               'start', confhaven.iso_local(s.start_at, c.timezone),
               'end', confhaven.iso_local(s.end_at, c.timezone),
               'start_utc', to_char(s.start_at AT TIME ZONE 'UTC',
                                    'YYYY-MM-DD"T"HH24:MI:SS'),
               'end_utc', to_char(coalesce(s.end_at, s.start_at + interval '1 hour')
                                  AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')),
           c.id, s.start_at
      INTO v_session, v_conf, v_start
      FROM confhaven.sessions s
      JOIN confhaven.conferences c ON c.id = s.conference_id AND c.is_active
      LEFT JOIN confhaven.rooms r ON r.id = s.room_id
     WHERE s.id = invite_begin.id;

    IF v_session IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'CH404',
            MESSAGE = format('no session with id %s', invite_begin.id),
            HINT = 'Session ids come from search results (search_sessions or GET /api/sessions); search again to find the session.';
    END IF;

    IF v_start IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'CH422',
            MESSAGE = format('session %s has no time in the schedule yet', invite_begin.id),
            HINT = 'An invite needs a start time; try again once the conference has scheduled it.';
    END IF;

    IF address_hash IS NULL THEN
        RETURN json_build_object('state', 'none', 'session', v_session);
    END IF;

    INSERT INTO confhaven.invites AS i (session_id, conference_id, address_hash)
    VALUES (invite_begin.id, v_conf, invite_begin.address_hash)
    ON CONFLICT (session_id, address_hash) DO UPDATE
        SET status = 'pending', updated_at = now(), attempts = i.attempts + 1,
            conference_id = excluded.conference_id
        WHERE i.status = 'failed'
           OR (i.status = 'pending' AND i.updated_at < now() - interval '60 seconds')
    RETURNING * INTO v_row;

    IF FOUND THEN
        v_state := 'new';
    ELSE
        SELECT * INTO v_row FROM confhaven.invites i
         WHERE i.session_id = invite_begin.id AND i.address_hash = invite_begin.address_hash;
        v_state := v_row.status;
    END IF;

    RETURN json_build_object('state', v_state, 'event_id', v_row.graph_event_id,
                             'session', v_session);
END
$$;

-- invite_finish(id, address_hash, status, event_id): what Graph said about
-- the claim invite_begin gave: 'sent' (with the event id, when known) or
-- 'failed'.  Returns the row's status.
CREATE OR REPLACE FUNCTION confhaven.invite_finish(
    id bigint, address_hash text, status text, event_id text)
RETURNS text
LANGUAGE sql VOLATILE
AS $$
    UPDATE confhaven.invites i
       SET status = invite_finish.status,
           graph_event_id = coalesce(invite_finish.event_id, i.graph_event_id),
           updated_at = now()
     WHERE i.session_id = invite_finish.id
       AND i.address_hash = invite_finish.address_hash
       AND i.status <> 'sent'
    RETURNING i.status;
$$;
