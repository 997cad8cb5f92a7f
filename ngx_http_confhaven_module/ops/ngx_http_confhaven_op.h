
/*
 * Copyright (C) ConferenceHaven
 */


#ifndef _NGX_HTTP_CONFHAVEN_OP_H_INCLUDED_
#define _NGX_HTTP_CONFHAVEN_OP_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <jansson.h>

#include "ngx_http_confhaven_pg.h"
#include "ngx_http_confhaven_cache.h"
#include "ngx_http_confhaven_trace.h"


/*
 * An operation is one capability (search sessions, get a session, list
 * conferences, ...) described once: its parameters with their types,
 * bounds, defaults and canonical form, the SQL function it calls, its
 * cache class and how its errors read.  REST routes, MCP tools, resources
 * and prompts are adapters: they read their wire's arguments, hand them
 * to ngx_http_confhaven_op_set(), start the call and render the outcome.
 * The same question from any front end is one canonical key, so one
 * cache entry.
 */


/* parameter types */
#define NGX_HTTP_CONFHAVEN_OP_TEXT     0   /* echoed as given, blanks folded */
#define NGX_HTTP_CONFHAVEN_OP_FOLD     1   /* letter case means nothing */
#define NGX_HTTP_CONFHAVEN_OP_INT      2   /* min..max, decimal */
#define NGX_HTTP_CONFHAVEN_OP_BOOL     3   /* "true" or "false" */
#define NGX_HTTP_CONFHAVEN_OP_ID       4   /* a positive bigint */
#define NGX_HTTP_CONFHAVEN_OP_RAW      5   /* a document, kept as it is */
/* an organizer's API key: becomes "prefix:sha256-hex", or "-" */
#define NGX_HTTP_CONFHAVEN_OP_KEY      6

/* where a REST request carries a parameter (MCP: always an argument) */
#define NGX_HTTP_CONFHAVEN_OP_IN_QUERY  0
#define NGX_HTTP_CONFHAVEN_OP_IN_PATH   1
#define NGX_HTTP_CONFHAVEN_OP_IN_BODY   2
#define NGX_HTTP_CONFHAVEN_OP_IN_HEADER 3   /* X-API-Key, Authorization */

/*
 * cache classes: how long an answer stays fresh.  An operation with a
 * cache class only reads (an answer that may be served from the cache may
 * be served by a read replica too: see confhaven_pg_server ... replica);
 * NO_CACHE ones run on the primary.
 */
#define NGX_HTTP_CONFHAVEN_OP_NO_CACHE  0
#define NGX_HTTP_CONFHAVEN_OP_SEARCH    1   /* confhaven_cache_ttl search */
#define NGX_HTTP_CONFHAVEN_OP_DOCUMENT  2   /* confhaven_cache_ttl document */

/* error kinds of a finished call, whatever the front end */
#define NGX_HTTP_CONFHAVEN_OP_OK           0
#define NGX_HTTP_CONFHAVEN_OP_E_INPUT      1   /* the caller's mistake */
#define NGX_HTTP_CONFHAVEN_OP_E_NOT_FOUND  2
#define NGX_HTTP_CONFHAVEN_OP_E_INVALID    3   /* a schedule we cannot read */
#define NGX_HTTP_CONFHAVEN_OP_E_TIMEOUT    4
#define NGX_HTTP_CONFHAVEN_OP_E_BUSY       5
#define NGX_HTTP_CONFHAVEN_OP_E_DOWN       6   /* no database */
#define NGX_HTTP_CONFHAVEN_OP_E_SCHEMA     7   /* migrations not applied */
#define NGX_HTTP_CONFHAVEN_OP_E_INTERNAL   8
#define NGX_HTTP_CONFHAVEN_OP_E_LIMIT      9   /* too many: retry_after */
#define NGX_HTTP_CONFHAVEN_OP_E_UPSTREAM  10   /* a remote service failed */
#define NGX_HTTP_CONFHAVEN_OP_E_AUTH      11   /* no valid API key */
#define NGX_HTTP_CONFHAVEN_OP_E_TIER      12   /* beyond the organizer's tier */

#define NGX_HTTP_CONFHAVEN_OP_MAX_PARAMS   NGX_HTTP_CONFHAVEN_PG_MAX_PARAMS
#define NGX_HTTP_CONFHAVEN_OP_ERROR_LEN    256


/* the organizers' key parameter (their first; the import's last) */
#define NGX_HTTP_CONFHAVEN_OP_KEY_PARAM                                      \
    { "api_key", NULL, NGX_HTTP_CONFHAVEN_OP_KEY, 0, 0, 200, NULL,           \
      "Your organizer API key (chk_...). Prefer sending it as the "          \
      "X-API-Key or Authorization: Bearer header of the MCP connection: "    \
      "tool arguments end up in assistants' logs.", NULL, NULL,             \
      NGX_HTTP_CONFHAVEN_OP_IN_HEADER }


