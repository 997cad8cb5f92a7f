
/*
 * Copyright (C) ConferenceHaven
 */


/*
 * search_sessions(query, conference, track, level, limit, include_past,
 * speaker, room, day, starts_after, starts_before, language, offset,
 * cursor): confhaven.api_search(), the same function as GET /api/sessions
 * (without facets).  A
 * conference the database does not know by slug or name ("ESPC 2025",
 * "espc25") is looked up once more among all conferences with a loose
 * comparison (letters and digits only, "2025" = "25") before giving up.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_confhaven_module.h"
#include "ngx_http_confhaven_mcp.h"
#include "ngx_http_confhaven_tools.h"


#define NGX_HTTP_CONFHAVEN_SEARCH_FIRST     0
#define NGX_HTTP_CONFHAVEN_SEARCH_RESOLVE   1
#define NGX_HTTP_CONFHAVEN_SEARCH_RETRY     2

#define NGX_HTTP_CONFHAVEN_SEARCH_NORM_LEN  256


static ngx_int_t ngx_http_confhaven_search_prepare(
    ngx_http_confhaven_tool_run_t *run, json_t *args);
static ngx_int_t ngx_http_confhaven_search_finish(
    ngx_http_confhaven_tool_run_t *run);
static ngx_int_t ngx_http_confhaven_search_resolve(
    ngx_http_confhaven_tool_run_t *run);
static ngx_int_t ngx_http_confhaven_search_result(
    ngx_http_confhaven_tool_run_t *run);
static size_t ngx_http_confhaven_search_norm(u_char *dst, const char *src,
    const char *year);


static const char  *ngx_http_confhaven_search_args[] = {
    "query", "conference", "track", "level", "limit", "include_past",
    "speaker", "room", "day", "starts_after", "starts_before", "language",
    "offset", "cursor", NULL
};


/* the optional text filters, in the order of api_search()'s $7..$12 */
static const char  *ngx_http_confhaven_search_filters[] = {
    "speaker", "room", "day", "starts_after", "starts_before", "language",
    NULL
};


static const char  ngx_http_confhaven_search_usage[] =
    "Accepted arguments: query (text), conference (slug from "
    "list_conferences), track (track name), level (Introductory, "
    "Intermediate or Advanced), limit (1-50, default 20), include_past "
    "(boolean), speaker (part of a name), room, day (YYYY-MM-DD, today or "
    "tomorrow), starts_after and starts_before (HH:MM local time or an ISO "
    "8601 date-time), language (en, de, fr, es), offset (0-1000) or cursor "
    "(next_cursor of the previous result). Example: {\"query\": "
    "\"copilot agents\", \"conference\": \"scottish-summit-2026\", "
    "\"day\": \"tomorrow\", \"starts_before\": \"12:00\"}";


static const char  ngx_http_confhaven_search_sql[] =
    "SELECT confhaven.api_search($1, $2, $3, $4, $5::integer, "
    "$6::boolean, $7, $8, $9, $10, $11, $12, $13, $14, "
    "facets => false)::text";


static const char  ngx_http_confhaven_search_conferences_sql[] =
    "SELECT confhaven.api_conferences(true)::text";


