
/*
 * Copyright (C) ConferenceHaven
 */


/*
 * Server-Sent Events on an nginx request: framing (event, id, retry and
 * one "data:" line per line of the payload), flushing through the output
 * filters with recycled buffers, keep-alive comments on a timer, and the
 * end of a held stream when the client leaves (read EOF, a failed write,
 * send_timeout) or the worker shuts down (the connection is marked idle,
 * so a graceful shutdown closes it instead of waiting for it).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_confhaven_sse.h"


static void ngx_http_confhaven_sse_cleanup(void *data);
static ngx_buf_t *ngx_http_confhaven_sse_buf(ngx_http_confhaven_sse_t *sse,
    size_t size, ngx_chain_t **out);
static ngx_int_t ngx_http_confhaven_sse_output(ngx_http_confhaven_sse_t *sse,
    ngx_chain_t *out);
static void ngx_http_confhaven_sse_write_handler(ngx_http_request_t *r);
static void ngx_http_confhaven_sse_keepalive_handler(ngx_event_t *ev);


#define ngx_http_confhaven_sse_tag                                            \
    (ngx_buf_tag_t) &ngx_http_confhaven_sse_create


ngx_http_confhaven_sse_t *
ngx_http_confhaven_sse_create(ngx_http_request_t *r)
{
    ngx_http_cleanup_t        *cln;
    ngx_http_confhaven_sse_t  *sse;

    sse = ngx_pcalloc(r->pool, sizeof(ngx_http_confhaven_sse_t));
    if (sse == NULL) {
        return NULL;
    }

    cln = ngx_http_cleanup_add(r, 0);
    if (cln == NULL) {
        return NULL;
    }

    cln->handler = ngx_http_confhaven_sse_cleanup;
    cln->data = sse;

    sse->r = r;
    sse->interval = NGX_HTTP_CONFHAVEN_SSE_KEEPALIVE;
    sse->keepalive.handler = ngx_http_confhaven_sse_keepalive_handler;
    sse->keepalive.data = sse;
    sse->keepalive.log = r->connection->log;
    sse->keepalive.cancelable = 1;

    return sse;
}


static void
ngx_http_confhaven_sse_cleanup(void *data)
{
    ngx_http_confhaven_sse_t  *sse = data;

    if (sse->keepalive.timer_set) {
        ngx_del_timer(&sse->keepalive);
    }

    sse->finished = 1;
}


ngx_int_t
ngx_http_confhaven_sse_add_header(ngx_http_request_t *r, const char *name,
    ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) name;
    h->key.len = ngx_strlen(name);
    h->value = *value;

    return NGX_OK;
}


/* 200 and the event-stream headers; NGX_ERROR when nothing can follow */

ngx_int_t
ngx_http_confhaven_sse_start(ngx_http_confhaven_sse_t *sse)
{
    ngx_int_t            rc;
    ngx_str_t            v;
    ngx_http_request_t  *r;

    r = sse->r;

    r->headers_out.status = NGX_HTTP_OK;
    ngx_str_set(&r->headers_out.content_type, "text/event-stream");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    ngx_http_clear_content_length(r);
    ngx_http_clear_accept_ranges(r);
    r->allow_ranges = 0;

    ngx_str_set(&v, "no-cache, no-transform");
    if (ngx_http_confhaven_sse_add_header(r, "Cache-Control", &v) != NGX_OK) {
        return NGX_ERROR;
    }

    /* for a proxying nginx in front of us */
    ngx_str_set(&v, "no");
    if (ngx_http_confhaven_sse_add_header(r, "X-Accel-Buffering", &v)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return NGX_ERROR;
    }

    sse->started = 1;

    return NGX_OK;
}


/*
 * A long-lived stream: takes a request reference (the content handler
 * returns NGX_DONE), arms the keep-alive timer and watches the client.
 */

ngx_int_t
ngx_http_confhaven_sse_hold(ngx_http_confhaven_sse_t *sse,
    ngx_msec_t keepalive)
{
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = sse->r;
    c = r->connection;

    /* the headers go now, not with the first event or keep-alive */
    if (sse->started && ngx_http_send_special(r, NGX_HTTP_FLUSH) == NGX_ERROR) {
        return NGX_ERROR;
    }

    r->main->count++;
    sse->held = 1;
    sse->interval = keepalive;

    r->read_event_handler = ngx_http_test_reading;
    r->write_event_handler = ngx_http_confhaven_sse_write_handler;

#if (NGX_HTTP_V2)
    if (r->stream == NULL)
#endif
    {
        /* a graceful shutdown closes idle connections: this one too */
        c->idle = 1;
    }

    if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
        return NGX_ERROR;
    }

    /* a client already gone is noticed at once, not at the next write */
    ngx_post_event(c->read, &ngx_posted_events);

    ngx_add_timer(&sse->keepalive, sse->interval);

    return NGX_OK;
}


