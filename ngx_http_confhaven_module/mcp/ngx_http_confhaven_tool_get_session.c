
/*
 * Copyright (C) ConferenceHaven
 */


/*
 * get_session(session_id): confhaven.api_session(), the same function as
 * GET /api/sessions/{id}.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_confhaven_tools.h"


#define NGX_HTTP_CONFHAVEN_SESSION_ABSTRACT_MAX  8000


static ngx_int_t ngx_http_confhaven_get_session_render(
    ngx_http_confhaven_tool_run_t *run, json_t *value);
static ngx_int_t ngx_http_confhaven_get_session_failed(
    ngx_http_confhaven_tool_run_t *run);


static const char  ngx_http_confhaven_get_session_usage[] =
    "Pass the numeric id of a session as returned by search_sessions, "
    "e.g. {\"session_id\": 42}.";


ngx_http_confhaven_tool_t  ngx_http_confhaven_tool_get_session = {
    ngx_string("get_session"),
    "Get session details",

    "Get everything known about one conference session: title, full "
    "abstract, speakers with their bios, local start and end time with "
    "UTC offset and time zone, room, track, level, format, language, tags "
    "and the conference it belongs to. Use it after search_sessions, "
    "with the numeric id shown in square brackets in its results, when "
    "the user wants details about a talk. Example: {\"session_id\": 42}.",

    &ngx_http_confhaven_op_get_session,
    "session_id",
    NULL,
    ngx_http_confhaven_get_session_usage,

    "{\"$schema\": \"https://json-schema.org/draft/2020-12/schema\","
    " \"type\": \"object\","
    " \"properties\": {"
    "  \"id\": {\"type\": \"integer\"},"
    "  \"external_id\": {\"type\": [\"string\", \"null\"]},"
    "  \"conference\": {\"type\": \"string\"},"
    "  \"conference_name\": {\"type\": \"string\"},"
    "  \"title\": {\"type\": \"string\"},"
    "  \"subtitle\": {\"type\": [\"string\", \"null\"]},"
    "  \"speakers\": {\"type\": \"array\", \"items\": {\"type\": "
    "\"string\"}},"
    "  \"start\": {\"type\": [\"string\", \"null\"]},"
    "  \"end\": {\"type\": [\"string\", \"null\"]},"
    "  \"timezone\": {\"type\": \"string\"},"
    "  \"room\": {\"type\": [\"string\", \"null\"]},"
    "  \"track\": {\"type\": [\"string\", \"null\"]},"
    "  \"level\": {\"type\": [\"string\", \"null\"]},"
    "  \"level_detail\": {\"type\": [\"string\", \"null\"]},"
    "  \"format\": {\"type\": [\"string\", \"null\"]},"
    "  \"language\": {\"type\": [\"string\", \"null\"]},"
    "  \"is_service\": {\"type\": \"boolean\"},"
    "  \"tags\": {\"type\": \"array\", \"items\": {\"type\": \"string\"}},"
    "  \"abstract\": {\"type\": [\"string\", \"null\"]},"
    "  \"speakers_detail\": {\"type\": \"array\", \"items\": {"
    "\"type\": \"object\"}}"
    " },"
    " \"required\": [\"id\", \"conference\", \"title\"]}",

    5000,
    ngx_http_confhaven_get_session_render,
    ngx_http_confhaven_get_session_failed
};


static ngx_int_t
ngx_http_confhaven_get_session_failed(ngx_http_confhaven_tool_run_t *run)
{
    if (run->call.error.kind != NGX_HTTP_CONFHAVEN_OP_E_NOT_FOUND) {
        return NGX_DECLINED;
    }

    return ngx_http_confhaven_tools_errorf(run,
               "Session ids come from search_sessions results (the number "
               "in square brackets); search again to find the session.",
               "There is no session with id %s.", run->call.values[0]);
}


static ngx_int_t
ngx_http_confhaven_get_session_render(ngx_http_confhaven_tool_run_t *run,
    json_t *value)
{
    u_char      *p, *last;
    size_t       size, i, len;
    json_t      *v, *sp;
    ngx_str_t    text;
    const char  *s;

    size = 4096 + NGX_HTTP_CONFHAVEN_SESSION_ABSTRACT_MAX;

    text.data = ngx_pnalloc(run->r->pool, size);
    if (text.data == NULL) {
        return NGX_ERROR;
    }

    p = text.data;
    last = p + size;

    p = ngx_http_confhaven_tools_text_session(p, last, value);

    s = ngx_http_confhaven_tools_str(value, "conference_name");
    if (s) {
        p = ngx_slprintf(p, last, "    Conference: %s (%s)\n", s,
                         ngx_http_confhaven_tools_str(value, "conference")
                         ? ngx_http_confhaven_tools_str(value, "conference")
                         : "");
    }

    v = json_object_get(value, "tags");

    if (json_array_size(v)) {
        p = ngx_slprintf(p, last, "    Tags: ");

        for (i = 0; i < json_array_size(v); i++) {
            s = json_string_value(json_array_get(v, i));

            if (s) {
                p = ngx_slprintf(p, last, "%s%s", i ? ", " : "", s);
            }
        }

        p = ngx_slprintf(p, last, "\n");
    }

    s = ngx_http_confhaven_tools_str(value, "abstract");
    if (s) {
        len = ngx_min(ngx_strlen(s), NGX_HTTP_CONFHAVEN_SESSION_ABSTRACT_MAX);
        p = ngx_slprintf(p, last, "\n%*s\n", len, s);
    }

    sp = json_object_get(value, "speakers_detail");

    for (i = 0; i < json_array_size(sp); i++) {
        v = json_array_get(sp, i);
        s = ngx_http_confhaven_tools_str(v, "bio");

        if (s && ngx_http_confhaven_tools_str(v, "name")) {
            len = ngx_min(ngx_strlen(s), 600);
            p = ngx_slprintf(p, last, "\nAbout %s: %*s\n",
                             ngx_http_confhaven_tools_str(v, "name"), len, s);
        }
    }

    text.len = p - text.data;

    return ngx_http_confhaven_tools_ok(run, value, &text);
}
