
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
 *
 * With confhaven_cache_local, each worker keeps what it read or stored
 * in a bounded LRU in front of Redis (a LOCAL hit), each entry no longer
 * than its Redis TTL.  It stays coherent through Redis pub/sub: the
 * invalidation script publishes on a channel every worker of every
 * instance subscribes to, and a message drops the worker's entries.  The
 * tier is used only while that subscription is known to hear: confirmed,
 * not reconnected since (messages may be lost in between), and a
 * heartbeat the worker publishes through its command connection to its
 * own second channel came back within confhaven_redis_timeout.  That is
 * how long an import waits for its invalidation, so a frozen Redis makes
 * the tier step aside, and empty itself, before an import can answer: an
 * invalidation that times out may never run (its connection dropped),
 * so no entry read before may be served after.  A subscription lost or
 * made again empties the tier.  An entry is stored only if no message
 * arrived since its read began, and pending messages are read before
 * every local lookup.
 *
 * An invalidation Redis did not confirm (down, stalled past the wait,
 * an error) is sent again every NGX_HTTP_CONFHAVEN_CACHE_RETRY ms by the
 * worker that made it, until Redis runs it: its entries, in Redis and,
 * through its message, in every worker's tier, do not wait for their TTL.
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

#define NGX_HTTP_CONFHAVEN_CACHE_CHANNEL  "confhaven:v1:invalidate"

/* how long a write waits for Redis to forget what it changed */
#define NGX_HTTP_CONFHAVEN_CACHE_INVALIDATE_TIMEOUT  5000
#define NGX_HTTP_CONFHAVEN_CACHE_ALIVE    "confhaven:v1:alive:"

/* the smallest confhaven_cache_local that is not "off" */
#define NGX_HTTP_CONFHAVEN_CACHE_LOCAL_MIN  (64 * 1024)

/* invalidations not yet confirmed that a worker keeps sending again */
#define NGX_HTTP_CONFHAVEN_CACHE_REDO     16
#define NGX_HTTP_CONFHAVEN_CACHE_RETRY    1000
#define NGX_HTTP_CONFHAVEN_CACHE_TAG_LEN  64


typedef struct {
    ngx_str_node_t                     node;       /* rkey */
    ngx_queue_t                        lru;
    ngx_msec_t                         expires;    /* wall clock */
    ngx_int_t                          count;
    ngx_str_t                          gen;
    ngx_str_t                          value;
    size_t                             size;
    ngx_uint_t                         refs;       /* requests reading it */
    unsigned                           dead:1;     /* out of the tier */
} ngx_http_confhaven_local_entry_t;


typedef struct {
    size_t                             max;
    size_t                             used;
    ngx_rbtree_t                       tree;
    ngx_rbtree_node_t                  sentinel;
    ngx_queue_t                        lru;        /* most recent first */
    ngx_http_confhaven_redis_t        *sub;
    ngx_uint_t                         epoch;      /* the sub's, last seen */
    ngx_uint_t                         seq;        /* flushes so far */
    ngx_msec_t                         lease;
    ngx_msec_t                         alive;      /* heartbeat sent then */
    ngx_event_t                        heartbeat;
    ngx_str_t                          channels[2];
    ngx_log_t                         *log;
    unsigned                           alive_seen:1;
} ngx_http_confhaven_local_t;


/*
 * An invalidation until Redis confirms it: sent for a write (whose
 * handler gets the reply), then, failed or unanswered past its deadline,
 * sent again by the retry timer.
 */

typedef struct {
    ngx_http_confhaven_cache_t          *cache;
    ngx_http_confhaven_redis_handler_pt  handler;   /* the write's, or NULL */
    void                                *data;
    ngx_msec_t                           deadline;  /* answered by then */
    size_t                               len;
    u_char                               tag[NGX_HTTP_CONFHAVEN_CACHE_TAG_LEN];
    unsigned                             used:1;
    unsigned                             retrying:1;
} ngx_http_confhaven_pending_t;


struct ngx_http_confhaven_cache_s {
    ngx_http_confhaven_pg_pool_t      *pg;
    ngx_http_confhaven_redis_t        *redis;
    ngx_rbtree_t                       flights;
    ngx_rbtree_node_t                  sentinel;
    ngx_log_t                         *log;
    ngx_http_confhaven_local_t        *local;      /* NULL: off */
    ngx_event_t                        retry;
    ngx_http_confhaven_pending_t       pending[NGX_HTTP_CONFHAVEN_CACHE_REDO];
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
    ngx_uint_t                         local_seq;
    unsigned                           gen_known:1;
    unsigned                           keyed:1;
    unsigned                           local_ok:1;
};


static void ngx_http_confhaven_fetch_cleanup(void *data);
static void ngx_http_confhaven_fetch_cache_reply(
    ngx_http_confhaven_redis_op_t *op, redisReply *reply);
