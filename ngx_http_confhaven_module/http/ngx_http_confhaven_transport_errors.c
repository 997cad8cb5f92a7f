
/*
 * Copyright (C) ConferenceHaven
 */


/*
 * confhaven_mcp_errors on: the content handler of an internal location that
 * an MCP location's error_page points to.  nginx refuses some requests
 * before the MCP handler runs (a body past client_max_body_size, a request
 * it cannot parse, limit_req's 429); an MCP client then gets a JSON-RPC
 * error with the same HTTP status, not a page it cannot read.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_confhaven_module.h"
#include "ngx_http_confhaven_json.h"
#include "ngx_http_confhaven_send.h"
#include "ngx_http_confhaven_mcp.h"
#include "ngx_http_confhaven_transport.h"


ngx_int_t
ngx_http_confhaven_transport_error_page_handler(ngx_http_request_t *r)
{
    u_char      *p;
    size_t       len;
    ngx_int_t    code;
    ngx_uint_t   status;
    const char  *kind, *what, *text;

    (void) ngx_http_discard_request_body(r);

    status = r->err_status ? r->err_status : NGX_HTTP_NOT_FOUND;

    /* the same sentence as the REST error page's (send.c) */
    ngx_http_confhaven_send_status_text(status, &kind, &text);

    if (status == 429 || status == NGX_HTTP_SERVICE_UNAVAILABLE) {
        code = NGX_HTTP_CONFHAVEN_MCP_SERVER_BUSY;
        what = "Server busy: ";

    } else if (status >= NGX_HTTP_INTERNAL_SERVER_ERROR) {
        code = NGX_HTTP_CONFHAVEN_MCP_INTERNAL_ERROR;
        what = "Internal error: ";

    } else {
        code = NGX_HTTP_CONFHAVEN_MCP_INVALID_REQUEST;
        what = "Invalid Request: ";
    }

    len = ngx_strlen(what) + ngx_strlen(text);

    p = ngx_pnalloc(r->pool, len + 1);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    *ngx_sprintf(p, "%s%s", what, text) = '\0';

    return ngx_http_confhaven_transport_http_error(r, status, code,
                                                   (const char *) p,
                                                   NULL, NULL);
}
