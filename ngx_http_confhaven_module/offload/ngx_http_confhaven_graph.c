
/*
 * Copyright (C) ConferenceHaven
 */


/*
 * Microsoft Graph from a thread (../shared/docs/INTEGRATIONS.md §1): the
 * client-credentials token, cached for all threads of the worker and
 * refreshed by one thread about 5 minutes before it expires; an event in
 * the organizer mailbox with the attendee (a real meeting request), sent
 * with the caller's transactionId so that a retry never makes a second
 * event; 429 waits for Retry-After, 5xx and network errors are retried
 * with jittered backoff, a bounded number of times, within the deadline.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <pthread.h>
#include <jansson.h>

#include "ngx_http_confhaven_graph.h"


#define NGX_HTTP_CONFHAVEN_GRAPH_CONNECT_TIMEOUT  3000
#define NGX_HTTP_CONFHAVEN_GRAPH_TOKEN_MAX        8192
#define NGX_HTTP_CONFHAVEN_GRAPH_REFRESH_BEFORE   300000
#define NGX_HTTP_CONFHAVEN_GRAPH_RETRY_AFTER_MAX  120000
/* Outlook's limit: 4 concurrent requests per app and mailbox */
#define NGX_HTTP_CONFHAVEN_GRAPH_CONCURRENCY      4


#define NGX_HTTP_CONFHAVEN_GRAPH_TOKEN_OK       0
#define NGX_HTTP_CONFHAVEN_GRAPH_TOKEN_RETRY    1   /* 5xx, network, time */
#define NGX_HTTP_CONFHAVEN_GRAPH_TOKEN_REFUSED  2   /* 4xx */


static ngx_int_t ngx_http_confhaven_graph_token(
    ngx_http_confhaven_graph_call_t *gc, ngx_log_t *log, char *out,
    ngx_uint_t *gen, ngx_uint_t drop);
static ngx_int_t ngx_http_confhaven_graph_fetch_token(
    ngx_http_confhaven_graph_call_t *gc, ngx_log_t *log, char *out,
    ngx_msec_t *lifetime);
static void ngx_http_confhaven_graph_error(ngx_http_confhaven_graph_call_t *gc,
    ngx_http_confhaven_http_resp_t *resp);
static u_char *ngx_http_confhaven_graph_escape(u_char *p, u_char *last,
    ngx_str_t *s);
static ngx_msec_t ngx_http_confhaven_graph_left(
    ngx_http_confhaven_graph_call_t *gc);
static ngx_int_t ngx_http_confhaven_graph_acquire(
    ngx_http_confhaven_graph_call_t *gc);
static void ngx_http_confhaven_graph_release(void);


/* the worker's token, shared by its threads */
static pthread_mutex_t  ngx_http_confhaven_graph_mutex =
                                                PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t   ngx_http_confhaven_graph_cond =
                                                PTHREAD_COND_INITIALIZER;
static char        ngx_http_confhaven_graph_tok[
                                        NGX_HTTP_CONFHAVEN_GRAPH_TOKEN_MAX];
static ngx_msec_t  ngx_http_confhaven_graph_expires;     /* monotonic */
static ngx_msec_t  ngx_http_confhaven_graph_refresh_at;
static ngx_uint_t  ngx_http_confhaven_graph_gen;
static ngx_uint_t  ngx_http_confhaven_graph_refreshing;
static ngx_uint_t  ngx_http_confhaven_graph_busy;        /* POSTs in flight */


static const char  *ngx_http_confhaven_graph_capture[] = {
    "request-id", "client-request-id", NULL
};


