
/*
 * Copyright (C) ConferenceHaven
 */


/*
 * MCP sessions (Streamable HTTP, 2025-x): ids minted from the kernel's
 * CSPRNG, kept in a shared-memory zone (slab + rbtree + LRU queue) so that
 * every worker knows every session; idle sessions expire.
 *
 * Nobody evicts a live session to make room for another: the zone holds
 * at most zone->max sessions (confhaven_mcp_max_sessions, by default as
 * many as half the zone holds), at most
 * zone->per_client of them created by one client address
 * (confhaven_mcp_sessions_per_client, the address as the realip module
 * leaves it), and when either is reached, or the slab has no room, only
 * sessions idle for longer than the timeout are reclaimed; if that is not
 * enough, the new session is refused (NGX_BUSY, NGX_DECLINED) and its
 * client is told to come back later.
 *
 * Each session also keeps a bounded log of the SSE events sent on its
 * streams (at most NGX_HTTP_CONFHAVEN_MCP_LOG_EVENTS events and
 * zone->log_size bytes as the slab counts them,
 * confhaven_mcp_event_log_size, oldest dropped first), so that a GET with
 * Last-Event-ID replays them whatever worker it reaches.  All the logs
 * together take at most zone->log_budget, what the zone has beyond the
 * room of zone->max sessions, so that logs never take a session's place;
 * past it, the logs of the least recently used sessions go first.  Event
 * ids are "<stream>-<seq>": stream 0 is the session's GET stream, 1, 2,
 * ... the POST streams in order, and seq counts the session's events, so
 * an id is unique across the session and names its stream.  In a cluster
 * (ngx_http_confhaven_mcp_cluster.c) ids are "<stream>-<seq>-<instance>"
 * and stream and seq are counted over the zone (increasing within each
 * session still), so that a session dropped from the zone and imported
 * again never repeats an id; its earlier ids are then read from Redis.
 *
 * A legacy HTTP+SSE stream (2024-11-05) is a session bound to the worker
 * and connection holding it (sse_pid, sse_slot, sse_tag).  A reply made
 * by another worker goes to that worker's mailbox: a queue in the zone,
 * one per process slot (NGX_HTTP_CONFHAVEN_MCP_MAILBOXES of them, shared
 * modulo), that the owner drains on a short timer while it holds streams
 * (ngx_http_confhaven_transport_sse.c).  An entry is taken out under the mutex
 * by the one worker it names, so it is delivered at most once, and it is
 * only dropped when its stream is gone.
 *
 * With confhaven_redis_server, every session is also registered in Redis
 * (ngx_http_confhaven_mcp_cluster.c): the functions here tell the cluster
 * about creation, binding, changes and deletion through zone->notify (set
 * by the cluster in each worker; the zone does not know the cluster), and
 * a session
 * another instance created is imported with
 * ngx_http_confhaven_mcp_session_import().
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <sys/random.h>

#include "ngx_http_confhaven_mcp.h"
#include "ngx_http_confhaven_metrics.h"


/* a client address as the key of its sessions (an IPv6 one fits) */
#define NGX_HTTP_CONFHAVEN_MCP_CLIENT_LEN  48


typedef struct {
    ngx_str_node_t                     sn;        /* key: crc32 of the id */
    ngx_queue_t                        queue;     /* LRU, newest first */
    ngx_queue_t                        events;    /* the log, oldest first */
    time_t                             last;
    ngx_uint_t                         version;
    ngx_uint_t                         streams;   /* POST streams opened */
    ngx_uint_t                         seq;       /* last event number */
    ngx_uint_t                         nevents;
    ngx_uint_t                         dropped;   /* last seq dropped */
    ngx_uint_t                         base;      /* zone seq at insert */
    size_t                             logged;    /* bytes in the log */
    ngx_pid_t                          get_pid;   /* holds the GET stream */
    ngx_uint_t                         get_tag;
    ngx_uint_t                         level;     /* logging/setLevel */
    ngx_uint_t                         extensions;  /* MCP_EXT_* */
    ngx_pid_t                          sse_pid;   /* legacy stream owner */
    ngx_uint_t                         sse_slot;
    ngx_uint_t                         sse_tag;
    struct ngx_http_confhaven_mcp_client_s  *client;  /* NULL: imported */
    u_char                       id[NGX_HTTP_CONFHAVEN_MCP_SESSION_ID_LEN];
    /*
     * What the session's client told once: the organizer credential of a
     * legacy stream's GET ("prefix:sha256-hex", never the key) and
     * initialize's clientInfo.name (cut), for the analytics.
     */
    u_char                       cred[NGX_HTTP_CONFHAVEN_MCP_CRED_LEN];
    u_char                       name[NGX_HTTP_CONFHAVEN_MCP_NAME_LEN];
    u_char                             cred_len;
    u_char                             name_len;
} ngx_http_confhaven_mcp_node_t;


/* the sessions one client address created */

typedef struct ngx_http_confhaven_mcp_client_s {
    ngx_str_node_t                     sn;        /* key: crc32 of addr */
    ngx_uint_t                         count;
    u_char                             addr[1];
} ngx_http_confhaven_mcp_client_t;


typedef struct {
    ngx_queue_t                        queue;
    ngx_uint_t                         stream;
    ngx_uint_t                         seq;
    ngx_uint_t                         final;     /* the stream's last */
    size_t                             len;
    u_char                             data[1];
} ngx_http_confhaven_mcp_event_t;


struct ngx_http_confhaven_mcp_sh_s {
    ngx_rbtree_t                       rbtree;
    ngx_rbtree_node_t                  sentinel;
    ngx_queue_t                        lru;
    ngx_uint_t                         count;
    ngx_queue_t             mailbox[NGX_HTTP_CONFHAVEN_MCP_MAILBOXES];
    ngx_atomic_t            pending[NGX_HTTP_CONFHAVEN_MCP_MAILBOXES];
    ngx_uint_t                         streams;   /* in a cluster: the */
    ngx_uint_t                         seq;       /* zone's numbers */
    ngx_rbtree_t                       clients;
    ngx_rbtree_node_t                  clients_sentinel;
    ngx_uint_t                         pages;     /* free after init */
    size_t                             logged;    /* in all the logs */
};

typedef struct ngx_http_confhaven_mcp_sh_s  ngx_http_confhaven_mcp_sh_t;


static char *ngx_http_confhaven_mcp_zone_add(ngx_conf_t *cf, ngx_str_t *name,
    size_t size, ngx_http_confhaven_mcp_main_conf_t *mcf);
static void ngx_http_confhaven_mcp_notify(ngx_http_confhaven_mcp_zone_t *zone,
    ngx_uint_t event, ngx_str_t *id, ngx_uint_t value);
static ngx_int_t ngx_http_confhaven_mcp_zone_init(ngx_shm_zone_t *shm_zone,
    void *data);
