
/*
 * Copyright (C) ConferenceHaven
 */


/*
 * Events recorded at the front, never in the way.  Every search, session
 * view and invite the front ends answer (cache hits included), and every
 * MCP tool call (an evaluation record), is copied into a fixed slot of a
 * per-worker ring allocated once at start; nothing on the request path
 * allocates or touches the database.  A timer sends what is buffered in
 * batches, one statement per batch (confhaven.record_events(), a JSON
 * array: one multi-row insert plus the daily rollups).  While PostgreSQL
 * is slow or away, events wait in the ring; when it is full, new events
 * are dropped and counted (GET /health, "events").  A worker that exits
 * (reload, quit, stop) writes what it holds with a last, blocking write.
 * The same timer enforces the retention of evaluation records (worker 0).
 * The counters /health shows are the instance's, summed over its workers
 * in a small shared zone ("confhaven_events"): totals since nginx started
 * (a reload keeps them), and each worker's buffered events in its slot.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "ngx_http_confhaven_json.h"
#include "ngx_http_confhaven_events.h"
#include "ngx_http_confhaven_metrics.h"


#define NGX_HTTP_CONFHAVEN_EVENTS_FOUND    20
#define NGX_HTTP_CONFHAVEN_EVENTS_BATCH    500
#define NGX_HTTP_CONFHAVEN_EVENTS_SCAN     (256 * 1024)
#define NGX_HTTP_CONFHAVEN_EVENTS_ZONE     "confhaven_events"


/* the instance's counters (shared memory); a slot per worker process */

typedef struct {
    ngx_atomic_t                   pid;
    ngx_atomic_t                   buffered;
    ngx_atomic_t                   capacity;
    ngx_atomic_t                   failing;     /* writes failing now */
} ngx_http_confhaven_events_wslot_t;


typedef struct {
    ngx_atomic_t                   recorded;
    ngx_atomic_t                   written;
    ngx_atomic_t                   dropped;
    ngx_atomic_t                   expired;
    ngx_http_confhaven_events_wslot_t  slots[NGX_MAX_PROCESSES];
} ngx_http_confhaven_events_sh_t;


typedef struct {
    int64_t                        time;         /* ms since the epoch */
    int64_t                        session;
    int64_t                        found[NGX_HTTP_CONFHAVEN_EVENTS_FOUND];
    int32_t                        count;
    uint32_t                       latency;
    const char                    *wire;         /* static */
    const char                    *client;       /* static */
    u_char                         kind;
    u_char                         nfound;
    u_char                         cache_hit;
    u_char                         is_error;
    u_char                         tool_len;
    u_char                         trace_len;
    u_char                         conf_len;
    u_char                         query_len;
    uint16_t                       params_len;
    uint16_t                       summary_len;
    uint32_t                       answer_len;
    u_char                         tool[32];
    u_char                         trace[48];
    u_char                         conf[96];
    u_char                         query[240];
    u_char                         params[512];
    u_char                         summary[768];
} ngx_http_confhaven_slot_t;


typedef struct {
    ngx_http_confhaven_events_conf_t  *conf;
    ngx_http_confhaven_pg_pool_t      *pool;
    ngx_http_confhaven_pg_conf_t      *pgcf;
    ngx_log_t                         *log;
    ngx_http_confhaven_slot_t         *slots;
    ngx_uint_t                         head;
    ngx_uint_t                         count;
    ngx_uint_t                         sending;     /* slots in flight */

    ngx_event_t                        timer;
    ngx_msec_t                         next_expire;

    ngx_pool_t                        *flush_pool;
    char                              *flush_text;
    ngx_pool_t                        *expire_pool;

    uint64_t                           failures;

    ngx_http_confhaven_events_sh_t    *sh;          /* the counters */
    ngx_http_confhaven_events_wslot_t *me;          /* this worker's */
} ngx_http_confhaven_events_t;


#define ngx_http_confhaven_events_add(evs, counter, n)                       \
    (void) ngx_atomic_fetch_add(&(evs)->sh->counter, n)

/* what the ring holds now, for the others to see */
#define ngx_http_confhaven_events_publish(evs)                               \
    if ((evs)->me) {                                                         \
        (evs)->me->buffered = (evs)->count;                                  \
        (evs)->me->failing = ((evs)->failures != 0);                         \
    }


