
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

#include "ngx_http_confhaven_header.h"
#include "ngx_http_confhaven_client.h"
#include "ngx_http_confhaven_json.h"
#include "ngx_http_confhaven_tools.h"


static json_t *ngx_http_confhaven_tools_describe(
    ngx_http_confhaven_tool_t *tool, ngx_uint_t features);
static json_t *ngx_http_confhaven_tools_schema(ngx_http_confhaven_tool_t *tool);
static ngx_int_t ngx_http_confhaven_tool_set_args(
    ngx_http_confhaven_tool_run_t *run);
static void ngx_http_confhaven_tool_rendered(ngx_http_confhaven_fetch_t *f);
static void ngx_http_confhaven_tool_answered(
    ngx_http_confhaven_op_call_t *call);
static void ngx_http_confhaven_tool_db_error(
    ngx_http_confhaven_tool_run_t *run);
static void ngx_http_confhaven_tool_timeout(ngx_event_t *ev);
static void ngx_http_confhaven_tool_cleanup(void *data);
static void ngx_http_confhaven_tool_finish(ngx_http_confhaven_tool_run_t *run);
static ngx_int_t ngx_http_confhaven_tool_content(
    ngx_http_confhaven_tool_run_t *run, json_t *structured, ngx_str_t *text,
    ngx_uint_t is_error);
static ngx_uint_t ngx_http_confhaven_tools_required(
    ngx_http_confhaven_tool_t *tool, const char *name);


/* annotations that differ from a read-only lookup's */

typedef struct {
    ngx_http_confhaven_tool_t           *tool;
    const char                          *annotations;   /* JSON */
} ngx_http_confhaven_tool_hint_t;


static ngx_http_confhaven_tool_hint_t  ngx_http_confhaven_tools_hints[] = {
    { &ngx_http_confhaven_tool_send_calendar_invite,
      "{\"readOnlyHint\": false, \"destructiveHint\": false,"
      " \"idempotentHint\": true, \"openWorldHint\": true}" },
    { NULL, NULL }
};


/* is name one of the tool's required arguments (a list, " " between) */

static ngx_uint_t
ngx_http_confhaven_tools_required(ngx_http_confhaven_tool_t *tool,
    const char *name)
{
    size_t       len;
    const char  *p, *e;

    len = ngx_strlen(name);

    for (p = tool->required; p && *p; p = *e ? e + 1 : e) {
        e = p;

        while (*e && *e != ' ') {
            e++;
        }

        if ((size_t) (e - p) == len && ngx_strncmp(p, name, len) == 0) {
            return 1;
        }
    }

    return 0;
}


static ngx_http_confhaven_tool_t  *ngx_http_confhaven_tools[] = {
    &ngx_http_confhaven_tool_search_sessions,
    &ngx_http_confhaven_tool_get_session,
    &ngx_http_confhaven_tool_list_conferences,
    &ngx_http_confhaven_tool_send_calendar_invite,
    &ngx_http_confhaven_tool_get_organizer_analytics,
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
ngx_http_confhaven_tools_list(ngx_uint_t features)
{
    json_t                      *list, *tool;
    ngx_http_confhaven_tool_t  **t;

    list = json_array();
    if (list == NULL) {
        return NULL;
    }

    for (t = ngx_http_confhaven_tools; *t; t++) {
        tool = ngx_http_confhaven_tools_describe(*t, features);
        if (tool == NULL || json_array_append_new(list, tool) != 0) {
            json_decref(list);
            return NULL;
        }
    }

    return list;
}


/* a new reference to the tool's inputSchema, made once per worker */

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
        return ngx_http_confhaven_tools_schema(tool);
    }

    if (schemas[i] == NULL) {
        schemas[i] = ngx_http_confhaven_tools_schema(tool);
    }

    return json_incref(schemas[i]);
}


