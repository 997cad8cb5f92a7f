
/*
 * Copyright (C) ConferenceHaven
 */


/*
 * Billing through Stripe (../shared/docs/INTEGRATIONS.md §3): the
 * operations behind POST /api/organizer/billing/checkout, POST
 * /api/organizer/billing/portal and POST /api/stripe/webhook.
 *
 * checkout, portal: confhaven.billing_{checkout,portal}_begin() checks
 * the organizer's key and what it may buy, then a job on the thread pool
 * asks Stripe for a Checkout Session (mode=subscription, our organizer id
 * in client_reference_id and in the subscription's metadata, the known
 * customer if any: else Checkout creates one) or a customer-portal
 * session, and the answer is its URL.
 *
 * webhook: the raw body is verified against Stripe-Signature (HMAC-SHA-256
 * of "t.body" with the endpoint secret; any v1 may match; constant-time
 * compare; 300 s tolerance), an event already recorded is acknowledged
 * and changes nothing, an event type we do not handle is recorded and
 * acknowledged (a non-2xx answer makes Stripe retry it for days), and a
 * handled one makes us fetch its subscription from Stripe: the tier comes
 * from that current state (its price through confhaven_stripe_price),
 * never from the event's order.  confhaven.billing_apply() records the
 * event and applies the state unless a newer one is already applied.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "ngx_http_confhaven_cache.h"
#include "ngx_http_confhaven_offload.h"
#include "ngx_http_confhaven_stripe.h"
#include "ngx_http_confhaven_op_billing.h"
#include "ngx_http_confhaven_metrics.h"


#define NGX_HTTP_CONFHAVEN_BILLING_CHECKOUT  0
#define NGX_HTTP_CONFHAVEN_BILLING_PORTAL    1
#define NGX_HTTP_CONFHAVEN_BILLING_WEBHOOK   2

/*
 * Idempotency-Key: the same logical request within 10 minutes (a Checkout
 * Session lives 24 hours) or one minute (a portal session, minutes)
 */
#define NGX_HTTP_CONFHAVEN_BILLING_BUCKET         600
#define NGX_HTTP_CONFHAVEN_BILLING_PORTAL_BUCKET  60

#define NGX_HTTP_CONFHAVEN_BILLING_SIG_MAX   8


typedef struct {
    ngx_http_confhaven_op_call_t      *call;
    ngx_uint_t                         kind;
    ngx_http_confhaven_fetch_t        *fetch;     /* the SQL step running */
    ngx_http_confhaven_job_t          *job;
    ngx_msec_t                         started;

    /* the webhook's event */
    json_t                            *event;
    json_t                            *object;    /* data.object */
    const char                        *event_id;
    const char                        *type;
    const char                        *org_hint;
    const char                        *customer;
    const char                        *sub_id;
    char                               created[NGX_INT64_LEN + 1];
} ngx_http_confhaven_billing_t;


typedef struct {
    ngx_http_confhaven_stripe_call_t   sc;
    ngx_http_confhaven_trace_calls_t   trace;     /* Stripe's spans */
} ngx_http_confhaven_billing_job_t;


static ngx_int_t ngx_http_confhaven_billing_start(
    ngx_http_confhaven_op_call_t *call);
static void ngx_http_confhaven_billing_cancel(
    ngx_http_confhaven_op_call_t *call);
static ngx_int_t ngx_http_confhaven_billing_sql(
    ngx_http_confhaven_billing_t *st, const char *sql, ngx_uint_t n,
    const char **values, ngx_http_confhaven_fetch_pt handler);
static ngx_int_t ngx_http_confhaven_billing_sql_error(
    ngx_http_confhaven_billing_t *st, ngx_http_confhaven_fetch_t *f);
static void ngx_http_confhaven_billing_begun(ngx_http_confhaven_fetch_t *f);
static ngx_int_t ngx_http_confhaven_billing_post(
    ngx_http_confhaven_billing_t *st, const char *method, const char *path,
    u_char *form, size_t len, const char *what);
static void ngx_http_confhaven_billing_run(ngx_http_confhaven_job_t *job);
static void ngx_http_confhaven_billing_job_done(ngx_http_confhaven_job_t *job);
static void ngx_http_confhaven_billing_session(
    ngx_http_confhaven_billing_t *st, ngx_http_confhaven_stripe_call_t *sc);
static ngx_int_t ngx_http_confhaven_billing_webhook(
    ngx_http_confhaven_billing_t *st);
static ngx_int_t ngx_http_confhaven_billing_verify(
    ngx_http_confhaven_op_call_t *call, ngx_str_t *secret);
static void ngx_http_confhaven_billing_seen(ngx_http_confhaven_fetch_t *f);
static void ngx_http_confhaven_billing_fetched(
    ngx_http_confhaven_billing_t *st, ngx_http_confhaven_stripe_call_t *sc);
static void ngx_http_confhaven_billing_apply(ngx_http_confhaven_billing_t *st,
    json_t *sub, uint64_t state_ms);
static void ngx_http_confhaven_billing_applied(ngx_http_confhaven_fetch_t *f);
static const char *ngx_http_confhaven_billing_tier(json_t *sub);
static const char *ngx_http_confhaven_billing_id(json_t *v);
static char *ngx_http_confhaven_billing_dup(ngx_pool_t *pool, const char *s,
    size_t len);
static void ngx_http_confhaven_billing_answer(ngx_http_confhaven_billing_t *st,
    json_t *root);
static void ngx_http_confhaven_billing_fail(ngx_http_confhaven_op_call_t *call,
    ngx_uint_t kind, ngx_uint_t status, const char *code,
    ngx_uint_t retry_after, const char *hint, const char *fmt, ...);
static void ngx_http_confhaven_billing_stripe_fail(
    ngx_http_confhaven_billing_t *st, ngx_http_confhaven_stripe_call_t *sc);


static ngx_http_confhaven_billing_conf_t  *ngx_http_confhaven_billing_conf;


static const char  *ngx_http_confhaven_billing_tiers[] = {
    "free", "pro", "enterprise", NULL
};


#define ngx_http_confhaven_billing_key_param                                 \
    { "api_key", NULL, NGX_HTTP_CONFHAVEN_OP_KEY, 0, 0, 200, NULL,           \
      "Your organizer API key (chk_...), as the X-API-Key or "               \
      "Authorization: Bearer header.", NULL, NULL,                           \
      NGX_HTTP_CONFHAVEN_OP_IN_HEADER }


static ngx_http_confhaven_op_param_t
    ngx_http_confhaven_op_checkout_params[] =
{
    ngx_http_confhaven_billing_key_param,

    { "tier", NULL, NGX_HTTP_CONFHAVEN_OP_FOLD, 0, 0, 20, NULL,
      "The tier to subscribe to: pro or enterprise.",
      ngx_http_confhaven_billing_tiers, "the tiers sold are pro and "
      "enterprise", NGX_HTTP_CONFHAVEN_OP_IN_BODY }
};


ngx_http_confhaven_op_t  ngx_http_confhaven_op_billing_checkout = {
    ngx_string("billing_checkout"),
    NULL,
    ngx_http_confhaven_op_checkout_params, 2,
    NGX_HTTP_CONFHAVEN_OP_NO_CACHE, 0, 0
};


