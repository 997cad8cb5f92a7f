
/*
 * Copyright (C) ConferenceHaven
 */


/*
 * The tool registry shared by MCP (tools/list, tools/call): each tool has
 * a name, a description written for a language model, JSON schemas, a
 * timeout and two hooks (prepare the query, finish the result).  Running a
 * tool is one or more PostgreSQL queries under a per-tool timer; argument
 * and data errors become results with isError, never protocol errors.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_confhaven_module.h"
#include "ngx_http_confhaven_json.h"
#include "ngx_http_confhaven_mcp.h"
#include "ngx_http_confhaven_tools.h"


static json_t *ngx_http_confhaven_tools_describe(
    ngx_http_confhaven_tool_t *tool, ngx_uint_t version);
static ngx_int_t ngx_http_confhaven_tool_fetched(ngx_http_request_t *r,
    ngx_http_confhaven_fetch_t *f);
static void ngx_http_confhaven_tool_timeout(ngx_event_t *ev);
static void ngx_http_confhaven_tool_cleanup(void *data);
static void ngx_http_confhaven_tool_finished(
    ngx_http_confhaven_tool_run_t *run);
static ngx_int_t ngx_http_confhaven_tool_content(
    ngx_http_confhaven_tool_run_t *run, json_t *structured, ngx_str_t *text,
    ngx_uint_t is_error);


static ngx_http_confhaven_tool_t  *ngx_http_confhaven_tools[] = {
    &ngx_http_confhaven_tool_search_sessions,
    &ngx_http_confhaven_tool_get_session,
    &ngx_http_confhaven_tool_list_conferences,
    NULL
};


ngx_http_confhaven_tool_t *
ngx_http_confhaven_tools_find(ngx_str_t *name)
{
    ngx_http_confhaven_tool_t  **t;

    for (t = ngx_http_confhaven_tools; *t; t++) {
        if ((*t)->name.len == name->len
            && ngx_strncmp((*t)->name.data, name->data, name->len) == 0)
        {
            return *t;
        }
    }

    return NULL;
}


json_t *
ngx_http_confhaven_tools_list(ngx_uint_t version)
{
    json_t                      *list, *tool;
    ngx_http_confhaven_tool_t  **t;

    list = json_array();
    if (list == NULL) {
        return NULL;
    }

    for (t = ngx_http_confhaven_tools; *t; t++) {
        tool = ngx_http_confhaven_tools_describe(*t, version);
        if (tool == NULL || json_array_append_new(list, tool) != 0) {
            json_decref(list);
            return NULL;
        }
    }

    return list;
}


/* a new reference to the tool's inputSchema, parsed once per worker */

json_t *
ngx_http_confhaven_tools_input_schema(ngx_http_confhaven_tool_t *tool)
{
    ngx_uint_t  i;

    static json_t  *schemas[sizeof(ngx_http_confhaven_tools)
                            / sizeof(ngx_http_confhaven_tools[0])];

    for (i = 0; ngx_http_confhaven_tools[i]; i++) {
        if (ngx_http_confhaven_tools[i] == tool) {
            break;
        }
    }

    if (ngx_http_confhaven_tools[i] == NULL) {
        return json_loads(tool->input_schema, 0, NULL);
    }

    if (schemas[i] == NULL) {
        schemas[i] = json_loads(tool->input_schema, 0, NULL);
    }

    return json_incref(schemas[i]);
}


/*
 * Types before tool code: every argument the tool's inputSchema declares
 * must have the declared JSON type ("string" with its maxLength,
 * "integer", "number", "boolean", "object", "array").  As the tools
 * always did, an integer may come as an integral number or a string of
 * digits, and a boolean as the string "true" or "false".  Range, enum
 * and unknown arguments are the tool's to check (with its own hints).
 * NGX_OK; NGX_DECLINED: error (size bytes) holds the NUL-terminated
 * message for an isError result; NGX_ERROR: no schema.  Needs no request.
 */

