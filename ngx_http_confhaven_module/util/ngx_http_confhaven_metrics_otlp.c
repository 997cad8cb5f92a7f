
/*
 * Copyright (C) ConferenceHaven
 */


/*
 * The metrics as one OTLP ExportMetricsServiceRequest (opentelemetry-proto
 * v1: collector/metrics/v1/metrics_service.proto), translated from the
 * Prometheus exposition that ngx_http_confhaven_metrics_render() writes:
 * one reading of the zone, so that the OTLP values are a scrape's values
 * and a metric added to the exposition is exported with no code here.
 *
 *   # TYPE x counter    Metric { name: x less "_total", sum: Sum {
 *                         data_points, CUMULATIVE, is_monotonic } }
 *   # TYPE x gauge      Metric { name: x, gauge: Gauge { data_points } }
 *   # TYPE x histogram  Metric { name: x, unit: "s", histogram:
 *                         Histogram { data_points, CUMULATIVE } }
 *
 * A histogram's x_bucket lines of one label set (cumulative counts) become
 * bucket_counts (per bucket) and explicit_bounds (the finite "le"s), x_sum
 * its sum and x_count its count.  Labels become string attributes.
 *
 * Nested messages are written with their length as a 4-byte varint,
 * patched when the message ends (decoders take non-minimal varints;
 * perfetto's protozero does the same), so the request is one pass.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_confhaven_metrics.h"
#include "ngx_http_confhaven_trace.h"
#include "ngx_http_confhaven_metrics_otlp.h"


#define NGX_HTTP_CONFHAVEN_MOTLP_DEPTH    8
#define NGX_HTTP_CONFHAVEN_MOTLP_LABELS   8
#define NGX_HTTP_CONFHAVEN_MOTLP_BUCKETS  32

/* the Metric's data field and its data points' attributes field */
#define NGX_HTTP_CONFHAVEN_MOTLP_COUNTER    1
#define NGX_HTTP_CONFHAVEN_MOTLP_GAUGE      2
#define NGX_HTTP_CONFHAVEN_MOTLP_HISTOGRAM  3


typedef struct {
    u_char                        *start;
    u_char                        *pos;
    u_char                        *end;
    u_char                        *open[NGX_HTTP_CONFHAVEN_MOTLP_DEPTH];
    ngx_uint_t                     depth;
    ngx_uint_t                     failed;
} ngx_http_confhaven_motlp_w_t;


typedef struct {
    ngx_str_t                      key;
    ngx_str_t                      value;        /* unescaped */
} ngx_http_confhaven_motlp_label_t;


typedef struct {
    ngx_str_t                      name;         /* the sample's */
    ngx_http_confhaven_motlp_label_t
                                   labels[NGX_HTTP_CONFHAVEN_MOTLP_LABELS];
    ngx_uint_t                     nlabels;
    u_char                        *value;        /* NUL ended */
} ngx_http_confhaven_motlp_sample_t;


typedef struct {
    ngx_http_confhaven_motlp_w_t   w;
    uint64_t                       start;        /* ns */
    uint64_t                       now;
    ngx_str_t                      family;
    ngx_str_t                      help;
    ngx_uint_t                     type;
    ngx_uint_t                     opened;       /* the Metric */

    /* the histogram data point being read */
    ngx_http_confhaven_motlp_sample_t
                                   point;
    uint64_t                       cum[NGX_HTTP_CONFHAVEN_MOTLP_BUCKETS];
    double                         le[NGX_HTTP_CONFHAVEN_MOTLP_BUCKETS];
    ngx_uint_t                     nbuckets;
    double                         sum;
} ngx_http_confhaven_motlp_t;


static void ngx_http_confhaven_motlp_line(ngx_http_confhaven_motlp_t *mo,
    u_char *line);
static ngx_int_t ngx_http_confhaven_motlp_parse(u_char *line,
    ngx_http_confhaven_motlp_sample_t *s);
static void ngx_http_confhaven_motlp_metric(ngx_http_confhaven_motlp_t *mo);
static void ngx_http_confhaven_motlp_end_metric(
    ngx_http_confhaven_motlp_t *mo);
static void ngx_http_confhaven_motlp_number(ngx_http_confhaven_motlp_t *mo,
    ngx_http_confhaven_motlp_sample_t *s);
