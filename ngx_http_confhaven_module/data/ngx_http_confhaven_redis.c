
/*
 * Copyright (C) ConferenceHaven
 */


/*
 * One asynchronous hiredis connection per worker, its socket registered
 * with nginx's event loop through hiredis' adapter hooks.  hiredis 0.14
 * has no timer hook: connect and command timeouts are nginx timers.
 * Callers never wait on Redis: a command that cannot be sent, fails or
 * times out calls its handler with a NULL reply, and the caller goes to
 * the database instead.
 *
 * A subscriber (ngx_http_confhaven_redis_subscribe()) is a second such
 * connection that, after the handshake, SUBSCRIBEs to its channels and
 * only hands each message to its handler; it is "ready" once Redis has
 * confirmed every subscription, and subscribes again after a reconnect.
 * Its epoch counts the subscriptions confirmed: a caller that sees it
 * change knows that messages may have been lost in between.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <netdb.h>

#include "ngx_http_confhaven_redis.h"
#include "ngx_http_confhaven_metrics.h"


#define NGX_HTTP_CONFHAVEN_REDIS_DOWN        0
#define NGX_HTTP_CONFHAVEN_REDIS_CONNECTING  1
#define NGX_HTTP_CONFHAVEN_REDIS_READY       2

#define NGX_HTTP_CONFHAVEN_REDIS_BACKOFF_MIN  100
#define NGX_HTTP_CONFHAVEN_REDIS_BACKOFF_MAX  5000

/* this many timeouts in a row: the connection is stuck, start over */
#define NGX_HTTP_CONFHAVEN_REDIS_MAX_TIMEOUTS  3

#define NGX_HTTP_CONFHAVEN_REDIS_MAX_CHANNELS  4


struct ngx_http_confhaven_redis_s {
    ngx_http_confhaven_redis_conf_t      *conf;
    ngx_log_t                            *log;
    ngx_pool_t                           *mem;
    redisAsyncContext                    *ac;
    ngx_connection_t                     *c;
    ngx_event_t                           connect_timer;
    ngx_event_t                           retry;
    ngx_queue_t                           free;
    ngx_msec_t                            backoff;
    ngx_uint_t                            state;
    ngx_uint_t                            timeouts;
    ngx_uint_t                            exiting;
    ngx_str_t                             channel;     /* subscriber */
    ngx_str_t                            *channels;
    ngx_uint_t                            nchannels;
    ngx_uint_t                            epoch;
    ngx_http_confhaven_redis_message_pt   message;
    void                                 *message_data;
};


static ngx_http_confhaven_redis_t *ngx_http_confhaven_redis_alloc(
    ngx_cycle_t *cycle, ngx_http_confhaven_redis_conf_t *conf);
static void ngx_http_confhaven_redis_connect(ngx_http_confhaven_redis_t *rd);
static void ngx_http_confhaven_redis_schedule(ngx_http_confhaven_redis_t *rd,
    const char *why);
static void ngx_http_confhaven_redis_drop(ngx_http_confhaven_redis_t *rd,
    const char *why);
static void ngx_http_confhaven_redis_retry_handler(ngx_event_t *ev);
static void ngx_http_confhaven_redis_connect_timeout(ngx_event_t *ev);
static void ngx_http_confhaven_redis_op_timeout(ngx_event_t *ev);
static void ngx_http_confhaven_redis_span_end(
    ngx_http_confhaven_redis_op_t *op, ngx_uint_t error);
static void ngx_http_confhaven_redis_read_handler(ngx_event_t *ev);
static void ngx_http_confhaven_redis_write_handler(ngx_event_t *ev);
static void ngx_http_confhaven_redis_add_read(void *data);
static void ngx_http_confhaven_redis_del_read(void *data);
static void ngx_http_confhaven_redis_add_write(void *data);
static void ngx_http_confhaven_redis_del_write(void *data);
static void ngx_http_confhaven_redis_cleanup(void *data);
static void ngx_http_confhaven_redis_on_connect(const redisAsyncContext *ac,
    int status);
static void ngx_http_confhaven_redis_on_disconnect(
    const redisAsyncContext *ac, int status);
static void ngx_http_confhaven_redis_hello(redisAsyncContext *ac, void *r,
    void *data);
