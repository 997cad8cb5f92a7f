
/*
 * Copyright (C) ConferenceHaven
 */


/*
 * Running an operation: parameters put in their canonical form, the
 * canonical key, the call through the cache, and the one map from what
 * the database said to an error kind every front end renders.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "ngx_http_confhaven_json.h"
#include "ngx_http_confhaven_op.h"


static ngx_int_t ngx_http_confhaven_op_text(ngx_http_confhaven_op_call_t *call,
    ngx_http_confhaven_op_param_t *p, u_char *text, size_t len,
    char **out);
static ngx_http_confhaven_op_steps_t *ngx_http_confhaven_op_steps_find(
    ngx_http_confhaven_op_t *op);
static ngx_int_t ngx_http_confhaven_op_credential(
    ngx_http_confhaven_op_call_t *call, u_char *text, size_t len,
    char **out);
static void ngx_http_confhaven_op_cleanup(void *data);
static void ngx_http_confhaven_op_fetched(ngx_http_confhaven_fetch_t *f);
static void ngx_http_confhaven_op_invalidated(
    ngx_http_confhaven_redis_op_t *rop, redisReply *reply);
static void ngx_http_confhaven_op_tier_detail(ngx_str_t *detail,
    ngx_http_confhaven_op_error_t *e);
static void ngx_http_confhaven_op_fail_internal(
    ngx_http_confhaven_op_call_t *call, const char *part, ...);


/* the longest error message of a step operation */
#define NGX_HTTP_CONFHAVEN_OP_MESSAGE_LEN  1024


/*
 * The operations of several steps: each file of one registers its hooks
 * (ngx_http_confhaven_op_steps_add()), so that this file, which they
 * use, does not call up into them.
 */

#define NGX_HTTP_CONFHAVEN_OP_MAX_STEPS  8

static ngx_http_confhaven_op_steps_t
    *ngx_http_confhaven_op_steps[NGX_HTTP_CONFHAVEN_OP_MAX_STEPS];
static ngx_uint_t  ngx_http_confhaven_op_nsteps;


ngx_int_t
ngx_http_confhaven_op_steps_add(ngx_http_confhaven_op_steps_t *steps)
{
    if (ngx_http_confhaven_op_steps_find(steps->op) == steps) {
        return NGX_OK;
    }

    if (ngx_http_confhaven_op_nsteps == NGX_HTTP_CONFHAVEN_OP_MAX_STEPS) {
        return NGX_ERROR;
    }

    ngx_http_confhaven_op_steps[ngx_http_confhaven_op_nsteps++] = steps;

    return NGX_OK;
}


static ngx_http_confhaven_op_steps_t *
ngx_http_confhaven_op_steps_find(ngx_http_confhaven_op_t *op)
{
    ngx_uint_t  i;

    for (i = 0; i < ngx_http_confhaven_op_nsteps; i++) {
        if (ngx_http_confhaven_op_steps[i]->op == op) {
            return ngx_http_confhaven_op_steps[i];
        }
    }

    return NULL;
}


void
ngx_http_confhaven_op_init(ngx_http_confhaven_op_call_t *call,
    ngx_http_confhaven_op_t *op, ngx_http_confhaven_op_env_t *env,
    ngx_pool_t *pool, ngx_log_t *log)
{
    ngx_memzero(call, sizeof(ngx_http_confhaven_op_call_t));

    call->op = op;
    call->env = env;
    call->pool = pool;
    call->log = log;
    call->trace = env ? env->trace : NULL;
}


/* the parameter's index by its name on a wire; NGX_ERROR: unknown */

ngx_int_t
ngx_http_confhaven_op_find(ngx_http_confhaven_op_t *op, u_char *name,
    size_t len, ngx_uint_t rest)
{
    ngx_uint_t   i;
    const char  *n;

    for (i = 0; i < op->nparams; i++) {
        if (rest && op->params[i].in != NGX_HTTP_CONFHAVEN_OP_IN_QUERY) {
            continue;
        }

        n = (rest && op->params[i].rest_name) ? op->params[i].rest_name
                                              : op->params[i].name;

        if (ngx_strlen(n) == len && ngx_strncmp(n, name, len) == 0) {
            return i;
        }
    }

    return NGX_ERROR;
}


