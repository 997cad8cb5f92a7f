
/*
 * Copyright (C) ConferenceHaven
 */


/*
 * Calendars (sql/functions/75_calendar.sql): a session as an iCalendar
 * file (GET /api/sessions/{id}.ics, the resource
 * confhaven://sessions/{id}.ics) and personal agendas, a list of sessions
 * behind an unguessable token with a feed a calendar app subscribes to
 * (POST /api/agendas, GET/PUT/DELETE /api/agendas/{token}, GET
 * /api/agendas/{token}.ics).  A session's file is cached like the session
 * (its conference's tag: an import forgets it); nothing keyed by a token
 * is cached, so that no token reaches Redis.  "base" is our own
 * scheme://host, for the URL of a session whose schedule names no page;
 * the front end sets it from the request.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_http_confhaven_op.h"


static ngx_http_confhaven_op_param_t  ngx_http_confhaven_op_ics_params[] = {

    { "session_id", "id", NGX_HTTP_CONFHAVEN_OP_ID, 1, 0, 0, NULL,
      "Session id from search_sessions results.", NULL,
      "session ids are positive integers, e.g. 42",
      NGX_HTTP_CONFHAVEN_OP_IN_PATH },

    { "base", NULL, NGX_HTTP_CONFHAVEN_OP_TEXT, 0, 0,
      NGX_HTTP_CONFHAVEN_OP_BASE_LEN, NULL,
      "Our own scheme://host, from the request.", NULL, NULL,
      NGX_HTTP_CONFHAVEN_OP_IN_PATH }
};


static ngx_http_confhaven_op_param_t  ngx_http_confhaven_op_agenda_params[] = {

    { "token", NULL, NGX_HTTP_CONFHAVEN_OP_TEXT, 0, 0, 128, NULL,
      "The agenda's token, as POST /api/agendas returned it.", NULL, NULL,
      NGX_HTTP_CONFHAVEN_OP_IN_PATH },

    { "body", NULL, NGX_HTTP_CONFHAVEN_OP_RAW, 0, 0,
      NGX_HTTP_CONFHAVEN_OP_AGENDA_MAX_BODY, NULL,
      "{\"session_ids\": [42, 43]}", NULL, NULL,
      NGX_HTTP_CONFHAVEN_OP_IN_BODY }
};


static ngx_http_confhaven_op_param_t  ngx_http_confhaven_op_feed_params[] = {

    { "token", NULL, NGX_HTTP_CONFHAVEN_OP_TEXT, 0, 0, 128, NULL,
      "The agenda's token, as POST /api/agendas returned it.", NULL, NULL,
      NGX_HTTP_CONFHAVEN_OP_IN_PATH },

    { "base", NULL, NGX_HTTP_CONFHAVEN_OP_TEXT, 0, 0,
      NGX_HTTP_CONFHAVEN_OP_BASE_LEN, NULL,
      "Our own scheme://host, from the request.", NULL, NULL,
      NGX_HTTP_CONFHAVEN_OP_IN_PATH }
};


ngx_http_confhaven_op_t  ngx_http_confhaven_op_session_ics = {
    ngx_string("session_ics"),
    "SELECT r.ics, 1, r.slug "
    "FROM confhaven.api_session_ics($1::bigint, $2) AS r",
    ngx_http_confhaven_op_ics_params, 2,
    NGX_HTTP_CONFHAVEN_OP_DOCUMENT,
    0,
    0
};


/* the body is the last parameter, as for imports */

ngx_http_confhaven_op_t  ngx_http_confhaven_op_agenda_create = {
    ngx_string("agenda_create"),
    "SELECT r::text, json_array_length(r->'session_ids') "
    "FROM confhaven.api_agenda_create($1) AS r",
    &ngx_http_confhaven_op_agenda_params[1], 1,
    NGX_HTTP_CONFHAVEN_OP_NO_CACHE,
    0,
    0
};


ngx_http_confhaven_op_t  ngx_http_confhaven_op_agenda_get = {
    ngx_string("agenda_get"),
    "SELECT r::text, json_array_length(r->'session_ids') "
    "FROM confhaven.api_agenda($1) AS r",
    ngx_http_confhaven_op_agenda_params, 1,
    NGX_HTTP_CONFHAVEN_OP_NO_CACHE,
    0,
    0
};


ngx_http_confhaven_op_t  ngx_http_confhaven_op_agenda_replace = {
    ngx_string("agenda_replace"),
    "SELECT r::text, json_array_length(r->'session_ids') "
    "FROM confhaven.api_agenda_replace($1, $2) AS r",
    ngx_http_confhaven_op_agenda_params, 2,
    NGX_HTTP_CONFHAVEN_OP_NO_CACHE,
    0,
    0
};


ngx_http_confhaven_op_t  ngx_http_confhaven_op_agenda_delete = {
    ngx_string("agenda_delete"),
    "SELECT r::text, 0 FROM confhaven.api_agenda_delete($1) AS r",
    ngx_http_confhaven_op_agenda_params, 1,
    NGX_HTTP_CONFHAVEN_OP_NO_CACHE,
    0,
    0
};


ngx_http_confhaven_op_t  ngx_http_confhaven_op_agenda_ics = {
    ngx_string("agenda_ics"),
    "SELECT confhaven.api_agenda_ics($1, $2)",
    ngx_http_confhaven_op_feed_params, 2,
    NGX_HTTP_CONFHAVEN_OP_NO_CACHE,
    0,
    0
};
