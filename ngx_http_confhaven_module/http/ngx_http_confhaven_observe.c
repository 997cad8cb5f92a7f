
/*
 * Copyright (C) ConferenceHaven
 */


/*
 * What an operator sees of the module's requests besides their answers:
 *
 *   - the metrics: a log-phase handler reads what the request's ctx says
 *     (route, status, cache result, error code, MCP method and tool, the
 *     wire) and counts it in the shared registry
 *     (ngx_http_confhaven_metrics.c); nothing on the request's own path
 *     changes.  confhaven_metrics serves the registry as Prometheus text,
 *     to callers with the admin key;
 *   - error-log lines that join up: every line logged for a request ends
 *     with its trace id (MCP _meta.traceparent or the traceparent header)
 *     and, for the module's requests, its $request_id, next to nginx's own
 *     ", client: ..., request: ..." (the request's log_handler, wrapped in
 *     the post-read phase).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_confhaven_module.h"
#include "ngx_http_confhaven_json.h"
#include "ngx_http_confhaven_send.h"
#include "ngx_http_confhaven_rest.h"
#include "ngx_http_confhaven_mcp.h"
#include "ngx_http_confhaven_metrics.h"
#include "ngx_http_confhaven_metrics_otlp.h"
#include "ngx_http_confhaven_observe.h"


static ngx_int_t ngx_http_confhaven_observe_post_read(ngx_http_request_t *r);
static ngx_int_t ngx_http_confhaven_observe_log(ngx_http_request_t *r);
static void ngx_http_confhaven_observe_span_end(ngx_http_request_t *r,
    ngx_http_confhaven_ctx_t *ctx);
static u_char *ngx_http_confhaven_observe_log_error(ngx_http_request_t *r,
    ngx_http_request_t *sr, u_char *buf, size_t len);


static void ngx_http_confhaven_observe_zone_stats(
    ngx_http_confhaven_main_conf_t *chmcf,
    ngx_http_confhaven_metrics_zone_stats_t *zs);


static ngx_http_log_handler_pt  ngx_http_confhaven_observe_next_log_error;


ngx_int_t
ngx_http_confhaven_observe_postconfiguration(ngx_conf_t *cf,
    ngx_uint_t metrics)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_POST_READ_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_confhaven_observe_post_read;

    if (!metrics) {
        return NGX_OK;
    }

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_confhaven_observe_log;

    return NGX_OK;
}


/* ------------------------------------------------------------ error log */


static ngx_int_t
ngx_http_confhaven_observe_post_read(ngx_http_request_t *r)
{
    if (r != r->main
        || r->log_handler == ngx_http_confhaven_observe_log_error)
    {
        return NGX_DECLINED;
    }

    /* nginx's own ngx_http_log_error_handler(), the same for every request */
    if (ngx_http_confhaven_observe_next_log_error == NULL) {
        ngx_http_confhaven_observe_next_log_error = r->log_handler;
    }

    if (r->log_handler == ngx_http_confhaven_observe_next_log_error) {
        r->log_handler = ngx_http_confhaven_observe_log_error;
    }

    return NGX_DECLINED;
}


static u_char *
ngx_http_confhaven_observe_log_error(ngx_http_request_t *r,
    ngx_http_request_t *sr, u_char *buf, size_t len)
{
    u_char                    *p;
    ngx_str_t                  trace, id;
    ngx_http_confhaven_ctx_t  *ctx;

    static ngx_uint_t  busy;

    p = ngx_http_confhaven_observe_next_log_error(r, sr, buf, len);

    /* $request_id may allocate, and a failed allocation logs */
    if (busy || (size_t) (p - buf) >= len) {
        return p;
    }

    busy = 1;

    len -= p - buf;
    buf = p;

    ctx = ngx_http_get_module_ctx(r, ngx_http_confhaven_module);

    ngx_http_confhaven_observe_trace_id(r, ctx, &trace);

    if (trace.len) {
        p = ngx_snprintf(buf, len, ", trace_id: %V", &trace);
        len -= p - buf;
        buf = p;
    }

    if (ctx) {
        ngx_http_confhaven_json_request_id(r, &id);

        if (id.len) {
            p = ngx_snprintf(buf, len, ", request_id: %V", &id);
        }
    }

    busy = 0;

    return p;
}


/*
 * The request's trace id: the MCP call's (params._meta first), else that
 * of a valid traceparent header (REST too), else, with OTLP traces on,
 * the one its spans were given; for $confhaven_trace_id and the error
 * log.  ctx may be NULL.
 */

