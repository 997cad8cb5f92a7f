
/*
 * Copyright (C) ConferenceHaven
 */


/*
 * The OTLP/HTTP trace exporter: every second, or as soon as a batch is
 * waiting, one batch of the worker's finished spans is encoded as an
 * ExportTraceServiceRequest (application/x-protobuf) and POSTed to the
 * collector by a job on the thread pool.  The event loop only encodes
 * (a few memcpy()s per span); a slow or unreachable collector holds a
 * thread for at most confhaven_otlp_timeout, and meanwhile new spans
 * wait in the bounded queue or are dropped and counted.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <netdb.h>
#include <poll.h>
#include <netinet/tcp.h>

#include "ngx_http_confhaven_offload.h"
#include "ngx_http_confhaven_metrics.h"
#include "ngx_http_confhaven_trace.h"
#include "ngx_http_confhaven_otlp.h"


/* a keep-alive connection to the collector, used by one job at a time */

typedef struct {
    ngx_socket_t                       fd;         /* -1: none */
    ngx_uint_t                         requests;   /* sent on fd */
} ngx_http_confhaven_otlp_conn_t;


typedef struct {
    ngx_http_confhaven_otlp_conf_t    *conf;
    u_char                            *body;       /* spans: the tracer's;
                                                      metrics: ngx_alloc() */
    size_t                             len;
    ngx_uint_t                         spans;      /* 0: the metrics */
    ngx_pool_t                        *pool;       /* the job's owner */
    ngx_http_confhaven_otlp_conn_t    *conn;       /* raw: the exporter's */
    ngx_http_confhaven_http_resp_t     resp;
} ngx_http_confhaven_otlp_job_t;


typedef struct {
    ngx_http_confhaven_otlp_conf_t    *conf;
    ngx_event_t                        timer;
    ngx_event_t                        notify;
    ngx_uint_t                         busy;
    ngx_msec_t                         logged;
    ngx_uint_t                         failing;

    /* the metrics: worker 0 exports them, one request at a time */
    ngx_event_t                        metrics_timer;
    ngx_uint_t                         metrics_busy;
    ngx_uint_t                         metrics_failing;
    ngx_http_confhaven_otlp_metrics_pt  metrics;
    void                              *metrics_data;

    ngx_http_confhaven_otlp_conn_t     traces_conn;
    ngx_http_confhaven_otlp_conn_t     metrics_conn;
} ngx_http_confhaven_otlp_t;


static void ngx_http_confhaven_otlp_tick(ngx_event_t *ev);
static void ngx_http_confhaven_otlp_export(ngx_http_confhaven_otlp_t *ot);
static void ngx_http_confhaven_otlp_run(ngx_http_confhaven_job_t *job);
static void ngx_http_confhaven_otlp_done(ngx_http_confhaven_job_t *job);
static void ngx_http_confhaven_otlp_metrics_tick(ngx_event_t *ev);
static void ngx_http_confhaven_otlp_metrics_done(
    ngx_http_confhaven_job_t *job);
static ngx_int_t ngx_http_confhaven_otlp_target(ngx_conf_t *cf,
    ngx_str_t *url, ngx_http_confhaven_otlp_target_t *tg);
static void ngx_http_confhaven_otlp_post(ngx_http_confhaven_otlp_conn_t *c,
    ngx_http_confhaven_otlp_target_t *tg, u_char *body, size_t len,
    ngx_msec_t timeout, ngx_http_confhaven_http_resp_t *resp);
static void ngx_http_confhaven_otlp_close(ngx_http_confhaven_otlp_conn_t *c);


static ngx_http_confhaven_otlp_t  *ngx_http_confhaven_otlp;


/* confhaven_otlp_endpoint http://collector:4318/v1/traces; */

char *
ngx_http_confhaven_otlp_endpoint(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    char  *p = conf;

    ngx_str_t  *field, *value;

    field = (ngx_str_t *) (p + cmd->offset);

    if (field->data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (!((value[1].len > 7
           && ngx_strncasecmp(value[1].data, (u_char *) "http://", 7) == 0)
          || (value[1].len > 8
              && ngx_strncasecmp(value[1].data, (u_char *) "https://", 8)
                 == 0))
        || ngx_strlchr(value[1].data, value[1].data + value[1].len, ' ')
        || ngx_strlchr(value[1].data, value[1].data + value[1].len, '#'))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"%V\" directive: an "
                           "OTLP/HTTP traces URL such as "
                           "http://127.0.0.1:4318/v1/traces is expected",
                           &value[1], &cmd->name);
        return NGX_CONF_ERROR;
    }

    /* config strings are NUL ended */
    *field = value[1];

    return NGX_CONF_OK;
}


/* confhaven_trace_sample_ratio 0.25; kept in parts per million */

char *
ngx_http_confhaven_otlp_ratio(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    u_char      *c, *last;
    ngx_str_t   *value;
    ngx_uint_t  *field, v, scale, dot, digits;

    field = (ngx_uint_t *) (p + cmd->offset);

    if (*field != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;
    c = value[1].data;
    last = c + value[1].len;

    v = 0;
    scale = 1000000;
    dot = 0;
    digits = 0;

    for ( /* void */ ; c < last; c++) {
        if (*c == '.' && !dot) {
            dot = 1;
            continue;
        }

        if (*c < '0' || *c > '9' || (!dot && digits == 1)) {
            goto invalid;
        }

        digits++;

        if (!dot) {
            v = (*c - '0') * 1000000;

        } else if (scale > 1) {
            scale /= 10;
            v += (*c - '0') * scale;
        }
    }

    if (digits == 0 || v > 1000000) {
        goto invalid;
    }

    *field = v;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid value \"%V\" in \"%V\" directive: a number "
                       "from 0 to 1 (the share of traces kept) is expected",
                       &value[1], &cmd->name);

    return NGX_CONF_ERROR;
}