static void ngx_http_confhaven_motlp_histogram(
    ngx_http_confhaven_motlp_t *mo, u_char *count);
static void ngx_http_confhaven_motlp_attrs(ngx_http_confhaven_motlp_t *mo,
    u_char tag, ngx_http_confhaven_motlp_sample_t *s);
static ngx_uint_t ngx_http_confhaven_motlp_suffix(ngx_str_t *name,
    ngx_str_t *family, const char *suffix);

static ngx_uint_t ngx_http_confhaven_motlp_need(
    ngx_http_confhaven_motlp_w_t *w, size_t n);
static void ngx_http_confhaven_motlp_open(ngx_http_confhaven_motlp_w_t *w,
    ngx_uint_t field);
static void ngx_http_confhaven_motlp_close(ngx_http_confhaven_motlp_w_t *w);
static void ngx_http_confhaven_motlp_bytes(ngx_http_confhaven_motlp_w_t *w,
    ngx_uint_t field, u_char *data, size_t len);
static void ngx_http_confhaven_motlp_varint(ngx_http_confhaven_motlp_w_t *w,
    ngx_uint_t field, uint64_t v);
static void ngx_http_confhaven_motlp_fixed64(
    ngx_http_confhaven_motlp_w_t *w, ngx_uint_t field, uint64_t v);
static uint64_t ngx_http_confhaven_motlp_double(double d);


/*
 * The request, pool allocated, or NULL (no metrics zone, no memory).
 * Runs on the event loop of the exporting worker, once an interval.
 */

u_char *
ngx_http_confhaven_metrics_otlp(ngx_pool_t *pool,
    ngx_http_confhaven_metrics_zone_stats_t *zs, size_t *len)
{
    off_t                        size;
    u_char                      *text, *p, *line, *resource;
    size_t                       rlen;
    ngx_buf_t                   *b;
    ngx_time_t                  *tp;
    ngx_chain_t                 *out, *cl;
    ngx_http_confhaven_motlp_t  *mo;

    static u_char  scope_name[] = "ngx_http_confhaven_module";

    size = 0;

    out = ngx_http_confhaven_metrics_render(pool, zs, &size);
    if (out == NULL) {
        return NULL;
    }

    text = ngx_pnalloc(pool, (size_t) size + 1);
    if (text == NULL) {
        return NULL;
    }

    p = text;

    for (cl = out; cl; cl = cl->next) {
        b = cl->buf;
        p = ngx_cpymem(p, b->pos, b->last - b->pos);
    }

    *p = '\0';

    mo = ngx_pcalloc(pool, sizeof(ngx_http_confhaven_motlp_t));
    if (mo == NULL) {
        return NULL;
    }

    resource = ngx_http_confhaven_trace_resource(&rlen);

    /* a data point is never three times its text line */
    mo->w.start = ngx_pnalloc(pool, 3 * (size_t) size + rlen + 4096);
    if (mo->w.start == NULL) {
        return NULL;
    }

    mo->w.pos = mo->w.start;
    mo->w.end = mo->w.start + 3 * (size_t) size + rlen + 4096;

    mo->start = ngx_http_confhaven_metrics_start() * 1000000;
    tp = ngx_timeofday();
    mo->now = (uint64_t) tp->sec * 1000000000 + (uint64_t) tp->msec * 1000000;

    /* resource_metrics (1) { resource (1), scope_metrics (2) { scope (1) */

    ngx_http_confhaven_motlp_open(&mo->w, 1);

    ngx_http_confhaven_motlp_open(&mo->w, 1);

    if (rlen && ngx_http_confhaven_motlp_need(&mo->w, rlen)) {
        mo->w.pos = ngx_cpymem(mo->w.pos, resource, rlen);
    }

    ngx_http_confhaven_motlp_close(&mo->w);

    ngx_http_confhaven_motlp_open(&mo->w, 2);
    ngx_http_confhaven_motlp_open(&mo->w, 1);
    ngx_http_confhaven_motlp_bytes(&mo->w, 1, scope_name,
                                   sizeof(scope_name) - 1);
    ngx_http_confhaven_motlp_close(&mo->w);

    /* metrics (2), one a family */

    for (line = text; *line; line = p) {
        p = (u_char *) ngx_strchr(line, '\n');

        if (p == NULL) {
            p = line + ngx_strlen(line);

        } else {
            *p++ = '\0';
        }

        ngx_http_confhaven_motlp_line(mo, line);
    }

    ngx_http_confhaven_motlp_end_metric(mo);

    ngx_http_confhaven_motlp_close(&mo->w);
    ngx_http_confhaven_motlp_close(&mo->w);

    if (mo->w.failed) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "confhaven otlp: the metrics do not fit in the "
                      "export buffer");
        return NULL;
    }

    *len = mo->w.pos - mo->w.start;

    return mo->w.start;
}


