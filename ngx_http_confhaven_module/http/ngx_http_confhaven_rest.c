
/*
 * Copyright (C) ConferenceHaven
 */


/*
 * The REST API: a route table (method + path -> operation), strict
 * query-string reading, and the rendering of an operation's outcome as
 * HTTP statuses with JSON bodies.  Parameters, SQL, cache class and the
 * SQLSTATE map are the operations' (ngx_http_confhaven_op_*.c).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_confhaven_module.h"
#include "ngx_http_confhaven_json.h"
#include "ngx_http_confhaven_send.h"
#include "ngx_http_confhaven_op.h"
#include "ngx_http_confhaven_events.h"
#include "ngx_http_confhaven_rest.h"
#include "ngx_http_confhaven_request.h"
#include "ngx_http_confhaven_tools.h"
#include "ngx_http_confhaven_header.h"


#define NGX_HTTP_CONFHAVEN_TAIL_NONE    0   /* exact path */
#define NGX_HTTP_CONFHAVEN_TAIL_ID      1   /* prefix + {id} */
#define NGX_HTTP_CONFHAVEN_TAIL_SLUG    2   /* prefix + {slug} */
#define NGX_HTTP_CONFHAVEN_TAIL_IMPORT  3   /* prefix + {slug}/import */
#define NGX_HTTP_CONFHAVEN_TAIL_ID_ICS     8   /* prefix + {id}.ics */
#define NGX_HTTP_CONFHAVEN_TAIL_TOKEN      9   /* prefix + {token} */
#define NGX_HTTP_CONFHAVEN_TAIL_TOKEN_ICS  10  /* prefix + {token}.ics */
#define NGX_HTTP_CONFHAVEN_TAIL_INVITE  4   /* prefix + {id}/invite */

#define NGX_HTTP_CONFHAVEN_K_HEALTH   1
#define NGX_HTTP_CONFHAVEN_K_QUERY    2
#define NGX_HTTP_CONFHAVEN_K_OPENAPI  3
#define NGX_HTTP_CONFHAVEN_K_IMPORT   4
#define NGX_HTTP_CONFHAVEN_K_ICS      8   /* text/calendar */
#define NGX_HTTP_CONFHAVEN_K_AGENDA   9   /* 201 on POST, 204 on DELETE */
#define NGX_HTTP_CONFHAVEN_K_INVITE   5

#define NGX_HTTP_CONFHAVEN_INVITE_MAX_BODY  4096

#define NGX_HTTP_CONFHAVEN_REALM_ORGANIZER                                   \
    "Bearer realm=\"confhaven-organizer\", error=\"invalid_token\""


/*
 * Validation helpers answer the request themselves; NGX_ABORT tells the
 * caller so, and ctx->rc keeps what the output filter returned.
 */

#define ngx_http_confhaven_reject(r, ...)                                    \
    ngx_http_confhaven_rest_reject(r,                                        \
        ngx_http_discard_request_body(r),                                    \
        ngx_http_confhaven_send_errorf(r, __VA_ARGS__))


typedef struct {
    ngx_str_t                      path;
    ngx_uint_t                     tail;
    ngx_uint_t                     methods;
    ngx_uint_t                     kind;
    ngx_str_t                      name;
    ngx_http_confhaven_op_t       *op;
    ngx_uint_t                     query;       /* takes query parameters */
    const char                    *allowed;     /* hint for bad names */
} ngx_http_confhaven_route_t;


static ngx_int_t ngx_http_confhaven_rest_query(ngx_http_request_t *r,
    ngx_http_confhaven_route_t *rt, ngx_str_t *tail);
static ngx_int_t ngx_http_confhaven_rest_call(ngx_http_request_t *r,
    ngx_http_confhaven_ctx_t *ctx, ngx_http_confhaven_op_t *op);
static ngx_int_t ngx_http_confhaven_rest_args(ngx_http_request_t *r,
    ngx_http_confhaven_route_t *rt, ngx_http_confhaven_ctx_t *ctx);
static ngx_int_t ngx_http_confhaven_rest_set(ngx_http_request_t *r,
    ngx_http_confhaven_ctx_t *ctx, ngx_uint_t i, ngx_str_t *v);
static ngx_int_t ngx_http_confhaven_rest_check_tail(ngx_http_request_t *r,
    ngx_http_confhaven_route_t *rt, ngx_str_t *tail);
static ngx_int_t ngx_http_confhaven_rest_import(ngx_http_request_t *r,
    ngx_http_confhaven_route_t *rt, ngx_str_t *tail);
static void ngx_http_confhaven_rest_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_confhaven_rest_body(ngx_http_request_t *r,
    ngx_str_t *body);
static void ngx_http_confhaven_rest_body_start(ngx_http_request_t *r,
    ngx_http_confhaven_ctx_t *ctx, ngx_uint_t i, ngx_str_t *body);
static ngx_uint_t ngx_http_confhaven_rest_private(ngx_http_request_t *r);
static ngx_int_t ngx_http_confhaven_rest_start(ngx_http_request_t *r,
    ngx_http_confhaven_ctx_t *ctx);
static ngx_int_t ngx_http_confhaven_rest_respond(ngx_http_request_t *r,
    void *data);
static ngx_int_t ngx_http_confhaven_rest_health(ngx_http_request_t *r,
    ngx_http_confhaven_fetch_t *f);
static void ngx_http_confhaven_rest_event(ngx_http_request_t *r,
    ngx_http_confhaven_ctx_t *ctx);
static ngx_int_t ngx_http_confhaven_rest_db_error(ngx_http_request_t *r,
    ngx_http_confhaven_op_call_t *call);
static ngx_str_t *ngx_http_confhaven_rest_openapi(ngx_http_request_t *r);
static json_t *ngx_http_confhaven_rest_param_schema(
    ngx_http_confhaven_op_param_t *p);
static ngx_int_t ngx_http_confhaven_rest_allow(ngx_http_request_t *r,
    ngx_uint_t methods);
static ngx_int_t ngx_http_confhaven_rest_reject(ngx_http_request_t *r,
    ngx_int_t discarded, ngx_int_t rc);
static ngx_int_t ngx_http_confhaven_rest_agenda(ngx_http_request_t *r,
    ngx_http_confhaven_route_t *rt, ngx_str_t *tail);
static void ngx_http_confhaven_rest_agenda_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_confhaven_rest_base(ngx_http_request_t *r,
    ngx_http_confhaven_ctx_t *ctx);
static ngx_int_t ngx_http_confhaven_rest_calendar_done(ngx_http_request_t *r,
    ngx_http_confhaven_ctx_t *ctx);
static ngx_int_t ngx_http_confhaven_rest_invite(ngx_http_request_t *r,
    ngx_http_confhaven_route_t *rt, ngx_str_t *tail);
static void ngx_http_confhaven_rest_invite_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_confhaven_rest_read(ngx_http_request_t *r,
    ngx_http_confhaven_route_t *rt, ngx_http_confhaven_ctx_t *ctx,
    ngx_str_t *tail, ngx_http_client_body_handler_pt handler);
static ngx_int_t ngx_http_confhaven_rest_unauthorized(ngx_http_request_t *r,
    const char *challenge, ngx_str_t *message, ngx_str_t *hint);


