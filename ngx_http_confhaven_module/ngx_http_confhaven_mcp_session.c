
/*
 * Copyright (C) ConferenceHaven
 */


/*
 * MCP sessions (Streamable HTTP, 2025-x): ids minted from the kernel's
 * CSPRNG, kept in a shared-memory zone (slab + rbtree + LRU queue) so that
 * every worker knows every session; idle sessions expire.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <sys/random.h>

#include "ngx_http_confhaven_module.h"
#include "ngx_http_confhaven_mcp.h"


typedef struct {
    ngx_str_node_t                     sn;        /* key: crc32 of the id */
    ngx_queue_t                        queue;     /* LRU, newest first */
    time_t                             last;
    ngx_uint_t                         version;
    u_char                       id[NGX_HTTP_CONFHAVEN_MCP_SESSION_ID_LEN];
} ngx_http_confhaven_mcp_node_t;


struct ngx_http_confhaven_mcp_sh_s {
    ngx_rbtree_t                       rbtree;
    ngx_rbtree_node_t                  sentinel;
    ngx_queue_t                        lru;
    ngx_uint_t                         count;
};

typedef struct ngx_http_confhaven_mcp_sh_s  ngx_http_confhaven_mcp_sh_t;


static char *ngx_http_confhaven_mcp_zone_add(ngx_conf_t *cf, ngx_str_t *name,
    size_t size, ngx_http_confhaven_main_conf_t *chmcf);
static ngx_int_t ngx_http_confhaven_mcp_zone_init(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_http_confhaven_mcp_node_t *ngx_http_confhaven_mcp_session_lookup(
    ngx_http_confhaven_mcp_zone_t *zone, ngx_str_t *id);
static void ngx_http_confhaven_mcp_session_expire(
    ngx_http_confhaven_mcp_zone_t *zone, ngx_uint_t force);
static void ngx_http_confhaven_mcp_session_free(
    ngx_http_confhaven_mcp_zone_t *zone, ngx_http_confhaven_mcp_node_t *sn);


char *
ngx_http_confhaven_mcp_set_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_confhaven_main_conf_t *chmcf = conf;

    ssize_t     size;
    ngx_str_t  *value;

    if (chmcf->mcp_shm) {
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

    return ngx_http_confhaven_mcp_zone_add(cf, &value[1], size, chmcf);
}


/* a configuration with MCP but no zone gets a small default one */

char *
ngx_http_confhaven_mcp_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_confhaven_main_conf_t *chmcf = conf;

    ngx_str_t  name = ngx_string(NGX_HTTP_CONFHAVEN_MCP_ZONE_NAME);

    ngx_conf_init_msec_value(chmcf->mcp_session_timeout,
                             NGX_HTTP_CONFHAVEN_MCP_SESSION_TIMEOUT);

    if (chmcf->mcp_session_timeout < 1000) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"confhaven_mcp_session_timeout\" must be "
                           "at least 1s");
        return NGX_CONF_ERROR;
    }

    chmcf->mcp_zone.timeout = chmcf->mcp_session_timeout;

    if (!chmcf->mcp_used || chmcf->mcp_shm) {
        return NGX_CONF_OK;
    }

    return ngx_http_confhaven_mcp_zone_add(cf, &name,
                                           NGX_HTTP_CONFHAVEN_MCP_ZONE_SIZE,
                                           chmcf);
}


static char *
ngx_http_confhaven_mcp_zone_add(ngx_conf_t *cf, ngx_str_t *name, size_t size,
    ngx_http_confhaven_main_conf_t *chmcf)
{
    ngx_shm_zone_t  *shm_zone;

    shm_zone = ngx_shared_memory_add(cf, name, size,
                                     &ngx_http_confhaven_module);
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
    shm_zone->data = &chmcf->mcp_zone;
    chmcf->mcp_shm = shm_zone;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_confhaven_mcp_zone_init(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_confhaven_mcp_zone_t  *ozone = data;

    size_t                          len;
    ngx_http_confhaven_mcp_sh_t    *sh;
    ngx_http_confhaven_mcp_zone_t  *zone;

    zone = shm_zone->data;

    if (ozone) {
        /* reload: the sessions survive */
        zone->shpool = ozone->shpool;
        zone->sh = ozone->sh;
        return NGX_OK;
    }

    zone->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        zone->sh = zone->shpool->data;
        return NGX_OK;
    }

    sh = ngx_slab_alloc(zone->shpool, sizeof(ngx_http_confhaven_mcp_sh_t));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    ngx_rbtree_init(&sh->rbtree, &sh->sentinel, ngx_str_rbtree_insert_value);
    ngx_queue_init(&sh->lru);
    sh->count = 0;

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

    return NGX_OK;
}