static ngx_http_confhaven_op_param_t
    ngx_http_confhaven_op_portal_params[] =
{
    ngx_http_confhaven_billing_key_param
};


ngx_http_confhaven_op_t  ngx_http_confhaven_op_billing_portal = {
    ngx_string("billing_portal"),
    NULL,
    ngx_http_confhaven_op_portal_params, 1,
    NGX_HTTP_CONFHAVEN_OP_NO_CACHE, 0, 0
};


static ngx_http_confhaven_op_param_t
    ngx_http_confhaven_op_webhook_params[] =
{
    { "signature", NULL, NGX_HTTP_CONFHAVEN_OP_RAW, 0, 0, 4096, NULL,
      "The Stripe-Signature header.", NULL, NULL,
      NGX_HTTP_CONFHAVEN_OP_IN_HEADER },

    { "payload", NULL, NGX_HTTP_CONFHAVEN_OP_RAW, 0, 0,
      NGX_HTTP_CONFHAVEN_BILLING_MAX_BODY, NULL,
      "The event, exactly as Stripe sent it.", NULL, NULL,
      NGX_HTTP_CONFHAVEN_OP_IN_BODY }
};


ngx_http_confhaven_op_t  ngx_http_confhaven_op_stripe_webhook = {
    ngx_string("stripe_webhook"),
    NULL,
    ngx_http_confhaven_op_webhook_params, 2,
    NGX_HTTP_CONFHAVEN_OP_NO_CACHE, 0, 0
};


static ngx_http_confhaven_op_steps_t  ngx_http_confhaven_billing_steps[] = {
    { &ngx_http_confhaven_op_billing_checkout,
      ngx_http_confhaven_billing_start, ngx_http_confhaven_billing_cancel },
    { &ngx_http_confhaven_op_billing_portal,
      ngx_http_confhaven_billing_start, ngx_http_confhaven_billing_cancel },
    { &ngx_http_confhaven_op_stripe_webhook,
      ngx_http_confhaven_billing_start, ngx_http_confhaven_billing_cancel }
};


/* ------------------------------------------------------------ the steps */


static ngx_int_t
ngx_http_confhaven_billing_start(ngx_http_confhaven_op_call_t *call)
{
    const char                         *values[2];
    ngx_http_confhaven_billing_t       *st;
    ngx_http_confhaven_billing_conf_t  *bc;

    bc = ngx_http_confhaven_billing_conf;

    st = ngx_pcalloc(call->pool, sizeof(ngx_http_confhaven_billing_t));
    if (st == NULL) {
        return NGX_ERROR;
    }

    st->call = call;
    st->started = ngx_current_msec;
    call->state = st;

    st->kind = (call->op == &ngx_http_confhaven_op_billing_checkout)
               ? NGX_HTTP_CONFHAVEN_BILLING_CHECKOUT
               : (call->op == &ngx_http_confhaven_op_billing_portal)
                 ? NGX_HTTP_CONFHAVEN_BILLING_PORTAL
                 : NGX_HTTP_CONFHAVEN_BILLING_WEBHOOK;

    if (bc == NULL || !bc->configured) {
        ngx_http_confhaven_billing_fail(call, NGX_HTTP_CONFHAVEN_OP_E_DOWN,
                   503, "billing_not_configured",
                   0, "the operator sets confhaven_stripe_secret_key_file "
                   "and the other confhaven_stripe_* directives (README, "
                   "Billing)", "billing is not configured on this server");
        return NGX_OK;
    }

    if (call->env->cache == NULL) {
        ngx_http_confhaven_billing_fail(call, NGX_HTTP_CONFHAVEN_OP_E_DOWN,
                   503, "database_unavailable", 0, NULL,
                   "no database is configured");
        return NGX_OK;
    }

    switch (st->kind) {

    case NGX_HTTP_CONFHAVEN_BILLING_CHECKOUT:
        values[0] = call->values[0];
        values[1] = call->values[1];

        return ngx_http_confhaven_billing_sql(st,
                   "SELECT r::text, 1, '' "
                   "FROM confhaven.billing_checkout_begin($1, $2) r",
                   2, values, ngx_http_confhaven_billing_begun);

    case NGX_HTTP_CONFHAVEN_BILLING_PORTAL:
        values[0] = call->values[0];

        return ngx_http_confhaven_billing_sql(st,
                   "SELECT r::text, 1, '' "
                   "FROM confhaven.billing_portal_begin($1) r",
                   1, values, ngx_http_confhaven_billing_begun);

    default:
        return ngx_http_confhaven_billing_webhook(st);
    }
}


static void
ngx_http_confhaven_billing_cancel(ngx_http_confhaven_op_call_t *call)
{
    ngx_http_confhaven_billing_t  *st = call->state;

    if (st == NULL) {
        return;
    }

    if (st->fetch) {
        ngx_http_confhaven_cache_fetch_cancel(st->fetch);
        st->fetch = NULL;
    }

    if (st->job) {
        /* the job finishes on its own and frees itself */
        ngx_http_confhaven_job_orphan(st->job);
        st->job = NULL;
    }

    if (st->event) {
        json_decref(st->event);
        st->event = NULL;
    }
}


/* one SQL step in a fetch of its own; the handler may run before return */

static ngx_int_t
ngx_http_confhaven_billing_sql(ngx_http_confhaven_billing_t *st,
    const char *sql, ngx_uint_t n, const char **values,
    ngx_http_confhaven_fetch_pt handler)
{
    ngx_uint_t                     i;
    ngx_http_confhaven_fetch_t    *f;
    ngx_http_confhaven_op_call_t  *call;

    call = st->call;

    f = ngx_pcalloc(call->pool, sizeof(ngx_http_confhaven_fetch_t));
    if (f == NULL) {
        return NGX_ERROR;
    }

    f->sql = sql;
    f->nparams = n;

    for (i = 0; i < n; i++) {
        f->values[i] = values[i];
    }

    f->cache = call->env->cache;
    f->pool = call->pool;
    f->log = call->log;
    f->trace = call->trace;
    f->timeout = call->env->timeout;
    f->handler = handler;
    f->data = st;

    st->fetch = f;

    return ngx_http_confhaven_cache_fetch(f);
}


/* the SQL step's error, in the call's words; NGX_OK: no error */

static ngx_int_t
ngx_http_confhaven_billing_sql_error(ngx_http_confhaven_billing_t *st,
    ngx_http_confhaven_fetch_t *f)
{
    ngx_http_confhaven_op_call_t  *call;

    call = st->call;
    st->fetch = NULL;

    /* the front end renders call->fetch: the step's outcome goes there */
    call->fetch.status = f->status;
    call->fetch.value = f->value;
    call->fetch.sqlstate = f->sqlstate;
    call->fetch.message = f->message;
    call->fetch.hint = f->hint;
    call->fetch.db_used = 1;
    call->fetch.elapsed = ngx_current_msec - st->started;

    ngx_http_confhaven_op_classify(call);

    if (call->error.kind == NGX_HTTP_CONFHAVEN_OP_OK) {
        return NGX_OK;
    }

    if (f->sqlstate.len == 5
        && ngx_strncmp(f->sqlstate.data, "CH409", 5) == 0)
    {
        call->error.status = 409;
        call->error.code = "conflict";
    }

    if (st->kind == NGX_HTTP_CONFHAVEN_BILLING_WEBHOOK) {
        ngx_http_confhaven_metrics_inc(call->error.status < 500
                   ? NGX_HTTP_CONFHAVEN_METRIC_STRIPE_WEBHOOKS_REFUSED
                   : NGX_HTTP_CONFHAVEN_METRIC_STRIPE_WEBHOOKS_FAILED);
    }

    call->handler(call);

    return NGX_ERROR;
}


