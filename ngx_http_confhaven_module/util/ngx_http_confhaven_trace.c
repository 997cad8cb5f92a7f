
/*
 * Copyright (C) ConferenceHaven
 */


/*
 * Spans and the worker's queue of finished ones, and the protobuf encoding
 * of an OTLP ExportTraceServiceRequest (opentelemetry-proto v1: the
 * collector's trace service, collector/trace/v1/trace_service.proto).
 * Only the fields we fill are written; field numbers are the schema's.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <sys/random.h>

#include "ngx_http_confhaven_metrics.h"
#include "ngx_http_confhaven_trace.h"


/*
 * Finished spans are encoded at once, as the Span fields of an export
 * request, into chunks of at most a batch of spans each: an export sends
 * a chunk as it is, after a prefix written in the room kept before it.
 * A worker's chunks: the one being filled, full ones waiting (oldest
 * first), one being exported, and free ones; enough of them for the
 * queue plus the export in flight.  Only the bytes spans take are ever
 * touched: some 250 a span, where a ring of span structures took 776.
 */

typedef struct {
    u_char                        *data;        /* headroom, then spans */
    size_t                         len;         /* of the spans */
    ngx_uint_t                     spans;
} ngx_http_confhaven_trace_chunk_t;


typedef struct {
    ngx_http_confhaven_trace_chunk_t   *chunks;
    ngx_uint_t                     nchunks;
    ngx_http_confhaven_trace_chunk_t  **free;
    ngx_uint_t                     nfree;
    ngx_http_confhaven_trace_chunk_t  **ready;  /* a FIFO of nchunks */
    ngx_uint_t                     rhead;
    ngx_uint_t                     rcount;
    ngx_http_confhaven_trace_chunk_t   *cur;    /* being filled */
    ngx_http_confhaven_trace_chunk_t   *flight; /* being exported */
    size_t                         headroom;
    ngx_uint_t                     size;        /* queue: spans, max */
    ngx_uint_t                     count;       /* spans waiting */
    ngx_uint_t                     ratio;
    ngx_uint_t                     dropped;
    ngx_uint_t                     exported;
    ngx_uint_t                     recorded;
    ngx_uint_t                     failures;   /* exports */
    ngx_uint_t                     batch;
    ngx_event_t                   *notify;      /* the exporter's */
    u_char                        *resource;    /* encoded Resource */
    size_t                         resource_len;
} ngx_http_confhaven_tracer_t;


/* a span's record at most: tag, length, Span (ngx_..._trace_span_len()) */
#define NGX_HTTP_CONFHAVEN_SPAN_RECORD                                        \
    (1 + 2 + 2 + 16 + 2 + 8 + 2 + 8 + 1 + 1 + NGX_HTTP_CONFHAVEN_SPAN_NAME   \
     + 2 + 9 + 9 + NGX_HTTP_CONFHAVEN_SPAN_ATTRS + 2 + 4)


static uint64_t ngx_http_confhaven_trace_random(uint64_t *seed);
static void ngx_http_confhaven_trace_id(u_char *p, size_t n,
    uint64_t *seed);
static uint64_t ngx_http_confhaven_trace_now(void);
static ngx_int_t ngx_http_confhaven_trace_parse(ngx_str_t *tp, u_char *tid,
    u_char *pid, ngx_uint_t *flags);
static ngx_uint_t ngx_http_confhaven_trace_state_valid(ngx_str_t *ts);
static void ngx_http_confhaven_trace_sample(ngx_http_confhaven_span_t *span);
static void ngx_http_confhaven_trace_push(ngx_http_confhaven_span_t *span);
static size_t ngx_http_confhaven_trace_kv(u_char *p, size_t room,
    const char *key, size_t klen, const u_char *value, size_t len,
    ngx_uint_t str, int64_t n);
static size_t ngx_http_confhaven_trace_span_len(
    ngx_http_confhaven_span_t *s);
static u_char *ngx_http_confhaven_trace_span_write(u_char *p,
    ngx_http_confhaven_span_t *s);


static ngx_http_confhaven_tracer_t  *ngx_http_confhaven_tracer;

/* the event loop's (no TLS lookup per id) and each thread's */
static uint64_t                      ngx_http_confhaven_trace_loop_seed;
static __thread uint64_t             ngx_http_confhaven_trace_seed;


static u_char  ngx_http_confhaven_trace_hex[] = "0123456789abcdef";


