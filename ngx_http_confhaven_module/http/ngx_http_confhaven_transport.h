
/*
 * Copyright (C) ConferenceHaven
 */


#ifndef _NGX_HTTP_CONFHAVEN_TRANSPORT_H_INCLUDED_
#define _NGX_HTTP_CONFHAVEN_TRANSPORT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <jansson.h>

#include "ngx_http_confhaven_module.h"


/* ngx_http_confhaven_transport_http.c */
ngx_int_t ngx_http_confhaven_transport_http_postconfiguration(ngx_conf_t *cf);
void ngx_http_confhaven_transport_http_call_init(ngx_http_request_t *r,
    ngx_http_confhaven_mcp_call_t *call);
ngx_int_t ngx_http_confhaven_transport_http_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_confhaven_transport_http_allowed(ngx_http_request_t *r);
ngx_int_t ngx_http_confhaven_transport_http_once(ngx_http_request_t *r);
char *ngx_http_confhaven_transport_http_set_list(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
ngx_int_t ngx_http_confhaven_transport_http_error(ngx_http_request_t *r,
    ngx_uint_t status, ngx_int_t code, const char *message, json_t *id,
    json_t *data);
ngx_int_t ngx_http_confhaven_transport_http_empty(ngx_http_request_t *r,
    ngx_uint_t status);
ngx_int_t ngx_http_confhaven_transport_http_not_allowed(ngx_http_request_t *r,
    const char *allow);
ngx_int_t ngx_http_confhaven_transport_http_body_limit(ngx_http_request_t *r,
    off_t len, ngx_int_t *rc);
ngx_int_t ngx_http_confhaven_transport_http_busy(ngx_http_request_t *r,
    ngx_int_t rc, json_t *id);

/* ngx_http_confhaven_transport_errors.c */
ngx_int_t ngx_http_confhaven_transport_error_page_handler(
    ngx_http_request_t *r);

/* ngx_http_confhaven_transport_sse.c */
void ngx_http_confhaven_transport_sse_init_process(ngx_cycle_t *cycle,
    ngx_http_confhaven_main_conf_t *chmcf);
ngx_int_t ngx_http_confhaven_transport_sse_handler(ngx_http_request_t *r);


#endif /* _NGX_HTTP_CONFHAVEN_TRANSPORT_H_INCLUDED_ */
