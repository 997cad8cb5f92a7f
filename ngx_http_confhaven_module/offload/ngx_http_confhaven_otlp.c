
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
 * wait in the bounded ring or are dropped and counted.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_http_confhaven_offload.h"
#include "ngx_http_confhaven_metrics.h"
#include "ngx_http_confhaven_trace.h"
#include "ngx_http_confhaven_otlp.h"


typedef struct {
    ngx_http_confhaven_otlp_conf_t    *conf;
    u_char                            *body;       /* spans: the tracer's;
                                                      metrics: ngx_alloc() */
    size_t                             len;
    ngx_uint_t                         spans;      /* 0: the metrics */
    ngx_pool_t                        *pool;       /* the job's owner */
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
} ngx_http_confhaven_otlp_t;


static void ngx_http_confhaven_otlp_tick(ngx_event_t *ev);
static void ngx_http_confhaven_otlp_export(ngx_http_confhaven_otlp_t *ot);
static void ngx_http_confhaven_otlp_run(ngx_http_confhaven_job_t *job);
static void ngx_http_confhaven_otlp_done(ngx_http_confhaven_job_t *job);
static void ngx_http_confhaven_otlp_metrics_tick(ngx_event_t *ev);
static void ngx_http_confhaven_otlp_metrics_done(
    ngx_http_confhaven_job_t *job);


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

    oc->thread_pool = ngx_thread_pool_add(cf, thread_pool);
    if (oc->thread_pool == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
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

    ot->timer.handler = ngx_http_confhaven_otlp_tick;
    ot->timer.data = ot;
    ot->timer.log = cycle->log;
    ot->timer.cancelable = 1;

    ot->notify.handler = ngx_http_confhaven_otlp_tick;
    ot->notify.data = ot;
    ot->notify.log = cycle->log;

    ngx_http_confhaven_otlp = ot;

    ngx_http_confhaven_trace_set_notify(&ot->notify, oc->batch);

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

    ngx_http_confhaven_trace_set_notify(NULL, 0);
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

    oj->body = ngx_http_confhaven_trace_encode(ot->conf->batch, &oj->len,
                                               &oj->spans);
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
