
/*
 * Copyright (C) ConferenceHaven
 */


#ifndef _NGX_HTTP_CONFHAVEN_MCP_H_INCLUDED_
#define _NGX_HTTP_CONFHAVEN_MCP_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <jansson.h>

#include "ngx_http_confhaven_op.h"
#include "ngx_http_confhaven_tools.h"
#include "ngx_http_confhaven_header.h"


/* JSON-RPC and MCP error codes */
#define NGX_HTTP_CONFHAVEN_MCP_PARSE_ERROR          -32700
#define NGX_HTTP_CONFHAVEN_MCP_INVALID_REQUEST      -32600
#define NGX_HTTP_CONFHAVEN_MCP_METHOD_NOT_FOUND     -32601
#define NGX_HTTP_CONFHAVEN_MCP_INVALID_PARAMS       -32602
#define NGX_HTTP_CONFHAVEN_MCP_INTERNAL_ERROR       -32603
#define NGX_HTTP_CONFHAVEN_MCP_BAD_REQUEST          -32000  /* SDK practice */
#define NGX_HTTP_CONFHAVEN_MCP_SESSION_NOT_FOUND    -32001  /* SDK practice */
#define NGX_HTTP_CONFHAVEN_MCP_RESOURCE_NOT_FOUND   -32002  /* before 2026 */
#define NGX_HTTP_CONFHAVEN_MCP_HEADER_MISMATCH      -32020
#define NGX_HTTP_CONFHAVEN_MCP_MISSING_CAPABILITY   -32021
#define NGX_HTTP_CONFHAVEN_MCP_UNSUPPORTED_VERSION  -32022
#define NGX_HTTP_CONFHAVEN_MCP_SERVER_BUSY          -32000  /* + HTTP 503 */

/* protocol versions, oldest first; 0 is "none" */
#define NGX_HTTP_CONFHAVEN_MCP_V2024_11_05  1
#define NGX_HTTP_CONFHAVEN_MCP_V2025_03_26  2
#define NGX_HTTP_CONFHAVEN_MCP_V2025_06_18  3
#define NGX_HTTP_CONFHAVEN_MCP_V2025_11_25  4
#define NGX_HTTP_CONFHAVEN_MCP_V2026_07_28  5
#define NGX_HTTP_CONFHAVEN_MCP_VLAST_LEGACY NGX_HTTP_CONFHAVEN_MCP_V2025_11_25
#define NGX_HTTP_CONFHAVEN_MCP_VLAST        NGX_HTTP_CONFHAVEN_MCP_V2026_07_28

#define NGX_HTTP_CONFHAVEN_MCP_SESSION_ID_LEN  32
/* a session's organizer credential ("prefix:sha256-hex") and client name */
#define NGX_HTTP_CONFHAVEN_MCP_CRED_LEN        (12 + 1 + 64)
#define NGX_HTTP_CONFHAVEN_MCP_NAME_LEN        64
#define NGX_HTTP_CONFHAVEN_MCP_SESSION_TIMEOUT  (60 * 60 * 1000)
#define NGX_HTTP_CONFHAVEN_MCP_ZONE_NAME       "confhaven_mcp"
#define NGX_HTTP_CONFHAVEN_MCP_ZONE_SIZE       (1024 * 1024)

#define NGX_HTTP_CONFHAVEN_MCP_SERVER_NAME     "confhaven"
#define NGX_HTTP_CONFHAVEN_MCP_SERVER_VERSION  "1.0.0"

/* extensions a session's client announced (session_extensions()) */
#define NGX_HTTP_CONFHAVEN_MCP_EXT_APPS        0x01

/* the per-session event log kept for Last-Event-ID replay */
#define NGX_HTTP_CONFHAVEN_MCP_LOG_EVENTS      64
#define NGX_HTTP_CONFHAVEN_MCP_LOG_SIZE        (64 * 1024)

