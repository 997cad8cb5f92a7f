
/*
 * Copyright (C) ConferenceHaven
 */


/*
 * send_calendar_invite(session_id, user_email): a meeting request for one
 * session lands in the attendee's mailbox, created by Microsoft Graph in
 * the organizer mailbox (INTEGRATIONS.md §1.2 option A).  The MCP tool
 * send_calendar_invite and POST /api/sessions/{id}/invite.
 *
 * Steps, all on the event loop but the Graph call:
 *   1. the address is checked, lower-cased and hashed (HMAC-SHA-256 with
 *      confhaven_invite_hash_key_file): only the hash is ever stored;
 *   2. confhaven.invite_begin() reads the session and claims the
 *      (session, hash) pair: a pair sent before, or being sent, is
 *      answered "already_sent" and never sent again;
 *   3. Redis counts the invites of the recipient and of the client in
 *      the current hour (shared by all workers and instances);
 *   4. a job on the thread pool asks Graph, with a transactionId derived
 *      from the pair, so that a retry never makes a second event;
 *   5. confhaven.invite_finish() records what Graph said, even when the
 *      request went away meanwhile; then the answer.
 * Without Graph configured, step 2 only reads the session and the answer
 * says so, with the session's .ics link.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "ngx_http_confhaven_json.h"
#include "ngx_http_confhaven_cache.h"
#include "ngx_http_confhaven_offload.h"
#include "ngx_http_confhaven_graph.h"
#include "ngx_http_confhaven_op_invite.h"
#include "ngx_http_confhaven_events.h"
#include "ngx_http_confhaven_metrics.h"


#define NGX_HTTP_CONFHAVEN_INVITE_ADDRESS_MAX  254
#define NGX_HTTP_CONFHAVEN_INVITE_WINDOW       3600     /* s */


typedef struct {
    ngx_http_confhaven_op_call_t      *call;
    ngx_http_confhaven_redis_op_t     *rop;
    ngx_http_confhaven_job_t          *job;
    ngx_str_t                          email;     /* lower case */
    u_char                             hash[65];
    u_char                             txn[37];
    json_t                            *begin;     /* invite_begin()'s */
    ngx_msec_t                         started;
} ngx_http_confhaven_invite_t;


/* a job's memory: the Graph call and what it is recorded under */
typedef struct {
    ngx_http_confhaven_graph_call_t    gc;
    ngx_http_confhaven_cache_t        *cache;
    char                               session_id[NGX_INT64_LEN + 1];
    char                               hash[65];
    ngx_http_confhaven_trace_calls_t   trace;     /* Graph's spans */
} ngx_http_confhaven_invite_job_t;


/* one invite_finish() call with a pool of its own */
typedef struct {
    ngx_http_confhaven_fetch_t         fetch;
    ngx_pool_t                        *pool;
    void                             (*handler)(void *data);
    void                              *data;
} ngx_http_confhaven_invite_rec_t;


static ngx_int_t ngx_http_confhaven_op_invite_start(
    ngx_http_confhaven_op_call_t *call);
static void ngx_http_confhaven_op_invite_cancel(
    ngx_http_confhaven_op_call_t *call);
static void ngx_http_confhaven_invite_begun(ngx_http_confhaven_fetch_t *f);
static void ngx_http_confhaven_invite_limited(
    ngx_http_confhaven_redis_op_t *rop, redisReply *reply);
static void ngx_http_confhaven_invite_post(ngx_http_confhaven_invite_t *st);
static void ngx_http_confhaven_invite_run(ngx_http_confhaven_job_t *job);
static void ngx_http_confhaven_invite_job_done(ngx_http_confhaven_job_t *job);
static void ngx_http_confhaven_invite_recorded(void *data);
static ngx_int_t ngx_http_confhaven_invite_record(
    ngx_http_confhaven_cache_t *cache, const char *session_id,
    const char *hash, const char *status, const char *event_id,
    void (*handler)(void *data), void *data);
static char *ngx_http_confhaven_invite_strdup(ngx_pool_t *pool,
    const char *s);
static void ngx_http_confhaven_invite_rec_done(ngx_http_confhaven_fetch_t *f);
static void ngx_http_confhaven_invite_answer(ngx_http_confhaven_invite_t *st,
    const char *status, const char *event_id, const char *message);
static void ngx_http_confhaven_invite_fail(ngx_http_confhaven_op_call_t *call,
    ngx_uint_t kind, ngx_uint_t status, const char *code,
    ngx_uint_t retry_after, const char *hint, const char *fmt, ...);
static ngx_int_t ngx_http_confhaven_invite_address(u_char *s, size_t len,
    u_char *err, size_t size);
static char *ngx_http_confhaven_invite_events(ngx_http_confhaven_invite_t *st);
static void ngx_http_confhaven_invite_hmac(ngx_str_t *key, u_char *data,
    size_t len, u_char *out);


static ngx_http_confhaven_invite_conf_t  *ngx_http_confhaven_invite_conf;
static ngx_http_confhaven_redis_t        *ngx_http_confhaven_invite_redis;


static ngx_http_confhaven_op_param_t  ngx_http_confhaven_op_invite_params[] = {

    { "session_id", "id", NGX_HTTP_CONFHAVEN_OP_ID, 1, 0, 0, NULL,
      "Session id from search_sessions results.", NULL,
      "session ids are positive integers, e.g. 42",
      NGX_HTTP_CONFHAVEN_OP_IN_PATH },

    { "user_email", NULL, NGX_HTTP_CONFHAVEN_OP_TEXT, 0, 0,
      NGX_HTTP_CONFHAVEN_INVITE_ADDRESS_MAX, NULL,
      "The attendee's email address: the meeting request goes there, "
      "e.g. ada@example.org.", NULL,
      "give one plain address such as ada@example.org",
      NGX_HTTP_CONFHAVEN_OP_IN_BODY }
};