/* confhaven_otlp_metrics_interval 60s | off; */

char *
ngx_http_confhaven_otlp_metrics_interval(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    char  *p = conf;

    ngx_str_t   *value;
    ngx_msec_t  *field, ms;

    field = (ngx_msec_t *) (p + cmd->offset);

    if (*field != NGX_CONF_UNSET_MSEC) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 3 && ngx_strncmp(value[1].data, "off", 3) == 0) {
        *field = 0;
        return NGX_CONF_OK;
    }

    ms = ngx_parse_time(&value[1], 0);

    if (ms == (ngx_msec_t) NGX_ERROR || ms < 1000 || ms > 86400000) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"%V\" directive: a "
                           "time from 1s to 1d, or \"off\", is expected",
                           &value[1], &cmd->name);
        return NGX_CONF_ERROR;
    }

    *field = ms;

    return NGX_CONF_OK;
}


char *
ngx_http_confhaven_otlp_init_conf(ngx_conf_t *cf,
    ngx_http_confhaven_otlp_conf_t *oc, ngx_str_t *thread_pool)
{
    ngx_uint_t  explicit;

    ngx_conf_init_msec_value(oc->timeout, NGX_HTTP_CONFHAVEN_OTLP_TIMEOUT);
    ngx_conf_init_uint_value(oc->batch, NGX_HTTP_CONFHAVEN_OTLP_BATCH);
    ngx_conf_init_uint_value(oc->trace.queue_size,
                             NGX_HTTP_CONFHAVEN_OTLP_QUEUE);
    ngx_conf_init_uint_value(oc->trace.ratio, 1000000);

    if (oc->trace.service.data == NULL) {
        ngx_str_set(&oc->trace.service, "conferencehaven");
    }

    if (oc->url.len == 0) {
        oc->metrics_interval = 0;
        return NGX_CONF_OK;
    }

    if (oc->batch > oc->trace.queue_size) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"confhaven_otlp_batch_size\" (%ui) must not be "
                           "larger than \"confhaven_otlp_queue_size\" (%ui)",
                           oc->batch, oc->trace.queue_size);
        return NGX_CONF_ERROR;
    }

    if (thread_pool->len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "OTLP exports run on a thread pool: add "
                           "\"confhaven_thread_pool <name>;\" to the http "
                           "block (and \"thread_pool <name> threads=N;\" at "
                           "the top level, or use the pool \"default\")");
        return NGX_CONF_ERROR;
    }

    oc->thread_pool_name = *thread_pool;

    /* the metrics go next to the traces: .../v1/traces -> .../v1/metrics */

    if (oc->metrics_interval == NGX_CONF_UNSET_MSEC) {
        oc->metrics_interval = NGX_HTTP_CONFHAVEN_OTLP_METRICS;
        explicit = 0;

    } else {
        explicit = 1;
    }

    if (oc->metrics_interval) {
        if (oc->url.len < sizeof("/traces") - 1
            || ngx_strncmp(oc->url.data + oc->url.len - 7, "/traces", 7)
               != 0)
        {
            if (explicit) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "\"confhaven_otlp_metrics_interval\" "
                                   "needs a \"confhaven_otlp_endpoint\" "
                                   "that ends in /traces (its metrics URL "
                                   "ends in /metrics instead)");
                return NGX_CONF_ERROR;
            }

            oc->metrics_interval = 0;
            return NGX_CONF_OK;
        }

        oc->metrics_url.len = oc->url.len - 7 + sizeof("/metrics") - 1;
        oc->metrics_url.data = ngx_pnalloc(cf->pool, oc->metrics_url.len + 1);
        if (oc->metrics_url.data == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memcpy(oc->metrics_url.data, oc->url.data, oc->url.len - 7);
        ngx_memcpy(oc->metrics_url.data + oc->url.len - 7, "/metrics",
                   sizeof("/metrics"));
    }

    /* http://: a plain socket; https:// and the rest: curl */
    switch (ngx_http_confhaven_otlp_target(cf, &oc->url, &oc->traces)) {
    case NGX_ERROR:
        return NGX_CONF_ERROR;
    case NGX_OK:
        oc->raw = 1;
        break;
    default:
        oc->raw = 0;
    }

    if (oc->raw && oc->metrics_interval
        && ngx_http_confhaven_otlp_target(cf, &oc->metrics_url, &oc->metrics)
           != NGX_OK)
    {
        oc->raw = 0;
    }

    oc->thread_pool = ngx_thread_pool_add(cf, thread_pool);
    if (oc->thread_pool == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * http://host[:port][/path] -> the host and port to connect to, and the
 * request head up to the body's length.  NGX_DECLINED: curl's to do.
 */

static ngx_int_t
ngx_http_confhaven_otlp_target(ngx_conf_t *cf, ngx_str_t *url,
    ngx_http_confhaven_otlp_target_t *tg)
{
    u_char  *p, *last, *auth, *path, *colon, *h, *hend;
    size_t   plen;

    static u_char  ct[] = "Content-Type: application/x-protobuf\r\n"
                          "Content-Length: ";

    if (url->len <= 7
        || ngx_strncasecmp(url->data, (u_char *) "http://", 7) != 0)
    {
        return NGX_DECLINED;
    }

    auth = url->data + 7;
    last = url->data + url->len;

    path = ngx_strlchr(auth, last, '/');
    if (path == NULL) {
        path = last;
    }

    /* user info, a query or a fragment, control bytes: curl's to do */
    for (p = auth; p < last; p++) {
        if ((p < path && *p == '@') || *p == '?' || *p <= 0x20
            || *p == 0x7f)
        {
            return NGX_DECLINED;
        }
    }

    if (path == auth || path - auth > 255 || last - path > 1024) {
        return NGX_DECLINED;
    }

    if (*auth == '[') {
        hend = ngx_strlchr(auth, path, ']');
        if (hend == NULL || hend == auth + 1) {
            return NGX_DECLINED;
        }

        h = auth + 1;
        colon = (hend + 1 < path && hend[1] == ':') ? hend + 1 : NULL;

        if (hend + 1 < path && colon == NULL) {
            return NGX_DECLINED;
        }

    } else {
        h = auth;
        colon = ngx_strlchr(auth, path, ':');
        hend = colon ? colon : path;

        if (hend == h) {
            return NGX_DECLINED;
        }
    }

    if (colon) {
        if (path - colon - 1 < 1 || path - colon - 1 > 5
            || ngx_atoi(colon + 1, path - colon - 1) == NGX_ERROR
            || ngx_atoi(colon + 1, path - colon - 1) > 65535)
        {
            return NGX_DECLINED;
        }
    }

    tg->host = ngx_pnalloc(cf->pool, hend - h + 1);
    tg->port = ngx_pnalloc(cf->pool, 6);
    plen = (path < last) ? (size_t) (last - path) : 1;

    tg->head.data = ngx_pnalloc(cf->pool,
                                sizeof("POST  HTTP/1.1\r\nHost: \r\n") - 1
                                + plen + (path - auth) + sizeof(ct) - 1);

    if (tg->host == NULL || tg->port == NULL || tg->head.data == NULL) {
        return NGX_ERROR;
    }

    *ngx_cpymem(tg->host, h, hend - h) = '\0';

    if (colon) {
        *ngx_cpymem(tg->port, colon + 1, path - colon - 1) = '\0';

    } else {
        ngx_memcpy(tg->port, "80", sizeof("80"));
    }

    p = ngx_cpymem(tg->head.data, "POST ", 5);
    p = (path < last) ? ngx_cpymem(p, path, last - path)
                      : ngx_cpymem(p, "/", 1);
    p = ngx_cpymem(p, " HTTP/1.1\r\nHost: ", sizeof(" HTTP/1.1\r\nHost: ") - 1);
    p = ngx_cpymem(p, auth, path - auth);
    p = ngx_cpymem(p, "\r\n", 2);
    p = ngx_cpymem(p, ct, sizeof(ct) - 1);

    tg->head.len = p - tg->head.data;

    return NGX_OK;
}


ngx_int_t
ngx_http_confhaven_otlp_init_process(ngx_cycle_t *cycle,
    ngx_http_confhaven_otlp_conf_t *oc,
    ngx_http_confhaven_otlp_metrics_pt metrics, void *data)
{
    ngx_http_confhaven_otlp_t  *ot;

    if (oc->url.len == 0) {
        return NGX_OK;
    }

    if (ngx_http_confhaven_trace_init_process(cycle, &oc->trace) != NGX_OK) {
        return NGX_ERROR;
    }

    ot = ngx_pcalloc(cycle->pool, sizeof(ngx_http_confhaven_otlp_t));
    if (ot == NULL) {
        return NGX_ERROR;
    }

    ot->conf = oc;
    ot->traces_conn.fd = (ngx_socket_t) -1;
    ot->metrics_conn.fd = (ngx_socket_t) -1;

    ot->timer.handler = ngx_http_confhaven_otlp_tick;
    ot->timer.data = ot;
    ot->timer.log = cycle->log;
    ot->timer.cancelable = 1;

    ot->notify.handler = ngx_http_confhaven_otlp_tick;
    ot->notify.data = ot;
    ot->notify.log = cycle->log;

    ngx_http_confhaven_otlp = ot;

    if (ngx_http_confhaven_trace_set_notify(&ot->notify, oc->batch)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_add_timer(&ot->timer, NGX_HTTP_CONFHAVEN_OTLP_INTERVAL);

    /*
     * The counters are the zone's, not the worker's: one worker (the
     * first, respawned with the same number) exports them all, so that a
     * collector never sums several workers' copies.
     */

    if (oc->metrics_interval && metrics
        && (ngx_process == NGX_PROCESS_SINGLE
            || (ngx_process == NGX_PROCESS_WORKER && ngx_worker == 0)))
    {
        ot->metrics = metrics;
        ot->metrics_data = data;

        ot->metrics_timer.handler = ngx_http_confhaven_otlp_metrics_tick;
        ot->metrics_timer.data = ot;
        ot->metrics_timer.log = cycle->log;
        ot->metrics_timer.cancelable = 1;

        ngx_add_timer(&ot->metrics_timer, oc->metrics_interval);
    }

    return NGX_OK;
}


void
ngx_http_confhaven_otlp_exit_process(void)
{
    ngx_http_confhaven_otlp_t  *ot;

    ot = ngx_http_confhaven_otlp;
    if (ot == NULL) {
        return;
    }

    if (ot->timer.timer_set) {
        ngx_del_timer(&ot->timer);
    }

    if (ot->metrics_timer.timer_set) {
        ngx_del_timer(&ot->metrics_timer);
    }

    if (ot->notify.posted) {
        ngx_delete_posted_event(&ot->notify);
    }

    /* the thread pools have ended: no job holds a connection */
    ngx_http_confhaven_otlp_close(&ot->traces_conn);
    ngx_http_confhaven_otlp_close(&ot->metrics_conn);

    (void) ngx_http_confhaven_trace_set_notify(NULL, 0);
    ngx_http_confhaven_trace_exit_process();

    ngx_http_confhaven_otlp = NULL;
}


static void
ngx_http_confhaven_otlp_tick(ngx_event_t *ev)
{
    ngx_http_confhaven_otlp_t  *ot = ev->data;

    if (ev == &ot->timer && !ngx_exiting && !ngx_quit) {
        ngx_add_timer(&ot->timer, NGX_HTTP_CONFHAVEN_OTLP_INTERVAL);
    }

    /*
     * While the collector fails, only the timer exports: a full queue
     * must not start an export per request against a closed port (each
     * fails at once, and the next batch is full again at once).
     */
    if (ev == &ot->notify && ot->failing) {
        return;
    }

    ngx_http_confhaven_otlp_export(ot);
}


static void
ngx_http_confhaven_otlp_export(ngx_http_confhaven_otlp_t *ot)
{
    ngx_pool_t                     *pool;
    ngx_http_confhaven_job_t       *job;
    ngx_http_confhaven_otlp_job_t  *oj;

    if (ot->busy || ngx_http_confhaven_trace_pending() == 0) {
        return;
    }

    job = ngx_http_confhaven_job_create(sizeof(ngx_http_confhaven_otlp_job_t));
    if (job == NULL) {
        return;
    }

    oj = job->data;
    oj->conf = ot->conf;
    oj->conn = &ot->traces_conn;

    oj->body = ngx_http_confhaven_trace_encode(&oj->len, &oj->spans);
    if (oj->body == NULL) {
        ngx_http_confhaven_job_free(job);
        return;
    }

    pool = ngx_create_pool(256, ngx_cycle->log);
    if (pool == NULL) {
        goto failed;
    }

    oj->pool = pool;

    job->run = ngx_http_confhaven_otlp_run;
    job->done = ngx_http_confhaven_otlp_done;

    if (ngx_http_confhaven_job_post(job, ot->conf->thread_pool, pool, ot,
                                    ot->conf->timeout + 1000)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "confhaven otlp: thread pool \"%V\" refused an export "
                      "job (its queue is full?): %ui spans dropped",
                      &ot->conf->thread_pool_name, oj->spans);
        ngx_destroy_pool(pool);
        goto failed;
    }

    ot->busy = 1;

    return;

failed:

    ngx_http_confhaven_trace_exported(oj->spans, 0);

    ngx_http_confhaven_job_free(job);
}


/* in a thread */

static void
ngx_http_confhaven_otlp_run(ngx_http_confhaven_job_t *job)
{
    ngx_http_confhaven_otlp_job_t  *oj = job->data;

    ngx_http_confhaven_http_req_t   req;
    static const char              *headers[] = {
        "Content-Type: application/x-protobuf", NULL
    };

    if (oj->conf->raw) {
        ngx_http_confhaven_otlp_post(oj->conn,
                                     oj->spans ? &oj->conf->traces
                                               : &oj->conf->metrics,
                                     oj->body, oj->len, oj->conf->timeout,
                                     &oj->resp);
        return;
    }

    ngx_memzero(&req, sizeof(ngx_http_confhaven_http_req_t));

    req.method = "POST";
    req.url = (const char *) (oj->spans ? oj->conf->url.data
                                        : oj->conf->metrics_url.data);
    req.headers = headers;
    req.body = (const char *) oj->body;
    req.body_len = oj->len;
    req.connect_timeout = ngx_min(oj->conf->timeout, 3000);
    req.timeout = oj->conf->timeout;

    ngx_http_confhaven_http_exec(&req, &oj->resp);
}


static void
ngx_http_confhaven_otlp_done(ngx_http_confhaven_job_t *job)
{
    ngx_http_confhaven_otlp_job_t  *oj = job->data;

    ngx_uint_t                  ok;
    ngx_pool_t                 *pool;
    ngx_http_confhaven_otlp_t  *ot;

    ot = job->owner;
    ok = (oj->resp.status >= 200 && oj->resp.status < 300);

    if (ot) {
        ot->busy = 0;

        if (ok) {
            if (ot->failing) {
                ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                              "confhaven otlp: the collector takes spans "
                              "again");
                ot->failing = 0;
            }

        } else {
            /* at most one line a minute while the collector fails */
            if (!ot->failing || ngx_current_msec - ot->logged > 60000) {
                if (oj->resp.status) {
                    ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                                  "confhaven otlp: the collector answered "
                                  "%l to an export of %ui spans (dropped)",
                                  oj->resp.status, oj->spans);

                } else {
                    ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                                  "confhaven otlp: export of %ui spans to "
                                  "\"%V\" failed (dropped): %s", oj->spans,
                                  &oj->conf->url, oj->resp.error);
                }

                ot->logged = ngx_current_msec;
                ot->failing = 1;
            }
        }
    }

    ngx_http_confhaven_trace_exported(oj->spans, ok);

    /* the body is the tracer's export buffer, kept for the next one */
    ngx_http_confhaven_http_resp_free(&oj->resp);

    pool = oj->pool;

    ngx_http_confhaven_job_free(job);
    ngx_destroy_pool(pool);

    /* a full batch may be waiting already; after a failure, the timer */
    if (ot && ok && ngx_http_confhaven_trace_pending() >= ot->conf->batch) {
        ngx_http_confhaven_otlp_export(ot);
    }
}