static void ngx_http_confhaven_fetch_db(ngx_http_confhaven_fetch_t *f,
    ngx_http_confhaven_cache_t *cache);
static void ngx_http_confhaven_flight_done(ngx_http_confhaven_pg_op_t *op);
static void ngx_http_confhaven_cache_put(ngx_http_confhaven_cache_t *cache,
    ngx_http_confhaven_span_t *trace, ngx_str_t *rkey, ngx_str_t *gen,
    ngx_str_t *value, ngx_str_t *count, ngx_str_t *tag, ngx_msec_t ttl,
    ngx_log_t *log);
static void ngx_http_confhaven_fetch_complete(ngx_http_confhaven_fetch_t *f);
static void ngx_http_confhaven_fetch_db_span(ngx_http_confhaven_fetch_t *f);
static void ngx_http_confhaven_fetch_span_end(ngx_http_confhaven_fetch_t *f,
    ngx_uint_t error);
static void ngx_http_confhaven_cache_ignore(ngx_http_confhaven_redis_op_t *op,
    redisReply *reply);
static ngx_int_t ngx_http_confhaven_str_copy(ngx_pool_t *p, ngx_str_t *dst,
    ngx_str_t *src);
static ngx_msec_t ngx_http_confhaven_cache_now(void);
static ngx_uint_t ngx_http_confhaven_local_usable(
    ngx_http_confhaven_cache_t *cache, ngx_uint_t poll);
static ngx_int_t ngx_http_confhaven_local_get(
    ngx_http_confhaven_local_t *lc, ngx_http_confhaven_fetch_t *f);
static void ngx_http_confhaven_local_put(ngx_http_confhaven_cache_t *cache,
    ngx_uint_t ok, ngx_uint_t seq, ngx_str_t *rkey, ngx_msec_t expires,
    ngx_int_t count, ngx_str_t *gen, ngx_str_t *value);
static void ngx_http_confhaven_local_remove(ngx_http_confhaven_local_t *lc,
    ngx_http_confhaven_local_entry_t *e);
static void ngx_http_confhaven_local_flush(ngx_http_confhaven_local_t *lc);
static void ngx_http_confhaven_local_release(void *data);
static void ngx_http_confhaven_local_message(void *data, u_char *msg,
    size_t len);
static void ngx_http_confhaven_local_heartbeat(ngx_event_t *ev);
static void ngx_http_confhaven_local_sent(ngx_http_confhaven_redis_op_t *op,
    redisReply *reply);
static ngx_http_confhaven_redis_op_t *ngx_http_confhaven_cache_send_invalidate(
    ngx_http_confhaven_pending_t *pd, ngx_http_confhaven_redis_handler_pt h,
    ngx_http_confhaven_span_t *trace);
static void ngx_http_confhaven_cache_invalidated(
    ngx_http_confhaven_redis_op_t *rop, redisReply *reply);
static void ngx_http_confhaven_cache_retry(ngx_event_t *ev);
static void ngx_http_confhaven_cache_retried(
    ngx_http_confhaven_redis_op_t *rop, redisReply *reply);


/* KEYS: entry, generation, tag set; ARGV: generation seen, value, ttl */
static const char  ngx_http_confhaven_cache_store_lua[] =
    "if (redis.call('GET', KEYS[2]) or '0') ~= ARGV[1] then return 0 end "
    "redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3]) "
    "redis.call('SADD', KEYS[3], KEYS[1]) "
    "if redis.call('TTL', KEYS[3]) < tonumber(ARGV[3]) then "
    "redis.call('EXPIRE', KEYS[3], ARGV[3]) end "
    "return 1";

/*
 * KEYS: generation, tag sets; ARGV: the generation's TTL, the channel of
 * the workers' local tiers, the message.  Deleting comes first and frees
 * memory: a Redis out of memory refuses INCR, and the entries must go
 * regardless.  The message leaves with the reply: whoever learns that the
 * write is done has been preceded by it.
 */
static const char  ngx_http_confhaven_cache_invalidate_lua[] =
    "local n = 0 "
    "for i = 2, #KEYS do "
    "local m = redis.call('SMEMBERS', KEYS[i]) "
    "for _, k in ipairs(m) do n = n + redis.call('DEL', k) end "
    "redis.call('DEL', KEYS[i]) end "
    "redis.pcall('INCR', KEYS[1]) "
    "redis.pcall('EXPIRE', KEYS[1], ARGV[1]) "
    "redis.pcall('PUBLISH', ARGV[2], ARGV[3]) "
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

    cache->retry.handler = ngx_http_confhaven_cache_retry;
    cache->retry.data = cache;
    cache->retry.log = cycle->log;
    cache->retry.cancelable = 1;

    return cache;
}


