
/*
 * Copyright (C) ConferenceHaven
 */


/*
 * The organizers' REST endpoints (ops/ngx_http_confhaven_op_organizer.c):
 *
 *   POST   /api/admin/organizers?name=&tier=            admin key
 *   POST   /api/admin/organizers/{id}/conferences/{slug}
 *   POST   /api/admin/organizers/{id}/keys?label=
 *   DELETE /api/admin/organizers/{id}/keys/{prefix}
 *   POST   /api/admin/evaluations/{id}/judge?score=&note=
 *   POST   /api/admin/organizers/{id}/tier?tier=
 *   GET    /api/organizer                                organizer key
 *   POST   /api/organizer/keys/rotate?label=
 *   GET    /api/organizer/analytics?conference=&days=[&format=csv]
 *   GET    /api/organizer/analytics.csv?conference=&days=
 *   GET    /api/organizer/evaluations?conference=&status=&limit=
 *   POST   /api/organizer/evaluations/{id}?status=&label=
 *
 * POST /api/organizer/conferences/{slug}/import is the admin import's
 * route in rest.c, with the organizer's key.
 *
 * An organizer's key comes only in a header (X-API-Key or Authorization:
 * Bearer), never in the URL: URLs end up in access logs.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_confhaven_module.h"
#include "ngx_http_confhaven_json.h"
#include "ngx_http_confhaven_send.h"
#include "ngx_http_confhaven_op.h"
#include "ngx_http_confhaven_rest.h"
#include "ngx_http_confhaven_request.h"


#define NGX_HTTP_CONFHAVEN_ORG_ADMIN   1
#define NGX_HTTP_CONFHAVEN_ORG_KEY     2

#define NGX_HTTP_CONFHAVEN_ORG_SEGS    6


typedef struct {
    ngx_uint_t                     method;
    const char                    *path;       /* "*": a path value */
    ngx_http_confhaven_op_t       *op;
    ngx_uint_t                     auth;
    ngx_uint_t                     created;    /* 201 */
} ngx_http_confhaven_org_route_t;


typedef struct {
    ngx_http_confhaven_op_call_t      call;
    ngx_http_confhaven_op_env_t       env;
    ngx_http_confhaven_request_op_t   ro;
    ngx_uint_t                        csv;
    ngx_uint_t                        created;
    ngx_int_t                         rc;
} ngx_http_confhaven_org_ctx_t;


static ngx_int_t ngx_http_confhaven_org_match(
    ngx_http_confhaven_org_route_t *rt, ngx_str_t *segs, ngx_uint_t n,
    ngx_str_t *values, ngx_uint_t *nvalues);
static ngx_int_t ngx_http_confhaven_org_admin(ngx_http_request_t *r,
    ngx_http_confhaven_org_ctx_t *oc);
static ngx_int_t ngx_http_confhaven_org_unauthorized(ngx_http_request_t *r,
    const char *realm, ngx_str_t *message, ngx_str_t *hint);
static ngx_int_t ngx_http_confhaven_org_set(ngx_http_request_t *r,
    ngx_http_confhaven_org_ctx_t *oc, ngx_uint_t i, ngx_str_t *v);
static ngx_int_t ngx_http_confhaven_org_args(ngx_http_request_t *r,
    ngx_http_confhaven_org_ctx_t *oc);
static ngx_int_t ngx_http_confhaven_org_respond(ngx_http_request_t *r,
    void *data);
static ngx_int_t ngx_http_confhaven_org_send(ngx_http_request_t *r,
    ngx_uint_t status, ngx_str_t *type, ngx_str_t *body);