/* ------------------------------------------------------------ metrics */


static void
ngx_http_confhaven_otlp_metrics_tick(ngx_event_t *ev)
{
    ngx_http_confhaven_otlp_t  *ot = ev->data;

    u_char                         *body;
    size_t                          len;
    ngx_pool_t                     *pool;
    ngx_http_confhaven_job_t       *job;
    ngx_http_confhaven_otlp_job_t  *oj;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    ngx_add_timer(&ot->metrics_timer, ot->conf->metrics_interval);

    /* a slow collector: skip a beat, the next export has the sums */
    if (ot->metrics_busy) {
        return;
    }

    pool = ngx_create_pool(4096, ngx_cycle->log);
    if (pool == NULL) {
        return;
    }

    len = 0;
    body = ot->metrics(pool, &len, ot->metrics_data);

    if (body == NULL || len == 0) {
        ngx_destroy_pool(pool);
        return;
    }

    job = ngx_http_confhaven_job_create(sizeof(ngx_http_confhaven_otlp_job_t));
    if (job == NULL) {
        ngx_destroy_pool(pool);
        return;
    }

    oj = job->data;
    oj->conf = ot->conf;
    oj->conn = &ot->metrics_conn;
    oj->pool = pool;
    oj->len = len;

    /* the thread reads only the job's own memory */
    oj->body = ngx_alloc(len, ngx_cycle->log);
    if (oj->body == NULL) {
        goto failed;
    }

    ngx_memcpy(oj->body, body, len);

    job->run = ngx_http_confhaven_otlp_run;
    job->done = ngx_http_confhaven_otlp_metrics_done;

    if (ngx_http_confhaven_job_post(job, ot->conf->thread_pool, pool, ot,
                                    ot->conf->timeout + 1000)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "confhaven otlp: thread pool \"%V\" refused a metrics "
                      "export job (its queue is full?)",
                      &ot->conf->thread_pool_name);
        ngx_free(oj->body);
        goto failed;
    }

    ot->metrics_busy = 1;

    return;

