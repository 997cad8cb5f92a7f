
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
 *
 * A request is answered as application/json or text/event-stream, as the
 * client's Accept prefers (its q-values, then its order: "text/event-stream,
 * application/json" gets a stream, "application/json, text/event-stream"
 * and "*" + "/" + "*" get JSON).  Inside a session every event carries an id
 * and is kept in the session's log; 2025-11-25 streams open with a priming
 * event (id, retry, empty data).  GET with Mcp-Session-Id opens the
 * session's standalone stream, or, with Last-Event-ID, replays what
 * followed that event on its stream, from the shared log, in any worker
 * (and, with sessions in Redis, in any instance: an event id of another
 * instance is replayed from the session's events there).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_confhaven_module.h"
#include "ngx_http_confhaven_json.h"
#include "ngx_http_confhaven_send.h"
#include "ngx_http_confhaven_mcp.h"
#include "ngx_http_confhaven_mcp_cluster.h"
#include "ngx_http_confhaven_tools.h"
#include "ngx_http_confhaven_sse.h"
#include "ngx_http_confhaven_transport.h"
#include "ngx_http_confhaven_request.h"
#include "ngx_http_confhaven_client.h"


#define NGX_HTTP_CONFHAVEN_MCP_META_VERSION                                 \
    "io.modelcontextprotocol/protocolVersion"
#define NGX_HTTP_CONFHAVEN_MCP_META_CAPS                                    \
    "io.modelcontextprotocol/clientCapabilities"

#define NGX_HTTP_CONFHAVEN_NOT_ACCEPTABLE  406

#define NGX_HTTP_CONFHAVEN_MCP_ACCEPT_JSON  0x01
#define NGX_HTTP_CONFHAVEN_MCP_ACCEPT_SSE   0x02
#define NGX_HTTP_CONFHAVEN_MCP_PREFER_SSE   0x04

/* a resumed POST stream whose answer is not logged yet */
#define NGX_HTTP_CONFHAVEN_MCP_RESUME_POLL  100
#define NGX_HTTP_CONFHAVEN_MCP_RESUME_WAIT  30000


typedef struct {
    ngx_http_request_t               *r;
    json_t                           *body;
    ngx_http_confhaven_mcp_call_t    *calls;
    ngx_uint_t                        ncalls;
    ngx_uint_t                        pending;
    ngx_str_t                         session;
    ngx_int_t                         rc;        /* of an early answer */
    ngx_uint_t                        version;   /* of the session */
    ngx_http_confhaven_sse_t         *sse;
    ngx_uint_t                        stream;    /* 0: events get no ids */

    unsigned                          modern:1;
    unsigned                          batch:1;
    unsigned                          initialize:1;
    unsigned                          dispatching:1;
    unsigned                          event_stream:1;
    unsigned                          session_header:1;
    unsigned                          created:1; /* initialize's session */

    ngx_http_confhaven_mcp_cluster_sync_t  sync;  /* it is in Redis */
} ngx_http_confhaven_mcp_http_t;


/* GET: the standalone stream of a session, or a resumed one */

typedef struct {
    ngx_http_confhaven_sse_t         *sse;
    ngx_http_confhaven_mcp_zone_t    *zone;
    ngx_str_t                         session;
    ngx_uint_t                        stream;
    ngx_uint_t                        seq;       /* the last one sent */
    ngx_uint_t                        tag;       /* of the claim */
    ngx_msec_t                        deadline;
    ngx_event_t                       poll;

    unsigned                          claimed:1;
    unsigned                          quiet:1;   /* a second GET stream */
} ngx_http_confhaven_mcp_get_t;


static ngx_int_t ngx_http_confhaven_mcp_host_allowed(ngx_str_t *host,
    ngx_array_t *list);
static ngx_int_t ngx_http_confhaven_mcp_origin_allowed(ngx_str_t *origin,
    ngx_http_confhaven_loc_conf_t *chlcf);
static ngx_int_t ngx_http_confhaven_transport_http_preaccess(
    ngx_http_request_t *r);
static ngx_int_t ngx_http_confhaven_transport_http_allowed_cb(
    ngx_http_request_t *r, void *data);
static ngx_int_t ngx_http_confhaven_mcp_get(ngx_http_request_t *r);
static ngx_int_t ngx_http_confhaven_mcp_delete(ngx_http_request_t *r);
static ngx_int_t ngx_http_confhaven_mcp_post(ngx_http_request_t *r);
static void ngx_http_confhaven_mcp_post_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_confhaven_mcp_modern(
    ngx_http_confhaven_mcp_http_t *st);
static ngx_int_t ngx_http_confhaven_mcp_check_headers(
    ngx_http_confhaven_mcp_call_t *call);
static ngx_int_t ngx_http_confhaven_mcp_check_param_headers(
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
static ngx_int_t ngx_http_confhaven_mcp_created_sync(
    ngx_http_confhaven_mcp_http_t *st);
static void ngx_http_confhaven_mcp_created_synced(void *data);
static void ngx_http_confhaven_mcp_created_cleanup(void *data);
static ngx_int_t ngx_http_confhaven_mcp_send(ngx_http_request_t *r,
    ngx_uint_t status, json_t *msg);
static ngx_int_t ngx_http_confhaven_mcp_add_header(ngx_http_request_t *r,
    const char *name, ngx_str_t *value);
static ngx_uint_t ngx_http_confhaven_mcp_accept(ngx_http_request_t *r);
static ngx_int_t ngx_http_confhaven_mcp_open_stream(
    ngx_http_confhaven_mcp_http_t *st);
static ngx_int_t ngx_http_confhaven_mcp_respond_sse(
    ngx_http_confhaven_mcp_http_t *st, json_t *msg);
static ngx_int_t ngx_http_confhaven_mcp_event_id(ngx_http_request_t *r,
    ngx_uint_t stream, ngx_uint_t seq, ngx_str_t *id);
static ngx_int_t ngx_http_confhaven_mcp_get_replay(
    ngx_http_confhaven_mcp_get_t *g, ngx_uint_t *final);
static ngx_int_t ngx_http_confhaven_mcp_get_remote(ngx_http_request_t *r,
    ngx_http_confhaven_mcp_get_t *g, ngx_str_t *last, ngx_int_t stream,
    ngx_str_t *instance);
static ngx_int_t ngx_http_confhaven_mcp_get_tick(
    ngx_http_confhaven_sse_t *sse);
static void ngx_http_confhaven_mcp_get_poll(ngx_event_t *ev);
static void ngx_http_confhaven_mcp_get_cleanup(void *data);


static ngx_str_t  ngx_http_confhaven_mcp_default_hosts[] = {
    ngx_string("localhost"),
    ngx_string("127.0.0.1"),
    ngx_string("[::1]"),
};


ngx_int_t
ngx_http_confhaven_transport_http_handler(ngx_http_request_t *r)
{
    ngx_int_t                  rc;
    ngx_http_confhaven_ctx_t  *ctx;

    ctx = ngx_http_confhaven_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_str_set(&ctx->route, "mcp");

    rc = ngx_http_confhaven_transport_http_once(r);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    if (ngx_http_confhaven_transport_http_allowed(r) != NGX_OK) {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_confhaven_transport_http_error(r, NGX_HTTP_FORBIDDEN,
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
        return ngx_http_confhaven_transport_http_not_allowed(r,
                                                      "GET, POST, DELETE");
    }
}


/* ------------------------------------------------------- Host and Origin */


/* what the MCP layer learns of the request: its confs, the log's fields */

void
ngx_http_confhaven_transport_http_call_init(ngx_http_request_t *r,
    ngx_http_confhaven_mcp_call_t *call)
{
    ngx_http_confhaven_ctx_t        *ctx;
    ngx_http_confhaven_loc_conf_t   *chlcf;
    ngx_http_confhaven_main_conf_t  *chmcf;

    chlcf = ngx_http_get_module_loc_conf(r, ngx_http_confhaven_module);
    chmcf = ngx_http_get_module_main_conf(r, ngx_http_confhaven_module);
    ctx = ngx_http_confhaven_get_ctx(r);

    call->r = r;
    call->conf = &chlcf->mcp;
    call->mcf = &chmcf->mcp;
    call->vars = ctx ? &ctx->mcp_vars : NULL;

    /* what the location lends the operations of this call */
    if (ctx) {
        ctx->env.cache = chmcf->pool ? chmcf->cache : NULL;
        ctx->env.conf = &chlcf->cache;
        call->ops = &ctx->env;
    }
}


/*
 * With a cluster (confhaven_redis_server), a request on an MCP location
 * that names a session waits in the preaccess phase until Redis has told
 * what it knows of the session (ngx_http_confhaven_mcp_cluster.c).
 */

ngx_int_t
ngx_http_confhaven_transport_http_postconfiguration(ngx_conf_t *cf)
{
    ngx_http_handler_pt             *h;
    ngx_http_core_main_conf_t       *cmcf;
    ngx_http_confhaven_main_conf_t  *chmcf;

    chmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_confhaven_module);

    if (chmcf->mcp.instance.len == 0) {
        return NGX_OK;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_PREACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_confhaven_transport_http_preaccess;

    return NGX_OK;
}


/* both transports: confhaven_mcp and the legacy confhaven_mcp_sse */

static ngx_int_t
ngx_http_confhaven_transport_http_preaccess(ngx_http_request_t *r)
{
    ngx_http_confhaven_ctx_t        *ctx;
    ngx_http_confhaven_loc_conf_t   *chlcf;
    ngx_http_confhaven_main_conf_t  *chmcf;

    if (r != r->main) {
        return NGX_DECLINED;
    }

    chlcf = ngx_http_get_module_loc_conf(r, ngx_http_confhaven_module);

    if (chlcf->mcp.enabled != 1 && chlcf->mcp.sse != 1) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_confhaven_module);

    if (ctx && ctx->mcp_cluster) {
        return ctx->mcp_cluster->waiting ? NGX_AGAIN : NGX_DECLINED;
    }

    chmcf = ngx_http_get_module_main_conf(r, ngx_http_confhaven_module);

    if (!ngx_http_confhaven_mcp_cluster_ready(&chmcf->mcp)) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_confhaven_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_confhaven_mcp_cluster_lookup(r, &chmcf->mcp,
                               chlcf->mcp.sse == 1,
                               ngx_http_confhaven_transport_http_allowed_cb,
                               NULL, ctx->env.trace, &ctx->mcp_cluster);
}


static ngx_int_t
ngx_http_confhaven_transport_http_allowed_cb(ngx_http_request_t *r,
    void *data)
{
    return ngx_http_confhaven_transport_http_allowed(r);
}


/*
 * The headers the MCP wires read once (the first of their name): a second
 * copy is refused, as a gateway in front may judge the request by the
 * other one (the 2026 wire's Mcp-Method, Mcp-Name and Mcp-Param-* exist
 * for gateways).  NGX_DECLINED: none is repeated; else the answer's rc.
 */

#define NGX_HTTP_CONFHAVEN_MCP_ONCE_MAX  64

static ngx_str_t  ngx_http_confhaven_mcp_once[] = {
    ngx_string("Origin"),
    ngx_string("Mcp-Session-Id"),
    ngx_string("MCP-Protocol-Version"),
    ngx_string("Mcp-Method"),
    ngx_string("Mcp-Name"),
    ngx_string("Last-Event-ID"),
    ngx_null_string
};


ngx_int_t
ngx_http_confhaven_transport_http_once(ngx_http_request_t *r)
{
    u_char            msg[NGX_HTTP_CONFHAVEN_MCP_LOG_LEN + 64], *p, *last;
    ngx_int_t         rc;
    ngx_uint_t        i, j, n;
    ngx_str_t        *once;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h, *seen[NGX_HTTP_CONFHAVEN_MCP_ONCE_MAX];

    n = 0;
    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NGX_DECLINED;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len <= sizeof("Mcp-Param-") - 1
            || ngx_strncasecmp(h[i].key.data, (u_char *) "Mcp-Param-",
                               sizeof("Mcp-Param-") - 1)
               != 0)
        {
            for (once = ngx_http_confhaven_mcp_once; once->len; once++) {
                if (h[i].key.len == once->len
                    && ngx_strncasecmp(h[i].key.data, once->data, once->len)
                       == 0)
                {
                    break;
                }
            }

            if (once->len == 0) {
                continue;
            }
        }

        for (j = 0; j < n; j++) {
            if (seen[j]->key.len == h[i].key.len
                && ngx_strncasecmp(seen[j]->key.data, h[i].key.data,
                                   h[i].key.len)
                   == 0)
            {
                break;
            }
        }

        if (j < n || n == NGX_HTTP_CONFHAVEN_MCP_ONCE_MAX) {
            break;
        }

        seen[n++] = &h[i];
    }

    last = msg + sizeof(msg) - 1;

    if (n == NGX_HTTP_CONFHAVEN_MCP_ONCE_MAX) {
        p = ngx_slprintf(msg, last, "Bad Request: more than %d Mcp-* "
                         "headers", NGX_HTTP_CONFHAVEN_MCP_ONCE_MAX);

    } else {
        p = ngx_slprintf(msg, last, "Bad Request: the ");
        p = ngx_http_confhaven_json_log_escape(p,
                                              NGX_HTTP_CONFHAVEN_MCP_LOG_LEN,
                                              h[i].key.data, h[i].key.len);
        p = ngx_slprintf(p, last, " header is sent more than once");
    }

    *p = '\0';

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "confhaven mcp: %s", msg);

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_http_confhaven_transport_http_error(r, NGX_HTTP_BAD_REQUEST,
               NGX_HTTP_CONFHAVEN_MCP_INVALID_REQUEST, (char *) msg,
               NULL, NULL);
}