static void ngx_http_confhaven_mcp_zone_limits(
    ngx_http_confhaven_mcp_zone_t *zone);
static size_t ngx_http_confhaven_mcp_slab_cost(size_t size);
static ngx_int_t ngx_http_confhaven_mcp_session_insert(
    ngx_http_confhaven_mcp_zone_t *zone, ngx_uint_t version, u_char *id,
    ngx_uint_t level, ngx_str_t *client, ngx_uint_t tag, ngx_log_t *log);
static ngx_http_confhaven_mcp_client_t *ngx_http_confhaven_mcp_client_lookup(
    ngx_http_confhaven_mcp_zone_t *zone, ngx_str_t *addr, uint32_t hash);
static ngx_uint_t ngx_http_confhaven_mcp_session_reclaim(
    ngx_http_confhaven_mcp_zone_t *zone);
static ngx_http_confhaven_mcp_node_t *ngx_http_confhaven_mcp_session_lookup(
    ngx_http_confhaven_mcp_zone_t *zone, ngx_str_t *id);
static void ngx_http_confhaven_mcp_session_expire(
    ngx_http_confhaven_mcp_zone_t *zone);
static void ngx_http_confhaven_mcp_session_free(
    ngx_http_confhaven_mcp_zone_t *zone, ngx_http_confhaven_mcp_node_t *sn);
static ngx_http_confhaven_mcp_node_t *ngx_http_confhaven_mcp_session_live(
    ngx_http_confhaven_mcp_zone_t *zone, ngx_str_t *id);
static void ngx_http_confhaven_mcp_event_drop(
    ngx_http_confhaven_mcp_zone_t *zone, ngx_http_confhaven_mcp_node_t *sn);


/* conf + cmd->offset: the ngx_http_confhaven_mcp_main_conf_t */

char *
ngx_http_confhaven_mcp_session_set_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ssize_t                              size;
    ngx_str_t                           *value;
    ngx_http_confhaven_mcp_main_conf_t  *mcf;

    mcf = (ngx_http_confhaven_mcp_main_conf_t *) ((char *) conf
                                                  + cmd->offset);

    if (mcf->shm) {
        return "is duplicate";
    }

    value = cf->args->elts;

    size = ngx_parse_size(&value[2]);

    if (size == NGX_ERROR || size < (ssize_t) (8 * ngx_pagesize)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"%V\" directive: "
                           "expected a size of at least %uzk", &value[2],
                           &cmd->name, 8 * ngx_pagesize / 1024);
        return NGX_CONF_ERROR;
    }

    if (value[1].len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone name \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    return ngx_http_confhaven_mcp_zone_add(cf, &value[1], size, mcf);
}


/* a configuration with MCP but no zone gets a small default one */

char *
ngx_http_confhaven_mcp_session_init_conf(ngx_conf_t *cf,
    ngx_http_confhaven_mcp_main_conf_t *mcf)
{
    ngx_str_t  name = ngx_string(NGX_HTTP_CONFHAVEN_MCP_ZONE_NAME);

    ngx_conf_init_msec_value(mcf->session_timeout,
                             NGX_HTTP_CONFHAVEN_MCP_SESSION_TIMEOUT);

    if (mcf->session_timeout < 1000) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"confhaven_mcp_session_timeout\" must be "
                           "at least 1s");
        return NGX_CONF_ERROR;
    }

    mcf->zone.timeout = mcf->session_timeout;

    ngx_conf_init_uint_value(mcf->zone.per_client,
                             NGX_HTTP_CONFHAVEN_MCP_PER_CLIENT);
    ngx_conf_init_size_value(mcf->zone.log_size,
                             NGX_HTTP_CONFHAVEN_MCP_LOG_SIZE);

    /* (max stays unset: the zone's size decides, in zone_init) */

    if (mcf->zone.max == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"confhaven_mcp_max_sessions\" must be "
                           "at least 1");
        return NGX_CONF_ERROR;
    }

    if (mcf->zone.log_size < 1024
        || mcf->zone.log_size > 1024 * 1024)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"confhaven_mcp_event_log_size\" must be "
                           "between 1k and 1m");
        return NGX_CONF_ERROR;
    }

    if (!mcf->used || mcf->shm) {
        return NGX_CONF_OK;
    }

    return ngx_http_confhaven_mcp_zone_add(cf, &name,
                                           NGX_HTTP_CONFHAVEN_MCP_ZONE_SIZE,
                                           mcf);
}


static char *
ngx_http_confhaven_mcp_zone_add(ngx_conf_t *cf, ngx_str_t *name, size_t size,
    ngx_http_confhaven_mcp_main_conf_t *mcf)
{
    ngx_shm_zone_t  *shm_zone;

    shm_zone = ngx_shared_memory_add(cf, name, size, mcf->tag);
    if (shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "shared memory zone \"%V\" is already used",
                           name);
        return NGX_CONF_ERROR;
    }

    shm_zone->init = ngx_http_confhaven_mcp_zone_init;
    shm_zone->data = &mcf->zone;
    mcf->shm = shm_zone;

    return NGX_CONF_OK;
}


/* the listener (the cluster, in a worker that has one) */

static void
ngx_http_confhaven_mcp_notify(ngx_http_confhaven_mcp_zone_t *zone,
    ngx_uint_t event, ngx_str_t *id, ngx_uint_t value)
{
    if (zone->notify) {
        zone->notify(zone->notify_data, event, id, value);
    }
}


static ngx_int_t
ngx_http_confhaven_mcp_zone_init(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_confhaven_mcp_zone_t  *ozone = data;

    size_t                          len;
    ngx_uint_t                      i;
    ngx_http_confhaven_mcp_sh_t    *sh;
    ngx_http_confhaven_mcp_zone_t  *zone;

    zone = shm_zone->data;

    if (ozone) {
        /* reload: the sessions survive */
        zone->shpool = ozone->shpool;
        zone->sh = ozone->sh;
        ngx_http_confhaven_mcp_zone_limits(zone);
        return NGX_OK;
    }

    zone->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        zone->sh = zone->shpool->data;
        ngx_http_confhaven_mcp_zone_limits(zone);
        return NGX_OK;
    }

    sh = ngx_slab_alloc(zone->shpool, sizeof(ngx_http_confhaven_mcp_sh_t));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    ngx_rbtree_init(&sh->rbtree, &sh->sentinel, ngx_str_rbtree_insert_value);
    ngx_queue_init(&sh->lru);
    sh->count = 0;

    for (i = 0; i < NGX_HTTP_CONFHAVEN_MCP_MAILBOXES; i++) {
        ngx_queue_init(&sh->mailbox[i]);
        sh->pending[i] = 0;
    }

    sh->streams = 0;
    sh->seq = 0;

    ngx_rbtree_init(&sh->clients, &sh->clients_sentinel,
                    ngx_str_rbtree_insert_value);
    sh->logged = 0;

    zone->sh = sh;
    zone->shpool->data = sh;

    len = sizeof(" in confhaven_mcp_zone \"\"") + shm_zone->shm.name.len;

    zone->shpool->log_ctx = ngx_slab_alloc(zone->shpool, len);
    if (zone->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(zone->shpool->log_ctx, " in confhaven_mcp_zone \"%V\"%Z",
                &shm_zone->shm.name);

    zone->shpool->log_nomem = 0;

    sh->pages = zone->shpool->pfree;

    ngx_http_confhaven_mcp_zone_limits(zone);

    return NGX_OK;
}


