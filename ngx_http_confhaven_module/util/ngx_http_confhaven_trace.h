
/*
 * Copyright (C) ConferenceHaven
 */


#ifndef _NGX_HTTP_CONFHAVEN_TRACE_H_INCLUDED_
#define _NGX_HTTP_CONFHAVEN_TRACE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <jansson.h>


/*
 * OpenTelemetry spans, recorded by any layer and kept per worker in a
 * bounded queue until the exporter (offload/ngx_http_confhaven_otlp.c)
 * takes a batch.  A span's attributes are encoded as OTLP protobuf
 * KeyValue fields when they are set, and the whole span when it ends,
 * into the batch that is sent as it is.
 * A span that does not fit in the queue is dropped and counted.  Spans are
 * made only when a trace is sampled: an unsampled request costs one
 * allocation, its server span, which carries the W3C context outwards.
 */


/* protobuf wire types */
#define NGX_HTTP_CONFHAVEN_PB_VARINT  0
#define NGX_HTTP_CONFHAVEN_PB_I64     1
#define NGX_HTTP_CONFHAVEN_PB_LEN     2
#define NGX_HTTP_CONFHAVEN_PB_I32     5

#define ngx_http_confhaven_pb_tag(field, type)                                \
    (u_char) (((field) << 3) | (type))

/* OTLP SpanKind */
#define NGX_HTTP_CONFHAVEN_SPAN_INTERNAL  1
#define NGX_HTTP_CONFHAVEN_SPAN_SERVER    2
#define NGX_HTTP_CONFHAVEN_SPAN_CLIENT    3

#define NGX_HTTP_CONFHAVEN_SPAN_NAME      64
#define NGX_HTTP_CONFHAVEN_SPAN_ATTRS     640
#define NGX_HTTP_CONFHAVEN_SPAN_VALUE     256   /* a string attribute, max */
#define NGX_HTTP_CONFHAVEN_TRACESTATE     256

/* "00-" 32 hex "-" 16 hex "-" 2 hex, NUL */
#define NGX_HTTP_CONFHAVEN_TRACEPARENT_LEN  55


typedef struct {
    u_char                         trace_id[16];
    u_char                         span_id[8];
    u_char                         parent_id[8];    /* zero: a root */
    uint64_t                       start;           /* unix ns */
    uint64_t                       end;
    uint16_t                       name_len;
    uint16_t                       attrs_len;
    uint8_t                        kind;
    uint8_t                        status;          /* OTLP StatusCode */
    uint8_t                        dropped;         /* attributes */
    uint8_t                        sampled;
    uint8_t                        ended;
    uint8_t                        has_parent;
    uint16_t                       state_len;       /* tracestate */
    u_char                         name[NGX_HTTP_CONFHAVEN_SPAN_NAME];
    u_char                         attrs[NGX_HTTP_CONFHAVEN_SPAN_ATTRS];
    u_char                        *state;           /* not exported */
} ngx_http_confhaven_span_t;


/*
 * The trace context an offloaded HTTP call carries into its thread, and
 * the client spans the thread records there (job memory only); the loop
 * hands them to the queue when the job is done.
 */

#define NGX_HTTP_CONFHAVEN_TRACE_CALLS  6

typedef struct {
    u_char                         trace_id[16];
    u_char                         parent_id[8];
    unsigned                       active:1;       /* propagate */
    unsigned                       sampled:1;      /* record */
    char                           state[NGX_HTTP_CONFHAVEN_TRACESTATE];
    ngx_uint_t                     nspans;
    ngx_uint_t                     dropped;
    ngx_http_confhaven_span_t      spans[NGX_HTTP_CONFHAVEN_TRACE_CALLS];
} ngx_http_confhaven_trace_calls_t;


typedef struct {
    ngx_uint_t                     ratio;       /* per million */
    ngx_uint_t                     queue_size;  /* spans */
    ngx_str_t                      service;     /* service.name */
} ngx_http_confhaven_trace_conf_t;


ngx_int_t ngx_http_confhaven_trace_init_process(ngx_cycle_t *cycle,
    ngx_http_confhaven_trace_conf_t *conf);
void ngx_http_confhaven_trace_exit_process(void);
ngx_uint_t ngx_http_confhaven_trace_enabled(void);

