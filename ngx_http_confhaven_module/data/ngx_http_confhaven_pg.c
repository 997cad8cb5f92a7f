
/*
 * Copyright (C) ConferenceHaven
 */


/*
 * A per-worker pool of non-blocking libpq connections driven by nginx's
 * event loop: PQconnectStartParams/PQconnectPoll to connect,
 * PQsendQueryParams/PQflush/PQconsumeInput/PQisBusy to query.  Callers
 * that find every connection busy wait in a bounded queue with a timer;
 * a server that goes away is reconnected with exponential backoff.
 *
 * Read replicas: the primary's pool owns one pool per replica.  An op
 * flagged "replica" (a read) goes to the least busy replica that is
 * usable: its last check (every NGX_HTTP_CONFHAVEN_PG_CHECK ms, on a
 * connection of its own pool) answered, its lag then plus the time since
 * stays within confhaven_pg_replica_max_lag, and it has replayed the WAL
 * up to the position the primary had after the last write of any worker
 * (kept in shared memory).  A read that fails on a replica (connection
 * lost, recovery conflict) is run again on the primary, and the replica
 * is skipped until its next check succeeds.  Every other op runs on the
 * primary and, when replicas exist, is followed on the same connection
 * by "SELECT pg_current_wal_insert_lsn()" before it is answered: the
 * position covers its commit, so a read that follows the write's answer
 * never sees a replica that has not replayed it.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <netdb.h>

#include "ngx_http_confhaven_pg.h"
#include "ngx_http_confhaven_metrics.h"


#define NGX_HTTP_CONFHAVEN_PG_BACKOFF_MIN   100
#define NGX_HTTP_CONFHAVEN_PG_BACKOFF_MAX   2000
#define NGX_HTTP_CONFHAVEN_PG_GRACE         2000
#define NGX_HTTP_CONFHAVEN_PG_CHECK         250     /* replica poll, ms */
#define NGX_HTTP_CONFHAVEN_PG_RECHECK       20      /* sooner, when behind */
#define NGX_HTTP_CONFHAVEN_PG_LAG_UNKNOWN   86400000

/*
 * What a replica has replayed, and its lag: 0 when it has replayed all
 * it received, else the age of the last transaction it replayed.
 */
#define NGX_HTTP_CONFHAVEN_PG_CHECK_SQL                                       \
    "SELECT pg_last_wal_replay_lsn()::text, "                                 \
    "CASE WHEN pg_last_wal_receive_lsn() "                                    \
    "IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0 "                   \
    "ELSE coalesce(greatest(0, floor(1000 * extract(epoch FROM "              \
    "now() - pg_last_xact_replay_timestamp()))), 86400000) END::bigint"


typedef enum {
    ngx_http_confhaven_pg_connecting = 0,
    ngx_http_confhaven_pg_idle,
    ngx_http_confhaven_pg_busy
} ngx_http_confhaven_pg_state_e;


/* a busy connection runs up to three statements for one op */
typedef enum {
    ngx_http_confhaven_pg_stage_main = 0,
    ngx_http_confhaven_pg_stage_setup,      /* SET statement_timeout */
    ngx_http_confhaven_pg_stage_reset,      /* RESET statement_timeout */
    ngx_http_confhaven_pg_stage_lsn         /* the write's WAL position */
} ngx_http_confhaven_pg_stage_e;


/* replica states */
#define NGX_HTTP_CONFHAVEN_PG_REPLICA_UNKNOWN  0
#define NGX_HTTP_CONFHAVEN_PG_REPLICA_OK       1
#define NGX_HTTP_CONFHAVEN_PG_REPLICA_SKIPPED  2


/* in the "confhaven_pg_lsn" zone, under its slab pool's mutex */
typedef struct {
    uint64_t                           lsn;        /* the last write's */
} ngx_http_confhaven_pg_shared_t;


struct ngx_http_confhaven_pg_conn_s {
    ngx_queue_t                        queue;      /* in pool->idle */
    PGconn                            *pgconn;
    ngx_connection_t                  *c;
    ngx_http_confhaven_pg_pool_t      *pool;
    ngx_http_confhaven_pg_op_t        *op;
    ngx_event_t                        timer;
    ngx_http_confhaven_pg_state_e      state;
    ngx_http_confhaven_pg_stage_e      stage;
    unsigned                           flushing:1;
    unsigned                           reused:1;
    unsigned                           reset_needed:1;
    unsigned                           lsn_needed:1;
};


struct ngx_http_confhaven_pg_pool_s {
    ngx_http_confhaven_pg_conf_t      *conf;
    ngx_log_t                         *log;
    ngx_pool_t                        *mem;
    ngx_queue_t                        idle;
    ngx_queue_t                        waiters;
    ngx_queue_t                        free;       /* spare conn structs */
    ngx_uint_t                         nconns;
    ngx_uint_t                         nconnecting;
    ngx_uint_t                         nwaiters;
    ngx_msec_t                         backoff;
    ngx_msec_t                         retry_at;
    ngx_event_t                        retry;
    u_char                             last_error[256];
    size_t                             last_error_len;
    unsigned                           down:1;

    /* a primary: its replicas */
    ngx_http_confhaven_pg_pool_t     **replicas;
    ngx_uint_t                         nreplicas;
    ngx_uint_t                         next;       /* first one to try */

    /* a replica: what its last check said */
    ngx_http_confhaven_pg_pool_t      *primary;
    uint64_t                           replay_lsn;
    ngx_msec_t                         lag;
    ngx_msec_t                         checked;    /* when it answered */
    ngx_uint_t                         state;
    ngx_http_confhaven_pg_op_t         check;
    ngx_pool_t                        *check_mem;
    ngx_event_t                        poll;
};


static ngx_http_confhaven_pg_pool_t *ngx_http_confhaven_pg_pool_init(
    ngx_cycle_t *cycle, ngx_http_confhaven_pg_conf_t *conf);
static ngx_int_t ngx_http_confhaven_pg_run(ngx_http_confhaven_pg_pool_t *pool,
    ngx_http_confhaven_pg_op_t *op);
static ngx_http_confhaven_pg_pool_t *ngx_http_confhaven_pg_pick(
    ngx_http_confhaven_pg_pool_t *pool);
static ngx_uint_t ngx_http_confhaven_pg_failover(
    ngx_http_confhaven_pg_op_t *op);
static void ngx_http_confhaven_pg_poll_handler(ngx_event_t *ev);
static void ngx_http_confhaven_pg_checked(ngx_http_confhaven_pg_op_t *op);
static void ngx_http_confhaven_pg_replica_state(
    ngx_http_confhaven_pg_pool_t *rp, ngx_uint_t state, const char *why,
    ngx_str_t *detail);
static uint64_t ngx_http_confhaven_pg_parse_lsn(u_char *p, size_t len);
static uint64_t ngx_http_confhaven_pg_shared_lsn(
    ngx_http_confhaven_pg_pool_t *pool, uint64_t lsn);
static ngx_int_t ngx_http_confhaven_pg_shm_init(ngx_shm_zone_t *zone,
    void *data);
static char *ngx_http_confhaven_pg_conf_server(ngx_conf_t *cf,
    ngx_http_confhaven_pg_conf_t *conf);
static void ngx_http_confhaven_pg_dispatch(ngx_http_confhaven_pg_pool_t *pool);
static ngx_int_t ngx_http_confhaven_pg_connect(
    ngx_http_confhaven_pg_pool_t *pool);
static ngx_int_t ngx_http_confhaven_pg_attach(
    ngx_http_confhaven_pg_conn_t *pc);
static void ngx_http_confhaven_pg_detach(ngx_http_confhaven_pg_conn_t *pc,
    ngx_uint_t closed);
static void ngx_http_confhaven_pg_event_handler(ngx_event_t *ev);
static void ngx_http_confhaven_pg_timer_handler(ngx_event_t *ev);
static void ngx_http_confhaven_pg_retry_handler(ngx_event_t *ev);
static void ngx_http_confhaven_pg_wait_handler(ngx_event_t *ev);
static void ngx_http_confhaven_pg_poll_connect(
    ngx_http_confhaven_pg_conn_t *pc);
static void ngx_http_confhaven_pg_send(ngx_http_confhaven_pg_conn_t *pc,
    ngx_http_confhaven_pg_op_t *op);