/*
 * The inputSchema from the operation's parameters: the same types,
 * bounds, defaults and words as the REST parameters and the OpenAPI
 * document, so that they cannot drift apart.
 */

static json_t *
ngx_http_confhaven_tools_schema(ngx_http_confhaven_tool_t *tool)
{
    json_t                         *schema, *props, *prop, *list;
    ngx_int_t                       n;
    ngx_uint_t                      i, k;
    ngx_http_confhaven_op_t        *op;
    ngx_http_confhaven_op_param_t  *p;

    op = tool->op;

    schema = json_pack("{s:s, s:s, s:o, s:b}",
                       "$schema",
                       "https://json-schema.org/draft/2020-12/schema",
                       "type", "object",
                       "properties", json_object(),
                       "additionalProperties", 0);
    if (schema == NULL) {
        return NULL;
    }

    props = json_object_get(schema, "properties");

    for (i = 0; i < op->nparams; i++) {
        p = &op->params[i];

        switch (p->type) {

        case NGX_HTTP_CONFHAVEN_OP_INT:
            prop = json_pack("{s:s, s:I, s:I}", "type", "integer",
                             "minimum", (json_int_t) p->min,
                             "maximum", (json_int_t) p->max);
            if (prop && p->dflt) {
                n = ngx_atoi((u_char *) p->dflt, ngx_strlen(p->dflt));
                json_object_set_new(prop, "default", json_integer(n));
            }
            break;

        case NGX_HTTP_CONFHAVEN_OP_ID:
            prop = json_pack("{s:s, s:i}", "type", "integer", "minimum", 1);
            break;

        case NGX_HTTP_CONFHAVEN_OP_BOOL:
            prop = json_pack("{s:s}", "type", "boolean");
            if (prop && p->dflt) {
                json_object_set_new(prop, "default",
                                    json_boolean(p->dflt[0] == 't'));
            }
            break;

        default:
            prop = json_pack("{s:s}", "type", "string");
            if (prop && p->max_len) {
                json_object_set_new(prop, "maxLength",
                                    json_integer(p->max_len));
            }
            break;
        }

        if (prop == NULL) {
            json_decref(schema);
            return NULL;
        }

        if (p->values) {
            list = json_array();

            for (k = 0; p->values[k]; k++) {
                json_array_append_new(list, json_string(p->values[k]));
            }

            json_object_del(prop, "maxLength");
            json_object_set_new(prop, "enum", list);
        }

        if (tool->header && ngx_strcmp(tool->header, p->name) == 0) {
            /* Conference: the 2026 wire mirrors it in Mcp-Param-Conference */
            json_object_set_new(prop, "x-mcp-header",
                                json_string("Conference"));
        }

        if (p->description) {
            json_object_set_new(prop, "description",
                                json_string(p->description));
        }

        json_object_set_new(props, p->name, prop);
    }

    if (tool->required) {
        list = json_array();
        json_object_set_new(schema, "required", list);

        for (i = 0; i < op->nparams; i++) {
            if (ngx_http_confhaven_tools_required(tool, op->params[i].name)) {
                json_array_append_new(list,
                                      json_string(op->params[i].name));
            }
        }
    }

    return schema;
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
    ngx_uint_t features)
{
    json_t                         *obj, *in, *out, *ann, *hints;
    ngx_http_confhaven_tool_hint_t  *h;

    obj = json_object();
    in = ngx_http_confhaven_tools_input_schema(tool);
    out = json_loads(tool->output_schema, 0, NULL);
    ann = json_pack("{s:s, s:b, s:b, s:b, s:b}",
                    "title", tool->title,
                    "readOnlyHint", 1,
                    "destructiveHint", 0,
                    "idempotentHint", 1,
                    "openWorldHint", 0);

    for (h = ngx_http_confhaven_tools_hints; ann && h->tool; h++) {
        if (h->tool == tool) {
            /* a tool with side effects says so */
            hints = json_loads(h->annotations, 0, NULL);
            json_object_update(ann, hints);
            json_decref(hints);
        }
    }

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

    if (features & NGX_HTTP_CONFHAVEN_TOOLS_TITLES) {
        json_object_set_new(obj, "title", json_string(tool->title));
    }

    json_object_set_new(obj, "description", json_string(tool->description));
    json_object_set_new(obj, "inputSchema", in);

    if (features & NGX_HTTP_CONFHAVEN_TOOLS_OUTPUT) {
        json_object_set_new(obj, "outputSchema", out);

    } else {
        json_decref(out);
    }

    if (features & NGX_HTTP_CONFHAVEN_TOOLS_ANNOTATIONS) {
        json_object_set_new(obj, "annotations", ann);

    } else {
        json_decref(ann);
    }

    return obj;
}


