-- 012_organizers.sql — organizers, their conferences and API keys; the
-- events the front ends record (searches, session views, invites) with
-- their daily rollups; the evaluation records of tool calls (issue 10).
-- API keys are stored as the SHA-256 of the whole key, found by their
-- public prefix.

-- 001_schema.sql made unused placeholders for organizers, their
-- conferences and the evaluation data; they become these.  An organizer
-- has a name and a tier; e-mail addresses are not stored at all (the
-- operator keeps the contact elsewhere) and keys live in api_keys.
ALTER TABLE confhaven.organizers
    DROP COLUMN IF EXISTS email,
    DROP COLUMN IF EXISTS api_key_hash,
    ADD COLUMN IF NOT EXISTS name text NOT NULL DEFAULT ''
        CHECK (length(name) <= 200);

-- key = 'chk_' || prefix || '_' || secret; key_hash = sha256(key)
CREATE TABLE IF NOT EXISTS confhaven.api_keys (
    id            bigserial PRIMARY KEY,
    organizer_id  bigint NOT NULL REFERENCES confhaven.organizers (id) ON DELETE CASCADE,
    prefix        text NOT NULL UNIQUE CHECK (prefix ~ '^[0-9a-f]{12}$'),
    key_hash      bytea NOT NULL CHECK (length(key_hash) = 32),
    label         text CHECK (length(label) <= 200),
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz,
    revoked_at    timestamptz
);
CREATE INDEX IF NOT EXISTS api_keys_organizer_idx
    ON confhaven.api_keys (organizer_id);

-- one row per recorded event; a search that named no conference is
-- recorded once per conference among its results
CREATE TABLE IF NOT EXISTS confhaven.events (
    id            bigserial PRIMARY KEY,
    at            timestamptz NOT NULL,
    conference_id bigint,
    kind          text NOT NULL CHECK (kind IN ('search', 'view', 'invite')),
    session_id    bigint,
    query         text,
    result_count  integer,
    found         bigint[],
    cache_hit     boolean NOT NULL DEFAULT false,
    wire          text,
    client        text,
    latency_ms    integer
);
CREATE INDEX IF NOT EXISTS events_conference_at_idx
    ON confhaven.events (conference_id, at);

-- daily counts by dimension: what analytics read
CREATE TABLE IF NOT EXISTS confhaven.event_daily (
    conference_id bigint NOT NULL,
    day           date NOT NULL,
    dim           text NOT NULL,
    key           text NOT NULL,
    n             bigint NOT NULL,
    PRIMARY KEY (conference_id, dim, day, key)
);

-- the original's EvaluationData: which conference (the tool's
-- conference argument, or the session's), whether the call failed, a note
-- from the automated judge and when a person reviewed it.  user_query,
-- tool_parameters and response_json (a bounded summary) have e-mail
-- addresses replaced by "[email]" before they are stored.
ALTER TABLE confhaven.evaluation_data
    ADD COLUMN IF NOT EXISTS conference_id bigint,
    ADD COLUMN IF NOT EXISTS is_error boolean NOT NULL DEFAULT false,
    ADD COLUMN IF NOT EXISTS judge_note text,
    ADD COLUMN IF NOT EXISTS reviewed_at timestamptz;
CREATE INDEX IF NOT EXISTS evaluation_data_created_idx
    ON confhaven.evaluation_data (created_at);
CREATE INDEX IF NOT EXISTS evaluation_data_conference_idx
    ON confhaven.evaluation_data (conference_id, status, id);
