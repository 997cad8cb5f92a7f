
/*
 * Copyright (C) ConferenceHaven
 */


/*
 * JSON-RPC 2.0 and the MCP methods, independent of the HTTP transport:
 * parse and validate one message, dispatch it by method.  Results, errors
 * and the operations of resources and prompts are in mcp_reply.c, which
 * every method file calls down into.  The 2025-x lifecycle (initialize,
 * ping) and the 2026-07-28 one (server/discover, resultType, cache hints)
 * share the method table; call->modern tells them apart.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_confhaven_json.h"
#include "ngx_http_confhaven_mcp.h"
#include "ngx_http_confhaven_tools.h"


#define NGX_HTTP_CONFHAVEN_MCP_LEGACY   0x01
#define NGX_HTTP_CONFHAVEN_MCP_MODERN   0x02
#define NGX_HTTP_CONFHAVEN_MCP_BOTH     0x03


/* the JSON types a params field may take */
#define NGX_HTTP_CONFHAVEN_MCP_T_STRING   0x01
#define NGX_HTTP_CONFHAVEN_MCP_T_INTEGER  0x02
#define NGX_HTTP_CONFHAVEN_MCP_T_NUMBER   0x04   /* real or integer */
#define NGX_HTTP_CONFHAVEN_MCP_T_BOOLEAN  0x08
#define NGX_HTTP_CONFHAVEN_MCP_T_OBJECT   0x10
#define NGX_HTTP_CONFHAVEN_MCP_T_ARRAY    0x20
#define NGX_HTTP_CONFHAVEN_MCP_T_ANY      0x3f

/* field flags */
#define NGX_HTTP_CONFHAVEN_MCP_REQUIRED   0x01
#define NGX_HTTP_CONFHAVEN_MCP_MAP        0x02   /* members: fields[0] */

#define NGX_HTTP_CONFHAVEN_MCP_PATH_LEN   96


typedef void (*ngx_http_confhaven_mcp_method_pt)(
    ngx_http_confhaven_mcp_call_t *call);


/*
 * The declared shape of params: a field's JSON types, whether it must be
 * there, a bound (bytes of a string, members of an object, items of an
 * array; 0: none) and the shape of an object's members.  A null field
 * that is not required counts as absent.  Members not declared pass: MCP
 * lets clients add fields.
 */

typedef struct ngx_http_confhaven_mcp_field_s  ngx_http_confhaven_mcp_field_t;

struct ngx_http_confhaven_mcp_field_s {
    const char                            *name;
    ngx_uint_t                             types;
    ngx_uint_t                             flags;
    size_t                                 max;
    ngx_http_confhaven_mcp_field_t        *fields;
};


typedef struct {
    ngx_str_t                          name;
    ngx_uint_t                         wires;
    ngx_http_confhaven_mcp_method_pt   handler;
    ngx_http_confhaven_mcp_field_t    *params;   /* besides _meta */
} ngx_http_confhaven_mcp_method_t;


/* where the check is, for its messages: "context.arguments.date" */

typedef struct {
    u_char                            *error;
    size_t                             size;
    size_t                             len;
    u_char                             path[NGX_HTTP_CONFHAVEN_MCP_PATH_LEN];
} ngx_http_confhaven_mcp_check_t;


static json_t *ngx_http_confhaven_mcp_capabilities(ngx_uint_t modern);
static void ngx_http_confhaven_mcp_initialize(
    ngx_http_confhaven_mcp_call_t *call);
static void ngx_http_confhaven_mcp_ping(ngx_http_confhaven_mcp_call_t *call);
static void ngx_http_confhaven_mcp_set_level(
    ngx_http_confhaven_mcp_call_t *call);
static void ngx_http_confhaven_mcp_discover(
    ngx_http_confhaven_mcp_call_t *call);
static void ngx_http_confhaven_mcp_tools_list(
    ngx_http_confhaven_mcp_call_t *call);
static ngx_uint_t ngx_http_confhaven_mcp_tools_features(ngx_uint_t version);
static void ngx_http_confhaven_mcp_tools_call(
    ngx_http_confhaven_mcp_call_t *call);
static void ngx_http_confhaven_mcp_tool_span(
    ngx_http_confhaven_mcp_call_t *call, ngx_http_confhaven_tool_run_t *run);
static void ngx_http_confhaven_mcp_trace_span(
    ngx_http_confhaven_mcp_call_t *call, json_t *meta, u_char *p, size_t len);
static void ngx_http_confhaven_mcp_tool_done(
    ngx_http_confhaven_tool_run_t *run);
static char *ngx_http_confhaven_mcp_unknown_tool(
    ngx_http_confhaven_mcp_call_t *call);
static ngx_http_confhaven_mcp_method_t *ngx_http_confhaven_mcp_method(
    ngx_str_t *method, ngx_uint_t modern);
static ngx_int_t ngx_http_confhaven_mcp_check_object(
    ngx_http_confhaven_mcp_check_t *ck, json_t *obj,
    ngx_http_confhaven_mcp_field_t *fields);
static ngx_int_t ngx_http_confhaven_mcp_check_value(
    ngx_http_confhaven_mcp_check_t *ck, json_t *v,
    ngx_http_confhaven_mcp_field_t *f);
static size_t ngx_http_confhaven_mcp_check_push(
    ngx_http_confhaven_mcp_check_t *ck, const char *name);
static ngx_int_t ngx_http_confhaven_mcp_check_fail(
    ngx_http_confhaven_mcp_check_t *ck, const char *fmt, ...);


static ngx_str_t  ngx_http_confhaven_mcp_versions[] = {
    ngx_null_string,
    ngx_string("2024-11-05"),
    ngx_string("2025-03-26"),
    ngx_string("2025-06-18"),
    ngx_string("2025-11-25"),
    ngx_string("2026-07-28"),
};


/* ---------------------------------------------------- the params shapes */


#define NGX_HTTP_CONFHAVEN_MCP_S   NGX_HTTP_CONFHAVEN_MCP_T_STRING
#define NGX_HTTP_CONFHAVEN_MCP_O   NGX_HTTP_CONFHAVEN_MCP_T_OBJECT
#define NGX_HTTP_CONFHAVEN_MCP_R   NGX_HTTP_CONFHAVEN_MCP_REQUIRED


static ngx_http_confhaven_mcp_field_t  ngx_http_confhaven_mcp_client_info[] = {
    { "name", NGX_HTTP_CONFHAVEN_MCP_S, 0, 256, NULL },
    { "title", NGX_HTTP_CONFHAVEN_MCP_S, 0, 256, NULL },
    { "version", NGX_HTTP_CONFHAVEN_MCP_S, 0, 256, NULL },
    { NULL, 0, 0, 0, NULL }
};