/*
 * 7/8 of the zone is for sessions and their logs (the rest for replies in
 * the legacy mailboxes and the slab's slack): room for zone->max sessions,
 * each with a client of its own (by default half of it), and what is left
 * for the event logs.
 */

static void
ngx_http_confhaven_mcp_zone_limits(ngx_http_confhaven_mcp_zone_t *zone)
{
    size_t  one, room;

    one = ngx_http_confhaven_mcp_slab_cost(
              sizeof(ngx_http_confhaven_mcp_node_t))
          + ngx_http_confhaven_mcp_slab_cost(
              offsetof(ngx_http_confhaven_mcp_client_t, addr)
              + NGX_HTTP_CONFHAVEN_MCP_CLIENT_LEN);

    room = zone->sh->pages * ngx_pagesize / 8 * 7;

    if (zone->max == NGX_CONF_UNSET_UINT) {
        zone->max = ngx_max(room / 2 / one, 1);
    }

    zone->log_budget = (room > zone->max * one) ? room - zone->max * one : 0;
}


/* what the slab takes for an allocation of size bytes */

static size_t
ngx_http_confhaven_mcp_slab_cost(size_t size)
{
    size_t  cost;

    if (size > ngx_pagesize / 2) {
        return ngx_align(size, ngx_pagesize);
    }

    for (cost = 8; cost < size; cost <<= 1) { /* void */ }

    return cost;
}


/*
 * A tag for a stream of this worker, unique within it (with ngx_pid, in
 * the zone): never 0, and never the connection's number, which all the
 * streams of an HTTP/2 connection share.
 */

ngx_uint_t
ngx_http_confhaven_mcp_session_request_tag(void)
{
    static ngx_uint_t  last;

    if (++last == 0) {
        last = 1;
    }

    return last;
}


/*
 * Writes NGX_HTTP_CONFHAVEN_MCP_SESSION_ID_LEN visible ASCII characters
 * (hex of 128 random bits) to id and records the session, created by the
 * client at address "client"; a legacy stream's session (tag not 0) is
 * bound at once to this worker's stream "tag".  NGX_DECLINED: the client
 * has its confhaven_mcp_sessions_per_client; NGX_BUSY: the zone is full.
 */

ngx_int_t
ngx_http_confhaven_mcp_session_create(ngx_http_confhaven_mcp_zone_t *zone,
    ngx_uint_t version, u_char *id, ngx_str_t *client, ngx_uint_t tag,
    ngx_log_t *log)
{
    u_char     rnd[NGX_HTTP_CONFHAVEN_MCP_SESSION_ID_LEN / 2];
    ssize_t    n;
    ngx_int_t  rc;
    ngx_str_t  sid;

    n = getrandom(rnd, sizeof(rnd), 0);
    if (n != (ssize_t) sizeof(rnd)) {
        ngx_log_error(NGX_LOG_CRIT, log, ngx_errno,
                      "confhaven mcp: getrandom() failed");
        return NGX_ERROR;
    }

    ngx_hex_dump(id, rnd, sizeof(rnd));

    rc = ngx_http_confhaven_mcp_session_insert(zone, version, id, 0, client,
                                               tag, log);
    if (rc != NGX_OK) {
        return rc;
    }

    sid.data = id;
    sid.len = NGX_HTTP_CONFHAVEN_MCP_SESSION_ID_LEN;

    ngx_http_confhaven_mcp_notify(zone,
                                  tag ? NGX_HTTP_CONFHAVEN_MCP_SESSION_BOUND
                                      : NGX_HTTP_CONFHAVEN_MCP_SESSION_CREATED,
                                  &sid, version);

    return NGX_OK;
}


/*
 * A session another instance created (found in Redis): known here from
 * now on.  NGX_OK also when it is already here.  It counts against the
 * zone's limit, not against any client's.
 */

ngx_int_t
ngx_http_confhaven_mcp_session_import(ngx_http_confhaven_mcp_zone_t *zone,
    ngx_str_t *id, ngx_uint_t version, ngx_uint_t level, ngx_log_t *log)
{
    if (id->len != NGX_HTTP_CONFHAVEN_MCP_SESSION_ID_LEN || version == 0) {
        return NGX_DECLINED;
    }

    return ngx_http_confhaven_mcp_session_insert(zone, version, id->data,
                                                 level, NULL, 0, log);
}