static void
ngx_http_confhaven_motlp_line(ngx_http_confhaven_motlp_t *mo, u_char *line)
{
    u_char                             *p, *type;
    ngx_uint_t                          i;
    ngx_http_confhaven_motlp_sample_t   s;

    if (ngx_strncmp(line, "# HELP ", 7) == 0) {
        ngx_http_confhaven_motlp_end_metric(mo);

        p = line + 7;
        mo->family.data = p;

        while (*p && *p != ' ') {
            p++;
        }

        mo->family.len = p - mo->family.data;
        mo->help.data = (*p == ' ') ? p + 1 : p;
        mo->help.len = ngx_strlen(mo->help.data);
        mo->type = 0;

        return;
    }

    if (ngx_strncmp(line, "# TYPE ", 7) == 0) {
        type = (u_char *) ngx_strchr(line + 7, ' ');

        if (type == NULL
            || (size_t) (type - line - 7) != mo->family.len
            || ngx_strncmp(line + 7, mo->family.data, mo->family.len) != 0)
        {
            /* a TYPE without its HELP: not written by the exposition */
            mo->type = 0;
            return;
        }

        type++;

        mo->type = ngx_strcmp(type, "counter") == 0
                   ? NGX_HTTP_CONFHAVEN_MOTLP_COUNTER
                   : ngx_strcmp(type, "gauge") == 0
                   ? NGX_HTTP_CONFHAVEN_MOTLP_GAUGE
                   : ngx_strcmp(type, "histogram") == 0
                   ? NGX_HTTP_CONFHAVEN_MOTLP_HISTOGRAM : 0;

        return;
    }

    if (line[0] == '#' || line[0] == '\0' || mo->type == 0
        || ngx_http_confhaven_motlp_parse(line, &s) != NGX_OK)
    {
        return;
    }

    if (mo->type != NGX_HTTP_CONFHAVEN_MOTLP_HISTOGRAM) {
        if (s.name.len == mo->family.len
            && ngx_strncmp(s.name.data, mo->family.data, s.name.len) == 0)
        {
            ngx_http_confhaven_motlp_metric(mo);
            ngx_http_confhaven_motlp_number(mo, &s);
        }

        return;
    }

    if (ngx_http_confhaven_motlp_suffix(&s.name, &mo->family, "_bucket")) {

        if (mo->nbuckets == 0) {
            mo->point = s;
            mo->point.nlabels = 0;

            /* the data point's attributes: all but "le" */
            for (i = 0; i < s.nlabels; i++) {
                if (s.labels[i].key.len != 2
                    || ngx_strncmp(s.labels[i].key.data, "le", 2) != 0)
                {
                    mo->point.labels[mo->point.nlabels++] = s.labels[i];
                }
            }
        }

        if (mo->nbuckets == NGX_HTTP_CONFHAVEN_MOTLP_BUCKETS) {
            return;
        }

        for (i = 0; i < s.nlabels; i++) {
            if (s.labels[i].key.len == 2
                && ngx_strncmp(s.labels[i].key.data, "le", 2) == 0)
            {
                /* labels are NUL ended after their parse */
                mo->le[mo->nbuckets] = strtod((char *) s.labels[i].value.data,
                                              NULL);
                mo->cum[mo->nbuckets] =
                              strtoull((char *) s.value, NULL, 10);
                mo->nbuckets++;
                break;
            }
        }

        return;
    }

    if (ngx_http_confhaven_motlp_suffix(&s.name, &mo->family, "_sum")) {
        mo->sum = strtod((char *) s.value, NULL);
        return;
    }

    if (ngx_http_confhaven_motlp_suffix(&s.name, &mo->family, "_count")) {
        ngx_http_confhaven_motlp_metric(mo);
        ngx_http_confhaven_motlp_histogram(mo, s.value);
        mo->nbuckets = 0;
        mo->sum = 0;
    }
}


