
/*
 * Copyright (C) ConferenceHaven
 */


#ifndef _NGX_HTTP_CONFHAVEN_TOOLS_H_INCLUDED_
#define _NGX_HTTP_CONFHAVEN_TOOLS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <jansson.h>

#include "ngx_http_confhaven_pg.h"


#define NGX_HTTP_CONFHAVEN_TOOL_MAX_STRING  500


typedef struct ngx_http_confhaven_tool_s      ngx_http_confhaven_tool_t;
typedef struct ngx_http_confhaven_tool_run_s  ngx_http_confhaven_tool_run_t;

typedef void (*ngx_http_confhaven_tool_done_pt)(
    ngx_http_confhaven_tool_run_t *run);

/*
 * prepare: validate the arguments and fill run->sql and run->params;
 *     NGX_OK, NGX_DECLINED (a tool error was set) or NGX_ERROR.
 * finish: turn the finished query (run->op) into the result; NGX_OK when
 *     run->result is set, NGX_AGAIN when it started another query.
 */

typedef ngx_int_t (*ngx_http_confhaven_tool_prepare_pt)(
    ngx_http_confhaven_tool_run_t *run, json_t *args);
typedef ngx_int_t (*ngx_http_confhaven_tool_finish_pt)(
    ngx_http_confhaven_tool_run_t *run);


struct ngx_http_confhaven_tool_s {
    ngx_str_t                            name;
    const char                          *title;
    const char                          *description;
    const char                          *input_schema;    /* JSON text */
    const char                          *output_schema;   /* JSON text */
    ngx_msec_t                           timeout;
    ngx_http_confhaven_tool_prepare_pt   prepare;
    ngx_http_confhaven_tool_finish_pt    finish;
};


struct ngx_http_confhaven_tool_run_s {
    ngx_http_request_t                  *r;
    ngx_http_confhaven_tool_t           *tool;
    json_t                              *args;        /* borrowed */

    const char                          *sql;
    ngx_uint_t                           nparams;
    char                         *params[NGX_HTTP_CONFHAVEN_PG_MAX_PARAMS];

    ngx_http_confhaven_pg_op_t          *op;          /* the result */
    ngx_http_confhaven_fetch_t          *fetch;       /* in flight */
    ngx_event_t                          timer;
    ngx_uint_t                           stage;       /* tool's own */
    ngx_str_t                            note;        /* tool's own */
    void                                *tool_data;   /* tool's own */
    ngx_msec_t                           db_time;

    json_t                              *result;      /* CallToolResult */

    ngx_http_confhaven_tool_done_pt      done;
    void                                *data;

    unsigned                             running:1;
};


ngx_http_confhaven_tool_t *ngx_http_confhaven_tools_find(ngx_str_t *name);
json_t *ngx_http_confhaven_tools_list(ngx_uint_t version);
json_t *ngx_http_confhaven_tools_input_schema(ngx_http_confhaven_tool_t *tool);
ngx_int_t ngx_http_confhaven_tools_check_args(ngx_http_confhaven_tool_t *tool,
    json_t *args, u_char *error, size_t size);
ngx_int_t ngx_http_confhaven_tools_call(ngx_http_confhaven_tool_run_t *run);

ngx_int_t ngx_http_confhaven_tool_query(ngx_http_confhaven_tool_run_t *run);
ngx_int_t ngx_http_confhaven_tool_ok(ngx_http_confhaven_tool_run_t *run,
    json_t *structured, ngx_str_t *text);
ngx_int_t ngx_http_confhaven_tool_error(ngx_http_confhaven_tool_run_t *run,
    ngx_str_t *message, ngx_str_t *hint);
ngx_int_t ngx_http_confhaven_tool_errorf(ngx_http_confhaven_tool_run_t *run,
    const char *hint, const char *fmt, ...);
ngx_int_t ngx_http_confhaven_tool_db_error(ngx_http_confhaven_tool_run_t *run);
json_t *ngx_http_confhaven_tool_value(ngx_http_confhaven_tool_run_t *run);

ngx_int_t ngx_http_confhaven_tool_args(ngx_http_confhaven_tool_run_t *run,
    json_t *args, const char **names, const char *usage);
ngx_int_t ngx_http_confhaven_tool_arg_string(
    ngx_http_confhaven_tool_run_t *run, json_t *args, const char *name,
    size_t max, char **out);
ngx_int_t ngx_http_confhaven_tool_arg_bool(ngx_http_confhaven_tool_run_t *run,
    json_t *args, const char *name, char **out);
ngx_int_t ngx_http_confhaven_tool_arg_int(ngx_http_confhaven_tool_run_t *run,
    json_t *args, const char *name, ngx_int_t min, ngx_int_t max,
    const char *hint, char **out);

/* text helpers for the tools' human-readable summaries */
u_char *ngx_http_confhaven_tool_text_session(u_char *p, u_char *last,
    json_t *s);
const char *ngx_http_confhaven_tool_str(json_t *obj, const char *key);


extern ngx_http_confhaven_tool_t  ngx_http_confhaven_tool_search_sessions;
extern ngx_http_confhaven_tool_t  ngx_http_confhaven_tool_get_session;
extern ngx_http_confhaven_tool_t  ngx_http_confhaven_tool_list_conferences;


#endif /* _NGX_HTTP_CONFHAVEN_TOOLS_H_INCLUDED_ */