ngx_int_t
ngx_http_confhaven_tools_check_args(ngx_http_confhaven_tool_t *tool,
    json_t *args, u_char *error, size_t size)
{
    u_char      *p, *last;
    size_t       len, i;
    double       d;
    json_t      *schema, *props, *prop, *v, *max;
    ngx_int_t    rc;
    const char  *key, *type, *s, *want, *hint;

    last = error + size - 1;

    if (args == NULL || json_is_null(args)) {
        return NGX_OK;
    }

    if (!json_is_object(args)) {
        p = ngx_slprintf(error, last,
                         "The arguments of %V must be a JSON object.",
                         &tool->name);
        *p = '\0';
        return NGX_DECLINED;
    }

    schema = ngx_http_confhaven_tools_input_schema(tool);
    if (schema == NULL) {
        return NGX_ERROR;
    }

    props = json_object_get(schema, "properties");
    rc = NGX_OK;
    want = NULL;
    hint = "";

    json_object_foreach(args, key, v) {

        prop = json_object_get(props, key);

        if (prop == NULL || json_is_null(v)) {
            continue;
        }

        type = json_string_value(json_object_get(prop, "type"));

        if (type == NULL) {
            continue;
        }

        want = NULL;
        hint = "";

        if (ngx_strcmp(type, "string") == 0) {
            if (!json_is_string(v)) {
                want = "a string";
                break;
            }

            max = json_object_get(prop, "maxLength");
            len = json_string_length(v);

            if (json_is_integer(max)
                && (json_int_t) len > json_integer_value(max))
            {
                p = ngx_slprintf(error, last,
                                 "Argument \"%s\" is too long (%uz bytes; "
                                 "at most %L).", key, len,
                                 (int64_t) json_integer_value(max));
                *p = '\0';
                rc = NGX_DECLINED;
                break;
            }

        } else if (ngx_strcmp(type, "integer") == 0) {
            if (json_is_integer(v)) {
                continue;
            }

            if (json_is_real(v)) {
                d = json_real_value(v);

                if (d > -1e15 && d < 1e15 && d == (double) (int64_t) d) {
                    continue;
                }

            } else if (json_is_string(v)) {
                s = json_string_value(v);
                len = json_string_length(v);

                for (i = 0; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
                    /* void */
                }

                if (len && len <= 18 && i == len) {
                    continue;
                }
            }

            want = "an integer";

        } else if (ngx_strcmp(type, "number") == 0) {
            if (!json_is_number(v)) {
                want = "a number";
            }

        } else if (ngx_strcmp(type, "boolean") == 0) {
            if (json_is_boolean(v)
                || (json_is_string(v)
                    && (ngx_strcasecmp((u_char *) json_string_value(v),
                                       (u_char *) "true") == 0
                        || ngx_strcasecmp((u_char *) json_string_value(v),
                                          (u_char *) "false") == 0)))
            {
                continue;
            }

            want = "a boolean";
            hint = " Use true or false (JSON booleans).";

        } else if (ngx_strcmp(type, "object") == 0) {
            if (!json_is_object(v)) {
                want = "an object";
            }

        } else if (ngx_strcmp(type, "array") == 0) {
            if (!json_is_array(v)) {
                want = "an array";
            }
        }

        if (want) {
            break;
        }
    }

    if (want) {
        p = ngx_slprintf(error, last, "Argument \"%s\" must be %s.%s",
                         key, want, hint);
        *p = '\0';
        rc = NGX_DECLINED;
    }

    json_decref(schema);

    return rc;
}


