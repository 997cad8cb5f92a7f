
/*
 * Copyright (C) ConferenceHaven
 *
 * A JSON-RPC body as POST /mcp, POST /messages and every wire get it:
 * ngx_http_confhaven_mcp_parse(), then ngx_http_confhaven_mcp_validate()
 * on the message or on each message of a batch, then the params checks
 * of fuzz_mcp_params() and, for tools/call, the tool's own argument
 * validation (its prepare(), which runs before any query).
 *
 * The parse is also compared with jansson's own (fuzz_same_as_jansson()).
 *
 * The protocol version and wire of the call come from the body's length,
 * so that every corpus entry is tried on more than one over time.
 */


#include "harness.h"
#include "ngx_http_confhaven_json.h"
#include "ngx_http_confhaven_mcp.h"
#include "ngx_http_confhaven_tools.h"


#define FUZZ_MAX_BATCH  64


/*
 * The body's reader (ngx_http_confhaven_json_load_pool(): a plain reader
 * for the common shape, jansson for the rest) accepts exactly what
 * json_loadb() accepts, with the same values, members in the same order.
 */

static void
fuzz_same_as_jansson(json_t *json, const uint8_t *data, size_t size)
{
    char          *a, *b;
    json_t        *ref;
    json_error_t   err;

    ref = json_loadb((const char *) data, size, JSON_DECODE_ANY, &err);

    if ((json == NULL) != (ref == NULL)) {
        abort();
    }

    if (json == NULL) {
        return;
    }

    a = json_dumps(json, JSON_ENCODE_ANY | JSON_COMPACT | JSON_PRESERVE_ORDER);
    b = json_dumps(ref, JSON_ENCODE_ANY | JSON_COMPACT | JSON_PRESERVE_ORDER);

    if (a == NULL || b == NULL || strcmp(a, b) != 0 || !json_equal(json, ref))
    {
        abort();
    }

    free(a);
    free(b);
    json_decref(ref);
}


/*
 * The params checks that run after validate() and before any handler:
 * a new validator is one more call here.  t/fuzz/build defines
 * FUZZ_HAVE_CHECK_PARAMS when ngx_http_confhaven_mcp.h declares
 * ngx_http_confhaven_mcp_check_params().
 */

static ngx_int_t
fuzz_mcp_params(ngx_http_confhaven_mcp_call_t *call)
{
#if (FUZZ_HAVE_CHECK_PARAMS)
    u_char     error[NGX_HTTP_CONFHAVEN_MCP_ERROR_LEN];
    ngx_int_t  rc;

    rc = ngx_http_confhaven_mcp_check_params(&call->method, call->modern,
                                             call->params, error,
                                             sizeof(error));

    if (rc == NGX_DECLINED) {
        /* the message of a -32602: a C string of valid UTF-8 */
        if (ngx_strlen(error) >= sizeof(error)
            || ngx_http_confhaven_json_utf8_invalid(error, ngx_strlen(error), 0)
               >= 0)
        {
            abort();
        }
    }

    return rc;
#else
    (void) call;

    return NGX_OK;
#endif
}


static void
fuzz_check_response(ngx_http_confhaven_mcp_call_t *call)
{
    char  *s;

    if (call->response == NULL) {
        return;
    }

    /* what the transport would send: must serialize */
    s = json_dumps(call->response, JSON_COMPACT);
    if (s == NULL) {
        abort();
    }

    free(s);
}


static ngx_http_confhaven_cache_conf_t  fuzz_cache_conf;
static ngx_http_confhaven_op_env_t     fuzz_env = { NULL, &fuzz_cache_conf, 0 };