static void ngx_http_confhaven_pg_process(ngx_http_confhaven_pg_conn_t *pc);
static ngx_int_t ngx_http_confhaven_pg_next(ngx_http_confhaven_pg_conn_t *pc);
static void ngx_http_confhaven_pg_read_idle(ngx_http_confhaven_pg_conn_t *pc);
static void ngx_http_confhaven_pg_keep(ngx_http_confhaven_pg_conn_t *pc);
static void ngx_http_confhaven_pg_sweep(ngx_http_confhaven_pg_pool_t *pool);
static void ngx_http_confhaven_pg_backoff(ngx_http_confhaven_pg_pool_t *pool);
static void ngx_http_confhaven_pg_fail_waiters(
    ngx_http_confhaven_pg_pool_t *pool);
static void ngx_http_confhaven_pg_close(ngx_http_confhaven_pg_conn_t *pc,
    const char *why);
static void ngx_http_confhaven_pg_fail(ngx_http_confhaven_pg_conn_t *pc,
    ngx_uint_t status, const char *why);
static void ngx_http_confhaven_pg_complete(ngx_http_confhaven_pg_op_t *op,
    ngx_uint_t status);
static void ngx_http_confhaven_pg_set_error(ngx_http_confhaven_pg_op_t *op,
    const char *msg);
static void ngx_http_confhaven_pg_save_result(ngx_http_confhaven_pg_op_t *op,
    PGresult *res);
static ngx_int_t ngx_http_confhaven_pg_write_event(
    ngx_http_confhaven_pg_conn_t *pc, ngx_uint_t on);
static void ngx_http_confhaven_pg_remember(ngx_http_confhaven_pg_pool_t *pool,
    const char *msg);
static ngx_int_t ngx_http_confhaven_pg_copy(ngx_pool_t *p, ngx_str_t *dst,
    const char *src, size_t len);
static char *ngx_http_confhaven_pg_strdup(ngx_pool_t *p, const char *s);


/* the tag of the "confhaven_pg_lsn" zone */
static u_char  ngx_http_confhaven_pg_shm_tag;


ngx_http_confhaven_pg_pool_t *
ngx_http_confhaven_pg_pool_create(ngx_cycle_t *cycle,
    ngx_http_confhaven_pg_conf_t *conf)
{
    ngx_uint_t                     i, n;
    ngx_http_confhaven_pg_conf_t  *rcf;
    ngx_http_confhaven_pg_pool_t  *pool, *rp;

    pool = ngx_http_confhaven_pg_pool_init(cycle, conf);
    if (pool == NULL) {
        return NULL;
    }

    n = conf->replicas ? conf->replicas->nelts : 0;
    if (n == 0) {
        return pool;
    }

    pool->replicas = ngx_pcalloc(cycle->pool,
                                 n * sizeof(ngx_http_confhaven_pg_pool_t *));
    if (pool->replicas == NULL) {
        return NULL;
    }

    rcf = conf->replicas->elts;

    for (i = 0; i < n; i++) {
        rp = ngx_http_confhaven_pg_pool_init(cycle, &rcf[i]);
        if (rp == NULL) {
            return NULL;
        }

        rp->check_mem = ngx_create_pool(1024, cycle->log);
        if (rp->check_mem == NULL) {
            return NULL;
        }

        rp->primary = pool;
        rp->lag = NGX_HTTP_CONFHAVEN_PG_LAG_UNKNOWN;
        rp->poll.handler = ngx_http_confhaven_pg_poll_handler;
        rp->poll.data = rp;
        rp->poll.log = cycle->log;
        rp->poll.cancelable = 1;

        /* the first check runs as soon as the worker's loop does */
        ngx_add_timer(&rp->poll, 1);

        pool->replicas[i] = rp;
    }

    pool->nreplicas = n;

    return pool;
}


static ngx_http_confhaven_pg_pool_t *
ngx_http_confhaven_pg_pool_init(ngx_cycle_t *cycle,
    ngx_http_confhaven_pg_conf_t *conf)
{
    ngx_http_confhaven_pg_pool_t  *pool;

    pool = ngx_pcalloc(cycle->pool, sizeof(ngx_http_confhaven_pg_pool_t));
    if (pool == NULL) {
        return NULL;
    }

    pool->conf = conf;
    pool->log = cycle->log;
    pool->mem = cycle->pool;

    ngx_queue_init(&pool->idle);
    ngx_queue_init(&pool->waiters);
    ngx_queue_init(&pool->free);

    pool->retry.handler = ngx_http_confhaven_pg_retry_handler;
    pool->retry.data = pool;
    pool->retry.log = cycle->log;
    pool->retry.cancelable = 1;

    return pool;
}


void
ngx_http_confhaven_pg_pool_destroy(ngx_http_confhaven_pg_pool_t *pool)
{
    ngx_uint_t                     i;
    ngx_queue_t                   *q;
    ngx_http_confhaven_pg_op_t    *op;
    ngx_http_confhaven_pg_conn_t  *pc;
    ngx_http_confhaven_pg_pool_t  *rp;

    /* replicas first: their waiting reads may still move to the primary */

    for (i = 0; i < pool->nreplicas; i++) {
        rp = pool->replicas[i];

        if (rp->poll.timer_set) {
            ngx_del_timer(&rp->poll);
        }

        ngx_http_confhaven_pg_cancel(&rp->check);
        ngx_http_confhaven_pg_pool_destroy(rp);
        ngx_destroy_pool(rp->check_mem);
    }

    pool->nreplicas = 0;

    if (pool->retry.timer_set) {
        ngx_del_timer(&pool->retry);
    }

    while (!ngx_queue_empty(&pool->waiters)) {
        q = ngx_queue_head(&pool->waiters);
        op = ngx_queue_data(q, ngx_http_confhaven_pg_op_t, queue);
        ngx_http_confhaven_pg_set_error(op, "worker is shutting down");
        ngx_http_confhaven_pg_complete(op, NGX_HTTP_CONFHAVEN_PG_UNAVAILABLE);
    }

    while (!ngx_queue_empty(&pool->idle)) {
        q = ngx_queue_head(&pool->idle);
        ngx_queue_remove(q);
        pc = ngx_queue_data(q, ngx_http_confhaven_pg_conn_t, queue);
        ngx_http_confhaven_pg_close(pc, NULL);
    }
}


ngx_int_t
ngx_http_confhaven_pg_query(ngx_http_confhaven_pg_pool_t *pool,
    ngx_http_confhaven_pg_op_t *op)
{
    ngx_http_confhaven_pg_pool_t  *rp;

    op->fallback = NULL;

    if (op->replica && pool->nreplicas) {
        rp = ngx_http_confhaven_pg_pick(pool);

        if (rp) {
            if (op->log == NULL) {
                op->log = pool->log;
            }

            ngx_log_debug1(NGX_LOG_DEBUG_HTTP, op->log, 0,
                           "confhaven pg: read on replica \"%V\"",
                           &rp->conf->name);

            op->fallback = pool;

            if (ngx_http_confhaven_pg_run(rp, op) != NGX_ERROR) {
                return NGX_AGAIN;
            }

            /* its queue is full: the primary may have room */
            op->fallback = NULL;
            op->message.len = 0;
        }

        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, op->log ? op->log : pool->log, 0,
                       "confhaven pg: read on the primary");
    }

    return ngx_http_confhaven_pg_run(pool, op);
}


/*
 * The least busy usable replica, or NULL: read from the primary.  Ties
 * go round the list, so that an idle set of replicas shares the reads.
 */

static ngx_http_confhaven_pg_pool_t *
ngx_http_confhaven_pg_pick(ngx_http_confhaven_pg_pool_t *pool)
{
    uint64_t                       lsn;
    ngx_uint_t                     k, load, best_load;
    ngx_queue_t                   *q;
    ngx_http_confhaven_pg_pool_t  *rp, *best;

    lsn = ngx_http_confhaven_pg_shared_lsn(pool, 0);

    best = NULL;
    best_load = NGX_MAX_UINT32_VALUE;

    for (k = 0; k < pool->nreplicas; k++) {
        rp = pool->replicas[(pool->next + k) % pool->nreplicas];

        if (rp->state != NGX_HTTP_CONFHAVEN_PG_REPLICA_OK
            || rp->lag + (ngx_current_msec - rp->checked)
               > pool->conf->replica_max_lag)
        {
            continue;
        }

        if (rp->replay_lsn < lsn) {
            /*
             * Behind the last write as far as we know: it has most likely
             * replayed it by now, so look again soon rather than at the
             * next regular check.
             */

            if (rp->check.owner == NULL && rp->poll.timer_set
                && ngx_current_msec - rp->checked
                   >= NGX_HTTP_CONFHAVEN_PG_RECHECK)
            {
                ngx_del_timer(&rp->poll);
                ngx_add_timer(&rp->poll, 1);
            }

            continue;
        }

        if (rp->down
            && (ngx_msec_int_t) (rp->retry_at - ngx_current_msec) > 0)
        {
            continue;
        }

        /* connections running a query, and reads waiting for one */

        load = rp->nconns + rp->nwaiters;

        for (q = ngx_queue_head(&rp->idle);
             q != ngx_queue_sentinel(&rp->idle);
             q = ngx_queue_next(q))
        {
            load--;
        }

        if (load < best_load) {
            best = rp;
            best_load = load;
        }
    }

    pool->next++;

    return best;
}