/*
 * name{key="value",...} value: the values are unescaped in place and,
 * like the value, NUL ended.
 */

static ngx_int_t
ngx_http_confhaven_motlp_parse(u_char *line,
    ngx_http_confhaven_motlp_sample_t *s)
{
    u_char                            *p, *d;
    ngx_http_confhaven_motlp_label_t  *l;

    s->nlabels = 0;
    s->name.data = line;

    for (p = line; *p && *p != '{' && *p != ' '; p++) { /* void */ }

    s->name.len = p - line;

    if (*p == '{') {
        p++;

        while (*p != '}') {
            if (s->nlabels == NGX_HTTP_CONFHAVEN_MOTLP_LABELS) {
                return NGX_DECLINED;
            }

            l = &s->labels[s->nlabels++];
            l->key.data = p;

            while (*p && *p != '=') {
                p++;
            }

            if (p[0] != '=' || p[1] != '"') {
                return NGX_DECLINED;
            }

            l->key.len = p - l->key.data;
            p += 2;

            l->value.data = p;
            d = p;

            while (*p && *p != '"') {
                if (*p == '\\' && p[1]) {
                    p++;
                    *d++ = (*p == 'n') ? '\n' : *p;
                    p++;
                    continue;
                }

                *d++ = *p++;
            }

            if (*p != '"') {
                return NGX_DECLINED;
            }

            l->value.len = d - l->value.data;
            *d = '\0';
            p++;

            if (*p == ',') {
                p++;

            } else if (*p != '}') {
                return NGX_DECLINED;
            }
        }

        p++;
    }

    if (*p != ' ' || p[1] == '\0') {
        return NGX_DECLINED;
    }

    s->value = p + 1;

    return NGX_OK;
}


/* Metric (2 of ScopeMetrics) and its data message, at the first point */

static void
ngx_http_confhaven_motlp_metric(ngx_http_confhaven_motlp_t *mo)
{
    size_t     len;
    ngx_str_t  unit;

    if (mo->opened) {
        return;
    }

    mo->opened = 1;

    len = mo->family.len;

    /* OpenTelemetry names a counter without the Prometheus suffix */
    if (mo->type == NGX_HTTP_CONFHAVEN_MOTLP_COUNTER && len > 6
        && ngx_strncmp(mo->family.data + len - 6, "_total", 6) == 0)
    {
        len -= 6;
    }

    ngx_str_null(&unit);

    if (len > 8
        && ngx_strncmp(mo->family.data + len - 8, "_seconds", 8) == 0)
    {
        ngx_str_set(&unit, "s");
    }

    ngx_http_confhaven_motlp_open(&mo->w, 2);
    ngx_http_confhaven_motlp_bytes(&mo->w, 1, mo->family.data, len);
    ngx_http_confhaven_motlp_bytes(&mo->w, 2, mo->help.data, mo->help.len);

    if (unit.len) {
        ngx_http_confhaven_motlp_bytes(&mo->w, 3, unit.data, unit.len);
    }

    /* sum (7), gauge (5), histogram (9) */
    ngx_http_confhaven_motlp_open(&mo->w,
                      mo->type == NGX_HTTP_CONFHAVEN_MOTLP_COUNTER ? 7
                      : mo->type == NGX_HTTP_CONFHAVEN_MOTLP_GAUGE ? 5 : 9);
}


static void
ngx_http_confhaven_motlp_end_metric(ngx_http_confhaven_motlp_t *mo)
{
    if (!mo->opened) {
        return;
    }

    /* aggregation_temporality (2): CUMULATIVE; is_monotonic (3) */

    if (mo->type == NGX_HTTP_CONFHAVEN_MOTLP_COUNTER) {
        ngx_http_confhaven_motlp_varint(&mo->w, 2, 2);
        ngx_http_confhaven_motlp_varint(&mo->w, 3, 1);

    } else if (mo->type == NGX_HTTP_CONFHAVEN_MOTLP_HISTOGRAM) {
        ngx_http_confhaven_motlp_varint(&mo->w, 2, 2);
    }

    ngx_http_confhaven_motlp_close(&mo->w);
    ngx_http_confhaven_motlp_close(&mo->w);

    mo->opened = 0;
    mo->nbuckets = 0;
}