/* abuse limits: sessions per client address; Retry-After when refused */
#define NGX_HTTP_CONFHAVEN_MCP_PER_CLIENT      32
#define NGX_HTTP_CONFHAVEN_MCP_RETRY_AFTER     "30"

/* per-worker mailboxes for replies to legacy SSE streams */
#define NGX_HTTP_CONFHAVEN_MCP_MAILBOXES       128

/* database work of resources, prompts and completions */
#define NGX_HTTP_CONFHAVEN_MCP_QUERY_TIMEOUT   5000

/* the JSON-RPC bounds (confhaven_mcp_max_batch, _max_body_size) */
#define NGX_HTTP_CONFHAVEN_MCP_MAX_BATCH       16
#define NGX_HTTP_CONFHAVEN_MCP_MAX_BODY_SIZE   (1024 * 1024)

/* room for an "Invalid params: ..." message of the params check */
#define NGX_HTTP_CONFHAVEN_MCP_ERROR_LEN       256

/* a response spliced around a result as sent: head, result, tail */
#define NGX_HTTP_CONFHAVEN_MCP_PARTS           3

/* a buffer for a client's string in the error log: its first 128 bytes */
#define NGX_HTTP_CONFHAVEN_MCP_LOG_LEN         (128 * 4 + sizeof("..."))

/* how long clients may cache lists and reads (ms) */
#define NGX_HTTP_CONFHAVEN_MCP_TTL_STATIC      3600000
#define NGX_HTTP_CONFHAVEN_MCP_TTL_DATA        300000


typedef struct ngx_http_confhaven_mcp_call_s  ngx_http_confhaven_mcp_call_t;

typedef void (*ngx_http_confhaven_mcp_done_pt)(
    ngx_http_confhaven_mcp_call_t *call);


typedef struct ngx_http_confhaven_mcp_query_s  ngx_http_confhaven_mcp_query_t;

/* oc->error.kind says how it went; OP_E_TIMEOUT on our timer too */
typedef void (*ngx_http_confhaven_mcp_query_pt)(
    ngx_http_confhaven_mcp_call_t *call, ngx_http_confhaven_op_call_t *oc);


typedef struct {
    ngx_uint_t                         seq;
    ngx_uint_t                         final;
    ngx_str_t                          data;
} ngx_http_confhaven_mcp_replay_t;


/* a reply for a legacy SSE stream held by another worker */

typedef struct {
    ngx_queue_t                        queue;
    ngx_pid_t                          pid;       /* the owner */
    ngx_uint_t                         tag;       /* its connection */
    size_t                             len;
    u_char                             data[1];
} ngx_http_confhaven_mcp_mail_t;


/* what the zone tells its listener (zone->notify): the cluster */
#define NGX_HTTP_CONFHAVEN_MCP_SESSION_CREATED  1   /* value: version */
#define NGX_HTTP_CONFHAVEN_MCP_SESSION_BOUND    2   /* a legacy stream here */
#define NGX_HTTP_CONFHAVEN_MCP_SESSION_LEVEL    3   /* value: log level */
#define NGX_HTTP_CONFHAVEN_MCP_SESSION_VERSION  4   /* value: version */
#define NGX_HTTP_CONFHAVEN_MCP_SESSION_DELETED  5   /* by its client */
#define NGX_HTTP_CONFHAVEN_MCP_SESSION_CLOSED   6   /* its legacy stream */

typedef void (*ngx_http_confhaven_mcp_notify_pt)(void *data,
    ngx_uint_t event, ngx_str_t *id, ngx_uint_t value);


typedef struct {
    ngx_slab_pool_t                   *shpool;
    struct ngx_http_confhaven_mcp_sh_s *sh;
    ngx_msec_t                         timeout;
    ngx_uint_t                         cluster;  /* ids across instances */
    ngx_uint_t                         max;      /* sessions */
    ngx_uint_t                         per_client;  /* 0: no limit */
    size_t                             log_size; /* per session */
    size_t                             log_budget;  /* all the logs */

    ngx_http_confhaven_mcp_notify_pt   notify;   /* per worker, or NULL */
    void                              *notify_data;
} ngx_http_confhaven_mcp_zone_t;