void
ngx_http_confhaven_graph_create_event(ngx_http_confhaven_graph_call_t *gc,
    ngx_log_t *log)
{
    u_char                           *p;
    json_t                           *root, *id;
    ngx_int_t                         rc;
    ngx_msec_t                        left, wait, cap;
    ngx_uint_t                        gen, reauth, drop;
    const char                       *headers[6];
    ngx_http_confhaven_http_req_t     req;
    ngx_http_confhaven_http_resp_t    resp;
    char                              url[2048], auth[
                                    NGX_HTTP_CONFHAVEN_GRAPH_TOKEN_MAX + 32];
    char                              crid[80];
    char                              tok[NGX_HTTP_CONFHAVEN_GRAPH_TOKEN_MAX];

    gc->retry_after = -1;
    gc->attempts = 0;
    reauth = 0;
    drop = 0;
    gen = 0;

    p = ngx_slprintf((u_char *) url, (u_char *) url + sizeof(url) - 1,
                     "%V/users/", &gc->conf->api_url);
    p = ngx_http_confhaven_graph_escape(p, (u_char *) url + sizeof(url) - 1,
                                        &gc->conf->organizer);
    p = ngx_slprintf(p, (u_char *) url + sizeof(url) - 1, "/events");
    *p = '\0';

    ngx_sprintf((u_char *) crid, "client-request-id: %s%Z",
                gc->client_request_id);

    for ( ;; ) {
        gc->attempts++;

        rc = ngx_http_confhaven_graph_token(gc, log, tok, &gen, drop);
        drop = 0;

        if (rc == NGX_HTTP_CONFHAVEN_GRAPH_TOKEN_REFUSED) {
            gc->outcome = NGX_HTTP_CONFHAVEN_GRAPH_REFUSED;
            return;
        }

        if (rc == NGX_HTTP_CONFHAVEN_GRAPH_TOKEN_OK) {
            left = ngx_http_confhaven_graph_left(gc);
            if (left == 0) {
                gc->outcome = NGX_HTTP_CONFHAVEN_GRAPH_UNAVAILABLE;
                ngx_cpystrn((u_char *) gc->message, (u_char *) "no time "
                            "left for Microsoft Graph to answer",
                            sizeof(gc->message));
                return;
            }

            ngx_sprintf((u_char *) auth, "Authorization: Bearer %s%Z", tok);

            headers[0] = auth;
            headers[1] = "Content-Type: application/json";
            headers[2] = "Accept: application/json";
            headers[3] = "Prefer: outlook.timezone=\"UTC\"";
            headers[4] = crid;
            headers[5] = NULL;

            ngx_memzero(&req, sizeof(req));
            req.method = "POST";
            req.url = url;
            req.headers = headers;
            req.body = gc->event;
            req.body_len = gc->event_len;
            req.connect_timeout = ngx_min(left,
                                  NGX_HTTP_CONFHAVEN_GRAPH_CONNECT_TIMEOUT);
            req.timeout = left;
            req.capture = ngx_http_confhaven_graph_capture;
            req.trace = gc->trace;

            if (ngx_http_confhaven_graph_acquire(gc) != NGX_OK) {
                gc->outcome = NGX_HTTP_CONFHAVEN_GRAPH_UNAVAILABLE;
                ngx_cpystrn((u_char *) gc->message, (u_char *) "too many "
                            "invites in flight to the organizer mailbox",
                            sizeof(gc->message));
                return;
            }

            req.timeout = ngx_max(ngx_http_confhaven_graph_left(gc), 1);
            req.connect_timeout = ngx_min(req.connect_timeout, req.timeout);

            ngx_http_confhaven_http_exec(&req, &resp);

            ngx_http_confhaven_graph_release();

            gc->status = resp.status;
            gc->retry_after = resp.retry_after;
            ngx_cpystrn((u_char *) gc->request_id,
                        (u_char *) resp.captured[0], sizeof(gc->request_id));

            if (resp.status == 200 || resp.status == 201) {
                root = resp.body ? json_loadb(resp.body, resp.len, 0, NULL)
                                 : NULL;
                id = json_object_get(root, "id");

                if (json_is_string(id)) {
                    ngx_cpystrn((u_char *) gc->event_id,
                                (u_char *) json_string_value(id),
                                sizeof(gc->event_id));

                } else {
                    /* created all the same: Graph said so */
                    ngx_log_error(NGX_LOG_WARN, log, 0,
                                  "confhaven graph: event created but its "
                                  "id is unreadable (request-id \"%s\", "
                                  "client-request-id \"%s\")",
                                  resp.captured[0], gc->client_request_id);
                }

                json_decref(root);
                ngx_http_confhaven_http_resp_free(&resp);

                ngx_log_error(NGX_LOG_INFO, log, 0,
                              "confhaven graph: event created after %ui "
                              "attempt(s) (request-id \"%s\", "
                              "client-request-id \"%s\")", gc->attempts,
                              resp.captured[0], gc->client_request_id);

                gc->outcome = NGX_HTTP_CONFHAVEN_GRAPH_SENT;
                return;
            }

            ngx_http_confhaven_graph_error(gc, &resp);
            ngx_http_confhaven_http_resp_free(&resp);

            if (resp.status) {
                ngx_log_error(NGX_LOG_WARN, log, 0,
                              "confhaven graph: creating the event got "
                              "%l %s \"%s\" (attempt %ui, request-id \"%s\","
                              " client-request-id \"%s\")", resp.status,
                              gc->code, gc->message, gc->attempts,
                              resp.captured[0], gc->client_request_id);

            } else {
                ngx_log_error(NGX_LOG_WARN, log, 0,
                              "confhaven graph: creating the event failed: "
                              "%s (attempt %ui, client-request-id \"%s\")",
                              resp.error, gc->attempts,
                              gc->client_request_id);
                ngx_cpystrn((u_char *) gc->message, (u_char *) resp.error,
                            sizeof(gc->message));
            }

            if (resp.status == 401 && !reauth) {
                /* the token expired early or was revoked: a new one, once */
                reauth = 1;
                drop = 1;
                gc->attempts--;
                continue;
            }

            if (resp.status >= 400 && resp.status < 500
                && resp.status != 408 && resp.status != 429)
            {
                gc->outcome = NGX_HTTP_CONFHAVEN_GRAPH_REFUSED;
                return;
            }
        }

        /* 429, 5xx, a network error or a timeout: try again, in time */

        gc->outcome = (gc->status == 429)
                      ? NGX_HTTP_CONFHAVEN_GRAPH_THROTTLED
                      : NGX_HTTP_CONFHAVEN_GRAPH_UNAVAILABLE;

        if (gc->retry_after >= 0) {
            wait = ngx_min((ngx_msec_t) gc->retry_after,
                           NGX_HTTP_CONFHAVEN_GRAPH_RETRY_AFTER_MAX);

        } else {
            /* full jitter: 0 .. min(32 s, 1 s * 2^n) */
            cap = ngx_min((ngx_msec_t) 32000,
                          (ngx_msec_t) 1000 << ngx_min(gc->attempts, 5));
            wait = ngx_http_confhaven_offload_random(cap / 4 + 1)
                   + ngx_http_confhaven_offload_random(cap / 4 + 1);
        }

        left = ngx_http_confhaven_graph_left(gc);

        if (gc->attempts >= NGX_HTTP_CONFHAVEN_GRAPH_ATTEMPTS
            || wait + 500 >= left)
        {
            return;
        }

        ngx_http_confhaven_offload_sleep(wait);
    }
}


