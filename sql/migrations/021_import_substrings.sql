-- 021_import_substrings.sql — issue 13: a new conference's import makes no
-- trigrams of every abstract.
--
-- The trigram index on sessions.abstract_norm was 270-330 ms of the ~1.2 s
-- that a 1,000-session import cost (extracting the trigrams of each
-- abstract, show_trgm, 160-200 ms of it).  Its only user was the
-- "abstract_norm LIKE '%core%'" candidate of the search (_search_doc_
-- candidates, sql/functions/50_search.sql).  That candidate now asks the
-- vocabulary instead: every word of a session's abstract is a lexeme of its
-- document (ch_simple), so a session whose abstract holds a run of letters
-- and digits holds a lexeme containing that run; the lexemes containing it
-- are looked up here (a trigram index over the vocabulary, which grows
-- slowly), the sessions holding one of them through the document's GIN
-- index, and LIKE decides as before.
--
--   * confhaven.search_lexemes: every lexeme of the unstemmed (ch_simple)
--     vectors of the sessions' texts, all conferences together, with its
--     normalised form (confhaven.norm: a lexeme such as "müller2" is not
--     unaccented by ch_simple, the abstract_norm it is looked for in is).
--     Imports add the words new to a conference (search_words) and the
--     lexemes outside search_words' lengths (1, or more than 40
--     characters); nothing is deleted: a word no session uses any more
--     only makes the document index look up one more lexeme.
--   * sessions_abstract_norm_odd_idx: the trigram index, kept only for the
--     few abstracts where a run of letters and digits may be in no lexeme
--     (confhaven._abstract_odd: a "<" that the text search parser may read
--     as a tag, an entity "&name;", a protocol "xyz://"; all three are
--     skipped by the parser).
DROP INDEX IF EXISTS confhaven.sessions_abstract_norm_trgm_idx;

CREATE TABLE IF NOT EXISTS confhaven.search_lexemes (
    word      text PRIMARY KEY,
    word_norm text NOT NULL
);
CREATE INDEX IF NOT EXISTS search_lexemes_trgm_idx
    ON confhaven.search_lexemes USING gin (word_norm gin_trgm_ops);

-- (the predicate of the partial index: defined here, before the functions
-- files, because an index needs it; 20_documents.sql documents it)
CREATE OR REPLACE FUNCTION confhaven._abstract_odd(t text)
RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT (strpos(t, '<') > 0 AND t ~ '<[[:alpha:]/!?]')
        OR (strpos(t, '&') > 0 AND t ~ '&[#[:alnum:]]+;')
        OR strpos(t, '://') > 0;
$$;

CREATE INDEX IF NOT EXISTS sessions_abstract_norm_odd_idx
    ON confhaven.sessions USING gin (abstract_norm gin_trgm_ops)
    WHERE confhaven._abstract_odd(abstract_plain);

-- the vocabulary of the sessions already there: the words of search_words,
-- the letters and digits (lexemes of one character), and the lexemes of
-- more than 40 characters of the abstracts that have a long token
-- (lower(unaccent()) is confhaven.norm: the functions files run after the
-- migrations)
INSERT INTO confhaven.search_lexemes (word, word_norm)
SELECT DISTINCT w.word, lower(public.unaccent(w.word))
  FROM confhaven.search_words w
ON CONFLICT DO NOTHING;
INSERT INTO confhaven.search_lexemes (word, word_norm)
SELECT c, c FROM regexp_split_to_table('abcdefghijklmnopqrstuvwxyz0123456789', '') c
ON CONFLICT DO NOTHING;
INSERT INTO confhaven.search_lexemes (word, word_norm)
SELECT DISTINCT x.word, lower(public.unaccent(x.word))
  FROM confhaven.sessions s
 CROSS JOIN LATERAL unnest(tsvector_to_array(
           to_tsvector('confhaven.ch_simple', s.abstract_plain))) x(word)
 WHERE s.abstract_plain ~ '[^[:space:]]{30}'
   AND length(x.word) NOT BETWEEN 2 AND 40
ON CONFLICT DO NOTHING;

-- _search_columns returns one more column (lexemes): the old one goes
-- here, the functions file creates the new one
DROP FUNCTION IF EXISTS confhaven._search_columns(text, text, text, text, text, text[], text[]);