static ngx_int_t
ngx_http_confhaven_pg_run(ngx_http_confhaven_pg_pool_t *pool,
    ngx_http_confhaven_pg_op_t *op)
{
    op->owner = pool;
    op->status = NGX_HTTP_CONFHAVEN_PG_OK;
    op->start = ngx_current_msec;

    if (op->log == NULL) {
        op->log = pool->log;
    }

    /*
     * Waiters served by connections being opened (or that may still be
     * opened) do not count against confhaven_pg_queue_size: it bounds
     * only those that wait for a busy connection to become free.
     */

    if (ngx_queue_empty(&pool->idle)
        && pool->nwaiters >= pool->conf->queue_size + pool->nconnecting
                             + (pool->conf->pool_size - pool->nconns))
    {
        ngx_http_confhaven_pg_set_error(op,
                                  "too many requests are waiting for "
                                  "a database connection");
        op->status = NGX_HTTP_CONFHAVEN_PG_BUSY;
        return NGX_ERROR;
    }

    if (pool->nconns == 0 && pool->down
        && (ngx_msec_int_t) (pool->retry_at - ngx_current_msec) > 0)
    {
        /* the server is down and we are backing off: fail fast */
        op->status = NGX_HTTP_CONFHAVEN_PG_UNAVAILABLE;
        ngx_http_confhaven_pg_copy(op->pool, &op->message,
                                   (char *) pool->last_error,
                                   pool->last_error_len);
        return NGX_ERROR;
    }

    ngx_queue_insert_tail(&pool->waiters, &op->queue);
    op->queued = 1;
    pool->nwaiters++;

    ngx_memzero(&op->wait, sizeof(ngx_event_t));
    op->wait.handler = ngx_http_confhaven_pg_wait_handler;
    op->wait.data = op;
    op->wait.log = op->log;
    ngx_add_timer(&op->wait, pool->conf->queue_timeout);

    ngx_http_confhaven_pg_dispatch(pool);

    return NGX_AGAIN;
}


void
ngx_http_confhaven_pg_cancel(ngx_http_confhaven_pg_op_t *op)
{
    if (op->owner == NULL) {
        return;
    }

    if (op->wait.timer_set) {
        ngx_del_timer(&op->wait);
    }

    if (op->queued) {
        ngx_queue_remove(&op->queue);
        op->queued = 0;
        op->owner->nwaiters--;
    }

    if (op->conn) {
        /* the query runs on; its result is read and dropped */
        op->conn->op = NULL;
        op->conn = NULL;
    }

    op->owner = NULL;
    op->fallback = NULL;
}


static void
ngx_http_confhaven_pg_dispatch(ngx_http_confhaven_pg_pool_t *pool)
{
    ngx_uint_t                     want;
    ngx_queue_t                   *q;
    ngx_http_confhaven_pg_op_t    *op;
    ngx_http_confhaven_pg_conn_t  *pc;

    while (!ngx_queue_empty(&pool->waiters) && !ngx_queue_empty(&pool->idle)) {

        q = ngx_queue_head(&pool->waiters);
        ngx_queue_remove(q);
        op = ngx_queue_data(q, ngx_http_confhaven_pg_op_t, queue);
        op->queued = 0;
        pool->nwaiters--;

        q = ngx_queue_head(&pool->idle);
        ngx_queue_remove(q);
        pc = ngx_queue_data(q, ngx_http_confhaven_pg_conn_t, queue);

        /*
         * It slept in the pool, even if it never ran a query (opened for
         * a waiter that another connection served): the server may have
         * dropped it meanwhile, so a failure is worth one retry.
         */
        pc->reused = 1;

        ngx_http_confhaven_pg_send(pc, op);
    }

    if (ngx_queue_empty(&pool->waiters)) {
        return;
    }

    if (pool->down
        && (ngx_msec_int_t) (pool->retry_at - ngx_current_msec) > 0)
    {
        if (pool->nconns == 0) {
            /* nothing will free up: tell the waiters now */
            ngx_http_confhaven_pg_fail_waiters(pool);

        } else if (!pool->retry.timer_set) {
            ngx_add_timer(&pool->retry,
                          pool->retry_at - ngx_current_msec);
        }

        return;
    }

    want = pool->nwaiters > pool->nconnecting
           ? pool->nwaiters - pool->nconnecting : 0;

    while (want-- && pool->nconns < pool->conf->pool_size) {
        if (ngx_http_confhaven_pg_connect(pool) != NGX_OK) {
            /* connect() failed synchronously; waiters were told */
            return;
        }
    }
}


static ngx_int_t
ngx_http_confhaven_pg_connect(ngx_http_confhaven_pg_pool_t *pool)
{
    ngx_queue_t                   *q;
    ngx_http_confhaven_pg_conn_t  *pc;

    if (!ngx_queue_empty(&pool->free)) {
        q = ngx_queue_head(&pool->free);
        ngx_queue_remove(q);
        pc = ngx_queue_data(q, ngx_http_confhaven_pg_conn_t, queue);
        ngx_memzero(pc, sizeof(ngx_http_confhaven_pg_conn_t));

    } else {
        pc = ngx_pcalloc(pool->mem, sizeof(ngx_http_confhaven_pg_conn_t));
        if (pc == NULL) {
            return NGX_ERROR;
        }
    }

    pc->pool = pool;
    pc->state = ngx_http_confhaven_pg_connecting;
    pc->timer.handler = ngx_http_confhaven_pg_timer_handler;
    pc->timer.data = pc;
    pc->timer.log = pool->log;

    pc->pgconn = PQconnectStartParams(pool->conf->keywords,
                                      pool->conf->values, 0);

    if (pc->pgconn == NULL || PQstatus(pc->pgconn) == CONNECTION_BAD) {
        ngx_http_confhaven_pg_remember(pool, pc->pgconn
                                       ? PQerrorMessage(pc->pgconn)
                                       : "out of memory");
        ngx_log_error(NGX_LOG_ERR, pool->log, 0,
                      "confhaven pg: connect failed: %s", pool->last_error);

        if (pc->pgconn) {
            PQfinish(pc->pgconn);
        }

        ngx_queue_insert_tail(&pool->free, &pc->queue);

        ngx_http_confhaven_pg_backoff(pool);

        if (pool->nconns == 0) {
            ngx_http_confhaven_pg_fail_waiters(pool);
        }

        return NGX_ERROR;
    }

    pool->nconns++;
    pool->nconnecting++;

    if (PQsetnonblocking(pc->pgconn, 1) == -1
        || ngx_http_confhaven_pg_attach(pc) != NGX_OK)
    {
        ngx_http_confhaven_pg_fail(pc, NGX_HTTP_CONFHAVEN_PG_UNAVAILABLE,
                                   "cannot register the connection");
        return NGX_ERROR;
    }

    ngx_add_timer(&pc->timer, pool->conf->connect_timeout);

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, pool->log, 0,
                   "confhaven pg: connecting, %ui connections",
                   pool->nconns);

    ngx_http_confhaven_pg_poll_connect(pc);

    return NGX_OK;
}