static ngx_int_t ngx_http_confhaven_events_zone_init(
    ngx_shm_zone_t *shm_zone, void *data);
static void ngx_http_confhaven_events_tick(ngx_event_t *ev);
static void ngx_http_confhaven_events_write_all(
    ngx_http_confhaven_events_t *evs);
static void ngx_http_confhaven_events_flush(
    ngx_http_confhaven_events_t *evs);
static void ngx_http_confhaven_events_flushed(ngx_http_confhaven_pg_op_t *op);
static char *ngx_http_confhaven_events_batch(ngx_http_confhaven_events_t *evs,
    ngx_uint_t n);
static u_char *ngx_http_confhaven_events_member(u_char *p, const char *name,
    u_char *value, size_t len);
static void ngx_http_confhaven_events_expire(
    ngx_http_confhaven_events_t *evs);
static void ngx_http_confhaven_events_expired(ngx_http_confhaven_pg_op_t *op);
static size_t ngx_http_confhaven_events_copy(u_char *dst, size_t size,
    u_char *src, size_t len);
static const char *ngx_http_confhaven_events_client(ngx_str_t *name);
static u_char *ngx_http_confhaven_events_id_key(u_char *p, u_char *last);
static ngx_uint_t ngx_http_confhaven_events_found(int64_t *ids,
    ngx_str_t *answer);


static ngx_http_confhaven_events_t  *ngx_http_confhaven_events;


/* at configuration: the zone of the counters (the workers' sum) */

ngx_int_t
ngx_http_confhaven_events_zone_add(ngx_conf_t *cf,
    ngx_http_confhaven_events_conf_t *conf, void *tag)
{
    ngx_str_t  name;

    ngx_str_set(&name, NGX_HTTP_CONFHAVEN_EVENTS_ZONE);

    conf->shm = ngx_shared_memory_add(cf, &name,
                    ngx_align(sizeof(ngx_http_confhaven_events_sh_t),
                              ngx_pagesize)
                    + 8 * ngx_pagesize, tag);
    if (conf->shm == NULL) {
        return NGX_ERROR;
    }

    conf->shm->init = ngx_http_confhaven_events_zone_init;

    return NGX_OK;
}


static ngx_int_t
ngx_http_confhaven_events_zone_init(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_slab_pool_t                 *shpool;
    ngx_http_confhaven_events_sh_t  *sh;

    /* a reload keeps the totals */
    if (data) {
        shm_zone->data = data;
        return NGX_OK;
    }

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    sh = ngx_slab_calloc(shpool, sizeof(ngx_http_confhaven_events_sh_t));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    shpool->data = sh;
    shm_zone->data = sh;

    return NGX_OK;
}


ngx_int_t
ngx_http_confhaven_events_init(ngx_cycle_t *cycle,
    ngx_http_confhaven_events_conf_t *conf,
    ngx_http_confhaven_pg_pool_t *pool, ngx_http_confhaven_pg_conf_t *pgcf)
{
    ngx_http_confhaven_events_t  *evs;

    if (conf->size == 0) {
        return NGX_OK;
    }

    evs = ngx_pcalloc(cycle->pool, sizeof(ngx_http_confhaven_events_t));
    if (evs == NULL) {
        return NGX_ERROR;
    }

    /* pages are touched only as slots fill */
    evs->slots = ngx_alloc(conf->size * sizeof(ngx_http_confhaven_slot_t),
                           cycle->log);
    if (evs->slots == NULL) {
        return NGX_ERROR;
    }

    evs->conf = conf;
    evs->pool = pool;
    evs->pgcf = pgcf;
    evs->log = cycle->log;

    if (conf->shm == NULL || conf->shm->data == NULL) {
        return NGX_ERROR;
    }

    evs->sh = conf->shm->data;

    if (ngx_process_slot >= 0 && ngx_process_slot < NGX_MAX_PROCESSES) {
        evs->me = &evs->sh->slots[ngx_process_slot];
        evs->me->buffered = 0;
        evs->me->failing = 0;
        evs->me->capacity = conf->size;
        evs->me->pid = ngx_pid;
    }

    evs->timer.handler = ngx_http_confhaven_events_tick;
    evs->timer.data = evs;
    evs->timer.log = cycle->log;
    evs->timer.cancelable = 1;

    evs->next_expire = ngx_current_msec;

    ngx_add_timer(&evs->timer, conf->interval);

    ngx_http_confhaven_events = evs;

    return NGX_OK;
}


