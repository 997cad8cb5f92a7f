
/*
 * Copyright (C) ConferenceHaven
 */


/*
 * The read path shared by REST and MCP: Redis first (one MGET of the
 * entry and the invalidation generation), then PostgreSQL through a
 * per-worker "flight" so that concurrent misses of one key run a single
 * query, then the answer stored back in Redis unless an import changed
 * the data meanwhile.  Entries are tagged with the conference they
 * depend on ("*" for answers spanning conferences); an import deletes
 * exactly its tags.
 *
 * A Redis value is "<expires msec since epoch> <count>\n<json>": Redis
 * keeps it a little longer than its TTL so that an expired entry is
 * reported as EXPIRED rather than MISS.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <ngx_sha1.h>

#include "ngx_http_confhaven_cache.h"


#define NGX_HTTP_CONFHAVEN_CACHE_PREFIX  "confhaven:v1:"
#define NGX_HTTP_CONFHAVEN_CACHE_GEN     "confhaven:v1:generation"

/*
 * The generation outlives any entry by far; when it expires, GET gives
 * '0' and a store that saw another value is refused, which is safe.
 */
#define NGX_HTTP_CONFHAVEN_CACHE_GEN_TTL  "604800"

/* larger answers are not cached: every Redis value stays bounded */
#define NGX_HTTP_CONFHAVEN_CACHE_MAX_ENTRY  (1024 * 1024)

#define NGX_HTTP_CONFHAVEN_CACHE_GRACE   60        /* seconds kept past TTL */


struct ngx_http_confhaven_cache_s {
    ngx_http_confhaven_pg_pool_t      *pg;
    ngx_http_confhaven_redis_t        *redis;
    ngx_rbtree_t                       flights;
    ngx_rbtree_node_t                  sentinel;
    ngx_log_t                         *log;
};


struct ngx_http_confhaven_flight_s {
    ngx_str_node_t                     node;       /* key */
    ngx_pool_t                        *pool;
    ngx_http_confhaven_cache_t        *cache;
    ngx_http_confhaven_pg_op_t         op;
    ngx_queue_t                        waiters;
    ngx_str_t                          rkey;
    ngx_str_t                          gen;
    ngx_msec_t                         ttl;
    unsigned                           gen_known:1;
    unsigned                           keyed:1;
};


static void ngx_http_confhaven_fetch_cleanup(void *data);
static void ngx_http_confhaven_fetch_cache_reply(
    ngx_http_confhaven_redis_op_t *op, redisReply *reply);
static void ngx_http_confhaven_fetch_db(ngx_http_confhaven_fetch_t *f,
    ngx_http_confhaven_cache_t *cache);
static void ngx_http_confhaven_flight_done(ngx_http_confhaven_pg_op_t *op);
static void ngx_http_confhaven_cache_put(ngx_http_confhaven_cache_t *cache,
    ngx_str_t *rkey, ngx_str_t *gen, ngx_str_t *value, ngx_str_t *count,
    ngx_str_t *tag, ngx_msec_t ttl, ngx_log_t *log);
static void ngx_http_confhaven_fetch_complete(ngx_http_confhaven_fetch_t *f);
static void ngx_http_confhaven_cache_ignore(ngx_http_confhaven_redis_op_t *op,
    redisReply *reply);
static ngx_int_t ngx_http_confhaven_str_copy(ngx_pool_t *p, ngx_str_t *dst,
    ngx_str_t *src);
static ngx_msec_t ngx_http_confhaven_cache_now(void);


/* KEYS: entry, generation, tag set; ARGV: generation seen, value, ttl */
static const char  ngx_http_confhaven_cache_store_lua[] =
    "if (redis.call('GET', KEYS[2]) or '0') ~= ARGV[1] then return 0 end "
    "redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3]) "
    "redis.call('SADD', KEYS[3], KEYS[1]) "
    "if redis.call('TTL', KEYS[3]) < tonumber(ARGV[3]) then "
    "redis.call('EXPIRE', KEYS[3], ARGV[3]) end "
    "return 1";

/*
 * KEYS: generation, tag sets; ARGV: the generation's TTL.  Deleting comes
 * first and frees memory: a Redis out of memory refuses INCR, and the
 * entries must go regardless.
 */
static const char  ngx_http_confhaven_cache_invalidate_lua[] =
    "local n = 0 "
    "for i = 2, #KEYS do "
    "local m = redis.call('SMEMBERS', KEYS[i]) "
    "for _, k in ipairs(m) do n = n + redis.call('DEL', k) end "
    "redis.call('DEL', KEYS[i]) end "
    "redis.pcall('INCR', KEYS[1]) "
    "redis.pcall('EXPIRE', KEYS[1], ARGV[1]) "
    "return n";


