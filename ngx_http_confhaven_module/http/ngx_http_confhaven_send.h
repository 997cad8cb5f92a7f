
/*
 * Copyright (C) ConferenceHaven
 */


#ifndef _NGX_HTTP_CONFHAVEN_SEND_H_INCLUDED_
#define _NGX_HTTP_CONFHAVEN_SEND_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


ngx_int_t ngx_http_confhaven_send_json(ngx_http_request_t *r,
    ngx_uint_t status, ngx_str_t *body);
ngx_int_t ngx_http_confhaven_send_json_parts(ngx_http_request_t *r,
    ngx_uint_t status, ngx_str_t *parts, ngx_uint_t n);
ngx_int_t ngx_http_confhaven_send_error(ngx_http_request_t *r,
    ngx_uint_t status, const char *code, ngx_str_t *message, ngx_str_t *hint);
ngx_int_t ngx_http_confhaven_send_errorf(ngx_http_request_t *r,
    ngx_uint_t status, const char *code, const char *hint,
    const char *fmt, ...);
ngx_int_t ngx_http_confhaven_send_db_unavailable(ngx_http_request_t *r,
    ngx_uint_t status, const char *code, const char *what,
    ngx_str_t *detail);
ngx_int_t ngx_http_confhaven_send_no_store(ngx_http_request_t *r);
void ngx_http_confhaven_send_status_text(ngx_uint_t status,
    const char **code, const char **msg);
ngx_int_t ngx_http_confhaven_send_calendar(ngx_http_request_t *r,
    ngx_str_t *body);
ngx_int_t ngx_http_confhaven_send_unauthorized(ngx_http_request_t *r,
    ngx_str_t *challenge, ngx_str_t *message, ngx_str_t *hint);
ngx_int_t ngx_http_confhaven_send_tier_error(ngx_http_request_t *r,
    ngx_str_t *message, ngx_str_t *hint, ngx_str_t *tier,
    ngx_str_t *required);


#endif /* _NGX_HTTP_CONFHAVEN_SEND_H_INCLUDED_ */
