
/*
 * Copyright (C) ConferenceHaven
 */


#ifndef _NGX_HTTP_CONFHAVEN_MODULE_H_INCLUDED_
#define _NGX_HTTP_CONFHAVEN_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_confhaven_pg.h"
#include "ngx_http_confhaven_redis.h"
#include "ngx_http_confhaven_cache.h"
#include "ngx_http_confhaven_op.h"
#include "ngx_http_confhaven_op_invite.h"
#include "ngx_http_confhaven_op_billing.h"
#include "ngx_http_confhaven_events.h"
#include "ngx_http_confhaven_mcp.h"
#include "ngx_http_confhaven_mcp_cluster.h"
#include "ngx_http_confhaven_otlp.h"


#define NGX_HTTP_CONFHAVEN_IMPORT_MAX_SIZE     (32 * 1024 * 1024)
#define NGX_HTTP_CONFHAVEN_CACHE_TTL_SEARCH    (5 * 60 * 1000)
#define NGX_HTTP_CONFHAVEN_CACHE_TTL_DOCUMENT  (60 * 60 * 1000)


typedef struct {
    ngx_http_confhaven_pg_conf_t   pg;
    ngx_http_confhaven_pg_pool_t  *pool;       /* per worker */
    ngx_flag_t                     used;

    ngx_http_confhaven_redis_conf_t  redis_conf;
    ngx_http_confhaven_redis_t      *redis;    /* per worker */
    ngx_http_confhaven_cache_t      *cache;    /* per worker */

    ngx_http_confhaven_mcp_main_conf_t  mcp;
    void                            *mcp_sse_worker;   /* per worker */
    ngx_int_t                        request_id_index; /* $request_id */
    size_t                           cache_local;      /* per worker */

    ngx_http_confhaven_invite_conf_t  invite;  /* send_calendar_invite */

    ngx_http_confhaven_events_conf_t  events;          /* organizers */

    ngx_flag_t                       metrics_used;
    ngx_shm_zone_t                  *metrics_zone;

    ngx_http_confhaven_billing_conf_t  billing;        /* Stripe */
    ngx_http_confhaven_otlp_conf_t   otlp;             /* traces */
} ngx_http_confhaven_main_conf_t;


typedef struct {
    ngx_flag_t                     rest;
    ngx_flag_t                     json_errors;
    ngx_flag_t                     mcp_errors;
    ngx_str_t                      admin_key;
    size_t                         import_max_size;
    ngx_msec_t                     import_timeout;
    ngx_http_confhaven_cache_conf_t  cache;

    ngx_http_confhaven_mcp_conf_t    mcp;

    ngx_flag_t                       metrics;
} ngx_http_confhaven_loc_conf_t;


typedef struct {
    ngx_str_t                      route;
    ngx_str_t                      error;
    ngx_int_t                      result_count;
    ngx_int_t                      rc;
    ngx_msec_t                     db_time;

    ngx_http_confhaven_op_call_t  *call;         /* REST */
    ngx_http_confhaven_op_env_t   env;
    ngx_uint_t                     cache_status;
    ngx_uint_t                     kind;

    ngx_http_confhaven_mcp_vars_t  mcp_vars;
    void                          *mcp;
    ngx_http_confhaven_mcp_cluster_req_t  *mcp_cluster;  /* Redis said */

    unsigned                       db_used:1;
} ngx_http_confhaven_ctx_t;


ngx_http_confhaven_ctx_t *ngx_http_confhaven_get_ctx(ngx_http_request_t *r);


extern ngx_module_t  ngx_http_confhaven_module;
extern ngx_str_t     ngx_http_confhaven_openapi;


#endif /* _NGX_HTTP_CONFHAVEN_MODULE_H_INCLUDED_ */