/* every request's params._meta, on every wire */

static ngx_http_confhaven_mcp_field_t  ngx_http_confhaven_mcp_meta_fields[] = {
    { "progressToken",
      NGX_HTTP_CONFHAVEN_MCP_S|NGX_HTTP_CONFHAVEN_MCP_T_INTEGER, 0, 256,
      NULL },
    { "traceparent", NGX_HTTP_CONFHAVEN_MCP_S, 0, 256, NULL },
    { "tracestate", NGX_HTTP_CONFHAVEN_MCP_S, 0, 512, NULL },
    { "baggage", NGX_HTTP_CONFHAVEN_MCP_S, 0, 8192, NULL },
    { "io.modelcontextprotocol/protocolVersion", NGX_HTTP_CONFHAVEN_MCP_S,
      0, 64, NULL },
    { "io.modelcontextprotocol/clientCapabilities", NGX_HTTP_CONFHAVEN_MCP_O,
      0, 0, NULL },
    { "io.modelcontextprotocol/clientInfo", NGX_HTTP_CONFHAVEN_MCP_O, 0, 0,
      ngx_http_confhaven_mcp_client_info },
    { "io.modelcontextprotocol/logLevel", NGX_HTTP_CONFHAVEN_MCP_S, 0, 32,
      NULL },
    { NULL, 0, 0, 0, NULL }
};

static ngx_http_confhaven_mcp_field_t  ngx_http_confhaven_mcp_meta[] = {
    { "_meta", NGX_HTTP_CONFHAVEN_MCP_O, 0, 0,
      ngx_http_confhaven_mcp_meta_fields },
    { NULL, 0, 0, 0, NULL }
};


static ngx_http_confhaven_mcp_field_t  ngx_http_confhaven_mcp_initialize_p[] = {
    { "protocolVersion", NGX_HTTP_CONFHAVEN_MCP_S, NGX_HTTP_CONFHAVEN_MCP_R,
      64, NULL },
    { "capabilities", NGX_HTTP_CONFHAVEN_MCP_O, 0, 0, NULL },
    { "clientInfo", NGX_HTTP_CONFHAVEN_MCP_O, 0, 0,
      ngx_http_confhaven_mcp_client_info },
    { NULL, 0, 0, 0, NULL }
};

static ngx_http_confhaven_mcp_field_t  ngx_http_confhaven_mcp_list_p[] = {
    { "cursor", NGX_HTTP_CONFHAVEN_MCP_S, 0, 1024, NULL },
    { NULL, 0, 0, 0, NULL }
};

/* the arguments are checked against the tool's inputSchema (tools.c) */

static ngx_http_confhaven_mcp_field_t  ngx_http_confhaven_mcp_call_p[] = {
    { "name", NGX_HTTP_CONFHAVEN_MCP_S, NGX_HTTP_CONFHAVEN_MCP_R, 128,
      NULL },
    { "arguments", NGX_HTTP_CONFHAVEN_MCP_T_ANY, 0, 0, NULL },
    { NULL, 0, 0, 0, NULL }
};

static ngx_http_confhaven_mcp_field_t  ngx_http_confhaven_mcp_read_p[] = {
    { "uri", NGX_HTTP_CONFHAVEN_MCP_S, NGX_HTTP_CONFHAVEN_MCP_R, 2048,
      NULL },
    { NULL, 0, 0, 0, NULL }
};

/* prompt arguments: an object of strings */

static ngx_http_confhaven_mcp_field_t  ngx_http_confhaven_mcp_strings[] = {
    { "*", NGX_HTTP_CONFHAVEN_MCP_S, 0, 1024, NULL },
    { NULL, 0, 0, 0, NULL }
};

static ngx_http_confhaven_mcp_field_t  ngx_http_confhaven_mcp_prompt_p[] = {
    { "name", NGX_HTTP_CONFHAVEN_MCP_S, NGX_HTTP_CONFHAVEN_MCP_R, 128,
      NULL },
    { "arguments", NGX_HTTP_CONFHAVEN_MCP_O, NGX_HTTP_CONFHAVEN_MCP_MAP, 32,
      ngx_http_confhaven_mcp_strings },
    { NULL, 0, 0, 0, NULL }
};

static ngx_http_confhaven_mcp_field_t  ngx_http_confhaven_mcp_ref[] = {
    { "type", NGX_HTTP_CONFHAVEN_MCP_S, NGX_HTTP_CONFHAVEN_MCP_R, 64, NULL },
    { "name", NGX_HTTP_CONFHAVEN_MCP_S, 0, 128, NULL },
    { "uri", NGX_HTTP_CONFHAVEN_MCP_S, 0, 2048, NULL },
    { NULL, 0, 0, 0, NULL }
};

static ngx_http_confhaven_mcp_field_t  ngx_http_confhaven_mcp_argument[] = {
    { "name", NGX_HTTP_CONFHAVEN_MCP_S, NGX_HTTP_CONFHAVEN_MCP_R, 128,
      NULL },
    { "value", NGX_HTTP_CONFHAVEN_MCP_S, NGX_HTTP_CONFHAVEN_MCP_R, 1024,
      NULL },
    { NULL, 0, 0, 0, NULL }
};

static ngx_http_confhaven_mcp_field_t  ngx_http_confhaven_mcp_context[] = {
    { "arguments", NGX_HTTP_CONFHAVEN_MCP_O, NGX_HTTP_CONFHAVEN_MCP_MAP, 32,
      ngx_http_confhaven_mcp_strings },
    { NULL, 0, 0, 0, NULL }
};

static ngx_http_confhaven_mcp_field_t  ngx_http_confhaven_mcp_complete_p[] = {
    { "ref", NGX_HTTP_CONFHAVEN_MCP_O, NGX_HTTP_CONFHAVEN_MCP_R, 0,
      ngx_http_confhaven_mcp_ref },
    { "argument", NGX_HTTP_CONFHAVEN_MCP_O, NGX_HTTP_CONFHAVEN_MCP_R, 0,
      ngx_http_confhaven_mcp_argument },
    { "context", NGX_HTTP_CONFHAVEN_MCP_O, 0, 0,
      ngx_http_confhaven_mcp_context },
    { NULL, 0, 0, 0, NULL }
};

static ngx_http_confhaven_mcp_field_t  ngx_http_confhaven_mcp_level_p[] = {
    { "level", NGX_HTTP_CONFHAVEN_MCP_S, NGX_HTTP_CONFHAVEN_MCP_R, 32,
      NULL },
    { NULL, 0, 0, 0, NULL }
};


