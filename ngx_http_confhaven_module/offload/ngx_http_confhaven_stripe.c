
/*
 * Copyright (C) ConferenceHaven
 */


/*
 * The Stripe API from a thread (../shared/docs/INTEGRATIONS.md §3):
 * form-encoded POSTs and GETs with the secret key as a Bearer token and a
 * pinned Stripe-Version; every POST carries the caller's Idempotency-Key,
 * the same for every attempt, so that a retry never makes a second
 * object.  Network errors, 409, 424, 429 and 5xx are retried a bounded
 * number of times with jittered backoff (Retry-After, when given, within
 * a bound; Stripe-Should-Retry: false stops); any other 4xx never is.
 * Stripe's error envelope {"error":{"type","code","param","message"}}
 * becomes the call's fields.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <sys/time.h>
#include <jansson.h>

#include "ngx_http_confhaven_stripe.h"


#define NGX_HTTP_CONFHAVEN_STRIPE_CONNECT_TIMEOUT  3000
#define NGX_HTTP_CONFHAVEN_STRIPE_RETRY_AFTER_MAX  5000
#define NGX_HTTP_CONFHAVEN_STRIPE_BACKOFF_FIRST    500
#define NGX_HTTP_CONFHAVEN_STRIPE_BACKOFF_MAX      5000


static void ngx_http_confhaven_stripe_error(
    ngx_http_confhaven_stripe_call_t *sc,
    ngx_http_confhaven_http_resp_t *resp);
static ngx_msec_t ngx_http_confhaven_stripe_left(
    ngx_http_confhaven_stripe_call_t *sc);


static const char  *ngx_http_confhaven_stripe_capture[] = {
    "request-id", "stripe-should-retry", NULL
};


void
ngx_http_confhaven_stripe_request(ngx_http_confhaven_stripe_call_t *sc,
    ngx_log_t *log)
{
    u_char                           *p;
    ngx_msec_t                        left, wait, cap;
    ngx_uint_t                        n, retry;
    struct timeval                    tv;
    const char                       *headers[6];
    ngx_http_confhaven_http_req_t     req;
    ngx_http_confhaven_http_resp_t    resp;
    char                              url[1024], auth[512], idem[200];

    sc->retry_after = -1;
    sc->attempts = 0;
    sc->body = NULL;
    sc->len = 0;

    p = ngx_slprintf((u_char *) url, (u_char *) url + sizeof(url) - 1,
                     "%V%s", &sc->conf->api_url, sc->path);
    *p = '\0';

    p = ngx_slprintf((u_char *) auth, (u_char *) auth + sizeof(auth) - 1,
                     "Authorization: Bearer %V", &sc->conf->secret_key);
    *p = '\0';

    p = ngx_slprintf((u_char *) idem, (u_char *) idem + sizeof(idem) - 1,
                     "Idempotency-Key: %s", sc->idempotency_key);
    *p = '\0';

    n = 0;
    headers[n++] = auth;
    headers[n++] = "Stripe-Version: " NGX_HTTP_CONFHAVEN_STRIPE_VERSION;
    headers[n++] = "Accept: application/json";

    if (ngx_strcmp(sc->method, "POST") == 0) {
        headers[n++] = "Content-Type: application/x-www-form-urlencoded";
        headers[n++] = idem;
    }

    headers[n] = NULL;

    for ( ;; ) {
        sc->attempts++;

        left = ngx_http_confhaven_stripe_left(sc);
        if (left == 0) {
            sc->outcome = NGX_HTTP_CONFHAVEN_STRIPE_UNAVAILABLE;
            ngx_cpystrn((u_char *) sc->message, (u_char *) "no time left "
                        "for Stripe to answer", sizeof(sc->message));
            ngx_explicit_memzero(auth, sizeof(auth));
            return;
        }

        ngx_memzero(&req, sizeof(req));
        req.method = sc->method;
        req.url = url;
        req.headers = headers;
        req.body = sc->form;
        req.body_len = sc->form_len;
        req.connect_timeout = ngx_min(left,
                                  NGX_HTTP_CONFHAVEN_STRIPE_CONNECT_TIMEOUT);
        req.timeout = left;
        req.capture = ngx_http_confhaven_stripe_capture;
        req.trace = sc->trace;

        ngx_http_confhaven_http_exec(&req, &resp);

        (void) gettimeofday(&tv, NULL);
        sc->answered = (uint64_t) tv.tv_sec * 1000 + tv.tv_usec / 1000;

        sc->status = resp.status;
        sc->retry_after = resp.retry_after;
        ngx_cpystrn((u_char *) sc->request_id, (u_char *) resp.captured[0],
                    sizeof(sc->request_id));

        if (resp.status >= 200 && resp.status < 300) {
            sc->body = resp.body;
            sc->len = resp.len;
            sc->outcome = NGX_HTTP_CONFHAVEN_STRIPE_OK;
            ngx_explicit_memzero(auth, sizeof(auth));

            ngx_log_debug4(NGX_LOG_DEBUG_HTTP, log, 0,
                           "confhaven stripe: %s %s: %l after %ui "
                           "attempt(s)", sc->method, sc->path, resp.status,
                           sc->attempts);
            return;
        }

        retry = 1;

        if (resp.status) {
            ngx_http_confhaven_stripe_error(sc, &resp);

            ngx_log_error(NGX_LOG_WARN, log, 0,
                          "confhaven stripe: %s %s got %l %s%s%s \"%s\" "
                          "(attempt %ui, Request-Id \"%s\", "
                          "Idempotency-Key \"%s\")", sc->method, sc->path,
                          resp.status, sc->type, sc->code[0] ? "/" : "",
                          sc->code, sc->message, sc->attempts,
                          resp.captured[0], sc->idempotency_key);

            /* 409 (the key in use), 424, 429 and 5xx are worth a retry */
            if (resp.status < 500 && resp.status != 409
                && resp.status != 424 && resp.status != 429)
            {
                retry = 0;
            }

            if (ngx_strcasecmp((u_char *) resp.captured[1],
                               (u_char *) "false") == 0)
            {
                retry = 0;

            } else if (ngx_strcasecmp((u_char *) resp.captured[1],
                                      (u_char *) "true") == 0)
            {
                retry = 1;
            }

        } else {
            sc->type[0] = '\0';
            sc->code[0] = '\0';
            sc->param[0] = '\0';
            ngx_cpystrn((u_char *) sc->message, (u_char *) resp.error,
                        sizeof(sc->message));

            ngx_log_error(NGX_LOG_WARN, log, 0,
                          "confhaven stripe: %s %s failed: %s (attempt %ui, "
                          "Idempotency-Key \"%s\")", sc->method, sc->path,
                          resp.error, sc->attempts, sc->idempotency_key);
        }

        ngx_http_confhaven_http_resp_free(&resp);

        if (!retry) {
            sc->outcome = NGX_HTTP_CONFHAVEN_STRIPE_REFUSED;
            ngx_explicit_memzero(auth, sizeof(auth));
            return;
        }

        sc->outcome = (sc->status == 429)
                      ? NGX_HTTP_CONFHAVEN_STRIPE_THROTTLED
                      : NGX_HTTP_CONFHAVEN_STRIPE_UNAVAILABLE;

        if (sc->retry_after >= 0) {
            wait = ngx_min((ngx_msec_t) sc->retry_after,
                           NGX_HTTP_CONFHAVEN_STRIPE_RETRY_AFTER_MAX);

        } else {
            /* as Stripe's libraries: 0.5 s doubling to 5 s, in [x/2, x] */
            cap = ngx_min((ngx_msec_t) NGX_HTTP_CONFHAVEN_STRIPE_BACKOFF_MAX,
                          (ngx_msec_t) NGX_HTTP_CONFHAVEN_STRIPE_BACKOFF_FIRST
                          << ngx_min(sc->attempts - 1, 4));
            wait = cap / 2 + ngx_http_confhaven_offload_random(cap / 2 + 1);
        }

        left = ngx_http_confhaven_stripe_left(sc);

        if (sc->attempts >= NGX_HTTP_CONFHAVEN_STRIPE_ATTEMPTS
            || wait + 200 >= left)
        {
            ngx_explicit_memzero(auth, sizeof(auth));
            return;
        }

        ngx_http_confhaven_offload_sleep(wait);
    }
}


