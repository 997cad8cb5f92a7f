-- 20_documents.sql — the search side of the data, written at import time:
-- text search configurations per language, language detection, the weighted
-- search documents and *_norm columns of sessions (_search_columns,
-- refresh_documents), the term statistics and how an import keeps them by
-- difference (_session_words, _session_acronyms, refresh_search_stats), and
-- the trigger function that keeps conferences.name_norm right.

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

-- True when the text search parser may leave a run of letters and digits
-- of an abstract in no lexeme: a "<" that starts what it reads as an HTML
-- tag, an entity ("&amp;"), a protocol ("https://"); it skips all three.
-- The predicate of sessions_abstract_norm_odd_idx (021): the substring
-- candidate of the search finds these abstracts by their trigrams, the
-- others through their lexemes (_search_substring_query).  Changing it
-- needs that index built again.
CREATE OR REPLACE FUNCTION confhaven._abstract_odd(t text)
RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT (strpos(t, '<') > 0 AND t ~ '<[[:alpha:]/!?]')
        OR (strpos(t, '&') > 0 AND t ~ '&[#[:alnum:]]+;')
        OR strpos(t, '://') > 0;
$$;

-- Weighted search document in the session's language plus unstemmed words
-- (search_document), and its head (title A, subtitle/tags/track B): the
-- reference definitions.  _search_columns builds the same vectors from
-- parts it computes once each (t/import_once.t compares them).
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

-- The expansion an acronym stands for in "words (ACR)" (before = true: the
-- words precede it; else "ACR (words)"), normalised; NULL when the words'
-- initials do not spell it.  The words nearest the acronym are taken, one
-- per letter; small lower-case joining words may be skipped.
CREATE OR REPLACE FUNCTION confhaven._acronym_expansion(acr text, words text, before boolean)
RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
DECLARE
    w     text[] := regexp_split_to_array(btrim(words, ' -'), '[ -]+');
    a     text := lower(regexp_replace(acr, '[^[:alpha:]]', '', 'g'));
    n     integer := coalesce(array_length(w, 1), 0);
    i     integer;
    step  integer := CASE WHEN before THEN -1 ELSE 1 END;
    k     integer;
    taken text[] := '{}';
BEGIN
    IF length(a) < 2 OR length(a) <> length(acr) OR n = 0 THEN
        RETURN NULL;
    END IF;
    -- walk from the acronym outwards, matching its letters from that end
    i := CASE WHEN before THEN n ELSE 1 END;
    k := CASE WHEN before THEN length(a) ELSE 1 END;
    WHILE k BETWEEN 1 AND length(a) LOOP
        IF i < 1 OR i > n THEN
            RETURN NULL;
        END IF;
        IF lower(left(w[i], 1)) = substr(a, k, 1) THEN
            taken := CASE WHEN before THEN w[i] || taken ELSE taken || w[i] END;
            k := k + step;
        ELSIF w[i] ~ '^[a-z]{1,3}$' AND taken <> '{}' THEN
            taken := CASE WHEN before THEN w[i] || taken ELSE taken || w[i] END;
        ELSE
            RETURN NULL;
        END IF;
        i := i + step;
    END LOOP;
    IF NOT before AND i <= n THEN
        RETURN NULL;       -- "ACR (words)": the parenthesis is the expansion
    END IF;
    RETURN confhaven.norm(array_to_string(taken, ' '));
END
$$;

-- The vocabulary words of a session (search_words counts the sessions that
-- use each: its document frequency; see "Term statistics" below).  Defined
-- here, before _search_columns, whose words equal it and which falls back
-- on it.
CREATE OR REPLACE FUNCTION confhaven._session_words(
    title text, tag_names text[], speaker_names text[], abstract_plain text)
RETURNS SETOF text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT w.word
      FROM unnest(tsvector_to_array(to_tsvector('confhaven.ch_simple',
               concat_ws(' ', title, array_to_string(tag_names, ' '),
                         array_to_string(speaker_names, ' '), abstract_plain)))) AS w(word)
     WHERE length(w.word) BETWEEN 2 AND 40;