static ngx_msec_t
ngx_http_confhaven_graph_left(ngx_http_confhaven_graph_call_t *gc)
{
    ngx_msec_t  now;

    now = ngx_http_confhaven_offload_now();

    return (now < gc->deadline) ? gc->deadline - now : 0;
}


/*
 * A slot among the worker's requests in flight to the mailbox (Outlook
 * allows 4 per app and mailbox; more get 429), waited for until the
 * deadline.
 */

static ngx_int_t
ngx_http_confhaven_graph_acquire(ngx_http_confhaven_graph_call_t *gc)
{
    ngx_msec_t       left;
    struct timespec  ts;

    (void) pthread_mutex_lock(&ngx_http_confhaven_graph_mutex);

    while (ngx_http_confhaven_graph_busy
           >= NGX_HTTP_CONFHAVEN_GRAPH_CONCURRENCY)
    {
        left = ngx_http_confhaven_graph_left(gc);
        if (left == 0) {
            (void) pthread_mutex_unlock(&ngx_http_confhaven_graph_mutex);
            return NGX_ERROR;
        }

        (void) clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += left / 1000;
        ts.tv_nsec += (left % 1000) * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }

        (void) pthread_cond_timedwait(&ngx_http_confhaven_graph_cond,
                                      &ngx_http_confhaven_graph_mutex, &ts);
    }

    ngx_http_confhaven_graph_busy++;

    (void) pthread_mutex_unlock(&ngx_http_confhaven_graph_mutex);

    return NGX_OK;
}


