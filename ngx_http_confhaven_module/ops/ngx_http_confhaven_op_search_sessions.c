
/*
 * Copyright (C) ConferenceHaven
 */


/*
 * search_sessions: confhaven.api_search() (sql/functions), ranked full
 * text search with filters and paging.  GET /api/sessions and the MCP
 * tool search_sessions; adding a filter means a parameter here and one in
 * api_search(), in the same position.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_http_confhaven_op.h"


static const char  *ngx_http_confhaven_op_levels[] = {
    "Introductory", "Intermediate", "Advanced", NULL
};


static ngx_http_confhaven_op_param_t  ngx_http_confhaven_op_search_params[] = {

    { "query", "q", NGX_HTTP_CONFHAVEN_OP_TEXT, 0, 0, 500, NULL,
      "Words to look for, e.g. \"copilot agents\" or a speaker name. Leave "
      "out to list sessions by start time.", NULL, NULL,
      NGX_HTTP_CONFHAVEN_OP_IN_QUERY },

    { "conference", NULL, NGX_HTTP_CONFHAVEN_OP_FOLD, 0, 0, 200, NULL,
      "Conference slug from list_conferences, e.g. "
      "\"scottish-summit-2026\"; the conference name also works.",
      NULL, "GET /api/conferences lists them",
      NGX_HTTP_CONFHAVEN_OP_IN_QUERY },

    { "track", NULL, NGX_HTTP_CONFHAVEN_OP_TEXT, 0, 0, 200, NULL,
      "Track name (case-insensitive exact match), as shown in results.",
      NULL, NULL,
      NGX_HTTP_CONFHAVEN_OP_IN_QUERY },

    { "level", NULL, NGX_HTTP_CONFHAVEN_OP_FOLD, 0, 0, 200, NULL,
      "Session level; 100 = Introductory, 200 = Intermediate, 300/400 = "
      "Advanced.", ngx_http_confhaven_op_levels, NULL,
      NGX_HTTP_CONFHAVEN_OP_IN_QUERY },

    { "limit", NULL, NGX_HTTP_CONFHAVEN_OP_INT, 1, 50, 0, "20",
      "Maximum number of sessions.", NULL, "the default is 20",
      NGX_HTTP_CONFHAVEN_OP_IN_QUERY },

    { "include_past", NULL, NGX_HTTP_CONFHAVEN_OP_BOOL, 0, 0, 0, "false",
      "Also return sessions that have ended.", NULL, "use true or false",
      NGX_HTTP_CONFHAVEN_OP_IN_QUERY },

    { "speaker", NULL, NGX_HTTP_CONFHAVEN_OP_TEXT, 0, 0, 200, NULL,
      "Part of a speaker's name; case and accents do not matter.",
      NULL, NULL,
      NGX_HTTP_CONFHAVEN_OP_IN_QUERY },

    { "room", NULL, NGX_HTTP_CONFHAVEN_OP_TEXT, 0, 0, 200, NULL,
      "Room name (or part of it).", NULL, NULL,
      NGX_HTTP_CONFHAVEN_OP_IN_QUERY },

    { "day", NULL, NGX_HTTP_CONFHAVEN_OP_FOLD, 0, 0, 20, NULL,
      "YYYY-MM-DD, \"today\" or \"tomorrow\" (in the conference's time "
      "zone).", NULL, NULL,
      NGX_HTTP_CONFHAVEN_OP_IN_QUERY },

    { "starts_after", NULL, NGX_HTTP_CONFHAVEN_OP_TEXT, 0, 0, 40, NULL,
      "Sessions starting at or after: HH:MM local time, or an ISO 8601 "
      "date-time (with offset, or local).", NULL, NULL,
      NGX_HTTP_CONFHAVEN_OP_IN_QUERY },

    { "starts_before", NULL, NGX_HTTP_CONFHAVEN_OP_TEXT, 0, 0, 40, NULL,
      "Sessions starting before: HH:MM local time, or an ISO 8601 "
      "date-time (with offset, or local).", NULL, NULL,
      NGX_HTTP_CONFHAVEN_OP_IN_QUERY },

    { "language", NULL, NGX_HTTP_CONFHAVEN_OP_FOLD, 0, 0, 20, NULL,
      "Session language: en, de, fr or es.", NULL, NULL,
      NGX_HTTP_CONFHAVEN_OP_IN_QUERY },

    { "offset", NULL, NGX_HTTP_CONFHAVEN_OP_INT, 0, 1000, 0, NULL,
      "Results to skip (paging).", NULL, "or pass next_cursor as cursor",
      NGX_HTTP_CONFHAVEN_OP_IN_QUERY },

    { "cursor", NULL, NGX_HTTP_CONFHAVEN_OP_FOLD, 0, 0, 500, NULL,
      "next_cursor of the previous result, with the same other arguments, "
      "for the next page.", NULL, NULL,
      NGX_HTTP_CONFHAVEN_OP_IN_QUERY }
};


ngx_http_confhaven_op_t  ngx_http_confhaven_op_search_sessions = {
    ngx_string("search_sessions"),
    /*
     * the answer read once (each -> on json parses the whole text, four
     * times an answer before): "count" is the length of "sessions"
     */
    "SELECT r::text, x.count, "
    /* a name resolved today may name another conference after an import */
    "CASE WHEN x.query->>'conference_given' IS NULL "
    "THEN coalesce(x.query->>'conference', '*') ELSE '*' END "
    "FROM confhaven.api_search($1, $2, $3, $4, $5::integer, $6::boolean, "
    "$7, $8, $9, $10, $11, $12, $13, $14) AS r, "
    "json_to_record(r) AS x(count integer, query json)",
    ngx_http_confhaven_op_search_params,
    sizeof(ngx_http_confhaven_op_search_params)
        / sizeof(ngx_http_confhaven_op_param_t),
    NGX_HTTP_CONFHAVEN_OP_SEARCH,
    0,
    0
};