$$;

-- The search columns of one session (sessions.document ... abstract_norm),
-- from its text, its track and its tag and speaker names in order: one
-- definition for the import (only the sessions it writes) and for
-- refresh_documents (a whole conference).  Each text is run through each
-- configuration once (issue 13: a new conference's import spent a third of
-- its time here): the language once, the seven vectors of the document
-- once each, the head document from the first four (search_document and
-- search_head_document give the same vectors), and words, the session's
-- vocabulary (_session_words), from the unstemmed vectors of its title,
-- abstract and speakers plus one of its tag names.  The text search parser
-- never makes one token across the space that joins two texts, except an
-- HTML/XML tag ("<b class=x>", which it skips): with a "<" in any of them,
-- words is _session_words' own single pass.  lexemes: the lexemes that
-- words may lack of the abstract's unstemmed vector, for search_lexemes
-- (021): those of 1 or more than 40 characters (of all four vectors; the
-- same pass as words), all of them when the title, tags or speakers hold
-- a "<".
CREATE OR REPLACE FUNCTION confhaven._search_columns(
    title text, subtitle text, abstract_plain text, language text,
    track text, tags text[], speakers text[])
RETURNS TABLE (document tsvector, head_doc tsvector, search_lang text,
               title_norm text, tags_norm text, speakers_norm text,
               abstract_norm text, words text[], lexemes text[])
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT v.head || setweight(v.lc, 'C') || setweight(v.sc, 'C') || setweight(v.sd, 'D'),
           v.head,
           x.lang,
           confhaven.norm(btrim(title)),
           coalesce(confhaven.norm(concat_ws(' | ', track, array_to_string(tags, ' | '))), ''),
           coalesce(confhaven.norm(array_to_string(speakers, ' | ')), ''),
           coalesce(confhaven.norm(abstract_plain), ''),
           CASE WHEN strpos(concat(title, array_to_string(tags, ' '), array_to_string(speakers, ' '),
                                   abstract_plain), '<') = 0
                THEN u.words
                ELSE ARRAY(SELECT w.word
                             FROM confhaven._session_words(title, tags, speakers,
                                                           abstract_plain) AS w(word)) END,
           CASE WHEN strpos(concat(title, array_to_string(tags, ' '),
                                   array_to_string(speakers, ' ')), '<') = 0
                THEN u.others
                ELSE tsvector_to_array(v.sc) END
      FROM (SELECT confhaven.detect_language(language,
                       concat_ws(' ', title, subtitle, abstract_plain)) AS lang
             OFFSET 0) x    -- once: pulled up, it ran for each use of lang
     CROSS JOIN LATERAL (
            SELECT setweight(y.la, 'A') || setweight(y.sa, 'A')
                   || setweight(y.lb, 'B') || setweight(y.sb, 'B') AS head,
                   y.sa, y.lc, y.sc, y.sd
              FROM (SELECT to_tsvector(confhaven.lang_config(x.lang), coalesce(title, '')) AS la,
                           to_tsvector('confhaven.ch_simple', coalesce(title, '')) AS sa,
                           to_tsvector(confhaven.lang_config(x.lang),
                                       concat_ws(' ', subtitle, track, array_to_string(tags, ' '))) AS lb,
                           to_tsvector('confhaven.ch_simple',
                                       concat_ws(' ', subtitle, track, array_to_string(tags, ' '))) AS sb,
                           to_tsvector(confhaven.lang_config(x.lang), coalesce(abstract_plain, '')) AS lc,
                           to_tsvector('confhaven.ch_simple', coalesce(abstract_plain, '')) AS sc,
                           to_tsvector('confhaven.ch_simple',
                                       coalesce(array_to_string(speakers, ' '), '')) AS sd
                     OFFSET 0) y    -- each vector once
             OFFSET 0) v
     CROSS JOIN LATERAL (
            SELECT coalesce(array_agg(w.word) FILTER (WHERE length(w.word) BETWEEN 2 AND 40),
                            '{}') AS words,
                   coalesce(array_agg(w.word) FILTER (WHERE length(w.word) NOT BETWEEN 2 AND 40),
                            '{}') AS others
              FROM unnest(tsvector_to_array(
                       v.sa || v.sd || v.sc
                       || to_tsvector('confhaven.ch_simple',
                                      coalesce(array_to_string(tags, ' '), '')))) AS w(word)) u;