static void
ngx_http_confhaven_billing_begun(ngx_http_confhaven_fetch_t *f)
{
    u_char                             *p, *last, *form;
    json_t                             *root;
    const char                         *org, *customer, *tier;
    ngx_uint_t                          i;
    ngx_http_confhaven_billing_t       *st = f->data;
    ngx_http_confhaven_op_call_t       *call;
    ngx_http_confhaven_billing_conf_t  *bc;
    ngx_http_confhaven_billing_price_t *price;

    call = st->call;
    bc = ngx_http_confhaven_billing_conf;

    if (ngx_http_confhaven_billing_sql_error(st, f) != NGX_OK) {
        return;
    }

    root = json_loadb((char *) f->value.data, f->value.len, 0, NULL);

    if (root == NULL) {
        ngx_http_confhaven_billing_fail(call,
                   NGX_HTTP_CONFHAVEN_OP_E_INTERNAL, 503, "internal_error",
                   0, NULL, "the database's answer is unreadable");
        return;
    }

    p = (u_char *) ngx_pnalloc(call->pool, NGX_INT64_LEN + 1);
    if (p == NULL) {
        json_decref(root);
        goto failed;
    }

    *ngx_sprintf(p, "%L", (int64_t) json_integer_value(
                              json_object_get(root, "organizer_id"))) = '\0';
    org = (char *) p;

    customer = json_string_value(json_object_get(root, "customer"));

    form = ngx_pnalloc(call->pool, 8192);
    if (form == NULL) {
        json_decref(root);
        goto failed;
    }

    p = form;
    last = form + 8192 - 1;

    if (st->kind == NGX_HTTP_CONFHAVEN_BILLING_PORTAL) {
        p = ngx_slprintf(p, last, "customer=");
        p = ngx_http_confhaven_stripe_escape(p, last, customer,
                                             ngx_strlen(customer));
        p = ngx_slprintf(p, last, "&return_url=");
        p = ngx_http_confhaven_stripe_escape(p, last,
                                       (char *) bc->return_url.data,
                                       bc->return_url.len);
        json_decref(root);

        if (ngx_http_confhaven_billing_post(st, "POST",
                                            "/v1/billing_portal/sessions",
                                            form, p - form,
                                            "portal") != NGX_OK)
        {
            goto failed;
        }

        return;
    }

    tier = call->values[1];
    price = bc->prices->elts;

    for (i = 0; i < bc->prices->nelts; i++) {
        if (ngx_strcmp(price[i].tier.data, tier) == 0) {
            break;
        }
    }

    if (i == bc->prices->nelts) {
        json_decref(root);
        ngx_http_confhaven_billing_fail(call, NGX_HTTP_CONFHAVEN_OP_E_INPUT,
                   400, "bad_parameter", 0, NULL,
                   "the %s tier is not sold on this server", tier);
        return;
    }

    p = ngx_slprintf(p, last, "mode=subscription&line_items[0][price]=");
    p = ngx_http_confhaven_stripe_escape(p, last,
                                         (char *) price[i].price.data,
                                         price[i].price.len);
    p = ngx_slprintf(p, last, "&line_items[0][quantity]=1&success_url=");
    p = ngx_http_confhaven_stripe_escape(p, last,
                                         (char *) bc->success_url.data,
                                         bc->success_url.len);
    p = ngx_slprintf(p, last, "&cancel_url=");
    p = ngx_http_confhaven_stripe_escape(p, last,
                                         (char *) bc->cancel_url.data,
                                         bc->cancel_url.len);
    p = ngx_slprintf(p, last, "&client_reference_id=%s"
                     "&metadata[organizer_id]=%s&metadata[tier]=%s"
                     "&subscription_data[metadata][organizer_id]=%s"
                     "&subscription_data[metadata][tier]=%s",
                     org, org, tier, org, tier);

    if (customer) {
        p = ngx_slprintf(p, last, "&customer=");
        p = ngx_http_confhaven_stripe_escape(p, last, customer,
                                             ngx_strlen(customer));
    }

    json_decref(root);

    if (ngx_http_confhaven_billing_post(st, "POST", "/v1/checkout/sessions",
                                        form, p - form, "checkout")
        != NGX_OK)
    {
        goto failed;
    }

    return;

failed:

    ngx_http_confhaven_billing_fail(call, NGX_HTTP_CONFHAVEN_OP_E_UPSTREAM,
               503, "busy", 2, "retry in a few seconds",
               "the server is too busy to reach Stripe right now");
}


/*
 * A Stripe call on the thread pool.  A POST's Idempotency-Key is derived
 * from what it asks (what, the organizer in the form, a 10-minute time
 * bucket and the form's SHA-256), so that a double click or a client's
 * retry gets the same session, and every attempt of one call the same key.
 */

static ngx_int_t
ngx_http_confhaven_billing_post(ngx_http_confhaven_billing_t *st,
    const char *method, const char *path, u_char *form, size_t len,
    const char *what)
{
    u_char                             *p;
    ngx_http_confhaven_job_t           *job;
    ngx_http_confhaven_op_call_t       *call;
    ngx_http_confhaven_billing_job_t   *bj;
    ngx_http_confhaven_billing_conf_t  *bc;
    u_char                              md[SHA256_DIGEST_LENGTH];
    u_char                              hex[2 * SHA256_DIGEST_LENGTH];

    call = st->call;
    bc = ngx_http_confhaven_billing_conf;

    job = ngx_http_confhaven_job_create(
                                  sizeof(ngx_http_confhaven_billing_job_t));
    if (job == NULL) {
        return NGX_ERROR;
    }

    bj = job->data;
    bj->sc.conf = &bc->stripe;
    bj->sc.method = method;
    ngx_cpystrn((u_char *) bj->sc.path, (u_char *) path,
                sizeof(bj->sc.path));

    if (len) {
        bj->sc.form = malloc(len + 1);
        if (bj->sc.form == NULL) {
            ngx_http_confhaven_job_free(job);
            return NGX_ERROR;
        }

        ngx_memcpy(bj->sc.form, form, len);
        bj->sc.form[len] = '\0';
        bj->sc.form_len = len;

        (void) SHA256(form, len, md);
        ngx_hex_dump(hex, md, 8);

        p = ngx_snprintf((u_char *) bj->sc.idempotency_key,
                         NGX_HTTP_CONFHAVEN_STRIPE_KEY_LEN - 1,
                         "confhaven-%s-%T-%*s", what,
                         ngx_time()
                         / (st->kind == NGX_HTTP_CONFHAVEN_BILLING_PORTAL
                            ? NGX_HTTP_CONFHAVEN_BILLING_PORTAL_BUCKET
                            : NGX_HTTP_CONFHAVEN_BILLING_BUCKET),
                         (size_t) 16, hex);
        *p = '\0';
    }

    bj->sc.deadline = ngx_http_confhaven_offload_now() + bc->timeout;

    /* Stripe calls join the request's trace: client spans, traceparent */
    ngx_http_confhaven_trace_calls_init(&bj->trace, call->trace);
    bj->sc.trace = &bj->trace;
    job->trace = &bj->trace;

    job->run = ngx_http_confhaven_billing_run;
    job->done = ngx_http_confhaven_billing_job_done;

    if (ngx_http_confhaven_job_post(job, bc->thread_pool, call->pool, st,
                                    bc->timeout + 5000)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, call->log, 0,
                      "confhaven billing: the thread pool took no job "
                      "(its queue is full?)");
        ngx_http_confhaven_stripe_free(&bj->sc);
        ngx_http_confhaven_job_free(job);
        return NGX_ERROR;
    }

    st->job = job;

    return NGX_OK;
}