static void
ngx_http_confhaven_graph_release(void)
{
    (void) pthread_mutex_lock(&ngx_http_confhaven_graph_mutex);
    ngx_http_confhaven_graph_busy--;
    (void) pthread_cond_broadcast(&ngx_http_confhaven_graph_cond);
    (void) pthread_mutex_unlock(&ngx_http_confhaven_graph_mutex);
}


/*
 * A valid token into out.  drop: the one of generation *gen was refused
 * (401): get a new one unless another thread already has.  One thread
 * refreshes; the others use the still-valid token or wait for it.
 */

static ngx_int_t
ngx_http_confhaven_graph_token(ngx_http_confhaven_graph_call_t *gc,
    ngx_log_t *log, char *out, ngx_uint_t *gen, ngx_uint_t drop)
{
    ngx_int_t        rc;
    ngx_msec_t       now, left, lifetime;
    struct timespec  ts;
    char             fresh[NGX_HTTP_CONFHAVEN_GRAPH_TOKEN_MAX];

    (void) pthread_mutex_lock(&ngx_http_confhaven_graph_mutex);

    if (drop && *gen == ngx_http_confhaven_graph_gen) {
        ngx_http_confhaven_graph_expires = 0;
    }

    for ( ;; ) {
        now = ngx_http_confhaven_offload_now();

        if (now < ngx_http_confhaven_graph_expires) {
            if (now < ngx_http_confhaven_graph_refresh_at
                || ngx_http_confhaven_graph_refreshing)
            {
                ngx_cpystrn((u_char *) out,
                            (u_char *) ngx_http_confhaven_graph_tok,
                            NGX_HTTP_CONFHAVEN_GRAPH_TOKEN_MAX);
                *gen = ngx_http_confhaven_graph_gen;
                (void) pthread_mutex_unlock(&ngx_http_confhaven_graph_mutex);
                return NGX_HTTP_CONFHAVEN_GRAPH_TOKEN_OK;
            }

            /* due for a refresh: this thread does it */
            break;
        }

        if (!ngx_http_confhaven_graph_refreshing) {
            break;
        }

        left = ngx_http_confhaven_graph_left(gc);
        if (left == 0) {
            (void) pthread_mutex_unlock(&ngx_http_confhaven_graph_mutex);
            ngx_cpystrn((u_char *) gc->message, (u_char *) "no token in time",
                        sizeof(gc->message));
            return NGX_HTTP_CONFHAVEN_GRAPH_TOKEN_RETRY;
        }

        (void) clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += left / 1000;
        ts.tv_nsec += (left % 1000) * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }

        (void) pthread_cond_timedwait(&ngx_http_confhaven_graph_cond,
                                      &ngx_http_confhaven_graph_mutex, &ts);
    }

    ngx_http_confhaven_graph_refreshing = 1;
    (void) pthread_mutex_unlock(&ngx_http_confhaven_graph_mutex);

    rc = ngx_http_confhaven_graph_fetch_token(gc, log, fresh, &lifetime);

    (void) pthread_mutex_lock(&ngx_http_confhaven_graph_mutex);

    ngx_http_confhaven_graph_refreshing = 0;

    if (rc == NGX_HTTP_CONFHAVEN_GRAPH_TOKEN_OK) {
        now = ngx_http_confhaven_offload_now();

        ngx_cpystrn((u_char *) ngx_http_confhaven_graph_tok, (u_char *) fresh,
                    NGX_HTTP_CONFHAVEN_GRAPH_TOKEN_MAX);
        ngx_http_confhaven_graph_expires = now + lifetime;
        /* 5 minutes before; a short-lived token halfway */
        ngx_http_confhaven_graph_refresh_at = now
            + ((lifetime > 2 * NGX_HTTP_CONFHAVEN_GRAPH_REFRESH_BEFORE)
               ? lifetime - NGX_HTTP_CONFHAVEN_GRAPH_REFRESH_BEFORE
               : lifetime / 2);
        ngx_http_confhaven_graph_gen++;
        *gen = ngx_http_confhaven_graph_gen;

        ngx_cpystrn((u_char *) out, (u_char *) fresh,
                    NGX_HTTP_CONFHAVEN_GRAPH_TOKEN_MAX);

    } else if (now < ngx_http_confhaven_graph_expires) {
        /* the refresh failed, the old token still works */
        ngx_cpystrn((u_char *) out, (u_char *) ngx_http_confhaven_graph_tok,
                    NGX_HTTP_CONFHAVEN_GRAPH_TOKEN_MAX);
        *gen = ngx_http_confhaven_graph_gen;
        rc = NGX_HTTP_CONFHAVEN_GRAPH_TOKEN_OK;
    }

    (void) pthread_cond_broadcast(&ngx_http_confhaven_graph_cond);
    (void) pthread_mutex_unlock(&ngx_http_confhaven_graph_mutex);

    return rc;
}


