
/*
 * Copyright (C) ConferenceHaven
 */


/*
 * Jobs on an nginx thread pool, and the blocking HTTP client they use.
 * Nothing here touches a pool, a request or the event loop's structures
 * from a thread: a job's thread side sees only the job's own memory.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <pthread.h>
#include <curl/curl.h>

#include "ngx_http_confhaven_offload.h"


static void ngx_http_confhaven_job_thread(void *data, ngx_log_t *log);
static void ngx_http_confhaven_job_finished(ngx_event_t *ev);
static void ngx_http_confhaven_job_guard(ngx_event_t *ev);
static void ngx_http_confhaven_job_owner_gone(void *data);
static void ngx_http_confhaven_curl_global(void);
static size_t ngx_http_confhaven_curl_body(char *ptr, size_t size,
    size_t nmemb, void *data);
static size_t ngx_http_confhaven_curl_header(char *ptr, size_t size,
    size_t nmemb, void *data);
static void ngx_http_confhaven_offload_span(ngx_http_confhaven_span_t *span,
    ngx_http_confhaven_http_req_t *req, CURL *h);


static pthread_once_t     ngx_http_confhaven_curl_once = PTHREAD_ONCE_INIT;
static __thread CURL     *ngx_http_confhaven_curl;
static __thread unsigned  ngx_http_confhaven_seed;


ngx_http_confhaven_job_t *
ngx_http_confhaven_job_create(size_t size)
{
    u_char                    *p;
    ngx_http_confhaven_job_t  *job;

    p = ngx_calloc(sizeof(ngx_http_confhaven_job_t)
                   + sizeof(ngx_thread_task_t) + size, ngx_cycle->log);
    if (p == NULL) {
        return NULL;
    }

    job = (ngx_http_confhaven_job_t *) p;
    job->task = (ngx_thread_task_t *) (p + sizeof(ngx_http_confhaven_job_t));
    job->data = size ? (u_char *) (job->task + 1) : NULL;
    job->log = ngx_cycle->log;

    job->task->ctx = job;
    job->task->handler = ngx_http_confhaven_job_thread;
    job->task->event.handler = ngx_http_confhaven_job_finished;
    job->task->event.data = job;
    job->task->event.log = job->log;

    return job;
}


/*
 * Queues the job.  Its owner's pool gets a cleanup that orphans the job;
 * guard (ms) is how long an exiting worker should expect to wait for it.
 */