static ngx_http_confhaven_route_t  ngx_http_confhaven_routes[] = {

    { ngx_string("/health"), NGX_HTTP_CONFHAVEN_TAIL_NONE,
      NGX_HTTP_GET|NGX_HTTP_HEAD, NGX_HTTP_CONFHAVEN_K_HEALTH,
      ngx_string("health"), &ngx_http_confhaven_op_health, 0, "none" },

    { ngx_string("/api/conferences"), NGX_HTTP_CONFHAVEN_TAIL_NONE,
      NGX_HTTP_GET|NGX_HTTP_HEAD, NGX_HTTP_CONFHAVEN_K_QUERY,
      ngx_string("conferences"), &ngx_http_confhaven_op_list_conferences, 1,
      "include_past" },

    { ngx_string("/api/conferences/"), NGX_HTTP_CONFHAVEN_TAIL_SLUG,
      NGX_HTTP_GET|NGX_HTTP_HEAD, NGX_HTTP_CONFHAVEN_K_QUERY,
      ngx_string("conference"), &ngx_http_confhaven_op_get_conference, 0,
      "none" },

    { ngx_string("/api/sessions"), NGX_HTTP_CONFHAVEN_TAIL_NONE,
      NGX_HTTP_GET|NGX_HTTP_HEAD, NGX_HTTP_CONFHAVEN_K_QUERY,
      ngx_string("search"), &ngx_http_confhaven_op_search_sessions, 1,
      "q, conference, track, level, limit, include_past, speaker, room, "
      "day, starts_after, starts_before, language, offset, cursor" },

    { ngx_string("/api/sessions/"), NGX_HTTP_CONFHAVEN_TAIL_ID,
      NGX_HTTP_GET|NGX_HTTP_HEAD, NGX_HTTP_CONFHAVEN_K_QUERY,
      ngx_string("session"), &ngx_http_confhaven_op_get_session, 0, "none" },

    { ngx_string("/api/swagger.json"), NGX_HTTP_CONFHAVEN_TAIL_NONE,
      NGX_HTTP_GET|NGX_HTTP_HEAD, NGX_HTTP_CONFHAVEN_K_OPENAPI,
      ngx_string("openapi"), NULL, 0, "none" },

    { ngx_string("/api/openapi.json"), NGX_HTTP_CONFHAVEN_TAIL_NONE,
      NGX_HTTP_GET|NGX_HTTP_HEAD, NGX_HTTP_CONFHAVEN_K_OPENAPI,
      ngx_string("openapi"), NULL, 0, "none" },

    { ngx_string("/api/admin/conferences/"), NGX_HTTP_CONFHAVEN_TAIL_IMPORT,
      NGX_HTTP_POST, NGX_HTTP_CONFHAVEN_K_IMPORT,
      ngx_string("import"), &ngx_http_confhaven_op_import, 1,
      "name, timezone, location, website" },

    { ngx_string("/api/sessions/"), NGX_HTTP_CONFHAVEN_TAIL_ID_ICS,
      NGX_HTTP_GET|NGX_HTTP_HEAD, NGX_HTTP_CONFHAVEN_K_ICS,
      ngx_string("session_ics"), &ngx_http_confhaven_op_session_ics, 0,
      "none" },

    { ngx_string("/api/agendas"), NGX_HTTP_CONFHAVEN_TAIL_NONE,
      NGX_HTTP_POST, NGX_HTTP_CONFHAVEN_K_AGENDA,
      ngx_string("agenda_create"), &ngx_http_confhaven_op_agenda_create, 0,
      "none" },

    { ngx_string("/api/agendas/"), NGX_HTTP_CONFHAVEN_TAIL_TOKEN_ICS,
      NGX_HTTP_GET|NGX_HTTP_HEAD, NGX_HTTP_CONFHAVEN_K_ICS,
      ngx_string("agenda_ics"), &ngx_http_confhaven_op_agenda_ics, 0,
      "none" },

    { ngx_string("/api/agendas/"), NGX_HTTP_CONFHAVEN_TAIL_TOKEN,
      NGX_HTTP_GET|NGX_HTTP_HEAD, NGX_HTTP_CONFHAVEN_K_AGENDA,
      ngx_string("agenda"), &ngx_http_confhaven_op_agenda_get, 0, "none" },

    { ngx_string("/api/agendas/"), NGX_HTTP_CONFHAVEN_TAIL_TOKEN,
      NGX_HTTP_PUT, NGX_HTTP_CONFHAVEN_K_AGENDA,
      ngx_string("agenda_replace"), &ngx_http_confhaven_op_agenda_replace, 0,
      "none" },

    { ngx_string("/api/agendas/"), NGX_HTTP_CONFHAVEN_TAIL_TOKEN,
      NGX_HTTP_DELETE, NGX_HTTP_CONFHAVEN_K_AGENDA,
      ngx_string("agenda_delete"), &ngx_http_confhaven_op_agenda_delete, 0,
      "none" },

    { ngx_string("/api/sessions/"), NGX_HTTP_CONFHAVEN_TAIL_INVITE,
      NGX_HTTP_POST, NGX_HTTP_CONFHAVEN_K_INVITE,
      ngx_string("invite"), &ngx_http_confhaven_op_invite, 0, "none" },

    /* an organizer's own import (organizer key): the admin import's op */
    { ngx_string("/api/organizer/conferences/"),
      NGX_HTTP_CONFHAVEN_TAIL_IMPORT,
      NGX_HTTP_POST, NGX_HTTP_CONFHAVEN_K_IMPORT,
      ngx_string("organizer_import"), &ngx_http_confhaven_op_organizer_import,
      1, "name, timezone, location, website" },

    { ngx_null_string, 0, 0, 0, ngx_null_string, NULL, 0, NULL }
};


static const char  ngx_http_confhaven_endpoints[] =
    "endpoints: GET /health, GET /api/conferences, "
    "GET /api/conferences/{slug}, GET /api/sessions?q=..., "
    "GET /api/sessions/{id}, GET /api/swagger.json, "
    "POST /api/admin/conferences/{slug}/import, "
    "GET /api/sessions/{id}.ics, POST /api/agendas, "
    "GET|PUT|DELETE /api/agendas/{token}, GET /api/agendas/{token}.ics, "
    "POST /api/sessions/{id}/invite";


/*
 * A request whose answer depends on who asks: it carries a key
 * (Authorization, X-API-Key) or is for an organizer's, an administrator's,
 * a subscription's or an agenda token's resource.
 */

static ngx_uint_t
ngx_http_confhaven_rest_private(ngx_http_request_t *r)
{
    static ngx_str_t  prefixes[] = {
        ngx_string("/api/organizer"),
        ngx_string("/api/admin/"),
        ngx_string("/api/billing"),
        ngx_string("/api/agendas"),
    };

    ngx_uint_t  i;

    if (r->headers_in.authorization
        || ngx_http_confhaven_header_in(r, "X-API-Key",
                                        sizeof("X-API-Key") - 1))
    {
        return 1;
    }

    for (i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
        if (r->uri.len >= prefixes[i].len
            && ngx_strncmp(r->uri.data, prefixes[i].data, prefixes[i].len)
               == 0)
        {
            return 1;
        }
    }

    return 0;
}