ngx_http_confhaven_tool_t  ngx_http_confhaven_tool_search_sessions = {
    ngx_string("search_sessions"),
    "Search conference sessions",

    "Search the sessions (talks, workshops, keynotes) of the conferences "
    "ConferenceHaven knows, ranked by relevance. Matches words in titles, "
    "abstracts, tags, tracks and speaker names; quoted phrases and -word "
    "exclusions work as in a web search. Returns up to `limit` sessions "
    "with id, title, speakers, local start/end time with UTC offset, "
    "room, track, level, tags and a short abstract snippet. Use it to "
    "answer questions such as \"which talks about Copilot agents are at "
    "Scottish Summit?\" or \"what is Jane Smith presenting?\"; then call "
    "get_session with an id for the full abstract. Without a query, "
    "sessions are listed by start time (useful with conference and "
    "track). Only sessions that have not ended are returned unless "
    "include_past is true. Filters narrow by speaker, room, day "
    "(\"today\" and \"tomorrow\" in the conference's time zone), start "
    "time window and language; when more results exist, next_cursor "
    "fetches the next page. Examples: {\"query\": \"copilot agents\", "
    "\"conference\": \"scottish-summit-2026\", \"limit\": 5}; "
    "{\"speaker\": \"Jane Smith\"}; {\"query\": \"kubernetes\", "
    "\"day\": \"tomorrow\", \"starts_before\": \"12:00\"}; "
    "{\"conference\": \"pycon-au-2024\", \"level\": \"Advanced\", "
    "\"include_past\": true}.",

    "{\"$schema\": \"https://json-schema.org/draft/2020-12/schema\","
    " \"type\": \"object\","
    " \"properties\": {"
    "  \"query\": {\"type\": \"string\", \"maxLength\": 500,"
    "   \"description\": \"Words to look for, e.g. \\\"copilot agents\\\" "
    "or a speaker name. Leave out to list sessions by start time.\"},"
    "  \"conference\": {\"type\": \"string\", \"maxLength\": 200,"
    "   \"x-mcp-header\": \"Conference\","
    "   \"description\": \"Conference slug from list_conferences, e.g. "
    "\\\"scottish-summit-2026\\\"; the conference name also works.\"},"
    "  \"track\": {\"type\": \"string\", \"maxLength\": 200,"
    "   \"description\": \"Track name (case-insensitive exact match), as "
    "shown in results.\"},"
    "  \"level\": {\"type\": \"string\","
    "   \"enum\": [\"Introductory\", \"Intermediate\", \"Advanced\"],"
    "   \"description\": \"Session level; 100 = Introductory, 200 = "
    "Intermediate, 300/400 = Advanced.\"},"
    "  \"limit\": {\"type\": \"integer\", \"minimum\": 1, \"maximum\": 50,"
    "   \"default\": 20, \"description\": \"Maximum number of sessions.\"},"
    "  \"include_past\": {\"type\": \"boolean\", \"default\": false,"
    "   \"description\": \"Also return sessions that have ended.\"},"
    "  \"speaker\": {\"type\": \"string\", \"maxLength\": 200,"
    "   \"description\": \"Part of a speaker's name; case and accents do "
    "not matter.\"},"
    "  \"room\": {\"type\": \"string\", \"maxLength\": 200,"
    "   \"description\": \"Room name (or part of it).\"},"
    "  \"day\": {\"type\": \"string\", \"maxLength\": 20,"
    "   \"description\": \"YYYY-MM-DD, \\\"today\\\" or "
    "\\\"tomorrow\\\" (in the conference's time zone).\"},"
    "  \"starts_after\": {\"type\": \"string\", \"maxLength\": 40,"
    "   \"description\": \"Sessions starting at or after: HH:MM local "
    "time, or an ISO 8601 date-time (with offset, or local).\"},"
    "  \"starts_before\": {\"type\": \"string\", \"maxLength\": 40,"
    "   \"description\": \"Sessions starting before: HH:MM local time, or "
    "an ISO 8601 date-time (with offset, or local).\"},"
    "  \"language\": {\"type\": \"string\", \"maxLength\": 20,"
    "   \"description\": \"Session language: en, de, fr or es.\"},"
    "  \"offset\": {\"type\": \"integer\", \"minimum\": 0,"
    "   \"maximum\": 1000, \"default\": 0,"
    "   \"description\": \"Results to skip (paging).\"},"
    "  \"cursor\": {\"type\": \"string\", \"maxLength\": 500,"
    "   \"description\": \"next_cursor of the previous result, with the "
    "same other arguments, for the next page.\"}"
    " },"
    " \"additionalProperties\": false}",

    "{\"$schema\": \"https://json-schema.org/draft/2020-12/schema\","
    " \"type\": \"object\","
    " \"properties\": {"
    "  \"query\": {\"type\": \"object\", \"description\": \"The filters "
    "applied.\"},"
    "  \"count\": {\"type\": \"integer\"},"
    "  \"total\": {\"type\": \"integer\"},"
    "  \"next_cursor\": {\"type\": [\"string\", \"null\"]},"
    "  \"sessions\": {\"type\": \"array\", \"items\": {"
    "   \"type\": \"object\","
    "   \"properties\": {"
    "    \"id\": {\"type\": \"integer\"},"
    "    \"external_id\": {\"type\": [\"string\", \"null\"]},"
    "    \"conference\": {\"type\": \"string\"},"
    "    \"title\": {\"type\": \"string\"},"
    "    \"speakers\": {\"type\": \"array\", \"items\": {\"type\": "
    "\"string\"}},"
    "    \"start\": {\"type\": [\"string\", \"null\"]},"
    "    \"end\": {\"type\": [\"string\", \"null\"]},"
    "    \"timezone\": {\"type\": \"string\"},"
    "    \"room\": {\"type\": [\"string\", \"null\"]},"
    "    \"track\": {\"type\": [\"string\", \"null\"]},"
    "    \"level\": {\"type\": [\"string\", \"null\"]},"
    "    \"tags\": {\"type\": \"array\", \"items\": {\"type\": \"string\"}},"
    "    \"snippet\": {\"type\": [\"string\", \"null\"]},"
    "    \"score\": {\"type\": \"number\"}"
    "   },"
    "   \"required\": [\"id\", \"conference\", \"title\"]}}"
    " },"
    " \"required\": [\"query\", \"count\", \"sessions\"]}",

    10000,
    ngx_http_confhaven_search_prepare,
    ngx_http_confhaven_search_finish
};


