
/*
 * Copyright (C) ConferenceHaven
 */


/*
 * The REST API: a route table (method + path -> SQL function), strict
 * query-string validation, and the mapping of database answers and
 * errors to HTTP statuses with JSON bodies.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_confhaven_module.h"
#include "ngx_http_confhaven_json.h"
#include "ngx_http_confhaven_rest.h"


#define NGX_HTTP_CONFHAVEN_P_STR    0
#define NGX_HTTP_CONFHAVEN_P_BOOL   1
#define NGX_HTTP_CONFHAVEN_P_LIMIT  2
#define NGX_HTTP_CONFHAVEN_P_FOLD   3   /* letter case means nothing */

#define NGX_HTTP_CONFHAVEN_TAIL_NONE    0   /* exact path */
#define NGX_HTTP_CONFHAVEN_TAIL_ID      1   /* prefix + {id} */
#define NGX_HTTP_CONFHAVEN_TAIL_SLUG    2   /* prefix + {slug} */
#define NGX_HTTP_CONFHAVEN_TAIL_IMPORT  3   /* prefix + {slug}/import */

#define NGX_HTTP_CONFHAVEN_K_HEALTH   1
#define NGX_HTTP_CONFHAVEN_K_QUERY    2
#define NGX_HTTP_CONFHAVEN_K_OPENAPI  3
#define NGX_HTTP_CONFHAVEN_K_IMPORT   4
#define NGX_HTTP_CONFHAVEN_K_SEARCH   5     /* a query with a short TTL */

#define NGX_HTTP_CONFHAVEN_MAX_VALUE  500


/*
 * Validation helpers answer the request themselves; NGX_ABORT tells the
 * caller so, and ctx->rc keeps what the output filter returned.
 */

#define ngx_http_confhaven_reject(r, ...)                                    \
    ngx_http_confhaven_rest_reject(r,                                        \
        ngx_http_discard_request_body(r),                                    \
        ngx_http_confhaven_send_errorf(r, __VA_ARGS__))


typedef struct {
    ngx_str_t                      name;
    ngx_uint_t                     type;
} ngx_http_confhaven_param_t;


typedef struct {
    ngx_str_t                      path;
    ngx_uint_t                     tail;
    ngx_uint_t                     methods;
    ngx_uint_t                     kind;
    ngx_str_t                      name;
    const char                    *sql;
    ngx_http_confhaven_param_t    *params;
    const char                    *allowed;     /* hint for bad names */
} ngx_http_confhaven_route_t;


static ngx_int_t ngx_http_confhaven_rest_query(ngx_http_request_t *r,
    ngx_http_confhaven_route_t *rt, ngx_str_t *tail);
static ngx_int_t ngx_http_confhaven_rest_args(ngx_http_request_t *r,
    ngx_http_confhaven_route_t *rt, ngx_http_confhaven_ctx_t *ctx);
static ngx_int_t ngx_http_confhaven_rest_check_value(ngx_http_request_t *r,
    ngx_http_confhaven_param_t *p, ngx_str_t *v, char **out);
static ngx_int_t ngx_http_confhaven_rest_check_tail(ngx_http_request_t *r,
    ngx_http_confhaven_route_t *rt, ngx_str_t *tail);
static ngx_int_t ngx_http_confhaven_rest_import(ngx_http_request_t *r,
    ngx_http_confhaven_route_t *rt, ngx_str_t *tail);
static ngx_int_t ngx_http_confhaven_rest_authorized(ngx_http_request_t *r,
    ngx_str_t *key);
static void ngx_http_confhaven_rest_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_confhaven_rest_body(ngx_http_request_t *r,
    ngx_str_t *body);
static ngx_int_t ngx_http_confhaven_rest_start(ngx_http_request_t *r,
    ngx_http_confhaven_ctx_t *ctx);
static void ngx_http_confhaven_rest_cleanup(void *data);
static void ngx_http_confhaven_rest_done(ngx_http_confhaven_pg_op_t *op);
static ngx_int_t ngx_http_confhaven_rest_respond(ngx_http_request_t *r,
    ngx_http_confhaven_ctx_t *ctx, ngx_http_confhaven_pg_op_t *op);
static ngx_int_t ngx_http_confhaven_rest_health(ngx_http_request_t *r,
    ngx_http_confhaven_pg_op_t *op);
static ngx_int_t ngx_http_confhaven_rest_db_error(ngx_http_request_t *r,
    ngx_uint_t status, ngx_str_t *sqlstate, ngx_str_t *message,
    ngx_str_t *hint);
static ngx_int_t ngx_http_confhaven_rest_cached(ngx_http_request_t *r,
    ngx_http_confhaven_route_t *rt, ngx_http_confhaven_ctx_t *ctx);
static ngx_int_t ngx_http_confhaven_rest_fetched(ngx_http_request_t *r,
    ngx_http_confhaven_fetch_t *f);
static void ngx_http_confhaven_rest_normalize(ngx_str_t *s);
static ngx_int_t ngx_http_confhaven_rest_invalidate(ngx_http_request_t *r,
    ngx_http_confhaven_ctx_t *ctx, ngx_http_confhaven_pg_op_t *op);
static void ngx_http_confhaven_rest_invalidated(
    ngx_http_confhaven_redis_op_t *rop, redisReply *reply);
static void ngx_http_confhaven_rest_invalidate_cleanup(void *data);
static ngx_int_t ngx_http_confhaven_rest_allow(ngx_http_request_t *r,
    ngx_uint_t methods);
static void ngx_http_confhaven_unescape(ngx_str_t *src, ngx_str_t *dst);
static ngx_int_t ngx_http_confhaven_rest_reject(ngx_http_request_t *r,
    ngx_int_t discarded, ngx_int_t rc);


