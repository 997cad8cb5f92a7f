-- 018_search_cover.sql — a search without words reads the start-time
-- index only (issue 13).  001–017 stay as they are.
--
--   * sessions_start_idx (004: start_at, id of the sessions that are not
--     service sessions) becomes sessions_start_cover_idx with the same key
--     and the columns a listing filters on and counts facets by as
--     included columns: _search_page's listing (no q) then reads up to
--     2,001 sessions through an index-only scan instead of fetching each
--     row (about 2,000 heap rows a listing before).  Same number of
--     indexes; derived data is unchanged (nothing to backfill).
CREATE INDEX IF NOT EXISTS sessions_start_cover_idx
    ON confhaven.sessions (start_at, id)
    INCLUDE (conference_id, track_id, level, end_at, room_id, search_lang)
    WHERE NOT is_service;
DROP INDEX IF EXISTS confhaven.sessions_start_idx;