/*
 * Tools a location lists after the product's: the conformance fixtures
 * (ngx_http_confhaven_mcp_fixtures.c) when confhaven_mcp_conformance_fixtures
 * is on.  list() appends to a tools/list array; call() answers the call,
 * NGX_OK, or NGX_DECLINED when the name is not one of its tools.
 */

typedef ngx_int_t (*ngx_http_confhaven_mcp_tools_list_pt)(
    ngx_http_confhaven_mcp_call_t *call, json_t *tools);
typedef ngx_int_t (*ngx_http_confhaven_mcp_tools_call_pt)(
    ngx_http_confhaven_mcp_call_t *call, ngx_str_t *name);

typedef struct {
    ngx_http_confhaven_mcp_tools_list_pt  list;
    ngx_http_confhaven_mcp_tools_call_pt  call;
} ngx_http_confhaven_mcp_tools_t;


/*
 * The MCP directives of a location (confhaven_mcp*), embedded in the
 * module's loc conf; the transports hand it to a call (call->conf).
 */

typedef struct {
    ngx_flag_t                         enabled;      /* confhaven_mcp */
    ngx_flag_t                         sse;          /* confhaven_mcp_sse */
    ngx_array_t                       *allowed_hosts;    /* ngx_str_t */
    ngx_array_t                       *allowed_origins;  /* ngx_str_t */
    ngx_msec_t                         sse_keepalive;
    ngx_flag_t                         conformance_fixtures;
    ngx_uint_t                         max_batch;
    size_t                             max_body_size;
    const ngx_http_confhaven_mcp_tools_t  *extra_tools;  /* or NULL */
    /* confhaven_public_url, confhaven_trust_forwarded_proto: REST too */
    ngx_http_confhaven_origin_conf_t   origin;
} ngx_http_confhaven_mcp_conf_t;


/*
 * The MCP part of the http block, embedded in the module's main conf: the
 * sessions zone and the cluster; "cluster" is set per worker.
 */

typedef struct {
    ngx_http_confhaven_mcp_zone_t      zone;
    ngx_shm_zone_t                    *shm;
    void                              *tag;      /* of the shm zone */
    ngx_msec_t                         session_timeout;
    ngx_flag_t                         used;
    ngx_flag_t                         cluster_enabled;
    ngx_str_t                          instance; /* with Redis */
    void                              *cluster;  /* per worker */
} ngx_http_confhaven_mcp_main_conf_t;


/* what the access log tells of a request's MCP work ($confhaven_mcp_*) */

typedef struct {
    ngx_str_t                          session;
    ngx_str_t                          method;
    ngx_str_t                          tool;
    ngx_str_t                          trace_id;
    ngx_msec_t                         db_time;
    ngx_uint_t                         cache_status;
    unsigned                           db_used:1;
    unsigned                           stateless:1;  /* 2026-07-28 wire */
} ngx_http_confhaven_mcp_vars_t;


/* what the session zone holds (ngx_http_confhaven_mcp_session_stats()) */

typedef struct {
    ngx_uint_t                         sessions;      /* Streamable HTTP */
    ngx_uint_t                         sse_sessions;  /* legacy streams */
    ngx_uint_t                         get_streams;   /* standalone GETs */
} ngx_http_confhaven_mcp_stats_t;


/*
 * One JSON-RPC message being served.  The transport fills the request
 * part (r, conf, mcf, vars, ops:
 * ngx_http_confhaven_transport_http_call_init()),
 * calls ngx_http_confhaven_mcp_dispatch(), and gets the answer in
 * done(): call->response (NULL for a notification or a client response)
 * and call->status, the HTTP status the transport should use.
 */