/* "ok", "connecting", "unavailable" or "not_configured": Redis's */

const char *
ngx_http_confhaven_cache_state(ngx_http_confhaven_cache_t *cache)
{
    return ngx_http_confhaven_redis_state(cache ? cache->redis : NULL);
}


/* the local tier's subscriber connection; NULL without the local tier */

const char *
ngx_http_confhaven_cache_subscriber_state(ngx_http_confhaven_cache_t *cache)
{
    if (cache == NULL || cache->local == NULL || cache->local->sub == NULL) {
        return NULL;
    }

    return ngx_http_confhaven_redis_state(cache->local->sub);
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
    case NGX_HTTP_CONFHAVEN_CACHE_LOCAL:
        return "LOCAL";
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
    f->local_ok = 0;

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

    if (cache->local && ngx_http_confhaven_local_usable(cache, 1)) {
        f->local_ok = 1;
        f->local_seq = cache->local->seq;

        if (ngx_http_confhaven_local_get(cache->local, f) == NGX_OK) {
            ngx_http_confhaven_fetch_complete(f);
            return NGX_OK;
        }
    }

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

    f->span = ngx_http_confhaven_trace_child(f->pool, f->trace, "MGET", 4,
                                             NGX_HTTP_CONFHAVEN_SPAN_CLIENT);
    if (f->span) {
        ngx_http_confhaven_trace_str(f->span, "db.system",
                                     (u_char *) "redis", 5);
        ngx_http_confhaven_trace_str(f->span, "db.operation.name",
                                     (u_char *) "MGET", 4);
    }

    if (ngx_http_confhaven_redis_command(rop, 3, argv, argvlen) != NGX_OK) {
        ngx_http_confhaven_fetch_span_end(f, 1);
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

    ngx_http_confhaven_fetch_span_end(f, reply == NULL
                                         || reply->type == REDIS_REPLY_ERROR);

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

    ngx_http_confhaven_local_put(cache, f->local_ok, f->local_seq, &f->rkey,
                                 (ngx_msec_t) expires, count, &f->gen,
                                 &f->value);

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

    if (f->trace && f->trace->sampled) {
        ngx_http_confhaven_fetch_db_span(f);
    }

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
    fl->local_ok = f->local_ok;
    fl->local_seq = f->local_seq;

    fl->op.sql = f->sql;    /* static operation tables */
    fl->op.nparams = f->nparams;
    fl->op.timeout = f->timeout;
    fl->op.replica = f->read_only;

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
        /* in the trace of the first request waiting for it */
        f = ngx_queue_empty(&fl->waiters)
            ? NULL
            : ngx_queue_data(ngx_queue_head(&fl->waiters),
                             ngx_http_confhaven_fetch_t, queue);

        ngx_http_confhaven_cache_put(fl->cache, f ? f->trace : NULL,
                                     &fl->rkey, &fl->gen, &op->value,
                                     &op->value2, &op->value3, fl->ttl,
                                     fl->cache->log);
    }

    n = op->value2.len ? ngx_atoi(op->value2.data, op->value2.len) : -1;

    if (op->status == NGX_HTTP_CONFHAVEN_PG_OK && !op->got_null
        && op->value.len && fl->rkey.len && fl->gen_known)
    {
        ngx_http_confhaven_local_put(fl->cache, fl->local_ok, fl->local_seq,
                                     &fl->rkey,
                                     ngx_http_confhaven_cache_now() + fl->ttl,
                                     n == NGX_ERROR ? -1 : n, &fl->gen,
                                     &op->value);
    }

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
        (void) ngx_http_confhaven_str_copy(p, &f->detail, &op->detail);
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
    ngx_http_confhaven_span_t *trace, ngx_str_t *rkey, ngx_str_t *gen,
    ngx_str_t *val, ngx_str_t *cnt, ngx_str_t *tg, ngx_msec_t ttl_ms,
    ngx_log_t *log)
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
        ngx_http_confhaven_redis_trace(rop, trace);

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

    ngx_http_confhaven_cache_put(f->cache, f->trace, &f->rkey, &f->gen,
                                 value, &cnt, tag, f->ttl, f->log);

    ngx_http_confhaven_local_put(f->cache, f->local_ok, f->local_seq,
                                 &f->rkey,
                                 ngx_http_confhaven_cache_now() + f->ttl,
                                 count, &f->gen, value);
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
    ngx_http_confhaven_redis_op_t **ropp, ngx_http_confhaven_span_t *trace)
{
    ngx_uint_t                      i;
    ngx_http_confhaven_pending_t   *pd, once;
    ngx_http_confhaven_redis_op_t  *rop;

    if (cache->local) {
        /*
         * This worker forgets at once; a read it began before is not
         * stored any more, and one it begins now reaches Redis after the
         * invalidation.  The others hear the message.
         */
        ngx_http_confhaven_local_flush(cache->local);
    }

    if (cache->redis == NULL) {
        /* no cache to forget */
        return NGX_DECLINED;
    }

    if (tag->len > NGX_HTTP_CONFHAVEN_CACHE_TAG_LEN) {
        return NGX_ERROR;
    }

    pd = NULL;

    for (i = 0; i < NGX_HTTP_CONFHAVEN_CACHE_REDO; i++) {
        if (!cache->pending[i].used) {
            pd = &cache->pending[i];
            break;
        }
    }

    if (pd == NULL) {
        ngx_log_error(NGX_LOG_WARN, cache->log, 0,
                      "confhaven cache: %ui invalidations wait for Redis "
                      "already; entries of \"%V\" are not retried",
                      (ngx_uint_t) NGX_HTTP_CONFHAVEN_CACHE_REDO, tag);

        /* one attempt, not kept */
        ngx_memzero(&once, sizeof(ngx_http_confhaven_pending_t));
        once.cache = cache;
        once.len = tag->len;
        ngx_memcpy(once.tag, tag->data, tag->len);

        rop = ngx_http_confhaven_cache_send_invalidate(&once, handler,
                                                       trace);
        if (rop == NULL) {
            return NGX_ERROR;
        }

        rop->data = data;
        *ropp = rop;

        return NGX_OK;
    }

    pd->cache = cache;
    pd->used = 1;
    pd->retrying = 0;
    pd->len = tag->len;
    ngx_memcpy(pd->tag, tag->data, tag->len);

    rop = ngx_http_confhaven_cache_send_invalidate(pd,
                                      ngx_http_confhaven_cache_invalidated,
                                      trace);

    if (!cache->retry.timer_set) {
        ngx_add_timer(&cache->retry, NGX_HTTP_CONFHAVEN_CACHE_RETRY);
    }

    if (rop == NULL) {
        /* not ready (reconnecting): an error, not "no cache"; retried */
        pd->handler = NULL;
        pd->deadline = ngx_current_msec;
        return NGX_ERROR;
    }

    /*
     * The write that changed the data answers only once Redis has run
     * this (and published it to every worker's local tier): a Redis that
     * is merely slow must not let the answer overtake the invalidation.
     * A read gives up after confhaven_redis_timeout; this waits longer.
     * Past that (the write may have gone away and cancelled the reply),
     * the retry timer takes over.
     */

    pd->handler = handler;
    pd->data = data;
    pd->deadline = ngx_current_msec
                   + NGX_HTTP_CONFHAVEN_CACHE_INVALIDATE_TIMEOUT
                   + NGX_HTTP_CONFHAVEN_CACHE_RETRY;

    *ropp = rop;

    return NGX_OK;
}


