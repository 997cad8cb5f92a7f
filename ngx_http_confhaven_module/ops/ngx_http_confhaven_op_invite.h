
/*
 * Copyright (C) ConferenceHaven
 */


#ifndef _NGX_HTTP_CONFHAVEN_OP_INVITE_H_INCLUDED_
#define _NGX_HTTP_CONFHAVEN_OP_INVITE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_thread_pool.h>

#include "ngx_http_confhaven_op.h"
#include "ngx_http_confhaven_redis.h"
#include "ngx_http_confhaven_graph.h"


/* the tool's budget, as in the original service */
#define NGX_HTTP_CONFHAVEN_INVITE_BUDGET  15000


/* send_calendar_invite's configuration (http level) */
typedef struct {
    ngx_http_confhaven_graph_conf_t   graph;
    ngx_str_t                         thread_pool_name;
    ngx_thread_pool_t                *thread_pool;
    ngx_str_t                         hash_key;
    ngx_uint_t                        limit_recipient;   /* per hour */
    ngx_uint_t                        limit_client;      /* per hour */
    ngx_flag_t                        configured;        /* Graph is */
} ngx_http_confhaven_invite_conf_t;


void ngx_http_confhaven_invite_create_conf(
    ngx_http_confhaven_invite_conf_t *ic);
char *ngx_http_confhaven_invite_init_conf(ngx_conf_t *cf,
    ngx_http_confhaven_invite_conf_t *ic, ngx_uint_t redis, ngx_uint_t pg);
void ngx_http_confhaven_invite_init_process(
    ngx_http_confhaven_invite_conf_t *ic, ngx_http_confhaven_redis_t *redis);


#endif /* _NGX_HTTP_CONFHAVEN_OP_INVITE_H_INCLUDED_ */
