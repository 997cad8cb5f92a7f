
/*
 * Copyright (C) ConferenceHaven
 */


#ifndef _NGX_HTTP_CONFHAVEN_METRICS_H_INCLUDED_
#define _NGX_HTTP_CONFHAVEN_METRICS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


#define NGX_HTTP_CONFHAVEN_METRICS_ZONE_NAME  "confhaven_metrics"

/* request.cache: as $confhaven_cache_status */
#define NGX_HTTP_CONFHAVEN_METRICS_CACHE_NONE     0
#define NGX_HTTP_CONFHAVEN_METRICS_CACHE_HIT      1
#define NGX_HTTP_CONFHAVEN_METRICS_CACHE_MISS     2
#define NGX_HTTP_CONFHAVEN_METRICS_CACHE_EXPIRED  3
#define NGX_HTTP_CONFHAVEN_METRICS_CACHE_BYPASS   4
#define NGX_HTTP_CONFHAVEN_METRICS_CACHE_LOCAL    5   /* the worker's tier */

/* request.wire: the MCP transport a message came on */
#define NGX_HTTP_CONFHAVEN_METRICS_WIRE_NONE       0
#define NGX_HTTP_CONFHAVEN_METRICS_WIRE_HTTP       1   /* Streamable HTTP */
#define NGX_HTTP_CONFHAVEN_METRICS_WIRE_STATELESS  2   /* 2026-07-28 */
#define NGX_HTTP_CONFHAVEN_METRICS_WIRE_SSE        3   /* legacy /sse */


/*
 * Counters of events that happen outside a request's log phase, bumped
 * where they happen with ngx_http_confhaven_metrics_inc().  To add one:
 * a line before NGX_HTTP_CONFHAVEN_METRIC_N here and its name and help,
 * at the same position, in ngx_http_confhaven_metrics_counters[]
 * (ngx_http_confhaven_metrics.c); README "Metrics" says what it means.
 */

typedef enum {
    NGX_HTTP_CONFHAVEN_METRIC_PG_CONNECT_FAILURES = 0,
    NGX_HTTP_CONFHAVEN_METRIC_REDIS_RECONNECTS,
    NGX_HTTP_CONFHAVEN_METRIC_MCP_SESSIONS_CREATED,
    NGX_HTTP_CONFHAVEN_METRIC_MCP_SESSIONS_REFUSED,
    /* Stripe webhooks by outcome (issue 11) */
    NGX_HTTP_CONFHAVEN_METRIC_STRIPE_WEBHOOKS_APPLIED,
    NGX_HTTP_CONFHAVEN_METRIC_STRIPE_WEBHOOKS_IGNORED,
    NGX_HTTP_CONFHAVEN_METRIC_STRIPE_WEBHOOKS_REFUSED,
    NGX_HTTP_CONFHAVEN_METRIC_STRIPE_WEBHOOKS_FAILED,
    /* issue 12, OTLP part: invites, analytics events, spans */
    NGX_HTTP_CONFHAVEN_METRIC_INVITES_SENT,
    NGX_HTTP_CONFHAVEN_METRIC_INVITES_ALREADY_SENT,
    NGX_HTTP_CONFHAVEN_METRIC_INVITES_RATE_LIMITED,
    NGX_HTTP_CONFHAVEN_METRIC_INVITES_FAILED,
    NGX_HTTP_CONFHAVEN_METRIC_EVENTS_DROPPED,
    NGX_HTTP_CONFHAVEN_METRIC_SPANS_EXPORTED,
    NGX_HTTP_CONFHAVEN_METRIC_SPANS_DROPPED,
    NGX_HTTP_CONFHAVEN_METRIC_OTLP_EXPORT_FAILURES,
    /* issue 12: the metrics over OTLP */
    NGX_HTTP_CONFHAVEN_METRIC_OTLP_METRICS_EXPORTS,
    NGX_HTTP_CONFHAVEN_METRIC_OTLP_METRICS_FAILURES,
    NGX_HTTP_CONFHAVEN_METRIC_N
} ngx_http_confhaven_metric_e;