ngx_http_confhaven_span_t *ngx_http_confhaven_trace_server(ngx_pool_t *pool,
    ngx_str_t *traceparent, ngx_str_t *tracestate, time_t sec,
    ngx_msec_t msec);
void ngx_http_confhaven_trace_reparent(ngx_http_confhaven_span_t *span,
    ngx_str_t *traceparent, ngx_str_t *tracestate);
ngx_http_confhaven_span_t *ngx_http_confhaven_trace_child(ngx_pool_t *pool,
    ngx_http_confhaven_span_t *parent, const char *name, size_t len,
    ngx_uint_t kind);
void ngx_http_confhaven_trace_strn(ngx_http_confhaven_span_t *span,
    const char *key, size_t klen, u_char *value, size_t len);
void ngx_http_confhaven_trace_intn(ngx_http_confhaven_span_t *span,
    const char *key, size_t klen, int64_t value);

/* key: a string literal (its length is the compiler's); "" sets the name */
#define ngx_http_confhaven_trace_str(span, key, value, len)                   \
    ngx_http_confhaven_trace_strn(span, "" key, sizeof("" key) - 1, value,    \
                                  len)
#define ngx_http_confhaven_trace_int(span, key, value)                        \
    ngx_http_confhaven_trace_intn(span, "" key, sizeof("" key) - 1, value)
void ngx_http_confhaven_trace_error(ngx_http_confhaven_span_t *span);
void ngx_http_confhaven_trace_end(ngx_http_confhaven_span_t *span);
u_char *ngx_http_confhaven_trace_traceparent(u_char *p,
    ngx_http_confhaven_span_t *span);

/* for offloaded calls: the first two on the loop, the rest in a thread */
void ngx_http_confhaven_trace_calls_init(
    ngx_http_confhaven_trace_calls_t *tc, ngx_http_confhaven_span_t *parent);
void ngx_http_confhaven_trace_calls_flush(
    ngx_http_confhaven_trace_calls_t *tc);
ngx_http_confhaven_span_t *ngx_http_confhaven_trace_calls_start(
    ngx_http_confhaven_trace_calls_t *tc, const char *name, u_char *header);
void ngx_http_confhaven_trace_calls_end(ngx_http_confhaven_span_t *span);

/* the exporter's side */
ngx_uint_t ngx_http_confhaven_trace_pending(void);
ngx_uint_t ngx_http_confhaven_trace_full(void);
u_char *ngx_http_confhaven_trace_encode(size_t *len, ngx_uint_t *n);
void ngx_http_confhaven_trace_exported(ngx_uint_t n, ngx_uint_t ok);
json_t *ngx_http_confhaven_trace_health(void);
u_char *ngx_http_confhaven_trace_resource(size_t *len);

ngx_int_t ngx_http_confhaven_trace_set_notify(ngx_event_t *ev,
    ngx_uint_t batch);


/*
 * Protobuf writers, shared with the metrics exporter; inline: a span's
 * fields are a few of them each, once per request.
 */

static ngx_inline size_t
ngx_http_confhaven_pb_varint_len(uint64_t v)
{
    size_t  n;

    for (n = 1; v >= 0x80; n++) {
        v >>= 7;
    }

    return n;
}


static ngx_inline u_char *
ngx_http_confhaven_pb_varint(u_char *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (u_char) (v | 0x80);
        v >>= 7;
    }

    *p++ = (u_char) v;

    return p;
}


static ngx_inline u_char *
ngx_http_confhaven_pb_bytes(u_char *p, u_char tag, const u_char *data,
    size_t len)
{
    *p++ = tag;
    p = ngx_http_confhaven_pb_varint(p, len);

    return len ? ngx_cpymem(p, data, len) : p;
}


static ngx_inline u_char *
ngx_http_confhaven_pb_fixed64(u_char *p, u_char tag, uint64_t v)
{
#if !(NGX_HAVE_LITTLE_ENDIAN)
    ngx_uint_t  i;
#endif

    *p++ = tag;

#if (NGX_HAVE_LITTLE_ENDIAN)
    /* protobuf's fixed64 is little-endian, as the machine */
    ngx_memcpy(p, &v, 8);
    p += 8;
#else
    for (i = 0; i < 8; i++) {
        *p++ = (u_char) (v >> (8 * i));
    }
#endif

    return p;
}


#endif /* _NGX_HTTP_CONFHAVEN_TRACE_H_INCLUDED_ */
