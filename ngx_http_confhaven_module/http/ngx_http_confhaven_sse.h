
/*
 * Copyright (C) ConferenceHaven
 */


#ifndef _NGX_HTTP_CONFHAVEN_SSE_H_INCLUDED_
#define _NGX_HTTP_CONFHAVEN_SSE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


#define NGX_HTTP_CONFHAVEN_SSE_KEEPALIVE     30000
#define NGX_HTTP_CONFHAVEN_SSE_RETRY         1000
#define NGX_HTTP_CONFHAVEN_SSE_MAX_BUFFERED  (1024 * 1024)
#define NGX_HTTP_CONFHAVEN_SSE_BUF_SIZE      4096


typedef struct ngx_http_confhaven_sse_s  ngx_http_confhaven_sse_t;

/* NGX_OK: go on; anything else: the handler finished the stream */
typedef ngx_int_t (*ngx_http_confhaven_sse_tick_pt)(
    ngx_http_confhaven_sse_t *sse);


/*
 * One text/event-stream response.  A short stream (the answer to a POST)
 * is started, gets its events and ends with ngx_http_confhaven_sse_last(),
 * whose code the caller hands to ngx_http_finalize_request().  A held
 * stream (GET) also takes a reference on the request, sends keep-alive
 * comments, notices the client leaving or the worker shutting down, and
 * ends with ngx_http_confhaven_sse_finish(); when the client leaves the
 * request is terminated and the owner's request cleanups run.
 *
 * Event buffers are recycled through free/busy chains, so a stream that
 * lives for days does not grow its request pool.
 */

struct ngx_http_confhaven_sse_s {
    ngx_http_request_t                *r;
    ngx_chain_t                       *free;
    ngx_chain_t                       *busy;
    ngx_event_t                        keepalive;
    ngx_msec_t                         interval;
    ngx_http_confhaven_sse_tick_pt     tick;      /* before a keep-alive */
    void                              *data;

    unsigned                           started:1;
    unsigned                           held:1;
    unsigned                           finished:1;
};


ngx_http_confhaven_sse_t *ngx_http_confhaven_sse_create(
    ngx_http_request_t *r);
ngx_int_t ngx_http_confhaven_sse_start(ngx_http_confhaven_sse_t *sse);
ngx_int_t ngx_http_confhaven_sse_hold(ngx_http_confhaven_sse_t *sse,
    ngx_msec_t keepalive);
ngx_int_t ngx_http_confhaven_sse_event(ngx_http_confhaven_sse_t *sse,
    const char *event, ngx_str_t *id, ngx_msec_t retry, u_char *data,
    size_t len);
ngx_int_t ngx_http_confhaven_sse_comment(ngx_http_confhaven_sse_t *sse,
    const char *text);
ngx_int_t ngx_http_confhaven_sse_last(ngx_http_confhaven_sse_t *sse);
void ngx_http_confhaven_sse_finish(ngx_http_confhaven_sse_t *sse,
    ngx_int_t rc);
ngx_int_t ngx_http_confhaven_sse_add_header(ngx_http_request_t *r,
    const char *name, ngx_str_t *value);


#endif /* _NGX_HTTP_CONFHAVEN_SSE_H_INCLUDED_ */
