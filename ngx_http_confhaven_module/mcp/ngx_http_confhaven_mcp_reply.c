
/*
 * Copyright (C) ConferenceHaven
 */


/*
 * Replies to one MCP call, whatever its method: a JSON-RPC result, one
 * given as JSON text already (spliced, not parsed), an error; completing
 * the call; and the operations that resources, prompts and completions
 * run (mcp_query(), through the cache as REST and tools go).  Method
 * files (mcp.c, mcp_resources.c, mcp_prompts.c) call down into it;
 * it calls none of them.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_confhaven_json.h"
#include "ngx_http_confhaven_mcp.h"
#include "ngx_http_confhaven_tools.h"


struct ngx_http_confhaven_mcp_query_s {
    ngx_http_confhaven_mcp_call_t     *call;
    ngx_http_confhaven_op_call_t      *oc;
    ngx_event_t                        timer;
    ngx_http_confhaven_mcp_query_pt    handler;

    unsigned                           running:1;
};


static ngx_int_t ngx_http_confhaven_mcp_response_head(
    ngx_http_confhaven_mcp_call_t *call, ngx_str_t *head);
static void ngx_http_confhaven_mcp_query_answered(
    ngx_http_confhaven_op_call_t *oc);
static void ngx_http_confhaven_mcp_query_timeout(ngx_event_t *ev);
static void ngx_http_confhaven_mcp_query_cleanup(void *data);
static void ngx_http_confhaven_mcp_query_finish(
    ngx_http_confhaven_mcp_query_t *q);


json_t *
ngx_http_confhaven_mcp_error_message(json_t *id, ngx_int_t code,
    const char *message, json_t *data)
{
    json_t  *msg, *err;

    msg = json_object();
    err = json_object();

    if (msg == NULL || err == NULL) {
        json_decref(msg);
        json_decref(err);
        json_decref(data);
        return NULL;
    }

    json_object_set_new(err, "code", json_integer(code));
    json_object_set_new(err, "message", json_string(message));

    if (data) {
        json_object_set_new(err, "data", data);
    }

    json_object_set_new(msg, "jsonrpc", json_string("2.0"));
    json_object_set_new(msg, "id", id ? json_incref(id) : json_null());
    json_object_set_new(msg, "error", err);

    return msg;
}


/* takes data */

void
ngx_http_confhaven_mcp_error(ngx_http_confhaven_mcp_call_t *call,
    ngx_uint_t status, ngx_int_t code, const char *message, json_t *data)
{
    ngx_http_confhaven_mcp_set_error(call, status, code, message, data);
    ngx_http_confhaven_mcp_complete(call);
}


