
/*
 * Copyright (C) ConferenceHaven
 */


/*
 * Billing's REST endpoints (ops/ngx_http_confhaven_op_billing.c):
 *
 *   POST /api/organizer/billing/checkout   organizer key; {"tier": "pro"}
 *                                          or ?tier=pro -> {"url", "id"}
 *   POST /api/organizer/billing/portal     organizer key -> {"url", "id"}
 *   POST /api/stripe/webhook               Stripe-Signature; the raw event
 *
 * Without Stripe configured they answer 503 billing_not_configured.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_confhaven_module.h"
#include "ngx_http_confhaven_json.h"
#include "ngx_http_confhaven_send.h"
#include "ngx_http_confhaven_op.h"
#include "ngx_http_confhaven_op_billing.h"
#include "ngx_http_confhaven_rest.h"
#include "ngx_http_confhaven_request.h"


#define NGX_HTTP_CONFHAVEN_BILLING_ORG_MAX_BODY  4096


typedef struct {
    ngx_http_confhaven_op_call_t      call;
    ngx_http_confhaven_op_env_t       env;
    ngx_http_confhaven_request_op_t   ro;
    ngx_int_t                         rc;
} ngx_http_confhaven_bill_ctx_t;


static ngx_int_t ngx_http_confhaven_bill_args(ngx_http_request_t *r,
    ngx_http_confhaven_bill_ctx_t *bc);
static void ngx_http_confhaven_bill_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_confhaven_bill_tier(ngx_http_request_t *r,
    ngx_http_confhaven_bill_ctx_t *bc, u_char *p, size_t len);
static ngx_int_t ngx_http_confhaven_bill_respond(ngx_http_request_t *r,
    void *data);


static ngx_str_t  ngx_http_confhaven_bill_challenge =
    ngx_string("Bearer realm=\"confhaven-organizer\", "
               "error=\"invalid_token\"");
static ngx_str_t  ngx_http_confhaven_bill_no_key =
    ngx_string("an organizer API key is required");
static ngx_str_t  ngx_http_confhaven_bill_key_hint =
    ngx_string("send \"X-API-Key: chk_...\" or \"Authorization: Bearer "
               "chk_...\"; the key is never accepted in the URL");


/* NGX_DECLINED: not a billing path, the other route tables go on */

