-- 020_search_card.sql — a page row of a search is a concatenation
-- (issue 13).  001–019 stay as they are.
--
--   * sessions.card: the parts of a search result's JSON object that
--     depend on the session row alone (id, external_id, title, speakers,
--     level, tags, snippet), as three text fragments with the keys in the
--     answer's order, written exactly as json_build_object writes them.
--     _search_page (sql/functions/50_search.sql) joins them with the
--     conference's, room's and track's values, the start and end time,
--     the score and the highlight.  Building that object per page row
--     (json_build_object, the snippet's cut) was about 50 us of the 75 us
--     a page row cost.
--   * A stored generated column: every write of a session (imports,
--     refresh_documents) recomputes it; nothing else has to remember it.
--     Adding it rewrites the sessions table once.
--   * _search_card is defined here because the column needs it before
--     the function files run; 50_search.sql repeats the same definition
--     (ci/migrate wants every function in a file).  It uses no other
--     function of ours: the snippet's rules (10_util.sql snippet, first 240
--     characters cut at the last white space) are written out.
CREATE OR REPLACE FUNCTION confhaven._search_card(
    id bigint, external_id text, title text, speaker_names text[], level text,
    tag_names text[], abstract_plain text)
RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT ARRAY[
        '{"id" : ' || coalesce(id::text, 'null')
            || ', "external_id" : ' || coalesce(to_json(external_id)::text, 'null')
            || ', "conference" : ',
        ', "title" : ' || coalesce(to_json(btrim(title))::text, 'null')
            || ', "speakers" : ' || coalesce(to_json(speaker_names)::text, 'null')
            || ', "start" : ',
        ', "level" : ' || coalesce(to_json(level)::text, 'null')
            || ', "tags" : ' || coalesce(to_json(tag_names)::text, 'null')
            || ', "snippet" : '
            || coalesce(to_json(CASE
                   WHEN abstract_plain IS NULL OR length(abstract_plain) <= 240 THEN abstract_plain
                   ELSE coalesce(substring(left(abstract_plain, 240) FROM '^(.*\S)\s+\S*$'),
                                 left(abstract_plain, 240)) || '…' END)::text, 'null')
            || ', "score" : '];
$$;

ALTER TABLE confhaven.sessions
    ADD COLUMN IF NOT EXISTS card text[]
        GENERATED ALWAYS AS (confhaven._search_card(id, external_id, title, speaker_names, level,
                                                    tag_names, abstract_plain)) STORED;
