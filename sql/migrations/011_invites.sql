-- 011_invites.sql — calendar invites sent through Microsoft Graph
-- (send_calendar_invite, POST /api/sessions/{id}/invite).
--
-- One row per (session, recipient).  The recipient is kept only as a keyed
-- hash: HMAC-SHA-256 of the lower-cased address with the key of
-- confhaven_invite_hash_key_file, in lowercase hex.  It is enough to
-- answer a repeat without a second send and to count invites; the address
-- itself is never stored.  session_id has no foreign key: an import may
-- replace a conference's sessions, the invites stay countable.
--
-- status: 'pending' while Graph is being asked (a claim: a concurrent
-- request for the same pair answers without sending), 'sent' once Graph
-- created the event (graph_event_id, when Graph told it), 'failed' when it
-- did not (the next request may try again).

CREATE TABLE IF NOT EXISTS confhaven.invites (
    id             bigserial PRIMARY KEY,
    session_id     bigint NOT NULL,
    conference_id  bigint NOT NULL REFERENCES confhaven.conferences (id) ON DELETE CASCADE,
    address_hash   text NOT NULL CHECK (address_hash ~ '^[0-9a-f]{64}$'),
    status         text NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending', 'sent', 'failed')),
    graph_event_id text,
    attempts       integer NOT NULL DEFAULT 1,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (session_id, address_hash)
);
CREATE INDEX IF NOT EXISTS invites_conference_idx
    ON confhaven.invites (conference_id, created_at);