ngx_int_t
ngx_http_confhaven_transport_http_allowed(ngx_http_request_t *r)
{
    u_char                          buf[NGX_HTTP_CONFHAVEN_MCP_LOG_LEN], *p;
    ngx_table_elt_t                *h;
    ngx_http_confhaven_loc_conf_t  *chlcf;

    chlcf = ngx_http_get_module_loc_conf(r, ngx_http_confhaven_module);

    if (ngx_http_confhaven_mcp_host_allowed(&r->headers_in.server,
                                            chlcf->mcp.allowed_hosts)
        != NGX_OK)
    {
        p = ngx_http_confhaven_json_log_escape(buf, sizeof(buf),
                                              r->headers_in.server.data,
                                              r->headers_in.server.len);

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "confhaven mcp: host \"%*s\" is not allowed",
                      p - buf, buf);
        return NGX_DECLINED;
    }

    h = ngx_http_confhaven_header_in(r, "Origin", sizeof("Origin") - 1);

    if (h && ngx_http_confhaven_mcp_origin_allowed(&h->value, chlcf)
             != NGX_OK)
    {
        p = ngx_http_confhaven_json_log_escape(buf, sizeof(buf),
                                              h->value.data, h->value.len);

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "confhaven mcp: origin \"%*s\" is not allowed",
                      p - buf, buf);
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

    if (chlcf->mcp.allowed_origins) {
        e = chlcf->mcp.allowed_origins->elts;

        for (i = 0; i < chlcf->mcp.allowed_origins->nelts; i++) {

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

    return ngx_http_confhaven_mcp_host_allowed(&h, chlcf->mcp.allowed_hosts);
}


/* ------------------------------------------------------------- GET, DELETE */


static ngx_int_t
ngx_http_confhaven_mcp_get(ngx_http_request_t *r)
{
    ngx_int_t                        rc, stream, seq;
    ngx_str_t                        instance;
    ngx_uint_t                       version, final;
    ngx_table_elt_t                 *h, *lei;
    ngx_pool_cleanup_t              *cln;
    ngx_http_confhaven_ctx_t        *ctx;
    ngx_http_confhaven_mcp_get_t    *g;
    ngx_http_confhaven_loc_conf_t   *chlcf;
    ngx_http_confhaven_main_conf_t  *chmcf;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    chmcf = ngx_http_get_module_main_conf(r, ngx_http_confhaven_module);
    chlcf = ngx_http_get_module_loc_conf(r, ngx_http_confhaven_module);

    h = ngx_http_confhaven_header_in(r, "Mcp-Session-Id",
                                      sizeof("Mcp-Session-Id") - 1);

    if (h == NULL) {
        /* 2026-07-28 has no GET; a 2025 client needs its session */
        return ngx_http_confhaven_transport_http_not_allowed(r, "POST, DELETE");
    }

    version = ngx_http_confhaven_mcp_session_find(&chmcf->mcp.zone,
                                                  &h->value, 0);
    if (version == 0) {
        return ngx_http_confhaven_transport_http_error(r, NGX_HTTP_NOT_FOUND,
                   NGX_HTTP_CONFHAVEN_MCP_SESSION_NOT_FOUND,
                   "Session not found", NULL, NULL);
    }

    ctx = ngx_http_confhaven_get_ctx(r);
    ctx->mcp_vars.session = h->value;

    if (!(ngx_http_confhaven_mcp_accept(r)
          & NGX_HTTP_CONFHAVEN_MCP_ACCEPT_SSE))
    {
        return ngx_http_confhaven_transport_http_error(r,
                   NGX_HTTP_CONFHAVEN_NOT_ACCEPTABLE,
                   NGX_HTTP_CONFHAVEN_MCP_INVALID_REQUEST,
                   "Not Acceptable: Accept must list text/event-stream",
                   NULL, NULL);
    }

    g = ngx_pcalloc(r->pool, sizeof(ngx_http_confhaven_mcp_get_t));
    cln = ngx_pool_cleanup_add(r->pool, 0);

    if (g == NULL || cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    g->zone = &chmcf->mcp.zone;
    g->session = h->value;
    g->tag = ngx_http_confhaven_mcp_session_request_tag();
    g->poll.handler = ngx_http_confhaven_mcp_get_poll;
    g->poll.data = g;
    g->poll.log = r->connection->log;
    g->poll.cancelable = 1;

    cln->handler = ngx_http_confhaven_mcp_get_cleanup;
    cln->data = g;

    /* Last-Event-ID: "<stream>-<seq>", as our events are numbered */

    lei = ngx_http_confhaven_header_in(r, "Last-Event-ID",
                                        sizeof("Last-Event-ID") - 1);
    stream = 0;
    seq = 0;
    ngx_str_null(&instance);

    if (lei) {
        if (ngx_http_confhaven_mcp_cluster_event_id_parse(lei->value.data,
                lei->value.data + lei->value.len, &stream, &seq, &instance)
            != NGX_OK)
        {
            return ngx_http_confhaven_transport_http_error(r,
                       NGX_HTTP_BAD_REQUEST, NGX_HTTP_CONFHAVEN_MCP_BAD_REQUEST,
                       "Bad Request: Last-Event-ID is not an event id of "
                       "this server", NULL, NULL);
        }

        if (instance.len
            && (chmcf->mcp.instance.len == 0
                || ngx_strncmp(instance.data, chmcf->mcp.instance.data,
                               NGX_HTTP_CONFHAVEN_MCP_INSTANCE_LEN)
                   != 0))
        {
            if (stream) {
                /* an event of another instance: what Redis holds */
                return ngx_http_confhaven_mcp_get_remote(r, g, &lei->value,
                                                         stream, &instance);
            }

            /*
             * Another instance's standalone stream, which has no events
             * to replay: a new one here.
             */
            seq = 0;
        }
    }

    g->stream = stream;
    g->seq = seq;

    if (stream == 0) {
        rc = ngx_http_confhaven_mcp_session_get_claim(&chmcf->mcp.zone,
                                                      &g->session, g->tag);

        if (rc == NGX_BUSY) {
            /*
             * The session has its stream already.  Clients reconnect
             * without Last-Event-ID after a resumed stream ended (the
             * TypeScript SDK does), and the specification allows only
             * an event stream or 405 here: this one is served too, but
             * server messages go to the first only, so that nothing is
             * delivered twice.
             */

            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "confhaven mcp: session %V has a GET stream "
                          "already; this one carries keep-alives only",
                          &g->session);

            g->quiet = 1;
            rc = NGX_OK;
        }

        if (rc != NGX_OK) {
            return ngx_http_confhaven_transport_http_error(r,
                       NGX_HTTP_NOT_FOUND,
                       NGX_HTTP_CONFHAVEN_MCP_SESSION_NOT_FOUND,
                       "Session not found", NULL, NULL);
        }

        g->claimed = !g->quiet;
    }

    g->sse = ngx_http_confhaven_sse_create(r);
    if (g->sse == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    g->sse->data = g;

    if (ngx_http_confhaven_sse_add_header(r, "Mcp-Session-Id", &g->session)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* an unknown event id is refused before the stream starts */
    rc = ngx_http_confhaven_mcp_get_replay(g, &final);

    if (rc == NGX_DECLINED) {
        return ngx_http_confhaven_transport_http_error(r, NGX_HTTP_NOT_FOUND,
                   NGX_HTTP_CONFHAVEN_MCP_SESSION_NOT_FOUND,
                   "Session not found", NULL, NULL);
    }

    if (rc == NGX_ABORT && lei && instance.len && g->stream) {
        /* one of ours this log no longer knows: maybe Redis does */
        return ngx_http_confhaven_mcp_get_remote(r, g, &lei->value,
                                                 g->stream, &instance);
    }

    if (rc == NGX_ABORT) {
        return ngx_http_confhaven_transport_http_error(r, NGX_HTTP_BAD_REQUEST,
                   NGX_HTTP_CONFHAVEN_MCP_BAD_REQUEST,
                   "Bad Request: Last-Event-ID names no event of this "
                   "session", NULL, NULL);
    }

    if (rc != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "confhaven mcp: GET stream %ui after %ui of session %V",
                   g->stream, g->seq, &g->session);

    if (g->stream && final) {
        /* a POST stream that has ended: what followed is replayed */
        return ngx_http_confhaven_sse_last(g->sse);
    }

    if (g->stream == 0) {
        g->sse->tick = ngx_http_confhaven_mcp_get_tick;

    } else {
        g->deadline = ngx_current_msec + NGX_HTTP_CONFHAVEN_MCP_RESUME_WAIT;
        ngx_add_timer(&g->poll, NGX_HTTP_CONFHAVEN_MCP_RESUME_POLL);
    }

    if (ngx_http_confhaven_sse_hold(g->sse, chlcf->mcp.sse_keepalive)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_DONE;
}


/*
 * Sends what the log holds after g->seq on g->stream (starting the stream
 * first if needed, with a priming event on a fresh 2025-11-25 standalone
 * stream).  *final: the stream's last event has been logged.
 */

static ngx_int_t
ngx_http_confhaven_mcp_get_replay(ngx_http_confhaven_mcp_get_t *g,
    ngx_uint_t *final)
{
    ngx_int_t                         rc;
    ngx_str_t                         id;
    ngx_uint_t                        i, seq, version;
    ngx_array_t                      *out;
    ngx_http_request_t               *r;
    ngx_http_confhaven_mcp_replay_t  *ev;
    ngx_http_confhaven_main_conf_t   *chmcf;

    r = g->sse->r;
    chmcf = ngx_http_get_module_main_conf(r, ngx_http_confhaven_module);

    out = ngx_array_create(r->pool, 4,
                           sizeof(ngx_http_confhaven_mcp_replay_t));
    if (out == NULL) {
        return NGX_ERROR;
    }

    rc = ngx_http_confhaven_mcp_session_event_replay(&chmcf->mcp.zone,
                                                     &g->session, g->stream,
                                                     g->seq, out, final);
    if (rc != NGX_OK) {
        return rc;
    }

    if (g->quiet) {
        /* server messages belong to the session's first GET stream */
        out->nelts = 0;
    }

    if (!g->sse->started) {
        if (ngx_http_confhaven_sse_start(g->sse) != NGX_OK) {
            return NGX_ERROR;
        }

        version = ngx_http_confhaven_mcp_session_find(&chmcf->mcp.zone,
                                                      &g->session, 0);

        if (g->stream == 0 && g->seq == 0
            && version >= NGX_HTTP_CONFHAVEN_MCP_V2025_11_25
            && ngx_http_confhaven_mcp_session_event_log(&chmcf->mcp.zone,
                   &g->session, 0, NULL, 0, &seq, r->connection->log)
               == NGX_OK)
        {
            if (ngx_http_confhaven_mcp_event_id(r, 0, seq, &id) != NGX_OK) {
                return NGX_ERROR;
            }

            /* (not in Redis: a standalone stream is opened afresh) */

            if (ngx_http_confhaven_sse_event(g->sse, NULL, &id,
                                                NGX_HTTP_CONFHAVEN_SSE_RETRY,
                                                (u_char *) "", 0)
                   != NGX_OK)
            {
                return NGX_ERROR;
            }
        }
    }

    ev = out->elts;

    for (i = 0; i < out->nelts; i++) {
        if (ngx_http_confhaven_mcp_event_id(r, g->stream, ev[i].seq, &id)
            != NGX_OK
            || ngx_http_confhaven_sse_event(g->sse, "message", &id, 0,
                                            ev[i].data.data, ev[i].data.len)
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        g->seq = ev[i].seq;
    }

    return NGX_OK;
}


/*
 * A resume of a POST stream from an event id of another instance (or one
 * of ours this zone no longer has), from the session's events in Redis,
 * read with the session in the preaccess phase: what followed that event
 * on its stream is replayed and the stream ends (a client whose answer is
 * not there yet reconnects after "retry").
 */

static ngx_int_t
ngx_http_confhaven_mcp_get_remote(ngx_http_request_t *r,
    ngx_http_confhaven_mcp_get_t *g, ngx_str_t *last, ngx_int_t stream,
    ngx_str_t *instance)
{
    u_char                                *nl;
    ngx_int_t                              s, q;
    ngx_str_t                              id, inst, *ev;
    ngx_uint_t                             i, found;
    ngx_http_confhaven_ctx_t              *ctx;
    ngx_http_confhaven_mcp_cluster_req_t  *cx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_confhaven_module);
    cx = ctx ? ctx->mcp_cluster : NULL;

    if (cx == NULL || !cx->events_ok) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "confhaven mcp: Last-Event-ID \"%V\" is not in this "
                      "instance's log, and Redis could not be asked", last);
        goto unknown;
    }

    ev = cx->events;
    found = 0;

    for (i = 0; i < cx->nevents; i++) {
        nl = ngx_strlchr(ev[i].data, ev[i].data + ev[i].len, '\n');

        if (nl && (size_t) (nl - ev[i].data - 1) == last->len
            && ngx_strncmp(ev[i].data + 1, last->data, last->len) == 0)
        {
            found = 1;
            break;
        }
    }

    if (!found) {
        goto unknown;
    }

    g->stream = stream;

    if (g->sse == NULL) {
        g->sse = ngx_http_confhaven_sse_create(r);
        if (g->sse == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        g->sse->data = g;

        if (ngx_http_confhaven_sse_add_header(r, "Mcp-Session-Id",
                                              &g->session)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (ngx_http_confhaven_sse_start(g->sse) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* what followed on that stream of that instance */

    for (i++; i < cx->nevents; i++) {
        nl = ngx_strlchr(ev[i].data, ev[i].data + ev[i].len, '\n');
        if (nl == NULL) {
            continue;
        }

        id.data = ev[i].data + 1;
        id.len = nl - id.data;

        if (ngx_http_confhaven_mcp_cluster_event_id_parse(id.data, nl, &s,
                                                          &q, &inst)
            != NGX_OK
            || s != stream
            || inst.len != instance->len
            || ngx_strncmp(inst.data, instance->data, inst.len) != 0)
        {
            continue;
        }

        if (nl + 1 < ev[i].data + ev[i].len
            && ngx_http_confhaven_sse_event(g->sse, "message", &id, 0, nl + 1,
                                            ev[i].data + ev[i].len - nl - 1)
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (ev[i].data[0] == '1') {
            break;
        }
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "confhaven mcp: stream %V of session %V replayed from "
                   "Redis", last, &g->session);

    return ngx_http_confhaven_sse_last(g->sse);

unknown:

    return ngx_http_confhaven_transport_http_error(r, NGX_HTTP_BAD_REQUEST,
               NGX_HTTP_CONFHAVEN_MCP_BAD_REQUEST,
               "Bad Request: Last-Event-ID names no event of this "
               "session", NULL, NULL);
}


/* the standalone stream lives as long as its session */

static ngx_int_t
ngx_http_confhaven_mcp_get_tick(ngx_http_confhaven_sse_t *sse)
{
    ngx_http_confhaven_mcp_get_t    *g = sse->data;
    ngx_http_confhaven_main_conf_t  *chmcf;

    chmcf = ngx_http_get_module_main_conf(sse->r, ngx_http_confhaven_module);

    if (ngx_http_confhaven_mcp_session_find(&chmcf->mcp.zone, &g->session,
                                            0)
        != 0)
    {
        return NGX_OK;
    }

    ngx_log_error(NGX_LOG_INFO, sse->r->connection->log, 0,
                  "confhaven mcp: session %V ended, closing its stream",
                  &g->session);

    ngx_http_confhaven_sse_finish(sse, NGX_OK);

    return NGX_DONE;
}


/* a resumed POST stream waits for the answer some worker will log */

static void
ngx_http_confhaven_mcp_get_poll(ngx_event_t *ev)
{
    ngx_http_confhaven_mcp_get_t  *g = ev->data;

    ngx_int_t            rc;
    ngx_uint_t           final;
    ngx_connection_t    *c;

    c = g->sse->r->connection;

    rc = ngx_http_confhaven_mcp_get_replay(g, &final);

    if (rc == NGX_OK && !final
        && (ngx_msec_int_t) (g->deadline - ngx_current_msec) > 0)
    {
        ngx_add_timer(&g->poll, NGX_HTTP_CONFHAVEN_MCP_RESUME_POLL);
        return;
    }

    ngx_http_confhaven_sse_finish(g->sse, rc == NGX_ERROR ? NGX_ERROR
                                                          : NGX_OK);
    ngx_http_run_posted_requests(c);
}


static void
ngx_http_confhaven_mcp_get_cleanup(void *data)
{
    ngx_http_confhaven_mcp_get_t  *g = data;

    if (g->poll.timer_set) {
        ngx_del_timer(&g->poll);
    }

    if (g->claimed) {
        ngx_http_confhaven_mcp_session_get_release(g->zone, &g->session,
                                                   g->tag);
        g->claimed = 0;
    }
}


static ngx_int_t
ngx_http_confhaven_mcp_event_id(ngx_http_request_t *r, ngx_uint_t stream,
    ngx_uint_t seq, ngx_str_t *id)
{
    ngx_http_confhaven_main_conf_t  *chmcf;

    chmcf = ngx_http_get_module_main_conf(r, ngx_http_confhaven_module);

    id->data = ngx_pnalloc(r->pool, 2 * NGX_INT_T_LEN + 2
                                    + NGX_HTTP_CONFHAVEN_MCP_INSTANCE_LEN);
    if (id->data == NULL) {
        return NGX_ERROR;
    }

    if (chmcf->mcp.instance.len) {
        /* in a cluster: unique across the instances */
        id->len = ngx_sprintf(id->data, "%ui-%ui-%V", stream, seq,
                              &chmcf->mcp.instance)
                  - id->data;

    } else {
        id->len = ngx_sprintf(id->data, "%ui-%ui", stream, seq) - id->data;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_confhaven_mcp_delete(ngx_http_request_t *r)
{
    ngx_int_t                        rc;
    ngx_table_elt_t                 *h;
    ngx_http_confhaven_ctx_t        *ctx;
    ngx_http_confhaven_main_conf_t  *chmcf;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    chmcf = ngx_http_get_module_main_conf(r, ngx_http_confhaven_module);

    h = ngx_http_confhaven_header_in(r, "Mcp-Session-Id",
                                      sizeof("Mcp-Session-Id") - 1);

    if (h == NULL) {
        return ngx_http_confhaven_transport_http_not_allowed(r, "POST");
    }

    /*
     * (a session known only in Redis was deleted there before this
     * handler ran; an unknown id writes nothing anywhere)
     */

    /* (a legacy stream's id is not ours to end) */

    ctx = ngx_http_get_module_ctx(r, ngx_http_confhaven_module);

    if ((ngx_http_confhaven_mcp_session_find(&chmcf->mcp.zone, &h->value, 0)
         == 0
         || ngx_http_confhaven_mcp_session_delete(&chmcf->mcp.zone,
                                                  &h->value)
            != NGX_OK)
        && !ngx_http_confhaven_mcp_cluster_deleted(ctx ? ctx->mcp_cluster
                                                       : NULL))
    {
        return ngx_http_confhaven_transport_http_error(r, NGX_HTTP_NOT_FOUND,
                   NGX_HTTP_CONFHAVEN_MCP_SESSION_NOT_FOUND,
                   "Session not found", NULL, NULL);
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "confhaven mcp: session %V ended by the client", &h->value);

    return ngx_http_confhaven_transport_http_empty(r, NGX_HTTP_OK);
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

        return ngx_http_confhaven_transport_http_error(r,
                   NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
                   NGX_HTTP_CONFHAVEN_MCP_INVALID_REQUEST,
                   "Unsupported Media Type: Content-Type must be "
                   "application/json", NULL, NULL);
    }

    if (ngx_http_confhaven_transport_http_body_limit(r,
                                          r->headers_in.content_length_n, &rc)
        != NGX_OK)
    {
        return rc;
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

    rc = ngx_http_confhaven_request_body(r, &body);
    if (rc != NGX_OK) {
        ngx_http_finalize_request(r, rc);
        return;
    }

    /* a chunked body had no Content-Length to check before */
    if (ngx_http_confhaven_transport_http_body_limit(r, body.len, &rc)
        != NGX_OK)
    {
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

        rc = ngx_http_confhaven_transport_http_error(r, NGX_HTTP_BAD_REQUEST,
                                        NGX_HTTP_CONFHAVEN_MCP_PARSE_ERROR,
                                        (char *) err.data, NULL, NULL);
        ngx_http_finalize_request(r, rc);
        return;
    }

    /* which wire: see MCP-TRANSPORTS.md, "Version negotiation" */

    h = ngx_http_confhaven_header_in(r, "MCP-Protocol-Version",
                                      sizeof("MCP-Protocol-Version") - 1);
    s = ngx_http_confhaven_header_in(r, "Mcp-Session-Id",
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
        ctx->mcp_vars.stateless = 1;
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


/* ------------------------------------------------------ 2026-07-28 wire */


static ngx_int_t
ngx_http_confhaven_mcp_modern(ngx_http_confhaven_mcp_http_t *st)
{
    json_t                         *meta, *v, *caps, *data;
    ngx_int_t                       rc;
    ngx_uint_t                      accept;
    ngx_table_elt_t                *h;
    ngx_http_request_t             *r;
    ngx_http_confhaven_mcp_call_t  *call;

    r = st->r;

    if (json_is_array(st->body)) {
        return ngx_http_confhaven_transport_http_error(r, NGX_HTTP_BAD_REQUEST,
                   NGX_HTTP_CONFHAVEN_MCP_INVALID_REQUEST,
                   "Invalid Request: protocol version 2026-07-28 takes one "
                   "message per request, not a batch", NULL, NULL);
    }

    /* lenient: without a usable Accept the answer is JSON */
    accept = ngx_http_confhaven_mcp_accept(r);

    st->event_stream = (accept & NGX_HTTP_CONFHAVEN_MCP_ACCEPT_SSE)
                       && ((accept & NGX_HTTP_CONFHAVEN_MCP_PREFER_SSE)
                           || !(accept & NGX_HTTP_CONFHAVEN_MCP_ACCEPT_JSON));

    st->calls = ngx_pcalloc(r->pool, sizeof(ngx_http_confhaven_mcp_call_t));
    if (st->calls == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    st->ncalls = 1;
    call = st->calls;
    ngx_http_confhaven_transport_http_call_init(r, call);
    call->modern = 1;
    call->version = NGX_HTTP_CONFHAVEN_MCP_V2026_07_28;
    call->done = ngx_http_confhaven_mcp_call_done;
    call->data = st;

    if (ngx_http_confhaven_mcp_validate(call, st->body) != NGX_OK) {
        return ngx_http_confhaven_mcp_send(r, NGX_HTTP_BAD_REQUEST,
                                           call->response);
    }

    if (call->method.len == 0) {
        return ngx_http_confhaven_transport_http_error(r, NGX_HTTP_BAD_REQUEST,
                   NGX_HTTP_CONFHAVEN_MCP_INVALID_REQUEST,
                   "Invalid Request: protocol version 2026-07-28 accepts "
                   "no responses from clients", call->id, NULL);
    }

    if (call->notification) {
        /* none is defined for HTTP; cancellation is closing the stream */
        return ngx_http_confhaven_transport_http_empty(r, NGX_HTTP_ACCEPTED);
    }

    /* 1. _meta */

    meta = call->params ? json_object_get(call->params, "_meta") : NULL;
    v = json_is_object(meta)
        ? json_object_get(meta, NGX_HTTP_CONFHAVEN_MCP_META_VERSION) : NULL;
    caps = json_is_object(meta)
           ? json_object_get(meta, NGX_HTTP_CONFHAVEN_MCP_META_CAPS) : NULL;

    if (!json_is_string(v) || !json_is_object(caps)) {
        return ngx_http_confhaven_transport_http_error(r, NGX_HTTP_BAD_REQUEST,
                   NGX_HTTP_CONFHAVEN_MCP_INVALID_PARAMS,
                   "Invalid params: params._meta must carry "
                   "\"" NGX_HTTP_CONFHAVEN_MCP_META_VERSION "\" (a string) "
                   "and \"" NGX_HTTP_CONFHAVEN_MCP_META_CAPS "\" "
                   "(an object)", call->id, NULL);
    }

    /* 2. MCP-Protocol-Version equals _meta */

    h = ngx_http_confhaven_header_in(r, "MCP-Protocol-Version",
                                      sizeof("MCP-Protocol-Version") - 1);

    if (h == NULL
        || h->value.len != json_string_length(v)
        || ngx_strncmp(h->value.data, json_string_value(v), h->value.len)
           != 0)
    {
        return ngx_http_confhaven_transport_http_error(r, NGX_HTTP_BAD_REQUEST,
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

        return ngx_http_confhaven_transport_http_error(r, NGX_HTTP_BAD_REQUEST,
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
    u_char               err[NGX_HTTP_CONFHAVEN_MCP_ERROR_LEN];
    json_t              *name, *method;
    ngx_uint_t           tool;
    const char          *why;
    ngx_table_elt_t     *h;
    ngx_http_request_t  *r;

    r = call->r;
    method = json_object_get(call->msg, "method");

    h = ngx_http_confhaven_header_in(r, "Mcp-Method",
                                      sizeof("Mcp-Method") - 1);

    if (h == NULL) {
        why = "Header mismatch: the Mcp-Method header is required";
        goto mismatch;
    }

    if (ngx_http_confhaven_mcp_header_equals(r, h, method) != NGX_OK) {
        why = "Header mismatch: Mcp-Method must equal the body's method";
        goto mismatch;
    }

    /* types before the other headers: they compare typed values only */

    if (ngx_http_confhaven_mcp_check_params(&call->method, 1, call->params,
                                            err, sizeof(err))
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "confhaven mcp: %s", err);

        return ngx_http_confhaven_mcp_reject(call->data,
                   ngx_http_confhaven_transport_http_error(r,
                                        NGX_HTTP_BAD_REQUEST,
                                        NGX_HTTP_CONFHAVEN_MCP_INVALID_PARAMS,
                                        (char *) err, call->id, NULL));
    }

    call->checked = 1;

    name = NULL;

    tool = (call->method.len == sizeof("tools/call") - 1
            && ngx_strncmp(call->method.data, "tools/call", call->method.len)
               == 0);

    if (tool
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
        h = ngx_http_confhaven_header_in(r, "Mcp-Name",
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

    if (tool && json_is_string(name)) {
        return ngx_http_confhaven_mcp_check_param_headers(call);
    }

    return NGX_OK;

mismatch:

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "confhaven mcp: %s", why);

    return ngx_http_confhaven_mcp_reject(call->data,
               ngx_http_confhaven_transport_http_error(r, NGX_HTTP_BAD_REQUEST,
                                        NGX_HTTP_CONFHAVEN_MCP_HEADER_MISMATCH,
                                        why, call->id, NULL));
}


/*
 * A tool's x-mcp-header arguments, in its inputSchema's order, with their
 * header names: read from the schema once per tool in a worker's life
 * (malloc()ed, never freed), not walked on each call.
 */

#define NGX_HTTP_CONFHAVEN_MCP_PARAM_HEADERS  32


typedef struct {
    ngx_http_confhaven_tool_t  *tool;
    ngx_uint_t                  n;
    char                       *key[NGX_HTTP_CONFHAVEN_MCP_PARAM_HEADERS];
    ngx_str_t                   header[NGX_HTTP_CONFHAVEN_MCP_PARAM_HEADERS];
} ngx_http_confhaven_mcp_ph_t;         /* a tool's Mcp-Param headers */


static void ngx_http_confhaven_mcp_param_headers_free(
    ngx_http_confhaven_mcp_ph_t *ph);


static ngx_http_confhaven_mcp_ph_t *
ngx_http_confhaven_mcp_param_headers(ngx_http_confhaven_tool_t *tool)
{
    char                         *k;
    u_char                       *p;
    json_t                       *schema, *props, *prop, *x;
    size_t                        len;
    ngx_uint_t                    i;
    const char                   *key;
    ngx_http_confhaven_mcp_ph_t  *ph;

    static ngx_http_confhaven_mcp_ph_t  *known[64];
    static ngx_uint_t                    nknown;

    for (i = 0; i < nknown; i++) {
        if (known[i]->tool == tool) {
            return known[i];
        }
    }

    schema = ngx_http_confhaven_tools_input_schema(tool);
    if (schema == NULL) {
        return NULL;
    }

    ph = ngx_calloc(sizeof(ngx_http_confhaven_mcp_ph_t),
                    ngx_cycle->log);
    if (ph == NULL) {
        json_decref(schema);
        return NULL;
    }

    ph->tool = tool;

    props = json_object_get(schema, "properties");

    json_object_foreach(props, key, prop) {

        x = json_object_get(prop, "x-mcp-header");
        if (!json_is_string(x) || json_string_length(x) > 64) {
            continue;
        }

        if (ph->n == NGX_HTTP_CONFHAVEN_MCP_PARAM_HEADERS) {
            /* more than any tool has: walked on each call as before */
            goto failed;
        }

        len = ngx_strlen(key) + 1;

        k = ngx_alloc(len, ngx_cycle->log);
        p = ngx_alloc(sizeof("Mcp-Param-") - 1 + json_string_length(x),
                      ngx_cycle->log);

        if (k == NULL || p == NULL) {
            if (k) {
                ngx_free(k);
            }

            if (p) {
                ngx_free(p);
            }

            goto failed;
        }

        ngx_memcpy(k, key, len);
        ph->key[ph->n] = k;

        ph->header[ph->n].data = p;
        p = ngx_cpymem(p, "Mcp-Param-", sizeof("Mcp-Param-") - 1);
        p = ngx_cpymem(p, json_string_value(x), json_string_length(x));
        ph->header[ph->n].len = p - ph->header[ph->n].data;

        ph->n++;
    }

    json_decref(schema);

    if (nknown == sizeof(known) / sizeof(known[0])) {
        /* more tools than any configuration has: the oldest goes */
        ngx_http_confhaven_mcp_param_headers_free(known[0]);
        ngx_memmove(&known[0], &known[1], (nknown - 1) * sizeof(known[0]));
        nknown--;
    }

    known[nknown++] = ph;

    return ph;

failed:

    json_decref(schema);
    ngx_http_confhaven_mcp_param_headers_free(ph);

    return NULL;
}


static void
ngx_http_confhaven_mcp_param_headers_free(
    ngx_http_confhaven_mcp_ph_t *ph)
{
    ngx_uint_t  i;

    for (i = 0; i < ph->n; i++) {
        ngx_free(ph->key[i]);
        ngx_free(ph->header[i].data);
    }

    ngx_free(ph);
}


/* tools/call: every x-mcp-header argument must travel as Mcp-Param-{X} */

static ngx_int_t
ngx_http_confhaven_mcp_check_param_headers(
    ngx_http_confhaven_mcp_call_t *call)
{
    u_char                        err[NGX_HTTP_CONFHAVEN_MCP_ERROR_LEN];
    json_t                       *args, *arg, *n;
    ngx_int_t                     rc;
    ngx_str_t                     name;
    ngx_uint_t                    i;
    const char                   *why;
    ngx_table_elt_t              *h;
    ngx_http_request_t           *r;
    ngx_http_confhaven_tool_t    *tool;
    ngx_http_confhaven_mcp_ph_t  *ph;

    r = call->r;

    /* params were checked: name is a string */
    n = json_object_get(call->params, "name");

    if (!json_is_string(n)) {
        return NGX_OK;
    }

    name.data = (u_char *) json_string_value(n);
    name.len = json_string_length(n);

    tool = ngx_http_confhaven_tools_find(&name);
    if (tool == NULL) {
        /* dispatch answers -32602 */
        return NGX_OK;
    }

    args = json_object_get(call->params, "arguments");

    /* mistyped arguments: tools/call answers with isError, no header */

    rc = ngx_http_confhaven_tools_check_args(tool, args, err, sizeof(err));

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc != NGX_OK) {
        return NGX_OK;
    }

    call->args_typed = 1;

    ph = ngx_http_confhaven_mcp_param_headers(tool);
    if (ph == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (i = 0; i < ph->n; i++) {

        h = ngx_http_confhaven_header_in(r, (char *) ph->header[i].data,
                                          ph->header[i].len);

        arg = json_is_object(args) ? json_object_get(args, ph->key[i])
                                   : NULL;

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
               ngx_http_confhaven_transport_http_error(r, NGX_HTTP_BAD_REQUEST,
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

        /* 19 digits may not fit: no overflow, no match */
        if (n > (INT64_MAX - (*p - '0')) / 10) {
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
    u_char                          buf[64];
    json_t                         *msg;
    ngx_int_t                       rc;
    ngx_uint_t                      i, version, accept;
    ngx_http_request_t             *r;
    ngx_http_confhaven_mcp_call_t  *call;
    ngx_http_confhaven_loc_conf_t  *chlcf;

    r = st->r;
    version = 0;

    accept = ngx_http_confhaven_mcp_accept(r);

    if ((accept & (NGX_HTTP_CONFHAVEN_MCP_ACCEPT_JSON
                   |NGX_HTTP_CONFHAVEN_MCP_ACCEPT_SSE))
        != (NGX_HTTP_CONFHAVEN_MCP_ACCEPT_JSON
            |NGX_HTTP_CONFHAVEN_MCP_ACCEPT_SSE))
    {
        return ngx_http_confhaven_transport_http_error(r,
                   NGX_HTTP_CONFHAVEN_NOT_ACCEPTABLE,
                   NGX_HTTP_CONFHAVEN_MCP_INVALID_REQUEST,
                   "Not Acceptable: Accept must list application/json and "
                   "text/event-stream", NULL, NULL);
    }

    st->event_stream = (accept & NGX_HTTP_CONFHAVEN_MCP_PREFER_SSE) ? 1 : 0;

    if (json_is_array(st->body)) {
        st->batch = 1;
        st->ncalls = json_array_size(st->body);

        chlcf = ngx_http_get_module_loc_conf(r, ngx_http_confhaven_module);

        if (st->ncalls == 0 || st->ncalls > chlcf->mcp.max_batch) {
            *ngx_snprintf(buf, sizeof(buf) - 1,
                          "Invalid Request: a batch holds 1 to %ui "
                          "messages", chlcf->mcp.max_batch) = '\0';

            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "confhaven mcp: a batch of %ui messages refused "
                          "(confhaven_mcp_max_batch %ui)", st->ncalls,
                          chlcf->mcp.max_batch);

            return ngx_http_confhaven_transport_http_error(r,
                       NGX_HTTP_BAD_REQUEST,
                       NGX_HTTP_CONFHAVEN_MCP_INVALID_REQUEST, (char *) buf,
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
        ngx_http_confhaven_transport_http_call_init(r, call);
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

    st->version = version;

    if (st->batch && version != NGX_HTTP_CONFHAVEN_MCP_V2025_03_26) {
        return ngx_http_confhaven_transport_http_error(r, NGX_HTTP_BAD_REQUEST,
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
                || ngx_http_confhaven_json_own(r->pool, call->response)
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
        rc = ngx_http_confhaven_transport_http_error(r, NGX_HTTP_BAD_REQUEST,
                 NGX_HTTP_CONFHAVEN_MCP_BAD_REQUEST,
                 "Bad Request: Mcp-Session-Id header is required "
                 "(initialize first)", NULL, NULL);
        return ngx_http_confhaven_mcp_reject(st, rc);
    }

    *version = ngx_http_confhaven_mcp_session_find(&chmcf->mcp.zone,
                                                   &st->session, 0);
    if (*version == 0) {
        rc = ngx_http_confhaven_transport_http_error(r, NGX_HTTP_NOT_FOUND,
                 NGX_HTTP_CONFHAVEN_MCP_SESSION_NOT_FOUND,
                 "Session not found", NULL, NULL);
        return ngx_http_confhaven_mcp_reject(st, rc);
    }

    ctx = ngx_http_confhaven_get_ctx(r);
    ctx->mcp_vars.session = st->session;

    h = ngx_http_confhaven_header_in(r, "MCP-Protocol-Version",
                                      sizeof("MCP-Protocol-Version") - 1);

    if (h && ngx_http_confhaven_mcp_version(h->value.data, h->value.len)
             == 0)
    {
        rc = ngx_http_confhaven_transport_http_error(r, NGX_HTTP_BAD_REQUEST,
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

    if (st->event_stream && st->pending > 1 && st->sse == NULL) {
        /* the answer takes a while: the stream (and priming) goes now */
        if (ngx_http_confhaven_mcp_open_stream(st) != NGX_OK) {
            st->rc = NGX_ERROR;
        }
    }

    st->dispatching = 0;

    /*
     * Our own share.  While we dispatched it kept every callback from
     * answering; if all the calls finished meanwhile, the answer is ours
     * to give, returned to the caller like any handler's (the rule of
     * ngx_http_confhaven_cache_fetch(): a callback never finalizes a request
     * whose handler is still on the stack).
     */

    if (--st->pending) {
        return NGX_DONE;
    }

    st->r->main->count--;

    return ngx_http_confhaven_mcp_respond(st);
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

    /* while dispatching, start() holds a share: never zero here then */

    if (--st->pending) {
        return;
    }

    r = st->r;
    c = r->connection;

    rc = ngx_http_confhaven_mcp_respond(st);

    /* st lives in r->pool: the finalization may free it */

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


static ngx_int_t
ngx_http_confhaven_mcp_respond(ngx_http_confhaven_mcp_http_t *st)
{
    json_t                         *list, *msg;
    ngx_int_t                       rc;
    ngx_str_t                       parts[NGX_HTTP_CONFHAVEN_MCP_PARTS];
    ngx_uint_t                      i, n;
    ngx_http_request_t             *r;
    ngx_http_confhaven_mcp_call_t  *call;

    r = st->r;

    if (st->rc == NGX_ERROR) {
        /* the early stream could not be started */
        return NGX_ERROR;
    }

    if (st->session.len && !st->session_header) {
        if (ngx_http_confhaven_mcp_add_header(r, "Mcp-Session-Id",
                                              &st->session)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        st->session_header = 1;
    }

    if (!st->batch) {
        call = st->calls;

        if (call->status == NGX_HTTP_INTERNAL_SERVER_ERROR) {
            if (st->sse) {
                msg = ngx_http_confhaven_mcp_error_message(call->id,
                          NGX_HTTP_CONFHAVEN_MCP_INTERNAL_ERROR,
                          "Internal error", NULL);

                if (msg == NULL
                    || ngx_http_confhaven_json_own(r->pool, msg) != NGX_OK)
                {
                    json_decref(msg);
                    return NGX_ERROR;
                }

                return ngx_http_confhaven_mcp_respond_sse(st, msg);
            }

            return ngx_http_confhaven_transport_http_error(r,
                       NGX_HTTP_INTERNAL_SERVER_ERROR,
                       NGX_HTTP_CONFHAVEN_MCP_INTERNAL_ERROR,
                       "Internal error", call->id, NULL);
        }

        if (st->initialize
            && ngx_http_confhaven_mcp_response_json(call) != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (st->initialize && !st->created && call->response
            && json_object_get(call->response, "result"))
        {
            rc = ngx_http_confhaven_mcp_new_session(st, call);

            if (rc != NGX_OK) {
                return ngx_http_confhaven_transport_http_busy(r, rc, call->id);
            }

            st->version = call->version;
            st->created = 1;

            /*
             * In a cluster, the answer that names the session waits until
             * Redis has run its registration: Redis does not run two
             * connections' commands in the order they were sent, so the
             * client's next request, on another instance, could otherwise
             * be told the session does not exist.
             */

            if (ngx_http_confhaven_mcp_created_sync(st) == NGX_OK) {
                return NGX_DONE;
            }
        }

        /* errors found before any work keep their HTTP status */
        if (call->response
            && (st->sse
                || (st->event_stream && call->status == NGX_HTTP_OK)))
        {
            if (ngx_http_confhaven_mcp_response_json(call) != NGX_OK) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            return ngx_http_confhaven_mcp_respond_sse(st, call->response);
        }

        if (call->response == NULL) {
            return ngx_http_confhaven_mcp_send(r, call->status, NULL);
        }

        /*
         * one JSON answer: a result cached as sent is spliced, neither
         * parsed nor copied
         */
        if (ngx_http_confhaven_mcp_response_parts(call, parts, &n)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_confhaven_send_json_parts(r, call->status, parts, n);
    }

    list = json_array();
    if (list == NULL || ngx_http_confhaven_json_own(r->pool, list) != NGX_OK)
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
            if (ngx_http_confhaven_mcp_response_json(call) != NGX_OK) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            json_array_append(list, call->response);
        }
    }

    if (json_array_size(list) == 0 && st->sse == NULL) {
        return ngx_http_confhaven_transport_http_empty(r, NGX_HTTP_ACCEPTED);
    }

    if (st->event_stream) {
        return ngx_http_confhaven_mcp_respond_sse(st, list);
    }

    return ngx_http_confhaven_mcp_send(r, NGX_HTTP_OK, list);
}


/*
 * The answer as text/event-stream: the headers, a priming event (an id
 * and retry with empty data) for a 2025-11-25 session, and, in a session,
 * a stream number so that every event gets an id and is kept for replay.
 */

static ngx_int_t
ngx_http_confhaven_mcp_open_stream(ngx_http_confhaven_mcp_http_t *st)
{
    ngx_str_t                        id;
    ngx_uint_t                       seq;
    ngx_http_request_t              *r;
    ngx_http_confhaven_main_conf_t  *chmcf;

    r = st->r;
    chmcf = ngx_http_get_module_main_conf(r, ngx_http_confhaven_module);

    st->sse = ngx_http_confhaven_sse_create(r);
    if (st->sse == NULL) {
        return NGX_ERROR;
    }

    if (st->session.len) {
        if (!st->session_header) {
            if (ngx_http_confhaven_mcp_add_header(r, "Mcp-Session-Id",
                                                  &st->session)
                != NGX_OK)
            {
                return NGX_ERROR;
            }

            st->session_header = 1;
        }

        if (ngx_http_confhaven_mcp_session_stream_open(&chmcf->mcp.zone,
                                                       &st->session,
                                                       &st->stream)
            != NGX_OK)
        {
            st->stream = 0;
        }
    }

    if (ngx_http_confhaven_sse_start(st->sse) != NGX_OK) {
        return NGX_ERROR;
    }

    if (st->modern) {
        /* 2026-07-28: closing the stream cancels the request */
        r->read_event_handler = ngx_http_test_reading;
    }

    if (st->stream == 0 || st->version < NGX_HTTP_CONFHAVEN_MCP_V2025_11_25)
    {
        return NGX_OK;
    }

    if (ngx_http_confhaven_mcp_session_event_log(&chmcf->mcp.zone, &st->session,
                                                 st->stream, NULL, 0, &seq,
                                                 r->connection->log)
        != NGX_OK)
    {
        return NGX_OK;
    }

    if (ngx_http_confhaven_mcp_event_id(r, st->stream, seq, &id) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_http_confhaven_mcp_cluster_event(&chmcf->mcp, &st->session, &id, NULL,
                                         0);

    return ngx_http_confhaven_sse_event(st->sse, NULL, &id,
                                        NGX_HTTP_CONFHAVEN_SSE_RETRY,
                                        (u_char *) "", 0);
}


/* the last event of a POST stream, logged before it is written */

static ngx_int_t
ngx_http_confhaven_mcp_respond_sse(ngx_http_confhaven_mcp_http_t *st,
    json_t *msg)
{
    ngx_str_t                        body, id;
    ngx_uint_t                       seq;
    ngx_http_request_t              *r;
    ngx_http_confhaven_main_conf_t  *chmcf;

    r = st->r;
    chmcf = ngx_http_get_module_main_conf(r, ngx_http_confhaven_module);

    if (st->sse == NULL
        && ngx_http_confhaven_mcp_open_stream(st) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_confhaven_json_dump(r, json_incref(msg), &body) != NGX_OK) {
        return NGX_ERROR;
    }

    id.len = 0;

    if (st->stream
        && ngx_http_confhaven_mcp_session_event_log(&chmcf->mcp.zone,
                                                    &st->session, st->stream,
                                                    &body, 1, &seq,
                                                    r->connection->log)
           == NGX_OK)
    {
        if (ngx_http_confhaven_mcp_event_id(r, st->stream, seq, &id)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        /* in Redis before the client can see it (best effort) */
        ngx_http_confhaven_mcp_cluster_event(&chmcf->mcp, &st->session, &id,
                                             &body, 1);
    }

    r->read_event_handler = ngx_http_block_reading;

    if (ngx_http_confhaven_sse_event(st->sse, "message", &id, 0, body.data,
                                     body.len)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_confhaven_sse_last(st->sse);
}


static ngx_int_t
ngx_http_confhaven_mcp_new_session(ngx_http_confhaven_mcp_http_t *st,
    ngx_http_confhaven_mcp_call_t *call)
{
    ngx_int_t                        rc;
    ngx_str_t                        client;
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

    if (ngx_http_confhaven_client_key(r->connection, r->pool, &client)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    rc = ngx_http_confhaven_mcp_session_create(&chmcf->mcp.zone,
                                               call->version,
                                               st->session.data,
                                               &client, 0,
                                               r->connection->log);
    if (rc != NGX_OK) {
        st->session.len = 0;
        return rc;
    }

    st->session.len = NGX_HTTP_CONFHAVEN_MCP_SESSION_ID_LEN;

    /* which assistant: initialize's clientInfo.name, for the analytics */
    ngx_http_confhaven_mcp_client_name_keep(call, &st->session);
    if (ngx_http_confhaven_mcp_apps_client(call)) {
        (void) ngx_http_confhaven_mcp_session_set_extensions(&chmcf->mcp.zone,
                                              &st->session,
                                              NGX_HTTP_CONFHAVEN_MCP_EXT_APPS);
    }

    ctx = ngx_http_confhaven_get_ctx(r);
    ctx->mcp_vars.session = st->session;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "confhaven mcp: session %V, version %V", &st->session,
                   ngx_http_confhaven_mcp_version_name(call->version));

    st->session_header = 1;

    return ngx_http_confhaven_mcp_add_header(r, "Mcp-Session-Id",
                                            &st->session);
}


/* NGX_OK: the answer waits for Redis (see the caller) */

static ngx_int_t
ngx_http_confhaven_mcp_created_sync(ngx_http_confhaven_mcp_http_t *st)
{
    ngx_pool_cleanup_t              *cln;
    ngx_http_request_t              *r;
    ngx_http_confhaven_ctx_t        *ctx;
    ngx_http_confhaven_main_conf_t  *chmcf;

    r = st->r;
    chmcf = ngx_http_get_module_main_conf(r, ngx_http_confhaven_module);

    if (!ngx_http_confhaven_mcp_cluster_ready(&chmcf->mcp)) {
        return NGX_DECLINED;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_DECLINED;
    }

    st->sync.handler = ngx_http_confhaven_mcp_created_synced;
    st->sync.data = st;

    ctx = ngx_http_get_module_ctx(r, ngx_http_confhaven_module);
    st->sync.trace = ctx ? ctx->env.trace : NULL;

    if (ngx_http_confhaven_mcp_cluster_sync(&chmcf->mcp, &st->sync)
        != NGX_OK)
    {
        return NGX_DECLINED;
    }

    cln->handler = ngx_http_confhaven_mcp_created_cleanup;
    cln->data = st;

    /* the caller's NGX_DONE gives this share back */
    r->main->count++;

    return NGX_OK;
}


static void
ngx_http_confhaven_mcp_created_synced(void *data)
{
    ngx_http_confhaven_mcp_http_t  *st = data;

    ngx_int_t            rc;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = st->r;
    c = r->connection;

    rc = ngx_http_confhaven_mcp_respond(st);

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


static void
ngx_http_confhaven_mcp_created_cleanup(void *data)
{
    ngx_http_confhaven_mcp_http_t  *st = data;

    ngx_http_confhaven_mcp_cluster_sync_cancel(&st->sync);
}


/* --------------------------------------------------------------- output */


/*
 * confhaven_mcp_max_body_size, apart from client_max_body_size: what
 * jansson may parse.  NGX_OK when len (the Content-Length, -1 when there
 * is none, or the body read) is within it; else the body is discarded
 * (when not read yet), a 413 with a JSON-RPC error went out and *rc has
 * what finalize gets.
 */

ngx_int_t
ngx_http_confhaven_transport_http_body_limit(ngx_http_request_t *r, off_t len,
    ngx_int_t *rc)
{
    u_char                          buf[96];
    ngx_http_confhaven_loc_conf_t  *chlcf;

    chlcf = ngx_http_get_module_loc_conf(r, ngx_http_confhaven_module);

    if (len <= (off_t) chlcf->mcp.max_body_size) {
        return NGX_OK;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "confhaven mcp: a body of %O bytes refused "
                  "(confhaven_mcp_max_body_size %uz)", len,
                  chlcf->mcp.max_body_size);

    if (r->request_body == NULL) {
        *rc = ngx_http_discard_request_body(r);

        if (*rc != NGX_OK) {
            return NGX_DECLINED;
        }
    }

    *ngx_snprintf(buf, sizeof(buf) - 1,
                  "Request too large: a JSON-RPC body holds at most %uz "
                  "bytes", chlcf->mcp.max_body_size) = '\0';

    *rc = ngx_http_confhaven_transport_http_error(r,
              NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
              NGX_HTTP_CONFHAVEN_MCP_INVALID_REQUEST, (char *) buf, NULL,
              NULL);

    return NGX_DECLINED;
}


static ngx_int_t
ngx_http_confhaven_mcp_send(ngx_http_request_t *r, ngx_uint_t status,
    json_t *msg)
{
    ngx_str_t  body;

    if (msg == NULL) {
        return ngx_http_confhaven_transport_http_empty(r, NGX_HTTP_ACCEPTED);
    }

    /* json_dump() releases a reference; the pool keeps its own */
    if (ngx_http_confhaven_json_dump(r, json_incref(msg), &body) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_confhaven_send_json(r, status, &body);
}


/* takes data */

ngx_int_t
ngx_http_confhaven_transport_http_error(ngx_http_request_t *r,
    ngx_uint_t status, ngx_int_t code, const char *message, json_t *id,
    json_t *data)
{
    json_t                    *msg;
    ngx_http_confhaven_ctx_t  *ctx;

    ctx = ngx_http_confhaven_get_ctx(r);
    if (ctx && ctx->error.len == 0) {
        ngx_str_set(&ctx->error, "jsonrpc_error");
    }

    msg = ngx_http_confhaven_mcp_error_message(id, code, message, data);

    if (msg == NULL || ngx_http_confhaven_json_own(r->pool, msg) != NGX_OK) {
        json_decref(msg);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_confhaven_mcp_send(r, status, msg);
}


/*
 * No session could be made (rc of ngx_http_confhaven_mcp_session_create()):
 * 503 and Retry-After, as limit_conn would answer, with a JSON-RPC error
 * saying which limit was met.
 */

ngx_int_t
ngx_http_confhaven_transport_http_busy(ngx_http_request_t *r, ngx_int_t rc,
    json_t *id)
{
    const char       *message;
    ngx_table_elt_t  *h;

    switch (rc) {

    case NGX_DECLINED:
        message = "Too many sessions from this address: end unused ones "
                  "(DELETE) or retry later";
        break;

    case NGX_BUSY:
        message = "The server has no room for another session now: "
                  "retry later";
        break;

    default:
        return ngx_http_confhaven_transport_http_error(r,
                   NGX_HTTP_SERVICE_UNAVAILABLE,
                   NGX_HTTP_CONFHAVEN_MCP_INTERNAL_ERROR,
                   "Internal error: no session could be created", id, NULL);
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Retry-After");
    ngx_str_set(&h->value, NGX_HTTP_CONFHAVEN_MCP_RETRY_AFTER);

    return ngx_http_confhaven_transport_http_error(r,
                                             NGX_HTTP_SERVICE_UNAVAILABLE,
                                             NGX_HTTP_CONFHAVEN_MCP_SERVER_BUSY,
                                             message, id, NULL);
}


ngx_int_t
ngx_http_confhaven_transport_http_empty(ngx_http_request_t *r,
    ngx_uint_t status)
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


/*
 * What the client takes (ACCEPT_JSON, ACCEPT_SSE) and which it prefers:
 * the higher q-value, then the range listed first; a type named outright
 * counts before "text/" + "*", "application/" + "*" and "*" + "/" + "*".
 */

static ngx_uint_t
ngx_http_confhaven_mcp_accept(ngx_http_request_t *r)
{
    u_char           *p, *last, *end, *semi, *q, *tlast;
    size_t            tlen;
    ngx_int_t         qv, n, jq, sq, jpos, spos, rank, jrank, srank;
    ngx_uint_t        pos, accept;
    ngx_table_elt_t  *h;

    h = ngx_http_confhaven_header_in(r, "Accept", sizeof("Accept") - 1);
    if (h == NULL) {
        return 0;
    }

    /* -1: not listed; rank 3 explicit, 2 type wildcard, 1 any */
    jq = -1;
    sq = -1;
    jpos = 0;
    spos = 0;
    jrank = 0;
    srank = 0;

    p = h->value.data;
    last = p + h->value.len;

    for (pos = 0; p < last; pos++, p = end + 1) {

        end = ngx_strlchr(p, last, ',');
        if (end == NULL) {
            end = last;
        }

        while (p < end && (*p == ' ' || *p == '\t')) {
            p++;
        }

        semi = ngx_strlchr(p, end, ';');
        tlast = semi ? semi : end;

        while (tlast > p && (tlast[-1] == ' ' || tlast[-1] == '\t')) {
            tlast--;
        }

        tlen = tlast - p;

        /* q=0.5 and the like: thousandths */
        qv = 1000;

        q = semi ? ngx_strlcasestrn(semi, end, (u_char *) "q=", 2 - 1)
                 : NULL;

        if (q) {
            q += 2;
            qv = 0;

            if (q < end && *q == '1') {
                qv = 1000;

            } else if (q < end && *q == '0') {
                q++;

                if (q < end && *q == '.') {
                    for (q++, n = 100; q < end && n && *q >= '0'
                                       && *q <= '9'; q++, n /= 10)
                    {
                        qv += (*q - '0') * n;
                    }
                }
            }
        }

        if (tlen == sizeof("application/json") - 1
            && ngx_strncasecmp(p, (u_char *) "application/json", tlen) == 0)
        {
            rank = 3;

        } else if (tlen == sizeof("text/event-stream") - 1
                   && ngx_strncasecmp(p, (u_char *) "text/event-stream",
                                      tlen)
                      == 0)
        {
            rank = -3;

        } else if (tlen == 3 && ngx_strncmp(p, "*/*", 3) == 0) {
            rank = 1;

        } else if (tlen == sizeof("application/*") - 1
                   && ngx_strncasecmp(p, (u_char *) "application/*", tlen)
                      == 0)
        {
            rank = 2;

        } else if (tlen == sizeof("text/*") - 1
                   && ngx_strncasecmp(p, (u_char *) "text/*", tlen) == 0)
        {
            rank = -2;

        } else {
            continue;
        }

        /* the most specific range decides, as RFC 9110 has it */

        if (rank > 0 && rank > jrank) {
            jq = qv;
            jpos = pos;
            jrank = rank;
        }

        if ((rank < 0 || rank == 1) && ngx_abs(rank) > srank) {
            sq = qv;
            spos = pos;
            srank = ngx_abs(rank);
        }
    }

    accept = 0;

    if (jq > 0) {
        accept |= NGX_HTTP_CONFHAVEN_MCP_ACCEPT_JSON;
    }

    if (sq > 0) {
        accept |= NGX_HTTP_CONFHAVEN_MCP_ACCEPT_SSE;

        if (sq > jq || (sq == jq && srank == 3 && (jrank < 3 || spos < jpos)))
        {
            accept |= NGX_HTTP_CONFHAVEN_MCP_PREFER_SSE;
        }
    }

    return accept;
}


ngx_int_t
ngx_http_confhaven_transport_http_not_allowed(ngx_http_request_t *r,
    const char *allow)
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

    return ngx_http_confhaven_transport_http_error(r, NGX_HTTP_NOT_ALLOWED,
               NGX_HTTP_CONFHAVEN_MCP_INVALID_REQUEST,
               "Method Not Allowed", NULL, NULL);
}


/* ------------------------------------------------------------ directives */


/* confhaven_mcp_allowed_hosts / _origins: a list of names, lowercased */

char *
ngx_http_confhaven_transport_http_set_list(ngx_conf_t *cf, ngx_command_t *cmd,
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
