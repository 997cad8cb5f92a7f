
/*
 * Copyright (C) ConferenceHaven
 */


/*
 * MCP resources and completions.  Conferences are listed as resources
 * (confhaven://conferences/{slug}, the document of GET
 * /api/conferences/{slug}); sessions are reached through the template
 * confhaven://sessions/{id} (the document of GET /api/sessions/{id}) and
 * confhaven://sessions/{id}.ics (its iCalendar file, text/calendar).
 * completion/complete offers conference slugs, tracks, levels and days
 * for the arguments that take them, and no values for anything else.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_confhaven_json.h"
#include "ngx_http_confhaven_mcp.h"
#include "ngx_http_confhaven_tools.h"


#define NGX_HTTP_CONFHAVEN_URI_CONFERENCES  "confhaven://conferences/"
#define NGX_HTTP_CONFHAVEN_URI_SESSIONS     "confhaven://sessions/"

#define NGX_HTTP_CONFHAVEN_COMPLETION_MAX   100
#define NGX_HTTP_CONFHAVEN_COMPLETION_LEN   200


static void ngx_http_confhaven_mcp_resources_listed(
    ngx_http_confhaven_mcp_call_t *call, ngx_http_confhaven_op_call_t *oc);
static void ngx_http_confhaven_mcp_resources_got(
    ngx_http_confhaven_mcp_call_t *call, ngx_http_confhaven_op_call_t *oc);
static void ngx_http_confhaven_mcp_resources_not_found(
    ngx_http_confhaven_mcp_call_t *call, json_t *uri, ngx_str_t *why);
static void ngx_http_confhaven_mcp_completion_got(
    ngx_http_confhaven_mcp_call_t *call, ngx_http_confhaven_op_call_t *oc);
static void ngx_http_confhaven_mcp_completion_values(
    ngx_http_confhaven_mcp_call_t *call, json_t *values, json_int_t total);
static ngx_int_t ngx_http_confhaven_mcp_is_slug(u_char *p, size_t len);
static void ngx_http_confhaven_mcp_resources_ics(
    ngx_http_confhaven_mcp_call_t *call, u_char *id, size_t len);


static const char  *ngx_http_confhaven_mcp_levels[] = {
    "Introductory", "Intermediate", "Advanced", NULL
};


/* ---------------------------------------------------------------- lists */


void
ngx_http_confhaven_mcp_resources_list(ngx_http_confhaven_mcp_call_t *call)
{
    if (ngx_http_confhaven_mcp_no_cursor(call) != NGX_OK) {
        return;
    }

    static char  *past[] = { "true" };

    if (ngx_http_confhaven_mcp_query(call,
            &ngx_http_confhaven_op_list_conferences, 1, past,
            ngx_http_confhaven_mcp_resources_listed)
        != NGX_OK)
    {
        ngx_http_confhaven_mcp_result(call, NULL);
    }
}