static void ngx_http_confhaven_redis_reply(redisAsyncContext *ac, void *r,
    void *data);
static ngx_int_t ngx_http_confhaven_redis_subscribe_send(
    ngx_http_confhaven_redis_t *rd);
static void ngx_http_confhaven_redis_subscribed(redisAsyncContext *ac,
    void *r, void *data);
static void ngx_http_confhaven_redis_recycle(
    ngx_http_confhaven_redis_op_t *op);


ngx_http_confhaven_redis_t *
ngx_http_confhaven_redis_create(ngx_cycle_t *cycle,
    ngx_http_confhaven_redis_conf_t *conf)
{
    ngx_http_confhaven_redis_t  *rd;

    rd = ngx_http_confhaven_redis_alloc(cycle, conf);
    if (rd == NULL) {
        return NULL;
    }

    ngx_http_confhaven_redis_connect(rd);

    return rd;
}


ngx_http_confhaven_redis_t *
ngx_http_confhaven_redis_subscribe(ngx_cycle_t *cycle,
    ngx_http_confhaven_redis_conf_t *conf, ngx_str_t *channel,
    ngx_http_confhaven_redis_message_pt handler, void *data)
{
    return ngx_http_confhaven_redis_subscribe_channels(cycle, conf, channel,
                                                       1, handler, data);
}


/* channels[] must live as long as the cycle; the first names it in logs */

ngx_http_confhaven_redis_t *
ngx_http_confhaven_redis_subscribe_channels(ngx_cycle_t *cycle,
    ngx_http_confhaven_redis_conf_t *conf, ngx_str_t *channels,
    ngx_uint_t n, ngx_http_confhaven_redis_message_pt handler, void *data)
{
    ngx_http_confhaven_redis_t  *rd;

    rd = ngx_http_confhaven_redis_alloc(cycle, conf);
    if (rd == NULL) {
        return NULL;
    }

    rd->channel = channels[0];
    rd->channels = channels;
    rd->nchannels = n;
    rd->message = handler;
    rd->message_data = data;

    ngx_http_confhaven_redis_connect(rd);

    return rd;
}


static ngx_http_confhaven_redis_t *
ngx_http_confhaven_redis_alloc(ngx_cycle_t *cycle,
    ngx_http_confhaven_redis_conf_t *conf)
{
    ngx_http_confhaven_redis_t  *rd;

    rd = ngx_pcalloc(cycle->pool, sizeof(ngx_http_confhaven_redis_t));
    if (rd == NULL) {
        return NULL;
    }

    rd->conf = conf;
    rd->log = cycle->log;
    rd->mem = cycle->pool;
    ngx_queue_init(&rd->free);

    rd->connect_timer.handler = ngx_http_confhaven_redis_connect_timeout;
    rd->connect_timer.data = rd;
    rd->connect_timer.log = cycle->log;
    rd->connect_timer.cancelable = 1;

    rd->retry.handler = ngx_http_confhaven_redis_retry_handler;
    rd->retry.data = rd;
    rd->retry.log = cycle->log;
    rd->retry.cancelable = 1;

    return rd;
}


void
ngx_http_confhaven_redis_destroy(ngx_http_confhaven_redis_t *rd)
{
    rd->exiting = 1;

    if (rd->retry.timer_set) {
        ngx_del_timer(&rd->retry);
    }

    if (rd->connect_timer.timer_set) {
        ngx_del_timer(&rd->connect_timer);
    }

    if (rd->ac) {
        ngx_http_confhaven_redis_drop(rd, NULL);
    }
}


ngx_uint_t
ngx_http_confhaven_redis_ready(ngx_http_confhaven_redis_t *rd)
{
    return rd != NULL && rd->state == NGX_HTTP_CONFHAVEN_REDIS_READY;
}


const char *
ngx_http_confhaven_redis_state(ngx_http_confhaven_redis_t *rd)
{
    if (rd == NULL) {
        return "not_configured";
    }

    switch (rd->state) {
    case NGX_HTTP_CONFHAVEN_REDIS_READY:
        return "ok";
    case NGX_HTTP_CONFHAVEN_REDIS_CONNECTING:
        return "connecting";
    default:
        return "unavailable";
    }
}