static ngx_int_t
ngx_http_confhaven_search_prepare(ngx_http_confhaven_tool_run_t *run,
    json_t *args)
{
    ngx_int_t   rc;
    ngx_uint_t  i;

    rc = ngx_http_confhaven_tool_args(run, args,
                                      ngx_http_confhaven_search_args,
                                      ngx_http_confhaven_search_usage);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_confhaven_tool_arg_string(run, args, "query",
                                            NGX_HTTP_CONFHAVEN_TOOL_MAX_STRING,
                                            &run->params[0]);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_confhaven_tool_arg_string(run, args, "conference", 200,
                                            &run->params[1]);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_confhaven_tool_arg_string(run, args, "track", 200,
                                            &run->params[2]);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_confhaven_tool_arg_string(run, args, "level", 200,
                                            &run->params[3]);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_confhaven_tool_arg_int(run, args, "limit", 1, 50,
                                         "The default is 20.",
                                         &run->params[4]);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_confhaven_tool_arg_bool(run, args, "include_past",
                                          &run->params[5]);
    if (rc != NGX_OK) {
        return rc;
    }

    for (i = 0; ngx_http_confhaven_search_filters[i]; i++) {
        rc = ngx_http_confhaven_tool_arg_string(run, args,
                                          ngx_http_confhaven_search_filters[i],
                                          200, &run->params[6 + i]);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    rc = ngx_http_confhaven_tool_arg_int(run, args, "offset", 0, 1000,
                                         "Or pass next_cursor as cursor.",
                                         &run->params[12]);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_confhaven_tool_arg_string(run, args, "cursor", 500,
                                            &run->params[13]);
    if (rc != NGX_OK) {
        return rc;
    }

    run->sql = ngx_http_confhaven_search_sql;
    run->nparams = 14;
    run->stage = NGX_HTTP_CONFHAVEN_SEARCH_FIRST;

    return NGX_OK;
}


static ngx_int_t
ngx_http_confhaven_search_finish(ngx_http_confhaven_tool_run_t *run)
{
    ngx_http_confhaven_pg_op_t  *op;

    op = run->op;

    if (run->stage == NGX_HTTP_CONFHAVEN_SEARCH_RESOLVE) {
        return ngx_http_confhaven_search_resolve(run);
    }

    if (run->stage == NGX_HTTP_CONFHAVEN_SEARCH_FIRST
        && op->status == NGX_HTTP_CONFHAVEN_PG_SQL_ERROR
        && run->params[1] != NULL
        && op->message.len > sizeof("unknown conference") - 1
        && ngx_strncmp(op->message.data, "unknown conference",
                       sizeof("unknown conference") - 1) == 0)
    {
        /* keep the error for when nothing resolves */
        run->tool_data = op;
        run->stage = NGX_HTTP_CONFHAVEN_SEARCH_RESOLVE;
        run->sql = ngx_http_confhaven_search_conferences_sql;
        run->nparams = 0;

        return ngx_http_confhaven_tool_query(run) == NGX_OK
               ? NGX_AGAIN : NGX_ERROR;
    }

    return ngx_http_confhaven_search_result(run);
}


static ngx_int_t
ngx_http_confhaven_search_resolve(ngx_http_confhaven_tool_run_t *run)
{
    size_t                       len, clen;
    json_t                      *list, *conf, *match;
    ngx_uint_t                   i, n;
    const char                  *slug, *name, *start;
    ngx_http_confhaven_pg_op_t  *first;
    u_char                       want[NGX_HTTP_CONFHAVEN_SEARCH_NORM_LEN];
    u_char                       have[NGX_HTTP_CONFHAVEN_SEARCH_NORM_LEN];
    u_char                       year[5];

    first = run->tool_data;
    match = NULL;
    n = 0;

    len = ngx_http_confhaven_search_norm(want, run->params[1], NULL);

    if (run->op->status == NGX_HTTP_CONFHAVEN_PG_OK && len) {
        list = json_loadb((char *) run->op->value.data, run->op->value.len,
                          0, NULL);

        if (list == NULL
            || ngx_http_confhaven_mcp_own(run->r->pool, list) != NGX_OK)
        {
            json_decref(list);
            return NGX_ERROR;
        }

        list = json_object_get(list, "conferences");

        for (i = 0; i < json_array_size(list); i++) {
            conf = json_array_get(list, i);

            slug = ngx_http_confhaven_tool_str(conf, "slug");
            name = ngx_http_confhaven_tool_str(conf, "name");
            start = ngx_http_confhaven_tool_str(conf, "start_date");

            if (slug == NULL) {
                continue;
            }

            year[0] = '\0';

            if (start && ngx_strlen(start) >= 4) {
                ngx_memcpy(year, start, 4);
                year[4] = '\0';
            }

            if ((clen = ngx_http_confhaven_search_norm(have, slug, NULL))
                    == len
                && ngx_memcmp(have, want, len) == 0)
            {
                goto found;
            }

            if (name == NULL) {
                continue;
            }

            if ((clen = ngx_http_confhaven_search_norm(have, name, NULL))
                    == len
                && ngx_memcmp(have, want, len) == 0)
            {
                goto found;
            }

            if (year[0]
                && (clen = ngx_http_confhaven_search_norm(have, name,
                                                          (char *) year))
                   == len
                && ngx_memcmp(have, want, len) == 0)
            {
                goto found;
            }

            continue;

        found:

            match = conf;
            n++;
        }
    }

    if (n != 1) {
        /* nothing (or several) looked alike: the original error */
        run->op = first;
        return ngx_http_confhaven_search_result(run);
    }

    slug = ngx_http_confhaven_tool_str(match, "slug");

    run->note.len = ngx_strlen(run->params[1]) + ngx_strlen(slug)
                    + sizeof("Conference \"\" was resolved to \"\".\n");
    run->note.data = ngx_pnalloc(run->r->pool, run->note.len);
    if (run->note.data == NULL) {
        return NGX_ERROR;
    }

    run->note.len = ngx_sprintf(run->note.data,
                                "Conference \"%s\" was resolved to \"%s\".\n",
                                run->params[1], slug)
                    - run->note.data;

    run->params[1] = (char *) slug;
    run->stage = NGX_HTTP_CONFHAVEN_SEARCH_RETRY;
    run->sql = ngx_http_confhaven_search_sql;
    run->nparams = 14;

    return ngx_http_confhaven_tool_query(run) == NGX_OK ? NGX_AGAIN
                                                        : NGX_ERROR;
}


static ngx_int_t
ngx_http_confhaven_search_result(ngx_http_confhaven_tool_run_t *run)
{
    u_char      *p, *last;
    size_t       size, i, count;
    json_t      *value, *sessions, *q;
    ngx_str_t    text;
    json_int_t   total, offset;
    const char  *conf, *name, *val;

    value = ngx_http_confhaven_tool_value(run);
    if (value == NULL) {
        return run->result ? NGX_OK : NGX_ERROR;
    }

    sessions = json_object_get(value, "sessions");
    count = json_array_size(sessions);
    q = json_object_get(value, "query");

    size = 4096 + run->note.len + count * 1536;

    text.data = ngx_pnalloc(run->r->pool, size);
    if (text.data == NULL) {
        return NGX_ERROR;
    }

    p = text.data;
    last = p + size;

    if (run->note.len) {
        p = ngx_cpymem(p, run->note.data, run->note.len);
    }

    conf = ngx_http_confhaven_tool_str(q, "conference");

    if (count == 0) {
        p = ngx_slprintf(p, last, "No sessions found");

    } else {
        p = ngx_slprintf(p, last, "%uz session%s", count,
                         count == 1 ? "" : "s");
    }

    if (ngx_http_confhaven_tool_str(q, "q")) {
        p = ngx_slprintf(p, last, " for \"%s\"",
                         ngx_http_confhaven_tool_str(q, "q"));
    }

    if (conf) {
        p = ngx_slprintf(p, last, " at %s", conf);
    }

    if (ngx_http_confhaven_tool_str(q, "track")) {
        p = ngx_slprintf(p, last, ", track \"%s\"",
                         ngx_http_confhaven_tool_str(q, "track"));
    }

    if (ngx_http_confhaven_tool_str(q, "level")) {
        p = ngx_slprintf(p, last, ", level %s",
                         ngx_http_confhaven_tool_str(q, "level"));
    }

    for (i = 0; ngx_http_confhaven_search_filters[i]; i++) {
        name = ngx_http_confhaven_search_filters[i];
        val = ngx_http_confhaven_tool_str(q, name);

        if (val) {
            p = ngx_slprintf(p, last, ", %s \"%s\"", name, val);
        }
    }

    p = ngx_slprintf(p, last, count ? ":\n" : ".");

    for (i = 0; i < count; i++) {
        p = ngx_http_confhaven_tool_text_session(p, last,
                                                json_array_get(sessions, i));
    }

    if (ngx_http_confhaven_tool_str(value, "suggestion")) {
        /* api_search's own advice (004_search.sql) */
        p = ngx_slprintf(p, last, "%s%s\n", count ? "" : " ",
                         ngx_http_confhaven_tool_str(value, "suggestion"));

    } else if (count == 0
               && !json_is_true(json_object_get(q, "include_past")))
    {
        p = ngx_slprintf(p, last, " Past sessions are left out; set "
                         "include_past to true to search them too.");
    }

    if (ngx_http_confhaven_tool_str(value, "next_cursor")) {
        total = json_integer_value(json_object_get(value, "total"));
        offset = json_integer_value(json_object_get(value, "offset"));

        p = ngx_slprintf(p, last, "These are %uz to %uz of %uz. More: call "
                         "again with the same arguments and cursor "
                         "\"%s\".\n",
                         (size_t) offset + 1, (size_t) offset + count,
                         (size_t) total,
                         ngx_http_confhaven_tool_str(value, "next_cursor"));
    }

    if (count) {
        p = ngx_slprintf(p, last, "Call get_session with an id for the "
                         "full abstract.");
    }

    text.len = p - text.data;

    return ngx_http_confhaven_tool_ok(run, value, &text);
}


/*
 * Lowercase letters and digits only, a "20yy" year as "yy"; with year,
 * that year is appended unless the text already names it.
 */

static size_t
ngx_http_confhaven_search_norm(u_char *dst, const char *src,
    const char *year)
{
    u_char       c, *d, *last;
    size_t       run;
    const char  *s, *digits;

    d = dst;
    last = dst + NGX_HTTP_CONFHAVEN_SEARCH_NORM_LEN - 4;

    for (s = src; *s && d < last; /* void */) {
        c = ngx_tolower((u_char) *s);

        if (c >= '0' && c <= '9') {
            digits = s;

            for (run = 0; s[run] >= '0' && s[run] <= '9'; run++) {
                /* void */
            }

            if (run == 4 && digits[0] == '2' && digits[1] == '0') {
                digits += 2;
                run = 2;
            }

            while (run-- && d < last) {
                *d++ = *digits++;
            }

            while (*s >= '0' && *s <= '9') {
                s++;
            }

            continue;
        }

        if (c >= 'a' && c <= 'z') {
            *d++ = c;
        }

        s++;
    }

    if (year && ngx_strlen(year) == 4 && d + 2 <= last) {
        if (d - dst < 2 || d[-2] != (u_char) year[2]
            || d[-1] != (u_char) year[3])
        {
            *d++ = year[2];
            *d++ = year[3];
        }
    }

    return d - dst;
}
