-- 001_schema.sql — ConferenceHaven core schema (PostgreSQL 15).
--
-- Applied once by ci/migrate inside one transaction.  Everything lives in
-- schema "confhaven".  Sessions are normalised: speakers, tags, rooms and
-- tracks are rows of their own (no comma-separated lists); the search
-- document of a session is a weighted tsvector that the importer refreshes
-- (confhaven.refresh_documents) after it has written speakers and tags.

CREATE SCHEMA IF NOT EXISTS confhaven;

-- Trigram indexes make the substring rules of api_search (title / abstract /
-- speaker / tag contains the query) index-assisted.  pg_trgm is a trusted
-- extension, so a database owner can install it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- Migration bookkeeping (ci/migrate creates it too; kept here so that a schema
-- loaded by hand still answers api_health).
CREATE TABLE IF NOT EXISTS confhaven.schema_migrations (
    version    text PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
);

-- ---------------------------------------------------------------------------
-- Helpers used by CHECK constraints
-- ---------------------------------------------------------------------------

-- Bootstrap copy: the CHECK on conferences.timezone below needs the function
-- to exist when the table is created.  Its live definition is in
-- sql/functions/10_util.sql, which ci/migrate applies after the migrations
-- on every run (replacing this one); change it there, not here.
CREATE OR REPLACE FUNCTION confhaven.is_valid_timezone(tz text)
RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    -- Area/City names (and UTC) only: legacy zones such as EST or CET exist
    -- in pg_timezone_names but ignore daylight saving where people live.
    SELECT (tz = 'UTC' OR tz ~ '^[A-Za-z]+(/[A-Za-z0-9_+-]+)+$')
       AND EXISTS (SELECT 1 FROM pg_catalog.pg_timezone_names WHERE name = tz);
$$;