ngx_http_confhaven_cache_t *
ngx_http_confhaven_cache_create(ngx_cycle_t *cycle,
    ngx_http_confhaven_pg_pool_t *pg, ngx_http_confhaven_redis_t *redis)
{
    ngx_http_confhaven_cache_t  *cache;

    cache = ngx_pcalloc(cycle->pool, sizeof(ngx_http_confhaven_cache_t));
    if (cache == NULL) {
        return NULL;
    }

    cache->pg = pg;
    cache->redis = redis;
    cache->log = cycle->log;
    ngx_rbtree_init(&cache->flights, &cache->sentinel,
                    ngx_str_rbtree_insert_value);

    return cache;
}


/* "ok", "connecting", "unavailable" or "not_configured": Redis's */

const char *
ngx_http_confhaven_cache_state(ngx_http_confhaven_cache_t *cache)
{
    return ngx_http_confhaven_redis_state(cache ? cache->redis : NULL);
}


const char *
ngx_http_confhaven_cache_status_name(ngx_uint_t status)
{
    switch (status) {
    case NGX_HTTP_CONFHAVEN_CACHE_HIT:
        return "HIT";
    case NGX_HTTP_CONFHAVEN_CACHE_MISS:
        return "MISS";
    case NGX_HTTP_CONFHAVEN_CACHE_EXPIRED:
        return "EXPIRED";
    case NGX_HTTP_CONFHAVEN_CACHE_BYPASS:
        return "BYPASS";
    default:
        return NULL;
    }
}


/*
 * Starts the fetch; f->handler runs exactly once, later or before this
 * returns (the database is down and the pool says so at once).  The
 * caller owns its request: a handler that runs while the caller is still
 * on the stack must not finalize it (see the front ends).
 */