failed:

    ngx_http_confhaven_metrics_inc(
                          NGX_HTTP_CONFHAVEN_METRIC_OTLP_METRICS_FAILURES);
    ngx_http_confhaven_job_free(job);
    ngx_destroy_pool(pool);
}


static void
ngx_http_confhaven_otlp_metrics_done(ngx_http_confhaven_job_t *job)
{
    ngx_http_confhaven_otlp_job_t  *oj = job->data;

    ngx_uint_t                  ok;
    ngx_pool_t                 *pool;
    ngx_http_confhaven_otlp_t  *ot;

    ot = job->owner;
    ok = (oj->resp.status >= 200 && oj->resp.status < 300);

    ngx_http_confhaven_metrics_inc(ok
                          ? NGX_HTTP_CONFHAVEN_METRIC_OTLP_METRICS_EXPORTS
                          : NGX_HTTP_CONFHAVEN_METRIC_OTLP_METRICS_FAILURES);

    if (ot) {
        ot->metrics_busy = 0;

        if (ok && ot->metrics_failing) {
            ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                          "confhaven otlp: the collector takes metrics "
                          "again");
            ot->metrics_failing = 0;

        } else if (!ok && !ot->metrics_failing) {
            /* logged once until it works again */
            if (oj->resp.status) {
                ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                              "confhaven otlp: the collector answered %l "
                              "to a metrics export", oj->resp.status);

            } else {
                ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                              "confhaven otlp: metrics export to \"%V\" "
                              "failed: %s", &oj->conf->metrics_url,
                              oj->resp.error);
            }

            ot->metrics_failing = 1;
        }
    }

    ngx_http_confhaven_http_resp_free(&oj->resp);
    ngx_free(oj->body);

    pool = oj->pool;

    ngx_http_confhaven_job_free(job);
    ngx_destroy_pool(pool);
}