/* the EVAL of one invalidation; NULL: Redis cannot take it now */

static ngx_http_confhaven_redis_op_t *
ngx_http_confhaven_cache_send_invalidate(ngx_http_confhaven_pending_t *pd,
    ngx_http_confhaven_redis_handler_pt handler,
    ngx_http_confhaven_span_t *trace)
{
    u_char                         *k2;
    u_char                          k1[sizeof(NGX_HTTP_CONFHAVEN_CACHE_PREFIX)
                                       + 4
                                       + NGX_HTTP_CONFHAVEN_CACHE_TAG_LEN];
    u_char                          msg[sizeof("invalidate ")
                                        + NGX_HTTP_CONFHAVEN_CACHE_TAG_LEN];
    const char                     *argv[9];
    size_t                          argvlen[9];
    ngx_http_confhaven_redis_op_t  *rop;

    rop = ngx_http_confhaven_redis_op(pd->cache->redis, handler, pd);
    if (rop == NULL) {
        return NULL;
    }

    rop->timeout = NGX_HTTP_CONFHAVEN_CACHE_INVALIDATE_TIMEOUT;
    ngx_http_confhaven_redis_trace(rop, trace);

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
    argvlen[4] = ngx_sprintf(k1, NGX_HTTP_CONFHAVEN_CACHE_PREFIX "tag:%*s",
                             pd->len, pd->tag)
                 - k1;
    argv[5] = (const char *) k2;
    argvlen[5] = ngx_strlen(k2);
    argv[6] = NGX_HTTP_CONFHAVEN_CACHE_GEN_TTL;
    argvlen[6] = sizeof(NGX_HTTP_CONFHAVEN_CACHE_GEN_TTL) - 1;
    argv[7] = NGX_HTTP_CONFHAVEN_CACHE_CHANNEL;
    argvlen[7] = sizeof(NGX_HTTP_CONFHAVEN_CACHE_CHANNEL) - 1;
    argv[8] = (const char *) msg;
    argvlen[8] = ngx_sprintf(msg, "invalidate %*s", pd->len, pd->tag) - msg;

    /* hiredis copies the arguments now */
    if (ngx_http_confhaven_redis_command(rop, 9, argv, argvlen) != NGX_OK) {
        /* the op was given back (see ngx_http_confhaven_redis_command()) */
        return NULL;
    }

    return rop;
}