static void
ngx_http_confhaven_mcp_resources_listed(ngx_http_confhaven_mcp_call_t *call,
    ngx_http_confhaven_op_call_t *oc)
{
    u_char      *p, *last, buf[1024];
    size_t       i;
    json_t      *value, *list, *resources, *c, *res;
    const char  *slug, *name;

    value = ngx_http_confhaven_mcp_query_value(call, oc);
    if (value == NULL) {
        if (ngx_http_confhaven_mcp_query_refused(oc)) {
            ngx_http_confhaven_mcp_result(call, NULL);
        }

        return;
    }

    resources = json_array();
    if (resources == NULL) {
        ngx_http_confhaven_mcp_result(call, NULL);
        return;
    }

    list = json_object_get(value, "conferences");

    for (i = 0; i < json_array_size(list); i++) {
        c = json_array_get(list, i);

        slug = json_string_value(json_object_get(c, "slug"));
        name = json_string_value(json_object_get(c, "name"));

        if (slug == NULL || name == NULL) {
            continue;
        }

        p = buf;
        last = buf + sizeof(buf);

        p = ngx_slprintf(p, last, "%s", name);
        p = ngx_http_confhaven_tools_text_conference(p, last, c);

        p = ngx_slprintf(p, last, ": the conference with its tracks, "
                         "levels, rooms and days.");

        if (ngx_http_confhaven_json_utf8_invalid(buf, p - buf, 0) >= 0) {
            p = ngx_slprintf(buf, last, "%s", slug);
        }

        res = json_pack("{s:s+, s:s, s:s%, s:s}",
                        "uri", NGX_HTTP_CONFHAVEN_URI_CONFERENCES, slug,
                        "name", slug,
                        "description", (char *) buf, (size_t) (p - buf),
                        "mimeType", "application/json");

        if (res == NULL) {
            continue;
        }

        if (call->version >= NGX_HTTP_CONFHAVEN_MCP_V2025_06_18) {
            json_object_set_new(res, "title", json_string(name));
        }

        json_array_append_new(resources, res);
    }

    ngx_http_confhaven_mcp_apps_resources(call, resources);

    res = json_pack("{s:o}", "resources", resources);

    ngx_http_confhaven_mcp_cacheable_private(call, res,
                                             NGX_HTTP_CONFHAVEN_MCP_TTL_DATA);
    ngx_http_confhaven_mcp_result(call, res);
}


void
ngx_http_confhaven_mcp_resources_templates(
    ngx_http_confhaven_mcp_call_t *call)
{
    json_t  *res, *c, *s, *ics;

    if (ngx_http_confhaven_mcp_no_cursor(call) != NGX_OK) {
        return;
    }

    c = json_pack("{s:s, s:s, s:s, s:s}",
                  "uriTemplate", NGX_HTTP_CONFHAVEN_URI_CONFERENCES "{slug}",
                  "name", "conference",
                  "description",
                  "A conference by its slug (list_conferences or "
                  "resources/list name them): name, dates, location, time "
                  "zone, website, session count, tracks with their session "
                  "counts, levels, rooms and days.",
                  "mimeType", "application/json");

    s = json_pack("{s:s, s:s, s:s, s:s}",
                  "uriTemplate", NGX_HTTP_CONFHAVEN_URI_SESSIONS "{id}",
                  "name", "session",
                  "description",
                  "A conference session by its numeric id (from "
                  "search_sessions results): title, abstract, speakers "
                  "with bios, local start and end, room, track, level, "
                  "format, language and tags.",
                  "mimeType", "application/json");

    ics = json_pack("{s:s, s:s, s:s, s:s}",
                    "uriTemplate", NGX_HTTP_CONFHAVEN_URI_SESSIONS "{id}.ics",
                    "name", "session_ics",
                    "description",
                    "A conference session as an iCalendar file (RFC 5545) "
                    "to add to a calendar: one event with the local start "
                    "and end in the conference's time zone, room and "
                    "venue, abstract and speakers; also served at GET "
                    "/api/sessions/{id}.ics.",
                    "mimeType", "text/calendar");

    if (c && s && ics
        && call->version >= NGX_HTTP_CONFHAVEN_MCP_V2025_06_18)
    {
        json_object_set_new(c, "title", json_string("Conference"));
        json_object_set_new(s, "title", json_string("Conference session"));
        json_object_set_new(ics, "title",
                            json_string("Conference session (iCalendar)"));
    }

    res = (c && s && ics) ? json_pack("{s:[o, o, o]}", "resourceTemplates",
                                      c, s, ics)
                          : NULL;

    if (res == NULL) {
        json_decref(c);
        json_decref(s);
        json_decref(ics);
    }

    ngx_http_confhaven_mcp_cacheable(call, res,
                                     NGX_HTTP_CONFHAVEN_MCP_TTL_STATIC);
    ngx_http_confhaven_mcp_result(call, res);
}


/* ----------------------------------------------------------------- read */