/* ----------------------------------------------- the plain HTTP client */


#define NGX_HTTP_CONFHAVEN_OTLP_HEADER  4096    /* an answer's head, max */
#define NGX_HTTP_CONFHAVEN_OTLP_BODY    65536   /* a body read to keep on */


/* what is left of an answer: in buf from pos to n, then on the socket */

typedef struct {
    ngx_socket_t                       fd;
    u_char                            *buf;
    size_t                             pos;
    size_t                             n;
    ngx_msec_t                         deadline;
    ngx_http_confhaven_http_resp_t    *resp;
} ngx_http_confhaven_otlp_reader_t;


static ngx_int_t ngx_http_confhaven_otlp_wait(ngx_socket_t fd,
    short events, ngx_msec_t deadline, ngx_http_confhaven_http_resp_t *resp);
static ngx_int_t ngx_http_confhaven_otlp_connect(
    ngx_http_confhaven_otlp_conn_t *c, ngx_http_confhaven_otlp_target_t *tg,
    ngx_msec_t deadline, ngx_http_confhaven_http_resp_t *resp);
static ngx_int_t ngx_http_confhaven_otlp_send(ngx_socket_t fd,
    struct iovec *iov, ngx_uint_t n, ngx_msec_t deadline,
    ngx_http_confhaven_http_resp_t *resp);
static ngx_int_t ngx_http_confhaven_otlp_answer(
    ngx_http_confhaven_otlp_conn_t *c, ngx_msec_t deadline,
    ngx_http_confhaven_http_resp_t *resp, ngx_uint_t *keep);
static ngx_int_t ngx_http_confhaven_otlp_byte(
    ngx_http_confhaven_otlp_reader_t *rd, u_char *ch);
static ngx_int_t ngx_http_confhaven_otlp_skip(
    ngx_http_confhaven_otlp_reader_t *rd, off_t len);