ngx_int_t
ngx_http_confhaven_rest_handler(ngx_http_request_t *r)
{
    size_t                       len;
    ngx_int_t                    rc;
    ngx_str_t                    uri, tail;
    ngx_uint_t                   path_known, ics, allowed;
    ngx_http_confhaven_ctx_t    *ctx;
    ngx_http_confhaven_route_t  *rt;

    ctx = ngx_http_confhaven_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* answers for a key or a token are nobody else's */
    if (ngx_http_confhaven_rest_private(r)
        && ngx_http_confhaven_send_no_store(r) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* billing and Stripe's webhooks: ngx_http_confhaven_rest_billing.c */
    rc = ngx_http_confhaven_rest_billing(r);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    /* organizers and their keys: ngx_http_confhaven_rest_organizer.c */
    rc = ngx_http_confhaven_rest_organizer(r);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    uri = r->uri;

    /* "/api/sessions/" is "/api/sessions" */
    if (uri.len > 1 && uri.data[uri.len - 1] == '/') {
        uri.len--;
    }

    path_known = 0;
    allowed = 0;

    for (rt = ngx_http_confhaven_routes; rt->path.len; rt++) {

        len = rt->path.len;

        if (rt->tail == NGX_HTTP_CONFHAVEN_TAIL_NONE) {
            if (uri.len != len || ngx_strncmp(uri.data, rt->path.data, len)) {
                continue;
            }

            tail.len = 0;
            tail.data = NULL;

        } else {
            if (uri.len <= len
                || ngx_strncmp(uri.data, rt->path.data, len) != 0)
            {
                continue;
            }

            tail.data = uri.data + len;
            tail.len = uri.len - len;

            if (rt->tail == NGX_HTTP_CONFHAVEN_TAIL_IMPORT) {
                if (tail.len <= sizeof("/import") - 1
                    || ngx_strncmp(tail.data + tail.len
                                   - (sizeof("/import") - 1),
                                   "/import", sizeof("/import") - 1) != 0)
                {
                    continue;
                }

                tail.len -= sizeof("/import") - 1;
            }

            /* "{id}.ics" and "{token}.ics" are the calendar routes' */
            ics = tail.len > 4
                  && ngx_strncmp(tail.data + tail.len - 4, ".ics", 4) == 0;

            if (ics != (rt->tail == NGX_HTTP_CONFHAVEN_TAIL_ID_ICS
                        || rt->tail == NGX_HTTP_CONFHAVEN_TAIL_TOKEN_ICS))
            {
                continue;
            }

            if (ics) {
                tail.len -= 4;
            }

            if (rt->tail == NGX_HTTP_CONFHAVEN_TAIL_INVITE) {
                if (tail.len <= sizeof("/invite") - 1
                    || ngx_strncmp(tail.data + tail.len
                                   - (sizeof("/invite") - 1),
                                   "/invite", sizeof("/invite") - 1) != 0)
                {
                    continue;
                }

                tail.len -= sizeof("/invite") - 1;
            }

            if (ngx_strlchr(tail.data, tail.data + tail.len, '/')) {
                continue;
            }
        }

        path_known = 1;
        allowed |= rt->methods;

        if (!(r->method & rt->methods)) {
            continue;
        }

        ctx->route = rt->name;

        if (rt->kind == NGX_HTTP_CONFHAVEN_K_IMPORT) {
            return ngx_http_confhaven_rest_import(r, rt, &tail);
        }

        if (rt->kind == NGX_HTTP_CONFHAVEN_K_AGENDA
            && (r->method & (NGX_HTTP_POST|NGX_HTTP_PUT)))
        {
            return ngx_http_confhaven_rest_agenda(r, rt, &tail);
        }

        if (rt->kind == NGX_HTTP_CONFHAVEN_K_INVITE) {
            return ngx_http_confhaven_rest_invite(r, rt, &tail);
        }

        return ngx_http_confhaven_rest_query(r, rt, &tail);
    }

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (path_known) {
        /* every method some route of this path takes */
        if (ngx_http_confhaven_rest_allow(r, allowed) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_confhaven_send_errorf(r, NGX_HTTP_NOT_ALLOWED,
                   "method_not_allowed", NULL,
                   "method %V is not allowed on %V", &r->method_name,
                   &r->uri);
    }

    return ngx_http_confhaven_send_errorf(r, NGX_HTTP_NOT_FOUND, "not_found",
                                          ngx_http_confhaven_endpoints,
                                          "no endpoint %V %V",
                                          &r->method_name, &r->uri);
}


/*
 * The OpenAPI document as served: openapi.json's words, with each query
 * parameter's schema (type, bounds, default, length, values) taken from
 * the operation behind the route, so that the document, the REST checks
 * and the MCP inputSchema cannot drift apart.  Built once per worker; on
 * any trouble, the document as written.
 */

static ngx_str_t *
ngx_http_confhaven_rest_openapi(ngx_http_request_t *r)
{
    char                           *text;
    json_t                         *doc, *paths, *item, *opn, *list, *prm;
    json_t                         *schema, *have;
    ngx_int_t                       i;
    ngx_uint_t                      k;
    const char                     *method, *name, *key;
    ngx_http_confhaven_route_t     *rt;
    ngx_http_confhaven_op_param_t  *p;
    u_char                          path[128], *e;

    static ngx_str_t                built;

    if (built.len) {
        return &built;
    }

    doc = json_loadb((char *) ngx_http_confhaven_openapi.data,
                     ngx_http_confhaven_openapi.len, 0, NULL);
    paths = json_object_get(doc, "paths");

    for (rt = ngx_http_confhaven_routes; rt->path.len; rt++) {
        if (rt->op == NULL || !rt->query) {
            continue;
        }

        /* "/api/admin/conferences/" + "{slug}/import" as the doc has it */
        e = ngx_snprintf(path, sizeof(path) - 1, "%V%s", &rt->path,
                         rt->tail == NGX_HTTP_CONFHAVEN_TAIL_IMPORT
                         ? "{slug}/import" : "");
        *e = '\0';

        method = (rt->methods & NGX_HTTP_POST) ? "post" : "get";
        item = json_object_get(paths, (char *) path);
        opn = json_object_get(item, method);

        if (opn == NULL) {
            continue;
        }

        list = json_object_get(opn, "parameters");
        if (list == NULL) {
            list = json_array();
            json_object_set_new(opn, "parameters", list);
        }

        for (k = 0; k < rt->op->nparams; k++) {
            p = &rt->op->params[k];

            if (p->in != NGX_HTTP_CONFHAVEN_OP_IN_QUERY) {
                continue;
            }

            name = p->rest_name ? p->rest_name : p->name;
            prm = NULL;

            for (i = 0; i < (ngx_int_t) json_array_size(list); i++) {
                have = json_array_get(list, i);

                /* a shared parameter: "#/components/parameters/<name>" */
                key = json_string_value(json_object_get(have, "$ref"));
                if (key && ngx_strncmp(key, "#/components/parameters/", 24)
                           == 0)
                {
                    have = json_object_get(json_object_get(
                               json_object_get(doc, "components"),
                               "parameters"), key + 24);
                }

                key = json_string_value(json_object_get(have, "name"));

                if (key && ngx_strcmp(key, name) == 0) {
                    prm = have;
                    break;
                }
            }

            if (prm == NULL) {
                prm = json_pack("{s:s, s:s, s:b, s:s}", "name", name,
                                "in", "query", "required", 0,
                                "description",
                                p->description ? p->description : "");
                json_array_append_new(list, prm);
            }

            schema = json_object_get(prm, "schema");
            if (schema == NULL) {
                schema = json_object();
                json_object_set_new(prm, "schema", schema);
            }

            /* the operation says it all, or nothing */
            json_object_del(schema, "type");
            json_object_del(schema, "minimum");
            json_object_del(schema, "maximum");
            json_object_del(schema, "default");
            json_object_del(schema, "maxLength");
            json_object_del(schema, "enum");

            have = ngx_http_confhaven_rest_param_schema(p);
            json_object_update(schema, have);
            json_decref(have);
        }
    }

    text = doc ? json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(doc);

    if (text == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "confhaven rest: the OpenAPI document could not be "
                      "built, serving it as written");
        return &ngx_http_confhaven_openapi;
    }

    built.len = ngx_strlen(text);
    built.data = (u_char *) text;    /* for the worker's life */

    return &built;
}


/* a parameter's JSON Schema, as its operation checks it */

static json_t *
ngx_http_confhaven_rest_param_schema(ngx_http_confhaven_op_param_t *p)
{
    json_t      *s, *list;
    ngx_uint_t   k;

    switch (p->type) {

    case NGX_HTTP_CONFHAVEN_OP_INT:
        s = json_pack("{s:s, s:I, s:I}", "type", "integer",
                      "minimum", (json_int_t) p->min,
                      "maximum", (json_int_t) p->max);
        if (s && p->dflt) {
            json_object_set_new(s, "default",
                json_integer(ngx_atoi((u_char *) p->dflt,
                                      ngx_strlen(p->dflt))));
        }
        return s;

    case NGX_HTTP_CONFHAVEN_OP_BOOL:
        s = json_pack("{s:s}", "type", "boolean");
        if (s && p->dflt) {
            json_object_set_new(s, "default",
                                json_boolean(p->dflt[0] == 't'));
        }
        return s;

    case NGX_HTTP_CONFHAVEN_OP_ID:
        return json_pack("{s:s, s:i}", "type", "integer", "minimum", 1);

    default:
        s = json_pack("{s:s}", "type", "string");

        if (s && p->values) {
            list = json_array();

            for (k = 0; p->values[k]; k++) {
                json_array_append_new(list, json_string(p->values[k]));
            }

            json_object_set_new(s, "enum", list);

        } else if (s && p->max_len) {
            json_object_set_new(s, "maxLength", json_integer(p->max_len));
        }

        return s;
    }
}


static ngx_int_t
ngx_http_confhaven_rest_reject(ngx_http_request_t *r, ngx_int_t discarded,
    ngx_int_t rc)
{
    ngx_http_confhaven_ctx_t  *ctx;

    ctx = ngx_http_confhaven_get_ctx(r);
    ctx->rc = rc;

    return NGX_ABORT;
}


static ngx_int_t
ngx_http_confhaven_rest_allow(ngx_http_request_t *r, ngx_uint_t methods)
{
    u_char           *p;
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Allow");

    p = ngx_pnalloc(r->pool, sizeof("GET, HEAD, POST, PUT, DELETE"));
    if (p == NULL) {
        return NGX_ERROR;
    }

    h->value.data = p;

    if (methods & NGX_HTTP_GET) {
        p = ngx_cpymem(p, "GET, HEAD, ", sizeof("GET, HEAD, ") - 1);
    }

    if (methods & NGX_HTTP_POST) {
        p = ngx_cpymem(p, "POST, ", sizeof("POST, ") - 1);
    }

    if (methods & NGX_HTTP_PUT) {
        p = ngx_cpymem(p, "PUT, ", sizeof("PUT, ") - 1);
    }

    if (methods & NGX_HTTP_DELETE) {
        p = ngx_cpymem(p, "DELETE, ", sizeof("DELETE, ") - 1);
    }

    /* without the last ", " */
    h->value.len = (p - h->value.data >= 2) ? p - h->value.data - 2 : 0;

    return NGX_OK;
}


static ngx_int_t
ngx_http_confhaven_rest_query(ngx_http_request_t *r,
    ngx_http_confhaven_route_t *rt, ngx_str_t *tail)
{
    ngx_int_t                  rc;
    ngx_http_confhaven_ctx_t  *ctx;

    ctx = ngx_http_confhaven_get_ctx(r);

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    if (rt->kind == NGX_HTTP_CONFHAVEN_K_OPENAPI) {
        if (r->args.len) {
            return ngx_http_confhaven_send_errorf(r, NGX_HTTP_BAD_REQUEST,
                       "bad_parameter", NULL,
                       "%V takes no query parameters", &rt->path);
        }

        return ngx_http_confhaven_send_json(r, NGX_HTTP_OK,
                                        ngx_http_confhaven_rest_openapi(r));
    }

    rc = ngx_http_confhaven_rest_call(r, ctx, rt->op);
    if (rc != NGX_OK) {
        return rc;
    }

    ctx->kind = rt->kind;

    if (tail->len) {
        rc = ngx_http_confhaven_rest_check_tail(r, rt, tail);
        if (rc != NGX_OK) {
            return rc == NGX_ABORT ? ctx->rc : rc;
        }
    }

    rc = ngx_http_confhaven_rest_args(r, rt, ctx);
    if (rc != NGX_OK) {
        return rc == NGX_ABORT ? ctx->rc : rc;
    }

    if (rt->kind == NGX_HTTP_CONFHAVEN_K_ICS
        && ngx_http_confhaven_rest_base(r, ctx) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_confhaven_rest_start(r, ctx);
}


/* the operation call of this request, with what the location lends it */

static ngx_int_t
ngx_http_confhaven_rest_call(ngx_http_request_t *r,
    ngx_http_confhaven_ctx_t *ctx, ngx_http_confhaven_op_t *op)
{
    ngx_http_confhaven_loc_conf_t   *chlcf;
    ngx_http_confhaven_main_conf_t  *chmcf;

    chmcf = ngx_http_get_module_main_conf(r, ngx_http_confhaven_module);
    chlcf = ngx_http_get_module_loc_conf(r, ngx_http_confhaven_module);

    ctx->env.cache = chmcf->cache;
    ctx->env.conf = &chlcf->cache;
    ctx->env.timeout = 0;

    ctx->call = ngx_palloc(r->pool, sizeof(ngx_http_confhaven_op_call_t));
    if (ctx->call == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_confhaven_op_init(ctx->call, op, &ctx->env, r->pool,
                               r->connection->log);

    return NGX_OK;
}


static ngx_int_t
ngx_http_confhaven_rest_check_tail(ngx_http_request_t *r,
    ngx_http_confhaven_route_t *rt, ngx_str_t *tail)
{
    u_char                    *p, *last;
    ngx_http_confhaven_ctx_t  *ctx;

    ctx = ngx_http_confhaven_get_ctx(r);
    last = tail->data + tail->len;

    if (rt->tail == NGX_HTTP_CONFHAVEN_TAIL_ID
        || rt->tail == NGX_HTTP_CONFHAVEN_TAIL_ID_ICS
        || rt->tail == NGX_HTTP_CONFHAVEN_TAIL_INVITE)
    {
        for (p = tail->data; p < last; p++) {
            if (*p < '0' || *p > '9') {
                break;
            }
        }

        if (p < last || tail->len > 18 || tail->data[0] == '0') {
            if (ngx_http_confhaven_json_utf8_invalid(tail->data, tail->len, 0)
                >= 0)
            {
                return ngx_http_confhaven_reject(r,
                           NGX_HTTP_BAD_REQUEST, "bad_parameter",
                           "session ids are positive integers, "
                           "e.g. /api/sessions/42",
                           "the session id is not valid UTF-8 text or "
                           "contains a control character");
            }

            return ngx_http_confhaven_reject(r, NGX_HTTP_BAD_REQUEST,
                       "bad_parameter",
                       "session ids are positive integers, "
                       "e.g. /api/sessions/42; search with "
                       "/api/sessions?q=... to find them",
                       "\"%V\" is not a session id", tail);
        }

    } else if (rt->tail == NGX_HTTP_CONFHAVEN_TAIL_TOKEN
               || rt->tail == NGX_HTTP_CONFHAVEN_TAIL_TOKEN_ICS)
    {
        /* a token is base64url; anything else names no agenda */
        for (p = tail->data; p < last; p++) {
            if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
                  || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'))
            {
                break;
            }
        }

        if (p < last || tail->len > 128) {
            return ngx_http_confhaven_reject(r, NGX_HTTP_NOT_FOUND,
                       "not_found",
                       "POST /api/agendas with {\"session_ids\": [...]} "
                       "creates an agenda and returns its token",
                       "no agenda with this token");
        }

    } else if (rt->tail == NGX_HTTP_CONFHAVEN_TAIL_IMPORT) {
        /*
         * Imports name the conference exactly as it is stored: the slug
         * is also the cache tag the import invalidates.
         */

        for (p = tail->data; p < last; p++) {
            if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')
                  || (*p == '-' && p != tail->data)))
            {
                break;
            }
        }

        if (p < last || tail->len > 63) {
            return ngx_http_confhaven_reject(r, NGX_HTTP_BAD_REQUEST,
                       "bad_parameter",
                       "slugs are 1 to 63 lowercase letters, digits and "
                       "dashes, starting with a letter or digit, e.g. "
                       "scottish-summit-2026",
                       "the conference slug in the path is not valid");
        }

    } else {
        if (ngx_http_confhaven_json_utf8_invalid(tail->data, tail->len, 0) >= 0
            || tail->len > 200)
        {
            return ngx_http_confhaven_reject(r, NGX_HTTP_BAD_REQUEST,
                       "bad_parameter",
                       "conference slugs look like \"scottish-summit-2026\"; "
                       "GET /api/conferences lists them",
                       "the conference slug is not valid");
        }
    }

    /* the path's value is the operation's first parameter */
    return ngx_http_confhaven_rest_set(r, ctx, 0, tail);
}


static ngx_int_t
ngx_http_confhaven_rest_args(ngx_http_request_t *r,
    ngx_http_confhaven_route_t *rt, ngx_http_confhaven_ctx_t *ctx)
{
    ngx_int_t                           rc, i;
    ngx_str_t                           key, val;
    ngx_uint_t                          seen;
    ngx_http_confhaven_request_args_t   args;

    seen = 0;

    ngx_http_confhaven_request_args(r, &args);

    for ( ;; ) {
        rc = ngx_http_confhaven_request_arg(r, &args, &key, &val);
        if (rc != NGX_OK) {
            return rc == NGX_DONE ? NGX_OK : rc;
        }

        i = ngx_http_confhaven_request_param(rt->query ? rt->op : NULL, &key,
                                             &seen);

        if (i == NGX_ERROR) {
            return ngx_http_confhaven_reject(r, NGX_HTTP_BAD_REQUEST,
                       "bad_parameter", NULL,
                       "unknown parameter \"%V\" for %V; accepted: %s",
                       &key, &rt->path, rt->allowed);
        }

        if (i == NGX_DECLINED) {
            return ngx_http_confhaven_reject(r, NGX_HTTP_BAD_REQUEST,
                       "bad_parameter", NULL,
                       "parameter \"%V\" is given more than once", &key);
        }

        if (val.len == 0) {
            /* "q=" is the same as no q */
            continue;
        }

        rc = ngx_http_confhaven_rest_set(r, ctx, i, &val);
        if (rc != NGX_OK) {
            return rc;
        }
    }
}


/*
 * A value for the operation: text a query string may carry (no control
 * characters), then the operation's own check and canonical form.
 */

static ngx_int_t
ngx_http_confhaven_rest_set(ngx_http_request_t *r,
    ngx_http_confhaven_ctx_t *ctx, ngx_uint_t i, ngx_str_t *v)
{
    ssize_t                         bad;
    ngx_int_t                       rc;
    const char                     *name;
    ngx_http_confhaven_op_param_t  *prm;
    u_char                          err[NGX_HTTP_CONFHAVEN_OP_ERROR_LEN];

    prm = &ctx->call->op->params[i];

    name = prm->rest_name ? prm->rest_name : prm->name;

    bad = ngx_http_confhaven_json_utf8_invalid(v->data, v->len, 1);
    if (bad >= 0) {
        return ngx_http_confhaven_reject(r, NGX_HTTP_BAD_REQUEST,
                   "bad_parameter",
                   "percent-encode UTF-8 text; control characters "
                   "are not accepted",
                   "parameter \"%s\" is not valid UTF-8 text "
                   "(byte %z)", name, bad);
    }

    /* a query string is one line: no control characters, tabs included */
    bad = ngx_http_confhaven_json_utf8_invalid(v->data, v->len, 0);
    if (bad >= 0) {
        return ngx_http_confhaven_reject(r, NGX_HTTP_BAD_REQUEST,
                   "bad_parameter",
                   "percent-encode UTF-8 text; control characters "
                   "are not accepted",
                   "parameter \"%s\" contains a control character "
                   "(byte %z)", name, bad);
    }

    rc = ngx_http_confhaven_op_set(ctx->call, i, 1, v->data, v->len, err,
                                   sizeof(err));

    if (rc == NGX_DECLINED) {
        return ngx_http_confhaven_reject(r, NGX_HTTP_BAD_REQUEST,
                   "bad_parameter", prm->hint, "parameter %s", err);
    }

    return rc == NGX_OK ? NGX_OK : NGX_HTTP_INTERNAL_SERVER_ERROR;
}


static ngx_int_t
ngx_http_confhaven_rest_import(ngx_http_request_t *r,
    ngx_http_confhaven_route_t *rt, ngx_str_t *tail)
{
    ngx_int_t                       rc;
    ngx_str_t                       key, msg, hint;
    ngx_str_t                      *type;
    ngx_http_confhaven_ctx_t       *ctx;
    ngx_http_confhaven_loc_conf_t  *chlcf;

    ctx = ngx_http_confhaven_get_ctx(r);
    chlcf = ngx_http_get_module_loc_conf(r, ngx_http_confhaven_module);

    key.len = 0;

    if (rt->op == &ngx_http_confhaven_op_organizer_import) {
        /* the organizer's key, from a header only (as rest_organizer.c) */
        if (ngx_http_confhaven_op_header_key(&r->headers_in.headers,
                                             r->headers_in.authorization,
                                             &key)
            != NGX_OK)
        {
            if (ngx_http_discard_request_body(r) != NGX_OK) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            ngx_str_set(&msg, "an organizer API key is required");
            ngx_str_set(&hint, "send \"X-API-Key: chk_...\" or "
                        "\"Authorization: Bearer chk_...\"; the key is "
                        "never accepted in the URL");

            return ngx_http_confhaven_rest_unauthorized(r,
                       NGX_HTTP_CONFHAVEN_REALM_ORGANIZER, &msg, &hint);
        }

    } else if (chlcf->admin_key.len == 0) {
        if (ngx_http_discard_request_body(r) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_confhaven_send_errorf(r, NGX_HTTP_FORBIDDEN,
                   "forbidden",
                   "the operator must set confhaven_admin_key_file "
                   "in this location",
                   "imports are disabled here");

    } else if (!ngx_http_confhaven_rest_authorized(r, &chlcf->admin_key)) {
        if (ngx_http_discard_request_body(r) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_str_set(&msg, "a valid admin key is required");
        ngx_str_set(&hint, "send \"Authorization: Bearer <admin key>\" or "
                    "\"X-API-Key: <admin key>\"");

        return ngx_http_confhaven_rest_unauthorized(r,
                   "Bearer realm=\"confhaven-admin\"", &msg, &hint);
    }

    if (r->headers_in.content_type) {
        type = &r->headers_in.content_type->value;

        if (!((type->len >= 16
               && ngx_strncasecmp(type->data, (u_char *) "application/json",
                                  16) == 0)
              || (type->len >= 15
                  && ngx_strncasecmp(type->data,
                                     (u_char *) "application/xml", 15) == 0)
              || (type->len >= 8
                  && ngx_strncasecmp(type->data, (u_char *) "text/xml", 8)
                     == 0)
              || (type->len >= 24
                  && ngx_strncasecmp(type->data,
                                     (u_char *) "application/octet-stream",
                                     24) == 0)))
        {
            if (ngx_http_discard_request_body(r) != NGX_OK) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            return ngx_http_confhaven_send_errorf(r,
                       NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
                       "unsupported_media_type",
                       "send the schedule file as is, e.g. curl "
                       "--data-binary @schedule.json "
                       "-H 'Content-Type: application/json'",
                       "content type \"%V\" is not accepted: use "
                       "application/json or application/xml", type);
        }
    }

    if (r->headers_in.content_length_n > (off_t) chlcf->import_max_size) {
        if (ngx_http_discard_request_body(r) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        r->keepalive = 0;

        return ngx_http_confhaven_send_errorf(r,
                   NGX_HTTP_REQUEST_ENTITY_TOO_LARGE, "too_large",
                   "the operator can raise confhaven_import_max_size",
                   "the schedule is %O bytes; at most %uz are accepted",
                   r->headers_in.content_length_n, chlcf->import_max_size);
    }

    ctx->kind = rt->kind;

    rc = ngx_http_confhaven_rest_call(r, ctx, rt->op);
    if (rc != NGX_OK) {
        return rc;
    }

    /* the organizer import's key: its last parameter, hashed by op_set */
    if (key.len
        && ngx_http_confhaven_op_set(ctx->call, rt->op->nparams - 1, 1,
                                     key.data, key.len, NULL, 0)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* a large schedule takes longer than a search may */
    ctx->env.timeout = chlcf->import_timeout;

    return ngx_http_confhaven_rest_read(r, rt, ctx, tail,
                                        ngx_http_confhaven_rest_body_handler);
}


/* a route with a body: its path and arguments checked, then the body read */

static ngx_int_t
ngx_http_confhaven_rest_read(ngx_http_request_t *r,
    ngx_http_confhaven_route_t *rt, ngx_http_confhaven_ctx_t *ctx,
    ngx_str_t *tail, ngx_http_client_body_handler_pt handler)
{
    ngx_int_t  rc;

    if (tail) {
        rc = ngx_http_confhaven_rest_check_tail(r, rt, tail);
        if (rc != NGX_OK) {
            return rc == NGX_ABORT ? ctx->rc : rc;
        }
    }

    rc = ngx_http_confhaven_rest_args(r, rt, ctx);
    if (rc != NGX_OK) {
        return rc == NGX_ABORT ? ctx->rc : rc;
    }

    r->request_body_in_single_buf = 1;

    rc = ngx_http_read_client_request_body(r, handler);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


/* the admin key (Bearer or X-API-Key): imports, and the metrics */

ngx_int_t
ngx_http_confhaven_rest_authorized(ngx_http_request_t *r, ngx_str_t *key)
{
    /* the same reading of the key as every other route's (op.c) */

    return ngx_http_confhaven_op_admin_key(&r->headers_in.headers,
                                           r->headers_in.authorization, key);
}


/*
 * A body handler's end: the body read becomes the operation's parameter i
 * and the operation starts; the reference taken by reading the body is
 * dropped whatever happens.
 */

static void
ngx_http_confhaven_rest_body_start(ngx_http_request_t *r,
    ngx_http_confhaven_ctx_t *ctx, ngx_uint_t i, ngx_str_t *body)
{
    ngx_int_t  rc;

    if (ngx_http_confhaven_op_set(ctx->call, i, 1, body->data, body->len,
                                  NULL, 0)
        != NGX_OK)
    {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    rc = ngx_http_confhaven_rest_start(r, ctx);

    ngx_http_finalize_request(r, rc == NGX_DONE ? NGX_DONE : rc);
}


static void
ngx_http_confhaven_rest_body_handler(ngx_http_request_t *r)
{
    ngx_int_t                       rc;
    ngx_str_t                       body;
    ngx_uint_t                      i;
    ngx_http_confhaven_ctx_t       *ctx;

    ctx = ngx_http_confhaven_get_ctx(r);

    ngx_str_null(&body);

    rc = ngx_http_confhaven_rest_body(r, &body);
    if (rc != NGX_OK) {
        ngx_http_finalize_request(r, rc == NGX_ABORT ? ctx->rc : rc);
        return;
    }

    /* the schedule: the operation's body parameter */
    for (i = 0; i + 1 < ctx->call->op->nparams; i++) {
        if (ctx->call->op->params[i].in == NGX_HTTP_CONFHAVEN_OP_IN_BODY) {
            break;
        }
    }

    ngx_http_confhaven_rest_body_start(r, ctx, i, &body);
}


static ngx_int_t
ngx_http_confhaven_rest_body(ngx_http_request_t *r, ngx_str_t *body)
{
    ssize_t                         bad;
    ngx_int_t                       rc;
    ngx_http_confhaven_loc_conf_t  *chlcf;

    chlcf = ngx_http_get_module_loc_conf(r, ngx_http_confhaven_module);

    rc = ngx_http_confhaven_request_body(r, body);
    if (rc != NGX_OK) {
        return rc;
    }

    if (body->len > chlcf->import_max_size) {
        r->keepalive = 0;
        return ngx_http_confhaven_reject(r,
                   NGX_HTTP_REQUEST_ENTITY_TOO_LARGE, "too_large",
                   "the operator can raise confhaven_import_max_size",
                   "the schedule is %uz bytes; at most %uz are accepted",
                   body->len, chlcf->import_max_size);
    }

    if (body->len == 0) {
        return ngx_http_confhaven_reject(r, NGX_HTTP_BAD_REQUEST,
                   "empty_body",
                   "POST the schedule file (Sessionize JSON, pretalx JSON "
                   "or frab XML) as the request body",
                   "the request body is empty");
    }

    bad = ngx_http_confhaven_json_utf8_invalid(body->data, body->len, 1);
    if (bad >= 0) {
        return ngx_http_confhaven_reject(r, NGX_HTTP_BAD_REQUEST,
                   "invalid_encoding",
                   "schedules must be UTF-8 encoded",
                   "the schedule is not valid UTF-8 text "
                   "(bad byte at offset %z)", bad);
    }

    return NGX_OK;
}


/* the operation starts; ngx_http_confhaven_rest_respond() answers */

static ngx_int_t
ngx_http_confhaven_rest_start(ngx_http_request_t *r,
    ngx_http_confhaven_ctx_t *ctx)
{
    ngx_http_confhaven_request_op_t  *ro;

    ro = ngx_pcalloc(r->pool, sizeof(ngx_http_confhaven_request_op_t));
    if (ro == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ro->respond = ngx_http_confhaven_rest_respond;
    ro->data = ctx;

    ctx->db_used = 1;

    return ngx_http_confhaven_request_start(r, ro, ctx->call);
}


static ngx_int_t
ngx_http_confhaven_rest_respond(ngx_http_request_t *r, void *data)
{
    ngx_http_confhaven_ctx_t      *ctx = data;
    ngx_http_confhaven_fetch_t    *f;
    ngx_http_confhaven_op_call_t  *call;

    call = ctx->call;
    f = &call->fetch;

    ctx->db_time = f->elapsed;
    ctx->db_used = f->db_used;
    ctx->cache_status = f->cache_status;

    if (ctx->kind == NGX_HTTP_CONFHAVEN_K_HEALTH) {
        return ngx_http_confhaven_rest_health(r, f);
    }

    if (call->error.kind == NGX_HTTP_CONFHAVEN_OP_E_NOT_FOUND
        && f->status == NGX_HTTP_CONFHAVEN_PG_OK)
    {
        return ngx_http_confhaven_send_errorf(r, NGX_HTTP_NOT_FOUND,
                                              "not_found", NULL,
                                              "nothing found at %V",
                                              &r->uri);
    }

    if (call->error.kind != NGX_HTTP_CONFHAVEN_OP_OK) {
        return ngx_http_confhaven_rest_db_error(r, call);
    }

    ctx->result_count = f->count;

    ngx_http_confhaven_rest_event(r, ctx);

    if (ctx->kind == NGX_HTTP_CONFHAVEN_K_ICS
        || ctx->kind == NGX_HTTP_CONFHAVEN_K_AGENDA)
    {
        return ngx_http_confhaven_rest_calendar_done(r, ctx);
    }

    return ngx_http_confhaven_send_json(r, NGX_HTTP_OK, &f->value);
}


static ngx_int_t
ngx_http_confhaven_rest_health(ngx_http_request_t *r,
    ngx_http_confhaven_fetch_t *op)
{
    json_t                          *root, *db, *info, *redis;
    ngx_str_t                        body, id;
    json_error_t                     err;
    ngx_http_confhaven_ctx_t        *ctx;

    root = json_object();
    db = json_object();
    redis = json_object();

    if (root == NULL || db == NULL || redis == NULL) {
        json_decref(root);
        json_decref(db);
        json_decref(redis);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx = ngx_http_confhaven_get_ctx(r);

    /* the cache is optional: its state never fails the health check */
    json_object_set_new(redis, "status",
                        json_string(ngx_http_confhaven_op_cache_state(
                                                             &ctx->env)));

    if (op->status == NGX_HTTP_CONFHAVEN_PG_OK && op->value.len) {
        info = json_loadb((char *) op->value.data, op->value.len, 0, &err);

        json_object_set_new(db, "status", json_string("ok"));
        json_object_set_new(db, "latency_ms", json_integer(op->elapsed));

        if (json_is_object(info)) {
            json_object_update(db, info);
        }

        json_decref(info);

        json_object_set_new(root, "status", json_string("ok"));
        json_object_set_new(root, "database", db);
        json_object_set_new(root, "redis", redis);
        json_object_set_new(root, "events",
                            ngx_http_confhaven_events_health());
        json_object_set_new(root, "tracing",
                            ngx_http_confhaven_trace_health());

        if (ngx_http_confhaven_json_dump(r, root, &body) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_confhaven_send_json(r, NGX_HTTP_OK, &body);
    }

    /* libpq's text (socket, host, port, user) is for the log only */

    ngx_http_confhaven_json_request_id(r, &id);

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "confhaven pg: health check failed (request %V): %V",
                  &id, &op->message);

    json_object_set_new(db, "status", json_string("unavailable"));
    json_object_set_new(db, "message", json_string("database unavailable"));
    json_object_set_new(root, "request_id",
                        json_stringn_nocheck((char *) id.data, id.len));
    json_object_set_new(root, "status", json_string("unavailable"));
    json_object_set_new(root, "database", db);
    json_object_set_new(root, "redis", redis);
    json_object_set_new(root, "events", ngx_http_confhaven_events_health());
    json_object_set_new(root, "tracing", ngx_http_confhaven_trace_health());

    if (ngx_http_confhaven_json_dump(r, root, &body) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_confhaven_send_json(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                        &body);
}


/*
 * A search or a session view, for the organizers' analytics: copied into
 * the worker's event buffer (ngx_http_confhaven_events.c), cache hits
 * included; nothing waits for the database.
 */

static void
ngx_http_confhaven_rest_event(ngx_http_request_t *r,
    ngx_http_confhaven_ctx_t *ctx)
{
    ngx_time_t                  *tp;
    ngx_msec_int_t               ms;
    ngx_http_confhaven_event_t   ev;

    ngx_memzero(&ev, sizeof(ngx_http_confhaven_event_t));

    ev.kind = ngx_http_confhaven_events_kind(ctx->call->op);
    if (ev.kind == NGX_HTTP_CONFHAVEN_EVENT_NONE) {
        return;
    }

    tp = ngx_timeofday();
    ms = (ngx_msec_int_t) ((tp->sec - r->start_sec) * 1000
                           + (tp->msec - r->start_msec));

    ev.wire = "rest";
    ev.call = ctx->call;
    ev.answer = ctx->call->fetch.value;
    ev.count = ctx->call->fetch.count;
    ev.cache_hit = (ctx->cache_status == NGX_HTTP_CONFHAVEN_CACHE_HIT);
    ev.latency = ngx_max(ms, 0);

    if (r->headers_in.user_agent) {
        ev.client = r->headers_in.user_agent->value;
    }

    ngx_http_confhaven_events_record(&ev);
}


/* an operation's failure, as the one SQLSTATE map (ops) classified it */

static ngx_int_t
ngx_http_confhaven_rest_db_error(ngx_http_request_t *r,
    ngx_http_confhaven_op_call_t *call)
{
    ngx_str_t                       id;
    ngx_table_elt_t                *h;
    ngx_http_confhaven_fetch_t     *f;
    ngx_http_confhaven_op_error_t  *e;

    f = &call->fetch;
    e = &call->error;

    switch (e->kind) {

    case NGX_HTTP_CONFHAVEN_OP_E_INPUT:
    case NGX_HTTP_CONFHAVEN_OP_E_NOT_FOUND:
    case NGX_HTTP_CONFHAVEN_OP_E_INVALID:
        /* our functions' own words, written for the caller */
        return ngx_http_confhaven_send_error(r, e->status, e->code,
                                             &f->message, &f->hint);

    case NGX_HTTP_CONFHAVEN_OP_E_AUTH:
        /* the organizer import's key */
        return ngx_http_confhaven_rest_unauthorized(r,
                   NGX_HTTP_CONFHAVEN_REALM_ORGANIZER, &f->message,
                   &f->hint);

    case NGX_HTTP_CONFHAVEN_OP_E_TIER:
        return ngx_http_confhaven_send_tier_error(r, &f->message, &f->hint,
                                                  &e->tier,
                                                  &e->required_tier);

    case NGX_HTTP_CONFHAVEN_OP_E_TIMEOUT:
        if (f->status == NGX_HTTP_CONFHAVEN_PG_TIMEOUT) {
            return ngx_http_confhaven_send_errorf(r, e->status, e->code,
                       NULL, "the database did not answer in time");
        }

        return ngx_http_confhaven_send_errorf(r, e->status, e->code,
                   "try again, or narrow the request",
                   "the database did not answer within the "
                   "statement timeout");

    case NGX_HTTP_CONFHAVEN_OP_E_SCHEMA:
    case NGX_HTTP_CONFHAVEN_OP_E_INTERNAL:
        ngx_http_confhaven_json_request_id(r, &id);

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "confhaven pg: query failed (request %V): %V %V",
                      &id, &f->sqlstate, &f->message);

        if (e->kind == NGX_HTTP_CONFHAVEN_OP_E_SCHEMA) {
            return ngx_http_confhaven_send_errorf(r, e->status, e->code,
                       "the operator must apply the migrations in sql/ "
                       "(ci/migrate)",
                       "the database has no ConferenceHaven schema "
                       "(request id %V)", &id);
        }

        return ngx_http_confhaven_send_errorf(r, e->status, e->code,
                   "retry later; if it persists, quote the request id to "
                   "the operator",
                   "the database could not answer (SQLSTATE %V, "
                   "request id %V)", &f->sqlstate, &id);

    case NGX_HTTP_CONFHAVEN_OP_E_LIMIT:
    case NGX_HTTP_CONFHAVEN_OP_E_UPSTREAM:
        /* too many invites, or Graph failed: retryable when it says so */
        if (e->retry_after) {
            h = ngx_list_push(&r->headers_out.headers);
            if (h == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            h->value.data = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
            if (h->value.data == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            h->hash = 1;
            ngx_str_set(&h->key, "Retry-After");
            h->value.len = ngx_sprintf(h->value.data, "%ui", e->retry_after)
                           - h->value.data;
        }

        return ngx_http_confhaven_send_error(r, e->status, e->code,
                                             &f->message, &f->hint);

    default: /* OP_E_BUSY, OP_E_DOWN */
        break;
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Retry-After");
    ngx_str_set(&h->value, "1");

    /* libpq's text stays in the log (finding 6 of issue 7) */

    return ngx_http_confhaven_send_db_unavailable(r, e->status, e->code,
               e->kind == NGX_HTTP_CONFHAVEN_OP_E_BUSY
               ? "database busy" : "database unavailable",
               &f->message);
}


/*
 * POST /api/sessions/{id}/invite with {"user_email": "..."}: the operation
 * of the MCP tool send_calendar_invite.  The body is small JSON: at most
 * 4k, one string member.
 */

static ngx_int_t
ngx_http_confhaven_rest_invite(ngx_http_request_t *r,
    ngx_http_confhaven_route_t *rt, ngx_str_t *tail)
{
    ngx_int_t                       rc;
    ngx_http_confhaven_ctx_t       *ctx;
    ngx_http_confhaven_loc_conf_t  *chlcf;

    ctx = ngx_http_confhaven_get_ctx(r);

    if (ngx_http_confhaven_request_body_head(r,
                                  NGX_HTTP_CONFHAVEN_INVITE_MAX_BODY,
                                  "{\"user_email\": \"ada@example.org\"}",
                                  "send only {\"user_email\": \"...\"}", &rc)
        != NGX_OK)
    {
        return rc;
    }

    ctx->kind = rt->kind;

    rc = ngx_http_confhaven_rest_call(r, ctx, rt->op);
    if (rc != NGX_OK) {
        return rc;
    }

    chlcf = ngx_http_get_module_loc_conf(r, ngx_http_confhaven_module);

    ngx_http_confhaven_tools_origin(r, &chlcf->mcp.origin, ctx->call);

    return ngx_http_confhaven_rest_read(r, rt, ctx, tail,
                                        ngx_http_confhaven_rest_invite_body);
}


static void
ngx_http_confhaven_rest_invite_body(ngx_http_request_t *r)
{
    ngx_int_t                  rc;
    ngx_str_t                  body, email;
    ngx_http_confhaven_ctx_t  *ctx;

    ctx = ngx_http_confhaven_get_ctx(r);

    rc = ngx_http_confhaven_request_body(r, &body);
    if (rc != NGX_OK) {
        ngx_http_finalize_request(r, rc);
        return;
    }

    if (ngx_http_confhaven_request_member(r, &body,
                                  NGX_HTTP_CONFHAVEN_INVITE_MAX_BODY, 0,
                                  "user_email",
                                  "{\"user_email\": \"ada@example.org\"}",
                                  &email, &rc)
        != NGX_OK)
    {
        ngx_http_finalize_request(r, rc);
        return;
    }

    if (email.data) {
        rc = ngx_http_confhaven_rest_set(r, ctx, 1, &email);
        if (rc != NGX_OK) {
            ngx_http_finalize_request(r, rc == NGX_ABORT ? ctx->rc : rc);
            return;
        }
    }

    rc = ngx_http_confhaven_rest_start(r, ctx);

    /* drop the reference taken by reading the body */
    ngx_http_finalize_request(r, rc == NGX_DONE ? NGX_DONE : rc);
}


/*
 * The content handler of a named location that error_page points to:
 * nginx's own errors (400, 413, 414, 429...) as JSON.
 */

ngx_int_t
ngx_http_confhaven_rest_error_handler(ngx_http_request_t *r)
{
    ngx_uint_t   status;
    const char  *code, *msg;

    (void) ngx_http_discard_request_body(r);

    status = r->err_status ? r->err_status : NGX_HTTP_NOT_FOUND;

    ngx_http_confhaven_send_status_text(status, &code, &msg);

    return ngx_http_confhaven_send_errorf(r, status, code, NULL, "%s", msg);
}


/*
 * Calendars and agendas (ops/ngx_http_confhaven_op_calendar.c).  POST
 * /api/agendas and PUT /api/agendas/{token} read a small JSON body
 * (at most NGX_HTTP_CONFHAVEN_OP_AGENDA_MAX_BODY bytes) that the database
 * checks; the token in the path is the only credential.
 */

static ngx_int_t
ngx_http_confhaven_rest_agenda(ngx_http_request_t *r,
    ngx_http_confhaven_route_t *rt, ngx_str_t *tail)
{
    ngx_int_t                  rc;
    ngx_http_confhaven_ctx_t  *ctx;

    ctx = ngx_http_confhaven_get_ctx(r);

    if (ngx_http_confhaven_request_body_head(r,
                                  NGX_HTTP_CONFHAVEN_OP_AGENDA_MAX_BODY,
                                  "{\"session_ids\": [42, 43]}",
                                  "an agenda holds at most 200 session ids",
                                  &rc)
        != NGX_OK)
    {
        return rc;
    }

    rc = ngx_http_confhaven_rest_call(r, ctx, rt->op);
    if (rc != NGX_OK) {
        return rc;
    }

    ctx->kind = rt->kind;

    /* POST /api/agendas has no tail to check */
    return ngx_http_confhaven_rest_read(r, rt, ctx, tail->len ? tail : NULL,
                                        ngx_http_confhaven_rest_agenda_body);
}


static void
ngx_http_confhaven_rest_agenda_body(ngx_http_request_t *r)
{
    ssize_t                    bad;
    ngx_int_t                  rc;
    ngx_str_t                  body;
    ngx_http_confhaven_ctx_t  *ctx;

    ctx = ngx_http_confhaven_get_ctx(r);

    rc = ngx_http_confhaven_request_body(r, &body);
    if (rc != NGX_OK) {
        ngx_http_finalize_request(r, rc);
        return;
    }

    if (body.len > NGX_HTTP_CONFHAVEN_OP_AGENDA_MAX_BODY) {
        /* chunked: no length to refuse it by before */
        r->keepalive = 0;
        (void) ngx_http_confhaven_reject(r,
                 NGX_HTTP_REQUEST_ENTITY_TOO_LARGE, "too_large",
                 "an agenda holds at most 200 session ids",
                 "the request body is %uz bytes; at most %uz are accepted",
                 body.len, (size_t) NGX_HTTP_CONFHAVEN_OP_AGENDA_MAX_BODY);
        ngx_http_finalize_request(r, ctx->rc);
        return;
    }

    if (body.len == 0) {
        (void) ngx_http_confhaven_reject(r, NGX_HTTP_BAD_REQUEST,
                 "empty_body",
                 "send {\"session_ids\": [42, 43]} as the request body",
                 "the request body is empty");
        ngx_http_finalize_request(r, ctx->rc);
        return;
    }

    bad = ngx_http_confhaven_json_utf8_invalid(body.data, body.len, 1);
    if (bad >= 0) {
        (void) ngx_http_confhaven_reject(r, NGX_HTTP_BAD_REQUEST,
                 "invalid_encoding", "send UTF-8 encoded JSON",
                 "the request body is not valid UTF-8 text "
                 "(bad byte at offset %z)", bad);
        ngx_http_finalize_request(r, ctx->rc);
        return;
    }

    /* the body: the operation's last parameter */
    ngx_http_confhaven_rest_body_start(r, ctx, ctx->call->op->nparams - 1,
                                       &body);
}


/* a calendar's second parameter: our own scheme://host */

static ngx_int_t
ngx_http_confhaven_rest_base(ngx_http_request_t *r,
    ngx_http_confhaven_ctx_t *ctx)
{
    ngx_str_t                       base;
    ngx_http_confhaven_loc_conf_t  *chlcf;
    u_char                          err[NGX_HTTP_CONFHAVEN_OP_ERROR_LEN];

    chlcf = ngx_http_get_module_loc_conf(r, ngx_http_confhaven_module);

    ngx_http_confhaven_tools_public_origin(r, &chlcf->mcp.origin, &base);

    if (base.len == 0) {
        return NGX_OK;
    }

    /* a refused value (it cannot be: checked above) is left out */
    return ngx_http_confhaven_op_set(ctx->call, 1, 0, base.data, base.len,
                                     err, sizeof(err))
           == NGX_ERROR ? NGX_ERROR : NGX_OK;
}


static ngx_int_t
ngx_http_confhaven_rest_calendar_done(ngx_http_request_t *r,
    ngx_http_confhaven_ctx_t *ctx)
{
    ngx_int_t                    rc;
    ngx_http_confhaven_fetch_t  *f;

    f = &ctx->call->fetch;

    if (ctx->kind == NGX_HTTP_CONFHAVEN_K_ICS) {
        return ngx_http_confhaven_send_calendar(r, &f->value);
    }

    if (r->method == NGX_HTTP_POST) {
        return ngx_http_confhaven_send_json(r, NGX_HTTP_CREATED, &f->value);
    }

    if (r->method == NGX_HTTP_DELETE) {
        r->headers_out.status = NGX_HTTP_NO_CONTENT;
        r->headers_out.content_length_n = 0;
        r->header_only = 1;

        rc = ngx_http_send_header(r);

        return (rc == NGX_ERROR || rc > NGX_OK) ? rc : NGX_OK;
    }

    return ngx_http_confhaven_send_json(r, NGX_HTTP_OK, &f->value);
}


/* 401 with its challenge: a missing or refused admin or organizer key */

static ngx_int_t
ngx_http_confhaven_rest_unauthorized(ngx_http_request_t *r,
    const char *challenge, ngx_str_t *message, ngx_str_t *hint)
{
    ngx_str_t  value;

    value.data = (u_char *) challenge;
    value.len = ngx_strlen(challenge);

    return ngx_http_confhaven_send_unauthorized(r, &value, message, hint);
}
