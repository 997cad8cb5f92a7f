
/*
 * Copyright (C) ConferenceHaven
 */


/*
 * Answers that help an assistant ask well (sql/functions/70_assist.sql):
 * completions of argument values (MCP completion/complete) and a
 * conference day's programme (the MCP prompt plan_my_day).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_http_confhaven_op.h"


static const char  *ngx_http_confhaven_op_fields[] = {
    "conference", "track", "date", NULL
};


static ngx_http_confhaven_op_param_t  ngx_http_confhaven_complete_params[] = {

    { "field", NULL, NGX_HTTP_CONFHAVEN_OP_FOLD, 0, 0, 20, NULL,
      "The argument to complete.", ngx_http_confhaven_op_fields, NULL,
      NGX_HTTP_CONFHAVEN_OP_IN_QUERY },

    /* as typed: a trailing blank is part of what the user wrote */
    { "prefix", NULL, NGX_HTTP_CONFHAVEN_OP_RAW, 0, 0, 200, "",
      "What the user has typed so far.", NULL, NULL,
      NGX_HTTP_CONFHAVEN_OP_IN_QUERY },

    { "conference", NULL, NGX_HTTP_CONFHAVEN_OP_FOLD, 0, 0, 200, NULL,
      "The conference the other arguments are about.", NULL, NULL,
      NGX_HTTP_CONFHAVEN_OP_IN_QUERY }
};


static ngx_http_confhaven_op_param_t  ngx_http_confhaven_plan_params[] = {

    { "conference", NULL, NGX_HTTP_CONFHAVEN_OP_FOLD, 0, 0, 200, NULL,
      "Conference slug or name.", NULL, NULL,
      NGX_HTTP_CONFHAVEN_OP_IN_QUERY },

    { "date", NULL, NGX_HTTP_CONFHAVEN_OP_TEXT, 0, 0, 10, NULL,
      "The day, YYYY-MM-DD; the next conference day when left out.",
      NULL, NULL, NGX_HTTP_CONFHAVEN_OP_IN_QUERY }
};


ngx_http_confhaven_op_t  ngx_http_confhaven_op_complete = {
    ngx_string("complete"),
    "SELECT r::text, json_array_length(r->'values'), '*' "
    "FROM confhaven.api_complete($1, $2, $3) AS r",
    ngx_http_confhaven_complete_params, 3,
    NGX_HTTP_CONFHAVEN_OP_SEARCH,
    0,
    0
};


ngx_http_confhaven_op_t  ngx_http_confhaven_op_day_plan = {
    ngx_string("day_plan"),
    "SELECT r::text, r->>'total', "
    /* a conference given by name: its answer spans conferences */
    "CASE WHEN r->>'slug' = $1 THEN r->>'slug' ELSE '*' END "
    "FROM confhaven.api_day_plan($1, $2) AS r",
    ngx_http_confhaven_plan_params, 2,
    NGX_HTTP_CONFHAVEN_OP_SEARCH,
    0,
    0
};
