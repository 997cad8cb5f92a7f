
/*
 * Copyright (C) ConferenceHaven
 */


/*
 * list_conferences(include_past): confhaven.api_conferences(), the same
 * function as GET /api/conferences.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_confhaven_tools.h"


static ngx_int_t ngx_http_confhaven_list_conferences_render(
    ngx_http_confhaven_tool_run_t *run, json_t *value);


ngx_http_confhaven_tool_t  ngx_http_confhaven_tool_list_conferences = {
    ngx_string("list_conferences"),
    "List conferences",

    "List the conferences ConferenceHaven has schedules for: slug, name, "
    "location, time zone, start and end dates, website and number of "
    "sessions. Use it first when the user names a conference, to learn "
    "its slug for search_sessions, or to answer \"which conferences are "
    "coming up?\". Conferences that have ended are left out unless "
    "include_past is true. Examples: {}; {\"include_past\": true}.",

    &ngx_http_confhaven_op_list_conferences,
    NULL,
    NULL,
    "Accepted arguments: include_past (boolean). Example: "
    "{\"include_past\": true}.",

    "{\"$schema\": \"https://json-schema.org/draft/2020-12/schema\","
    " \"type\": \"object\","
    " \"properties\": {"
    "  \"count\": {\"type\": \"integer\"},"
    "  \"include_past\": {\"type\": \"boolean\"},"
    "  \"conferences\": {\"type\": \"array\", \"items\": {"
    "   \"type\": \"object\","
    "   \"properties\": {"
    "    \"slug\": {\"type\": \"string\"},"
    "    \"name\": {\"type\": \"string\"},"
    "    \"location\": {\"type\": [\"string\", \"null\"]},"
    "    \"timezone\": {\"type\": \"string\"},"
    "    \"start_date\": {\"type\": [\"string\", \"null\"]},"
    "    \"end_date\": {\"type\": [\"string\", \"null\"]},"
    "    \"website\": {\"type\": [\"string\", \"null\"]},"
    "    \"is_active\": {\"type\": \"boolean\"},"
    "    \"session_count\": {\"type\": \"integer\"}"
    "   },"
    "   \"required\": [\"slug\", \"name\"]}}"
    " },"
    " \"required\": [\"count\", \"conferences\"]}",

    5000,
    ngx_http_confhaven_list_conferences_render,
    NULL
};


static ngx_int_t
ngx_http_confhaven_list_conferences_render(ngx_http_confhaven_tool_run_t *run,
    json_t *value)
{
    u_char      *p, *last;
    size_t       size, i, count;
    json_t      *list, *c;
    ngx_str_t    text;

    list = json_object_get(value, "conferences");
    count = json_array_size(list);

    size = 512 + count * 768;

    text.data = ngx_pnalloc(run->r->pool, size);
    if (text.data == NULL) {
        return NGX_ERROR;
    }

    p = text.data;
    last = p + size;

    if (count == 0) {
        p = ngx_slprintf(p, last, "No %sconferences.%s",
                         json_is_true(json_object_get(value, "include_past"))
                         ? "" : "upcoming ",
                         json_is_true(json_object_get(value, "include_past"))
                         ? "" : " Set include_past to true to list past "
                                "ones too.");

    } else {
        p = ngx_slprintf(p, last, "%uz conference%s:\n", count,
                         count == 1 ? "" : "s");
    }

    for (i = 0; i < count; i++) {
        c = json_array_get(list, i);
        p = ngx_slprintf(p, last, "- %s (slug: %s)",
                         ngx_http_confhaven_tools_str(c, "name")
                         ? ngx_http_confhaven_tools_str(c, "name") : "",
                         ngx_http_confhaven_tools_str(c, "slug")
                         ? ngx_http_confhaven_tools_str(c, "slug") : "");

        p = ngx_http_confhaven_tools_text_conference(p, last, c);

        p = ngx_slprintf(p, last, "\n");
    }

    text.len = p - text.data;

    return ngx_http_confhaven_tools_ok(run, value, &text);
}