/* in a thread */

static void
ngx_http_confhaven_billing_run(ngx_http_confhaven_job_t *job)
{
    ngx_http_confhaven_billing_job_t  *bj = job->data;

    ngx_http_confhaven_stripe_request(&bj->sc, job->log);
}


static void
ngx_http_confhaven_billing_job_done(ngx_http_confhaven_job_t *job)
{
    ngx_http_confhaven_billing_t      *st;
    ngx_http_confhaven_billing_job_t  *bj = job->data;

    st = job->owner;

    if (st == NULL) {
        /* the request went away: Stripe's answer is dropped */
        ngx_http_confhaven_stripe_free(&bj->sc);
        ngx_http_confhaven_job_free(job);
        return;
    }

    st->job = NULL;
    ngx_http_confhaven_job_orphan(job);

    if (st->kind == NGX_HTTP_CONFHAVEN_BILLING_WEBHOOK) {
        ngx_http_confhaven_billing_fetched(st, &bj->sc);

    } else {
        ngx_http_confhaven_billing_session(st, &bj->sc);
    }

    /* the handler has run: nothing of st after it */
    ngx_http_confhaven_stripe_free(&bj->sc);
    ngx_http_confhaven_job_free(job);
}


/* a Checkout or portal session: {"url": ..., "id": ...} */

static void
ngx_http_confhaven_billing_session(ngx_http_confhaven_billing_t *st,
    ngx_http_confhaven_stripe_call_t *sc)
{
    json_t      *root, *out;
    const char  *url, *id;

    if (sc->outcome != NGX_HTTP_CONFHAVEN_STRIPE_OK) {
        ngx_http_confhaven_billing_stripe_fail(st, sc);
        return;
    }

    root = json_loadb(sc->body, sc->len, 0, NULL);
    url = json_string_value(json_object_get(root, "url"));
    id = json_string_value(json_object_get(root, "id"));

    if (url == NULL || id == NULL) {
        json_decref(root);
        ngx_log_error(NGX_LOG_ERR, st->call->log, 0,
                      "confhaven billing: Stripe answered %l without a "
                      "session url and id (Request-Id \"%s\")", sc->status,
                      sc->request_id);
        ngx_http_confhaven_billing_fail(st->call,
                   NGX_HTTP_CONFHAVEN_OP_E_UPSTREAM, 502, "stripe_error",
                   0, "retry; quote the request id if it lasts",
                   "Stripe's answer has no session URL");
        return;
    }

    out = json_pack("{s:s, s:s}", "url", url, "id", id);

    json_decref(root);

    ngx_http_confhaven_billing_answer(st, out);
}


static void
ngx_http_confhaven_billing_stripe_fail(ngx_http_confhaven_billing_t *st,
    ngx_http_confhaven_stripe_call_t *sc)
{
    ngx_uint_t  retry;

    retry = (sc->retry_after > 0) ? (sc->retry_after + 999) / 1000 : 5;

    switch (sc->outcome) {

    case NGX_HTTP_CONFHAVEN_STRIPE_REFUSED:
        ngx_http_confhaven_billing_fail(st->call,
                   NGX_HTTP_CONFHAVEN_OP_E_UPSTREAM, 502, "stripe_refused",
                   0, "the operator must check the Stripe configuration "
                   "(key, prices, URLs); quote the request id",
                   "Stripe refused the request (%l %s%s%s: %s; param %s; "
                   "Request-Id %s)", sc->status, sc->type,
                   sc->code[0] ? "/" : "", sc->code, sc->message,
                   sc->param[0] ? sc->param : "none",
                   sc->request_id[0] ? sc->request_id : "none");
        return;

    case NGX_HTTP_CONFHAVEN_STRIPE_THROTTLED:
        ngx_http_confhaven_billing_fail(st->call,
                   NGX_HTTP_CONFHAVEN_OP_E_UPSTREAM, 503, "stripe_throttled",
                   retry, "retry after the Retry-After time",
                   "Stripe is rate limiting us (429 after %ui attempts: %s)",
                   sc->attempts, sc->message);
        return;

    default:
        ngx_http_confhaven_billing_fail(st->call,
                   NGX_HTTP_CONFHAVEN_OP_E_UPSTREAM, 503,
                   "stripe_unavailable", retry,
                   "retry in a little while; a retry never makes a second "
                   "session",
                   "Stripe did not answer after %ui attempt(s) (last: "
                   "%s%s%l, Request-Id %s)", sc->attempts,
                   sc->status ? "" : sc->message,
                   sc->status ? "HTTP " : " ", sc->status,
                   sc->request_id[0] ? sc->request_id : "none");
        return;
    }
}


/* ----------------------------------------------------------- webhooks */


