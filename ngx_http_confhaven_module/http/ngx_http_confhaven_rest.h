
/*
 * Copyright (C) ConferenceHaven
 */


#ifndef _NGX_HTTP_CONFHAVEN_REST_H_INCLUDED_
#define _NGX_HTTP_CONFHAVEN_REST_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


ngx_int_t ngx_http_confhaven_rest_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_confhaven_rest_error_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_confhaven_rest_organizer(ngx_http_request_t *r);
ngx_int_t ngx_http_confhaven_rest_billing(ngx_http_request_t *r);
ngx_int_t ngx_http_confhaven_rest_authorized(ngx_http_request_t *r,
    ngx_str_t *key);


#endif /* _NGX_HTTP_CONFHAVEN_REST_H_INCLUDED_ */
