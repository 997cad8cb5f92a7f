
/*
 * Copyright (C) ConferenceHaven
 */


/*
 * send_calendar_invite(session_id, user_email): the operation of
 * ngx_http_confhaven_op_invite.c, the same as POST
 * /api/sessions/{id}/invite.  It has side effects (mail to an address),
 * is idempotent for the same session and address, and talks to the open
 * world (Microsoft Graph).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_confhaven_tools.h"
#include "ngx_http_confhaven_op_invite.h"


static ngx_int_t ngx_http_confhaven_send_calendar_invite_render(
    ngx_http_confhaven_tool_run_t *run, json_t *value);
static ngx_int_t ngx_http_confhaven_send_calendar_invite_failed(
    ngx_http_confhaven_tool_run_t *run);


static const char  ngx_http_confhaven_send_calendar_invite_usage[] =
    "Pass the numeric id of a session as returned by search_sessions and "
    "the attendee's address, e.g. {\"session_id\": 42, \"user_email\": "
    "\"ada@example.org\"}.";


ngx_http_confhaven_tool_t  ngx_http_confhaven_tool_send_calendar_invite = {
    ngx_string("send_calendar_invite"),
    "Send a calendar invite",

    "Send a calendar invitation (a meeting request) for one conference "
    "session to the user's email address, so that it lands in their "
    "calendar. Use it when the user asks to be sent an invite for a "
    "session found with search_sessions or get_session; ask them for "
    "their email address first and never guess it. Asking again for the "
    "same session and address sends nothing new. If invites are not "
    "configured on this server, the answer says so and gives a link to "
    "the session's .ics file instead. Example: {\"session_id\": 42, "
    "\"user_email\": \"ada@example.org\"}.",

    &ngx_http_confhaven_op_invite,
    "session_id user_email",
    NULL,
    ngx_http_confhaven_send_calendar_invite_usage,

    "{\"$schema\": \"https://json-schema.org/draft/2020-12/schema\","
    " \"type\": \"object\","
    " \"properties\": {"
    "  \"status\": {\"type\": \"string\", \"enum\": [\"sent\", "
    "\"already_sent\", \"not_configured\"]},"
    "  \"session_id\": {\"type\": \"integer\"},"
    "  \"ics_url\": {\"type\": \"string\"},"
    "  \"event_id\": {\"type\": \"string\"},"
    "  \"title\": {\"type\": \"string\"},"
    "  \"start\": {\"type\": \"string\"},"
    "  \"timezone\": {\"type\": \"string\"},"
    "  \"conference\": {\"type\": \"string\"},"
    "  \"message\": {\"type\": \"string\"}"
    " },"
    " \"required\": [\"status\", \"session_id\", \"ics_url\", "
    "\"message\"]}",

    NGX_HTTP_CONFHAVEN_INVITE_BUDGET,
    ngx_http_confhaven_send_calendar_invite_render,
    ngx_http_confhaven_send_calendar_invite_failed
};


static ngx_int_t
ngx_http_confhaven_send_calendar_invite_failed(
    ngx_http_confhaven_tool_run_t *run)
{
    ngx_http_confhaven_fetch_t  *f;

    f = &run->call.fetch;

    switch (run->call.error.kind) {

    case NGX_HTTP_CONFHAVEN_OP_E_LIMIT:
    case NGX_HTTP_CONFHAVEN_OP_E_UPSTREAM:
    case NGX_HTTP_CONFHAVEN_OP_E_INPUT:
        return ngx_http_confhaven_tools_error(run, &f->message, &f->hint);

    case NGX_HTTP_CONFHAVEN_OP_E_NOT_FOUND:
        return ngx_http_confhaven_tools_errorf(run,
                   "Session ids come from search_sessions results (the "
                   "number in square brackets); search again to find the "
                   "session.",
                   "There is no session with id %s.", run->call.values[0]);

    default:
        return NGX_DECLINED;
    }
}


static ngx_int_t
ngx_http_confhaven_send_calendar_invite_render(
    ngx_http_confhaven_tool_run_t *run, json_t *value)
{
    u_char      *p;
    ngx_str_t    text;
    const char  *msg, *url;

    msg = ngx_http_confhaven_tools_str(value, "message");
    url = ngx_http_confhaven_tools_str(value, "ics_url");

    msg = msg ? msg : "";
    url = url ? url : "";

    text.data = ngx_pnalloc(run->r->pool, ngx_strlen(msg) + ngx_strlen(url)
                                          + 64);
    if (text.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(text.data, "%s", msg);

    if (ngx_strstr(msg, url) == NULL) {
        p = ngx_sprintf(p, "\niCalendar file: %s", url);
    }

    text.len = p - text.data;

    return ngx_http_confhaven_tools_ok(run, value, &text);
}