/* the write's invalidation answered (or timed out): confirmed or kept */

static void
ngx_http_confhaven_cache_invalidated(ngx_http_confhaven_redis_op_t *rop,
    redisReply *reply)
{
    void                                 *data;
    ngx_http_confhaven_pending_t         *pd = rop->data;
    ngx_http_confhaven_redis_handler_pt   handler;

    handler = pd->handler;
    data = pd->data;

    pd->handler = NULL;

    if (reply != NULL && reply->type != REDIS_REPLY_ERROR) {
        pd->used = 0;

    } else {
        /* the retry timer sends it again */
        pd->deadline = ngx_current_msec;
    }

    if (handler) {
        rop->data = data;
        handler(rop, reply);
    }
}


static void
ngx_http_confhaven_cache_retry(ngx_event_t *ev)
{
    ngx_uint_t                      i, n;
    ngx_http_confhaven_cache_t     *cache = ev->data;
    ngx_http_confhaven_pending_t   *pd;
    ngx_http_confhaven_redis_op_t  *rop;

    n = 0;

    for (i = 0; i < NGX_HTTP_CONFHAVEN_CACHE_REDO; i++) {
        pd = &cache->pending[i];

        if (!pd->used) {
            continue;
        }

        n++;

        if (pd->retrying
            || (ngx_msec_int_t) (ngx_current_msec - pd->deadline) < 0
            || !ngx_http_confhaven_redis_ready(cache->redis))
        {
            continue;
        }

        /* the write has its answer: from now on the reply is ours */
        pd->handler = NULL;

        /* a retry belongs to no request any more */
        rop = ngx_http_confhaven_cache_send_invalidate(pd,
                                          ngx_http_confhaven_cache_retried,
                                          NULL);
        if (rop != NULL) {
            pd->retrying = 1;
        }
    }

    if (n && !ngx_exiting && !ngx_quit && !ngx_terminate) {
        ngx_add_timer(ev, NGX_HTTP_CONFHAVEN_CACHE_RETRY);
    }
}


static void
ngx_http_confhaven_cache_retried(ngx_http_confhaven_redis_op_t *rop,
    redisReply *reply)
{
    ngx_http_confhaven_pending_t  *pd = rop->data;

    pd->retrying = 0;

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        return;
    }

    pd->used = 0;

    ngx_log_error(NGX_LOG_WARN, pd->cache->log, 0,
                  "confhaven cache: the invalidation of \"%*s\" that "
                  "Redis missed has run now", pd->len, pd->tag);
}


static void
ngx_http_confhaven_fetch_complete(ngx_http_confhaven_fetch_t *f)
{
    f->active = 0;

    ngx_http_confhaven_fetch_span_end(f,
                                      f->status != NGX_HTTP_CONFHAVEN_PG_OK);

    f->handler(f);
}


/*
 * A client span for the database query a fetch waits for (its own or a
 * flight it joins).  db.query.summary is the function the SQL calls,
 * never its parameters.
 */

static void
ngx_http_confhaven_fetch_db_span(ngx_http_confhaven_fetch_t *f)
{
    u_char  *p, *start, *last;
    size_t   len, oplen;
    u_char   summary[NGX_HTTP_CONFHAVEN_SPAN_NAME];

    p = (u_char *) f->sql;
    last = p + ngx_strlen(p);

    while (p < last && *p == ' ') {
        p++;
    }

    start = p;

    while (p < last && *p != ' ') {
        p++;
    }

    oplen = ngx_min((size_t) (p - start), sizeof(summary) - 1);
    ngx_memcpy(summary, start, oplen);
    len = oplen;

    /*
     * "SELECT r::text, ... FROM confhaven.api_search($1, ...) r": the
     * operation and the first function of our schema it calls
     */
    p = ngx_strlcasestrn(p, last, (u_char *) "confhaven.",
                         sizeof("confhaven.") - 1 - 1);

    if (p) {
        summary[len++] = ' ';

        while (p < last && len < sizeof(summary)
               && ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
                   || (*p >= '0' && *p <= '9') || *p == '_' || *p == '.'))
        {
            summary[len++] = *p++;
        }
    }

    f->span = ngx_http_confhaven_trace_child(f->pool, f->trace,
                                             (char *) summary, len,
                                             NGX_HTTP_CONFHAVEN_SPAN_CLIENT);

    ngx_http_confhaven_trace_str(f->span, "db.system",
                                 (u_char *) "postgresql", 10);
    ngx_http_confhaven_trace_str(f->span, "db.operation.name", start, oplen);
    ngx_http_confhaven_trace_str(f->span, "db.query.summary", summary, len);
}


