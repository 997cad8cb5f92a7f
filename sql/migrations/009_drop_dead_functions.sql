-- 009_drop_dead_functions.sql — functions nothing calls any more.
--
-- The first migration written after the split into sql/migrations (applied
-- once) and sql/functions (every live function, re-applied by ci/migrate on
-- every run).  Databases created before the split still have two functions
-- that no sql/functions file defines; a new database never had them, so
-- after this both end with the same set.
--
--   * confhaven._search (004): 004's search.  005's _search_page (replaced
--     in 007) took over; since 005 its only caller was itself (the
--     "nothing found" suggestions).
--   * confhaven.session_document (002): 002's search document.  004's
--     refresh_documents builds the document with search_document and
--     search_head_document instead; nothing has called it since.
--
-- Neither is referenced by the module (ngx_http_confhaven_module/), ci/,
-- t/ or another function.

DROP FUNCTION IF EXISTS confhaven._search(text, bigint, text, text, integer, boolean,
                                          boolean, jsonb, text);
DROP FUNCTION IF EXISTS confhaven.session_document(text, text, text, text, text);