typedef struct ngx_http_confhaven_op_call_s  ngx_http_confhaven_op_call_t;

typedef void (*ngx_http_confhaven_op_done_pt)(
    ngx_http_confhaven_op_call_t *call);


typedef struct {
    const char                        *name;       /* MCP argument name */
    const char                        *rest_name;  /* REST, when it differs */
    ngx_uint_t                         type;
    ngx_int_t                          min;        /* OP_INT */
    ngx_int_t                          max;
    size_t                             max_len;    /* bytes */
    const char                        *dflt;       /* canonical; NULL: none */
    const char                        *description;
    const char                       **values;     /* an enum, NULL ended */
    const char                        *hint;       /* when it is wrong */
    ngx_uint_t                         in;         /* OP_IN_* */
} ngx_http_confhaven_op_param_t;


typedef struct {
    ngx_str_t                          name;
    /* returns the answer, its item count and its cache tag (a slug) */
    const char                        *sql;
    ngx_http_confhaven_op_param_t     *params;
    ngx_uint_t                         nparams;
    ngx_uint_t                         cache;      /* cache class */
    ngx_msec_t                         timeout;    /* 0: the env's */
    /* a write: its first parameter names the cache tag to drop after */
    ngx_uint_t                         invalidates;
} ngx_http_confhaven_op_t;


/*
 * An operation of several steps (a thread pool job, Redis, ...) instead
 * of one SQL call: its start and cancel hooks, in op.c's table of them.
 */

typedef struct {
    ngx_http_confhaven_op_t           *op;
    ngx_int_t                        (*start)(
                                           ngx_http_confhaven_op_call_t *call);
    void                             (*cancel)(
                                           ngx_http_confhaven_op_call_t *call);
} ngx_http_confhaven_op_steps_t;


/* what a front end lends an operation: filled from its configuration */
typedef struct {
    ngx_http_confhaven_cache_t        *cache;      /* per worker */
    ngx_http_confhaven_cache_conf_t   *conf;       /* the location's */
    ngx_msec_t                         timeout;    /* 0: the pool's */
    ngx_http_confhaven_span_t         *trace;      /* the request's span */
} ngx_http_confhaven_op_env_t;


typedef struct {
    ngx_uint_t                         kind;       /* OP_E_* */
    ngx_uint_t                         status;     /* HTTP status */
    const char                        *code;       /* REST error code */
    ngx_uint_t                         retry_after;   /* s, 0: none */
    /* OP_E_TIER: the organizer's tier, the one that allows (may be empty) */
    ngx_str_t                          tier;
    ngx_str_t                          required_tier;
} ngx_http_confhaven_op_error_t;


struct ngx_http_confhaven_op_call_s {
    ngx_http_confhaven_op_t           *op;
    ngx_http_confhaven_op_env_t      *env;
    ngx_pool_t                        *pool;
    ngx_log_t                         *log;
    char                        *values[NGX_HTTP_CONFHAVEN_OP_MAX_PARAMS];

    ngx_http_confhaven_op_done_pt      handler;
    void                              *data;

    ngx_str_t                          key;        /* canonical */
    ngx_http_confhaven_fetch_t         fetch;      /* the outcome */
    ngx_http_confhaven_op_error_t      error;      /* set on failure */
    ngx_http_confhaven_redis_op_t     *rop;        /* invalidating */

    /* set by the front end: its absolute base URL and the client */
    ngx_str_t                          origin;     /* "https://host" */
    ngx_str_t                          client;     /* its address */
    void                              *state;      /* op->start's */
    /* the span its database, cache and offloaded calls hang under */
    ngx_http_confhaven_span_t         *trace;
};


void ngx_http_confhaven_op_init(ngx_http_confhaven_op_call_t *call,
    ngx_http_confhaven_op_t *op, ngx_http_confhaven_op_env_t *env,
    ngx_pool_t *pool, ngx_log_t *log);
ngx_int_t ngx_http_confhaven_op_find(ngx_http_confhaven_op_t *op,
    u_char *name, size_t len, ngx_uint_t rest);
ngx_int_t ngx_http_confhaven_op_set(ngx_http_confhaven_op_call_t *call,
    ngx_uint_t i, ngx_uint_t rest, u_char *text, size_t len, u_char *err,
    size_t size);
ngx_int_t ngx_http_confhaven_op_key(ngx_http_confhaven_op_call_t *call);
ngx_int_t ngx_http_confhaven_op_steps_add(
    ngx_http_confhaven_op_steps_t *steps);
