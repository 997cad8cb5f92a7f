
/*
 * Copyright (C) ConferenceHaven
 */


#include "harness.h"


#define FUZZ_MODULES  256


fuzz_sent_t                      fuzz_sent;
ngx_log_t                        fuzz_log;
ngx_http_confhaven_main_conf_t  *fuzz_chmcf;

static u_char                    fuzz_cache_placeholder[64];
ngx_http_confhaven_loc_conf_t   *fuzz_chlcf;

static ngx_open_file_t           fuzz_log_file;
static ngx_cycle_t               fuzz_cycle;
static ngx_http_core_loc_conf_t  fuzz_clcf;
static ngx_http_core_srv_conf_t  fuzz_cscf;
static ngx_http_core_main_conf_t fuzz_cmcf;
static ngx_hash_elt_t *fuzz_var_buckets[1];
static void                     *fuzz_main_conf[FUZZ_MODULES];
static void                     *fuzz_srv_conf[FUZZ_MODULES];
static void                     *fuzz_loc_conf[FUZZ_MODULES];
static void                     *fuzz_conf_ctx[FUZZ_MODULES];
static ngx_http_conf_ctx_t       fuzz_http_ctx;


static void
fuzz_log_writer(ngx_log_t *log, ngx_uint_t level, u_char *buf, size_t len)
{
    if (level <= NGX_LOG_CRIT && getenv("FUZZ_ALLOW_ALERTS") == NULL) {
        fprintf(stderr, "fuzz: an [alert]/[crit] was logged: %.*s\n",
                (int) len, buf);
        abort();
    }
}


static ngx_int_t
fuzz_header_filter(ngx_http_request_t *r)
{
    fuzz_sent.headers++;
    fuzz_sent.status = r->headers_out.status;
    r->header_sent = 1;

    return NGX_OK;
}


static ngx_int_t
fuzz_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_chain_t  *cl;

    for (cl = in; cl; cl = cl->next) {
        fuzz_sent.bodies++;
    }

    return NGX_OK;
}


void
fuzz_init(void)
{
    static ngx_uint_t  done;

    if (done) {
        return;
    }

    done = 1;

    ngx_pagesize = getpagesize();
    for (ngx_pagesize_shift = 0; (1 << ngx_pagesize_shift) < ngx_pagesize;
         ngx_pagesize_shift++) { /* void */ }
    ngx_cacheline_size = NGX_CPU_CACHE_LINE;
    ngx_ncpu = 1;

    ngx_time_init();
    (void) ngx_strerror_init();
    ngx_slab_sizes_init();

    fuzz_log_file.fd = -1;
    fuzz_log_file.name.len = sizeof("/dev/null") - 1;
    fuzz_log_file.name.data = (u_char *) "/dev/null";

    /* debug level: every log statement and its formatting runs */
    fuzz_log.log_level = NGX_LOG_DEBUG_ALL | NGX_LOG_DEBUG;
    fuzz_log.file = &fuzz_log_file;
    fuzz_log.writer = fuzz_log_writer;
    ngx_use_stderr = 0;

    fuzz_cycle.log = &fuzz_log;
    fuzz_cycle.pool = ngx_create_pool(NGX_CYCLE_POOL_SIZE, &fuzz_log);
    ngx_str_set(&fuzz_cycle.hostname, "fuzz");
    ngx_str_set(&fuzz_cycle.prefix, "/tmp/");
    fuzz_cycle.modules_n = FUZZ_MODULES;
    fuzz_cycle.conf_ctx = (void ****) fuzz_conf_ctx;
    ngx_cycle = &fuzz_cycle;

    ngx_event_timer_init(&fuzz_log);
    ngx_queue_init(&ngx_posted_events);
    ngx_queue_init(&ngx_posted_next_events);

    ngx_http_top_header_filter = fuzz_header_filter;
    ngx_http_top_body_filter = fuzz_body_filter;

    /* only the modules the code under test asks for get a conf */
    ngx_http_core_module.ctx_index = 0;
    ngx_http_confhaven_module.ctx_index = 1;
    ngx_http_module.index = 1;

    fuzz_http_ctx.main_conf = fuzz_main_conf;
    fuzz_http_ctx.srv_conf = fuzz_srv_conf;
    fuzz_http_ctx.loc_conf = fuzz_loc_conf;
    fuzz_conf_ctx[1] = &fuzz_http_ctx;

    fuzz_chmcf = calloc(1, sizeof(ngx_http_confhaven_main_conf_t));
    fuzz_chlcf = calloc(1, sizeof(ngx_http_confhaven_loc_conf_t));

    fuzz_clcf.error_log = &fuzz_log;
    fuzz_clcf.client_max_body_size = 1024 * 1024;

    /*
     * An empty variables hash of one bucket, as a configured nginx always
     * has one: $request_id of a 5xx answer (billing not configured) is
     * looked up by name, and a hash of size 0 divides by zero.
     */
    fuzz_cmcf.variables_hash.buckets = fuzz_var_buckets;
    fuzz_cmcf.variables_hash.size = 1;

    fuzz_main_conf[0] = &fuzz_cmcf;
    fuzz_srv_conf[0] = &fuzz_cscf;
    fuzz_loc_conf[0] = &fuzz_clcf;
    fuzz_main_conf[1] = fuzz_chmcf;
    fuzz_loc_conf[1] = fuzz_chlcf;

    /*
     * Never looked into: ngx_http_confhaven_cache_fetch() is wrapped, so every
     * read stays pending as a query the client abandons.
     */
    fuzz_chmcf->cache =
        (ngx_http_confhaven_cache_t *) &fuzz_cache_placeholder;

    fuzz_zone_reset(&fuzz_chmcf->mcp.zone);
}


