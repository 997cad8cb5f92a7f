
/*
 * Copyright (C) ConferenceHaven
 *
 * The MCP session zone in ordinary memory, for every target: this file
 * includes ngx_http_confhaven_mcp_session.c to reach its static zone
 * initializer, so the build links it instead of that module object.
 */


#include "ngx_http_confhaven_mcp_session.c"

#include "harness.h"


#define FUZZ_ZONE_SIZE  (1024 * 1024)


/* ids the seeds use: a 2025-06-18 session and a 2024-11-05 one */
u_char  fuzz_session_modern[] = "0123456789abcdef0123456789abcdef";
u_char  fuzz_session_old[] = "fedcba9876543210fedcba9876543210";


void
fuzz_zone_reset(ngx_http_confhaven_mcp_zone_t *zone)
{
    static u_char          *addr;
    ngx_str_t               id;
    ngx_shm_zone_t          shm_zone;
    ngx_slab_pool_t        *shpool;

    if (addr == NULL) {
        if (posix_memalign((void **) &addr, ngx_pagesize, FUZZ_ZONE_SIZE)
            != 0)
        {
            abort();
        }
    }

    /* a shared memory zone starts zeroed, its lock free */
    ngx_memzero(addr, sizeof(ngx_slab_pool_t));

    shpool = (ngx_slab_pool_t *) addr;
    shpool->end = addr + FUZZ_ZONE_SIZE;
    shpool->min_shift = 3;
    shpool->addr = addr;

    if (ngx_shmtx_create(&shpool->mutex, &shpool->lock, NULL) != NGX_OK) {
        abort();
    }

    ngx_slab_init(shpool);

    ngx_memzero(&shm_zone, sizeof(ngx_shm_zone_t));
    shm_zone.shm.addr = addr;
    shm_zone.shm.size = FUZZ_ZONE_SIZE;
    ngx_str_set(&shm_zone.shm.name, "fuzz");
    shm_zone.data = zone;

    zone->timeout = NGX_HTTP_CONFHAVEN_MCP_SESSION_TIMEOUT;

#if defined(NGX_HTTP_CONFHAVEN_MCP_PER_CLIENT)
    /* the session limits, as ngx_http_confhaven_mcp_session_init_conf() sets
     * them when no directive does (max: from the zone's size) */
    zone->max = NGX_CONF_UNSET_UINT;
    zone->per_client = NGX_HTTP_CONFHAVEN_MCP_PER_CLIENT;
    zone->log_size = NGX_HTTP_CONFHAVEN_MCP_LOG_SIZE;
#endif

    if (ngx_http_confhaven_mcp_zone_init(&shm_zone, NULL) != NGX_OK) {
        abort();
    }

    id.len = NGX_HTTP_CONFHAVEN_MCP_SESSION_ID_LEN;

    id.data = fuzz_session_modern;
    if (ngx_http_confhaven_mcp_session_import(zone, &id,
            NGX_HTTP_CONFHAVEN_MCP_V2025_06_18, 0, &fuzz_log)
        != NGX_OK)
    {
        abort();
    }

    id.data = fuzz_session_old;
    if (ngx_http_confhaven_mcp_session_import(zone, &id,
            NGX_HTTP_CONFHAVEN_MCP_V2024_11_05, 0, &fuzz_log)
        != NGX_OK)
    {
        abort();
    }
}