static ngx_int_t ngx_http_confhaven_otlp_chunked(
    ngx_http_confhaven_otlp_reader_t *rd);


/*
 * In a thread: POSTs the body on the exporter's keep-alive connection
 * and reads the status.  A connection the collector closed while idle is
 * replaced; a reused one that fails before any byte of an answer is
 * retried once on a new one (curl does the same).  Every wait is bounded
 * by the deadline; on any failure the connection is closed.
 */

static void
ngx_http_confhaven_otlp_post(ngx_http_confhaven_otlp_conn_t *c,
    ngx_http_confhaven_otlp_target_t *tg, u_char *body, size_t len,
    ngx_msec_t timeout, ngx_http_confhaven_http_resp_t *resp)
{
    u_char         head[1536];
    ngx_int_t      rc;
    ngx_uint_t     attempt, reused, keep;
    ngx_msec_t     deadline;
    struct iovec   iov[2];
    struct pollfd  pfd;

    deadline = ngx_http_confhaven_offload_now() + timeout;

    iov[0].iov_base = head;
    iov[0].iov_len = ngx_sprintf(ngx_cpymem(head, tg->head.data,
                                            tg->head.len),
                                 "%uz\r\n\r\n", len)
                     - head;
    iov[1].iov_base = body;
    iov[1].iov_len = len;

    for (attempt = 0; attempt < 2; attempt++) {

        reused = 0;

        if (c->fd != (ngx_socket_t) -1) {
            /* readable while idle: closed by the collector (or garbage) */
            pfd.fd = c->fd;
            pfd.events = POLLIN;
            pfd.revents = 0;

            if (poll(&pfd, 1, 0) == 0) {
                reused = 1;

            } else {
                ngx_http_confhaven_otlp_close(c);
            }
        }

        if (c->fd == (ngx_socket_t) -1
            && ngx_http_confhaven_otlp_connect(c, tg, deadline, resp)
               != NGX_OK)
        {
            return;
        }

        rc = ngx_http_confhaven_otlp_send(c->fd, iov, 2, deadline, resp);

        if (rc == NGX_OK) {
            keep = 0;
            rc = ngx_http_confhaven_otlp_answer(c, deadline, resp, &keep);

            if (rc == NGX_OK) {
                c->requests++;

                if (!keep) {
                    ngx_http_confhaven_otlp_close(c);
                }

                return;
            }
        }

        ngx_http_confhaven_otlp_close(c);

        /* NGX_DECLINED: nothing came back; on a reused one, try anew */
        if (rc != NGX_DECLINED || !reused
            || ngx_http_confhaven_offload_now() >= deadline)
        {
            return;
        }

        resp->error[0] = '\0';
    }
}


static void
ngx_http_confhaven_otlp_close(ngx_http_confhaven_otlp_conn_t *c)
{
    if (c->fd != (ngx_socket_t) -1) {
        (void) close(c->fd);
        c->fd = (ngx_socket_t) -1;
        c->requests = 0;
    }
}


/* NGX_OK: ready; NGX_ERROR: the deadline passed (resp says so) */

static ngx_int_t
ngx_http_confhaven_otlp_wait(ngx_socket_t fd, short events,
    ngx_msec_t deadline, ngx_http_confhaven_http_resp_t *resp)
{
    int            n;
    ngx_msec_t     now;
    struct pollfd  pfd;

    for ( ;; ) {
        now = ngx_http_confhaven_offload_now();

        if (now >= deadline) {
            break;
        }

        pfd.fd = fd;
        pfd.events = events;
        pfd.revents = 0;

        n = poll(&pfd, 1, (int) (deadline - now));

        if (n > 0) {
            return NGX_OK;
        }

        if (n < 0 && errno != EINTR) {
            ngx_snprintf((u_char *) resp->error, sizeof(resp->error) - 1,
                         "poll() failed: %s%Z", strerror(errno));
            return NGX_ERROR;
        }
    }

    resp->timed_out = 1;
    ngx_cpystrn((u_char *) resp->error, (u_char *) "timed out",
                sizeof(resp->error));

    return NGX_ERROR;
}


static ngx_int_t
ngx_http_confhaven_otlp_connect(ngx_http_confhaven_otlp_conn_t *c,
    ngx_http_confhaven_otlp_target_t *tg, ngx_msec_t deadline,
    ngx_http_confhaven_http_resp_t *resp)
{
    int               rc, err, one;
    socklen_t         len;
    ngx_socket_t      fd;
    ngx_msec_t        cdeadline, now;
    struct addrinfo   hints, *res, *ai;

    ngx_memzero(&hints, sizeof(struct addrinfo));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG;

    rc = getaddrinfo(tg->host, tg->port, &hints, &res);
    if (rc != 0) {
        ngx_snprintf((u_char *) resp->error, sizeof(resp->error) - 1,
                     "could not resolve \"%s\": %s%Z", tg->host,
                     gai_strerror(rc));
        return NGX_ERROR;
    }

    now = ngx_http_confhaven_offload_now();
    cdeadline = ngx_min(deadline, now + 3000);

    err = 0;
    fd = (ngx_socket_t) -1;

    for (ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK
                                   | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd == (ngx_socket_t) -1) {
            err = errno;
            continue;
        }

        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            break;
        }

        err = errno;

        if (err == EINPROGRESS) {
            if (ngx_http_confhaven_otlp_wait(fd, POLLOUT, cdeadline, resp)
                != NGX_OK)
            {
                (void) close(fd);
                fd = (ngx_socket_t) -1;
                freeaddrinfo(res);
                return NGX_ERROR;
            }

            len = sizeof(int);

            if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1) {
                err = errno;
            }

            if (err == 0) {
                break;
            }
        }

        (void) close(fd);
        fd = (ngx_socket_t) -1;
    }

    freeaddrinfo(res);

    if (fd == (ngx_socket_t) -1) {
        ngx_snprintf((u_char *) resp->error, sizeof(resp->error) - 1,
                     "connect() to %s:%s failed: %s%Z", tg->host, tg->port,
                     strerror(err));
        return NGX_ERROR;
    }

    one = 1;
    (void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(int));

    c->fd = fd;
    c->requests = 0;

    return NGX_OK;
}


