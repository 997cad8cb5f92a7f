
/*
 * Copyright (C) ConferenceHaven
 */


/*
 * MCP sessions across nginx instances that share a Redis server
 * (confhaven_redis_server).  The shared zone stays the source of truth
 * inside an instance; Redis is what the instances tell each other:
 *
 *   confhaven:mcp:session:<id>   a hash: "v" protocol version, "l" log
 *                                level, and for a legacy HTTP+SSE stream
 *                                "sse" = "<instance>:<slot>", the worker
 *                                holding it; expires after
 *                                confhaven_mcp_session_timeout idle, the
 *                                TTL renewed by every use on any instance
 *   confhaven:mcp:deleted:<id>   a tombstone left by DELETE of a session
 *                                that exists (here or in Redis; an unknown
 *                                id writes nothing), as long-lived as a
 *                                session, so instances that still hold the
 *                                session locally drop it
 *   confhaven:mcp:events:<id>    a list of the events of the session's
 *                                POST streams, answers and priming events
 *                                (the last 128, at most
 *                                confhaven_mcp_event_log_size bytes but
 *                                the newest; a larger event is not kept
 *                                at all), each
 *                                "<final><event id>\n<data>", the TTL of a
 *                                session renewed by every event: a GET
 *                                with a Last-Event-ID of another instance
 *                                replays from there.  In a cluster, event
 *                                ids are "<stream>-<seq>-<instance>", so
 *                                that the instances' ids never collide
 *   confhaven:mcp:sse:<instance>:<slot>
 *                                the pub/sub channel of one worker of one
 *                                instance (the instance id is random, made
 *                                at configuration time)
 *   confhaven:mcp:ended          the pub/sub channel every worker of every
 *                                instance hears: the id of each session
 *                                deleted (published with its tombstone)
 *
 * (confhaven_mcp_cluster off keeps sessions out of Redis: one instance
 * that has Redis for its cache only.)
 *
 * A request carrying a session id (Mcp-Session-Id on confhaven_mcp, the
 * sessionId of a legacy POST) waits in the preaccess phase for one Lua
 * call that checks the tombstone, reads the hash and renews its TTL, at
 * most confhaven_redis_timeout; a session found there is imported into the
 * zone, one with a tombstone is dropped from it, and then the transports
 * run as within one instance.  When Redis is down, not answering, or not
 * configured, nothing waits: the zone alone answers.  A legacy POST whose
 * session is already in the zone (its stream is in this instance) does
 * not wait either; it only renews the TTL.
 *
 * A worker remembers, for NGX_HTTP_CONFHAVEN_MCP_CLUSTER_RECHECK ms (half
 * the session timeout if that is shorter), the Streamable HTTP sessions
 * Redis confirmed to it (a small table of the last ones, by id), and
 * their requests (but a DELETE, and a GET resuming from an event of
 * another instance) do not wait for Redis meanwhile: a burst on one
 * session costs one Lua call per worker and period, and its TTL is
 * renewed as often.  What ends a session still ends it at once: a DELETE
 * or an expiry in this instance takes it out of the zone, which the
 * transports read for every request; a DELETE on another instance
 * publishes the id on confhaven:mcp:ended, the worker reads what its
 * subscription has received before it trusts its table (as the cache's
 * local tier does), and drops the id.  The table is used only while that
 * subscription is up and has not been made again since the entry was
 * written (messages may have been lost in between); a message lost while
 * the subscription looks alive is covered by the period: a session
 * deleted on another instance is refused here at most that long after.
 *
 * A session's first answer (the endpoint event of a legacy stream, the
 * answer to initialize) waits until Redis has run its registration
 * (ngx_http_confhaven_mcp_cluster_sync(): a PING on the same connection):
 * Redis does not run two connections' commands in the order they were
 * sent, so another instance asked at once could otherwise miss it.
 *
 * A legacy POST for a stream of another instance runs its JSON-RPC call
 * here and PUBLISHes the reply, once, to the holder's channel; each worker
 * holds one more Redis connection, SUBSCRIBEd to its own channel, and
 * hands what arrives to the legacy transport (the deliver callback it
 * registered with ngx_http_confhaven_mcp_cluster_on_deliver()), which
 * writes it to the stream, or logs and drops it when the stream has gone.
 * PUBLISH answers how many subscribers got the message: none means the
 * stream's worker is gone (404); no answer within the timeout is answered
 * 202 and logged, since the reply may have been delivered and must not be
 * sent twice.
 *
 * This file points down only: the zone (ngx_http_confhaven_mcp_session.c)
 * tells the cluster what changed (created, bound, level, version, deleted,
 * closed) through its notify callback, set here per worker; the front end
 * asks the cluster about a request in the preaccess phase
 * (ngx_http_confhaven_mcp_cluster_lookup()), handing it the transport's
 * Host/Origin check as a callback; the legacy transport registers the
 * deliver callback.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <sys/random.h>

#include "ngx_http_confhaven_mcp.h"
#include "ngx_http_confhaven_mcp_cluster.h"


#define NGX_HTTP_CONFHAVEN_MCP_KEY_SESSION  "confhaven:mcp:session:"
#define NGX_HTTP_CONFHAVEN_MCP_KEY_DELETED  "confhaven:mcp:deleted:"
#define NGX_HTTP_CONFHAVEN_MCP_KEY_SSE      "confhaven:mcp:sse:"
#define NGX_HTTP_CONFHAVEN_MCP_KEY_EVENTS   "confhaven:mcp:events:"
#define NGX_HTTP_CONFHAVEN_MCP_CHANNEL_ENDED  "confhaven:mcp:ended"

/* how long a worker trusts what Redis said of a session (ms) */
#define NGX_HTTP_CONFHAVEN_MCP_CLUSTER_RECHECK  1000

/* the sessions a worker remembers (a power of 2; one id per slot) */
#define NGX_HTTP_CONFHAVEN_MCP_CLUSTER_KNOWN    512

/* the zone's answers, and the priming events of their streams */
#define NGX_HTTP_CONFHAVEN_MCP_EVENTS_KEPT                                  \
    (2 * NGX_HTTP_CONFHAVEN_MCP_LOG_EVENTS)

#define NGX_HTTP_CONFHAVEN_MCP_EVENTS_KEY_LEN                                \
    (sizeof(NGX_HTTP_CONFHAVEN_MCP_KEY_EVENTS) - 1                           \
     + NGX_HTTP_CONFHAVEN_MCP_SESSION_ID_LEN)

/* (both prefixes have the same length) */
#define NGX_HTTP_CONFHAVEN_MCP_KEY_LEN                                       \
    (sizeof(NGX_HTTP_CONFHAVEN_MCP_KEY_SESSION) - 1                          \
     + NGX_HTTP_CONFHAVEN_MCP_SESSION_ID_LEN)


/*
 * KEYS: session, tombstone, events; ARGV: ttl.  -1: deleted; the hash, or
 * {}.  The session and its events live on.
 */

static const char  ngx_http_confhaven_mcp_lua_lookup[] =
    "if redis.call('EXISTS', KEYS[2]) == 1 then return -1 end "
    "local v = redis.call('HGETALL', KEYS[1]) "
    "if #v > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) "
    "redis.call('PEXPIRE', KEYS[3], ARGV[1]) end "
    "return v";

/*
 * the same, and the session's events (KEYS[3]) from the one ARGV[2] names
 * on: {hash, events}
 */