/* per-worker gauges, summed over the live workers when scraped */

typedef enum {
    NGX_HTTP_CONFHAVEN_GAUGE_PG_SIZE = 0,     /* confhaven_pg_pool_size */
    NGX_HTTP_CONFHAVEN_GAUGE_PG_BUSY,
    NGX_HTTP_CONFHAVEN_GAUGE_PG_IDLE,
    NGX_HTTP_CONFHAVEN_GAUGE_PG_CONNECTING,
    NGX_HTTP_CONFHAVEN_GAUGE_PG_QUEUED,
    NGX_HTTP_CONFHAVEN_GAUGE_PG_DOWN,         /* 1: backing off */
    NGX_HTTP_CONFHAVEN_GAUGE_REDIS,           /* 0 none, 1 ok, 2, 3 */
    NGX_HTTP_CONFHAVEN_GAUGE_REDIS_SUBSCRIBER,   /* the same states */
    NGX_HTTP_CONFHAVEN_GAUGE_N
} ngx_http_confhaven_gauge_e;

#define NGX_HTTP_CONFHAVEN_METRICS_REDIS_NONE         0
#define NGX_HTTP_CONFHAVEN_METRICS_REDIS_OK           1
#define NGX_HTTP_CONFHAVEN_METRICS_REDIS_CONNECTING   2
#define NGX_HTTP_CONFHAVEN_METRICS_REDIS_UNAVAILABLE  3


/* what the log phase saw of one request */

typedef struct {
    ngx_str_t                      route;     /* a name of our own tables */
    ngx_str_t                      error;     /* the JSON error code, or "" */
    ngx_str_t                      method;    /* MCP method, or "" */
    ngx_str_t                      tool;      /* a known tool, or "" */
    ngx_uint_t                     status;
    ngx_uint_t                     cache;
    ngx_uint_t                     wire;
    ngx_msec_t                     duration;
} ngx_http_confhaven_metrics_request_t;


/* zone-wide values the scraping worker reads (MCP sessions), or -1 */

typedef struct {
    ngx_int_t                      sessions_http;
    ngx_int_t                      sessions_sse;
    ngx_int_t                      streams_http;
    ngx_int_t                      streams_sse;
} ngx_http_confhaven_metrics_zone_stats_t;


/* fills this worker's gauges: called every second and before a scrape */
typedef void (*ngx_http_confhaven_metrics_refresh_pt)(void *data);


ngx_shm_zone_t *ngx_http_confhaven_metrics_zone_add(ngx_conf_t *cf,
    void *tag);
ngx_int_t ngx_http_confhaven_metrics_init_process(ngx_cycle_t *cycle,
    ngx_shm_zone_t *zone, ngx_http_confhaven_metrics_refresh_pt refresh,
    void *data);
void ngx_http_confhaven_metrics_exit_process(void);
ngx_uint_t ngx_http_confhaven_metrics_enabled(void);
uint64_t ngx_http_confhaven_metrics_start(void);
void ngx_http_confhaven_metrics_inc(ngx_http_confhaven_metric_e metric);
void ngx_http_confhaven_metrics_add(ngx_http_confhaven_metric_e metric,
    ngx_uint_t n);
void ngx_http_confhaven_metrics_gauge(ngx_http_confhaven_gauge_e gauge,
    ngx_uint_t value);
void ngx_http_confhaven_metrics_request(
    ngx_http_confhaven_metrics_request_t *mr);
ngx_chain_t *ngx_http_confhaven_metrics_render(ngx_pool_t *pool,
    ngx_http_confhaven_metrics_zone_stats_t *zs, off_t *size);


#endif /* _NGX_HTTP_CONFHAVEN_METRICS_H_INCLUDED_ */
