
/*
 * Copyright (C) ConferenceHaven
 *
 * What the targets put in place of nginx's request lifecycle and of the
 * module's database and cache calls (the build links every target with
 * -Wl,--wrap=<function> for each of them):
 *
 *   ngx_http_read_client_request_body  the body is fuzz_body, read at once
 *   ngx_http_finalize_request          recorded in fuzz_sent
 *   ngx_http_run_posted_requests       nothing to run
 *   ngx_http_confhaven_cache_fetch     checks the key and the parameters,
 *   ngx_http_confhaven_pg_query        then stays pending, like a query
 *   ngx_http_confhaven_pg_cancel       that the client abandons
 */


#include "harness.h"
#include "ngx_http_confhaven_pg.h"
#include "ngx_http_confhaven_cache.h"
#include "ngx_http_confhaven_json.h"


ngx_str_t               fuzz_body;
ngx_http_confhaven_fetch_t  *fuzz_fetch;    /* the last one, pending */

static volatile size_t  fuzz_sink;


/* a parameter for the database: a C string of UTF-8 text */

static void
fuzz_check_param(const char *p)
{
    size_t  len;

    if (p == NULL) {
        return;
    }

    len = ngx_strlen(p);

    if (ngx_http_confhaven_json_utf8_invalid((u_char *) p, len, 1) >= 0) {
        fprintf(stderr, "fuzz: a parameter for the database is not valid "
                "UTF-8: \"%s\"\n", p);
        abort();
    }

    fuzz_sink += len;
}


ngx_int_t
__wrap_ngx_http_read_client_request_body(ngx_http_request_t *r,
    ngx_http_client_body_handler_pt post_handler)
{
    ngx_buf_t                 *b;
    ngx_chain_t               *cl;
    ngx_http_request_body_t   *rb;

    if (r->request_body) {
        post_handler(r);
        return NGX_OK;
    }

    rb = ngx_pcalloc(r->pool, sizeof(ngx_http_request_body_t));
    if (rb == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->request_body = rb;

    if (fuzz_body.len) {
        b = ngx_calloc_buf(r->pool);
        cl = ngx_alloc_chain_link(r->pool);

        if (b == NULL || cl == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        /* an exact-size copy: ASan sees reads past its end */
        b->start = ngx_pnalloc(r->pool, fuzz_body.len);
        if (b->start == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_memcpy(b->start, fuzz_body.data, fuzz_body.len);
        b->pos = b->start;
        b->last = b->start + fuzz_body.len;
        b->end = b->last;
        b->memory = 1;
        b->last_buf = 1;

        cl->buf = b;
        cl->next = NULL;

        rb->bufs = cl;
        rb->buf = b;
    }

    r->headers_in.content_length_n = fuzz_body.len;

    /* nginx calls the handler at once when the body is all there */
    r->main->count++;
    post_handler(r);

    return NGX_OK;
}


void
__wrap_ngx_http_finalize_request(ngx_http_request_t *r, ngx_int_t rc)
{
    fuzz_sent.finalized++;
    fuzz_sent.rc = rc;

    if (rc == NGX_DONE) {
        return;
    }

    if (r->main->count) {
        r->main->count--;
    }
}


void
__wrap_ngx_http_run_posted_requests(ngx_connection_t *c)
{
    return;
}


ngx_int_t
__wrap_ngx_http_confhaven_cache_fetch(ngx_http_confhaven_fetch_t *f)
{
    size_t      i, sum;
    ngx_uint_t  n;

    /* without sql: a Redis-only read of a result cached as sent */
    if (f->nparams > NGX_HTTP_CONFHAVEN_PG_MAX_PARAMS
        || (f->sql == NULL && f->nparams) || f->handler == NULL
        || f->pool == NULL)
    {
        abort();
    }

    for (sum = 0, i = 0; i < f->key.len; i++) {
        sum += f->key.data[i];
    }

    fuzz_sink += sum;

    for (n = 0; n < f->nparams; n++) {
        fuzz_check_param(f->values[n]);
    }

    fuzz_sent.queries++;
    fuzz_fetch = f;

    return NGX_OK;
}


ngx_int_t
__wrap_ngx_http_confhaven_pg_query(ngx_http_confhaven_pg_pool_t *pool,
    ngx_http_confhaven_pg_op_t *op)
{
    ngx_uint_t  n;

    if (op->nparams > NGX_HTTP_CONFHAVEN_PG_MAX_PARAMS || op->sql == NULL
        || op->handler == NULL)
    {
        abort();
    }

    for (n = 0; n < op->nparams; n++) {
        fuzz_check_param(op->values[n]);
    }

    fuzz_sent.queries++;

    return NGX_OK;
}


void
__wrap_ngx_http_confhaven_pg_cancel(ngx_http_confhaven_pg_op_t *op)
{
    return;
}