void
ngx_http_confhaven_mcp_resources_read(ngx_http_confhaven_mcp_call_t *call)
{
    u_char                   *p;
    size_t                    len, n;
    json_t                   *uri;
    ngx_str_t                 why;
    ngx_http_confhaven_op_t  *opd;

    uri = call->params ? json_object_get(call->params, "uri") : NULL;

    if (!json_is_string(uri)) {
        ngx_http_confhaven_mcp_error(call, NGX_HTTP_OK,
                                     NGX_HTTP_CONFHAVEN_MCP_INVALID_PARAMS,
                                     "Invalid params: uri must be a string",
                                     NULL);
        return;
    }

    p = (u_char *) json_string_value(uri);
    len = json_string_length(uri);

    n = sizeof(NGX_HTTP_CONFHAVEN_URI_CONFERENCES) - 1;

    if (len > n
        && ngx_strncmp(p, NGX_HTTP_CONFHAVEN_URI_CONFERENCES, n) == 0
        && ngx_http_confhaven_mcp_is_slug(p + n, len - n) == NGX_OK)
    {
        opd = &ngx_http_confhaven_op_get_conference;
        p += n;
        goto query;
    }

    n = sizeof(NGX_HTTP_CONFHAVEN_URI_SESSIONS) - 1;

    if (len > n + 4 && len - n <= 18 + 4
        && ngx_strncmp(p, NGX_HTTP_CONFHAVEN_URI_SESSIONS, n) == 0
        && ngx_strncmp(p + len - 4, ".ics", 4) == 0
        && ngx_atoi(p + n, len - n - 4) > 0)
    {
        ngx_http_confhaven_mcp_resources_ics(call, p + n, len - n - 4);
        return;
    }

    if (len > n && len - n <= 18
        && ngx_strncmp(p, NGX_HTTP_CONFHAVEN_URI_SESSIONS, n) == 0
        && ngx_atoi(p + n, len - n) > 0)
    {
        opd = &ngx_http_confhaven_op_get_session;
        p += n;
        goto query;
    }

    if (ngx_http_confhaven_mcp_apps_read(call, uri) == NGX_OK) {
        return;
    }

    ngx_str_set(&why, "resources/list and resources/templates/list name "
                      "the resources: confhaven://conferences/{slug}, "
                      "confhaven://sessions/{id} and "
                      "confhaven://sessions/{id}.ics");
    ngx_http_confhaven_mcp_resources_not_found(call, uri, &why);
    return;

query:

    /* jansson strings are NUL-terminated: the tail is the parameter */
    if (ngx_http_confhaven_mcp_query(call, opd, 1, (char **) &p,
                                     ngx_http_confhaven_mcp_resources_got)
        != NGX_OK)
    {
        ngx_http_confhaven_mcp_result(call, NULL);
    }
}


static void
ngx_http_confhaven_mcp_resources_got(ngx_http_confhaven_mcp_call_t *call,
    ngx_http_confhaven_op_call_t *oc)
{
    json_t                      *uri, *res;
    ngx_http_confhaven_fetch_t  *f;

    uri = json_object_get(call->params, "uri");

    f = &oc->fetch;

    /* unknown, or not a valid id or slug ("sessions/042") */
    if (ngx_http_confhaven_mcp_query_refused(oc)) {
        ngx_http_confhaven_mcp_resources_not_found(call, uri,
                                                   f->hint.len ? &f->hint
                                                               : NULL);
        return;
    }

    if (oc->error.kind != NGX_HTTP_CONFHAVEN_OP_OK) {
        if (f->value.len == 0 && f->status == NGX_HTTP_CONFHAVEN_PG_OK) {
            /* a NULL row: nothing we can name */
            ngx_http_confhaven_mcp_result(call, NULL);
            return;
        }

        /* answers -32603 */
        (void) ngx_http_confhaven_mcp_query_value(call, oc);
        return;
    }

    ngx_http_confhaven_mcp_events_resource(call, oc);

    /* the database's JSON (or iCalendar) is the resource text as it is */
    res = json_pack("{s:[{s:O, s:s, s:s%}]}",
                    "contents",
                    "uri", uri,
                    "mimeType",
                    oc->op == &ngx_http_confhaven_op_session_ics
                    ? "text/calendar" : "application/json",
                    "text", (char *) f->value.data, f->value.len);

    ngx_http_confhaven_mcp_cacheable(call, res,
                                     NGX_HTTP_CONFHAVEN_MCP_TTL_DATA);
    ngx_http_confhaven_mcp_result(call, res);
}


