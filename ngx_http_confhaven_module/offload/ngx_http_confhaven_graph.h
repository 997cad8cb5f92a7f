
/*
 * Copyright (C) ConferenceHaven
 */


#ifndef _NGX_HTTP_CONFHAVEN_GRAPH_H_INCLUDED_
#define _NGX_HTTP_CONFHAVEN_GRAPH_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_confhaven_offload.h"


/* what a call came to */
#define NGX_HTTP_CONFHAVEN_GRAPH_SENT         0
#define NGX_HTTP_CONFHAVEN_GRAPH_THROTTLED    1   /* 429 to the end */
#define NGX_HTTP_CONFHAVEN_GRAPH_UNAVAILABLE  2   /* 5xx, network, time */
#define NGX_HTTP_CONFHAVEN_GRAPH_REFUSED      3   /* 4xx: configuration */

#define NGX_HTTP_CONFHAVEN_GRAPH_ATTEMPTS     5


/* the configuration: NUL-terminated strings, read-only in threads */
typedef struct {
    ngx_str_t                     tenant;
    ngx_str_t                     client_id;
    ngx_str_t                     client_secret;
    ngx_str_t                     organizer;     /* mailbox UPN */
    ngx_str_t                     api_url;       /* .../v1.0 */
    ngx_str_t                     login_url;
} ngx_http_confhaven_graph_conf_t;


/* one "create an event" call, all in the job's memory */
typedef struct {
    ngx_http_confhaven_graph_conf_t  *conf;
    char                             *event;          /* JSON, malloc'd */
    size_t                            event_len;
    char                              client_request_id[40];
    ngx_msec_t                        deadline;       /* monotonic ms */

    ngx_uint_t                        outcome;
    long                              status;         /* Graph's last */
    char                              code[64];
    char                              message[256];
    char                              request_id[128];
    char                              event_id[512];
    ngx_msec_int_t                    retry_after;    /* ms, -1: none */
    ngx_uint_t                        attempts;
    ngx_uint_t                        token_fetches;

    /* the caller's trace context (job memory), or NULL */
    ngx_http_confhaven_trace_calls_t *trace;
} ngx_http_confhaven_graph_call_t;


void ngx_http_confhaven_graph_create_event(
    ngx_http_confhaven_graph_call_t *gc, ngx_log_t *log);


#endif /* _NGX_HTTP_CONFHAVEN_GRAPH_H_INCLUDED_ */
