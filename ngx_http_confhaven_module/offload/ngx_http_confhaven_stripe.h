
/*
 * Copyright (C) ConferenceHaven
 */


#ifndef _NGX_HTTP_CONFHAVEN_STRIPE_H_INCLUDED_
#define _NGX_HTTP_CONFHAVEN_STRIPE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_confhaven_offload.h"


/* the API version every request pins (INTEGRATIONS.md §3.1) */
#define NGX_HTTP_CONFHAVEN_STRIPE_VERSION     "2025-03-31.basil"

/* what a call came to */
#define NGX_HTTP_CONFHAVEN_STRIPE_OK          0
#define NGX_HTTP_CONFHAVEN_STRIPE_THROTTLED   1   /* 429 to the end */
#define NGX_HTTP_CONFHAVEN_STRIPE_UNAVAILABLE 2   /* 5xx, network, time */
#define NGX_HTTP_CONFHAVEN_STRIPE_REFUSED     3   /* 4xx: never retried */

#define NGX_HTTP_CONFHAVEN_STRIPE_ATTEMPTS    4
#define NGX_HTTP_CONFHAVEN_STRIPE_KEY_LEN     128  /* Idempotency-Key */


/* the configuration: NUL-terminated strings, read-only in threads */
typedef struct {
    ngx_str_t                     secret_key;
    ngx_str_t                     api_url;       /* https://api.stripe.com */
} ngx_http_confhaven_stripe_conf_t;


/* one Stripe API call, all in the job's memory */
typedef struct {
    ngx_http_confhaven_stripe_conf_t  *conf;
    const char                        *method;        /* "GET", "POST" */
    char                               path[512];     /* "/v1/..." */
    char                              *form;          /* malloc'd; POST */
    size_t                             form_len;
    char                               idempotency_key[
                                        NGX_HTTP_CONFHAVEN_STRIPE_KEY_LEN];
    ngx_msec_t                         deadline;      /* monotonic ms */

    ngx_uint_t                         outcome;
    long                               status;        /* Stripe's last */
    char                               type[64];      /* error envelope */
    char                               code[64];
    char                               param[128];
    char                               message[512];
    char                               request_id[128];
    char                              *body;          /* malloc'd, 200 */
    size_t                             len;
    uint64_t                           answered;      /* wall ms */
    ngx_msec_int_t                     retry_after;   /* ms, -1: none */
    ngx_uint_t                         attempts;

    /* the caller's trace context (job memory), or NULL */
    ngx_http_confhaven_trace_calls_t  *trace;
} ngx_http_confhaven_stripe_call_t;


void ngx_http_confhaven_stripe_request(ngx_http_confhaven_stripe_call_t *sc,
    ngx_log_t *log);
void ngx_http_confhaven_stripe_free(ngx_http_confhaven_stripe_call_t *sc);
u_char *ngx_http_confhaven_stripe_escape(u_char *p, u_char *last,
    const char *s, size_t len);


#endif /* _NGX_HTTP_CONFHAVEN_STRIPE_H_INCLUDED_ */