static const char  ngx_http_confhaven_mcp_lua_lookup_events[] =
    "if redis.call('EXISTS', KEYS[2]) == 1 then return -1 end "
    "local v = redis.call('HGETALL', KEYS[1]) "
    "if #v > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) "
    "redis.call('PEXPIRE', KEYS[3], ARGV[1]) end "
    "local e = redis.call('LRANGE', KEYS[3], 0, -1) "
    "local k = ARGV[2] .. '\\n' "
    "local out = {} "
    "for i = 1, #e do "
    "if #out > 0 or string.sub(e[i], 2, #k + 1) == k then "
    "out[#out + 1] = e[i] end end "
    "return {v, out}";

/*
 * KEYS: events; ARGV: ttl, how many are kept, the event, how many bytes
 * are kept (the newest event always stays)
 */

static const char  ngx_http_confhaven_mcp_lua_event[] =
    "redis.call('RPUSH', KEYS[1], ARGV[3]) "
    "redis.call('LTRIM', KEYS[1], -tonumber(ARGV[2]), -1) "
    "local e = redis.call('LRANGE', KEYS[1], 0, -1) "
    "local n = 0 "
    "for i = 1, #e do n = n + #e[i] end "
    "local i = 1 "
    "while n > tonumber(ARGV[4]) and i < #e do "
    "n = n - #e[i] redis.call('LPOP', KEYS[1]) i = i + 1 end "
    "redis.call('PEXPIRE', KEYS[1], ARGV[1]) "
    "return 1";

/*
 * the same, and the session and its events (KEYS[3]) are deleted; a
 * tombstone stays only for a session that exists, here (ARGV[2] "1") or
 * in Redis: a DELETE of an unknown id writes nothing; the id (ARGV[4]) is
 * published on ARGV[3], the channel every worker hears
 */

static const char  ngx_http_confhaven_mcp_lua_delete[] =
    "if redis.call('EXISTS', KEYS[2]) == 1 then return -1 end "
    "local v = redis.call('HGETALL', KEYS[1]) "
    "if #v == 0 and ARGV[2] ~= '1' then return v end "
    "redis.call('DEL', KEYS[1], KEYS[3]) "
    "redis.call('SET', KEYS[2], '1', 'PX', ARGV[1]) "
    "redis.call('PUBLISH', ARGV[3], ARGV[4]) "
    "return v";

/* KEYS: session; ARGV: ttl, field, value, ... */

static const char  ngx_http_confhaven_mcp_lua_register[] =
    "redis.call('HSET', KEYS[1], unpack(ARGV, 2)) "
    "redis.call('PEXPIRE', KEYS[1], ARGV[1]) "
    "return 1";

/* KEYS: session; ARGV: field, value; an expired session stays expired */

static const char  ngx_http_confhaven_mcp_lua_set[] =
    "if redis.call('EXISTS', KEYS[1]) == 1 then "
    "redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end "
    "return 1";

/*
 * KEYS: session, tombstone; ARGV: ttl of the tombstone, 0 for none, and
 * with a tombstone the id (ARGV[3]) is published on ARGV[2]
 */

static const char  ngx_http_confhaven_mcp_lua_forget[] =
    "redis.call('DEL', KEYS[1]) "
    "if ARGV[1] ~= '0' then "
    "redis.call('SET', KEYS[2], '1', 'PX', ARGV[1]) "
    "redis.call('PUBLISH', ARGV[2], ARGV[3]) end "
    "return 1";


/* a session Redis confirmed to this worker, until "until" */

typedef struct {
    u_char                       id[NGX_HTTP_CONFHAVEN_MCP_SESSION_ID_LEN];
    ngx_msec_t                         until;
    ngx_uint_t                         epoch;     /* the sub's, then */
} ngx_http_confhaven_mcp_known_t;


/* this worker's part of the cluster */

struct ngx_http_confhaven_mcp_cluster_s {
    ngx_http_confhaven_mcp_main_conf_t  *mcf;
    ngx_http_confhaven_redis_t        *redis;     /* commands (the cache's) */
    ngx_http_confhaven_redis_t        *sub;       /* our channels */
    ngx_str_t                          channels[2];  /* ours, "ended" */
    ngx_str_t                          channel;
    ngx_str_t                          where;     /* "<instance>:<slot>" */
    ngx_str_t                          ttl;       /* ms, as text */
    ngx_log_t                         *log;

    ngx_http_confhaven_mcp_deliver_pt  deliver;   /* the legacy transport */
    void                              *deliver_data;

    ngx_msec_t                         recheck;
    ngx_http_confhaven_mcp_known_t    *known;     /* the sessions confirmed */
};


static ngx_http_confhaven_mcp_cluster_t *ngx_http_confhaven_mcp_cluster(
    ngx_http_confhaven_mcp_main_conf_t *mcf);
static void ngx_http_confhaven_mcp_cluster_notify(void *data,
    ngx_uint_t event, ngx_str_t *id, ngx_uint_t value);
static void ngx_http_confhaven_mcp_cluster_register(
    ngx_http_confhaven_mcp_cluster_t *cl, ngx_str_t *id, ngx_uint_t version);
static void ngx_http_confhaven_mcp_cluster_set(
    ngx_http_confhaven_mcp_cluster_t *cl, ngx_str_t *id, const char *field,
    ngx_uint_t value);
static void ngx_http_confhaven_mcp_cluster_touch(
    ngx_http_confhaven_mcp_cluster_t *cl, ngx_str_t *id);
static void ngx_http_confhaven_mcp_cluster_forget(
    ngx_http_confhaven_mcp_cluster_t *cl, ngx_str_t *id,
    ngx_uint_t tombstone);
static void ngx_http_confhaven_mcp_cluster_resolved(
    ngx_http_confhaven_redis_op_t *op, redisReply *reply);
static void ngx_http_confhaven_mcp_cluster_apply(
    ngx_http_confhaven_mcp_cluster_req_t *cx, redisReply *reply);
static void ngx_http_confhaven_mcp_cluster_cleanup(void *data);
static void ngx_http_confhaven_mcp_cluster_reply(
    ngx_http_confhaven_redis_op_t *op, redisReply *reply);
static void ngx_http_confhaven_mcp_cluster_synced(
    ngx_http_confhaven_redis_op_t *op, redisReply *reply);
static void ngx_http_confhaven_mcp_cluster_message(void *data, u_char *msg,
    size_t len);
static void ngx_http_confhaven_mcp_cluster_send(
    ngx_http_confhaven_mcp_cluster_t *cl, int argc, const char **argv,
    const size_t *argvlen);
static void ngx_http_confhaven_mcp_cluster_ignore(
    ngx_http_confhaven_redis_op_t *op, redisReply *reply);
static void ngx_http_confhaven_mcp_cluster_key(u_char *buf, const char *prefix,
    ngx_str_t *id);
static void ngx_http_confhaven_mcp_cluster_store(
    ngx_http_confhaven_mcp_cluster_t *cl, ngx_str_t *id, ngx_uint_t version,
    ngx_uint_t stream);
static ngx_http_confhaven_mcp_known_t *ngx_http_confhaven_mcp_cluster_slot(
    ngx_http_confhaven_mcp_cluster_t *cl, ngx_str_t *id);
static ngx_uint_t ngx_http_confhaven_mcp_cluster_known(
    ngx_http_confhaven_mcp_cluster_t *cl, ngx_str_t *id);
static void ngx_http_confhaven_mcp_cluster_remember(
    ngx_http_confhaven_mcp_cluster_t *cl, ngx_str_t *id);


