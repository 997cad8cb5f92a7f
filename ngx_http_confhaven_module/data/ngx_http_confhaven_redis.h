
/*
 * Copyright (C) ConferenceHaven
 */


#ifndef _NGX_HTTP_CONFHAVEN_REDIS_H_INCLUDED_
#define _NGX_HTTP_CONFHAVEN_REDIS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <hiredis/hiredis.h>
#include <hiredis/async.h>

#include "ngx_http_confhaven_trace.h"


typedef struct ngx_http_confhaven_redis_op_s  ngx_http_confhaven_redis_op_t;
typedef struct ngx_http_confhaven_redis_s     ngx_http_confhaven_redis_t;

/* reply is NULL when the command failed or timed out */
typedef void (*ngx_http_confhaven_redis_handler_pt)(
    ngx_http_confhaven_redis_op_t *op, redisReply *reply);

/* one message published on the channel of a subscriber connection */
typedef void (*ngx_http_confhaven_redis_message_pt)(void *data, u_char *msg,
    size_t len);


typedef struct {
    ngx_str_t                             url;
    ngx_str_t                             host;        /* numeric address */
    ngx_str_t                             path;        /* unix socket */
    in_port_t                             port;
    ngx_int_t                             db;
    ngx_str_t                             password;
    ngx_msec_t                            connect_timeout;
    ngx_msec_t                            timeout;
} ngx_http_confhaven_redis_conf_t;


struct ngx_http_confhaven_redis_op_s {
    ngx_http_confhaven_redis_handler_pt   handler;
    void                                 *data;
    ngx_http_confhaven_redis_t           *owner;
    ngx_event_t                           timer;
    ngx_queue_t                           queue;       /* free list */
    ngx_msec_t                            timeout;     /* 0: the conf's */
    ngx_http_confhaven_span_t            *parent;      /* of the next span */
    ngx_http_confhaven_span_t            *span;        /* ngx_alloc()'d */
    unsigned                              pending:1;   /* in hiredis */
    unsigned                              done:1;      /* handler ran */
};


ngx_http_confhaven_redis_t *ngx_http_confhaven_redis_create(
    ngx_cycle_t *cycle, ngx_http_confhaven_redis_conf_t *conf);
ngx_http_confhaven_redis_t *ngx_http_confhaven_redis_subscribe(
    ngx_cycle_t *cycle, ngx_http_confhaven_redis_conf_t *conf,
    ngx_str_t *channel, ngx_http_confhaven_redis_message_pt handler,
    void *data);
ngx_http_confhaven_redis_t *ngx_http_confhaven_redis_subscribe_channels(
    ngx_cycle_t *cycle, ngx_http_confhaven_redis_conf_t *conf,
    ngx_str_t *channels, ngx_uint_t n,
    ngx_http_confhaven_redis_message_pt handler, void *data);
ngx_uint_t ngx_http_confhaven_redis_epoch(ngx_http_confhaven_redis_t *redis);
void ngx_http_confhaven_redis_poll(ngx_http_confhaven_redis_t *redis);
void ngx_http_confhaven_redis_destroy(ngx_http_confhaven_redis_t *redis);
void ngx_http_confhaven_redis_flush(ngx_http_confhaven_redis_t *redis);
ngx_uint_t ngx_http_confhaven_redis_ready(ngx_http_confhaven_redis_t *redis);
const char *ngx_http_confhaven_redis_state(ngx_http_confhaven_redis_t *redis);
ngx_http_confhaven_redis_op_t *ngx_http_confhaven_redis_op(
    ngx_http_confhaven_redis_t *redis,
    ngx_http_confhaven_redis_handler_pt handler, void *data);
ngx_int_t ngx_http_confhaven_redis_command(ngx_http_confhaven_redis_op_t *op,
    int argc, const char **argv, const size_t *argvlen);
void ngx_http_confhaven_redis_cancel(ngx_http_confhaven_redis_op_t *op);
void ngx_http_confhaven_redis_trace(ngx_http_confhaven_redis_op_t *op,
    ngx_http_confhaven_span_t *parent);
char *ngx_http_confhaven_redis_parse_url(ngx_conf_t *cf,
    ngx_http_confhaven_redis_conf_t *conf);


#endif /* _NGX_HTTP_CONFHAVEN_REDIS_H_INCLUDED_ */