static ngx_int_t
ngx_http_confhaven_graph_fetch_token(ngx_http_confhaven_graph_call_t *gc,
    ngx_log_t *log, char *out, ngx_msec_t *lifetime)
{
    u_char                          *p, *last;
    json_t                          *root, *tok, *exp;
    ngx_int_t                        n;
    ngx_msec_t                       left;
    ngx_str_t                        scope;
    const char                      *headers[3];
    ngx_http_confhaven_http_req_t    req;
    ngx_http_confhaven_http_resp_t   resp;
    char                             url[2048], form[4096];

    left = ngx_http_confhaven_graph_left(gc);
    if (left == 0) {
        ngx_cpystrn((u_char *) gc->message, (u_char *) "no time left for "
                    "a token", sizeof(gc->message));
        return NGX_HTTP_CONFHAVEN_GRAPH_TOKEN_RETRY;
    }

    p = ngx_slprintf((u_char *) url, (u_char *) url + sizeof(url) - 1,
                     "%V/", &gc->conf->login_url);
    p = ngx_http_confhaven_graph_escape(p, (u_char *) url + sizeof(url) - 1,
                                        &gc->conf->tenant);
    p = ngx_slprintf(p, (u_char *) url + sizeof(url) - 1,
                     "/oauth2/v2.0/token");
    *p = '\0';

    ngx_str_set(&scope, "https://graph.microsoft.com/.default");

    p = (u_char *) form;
    last = p + sizeof(form) - 1;

    p = ngx_slprintf(p, last, "client_id=");
    p = ngx_http_confhaven_graph_escape(p, last, &gc->conf->client_id);
    p = ngx_slprintf(p, last, "&scope=");
    p = ngx_http_confhaven_graph_escape(p, last, &scope);
    p = ngx_slprintf(p, last, "&client_secret=");
    p = ngx_http_confhaven_graph_escape(p, last, &gc->conf->client_secret);
    p = ngx_slprintf(p, last, "&grant_type=client_credentials");
    *p = '\0';

    headers[0] = "Content-Type: application/x-www-form-urlencoded";
    headers[1] = "Accept: application/json";
    headers[2] = NULL;

    ngx_memzero(&req, sizeof(req));
    req.method = "POST";
    req.url = url;
    req.headers = headers;
    req.body = form;
    req.body_len = p - (u_char *) form;
    req.connect_timeout = ngx_min(left,
                                  NGX_HTTP_CONFHAVEN_GRAPH_CONNECT_TIMEOUT);
    req.timeout = left;
    req.capture = ngx_http_confhaven_graph_capture;
    req.trace = gc->trace;

    gc->token_fetches++;

    ngx_http_confhaven_http_exec(&req, &resp);

    ngx_explicit_memzero(form, sizeof(form));

    gc->status = resp.status;
    gc->retry_after = resp.retry_after;

    root = resp.body ? json_loadb(resp.body, resp.len, 0, NULL) : NULL;

    if (resp.status == 200) {
        tok = json_object_get(root, "access_token");
        exp = json_object_get(root, "expires_in");

        /* a number in v2.0; the old endpoint sent a string */
        n = json_is_integer(exp) ? (ngx_int_t) json_integer_value(exp)
            : json_is_string(exp)
              ? ngx_atoi((u_char *) json_string_value(exp),
                         json_string_length(exp))
              : NGX_ERROR;

        if (json_is_string(tok) && json_string_length(tok) > 0
            && json_string_length(tok) < NGX_HTTP_CONFHAVEN_GRAPH_TOKEN_MAX
            && n > 0)
        {
            ngx_cpystrn((u_char *) out, (u_char *) json_string_value(tok),
                        NGX_HTTP_CONFHAVEN_GRAPH_TOKEN_MAX);
            *lifetime = (ngx_msec_t) ngx_min(n, 86400) * 1000;

            json_decref(root);
            ngx_http_confhaven_http_resp_free(&resp);

            ngx_log_error(NGX_LOG_INFO, log, 0,
                          "confhaven graph: new token, valid %i s", n);

            return NGX_HTTP_CONFHAVEN_GRAPH_TOKEN_OK;
        }

        ngx_cpystrn((u_char *) gc->code, (u_char *) "invalid_token_response",
                    sizeof(gc->code));
        ngx_cpystrn((u_char *) gc->message, (u_char *) "the token endpoint "
                    "answered 200 without a usable access_token and "
                    "expires_in", sizeof(gc->message));

        ngx_log_error(NGX_LOG_WARN, log, 0, "confhaven graph: %s",
                      gc->message);

        json_decref(root);
        ngx_http_confhaven_http_resp_free(&resp);

        return NGX_HTTP_CONFHAVEN_GRAPH_TOKEN_RETRY;
    }

    if (resp.status == 0) {
        ngx_cpystrn((u_char *) gc->message, (u_char *) resp.error,
                    sizeof(gc->message));
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "confhaven graph: the token endpoint failed: %s",
                      resp.error);

        json_decref(root);
        ngx_http_confhaven_http_resp_free(&resp);

        return NGX_HTTP_CONFHAVEN_GRAPH_TOKEN_RETRY;
    }

    tok = json_object_get(root, "error");
    exp = json_object_get(root, "error_description");

    ngx_cpystrn((u_char *) gc->code, (u_char *) (json_is_string(tok)
                                         ? json_string_value(tok) : "unknown"),
                sizeof(gc->code));
    ngx_cpystrn((u_char *) gc->message, (u_char *) (json_is_string(exp)
                          ? json_string_value(exp) : "(no description)"),
                sizeof(gc->message));

    /* AADSTS texts end with trace lines */
    for (p = (u_char *) gc->message; *p; p++) {
        if (*p == '\r' || *p == '\n') {
            *p = '\0';
            break;
        }
    }

    ngx_log_error(NGX_LOG_WARN, log, 0,
                  "confhaven graph: the token endpoint answered %l %s: %s",
                  resp.status, gc->code, gc->message);

    json_decref(root);
    ngx_http_confhaven_http_resp_free(&resp);

    return (resp.status >= 500 || resp.status == 429 || resp.status == 408)
           ? NGX_HTTP_CONFHAVEN_GRAPH_TOKEN_RETRY
           : NGX_HTTP_CONFHAVEN_GRAPH_TOKEN_REFUSED;
}