ngx_int_t
ngx_http_confhaven_cache_fetch(ngx_http_confhaven_fetch_t *f)
{
    u_char                         *p;
    u_char                          hash[20];
    ngx_sha1_t                      sha1;
    const char                     *argv[3];
    size_t                          argvlen[3];
    ngx_pool_cleanup_t             *cln;
    ngx_http_confhaven_cache_t     *cache;
    ngx_http_confhaven_redis_op_t  *rop;

    cln = ngx_pool_cleanup_add(f->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_confhaven_fetch_cleanup;
    cln->data = f;

    cache = f->cache;

    f->cache_status = NGX_HTTP_CONFHAVEN_CACHE_NONE;
    f->active = 1;

    if (f->key.len == 0 || !f->use_cache || cache->redis == NULL) {
        ngx_http_confhaven_fetch_db(f, cache);
        return NGX_OK;
    }

    /* a fixed-size key: any bytes a client sends stay out of Redis keys */

    ngx_sha1_init(&sha1);
    ngx_sha1_update(&sha1, f->key.data, f->key.len);
    ngx_sha1_final(hash, &sha1);

    f->rkey.len = sizeof(NGX_HTTP_CONFHAVEN_CACHE_PREFIX) - 1 + 40;
    f->rkey.data = ngx_pnalloc(f->pool, f->rkey.len);
    if (f->rkey.data == NULL) {
        f->cache_status = NGX_HTTP_CONFHAVEN_CACHE_BYPASS;
        ngx_http_confhaven_fetch_db(f, cache);
        return NGX_OK;
    }

    p = ngx_cpymem(f->rkey.data, NGX_HTTP_CONFHAVEN_CACHE_PREFIX,
                   sizeof(NGX_HTTP_CONFHAVEN_CACHE_PREFIX) - 1);
    ngx_hex_dump(p, hash, 20);

    rop = ngx_http_confhaven_redis_op(cache->redis,
                                      ngx_http_confhaven_fetch_cache_reply, f);
    if (rop == NULL) {
        f->cache_status = NGX_HTTP_CONFHAVEN_CACHE_BYPASS;
        ngx_http_confhaven_fetch_db(f, cache);
        return NGX_OK;
    }

    argv[0] = "MGET";
    argvlen[0] = 4;
    argv[1] = (const char *) f->rkey.data;
    argvlen[1] = f->rkey.len;
    argv[2] = NGX_HTTP_CONFHAVEN_CACHE_GEN;
    argvlen[2] = sizeof(NGX_HTTP_CONFHAVEN_CACHE_GEN) - 1;

    if (ngx_http_confhaven_redis_command(rop, 3, argv, argvlen) != NGX_OK) {
        f->cache_status = NGX_HTTP_CONFHAVEN_CACHE_BYPASS;
        ngx_http_confhaven_fetch_db(f, cache);
        return NGX_OK;
    }

    f->rop = rop;

    return NGX_OK;
}


static void
ngx_http_confhaven_fetch_cache_reply(ngx_http_confhaven_redis_op_t *op,
    redisReply *reply)
{
    u_char                          *p, *last, *sp, *nl;
    ngx_msec_t                       now;
    ngx_str_t                        body;
    ngx_int_t                        expires, count;
    redisReply                      *v, *g;
    ngx_http_confhaven_fetch_t      *f;
    ngx_http_confhaven_cache_t      *cache;

    f = op->data;
    f->rop = NULL;
    cache = f->cache;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements != 2)
    {
        f->cache_status = NGX_HTTP_CONFHAVEN_CACHE_BYPASS;
        ngx_http_confhaven_fetch_db(f, cache);
        return;
    }

    v = reply->element[0];
    g = reply->element[1];

    if (g->type == REDIS_REPLY_STRING) {
        body.data = (u_char *) g->str;
        body.len = g->len;

    } else {
        ngx_str_set(&body, "0");
    }

    if (ngx_http_confhaven_str_copy(f->pool, &f->gen, &body) == NGX_OK) {
        f->gen_known = 1;
    }

    f->cache_status = NGX_HTTP_CONFHAVEN_CACHE_MISS;

    if (v->type != REDIS_REPLY_STRING) {
        ngx_http_confhaven_fetch_db(f, cache);
        return;
    }

    p = (u_char *) v->str;
    last = p + v->len;
    sp = ngx_strlchr(p, last, ' ');
    nl = ngx_strlchr(p, last, '\n');

    if (sp == NULL || nl == NULL || sp > nl) {
        ngx_log_error(NGX_LOG_WARN, f->log, 0,
                      "confhaven cache: malformed entry \"%V\" ignored",
                      &f->rkey);
        ngx_http_confhaven_fetch_db(f, cache);
        return;
    }

    expires = ngx_atoi(p, sp - p);
    count = ngx_atoi(sp + 1, nl - sp - 1);

    now = ngx_http_confhaven_cache_now();

    if (expires == NGX_ERROR || (ngx_msec_t) expires <= now) {
        f->cache_status = NGX_HTTP_CONFHAVEN_CACHE_EXPIRED;
        ngx_http_confhaven_fetch_db(f, cache);
        return;
    }

    body.data = nl + 1;
    body.len = last - (nl + 1);

    if (ngx_http_confhaven_str_copy(f->pool, &f->value, &body) != NGX_OK) {
        f->cache_status = NGX_HTTP_CONFHAVEN_CACHE_BYPASS;
        ngx_http_confhaven_fetch_db(f, cache);
        return;
    }

    f->cache_status = NGX_HTTP_CONFHAVEN_CACHE_HIT;
    f->status = NGX_HTTP_CONFHAVEN_PG_OK;
    f->count = count;

    ngx_http_confhaven_fetch_complete(f);
}