-- ---------------------------------------------------------------------------
-- Conferences
-- ---------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS confhaven.conferences (
    id            bigserial PRIMARY KEY,
    slug          text NOT NULL UNIQUE
                  CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    name          text NOT NULL CHECK (btrim(name) <> ''),
    location      text,
    timezone      text NOT NULL CHECK (confhaven.is_valid_timezone(timezone)),
    start_date    date,
    end_date      date,
    website       text,
    is_active     boolean NOT NULL DEFAULT true,
    source_format text CHECK (source_format IN ('sessionize', 'pretalx', 'frab-xml')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    -- bumped by every import; caches key on (slug, generation)
    generation    bigint NOT NULL DEFAULT 1,
    CHECK (end_date IS NULL OR start_date IS NULL OR end_date >= start_date)
);
CREATE INDEX IF NOT EXISTS conferences_active_dates_idx
    ON confhaven.conferences (start_date, name) WHERE is_active;
CREATE INDEX IF NOT EXISTS conferences_lower_name_idx
    ON confhaven.conferences (lower(name));

-- ---------------------------------------------------------------------------
-- Per-conference dimension tables
-- ---------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS confhaven.rooms (
    id            bigserial PRIMARY KEY,
    conference_id bigint NOT NULL REFERENCES confhaven.conferences (id) ON DELETE CASCADE,
    external_id   text,
    name          text NOT NULL,
    sort          integer NOT NULL DEFAULT 0,
    UNIQUE (conference_id, name)
);

CREATE TABLE IF NOT EXISTS confhaven.tracks (
    id            bigserial PRIMARY KEY,
    conference_id bigint NOT NULL REFERENCES confhaven.conferences (id) ON DELETE CASCADE,
    name          text NOT NULL,
    UNIQUE (conference_id, name)
);

CREATE TABLE IF NOT EXISTS confhaven.tags (
    id            bigserial PRIMARY KEY,
    conference_id bigint NOT NULL REFERENCES confhaven.conferences (id) ON DELETE CASCADE,
    name          text NOT NULL,
    UNIQUE (conference_id, name)
);

CREATE TABLE IF NOT EXISTS confhaven.speakers (
    id            bigserial PRIMARY KEY,
    conference_id bigint NOT NULL REFERENCES confhaven.conferences (id) ON DELETE CASCADE,
    external_id   text NOT NULL,
    name          text NOT NULL,
    bio           text,
    UNIQUE (conference_id, external_id)
);

-- ---------------------------------------------------------------------------
-- Sessions
-- ---------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS confhaven.sessions (
    id             bigserial PRIMARY KEY,
    conference_id  bigint NOT NULL REFERENCES confhaven.conferences (id) ON DELETE CASCADE,
    external_id    text NOT NULL,
    title          text NOT NULL,
    subtitle       text,
    abstract       text,                 -- as published (may contain HTML / markdown)
    abstract_plain text,                 -- HTML stripped, entities decoded, whitespace collapsed
    start_at       timestamptz,          -- NULL only for unscheduled Sessionize sessions
    end_at         timestamptz,
    room_id        bigint REFERENCES confhaven.rooms (id) ON DELETE SET NULL,
    track_id       bigint REFERENCES confhaven.tracks (id) ON DELETE SET NULL,
    level          text CHECK (level IN ('Introductory', 'Intermediate', 'Advanced')),
    level_detail   text,                 -- source wording, e.g. "200 - Intermediate"
    format         text,
    language       text,
    is_service     boolean NOT NULL DEFAULT false,
    is_plenum      boolean NOT NULL DEFAULT false,
    -- weighted search document: A title, B subtitle/tags/track, C abstract, D speakers
    document       tsvector NOT NULL DEFAULT ''::tsvector,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (conference_id, external_id),
    CHECK (end_at IS NULL OR start_at IS NULL OR end_at >= start_at)
);
CREATE INDEX IF NOT EXISTS sessions_conf_start_idx
    ON confhaven.sessions (conference_id, start_at, id);
CREATE INDEX IF NOT EXISTS sessions_end_idx
    ON confhaven.sessions (end_at) WHERE NOT is_service;
CREATE INDEX IF NOT EXISTS sessions_document_idx
    ON confhaven.sessions USING gin (document);
CREATE INDEX IF NOT EXISTS sessions_title_trgm_idx
    ON confhaven.sessions USING gin (title gin_trgm_ops);
CREATE INDEX IF NOT EXISTS sessions_abstract_trgm_idx
    ON confhaven.sessions USING gin (abstract_plain gin_trgm_ops);
CREATE INDEX IF NOT EXISTS sessions_room_idx  ON confhaven.sessions (room_id);
CREATE INDEX IF NOT EXISTS sessions_track_idx ON confhaven.sessions (track_id);

CREATE TABLE IF NOT EXISTS confhaven.session_speakers (
    session_id bigint NOT NULL REFERENCES confhaven.sessions (id) ON DELETE CASCADE,
    speaker_id bigint NOT NULL REFERENCES confhaven.speakers (id) ON DELETE CASCADE,
    position   integer NOT NULL,
    PRIMARY KEY (session_id, speaker_id)
);
CREATE INDEX IF NOT EXISTS session_speakers_speaker_idx
    ON confhaven.session_speakers (speaker_id);

CREATE TABLE IF NOT EXISTS confhaven.session_tags (
    session_id bigint NOT NULL REFERENCES confhaven.sessions (id) ON DELETE CASCADE,
    tag_id     bigint NOT NULL REFERENCES confhaven.tags (id) ON DELETE CASCADE,
    position   integer NOT NULL,
    PRIMARY KEY (session_id, tag_id)
);
CREATE INDEX IF NOT EXISTS session_tags_tag_idx ON confhaven.session_tags (tag_id);

-- ---------------------------------------------------------------------------
-- Organizers (paying customers) and evaluation data
-- ---------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS confhaven.organizers (
    id                 bigserial PRIMARY KEY,
    email              text NOT NULL,
    api_key_hash       text UNIQUE,          -- hash of the API key, never the key itself
    stripe_customer_id text UNIQUE,
    subscription_tier  text NOT NULL DEFAULT 'free'
                       CHECK (subscription_tier IN ('free', 'pro', 'enterprise')),
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX IF NOT EXISTS organizers_email_idx ON confhaven.organizers (lower(email));

CREATE TABLE IF NOT EXISTS confhaven.conference_organizers (
    conference_id bigint NOT NULL REFERENCES confhaven.conferences (id) ON DELETE CASCADE,
    organizer_id  bigint NOT NULL REFERENCES confhaven.organizers (id) ON DELETE CASCADE,
    role          text NOT NULL DEFAULT 'owner',
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (conference_id, organizer_id)
);
CREATE INDEX IF NOT EXISTS conference_organizers_org_idx
    ON confhaven.conference_organizers (organizer_id);

CREATE TABLE IF NOT EXISTS confhaven.evaluation_data (
    id              bigserial PRIMARY KEY,
    user_query      text,
    tool_name       text NOT NULL,
    tool_parameters jsonb,
    response_json   jsonb,
    trace_id        text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'approved', 'rejected')),
    human_label     smallint CHECK (human_label BETWEEN 1 AND 5),
    llm_judge_score double precision
);
CREATE INDEX IF NOT EXISTS evaluation_data_status_idx
    ON confhaven.evaluation_data (status, created_at);
CREATE INDEX IF NOT EXISTS evaluation_data_trace_idx
    ON confhaven.evaluation_data (trace_id);
