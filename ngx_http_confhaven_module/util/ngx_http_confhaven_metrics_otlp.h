
/*
 * Copyright (C) ConferenceHaven
 */


#ifndef _NGX_HTTP_CONFHAVEN_METRICS_OTLP_H_INCLUDED_
#define _NGX_HTTP_CONFHAVEN_METRICS_OTLP_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_confhaven_metrics.h"


u_char *ngx_http_confhaven_metrics_otlp(ngx_pool_t *pool,
    ngx_http_confhaven_metrics_zone_stats_t *zs, size_t *len);


#endif /* _NGX_HTTP_CONFHAVEN_METRICS_OTLP_H_INCLUDED_ */