ngx_int_t
ngx_http_confhaven_job_post(ngx_http_confhaven_job_t *job,
    ngx_thread_pool_t *tp, ngx_pool_t *owner_pool, void *owner,
    ngx_msec_t guard)
{
    ngx_pool_cleanup_t  *cln;

    cln = ngx_pool_cleanup_add(owner_pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    job->owner = owner;
    job->started = ngx_current_msec;

    if (ngx_thread_task_post(tp, job->task) != NGX_OK) {
        job->owner = NULL;
        return NGX_ERROR;
    }

    cln->handler = ngx_http_confhaven_job_owner_gone;
    cln->data = job;
    job->cln = cln;

    job->guard.handler = ngx_http_confhaven_job_guard;
    job->guard.data = job;
    job->guard.log = job->log;
    job->guard.cancelable = 0;

    ngx_add_timer(&job->guard, guard);

    return NGX_OK;
}


/* the owner no longer wants the outcome; done() still runs */

void
ngx_http_confhaven_job_orphan(ngx_http_confhaven_job_t *job)
{
    job->owner = NULL;

    if (job->cln) {
        job->cln->handler = NULL;
        job->cln = NULL;
    }
}


void
ngx_http_confhaven_job_free(ngx_http_confhaven_job_t *job)
{
    ngx_http_confhaven_job_orphan(job);

    if (job->guard.timer_set) {
        ngx_del_timer(&job->guard);
    }

    ngx_free(job);
}


static void
ngx_http_confhaven_job_thread(void *data, ngx_log_t *log)
{
    ngx_http_confhaven_job_t  *job = data;

    job->run(job);
}


static void
ngx_http_confhaven_job_finished(ngx_event_t *ev)
{
    ngx_http_confhaven_job_t  *job = ev->data;

    if (job->guard.timer_set) {
        ngx_del_timer(&job->guard);
    }

    if (job->trace) {
        ngx_http_confhaven_trace_calls_flush(job->trace);
    }

    job->done(job);
}


static void
ngx_http_confhaven_job_guard(ngx_event_t *ev)
{
    ngx_http_confhaven_job_t  *job = ev->data;

    ngx_log_error(NGX_LOG_WARN, ev->log, 0,
                  "confhaven offload: a job is still running after %M ms",
                  ngx_current_msec - job->started);

    /* its HTTP timeouts end it: keep an exiting worker until then */
    ngx_add_timer(&job->guard, 1000);
}


static void
ngx_http_confhaven_job_owner_gone(void *data)
{
    ngx_http_confhaven_job_t  *job = data;

    job->owner = NULL;
    job->cln = NULL;
}


/* ------------------------------------------------------------ HTTP client */


static void
ngx_http_confhaven_curl_global(void)
{
    (void) curl_global_init(CURL_GLOBAL_DEFAULT);
}


/*
 * One exchange; resp->status 0 and resp->error say why when there was no
 * HTTP answer.  The thread's easy handle is reset, not closed, between
 * calls: its connection cache and TLS sessions stay.
 */

void
ngx_http_confhaven_http_exec(ngx_http_confhaven_http_req_t *req,
    ngx_http_confhaven_http_resp_t *resp)
{
    CURL                       *h;
    u_char                      tp[96];
    u_char                      ts[NGX_HTTP_CONFHAVEN_TRACESTATE + 16];
    CURLcode                    rc;
    ngx_uint_t                  i;
    struct curl_slist          *list, *l;
    ngx_http_confhaven_span_t  *span;

    ngx_memzero(resp, sizeof(ngx_http_confhaven_http_resp_t));
    resp->retry_after = -1;
    resp->capture = req->capture;

    (void) pthread_once(&ngx_http_confhaven_curl_once,
                        ngx_http_confhaven_curl_global);

    if (ngx_http_confhaven_curl == NULL) {
        ngx_http_confhaven_curl = curl_easy_init();
        if (ngx_http_confhaven_curl == NULL) {
            ngx_cpystrn((u_char *) resp->error, (u_char *) "curl_easy_init() "
                        "failed", sizeof(resp->error));
            return;
        }

    } else {
        curl_easy_reset(ngx_http_confhaven_curl);
    }

    h = ngx_http_confhaven_curl;

    list = NULL;

    /* no "Expect: 100-continue" round trip for a POST body */
    l = curl_slist_append(list, "Expect:");
    if (l == NULL) {
        goto nomem;
    }
    list = l;

    for (i = 0; req->headers && req->headers[i]; i++) {
        l = curl_slist_append(list, req->headers[i]);
        if (l == NULL) {
            goto nomem;
        }
        list = l;
    }

    /* W3C trace context for the callee, and our client span */
    span = NULL;

    if (req->trace) {
        span = ngx_http_confhaven_trace_calls_start(req->trace,
                                   req->method ? req->method
                                               : (req->body ? "POST" : "GET"),
                                   tp);

        if (tp[0]) {
            l = curl_slist_append(list, (char *) tp);
            if (l == NULL) {
                goto nomem;
            }
            list = l;
        }

        /* checked when taken (W3C grammar); a header line either way */
        if (req->trace->state[0]
            && strpbrk(req->trace->state, "\r\n") == NULL)
        {
            ngx_sprintf(ts, "tracestate: %s%Z", req->trace->state);

            l = curl_slist_append(list, (char *) ts);
            if (l == NULL) {
                goto nomem;
            }
            list = l;
        }
    }

    (void) curl_easy_setopt(h, CURLOPT_URL, req->url);
    (void) curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
    (void) curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#endif
    (void) curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    (void) curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    (void) curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    (void) curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                            req->connect_timeout);
    (void) curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, req->timeout);
    (void) curl_easy_setopt(h, CURLOPT_HTTPHEADER, list);
    (void) curl_easy_setopt(h, CURLOPT_ERRORBUFFER, resp->error);
    (void) curl_easy_setopt(h, CURLOPT_WRITEFUNCTION,
                            ngx_http_confhaven_curl_body);
    (void) curl_easy_setopt(h, CURLOPT_WRITEDATA, resp);
    (void) curl_easy_setopt(h, CURLOPT_HEADERFUNCTION,
                            ngx_http_confhaven_curl_header);
    (void) curl_easy_setopt(h, CURLOPT_HEADERDATA, resp);
    (void) curl_easy_setopt(h, CURLOPT_USERAGENT, "ConferenceHaven");

    if (req->body) {
        (void) curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE,
                                (long) req->body_len);
        (void) curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body);
    }

    if (req->method) {
        (void) curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req->method);
    }

    rc = curl_easy_perform(h);

    /* the handle keeps pointers to them until the next reset */
    (void) curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    (void) curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
    curl_slist_free_all(list);

    if (span) {
        ngx_http_confhaven_offload_span(span, req, rc == CURLE_OK ? h : NULL);
    }

    if (rc != CURLE_OK) {
        resp->status = 0;
        resp->timed_out = (rc == CURLE_OPERATION_TIMEDOUT);

        if (resp->error[0] == '\0') {
            ngx_cpystrn((u_char *) resp->error,
                        (u_char *) curl_easy_strerror(rc),
                        sizeof(resp->error));
        }

        return;
    }

    (void) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);

    return;