ngx_uint_t
ngx_http_confhaven_events_kind(ngx_http_confhaven_op_t *op)
{
    if (op == &ngx_http_confhaven_op_search_sessions) {
        return NGX_HTTP_CONFHAVEN_EVENT_SEARCH;
    }

    if (op == &ngx_http_confhaven_op_get_session) {
        return NGX_HTTP_CONFHAVEN_EVENT_VIEW;
    }

    return NGX_HTTP_CONFHAVEN_EVENT_NONE;
}


void
ngx_http_confhaven_events_record(ngx_http_confhaven_event_t *ev)
{
    u_char                        *p, *last;
    size_t                         len;
    ngx_uint_t                     i, keyed;
    ngx_time_t                    *tp;
    ngx_http_confhaven_op_t       *op;
    ngx_http_confhaven_slot_t     *s;
    ngx_http_confhaven_events_t   *evs;

    evs = ngx_http_confhaven_events;

    if (evs == NULL
        || (ev->kind == NGX_HTTP_CONFHAVEN_EVENT_NONE && ev->tool.len == 0))
    {
        return;
    }

    ngx_http_confhaven_events_add(evs, recorded, 1);

    if (evs->count == evs->conf->size) {
        ngx_http_confhaven_events_add(evs, dropped, 1);
        ngx_http_confhaven_metrics_inc(
                                   NGX_HTTP_CONFHAVEN_METRIC_EVENTS_DROPPED);
        return;
    }

    s = &evs->slots[(evs->head + evs->count) % evs->conf->size];

    tp = ngx_timeofday();

    s->time = (int64_t) tp->sec * 1000 + tp->msec;
    s->kind = (u_char) ev->kind;
    s->wire = ev->wire;
    s->client = ngx_http_confhaven_events_client(&ev->client);
    s->count = (int32_t) ev->count;
    s->latency = (uint32_t) ngx_min(ev->latency, 3600000);
    s->cache_hit = ev->cache_hit ? 1 : 0;
    s->is_error = ev->is_error ? 1 : 0;
    s->session = ev->session;
    s->conf_len = 0;
    s->query_len = 0;
    s->params_len = 0;
    s->nfound = 0;

    op = ev->call ? ev->call->op : NULL;

    if (op == &ngx_http_confhaven_op_search_sessions) {
        /* query, then conference: the operation's first two */
        if (ev->call->values[0]) {
            s->query_len = ngx_http_confhaven_events_copy(s->query,
                               sizeof(s->query),
                               (u_char *) ev->call->values[0],
                               ngx_strlen(ev->call->values[0]));
        }

        if (ev->call->values[1]) {
            s->conf_len = ngx_http_confhaven_events_copy(s->conf,
                              sizeof(s->conf),
                              (u_char *) ev->call->values[1],
                              ngx_strlen(ev->call->values[1]));
        }

        if (ev->answer.len) {
            s->nfound = ngx_http_confhaven_events_found(s->found,
                                                        &ev->answer);
        }

    } else if (op == &ngx_http_confhaven_op_get_session
               && ev->call->values[0])
    {
        s->session = ngx_atoof((u_char *) ev->call->values[0],
                               ngx_strlen(ev->call->values[0]));
    }

    if (ev->conference.len) {
        s->conf_len = ngx_http_confhaven_events_copy(s->conf, sizeof(s->conf),
                                                     ev->conference.data,
                                                     ev->conference.len);
    }

    s->tool_len = ngx_http_confhaven_events_copy(s->tool, sizeof(s->tool),
                                                 ev->tool.data, ev->tool.len);
    s->trace_len = 0;
    s->summary_len = 0;
    s->answer_len = 0;

    if (ev->tool.len) {
        s->trace_len = ngx_http_confhaven_events_copy(s->trace,
                                                      sizeof(s->trace),
                                                      ev->trace.data,
                                                      ev->trace.len);
        s->answer_len = (uint32_t) ev->answer.len;
        s->summary_len = ngx_http_confhaven_events_copy(s->summary,
                                                        sizeof(s->summary),
                                                        ev->answer.data,
                                                        ev->answer.len);

        /* "name=value" lines; an API key never among them */
        p = s->params;
        last = s->params + sizeof(s->params);

        for (i = 0; op && i < op->nparams; i++) {
            if (ev->call->values[i] == NULL
                || op->params[i].type == NGX_HTTP_CONFHAVEN_OP_KEY
                || op->params[i].type == NGX_HTTP_CONFHAVEN_OP_RAW)
            {
                continue;
            }

            len = ngx_strlen(op->params[i].name)
                  + ngx_strlen(ev->call->values[i]) + 2;

            if ((size_t) (last - p) < len) {
                break;
            }

            p = ngx_sprintf(p, "%s=%s\n", op->params[i].name,
                            ev->call->values[i]);
        }

        s->params_len = (uint16_t) (p - s->params);

        /*
         * the conference a tool was asked about; of a keyed (organizer)
         * call only when it succeeded: a caller without the right key
         * would put records into another organizer's review queue
         */
        keyed = 0;

        for (i = 0; op && i < op->nparams; i++) {
            if (op->params[i].type == NGX_HTTP_CONFHAVEN_OP_KEY) {
                keyed = 1;
            }
        }

        for (i = 0;
             op && s->conf_len == 0 && i < op->nparams
             && (!keyed
                 || ev->call->error.kind == NGX_HTTP_CONFHAVEN_OP_OK);
             i++)
        {
            if (ev->call->values[i]
                && (ngx_strcmp(op->params[i].name, "conference") == 0
                    || ngx_strcmp(op->params[i].name, "conference_id") == 0))
            {
                s->conf_len = ngx_http_confhaven_events_copy(s->conf,
                                  sizeof(s->conf),
                                  (u_char *) ev->call->values[i],
                                  ngx_strlen(ev->call->values[i]));
            }
        }

        if (s->query_len == 0 && op && op->nparams
            && op->params[0].type == NGX_HTTP_CONFHAVEN_OP_TEXT
            && ev->call->values[0])
        {
            s->query_len = ngx_http_confhaven_events_copy(s->query,
                               sizeof(s->query),
                               (u_char *) ev->call->values[0],
                               ngx_strlen(ev->call->values[0]));
        }
    }

    evs->count++;

    ngx_http_confhaven_events_publish(evs);
}


