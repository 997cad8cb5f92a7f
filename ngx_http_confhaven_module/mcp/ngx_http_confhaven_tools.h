
/*
 * Copyright (C) ConferenceHaven
 */


#ifndef _NGX_HTTP_CONFHAVEN_TOOLS_H_INCLUDED_
#define _NGX_HTTP_CONFHAVEN_TOOLS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <jansson.h>

#include "ngx_http_confhaven_op.h"


#define NGX_HTTP_CONFHAVEN_TOOL_ERROR_LEN   256

/* what a tools/list entry carries (the protocol version decides) */
#define NGX_HTTP_CONFHAVEN_TOOLS_TITLES       0x01
#define NGX_HTTP_CONFHAVEN_TOOLS_OUTPUT       0x02
#define NGX_HTTP_CONFHAVEN_TOOLS_ANNOTATIONS  0x04


/*
 * Where this server is reached from outside, for the absolute URLs in
 * answers (.ics links, the MCP Apps origin): confhaven_public_url and
 * confhaven_trust_forwarded_proto of the location.
 */

typedef struct {
    ngx_str_t                            public_url;  /* an origin, or "" */
    ngx_flag_t                           forwarded_proto;
} ngx_http_confhaven_origin_conf_t;


typedef struct ngx_http_confhaven_tool_s      ngx_http_confhaven_tool_t;
typedef struct ngx_http_confhaven_tool_run_s  ngx_http_confhaven_tool_run_t;

typedef void (*ngx_http_confhaven_tool_done_pt)(
    ngx_http_confhaven_tool_run_t *run);

/*
 * render: turn the operation's answer (parsed) into the result with
 *     ngx_http_confhaven_tools_ok(); NGX_OK or NGX_ERROR.
 * failed: an optional better word for an operation error (NGX_DECLINED:
 *     the generic one).
 */

typedef ngx_int_t (*ngx_http_confhaven_tool_render_pt)(
    ngx_http_confhaven_tool_run_t *run, json_t *value);
typedef ngx_int_t (*ngx_http_confhaven_tool_failed_pt)(
    ngx_http_confhaven_tool_run_t *run);


/*
 * A tool is an operation (its arguments are the operation's parameters,
 * its inputSchema is made from them) plus the words around its answer.
 */

struct ngx_http_confhaven_tool_s {
    ngx_str_t                            name;
    const char                          *title;
    const char                          *description;
    ngx_http_confhaven_op_t             *op;
    const char                          *required;    /* " " between */
    const char                          *header;      /* x-mcp-header of */
    const char                          *usage;       /* bad arguments */
    const char                          *output_schema;   /* JSON text */
    ngx_msec_t                           timeout;
    ngx_http_confhaven_tool_render_pt    render;
    ngx_http_confhaven_tool_failed_pt    failed;
};


struct ngx_http_confhaven_tool_run_s {
    ngx_http_request_t                  *r;
    ngx_http_confhaven_tool_t           *tool;
    json_t                              *args;        /* borrowed */
    ngx_http_confhaven_op_env_t        *env;

    ngx_http_confhaven_op_call_t         call;
    ngx_http_confhaven_fetch_t           rendered;    /* a result as sent */
    ngx_event_t                          timer;
    ngx_msec_t                           db_time;
    ngx_uint_t                           cache_status;

    json_t                              *result;      /* CallToolResult */
    ngx_str_t                            result_text; /* the same, as JSON */

    ngx_http_confhaven_tool_done_pt      done;
    void                                *data;

    ngx_http_confhaven_span_t           *span;        /* the tool's, or NULL */
    /* a legacy /sse stream's organizer credential, or empty */
    ngx_str_t                            session_cred;
    /* the location's public URL settings, or NULL (the request's own) */
    ngx_http_confhaven_origin_conf_t    *origin_conf;

    unsigned                             running:1;
    unsigned                             args_typed:1;  /* checked already */
};


ngx_http_confhaven_tool_t *ngx_http_confhaven_tools_find(ngx_str_t *name);
json_t *ngx_http_confhaven_tools_list(ngx_uint_t features);
json_t *ngx_http_confhaven_tools_input_schema(ngx_http_confhaven_tool_t *tool);
ngx_int_t ngx_http_confhaven_tools_check_args(ngx_http_confhaven_tool_t *tool,
    json_t *args, u_char *error, size_t size);
ngx_int_t ngx_http_confhaven_tools_prepare(ngx_http_confhaven_tool_run_t *run);
ngx_int_t ngx_http_confhaven_tools_call(ngx_http_confhaven_tool_run_t *run);

ngx_int_t ngx_http_confhaven_tools_ok(ngx_http_confhaven_tool_run_t *run,
    json_t *structured, ngx_str_t *text);
ngx_int_t ngx_http_confhaven_tools_error(ngx_http_confhaven_tool_run_t *run,
    ngx_str_t *message, ngx_str_t *hint);
ngx_int_t ngx_http_confhaven_tools_errorf(ngx_http_confhaven_tool_run_t *run,
    const char *hint, const char *fmt, ...);

/* ngx_http_confhaven_mcp_events.c: for the organizers' analytics */
struct ngx_http_confhaven_mcp_call_s;

void ngx_http_confhaven_mcp_events_tool(
    struct ngx_http_confhaven_mcp_call_s *call,
    ngx_http_confhaven_tool_run_t *run);
void ngx_http_confhaven_mcp_events_resource(
    struct ngx_http_confhaven_mcp_call_s *call,
    ngx_http_confhaven_op_call_t *oc);

/* text helpers for the tools' human-readable summaries */
u_char *ngx_http_confhaven_tools_text_conference(u_char *p, u_char *last,
    json_t *c);
u_char *ngx_http_confhaven_tools_text_session(u_char *p, u_char *last,
    json_t *s);
const char *ngx_http_confhaven_tools_str(json_t *obj, const char *key);
void ngx_http_confhaven_tools_origin(ngx_http_request_t *r,
    ngx_http_confhaven_origin_conf_t *oc, ngx_http_confhaven_op_call_t *call);
void ngx_http_confhaven_tools_public_origin(ngx_http_request_t *r,
    ngx_http_confhaven_origin_conf_t *oc, ngx_str_t *origin);
char *ngx_http_confhaven_tools_public_url(ngx_conf_t *cf, ngx_str_t *url);


extern ngx_http_confhaven_tool_t  ngx_http_confhaven_tool_search_sessions;
extern ngx_http_confhaven_tool_t  ngx_http_confhaven_tool_get_session;
extern ngx_http_confhaven_tool_t  ngx_http_confhaven_tool_list_conferences;
extern ngx_http_confhaven_tool_t
    ngx_http_confhaven_tool_send_calendar_invite;
extern ngx_http_confhaven_tool_t
    ngx_http_confhaven_tool_get_organizer_analytics;


#endif /* _NGX_HTTP_CONFHAVEN_TOOLS_H_INCLUDED_ */