/*
 * Runs the tool; run->done() is called exactly once with run->result set,
 * possibly before this function returns.  NGX_ERROR: nothing was called.
 *
 * A result is cached as sent: under "mcp" + the tool + the operation's
 * canonical key, so a warm call costs one Redis read, and a cold one can
 * still find the operation's answer that a REST request left.
 */

ngx_int_t
ngx_http_confhaven_tools_call(ngx_http_confhaven_tool_run_t *run)
{
    u_char                      *p;
    ngx_int_t                    rc;
    ngx_pool_cleanup_t          *cln;
    ngx_http_confhaven_fetch_t  *f;

    cln = ngx_pool_cleanup_add(run->r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_confhaven_tool_cleanup;
    cln->data = run;

    run->timer.handler = ngx_http_confhaven_tool_timeout;
    run->timer.data = run;
    run->timer.log = run->r->connection->log;

    rc = ngx_http_confhaven_tools_prepare(run);

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    ngx_http_confhaven_tools_origin(run->r, run->origin_conf, &run->call);

    if (rc == NGX_DECLINED) {
        run->done(run);
        return NGX_OK;
    }

    f = &run->rendered;

    f->key.len = sizeof("mcp\n\n") - 1 + run->tool->name.len
                 + run->call.key.len;
    f->key.data = ngx_pnalloc(run->r->pool, f->key.len);
    if (f->key.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(f->key.data, "mcp\n", 4);
    p = ngx_cpymem(p, run->tool->name.data, run->tool->name.len);
    *p++ = '\n';
    ngx_memcpy(p, run->call.key.data, run->call.key.len);

    run->running = 1;
    ngx_add_timer(&run->timer, run->tool->timeout);

    f->cache = run->env->cache;
    f->pool = run->r->pool;
    f->log = run->r->connection->log;
    f->trace = run->span;
    f->handler = ngx_http_confhaven_tool_rendered;
    f->data = run;

    if (run->env->cache == NULL
        || run->tool->op->cache == NGX_HTTP_CONFHAVEN_OP_NO_CACHE)
    {
        f->status = NGX_HTTP_CONFHAVEN_PG_OK;
        ngx_http_confhaven_tool_rendered(f);
        return NGX_OK;
    }

    f->use_cache = run->env->conf->enabled;
    f->ttl = (run->tool->op->cache == NGX_HTTP_CONFHAVEN_OP_SEARCH)
             ? run->env->conf->ttl_search : run->env->conf->ttl_document;

    if (ngx_http_confhaven_cache_fetch(f) != NGX_OK) {
        /* nothing started: the caller answers, the timer must not */
        run->running = 0;
        ngx_del_timer(&run->timer);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * The arguments, typed by the inputSchema, as the operation's values in
 * their canonical form, and the call's key.  NGX_DECLINED: run->result
 * holds the isError result that says what is wrong.
 */

ngx_int_t
ngx_http_confhaven_tools_prepare(ngx_http_confhaven_tool_run_t *run)
{
    u_char     err[NGX_HTTP_CONFHAVEN_TOOL_ERROR_LEN];
    ngx_int_t  rc;

    ngx_http_confhaven_op_init(&run->call, run->tool->op, run->env,
                               run->r->pool, run->r->connection->log);

    if (run->span) {
        /* the operation's database, cache and Graph spans are the tool's */
        run->call.trace = run->span;
    }

    /* the 2026-07-28 wire typed them to compare its Mcp-Param headers */
    rc = run->args_typed ? NGX_OK
                         : ngx_http_confhaven_tools_check_args(run->tool,
                                                   run->args, err, sizeof(err));
    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc == NGX_DECLINED) {
        return ngx_http_confhaven_tools_errorf(run, NULL, "%s", err) == NGX_OK
               ? NGX_DECLINED : NGX_ERROR;
    }

    rc = ngx_http_confhaven_tool_set_args(run);
    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_http_confhaven_op_key(&run->call) == NGX_OK ? NGX_OK
                                                            : NGX_ERROR;
}


/* the arguments as the operation's values, in its canonical form */

static ngx_int_t
ngx_http_confhaven_tool_set_args(ngx_http_confhaven_tool_run_t *run)
{
    u_char                         *p, buf[NGX_INT64_LEN + 1];
    size_t                          len;
    json_t                         *v;
    ngx_str_t                       key_value;
    ngx_int_t                       rc, i;
    const char                     *key;
    ngx_http_confhaven_op_t        *op;
    ngx_http_confhaven_op_param_t  *prm;
    u_char                          err[NGX_HTTP_CONFHAVEN_OP_ERROR_LEN];

    op = run->tool->op;

    if (run->args && !json_is_null(run->args)) {
        json_object_foreach(run->args, key, v) {

            len = ngx_strlen(key);
            i = ngx_http_confhaven_op_find(op, (u_char *) key, len, 0);

            if (i != NGX_ERROR && op->params[i].type
                                  != NGX_HTTP_CONFHAVEN_OP_RAW)
            {
                continue;
            }

            if (len > 64
                || ngx_http_confhaven_json_utf8_invalid((u_char *) key, len, 0)
                   >= 0)
            {
                key = "(unreadable)";
                len = sizeof("(unreadable)") - 1;
            }

            return ngx_http_confhaven_tools_errorf(run, run->tool->usage,
                       "Unknown argument \"%*s\" for %V.", len, key,
                       &run->tool->name) == NGX_OK
                   ? NGX_DECLINED : NGX_ERROR;
        }
    }

    for (i = 0; i < (ngx_int_t) op->nparams; i++) {
        prm = &op->params[i];

        if (prm->type == NGX_HTTP_CONFHAVEN_OP_KEY
            && ngx_http_confhaven_op_header_key(
                   &run->r->headers_in.headers,
                   run->r->headers_in.authorization, &key_value)
               == NGX_OK)
        {
            /* the connection's key (X-API-Key, Authorization) first */
            if (ngx_http_confhaven_op_set(&run->call, i, 0, key_value.data,
                                          key_value.len, err, sizeof(err))
                != NGX_OK)
            {
                return NGX_ERROR;
            }

            continue;
        }

        if (prm->type == NGX_HTTP_CONFHAVEN_OP_KEY
            && run->session_cred.len)
        {
            /* the key of the legacy /sse stream this call came through */
            if (ngx_http_confhaven_op_set_credential(&run->call, i,
                                                     &run->session_cred)
                != NGX_OK)
            {
                return NGX_ERROR;
            }

            continue;
        }

        v = run->args ? json_object_get(run->args, prm->name) : NULL;

        if (v == NULL || json_is_null(v)) {
            if (ngx_http_confhaven_tools_required(run->tool, prm->name)) {
                return ngx_http_confhaven_tools_errorf(run, run->tool->usage,
                           "Argument \"%s\" is required.", prm->name)
                       == NGX_OK ? NGX_DECLINED : NGX_ERROR;
            }

            continue;
        }

        /* the types were checked against the inputSchema */

        if (json_is_string(v)) {
            p = (u_char *) json_string_value(v);
            len = json_string_length(v);

        } else if (json_is_boolean(v)) {
            p = (u_char *) (json_is_true(v) ? "true" : "false");
            len = ngx_strlen(p);

        } else if (json_is_integer(v)) {
            p = buf;
            len = ngx_sprintf(buf, "%L", (int64_t) json_integer_value(v))
                  - buf;

        } else if (json_is_real(v)) {
            p = buf;
            len = ngx_sprintf(buf, "%L", (int64_t) json_real_value(v)) - buf;

        } else {
            continue;
        }

        rc = ngx_http_confhaven_op_set(&run->call, i, 0, p, len, err,
                                       sizeof(err));
        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (rc == NGX_DECLINED) {
            return ngx_http_confhaven_tools_errorf(run, prm->hint,
                       "Argument %s.", err) == NGX_OK
                   ? NGX_DECLINED : NGX_ERROR;
        }
    }

    return NGX_OK;
}


static void
ngx_http_confhaven_tool_rendered(ngx_http_confhaven_fetch_t *f)
{
    ngx_http_confhaven_tool_run_t  *run = f->data;

    if (!run->running) {
        return;
    }

    if (f->value.len) {
        /* as sent before */
        run->cache_status = f->cache_status;
        run->result_text = f->value;
        ngx_http_confhaven_tool_finish(run);
        return;
    }

    run->call.handler = ngx_http_confhaven_tool_answered;
    run->call.data = run;

    if (ngx_http_confhaven_op_start(&run->call) != NGX_OK) {
        run->result = NULL;
        ngx_http_confhaven_tool_finish(run);
    }
}


static void
ngx_http_confhaven_tool_answered(ngx_http_confhaven_op_call_t *call)
{
    json_t                         *value;
    ngx_int_t                       rc;
    ngx_http_confhaven_fetch_t     *f;
    ngx_http_confhaven_tool_run_t  *run = call->data;

    if (!run->running) {
        return;
    }

    f = &call->fetch;

    run->db_time += f->elapsed;
    run->cache_status = f->cache_status;

    if (call->error.kind != NGX_HTTP_CONFHAVEN_OP_OK) {
        rc = run->tool->failed ? run->tool->failed(run) : NGX_DECLINED;

        if (rc == NGX_DECLINED) {
            ngx_http_confhaven_tool_db_error(run);
        }

        ngx_http_confhaven_tool_finish(run);
        return;
    }

    value = json_loadb((char *) f->value.data, f->value.len, 0, NULL);

    if (value == NULL
        || ngx_http_confhaven_json_own(run->r->pool, value) != NGX_OK
        || run->tool->render(run, value) != NGX_OK)
    {
        run->result = NULL;
        ngx_http_confhaven_tool_finish(run);
        return;
    }

    if (ngx_http_confhaven_json_dump(run->r, json_incref(run->result),
                                     &run->result_text)
        == NGX_OK
        /* from the data the lookup saw: no import in between */
        && f->gen_known && run->rendered.gen_known
        && f->gen.len == run->rendered.gen.len
        && ngx_memcmp(f->gen.data, run->rendered.gen.data, f->gen.len) == 0)
    {
        /* for the next caller: the result as sent */
        ngx_http_confhaven_cache_store(&run->rendered, &run->result_text,
                                       f->count, &f->tag);
    }

    ngx_http_confhaven_tool_finish(run);
}


static void
ngx_http_confhaven_tool_finish(ngx_http_confhaven_tool_run_t *run)
{
    if (run->result == NULL && run->result_text.len == 0) {
        ngx_str_t  msg = ngx_string("the tool failed unexpectedly");

        (void) ngx_http_confhaven_tools_error(run, &msg, NULL);
    }

    run->running = 0;

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

    ngx_http_confhaven_cache_fetch_cancel(&run->rendered);
    ngx_http_confhaven_op_cancel(&run->call);

    run->running = 0;
    run->result = NULL;
    run->result_text.len = 0;

    (void) ngx_http_confhaven_tools_errorf(run,
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

    ngx_http_confhaven_cache_fetch_cancel(&run->rendered);
    ngx_http_confhaven_op_cancel(&run->call);

    if (run->timer.timer_set) {
        ngx_del_timer(&run->timer);
    }

    run->running = 0;
}


ngx_int_t
ngx_http_confhaven_tools_ok(ngx_http_confhaven_tool_run_t *run,
    json_t *structured, ngx_str_t *text)
{
    return ngx_http_confhaven_tool_content(run, structured, text, 0);
}


ngx_int_t
ngx_http_confhaven_tools_error(ngx_http_confhaven_tool_run_t *run,
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
    p = ngx_http_confhaven_json_log_escape(buf, sizeof(buf), message->data,
                                          message->len);

    ngx_log_error(NGX_LOG_INFO, run->r->connection->log, 0,
                  "confhaven mcp: tool \"%V\" error: %*s",
                  &run->tool->name, p - buf, buf);

    return ngx_http_confhaven_tool_content(run, NULL, &text, 1);
}


ngx_int_t
ngx_http_confhaven_tools_errorf(ngx_http_confhaven_tool_run_t *run,
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

    return ngx_http_confhaven_tools_error(run, &msg, hint ? &h : NULL);
}


/* an operation's failure, as the one SQLSTATE map (ops) classified it */

static void
ngx_http_confhaven_tool_db_error(ngx_http_confhaven_tool_run_t *run)
{
    u_char                      *p, buf[1024];
    ngx_str_t                    id;
    ngx_http_confhaven_fetch_t  *f;

    f = &run->call.fetch;

    ngx_http_confhaven_json_request_id(run->r, &id);

    switch (run->call.error.kind) {

    case NGX_HTTP_CONFHAVEN_OP_E_INPUT:
    case NGX_HTTP_CONFHAVEN_OP_E_INVALID:
    case NGX_HTTP_CONFHAVEN_OP_E_TIER:
        (void) ngx_http_confhaven_tools_error(run, &f->message, &f->hint);
        return;

    case NGX_HTTP_CONFHAVEN_OP_E_NOT_FOUND:
        if (f->message.len) {
            (void) ngx_http_confhaven_tools_error(run, &f->message, &f->hint);
            return;
        }

        (void) ngx_http_confhaven_tools_errorf(run, NULL, "Nothing was found.");
        return;

    case NGX_HTTP_CONFHAVEN_OP_E_TIMEOUT:
        (void) ngx_http_confhaven_tools_errorf(run,
                   "Try again, or narrow the request.",
                   "The database did not answer in time.");
        return;

    case NGX_HTTP_CONFHAVEN_OP_E_BUSY:
        (void) ngx_http_confhaven_tools_errorf(run,
                   "Retry in a second.", "The database is busy.");
        return;

    case NGX_HTTP_CONFHAVEN_OP_E_DOWN:
        p = ngx_http_confhaven_json_log_escape(buf, sizeof(buf),
                                              f->message.data,
                                              f->message.len);

        ngx_log_error(NGX_LOG_ERR, run->r->connection->log, 0,
                      "confhaven pg: database unavailable (request %V): "
                      "%*s", &id, p - buf, buf);

        (void) ngx_http_confhaven_tools_errorf(run,
                   "This is a server problem; retry later, and quote the "
                   "request id to the operator if it persists.",
                   "The database is unavailable (request id %V).", &id);
        return;

    default: /* OP_E_SCHEMA, OP_E_INTERNAL */
        p = ngx_http_confhaven_json_log_escape(buf, sizeof(buf),
                                              f->message.data,
                                              f->message.len);

        ngx_log_error(NGX_LOG_ERR, run->r->connection->log, 0,
                      "confhaven pg: query failed (request %V): %V %*s",
                      &id, &f->sqlstate, p - buf, buf);

        (void) ngx_http_confhaven_tools_errorf(run,
                   "This is a server problem; try again later, and quote "
                   "the request id to the operator if it persists.",
                   "The database could not answer (SQLSTATE %V, request "
                   "id %V).", &f->sqlstate, &id);
        return;
    }
}


static ngx_int_t
ngx_http_confhaven_tool_content(ngx_http_confhaven_tool_run_t *run,
    json_t *structured, ngx_str_t *text, ngx_uint_t is_error)
{
    json_t   *res, *item, *content;
    ssize_t   bad;

    /* a summary cut inside a UTF-8 sequence loses the partial character */
    bad = ngx_http_confhaven_json_utf8_invalid(text->data, text->len, 1);
    if (bad >= 0) {
        text->len = bad;
    }

    res = json_object();
    content = json_array();
    item = json_pack("{s:s, s:s%}", "type", "text", "text",
                     (char *) text->data, text->len);

    if (res == NULL || content == NULL || item == NULL
        || ngx_http_confhaven_json_own(run->r->pool, res) != NGX_OK)
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


/* ----------------------------------------------------------------- text */


const char *
ngx_http_confhaven_tools_str(json_t *obj, const char *key)
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

/* ", 2026-10-01 to 2026-10-02, Glasgow, 120 sessions" of a conference */

u_char *
ngx_http_confhaven_tools_text_conference(u_char *p, u_char *last, json_t *c)
{
    json_t      *n;
    const char  *loc, *start, *end;

    loc = ngx_http_confhaven_tools_str(c, "location");
    start = ngx_http_confhaven_tools_str(c, "start_date");
    end = ngx_http_confhaven_tools_str(c, "end_date");
    n = json_object_get(c, "session_count");

    if (start) {
        p = ngx_slprintf(p, last, ", %s", start);

        if (end && ngx_strcmp(start, end) != 0) {
            p = ngx_slprintf(p, last, " to %s", end);
        }
    }

    if (loc) {
        p = ngx_slprintf(p, last, ", %s", loc);
    }

    if (json_is_integer(n)) {
        p = ngx_slprintf(p, last, ", %L sessions",
                         (int64_t) json_integer_value(n));
    }

    return p;
}


u_char *
ngx_http_confhaven_tools_text_session(u_char *p, u_char *last, json_t *s)
{
    size_t       i;
    json_t      *v, *sp;
    const char  *title, *start, *end, *room, *track, *level, *tz;

    v = json_object_get(s, "id");
    title = ngx_http_confhaven_tools_str(s, "title");

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

    start = ngx_http_confhaven_tools_str(s, "start");
    end = ngx_http_confhaven_tools_str(s, "end");
    room = ngx_http_confhaven_tools_str(s, "room");
    track = ngx_http_confhaven_tools_str(s, "track");
    level = ngx_http_confhaven_tools_str(s, "level");
    tz = ngx_http_confhaven_tools_str(s, "timezone");

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


/*
 * What an operation is told about the request: the absolute base URL it
 * came to (links in answers) and the client's address (limits).
 */

void
ngx_http_confhaven_tools_origin(ngx_http_request_t *r,
    ngx_http_confhaven_origin_conf_t *oc, ngx_http_confhaven_op_call_t *call)
{
    if (ngx_http_confhaven_client_key(r->connection, r->pool, &call->client)
        != NGX_OK)
    {
        call->client = r->connection->addr_text;
    }

    ngx_http_confhaven_tools_public_origin(r, oc, &call->origin);
}


/*
 * This server's origin as seen from outside, "http(s)://host[:port]",
 * NUL-terminated (len does not count it), or empty.  confhaven_public_url
 * when set: behind a TLS-terminating proxy that is the one answer a
 * client cannot change.  Else the request's scheme and Host (only a plain
 * name, address and port: nothing odd goes into a link), the scheme from
 * X-Forwarded-Proto only under confhaven_trust_forwarded_proto on: any
 * client can send that header.  X-Forwarded-Host is never read.
 */

void
ngx_http_confhaven_tools_public_origin(ngx_http_request_t *r,
    ngx_http_confhaven_origin_conf_t *oc, ngx_str_t *origin)
{
    u_char           *p, c;
    size_t            i, n;
    ngx_str_t         host, *v;
    ngx_uint_t        https;
    ngx_table_elt_t  *h;

    origin->len = 0;
    origin->data = (u_char *) "";

    if (oc && oc->public_url.len) {
        *origin = oc->public_url;
        return;
    }

    host = r->headers_in.host ? r->headers_in.host->value
                              : r->headers_in.server;

    if (host.len == 0 || host.len > 255) {
        return;
    }

    for (i = 0; i < host.len; i++) {
        c = host.data[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '.' || c == '-'
              || c == '_' || c == ':' || c == '[' || c == ']'))
        {
            return;
        }
    }

#if (NGX_HTTP_SSL)
    https = r->connection->ssl ? 1 : 0;
#else
    https = 0;
#endif

    h = NULL;

    if (oc && oc->forwarded_proto) {
        h = ngx_http_confhaven_header_in(r, "X-Forwarded-Proto",
                                         sizeof("X-Forwarded-Proto") - 1);
    }

    if (h) {
        /* the first proxy's word: "https" or "https, http" */
        v = &h->value;

        for (n = 0; n < v->len && v->data[n] != ','; n++) {
            /* void */
        }

        while (n > 0 && v->data[n - 1] == ' ') {
            n--;
        }

        if (n == 5 && ngx_strncasecmp(v->data, (u_char *) "https", 5) == 0) {
            https = 1;

        } else if (n == 4
                   && ngx_strncasecmp(v->data, (u_char *) "http", 4) == 0)
        {
            https = 0;
        }
    }

    p = ngx_pnalloc(r->pool, sizeof("https://") + host.len);
    if (p == NULL) {
        return;
    }

    origin->data = p;
    origin->len = ngx_sprintf(p, "%s://%V", https ? "https" : "http", &host)
                  - p;
    p[origin->len] = '\0';
}


/*
 * confhaven_public_url: an origin, "http(s)://host[:port]" with at most a
 * "/" after it (dropped), kept NUL-terminated; NGX_CONF_OK or a message.
 */

char *
ngx_http_confhaven_tools_public_url(ngx_conf_t *cf, ngx_str_t *url)
{
    u_char  *p, *host, *last, c;

    last = url->data + url->len;

    if (url->len > 0 && last[-1] == '/') {
        last--;
    }

    if (url->len >= 8 && ngx_strncasecmp(url->data, (u_char *) "https://", 8)
                         == 0)
    {
        host = url->data + 8;

    } else if (url->len >= 7
               && ngx_strncasecmp(url->data, (u_char *) "http://", 7) == 0)
    {
        host = url->data + 7;

    } else {
        return "must start with https:// or http://";
    }

    if (host >= last || last - host > 255) {
        return "needs a host name (at most 255 characters)";
    }

    for (p = host; p < last; p++) {
        c = *p;

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '.' || c == '-'
              || c == '_' || c == ':' || c == '[' || c == ']'))
        {
            return "must be an origin such as https://conf.example.org "
                   "or https://conf.example.org:8443, without a path, "
                   "query or user";
        }
    }

    p = ngx_pnalloc(cf->pool, last - url->data + 1);
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    url->len = last - url->data;
    *ngx_cpymem(p, url->data, url->len) = '\0';
    url->data = p;

    return NGX_CONF_OK;
}