/* ------------------------------------------------------ configuration */


/* "redis": confhaven_redis_server is set */

char *
ngx_http_confhaven_mcp_cluster_init_conf(ngx_conf_t *cf,
    ngx_http_confhaven_mcp_main_conf_t *mcf, ngx_uint_t redis)
{
    u_char  rnd[NGX_HTTP_CONFHAVEN_MCP_INSTANCE_LEN / 2];

    ngx_conf_init_value(mcf->cluster_enabled, 1);

    if (!mcf->cluster_enabled || !mcf->used || !redis) {
        return NGX_CONF_OK;
    }

    /* new at every (re)configuration: the workers of a cycle share it */

    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t) sizeof(rnd)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "confhaven mcp: getrandom() failed");
        return NGX_CONF_ERROR;
    }

    mcf->instance.data = ngx_pnalloc(cf->pool,
                                     NGX_HTTP_CONFHAVEN_MCP_INSTANCE_LEN);
    if (mcf->instance.data == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_hex_dump(mcf->instance.data, rnd, sizeof(rnd));
    mcf->instance.len = NGX_HTTP_CONFHAVEN_MCP_INSTANCE_LEN;
    mcf->zone.cluster = 1;

    return NGX_CONF_OK;
}


/* redis: this worker's connection for commands (the cache's), or NULL */

