
/*
 * Copyright (C) ConferenceHaven
 */


/*
 * JSON answers of the HTTP front ends: a body with its headers, and the
 * one error shape {"error": {"code", "status", "message", "hint",
 * "request_id"}} whose code also goes to $confhaven_error.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_confhaven_module.h"
#include "ngx_http_confhaven_json.h"
#include "ngx_http_confhaven_send.h"


static ngx_int_t ngx_http_confhaven_send_error_with(ngx_http_request_t *r,
    ngx_uint_t status, const char *code, ngx_str_t *message, ngx_str_t *hint,
    json_t *extra);


static ngx_str_t  ngx_http_confhaven_json_type =
    ngx_string("application/json; charset=utf-8");


ngx_int_t
ngx_http_confhaven_send_json(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *body)
{
    return ngx_http_confhaven_send_json_parts(r, status, body, 1);
}


/*
 * A body in parts, sent as they are (each lives in the request's pool,
 * or is static, or is pinned there), then a newline for curl users: no
 * copy of a large answer.
 */

ngx_int_t
ngx_http_confhaven_send_json_parts(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *parts, ngx_uint_t n)
{
    off_t         len;
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_uint_t    i;
    ngx_chain_t  *out, **ll;

    len = 1;

    for (i = 0; i < n; i++) {
        len += parts[i].len;
    }

    r->headers_out.status = status;
    r->headers_out.content_type = ngx_http_confhaven_json_type;
    r->headers_out.content_type_len = ngx_http_confhaven_json_type.len;
    r->headers_out.content_type_lowcase = NULL;
    r->headers_out.content_length_n = len;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out = NULL;
    ll = &out;

    for (i = 0; i <= n; i++) {
        if (i < n && parts[i].len == 0) {
            continue;
        }

        b = ngx_calloc_buf(r->pool);
        *ll = ngx_alloc_chain_link(r->pool);
        if (b == NULL || *ll == NULL) {
            return NGX_ERROR;
        }

        if (i < n) {
            b->pos = parts[i].data;
            b->last = parts[i].data + parts[i].len;

        } else {
            b->pos = (u_char *) "\n";
            b->last = b->pos + 1;
            b->last_buf = (r == r->main) ? 1 : 0;
            b->last_in_chain = 1;
        }

        b->memory = 1;

        (*ll)->buf = b;
        ll = &(*ll)->next;
    }

    *ll = NULL;

    return ngx_http_output_filter(r, out);
}


/*
 * An answer for a key or a token: "Cache-Control: private, no-store", so
 * that a shared cache in front (which keeps answers to requests without
 * Authorization, X-API-Key is not one) never serves it to somebody else.
 */

ngx_int_t
ngx_http_confhaven_send_no_store(ngx_http_request_t *r)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Cache-Control");
    ngx_str_set(&h->value, "private, no-store");

    return NGX_OK;
}


ngx_int_t
ngx_http_confhaven_send_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *code, ngx_str_t *message, ngx_str_t *hint)
{
    return ngx_http_confhaven_send_error_with(r, status, code, message, hint,
                                              NULL);
}


/* 401 with its WWW-Authenticate challenge (the whole header value) */

ngx_int_t
ngx_http_confhaven_send_unauthorized(ngx_http_request_t *r,
    ngx_str_t *challenge, ngx_str_t *message, ngx_str_t *hint)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "WWW-Authenticate");
    h->value = *challenge;

    r->headers_out.www_authenticate = h;

    return ngx_http_confhaven_send_error(r, NGX_HTTP_UNAUTHORIZED,
                                         "unauthorized", message, hint);
}


/*
 * 403 tier_limit: the error shape plus "tier" (the organizer's) and
 * "required_tier" (the cheapest that allows the request; null: none).
 */

ngx_int_t
ngx_http_confhaven_send_tier_error(ngx_http_request_t *r, ngx_str_t *message,
    ngx_str_t *hint, ngx_str_t *tier, ngx_str_t *required)
{
    json_t  *extra;

    extra = json_object();
    if (extra == NULL) {
        return NGX_ERROR;
    }

    json_object_set_new(extra, "tier",
                        tier->len ? json_stringn((char *) tier->data,
                                                 tier->len)
                                  : json_null());
    json_object_set_new(extra, "required_tier",
                        required->len ? json_stringn((char *) required->data,
                                                     required->len)
                                      : json_null());

    return ngx_http_confhaven_send_error_with(r, NGX_HTTP_FORBIDDEN,
                                              "tier_limit", message, hint,
                                              extra);
}


/* the error shape; extra: more members of "error" (a reference taken) */