ngx_int_t
ngx_http_confhaven_trace_init_process(ngx_cycle_t *cycle,
    ngx_http_confhaven_trace_conf_t *conf)
{
    u_char                       *p, host[256];
    size_t                        len, n;
    ngx_http_confhaven_tracer_t  *t;

    t = ngx_pcalloc(cycle->pool, sizeof(ngx_http_confhaven_tracer_t));
    if (t == NULL) {
        return NGX_ERROR;
    }

    t->size = conf->queue_size;
    t->ratio = conf->ratio;

    /* Resource { attributes: service.name, host.name, process.pid } */
    t->resource = ngx_palloc(cycle->pool, 1024);
    if (t->resource == NULL) {
        return NGX_ERROR;
    }

    p = t->resource;
    len = 1024;

    n = ngx_http_confhaven_trace_kv(p, len, "service.name",
                                    sizeof("service.name") - 1,
                                    conf->service.data, conf->service.len,
                                    1, 0);
    p += n;
    len -= n;

    n = ngx_min(cycle->hostname.len, sizeof(host));
    ngx_memcpy(host, cycle->hostname.data, n);

    n = ngx_http_confhaven_trace_kv(p, len, "host.name",
                                    sizeof("host.name") - 1, host, n, 1, 0);
    p += n;
    len -= n;

    n = ngx_http_confhaven_trace_kv(p, len, "process.pid",
                                    sizeof("process.pid") - 1, NULL, 0, 0,
                                    (int64_t) ngx_pid);
    p += n;

    /* the KeyValues were written as Span.attributes (9): Resource's is 1 */
    t->resource_len = p - t->resource;

    for (p = t->resource; p < t->resource + t->resource_len; /* void */) {
        *p = ngx_http_confhaven_pb_tag(1, NGX_HTTP_CONFHAVEN_PB_LEN);
        p++;

        len = 0;
        n = 0;

        do {
            len |= (size_t) (*p & 0x7f) << n;
            n += 7;
        } while (*p++ & 0x80);

        p += len;
    }

    ngx_http_confhaven_tracer = t;

    return NGX_OK;
}


/* the encoded Resource attributes, for the metrics exporter too */

u_char *
ngx_http_confhaven_trace_resource(size_t *len)
{
    if (ngx_http_confhaven_tracer == NULL) {
        *len = 0;
        return NULL;
    }

    *len = ngx_http_confhaven_tracer->resource_len;

    return ngx_http_confhaven_tracer->resource;
}


void
ngx_http_confhaven_trace_exit_process(void)
{
    ngx_uint_t                    i;
    ngx_http_confhaven_tracer_t  *t;

    t = ngx_http_confhaven_tracer;

    /* the thread pools have ended by now: no export reads a chunk */
    if (t && t->chunks) {
        for (i = 0; i < t->nchunks; i++) {
            ngx_free(t->chunks[i].data);
        }

        t->chunks = NULL;
    }

    ngx_http_confhaven_tracer = NULL;
}


ngx_uint_t
ngx_http_confhaven_trace_enabled(void)
{
    return ngx_http_confhaven_tracer != NULL;
}


/*
 * The exporter's batch size and its event: a full batch posts it.  The
 * first call makes the chunks: a batch of the largest spans each (what
 * spans do not use is never touched), as many as the queue holds, plus
 * one for the export in flight.
 */

ngx_int_t
ngx_http_confhaven_trace_set_notify(ngx_event_t *ev, ngx_uint_t batch)
{
    ngx_uint_t                    i;
    ngx_http_confhaven_tracer_t  *t;

    t = ngx_http_confhaven_tracer;
    if (t == NULL) {
        return NGX_OK;
    }

    t->notify = ev;

    if (t->chunks || batch == 0) {
        return NGX_OK;
    }

    t->batch = batch;
    t->nchunks = (t->size + batch - 1) / batch + 1;

    /* the prefix: ExportTraceServiceRequest, Resource, scope (< 64) */
    t->headroom = t->resource_len + 64;

    t->chunks = ngx_pcalloc(ngx_cycle->pool, t->nchunks
                            * (sizeof(ngx_http_confhaven_trace_chunk_t)
                               + 2 * sizeof(void *)));
    if (t->chunks == NULL) {
        return NGX_ERROR;
    }

    t->free = (ngx_http_confhaven_trace_chunk_t **)
                  (t->chunks + t->nchunks);
    t->ready = t->free + t->nchunks;

    for (i = 0; i < t->nchunks; i++) {
        t->chunks[i].data = ngx_alloc(t->headroom + batch
                                      * NGX_HTTP_CONFHAVEN_SPAN_RECORD,
                                      ngx_cycle->log);
        if (t->chunks[i].data == NULL) {
            while (i--) {
                ngx_free(t->chunks[i].data);
            }

            t->chunks = NULL;
            return NGX_ERROR;
        }

        t->free[t->nfree++] = &t->chunks[t->nchunks - 1 - i];
    }

    return NGX_OK;
}


/*
 * A request's server span: in the client's trace when traceparent is
 * valid (its parent-id becomes our parent), else in a new one.
 */