static ngx_http_confhaven_mcp_method_t  ngx_http_confhaven_mcp_methods[] = {

    { ngx_string("initialize"), NGX_HTTP_CONFHAVEN_MCP_LEGACY,
      ngx_http_confhaven_mcp_initialize,
      ngx_http_confhaven_mcp_initialize_p },

    { ngx_string("ping"), NGX_HTTP_CONFHAVEN_MCP_LEGACY,
      ngx_http_confhaven_mcp_ping, NULL },

    { ngx_string("server/discover"), NGX_HTTP_CONFHAVEN_MCP_MODERN,
      ngx_http_confhaven_mcp_discover, NULL },

    { ngx_string("tools/list"), NGX_HTTP_CONFHAVEN_MCP_BOTH,
      ngx_http_confhaven_mcp_tools_list, ngx_http_confhaven_mcp_list_p },

    { ngx_string("tools/call"), NGX_HTTP_CONFHAVEN_MCP_BOTH,
      ngx_http_confhaven_mcp_tools_call, ngx_http_confhaven_mcp_call_p },

    { ngx_string("resources/list"), NGX_HTTP_CONFHAVEN_MCP_BOTH,
      ngx_http_confhaven_mcp_resources_list, ngx_http_confhaven_mcp_list_p },

    { ngx_string("resources/templates/list"), NGX_HTTP_CONFHAVEN_MCP_BOTH,
      ngx_http_confhaven_mcp_resources_templates,
      ngx_http_confhaven_mcp_list_p },

    { ngx_string("resources/read"), NGX_HTTP_CONFHAVEN_MCP_BOTH,
      ngx_http_confhaven_mcp_resources_read, ngx_http_confhaven_mcp_read_p },

    { ngx_string("prompts/list"), NGX_HTTP_CONFHAVEN_MCP_BOTH,
      ngx_http_confhaven_mcp_prompts_list, ngx_http_confhaven_mcp_list_p },

    { ngx_string("prompts/get"), NGX_HTTP_CONFHAVEN_MCP_BOTH,
      ngx_http_confhaven_mcp_prompts_get, ngx_http_confhaven_mcp_prompt_p },

    { ngx_string("completion/complete"), NGX_HTTP_CONFHAVEN_MCP_BOTH,
      ngx_http_confhaven_mcp_resources_complete,
      ngx_http_confhaven_mcp_complete_p },

    /* removed by 2026-07-28 with the rest of logging */
    { ngx_string("logging/setLevel"), NGX_HTTP_CONFHAVEN_MCP_LEGACY,
      ngx_http_confhaven_mcp_set_level, ngx_http_confhaven_mcp_level_p },

    { ngx_null_string, 0, NULL, NULL }
};


/* RFC 5424 severities as MCP names them, most verbose first */

static const char  *ngx_http_confhaven_mcp_levels[] = {
    "debug", "info", "notice", "warning", "error", "critical", "alert",
    "emergency", NULL
};


static const char  ngx_http_confhaven_mcp_instructions[] =
    "ConferenceHaven answers questions about conference schedules. Call "
    "list_conferences to learn conference slugs, search_sessions to find "
    "talks by topic, speaker, track or level, and get_session for the "
    "full abstract of one session. Conferences and sessions are also "
    "resources (confhaven://conferences/{slug}, confhaven://sessions/{id}) "
    "and the plan_my_day prompt builds a day plan from a conference's "
    "schedule. Times are local to the conference with their UTC offset.";


/* ---------------------------------------------------------------- helpers */


ngx_uint_t
ngx_http_confhaven_mcp_version(u_char *data, size_t len)
{
    ngx_uint_t  v;

    for (v = 1; v <= NGX_HTTP_CONFHAVEN_MCP_VLAST; v++) {
        if (ngx_http_confhaven_mcp_versions[v].len == len
            && ngx_strncmp(ngx_http_confhaven_mcp_versions[v].data, data,
                           len) == 0)
        {
            return v;
        }
    }

    return 0;
}


ngx_str_t *
ngx_http_confhaven_mcp_version_name(ngx_uint_t version)
{
    if (version > NGX_HTTP_CONFHAVEN_MCP_VLAST) {
        version = 0;
    }

    return &ngx_http_confhaven_mcp_versions[version];
}


/* newest first, as server/discover and -32022 list them */

json_t *
ngx_http_confhaven_mcp_supported_versions(void)
{
    json_t      *a;
    ngx_uint_t   v;

    a = json_array();
    if (a == NULL) {
        return NULL;
    }

    for (v = NGX_HTTP_CONFHAVEN_MCP_VLAST; v >= 1; v--) {
        json_array_append_new(a,
            json_stringn((char *) ngx_http_confhaven_mcp_versions[v].data,
                         ngx_http_confhaven_mcp_versions[v].len));
    }

    return a;
}


/* methods the 2026-07-28 wire removed: 404 + -32601 there */

ngx_int_t
ngx_http_confhaven_mcp_modern_method(ngx_str_t *method)
{
    ngx_http_confhaven_mcp_method_t  *m;

    for (m = ngx_http_confhaven_mcp_methods; m->name.len; m++) {
        if (m->name.len == method->len
            && ngx_strncmp(m->name.data, method->data, method->len) == 0)
        {
            return (m->wires & NGX_HTTP_CONFHAVEN_MCP_MODERN) ? NGX_OK
                                                              : NGX_DECLINED;
        }
    }

    return NGX_DECLINED;
}


/* ------------------------------------------------------------ messages */


/*
 * NGX_OK: *out is the parsed value, stored in r->pool (never
 * json_decref() nor change it: ngx_http_confhaven_json_load_pool());
 * NGX_DECLINED: not JSON, error says why (NUL-terminated, no control
 * characters) (jansson also rejects invalid UTF-8, NUL escapes, integers
 * past 64 bits and nesting deeper than 2048).
 */

ngx_int_t
ngx_http_confhaven_mcp_parse(ngx_http_request_t *r, u_char *data, size_t len,
    json_t **out, ngx_str_t *error)
{
    u_char        *p;
    json_t        *json;
    json_error_t   err;

    /* the body's values live in r->pool: no malloc or free each */
    json = ngx_http_confhaven_json_load_pool(r->pool, data, len,
                                             JSON_DECODE_ANY, &err);

    if (json == NULL) {
        error->data = ngx_pnalloc(r->pool, JSON_ERROR_TEXT_LENGTH + 64);
        if (error->data == NULL) {
            return NGX_ERROR;
        }

        error->len = ngx_sprintf(error->data, "Parse error: %s at byte %d",
                                 err.text, err.position)
                     - error->data;

        if (ngx_http_confhaven_json_utf8_invalid(error->data, error->len, 0)
            >= 0)
        {
            error->len = ngx_sprintf(error->data, "Parse error")
                         - error->data;
        }

        /* jansson quotes the input: no control characters in the log */
        for (p = error->data; p < error->data + error->len; p++) {
            if (*p < 0x20 || *p == 0x7f) {
                *p = '?';
            }
        }

        /* NUL-terminated: it becomes a C string for jansson */
        error->data[error->len] = '\0';

        return NGX_DECLINED;
    }

    *out = json;

    return NGX_OK;
}