static void
ngx_http_confhaven_redis_connect(ngx_http_confhaven_redis_t *rd)
{
    ngx_connection_t                 *c;
    redisAsyncContext                *ac;
    ngx_http_confhaven_redis_conf_t  *conf;

    conf = rd->conf;

    if (conf->path.len) {
        ac = redisAsyncConnectUnix((char *) conf->path.data);

    } else {
        /* a numeric address: hiredis does not wait on DNS */
        ac = redisAsyncConnect((char *) conf->host.data, conf->port);
    }

    if (ac == NULL) {
        ngx_http_confhaven_redis_schedule(rd, "out of memory");
        return;
    }

    if (ac->err) {
        ngx_log_error(NGX_LOG_WARN, rd->log, 0,
                      "confhaven redis: cannot connect to \"%V\": %s",
                      &conf->url, ac->errstr);
        redisAsyncFree(ac);
        ngx_http_confhaven_redis_schedule(rd, NULL);
        return;
    }

    c = ngx_get_connection(ac->c.fd, rd->log);
    if (c == NULL) {
        redisAsyncFree(ac);
        ngx_http_confhaven_redis_schedule(rd, "no free connection");
        return;
    }

    c->data = rd;
    c->read->handler = ngx_http_confhaven_redis_read_handler;
    c->write->handler = ngx_http_confhaven_redis_write_handler;
    c->read->log = rd->log;
    c->write->log = rd->log;
    c->shared = 1;      /* hiredis owns the descriptor */

    rd->ac = ac;
    rd->c = c;
    rd->state = NGX_HTTP_CONFHAVEN_REDIS_CONNECTING;
    rd->timeouts = 0;

    ac->data = rd;
    ac->ev.data = rd;
    ac->ev.addRead = ngx_http_confhaven_redis_add_read;
    ac->ev.delRead = ngx_http_confhaven_redis_del_read;
    ac->ev.addWrite = ngx_http_confhaven_redis_add_write;
    ac->ev.delWrite = ngx_http_confhaven_redis_del_write;
    ac->ev.cleanup = ngx_http_confhaven_redis_cleanup;

    redisAsyncSetConnectCallback(ac, ngx_http_confhaven_redis_on_connect);
    redisAsyncSetDisconnectCallback(ac,
                                    ngx_http_confhaven_redis_on_disconnect);

    ngx_add_timer(&rd->connect_timer, conf->connect_timeout);

    /* the handshake; queued commands also start the connect */

    if (conf->password.len) {
        redisAsyncCommand(ac, ngx_http_confhaven_redis_hello, NULL,
                          "AUTH %b", conf->password.data,
                          conf->password.len);
    }

    if (conf->db > 0) {
        redisAsyncCommand(ac, ngx_http_confhaven_redis_hello, NULL,
                          "SELECT %d", (int) conf->db);
    }

    redisAsyncCommand(ac, ngx_http_confhaven_redis_hello, rd, "PING");
}


/* a reply of the handshake: only the PING's (data != NULL) says "ready" */

static void
ngx_http_confhaven_redis_hello(redisAsyncContext *ac, void *r, void *data)
{
    redisReply                  *reply = r;
    ngx_http_confhaven_redis_t  *rd;

    rd = ac->data;

    if (rd == NULL || rd->ac != ac) {
        return;
    }

    if (reply == NULL) {
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                      "confhaven redis: handshake with \"%V\" failed: %*s",
                      &rd->conf->url, (size_t) reply->len, reply->str);

        /* hiredis must not be freed inside its own callback */
        rd->state = NGX_HTTP_CONFHAVEN_REDIS_DOWN;
        redisAsyncDisconnect(ac);
        return;
    }

    if (data == NULL || rd->state != NGX_HTTP_CONFHAVEN_REDIS_CONNECTING) {
        return;
    }

    if (rd->channel.len) {
        /* ready once Redis confirms; the connect timer still runs */
        if (ngx_http_confhaven_redis_subscribe_send(rd) != NGX_OK) {
            rd->state = NGX_HTTP_CONFHAVEN_REDIS_DOWN;
            redisAsyncDisconnect(ac);
        }

        return;
    }

    if (rd->connect_timer.timer_set) {
        ngx_del_timer(&rd->connect_timer);
    }

    if (rd->backoff) {
        ngx_log_error(NGX_LOG_NOTICE, rd->log, 0,
                      "confhaven redis: connected to \"%V\" again",
                      &rd->conf->url);
    }

    rd->state = NGX_HTTP_CONFHAVEN_REDIS_READY;
    rd->backoff = 0;
    rd->timeouts = 0;
}


