
/*
 * Copyright (C) ConferenceHaven
 *
 * POST /api/stripe/webhook through the REST front end: the
 * Stripe-Signature header (t=, v1=, several v1, other schemes, garbage,
 * huge), the HMAC over the raw body, the age, then the event's JSON (id,
 * type, data.object of every type handled), the de-duplication query,
 * the subscription fetched from Stripe and the apply query: every step up
 * to Stripe and the database, whose answers the target makes up.  The
 * input:
 *
 *     t={t},v1={sig}                     the Stripe-Signature header
 *     new 200                            the answers (below)
 *     {"id": "evt_1", "type": ...}       the body, to the end
 *
 * In the header, {t} is the current time, {old} 301 s ago and {sig} the
 * right v1 for the header's first t= and the body (signed with the
 * secret the target configures); a header line "-" sends none.  The
 * answers: "seen" or "new" to the de-duplication query, then Stripe's
 * status for the subscription (200: the event's data.object as the
 * subscription, 404, 429, 500).
 *
 * fuzz-includes: ngx_http_confhaven_op_billing.c
 * fuzz-ldflags: -Wl,--wrap=ngx_http_confhaven_job_post
 */


#include "harness.h"
#include "ngx_http_confhaven_pg.h"
#include "ngx_http_confhaven_cache.h"
#include "ngx_http_confhaven_json.h"
#include "ngx_http_confhaven_rest.h"

#include "ngx_http_confhaven_op_billing.c"


#define FUZZ_SECRET  "whsec_fuzz_secret"


static ngx_http_confhaven_job_t  *fuzz_job;


/* the thread pool: the job waits for the target to answer it */

ngx_int_t
__wrap_ngx_http_confhaven_job_post(ngx_http_confhaven_job_t *job,
    ngx_thread_pool_t *tp, ngx_pool_t *owner_pool, void *owner,
    ngx_msec_t guard)
{
    if (fuzz_job) {
        fprintf(stderr, "fuzz: a second Stripe call while one is pending\n");
        abort();
    }

    job->owner = owner;
    fuzz_job = job;

    return NGX_OK;
}


static void
fuzz_billing_init(void)
{
    ngx_http_confhaven_billing_price_t        *p;
    static ngx_http_confhaven_billing_conf_t   bc;

    if (bc.configured) {
        return;
    }

    ngx_str_set(&bc.webhook_secret, FUZZ_SECRET);
    ngx_str_set(&bc.stripe.secret_key, "sk_test_fuzz");
    ngx_str_set(&bc.stripe.api_url, "http://127.0.0.1:9");
    ngx_str_set(&bc.success_url, "https://example.com/ok");
    ngx_str_set(&bc.cancel_url, "https://example.com/cancel");
    ngx_str_set(&bc.return_url, "https://example.com/back");

    bc.prices = ngx_array_create(ngx_cycle->pool, 2,
                                 sizeof(ngx_http_confhaven_billing_price_t));
    if (bc.prices == NULL) {
        abort();
    }

    p = ngx_array_push_n(bc.prices, 2);
    if (p == NULL) {
        abort();
    }

    ngx_str_set(&p[0].tier, "pro");
    ngx_str_set(&p[0].price, "price_pro");
    ngx_str_set(&p[1].tier, "enterprise");
    ngx_str_set(&p[1].price, "price_enterprise");

    bc.grace = NGX_HTTP_CONFHAVEN_BILLING_GRACE;
    bc.timeout = NGX_HTTP_CONFHAVEN_BILLING_TIMEOUT;
    bc.configured = 1;

    ngx_http_confhaven_billing_init_process(&bc);
}


/* the header with {t}, {old} and {sig} replaced */