static ngx_int_t
ngx_http_confhaven_billing_webhook(ngx_http_confhaven_billing_t *st)
{
    json_t                             *v, *data, *obj;
    ngx_int_t                           rc;
    const char                         *values[4], *type;
    json_error_t                        err;
    ngx_http_confhaven_op_call_t       *call;
    ngx_http_confhaven_billing_conf_t  *bc;

    call = st->call;
    bc = ngx_http_confhaven_billing_conf;

    rc = ngx_http_confhaven_billing_verify(call, &bc->webhook_secret);
    if (rc != NGX_OK) {
        return NGX_OK;
    }

    st->event = call->values[1] ? json_loads(call->values[1], 0, &err)
                                : NULL;

    if (!json_is_object(st->event)) {
        ngx_http_confhaven_billing_fail(call, NGX_HTTP_CONFHAVEN_OP_E_INPUT,
                   400, "bad_event", 0, NULL,
                   "the event is not a JSON object%s%s%s",
                   call->values[1] ? " (" : "",
                   call->values[1] ? err.text : "",
                   call->values[1] ? ")" : "");
        return NGX_OK;
    }

    v = json_object_get(st->event, "id");
    type = json_string_value(json_object_get(st->event, "type"));
    data = json_object_get(st->event, "data");
    obj = json_object_get(data, "object");

    if (!json_is_string(v) || json_string_length(v) == 0
        || json_string_length(v) > 255 || type == NULL)
    {
        ngx_http_confhaven_billing_fail(call, NGX_HTTP_CONFHAVEN_OP_E_INPUT,
                   400, "bad_event", 0, NULL,
                   "the event has no \"id\" or \"type\"");
        return NGX_OK;
    }

    st->event_id = json_string_value(v);
    st->type = type;
    st->object = obj;

    v = json_object_get(st->event, "created");
    (void) ngx_sprintf((u_char *) st->created, "%L%Z",
                       json_is_integer(v) ? (int64_t) json_integer_value(v)
                                          : (int64_t) 0);

    if (ngx_strcmp(type, "checkout.session.completed") == 0) {
        st->org_hint = json_string_value(
                           json_object_get(obj, "client_reference_id"));
        st->customer = ngx_http_confhaven_billing_id(
                           json_object_get(obj, "customer"));
        st->sub_id = ngx_http_confhaven_billing_id(
                           json_object_get(obj, "subscription"));

    } else if (ngx_strncmp(type, "customer.subscription.", 22) == 0
               && (ngx_strcmp(type + 22, "created") == 0
                   || ngx_strcmp(type + 22, "updated") == 0
                   || ngx_strcmp(type + 22, "deleted") == 0))
    {
        st->org_hint = json_string_value(json_object_get(
                           json_object_get(obj, "metadata"), "organizer_id"));
        st->customer = ngx_http_confhaven_billing_id(
                           json_object_get(obj, "customer"));
        st->sub_id = ngx_http_confhaven_billing_id(obj);

    } else if (ngx_strcmp(type, "invoice.payment_failed") == 0
               || ngx_strcmp(type, "invoice.payment_succeeded") == 0
               || ngx_strcmp(type, "invoice.paid") == 0)
    {
        /* basil and later, then the older place */
        v = json_object_get(json_object_get(obj, "parent"),
                            "subscription_details");
        st->sub_id = ngx_http_confhaven_billing_id(
                         json_object_get(v, "subscription"));
        st->org_hint = json_string_value(json_object_get(
                           json_object_get(v, "metadata"), "organizer_id"));

        if (st->sub_id == NULL) {
            st->sub_id = ngx_http_confhaven_billing_id(
                             json_object_get(obj, "subscription"));
        }

        st->customer = ngx_http_confhaven_billing_id(
                           json_object_get(obj, "customer"));

    } else {
        /* acknowledged and recorded: Stripe retries a non-2xx for days */
        values[0] = st->event_id;
        values[1] = st->type;
        values[2] = st->created;
        values[3] = "ignored: an event type billing does not handle";

        return ngx_http_confhaven_billing_sql(st,
                   "SELECT r::text, 1, '' FROM confhaven.billing_record("
                   "$1, $2, $3::bigint, $4) r", 4, values,
                   ngx_http_confhaven_billing_applied);
    }

    values[0] = st->event_id;

    return ngx_http_confhaven_billing_sql(st,
               "SELECT CASE WHEN confhaven.billing_event_seen($1) "
               "THEN 'seen' ELSE 'new' END, 1, ''", 1, values,
               ngx_http_confhaven_billing_seen);
}


/*
 * Stripe-Signature: "t=<unix time>,v1=<hex>[,v1=<hex>...][,v0=...]".
 * The expected v1 is the hex HMAC-SHA-256 of "<t>.<raw body>" keyed with
 * the whole endpoint secret (whsec_ included); any v1 may match (a secret
 * being rolled signs twice), compared in constant time; other schemes
 * are ignored.  Then the age: at most 300 s, as Stripe's libraries.
 */

