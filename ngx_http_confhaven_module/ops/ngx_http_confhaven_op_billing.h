
/*
 * Copyright (C) ConferenceHaven
 */


#ifndef _NGX_HTTP_CONFHAVEN_OP_BILLING_H_INCLUDED_
#define _NGX_HTTP_CONFHAVEN_OP_BILLING_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_thread_pool.h>

#include "ngx_http_confhaven_op.h"
#include "ngx_http_confhaven_stripe.h"


/* a webhook's body: Stripe's events are a few kilobytes */
#define NGX_HTTP_CONFHAVEN_BILLING_MAX_BODY    (1024 * 1024)
/* the signature's age limit, as Stripe's libraries */
#define NGX_HTTP_CONFHAVEN_BILLING_TOLERANCE   300
#define NGX_HTTP_CONFHAVEN_BILLING_GRACE       (7 * 86400)
#define NGX_HTTP_CONFHAVEN_BILLING_TIMEOUT     10000


typedef struct {
    ngx_str_t                          tier;       /* pro, enterprise */
    ngx_str_t                          price;      /* price_... */
} ngx_http_confhaven_billing_price_t;


/* billing's configuration (http level) */
typedef struct {
    ngx_http_confhaven_stripe_conf_t   stripe;
    ngx_str_t                          webhook_secret;
    ngx_array_t                       *prices;     /* billing_price_t */
    ngx_str_t                          success_url;
    ngx_str_t                          cancel_url;
    ngx_str_t                          return_url;
    time_t                             grace;      /* s */
    ngx_msec_t                         timeout;    /* a Stripe call */
    ngx_thread_pool_t                 *thread_pool;
    ngx_flag_t                         configured;
} ngx_http_confhaven_billing_conf_t;


void ngx_http_confhaven_billing_create_conf(
    ngx_http_confhaven_billing_conf_t *bc);
char *ngx_http_confhaven_billing_init_conf(ngx_conf_t *cf,
    ngx_http_confhaven_billing_conf_t *bc, ngx_str_t *thread_pool,
    ngx_uint_t pg);
void ngx_http_confhaven_billing_init_process(
    ngx_http_confhaven_billing_conf_t *bc);
char *ngx_http_confhaven_billing_price(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_confhaven_billing_configured(void);


extern ngx_http_confhaven_op_t  ngx_http_confhaven_op_billing_checkout;
extern ngx_http_confhaven_op_t  ngx_http_confhaven_op_billing_portal;
extern ngx_http_confhaven_op_t  ngx_http_confhaven_op_stripe_webhook;


#endif /* _NGX_HTTP_CONFHAVEN_OP_BILLING_H_INCLUDED_ */