/*
 * Checks one message of the body.  NGX_OK: a request or a notification
 * to dispatch, or a client response (call->notification, nothing to do);
 * NGX_DECLINED: call->response holds the -32600/-32602 error.
 */

ngx_int_t
ngx_http_confhaven_mcp_validate(ngx_http_confhaven_mcp_call_t *call,
    json_t *msg)
{
    json_t      *v, *id, *method;
    const char  *why;

    call->msg = msg;
    call->status = NGX_HTTP_OK;

    if (!json_is_object(msg)) {
        why = "Invalid Request: a JSON-RPC message is an object";
        id = NULL;
        goto invalid;
    }

    id = json_object_get(msg, "id");

    if (id && !json_is_string(id) && !json_is_integer(id)) {
        why = "Invalid Request: id must be a string or an integer";
        id = NULL;
        goto invalid;
    }

    v = json_object_get(msg, "jsonrpc");

    if (!json_is_string(v) || ngx_strcmp(json_string_value(v), "2.0") != 0) {
        why = "Invalid Request: jsonrpc must be \"2.0\"";
        goto invalid;
    }

    method = json_object_get(msg, "method");

    if (method == NULL) {
        if (id && (json_object_get(msg, "result")
                   || json_object_get(msg, "error")))
        {
            /* a response to a server request: we send none, so drop it */
            call->notification = 1;
            return NGX_OK;
        }

        why = "Invalid Request: method is missing";
        goto invalid;
    }

    if (!json_is_string(method) || json_string_length(method) == 0) {
        why = "Invalid Request: method must be a non-empty string";
        goto invalid;
    }

    /* a request is not also a response: which one would it be? */
    v = json_object_get(msg, "result");

    if ((v && !json_is_null(v))
        || ((v = json_object_get(msg, "error")) && !json_is_null(v)))
    {
        why = "Invalid Request: a message has a method or a result or "
              "error, not both";
        goto invalid;
    }

    call->id = id;
    call->notification = (id == NULL);
    call->method.data = (u_char *) json_string_value(method);
    call->method.len = json_string_length(method);

    v = json_object_get(msg, "params");

    if (v && !json_is_null(v) && !json_is_object(v)) {
        if (json_is_array(v)) {
            ngx_http_confhaven_mcp_set_error(call, NGX_HTTP_OK,
                                         NGX_HTTP_CONFHAVEN_MCP_INVALID_PARAMS,
                                         "Invalid params: MCP params are an "
                                         "object", NULL);
            call->completed = 1;
            return NGX_DECLINED;
        }

        why = "Invalid Request: params must be an object";
        goto invalid;
    }

    call->params = json_is_object(v) ? v : NULL;

    return NGX_OK;

invalid:

    call->id = id;
    call->notification = 0;

    ngx_log_error(NGX_LOG_INFO, call->r->connection->log, 0,
                  "confhaven mcp: %s", why);

    ngx_http_confhaven_mcp_set_error(call, NGX_HTTP_BAD_REQUEST,
                                     NGX_HTTP_CONFHAVEN_MCP_INVALID_REQUEST,
                                     why, NULL);
    call->completed = 1;
    return NGX_DECLINED;
}


/*
 * W3C trace context from params._meta (any version), else the HTTP
 * header: kept for $confhaven_trace_id and the log.
 */

void
ngx_http_confhaven_mcp_trace(ngx_http_confhaven_mcp_call_t *call)
{
    u_char                         *p;
    size_t                          len, i;
    json_t                         *meta, *tp;
    ngx_table_elt_t                *h;
    ngx_http_confhaven_mcp_vars_t  *vars;

    vars = call->vars;
    if (vars == NULL || vars->trace_id.len) {
        return;
    }

    p = NULL;
    len = 0;

    meta = call->params ? json_object_get(call->params, "_meta") : NULL;
    tp = json_is_object(meta) ? json_object_get(meta, "traceparent") : NULL;

    if (json_is_string(tp)) {
        p = (u_char *) json_string_value(tp);
        len = json_string_length(tp);

        /* the request's span joins the trace the message names */
        if (call->ops && call->ops->trace) {
            ngx_http_confhaven_mcp_trace_span(call, meta, p, len);
        }

    } else {
        h = ngx_http_confhaven_header_in(call->r, "traceparent",
                                          sizeof("traceparent") - 1);
        if (h) {
            p = h->value.data;
            len = h->value.len;
        }
    }

    /* version "-" trace-id (32 hex) "-" parent-id (16 hex) "-" flags */
    if (p == NULL || len < 55 || p[2] != '-' || p[35] != '-'
        || p[52] != '-')
    {
        return;
    }

    for (i = 3; i < 35; i++) {
        if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
        {
            return;
        }
    }

    vars->trace_id.data = ngx_pnalloc(call->r->pool, 32);
    if (vars->trace_id.data == NULL) {
        return;
    }

    ngx_memcpy(vars->trace_id.data, p + 3, 32);
    vars->trace_id.len = 32;
}


static void
ngx_http_confhaven_mcp_trace_span(ngx_http_confhaven_mcp_call_t *call,
    json_t *meta, u_char *p, size_t len)
{
    json_t     *ts;
    ngx_str_t   tp, state, *sp;

    tp.data = p;
    tp.len = len;

    ts = json_object_get(meta, "tracestate");
    sp = NULL;

    if (json_is_string(ts)) {
        state.data = (u_char *) json_string_value(ts);
        state.len = json_string_length(ts);
        sp = &state;
    }

    ngx_http_confhaven_trace_reparent(call->ops->trace, &tp, sp);
}


/* ------------------------------------------------------ the params check */


static ngx_http_confhaven_mcp_method_t *
ngx_http_confhaven_mcp_method(ngx_str_t *method, ngx_uint_t modern)
{
    ngx_uint_t                        wire;
    ngx_http_confhaven_mcp_method_t  *m;

    wire = modern ? NGX_HTTP_CONFHAVEN_MCP_MODERN
                  : NGX_HTTP_CONFHAVEN_MCP_LEGACY;

    for (m = ngx_http_confhaven_mcp_methods; m->name.len; m++) {
        if (m->name.len == method->len
            && ngx_strncmp(m->name.data, method->data, method->len) == 0
            && (m->wires & wire))
        {
            return m;
        }
    }

    return NULL;
}


