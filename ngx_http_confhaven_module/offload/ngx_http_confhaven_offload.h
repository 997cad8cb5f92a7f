
/*
 * Copyright (C) ConferenceHaven
 */


#ifndef _NGX_HTTP_CONFHAVEN_OFFLOAD_H_INCLUDED_
#define _NGX_HTTP_CONFHAVEN_OFFLOAD_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_thread_pool.h>

#include "ngx_http_confhaven_trace.h"


/*
 * Blocking work (an HTTP call to Graph, later Stripe) runs on an nginx
 * thread pool, never in the event loop.  A job is one malloc'd block: the
 * thread reads and writes only the job's own memory, never a pool.  Its
 * owner (an operation of a request) may go away first: the owner's pool
 * cleanup marks the job orphaned, and done() still runs on the loop once
 * the thread has finished, so that the job can record what it did and
 * free itself.  A job also holds a timer that is not cancelable, so that
 * a worker shutting down (reload) waits for its jobs to finish.
 */


typedef struct ngx_http_confhaven_job_s  ngx_http_confhaven_job_t;

typedef void (*ngx_http_confhaven_job_pt)(ngx_http_confhaven_job_t *job);


struct ngx_http_confhaven_job_s {
    ngx_http_confhaven_job_pt     run;        /* in a thread */
    ngx_http_confhaven_job_pt     done;       /* on the loop, exactly once */
    void                         *data;       /* the job's own, size given */
    void                         *owner;      /* NULL once orphaned */
    ngx_log_t                    *log;        /* the cycle's: thread-safe */
    ngx_msec_t                    started;

    ngx_thread_task_t            *task;
    ngx_pool_cleanup_t           *cln;
    ngx_event_t                   guard;      /* keeps an exiting worker */

    /* its HTTP calls' client spans, handed to the ring before done() */
    ngx_http_confhaven_trace_calls_t  *trace;
};


ngx_http_confhaven_job_t *ngx_http_confhaven_job_create(size_t size);
ngx_int_t ngx_http_confhaven_job_post(ngx_http_confhaven_job_t *job,
    ngx_thread_pool_t *tp, ngx_pool_t *owner_pool, void *owner,
    ngx_msec_t guard);
void ngx_http_confhaven_job_orphan(ngx_http_confhaven_job_t *job);
void ngx_http_confhaven_job_free(ngx_http_confhaven_job_t *job);


/*
 * A blocking HTTP client on libcurl, for threads: one easy handle per
 * thread (thread-local, reused: connections and TLS sessions stay open
 * between calls), TLS verification on, connect and total timeouts.
 */

#define NGX_HTTP_CONFHAVEN_HTTP_CAPTURE  4
#define NGX_HTTP_CONFHAVEN_HTTP_MAX_BODY (1024 * 1024)


typedef struct {
    const char                   *method;     /* "GET", "POST" */
    const char                   *url;
    const char                  **headers;    /* "Name: value", NULL ended */
    const char                   *body;
    size_t                        body_len;
    long                          connect_timeout;   /* ms */
    long                          timeout;           /* ms, the whole call */
    /* response headers to keep, lower case, NULL ended */
    const char                  **capture;
    /*
     * the caller's trace context, in the job's memory (NULL: none): the
     * call gets a client span and traceparent/tracestate headers
     */
    ngx_http_confhaven_trace_calls_t  *trace;
} ngx_http_confhaven_http_req_t;


typedef struct {
    long                          status;     /* 0: no HTTP answer */
    char                          error[256]; /* why, when status is 0 */
    unsigned                      timed_out:1;
    char                         *body;       /* malloc'd, NUL ended */
    size_t                        len;
    /* Retry-After in ms (delta-seconds, decimals, or an HTTP-date); -1 */
    ngx_msec_int_t                retry_after;
    char    captured[NGX_HTTP_CONFHAVEN_HTTP_CAPTURE][128];

    const char                  **capture;    /* private */
    size_t                        size;
} ngx_http_confhaven_http_resp_t;


void ngx_http_confhaven_http_exec(ngx_http_confhaven_http_req_t *req,
    ngx_http_confhaven_http_resp_t *resp);
void ngx_http_confhaven_http_resp_free(ngx_http_confhaven_http_resp_t *resp);
ngx_msec_t ngx_http_confhaven_offload_now(void);
void ngx_http_confhaven_offload_sleep(ngx_msec_t ms);
ngx_uint_t ngx_http_confhaven_offload_random(ngx_uint_t n);


#endif /* _NGX_HTTP_CONFHAVEN_OFFLOAD_H_INCLUDED_ */