ngx_http_confhaven_op_t  ngx_http_confhaven_op_invite = {
    ngx_string("send_calendar_invite"),
    NULL,
    ngx_http_confhaven_op_invite_params, 2,
    NGX_HTTP_CONFHAVEN_OP_NO_CACHE,
    0,
    0
};


/* registered with op.c by ngx_http_confhaven_invite_init_process() */
static ngx_http_confhaven_op_steps_t  ngx_http_confhaven_op_invite_steps = {
    &ngx_http_confhaven_op_invite,
    ngx_http_confhaven_op_invite_start,
    ngx_http_confhaven_op_invite_cancel
};


/* ------------------------------------------------------------ the steps */


static ngx_int_t
ngx_http_confhaven_op_invite_start(ngx_http_confhaven_op_call_t *call)
{
    u_char                            *p, *buf;
    size_t                             len;
    ngx_uint_t                         i;
    ngx_http_confhaven_fetch_t        *f;
    ngx_http_confhaven_invite_t       *st;
    ngx_http_confhaven_invite_conf_t  *ic;
    u_char                             err[NGX_HTTP_CONFHAVEN_OP_ERROR_LEN];
    u_char                             mac[32];

    ic = ngx_http_confhaven_invite_conf;

    st = ngx_pcalloc(call->pool, sizeof(ngx_http_confhaven_invite_t));
    if (st == NULL) {
        return NGX_ERROR;
    }

    st->call = call;
    st->started = ngx_current_msec;
    call->state = st;

    if (call->values[1] == NULL) {
        ngx_http_confhaven_invite_fail(call, NGX_HTTP_CONFHAVEN_OP_E_INPUT,
                   400, "bad_parameter", 0,
                   "give the attendee's address, e.g. "
                   "{\"user_email\": \"ada@example.org\"}",
                   "\"user_email\" is required");
        return NGX_OK;
    }

    len = ngx_strlen(call->values[1]);

    if (ngx_http_confhaven_invite_address((u_char *) call->values[1], len,
                                          err, sizeof(err))
        != NGX_OK)
    {
        ngx_http_confhaven_invite_fail(call, NGX_HTTP_CONFHAVEN_OP_E_INPUT,
                   400, "bad_parameter", 0,
                   "give one plain address such as ada@example.org "
                   "(no name, no angle brackets, an internationalized "
                   "domain in its xn-- form)",
                   "\"user_email\" is not a valid email address: %s", err);
        return NGX_OK;
    }

    st->email.data = ngx_pnalloc(call->pool, len + 1);
    if (st->email.data == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < len; i++) {
        st->email.data[i] = ngx_tolower(call->values[1][i]);
    }

    st->email.data[len] = '\0';
    st->email.len = len;

    f = &call->fetch;

    f->handler = ngx_http_confhaven_invite_begun;
    f->data = call;

    if (call->env->cache == NULL || ic == NULL) {
        f->status = NGX_HTTP_CONFHAVEN_PG_UNAVAILABLE;
        ngx_str_set(&f->message, "no database is configured");
        ngx_http_confhaven_invite_begun(f);
        return NGX_OK;
    }

    if (ic->configured) {
        /* the address's keyed hash: the only form it is stored in */
        ngx_http_confhaven_invite_hmac(&ic->hash_key, st->email.data,
                                       st->email.len, mac);
        ngx_hex_dump(st->hash, mac, 32);
        st->hash[64] = '\0';

        /* the transactionId: the same for every retry of the pair */
        buf = ngx_pnalloc(call->pool, sizeof("transaction\n\n") - 1
                          + ngx_strlen(call->values[0]) + len);
        if (buf == NULL) {
            return NGX_ERROR;
        }

        p = ngx_sprintf(buf, "transaction\n%s\n%V", call->values[0],
                        &st->email);

        ngx_http_confhaven_invite_hmac(&ic->hash_key, buf, p - buf, mac);

        mac[6] = (mac[6] & 0x0f) | 0x80;     /* version 8: custom */
        mac[8] = (mac[8] & 0x3f) | 0x80;     /* RFC 9562 variant */

        p = ngx_hex_dump(st->txn, mac, 4);
        *p++ = '-';
        p = ngx_hex_dump(p, mac + 4, 2);
        *p++ = '-';
        p = ngx_hex_dump(p, mac + 6, 2);
        *p++ = '-';
        p = ngx_hex_dump(p, mac + 8, 2);
        *p++ = '-';
        p = ngx_hex_dump(p, mac + 10, 6);
        *p = '\0';
    }

    f->sql = "SELECT r::text, 1, r->'session'->>'conference' "
             "FROM confhaven.invite_begin($1::bigint, $2) AS r";
    f->nparams = 2;
    f->values[0] = call->values[0];
    f->values[1] = ic->configured ? (char *) st->hash : NULL;
    f->cache = call->env->cache;
    f->pool = call->pool;
    f->log = call->log;
    f->trace = call->trace;
    f->timeout = call->env->timeout;

    return ngx_http_confhaven_cache_fetch(f);
}


static void
ngx_http_confhaven_op_invite_cancel(ngx_http_confhaven_op_call_t *call)
{
    ngx_http_confhaven_invite_t  *st = call->state;

    if (st == NULL) {
        return;
    }

    if (st->rop) {
        ngx_http_confhaven_redis_cancel(st->rop);
        st->rop = NULL;
    }

    if (st->job) {
        /* the job goes on: it records what Graph said, then frees itself */
        ngx_http_confhaven_job_orphan(st->job);
        st->job = NULL;
    }
}


