
/*
 * Copyright (C) ConferenceHaven
 */


/*
 * The metrics registry: fixed-size arrays of atomic counters in one shared
 * memory zone, so that every worker's requests are counted once, and the
 * Prometheus text exposition (format 0.0.4) of them.
 *
 * Nothing here takes a lock on a request's path: a request is counted
 * with ngx_atomic_fetch_add() on slots found by index.  Label values that
 * are not known when the zone is made (routes, tools, error codes: names
 * from the module's own tables, never a client's bytes) are interned the
 * first time they are seen, under the slab mutex, into append-only tables
 * that readers scan without the lock (a name is written before the count
 * that publishes it); past a table's room they count as "other".
 *
 * Gauges are per worker (its process slot): each worker writes its own
 * (the PostgreSQL pool, the Redis connection) every second and before it
 * answers a scrape; a scrape sums the slots of the workers alive.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_http_confhaven_metrics.h"


#define NGX_HTTP_CONFHAVEN_METRICS_MAGIC     0x63686d31   /* "chm1" */
#define NGX_HTTP_CONFHAVEN_METRICS_NAME_LEN  32
#define NGX_HTTP_CONFHAVEN_METRICS_LABEL_LEN (2 * 32 + 1)   /* escaped */
#define NGX_HTTP_CONFHAVEN_METRICS_ROUTES    32
#define NGX_HTTP_CONFHAVEN_METRICS_TOOLS     32
#define NGX_HTTP_CONFHAVEN_METRICS_ERRORS    48
#define NGX_HTTP_CONFHAVEN_METRICS_CODES     501   /* 100..599, other */
#define NGX_HTTP_CONFHAVEN_METRICS_BUCKETS   15    /* the last is +Inf */
#define NGX_HTTP_CONFHAVEN_METRICS_WIRES     4
#define NGX_HTTP_CONFHAVEN_METRICS_CACHES    6
#define NGX_HTTP_CONFHAVEN_METRICS_REFRESH   1000
#define NGX_HTTP_CONFHAVEN_METRICS_BUF       16384


/* an append-only table of label values; index n (the room) is "other" */

#define ngx_http_confhaven_metrics_names_t(room)                             \
    struct {                                                                 \
        ngx_atomic_t   n;                                                    \
        u_char         name[room][NGX_HTTP_CONFHAVEN_METRICS_NAME_LEN];      \
    }


typedef struct {
    ngx_atomic_t                   bucket[NGX_HTTP_CONFHAVEN_METRICS_BUCKETS];
    ngx_atomic_t                   sum;       /* milliseconds */
} ngx_http_confhaven_metrics_hist_t;


typedef struct {
    ngx_atomic_t                   pid;
    ngx_atomic_t                   value[NGX_HTTP_CONFHAVEN_GAUGE_N];
} ngx_http_confhaven_metrics_slot_t;


typedef struct {
    ngx_uint_t                     magic;
    size_t                         size;
    ngx_atomic_t                   start;      /* unix ms: counting began */

    ngx_http_confhaven_metrics_names_t(NGX_HTTP_CONFHAVEN_METRICS_ROUTES)
                                   routes;
    ngx_http_confhaven_metrics_names_t(NGX_HTTP_CONFHAVEN_METRICS_TOOLS)
                                   tools;
    ngx_http_confhaven_metrics_names_t(NGX_HTTP_CONFHAVEN_METRICS_ERRORS)
                                   errors;

    ngx_atomic_t  requests[NGX_HTTP_CONFHAVEN_METRICS_ROUTES + 1]
                          [NGX_HTTP_CONFHAVEN_METRICS_CODES];
    ngx_atomic_t  cache[NGX_HTTP_CONFHAVEN_METRICS_ROUTES + 1]
                       [NGX_HTTP_CONFHAVEN_METRICS_CACHES];
    ngx_atomic_t  error[NGX_HTTP_CONFHAVEN_METRICS_ROUTES + 1]
                       [NGX_HTTP_CONFHAVEN_METRICS_ERRORS + 1];
    ngx_http_confhaven_metrics_hist_t
                  duration[NGX_HTTP_CONFHAVEN_METRICS_ROUTES + 1];

    ngx_atomic_t  methods[NGX_HTTP_CONFHAVEN_METRICS_WIRES][32];
    ngx_atomic_t  tool_calls[NGX_HTTP_CONFHAVEN_METRICS_TOOLS + 1]
                            [NGX_HTTP_CONFHAVEN_METRICS_WIRES];
    ngx_http_confhaven_metrics_hist_t
                  tool_duration[NGX_HTTP_CONFHAVEN_METRICS_TOOLS + 1];

    ngx_atomic_t  counters[NGX_HTTP_CONFHAVEN_METRIC_N];

    ngx_http_confhaven_metrics_slot_t  slots[NGX_MAX_PROCESSES];
} ngx_http_confhaven_metrics_sh_t;


typedef struct {
    ngx_pool_t                    *pool;
    ngx_chain_t                   *out;
    ngx_chain_t                  **last;
    ngx_buf_t                     *b;
    off_t                          size;
    ngx_uint_t                     failed;
} ngx_http_confhaven_metrics_out_t;


typedef struct {
    const char                    *name;
    const char                    *help;
} ngx_http_confhaven_metrics_counter_t;


