
/*
 * Copyright (C) ConferenceHaven
 */


/*
 * The legacy HTTP+SSE transport of protocol 2024-11-05 (confhaven_mcp_sse
 * on), still used by many clients:
 *
 *   GET  <location>            opens the stream; its first event is
 *                              "endpoint" with <path>/messages?sessionId=ID
 *                              (the path as the client asked for it, so a
 *                              location prefix is kept)
 *   POST <path>/messages?sessionId=ID
 *                              one JSON-RPC message; 202 once its reply is
 *                              on its way to the stream as "event: message"
 *                              (202 at once for notifications), 404 when
 *                              the stream is gone
 *   POST <location>            405, so probing clients fall back to GET
 *
 * Any worker may get the POST.  The stream's session in the shared zone
 * names the worker and connection holding it; a reply made elsewhere is
 * queued in that worker's mailbox in the zone, and a worker drains its
 * mailbox every NGX_HTTP_CONFHAVEN_MCP_SSE_DRAIN ms, a timer armed only
 * while it holds streams.  Each reply is queued once and taken out once,
 * under the zone's mutex, by the worker it names: delivered exactly once,
 * or dropped (and logged) if its stream has gone in the meantime.
 *
 * Any instance may get the POST too, when the instances share a Redis
 * server: the session of a stream held by another instance is found in
 * Redis before this handler runs, the call runs here, and its reply is
 * published once to the holder worker's channel; that worker writes what
 * it receives to the stream (ngx_http_confhaven_mcp_sse_deliver()), or
 * logs and drops it if the stream has gone (ngx_http_confhaven_mcp_cluster.c).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_confhaven_module.h"
#include "ngx_http_confhaven_json.h"
#include "ngx_http_confhaven_send.h"
#include "ngx_http_confhaven_mcp.h"
#include "ngx_http_confhaven_sse.h"
#include "ngx_http_confhaven_mcp_cluster.h"
#include "ngx_http_confhaven_transport.h"
#include "ngx_http_confhaven_request.h"
#include "ngx_http_confhaven_client.h"


#define NGX_HTTP_CONFHAVEN_MCP_SSE_DRAIN  20


/*
 * this worker's streams, by a tag of their own (not the connection's
 * number: the streams of one HTTP/2 connection share that), and its
 * mailbox timer
 */

typedef struct {
    ngx_rbtree_t                       rbtree;
    ngx_rbtree_node_t                  sentinel;
    ngx_uint_t                         nstreams;
    ngx_event_t                        drain;
    ngx_http_confhaven_mcp_zone_t     *zone;
    ngx_http_confhaven_mcp_main_conf_t  *mcf;
} ngx_http_confhaven_mcp_sse_worker_t;


typedef struct {
    ngx_rbtree_node_t                  node;      /* key: tag */
    ngx_uint_t                         tag;       /* the request's */
    ngx_http_confhaven_sse_t          *sse;
    ngx_http_confhaven_mcp_sse_worker_t  *worker;
    ngx_str_t                          session;
    ngx_http_confhaven_mcp_cluster_sync_t  sync;  /* registered in Redis */

    unsigned                           registered:1;
} ngx_http_confhaven_mcp_sse_stream_t;


typedef struct {
    ngx_http_confhaven_mcp_call_t      call;
    json_t                            *body;
    ngx_str_t                          session;
    ngx_uint_t                         version;
    ngx_http_confhaven_mcp_cluster_req_t  *cluster;  /* stream elsewhere */
    ngx_int_t                          published_rc;

    unsigned                           dispatching:1;
    unsigned                           answered:1;
    unsigned                           publishing:1;
    unsigned                           published:1;
} ngx_http_confhaven_mcp_sse_post_t;


static ngx_http_confhaven_mcp_sse_worker_t *ngx_http_confhaven_mcp_sse_worker(
    ngx_http_confhaven_main_conf_t *chmcf);
static ngx_int_t ngx_http_confhaven_mcp_sse_open(ngx_http_request_t *r);
static ngx_int_t ngx_http_confhaven_mcp_sse_endpoint(
    ngx_http_confhaven_mcp_sse_stream_t *st);
static void ngx_http_confhaven_mcp_sse_synced(void *data);
static ngx_int_t ngx_http_confhaven_mcp_sse_tick(
    ngx_http_confhaven_sse_t *sse);
