-- 004_search.sql — fast, language-aware search with synonyms, prefixes and
-- typo tolerance.
--
-- What changes (001–003 stay as they are; everything here is additive or
-- CREATE OR REPLACE):
--   * unaccent + text search configurations confhaven.ch_english / ch_german /
--     ch_french / ch_spanish / ch_simple (unaccent before the stemmer).
--   * sessions get denormalised search columns written at import time
--     (confhaven.refresh_documents, which _apply_sessions already calls):
--       search_lang    english | german | french | spanish (from the
--                      source's language field, else guessed from stop words)
--       title_norm, tags_norm, speakers_norm, abstract_norm
--                      lower-case, accent-free text for the substring rules
--                      (pg_trgm GIN indexes; abstract via its own index)
--       speaker_names, tag_names  ordered arrays for the result JSON
--       document       A title, B subtitle/tags/track, C abstract, D speakers;
--                      each part both stemmed in the session's language and
--                      unstemmed (ch_simple) so prefixes ("observab") match.
--     Scoring therefore reads one row per candidate: no per-row subqueries.
--   * conferences.session_count (non-service sessions) and name_norm, kept by
--     the importer; api_conferences / api_conference no longer count.
--   * confhaven.search_synonyms — operator-extendable synonym/abbreviation
--     data (term -> synonym, normalised lower-case); confhaven.search_noise_words
--     — words of natural sentences that say nothing about the topic
--     ("talks", "anything", "tomorrow"); confhaven.search_words — per
--     conference vocabulary used for prefix detection and typo correction.
--   * api_search: same signature and result shape (plus "highlight" and
--     "matched" per session, "suggestion" and "interpretation" at top level).
--
-- Since the SQL was split into migrations and functions (issue 8), this file
-- keeps its extensions, text search configurations, columns, tables, indexes,
-- data and trigger; the functions it defined have their one live definition in
-- sql/functions/ (search: sql/functions/20_documents.sql, 40_conferences.sql,
-- 50_search.sql), which ci/migrate applies after the migrations on every run.

CREATE EXTENSION IF NOT EXISTS unaccent;
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS fuzzystrmatch;   -- levenshtein: transposed letters ("djnago")

-- ---------------------------------------------------------------------------
-- Text search configurations: unaccent, then the language's stemmer
-- ---------------------------------------------------------------------------
DO $$
DECLARE
    l text;
BEGIN
    FOREACH l IN ARRAY ARRAY['english', 'german', 'french', 'spanish', 'simple'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_ts_config
                        WHERE cfgname = 'ch_' || l AND cfgnamespace = 'confhaven'::regnamespace) THEN
            EXECUTE format('CREATE TEXT SEARCH CONFIGURATION confhaven.%I (COPY = pg_catalog.%I)', 'ch_' || l, l);
            EXECUTE format('ALTER TEXT SEARCH CONFIGURATION confhaven.%I
                              ALTER MAPPING FOR hword, hword_part, word WITH unaccent, %I',
                           'ch_' || l, CASE l WHEN 'simple' THEN 'simple' ELSE l || '_stem' END);
        END IF;
    END LOOP;
END
$$;

-- ---------------------------------------------------------------------------
-- Tables and columns
-- ---------------------------------------------------------------------------
ALTER TABLE confhaven.sessions
    ADD COLUMN IF NOT EXISTS search_lang   text NOT NULL DEFAULT 'english',
    ADD COLUMN IF NOT EXISTS title_norm    text NOT NULL DEFAULT '',
    ADD COLUMN IF NOT EXISTS tags_norm     text NOT NULL DEFAULT '',
    ADD COLUMN IF NOT EXISTS speakers_norm text NOT NULL DEFAULT '',
    ADD COLUMN IF NOT EXISTS abstract_norm text NOT NULL DEFAULT '',
    ADD COLUMN IF NOT EXISTS speaker_names text[] NOT NULL DEFAULT '{}',
    ADD COLUMN IF NOT EXISTS tag_names     text[] NOT NULL DEFAULT '{}',
    -- title + subtitle/tags/track only (weights A/B): the first, cheap tier
    -- of candidates; most queries are answered from it
    ADD COLUMN IF NOT EXISTS head_doc      tsvector NOT NULL DEFAULT ''::tsvector;

ALTER TABLE confhaven.conferences
    ADD COLUMN IF NOT EXISTS session_count integer NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS name_norm     text NOT NULL DEFAULT '',
    -- longest non-service session: lets "upcoming, by start time" use the
    -- start_at index (end_at >= now() implies start_at >= now() - this)
    ADD COLUMN IF NOT EXISTS max_duration  interval NOT NULL DEFAULT interval '0';

-- Synonyms and abbreviations, as data.  term and synonym are normalised
-- (lower case, no accents; see confhaven.norm); term may have up to three
-- words.  A query word (or two/three adjacent words) equal to a term also
-- matches every synonym of it, as a phrase.  Relations are one-way: add both
-- directions for true synonyms.  Operators extend this table freely, e.g.
--   INSERT INTO confhaven.search_synonyms VALUES ('aca', 'azure container apps');
CREATE TABLE IF NOT EXISTS confhaven.search_synonyms (
    term    text NOT NULL CHECK (term = lower(term) AND btrim(term) <> ''),
    synonym text NOT NULL CHECK (synonym = lower(synonym) AND btrim(synonym) <> ''),
    PRIMARY KEY (term, synonym)
);

-- Words of natural-language questions that say nothing about the topic.
CREATE TABLE IF NOT EXISTS confhaven.search_noise_words (
    word text PRIMARY KEY CHECK (word = lower(word))
);

-- Per-conference vocabulary (unstemmed, accent-free words and how many
-- sessions use them), rewritten by every import.
CREATE TABLE IF NOT EXISTS confhaven.search_words (
    conference_id bigint NOT NULL REFERENCES confhaven.conferences (id) ON DELETE CASCADE,
    word          text NOT NULL,
    ndoc          integer NOT NULL,
    PRIMARY KEY (conference_id, word)
);
CREATE INDEX IF NOT EXISTS search_words_word_idx
    ON confhaven.search_words (word text_pattern_ops);
CREATE INDEX IF NOT EXISTS search_words_trgm_idx
    ON confhaven.search_words USING gin (word gin_trgm_ops);

INSERT INTO confhaven.search_synonyms (term, synonym)
SELECT t, s FROM (VALUES
    -- cloud native
    ('k8s', 'kubernetes'), ('kube', 'kubernetes'), ('kubernetes', 'k8s'),
    ('aks', 'azure kubernetes service'), ('azure kubernetes service', 'aks'),
    ('eks', 'elastic kubernetes service'), ('gke', 'google kubernetes engine'),
    ('aca', 'azure container apps'), ('azure container apps', 'aca'),
    ('iac', 'infrastructure as code'), ('infrastructure as code', 'iac'),
    ('otel', 'opentelemetry'), ('opentelemetry', 'otel'),
    ('o11y', 'observability'),
    ('sre', 'site reliability engineering'), ('site reliability engineering', 'sre'),
    ('ci/cd', 'continuous integration'), ('ci/cd', 'continuous delivery'),
    ('ci/cd', 'continuous deployment'), ('ci/cd', 'cicd'), ('ci/cd', 'pipelines'),
    ('cicd', 'ci/cd'), ('cicd', 'continuous integration'), ('cicd', 'continuous delivery'),
    ('ci', 'continuous integration'), ('cd', 'continuous delivery'), ('cd', 'continuous deployment'),
    ('continuous integration', 'ci/cd'), ('continuous delivery', 'ci/cd'),
    ('gh', 'github'), ('gha', 'github actions'),
    ('devsecops', 'devops security'),
    -- Microsoft
    ('m365', 'microsoft 365'), ('microsoft 365', 'm365'), ('o365', 'office 365'),
    ('o365', 'microsoft 365'), ('office 365', 'microsoft 365'),
    ('spfx', 'sharepoint framework'), ('sharepoint framework', 'spfx'),
    ('aad', 'azure active directory'), ('aad', 'entra id'), ('azure ad', 'entra id'),
    ('azure active directory', 'entra id'), ('entra id', 'azure active directory'),
    ('entra', 'azure active directory'),
    ('pp', 'power platform'), ('pva', 'power virtual agents'), ('pva', 'copilot studio'),
    ('power virtual agents', 'copilot studio'),
    ('d365', 'dynamics 365'), ('dynamics 365', 'd365'), ('crm', 'dynamics 365'),
    ('dotnet', '.net'), ('.net', 'dotnet'), ('asp.net', 'aspnet'),
    ('teams', 'microsoft teams'), ('bicep', 'infrastructure as code'),
    -- AI
    ('llm', 'large language model'), ('llm', 'ai'), ('llm', 'genai'), ('llm', 'gpt'),
    ('llms', 'large language models'), ('llms', 'llm'), ('llms', 'ai'),
    ('large language model', 'llm'), ('large language models', 'llm'),
    ('genai', 'generative ai'), ('genai', 'ai'), ('genai', 'llm'),
    ('generative ai', 'genai'), ('generative ai', 'llm'),
    ('gen ai', 'generative ai'), ('gen ai', 'genai'),
    ('ai', 'artificial intelligence'), ('ai', 'genai'), ('ai', 'llm'), ('ai', 'ki'),
    ('ai', 'machine learning'),
    ('artificial intelligence', 'ai'), ('ki', 'ai'), ('ki', 'kunstliche intelligenz'),
    ('kunstliche intelligenz', 'ai'), ('ia', 'ai'), ('ia', 'intelligence artificielle'),
    ('ml', 'machine learning'), ('machine learning', 'ml'),
    ('rag', 'retrieval augmented generation'), ('retrieval augmented generation', 'rag'),
    ('mcp', 'model context protocol'), ('model context protocol', 'mcp'),
    ('nlp', 'natural language processing'), ('gpt', 'openai'), ('chatgpt', 'openai'),
    ('agents', 'agent'), ('agentic', 'agent'),
    -- data
    ('db', 'database'), ('dbs', 'databases'), ('db', 'databases'), ('rdbms', 'database'),
    ('database', 'db'), ('postgres', 'postgresql'), ('postgresql', 'postgres'), ('pg', 'postgresql'),
    ('sql server', 'mssql'), ('mssql', 'sql server'), ('nosql', 'cosmos db'), ('nosql', 'mongodb'),
    ('etl', 'data pipeline'), ('bi', 'business intelligence'), ('bi', 'power bi'),
    -- security
    ('sso', 'single sign-on'), ('mfa', 'multi-factor authentication'), ('mfa', 'mfa'),
    ('2fa', 'multi-factor authentication'), ('zta', 'zero trust'), ('appsec', 'application security'),
    ('infosec', 'security'), ('iam', 'identity and access management'), ('ctf', 'capture the flag'),
    -- web / languages / testing
    ('js', 'javascript'), ('javascript', 'js'), ('ts', 'typescript'), ('py', 'python'),
    ('wasm', 'webassembly'), ('webassembly', 'wasm'), ('golang', 'go'), ('k6', 'load testing'),
    ('pwa', 'progressive web app'), ('a11y', 'accessibility'), ('accessibility', 'a11y'),
    ('i18n', 'internationalization'), ('ux', 'user experience'), ('ui', 'user interface'),
    ('qa', 'quality assurance'), ('qa', 'testing'), ('quality assurance', 'qa'),
    ('e2e', 'end-to-end'), ('e2e', 'end to end'), ('tdd', 'test-driven development'),
    ('bdd', 'behavior-driven development'), ('bdd', 'behaviour-driven development'),
    ('ddd', 'domain-driven design'), ('api', 'apis'), ('apis', 'api'),
    ('microservice', 'microservices'), ('serverless', 'azure functions'),
    ('vr', 'virtual reality'), ('ar', 'augmented reality'), ('iot', 'internet of things')
) v(t, s)
ON CONFLICT DO NOTHING;

INSERT INTO confhaven.search_noise_words (word)
SELECT unnest(ARRAY[
    'talk', 'talks', 'session', 'sessions', 'presentation', 'presentations', 'lecture', 'vortrag',
    'vortrage', 'anything', 'something', 'everything', 'any', 'some', 'all', 'about', 'regarding',
    'related', 'around', 'covering', 'on', 'at', 'by', 'from', 'for', 'the', 'a', 'an', 'of', 'in',
    'with', 'and', 'to', 'is', 'are', 'there', 'which', 'what', 'who', 'where', 'when', 'me', 'i',
    'want', 'wanna', 'looking', 'look', 'find', 'show', 'list', 'give', 'recommend', 'suggest',
    'please', 'can', 'could', 'would', 'should', 'do', 'does', 'you', 'good', 'best', 'interesting',
    'today', 'tomorrow', 'tonight', 'morning', 'afternoon', 'evening', 'day', 'week', 'conference',
    'event', 'upcoming', 'next', 'later', 'speaker', 'speakers', 'presented', 'given', 'held',
    'learn', 'hear', 'attend', 'watch', 'over', 'this', 'that', 'these', 'those', 'my', 'we', 'our',
    'use', 'using', 'several', 'various', 'need', 'know', 'like', 'help', 'get', 'getting',
    'things', 'stuff', 'topic', 'topics', 'kind', 'way', 'ways', 'new', 'into',
    'gibt', 'es', 'uber', 'zum', 'zur', 'etwas', 'einen', 'eine', 'ein', 'der', 'die', 'das', 'und',
    'mit', 'von', 'zu', 'im', 'am'
])
ON CONFLICT DO NOTHING;

-- ---------------------------------------------------------------------------
-- Import side: denormalised columns, vocabulary, conference counters
-- ---------------------------------------------------------------------------

-- Keep name_norm right when a conference is renamed outside an import.
-- Bootstrap copy of the trigger's function (CREATE TRIGGER needs it); its
-- live definition is in sql/functions/20_documents.sql, which ci/migrate
-- applies after the migrations on every run (replacing this one).
CREATE OR REPLACE FUNCTION confhaven._conference_name_norm()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    NEW.name_norm := confhaven.norm(NEW.name);
    RETURN NEW;
END
$$;
DROP TRIGGER IF EXISTS conferences_name_norm ON confhaven.conferences;
CREATE TRIGGER conferences_name_norm
    BEFORE INSERT OR UPDATE OF name ON confhaven.conferences
    FOR EACH ROW EXECUTE FUNCTION confhaven._conference_name_norm();

-- Backfill of what imports before 004 wrote.  It needs 004's
-- refresh_documents and norm, which now live in sql/functions/ and are only
-- applied after the migrations: every database that had data before
-- migrations and functions were split (commit d272eb2 and earlier) already
-- recorded 004, so here it only ever runs on an empty database.  A database
-- with conferences that stopped before 004 is refused instead of being
-- left with stale search columns.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM confhaven.conferences) THEN
        RAISE EXCEPTION 'migration 004 on a database that already has conferences'
            USING HINT = 'Bring it to 008 with the ci/migrate and sql/ of commit d272eb2 first, '
                         'then run this ci/migrate.';
    END IF;