/*
 * Checks params against the declared shape of the method on the wire
 * (modern: 2026-07-28; else a session or legacy SSE), _meta included,
 * before any handler sees them.  params is the message's "params" (NULL
 * when absent or null).  NGX_OK: well-typed, or a method the wire does
 * not serve (dispatch answers -32601); NGX_DECLINED: error (size bytes;
 * NGX_HTTP_CONFHAVEN_MCP_ERROR_LEN holds any) has the NUL-terminated
 * "Invalid params: ..." message for a -32602.  Needs no request, pool or
 * configuration.  Tool arguments are checked against the tool's
 * inputSchema by ngx_http_confhaven_tools_check_args().
 */

ngx_int_t
ngx_http_confhaven_mcp_check_params(ngx_str_t *method, ngx_uint_t modern,
    json_t *params, u_char *error, size_t size)
{
    ngx_http_confhaven_mcp_check_t    ck;
    ngx_http_confhaven_mcp_method_t  *m;

    m = ngx_http_confhaven_mcp_method(method, modern);
    if (m == NULL) {
        return NGX_OK;
    }

    ck.error = error;
    ck.size = size;
    ck.len = 0;
    ck.path[0] = '\0';

    if (params && !json_is_object(params)) {
        return ngx_http_confhaven_mcp_check_fail(&ck,
                                        "params must be an object");
    }

    if (ngx_http_confhaven_mcp_check_object(&ck, params,
                                            ngx_http_confhaven_mcp_meta)
        != NGX_OK)
    {
        return NGX_DECLINED;
    }

    if (m->params == NULL) {
        return NGX_OK;
    }

    return ngx_http_confhaven_mcp_check_object(&ck, params, m->params);
}


/* obj may be NULL: then only the required fields matter */

