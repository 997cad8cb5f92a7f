
/*
 * Copyright (C) ConferenceHaven
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_confhaven_client.h"


ngx_int_t
ngx_http_confhaven_client_key(ngx_connection_t *c, ngx_pool_t *pool,
    ngx_str_t *key)
{
#if (NGX_HAVE_INET6)
    u_char               *p;
    u_char                net[16];
    struct sockaddr_in6  *sin6;

    if (c->sockaddr->sa_family == AF_INET6) {
        sin6 = (struct sockaddr_in6 *) c->sockaddr;

        if (!IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
            ngx_memcpy(net, sin6->sin6_addr.s6_addr, 8);
            ngx_memzero(net + 8, 8);

            p = ngx_pnalloc(pool, NGX_INET6_ADDRSTRLEN + sizeof("/64") - 1);
            if (p == NULL) {
                return NGX_ERROR;
            }

            key->data = p;
            key->len = ngx_inet6_ntop(net, p, NGX_INET6_ADDRSTRLEN);
            key->len += ngx_sprintf(p + key->len, "/64") - (p + key->len);

            return NGX_OK;
        }
    }
#endif

    *key = c->addr_text;

    return NGX_OK;
}