static void
ngx_http_confhaven_invite_begun(ngx_http_confhaven_fetch_t *f)
{
    json_t                            *v;
    const char                        *state;
    ngx_http_confhaven_op_call_t      *call = f->data;
    ngx_http_confhaven_invite_t       *st;

    u_char                             hour[NGX_INT_T_LEN + 1];
    u_char                             k1[128], k2[160];
    const char                        *argv[6];
    size_t                             argvlen[6];

    st = call->state;

    ngx_http_confhaven_op_classify(call);

    if (call->error.kind != NGX_HTTP_CONFHAVEN_OP_OK) {
        call->handler(call);
        return;
    }

    st->begin = json_loadb((char *) f->value.data, f->value.len, 0, NULL);

    if (st->begin == NULL
        || ngx_http_confhaven_json_own(call->pool, st->begin) != NGX_OK
        || !json_is_object(json_object_get(st->begin, "session")))
    {
        ngx_http_confhaven_invite_fail(call,
                   NGX_HTTP_CONFHAVEN_OP_E_INTERNAL, 503, "database_error",
                   0, NULL, "invite_begin() gave no session");
        return;
    }

    v = json_object_get(st->begin, "state");
    state = json_is_string(v) ? json_string_value(v) : "";

    if (ngx_strcmp(state, "none") == 0) {
        ngx_http_confhaven_invite_answer(st, "not_configured", NULL, NULL);
        return;
    }

    if (ngx_strcmp(state, "sent") == 0 || ngx_strcmp(state, "pending") == 0)
    {
        ngx_http_confhaven_metrics_inc(
                               NGX_HTTP_CONFHAVEN_METRIC_INVITES_ALREADY_SENT);

        v = json_object_get(st->begin, "event_id");

        ngx_http_confhaven_invite_answer(st, "already_sent",
                                         json_string_value(v),
                                         state[0] == 'p'
                                         ? "being sent" : NULL);
        return;
    }

    /* "new": this request sends; first the hourly limits */

    if (ngx_http_confhaven_invite_redis == NULL) {
        goto limiter_down;
    }

    st->rop = ngx_http_confhaven_redis_op(ngx_http_confhaven_invite_redis,
                                          ngx_http_confhaven_invite_limited,
                                          st);
    if (st->rop == NULL) {
        goto limiter_down;
    }

    ngx_http_confhaven_redis_trace(st->rop, call->trace);

    (void) ngx_sprintf(hour, "%T%Z",
                       ngx_time() / NGX_HTTP_CONFHAVEN_INVITE_WINDOW);

    (void) ngx_sprintf(k1, "confhaven:invite:to:%s:%s%Z", st->hash, hour);
    (void) ngx_sprintf(k2, "confhaven:invite:from:%*s:%s%Z",
                       ngx_min(call->client.len, 64), call->client.data,
                       hour);

    argv[0] = "EVAL";
    argv[1] = "local a = redis.call('INCR', KEYS[1]) "
              "local b = redis.call('INCR', KEYS[2]) "
              "if a == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end "
              "if b == 1 then redis.call('EXPIRE', KEYS[2], ARGV[1]) end "
              "return {a, b}";
    argv[2] = "2";
    argv[3] = (char *) k1;
    argv[4] = (char *) k2;
    argv[5] = "3660";

    argvlen[0] = 4;
    argvlen[1] = ngx_strlen(argv[1]);
    argvlen[2] = 1;
    argvlen[3] = ngx_strlen(argv[3]);
    argvlen[4] = ngx_strlen(argv[4]);
    argvlen[5] = 4;

    if (ngx_http_confhaven_redis_command(st->rop, 6, argv, argvlen)
        != NGX_OK)
    {
        st->rop = NULL;
        goto limiter_down;
    }

    return;

limiter_down:

    ngx_log_error(NGX_LOG_ERR, call->log, 0,
                  "confhaven invite: Redis is unavailable: invite limits "
                  "cannot be counted, nothing is sent");

    (void) ngx_http_confhaven_invite_record(call->env->cache,
                                            call->values[0],
                                            (char *) st->hash, "failed",
                                            NULL, NULL, NULL);

    ngx_http_confhaven_invite_fail(call, NGX_HTTP_CONFHAVEN_OP_E_UPSTREAM,
               503, "limiter_unavailable", 5,
               "retry in a few seconds; nothing was sent",
               "invites cannot be counted right now (the rate limiter is "
               "unavailable)");
}


static void
ngx_http_confhaven_invite_limited(ngx_http_confhaven_redis_op_t *rop,
    redisReply *reply)
{
    long long                          to, from;
    ngx_uint_t                         left;
    ngx_http_confhaven_invite_t       *st = rop->data;
    ngx_http_confhaven_op_call_t      *call;
    ngx_http_confhaven_invite_conf_t  *ic;

    call = st->call;
    ic = ngx_http_confhaven_invite_conf;
    st->rop = NULL;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements != 2
        || reply->element[0]->type != REDIS_REPLY_INTEGER
        || reply->element[1]->type != REDIS_REPLY_INTEGER)
    {
        ngx_log_error(NGX_LOG_ERR, call->log, 0,
                      "confhaven invite: Redis did not count the invite, "
                      "nothing is sent");

        (void) ngx_http_confhaven_invite_record(call->env->cache,
                                                call->values[0],
                                                (char *) st->hash, "failed",
                                                NULL, NULL, NULL);

        ngx_http_confhaven_invite_fail(call, NGX_HTTP_CONFHAVEN_OP_E_UPSTREAM,
                   503, "limiter_unavailable", 5,
                   "retry in a few seconds; nothing was sent",
                   "invites cannot be counted right now (the rate limiter "
                   "is unavailable)");
        return;
    }

    to = reply->element[0]->integer;
    from = reply->element[1]->integer;

    left = NGX_HTTP_CONFHAVEN_INVITE_WINDOW
           - ngx_time() % NGX_HTTP_CONFHAVEN_INVITE_WINDOW;

    if (to > (long long) ic->limit_recipient
        || from > (long long) ic->limit_client)
    {
        (void) ngx_http_confhaven_invite_record(call->env->cache,
                                                call->values[0],
                                                (char *) st->hash, "failed",
                                                NULL, NULL, NULL);

        ngx_http_confhaven_metrics_inc(
                               NGX_HTTP_CONFHAVEN_METRIC_INVITES_RATE_LIMITED);

        if (to > (long long) ic->limit_recipient) {
            ngx_http_confhaven_invite_fail(call,
                       NGX_HTTP_CONFHAVEN_OP_E_LIMIT, 429, "rate_limited",
                       left, "the limit protects people from unwanted mail; "
                       "try again after the Retry-After time",
                       "this address has been sent %ui invites this hour, "
                       "the most allowed; nothing was sent",
                       ic->limit_recipient);
            return;
        }

        ngx_http_confhaven_invite_fail(call, NGX_HTTP_CONFHAVEN_OP_E_LIMIT,
                   429, "rate_limited", left,
                   "try again after the Retry-After time",
                   "this client has asked for %ui invites this hour, the "
                   "most allowed; nothing was sent", ic->limit_client);
        return;
    }

    ngx_http_confhaven_invite_post(st);
}


