
/*
 * Copyright (C) ConferenceHaven
 */


/*
 * What the MCP wires tell the organizers' analytics: searches and session
 * views (tools and resources, cache hits included) and, for every tool
 * call, an evaluation record.  Copied into the worker's event buffer
 * (ops/ngx_http_confhaven_events.c); nothing waits for the database.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_confhaven_json.h"
#include "ngx_http_confhaven_mcp.h"
#include "ngx_http_confhaven_tools.h"
#include "ngx_http_confhaven_events.h"


static void ngx_http_confhaven_mcp_events_fill(
    ngx_http_confhaven_mcp_call_t *call, ngx_http_confhaven_event_t *ev);


void
ngx_http_confhaven_mcp_events_tool(ngx_http_confhaven_mcp_call_t *call,
    ngx_http_confhaven_tool_run_t *run)
{
    ngx_http_confhaven_event_t  ev;

    static u_char  is_error[] = "\"isError\":true}";

    ngx_memzero(&ev, sizeof(ngx_http_confhaven_event_t));

    ngx_http_confhaven_mcp_events_fill(call, &ev);

    ev.call = &run->call;
    ev.tool = run->tool->name;
    ev.cache_hit = (run->cache_status == NGX_HTTP_CONFHAVEN_CACHE_HIT);
    ev.is_error = (run->call.error.kind != NGX_HTTP_CONFHAVEN_OP_OK);

    /* the result as sent, or the operation's answer */
    if (run->result_text.len) {
        ev.answer = run->result_text;

    } else {
        ev.answer = run->call.fetch.value;
    }

    if (run->result && json_is_true(json_object_get(run->result, "isError")))
    {
        ev.is_error = 1;
    }

    /*
     * A result as sent ends with its "isError" (tool_content() sets it
     * last, and the dump keeps the order): no scan of a large answer.
     */
    if (run->result_text.len > sizeof(is_error) - 1
        && ngx_strncmp(run->result_text.data + run->result_text.len
                       - (sizeof(is_error) - 1), is_error,
                       sizeof(is_error) - 1)
           == 0)
    {
        ev.is_error = 1;
    }

    /* a refused call found and viewed nothing */
    ev.kind = ev.is_error ? NGX_HTTP_CONFHAVEN_EVENT_NONE
                          : ngx_http_confhaven_events_kind(run->tool->op);
    ev.count = -1;

    if (ev.kind == NGX_HTTP_CONFHAVEN_EVENT_SEARCH) {
        /* the result as sent before keeps the answer's count */
        ev.count = run->call.fetch.value.len ? run->call.fetch.count
                                             : run->rendered.count;
    }

    ngx_http_confhaven_events_record(&ev);
}


void
ngx_http_confhaven_mcp_events_resource(ngx_http_confhaven_mcp_call_t *call,
    ngx_http_confhaven_op_call_t *oc)
{
    ngx_http_confhaven_event_t  ev;

    if (ngx_http_confhaven_events_kind(oc->op)
        != NGX_HTTP_CONFHAVEN_EVENT_VIEW)
    {
        return;
    }

    ngx_memzero(&ev, sizeof(ngx_http_confhaven_event_t));

    ngx_http_confhaven_mcp_events_fill(call, &ev);

    ev.kind = NGX_HTTP_CONFHAVEN_EVENT_VIEW;
    ev.call = oc;
    ev.count = -1;
    ev.cache_hit = (oc->fetch.cache_status == NGX_HTTP_CONFHAVEN_CACHE_HIT);

    ngx_http_confhaven_events_record(&ev);
}


static void
ngx_http_confhaven_mcp_events_fill(ngx_http_confhaven_mcp_call_t *call,
    ngx_http_confhaven_event_t *ev)
{
    json_t              *info, *name;
    ngx_str_t            cred, kept;
    ngx_time_t          *tp;
    ngx_msec_int_t       ms;
    ngx_http_request_t  *r;

    r = call->r;

    if (call->modern) {
        ev->wire = "mcp-stateless";

    } else if (r->args.len >= 10
               && ngx_strlcasestrn(r->args.data, r->args.data + r->args.len,
                                   (u_char *) "sessionId=", 10 - 1))
    {
        ev->wire = "mcp-sse";

    } else {
        ev->wire = "mcp-http";
    }

    tp = ngx_timeofday();
    ms = (ngx_msec_int_t) ((tp->sec - r->start_sec) * 1000
                           + (tp->msec - r->start_msec));
    ev->latency = ngx_max(ms, 0);

    /*
     * The 2026 wire's clientInfo, in every request's _meta; a session's,
     * from its initialize; else User-Agent.
     */
    info = json_object_get(json_object_get(call->params, "_meta"),
                           "io.modelcontextprotocol/clientInfo");
    name = json_object_get(info, "name");

    if (json_is_string(name)) {
        ev->client.data = (u_char *) json_string_value(name);
        ev->client.len = json_string_length(name);

    } else if (call->session.len
               && ngx_http_confhaven_mcp_session_client(&call->mcf->zone,
                                                        &call->session,
                                                        r->pool, &cred,
                                                        &kept)
                  == NGX_OK
               && kept.len)
    {
        /* initialize's clientInfo.name, kept with the session */
        ev->client = kept;

    } else if (r->headers_in.user_agent) {
        ev->client = r->headers_in.user_agent->value;
    }

    if (call->vars && call->vars->trace_id.len) {
        ev->trace = call->vars->trace_id;

    } else {
        /* no traceparent: the request id the logs show */
        ngx_http_confhaven_json_request_id(r, &ev->trace);
    }
}