/* for the invite operation: one invite sent for a session */

void
ngx_http_confhaven_events_invite(int64_t session, ngx_str_t *conference,
    const char *wire, ngx_str_t *client)
{
    ngx_http_confhaven_event_t  ev;

    ngx_memzero(&ev, sizeof(ngx_http_confhaven_event_t));

    ev.kind = NGX_HTTP_CONFHAVEN_EVENT_INVITE;
    ev.wire = wire;
    ev.session = session;
    ev.count = -1;

    if (conference) {
        ev.conference = *conference;
    }

    if (client) {
        ev.client = *client;
    }

    ngx_http_confhaven_events_record(&ev);
}


/* the instance's: every worker's ring, the totals since nginx started */

json_t *
ngx_http_confhaven_events_health(void)
{
    ngx_uint_t                          i, workers, backlog;
    json_int_t                          buffered, capacity;
    ngx_http_confhaven_events_t        *evs;
    ngx_http_confhaven_events_sh_t     *sh;
    ngx_http_confhaven_events_wslot_t  *ws;

    evs = ngx_http_confhaven_events;

    if (evs == NULL) {
        return json_pack("{s:s}", "status", "off");
    }

    ngx_http_confhaven_events_publish(evs);

    sh = evs->sh;
    workers = 0;
    backlog = 0;
    buffered = 0;
    capacity = 0;

    for (i = 0; i < NGX_MAX_PROCESSES; i++) {
        ws = &sh->slots[i];

        if (ws->pid == 0) {
            continue;
        }

        workers++;
        buffered += ws->buffered;
        capacity += ws->capacity;
        backlog |= (ws->failing && ws->buffered);
    }

    return json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
                     "status", backlog ? "backlog" : "ok",
                     "buffered", buffered,
                     "capacity", capacity,
                     "workers", (json_int_t) workers,
                     "recorded", (json_int_t) sh->recorded,
                     "written", (json_int_t) sh->written,
                     "dropped", (json_int_t) sh->dropped,
                     "evaluations_expired", (json_int_t) sh->expired);
}