static ngx_int_t
ngx_http_confhaven_pg_attach(ngx_http_confhaven_pg_conn_t *pc)
{
    int                fd;
    ngx_connection_t  *c;

    fd = PQsocket(pc->pgconn);
    if (fd == -1) {
        return NGX_ERROR;
    }

    c = ngx_get_connection(fd, pc->pool->log);
    if (c == NULL) {
        return NGX_ERROR;
    }

    c->data = pc;
    c->read->handler = ngx_http_confhaven_pg_event_handler;
    c->write->handler = ngx_http_confhaven_pg_event_handler;
    c->read->log = pc->pool->log;
    c->write->log = pc->pool->log;
    c->log_error = NGX_ERROR_ERR;
    c->shared = 1;      /* libpq owns the descriptor */

    pc->c = c;

    /* level-triggered: libpq may leave bytes in the socket */
    if (ngx_add_event(c->read, NGX_READ_EVENT, NGX_LEVEL_EVENT) != NGX_OK) {
        pc->c = NULL;
        ngx_free_connection(c);
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_http_confhaven_pg_detach(ngx_http_confhaven_pg_conn_t *pc,
    ngx_uint_t closed)
{
    ngx_uint_t         flags;
    ngx_connection_t  *c;

    c = pc->c;
    if (c == NULL) {
        return;
    }

    /*
     * When libpq has already closed the descriptor, epoll forgot it too:
     * NGX_CLOSE_EVENT only clears nginx's flags.
     */
    flags = closed ? NGX_CLOSE_EVENT : 0;

    if (c->read->active) {
        ngx_del_event(c->read, NGX_READ_EVENT, flags);
    }

    if (c->write->active) {
        ngx_del_event(c->write, NGX_WRITE_EVENT, flags);
    }

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    ngx_free_connection(c);
    c->fd = (ngx_socket_t) -1;
    pc->c = NULL;
}


static void
ngx_http_confhaven_pg_event_handler(ngx_event_t *ev)
{
    ngx_connection_t              *c;
    ngx_http_confhaven_pg_conn_t  *pc;

    c = ev->data;
    pc = c->data;

    switch (pc->state) {

    case ngx_http_confhaven_pg_connecting:
        ngx_http_confhaven_pg_poll_connect(pc);
        break;

    case ngx_http_confhaven_pg_busy:
        ngx_http_confhaven_pg_process(pc);
        break;

    default: /* idle */
        if (ev->write) {
            (void) ngx_http_confhaven_pg_write_event(pc, 0);
            break;
        }

        ngx_http_confhaven_pg_read_idle(pc);
        break;
    }
}


static void
ngx_http_confhaven_pg_poll_connect(ngx_http_confhaven_pg_conn_t *pc)
{
    PostgresPollingStatusType      rc;
    ngx_http_confhaven_pg_pool_t  *pool;

    pool = pc->pool;

    for ( ;; ) {
        rc = PQconnectPoll(pc->pgconn);

        if (pc->c && PQsocket(pc->pgconn) != pc->c->fd) {
            /* libpq moved to another socket (next address, SSL retry) */
            ngx_http_confhaven_pg_detach(pc, 1);
        }

        if (pc->c == NULL && rc != PGRES_POLLING_FAILED) {
            if (ngx_http_confhaven_pg_attach(pc) != NGX_OK) {
                ngx_http_confhaven_pg_fail(pc,
                                           NGX_HTTP_CONFHAVEN_PG_UNAVAILABLE,
                                           "cannot register the connection");
                return;
            }
        }

        switch (rc) {

        case PGRES_POLLING_READING:
            (void) ngx_http_confhaven_pg_write_event(pc, 0);
            return;

        case PGRES_POLLING_WRITING:
            if (ngx_http_confhaven_pg_write_event(pc, 1) != NGX_OK) {
                ngx_http_confhaven_pg_fail(pc,
                                           NGX_HTTP_CONFHAVEN_PG_UNAVAILABLE,
                                           "cannot wait for the socket");
            }
            return;

        case PGRES_POLLING_OK:
            break;

        default:
            ngx_http_confhaven_pg_remember(pool, PQerrorMessage(pc->pgconn));
            ngx_log_error(NGX_LOG_ERR, pool->log, 0,
                          "confhaven pg: connect failed: %s",
                          pool->last_error);
            ngx_http_confhaven_pg_backoff(pool);
            ngx_http_confhaven_pg_fail(pc, NGX_HTTP_CONFHAVEN_PG_UNAVAILABLE,
                                       NULL);
            return;
        }

        break;
    }

    if (pc->timer.timer_set) {
        ngx_del_timer(&pc->timer);
    }

    pool->nconnecting--;
    pool->down = 0;
    pool->backoff = 0;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, pool->log, 0,
                   "confhaven pg: connected, server %d",
                   PQserverVersion(pc->pgconn));

    ngx_http_confhaven_pg_keep(pc);
}


/* the server refused or vanished: wait longer before the next attempt */

static void
ngx_http_confhaven_pg_backoff(ngx_http_confhaven_pg_pool_t *pool)
{
    ngx_http_confhaven_metrics_inc(
                              NGX_HTTP_CONFHAVEN_METRIC_PG_CONNECT_FAILURES);

    pool->down = 1;
    pool->backoff = ngx_max(pool->backoff * 2,
                            NGX_HTTP_CONFHAVEN_PG_BACKOFF_MIN);
    pool->backoff = ngx_min(pool->backoff, NGX_HTTP_CONFHAVEN_PG_BACKOFF_MAX);
    pool->retry_at = ngx_current_msec + pool->backoff;
}


/* no connection left and none may be opened yet: tell every waiter */

static void
ngx_http_confhaven_pg_fail_waiters(ngx_http_confhaven_pg_pool_t *pool)
{
    ngx_queue_t                 *q;
    ngx_http_confhaven_pg_op_t  *op;

    while (!ngx_queue_empty(&pool->waiters)) {
        q = ngx_queue_head(&pool->waiters);
        op = ngx_queue_data(q, ngx_http_confhaven_pg_op_t, queue);
        ngx_http_confhaven_pg_copy(op->pool, &op->message,
                                   (char *) pool->last_error,
                                   pool->last_error_len);
        ngx_http_confhaven_pg_complete(op, NGX_HTTP_CONFHAVEN_PG_UNAVAILABLE);
    }
}


static void
ngx_http_confhaven_pg_keep(ngx_http_confhaven_pg_conn_t *pc)
{
    ngx_http_confhaven_pg_pool_t  *pool;

    pool = pc->pool;

    (void) ngx_http_confhaven_pg_write_event(pc, 0);

    pc->state = ngx_http_confhaven_pg_idle;
    pc->op = NULL;

    if (pc->timer.timer_set) {
        ngx_del_timer(&pc->timer);
    }

    if (!ngx_queue_empty(&pool->waiters)) {
        ngx_queue_insert_head(&pool->idle, &pc->queue);
        ngx_http_confhaven_pg_dispatch(pool);
        return;
    }

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        /* an old worker after a reload: nobody will reuse it */
        ngx_http_confhaven_pg_close(pc, NULL);
        return;
    }

    ngx_queue_insert_head(&pool->idle, &pc->queue);

    /*
     * Only the idle timer is cancelable: a worker that is shutting down
     * must wait for queries in flight, not for idle connections.
     */
    pc->timer.cancelable = 1;
    ngx_add_timer(&pc->timer, pool->conf->keepalive_timeout);
}


static void
ngx_http_confhaven_pg_send(ngx_http_confhaven_pg_conn_t *pc,
    ngx_http_confhaven_pg_op_t *op)
{
    int  rc;

    if (op->wait.timer_set) {
        ngx_del_timer(&op->wait);
    }

    if (pc->timer.timer_set) {
        ngx_del_timer(&pc->timer);
    }

    pc->state = ngx_http_confhaven_pg_busy;
    pc->op = op;
    op->conn = pc;
    op->got_result = 0;
    op->got_null = 0;
    op->start = ngx_current_msec;

    /* a write (any op not marked a read) on a primary with replicas */
    pc->lsn_needed = (pc->pool->nreplicas && !op->replica);

    pc->c->log->action = "sending query to PostgreSQL";

    if (op->timeout) {
        /* a longer (or shorter) limit for this statement only */
        u_char  set[64];

        *ngx_sprintf(set, "SET statement_timeout = %M", op->timeout) = '\0';

        pc->stage = ngx_http_confhaven_pg_stage_setup;
        pc->reset_needed = 1;
        rc = PQsendQuery(pc->pgconn, (char *) set);

    } else {
        pc->stage = ngx_http_confhaven_pg_stage_main;
        rc = PQsendQueryParams(pc->pgconn, op->sql, (int) op->nparams, NULL,
                               op->values, NULL, NULL, 0);
    }

    if (rc == 0) {
        ngx_http_confhaven_pg_fail(pc, NGX_HTTP_CONFHAVEN_PG_UNAVAILABLE,
                                   PQerrorMessage(pc->pgconn));
        return;
    }

    pc->timer.cancelable = 0;
    ngx_add_timer(&pc->timer, (op->timeout ? op->timeout
                                           : pc->pool->conf->statement_timeout)
                              + NGX_HTTP_CONFHAVEN_PG_GRACE);

    pc->flushing = 1;
    ngx_http_confhaven_pg_process(pc);
}