ngx_http_confhaven_span_t *
ngx_http_confhaven_trace_server(ngx_pool_t *pool, ngx_str_t *traceparent,
    ngx_str_t *tracestate, time_t sec, ngx_msec_t msec)
{
    ngx_http_confhaven_span_t  *span;

    if (ngx_http_confhaven_tracer == NULL) {
        return NULL;
    }

    span = ngx_palloc(pool, sizeof(ngx_http_confhaven_span_t));
    if (span == NULL) {
        return NULL;
    }

    /* not the attribute buffer: it is written before it is read */
    ngx_memzero(span, offsetof(ngx_http_confhaven_span_t, attrs));
    span->state = NULL;

    span->kind = NGX_HTTP_CONFHAVEN_SPAN_SERVER;
    span->start = (uint64_t) sec * 1000000000 + (uint64_t) msec * 1000000;

    ngx_http_confhaven_trace_id(span->span_id, 8,
                                &ngx_http_confhaven_trace_loop_seed);

    ngx_http_confhaven_trace_reparent(span, traceparent, tracestate);

    if (!span->has_parent) {
        ngx_http_confhaven_trace_id(span->trace_id, 16,
                                    &ngx_http_confhaven_trace_loop_seed);
        ngx_http_confhaven_trace_sample(span);
    }

    return span;
}


/*
 * W3C tracestate: at most 32 comma-separated members "key=value" (empty
 * ones allowed); keys of lowercase letters, digits and the signs _ - * /
 * and @; values of printable ASCII without ',' and '='; blanks and tabs
 * around members.  It is forwarded to Graph and Stripe as a header line,
 * so anything else (a CR or LF from a JSON string above all) drops it.
 */

static ngx_uint_t
ngx_http_confhaven_trace_state_valid(ngx_str_t *ts)
{
    u_char      *p, *end, *m, *e, *eq;
    ngx_uint_t   members;

    p = ts->data;
    end = p + ts->len;
    members = 0;

    for ( ;; ) {

        for (m = p; m < end && *m != ','; m++) { /* void */ }

        e = m;

        while (p < e && (*p == ' ' || *p == '\t')) {
            p++;
        }

        while (e > p && (e[-1] == ' ' || e[-1] == '\t')) {
            e--;
        }

        if (p < e) {
            if (++members > 32) {
                return 0;
            }

            for (eq = p; eq < e && *eq != '='; eq++) {
                if (!((*eq >= 'a' && *eq <= 'z') || (*eq >= '0' && *eq <= '9')
                      || *eq == '_' || *eq == '-' || *eq == '*' || *eq == '/'
                      || *eq == '@'))
                {
                    return 0;
                }
            }

            if (eq == p || eq == e) {
                return 0;
            }

            for (eq++; eq < e; eq++) {
                if (*eq < 0x20 || *eq > 0x7e || *eq == '=') {
                    return 0;
                }
            }
        }

        if (m == end) {
            return 1;
        }

        p = m + 1;
    }
}


/* the context an MCP message's params._meta gives, over the header's */

void
ngx_http_confhaven_trace_reparent(ngx_http_confhaven_span_t *span,
    ngx_str_t *traceparent, ngx_str_t *tracestate)
{
    u_char      tid[16], pid[8];
    ngx_uint_t  flags;

    /* a bad one changes nothing: the span keeps the context it has */
    if (span == NULL || traceparent == NULL || traceparent->len == 0
        || ngx_http_confhaven_trace_parse(traceparent, tid, pid, &flags)
           != NGX_OK)
    {
        return;
    }

    ngx_memcpy(span->trace_id, tid, 16);
    ngx_memcpy(span->parent_id, pid, 8);

    span->has_parent = 1;

    if (tracestate && tracestate->len
        && tracestate->len <= NGX_HTTP_CONFHAVEN_TRACESTATE - 1
        && ngx_http_confhaven_trace_state_valid(tracestate))
    {
        span->state = tracestate->data;
        span->state_len = (uint16_t) tracestate->len;

    } else {
        span->state = NULL;
        span->state_len = 0;
    }

    /*
     * Parent-based sampling (W3C, OpenTelemetry's default sampler): the
     * caller decided; its "sampled" flag is kept, whatever our ratio,
     * so that its trace is whole or absent, and goes on in ours.
     */
    span->sampled = (flags & 0x01) ? 1 : 0;
}


ngx_http_confhaven_span_t *
ngx_http_confhaven_trace_child(ngx_pool_t *pool,
    ngx_http_confhaven_span_t *parent, const char *name, size_t len,
    ngx_uint_t kind)
{
    ngx_http_confhaven_span_t  *span;

    if (parent == NULL || !parent->sampled
        || ngx_http_confhaven_tracer == NULL)
    {
        return NULL;
    }

    /* no pool: the span outlives the request (ngx_free() it once ended) */
    span = pool ? ngx_palloc(pool, sizeof(ngx_http_confhaven_span_t))
                : ngx_alloc(sizeof(ngx_http_confhaven_span_t), ngx_cycle->log);
    if (span == NULL) {
        return NULL;
    }

    ngx_memzero(span, offsetof(ngx_http_confhaven_span_t, attrs));

    ngx_memcpy(span->trace_id, parent->trace_id, 16);
    ngx_memcpy(span->parent_id, parent->span_id, 8);
    ngx_http_confhaven_trace_id(span->span_id, 8,
                                &ngx_http_confhaven_trace_loop_seed);

    span->has_parent = 1;
    span->sampled = 1;
    span->kind = (uint8_t) kind;
    span->state = pool ? parent->state : NULL;
    span->state_len = pool ? parent->state_len : 0;
    span->start = ngx_http_confhaven_trace_now();

    len = ngx_min(len, NGX_HTTP_CONFHAVEN_SPAN_NAME);
    ngx_memcpy(span->name, name, len);
    span->name_len = (uint16_t) len;

    return span;
}


