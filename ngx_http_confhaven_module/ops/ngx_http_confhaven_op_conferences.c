
/*
 * Copyright (C) ConferenceHaven
 */


/*
 * The conferences: confhaven.api_conferences() lists them (GET
 * /api/conferences, the MCP tool list_conferences, the resource
 * confhaven://conferences); confhaven.api_conference() describes one with
 * its tracks, levels and rooms (GET /api/conferences/{slug}, the resource
 * confhaven://conferences/{slug}).  Health is the database's own check.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_http_confhaven_op.h"


static ngx_http_confhaven_op_param_t  ngx_http_confhaven_op_list_params[] = {

    { "include_past", NULL, NGX_HTTP_CONFHAVEN_OP_BOOL, 0, 0, 0, "false",
      "Also list conferences that have ended.", NULL, "use true or false",
      NGX_HTTP_CONFHAVEN_OP_IN_QUERY }
};


static ngx_http_confhaven_op_param_t  ngx_http_confhaven_op_get_params[] = {

    { "conference", "slug", NGX_HTTP_CONFHAVEN_OP_TEXT, 0, 0, 200, NULL,
      "Conference slug, e.g. \"scottish-summit-2026\".", NULL,
      "conference slugs look like \"scottish-summit-2026\"; "
      "GET /api/conferences lists them", NGX_HTTP_CONFHAVEN_OP_IN_PATH }
};


ngx_http_confhaven_op_t  ngx_http_confhaven_op_list_conferences = {
    ngx_string("list_conferences"),
    "SELECT r::text, json_array_length(r->'conferences'), '*' "
    "FROM confhaven.api_conferences($1::boolean) AS r",
    ngx_http_confhaven_op_list_params, 1,
    NGX_HTTP_CONFHAVEN_OP_DOCUMENT,
    0,
    0
};


ngx_http_confhaven_op_t  ngx_http_confhaven_op_get_conference = {
    ngx_string("get_conference"),
    "SELECT r::text, 1, r->>'slug' "
    "FROM confhaven.api_conference($1) AS r",
    ngx_http_confhaven_op_get_params, 1,
    NGX_HTTP_CONFHAVEN_OP_DOCUMENT,
    0,
    0
};


ngx_http_confhaven_op_t  ngx_http_confhaven_op_health = {
    ngx_string("health"),
    "SELECT confhaven.api_health()::text",
    NULL, 0,
    NGX_HTTP_CONFHAVEN_OP_NO_CACHE,
    0,
    0
};
