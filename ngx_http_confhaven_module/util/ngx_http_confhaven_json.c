
/*
 * Copyright (C) ConferenceHaven
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <pthread.h>
#include <openssl/rand.h>

#include "ngx_http_confhaven_json.h"


#define NGX_HTTP_CONFHAVEN_JSON_FAST_DEPTH  32


typedef struct {
    u_char  *p;
    u_char  *last;
    u_char  *buf;       /* the last unescaped string, in the pool */
} ngx_http_confhaven_json_reader_t;


static ngx_int_t ngx_http_confhaven_json_random_hex(u_char *out);
static json_t *ngx_http_confhaven_json_fast(u_char *p, u_char *last);
static void ngx_http_confhaven_json_fast_space(
    ngx_http_confhaven_json_reader_t *rd);
static ngx_uint_t ngx_http_confhaven_json_fast_ends(
    ngx_http_confhaven_json_reader_t *rd);
static json_t *ngx_http_confhaven_json_fast_value(
    ngx_http_confhaven_json_reader_t *rd, ngx_uint_t depth);
static ngx_int_t ngx_http_confhaven_json_fast_string(
    ngx_http_confhaven_json_reader_t *rd, u_char **out, size_t *len);


ngx_int_t
ngx_http_confhaven_json_dump(ngx_http_request_t *r, json_t *json,
    ngx_str_t *out)
{
    char    *s;
    size_t   len;

    s = json_dumps(json, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(json);

    if (s == NULL) {
        return NGX_ERROR;
    }

    len = ngx_strlen(s);

    out->data = ngx_pnalloc(r->pool, len);
    if (out->data == NULL) {
        free(s);
        return NGX_ERROR;
    }

    ngx_memcpy(out->data, s, len);
    out->len = len;
    free(s);

    return NGX_OK;
}


/*
 * A parse whose values live in a pool: jansson's allocations during the
 * parse are bump allocations there, its frees during it do nothing, and
 * the pool releases it all at once (a request body's 50-odd small
 * mallocs and frees were a tenth of a warm MCP call's CPU).  Outside the
 * parse (and in any other thread) jansson allocates with malloc and free
 * as before, so json_dumps() text is still free()d.
 *
 * The value is never released through jansson (no json_decref() of it,
 * nothing removed from it, no member added: its storage is the pool's);
 * its members may be referenced (json_incref()) by values that live no
 * longer than the pool.
 */

static ngx_pool_t  *ngx_http_confhaven_json_arena;
static pthread_t    ngx_http_confhaven_json_arena_thread;


/* the parse's own thread, not a thread pool's */
#define ngx_http_confhaven_json_in_arena()                                   \
    (ngx_http_confhaven_json_arena                                           \
     && pthread_equal(pthread_self(), ngx_http_confhaven_json_arena_thread))


static void *
ngx_http_confhaven_json_malloc(size_t size)
{
    if (ngx_http_confhaven_json_in_arena()) {
        return ngx_palloc(ngx_http_confhaven_json_arena, size);
    }

    return malloc(size);
}


static void
ngx_http_confhaven_json_free(void *p)
{
    if (ngx_http_confhaven_json_in_arena()) {
        /* during a pooled parse: only the parse's own allocations */
        return;
    }

    free(p);
}


json_t *
ngx_http_confhaven_json_load_pool(ngx_pool_t *pool, u_char *data,
    size_t len, size_t flags, json_error_t *error)
{
    json_t  *json;

    static ngx_uint_t  installed;

    if (!installed) {
        /* malloc and free outside a pooled parse: the same as before */
        json_set_alloc_funcs(ngx_http_confhaven_json_malloc,
                             ngx_http_confhaven_json_free);
        installed = 1;
    }

    ngx_http_confhaven_json_arena_thread = pthread_self();
    ngx_http_confhaven_json_arena = pool;

    json = NULL;

    if (flags == JSON_DECODE_ANY) {
        json = ngx_http_confhaven_json_fast(data, data + len);
    }

    if (json == NULL) {
        /* anything the plain reader is not sure of, and every error */
        json = json_loadb((char *) data, len, flags, error);
    }

    ngx_http_confhaven_json_arena = NULL;

    return json;
}


/*
 * A plain reader for the common shape of a request body: objects,
 * arrays, strings with no \u escape, integers of at most 18 digits,
 * true, false, null, nesting at most 32 deep.  It accepts only what
 * jansson accepts, with the same values (members in order, the last of
 * a repeated name kept); on anything else (a real number, a \u escape,
 * an error) it gives NULL and jansson reads the text again, so errors
 * and rare forms are jansson's.  Only inside a pooled parse: what it
 * leaves behind on NULL is the pool's.
 */

static json_t *
ngx_http_confhaven_json_fast(u_char *p, u_char *last)
{
    json_t                            *v;
    ngx_http_confhaven_json_reader_t   rd;

    rd.p = p;
    rd.last = last;
    rd.buf = NULL;

    v = ngx_http_confhaven_json_fast_value(&rd, 0);
    if (v == NULL) {
        return NULL;
    }

    ngx_http_confhaven_json_fast_space(&rd);

    if (rd.p != rd.last) {
        /* the pool keeps what was made */
        return NULL;
    }

    return v;
}


static void
ngx_http_confhaven_json_fast_space(ngx_http_confhaven_json_reader_t *rd)
{
    while (rd->p < rd->last
           && (*rd->p == ' ' || *rd->p == '\n' || *rd->p == '\r'
               || *rd->p == '\t'))
    {
        rd->p++;
    }
}


/* after a number or a literal: the end, a blank, ',', ']' or '}' */

static ngx_uint_t
ngx_http_confhaven_json_fast_ends(ngx_http_confhaven_json_reader_t *rd)
{
    u_char  c;

    if (rd->p == rd->last) {
        return 1;
    }

    c = *rd->p;

    return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == ','
           || c == ']' || c == '}';
}


static json_t *
ngx_http_confhaven_json_fast_value(ngx_http_confhaven_json_reader_t *rd,
    ngx_uint_t depth)
{
    u_char      *s;
    size_t       len;
    json_t      *v, *m;
    int64_t      n;
    ngx_uint_t   neg, digits;

    ngx_http_confhaven_json_fast_space(rd);

    if (rd->p == rd->last) {
        return NULL;
    }

    switch (*rd->p) {

    case '{':
        if (depth >= NGX_HTTP_CONFHAVEN_JSON_FAST_DEPTH) {
            return NULL;
        }

        rd->p++;

        v = json_object();
        if (v == NULL) {
            return NULL;
        }

        ngx_http_confhaven_json_fast_space(rd);

        if (rd->p < rd->last && *rd->p == '}') {
            rd->p++;
            return v;
        }

        for ( ;; ) {
            ngx_http_confhaven_json_fast_space(rd);

            if (rd->p == rd->last || *rd->p != '"') {
                return NULL;
            }

            if (ngx_http_confhaven_json_fast_string(rd, &s, &len) != NGX_OK) {
                return NULL;
            }

            ngx_http_confhaven_json_fast_space(rd);

            if (rd->p == rd->last || *rd->p != ':') {
                return NULL;
            }

            rd->p++;

            m = ngx_http_confhaven_json_fast_value(rd, depth + 1);

            if (m == NULL
                || json_object_setn_new_nocheck(v, (char *) s, len, m) != 0)
            {
                return NULL;
            }

            ngx_http_confhaven_json_fast_space(rd);

            if (rd->p == rd->last) {
                return NULL;
            }

            if (*rd->p == ',') {
                rd->p++;
                continue;
            }

            if (*rd->p == '}') {
                rd->p++;
                return v;
            }

            return NULL;
        }

    case '[':
        if (depth >= NGX_HTTP_CONFHAVEN_JSON_FAST_DEPTH) {
            return NULL;
        }

        rd->p++;

        v = json_array();
        if (v == NULL) {
            return NULL;
        }

        ngx_http_confhaven_json_fast_space(rd);

        if (rd->p < rd->last && *rd->p == ']') {
            rd->p++;
            return v;
        }

        for ( ;; ) {
            m = ngx_http_confhaven_json_fast_value(rd, depth + 1);

            if (m == NULL || json_array_append_new(v, m) != 0) {
                return NULL;
            }

            ngx_http_confhaven_json_fast_space(rd);

            if (rd->p == rd->last) {
                return NULL;
            }

            if (*rd->p == ',') {
                rd->p++;
                continue;
            }

            if (*rd->p == ']') {
                rd->p++;
                return v;
            }

            return NULL;
        }

    case '"':
        if (ngx_http_confhaven_json_fast_string(rd, &s, &len) != NGX_OK) {
            return NULL;
        }

        return json_stringn_nocheck((char *) s, len);

    case 't':
        if (rd->last - rd->p < 4 || ngx_strncmp(rd->p, "true", 4) != 0) {
            return NULL;
        }

        rd->p += 4;

        return ngx_http_confhaven_json_fast_ends(rd) ? json_true() : NULL;

    case 'f':
        if (rd->last - rd->p < 5 || ngx_strncmp(rd->p, "false", 5) != 0) {
            return NULL;
        }

        rd->p += 5;

        return ngx_http_confhaven_json_fast_ends(rd) ? json_false() : NULL;

    case 'n':
        if (rd->last - rd->p < 4 || ngx_strncmp(rd->p, "null", 4) != 0) {
            return NULL;
        }

        rd->p += 4;

        return ngx_http_confhaven_json_fast_ends(rd) ? json_null() : NULL;

    default:
        break;
    }

    /* an integer: -?(0|[1-9][0-9]*), no fraction, no exponent */

    neg = 0;

    if (*rd->p == '-') {
        neg = 1;
        rd->p++;
    }

    if (rd->p == rd->last || *rd->p < '0' || *rd->p > '9') {
        return NULL;
    }

    if (*rd->p == '0' && rd->p + 1 < rd->last
        && rd->p[1] >= '0' && rd->p[1] <= '9')
    {
        return NULL;
    }

    n = 0;

    for (digits = 0;
         rd->p < rd->last && *rd->p >= '0' && *rd->p <= '9';
         digits++)
    {
        if (digits == 18) {
            return NULL;
        }

        n = n * 10 + (*rd->p++ - '0');
    }

    if (!ngx_http_confhaven_json_fast_ends(rd)) {
        return NULL;
    }

    return json_integer(neg ? -n : n);
}


/*
 * At the opening quote: the string's bytes (the input itself, or its
 * unescaped copy), valid UTF-8 with no control character, as jansson
 * requires; \u escapes are left to jansson.
 */

static ngx_int_t
ngx_http_confhaven_json_fast_string(ngx_http_confhaven_json_reader_t *rd,
    u_char **out, size_t *len)
{
    u_char    *p, *start, *d, *e, c;
    size_t     n, k;
    uint32_t   cp, min;

    start = ++rd->p;
    d = NULL;

    for (p = start; p < rd->last; /* void */) {
        c = *p;

        if (c == '"') {
            break;
        }

        if (c < 0x20) {
            return NGX_DECLINED;
        }

        if (c == '\\') {
            if (d == NULL) {
                /* unescaped, it is at most as long as it is written */
                for (e = p; e < rd->last && *e != '"'; e++) {
                    if (*e == '\\') {
                        e++;
                    }
                }

                rd->buf = ngx_pnalloc(ngx_http_confhaven_json_arena,
                                      ngx_max(e - start, 1));
                if (rd->buf == NULL) {
                    return NGX_DECLINED;
                }

                d = ngx_cpymem(rd->buf, start, p - start);
            }

            if (++p == rd->last) {
                return NGX_DECLINED;
            }

            switch (*p++) {
            case '"':  *d++ = '"'; break;
            case '\\': *d++ = '\\'; break;
            case '/':  *d++ = '/'; break;
            case 'b':  *d++ = '\b'; break;
            case 'f':  *d++ = '\f'; break;
            case 'n':  *d++ = '\n'; break;
            case 'r':  *d++ = '\r'; break;
            case 't':  *d++ = '\t'; break;
            default:
                /* \u (and any error): jansson's */
                return NGX_DECLINED;
            }

            continue;
        }

        if (c < 0x80) {
            if (d) {
                *d++ = c;
            }

            p++;
            continue;
        }

        /* one UTF-8 sequence, as ngx_http_confhaven_json_utf8_invalid() */

        if ((c & 0xe0) == 0xc0) {
            n = 1; cp = c & 0x1f; min = 0x80;

        } else if ((c & 0xf0) == 0xe0) {
            n = 2; cp = c & 0x0f; min = 0x800;

        } else if ((c & 0xf8) == 0xf0) {
            n = 3; cp = c & 0x07; min = 0x10000;

        } else {
            return NGX_DECLINED;
        }

        if ((size_t) (rd->last - p) <= n) {
            return NGX_DECLINED;
        }

        for (k = 1; k <= n; k++) {
            if ((p[k] & 0xc0) != 0x80) {
                return NGX_DECLINED;
            }

            cp = (cp << 6) | (p[k] & 0x3f);
        }

        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
            return NGX_DECLINED;
        }

        if (d) {
            d = ngx_cpymem(d, p, n + 1);
        }

        p += n + 1;
    }

    if (p == rd->last) {
        return NGX_DECLINED;
    }

    rd->p = p + 1;

    if (d) {
        /* its own buffer: a name is used after its value is read */
        *out = rd->buf;
        *len = d - rd->buf;

    } else {
        *out = start;
        *len = p - start;
    }

    return NGX_OK;
}