$$;

-- ---------------------------------------------------------------------------
-- Term statistics (search_words, search_acronyms, search_compounds and the
-- counters of conferences).  What one session contributes is defined once,
-- here (and _session_words above); refresh_search_stats sums it over a
-- conference from scratch, the import (_apply_sessions, 30_import.sql) adds
-- and subtracts it for the sessions it inserted, rewrote or deleted only
-- (issue 13: an import costs what changed, not what the database holds).
-- Service sessions contribute nothing.
-- ---------------------------------------------------------------------------

-- Acronyms a session spells out (015): "Software Defined Radio (SDR)",
-- "SDR (Software Defined Radio)"; the acronym's letters are the initials
-- of the words next to it (small joining words such as "as", "of" may be
-- skipped: "Infrastructure as Code (IAC)").
CREATE OR REPLACE FUNCTION confhaven._session_acronyms(
    title text, subtitle text, abstract_plain text)
RETURNS TABLE (acronym text, expansion text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT y.acr, y.exp
      FROM (SELECT lower(x.acr) AS acr,
                   confhaven._acronym_expansion(x.acr, x.words, x.before) AS exp
              FROM (SELECT m[2] AS acr, m[1] AS words, true AS before
                      FROM regexp_matches(concat_ws(' . ', title, subtitle, abstract_plain),
                                          '((?:[[:alpha:]]+[ -]){1,9})\(([[:upper:]][[:upper:]0-9]{1,7})s?\)', 'g') m
                    UNION ALL
                    SELECT m[1], m[2], false
                      FROM regexp_matches(concat_ws(' . ', title, subtitle, abstract_plain),
                                          '\m([[:upper:]][[:upper:]0-9]{1,7})s? \(((?:[[:alpha:]]+[ -]?){2,9})\)', 'g') m) x) y
     WHERE y.exp IS NOT NULL;
$$;

-- The long words of a German session, candidates for compounds (015): the
-- English ones of a mixed schedule are not German compounds
-- ("phoneboxes"), so only sessions whose search_lang is german count.
CREATE OR REPLACE FUNCTION confhaven._session_long_words(
    title text, subtitle text, abstract_plain text)
RETURNS SETOF text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT t.word
      FROM unnest(tsvector_to_array(to_tsvector('confhaven.ch_simple',
               concat_ws(' ', title, subtitle, abstract_plain)))) t(word)
     WHERE length(t.word) >= 7 AND t.word ~ '^[a-z]+$';
$$;

-- German compounds of a conference (015), from its sessions and its
-- vocabulary (search_words, which must be up to date): each word of at
-- least 4 letters found inside a word at least 3 letters longer; parts:
-- their first and last 4 or more letters ("cloud|sicherheit", whether or
-- not the schedule uses the part alone), and words of the vocabulary
-- inside them.  No rows for a conference without German sessions.
CREATE OR REPLACE FUNCTION confhaven._search_compounds_of(p_conference_id bigint)
RETURNS TABLE (part text, word text, ndoc integer)
LANGUAGE sql STABLE
AS $$
    SELECT DISTINCT x.part, w.word, w.ndoc
      FROM (SELECT DISTINCT t.word
              FROM confhaven.sessions s
             CROSS JOIN LATERAL confhaven._session_long_words(s.title, s.subtitle, s.abstract_plain) t(word)
             WHERE s.conference_id = p_conference_id AND s.search_lang = 'german' AND NOT s.is_service) g
      JOIN confhaven.search_words w ON w.conference_id = p_conference_id AND w.word = g.word
     CROSS JOIN LATERAL (
            SELECT left(w.word, l) AS part FROM generate_series(4, length(w.word) - 3) l
            UNION ALL
            SELECT right(w.word, l) FROM generate_series(4, length(w.word) - 3) l
            UNION ALL
            SELECT p.word
              FROM generate_series(2, length(w.word) - 7) i
             CROSS JOIN LATERAL generate_series(4, length(w.word) - i - 1) l
              JOIN confhaven.search_words p
                ON p.conference_id = p_conference_id AND p.word = substr(w.word, i, l)) x;
$$;

-- Make search_compounds of a conference what _search_compounds_of says,
-- writing only the rows that differ.
CREATE OR REPLACE FUNCTION confhaven._sync_search_compounds(p_conference_id bigint)
RETURNS void
LANGUAGE sql VOLATILE
AS $$
    WITH n AS MATERIALIZED (
        SELECT x.part, x.word, x.ndoc FROM confhaven._search_compounds_of(p_conference_id) x),
    del AS (
        DELETE FROM confhaven.search_compounds sc
         WHERE sc.conference_id = p_conference_id
           AND NOT EXISTS (SELECT 1 FROM n WHERE n.part = sc.part AND n.word = sc.word)
        RETURNING 1)
    INSERT INTO confhaven.search_compounds AS sc (conference_id, part, word, ndoc)
    SELECT p_conference_id, n.part, n.word, n.ndoc FROM n
    ON CONFLICT (part, conference_id, word) DO UPDATE SET ndoc = EXCLUDED.ndoc
     WHERE sc.ndoc IS DISTINCT FROM EXCLUDED.ndoc;
$$;

-- Counters of a conference kept on its row: sessions, longest session and
-- languages (non-service sessions); true when the row changed.
CREATE OR REPLACE FUNCTION confhaven._refresh_conference_counters(p_conference_id bigint)
RETURNS boolean
LANGUAGE plpgsql
AS $$
BEGIN
    UPDATE confhaven.conferences c
       SET session_count = x.n, max_duration = x.maxd, name_norm = confhaven.norm(c.name),
           search_langs = x.langs
      FROM (SELECT count(*) FILTER (WHERE NOT s.is_service) AS n,
                   coalesce(max(s.end_at - s.start_at) FILTER (WHERE NOT s.is_service), interval '0') AS maxd,
                   coalesce(array_agg(DISTINCT s.search_lang) FILTER (WHERE NOT s.is_service), '{}') AS langs
              FROM confhaven.sessions s WHERE s.conference_id = p_conference_id) x
     WHERE c.id = p_conference_id
       AND (c.session_count, c.max_duration, c.name_norm, c.search_langs)
           IS DISTINCT FROM (x.n, x.maxd, confhaven.norm(c.name), x.langs);
    RETURN FOUND;
END
$$;

-- All term statistics of one conference from scratch (the import keeps
-- them by difference; this is the reference it must equal, and the repair
-- after a change to how they are computed).
CREATE OR REPLACE FUNCTION confhaven.refresh_search_stats(p_conference_id bigint)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    DELETE FROM confhaven.search_words WHERE conference_id = p_conference_id;
    INSERT INTO confhaven.search_words (conference_id, word, ndoc)
    SELECT p_conference_id, w.word, count(DISTINCT s.id)
      FROM confhaven.sessions s
     CROSS JOIN LATERAL confhaven._session_words(s.title, s.tag_names, s.speaker_names,
                                                 s.abstract_plain) AS w(word)
     WHERE s.conference_id = p_conference_id AND NOT s.is_service
     GROUP BY w.word;
    -- the vocabulary of the substring search (021; the lexemes of more
    -- than 40 characters are added by refresh_documents and the imports)
    INSERT INTO confhaven.search_lexemes (word, word_norm)
    SELECT w.word, confhaven.norm(w.word)
      FROM confhaven.search_words w
     WHERE w.conference_id = p_conference_id
       AND NOT EXISTS (SELECT 1 FROM confhaven.search_lexemes l WHERE l.word = w.word)
    ON CONFLICT DO NOTHING;

    DELETE FROM confhaven.search_acronyms WHERE conference_id = p_conference_id;
    INSERT INTO confhaven.search_acronyms (conference_id, acronym, expansion)
    SELECT DISTINCT p_conference_id, a.acronym, a.expansion
      FROM confhaven.sessions s
     CROSS JOIN LATERAL confhaven._session_acronyms(s.title, s.subtitle, s.abstract_plain) a
     WHERE s.conference_id = p_conference_id AND NOT s.is_service;

    DELETE FROM confhaven.search_compounds WHERE conference_id = p_conference_id;
    INSERT INTO confhaven.search_compounds (conference_id, part, word, ndoc)
    SELECT p_conference_id, x.part, x.word, x.ndoc
      FROM confhaven._search_compounds_of(p_conference_id) x;

    PERFORM confhaven._refresh_conference_counters(p_conference_id);
END
$$;

-- Recompute the search columns of every session of one conference from
-- its rows and links, and then its term statistics; returns the number of
-- sessions whose search columns changed.  Imports keep both up to date by
-- themselves (only what changed); this is for a change to how documents
-- are built (run it for every conference), and the reference in tests.
CREATE OR REPLACE FUNCTION confhaven.refresh_documents(p_conference_id bigint)
RETURNS integer
LANGUAGE plpgsql
AS $$
DECLARE n integer;
BEGIN
    -- src once per session (MATERIALIZED: inlined, its tag and speaker
    -- subqueries ran once per use of their columns, six times a session)
    WITH src AS MATERIALIZED (
        SELECT s2.id, s2.title, s2.subtitle, s2.abstract_plain, s2.language, tr.name AS track,
               coalesce((SELECT array_agg(t.name ORDER BY st.position)
                           FROM confhaven.session_tags st
                           JOIN confhaven.tags t ON t.id = st.tag_id
                          WHERE st.session_id = s2.id), '{}') AS tags,
               coalesce((SELECT array_agg(sp.name ORDER BY ss.position)
                           FROM confhaven.session_speakers ss
                           JOIN confhaven.speakers sp ON sp.id = ss.speaker_id
                          WHERE ss.session_id = s2.id), '{}') AS speakers
          FROM confhaven.sessions s2
          LEFT JOIN confhaven.tracks tr ON tr.id = s2.track_id
         WHERE s2.conference_id = p_conference_id),
    d AS MATERIALIZED (
        SELECT src.id, src.tags, src.speakers, c.*
          FROM src
         CROSS JOIN LATERAL confhaven._search_columns(src.title, src.subtitle, src.abstract_plain,
                                                      src.language, src.track, src.tags,
                                                      src.speakers) c),
    lx AS (
        INSERT INTO confhaven.search_lexemes (word, word_norm)
        SELECT DISTINCT l.word, confhaven.norm(l.word)
          FROM d CROSS JOIN LATERAL unnest(d.lexemes) AS l(word)
        ON CONFLICT DO NOTHING)
    UPDATE confhaven.sessions s
       SET document = d.document, head_doc = d.head_doc, search_lang = d.search_lang,
           title_norm = d.title_norm, tags_norm = d.tags_norm, speakers_norm = d.speakers_norm,
           abstract_norm = d.abstract_norm,
           speaker_names = d.speakers, tag_names = d.tags
      FROM d
     WHERE s.id = d.id
       AND (s.document, s.head_doc, s.search_lang, s.title_norm, s.tags_norm, s.speakers_norm,
            s.abstract_norm, s.speaker_names, s.tag_names)
           IS DISTINCT FROM
           (d.document, d.head_doc, d.search_lang, d.title_norm, d.tags_norm, d.speakers_norm,
            d.abstract_norm, d.speakers, d.tags);
    GET DIAGNOSTICS n = ROW_COUNT;

    PERFORM confhaven.refresh_search_stats(p_conference_id);
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