static void
ngx_http_confhaven_pg_process(ngx_http_confhaven_pg_conn_t *pc)
{
    int                          rc;
    PGresult                    *res;
    ngx_http_confhaven_pg_op_t  *op;

    if (pc->flushing) {
        rc = PQflush(pc->pgconn);

        if (rc == -1) {
            ngx_http_confhaven_pg_fail(pc, NGX_HTTP_CONFHAVEN_PG_UNAVAILABLE,
                                       PQerrorMessage(pc->pgconn));
            return;
        }

        if (rc == 1) {
            if (ngx_http_confhaven_pg_write_event(pc, 1) != NGX_OK) {
                ngx_http_confhaven_pg_fail(pc,
                                           NGX_HTTP_CONFHAVEN_PG_UNAVAILABLE,
                                           "cannot wait for the socket");
            }
            return;
        }

        pc->flushing = 0;
        (void) ngx_http_confhaven_pg_write_event(pc, 0);
        pc->c->log->action = "reading result from PostgreSQL";
    }

    if (!PQconsumeInput(pc->pgconn)) {
        ngx_http_confhaven_pg_fail(pc, NGX_HTTP_CONFHAVEN_PG_UNAVAILABLE,
                                   PQerrorMessage(pc->pgconn));
        return;
    }

    while (!PQisBusy(pc->pgconn)) {
        res = PQgetResult(pc->pgconn);

        if (res == NULL) {
            op = pc->op;

            if (PQstatus(pc->pgconn) == CONNECTION_BAD) {
                ngx_http_confhaven_pg_fail(pc,
                                           NGX_HTTP_CONFHAVEN_PG_UNAVAILABLE,
                                           PQerrorMessage(pc->pgconn));
                return;
            }

            if (op && op->status == NGX_HTTP_CONFHAVEN_PG_SQL_ERROR
                && op->sqlstate.len == 5
                && (ngx_strncmp(op->sqlstate.data, "57P", 3) == 0
                    || ngx_strncmp(op->sqlstate.data, "08", 2) == 0))
            {
                /* the server is shutting this session down */
                ngx_http_confhaven_pg_fail(pc,
                                           NGX_HTTP_CONFHAVEN_PG_UNAVAILABLE,
                                           (char *) op->message.data);
                return;
            }

            if (pc->stage != ngx_http_confhaven_pg_stage_main
                || pc->reset_needed || pc->lsn_needed)
            {
                switch (ngx_http_confhaven_pg_next(pc)) {

                case NGX_AGAIN:
                    /* the next statement of this op is on its way */
                    goto again;

                case NGX_ERROR:
                    return;

                default: /* NGX_DONE: the connection is free again */
                    break;
                }

                op = pc->op;
            }

            pc->reused = 1;
            pc->op = NULL;

            if (op) {
                op->conn = NULL;
                ngx_http_confhaven_pg_complete(op, op->status);
            }

            ngx_http_confhaven_pg_keep(pc);
            return;
        }

        if (pc->stage == ngx_http_confhaven_pg_stage_lsn) {
            if (PQresultStatus(res) == PGRES_TUPLES_OK
                && PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
            {
                (void) ngx_http_confhaven_pg_shared_lsn(pc->pool,
                           ngx_http_confhaven_pg_parse_lsn(
                               (u_char *) PQgetvalue(res, 0, 0),
                               PQgetlength(res, 0, 0)));

            } else {
                ngx_log_error(NGX_LOG_WARN, pc->pool->log, 0,
                              "confhaven pg: the primary's WAL position "
                              "is unknown: %s",
                              PQresultErrorMessage(res));
            }

            PQclear(res);
            continue;
        }

        if (pc->op && !pc->op->got_result
            && (pc->stage == ngx_http_confhaven_pg_stage_main
                || PQresultStatus(res) != PGRES_COMMAND_OK))
        {
            ngx_http_confhaven_pg_save_result(pc->op, res);
        }

        PQclear(res);
    }

    return;

again:

    pc->flushing = 1;
    ngx_http_confhaven_pg_process(pc);
}


/*
 * The statement in progress finished and the op had its own timeout:
 * after SET comes the op's query, after the query a RESET (the answer
 * goes out at once; the connection is reused once RESET is done).
 * NGX_AGAIN: another statement was sent; NGX_DONE: answer the op (if
 * any) now; NGX_ERROR: the connection was dropped.
 */

static ngx_int_t
ngx_http_confhaven_pg_next(ngx_http_confhaven_pg_conn_t *pc)
{
    int                          rc;
    ngx_http_confhaven_pg_op_t  *op;

    op = pc->op;

    switch (pc->stage) {

    case ngx_http_confhaven_pg_stage_setup:
        if (op && op->got_result) {
            /* SET failed: nothing changed on the server */
            pc->stage = ngx_http_confhaven_pg_stage_main;
            pc->reset_needed = 0;
            pc->lsn_needed = 0;
            return NGX_DONE;
        }

        if (op == NULL) {
            /* cancelled meanwhile: only undo the SET */
            pc->stage = ngx_http_confhaven_pg_stage_reset;
            pc->reset_needed = 0;
            rc = PQsendQuery(pc->pgconn, "RESET statement_timeout");

        } else {
            pc->stage = ngx_http_confhaven_pg_stage_main;
            rc = PQsendQueryParams(pc->pgconn, op->sql, (int) op->nparams,
                                   NULL, op->values, NULL, NULL, 0);
        }

        break;

    case ngx_http_confhaven_pg_stage_main:
        if (pc->lsn_needed) {
            pc->lsn_needed = 0;

            /* a statement that failed wrote nothing */
            if (op == NULL || op->status == NGX_HTTP_CONFHAVEN_PG_OK) {
                pc->stage = ngx_http_confhaven_pg_stage_lsn;
                rc = PQsendQuery(pc->pgconn,
                                 "SELECT pg_current_wal_insert_lsn()::text");
                break;
            }
        }

        /* fall through */

    case ngx_http_confhaven_pg_stage_lsn:
        if (!pc->reset_needed) {
            pc->stage = ngx_http_confhaven_pg_stage_main;
            return NGX_DONE;
        }

        pc->stage = ngx_http_confhaven_pg_stage_reset;
        pc->reset_needed = 0;
        rc = PQsendQuery(pc->pgconn, "RESET statement_timeout");

        if (rc != 0 && op) {
            /* answer now; RESET runs while the client reads */
            pc->op = NULL;
            op->conn = NULL;
            pc->flushing = 1;
            ngx_http_confhaven_pg_complete(op, op->status);

            /* the connection may have been dropped meanwhile */
            if (pc->state != ngx_http_confhaven_pg_busy) {
                return NGX_ERROR;
            }

            ngx_http_confhaven_pg_process(pc);
            return NGX_ERROR;
        }

        break;

    default: /* reset done */
        pc->stage = ngx_http_confhaven_pg_stage_main;
        return NGX_DONE;
    }

    if (rc == 0) {
        ngx_http_confhaven_pg_fail(pc, NGX_HTTP_CONFHAVEN_PG_UNAVAILABLE,
                                   PQerrorMessage(pc->pgconn));
        return NGX_ERROR;
    }

    return NGX_AGAIN;
}


static void
ngx_http_confhaven_pg_save_result(ngx_http_confhaven_pg_op_t *op,
    PGresult *res)
{
    char           *f;
    ExecStatusType  st;

    op->got_result = 1;
    st = PQresultStatus(res);

    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
        op->status = NGX_HTTP_CONFHAVEN_PG_OK;

        if (PQntuples(res) < 1 || PQnfields(res) < 1
            || PQgetisnull(res, 0, 0))
        {
            op->got_null = 1;
            return;
        }

        if (ngx_http_confhaven_pg_copy(op->pool, &op->value,
                                       PQgetvalue(res, 0, 0),
                                       PQgetlength(res, 0, 0))
            != NGX_OK)
        {
            ngx_http_confhaven_pg_set_error(op, "out of memory");
            op->status = NGX_HTTP_CONFHAVEN_PG_UNAVAILABLE;
            return;
        }

        if (PQnfields(res) > 1 && !PQgetisnull(res, 0, 1)) {
            (void) ngx_http_confhaven_pg_copy(op->pool, &op->value2,
                                              PQgetvalue(res, 0, 1),
                                              PQgetlength(res, 0, 1));
        }

        if (PQnfields(res) > 2 && !PQgetisnull(res, 0, 2)) {
            (void) ngx_http_confhaven_pg_copy(op->pool, &op->value3,
                                              PQgetvalue(res, 0, 2),
                                              PQgetlength(res, 0, 2));
        }

        return;
    }

    op->status = NGX_HTTP_CONFHAVEN_PG_SQL_ERROR;

    f = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    if (f) {
        (void) ngx_http_confhaven_pg_copy(op->pool, &op->sqlstate, f,
                                          ngx_strlen(f));
    }

    f = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    if (f == NULL) {
        f = PQresultErrorMessage(res);
    }

    (void) ngx_http_confhaven_pg_copy(op->pool, &op->message, f,
                                      ngx_strlen(f));

    f = PQresultErrorField(res, PG_DIAG_MESSAGE_HINT);
    if (f) {
        (void) ngx_http_confhaven_pg_copy(op->pool, &op->hint, f,
                                          ngx_strlen(f));
    }

    f = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
    if (f) {
        (void) ngx_http_confhaven_pg_copy(op->pool, &op->detail, f,
                                          ngx_strlen(f));
    }
}