void
ngx_http_confhaven_trace_strn(ngx_http_confhaven_span_t *span,
    const char *key, size_t klen, u_char *value, size_t len)
{
    size_t  n;

    if (span == NULL || !span->sampled || span->ended) {
        return;
    }

    if (klen == 0) {
        /* the span's name */
        len = ngx_min(len, NGX_HTTP_CONFHAVEN_SPAN_NAME);
        ngx_memcpy(span->name, value, len);
        span->name_len = (uint16_t) len;
        return;
    }

    n = ngx_http_confhaven_trace_kv(span->attrs + span->attrs_len,
                                    NGX_HTTP_CONFHAVEN_SPAN_ATTRS
                                    - span->attrs_len,
                                    key, klen, value, len, 1, 0);
    if (n == 0) {
        span->dropped++;
        return;
    }

    span->attrs_len += n;
}


void
ngx_http_confhaven_trace_intn(ngx_http_confhaven_span_t *span,
    const char *key, size_t klen, int64_t value)
{
    size_t  n;

    if (span == NULL || !span->sampled || span->ended) {
        return;
    }

    n = ngx_http_confhaven_trace_kv(span->attrs + span->attrs_len,
                                    NGX_HTTP_CONFHAVEN_SPAN_ATTRS
                                    - span->attrs_len,
                                    key, klen, NULL, 0, 0, value);
    if (n == 0) {
        span->dropped++;
        return;
    }

    span->attrs_len += n;
}


void
ngx_http_confhaven_trace_error(ngx_http_confhaven_span_t *span)
{
    if (span) {
        span->status = 2;       /* STATUS_CODE_ERROR */
    }
}


void
ngx_http_confhaven_trace_end(ngx_http_confhaven_span_t *span)
{
    if (span == NULL || span->ended) {
        return;
    }

    span->ended = 1;

    if (!span->sampled) {
        return;
    }

    /* a full queue drops it: no clock read for it */
    if (span->end == 0 && !ngx_http_confhaven_trace_full()) {
        span->end = ngx_http_confhaven_trace_now();
    }

    ngx_http_confhaven_trace_push(span);
}


/* "00-<trace-id>-<span-id>-<flags>", for an outgoing call */

u_char *
ngx_http_confhaven_trace_traceparent(u_char *p,
    ngx_http_confhaven_span_t *span)
{
    ngx_uint_t  i;

    p = ngx_cpymem(p, "00-", 3);

    for (i = 0; i < 16; i++) {
        *p++ = ngx_http_confhaven_trace_hex[span->trace_id[i] >> 4];
        *p++ = ngx_http_confhaven_trace_hex[span->trace_id[i] & 0xf];
    }

    *p++ = '-';

    for (i = 0; i < 8; i++) {
        *p++ = ngx_http_confhaven_trace_hex[span->span_id[i] >> 4];
        *p++ = ngx_http_confhaven_trace_hex[span->span_id[i] & 0xf];
    }

    return ngx_cpymem(p, span->sampled ? "-01" : "-00", 3);
}


/* ------------------------------------------------------ offloaded calls */


void
ngx_http_confhaven_trace_calls_init(ngx_http_confhaven_trace_calls_t *tc,
    ngx_http_confhaven_span_t *parent)
{
    tc->nspans = 0;
    tc->dropped = 0;
    tc->state[0] = '\0';
    tc->active = 0;
    tc->sampled = 0;

    if (parent == NULL) {
        return;
    }

    ngx_memcpy(tc->trace_id, parent->trace_id, 16);
    ngx_memcpy(tc->parent_id, parent->span_id, 8);
    tc->active = 1;
    tc->sampled = parent->sampled && ngx_http_confhaven_tracer != NULL;

    if (parent->state_len) {
        ngx_memcpy(tc->state, parent->state, parent->state_len);
        tc->state[parent->state_len] = '\0';
    }
}


/* on the loop, when the job is done: its spans join the queue */

void
ngx_http_confhaven_trace_calls_flush(ngx_http_confhaven_trace_calls_t *tc)
{
    ngx_uint_t  i;

    for (i = 0; i < tc->nspans; i++) {
        if (tc->spans[i].ended) {
            ngx_http_confhaven_trace_push(&tc->spans[i]);
        }
    }

    if (ngx_http_confhaven_tracer && tc->dropped) {
        ngx_http_confhaven_tracer->recorded += tc->dropped;
        ngx_http_confhaven_tracer->dropped += tc->dropped;
        ngx_http_confhaven_metrics_add(NGX_HTTP_CONFHAVEN_METRIC_SPANS_DROPPED,
                                       tc->dropped);
    }

    tc->dropped = 0;

    tc->nspans = 0;
}


/*
 * In a thread: a client span for one HTTP exchange, and the traceparent
 * header line ("traceparent: ...", NUL ended) to send in header (at least
 * 80 bytes).  NULL: nothing recorded (the header is still written).
 */