ngx_int_t ngx_http_confhaven_op_start(ngx_http_confhaven_op_call_t *call);
void ngx_http_confhaven_op_cancel(ngx_http_confhaven_op_call_t *call);
void ngx_http_confhaven_op_classify(ngx_http_confhaven_op_call_t *call);
const char *ngx_http_confhaven_op_cache_state(
    ngx_http_confhaven_op_env_t *env);
ngx_int_t ngx_http_confhaven_op_header_key(ngx_list_t *headers,
    ngx_table_elt_t *authorization, ngx_str_t *key);
ngx_int_t ngx_http_confhaven_op_admin_key(ngx_list_t *headers,
    ngx_table_elt_t *authorization, ngx_str_t *key);
ngx_int_t ngx_http_confhaven_op_key_credential(ngx_pool_t *pool,
    ngx_str_t *key, ngx_str_t *cred);
ngx_int_t ngx_http_confhaven_op_set_credential(
    ngx_http_confhaven_op_call_t *call, ngx_uint_t i, ngx_str_t *cred);


extern ngx_http_confhaven_op_t  ngx_http_confhaven_op_health;
extern ngx_http_confhaven_op_t  ngx_http_confhaven_op_search_sessions;
extern ngx_http_confhaven_op_t  ngx_http_confhaven_op_get_session;
extern ngx_http_confhaven_op_t  ngx_http_confhaven_op_list_conferences;
extern ngx_http_confhaven_op_t  ngx_http_confhaven_op_get_conference;
extern ngx_http_confhaven_op_t  ngx_http_confhaven_op_import;
extern ngx_http_confhaven_op_t  ngx_http_confhaven_op_organizer_import;
extern ngx_http_confhaven_op_t  ngx_http_confhaven_op_complete;
extern ngx_http_confhaven_op_t  ngx_http_confhaven_op_day_plan;
extern ngx_http_confhaven_op_t  ngx_http_confhaven_op_invite;


/* calendars (ngx_http_confhaven_op_calendar.c) */
#define NGX_HTTP_CONFHAVEN_OP_BASE_LEN          300
#define NGX_HTTP_CONFHAVEN_OP_AGENDA_MAX_BODY   (16 * 1024)

extern ngx_http_confhaven_op_t  ngx_http_confhaven_op_session_ics;
extern ngx_http_confhaven_op_t  ngx_http_confhaven_op_agenda_create;
extern ngx_http_confhaven_op_t  ngx_http_confhaven_op_agenda_get;
extern ngx_http_confhaven_op_t  ngx_http_confhaven_op_agenda_replace;
extern ngx_http_confhaven_op_t  ngx_http_confhaven_op_agenda_delete;
extern ngx_http_confhaven_op_t  ngx_http_confhaven_op_agenda_ics;
extern ngx_http_confhaven_op_t  ngx_http_confhaven_op_organizer_create;
extern ngx_http_confhaven_op_t  ngx_http_confhaven_op_organizer_link;
extern ngx_http_confhaven_op_t  ngx_http_confhaven_op_key_issue;
extern ngx_http_confhaven_op_t  ngx_http_confhaven_op_key_revoke;
extern ngx_http_confhaven_op_t  ngx_http_confhaven_op_organizer_whoami;
extern ngx_http_confhaven_op_t  ngx_http_confhaven_op_key_rotate;
extern ngx_http_confhaven_op_t  ngx_http_confhaven_op_organizer_analytics;
extern ngx_http_confhaven_op_t  ngx_http_confhaven_op_organizer_analytics_csv;
extern ngx_http_confhaven_op_t  ngx_http_confhaven_op_evaluations;
extern ngx_http_confhaven_op_t  ngx_http_confhaven_op_evaluation_review;
extern ngx_http_confhaven_op_t  ngx_http_confhaven_op_evaluation_judge;
extern ngx_http_confhaven_op_t  ngx_http_confhaven_op_organizer_tier;


/*
 * The outcomes of an operation made of steps (invites, billing): root, a
 * JSON object the caller keeps, as the call's 200 answer; or an error in
 * the call's words.  Both fill call->fetch and run call->handler; part
 * names the operation in the error log ("invite", "billing").
 */
void ngx_http_confhaven_op_answer(ngx_http_confhaven_op_call_t *call,
    json_t *root, ngx_msec_t started, const char *part);
void ngx_http_confhaven_op_vfail(ngx_http_confhaven_op_call_t *call,
    const char *part, ngx_uint_t kind, ngx_uint_t status, const char *code,
    ngx_uint_t retry_after, const char *hint, const char *fmt, va_list args);


#endif /* _NGX_HTTP_CONFHAVEN_OP_H_INCLUDED_ */