/*
 * src as a JSON string written at p, escaped as jansson escapes it (quote,
 * backslash, control characters); at most 2 + 6 * len bytes.  The bytes
 * are copied as they are: the caller checks UTF-8.
 */

u_char *
ngx_http_confhaven_json_string(u_char *p, u_char *src, size_t len)
{
    u_char  c;
    size_t  i;

    static u_char  hex[] = "0123456789ABCDEF";

    *p++ = '"';

    for (i = 0; i < len; i++) {
        c = src[i];

        if (c >= 0x20 && c != '"' && c != '\\') {
            *p++ = c;
            continue;
        }

        *p++ = '\\';

        switch (c) {
        case '"':
        case '\\':
            *p++ = c;
            break;
        case '\b':
            *p++ = 'b';
            break;
        case '\f':
            *p++ = 'f';
            break;
        case '\n':
            *p++ = 'n';
            break;
        case '\r':
            *p++ = 'r';
            break;
        case '\t':
            *p++ = 't';
            break;
        default:
            p = ngx_cpymem(p, "u00", 3);
            *p++ = hex[c >> 4];
            *p++ = hex[c & 0xf];
        }
    }

    *p++ = '"';

    return p;
}


/*
 * Returns the offset of the first byte that is not part of well-formed
 * UTF-8 (overlongs, surrogates and code points past U+10FFFF included),
 * or of a control character unless allowed, or -1 when all is well.
 */

