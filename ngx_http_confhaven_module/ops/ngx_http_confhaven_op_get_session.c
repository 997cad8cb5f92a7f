
/*
 * Copyright (C) ConferenceHaven
 */


/*
 * get_session: confhaven.api_session(), one session with its full
 * abstract and speakers.  GET /api/sessions/{id}, the MCP tool
 * get_session and the resource confhaven://sessions/{id}.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_http_confhaven_op.h"


static ngx_http_confhaven_op_param_t  ngx_http_confhaven_op_id_params[] = {

    { "session_id", "id", NGX_HTTP_CONFHAVEN_OP_ID, 1, 0, 0, NULL,
      "Session id from search_sessions results.", NULL,
      "session ids are positive integers, e.g. 42",
      NGX_HTTP_CONFHAVEN_OP_IN_PATH }
};


ngx_http_confhaven_op_t  ngx_http_confhaven_op_get_session = {
    ngx_string("get_session"),
    "SELECT r::text, 1, r->>'conference' "
    "FROM confhaven.api_session($1::bigint) AS r",
    ngx_http_confhaven_op_id_params, 1,
    NGX_HTTP_CONFHAVEN_OP_DOCUMENT,
    0,
    0
};