static u_char *
fuzz_signature(ngx_pool_t *pool, const u_char *h, size_t len,
    const u_char *body, size_t blen, size_t *out_len)
{
    u_char        *out, *o, *p, *last, *item, *end, *eq, *tp;
    size_t         n, tlen;
    time_t         now;
    HMAC_CTX      *hctx;
    unsigned int   mlen;
    u_char         mac[EVP_MAX_MD_SIZE];
    u_char         hex[64];

    now = ngx_time();

    /* {t} and {old} first (3 bytes -> 20 at most): {sig} signs their t */
    out = ngx_pnalloc(pool, len * 7 + 1);
    if (out == NULL) {
        abort();
    }

    o = out;

    for (n = 0; n < len; /* void */) {
        if (len - n >= 3 && ngx_strncmp(h + n, "{t}", 3) == 0) {
            o = ngx_sprintf(o, "%T", now);
            n += 3;

        } else if (len - n >= 5 && ngx_strncmp(h + n, "{old}", 5) == 0) {
            o = ngx_sprintf(o, "%T", now - 301);
            n += 5;

        } else {
            *o++ = h[n++];
        }
    }

    /* the first t=, as billing_verify() finds it */
    last = o;
    tp = NULL;
    tlen = 0;

    for (item = out; item < last; item = end + 1) {
        end = ngx_strlchr(item, last, ',');
        if (end == NULL) {
            end = last;
        }

        while (item < end && *item == ' ') {
            item++;
        }

        eq = ngx_strlchr(item, end, '=');

        if (eq && eq - item == 1 && *item == 't') {
            tp = eq + 1;
            tlen = end - tp;
            break;
        }
    }

    mlen = 0;

    hctx = HMAC_CTX_new();
    if (hctx == NULL
        || HMAC_Init_ex(hctx, FUZZ_SECRET, sizeof(FUZZ_SECRET) - 1,
                        EVP_sha256(), NULL) != 1
        || (tp && HMAC_Update(hctx, tp, tlen) != 1)
        || HMAC_Update(hctx, (u_char *) ".", 1) != 1
        || HMAC_Update(hctx, body, blen) != 1
        || HMAC_Final(hctx, mac, &mlen) != 1)
    {
        abort();
    }

    HMAC_CTX_free(hctx);

    ngx_hex_dump(hex, mac, 32);

    /* then {sig}: the same length (5 -> 64) or more, in a second buffer */
    p = ngx_pnalloc(pool, (last - out) * 13 + 1);
    if (p == NULL) {
        abort();
    }

    o = p;

    for (item = out; item < last; /* void */) {
        if (last - item >= 5 && ngx_strncmp(item, "{sig}", 5) == 0) {
            o = ngx_cpymem(o, hex, 64);
            item += 5;

        } else {
            *o++ = *item++;
        }
    }

    *out_len = o - p;

    return p;
}


/* answers the pending query as PostgreSQL would; NGX_DECLINED: none */

static ngx_int_t
fuzz_answer_query(ngx_uint_t seen)
{
    ngx_http_confhaven_fetch_t  *f;

    f = fuzz_fetch;

    if (f == NULL) {
        return NGX_DECLINED;
    }

    fuzz_fetch = NULL;

    f->status = NGX_HTTP_CONFHAVEN_PG_OK;
    f->count = 1;

    if (ngx_strstr(f->sql, "billing_event_seen")) {
        if (seen) {
            ngx_str_set(&f->value, "seen");

        } else {
            ngx_str_set(&f->value, "new");
        }

    } else {
        ngx_str_set(&f->value, "{\"outcome\": \"applied\", \"tier\": \"pro\"}");
    }

    f->handler(f);

    return NGX_OK;
}


/* answers the pending Stripe call; NGX_DECLINED: none */