static json_t *
ngx_http_confhaven_tools_describe(ngx_http_confhaven_tool_t *tool,
    ngx_uint_t version)
{
    json_t  *obj, *in, *out, *ann;

    obj = json_object();
    in = json_loads(tool->input_schema, 0, NULL);
    out = json_loads(tool->output_schema, 0, NULL);
    ann = json_pack("{s:s, s:b, s:b, s:b, s:b}",
                    "title", tool->title,
                    "readOnlyHint", 1,
                    "destructiveHint", 0,
                    "idempotentHint", 1,
                    "openWorldHint", 0);

    if (obj == NULL || in == NULL || out == NULL || ann == NULL) {
        json_decref(obj);
        json_decref(in);
        json_decref(out);
        json_decref(ann);
        return NULL;
    }

    json_object_set_new(obj, "name",
                        json_stringn((char *) tool->name.data,
                                     tool->name.len));

    if (version >= NGX_HTTP_CONFHAVEN_MCP_V2025_06_18) {
        json_object_set_new(obj, "title", json_string(tool->title));
    }

    json_object_set_new(obj, "description", json_string(tool->description));
    json_object_set_new(obj, "inputSchema", in);

    if (version >= NGX_HTTP_CONFHAVEN_MCP_V2025_06_18) {
        json_object_set_new(obj, "outputSchema", out);

    } else {
        json_decref(out);
    }

    if (version >= NGX_HTTP_CONFHAVEN_MCP_V2025_03_26) {
        json_object_set_new(obj, "annotations", ann);

    } else {
        json_decref(ann);
    }

    return obj;
}


/*
 * Runs the tool; run->done() is called exactly once with run->result set,
 * possibly before this function returns.  NGX_ERROR: nothing was called.
 */

ngx_int_t
ngx_http_confhaven_tools_call(ngx_http_confhaven_tool_run_t *run)
{
    u_char               err[NGX_HTTP_CONFHAVEN_MCP_ERROR_LEN];
    ngx_int_t            rc;
    ngx_pool_cleanup_t  *cln;

    cln = ngx_pool_cleanup_add(run->r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_confhaven_tool_cleanup;
    cln->data = run;

    run->timer.handler = ngx_http_confhaven_tool_timeout;
    run->timer.data = run;
    run->timer.log = run->r->connection->log;

    /* the arguments have the types the inputSchema declares, or isError */

    rc = ngx_http_confhaven_tools_check_args(run->tool, run->args, err,
                                             sizeof(err));
    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc == NGX_DECLINED) {
        if (ngx_http_confhaven_tool_errorf(run, NULL, "%s", err) != NGX_OK) {
            return NGX_ERROR;
        }

        run->done(run);
        return NGX_OK;
    }

    rc = run->tool->prepare(run, run->args);

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc == NGX_DECLINED) {
        run->done(run);
        return NGX_OK;
    }

    run->running = 1;
    ngx_add_timer(&run->timer, run->tool->timeout);

    return ngx_http_confhaven_tool_query(run);
}


/*
 * Sends run->sql with run->params through the cache, as REST reads do
 * (one query per key per worker, Redis when it answers); the tool's
 * finish() sees the result in run->op.
 */