static ngx_int_t
ngx_http_confhaven_mcp_session_insert(ngx_http_confhaven_mcp_zone_t *zone,
    ngx_uint_t version, u_char *id, ngx_uint_t level, ngx_str_t *client,
    ngx_uint_t tag, ngx_log_t *log)
{
    size_t                            len;
    uint32_t                          hash;
    ngx_str_t                         sid, addr;
    ngx_uint_t                        reclaimed, import;
    ngx_http_confhaven_mcp_node_t    *sn;
    ngx_http_confhaven_mcp_client_t  *cl;

    sid.data = id;
    sid.len = NGX_HTTP_CONFHAVEN_MCP_SESSION_ID_LEN;

    import = (client == NULL);

    if (client && zone->per_client) {
        addr.data = client->data;
        addr.len = ngx_min(client->len, NGX_HTTP_CONFHAVEN_MCP_CLIENT_LEN);
        hash = ngx_crc32_short(addr.data, addr.len);

    } else {
        client = NULL;
        ngx_str_null(&addr);
        hash = 0;
    }

    reclaimed = 0;
    cl = NULL;
    sn = NULL;

    ngx_shmtx_lock(&zone->shpool->mutex);

    ngx_http_confhaven_mcp_session_expire(zone);

    if (ngx_http_confhaven_mcp_session_live(zone, &sid)) {
        /* imported meanwhile by another worker, or 128 bits met twice */
        ngx_shmtx_unlock(&zone->shpool->mutex);
        return import ? NGX_OK : NGX_ERROR;
    }

    if (client) {
        cl = ngx_http_confhaven_mcp_client_lookup(zone, &addr, hash);

        if (cl && cl->count >= zone->per_client) {
            /* only idle sessions go, and they are the LRU's tail */
            reclaimed = ngx_http_confhaven_mcp_session_reclaim(zone);
            cl = ngx_http_confhaven_mcp_client_lookup(zone, &addr, hash);

            if (cl && cl->count >= zone->per_client) {
                ngx_shmtx_unlock(&zone->shpool->mutex);
                ngx_http_confhaven_metrics_inc(
                              NGX_HTTP_CONFHAVEN_METRIC_MCP_SESSIONS_REFUSED);
                ngx_log_error(NGX_LOG_WARN, log, 0,
                              "confhaven mcp: client %V has %ui sessions, "
                              "a new one is refused", &addr, cl->count);
                return NGX_DECLINED;
            }
        }
    }

    if (zone->sh->count >= zone->max && !reclaimed) {
        reclaimed = ngx_http_confhaven_mcp_session_reclaim(zone);

        if (client) {
            cl = ngx_http_confhaven_mcp_client_lookup(zone, &addr, hash);
        }
    }

    if (zone->sh->count >= zone->max) {
        goto full;
    }

    for ( ;; ) {
        sn = ngx_slab_alloc_locked(zone->shpool,
                                   sizeof(ngx_http_confhaven_mcp_node_t));

        if (sn && client && cl == NULL) {
            len = offsetof(ngx_http_confhaven_mcp_client_t, addr) + addr.len;

            cl = ngx_slab_alloc_locked(zone->shpool, len);
            if (cl == NULL) {
                ngx_slab_free_locked(zone->shpool, sn);
                sn = NULL;

            } else {
                ngx_memcpy(cl->addr, addr.data, addr.len);
                cl->sn.str.data = cl->addr;
                cl->sn.str.len = addr.len;
                cl->sn.node.key = hash;
                cl->count = 0;
                ngx_rbtree_insert(&zone->sh->clients, &cl->sn.node);
            }
        }

        if (sn) {
            break;
        }

        if (reclaimed) {
            goto full;
        }

        /* no room in the slab: idle sessions go, never live ones */
        reclaimed = 1;
        ngx_http_confhaven_mcp_session_reclaim(zone);

        if (client) {
            cl = ngx_http_confhaven_mcp_client_lookup(zone, &addr, hash);
        }
    }

    ngx_memcpy(sn->id, id, NGX_HTTP_CONFHAVEN_MCP_SESSION_ID_LEN);
    sn->sn.str.data = sn->id;
    sn->sn.str.len = NGX_HTTP_CONFHAVEN_MCP_SESSION_ID_LEN;
    sn->sn.node.key = ngx_crc32_short(sn->id,
                                      NGX_HTTP_CONFHAVEN_MCP_SESSION_ID_LEN);
    sn->version = version;
    sn->last = ngx_time();
    /*
     * In a cluster, stream and event numbers are the zone's, so that a
     * session dropped here and imported again never reuses an event id
     * of this instance; ids from before that are not in this log.
     */
    sn->streams = zone->cluster ? zone->sh->streams : 0;
    sn->seq = zone->cluster ? zone->sh->seq : 0;
    sn->base = sn->seq;
    sn->nevents = 0;
    sn->dropped = 0;
    sn->logged = 0;
    sn->get_pid = 0;
    sn->get_tag = 0;
    sn->level = level;
    sn->extensions = 0;
    sn->sse_pid = tag ? ngx_pid : 0;
    sn->sse_slot = tag ? (ngx_uint_t) ngx_process_slot : 0;
    sn->sse_tag = tag;
    sn->client = cl;
    sn->cred_len = 0;
    sn->name_len = 0;
    ngx_queue_init(&sn->events);

    if (cl) {
        cl->count++;
    }

    ngx_rbtree_insert(&zone->sh->rbtree, &sn->sn.node);
    ngx_queue_insert_head(&zone->sh->lru, &sn->queue);
    zone->sh->count++;

    ngx_shmtx_unlock(&zone->shpool->mutex);

    if (!import) {
        ngx_http_confhaven_metrics_inc(
                              NGX_HTTP_CONFHAVEN_METRIC_MCP_SESSIONS_CREATED);
    }

    return NGX_OK;

full:

    if (cl && cl->count == 0) {
        /* made for this session */
        ngx_rbtree_delete(&zone->sh->clients, &cl->sn.node);
        ngx_slab_free_locked(zone->shpool, cl);
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    ngx_http_confhaven_metrics_inc(
                              NGX_HTTP_CONFHAVEN_METRIC_MCP_SESSIONS_REFUSED);

    ngx_log_error(NGX_LOG_WARN, log, 0,
                  "confhaven mcp: session zone is full (%ui sessions, at "
                  "most %ui), a new one is refused", zone->sh->count,
                  zone->max);

    return NGX_BUSY;
}


static ngx_http_confhaven_mcp_client_t *
ngx_http_confhaven_mcp_client_lookup(ngx_http_confhaven_mcp_zone_t *zone,
    ngx_str_t *addr, uint32_t hash)
{
    return (ngx_http_confhaven_mcp_client_t *)
               ngx_str_rbtree_lookup(&zone->sh->clients, addr, hash);
}


/* the session's protocol version, or 0 when it is unknown or expired */

ngx_uint_t
ngx_http_confhaven_mcp_session_find(ngx_http_confhaven_mcp_zone_t *zone,
    ngx_str_t *id, ngx_uint_t streams)
{
    ngx_uint_t                      version;
    ngx_http_confhaven_mcp_node_t  *sn;

    if (id->len != NGX_HTTP_CONFHAVEN_MCP_SESSION_ID_LEN) {
        return 0;
    }

    ngx_shmtx_lock(&zone->shpool->mutex);

    sn = ngx_http_confhaven_mcp_session_lookup(zone, id);

    if (sn == NULL || (!streams && sn->sse_tag)) {
        /* a legacy stream's id is no Streamable HTTP session */
        ngx_shmtx_unlock(&zone->shpool->mutex);
        return 0;
    }

    if (ngx_time() - sn->last > (time_t) (zone->timeout / 1000)) {
        ngx_http_confhaven_mcp_session_free(zone, sn);
        ngx_shmtx_unlock(&zone->shpool->mutex);
        return 0;
    }

    sn->last = ngx_time();
    ngx_queue_remove(&sn->queue);
    ngx_queue_insert_head(&zone->sh->lru, &sn->queue);
    version = sn->version;

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return version;
}


/* DELETE by the client: here, and (a tombstone) in every instance */

ngx_int_t
ngx_http_confhaven_mcp_session_delete(ngx_http_confhaven_mcp_zone_t *zone,
    ngx_str_t *id)
{
    ngx_int_t  rc;

    rc = ngx_http_confhaven_mcp_session_drop(zone, id);

    if (rc == NGX_OK) {
        ngx_http_confhaven_mcp_notify(zone,
                                      NGX_HTTP_CONFHAVEN_MCP_SESSION_DELETED,
                                      id, 0);
    }

    return rc;
}


/* forgets the session here only (another instance deleted it) */

ngx_int_t
ngx_http_confhaven_mcp_session_drop(ngx_http_confhaven_mcp_zone_t *zone,
    ngx_str_t *id)
{
    ngx_http_confhaven_mcp_node_t  *sn;

    if (id->len != NGX_HTTP_CONFHAVEN_MCP_SESSION_ID_LEN) {
        return NGX_DECLINED;
    }

    ngx_shmtx_lock(&zone->shpool->mutex);

    sn = ngx_http_confhaven_mcp_session_lookup(zone, id);
    if (sn == NULL) {
        ngx_shmtx_unlock(&zone->shpool->mutex);
        return NGX_DECLINED;
    }

    ngx_http_confhaven_mcp_session_free(zone, sn);

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return NGX_OK;
}


static ngx_http_confhaven_mcp_node_t *
ngx_http_confhaven_mcp_session_lookup(ngx_http_confhaven_mcp_zone_t *zone,
    ngx_str_t *id)
{
    uint32_t         hash;
    ngx_str_node_t  *sn;

    hash = ngx_crc32_short(id->data, id->len);

    sn = ngx_str_rbtree_lookup(&zone->sh->rbtree, id, hash);
    if (sn == NULL) {
        return NULL;
    }

    return (ngx_http_confhaven_mcp_node_t *) sn;
}


/* called with the mutex held: drops up to two idle sessions */

static void
ngx_http_confhaven_mcp_session_expire(ngx_http_confhaven_mcp_zone_t *zone)
{
    time_t                          now;
    ngx_uint_t                      n;
    ngx_queue_t                    *q;
    ngx_http_confhaven_mcp_node_t  *sn;

    now = ngx_time();

    for (n = 0; n < 2; n++) {

        if (ngx_queue_empty(&zone->sh->lru)) {
            return;
        }

        q = ngx_queue_last(&zone->sh->lru);
        sn = ngx_queue_data(q, ngx_http_confhaven_mcp_node_t, queue);

        if (now - sn->last <= (time_t) (zone->timeout / 1000)) {
            return;
        }

        ngx_http_confhaven_mcp_session_free(zone, sn);
    }
}


/*
 * called with the mutex held: drops every idle session (the LRU's tail,
 * oldest first); how many went
 */

static ngx_uint_t
ngx_http_confhaven_mcp_session_reclaim(ngx_http_confhaven_mcp_zone_t *zone)
{
    time_t                          now;
    ngx_uint_t                      n;
    ngx_queue_t                    *q;
    ngx_http_confhaven_mcp_node_t  *sn;

    now = ngx_time();

    for (n = 0; !ngx_queue_empty(&zone->sh->lru); n++) {

        q = ngx_queue_last(&zone->sh->lru);
        sn = ngx_queue_data(q, ngx_http_confhaven_mcp_node_t, queue);

        if (now - sn->last <= (time_t) (zone->timeout / 1000)) {
            break;
        }

        ngx_http_confhaven_mcp_session_free(zone, sn);
    }

    return n;
}


static void
ngx_http_confhaven_mcp_session_free(ngx_http_confhaven_mcp_zone_t *zone,
    ngx_http_confhaven_mcp_node_t *sn)
{
    ngx_http_confhaven_mcp_client_t  *cl;

    while (!ngx_queue_empty(&sn->events)) {
        ngx_http_confhaven_mcp_event_drop(zone, sn);
    }

    cl = sn->client;

    if (cl && --cl->count == 0) {
        ngx_rbtree_delete(&zone->sh->clients, &cl->sn.node);
        ngx_slab_free_locked(zone->shpool, cl);
    }

    ngx_queue_remove(&sn->queue);
    ngx_rbtree_delete(&zone->sh->rbtree, &sn->sn.node);
    zone->sh->count--;
    ngx_slab_free_locked(zone->shpool, sn);
}


/* called with the mutex held: the live session (touched), or NULL */

static ngx_http_confhaven_mcp_node_t *
ngx_http_confhaven_mcp_session_live(ngx_http_confhaven_mcp_zone_t *zone,
    ngx_str_t *id)
{
    ngx_http_confhaven_mcp_node_t  *sn;

    if (id->len != NGX_HTTP_CONFHAVEN_MCP_SESSION_ID_LEN) {
        return NULL;
    }

    sn = ngx_http_confhaven_mcp_session_lookup(zone, id);
    if (sn == NULL) {
        return NULL;
    }

    if (ngx_time() - sn->last > (time_t) (zone->timeout / 1000)) {
        ngx_http_confhaven_mcp_session_free(zone, sn);
        return NULL;
    }

    sn->last = ngx_time();
    ngx_queue_remove(&sn->queue);
    ngx_queue_insert_head(&zone->sh->lru, &sn->queue);

    return sn;
}


/* called with the mutex held: forgets the oldest logged event */

static void
ngx_http_confhaven_mcp_event_drop(ngx_http_confhaven_mcp_zone_t *zone,
    ngx_http_confhaven_mcp_node_t *sn)
{
    size_t                           cost;
    ngx_queue_t                     *q;
    ngx_http_confhaven_mcp_event_t  *ev;

    q = ngx_queue_head(&sn->events);
    ev = ngx_queue_data(q, ngx_http_confhaven_mcp_event_t, queue);

    cost = ngx_http_confhaven_mcp_slab_cost(
               offsetof(ngx_http_confhaven_mcp_event_t, data) + ev->len);

    ngx_queue_remove(q);
    sn->nevents--;
    sn->logged -= cost;
    zone->sh->logged -= cost;
    sn->dropped = ev->seq;

    ngx_slab_free_locked(zone->shpool, ev);
}


/* a new POST stream of the session: its number (1, 2, ...) */

ngx_int_t
ngx_http_confhaven_mcp_session_stream_open(ngx_http_confhaven_mcp_zone_t *zone,
    ngx_str_t *id, ngx_uint_t *stream)
{
    ngx_http_confhaven_mcp_node_t  *sn;

    ngx_shmtx_lock(&zone->shpool->mutex);

    sn = ngx_http_confhaven_mcp_session_live(zone, id);
    if (sn == NULL) {
        ngx_shmtx_unlock(&zone->shpool->mutex);
        return NGX_DECLINED;
    }

    if (zone->cluster) {
        /* (above the session's own, from before a cluster) */
        zone->sh->streams = ngx_max(zone->sh->streams, sn->streams) + 1;
        sn->streams = zone->sh->streams;

    } else {
        sn->streams++;
    }

    *stream = sn->streams;

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return NGX_OK;
}


/*
 * Numbers the next event of a stream (*seq) and, when data is given, logs
 * it for replay.  NGX_DECLINED: the session is gone.  An event that does
 * not fit the log is still numbered (and sent), just not replayable.
 */

ngx_int_t
ngx_http_confhaven_mcp_session_event_log(ngx_http_confhaven_mcp_zone_t *zone,
    ngx_str_t *id, ngx_uint_t stream, ngx_str_t *data, ngx_uint_t final,
    ngx_uint_t *seq, ngx_log_t *log)
{
    size_t                           size, cost;
    ngx_queue_t                     *q;
    ngx_http_confhaven_mcp_node_t   *sn, *victim;
    ngx_http_confhaven_mcp_event_t  *ev;

    ngx_shmtx_lock(&zone->shpool->mutex);

    sn = ngx_http_confhaven_mcp_session_live(zone, id);
    if (sn == NULL) {
        ngx_shmtx_unlock(&zone->shpool->mutex);
        return NGX_DECLINED;
    }

    if (zone->cluster) {
        zone->sh->seq = ngx_max(zone->sh->seq, sn->seq) + 1;
        sn->seq = zone->sh->seq;

    } else {
        sn->seq++;
    }

    *seq = sn->seq;

    if (data == NULL) {
        ngx_shmtx_unlock(&zone->shpool->mutex);
        return NGX_OK;
    }

    size = offsetof(ngx_http_confhaven_mcp_event_t, data) + data->len;
    cost = ngx_http_confhaven_mcp_slab_cost(size);

    if (cost > zone->log_size) {
        ngx_shmtx_unlock(&zone->shpool->mutex);
        ngx_log_error(NGX_LOG_INFO, log, 0,
                      "confhaven mcp: event of %uz bytes is larger than "
                      "confhaven_mcp_event_log_size, it is not kept for "
                      "replay", data->len);
        return NGX_OK;
    }

    while (sn->nevents
           && (sn->nevents >= NGX_HTTP_CONFHAVEN_MCP_LOG_EVENTS
               || sn->logged + cost > zone->log_size))
    {
        ngx_http_confhaven_mcp_event_drop(zone, sn);
    }

    /* all the logs: the least recently used sessions' go first */

    for (q = ngx_queue_last(&zone->sh->lru);
         zone->sh->logged + cost > zone->log_budget
         && q != ngx_queue_sentinel(&zone->sh->lru);
         q = ngx_queue_prev(q))
    {
        victim = ngx_queue_data(q, ngx_http_confhaven_mcp_node_t, queue);

        while (victim->nevents
               && zone->sh->logged + cost > zone->log_budget)
        {
            ngx_http_confhaven_mcp_event_drop(zone, victim);
        }
    }

    if (zone->sh->logged + cost > zone->log_budget) {
        ngx_shmtx_unlock(&zone->shpool->mutex);
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "confhaven mcp: no room for event logs in the "
                      "session zone, an event is not kept for replay");
        return NGX_OK;
    }

    for ( ;; ) {
        ev = ngx_slab_alloc_locked(zone->shpool, size);
        if (ev) {
            break;
        }

        if (sn->nevents == 0) {
            ngx_shmtx_unlock(&zone->shpool->mutex);
            ngx_log_error(NGX_LOG_WARN, log, 0,
                          "confhaven mcp: session zone is full, an event "
                          "is not kept for replay");
            return NGX_OK;
        }

        /* the zone is full: this session's oldest events go first */
        ngx_http_confhaven_mcp_event_drop(zone, sn);
    }

    ev->stream = stream;
    ev->seq = *seq;
    ev->final = final;
    ev->len = data->len;
    ngx_memcpy(ev->data, data->data, data->len);

    ngx_queue_insert_tail(&sn->events, &ev->queue);
    sn->nevents++;
    sn->logged += cost;
    zone->sh->logged += cost;

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return NGX_OK;
}


