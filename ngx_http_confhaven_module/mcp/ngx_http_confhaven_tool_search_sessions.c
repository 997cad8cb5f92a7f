
/*
 * Copyright (C) ConferenceHaven
 */


/*
 * The MCP tool search_sessions: the operation search_sessions
 * (ngx_http_confhaven_op_search_sessions.c, the same as GET /api/sessions)
 * and a summary of its answer for the model.  A conference given by a
 * name the database resolved ("ESPC 2025" for "espc-2025") is said so.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_confhaven_tools.h"


static ngx_int_t ngx_http_confhaven_search_render(
    ngx_http_confhaven_tool_run_t *run, json_t *value);


/* the optional text filters the summary names */
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

    &ngx_http_confhaven_op_search_sessions,
    NULL,
    "conference",
    ngx_http_confhaven_search_usage,

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
    ngx_http_confhaven_search_render,
    NULL
};


static ngx_int_t
ngx_http_confhaven_search_render(ngx_http_confhaven_tool_run_t *run,
    json_t *value)
{
    u_char      *p, *last;
    size_t       size, i, count;
    json_t      *sessions, *q;
    ngx_str_t    text;
    json_int_t   total, offset;
    const char  *conf, *name, *val, *given;

    /* REST's facets are not part of this tool's answer */
    json_object_del(value, "facets");

    sessions = json_object_get(value, "sessions");
    count = json_array_size(sessions);
    q = json_object_get(value, "query");
    given = ngx_http_confhaven_tools_str(q, "conference_given");

    size = 4096 + (given ? ngx_strlen(given) : 0) + count * 1536;

    text.data = ngx_pnalloc(run->r->pool, size);
    if (text.data == NULL) {
        return NGX_ERROR;
    }

    p = text.data;
    last = p + size;

    conf = ngx_http_confhaven_tools_str(q, "conference");

    if (given && conf) {
        p = ngx_slprintf(p, last, "Conference \"%s\" was resolved to "
                         "\"%s\".\n", given, conf);
    }

    if (count == 0) {
        p = ngx_slprintf(p, last, "No sessions found");

    } else {
        p = ngx_slprintf(p, last, "%uz session%s", count,
                         count == 1 ? "" : "s");
    }

    if (ngx_http_confhaven_tools_str(q, "q")) {
        p = ngx_slprintf(p, last, " for \"%s\"",
                         ngx_http_confhaven_tools_str(q, "q"));
    }

    if (conf) {
        p = ngx_slprintf(p, last, " at %s", conf);
    }

    if (ngx_http_confhaven_tools_str(q, "track")) {
        p = ngx_slprintf(p, last, ", track \"%s\"",
                         ngx_http_confhaven_tools_str(q, "track"));
    }

    if (ngx_http_confhaven_tools_str(q, "level")) {
        p = ngx_slprintf(p, last, ", level %s",
                         ngx_http_confhaven_tools_str(q, "level"));
    }

    for (i = 0; ngx_http_confhaven_search_filters[i]; i++) {
        name = ngx_http_confhaven_search_filters[i];
        val = ngx_http_confhaven_tools_str(q, name);

        if (val) {
            p = ngx_slprintf(p, last, ", %s \"%s\"", name, val);
        }
    }

    p = ngx_slprintf(p, last, count ? ":\n" : ".");

    for (i = 0; i < count; i++) {
        p = ngx_http_confhaven_tools_text_session(p, last,
                                                json_array_get(sessions, i));
    }

    if (ngx_http_confhaven_tools_str(value, "suggestion")) {
        /* api_search's own advice (004_search.sql) */
        p = ngx_slprintf(p, last, "%s%s\n", count ? "" : " ",
                         ngx_http_confhaven_tools_str(value, "suggestion"));

    } else if (count == 0
               && !json_is_true(json_object_get(q, "include_past")))
    {
        p = ngx_slprintf(p, last, " Past sessions are left out; set "
                         "include_past to true to search them too.");
    }

    if (ngx_http_confhaven_tools_str(value, "next_cursor")) {
        total = json_integer_value(json_object_get(value, "total"));
        offset = json_integer_value(json_object_get(value, "offset"));

        p = ngx_slprintf(p, last, "These are %uz to %uz of %uz. More: call "
                         "again with the same arguments and cursor "
                         "\"%s\".\n",
                         (size_t) offset + 1, (size_t) offset + count,
                         (size_t) total,
                         ngx_http_confhaven_tools_str(value, "next_cursor"));
    }

    if (count) {
        p = ngx_slprintf(p, last, "Call get_session with an id for the "
                         "full abstract.");
    }

    text.len = p - text.data;

    return ngx_http_confhaven_tools_ok(run, value, &text);
}