static void
ngx_http_confhaven_invite_post(ngx_http_confhaven_invite_t *st)
{
    char                              *event;
    ngx_msec_t                         spent, budget;
    ngx_http_confhaven_job_t          *job;
    ngx_http_confhaven_op_call_t      *call;
    ngx_http_confhaven_invite_job_t   *ij;
    ngx_http_confhaven_invite_conf_t  *ic;

    call = st->call;
    ic = ngx_http_confhaven_invite_conf;

    event = ngx_http_confhaven_invite_events(st);
    if (event == NULL) {
        goto failed;
    }

    job = ngx_http_confhaven_job_create(
                                  sizeof(ngx_http_confhaven_invite_job_t));
    if (job == NULL) {
        free(event);
        goto failed;
    }

    ij = job->data;

    ij->gc.conf = &ic->graph;
    ij->gc.event = event;

    /* Graph calls join the request's trace: client spans, traceparent */
    ngx_http_confhaven_trace_calls_init(&ij->trace, call->trace);
    ij->gc.trace = &ij->trace;
    job->trace = &ij->trace;
    ij->gc.event_len = ngx_strlen(event);
    ij->cache = call->env->cache;
    ngx_cpystrn((u_char *) ij->session_id, (u_char *) call->values[0],
                sizeof(ij->session_id));
    ngx_cpystrn((u_char *) ij->hash, st->hash, sizeof(ij->hash));

    (void) ngx_sprintf((u_char *) ij->gc.client_request_id,
                       "%08xD-%04xD-4%03xD-%04xD-%04xD%08xD%Z",
                       (uint32_t) ngx_random(),
                       (uint32_t) ngx_random() & 0xffff,
                       (uint32_t) ngx_random() & 0xfff,
                       ((uint32_t) ngx_random() & 0x3fff) | 0x8000,
                       (uint32_t) ngx_random() & 0xffff,
                       (uint32_t) ngx_random());

    /* within the tool's budget, with time left to record and answer */
    spent = ngx_current_msec - st->started;
    budget = NGX_HTTP_CONFHAVEN_INVITE_BUDGET - 1500;
    budget = (spent + 1000 < budget) ? budget - spent : 1000;

    ij->gc.deadline = ngx_http_confhaven_offload_now() + budget;

    job->run = ngx_http_confhaven_invite_run;
    job->done = ngx_http_confhaven_invite_job_done;

    if (ngx_http_confhaven_job_post(job, ic->thread_pool, call->pool, st,
                                    budget + 5000)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, call->log, 0,
                      "confhaven invite: the thread pool \"%V\" took no "
                      "job (its queue is full?)", &ic->thread_pool_name);
        free(event);
        ngx_http_confhaven_job_free(job);
        goto failed;
    }

    st->job = job;

    return;

failed:

    ngx_http_confhaven_metrics_inc(NGX_HTTP_CONFHAVEN_METRIC_INVITES_FAILED);

    (void) ngx_http_confhaven_invite_record(call->env->cache, call->values[0],
                                            (char *) st->hash, "failed",
                                            NULL, NULL, NULL);

    ngx_http_confhaven_invite_fail(call, NGX_HTTP_CONFHAVEN_OP_E_UPSTREAM,
               503, "busy", 2, "retry in a few seconds; nothing was sent",
               "the server is too busy to send invites right now");
}


/* in a thread */

static void
ngx_http_confhaven_invite_run(ngx_http_confhaven_job_t *job)
{
    ngx_http_confhaven_invite_job_t  *ij = job->data;

    ngx_http_confhaven_graph_create_event(&ij->gc, job->log);
}


static void
ngx_http_confhaven_invite_job_done(ngx_http_confhaven_job_t *job)
{
    ngx_http_confhaven_invite_job_t  *ij = job->data;

    ngx_uint_t  sent;

    sent = (ij->gc.outcome == NGX_HTTP_CONFHAVEN_GRAPH_SENT);

    ngx_http_confhaven_metrics_inc(sent
                                   ? NGX_HTTP_CONFHAVEN_METRIC_INVITES_SENT
                                   : NGX_HTTP_CONFHAVEN_METRIC_INVITES_FAILED);

    if (job->owner == NULL) {
        ngx_log_error(NGX_LOG_INFO, job->log, 0,
                      "confhaven invite: the request went away; session "
                      "%s: Graph %s, recorded all the same", ij->session_id,
                      sent ? "created the event" : "failed");
    }

    if (sent) {
        /* organizers' "most invited": counted even if the client left */
        ngx_http_confhaven_events_invite(
                    ngx_atoof((u_char *) ij->session_id,
                              ngx_strlen(ij->session_id)),
                    NULL, NULL, NULL);
    }

    /* an exiting worker waits for the record too */
    ngx_add_timer(&job->guard, 10000);

    if (ngx_http_confhaven_invite_record(ij->cache, ij->session_id, ij->hash,
                                         sent ? "sent" : "failed",
                                         (sent && ij->gc.event_id[0])
                                         ? ij->gc.event_id : NULL,
                                         ngx_http_confhaven_invite_recorded,
                                         job)
        != NGX_OK)
    {
        ngx_http_confhaven_invite_recorded(job);
    }
}