static ngx_int_t ngx_http_confhaven_metrics_zone_init(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_uint_t ngx_http_confhaven_metrics_intern(ngx_atomic_t *n,
    u_char *names, ngx_uint_t room, ngx_str_t *name);
static ngx_uint_t ngx_http_confhaven_metrics_method(ngx_str_t *method);
static void ngx_http_confhaven_metrics_observe(
    ngx_http_confhaven_metrics_hist_t *h, ngx_msec_t ms);
static void ngx_http_confhaven_metrics_timer(ngx_event_t *ev);
static ngx_uint_t ngx_http_confhaven_metrics_alive(ngx_pid_t pid);
static void ngx_http_confhaven_metrics_printf(
    ngx_http_confhaven_metrics_out_t *o, const char *fmt, ...);
static void ngx_http_confhaven_metrics_head(ngx_http_confhaven_metrics_out_t *o,
    const char *name, const char *type, const char *help);
static void ngx_http_confhaven_metrics_histogram(
    ngx_http_confhaven_metrics_out_t *o, const char *name,
    const char *label, u_char *value, ngx_http_confhaven_metrics_hist_t *h);
static u_char *ngx_http_confhaven_metrics_escape(u_char *dst, u_char *src);


/* in the order of ngx_http_confhaven_metric_e */

static ngx_http_confhaven_metrics_counter_t
    ngx_http_confhaven_metrics_counters[] =
{
    { "confhaven_pg_connect_failures_total",
      "PostgreSQL connection attempts that failed (each starts a backoff)." },

    { "confhaven_redis_reconnects_total",
      "Redis connections (cache or subscriber) lost or not made, each "
      "followed by a reconnect after a backoff." },

    { "confhaven_mcp_sessions_created_total",
      "MCP sessions and legacy SSE streams created in this instance." },

    { "confhaven_mcp_sessions_refused_total",
      "MCP sessions refused because a session limit or the zone was full "
      "(answered 503)." },

    { "confhaven_stripe_webhooks_applied_total",
      "Stripe webhook events whose subscription state was applied." },

    { "confhaven_stripe_webhooks_ignored_total",
      "Stripe webhook events acknowledged without a change: duplicates, "
      "stale states, types billing does not handle." },

    { "confhaven_stripe_webhooks_refused_total",
      "Stripe webhook deliveries refused with 400: signature missing, "
      "wrong or stale, or not an event." },

    { "confhaven_stripe_webhooks_failed_total",
      "Stripe webhook deliveries answered 5xx (Stripe or the database "
      "unavailable): Stripe delivers them again." },
    /* one family, several lines: the HELP and TYPE come once */
    { "confhaven_invites_total{outcome=\"sent\"}",
      "Calendar invites by outcome: sent (Graph created the event), "
      "already_sent (a repeat, nothing sent), rate_limited (429), failed "
      "(Graph or the thread pool failed)." },

    { "confhaven_invites_total{outcome=\"already_sent\"}", NULL },
    { "confhaven_invites_total{outcome=\"rate_limited\"}", NULL },
    { "confhaven_invites_total{outcome=\"failed\"}", NULL },

    { "confhaven_analytics_events_dropped_total",
      "Analytics events dropped because a worker's event buffer was full "
      "(confhaven_events_buffer)." },

    { "confhaven_spans_exported_total",
      "Trace spans the OTLP collector accepted." },

    { "confhaven_spans_dropped_total",
      "Trace spans dropped: the worker's span queue was full, or an "
      "export failed (collector down, slow or refusing)." },

    { "confhaven_otlp_export_failures_total",
      "OTLP export requests that failed (no answer in "
      "confhaven_otlp_timeout, or not a 2xx)." },

    { "confhaven_otlp_metrics_exports_total",
      "OTLP metrics exports the collector accepted (one every "
      "confhaven_otlp_metrics_interval, from one worker)." },

    { "confhaven_otlp_metrics_export_failures_total",
      "OTLP metrics exports that failed (no answer in "
      "confhaven_otlp_timeout, or not a 2xx)." },
};


/* bucket bounds, milliseconds, and as the "le" label says them */

static ngx_msec_t  ngx_http_confhaven_metrics_bounds[] = {
    1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000
};

static const char  *ngx_http_confhaven_metrics_le[] = {
    "0.001", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1",
    "2.5", "5", "10", "30", "60", "+Inf"
};


/* MCP methods of the specification; anything else is "other" */

static ngx_str_t  ngx_http_confhaven_metrics_methods[] = {
    ngx_string("initialize"),
    ngx_string("ping"),
    ngx_string("tools/list"),
    ngx_string("tools/call"),
    ngx_string("resources/list"),
    ngx_string("resources/templates/list"),
    ngx_string("resources/read"),
    ngx_string("resources/subscribe"),
    ngx_string("resources/unsubscribe"),
    ngx_string("prompts/list"),
    ngx_string("prompts/get"),
    ngx_string("completion/complete"),
    ngx_string("logging/setLevel"),
    ngx_string("server/discover"),
    ngx_string("notifications/initialized"),
    ngx_string("notifications/cancelled"),
    ngx_string("notifications/progress"),
    ngx_string("notifications/roots/list_changed"),
    ngx_string("other"),
    ngx_null_string
};


static const char  *ngx_http_confhaven_metrics_wires[] = {
    "none", "streamable_http", "stateless", "sse"
};

static const char  *ngx_http_confhaven_metrics_caches[] = {
    "none", "hit", "miss", "expired", "bypass", "local"
};


static ngx_http_confhaven_metrics_sh_t     *ngx_http_confhaven_metrics_sh;
static ngx_slab_pool_t                     *ngx_http_confhaven_metrics_shpool;
static ngx_event_t                          ngx_http_confhaven_metrics_ev;
static ngx_http_confhaven_metrics_refresh_pt
                                            ngx_http_confhaven_metrics_refresh;
static void                                *ngx_http_confhaven_metrics_data;


ngx_shm_zone_t *
ngx_http_confhaven_metrics_zone_add(ngx_conf_t *cf, void *tag)
{
    size_t           size;
    ngx_str_t        name;
    ngx_shm_zone_t  *zone;

    ngx_str_set(&name, NGX_HTTP_CONFHAVEN_METRICS_ZONE_NAME);

    /* the arrays, and the slab's own pages and headers */
    size = ngx_align(sizeof(ngx_http_confhaven_metrics_sh_t), ngx_pagesize)
           + 16 * ngx_pagesize;

    zone = ngx_shared_memory_add(cf, &name, size, tag);
    if (zone == NULL) {
        return NULL;
    }

    zone->init = ngx_http_confhaven_metrics_zone_init;

    return zone;
}


static ngx_int_t
ngx_http_confhaven_metrics_zone_init(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_time_t                       *tp;
    ngx_slab_pool_t                  *shpool;
    ngx_http_confhaven_metrics_sh_t  *sh;

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;
    sh = data;

    /* a reload keeps the counts: Prometheus counters do not reset */
    if (sh && sh->magic == NGX_HTTP_CONFHAVEN_METRICS_MAGIC
        && sh->size == sizeof(ngx_http_confhaven_metrics_sh_t))
    {
        shm_zone->data = sh;
        return NGX_OK;
    }

    sh = ngx_slab_calloc(shpool, sizeof(ngx_http_confhaven_metrics_sh_t));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    sh->magic = NGX_HTTP_CONFHAVEN_METRICS_MAGIC;
    sh->size = sizeof(ngx_http_confhaven_metrics_sh_t);
    tp = ngx_timeofday();
    sh->start = (ngx_atomic_uint_t) tp->sec * 1000 + tp->msec;

    shpool->data = sh;
    shm_zone->data = sh;

    return NGX_OK;
}


/* zone is NULL when no location serves metrics: then nothing counts */

ngx_int_t
ngx_http_confhaven_metrics_init_process(ngx_cycle_t *cycle,
    ngx_shm_zone_t *zone, ngx_http_confhaven_metrics_refresh_pt refresh,
    void *data)
{
    ngx_http_confhaven_metrics_slot_t  *slot;

    ngx_http_confhaven_metrics_sh = NULL;
    ngx_http_confhaven_metrics_shpool = NULL;

    if (zone == NULL || zone->data == NULL) {
        return NGX_OK;
    }

    ngx_http_confhaven_metrics_sh = zone->data;
    ngx_http_confhaven_metrics_shpool = (ngx_slab_pool_t *) zone->shm.addr;
    ngx_http_confhaven_metrics_refresh = refresh;
    ngx_http_confhaven_metrics_data = data;

    /* a cache manager or loader serves no requests: no gauges of its own */
    if ((ngx_process != NGX_PROCESS_WORKER && ngx_process != NGX_PROCESS_SINGLE)
        || ngx_process_slot < 0 || ngx_process_slot >= NGX_MAX_PROCESSES)
    {
        return NGX_OK;
    }

    slot = &ngx_http_confhaven_metrics_sh->slots[ngx_process_slot];
    ngx_memzero((void *) slot->value, sizeof(slot->value));
    slot->pid = ngx_pid;

    if (refresh) {
        refresh(data);

        ngx_http_confhaven_metrics_ev.handler =
                                            ngx_http_confhaven_metrics_timer;
        ngx_http_confhaven_metrics_ev.log = cycle->log;
        ngx_http_confhaven_metrics_ev.data = data;
        ngx_http_confhaven_metrics_ev.cancelable = 1;

        ngx_add_timer(&ngx_http_confhaven_metrics_ev,
                      NGX_HTTP_CONFHAVEN_METRICS_REFRESH);
    }

    return NGX_OK;
}


void
ngx_http_confhaven_metrics_exit_process(void)
{
    ngx_http_confhaven_metrics_slot_t  *slot;

    if (ngx_http_confhaven_metrics_sh == NULL) {
        return;
    }

    if (ngx_http_confhaven_metrics_ev.timer_set) {
        ngx_del_timer(&ngx_http_confhaven_metrics_ev);
    }

    if (ngx_process_slot >= 0 && ngx_process_slot < NGX_MAX_PROCESSES) {
        slot = &ngx_http_confhaven_metrics_sh->slots[ngx_process_slot];

        if ((ngx_pid_t) slot->pid == ngx_pid) {
            slot->pid = 0;
        }
    }

    ngx_http_confhaven_metrics_sh = NULL;
}


static void
ngx_http_confhaven_metrics_timer(ngx_event_t *ev)
{
    if (ngx_http_confhaven_metrics_sh == NULL
        || ngx_exiting || ngx_terminate || ngx_quit)
    {
        return;
    }

    ngx_http_confhaven_metrics_refresh(ngx_http_confhaven_metrics_data);

    ngx_add_timer(ev, NGX_HTTP_CONFHAVEN_METRICS_REFRESH);
}


ngx_uint_t
ngx_http_confhaven_metrics_enabled(void)
{
    return ngx_http_confhaven_metrics_sh != NULL;
}


/* when the counters began (unix ms): OTLP's cumulative start time */

uint64_t
ngx_http_confhaven_metrics_start(void)
{
    if (ngx_http_confhaven_metrics_sh == NULL) {
        return 0;
    }

    return (uint64_t) ngx_http_confhaven_metrics_sh->start;
}


void
ngx_http_confhaven_metrics_inc(ngx_http_confhaven_metric_e metric)
{
    if (ngx_http_confhaven_metrics_sh == NULL
        || metric >= NGX_HTTP_CONFHAVEN_METRIC_N)
    {
        return;
    }

    (void) ngx_atomic_fetch_add(
                     &ngx_http_confhaven_metrics_sh->counters[metric], 1);
}


void
ngx_http_confhaven_metrics_add(ngx_http_confhaven_metric_e metric,
    ngx_uint_t n)
{
    if (ngx_http_confhaven_metrics_sh == NULL
        || metric >= NGX_HTTP_CONFHAVEN_METRIC_N || n == 0)
    {
        return;
    }

    (void) ngx_atomic_fetch_add(
                     &ngx_http_confhaven_metrics_sh->counters[metric], n);
}


void
ngx_http_confhaven_metrics_gauge(ngx_http_confhaven_gauge_e gauge,
    ngx_uint_t value)
{
    if (ngx_http_confhaven_metrics_sh == NULL
        || gauge >= NGX_HTTP_CONFHAVEN_GAUGE_N
        || ngx_process_slot < 0 || ngx_process_slot >= NGX_MAX_PROCESSES)
    {
        return;
    }

    ngx_http_confhaven_metrics_sh->slots[ngx_process_slot].value[gauge] =
                                                                       value;
}


void
ngx_http_confhaven_metrics_request(ngx_http_confhaven_metrics_request_t *mr)
{
    ngx_uint_t                        route, code, err, tool, wire;
    ngx_http_confhaven_metrics_sh_t  *sh;

    sh = ngx_http_confhaven_metrics_sh;
    if (sh == NULL) {
        return;
    }

    route = ngx_http_confhaven_metrics_intern(&sh->routes.n,
                                              &sh->routes.name[0][0],
                                              NGX_HTTP_CONFHAVEN_METRICS_ROUTES,
                                              &mr->route);

    code = (mr->status >= 100 && mr->status <= 599) ? mr->status - 100
                                        : NGX_HTTP_CONFHAVEN_METRICS_CODES - 1;

    (void) ngx_atomic_fetch_add(&sh->requests[route][code], 1);
    ngx_http_confhaven_metrics_observe(&sh->duration[route], mr->duration);

    if (mr->cache && mr->cache < NGX_HTTP_CONFHAVEN_METRICS_CACHES) {
        (void) ngx_atomic_fetch_add(&sh->cache[route][mr->cache], 1);
    }

    if (mr->error.len) {
        err = ngx_http_confhaven_metrics_intern(&sh->errors.n,
                                            &sh->errors.name[0][0],
                                            NGX_HTTP_CONFHAVEN_METRICS_ERRORS,
                                            &mr->error);
        (void) ngx_atomic_fetch_add(&sh->error[route][err], 1);
    }

    wire = mr->wire < NGX_HTTP_CONFHAVEN_METRICS_WIRES ? mr->wire : 0;

    if (mr->method.len) {
        (void) ngx_atomic_fetch_add(
            &sh->methods[wire][ngx_http_confhaven_metrics_method(&mr->method)],
            1);
    }

    if (mr->tool.len) {
        tool = ngx_http_confhaven_metrics_intern(&sh->tools.n,
                                             &sh->tools.name[0][0],
                                             NGX_HTTP_CONFHAVEN_METRICS_TOOLS,
                                             &mr->tool);

        (void) ngx_atomic_fetch_add(&sh->tool_calls[tool][wire], 1);
        ngx_http_confhaven_metrics_observe(&sh->tool_duration[tool],
                                           mr->duration);
    }
}


static void
ngx_http_confhaven_metrics_observe(ngx_http_confhaven_metrics_hist_t *h,
    ngx_msec_t ms)
{
    ngx_uint_t  i;

    for (i = 0; i < NGX_HTTP_CONFHAVEN_METRICS_BUCKETS - 1; i++) {
        if (ms <= ngx_http_confhaven_metrics_bounds[i]) {
            break;
        }
    }

    (void) ngx_atomic_fetch_add(&h->bucket[i], 1);
    (void) ngx_atomic_fetch_add(&h->sum, ms);
}


/*
 * The index of a label value: found without a lock, added under the slab
 * mutex.  names is an array of room names of NAME_LEN bytes each.
 */

static ngx_uint_t
ngx_http_confhaven_metrics_intern(ngx_atomic_t *n, u_char *names,
    ngx_uint_t room, ngx_str_t *name)
{
    u_char      *p;
    ngx_uint_t   i, k;

    if (name->len == 0 || name->len >= NGX_HTTP_CONFHAVEN_METRICS_NAME_LEN) {
        return room;
    }

    k = *n;
    ngx_memory_barrier();

    for (i = 0; i < k && i < room; i++) {
        p = names + i * NGX_HTTP_CONFHAVEN_METRICS_NAME_LEN;

        if (p[name->len] == '\0'
            && ngx_strncmp(p, name->data, name->len) == 0)
        {
            return i;
        }
    }

    ngx_shmtx_lock(&ngx_http_confhaven_metrics_shpool->mutex);

    /* another worker may have added names meanwhile */
    for (k = *n; i < k; i++) {
        p = names + i * NGX_HTTP_CONFHAVEN_METRICS_NAME_LEN;

        if (p[name->len] == '\0'
            && ngx_strncmp(p, name->data, name->len) == 0)
        {
            ngx_shmtx_unlock(&ngx_http_confhaven_metrics_shpool->mutex);
            return i;
        }
    }

    if (k < room) {
        p = names + k * NGX_HTTP_CONFHAVEN_METRICS_NAME_LEN;
        ngx_memcpy(p, name->data, name->len);
        p[name->len] = '\0';

        ngx_memory_barrier();
        *n = k + 1;
        i = k;

    } else {
        i = room;
    }

    ngx_shmtx_unlock(&ngx_http_confhaven_metrics_shpool->mutex);

    return i;
}


static ngx_uint_t
ngx_http_confhaven_metrics_method(ngx_str_t *method)
{
    ngx_uint_t  i;

    for (i = 0; ngx_http_confhaven_metrics_methods[i + 1].len; i++) {
        if (method->len == ngx_http_confhaven_metrics_methods[i].len
            && ngx_strncmp(method->data,
                           ngx_http_confhaven_metrics_methods[i].data,
                           method->len) == 0)
        {
            return i;
        }
    }

    return i;   /* "other" */
}


static ngx_uint_t
ngx_http_confhaven_metrics_alive(ngx_pid_t pid)
{
    if (pid == 0) {
        return 0;
    }

    return pid == ngx_pid || kill(pid, 0) == 0 || ngx_errno != NGX_ESRCH;
}


/* ------------------------------------------------------------ exposition */


ngx_chain_t *
ngx_http_confhaven_metrics_render(ngx_pool_t *pool,
    ngx_http_confhaven_metrics_zone_stats_t *zs, off_t *size)
{
    u_char                   name[NGX_HTTP_CONFHAVEN_METRICS_LABEL_LEN];
    u_char                   label[NGX_HTTP_CONFHAVEN_METRICS_LABEL_LEN];
    ngx_uint_t                          i, j, k, nroutes, ntools, nerrors;
    ngx_uint_t                          workers, redis[4];
    ngx_uint_t                          g[NGX_HTTP_CONFHAVEN_GAUGE_N];
    ngx_atomic_uint_t                   v;
    ngx_http_confhaven_metrics_sh_t    *sh;
    ngx_http_confhaven_metrics_out_t    o;
    ngx_http_confhaven_metrics_slot_t  *slot;

    sh = ngx_http_confhaven_metrics_sh;
    if (sh == NULL) {
        return NULL;
    }

    if (ngx_http_confhaven_metrics_refresh) {
        ngx_http_confhaven_metrics_refresh(ngx_http_confhaven_metrics_data);
    }

    ngx_memzero(&o, sizeof(ngx_http_confhaven_metrics_out_t));
    o.pool = pool;
    o.last = &o.out;

    nroutes = ngx_min((ngx_uint_t) sh->routes.n,
                      NGX_HTTP_CONFHAVEN_METRICS_ROUTES);
    ntools = ngx_min((ngx_uint_t) sh->tools.n,
                     NGX_HTTP_CONFHAVEN_METRICS_TOOLS);
    nerrors = ngx_min((ngx_uint_t) sh->errors.n,
                      NGX_HTTP_CONFHAVEN_METRICS_ERRORS);
    ngx_memory_barrier();

    /* requests */

    ngx_http_confhaven_metrics_head(&o, "confhaven_http_requests_total",
        "counter",
        "Requests answered by the module's locations, by route and HTTP "
        "status code.");

    for (i = 0; i <= NGX_HTTP_CONFHAVEN_METRICS_ROUTES; i++) {
        if (i >= nroutes && i != NGX_HTTP_CONFHAVEN_METRICS_ROUTES) {
            continue;
        }

        ngx_http_confhaven_metrics_escape(name,
            i < nroutes ? sh->routes.name[i] : (u_char *) "other");

        for (j = 0; j < NGX_HTTP_CONFHAVEN_METRICS_CODES; j++) {
            v = sh->requests[i][j];
            if (v == 0) {
                continue;
            }

            if (j == NGX_HTTP_CONFHAVEN_METRICS_CODES - 1) {
                ngx_http_confhaven_metrics_printf(&o,
                    "confhaven_http_requests_total{route=\"%s\","
                    "code=\"other\"} %uA\n", name, v);

            } else {
                ngx_http_confhaven_metrics_printf(&o,
                    "confhaven_http_requests_total{route=\"%s\","
                    "code=\"%ui\"} %uA\n", name, j + 100, v);
            }
        }
    }

    ngx_http_confhaven_metrics_head(&o,
        "confhaven_http_request_duration_seconds", "histogram",
        "Time from the first byte of the request to the log phase, by route "
        "(millisecond resolution; a stream's route counts its lifetime).");

    for (i = 0; i <= NGX_HTTP_CONFHAVEN_METRICS_ROUTES; i++) {
        if (i >= nroutes && i != NGX_HTTP_CONFHAVEN_METRICS_ROUTES) {
            continue;
        }

        ngx_http_confhaven_metrics_escape(name,
            i < nroutes ? sh->routes.name[i] : (u_char *) "other");

        ngx_http_confhaven_metrics_histogram(&o,
            "confhaven_http_request_duration_seconds", "route", name,
            &sh->duration[i]);
    }

    ngx_http_confhaven_metrics_head(&o, "confhaven_cache_requests_total",
        "counter",
        "Requests that read the Redis result cache, by route and result "
        "($confhaven_cache_status lower-cased).");

    for (i = 0; i <= NGX_HTTP_CONFHAVEN_METRICS_ROUTES; i++) {
        if (i >= nroutes && i != NGX_HTTP_CONFHAVEN_METRICS_ROUTES) {
            continue;
        }

        ngx_http_confhaven_metrics_escape(name,
            i < nroutes ? sh->routes.name[i] : (u_char *) "other");

        for (j = 1; j < NGX_HTTP_CONFHAVEN_METRICS_CACHES; j++) {
            v = sh->cache[i][j];
            if (v) {
                ngx_http_confhaven_metrics_printf(&o,
                    "confhaven_cache_requests_total{route=\"%s\","
                    "result=\"%s\"} %uA\n", name,
                    ngx_http_confhaven_metrics_caches[j], v);
            }
        }
    }

    ngx_http_confhaven_metrics_head(&o, "confhaven_http_errors_total",
        "counter",
        "Error answers, by route and the JSON error code sent "
        "($confhaven_error).");

    for (i = 0; i <= NGX_HTTP_CONFHAVEN_METRICS_ROUTES; i++) {
        if (i >= nroutes && i != NGX_HTTP_CONFHAVEN_METRICS_ROUTES) {
            continue;
        }

        ngx_http_confhaven_metrics_escape(name,
            i < nroutes ? sh->routes.name[i] : (u_char *) "other");

        for (j = 0; j <= NGX_HTTP_CONFHAVEN_METRICS_ERRORS; j++) {
            if (j >= nerrors && j != NGX_HTTP_CONFHAVEN_METRICS_ERRORS) {
                continue;
            }

            v = sh->error[i][j];
            if (v == 0) {
                continue;
            }

            ngx_http_confhaven_metrics_escape(label,
                j < nerrors ? sh->errors.name[j] : (u_char *) "other");

            ngx_http_confhaven_metrics_printf(&o,
                "confhaven_http_errors_total{route=\"%s\",error=\"%s\"} "
                "%uA\n", name, label, v);
        }
    }

    /* MCP */

    ngx_http_confhaven_metrics_head(&o, "confhaven_mcp_requests_total",
        "counter",
        "MCP requests, by wire and JSON-RPC method (the first of a batch; "
        "methods outside the specification count as \"other\").");

    for (i = 0; i < NGX_HTTP_CONFHAVEN_METRICS_WIRES; i++) {
        for (j = 0; ngx_http_confhaven_metrics_methods[j].len; j++) {
            v = sh->methods[i][j];
            if (v) {
                ngx_http_confhaven_metrics_printf(&o,
                    "confhaven_mcp_requests_total{wire=\"%s\","
                    "method=\"%V\"} %uA\n",
                    ngx_http_confhaven_metrics_wires[i],
                    &ngx_http_confhaven_metrics_methods[j], v);
            }
        }
    }

    ngx_http_confhaven_metrics_head(&o, "confhaven_mcp_tool_calls_total",
        "counter", "MCP tools/call requests, by tool and wire.");

    for (i = 0; i <= NGX_HTTP_CONFHAVEN_METRICS_TOOLS; i++) {
        if (i >= ntools && i != NGX_HTTP_CONFHAVEN_METRICS_TOOLS) {
            continue;
        }

        ngx_http_confhaven_metrics_escape(name,
            i < ntools ? sh->tools.name[i] : (u_char *) "other");

        for (j = 0; j < NGX_HTTP_CONFHAVEN_METRICS_WIRES; j++) {
            v = sh->tool_calls[i][j];
            if (v) {
                ngx_http_confhaven_metrics_printf(&o,
                    "confhaven_mcp_tool_calls_total{tool=\"%s\","
                    "wire=\"%s\"} %uA\n", name,
                    ngx_http_confhaven_metrics_wires[j], v);
            }
        }
    }

    ngx_http_confhaven_metrics_head(&o,
        "confhaven_mcp_tool_call_duration_seconds", "histogram",
        "Duration of the requests that called a tool, by tool.");

    for (i = 0; i <= NGX_HTTP_CONFHAVEN_METRICS_TOOLS; i++) {
        if (i >= ntools && i != NGX_HTTP_CONFHAVEN_METRICS_TOOLS) {
            continue;
        }

        ngx_http_confhaven_metrics_escape(name,
            i < ntools ? sh->tools.name[i] : (u_char *) "other");

        ngx_http_confhaven_metrics_histogram(&o,
            "confhaven_mcp_tool_call_duration_seconds", "tool", name,
            &sh->tool_duration[i]);
    }

    if (zs && zs->sessions_http >= 0) {
        ngx_http_confhaven_metrics_head(&o, "confhaven_mcp_sessions",
            "gauge",
            "MCP sessions in this instance's zone, by wire (a legacy SSE "
            "stream is a session).");

        ngx_http_confhaven_metrics_printf(&o,
            "confhaven_mcp_sessions{wire=\"streamable_http\"} %i\n"
            "confhaven_mcp_sessions{wire=\"sse\"} %i\n",
            zs->sessions_http, zs->sessions_sse);

        ngx_http_confhaven_metrics_head(&o, "confhaven_mcp_streams",
            "gauge",
            "Open long-lived event streams, by wire: standalone GET streams "
            "of Streamable HTTP sessions, legacy /sse streams.");

        ngx_http_confhaven_metrics_printf(&o,
            "confhaven_mcp_streams{wire=\"streamable_http\"} %i\n"
            "confhaven_mcp_streams{wire=\"sse\"} %i\n",
            zs->streams_http, zs->streams_sse);
    }

    /* the workers' gauges */

    ngx_memzero(g, sizeof(g));
    ngx_memzero(redis, sizeof(redis));
    workers = 0;

    for (i = 0; i < NGX_MAX_PROCESSES; i++) {
        slot = &sh->slots[i];

        if (!ngx_http_confhaven_metrics_alive((ngx_pid_t) slot->pid)) {
            continue;
        }

        workers++;

        for (k = 0; k < NGX_HTTP_CONFHAVEN_GAUGE_N; k++) {
            g[k] += slot->value[k];
        }

        if (slot->value[NGX_HTTP_CONFHAVEN_GAUGE_REDIS] < 4) {
            redis[slot->value[NGX_HTTP_CONFHAVEN_GAUGE_REDIS]]++;
        }
    }

    ngx_http_confhaven_metrics_head(&o, "confhaven_workers", "gauge",
        "Worker processes whose gauges are summed below.");
    ngx_http_confhaven_metrics_printf(&o, "confhaven_workers %ui\n",
                                      workers);

    if (g[NGX_HTTP_CONFHAVEN_GAUGE_PG_SIZE]) {
        ngx_http_confhaven_metrics_head(&o, "confhaven_pg_connections",
            "gauge",
            "PostgreSQL connections of all workers' pools, by state.");

        ngx_http_confhaven_metrics_printf(&o,
            "confhaven_pg_connections{state=\"in_use\"} %ui\n"
            "confhaven_pg_connections{state=\"idle\"} %ui\n"
            "confhaven_pg_connections{state=\"connecting\"} %ui\n",
            g[NGX_HTTP_CONFHAVEN_GAUGE_PG_BUSY],
            g[NGX_HTTP_CONFHAVEN_GAUGE_PG_IDLE],
            g[NGX_HTTP_CONFHAVEN_GAUGE_PG_CONNECTING]);

        ngx_http_confhaven_metrics_head(&o, "confhaven_pg_connections_max",
            "gauge",
            "The most PostgreSQL connections all workers may open "
            "(confhaven_pg_pool_size times the workers).");

        ngx_http_confhaven_metrics_printf(&o,
            "confhaven_pg_connections_max %ui\n",
            g[NGX_HTTP_CONFHAVEN_GAUGE_PG_SIZE]);

        ngx_http_confhaven_metrics_head(&o, "confhaven_pg_queued_requests",
            "gauge",
            "Queries waiting for a free PostgreSQL connection, all "
            "workers.");

        ngx_http_confhaven_metrics_printf(&o,
            "confhaven_pg_queued_requests %ui\n",
            g[NGX_HTTP_CONFHAVEN_GAUGE_PG_QUEUED]);

        ngx_http_confhaven_metrics_head(&o, "confhaven_pg_down_workers",
            "gauge",
            "Workers that cannot reach PostgreSQL and back off before "
            "trying again.");

        ngx_http_confhaven_metrics_printf(&o,
            "confhaven_pg_down_workers %ui\n",
            g[NGX_HTTP_CONFHAVEN_GAUGE_PG_DOWN]);
    }

    if (workers > redis[NGX_HTTP_CONFHAVEN_METRICS_REDIS_NONE]) {
        ngx_http_confhaven_metrics_head(&o, "confhaven_redis_connections",
            "gauge",
            "Workers' Redis cache connections, by state.");

        ngx_http_confhaven_metrics_printf(&o,
            "confhaven_redis_connections{state=\"ok\"} %ui\n"
            "confhaven_redis_connections{state=\"connecting\"} %ui\n"
            "confhaven_redis_connections{state=\"unavailable\"} %ui\n",
            redis[NGX_HTTP_CONFHAVEN_METRICS_REDIS_OK],
            redis[NGX_HTTP_CONFHAVEN_METRICS_REDIS_CONNECTING],
            redis[NGX_HTTP_CONFHAVEN_METRICS_REDIS_UNAVAILABLE]);
    }

    /* the local cache tier's Redis subscriber (issue 12, OTLP part) */

    ngx_memzero(redis, sizeof(redis));

    for (i = 0; i < NGX_MAX_PROCESSES; i++) {
        slot = &sh->slots[i];

        if (ngx_http_confhaven_metrics_alive((ngx_pid_t) slot->pid)
            && slot->value[NGX_HTTP_CONFHAVEN_GAUGE_REDIS_SUBSCRIBER] < 4)
        {
            redis[slot->value[NGX_HTTP_CONFHAVEN_GAUGE_REDIS_SUBSCRIBER]]++;
        }
    }

    if (workers > redis[NGX_HTTP_CONFHAVEN_METRICS_REDIS_NONE]) {
        ngx_http_confhaven_metrics_head(&o,
            "confhaven_redis_subscriber_connections", "gauge",
            "Workers' Redis subscriber connections (the invalidations of "
            "confhaven_cache_local), by state.");

        ngx_http_confhaven_metrics_printf(&o,
            "confhaven_redis_subscriber_connections{state=\"ok\"} %ui\n"
            "confhaven_redis_subscriber_connections{state=\"connecting\"} "
            "%ui\n"
            "confhaven_redis_subscriber_connections{state=\"unavailable\"} "
            "%ui\n",
            redis[NGX_HTTP_CONFHAVEN_METRICS_REDIS_OK],
            redis[NGX_HTTP_CONFHAVEN_METRICS_REDIS_CONNECTING],
            redis[NGX_HTTP_CONFHAVEN_METRICS_REDIS_UNAVAILABLE]);
    }

    /* the counters of ngx_http_confhaven_metrics_inc() */

    for (i = 0; i < NGX_HTTP_CONFHAVEN_METRIC_N; i++) {
        /* NULL help: another line of the family above */
        if (ngx_http_confhaven_metrics_counters[i].help) {
            ngx_http_confhaven_metrics_head(&o,
                ngx_http_confhaven_metrics_counters[i].name, "counter",
                ngx_http_confhaven_metrics_counters[i].help);
        }

        ngx_http_confhaven_metrics_printf(&o, "%s %uA\n",
            ngx_http_confhaven_metrics_counters[i].name, sh->counters[i]);
    }

    if (o.failed || o.out == NULL) {
        return NULL;
    }

    o.b->last_buf = 1;
    o.b->last_in_chain = 1;

    *size = o.size;

    return o.out;
}


static void
ngx_http_confhaven_metrics_head(ngx_http_confhaven_metrics_out_t *o,
    const char *name, const char *type, const char *help)
{
    size_t  len;

    /* a family's name, without the labels of its first line */
    len = strcspn(name, "{");

    ngx_http_confhaven_metrics_printf(o, "# HELP %*s %s\n# TYPE %*s %s\n",
                                      len, name, help, len, name, type);
}


/* label value: a NUL-terminated name of at most NAME_LEN bytes */

static void
ngx_http_confhaven_metrics_histogram(ngx_http_confhaven_metrics_out_t *o,
    const char *name, const char *label, u_char *value,
    ngx_http_confhaven_metrics_hist_t *h)
{
    ngx_uint_t         i;
    ngx_msec_t         sum;
    ngx_atomic_uint_t  n, b[NGX_HTTP_CONFHAVEN_METRICS_BUCKETS];

    /* one snapshot: the buckets are cumulative and end at _count */
    n = 0;

    for (i = 0; i < NGX_HTTP_CONFHAVEN_METRICS_BUCKETS; i++) {
        n += h->bucket[i];
        b[i] = n;
    }

    if (n == 0) {
        return;
    }

    sum = (ngx_msec_t) h->sum;

    for (i = 0; i < NGX_HTTP_CONFHAVEN_METRICS_BUCKETS; i++) {
        ngx_http_confhaven_metrics_printf(o,
            "%s_bucket{%s=\"%s\",le=\"%s\"} %uA\n", name, label, value,
            ngx_http_confhaven_metrics_le[i], b[i]);
    }

    ngx_http_confhaven_metrics_printf(o,
        "%s_sum{%s=\"%s\"} %M.%03M\n%s_count{%s=\"%s\"} %uA\n",
        name, label, value, sum / 1000, sum % 1000, name, label, value, n);
}


/* a label value as the text format wants it: \\, \" and \n escaped */

static u_char *
ngx_http_confhaven_metrics_escape(u_char *dst, u_char *src)
{
    u_char  *p;
    size_t   i;

    p = dst;

    for (i = 0; src[i] && i < NGX_HTTP_CONFHAVEN_METRICS_NAME_LEN; i++) {
        switch (src[i]) {
        case '\\':
        case '"':
            *p++ = '\\';
            *p++ = src[i];
            break;
        case '\n':
            *p++ = '\\';
            *p++ = 'n';
            break;
        default:
            *p++ = src[i];
        }
    }

    *p = '\0';

    return dst;
}


/* appends to the output: every call writes less than 1k */

static void
ngx_http_confhaven_metrics_printf(ngx_http_confhaven_metrics_out_t *o,
    const char *fmt, ...)
{
    u_char       *p;
    va_list       args;
    ngx_chain_t  *cl;

    if (o->failed) {
        return;
    }

    if (o->b == NULL || o->b->end - o->b->last < 1024) {
        o->b = ngx_create_temp_buf(o->pool, NGX_HTTP_CONFHAVEN_METRICS_BUF);
        cl = ngx_alloc_chain_link(o->pool);

        if (o->b == NULL || cl == NULL) {
            o->failed = 1;
            return;
        }

        cl->buf = o->b;
        cl->next = NULL;
        *o->last = cl;
        o->last = &cl->next;
    }

    va_start(args, fmt);
    p = ngx_vslprintf(o->b->last, o->b->end, fmt, args);
    va_end(args);

    o->size += p - o->b->last;
    o->b->last = p;
}
