
/*
 * Copyright (C) ConferenceHaven
 *
 * MCP over HTTP from the request's first byte: the input is a request
 * head and a body,
 *
 *     POST /mcp
 *     Host: localhost
 *     Content-Type: application/json
 *     MCP-Protocol-Version: 2026-07-28
 *     Mcp-Method: tools/call
 *     Mcp-Name: search_sessions
 *     Mcp-Param-Conference: =?base64?c2NvdHRpc2gtc3VtbWl0LTIwMjY=?=
 *
 *     {"jsonrpc":"2.0","id":1,"method":"tools/call","params":{...}}
 *
 * and it goes through ngx_http_confhaven_transport_http_handler(): Host
 * and Origin, the choice of wire, MCP-Protocol-Version, Mcp-Session-Id
 * against a session zone holding two sessions (harness_zone.c), Accept,
 * the Mcp-Method / Mcp-Name / Mcp-Param-* checks with their strict
 * base64, batches, dispatch to every method's handler (their database and
 * cache calls stay pending, harness_wrap.c), the JSON or event-stream
 * answer, DELETE, and GET with Last-Event-ID.  Every Mcp-* header value
 * and the Accept header are also decoded on their own.
 *
 * fuzz-includes: ngx_http_confhaven_transport_http.c
 */


#include "ngx_http_confhaven_transport_http.c"

#include "harness.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char              *p;
    size_t               len, rlen, n;
    ngx_str_t            v;
    ngx_int_t            rc;
    const u_char        *rest, *colon;
    ngx_table_elt_t     *h;
    ngx_http_request_t  *r;

    fuzz_init();

    fuzz_chlcf->mcp.enabled = 1;
    fuzz_chlcf->mcp.sse_keepalive = 15000;
    fuzz_chmcf->mcp.session_timeout = NGX_HTTP_CONFHAVEN_MCP_SESSION_TIMEOUT;

    /* sessions the input creates or deletes do not outlive it */
    fuzz_zone_reset(&fuzz_chmcf->mcp.zone);

    r = fuzz_request();

    /* the method line */
    len = fuzz_split(data, size, '\n', &rest, &rlen);

    if (len >= 4 && ngx_strncmp(data, "POST", 4) == 0) {
        r->method = NGX_HTTP_POST;
        ngx_str_set(&r->method_name, "POST");

    } else if (len >= 3 && ngx_strncmp(data, "GET", 3) == 0) {
        r->method = NGX_HTTP_GET;
        ngx_str_set(&r->method_name, "GET");

    } else if (len >= 6 && ngx_strncmp(data, "DELETE", 6) == 0) {
        r->method = NGX_HTTP_DELETE;
        ngx_str_set(&r->method_name, "DELETE");

    } else {
        r->method = NGX_HTTP_PUT;
        ngx_str_set(&r->method_name, "PUT");
    }

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

        if (n == 4 && ngx_strncasecmp(h->key.data, (u_char *) "Host", 4)
                      == 0)
        {
            /* as nginx keeps it: lowercase, without the port */
            r->headers_in.host = h;
            p = ngx_pnalloc(r->pool, h->value.len);
            if (p == NULL) {
                abort();
            }

            ngx_strlow(p, h->value.data, h->value.len);
            r->headers_in.server.data = p;
            r->headers_in.server.len = h->value.len;

            p = ngx_strlchr(p, p + h->value.len, ':');
            if (p) {
                r->headers_in.server.len = p - r->headers_in.server.data;
            }

        } else if (n == 12
                   && ngx_strncasecmp(h->key.data,
                                      (u_char *) "Content-Type", 12) == 0)
        {
            r->headers_in.content_type = h;
        }

        if (n >= 4 && ngx_strncasecmp(h->key.data, (u_char *) "Mcp-", 4)
                      == 0)
        {
            if (ngx_http_confhaven_mcp_decode_header(r, &h->value, &v)
                == NGX_OK
                && v.len > h->value.len)
            {
                abort();
            }
        }
    }

    (void) ngx_http_confhaven_mcp_accept(r);

    rc = ngx_http_confhaven_transport_http_handler(r);

    if (rc == NGX_ERROR && fuzz_sent.headers == 0) {
        fprintf(stderr, "fuzz: NGX_ERROR without a response\n");
        abort();
    }

    if (fuzz_sent.headers > 1) {
        fprintf(stderr, "fuzz: two responses\n");
        abort();
    }

    fuzz_request_free(r);

    return 0;
}
