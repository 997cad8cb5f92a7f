-- 017_search_fast.sql — a search that costs about a millisecond (issue 13).
-- 001–016 stay as they are.
--
--   * confhaven._highlight takes the search's highlight pattern as a fourth
--     argument (sql/functions/50_search.sql: a regular expression built once
--     per search instead of ts_headline on every page row): the old
--     three-argument function goes first, so that one _highlight remains.
DROP FUNCTION IF EXISTS confhaven._highlight(text, text, tsquery);
