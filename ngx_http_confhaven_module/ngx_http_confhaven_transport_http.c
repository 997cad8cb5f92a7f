
/*
 * Copyright (C) ConferenceHaven
 */


/*
 * MCP over HTTP on one endpoint (confhaven_mcp on): Streamable HTTP with
 * sessions for the initialize-based versions (2024-11-05 .. 2025-11-25)
 * and the stateless 2026-07-28 wire, told apart per request (a modern
 * request carries its version in params._meta or names a version newer
 * than ours in MCP-Protocol-Version).  Host and Origin are checked here,
 * whatever server_name routing did.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_confhaven_module.h"
#include "ngx_http_confhaven_json.h"
#include "ngx_http_confhaven_mcp.h"
#include "ngx_http_confhaven_tools.h"


#define NGX_HTTP_CONFHAVEN_MCP_META_VERSION                                 \
    "io.modelcontextprotocol/protocolVersion"
#define NGX_HTTP_CONFHAVEN_MCP_META_CAPS                                    \
    "io.modelcontextprotocol/clientCapabilities"

#define NGX_HTTP_CONFHAVEN_MCP_MAX_BATCH  64

#define NGX_HTTP_CONFHAVEN_NOT_ACCEPTABLE  406


typedef struct {
    ngx_http_request_t               *r;
    json_t                           *body;
    ngx_http_confhaven_mcp_call_t    *calls;
    ngx_uint_t                        ncalls;
    ngx_uint_t                        pending;
    ngx_str_t                         session;
    ngx_int_t                         rc;        /* of an early answer */

    unsigned                          modern:1;
    unsigned                          batch:1;
    unsigned                          initialize:1;
    unsigned                          dispatching:1;
} ngx_http_confhaven_mcp_http_t;


static ngx_int_t ngx_http_confhaven_mcp_allowed(ngx_http_request_t *r);
static ngx_int_t ngx_http_confhaven_mcp_host_allowed(ngx_str_t *host,
    ngx_array_t *list);
static ngx_int_t ngx_http_confhaven_mcp_origin_allowed(ngx_str_t *origin,
    ngx_http_confhaven_loc_conf_t *chlcf);
static ngx_int_t ngx_http_confhaven_mcp_get(ngx_http_request_t *r);
static ngx_int_t ngx_http_confhaven_mcp_delete(ngx_http_request_t *r);
static ngx_int_t ngx_http_confhaven_mcp_post(ngx_http_request_t *r);
static void ngx_http_confhaven_mcp_post_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_confhaven_mcp_read_body(ngx_http_request_t *r,
    ngx_str_t *body);
static ngx_int_t ngx_http_confhaven_mcp_modern(
    ngx_http_confhaven_mcp_http_t *st);
static ngx_int_t ngx_http_confhaven_mcp_check_headers(
    ngx_http_confhaven_mcp_call_t *call);
static ngx_int_t ngx_http_confhaven_mcp_check_params(
    ngx_http_confhaven_mcp_call_t *call);
static ngx_int_t ngx_http_confhaven_mcp_header_equals(ngx_http_request_t *r,
    ngx_table_elt_t *h, json_t *value);
static ngx_int_t ngx_http_confhaven_mcp_decode_header(ngx_http_request_t *r,
    ngx_str_t *value, ngx_str_t *out);
static ngx_int_t ngx_http_confhaven_mcp_legacy(
    ngx_http_confhaven_mcp_http_t *st);
static ngx_int_t ngx_http_confhaven_mcp_session(
    ngx_http_confhaven_mcp_http_t *st, ngx_uint_t *version);
static ngx_int_t ngx_http_confhaven_mcp_start(
    ngx_http_confhaven_mcp_http_t *st);
static void ngx_http_confhaven_mcp_call_done(
    ngx_http_confhaven_mcp_call_t *call);
static void ngx_http_confhaven_mcp_release(ngx_http_confhaven_mcp_http_t *st);
static ngx_int_t ngx_http_confhaven_mcp_reject(
    ngx_http_confhaven_mcp_http_t *st, ngx_int_t rc);
static ngx_int_t ngx_http_confhaven_mcp_respond(
    ngx_http_confhaven_mcp_http_t *st);
static ngx_int_t ngx_http_confhaven_mcp_new_session(
    ngx_http_confhaven_mcp_http_t *st, ngx_http_confhaven_mcp_call_t *call);
static ngx_int_t ngx_http_confhaven_mcp_send(ngx_http_request_t *r,
    ngx_uint_t status, json_t *msg);
static ngx_int_t ngx_http_confhaven_mcp_send_error(ngx_http_request_t *r,
    ngx_uint_t status, ngx_int_t code, const char *message, json_t *id,
    json_t *data);
static ngx_int_t ngx_http_confhaven_mcp_send_empty(ngx_http_request_t *r,
    ngx_uint_t status);
static ngx_int_t ngx_http_confhaven_mcp_add_header(ngx_http_request_t *r,
    const char *name, ngx_str_t *value);
static ngx_int_t ngx_http_confhaven_mcp_accepts(ngx_http_request_t *r);
static ngx_int_t ngx_http_confhaven_mcp_not_allowed(ngx_http_request_t *r,
    const char *allow);


static ngx_str_t  ngx_http_confhaven_mcp_default_hosts[] = {
    ngx_string("localhost"),
    ngx_string("127.0.0.1"),
    ngx_string("[::1]"),
};


ngx_int_t
ngx_http_confhaven_mcp_handler(ngx_http_request_t *r)
{
    ngx_int_t                  rc;
    ngx_http_confhaven_ctx_t  *ctx;

    ctx = ngx_http_confhaven_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_str_set(&ctx->route, "mcp");

    if (ngx_http_confhaven_mcp_allowed(r) != NGX_OK) {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_confhaven_mcp_send_error(r, NGX_HTTP_FORBIDDEN,
                   NGX_HTTP_CONFHAVEN_MCP_INVALID_REQUEST,
                   "Forbidden: Host or Origin is not allowed",
                   NULL, NULL);
    }

    switch (r->method) {

    case NGX_HTTP_POST:
        return ngx_http_confhaven_mcp_post(r);

    case NGX_HTTP_GET:
        return ngx_http_confhaven_mcp_get(r);

    case NGX_HTTP_DELETE:
        return ngx_http_confhaven_mcp_delete(r);

    default:
        return ngx_http_confhaven_mcp_not_allowed(r, "GET, POST, DELETE");
    }
}