ssize_t
ngx_http_confhaven_json_utf8_invalid(u_char *p, size_t len,
    ngx_uint_t allow_control)
{
    u_char    c;
    size_t    i, n, k;
    uint32_t  cp, min;

    for (i = 0; i < len; /* void */) {
        c = p[i];

        if (c < 0x80) {
            if ((c < 0x20 || c == 0x7f)
                && !(allow_control && (c == '\t' || c == '\n' || c == '\r')))
            {
                if (c == 0 || !allow_control) {
                    return i;
                }
            }

            i++;
            continue;
        }

        if ((c & 0xe0) == 0xc0) {
            n = 1; cp = c & 0x1f; min = 0x80;

        } else if ((c & 0xf0) == 0xe0) {
            n = 2; cp = c & 0x0f; min = 0x800;

        } else if ((c & 0xf8) == 0xf0) {
            n = 3; cp = c & 0x07; min = 0x10000;

        } else {
            return i;
        }

        for (k = 1; k <= n; k++) {
            if (i + k >= len || (p[i + k] & 0xc0) != 0x80) {
                return i;
            }

            cp = (cp << 6) | (p[i + k] & 0x3f);
        }

        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
            return i;
        }

        i += n + 1;
    }

    return -1;
}


static void
ngx_http_confhaven_json_cleanup(void *data)
{
    json_decref((json_t *) data);
}


