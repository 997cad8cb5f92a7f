
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
#include "ngx_http_confhaven_mcp.h"
#include "ngx_http_confhaven_transport.h"


ngx_int_t
ngx_http_confhaven_transport_error_page_handler(ngx_http_request_t *r)
{
    ngx_int_t    code;
    ngx_uint_t   status;
    const char  *msg;

    (void) ngx_http_discard_request_body(r);

    status = r->err_status ? r->err_status : NGX_HTTP_NOT_FOUND;
    code = NGX_HTTP_CONFHAVEN_MCP_INVALID_REQUEST;

    switch (status) {

    case NGX_HTTP_BAD_REQUEST:
        msg = "Invalid Request: the HTTP request could not be understood";
        break;

    case NGX_HTTP_NOT_FOUND:
        msg = "Invalid Request: no MCP endpoint here";
        break;

    case NGX_HTTP_NOT_ALLOWED:
        msg = "Invalid Request: this HTTP method is not allowed here";
        break;

    case NGX_HTTP_REQUEST_TIME_OUT:
        msg = "Invalid Request: the request was not received in time";
        break;

    case NGX_HTTP_REQUEST_ENTITY_TOO_LARGE:
        msg = "Invalid Request: the body is larger than this server accepts";
        break;

    case NGX_HTTP_REQUEST_URI_TOO_LARGE:
        msg = "Invalid Request: the request URI is too long";
        break;

    case 429:
        code = NGX_HTTP_CONFHAVEN_MCP_SERVER_BUSY;
        msg = "Too many requests: slow down and retry later";
        break;

    case NGX_HTTP_SERVICE_UNAVAILABLE:
        code = NGX_HTTP_CONFHAVEN_MCP_SERVER_BUSY;
        msg = "The service is temporarily unavailable: retry later";
        break;

    default:
        if (status >= NGX_HTTP_INTERNAL_SERVER_ERROR) {
            code = NGX_HTTP_CONFHAVEN_MCP_INTERNAL_ERROR;
            msg = "Internal error: the server could not complete the request";

        } else {
            msg = "Invalid Request: the request cannot be served";
        }

        break;
    }

    return ngx_http_confhaven_transport_http_error(r, status, code, msg,
                                                   NULL, NULL);
}