END
$$;

-- ---------------------------------------------------------------------------
-- Indexes for the search paths
-- ---------------------------------------------------------------------------
CREATE INDEX IF NOT EXISTS sessions_head_doc_idx
    ON confhaven.sessions USING gin (head_doc);
CREATE INDEX IF NOT EXISTS sessions_title_norm_trgm_idx
    ON confhaven.sessions USING gin (title_norm gin_trgm_ops);
CREATE INDEX IF NOT EXISTS sessions_tags_norm_trgm_idx
    ON confhaven.sessions USING gin (tags_norm gin_trgm_ops);
CREATE INDEX IF NOT EXISTS sessions_speakers_norm_trgm_idx
    ON confhaven.sessions USING gin (speakers_norm gin_trgm_ops);
CREATE INDEX IF NOT EXISTS sessions_abstract_norm_trgm_idx
    ON confhaven.sessions USING gin (abstract_norm gin_trgm_ops);
-- the accent-sensitive abstract index of 001 is no longer used by search
DROP INDEX IF EXISTS confhaven.sessions_abstract_trgm_idx;
-- "all sessions by start time" without a conference filter
CREATE INDEX IF NOT EXISTS sessions_start_idx
    ON confhaven.sessions (start_at, id) WHERE NOT is_service;
CREATE INDEX IF NOT EXISTS tracks_lower_name_idx
    ON confhaven.tracks (lower(name));