static ngx_http_confhaven_org_route_t  ngx_http_confhaven_org_routes[] = {

    { NGX_HTTP_POST, "/api/admin/organizers",
      &ngx_http_confhaven_op_organizer_create,
      NGX_HTTP_CONFHAVEN_ORG_ADMIN, 1 },

    { NGX_HTTP_POST, "/api/admin/organizers/*/conferences/*",
      &ngx_http_confhaven_op_organizer_link,
      NGX_HTTP_CONFHAVEN_ORG_ADMIN, 0 },

    { NGX_HTTP_POST, "/api/admin/organizers/*/keys",
      &ngx_http_confhaven_op_key_issue,
      NGX_HTTP_CONFHAVEN_ORG_ADMIN, 1 },

    { NGX_HTTP_DELETE, "/api/admin/organizers/*/keys/*",
      &ngx_http_confhaven_op_key_revoke,
      NGX_HTTP_CONFHAVEN_ORG_ADMIN, 0 },

    { NGX_HTTP_POST, "/api/admin/evaluations/*/judge",
      &ngx_http_confhaven_op_evaluation_judge,
      NGX_HTTP_CONFHAVEN_ORG_ADMIN, 0 },

    { NGX_HTTP_GET|NGX_HTTP_HEAD, "/api/organizer",
      &ngx_http_confhaven_op_organizer_whoami,
      NGX_HTTP_CONFHAVEN_ORG_KEY, 0 },

    { NGX_HTTP_POST, "/api/organizer/keys/rotate",
      &ngx_http_confhaven_op_key_rotate,
      NGX_HTTP_CONFHAVEN_ORG_KEY, 1 },

    { NGX_HTTP_GET|NGX_HTTP_HEAD, "/api/organizer/analytics",
      &ngx_http_confhaven_op_organizer_analytics,
      NGX_HTTP_CONFHAVEN_ORG_KEY, 0 },

    { NGX_HTTP_GET|NGX_HTTP_HEAD, "/api/organizer/analytics.csv",
      &ngx_http_confhaven_op_organizer_analytics_csv,
      NGX_HTTP_CONFHAVEN_ORG_KEY, 0 },

    { NGX_HTTP_GET|NGX_HTTP_HEAD, "/api/organizer/evaluations",
      &ngx_http_confhaven_op_evaluations,
      NGX_HTTP_CONFHAVEN_ORG_KEY, 0 },

    { NGX_HTTP_POST, "/api/organizer/evaluations/*",
      &ngx_http_confhaven_op_evaluation_review,
      NGX_HTTP_CONFHAVEN_ORG_KEY, 0 },

    { NGX_HTTP_POST, "/api/admin/organizers/*/tier",
      &ngx_http_confhaven_op_organizer_tier,
      NGX_HTTP_CONFHAVEN_ORG_ADMIN, 0 },

    { 0, NULL, NULL, 0, 0 }
};


/* NGX_DECLINED: not an organizer path, the main route table goes on */

