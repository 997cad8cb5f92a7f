
/*
 * Copyright (C) ConferenceHaven
 */


#ifndef _NGX_HTTP_CONFHAVEN_CACHE_H_INCLUDED_
#define _NGX_HTTP_CONFHAVEN_CACHE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_confhaven_pg.h"
#include "ngx_http_confhaven_redis.h"
#include "ngx_http_confhaven_trace.h"


/* f->cache_status */
#define NGX_HTTP_CONFHAVEN_CACHE_NONE     0   /* not cacheable or off */
#define NGX_HTTP_CONFHAVEN_CACHE_HIT      1
#define NGX_HTTP_CONFHAVEN_CACHE_MISS     2
#define NGX_HTTP_CONFHAVEN_CACHE_EXPIRED  3
#define NGX_HTTP_CONFHAVEN_CACHE_BYPASS   4   /* Redis down or slow */
#define NGX_HTTP_CONFHAVEN_CACHE_LOCAL    5   /* a hit in the worker */


typedef struct ngx_http_confhaven_fetch_s   ngx_http_confhaven_fetch_t;
typedef struct ngx_http_confhaven_flight_s  ngx_http_confhaven_flight_t;
typedef struct ngx_http_confhaven_cache_s   ngx_http_confhaven_cache_t;

typedef void (*ngx_http_confhaven_fetch_pt)(ngx_http_confhaven_fetch_t *f);


/*
 * One read through the cache: the query (SQL returning body, count and
 * invalidation tag), the canonical key that names it, and what came back.
 * Concurrent fetches of the same key in a worker share one database query
 * (a "flight").  Without sql, a fetch reads Redis only: a derived entry
 * (an MCP tool result) that its owner stores with cache_store().  The
 * handler runs exactly once, possibly before ngx_http_confhaven_cache_fetch()
 * returns; the caller owns whatever request it serves.
 */

struct ngx_http_confhaven_fetch_s {
    const char                        *sql;
    ngx_uint_t                         nparams;
    const char                        *values[NGX_HTTP_CONFHAVEN_PG_MAX_PARAMS];
    ngx_str_t                          key;        /* empty: no cache */
    ngx_msec_t                         ttl;
    ngx_http_confhaven_cache_t        *cache;
    ngx_flag_t                         use_cache;
    ngx_msec_t                         timeout;    /* 0: the pool's */
    ngx_pool_t                        *pool;       /* the answer's memory */
    ngx_log_t                         *log;
    ngx_http_confhaven_fetch_pt        handler;
    void                              *data;

    ngx_uint_t                         status;     /* op status */
    ngx_str_t                          value;      /* empty: NULL, a miss */
    ngx_int_t                          count;
    ngx_str_t                          tag;
    ngx_str_t                          sqlstate;
    ngx_str_t                          message;
    ngx_str_t                          hint;
    ngx_str_t                          detail;
    ngx_msec_t                         elapsed;
    ngx_uint_t                         cache_status;

    ngx_http_confhaven_flight_t       *flight;
    ngx_http_confhaven_redis_op_t     *rop;
    ngx_queue_t                        queue;      /* in the flight */
    ngx_str_t                          rkey;
    ngx_str_t                          gen;
    ngx_uint_t                         local_seq;
    ngx_http_confhaven_span_t         *trace;      /* parent, or NULL */
    ngx_http_confhaven_span_t         *span;       /* Redis or database */
    unsigned                           gen_known:1;
    unsigned                           db_used:1;
    unsigned                           active:1;
    unsigned                           local_ok:1;
    unsigned                           read_only:1;  /* a replica may answer */
};


typedef struct {
    ngx_flag_t                         enabled;
    ngx_msec_t                         ttl_search;
    ngx_msec_t                         ttl_document;
} ngx_http_confhaven_cache_conf_t;


ngx_http_confhaven_cache_t *ngx_http_confhaven_cache_create(
    ngx_cycle_t *cycle, ngx_http_confhaven_pg_pool_t *pool,
    ngx_http_confhaven_redis_t *redis);
ngx_int_t ngx_http_confhaven_cache_fetch(ngx_http_confhaven_fetch_t *f);
void ngx_http_confhaven_cache_store(ngx_http_confhaven_fetch_t *f,
    ngx_str_t *value, ngx_int_t count, ngx_str_t *tag);
ngx_int_t ngx_http_confhaven_cache_invalidate(
    ngx_http_confhaven_cache_t *cache, ngx_str_t *tag,
    ngx_http_confhaven_redis_handler_pt handler, void *data,
    ngx_http_confhaven_redis_op_t **ropp, ngx_http_confhaven_span_t *trace);
void ngx_http_confhaven_cache_fetch_cancel(ngx_http_confhaven_fetch_t *f);
ngx_int_t ngx_http_confhaven_cache_local_init(
    ngx_http_confhaven_cache_t *cache, ngx_cycle_t *cycle,
    ngx_http_confhaven_redis_conf_t *rcf, size_t size);
void ngx_http_confhaven_cache_local_exit(ngx_http_confhaven_cache_t *cache);
char *ngx_http_confhaven_cache_local_conf(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
const char *ngx_http_confhaven_cache_status_name(ngx_uint_t status);
const char *ngx_http_confhaven_cache_state(ngx_http_confhaven_cache_t *cache);
const char *ngx_http_confhaven_cache_subscriber_state(
    ngx_http_confhaven_cache_t *cache);


#endif /* _NGX_HTTP_CONFHAVEN_CACHE_H_INCLUDED_ */