static void
ngx_http_confhaven_pg_read_idle(ngx_http_confhaven_pg_conn_t *pc)
{
    PGnotify  *n;

    /* an idle connection only becomes readable when the server talks */

    if (!PQconsumeInput(pc->pgconn)
        || PQstatus(pc->pgconn) == CONNECTION_BAD)
    {
        ngx_log_error(NGX_LOG_WARN, pc->pool->log, 0,
                      "confhaven pg: idle connection lost: %s",
                      PQerrorMessage(pc->pgconn));
        ngx_queue_remove(&pc->queue);
        ngx_http_confhaven_pg_close(pc, NULL);
        return;
    }

    while ((n = PQnotifies(pc->pgconn)) != NULL) {
        PQfreemem(n);
    }
}


/*
 * A connection that slept in the pool turned out dead: the server
 * restarted or terminated backends, and its idle siblings are most likely
 * gone too, even if their goodbye has not arrived yet.  They are dropped,
 * so that the retry gets a fresh connection rather than another corpse.
 */

static void
ngx_http_confhaven_pg_sweep(ngx_http_confhaven_pg_pool_t *pool)
{
    ngx_queue_t                   *q;
    ngx_http_confhaven_pg_conn_t  *pc;

    while (!ngx_queue_empty(&pool->idle)) {
        q = ngx_queue_head(&pool->idle);
        ngx_queue_remove(q);
        pc = ngx_queue_data(q, ngx_http_confhaven_pg_conn_t, queue);

        ngx_http_confhaven_pg_close(pc, "a sibling connection was lost");
    }
}


static void
ngx_http_confhaven_pg_timer_handler(ngx_event_t *ev)
{
    ngx_http_confhaven_pg_conn_t  *pc;

    pc = ev->data;

    switch (pc->state) {

    case ngx_http_confhaven_pg_connecting:
        ngx_http_confhaven_pg_remember(pc->pool, "connection timed out");
        ngx_log_error(NGX_LOG_ERR, pc->pool->log, 0,
                      "confhaven pg: connect timed out");
        ngx_http_confhaven_pg_backoff(pc->pool);
        ngx_http_confhaven_pg_fail(pc, NGX_HTTP_CONFHAVEN_PG_UNAVAILABLE,
                                   NULL);
        break;

    case ngx_http_confhaven_pg_busy:
        ngx_log_error(NGX_LOG_ERR, pc->pool->log, 0,
                      "confhaven pg: no answer within the statement "
                      "timeout, closing the connection");
        ngx_http_confhaven_pg_fail(pc, NGX_HTTP_CONFHAVEN_PG_TIMEOUT,
                                   "the database did not answer in time");
        break;

    default:
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, pc->pool->log, 0,
                       "confhaven pg: closing idle connection");
        ngx_queue_remove(&pc->queue);
        ngx_http_confhaven_pg_close(pc, NULL);
        break;
    }
}


static void
ngx_http_confhaven_pg_retry_handler(ngx_event_t *ev)
{
    ngx_http_confhaven_pg_dispatch(ev->data);
}


static void
ngx_http_confhaven_pg_wait_handler(ngx_event_t *ev)
{
    ngx_http_confhaven_pg_op_t  *op;

    op = ev->data;

    ngx_log_error(NGX_LOG_WARN, op->log, 0,
                  "confhaven pg: no connection became free in time");

    ngx_http_confhaven_pg_set_error(op, "all database connections are busy");
    ngx_http_confhaven_pg_complete(op, NGX_HTTP_CONFHAVEN_PG_BUSY);
}


/*
 * Fail the query running on pc (if any) and drop the connection.  A query
 * that failed on a connection reused from the idle list is retried once:
 * the server may have restarted while the connection slept.
 */

static void
ngx_http_confhaven_pg_fail(ngx_http_confhaven_pg_conn_t *pc,
    ngx_uint_t status, const char *why)
{
    ngx_uint_t                     reused;
    ngx_http_confhaven_pg_op_t    *op;
    ngx_http_confhaven_pg_pool_t  *pool;

    pool = pc->pool;
    op = pc->op;
    reused = pc->reused;

    if (why == NULL) {
        why = (const char *) pool->last_error;
    }

    if (op) {
        op->conn = NULL;
        ngx_http_confhaven_pg_set_error(op, why);
    }

    if (pc->state == ngx_http_confhaven_pg_connecting) {
        pool->nconnecting--;
    }

    ngx_http_confhaven_pg_close(pc, why);

    if (op == NULL) {
        ngx_http_confhaven_pg_dispatch(pool);
        return;
    }

    if (status == NGX_HTTP_CONFHAVEN_PG_UNAVAILABLE && reused
        && !op->retried)
    {
        /* its idle siblings have likely been cut off by the same event */
        ngx_http_confhaven_pg_sweep(pool);

        ngx_log_error(NGX_LOG_WARN, op->log, 0,
                      "confhaven pg: retrying on a new connection");
        op->retried = 1;
        op->message.len = 0;
        op->sqlstate.len = 0;
        op->hint.len = 0;
        op->detail.len = 0;
        op->status = NGX_HTTP_CONFHAVEN_PG_OK;
        ngx_queue_insert_head(&pool->waiters, &op->queue);
        op->queued = 1;
        pool->nwaiters++;
        ngx_add_timer(&op->wait, pool->conf->queue_timeout);
        ngx_http_confhaven_pg_dispatch(pool);
        return;
    }

    ngx_http_confhaven_pg_complete(op, status);
    ngx_http_confhaven_pg_dispatch(pool);
}


static void
ngx_http_confhaven_pg_close(ngx_http_confhaven_pg_conn_t *pc,
    const char *why)
{
    ngx_http_confhaven_pg_pool_t  *pool;

    pool = pc->pool;

    if (pc->timer.timer_set) {
        ngx_del_timer(&pc->timer);
    }

    if (why) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, pool->log, 0,
                       "confhaven pg: closing connection: %s", why);
    }

    /* PQfinish() closes the descriptor; nginx must only forget it */
    ngx_http_confhaven_pg_detach(pc, 1);

    if (pc->pgconn) {
        PQfinish(pc->pgconn);
        pc->pgconn = NULL;
    }

    pool->nconns--;
    ngx_queue_insert_tail(&pool->free, &pc->queue);
}


static void
ngx_http_confhaven_pg_complete(ngx_http_confhaven_pg_op_t *op,
    ngx_uint_t status)
{
    ngx_http_confhaven_pg_pool_t  *pool;

    pool = op->owner;

    if (op->wait.timer_set) {
        ngx_del_timer(&op->wait);
    }

    if (op->queued) {
        ngx_queue_remove(&op->queue);
        op->queued = 0;
        pool->nwaiters--;
    }

    if (op->conn) {
        op->conn->op = NULL;
        op->conn = NULL;
    }

    op->status = status;

    if (op->fallback && ngx_http_confhaven_pg_failover(op)) {
        /* the read runs again on the primary */
        return;
    }

    op->elapsed = ngx_current_msec - op->start;
    op->owner = NULL;

    op->handler(op);
}


/*
 * A read failed on a replica: the connection (or the server) was lost,
 * a recovery conflict cancelled it, or it tried to write.  It runs again
 * on the primary; 1: it was handed over.
 */

static ngx_uint_t
ngx_http_confhaven_pg_failover(ngx_http_confhaven_pg_op_t *op)
{
    ngx_str_t                     *st;
    ngx_http_confhaven_pg_pool_t  *rp, *primary;

    rp = op->owner;
    primary = op->fallback;
    op->fallback = NULL;
    st = &op->sqlstate;

    if (op->status == NGX_HTTP_CONFHAVEN_PG_UNAVAILABLE) {
        ngx_http_confhaven_pg_replica_state(rp,
                                        NGX_HTTP_CONFHAVEN_PG_REPLICA_SKIPPED,
                                        "a read failed", &op->message);

    } else if (op->status == NGX_HTTP_CONFHAVEN_PG_SQL_ERROR
               && st->len == 5
               && (ngx_strncmp(st->data, "40001", 5) == 0
                   || ngx_strncmp(st->data, "25006", 5) == 0))
    {
        ngx_log_error(NGX_LOG_WARN, op->log, 0,
                      "confhaven pg: a read on replica \"%V\" failed "
                      "(%V), running it on the primary",
                      &rp->conf->name, &op->message);

    } else {
        return 0;
    }

    op->owner = NULL;
    op->status = NGX_HTTP_CONFHAVEN_PG_OK;
    op->retried = 0;
    op->got_result = 0;
    op->got_null = 0;
    op->value.len = 0;
    op->value2.len = 0;
    op->value3.len = 0;
    op->sqlstate.len = 0;
    op->message.len = 0;
    op->hint.len = 0;

    if (ngx_http_confhaven_pg_run(primary, op) != NGX_ERROR) {
        return 1;
    }

    /* the primary refused at once: op->status says why */
    op->owner = primary;

    return 0;
}