void
ngx_http_confhaven_observe_trace_id(ngx_http_request_t *r,
    ngx_http_confhaven_ctx_t *ctx, ngx_str_t *id)
{
    u_char           *p;
    size_t            i;
    ngx_table_elt_t  *h;

    if (ctx && ctx->mcp_vars.trace_id.len) {
        *id = ctx->mcp_vars.trace_id;
        return;
    }

    id->len = 0;
    id->data = NULL;

    h = ngx_http_confhaven_header_in(r, "traceparent",
                                      sizeof("traceparent") - 1);
    if (h == NULL) {
        goto span;
    }

    /* version "-" trace-id (32 hex) "-" parent-id (16 hex) "-" flags */
    p = h->value.data;

    if (h->value.len < 55 || p[2] != '-' || p[35] != '-' || p[52] != '-') {
        goto span;
    }

    for (i = 3; i < 35; i++) {
        if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
        {
            goto span;
        }
    }

    id->data = p + 3;
    id->len = 32;

    return;

span:

    /* with OTLP traces on: the trace id the request's spans were given */
    if (ctx && ctx->env.trace) {
        p = ngx_pnalloc(r->pool, 32);
        if (p == NULL) {
            return;
        }

        id->len = ngx_hex_dump(p, ctx->env.trace->trace_id, 16) - p;
        id->data = p;
    }
}


/* ------------------------------------------------------------ traces */


/*
 * The request's server span, made with its context (get_ctx()): in the
 * client's trace when a traceparent header says so.  An MCP message's
 * params._meta may move it to another trace before any child exists.
 */

ngx_http_confhaven_span_t *
ngx_http_confhaven_observe_span(ngx_http_request_t *r)
{
    ngx_str_t         tp, ts;
    ngx_table_elt_t  *h;

    ngx_str_null(&tp);
    ngx_str_null(&ts);

    h = ngx_http_confhaven_header_in(r, "traceparent",
                                      sizeof("traceparent") - 1);
    if (h) {
        tp = h->value;

        h = ngx_http_confhaven_header_in(r, "tracestate",
                                          sizeof("tracestate") - 1);
        if (h) {
            ts = h->value;
        }
    }

    return ngx_http_confhaven_trace_server(r->pool, &tp, &ts, r->start_sec,
                                           r->start_msec);
}


/* HTTP semantic conventions, at the log phase */

static void
ngx_http_confhaven_observe_span_end(ngx_http_request_t *r,
    ngx_http_confhaven_ctx_t *ctx)
{
    u_char                     *p;
    ngx_uint_t                  status;
    ngx_http_confhaven_span_t  *span;
    u_char                      name[NGX_HTTP_CONFHAVEN_SPAN_NAME];

    span = ctx->env.trace;

    if (span->ended) {
        return;
    }

    /*
     * Unsampled, or the worker's ring is full (a collector down): the
     * span is not kept, so its attributes are not worth writing.
     */
    if (!span->sampled || ngx_http_confhaven_trace_full()) {
        ngx_http_confhaven_trace_end(span);
        return;
    }

    status = r->err_status ? r->err_status : r->headers_out.status;

    /* "{method} {route}": a route name of our own tables, never the URI */
    p = ngx_cpymem(name, r->method_name.data,
                   ngx_min(r->method_name.len, sizeof(name)));

    if (ctx->route.len && (size_t) (p - name) < sizeof(name)) {
        *p++ = ' ';
        p = ngx_cpymem(p, ctx->route.data,
                       ngx_min(ctx->route.len,
                               sizeof(name) - (size_t) (p - name)));
    }

    ngx_http_confhaven_trace_str(span, "", name, p - name);

    ngx_http_confhaven_trace_str(span, "http.request.method",
                                 r->method_name.data, r->method_name.len);
    ngx_http_confhaven_trace_str(span, "url.path", r->uri.data, r->uri.len);
    ngx_http_confhaven_trace_str(span, "url.scheme",
                                 (u_char *) (r->connection->ssl ? "https"
                                                                : "http"),
                                 r->connection->ssl ? 5 : 4);

    if (ctx->route.len) {
        ngx_http_confhaven_trace_str(span, "http.route", ctx->route.data,
                                     ctx->route.len);
    }

    ngx_http_confhaven_trace_int(span, "http.response.status_code",
                                 (int64_t) status);

    if (r->headers_in.user_agent) {
        ngx_http_confhaven_trace_str(span, "user_agent.original",
                                     r->headers_in.user_agent->value.data,
                                     ngx_min(r->headers_in.user_agent
                                             ->value.len, 128));
    }

    if (r->connection->addr_text.len) {
        ngx_http_confhaven_trace_str(span, "client.address",
                                     r->connection->addr_text.data,
                                     r->connection->addr_text.len);
    }

    if (ctx->mcp_vars.method.len) {
        ngx_http_confhaven_trace_str(span, "mcp.method.name",
                                     ctx->mcp_vars.method.data,
                                     ctx->mcp_vars.method.len);
    }

    if (ctx->mcp_vars.session.len) {
        ngx_http_confhaven_trace_str(span, "mcp.session.id",
                                     ctx->mcp_vars.session.data,
                                     ngx_min(ctx->mcp_vars.session.len, 64));
    }

    if (ctx->error.len) {
        ngx_http_confhaven_trace_str(span, "error.type", ctx->error.data,
                                     ctx->error.len);
    }

    if (status >= 500) {
        if (ctx->error.len == 0) {
            p = ngx_sprintf(name, "%ui", status);
            ngx_http_confhaven_trace_str(span, "error.type", name, p - name);
        }

        ngx_http_confhaven_trace_error(span);
    }

    ngx_http_confhaven_trace_end(span);
}


