
/*
 * Copyright (C) ConferenceHaven
 */


/*
 * get_organizer_analytics(api_key, conference_id, days): what attendees
 * searched for, found and missed at one of the organizer's conferences;
 * confhaven.organizer_analytics(), the same as GET /api/organizer/analytics.
 * The key comes from the connection's X-API-Key or Authorization header
 * (tools.c), or, for old clients, from the api_key argument.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_confhaven_tools.h"


static ngx_int_t ngx_http_confhaven_analytics_render(
    ngx_http_confhaven_tool_run_t *run, json_t *value);
static ngx_int_t ngx_http_confhaven_analytics_failed(
    ngx_http_confhaven_tool_run_t *run);
static u_char *ngx_http_confhaven_analytics_list(u_char *p, u_char *last,
    const char *title, json_t *list, const char *key);


static const char  ngx_http_confhaven_analytics_usage[] =
    "Pass one of your conferences, e.g. {\"conference_id\": "
    "\"scottish-summit-2026\", \"days\": 30}, and authenticate with your "
    "organizer key in the X-API-Key or Authorization: Bearer header of "
    "the MCP connection.";


ngx_http_confhaven_tool_t  ngx_http_confhaven_tool_get_organizer_analytics = {
    ngx_string("get_organizer_analytics"),
    "Conference analytics (organizers)",

    "For conference organizers: what attendees searched for at one of "
    "your conferences over the last days (default 30; up to 30 on the "
    "free tier, 365 on pro, 730 on enterprise) — "
    "searches per day, top queries, queries that found nothing, the "
    "sessions most viewed, found and invited to, interest by track, level "
    "and day, which assistants ask, and latency percentiles. Needs your "
    "organizer API key, sent as the X-API-Key or Authorization: Bearer "
    "header of the MCP connection (the api_key argument also works but "
    "ends up in assistant logs). Example: {\"conference_id\": "
    "\"scottish-summit-2026\", \"days\": 7}.",

    &ngx_http_confhaven_op_organizer_analytics,
    "conference_id",
    NULL,
    ngx_http_confhaven_analytics_usage,

    "{\"$schema\": \"https://json-schema.org/draft/2020-12/schema\","
    " \"type\": \"object\","
    " \"properties\": {"
    "  \"conference\": {\"type\": \"object\"},"
    "  \"days\": {\"type\": \"integer\"},"
    "  \"from\": {\"type\": \"string\"},"
    "  \"to\": {\"type\": \"string\"},"
    "  \"totals\": {\"type\": \"object\", \"properties\": {"
    "   \"searches\": {\"type\": \"integer\"},"
    "   \"zero_result_searches\": {\"type\": \"integer\"},"
    "   \"session_views\": {\"type\": \"integer\"},"
    "   \"invites\": {\"type\": \"integer\"},"
    "   \"cache_hits\": {\"type\": \"integer\"}}},"
    "  \"searches_per_day\": {\"type\": \"array\"},"
    "  \"top_queries\": {\"type\": \"array\"},"
    "  \"zero_result_queries\": {\"type\": \"array\"},"
    "  \"most_viewed\": {\"type\": \"array\"},"
    "  \"most_found\": {\"type\": \"array\"},"
    "  \"most_invited\": {\"type\": \"array\"},"
    "  \"interest\": {\"type\": \"object\"},"
    "  \"assistants\": {\"type\": \"array\"},"
    "  \"wires\": {\"type\": \"array\"},"
    "  \"latency_ms\": {\"type\": \"object\"}"
    " },"
    " \"required\": [\"conference\", \"days\", \"totals\"]}",

    20000,
    ngx_http_confhaven_analytics_render,
    ngx_http_confhaven_analytics_failed
};


static ngx_int_t
ngx_http_confhaven_analytics_failed(ngx_http_confhaven_tool_run_t *run)
{
    if (run->call.error.kind == NGX_HTTP_CONFHAVEN_OP_E_AUTH) {
        return ngx_http_confhaven_tools_errorf(run,
                   "Configure the MCP client to send your organizer key "
                   "as the header \"X-API-Key: chk_...\" (or "
                   "\"Authorization: Bearer chk_...\"); keys are issued by "
                   "the operator and rotated with POST "
                   "/api/organizer/keys/rotate.",
                   "Authentication required: the organizer API key is "
                   "missing, unknown or revoked.");
    }

    return NGX_DECLINED;
}


static ngx_int_t
ngx_http_confhaven_analytics_render(ngx_http_confhaven_tool_run_t *run,
    json_t *value)
{
    u_char     *p, *last;
    size_t      size;
    json_t     *t, *c, *lat;
    ngx_str_t   text;

    size = 8192;

    text.data = ngx_pnalloc(run->r->pool, size);
    if (text.data == NULL) {
        return NGX_ERROR;
    }

    p = text.data;
    last = p + size;

    c = json_object_get(value, "conference");
    t = json_object_get(value, "totals");

    p = ngx_slprintf(p, last,
                     "%s (%s), the last %d days (%s to %s, UTC):\n"
                     "%d searches (%d found nothing), %d session views, "
                     "%d invites; %d answered from the cache.\n",
                     ngx_http_confhaven_tools_str(c, "name")
                     ? ngx_http_confhaven_tools_str(c, "name") : "",
                     ngx_http_confhaven_tools_str(c, "slug")
                     ? ngx_http_confhaven_tools_str(c, "slug") : "",
                     (int) json_integer_value(json_object_get(value, "days")),
                     ngx_http_confhaven_tools_str(value, "from")
                     ? ngx_http_confhaven_tools_str(value, "from") : "",
                     ngx_http_confhaven_tools_str(value, "to")
                     ? ngx_http_confhaven_tools_str(value, "to") : "",
                     (int) json_integer_value(json_object_get(t, "searches")),
                     (int) json_integer_value(
                         json_object_get(t, "zero_result_searches")),
                     (int) json_integer_value(
                         json_object_get(t, "session_views")),
                     (int) json_integer_value(json_object_get(t, "invites")),
                     (int) json_integer_value(
                         json_object_get(t, "cache_hits")));

    p = ngx_http_confhaven_analytics_list(p, last, "Top queries",
                                          json_object_get(value,
                                                          "top_queries"),
                                          "query");
    p = ngx_http_confhaven_analytics_list(p, last,
                                          "Queries that found nothing",
                                          json_object_get(value,
                                                      "zero_result_queries"),
                                          "query");
    p = ngx_http_confhaven_analytics_list(p, last, "Most viewed sessions",
                                          json_object_get(value,
                                                          "most_viewed"),
                                          "title");
    p = ngx_http_confhaven_analytics_list(p, last, "Most found sessions",
                                          json_object_get(value, "most_found"),
                                          "title");
    p = ngx_http_confhaven_analytics_list(p, last, "Most invited sessions",
                                          json_object_get(value,
                                                          "most_invited"),
                                          "title");
    p = ngx_http_confhaven_analytics_list(p, last, "Interest by track",
                                          json_object_get(
                                              json_object_get(value,
                                                              "interest"),
                                              "by_track"),
                                          "track");
    p = ngx_http_confhaven_analytics_list(p, last, "Assistants",
                                          json_object_get(value,
                                                          "assistants"),
                                          "assistant");

    lat = json_object_get(value, "latency_ms");

    if (json_integer_value(json_object_get(lat, "samples")) > 0) {
        p = ngx_slprintf(p, last,
                         "Latency: p50 <= %d ms, p90 <= %d ms, "
                         "p99 <= %d ms.\n",
                         (int) json_integer_value(json_object_get(lat, "p50")),
                         (int) json_integer_value(json_object_get(lat, "p90")),
                         (int) json_integer_value(json_object_get(lat,
                                                                  "p99")));
    }

    text.len = p - text.data;

    return ngx_http_confhaven_tools_ok(run, value, &text);
}


static u_char *
ngx_http_confhaven_analytics_list(u_char *p, u_char *last, const char *title,
    json_t *list, const char *key)
{
    size_t       i, n;
    json_t      *item;
    const char  *s;

    n = ngx_min(json_array_size(list), 10);

    if (n == 0) {
        return p;
    }

    p = ngx_slprintf(p, last, "%s: ", title);

    for (i = 0; i < n; i++) {
        item = json_array_get(list, i);
        s = ngx_http_confhaven_tools_str(item, key);

        p = ngx_slprintf(p, last, "%s%s (%d)", i ? "; " : "",
                         s ? s : "?",
                         (int) json_integer_value(json_object_get(item,
                                                                  "count")));
    }

    return ngx_slprintf(p, last, "\n");
}