static ngx_buf_t *
ngx_http_confhaven_sse_buf(ngx_http_confhaven_sse_t *sse, size_t size,
    ngx_chain_t **out)
{
    ngx_buf_t    *b;
    ngx_pool_t   *pool;
    ngx_chain_t  *cl;

    pool = sse->r->pool;

    cl = ngx_chain_get_free_buf(pool, &sse->free);
    if (cl == NULL) {
        return NULL;
    }

    b = cl->buf;

    if (b->start == NULL || (size_t) (b->end - b->start) < size) {

        if (b->start) {
            /* at least a page: a large allocation ngx_pfree() releases */
            ngx_pfree(pool, b->start);
        }

        size = ngx_max(size, NGX_HTTP_CONFHAVEN_SSE_BUF_SIZE);

        b->start = ngx_palloc(pool, size);
        if (b->start == NULL) {
            return NULL;
        }

        b->end = b->start + size;
    }

    b->pos = b->start;
    b->last = b->start;
    b->temporary = 1;
    b->flush = 1;
    b->tag = ngx_http_confhaven_sse_tag;

    cl->next = NULL;
    *out = cl;

    return b;
}


ngx_int_t
ngx_http_confhaven_sse_event(ngx_http_confhaven_sse_t *sse,
    const char *event, ngx_str_t *id, ngx_msec_t retry, u_char *data,
    size_t len)
{
    u_char       *p, *last, *nl;
    size_t        size, lines;
    ngx_buf_t    *b;
    ngx_chain_t  *out;

    if (sse->finished) {
        return NGX_ERROR;
    }

    lines = 1;

    for (p = data, last = data + len; p < last; p++) {
        if (*p == '\n') {
            lines++;
        }
    }

    size = len + lines * (sizeof("data: \n") - 1) + 1;

    if (event) {
        size += sizeof("event: \n") - 1 + ngx_strlen(event);
    }

    if (id && id->len) {
        size += sizeof("id: \n") - 1 + id->len;
    }

    if (retry) {
        size += sizeof("retry: \n") - 1 + NGX_INT_T_LEN;
    }

    b = ngx_http_confhaven_sse_buf(sse, size, &out);
    if (b == NULL) {
        return NGX_ERROR;
    }

    p = b->last;

    if (event) {
        p = ngx_sprintf(p, "event: %s\n", event);
    }

    if (id && id->len) {
        p = ngx_sprintf(p, "id: %V\n", id);
    }

    if (retry) {
        p = ngx_sprintf(p, "retry: %M\n", retry);
    }

    last = data + len;

    do {
        nl = ngx_strlchr(data, last, '\n');
        if (nl == NULL) {
            nl = last;
        }

        p = ngx_cpymem(p, "data: ", sizeof("data: ") - 1);
        p = ngx_cpymem(p, data, nl - data);
        *p++ = '\n';

        data = nl + 1;

    } while (nl < last);

    *p++ = '\n';
    b->last = p;

    return ngx_http_confhaven_sse_output(sse, out);
}


ngx_int_t
ngx_http_confhaven_sse_comment(ngx_http_confhaven_sse_t *sse,
    const char *text)
{
    size_t        len;
    ngx_buf_t    *b;
    ngx_chain_t  *out;

    if (sse->finished) {
        return NGX_ERROR;
    }

    len = ngx_strlen(text);

    b = ngx_http_confhaven_sse_buf(sse, len + sizeof(": \n\n") - 1, &out);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->last = ngx_sprintf(b->last, ": %s\n\n", text);

    return ngx_http_confhaven_sse_output(sse, out);
}


