-- 013_search_cost.sql — what a search costs (issue 13).  001–012 stay as
-- they are.
--
--   * conferences.query_keys: the keys by which a query names a conference
--     ("scottish summit", "scottish-summit", the slug), so far computed by
--     api_search with four regular expressions per conference on every
--     search that names none (most of them: about 0.1 ms at 10 conferences,
--     growing with their number).  A stored generated column: PostgreSQL
--     computes it after the BEFORE triggers (conferences_name_norm sets
--     name_norm), on every insert and every rename, whoever writes the row.
--     api_search (sql/functions/50_search.sql) reads it; the filters on the
--     keys (at least 4 characters, a letter, a space or a digit) stay there.

ALTER TABLE confhaven.conferences
    ADD COLUMN IF NOT EXISTS query_keys text[] GENERATED ALWAYS AS (ARRAY[
        btrim(regexp_replace(regexp_replace(name_norm, '\m(19|20)[0-9]{2}\M', ' ', 'g'),
                             '[^a-z0-9]+', ' ', 'g')),
        btrim(regexp_replace(regexp_replace(slug, '-?(19|20)[0-9]{2}(-|$)', '-', 'g'),
                             '[^a-z0-9]+', ' ', 'g')),
        slug]) STORED;