/*
 * NumberDataPoint (data_points 1): attributes (7), start_time_unix_nano
 * (2), time_unix_nano (3), as_double (4) or as_int (6, sfixed64).
 */

static void
ngx_http_confhaven_motlp_number(ngx_http_confhaven_motlp_t *mo,
    ngx_http_confhaven_motlp_sample_t *s)
{
    ngx_http_confhaven_motlp_open(&mo->w, 1);

    ngx_http_confhaven_motlp_attrs(mo, 7, s);

    ngx_http_confhaven_motlp_fixed64(&mo->w, 2, mo->start);
    ngx_http_confhaven_motlp_fixed64(&mo->w, 3, mo->now);

    if (ngx_strlchr(s->value, s->value + ngx_strlen(s->value), '.')) {
        ngx_http_confhaven_motlp_fixed64(&mo->w, 4,
            ngx_http_confhaven_motlp_double(strtod((char *) s->value, NULL)));

    } else {
        /* sfixed64 (I64): the wire type of fixed64 */
        ngx_http_confhaven_motlp_fixed64(&mo->w, 6,
            (uint64_t) strtoll((char *) s->value, NULL, 10));
    }

    ngx_http_confhaven_motlp_close(&mo->w);
}


/*
 * HistogramDataPoint (data_points 1): attributes (9), start (2), time (3),
 * count (4), sum (5), bucket_counts (6) and explicit_bounds (7), packed.
 */

static void
ngx_http_confhaven_motlp_histogram(ngx_http_confhaven_motlp_t *mo,
    u_char *count)
{
    uint64_t                       prev, v;
    ngx_uint_t                     i, k;
    ngx_http_confhaven_motlp_w_t  *w;

    w = &mo->w;

    if (mo->nbuckets == 0) {
        return;
    }

    ngx_http_confhaven_motlp_open(w, 1);

    ngx_http_confhaven_motlp_attrs(mo, 9, &mo->point);

    ngx_http_confhaven_motlp_fixed64(w, 2, mo->start);
    ngx_http_confhaven_motlp_fixed64(w, 3, mo->now);
    ngx_http_confhaven_motlp_fixed64(w, 4,
                                     strtoull((char *) count, NULL, 10));
    ngx_http_confhaven_motlp_fixed64(w, 5,
                                     ngx_http_confhaven_motlp_double(mo->sum));

    ngx_http_confhaven_motlp_open(w, 6);

    prev = 0;

    for (i = 0; i < mo->nbuckets; i++) {
        if (!ngx_http_confhaven_motlp_need(w, 8)) {
            break;
        }

        v = mo->cum[i] >= prev ? mo->cum[i] - prev : 0;
        prev = mo->cum[i];

        for (k = 0; k < 8; k++) {
            *w->pos++ = (u_char) (v >> (8 * k));
        }
    }

    ngx_http_confhaven_motlp_close(w);

    /* the bounds of all buckets but the last (+Inf) */
    ngx_http_confhaven_motlp_open(w, 7);

    for (i = 0; i + 1 < mo->nbuckets; i++) {
        if (!ngx_http_confhaven_motlp_need(w, 8)) {
            break;
        }

        v = ngx_http_confhaven_motlp_double(mo->le[i]);

        for (k = 0; k < 8; k++) {
            *w->pos++ = (u_char) (v >> (8 * k));
        }
    }

    ngx_http_confhaven_motlp_close(w);

    ngx_http_confhaven_motlp_close(w);
}


/* KeyValue { key (1), value (2) AnyValue { string_value (1) } } */

static void
ngx_http_confhaven_motlp_attrs(ngx_http_confhaven_motlp_t *mo, u_char tag,
    ngx_http_confhaven_motlp_sample_t *s)
{
    ngx_uint_t                         i;
    ngx_http_confhaven_motlp_label_t  *l;

    for (i = 0; i < s->nlabels; i++) {
        l = &s->labels[i];

        ngx_http_confhaven_motlp_open(&mo->w, tag);
        ngx_http_confhaven_motlp_bytes(&mo->w, 1, l->key.data, l->key.len);
        ngx_http_confhaven_motlp_open(&mo->w, 2);
        ngx_http_confhaven_motlp_bytes(&mo->w, 1, l->value.data,
                                       l->value.len);
        ngx_http_confhaven_motlp_close(&mo->w);
        ngx_http_confhaven_motlp_close(&mo->w);
    }
}


