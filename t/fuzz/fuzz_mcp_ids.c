
/*
 * Copyright (C) ConferenceHaven
 *
 * Session ids and event ids as clients send them: the input is three
 * lines,
 *
 *     <Mcp-Session-Id>
 *     <Last-Event-ID>
 *     <query string of POST /messages, with sessionId=...>
 *
 * The session id is looked up in a zone holding two sessions
 * (harness_zone.c) as the Streamable HTTP and legacy SSE transports do,
 * claimed as a GET stream, and dropped; the event id goes through
 * ngx_http_confhaven_mcp_cluster_event_id_parse(); the query string through
 * ngx_http_arg() and the legacy stream lookup.
 */


#include "harness.h"
#include "ngx_http_confhaven_mcp.h"
#include "ngx_http_confhaven_mcp_cluster.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t                          len, rlen;
    ngx_str_t                       sid, lei, args, arg, instance;
    ngx_int_t                       stream, seq;
    ngx_uint_t                      version;
    const u_char                   *rest, *line;
    ngx_http_request_t             *r;
    ngx_http_confhaven_mcp_zone_t  *zone;

    fuzz_init();

    zone = &fuzz_chmcf->mcp.zone;
    fuzz_zone_reset(zone);

    r = fuzz_request();

    /* exact-size copies: ASan sees any read past their ends */
    len = fuzz_split(data, size, '\n', &rest, &rlen);
    sid.data = ngx_pnalloc(r->pool, len);
    sid.len = len;

    if (sid.data == NULL) {
        abort();
    }

    ngx_memcpy(sid.data, data, len);

    line = rest;
    len = fuzz_split(line, rlen, '\n', &rest, &rlen);
    lei.data = ngx_pnalloc(r->pool, len);
    lei.len = len;

    args.data = ngx_pnalloc(r->pool, rlen);
    args.len = rlen;

    if (lei.data == NULL || args.data == NULL) {
        abort();
    }

    ngx_memcpy(lei.data, line, lei.len);
    ngx_memcpy(args.data, rest, args.len);

    /* Mcp-Session-Id */
    version = ngx_http_confhaven_mcp_session_find(zone, &sid, 0);
    if (version > NGX_HTTP_CONFHAVEN_MCP_VLAST) {
        abort();
    }

    (void) ngx_http_confhaven_mcp_session_sse_find(zone, &sid);
    (void) ngx_http_confhaven_mcp_session_get_claim(zone, &sid, 1);

    /* Last-Event-ID */
    if (ngx_http_confhaven_mcp_cluster_event_id_parse(lei.data,
                                                      lei.data + lei.len,
                                                      &stream, &seq,
                                                      &instance)
        == NGX_OK)
    {
        if (stream < 0 || seq < 0
            || (instance.len
                && (instance.data < lei.data
                    || instance.data + instance.len > lei.data + lei.len)))
        {
            abort();
        }
    }

    /* POST /messages?sessionId= */
    r->args = args;

    if (ngx_http_arg(r, (u_char *) "sessionId", sizeof("sessionId") - 1,
                     &arg)
        == NGX_OK)
    {
        (void) ngx_http_confhaven_mcp_session_sse_find(zone, &arg);
    }

    if (version) {
        (void) ngx_http_confhaven_mcp_session_drop(zone, &sid);

        if (ngx_http_confhaven_mcp_session_find(zone, &sid, 0) != 0) {
            fprintf(stderr, "fuzz: a dropped session is still found\n");
            abort();
        }
    }

    fuzz_request_free(r);

    return 0;
}