static ngx_int_t
fuzz_answer_stripe(ngx_int_t status)
{
    char                              *s;
    ngx_http_confhaven_job_t          *job;
    ngx_http_confhaven_billing_t      *st;
    ngx_http_confhaven_billing_job_t  *bj;

    job = fuzz_job;

    if (job == NULL) {
        return NGX_DECLINED;
    }

    fuzz_job = NULL;

    bj = job->data;
    st = job->owner;

    bj->sc.status = status;
    bj->sc.attempts = 1;
    bj->sc.retry_after = -1;
    bj->sc.answered = (uint64_t) ngx_time() * 1000;

    if (status == 200) {
        bj->sc.outcome = NGX_HTTP_CONFHAVEN_STRIPE_OK;

        s = (st && st->object) ? json_dumps(st->object, JSON_COMPACT)
                               : NULL;

        if (s == NULL) {
            s = strdup("{\"id\": \"sub_1\", \"object\": \"subscription\"}");
            if (s == NULL) {
                abort();
            }
        }

        bj->sc.body = s;
        bj->sc.len = strlen(s);

    } else if (status == 429) {
        bj->sc.outcome = NGX_HTTP_CONFHAVEN_STRIPE_THROTTLED;
        bj->sc.retry_after = 2000;

    } else if (status >= 400 && status < 500) {
        bj->sc.outcome = NGX_HTTP_CONFHAVEN_STRIPE_REFUSED;

    } else {
        bj->sc.outcome = NGX_HTTP_CONFHAVEN_STRIPE_UNAVAILABLE;
    }

    ngx_http_confhaven_billing_job_done(job);

    return NGX_OK;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char              *sig;
    size_t               hlen, mlen, blen, slen;
    ngx_int_t            rc, status;
    ngx_uint_t           seen, i;
    const u_char        *header, *mode, *body;
    ngx_table_elt_t     *h;
    ngx_http_request_t  *r;

    fuzz_init();
    fuzz_billing_init();

    r = fuzz_request();

    header = data;
    hlen = fuzz_split(data, size, '\n', &mode, &mlen);
    mlen = fuzz_split(mode, mlen, '\n', &body, &blen);

    seen = (mlen >= 4 && ngx_strncmp(mode, "seen", 4) == 0);
    status = 200;

    for (i = 0; i < mlen; i++) {
        if (mode[i] == ' ') {
            status = ngx_atoi((u_char *) mode + i + 1, mlen - i - 1);
            break;
        }
    }

    ngx_str_set(&r->method_name, "POST");
    r->method = NGX_HTTP_POST;
    ngx_str_set(&r->uri, "/api/stripe/webhook");
    r->args.data = r->uri.data + r->uri.len;
    r->args.len = 0;
    r->unparsed_uri = r->uri;

    if (!(hlen == 1 && header[0] == '-')) {
        sig = fuzz_signature(r->pool, header, hlen, body, blen, &slen);
        (void) fuzz_add_header(r, (u_char *) "Stripe-Signature", 16, sig,
                               slen);
    }

    h = fuzz_add_header(r, (u_char *) "Content-Type", 12,
                        (u_char *) "application/json", 16);
    r->headers_in.content_type = h;
    r->headers_in.content_length_n = blen;

    fuzz_body.data = (u_char *) body;
    fuzz_body.len = blen;
    fuzz_fetch = NULL;
    fuzz_job = NULL;

    rc = ngx_http_confhaven_rest_handler(r);

    if (rc == NGX_ERROR && fuzz_sent.headers == 0) {
        fprintf(stderr, "fuzz: NGX_ERROR without a response\n");
        abort();
    }

    /* the database and Stripe answer, in turn, until the event is done */
    for (i = 0; i < 8 && fuzz_sent.headers == 0; i++) {
        if (fuzz_answer_query(seen) == NGX_OK) {
            continue;
        }

        if (fuzz_answer_stripe(status) == NGX_OK) {
            continue;
        }

        break;
    }

    if (fuzz_sent.headers > 1) {
        abort();
    }

    /* a step left pending is cancelled with the request's pool */
    fuzz_fetch = NULL;
    fuzz_request_free(r);

    if (fuzz_job) {
        /* orphaned by the cancel: its answer is dropped, as in a worker */
        (void) fuzz_answer_stripe(500);
    }

    return 0;
}
