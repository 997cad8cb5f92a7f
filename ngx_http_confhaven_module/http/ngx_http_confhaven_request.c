
/*
 * Copyright (C) ConferenceHaven
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <jansson.h>

#include "ngx_http_confhaven_module.h"
#include "ngx_http_confhaven_json.h"
#include "ngx_http_confhaven_send.h"
#include "ngx_http_confhaven_request.h"


static ngx_int_t ngx_http_confhaven_request_unescape(ngx_pool_t *pool,
    u_char *p, size_t len, ngx_str_t *out);
static char *ngx_http_confhaven_request_hint(ngx_pool_t *pool,
    const char *a, const char *b, const char *c);
static void ngx_http_confhaven_request_done(
    ngx_http_confhaven_op_call_t *call);


void
ngx_http_confhaven_request_args(ngx_http_request_t *r,
    ngx_http_confhaven_request_args_t *args)
{
    args->pos = r->args.data;
    args->last = r->args.data + r->args.len;
}


/*
 * The next "key=value" of the query string (empty pairs are skipped),
 * both decoded ('+' is a space, then %XX) into NUL-terminated copies in
 * the request's pool; val->data is NULL for a key without "=".
 * NGX_DONE: no more pairs; NGX_HTTP_INTERNAL_SERVER_ERROR: no memory.
 */

