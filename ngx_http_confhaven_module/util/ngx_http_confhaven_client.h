
/*
 * Copyright (C) ConferenceHaven
 */


#ifndef _NGX_HTTP_CONFHAVEN_CLIENT_H_INCLUDED_
#define _NGX_HTTP_CONFHAVEN_CLIENT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/*
 * The client as per-client limits count it (invites an hour, MCP sessions):
 * its IPv4 address, or the /64 network of its IPv6 address, since one
 * host is given a whole /64 and picks any address in it.  The address is
 * the connection's, after the realip module when that is used.
 */

ngx_int_t ngx_http_confhaven_client_key(ngx_connection_t *c,
    ngx_pool_t *pool, ngx_str_t *key);


#endif /* _NGX_HTTP_CONFHAVEN_CLIENT_H_INCLUDED_ */