static void
ngx_http_confhaven_events_tick(ngx_event_t *ev)
{
    ngx_http_confhaven_events_t  *evs = ev->data;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        /* what is left goes at exit: ngx_http_confhaven_events_exit() */
        return;
    }

    if (evs->flush_pool == NULL && evs->count) {
        ngx_http_confhaven_events_flush(evs);
    }

    if (ngx_worker == 0 && evs->conf->retention
        && evs->expire_pool == NULL
        && (ngx_msec_int_t) (ngx_current_msec - evs->next_expire) >= 0)
    {
        ngx_http_confhaven_events_expire(evs);
    }

    ngx_add_timer(&evs->timer, evs->conf->interval);
}


static void
ngx_http_confhaven_events_flush(ngx_http_confhaven_events_t *evs)
{
    ngx_uint_t                   n;
    ngx_pool_t                  *pool;
    ngx_http_confhaven_pg_op_t  *op;

    n = ngx_min(evs->count, NGX_HTTP_CONFHAVEN_EVENTS_BATCH);

    evs->flush_text = ngx_http_confhaven_events_batch(evs, n);

    if (evs->flush_text == NULL) {
        return;
    }

    pool = ngx_create_pool(1024, evs->log);
    if (pool == NULL) {
        ngx_free(evs->flush_text);
        evs->flush_text = NULL;
        return;
    }

    op = ngx_pcalloc(pool, sizeof(ngx_http_confhaven_pg_op_t));
    if (op == NULL) {
        ngx_destroy_pool(pool);
        ngx_free(evs->flush_text);
        evs->flush_text = NULL;
        return;
    }

    op->sql = "SELECT confhaven.record_events($1::json)::text";
    op->nparams = 1;
    op->values[0] = evs->flush_text;
    op->handler = ngx_http_confhaven_events_flushed;
    op->data = evs;
    op->pool = pool;
    op->log = evs->log;

    evs->flush_pool = pool;
    evs->sending = n;

    if (ngx_http_confhaven_pg_query(evs->pool, op) == NGX_ERROR) {
        /* not started: the handler will not run */
        ngx_http_confhaven_events_flushed(op);
    }
}


/*
 * n events from the head as a JSON array (malloc()ed text), written
 * straight (a jansson object of ~15 members, then its dump, per event
 * cost a warm MCP tool call 7 % of its CPU).  As jansson did: a string
 * that is not valid UTF-8 leaves its member out.
 */

static char *
ngx_http_confhaven_events_batch(ngx_http_confhaven_events_t *evs,
    ngx_uint_t n)
{
    u_char                      *text, *p;
    size_t                       len;
    ngx_uint_t                   i, k;
    ngx_http_confhaven_slot_t   *s;

    static const char  *kinds[] = { NULL, "search", "view", "invite" };

    /* at most 6 bytes per string byte (\u00XX), 21 per number */
    len = sizeof("[]");

    for (i = 0; i < n; i++) {
        s = &evs->slots[(evs->head + i) % evs->conf->size];

        len += 512 + 22 * s->nfound
               + 6 * (ngx_strlen(s->wire ? s->wire : "rest")
                      + ngx_strlen(s->client) + s->conf_len + s->query_len
                      + s->tool_len + s->trace_len + s->params_len
                      + s->summary_len);
    }

    text = ngx_alloc(len, evs->log);
    if (text == NULL) {
        return NULL;
    }

    p = text;
    *p++ = '[';

    for (i = 0; i < n; i++) {
        s = &evs->slots[(evs->head + i) % evs->conf->size];

        if (i) {
            *p++ = ',';
        }

        p = ngx_sprintf(p, "{\"t\":%L,\"w\":", s->time);
        p = ngx_http_confhaven_json_string(p, (u_char *) (s->wire
                                                 ? s->wire : "rest"),
                                             ngx_strlen(s->wire
                                                 ? s->wire : "rest"));
        p = ngx_cpymem(p, ",\"a\":", sizeof(",\"a\":") - 1);
        p = ngx_http_confhaven_json_string(p, (u_char *) s->client,
                                             ngx_strlen(s->client));
        p = ngx_sprintf(p, ",\"h\":%s", s->cache_hit ? "true" : "false");

        if (s->kind != NGX_HTTP_CONFHAVEN_EVENT_NONE) {
            p = ngx_sprintf(p, ",\"k\":\"%s\",\"l\":%uD", kinds[s->kind],
                            s->latency);
        }

        if (s->count >= 0) {
            p = ngx_sprintf(p, ",\"n\":%D", s->count);
        }

        if (s->session) {
            p = ngx_sprintf(p, ",\"s\":%L", s->session);
        }

        if (s->conf_len) {
            p = ngx_http_confhaven_events_member(p, "c", s->conf,
                                                 s->conf_len);
        }

        if (s->query_len) {
            p = ngx_http_confhaven_events_member(p, "q", s->query,
                                                 s->query_len);
        }

        if (s->nfound) {
            p = ngx_cpymem(p, ",\"f\":[", sizeof(",\"f\":[") - 1);

            for (k = 0; k < s->nfound; k++) {
                p = ngx_sprintf(p, k ? ",%L" : "%L", s->found[k]);
            }

            *p++ = ']';
        }

        if (s->tool_len) {
            p = ngx_http_confhaven_events_member(p, "tool", s->tool,
                                                 s->tool_len);
            p = ngx_http_confhaven_events_member(p, "trace", s->trace,
                                                 s->trace_len);
            p = ngx_http_confhaven_events_member(p, "p", s->params,
                                                 s->params_len);
            p = ngx_http_confhaven_events_member(p, "r", s->summary,
                                                 s->summary_len);
            p = ngx_sprintf(p, ",\"rb\":%uD,\"x\":%s", s->answer_len,
                            s->is_error ? "true" : "false");
        }

        *p++ = '}';
    }

    *p++ = ']';
    *p = '\0';

    return (char *) text;
}