ngx_http_confhaven_span_t *
ngx_http_confhaven_trace_calls_start(ngx_http_confhaven_trace_calls_t *tc,
    const char *name, u_char *header)
{
    u_char                     *p;
    size_t                      len;
    ngx_uint_t                  kept;
    ngx_http_confhaven_span_t   tmp, *span;

    header[0] = '\0';

    if (!tc->active) {
        return NULL;
    }

    span = &tmp;
    kept = 0;

    if (tc->sampled) {
        if (tc->nspans < NGX_HTTP_CONFHAVEN_TRACE_CALLS) {
            span = &tc->spans[tc->nspans++];
            kept = 1;

        } else {
            tc->dropped++;
        }
    }

    ngx_memzero(span, offsetof(ngx_http_confhaven_span_t, attrs));

    ngx_memcpy(span->trace_id, tc->trace_id, 16);
    ngx_memcpy(span->parent_id, tc->parent_id, 8);
    ngx_http_confhaven_trace_id(span->span_id, 8,
                                &ngx_http_confhaven_trace_seed);

    span->has_parent = 1;
    span->sampled = tc->sampled;
    span->kind = NGX_HTTP_CONFHAVEN_SPAN_CLIENT;
    span->start = ngx_http_confhaven_trace_now();
    span->state = NULL;

    len = ngx_min(ngx_strlen(name), NGX_HTTP_CONFHAVEN_SPAN_NAME);
    ngx_memcpy(span->name, name, len);
    span->name_len = (uint16_t) len;

    p = ngx_cpymem(header, "traceparent: ", sizeof("traceparent: ") - 1);
    p = ngx_http_confhaven_trace_traceparent(p, span);
    *p = '\0';

    return kept ? &tc->spans[tc->nspans - 1] : NULL;
}


void
ngx_http_confhaven_trace_calls_end(ngx_http_confhaven_span_t *span)
{
    if (span) {
        span->end = ngx_http_confhaven_trace_now();
        span->ended = 1;
    }
}


/* ----------------------------------------------------------- the queue */


static void
ngx_http_confhaven_trace_push(ngx_http_confhaven_span_t *span)
{
    u_char                            *p;
    size_t                             sl;
    ngx_http_confhaven_tracer_t       *t;
    ngx_http_confhaven_trace_chunk_t  *c;

    t = ngx_http_confhaven_tracer;
    if (t == NULL) {
        return;
    }

    t->recorded++;

    c = t->cur;

    if (c == NULL && t->nfree && t->count < t->size) {
        c = t->free[--t->nfree];
        c->len = 0;
        c->spans = 0;
        t->cur = c;
    }

    if (c == NULL || t->count == t->size) {
        t->dropped++;
        ngx_http_confhaven_metrics_inc(NGX_HTTP_CONFHAVEN_METRIC_SPANS_DROPPED);
        return;
    }

    /* ScopeSpans.spans (2): the Span, encoded now */
    sl = ngx_http_confhaven_trace_span_len(span);

    p = c->data + t->headroom + c->len;
    *p++ = ngx_http_confhaven_pb_tag(2, NGX_HTTP_CONFHAVEN_PB_LEN);
    p = ngx_http_confhaven_pb_varint(p, sl);
    p = ngx_http_confhaven_trace_span_write(p, span);

    c->len = p - (c->data + t->headroom);
    c->spans++;
    t->count++;

    if (c->spans == t->batch) {
        t->ready[(t->rhead + t->rcount++) % t->nchunks] = c;
        t->cur = NULL;
    }

    if (t->notify && t->count >= t->batch && !t->notify->posted) {
        ngx_post_event(t->notify, &ngx_posted_events);
    }
}


ngx_uint_t
ngx_http_confhaven_trace_pending(void)
{
    return ngx_http_confhaven_tracer ? ngx_http_confhaven_tracer->count : 0;
}


/* a span ended now would be dropped: the queue is full */

ngx_uint_t
ngx_http_confhaven_trace_full(void)
{
    ngx_http_confhaven_tracer_t  *t;

    t = ngx_http_confhaven_tracer;

    return t && t->count == t->size;
}


/* an export of n spans ended: accepted (ok) or dropped */

void
ngx_http_confhaven_trace_exported(ngx_uint_t n, ngx_uint_t ok)
{
    ngx_http_confhaven_tracer_t  *t;

    t = ngx_http_confhaven_tracer;

    if (t) {
        /* the chunk is free again */
        if (t->flight) {
            t->free[t->nfree++] = t->flight;
            t->flight = NULL;
        }

        if (ok) {
            t->exported += n;

        } else {
            t->dropped += n;
            t->failures++;
        }
    }

    ngx_http_confhaven_metrics_add(ok ? NGX_HTTP_CONFHAVEN_METRIC_SPANS_EXPORTED
                                      : NGX_HTTP_CONFHAVEN_METRIC_SPANS_DROPPED,
                                   n);

    if (!ok) {
        ngx_http_confhaven_metrics_inc(
                                NGX_HTTP_CONFHAVEN_METRIC_OTLP_EXPORT_FAILURES);
    }
}