static void
ngx_http_confhaven_invite_recorded(void *data)
{
    ngx_http_confhaven_job_t         *job = data;

    u_char                           *p;
    ngx_uint_t                        retry;
    ngx_http_confhaven_invite_t      *st;
    ngx_http_confhaven_op_call_t     *call;
    ngx_http_confhaven_invite_job_t  *ij;

    ij = job->data;
    st = job->owner;

    free(ij->gc.event);
    ij->gc.event = NULL;

    if (st == NULL) {
        ngx_http_confhaven_job_free(job);
        return;
    }

    call = st->call;
    st->job = NULL;

    /* the owner's copy first: the job goes before the answer */
    ngx_http_confhaven_job_orphan(job);

    if (ij->gc.outcome == NGX_HTTP_CONFHAVEN_GRAPH_SENT) {
        p = NULL;

        if (ij->gc.event_id[0]) {
            p = ngx_pnalloc(call->pool, ngx_strlen(ij->gc.event_id) + 1);
            if (p) {
                ngx_cpystrn(p, (u_char *) ij->gc.event_id,
                            ngx_strlen(ij->gc.event_id) + 1);
            }
        }

        ngx_http_confhaven_job_free(job);

        /* answer() calls the handler: nothing of the job after it */
        ngx_http_confhaven_invite_answer(st, "sent", (char *) p, NULL);
        return;
    }

    retry = (ij->gc.retry_after > 0) ? (ij->gc.retry_after + 999) / 1000
                                     : 5;

    switch (ij->gc.outcome) {

    case NGX_HTTP_CONFHAVEN_GRAPH_THROTTLED:
        ngx_http_confhaven_invite_fail(call, NGX_HTTP_CONFHAVEN_OP_E_UPSTREAM,
                   503, "graph_throttled", retry,
                   "retry after the Retry-After time; nothing was sent",
                   "Microsoft Graph is throttling invites (429 %s, "
                   "request-id %s)", ij->gc.code,
                   ij->gc.request_id[0] ? ij->gc.request_id : "none");
        break;

    case NGX_HTTP_CONFHAVEN_GRAPH_REFUSED:
        ngx_http_confhaven_invite_fail(call, NGX_HTTP_CONFHAVEN_OP_E_UPSTREAM,
                   502, "graph_refused", 0,
                   "the operator must check the Microsoft Graph "
                   "configuration (tenant, app, secret, organizer mailbox, "
                   "Calendars.ReadWrite); nothing was sent",
                   "Microsoft Graph refused the invite (%l %s: %s; "
                   "request-id %s)", ij->gc.status,
                   ij->gc.code[0] ? ij->gc.code : "unknown", ij->gc.message,
                   ij->gc.request_id[0] ? ij->gc.request_id : "none");
        break;

    default: /* UNAVAILABLE */
        ngx_http_confhaven_invite_fail(call, NGX_HTTP_CONFHAVEN_OP_E_UPSTREAM,
                   503, "graph_unavailable", retry,
                   "retry in a little while; a retry never makes a second "
                   "invite",
                   "Microsoft Graph did not create the invite after %ui "
                   "attempt(s) (last: %s%s%l, request-id %s)",
                   ij->gc.attempts,
                   ij->gc.status ? "" : ij->gc.message,
                   ij->gc.status ? "HTTP " : " ",
                   ij->gc.status,
                   ij->gc.request_id[0] ? ij->gc.request_id : "none");
        break;
    }

    ngx_http_confhaven_job_free(job);
}


/* invite_finish(); handler (if any) runs once, maybe before this returns */

static ngx_int_t
ngx_http_confhaven_invite_record(ngx_http_confhaven_cache_t *cache,
    const char *session_id, const char *hash, const char *status,
    const char *event_id, void (*handler)(void *data), void *data)
{
    ngx_pool_t                       *pool;
    ngx_http_confhaven_invite_rec_t  *rec;

    if (cache == NULL || hash == NULL || hash[0] == '\0') {
        return NGX_ERROR;
    }

    pool = ngx_create_pool(1024, ngx_cycle->log);
    if (pool == NULL) {
        return NGX_ERROR;
    }

    rec = ngx_pcalloc(pool, sizeof(ngx_http_confhaven_invite_rec_t));
    if (rec == NULL) {
        ngx_destroy_pool(pool);
        return NGX_ERROR;
    }

    rec->pool = pool;
    rec->handler = handler;
    rec->data = data;

    rec->fetch.sql = "SELECT coalesce(confhaven.invite_finish($1::bigint, "
                     "$2, $3, $4), 'none'), 1, NULL";
    rec->fetch.nparams = 4;
    rec->fetch.values[0] = ngx_http_confhaven_invite_strdup(pool, session_id);
    rec->fetch.values[1] = ngx_http_confhaven_invite_strdup(pool, hash);
    rec->fetch.values[2] = status;
    rec->fetch.values[3] = event_id
                        ? ngx_http_confhaven_invite_strdup(pool, event_id)
                        : NULL;

    if (rec->fetch.values[0] == NULL || rec->fetch.values[1] == NULL
        || (event_id && rec->fetch.values[3] == NULL))
    {
        ngx_destroy_pool(pool);
        return NGX_ERROR;
    }

    rec->fetch.cache = cache;
    rec->fetch.pool = pool;
    rec->fetch.log = ngx_cycle->log;
    rec->fetch.handler = ngx_http_confhaven_invite_rec_done;
    rec->fetch.data = rec;

    if (ngx_http_confhaven_cache_fetch(&rec->fetch) != NGX_OK) {
        ngx_destroy_pool(pool);
        return NGX_ERROR;
    }

    return NGX_OK;
}