/*
 * Copies the logged events of a stream after seq "after" into out (an
 * array of ngx_http_confhaven_mcp_replay_t from pool); *final is set when
 * the stream's last event is in the log, replayed or not, or when the log
 * no longer reaches back to "after" (what is gone cannot be awaited).
 * NGX_DECLINED: no such session; NGX_ABORT: no such event id here.
 */

ngx_int_t
ngx_http_confhaven_mcp_session_event_replay(ngx_http_confhaven_mcp_zone_t *zone,
    ngx_str_t *id, ngx_uint_t stream, ngx_uint_t after, ngx_array_t *out,
    ngx_uint_t *final)
{
    u_char                           *p;
    ngx_int_t                         rc;
    ngx_queue_t                      *q;
    ngx_http_confhaven_mcp_node_t    *sn;
    ngx_http_confhaven_mcp_event_t   *ev;
    ngx_http_confhaven_mcp_replay_t  *rp;

    *final = 0;
    rc = NGX_OK;

    ngx_shmtx_lock(&zone->shpool->mutex);

    sn = ngx_http_confhaven_mcp_session_live(zone, id);
    if (sn == NULL) {
        ngx_shmtx_unlock(&zone->shpool->mutex);
        return NGX_DECLINED;
    }

    if (stream > sn->streams || after > sn->seq
        || (after && after <= sn->base))
    {
        ngx_shmtx_unlock(&zone->shpool->mutex);
        return NGX_ABORT;
    }

    for (q = ngx_queue_head(&sn->events);
         q != ngx_queue_sentinel(&sn->events);
         q = ngx_queue_next(q))
    {
        ev = ngx_queue_data(q, ngx_http_confhaven_mcp_event_t, queue);

        if (ev->stream != stream) {
            continue;
        }

        if (ev->final) {
            *final = 1;
        }

        if (ev->seq <= after) {
            continue;
        }

        rp = ngx_array_push(out);
        p = ngx_pnalloc(out->pool, ev->len);

        if (rp == NULL || p == NULL) {
            rc = NGX_ERROR;
            break;
        }

        ngx_memcpy(p, ev->data, ev->len);

        rp->seq = ev->seq;
        rp->final = ev->final;
        rp->data.data = p;
        rp->data.len = ev->len;
    }

    if (sn->dropped > after) {
        *final = 1;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return rc;
}


/*
 * The session's one GET stream: NGX_OK when claimed for (ngx_pid, tag),
 * NGX_BUSY when a live worker holds it, NGX_DECLINED without a session.
 */

ngx_int_t
ngx_http_confhaven_mcp_session_get_claim(ngx_http_confhaven_mcp_zone_t *zone,
    ngx_str_t *id, ngx_uint_t tag)
{
    ngx_http_confhaven_mcp_node_t  *sn;

    ngx_shmtx_lock(&zone->shpool->mutex);

    sn = ngx_http_confhaven_mcp_session_live(zone, id);
    if (sn == NULL) {
        ngx_shmtx_unlock(&zone->shpool->mutex);
        return NGX_DECLINED;
    }

    if (sn->get_pid
        && (sn->get_pid == ngx_pid
            || kill(sn->get_pid, 0) == 0 || ngx_errno != NGX_ESRCH))
    {
        /* held here, or by a worker that is still alive */
        ngx_shmtx_unlock(&zone->shpool->mutex);
        return NGX_BUSY;
    }

    sn->get_pid = ngx_pid;
    sn->get_tag = tag;

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return NGX_OK;
}


void
ngx_http_confhaven_mcp_session_get_release(ngx_http_confhaven_mcp_zone_t *zone,
    ngx_str_t *id, ngx_uint_t tag)
{
    ngx_http_confhaven_mcp_node_t  *sn;

    if (id->len != NGX_HTTP_CONFHAVEN_MCP_SESSION_ID_LEN) {
        return;
    }

    ngx_shmtx_lock(&zone->shpool->mutex);

    sn = ngx_http_confhaven_mcp_session_lookup(zone, id);

    if (sn && sn->get_pid == ngx_pid && sn->get_tag == tag) {
        sn->get_pid = 0;
        sn->get_tag = 0;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


ngx_int_t
ngx_http_confhaven_mcp_session_set_level(ngx_http_confhaven_mcp_zone_t *zone,
    ngx_str_t *id, ngx_uint_t level)
{
    ngx_http_confhaven_mcp_node_t  *sn;

    ngx_shmtx_lock(&zone->shpool->mutex);

    sn = ngx_http_confhaven_mcp_session_live(zone, id);
    if (sn) {
        sn->level = level;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    /* (also for a legacy stream held by another instance) */
    ngx_http_confhaven_mcp_notify(zone, NGX_HTTP_CONFHAVEN_MCP_SESSION_LEVEL,
                                  id, level);

    return sn ? NGX_OK : NGX_DECLINED;
}


ngx_int_t
ngx_http_confhaven_mcp_session_set_version(
    ngx_http_confhaven_mcp_zone_t *zone, ngx_str_t *id, ngx_uint_t version)
{
    ngx_http_confhaven_mcp_node_t  *sn;

    ngx_shmtx_lock(&zone->shpool->mutex);

    sn = ngx_http_confhaven_mcp_session_live(zone, id);
    if (sn) {
        sn->version = version;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    ngx_http_confhaven_mcp_notify(zone, NGX_HTTP_CONFHAVEN_MCP_SESSION_VERSION,
                                  id, version);

    return sn ? NGX_OK : NGX_DECLINED;
}


/*
 * The extensions the client announced in initialize (MCP Apps): kept with
 * the session in this zone only.  A session imported from another
 * instance (a cluster over Redis) has none: its client gets the plain
 * answers every client gets, never a broken one.
 */

ngx_int_t
ngx_http_confhaven_mcp_session_set_extensions(
    ngx_http_confhaven_mcp_zone_t *zone, ngx_str_t *id, ngx_uint_t ext)
{
    ngx_http_confhaven_mcp_node_t  *sn;

    ngx_shmtx_lock(&zone->shpool->mutex);

    sn = ngx_http_confhaven_mcp_session_live(zone, id);
    if (sn) {
        sn->extensions = ext;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return sn ? NGX_OK : NGX_DECLINED;
}


ngx_uint_t
ngx_http_confhaven_mcp_session_extensions(ngx_http_confhaven_mcp_zone_t *zone,
    ngx_str_t *id)
{
    ngx_uint_t                      ext;
    ngx_http_confhaven_mcp_node_t  *sn;

    ngx_shmtx_lock(&zone->shpool->mutex);

    sn = ngx_http_confhaven_mcp_session_live(zone, id);
    ext = sn ? sn->extensions : 0;

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return ext;
}


/* ------------------------------------------------- legacy SSE streams */


/* the stream ends: so does its session, if it is still this stream's */

void
ngx_http_confhaven_mcp_session_sse_unbind(ngx_http_confhaven_mcp_zone_t *zone,
    ngx_str_t *id, ngx_uint_t tag)
{
    ngx_uint_t                      freed;
    ngx_http_confhaven_mcp_node_t  *sn;

    if (id->len != NGX_HTTP_CONFHAVEN_MCP_SESSION_ID_LEN) {
        return;
    }

    ngx_shmtx_lock(&zone->shpool->mutex);

    sn = ngx_http_confhaven_mcp_session_lookup(zone, id);

    freed = 0;

    if (sn && sn->sse_pid == ngx_pid && sn->sse_tag == tag) {
        ngx_http_confhaven_mcp_session_free(zone, sn);
        freed = 1;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    if (freed) {
        ngx_http_confhaven_mcp_notify(zone,
                                      NGX_HTTP_CONFHAVEN_MCP_SESSION_CLOSED,
                                      id, 0);
    }
}


/*
 * The version of a legacy stream's session; 0 when there is no such
 * stream (unknown id, a Streamable HTTP session, an owner that died).
 */

ngx_uint_t
ngx_http_confhaven_mcp_session_sse_find(ngx_http_confhaven_mcp_zone_t *zone,
    ngx_str_t *id)
{
    ngx_uint_t                      version;
    ngx_http_confhaven_mcp_node_t  *sn;

    ngx_shmtx_lock(&zone->shpool->mutex);

    sn = ngx_http_confhaven_mcp_session_live(zone, id);

    if (sn && sn->sse_pid && sn->sse_pid != ngx_pid
        && kill(sn->sse_pid, 0) == -1 && ngx_errno == NGX_ESRCH)
    {
        /* its worker is gone, and the connection with it */
        ngx_http_confhaven_mcp_session_free(zone, sn);
        sn = NULL;
    }

    version = (sn && sn->sse_pid) ? sn->version : 0;

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return version;
}


/*
 * Routes a message to a legacy stream.  NGX_OK: the stream is ours, *tag
 * names its connection, the caller sends; NGX_DONE: queued for the
 * owner's mailbox; NGX_DECLINED: no such stream; NGX_ERROR: the zone is
 * full.
 */

ngx_int_t
ngx_http_confhaven_mcp_session_sse_route(ngx_http_confhaven_mcp_zone_t *zone,
    ngx_str_t *id, ngx_str_t *data, ngx_uint_t *tag, ngx_log_t *log)
{
    ngx_uint_t                      box;
    ngx_http_confhaven_mcp_node_t  *sn;
    ngx_http_confhaven_mcp_mail_t  *mail;

    ngx_shmtx_lock(&zone->shpool->mutex);

    sn = ngx_http_confhaven_mcp_session_live(zone, id);

    if (sn == NULL || sn->sse_pid == 0) {
        ngx_shmtx_unlock(&zone->shpool->mutex);
        return NGX_DECLINED;
    }

    *tag = sn->sse_tag;

    if (sn->sse_pid == ngx_pid) {
        ngx_shmtx_unlock(&zone->shpool->mutex);
        return NGX_OK;
    }

    mail = ngx_slab_alloc_locked(zone->shpool,
                                 offsetof(ngx_http_confhaven_mcp_mail_t, data)
                                 + data->len);
    if (mail == NULL) {
        ngx_shmtx_unlock(&zone->shpool->mutex);
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "confhaven mcp: session zone is full, a reply for a "
                      "stream of another worker cannot be queued");
        return NGX_ERROR;
    }

    mail->pid = sn->sse_pid;
    mail->tag = sn->sse_tag;
    mail->len = data->len;
    ngx_memcpy(mail->data, data->data, data->len);

    box = sn->sse_slot % NGX_HTTP_CONFHAVEN_MCP_MAILBOXES;

    ngx_queue_insert_tail(&zone->sh->mailbox[box], &mail->queue);
    zone->sh->pending[box]++;

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return NGX_DONE;
}


/*
 * Moves this worker's mail into "out" (entries stay in the zone until
 * ngx_http_confhaven_mcp_session_sse_free()); mail for workers that died is
 * dropped on the way.
 */

void
ngx_http_confhaven_mcp_session_sse_drain(ngx_http_confhaven_mcp_zone_t *zone,
    ngx_queue_t *out)
{
    ngx_uint_t                      box, keep;
    ngx_queue_t                    *q, *next;
    ngx_http_confhaven_mcp_mail_t  *mail;

    box = ngx_process_slot % NGX_HTTP_CONFHAVEN_MCP_MAILBOXES;

    if (zone->sh->pending[box] == 0) {
        return;
    }

    ngx_shmtx_lock(&zone->shpool->mutex);

    keep = 0;

    for (q = ngx_queue_head(&zone->sh->mailbox[box]);
         q != ngx_queue_sentinel(&zone->sh->mailbox[box]);
         q = next)
    {
        next = ngx_queue_next(q);
        mail = ngx_queue_data(q, ngx_http_confhaven_mcp_mail_t, queue);

        if (mail->pid == ngx_pid) {
            ngx_queue_remove(q);
            ngx_queue_insert_tail(out, q);
            continue;
        }

        if (kill(mail->pid, 0) == -1 && ngx_errno == NGX_ESRCH) {
            ngx_queue_remove(q);
            ngx_slab_free_locked(zone->shpool, mail);
            continue;
        }

        /* a live worker sharing the mailbox drains its own */
        keep++;
    }

    zone->sh->pending[box] = keep;

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


void
ngx_http_confhaven_mcp_session_sse_free(ngx_http_confhaven_mcp_zone_t *zone,
    ngx_queue_t *mail)
{
    ngx_queue_t  *q;

    ngx_shmtx_lock(&zone->shpool->mutex);

    while (!ngx_queue_empty(mail)) {
        q = ngx_queue_head(mail);
        ngx_queue_remove(q);
        ngx_slab_free_locked(zone->shpool,
                             ngx_queue_data(q, ngx_http_confhaven_mcp_mail_t,
                                            queue));
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


/*
 * What the zone holds now, for the metrics: live sessions by wire (a
 * legacy SSE stream is a session bound to a worker) and standalone GET
 * streams.  Walks every session under the mutex: for a scrape only.
 */

void
ngx_http_confhaven_mcp_session_stats(ngx_http_confhaven_mcp_zone_t *zone,
    ngx_http_confhaven_mcp_stats_t *st)
{
    time_t                          now;
    ngx_queue_t                    *q;
    ngx_http_confhaven_mcp_node_t  *sn;

    ngx_memzero(st, sizeof(ngx_http_confhaven_mcp_stats_t));

    if (zone->sh == NULL) {
        return;
    }

    now = ngx_time();

    ngx_shmtx_lock(&zone->shpool->mutex);

    for (q = ngx_queue_head(&zone->sh->lru);
         q != ngx_queue_sentinel(&zone->sh->lru);
         q = ngx_queue_next(q))
    {
        sn = ngx_queue_data(q, ngx_http_confhaven_mcp_node_t, queue);

        if (now - sn->last > (time_t) (zone->timeout / 1000)) {
            /* expired: the rest of the LRU is older still */
            break;
        }

        if (sn->sse_pid) {
            st->sse_sessions++;

        } else {
            st->sessions++;
        }

        if (sn->get_pid) {
            st->get_streams++;
        }
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


/*
 * The session's client facts (set once, from the stream's GET or from
 * initialize): "cred" the organizer credential, "name" clientInfo.name,
 * cut to what fits.  Local to this instance: a session imported from
 * another one has none (the key is then read from each POST, the
 * assistant from User-Agent).
 */

ngx_int_t
ngx_http_confhaven_mcp_session_set_client(ngx_http_confhaven_mcp_zone_t *zone,
    ngx_str_t *id, ngx_str_t *cred, ngx_str_t *name)
{
    size_t                          len;
    ngx_http_confhaven_mcp_node_t  *sn;

    ngx_shmtx_lock(&zone->shpool->mutex);

    sn = ngx_http_confhaven_mcp_session_live(zone, id);

    if (sn && cred && cred->len <= NGX_HTTP_CONFHAVEN_MCP_CRED_LEN) {
        ngx_memcpy(sn->cred, cred->data, cred->len);
        sn->cred_len = (u_char) cred->len;
    }

    if (sn && name) {
        len = ngx_min(name->len, NGX_HTTP_CONFHAVEN_MCP_NAME_LEN);
        ngx_memcpy(sn->name, name->data, len);
        sn->name_len = (u_char) len;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return sn ? NGX_OK : NGX_DECLINED;
}


/* copies of the session's client facts, in pool memory (empty: none) */

ngx_int_t
ngx_http_confhaven_mcp_session_client(ngx_http_confhaven_mcp_zone_t *zone,
    ngx_str_t *id, ngx_pool_t *pool, ngx_str_t *cred, ngx_str_t *name)
{
    u_char                         *p;
    ngx_http_confhaven_mcp_node_t  *sn;
    u_char       buf[NGX_HTTP_CONFHAVEN_MCP_CRED_LEN
                     + NGX_HTTP_CONFHAVEN_MCP_NAME_LEN];

    cred->len = 0;
    name->len = 0;

    ngx_shmtx_lock(&zone->shpool->mutex);

    sn = ngx_http_confhaven_mcp_session_live(zone, id);

    if (sn) {
        cred->len = sn->cred_len;
        name->len = sn->name_len;
        p = ngx_cpymem(buf, sn->cred, sn->cred_len);
        ngx_memcpy(p, sn->name, sn->name_len);
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    if (sn == NULL) {
        return NGX_DECLINED;
    }

    if (cred->len + name->len == 0) {
        return NGX_OK;
    }

    p = ngx_pnalloc(pool, cred->len + name->len);
    if (p == NULL) {
        cred->len = 0;
        name->len = 0;
        return NGX_ERROR;
    }

    ngx_memcpy(p, buf, cred->len + name->len);
    cred->data = p;
    name->data = p + cred->len;

    return NGX_OK;
}
