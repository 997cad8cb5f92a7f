
/*
 * Copyright (C) ConferenceHaven
 */


#ifndef _NGX_HTTP_CONFHAVEN_REQUEST_H_INCLUDED_
#define _NGX_HTTP_CONFHAVEN_REQUEST_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_confhaven_op.h"
#include "ngx_http_confhaven_header.h"


/*
 * What the REST front ends (rest.c, rest_organizer.c, rest_billing.c)
 * share: the query string pair by pair, the head of a small JSON body,
 * and an operation started for a request and answered through the
 * route's own respond function.
 */


/* the query string, pair by pair */
typedef struct {
    u_char                           *pos;
    u_char                           *last;
} ngx_http_confhaven_request_args_t;


/* answers the request from the finished call; returns what to finalize */
typedef ngx_int_t (*ngx_http_confhaven_request_respond_pt)(
    ngx_http_request_t *r, void *data);


/* an operation started for a request (ngx_http_confhaven_request_start) */
typedef struct {
    ngx_http_request_t                     *r;
    ngx_http_confhaven_request_respond_pt   respond;
    void                                   *data;
    ngx_int_t                               rc;
    unsigned                                dispatching:1;
    unsigned                                answered:1;
} ngx_http_confhaven_request_op_t;


void ngx_http_confhaven_request_args(ngx_http_request_t *r,
    ngx_http_confhaven_request_args_t *args);
ngx_int_t ngx_http_confhaven_request_arg(ngx_http_request_t *r,
    ngx_http_confhaven_request_args_t *args, ngx_str_t *key, ngx_str_t *val);
ngx_int_t ngx_http_confhaven_request_param(ngx_http_confhaven_op_t *op,
    ngx_str_t *key, ngx_uint_t *seen);
ngx_int_t ngx_http_confhaven_request_body(ngx_http_request_t *r,
    ngx_str_t *body);
ngx_int_t ngx_http_confhaven_request_body_head(ngx_http_request_t *r,
    off_t max, const char *example, const char *hint, ngx_int_t *rc);
ngx_int_t ngx_http_confhaven_request_member(ngx_http_request_t *r,
    ngx_str_t *body, size_t max, ngx_uint_t empty, const char *name,
    const char *example, ngx_str_t *value, ngx_int_t *rc);
ngx_int_t ngx_http_confhaven_request_start(ngx_http_request_t *r,
    ngx_http_confhaven_request_op_t *ro, ngx_http_confhaven_op_call_t *call);


#endif /* _NGX_HTTP_CONFHAVEN_REQUEST_H_INCLUDED_ */
