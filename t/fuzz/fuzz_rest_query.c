
/*
 * Copyright (C) ConferenceHaven
 *
 * Every REST route through its public entry, ngx_http_confhaven_rest_
 * handler(): the route match, the path tail ({slug}, {id},
 * {slug}/import), the query string (unescaping, names, duplicates,
 * UTF-8, booleans, limits), the admin key and the cache key built from
 * the canonical parameters.  The input is a request head:
 *
 *     GET /api/sessions?q=rust&limit=5
 *     X-API-Key: fuzz-admin-key
 *
 * After an empty line comes the body (of an import).  The database, the
 * cache and the body reader are replaced (harness_wrap.c): they check
 * what they are given and leave the request pending, as a real query
 * would.
 */


#include "harness.h"
#include "ngx_http_confhaven_pg.h"
#include "ngx_http_confhaven_cache.h"
#include "ngx_http_confhaven_json.h"
#include "ngx_http_confhaven_rest.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char              *line, *q, *sp;
    size_t               len, rlen, n;
    ngx_int_t            rc;
    const u_char        *rest, *colon;
    ngx_table_elt_t     *h;
    ngx_http_request_t  *r;

    fuzz_init();

    ngx_str_set(&fuzz_chlcf->admin_key, "fuzz-admin-key");
    fuzz_chlcf->import_max_size = 1024 * 1024;

    r = fuzz_request();

    /* the request line: METHOD SP URI[?ARGS] */
    len = fuzz_split(data, size, '\n', &rest, &rlen);

    line = ngx_pnalloc(r->pool, len + 1);
    if (line == NULL) {
        abort();
    }

    ngx_memcpy(line, data, len);
    line[len] = '\0';

    sp = ngx_strlchr(line, line + len, ' ');

    if (sp == NULL) {
        ngx_str_set(&r->method_name, "GET");
        sp = line - 1;

    } else {
        r->method_name.data = line;
        r->method_name.len = sp - line;
    }

    if (r->method_name.len == 3
        && ngx_strncmp(r->method_name.data, "GET", 3) == 0)
    {
        r->method = NGX_HTTP_GET;

    } else if (r->method_name.len == 4
               && ngx_strncmp(r->method_name.data, "HEAD", 4) == 0)
    {
        r->method = NGX_HTTP_HEAD;
        r->header_only = 1;

    } else if (r->method_name.len == 4
               && ngx_strncmp(r->method_name.data, "POST", 4) == 0)
    {
        r->method = NGX_HTTP_POST;

    } else {
        r->method = NGX_HTTP_DELETE;
    }

    r->uri.data = sp + 1;
    r->uri.len = line + len - (sp + 1);

    q = ngx_strlchr(r->uri.data, r->uri.data + r->uri.len, '?');

    if (q) {
        r->args.data = q + 1;
        r->args.len = r->uri.data + r->uri.len - (q + 1);
        r->uri.len = q - r->uri.data;

    } else {
        /* nginx leaves args empty, not NULL, without a "?" */
        r->args.data = r->uri.data + r->uri.len;
        r->args.len = 0;
    }

    r->unparsed_uri = r->uri;

    /* header lines up to an empty one, then the body */
    ngx_str_null(&fuzz_body);

    while (rlen) {
        data = rest;
        len = fuzz_split(data, rlen, '\n', &rest, &rlen);

        if (len == 0) {
            fuzz_body.data = (u_char *) rest;
            fuzz_body.len = rlen;
            break;
        }

        colon = memchr(data, ':', len);
        if (colon == NULL) {
            continue;
        }

        n = colon - data;
        colon++;

        while (colon < data + len && *colon == ' ') {
            colon++;
        }

        h = fuzz_add_header(r, (u_char *) data, n, (u_char *) colon,
                            data + len - colon);

        if (n == 12 && ngx_strncasecmp(h->key.data,
                                       (u_char *) "Content-Type", 12) == 0)
        {
            r->headers_in.content_type = h;

        } else if (n == 13
                   && ngx_strncasecmp(h->key.data,
                                      (u_char *) "Authorization", 13) == 0)
        {
            r->headers_in.authorization = h;

        } else if (n == 14
                   && ngx_strncasecmp(h->key.data,
                                      (u_char *) "Content-Length", 14) == 0)
        {
            r->headers_in.content_length_n = ngx_atoof(h->value.data,
                                                       h->value.len);
        }
    }

    rc = ngx_http_confhaven_rest_handler(r);

    /* an error the handler returns is nginx's to send; a sent one is ours */
    if (rc == NGX_ERROR && fuzz_sent.headers == 0) {
        fprintf(stderr, "fuzz: NGX_ERROR without a response\n");
        abort();
    }

    if (fuzz_sent.headers > 1) {
        abort();
    }

    fuzz_request_free(r);

    return 0;
}