static void
ngx_http_confhaven_fetch_db(ngx_http_confhaven_fetch_t *f,
    ngx_http_confhaven_cache_t *cache)
{
    uint32_t                      hash;
    ngx_uint_t                    i;
    ngx_pool_t                   *pool;
    ngx_str_node_t               *sn;
    ngx_http_confhaven_flight_t  *fl;

    if (f->sql == NULL) {
        /* a derived entry: a miss is for its owner to fill */
        f->status = NGX_HTTP_CONFHAVEN_PG_OK;
        f->value.len = 0;
        ngx_http_confhaven_fetch_complete(f);
        return;
    }

    f->db_used = 1;

    if (f->key.len) {
        hash = ngx_crc32_short(f->key.data, f->key.len);
        sn = ngx_str_rbtree_lookup(&cache->flights, &f->key, hash);

        fl = (ngx_http_confhaven_flight_t *) sn;

        /*
         * The same question is on its way to the database: join it,
         * unless it was asked before the data last changed (an import
         * moved the generation on since).
         */

        if (fl
            && !(f->gen_known && fl->gen_known
                 && (f->gen.len != fl->gen.len
                     || ngx_memcmp(f->gen.data, fl->gen.data, f->gen.len)
                        != 0)))
        {
            f->flight = fl;
            ngx_queue_insert_tail(&fl->waiters, &f->queue);
            return;
        }
    }

    /*
     * The flight lives in a pool of its own: it must survive the request
     * that started it, whose client may leave before the others.
     */

    pool = ngx_create_pool(4096, cache->log);
    if (pool == NULL) {
        goto failed;
    }

    fl = ngx_pcalloc(pool, sizeof(ngx_http_confhaven_flight_t));
    if (fl == NULL) {
        ngx_destroy_pool(pool);
        goto failed;
    }

    fl->pool = pool;
    fl->cache = cache;
    fl->ttl = f->ttl;
    ngx_queue_init(&fl->waiters);

    if (ngx_http_confhaven_str_copy(pool, &fl->node.str, &f->key) != NGX_OK
        || ngx_http_confhaven_str_copy(pool, &fl->rkey, &f->rkey) != NGX_OK
        || ngx_http_confhaven_str_copy(pool, &fl->gen, &f->gen) != NGX_OK)
    {
        ngx_destroy_pool(pool);
        goto failed;
    }

    fl->gen_known = f->gen_known;

    fl->op.sql = f->sql;    /* static operation tables */
    fl->op.nparams = f->nparams;
    fl->op.timeout = f->timeout;

    for (i = 0; i < f->nparams; i++) {
        if (f->values[i] == NULL) {
            continue;
        }

        fl->op.values[i] = (char *) ngx_pstrdup(pool,
                                &(ngx_str_t) { ngx_strlen(f->values[i]) + 1,
                                               (u_char *) f->values[i] });
        if (fl->op.values[i] == NULL) {
            ngx_destroy_pool(pool);
            goto failed;
        }
    }

    fl->op.handler = ngx_http_confhaven_flight_done;
    fl->op.data = fl;
    fl->op.pool = pool;
    fl->op.log = cache->log;

    if (f->key.len) {
        fl->node.node.key = ngx_crc32_short(f->key.data, f->key.len);
        ngx_rbtree_insert(&cache->flights, &fl->node.node);
        fl->keyed = 1;
    }

    f->flight = fl;
    ngx_queue_insert_tail(&fl->waiters, &f->queue);

    if (ngx_http_confhaven_pg_query(cache->pg, &fl->op) == NGX_ERROR) {
        ngx_http_confhaven_flight_done(&fl->op);
    }

    return;

failed:

    f->status = NGX_HTTP_CONFHAVEN_PG_UNAVAILABLE;
    ngx_str_set(&f->message, "out of memory");
    ngx_http_confhaven_fetch_complete(f);
}


static void
ngx_http_confhaven_flight_done(ngx_http_confhaven_pg_op_t *op)
{
    ngx_int_t                     n;
    ngx_queue_t                  *q;
    ngx_pool_t                   *p;
    ngx_http_confhaven_fetch_t   *f;
    ngx_http_confhaven_flight_t  *fl;

    fl = op->data;

    if (fl->keyed) {
        ngx_rbtree_delete(&fl->cache->flights, &fl->node.node);
        fl->keyed = 0;
    }

    if (op->status == NGX_HTTP_CONFHAVEN_PG_OK && !op->got_null
        && op->value.len && fl->rkey.len && fl->gen_known)
    {
        ngx_http_confhaven_cache_put(fl->cache, &fl->rkey, &fl->gen,
                                     &op->value, &op->value2, &op->value3,
                                     fl->ttl, fl->cache->log);
    }

    n = op->value2.len ? ngx_atoi(op->value2.data, op->value2.len) : -1;

    while (!ngx_queue_empty(&fl->waiters)) {
        q = ngx_queue_head(&fl->waiters);
        ngx_queue_remove(q);
        f = ngx_queue_data(q, ngx_http_confhaven_fetch_t, queue);
        f->flight = NULL;

        /* each caller gets its own copy: the flight dies now */
        p = f->pool;

        f->status = op->status;
        f->elapsed = op->elapsed;
        f->count = (n == NGX_ERROR) ? -1 : n;

        if (op->got_null) {
            f->value.len = 0;

        } else if (ngx_http_confhaven_str_copy(p, &f->value, &op->value)
                   != NGX_OK)
        {
            f->status = NGX_HTTP_CONFHAVEN_PG_UNAVAILABLE;
        }

        (void) ngx_http_confhaven_str_copy(p, &f->sqlstate, &op->sqlstate);
        (void) ngx_http_confhaven_str_copy(p, &f->message, &op->message);
        (void) ngx_http_confhaven_str_copy(p, &f->hint, &op->hint);
        (void) ngx_http_confhaven_str_copy(p, &f->tag, &op->value3);

        ngx_http_confhaven_fetch_complete(f);
    }

    ngx_destroy_pool(fl->pool);
}