ngx_int_t
ngx_http_confhaven_mcp_cluster_init_process(ngx_cycle_t *cycle,
    ngx_http_confhaven_mcp_main_conf_t *mcf,
    ngx_http_confhaven_redis_conf_t *rcf, ngx_http_confhaven_redis_t *redis)
{
    u_char                            *p;
    size_t                             len;
    ngx_http_confhaven_mcp_cluster_t  *cl;

    if (mcf->instance.len == 0 || redis == NULL) {
        return NGX_OK;
    }

    cl = ngx_pcalloc(cycle->pool, sizeof(ngx_http_confhaven_mcp_cluster_t));
    if (cl == NULL) {
        return NGX_ERROR;
    }

    cl->mcf = mcf;
    cl->redis = redis;
    cl->log = cycle->log;

    len = sizeof(NGX_HTTP_CONFHAVEN_MCP_KEY_SSE) - 1
          + NGX_HTTP_CONFHAVEN_MCP_INSTANCE_LEN + 1 + NGX_INT_T_LEN;

    p = ngx_pnalloc(cycle->pool, len + NGX_INT_T_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    cl->channel.data = p;
    cl->channel.len = ngx_sprintf(p, NGX_HTTP_CONFHAVEN_MCP_KEY_SSE "%V:%i",
                                  &mcf->instance, ngx_process_slot)
                      - p;

    cl->where.data = p + sizeof(NGX_HTTP_CONFHAVEN_MCP_KEY_SSE) - 1;
    cl->where.len = cl->channel.len
                    - (sizeof(NGX_HTTP_CONFHAVEN_MCP_KEY_SSE) - 1);

    cl->ttl.data = p + cl->channel.len;
    cl->ttl.len = ngx_sprintf(cl->ttl.data, "%M", mcf->session_timeout)
                  - cl->ttl.data;

    /* the TTL in Redis is renewed at least twice per timeout */
    cl->recheck = ngx_min(NGX_HTTP_CONFHAVEN_MCP_CLUSTER_RECHECK,
                          mcf->session_timeout / 2);

    cl->known = ngx_pcalloc(cycle->pool,
                            NGX_HTTP_CONFHAVEN_MCP_CLUSTER_KNOWN
                            * sizeof(ngx_http_confhaven_mcp_known_t));
    if (cl->known == NULL) {
        return NGX_ERROR;
    }

    cl->channels[0] = cl->channel;
    ngx_str_set(&cl->channels[1], NGX_HTTP_CONFHAVEN_MCP_CHANNEL_ENDED);

    cl->sub = ngx_http_confhaven_redis_subscribe_channels(cycle, rcf,
                                       cl->channels, 2,
                                       ngx_http_confhaven_mcp_cluster_message,
                                       cl);
    if (cl->sub == NULL) {
        return NGX_ERROR;
    }

    mcf->cluster = cl;

    /* the zone tells this worker's cluster what changed */
    mcf->zone.notify = ngx_http_confhaven_mcp_cluster_notify;
    mcf->zone.notify_data = cl;

    return NGX_OK;
}


void
ngx_http_confhaven_mcp_cluster_exit_process(
    ngx_http_confhaven_mcp_main_conf_t *mcf)
{
    ngx_http_confhaven_mcp_cluster_t  *cl;

    cl = mcf->cluster;
    if (cl == NULL) {
        return;
    }

    mcf->cluster = NULL;
    mcf->zone.notify = NULL;
    mcf->zone.notify_data = NULL;
    ngx_http_confhaven_redis_destroy(cl->sub);
}


/*
 * The legacy transport's writer for replies published to this worker:
 * set at init_process, after the cluster's own.
 */

void
ngx_http_confhaven_mcp_cluster_on_deliver(
    ngx_http_confhaven_mcp_main_conf_t *mcf,
    ngx_http_confhaven_mcp_deliver_pt handler, void *data)
{
    ngx_http_confhaven_mcp_cluster_t  *cl;

    cl = mcf->cluster;
    if (cl == NULL) {
        return;
    }

    cl->deliver = handler;
    cl->deliver_data = data;
}


/* this worker's cluster, when Redis can take commands now */

static ngx_http_confhaven_mcp_cluster_t *
ngx_http_confhaven_mcp_cluster(ngx_http_confhaven_mcp_main_conf_t *mcf)
{
    ngx_http_confhaven_mcp_cluster_t  *cl;

    if (mcf == NULL || mcf->cluster == NULL) {
        return NULL;
    }

    cl = mcf->cluster;

    return ngx_http_confhaven_redis_ready(cl->redis) ? cl : NULL;
}


ngx_uint_t
ngx_http_confhaven_mcp_cluster_ready(ngx_http_confhaven_mcp_main_conf_t *mcf)
{
    return ngx_http_confhaven_mcp_cluster(mcf) ? 1 : 0;
}


/* what the zone did: Redis is told, nobody waits */

static void
ngx_http_confhaven_mcp_cluster_notify(void *data, ngx_uint_t event,
    ngx_str_t *id, ngx_uint_t value)
{
    ngx_http_confhaven_mcp_cluster_t *cl = data;

    if (!ngx_http_confhaven_redis_ready(cl->redis)) {
        return;
    }

    switch (event) {

    case NGX_HTTP_CONFHAVEN_MCP_SESSION_CREATED:
        ngx_http_confhaven_mcp_cluster_register(cl, id, value);
        break;

    case NGX_HTTP_CONFHAVEN_MCP_SESSION_BOUND:
        /* other instances publish replies to this worker's channel */
        ngx_http_confhaven_mcp_cluster_store(cl, id, value, 1);
        break;

    case NGX_HTTP_CONFHAVEN_MCP_SESSION_LEVEL:
        ngx_http_confhaven_mcp_cluster_set(cl, id, "l", value);
        break;

    case NGX_HTTP_CONFHAVEN_MCP_SESSION_VERSION:
        ngx_http_confhaven_mcp_cluster_set(cl, id, "v", value);
        break;

    case NGX_HTTP_CONFHAVEN_MCP_SESSION_DELETED:
        ngx_http_confhaven_mcp_cluster_forget(cl, id, 1);
        break;

    default: /* NGX_HTTP_CONFHAVEN_MCP_SESSION_CLOSED */
        ngx_http_confhaven_mcp_cluster_forget(cl, id, 0);
        break;
    }
}


/* ----------------------------------------------- a request's session */


/*
 * The preaccess step of a request on an MCP location (legacy: a
 * confhaven_mcp_sse one), while Redis can take commands: NGX_AGAIN when it
 * asks Redis about the request's session (*cxp is then set, and the
 * phases go on when Redis has answered), NGX_DECLINED when there is
 * nothing to ask.  allowed() is the transport's Host/Origin check: a
 * DELETE it refuses deletes nothing.
 */

ngx_int_t
ngx_http_confhaven_mcp_cluster_lookup(ngx_http_request_t *r,
    ngx_http_confhaven_mcp_main_conf_t *mcf, ngx_uint_t legacy,
    ngx_http_confhaven_mcp_allowed_pt allowed, void *data,
    ngx_http_confhaven_span_t *trace,
    ngx_http_confhaven_mcp_cluster_req_t **cxp)
{
    int                                    nargs;
    size_t                                 argvlen[10];
    u_char                                *key, *tomb, *events;
    ngx_int_t                              stream, seq;
    ngx_str_t                              id, instance;
    const char                            *argv[10];
    ngx_table_elt_t                       *h, *lei;
    ngx_pool_cleanup_t                    *cln;
    ngx_http_confhaven_redis_op_t         *op;
    ngx_http_confhaven_mcp_cluster_t      *cl;
    ngx_http_confhaven_mcp_cluster_req_t  *cx;

    cl = ngx_http_confhaven_mcp_cluster(mcf);
    if (cl == NULL) {
        return NGX_DECLINED;
    }

    if (legacy) {
        if (r->method != NGX_HTTP_POST
            || r->uri.len < sizeof("/messages") - 1
            || ngx_strncmp(r->uri.data + r->uri.len
                           - (sizeof("/messages") - 1),
                           "/messages", sizeof("/messages") - 1)
               != 0
            || ngx_http_arg(r, (u_char *) "sessionId",
                            sizeof("sessionId") - 1, &id)
               != NGX_OK)
        {
            return NGX_DECLINED;
        }

    } else {
        if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_POST|NGX_HTTP_DELETE))) {
            return NGX_DECLINED;
        }

        h = ngx_http_confhaven_header_in(r, "Mcp-Session-Id",
                                          sizeof("Mcp-Session-Id") - 1);
        if (h == NULL) {
            return NGX_DECLINED;
        }

        id = h->value;
    }

    if (id.len != NGX_HTTP_CONFHAVEN_MCP_SESSION_ID_LEN) {
        return NGX_DECLINED;
    }

    if (legacy && ngx_http_confhaven_mcp_session_sse_find(&mcf->zone, &id)) {
        /* the stream is in this instance */
        ngx_http_confhaven_mcp_cluster_touch(cl, &id);
        return NGX_DECLINED;
    }

    if (r->method == NGX_HTTP_DELETE && allowed(r, data) != NGX_OK) {
        /* refused by the transport: nothing to delete */
        return NGX_DECLINED;
    }

    if (!legacy
        && r->method != NGX_HTTP_DELETE
        && ngx_http_confhaven_mcp_cluster_known(cl, &id))
    {
        if (r->method != NGX_HTTP_GET
            || ngx_http_confhaven_header_in(r, "Last-Event-ID",
                                           sizeof("Last-Event-ID") - 1)
               == NULL)
        {
            /* Redis confirmed it a moment ago: the zone answers */
            return NGX_DECLINED;
        }
    }

    cx = ngx_pcalloc(r->pool, sizeof(ngx_http_confhaven_mcp_cluster_req_t));
    key = ngx_pnalloc(r->pool, 2 * NGX_HTTP_CONFHAVEN_MCP_KEY_LEN);
    cln = ngx_pool_cleanup_add(r->pool, 0);

    if (cx == NULL || key == NULL || cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cx->r = r;
    cx->mcf = mcf;
    cx->trace = trace;
    cx->session = id;
    cx->legacy = legacy;
    cx->deleting = (r->method == NGX_HTTP_DELETE);

    /* a resume from an event of another instance: its events too */

    if (r->method == NGX_HTTP_GET) {
        lei = ngx_http_confhaven_header_in(r, "Last-Event-ID",
                                            sizeof("Last-Event-ID") - 1);

        if (lei
            && ngx_http_confhaven_mcp_cluster_event_id_parse(lei->value.data,
                   lei->value.data + lei->value.len, &stream, &seq,
                   &instance)
               == NGX_OK
            && instance.len && stream)
        {
            /* ours too: it may be from before the session was dropped */
            cx->want_events = 1;
            cx->last = lei->value;
        }
    }

    tomb = key + NGX_HTTP_CONFHAVEN_MCP_KEY_LEN;

    ngx_http_confhaven_mcp_cluster_key(key, NGX_HTTP_CONFHAVEN_MCP_KEY_SESSION,
                                       &id);
    ngx_http_confhaven_mcp_cluster_key(tomb,
                                       NGX_HTTP_CONFHAVEN_MCP_KEY_DELETED,
                                       &id);

    argv[0] = "EVAL";
    argvlen[0] = sizeof("EVAL") - 1;

    if (cx->deleting) {
        argv[1] = ngx_http_confhaven_mcp_lua_delete;
        argvlen[1] = sizeof(ngx_http_confhaven_mcp_lua_delete) - 1;

    } else if (cx->want_events) {
        argv[1] = ngx_http_confhaven_mcp_lua_lookup_events;
        argvlen[1] = sizeof(ngx_http_confhaven_mcp_lua_lookup_events) - 1;

    } else {
        argv[1] = ngx_http_confhaven_mcp_lua_lookup;
        argvlen[1] = sizeof(ngx_http_confhaven_mcp_lua_lookup) - 1;
    }

    argv[2] = "3";
    argvlen[2] = 1;
    argv[3] = (const char *) key;
    argvlen[3] = NGX_HTTP_CONFHAVEN_MCP_KEY_LEN;
    argv[4] = (const char *) tomb;
    argvlen[4] = NGX_HTTP_CONFHAVEN_MCP_KEY_LEN;

    /* the session's events (a legacy session has none) */

    events = ngx_pnalloc(r->pool, NGX_HTTP_CONFHAVEN_MCP_EVENTS_KEY_LEN);
    if (events == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(events, NGX_HTTP_CONFHAVEN_MCP_KEY_EVENTS,
               sizeof(NGX_HTTP_CONFHAVEN_MCP_KEY_EVENTS) - 1);
    ngx_memcpy(events + sizeof(NGX_HTTP_CONFHAVEN_MCP_KEY_EVENTS) - 1,
               id.data, NGX_HTTP_CONFHAVEN_MCP_SESSION_ID_LEN);

    argv[5] = (const char *) events;
    argvlen[5] = NGX_HTTP_CONFHAVEN_MCP_EVENTS_KEY_LEN;
    argv[6] = (const char *) cl->ttl.data;
    argvlen[6] = cl->ttl.len;
    nargs = 7;

    if (cx->want_events) {
        argv[7] = (const char *) cx->last.data;
        argvlen[7] = cx->last.len;
        nargs = 8;
    }

    if (cx->deleting) {
        argv[7] = ngx_http_confhaven_mcp_session_find(&mcf->zone, &id, 0)
                  ? "1" : "0";
        argvlen[7] = 1;
        argv[8] = (const char *) cl->channels[1].data;
        argvlen[8] = cl->channels[1].len;
        argv[9] = (const char *) id.data;
        argvlen[9] = id.len;
        nargs = 10;
    }

    op = ngx_http_confhaven_redis_op(cl->redis,
                                     ngx_http_confhaven_mcp_cluster_resolved,
                                     cx);
    if (op == NULL) {
        return NGX_DECLINED;
    }

    /* a client span of the request (the command's name only) */
    ngx_http_confhaven_redis_trace(op, trace);

    if (ngx_http_confhaven_redis_command(op, nargs, argv, argvlen)
        != NGX_OK)
    {
        /* Redis went away: the zone answers alone */
        return NGX_DECLINED;
    }

    cx->op = op;
    cx->waiting = 1;
    *cxp = cx;

    cln->handler = ngx_http_confhaven_mcp_cluster_cleanup;
    cln->data = cx;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "confhaven mcp: asking Redis about session %V", &id);

    /* as limit_req's delay: the phases go on when Redis has answered */
    r->write_event_handler = ngx_http_request_empty_handler;

    return NGX_AGAIN;
}