ngx_int_t
ngx_http_confhaven_json_own(ngx_pool_t *pool, json_t *json)
{
    ngx_pool_cleanup_t  *cln;

    cln = ngx_pool_cleanup_add(pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_confhaven_json_cleanup;
    cln->data = json;

    return NGX_OK;
}


/*
 * A client's string (or a database message, which may quote one) for the
 * error log: printable ASCII as it is, '"' and '\\' escaped, any other
 * byte as \xNN; as many bytes of it as surely fit in size (128 in
 * NGX_HTTP_CONFHAVEN_MCP_LOG_LEN), then "..." if it was longer.  Returns
 * the end.
 */

u_char *
ngx_http_confhaven_json_log_escape(u_char *buf, size_t size, u_char *src,
    size_t len)
{
    u_char     *p, c;
    size_t      i, n;

    static u_char  hex[] = "0123456789ABCDEF";

    p = buf;
    n = size > sizeof("...") ? (size - sizeof("...")) / 4 : 0;
    n = ngx_min(len, n);

    for (i = 0; i < n; i++) {
        c = src[i];

        if (c == '"' || c == '\\') {
            *p++ = '\\';
            *p++ = c;

        } else if (c >= 0x20 && c < 0x7f) {
            *p++ = c;

        } else {
            *p++ = '\\';
            *p++ = 'x';
            *p++ = hex[c >> 4];
            *p++ = hex[c & 0xf];
        }
    }

    if (n < len) {
        p = ngx_cpymem(p, "...", 3);
    }

    return p;
}


/*
 * $request_id of the request (empty when it cannot be had).  The module
 * registers the variable's index at configuration, so this is the value
 * the access log shows; by name, as error paths alone need it.
 *
 * When the request has none yet, it gets one made as nginx makes it (16
 * bytes of RAND_bytes() in hex), from 4 KB drawn at once: a RAND_bytes()
 * call each (a getpid() system call and a DRBG run) cost a warm MCP tool
 * call, which records the id with its evaluation, 8 % of its CPU.
 */

void
ngx_http_confhaven_json_request_id(ngx_http_request_t *r, ngx_str_t *id)
{
    u_char                     *data;
    ngx_http_variable_t        *v;
    ngx_http_variable_value_t  *vv;
    ngx_http_core_main_conf_t  *cmcf;

    static ngx_str_t   name = ngx_string("request_id");
    static ngx_uint_t  key;

    id->len = 0;
    id->data = NULL;

    if (key == 0) {
        key = ngx_hash_key(name.data, name.len);
    }

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_core_module);

    v = ngx_hash_find(&cmcf->variables_hash, key, name.data, name.len);

    if (v && (v->flags & NGX_HTTP_VAR_INDEXED) && r->main->variables) {
        vv = &r->main->variables[v->index];

        if (!vv->valid && !vv->not_found) {
            data = ngx_pnalloc(r->main->pool, 32);

            if (data && ngx_http_confhaven_json_random_hex(data) == NGX_OK) {
                vv->len = 32;
                vv->valid = 1;
                vv->no_cacheable = 0;
                vv->not_found = 0;
                vv->data = data;
            }
        }
    }

    vv = ngx_http_get_variable(r->main, &name, key);
    if (vv == NULL || vv->not_found) {
        return;
    }

    id->data = vv->data;
    id->len = vv->len;
}


/* 16 random bytes in hex (32 bytes), as nginx's $request_id */

static ngx_int_t
ngx_http_confhaven_json_random_hex(u_char *out)
{
    static u_char     bytes[4096];
    static size_t     left;
    static ngx_pid_t  pid;

    if (left < 16 || pid != ngx_pid) {
        /* never bytes drawn before a fork */
        left = 0;

        if (RAND_bytes(bytes, sizeof(bytes)) != 1) {
            return NGX_ERROR;
        }

        left = sizeof(bytes);
        pid = ngx_pid;
    }

    ngx_hex_dump(out, bytes + sizeof(bytes) - left, 16);

    /* each byte serves once */
    ngx_memzero(bytes + sizeof(bytes) - left, 16);
    left -= 16;

    return NGX_OK;
}