/*
 * Writes NGX_HTTP_CONFHAVEN_MCP_SESSION_ID_LEN visible ASCII characters
 * (hex of 128 random bits) to id and records the session.
 */

ngx_int_t
ngx_http_confhaven_mcp_session_create(ngx_http_confhaven_mcp_zone_t *zone,
    ngx_uint_t version, u_char *id, ngx_log_t *log)
{
    u_char                          rnd[NGX_HTTP_CONFHAVEN_MCP_SESSION_ID_LEN
                                        / 2];
    ssize_t                         n;
    ngx_uint_t                      tries;
    ngx_http_confhaven_mcp_node_t  *sn;

    n = getrandom(rnd, sizeof(rnd), 0);
    if (n != (ssize_t) sizeof(rnd)) {
        ngx_log_error(NGX_LOG_CRIT, log, ngx_errno,
                      "confhaven mcp: getrandom() failed");
        return NGX_ERROR;
    }

    ngx_hex_dump(id, rnd, sizeof(rnd));

    ngx_shmtx_lock(&zone->shpool->mutex);

    ngx_http_confhaven_mcp_session_expire(zone, 0);

    for (tries = 0; /* void */; tries++) {
        sn = ngx_slab_alloc_locked(zone->shpool,
                                   sizeof(ngx_http_confhaven_mcp_node_t));
        if (sn) {
            break;
        }

        if (tries == 8 || ngx_queue_empty(&zone->sh->lru)) {
            ngx_shmtx_unlock(&zone->shpool->mutex);
            ngx_log_error(NGX_LOG_ERR, log, 0,
                          "confhaven mcp: session zone is full");
            return NGX_ERROR;
        }

        /* the zone is full: the least recently used session goes */
        ngx_http_confhaven_mcp_session_expire(zone, 1);
    }

    ngx_memcpy(sn->id, id, NGX_HTTP_CONFHAVEN_MCP_SESSION_ID_LEN);
    sn->sn.str.data = sn->id;
    sn->sn.str.len = NGX_HTTP_CONFHAVEN_MCP_SESSION_ID_LEN;
    sn->sn.node.key = ngx_crc32_short(sn->id,
                                      NGX_HTTP_CONFHAVEN_MCP_SESSION_ID_LEN);
    sn->version = version;
    sn->last = ngx_time();

    ngx_rbtree_insert(&zone->sh->rbtree, &sn->sn.node);
    ngx_queue_insert_head(&zone->sh->lru, &sn->queue);
    zone->sh->count++;

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return NGX_OK;
}


/* the session's protocol version, or 0 when it is unknown or expired */

ngx_uint_t
ngx_http_confhaven_mcp_session_find(ngx_http_confhaven_mcp_zone_t *zone,
    ngx_str_t *id)
{
    ngx_uint_t                      version;
    ngx_http_confhaven_mcp_node_t  *sn;

    if (id->len != NGX_HTTP_CONFHAVEN_MCP_SESSION_ID_LEN) {
        return 0;
    }

    ngx_shmtx_lock(&zone->shpool->mutex);

    sn = ngx_http_confhaven_mcp_session_lookup(zone, id);

    if (sn == NULL) {
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


ngx_int_t
ngx_http_confhaven_mcp_session_delete(ngx_http_confhaven_mcp_zone_t *zone,
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


/* called with the mutex held: drop up to two idle sessions, or the oldest */

static void
ngx_http_confhaven_mcp_session_expire(ngx_http_confhaven_mcp_zone_t *zone,
    ngx_uint_t force)
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

        if (!force && now - sn->last <= (time_t) (zone->timeout / 1000)) {
            return;
        }

        ngx_http_confhaven_mcp_session_free(zone, sn);

        if (force) {
            return;
        }
    }
}


static void
ngx_http_confhaven_mcp_session_free(ngx_http_confhaven_mcp_zone_t *zone,
    ngx_http_confhaven_mcp_node_t *sn)
{
    ngx_queue_remove(&sn->queue);
    ngx_rbtree_delete(&zone->sh->rbtree, &sn->sn.node);
    zone->sh->count--;
    ngx_slab_free_locked(zone->shpool, sn);
}
