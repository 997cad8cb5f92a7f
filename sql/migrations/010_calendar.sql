-- 010_calendar.sql — iCalendar files and personal agenda feeds (issue 9).
-- 001–009 stay as they are; the functions are in
-- sql/functions/75_calendar.sql.
--
--   * sessions.url: the session's public page when the schedule names one
--     (pretalx "url", frab <url>); the .ics URL property uses it, else our
--     own /api/sessions/{id}.
--   * sessions.ics_sequence, ics_hash, ics_changed_at: the VEVENT's
--     SEQUENCE and DTSTAMP.  Every import (confhaven.ics_refresh, called
--     by _apply_sessions) hashes what a calendar entry shows (title,
--     subtitle, start, end, room, venue, abstract, speakers, url); a hash
--     that differs from the stored one raises the sequence by one and sets
--     ics_changed_at; an identical re-import changes nothing.  NULL: not
--     hashed yet (a new session, or one imported before this migration):
--     the first hash is stored without raising the sequence.
--   * agendas: a personal list of sessions behind an unguessable token
--     (GET /api/agendas/{token}.ics).  Only the token's SHA-256 is stored:
--     a database dump gives no working feed URL.

ALTER TABLE confhaven.sessions
    ADD COLUMN IF NOT EXISTS url text,
    ADD COLUMN IF NOT EXISTS ics_sequence integer NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS ics_hash text,
    ADD COLUMN IF NOT EXISTS ics_changed_at timestamptz NOT NULL DEFAULT now();

CREATE TABLE IF NOT EXISTS confhaven.agendas (
    id          bigserial PRIMARY KEY,
    token_hash  bytea NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    session_ids bigint[] NOT NULL CHECK (cardinality(session_ids) <= 200),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