void
ngx_http_confhaven_mcp_set_error(ngx_http_confhaven_mcp_call_t *call,
    ngx_uint_t status, ngx_int_t code, const char *message, json_t *data)
{
    json_t  *msg;

    call->status = status;

    if (call->notification) {
        json_decref(data);
        return;
    }

    msg = ngx_http_confhaven_mcp_error_message(call->id, code, message, data);

    if (msg && ngx_http_confhaven_json_own(call->r->pool, msg) != NGX_OK) {
        json_decref(msg);
        msg = NULL;
    }

    call->response = msg;

    if (msg == NULL) {
        call->status = NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
}


/* takes result */

void
ngx_http_confhaven_mcp_result(ngx_http_confhaven_mcp_call_t *call,
    json_t *result)
{
    json_t  *msg;

    if (result == NULL) {
        call->status = NGX_HTTP_INTERNAL_SERVER_ERROR;
        ngx_http_confhaven_mcp_complete(call);
        return;
    }

    if (call->notification) {
        json_decref(result);
        ngx_http_confhaven_mcp_complete(call);
        return;
    }

    if (call->modern && json_object_get(result, "resultType") == NULL) {
        json_object_set_new(result, "resultType", json_string("complete"));
    }

    msg = json_object();

    if (msg == NULL
        || ngx_http_confhaven_json_own(call->r->pool, msg) != NGX_OK)
    {
        json_decref(msg);
        json_decref(result);
        call->status = NGX_HTTP_INTERNAL_SERVER_ERROR;
        ngx_http_confhaven_mcp_complete(call);
        return;
    }

    json_object_set_new(msg, "jsonrpc", json_string("2.0"));
    json_object_set_new(msg, "id", json_incref(call->id));
    json_object_set_new(msg, "result", result);

    call->status = NGX_HTTP_OK;
    call->response = msg;

    ngx_http_confhaven_mcp_complete(call);
}


/*
 * A result that is JSON text already (an MCP tool result cached as sent):
 * the response gets it without parsing.  A transport that sends the
 * response alone splices it (ngx_http_confhaven_mcp_response_text());
 * any other use makes it JSON first (ngx_http_confhaven_mcp_response_json()).
 */

void
ngx_http_confhaven_mcp_result_text(ngx_http_confhaven_mcp_call_t *call,
    ngx_str_t *text)
{
    json_t  *msg;

    if (call->notification) {
        ngx_http_confhaven_mcp_complete(call);
        return;
    }

    /* an object, "{...}", or nothing to splice */
    if (text->len < 2 || text->data[0] != '{'
        || text->data[text->len - 1] != '}')
    {
        call->status = NGX_HTTP_INTERNAL_SERVER_ERROR;
        ngx_http_confhaven_mcp_complete(call);
        return;
    }

    msg = json_pack("{s:s, s:O}", "jsonrpc", "2.0", "id", call->id);

    if (msg == NULL
        || ngx_http_confhaven_json_own(call->r->pool, msg) != NGX_OK)
    {
        json_decref(msg);
        call->status = NGX_HTTP_INTERNAL_SERVER_ERROR;
        ngx_http_confhaven_mcp_complete(call);
        return;
    }

    call->status = NGX_HTTP_OK;
    call->response = msg;
    call->result_text = *text;

    ngx_http_confhaven_mcp_complete(call);
}


/* the response as JSON, with a result given as text parsed into it */

ngx_int_t
ngx_http_confhaven_mcp_response_json(ngx_http_confhaven_mcp_call_t *call)
{
    json_t  *result;

    if (call->result_text.len == 0 || call->response == NULL) {
        return NGX_OK;
    }

    result = json_loadb((char *) call->result_text.data,
                        call->result_text.len, 0, NULL);
    if (result == NULL) {
        return NGX_ERROR;
    }

    if (call->modern && json_object_get(result, "resultType") == NULL) {
        json_object_set_new(result, "resultType", json_string("complete"));
    }

    json_object_set_new(call->response, "result", result);
    call->result_text.len = 0;

    return NGX_OK;
}


/*
 * The response as JSON text in parts to send one after the other, with
 * no copy of the result: {"jsonrpc":"2.0","id":...,"result": (the head,
 * made here), the result text itself (borrowed: it lives as long as the
 * request's pool, pinned there when it is a local cache entry), and the
 * closing bytes (with the 2026 wire's "resultType" before the result's
 * own closing brace).  Without a result text, one part: the response.
 * parts holds NGX_HTTP_CONFHAVEN_MCP_PARTS.
 */

ngx_int_t
ngx_http_confhaven_mcp_response_parts(ngx_http_confhaven_mcp_call_t *call,
    ngx_str_t *parts, ngx_uint_t *n)
{
    ngx_str_t  head, *res;

    static u_char  result[] = ",\"result\":";
    static u_char  tail[] = ",\"resultType\":\"complete\"}}";

    res = &call->result_text;

    if (res->len
        && ngx_http_confhaven_mcp_response_head(call, &parts[0]) == NGX_OK)
    {
        goto result;
    }

    if (ngx_http_confhaven_json_dump(call->r, json_incref(call->response),
                                     &head)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (res->len == 0) {
        parts[0] = head;
        *n = 1;
        return NGX_OK;
    }

    /* head is "{...}": its closing brace makes room for ,"result": */

    parts[0].data = ngx_pnalloc(call->r->pool,
                                head.len - 1 + sizeof(result) - 1);
    if (parts[0].data == NULL) {
        return NGX_ERROR;
    }

    parts[0].len = ngx_cpymem(ngx_cpymem(parts[0].data, head.data,
                                         head.len - 1),
                              result, sizeof(result) - 1)
                   - parts[0].data;

result:

    parts[1] = *res;

    if (!call->modern) {
        ngx_str_set(&parts[2], "}");

    } else {
        /* the result without its closing brace, then "resultType" */
        parts[1].len--;

        parts[2].data = tail;
        parts[2].len = sizeof(tail) - 1;

        if (res->len == 2) {
            /* "{}": no comma before the only member */
            parts[2].data++;
            parts[2].len--;
        }
    }

    *n = 3;

    return NGX_OK;
}


/*
 * {"jsonrpc":"2.0","id":ID,"result": written as jansson dumps it, for the
 * response result_text() made (an integer or string id); NGX_DECLINED:
 * any other response, which is dumped.
 */

static ngx_int_t
ngx_http_confhaven_mcp_response_head(ngx_http_confhaven_mcp_call_t *call,
    ngx_str_t *head)
{
    u_char  *p;
    size_t   len;
    json_t  *id, *v;

    static u_char  start[] = "{\"jsonrpc\":\"2.0\",\"id\":";
    static u_char  result[] = ",\"result\":";

    if (call->response == NULL
        || json_object_size(call->response) != 2)
    {
        return NGX_DECLINED;
    }

    v = json_object_get(call->response, "jsonrpc");
    id = json_object_get(call->response, "id");

    if (!json_is_string(v) || ngx_strcmp(json_string_value(v), "2.0") != 0
        || !(json_is_integer(id) || json_is_string(id)))
    {
        return NGX_DECLINED;
    }

    /* the members in the order result_text() packed them */
    if (ngx_strcmp(json_object_iter_key(json_object_iter(call->response)),
                   "jsonrpc")
        != 0)
    {
        return NGX_DECLINED;
    }

    len = sizeof(start) - 1 + sizeof(result) - 1
          + (json_is_integer(id) ? NGX_INT64_LEN
                                 : 2 + 6 * json_string_length(id));

    head->data = ngx_pnalloc(call->r->pool, len);
    if (head->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(head->data, start, sizeof(start) - 1);

    if (json_is_integer(id)) {
        p = ngx_sprintf(p, "%L", (int64_t) json_integer_value(id));

    } else {
        p = ngx_http_confhaven_json_string(p,
                                           (u_char *) json_string_value(id),
                                           json_string_length(id));
    }

    p = ngx_cpymem(p, result, sizeof(result) - 1);

    head->len = p - head->data;

    return NGX_OK;
}


/* the same as one string, for a transport that frames it (one copy) */

ngx_int_t
ngx_http_confhaven_mcp_response_text(ngx_http_confhaven_mcp_call_t *call,
    ngx_str_t *out)
{
    u_char      *p;
    size_t       len;
    ngx_str_t    parts[NGX_HTTP_CONFHAVEN_MCP_PARTS];
    ngx_uint_t   i, n;

    if (ngx_http_confhaven_mcp_response_parts(call, parts, &n) != NGX_OK) {
        return NGX_ERROR;
    }

    if (n == 1) {
        *out = parts[0];
        return NGX_OK;
    }

    len = 0;

    for (i = 0; i < n; i++) {
        len += parts[i].len;
    }

    out->data = ngx_pnalloc(call->r->pool, len);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    p = out->data;

    for (i = 0; i < n; i++) {
        p = ngx_cpymem(p, parts[i].data, parts[i].len);
    }

    out->len = len;

    return NGX_OK;
}


void
ngx_http_confhaven_mcp_complete(ngx_http_confhaven_mcp_call_t *call)
{
    if (call->completed) {
        ngx_log_error(NGX_LOG_ALERT, call->r->connection->log, 0,
                      "confhaven mcp: call completed twice");
        return;
    }

    call->completed = 1;
    call->done(call);
}


void
ngx_http_confhaven_mcp_cacheable(ngx_http_confhaven_mcp_call_t *call,
    json_t *result, ngx_uint_t ttl)
{
    if (result == NULL || !call->modern) {
        return;
    }

    json_object_set_new(result, "ttlMs", json_integer(ttl));
    json_object_set_new(result, "cacheScope", json_string("public"));
}


/*
 * An answer that is not the same for every client: what it lists depends
 * on the capabilities the client announces (MCP Apps is offered only to
 * the hosts that announce it), so a shared cache must not hand one
 * client's answer to another: "private", reused only by the client that
 * asked.  Both variants, the plain one too: a shared cache serving it to
 * a host that announced the extension would hide the cards from it.
 */

void
ngx_http_confhaven_mcp_cacheable_private(ngx_http_confhaven_mcp_call_t *call,
    json_t *result, ngx_uint_t ttl)
{
    if (result == NULL || !call->modern) {
        return;
    }

    json_object_set_new(result, "ttlMs", json_integer(ttl));
    json_object_set_new(result, "cacheScope", json_string("private"));
}


ngx_int_t
ngx_http_confhaven_mcp_no_cursor(ngx_http_confhaven_mcp_call_t *call)
{
    json_t  *cursor;

    cursor = call->params ? json_object_get(call->params, "cursor") : NULL;

    if (cursor == NULL || json_is_null(cursor)) {
        return NGX_OK;
    }

    /* every list fits on one page: no cursor of ours exists */
    ngx_http_confhaven_mcp_error(call, NGX_HTTP_OK,
                                 NGX_HTTP_CONFHAVEN_MCP_INVALID_PARAMS,
                                 "Invalid params: unknown cursor", NULL);
    return NGX_DECLINED;
}


/* what the front end lends the operations of this call */

ngx_int_t
ngx_http_confhaven_mcp_ops_env(ngx_http_confhaven_mcp_call_t *call,
    ngx_http_confhaven_op_env_t **env)
{
    if (call->ops == NULL) {
        /* no database here: every operation says so */
        call->ops = ngx_pcalloc(call->r->pool,
                                sizeof(ngx_http_confhaven_op_env_t));
        if (call->ops == NULL) {
            return NGX_ERROR;
        }
    }

    *env = call->ops;

    return NGX_OK;
}


/*
 * One PostgreSQL statement for a method (resources, prompts, completion)
 * under NGX_HTTP_CONFHAVEN_MCP_QUERY_TIMEOUT, through the cache as REST
 * reads and tools go: Redis first, then one query per key per worker
 * however many requests ask; the statement and its values are the key.
 * handler() runs exactly once, possibly before this returns, unless the
 * request goes away first.
 */

ngx_int_t
ngx_http_confhaven_mcp_query(ngx_http_confhaven_mcp_call_t *call,
    ngx_http_confhaven_op_t *opd, ngx_uint_t nparams, char **params,
    ngx_http_confhaven_mcp_query_pt handler)
{
    ngx_int_t                        rc;
    ngx_uint_t                       i;
    ngx_pool_cleanup_t              *cln;
    ngx_http_request_t              *r;
    ngx_http_confhaven_op_call_t    *oc;
    ngx_http_confhaven_op_env_t     *env;
    ngx_http_confhaven_mcp_query_t  *q;
    u_char                           err[NGX_HTTP_CONFHAVEN_OP_ERROR_LEN];

    r = call->r;

    if (nparams > opd->nparams) {
        return NGX_ERROR;
    }

    q = ngx_pcalloc(r->pool, sizeof(ngx_http_confhaven_mcp_query_t));
    oc = ngx_palloc(r->pool, sizeof(ngx_http_confhaven_op_call_t));
    cln = ngx_pool_cleanup_add(r->pool, 0);

    if (q == NULL || oc == NULL || cln == NULL
        || ngx_http_confhaven_mcp_ops_env(call, &env) != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_http_confhaven_op_init(oc, opd, env, r->pool, r->connection->log);

    cln->handler = ngx_http_confhaven_mcp_query_cleanup;
    cln->data = q;

    q->call = call;
    q->oc = oc;
    q->handler = handler;
    q->timer.handler = ngx_http_confhaven_mcp_query_timeout;
    q->timer.data = q;
    q->timer.log = r->connection->log;
    q->running = 1;

    for (i = 0; i < nparams; i++) {
        if (params[i] == NULL) {
            continue;
        }

        rc = ngx_http_confhaven_op_set(oc, i, 0, (u_char *) params[i],
                                       ngx_strlen(params[i]), err,
                                       sizeof(err));
        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (rc == NGX_DECLINED) {
            /* the caller's mistake, said as the operation said it */
            oc->error.kind = NGX_HTTP_CONFHAVEN_OP_E_INPUT;
            oc->fetch.status = NGX_HTTP_CONFHAVEN_PG_SQL_ERROR;
            oc->fetch.message.len = ngx_strlen(err);
            oc->fetch.message.data = ngx_pnalloc(r->pool,
                                                 oc->fetch.message.len);
            if (oc->fetch.message.data == NULL) {
                return NGX_ERROR;
            }

            ngx_memcpy(oc->fetch.message.data, err, oc->fetch.message.len);
            ngx_http_confhaven_mcp_query_finish(q);
            return NGX_OK;
        }
    }

    oc->handler = ngx_http_confhaven_mcp_query_answered;
    oc->data = q;

    ngx_add_timer(&q->timer, NGX_HTTP_CONFHAVEN_MCP_QUERY_TIMEOUT);

    if (ngx_http_confhaven_op_start(oc) != NGX_OK && q->running) {
        /* nothing was started */
        oc->fetch.status = NGX_HTTP_CONFHAVEN_PG_UNAVAILABLE;
        oc->error.kind = NGX_HTTP_CONFHAVEN_OP_E_DOWN;
        ngx_http_confhaven_mcp_query_finish(q);
    }

    return NGX_OK;
}


static void
ngx_http_confhaven_mcp_query_answered(ngx_http_confhaven_op_call_t *oc)
{
    ngx_http_confhaven_mcp_query_t  *q = oc->data;

    if (!q->running) {
        return;
    }

    if (q->call->vars) {
        q->call->vars->cache_status = oc->fetch.cache_status;
    }

    ngx_http_confhaven_mcp_query_finish(q);
}


static void
ngx_http_confhaven_mcp_query_timeout(ngx_event_t *ev)
{
    ngx_http_confhaven_mcp_query_t  *q = ev->data;

    if (!q->running) {
        return;
    }

    ngx_log_error(NGX_LOG_WARN, ev->log, 0,
                  "confhaven mcp: \"%V\" timed out after %M ms",
                  &q->call->method,
                  (ngx_msec_t) NGX_HTTP_CONFHAVEN_MCP_QUERY_TIMEOUT);

    ngx_http_confhaven_op_cancel(q->oc);

    q->oc->fetch.status = NGX_HTTP_CONFHAVEN_PG_TIMEOUT;
    q->oc->error.kind = NGX_HTTP_CONFHAVEN_OP_E_TIMEOUT;

    ngx_http_confhaven_mcp_query_finish(q);
}


static void
ngx_http_confhaven_mcp_query_finish(ngx_http_confhaven_mcp_query_t *q)
{
    q->running = 0;

    if (q->timer.timer_set) {
        ngx_del_timer(&q->timer);
    }

    q->handler(q->call, q->oc);
}


static void
ngx_http_confhaven_mcp_query_cleanup(void *data)
{
    ngx_http_confhaven_mcp_query_t  *q = data;

    ngx_http_confhaven_op_cancel(q->oc);

    q->running = 0;

    if (q->timer.timer_set) {
        ngx_del_timer(&q->timer);
    }
}


/*
 * The operation refused the question (unknown, invalid, a value out of
 * bounds): its message and hint are for the caller to answer with.
 */

ngx_uint_t
ngx_http_confhaven_mcp_query_refused(ngx_http_confhaven_op_call_t *oc)
{
    switch (oc->error.kind) {

    case NGX_HTTP_CONFHAVEN_OP_E_INPUT:
    case NGX_HTTP_CONFHAVEN_OP_E_INVALID:
        return 1;

    case NGX_HTTP_CONFHAVEN_OP_E_NOT_FOUND:
        /* not a row of NULL: that is an answer, JSON null */
        return oc->fetch.status != NGX_HTTP_CONFHAVEN_PG_OK;

    default:
        return 0;
    }
}


/*
 * The operation's answer as JSON (null for a NULL row), owned by the
 * pool.  NULL: either refused (the caller answers, see query_refused())
 * or already answered here (-32603, libpq's text in the log only).
 */

json_t *
ngx_http_confhaven_mcp_query_value(ngx_http_confhaven_mcp_call_t *call,
    ngx_http_confhaven_op_call_t *oc)
{
    u_char                      buf[1024], *p;
    json_t                     *value, *data;
    ngx_str_t                   id;
    ngx_http_confhaven_fetch_t  *f;

    f = &oc->fetch;

    if (ngx_http_confhaven_mcp_query_refused(oc)) {
        return NULL;
    }

    if (oc->error.kind != NGX_HTTP_CONFHAVEN_OP_OK
        && oc->error.kind != NGX_HTTP_CONFHAVEN_OP_E_NOT_FOUND)
    {
        /* the client gets an id to quote */

        ngx_http_confhaven_json_request_id(call->r, &id);

        p = ngx_http_confhaven_json_log_escape(buf, sizeof(buf),
                                               f->message.data,
                                               f->message.len);

        ngx_log_error(NGX_LOG_ERR, call->r->connection->log, 0,
                      "confhaven pg: query failed (request %V): %V %*s",
                      &id, &f->sqlstate, p - buf, buf);

        data = json_pack("{s:s%}", "request_id", id.data ? (char *) id.data
                                                         : "",
                         id.len);

        ngx_http_confhaven_mcp_error(call, NGX_HTTP_OK,
                                     NGX_HTTP_CONFHAVEN_MCP_INTERNAL_ERROR,
                                     oc->error.kind
                                     == NGX_HTTP_CONFHAVEN_OP_E_TIMEOUT
                                     ? "Internal error: the database did "
                                       "not answer in time; try again"
                                     : "Internal error: the database is "
                                       "unavailable; try again later",
                                     data);
        return NULL;
    }

    value = (f->value.len == 0)
            ? json_null()
            : json_loadb((char *) f->value.data, f->value.len,
                         JSON_DECODE_ANY, NULL);

    if (value == NULL
        || ngx_http_confhaven_json_own(call->r->pool, value) != NGX_OK)
    {
        json_decref(value);
        ngx_http_confhaven_mcp_result(call, NULL);
        return NULL;
    }

    return value;
}