static ngx_int_t
ngx_http_confhaven_send_error_with(ngx_http_request_t *r, ngx_uint_t status,
    const char *code, ngx_str_t *message, ngx_str_t *hint, json_t *extra)
{
    json_t                    *err, *obj;
    ngx_str_t                  body, id;
    ngx_http_confhaven_ctx_t  *ctx;

    ctx = ngx_http_confhaven_get_ctx(r);
    if (ctx) {
        ctx->error.data = (u_char *) code;
        ctx->error.len = ngx_strlen(code);
    }

    err = json_object();
    if (err == NULL) {
        json_decref(extra);
        return NGX_ERROR;
    }

    json_object_set_new(err, "code", json_string(code));
    json_object_set_new(err, "status", json_integer(status));
    json_object_set_new(err, "message",
                        json_stringn_nocheck((char *) message->data,
                                             message->len));

    if (hint && hint->len) {
        json_object_set_new(err, "hint",
                            json_stringn_nocheck((char *) hint->data,
                                                 hint->len));
    }

    if (extra) {
        (void) json_object_update(err, extra);
        json_decref(extra);
    }

    if (status >= NGX_HTTP_INTERNAL_SERVER_ERROR) {
        /* what to quote to the operator: the error log names it too */
        ngx_http_confhaven_json_request_id(r, &id);

        if (id.len) {
            json_object_set_new(err, "request_id",
                                json_stringn_nocheck((char *) id.data,
                                                     id.len));
        }
    }

    obj = json_object();
    if (obj == NULL) {
        json_decref(err);
        return NGX_ERROR;
    }

    json_object_set_new(obj, "error", err);

    if (ngx_http_confhaven_json_dump(r, obj, &body) != NGX_OK) {
        return NGX_ERROR;
    }

    if (status >= NGX_HTTP_BAD_REQUEST
        && status < NGX_HTTP_INTERNAL_SERVER_ERROR
        && status != NGX_HTTP_REQUEST_TIME_OUT)
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "confhaven: %ui %s: %V", status, code, message);
    }

    return ngx_http_confhaven_send_json(r, status, &body);
}


ngx_int_t
ngx_http_confhaven_send_errorf(ngx_http_request_t *r, ngx_uint_t status,
    const char *code, const char *hint, const char *fmt, ...)
{
    u_char     *p, buf[1024];
    va_list     args;
    ngx_str_t   msg, h;

    va_start(args, fmt);
    p = ngx_vslprintf(buf, buf + sizeof(buf), fmt, args);
    va_end(args);

    msg.data = buf;
    msg.len = p - buf;

    /* a message may quote client bytes: never emit invalid UTF-8 */
    if (ngx_http_confhaven_json_utf8_invalid(msg.data, msg.len, 1) >= 0) {
        ngx_str_set(&msg, "the request is invalid");
    }

    if (hint) {
        h.data = (u_char *) hint;
        h.len = ngx_strlen(hint);
    }

    return ngx_http_confhaven_send_error(r, status, code, &msg,
                                         hint ? &h : NULL);
}


/*
 * A database failure told to a client.  libpq's text names the socket
 * path, host, port, user and why authentication failed: it goes to the
 * error log with the request id, and the client gets only what happened
 * and that id to quote.
 */

ngx_int_t
ngx_http_confhaven_send_db_unavailable(ngx_http_request_t *r,
    ngx_uint_t status, const char *code, const char *what, ngx_str_t *detail)
{
    ngx_str_t  id;

    ngx_http_confhaven_json_request_id(r, &id);

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "confhaven pg: %s (request %V): %V", what, &id, detail);

    return ngx_http_confhaven_send_errorf(r, status, code,
               "retry later; if it persists, quote the request id to "
               "the operator",
               "%s (request id %V)", what, &id);
}


/* an iCalendar file (its CRLF line ends are its own: nothing appended) */

ngx_int_t
ngx_http_confhaven_send_calendar(ngx_http_request_t *r, ngx_str_t *body)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    static ngx_str_t  type = ngx_string("text/calendar; charset=utf-8");

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_type = type;
    r->headers_out.content_type_len = type.len;
    r->headers_out.content_type_lowcase = NULL;
    r->headers_out.content_length_n = body->len;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = body->data;
    b->last = body->data + body->len;
    b->memory = body->len ? 1 : 0;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/*
 * What an HTTP error status means, for the error pages nginx's own errors
 * are sent to: an error code and a sentence (confhaven_json_errors, and the
 * JSON-RPC form of confhaven_mcp_errors).
 */

void
ngx_http_confhaven_send_status_text(ngx_uint_t status, const char **code,
    const char **msg)
{
    switch (status) {

    case NGX_HTTP_BAD_REQUEST:
        *code = "bad_request";
        *msg = "the HTTP request could not be understood";
        break;

    case NGX_HTTP_FORBIDDEN:
        *code = "forbidden";
        *msg = "access to this resource is forbidden";
        break;

    case NGX_HTTP_NOT_FOUND:
        *code = "not_found";
        *msg = "no such resource";
        break;

    case NGX_HTTP_NOT_ALLOWED:
        *code = "method_not_allowed";
        *msg = "this method is not allowed here";
        break;

    case NGX_HTTP_REQUEST_TIME_OUT:
        *code = "timeout";
        *msg = "the request was not received in time";
        break;

    case NGX_HTTP_REQUEST_ENTITY_TOO_LARGE:
        *code = "too_large";
        *msg = "the request body is too large";
        break;

    case NGX_HTTP_REQUEST_URI_TOO_LARGE:
        *code = "uri_too_long";
        *msg = "the request URI is too long";
        break;

    case 429:
        *code = "rate_limited";
        *msg = "too many requests: slow down and retry later";
        break;

    case NGX_HTTP_SERVICE_UNAVAILABLE:
        *code = "unavailable";
        *msg = "the service is temporarily unavailable";
        break;

    case NGX_HTTP_GATEWAY_TIME_OUT:
        *code = "timeout";
        *msg = "the service did not answer in time";
        break;

    default:
        *code = status >= 500 ? "server_error" : "client_error";
        *msg = status >= 500 ? "the server could not complete the request"
                             : "the request cannot be served";
        break;
    }
}