static ngx_int_t
ngx_http_confhaven_billing_verify(ngx_http_confhaven_op_call_t *call,
    ngx_str_t *secret)
{
    u_char         *h, *last, *item, *end, *eq, *tp;
    size_t          tlen, blen;
    time_t          t;
    HMAC_CTX       *hctx;
    ngx_uint_t      i, nv, ok;
    unsigned int    n;
    u_char         *v1[NGX_HTTP_CONFHAVEN_BILLING_SIG_MAX];
    u_char          mac[EVP_MAX_MD_SIZE];
    u_char          hex[2 * 32];

    h = (u_char *) call->values[0];

    if (h == NULL || *h == '\0') {
        ngx_http_confhaven_billing_fail(call, NGX_HTTP_CONFHAVEN_OP_E_INPUT,
                   400, "missing_signature",
                   0, "Stripe signs every webhook delivery; is this "
                   "endpoint called by Stripe?",
                   "the Stripe-Signature header is missing");
        return NGX_ERROR;
    }

    last = h + ngx_strlen(h);
    tp = NULL;
    tlen = 0;
    nv = 0;

    for (item = h; item < last; item = end + 1) {
        end = ngx_strlchr(item, last, ',');
        if (end == NULL) {
            end = last;
        }

        while (item < end && *item == ' ') {
            item++;
        }

        eq = ngx_strlchr(item, end, '=');
        if (eq == NULL) {
            continue;
        }

        if (eq - item == 1 && *item == 't' && tp == NULL) {
            tp = eq + 1;
            tlen = end - tp;

        } else if (eq - item == 2 && item[0] == 'v' && item[1] == '1'
                   && end - (eq + 1) == 64
                   && nv < NGX_HTTP_CONFHAVEN_BILLING_SIG_MAX)
        {
            v1[nv++] = eq + 1;
        }
    }

    t = (tp && tlen && tlen <= 12) ? ngx_atotm(tp, tlen) : NGX_ERROR;

    if (t == NGX_ERROR || nv == 0) {
        ngx_http_confhaven_billing_fail(call, NGX_HTTP_CONFHAVEN_OP_E_INPUT,
                   400, "bad_signature_header", 0,
                   "expected \"t=<unix time>,v1=<64 hex digits>\"",
                   "the Stripe-Signature header has no %s",
                   t == NGX_ERROR ? "timestamp (t=)" : "v1 signature");
        return NGX_ERROR;
    }

    if (call->values[1] == NULL) {
        call->values[1] = "";
    }

    blen = ngx_strlen(call->values[1]);

    hctx = HMAC_CTX_new();
    if (hctx == NULL) {
        ngx_http_confhaven_billing_fail(call,
                   NGX_HTTP_CONFHAVEN_OP_E_INTERNAL, 503, "internal_error",
                   0, NULL, "out of memory");
        return NGX_ERROR;
    }

    n = 0;

    if (HMAC_Init_ex(hctx, secret->data, (int) secret->len, EVP_sha256(),
                     NULL) != 1
        || HMAC_Update(hctx, tp, tlen) != 1
        || HMAC_Update(hctx, (u_char *) ".", 1) != 1
        || HMAC_Update(hctx, (u_char *) call->values[1], blen) != 1
        || HMAC_Final(hctx, mac, &n) != 1
        || n != 32)
    {
        HMAC_CTX_free(hctx);
        ngx_http_confhaven_billing_fail(call,
                   NGX_HTTP_CONFHAVEN_OP_E_INTERNAL, 503, "internal_error",
                   0, NULL, "HMAC-SHA-256 failed");
        return NGX_ERROR;
    }

    HMAC_CTX_free(hctx);

    ngx_hex_dump(hex, mac, 32);

    ok = 0;

    for (i = 0; i < nv; i++) {
        /* every one compared, in constant time */
        ok |= (CRYPTO_memcmp(hex, v1[i], 64) == 0);
    }

    if (!ok) {
        ngx_http_confhaven_billing_fail(call, NGX_HTTP_CONFHAVEN_OP_E_INPUT,
                   400, "bad_signature", 0,
                   "the operator checks confhaven_stripe_webhook_secret_file "
                   "against the endpoint's signing secret (whsec_...)",
                   "no v1 signature of the Stripe-Signature header "
                   "matches the body; nothing was changed");
        return NGX_ERROR;
    }

    if (t < ngx_time() - NGX_HTTP_CONFHAVEN_BILLING_TOLERANCE) {
        ngx_http_confhaven_billing_fail(call, NGX_HTTP_CONFHAVEN_OP_E_INPUT,
                   400, "stale_signature", 0,
                   "Stripe signs every delivery attempt anew; a replayed "
                   "delivery is refused",
                   "the signature's timestamp is %T s old (at most %d); "
                   "nothing was changed", ngx_time() - t,
                   NGX_HTTP_CONFHAVEN_BILLING_TOLERANCE);
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_http_confhaven_billing_seen(ngx_http_confhaven_fetch_t *f)
{
    u_char                        *p, *last, path[512];
    json_t                        *root;
    ngx_http_confhaven_billing_t  *st = f->data;

    if (ngx_http_confhaven_billing_sql_error(st, f) != NGX_OK) {
        return;
    }

    if (f->value.len == 4 && ngx_strncmp(f->value.data, "seen", 4) == 0) {
        ngx_http_confhaven_metrics_inc(
                         NGX_HTTP_CONFHAVEN_METRIC_STRIPE_WEBHOOKS_IGNORED);

        root = json_pack("{s:b, s:s, s:s, s:s}", "received", 1,
                         "id", st->event_id, "type", st->type,
                         "outcome", "duplicate");
        ngx_http_confhaven_billing_answer(st, root);
        return;
    }

    if (st->sub_id == NULL) {
        /* no subscription (yet): the event links the customer only */
        ngx_http_confhaven_billing_apply(st, NULL, 0);
        return;
    }

    /* the subscription's current state, whatever the event says */
    p = path;
    last = path + sizeof(path) - 1;
    p = ngx_slprintf(p, last, "/v1/subscriptions/");
    p = ngx_http_confhaven_stripe_escape(p, last, st->sub_id,
                                         ngx_strlen(st->sub_id));
    *p = '\0';

    if (ngx_http_confhaven_billing_post(st, "GET", (char *) path, NULL, 0,
                                        "subscription")
        != NGX_OK)
    {
        ngx_http_confhaven_billing_fail(st->call,
                   NGX_HTTP_CONFHAVEN_OP_E_UPSTREAM, 503, "busy", 2, NULL,
                   "the server is too busy to reach Stripe right now");
    }
}


static void
ngx_http_confhaven_billing_fetched(ngx_http_confhaven_billing_t *st,
    ngx_http_confhaven_stripe_call_t *sc)
{
    json_t      *sub;
    const char  *object;

    if (sc->outcome == NGX_HTTP_CONFHAVEN_STRIPE_OK) {
        sub = json_loadb(sc->body, sc->len, 0, NULL);

        if (!json_is_object(sub)) {
            json_decref(sub);
            ngx_http_confhaven_billing_fail(st->call,
                       NGX_HTTP_CONFHAVEN_OP_E_UPSTREAM, 503,
                       "stripe_error", 5, NULL,
                       "Stripe's subscription is unreadable");
            return;
        }

        ngx_http_confhaven_billing_apply(st, sub, sc->answered);
        json_decref(sub);
        return;
    }

    if (sc->outcome == NGX_HTTP_CONFHAVEN_STRIPE_REFUSED
        && sc->status == 404)
    {
        /*
         * The subscription is gone: the event's own object, if it is the
         * subscription, stamped with the event's time.
         */

        object = json_string_value(json_object_get(st->object, "object"));

        if (object && ngx_strcmp(object, "subscription") == 0) {
            ngx_http_confhaven_billing_apply(st, st->object,
                   (uint64_t) ngx_atoof((u_char *) st->created,
                                        ngx_strlen(st->created)) * 1000);
            return;
        }

        ngx_http_confhaven_billing_apply(st, NULL, 0);
        return;
    }

    /* answered 503: Stripe delivers the event again later */
    ngx_http_confhaven_billing_stripe_fail(st, sc);
}


static void
ngx_http_confhaven_billing_apply(ngx_http_confhaven_billing_t *st,
    json_t *sub, uint64_t state_ms)
{
    char                               *s;
    ngx_int_t                           rc;
    const char                         *values[9];
    ngx_http_confhaven_op_call_t       *call;
    ngx_http_confhaven_billing_conf_t  *bc;
    char                                ms[NGX_INT64_LEN + 1];
    char                                grace[NGX_INT64_LEN + 1];

    call = st->call;
    bc = ngx_http_confhaven_billing_conf;

    values[0] = st->event_id;
    values[1] = st->type;
    values[2] = st->created;
    values[3] = st->org_hint;
    values[4] = st->customer;
    values[5] = NULL;
    values[6] = sub ? ngx_http_confhaven_billing_tier(sub) : NULL;
    values[7] = NULL;

    if (sub) {
        s = json_dumps(sub, JSON_COMPACT);
        values[5] = s ? ngx_http_confhaven_billing_dup(call->pool, s,
                                                       ngx_strlen(s))
                      : NULL;
        free(s);

        if (values[5] == NULL) {
            ngx_http_confhaven_billing_fail(call,
                       NGX_HTTP_CONFHAVEN_OP_E_INTERNAL, 503,
                       "internal_error", 0, NULL, "out of memory");
            return;
        }

        (void) ngx_sprintf((u_char *) ms, "%uL%Z", state_ms);
        values[7] = ngx_http_confhaven_billing_dup(call->pool, ms,
                                                   ngx_strlen(ms));
    }

    (void) ngx_sprintf((u_char *) grace, "%T%Z", bc->grace);
    values[8] = ngx_http_confhaven_billing_dup(call->pool, grace,
                                               ngx_strlen(grace));

    /* st->event owns the strings: copies outlive it in the fetch */
    values[0] = ngx_http_confhaven_billing_dup(call->pool, values[0],
                                               ngx_strlen(values[0]));
    values[1] = ngx_http_confhaven_billing_dup(call->pool, values[1],
                                               ngx_strlen(values[1]));
    values[3] = values[3] ? ngx_http_confhaven_billing_dup(call->pool,
                                        values[3], ngx_strlen(values[3]))
                          : NULL;
    values[4] = values[4] ? ngx_http_confhaven_billing_dup(call->pool,
                                        values[4], ngx_strlen(values[4]))
                          : NULL;
    values[6] = values[6] ? ngx_http_confhaven_billing_dup(call->pool,
                                        values[6], ngx_strlen(values[6]))
                          : NULL;

    rc = ngx_http_confhaven_billing_sql(st,
             "SELECT r::text, 1, '' FROM confhaven.billing_apply($1, $2, "
             "$3::bigint, $4, $5, $6::json, $7, $8::bigint, $9::integer) r",
             9, values, ngx_http_confhaven_billing_applied);

    if (rc != NGX_OK) {
        ngx_http_confhaven_billing_fail(call,
                   NGX_HTTP_CONFHAVEN_OP_E_INTERNAL, 503, "internal_error",
                   0, NULL, "out of memory");
    }
}


static void
ngx_http_confhaven_billing_applied(ngx_http_confhaven_fetch_t *f)
{
    json_t                        *root, *out;
    const char                    *outcome;
    ngx_http_confhaven_billing_t  *st = f->data;

    if (ngx_http_confhaven_billing_sql_error(st, f) != NGX_OK) {
        return;
    }

    root = json_loadb((char *) f->value.data, f->value.len, 0, NULL);
    outcome = json_string_value(json_object_get(root, "outcome"));

    ngx_log_error(NGX_LOG_INFO, st->call->log, 0,
                  "confhaven billing: event %s (%s): %s", st->event_id,
                  st->type, outcome ? outcome : "?");

    ngx_http_confhaven_metrics_inc(
        (outcome && (ngx_strncmp(outcome, "applied", 7) == 0
                     || ngx_strncmp(outcome, "linked", 6) == 0))
        ? NGX_HTTP_CONFHAVEN_METRIC_STRIPE_WEBHOOKS_APPLIED
        : NGX_HTTP_CONFHAVEN_METRIC_STRIPE_WEBHOOKS_IGNORED);

    out = json_pack("{s:b, s:s, s:s, s:s}", "received", 1,
                    "id", st->event_id, "type", st->type,
                    "outcome", outcome ? outcome : "recorded");

    if (out && json_object_get(root, "tier")
        && !json_is_null(json_object_get(root, "tier")))
    {
        json_object_set(out, "tier", json_object_get(root, "tier"));
    }

    json_decref(root);

    ngx_http_confhaven_billing_answer(st, out);
}


/* a subscription's tier: its price through confhaven_stripe_price */

static const char *
ngx_http_confhaven_billing_tier(json_t *sub)
{
    json_t                              *price;
    size_t                               len;
    ngx_uint_t                           i;
    const char                          *id, *lookup;
    ngx_http_confhaven_billing_conf_t   *bc;
    ngx_http_confhaven_billing_price_t  *p;

    bc = ngx_http_confhaven_billing_conf;

    price = json_object_get(json_array_get(json_object_get(
                json_object_get(sub, "items"), "data"), 0), "price");

    if (price == NULL) {
        /* the oldest shape: a plan */
        price = json_object_get(sub, "plan");
    }

    id = ngx_http_confhaven_billing_id(price);
    lookup = json_string_value(json_object_get(price, "lookup_key"));

    if (id == NULL) {
        return NULL;
    }

    p = bc->prices->elts;

    for (i = 0; i < bc->prices->nelts; i++) {
        if (ngx_strcmp(p[i].price.data, id) == 0) {
            return (char *) p[i].tier.data;
        }
    }

    /* the fallback: a lookup key such as "pro_monthly" */
    for (i = 0; lookup && i < bc->prices->nelts; i++) {
        len = p[i].tier.len;

        if (ngx_strncmp(lookup, p[i].tier.data, len) == 0
            && (lookup[len] == '_' || lookup[len] == '\0'))
        {
            return (char *) p[i].tier.data;
        }
    }

    return NULL;
}


static const char *
ngx_http_confhaven_billing_id(json_t *v)
{
    const char  *s;

    if (json_is_object(v)) {
        v = json_object_get(v, "id");
    }

    s = json_string_value(v);

    return (s && s[0]) ? s : NULL;
}


static char *
ngx_http_confhaven_billing_dup(ngx_pool_t *pool, const char *s, size_t len)
{
    u_char  *p;

    p = ngx_pnalloc(pool, len + 1);
    if (p == NULL) {
        return NULL;
    }

    *ngx_cpymem(p, s, len) = '\0';

    return (char *) p;
}


/* ---------------------------------------------------------- the answers */


/* root (owned, may be NULL: out of memory) as the call's 200 answer */

static void
ngx_http_confhaven_billing_answer(ngx_http_confhaven_billing_t *st,
    json_t *root)
{
    ngx_http_confhaven_op_call_t  *call;

    call = st->call;

    if (st->event) {
        json_decref(st->event);
        st->event = NULL;
    }

    if (root == NULL) {
        ngx_http_confhaven_billing_fail(call,
                                        NGX_HTTP_CONFHAVEN_OP_E_INTERNAL,
                                        503, "internal_error", 0, NULL,
                                        "out of memory");
        return;
    }

    /* root is jansson's memory, not the request's: freed after the answer */
    ngx_http_confhaven_op_answer(call, root, st->started, "billing");
    json_decref(root);
}


/* an error outcome in the call's words; runs the handler */

static void
ngx_http_confhaven_billing_fail(ngx_http_confhaven_op_call_t *call,
    ngx_uint_t kind, ngx_uint_t status, const char *code,
    ngx_uint_t retry_after, const char *hint, const char *fmt, ...)
{
    va_list                        args;
    ngx_http_confhaven_billing_t  *st;

    st = call->state;

    if (st && st->event) {
        json_decref(st->event);
        st->event = NULL;
    }

    if (st && st->kind == NGX_HTTP_CONFHAVEN_BILLING_WEBHOOK) {
        ngx_http_confhaven_metrics_inc(status < 500
                   ? NGX_HTTP_CONFHAVEN_METRIC_STRIPE_WEBHOOKS_REFUSED
                   : NGX_HTTP_CONFHAVEN_METRIC_STRIPE_WEBHOOKS_FAILED);
    }

    va_start(args, fmt);
    ngx_http_confhaven_op_vfail(call, "billing", kind, status, code,
                                retry_after, hint, fmt, args);
    va_end(args);
}


/* ------------------------------------------------------- configuration */


void
ngx_http_confhaven_billing_create_conf(ngx_http_confhaven_billing_conf_t *bc)
{
    bc->grace = NGX_CONF_UNSET;
    bc->timeout = NGX_CONF_UNSET_MSEC;
}


/* confhaven_stripe_price <tier> <price id>; */

char *
ngx_http_confhaven_billing_price(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    char  *p = conf;

    ngx_str_t                           *value;
    ngx_uint_t                           i;
    ngx_array_t                        **a;
    ngx_http_confhaven_billing_price_t  *bp;

    a = (ngx_array_t **) (p + cmd->offset);
    value = cf->args->elts;

    if (!((value[1].len == 3
           && ngx_strncmp(value[1].data, "pro", 3) == 0)
          || (value[1].len == 10
              && ngx_strncmp(value[1].data, "enterprise", 10) == 0)))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid tier \"%V\" in \"%V\" directive: the "
                           "tiers sold are pro and enterprise",
                           &value[1], &cmd->name);
        return NGX_CONF_ERROR;
    }

    if (value[2].len == 0 || value[2].len > 200) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid price id \"%V\" in \"%V\" directive",
                           &value[2], &cmd->name);
        return NGX_CONF_ERROR;
    }

    if (*a == NULL) {
        *a = ngx_array_create(cf->pool, 4,
                              sizeof(ngx_http_confhaven_billing_price_t));
        if (*a == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    bp = (*a)->elts;

    for (i = 0; i < (*a)->nelts; i++) {
        if (bp[i].price.len == value[2].len
            && ngx_strncmp(bp[i].price.data, value[2].data, value[2].len)
               == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "price \"%V\" is given twice in \"%V\"",
                               &value[2], &cmd->name);
            return NGX_CONF_ERROR;
        }
    }

    bp = ngx_array_push(*a);
    if (bp == NULL) {
        return NGX_CONF_ERROR;
    }

    /* config strings are NUL-terminated */
    bp->tier = value[1];
    bp->price = value[2];

    return NGX_CONF_OK;
}