/* ,"name":"value"; nothing when value is not valid UTF-8 */

static u_char *
ngx_http_confhaven_events_member(u_char *p, const char *name, u_char *value,
    size_t len)
{
    if (ngx_http_confhaven_json_utf8_invalid(value, len, 1) >= 0) {
        return p;
    }

    p = ngx_sprintf(p, ",\"%s\":", name);

    return ngx_http_confhaven_json_string(p, value, len);
}


/*
 * A worker's exit (reload, quit, stop): the event loop is over, so what
 * the ring still holds is written with one blocking connection, bounded
 * by a 2 s connect timeout and the statement timeout of the server.
 */

void
ngx_http_confhaven_events_exit(void)
{
    ngx_http_confhaven_events_t  *evs;

    evs = ngx_http_confhaven_events;

    if (evs == NULL) {
        return;
    }

    ngx_http_confhaven_events_write_all(evs);

    /* this worker's slot is free (another process may take it) */
    if (evs->me && evs->me->pid == (ngx_atomic_uint_t) ngx_pid) {
        evs->me->buffered = 0;
        evs->me->failing = 0;
        evs->me->capacity = 0;
        evs->me->pid = 0;
    }
}


static void
ngx_http_confhaven_events_write_all(ngx_http_confhaven_events_t *evs)
{
    char                          *text;
    const char                    *params[1];
    ngx_uint_t                     i, n, k;
    PGconn                        *conn;
    PGresult                      *res;
    const char                   **kw, **val;

    if (evs->count == 0 || evs->flush_pool) {
        return;
    }

    for (n = 0; evs->pgcf->keywords[n]; n++) { /* void */ }

    kw = ngx_alloc((n + 2) * sizeof(char *), evs->log);
    val = ngx_alloc((n + 2) * sizeof(char *), evs->log);
    if (kw == NULL || val == NULL) {
        ngx_free(kw);
        ngx_free(val);
        return;
    }

    for (i = 0, k = 0; i < n; i++) {
        if (ngx_strcmp(evs->pgcf->keywords[i], "connect_timeout") != 0) {
            kw[k] = evs->pgcf->keywords[i];
            val[k++] = evs->pgcf->values[i];
        }
    }

    kw[k] = "connect_timeout";
    val[k++] = "2";
    kw[k] = NULL;
    val[k] = NULL;

    conn = PQconnectdbParams(kw, val, 0);

    ngx_free(kw);
    ngx_free(val);

    while (evs->count && PQstatus(conn) == CONNECTION_OK) {
        n = ngx_min(evs->count, NGX_HTTP_CONFHAVEN_EVENTS_BATCH);

        text = ngx_http_confhaven_events_batch(evs, n);
        if (text == NULL) {
            break;
        }

        params[0] = text;

        res = PQexecParams(conn,
                           "SELECT confhaven.record_events($1::json)::text",
                           1, NULL, params, NULL, NULL, 0);

        ngx_free(text);

        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            PQclear(res);
            break;
        }

        PQclear(res);

        evs->head = (evs->head + n) % evs->conf->size;
        evs->count -= n;
        ngx_http_confhaven_events_add(evs, written, n);
    }

    if (evs->count) {
        ngx_log_error(NGX_LOG_WARN, evs->log, 0,
                      "confhaven events: %ui events lost at worker exit: %s",
                      evs->count, PQerrorMessage(conn));

    } else {
        ngx_log_error(NGX_LOG_INFO, evs->log, 0,
                      "confhaven events: written at worker exit");
    }

    PQfinish(conn);

    evs->count = 0;
}