ngx_http_request_t *
fuzz_request(void)
{
    ngx_pool_t          *pool;
    ngx_event_t         *rev, *wev;
    struct sockaddr_in  *sin;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    pool = ngx_create_pool(4096, &fuzz_log);
    if (pool == NULL) {
        abort();
    }

    c = ngx_pcalloc(pool, sizeof(ngx_connection_t));
    r = ngx_pcalloc(pool, sizeof(ngx_http_request_t));
    rev = ngx_pcalloc(pool, sizeof(ngx_event_t));
    wev = ngx_pcalloc(pool, sizeof(ngx_event_t));

    if (c == NULL || r == NULL || rev == NULL || wev == NULL) {
        abort();
    }

    /* both already watched, as on a live connection */
    rev->data = c;
    rev->log = &fuzz_log;
    rev->active = 1;
    wev->data = c;
    wev->log = &fuzz_log;
    wev->ready = 1;
    wev->active = 1;
    c->read = rev;
    c->write = wev;
    c->data = r;

    c->pool = pool;
    c->log = &fuzz_log;
    c->fd = (ngx_socket_t) -1;
    c->number = 1;
    ngx_str_set(&c->addr_text, "127.0.0.1");

    /* a client address and our own, for per-address limits and logs */
    sin = ngx_pcalloc(pool, sizeof(struct sockaddr_in));
    if (sin == NULL) {
        abort();
    }

    sin->sin_family = AF_INET;
    sin->sin_port = htons(40000);
    sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    c->sockaddr = (struct sockaddr *) sin;
    c->socklen = sizeof(struct sockaddr_in);
    c->local_sockaddr = c->sockaddr;
    c->local_socklen = c->socklen;

    r->pool = pool;
    r->connection = c;
    r->main = r;
    r->count = 1;
    r->method = NGX_HTTP_POST;
    ngx_str_set(&r->method_name, "POST");
    ngx_str_set(&r->uri, "/mcp");
    r->headers_in.content_length_n = -1;
    r->headers_out.content_length_n = -1;
    r->headers_out.last_modified_time = -1;

    /* nothing to read or discard: the body is in the input */
    r->discard_body = 1;

    r->ctx = ngx_pcalloc(pool, sizeof(void *) * FUZZ_MODULES);
    if (r->ctx == NULL) {
        abort();
    }

    r->main_conf = fuzz_main_conf;
    r->srv_conf = fuzz_srv_conf;
    r->loc_conf = fuzz_loc_conf;

    if (ngx_list_init(&r->headers_in.headers, pool, 8,
                      sizeof(ngx_table_elt_t))
        != NGX_OK
        || ngx_list_init(&r->headers_out.headers, pool, 8,
                         sizeof(ngx_table_elt_t))
           != NGX_OK)
    {
        abort();
    }

    ngx_memzero(&fuzz_sent, sizeof(fuzz_sent_t));

    return r;
}


/* what ngx_http_terminate_request() and ngx_http_free_request() do */

void
fuzz_request_free(ngx_http_request_t *r)
{
    ngx_http_cleanup_t  *cln;

    ngx_connection_t    *c;

    c = r->connection;
    cln = r->cleanup;
    r->cleanup = NULL;

    while (cln) {
        if (cln->handler) {
            cln->handler(cln->data);
        }

        cln = cln->next;
    }

    /* ngx_close_connection() */
    if (c->read->timer_set) {
        ngx_del_timer(c->read);
    }

    if (c->write->timer_set) {
        ngx_del_timer(c->write);
    }

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    ngx_destroy_pool(r->pool);

    /* whatever the module armed or posted must have gone with the request */
    if (ngx_event_timer_rbtree.root != ngx_event_timer_rbtree.sentinel) {
        fprintf(stderr, "fuzz: a timer outlived its request\n");
        abort();
    }

    if (!ngx_queue_empty(&ngx_posted_events)
        || !ngx_queue_empty(&ngx_posted_next_events))
    {
        fprintf(stderr, "fuzz: an event posted by the request outlived "
                "it\n");
        abort();
    }
}


ngx_table_elt_t *
fuzz_add_header(ngx_http_request_t *r, u_char *name, size_t nlen,
    u_char *value, size_t vlen)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_in.headers);
    if (h == NULL) {
        abort();
    }

    /* exact-size copies: ASan sees any read past the end */
    h->key.data = ngx_pnalloc(r->pool, nlen + 1);
    h->value.data = ngx_pnalloc(r->pool, vlen + 1);
    h->lowcase_key = ngx_pnalloc(r->pool, nlen + 1);

    if (h->key.data == NULL || h->value.data == NULL
        || h->lowcase_key == NULL)
    {
        abort();
    }

    /* nginx's own headers are NUL-terminated too */
    *ngx_cpymem(h->key.data, name, nlen) = '\0';
    *ngx_cpymem(h->value.data, value, vlen) = '\0';
    h->key.len = nlen;
    h->value.len = vlen;
    ngx_strlow(h->lowcase_key, h->key.data, nlen);
    h->lowcase_key[nlen] = '\0';
    h->hash = ngx_hash_key(h->lowcase_key, nlen);

    return h;
}


size_t
fuzz_split(const u_char *data, size_t len, u_char sep, const u_char **rest,
    size_t *rlen)
{
    const u_char  *p;

    p = memchr(data, sep, len);

    if (p == NULL) {
        *rest = data + len;
        *rlen = 0;
        return len;
    }

    *rest = p + 1;
    *rlen = len - (p + 1 - data);

    return p - data;
}
