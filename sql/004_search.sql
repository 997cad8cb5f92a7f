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

-- Lower-case, accent-free text (the form of every *_norm column and of the
-- query).  unaccent() is only STABLE because its dictionary could change;
-- we store its results, so a dictionary change needs a re-import (rare).
CREATE OR REPLACE FUNCTION confhaven.norm(t text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = confhaven, public, pg_catalog
AS $$
    SELECT lower(unaccent(t));
$$;

-- Text search configuration for a search_lang value.
CREATE OR REPLACE FUNCTION confhaven.lang_config(lang text)
RETURNS regconfig
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE lang
        WHEN 'german' THEN 'confhaven.ch_german'::regconfig
        WHEN 'french' THEN 'confhaven.ch_french'::regconfig
        WHEN 'spanish' THEN 'confhaven.ch_spanish'::regconfig
        ELSE 'confhaven.ch_english'::regconfig END;
$$;

-- Language of a session: the source's language field when it has one
-- ("de", "de-AT", "German", "Deutsch", ...), else a guess from stop words.
CREATE OR REPLACE FUNCTION confhaven.detect_language(declared text, body text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE
        WHEN declared ~* '^\s*(de|ger|deu)([-_].*)?\s*$|german|deutsch' THEN 'german'
        WHEN declared ~* '^\s*(fr|fre|fra)([-_].*)?\s*$|french|fran' THEN 'french'
        WHEN declared ~* '^\s*(es|spa)([-_].*)?\s*$|spanish|espa' THEN 'spanish'
        WHEN declared ~* '^\s*(en|eng)([-_].*)?\s*$|english' THEN 'english'
        ELSE (SELECT CASE
                  WHEN greatest(x.de, x.fr, x.es) < 2 OR greatest(x.de, x.fr, x.es) <= x.en THEN 'english'
                  WHEN x.de >= x.fr AND x.de >= x.es THEN 'german'
                  WHEN x.fr >= x.es THEN 'french'
                  ELSE 'spanish' END
                FROM (SELECT count(*) FILTER (WHERE w IN ('the', 'and', 'of', 'to', 'is', 'in', 'with',
                                                       'for', 'you', 'we', 'how', 'this', 'that', 'your',
                                                       'are', 'will', 'on', 'what', 'it', 'an')) AS en,
                             count(*) FILTER (WHERE w IN ('der', 'die', 'das', 'und', 'ist', 'mit', 'fur',
                                                       'nicht', 'wir', 'ein', 'eine', 'auf', 'zu', 'den',
                                                       'von', 'sich', 'ich', 'wie', 'dem', 'des', 'auch',
                                                       'werden', 'wird', 'oder', 'zum', 'zur', 'uber',
                                                       'einen', 'einer', 'im', 'sie', 'es', 'dass', 'bei')) AS de,
                             count(*) FILTER (WHERE w IN ('le', 'la', 'les', 'et', 'est', 'des', 'du', 'une',
                                                       'pour', 'dans', 'nous', 'vous', 'avec', 'sur', 'pas',
                                                       'qui', 'que', 'au', 'aux', 'ce')) AS fr,
                             count(*) FILTER (WHERE w IN ('el', 'los', 'las', 'y', 'es', 'del', 'una', 'para',
                                                       'con', 'por', 'que', 'como', 'su', 'al', 'lo', 'se',
                                                       'en', 'un', 'mas', 'sus')) AS es
                        FROM regexp_split_to_table(confhaven.norm(left(coalesce(body, ''), 4000)), '[^a-z]+') w) x)
    END;
$$;

-- Weighted search document in the session's language plus unstemmed words.
CREATE OR REPLACE FUNCTION confhaven.search_document(
    lang text, title text, subtitle text, tags_and_track text, abstract_plain text, speakers text)
RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT setweight(to_tsvector(confhaven.lang_config(lang), coalesce(title, '')), 'A')
        || setweight(to_tsvector('confhaven.ch_simple', coalesce(title, '')), 'A')
        || setweight(to_tsvector(confhaven.lang_config(lang), concat_ws(' ', subtitle, tags_and_track)), 'B')
        || setweight(to_tsvector('confhaven.ch_simple', concat_ws(' ', subtitle, tags_and_track)), 'B')
        || setweight(to_tsvector(confhaven.lang_config(lang), coalesce(abstract_plain, '')), 'C')
        || setweight(to_tsvector('confhaven.ch_simple', coalesce(abstract_plain, '')), 'C')
        || setweight(to_tsvector('confhaven.ch_simple', coalesce(speakers, '')), 'D');
$$;

CREATE OR REPLACE FUNCTION confhaven.search_head_document(
    lang text, title text, subtitle text, tags_and_track text)
RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT setweight(to_tsvector(confhaven.lang_config(lang), coalesce(title, '')), 'A')
        || setweight(to_tsvector('confhaven.ch_simple', coalesce(title, '')), 'A')
        || setweight(to_tsvector(confhaven.lang_config(lang), concat_ws(' ', subtitle, tags_and_track)), 'B')
        || setweight(to_tsvector('confhaven.ch_simple', concat_ws(' ', subtitle, tags_and_track)), 'B');
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

-- Recompute the search columns of one conference (called by _apply_sessions
-- after speakers/tags changed), its vocabulary and its counters.
CREATE OR REPLACE FUNCTION confhaven.refresh_documents(p_conference_id bigint)
RETURNS integer
LANGUAGE plpgsql
AS $$
DECLARE n integer;
BEGIN
    WITH src AS (
        SELECT s2.id, s2.title, s2.subtitle, s2.abstract_plain, tr.name AS track,
               coalesce((SELECT array_agg(t.name ORDER BY st.position)
                           FROM confhaven.session_tags st
                           JOIN confhaven.tags t ON t.id = st.tag_id
                          WHERE st.session_id = s2.id), '{}') AS tags,
               coalesce((SELECT array_agg(sp.name ORDER BY ss.position)
                           FROM confhaven.session_speakers ss
                           JOIN confhaven.speakers sp ON sp.id = ss.speaker_id
                          WHERE ss.session_id = s2.id), '{}') AS speakers,
               confhaven.detect_language(s2.language, concat_ws(' ', s2.title, s2.subtitle, s2.abstract_plain)) AS lang
          FROM confhaven.sessions s2
          LEFT JOIN confhaven.tracks tr ON tr.id = s2.track_id
         WHERE s2.conference_id = p_conference_id),
    d AS (
        SELECT src.id, src.lang, src.tags, src.speakers,
               confhaven.search_document(src.lang, src.title, src.subtitle,
                   concat_ws(' ', src.track, array_to_string(src.tags, ' ')),
                   src.abstract_plain, array_to_string(src.speakers, ' ')) AS doc,
               confhaven.search_head_document(src.lang, src.title, src.subtitle,
                   concat_ws(' ', src.track, array_to_string(src.tags, ' '))) AS head,
               confhaven.norm(btrim(src.title)) AS title_norm,
               coalesce(confhaven.norm(concat_ws(' | ', src.track, array_to_string(src.tags, ' | '))), '') AS tags_norm,
               coalesce(confhaven.norm(array_to_string(src.speakers, ' | ')), '') AS speakers_norm,
               coalesce(confhaven.norm(src.abstract_plain), '') AS abstract_norm
          FROM src)
    UPDATE confhaven.sessions s
       SET document = d.doc, head_doc = d.head, search_lang = d.lang, title_norm = d.title_norm,
           tags_norm = d.tags_norm, speakers_norm = d.speakers_norm,
           abstract_norm = d.abstract_norm,
           speaker_names = d.speakers, tag_names = d.tags
      FROM d
     WHERE s.id = d.id
       AND (s.document, s.head_doc, s.search_lang, s.title_norm, s.tags_norm, s.speakers_norm,
            s.abstract_norm, s.speaker_names, s.tag_names)
           IS DISTINCT FROM
           (d.doc, d.head, d.lang, d.title_norm, d.tags_norm, d.speakers_norm,
            d.abstract_norm, d.speakers, d.tags);
    GET DIAGNOSTICS n = ROW_COUNT;

    DELETE FROM confhaven.search_words WHERE conference_id = p_conference_id;
    INSERT INTO confhaven.search_words (conference_id, word, ndoc)
    SELECT p_conference_id, w.word, count(DISTINCT s.id)
      FROM confhaven.sessions s
     CROSS JOIN LATERAL unnest(tsvector_to_array(to_tsvector('confhaven.ch_simple',
                concat_ws(' ', s.title, array_to_string(s.tag_names, ' '),
                          array_to_string(s.speaker_names, ' '), s.abstract_plain)))) AS w(word)
     WHERE s.conference_id = p_conference_id AND NOT s.is_service
       AND length(w.word) BETWEEN 2 AND 40
     GROUP BY w.word;

    UPDATE confhaven.conferences c
       SET session_count = x.n, max_duration = x.maxd, name_norm = confhaven.norm(c.name)
      FROM (SELECT count(*) FILTER (WHERE NOT s.is_service) AS n,
                   coalesce(max(s.end_at - s.start_at) FILTER (WHERE NOT s.is_service), interval '0') AS maxd
              FROM confhaven.sessions s WHERE s.conference_id = p_conference_id) x
     WHERE c.id = p_conference_id;
    RETURN n;
END
$$;

-- Keep name_norm right when a conference is renamed outside an import.
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

-- Backfill what earlier imports wrote.
SELECT confhaven.refresh_documents(c.id) FROM confhaven.conferences c ORDER BY c.id;
UPDATE confhaven.conferences SET name_norm = confhaven.norm(name) WHERE name_norm IS DISTINCT FROM confhaven.norm(name);

-- Conference object: stored session count instead of counting per call.
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

-- ---------------------------------------------------------------------------
-- Conference resolution: slug, name, name without the year, "31c3"
-- ---------------------------------------------------------------------------
-- Candidates in order of preference: the slug itself; slug or name equal
-- after normalisation (case, accents, punctuation); every word given appears
-- in the name or slug (so "scottish summit" and "Scottish Summit 2026" find
-- scottish-summit-2026, "31c3" finds "31. Chaos Communication Congress
-- (31C3)").  Several editions: the one that has not ended yet and starts
-- first, else the latest.  At least one given word must be a non-number of
-- three or more characters, so "2026" alone names no conference.
CREATE OR REPLACE FUNCTION confhaven._find_conference(conf text)
RETURNS bigint
LANGUAGE sql STABLE
AS $$
    WITH v AS (
        SELECT lower(btrim(conf)) AS raw,
               btrim(regexp_replace(confhaven.norm(conf), '[^a-z0-9]+', ' ', 'g')) AS key)
    SELECT c.id
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
     LIMIT 1;
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

-- OR of the non-empty alternatives, each distinct one once (smaller
-- queries rank faster).
CREATE OR REPLACE FUNCTION confhaven._tsq_or_distinct(alts tsquery[])
RETURNS tsquery
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT string_agg('(' || t || ')', ' | ' ORDER BY o)::tsquery
      FROM (SELECT DISTINCT ON (x::text) x::text AS t, o
              FROM unnest(alts) WITH ORDINALITY u(x, o)
             WHERE numnode(x) > 0
             ORDER BY x::text, o) d;
$$;

-- Restrict every lexeme of a tsquery to the given weights ('A', 'AB').
CREATE OR REPLACE FUNCTION confhaven._tsq_weights(q tsquery, w text)
RETURNS tsquery
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT regexp_replace(q::text, '(''(?:[^'']|'''')*'')(?::(\*))?', '\1:\2' || w, 'g')::tsquery;
$$;

-- ---------------------------------------------------------------------------
-- Query understanding
-- ---------------------------------------------------------------------------
-- Turns the user's text into tsqueries and substring patterns:
--   q_match  what a session must match (OR of the word groups; with explicit
--            web-search syntax — quotes, "or", -word — that syntax instead)
--   q_all    AND of the word groups (ranking: all words present, proximity)
--   q_any    OR of the word groups (ranking and ts_headline)
--   pat      ILIKE-free LIKE pattern %core% on normalised text (NULL when
--            the core is shorter than 3 characters: trigram indexes need 3)
--   exact    normalised query for the exact-title rule
--   info     jsonb: words, ignored words, synonyms used, prefixes, corrections
-- A word group is one query word (or a 2-3 word synonym term) as: its
-- English, German, French and Spanish stems and the word itself (all
-- accent-free), its synonyms as phrases, a prefix match when the word is
-- the last one or is not a known word but starts known words ("observab"),
-- and the closest known word by trigram similarity when it is neither
-- known nor a prefix (typo: "copliot" -> "copilot").  Noise words of
-- natural questions ("talks", "anything", "tomorrow") are dropped.
CREATE OR REPLACE FUNCTION confhaven._search_parse(
    q text, conf_id bigint,
    OUT q_match tsquery, OUT q_all tsquery, OUT q_any tsquery,
    OUT pat text, OUT pat_full text, OUT exact text, OUT core text, OUT info jsonb)
LANGUAGE plpgsql STABLE
SET client_min_messages = warning
AS $$
DECLARE
    qn       text := btrim(regexp_replace(confhaven.norm(q), '\s+', ' ', 'g'));
    explicit boolean := q ~* '"|(^|\s)-[[:alnum:]]|\sor\s';
    toks     text[];
    tok      text;
    i        integer := 1;
    n        integer;
    k        integer;
    j        integer;
    v_term   text;
    syns     text[];
    g        tsquery;
    corr     text;
    words    text[] := '{}';
    ignored  text[] := '{}';
    prefixes text[] := '{}';
    synused  jsonb := '{}';
    corrs    jsonb := '{}';
    found_term boolean;
BEGIN
    exact := qn;
    SELECT coalesce(array_agg(t ORDER BY o), '{}') INTO toks
      FROM (SELECT regexp_replace(regexp_replace(x, '^[^a-z0-9.#@]+', ''), '[^a-z0-9#+]+$', '') AS t, o
              FROM unnest(string_to_array(qn, ' ')) WITH ORDINALITY u(x, o)) y
     WHERE t <> '';
    n := coalesce(array_length(toks, 1), 0);

    WHILE i <= n LOOP
        found_term := false;
        -- multi-word synonym terms first (longest)
        FOR k IN REVERSE 3..2 LOOP
            CONTINUE WHEN i + k - 1 > n;
            v_term := array_to_string(toks[i:i + k - 1], ' ');
            SELECT array_agg(s.synonym) INTO syns FROM confhaven.search_synonyms s WHERE s.term = v_term;
            IF syns IS NOT NULL THEN
                g := confhaven._tsq_or_distinct(ARRAY[phraseto_tsquery('confhaven.ch_english', v_term),
                                                      phraseto_tsquery('confhaven.ch_simple', v_term)]);
                FOR j IN 1..array_length(syns, 1) LOOP
                    g := confhaven._tsq_or_distinct(ARRAY[g, phraseto_tsquery('confhaven.ch_english', syns[j]),
                                                          phraseto_tsquery('confhaven.ch_simple', syns[j])]);
                END LOOP;
                synused := synused || jsonb_build_object(v_term, to_jsonb(syns));
                words := words || v_term;
                q_all := CASE WHEN q_all IS NULL THEN g ELSE q_all && g END;
                q_any := CASE WHEN q_any IS NULL THEN g ELSE q_any || g END;
                i := i + k;
                found_term := true;
                EXIT;
            END IF;
        END LOOP;
        CONTINUE WHEN found_term;

        tok := toks[i];
        i := i + 1;
        IF EXISTS (SELECT 1 FROM confhaven.search_noise_words w WHERE w.word = tok)
           OR numnode(plainto_tsquery('english', tok)) = 0
           OR numnode(plainto_tsquery('german', tok)) = 0
           OR length(tok) < 2 AND tok !~ '^[0-9]$' THEN
            IF NOT EXISTS (SELECT 1 FROM confhaven.search_synonyms s WHERE s.term = tok) THEN
                ignored := ignored || tok;
                CONTINUE;
            END IF;
        END IF;

        g := confhaven._tsq_or_distinct(ARRAY[
                   plainto_tsquery('confhaven.ch_english', tok), plainto_tsquery('confhaven.ch_german', tok),
                   plainto_tsquery('confhaven.ch_french', tok), plainto_tsquery('confhaven.ch_spanish', tok),
                   plainto_tsquery('confhaven.ch_simple', tok)]);
        IF numnode(g) = 0 THEN
            ignored := ignored || tok;
            CONTINUE;
        END IF;

        -- unknown word: a prefix of known words, or a typo
        IF tok ~ '^[a-z0-9]{3,}$'
           AND NOT EXISTS (SELECT 1 FROM confhaven.search_words w
                            WHERE w.word = tok AND (conf_id IS NULL OR w.conference_id = conf_id))
           AND NOT EXISTS (SELECT 1 FROM confhaven.search_synonyms s WHERE s.term = tok) THEN
            IF EXISTS (SELECT 1 FROM confhaven.search_words w
                        WHERE w.word LIKE tok || '%' AND (conf_id IS NULL OR w.conference_id = conf_id)) THEN
                g := g || to_tsquery('simple', tok || ':*');
                prefixes := prefixes || tok;
            ELSIF length(tok) >= 4 THEN
                -- candidates: trigram-similar words, or words with the same
                -- first letter within a small edit distance (transpositions
                -- break most trigrams); closest edit distance wins
                SELECT x.word INTO corr
                  FROM (SELECT w.word, sum(w.ndoc) AS n
                          FROM confhaven.search_words w
                         WHERE (w.word % tok OR w.word LIKE left(tok, 1) || '%')
                           AND (conf_id IS NULL OR w.conference_id = conf_id)
                           AND abs(length(w.word) - length(tok)) <= 2
                         GROUP BY w.word) x
                 WHERE levenshtein_less_equal(x.word, tok, 3)
                       <= CASE WHEN length(tok) <= 5 THEN 1 WHEN length(tok) <= 9 THEN 2 ELSE 3 END
                    OR similarity(x.word, tok) >= 0.45
                 ORDER BY levenshtein_less_equal(x.word, tok, 3), similarity(x.word, tok) DESC, x.n DESC, x.word
                 LIMIT 1;
                IF corr IS NOT NULL THEN
                    g := confhaven._tsq_or_distinct(ARRAY[g, plainto_tsquery('confhaven.ch_english', corr),
                                                          plainto_tsquery('confhaven.ch_simple', corr)]);
                    corrs := corrs || jsonb_build_object(tok, corr);
                    tok := corr;
                END IF;
            END IF;
        ELSIF i > n AND NOT explicit AND tok ~ '^[a-z0-9]{2,}$' AND q ~ '[[:alnum:]]\s*$' THEN
            g := g || to_tsquery('simple', tok || ':*');       -- typing: last word as a prefix
            prefixes := prefixes || tok;
        END IF;

        SELECT array_agg(s.synonym) INTO syns FROM confhaven.search_synonyms s WHERE s.term = tok;
        IF syns IS NOT NULL THEN
            FOR k IN 1..array_length(syns, 1) LOOP
                g := confhaven._tsq_or_distinct(ARRAY[g, phraseto_tsquery('confhaven.ch_english', syns[k]),
                                                      phraseto_tsquery('confhaven.ch_simple', syns[k])]);
            END LOOP;
            synused := synused || jsonb_build_object(tok, to_jsonb(syns));
        END IF;
        words := words || tok;
        q_all := CASE WHEN q_all IS NULL THEN g ELSE q_all && g END;
        q_any := CASE WHEN q_any IS NULL THEN g ELSE q_any || g END;
    END LOOP;

    core := nullif(array_to_string(words, ' '), '');
    IF explicit THEN
        q_match := websearch_to_tsquery('confhaven.ch_english', q)
                || websearch_to_tsquery('confhaven.ch_simple', q);
        IF numnode(q_match) = 0 THEN
            q_match := NULL;
        END IF;
        q_all := q_match;
        pat := NULL;          -- the operators decide what matches
    ELSE
        q_match := q_any;
        pat := CASE WHEN length(core) >= 3
                    THEN '%' || replace(replace(replace(core, '\', '\\'), '%', '\%'), '_', '\_') || '%' END;
    END IF;
    pat_full := CASE WHEN length(qn) >= 3 AND qn IS DISTINCT FROM core
                     THEN '%' || replace(replace(replace(qn, '\', '\\'), '%', '\%'), '_', '\_') || '%' END;
    info := jsonb_build_object('words', to_jsonb(words))
         || CASE WHEN ignored <> '{}' THEN jsonb_build_object('ignored', to_jsonb(ignored)) ELSE '{}' END
         || CASE WHEN synused <> '{}' THEN jsonb_build_object('synonyms', synused) ELSE '{}' END
         || CASE WHEN prefixes <> '{}' THEN jsonb_build_object('prefixes', to_jsonb(prefixes)) ELSE '{}' END
         || CASE WHEN corrs <> '{}' THEN jsonb_build_object('corrected', corrs) ELSE '{}' END
         || CASE WHEN explicit THEN jsonb_build_object('syntax', 'websearch') ELSE '{}' END;
END
$$;

-- ---------------------------------------------------------------------------
-- Search proper
-- ---------------------------------------------------------------------------
-- v_conf: resolved conference id or NULL; v_level: normalised level or NULL.
-- Score = seed rules (exact title +10, title contains +5, tag/track contains
-- +3, abstract contains +2, speaker contains +1, +3 more when a several-word
-- query is a speaker's name) + 10 * ts_rank_cd(all words, proximity)
-- + 5 * ts_rank_cd(any word).  "contains" compares accent-free lower-case
-- text with the query minus noise words.  Candidates come from the GIN
-- indexes only (tsvector, trigram); each is scored from its own row.
CREATE OR REPLACE FUNCTION confhaven._search(
    v_q text, v_conf bigint, v_track text, v_level text, v_lim integer, v_past boolean,
    v_suggest boolean, v_info jsonb DEFAULT '{}', v_echo text DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql STABLE
SET client_min_messages = warning
AS $$
DECLARE
    p         record;
    v_tracks  bigint[];
    v_ids     bigint[];
    v_scores  numeric[];
    v_minst   timestamptz;
    v_slug    text;
    v_result  json;
    v_sugg    text;
    v_n       integer;
    v_what    text;
    v_hl      tsquery;
    v_qm      tsquery;
    v_qa_a    tsquery;
    v_cids    bigint[];
    v_enough  integer;
    -- candidates scored per query: beyond this many matches (after filters)
    -- only the first v_cap the indexes return are ranked (bounded latency on
    -- very common words over millions of sessions; filters narrow it)
    v_cap     integer := 2000;
BEGIN
    IF v_track IS NOT NULL THEN
        SELECT coalesce(array_agg(t.id), '{}') INTO v_tracks FROM confhaven.tracks t
         WHERE lower(t.name) = lower(v_track) AND (v_conf IS NULL OR t.conference_id = v_conf);
    END IF;
    IF v_conf IS NOT NULL THEN
        SELECT c.slug INTO v_slug FROM confhaven.conferences c WHERE c.id = v_conf;
    END IF;

    IF v_q IS NULL THEN
        IF v_past THEN
            v_minst := '-infinity';
        ELSE            -- a session not yet ended started at most max_duration ago
            SELECT now() - coalesce(max(c.max_duration), interval '0') - interval '1 day' INTO v_minst
              FROM confhaven.conferences c WHERE c.is_active AND (v_conf IS NULL OR c.id = v_conf);
        END IF;
        SELECT array_agg(x.id ORDER BY x.start_at NULLS LAST, x.id), array_agg(0::numeric)
          INTO v_ids, v_scores
          FROM (SELECT y.id, y.start_at FROM (
                  (SELECT s.id, s.start_at
                     FROM confhaven.sessions s
                     JOIN confhaven.conferences c ON c.id = s.conference_id
                    WHERE NOT s.is_service AND c.is_active
                      AND s.start_at >= v_minst
                      AND (v_conf IS NULL OR s.conference_id = v_conf)
                      AND (v_tracks IS NULL OR s.track_id = ANY (v_tracks))
                      AND (v_level IS NULL OR s.level = v_level)
                      AND (v_past OR s.end_at >= now()
                           OR (s.end_at IS NULL AND (c.end_date IS NULL
                                                     OR c.end_date >= (now() AT TIME ZONE c.timezone)::date)))
                    ORDER BY s.start_at, s.id
                    LIMIT v_lim)
                  UNION ALL
                  (SELECT s.id, s.start_at                -- unscheduled sessions come last
                     FROM confhaven.sessions s
                     JOIN confhaven.conferences c ON c.id = s.conference_id
                    WHERE NOT s.is_service AND c.is_active AND s.start_at IS NULL
                      AND (v_conf IS NULL OR s.conference_id = v_conf)
                      AND (v_tracks IS NULL OR s.track_id = ANY (v_tracks))
                      AND (v_level IS NULL OR s.level = v_level)
                      AND (v_past OR (s.end_at IS NULL AND (c.end_date IS NULL
                                          OR c.end_date >= (now() AT TIME ZONE c.timezone)::date)))
                    ORDER BY s.id
                    LIMIT v_lim)) y
                ORDER BY y.start_at NULLS LAST, y.id
                LIMIT v_lim) x;
    ELSE
        SELECT * INTO p FROM confhaven._search_parse(v_q, v_conf);
        v_info := v_info || p.info;
        v_qa_a := CASE WHEN p.q_all IS NOT NULL THEN confhaven._tsq_weights(p.q_all, 'A') END;
        v_enough := greatest(v_lim * 3, 50);
        -- Tiers, each only when the previous found too little:
        --   1. every word in title/subtitle/tags/track (small head_doc index),
        --      or the query as a substring of title, tags or track;
        --   2. every word anywhere, or the query as a substring anywhere;
        --   3. any word anywhere.
        -- Tier 1 stops the search when it has v_enough candidates: sessions
        -- with the words in their title or tags outrank abstract-only ones.
        v_qm := coalesce(p.q_all, p.q_match);
        SELECT array_agg(x.id) INTO v_cids
          FROM (SELECT s.id
                  FROM confhaven.sessions s
                  JOIN confhaven.conferences c ON c.id = s.conference_id
                 WHERE (s.head_doc @@ v_qm
                        OR s.title_norm LIKE p.pat_full
                        OR s.title_norm LIKE p.pat
                        OR s.tags_norm LIKE p.pat)
                   AND NOT s.is_service AND c.is_active
                   AND (v_conf IS NULL OR s.conference_id = v_conf)
                   AND (v_tracks IS NULL OR s.track_id = ANY (v_tracks))
                   AND (v_level IS NULL OR s.level = v_level)
                   AND (v_past OR s.end_at >= now()
                        OR (s.end_at IS NULL AND (c.end_date IS NULL
                                                  OR c.end_date >= (now() AT TIME ZONE c.timezone)::date)))
                 LIMIT v_cap) x;
        IF coalesce(array_length(v_cids, 1), 0) < v_enough THEN
            SELECT array_agg(x.id) INTO v_cids
              FROM (SELECT s.id
                      FROM confhaven.sessions s
                      JOIN confhaven.conferences c ON c.id = s.conference_id
                     WHERE (s.document @@ v_qm
                            OR s.title_norm LIKE p.pat_full
                            OR s.title_norm LIKE p.pat
                            OR s.tags_norm LIKE p.pat
                            OR s.speakers_norm LIKE p.pat
                            OR s.abstract_norm LIKE p.pat)
                   AND NOT s.is_service AND c.is_active
                   AND (v_conf IS NULL OR s.conference_id = v_conf)
                   AND (v_tracks IS NULL OR s.track_id = ANY (v_tracks))
                   AND (v_level IS NULL OR s.level = v_level)
                   AND (v_past OR s.end_at >= now()
                        OR (s.end_at IS NULL AND (c.end_date IS NULL
                                                  OR c.end_date >= (now() AT TIME ZONE c.timezone)::date)))
                     LIMIT v_cap) x;
            IF coalesce(array_length(v_cids, 1), 0) < v_lim AND p.q_match IS NOT NULL
               AND p.q_match::text IS DISTINCT FROM v_qm::text THEN
                v_qm := p.q_match;
                SELECT array_agg(x.id) INTO v_cids
                  FROM (SELECT s.id
                          FROM confhaven.sessions s
                          JOIN confhaven.conferences c ON c.id = s.conference_id
                         WHERE (s.document @@ v_qm
                                OR s.title_norm LIKE p.pat_full
                                OR s.title_norm LIKE p.pat
                                OR s.tags_norm LIKE p.pat
                                OR s.speakers_norm LIKE p.pat
                                OR s.abstract_norm LIKE p.pat)
                   AND NOT s.is_service AND c.is_active
                   AND (v_conf IS NULL OR s.conference_id = v_conf)
                   AND (v_tracks IS NULL OR s.track_id = ANY (v_tracks))
                   AND (v_level IS NULL OR s.level = v_level)
                   AND (v_past OR s.end_at >= now()
                        OR (s.end_at IS NULL AND (c.end_date IS NULL
                                                  OR c.end_date >= (now() AT TIME ZONE c.timezone)::date)))
                         LIMIT v_cap) x;
            END IF;
        END IF;

        WITH cand AS MATERIALIZED (
            SELECT s.id, s.start_at, s.document, s.head_doc,
                   (10 * coalesce(s.title_norm = p.exact OR s.title_norm = p.core, false)::int
                    + 5 * coalesce(s.title_norm LIKE p.pat OR s.title_norm LIKE p.pat_full, false)::int
                    + 3 * coalesce(s.tags_norm LIKE p.pat, false)::int
                    + 2 * coalesce(s.abstract_norm LIKE p.pat, false)::int
                    + (CASE WHEN coalesce(s.speakers_norm LIKE p.pat, false)
                            THEN CASE WHEN p.core LIKE '% %' THEN 4 ELSE 1 END ELSE 0 END))::numeric AS seed
              FROM confhaven.sessions s
             WHERE s.id = ANY (v_cids)),
        pre AS (                         -- cheap pre-rank: seed rules + words in title / tags
            SELECT cand.*
              FROM cand
             ORDER BY cand.seed + 6 * (v_qa_a IS NOT NULL AND cand.head_doc @@ v_qa_a)::int
                                + 3 * (p.q_any IS NOT NULL AND cand.head_doc @@ p.q_any)::int DESC,
                      cand.start_at NULLS LAST, cand.id
             LIMIT greatest(v_lim * 3, 60)),
        scored AS (
            SELECT pre.id, pre.start_at,
                   pre.seed
                   + CASE WHEN p.q_all IS NOT NULL AND pre.document @@ p.q_all
                          THEN 10 * ts_rank_cd(pre.document, p.q_all, 32)::numeric ELSE 0 END
                   + CASE WHEN p.q_any IS NOT NULL
                          THEN 5 * ts_rank_cd(pre.document, p.q_any, 32)::numeric ELSE 0 END AS score
              FROM pre)
        SELECT array_agg(x.id ORDER BY x.score DESC, x.start_at NULLS LAST, x.id),
               array_agg(x.score ORDER BY x.score DESC, x.start_at NULLS LAST, x.id)
          INTO v_ids, v_scores
          FROM (SELECT * FROM scored ORDER BY scored.score DESC, scored.start_at NULLS LAST, scored.id
                 LIMIT v_lim) x;
        v_hl := coalesce(p.q_any, p.q_match);
    END IF;

    -- Nothing found: say what was searched and what a relaxation would find.
    IF v_ids IS NULL AND v_suggest THEN
        v_what := concat_ws(' ',
            CASE WHEN v_q IS NOT NULL THEN format('sessions matching %s', to_json(v_q)) ELSE 'sessions' END,
            CASE WHEN v_slug IS NOT NULL THEN format('at %s', v_slug) END,
            CASE WHEN v_track IS NOT NULL THEN format('in track %s', to_json(v_track)) END,
            CASE WHEN v_level IS NOT NULL THEN format('at level %s', v_level) END,
            CASE WHEN NOT v_past THEN 'that have not ended yet' END);
        IF NOT v_past THEN
            v_n := json_array_length(confhaven._search(v_q, v_conf, v_track, v_level, 50, true, false) -> 'sessions');
            IF v_n > 0 THEN
                v_sugg := format('%s past session%s match: add include_past=true.',
                                 CASE WHEN v_n >= 50 THEN '50 or more' ELSE v_n::text END,
                                 CASE WHEN v_n = 1 THEN '' ELSE 's' END);
            END IF;
        END IF;
        IF v_sugg IS NULL AND v_level IS NOT NULL THEN
            v_n := json_array_length(confhaven._search(v_q, v_conf, v_track, NULL, 50, v_past, false) -> 'sessions');
            IF v_n > 0 THEN
                v_sugg := format('%s session%s match at other levels: leave out level.',
                                 CASE WHEN v_n >= 50 THEN '50 or more' ELSE v_n::text END,
                                 CASE WHEN v_n = 1 THEN '' ELSE 's' END);
            END IF;
        END IF;
        IF v_sugg IS NULL AND v_track IS NOT NULL THEN
            v_n := json_array_length(confhaven._search(v_q, v_conf, NULL, v_level, 50, v_past, false) -> 'sessions');
            IF v_n > 0 THEN
                v_sugg := format('%s session%s match in other tracks: leave out track (track names: GET /api/conferences/{slug}).',
                                 CASE WHEN v_n >= 50 THEN '50 or more' ELSE v_n::text END,
                                 CASE WHEN v_n = 1 THEN '' ELSE 's' END);
            END IF;
        END IF;
        IF v_sugg IS NULL AND v_conf IS NOT NULL THEN
            v_n := json_array_length(confhaven._search(v_q, NULL, v_track, v_level, 50, v_past, false) -> 'sessions');
            IF v_n > 0 THEN
                v_sugg := format('%s session%s at other conferences match: leave out conference.',
                                 CASE WHEN v_n >= 50 THEN '50 or more' ELSE v_n::text END,
                                 CASE WHEN v_n = 1 THEN '' ELSE 's' END);
            END IF;
        END IF;
        IF v_sugg IS NULL AND v_q IS NOT NULL AND (v_level IS NOT NULL OR v_track IS NOT NULL OR v_conf IS NOT NULL OR NOT v_past) THEN
            v_n := json_array_length(confhaven._search(v_q, NULL, NULL, NULL, 50, true, false) -> 'sessions');
            IF v_n > 0 THEN
                v_sugg := format('%s session%s match without any filter: leave out conference, track and level and add include_past=true.',
                                 CASE WHEN v_n >= 50 THEN '50 or more' ELSE v_n::text END,
                                 CASE WHEN v_n = 1 THEN '' ELSE 's' END);
            END IF;
        END IF;
        v_sugg := format('No %s.', v_what) || ' '
               || coalesce(v_sugg, CASE WHEN v_q IS NOT NULL
                                        THEN 'Try fewer or more general words (a topic, a technology or a speaker''s name).'
                                        ELSE 'Leave out filters to see more.' END);
    END IF;

    SELECT json_build_object(
        'query', json_build_object(
            'q', CASE WHEN v_suggest THEN v_echo ELSE v_q END,
            'conference', v_slug,
            'track', v_track,
            'level', v_level,
            'limit', v_lim,
            'include_past', v_past),
        'count', coalesce(array_length(v_ids, 1), 0),
        'sessions', coalesce(json_agg(json_build_object(
            'id', s.id,
            'external_id', s.external_id,
            'conference', c.slug,
            'title', btrim(s.title),
            'speakers', to_json(s.speaker_names),
            'start', confhaven.iso_local(s.start_at, c.timezone),
            'end', confhaven.iso_local(s.end_at, c.timezone),
            'timezone', c.timezone,
            'room', r.name,
            'track', tr.name,
            'level', s.level,
            'tags', to_json(s.tag_names),
            'snippet', confhaven.snippet(s.abstract_plain),
            'score', round(t.score, 3),
            'highlight', CASE WHEN v_hl IS NOT NULL THEN confhaven._highlight(s.search_lang, s.abstract_plain, v_hl) END)
          ORDER BY t.ord), '[]'::json),
        'suggestion', v_sugg,
        'interpretation', CASE WHEN v_info <> '{}' THEN v_info END)
      INTO v_result
      FROM unnest(v_ids, v_scores) WITH ORDINALITY AS t(id, score, ord)
      JOIN confhaven.sessions s ON s.id = t.id
      JOIN confhaven.conferences c ON c.id = s.conference_id
      LEFT JOIN confhaven.rooms r ON r.id = s.room_id
      LEFT JOIN confhaven.tracks tr ON tr.id = s.track_id;
    RETURN v_result;
END
$$;

-- ts_headline of the abstract with «…» around matched words (no HTML: the
-- snippet rules forbid markup); NULL when the abstract does not match.
-- plpgsql so that its plan is cached per connection.
CREATE OR REPLACE FUNCTION confhaven._highlight(lang text, plain text, q tsquery)
RETURNS text
LANGUAGE plpgsql STABLE PARALLEL SAFE
AS $$
DECLARE
    h text;
BEGIN
    IF plain IS NULL OR q IS NULL THEN
        RETURN NULL;
    END IF;
    h := ts_headline(confhaven.lang_config(lang), plain, q,
                     'StartSel=«, StopSel=», MaxWords=28, MinWords=12, ShortWord=2, MaxFragments=2, FragmentDelimiter=" … "');
    IF strpos(h, '«') = 0 THEN      -- prefixes match unstemmed words only
        h := ts_headline('confhaven.ch_simple', plain, q,
                         'StartSel=«, StopSel=», MaxWords=28, MinWords=12, ShortWord=2, MaxFragments=2, FragmentDelimiter=" … "');
    END IF;
    RETURN CASE WHEN strpos(h, '«') > 0 THEN h END;
END
$$;

-- Same result as 003's iso_local, written so the planner inlines it (a SQL
-- function with a FROM clause is planned again for every query that calls it).
CREATE OR REPLACE FUNCTION confhaven.iso_local(ts timestamptz, tz text)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT to_char(ts AT TIME ZONE tz, 'YYYY-MM-DD"T"HH24:MI:SS')
        || CASE WHEN (ts AT TIME ZONE tz) < (ts AT TIME ZONE 'UTC') THEN '-' ELSE '+' END
        || to_char(CASE WHEN (ts AT TIME ZONE tz) < (ts AT TIME ZONE 'UTC')
                        THEN (ts AT TIME ZONE 'UTC') - (ts AT TIME ZONE tz)
                        ELSE (ts AT TIME ZONE tz) - (ts AT TIME ZONE 'UTC') END, 'HH24:MI');
$$;

-- The API entry point (signature and result shape of 003, plus per session
-- "highlight", and "suggestion" / "interpretation" at the top level).
-- A conference named inside q ("zero trust at the Scottish Summit") becomes
-- the conference filter when none is given.
CREATE OR REPLACE FUNCTION confhaven.api_search(
    q text, conference text, track text, level text, lim integer, include_past boolean)
RETURNS json
LANGUAGE plpgsql STABLE
SET client_min_messages = warning
AS $$
DECLARE
    v_q     text := nullif(btrim(regexp_replace(q, '\s+', ' ', 'g')), '');
    v_conf  bigint;
    v_level text := confhaven._api_level(level);
    v_info  jsonb := '{}';
    m       record;
    v_qs    text;
BEGIN
    IF nullif(btrim(conference), '') IS NOT NULL THEN
        v_conf := confhaven._resolve_conference(conference, 'CH400');
    ELSIF v_q IS NOT NULL THEN
        -- conference name (without its year) or slug inside the query
        v_qs := ' ' || btrim(regexp_replace(confhaven.norm(v_q), '[^a-z0-9]+', ' ', 'g')) || ' ';
        SELECT c.id, k.key INTO m
          FROM confhaven.conferences c
         CROSS JOIN LATERAL (VALUES
                 (btrim(regexp_replace(regexp_replace(c.name_norm, '\m(19|20)[0-9]{2}\M', ' ', 'g'), '[^a-z0-9]+', ' ', 'g'))),
                 (btrim(regexp_replace(regexp_replace(c.slug, '-?(19|20)[0-9]{2}(-|$)', '-', 'g'), '[^a-z0-9]+', ' ', 'g'))),
                 (c.slug)) k(key)
         WHERE c.is_active AND length(k.key) >= 4 AND k.key ~ '[a-z]'
           AND (k.key LIKE '% %' OR k.key ~ '[0-9]')       -- one common word is no conference name
           AND strpos(v_qs, ' ' || k.key || ' ') > 0
         ORDER BY length(k.key) DESC,
                  (c.end_date IS NULL OR c.end_date >= (now() AT TIME ZONE c.timezone)::date) DESC,
                  c.start_date DESC NULLS LAST
         LIMIT 1;
        IF FOUND THEN
            -- prefer the edition whose year the query names
            v_conf := coalesce(confhaven._find_conference(m.key || coalesce(' ' || substring(v_qs FROM ' ' || m.key || ' ((19|20)[0-9]{2}) '), '')),
                               m.id);
            v_q := nullif(btrim(regexp_replace(
                       regexp_replace(v_qs, ' (at |in |from )?(the )?' || m.key || '( (19|20)[0-9]{2})? ', ' '),
                       '\s+', ' ', 'g')), '');
            v_info := jsonb_build_object('conference_from_query',
                                         (SELECT c.slug FROM confhaven.conferences c WHERE c.id = v_conf));
            IF v_q IS NULL THEN
                v_info := v_info || jsonb_build_object('words', '[]'::jsonb);
            END IF;
        END IF;
    END IF;

    RETURN confhaven._search(v_q, v_conf, nullif(btrim(track), ''), v_level,
                             least(greatest(coalesce(lim, 20), 1), 50),
                             coalesce(include_past, false), true, v_info,
                             nullif(btrim(regexp_replace(q, '\s+', ' ', 'g')), ''));
END
$$;