/* GET /health, "tracing": this worker's figures */

json_t *
ngx_http_confhaven_trace_health(void)
{
    ngx_http_confhaven_tracer_t  *t;

    t = ngx_http_confhaven_tracer;

    if (t == NULL) {
        return json_pack("{s:s}", "status", "off");
    }

    return json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I}",
                     "status", t->failures && t->count ? "backlog" : "ok",
                     "queued", (json_int_t) t->count,
                     "capacity", (json_int_t) t->size,
                     "recorded", (json_int_t) t->recorded,
                     "exported", (json_int_t) t->exported,
                     "dropped", (json_int_t) t->dropped,
                     "export_failures", (json_int_t) t->failures);
}


/*
 * Takes the oldest full chunk (or, from the timer, the one being filled)
 * as one ExportTraceServiceRequest:
 *   resource_spans (1) { resource (1) { attributes (1) ... }
 *                        scope_spans (2) { scope (1) { name (1) }
 *                                          spans (2) ... } }
 * the spans as they were encoded, after the prefix written in the room
 * before them.  The chunk is the export's until trace_exported(): one
 * trace export at a time (ngx_http_confhaven_otlp.c).
 */

u_char *
ngx_http_confhaven_trace_encode(size_t *len, ngx_uint_t *n)
{
    u_char                            *p, *start;
    size_t                             scope, rs, sl, plen;
    ngx_http_confhaven_tracer_t       *t;
    ngx_http_confhaven_trace_chunk_t  *c;
    u_char                             prefix[64];

    static u_char  scope_name[] = "ngx_http_confhaven_module";

    t = ngx_http_confhaven_tracer;
    *n = 0;

    if (t == NULL || t->count == 0 || t->flight) {
        return NULL;
    }

    if (t->rcount) {
        c = t->ready[t->rhead];
        t->rhead = (t->rhead + 1) % t->nchunks;
        t->rcount--;

    } else {
        c = t->cur;
        t->cur = NULL;
    }

    t->count -= c->spans;
    t->flight = c;

    /* InstrumentationScope { name } */
    sl = 1 + ngx_http_confhaven_pb_varint_len(sizeof(scope_name) - 1)
         + sizeof(scope_name) - 1;

    scope = 1 + ngx_http_confhaven_pb_varint_len(sl) + sl + c->len;

    rs = 1 + ngx_http_confhaven_pb_varint_len(t->resource_len)
         + t->resource_len
         + 1 + ngx_http_confhaven_pb_varint_len(scope) + scope;

    /* what comes before the Resource's attributes and after them */
    p = prefix;
    *p++ = ngx_http_confhaven_pb_tag(1, NGX_HTTP_CONFHAVEN_PB_LEN);
    p = ngx_http_confhaven_pb_varint(p, rs);
    *p++ = ngx_http_confhaven_pb_tag(1, NGX_HTTP_CONFHAVEN_PB_LEN);
    p = ngx_http_confhaven_pb_varint(p, t->resource_len);
    plen = p - prefix;

    start = c->data;

    p = ngx_cpymem(start, prefix, plen);
    p = ngx_cpymem(p, t->resource, t->resource_len);

    *p++ = ngx_http_confhaven_pb_tag(2, NGX_HTTP_CONFHAVEN_PB_LEN);
    p = ngx_http_confhaven_pb_varint(p, scope);

    *p++ = ngx_http_confhaven_pb_tag(1, NGX_HTTP_CONFHAVEN_PB_LEN);
    p = ngx_http_confhaven_pb_varint(p, sl);
    p = ngx_http_confhaven_pb_bytes(p,
                            ngx_http_confhaven_pb_tag(1,
                                                NGX_HTTP_CONFHAVEN_PB_LEN),
                            scope_name, sizeof(scope_name) - 1);

    /* the prefix is up against the spans */
    plen = p - start;
    p = c->data + t->headroom - plen;
    ngx_memmove(p, start, plen);

    *len = plen + c->len;
    *n = c->spans;

    return p;
}


/*
 * Span: trace_id (1), span_id (2), parent_span_id (4), name (5),
 * kind (6), start (7), end (8), attributes (9), dropped (10),
 * status (15) { code (3) }.
 */

static size_t
ngx_http_confhaven_trace_span_len(ngx_http_confhaven_span_t *s)
{
    size_t  len;

    len = 2 + 16 + 2 + 8
          + (s->has_parent ? 2 + 8 : 0)
          + 1 + ngx_http_confhaven_pb_varint_len(s->name_len) + s->name_len
          + 2 + 9 + 9
          + s->attrs_len
          + (s->dropped ? 2 : 0)
          + (s->status ? 4 : 0);

    return len;
}