char *
ngx_http_confhaven_billing_init_conf(ngx_conf_t *cf,
    ngx_http_confhaven_billing_conf_t *bc, ngx_str_t *thread_pool,
    ngx_uint_t pg)
{
    ngx_str_t   *u;
    ngx_uint_t   i, n, pro, ent;

    static const char  *urls[] = {
        "confhaven_stripe_url", "confhaven_stripe_success_url",
        "confhaven_stripe_cancel_url", "confhaven_stripe_return_url"
    };

    ngx_conf_init_value(bc->grace, NGX_HTTP_CONFHAVEN_BILLING_GRACE);
    ngx_conf_init_msec_value(bc->timeout, NGX_HTTP_CONFHAVEN_BILLING_TIMEOUT);

    if (bc->timeout < 1000 || bc->timeout > 120000) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"confhaven_stripe_timeout\" must be from 1s "
                           "to 120s");
        return NGX_CONF_ERROR;
    }

    if (bc->stripe.api_url.len == 0) {
        ngx_str_set(&bc->stripe.api_url, "https://api.stripe.com");
    }

    n = (bc->stripe.secret_key.len != 0) + (bc->webhook_secret.len != 0)
        + (bc->prices != NULL) + (bc->success_url.len != 0)
        + (bc->cancel_url.len != 0) + (bc->return_url.len != 0);

    if (n == 0) {
        bc->configured = 0;
        return NGX_CONF_OK;
    }

    if (bc->stripe.secret_key.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "Stripe billing is half configured: "
                           "\"confhaven_stripe_secret_key_file\" is missing "
                           "(it goes with the other confhaven_stripe_* "
                           "directives)");
        return NGX_CONF_ERROR;
    }

    if (bc->webhook_secret.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "Stripe billing needs "
                           "\"confhaven_stripe_webhook_secret_file\": "
                           "webhooks are verified with the endpoint's "
                           "signing secret (whsec_...)");
        return NGX_CONF_ERROR;
    }

    if (!((bc->stripe.secret_key.len > 3
           && (ngx_strncmp(bc->stripe.secret_key.data, "sk_", 3) == 0
               || ngx_strncmp(bc->stripe.secret_key.data, "rk_", 3) == 0))))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "the key of \"confhaven_stripe_secret_key_file\" "
                           "must be a Stripe secret or restricted key "
                           "(sk_... or rk_...)");
        return NGX_CONF_ERROR;
    }

    for (i = 0; i < bc->stripe.secret_key.len; i++) {
        if (bc->stripe.secret_key.data[i] <= ' '
            || bc->stripe.secret_key.data[i] >= 0x7f)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "the key of "
                               "\"confhaven_stripe_secret_key_file\" holds "
                               "a blank or a control character");
            return NGX_CONF_ERROR;
        }
    }

    pro = 0;
    ent = 0;

    if (bc->prices) {
        for (i = 0; i < bc->prices->nelts; i++) {
            if (((ngx_http_confhaven_billing_price_t *)
                 bc->prices->elts)[i].tier.len == 3)
            {
                pro = 1;

            } else {
                ent = 1;
            }
        }
    }

    if (!pro || !ent) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "Stripe billing needs a price for each tier "
                           "sold: \"confhaven_stripe_price pro price_...;\" "
                           "and \"confhaven_stripe_price enterprise "
                           "price_...;\" (%s is missing)",
                           pro ? "enterprise" : "pro");
        return NGX_CONF_ERROR;
    }

    for (i = 0; i < 4; i++) {
        u = (i == 0) ? &bc->stripe.api_url
            : (i == 1) ? &bc->success_url
            : (i == 2) ? &bc->cancel_url
            : &bc->return_url;

        if (u->len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "Stripe billing needs \"%s\" (where Stripe "
                               "sends the organizer back)", urls[i]);
            return NGX_CONF_ERROR;
        }

        if (!((u->len > 7 && ngx_strncmp(u->data, "http://", 7) == 0)
              || (u->len > 8 && ngx_strncmp(u->data, "https://", 8) == 0))
            || ngx_strlchr(u->data, u->data + u->len, ' ')
            || (i == 0 && ngx_strlchr(u->data, u->data + u->len, '?')))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%s\" must be an http:// or https:// URL%s, "
                               "not \"%V\"", urls[i],
                               i == 0 ? " without a query" : "", u);
            return NGX_CONF_ERROR;
        }
    }

    /* config strings are NUL-terminated: a shorter one still is */
    while (bc->stripe.api_url.data[bc->stripe.api_url.len - 1] == '/') {
        bc->stripe.api_url.len--;
    }

    if (thread_pool->len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "Stripe calls run on a thread pool: add "
                           "\"confhaven_thread_pool <name>;\" to the http "
                           "block (and \"thread_pool <name> threads=N;\" at "
                           "the top level, or use the pool \"default\")");
        return NGX_CONF_ERROR;
    }

    if (!pg) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "Stripe billing needs \"confhaven_pg_server\": "
                           "subscriptions are recorded in the database");
        return NGX_CONF_ERROR;
    }

    bc->thread_pool = ngx_thread_pool_add(cf, thread_pool);
    if (bc->thread_pool == NULL) {
        return NGX_CONF_ERROR;
    }

    bc->configured = 1;

    return NGX_CONF_OK;
}


void
ngx_http_confhaven_billing_init_process(ngx_http_confhaven_billing_conf_t *bc)
{
    ngx_uint_t  i;

    ngx_http_confhaven_billing_conf = bc;

    for (i = 0; i < 3; i++) {
        if (ngx_http_confhaven_op_steps_add(
                                      &ngx_http_confhaven_billing_steps[i])
            != NGX_OK)
        {
            /* op.c's table is full: these operations would answer 500 */
            ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                          "confhaven billing: no room for the operation "
                          "\"%V\" in op.c's table of operations of "
                          "steps (NGX_HTTP_CONFHAVEN_OP_MAX_STEPS)",
                          &ngx_http_confhaven_billing_steps[i].op->name);
        }
    }
}


ngx_int_t
ngx_http_confhaven_billing_configured(void)
{
    return ngx_http_confhaven_billing_conf
           && ngx_http_confhaven_billing_conf->configured;
}