static ngx_int_t
ngx_http_confhaven_sse_output(ngx_http_confhaven_sse_t *sse,
    ngx_chain_t *out)
{
    off_t                      pending;
    ngx_int_t                  rc;
    ngx_chain_t               *cl;
    ngx_event_t               *wev;
    ngx_http_request_t        *r;
    ngx_http_core_loc_conf_t  *clcf;

    r = sse->r;
    wev = r->connection->write;

    rc = ngx_http_output_filter(r, out);

    ngx_chain_update_chains(r->pool, &sse->free, &sse->busy, &out,
                            ngx_http_confhaven_sse_tag);

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    pending = 0;

    for (cl = sse->busy; cl; cl = cl->next) {
        pending += ngx_buf_size(cl->buf);
    }

    if (pending > NGX_HTTP_CONFHAVEN_SSE_MAX_BUFFERED) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "confhaven sse: client reads too slowly, "
                      "%O bytes pending", pending);
        return NGX_ERROR;
    }

    if (!sse->held) {
        return NGX_OK;
    }

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    if (r->connection->buffered || r->buffered) {
        if (!wev->delayed) {
            ngx_add_timer(wev, clcf->send_timeout);
        }

        if (ngx_handle_write_event(wev, clcf->send_lowat) != NGX_OK) {
            return NGX_ERROR;
        }

        return NGX_OK;
    }

    if (wev->timer_set && !wev->delayed) {
        ngx_del_timer(wev);
    }

    return NGX_OK;
}


static void
ngx_http_confhaven_sse_write_handler(ngx_http_request_t *r)
{
    ngx_event_t       *wev;
    ngx_connection_t  *c;

    c = r->connection;
    wev = c->write;

    if (wev->timedout) {
        ngx_log_error(NGX_LOG_INFO, c->log, NGX_ETIMEDOUT,
                      "confhaven sse: client timed out");
        c->timedout = 1;
        ngx_http_finalize_request(r, NGX_HTTP_REQUEST_TIME_OUT);
        return;
    }

    /* the stream is the only writer while it is held */
    if (r->out == NULL && !c->buffered) {
        if (wev->timer_set) {
            ngx_del_timer(wev);
        }

        return;
    }

    if (ngx_http_output_filter(r, NULL) == NGX_ERROR) {
        ngx_http_finalize_request(r, NGX_ERROR);
        return;
    }

    if (!c->buffered && !r->buffered) {
        if (wev->timer_set) {
            ngx_del_timer(wev);
        }

        return;
    }

    if (ngx_handle_write_event(wev, 0) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_ERROR);
    }
}


static void
ngx_http_confhaven_sse_keepalive_handler(ngx_event_t *ev)
{
    ngx_connection_t          *c;
    ngx_http_request_t        *r;
    ngx_http_confhaven_sse_t  *sse;

    sse = ev->data;
    r = sse->r;
    c = r->connection;

    if (sse->finished) {
        return;
    }

    if (sse->tick && sse->tick(sse) != NGX_OK) {
        /* the owner finished the stream */
        ngx_http_run_posted_requests(c);
        return;
    }

    if (ngx_exiting) {
        ngx_http_confhaven_sse_finish(sse, NGX_OK);
        ngx_http_run_posted_requests(c);
        return;
    }

    if (ngx_http_confhaven_sse_comment(sse, "keep-alive") != NGX_OK) {
        ngx_http_confhaven_sse_finish(sse, NGX_ERROR);
        ngx_http_run_posted_requests(c);
        return;
    }

    ngx_add_timer(&sse->keepalive, sse->interval);
}


ngx_int_t
ngx_http_confhaven_sse_last(ngx_http_confhaven_sse_t *sse)
{
    return ngx_http_send_special(sse->r, NGX_HTTP_LAST);
}


/*
 * Ends a held stream: the last chunk (rc NGX_OK) or an abort (NGX_ERROR),
 * then the reference taken by hold() goes.  The caller must not touch the
 * stream afterwards and, outside a request handler, runs the posted
 * requests.
 */

void
ngx_http_confhaven_sse_finish(ngx_http_confhaven_sse_t *sse, ngx_int_t rc)
{
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    if (sse->finished) {
        return;
    }

    r = sse->r;
    c = r->connection;

    sse->finished = 1;

    if (sse->keepalive.timer_set) {
        ngx_del_timer(&sse->keepalive);
    }

    c->idle = 0;

    if (rc == NGX_OK && sse->started) {
        rc = ngx_http_send_special(r, NGX_HTTP_LAST);
    }

    r->read_event_handler = ngx_http_block_reading;

    ngx_http_finalize_request(r, rc);
}