/* ------------------------------------------------------- Host and Origin */


static ngx_int_t
ngx_http_confhaven_mcp_allowed(ngx_http_request_t *r)
{
    ngx_table_elt_t                *h;
    ngx_http_confhaven_loc_conf_t  *chlcf;

    chlcf = ngx_http_get_module_loc_conf(r, ngx_http_confhaven_module);

    if (ngx_http_confhaven_mcp_host_allowed(&r->headers_in.server,
                                            chlcf->mcp_allowed_hosts)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "confhaven mcp: host \"%V\" is not allowed",
                      &r->headers_in.server);
        return NGX_DECLINED;
    }

    h = ngx_http_confhaven_mcp_header(r, "Origin", sizeof("Origin") - 1);

    if (h && ngx_http_confhaven_mcp_origin_allowed(&h->value, chlcf)
             != NGX_OK)
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "confhaven mcp: origin \"%V\" is not allowed",
                      &h->value);
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* host: lowercase, without port (nginx's r->headers_in.server) */

static ngx_int_t
ngx_http_confhaven_mcp_host_allowed(ngx_str_t *host, ngx_array_t *list)
{
    size_t      len;
    ngx_str_t  *e;
    ngx_uint_t  i, n;

    if (host->len == 0) {
        return NGX_DECLINED;
    }

    if (list) {
        e = list->elts;
        n = list->nelts;

    } else {
        e = ngx_http_confhaven_mcp_default_hosts;
        n = sizeof(ngx_http_confhaven_mcp_default_hosts) / sizeof(ngx_str_t);
    }

    for (i = 0; i < n; i++) {

        if (e[i].len == 1 && e[i].data[0] == '*') {
            return NGX_OK;
        }

        if (e[i].len > 2 && e[i].data[0] == '*' && e[i].data[1] == '.') {
            /* "*.example.com": example.com and any name under it */
            len = e[i].len - 1;

            if ((host->len > len
                 && ngx_strncasecmp(host->data + host->len - len,
                                    e[i].data + 1, len) == 0)
                || (host->len == len - 1
                    && ngx_strncasecmp(host->data, e[i].data + 2, len - 1)
                       == 0))
            {
                return NGX_OK;
            }

            continue;
        }

        if (e[i].len == host->len
            && ngx_strncasecmp(e[i].data, host->data, host->len) == 0)
        {
            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}


static ngx_int_t
ngx_http_confhaven_mcp_origin_allowed(ngx_str_t *origin,
    ngx_http_confhaven_loc_conf_t *chlcf)
{
    u_char      *p, *last, *host, *port;
    ngx_str_t   *e, h;
    ngx_uint_t   i;

    p = ngx_strlcasestrn(origin->data, origin->data + origin->len,
                         (u_char *) "://", 3 - 1);
    if (p == NULL) {
        return NGX_DECLINED;   /* "null" and other opaque origins */
    }

    host = p + 3;
    last = origin->data + origin->len;

    if (host == last || ngx_strlchr(host, last, '/')) {
        return NGX_DECLINED;
    }

    /* the port separator: the last ':' after an IPv6 literal's ']' */
    port = NULL;

    for (p = last - 1; p >= host; p--) {
        if (*p == ']') {
            break;
        }

        if (*p == ':') {
            port = p;
            break;
        }
    }

    if (chlcf->mcp_allowed_origins) {
        e = chlcf->mcp_allowed_origins->elts;

        for (i = 0; i < chlcf->mcp_allowed_origins->nelts; i++) {

            if (e[i].len == 1 && e[i].data[0] == '*') {
                return NGX_OK;
            }

            if (e[i].len == origin->len
                && ngx_strncasecmp(e[i].data, origin->data, origin->len)
                   == 0)
            {
                return NGX_OK;
            }

            /* an entry without a port allows every port */
            if (port
                && e[i].len == (size_t) (port - origin->data)
                && ngx_strncasecmp(e[i].data, origin->data, e[i].len) == 0)
            {
                return NGX_OK;
            }
        }

        return NGX_DECLINED;
    }

    /* no list: an origin on an allowed host, any scheme and port */
    h.data = host;
    h.len = (port ? port : last) - host;

    return ngx_http_confhaven_mcp_host_allowed(&h, chlcf->mcp_allowed_hosts);
}


/* ------------------------------------------------------------- GET, DELETE */


static ngx_int_t
ngx_http_confhaven_mcp_get(ngx_http_request_t *r)
{
    ngx_int_t                        rc;
    ngx_table_elt_t                 *h;
    ngx_http_confhaven_main_conf_t  *chmcf;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    chmcf = ngx_http_get_module_main_conf(r, ngx_http_confhaven_module);

    h = ngx_http_confhaven_mcp_header(r, "Mcp-Session-Id",
                                      sizeof("Mcp-Session-Id") - 1);

    if (h && ngx_http_confhaven_mcp_session_find(&chmcf->mcp_zone, &h->value)
             == 0)
    {
        return ngx_http_confhaven_mcp_send_error(r, NGX_HTTP_NOT_FOUND,
                   NGX_HTTP_CONFHAVEN_MCP_SESSION_NOT_FOUND,
                   "Session not found", NULL, NULL);
    }

    /* no standalone server-to-client stream: we never push */
    return ngx_http_confhaven_mcp_not_allowed(r, "POST, DELETE");
}


static ngx_int_t
ngx_http_confhaven_mcp_delete(ngx_http_request_t *r)
{
    ngx_int_t                        rc;
    ngx_table_elt_t                 *h;
    ngx_http_confhaven_main_conf_t  *chmcf;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    chmcf = ngx_http_get_module_main_conf(r, ngx_http_confhaven_module);

    h = ngx_http_confhaven_mcp_header(r, "Mcp-Session-Id",
                                      sizeof("Mcp-Session-Id") - 1);

    if (h == NULL) {
        return ngx_http_confhaven_mcp_not_allowed(r, "POST");
    }

    if (ngx_http_confhaven_mcp_session_delete(&chmcf->mcp_zone, &h->value)
        != NGX_OK)
    {
        return ngx_http_confhaven_mcp_send_error(r, NGX_HTTP_NOT_FOUND,
                   NGX_HTTP_CONFHAVEN_MCP_SESSION_NOT_FOUND,
                   "Session not found", NULL, NULL);
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "confhaven mcp: session %V ended by the client", &h->value);

    return ngx_http_confhaven_mcp_send_empty(r, NGX_HTTP_OK);
}


/* ------------------------------------------------------------------ POST */


static ngx_int_t
ngx_http_confhaven_mcp_post(ngx_http_request_t *r)
{
    ngx_int_t   rc;
    ngx_str_t  *type;

    type = r->headers_in.content_type ? &r->headers_in.content_type->value
                                      : NULL;

    if (type == NULL
        || type->len < sizeof("application/json") - 1
        || ngx_strncasecmp(type->data, (u_char *) "application/json",
                           sizeof("application/json") - 1) != 0
        || (type->len > sizeof("application/json") - 1
            && type->data[sizeof("application/json") - 1] != ';'
            && type->data[sizeof("application/json") - 1] != ' '))
    {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_confhaven_mcp_send_error(r,
                   NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
                   NGX_HTTP_CONFHAVEN_MCP_INVALID_REQUEST,
                   "Unsupported Media Type: Content-Type must be "
                   "application/json", NULL, NULL);
    }

    r->request_body_in_single_buf = 1;

    rc = ngx_http_read_client_request_body(r,
                                           ngx_http_confhaven_mcp_post_body);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


static void
ngx_http_confhaven_mcp_post_body(ngx_http_request_t *r)
{
    json_t                         *meta, *params;
    ngx_int_t                       rc;
    ngx_str_t                       body, err, sid;
    ngx_uint_t                      hv;
    ngx_table_elt_t                *h, *s;
    ngx_http_confhaven_ctx_t       *ctx;
    ngx_http_confhaven_mcp_http_t  *st;

    ctx = ngx_http_confhaven_get_ctx(r);

    st = ngx_pcalloc(r->pool, sizeof(ngx_http_confhaven_mcp_http_t));
    if (st == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    st->r = r;
    ctx->mcp = st;

    rc = ngx_http_confhaven_mcp_read_body(r, &body);
    if (rc != NGX_OK) {
        ngx_http_finalize_request(r, rc);
        return;
    }

    rc = ngx_http_confhaven_mcp_parse(r, body.data, body.len, &st->body,
                                      &err);
    if (rc == NGX_ERROR) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (rc == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "confhaven mcp: %V", &err);

        rc = ngx_http_confhaven_mcp_send_error(r, NGX_HTTP_BAD_REQUEST,
                                        NGX_HTTP_CONFHAVEN_MCP_PARSE_ERROR,
                                        (char *) err.data, NULL, NULL);
        ngx_http_finalize_request(r, rc);
        return;
    }

    /* which wire: see MCP-TRANSPORTS.md, "Version negotiation" */

    h = ngx_http_confhaven_mcp_header(r, "MCP-Protocol-Version",
                                      sizeof("MCP-Protocol-Version") - 1);
    s = ngx_http_confhaven_mcp_header(r, "Mcp-Session-Id",
                                      sizeof("Mcp-Session-Id") - 1);

    hv = h ? ngx_http_confhaven_mcp_version(h->value.data, h->value.len) : 0;

    params = json_object_get(st->body, "params");
    meta = json_is_object(params) ? json_object_get(params, "_meta") : NULL;

    if ((json_is_object(meta)
         && json_object_get(meta, NGX_HTTP_CONFHAVEN_MCP_META_VERSION))
        || (h && hv == NGX_HTTP_CONFHAVEN_MCP_V2026_07_28)
        || (h && hv == 0 && s == NULL))
    {
        st->modern = 1;
        rc = ngx_http_confhaven_mcp_modern(st);

    } else {
        if (s) {
            sid = s->value;
            st->session = sid;
        }

        rc = ngx_http_confhaven_mcp_legacy(st);
    }

    ngx_http_finalize_request(r, rc);
}


static ngx_int_t
ngx_http_confhaven_mcp_read_body(ngx_http_request_t *r, ngx_str_t *body)
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

    /* one spare byte: error texts get a NUL there */
    p = ngx_pnalloc(r->pool, len + 1);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    body->data = p;
    body->len = len;

    if (len == 0) {
        return NGX_OK;
    }

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (!b->in_file) {
            p = ngx_cpymem(p, b->pos, b->last - b->pos);
            continue;
        }

        n = ngx_read_file(b->file, p, b->file_last - b->file_pos,
                          b->file_pos);
        if (n != b->file_last - b->file_pos) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        p += n;
    }

    return NGX_OK;
}


/* ------------------------------------------------------ 2026-07-28 wire */


static ngx_int_t
ngx_http_confhaven_mcp_modern(ngx_http_confhaven_mcp_http_t *st)
{
    json_t                         *meta, *v, *caps, *data;
    ngx_int_t                       rc;
    ngx_table_elt_t                *h;
    ngx_http_request_t             *r;
    ngx_http_confhaven_mcp_call_t  *call;

    r = st->r;

    if (json_is_array(st->body)) {
        return ngx_http_confhaven_mcp_send_error(r, NGX_HTTP_BAD_REQUEST,
                   NGX_HTTP_CONFHAVEN_MCP_INVALID_REQUEST,
                   "Invalid Request: protocol version 2026-07-28 takes one "
                   "message per request, not a batch", NULL, NULL);
    }

    st->calls = ngx_pcalloc(r->pool, sizeof(ngx_http_confhaven_mcp_call_t));
    if (st->calls == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    st->ncalls = 1;
    call = st->calls;
    call->r = r;
    call->modern = 1;
    call->version = NGX_HTTP_CONFHAVEN_MCP_V2026_07_28;
    call->done = ngx_http_confhaven_mcp_call_done;
    call->data = st;

    if (ngx_http_confhaven_mcp_validate(call, st->body) != NGX_OK) {
        return ngx_http_confhaven_mcp_send(r, NGX_HTTP_BAD_REQUEST,
                                           call->response);
    }

    if (call->method.len == 0) {
        return ngx_http_confhaven_mcp_send_error(r, NGX_HTTP_BAD_REQUEST,
                   NGX_HTTP_CONFHAVEN_MCP_INVALID_REQUEST,
                   "Invalid Request: protocol version 2026-07-28 accepts "
                   "no responses from clients", call->id, NULL);
    }

    if (call->notification) {
        /* none is defined for HTTP; cancellation is closing the stream */
        return ngx_http_confhaven_mcp_send_empty(r, NGX_HTTP_ACCEPTED);
    }

    /* 1. _meta */

    meta = call->params ? json_object_get(call->params, "_meta") : NULL;
    v = json_is_object(meta)
        ? json_object_get(meta, NGX_HTTP_CONFHAVEN_MCP_META_VERSION) : NULL;
    caps = json_is_object(meta)
           ? json_object_get(meta, NGX_HTTP_CONFHAVEN_MCP_META_CAPS) : NULL;

    if (!json_is_string(v) || !json_is_object(caps)) {
        return ngx_http_confhaven_mcp_send_error(r, NGX_HTTP_BAD_REQUEST,
                   NGX_HTTP_CONFHAVEN_MCP_INVALID_PARAMS,
                   "Invalid params: params._meta must carry "
                   "\"" NGX_HTTP_CONFHAVEN_MCP_META_VERSION "\" (a string) "
                   "and \"" NGX_HTTP_CONFHAVEN_MCP_META_CAPS "\" "
                   "(an object)", call->id, NULL);
    }

    /* 2. MCP-Protocol-Version equals _meta */

    h = ngx_http_confhaven_mcp_header(r, "MCP-Protocol-Version",
                                      sizeof("MCP-Protocol-Version") - 1);

    if (h == NULL
        || h->value.len != json_string_length(v)
        || ngx_strncmp(h->value.data, json_string_value(v), h->value.len)
           != 0)
    {
        return ngx_http_confhaven_mcp_send_error(r, NGX_HTTP_BAD_REQUEST,
                   NGX_HTTP_CONFHAVEN_MCP_HEADER_MISMATCH,
                   "Header mismatch: MCP-Protocol-Version must equal "
                   "params._meta[\"" NGX_HTTP_CONFHAVEN_MCP_META_VERSION
                   "\"]", call->id, NULL);
    }

    /* 3. a version we serve statelessly */

    if (ngx_http_confhaven_mcp_version(h->value.data, h->value.len)
        != NGX_HTTP_CONFHAVEN_MCP_V2026_07_28)
    {
        data = json_pack("{s:o, s:O}",
                         "supported",
                         ngx_http_confhaven_mcp_supported_versions(),
                         "requested", v);

        return ngx_http_confhaven_mcp_send_error(r, NGX_HTTP_BAD_REQUEST,
                   NGX_HTTP_CONFHAVEN_MCP_UNSUPPORTED_VERSION,
                   "Unsupported protocol version: this server speaks "
                   "2026-07-28 without sessions; older versions open "
                   "with initialize", call->id, data);
    }

    /* 4. Mcp-Method, Mcp-Name, Mcp-Param-* */

    rc = ngx_http_confhaven_mcp_check_headers(call);
    if (rc != NGX_OK) {
        return rc == NGX_ABORT ? st->rc : rc;
    }

    /* 5. dispatch: removed and unknown methods are 404 + -32601 there */

    return ngx_http_confhaven_mcp_start(st);
}


static ngx_int_t
ngx_http_confhaven_mcp_check_headers(ngx_http_confhaven_mcp_call_t *call)
{
    json_t              *name, *method;
    const char          *why;
    ngx_table_elt_t     *h;
    ngx_http_request_t  *r;

    r = call->r;
    method = json_object_get(call->msg, "method");

    h = ngx_http_confhaven_mcp_header(r, "Mcp-Method",
                                      sizeof("Mcp-Method") - 1);

    if (h == NULL) {
        why = "Header mismatch: the Mcp-Method header is required";
        goto mismatch;
    }

    if (ngx_http_confhaven_mcp_header_equals(r, h, method) != NGX_OK) {
        why = "Header mismatch: Mcp-Method must equal the body's method";
        goto mismatch;
    }

    name = NULL;

    if ((call->method.len == sizeof("tools/call") - 1
         && ngx_strncmp(call->method.data, "tools/call", call->method.len)
            == 0)
        || (call->method.len == sizeof("prompts/get") - 1
            && ngx_strncmp(call->method.data, "prompts/get",
                           call->method.len) == 0))
    {
        name = call->params ? json_object_get(call->params, "name") : NULL;

    } else if (call->method.len == sizeof("resources/read") - 1
               && ngx_strncmp(call->method.data, "resources/read",
                              call->method.len) == 0)
    {
        name = call->params ? json_object_get(call->params, "uri") : NULL;
    }

    if (json_is_string(name)) {
        h = ngx_http_confhaven_mcp_header(r, "Mcp-Name",
                                          sizeof("Mcp-Name") - 1);

        if (h == NULL) {
            why = "Header mismatch: the Mcp-Name header is required";
            goto mismatch;
        }

        if (ngx_http_confhaven_mcp_header_equals(r, h, name) != NGX_OK) {
            why = "Header mismatch: Mcp-Name must equal the body's "
                  "name or uri";
            goto mismatch;
        }
    }

    if (name && call->method.data[0] == 't') {
        return ngx_http_confhaven_mcp_check_params(call);
    }

    return NGX_OK;

mismatch:

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "confhaven mcp: %s", why);

    return ngx_http_confhaven_mcp_reject(call->data,
               ngx_http_confhaven_mcp_send_error(r, NGX_HTTP_BAD_REQUEST,
                                        NGX_HTTP_CONFHAVEN_MCP_HEADER_MISMATCH,
                                        why, call->id, NULL));
}


/* tools/call: every x-mcp-header argument must travel as Mcp-Param-{X} */

static ngx_int_t
ngx_http_confhaven_mcp_check_params(ngx_http_confhaven_mcp_call_t *call)
{
    u_char                      buf[128], *p;
    json_t                     *schema, *props, *prop, *x, *args, *arg;
    ngx_str_t                   name;
    const char                 *key, *why;
    ngx_table_elt_t            *h;
    ngx_http_request_t         *r;
    ngx_http_confhaven_tool_t  *tool;

    r = call->r;

    name.data = (u_char *) json_string_value(json_object_get(call->params,
                                                             "name"));
    name.len = ngx_strlen(name.data);

    tool = ngx_http_confhaven_tools_find(&name);
    if (tool == NULL) {
        /* dispatch answers -32602 */
        return NGX_OK;
    }

    schema = ngx_http_confhaven_tools_input_schema(tool);
    if (schema == NULL
        || ngx_http_confhaven_mcp_own(r->pool, schema) != NGX_OK)
    {
        json_decref(schema);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    args = json_object_get(call->params, "arguments");
    props = json_object_get(schema, "properties");

    json_object_foreach(props, key, prop) {

        x = json_object_get(prop, "x-mcp-header");
        if (!json_is_string(x) || json_string_length(x) > 64) {
            continue;
        }

        p = ngx_cpymem(buf, "Mcp-Param-", sizeof("Mcp-Param-") - 1);
        p = ngx_cpymem(p, json_string_value(x), json_string_length(x));

        h = ngx_http_confhaven_mcp_header(r, (char *) buf, p - buf);

        arg = json_is_object(args) ? json_object_get(args, key) : NULL;

        if (arg == NULL || json_is_null(arg)) {
            if (h) {
                why = "Header mismatch: an Mcp-Param header names an "
                      "argument the body does not have";
                goto mismatch;
            }

            continue;
        }

        if (h == NULL) {
            why = "Header mismatch: an argument annotated with "
                  "x-mcp-header needs its Mcp-Param header";
            goto mismatch;
        }

        if (ngx_http_confhaven_mcp_header_equals(r, h, arg) != NGX_OK) {
            why = "Header mismatch: an Mcp-Param header differs from its "
                  "argument or is not validly encoded";
            goto mismatch;
        }
    }

    return NGX_OK;

mismatch:

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "confhaven mcp: %s", why);

    return ngx_http_confhaven_mcp_reject(call->data,
               ngx_http_confhaven_mcp_send_error(r, NGX_HTTP_BAD_REQUEST,
                                        NGX_HTTP_CONFHAVEN_MCP_HEADER_MISMATCH,
                                        why, call->id, NULL));
}


static ngx_int_t
ngx_http_confhaven_mcp_header_equals(ngx_http_request_t *r,
    ngx_table_elt_t *h, json_t *value)
{
    u_char     *p, *last;
    int64_t     n;
    ngx_str_t   v;
    ngx_uint_t  neg;

    if (ngx_http_confhaven_mcp_decode_header(r, &h->value, &v) != NGX_OK) {
        return NGX_DECLINED;
    }

    if (json_is_string(value)) {
        return (v.len == json_string_length(value)
                && ngx_memcmp(v.data, json_string_value(value), v.len) == 0)
               ? NGX_OK : NGX_DECLINED;
    }

    if (json_is_boolean(value)) {
        if (json_is_true(value)) {
            return (v.len == 4 && ngx_strncmp(v.data, "true", 4) == 0)
                   ? NGX_OK : NGX_DECLINED;
        }

        return (v.len == 5 && ngx_strncmp(v.data, "false", 5) == 0)
               ? NGX_OK : NGX_DECLINED;
    }

    if (!json_is_integer(value) || v.len == 0 || v.len > 19) {
        return NGX_DECLINED;
    }

    /* integers compare numerically: "007" is 7 */
    p = v.data;
    last = v.data + v.len;
    neg = 0;

    if (*p == '-') {
        neg = 1;
        p++;
    }

    if (p == last) {
        return NGX_DECLINED;
    }

    for (n = 0; p < last; p++) {
        if (*p < '0' || *p > '9') {
            return NGX_DECLINED;
        }

        n = n * 10 + (*p - '0');
    }

    return (neg ? -n : n) == (int64_t) json_integer_value(value)
           ? NGX_OK : NGX_DECLINED;
}


/*
 * "=?base64?...?=" is decoded (strictly: padding required, standard
 * alphabet only); anything else is taken literally and must be visible
 * ASCII or spaces.
 */

static ngx_int_t
ngx_http_confhaven_mcp_decode_header(ngx_http_request_t *r, ngx_str_t *value,
    ngx_str_t *out)
{
    u_char     c;
    size_t     i, pad;
    ngx_str_t  src;

    for (i = 0; i < value->len; i++) {
        c = value->data[i];

        if (c < 0x20 || c > 0x7e) {
            return NGX_DECLINED;
        }
    }

    if (value->len < sizeof("=?base64?" "?=") - 1
        || ngx_strncmp(value->data, "=?base64?", sizeof("=?base64?") - 1)
           != 0
        || ngx_strncmp(value->data + value->len - 2, "?=", 2) != 0)
    {
        *out = *value;
        return NGX_OK;
    }

    src.data = value->data + sizeof("=?base64?") - 1;
    src.len = value->len - (sizeof("=?base64?") - 1) - 2;

    if (src.len % 4) {
        return NGX_DECLINED;
    }

    pad = 0;

    for (i = 0; i < src.len; i++) {
        c = src.data[i];

        if (c == '=') {
            pad++;
            continue;
        }

        if (pad
            || !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
                 || (c >= '0' && c <= '9') || c == '+' || c == '/'))
        {
            return NGX_DECLINED;
        }
    }

    if (pad > 2) {
        return NGX_DECLINED;
    }

    out->data = ngx_pnalloc(r->pool, ngx_base64_decoded_length(src.len));
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    if (ngx_decode_base64(out, &src) != NGX_OK) {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* ------------------------------------------------------ 2025-x sessions */


static ngx_int_t
ngx_http_confhaven_mcp_legacy(ngx_http_confhaven_mcp_http_t *st)
{
    json_t                         *msg;
    ngx_int_t                       rc;
    ngx_uint_t                      i, version;
    ngx_http_request_t             *r;
    ngx_http_confhaven_mcp_call_t  *call;

    r = st->r;
    version = 0;

    if (ngx_http_confhaven_mcp_accepts(r) != NGX_OK) {
        return ngx_http_confhaven_mcp_send_error(r,
                   NGX_HTTP_CONFHAVEN_NOT_ACCEPTABLE,
                   NGX_HTTP_CONFHAVEN_MCP_INVALID_REQUEST,
                   "Not Acceptable: Accept must list application/json and "
                   "text/event-stream", NULL, NULL);
    }

    if (json_is_array(st->body)) {
        st->batch = 1;
        st->ncalls = json_array_size(st->body);

        if (st->ncalls == 0 || st->ncalls > NGX_HTTP_CONFHAVEN_MCP_MAX_BATCH)
        {
            return ngx_http_confhaven_mcp_send_error(r, NGX_HTTP_BAD_REQUEST,
                       NGX_HTTP_CONFHAVEN_MCP_INVALID_REQUEST,
                       "Invalid Request: a batch holds 1 to 64 messages",
                       NULL, NULL);
        }

    } else {
        st->ncalls = 1;
    }

    st->calls = ngx_pcalloc(r->pool,
                            st->ncalls * sizeof(ngx_http_confhaven_mcp_call_t));
    if (st->calls == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (i = 0; i < st->ncalls; i++) {
        call = &st->calls[i];
        call->r = r;
        call->done = ngx_http_confhaven_mcp_call_done;
        call->data = st;
    }

    if (!st->batch) {
        call = st->calls;

        if (ngx_http_confhaven_mcp_validate(call, st->body) != NGX_OK) {
            return ngx_http_confhaven_mcp_send(r, call->status,
                                               call->response);
        }

        if (!call->notification
            && call->method.len == sizeof("initialize") - 1
            && ngx_strncmp(call->method.data, "initialize",
                           call->method.len) == 0)
        {
            /* a new session, whatever Mcp-Session-Id says */
            st->initialize = 1;
            st->session.len = 0;
            return ngx_http_confhaven_mcp_start(st);
        }
    }

    rc = ngx_http_confhaven_mcp_session(st, &version);
    if (rc != NGX_OK) {
        return rc == NGX_ABORT ? st->rc : rc;
    }

    if (st->batch && version != NGX_HTTP_CONFHAVEN_MCP_V2025_03_26) {
        return ngx_http_confhaven_mcp_send_error(r, NGX_HTTP_BAD_REQUEST,
                   NGX_HTTP_CONFHAVEN_MCP_INVALID_REQUEST,
                   "Invalid Request: batches are only accepted in protocol "
                   "version 2025-03-26", NULL, NULL);
    }

    for (i = 0; i < st->ncalls; i++) {
        call = &st->calls[i];
        call->version = version;
        call->session = st->session;

        if (!st->batch) {
            continue;
        }

        msg = json_array_get(st->body, i);

        if (ngx_http_confhaven_mcp_validate(call, msg) != NGX_OK) {
            /* answered in place: its error joins the batch reply */
            continue;
        }

        if (call->method.len == sizeof("initialize") - 1
            && ngx_strncmp(call->method.data, "initialize",
                           call->method.len) == 0)
        {
            call->completed = 0;
            call->done = NULL;
            call->response = ngx_http_confhaven_mcp_error_message(call->id,
                                 NGX_HTTP_CONFHAVEN_MCP_INVALID_REQUEST,
                                 "Invalid Request: initialize cannot be "
                                 "part of a batch", NULL);

            if (call->response == NULL
                || ngx_http_confhaven_mcp_own(r->pool, call->response)
                   != NGX_OK)
            {
                json_decref(call->response);
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            call->completed = 1;
        }
    }

    return ngx_http_confhaven_mcp_start(st);
}


/* Mcp-Session-Id and MCP-Protocol-Version of a request inside a session */

static ngx_int_t
ngx_http_confhaven_mcp_session(ngx_http_confhaven_mcp_http_t *st,
    ngx_uint_t *version)
{
    ngx_int_t                        rc;
    ngx_table_elt_t                 *h;
    ngx_http_request_t              *r;
    ngx_http_confhaven_ctx_t        *ctx;
    ngx_http_confhaven_main_conf_t  *chmcf;

    r = st->r;
    chmcf = ngx_http_get_module_main_conf(r, ngx_http_confhaven_module);

    if (st->session.len == 0) {
        rc = ngx_http_confhaven_mcp_send_error(r, NGX_HTTP_BAD_REQUEST,
                 NGX_HTTP_CONFHAVEN_MCP_BAD_REQUEST,
                 "Bad Request: Mcp-Session-Id header is required "
                 "(initialize first)", NULL, NULL);
        return ngx_http_confhaven_mcp_reject(st, rc);
    }

    *version = ngx_http_confhaven_mcp_session_find(&chmcf->mcp_zone,
                                                   &st->session);
    if (*version == 0) {
        rc = ngx_http_confhaven_mcp_send_error(r, NGX_HTTP_NOT_FOUND,
                 NGX_HTTP_CONFHAVEN_MCP_SESSION_NOT_FOUND,
                 "Session not found", NULL, NULL);
        return ngx_http_confhaven_mcp_reject(st, rc);
    }

    ctx = ngx_http_confhaven_get_ctx(r);
    ctx->mcp_session = st->session;

    h = ngx_http_confhaven_mcp_header(r, "MCP-Protocol-Version",
                                      sizeof("MCP-Protocol-Version") - 1);

    if (h && ngx_http_confhaven_mcp_version(h->value.data, h->value.len)
             == 0)
    {
        rc = ngx_http_confhaven_mcp_send_error(r, NGX_HTTP_BAD_REQUEST,
                 NGX_HTTP_CONFHAVEN_MCP_BAD_REQUEST,
                 "Bad Request: Unsupported protocol version (supported: "
                 "2025-11-25, 2025-06-18, 2025-03-26, 2024-11-05)",
                 NULL, NULL);
        return ngx_http_confhaven_mcp_reject(st, rc);
    }

    return NGX_OK;
}


/* an answer sent before dispatch: NGX_ABORT tells the caller, st->rc keeps
 * what finalize should get */

static ngx_int_t
ngx_http_confhaven_mcp_reject(ngx_http_confhaven_mcp_http_t *st,
    ngx_int_t rc)
{
    st->rc = rc;

    return NGX_ABORT;
}


/* runs the calls; the last to finish answers */

static ngx_int_t
ngx_http_confhaven_mcp_start(ngx_http_confhaven_mcp_http_t *st)
{
    ngx_uint_t                      i;
    ngx_http_confhaven_mcp_call_t  *call;

    st->pending = 1;     /* ours, so nothing answers before the loop ends */

    for (i = 0; i < st->ncalls; i++) {
        if (!st->calls[i].completed) {
            st->pending++;
        }
    }

    /* the reference ngx_http_confhaven_mcp_call_done() releases */
    st->r->main->count++;
    st->dispatching = 1;

    for (i = 0; i < st->ncalls; i++) {
        call = &st->calls[i];

        if (call->completed) {
            continue;
        }

        if (call->method.len == 0) {
            /* a client response: accepted and dropped */
            call->completed = 1;
            st->pending--;
            continue;
        }

        ngx_http_confhaven_mcp_dispatch(call);
    }

    /* our own share: answers now if everything finished synchronously */
    ngx_http_confhaven_mcp_release(st);

    st->dispatching = 0;

    return NGX_DONE;
}


static void
ngx_http_confhaven_mcp_call_done(ngx_http_confhaven_mcp_call_t *call)
{
    ngx_http_confhaven_mcp_release(call->data);
}


static void
ngx_http_confhaven_mcp_release(ngx_http_confhaven_mcp_http_t *st)
{
    ngx_int_t            rc;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    if (--st->pending) {
        return;
    }

    r = st->r;
    c = r->connection;

    rc = ngx_http_confhaven_mcp_respond(st);

    ngx_http_finalize_request(r, rc);

    if (!st->dispatching) {
        ngx_http_run_posted_requests(c);
    }
}


static ngx_int_t
ngx_http_confhaven_mcp_respond(ngx_http_confhaven_mcp_http_t *st)
{
    json_t                         *list;
    ngx_uint_t                      i;
    ngx_http_request_t             *r;
    ngx_http_confhaven_mcp_call_t  *call;

    r = st->r;

    if (st->session.len) {
        if (ngx_http_confhaven_mcp_add_header(r, "Mcp-Session-Id",
                                              &st->session)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (!st->batch) {
        call = st->calls;

        if (call->status == NGX_HTTP_INTERNAL_SERVER_ERROR) {
            return ngx_http_confhaven_mcp_send_error(r,
                       NGX_HTTP_INTERNAL_SERVER_ERROR,
                       NGX_HTTP_CONFHAVEN_MCP_INTERNAL_ERROR,
                       "Internal error", call->id, NULL);
        }

        if (st->initialize && call->response
            && json_object_get(call->response, "result"))
        {
            if (ngx_http_confhaven_mcp_new_session(st, call) != NGX_OK) {
                return ngx_http_confhaven_mcp_send_error(r,
                           NGX_HTTP_SERVICE_UNAVAILABLE,
                           NGX_HTTP_CONFHAVEN_MCP_INTERNAL_ERROR,
                           "Internal error: no session could be created",
                           call->id, NULL);
            }
        }

        return ngx_http_confhaven_mcp_send(r, call->status, call->response);
    }

    list = json_array();
    if (list == NULL || ngx_http_confhaven_mcp_own(r->pool, list) != NGX_OK)
    {
        json_decref(list);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (i = 0; i < st->ncalls; i++) {
        call = &st->calls[i];

        if (call->status == NGX_HTTP_INTERNAL_SERVER_ERROR) {
            call->response = ngx_http_confhaven_mcp_error_message(call->id,
                                 NGX_HTTP_CONFHAVEN_MCP_INTERNAL_ERROR,
                                 "Internal error", NULL);
            if (call->response) {
                json_array_append_new(list, call->response);
            }

            continue;
        }

        if (call->response) {
            json_array_append(list, call->response);
        }
    }

    if (json_array_size(list) == 0) {
        return ngx_http_confhaven_mcp_send_empty(r, NGX_HTTP_ACCEPTED);
    }

    return ngx_http_confhaven_mcp_send(r, NGX_HTTP_OK, list);
}


static ngx_int_t
ngx_http_confhaven_mcp_new_session(ngx_http_confhaven_mcp_http_t *st,
    ngx_http_confhaven_mcp_call_t *call)
{
    ngx_http_request_t              *r;
    ngx_http_confhaven_ctx_t        *ctx;
    ngx_http_confhaven_main_conf_t  *chmcf;

    r = st->r;
    chmcf = ngx_http_get_module_main_conf(r, ngx_http_confhaven_module);

    st->session.data = ngx_pnalloc(r->pool,
                                   NGX_HTTP_CONFHAVEN_MCP_SESSION_ID_LEN);
    if (st->session.data == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_confhaven_mcp_session_create(&chmcf->mcp_zone,
                                              call->version,
                                              st->session.data,
                                              r->connection->log)
        != NGX_OK)
    {
        st->session.len = 0;
        return NGX_ERROR;
    }

    st->session.len = NGX_HTTP_CONFHAVEN_MCP_SESSION_ID_LEN;

    ctx = ngx_http_confhaven_get_ctx(r);
    ctx->mcp_session = st->session;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "confhaven mcp: session %V, version %V", &st->session,
                   ngx_http_confhaven_mcp_version_name(call->version));

    return ngx_http_confhaven_mcp_add_header(r, "Mcp-Session-Id",
                                            &st->session);
}


/* --------------------------------------------------------------- output */


static ngx_int_t
ngx_http_confhaven_mcp_send(ngx_http_request_t *r, ngx_uint_t status,
    json_t *msg)
{
    ngx_str_t  body;

    if (msg == NULL) {
        return ngx_http_confhaven_mcp_send_empty(r, NGX_HTTP_ACCEPTED);
    }

    /* json_dump() releases a reference; the pool keeps its own */
    if (ngx_http_confhaven_json_dump(r, json_incref(msg), &body) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_confhaven_send_json(r, status, &body);
}


/* takes data */

static ngx_int_t
ngx_http_confhaven_mcp_send_error(ngx_http_request_t *r, ngx_uint_t status,
    ngx_int_t code, const char *message, json_t *id, json_t *data)
{
    json_t                    *msg;
    ngx_http_confhaven_ctx_t  *ctx;

    ctx = ngx_http_confhaven_get_ctx(r);
    if (ctx && ctx->error.len == 0) {
        ngx_str_set(&ctx->error, "jsonrpc_error");
    }

    msg = ngx_http_confhaven_mcp_error_message(id, code, message, data);

    if (msg == NULL || ngx_http_confhaven_mcp_own(r->pool, msg) != NGX_OK) {
        json_decref(msg);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_confhaven_mcp_send(r, status, msg);
}


static ngx_int_t
ngx_http_confhaven_mcp_send_empty(ngx_http_request_t *r, ngx_uint_t status)
{
    ngx_int_t  rc;

    r->headers_out.status = status;
    r->headers_out.content_length_n = 0;
    r->header_only = 1;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK) {
        return rc;
    }

    return ngx_http_send_special(r, NGX_HTTP_LAST);
}


static ngx_int_t
ngx_http_confhaven_mcp_add_header(ngx_http_request_t *r, const char *name,
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


/* the client must take both JSON and SSE answers (2025-x) */

static ngx_int_t
ngx_http_confhaven_mcp_accepts(ngx_http_request_t *r)
{
    u_char           *p, *last;
    ngx_table_elt_t  *h;

    h = ngx_http_confhaven_mcp_header(r, "Accept", sizeof("Accept") - 1);
    if (h == NULL) {
        return NGX_DECLINED;
    }

    p = h->value.data;
    last = p + h->value.len;

    if (ngx_strlcasestrn(p, last, (u_char *) "*/*", 3 - 1)) {
        return NGX_OK;
    }

    if (ngx_strlcasestrn(p, last, (u_char *) "application/json",
                         sizeof("application/json") - 2)
        && ngx_strlcasestrn(p, last, (u_char *) "text/event-stream",
                            sizeof("text/event-stream") - 2))
    {
        return NGX_OK;
    }

    return NGX_DECLINED;
}


static ngx_int_t
ngx_http_confhaven_mcp_not_allowed(ngx_http_request_t *r, const char *allow)
{
    ngx_int_t  rc;
    ngx_str_t  v;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    v.data = (u_char *) allow;
    v.len = ngx_strlen(allow);

    if (ngx_http_confhaven_mcp_add_header(r, "Allow", &v) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_confhaven_mcp_send_error(r, NGX_HTTP_NOT_ALLOWED,
               NGX_HTTP_CONFHAVEN_MCP_INVALID_REQUEST,
               "Method Not Allowed", NULL, NULL);
}


/* ------------------------------------------------------------ directives */


char *
ngx_http_confhaven_mcp_set(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char                            *rv;
    ngx_http_core_loc_conf_t        *clcf;
    ngx_http_confhaven_loc_conf_t   *chlcf = conf;
    ngx_http_confhaven_main_conf_t  *chmcf;

    rv = ngx_conf_set_flag_slot(cf, cmd, conf);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    if (!chlcf->mcp) {
        return NGX_CONF_OK;
    }

    if (chlcf->rest == 1 || chlcf->json_errors == 1) {
        return "cannot be used with \"confhaven_rest\" or "
               "\"confhaven_json_errors\" in the same location";
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_confhaven_mcp_handler;

    chmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_confhaven_module);
    chmcf->mcp_used = 1;

    return NGX_CONF_OK;
}


/* confhaven_mcp_allowed_hosts / _origins: a list of names, lowercased */

char *
ngx_http_confhaven_mcp_set_list(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    char  *p = conf;

    u_char        *c;
    ngx_str_t     *value, *s;
    ngx_uint_t     i, origins;
    ngx_array_t  **a;

    a = (ngx_array_t **) (p + cmd->offset);

    if (*a != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    origins = ngx_strstr(cmd->name.data, "origins") != NULL;
    value = cf->args->elts;

    *a = ngx_array_create(cf->pool, cf->args->nelts - 1, sizeof(ngx_str_t));
    if (*a == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 1; i < cf->args->nelts; i++) {

        for (c = value[i].data; c < value[i].data + value[i].len; c++) {
            if (*c <= 0x20 || *c >= 0x7f || *c == '/') {
                if (origins && *c == '/') {
                    continue;
                }

                goto invalid;
            }
        }

        if (value[i].len == 0) {
            goto invalid;
        }

        if (origins
            && !(value[i].len == 1 && value[i].data[0] == '*')
            && !((value[i].len > 7
                  && ngx_strncasecmp(value[i].data, (u_char *) "http://", 7)
                     == 0
                  && ngx_strlchr(value[i].data + 7,
                                 value[i].data + value[i].len, '/')
                     == NULL)
                 || (value[i].len > 8
                     && ngx_strncasecmp(value[i].data,
                                        (u_char *) "https://", 8) == 0
                     && ngx_strlchr(value[i].data + 8,
                                    value[i].data + value[i].len, '/')
                        == NULL)))
        {
            goto invalid;
        }

        s = ngx_array_push(*a);
        if (s == NULL) {
            return NGX_CONF_ERROR;
        }

        *s = value[i];
        ngx_strlow(s->data, s->data, s->len);
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid value \"%V\" in \"%V\" directive: "
                       "expected %s", &value[i], &cmd->name,
                       origins ? "\"*\" or an origin such as "
                                 "\"https://app.example.com\""
                               : "\"*\", a host name such as "
                                 "\"mcp.example.com\" or \"*.example.com\"");
    return NGX_CONF_ERROR;
}
