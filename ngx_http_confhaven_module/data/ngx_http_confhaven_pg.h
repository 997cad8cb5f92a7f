
/*
 * Copyright (C) ConferenceHaven
 */


#ifndef _NGX_HTTP_CONFHAVEN_PG_H_INCLUDED_
#define _NGX_HTTP_CONFHAVEN_PG_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <libpq-fe.h>


#define NGX_HTTP_CONFHAVEN_PG_MAX_PARAMS  16

/* op->status */
#define NGX_HTTP_CONFHAVEN_PG_OK           0
#define NGX_HTTP_CONFHAVEN_PG_SQL_ERROR    1   /* the server said no */
#define NGX_HTTP_CONFHAVEN_PG_UNAVAILABLE  2   /* cannot connect, lost */
#define NGX_HTTP_CONFHAVEN_PG_BUSY         3   /* queue full or timed out */
#define NGX_HTTP_CONFHAVEN_PG_TIMEOUT      4   /* no answer in time */

/* read replicas named by confhaven_pg_server ... replica */
#define NGX_HTTP_CONFHAVEN_PG_MAX_REPLICAS  16


typedef struct ngx_http_confhaven_pg_op_s    ngx_http_confhaven_pg_op_t;
typedef struct ngx_http_confhaven_pg_conn_s  ngx_http_confhaven_pg_conn_t;
typedef struct ngx_http_confhaven_pg_pool_s  ngx_http_confhaven_pg_pool_t;

typedef void (*ngx_http_confhaven_pg_handler_pt)(
    ngx_http_confhaven_pg_op_t *op);


typedef struct {
    ngx_str_t                          server;      /* conninfo as given */
    ngx_str_t                          name;        /* host:port, for logs */
    ngx_str_t                          password;    /* from the file */
    const char                       **keywords;    /* NULL terminated */
    const char                       **values;
    ngx_uint_t                         pool_size;
    ngx_uint_t                         queue_size;
    ngx_msec_t                         connect_timeout;
    ngx_msec_t                         statement_timeout;
    ngx_msec_t                         queue_timeout;
    ngx_msec_t                         keepalive_timeout;

    /* the primary's conf only: its replicas (conf_t each) and the bound */
    ngx_array_t                       *replicas;
    ngx_msec_t                         replica_max_lag;
    ngx_shm_zone_t                    *shm_zone;   /* the last write's LSN */
} ngx_http_confhaven_pg_conf_t;


struct ngx_http_confhaven_pg_op_s {
    const char                        *sql;
    ngx_uint_t                         nparams;
    const char                        *values[NGX_HTTP_CONFHAVEN_PG_MAX_PARAMS];

    ngx_msec_t                         timeout;     /* 0: the default */

    ngx_http_confhaven_pg_handler_pt   handler;
    void                              *data;
    ngx_pool_t                        *pool;        /* result memory */
    ngx_log_t                         *log;

    /* result */
    ngx_uint_t                         status;
    ngx_str_t                          value;       /* column 1, row 1 */
    ngx_str_t                          value2;      /* column 2, row 1 */
    ngx_str_t                          value3;      /* column 3, row 1 */
    ngx_str_t                          sqlstate;
    ngx_str_t                          message;
    ngx_str_t                          hint;
    ngx_str_t                          detail;
    ngx_msec_t                         elapsed;

    /* internal */
    ngx_http_confhaven_pg_pool_t      *owner;
    ngx_http_confhaven_pg_conn_t      *conn;
    ngx_queue_t                        queue;
    ngx_event_t                        wait;
    ngx_msec_t                         start;

    unsigned                           queued:1;
    unsigned                           got_result:1;
    unsigned                           got_null:1;
    unsigned                           retried:1;

    /*
     * Set by the caller: a read that may be answered by a read replica.
     * Any other op goes to the primary and, when replicas are
     * configured, moves up the WAL position that replicas must have
     * replayed before they serve reads again.
     */
    unsigned                           replica:1;

    /* internal: running on a replica, the primary if that fails */
    ngx_http_confhaven_pg_pool_t      *fallback;
};


/* what a worker's pool holds now (for the metrics) */

typedef struct {
    ngx_uint_t                         size;        /* pool_size */
    ngx_uint_t                         busy;        /* running a query */
    ngx_uint_t                         idle;
    ngx_uint_t                         connecting;
    ngx_uint_t                         queued;      /* ops waiting */
    ngx_uint_t                         down;        /* backing off */
} ngx_http_confhaven_pg_stats_t;


ngx_http_confhaven_pg_pool_t *ngx_http_confhaven_pg_pool_create(
    ngx_cycle_t *cycle, ngx_http_confhaven_pg_conf_t *conf);
void ngx_http_confhaven_pg_pool_destroy(ngx_http_confhaven_pg_pool_t *pool);
ngx_int_t ngx_http_confhaven_pg_query(ngx_http_confhaven_pg_pool_t *pool,
    ngx_http_confhaven_pg_op_t *op);
void ngx_http_confhaven_pg_cancel(ngx_http_confhaven_pg_op_t *op);
char *ngx_http_confhaven_pg_conf_prepare(ngx_conf_t *cf,
    ngx_http_confhaven_pg_conf_t *conf);
void ngx_http_confhaven_pg_pool_stats(ngx_http_confhaven_pg_pool_t *pool,
    ngx_http_confhaven_pg_stats_t *st);


#endif /* _NGX_HTTP_CONFHAVEN_PG_H_INCLUDED_ */
