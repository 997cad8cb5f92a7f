
/*
 * Copyright (C) ConferenceHaven
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <pthread.h>
#include <openssl/rand.h>

#include "ngx_http_confhaven_json.h"


static ngx_int_t ngx_http_confhaven_json_random_hex(u_char *out);




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

    json = json_loadb((char *) data, len, flags, error);

    ngx_http_confhaven_json_arena = NULL;

    return json;
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