/* ------------------------------------------------------------ log phase */


static ngx_int_t
ngx_http_confhaven_observe_log(ngx_http_request_t *r)
{
    ngx_uint_t                             cache;
    ngx_time_t                            *tp;
    ngx_msec_int_t                         ms;
    ngx_http_confhaven_ctx_t              *ctx;
    ngx_http_confhaven_loc_conf_t         *chlcf;
    ngx_http_confhaven_metrics_request_t   mr;

    ctx = ngx_http_get_module_ctx(r, ngx_http_confhaven_module);

    if (ctx && ctx->env.trace) {
        ngx_http_confhaven_observe_span_end(r, ctx);
    }

    if (!ngx_http_confhaven_metrics_enabled()) {
        return NGX_OK;
    }

    chlcf = ngx_http_get_module_loc_conf(r, ngx_http_confhaven_module);

    ngx_memzero(&mr, sizeof(ngx_http_confhaven_metrics_request_t));

    if (ctx && ctx->route.len) {
        mr.route = ctx->route;

    } else if (chlcf->rest == 1) {
        /* no route matched, or refused before the handler ran */
        ngx_str_set(&mr.route, "unmatched");

    } else if (chlcf->mcp.enabled == 1) {
        ngx_str_set(&mr.route, "mcp");

    } else if (chlcf->mcp.sse == 1) {
        ngx_str_set(&mr.route, "mcp_sse");

    } else if (chlcf->metrics == 1) {
        ngx_str_set(&mr.route, "metrics");

    } else if (chlcf->json_errors == 1 || chlcf->mcp_errors == 1) {
        /* nginx's own error, rendered after an internal redirect */
        ngx_str_set(&mr.route, "error_page");

    } else {
        return NGX_OK;
    }

    if (r->err_status) {
        mr.status = r->err_status;

    } else {
        mr.status = r->headers_out.status;
    }

    if (ctx) {
        cache = ctx->cache_status ? ctx->cache_status
                                  : ctx->mcp_vars.cache_status;

        switch (cache) {
        case NGX_HTTP_CONFHAVEN_CACHE_HIT:
            mr.cache = NGX_HTTP_CONFHAVEN_METRICS_CACHE_HIT;
            break;
        case NGX_HTTP_CONFHAVEN_CACHE_MISS:
            mr.cache = NGX_HTTP_CONFHAVEN_METRICS_CACHE_MISS;
            break;
        case NGX_HTTP_CONFHAVEN_CACHE_EXPIRED:
            mr.cache = NGX_HTTP_CONFHAVEN_METRICS_CACHE_EXPIRED;
            break;
        case NGX_HTTP_CONFHAVEN_CACHE_BYPASS:
            mr.cache = NGX_HTTP_CONFHAVEN_METRICS_CACHE_BYPASS;
            break;
        case NGX_HTTP_CONFHAVEN_CACHE_LOCAL:
            mr.cache = NGX_HTTP_CONFHAVEN_METRICS_CACHE_LOCAL;
            break;
        default:
            mr.cache = NGX_HTTP_CONFHAVEN_METRICS_CACHE_NONE;
        }

        mr.error = ctx->error;
        mr.method = ctx->mcp_vars.method;
        mr.tool = ctx->mcp_vars.tool;
    }

    if (mr.route.len == sizeof("mcp_sse") - 1
        && ngx_strncmp(mr.route.data, "mcp_sse", mr.route.len) == 0)
    {
        mr.wire = NGX_HTTP_CONFHAVEN_METRICS_WIRE_SSE;

        /* the stream's lifetime is not a request's duration */
        if (r->method == NGX_HTTP_GET && mr.status == NGX_HTTP_OK) {
            ngx_str_set(&mr.route, "mcp_sse_stream");
        }

    } else if (mr.route.len == sizeof("mcp") - 1
               && ngx_strncmp(mr.route.data, "mcp", 3) == 0)
    {
        mr.wire = (ctx && ctx->mcp_vars.stateless)
                  ? NGX_HTTP_CONFHAVEN_METRICS_WIRE_STATELESS
                  : NGX_HTTP_CONFHAVEN_METRICS_WIRE_HTTP;

        if (r->method == NGX_HTTP_GET && mr.status == NGX_HTTP_OK) {
            ngx_str_set(&mr.route, "mcp_stream");
        }
    }

    tp = ngx_timeofday();

    ms = (ngx_msec_int_t) ((tp->sec - r->start_sec) * 1000
                           + (tp->msec - r->start_msec));
    mr.duration = (ngx_msec_t) ngx_max(ms, 0);

    ngx_http_confhaven_metrics_request(&mr);

    return NGX_OK;
}