static char *
ngx_http_confhaven_invite_strdup(ngx_pool_t *pool, const char *s)
{
    size_t   len;
    u_char  *p;

    len = ngx_strlen(s) + 1;

    p = ngx_pnalloc(pool, len);
    if (p == NULL) {
        return NULL;
    }

    ngx_memcpy(p, s, len);

    return (char *) p;
}


static void
ngx_http_confhaven_invite_rec_done(ngx_http_confhaven_fetch_t *f)
{
    void                             *data;
    void                            (*handler)(void *data);
    ngx_http_confhaven_invite_rec_t  *rec = f->data;

    if (f->status != NGX_HTTP_CONFHAVEN_PG_OK) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "confhaven invite: recording the outcome of session "
                      "%s failed: %V %V", f->values[0], &f->sqlstate,
                      &f->message);
    }

    handler = rec->handler;
    data = rec->data;

    ngx_destroy_pool(rec->pool);

    if (handler) {
        handler(data);
    }
}


/* ---------------------------------------------------------- the answers */


static void
ngx_http_confhaven_invite_answer(ngx_http_confhaven_invite_t *st,
    const char *status, const char *event_id, const char *note)
{
    u_char                        *p, *last, *msg;
    json_t                        *root, *s;
    size_t                         size;
    ngx_str_t                      url;
    const char                    *title, *start, *tz;
    ngx_http_confhaven_op_call_t  *call;

    call = st->call;

    s = json_object_get(st->begin, "session");

    title = json_string_value(json_object_get(s, "title"));
    start = json_string_value(json_object_get(s, "start"));
    tz = json_string_value(json_object_get(s, "timezone"));

    title = title ? title : "";
    start = start ? start : "";
    tz = tz ? tz : "";

    url.len = call->origin.len + sizeof("/api/sessions/.ics") - 1
              + ngx_strlen(call->values[0]);
    url.data = ngx_pnalloc(call->pool, url.len);

    size = 1024 + ngx_strlen(title) + st->email.len + url.len;
    msg = ngx_pnalloc(call->pool, size);

    if (url.data == NULL || msg == NULL) {
        goto failed;
    }

    ngx_sprintf(url.data, "%V/api/sessions/%s.ics", &call->origin,
                call->values[0]);

    p = msg;
    last = msg + size - 1;

    if (status[0] == 's') {
        p = ngx_slprintf(p, last, "Invitation sent: a meeting request for "
                         "\"%s\" (%s, %s) was sent to %V from the "
                         "conference's organizer mailbox. Accept it in the "
                         "mail to add it to the calendar.", title, start, tz,
                         &st->email);

    } else if (status[0] == 'a') {
        p = ngx_slprintf(p, last, "An invitation for \"%s\" (%s, %s) %s "
                         "%V; nothing was sent again.", title, start, tz,
                         note ? "is being sent to" : "was already sent to",
                         &st->email);

    } else {
        p = ngx_slprintf(p, last, "Calendar invites are not configured on "
                         "this server, so nothing was sent to %V. To add "
                         "\"%s\" (%s, %s) to a calendar, open the iCalendar "
                         "file %V", &st->email, title, start, tz, &url);
    }

    *p = '\0';

    root = json_pack("{s:s, s:I, s:s%, s:s, s:s, s:s, s:s, s:s}",
                     "status", status,
                     "session_id",
                     (json_int_t) ngx_atoof((u_char *) call->values[0],
                                            ngx_strlen(call->values[0])),
                     "ics_url", (char *) url.data, url.len,
                     "title", title,
                     "start", start,
                     "timezone", tz,
                     "conference",
                     json_string_value(json_object_get(s, "conference"))
                     ? json_string_value(json_object_get(s, "conference"))
                     : "",
                     "message", (char *) msg);

    if (root == NULL
        || ngx_http_confhaven_json_own(call->pool, root) != NGX_OK)
    {
        json_decref(root);
        goto failed;
    }

    if (event_id) {
        json_object_set_new(root, "event_id", json_string(event_id));
    }

    ngx_http_confhaven_op_answer(call, root, st->started, "invite");
    return;

failed:

    ngx_http_confhaven_invite_fail(call, NGX_HTTP_CONFHAVEN_OP_E_INTERNAL,
                                   503, "internal_error", 0, NULL,
                                   "out of memory");
}


/* an error outcome in the call's words; runs the handler */

static void
ngx_http_confhaven_invite_fail(ngx_http_confhaven_op_call_t *call,
    ngx_uint_t kind, ngx_uint_t status, const char *code,
    ngx_uint_t retry_after, const char *hint, const char *fmt, ...)
{
    va_list  args;

    va_start(args, fmt);
    ngx_http_confhaven_op_vfail(call, "invite", kind, status, code,
                                retry_after, hint, fmt, args);
    va_end(args);
}


/* --------------------------------------------------------------- helpers */


/*
 * An address as RFC 5321 takes it in practice: a dot-atom local part of
 * at most 64 bytes (no quoted strings), "@", a domain name of letters,
 * digits and hyphens with at least two labels, at most 254 bytes in all.
 */