/*
 * Checks a value given as text and stores its canonical form: NGX_OK,
 * NGX_DECLINED with a sentence in err ("\"limit\" must be ..."; the front
 * end says "parameter" or "Argument" before it), or NGX_ERROR.  Text made
 * of blanks only is the same as a parameter not given.
 */

ngx_int_t
ngx_http_confhaven_op_set(ngx_http_confhaven_op_call_t *call, ngx_uint_t i,
    ngx_uint_t rest, u_char *text, size_t len, u_char *err, size_t size)
{
    u_char                         *p;
    size_t                          k;
    ngx_int_t                       n;
    const char                     *name;
    ngx_http_confhaven_op_param_t  *prm;

    prm = &call->op->params[i];
    call->values[i] = NULL;

    name = (rest && prm->rest_name) ? prm->rest_name : prm->name;

    if (prm->type == NGX_HTTP_CONFHAVEN_OP_KEY) {
        /* never echoed, never refused here: the database says 401 */
        return ngx_http_confhaven_op_credential(call, text, len,
                                                &call->values[i]);
    }

    if (prm->type == NGX_HTTP_CONFHAVEN_OP_RAW) {
        if (prm->max_len && len > prm->max_len) {
            *ngx_slprintf(err, err + size - 1,
                          "\"%s\" is too long (%uz bytes, at most %uz)",
                          name, len, prm->max_len) = '\0';
            return NGX_DECLINED;
        }

        p = ngx_pnalloc(call->pool, len + 1);
        if (p == NULL) {
            return NGX_ERROR;
        }

        *ngx_cpymem(p, text, len) = '\0';
        call->values[i] = (char *) p;

        return NGX_OK;
    }

    if (ngx_http_confhaven_json_utf8_invalid(text, len, 1) >= 0) {
        *ngx_slprintf(err, err + size - 1, "\"%s\" is not valid UTF-8 text",
                      name) = '\0';
        return NGX_DECLINED;
    }

    for (k = 0; k < len; k++) {
        if ((text[k] < 0x20 && text[k] != '\t' && text[k] != '\n'
             && text[k] != '\r')
            || text[k] == 0x7f)
        {
            *ngx_slprintf(err, err + size - 1,
                          "\"%s\" must not contain control characters",
                          name) = '\0';
            return NGX_DECLINED;
        }
    }

    if (prm->max_len && len > prm->max_len) {
        *ngx_slprintf(err, err + size - 1,
                      "\"%s\" is too long (%uz bytes, at most %uz)",
                      name, len, prm->max_len) = '\0';
        return NGX_DECLINED;
    }

    switch (prm->type) {

    case NGX_HTTP_CONFHAVEN_OP_INT:
        n = (len && len <= 18) ? ngx_atoi(text, len) : NGX_ERROR;

        if (n == NGX_ERROR || n < prm->min || n > prm->max) {
            *ngx_slprintf(err, err + size - 1,
                          "\"%s\" must be an integer from %i to %i, "
                          "not \"%*s\"", name, prm->min, prm->max,
                          ngx_min(len, 40), text) = '\0';
            return NGX_DECLINED;
        }

        /* "020" is "20": one spelling, one cache key */
        p = ngx_pnalloc(call->pool, NGX_INT_T_LEN + 1);
        if (p == NULL) {
            return NGX_ERROR;
        }

        *ngx_sprintf(p, "%i", n) = '\0';
        call->values[i] = (char *) p;

        return NGX_OK;

    case NGX_HTTP_CONFHAVEN_OP_BOOL:
        if ((len == 4 && ngx_strncasecmp(text, (u_char *) "true", 4) == 0)
            || (len == 1 && text[0] == '1')
            || (len == 3 && ngx_strncasecmp(text, (u_char *) "yes", 3) == 0))
        {
            call->values[i] = "true";
            return NGX_OK;
        }

        if ((len == 5 && ngx_strncasecmp(text, (u_char *) "false", 5) == 0)
            || (len == 1 && text[0] == '0')
            || (len == 2 && ngx_strncasecmp(text, (u_char *) "no", 2) == 0))
        {
            call->values[i] = "false";
            return NGX_OK;
        }

        *ngx_slprintf(err, err + size - 1,
                      "\"%s\" must be true or false, not \"%*s\"",
                      name, ngx_min(len, 40), text) = '\0';
        return NGX_DECLINED;

    case NGX_HTTP_CONFHAVEN_OP_ID:
        for (k = 0; k < len; k++) {
            if (text[k] < '0' || text[k] > '9') {
                break;
            }
        }

        if (len == 0 || k < len || len > 18 || text[0] == '0') {
            *ngx_slprintf(err, err + size - 1,
                          "\"%s\" must be a positive integer",
                          name) = '\0';
            return NGX_DECLINED;
        }

        break;

    default: /* OP_TEXT, OP_FOLD */
        break;
    }

    return ngx_http_confhaven_op_text(call, prm, text, len,
                                      &call->values[i]);
}


