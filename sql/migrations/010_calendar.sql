-- 010_calendar.sql — iCalendar files and personal agenda feeds (issue 9).
-- 001–009 stay as they are; the functions are in
-- sql/functions/75_calendar.sql.
--
--   * session_calendar: per session, what its calendar entry needs beyond
--     the session row, kept beside it so that writing it never rewrites a
--     sessions row (and its GIN and trigram index entries):
--       url         the session's public page when the schedule names one
--                   (pretalx "url", frab <url>); the .ics URL property
--                   uses it, else our own /api/sessions/{id};
--       sequence, hash, changed_at: the VEVENT's SEQUENCE and DTSTAMP.
--     Every import (confhaven.ics_refresh, called by _apply_sessions)
--     hashes what a calendar entry shows (title, subtitle, start, end,
--     room, venue, time zone, abstract, url, speakers); a hash that
--     differs from the stored one raises the sequence by one and sets
--     changed_at; an identical re-import changes nothing.  A session
--     without a row (new, or imported before this migration) gets one with
--     sequence 0.
--   * agendas: a personal list of sessions behind an unguessable token
--     (GET /api/agendas/{token}.ics).  Only the token's SHA-256 is stored:
--     a database dump gives no working feed URL.

CREATE TABLE IF NOT EXISTS confhaven.session_calendar (
    session_id  bigint PRIMARY KEY
                REFERENCES confhaven.sessions (id) ON DELETE CASCADE,
    url         text,
    sequence    integer NOT NULL DEFAULT 0,
    hash        text NOT NULL,
    changed_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS confhaven.agendas (
    id          bigserial PRIMARY KEY,
    token_hash  bytea NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    session_ids bigint[] NOT NULL CHECK (cardinality(session_ids) <= 200),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
