-- 015_search_rank.sql — ranking by what is rare, and what the schedules
-- teach (issue 13).  001–014 stay as they are.
--
--   * confhaven.search_acronyms: acronyms and their expansions learned from
--     each conference's own text at import time ("Software Defined Radio
--     (SDR)" teaches sdr -> software defined radio and back), rewritten by
--     refresh_documents (sql/functions/20_documents.sql); _search_parse
--     reads them next to the operator's confhaven.search_synonyms, which
--     stays the place for pairs no schedule spells out.
--   * Term statistics: search_words (004) already holds, per conference,
--     every unstemmed word and the number of sessions using it (document
--     frequency), and conferences.session_count the number of sessions;
--     _search_parse turns them into an inverse document frequency per query
--     word, over the conference searched or all of them.
CREATE TABLE IF NOT EXISTS confhaven.search_acronyms (
    conference_id bigint NOT NULL REFERENCES confhaven.conferences (id) ON DELETE CASCADE,
    acronym       text NOT NULL CHECK (acronym = lower(acronym)),
    expansion     text NOT NULL CHECK (expansion = lower(expansion)),
    PRIMARY KEY (conference_id, acronym, expansion)
);
CREATE INDEX IF NOT EXISTS search_acronyms_expansion_idx
    ON confhaven.search_acronyms (expansion);

-- The languages of a conference's sessions (search_lang values), kept by
-- refresh_documents: compound parts are looked up only in the vocabulary
-- of conferences that have German sessions, without reading sessions.
ALTER TABLE confhaven.conferences
    ADD COLUMN IF NOT EXISTS search_langs text[] NOT NULL DEFAULT '{}';

-- German compounds by their parts: for conferences with German sessions,
-- every word of the vocabulary (search_words) found inside a longer word
-- of the same vocabulary ("sicherheit" in "cloudsicherheit" and
-- "sicherheitslucken"), written by refresh_documents; _search_parse adds
-- the longer words to the part's word group (an index lookup per query
-- word instead of a trigram search of the whole vocabulary).
CREATE TABLE IF NOT EXISTS confhaven.search_compounds (
    conference_id bigint NOT NULL REFERENCES confhaven.conferences (id) ON DELETE CASCADE,
    part          text NOT NULL,
    word          text NOT NULL,
    ndoc          integer NOT NULL,
    PRIMARY KEY (part, conference_id, word)
);
CREATE INDEX IF NOT EXISTS search_compounds_conference_idx
    ON confhaven.search_compounds (conference_id);

-- _search_parse (sql/functions/50_search.sql) returns two more columns
-- (the word groups and their idf): its old definition has to go first.
DROP FUNCTION IF EXISTS confhaven._search_parse(text, bigint);