static void
ngx_http_confhaven_fetch_span_end(ngx_http_confhaven_fetch_t *f,
    ngx_uint_t error)
{
    if (f->span == NULL) {
        return;
    }

    if (error) {
        ngx_http_confhaven_trace_error(f->span);
    }

    ngx_http_confhaven_trace_end(f->span);
    f->span = NULL;
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

    /* cancelled: the span ends here, marked as an error */
    ngx_http_confhaven_fetch_span_end(f, 1);

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


/*
 * The worker's tier in front of Redis (confhaven_cache_local); size 0 or
 * no Redis: off.
 */

ngx_int_t
ngx_http_confhaven_cache_local_init(ngx_http_confhaven_cache_t *cache,
    ngx_cycle_t *cycle, ngx_http_confhaven_redis_conf_t *rcf, size_t size)
{
    u_char                      *p;
    size_t                       len;
    ngx_http_confhaven_local_t  *lc;

    if (size == 0 || cache->redis == NULL) {
        return NGX_OK;
    }

    lc = ngx_pcalloc(cycle->pool, sizeof(ngx_http_confhaven_local_t));
    if (lc == NULL) {
        return NGX_ERROR;
    }

    lc->max = size;
    lc->lease = rcf->timeout;
    lc->log = cycle->log;
    ngx_rbtree_init(&lc->tree, &lc->sentinel, ngx_str_rbtree_insert_value);
    ngx_queue_init(&lc->lru);

    ngx_str_set(&lc->channels[0], NGX_HTTP_CONFHAVEN_CACHE_CHANNEL);

    /* the heartbeat's channel: this worker's alone, across instances */

    len = sizeof(NGX_HTTP_CONFHAVEN_CACHE_ALIVE) - 1 + 3 * NGX_INT_T_LEN + 2;

    p = ngx_pnalloc(cycle->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    lc->channels[1].data = p;
    lc->channels[1].len = ngx_sprintf(p, NGX_HTTP_CONFHAVEN_CACHE_ALIVE
                                      "%P:%T:%ui", ngx_pid, ngx_time(),
                                      (ngx_uint_t) ngx_random())
                          - p;

    lc->sub = ngx_http_confhaven_redis_subscribe_channels(cycle, rcf,
                                           lc->channels, 2,
                                           ngx_http_confhaven_local_message,
                                           cache);
    if (lc->sub == NULL) {
        return NGX_ERROR;
    }

    lc->heartbeat.handler = ngx_http_confhaven_local_heartbeat;
    lc->heartbeat.data = cache;
    lc->heartbeat.log = cycle->log;
    lc->heartbeat.cancelable = 1;

    ngx_add_timer(&lc->heartbeat, ngx_max(lc->lease / 4, 1));

    cache->local = lc;

    return NGX_OK;
}


void
ngx_http_confhaven_cache_local_exit(ngx_http_confhaven_cache_t *cache)
{
    ngx_http_confhaven_local_t  *lc;

    if (cache == NULL || cache->local == NULL) {
        return;
    }

    lc = cache->local;
    cache->local = NULL;

    if (lc->heartbeat.timer_set) {
        ngx_del_timer(&lc->heartbeat);
    }

    ngx_http_confhaven_redis_destroy(lc->sub);
    ngx_http_confhaven_local_flush(lc);
}


/* confhaven_cache_local size | off */

char *
ngx_http_confhaven_cache_local_conf(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    char  *p = conf;

    ssize_t     size;
    size_t     *sp;
    ngx_str_t  *value;

    sp = (size_t *) (p + cmd->offset);

    if (*sp != NGX_CONF_UNSET_SIZE) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        *sp = 0;
        return NGX_CONF_OK;
    }

    size = ngx_parse_size(&value[1]);

    if (size == NGX_ERROR || size < NGX_HTTP_CONFHAVEN_CACHE_LOCAL_MIN) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" must be \"off\" or a size of at least "
                           "64k, not \"%V\"", &cmd->name, &value[1]);
        return NGX_CONF_ERROR;
    }

    *sp = size;

    return NGX_CONF_OK;
}


/*
 * Whether the tier may be read and filled now; without a subscription
 * (or with a new one) it is emptied.  poll: read the messages that have
 * already arrived first.
 */

