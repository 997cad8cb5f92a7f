
/*
 * Copyright (C) ConferenceHaven
 */


/*
 * confhaven_mcp_conformance_fixtures on: diagnostic tools of the official
 * conformance suite, on the 2026-07-28 wire only, listed after the real
 * tools.  They exercise requirements no ConferenceHaven tool reaches: a
 * tool that needs a client capability (-32021 with requiredCapabilities,
 * HTTP 400, when the request's _meta does not declare it), a tool whose
 * answer must not carry server requests on its stream, and one that must
 * not log when the request set no log level.  No database work.
 *
 * Nothing of the product names them: the module points a location's
 * extra tools (ngx_http_confhaven_mcp_conf_t.extra_tools) at
 * ngx_http_confhaven_mcp_fixtures when the directive is on, and mcp.c
 * asks the extra tools after its own.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <jansson.h>

#include "ngx_http_confhaven_mcp.h"


typedef struct {
    const char                        *name;
    const char                        *title;
    const char                        *description;
    const char                        *capability;   /* required, or NULL */
    const char                        *text;
} ngx_http_confhaven_mcp_fixture_t;


static ngx_int_t ngx_http_confhaven_mcp_fixtures_list(
    ngx_http_confhaven_mcp_call_t *call, json_t *tools);
static ngx_int_t ngx_http_confhaven_mcp_fixtures_call(
    ngx_http_confhaven_mcp_call_t *call, ngx_str_t *name);


static ngx_http_confhaven_mcp_fixture_t
    ngx_http_confhaven_mcp_fixture_tools[] =
{

    { "test_missing_capability", "Conformance: needs sampling",
      "Conformance-suite diagnostic (operator-enabled, not for models): "
      "requires the client capability 'sampling'; a request whose _meta "
      "does not declare it gets MissingRequiredClientCapabilityError "
      "(-32021, HTTP 400) with requiredCapabilities {\"sampling\": {}}.",
      "sampling",
      "The client declared the sampling capability." },

    { "test_streaming_elicitation", "Conformance: needs elicitation",
      "Conformance-suite diagnostic (operator-enabled, not for models): "
      "requires the client capability 'elicitation' and answers with "
      "plain content; the response never carries a server request "
      "(2026-07-28 servers ask through InputRequiredResult instead).",
      "elicitation",
      "The client declared the elicitation capability; nothing to ask." },

    { "test_logging_tool", "Conformance: logging",
      "Conformance-suite diagnostic (operator-enabled, not for models): "
      "answers with plain content and sends no notifications/message "
      "(the server never logs to a request that set no log level).",
      NULL,
      "Done, without log notifications." },

    { NULL, NULL, NULL, NULL, NULL }
};


const ngx_http_confhaven_mcp_tools_t  ngx_http_confhaven_mcp_fixtures = {
    ngx_http_confhaven_mcp_fixtures_list,
    ngx_http_confhaven_mcp_fixtures_call
};


static ngx_int_t
ngx_http_confhaven_mcp_fixtures_list(ngx_http_confhaven_mcp_call_t *call,
    json_t *tools)
{
    json_t                            *tool;
    ngx_http_confhaven_mcp_fixture_t  *f;

    if (!call->modern) {
        return NGX_OK;
    }

    for (f = ngx_http_confhaven_mcp_fixture_tools; f->name; f++) {
        tool = json_pack("{s:s, s:s, s:s, s:{s:s, s:b}, s:{s:s, s:b, s:b,"
                         " s:b, s:b}}",
                         "name", f->name,
                         "title", f->title,
                         "description", f->description,
                         "inputSchema",
                             "type", "object",
                             "additionalProperties", 0,
                         "annotations",
                             "title", f->title,
                             "readOnlyHint", 1,
                             "destructiveHint", 0,
                             "idempotentHint", 1,
                             "openWorldHint", 0);

        if (tool == NULL || json_array_append_new(tools, tool) != 0) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* NGX_OK: answered; NGX_DECLINED: not a fixture */

static ngx_int_t
ngx_http_confhaven_mcp_fixtures_call(ngx_http_confhaven_mcp_call_t *call,
    ngx_str_t *name)
{
    json_t                            *meta, *caps, *data;
    ngx_http_confhaven_mcp_fixture_t  *f;

    if (!call->modern) {
        return NGX_DECLINED;
    }

    for (f = ngx_http_confhaven_mcp_fixture_tools; f->name; f++) {
        if (ngx_strlen(f->name) == name->len
            && ngx_strncmp(f->name, name->data, name->len) == 0)
        {
            break;
        }
    }

    if (f->name == NULL) {
        return NGX_DECLINED;
    }

    if (f->capability) {
        meta = json_object_get(call->params, "_meta");
        caps = json_object_get(meta,
                               "io.modelcontextprotocol/clientCapabilities");

        if (!json_is_object(json_object_get(caps, f->capability))) {
            data = json_pack("{s:{s:{}}}", "requiredCapabilities",
                             f->capability);

            ngx_http_confhaven_mcp_error(call, NGX_HTTP_BAD_REQUEST,
                                 NGX_HTTP_CONFHAVEN_MCP_MISSING_CAPABILITY,
                                 "Missing required client capability: "
                                 "declare it in _meta[\"io.modelcontext"
                                 "protocol/clientCapabilities\"]", data);
            return NGX_OK;
        }
    }

    ngx_http_confhaven_mcp_result(call,
        json_pack("{s:[{s:s, s:s}], s:b}",
                  "content", "type", "text", "text", f->text,
                  "isError", 0));

    return NGX_OK;
}