static void
ngx_http_confhaven_mcp_cluster_resolved(ngx_http_confhaven_redis_op_t *op,
    redisReply *reply)
{
    ngx_http_confhaven_mcp_cluster_req_t *cx = op->data;

    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = cx->r;
    c = r->connection;

    cx->op = NULL;
    cx->waiting = 0;
    cx->resolved = (reply != NULL);

    ngx_http_confhaven_mcp_cluster_apply(cx, reply);

    r->write_event_handler = ngx_http_core_run_phases;
    ngx_http_core_run_phases(r);
    ngx_http_run_posted_requests(c);
}


static void
ngx_http_confhaven_mcp_cluster_apply(ngx_http_confhaven_mcp_cluster_req_t *cx,
    redisReply *reply)
{
    size_t                           len;
    ngx_int_t                        n;
    ngx_str_t                        where;
    ngx_uint_t                       i, version, level;
    redisReply                          *f, *v;
    ngx_http_request_t                  *r;
    ngx_http_confhaven_mcp_main_conf_t  *mcf;

    r = cx->r;
    mcf = cx->mcf;

    if (reply == NULL) {
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "confhaven mcp: Redis: %*s", (size_t) reply->len,
                      reply->str);
        return;
    }

    if (reply->type == REDIS_REPLY_INTEGER) {
        /* deleted on some instance */
        if (!cx->legacy
            && ngx_http_confhaven_mcp_session_drop(&mcf->zone,
                                                   &cx->session)
               == NGX_OK)
        {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "confhaven mcp: session %V was deleted on another "
                          "instance", &cx->session);
        }

        return;
    }

    if (reply->type != REDIS_REPLY_ARRAY) {
        return;
    }

    if (cx->want_events) {
        /* {hash, events} */

        if (reply->elements != 2
            || reply->element[0]->type != REDIS_REPLY_ARRAY
            || reply->element[1]->type != REDIS_REPLY_ARRAY)
        {
            return;
        }

        v = reply->element[1];

        cx->events = ngx_palloc(r->pool,
                                (v->elements + 1) * sizeof(ngx_str_t));
        if (cx->events == NULL) {
            return;
        }

        for (i = 0; i < v->elements; i++) {
            f = v->element[i];

            if (f->type != REDIS_REPLY_STRING) {
                continue;
            }

            cx->events[cx->nevents].data = ngx_pnalloc(r->pool, f->len + 1);
            if (cx->events[cx->nevents].data == NULL) {
                return;
            }

            ngx_memcpy(cx->events[cx->nevents].data, f->str, f->len);
            cx->events[cx->nevents].len = f->len;
            cx->nevents++;
        }

        cx->events_ok = 1;
        reply = reply->element[0];
    }

    if (reply->elements == 0) {
        /* unknown there: registered while Redis was away, or expired */

        if (!cx->legacy && !cx->deleting) {
            version = ngx_http_confhaven_mcp_session_find(&mcf->zone,
                                                          &cx->session,
                                                          cx->legacy);
            if (version && mcf->cluster) {
                ngx_http_confhaven_mcp_cluster_register(mcf->cluster,
                                                        &cx->session,
                                                        version);
                ngx_http_confhaven_mcp_cluster_remember(mcf->cluster,
                                                        &cx->session);
            }
        }

        return;
    }

    version = 0;
    level = 0;
    ngx_str_null(&where);

    for (i = 0; i + 1 < reply->elements; i += 2) {
        f = reply->element[i];
        v = reply->element[i + 1];

        if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) {
            continue;
        }

        len = f->len;

        if (len == 1 && (f->str[0] == 'v' || f->str[0] == 'l')) {
            n = ngx_atoi((u_char *) v->str, v->len);
            if (n == NGX_ERROR) {
                continue;
            }

            if (f->str[0] == 'v') {
                version = n;

            } else {
                level = n;
            }

            continue;
        }

        if (len == 3 && ngx_strncmp(f->str, "sse", 3) == 0) {
            where.data = (u_char *) v->str;
            where.len = v->len;
        }
    }

    if (cx->deleting) {
        /* deleted there (a tombstone stays): nothing to import */
        cx->existed = 1;
        return;
    }

    if (version == 0 || version > NGX_HTTP_CONFHAVEN_MCP_VLAST) {
        return;
    }

    if (cx->legacy) {
        if (where.len <= NGX_HTTP_CONFHAVEN_MCP_INSTANCE_LEN
            || ngx_strncmp(where.data, mcf->instance.data,
                           NGX_HTTP_CONFHAVEN_MCP_INSTANCE_LEN)
               == 0)
        {
            /* not a stream, or one of ours that has gone */
            return;
        }

        cx->where.data = ngx_pnalloc(r->pool, where.len);
        if (cx->where.data == NULL) {
            return;
        }

        ngx_memcpy(cx->where.data, where.data, where.len);
        cx->where.len = where.len;
        cx->version = version;
        cx->remote = 1;

        return;
    }

    if (ngx_http_confhaven_mcp_session_import(&mcf->zone, &cx->session,
                                              version, level,
                                              r->connection->log)
        == NGX_OK)
    {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "confhaven mcp: session %V known from Redis",
                       &cx->session);

        if (mcf->cluster) {
            ngx_http_confhaven_mcp_cluster_remember(mcf->cluster,
                                                    &cx->session);
        }
    }
}


static void
ngx_http_confhaven_mcp_cluster_cleanup(void *data)
{
    ngx_http_confhaven_mcp_cluster_req_t *cx = data;

    if (cx->op) {
        ngx_http_confhaven_redis_cancel(cx->op);
        cx->op = NULL;
    }
}


/* a DELETE that removed its session from Redis */

ngx_uint_t
ngx_http_confhaven_mcp_cluster_deleted(
    ngx_http_confhaven_mcp_cluster_req_t *cx)
{
    return cx && cx->deleting && cx->existed;
}


/* the request's session is a legacy stream of another instance */

ngx_http_confhaven_mcp_cluster_req_t *
ngx_http_confhaven_mcp_cluster_remote(
    ngx_http_confhaven_mcp_cluster_req_t *cx)
{
    return (cx && cx->remote) ? cx : NULL;
}


