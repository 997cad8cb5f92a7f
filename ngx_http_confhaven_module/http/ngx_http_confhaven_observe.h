
/*
 * Copyright (C) ConferenceHaven
 */


#ifndef _NGX_HTTP_CONFHAVEN_OBSERVE_H_INCLUDED_
#define _NGX_HTTP_CONFHAVEN_OBSERVE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_confhaven_module.h"


ngx_int_t ngx_http_confhaven_observe_postconfiguration(ngx_conf_t *cf,
    ngx_uint_t metrics);
ngx_int_t ngx_http_confhaven_observe_metrics_handler(ngx_http_request_t *r);
void ngx_http_confhaven_observe_trace_id(ngx_http_request_t *r,
    ngx_http_confhaven_ctx_t *ctx, ngx_str_t *id);
ngx_http_confhaven_span_t *ngx_http_confhaven_observe_span(
    ngx_http_request_t *r);
u_char *ngx_http_confhaven_observe_otlp_metrics(ngx_pool_t *pool,
    size_t *len, void *data);


#endif /* _NGX_HTTP_CONFHAVEN_OBSERVE_H_INCLUDED_ */