ngx_int_t
ngx_http_confhaven_request_arg(ngx_http_request_t *r,
    ngx_http_confhaven_request_args_t *args, ngx_str_t *key, ngx_str_t *val)
{
    u_char  *p, *amp, *eq;

    p = args->pos;

    while (p < args->last && *p == '&') {
        p++;
    }

    if (p >= args->last) {
        args->pos = args->last;
        return NGX_DONE;
    }

    amp = ngx_strlchr(p, args->last, '&');
    if (amp == NULL) {
        amp = args->last;
    }

    args->pos = amp;

    eq = ngx_strlchr(p, amp, '=');

    if (ngx_http_confhaven_request_unescape(r->pool, p, (eq ? eq : amp) - p,
                                            key)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (eq == NULL) {
        val->data = NULL;
        val->len = 0;
        return NGX_OK;
    }

    if (ngx_http_confhaven_request_unescape(r->pool, eq + 1, amp - (eq + 1),
                                            val)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_confhaven_request_unescape(ngx_pool_t *pool, u_char *p, size_t len,
    ngx_str_t *out)
{
    u_char     *d;
    size_t      i;
    ngx_int_t   n;

    out->data = ngx_pnalloc(pool, len + 1);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    /*
     * A '%' without two hex digits after it stays as it is, as the WHATWG
     * URL standard (URLSearchParams, the web pages) reads it:
     * ngx_unescape_uri() dropped it and what followed ("100%" was "100",
     * "%zz" was "zz").
     */

    d = out->data;

    for (i = 0; i < len; i++) {

        if (p[i] == '+') {
            *d++ = ' ';
            continue;
        }

        if (p[i] == '%' && len - i > 2) {
            n = ngx_hextoi(&p[i + 1], 2);

            if (n != NGX_ERROR) {
                *d++ = (u_char) n;
                i += 2;
                continue;
            }
        }

        *d++ = p[i];
    }

    out->len = d - out->data;
    out->data[out->len] = '\0';

    return NGX_OK;
}


/*
 * Which of the operation's parameters a query string's key names, each
 * at most once: its index; NGX_ERROR: none (op NULL: the route takes no
 * query parameters), and the key becomes printable for the message;
 * NGX_DECLINED: given twice.
 */

ngx_int_t
ngx_http_confhaven_request_param(ngx_http_confhaven_op_t *op, ngx_str_t *key,
    ngx_uint_t *seen)
{
    ngx_int_t  i;

    i = op ? ngx_http_confhaven_op_find(op, key->data, key->len, 1)
           : NGX_ERROR;

    if (i == NGX_ERROR) {
        if (ngx_http_confhaven_json_utf8_invalid(key->data, key->len, 0) >= 0
            || key->len > 64)
        {
            ngx_str_set(key, "(unreadable)");
        }

        return NGX_ERROR;
    }

    if (*seen & ((ngx_uint_t) 1 << i)) {
        return NGX_DECLINED;
    }

    *seen |= (ngx_uint_t) 1 << i;

    return i;
}


/*
 * The head of a request whose body is small JSON of at most max bytes:
 * when example is given, a Content-Type, if any, must be application/json
 * (415); a Content-Length above max is refused (413, and the connection
 * closes).  NGX_OK; NGX_DECLINED: the request is answered, its body
 * discarded, and *rc is what the handler returns.
 */

ngx_int_t
ngx_http_confhaven_request_body_head(ngx_http_request_t *r, off_t max,
    const char *example, const char *hint, ngx_int_t *rc)
{
    ngx_str_t  *type;

    type = r->headers_in.content_type ? &r->headers_in.content_type->value
                                      : NULL;

    if (example && type
        && (type->len < 16
            || ngx_strncasecmp(type->data, (u_char *) "application/json", 16)
               != 0))
    {
        if (ngx_http_discard_request_body(r) != NGX_OK) {
            *rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
            return NGX_DECLINED;
        }

        *rc = ngx_http_confhaven_send_errorf(r,
                  NGX_HTTP_UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type",
                  ngx_http_confhaven_request_hint(r->pool, "send ", example,
                                  " with Content-Type: application/json"),
                  "content type \"%V\" is not accepted: use "
                  "application/json", type);
        return NGX_DECLINED;
    }

    if (r->headers_in.content_length_n > max) {
        r->keepalive = 0;

        if (ngx_http_discard_request_body(r) != NGX_OK) {
            *rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
            return NGX_DECLINED;
        }

        *rc = ngx_http_confhaven_send_errorf(r,
                  NGX_HTTP_REQUEST_ENTITY_TOO_LARGE, "too_large", hint,
                  "the request body is %O bytes; at most %O are accepted",
                  r->headers_in.content_length_n, max);
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * A small JSON body, read whole: at most max bytes (413: a chunked body
 * had no length to refuse it by before), then nothing (if "empty"
 * allows it) or a JSON object whose only member, if any, is the string
 * "name" (NULL: the object must be empty).  NGX_OK: *value is the member's text (data NULL: absent);
 * NGX_DECLINED: the request is answered and *rc is what to finalize it
 * with.
 */

ngx_int_t
ngx_http_confhaven_request_member(ngx_http_request_t *r, ngx_str_t *body,
    size_t max, ngx_uint_t empty, const char *name, const char *example,
    ngx_str_t *value, ngx_int_t *rc)
{
    json_t      *root, *v;
    const char  *key;

    value->data = NULL;
    value->len = 0;

    if (body->len > max) {
        r->keepalive = 0;
        *rc = ngx_http_confhaven_send_errorf(r,
                  NGX_HTTP_REQUEST_ENTITY_TOO_LARGE, "too_large",
                  ngx_http_confhaven_request_hint(r->pool, "send only ",
                                                  example, ""),
                  "the request body is %uz bytes; at most %uz are accepted",
                  body->len, max);
        return NGX_DECLINED;
    }

    if (body->len == 0 && empty) {
        return NGX_OK;
    }

    root = body->len ? json_loadb((char *) body->data, body->len,
                                  JSON_REJECT_DUPLICATES, NULL)
                     : NULL;

    if (!json_is_object(root)) {
        json_decref(root);
        *rc = ngx_http_confhaven_send_errorf(r, NGX_HTTP_BAD_REQUEST,
                  "bad_body",
                  ngx_http_confhaven_request_hint(r->pool, "send ", example,
                                  " with Content-Type: application/json"),
                  "the body must be a JSON object");
        return NGX_DECLINED;
    }

    if (ngx_http_confhaven_json_own(r->pool, root) != NGX_OK) {
        json_decref(root);
        *rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_DECLINED;
    }

    json_object_foreach(root, key, v) {
        if (name == NULL || ngx_strcmp(key, name) != 0) {
            *rc = ngx_http_confhaven_send_errorf(r, NGX_HTTP_BAD_REQUEST,
                      "bad_body",
                      name ? ngx_http_confhaven_request_hint(r->pool,
                                 "the body has one member: ", name, "")
                           : "this endpoint takes an empty body",
                      "unknown member in the body");
            return NGX_DECLINED;
        }

        if (!json_is_string(v)) {
            *rc = ngx_http_confhaven_send_errorf(r, NGX_HTTP_BAD_REQUEST,
                      "bad_parameter",
                      ngx_http_confhaven_request_hint(r->pool, "e.g. ",
                                                      example, ""),
                      "\"%s\" must be a string", name);
            return NGX_DECLINED;
        }

        value->data = (u_char *) json_string_value(v);
        value->len = json_string_length(v);
    }

    return NGX_OK;
}


/* "a" "b" "c" in the pool, for a hint; NULL (no hint) without memory */

static char *
ngx_http_confhaven_request_hint(ngx_pool_t *pool, const char *a,
    const char *b, const char *c)
{
    u_char  *p;

    if (b == NULL) {
        return NULL;
    }

    p = ngx_pnalloc(pool, ngx_strlen(a) + ngx_strlen(b) + ngx_strlen(c) + 1);
    if (p == NULL) {
        return NULL;
    }

    *ngx_sprintf(p, "%s%s%s", a, b, c) = '\0';

    return (char *) p;
}


/*
 * Starts the operation for the request; ro->respond answers it.  The
 * callback may run before op_start() returns (the pool knows at once
 * that the server is down, a cache hit): then it only records the code,
 * and we return it, so that nginx finalizes the request once, after the
 * handler.  Finalizing from inside would free the request under the
 * handler when the client has reset the connection.  NGX_DONE: pending.
 */

ngx_int_t
ngx_http_confhaven_request_start(ngx_http_request_t *r,
    ngx_http_confhaven_request_op_t *ro, ngx_http_confhaven_op_call_t *call)
{
    ro->r = r;
    ro->answered = 0;

    call->handler = ngx_http_confhaven_request_done;
    call->data = ro;

    /* the reference the operation's callback releases */
    r->main->count++;
    ro->dispatching = 1;

    if (ngx_http_confhaven_op_start(call) != NGX_OK) {
        ro->dispatching = 0;
        r->main->count--;
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ro->dispatching = 0;

    if (ro->answered) {
        r->main->count--;
        return ro->rc;
    }

    if (r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD)) {
        /* notice a client that leaves while we wait */
        r->read_event_handler = ngx_http_test_reading;
    }

    return NGX_DONE;
}


static void
ngx_http_confhaven_request_done(ngx_http_confhaven_op_call_t *call)
{
    ngx_int_t                         rc;
    ngx_connection_t                 *c;
    ngx_http_request_t               *r;
    ngx_http_confhaven_ctx_t         *ctx;
    ngx_http_confhaven_request_op_t  *ro;

    ro = call->data;
    r = ro->r;
    c = r->connection;
    ctx = ngx_http_confhaven_get_ctx(r);

    ctx->db_used = call->fetch.db_used;
    ctx->db_time = call->fetch.elapsed;

    rc = ro->respond(r, ro->data);

    if (ro->dispatching) {
        /* ngx_http_confhaven_request_start() is on the stack: it returns */
        ro->rc = rc;
        ro->answered = 1;
        return;
    }

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


/* the request body read so far, in one buffer from the request pool */

ngx_int_t
ngx_http_confhaven_request_body(ngx_http_request_t *r, ngx_str_t *body)
{
    u_char       *p;
    size_t        len;
    ssize_t       n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    len = 0;

    if (r->request_body) {
        for (cl = r->request_body->bufs; cl; cl = cl->next) {
            b = cl->buf;
            len += b->in_file ? (size_t) (b->file_last - b->file_pos)
                              : (size_t) (b->last - b->pos);
        }
    }

    /* NUL-terminated: libpq takes it as a text parameter */
    p = ngx_pnalloc(r->pool, len + 1);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    body->data = p;
    body->len = len;
    p[len] = '\0';

    if (len == 0) {
        return NGX_OK;
    }

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (!b->in_file) {
            if (b->last != b->pos) {
                /* an empty buffer may have no memory (pos NULL) */
                p = ngx_cpymem(p, b->pos, b->last - b->pos);
            }

            continue;
        }

        /*
         * The body spilled to a temporary file: client_body_buffer_size
         * is smaller than the upload (the README asks for a buffer as
         * large as the largest body accepted).
         */

        n = ngx_read_file(b->file, p, b->file_last - b->file_pos,
                          b->file_pos);
        if (n != b->file_last - b->file_pos) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        p += n;
    }

    return NGX_OK;
}