/* every NGX_HTTP_CONFHAVEN_PG_CHECK ms: how far has the replica got */

static void
ngx_http_confhaven_pg_poll_handler(ngx_event_t *ev)
{
    ngx_http_confhaven_pg_op_t    *op;
    ngx_http_confhaven_pg_pool_t  *rp;

    rp = ev->data;
    op = &rp->check;

    if (op->owner) {
        /* the last check still waits for a connection */
        return;
    }

    ngx_reset_pool(rp->check_mem);
    ngx_memzero(op, sizeof(ngx_http_confhaven_pg_op_t));

    op->sql = NGX_HTTP_CONFHAVEN_PG_CHECK_SQL;
    op->handler = ngx_http_confhaven_pg_checked;
    op->data = rp;
    op->pool = rp->check_mem;
    op->log = rp->log;
    op->replica = 1;

    if (ngx_http_confhaven_pg_run(rp, op) == NGX_ERROR) {
        /* backing off, or its queue is full */
        op->owner = rp;
        ngx_http_confhaven_pg_complete(op, op->status);
    }
}


static void
ngx_http_confhaven_pg_checked(ngx_http_confhaven_pg_op_t *op)
{
    ngx_int_t                      lag;
    ngx_str_t                      why;
    ngx_http_confhaven_pg_pool_t  *rp;

    rp = op->data;

    if (op->status != NGX_HTTP_CONFHAVEN_PG_OK) {
        rp->lag = NGX_HTTP_CONFHAVEN_PG_LAG_UNKNOWN;
        ngx_http_confhaven_pg_replica_state(rp,
                                        NGX_HTTP_CONFHAVEN_PG_REPLICA_SKIPPED,
                                        "its check failed", &op->message);
        goto next;
    }

    if (op->got_null) {
        /* pg_last_wal_replay_lsn() is NULL outside recovery */
        ngx_str_set(&why, "the server is not in recovery");
        rp->lag = NGX_HTTP_CONFHAVEN_PG_LAG_UNKNOWN;
        ngx_http_confhaven_pg_replica_state(rp,
                                        NGX_HTTP_CONFHAVEN_PG_REPLICA_SKIPPED,
                                        "it is not a replica", &why);
        goto next;
    }

    lag = ngx_atoi(op->value2.data, op->value2.len);

    rp->replay_lsn = ngx_http_confhaven_pg_parse_lsn(op->value.data,
                                                     op->value.len);
    rp->lag = (lag == NGX_ERROR) ? NGX_HTTP_CONFHAVEN_PG_LAG_UNKNOWN
                                 : (ngx_msec_t) lag;
    rp->checked = ngx_current_msec;

    if (rp->lag > rp->primary->conf->replica_max_lag) {
        ngx_str_set(&why, "beyond confhaven_pg_replica_max_lag");
        ngx_http_confhaven_pg_replica_state(rp,
                                        NGX_HTTP_CONFHAVEN_PG_REPLICA_SKIPPED,
                                        "it lags", &why);

    } else {
        ngx_http_confhaven_pg_replica_state(rp,
                                        NGX_HTTP_CONFHAVEN_PG_REPLICA_OK,
                                        NULL, NULL);
    }

next:

    if (!(ngx_exiting || ngx_terminate || ngx_quit)) {
        ngx_add_timer(&rp->poll, NGX_HTTP_CONFHAVEN_PG_CHECK);
    }
}


/* logged when it changes: a replica stops or starts serving reads */

static void
ngx_http_confhaven_pg_replica_state(ngx_http_confhaven_pg_pool_t *rp,
    ngx_uint_t state, const char *why, ngx_str_t *detail)
{
    if (rp->state == state) {
        return;
    }

    rp->state = state;

    if (state == NGX_HTTP_CONFHAVEN_PG_REPLICA_OK) {
        ngx_log_error(NGX_LOG_NOTICE, rp->log, 0,
                      "confhaven pg: replica \"%V\" serves reads",
                      &rp->conf->name);
        return;
    }

    ngx_log_error(NGX_LOG_WARN, rp->log, 0,
                  "confhaven pg: replica \"%V\" skipped, %s: %V (lag %M ms)",
                  &rp->conf->name, why, detail, rp->lag);
}


/* "16/B374D848" */

static uint64_t
ngx_http_confhaven_pg_parse_lsn(u_char *p, size_t len)
{
    u_char    *slash, *last;
    ngx_int_t  hi, lo;

    last = p + len;
    slash = ngx_strlchr(p, last, '/');

    if (slash == NULL) {
        return 0;
    }

    hi = ngx_hextoi(p, slash - p);
    lo = ngx_hextoi(slash + 1, last - slash - 1);

    if (hi == NGX_ERROR || lo == NGX_ERROR) {
        return 0;
    }

    return ((uint64_t) hi << 32) | (uint64_t) lo;
}


/*
 * Raises the shared position to lsn (0: only reads it); returns it.
 * The zone exists only with replicas.
 */

static uint64_t
ngx_http_confhaven_pg_shared_lsn(ngx_http_confhaven_pg_pool_t *pool,
    uint64_t lsn)
{
    uint64_t                         v;
    ngx_shm_zone_t                  *zone;
    ngx_slab_pool_t                 *shpool;
    ngx_http_confhaven_pg_shared_t  *sh;

    zone = pool->conf->shm_zone;
    if (zone == NULL || zone->data == NULL) {
        return 0;
    }

    shpool = (ngx_slab_pool_t *) zone->shm.addr;
    sh = zone->data;

    ngx_shmtx_lock(&shpool->mutex);

    if (sh->lsn < lsn) {
        sh->lsn = lsn;
    }

    v = sh->lsn;

    ngx_shmtx_unlock(&shpool->mutex);

    return v;
}


static ngx_int_t
ngx_http_confhaven_pg_shm_init(ngx_shm_zone_t *zone, void *data)
{
    ngx_slab_pool_t                 *shpool;
    ngx_http_confhaven_pg_shared_t  *sh;

    if (data) {
        /* a reload: the position lives on */
        zone->data = data;
        return NGX_OK;
    }

    shpool = (ngx_slab_pool_t *) zone->shm.addr;

    sh = ngx_slab_calloc(shpool, sizeof(ngx_http_confhaven_pg_shared_t));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    zone->data = sh;

    return NGX_OK;
}


static ngx_int_t
ngx_http_confhaven_pg_write_event(ngx_http_confhaven_pg_conn_t *pc,
    ngx_uint_t on)
{
    ngx_event_t  *wev;

    if (pc->c == NULL) {
        return NGX_ERROR;
    }

    wev = pc->c->write;

    if (on && !wev->active) {
        return ngx_add_event(wev, NGX_WRITE_EVENT, NGX_LEVEL_EVENT);
    }

    if (!on && wev->active) {
        return ngx_del_event(wev, NGX_WRITE_EVENT, 0);
    }

    return NGX_OK;
}


static void
ngx_http_confhaven_pg_set_error(ngx_http_confhaven_pg_op_t *op,
    const char *msg)
{
    size_t  len;

    len = ngx_strlen(msg);

    /* libpq's messages end with a newline */
    while (len && (msg[len - 1] == '\n' || msg[len - 1] == ' ')) {
        len--;
    }

    (void) ngx_http_confhaven_pg_copy(op->pool, &op->message, msg, len);
}


static void
ngx_http_confhaven_pg_remember(ngx_http_confhaven_pg_pool_t *pool,
    const char *msg)
{
    size_t  len;

    len = ngx_min(ngx_strlen(msg), sizeof(pool->last_error) - 1);

    while (len && (msg[len - 1] == '\n' || msg[len - 1] == ' ')) {
        len--;
    }

    ngx_memcpy(pool->last_error, msg, len);
    pool->last_error[len] = '\0';
    pool->last_error_len = len;
}


