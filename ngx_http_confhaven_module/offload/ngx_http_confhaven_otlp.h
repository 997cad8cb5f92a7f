
/*
 * Copyright (C) ConferenceHaven
 */


#ifndef _NGX_HTTP_CONFHAVEN_OTLP_H_INCLUDED_
#define _NGX_HTTP_CONFHAVEN_OTLP_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_thread_pool.h>

#include "ngx_http_confhaven_trace.h"


#define NGX_HTTP_CONFHAVEN_OTLP_BATCH      1024
#define NGX_HTTP_CONFHAVEN_OTLP_QUEUE      2048
#define NGX_HTTP_CONFHAVEN_OTLP_TIMEOUT    5000
#define NGX_HTTP_CONFHAVEN_OTLP_INTERVAL   1000     /* ms between exports */
#define NGX_HTTP_CONFHAVEN_OTLP_METRICS    60000    /* ms, the default */


/*
 * confhaven_otlp_*: where and how a worker exports its spans.  One export
 * at a time per worker, from the thread pool; while one is in flight the
 * queue fills, and what does not fit is dropped and counted.
 */

/*
 * An http:// endpoint is posted to without curl: one keep-alive HTTP/1.1
 * connection per worker and kind (traces, metrics), a plain socket used by
 * one export at a time.  https:// (and a URL with user info) go by curl.
 */

typedef struct {
    char                              *host;       /* NUL ended, no [] */
    char                              *port;       /* NUL ended */
    ngx_str_t                          head;       /* "POST ... Length: " */
} ngx_http_confhaven_otlp_target_t;


typedef struct {
    ngx_str_t                          url;        /* NUL ended */
    ngx_msec_t                         timeout;
    ngx_uint_t                         batch;
    ngx_str_t                          thread_pool_name;
    ngx_thread_pool_t                 *thread_pool;
    ngx_http_confhaven_trace_conf_t    trace;
    ngx_msec_t                         metrics_interval;   /* 0: off */
    ngx_str_t                          metrics_url;        /* NUL ended */
    ngx_uint_t                         raw;     /* http://: no curl */
    ngx_http_confhaven_otlp_target_t   traces;
    ngx_http_confhaven_otlp_target_t   metrics;
} ngx_http_confhaven_otlp_conf_t;


/*
 * The metrics exporter asks its caller for the request body (an encoded
 * ExportMetricsServiceRequest in pool memory) once an interval.
 */
typedef u_char *(*ngx_http_confhaven_otlp_metrics_pt)(ngx_pool_t *pool,
    size_t *len, void *data);


char *ngx_http_confhaven_otlp_endpoint(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_confhaven_otlp_ratio(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_confhaven_otlp_metrics_interval(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
char *ngx_http_confhaven_otlp_init_conf(ngx_conf_t *cf,
    ngx_http_confhaven_otlp_conf_t *oc, ngx_str_t *thread_pool);
ngx_int_t ngx_http_confhaven_otlp_init_process(ngx_cycle_t *cycle,
    ngx_http_confhaven_otlp_conf_t *oc,
    ngx_http_confhaven_otlp_metrics_pt metrics, void *data);
void ngx_http_confhaven_otlp_exit_process(void);


#endif /* _NGX_HTTP_CONFHAVEN_OTLP_H_INCLUDED_ */
