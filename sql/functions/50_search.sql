-- 50_search.sql — session search: parameter parsing, query understanding,
-- ranking, filters, paging, facets and the api_search entry points.
--
-- Matching and ranking (was 004): a session matches when its search
-- document matches the query (word groups with stems, synonyms, prefixes,
-- typo corrections; quoted phrases, "or" and -exclusions switch to
-- websearch semantics) or when one of the substring rules holds.  Score =
-- seed rules (exact title +10, title contains +5, tag/track contains +3,
-- abstract contains +2, speaker contains +1, +3 more when a several-word
-- query is a speaker's name) + 10 * ts_rank_cd(all words, proximity)
-- + 5 * ts_rank_cd(any word).
--
-- Filters and paging (was 005):
--   * Filters (all combined with AND; invalid values raise CH400 naming the
--     parameter and the accepted forms): speaker (part of a name, case and
--     accents ignored), room (exact name first, else names containing it),
--     day (YYYY-MM-DD, today / tomorrow / yesterday in each conference's
--     zone), starts_after (inclusive) / starts_before (exclusive) (ISO 8601
--     with offset, local date-time, or HH:MM local time of day), language
--     (en/de/fr/es or their names).
--   * Paging: one total order over all matching sessions (at most 2000): the
--     best 3 x limit (at least 60) by the cheap pre-rank, ordered by the full
--     score, then the rest in pre-rank order; ties by start time then id.
--     "next_cursor" encodes offset, limit, the instant of the first page and
--     a fingerprint of the filters; a cursor used with other filters is
--     refused (CH400).
--   * Result: "total", "total_capped", "offset", "next_cursor", and with
--     facets => true counts per track, level and day over all matching
--     sessions with all filters applied.
--
-- At 1,000,000 sessions (was 007): _search_page's candidate queries are
-- MATERIALIZED CTEs with the cap applied outside them, so the planner
-- compares full retrievals and picks the bitmap index scans; it runs with
-- jit = off.  See git history of sql/007_search_scale.sql for the
-- measurements.
--
-- Cost (issue 13; same results, same order): the candidates' query reads
-- each matching session once and collects what the rest needs (pre-rank
-- points, start, conference, track, level) in arrays; the ranking reads
-- the large document (TOAST) only for the rows that get the full score
-- (the best 3 x limit, at least 60, and the page's rows), one ts_rank_cd
-- when q_all = q_any; facets are counted from the collected values (no
-- second visit of sessions); ts_headline runs only for page rows whose
-- abstract holds an operand (the document's weight C part says so);
-- conference-level tests (active, not ended) are arrays and flags computed
-- once, not a join the generic plans rescanned per row; _search_parse
-- runs on generic plans (its custom plans were rebuilt on every call);
-- the keys by which a query names a conference are a generated column
-- (conferences.query_keys, 013).  t/search_cost.t counts what a search
-- reads.  Second round (same results and order; about 11 % less CPU per
-- search at 10,000 sessions): highlights are cut from the abstract with
-- one regular expression built per search (_highlight_pattern) instead
-- of ts_headline per page row, which remains the fallback
-- (_highlight_headline) for a row whose words the expression misses; the
-- document tiers' candidates run in _search_doc_candidates on generic
-- plans (their custom plans were rebuilt on almost every call, 1.5-2 ms of
-- planning); the ranking sorts only the candidates that can reach the
-- best 3 x limit or the page (a bounded sort) and computes each full
-- score once; the answer's query object is built without _json_extend
-- (a SQL function planned again on every call).  Third round (same
-- results and order; about 11 % less backend CPU over the 32 bench
-- queries, half for listings): the ranking reads each scored document
-- from TOAST once (it was fetched again at each of its four and more
-- uses); the document tiers test the substrings before the document (a
-- row the trigram indexes bring is rechecked, and its document was read
-- first); a listing without q reads the start-time index only (018:
-- sessions_start_cover_idx; the speaker filter is a subquery so the
-- scan needs no heap row); facets are one GROUPING SETS pass; the
-- snippet is cut without a backtracking expression (_search_snippet).
-- Fourth round (same answers, byte for byte): a page row is a
-- concatenation: the session's own fields (id, external_id, title,
-- speakers, level, tags, snippet) are precomputed in sessions.card (020,
-- a stored generated column, _search_card) and joined with the
-- conference's, room's and track's values, the times, the score and the
-- highlight (json_build_object and the snippet's cut were about 50 us of
-- the 75 us a page row cost).  t/search_card.t.  The answer is written
-- as text and cast to json once (the page and then the facets were each
-- parsed), and the search operation (ngx_http_confhaven_op_search_sessions.c)
-- reads count and query with one json_to_record (four parses of the
-- answer before).  Facets are three plain GROUP BYs.  ci/search-cpu: 9.42
-- -> 8.24 ms of backend CPU over the 32 bench queries (10 x 1,000).

-- ---------------------------------------------------------------------------
-- Parameter parsing (each raises CH400 naming the parameter)
-- ---------------------------------------------------------------------------

-- Map an API level parameter to the stored value; NULL/empty -> NULL.
CREATE OR REPLACE FUNCTION confhaven._api_level(level text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE
AS $$
BEGIN
    IF level IS NULL OR btrim(level) = '' THEN
        RETURN NULL;
    END IF;
    CASE lower(btrim(level))
        WHEN 'introductory', '100' THEN RETURN 'Introductory';
        WHEN 'intermediate', '200' THEN RETURN 'Intermediate';
        WHEN 'advanced', '300', '400' THEN RETURN 'Advanced';
        ELSE
            RAISE EXCEPTION USING ERRCODE = 'CH400',
                MESSAGE = format('unknown level %s', confhaven._show(level)),
                HINT = 'Use level=Introductory, Intermediate or Advanced (or 100, 200, 300, 400: 100 = Introductory, 200 = Intermediate, 300/400 = Advanced), or leave level out.';
    END CASE;
END
$$;

-- day: a date, or a day relative to the conference's "today".
CREATE OR REPLACE FUNCTION confhaven._api_day(day text, OUT v_day date, OUT v_rel integer)
LANGUAGE plpgsql IMMUTABLE
AS $$
DECLARE
    d text := lower(btrim(day));
BEGIN
    IF d IS NULL OR d = '' THEN
        RETURN;
    END IF;
    CASE d
        WHEN 'today' THEN v_rel := 0;
        WHEN 'tomorrow' THEN v_rel := 1;
        WHEN 'yesterday' THEN v_rel := -1;
        ELSE
            IF d ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' THEN
                BEGIN
                    v_day := to_date(d, 'YYYY-MM-DD');
                    IF to_char(v_day, 'YYYY-MM-DD') <> d THEN     -- 2026-02-30
                        v_day := NULL;
                    END IF;
                EXCEPTION WHEN others THEN
                    v_day := NULL;
                END;
            END IF;
            IF v_day IS NULL THEN
                RAISE EXCEPTION USING ERRCODE = 'CH400',
                    MESSAGE = format('parameter "day" must be a date YYYY-MM-DD, "today" or "tomorrow", not %s',
                                     confhaven._show(day)),
                    HINT = 'e.g. day=2026-10-02 or day=tomorrow; today and tomorrow are judged in each conference''s own time zone.';
            END IF;
    END CASE;
END
$$;

-- starts_after / starts_before: exactly one of the outputs is set.
--   v_abs  an instant (date-time with Z or a UTC offset)
--   v_loc  a wall-clock date-time in the conference's zone (no offset)
--   v_tod  a time of day in the conference's zone (HH:MM)
-- A "+" in an unencoded query string arrives as a space, so
-- "2026-10-02T09:00:00 01:00" is read as "+01:00".
CREATE OR REPLACE FUNCTION confhaven._api_time(name text, val text,
    OUT v_abs timestamptz, OUT v_loc timestamp, OUT v_tod time)
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    t  text := upper(btrim(val));
    m  text[];
    ok boolean := false;
BEGIN
    IF t IS NULL OR t = '' THEN
        RETURN;
    END IF;
    BEGIN
        IF t ~ '^([01]?[0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$' THEN
            v_tod := t::time;
            ok := true;
        ELSE
            m := regexp_match(t, '^([0-9]{4}-[0-9]{2}-[0-9]{2})[T ]([0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?)'
                                 '(Z|[+ -][0-9]{2}(:?[0-9]{2})?)?$');
            IF m IS NOT NULL
               AND to_char(to_date(m[1], 'YYYY-MM-DD'), 'YYYY-MM-DD') = m[1]
               AND m[2] ~ '^([01][0-9]|2[0-3]):[0-5][0-9]' THEN
                IF m[5] IS NULL THEN
                    v_loc := (m[1] || ' ' || m[2])::timestamp;
                ELSE
                    v_abs := (m[1] || 'T' || m[2]
                              || CASE WHEN m[5] = 'Z' THEN '+00'
                                      WHEN left(m[5], 1) = ' ' THEN '+' || substr(m[5], 2)
                                      ELSE m[5] END)::timestamptz;
                END IF;
                ok := true;
            END IF;
        END IF;
    EXCEPTION WHEN others THEN
        ok := false;
    END;
    IF NOT ok OR abs(extract(timezone_hour FROM v_abs)) > 14 THEN
        RAISE EXCEPTION USING ERRCODE = 'CH400',
            MESSAGE = format('parameter "%s" must be an ISO 8601 date-time with a UTC offset '
                             '(2026-10-02T09:00:00+01:00 or ...Z), a local date-time (2026-10-02T09:00) '
                             'or a local time HH:MM, not %s', name, confhaven._show(val)),
            HINT = format('Local times are in the conference''s time zone; HH:MM applies to the chosen day, '
                          'or to every day without one (e.g. %s=13:00). Percent-encode "+" as %%2B.', name);
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION confhaven._api_language_error(lang text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE
AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'CH400',
        MESSAGE = format('parameter "language" must be en, de, fr or es (or English, German, French, Spanish), not %s',
                         confhaven._show(lang)),
        HINT = 'The session''s language comes from the schedule where it says so, else from its text.';
END
$$;

-- language: a sessions.search_lang value (see detect_language).
CREATE OR REPLACE FUNCTION confhaven._api_language(lang text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE
AS $$
DECLARE
    l text := lower(btrim(lang));
BEGIN
    IF l IS NULL OR l = '' THEN
        RETURN NULL;
    END IF;
    l := translate(l, 'çñ', 'cn');
    RETURN CASE
        WHEN l IN ('en', 'eng', 'english') OR l ~ '^en[-_][a-z]{2}$' THEN 'english'
        WHEN l IN ('de', 'ger', 'deu', 'german', 'deutsch') OR l ~ '^de[-_][a-z]{2}$' THEN 'german'
        WHEN l IN ('fr', 'fre', 'fra', 'french', 'francais') OR l ~ '^fr[-_][a-z]{2}$' THEN 'french'
        WHEN l IN ('es', 'spa', 'spanish', 'espanol') OR l ~ '^es[-_][a-z]{2}$' THEN 'spanish'
        ELSE confhaven._api_language_error(lang) END;
END
$$;

-- Cursors: hex text (case does not matter: the HTTP cache key folds case).
CREATE OR REPLACE FUNCTION confhaven._cursor_make(off integer, lim integer, at timestamptz, fp text)
RETURNS text
LANGUAGE sql STABLE
AS $$
    SELECT encode(convert_to(format('c1|%s|%s|%s|%s', off, lim,
                                    (extract(epoch FROM at) * 1000000)::bigint, fp), 'UTF8'), 'hex');
$$;

CREATE OR REPLACE FUNCTION confhaven._cursor_read(cur text, fp text,
    OUT off integer, OUT lim integer, OUT at timestamptz)
LANGUAGE plpgsql IMMUTABLE
AS $$
DECLARE
    p text[];
BEGIN
    BEGIN
        p := string_to_array(convert_from(decode(lower(btrim(cur)), 'hex'), 'UTF8'), '|');
        IF array_length(p, 1) = 5 AND p[1] = 'c1' AND p[2] ~ '^[0-9]{1,4}$' AND p[3] ~ '^[0-9]{1,2}$'
           AND p[4] ~ '^-?[0-9]{1,18}$' THEN
            off := p[2]::integer;
            lim := p[3]::integer;
            at := to_timestamp(p[4]::bigint / 1000000.0);
        END IF;
    EXCEPTION WHEN others THEN
        off := NULL;
    END;
    IF off IS NULL OR off > 1000 OR lim NOT BETWEEN 1 AND 50 THEN
        RAISE EXCEPTION USING ERRCODE = 'CH400',
            MESSAGE = format('parameter "cursor" is not a cursor this API issued: %s', confhaven._show(left(cur, 60))),
            HINT = 'Pass "next_cursor" from the previous page unchanged, with the same filters; or use offset=0..1000.';
    END IF;
    IF p[5] IS DISTINCT FROM fp THEN
        RAISE EXCEPTION USING ERRCODE = 'CH400',
            MESSAGE = 'parameter "cursor" belongs to a search with other filters',
            HINT = 'Repeat the q and filters of the first page with its next_cursor, or start again without cursor.';
    END IF;
END
$$;

-- ---------------------------------------------------------------------------
-- Query understanding
-- ---------------------------------------------------------------------------

-- OR of the non-empty alternatives, each distinct one once, in the order
-- of their first occurrence (smaller queries rank faster).  plpgsql: a
-- loop of simple expressions costs less than a query per call, and
-- _search_parse calls it for every word and synonym.
CREATE OR REPLACE FUNCTION confhaven._tsq_or_distinct(alts tsquery[])
RETURNS tsquery
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
DECLARE
    x    tsquery;
    seen text[] := '{}';
BEGIN
    IF alts IS NULL THEN
        RETURN NULL;
    END IF;
    FOREACH x IN ARRAY alts LOOP
        CONTINUE WHEN x IS NULL OR numnode(x) = 0 OR x::text = ANY (seen);
        seen := seen || x::text;
    END LOOP;
    IF cardinality(seen) = 0 THEN
        RETURN NULL;
    END IF;
    RETURN ('(' || array_to_string(seen, ') | (') || ')')::tsquery;
END
$$;

-- Restrict every lexeme of a tsquery to the given weights ('A', 'AB').
CREATE OR REPLACE FUNCTION confhaven._tsq_weights(q tsquery, w text)
RETURNS tsquery
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT regexp_replace(q::text, '(''(?:[^'']|'''')*'')(?::(\*))?', '\1:\2' || w, 'g')::tsquery;
$$;

-- Synonyms of a normalised term: the operator's (search_synonyms) and the
-- acronyms and expansions learned from the schedules in scope
-- (search_acronyms, 015: an acronym gives its expansions, an expansion its
-- acronyms).  NULL when there are none.
CREATE OR REPLACE FUNCTION confhaven._search_synonyms(v_term text, conf_id bigint)
RETURNS text[]
LANGUAGE sql STABLE
AS $$
    SELECT array_agg(DISTINCT x.syn)
      FROM (SELECT s.synonym AS syn FROM confhaven.search_synonyms s WHERE s.term = v_term
            UNION ALL
            SELECT a.expansion FROM confhaven.search_acronyms a
             WHERE a.acronym = v_term AND (conf_id IS NULL OR a.conference_id = conf_id)
            UNION ALL
            SELECT a.acronym FROM confhaven.search_acronyms a
             WHERE a.expansion = v_term AND (conf_id IS NULL OR a.conference_id = conf_id)) x
     WHERE x.syn <> v_term;
$$;

-- Turns the user's text into tsqueries and substring patterns:
--   q_match  what a session must match (OR of the word groups; with explicit
--            web-search syntax — quotes, "or", -word — that syntax instead)
--   q_all    AND of the word groups (ranking: all words present, proximity)
--   q_any    OR of the word groups (ranking and ts_headline)
--   pat      ILIKE-free LIKE pattern %core% on normalised text (NULL when
--            the core is shorter than 3 characters: trigram indexes need 3)
--   exact    normalised query for the exact-title rule
--   info     jsonb: words, ignored words, synonyms used, prefixes, corrections
--   grp, idf the word groups and the inverse document frequency of each
--            (BM25's, from search_words and conferences.session_count over
--            the conference searched or all active ones): what is rare
--            weighs more
-- A word group is one query word (or a 2-5 word synonym term or learned
-- expansion) as: its English, German, French and Spanish stems and the word
-- itself (all accent-free), its synonyms as phrases, a prefix match when the
-- word is the last one, is not a known word but starts known words
-- ("observab"), or is a rare word that starts much more common ones
-- ("auth"), the longer words of German schedules that hold it
-- ("sicherheit" in "cloudsicherheit"), and the closest known word (edit
-- distance, then trigram similarity) when it is neither known nor a prefix
-- or is a word so rare next to a neighbour one edit away that it is most
-- likely a typo (typo: "copliot" -> "copilot", "kubernettes").  Noise
-- words of natural questions ("talks", "anything", "tomorrow") are dropped.
-- A question of three or more word groups is matched and ranked by its
-- informative groups: those whose idf is at least half the largest (words
-- that most sessions use weigh nothing, without a list of them).
-- Generic plans only: with the word as a constant a custom plan folds the
-- whole condition, so the plan cache never chose the generic plan and
-- replanned every statement on every call (about 1 ms a search); the
-- vocabulary lookups carry explicit index ranges for the generic plans.
CREATE OR REPLACE FUNCTION confhaven._search_parse(
    q text, conf_id bigint,
    OUT q_match tsquery, OUT q_all tsquery, OUT q_any tsquery,
    OUT pat text, OUT pat_full text, OUT exact text, OUT core text, OUT info jsonb,
    OUT grp tsquery[], OUT idf float8[])
LANGUAGE plpgsql STABLE
SET client_min_messages = warning
SET plan_cache_mode = force_generic_plan
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
    v_extra  text[] := '{}';
    prefixes text[] := '{}';
    parts    text[];
    synused  jsonb := '{}';
    corrs    jsonb := '{}';
    found_term boolean;
    v_n      float8;
    v_df     float8;
    v_own    float8;
    v_pre    float8;
    v_max    float8;
    v_german bigint[];
    v_syn    jsonb;
    v_grams  text[];
    q_inf    tsquery;
    q_infa   tsquery;
BEGIN
    exact := qn;
    grp := '{}';
    idf := '{}';
    SELECT greatest(coalesce(sum(c.session_count), 0), 1),
           coalesce(array_agg(c.id) FILTER (WHERE 'german' = ANY (c.search_langs)), '{}')
      INTO v_n, v_german
      FROM confhaven.conferences c
     WHERE c.is_active AND (conf_id IS NULL OR c.id = conf_id);
    SELECT coalesce(array_agg(t ORDER BY o), '{}') INTO toks
      FROM (SELECT regexp_replace(regexp_replace(x, '^[^a-z0-9.#@]+', ''), '[^a-z0-9#+]+$', '') AS t, o
              FROM unnest(string_to_array(qn, ' ')) WITH ORDINALITY u(x, o)) y
     WHERE t <> '';
    -- a question is read by its first 32 words, the rest reported as
    -- ignored: every word costs lookups and a match pass
    IF array_length(toks, 1) > 32 THEN
        v_extra := toks[33:];
        toks := toks[1:32];
    END IF;
    n := coalesce(array_length(toks, 1), 0);
    -- the synonyms of every run of 1-5 query words, in one statement
    -- (a lookup per run and length cost more than the rest of the parse)
    v_grams := ARRAY(SELECT array_to_string(toks[ga.a:ga.a + gk.k - 1], ' ')
                       FROM generate_series(1, n) ga(a), generate_series(1, 5) gk(k)
                      WHERE ga.a + gk.k - 1 <= n);
    SELECT coalesce(jsonb_object_agg(y.term, y.syns), '{}') INTO v_syn
      FROM (SELECT x.term, jsonb_agg(DISTINCT x.syn) AS syns
              FROM (SELECT s.term, s.synonym AS syn FROM confhaven.search_synonyms s
                     WHERE s.term = ANY (v_grams)
                    UNION ALL
                    SELECT a.acronym, a.expansion FROM confhaven.search_acronyms a
                     WHERE a.acronym = ANY (v_grams) AND (conf_id IS NULL OR a.conference_id = conf_id)
                    UNION ALL
                    SELECT a.expansion, a.acronym FROM confhaven.search_acronyms a
                     WHERE a.expansion = ANY (v_grams) AND (conf_id IS NULL OR a.conference_id = conf_id)) x
             WHERE x.syn <> x.term
             GROUP BY x.term) y;

    WHILE i <= n LOOP
        found_term := false;
        -- multi-word synonym terms and learned expansions first (longest)
        FOR k IN REVERSE 5..2 LOOP
            CONTINUE WHEN i + k - 1 > n;
            v_term := array_to_string(toks[i:i + k - 1], ' ');
            CONTINUE WHEN NOT v_syn ? v_term;
            syns := ARRAY(SELECT jsonb_array_elements_text(v_syn -> v_term));
            IF syns IS NOT NULL THEN
                g := confhaven._tsq_or_distinct(ARRAY[phraseto_tsquery('confhaven.ch_english', v_term),
                                                      phraseto_tsquery('confhaven.ch_simple', v_term)]);
                FOR j IN 1..array_length(syns, 1) LOOP
                    g := confhaven._tsq_or_distinct(ARRAY[g, phraseto_tsquery('confhaven.ch_english', syns[j]),
                                                          phraseto_tsquery('confhaven.ch_simple', syns[j])]);
                END LOOP;
                synused := synused || jsonb_build_object(v_term, to_jsonb(syns));
                words := words || v_term;
                -- a term is as rare as its rarest word
                SELECT min(x.n) INTO v_df
                  FROM (SELECT coalesce(sum(w.ndoc), 0) AS n
                          FROM unnest(toks[i:i + k - 1]) t(word)
                          LEFT JOIN confhaven.search_words w
                                 ON w.word = t.word AND (conf_id IS NULL OR w.conference_id = conf_id)
                         GROUP BY t.word) x;
                grp := grp || g;
                idf := idf || ln(1 + (v_n - v_df + 0.5) / (v_df + 0.5));
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
        syns := NULL;
        IF v_syn ? tok THEN
            syns := ARRAY(SELECT jsonb_array_elements_text(v_syn -> tok));
        END IF;
        IF EXISTS (SELECT 1 FROM confhaven.search_noise_words w WHERE w.word = tok)
           OR numnode(plainto_tsquery('english', tok)) = 0
           OR numnode(plainto_tsquery('german', tok)) = 0
           OR length(tok) < 2 AND tok !~ '^[0-9]$' THEN
            IF syns IS NULL THEN
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

        SELECT coalesce(sum(w.ndoc), 0) INTO v_own
          FROM confhaven.search_words w
         WHERE w.word = tok AND (conf_id IS NULL OR w.conference_id = conf_id);
        v_df := v_own;
        corr := NULL;
        -- a word so rare that a neighbour one edit away (a doubled or
        -- dropped letter, two letters swapped) is used ten times as often
        -- is most likely that neighbour misspelt: search both
        IF tok ~ '^[a-z0-9]{5,}$' AND v_own > 0 AND v_own <= 2 AND syns IS NULL AND NOT explicit THEN
            SELECT x.word INTO corr
              FROM (SELECT w.word, sum(w.ndoc) AS n
                      FROM confhaven.search_words w
                     WHERE w.word % tok
                       AND (conf_id IS NULL OR w.conference_id = conf_id)
                       AND abs(length(w.word) - length(tok)) <= 1 AND w.word <> tok
                     GROUP BY w.word) x
             WHERE levenshtein_less_equal(x.word, tok, 2) <= 1
               AND (x.n >= 10 * v_own
                    OR x.n >= 3 * v_own AND length(x.word) = length(tok) - 1 AND tok ~ '([a-z])\1')
             ORDER BY x.n DESC, x.word
             LIMIT 1;
            IF corr IS NOT NULL THEN
                g := confhaven._tsq_or_distinct(ARRAY[g, plainto_tsquery('confhaven.ch_english', corr),
                                                      plainto_tsquery('confhaven.ch_simple', corr)]);
                corrs := corrs || jsonb_build_object(tok, corr);
            END IF;
        END IF;

        -- unknown word: a prefix of known words, or a typo
        IF tok ~ '^[a-z0-9]{3,}$' AND v_own = 0 AND syns IS NULL THEN
            SELECT sum(w.ndoc) INTO v_pre
              FROM confhaven.search_words w
             WHERE w.word ~>=~ tok AND w.word ~<~ (tok || chr(1114111))    -- index range
               AND w.word LIKE tok || '%' AND (conf_id IS NULL OR w.conference_id = conf_id);
            IF v_pre > 0 THEN
                g := g || to_tsquery('simple', tok || ':*');
                prefixes := prefixes || tok;
                v_df := v_pre;
            ELSIF length(tok) >= 4 THEN
                -- candidates: trigram-similar words, or words with the same
                -- first letter within a small edit distance (transpositions
                -- break most trigrams); closest edit distance wins
                SELECT x.word, x.n INTO corr, v_df
                  FROM (SELECT w.word, sum(w.ndoc) AS n
                          FROM confhaven.search_words w
                         WHERE (w.word % tok
                                OR w.word ~>=~ left(tok, 1) AND w.word ~<~ (left(tok, 1) || chr(1114111)))
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
                    syns := confhaven._search_synonyms(tok, conf_id);
                ELSE
                    v_df := 0;
                END IF;
            END IF;
        ELSIF i > n AND NOT explicit AND tok ~ '^[a-z0-9]{2,}$' AND q ~ '[[:alnum:]]\s*$' THEN
            g := g || to_tsquery('simple', tok || ':*');       -- typing: last word as a prefix
            prefixes := prefixes || tok;
        ELSIF NOT explicit AND tok ~ '^[a-z]{4,}$' AND syns IS NULL THEN
            -- a known word that mostly starts longer words ("auth" of
            -- authentication, authorization): a prefix as well
            SELECT sum(w.ndoc) INTO v_pre
              FROM confhaven.search_words w
             WHERE w.word ~>=~ (tok || chr(1)) AND w.word ~<~ (tok || chr(1114111))    -- index range
               AND w.word LIKE tok || '_%' AND (conf_id IS NULL OR w.conference_id = conf_id);
            IF v_pre >= 3 * v_own THEN
                g := g || to_tsquery('simple', tok || ':*');
                prefixes := prefixes || tok;
                v_df := v_df + v_pre;
            END IF;
        END IF;

        -- German compounds: longer words of German schedules that hold
        -- the word ("sicherheit" in "cloudsicherheit", "sicherheitslucken")
        IF NOT explicit AND tok ~ '^[a-z]{4,}$' AND v_german <> '{}' THEN
            SELECT array_agg(x.word ORDER BY x.n DESC, x.word) INTO parts
              FROM (SELECT c.word, sum(c.ndoc) AS n
                      FROM confhaven.search_compounds c
                     WHERE c.part = tok AND c.conference_id = ANY (v_german)
                     GROUP BY c.word
                     ORDER BY n DESC, c.word
                     LIMIT 20) x;
            IF parts IS NOT NULL THEN
                g := g || ('''' || array_to_string(parts, ''' | ''') || '''')::tsquery;
            END IF;
        END IF;

        IF syns IS NOT NULL THEN
            FOR k IN 1..array_length(syns, 1) LOOP
                g := confhaven._tsq_or_distinct(ARRAY[g, phraseto_tsquery('confhaven.ch_english', syns[k]),
                                                      phraseto_tsquery('confhaven.ch_simple', syns[k])]);
            END LOOP;
            synused := synused || jsonb_build_object(tok, to_jsonb(syns));
        END IF;
        words := words || tok;
        grp := grp || g;
        idf := idf || ln(1 + (v_n - least(v_df, v_n) + 0.5) / (least(v_df, v_n) + 0.5));
        q_all := CASE WHEN q_all IS NULL THEN g ELSE q_all && g END;
        q_any := CASE WHEN q_any IS NULL THEN g ELSE q_any || g END;
    END LOOP;

    q_match := q_any;
    -- a question: rank by its informative groups (and look for them first)
    IF cardinality(grp) >= 3 AND NOT explicit THEN
        SELECT max(x) INTO v_max FROM unnest(idf) x;
        FOR j IN 1..cardinality(grp) LOOP
            CONTINUE WHEN idf[j] < v_max / 2;
            q_inf := CASE WHEN q_inf IS NULL THEN grp[j] ELSE q_inf && grp[j] END;
            q_infa := CASE WHEN q_infa IS NULL THEN grp[j] ELSE q_infa || grp[j] END;
        END LOOP;
        q_all := q_inf;
        q_any := q_infa;
    END IF;

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
        pat := CASE WHEN length(core) >= 3
                    THEN '%' || replace(replace(replace(core, '\', '\\'), '%', '\%'), '_', '\_') || '%' END;
    END IF;
    pat_full := CASE WHEN length(qn) >= 3 AND qn IS DISTINCT FROM core
                     THEN '%' || replace(replace(replace(qn, '\', '\\'), '%', '\%'), '_', '\_') || '%' END;
    ignored := ignored || v_extra;
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

-- The highlight of a search (issue 13: ts_headline parsed and stemmed
-- every word of each page row's abstract, about a third of a one-word
-- search).  _highlight_pattern turns the operands of the highlight query
-- into one regular expression, once per search: each lexeme as the start
-- of a word (a stem is the start of the words it stems from: "secur" of
-- "security"; short ones whole or with a plural "s"; a stem ending in "i"
-- also with "y": "studi" of "study"), matched without regard to case.
-- _highlight marks the matches in the plain abstract with «» and keeps at
-- most two fragments of 28 words, each from a few words before a mark,
-- joined by " … " (what the ts_headline options below ask for).  No HTML:
-- the snippet rules forbid markup.  Only when the pattern finds nothing
-- (an accented word: lexemes are accent-free; a stem that does not start
-- its word) does it fall back to ts_headline; NULL when the abstract does
-- not match.  plpgsql so that its plans are cached per connection.
CREATE OR REPLACE FUNCTION confhaven._highlight_pattern(q tsquery)
RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
DECLARE
    m    text[];
    l    text;
    a    text;
    lex  text[] := '{}';
    pre  boolean[] := '{}';
    alts text[] := '{}';
    i    integer;
    j    integer;
BEGIN
    IF q IS NULL THEN
        RETURN NULL;
    END IF;
    FOR m IN SELECT regexp_matches(q::text, '''((?:[^'']|'''')*)''(:\*)?', 'g') LOOP
        l := replace(m[1], '''''', '''');
        CONTINUE WHEN l = '' OR l = ANY (lex);
        lex := lex || l;
        pre := pre || (m[2] IS NOT NULL OR length(l) >= 6);
    END LOOP;
    <<lexemes>>
    FOR i IN 1..cardinality(lex) LOOP
        -- a word that a prefix already matches needs no branch of its own
        FOR j IN 1..cardinality(lex) LOOP
            CONTINUE lexemes WHEN j <> i AND pre[j] AND left(lex[i], length(lex[j])) = lex[j]
                                  AND (length(lex[i]) > length(lex[j]) OR j < i);
        END LOOP;
        l := lex[i];
        a := regexp_replace(l, '([^[:alnum:]])', '\\\1', 'g');
        a := CASE WHEN pre[i] THEN a || '[[:alnum:]]*'
                  WHEN length(l) >= 4 THEN a || '[[:alnum:]]{0,4}'
                  ELSE a || 's?' END;
        IF l ~ '^[a-z]{3,}i$' THEN
            a := a || '|' || left(l, -1) || 'y[[:alnum:]]{0,4}';
        END IF;
        alts := alts || a;
    END LOOP;
    IF alts = '{}' THEN
        RETURN NULL;
    END IF;
    RETURN '(^|[^[:alnum:]])(' || array_to_string(alts, '|') || ')(?![[:alnum:]])';
END
$$;

CREATE OR REPLACE FUNCTION confhaven._highlight(lang text, plain text, q tsquery, pat text)
RETURNS text
LANGUAGE plpgsql STABLE PARALLEL SAFE
AS $$
DECLARE
    h    text;
    rest text;
    w    text[];
    n    integer;
    k    integer;
    p    integer;
    s1   integer;
    e1   integer;
    s2   integer;
BEGIN
    IF plain IS NULL OR q IS NULL THEN
        RETURN NULL;
    END IF;
    IF pat IS NOT NULL THEN
        h := regexp_replace(plain, pat, '\1«\2»', 'gi');
        k := strpos(h, '«');
        IF k > 0 THEN
            -- words: abstract_plain's white space is collapsed to spaces
            w := string_to_array(h, ' ');
            n := cardinality(w);
            IF n <= 28 THEN
                RETURN h;
            END IF;
            -- the first fragment: from a few words before the first mark
            p := k - length(replace(left(h, k - 1), ' ', ''));
            s1 := greatest(1, p - 4);
            e1 := least(n, s1 + 27);
            s1 := greatest(1, e1 - 27);
            h := array_to_string(w[s1:e1], ' ');
            -- the second: the same around the first mark after it
            IF e1 < n THEN
                rest := array_to_string(w[e1 + 1:n], ' ');
                k := strpos(rest, '«');
                IF k > 0 THEN
                    p := e1 + k - length(replace(left(rest, k - 1), ' ', ''));
                    s2 := greatest(e1 + 1, p - 4);
                    h := h || ' … ' || array_to_string(w[s2:least(n, s2 + 27)], ' ');
                END IF;
            END IF;
            RETURN h;
        END IF;
    END IF;
    RETURN confhaven._highlight_headline(lang, plain, q);
END
$$;

-- The fallback: ts_headline in the session's language, then unstemmed
-- (prefixes match unstemmed words only).
CREATE OR REPLACE FUNCTION confhaven._highlight_headline(lang text, plain text, q tsquery)
RETURNS text
LANGUAGE plpgsql STABLE PARALLEL SAFE
AS $$
DECLARE
    h text;
BEGIN
    h := ts_headline(confhaven.lang_config(lang), plain, q,
                     'StartSel=«, StopSel=», MaxWords=28, MinWords=12, ShortWord=2, MaxFragments=2, FragmentDelimiter=" … "');
    IF strpos(h, '«') = 0 THEN
        h := ts_headline('confhaven.ch_simple', plain, q,
                         'StartSel=«, StopSel=», MaxWords=28, MinWords=12, ShortWord=2, MaxFragments=2, FragmentDelimiter=" … "');
    END IF;
    RETURN CASE WHEN strpos(h, '«') > 0 THEN h END;
END
$$;

-- The session's own part of a search result (sessions.card, a stored
-- generated column: 020_search_card.sql, which holds the same definition:
-- change both, and rewrite the column, together).
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

-- confhaven.snippet (10_util.sql: the first 240 characters cut at the
-- last white space) without its backtracking regular expression (10 us a
-- page row): the cut is found with strpos when the only white space in
-- the first 240 characters is the space (abstract_plain's white space is
-- collapsed to spaces), else confhaven.snippet decides.  The same text.
CREATE OR REPLACE FUNCTION confhaven._search_snippet(plain text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE
        WHEN plain IS NULL OR length(plain) <= 240 THEN plain
        WHEN replace(left(plain, 240), ' ', '') ~ '[[:space:]]' THEN confhaven.snippet(plain)
        ELSE coalesce(nullif(rtrim(left(plain, 241 - nullif(strpos(reverse(left(plain, 240)), ' '), 0)), ' '), ''),
                      left(plain, 240)) || '…'
    END;
$$;

-- The time tests of one session (its start, its conference's zone).
CREATE OR REPLACE FUNCTION confhaven._search_time_ok(
    st timestamptz, tz text, v_now timestamptz, v_day date, v_dayrel integer,
    v_aft timestamptz, v_bef timestamptz, v_aft_l timestamp, v_bef_l timestamp, v_aft_t time, v_bef_t time)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT st IS NOT NULL
       AND (v_day IS NULL AND v_dayrel IS NULL
            OR (st AT TIME ZONE tz)::date = coalesce(v_day, (v_now AT TIME ZONE tz)::date + v_dayrel))
       AND (v_aft IS NULL OR st >= v_aft)
       AND (v_bef IS NULL OR st < v_bef)
       AND (v_aft_l IS NULL OR (st AT TIME ZONE tz) >= v_aft_l)
       AND (v_bef_l IS NULL OR (st AT TIME ZONE tz) < v_bef_l)
       AND (v_aft_t IS NULL OR (st AT TIME ZONE tz)::time >= v_aft_t)
       AND (v_bef_t IS NULL OR (st AT TIME ZONE tz)::time < v_bef_t);
$$;

-- The seed rules' points of one session (the cheap part of the score and
-- of the pre-rank); inlined into the candidate queries.
CREATE OR REPLACE FUNCTION confhaven._search_seed(
    title_norm text, tags_norm text, abstract_norm text, speakers_norm text,
    exact text, core text, pat text, pat_full text)
RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT (10 * coalesce(title_norm = exact OR title_norm = core, false)::int
            + 5 * coalesce(title_norm LIKE pat OR title_norm LIKE pat_full, false)::int
            + 3 * coalesce(tags_norm LIKE pat, false)::int
            + 2 * coalesce(abstract_norm LIKE pat, false)::int
            + (CASE WHEN coalesce(speakers_norm LIKE pat, false)
                    THEN CASE WHEN core LIKE '% %' THEN 4 ELSE 1 END ELSE 0 END))::numeric;
$$;

-- The sessions whose abstract_norm may hold core, as a query of their
-- documents (issue 13: the trigram index on abstract_norm was a third of a
-- new conference's import).  Every run of letters and digits of core is
-- inside a lexeme of the abstract's unstemmed vector: at the lexeme's
-- start when core has a space before the run, at its end when core has
-- one after it (a space always ends a token).  The lexemes of
-- search_lexemes whose normalised form holds a run so are found by its
-- trigram index; the query is the AND over the runs of the OR of their
-- lexemes.  A run whose pattern has no trigram (one or two characters,
-- neither end anchored) is left out unless all runs are such.  NULL
-- when some run is in no lexeme: no session's document has it (abstracts
-- the parser may read otherwise, _abstract_odd, have their own candidate
-- in _search_doc_candidates).  The one approximation: for a core of such
-- short runs only ("c++"), a run in more than 20,000 lexemes keeps the
-- 20,000 shortest.
CREATE OR REPLACE FUNCTION confhaven._search_substring_query(core text)
RETURNS tsquery
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    r        record;
    q        tsquery;
    words    text;
    n_usable integer := 0;
BEGIN
    FOR r IN
        SELECT CASE WHEN m.sep_before THEN '' ELSE '%' END || m.run
               || CASE WHEN m.sep_after THEN '' ELSE '%' END AS like_pat,
               (length(m.run) >= 3 OR m.sep_before OR m.sep_after) AS usable
          FROM (SELECT y.run, length(y.run) AS len,
                       coalesce(substr(core, y.pos - 1, 1) = ' ', false) AS sep_before,
                       coalesce(substr(core, y.pos + length(y.run), 1) = ' ', false) AS sep_after
                  FROM (SELECT t.run,
                               (sum(length(t.run) + length(t.sep)) OVER (ORDER BY t.o)
                               - length(t.run) - length(t.sep) + 1)::integer AS pos
                          FROM (SELECT u.m[1] AS run, u.m[2] AS sep, u.o
                                  FROM regexp_matches(core, '([[:alnum:]]*)([^[:alnum:]]*)', 'g')
                                       WITH ORDINALITY u(m, o)) t) y
                 WHERE y.run <> '') m
         ORDER BY 2 DESC, m.len DESC
    LOOP
        EXIT WHEN NOT r.usable AND n_usable > 0;
        SELECT string_agg('''' || replace(replace(l.word, '\', '\\'), '''', '''''') || '''', ' | ')
          INTO words
          FROM (SELECT l.word FROM confhaven.search_lexemes l
                 WHERE l.word_norm LIKE r.like_pat
                 ORDER BY length(l.word), l.word
                 LIMIT CASE WHEN r.usable THEN NULL ELSE 20000 END) l;
        IF words IS NULL THEN
            RETURN NULL;
        END IF;
        q := CASE WHEN q IS NULL THEN words::tsquery ELSE q && words::tsquery END;
        n_usable := n_usable + r.usable::integer;
    END LOOP;
    RETURN q;
END
$$;

-- The candidates of the document tiers (the whole document, then any word
-- group): matching sessions with their pre-rank points and what the facets
-- need, at most cap + 1, in arrays.  One function for the two copies the
-- tiers had, on generic plans: _search_page's custom plans of this
-- statement were rebuilt on almost every call (1.5-2 ms of planning, more
-- than the statement itself at 10,000 sessions); the generic plan is the
-- same bitmap scans of the document and trigram indexes.
CREATE OR REPLACE FUNCTION confhaven._search_doc_candidates(
    v_qm tsquery, v_qa_a tsquery, q_any tsquery,
    exact text, core text, pat text, pat_full text,
    v_act_all boolean, v_active bigint[], v_conf bigint, v_tracks bigint[], v_level text,
    v_spat text, v_rooms bigint[], v_lang text,
    v_timed boolean, v_lo timestamptz, v_hi timestamptz, v_now timestamptz,
    v_day date, v_dayrel integer, v_aft timestamptz, v_bef timestamptz,
    v_aft_l timestamp, v_bef_l timestamp, v_aft_t time, v_bef_t time,
    v_past boolean, v_open bigint[], v_cap integer,
    OUT c_id bigint[], OUT c_seed numeric[], OUT c_boost integer[], OUT c_st timestamptz[],
    OUT c_cf bigint[], OUT c_tr bigint[], OUT c_lv text[])
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    -- abstract_norm LIKE pat through the documents (issue 13)
    v_qsub tsquery := CASE WHEN pat IS NOT NULL
                           THEN confhaven._search_substring_query(core) END;
    v_sub  bigint[];
BEGIN
    -- the sessions whose abstract holds the substring (abstract_norm LIKE
    -- pat, among the sessions the statement below can keep), found
    -- without reading their documents: the document index gives the
    -- sessions with a lexeme holding it, LIKE decides; the odd abstracts
    -- by their trigrams (below, "s.id = ANY (v_sub)" is a cheap recheck,
    -- where a document test read each row's document once more)
    IF pat IS NOT NULL THEN
        SELECT array_agg(s.id) INTO v_sub
          FROM confhaven.sessions s
         WHERE ((s.abstract_norm LIKE pat AND confhaven._abstract_odd(s.abstract_plain))
                OR s.document @@ v_qsub)
           AND s.abstract_norm LIKE pat
           AND NOT s.is_service
           AND (v_conf IS NULL OR s.conference_id = v_conf);
    END IF;
    WITH m AS MATERIALIZED (
            SELECT s.id, s.start_at, s.conference_id, s.track_id, s.level,
                   confhaven._search_seed(s.title_norm, s.tags_norm, s.abstract_norm, s.speakers_norm,
                                          exact, core, pat, pat_full) AS seed,
                   6 * (v_qa_a IS NOT NULL AND s.head_doc @@ v_qa_a)::int
                   + 3 * (q_any IS NOT NULL AND s.head_doc @@ q_any)::int AS boost
              FROM confhaven.sessions s
             -- (the substring tests first: the trigram indexes make every
             -- row of their pages a row to recheck, and the document of a
             -- row is read from TOAST only when no substring test holds)
             WHERE (s.title_norm LIKE pat_full
                    OR s.title_norm LIKE pat
                    OR s.tags_norm LIKE pat
                    OR s.speakers_norm LIKE pat
                    OR s.id = ANY (v_sub)        -- abstract_norm LIKE pat
                    OR s.document @@ v_qm)
                     AND NOT s.is_service
                     AND (v_act_all OR s.conference_id = ANY (v_active))
                     AND (v_conf IS NULL OR s.conference_id = v_conf)
                     AND (v_tracks IS NULL OR s.track_id = ANY (v_tracks))
                     AND (v_level IS NULL OR s.level = v_level)
                     AND (v_spat IS NULL OR s.speakers_norm LIKE v_spat)
                     AND (v_rooms IS NULL OR s.room_id = ANY (v_rooms))
                     AND (v_lang IS NULL OR s.search_lang = v_lang)
                     AND (NOT v_timed OR (s.start_at >= v_lo AND s.start_at < v_hi
                          AND confhaven._search_time_ok(s.start_at, (SELECT c.timezone FROM confhaven.conferences c WHERE c.id = s.conference_id),
                                                        v_now, v_day, v_dayrel, v_aft, v_bef, v_aft_l, v_bef_l, v_aft_t, v_bef_t)))
                     AND (v_past OR s.end_at >= v_now
                          OR (s.end_at IS NULL AND s.conference_id = ANY (v_open))))
    SELECT array_agg(x.id), array_agg(x.seed), array_agg(x.boost), array_agg(x.start_at),
           array_agg(x.conference_id), array_agg(x.track_id), array_agg(x.level)
      INTO c_id, c_seed, c_boost, c_st, c_cf, c_tr, c_lv
      FROM (SELECT m.* FROM m LIMIT v_cap + 1) x;
END
$$;

CREATE OR REPLACE FUNCTION confhaven._search_page(
    f jsonb, v_off integer, v_now timestamptz, v_facets boolean, v_suggest boolean,
    v_info jsonb DEFAULT '{}', v_echo text DEFAULT NULL, v_fp text DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql STABLE
SET client_min_messages = warning
SET jit = off
AS $$
DECLARE
    v_q       text := f ->> 'q';
    v_conf    bigint := (f ->> 'conf')::bigint;
    v_track   text := f ->> 'track';
    v_level   text := f ->> 'level';
    v_lim     integer := (f ->> 'lim')::integer;
    v_past    boolean := (f ->> 'past')::boolean;
    v_speaker text := f ->> 'speaker';
    v_room    text := f ->> 'room';
    v_day     date := (f ->> 'day')::date;
    v_dayrel  integer := (f ->> 'dayrel')::integer;
    v_aft     timestamptz := (f ->> 'aft')::timestamptz;
    v_bef     timestamptz := (f ->> 'bef')::timestamptz;
    v_aft_l   timestamp := (f ->> 'aft_l')::timestamp;
    v_bef_l   timestamp := (f ->> 'bef_l')::timestamp;
    v_aft_t   time := (f ->> 'aft_t')::time;
    v_bef_t   time := (f ->> 'bef_t')::time;
    v_lang    text := f ->> 'lang';
    v_spat    text;
    v_rooms   bigint[];
    v_timed   boolean;
    v_lo      timestamptz := '-infinity';
    v_hi      timestamptz := 'infinity';
    p         record;
    v_tracks  bigint[];
    v_page    bigint[];
    v_psc     numeric[];
    v_phl     boolean[];
    v_cid     bigint[];
    v_cseed   numeric[];
    v_cboost  integer[];
    v_cst     timestamptz[];
    v_ccf     bigint[];
    v_ctr     bigint[];
    v_clv     text[];
    v_open    bigint[];
    v_act_all boolean;
    v_active  bigint[];
    v_same    boolean;
    v_total   integer;
    v_capped  boolean;
    v_minst   timestamptz;
    v_slug    text;
    v_count   integer;
    v_rows    text;
    v_text    text;
    v_sugg    text;
    v_n       integer;
    v_what    text;
    v_hl      tsquery;
    v_hlpat   text;
    v_qobj    json;
    v_qext    jsonb;
    v_hlc     tsquery;
    v_qm      tsquery;
    v_qa_a    tsquery;
    v_enough  integer;
    v_idfsum  numeric;
    v_qw      tsquery;
    v_k       integer;
    v_facet   json;
    v_next    text;
    v_try     jsonb;
    v_tryname text;
    -- candidates per query (see 004); one more tells that there are more
    v_cap     integer := 2000;
BEGIN
    IF v_track IS NOT NULL THEN
        SELECT coalesce(array_agg(t.id), '{}') INTO v_tracks FROM confhaven.tracks t
         WHERE lower(t.name) = lower(v_track) AND (v_conf IS NULL OR t.conference_id = v_conf);
    END IF;
    IF v_room IS NOT NULL THEN
        SELECT array_agg(r.id) INTO v_rooms FROM confhaven.rooms r
         WHERE confhaven.norm(btrim(r.name)) = confhaven.norm(v_room)
           AND (v_conf IS NULL OR r.conference_id = v_conf);
        IF v_rooms IS NULL THEN
            SELECT coalesce(array_agg(r.id), '{}') INTO v_rooms FROM confhaven.rooms r
             WHERE strpos(confhaven.norm(r.name), confhaven.norm(v_room)) > 0
               AND (v_conf IS NULL OR r.conference_id = v_conf);
        END IF;
    END IF;
    IF v_speaker IS NOT NULL THEN
        v_spat := '%' || replace(replace(replace(v_speaker, '\', '\\'), '%', '\%'), '_', '\_') || '%';
    END IF;
    IF v_conf IS NOT NULL THEN
        SELECT c.slug INTO v_slug FROM confhaven.conferences c WHERE c.id = v_conf;
    END IF;

    -- Time filters: exact per-row tests below, plus loose bounds on
    -- start_at (every zone is within UTC-12..UTC+14) for the start index.
    v_timed := v_day IS NOT NULL OR v_dayrel IS NOT NULL OR v_aft IS NOT NULL OR v_bef IS NOT NULL
               OR v_aft_l IS NOT NULL OR v_bef_l IS NOT NULL OR v_aft_t IS NOT NULL OR v_bef_t IS NOT NULL;
    IF v_timed THEN
        IF v_day IS NOT NULL THEN
            v_lo := (v_day::timestamp - interval '14 hours') AT TIME ZONE 'UTC';
            v_hi := (v_day::timestamp + interval '36 hours') AT TIME ZONE 'UTC';
        ELSIF v_dayrel IS NOT NULL THEN
            v_lo := date_trunc('day', v_now AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' + (v_dayrel - 2) * interval '1 day';
            v_hi := date_trunc('day', v_now AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' + (v_dayrel + 3) * interval '1 day';
        END IF;
        v_lo := greatest(v_lo, v_aft, (v_aft_l - interval '14 hours') AT TIME ZONE 'UTC');
        v_hi := least(v_hi, v_bef, (v_bef_l + interval '12 hours') AT TIME ZONE 'UTC');
    END IF;

    -- Conference-level conditions without a join (the generic plans
    -- rescanned conferences once per matching session): whether every
    -- conference in scope is active (else the active ones), and the open
    -- ones (not ended in their own zone: what a session without an end time
    -- is judged by).
    SELECT coalesce(bool_and(c.is_active), true) INTO v_act_all
      FROM confhaven.conferences c WHERE v_conf IS NULL OR c.id = v_conf;
    IF NOT v_act_all THEN
        SELECT coalesce(array_agg(c.id), '{}') INTO v_active
          FROM confhaven.conferences c WHERE c.is_active AND (v_conf IS NULL OR c.id = v_conf);
    END IF;
    IF NOT v_past THEN
        SELECT coalesce(array_agg(c.id), '{}') INTO v_open
          FROM confhaven.conferences c
         WHERE c.is_active AND (v_conf IS NULL OR c.id = v_conf)
           AND (c.end_date IS NULL OR c.end_date >= (v_now AT TIME ZONE c.timezone)::date);
    END IF;

    -- Both paths leave the candidates in arrays (v_cid... in one order):
    -- without q the first v_cap + 1 by start time, with q the matches of a
    -- tier (at most v_cap + 1, which ones above the cap is not defined) with
    -- their pre-rank; what a facet needs (start, conference, track, level)
    -- comes from the same pass, so sessions are read once per search.
    IF v_q IS NULL THEN
        IF v_past THEN
            v_minst := '-infinity';
        ELSE            -- a session not yet ended started at most max_duration ago
            SELECT v_now - coalesce(max(c.max_duration), interval '0') - interval '1 day' INTO v_minst
              FROM confhaven.conferences c WHERE c.is_active AND (v_conf IS NULL OR c.id = v_conf);
        END IF;
        v_minst := greatest(v_minst, v_lo);
        SELECT count(*),
               array_agg(y.id ORDER BY y.n) FILTER (WHERE y.n BETWEEN v_off + 1 AND v_off + v_lim),
               array_agg(0::numeric) FILTER (WHERE y.n BETWEEN v_off + 1 AND v_off + v_lim),
               array_agg(y.start_at) FILTER (WHERE v_facets AND y.n <= v_cap),
               array_agg(y.conference_id) FILTER (WHERE v_facets AND y.n <= v_cap),
               array_agg(y.track_id) FILTER (WHERE v_facets AND y.n <= v_cap),
               array_agg(y.level) FILTER (WHERE v_facets AND y.n <= v_cap)
          INTO v_total, v_page, v_psc, v_cst, v_ccf, v_ctr, v_clv
          FROM (SELECT x.*, row_number() OVER (ORDER BY x.start_at NULLS LAST, x.id) AS n FROM (
                  (SELECT s.id, s.start_at, s.conference_id, s.track_id, s.level
                     FROM confhaven.sessions s
                    WHERE s.start_at >= v_minst AND s.start_at < v_hi
                        AND NOT s.is_service
                        AND (v_act_all OR s.conference_id = ANY (v_active))
                        AND (v_conf IS NULL OR s.conference_id = v_conf)
                        AND (v_tracks IS NULL OR s.track_id = ANY (v_tracks))
                        AND (v_level IS NULL OR s.level = v_level)
                        AND (v_spat IS NULL
                             OR EXISTS (SELECT 1 FROM confhaven.sessions s2
                                         WHERE s2.id = s.id AND s2.speakers_norm LIKE v_spat))
                        AND (v_rooms IS NULL OR s.room_id = ANY (v_rooms))
                        AND (v_lang IS NULL OR s.search_lang = v_lang)
                        AND (NOT v_timed OR confhaven._search_time_ok(s.start_at, (SELECT c.timezone FROM confhaven.conferences c WHERE c.id = s.conference_id),
                                                v_now, v_day, v_dayrel, v_aft, v_bef, v_aft_l, v_bef_l, v_aft_t, v_bef_t))
                        AND (v_past OR s.end_at >= v_now
                             OR (s.end_at IS NULL AND s.conference_id = ANY (v_open)))
                    ORDER BY s.start_at, s.id
                    LIMIT v_cap + 1)
                  UNION ALL
                  (SELECT s.id, s.start_at, s.conference_id, s.track_id, s.level  -- unscheduled sessions come last
                     FROM confhaven.sessions s
                    WHERE s.start_at IS NULL AND NOT v_timed
                        AND NOT s.is_service
                        AND (v_act_all OR s.conference_id = ANY (v_active))
                        AND (v_conf IS NULL OR s.conference_id = v_conf)
                        AND (v_tracks IS NULL OR s.track_id = ANY (v_tracks))
                        AND (v_level IS NULL OR s.level = v_level)
                        AND (v_spat IS NULL
                             OR EXISTS (SELECT 1 FROM confhaven.sessions s2
                                         WHERE s2.id = s.id AND s2.speakers_norm LIKE v_spat))
                        AND (v_rooms IS NULL OR s.room_id = ANY (v_rooms))
                        AND (v_lang IS NULL OR s.search_lang = v_lang)
                        AND (v_past OR s.conference_id = ANY (v_open))
                    ORDER BY s.id
                    LIMIT v_cap + 1)) x
                ORDER BY x.start_at NULLS LAST, x.id
                LIMIT v_cap + 1) y;
    ELSE
        SELECT * INTO p FROM confhaven._search_parse(v_q, v_conf);
        v_info := v_info || p.info;
        v_qa_a := CASE WHEN p.q_all IS NOT NULL THEN confhaven._tsq_weights(p.q_all, 'A') END;
        v_enough := greatest(v_lim * 3, 50);
        -- The tiers of 004: each only when the previous found too little.
        -- Each is a MATERIALIZED CTE with the cap applied outside it (see
        -- the head of 007): planned for all its rows, run only as far as
        -- the LIMIT reads it.
        v_qm := coalesce(p.q_all, p.q_match);
        WITH m AS MATERIALIZED (
                SELECT s.id, s.start_at, s.conference_id, s.track_id, s.level,
                       confhaven._search_seed(s.title_norm, s.tags_norm, s.abstract_norm, s.speakers_norm,
                                              p.exact, p.core, p.pat, p.pat_full) AS seed,
                       6 * (v_qa_a IS NOT NULL AND s.head_doc @@ v_qa_a)::int
                       + 3 * (p.q_any IS NOT NULL AND s.head_doc @@ p.q_any)::int AS boost
                  FROM confhaven.sessions s
                 WHERE (s.head_doc @@ v_qm
                        OR s.title_norm LIKE p.pat_full
                        OR s.title_norm LIKE p.pat
                        OR s.tags_norm LIKE p.pat)
                         AND NOT s.is_service
                         AND (v_act_all OR s.conference_id = ANY (v_active))
                         AND (v_conf IS NULL OR s.conference_id = v_conf)
                         AND (v_tracks IS NULL OR s.track_id = ANY (v_tracks))
                         AND (v_level IS NULL OR s.level = v_level)
                         AND (v_spat IS NULL OR s.speakers_norm LIKE v_spat)
                         AND (v_rooms IS NULL OR s.room_id = ANY (v_rooms))
                         AND (v_lang IS NULL OR s.search_lang = v_lang)
                         AND (NOT v_timed OR (s.start_at >= v_lo AND s.start_at < v_hi
                              AND confhaven._search_time_ok(s.start_at, (SELECT c.timezone FROM confhaven.conferences c WHERE c.id = s.conference_id),
                                                            v_now, v_day, v_dayrel, v_aft, v_bef, v_aft_l, v_bef_l, v_aft_t, v_bef_t)))
                         AND (v_past OR s.end_at >= v_now
                              OR (s.end_at IS NULL AND s.conference_id = ANY (v_open))))
        SELECT array_agg(x.id), array_agg(x.seed), array_agg(x.boost), array_agg(x.start_at),
               array_agg(x.conference_id), array_agg(x.track_id), array_agg(x.level)
          INTO v_cid, v_cseed, v_cboost, v_cst, v_ccf, v_ctr, v_clv
          FROM (SELECT m.* FROM m LIMIT v_cap + 1) x;
        IF coalesce(array_length(v_cid, 1), 0) < v_enough THEN
            SELECT * INTO v_cid, v_cseed, v_cboost, v_cst, v_ccf, v_ctr, v_clv
              FROM confhaven._search_doc_candidates(v_qm, v_qa_a, p.q_any, p.exact, p.core, p.pat, p.pat_full,
                       v_act_all, v_active, v_conf, v_tracks, v_level, v_spat, v_rooms, v_lang,
                       v_timed, v_lo, v_hi, v_now, v_day, v_dayrel, v_aft, v_bef, v_aft_l, v_bef_l, v_aft_t, v_bef_t,
                       v_past, v_open, v_cap);
            -- then any word group: first the informative ones of a question
            -- (q_any), then all of them (q_match); with web-search syntax
            -- only what that syntax says (q_match)
            FOREACH v_qw IN ARRAY ARRAY[CASE WHEN NOT p.info ? 'syntax' THEN p.q_any END, p.q_match] LOOP
                CONTINUE WHEN v_qw IS NULL OR coalesce(array_length(v_cid, 1), 0) >= v_lim
                              OR v_qw::text IS NOT DISTINCT FROM v_qm::text;
                v_qm := v_qw;
                SELECT * INTO v_cid, v_cseed, v_cboost, v_cst, v_ccf, v_ctr, v_clv
                  FROM confhaven._search_doc_candidates(v_qm, v_qa_a, p.q_any, p.exact, p.core, p.pat, p.pat_full,
                           v_act_all, v_active, v_conf, v_tracks, v_level, v_spat, v_rooms, v_lang,
                           v_timed, v_lo, v_hi, v_now, v_day, v_dayrel, v_aft, v_bef, v_aft_l, v_bef_l, v_aft_t, v_bef_t,
                           v_past, v_open, v_cap);
            END LOOP;
        END IF;
        v_total := coalesce(array_length(v_cid, 1), 0);

        -- One total order: the best v_k by the cheap pre-rank scored in
        -- full and sorted by score, then the others in pre-rank order.
        -- The document (large) is read only for the rows that get the full
        -- score: the best v_k and the page's rows; only the page leaves the
        -- statement.  A one-word query has q_all = q_any: one ts_rank_cd.
        v_hl := coalesce(p.q_any, p.q_match);
        v_hlpat := confhaven._highlight_pattern(v_hl);
        -- ts_headline marks a word only when its lexeme is an operand of
        -- v_hl; the document's weight C part holds the abstract's lexemes
        -- under the same two configurations, so an abstract without any
        -- operand is not parsed (twice) for nothing.  The ranking reads the
        -- documents of the page's rows anyway: it answers for them.
        SELECT string_agg(m[1] || CASE WHEN m[2] IS NOT NULL THEN ':*C' ELSE ':C' END, ' | ')::tsquery
          INTO v_hlc
          FROM regexp_matches(v_hl::text, '(''(?:[^'']|'''')*'')(:\*)?', 'g') m;
        v_k := greatest(v_lim * 3, 60);
        -- BM25's idea on top of the field points: the share of the query's
        -- information (idf) a session holds, for queries of several groups
        IF cardinality(p.grp) >= 2 THEN
            SELECT sum(x)::numeric INTO v_idfsum FROM unnest(p.idf) x;
        END IF;
        v_same := p.q_any IS NOT NULL AND p.q_all::text = p.q_any::text;
        -- (only the rows that can reach the best v_k or the page get a
        -- pre-rank position: a bounded sort, not one of every candidate;
        -- the full score is computed once per row, MATERIALIZED: the
        -- sort below used to evaluate it again)
        WITH ranked AS (
            SELECT cand.id, cand.start_at, cand.seed,
                   row_number() OVER (ORDER BY cand.seed + cand.boost DESC, cand.start_at NULLS LAST, cand.id) AS prn
              FROM (SELECT u.id, u.seed, u.boost, u.start_at
                      FROM unnest(v_cid[1:v_cap], v_cseed[1:v_cap], v_cboost[1:v_cap], v_cst[1:v_cap])
                           u(id, seed, boost, start_at)
                     ORDER BY u.seed + u.boost DESC, u.start_at NULLS LAST, u.id
                     LIMIT greatest(v_k, v_off + v_lim)) cand),
        scored AS MATERIALIZED (
            SELECT r.id, r.start_at, r.prn,
                   r.seed
                   + CASE WHEN p.q_all IS NOT NULL AND d.document @@ p.q_all
                          THEN 10 * CASE WHEN v_same THEN k.r_any
                                         ELSE ts_rank_cd(d.document, p.q_all, 32)::numeric END
                          ELSE 0 END
                   + coalesce(5 * k.r_any, 0)
                   + CASE WHEN v_idfsum > 0
                          THEN 4 * (SELECT coalesce(sum(u.w), 0) FROM unnest(p.grp, p.idf) u(g, w)
                                     WHERE d.document @@ u.g)::numeric / v_idfsum
                          ELSE 0 END AS score,
                   coalesce(d.document @@ v_hlc, false) AS hl
              FROM ranked r
             -- (the document is read from TOAST once per row: "|| ''" makes
             -- the one in-memory copy that every test below uses; the stored
             -- value is fetched again at each use, four and more per row)
             CROSS JOIN LATERAL (SELECT s.document || ''::tsvector AS document
                                   FROM confhaven.sessions s WHERE s.id = r.id OFFSET 0) d
             CROSS JOIN LATERAL (SELECT CASE WHEN p.q_any IS NOT NULL
                                             THEN ts_rank_cd(d.document, p.q_any, 32)::numeric END AS r_any
                                 OFFSET 0) k
             WHERE r.prn <= v_k OR r.prn BETWEEN v_off + 1 AND v_off + v_lim),
        placed AS (
            -- position in the total order: the best v_k by score, then prn
            SELECT x.id, x.score, x.hl,
                   CASE WHEN x.prn <= v_k
                        THEN row_number() OVER (ORDER BY x.prn > v_k, CASE WHEN x.prn <= v_k THEN x.score END DESC,
                                                CASE WHEN x.prn <= v_k THEN x.start_at END NULLS LAST,
                                                CASE WHEN x.prn <= v_k THEN x.id END, x.prn)
                        ELSE x.prn END AS pos
              FROM scored x)
        SELECT array_agg(x.id ORDER BY x.pos), array_agg(x.score ORDER BY x.pos), array_agg(x.hl ORDER BY x.pos)
          INTO v_page, v_psc, v_phl
          FROM placed x
         WHERE x.pos BETWEEN v_off + 1 AND v_off + v_lim;
    END IF;

    v_total := coalesce(v_total, 0);
    v_capped := v_total > v_cap;
    IF v_total > v_cap THEN
        v_total := v_cap;
    END IF;

    IF v_facets THEN
        -- counts over the values the candidates' pass collected (no second
        -- visit of the sessions; days per start time, then per day); a
        -- track name shared by several conferences is one value (three
        -- plain GROUP BYs over the arrays: about a fifth cheaper than
        -- one GROUPING SETS pass over a materialized CTE)
        SELECT json_build_object(
                   'track', coalesce((SELECT json_agg(json_build_object('value', t.value, 'count', t.n)
                                                      ORDER BY t.n DESC, t.value NULLS LAST)
                                        FROM (SELECT tr.name AS value, sum(g.n)::bigint AS n
                                                FROM (SELECT u.track_id, count(*) AS n
                                                        FROM unnest(v_ctr[1:v_cap]) u(track_id)
                                                       GROUP BY u.track_id) g
                                                LEFT JOIN confhaven.tracks tr ON tr.id = g.track_id
                                               GROUP BY tr.name) t), '[]'::json),
                   'level', coalesce((SELECT json_agg(json_build_object('value', l.value, 'count', l.n)
                                                      ORDER BY array_position(ARRAY['Introductory', 'Intermediate', 'Advanced'],
                                                                              l.value) NULLS LAST)
                                        FROM (SELECT u.level AS value, count(*) AS n
                                                FROM unnest(v_clv[1:v_cap]) u(level)
                                               GROUP BY u.level) l), '[]'::json),
                   'day', coalesce((SELECT json_agg(json_build_object('value', to_char(d.value, 'YYYY-MM-DD'),
                                                                      'count', d.n)
                                                    ORDER BY d.value NULLS LAST)
                                      FROM (SELECT (g.start_at AT TIME ZONE c.timezone)::date AS value,
                                                   sum(g.n)::bigint AS n
                                              FROM (SELECT u.conference_id, u.start_at, count(*) AS n
                                                      FROM unnest(v_ccf[1:v_cap], v_cst[1:v_cap])
                                                           u(conference_id, start_at)
                                                     GROUP BY u.conference_id, u.start_at) g
                                              JOIN confhaven.conferences c ON c.id = g.conference_id
                                             GROUP BY 1) d), '[]'::json))
          INTO v_facet;
    END IF;

    IF v_off + v_lim < v_total AND v_off + v_lim <= 1000 AND v_fp IS NOT NULL THEN
        v_next := confhaven._cursor_make(v_off + v_lim, v_lim, v_now, v_fp);
    END IF;

    -- Nothing found: say what was searched and what a relaxation would find.
    IF v_total = 0 AND v_suggest THEN
        v_what := concat_ws(' ',
            CASE WHEN v_q IS NOT NULL THEN format('sessions matching %s', to_json(v_q)) ELSE 'sessions' END,
            CASE WHEN v_slug IS NOT NULL THEN format('at %s', v_slug) END,
            CASE WHEN v_track IS NOT NULL THEN format('in track %s', to_json(v_track)) END,
            CASE WHEN v_level IS NOT NULL THEN format('at level %s', v_level) END,
            CASE WHEN v_speaker IS NOT NULL THEN format('by a speaker named like %s', to_json(v_speaker)) END,
            CASE WHEN v_room IS NOT NULL THEN format('in room %s', to_json(v_room)) END,
            CASE WHEN v_lang IS NOT NULL THEN format('in %s', initcap(v_lang)) END,
            CASE WHEN v_day IS NOT NULL THEN format('on %s', v_day)
                 WHEN v_dayrel IS NOT NULL THEN CASE v_dayrel WHEN 0 THEN 'today' WHEN 1 THEN 'tomorrow'
                                                            ELSE 'yesterday' END END,
            CASE WHEN coalesce(v_aft::text, v_aft_l::text, v_aft_t::text, v_bef::text, v_bef_l::text,
                               v_bef_t::text) IS NOT NULL THEN 'in the time window' END,
            CASE WHEN NOT v_past THEN 'that have not ended yet' END);
        -- relaxations, most specific first; the first that finds something wins
        FOR v_tryname, v_try IN
            SELECT x.name, x.ff FROM (VALUES
                (1, 'add include_past=true', CASE WHEN NOT v_past THEN f || '{"past": true}' END),
                (2, 'leave out starts_after and starts_before',
                    CASE WHEN f ?| ARRAY['aft', 'bef', 'aft_l', 'bef_l', 'aft_t', 'bef_t']
                         THEN f - ARRAY['aft', 'bef', 'aft_l', 'bef_l', 'aft_t', 'bef_t'] END),
                (3, 'leave out day', CASE WHEN f ?| ARRAY['day', 'dayrel'] THEN f - ARRAY['day', 'dayrel'] END),
                (4, 'leave out room', CASE WHEN f ? 'room' THEN f - 'room' END),
                (5, 'leave out speaker', CASE WHEN f ? 'speaker' THEN f - 'speaker' END),
                (6, 'leave out language', CASE WHEN f ? 'lang' THEN f - 'lang' END),
                (7, 'leave out level', CASE WHEN f ? 'level' THEN f - 'level' END),
                (8, 'leave out track (track names: GET /api/conferences/{slug})',
                    CASE WHEN f ? 'track' THEN f - 'track' END),
                (9, 'leave out conference', CASE WHEN f ? 'conf' THEN f - 'conf' END),
                (10, 'leave out every filter and add include_past=true',
                    CASE WHEN v_q IS NOT NULL AND (f - ARRAY['q', 'lim', 'past'] <> '{}' OR NOT v_past)
                         THEN jsonb_build_object('q', v_q, 'lim', 50, 'past', true) END)
            ) x(o, name, ff)
            WHERE x.ff IS NOT NULL
            ORDER BY x.o
        LOOP
            v_n := (confhaven._search_page(v_try || '{"lim": 50}', 0, v_now, false, false) ->> 'total')::integer;
            IF v_n > 0 THEN
                v_sugg := format('%s %s if you %s.',
                                 CASE WHEN v_n >= v_cap THEN v_cap || ' or more' ELSE v_n::text END,
                                 CASE WHEN v_n = 1 THEN 'session matches' ELSE 'sessions match' END, v_tryname);
                EXIT;
            END IF;
        END LOOP;
        v_sugg := format('No %s.', v_what) || ' '
               || coalesce(v_sugg, CASE WHEN v_q IS NOT NULL
                                        THEN 'Try fewer or more general words (a topic, a technology or a speaker''s name).'
                                        ELSE 'Leave out filters to see more.' END);
    END IF;

    -- the query as understood, its optional keys after the others (as
    -- _json_extend; computed here: that SQL function is not inlined and
    -- was planned again on every search)
    v_qobj := json_build_object(
        'q', CASE WHEN v_suggest THEN v_echo ELSE v_q END,
        'conference', v_slug,
        'track', v_track,
        'level', v_level,
        'limit', v_lim,
        'include_past', v_past);
    v_qext := jsonb_strip_nulls(jsonb_build_object(
        'speaker', f ->> 'speaker_echo',
        'room', v_room,
        'day', coalesce(to_char(v_day, 'YYYY-MM-DD'),
                        CASE v_dayrel WHEN 0 THEN 'today' WHEN 1 THEN 'tomorrow' WHEN -1 THEN 'yesterday' END),
        'starts_after', f ->> 'aft_echo',
        'starts_before', f ->> 'bef_echo',
        'language', v_lang,
        'offset', CASE WHEN v_off > 0 THEN v_off END,
        'conference_given', f ->> 'conf_echo'));
    IF v_qext <> '{}' THEN
        v_qobj := (left(v_qobj::text, -1) || ', ' || substr(v_qext::text, 2))::json;
    END IF;

    -- the answer is written as text and read as JSON once (each cast of
    -- text to json parses it: the page and the facets were parsed apart)
    SELECT count(t.id),
        -- (each row: the session's own fields precomputed, sessions.card
        -- (020), joined with the conference's, room's and track's values,
        -- the times, the score and the highlight)
        coalesce('[' || string_agg(
            s.card[1] || coalesce(to_json(c.slug)::text, 'null')
            || s.card[2] || coalesce(to_json(confhaven.iso_local(s.start_at, c.timezone))::text, 'null')
            || ', "end" : ' || coalesce(to_json(confhaven.iso_local(s.end_at, c.timezone))::text, 'null')
            || ', "timezone" : ' || coalesce(to_json(c.timezone)::text, 'null')
            || ', "room" : ' || coalesce(to_json(r.name)::text, 'null')
            || ', "track" : ' || coalesce(to_json(tr.name)::text, 'null')
            || s.card[3] || coalesce(round(t.score, 3)::text, 'null')
            || ', "highlight" : '
            || coalesce(to_json(CASE WHEN t.hl THEN confhaven._highlight(s.search_lang, s.abstract_plain, v_hl, v_hlpat) END)::text,
                        'null')
            || '}', ', ' ORDER BY t.ord) FILTER (WHERE t.id IS NOT NULL) || ']', '[]')
      INTO v_count, v_rows
      FROM unnest(v_page, v_psc, v_phl) WITH ORDINALITY AS t(id, score, hl, ord)
      JOIN confhaven.sessions s ON s.id = t.id
      JOIN confhaven.conferences c ON c.id = s.conference_id
      LEFT JOIN confhaven.rooms r ON r.id = s.room_id
      LEFT JOIN confhaven.tracks tr ON tr.id = s.track_id;
    v_text := left(json_build_object(
                  'query', v_qobj,
                  'count', v_count,
                  'total', v_total,
                  'total_capped', v_capped,
                  'offset', v_off,
                  'next_cursor', v_next)::text, -1)
           || ', "sessions" : ' || v_rows || ', '
           || substr(json_build_object(
                  'suggestion', v_sugg,
                  'interpretation', CASE WHEN v_info <> '{}' THEN v_info END)::text, 2);
    IF v_facets THEN
        v_text := left(v_text, -1) || ', "facets" : ' || v_facet::text || '}';
    END IF;
    RETURN v_text::json;
END
$$;

-- ---------------------------------------------------------------------------
-- Entry points
-- ---------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION confhaven.api_search(
    q text, conference text, track text, level text, lim integer, include_past boolean,
    speaker text, room text, day text, starts_after text, starts_before text, language text,
    page_offset text, cursor text, facets boolean DEFAULT true)
RETURNS json
LANGUAGE plpgsql STABLE
SET client_min_messages = warning
AS $$
DECLARE
    v_raw     text := nullif(btrim(regexp_replace(q, '\s+', ' ', 'g')), '');
    v_q       text := v_raw;
    v_conf    bigint;
    v_level   text := confhaven._api_level(level);
    v_info    jsonb := '{}';
    m         record;
    v_qs      text;
    d         record;
    ta        record;
    tb        record;
    v_speaker text := nullif(btrim(regexp_replace(confhaven.norm(speaker), '\s+', ' ', 'g')), '');
    v_room    text := nullif(btrim(regexp_replace(room, '\s+', ' ', 'g')), '');
    v_track   text := nullif(btrim(track), '');
    v_lang    text := confhaven._api_language(language);
    v_lim     integer := least(greatest(coalesce(lim, 20), 1), 50);
    v_past    boolean := coalesce(include_past, false);
    v_off     integer := 0;
    v_now     timestamptz := now();
    v_fp      text;
    cur       record;
    v_given   text;
    f         jsonb;
BEGIN
    d := confhaven._api_day(day);
    ta := confhaven._api_time('starts_after', starts_after);
    tb := confhaven._api_time('starts_before', starts_before);
    IF nullif(btrim(page_offset), '') IS NOT NULL THEN
        IF btrim(page_offset) !~ '^[0-9]{1,5}$' OR btrim(page_offset)::integer > 1000 THEN
            RAISE EXCEPTION USING ERRCODE = 'CH400',
                MESSAGE = format('parameter "offset" must be an integer from 0 to 1000, not %s',
                                 confhaven._show(page_offset)),
                HINT = 'To go further, narrow the search with filters; or follow next_cursor.';
        END IF;
        v_off := btrim(page_offset)::integer;
        IF nullif(btrim(cursor), '') IS NOT NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'CH400',
                MESSAGE = 'parameters "offset" and "cursor" cannot be used together',
                HINT = 'Pass next_cursor from the previous page alone, or an offset alone.';
        END IF;
    END IF;

    IF nullif(btrim(conference), '') IS NOT NULL THEN
        v_conf := confhaven._resolve_conference(conference, 'CH400');
        -- given other than as its slug ("Scottish Summit 26"): echoed
        v_given := btrim(conference);
        IF v_given = (SELECT c.slug FROM confhaven.conferences c WHERE c.id = v_conf) THEN
            v_given := NULL;
        END IF;
    ELSIF v_q IS NOT NULL THEN
        -- conference name (without its year) or slug inside the query (as 004)
        v_qs := ' ' || btrim(regexp_replace(confhaven.norm(v_q), '[^a-z0-9]+', ' ', 'g')) || ' ';
        -- the keys (name without its year, slug without it, slug) are
        -- computed when the conference is written (query_keys, 013)
        SELECT c.id, k.key INTO m
          FROM confhaven.conferences c
         CROSS JOIN LATERAL unnest(c.query_keys) k(key)
         WHERE c.is_active AND length(k.key) >= 4 AND k.key ~ '[a-z]'
           AND (k.key LIKE '% %' OR k.key ~ '[0-9]')
           AND strpos(v_qs, ' ' || k.key || ' ') > 0
         ORDER BY length(k.key) DESC,
                  (c.end_date IS NULL OR c.end_date >= (now() AT TIME ZONE c.timezone)::date) DESC,
                  c.start_date DESC NULLS LAST
         LIMIT 1;
        IF FOUND THEN
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

    f := jsonb_strip_nulls(jsonb_build_object(
        'q', v_q, 'conf', v_conf, 'track', v_track, 'level', v_level, 'lim', v_lim, 'past', v_past,
        'speaker', v_speaker, 'room', v_room, 'day', d.v_day, 'dayrel', d.v_rel,
        'aft', ta.v_abs, 'aft_l', ta.v_loc, 'aft_t', ta.v_tod,
        'bef', tb.v_abs, 'bef_l', tb.v_loc, 'bef_t', tb.v_tod, 'lang', v_lang));
    -- what a cursor must match: the filters as understood, not the limit
    v_fp := left(md5((f - 'lim')::text || '|' || coalesce(lower(v_raw), '')), 12);

    IF nullif(btrim(cursor), '') IS NOT NULL THEN
        cur := confhaven._cursor_read(cursor, v_fp);
        v_off := cur.off;
        v_lim := cur.lim;
        v_now := cur.at;
        f := f || jsonb_build_object('lim', v_lim);
    END IF;

    RETURN confhaven._search_page(
        f || jsonb_strip_nulls(jsonb_build_object(
                 'speaker_echo', nullif(btrim(regexp_replace(speaker, '\s+', ' ', 'g')), ''),
                 'conf_echo', v_given,
                 'aft_echo', nullif(btrim(starts_after), ''), 'bef_echo', nullif(btrim(starts_before), ''))),
        v_off, v_now, coalesce(facets, true), true, v_info, v_raw, v_fp);
END
$$;

-- The short signature (ci/search-eval, ci/bench-scale, SQL users): the same
-- implementation, first page, no facets.
CREATE OR REPLACE FUNCTION confhaven.api_search(
    q text, conference text, track text, level text, lim integer, include_past boolean)
RETURNS json
LANGUAGE sql STABLE
AS $$
    SELECT confhaven.api_search(q, conference, track, level, lim, include_past,
                                NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, false);
$$;
