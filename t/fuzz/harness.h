
/*
 * Copyright (C) ConferenceHaven
 *
 * A minimal nginx world for the libFuzzer targets: a log that discards
 * (and aborts on [alert]/[crit]/[emerg], as the suite's "no alerts" check
 * would fail), a cycle, and a fresh request per input with its own pool,
 * connection, module contexts and configurations.  Responses go to stub
 * header and body filters that only record them.
 */


#ifndef _FUZZ_HARNESS_H_INCLUDED_
#define _FUZZ_HARNESS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_confhaven_module.h"


typedef struct {
    ngx_uint_t   headers;     /* responses started */
    ngx_uint_t   status;      /* of the last one */
    ngx_uint_t   bodies;      /* body buffers sent */
    ngx_uint_t   finalized;   /* ngx_http_finalize_request() calls */
    ngx_int_t    rc;          /* the last one's */
    ngx_uint_t   queries;     /* database or cache calls */
} fuzz_sent_t;


extern fuzz_sent_t                      fuzz_sent;
extern ngx_str_t                        fuzz_body;      /* harness_wrap.c */
/* the last ngx_http_confhaven_cache_fetch(), left pending (harness_wrap.c) */
extern struct ngx_http_confhaven_fetch_s  *fuzz_fetch;
extern ngx_log_t                        fuzz_log;
extern ngx_http_confhaven_main_conf_t  *fuzz_chmcf;
extern ngx_http_confhaven_loc_conf_t   *fuzz_chlcf;


/* once per process: times, pagesize, the cycle, the log */
void fuzz_init(void);

/* a request on a fresh pool; fuzz_request_free() destroys the pool */
ngx_http_request_t *fuzz_request(void);
void fuzz_request_free(ngx_http_request_t *r);

/* adds an incoming header (copied into the request's pool) */
ngx_table_elt_t *fuzz_add_header(ngx_http_request_t *r, u_char *name,
    size_t nlen, u_char *value, size_t vlen);

/* a fresh MCP session zone with the two sessions below (harness_zone.c) */
void fuzz_zone_reset(ngx_http_confhaven_mcp_zone_t *zone);
extern u_char  fuzz_session_modern[];
extern u_char  fuzz_session_old[];

/* splits data at the first "sep"; *rest is what follows it */
size_t fuzz_split(const u_char *data, size_t len, u_char sep,
    const u_char **rest, size_t *rlen);


#endif /* _FUZZ_HARNESS_H_INCLUDED_ */