static ngx_uint_t
ngx_http_confhaven_local_usable(ngx_http_confhaven_cache_t *cache,
    ngx_uint_t poll)
{
    ngx_uint_t                   epoch;
    ngx_http_confhaven_local_t  *lc;

    lc = cache->local;

    if (poll) {
        ngx_http_confhaven_redis_poll(lc->sub);
    }

    if (!ngx_http_confhaven_redis_ready(lc->sub)) {
        lc->alive_seen = 0;
        goto deaf;
    }

    epoch = ngx_http_confhaven_redis_epoch(lc->sub);

    if (epoch != lc->epoch) {
        /* subscribed again: what was published meanwhile is lost */
        lc->epoch = epoch;
        lc->alive_seen = 0;
        goto deaf;
    }

    if (!lc->alive_seen
        || (ngx_msec_int_t) (ngx_current_msec - lc->alive)
           > (ngx_msec_int_t) lc->lease)
    {
        /*
         * Redis is slow or stalled: step aside, and forget.  What it
         * published meanwhile would arrive before the next heartbeat,
         * but an invalidation that times out may never run at all (its
         * connection is dropped): it is sent again later, and no entry
         * read before it may be served after.
         */
        goto deaf;
    }

    return 1;

deaf:

    if (lc->used) {
        ngx_http_confhaven_local_flush(lc);

    } else {
        lc->seq++;
    }

    return 0;
}


static ngx_int_t
ngx_http_confhaven_local_get(ngx_http_confhaven_local_t *lc,
    ngx_http_confhaven_fetch_t *f)
{
    ngx_pool_cleanup_t                *cln;
    ngx_http_confhaven_local_entry_t  *e;

    e = (ngx_http_confhaven_local_entry_t *)
            ngx_str_rbtree_lookup(&lc->tree, &f->rkey,
                                  ngx_crc32_short(f->rkey.data, f->rkey.len));
    if (e == NULL) {
        return NGX_DECLINED;
    }

    if (e->expires <= ngx_http_confhaven_cache_now()) {
        /* never past its Redis TTL: Redis says EXPIRED or MISS */
        ngx_http_confhaven_local_remove(lc, e);
        return NGX_DECLINED;
    }

    /*
     * No copy: the fetch reads the entry itself, which stays allocated
     * (though it may leave the tier) until the fetch's pool goes, i.e.
     * after the answer has been sent.
     */

    cln = ngx_pool_cleanup_add(f->pool, 0);
    if (cln == NULL) {
        return NGX_DECLINED;
    }

    cln->handler = ngx_http_confhaven_local_release;
    cln->data = e;
    e->refs++;

    f->value = e->value;
    f->gen = e->gen;
    f->gen_known = 1;
    f->count = e->count;
    f->status = NGX_HTTP_CONFHAVEN_PG_OK;
    f->cache_status = NGX_HTTP_CONFHAVEN_CACHE_LOCAL;

    ngx_queue_remove(&e->lru);
    ngx_queue_insert_head(&lc->lru, &e->lru);

    return NGX_OK;
}


/*
 * ok and seq: the tier was usable when the read began, and this was its
 * flush count then; a message since means the value may be stale.
 */

static void
ngx_http_confhaven_local_put(ngx_http_confhaven_cache_t *cache,
    ngx_uint_t ok, ngx_uint_t seq, ngx_str_t *rkey, ngx_msec_t expires,
    ngx_int_t count, ngx_str_t *gen, ngx_str_t *value)
{
    u_char                            *p;
    size_t                             size;
    uint32_t                           hash;
    ngx_http_confhaven_local_t        *lc;
    ngx_http_confhaven_local_entry_t  *e;

    lc = cache->local;

    if (lc == NULL || !ok || value->len == 0
        || value->len > NGX_HTTP_CONFHAVEN_CACHE_MAX_ENTRY)
    {
        return;
    }

    if (!ngx_http_confhaven_local_usable(cache, 0) || seq != lc->seq) {
        return;
    }

    if (expires <= ngx_http_confhaven_cache_now()) {
        return;
    }

    size = sizeof(ngx_http_confhaven_local_entry_t) + rkey->len + gen->len
           + value->len;

    if (size > lc->max / 4) {
        /* one answer never empties the tier */
        return;
    }

    hash = ngx_crc32_short(rkey->data, rkey->len);

    e = (ngx_http_confhaven_local_entry_t *)
            ngx_str_rbtree_lookup(&lc->tree, rkey, hash);
    if (e) {
        ngx_http_confhaven_local_remove(lc, e);
    }

    while (lc->used + size > lc->max && !ngx_queue_empty(&lc->lru)) {
        e = ngx_queue_data(ngx_queue_last(&lc->lru),
                           ngx_http_confhaven_local_entry_t, lru);
        ngx_http_confhaven_local_remove(lc, e);
    }

    e = ngx_alloc(size, lc->log);
    if (e == NULL) {
        return;
    }

    p = (u_char *) (e + 1);

    e->node.str.data = p;
    e->node.str.len = rkey->len;
    p = ngx_cpymem(p, rkey->data, rkey->len);

    e->gen.data = p;
    e->gen.len = gen->len;
    p = ngx_cpymem(p, gen->data, gen->len);

    e->value.data = p;
    e->value.len = value->len;
    ngx_memcpy(p, value->data, value->len);

    e->expires = expires;
    e->count = count;
    e->size = size;
    e->refs = 0;
    e->dead = 0;
    e->node.node.key = hash;

    ngx_rbtree_insert(&lc->tree, &e->node.node);
    ngx_queue_insert_head(&lc->lru, &e->lru);
    lc->used += size;
}