struct ngx_http_confhaven_mcp_call_s {
    ngx_http_request_t                *r;        /* pool, log */
    ngx_http_confhaven_mcp_conf_t     *conf;     /* the location's */
    ngx_http_confhaven_mcp_main_conf_t  *mcf;
    ngx_http_confhaven_mcp_vars_t     *vars;     /* for the log, or NULL */
    ngx_http_confhaven_op_env_t      *ops;      /* what operations get */
    json_t                            *msg;      /* owned by r->pool */
    json_t                            *id;       /* borrowed from msg */
    json_t                            *params;   /* borrowed from msg */
    ngx_str_t                          method;

    ngx_uint_t                         version;  /* negotiated/requested */
    ngx_str_t                          session;  /* Mcp-Session-Id */

    json_t                            *response; /* owned by r->pool */
    ngx_str_t                          result_text;  /* not yet in it */
    ngx_uint_t                         status;

    ngx_http_confhaven_mcp_done_pt     done;
    void                              *data;

    unsigned                           modern:1;     /* 2026 wire */
    unsigned                           notification:1;
    unsigned                           completed:1;
    unsigned                           checked:1;    /* params typed */
    unsigned                           args_typed:1; /* tools/call's, by
                                                        the inputSchema */
    unsigned                           apps:1;       /* MCP Apps client */
    unsigned                           apps_known:1; /* apps is decided */
};


/* ngx_http_confhaven_mcp.c */
ngx_int_t ngx_http_confhaven_mcp_parse(ngx_http_request_t *r, u_char *data,
    size_t len, json_t **out, ngx_str_t *error);
ngx_int_t ngx_http_confhaven_mcp_validate(ngx_http_confhaven_mcp_call_t *call,
    json_t *msg);
ngx_int_t ngx_http_confhaven_mcp_check_params(ngx_str_t *method,
    ngx_uint_t modern, json_t *params, u_char *error, size_t size);
void ngx_http_confhaven_mcp_dispatch(ngx_http_confhaven_mcp_call_t *call);
ngx_uint_t ngx_http_confhaven_mcp_version(u_char *data, size_t len);
ngx_str_t *ngx_http_confhaven_mcp_version_name(ngx_uint_t version);
json_t *ngx_http_confhaven_mcp_supported_versions(void);
ngx_int_t ngx_http_confhaven_mcp_modern_method(ngx_str_t *method);
void ngx_http_confhaven_mcp_trace(ngx_http_confhaven_mcp_call_t *call);
void ngx_http_confhaven_mcp_client_name_keep(
    ngx_http_confhaven_mcp_call_t *call, ngx_str_t *session);

/* ngx_http_confhaven_mcp_reply.c */
void ngx_http_confhaven_mcp_error(ngx_http_confhaven_mcp_call_t *call,
    ngx_uint_t status, ngx_int_t code, const char *message, json_t *data);
void ngx_http_confhaven_mcp_result(ngx_http_confhaven_mcp_call_t *call,
    json_t *result);
void ngx_http_confhaven_mcp_result_text(ngx_http_confhaven_mcp_call_t *call,
    ngx_str_t *text);
ngx_int_t ngx_http_confhaven_mcp_response_json(
    ngx_http_confhaven_mcp_call_t *call);
ngx_int_t ngx_http_confhaven_mcp_response_text(
    ngx_http_confhaven_mcp_call_t *call, ngx_str_t *out);
ngx_int_t ngx_http_confhaven_mcp_response_parts(
    ngx_http_confhaven_mcp_call_t *call, ngx_str_t *parts, ngx_uint_t *n);
json_t *ngx_http_confhaven_mcp_error_message(json_t *id, ngx_int_t code,
    const char *message, json_t *data);
void ngx_http_confhaven_mcp_set_error(ngx_http_confhaven_mcp_call_t *call,
    ngx_uint_t status, ngx_int_t code, const char *message, json_t *data);
