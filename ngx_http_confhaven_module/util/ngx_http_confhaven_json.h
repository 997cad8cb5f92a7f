
/*
 * Copyright (C) ConferenceHaven
 */


#ifndef _NGX_HTTP_CONFHAVEN_JSON_H_INCLUDED_
#define _NGX_HTTP_CONFHAVEN_JSON_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <jansson.h>


void ngx_http_confhaven_json_request_id(ngx_http_request_t *r, ngx_str_t *id);
ngx_int_t ngx_http_confhaven_json_dump(ngx_http_request_t *r, json_t *json,
    ngx_str_t *out);
ngx_int_t ngx_http_confhaven_json_own(ngx_pool_t *pool, json_t *json);
json_t *ngx_http_confhaven_json_load_pool(ngx_pool_t *pool, u_char *data,
    size_t len, size_t flags, json_error_t *error);
u_char *ngx_http_confhaven_json_log_escape(u_char *buf, size_t size,
    u_char *src, size_t len);
u_char *ngx_http_confhaven_json_string(u_char *p, u_char *src, size_t len);
ssize_t ngx_http_confhaven_json_utf8_invalid(u_char *p, size_t len,
    ngx_uint_t allow_control);


#endif /* _NGX_HTTP_CONFHAVEN_JSON_H_INCLUDED_ */
