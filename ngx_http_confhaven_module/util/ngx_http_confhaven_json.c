
/*
 * Copyright (C) ConferenceHaven
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_confhaven_json.h"




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
 */

void
ngx_http_confhaven_json_request_id(ngx_http_request_t *r, ngx_str_t *id)
{
    ngx_http_variable_value_t  *vv;

    static ngx_str_t   name = ngx_string("request_id");
    static ngx_uint_t  key;

    id->len = 0;
    id->data = NULL;

    if (key == 0) {
        key = ngx_hash_key(name.data, name.len);
    }

    vv = ngx_http_get_variable(r->main, &name, key);
    if (vv == NULL || vv->not_found) {
        return;
    }

    id->data = vv->data;
    id->len = vv->len;
}