/* ------------------------------------------------------------- endpoint */


ngx_int_t
ngx_http_confhaven_observe_metrics_handler(ngx_http_request_t *r)
{
    off_t                                     size;
    ngx_int_t                                 rc;
    ngx_chain_t                              *out;
    ngx_table_elt_t                          *h;
    ngx_http_confhaven_ctx_t                 *ctx;
    ngx_http_confhaven_loc_conf_t            *chlcf;
    ngx_http_confhaven_main_conf_t           *chmcf;
    ngx_http_confhaven_metrics_zone_stats_t   zs;

    ctx = ngx_http_confhaven_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_str_set(&ctx->route, "metrics");

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Allow");
        ngx_str_set(&h->value, "GET, HEAD");

        return ngx_http_confhaven_send_errorf(r, NGX_HTTP_NOT_ALLOWED,
                   "method_not_allowed", NULL,
                   "method %V is not allowed on %V", &r->method_name,
                   &r->uri);
    }

    chlcf = ngx_http_get_module_loc_conf(r, ngx_http_confhaven_module);

    if (chlcf->admin_key.len == 0) {
        return ngx_http_confhaven_send_errorf(r, NGX_HTTP_FORBIDDEN,
                   "forbidden",
                   "the operator must set confhaven_admin_key_file "
                   "in this location",
                   "metrics are disabled here");
    }

    if (!ngx_http_confhaven_rest_authorized(r, &chlcf->admin_key)) {
        r->headers_out.www_authenticate = ngx_list_push(
                                                   &r->headers_out.headers);
        if (r->headers_out.www_authenticate == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        r->headers_out.www_authenticate->hash = 1;
        ngx_str_set(&r->headers_out.www_authenticate->key,
                    "WWW-Authenticate");
        ngx_str_set(&r->headers_out.www_authenticate->value,
                    "Bearer realm=\"confhaven-metrics\"");

        return ngx_http_confhaven_send_errorf(r, NGX_HTTP_UNAUTHORIZED,
                   "unauthorized",
                   "send \"Authorization: Bearer <admin key>\" or "
                   "\"X-API-Key: <admin key>\"",
                   "a valid admin key is required");
    }

    chmcf = ngx_http_get_module_main_conf(r, ngx_http_confhaven_module);

    ngx_http_confhaven_observe_zone_stats(chmcf, &zs);

    size = 0;

    out = ngx_http_confhaven_metrics_render(r->pool, &zs, &size);
    if (out == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = size;
    ngx_str_set(&r->headers_out.content_type,
                "text/plain; version=0.0.4; charset=utf-8");
    r->headers_out.content_type_len = sizeof("text/plain") - 1;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    return ngx_http_output_filter(r, out);
}


/* the zone-wide values of a scrape: the MCP sessions zone's */

static void
ngx_http_confhaven_observe_zone_stats(ngx_http_confhaven_main_conf_t *chmcf,
    ngx_http_confhaven_metrics_zone_stats_t *zs)
{
    ngx_http_confhaven_mcp_stats_t  ms;

    zs->sessions_http = -1;
    zs->sessions_sse = -1;
    zs->streams_http = -1;
    zs->streams_sse = -1;

    if (chmcf->mcp.used && chmcf->mcp.zone.sh) {
        ngx_http_confhaven_mcp_session_stats(&chmcf->mcp.zone, &ms);

        zs->sessions_http = ms.sessions;
        zs->sessions_sse = ms.sse_sessions;
        zs->streams_http = ms.get_streams;
        zs->streams_sse = ms.sse_sessions;
    }
}


/* the metrics exporter's body: what a scrape would read, as OTLP */

u_char *
ngx_http_confhaven_observe_otlp_metrics(ngx_pool_t *pool, size_t *len,
    void *data)
{
    ngx_http_confhaven_main_conf_t  *chmcf = data;

    ngx_http_confhaven_metrics_zone_stats_t  zs;

    ngx_http_confhaven_observe_zone_stats(chmcf, &zs);

    return ngx_http_confhaven_metrics_otlp(pool, &zs, len);
}