static void ngx_http_confhaven_mcp_sse_cleanup(void *data);
static ngx_http_confhaven_mcp_sse_stream_t *ngx_http_confhaven_mcp_sse_lookup(
    ngx_http_confhaven_mcp_sse_worker_t *w, ngx_uint_t tag);
static ngx_int_t ngx_http_confhaven_mcp_sse_send(
    ngx_http_confhaven_mcp_sse_stream_t *st, u_char *data, size_t len);
static void ngx_http_confhaven_mcp_sse_drain_handler(ngx_event_t *ev);
static void ngx_http_confhaven_mcp_sse_deliver(void *data, ngx_str_t *id,
    ngx_str_t *msg, ngx_log_t *log);
static ngx_int_t ngx_http_confhaven_mcp_sse_post(ngx_http_request_t *r);
static void ngx_http_confhaven_mcp_sse_post_body(ngx_http_request_t *r);
static void ngx_http_confhaven_mcp_sse_post_done(
    ngx_http_confhaven_mcp_call_t *call);
static ngx_int_t ngx_http_confhaven_mcp_sse_reply(
    ngx_http_confhaven_mcp_sse_post_t *ps);
static ngx_int_t ngx_http_confhaven_mcp_sse_publish(
    ngx_http_confhaven_mcp_sse_post_t *ps, ngx_str_t *body);
static void ngx_http_confhaven_mcp_sse_published(void *data,
    ngx_int_t receivers);


ngx_int_t
ngx_http_confhaven_transport_sse_handler(ngx_http_request_t *r)
{
    ngx_int_t                  rc;
    ngx_uint_t                 messages;
    ngx_http_confhaven_ctx_t  *ctx;

    ctx = ngx_http_confhaven_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_str_set(&ctx->route, "mcp_sse");

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
                   "Forbidden: Host or Origin is not allowed", NULL, NULL);
    }

    messages = r->uri.len >= sizeof("/messages") - 1
               && ngx_strncmp(r->uri.data + r->uri.len
                              - (sizeof("/messages") - 1),
                              "/messages", sizeof("/messages") - 1)
                  == 0;

    if (messages) {
        if (r->method == NGX_HTTP_POST) {
            return ngx_http_confhaven_mcp_sse_post(r);
        }

        return ngx_http_confhaven_transport_http_not_allowed(r, "POST");
    }

    if (r->method == NGX_HTTP_GET) {
        return ngx_http_confhaven_mcp_sse_open(r);
    }

    /* a client probing for Streamable HTTP falls back to GET on 405 */
    return ngx_http_confhaven_transport_http_not_allowed(r, "GET");
}


static ngx_http_confhaven_mcp_sse_worker_t *
ngx_http_confhaven_mcp_sse_worker(ngx_http_confhaven_main_conf_t *chmcf)
{
    ngx_http_confhaven_mcp_sse_worker_t  *w;

    if (chmcf->mcp_sse_worker) {
        return chmcf->mcp_sse_worker;
    }

    w = ngx_pcalloc(ngx_cycle->pool,
                    sizeof(ngx_http_confhaven_mcp_sse_worker_t));
    if (w == NULL) {
        return NULL;
    }

    ngx_rbtree_init(&w->rbtree, &w->sentinel, ngx_rbtree_insert_value);

    w->zone = &chmcf->mcp.zone;
    w->mcf = &chmcf->mcp;
    w->drain.handler = ngx_http_confhaven_mcp_sse_drain_handler;
    w->drain.data = w;
    w->drain.log = ngx_cycle->log;
    w->drain.cancelable = 1;

    chmcf->mcp_sse_worker = w;

    return w;
}


/* ---------------------------------------------------------------- GET */