/* -32002 before 2026-07-28, -32602 there; data.uri both ways */

static void
ngx_http_confhaven_mcp_resources_not_found(
    ngx_http_confhaven_mcp_call_t *call, json_t *uri, ngx_str_t *why)
{
    u_char  *p, *last, buf[2048];

    last = buf + sizeof(buf) - 1;

    p = ngx_slprintf(buf, last, "Resource not found");

    if (why && why->len) {
        p = ngx_slprintf(p, last, ": %V", why);

        if (ngx_http_confhaven_json_utf8_invalid(buf, p - buf, 0) >= 0) {
            p = ngx_slprintf(buf, last, "Resource not found");
        }
    }

    *p = '\0';

    ngx_log_error(NGX_LOG_INFO, call->r->connection->log, 0,
                  "confhaven mcp: resource not found");

    ngx_http_confhaven_mcp_error(call, NGX_HTTP_OK,
                                 call->modern
                                 ? NGX_HTTP_CONFHAVEN_MCP_INVALID_PARAMS
                                 : NGX_HTTP_CONFHAVEN_MCP_RESOURCE_NOT_FOUND,
                                 (char *) buf,
                                 json_pack("{s:O}", "uri", uri));
}


static ngx_int_t
ngx_http_confhaven_mcp_is_slug(u_char *p, size_t len)
{
    size_t  i;

    if (len == 0 || len > 63 || p[0] == '-') {
        return NGX_DECLINED;
    }

    for (i = 0; i < len; i++) {
        if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9')
              || p[i] == '-'))
        {
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


/* ----------------------------------------------------------- completion */


void
ngx_http_confhaven_mcp_resources_complete(ngx_http_confhaven_mcp_call_t *call)
{
    char        *params[2], *args[3];
    json_t      *ref, *arg, *type, *name, *value, *ctx, *conf, *values;
    ngx_uint_t   i;
    const char  *field, *t, *n, *v, *target;

    ref = call->params ? json_object_get(call->params, "ref") : NULL;
    arg = call->params ? json_object_get(call->params, "argument") : NULL;

    type = json_object_get(ref, "type");
    name = json_object_get(arg, "name");
    value = json_object_get(arg, "value");

    if (!json_is_object(ref) || !json_is_string(type)
        || !json_is_object(arg) || !json_is_string(name)
        || !json_is_string(value))
    {
        ngx_http_confhaven_mcp_error(call, NGX_HTTP_OK,
                                     NGX_HTTP_CONFHAVEN_MCP_INVALID_PARAMS,
                                     "Invalid params: completion/complete "
                                     "takes ref {type, name|uri} and "
                                     "argument {name, value}", NULL);
        return;
    }

    t = json_string_value(type);
    n = json_string_value(name);
    v = json_string_value(value);

    /* what the reference names: our prompt, our templates, a tool */
    target = json_string_value(json_object_get(ref,
                                   ngx_strcmp(t, "ref/resource") == 0
                                   ? "uri" : "name"));

    if (target == NULL
        || json_string_length(value) > NGX_HTTP_CONFHAVEN_COMPLETION_LEN
        || (ngx_strcmp(t, "ref/prompt") == 0
            && ngx_strcmp(target, "plan_my_day") != 0)
        || (ngx_strcmp(t, "ref/resource") == 0
            && ngx_strcmp(target,
                          NGX_HTTP_CONFHAVEN_URI_CONFERENCES "{slug}") != 0))
    {
        ngx_http_confhaven_mcp_completion_values(call, NULL, 0);
        return;
    }

    ctx = json_object_get(call->params, "context");
    conf = json_object_get(json_object_get(ctx, "arguments"), "conference");

    params[0] = (char *) v;
    params[1] = json_is_string(conf) ? (char *) json_string_value(conf)
                                     : NULL;

    if (ngx_strcmp(n, "level") == 0) {
        values = json_array();

        for (i = 0; values && ngx_http_confhaven_mcp_levels[i]; i++) {
            if (ngx_strncasecmp((u_char *) ngx_http_confhaven_mcp_levels[i],
                                (u_char *) v, ngx_strlen(v))
                == 0)
            {
                json_array_append_new(values,
                    json_string(ngx_http_confhaven_mcp_levels[i]));
            }
        }

        ngx_http_confhaven_mcp_completion_values(call, values,
                                                 json_array_size(values));
        return;
    }

    /* api_complete(field, prefix, conference) */

    if (ngx_strcmp(n, "conference") == 0 || ngx_strcmp(n, "slug") == 0) {
        /* the slugs take the value only */
        field = "conference";
        params[1] = NULL;

    } else if (ngx_strcmp(n, "track") == 0) {
        field = "track";

    } else if (ngx_strcmp(n, "date") == 0 && params[1]) {
        field = "date";

    } else {
        ngx_http_confhaven_mcp_completion_values(call, NULL, 0);
        return;
    }

    args[0] = (char *) field;
    args[1] = params[0];
    args[2] = params[1];

    if (ngx_http_confhaven_mcp_query(call, &ngx_http_confhaven_op_complete,
                                     3, args,
                                     ngx_http_confhaven_mcp_completion_got)
        != NGX_OK)
    {
        ngx_http_confhaven_mcp_result(call, NULL);
    }
}


static void
ngx_http_confhaven_mcp_completion_got(ngx_http_confhaven_mcp_call_t *call,
    ngx_http_confhaven_op_call_t *oc)
{
    json_t  *value, *total;

    value = ngx_http_confhaven_mcp_query_value(call, oc);
    if (value == NULL) {
        if (ngx_http_confhaven_mcp_query_refused(oc)) {
            /* nothing to offer is not an error for a completion */
            ngx_http_confhaven_mcp_completion_values(call, NULL, 0);
        }

        return;
    }

    total = json_object_get(value, "total");

    ngx_http_confhaven_mcp_completion_values(call,
        json_incref(json_object_get(value, "values")),
        json_is_integer(total) ? json_integer_value(total) : 0);
}


/* takes values (NULL: none) */

static void
ngx_http_confhaven_mcp_completion_values(ngx_http_confhaven_mcp_call_t *call,
    json_t *values, json_int_t total)
{
    json_t  *res;

    if (!json_is_array(values)) {
        json_decref(values);
        values = json_array();
        total = 0;
    }

    if (total < (json_int_t) json_array_size(values)) {
        total = json_array_size(values);
    }

    res = json_pack("{s:{s:o, s:I, s:b}}",
                    "completion",
                    "values", values,
                    "total", total,
                    "hasMore", total > (json_int_t) json_array_size(values));

    ngx_http_confhaven_mcp_result(call, res);
}


/*
 * confhaven://sessions/{id}.ics: the operation of GET
 * /api/sessions/{id}.ics, with our own scheme://host for the session's
 * URL as REST has it, so that both are one cache entry.
 */

static void
ngx_http_confhaven_mcp_resources_ics(ngx_http_confhaven_mcp_call_t *call,
    u_char *id, size_t len)
{
    char                *params[2];
    ngx_str_t            base;
    ngx_http_request_t  *r;

    r = call->r;

    params[0] = ngx_pnalloc(r->pool, len + 1);
    if (params[0] == NULL) {
        ngx_http_confhaven_mcp_result(call, NULL);
        return;
    }

    *ngx_cpymem(params[0], id, len) = '\0';

    /* confhaven_public_url, else the request's scheme and Host */
    ngx_http_confhaven_tools_public_origin(r, &call->conf->origin, &base);

    params[1] = base.len ? (char *) base.data : NULL;

    if (ngx_http_confhaven_mcp_query(call,
                                     &ngx_http_confhaven_op_session_ics, 2,
                                     params,
                                     ngx_http_confhaven_mcp_resources_got)
        != NGX_OK)
    {
        ngx_http_confhaven_mcp_result(call, NULL);
    }
}