void ngx_http_confhaven_mcp_complete(ngx_http_confhaven_mcp_call_t *call);
ngx_int_t ngx_http_confhaven_mcp_ops_env(ngx_http_confhaven_mcp_call_t *call,
    ngx_http_confhaven_op_env_t **env);
void ngx_http_confhaven_mcp_cacheable(ngx_http_confhaven_mcp_call_t *call,
    json_t *result, ngx_uint_t ttl);
void ngx_http_confhaven_mcp_cacheable_private(
    ngx_http_confhaven_mcp_call_t *call, json_t *result, ngx_uint_t ttl);
ngx_int_t ngx_http_confhaven_mcp_no_cursor(
    ngx_http_confhaven_mcp_call_t *call);
ngx_int_t ngx_http_confhaven_mcp_query(ngx_http_confhaven_mcp_call_t *call,
    ngx_http_confhaven_op_t *op, ngx_uint_t nparams, char **params,
    ngx_http_confhaven_mcp_query_pt handler);
json_t *ngx_http_confhaven_mcp_query_value(ngx_http_confhaven_mcp_call_t *call,
    ngx_http_confhaven_op_call_t *oc);
ngx_uint_t ngx_http_confhaven_mcp_query_refused(
    ngx_http_confhaven_op_call_t *oc);

/* ngx_http_confhaven_mcp_resources.c */
void ngx_http_confhaven_mcp_resources_list(
    ngx_http_confhaven_mcp_call_t *call);
void ngx_http_confhaven_mcp_resources_templates(
    ngx_http_confhaven_mcp_call_t *call);
void ngx_http_confhaven_mcp_resources_read(
    ngx_http_confhaven_mcp_call_t *call);
void ngx_http_confhaven_mcp_resources_complete(
    ngx_http_confhaven_mcp_call_t *call);

/* ngx_http_confhaven_mcp_prompts.c */
void ngx_http_confhaven_mcp_prompts_list(ngx_http_confhaven_mcp_call_t *call);
void ngx_http_confhaven_mcp_prompts_get(ngx_http_confhaven_mcp_call_t *call);

/* ngx_http_confhaven_mcp_apps.c */
ngx_uint_t ngx_http_confhaven_mcp_apps_client(
    ngx_http_confhaven_mcp_call_t *call);
void ngx_http_confhaven_mcp_apps_capabilities(
    ngx_http_confhaven_mcp_call_t *call, json_t *caps);
void ngx_http_confhaven_mcp_apps_tools(ngx_http_confhaven_mcp_call_t *call,
    json_t *tools);
void ngx_http_confhaven_mcp_apps_resources(
    ngx_http_confhaven_mcp_call_t *call, json_t *resources);
ngx_int_t ngx_http_confhaven_mcp_apps_read(
    ngx_http_confhaven_mcp_call_t *call, json_t *uri);

/* ngx_http_confhaven_mcp_fixtures.c */
extern const ngx_http_confhaven_mcp_tools_t  ngx_http_confhaven_mcp_fixtures;