static ngx_int_t
ngx_http_confhaven_redis_subscribe_send(ngx_http_confhaven_redis_t *rd)
{
    ngx_uint_t   i;
    const char  *argv[1 + NGX_HTTP_CONFHAVEN_REDIS_MAX_CHANNELS];
    size_t       argvlen[1 + NGX_HTTP_CONFHAVEN_REDIS_MAX_CHANNELS];

    if (rd->nchannels > NGX_HTTP_CONFHAVEN_REDIS_MAX_CHANNELS) {
        return NGX_ERROR;
    }

    argv[0] = "SUBSCRIBE";
    argvlen[0] = sizeof("SUBSCRIBE") - 1;

    for (i = 0; i < rd->nchannels; i++) {
        argv[1 + i] = (const char *) rd->channels[i].data;
        argvlen[1 + i] = rd->channels[i].len;
    }

    return redisAsyncCommandArgv(rd->ac, ngx_http_confhaven_redis_subscribed,
                                 rd, 1 + rd->nchannels, argv, argvlen)
           == REDIS_OK ? NGX_OK : NGX_ERROR;
}


/*
 * Every reply on a subscriber connection: the confirmation of SUBSCRIBE,
 * then one call per message; NULL when the connection goes.
 */

static void
ngx_http_confhaven_redis_subscribed(redisAsyncContext *ac, void *r,
    void *data)
{
    redisReply                  *reply = r;
    redisReply                  *kind, *msg;
    ngx_http_confhaven_redis_t  *rd;

    rd = ac->data;

    if (rd == NULL || rd->ac != ac || reply == NULL) {
        return;
    }

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 3
        || reply->element[0]->type != REDIS_REPLY_STRING)
    {
        ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                      "confhaven redis: unexpected reply on the "
                      "subscription to \"%V\" of \"%V\"",
                      &rd->channel, &rd->conf->url);
        return;
    }

    kind = reply->element[0];
    msg = reply->element[2];

    if (kind->len == sizeof("message") - 1
        && ngx_strncmp(kind->str, "message", kind->len) == 0)
    {
        if (msg->type == REDIS_REPLY_STRING) {
            rd->message(rd->message_data, (u_char *) msg->str, msg->len);
        }

        return;
    }

    if (kind->len != sizeof("subscribe") - 1
        || ngx_strncmp(kind->str, "subscribe", kind->len) != 0
        || rd->state != NGX_HTTP_CONFHAVEN_REDIS_CONNECTING)
    {
        return;
    }

    /* one confirmation per channel, each with the count so far */

    if (msg->type == REDIS_REPLY_INTEGER
        && (ngx_uint_t) msg->integer < rd->nchannels)
    {
        return;
    }

    if (rd->connect_timer.timer_set) {
        ngx_del_timer(&rd->connect_timer);
    }

    if (rd->backoff) {
        ngx_log_error(NGX_LOG_NOTICE, rd->log, 0,
                      "confhaven redis: subscribed to \"%V\" on \"%V\" "
                      "again", &rd->channel, &rd->conf->url);
    }

    rd->state = NGX_HTTP_CONFHAVEN_REDIS_READY;
    rd->backoff = 0;
    rd->timeouts = 0;
    rd->epoch++;
}


ngx_uint_t
ngx_http_confhaven_redis_epoch(ngx_http_confhaven_redis_t *rd)
{
    return rd->epoch;
}


/*
 * Reads what has already arrived on the connection (a subscriber's
 * messages) without waiting for the event loop to report it: one
 * MSG_PEEK, and hiredis reads only when there is something to read.
 */