/*
 * Stores "value" under rkey unless the generation moved on since gen was
 * read.  Its own pool: the arguments are copied by hiredis at once.
 */

static void
ngx_http_confhaven_cache_put(ngx_http_confhaven_cache_t *cache,
    ngx_str_t *rkey, ngx_str_t *gen, ngx_str_t *val, ngx_str_t *cnt,
    ngx_str_t *tg, ngx_msec_t ttl_ms, ngx_log_t *log)
{
    u_char                         *p, *value, *ttl, *tagkey;
    size_t                          len, tlen;
    ngx_msec_t                      now;
    ngx_str_t                       tag, count;
    ngx_pool_t                     *pool;
    const char                     *argv[9];
    size_t                          argvlen[9];
    ngx_http_confhaven_redis_op_t  *rop;

    if (cache->redis == NULL
        || !ngx_http_confhaven_redis_ready(cache->redis))
    {
        return;
    }

    if (val->len > NGX_HTTP_CONFHAVEN_CACHE_MAX_ENTRY) {
        /* served from the database each time, never a huge Redis value */
        return;
    }

    tag = *tg;
    if (tag.len == 0) {
        ngx_str_set(&tag, "*");
    }

    if (tag.len > 64) {
        return;
    }

    pool = ngx_create_pool(1024, log);
    if (pool == NULL) {
        return;
    }

    now = ngx_http_confhaven_cache_now();

    len = 2 * NGX_INT64_LEN + 2 + val->len;
    value = ngx_pnalloc(pool, len);
    ttl = ngx_pnalloc(pool, NGX_INT_T_LEN);
    tlen = sizeof(NGX_HTTP_CONFHAVEN_CACHE_PREFIX "tag:") - 1 + tag.len;
    tagkey = ngx_pnalloc(pool, tlen);

    if (value == NULL || ttl == NULL || tagkey == NULL) {
        ngx_destroy_pool(pool);
        return;
    }

    count = *cnt;
    if (count.len == 0) {
        ngx_str_set(&count, "-1");
    }

    p = ngx_sprintf(value, "%M %V\n", now + ttl_ms, &count);
    p = ngx_cpymem(p, val->data, val->len);

    argv[0] = "EVAL";
    argvlen[0] = 4;
    argv[1] = ngx_http_confhaven_cache_store_lua;
    argvlen[1] = sizeof(ngx_http_confhaven_cache_store_lua) - 1;
    argv[2] = "3";
    argvlen[2] = 1;
    argv[3] = (const char *) rkey->data;
    argvlen[3] = rkey->len;
    argv[4] = NGX_HTTP_CONFHAVEN_CACHE_GEN;
    argvlen[4] = sizeof(NGX_HTTP_CONFHAVEN_CACHE_GEN) - 1;

    ngx_sprintf(tagkey, NGX_HTTP_CONFHAVEN_CACHE_PREFIX "tag:%V", &tag);
    argv[5] = (const char *) tagkey;
    argvlen[5] = tlen;
    argv[6] = (const char *) gen->data;
    argvlen[6] = gen->len;
    argv[7] = (const char *) value;
    argvlen[7] = p - value;
    argv[8] = (const char *) ttl;
    argvlen[8] = ngx_sprintf(ttl, "%M",
                             ttl_ms / 1000 + NGX_HTTP_CONFHAVEN_CACHE_GRACE)
                 - ttl;

    rop = ngx_http_confhaven_redis_op(cache->redis,
                                      ngx_http_confhaven_cache_ignore, NULL);
    if (rop != NULL) {
        /* hiredis copies the arguments now */
        (void) ngx_http_confhaven_redis_command(rop, 9, argv, argvlen);
    }

    ngx_destroy_pool(pool);
}


/*
 * A derived entry (Redis-only fetch that missed): stored under the same
 * key with the generation that fetch saw, so an import since wins.
 */

void
ngx_http_confhaven_cache_store(ngx_http_confhaven_fetch_t *f,
    ngx_str_t *value, ngx_int_t count, ngx_str_t *tag)
{
    u_char     buf[NGX_INT_T_LEN];
    ngx_str_t  cnt;

    if (f->rkey.len == 0 || !f->gen_known || value->len == 0) {
        return;
    }

    cnt.data = buf;
    cnt.len = ngx_sprintf(buf, "%i", count) - buf;

    ngx_http_confhaven_cache_put(f->cache, &f->rkey, &f->gen, value, &cnt,
                                 tag, f->ttl, f->log);
}