static void
ngx_http_confhaven_events_flushed(ngx_http_confhaven_pg_op_t *op)
{
    ngx_http_confhaven_events_t  *evs = op->data;

    if (op->status == NGX_HTTP_CONFHAVEN_PG_OK) {
        evs->head = (evs->head + evs->sending) % evs->conf->size;
        evs->count -= evs->sending;
        ngx_http_confhaven_events_add(evs, written, evs->sending);

        if (evs->failures) {
            ngx_log_error(NGX_LOG_NOTICE, evs->log, 0,
                          "confhaven events: writing again after %uL "
                          "failed attempts", evs->failures);
            evs->failures = 0;
        }

    } else {
        /* kept for the next tick; said once, not every second */
        if (evs->failures++ == 0) {
            ngx_log_error(NGX_LOG_WARN, evs->log, 0,
                          "confhaven events: %ui events not written, "
                          "kept (at most %ui): %V", evs->sending,
                          evs->conf->size, &op->message);
        }

    }

    evs->sending = 0;

    ngx_http_confhaven_events_publish(evs);

    ngx_free(evs->flush_text);
    evs->flush_text = NULL;

    ngx_destroy_pool(evs->flush_pool);
    evs->flush_pool = NULL;
}


static void
ngx_http_confhaven_events_expire(ngx_http_confhaven_events_t *evs)
{
    u_char                      *p;
    ngx_pool_t                  *pool;
    ngx_http_confhaven_pg_op_t  *op;

    /* checked twice per retention period, at least hourly */
    evs->next_expire = ngx_current_msec
                       + ngx_min((ngx_msec_t) evs->conf->retention * 500,
                                 3600000);

    pool = ngx_create_pool(1024, evs->log);
    if (pool == NULL) {
        return;
    }

    op = ngx_pcalloc(pool, sizeof(ngx_http_confhaven_pg_op_t));
    p = ngx_pnalloc(pool, NGX_TIME_T_LEN + 1);
    if (op == NULL || p == NULL) {
        ngx_destroy_pool(pool);
        return;
    }

    *ngx_sprintf(p, "%T", evs->conf->retention) = '\0';

    op->sql = "SELECT confhaven.expire_evaluations($1::bigint)::text";
    op->nparams = 1;
    op->values[0] = (char *) p;
    op->handler = ngx_http_confhaven_events_expired;
    op->data = evs;
    op->pool = pool;
    op->log = evs->log;

    evs->expire_pool = pool;

    if (ngx_http_confhaven_pg_query(evs->pool, op) == NGX_ERROR) {
        ngx_http_confhaven_events_expired(op);
    }
}


static void
ngx_http_confhaven_events_expired(ngx_http_confhaven_pg_op_t *op)
{
    ngx_int_t                     n;
    ngx_http_confhaven_events_t  *evs = op->data;

    if (op->status == NGX_HTTP_CONFHAVEN_PG_OK && op->value.len) {
        n = ngx_atoi(op->value.data, op->value.len);

        if (n > 0) {
            ngx_http_confhaven_events_add(evs, expired, n);
            ngx_log_error(NGX_LOG_INFO, evs->log, 0,
                          "confhaven events: %i evaluation records older "
                          "than %T s removed", n, evs->conf->retention);
        }

    } else {
        /* try again soon */
        evs->next_expire = ngx_current_msec + 10000;
    }

    ngx_destroy_pool(evs->expire_pool);
    evs->expire_pool = NULL;
}


/* at most size bytes, cut at a character boundary (UTF-8) */

static size_t
ngx_http_confhaven_events_copy(u_char *dst, size_t size, u_char *src,
    size_t len)
{
    if (len == 0) {
        /* src may be NULL then (an empty ngx_str_t) */
        return 0;
    }

    if (len > size) {
        len = size;

        while (len && (src[len] & 0xc0) == 0x80) {
            len--;
        }
    }

    ngx_memcpy(dst, src, len);

    return len;
}