void
ngx_http_confhaven_redis_poll(ngx_http_confhaven_redis_t *rd)
{
    u_char   b;
    ssize_t  n;

    /* connected and past the handshake: hiredis reads only then */

    if (rd == NULL || rd->ac == NULL || rd->c == NULL
        || rd->state != NGX_HTTP_CONFHAVEN_REDIS_READY
        || (rd->ac->c.flags & REDIS_IN_CALLBACK))
    {
        return;
    }

    n = recv(rd->c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);

    if (n >= 0 || ngx_socket_errno != NGX_EAGAIN) {
        /* data, the peer closed or an error: hiredis handles them */
        redisAsyncHandleRead(rd->ac);
    }
}


/*
 * Sends queued commands now rather than on the next write event, so that
 * what a caller is about to tell a client reaches Redis first.  Not from
 * inside a hiredis callback: a write error would free the context there.
 */

void
ngx_http_confhaven_redis_flush(ngx_http_confhaven_redis_t *rd)
{
    if (rd == NULL || rd->ac == NULL
        || rd->state != NGX_HTTP_CONFHAVEN_REDIS_READY
        || (rd->ac->c.flags & REDIS_IN_CALLBACK))
    {
        return;
    }

    redisAsyncHandleWrite(rd->ac);
}


static void
ngx_http_confhaven_redis_on_connect(const redisAsyncContext *ac, int status)
{
    ngx_http_confhaven_redis_t  *rd;

    rd = ac->data;

    if (status == REDIS_OK || rd == NULL) {
        return;
    }

    /* hiredis frees the context after this callback */

    ngx_log_error(NGX_LOG_WARN, rd->log, 0,
                  "confhaven redis: cannot connect to \"%V\": %s",
                  &rd->conf->url, ac->errstr);

    rd->ac = NULL;
    ngx_http_confhaven_redis_schedule(rd, NULL);
}


static void
ngx_http_confhaven_redis_on_disconnect(const redisAsyncContext *ac,
    int status)
{
    ngx_http_confhaven_redis_t  *rd;

    rd = ac->data;

    if (rd == NULL || rd->ac != ac) {
        return;
    }

    if (status != REDIS_OK) {
        ngx_log_error(NGX_LOG_WARN, rd->log, 0,
                      "confhaven redis: connection to \"%V\" lost: %s; %s",
                      &rd->conf->url, ac->errstr,
                      rd->channel.len ? "subscribing again later"
                                      : "answering from the database");
    }

    rd->ac = NULL;
    ngx_http_confhaven_redis_schedule(rd, NULL);
}


/* forget the context and try again later, with backoff */