/*
 * PUBLISHes "<session id>\n<data>" to the worker holding the stream;
 * handler gets the number of receivers (-1: no answer).  NGX_DECLINED:
 * Redis cannot take it now.
 */

ngx_int_t
ngx_http_confhaven_mcp_cluster_publish(
    ngx_http_confhaven_mcp_cluster_req_t *cx, ngx_str_t *data,
    ngx_http_confhaven_mcp_published_pt handler, void *hdata)
{
    u_char                            *channel, *msg, *p;
    size_t                             argvlen[3];
    const char                        *argv[3];
    ngx_http_request_t                *r;
    ngx_http_confhaven_redis_op_t     *op;
    ngx_http_confhaven_mcp_cluster_t  *cl;

    cl = ngx_http_confhaven_mcp_cluster(cx->mcf);
    if (cl == NULL) {
        return NGX_DECLINED;
    }

    r = cx->r;

    argvlen[1] = sizeof(NGX_HTTP_CONFHAVEN_MCP_KEY_SSE) - 1 + cx->where.len;
    argvlen[2] = cx->session.len + 1 + data->len;

    channel = ngx_pnalloc(r->pool, argvlen[1]);
    msg = ngx_pnalloc(r->pool, argvlen[2]);

    if (channel == NULL || msg == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(channel, NGX_HTTP_CONFHAVEN_MCP_KEY_SSE,
                   sizeof(NGX_HTTP_CONFHAVEN_MCP_KEY_SSE) - 1);
    ngx_memcpy(p, cx->where.data, cx->where.len);

    p = ngx_cpymem(msg, cx->session.data, cx->session.len);
    *p++ = '\n';
    ngx_memcpy(p, data->data, data->len);

    argv[0] = "PUBLISH";
    argvlen[0] = sizeof("PUBLISH") - 1;
    argv[1] = (const char *) channel;
    argv[2] = (const char *) msg;

    op = ngx_http_confhaven_redis_op(cl->redis,
                                     ngx_http_confhaven_mcp_cluster_reply, cx);
    if (op == NULL) {
        return NGX_ERROR;
    }

    ngx_http_confhaven_redis_trace(op, cx->trace);

    if (ngx_http_confhaven_redis_command(op, 3, argv, argvlen) != NGX_OK) {
        return NGX_DECLINED;
    }

    cx->op = op;
    cx->published = handler;
    cx->data = hdata;

    ngx_http_confhaven_redis_flush(cl->redis);

    return NGX_OK;
}


static void
ngx_http_confhaven_mcp_cluster_reply(ngx_http_confhaven_redis_op_t *op,
    redisReply *reply)
{
    ngx_http_confhaven_mcp_cluster_req_t *cx = op->data;

    ngx_int_t  n;

    cx->op = NULL;

    n = (reply && reply->type == REDIS_REPLY_INTEGER) ? reply->integer : -1;

    if (reply && reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, cx->r->connection->log, 0,
                      "confhaven mcp: Redis: %*s", (size_t) reply->len,
                      reply->str);
    }

    cx->published(cx->data, n);
}


/*
 * a session deleted somewhere (confhaven:mcp:ended: its id alone), or a
 * reply published by another instance for one of our streams (the id, a
 * newline, the reply)
 */

static void
ngx_http_confhaven_mcp_cluster_message(void *data, u_char *msg, size_t len)
{
    ngx_http_confhaven_mcp_cluster_t *cl = data;

    ngx_str_t                        id, body;
    ngx_http_confhaven_mcp_known_t  *k;

    if (len == NGX_HTTP_CONFHAVEN_MCP_SESSION_ID_LEN) {
        id.data = msg;
        id.len = len;

        k = ngx_http_confhaven_mcp_cluster_slot(cl, &id);

        if (ngx_memcmp(k->id, msg, len) == 0) {
            k->until = 0;
        }

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, cl->log, 0,
                       "confhaven mcp: session %V ended", &id);
        return;
    }

    if (len <= NGX_HTTP_CONFHAVEN_MCP_SESSION_ID_LEN + 1
        || msg[NGX_HTTP_CONFHAVEN_MCP_SESSION_ID_LEN] != '\n')
    {
        ngx_log_error(NGX_LOG_ERR, cl->log, 0,
                      "confhaven mcp: a malformed message on \"%V\" is "
                      "dropped", &cl->channel);
        return;
    }

    id.data = msg;
    id.len = NGX_HTTP_CONFHAVEN_MCP_SESSION_ID_LEN;
    body.data = msg + NGX_HTTP_CONFHAVEN_MCP_SESSION_ID_LEN + 1;
    body.len = len - NGX_HTTP_CONFHAVEN_MCP_SESSION_ID_LEN - 1;

    if (cl->deliver == NULL) {
        ngx_log_error(NGX_LOG_ERR, cl->log, 0,
                      "confhaven mcp: a message on \"%V\" is dropped: no "
                      "legacy SSE transport here", &cl->channel);
        return;
    }

    cl->deliver(cl->deliver_data, &id, &body, cl->log);
}


/*
 * A barrier: sync->handler runs once Redis has run every command this
 * worker sent it before (one connection's commands run in order), e.g.
 * the registration of a legacy stream, whose endpoint event then tells
 * the client an id that every instance can find; also when Redis does
 * not answer within confhaven_redis_timeout.  NGX_DECLINED: no cluster,
 * or Redis cannot take a command now (nothing was sent either).
 */

ngx_int_t
ngx_http_confhaven_mcp_cluster_sync(ngx_http_confhaven_mcp_main_conf_t *mcf,
    ngx_http_confhaven_mcp_cluster_sync_t *sync)
{
    size_t                             argvlen[1];
    const char                        *argv[1];
    ngx_http_confhaven_redis_op_t     *op;
    ngx_http_confhaven_mcp_cluster_t  *cl;

    cl = ngx_http_confhaven_mcp_cluster(mcf);
    if (cl == NULL) {
        return NGX_DECLINED;
    }

    op = ngx_http_confhaven_redis_op(cl->redis,
                                     ngx_http_confhaven_mcp_cluster_synced,
                                     sync);
    if (op == NULL) {
        return NGX_DECLINED;
    }

    argv[0] = "PING";
    argvlen[0] = sizeof("PING") - 1;

    ngx_http_confhaven_redis_trace(op, sync->trace);

    if (ngx_http_confhaven_redis_command(op, 1, argv, argvlen) != NGX_OK) {
        return NGX_DECLINED;
    }

    sync->op = op;

    ngx_http_confhaven_redis_flush(cl->redis);

    return NGX_OK;
}


/* the handler will not run (the caller's request is going) */

void
ngx_http_confhaven_mcp_cluster_sync_cancel(
    ngx_http_confhaven_mcp_cluster_sync_t *sync)
{
    if (sync->op) {
        ngx_http_confhaven_redis_cancel(sync->op);
        sync->op = NULL;
    }
}


static void
ngx_http_confhaven_mcp_cluster_synced(ngx_http_confhaven_redis_op_t *op,
    redisReply *reply)
{
    ngx_http_confhaven_mcp_cluster_sync_t *sync = op->data;

    sync->op = NULL;
    sync->handler(sync->data);
}


/* ------------------------------------- what this instance tells Redis */


static void
ngx_http_confhaven_mcp_cluster_register(ngx_http_confhaven_mcp_cluster_t *cl,
    ngx_str_t *id, ngx_uint_t version)
{
    ngx_http_confhaven_mcp_cluster_store(cl, id, version, 0);
}


/* a legacy stream opened here: its version and where it is */