static ngx_int_t
ngx_http_confhaven_pg_copy(ngx_pool_t *p, ngx_str_t *dst, const char *src,
    size_t len)
{
    dst->data = ngx_pnalloc(p, len + 1);
    if (dst->data == NULL) {
        dst->len = 0;
        return NGX_ERROR;
    }

    ngx_memcpy(dst->data, src, len);
    dst->data[len] = '\0';
    dst->len = len;

    return NGX_OK;
}


static char *
ngx_http_confhaven_pg_strdup(ngx_pool_t *p, const char *s)
{
    size_t   len;
    u_char  *d;

    len = ngx_strlen(s);

    d = ngx_pnalloc(p, len + 1);
    if (d == NULL) {
        return NULL;
    }

    ngx_memcpy(d, s, len + 1);

    return (char *) d;
}


/*
 * Configuration time: parse the conninfo with libpq itself, add the
 * password read from a file, the statement timeout and an application
 * name, and resolve a host name now so that the worker's non-blocking
 * connect never waits on DNS.
 */

char *
ngx_http_confhaven_pg_conf_prepare(ngx_conf_t *cf,
    ngx_http_confhaven_pg_conf_t *conf)
{
    ngx_str_t                      name;
    ngx_uint_t                     i;
    ngx_http_confhaven_pg_conf_t  *rcf;

    if (ngx_http_confhaven_pg_conf_server(cf, conf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    if (conf->replicas == NULL || conf->replicas->nelts == 0) {
        return NGX_CONF_OK;
    }

    if (conf->replica_max_lag < 1000) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"confhaven_pg_replica_max_lag\" must be at "
                           "least 1s");
        return NGX_CONF_ERROR;
    }

    /* a replica is reached like the primary: same user, limits, password */

    rcf = conf->replicas->elts;

    for (i = 0; i < conf->replicas->nelts; i++) {
        rcf[i].password = conf->password;
        rcf[i].pool_size = conf->pool_size;
        rcf[i].queue_size = conf->queue_size;
        rcf[i].connect_timeout = conf->connect_timeout;
        rcf[i].statement_timeout = conf->statement_timeout;
        rcf[i].queue_timeout = conf->queue_timeout;
        rcf[i].keepalive_timeout = conf->keepalive_timeout;

        if (ngx_http_confhaven_pg_conf_server(cf, &rcf[i]) != NGX_CONF_OK) {
            return NGX_CONF_ERROR;
        }
    }

    ngx_str_set(&name, "confhaven_pg_lsn");

    conf->shm_zone = ngx_shared_memory_add(cf, &name, 8 * ngx_pagesize,
                                           &ngx_http_confhaven_pg_shm_tag);
    if (conf->shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    conf->shm_zone->init = ngx_http_confhaven_pg_shm_init;

    return NGX_CONF_OK;
}


static char *
ngx_http_confhaven_pg_conf_server(ngx_conf_t *cf,
    ngx_http_confhaven_pg_conf_t *conf)
{
    char                 *err, *host, *options, *port;
    u_char               *p;
    ngx_uint_t            n, i, has_hostaddr, has_appname;
    struct addrinfo       hints, *ai;
    PQconninfoOption     *opts, *o;
    static char           addr[NGX_SOCKADDR_STRLEN + 1];

    err = NULL;
    opts = PQconninfoParse((char *) conf->server.data, &err);
    if (opts == NULL) {
        n = err ? ngx_strlen(err) : 0;

        /* libpq ends its messages with a newline */
        while (n && (err[n - 1] == '\n' || err[n - 1] == ' ')) {
            err[--n] = '\0';
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"confhaven_pg_server\" "
                           "directive: %s", &conf->server,
                           err ? err : "out of memory");
        if (err) {
            PQfreemem(err);
        }
        return NGX_CONF_ERROR;
    }

    n = 0;
    for (o = opts; o->keyword; o++) {
        n++;
    }

    conf->keywords = ngx_pcalloc(cf->pool, (n + 5) * sizeof(char *));
    conf->values = ngx_pcalloc(cf->pool, (n + 5) * sizeof(char *));
    if (conf->keywords == NULL || conf->values == NULL) {
        PQconninfoFree(opts);
        return NGX_CONF_ERROR;
    }

    i = 0;
    host = NULL;
    port = NULL;
    options = NULL;
    has_hostaddr = 0;
    has_appname = 0;

    for (o = opts; o->keyword; o++) {
        if (o->val == NULL || o->val[0] == '\0') {
            continue;
        }

        if (ngx_strcmp(o->keyword, "password") == 0 && conf->password.len) {
            continue;
        }

        if (ngx_strcmp(o->keyword, "options") == 0) {
            options = o->val;
            continue;
        }

        if (ngx_strcmp(o->keyword, "host") == 0) {
            host = o->val;
        }

        if (ngx_strcmp(o->keyword, "hostaddr") == 0) {
            has_hostaddr = 1;

            if (host == NULL) {
                host = o->val;
            }
        }

        if (ngx_strcmp(o->keyword, "port") == 0) {
            port = o->val;
        }

        if (ngx_strcmp(o->keyword, "application_name") == 0) {
            has_appname = 1;
        }

        conf->keywords[i] = ngx_http_confhaven_pg_strdup(cf->pool,
                                                         o->keyword);
        conf->values[i] = ngx_http_confhaven_pg_strdup(cf->pool, o->val);

        if (conf->keywords[i] == NULL || conf->values[i] == NULL) {
            PQconninfoFree(opts);
            return NGX_CONF_ERROR;
        }

        i++;
    }

    /* "host:port" names the server in logs (never the password) */

    n = (host ? ngx_strlen(host) : sizeof("localhost") - 1) + 1
        + (port ? ngx_strlen(port) : sizeof("5432") - 1);

    conf->name.data = ngx_pnalloc(cf->pool, n);
    if (conf->name.data == NULL) {
        PQconninfoFree(opts);
        return NGX_CONF_ERROR;
    }

    conf->name.len = ngx_sprintf(conf->name.data, "%s:%s",
                                 host ? host : "localhost",
                                 port ? port : "5432")
                     - conf->name.data;

    if (host && !has_hostaddr && host[0] != '/' && host[0] != '@'
        && ngx_strchr(host, ',') == NULL)
    {
        ngx_memzero(&hints, sizeof(struct addrinfo));
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;

        if (getaddrinfo(host, NULL, &hints, &ai) != 0 || ai == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "host \"%s\" in \"confhaven_pg_server\" "
                               "could not be resolved", host);
            PQconninfoFree(opts);
            return NGX_CONF_ERROR;
        }

        if (getnameinfo(ai->ai_addr, ai->ai_addrlen, addr, sizeof(addr),
                        NULL, 0, NI_NUMERICHOST) == 0)
        {
            conf->keywords[i] = "hostaddr";
            conf->values[i] = ngx_http_confhaven_pg_strdup(cf->pool, addr);
            if (conf->values[i] == NULL) {
                freeaddrinfo(ai);
                PQconninfoFree(opts);
                return NGX_CONF_ERROR;
            }
            i++;
        }

        freeaddrinfo(ai);
    }

    if (conf->password.len) {
        conf->keywords[i] = "password";
        conf->values[i] = (char *) conf->password.data;
        i++;
    }

    if (!has_appname) {
        conf->keywords[i] = "application_name";
        conf->values[i] = "confhaven";
        i++;
    }

    p = ngx_pnalloc(cf->pool, (options ? ngx_strlen(options) : 0)
                              + sizeof(" -c statement_timeout=")
                              + NGX_INT_T_LEN);
    if (p == NULL) {
        PQconninfoFree(opts);
        return NGX_CONF_ERROR;
    }

    *ngx_sprintf(p, "%s%s-c statement_timeout=%M",
                 options ? options : "", options ? " " : "",
                 conf->statement_timeout) = '\0';

    conf->keywords[i] = "options";
    conf->values[i] = (char *) p;
    i++;

    conf->keywords[i] = NULL;
    conf->values[i] = NULL;

    PQconninfoFree(opts);

    return NGX_CONF_OK;
}


/* read by the metrics every second: counts, no side effects */

void
ngx_http_confhaven_pg_pool_stats(ngx_http_confhaven_pg_pool_t *pool,
    ngx_http_confhaven_pg_stats_t *st)
{
    ngx_queue_t  *q;

    st->idle = 0;

    for (q = ngx_queue_head(&pool->idle);
         q != ngx_queue_sentinel(&pool->idle);
         q = ngx_queue_next(q))
    {
        st->idle++;
    }

    st->size = pool->conf->pool_size;
    st->connecting = pool->nconnecting;
    st->busy = (pool->nconns > pool->nconnecting + st->idle)
               ? pool->nconns - pool->nconnecting - st->idle : 0;
    st->queued = pool->nwaiters;
    st->down = pool->down;
}