ngx_int_t
ngx_http_confhaven_rest_organizer(ngx_http_request_t *r)
{
    u_char                          *p, *last, *s;
    ngx_int_t                        rc;
    ngx_str_t                        uri, segs[NGX_HTTP_CONFHAVEN_ORG_SEGS];
    ngx_str_t                        values[NGX_HTTP_CONFHAVEN_ORG_SEGS];
    ngx_str_t                        key, msg, hint;
    ngx_uint_t                       n, nv, i, k, known;
    ngx_http_confhaven_ctx_t        *ctx;
    ngx_http_confhaven_org_ctx_t    *oc;
    ngx_http_confhaven_org_route_t  *rt;
    ngx_http_confhaven_loc_conf_t   *chlcf;
    ngx_http_confhaven_main_conf_t  *chmcf;

    uri = r->uri;

    /* the organizer import: rest.c's import route */
    if (uri.len > 27
        && ngx_strncmp(uri.data, "/api/organizer/conferences/", 27) == 0)
    {
        return NGX_DECLINED;
    }

    if (!((uri.len >= 14
           && ngx_strncmp(uri.data, "/api/organizer", 14) == 0
           && (uri.len == 14 || uri.data[14] == '/' || uri.data[14] == '.'))
          || (uri.len >= 21
              && ngx_strncmp(uri.data, "/api/admin/organizers", 21) == 0)
          || (uri.len >= 22
              && ngx_strncmp(uri.data, "/api/admin/evaluations", 22) == 0)))
    {
        return NGX_DECLINED;
    }

    if (uri.len > 1 && uri.data[uri.len - 1] == '/') {
        uri.len--;
    }

    /* segments after the leading "/" */
    n = 0;
    p = uri.data + 1;
    last = uri.data + uri.len;

    while (p <= last && n < NGX_HTTP_CONFHAVEN_ORG_SEGS) {
        s = ngx_strlchr(p, last, '/');
        if (s == NULL) {
            s = last;
        }

        segs[n].data = p;
        segs[n].len = s - p;
        n++;
        p = s + 1;
    }

    if (p <= last) {
        n = 0;      /* too many segments: nothing matches */
    }

    known = 0;

    for (rt = ngx_http_confhaven_org_routes; rt->path; rt++) {
        if (ngx_http_confhaven_org_match(rt, segs, n, values, &nv) != NGX_OK)
        {
            continue;
        }

        known = 1;

        if (r->method & rt->method) {
            break;
        }
    }

    if (rt->path == NULL) {
        if (ngx_http_discard_request_body(r) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (known) {
            return ngx_http_confhaven_send_errorf(r, NGX_HTTP_NOT_ALLOWED,
                       "method_not_allowed", NULL,
                       "method %V is not allowed on %V", &r->method_name,
                       &r->uri);
        }

        return ngx_http_confhaven_send_errorf(r, NGX_HTTP_NOT_FOUND,
                   "not_found",
                   "organizer endpoints: GET /api/organizer, "
                   "GET /api/organizer/analytics?conference=..., "
                   "GET /api/organizer/evaluations?conference=..., "
                   "POST /api/organizer/keys/rotate",
                   "no endpoint %V %V", &r->method_name, &r->uri);
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    ctx = ngx_http_confhaven_get_ctx(r);
    chmcf = ngx_http_get_module_main_conf(r, ngx_http_confhaven_module);
    chlcf = ngx_http_get_module_loc_conf(r, ngx_http_confhaven_module);

    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_str_set(&ctx->route, "organizer");

    oc = ngx_pcalloc(r->pool, sizeof(ngx_http_confhaven_org_ctx_t));
    if (oc == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    oc->env.cache = chmcf->cache;
    oc->env.conf = &chlcf->cache;
    oc->env.trace = ctx->env.trace;     /* the request's span */
    oc->created = rt->created;
    oc->csv = (rt->op == &ngx_http_confhaven_op_organizer_analytics_csv);

    ngx_http_confhaven_op_init(&oc->call, rt->op, &oc->env, r->pool,
                               r->connection->log);

    /*
     * Helpers that answer the request themselves return NGX_ABORT; oc->rc
     * keeps what the output filter said.
     */

    if (rt->auth == NGX_HTTP_CONFHAVEN_ORG_ADMIN) {
        rc = ngx_http_confhaven_org_admin(r, oc);
        if (rc != NGX_OK) {
            return rc == NGX_ABORT ? oc->rc : rc;
        }
    }

    /* path values, in the order of the operation's path parameters */
    k = 0;

    for (i = 0; i < rt->op->nparams && k < nv; i++) {
        if (rt->op->params[i].in != NGX_HTTP_CONFHAVEN_OP_IN_PATH) {
            continue;
        }

        rc = ngx_http_confhaven_org_set(r, oc, i, &values[k++]);
        if (rc != NGX_OK) {
            return rc == NGX_ABORT ? oc->rc : rc;
        }
    }

    rc = ngx_http_confhaven_org_args(r, oc);
    if (rc != NGX_OK) {
        return rc == NGX_ABORT ? oc->rc : rc;
    }

    if (rt->auth == NGX_HTTP_CONFHAVEN_ORG_KEY) {
        if (ngx_http_confhaven_op_header_key(&r->headers_in.headers,
                                             r->headers_in.authorization,
                                             &key)
            != NGX_OK)
        {
            ngx_str_set(&msg, "an organizer API key is required");
            ngx_str_set(&hint, "send \"X-API-Key: chk_...\" or "
                        "\"Authorization: Bearer chk_...\"; the key is "
                        "never accepted in the URL");
            return ngx_http_confhaven_org_unauthorized(r,
                                                       "confhaven-organizer",
                                                       &msg, &hint);
        }

        /* the key is the organizer operations' first parameter */
        if (ngx_http_confhaven_op_set(&oc->call, 0, 1, key.data, key.len,
                                      NULL, 0)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    oc->ro.respond = ngx_http_confhaven_org_respond;
    oc->ro.data = oc;

    return ngx_http_confhaven_request_start(r, &oc->ro, &oc->call);
}


static ngx_int_t
ngx_http_confhaven_org_match(ngx_http_confhaven_org_route_t *rt,
    ngx_str_t *segs, ngx_uint_t n, ngx_str_t *values, ngx_uint_t *nvalues)
{
    size_t       len;
    ngx_uint_t   i;
    const char  *p, *e;

    p = rt->path + 1;
    i = 0;
    *nvalues = 0;

    for ( ;; ) {
        e = ngx_strchr(p, '/');
        len = e ? (size_t) (e - p) : ngx_strlen(p);

        if (i >= n) {
            return NGX_DECLINED;
        }

        if (len == 1 && *p == '*') {
            if (segs[i].len == 0) {
                return NGX_DECLINED;
            }

            values[(*nvalues)++] = segs[i];

        } else if (segs[i].len != len
                   || ngx_strncmp(segs[i].data, p, len) != 0)
        {
            return NGX_DECLINED;
        }

        i++;

        if (e == NULL) {
            break;
        }

        p = e + 1;
    }

    return i == n ? NGX_OK : NGX_DECLINED;
}


static ngx_int_t
ngx_http_confhaven_org_admin(ngx_http_request_t *r,
    ngx_http_confhaven_org_ctx_t *oc)
{
    ngx_str_t                       msg, hint;
    ngx_http_confhaven_loc_conf_t  *chlcf;

    chlcf = ngx_http_get_module_loc_conf(r, ngx_http_confhaven_module);

    if (chlcf->admin_key.len == 0) {
        oc->rc = ngx_http_confhaven_send_errorf(r, NGX_HTTP_FORBIDDEN,
                     "forbidden",
                     "the operator must set confhaven_admin_key_file "
                     "in this location",
                     "admin endpoints are disabled here");
        return NGX_ABORT;
    }

    if (ngx_http_confhaven_op_admin_key(&r->headers_in.headers,
                                        r->headers_in.authorization,
                                        &chlcf->admin_key))
    {
        return NGX_OK;
    }

    ngx_str_set(&msg, "a valid admin key is required");
    ngx_str_set(&hint, "send \"Authorization: Bearer <admin key>\" or "
                "\"X-API-Key: <admin key>\"");

    oc->rc = ngx_http_confhaven_org_unauthorized(r, "confhaven-admin", &msg,
                                                 &hint);
    return NGX_ABORT;
}


static ngx_int_t
ngx_http_confhaven_org_unauthorized(ngx_http_request_t *r, const char *realm,
    ngx_str_t *message, ngx_str_t *hint)
{
    u_char     *p;
    size_t      len;
    ngx_str_t   value;

    len = sizeof("Bearer realm=\"\", error=\"invalid_token\"") - 1
          + ngx_strlen(realm);

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    value.data = p;
    value.len = ngx_sprintf(p, "Bearer realm=\"%s\", "
                            "error=\"invalid_token\"", realm) - p;

    return ngx_http_confhaven_send_unauthorized(r, &value, message, hint);
}


static ngx_int_t
ngx_http_confhaven_org_set(ngx_http_request_t *r,
    ngx_http_confhaven_org_ctx_t *oc, ngx_uint_t i, ngx_str_t *v)
{
    ngx_int_t                       rc;
    ngx_str_t                       d;
    const char                     *name;
    ngx_http_confhaven_op_param_t  *prm;
    u_char                          err[NGX_HTTP_CONFHAVEN_OP_ERROR_LEN];

    prm = &oc->call.op->params[i];
    name = prm->rest_name ? prm->rest_name : prm->name;

    if (ngx_http_confhaven_json_utf8_invalid(v->data, v->len, 0) >= 0) {
        oc->rc = ngx_http_confhaven_send_errorf(r, NGX_HTTP_BAD_REQUEST,
                   "bad_parameter",
                   "percent-encode UTF-8 text; control characters are not "
                   "accepted",
                   "parameter \"%s\" is not valid UTF-8 text or contains a "
                   "control character", name);
        return NGX_ABORT;
    }

    d = *v;

    rc = ngx_http_confhaven_op_set(&oc->call, i, 1, d.data, d.len, err,
                                   sizeof(err));

    if (rc == NGX_DECLINED) {
        oc->rc = ngx_http_confhaven_send_errorf(r, NGX_HTTP_BAD_REQUEST,
                   "bad_parameter", prm->hint, "parameter %s", err);
        return NGX_ABORT;
    }

    return rc == NGX_OK ? NGX_OK : NGX_HTTP_INTERNAL_SERVER_ERROR;
}


/* the query string: the operation's query parameters, and format= */

static ngx_int_t
ngx_http_confhaven_org_args(ngx_http_request_t *r,
    ngx_http_confhaven_org_ctx_t *oc)
{
    ngx_int_t                           i, rc;
    ngx_str_t                           key, val;
    ngx_uint_t                          seen, format, path_csv;
    ngx_http_confhaven_request_args_t   args;

    seen = 0;
    format = 0;
    path_csv = oc->csv;     /* /api/organizer/analytics.csv */

    ngx_http_confhaven_request_args(r, &args);

    for ( ;; ) {
        rc = ngx_http_confhaven_request_arg(r, &args, &key, &val);
        if (rc != NGX_OK) {
            return rc == NGX_DONE ? NGX_OK : rc;
        }

        if (key.len == 6 && ngx_strncmp(key.data, "format", 6) == 0
            && (oc->call.op == &ngx_http_confhaven_op_organizer_analytics
                || oc->csv))
        {
            /* as every parameter: once (the last one used to win) */
            if (format++) {
                oc->rc = ngx_http_confhaven_send_errorf(r,
                           NGX_HTTP_BAD_REQUEST, "bad_parameter", NULL,
                           "parameter \"format\" is given more than once");
                return NGX_ABORT;
            }

            if (val.len == 3 && ngx_strncasecmp(val.data, (u_char *) "csv", 3)
                                == 0)
            {
                oc->csv = 1;
                oc->call.op = &ngx_http_confhaven_op_organizer_analytics_csv;
                continue;
            }

            /* the .csv path's answer is CSV, not the JSON asked for */
            if (val.len == 4 && !path_csv
                && ngx_strncasecmp(val.data, (u_char *) "json", 4) == 0)
            {
                continue;
            }

            if (path_csv) {
                oc->rc = ngx_http_confhaven_send_errorf(r,
                           NGX_HTTP_BAD_REQUEST, "bad_parameter",
                           "or GET /api/organizer/analytics?format=json",
                           "parameter \"format\" must be csv on %V",
                           &r->uri);
                return NGX_ABORT;
            }

            oc->rc = ngx_http_confhaven_send_errorf(r, NGX_HTTP_BAD_REQUEST,
                       "bad_parameter", "format is json (default) or csv",
                       "parameter \"format\" must be json or csv");
            return NGX_ABORT;
        }

        i = ngx_http_confhaven_request_param(oc->call.op, &key, &seen);

        if (i == NGX_ERROR) {
            oc->rc = ngx_http_confhaven_send_errorf(r, NGX_HTTP_BAD_REQUEST,
                       "bad_parameter",
                       (key.len == 7
                        && ngx_strncmp(key.data, "api_key", 7) == 0)
                       ? "send the key as an X-API-Key or Authorization: "
                         "Bearer header, never in the URL"
                       : NULL,
                       "unknown parameter \"%V\" for %V", &key, &r->uri);
            return NGX_ABORT;
        }

        if (i == NGX_DECLINED) {
            oc->rc = ngx_http_confhaven_send_errorf(r, NGX_HTTP_BAD_REQUEST,
                       "bad_parameter", NULL,
                       "parameter \"%V\" is given more than once", &key);
            return NGX_ABORT;
        }

        if (val.len == 0) {
            continue;
        }

        rc = ngx_http_confhaven_org_set(r, oc, i, &val);
        if (rc != NGX_OK) {
            return rc;
        }
    }
}


static ngx_int_t
ngx_http_confhaven_org_respond(ngx_http_request_t *r, void *data)
{
    ngx_http_confhaven_org_ctx_t   *oc = data;
    ngx_str_t                       id, type;
    ngx_table_elt_t                *h;
    ngx_http_confhaven_fetch_t     *f;
    ngx_http_confhaven_op_error_t  *e;

    f = &oc->call.fetch;
    e = &oc->call.error;

    switch (e->kind) {

    case NGX_HTTP_CONFHAVEN_OP_OK:
        if (oc->csv) {
            h = ngx_list_push(&r->headers_out.headers);
            if (h == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            h->hash = 1;
            ngx_str_set(&h->key, "Content-Disposition");
            ngx_str_set(&h->value,
                        "attachment; filename=\"analytics.csv\"");

            ngx_str_set(&type, "text/csv; charset=utf-8");

            return ngx_http_confhaven_org_send(r, NGX_HTTP_OK, &type,
                                               &f->value);
        }

        return ngx_http_confhaven_send_json(r, oc->created ? NGX_HTTP_CREATED
                                                           : NGX_HTTP_OK,
                                            &f->value);

    case NGX_HTTP_CONFHAVEN_OP_E_AUTH:
        return ngx_http_confhaven_org_unauthorized(r, "confhaven-organizer",
                                                   &f->message, &f->hint);

    case NGX_HTTP_CONFHAVEN_OP_E_TIER:
        return ngx_http_confhaven_send_tier_error(r, &f->message, &f->hint,
                                                  &e->tier,
                                                  &e->required_tier);

    case NGX_HTTP_CONFHAVEN_OP_E_INPUT:
    case NGX_HTTP_CONFHAVEN_OP_E_NOT_FOUND:
    case NGX_HTTP_CONFHAVEN_OP_E_INVALID:
        return ngx_http_confhaven_send_error(r, e->status, e->code,
                                             &f->message, &f->hint);

    case NGX_HTTP_CONFHAVEN_OP_E_TIMEOUT:
        return ngx_http_confhaven_send_errorf(r, e->status, e->code,
                   "try again, or ask for fewer days",
                   "the database did not answer in time");

    case NGX_HTTP_CONFHAVEN_OP_E_SCHEMA:
    case NGX_HTTP_CONFHAVEN_OP_E_INTERNAL:
        ngx_http_confhaven_json_request_id(r, &id);

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "confhaven pg: organizer query failed (request %V): "
                      "%V %V", &id, &f->sqlstate, &f->message);

        return ngx_http_confhaven_send_errorf(r, 503,
                   e->kind == NGX_HTTP_CONFHAVEN_OP_E_SCHEMA
                   ? "schema_missing" : "database_error",
                   "the operator must apply the migrations in sql/ "
                   "(ci/migrate); quote the request id",
                   "the database could not answer (request id %V)", &id);

    default:
        return ngx_http_confhaven_send_db_unavailable(r, e->status, e->code,
                   e->kind == NGX_HTTP_CONFHAVEN_OP_E_BUSY
                   ? "database busy" : "database unavailable",
                   &f->message);
    }
}


static ngx_int_t
ngx_http_confhaven_org_send(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *type, ngx_str_t *body)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    r->headers_out.status = status;
    r->headers_out.content_type = *type;
    r->headers_out.content_type_len = type->len;
    r->headers_out.content_length_n = body->len;

    if (r->method == NGX_HTTP_HEAD || body->len == 0) {
        r->header_only = (r->method == NGX_HTTP_HEAD);
        rc = ngx_http_send_header(r);

        if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
            return rc;
        }

        return ngx_http_send_special(r, NGX_HTTP_LAST);
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->pos = body->data;
    b->last = body->data + body->len;
    b->memory = 1;
    b->last_buf = (r == r->main);
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK) {
        return rc;
    }

    return ngx_http_output_filter(r, &out);
}