static u_char *
ngx_http_confhaven_trace_span_write(u_char *p, ngx_http_confhaven_span_t *s)
{
    p = ngx_http_confhaven_pb_bytes(p,
            ngx_http_confhaven_pb_tag(1, NGX_HTTP_CONFHAVEN_PB_LEN),
            s->trace_id, 16);
    p = ngx_http_confhaven_pb_bytes(p,
            ngx_http_confhaven_pb_tag(2, NGX_HTTP_CONFHAVEN_PB_LEN),
            s->span_id, 8);

    if (s->has_parent) {
        p = ngx_http_confhaven_pb_bytes(p,
                ngx_http_confhaven_pb_tag(4, NGX_HTTP_CONFHAVEN_PB_LEN),
                s->parent_id, 8);
    }

    p = ngx_http_confhaven_pb_bytes(p,
            ngx_http_confhaven_pb_tag(5, NGX_HTTP_CONFHAVEN_PB_LEN),
            s->name, s->name_len);

    *p++ = ngx_http_confhaven_pb_tag(6, NGX_HTTP_CONFHAVEN_PB_VARINT);
    *p++ = s->kind;

    p = ngx_http_confhaven_pb_fixed64(p,
            ngx_http_confhaven_pb_tag(7, NGX_HTTP_CONFHAVEN_PB_I64),
            s->start);
    p = ngx_http_confhaven_pb_fixed64(p,
            ngx_http_confhaven_pb_tag(8, NGX_HTTP_CONFHAVEN_PB_I64),
            ngx_max(s->end, s->start));

    p = ngx_cpymem(p, s->attrs, s->attrs_len);

    if (s->dropped) {
        *p++ = ngx_http_confhaven_pb_tag(10, NGX_HTTP_CONFHAVEN_PB_VARINT);
        *p++ = s->dropped & 0x7f;
    }

    if (s->status) {
        *p++ = ngx_http_confhaven_pb_tag(15, NGX_HTTP_CONFHAVEN_PB_LEN);
        *p++ = 2;
        *p++ = ngx_http_confhaven_pb_tag(3, NGX_HTTP_CONFHAVEN_PB_VARINT);
        *p++ = s->status;
    }

    return p;
}


/*
 * One attribute as a Span.attributes (9) field:
 *   KeyValue { key (1), value (2) AnyValue { string_value (1) |
 *                                            int_value (3) } }
 * 0 when it does not fit in room.
 */

static size_t
ngx_http_confhaven_trace_kv(u_char *p, size_t room, const char *key,
    size_t klen, const u_char *value, size_t len, ngx_uint_t str, int64_t n)
{
    u_char  *start;
    size_t   any, kv, total;

    /* most: every length fits in one byte, the value needs no cut */
    if (str && klen + len <= 120) {
        kv = 6 + klen + len;

        if (2 + kv > room) {
            return 0;
        }

        p[0] = ngx_http_confhaven_pb_tag(9, NGX_HTTP_CONFHAVEN_PB_LEN);
        p[1] = (u_char) kv;
        p[2] = ngx_http_confhaven_pb_tag(1, NGX_HTTP_CONFHAVEN_PB_LEN);
        p[3] = (u_char) klen;
        p = ngx_cpymem(p + 4, key, klen);
        p[0] = ngx_http_confhaven_pb_tag(2, NGX_HTTP_CONFHAVEN_PB_LEN);
        p[1] = (u_char) (2 + len);
        p[2] = ngx_http_confhaven_pb_tag(1, NGX_HTTP_CONFHAVEN_PB_LEN);
        p[3] = (u_char) len;

        if (len) {
            ngx_memcpy(p + 4, value, len);
        }

        return 2 + kv;
    }

    /* a small number (a status code): the same, its varint 1 or 2 bytes */
    if (!str && n >= 0 && n < 0x4000 && klen <= 100) {
        any = (n < 0x80) ? 2 : 3;
        kv = 4 + klen + any;

        if (2 + kv > room) {
            return 0;
        }

        p[0] = ngx_http_confhaven_pb_tag(9, NGX_HTTP_CONFHAVEN_PB_LEN);
        p[1] = (u_char) kv;
        p[2] = ngx_http_confhaven_pb_tag(1, NGX_HTTP_CONFHAVEN_PB_LEN);
        p[3] = (u_char) klen;
        p = ngx_cpymem(p + 4, key, klen);
        p[0] = ngx_http_confhaven_pb_tag(2, NGX_HTTP_CONFHAVEN_PB_LEN);
        p[1] = (u_char) any;
        p[2] = ngx_http_confhaven_pb_tag(3, NGX_HTTP_CONFHAVEN_PB_VARINT);
        (void) ngx_http_confhaven_pb_varint(p + 3, (uint64_t) n);

        return 2 + kv;
    }

    if (str) {
        if (len > NGX_HTTP_CONFHAVEN_SPAN_VALUE) {
            len = NGX_HTTP_CONFHAVEN_SPAN_VALUE;

            /* a cut must not split a UTF-8 sequence */
            while (len && (value[len] & 0xc0) == 0x80) {
                len--;
            }
        }

        any = 1 + ngx_http_confhaven_pb_varint_len(len) + len;

    } else {
        any = 1 + ngx_http_confhaven_pb_varint_len((uint64_t) n);
    }

    kv = 1 + ngx_http_confhaven_pb_varint_len(klen) + klen
         + 1 + ngx_http_confhaven_pb_varint_len(any) + any;

    total = 1 + ngx_http_confhaven_pb_varint_len(kv) + kv;

    if (total > room) {
        return 0;
    }

    start = p;

    *p++ = ngx_http_confhaven_pb_tag(9, NGX_HTTP_CONFHAVEN_PB_LEN);
    p = ngx_http_confhaven_pb_varint(p, kv);
    p = ngx_http_confhaven_pb_bytes(p,
            ngx_http_confhaven_pb_tag(1, NGX_HTTP_CONFHAVEN_PB_LEN),
            (u_char *) key, klen);

    *p++ = ngx_http_confhaven_pb_tag(2, NGX_HTTP_CONFHAVEN_PB_LEN);
    p = ngx_http_confhaven_pb_varint(p, any);

    if (str) {
        p = ngx_http_confhaven_pb_bytes(p,
                ngx_http_confhaven_pb_tag(1, NGX_HTTP_CONFHAVEN_PB_LEN),
                value, len);

    } else {
        *p++ = ngx_http_confhaven_pb_tag(3, NGX_HTTP_CONFHAVEN_PB_VARINT);
        p = ngx_http_confhaven_pb_varint(p, (uint64_t) n);
    }

    return p - start;
}