void
ngx_http_confhaven_mcp_cluster_bind(ngx_http_confhaven_mcp_main_conf_t *mcf,
    ngx_str_t *id, ngx_uint_t version)
{
    ngx_http_confhaven_mcp_cluster_t  *cl;

    cl = ngx_http_confhaven_mcp_cluster(mcf);
    if (cl == NULL) {
        return;
    }

    ngx_http_confhaven_mcp_cluster_store(cl, id, version, 1);
}


/* the session's entry; with "stream", also where its legacy stream is */

static void
ngx_http_confhaven_mcp_cluster_store(ngx_http_confhaven_mcp_cluster_t *cl,
    ngx_str_t *id, ngx_uint_t version, ngx_uint_t stream)
{
    int                                argc;
    u_char                             key[NGX_HTTP_CONFHAVEN_MCP_KEY_LEN];
    u_char                             num[NGX_INT_T_LEN];
    size_t                             argvlen[9];
    const char                        *argv[9];

    if (!ngx_http_confhaven_redis_ready(cl->redis)
        || id->len != NGX_HTTP_CONFHAVEN_MCP_SESSION_ID_LEN)
    {
        return;
    }

    ngx_http_confhaven_mcp_cluster_key(key, NGX_HTTP_CONFHAVEN_MCP_KEY_SESSION,
                                       id);

    argv[0] = "EVAL";
    argvlen[0] = sizeof("EVAL") - 1;
    argv[1] = ngx_http_confhaven_mcp_lua_register;
    argvlen[1] = sizeof(ngx_http_confhaven_mcp_lua_register) - 1;
    argv[2] = "1";
    argvlen[2] = 1;
    argv[3] = (const char *) key;
    argvlen[3] = sizeof(key);
    argv[4] = (const char *) cl->ttl.data;
    argvlen[4] = cl->ttl.len;
    argv[5] = "v";
    argvlen[5] = 1;
    argv[6] = (const char *) num;
    argvlen[6] = ngx_sprintf(num, "%ui", version) - num;
    argc = 7;

    if (stream) {
        argv[7] = "sse";
        argvlen[7] = 3;
        argv[8] = (const char *) cl->where.data;
        argvlen[8] = cl->where.len;
        argc = 9;
    }

    ngx_http_confhaven_mcp_cluster_send(cl, argc, argv, argvlen);
}


static void
ngx_http_confhaven_mcp_cluster_set(ngx_http_confhaven_mcp_cluster_t *cl,
    ngx_str_t *id, const char *field, ngx_uint_t value)
{
    u_char                             key[NGX_HTTP_CONFHAVEN_MCP_KEY_LEN];
    u_char                             num[NGX_INT_T_LEN];
    size_t                             argvlen[6];
    const char                        *argv[6];

    if (!ngx_http_confhaven_redis_ready(cl->redis)
        || id->len != NGX_HTTP_CONFHAVEN_MCP_SESSION_ID_LEN)
    {
        return;
    }

    ngx_http_confhaven_mcp_cluster_key(key, NGX_HTTP_CONFHAVEN_MCP_KEY_SESSION,
                                       id);

    argv[0] = "EVAL";
    argvlen[0] = sizeof("EVAL") - 1;
    argv[1] = ngx_http_confhaven_mcp_lua_set;
    argvlen[1] = sizeof(ngx_http_confhaven_mcp_lua_set) - 1;
    argv[2] = "1";
    argvlen[2] = 1;
    argv[3] = (const char *) key;
    argvlen[3] = sizeof(key);
    argv[4] = field;
    argvlen[4] = ngx_strlen(field);
    argv[5] = (const char *) num;
    argvlen[5] = ngx_sprintf(num, "%ui", value) - num;

    ngx_http_confhaven_mcp_cluster_send(cl, 6, argv, argvlen);
}


/* the session is in use here: it lives on in every instance */

static void
ngx_http_confhaven_mcp_cluster_touch(ngx_http_confhaven_mcp_cluster_t *cl,
    ngx_str_t *id)
{
    u_char                             key[NGX_HTTP_CONFHAVEN_MCP_KEY_LEN];
    size_t                             argvlen[3];
    const char                        *argv[3];

    if (!ngx_http_confhaven_redis_ready(cl->redis)
        || id->len != NGX_HTTP_CONFHAVEN_MCP_SESSION_ID_LEN)
    {
        return;
    }

    ngx_http_confhaven_mcp_cluster_key(key, NGX_HTTP_CONFHAVEN_MCP_KEY_SESSION,
                                       id);

    argv[0] = "PEXPIRE";
    argvlen[0] = sizeof("PEXPIRE") - 1;
    argv[1] = (const char *) key;
    argvlen[1] = sizeof(key);
    argv[2] = (const char *) cl->ttl.data;
    argvlen[2] = cl->ttl.len;

    ngx_http_confhaven_mcp_cluster_send(cl, 3, argv, argvlen);
}


/* the session ended here: DELETE (a tombstone) or its legacy stream */

static void
ngx_http_confhaven_mcp_cluster_forget(ngx_http_confhaven_mcp_cluster_t *cl,
    ngx_str_t *id, ngx_uint_t tombstone)
{
    u_char                             key[NGX_HTTP_CONFHAVEN_MCP_KEY_LEN];
    u_char                             tomb[NGX_HTTP_CONFHAVEN_MCP_KEY_LEN];
    size_t                             argvlen[8];
    const char                        *argv[8];

    if (!ngx_http_confhaven_redis_ready(cl->redis)
        || id->len != NGX_HTTP_CONFHAVEN_MCP_SESSION_ID_LEN)
    {
        return;
    }

    ngx_http_confhaven_mcp_cluster_key(key, NGX_HTTP_CONFHAVEN_MCP_KEY_SESSION,
                                       id);
    ngx_http_confhaven_mcp_cluster_key(tomb,
                                       NGX_HTTP_CONFHAVEN_MCP_KEY_DELETED,
                                       id);

    argv[0] = "EVAL";
    argvlen[0] = sizeof("EVAL") - 1;
    argv[1] = ngx_http_confhaven_mcp_lua_forget;
    argvlen[1] = sizeof(ngx_http_confhaven_mcp_lua_forget) - 1;
    argv[2] = "2";
    argvlen[2] = 1;
    argv[3] = (const char *) key;
    argvlen[3] = sizeof(key);
    argv[4] = (const char *) tomb;
    argvlen[4] = sizeof(tomb);

    if (tombstone) {
        argv[5] = (const char *) cl->ttl.data;
        argvlen[5] = cl->ttl.len;

    } else {
        argv[5] = "0";
        argvlen[5] = 1;
    }

    argv[6] = (const char *) cl->channels[1].data;
    argvlen[6] = cl->channels[1].len;
    argv[7] = (const char *) id->data;
    argvlen[7] = id->len;

    ngx_http_confhaven_mcp_cluster_send(cl, 8, argv, argvlen);
}


/*
 * An event of one of the session's POST streams, as logged in the zone
 * (data NULL: a priming event), for a resume on another instance: sent at
 * once, before the event is written to its stream, and nobody waits for it.
 */

