
/*
 * Copyright (C) ConferenceHaven
 */


#ifndef _NGX_HTTP_CONFHAVEN_HEADER_H_INCLUDED_
#define _NGX_HTTP_CONFHAVEN_HEADER_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/*
 * A request header by name (case-insensitive), the first of its name:
 * for the headers nginx does not keep a pointer to in r->headers_in
 * (Mcp-Session-Id, Stripe-Signature, traceparent...).  NULL: none.
 * Front ends (http/) and the MCP protocol (mcp/) both read them.
 */

ngx_table_elt_t *ngx_http_confhaven_header_in(ngx_http_request_t *r,
    const char *name, size_t len);


#endif /* _NGX_HTTP_CONFHAVEN_HEADER_H_INCLUDED_ */
