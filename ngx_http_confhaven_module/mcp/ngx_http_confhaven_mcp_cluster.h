
/*
 * Copyright (C) ConferenceHaven
 */


#ifndef _NGX_HTTP_CONFHAVEN_MCP_CLUSTER_H_INCLUDED_
#define _NGX_HTTP_CONFHAVEN_MCP_CLUSTER_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_confhaven_redis.h"
#include "ngx_http_confhaven_mcp.h"


#define NGX_HTTP_CONFHAVEN_MCP_INSTANCE_LEN  16


typedef struct ngx_http_confhaven_mcp_cluster_s
    ngx_http_confhaven_mcp_cluster_t;

typedef void (*ngx_http_confhaven_mcp_published_pt)(void *data,
    ngx_int_t receivers);

/* a reply another instance published for a legacy stream of this worker */
typedef void (*ngx_http_confhaven_mcp_deliver_pt)(void *data, ngx_str_t *id,
    ngx_str_t *msg, ngx_log_t *log);

/* the transport's Host/Origin check: NGX_OK when the request may go on */
typedef ngx_int_t (*ngx_http_confhaven_mcp_allowed_pt)(ngx_http_request_t *r,
    void *data);


/* ngx_http_confhaven_mcp_cluster_sync(): the caller's, until handler */

typedef struct {
    void                             (*handler)(void *data);
    void                              *data;
    ngx_http_confhaven_redis_op_t     *op;
    ngx_http_confhaven_span_t         *trace;     /* the request's span */
} ngx_http_confhaven_mcp_cluster_sync_t;


/* what Redis told a request about its session (the front end keeps it) */

typedef struct {
    ngx_http_request_t                *r;
    ngx_http_confhaven_mcp_main_conf_t  *mcf;
    ngx_http_confhaven_redis_op_t     *op;
    ngx_http_confhaven_span_t         *trace;     /* the request's span */
    ngx_str_t                          session;
    ngx_str_t                          where;     /* "<instance>:<slot>" */
    ngx_uint_t                         version;

    ngx_http_confhaven_mcp_published_pt  published;
    void                              *data;

    ngx_str_t                          last;      /* Last-Event-ID */
    ngx_str_t                         *events;    /* confhaven:mcp:events */
    ngx_uint_t                         nevents;

    unsigned                           waiting:1;
    unsigned                           resolved:1;
    unsigned                           want_events:1;
    unsigned                           events_ok:1; /* events read */
    unsigned                           remote:1;  /* legacy stream there */
    unsigned                           legacy:1;
    unsigned                           deleting:1;
    unsigned                           existed:1; /* deleted in Redis */
} ngx_http_confhaven_mcp_cluster_req_t;


char *ngx_http_confhaven_mcp_cluster_init_conf(ngx_conf_t *cf,
    ngx_http_confhaven_mcp_main_conf_t *mcf, ngx_uint_t redis);
ngx_int_t ngx_http_confhaven_mcp_cluster_init_process(ngx_cycle_t *cycle,
    ngx_http_confhaven_mcp_main_conf_t *mcf,
    ngx_http_confhaven_redis_conf_t *rcf, ngx_http_confhaven_redis_t *redis);
void ngx_http_confhaven_mcp_cluster_exit_process(
    ngx_http_confhaven_mcp_main_conf_t *mcf);
void ngx_http_confhaven_mcp_cluster_on_deliver(
    ngx_http_confhaven_mcp_main_conf_t *mcf,
    ngx_http_confhaven_mcp_deliver_pt handler, void *data);

ngx_uint_t ngx_http_confhaven_mcp_cluster_ready(
    ngx_http_confhaven_mcp_main_conf_t *mcf);
ngx_int_t ngx_http_confhaven_mcp_cluster_lookup(ngx_http_request_t *r,
    ngx_http_confhaven_mcp_main_conf_t *mcf, ngx_uint_t legacy,
    ngx_http_confhaven_mcp_allowed_pt allowed, void *data,
    ngx_http_confhaven_span_t *trace,
    ngx_http_confhaven_mcp_cluster_req_t **cxp);
void ngx_http_confhaven_mcp_cluster_bind(
    ngx_http_confhaven_mcp_main_conf_t *mcf, ngx_str_t *id,
    ngx_uint_t version);
void ngx_http_confhaven_mcp_cluster_event(
    ngx_http_confhaven_mcp_main_conf_t *mcf, ngx_str_t *id,
    ngx_str_t *event, ngx_str_t *data, ngx_uint_t final);
ngx_int_t ngx_http_confhaven_mcp_cluster_event_id_parse(u_char *p,
    u_char *last, ngx_int_t *stream, ngx_int_t *seq, ngx_str_t *instance);
ngx_http_confhaven_mcp_cluster_req_t *ngx_http_confhaven_mcp_cluster_remote(
    ngx_http_confhaven_mcp_cluster_req_t *cx);
ngx_uint_t ngx_http_confhaven_mcp_cluster_deleted(
    ngx_http_confhaven_mcp_cluster_req_t *cx);
ngx_int_t ngx_http_confhaven_mcp_cluster_publish(
    ngx_http_confhaven_mcp_cluster_req_t *cx, ngx_str_t *data,
    ngx_http_confhaven_mcp_published_pt handler, void *hdata);
ngx_int_t ngx_http_confhaven_mcp_cluster_sync(
    ngx_http_confhaven_mcp_main_conf_t *mcf,
    ngx_http_confhaven_mcp_cluster_sync_t *sync);
void ngx_http_confhaven_mcp_cluster_sync_cancel(
    ngx_http_confhaven_mcp_cluster_sync_t *sync);


#endif /* _NGX_HTTP_CONFHAVEN_MCP_CLUSTER_H_INCLUDED_ */