static ngx_http_confhaven_param_t  ngx_http_confhaven_p_none[] = {
    { ngx_null_string, 0 }
};


static ngx_http_confhaven_param_t  ngx_http_confhaven_p_conferences[] = {
    { ngx_string("include_past"), NGX_HTTP_CONFHAVEN_P_BOOL },
    { ngx_null_string, 0 }
};


/*
 * Each value is put in its canonical form before it is used for both the
 * cache key and the query, so that whatever an answer quotes (the query
 * echo, an error message) is what the key says.  P_FOLD: slugs, enums
 * and hex cursors, which the database reads case-insensitively and
 * echoes in a canonical spelling: lower-cased.  Text echoed as given
 * (q, track, speaker, room, times) is keyed exactly: a variant in letter
 * case is another entry, never another caller's spelling.
 */

static ngx_http_confhaven_param_t  ngx_http_confhaven_p_search[] = {
    { ngx_string("q"), NGX_HTTP_CONFHAVEN_P_STR },
    { ngx_string("conference"), NGX_HTTP_CONFHAVEN_P_FOLD },
    { ngx_string("track"), NGX_HTTP_CONFHAVEN_P_STR },
    { ngx_string("level"), NGX_HTTP_CONFHAVEN_P_FOLD },
    { ngx_string("limit"), NGX_HTTP_CONFHAVEN_P_LIMIT },
    { ngx_string("include_past"), NGX_HTTP_CONFHAVEN_P_BOOL },
    /* checked by api_search() (005_filters.sql) */
    { ngx_string("speaker"), NGX_HTTP_CONFHAVEN_P_STR },
    { ngx_string("room"), NGX_HTTP_CONFHAVEN_P_STR },
    { ngx_string("day"), NGX_HTTP_CONFHAVEN_P_FOLD },
    { ngx_string("starts_after"), NGX_HTTP_CONFHAVEN_P_STR },
    { ngx_string("starts_before"), NGX_HTTP_CONFHAVEN_P_STR },
    { ngx_string("language"), NGX_HTTP_CONFHAVEN_P_FOLD },
    { ngx_string("offset"), NGX_HTTP_CONFHAVEN_P_STR },
    { ngx_string("cursor"), NGX_HTTP_CONFHAVEN_P_FOLD },
    { ngx_null_string, 0 }
};


static ngx_http_confhaven_param_t  ngx_http_confhaven_p_import[] = {
    { ngx_string("name"), NGX_HTTP_CONFHAVEN_P_STR },
    { ngx_string("timezone"), NGX_HTTP_CONFHAVEN_P_STR },
    { ngx_string("location"), NGX_HTTP_CONFHAVEN_P_STR },
    { ngx_string("website"), NGX_HTTP_CONFHAVEN_P_STR },
    { ngx_null_string, 0 }
};


static ngx_http_confhaven_route_t  ngx_http_confhaven_routes[] = {

    { ngx_string("/health"), NGX_HTTP_CONFHAVEN_TAIL_NONE,
      NGX_HTTP_GET|NGX_HTTP_HEAD, NGX_HTTP_CONFHAVEN_K_HEALTH,
      ngx_string("health"),
      "SELECT confhaven.api_health()::text",
      ngx_http_confhaven_p_none, "none" },

    { ngx_string("/api/conferences"), NGX_HTTP_CONFHAVEN_TAIL_NONE,
      NGX_HTTP_GET|NGX_HTTP_HEAD, NGX_HTTP_CONFHAVEN_K_QUERY,
      ngx_string("conferences"),
      "SELECT r::text, json_array_length(r->'conferences'), '*' "
      "FROM confhaven.api_conferences($1::boolean) AS r",
      ngx_http_confhaven_p_conferences, "include_past" },

    { ngx_string("/api/conferences/"), NGX_HTTP_CONFHAVEN_TAIL_SLUG,
      NGX_HTTP_GET|NGX_HTTP_HEAD, NGX_HTTP_CONFHAVEN_K_QUERY,
      ngx_string("conference"),
      "SELECT r::text, 1, r->>'slug' "
      "FROM confhaven.api_conference($1) AS r",
      ngx_http_confhaven_p_none, "none" },

    { ngx_string("/api/sessions"), NGX_HTTP_CONFHAVEN_TAIL_NONE,
      NGX_HTTP_GET|NGX_HTTP_HEAD, NGX_HTTP_CONFHAVEN_K_SEARCH,
      ngx_string("search"),
      "SELECT r::text, json_array_length(r->'sessions'), "
      "coalesce(r->'query'->>'conference', '*') "
      "FROM confhaven.api_search($1, $2, $3, $4, $5::integer, "
      "$6::boolean, $7, $8, $9, $10, $11, $12, $13, $14) AS r",
      ngx_http_confhaven_p_search,
      "q, conference, track, level, limit, include_past, speaker, room, "
      "day, starts_after, starts_before, language, offset, cursor" },

    { ngx_string("/api/sessions/"), NGX_HTTP_CONFHAVEN_TAIL_ID,
      NGX_HTTP_GET|NGX_HTTP_HEAD, NGX_HTTP_CONFHAVEN_K_QUERY,
      ngx_string("session"),
      "SELECT r::text, 1, r->>'conference' "
      "FROM confhaven.api_session($1::bigint) AS r",
      ngx_http_confhaven_p_none, "none" },

    { ngx_string("/api/swagger.json"), NGX_HTTP_CONFHAVEN_TAIL_NONE,
      NGX_HTTP_GET|NGX_HTTP_HEAD, NGX_HTTP_CONFHAVEN_K_OPENAPI,
      ngx_string("openapi"), NULL,
      ngx_http_confhaven_p_none, "none" },

    { ngx_string("/api/openapi.json"), NGX_HTTP_CONFHAVEN_TAIL_NONE,
      NGX_HTTP_GET|NGX_HTTP_HEAD, NGX_HTTP_CONFHAVEN_K_OPENAPI,
      ngx_string("openapi"), NULL,
      ngx_http_confhaven_p_none, "none" },

    { ngx_string("/api/admin/conferences/"), NGX_HTTP_CONFHAVEN_TAIL_IMPORT,
      NGX_HTTP_POST, NGX_HTTP_CONFHAVEN_K_IMPORT,
      ngx_string("import"),
      "SELECT r::text, r->'sessions'->>'total' "
      "FROM confhaven.import_schedule($1, $2, $3, $4, $5, $6) AS r",
      ngx_http_confhaven_p_import, "name, timezone, location, website" },

    { ngx_null_string, 0, 0, 0, ngx_null_string, NULL, NULL, NULL }
};