/* NGX_DECLINED: the connection was found closed (worth a new one) */

static ngx_int_t
ngx_http_confhaven_otlp_send(ngx_socket_t fd, struct iovec *iov,
    ngx_uint_t n, ngx_msec_t deadline, ngx_http_confhaven_http_resp_t *resp)
{
    ssize_t        sent;
    struct msghdr  msg;

    while (n) {
        ngx_memzero(&msg, sizeof(struct msghdr));
        msg.msg_iov = iov;
        msg.msg_iovlen = n;

        sent = sendmsg(fd, &msg, MSG_NOSIGNAL);

        if (sent == -1) {
            if (errno == EINTR) {
                continue;
            }

            if (errno == EAGAIN) {
                if (ngx_http_confhaven_otlp_wait(fd, POLLOUT, deadline, resp)
                    != NGX_OK)
                {
                    return NGX_ERROR;
                }

                continue;
            }

            ngx_snprintf((u_char *) resp->error, sizeof(resp->error) - 1,
                         "send() failed: %s%Z", strerror(errno));

            return (errno == EPIPE || errno == ECONNRESET) ? NGX_DECLINED
                                                           : NGX_ERROR;
        }

        while (n && (size_t) sent >= iov->iov_len) {
            sent -= iov->iov_len;
            iov++;
            n--;
        }

        if (n) {
            iov->iov_base = (u_char *) iov->iov_base + sent;
            iov->iov_len -= sent;
        }
    }

    return NGX_OK;
}


/*
 * The answer: its status; its body (Content-Length or chunked, up to 64
 * KB) is read and ignored so that the connection is kept, else the
 * connection is closed.  NGX_DECLINED: closed before any byte.
 */

static ngx_int_t
ngx_http_confhaven_otlp_answer(ngx_http_confhaven_otlp_conn_t *c,
    ngx_msec_t deadline, ngx_http_confhaven_http_resp_t *resp,
    ngx_uint_t *keep)
{
    u_char      buf[NGX_HTTP_CONFHAVEN_OTLP_HEADER], *p, *end, *line;
    u_char     *last, *colon, *v, *e;
    off_t       length;
    size_t      n, hlen;
    ssize_t     got;
    ngx_int_t   status, rc;
    ngx_uint_t  chunked, closing, minor;

    ngx_http_confhaven_otlp_reader_t  rd;

    n = 0;

    for ( ;; ) {

        /* the head: up to an empty line */

        end = NULL;

        for ( ;; ) {
            for (p = buf; p + 4 <= buf + n; p++) {
                if (p[0] == '\r' && p[1] == '\n' && p[2] == '\r'
                    && p[3] == '\n')
                {
                    end = p;
                    break;
                }
            }

            if (end) {
                break;
            }

            if (n == sizeof(buf)) {
                ngx_cpystrn((u_char *) resp->error,
                            (u_char *) "the collector's answer head is "
                            "too long", sizeof(resp->error));
                return NGX_ERROR;
            }

            got = recv(c->fd, buf + n, sizeof(buf) - n, 0);

            if (got > 0) {
                n += got;
                continue;
            }

            if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
                ngx_snprintf((u_char *) resp->error,
                             sizeof(resp->error) - 1,
                             "the collector closed the connection%s%s%Z",
                             got ? ": " : "", got ? strerror(errno) : "");

                return (n == 0) ? NGX_DECLINED : NGX_ERROR;
            }

            if (errno == EAGAIN
                && ngx_http_confhaven_otlp_wait(c->fd, POLLIN, deadline, resp)
                   != NGX_OK)
            {
                return NGX_ERROR;
            }
        }

        hlen = end + 4 - buf;

        /* "HTTP/1.x NNN ..." */
        if (hlen < 14 || ngx_strncmp(buf, "HTTP/1.", 7) != 0
            || buf[7] < '0' || buf[7] > '9' || buf[8] != ' '
            || (status = ngx_atoi(buf + 9, 3)) == NGX_ERROR
            || status < 100)
        {
            ngx_cpystrn((u_char *) resp->error,
                        (u_char *) "the collector's answer is not HTTP/1.x",
                        sizeof(resp->error));
            return NGX_ERROR;
        }

        minor = buf[7] - '0';

        /* 1xx: another head follows */
        if (status < 200) {
            ngx_memmove(buf, buf + hlen, n - hlen);
            n -= hlen;
            continue;
        }

        break;
    }

    length = -1;
    chunked = 0;
    closing = (minor == 0);

    /* the status line ends before the head's last \r\n */
    for (line = ngx_strlchr(buf, end + 2, '\n') + 1;
         line < end;
         line = last + 2)
    {
        last = ngx_strlchr(line, end + 2, '\r');
        if (last == NULL) {
            break;
        }

        colon = ngx_strlchr(line, last, ':');
        if (colon == NULL) {
            continue;
        }

        for (v = colon + 1; v < last && (*v == ' ' || *v == '\t'); v++) {
            /* void */
        }

        if (colon - line == 14
            && ngx_strncasecmp(line, (u_char *) "content-length", 14) == 0)
        {
            for (e = last; e > v && (e[-1] == ' ' || e[-1] == '\t'); e--) {
                /* void */
            }

            length = ngx_atoof(v, e - v);

        } else if (colon - line == 17
                   && ngx_strncasecmp(line, (u_char *) "transfer-encoding",
                                      17) == 0)
        {
            chunked = 1;

        } else if (colon - line == 10
                   && ngx_strncasecmp(line, (u_char *) "connection", 10)
                      == 0)
        {
            if (ngx_strlcasestrn(v, last, (u_char *) "close", 5 - 1)) {
                closing = 1;

            } else if (ngx_strlcasestrn(v, last, (u_char *) "keep-alive",
                                        10 - 1))
            {
                closing = 0;
            }
        }
    }

    resp->status = status;

    if (status == 204 || status == 304) {
        length = 0;
        chunked = 0;
    }

    /* up to the close, or too large to read: the connection is not kept */
    if ((!chunked && (length < 0 || length > NGX_HTTP_CONFHAVEN_OTLP_BODY))
        || closing)
    {
        *keep = 0;
        return NGX_OK;
    }

    rd.fd = c->fd;
    rd.buf = buf;
    rd.pos = hlen;
    rd.n = n;
    rd.deadline = deadline;
    rd.resp = resp;

    if (chunked) {
        rc = ngx_http_confhaven_otlp_chunked(&rd);

    } else {
        rc = ngx_http_confhaven_otlp_skip(&rd, length);
    }

    /* the status is known: a body lost or too long costs the connection */
    if (rc != NGX_OK) {
        *keep = 0;
        resp->timed_out = 0;
        resp->error[0] = '\0';
        return NGX_OK;
    }

    /* more than the answer: a confused collector, no reuse */
    *keep = (rd.pos == rd.n);

    return NGX_OK;
}