static void
fuzz_tool(ngx_http_confhaven_mcp_call_t *call)
{
    json_t                         *name;
    ngx_str_t                       n;
    ngx_http_confhaven_tool_t      *tool;
    ngx_http_confhaven_tool_run_t  *run;

    name = call->params ? json_object_get(call->params, "name") : NULL;
    if (!json_is_string(name)) {
        return;
    }

    n.data = (u_char *) json_string_value(name);
    n.len = json_string_length(name);

    tool = ngx_http_confhaven_tools_find(&n);
    if (tool == NULL) {
        return;
    }

    run = ngx_pcalloc(call->r->pool, sizeof(ngx_http_confhaven_tool_run_t));
    if (run == NULL) {
        abort();
    }

    run->r = call->r;
    run->tool = tool;
    run->args = json_object_get(call->params, "arguments");
    run->env = &fuzz_env;

    if (ngx_http_confhaven_tools_prepare(run) != NGX_OK) {
        return;
    }

    if (run->call.key.len == 0
        || run->call.op->nparams > NGX_HTTP_CONFHAVEN_OP_MAX_PARAMS)
    {
        abort();
    }
}


static void
fuzz_message(ngx_http_request_t *r, json_t *msg, ngx_uint_t version)
{
    ngx_http_confhaven_mcp_call_t  *call;

    call = ngx_pcalloc(r->pool, sizeof(ngx_http_confhaven_mcp_call_t));
    if (call == NULL) {
        abort();
    }

    call->r = r;
    call->version = version;
    call->modern = (version == NGX_HTTP_CONFHAVEN_MCP_V2026_07_28);

    if (ngx_http_confhaven_mcp_validate(call, msg) != NGX_OK) {
        /* an error answers every request, and no notification */
        if ((call->response == NULL) != call->notification) {
            fprintf(stderr, "fuzz: validate() declined a %s %s a "
                    "response\n",
                    call->notification ? "notification" : "request",
                    call->notification ? "with" : "without");
            abort();
        }

        fuzz_check_response(call);
        return;
    }

    if (call->notification || call->method.len == 0) {
        return;
    }

    if (call->method.data == NULL) {
        abort();
    }

    (void) ngx_http_confhaven_mcp_modern_method(&call->method);
    (void) ngx_http_confhaven_mcp_version(call->method.data,
                                          call->method.len);
    ngx_http_confhaven_mcp_trace(call);

    if (fuzz_mcp_params(call) != NGX_OK) {
        fuzz_check_response(call);
        return;
    }

    if (call->method.len == sizeof("tools/call") - 1
        && ngx_strncmp(call->method.data, "tools/call", call->method.len)
           == 0)
    {
        fuzz_tool(call);
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t              *json, *msg;
    ngx_str_t            err;
    ngx_int_t            rc;
    ngx_uint_t           version;
    size_t               i, n;
    ngx_http_request_t  *r;

    fuzz_init();

    r = fuzz_request();
    version = 1 + size % NGX_HTTP_CONFHAVEN_MCP_VLAST;

    json = NULL;
    ngx_str_null(&err);

    rc = ngx_http_confhaven_mcp_parse(r, (u_char *) data, size, &json, &err);

    fuzz_same_as_jansson(rc == NGX_OK ? json : NULL, data, size);

    if (rc == NGX_DECLINED) {
        /* the text goes to the client as a JSON string */
        if (err.data == NULL || err.data[err.len] != '\0'
            || ngx_http_confhaven_json_utf8_invalid(err.data, err.len, 0) >= 0)
        {
            abort();
        }

        msg = ngx_http_confhaven_mcp_error_message(NULL,
                  NGX_HTTP_CONFHAVEN_MCP_PARSE_ERROR, (char *) err.data,
                  NULL);
        json_decref(msg);

    } else if (rc == NGX_OK) {

        if (json_is_array(json)) {
            n = json_array_size(json);

            for (i = 0; i < n && i < FUZZ_MAX_BATCH; i++) {
                fuzz_message(r, json_array_get(json, i), version);
            }

        } else {
            fuzz_message(r, json, version);
        }
    }

    fuzz_request_free(r);

    return 0;
}