static ngx_int_t
ngx_http_confhaven_invite_address(u_char *s, size_t len, u_char *err,
    size_t size)
{
    u_char      *at, *p, *last, *label;
    size_t       local;
    ngx_uint_t   labels, alpha;

    static const char  atext[] = "!#$%&'*+/=?^_`{|}~-";

#define ngx_http_confhaven_invite_err(text)                                   \
    *ngx_cpystrn(err, (u_char *) text, size) = '\0'; return NGX_DECLINED

    last = s + len;

    if (len > NGX_HTTP_CONFHAVEN_INVITE_ADDRESS_MAX) {
        ngx_http_confhaven_invite_err("it is longer than 254 characters");
    }

    at = NULL;

    for (p = s; p < last; p++) {
        if (*p >= 0x80) {
            ngx_http_confhaven_invite_err("it has non-ASCII characters");
        }

        if (*p == '@') {
            if (at) {
                ngx_http_confhaven_invite_err("it has more than one \"@\"");
            }

            at = p;
        }
    }

    if (at == NULL) {
        ngx_http_confhaven_invite_err("it has no \"@\"");
    }

    local = at - s;

    if (local == 0) {
        ngx_http_confhaven_invite_err("nothing comes before the \"@\"");
    }

    if (local > 64) {
        ngx_http_confhaven_invite_err("the part before the \"@\" is longer "
                                      "than 64 characters");
    }

    if (s[0] == '.' || at[-1] == '.') {
        ngx_http_confhaven_invite_err("the part before the \"@\" starts or "
                                      "ends with a dot");
    }

    for (p = s; p < at; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
            || (*p >= '0' && *p <= '9')
            || ngx_strlchr((u_char *) atext,
                           (u_char *) atext + sizeof(atext) - 1, *p))
        {
            continue;
        }

        if (*p == '.') {
            if (p[1] == '.') {
                ngx_http_confhaven_invite_err("it has two dots in a row");
            }

            continue;
        }

        ngx_http_confhaven_invite_err("the part before the \"@\" has a "
                                      "character an address cannot have "
                                      "(spaces, quotes, commas, brackets, "
                                      "...)");
    }

    p = at + 1;

    if (p == last) {
        ngx_http_confhaven_invite_err("nothing comes after the \"@\"");
    }

    labels = 0;

    while (p <= last) {
        label = p;
        alpha = 0;

        while (p < last && *p != '.') {
            if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
                  || (*p >= '0' && *p <= '9') || *p == '-'))
            {
                ngx_http_confhaven_invite_err("the domain may only have "
                                              "letters, digits, hyphens and "
                                              "dots");
            }

            if (!(*p >= '0' && *p <= '9')) {
                alpha = 1;
            }

            p++;
        }

        if (p == label) {
            ngx_http_confhaven_invite_err("the domain has an empty label "
                                          "(two dots, or a dot at an end)");
        }

        if (p - label > 63) {
            ngx_http_confhaven_invite_err("a domain label is longer than 63 "
                                          "characters");
        }

        if (*label == '-' || p[-1] == '-') {
            ngx_http_confhaven_invite_err("a domain label starts or ends "
                                          "with a hyphen");
        }

        labels++;

        if (p == last) {
            if (!alpha || p - label < 2) {
                ngx_http_confhaven_invite_err("the domain does not end in a "
                                              "top-level domain such as "
                                              ".org");
            }

            break;
        }

        p++;    /* the dot */

        if (p == last) {
            ngx_http_confhaven_invite_err("the domain ends with a dot");
        }
    }

    if (labels < 2) {
        ngx_http_confhaven_invite_err("the domain needs a dot, e.g. "
                                      "example.org");
    }

#undef ngx_http_confhaven_invite_err

    return NGX_OK;
}


/* Graph's event (INTEGRATIONS.md §1.2), malloc'd JSON text */

static char *
ngx_http_confhaven_invite_events(ngx_http_confhaven_invite_t *st)
{
    u_char                        *p, *last;
    char                          *text;
    json_t                        *s, *root, *v;
    size_t                         i;
    const char                    *room, *place, *conf;
    u_char                         where[1024], body[2048];

    s = json_object_get(st->begin, "session");

    room = json_string_value(json_object_get(s, "room"));
    place = json_string_value(json_object_get(s, "location"));
    conf = json_string_value(json_object_get(s, "conference_name"));

    p = where;
    last = where + sizeof(where) - 1;

    if (room) {
        p = ngx_slprintf(p, last, "%s", room);
    }

    if (place) {
        p = ngx_slprintf(p, last, "%s%s", room ? ", " : "", place);
    }

    *p = '\0';

    p = body;
    last = body + sizeof(body) - 1;

    p = ngx_slprintf(p, last, "%s\n", conf ? conf : "");

    v = json_object_get(s, "speakers");

    for (i = 0; i < json_array_size(v); i++) {
        if (json_string_value(json_array_get(v, i))) {
            p = ngx_slprintf(p, last, "%s%s", i ? ", " : "Speakers: ",
                             json_string_value(json_array_get(v, i)));
        }
    }

    /*
     * No link: the Host header is the client's to choose, and this text
     * goes to someone else's mailbox.
     */

    p = ngx_slprintf(p, last, "%s%s%s\n", json_array_size(v) ? "\n" : "",
                     where[0] ? "Where: " : "", where);

    /* the summary is cut at a byte: keep it valid UTF-8 */
    while (p > body && ngx_http_confhaven_json_utf8_invalid(body, p - body, 1)
                       >= 0)
    {
        p--;
    }

    *p = '\0';

    root = json_pack("{s:s?, s:{s:s, s:s}, s:{s:s?, s:s}, s:{s:s?, s:s},"
                     " s:{s:s}, s:[{s:{s:s%}, s:s}], s:b, s:b, s:b, s:b,"
                     " s:s}",
                     "subject", json_string_value(json_object_get(s, "title")),
                     "body", "contentType", "text", "content", (char *) body,
                     "start", "dateTime",
                     json_string_value(json_object_get(s, "start_utc")),
                     "timeZone", "UTC",
                     "end", "dateTime",
                     json_string_value(json_object_get(s, "end_utc")),
                     "timeZone", "UTC",
                     "location", "displayName", (char *) where,
                     "attendees", "emailAddress", "address",
                     (char *) st->email.data, st->email.len,
                     "type", "required",
                     "isOnlineMeeting", 0,
                     "allowNewTimeProposals", 0,
                     "responseRequested", 1,
                     "hideAttendees", 1,
                     "transactionId", (char *) st->txn);

    if (root == NULL) {
        return NULL;
    }

    text = json_dumps(root, JSON_COMPACT);
    json_decref(root);

    return text;
}