static void
ngx_http_confhaven_local_remove(ngx_http_confhaven_local_t *lc,
    ngx_http_confhaven_local_entry_t *e)
{
    ngx_rbtree_delete(&lc->tree, &e->node.node);
    ngx_queue_remove(&e->lru);
    lc->used -= e->size;

    if (e->refs) {
        /* an answer being sent: freed by the last reader */
        e->dead = 1;
        return;
    }

    ngx_free(e);
}


static void
ngx_http_confhaven_local_release(void *data)
{
    ngx_http_confhaven_local_entry_t  *e = data;

    if (--e->refs == 0 && e->dead) {
        ngx_free(e);
    }
}


/* every entry goes; reads begun before are not stored */

static void
ngx_http_confhaven_local_flush(ngx_http_confhaven_local_t *lc)
{
    ngx_http_confhaven_local_entry_t  *e;

    lc->seq++;

    while (!ngx_queue_empty(&lc->lru)) {
        e = ngx_queue_data(ngx_queue_head(&lc->lru),
                           ngx_http_confhaven_local_entry_t, lru);
        ngx_http_confhaven_local_remove(lc, e);
    }
}


/*
 * A message on the subscription: this worker's heartbeat ("alive <msec>")
 * or anything else, an invalidation: entries are not tagged here, so an
 * import drops them all (imports are rare; the next read of each key
 * costs one Redis round trip).
 */

static void
ngx_http_confhaven_local_message(void *data, u_char *msg, size_t len)
{
    ngx_int_t                    t;
    ngx_http_confhaven_cache_t  *cache = data;
    ngx_http_confhaven_local_t  *lc;

    lc = cache->local;

    if (lc == NULL) {
        return;
    }

    if (len > sizeof("alive ") - 1
        && ngx_strncmp(msg, "alive ", sizeof("alive ") - 1) == 0)
    {
        t = ngx_atoi(msg + sizeof("alive ") - 1, len - (sizeof("alive ") - 1));

        if (t != NGX_ERROR
            && (!lc->alive_seen
                || (ngx_msec_int_t) ((ngx_msec_t) t - lc->alive) > 0))
        {
            lc->alive = (ngx_msec_t) t;
            lc->alive_seen = 1;
        }

        return;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, lc->log, 0,
                   "confhaven cache: \"%*s\": local tier flushed",
                   len, msg);

    ngx_http_confhaven_local_flush(lc);
}


/*
 * Every lease/4: a PUBLISH through the command connection to this
 * worker's own channel.  Its coming back proves that Redis answers and
 * that every invalidation it ran before has reached this worker.
 */

static void
ngx_http_confhaven_local_heartbeat(ngx_event_t *ev)
{
    u_char                          buf[sizeof("alive ") + NGX_INT_T_LEN];
    const char                     *argv[3];
    size_t                          argvlen[3];
    ngx_http_confhaven_cache_t     *cache;
    ngx_http_confhaven_local_t     *lc;
    ngx_http_confhaven_redis_op_t  *rop;

    cache = ev->data;
    lc = cache->local;

    if (lc == NULL || ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    if (ngx_http_confhaven_redis_ready(cache->redis)
        && ngx_http_confhaven_redis_ready(lc->sub))
    {
        rop = ngx_http_confhaven_redis_op(cache->redis,
                                          ngx_http_confhaven_local_sent, NULL);
        if (rop != NULL) {
            argv[0] = "PUBLISH";
            argvlen[0] = sizeof("PUBLISH") - 1;
            argv[1] = (const char *) lc->channels[1].data;
            argvlen[1] = lc->channels[1].len;
            argv[2] = (const char *) buf;
            argvlen[2] = ngx_sprintf(buf, "alive %M", ngx_current_msec) - buf;

            (void) ngx_http_confhaven_redis_command(rop, 3, argv, argvlen);
        }
    }

    ngx_add_timer(ev, ngx_max(lc->lease / 4, 1));
}


static void
ngx_http_confhaven_local_sent(ngx_http_confhaven_redis_op_t *op,
    redisReply *reply)
{
    /* what counts is the message coming back */
}