nomem:

    curl_slist_free_all(list);
    ngx_cpystrn((u_char *) resp->error, (u_char *) "out of memory",
                sizeof(resp->error));
}


/*
 * A client span's attributes (HTTP semantic conventions); the URL without
 * its query, which may carry what a log must not.  h is NULL when there
 * was no HTTP answer.
 */

static void
ngx_http_confhaven_offload_span(ngx_http_confhaven_span_t *span,
    ngx_http_confhaven_http_req_t *req, CURL *h)
{
    long         status;
    const char  *method;
    u_char      *u, *host, *end;
    size_t       len;

    method = req->method ? req->method : (req->body ? "POST" : "GET");

    ngx_http_confhaven_trace_str(span, "http.request.method",
                                 (u_char *) method, ngx_strlen(method));

    u = (u_char *) req->url;
    len = ngx_strlen(req->url);

    end = (u_char *) ngx_strlchr(u, u + len, '?');
    if (end) {
        len = end - u;
    }

    ngx_http_confhaven_trace_str(span, "url.full", u, len);

    host = (u_char *) ngx_strstr(u, "://");
    if (host) {
        host += 3;
        end = host;

        while (end < u + len && *end != '/' && *end != ':') {
            end++;
        }

        ngx_http_confhaven_trace_str(span, "server.address", host,
                                     end - host);
    }

    if (h == NULL) {
        ngx_http_confhaven_trace_str(span, "error.type", (u_char *) "network",
                                     sizeof("network") - 1);
        ngx_http_confhaven_trace_error(span);
        ngx_http_confhaven_trace_calls_end(span);
        return;
    }

    status = 0;
    (void) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);

    ngx_http_confhaven_trace_int(span, "http.response.status_code", status);

    if (status >= 400) {
        ngx_http_confhaven_trace_error(span);
    }

    ngx_http_confhaven_trace_calls_end(span);
}


void
ngx_http_confhaven_http_resp_free(ngx_http_confhaven_http_resp_t *resp)
{
    if (resp->body) {
        ngx_free(resp->body);
        resp->body = NULL;
    }

    resp->len = 0;
    resp->size = 0;
}


static size_t
ngx_http_confhaven_curl_body(char *ptr, size_t size, size_t nmemb,
    void *data)
{
    ngx_http_confhaven_http_resp_t  *resp = data;

    char    *p;
    size_t   len, want;

    len = size * nmemb;

    if (resp->len + len > NGX_HTTP_CONFHAVEN_HTTP_MAX_BODY) {
        ngx_cpystrn((u_char *) resp->error,
                    (u_char *) "the response body is larger than 1m",
                    sizeof(resp->error));
        return 0;
    }

    if (resp->len + len + 1 > resp->size) {
        want = ngx_max(resp->size * 2, resp->len + len + 1);
        want = ngx_max(want, 4096);

        p = realloc(resp->body, want);
        if (p == NULL) {
            return 0;
        }

        resp->body = p;
        resp->size = want;
    }

    ngx_memcpy(resp->body + resp->len, ptr, len);
    resp->len += len;
    resp->body[resp->len] = '\0';

    return len;
}