static void
ngx_http_confhaven_invite_hmac(ngx_str_t *key, u_char *data, size_t len,
    u_char *out)
{
    unsigned int  n;

    n = 32;

    if (HMAC(EVP_sha256(), key->data, (int) key->len, data, len, out, &n)
        == NULL)
    {
        ngx_memzero(out, 32);
    }
}


/* ------------------------------------------------------- configuration */


void
ngx_http_confhaven_invite_create_conf(ngx_http_confhaven_invite_conf_t *ic)
{
    ic->limit_recipient = NGX_CONF_UNSET_UINT;
    ic->limit_client = NGX_CONF_UNSET_UINT;
}


char *
ngx_http_confhaven_invite_init_conf(ngx_conf_t *cf,
    ngx_http_confhaven_invite_conf_t *ic, ngx_uint_t redis, ngx_uint_t pg)
{
    ngx_str_t   *u;
    ngx_uint_t   i, n;

    static const char  *names[] = {
        "confhaven_graph_tenant", "confhaven_graph_client_id",
        "confhaven_graph_client_secret_file", "confhaven_graph_organizer"
    };

    ngx_conf_init_uint_value(ic->limit_recipient, 10);
    ngx_conf_init_uint_value(ic->limit_client, 30);

    if (ic->limit_recipient < 1 || ic->limit_recipient > 1000000
        || ic->limit_client < 1 || ic->limit_client > 1000000)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"confhaven_invite_limit_recipient\" and "
                           "\"confhaven_invite_limit_client\" must be from "
                           "1 to 1000000 (invites per hour)");
        return NGX_CONF_ERROR;
    }

    if (ic->graph.api_url.len == 0) {
        ngx_str_set(&ic->graph.api_url, "https://graph.microsoft.com/v1.0");
    }

    if (ic->graph.login_url.len == 0) {
        ngx_str_set(&ic->graph.login_url, "https://login.microsoftonline.com");
    }

    for (u = &ic->graph.api_url, i = 0; i < 2;
         u = &ic->graph.login_url, i++)
    {
        if (!((u->len > 7 && ngx_strncmp(u->data, "http://", 7) == 0)
              || (u->len > 8 && ngx_strncmp(u->data, "https://", 8) == 0))
            || ngx_strlchr(u->data, u->data + u->len, '?')
            || ngx_strlchr(u->data, u->data + u->len, ' '))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%s\" must be an http:// or https:// URL "
                               "without a query, not \"%V\"",
                               i ? "confhaven_graph_login_url"
                                 : "confhaven_graph_url", u);
            return NGX_CONF_ERROR;
        }

        /* config strings are NUL-terminated: a shorter one still is */
        while (u->data[u->len - 1] == '/') {
            u->len--;
        }
    }

    n = (ic->graph.tenant.len != 0) + (ic->graph.client_id.len != 0)
        + (ic->graph.client_secret.len != 0)
        + (ic->graph.organizer.len != 0);

    if (n == 0) {
        ic->configured = 0;
        return NGX_CONF_OK;
    }

    if (n < 4) {
        for (i = 0; i < 4; i++) {
            u = (i == 0) ? &ic->graph.tenant
                : (i == 1) ? &ic->graph.client_id
                : (i == 2) ? &ic->graph.client_secret
                : &ic->graph.organizer;

            if (u->len == 0) {
                break;
            }
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "Microsoft Graph is half configured: \"%s\" is "
                           "missing (confhaven_graph_tenant, _client_id, "
                           "_client_secret_file and _organizer go "
                           "together)", names[i]);
        return NGX_CONF_ERROR;
    }

    if (ic->thread_pool_name.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "Microsoft Graph calls run on a thread pool: add "
                           "\"confhaven_thread_pool <name>;\" to the http "
                           "block (and \"thread_pool <name> threads=N;\" at "
                           "the top level, or use the pool \"default\")");
        return NGX_CONF_ERROR;
    }

    if (ic->hash_key.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "Microsoft Graph needs "
                           "\"confhaven_invite_hash_key_file\": invites are "
                           "recorded under a keyed hash of the address");
        return NGX_CONF_ERROR;
    }

    if (ic->hash_key.len < 16) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "the key of \"confhaven_invite_hash_key_file\" "
                           "must hold at least 16 characters");
        return NGX_CONF_ERROR;
    }

    if (!redis) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "Microsoft Graph needs \"confhaven_redis_server\":"
                           " the invite limits are counted in Redis, for "
                           "all workers and instances");
        return NGX_CONF_ERROR;
    }

    if (!pg) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "Microsoft Graph needs \"confhaven_pg_server\": "
                           "invites are recorded in the database");
        return NGX_CONF_ERROR;
    }

    if (ngx_strlchr(ic->graph.organizer.data,
                    ic->graph.organizer.data + ic->graph.organizer.len, '@')
        == NULL)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"confhaven_graph_organizer\" must be the "
                           "organizer mailbox's user principal name, e.g. "
                           "sessions@conf.example.com, not \"%V\"",
                           &ic->graph.organizer);
        return NGX_CONF_ERROR;
    }

    ic->thread_pool = ngx_thread_pool_add(cf, &ic->thread_pool_name);
    if (ic->thread_pool == NULL) {
        return NGX_CONF_ERROR;
    }

    ic->configured = 1;

    return NGX_CONF_OK;
}


void
ngx_http_confhaven_invite_init_process(ngx_http_confhaven_invite_conf_t *ic,
    ngx_http_confhaven_redis_t *redis)
{
    ngx_http_confhaven_invite_conf = ic;
    ngx_http_confhaven_invite_redis = redis;

    /* eight places, and this is the only operation of steps today */
    (void) ngx_http_confhaven_op_steps_add(
                                       &ngx_http_confhaven_op_invite_steps);
}