/* ngx_http_confhaven_mcp_session.c */
char *ngx_http_confhaven_mcp_session_set_zone(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
char *ngx_http_confhaven_mcp_session_init_conf(ngx_conf_t *cf,
    ngx_http_confhaven_mcp_main_conf_t *mcf);
ngx_uint_t ngx_http_confhaven_mcp_session_request_tag(void);
ngx_int_t ngx_http_confhaven_mcp_session_create(
    ngx_http_confhaven_mcp_zone_t *zone, ngx_uint_t version, u_char *id,
    ngx_str_t *client, ngx_uint_t tag, ngx_log_t *log);
ngx_uint_t ngx_http_confhaven_mcp_session_find(
    ngx_http_confhaven_mcp_zone_t *zone, ngx_str_t *id, ngx_uint_t streams);
ngx_int_t ngx_http_confhaven_mcp_session_delete(
    ngx_http_confhaven_mcp_zone_t *zone, ngx_str_t *id);
ngx_int_t ngx_http_confhaven_mcp_session_stream_open(
    ngx_http_confhaven_mcp_zone_t *zone, ngx_str_t *id, ngx_uint_t *stream);
ngx_int_t ngx_http_confhaven_mcp_session_event_log(
    ngx_http_confhaven_mcp_zone_t *zone, ngx_str_t *id, ngx_uint_t stream,
    ngx_str_t *data, ngx_uint_t final, ngx_uint_t *seq, ngx_log_t *log);
ngx_int_t ngx_http_confhaven_mcp_session_event_replay(
    ngx_http_confhaven_mcp_zone_t *zone, ngx_str_t *id, ngx_uint_t stream,
    ngx_uint_t after, ngx_array_t *out, ngx_uint_t *final);
ngx_int_t ngx_http_confhaven_mcp_session_get_claim(
    ngx_http_confhaven_mcp_zone_t *zone, ngx_str_t *id, ngx_uint_t tag);
void ngx_http_confhaven_mcp_session_get_release(
    ngx_http_confhaven_mcp_zone_t *zone, ngx_str_t *id, ngx_uint_t tag);
ngx_int_t ngx_http_confhaven_mcp_session_set_level(
    ngx_http_confhaven_mcp_zone_t *zone, ngx_str_t *id, ngx_uint_t level);
ngx_int_t ngx_http_confhaven_mcp_session_set_version(
    ngx_http_confhaven_mcp_zone_t *zone, ngx_str_t *id, ngx_uint_t version);
ngx_int_t ngx_http_confhaven_mcp_session_set_client(
    ngx_http_confhaven_mcp_zone_t *zone, ngx_str_t *id, ngx_str_t *cred,
    ngx_str_t *name);
ngx_int_t ngx_http_confhaven_mcp_session_client(
    ngx_http_confhaven_mcp_zone_t *zone, ngx_str_t *id, ngx_pool_t *pool,
    ngx_str_t *cred, ngx_str_t *name);
ngx_int_t ngx_http_confhaven_mcp_session_set_extensions(
    ngx_http_confhaven_mcp_zone_t *zone, ngx_str_t *id, ngx_uint_t ext);
ngx_uint_t ngx_http_confhaven_mcp_session_extensions(
    ngx_http_confhaven_mcp_zone_t *zone, ngx_str_t *id);
void ngx_http_confhaven_mcp_session_sse_unbind(
    ngx_http_confhaven_mcp_zone_t *zone, ngx_str_t *id, ngx_uint_t tag);
ngx_uint_t ngx_http_confhaven_mcp_session_sse_find(
    ngx_http_confhaven_mcp_zone_t *zone, ngx_str_t *id);
ngx_int_t ngx_http_confhaven_mcp_session_sse_route(
    ngx_http_confhaven_mcp_zone_t *zone, ngx_str_t *id, ngx_str_t *data,
    ngx_uint_t *tag, ngx_log_t *log);
void ngx_http_confhaven_mcp_session_sse_drain(
    ngx_http_confhaven_mcp_zone_t *zone, ngx_queue_t *out);
void ngx_http_confhaven_mcp_session_sse_free(
    ngx_http_confhaven_mcp_zone_t *zone, ngx_queue_t *mail);
ngx_int_t ngx_http_confhaven_mcp_session_import(
    ngx_http_confhaven_mcp_zone_t *zone, ngx_str_t *id, ngx_uint_t version,
    ngx_uint_t level, ngx_log_t *log);
ngx_int_t ngx_http_confhaven_mcp_session_drop(
    ngx_http_confhaven_mcp_zone_t *zone, ngx_str_t *id);
void ngx_http_confhaven_mcp_session_stats(ngx_http_confhaven_mcp_zone_t *zone,
    ngx_http_confhaven_mcp_stats_t *st);


#endif /* _NGX_HTTP_CONFHAVEN_MCP_H_INCLUDED_ */