void
ngx_http_confhaven_stripe_free(ngx_http_confhaven_stripe_call_t *sc)
{
    if (sc->body) {
        free(sc->body);
        sc->body = NULL;
    }

    if (sc->form) {
        free(sc->form);
        sc->form = NULL;
    }
}


static ngx_msec_t
ngx_http_confhaven_stripe_left(ngx_http_confhaven_stripe_call_t *sc)
{
    ngx_msec_t  now;

    now = ngx_http_confhaven_offload_now();

    return (now < sc->deadline) ? sc->deadline - now : 0;
}


/* {"error":{"type":..,"code":..,"param":..,"message":..}}, if any */

static void
ngx_http_confhaven_stripe_error(ngx_http_confhaven_stripe_call_t *sc,
    ngx_http_confhaven_http_resp_t *resp)
{
    json_t      *root, *err;
    const char  *s;

    root = resp->body ? json_loadb(resp->body, resp->len, 0, NULL) : NULL;
    err = json_object_get(root, "error");

    s = json_string_value(json_object_get(err, "type"));
    ngx_cpystrn((u_char *) sc->type, (u_char *) (s ? s : "unknown"),
                sizeof(sc->type));

    s = json_string_value(json_object_get(err, "code"));
    ngx_cpystrn((u_char *) sc->code, (u_char *) (s ? s : ""),
                sizeof(sc->code));

    s = json_string_value(json_object_get(err, "param"));
    ngx_cpystrn((u_char *) sc->param, (u_char *) (s ? s : ""),
                sizeof(sc->param));

    s = json_string_value(json_object_get(err, "message"));
    ngx_cpystrn((u_char *) sc->message,
                (u_char *) (s ? s : "(no error body)"), sizeof(sc->message));

    json_decref(root);
}


/* form encoding: everything but RFC 3986 unreserved characters escaped */

u_char *
ngx_http_confhaven_stripe_escape(u_char *p, u_char *last, const char *s,
    size_t len)
{
    u_char       c;
    ngx_uint_t   i;

    static u_char  hex[] = "0123456789ABCDEF";

    for (i = 0; i < len; i++) {
        c = s[i];

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
            || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_'
            || c == '~')
        {
            if (p < last) {
                *p++ = c;
            }

            continue;
        }

        if (last - p >= 3) {
            *p++ = '%';
            *p++ = hex[c >> 4];
            *p++ = hex[c & 0xf];
        }
    }

    return p;
}