static void
ngx_http_confhaven_redis_schedule(ngx_http_confhaven_redis_t *rd,
    const char *why)
{
    if (why) {
        ngx_log_error(NGX_LOG_WARN, rd->log, 0,
                      "confhaven redis: \"%V\": %s", &rd->conf->url, why);
    }

    rd->state = NGX_HTTP_CONFHAVEN_REDIS_DOWN;

    if (rd->connect_timer.timer_set) {
        ngx_del_timer(&rd->connect_timer);
    }

    if (rd->exiting || ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    ngx_http_confhaven_metrics_inc(
                              NGX_HTTP_CONFHAVEN_METRIC_REDIS_RECONNECTS);

    rd->backoff = ngx_max(rd->backoff * 2,
                          NGX_HTTP_CONFHAVEN_REDIS_BACKOFF_MIN);
    rd->backoff = ngx_min(rd->backoff, NGX_HTTP_CONFHAVEN_REDIS_BACKOFF_MAX);

    if (!rd->retry.timer_set) {
        ngx_add_timer(&rd->retry, rd->backoff);
    }
}


/* drop the connection from outside hiredis' callbacks */

static void
ngx_http_confhaven_redis_drop(ngx_http_confhaven_redis_t *rd,
    const char *why)
{
    redisAsyncContext  *ac;

    ac = rd->ac;
    rd->ac = NULL;

    if (ac) {
        /* pending commands get NULL replies; cleanup() detaches us */
        redisAsyncFree(ac);
    }

    ngx_http_confhaven_redis_schedule(rd, why);
}


static void
ngx_http_confhaven_redis_retry_handler(ngx_event_t *ev)
{
    ngx_http_confhaven_redis_t  *rd;

    rd = ev->data;

    if (rd->ac == NULL && !rd->exiting) {
        ngx_http_confhaven_redis_connect(rd);
    }
}


static void
ngx_http_confhaven_redis_connect_timeout(ngx_event_t *ev)
{
    ngx_http_confhaven_redis_t  *rd;

    rd = ev->data;

    ngx_http_confhaven_redis_drop(rd, "connect timed out");
}


ngx_http_confhaven_redis_op_t *
ngx_http_confhaven_redis_op(ngx_http_confhaven_redis_t *rd,
    ngx_http_confhaven_redis_handler_pt handler, void *data)
{
    ngx_queue_t                    *q;
    ngx_http_confhaven_redis_op_t  *op;

    /*
     * Ops outlive the requests that start them (hiredis calls back even
     * for a command nobody waits for any more), so they come from the
     * worker's pool and are recycled.
     */

    if (!ngx_queue_empty(&rd->free)) {
        q = ngx_queue_head(&rd->free);
        ngx_queue_remove(q);
        op = ngx_queue_data(q, ngx_http_confhaven_redis_op_t, queue);

    } else {
        op = ngx_palloc(rd->mem, sizeof(ngx_http_confhaven_redis_op_t));
        if (op == NULL) {
            return NULL;
        }
    }

    ngx_memzero(op, sizeof(ngx_http_confhaven_redis_op_t));

    op->handler = handler;
    op->data = data;
    op->owner = rd;
    op->timer.handler = ngx_http_confhaven_redis_op_timeout;
    op->timer.data = op;
    op->timer.log = rd->log;

    return op;
}


ngx_int_t
ngx_http_confhaven_redis_command(ngx_http_confhaven_redis_op_t *op,
    int argc, const char **argv, const size_t *argvlen)
{
    u_char                       db[NGX_INT_T_LEN];
    ngx_http_confhaven_redis_t  *rd;

    rd = op->owner;

    if (rd->state != NGX_HTTP_CONFHAVEN_REDIS_READY || rd->ac == NULL) {
        ngx_http_confhaven_redis_recycle(op);
        return NGX_DECLINED;
    }

    if (redisAsyncCommandArgv(rd->ac, ngx_http_confhaven_redis_reply, op,
                              argc, argv, argvlen)
        != REDIS_OK)
    {
        ngx_http_confhaven_redis_recycle(op);
        return NGX_DECLINED;
    }

    op->pending = 1;
    ngx_add_timer(&op->timer, op->timeout ? op->timeout : rd->conf->timeout);

    /* the command's name only: keys and values stay out of traces */
    if (op->parent) {
        op->span = ngx_http_confhaven_trace_child(NULL, op->parent, argv[0],
                                                  argvlen[0],
                                               NGX_HTTP_CONFHAVEN_SPAN_CLIENT);
        op->parent = NULL;

        if (op->span) {
            ngx_http_confhaven_trace_str(op->span, "db.system",
                                         (u_char *) "redis", 5);
            ngx_http_confhaven_trace_str(op->span, "db.operation.name",
                                         (u_char *) argv[0], argvlen[0]);

            if (rd->conf->path.len) {
                ngx_http_confhaven_trace_str(op->span, "server.address",
                                             rd->conf->path.data,
                                             rd->conf->path.len);

            } else {
                ngx_http_confhaven_trace_str(op->span, "server.address",
                                             rd->conf->host.data,
                                             rd->conf->host.len);
                ngx_http_confhaven_trace_int(op->span, "server.port",
                                             rd->conf->port);
            }

            ngx_http_confhaven_trace_str(op->span, "db.namespace", db,
                                         ngx_sprintf(db, "%i", rd->conf->db)
                                         - db);
        }
    }

    return NGX_OK;
}


/*
 * The next command of op is a client span, child of parent (a request's
 * span, which need only live until the command is sent).
 */

void
ngx_http_confhaven_redis_trace(ngx_http_confhaven_redis_op_t *op,
    ngx_http_confhaven_span_t *parent)
{
    op->parent = parent;
}


static void
ngx_http_confhaven_redis_span_end(ngx_http_confhaven_redis_op_t *op,
    ngx_uint_t error)
{
    if (op->span == NULL) {
        return;
    }

    if (error) {
        ngx_http_confhaven_trace_error(op->span);
    }

    ngx_http_confhaven_trace_end(op->span);
    ngx_free(op->span);
    op->span = NULL;
}


void
ngx_http_confhaven_redis_cancel(ngx_http_confhaven_redis_op_t *op)
{
    /* the reply, when it comes, is dropped */
    op->done = 1;

    if (op->timer.timer_set) {
        ngx_del_timer(&op->timer);
    }
}


static void
ngx_http_confhaven_redis_op_timeout(ngx_event_t *ev)
{
    ngx_http_confhaven_redis_t     *rd;
    ngx_http_confhaven_redis_op_t  *op;

    op = ev->data;
    rd = op->owner;

    ngx_log_error(NGX_LOG_WARN, rd->log, 0,
                  "confhaven redis: no answer from \"%V\" within %M ms; "
                  "answering from the database", &rd->conf->url,
                  rd->conf->timeout);

    ngx_http_confhaven_redis_span_end(op, 1);

    op->done = 1;
    op->handler(op, NULL);

    if (++rd->timeouts >= NGX_HTTP_CONFHAVEN_REDIS_MAX_TIMEOUTS
        && rd->ac != NULL)
    {
        rd->timeouts = 0;
        ngx_http_confhaven_redis_drop(rd, "too many timeouts, reconnecting");
    }
}


static void
ngx_http_confhaven_redis_reply(redisAsyncContext *ac, void *r, void *data)
{
    redisReply                     *reply = r;
    ngx_http_confhaven_redis_t     *rd;
    ngx_http_confhaven_redis_op_t  *op = data;

    rd = op->owner;
    op->pending = 0;

    ngx_http_confhaven_redis_span_end(op, reply == NULL
                                          || reply->type == REDIS_REPLY_ERROR);

    if (!op->done) {
        op->done = 1;

        if (op->timer.timer_set) {
            ngx_del_timer(&op->timer);
        }

        if (reply != NULL) {
            rd->timeouts = 0;
        }

        op->handler(op, reply);
    }

    ngx_http_confhaven_redis_recycle(op);
}


static void
ngx_http_confhaven_redis_recycle(ngx_http_confhaven_redis_op_t *op)
{
    if (op->timer.timer_set) {
        ngx_del_timer(&op->timer);
    }

    ngx_http_confhaven_redis_span_end(op, 1);
    op->parent = NULL;

    ngx_queue_insert_head(&op->owner->free, &op->queue);
}


static void
ngx_http_confhaven_redis_read_handler(ngx_event_t *ev)
{
    ngx_connection_t            *c;
    ngx_http_confhaven_redis_t  *rd;

    c = ev->data;
    rd = c->data;

    if (rd->ac) {
        redisAsyncHandleRead(rd->ac);
    }
}


static void
ngx_http_confhaven_redis_write_handler(ngx_event_t *ev)
{
    ngx_connection_t            *c;
    ngx_http_confhaven_redis_t  *rd;

    c = ev->data;
    rd = c->data;

    if (rd->ac) {
        redisAsyncHandleWrite(rd->ac);
    }
}


static void
ngx_http_confhaven_redis_add_read(void *data)
{
    ngx_http_confhaven_redis_t  *rd = data;

    if (rd->c && !rd->c->read->active) {
        (void) ngx_add_event(rd->c->read, NGX_READ_EVENT, NGX_LEVEL_EVENT);
    }
}


static void
ngx_http_confhaven_redis_del_read(void *data)
{
    ngx_http_confhaven_redis_t  *rd = data;

    if (rd->c && rd->c->read->active) {
        (void) ngx_del_event(rd->c->read, NGX_READ_EVENT, 0);
    }
}


static void
ngx_http_confhaven_redis_add_write(void *data)
{
    ngx_http_confhaven_redis_t  *rd = data;

    if (rd->c && !rd->c->write->active) {
        (void) ngx_add_event(rd->c->write, NGX_WRITE_EVENT, NGX_LEVEL_EVENT);
    }
}


static void
ngx_http_confhaven_redis_del_write(void *data)
{
    ngx_http_confhaven_redis_t  *rd = data;

    if (rd->c && rd->c->write->active) {
        (void) ngx_del_event(rd->c->write, NGX_WRITE_EVENT, 0);
    }
}


/* hiredis is about to close the descriptor */

static void
ngx_http_confhaven_redis_cleanup(void *data)
{
    ngx_connection_t            *c;
    ngx_http_confhaven_redis_t  *rd = data;

    c = rd->c;
    if (c == NULL) {
        return;
    }

    if (c->read->active) {
        (void) ngx_del_event(c->read, NGX_READ_EVENT, NGX_CLOSE_EVENT);
    }

    if (c->write->active) {
        (void) ngx_del_event(c->write, NGX_WRITE_EVENT, NGX_CLOSE_EVENT);
    }

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    ngx_free_connection(c);
    c->fd = (ngx_socket_t) -1;
    rd->c = NULL;
}


/*
 * "redis://host[:port][/db]" or "unix:/path/to.sock[?db=N]"; the host is
 * resolved now.  A password belongs in confhaven_redis_password_file.
 */

char *
ngx_http_confhaven_redis_parse_url(ngx_conf_t *cf,
    ngx_http_confhaven_redis_conf_t *conf)
{
    u_char           *p, *last, *colon, *slash, *q;
    ngx_str_t         host;
    ngx_int_t         n;
    struct addrinfo   hints, *ai;
    char              addr[NGX_SOCKADDR_STRLEN + 1];

    p = conf->url.data;
    last = p + conf->url.len;

    if (ngx_strlchr(p, last, '@')) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"confhaven_redis_server\":"
                           " put the password in "
                           "\"confhaven_redis_password_file\"", &conf->url);
        return NGX_CONF_ERROR;
    }

    if (conf->url.len > 5 && ngx_strncmp(p, "unix:", 5) == 0) {
        p += 5;
        q = ngx_strlchr(p, last, '?');

        conf->path.len = (q ? q : last) - p;
        conf->path.data = ngx_pnalloc(cf->pool, conf->path.len + 1);
        if (conf->path.data == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_cpystrn(conf->path.data, p, conf->path.len + 1);

        if (q) {
            if (last - q < 5 || ngx_strncmp(q, "?db=", 4) != 0) {
                goto invalid;
            }

            conf->db = ngx_atoi(q + 4, last - q - 4);
            if (conf->db == NGX_ERROR) {
                goto invalid;
            }
        }

        if (conf->path.len == 0 || conf->path.data[0] != '/') {
            goto invalid;
        }

        return NGX_CONF_OK;
    }

    if (conf->url.len < 9 || ngx_strncmp(p, "redis://", 8) != 0) {
        goto invalid;
    }

    p += 8;
    slash = ngx_strlchr(p, last, '/');
    colon = ngx_strlchr(p, slash ? slash : last, ':');

    host.data = p;
    host.len = (colon ? colon : (slash ? slash : last)) - p;

    conf->port = 6379;

    if (colon) {
        n = ngx_atoi(colon + 1, (slash ? slash : last) - colon - 1);
        if (n < 1 || n > 65535) {
            goto invalid;
        }

        conf->port = (in_port_t) n;
    }

    if (slash && slash + 1 < last) {
        conf->db = ngx_atoi(slash + 1, last - slash - 1);
        if (conf->db == NGX_ERROR) {
            goto invalid;
        }
    }

    if (host.len == 0 || host.len >= NGX_SOCKADDR_STRLEN) {
        goto invalid;
    }

    ngx_memcpy(addr, host.data, host.len);
    addr[host.len] = '\0';

    ngx_memzero(&hints, sizeof(struct addrinfo));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;

    if (getaddrinfo(addr, NULL, &hints, &ai) != 0 || ai == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "host \"%V\" in \"confhaven_redis_server\" "
                           "could not be resolved", &host);
        return NGX_CONF_ERROR;
    }

    n = getnameinfo(ai->ai_addr, ai->ai_addrlen, addr, sizeof(addr), NULL, 0,
                    NI_NUMERICHOST);
    freeaddrinfo(ai);

    if (n != 0) {
        goto invalid;
    }

    conf->host.len = ngx_strlen(addr);
    conf->host.data = ngx_pnalloc(cf->pool, conf->host.len + 1);
    if (conf->host.data == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_cpystrn(conf->host.data, (u_char *) addr, conf->host.len + 1);

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid value \"%V\" in \"confhaven_redis_server\": "
                       "expected \"redis://host[:port][/db]\" or "
                       "\"unix:/path/to.sock[?db=N]\"", &conf->url);

    return NGX_CONF_ERROR;
}