static ngx_uint_t
ngx_http_confhaven_motlp_suffix(ngx_str_t *name, ngx_str_t *family,
    const char *suffix)
{
    size_t  len;

    len = ngx_strlen(suffix);

    return name->len == family->len + len
           && ngx_strncmp(name->data, family->data, family->len) == 0
           && ngx_strncmp(name->data + family->len, suffix, len) == 0;
}


/* ------------------------------------------------------------ the writer */


static ngx_uint_t
ngx_http_confhaven_motlp_need(ngx_http_confhaven_motlp_w_t *w, size_t n)
{
    if (w->failed || (size_t) (w->end - w->pos) < n) {
        w->failed = 1;
        return 0;
    }

    return 1;
}


/* a message field whose length is patched by its close */

static void
ngx_http_confhaven_motlp_open(ngx_http_confhaven_motlp_w_t *w,
    ngx_uint_t field)
{
    if (w->depth == NGX_HTTP_CONFHAVEN_MOTLP_DEPTH) {
        w->failed = 1;
        return;
    }

    if (!ngx_http_confhaven_motlp_need(w, 5)) {
        w->open[w->depth++] = NULL;
        return;
    }

    *w->pos++ = ngx_http_confhaven_pb_tag(field, NGX_HTTP_CONFHAVEN_PB_LEN);
    w->open[w->depth++] = w->pos;
    w->pos += 4;
}


static void
ngx_http_confhaven_motlp_close(ngx_http_confhaven_motlp_w_t *w)
{
    u_char  *p;
    size_t   len;

    if (w->depth == 0) {
        w->failed = 1;
        return;
    }

    p = w->open[--w->depth];

    if (w->failed || p == NULL) {
        return;
    }

    len = w->pos - p - 4;

    if (len >= (1 << 28)) {
        w->failed = 1;
        return;
    }

    p[0] = (u_char) ((len & 0x7f) | 0x80);
    p[1] = (u_char) (((len >> 7) & 0x7f) | 0x80);
    p[2] = (u_char) (((len >> 14) & 0x7f) | 0x80);
    p[3] = (u_char) ((len >> 21) & 0x7f);
}


static void
ngx_http_confhaven_motlp_bytes(ngx_http_confhaven_motlp_w_t *w,
    ngx_uint_t field, u_char *data, size_t len)
{
    if (!ngx_http_confhaven_motlp_need(w, 11 + len)) {
        return;
    }

    w->pos = ngx_http_confhaven_pb_bytes(w->pos,
                 ngx_http_confhaven_pb_tag(field, NGX_HTTP_CONFHAVEN_PB_LEN),
                 data, len);
}


static void
ngx_http_confhaven_motlp_varint(ngx_http_confhaven_motlp_w_t *w,
    ngx_uint_t field, uint64_t v)
{
    if (!ngx_http_confhaven_motlp_need(w, 11)) {
        return;
    }

    *w->pos++ = ngx_http_confhaven_pb_tag(field,
                                          NGX_HTTP_CONFHAVEN_PB_VARINT);
    w->pos = ngx_http_confhaven_pb_varint(w->pos, v);
}


static void
ngx_http_confhaven_motlp_fixed64(ngx_http_confhaven_motlp_w_t *w,
    ngx_uint_t field, uint64_t v)
{
    if (!ngx_http_confhaven_motlp_need(w, 9)) {
        return;
    }

    w->pos = ngx_http_confhaven_pb_fixed64(w->pos,
                 ngx_http_confhaven_pb_tag(field, NGX_HTTP_CONFHAVEN_PB_I64),
                 v);
}


/* a double's IEEE 754 bits, as protobuf writes them little-endian */

static uint64_t
ngx_http_confhaven_motlp_double(double d)
{
    uint64_t  v;

    ngx_memcpy(&v, &d, sizeof(uint64_t));

    return v;
}