static const char  ngx_http_confhaven_endpoints[] =
    "endpoints: GET /health, GET /api/conferences, "
    "GET /api/conferences/{slug}, GET /api/sessions?q=..., "
    "GET /api/sessions/{id}, GET /api/swagger.json, "
    "POST /api/admin/conferences/{slug}/import";


ngx_int_t
ngx_http_confhaven_rest_handler(ngx_http_request_t *r)
{
    size_t                       len;
    ngx_str_t                    uri, tail;
    ngx_uint_t                   path_known;
    ngx_http_confhaven_ctx_t    *ctx;
    ngx_http_confhaven_route_t  *rt;

    ctx = ngx_http_confhaven_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    uri = r->uri;

    /* "/api/sessions/" is "/api/sessions" */
    if (uri.len > 1 && uri.data[uri.len - 1] == '/') {
        uri.len--;
    }

    path_known = 0;

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

            if (ngx_strlchr(tail.data, tail.data + tail.len, '/')) {
                continue;
            }
        }

        path_known = 1;

        if (!(r->method & rt->methods)) {
            continue;
        }

        ctx->route = rt->name;

        if (rt->kind == NGX_HTTP_CONFHAVEN_K_IMPORT) {
            return ngx_http_confhaven_rest_import(r, rt, &tail);
        }

        return ngx_http_confhaven_rest_query(r, rt, &tail);
    }

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (path_known) {
        for (rt = ngx_http_confhaven_routes; rt->path.len; rt++) {
            if (uri.len >= rt->path.len
                && ngx_strncmp(uri.data, rt->path.data, rt->path.len) == 0)
            {
                if (ngx_http_confhaven_rest_allow(r, rt->methods) != NGX_OK) {
                    return NGX_HTTP_INTERNAL_SERVER_ERROR;
                }
                break;
            }
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
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Allow");

    if (methods & NGX_HTTP_POST) {
        ngx_str_set(&h->value, "POST");

    } else {
        ngx_str_set(&h->value, "GET, HEAD");
    }

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
                                            &ngx_http_confhaven_openapi);
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

    if (rt->kind == NGX_HTTP_CONFHAVEN_K_QUERY
        || rt->kind == NGX_HTTP_CONFHAVEN_K_SEARCH)
    {
        return ngx_http_confhaven_rest_cached(r, rt, ctx);
    }

    ctx->op = ngx_pcalloc(r->pool, sizeof(ngx_http_confhaven_pg_op_t));
    if (ctx->op == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->op->sql = rt->sql;

    return ngx_http_confhaven_rest_start(r, ctx);
}


/*
 * Reads go through the cache.  The key is the route and its parameters
 * in a canonical form (defaults filled in, spacing folded, letter case
 * where it means nothing, see ngx_http_confhaven_p_search), so that the
 * same question asked differently is one entry; the database gets exactly
 * the values of the key, so that it answers the same, error text
 * included.
 */

static ngx_int_t
ngx_http_confhaven_rest_cached(ngx_http_request_t *r,
    ngx_http_confhaven_route_t *rt, ngx_http_confhaven_ctx_t *ctx)
{
    u_char                          *p;
    size_t                           len;
    ngx_str_t                        v;
    ngx_int_t                        rc;
    ngx_uint_t                       i;
    ngx_http_confhaven_fetch_t      *f;
    ngx_http_confhaven_loc_conf_t   *chlcf;
    ngx_http_confhaven_main_conf_t  *chmcf;

    chmcf = ngx_http_get_module_main_conf(r, ngx_http_confhaven_module);
    chlcf = ngx_http_get_module_loc_conf(r, ngx_http_confhaven_module);

    f = &ctx->fetch;

    if (rt->kind == NGX_HTTP_CONFHAVEN_K_SEARCH) {
        /* q, conference, track, level, limit, include_past */
        if (ctx->params[4] == NULL) {
            ctx->params[4] = "20";
        }

        if (ctx->params[5] == NULL) {
            ctx->params[5] = "false";
        }

        for (i = 0; i < 4; i++) {
            if (ctx->params[i] == NULL) {
                continue;
            }

            v.data = (u_char *) ctx->params[i];
            v.len = ngx_strlen(ctx->params[i]);
            ngx_http_confhaven_rest_normalize(&v);

            /* only blanks: the same as not given */
            if (v.len == 0) {
                ctx->params[i] = NULL;
            }
        }

    } else if (rt->params == ngx_http_confhaven_p_conferences) {
        if (ctx->params[0] == NULL) {
            ctx->params[0] = "false";
        }
    }

    len = rt->name.len;

    for (i = 0; i < ctx->nparams; i++) {
        len += 1 + (ctx->params[i] ? ngx_strlen(ctx->params[i]) + 1 : 0);
    }

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    f->key.data = p;
    p = ngx_cpymem(p, rt->name.data, rt->name.len);

    for (i = 0; i < ctx->nparams; i++) {
        /* "\n" separates, "=" marks a value: NULL and "" differ */
        *p++ = '\n';

        if (ctx->params[i]) {
            *p++ = '=';
            p = ngx_cpymem(p, ctx->params[i], ngx_strlen(ctx->params[i]));
        }

        f->values[i] = ctx->params[i];
    }

    f->key.len = p - f->key.data;
    f->sql = rt->sql;
    f->nparams = ctx->nparams;
    f->ttl = (rt->kind == NGX_HTTP_CONFHAVEN_K_SEARCH)
             ? chlcf->cache.ttl_search : chlcf->cache.ttl_document;
    f->handler = ngx_http_confhaven_rest_fetched;

    ctx->db_used = 1;

    rc = ngx_http_confhaven_fetch(r, chmcf->cache, f, chlcf->cache.enabled);

    return rc;
}


/* runs of blanks collapsed, leading and trailing ones dropped */

static void
ngx_http_confhaven_rest_normalize(ngx_str_t *s)
{
    u_char      *src, *dst, *last;
    ngx_uint_t   blank;

    src = s->data;
    dst = s->data;
    last = s->data + s->len;
    blank = 1;

    for ( /* void */ ; src < last; src++) {
        if (*src == ' ') {
            if (!blank) {
                *dst++ = ' ';
                blank = 1;
            }

            continue;
        }

        *dst++ = *src;
        blank = 0;
    }

    if (dst > s->data && dst[-1] == ' ') {
        dst--;
    }

    *dst = '\0';
    s->len = dst - s->data;
}


static ngx_int_t
ngx_http_confhaven_rest_fetched(ngx_http_request_t *r,
    ngx_http_confhaven_fetch_t *f)
{
    ngx_http_confhaven_ctx_t  *ctx;

    ctx = ngx_http_confhaven_get_ctx(r);

    ctx->cache_status = f->cache_status;
    ctx->db_used = f->db_used;
    ctx->db_time = f->elapsed;

    if (f->status != NGX_HTTP_CONFHAVEN_PG_OK) {
        return ngx_http_confhaven_rest_db_error(r, f->status, &f->sqlstate,
                                                &f->message, &f->hint);
    }

    if (f->value.len == 0) {
        return ngx_http_confhaven_send_errorf(r, NGX_HTTP_NOT_FOUND,
                                              "not_found", NULL,
                                              "nothing found at %V",
                                              &r->uri);
    }

    ctx->result_count = f->count;

    return ngx_http_confhaven_send_json(r, NGX_HTTP_OK, &f->value);
}


static ngx_int_t
ngx_http_confhaven_rest_check_tail(ngx_http_request_t *r,
    ngx_http_confhaven_route_t *rt, ngx_str_t *tail)
{
    u_char                    *p, *last;
    ngx_http_confhaven_ctx_t  *ctx;

    ctx = ngx_http_confhaven_get_ctx(r);
    last = tail->data + tail->len;

    if (rt->tail == NGX_HTTP_CONFHAVEN_TAIL_ID) {
        for (p = tail->data; p < last; p++) {
            if (*p < '0' || *p > '9') {
                break;
            }
        }

        if (p < last || tail->len > 18 || tail->data[0] == '0') {
            if (ngx_http_confhaven_utf8_invalid(tail->data, tail->len, 0)
                >= 0)
            {
                return ngx_http_confhaven_reject(r,
                           NGX_HTTP_BAD_REQUEST, "bad_parameter",
                           "session ids are positive integers, "
                           "e.g. /api/sessions/42",
                           "the session id is not valid UTF-8");
            }

            return ngx_http_confhaven_reject(r, NGX_HTTP_BAD_REQUEST,
                       "bad_parameter",
                       "session ids are positive integers, "
                       "e.g. /api/sessions/42; search with "
                       "/api/sessions?q=... to find them",
                       "\"%V\" is not a session id", tail);
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
        if (ngx_http_confhaven_utf8_invalid(tail->data, tail->len, 0) >= 0
            || tail->len > 200)
        {
            return ngx_http_confhaven_reject(r, NGX_HTTP_BAD_REQUEST,
                       "bad_parameter",
                       "conference slugs look like \"scottish-summit-2026\"; "
                       "GET /api/conferences lists them",
                       "the conference slug is not valid");
        }
    }

    p = ngx_pnalloc(r->pool, tail->len + 1);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    *ngx_cpymem(p, tail->data, tail->len) = '\0';

    ctx->params[ctx->nparams++] = (char *) p;

    return NGX_OK;
}


static ngx_int_t
ngx_http_confhaven_rest_args(ngx_http_request_t *r,
    ngx_http_confhaven_route_t *rt, ngx_http_confhaven_ctx_t *ctx)
{
    u_char                      *p, *last, *amp, *eq;
    ngx_int_t                    rc;
    ngx_str_t                    key, val, dkey, dval;
    ngx_uint_t                   i, n, base, seen;
    ngx_http_confhaven_param_t  *prm;

    base = ctx->nparams;
    seen = 0;

    for (n = 0; rt->params[n].name.len; n++) {
        ctx->params[base + n] = NULL;
    }

    p = r->args.data;
    last = p + r->args.len;

    while (p < last) {
        amp = ngx_strlchr(p, last, '&');
        if (amp == NULL) {
            amp = last;
        }

        if (amp == p) {
            p++;
            continue;
        }

        eq = ngx_strlchr(p, amp, '=');

        key.data = p;
        key.len = (eq ? eq : amp) - p;
        val.data = eq ? eq + 1 : amp;
        val.len = eq ? amp - (eq + 1) : 0;

        p = amp + 1;

        dkey.data = ngx_pnalloc(r->pool, key.len + 1);
        dval.data = ngx_pnalloc(r->pool, val.len + 1);
        if (dkey.data == NULL || dval.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_http_confhaven_unescape(&key, &dkey);
        ngx_http_confhaven_unescape(&val, &dval);

        prm = NULL;

        for (i = 0; i < n; i++) {
            if (rt->params[i].name.len == dkey.len
                && ngx_strncmp(rt->params[i].name.data, dkey.data,
                               dkey.len) == 0)
            {
                prm = &rt->params[i];
                break;
            }
        }

        if (prm == NULL) {
            if (ngx_http_confhaven_utf8_invalid(dkey.data, dkey.len, 0) >= 0
                || dkey.len > 64)
            {
                ngx_str_set(&dkey, "(unreadable)");
            }

            return ngx_http_confhaven_reject(r, NGX_HTTP_BAD_REQUEST,
                       "bad_parameter", NULL,
                       "unknown parameter \"%V\" for %V; accepted: %s",
                       &dkey, &rt->path, rt->allowed);
        }

        if (seen & ((ngx_uint_t) 1 << i)) {
            return ngx_http_confhaven_reject(r, NGX_HTTP_BAD_REQUEST,
                       "bad_parameter", NULL,
                       "parameter \"%V\" is given more than once",
                       &prm->name);
        }

        seen |= (ngx_uint_t) 1 << i;

        if (dval.len == 0) {
            /* "q=" is the same as no q */
            continue;
        }

        rc = ngx_http_confhaven_rest_check_value(r, prm, &dval,
                                                 &ctx->params[base + i]);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    ctx->nparams = base + n;

    return NGX_OK;
}


static ngx_int_t
ngx_http_confhaven_rest_check_value(ngx_http_request_t *r,
    ngx_http_confhaven_param_t *p, ngx_str_t *v, char **out)
{
    ssize_t     bad;
    ngx_int_t   n;

    bad = ngx_http_confhaven_utf8_invalid(v->data, v->len, 0);
    if (bad >= 0) {
        return ngx_http_confhaven_reject(r, NGX_HTTP_BAD_REQUEST,
                   "bad_parameter",
                   "percent-encode UTF-8 text; control characters "
                   "are not accepted",
                   "parameter \"%V\" is not valid UTF-8 text "
                   "(byte %z)", &p->name, bad);
    }

    if (v->len > NGX_HTTP_CONFHAVEN_MAX_VALUE) {
        return ngx_http_confhaven_reject(r, NGX_HTTP_BAD_REQUEST,
                   "bad_parameter", NULL,
                   "parameter \"%V\" is too long (%uz bytes, at most %d)",
                   &p->name, v->len, NGX_HTTP_CONFHAVEN_MAX_VALUE);
    }

    switch (p->type) {

    case NGX_HTTP_CONFHAVEN_P_BOOL:
        if ((v->len == 4 && ngx_strncasecmp(v->data, (u_char *) "true", 4)
                            == 0)
            || (v->len == 1 && v->data[0] == '1')
            || (v->len == 3 && ngx_strncasecmp(v->data, (u_char *) "yes", 3)
                               == 0))
        {
            *out = "true";
            return NGX_OK;
        }

        if ((v->len == 5 && ngx_strncasecmp(v->data, (u_char *) "false", 5)
                            == 0)
            || (v->len == 1 && v->data[0] == '0')
            || (v->len == 2 && ngx_strncasecmp(v->data, (u_char *) "no", 2)
                               == 0))
        {
            *out = "false";
            return NGX_OK;
        }

        return ngx_http_confhaven_reject(r, NGX_HTTP_BAD_REQUEST,
                   "bad_parameter", "use true or false",
                   "parameter \"%V\" must be true or false, not \"%V\"",
                   &p->name, v);

    case NGX_HTTP_CONFHAVEN_P_LIMIT:
        n = ngx_atoi(v->data, v->len);
        if (n < 1 || n > 50) {
            return ngx_http_confhaven_reject(r, NGX_HTTP_BAD_REQUEST,
                       "bad_parameter", "the default is 20",
                       "parameter \"limit\" must be an integer from 1 to 50, "
                       "not \"%V\"", v);
        }

        /* "020" is "20": one spelling, one cache key */
        *ngx_sprintf(v->data, "%i", n) = '\0';

        break;

    case NGX_HTTP_CONFHAVEN_P_FOLD:
        /* ASCII only: UTF-8 sequences are left as they are */
        ngx_strlow(v->data, v->data, v->len);
        break;

    default: /* NGX_HTTP_CONFHAVEN_P_STR */
        break;
    }

    *out = (char *) v->data;

    return NGX_OK;
}


/* "+" is a space in query strings; then %XX as usual */

static void
ngx_http_confhaven_unescape(ngx_str_t *src, ngx_str_t *dst)
{
    u_char  *s, *d, *plus;
    size_t   i;

    plus = dst->data;

    for (i = 0; i < src->len; i++) {
        plus[i] = (src->data[i] == '+') ? ' ' : src->data[i];
    }

    s = plus;
    d = dst->data;

    ngx_unescape_uri(&d, &s, src->len, 0);

    dst->len = d - dst->data;
    dst->data[dst->len] = '\0';
}


static ngx_int_t
ngx_http_confhaven_rest_import(ngx_http_request_t *r,
    ngx_http_confhaven_route_t *rt, ngx_str_t *tail)
{
    ngx_int_t                       rc;
    ngx_str_t                      *type;
    ngx_http_confhaven_ctx_t       *ctx;
    ngx_http_confhaven_loc_conf_t  *chlcf;

    ctx = ngx_http_confhaven_get_ctx(r);
    chlcf = ngx_http_get_module_loc_conf(r, ngx_http_confhaven_module);

    if (chlcf->admin_key.len == 0) {
        if (ngx_http_discard_request_body(r) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_confhaven_send_errorf(r, NGX_HTTP_FORBIDDEN,
                   "forbidden",
                   "the operator must set confhaven_admin_key_file "
                   "in this location",
                   "imports are disabled here");
    }

    if (!ngx_http_confhaven_rest_authorized(r, &chlcf->admin_key)) {
        if (ngx_http_discard_request_body(r) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        r->headers_out.www_authenticate = ngx_list_push(
                                                   &r->headers_out.headers);
        if (r->headers_out.www_authenticate == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        r->headers_out.www_authenticate->hash = 1;
        ngx_str_set(&r->headers_out.www_authenticate->key,
                    "WWW-Authenticate");
        ngx_str_set(&r->headers_out.www_authenticate->value,
                    "Bearer realm=\"confhaven-admin\"");

        return ngx_http_confhaven_send_errorf(r, NGX_HTTP_UNAUTHORIZED,
                   "unauthorized",
                   "send \"Authorization: Bearer <admin key>\" or "
                   "\"X-API-Key: <admin key>\"",
                   "a valid admin key is required");
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

    rc = ngx_http_confhaven_rest_check_tail(r, rt, tail);
    if (rc != NGX_OK) {
        return rc == NGX_ABORT ? ctx->rc : rc;
    }

    rc = ngx_http_confhaven_rest_args(r, rt, ctx);
    if (rc != NGX_OK) {
        return rc == NGX_ABORT ? ctx->rc : rc;
    }

    ctx->op = ngx_pcalloc(r->pool, sizeof(ngx_http_confhaven_pg_op_t));
    if (ctx->op == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->op->sql = rt->sql;

    /* a large schedule takes longer than a search may */
    ctx->op->timeout = chlcf->import_timeout;

    r->request_body_in_single_buf = 1;

    rc = ngx_http_read_client_request_body(r,
                                        ngx_http_confhaven_rest_body_handler);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


static ngx_int_t
ngx_http_confhaven_rest_authorized(ngx_http_request_t *r, ngx_str_t *key)
{
    u_char            diff;
    size_t            i;
    ngx_str_t         given;
    ngx_uint_t        n;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    given.len = 0;

    if (r->headers_in.authorization) {
        given = r->headers_in.authorization->value;

        if (given.len > 7
            && ngx_strncasecmp(given.data, (u_char *) "Bearer ", 7) == 0)
        {
            given.data += 7;
            given.len -= 7;

        } else {
            given.len = 0;
        }
    }

    if (given.len == 0) {
        part = &r->headers_in.headers.part;
        h = part->elts;

        for (n = 0; /* void */; n++) {
            if (n >= part->nelts) {
                if (part->next == NULL) {
                    break;
                }

                part = part->next;
                h = part->elts;
                n = 0;
            }

            if (h[n].key.len == 9
                && ngx_strncasecmp(h[n].key.data, (u_char *) "X-API-Key", 9)
                   == 0)
            {
                given = h[n].value;
                break;
            }
        }
    }

    if (given.len != key->len) {
        return 0;
    }

    /* constant time for keys of the right length */
    diff = 0;

    for (i = 0; i < key->len; i++) {
        diff |= given.data[i] ^ key->data[i];
    }

    return diff == 0;
}


static void
ngx_http_confhaven_rest_body_handler(ngx_http_request_t *r)
{
    ngx_int_t                       rc;
    ngx_str_t                       body;
    ngx_http_confhaven_ctx_t       *ctx;

    ctx = ngx_http_confhaven_get_ctx(r);

    ngx_str_null(&body);

    rc = ngx_http_confhaven_rest_body(r, &body);
    if (rc != NGX_OK) {
        ngx_http_finalize_request(r, rc == NGX_ABORT ? ctx->rc : rc);
        return;
    }

    ctx->params[ctx->nparams++] = (char *) body.data;

    rc = ngx_http_confhaven_rest_start(r, ctx);

    /* drop the reference taken by reading the body */
    ngx_http_finalize_request(r, rc == NGX_DONE ? NGX_DONE : rc);
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

    bad = ngx_http_confhaven_utf8_invalid(body->data, body->len, 1);
    if (bad >= 0) {
        return ngx_http_confhaven_reject(r, NGX_HTTP_BAD_REQUEST,
                   "invalid_encoding",
                   "schedules must be UTF-8 encoded",
                   "the schedule is not valid UTF-8 text "
                   "(bad byte at offset %z)", bad);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_confhaven_rest_start(ngx_http_request_t *r,
    ngx_http_confhaven_ctx_t *ctx)
{
    ngx_int_t                        rc;
    ngx_uint_t                       i;
    ngx_pool_cleanup_t              *cln;
    ngx_http_confhaven_pg_op_t      *op;
    ngx_http_confhaven_main_conf_t  *chmcf;

    chmcf = ngx_http_get_module_main_conf(r, ngx_http_confhaven_module);
    op = ctx->op;

    op->nparams = ctx->nparams;
    for (i = 0; i < ctx->nparams; i++) {
        op->values[i] = ctx->params[i];
    }

    op->handler = ngx_http_confhaven_rest_done;
    op->data = r;
    op->pool = r->pool;
    op->log = r->connection->log;

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_http_confhaven_rest_cleanup;
    cln->data = op;

    ctx->db_used = 1;
    ctx->db_answered = 0;

    /*
     * The reference the database callback will release.  The callback
     * may run before pg_query() returns (the pool knows at once that the
     * server is down): then it only records the code, and we return it,
     * as ngx_http_confhaven_fetch() does.
     */

    r->main->count++;
    ctx->db_dispatching = 1;

    rc = ngx_http_confhaven_pg_query(chmcf->pool, op);

    ctx->db_dispatching = 0;

    if (rc == NGX_ERROR) {
        r->main->count--;
        return ngx_http_confhaven_rest_respond(r, ctx, op);
    }

    if (ctx->db_answered) {
        r->main->count--;
        return ctx->db_rc;
    }

    return NGX_DONE;
}


static void
ngx_http_confhaven_rest_cleanup(void *data)
{
    ngx_http_confhaven_pg_op_t  *op = data;

    ngx_http_confhaven_pg_cancel(op);
}


static void
ngx_http_confhaven_rest_done(ngx_http_confhaven_pg_op_t *op)
{
    ngx_int_t                  rc;
    ngx_connection_t          *c;
    ngx_http_request_t        *r;
    ngx_http_confhaven_ctx_t  *ctx;

    r = op->data;
    c = r->connection;
    ctx = ngx_http_confhaven_get_ctx(r);

    rc = ngx_http_confhaven_rest_respond(r, ctx, op);

    if (ctx->db_dispatching) {
        /* ngx_http_confhaven_rest_start() is on the stack: it returns rc */
        ctx->db_rc = rc;
        ctx->db_answered = 1;
        return;
    }

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


static ngx_int_t
ngx_http_confhaven_rest_respond(ngx_http_request_t *r,
    ngx_http_confhaven_ctx_t *ctx, ngx_http_confhaven_pg_op_t *op)
{
    ngx_int_t  n;

    ctx->db_time = op->elapsed;

    if (ctx->kind == NGX_HTTP_CONFHAVEN_K_HEALTH) {
        return ngx_http_confhaven_rest_health(r, op);
    }

    if (op->status != NGX_HTTP_CONFHAVEN_PG_OK) {
        return ngx_http_confhaven_rest_db_error(r, op->status, &op->sqlstate,
                                                &op->message, &op->hint);
    }

    if (op->got_null || op->value.len == 0) {
        return ngx_http_confhaven_send_errorf(r, NGX_HTTP_NOT_FOUND,
                                              "not_found", NULL,
                                              "nothing found at %V",
                                              &r->uri);
    }

    if (op->value2.len) {
        n = ngx_atoi(op->value2.data, op->value2.len);
        ctx->result_count = (n == NGX_ERROR) ? -1 : n;
    }

    if (ctx->kind == NGX_HTTP_CONFHAVEN_K_IMPORT) {
        return ngx_http_confhaven_rest_invalidate(r, ctx, op);
    }

    return ngx_http_confhaven_send_json(r, NGX_HTTP_OK, &op->value);
}


/*
 * A successful import answers only once the cache has forgotten the
 * conference, so that whoever reads after it sees the new schedule.
 */

static ngx_int_t
ngx_http_confhaven_rest_invalidate(ngx_http_request_t *r,
    ngx_http_confhaven_ctx_t *ctx, ngx_http_confhaven_pg_op_t *op)
{
    ngx_str_t                        slug;
    ngx_pool_cleanup_t              *cln;
    ngx_http_confhaven_main_conf_t  *chmcf;

    chmcf = ngx_http_get_module_main_conf(r, ngx_http_confhaven_module);

    if (chmcf->redis == NULL) {
        return ngx_http_confhaven_send_json(r, NGX_HTTP_OK, &op->value);
    }

    slug.data = (u_char *) ctx->params[0];
    slug.len = ngx_strlen(ctx->params[0]);

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_http_confhaven_rest_invalidate_cleanup;
    cln->data = ctx;

    r->main->count++;

    if (ngx_http_confhaven_cache_invalidate(chmcf->cache, &slug,
                                            ngx_http_confhaven_rest_invalidated,
                                            r, &ctx->rop)
        != NGX_OK)
    {
        r->main->count--;
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "confhaven cache: Redis is unavailable, entries of "
                      "\"%V\" stay until their TTL", &slug);
        return ngx_http_confhaven_send_json(r, NGX_HTTP_OK, &op->value);
    }

    ctx->invalidating = 1;

    return NGX_DONE;
}


static void
ngx_http_confhaven_rest_invalidated(ngx_http_confhaven_redis_op_t *rop,
    redisReply *reply)
{
    ngx_int_t                  rc;
    ngx_connection_t          *c;
    ngx_http_request_t        *r;
    ngx_http_confhaven_ctx_t  *ctx;

    r = rop->data;
    c = r->connection;
    ctx = ngx_http_confhaven_get_ctx(r);
    ctx->invalidating = 0;

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_WARN, c->log, 0,
                      "confhaven cache: invalidation failed, entries of "
                      "\"%s\" stay until their TTL", ctx->params[0]);
    }

    rc = ngx_http_confhaven_send_json(r, NGX_HTTP_OK, &ctx->op->value);

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


static void
ngx_http_confhaven_rest_invalidate_cleanup(void *data)
{
    ngx_http_confhaven_ctx_t  *ctx = data;

    if (ctx->invalidating && ctx->rop) {
        ngx_http_confhaven_redis_cancel(ctx->rop);
    }
}


static ngx_int_t
ngx_http_confhaven_rest_health(ngx_http_request_t *r,
    ngx_http_confhaven_pg_op_t *op)
{
    json_t                          *root, *db, *info, *redis;
    ngx_str_t                        body, id;
    json_error_t                     err;
    ngx_http_confhaven_main_conf_t  *chmcf;

    root = json_object();
    db = json_object();
    redis = json_object();

    if (root == NULL || db == NULL || redis == NULL) {
        json_decref(root);
        json_decref(db);
        json_decref(redis);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    chmcf = ngx_http_get_module_main_conf(r, ngx_http_confhaven_module);

    /* the cache is optional: its state never fails the health check */
    json_object_set_new(redis, "status",
                        json_string(ngx_http_confhaven_redis_state(
                                                             chmcf->redis)));

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

        if (ngx_http_confhaven_json_dump(r, root, &body) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_confhaven_send_json(r, NGX_HTTP_OK, &body);
    }

    /* libpq's text (socket, host, port, user) is for the log only */

    ngx_http_confhaven_request_id(r, &id);

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

    if (ngx_http_confhaven_json_dump(r, root, &body) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_confhaven_send_json(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                        &body);
}


static ngx_int_t
ngx_http_confhaven_rest_db_error(ngx_http_request_t *r, ngx_uint_t pgstatus,
    ngx_str_t *sqlstate, ngx_str_t *message, ngx_str_t *hint)
{
    u_char            *s;
    ngx_str_t          id;
    ngx_uint_t         status;
    ngx_table_elt_t   *h;
    const char        *code;

    s = sqlstate->data;

    switch (pgstatus) {

    case NGX_HTTP_CONFHAVEN_PG_SQL_ERROR:
        if (sqlstate->len == 5 && s[0] == 'C' && s[1] == 'H') {
            status = ngx_atoi(s + 2, 3);

            if (status == 404) {
                code = "not_found";

            } else if (status == 422) {
                code = "invalid_schedule";

            } else {
                status = NGX_HTTP_BAD_REQUEST;
                code = "bad_parameter";
            }

            return ngx_http_confhaven_send_error(r, status, code,
                                                 message, hint);
        }

        if (sqlstate->len == 5 && s[0] == '2' && s[1] == '2') {
            return ngx_http_confhaven_send_error(r, NGX_HTTP_BAD_REQUEST,
                                                 "bad_parameter",
                                                 message, hint);
        }

        if (sqlstate->len == 5 && ngx_strncmp(s, "57014", 5) == 0) {
            return ngx_http_confhaven_send_errorf(r,
                       NGX_HTTP_GATEWAY_TIME_OUT, "timeout",
                       "try again, or narrow the request",
                       "the database did not answer within the "
                       "statement timeout");
        }

        ngx_http_confhaven_request_id(r, &id);

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "confhaven pg: query failed (request %V): %V %V",
                      &id, sqlstate, message);

        if (sqlstate->len == 5
            && (ngx_strncmp(s, "42883", 5) == 0
                || ngx_strncmp(s, "42P01", 5) == 0
                || ngx_strncmp(s, "3F000", 5) == 0))
        {
            return ngx_http_confhaven_send_errorf(r,
                       NGX_HTTP_SERVICE_UNAVAILABLE, "schema_missing",
                       "the operator must apply the migrations in sql/ "
                       "(ci/migrate)",
                       "the database has no ConferenceHaven schema "
                       "(request id %V)", &id);
        }

        return ngx_http_confhaven_send_errorf(r,
                   NGX_HTTP_SERVICE_UNAVAILABLE, "database_error",
                   "retry later; if it persists, quote the request id to "
                   "the operator",
                   "the database could not answer (SQLSTATE %V, "
                   "request id %V)", sqlstate, &id);

    case NGX_HTTP_CONFHAVEN_PG_TIMEOUT:
        return ngx_http_confhaven_send_errorf(r, NGX_HTTP_GATEWAY_TIME_OUT,
                   "timeout", NULL, "the database did not answer in time");

    case NGX_HTTP_CONFHAVEN_PG_BUSY:
        code = "database_busy";
        break;

    default:
        code = "database_unavailable";
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

    return ngx_http_confhaven_send_db_unavailable(r,
               NGX_HTTP_SERVICE_UNAVAILABLE, code,
               pgstatus == NGX_HTTP_CONFHAVEN_PG_BUSY
               ? "database busy" : "database unavailable",
               message);
}


/*
 * The content handler of a named location that error_page points to:
 * nginx's own errors (400, 413, 414, 429...) as JSON.
 */

ngx_int_t
ngx_http_confhaven_error_handler(ngx_http_request_t *r)
{
    ngx_uint_t   status;
    const char  *code, *msg;

    (void) ngx_http_discard_request_body(r);

    status = r->err_status ? r->err_status : NGX_HTTP_NOT_FOUND;

    switch (status) {

    case NGX_HTTP_BAD_REQUEST:
        code = "bad_request";
        msg = "the HTTP request could not be understood";
        break;

    case NGX_HTTP_FORBIDDEN:
        code = "forbidden";
        msg = "access to this resource is forbidden";
        break;

    case NGX_HTTP_NOT_FOUND:
        code = "not_found";
        msg = "no such resource";
        break;

    case NGX_HTTP_NOT_ALLOWED:
        code = "method_not_allowed";
        msg = "this method is not allowed here";
        break;

    case NGX_HTTP_REQUEST_TIME_OUT:
        code = "timeout";
        msg = "the request was not received in time";
        break;

    case NGX_HTTP_REQUEST_ENTITY_TOO_LARGE:
        code = "too_large";
        msg = "the request body is too large";
        break;

    case NGX_HTTP_REQUEST_URI_TOO_LARGE:
        code = "uri_too_long";
        msg = "the request URI is too long";
        break;

    case 429:
        code = "rate_limited";
        msg = "too many requests: slow down and retry later";
        break;

    case NGX_HTTP_SERVICE_UNAVAILABLE:
        code = "unavailable";
        msg = "the service is temporarily unavailable";
        break;

    case NGX_HTTP_GATEWAY_TIME_OUT:
        code = "timeout";
        msg = "the service did not answer in time";
        break;

    default:
        code = status >= 500 ? "server_error" : "client_error";
        msg = status >= 500 ? "the server could not complete the request"
                            : "the request cannot be served";
        break;
    }

    return ngx_http_confhaven_send_errorf(r, status, code, NULL, "%s", msg);
}