/* Graph's error body: {"error":{"code":..,"message":..}}, if any */

static void
ngx_http_confhaven_graph_error(ngx_http_confhaven_graph_call_t *gc,
    ngx_http_confhaven_http_resp_t *resp)
{
    json_t  *root, *err, *code, *msg;

    root = resp->body ? json_loadb(resp->body, resp->len, 0, NULL) : NULL;
    err = json_object_get(root, "error");
    code = json_object_get(err, "code");
    msg = json_object_get(err, "message");

    ngx_cpystrn((u_char *) gc->code,
                (u_char *) (json_is_string(code) ? json_string_value(code)
                                                 : "unknown"),
                sizeof(gc->code));
    ngx_cpystrn((u_char *) gc->message,
                (u_char *) (json_is_string(msg) ? json_string_value(msg)
                                                : "(no error body)"),
                sizeof(gc->message));

    json_decref(root);
}


/* percent-encoding of everything but RFC 3986 unreserved characters */

static u_char *
ngx_http_confhaven_graph_escape(u_char *p, u_char *last, ngx_str_t *s)
{
    u_char       c;
    ngx_uint_t   i;

    static u_char  hex[] = "0123456789ABCDEF";

    for (i = 0; i < s->len; i++) {
        c = s->data[i];

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
            || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_'
            || c == '~' || c == '@')
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