/* the next byte of the answer; NGX_ERROR: closed, failed or too late */

static ngx_int_t
ngx_http_confhaven_otlp_byte(ngx_http_confhaven_otlp_reader_t *rd,
    u_char *ch)
{
    ssize_t  got;

    while (rd->pos == rd->n) {
        got = recv(rd->fd, rd->buf, NGX_HTTP_CONFHAVEN_OTLP_HEADER, 0);

        if (got > 0) {
            rd->pos = 0;
            rd->n = got;
            break;
        }

        if (got == -1 && errno == EINTR) {
            continue;
        }

        if (got == -1 && errno == EAGAIN
            && ngx_http_confhaven_otlp_wait(rd->fd, POLLIN, rd->deadline,
                                            rd->resp)
               == NGX_OK)
        {
            continue;
        }

        return NGX_ERROR;
    }

    *ch = rd->buf[rd->pos++];

    return NGX_OK;
}


static ngx_int_t
ngx_http_confhaven_otlp_skip(ngx_http_confhaven_otlp_reader_t *rd,
    off_t len)
{
    u_char  ch;
    size_t  n;

    while (len > 0) {
        if (rd->pos == rd->n) {
            if (ngx_http_confhaven_otlp_byte(rd, &ch) != NGX_OK) {
                return NGX_ERROR;
            }

            len--;
            continue;
        }

        n = (size_t) ngx_min((off_t) (rd->n - rd->pos), len);
        rd->pos += n;
        len -= n;
    }

    return NGX_OK;
}


/* a chunked body, read and ignored: at most 64 KB of it */

static ngx_int_t
ngx_http_confhaven_otlp_chunked(ngx_http_confhaven_otlp_reader_t *rd)
{
    u_char      ch;
    off_t       size, total;
    ngx_uint_t  digits, empty;

    total = 0;

    for ( ;; ) {
        size = 0;
        digits = 0;

        for ( ;; ) {
            if (ngx_http_confhaven_otlp_byte(rd, &ch) != NGX_OK) {
                return NGX_ERROR;
            }

            if (ch >= '0' && ch <= '9') {
                size = size * 16 + (ch - '0');

            } else if ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'f') {
                size = size * 16 + ((ch | 0x20) - 'a' + 10);

            } else {
                break;
            }

            if (++digits > 8) {
                return NGX_ERROR;
            }
        }

        if (digits == 0) {
            return NGX_ERROR;
        }

        /* chunk extensions, up to the line's end */
        while (ch != '\n') {
            if (ngx_http_confhaven_otlp_byte(rd, &ch) != NGX_OK) {
                return NGX_ERROR;
            }
        }

        if (size == 0) {
            break;
        }

        total += size;

        if (total > NGX_HTTP_CONFHAVEN_OTLP_BODY
            || ngx_http_confhaven_otlp_skip(rd, size) != NGX_OK
            || ngx_http_confhaven_otlp_byte(rd, &ch) != NGX_OK
            || (ch == '\r' && ngx_http_confhaven_otlp_byte(rd, &ch) != NGX_OK)
            || ch != '\n')
        {
            return NGX_ERROR;
        }
    }

    /* trailer lines, up to an empty one */
    for ( ;; ) {
        empty = 1;

        for ( ;; ) {
            if (ngx_http_confhaven_otlp_byte(rd, &ch) != NGX_OK) {
                return NGX_ERROR;
            }

            if (ch == '\n') {
                break;
            }

            if (ch != '\r') {
                empty = 0;
            }

            if (++total > NGX_HTTP_CONFHAVEN_OTLP_BODY) {
                return NGX_ERROR;
            }
        }

        if (empty) {
            return NGX_OK;
        }
    }
}