static ngx_int_t
ngx_http_confhaven_mcp_check_object(ngx_http_confhaven_mcp_check_t *ck,
    json_t *obj, ngx_http_confhaven_mcp_field_t *fields)
{
    json_t                          *v;
    size_t                           len;
    ngx_int_t                        rc;
    ngx_http_confhaven_mcp_field_t  *f;

    for (f = fields; f->name; f++) {
        v = obj ? json_object_get(obj, f->name) : NULL;

        if (v == NULL || json_is_null(v)) {
            if (!(f->flags & NGX_HTTP_CONFHAVEN_MCP_REQUIRED)) {
                continue;
            }

            if (v == NULL) {
                len = ngx_http_confhaven_mcp_check_push(ck, f->name);
                rc = ngx_http_confhaven_mcp_check_fail(ck, "%s is required",
                                                       ck->path);
                ck->len = len;
                return rc;
            }
        }

        len = ngx_http_confhaven_mcp_check_push(ck, f->name);
        rc = ngx_http_confhaven_mcp_check_value(ck, v, f);
        ck->len = len;

        if (rc != NGX_OK) {
            return rc;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_confhaven_mcp_check_value(ngx_http_confhaven_mcp_check_t *ck,
    json_t *v, ngx_http_confhaven_mcp_field_t *f)
{
    u_char      *p, *last, buf[96];
    size_t       len;
    json_t      *m;
    ngx_int_t    rc;
    ngx_uint_t   type, i, n;
    const char  *key;

    static const char  *names[] = {
        "a string", "an integer", "a number", "a boolean", "an object",
        "an array"
    };

    switch (json_typeof(v)) {
    case JSON_STRING:
        type = NGX_HTTP_CONFHAVEN_MCP_T_STRING;
        break;
    case JSON_INTEGER:
        type = NGX_HTTP_CONFHAVEN_MCP_T_INTEGER
               |NGX_HTTP_CONFHAVEN_MCP_T_NUMBER;
        break;
    case JSON_REAL:
        type = NGX_HTTP_CONFHAVEN_MCP_T_NUMBER;
        break;
    case JSON_TRUE:
    case JSON_FALSE:
        type = NGX_HTTP_CONFHAVEN_MCP_T_BOOLEAN;
        break;
    case JSON_OBJECT:
        type = NGX_HTTP_CONFHAVEN_MCP_T_OBJECT;
        break;
    case JSON_ARRAY:
        type = NGX_HTTP_CONFHAVEN_MCP_T_ARRAY;
        break;
    default:
        type = 0;   /* null */
    }

    if ((type & f->types) == 0) {
        p = buf;
        last = buf + sizeof(buf) - 1;

        for (i = 0, n = 0; i < sizeof(names) / sizeof(names[0]); i++) {
            if (f->types & (1 << i)) {
                p = ngx_slprintf(p, last, "%s%s", n++ ? " or " : "",
                                 names[i]);
            }
        }

        *p = '\0';

        return ngx_http_confhaven_mcp_check_fail(ck, "%s must be %s",
                                                 ck->path, buf);
    }

    switch (type) {

    case NGX_HTTP_CONFHAVEN_MCP_T_STRING:
        if (f->max && json_string_length(v) > f->max) {
            return ngx_http_confhaven_mcp_check_fail(ck,
                       "%s is too long (at most %uz bytes)", ck->path,
                       f->max);
        }

        break;

    case NGX_HTTP_CONFHAVEN_MCP_T_ARRAY:
        if (f->max && json_array_size(v) > f->max) {
            return ngx_http_confhaven_mcp_check_fail(ck,
                       "%s has too many items (at most %uz)", ck->path,
                       f->max);
        }

        break;

    case NGX_HTTP_CONFHAVEN_MCP_T_OBJECT:
        if (f->max && json_object_size(v) > f->max) {
            return ngx_http_confhaven_mcp_check_fail(ck,
                       "%s has too many members (at most %uz)", ck->path,
                       f->max);
        }

        if (f->fields == NULL) {
            break;
        }

        if (!(f->flags & NGX_HTTP_CONFHAVEN_MCP_MAP)) {
            return ngx_http_confhaven_mcp_check_object(ck, v, f->fields);
        }

        json_object_foreach(v, key, m) {
            if (json_is_null(m)) {
                continue;
            }

            len = ngx_http_confhaven_mcp_check_push(ck, key);
            rc = ngx_http_confhaven_mcp_check_value(ck, m, f->fields);
            ck->len = len;

            if (rc != NGX_OK) {
                return rc;
            }
        }

        break;
    }

    return NGX_OK;
}


/*
 * Appends ".name" to the path (NUL-terminated); returns the length to go
 * back to.  A client's member name goes in only when short and plain.
 */

static size_t
ngx_http_confhaven_mcp_check_push(ngx_http_confhaven_mcp_check_t *ck,
    const char *name)
{
    u_char  *p, *last;
    size_t   len, i, old;

    old = ck->len;
    len = ngx_strlen(name);

    for (i = 0; i < len && len <= 64; i++) {
        if (name[i] <= 0x20 || name[i] >= 0x7f || name[i] == '"'
            || name[i] == '\\')
        {
            break;
        }
    }

    if (i != len || len == 0 || len > 64) {
        name = "(a member)";
    }

    p = ck->path + ck->len;
    last = ck->path + sizeof(ck->path) - 1;

    p = ngx_slprintf(p, last, "%s%s", ck->len ? "." : "", name);
    *p = '\0';

    ck->len = p - ck->path;

    return old;
}


static ngx_int_t
ngx_http_confhaven_mcp_check_fail(ngx_http_confhaven_mcp_check_t *ck,
    const char *fmt, ...)
{
    u_char   *p, *last;
    va_list   args;

    if (ck->size == 0) {
        return NGX_DECLINED;
    }

    p = ck->error;
    last = ck->error + ck->size - 1;

    p = ngx_slprintf(p, last, "Invalid params: ");

    va_start(args, fmt);
    p = ngx_vslprintf(p, last, fmt, args);
    va_end(args);

    *p = '\0';

    return NGX_DECLINED;
}


/* ------------------------------------------------------------- dispatch */


void
ngx_http_confhaven_mcp_dispatch(ngx_http_confhaven_mcp_call_t *call)
{
    u_char                            err[NGX_HTTP_CONFHAVEN_MCP_ERROR_LEN];
    u_char                            buf[NGX_HTTP_CONFHAVEN_MCP_LOG_LEN];
    u_char                           *p;
    ngx_http_confhaven_mcp_method_t  *m;

    if (call->vars && call->vars->method.len == 0) {
        call->vars->method = call->method;
    }

    ngx_http_confhaven_mcp_trace(call);

    if (call->notification) {
        /* notifications/initialized, cancelled, ...: nothing to answer */
        ngx_http_confhaven_mcp_complete(call);
        return;
    }

    m = ngx_http_confhaven_mcp_method(&call->method, call->modern);

    if (m) {
        /* types before handlers: no handler sees a mistyped field */

        if (!call->checked
            && ngx_http_confhaven_mcp_check_params(&call->method,
                                                   call->modern,
                                                   call->params, err,
                                                   sizeof(err))
               != NGX_OK)
        {
            ngx_log_error(NGX_LOG_INFO, call->r->connection->log, 0,
                          "confhaven mcp: %s", err);

            ngx_http_confhaven_mcp_error(call,
                                         call->modern ? NGX_HTTP_BAD_REQUEST
                                                      : NGX_HTTP_OK,
                                         NGX_HTTP_CONFHAVEN_MCP_INVALID_PARAMS,
                                         (char *) err, NULL);
            return;
        }

        call->checked = 1;
        m->handler(call);
        return;
    }

    p = ngx_http_confhaven_json_log_escape(buf, sizeof(buf),
                                          call->method.data,
                                          call->method.len);

    ngx_log_error(NGX_LOG_INFO, call->r->connection->log, 0,
                  "confhaven mcp: unknown method \"%*s\"", p - buf, buf);

    ngx_http_confhaven_mcp_error(call,
                                 call->modern ? NGX_HTTP_NOT_FOUND
                                              : NGX_HTTP_OK,
                                 NGX_HTTP_CONFHAVEN_MCP_METHOD_NOT_FOUND,
                                 "Method not found", NULL);
}


/* exactly what we serve: logging went away with 2026-07-28 */

static json_t *
ngx_http_confhaven_mcp_capabilities(ngx_uint_t modern)
{
    json_t  *caps;

    caps = json_pack("{s:{s:b}, s:{s:b, s:b}, s:{s:b}, s:{}}",
                     "tools", "listChanged", 0,
                     "resources", "subscribe", 0, "listChanged", 0,
                     "prompts", "listChanged", 0,
                     "completions");

    if (caps && !modern) {
        json_object_set_new(caps, "logging", json_object());
    }

    return caps;
}


static void
ngx_http_confhaven_mcp_initialize(ngx_http_confhaven_mcp_call_t *call)
{
    json_t      *v, *result;
    ngx_uint_t   version;

    v = call->params ? json_object_get(call->params, "protocolVersion")
                     : NULL;

    if (!json_is_string(v)) {
        ngx_http_confhaven_mcp_error(call, NGX_HTTP_OK,
                                     NGX_HTTP_CONFHAVEN_MCP_INVALID_PARAMS,
                                     "Invalid params: protocolVersion "
                                     "must be a string", NULL);
        return;
    }

    version = ngx_http_confhaven_mcp_version((u_char *) json_string_value(v),
                                             json_string_length(v));

    /* an unknown or stateless-only version gets our newest session one */
    if (version == 0 || version > NGX_HTTP_CONFHAVEN_MCP_VLAST_LEGACY) {
        version = NGX_HTTP_CONFHAVEN_MCP_VLAST_LEGACY;
    }

    call->version = version;

    /* a legacy /sse session exists already: it keeps clientInfo.name */
    if (call->session.len) {
        ngx_http_confhaven_mcp_client_name_keep(call, &call->session);
    }

    result = json_pack("{s:s%, s:o, s:{s:s, s:s, s:s}, s:s}",
                       "protocolVersion",
                       ngx_http_confhaven_mcp_versions[version].data,
                       ngx_http_confhaven_mcp_versions[version].len,
                       "capabilities",
                       ngx_http_confhaven_mcp_capabilities(0),
                       "serverInfo",
                       "name", NGX_HTTP_CONFHAVEN_MCP_SERVER_NAME,
                       "title", "ConferenceHaven",
                       "version", NGX_HTTP_CONFHAVEN_MCP_SERVER_VERSION,
                       "instructions", ngx_http_confhaven_mcp_instructions);

    if (result) {
        ngx_http_confhaven_mcp_apps_capabilities(call,
                                  json_object_get(result, "capabilities"));
    }

    ngx_http_confhaven_mcp_result(call, result);
}


/*
 * initialize's clientInfo.name, kept with the session (which assistant
 * asks: the organizers' analytics, ngx_http_confhaven_mcp_events.c).
 */

void
ngx_http_confhaven_mcp_client_name_keep(ngx_http_confhaven_mcp_call_t *call,
    ngx_str_t *session)
{
    json_t     *name;
    ngx_str_t   n;

    name = json_object_get(json_object_get(call->params, "clientInfo"),
                           "name");

    if (!json_is_string(name) || json_string_length(name) == 0) {
        return;
    }

    n.data = (u_char *) json_string_value(name);
    n.len = json_string_length(name);

    (void) ngx_http_confhaven_mcp_session_set_client(&call->mcf->zone,
                                                     session, NULL, &n);
}


static void
ngx_http_confhaven_mcp_ping(ngx_http_confhaven_mcp_call_t *call)
{
    ngx_http_confhaven_mcp_result(call, json_object());
}


static void
ngx_http_confhaven_mcp_set_level(ngx_http_confhaven_mcp_call_t *call)
{
    json_t      *v;
    ngx_uint_t   i;

    v = call->params ? json_object_get(call->params, "level") : NULL;

    for (i = 0; json_is_string(v) && ngx_http_confhaven_mcp_levels[i]; i++) {
        if (ngx_strcmp(json_string_value(v), ngx_http_confhaven_mcp_levels[i])
            == 0)
        {
            break;
        }
    }

    if (!json_is_string(v) || ngx_http_confhaven_mcp_levels[i] == NULL) {
        ngx_http_confhaven_mcp_error(call, NGX_HTTP_OK,
                                     NGX_HTTP_CONFHAVEN_MCP_INVALID_PARAMS,
                                     "Invalid params: level must be one of "
                                     "debug, info, notice, warning, error, "
                                     "critical, alert, emergency", NULL);
        return;
    }

    /* kept with the session; we send no log notifications yet */
    if (call->session.len) {
        (void) ngx_http_confhaven_mcp_session_set_level(&call->mcf->zone,
                                                        &call->session,
                                                        i + 1);
    }

    ngx_http_confhaven_mcp_result(call, json_object());
}


static void
ngx_http_confhaven_mcp_discover(ngx_http_confhaven_mcp_call_t *call)
{
    json_t  *result;

    result = json_pack("{s:o, s:o, s:s, s:{s:{s:s, s:s}}}",
                       "supportedVersions",
                       ngx_http_confhaven_mcp_supported_versions(),
                       "capabilities",
                       ngx_http_confhaven_mcp_capabilities(1),
                       "instructions", ngx_http_confhaven_mcp_instructions,
                       "_meta",
                       "io.modelcontextprotocol/serverInfo",
                       "name", NGX_HTTP_CONFHAVEN_MCP_SERVER_NAME,
                       "version", NGX_HTTP_CONFHAVEN_MCP_SERVER_VERSION);

    if (result) {
        ngx_http_confhaven_mcp_apps_capabilities(call,
                                  json_object_get(result, "capabilities"));
    }

    ngx_http_confhaven_mcp_cacheable_private(call, result,
                                             NGX_HTTP_CONFHAVEN_MCP_TTL_STATIC);
    ngx_http_confhaven_mcp_result(call, result);
}


static void
ngx_http_confhaven_mcp_tools_list(ngx_http_confhaven_mcp_call_t *call)
{
    json_t  *result, *tools;

    if (ngx_http_confhaven_mcp_no_cursor(call) != NGX_OK) {
        return;
    }

    tools = ngx_http_confhaven_tools_list(
                ngx_http_confhaven_mcp_tools_features(call->version));

    if (tools && call->conf->extra_tools
        && call->conf->extra_tools->list(call, tools) != NGX_OK)
    {
        json_decref(tools);
        tools = NULL;
    }

    ngx_http_confhaven_mcp_apps_tools(call, tools);

    result = tools ? json_pack("{s:o}", "tools", tools) : NULL;

    ngx_http_confhaven_mcp_cacheable_private(call, result,
                                             NGX_HTTP_CONFHAVEN_MCP_TTL_STATIC);
    ngx_http_confhaven_mcp_result(call, result);
}


static void
ngx_http_confhaven_mcp_tools_call(ngx_http_confhaven_mcp_call_t *call)
{
    json_t                         *name;
    ngx_str_t                       n, client;
    ngx_http_confhaven_tool_t      *tool;
    ngx_http_confhaven_tool_run_t  *run;

    name = call->params ? json_object_get(call->params, "name") : NULL;

    if (!json_is_string(name)) {
        ngx_http_confhaven_mcp_error(call, NGX_HTTP_OK,
                                     NGX_HTTP_CONFHAVEN_MCP_INVALID_PARAMS,
                                     "Invalid params: name must be the "
                                     "name of a tool from tools/list", NULL);
        return;
    }

    n.data = (u_char *) json_string_value(name);
    n.len = json_string_length(name);

    tool = ngx_http_confhaven_tools_find(&n);

    if (tool == NULL && call->conf->extra_tools
        && call->conf->extra_tools->call(call, &n) == NGX_OK)
    {
        return;
    }

    if (tool == NULL) {
        ngx_log_error(NGX_LOG_INFO, call->r->connection->log, 0,
                      "confhaven mcp: unknown tool");

        ngx_http_confhaven_mcp_error(call, NGX_HTTP_OK,
                                     NGX_HTTP_CONFHAVEN_MCP_INVALID_PARAMS,
                                     ngx_http_confhaven_mcp_unknown_tool(call),
                                     json_pack("{s:O}", "name", name));
        return;
    }

    if (call->vars && call->vars->tool.len == 0) {
        call->vars->tool = tool->name;
    }

    run = ngx_pcalloc(call->r->pool, sizeof(ngx_http_confhaven_tool_run_t));
    if (run == NULL) {
        ngx_http_confhaven_mcp_result(call, NULL);
        return;
    }

    run->r = call->r;
    run->tool = tool;
    run->args = json_object_get(call->params, "arguments");
    run->args_typed = call->args_typed;
    run->done = ngx_http_confhaven_mcp_tool_done;
    run->data = call;

    /* the organizer key a legacy /sse stream's GET carried */
    if (call->session.len
        && ngx_http_confhaven_mcp_session_client(&call->mcf->zone,
                                                 &call->session,
                                                 call->r->pool,
                                                 &run->session_cred,
                                                 &client)
           == NGX_ERROR)
    {
        ngx_http_confhaven_mcp_result(call, NULL);
        return;
    }

    if (ngx_http_confhaven_mcp_ops_env(call, &run->env) != NGX_OK) {
        ngx_http_confhaven_mcp_result(call, NULL);
        return;
    }

    ngx_http_confhaven_mcp_tool_span(call, run);

    run->origin_conf = &call->conf->origin;

    if (ngx_http_confhaven_tools_call(run) != NGX_OK) {
        ngx_http_confhaven_trace_error(run->span);
        ngx_http_confhaven_trace_end(run->span);
        ngx_http_confhaven_mcp_result(call, NULL);
    }
}


/*
 * The tool call's span, under the request's: the original's mcp.*
 * attributes (mcp.user.query is the search text the client sent).
 */

static void
ngx_http_confhaven_mcp_tool_span(ngx_http_confhaven_mcp_call_t *call,
    ngx_http_confhaven_tool_run_t *run)
{
    u_char                     *p, *last;
    size_t                      len;
    json_t                     *v, *info;
    ngx_str_t                   client;
    const char                 *type;
    ngx_http_confhaven_span_t  *span;
    u_char                      name[NGX_HTTP_CONFHAVEN_SPAN_NAME];

    if (run->env == NULL || run->env->trace == NULL
        || !run->env->trace->sampled)
    {
        return;
    }

    p = ngx_snprintf(name, sizeof(name), "tools/call %V", &run->tool->name);
    len = p - name;

    span = ngx_http_confhaven_trace_child(call->r->pool, run->env->trace,
                                          (char *) name, len,
                                          NGX_HTTP_CONFHAVEN_SPAN_INTERNAL);
    if (span == NULL) {
        return;
    }

    run->span = span;

    ngx_http_confhaven_trace_str(span, "mcp.method.name",
                                 (u_char *) "tools/call", 10);
    ngx_http_confhaven_trace_str(span, "mcp.tool_name", run->tool->name.data,
                                 run->tool->name.len);
    ngx_http_confhaven_trace_str(span, "gen_ai.tool.name",
                                 run->tool->name.data, run->tool->name.len);

    v = json_object_get(run->args, "query");
    if (json_is_string(v)) {
        ngx_http_confhaven_trace_str(span, "mcp.user.query",
                                     (u_char *) json_string_value(v),
                                     json_string_length(v));
    }

    v = json_object_get(run->args, "conference");
    if (json_is_string(v)) {
        ngx_http_confhaven_trace_str(span, "mcp.conference_slug",
                                     (u_char *) json_string_value(v),
                                     json_string_length(v));
    }

    /* the 2026 wire's clientInfo, else the User-Agent */
    info = json_object_get(json_object_get(call->params, "_meta"),
                           "io.modelcontextprotocol/clientInfo");
    v = json_object_get(info, "name");

    ngx_str_null(&client);

    if (json_is_string(v)) {
        client.data = (u_char *) json_string_value(v);
        client.len = json_string_length(v);

    } else if (call->r->headers_in.user_agent) {
        client = call->r->headers_in.user_agent->value;
    }

    type = "unknown";
    last = client.data + client.len;

    if (client.len == 0) {
        /* void */

    } else if (ngx_strlcasestrn(client.data, last, (u_char *) "chatgpt", 6)
               || ngx_strlcasestrn(client.data, last, (u_char *) "openai", 5))
    {
        type = "chatgpt";

    } else if (ngx_strlcasestrn(client.data, last, (u_char *) "copilot", 6))
    {
        type = "copilot";

    } else if (ngx_strlcasestrn(client.data, last, (u_char *) "electron", 7))
    {
        type = "electron_app";

    } else if (ngx_strlcasestrn(client.data, last, (u_char *) "claude", 5)) {
        type = "claude";
    }

    ngx_http_confhaven_trace_str(span, "mcp.client_type", (u_char *) type,
                                 ngx_strlen(type));

    if (client.len) {
        ngx_http_confhaven_trace_str(span, "mcp.client.name", client.data,
                                     ngx_min(client.len, 128));
    }
}


static void
ngx_http_confhaven_mcp_tool_done(ngx_http_confhaven_tool_run_t *run)
{
    ngx_http_confhaven_mcp_call_t  *call = run->data;

    ngx_http_confhaven_mcp_vars_t  *vars;

    ngx_http_confhaven_mcp_events_tool(call, run);

    if (run->span) {
        if (run->call.error.kind != NGX_HTTP_CONFHAVEN_OP_OK
            || (run->result
                && json_is_true(json_object_get(run->result, "isError"))))
        {
            ngx_http_confhaven_trace_str(run->span, "error.type",
                                         (u_char *) "tool_error", 10);
            ngx_http_confhaven_trace_error(run->span);
        }

        ngx_http_confhaven_trace_int(run->span, "mcp.cache_status",
                                     (int64_t) run->cache_status);
        ngx_http_confhaven_trace_end(run->span);
        run->span = NULL;
    }

    vars = call->vars;
    if (vars) {
        if (run->db_time) {
            vars->db_used = 1;
            vars->db_time += run->db_time;
        }

        if (run->cache_status) {
            vars->cache_status = run->cache_status;
        }
    }

    if (run->result_text.len) {
        /* the result as sent (before, from the cache, or just now) */
        ngx_http_confhaven_mcp_result_text(call, &run->result_text);
        return;
    }

    /* the result is owned by the pool: the response takes a reference */
    ngx_http_confhaven_mcp_result(call, json_incref(run->result));
}


/* what a tools/list entry carries in a protocol version */

static ngx_uint_t
ngx_http_confhaven_mcp_tools_features(ngx_uint_t version)
{
    ngx_uint_t  f;

    f = 0;

    if (version >= NGX_HTTP_CONFHAVEN_MCP_V2025_03_26) {
        f |= NGX_HTTP_CONFHAVEN_TOOLS_ANNOTATIONS;
    }

    if (version >= NGX_HTTP_CONFHAVEN_MCP_V2025_06_18) {
        f |= NGX_HTTP_CONFHAVEN_TOOLS_TITLES|NGX_HTTP_CONFHAVEN_TOOLS_OUTPUT;
    }

    return f;
}


/*
 * "Unknown tool: tools/list names the tools (a, b, c)": the names come
 * from the tool table (the product's tools, not a location's extras)
 */

static char *
ngx_http_confhaven_mcp_unknown_tool(ngx_http_confhaven_mcp_call_t *call)
{
    u_char      *msg, *p;
    size_t       len;
    json_t      *tools, *name;
    ngx_uint_t   i, n, k;

    static char  prefix[] = "Unknown tool: tools/list names the tools";

    tools = ngx_http_confhaven_tools_list(
                ngx_http_confhaven_mcp_tools_features(call->version));
    n = tools ? json_array_size(tools) : 0;

    len = sizeof(prefix) - 1 + sizeof(" ()");

    for (i = 0; i < n; i++) {
        name = json_object_get(json_array_get(tools, i), "name");
        len += json_string_length(name) + sizeof(", ") - 1;
    }

    msg = ngx_pnalloc(call->r->pool, len);
    if (msg == NULL) {
        json_decref(tools);
        return prefix;
    }

    p = ngx_cpymem(msg, prefix, sizeof(prefix) - 1);

    for (i = 0, k = 0; i < n; i++) {
        name = json_object_get(json_array_get(tools, i), "name");
        if (!json_is_string(name)) {
            continue;
        }

        p = ngx_cpymem(p, k++ ? ", " : " (", 2);
        p = ngx_cpymem(p, json_string_value(name), json_string_length(name));
    }

    if (k) {
        *p++ = ')';
    }

    *p = '\0';

    json_decref(tools);

    return (char *) msg;
}


/* ---------------------------------------------------------------- queries */


/*
 * The first row's JSON, owned by the request pool.  NULL: a database
 * failure, already answered as a JSON-RPC error (-32603), or an SQL error
 * the caller reads from op->sqlstate (then nothing was answered).
 */