/* ------------------------------------------------------------ helpers */


/*
 * ids: xorshift64*, seeded from the kernel in each worker (the event
 * loop's seed) and each thread (its own)
 */

static uint64_t
ngx_http_confhaven_trace_random(uint64_t *seed)
{
    uint64_t  x;

    x = *seed;

    if (x == 0) {
        if (getrandom(&x, sizeof(x), 0) != sizeof(x) || x == 0) {
            x = (uint64_t) ngx_http_confhaven_trace_now() ^ (uint64_t) ngx_pid
                ^ 0x9e3779b97f4a7c15ULL;
        }
    }

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;

    *seed = x;

    return x * 0x2545f4914f6cdd1dULL;
}


/* n: 8 or 16 */

static void
ngx_http_confhaven_trace_id(u_char *p, size_t n, uint64_t *seed)
{
    size_t    i;
    uint64_t  v;

    for (i = 0; i < n; i += 8) {
        v = ngx_http_confhaven_trace_random(seed);
        ngx_memcpy(p + i, &v, 8);
    }

    /* all zeros is invalid */
    p[0] |= 1;
}


static uint64_t
ngx_http_confhaven_trace_now(void)
{
    struct timespec  ts;

    (void) clock_gettime(CLOCK_REALTIME, &ts);

    return (uint64_t) ts.tv_sec * 1000000000 + (uint64_t) ts.tv_nsec;
}


/* W3C: version (2 hex, not ff) "-" trace-id "-" parent-id "-" flags */

static ngx_int_t
ngx_http_confhaven_trace_parse(ngx_str_t *tp, u_char *tid, u_char *pid,
    ngx_uint_t *flags)
{
    u_char      *p, c, v, zt, zp;
    ngx_uint_t   i;

    p = tp->data;

    if (tp->len < 55 || p[2] != '-' || p[35] != '-' || p[52] != '-'
        || (p[0] == 'f' && p[1] == 'f')
        || (tp->len > 55 && (p[0] == '0' && p[1] == '0')))
    {
        return NGX_DECLINED;
    }

    zt = 0;
    zp = 0;

    for (i = 0; i < 48; i++) {
        c = p[i < 32 ? 3 + i : 4 + i];

        if (c >= '0' && c <= '9') {
            v = c - '0';

        } else if (c >= 'a' && c <= 'f') {
            v = c - 'a' + 10;

        } else {
            return NGX_DECLINED;
        }

        if (i < 32) {
            tid[i / 2] = (i % 2) ? (tid[i / 2] | v) : (u_char) (v << 4);
            zt |= v;

        } else {
            pid[(i - 32) / 2] = (i % 2) ? (pid[(i - 32) / 2] | v)
                                        : (u_char) (v << 4);
            zp |= v;
        }
    }

    /* trace-flags: 2 hex digits, bit 0 "sampled" */
    *flags = 0;

    for (i = 53; i < 55; i++) {
        c = p[i];

        if (c >= '0' && c <= '9') {
            v = c - '0';

        } else if (c >= 'a' && c <= 'f') {
            v = c - 'a' + 10;

        } else {
            return NGX_DECLINED;
        }

        *flags = (*flags << 4) | v;
    }

    return (zt && zp) ? NGX_OK : NGX_DECLINED;
}


/* the trace id's last 8 bytes decide: every service decides the same */

static void
ngx_http_confhaven_trace_sample(ngx_http_confhaven_span_t *span)
{
    uint64_t    v;
    ngx_uint_t  i, ratio;

    ratio = ngx_http_confhaven_tracer->ratio;

    if (ratio >= 1000000) {
        span->sampled = 1;
        return;
    }

    v = 0;

    for (i = 8; i < 16; i++) {
        v = (v << 8) | span->trace_id[i];
    }

    span->sampled = (v % 1000000) < ratio;
}