static ngx_int_t
ngx_http_confhaven_mcp_sse_open(ngx_http_request_t *r)
{
    u_char                               *id;
    ngx_int_t                             rc;
    ngx_str_t                             key, cred, client;
    ngx_pool_cleanup_t                   *cln;
    ngx_http_confhaven_ctx_t             *ctx;
    ngx_http_confhaven_loc_conf_t        *chlcf;
    ngx_http_confhaven_main_conf_t       *chmcf;
    ngx_http_confhaven_mcp_sse_worker_t  *w;
    ngx_http_confhaven_mcp_sse_stream_t  *st;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    chmcf = ngx_http_get_module_main_conf(r, ngx_http_confhaven_module);
    chlcf = ngx_http_get_module_loc_conf(r, ngx_http_confhaven_module);

    w = ngx_http_confhaven_mcp_sse_worker(chmcf);
    st = ngx_pcalloc(r->pool, sizeof(ngx_http_confhaven_mcp_sse_stream_t));
    id = ngx_pnalloc(r->pool, NGX_HTTP_CONFHAVEN_MCP_SESSION_ID_LEN);
    cln = ngx_pool_cleanup_add(r->pool, 0);

    if (w == NULL || st == NULL || id == NULL || cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    st->tag = ngx_http_confhaven_mcp_session_request_tag();

    /* created bound to this stream: nothing to undo if binding failed */

    if (ngx_http_confhaven_client_key(r->connection, r->pool, &client)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_confhaven_mcp_session_create(&chmcf->mcp.zone,
                                        NGX_HTTP_CONFHAVEN_MCP_V2024_11_05,
                                        id, &client,
                                        st->tag, r->connection->log);
    if (rc != NGX_OK) {
        return ngx_http_confhaven_transport_http_busy(r, rc, NULL);
    }

    st->session.data = id;
    st->session.len = NGX_HTTP_CONFHAVEN_MCP_SESSION_ID_LEN;

    /*
     * An organizer key on the stream's request authorizes the tool calls
     * POSTed to its session: the session keeps its credential (prefix and
     * SHA-256), never the key; the database checks it on every call.
     */
    if (ngx_http_confhaven_op_header_key(&r->headers_in.headers,
                                         r->headers_in.authorization, &key)
        == NGX_OK)
    {
        if (ngx_http_confhaven_op_key_credential(r->pool, &key, &cred)
            != NGX_OK)
        {
            (void) ngx_http_confhaven_mcp_session_delete(&chmcf->mcp.zone,
                                                         &st->session);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        (void) ngx_http_confhaven_mcp_session_set_client(&chmcf->mcp.zone,
                                                         &st->session, &cred,
                                                         NULL);
    }

    st->worker = w;
    st->node.key = st->tag;

    cln->handler = ngx_http_confhaven_mcp_sse_cleanup;
    cln->data = st;

    ngx_rbtree_insert(&w->rbtree, &st->node);
    st->registered = 1;
    w->nstreams++;

    if (!w->drain.timer_set) {
        ngx_add_timer(&w->drain, NGX_HTTP_CONFHAVEN_MCP_SSE_DRAIN);
    }

    ctx = ngx_http_confhaven_get_ctx(r);
    ctx->mcp_vars.session = st->session;

    st->sse = ngx_http_confhaven_sse_create(r);
    if (st->sse == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    st->sse->data = st;
    st->sse->tick = ngx_http_confhaven_mcp_sse_tick;

    if (ngx_http_confhaven_sse_start(st->sse) != NGX_OK) {
        return NGX_ERROR;
    }

    /*
     * In a cluster, the endpoint event waits until Redis has run the
     * stream's registration (sent when the session was created): Redis
     * does not run two connections' commands in the order they were
     * sent, so a client POSTing to another instance at once could
     * otherwise be told the session does not exist.
     */

    st->sync.handler = ngx_http_confhaven_mcp_sse_synced;
    st->sync.data = st;
    st->sync.trace = ctx->env.trace;

    if ((ngx_http_confhaven_mcp_cluster_sync(&chmcf->mcp, &st->sync)
         != NGX_OK
         && ngx_http_confhaven_mcp_sse_endpoint(st) != NGX_OK)
        || ngx_http_confhaven_sse_hold(st->sse, chlcf->mcp.sse_keepalive)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "confhaven mcp: legacy SSE stream %V opened",
                  &st->session);

    return NGX_DONE;
}


/*
 * "event: endpoint", data: the POST path, our location's as nginx
 * normalized it (not the raw request line: "//evil.example/../sse" would
 * send the client's messages to another host), one leading slash,
 * escaped again.
 */

static ngx_int_t
ngx_http_confhaven_mcp_sse_endpoint(ngx_http_confhaven_mcp_sse_stream_t *st)
{
    u_char              *p, *path, *last;
    size_t               len;
    uintptr_t            escape;
    ngx_http_request_t  *r;

    r = st->sse->r;

    path = r->uri.data;
    last = path + r->uri.len;

    while (last - path > 1 && path[1] == '/') {
        path++;
    }

    while (last > path && last[-1] == '/') {
        last--;
    }

    escape = 2 * ngx_escape_uri(NULL, path, last - path, NGX_ESCAPE_URI);

    len = (last - path) + escape + sizeof("/messages?sessionId=") - 1
          + st->session.len;

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    (void) ngx_escape_uri(p, path, last - path, NGX_ESCAPE_URI);

    ngx_sprintf(p + (last - path) + escape, "/messages?sessionId=%V",
                &st->session);

    return ngx_http_confhaven_sse_event(st->sse, "endpoint", NULL, 0, p, len);
}


/* Redis has run the stream's registration, or did not answer in time */

static void
ngx_http_confhaven_mcp_sse_synced(void *data)
{
    ngx_http_confhaven_mcp_sse_stream_t  *st = data;

    ngx_connection_t  *c;

    if (st->sse->finished) {
        return;
    }

    if (ngx_http_confhaven_mcp_sse_endpoint(st) == NGX_OK) {
        return;
    }

    c = st->sse->r->connection;

    ngx_http_confhaven_sse_finish(st->sse, NGX_ERROR);
    ngx_http_run_posted_requests(c);
}


/* each keep-alive: the session must still exist (and stays alive) */

static ngx_int_t
ngx_http_confhaven_mcp_sse_tick(ngx_http_confhaven_sse_t *sse)
{
    ngx_http_confhaven_mcp_sse_stream_t  *st = sse->data;

    ngx_uint_t  version;

    version = ngx_http_confhaven_mcp_session_sse_find(st->worker->zone,
                                                      &st->session);

    if (version) {
        /* other instances keep knowing it (again, after a Redis outage) */
        ngx_http_confhaven_mcp_cluster_bind(st->worker->mcf, &st->session,
                                            version);
        return NGX_OK;
    }

    ngx_log_error(NGX_LOG_INFO, sse->r->connection->log, 0,
                  "confhaven mcp: legacy SSE session %V is gone",
                  &st->session);

    ngx_http_confhaven_sse_finish(sse, NGX_OK);

    return NGX_DONE;
}


static void
ngx_http_confhaven_mcp_sse_cleanup(void *data)
{
    ngx_http_confhaven_mcp_sse_stream_t  *st = data;

    ngx_queue_t                           mail;
    ngx_http_confhaven_mcp_sse_worker_t  *w;

    w = st->worker;

    ngx_http_confhaven_mcp_cluster_sync_cancel(&st->sync);

    if (!st->registered) {
        return;
    }

    st->registered = 0;

    /* (a debug build's ngx_rbtree_delete() zeroes node.key) */
    ngx_rbtree_delete(&w->rbtree, &st->node);
    w->nstreams--;

    ngx_http_confhaven_mcp_session_sse_unbind(w->zone, &st->session, st->tag);

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "confhaven mcp: legacy SSE stream %V closed",
                   &st->session);

    if (w->nstreams) {
        return;
    }

    /* the last stream: the timer stops, and mail left for us goes */

    if (w->drain.timer_set) {
        ngx_del_timer(&w->drain);
    }

    ngx_queue_init(&mail);
    ngx_http_confhaven_mcp_session_sse_drain(w->zone, &mail);

    if (!ngx_queue_empty(&mail)) {
        ngx_http_confhaven_mcp_session_sse_free(w->zone, &mail);
    }
}


static ngx_http_confhaven_mcp_sse_stream_t *
ngx_http_confhaven_mcp_sse_lookup(ngx_http_confhaven_mcp_sse_worker_t *w,
    ngx_uint_t tag)
{
    ngx_rbtree_node_t  *node, *sentinel;

    node = w->rbtree.root;
    sentinel = w->rbtree.sentinel;

    while (node != sentinel) {

        if (tag < node->key) {
            node = node->left;
            continue;
        }

        if (tag > node->key) {
            node = node->right;
            continue;
        }

        return (ngx_http_confhaven_mcp_sse_stream_t *) node;
    }

    return NULL;
}


/* one reply on a stream of this worker; NGX_ERROR: the stream ended */

static ngx_int_t
ngx_http_confhaven_mcp_sse_send(ngx_http_confhaven_mcp_sse_stream_t *st,
    u_char *data, size_t len)
{
    ngx_connection_t  *c;

    if (ngx_http_confhaven_sse_event(st->sse, "message", NULL, 0, data, len)
        == NGX_OK)
    {
        return NGX_OK;
    }

    c = st->sse->r->connection;

    ngx_http_confhaven_sse_finish(st->sse, NGX_ERROR);
    ngx_http_run_posted_requests(c);

    return NGX_ERROR;
}


static void
ngx_http_confhaven_mcp_sse_drain_handler(ngx_event_t *ev)
{
    ngx_http_confhaven_mcp_sse_worker_t  *w = ev->data;

    ngx_queue_t                          mail, *q;
    ngx_http_confhaven_mcp_mail_t       *m;
    ngx_http_confhaven_mcp_sse_stream_t *st;

    ngx_queue_init(&mail);
    ngx_http_confhaven_mcp_session_sse_drain(w->zone, &mail);

    for (q = ngx_queue_head(&mail);
         q != ngx_queue_sentinel(&mail);
         q = ngx_queue_next(q))
    {
        m = ngx_queue_data(q, ngx_http_confhaven_mcp_mail_t, queue);

        st = ngx_http_confhaven_mcp_sse_lookup(w, m->tag);

        if (st == NULL || ngx_http_confhaven_mcp_sse_send(st, m->data, m->len)
                          != NGX_OK)
        {
            ngx_log_error(NGX_LOG_INFO, ev->log, 0,
                          "confhaven mcp: a reply for a closed legacy SSE "
                          "stream is dropped");
        }
    }

    if (!ngx_queue_empty(&mail)) {
        ngx_http_confhaven_mcp_session_sse_free(w->zone, &mail);
    }

    if (w->nstreams && !w->drain.timer_set) {
        ngx_add_timer(&w->drain, NGX_HTTP_CONFHAVEN_MCP_SSE_DRAIN);
    }
}


/* --------------------------------------------------------------- POST */


static ngx_int_t
ngx_http_confhaven_mcp_sse_post(ngx_http_request_t *r)
{
    ngx_int_t                              rc;
    ngx_str_t                             *type, sid;
    ngx_uint_t                             version;
    ngx_http_confhaven_ctx_t              *ctx;
    ngx_http_confhaven_main_conf_t        *chmcf;
    ngx_http_confhaven_mcp_sse_post_t     *ps;
    ngx_http_confhaven_mcp_cluster_req_t  *cx;

    chmcf = ngx_http_get_module_main_conf(r, ngx_http_confhaven_module);

    type = r->headers_in.content_type ? &r->headers_in.content_type->value
                                      : NULL;

    if (type == NULL
        || type->len < sizeof("application/json") - 1
        || ngx_strncasecmp(type->data, (u_char *) "application/json",
                           sizeof("application/json") - 1) != 0)
    {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_confhaven_transport_http_error(r, NGX_HTTP_BAD_REQUEST,
                   NGX_HTTP_CONFHAVEN_MCP_INVALID_REQUEST,
                   "Bad Request: Content-Type must be application/json",
                   NULL, NULL);
    }

    if (ngx_http_arg(r, (u_char *) "sessionId", sizeof("sessionId") - 1,
                     &sid)
        != NGX_OK)
    {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_confhaven_transport_http_error(r, NGX_HTTP_BAD_REQUEST,
                   NGX_HTTP_CONFHAVEN_MCP_BAD_REQUEST,
                   "Bad Request: the sessionId query parameter is "
                   "required (the endpoint event of the stream names it)",
                   NULL, NULL);
    }

    version = ngx_http_confhaven_mcp_session_sse_find(&chmcf->mcp.zone, &sid);

    cx = NULL;

    if (version == 0) {
        /* a stream of another instance, as Redis said */
        ctx = ngx_http_get_module_ctx(r, ngx_http_confhaven_module);
        cx = ngx_http_confhaven_mcp_cluster_remote(ctx ? ctx->mcp_cluster
                                                       : NULL);
        if (cx) {
            version = cx->version;
        }
    }

    if (version == 0) {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_confhaven_transport_http_error(r, NGX_HTTP_NOT_FOUND,
                   NGX_HTTP_CONFHAVEN_MCP_SESSION_NOT_FOUND,
                   "Session not found: open a new stream with GET",
                   NULL, NULL);
    }

    if (ngx_http_confhaven_transport_http_body_limit(r,
                                          r->headers_in.content_length_n, &rc)
        != NGX_OK)
    {
        return rc;
    }

    ps = ngx_pcalloc(r->pool, sizeof(ngx_http_confhaven_mcp_sse_post_t));
    if (ps == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ps->session = sid;
    ps->version = version;
    ps->cluster = cx;

    ctx = ngx_http_confhaven_get_ctx(r);
    ctx->mcp = ps;
    ctx->mcp_vars.session = sid;

    r->request_body_in_single_buf = 1;

    rc = ngx_http_read_client_request_body(r,
                                        ngx_http_confhaven_mcp_sse_post_body);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


static void
ngx_http_confhaven_mcp_sse_post_body(ngx_http_request_t *r)
{
    ngx_int_t                           rc;
    ngx_str_t                           body, err;
    ngx_http_confhaven_ctx_t           *ctx;
    ngx_http_confhaven_mcp_call_t      *call;
    ngx_http_confhaven_mcp_sse_post_t  *ps;

    ctx = ngx_http_confhaven_get_ctx(r);
    ps = ctx->mcp;

    rc = ngx_http_confhaven_request_body(r, &body);
    if (rc != NGX_OK) {
        ngx_http_finalize_request(r, rc);
        return;
    }

    if (ngx_http_confhaven_transport_http_body_limit(r, body.len, &rc)
        != NGX_OK)
    {
        ngx_http_finalize_request(r, rc);
        return;
    }

    rc = ngx_http_confhaven_mcp_parse(r, body.data, body.len, &ps->body,
                                      &err);
    if (rc == NGX_ERROR) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (rc == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "confhaven mcp: %V", &err);

        ngx_http_finalize_request(r,
            ngx_http_confhaven_transport_http_error(r, NGX_HTTP_BAD_REQUEST,
                                        NGX_HTTP_CONFHAVEN_MCP_PARSE_ERROR,
                                        (char *) err.data, NULL, NULL));
        return;
    }

    if (json_is_array(ps->body)) {
        ngx_http_finalize_request(r,
            ngx_http_confhaven_transport_http_error(r, NGX_HTTP_BAD_REQUEST,
                NGX_HTTP_CONFHAVEN_MCP_INVALID_REQUEST,
                "Invalid Request: one JSON-RPC message per POST on this "
                "transport", NULL, NULL));
        return;
    }

    call = &ps->call;
    ngx_http_confhaven_transport_http_call_init(r, call);
    call->version = ps->version;
    call->session = ps->session;
    call->done = ngx_http_confhaven_mcp_sse_post_done;
    call->data = ps;

    if (ngx_http_confhaven_mcp_validate(call, ps->body) != NGX_OK) {
        /* the error names the problem; it is not for the stream */
        if (call->response == NULL
            || ngx_http_confhaven_json_dump(r, json_incref(call->response),
                                            &body)
               != NGX_OK)
        {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        ngx_http_finalize_request(r,
            ngx_http_confhaven_send_json(r, NGX_HTTP_BAD_REQUEST, &body));
        return;
    }

    if (call->method.len == 0) {
        /* a response to a server request: we send none */
        ngx_http_finalize_request(r,
            ngx_http_confhaven_transport_http_empty(r, NGX_HTTP_ACCEPTED));
        return;
    }

    /*
     * The reference ngx_http_confhaven_mcp_sse_post_done() releases.  A
     * call that finishes while we dispatch is only recorded there, and
     * answered here (a callback never finalizes a request whose handler
     * is still on the stack).
     */
    r->main->count++;
    ps->dispatching = 1;

    ngx_http_confhaven_mcp_dispatch(call);

    ps->dispatching = 0;

    if (ps->answered) {
        r->main->count--;
        ngx_http_finalize_request(r, ngx_http_confhaven_mcp_sse_reply(ps));
        return;
    }

    ngx_http_finalize_request(r, NGX_DONE);
}


static void
ngx_http_confhaven_mcp_sse_post_done(ngx_http_confhaven_mcp_call_t *call)
{
    ngx_http_confhaven_mcp_sse_post_t  *ps = call->data;

    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    if (ps->dispatching) {
        ps->answered = 1;
        return;
    }

    r = call->r;
    c = r->connection;

    /* ps lives in r->pool: the finalization may free it */

    ngx_http_finalize_request(r, ngx_http_confhaven_mcp_sse_reply(ps));
    ngx_http_run_posted_requests(c);
}


/* the reply goes to the stream (here or in another worker), then 202 */

static ngx_int_t
ngx_http_confhaven_mcp_sse_reply(ngx_http_confhaven_mcp_sse_post_t *ps)
{
    json_t                               *msg;
    ngx_int_t                             rc;
    ngx_str_t                             body;
    ngx_uint_t                            tag;
    ngx_http_request_t                   *r;
    ngx_http_confhaven_mcp_call_t        *call;
    ngx_http_confhaven_main_conf_t       *chmcf;
    ngx_http_confhaven_mcp_sse_stream_t  *st;

    call = &ps->call;
    r = call->r;
    chmcf = ngx_http_get_module_main_conf(r, ngx_http_confhaven_module);

    msg = call->response;

    if (call->status == NGX_HTTP_INTERNAL_SERVER_ERROR && !call->notification)
    {
        msg = ngx_http_confhaven_mcp_error_message(call->id,
                  NGX_HTTP_CONFHAVEN_MCP_INTERNAL_ERROR, "Internal error",
                  NULL);

        if (msg == NULL
            || ngx_http_confhaven_json_own(r->pool, msg) != NGX_OK)
        {
            json_decref(msg);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (msg == NULL) {
        return ngx_http_confhaven_transport_http_empty(r, NGX_HTTP_ACCEPTED);
    }

    if (call->method.len == sizeof("initialize") - 1
        && ngx_strncmp(call->method.data, "initialize", call->method.len)
           == 0
        && json_object_get(msg, "result"))
    {
        (void) ngx_http_confhaven_mcp_session_set_version(&chmcf->mcp.zone,
                                                          &ps->session,
                                                          call->version);

        /* MCP Apps, if the client announced it (mcp_apps.c) */
        (void) ngx_http_confhaven_mcp_session_set_extensions(
                   &chmcf->mcp.zone, &ps->session,
                   ngx_http_confhaven_mcp_apps_client(call)
                   ? NGX_HTTP_CONFHAVEN_MCP_EXT_APPS : 0);
    }

    if (msg == call->response) {
        /* a result cached as sent is spliced, not parsed */
        if (ngx_http_confhaven_mcp_response_text(call, &body) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

    } else if (ngx_http_confhaven_json_dump(r, json_incref(msg), &body)
               != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ps->cluster) {
        return ngx_http_confhaven_mcp_sse_publish(ps, &body);
    }

    rc = ngx_http_confhaven_mcp_session_sse_route(&chmcf->mcp.zone,
                                                  &ps->session, &body, &tag,
                                                  r->connection->log);

    if (rc == NGX_OK) {
        st = chmcf->mcp_sse_worker
             ? ngx_http_confhaven_mcp_sse_lookup(chmcf->mcp_sse_worker, tag)
             : NULL;

        if (st && ngx_http_confhaven_mcp_sse_send(st, body.data, body.len)
                  == NGX_OK)
        {
            return ngx_http_confhaven_transport_http_empty(r,
                                                           NGX_HTTP_ACCEPTED);
        }

        rc = NGX_DECLINED;
    }

    if (rc == NGX_DONE) {
        return ngx_http_confhaven_transport_http_empty(r, NGX_HTTP_ACCEPTED);
    }

    if (rc == NGX_DECLINED) {
        return ngx_http_confhaven_transport_http_error(r, NGX_HTTP_NOT_FOUND,
                   NGX_HTTP_CONFHAVEN_MCP_SESSION_NOT_FOUND,
                   "Session not found: the stream has ended; open a new "
                   "one with GET", NULL, NULL);
    }

    return ngx_http_confhaven_transport_http_error(r,
               NGX_HTTP_SERVICE_UNAVAILABLE,
               NGX_HTTP_CONFHAVEN_MCP_INTERNAL_ERROR,
               "Internal error: the reply could not be queued", call->id,
               NULL);
}


/* the reply goes to the instance holding the stream, once */

static ngx_int_t
ngx_http_confhaven_mcp_sse_publish(ngx_http_confhaven_mcp_sse_post_t *ps,
    ngx_str_t *body)
{
    ngx_int_t            rc;
    ngx_http_request_t  *r;

    r = ps->call.r;

    /*
     * Taken first: the answer may come before publish() returns (a write
     * error when the command is flushed fails it at once).  It is then
     * only recorded, and returned from here, as the cache does.
     */
    r->main->count++;
    ps->publishing = 1;
    ps->published = 0;

    rc = ngx_http_confhaven_mcp_cluster_publish(ps->cluster, body,
                                          ngx_http_confhaven_mcp_sse_published,
                                          ps);
    ps->publishing = 0;

    if (rc == NGX_OK) {
        if (ps->published) {
            r->main->count--;
            return ps->published_rc;
        }

        return NGX_DONE;
    }

    r->main->count--;

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* not sent: the client may retry */

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "confhaven mcp: Redis is unavailable, the reply for legacy "
                  "SSE stream %V of another instance is not sent",
                  &ps->session);

    return ngx_http_confhaven_transport_http_error(r,
               NGX_HTTP_SERVICE_UNAVAILABLE,
               NGX_HTTP_CONFHAVEN_MCP_INTERNAL_ERROR,
               "Internal error: the stream is held by another instance, "
               "which cannot be reached now; retry", ps->call.id, NULL);
}


static void
ngx_http_confhaven_mcp_sse_published(void *data, ngx_int_t receivers)
{
    ngx_http_confhaven_mcp_sse_post_t  *ps = data;

    ngx_int_t            rc;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = ps->call.r;
    c = r->connection;

    if (receivers < 0 && ps->publishing) {
        /* the connection failed while the command was written: not sent */
        ngx_log_error(NGX_LOG_WARN, c->log, 0,
                      "confhaven mcp: Redis failed, the reply for legacy "
                      "SSE stream %V of another instance is not sent",
                      &ps->session);

        rc = ngx_http_confhaven_transport_http_error(r,
                 NGX_HTTP_SERVICE_UNAVAILABLE,
                 NGX_HTTP_CONFHAVEN_MCP_INTERNAL_ERROR,
                 "Internal error: the stream is held by another instance, "
                 "which cannot be reached now; retry", ps->call.id, NULL);

    } else if (receivers == 0) {
        ngx_log_error(NGX_LOG_INFO, c->log, 0,
                      "confhaven mcp: the worker holding legacy SSE stream "
                      "%V is gone", &ps->session);

        rc = ngx_http_confhaven_transport_http_error(r, NGX_HTTP_NOT_FOUND,
                 NGX_HTTP_CONFHAVEN_MCP_SESSION_NOT_FOUND,
                 "Session not found: the stream has ended; open a new "
                 "one with GET", NULL, NULL);

    } else {
        if (receivers < 0) {
            /* it may have been delivered: it is not sent again */
            ngx_log_error(NGX_LOG_WARN, c->log, 0,
                          "confhaven mcp: no answer from Redis to the "
                          "reply for legacy SSE stream %V; it may be lost",
                          &ps->session);
        }

        rc = ngx_http_confhaven_transport_http_empty(r, NGX_HTTP_ACCEPTED);
    }

    if (ps->publishing) {
        ps->published_rc = rc;
        ps->published = 1;
        return;
    }

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


/* the cluster hands this worker's published replies to the transport */

void
ngx_http_confhaven_transport_sse_init_process(ngx_cycle_t *cycle,
    ngx_http_confhaven_main_conf_t *chmcf)
{
    ngx_http_confhaven_mcp_cluster_on_deliver(&chmcf->mcp,
                                    ngx_http_confhaven_mcp_sse_deliver, chmcf);
}


/*
 * A reply another instance published for a stream of this worker (or,
 * through the mailbox, of another worker of this instance): the cluster's
 * deliver callback, data is the module's main conf.
 */

static void
ngx_http_confhaven_mcp_sse_deliver(void *data, ngx_str_t *id,
    ngx_str_t *msg, ngx_log_t *log)
{
    ngx_http_confhaven_main_conf_t *chmcf = data;

    ngx_int_t                             rc;
    ngx_uint_t                            tag;
    ngx_http_confhaven_mcp_sse_stream_t  *st;

    rc = ngx_http_confhaven_mcp_session_sse_route(&chmcf->mcp.zone, id, msg,
                                                  &tag, log);

    if (rc == NGX_DONE || rc == NGX_ERROR) {
        /* queued for the worker holding it; or logged */
        return;
    }

    if (rc == NGX_OK) {
        st = chmcf->mcp_sse_worker
             ? ngx_http_confhaven_mcp_sse_lookup(chmcf->mcp_sse_worker, tag)
             : NULL;

        if (st && ngx_http_confhaven_mcp_sse_send(st, msg->data, msg->len)
                  == NGX_OK)
        {
            return;
        }
    }

    ngx_log_error(NGX_LOG_INFO, log, 0,
                  "confhaven mcp: a reply from another instance for closed "
                  "legacy SSE stream %V is dropped", id);
}