static size_t
ngx_http_confhaven_curl_header(char *ptr, size_t size, size_t nmemb,
    void *data)
{
    ngx_http_confhaven_http_resp_t  *resp = data;

    u_char          *p, *last, *colon, *v, *d;
    size_t           len, n;
    time_t           when, now;
    ngx_uint_t       i, dot;
    ngx_msec_int_t   ms, frac;
    char             buf[128];

    len = size * nmemb;
    p = (u_char *) ptr;
    last = p + len;

    while (last > p && (last[-1] == '\r' || last[-1] == '\n')) {
        last--;
    }

    colon = ngx_strlchr(p, last, ':');
    if (colon == NULL) {
        return len;
    }

    v = colon + 1;
    while (v < last && (*v == ' ' || *v == '\t')) {
        v++;
    }

    n = colon - p;

    if (n == sizeof("retry-after") - 1
        && ngx_strncasecmp(p, (u_char *) "retry-after", n) == 0)
    {
        ms = 0;
        frac = 0;
        dot = 0;

        for (d = v; d < last; d++) {
            if (*d >= '0' && *d <= '9') {
                if (dot == 0) {
                    ms = ms * 10 + (*d - '0');
                    if (ms > 86400) {
                        break;
                    }

                } else if (dot < 4) {
                    frac = frac * 10 + (*d - '0');
                    dot++;
                }

                continue;
            }

            if (*d == '.' && dot == 0) {
                dot = 1;
                continue;
            }

            break;
        }

        if (d == last && d > v) {
            while (dot > 0 && dot < 4) {
                frac *= 10;
                dot++;
            }

            resp->retry_after = ms * 1000 + (dot ? frac : 0);

        } else if ((size_t) (last - v) < sizeof(buf)) {
            /* an HTTP-date */
            ngx_memcpy(buf, v, last - v);
            buf[last - v] = '\0';

            when = curl_getdate(buf, NULL);
            now = time(NULL);

            if (when != -1) {
                resp->retry_after = (when > now) ? (when - now) * 1000 : 0;
            }
        }

        return len;
    }

    for (i = 0; resp->capture && resp->capture[i]
                && i < NGX_HTTP_CONFHAVEN_HTTP_CAPTURE; i++)
    {
        if (ngx_strlen(resp->capture[i]) == n
            && ngx_strncasecmp(p, (u_char *) resp->capture[i], n) == 0)
        {
            n = ngx_min((size_t) (last - v),
                        sizeof(resp->captured[i]) - 1);

            /* for logs: printable ASCII only */
            for (d = v; d < v + n; d++) {
                resp->captured[i][d - v] = (*d >= 0x20 && *d < 0x7f) ? *d
                                                                     : '?';
            }

            resp->captured[i][n] = '\0';
            break;
        }
    }

    return len;
}


ngx_msec_t
ngx_http_confhaven_offload_now(void)
{
    struct timespec  ts;

    (void) clock_gettime(CLOCK_MONOTONIC, &ts);

    return (ngx_msec_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


void
ngx_http_confhaven_offload_sleep(ngx_msec_t ms)
{
    struct timespec  ts;

    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000;

    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
        /* void */
    }
}


/* 0 .. n-1, for jitter; a thread's own generator */

ngx_uint_t
ngx_http_confhaven_offload_random(ngx_uint_t n)
{
    if (ngx_http_confhaven_seed == 0) {
        ngx_http_confhaven_seed = (unsigned) ngx_http_confhaven_offload_now()
                                  ^ (unsigned) (uintptr_t) pthread_self()
                                  ^ (unsigned) getpid();
    }

    return n ? (ngx_uint_t) rand_r(&ngx_http_confhaven_seed) % n : 0;
}