/* which assistant: from MCP clientInfo.name or the User-Agent */

static const char *
ngx_http_confhaven_events_client(ngx_str_t *name)
{
    size_t   len;
    u_char  *s;

    s = name->data;
    len = ngx_min(name->len, 512);

    if (len == 0) {
        return "other";
    }

#define ngx_http_confhaven_has(w)                                            \
    (ngx_strlcasestrn(s, s + len, (u_char *) w, sizeof(w) - 2) != NULL)

    if (ngx_http_confhaven_has("claude") || ngx_http_confhaven_has("anthropic"))
    {
        return "claude";
    }

    if (ngx_http_confhaven_has("chatgpt") || ngx_http_confhaven_has("openai"))
    {
        return "chatgpt";
    }

    if (ngx_http_confhaven_has("copilot") || ngx_http_confhaven_has("vscode")
        || ngx_http_confhaven_has("visual studio code"))
    {
        return "copilot";
    }

    if (ngx_http_confhaven_has("lm studio")
        || ngx_http_confhaven_has("lmstudio")
        || ngx_http_confhaven_has("lm-studio"))
    {
        return "lm-studio";
    }

#undef ngx_http_confhaven_has

    return "other";
}


/*
 * The session ids of a search answer: each "id" key followed by a number
 * (sessions are the only objects with one), the first 20.
 */

static ngx_uint_t
ngx_http_confhaven_events_found(int64_t *ids, ngx_str_t *answer)
{
    u_char      *p, *last, *d;
    int64_t      v;
    ngx_uint_t   n, k;

    p = answer->data;
    last = p + ngx_min(answer->len, NGX_HTTP_CONFHAVEN_EVENTS_SCAN);
    n = 0;

    while (n < NGX_HTTP_CONFHAVEN_EVENTS_FOUND) {
        /* exact bytes (keys are ours), not a per-byte case fold */
        p = ngx_http_confhaven_events_id_key(p, last);
        if (p == NULL) {
            break;
        }

        p += 4;

        while (p < last && (*p == ' ' || *p == ':')) {
            p++;
        }

        d = p;
        v = 0;

        while (p < last && *p >= '0' && *p <= '9' && p - d < 18) {
            v = v * 10 + (*p++ - '0');
        }

        if (p == d || v == 0) {
            continue;
        }

        for (k = 0; k < n; k++) {
            if (ids[k] == v) {
                break;
            }
        }

        if (k == n) {
            ids[n++] = v;
        }
    }

    return n;
}


/*
 * The next "id" (4 bytes, quotes included) in p .. last.  A search answer
 * is some 20 KB scanned whole: glibc's memmem() takes 3 instructions a
 * byte for this needle, more than all the rest of a warm search.  With
 * SSE2 (every x86-64 has it) 32 bytes at a time are searched for the pair
 * '"' 'i' (rare in a search answer), and each such pair is checked.
 */

static u_char *
ngx_http_confhaven_events_id_key(u_char *p, u_char *last)
{
#if defined(__SSE2__)
    unsigned  m;
    __m128i   q, i;

    q = _mm_set1_epi8('"');
    i = _mm_set1_epi8('i');

    /* the loads of a block read up to p + 33, a match up to p + 35 */
    while (last - p >= 35) {
        m = (unsigned) _mm_movemask_epi8(_mm_and_si128(
                _mm_cmpeq_epi8(_mm_loadu_si128((__m128i *) p), q),
                _mm_cmpeq_epi8(_mm_loadu_si128((__m128i *) (p + 1)), i)))
            | (unsigned) _mm_movemask_epi8(_mm_and_si128(
                _mm_cmpeq_epi8(_mm_loadu_si128((__m128i *) (p + 16)), q),
                _mm_cmpeq_epi8(_mm_loadu_si128((__m128i *) (p + 17)), i)))
              << 16;

        while (m) {
            if (p[__builtin_ctz(m) + 2] == 'd'
                && p[__builtin_ctz(m) + 3] == '"')
            {
                return p + __builtin_ctz(m);
            }

            m &= m - 1;
        }

        p += 32;
    }
#endif

    if (last - p < 4) {
        return NULL;
    }

    return memmem(p, last - p, "\"id\"", 4);
}