ngx_int_t
ngx_http_confhaven_tool_query(ngx_http_confhaven_tool_run_t *run)
{
    u_char                          *p;
    size_t                           len;
    ngx_uint_t                       i;
    ngx_http_confhaven_fetch_t      *f;
    ngx_http_confhaven_pg_op_t      *op;
    ngx_http_confhaven_loc_conf_t   *chlcf;
    ngx_http_confhaven_main_conf_t  *chmcf;

    chmcf = ngx_http_get_module_main_conf(run->r, ngx_http_confhaven_module);
    chlcf = ngx_http_get_module_loc_conf(run->r, ngx_http_confhaven_module);

    op = ngx_pcalloc(run->r->pool, sizeof(ngx_http_confhaven_pg_op_t));
    f = ngx_pcalloc(run->r->pool, sizeof(ngx_http_confhaven_fetch_t));
    if (op == NULL || f == NULL) {
        return NGX_ERROR;
    }

    run->op = op;

    if (chmcf->pool == NULL) {
        op->status = NGX_HTTP_CONFHAVEN_PG_UNAVAILABLE;
        ngx_str_set(&op->message, "no database is configured");
        ngx_http_confhaven_tool_finished(run);
        return NGX_OK;
    }

    /* the key: the statement and its values, "\n=" before each value */

    len = ngx_strlen(run->sql);

    for (i = 0; i < run->nparams; i++) {
        len += 2 + (run->params[i] ? ngx_strlen(run->params[i]) : 0);
    }

    p = ngx_pnalloc(run->r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    f->key.data = p;
    p = ngx_cpymem(p, run->sql, ngx_strlen(run->sql));

    for (i = 0; i < run->nparams; i++) {
        *p++ = '\n';

        if (run->params[i]) {
            *p++ = '=';
            p = ngx_cpymem(p, run->params[i], ngx_strlen(run->params[i]));
        }

        f->values[i] = run->params[i];
    }

    f->key.len = p - f->key.data;
    f->sql = run->sql;
    f->nparams = run->nparams;
    /* searches go stale sooner than documents */
    f->ttl = (run->tool->name.len == sizeof("search_sessions") - 1
              && ngx_strncmp(run->tool->name.data, "search_sessions",
                             run->tool->name.len) == 0)
             ? chlcf->cache.ttl_search : chlcf->cache.ttl_document;
    f->handler = ngx_http_confhaven_tool_fetched;
    f->data = run;
    f->detached = 1;

    run->fetch = f;

    (void) ngx_http_confhaven_fetch(run->r, chmcf->cache, f,
                                    chlcf->cache.enabled);

    return NGX_OK;
}


static ngx_int_t
ngx_http_confhaven_tool_fetched(ngx_http_request_t *r,
    ngx_http_confhaven_fetch_t *f)
{
    ngx_http_confhaven_ctx_t       *ctx;
    ngx_http_confhaven_pg_op_t     *op;
    ngx_http_confhaven_tool_run_t  *run = f->data;

    run->fetch = NULL;

    if (!run->running) {
        return NGX_OK;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_confhaven_module);
    if (ctx) {
        ctx->cache_status = f->cache_status;
    }

    op = run->op;

    ngx_http_confhaven_fetch_result(f, op);

    ngx_http_confhaven_tool_finished(run);

    return NGX_OK;
}


static void
ngx_http_confhaven_tool_finished(ngx_http_confhaven_tool_run_t *run)
{
    ngx_int_t  rc;

    run->db_time += run->op->elapsed;

    rc = run->tool->finish(run);

    if (rc == NGX_AGAIN) {
        return;
    }

    if (rc == NGX_ERROR || run->result == NULL) {
        ngx_str_t  msg = ngx_string("the tool failed unexpectedly");

        run->result = NULL;
        (void) ngx_http_confhaven_tool_error(run, &msg, NULL);
    }

    run->running = 0;
    run->op = NULL;

    if (run->timer.timer_set) {
        ngx_del_timer(&run->timer);
    }

    run->done(run);
}


static void
ngx_http_confhaven_tool_timeout(ngx_event_t *ev)
{
    ngx_http_confhaven_tool_run_t  *run = ev->data;

    if (!run->running) {
        return;
    }

    ngx_log_error(NGX_LOG_WARN, ev->log, 0,
                  "confhaven mcp: tool \"%V\" timed out after %M ms",
                  &run->tool->name, run->tool->timeout);

    if (run->fetch) {
        ngx_http_confhaven_fetch_cancel(run->fetch);
        run->fetch = NULL;
    }

    run->op = NULL;
    run->running = 0;
    run->result = NULL;

    (void) ngx_http_confhaven_tool_errorf(run,
               "Try again in a moment; for searches, narrow the query "
               "with conference, track or level.",
               "%V did not finish within %M ms.", &run->tool->name,
               run->tool->timeout);

    run->done(run);
}


static void
ngx_http_confhaven_tool_cleanup(void *data)
{
    ngx_http_confhaven_tool_run_t  *run = data;

    if (run->fetch) {
        ngx_http_confhaven_fetch_cancel(run->fetch);
        run->fetch = NULL;
    }

    if (run->timer.timer_set) {
        ngx_del_timer(&run->timer);
    }

    run->running = 0;
}


/* the first row's JSON, owned by the request pool; NULL: error is set */

json_t *
ngx_http_confhaven_tool_value(ngx_http_confhaven_tool_run_t *run)
{
    json_t                      *value;
    ngx_http_confhaven_pg_op_t  *op;

    op = run->op;

    if (op->status != NGX_HTTP_CONFHAVEN_PG_OK) {
        (void) ngx_http_confhaven_tool_db_error(run);
        return NULL;
    }

    if (op->got_null || op->value.len == 0) {
        (void) ngx_http_confhaven_tool_errorf(run, NULL,
                                              "Nothing was found.");
        return NULL;
    }

    value = json_loadb((char *) op->value.data, op->value.len, 0, NULL);

    if (value == NULL
        || ngx_http_confhaven_mcp_own(run->r->pool, value) != NGX_OK)
    {
        json_decref(value);
        return NULL;
    }

    return value;
}


ngx_int_t
ngx_http_confhaven_tool_ok(ngx_http_confhaven_tool_run_t *run,
    json_t *structured, ngx_str_t *text)
{
    return ngx_http_confhaven_tool_content(run, structured, text, 0);
}


ngx_int_t
ngx_http_confhaven_tool_error(ngx_http_confhaven_tool_run_t *run,
    ngx_str_t *message, ngx_str_t *hint)
{
    u_char     *p, buf[1024];
    ngx_str_t   text;

    text.len = message->len + (hint ? hint->len + 1 : 0);
    text.data = ngx_pnalloc(run->r->pool, text.len);
    if (text.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(text.data, message->data, message->len);

    if (hint && hint->len) {
        *p++ = ' ';
        p = ngx_cpymem(p, hint->data, hint->len);
    }

    text.len = p - text.data;

    /* the message may quote the client's arguments */
    p = ngx_http_confhaven_mcp_log_escape(buf, sizeof(buf), message->data,
                                          message->len);

    ngx_log_error(NGX_LOG_INFO, run->r->connection->log, 0,
                  "confhaven mcp: tool \"%V\" error: %*s",
                  &run->tool->name, p - buf, buf);

    return ngx_http_confhaven_tool_content(run, NULL, &text, 1);
}


ngx_int_t
ngx_http_confhaven_tool_errorf(ngx_http_confhaven_tool_run_t *run,
    const char *hint, const char *fmt, ...)
{
    u_char     *p, buf[1024];
    va_list     args;
    ngx_str_t   msg, h;

    va_start(args, fmt);
    p = ngx_vslprintf(buf, buf + sizeof(buf), fmt, args);
    va_end(args);

    msg.data = buf;
    msg.len = p - buf;

    if (hint) {
        h.data = (u_char *) hint;
        h.len = ngx_strlen(hint);
    }

    return ngx_http_confhaven_tool_error(run, &msg, hint ? &h : NULL);
}


ngx_int_t
ngx_http_confhaven_tool_db_error(ngx_http_confhaven_tool_run_t *run)
{
    u_char                      *s, *p, buf[1024];
    ngx_str_t                    id;
    ngx_http_confhaven_pg_op_t  *op;

    op = run->op;
    s = op->sqlstate.data;

    ngx_http_confhaven_request_id(run->r, &id);

    switch (op->status) {

    case NGX_HTTP_CONFHAVEN_PG_SQL_ERROR:
        if (op->sqlstate.len == 5
            && ((s[0] == 'C' && s[1] == 'H') || (s[0] == '2' && s[1] == '2')))
        {
            return ngx_http_confhaven_tool_error(run, &op->message,
                                                 &op->hint);
        }

        if (op->sqlstate.len == 5 && ngx_strncmp(s, "57014", 5) == 0) {
            return ngx_http_confhaven_tool_errorf(run,
                       "Try again, or narrow the request.",
                       "The database did not answer in time.");
        }

        p = ngx_http_confhaven_mcp_log_escape(buf, sizeof(buf),
                                              op->message.data,
                                              op->message.len);

        ngx_log_error(NGX_LOG_ERR, run->r->connection->log, 0,
                      "confhaven pg: query failed (request %V): %V %*s",
                      &id, &op->sqlstate, p - buf, buf);

        return ngx_http_confhaven_tool_errorf(run,
                   "This is a server problem; try again later, and quote "
                   "the request id to the operator if it persists.",
                   "The database could not answer (SQLSTATE %V, request "
                   "id %V).", &op->sqlstate, &id);

    case NGX_HTTP_CONFHAVEN_PG_TIMEOUT:
        return ngx_http_confhaven_tool_errorf(run,
                   "Try again, or narrow the request.",
                   "The database did not answer in time.");

    case NGX_HTTP_CONFHAVEN_PG_BUSY:
        return ngx_http_confhaven_tool_errorf(run,
                   "Retry in a second.", "The database is busy.");

    default:
        p = ngx_http_confhaven_mcp_log_escape(buf, sizeof(buf),
                                              op->message.data,
                                              op->message.len);

        ngx_log_error(NGX_LOG_ERR, run->r->connection->log, 0,
                      "confhaven pg: database unavailable (request %V): "
                      "%*s", &id, p - buf, buf);

        return ngx_http_confhaven_tool_errorf(run,
                   "This is a server problem; retry later, and quote the "
                   "request id to the operator if it persists.",
                   "The database is unavailable (request id %V).", &id);
    }
}


static ngx_int_t
ngx_http_confhaven_tool_content(ngx_http_confhaven_tool_run_t *run,
    json_t *structured, ngx_str_t *text, ngx_uint_t is_error)
{
    json_t   *res, *item, *content;
    ssize_t   bad;

    /* a summary cut inside a UTF-8 sequence loses the partial character */
    bad = ngx_http_confhaven_utf8_invalid(text->data, text->len, 1);
    if (bad >= 0) {
        text->len = bad;
    }

    res = json_object();
    content = json_array();
    item = json_pack("{s:s, s:s%}", "type", "text", "text",
                     (char *) text->data, text->len);

    if (res == NULL || content == NULL || item == NULL
        || ngx_http_confhaven_mcp_own(run->r->pool, res) != NGX_OK)
    {
        json_decref(res);
        json_decref(content);
        json_decref(item);
        return NGX_ERROR;
    }

    json_array_append_new(content, item);
    json_object_set_new(res, "content", content);

    if (structured) {
        json_object_set(res, "structuredContent", structured);
    }

    json_object_set_new(res, "isError", json_boolean(is_error));

    run->result = res;

    return NGX_OK;
}


/* ------------------------------------------------------------ arguments */


ngx_int_t
ngx_http_confhaven_tool_args(ngx_http_confhaven_tool_run_t *run,
    json_t *args, const char **names, const char *usage)
{
    void         *it;
    size_t        len;
    const char   *key, **n;

    if (args == NULL || json_is_null(args)) {
        return NGX_OK;
    }

    if (!json_is_object(args)) {
        return ngx_http_confhaven_tool_errorf(run, usage,
                   "The arguments of %V must be a JSON object.",
                   &run->tool->name) == NGX_OK ? NGX_DECLINED : NGX_ERROR;
    }

    for (it = json_object_iter(args); it; it = json_object_iter_next(args, it))
    {
        key = json_object_iter_key(it);

        for (n = names; *n; n++) {
            if (ngx_strcmp(key, *n) == 0) {
                break;
            }
        }

        if (*n == NULL) {
            len = ngx_strlen(key);

            if (len > 64
                || ngx_http_confhaven_utf8_invalid((u_char *) key, len, 0)
                   >= 0)
            {
                key = "(unreadable)";
                len = sizeof("(unreadable)") - 1;
            }

            return ngx_http_confhaven_tool_errorf(run, usage,
                       "Unknown argument \"%*s\" for %V.", len, key,
                       &run->tool->name) == NGX_OK
                   ? NGX_DECLINED : NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* absent, null or blank: *out = NULL */

ngx_int_t
ngx_http_confhaven_tool_arg_string(ngx_http_confhaven_tool_run_t *run,
    json_t *args, const char *name, size_t max, char **out)
{
    u_char       *p;
    size_t        len, i;
    json_t       *v;
    const char   *s;

    *out = NULL;

    v = json_is_object(args) ? json_object_get(args, name) : NULL;

    if (v == NULL || json_is_null(v)) {
        return NGX_OK;
    }

    if (!json_is_string(v)) {
        return ngx_http_confhaven_tool_errorf(run, NULL,
                   "Argument \"%s\" must be a string.", name) == NGX_OK
               ? NGX_DECLINED : NGX_ERROR;
    }

    s = json_string_value(v);
    len = json_string_length(v);

    if (len > max) {
        return ngx_http_confhaven_tool_errorf(run, NULL,
                   "Argument \"%s\" is too long (%uz bytes; at most %uz).",
                   name, len, max) == NGX_OK ? NGX_DECLINED : NGX_ERROR;
    }

    for (i = 0; i < len; i++) {
        if (((u_char) s[i] < 0x20 && s[i] != '\t' && s[i] != '\n'
             && s[i] != '\r')
            || s[i] == 0x7f)
        {
            return ngx_http_confhaven_tool_errorf(run, NULL,
                       "Argument \"%s\" must not contain control "
                       "characters.", name) == NGX_OK ? NGX_DECLINED
                                                      : NGX_ERROR;
        }
    }

    for (i = 0; i < len; i++) {
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n') {
            break;
        }
    }

    if (i == len) {
        return NGX_OK;
    }

    p = ngx_pnalloc(run->r->pool, len + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    *ngx_cpymem(p, s, len) = '\0';
    *out = (char *) p;

    return NGX_OK;
}


/* true/false (or the strings "true"/"false"); absent or null: *out NULL */

ngx_int_t
ngx_http_confhaven_tool_arg_bool(ngx_http_confhaven_tool_run_t *run,
    json_t *args, const char *name, char **out)
{
    json_t      *v;
    const char  *s;

    *out = NULL;

    v = json_is_object(args) ? json_object_get(args, name) : NULL;

    if (v == NULL || json_is_null(v)) {
        return NGX_OK;
    }

    if (json_is_boolean(v)) {
        *out = json_is_true(v) ? "true" : "false";
        return NGX_OK;
    }

    if (json_is_string(v)) {
        s = json_string_value(v);

        if (ngx_strcasecmp((u_char *) s, (u_char *) "true") == 0) {
            *out = "true";
            return NGX_OK;
        }

        if (ngx_strcasecmp((u_char *) s, (u_char *) "false") == 0) {
            *out = "false";
            return NGX_OK;
        }
    }

    return ngx_http_confhaven_tool_errorf(run,
               "Use true or false (JSON booleans).",
               "Argument \"%s\" must be a boolean.", name) == NGX_OK
           ? NGX_DECLINED : NGX_ERROR;
}


/* an integer (or a string of digits) within [min, max] */

ngx_int_t
ngx_http_confhaven_tool_arg_int(ngx_http_confhaven_tool_run_t *run,
    json_t *args, const char *name, ngx_int_t min, ngx_int_t max,
    const char *hint, char **out)
{
    u_char      *p;
    json_t      *v;
    double       d;
    ngx_int_t    n;
    const char  *s;

    *out = NULL;

    v = json_is_object(args) ? json_object_get(args, name) : NULL;

    if (v == NULL || json_is_null(v)) {
        return NGX_OK;
    }

    n = NGX_ERROR;

    if (json_is_integer(v)) {
        if (json_integer_value(v) >= min && json_integer_value(v) <= max) {
            n = (ngx_int_t) json_integer_value(v);
        }

    } else if (json_is_real(v)) {
        d = json_real_value(v);

        if (d >= (double) min && d <= (double) max && d == (double) (long) d)
        {
            n = (ngx_int_t) d;
        }

    } else if (json_is_string(v)) {
        s = json_string_value(v);

        if (json_string_length(v) > 0 && json_string_length(v) <= 18) {
            n = ngx_atoi((u_char *) s, json_string_length(v));

            if (n != NGX_ERROR && (n < min || n > max)) {
                n = NGX_ERROR;
            }
        }
    }

    if (n == NGX_ERROR) {
        return ngx_http_confhaven_tool_errorf(run, hint,
                   "Argument \"%s\" must be an integer from %i to %i.",
                   name, min, max) == NGX_OK ? NGX_DECLINED : NGX_ERROR;
    }

    p = ngx_pnalloc(run->r->pool, NGX_INT_T_LEN + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    *ngx_sprintf(p, "%i", n) = '\0';
    *out = (char *) p;

    return NGX_OK;
}


/* ----------------------------------------------------------------- text */


const char *
ngx_http_confhaven_tool_str(json_t *obj, const char *key)
{
    json_t  *v;

    v = json_object_get(obj, key);

    return json_is_string(v) ? json_string_value(v) : NULL;
}


/*
 * One session as two lines:
 *   [42] Title — Jane Smith, John Doe
 *        2026-10-02 09:00–10:00 (Europe/London) · Room 1 · Track · Level
 */

u_char *
ngx_http_confhaven_tool_text_session(u_char *p, u_char *last, json_t *s)
{
    size_t       i;
    json_t      *v, *sp;
    const char  *title, *start, *end, *room, *track, *level, *tz;

    v = json_object_get(s, "id");
    title = ngx_http_confhaven_tool_str(s, "title");

    p = ngx_slprintf(p, last, "[%L] %s",
                     json_is_integer(v) ? (int64_t) json_integer_value(v) : 0,
                     title ? title : "(untitled)");

    sp = json_object_get(s, "speakers");

    if (json_is_array(sp) && json_array_size(sp)) {
        p = ngx_slprintf(p, last, " — ");

        for (i = 0; i < json_array_size(sp); i++) {
            v = json_array_get(sp, i);

            if (json_is_string(v)) {
                p = ngx_slprintf(p, last, "%s%s", i ? ", " : "",
                                 json_string_value(v));
            }
        }
    }

    start = ngx_http_confhaven_tool_str(s, "start");
    end = ngx_http_confhaven_tool_str(s, "end");
    room = ngx_http_confhaven_tool_str(s, "room");
    track = ngx_http_confhaven_tool_str(s, "track");
    level = ngx_http_confhaven_tool_str(s, "level");
    tz = ngx_http_confhaven_tool_str(s, "timezone");

    p = ngx_slprintf(p, last, "\n    ");

    /* "2026-10-02T09:00:00+01:00" -> "2026-10-02 09:00" */
    if (start && ngx_strlen(start) >= 16) {
        p = ngx_slprintf(p, last, "%*s %*s", (size_t) 10, start,
                         (size_t) 5, start + 11);

        if (end && ngx_strlen(end) >= 16) {
            p = ngx_slprintf(p, last, "–%*s", (size_t) 5, end + 11);
        }

        if (tz) {
            p = ngx_slprintf(p, last, " (%s)", tz);
        }

    } else {
        p = ngx_slprintf(p, last, "time not announced");
    }

    if (room) {
        p = ngx_slprintf(p, last, " · %s", room);
    }

    if (track) {
        p = ngx_slprintf(p, last, " · track: %s", track);
    }

    if (level) {
        p = ngx_slprintf(p, last, " · %s", level);
    }

    return ngx_slprintf(p, last, "\n");
}