void
ngx_http_confhaven_mcp_cluster_event(ngx_http_confhaven_mcp_main_conf_t *mcf,
    ngx_str_t *id, ngx_str_t *event, ngx_str_t *data, ngx_uint_t final)
{
    u_char                 key[NGX_HTTP_CONFHAVEN_MCP_EVENTS_KEY_LEN];
    u_char                 num[NGX_INT_T_LEN];
    u_char                 size[NGX_SIZE_T_LEN];
    u_char                *msg, *p;
    size_t                             argvlen[8], len;
    const char                        *argv[8];
    ngx_http_confhaven_mcp_cluster_t  *cl;

    cl = ngx_http_confhaven_mcp_cluster(mcf);
    if (cl == NULL || id->len != NGX_HTTP_CONFHAVEN_MCP_SESSION_ID_LEN) {
        return;
    }

    len = data ? data->len : 0;

    if (len > cl->mcf->zone.log_size) {
        /* not kept in the zone either */
        return;
    }

    msg = ngx_alloc(1 + event->len + 1 + len, cl->log);
    if (msg == NULL) {
        return;
    }

    p = msg;
    *p++ = final ? '1' : '0';
    p = ngx_cpymem(p, event->data, event->len);
    *p++ = '\n';

    if (len) {
        p = ngx_cpymem(p, data->data, len);
    }

    ngx_memcpy(key, NGX_HTTP_CONFHAVEN_MCP_KEY_EVENTS,
               sizeof(NGX_HTTP_CONFHAVEN_MCP_KEY_EVENTS) - 1);
    ngx_memcpy(key + sizeof(NGX_HTTP_CONFHAVEN_MCP_KEY_EVENTS) - 1, id->data,
               NGX_HTTP_CONFHAVEN_MCP_SESSION_ID_LEN);

    argv[0] = "EVAL";
    argvlen[0] = sizeof("EVAL") - 1;
    argv[1] = ngx_http_confhaven_mcp_lua_event;
    argvlen[1] = sizeof(ngx_http_confhaven_mcp_lua_event) - 1;
    argv[2] = "1";
    argvlen[2] = 1;
    argv[3] = (const char *) key;
    argvlen[3] = sizeof(key);
    argv[4] = (const char *) cl->ttl.data;
    argvlen[4] = cl->ttl.len;
    argv[5] = (const char *) num;
    argvlen[5] = ngx_sprintf(num, "%d",
                             NGX_HTTP_CONFHAVEN_MCP_EVENTS_KEPT)
                 - num;
    argv[6] = (const char *) msg;
    argvlen[6] = p - msg;
    argv[7] = (const char *) size;
    argvlen[7] = ngx_sprintf(size, "%uz", cl->mcf->zone.log_size)
                 - size;

    /* hiredis copies the command */
    ngx_http_confhaven_mcp_cluster_send(cl, 8, argv, argvlen);

    ngx_free(msg);
}


/*
 * An event id: "<stream>-<seq>", or "<stream>-<seq>-<instance>" in a
 * cluster (instance->len is 0 without one).
 */

ngx_int_t
ngx_http_confhaven_mcp_cluster_event_id_parse(u_char *p, u_char *last,
    ngx_int_t *stream, ngx_int_t *seq, ngx_str_t *instance)
{
    u_char  *dash, *dash2;

    instance->len = 0;
    instance->data = NULL;

    dash = ngx_strlchr(p, last, '-');
    if (dash == NULL) {
        return NGX_ERROR;
    }

    dash2 = ngx_strlchr(dash + 1, last, '-');

    if (dash2) {
        if (last - dash2 - 1 != NGX_HTTP_CONFHAVEN_MCP_INSTANCE_LEN) {
            return NGX_ERROR;
        }

        instance->data = dash2 + 1;
        instance->len = NGX_HTTP_CONFHAVEN_MCP_INSTANCE_LEN;
        last = dash2;
    }

    *stream = ngx_atoi(p, dash - p);
    *seq = ngx_atoi(dash + 1, last - dash - 1);

    if (*stream == NGX_ERROR || *seq == NGX_ERROR) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* a command nobody waits for, sent at once */

static void
ngx_http_confhaven_mcp_cluster_send(ngx_http_confhaven_mcp_cluster_t *cl,
    int argc, const char **argv, const size_t *argvlen)
{
    ngx_http_confhaven_redis_op_t  *op;

    op = ngx_http_confhaven_redis_op(cl->redis,
                                     ngx_http_confhaven_mcp_cluster_ignore,
                                     cl);
    if (op == NULL) {
        return;
    }

    if (ngx_http_confhaven_redis_command(op, argc, argv, argvlen) != NGX_OK) {
        return;
    }

    ngx_http_confhaven_redis_flush(cl->redis);
}


static void
ngx_http_confhaven_mcp_cluster_ignore(ngx_http_confhaven_redis_op_t *op,
    redisReply *reply)
{
    ngx_http_confhaven_mcp_cluster_t *cl = op->data;

    if (reply && reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, cl->log, 0,
                      "confhaven mcp: Redis: %*s", (size_t) reply->len,
                      reply->str);
    }
}


/* ------------------------------ the sessions Redis confirmed lately */


static ngx_http_confhaven_mcp_known_t *
ngx_http_confhaven_mcp_cluster_slot(ngx_http_confhaven_mcp_cluster_t *cl,
    ngx_str_t *id)
{
    ngx_uint_t  h;

    /* ids are random: their last hex digits spread them well enough */

    h = ngx_hash_key(id->data + id->len - 8, 8);

    return &cl->known[h & (NGX_HTTP_CONFHAVEN_MCP_CLUSTER_KNOWN - 1)];
}


/*
 * Redis confirmed the session less than cl->recheck ago, nothing said it
 * ended since (what the subscription has received is read first), and
 * the subscription has been up all that time.
 */

static ngx_uint_t
ngx_http_confhaven_mcp_cluster_known(ngx_http_confhaven_mcp_cluster_t *cl,
    ngx_str_t *id)
{
    ngx_http_confhaven_mcp_known_t  *k;

    k = ngx_http_confhaven_mcp_cluster_slot(cl, id);

    if (k->until == 0
        || ngx_memcmp(k->id, id->data, NGX_HTTP_CONFHAVEN_MCP_SESSION_ID_LEN)
           != 0)
    {
        return 0;
    }

    ngx_http_confhaven_redis_poll(cl->sub);

    if (k->until == 0
        || (ngx_msec_int_t) (k->until - ngx_current_msec) <= 0
        || !ngx_http_confhaven_redis_ready(cl->sub)
        || k->epoch != ngx_http_confhaven_redis_epoch(cl->sub))
    {
        k->until = 0;
        return 0;
    }

    return 1;
}


static void
ngx_http_confhaven_mcp_cluster_remember(ngx_http_confhaven_mcp_cluster_t *cl,
    ngx_str_t *id)
{
    ngx_http_confhaven_mcp_known_t  *k;

    if (!ngx_http_confhaven_redis_ready(cl->sub)) {
        return;
    }

    k = ngx_http_confhaven_mcp_cluster_slot(cl, id);

    ngx_memcpy(k->id, id->data, NGX_HTTP_CONFHAVEN_MCP_SESSION_ID_LEN);
    k->epoch = ngx_http_confhaven_redis_epoch(cl->sub);
    k->until = ngx_current_msec + cl->recheck;

    if (k->until == 0) {
        k->until = 1;
    }
}


static void
ngx_http_confhaven_mcp_cluster_key(u_char *buf, const char *prefix,
    ngx_str_t *id)
{
    size_t  len;

    len = ngx_strlen(prefix);

    ngx_memcpy(buf, prefix, len);
    ngx_memcpy(buf + len, id->data, NGX_HTTP_CONFHAVEN_MCP_SESSION_ID_LEN);
}