ngx_int_t
ngx_http_confhaven_rest_billing(ngx_http_request_t *r)
{
    ngx_int_t                        rc;
    ngx_str_t                        uri, key;
    ngx_table_elt_t                 *h;
    ngx_http_confhaven_op_t         *op;
    ngx_http_confhaven_ctx_t        *ctx;
    ngx_http_confhaven_bill_ctx_t   *bc;
    ngx_http_confhaven_loc_conf_t   *chlcf;
    ngx_http_confhaven_main_conf_t  *chmcf;
    u_char                           err[NGX_HTTP_CONFHAVEN_OP_ERROR_LEN];

    uri = r->uri;

    if (uri.len > 1 && uri.data[uri.len - 1] == '/') {
        uri.len--;
    }

    if (uri.len == sizeof("/api/organizer/billing/checkout") - 1
        && ngx_strncmp(uri.data, "/api/organizer/billing/checkout",
                       uri.len) == 0)
    {
        op = &ngx_http_confhaven_op_billing_checkout;

    } else if (uri.len == sizeof("/api/organizer/billing/portal") - 1
               && ngx_strncmp(uri.data, "/api/organizer/billing/portal",
                              uri.len) == 0)
    {
        op = &ngx_http_confhaven_op_billing_portal;

    } else if (uri.len == sizeof("/api/stripe/webhook") - 1
               && ngx_strncmp(uri.data, "/api/stripe/webhook", uri.len) == 0)
    {
        op = &ngx_http_confhaven_op_stripe_webhook;

    } else {
        return NGX_DECLINED;
    }

    ctx = ngx_http_confhaven_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->route = op->name;

    if (r->method != NGX_HTTP_POST) {
        if (ngx_http_discard_request_body(r) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Allow");
        ngx_str_set(&h->value, "POST");

        return ngx_http_confhaven_send_errorf(r, NGX_HTTP_NOT_ALLOWED,
                   "method_not_allowed", "this endpoint takes POST",
                   "method %V is not allowed on %V", &r->method_name,
                   &r->uri);
    }

    if (!ngx_http_confhaven_billing_configured()) {
        if (ngx_http_discard_request_body(r) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_confhaven_send_errorf(r,
                   NGX_HTTP_SERVICE_UNAVAILABLE, "billing_not_configured",
                   "the operator sets confhaven_stripe_secret_key_file and "
                   "the other confhaven_stripe_* directives (README, "
                   "Billing)", "billing is not configured on this server");
    }

    chmcf = ngx_http_get_module_main_conf(r, ngx_http_confhaven_module);
    chlcf = ngx_http_get_module_loc_conf(r, ngx_http_confhaven_module);

    bc = ngx_pcalloc(r->pool, sizeof(ngx_http_confhaven_bill_ctx_t));
    if (bc == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    bc->ro.respond = ngx_http_confhaven_bill_respond;
    bc->ro.data = bc;
    bc->env.cache = chmcf->cache;
    bc->env.conf = &chlcf->cache;
    bc->env.trace = ctx->env.trace;     /* Stripe and SQL spans join it */

    ngx_http_confhaven_op_init(&bc->call, op, &bc->env, r->pool,
                               r->connection->log);

    /* no cache: a key naming the operation, not its (large) values */
    bc->call.key = op->name;

    ctx->call = &bc->call;

    rc = ngx_http_confhaven_bill_args(r, bc);
    if (rc != NGX_OK) {
        return rc == NGX_ABORT ? bc->rc : rc;
    }

    if (op == &ngx_http_confhaven_op_stripe_webhook) {
        if (ngx_http_confhaven_request_body_head(r,
                                      NGX_HTTP_CONFHAVEN_BILLING_MAX_BODY,
                                      NULL, NULL, &rc)
            != NGX_OK)
        {
            return rc;
        }

        h = ngx_http_confhaven_header_in(r, "Stripe-Signature", 16);

        if (h) {
            if (ngx_http_confhaven_op_set(&bc->call, 0, 1, h->value.data,
                                          h->value.len, err, sizeof(err))
                != NGX_OK)
            {
                /* longer than 4096 bytes: as good as none */
                bc->call.values[0] = NULL;
            }
        }

    } else {
        if (ngx_http_confhaven_request_body_head(r,
                                      NGX_HTTP_CONFHAVEN_BILLING_ORG_MAX_BODY,
                                      NULL, "send only {\"tier\": \"pro\"}",
                                      &rc)
            != NGX_OK)
        {
            return rc;
        }

        if (ngx_http_confhaven_op_header_key(&r->headers_in.headers,
                                             r->headers_in.authorization,
                                             &key)
            != NGX_OK)
        {
            if (ngx_http_discard_request_body(r) != NGX_OK) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            return ngx_http_confhaven_send_unauthorized(r,
                                        &ngx_http_confhaven_bill_challenge,
                                        &ngx_http_confhaven_bill_no_key,
                                        &ngx_http_confhaven_bill_key_hint);
        }

        if (ngx_http_confhaven_op_set(&bc->call, 0, 1, key.data, key.len,
                                      NULL, 0)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    r->request_body_in_single_buf = 1;

    rc = ngx_http_read_client_request_body(r, ngx_http_confhaven_bill_body);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


/* the query string: ?tier= for a checkout, nothing else anywhere */

static ngx_int_t
ngx_http_confhaven_bill_args(ngx_http_request_t *r,
    ngx_http_confhaven_bill_ctx_t *bc)
{
    ngx_int_t                           rc;
    ngx_str_t                           key, val;
    ngx_http_confhaven_request_args_t   args;

    ngx_http_confhaven_request_args(r, &args);

    for ( ;; ) {
        rc = ngx_http_confhaven_request_arg(r, &args, &key, &val);
        if (rc != NGX_OK) {
            return rc == NGX_DONE ? NGX_OK : rc;
        }

        if (bc->call.op != &ngx_http_confhaven_op_billing_checkout
            || val.data == NULL || key.len != 4
            || ngx_strncmp(key.data, "tier", 4) != 0)
        {
            if (ngx_http_discard_request_body(r) != NGX_OK) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            bc->rc = ngx_http_confhaven_send_errorf(r, NGX_HTTP_BAD_REQUEST,
                       "bad_parameter",
                       bc->call.op == &ngx_http_confhaven_op_billing_checkout
                       ? "the one parameter is tier (pro or enterprise)"
                       : "this endpoint takes no parameters",
                       "unknown parameter in the query string of %V",
                       &r->uri);
            return NGX_ABORT;
        }

        rc = ngx_http_confhaven_bill_tier(r, bc, val.data, val.len);
        if (rc != NGX_OK) {
            if (ngx_http_discard_request_body(r) != NGX_OK) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            return rc;
        }
    }
}


static ngx_int_t
ngx_http_confhaven_bill_tier(ngx_http_request_t *r,
    ngx_http_confhaven_bill_ctx_t *bc, u_char *p, size_t len)
{
    ngx_int_t  rc;
    u_char     err[NGX_HTTP_CONFHAVEN_OP_ERROR_LEN];

    rc = ngx_http_confhaven_op_set(&bc->call, 1, 1, p, len, err,
                                   sizeof(err));

    if (rc == NGX_DECLINED) {
        bc->rc = ngx_http_confhaven_send_errorf(r, NGX_HTTP_BAD_REQUEST,
                   "bad_parameter", "the tiers sold are pro and enterprise",
                   "parameter %s", err);
        return NGX_ABORT;
    }

    return rc == NGX_OK ? NGX_OK : NGX_HTTP_INTERNAL_SERVER_ERROR;
}


static void
ngx_http_confhaven_bill_body(ngx_http_request_t *r)
{
    ngx_int_t                       rc;
    ngx_str_t                       body, tier;
    ngx_uint_t                      checkout;
    ngx_http_confhaven_ctx_t       *ctx;
    ngx_http_confhaven_bill_ctx_t  *bc;
    u_char                          err[NGX_HTTP_CONFHAVEN_OP_ERROR_LEN];

    ctx = ngx_http_confhaven_get_ctx(r);
    bc = (ngx_http_confhaven_bill_ctx_t *) ((u_char *) ctx->call
                             - offsetof(ngx_http_confhaven_bill_ctx_t, call));

    rc = ngx_http_confhaven_request_body(r, &body);
    if (rc != NGX_OK) {
        ngx_http_finalize_request(r, rc);
        return;
    }

    if (bc->call.op == &ngx_http_confhaven_op_stripe_webhook) {
        if (body.len > NGX_HTTP_CONFHAVEN_BILLING_MAX_BODY) {
            r->keepalive = 0;
            rc = ngx_http_confhaven_send_errorf(r,
                       NGX_HTTP_REQUEST_ENTITY_TOO_LARGE, "too_large", NULL,
                       "the event is %uz bytes; at most %d are accepted",
                       body.len, NGX_HTTP_CONFHAVEN_BILLING_MAX_BODY);
            ngx_http_finalize_request(r, rc);
            return;
        }

        /* the exact bytes: the signature is over them */
        if (ngx_http_confhaven_op_set(&bc->call, 1, 1, body.data, body.len,
                                      err, sizeof(err))
            != NGX_OK)
        {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        rc = ngx_http_confhaven_request_start(r, &bc->ro, &bc->call);
        ngx_http_finalize_request(r, rc == NGX_DONE ? NGX_DONE : rc);
        return;
    }

    checkout = (bc->call.op == &ngx_http_confhaven_op_billing_checkout);

    if (ngx_http_confhaven_request_member(r, &body,
                                  NGX_HTTP_CONFHAVEN_BILLING_ORG_MAX_BODY, 1,
                                  checkout ? "tier" : NULL,
                                  "{\"tier\": \"pro\"}", &tier, &rc)
        != NGX_OK)
    {
        ngx_http_finalize_request(r, rc);
        return;
    }

    if (tier.data) {
        rc = ngx_http_confhaven_bill_tier(r, bc, tier.data, tier.len);
        if (rc != NGX_OK) {
            ngx_http_finalize_request(r, rc == NGX_ABORT ? bc->rc : rc);
            return;
        }
    }

    rc = ngx_http_confhaven_request_start(r, &bc->ro, &bc->call);

    /* drop the reference taken by reading the body */
    ngx_http_finalize_request(r, rc == NGX_DONE ? NGX_DONE : rc);
}


static ngx_int_t
ngx_http_confhaven_bill_respond(ngx_http_request_t *r, void *data)
{
    ngx_http_confhaven_bill_ctx_t  *bc = data;
    u_char                         *p;
    ngx_str_t                       id;
    ngx_table_elt_t                *h;
    ngx_http_confhaven_fetch_t     *f;
    ngx_http_confhaven_op_error_t  *e;

    f = &bc->call.fetch;
    e = &bc->call.error;

    switch (e->kind) {

    case NGX_HTTP_CONFHAVEN_OP_OK:
        return ngx_http_confhaven_send_json(r, NGX_HTTP_OK, &f->value);

    case NGX_HTTP_CONFHAVEN_OP_E_AUTH:
        return ngx_http_confhaven_send_unauthorized(r,
                                        &ngx_http_confhaven_bill_challenge,
                                        &f->message, &f->hint);

    case NGX_HTTP_CONFHAVEN_OP_E_INPUT:
    case NGX_HTTP_CONFHAVEN_OP_E_NOT_FOUND:
    case NGX_HTTP_CONFHAVEN_OP_E_INVALID:
    case NGX_HTTP_CONFHAVEN_OP_E_UPSTREAM:
        if (e->retry_after) {
            h = ngx_list_push(&r->headers_out.headers);
            p = ngx_pnalloc(r->pool, NGX_INT_T_LEN);

            if (h == NULL || p == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            h->hash = 1;
            ngx_str_set(&h->key, "Retry-After");
            h->value.data = p;
            h->value.len = ngx_sprintf(p, "%ui", e->retry_after) - p;
        }

        return ngx_http_confhaven_send_error(r, e->status, e->code,
                                             &f->message, &f->hint);

    case NGX_HTTP_CONFHAVEN_OP_E_SCHEMA:
    case NGX_HTTP_CONFHAVEN_OP_E_INTERNAL:
        ngx_http_confhaven_json_request_id(r, &id);

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "confhaven billing: failed (request %V): %V %V", &id,
                      &f->sqlstate, &f->message);

        return ngx_http_confhaven_send_errorf(r, 503,
                   e->kind == NGX_HTTP_CONFHAVEN_OP_E_SCHEMA
                   ? "schema_missing" : "internal_error",
                   "the operator must apply the migrations in sql/ "
                   "(ci/migrate); quote the request id",
                   "billing could not answer (request id %V)", &id);

    default:
        if (e->code && ngx_strcmp(e->code, "billing_not_configured") == 0) {
            return ngx_http_confhaven_send_error(r, e->status, e->code,
                                                 &f->message, &f->hint);
        }

        return ngx_http_confhaven_send_db_unavailable(r, e->status,
                   e->code ? e->code : "database_unavailable",
                   e->kind == NGX_HTTP_CONFHAVEN_OP_E_BUSY
                   ? "database busy" : "database unavailable",
                   &f->message);
    }
}