/*
 * An organizer's key, "chk_" + 12 hex digits (the prefix that finds its
 * row) + "_" + 48 hex digits, becomes "prefix:" + the SHA-256 of the
 * whole key in hex: the key itself never leaves nginx (nor enters a log,
 * a cache key or the database).  Anything else becomes "-", which the
 * database refuses like an unknown key.
 */

static ngx_int_t
ngx_http_confhaven_op_credential(ngx_http_confhaven_op_call_t *call,
    u_char *text, size_t len, char **out)
{
    u_char        *p;
    size_t         k;
    unsigned int   mdlen;
    u_char         md[EVP_MAX_MD_SIZE];

    if (len != 4 + 12 + 1 + 48 || ngx_strncmp(text, "chk_", 4) != 0
        || text[16] != '_')
    {
        *out = "-";
        return NGX_OK;
    }

    for (k = 4; k < len; k++) {
        if (k != 16
            && !((text[k] >= '0' && text[k] <= '9')
                 || (text[k] >= 'a' && text[k] <= 'f')))
        {
            *out = "-";
            return NGX_OK;
        }
    }

    if (EVP_Digest(text, len, md, &mdlen, EVP_sha256(), NULL) != 1
        || mdlen != 32)
    {
        return NGX_ERROR;
    }

    p = ngx_pnalloc(call->pool, 12 + 1 + 64 + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    *out = (char *) p;

    p = ngx_cpymem(p, text + 4, 12);
    *p++ = ':';
    p = ngx_hex_dump(p, md, 32);
    *p = '\0';

    return NGX_OK;
}


/*
 * A key's credential ("prefix:sha256-hex", or "-") to keep instead of the
 * key (the legacy /sse stream's, for the POSTs of its session), and the
 * credential given back to an OP_KEY parameter.
 */

ngx_int_t
ngx_http_confhaven_op_key_credential(ngx_pool_t *pool, ngx_str_t *key,
    ngx_str_t *cred)
{
    char                          *out;
    ngx_http_confhaven_op_call_t   call;

    call.pool = pool;

    if (ngx_http_confhaven_op_credential(&call, key->data, key->len, &out)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    cred->data = (u_char *) out;
    cred->len = ngx_strlen(out);

    return NGX_OK;
}


ngx_int_t
ngx_http_confhaven_op_set_credential(ngx_http_confhaven_op_call_t *call,
    ngx_uint_t i, ngx_str_t *cred)
{
    u_char  *p;

    if (i >= call->op->nparams
        || call->op->params[i].type != NGX_HTTP_CONFHAVEN_OP_KEY)
    {
        return NGX_ERROR;
    }

    p = ngx_pnalloc(call->pool, cred->len + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    *ngx_cpymem(p, cred->data, cred->len) = '\0';
    call->values[i] = (char *) p;

    return NGX_OK;
}


/*
 * The key a request carries: "Authorization: Bearer <key>" or
 * "X-API-Key: <key>".  NGX_DECLINED: none.
 */

ngx_int_t
ngx_http_confhaven_op_header_key(ngx_list_t *headers,
    ngx_table_elt_t *authorization, ngx_str_t *key)
{
    ngx_str_t         v;
    ngx_uint_t        n;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    if (authorization) {
        v = authorization->value;

        if (v.len > 7
            && ngx_strncasecmp(v.data, (u_char *) "Bearer ", 7) == 0)
        {
            v.data += 7;
            v.len -= 7;

            while (v.len && v.data[0] == ' ') {
                v.data++;
                v.len--;
            }

            if (v.len) {
                *key = v;
                return NGX_OK;
            }
        }
    }

    part = &headers->part;
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
            && ngx_strncasecmp(h[n].key.data, (u_char *) "X-API-Key", 9) == 0
            && h[n].value.len)
        {
            *key = h[n].value;
            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}


/*
 * Whether a request carries the admin key (Bearer or X-API-Key).  The
 * SHA-256 digests are compared in constant time: neither the place of the
 * first wrong byte nor the key's length shows in the time taken.
 */

ngx_int_t
ngx_http_confhaven_op_admin_key(ngx_list_t *headers,
    ngx_table_elt_t *authorization, ngx_str_t *key)
{
    unsigned int  n, m;
    ngx_str_t     given;
    u_char        a[EVP_MAX_MD_SIZE], b[EVP_MAX_MD_SIZE];

    if (key->len == 0
        || ngx_http_confhaven_op_header_key(headers, authorization, &given)
           != NGX_OK)
    {
        return 0;
    }

    if (EVP_Digest(given.data, given.len, a, &n, EVP_sha256(), NULL) != 1
        || EVP_Digest(key->data, key->len, b, &m, EVP_sha256(), NULL) != 1
        || n != m)
    {
        return 0;
    }

    return CRYPTO_memcmp(a, b, n) == 0;
}


/* blanks folded to one space, none at the ends; OP_FOLD lower-cased */

static ngx_int_t
ngx_http_confhaven_op_text(ngx_http_confhaven_op_call_t *call,
    ngx_http_confhaven_op_param_t *prm, u_char *text, size_t len,
    char **out)
{
    u_char      *d, *dst, *last;
    ngx_uint_t   blank;

    dst = ngx_pnalloc(call->pool, len + 1);
    if (dst == NULL) {
        return NGX_ERROR;
    }

    d = dst;
    last = text + len;
    blank = 1;

    for ( /* void */ ; text < last; text++) {
        if (*text == ' ' || *text == '\t' || *text == '\n' || *text == '\r') {
            if (!blank) {
                *d++ = ' ';
                blank = 1;
            }

            continue;
        }

        /* ASCII only: UTF-8 sequences are left as they are */
        *d++ = (prm->type == NGX_HTTP_CONFHAVEN_OP_FOLD) ? ngx_tolower(*text)
                                                         : *text;
        blank = 0;
    }

    if (d > dst && d[-1] == ' ') {
        d--;
    }

    *d = '\0';

    *out = (d == dst) ? NULL : (char *) dst;

    return NGX_OK;
}


/*
 * The canonical key: the operation's name and every value in parameter
 * order, defaults filled in; "\n" separates, "=" marks a value, so that
 * a parameter not given and an empty one differ.  The database gets
 * exactly these values: whatever an answer quotes is what the key says.
 */

ngx_int_t
ngx_http_confhaven_op_key(ngx_http_confhaven_op_call_t *call)
{
    u_char                   *p;
    size_t                    len;
    ngx_uint_t                i;
    ngx_http_confhaven_op_t  *op;

    op = call->op;

    len = op->name.len;

    for (i = 0; i < op->nparams; i++) {
        if (call->values[i] == NULL && op->params[i].dflt) {
            call->values[i] = (char *) op->params[i].dflt;
        }

        len += 1 + (call->values[i] ? ngx_strlen(call->values[i]) + 1 : 0);
    }

    p = ngx_pnalloc(call->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    call->key.data = p;
    p = ngx_cpymem(p, op->name.data, op->name.len);

    for (i = 0; i < op->nparams; i++) {
        *p++ = '\n';

        if (call->values[i]) {
            *p++ = '=';
            p = ngx_cpymem(p, call->values[i], ngx_strlen(call->values[i]));
        }
    }

    call->key.len = p - call->key.data;

    return NGX_OK;
}


/*
 * Starts the call; call->handler runs exactly once, possibly before this
 * returns.  NGX_ERROR: nothing started, the handler will not run.
 */

ngx_int_t
ngx_http_confhaven_op_start(ngx_http_confhaven_op_call_t *call)
{
    ngx_uint_t                      i;
    ngx_pool_cleanup_t             *cln;
    ngx_http_confhaven_op_t        *op;
    ngx_http_confhaven_fetch_t     *f;
    ngx_http_confhaven_op_steps_t  *steps;

    op = call->op;

    if (call->key.len == 0 && ngx_http_confhaven_op_key(call) != NGX_OK) {
        return NGX_ERROR;
    }

    /*
     * Whatever the call is waiting for (the cache, the database, Redis
     * forgetting what a write changed) stops when its pool goes: the
     * front end's request may go away first.
     */

    cln = ngx_pool_cleanup_add(call->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_confhaven_op_cleanup;
    cln->data = call;

    steps = ngx_http_confhaven_op_steps_find(op);
    if (steps) {
        return steps->start(call);
    }

    if (op->sql == NULL) {
        /* an operation of steps whose file did not register them */
        return NGX_ERROR;
    }

    f = &call->fetch;

    f->handler = ngx_http_confhaven_op_fetched;
    f->data = call;

    if (call->env->cache == NULL) {
        f->status = NGX_HTTP_CONFHAVEN_PG_UNAVAILABLE;
        ngx_str_set(&f->message, "no database is configured");
        ngx_http_confhaven_op_fetched(f);
        return NGX_OK;
    }

    f->sql = op->sql;
    f->nparams = op->nparams;

    for (i = 0; i < op->nparams; i++) {
        f->values[i] = call->values[i];
    }

    f->cache = call->env->cache;
    f->pool = call->pool;
    f->log = call->log;
    f->trace = call->trace;
    f->timeout = op->timeout ? op->timeout : call->env->timeout;
    if (op->cache != NGX_HTTP_CONFHAVEN_OP_NO_CACHE) {
        f->key = call->key;
        f->use_cache = call->env->conf->enabled;
        f->read_only = 1;
        f->ttl = (op->cache == NGX_HTTP_CONFHAVEN_OP_SEARCH)
                 ? call->env->conf->ttl_search
                 : call->env->conf->ttl_document;
    }

    return ngx_http_confhaven_cache_fetch(f);
}


static void
ngx_http_confhaven_op_cleanup(void *data)
{
    ngx_http_confhaven_op_cancel(data);
}


void
ngx_http_confhaven_op_cancel(ngx_http_confhaven_op_call_t *call)
{
    ngx_http_confhaven_op_steps_t  *steps;

    ngx_http_confhaven_cache_fetch_cancel(&call->fetch);

    if (call->rop) {
        ngx_http_confhaven_redis_cancel(call->rop);
        call->rop = NULL;
    }

    steps = ngx_http_confhaven_op_steps_find(call->op);
    if (steps) {
        steps->cancel(call);
    }
}


/* the state of the cache behind the operations, for a health check */

const char *
ngx_http_confhaven_op_cache_state(ngx_http_confhaven_op_env_t *env)
{
    return ngx_http_confhaven_cache_state(env->cache);
}


static void
ngx_http_confhaven_op_fetched(ngx_http_confhaven_fetch_t *f)
{
    ngx_int_t                      rc;
    ngx_str_t                      tag;
    ngx_http_confhaven_op_call_t  *call = f->data;

    ngx_http_confhaven_op_classify(call);

    if (call->op->invalidates && call->error.kind == NGX_HTTP_CONFHAVEN_OP_OK
        && call->values[0] && call->env->cache)
    {
        /*
         * A write answers only once the cache has forgotten what it
         * changed, so that whoever reads after it sees the new data.
         */

        tag.data = (u_char *) call->values[0];
        tag.len = ngx_strlen(call->values[0]);

        rc = ngx_http_confhaven_cache_invalidate(call->env->cache, &tag,
                                           ngx_http_confhaven_op_invalidated,
                                           call, &call->rop, call->trace);
        if (rc == NGX_OK) {
            return;
        }

        call->rop = NULL;

        if (rc == NGX_ERROR) {
            ngx_log_error(NGX_LOG_WARN, call->log, 0,
                          "confhaven cache: Redis is unavailable, entries "
                          "of \"%V\" are invalidated when it is back",
                          &tag);
        }
    }

    call->handler(call);
}


static void
ngx_http_confhaven_op_invalidated(ngx_http_confhaven_redis_op_t *rop,
    redisReply *reply)
{
    ngx_http_confhaven_op_call_t  *call = rop->data;

    call->rop = NULL;

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_WARN, call->log, 0,
                      "confhaven cache: invalidation not confirmed, "
                      "entries of \"%s\" are invalidated again when Redis "
                      "answers", call->values[0]);
    }

    call->handler(call);
}


/*
 * The one SQLSTATE map.  Our functions raise CHnnn (nnn an HTTP status)
 * and 22xxx for input they refuse; their message and hint are written
 * for the caller.  Anything else is ours to log, never to show.  CH403
 * is a request beyond the organizer's tier (sql/functions/87_tiers.sql),
 * CH409 a name already taken.
 */

void
ngx_http_confhaven_op_classify(ngx_http_confhaven_op_call_t *call)
{
    u_char                         *s;
    ngx_int_t                       n;
    ngx_http_confhaven_fetch_t     *f;
    ngx_http_confhaven_op_error_t  *e;

    f = &call->fetch;
    e = &call->error;
    s = f->sqlstate.data;

    e->kind = NGX_HTTP_CONFHAVEN_OP_OK;
    e->status = 200;
    e->code = NULL;
    e->retry_after = 0;
    ngx_str_null(&e->tier);
    ngx_str_null(&e->required_tier);

    switch (f->status) {

    case NGX_HTTP_CONFHAVEN_PG_OK:
        if (f->value.len == 0) {
            e->kind = NGX_HTTP_CONFHAVEN_OP_E_NOT_FOUND;
            e->status = 404;
            e->code = "not_found";
            f->message.len = 0;
            f->hint.len = 0;
        }

        return;

    case NGX_HTTP_CONFHAVEN_PG_SQL_ERROR:
        if (f->sqlstate.len == 5 && s[0] == 'C' && s[1] == 'H') {
            n = ngx_atoi(s + 2, 3);

            if (n == 401) {
                e->kind = NGX_HTTP_CONFHAVEN_OP_E_AUTH;
                e->status = 401;
                e->code = "unauthorized";

            } else if (n == 404) {
                e->kind = NGX_HTTP_CONFHAVEN_OP_E_NOT_FOUND;
                e->status = 404;
                e->code = "not_found";

            } else if (n == 422) {
                e->kind = NGX_HTTP_CONFHAVEN_OP_E_INVALID;
                e->status = 422;
                e->code = "invalid_schedule";

            } else if (n == 403) {
                e->kind = NGX_HTTP_CONFHAVEN_OP_E_TIER;
                e->status = 403;
                e->code = "tier_limit";
                ngx_http_confhaven_op_tier_detail(&f->detail, e);

            } else if (n == 409) {
                e->kind = NGX_HTTP_CONFHAVEN_OP_E_INPUT;
                e->status = 409;
                e->code = "slug_taken";

            } else {
                e->kind = NGX_HTTP_CONFHAVEN_OP_E_INPUT;
                e->status = 400;
                e->code = "bad_parameter";
            }

            return;
        }

        if (f->sqlstate.len == 5 && s[0] == '2' && s[1] == '2') {
            e->kind = NGX_HTTP_CONFHAVEN_OP_E_INPUT;
            e->status = 400;
            e->code = "bad_parameter";
            return;
        }

        if (f->sqlstate.len == 5 && ngx_strncmp(s, "57014", 5) == 0) {
            e->kind = NGX_HTTP_CONFHAVEN_OP_E_TIMEOUT;
            e->status = 504;
            e->code = "timeout";
            return;
        }

        if (f->sqlstate.len == 5
            && (ngx_strncmp(s, "42883", 5) == 0
                || ngx_strncmp(s, "42P01", 5) == 0
                || ngx_strncmp(s, "3F000", 5) == 0))
        {
            e->kind = NGX_HTTP_CONFHAVEN_OP_E_SCHEMA;
            e->status = 503;
            e->code = "schema_missing";
            return;
        }

        e->kind = NGX_HTTP_CONFHAVEN_OP_E_INTERNAL;
        e->status = 503;
        e->code = "database_error";
        return;

    case NGX_HTTP_CONFHAVEN_PG_TIMEOUT:
        e->kind = NGX_HTTP_CONFHAVEN_OP_E_TIMEOUT;
        e->status = 504;
        e->code = "timeout";
        return;

    case NGX_HTTP_CONFHAVEN_PG_BUSY:
        e->kind = NGX_HTTP_CONFHAVEN_OP_E_BUSY;
        e->status = 503;
        e->code = "database_busy";
        return;

    default:
        e->kind = NGX_HTTP_CONFHAVEN_OP_E_DOWN;
        e->status = 503;
        e->code = "database_unavailable";
        return;
    }
}


/* "tier=free;required_tier=pro" (87_tiers.sql): the values, not copied */

static void
ngx_http_confhaven_op_tier_detail(ngx_str_t *detail,
    ngx_http_confhaven_op_error_t *e)
{
    u_char  *p, *last, *semi;

    p = detail->data;
    last = p + detail->len;

    if (detail->len < sizeof("tier=;required_tier=") - 1
        || ngx_strncmp(p, "tier=", 5) != 0)
    {
        return;
    }

    p += 5;

    semi = ngx_strlchr(p, last, ';');
    if (semi == NULL
        || (size_t) (last - semi) < sizeof(";required_tier=") - 1
        || ngx_strncmp(semi, ";required_tier=", 15) != 0)
    {
        return;
    }

    e->tier.data = p;
    e->tier.len = semi - p;
    e->required_tier.data = semi + 15;
    e->required_tier.len = last - (semi + 15);
}


/* ------------------------------------------- outcomes of step operations */


void
ngx_http_confhaven_op_answer(ngx_http_confhaven_op_call_t *call,
    json_t *root, ngx_msec_t started, const char *part)
{
    char                        *s;
    ngx_http_confhaven_fetch_t  *f;

    f = &call->fetch;

    s = root ? json_dumps(root, JSON_COMPACT) : NULL;
    if (s == NULL) {
        goto failed;
    }

    f->value.len = ngx_strlen(s);
    f->value.data = ngx_pnalloc(call->pool, f->value.len);
    if (f->value.data == NULL) {
        free(s);
        goto failed;
    }

    ngx_memcpy(f->value.data, s, f->value.len);
    free(s);

    f->status = NGX_HTTP_CONFHAVEN_PG_OK;
    f->count = 1;
    f->db_used = 1;
    f->elapsed = ngx_current_msec - started;
    f->message.len = 0;
    f->hint.len = 0;
    f->sqlstate.len = 0;

    call->error.kind = NGX_HTTP_CONFHAVEN_OP_OK;
    call->error.status = 200;
    call->error.code = NULL;
    call->error.retry_after = 0;

    call->handler(call);
    return;

failed:

    ngx_http_confhaven_op_fail_internal(call, part);
}


void
ngx_http_confhaven_op_vfail(ngx_http_confhaven_op_call_t *call,
    const char *part, ngx_uint_t kind, ngx_uint_t status, const char *code,
    ngx_uint_t retry_after, const char *hint, const char *fmt, va_list args)
{
    u_char                      *p;
    ngx_http_confhaven_fetch_t  *f;

    f = &call->fetch;

    p = ngx_pnalloc(call->pool, NGX_HTTP_CONFHAVEN_OP_MESSAGE_LEN);

    if (p) {
        f->message.len = ngx_vslprintf(p, p + NGX_HTTP_CONFHAVEN_OP_MESSAGE_LEN,
                                       fmt, args)
                         - p;
        f->message.data = p;

    } else {
        ngx_str_set(&f->message, "out of memory");
    }

    if (hint) {
        f->hint.data = (u_char *) hint;
        f->hint.len = ngx_strlen(hint);

    } else {
        f->hint.len = 0;
    }

    f->status = NGX_HTTP_CONFHAVEN_PG_OK;
    f->sqlstate.len = 0;
    f->value.len = 0;

    if (kind == NGX_HTTP_CONFHAVEN_OP_E_INTERNAL) {
        ngx_log_error(NGX_LOG_ERR, call->log, 0, "confhaven %s: %V", part,
                      &f->message);
        ngx_str_set(&f->sqlstate, "XX000");
    }

    call->error.kind = kind;
    call->error.status = status;
    call->error.code = code;
    call->error.retry_after = retry_after;

    call->handler(call);
}


static void
ngx_http_confhaven_op_fail_internal(ngx_http_confhaven_op_call_t *call,
    const char *part, ...)
{
    va_list  args;

    va_start(args, part);
    ngx_http_confhaven_op_vfail(call, part, NGX_HTTP_CONFHAVEN_OP_E_INTERNAL,
                                503, "internal_error", 0, NULL,
                                "out of memory", args);
    va_end(args);
}