static void
ngx_http_confhaven_cache_ignore(ngx_http_confhaven_redis_op_t *op,
    redisReply *reply)
{
    if (reply && reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "confhaven cache: Redis refused to store: %*s",
                      (size_t) reply->len, reply->str);
    }
}


/*
 * An import changed a conference: drop its entries and those spanning
 * conferences, and move the generation on so that answers computed from
 * the old data are not stored afterwards.
 */

ngx_int_t
ngx_http_confhaven_cache_invalidate(ngx_http_confhaven_cache_t *cache,
    ngx_str_t *tag, ngx_http_confhaven_redis_handler_pt handler, void *data,
    ngx_http_confhaven_redis_op_t **ropp)
{
    u_char                         *k2;
    u_char                          k1[sizeof(NGX_HTTP_CONFHAVEN_CACHE_PREFIX)
                                       + 4 + 64];
    const char                     *argv[7];
    size_t                          argvlen[7];
    ngx_http_confhaven_redis_op_t  *rop;

    if (cache->redis == NULL) {
        /* no cache to forget */
        return NGX_DECLINED;
    }

    if (tag->len > 64) {
        return NGX_ERROR;
    }

    rop = ngx_http_confhaven_redis_op(cache->redis, handler, data);
    if (rop == NULL) {
        return NGX_ERROR;
    }

    k2 = (u_char *) NGX_HTTP_CONFHAVEN_CACHE_PREFIX "tag:*";

    argv[0] = "EVAL";
    argvlen[0] = 4;
    argv[1] = ngx_http_confhaven_cache_invalidate_lua;
    argvlen[1] = sizeof(ngx_http_confhaven_cache_invalidate_lua) - 1;
    argv[2] = "3";
    argvlen[2] = 1;
    argv[3] = NGX_HTTP_CONFHAVEN_CACHE_GEN;
    argvlen[3] = sizeof(NGX_HTTP_CONFHAVEN_CACHE_GEN) - 1;
    argv[4] = (const char *) k1;
    argvlen[4] = ngx_sprintf(k1, NGX_HTTP_CONFHAVEN_CACHE_PREFIX "tag:%V",
                             tag)
                 - k1;
    argv[5] = (const char *) k2;
    argvlen[5] = ngx_strlen(k2);
    argv[6] = NGX_HTTP_CONFHAVEN_CACHE_GEN_TTL;
    argvlen[6] = sizeof(NGX_HTTP_CONFHAVEN_CACHE_GEN_TTL) - 1;

    *ropp = rop;

    /* not ready (reconnecting): an error, not "no cache" */
    return ngx_http_confhaven_redis_command(rop, 7, argv, argvlen) == NGX_OK
           ? NGX_OK : NGX_ERROR;
}


static void
ngx_http_confhaven_fetch_complete(ngx_http_confhaven_fetch_t *f)
{
    f->active = 0;
    f->handler(f);
}


void
ngx_http_confhaven_cache_fetch_cancel(ngx_http_confhaven_fetch_t *f)
{
    ngx_http_confhaven_fetch_cleanup(f);
}


static void
ngx_http_confhaven_fetch_cleanup(void *data)
{
    ngx_http_confhaven_fetch_t  *f = data;

    /* the request is going away: nothing may call back into it */

    if (f->rop) {
        ngx_http_confhaven_redis_cancel(f->rop);
        f->rop = NULL;
    }

    if (f->flight) {
        ngx_queue_remove(&f->queue);
        f->flight = NULL;
    }

    f->active = 0;
}


static ngx_int_t
ngx_http_confhaven_str_copy(ngx_pool_t *p, ngx_str_t *dst, ngx_str_t *src)
{
    if (src->len == 0) {
        dst->len = 0;
        dst->data = (u_char *) "";
        return NGX_OK;
    }

    dst->data = ngx_pnalloc(p, src->len);
    if (dst->data == NULL) {
        dst->len = 0;
        return NGX_ERROR;
    }

    ngx_memcpy(dst->data, src->data, src->len);
    dst->len = src->len;

    return NGX_OK;
}


/* wall-clock milliseconds: entries are shared between machines */

static ngx_msec_t
ngx_http_confhaven_cache_now(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (ngx_msec_t) tp->sec * 1000 + tp->msec;
}
