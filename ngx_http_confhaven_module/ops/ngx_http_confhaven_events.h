
/*
 * Copyright (C) ConferenceHaven
 */


#ifndef _NGX_HTTP_CONFHAVEN_EVENTS_H_INCLUDED_
#define _NGX_HTTP_CONFHAVEN_EVENTS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <jansson.h>

#include "ngx_http_confhaven_pg.h"
#include "ngx_http_confhaven_op.h"


/* event kinds */
#define NGX_HTTP_CONFHAVEN_EVENT_NONE    0   /* an evaluation record only */
#define NGX_HTTP_CONFHAVEN_EVENT_SEARCH  1
#define NGX_HTTP_CONFHAVEN_EVENT_VIEW    2
#define NGX_HTTP_CONFHAVEN_EVENT_INVITE  3

#define NGX_HTTP_CONFHAVEN_EVENTS_SIZE      4096
#define NGX_HTTP_CONFHAVEN_EVENTS_INTERVAL  1000
#define NGX_HTTP_CONFHAVEN_EVENTS_RETENTION (30 * 86400)


typedef struct {
    ngx_uint_t                     size;        /* confhaven_events_buffer */
    ngx_msec_t                     interval;    /* ..._flush_interval */
    time_t                         retention;   /* evaluation records */
    ngx_shm_zone_t                *shm;         /* the counters, summed */
} ngx_http_confhaven_events_conf_t;


/*
 * What a front end tells of one answer.  Everything is copied (bounded)
 * into the worker's buffer before ngx_http_confhaven_events_record()
 * returns; nothing waits for the database.
 */

typedef struct {
    ngx_uint_t                     kind;        /* EVENT_* */
    const char                    *wire;        /* "rest", "mcp-http", ... */
    ngx_str_t                      client;      /* clientInfo or User-Agent */
    ngx_http_confhaven_op_call_t  *call;        /* its values */
    ngx_str_t                      answer;      /* JSON, ids looked for */
    ngx_int_t                      count;       /* -1: unknown */
    ngx_uint_t                     cache_hit;
    ngx_msec_t                     latency;
    int64_t                        session;     /* VIEW, INVITE */
    ngx_str_t                      conference;  /* INVITE: as given */

    /* an MCP tool call: also an evaluation record */
    ngx_str_t                      tool;
    ngx_str_t                      trace;
    ngx_uint_t                     is_error;
} ngx_http_confhaven_event_t;


ngx_int_t ngx_http_confhaven_events_zone_add(ngx_conf_t *cf,
    ngx_http_confhaven_events_conf_t *conf, void *tag);
ngx_int_t ngx_http_confhaven_events_init(ngx_cycle_t *cycle,
    ngx_http_confhaven_events_conf_t *conf,
    ngx_http_confhaven_pg_pool_t *pool, ngx_http_confhaven_pg_conf_t *pgcf);
void ngx_http_confhaven_events_exit(void);
void ngx_http_confhaven_events_record(ngx_http_confhaven_event_t *ev);
void ngx_http_confhaven_events_invite(int64_t session, ngx_str_t *conference,
    const char *wire, ngx_str_t *client);
json_t *ngx_http_confhaven_events_health(void);
ngx_uint_t ngx_http_confhaven_events_kind(ngx_http_confhaven_op_t *op);


#endif /* _NGX_HTTP_CONFHAVEN_EVENTS_H_INCLUDED_ */
