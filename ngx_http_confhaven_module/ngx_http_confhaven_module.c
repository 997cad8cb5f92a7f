
/*
 * Copyright (C) ConferenceHaven
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_confhaven_module.h"
#include "ngx_http_confhaven_rest.h"
#include "ngx_http_confhaven_mcp.h"
#include "ngx_http_confhaven_sse.h"
#include "ngx_http_confhaven_mcp_cluster.h"
#include "ngx_http_confhaven_transport.h"
#include "ngx_http_confhaven_observe.h"
#include "ngx_http_confhaven_metrics.h"


static ngx_int_t ngx_http_confhaven_add_variables(ngx_conf_t *cf);
static ngx_int_t ngx_http_confhaven_postconfiguration(ngx_conf_t *cf);
static void *ngx_http_confhaven_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_confhaven_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_confhaven_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_confhaven_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_confhaven_public_url(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_confhaven_content(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_confhaven_secret_file(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_confhaven_pg_server(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_confhaven_redis_server(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static ngx_int_t ngx_http_confhaven_variable_cache(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_confhaven_read_secret(ngx_conf_t *cf,
    ngx_str_t *name, ngx_str_t *secret, size_t min);
static ngx_int_t ngx_http_confhaven_init_process(ngx_cycle_t *cycle);
static void ngx_http_confhaven_exit_process(ngx_cycle_t *cycle);
static ngx_int_t ngx_http_confhaven_variable_str(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_confhaven_variable_num(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static void ngx_http_confhaven_gauges(void *data);
static ngx_int_t ngx_http_confhaven_variable_trace(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


static ngx_conf_num_bounds_t  ngx_http_confhaven_pool_size_bounds = {
    ngx_conf_check_num_bounds, 1, 1024
};

static ngx_conf_num_bounds_t  ngx_http_confhaven_queue_size_bounds = {
    ngx_conf_check_num_bounds, 0, 1000000
};

static ngx_conf_num_bounds_t  ngx_http_confhaven_events_buffer_bounds = {
    ngx_conf_check_num_bounds, 0, 1000000
};


#define NGX_HTTP_CONFHAVEN_NEEDS_NOTHING  0
#define NGX_HTTP_CONFHAVEN_NEEDS_DB       1
#define NGX_HTTP_CONFHAVEN_NEEDS_MCP      2
#define NGX_HTTP_CONFHAVEN_NEEDS_METRICS  3


typedef struct {
    ngx_str_t                      name;
    ngx_uint_t                     offset;
    ngx_http_handler_pt            handler;
    ngx_uint_t                     needs;
} ngx_http_confhaven_content_t;


static ngx_http_confhaven_content_t  ngx_http_confhaven_contents[] = {

    { ngx_string("confhaven_rest"),
      offsetof(ngx_http_confhaven_loc_conf_t, rest),
      ngx_http_confhaven_rest_handler, NGX_HTTP_CONFHAVEN_NEEDS_DB },

    { ngx_string("confhaven_json_errors"),
      offsetof(ngx_http_confhaven_loc_conf_t, json_errors),
      ngx_http_confhaven_rest_error_handler, NGX_HTTP_CONFHAVEN_NEEDS_NOTHING },

    { ngx_string("confhaven_mcp_errors"),
      offsetof(ngx_http_confhaven_loc_conf_t, mcp_errors),
      ngx_http_confhaven_transport_error_page_handler,
      NGX_HTTP_CONFHAVEN_NEEDS_NOTHING },

    { ngx_string("confhaven_mcp"),
      offsetof(ngx_http_confhaven_loc_conf_t, mcp.enabled),
      ngx_http_confhaven_transport_http_handler, NGX_HTTP_CONFHAVEN_NEEDS_MCP },

    { ngx_string("confhaven_mcp_sse"),
      offsetof(ngx_http_confhaven_loc_conf_t, mcp.sse),
      ngx_http_confhaven_transport_sse_handler, NGX_HTTP_CONFHAVEN_NEEDS_MCP },

    { ngx_string("confhaven_metrics"),
      offsetof(ngx_http_confhaven_loc_conf_t, metrics),
      ngx_http_confhaven_observe_metrics_handler,
      NGX_HTTP_CONFHAVEN_NEEDS_METRICS },

    { ngx_null_string, 0, NULL, 0 }
};


static ngx_conf_num_bounds_t  ngx_http_confhaven_otlp_batch_bounds = {
    ngx_conf_check_num_bounds, 1, 8192
};

static ngx_conf_num_bounds_t  ngx_http_confhaven_otlp_queue_bounds = {
    ngx_conf_check_num_bounds, 1, 65536
};


static ngx_command_t  ngx_http_confhaven_commands[] = {

    { ngx_string("confhaven_pg_server"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE12,
      ngx_http_confhaven_pg_server,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("confhaven_pg_password_file"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_confhaven_secret_file,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_confhaven_main_conf_t, pg.password),
      NULL },

    { ngx_string("confhaven_pg_pool_size"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_confhaven_main_conf_t, pg.pool_size),
      &ngx_http_confhaven_pool_size_bounds },

    { ngx_string("confhaven_pg_queue_size"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_confhaven_main_conf_t, pg.queue_size),
      &ngx_http_confhaven_queue_size_bounds },

    { ngx_string("confhaven_pg_connect_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_confhaven_main_conf_t, pg.connect_timeout),
      NULL },

    { ngx_string("confhaven_pg_statement_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_confhaven_main_conf_t, pg.statement_timeout),
      NULL },

    { ngx_string("confhaven_pg_queue_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_confhaven_main_conf_t, pg.queue_timeout),
      NULL },

    { ngx_string("confhaven_pg_keepalive_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_confhaven_main_conf_t, pg.keepalive_timeout),
      NULL },

    { ngx_string("confhaven_redis_server"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_confhaven_redis_server,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("confhaven_redis_password_file"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_confhaven_secret_file,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_confhaven_main_conf_t, redis_conf.password),
      NULL },

    { ngx_string("confhaven_redis_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_confhaven_main_conf_t, redis_conf.timeout),
      NULL },

    { ngx_string("confhaven_redis_connect_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_confhaven_main_conf_t, redis_conf.connect_timeout),
      NULL },

    { ngx_string("confhaven_cache"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_confhaven_loc_conf_t, cache.enabled),
      NULL },

    { ngx_string("confhaven_cache_ttl_search"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_confhaven_loc_conf_t, cache.ttl_search),
      NULL },

    { ngx_string("confhaven_cache_ttl_document"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_confhaven_loc_conf_t, cache.ttl_document),
      NULL },

    { ngx_string("confhaven_rest"),
      NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_http_confhaven_content,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_confhaven_loc_conf_t, rest),
      NULL },

    { ngx_string("confhaven_json_errors"),
      NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_http_confhaven_content,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_confhaven_loc_conf_t, json_errors),
      NULL },

    { ngx_string("confhaven_mcp_errors"),
      NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_http_confhaven_content,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_confhaven_loc_conf_t, mcp_errors),
      NULL },

    { ngx_string("confhaven_admin_key_file"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_confhaven_secret_file,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_confhaven_loc_conf_t, admin_key),
      NULL },

    { ngx_string("confhaven_import_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_confhaven_loc_conf_t, import_timeout),
      NULL },

    { ngx_string("confhaven_import_max_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_confhaven_loc_conf_t, import_max_size),
      NULL },

    { ngx_string("confhaven_mcp"),
      NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_http_confhaven_content,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_confhaven_loc_conf_t, mcp.enabled),
      NULL },

    { ngx_string("confhaven_mcp_sse"),
      NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_http_confhaven_content,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_confhaven_loc_conf_t, mcp.sse),
      NULL },

    { ngx_string("confhaven_mcp_allowed_hosts"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_confhaven_transport_http_set_list,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_confhaven_loc_conf_t, mcp.allowed_hosts),
      NULL },

    { ngx_string("confhaven_mcp_allowed_origins"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_confhaven_transport_http_set_list,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_confhaven_loc_conf_t, mcp.allowed_origins),
      NULL },

    { ngx_string("confhaven_mcp_sse_keepalive"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_confhaven_loc_conf_t, mcp.sse_keepalive),
      NULL },

    { ngx_string("confhaven_mcp_conformance_fixtures"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_confhaven_loc_conf_t, mcp.conformance_fixtures),
      NULL },

    { ngx_string("confhaven_mcp_max_batch"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_confhaven_loc_conf_t, mcp.max_batch),
      NULL },

    { ngx_string("confhaven_mcp_max_body_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_confhaven_loc_conf_t, mcp.max_body_size),
      NULL },

    { ngx_string("confhaven_mcp_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE2,
      ngx_http_confhaven_mcp_session_set_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_confhaven_main_conf_t, mcp),
      NULL },

    { ngx_string("confhaven_mcp_cluster"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_confhaven_main_conf_t, mcp.cluster_enabled),
      NULL },

    { ngx_string("confhaven_mcp_session_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_confhaven_main_conf_t, mcp.session_timeout),
      NULL },

    { ngx_string("confhaven_mcp_max_sessions"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_confhaven_main_conf_t, mcp.zone.max),
      NULL },

    { ngx_string("confhaven_mcp_sessions_per_client"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_confhaven_main_conf_t, mcp.zone.per_client),
      NULL },

    { ngx_string("confhaven_mcp_event_log_size"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_confhaven_main_conf_t, mcp.zone.log_size),
      NULL },

    { ngx_string("confhaven_cache_local"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_confhaven_cache_local_conf,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_confhaven_main_conf_t, cache_local),
      NULL },

    { ngx_string("confhaven_thread_pool"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_confhaven_main_conf_t, invite.thread_pool_name),
      NULL },

    { ngx_string("confhaven_graph_tenant"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_confhaven_main_conf_t, invite.graph.tenant),
      NULL },

    { ngx_string("confhaven_graph_client_id"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_confhaven_main_conf_t, invite.graph.client_id),
      NULL },

    { ngx_string("confhaven_graph_client_secret_file"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_confhaven_secret_file,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_confhaven_main_conf_t, invite.graph.client_secret),
      NULL },

    { ngx_string("confhaven_graph_organizer"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_confhaven_main_conf_t, invite.graph.organizer),
      NULL },

    { ngx_string("confhaven_graph_url"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_confhaven_main_conf_t, invite.graph.api_url),
      NULL },

    { ngx_string("confhaven_graph_login_url"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_confhaven_main_conf_t, invite.graph.login_url),
      NULL },

    { ngx_string("confhaven_invite_hash_key_file"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_confhaven_secret_file,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_confhaven_main_conf_t, invite.hash_key),
      NULL },

    { ngx_string("confhaven_invite_limit_recipient"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_confhaven_main_conf_t, invite.limit_recipient),
      NULL },

    { ngx_string("confhaven_invite_limit_client"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_confhaven_main_conf_t, invite.limit_client),
      NULL },

    { ngx_string("confhaven_events_buffer"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_confhaven_main_conf_t, events.size),
      &ngx_http_confhaven_events_buffer_bounds },

    { ngx_string("confhaven_events_flush_interval"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_confhaven_main_conf_t, events.interval),
      NULL },

    { ngx_string("confhaven_evaluation_retention"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_confhaven_main_conf_t, events.retention),
      NULL },

    { ngx_string("confhaven_metrics"),
      NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_http_confhaven_content,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_confhaven_loc_conf_t, metrics),
      NULL },

    { ngx_string("confhaven_stripe_secret_key_file"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_confhaven_secret_file,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_confhaven_main_conf_t, billing.stripe.secret_key),
      NULL },

    { ngx_string("confhaven_stripe_webhook_secret_file"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_confhaven_secret_file,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_confhaven_main_conf_t, billing.webhook_secret),
      NULL },

    { ngx_string("confhaven_stripe_url"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_confhaven_main_conf_t, billing.stripe.api_url),
      NULL },

    { ngx_string("confhaven_stripe_price"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE2,
      ngx_http_confhaven_billing_price,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_confhaven_main_conf_t, billing.prices),
      NULL },

    { ngx_string("confhaven_stripe_success_url"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_confhaven_main_conf_t, billing.success_url),
      NULL },

    { ngx_string("confhaven_stripe_cancel_url"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_confhaven_main_conf_t, billing.cancel_url),
      NULL },

    { ngx_string("confhaven_stripe_return_url"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_confhaven_main_conf_t, billing.return_url),
      NULL },

    { ngx_string("confhaven_stripe_grace_period"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_confhaven_main_conf_t, billing.grace),
      NULL },

    { ngx_string("confhaven_stripe_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_confhaven_main_conf_t, billing.timeout),
      NULL },

    /* issue 12: OpenTelemetry traces over OTLP/HTTP */

    { ngx_string("confhaven_otlp_endpoint"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_confhaven_otlp_endpoint,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_confhaven_main_conf_t, otlp.url),
      NULL },

    { ngx_string("confhaven_trace_sample_ratio"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_confhaven_otlp_ratio,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_confhaven_main_conf_t, otlp.trace.ratio),
      NULL },

    { ngx_string("confhaven_otlp_batch_size"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_confhaven_main_conf_t, otlp.batch),
      &ngx_http_confhaven_otlp_batch_bounds },

    { ngx_string("confhaven_otlp_queue_size"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_confhaven_main_conf_t, otlp.trace.queue_size),
      &ngx_http_confhaven_otlp_queue_bounds },

    { ngx_string("confhaven_otlp_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_confhaven_main_conf_t, otlp.timeout),
      NULL },

    { ngx_string("confhaven_otlp_service_name"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_confhaven_main_conf_t, otlp.trace.service),
      NULL },

    { ngx_string("confhaven_otlp_metrics_interval"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_confhaven_otlp_metrics_interval,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_confhaven_main_conf_t, otlp.metrics_interval),
      NULL },

    { ngx_string("confhaven_pg_replica_max_lag"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_confhaven_main_conf_t, pg.replica_max_lag),
      NULL },

    /* absolute URLs in answers (issue 14): mcp/ngx_http_confhaven_tools.c */
    { ngx_string("confhaven_public_url"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_confhaven_public_url,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("confhaven_trust_forwarded_proto"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_confhaven_loc_conf_t, mcp.origin.forwarded_proto),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_confhaven_module_ctx = {
    ngx_http_confhaven_add_variables,      /* preconfiguration */
    ngx_http_confhaven_postconfiguration,  /* postconfiguration */

    ngx_http_confhaven_create_main_conf,   /* create main configuration */
    ngx_http_confhaven_init_main_conf,     /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_confhaven_create_loc_conf,    /* create location configuration */
    ngx_http_confhaven_merge_loc_conf      /* merge location configuration */
};


ngx_module_t  ngx_http_confhaven_module = {
    NGX_MODULE_V1,
    &ngx_http_confhaven_module_ctx,        /* module context */
    ngx_http_confhaven_commands,           /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_confhaven_init_process,       /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_confhaven_exit_process,       /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_http_variable_t  ngx_http_confhaven_vars[] = {

    { ngx_string("confhaven_route"), NULL,
      ngx_http_confhaven_variable_str,
      offsetof(ngx_http_confhaven_ctx_t, route),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("confhaven_error"), NULL,
      ngx_http_confhaven_variable_str,
      offsetof(ngx_http_confhaven_ctx_t, error),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("confhaven_result_count"), NULL,
      ngx_http_confhaven_variable_num, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("confhaven_db_time"), NULL,
      ngx_http_confhaven_variable_num, 1,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("confhaven_cache_status"), NULL,
      ngx_http_confhaven_variable_cache, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("confhaven_mcp_session"), NULL,
      ngx_http_confhaven_variable_str,
      offsetof(ngx_http_confhaven_ctx_t, mcp_vars.session),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("confhaven_mcp_method"), NULL,
      ngx_http_confhaven_variable_str,
      offsetof(ngx_http_confhaven_ctx_t, mcp_vars.method),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("confhaven_mcp_tool"), NULL,
      ngx_http_confhaven_variable_str,
      offsetof(ngx_http_confhaven_ctx_t, mcp_vars.tool),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("confhaven_trace_id"), NULL,
      ngx_http_confhaven_variable_trace, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


ngx_http_confhaven_ctx_t *
ngx_http_confhaven_get_ctx(ngx_http_request_t *r)
{
    ngx_http_confhaven_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_confhaven_module);
    if (ctx) {
        return ctx;
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_confhaven_ctx_t));
    if (ctx == NULL) {
        return NULL;
    }

    ctx->result_count = -1;
    ngx_http_set_ctx(r, ctx, ngx_http_confhaven_module);

    /* its server span (OTLP traces): the parent of all it does */
    if (r == r->main && ngx_http_confhaven_trace_enabled()) {
        ctx->env.trace = ngx_http_confhaven_observe_span(r);
    }

    return ctx;
}


/* the front ends' phase handlers */

static ngx_int_t
ngx_http_confhaven_postconfiguration(ngx_conf_t *cf)
{
    ngx_uint_t                       metrics;
    ngx_http_confhaven_main_conf_t  *chmcf;

    chmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_confhaven_module);
    /* the log phase ends a request's server span too */
    metrics = (chmcf->metrics_zone != NULL || chmcf->otlp.url.len);

    if (ngx_http_confhaven_observe_postconfiguration(cf, metrics) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_confhaven_transport_http_postconfiguration(cf);
}


static ngx_int_t
ngx_http_confhaven_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_confhaven_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_confhaven_variable_str(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t                 *s;
    ngx_http_confhaven_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_confhaven_module);
    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    s = (ngx_str_t *) ((char *) ctx + data);
    if (s->len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = s->len;
    v->data = s->data;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_http_confhaven_variable_num(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                    *p;
    ngx_http_confhaven_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_confhaven_module);
    if (ctx == NULL
        || (data == 0 && ctx->result_count < 0)
        || (data == 1 && !ctx->db_used && !ctx->mcp_vars.db_used))
    {
        v->not_found = 1;
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    v->len = (data == 0) ? ngx_sprintf(p, "%i", ctx->result_count) - p
                         : ngx_sprintf(p, "%M", ctx->db_time
                                                + ctx->mcp_vars.db_time) - p;
    v->data = p;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


/* the MCP call's trace id, else the traceparent header's (REST too) */

static ngx_int_t
ngx_http_confhaven_variable_trace(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t  id;

    ngx_http_confhaven_observe_trace_id(r,
                  ngx_http_get_module_ctx(r, ngx_http_confhaven_module), &id);

    if (id.len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = id.len;
    v->data = id.data;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_http_confhaven_variable_cache(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    const char                *name;
    ngx_http_confhaven_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_confhaven_module);
    /* REST's, or what the MCP operations of the request said */
    name = ctx ? ngx_http_confhaven_cache_status_name(ctx->cache_status
                     ? ctx->cache_status : ctx->mcp_vars.cache_status)
               : NULL;

    if (name == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = ngx_strlen(name);
    v->data = (u_char *) name;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


static void *
ngx_http_confhaven_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_confhaven_main_conf_t  *chmcf;

    chmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_confhaven_main_conf_t));
    if (chmcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     chmcf->pg.server = { 0, NULL };
     *     chmcf->pg.password = { 0, NULL };
     *     chmcf->pool = NULL;
     *     chmcf->used = 0;
     */

    chmcf->pg.pool_size = NGX_CONF_UNSET_UINT;
    chmcf->pg.queue_size = NGX_CONF_UNSET_UINT;
    chmcf->pg.connect_timeout = NGX_CONF_UNSET_MSEC;
    chmcf->pg.statement_timeout = NGX_CONF_UNSET_MSEC;
    chmcf->pg.queue_timeout = NGX_CONF_UNSET_MSEC;
    chmcf->pg.keepalive_timeout = NGX_CONF_UNSET_MSEC;
    chmcf->pg.replica_max_lag = NGX_CONF_UNSET_MSEC;
    chmcf->redis_conf.timeout = NGX_CONF_UNSET_MSEC;
    chmcf->redis_conf.connect_timeout = NGX_CONF_UNSET_MSEC;
    chmcf->mcp.session_timeout = NGX_CONF_UNSET_MSEC;
    chmcf->mcp.zone.max = NGX_CONF_UNSET_UINT;
    chmcf->mcp.zone.per_client = NGX_CONF_UNSET_UINT;
    chmcf->mcp.zone.log_size = NGX_CONF_UNSET_SIZE;
    chmcf->mcp.cluster_enabled = NGX_CONF_UNSET;
    chmcf->mcp.tag = &ngx_http_confhaven_module;
    chmcf->cache_local = NGX_CONF_UNSET_SIZE;
    ngx_http_confhaven_invite_create_conf(&chmcf->invite);
    chmcf->events.size = NGX_CONF_UNSET_UINT;
    chmcf->events.interval = NGX_CONF_UNSET_MSEC;
    chmcf->events.retention = NGX_CONF_UNSET;
    ngx_http_confhaven_billing_create_conf(&chmcf->billing);
    chmcf->otlp.timeout = NGX_CONF_UNSET_MSEC;
    chmcf->otlp.batch = NGX_CONF_UNSET_UINT;
    chmcf->otlp.trace.queue_size = NGX_CONF_UNSET_UINT;
    chmcf->otlp.trace.ratio = NGX_CONF_UNSET_UINT;
    chmcf->otlp.metrics_interval = NGX_CONF_UNSET_MSEC;

    return chmcf;
}


static char *
ngx_http_confhaven_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_confhaven_main_conf_t *chmcf = conf;

    static ngx_str_t  request_id = ngx_string("request_id");

    /* indexed: the id a client is told is the one the logs show */
    chmcf->request_id_index = ngx_http_get_variable_index(cf, &request_id);
    if (chmcf->request_id_index == NGX_ERROR) {
        return NGX_CONF_ERROR;
    }

    ngx_conf_init_uint_value(chmcf->pg.pool_size, 8);
    ngx_conf_init_uint_value(chmcf->pg.queue_size, 512);
    ngx_conf_init_msec_value(chmcf->pg.connect_timeout, 5000);
    ngx_conf_init_msec_value(chmcf->pg.statement_timeout, 10000);
    ngx_conf_init_msec_value(chmcf->pg.queue_timeout, 3000);
    ngx_conf_init_msec_value(chmcf->pg.keepalive_timeout, 60000);
    ngx_conf_init_msec_value(chmcf->pg.replica_max_lag, 5000);
    ngx_conf_init_msec_value(chmcf->redis_conf.timeout, 200);
    ngx_conf_init_msec_value(chmcf->redis_conf.connect_timeout, 1000);
    ngx_conf_init_size_value(chmcf->cache_local, 0);

    if (chmcf->cache_local && chmcf->redis_conf.url.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"confhaven_cache_local\" needs "
                           "\"confhaven_redis_server\"");
        return NGX_CONF_ERROR;
    }

    ngx_conf_init_uint_value(chmcf->events.size,
                             NGX_HTTP_CONFHAVEN_EVENTS_SIZE);
    ngx_conf_init_msec_value(chmcf->events.interval,
                             NGX_HTTP_CONFHAVEN_EVENTS_INTERVAL);
    ngx_conf_init_value(chmcf->events.retention,
                        NGX_HTTP_CONFHAVEN_EVENTS_RETENTION);

    if (chmcf->events.interval == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"confhaven_events_flush_interval\" must be "
                           "more than 0");
        return NGX_CONF_ERROR;
    }

    /* /health's event counters: the workers' sum */
    if (chmcf->events.size && chmcf->pg.server.len
        && ngx_http_confhaven_events_zone_add(cf, &chmcf->events,
                                              &ngx_http_confhaven_module)
           != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_confhaven_mcp_cluster_init_conf(cf, &chmcf->mcp,
                                                 chmcf->redis_conf.url.len)
        != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_confhaven_mcp_session_init_conf(cf, &chmcf->mcp)
        != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    /* the counters are kept for a scrape, or for an OTLP export */
    if (chmcf->metrics_used
        || (chmcf->otlp.url.len && chmcf->otlp.metrics_interval != 0))
    {
        chmcf->metrics_zone = ngx_http_confhaven_metrics_zone_add(cf,
                                                  &ngx_http_confhaven_module);
        if (chmcf->metrics_zone == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    if (chmcf->redis_conf.timeout == 0
        || chmcf->redis_conf.connect_timeout == 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"confhaven_redis_timeout\" and "
                           "\"confhaven_redis_connect_timeout\" must be "
                           "greater than zero");
        return NGX_CONF_ERROR;
    }

    if (chmcf->redis_conf.password.len && chmcf->redis_conf.url.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"confhaven_redis_password_file\" needs "
                           "\"confhaven_redis_server\"");
        return NGX_CONF_ERROR;
    }

    if (ngx_http_confhaven_invite_init_conf(cf, &chmcf->invite,
                                            chmcf->redis_conf.url.len != 0,
                                            chmcf->pg.server.len != 0)
        != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_confhaven_billing_init_conf(cf, &chmcf->billing,
                                             &chmcf->invite.thread_pool_name,
                                             chmcf->pg.server.len != 0)
        != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (chmcf->pg.statement_timeout == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"confhaven_pg_statement_timeout\" must be "
                           "greater than zero");
        return NGX_CONF_ERROR;
    }

    if (chmcf->pg.connect_timeout == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"confhaven_pg_connect_timeout\" must be "
                           "greater than zero");
        return NGX_CONF_ERROR;
    }

    if (ngx_http_confhaven_otlp_init_conf(cf, &chmcf->otlp,
                                          &chmcf->invite.thread_pool_name)
        != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (chmcf->pg.server.len == 0 && chmcf->pg.replicas) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"confhaven_pg_server ... replica\" needs a "
                           "primary: add a \"confhaven_pg_server\" "
                           "without \"replica\"");
        return NGX_CONF_ERROR;
    }

    if (chmcf->pg.server.len == 0) {
        if (chmcf->used) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"confhaven_rest\" needs a database: "
                               "add \"confhaven_pg_server\" to the http "
                               "block");
            return NGX_CONF_ERROR;
        }

        return NGX_CONF_OK;
    }

    return ngx_http_confhaven_pg_conf_prepare(cf, &chmcf->pg);
}


static void *
ngx_http_confhaven_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_confhaven_loc_conf_t  *chlcf;

    chlcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_confhaven_loc_conf_t));
    if (chlcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     chlcf->admin_key = { 0, NULL };
     */

    chlcf->rest = NGX_CONF_UNSET;
    chlcf->json_errors = NGX_CONF_UNSET;
    chlcf->mcp_errors = NGX_CONF_UNSET;
    chlcf->import_max_size = NGX_CONF_UNSET_SIZE;
    chlcf->import_timeout = NGX_CONF_UNSET_MSEC;
    chlcf->cache.enabled = NGX_CONF_UNSET;
    chlcf->cache.ttl_search = NGX_CONF_UNSET_MSEC;
    chlcf->cache.ttl_document = NGX_CONF_UNSET_MSEC;
    chlcf->mcp.enabled = NGX_CONF_UNSET;
    chlcf->mcp.sse = NGX_CONF_UNSET;
    chlcf->mcp.allowed_hosts = NGX_CONF_UNSET_PTR;
    chlcf->mcp.allowed_origins = NGX_CONF_UNSET_PTR;
    chlcf->mcp.sse_keepalive = NGX_CONF_UNSET_MSEC;
    chlcf->mcp.conformance_fixtures = NGX_CONF_UNSET;
    chlcf->mcp.max_batch = NGX_CONF_UNSET_UINT;
    chlcf->mcp.max_body_size = NGX_CONF_UNSET_SIZE;
    chlcf->metrics = NGX_CONF_UNSET;
    chlcf->mcp.origin.forwarded_proto = NGX_CONF_UNSET;

    return chlcf;
}


static char *
ngx_http_confhaven_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_confhaven_loc_conf_t *prev = parent;
    ngx_http_confhaven_loc_conf_t *conf = child;

    ngx_conf_merge_value(conf->rest, prev->rest, 0);
    ngx_conf_merge_value(conf->json_errors, prev->json_errors, 0);
    ngx_conf_merge_value(conf->mcp_errors, prev->mcp_errors, 0);
    ngx_conf_merge_value(conf->metrics, prev->metrics, 0);
    ngx_conf_merge_str_value(conf->admin_key, prev->admin_key, "");
    ngx_conf_merge_size_value(conf->import_max_size, prev->import_max_size,
                              NGX_HTTP_CONFHAVEN_IMPORT_MAX_SIZE);
    ngx_conf_merge_msec_value(conf->import_timeout, prev->import_timeout,
                              120000);

    if (conf->import_timeout == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"confhaven_import_timeout\" must be greater "
                           "than zero");
        return NGX_CONF_ERROR;
    }
    ngx_conf_merge_value(conf->cache.enabled, prev->cache.enabled, 1);
    ngx_conf_merge_msec_value(conf->cache.ttl_search, prev->cache.ttl_search,
                              NGX_HTTP_CONFHAVEN_CACHE_TTL_SEARCH);
    ngx_conf_merge_msec_value(conf->cache.ttl_document,
                              prev->cache.ttl_document,
                              NGX_HTTP_CONFHAVEN_CACHE_TTL_DOCUMENT);
    ngx_conf_merge_value(conf->mcp.enabled, prev->mcp.enabled, 0);
    ngx_conf_merge_value(conf->mcp.sse, prev->mcp.sse, 0);
    ngx_conf_merge_value(conf->mcp.conformance_fixtures,
                         prev->mcp.conformance_fixtures, 0);

    /* the conformance suite's tools, in this location only */
    conf->mcp.extra_tools = conf->mcp.conformance_fixtures
                            ? &ngx_http_confhaven_mcp_fixtures : NULL;

    ngx_conf_merge_ptr_value(conf->mcp.allowed_hosts,
                             prev->mcp.allowed_hosts, NULL);
    ngx_conf_merge_ptr_value(conf->mcp.allowed_origins,
                             prev->mcp.allowed_origins, NULL);
    ngx_conf_merge_msec_value(conf->mcp.sse_keepalive,
                              prev->mcp.sse_keepalive,
                              NGX_HTTP_CONFHAVEN_SSE_KEEPALIVE);

    ngx_conf_merge_uint_value(conf->mcp.max_batch, prev->mcp.max_batch,
                              NGX_HTTP_CONFHAVEN_MCP_MAX_BATCH);
    ngx_conf_merge_size_value(conf->mcp.max_body_size,
                              prev->mcp.max_body_size,
                              NGX_HTTP_CONFHAVEN_MCP_MAX_BODY_SIZE);

    if (conf->mcp.max_batch < 1 || conf->mcp.max_batch > 1024) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"confhaven_mcp_max_batch\" must be "
                           "from 1 to 1024");
        return NGX_CONF_ERROR;
    }

    if (conf->mcp.max_body_size < 1024) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"confhaven_mcp_max_body_size\" must be "
                           "at least 1k");
        return NGX_CONF_ERROR;
    }

    if (conf->mcp.sse_keepalive < 100) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"confhaven_mcp_sse_keepalive\" must be "
                           "at least 100ms");
        return NGX_CONF_ERROR;
    }

    if (conf->cache.ttl_search < 1000 || conf->cache.ttl_document < 1000) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "cache TTLs must be at least 1s");
        return NGX_CONF_ERROR;
    }

    if (conf->import_max_size < 1024) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"confhaven_import_max_size\" must be "
                           "at least 1k");
        return NGX_CONF_ERROR;
    }

    ngx_conf_merge_str_value(conf->mcp.origin.public_url,
                             prev->mcp.origin.public_url, "");
    ngx_conf_merge_value(conf->mcp.origin.forwarded_proto,
                         prev->mcp.origin.forwarded_proto, 0);

    return NGX_CONF_OK;
}


/* confhaven_public_url https://conf.example.org: an origin, checked */

static char *
ngx_http_confhaven_public_url(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_confhaven_loc_conf_t *chlcf = conf;

    ngx_str_t  *value;

    if (chlcf->mcp.origin.public_url.data != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;

    chlcf->mcp.origin.public_url = value[1];

    return ngx_http_confhaven_tools_public_url(cf,
                                               &chlcf->mcp.origin.public_url);
}


/*
 * The content directives: one per location, each installing its handler
 * and telling the main conf what it needs (a database, the MCP zone).
 */

static char *
ngx_http_confhaven_content(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    char                            *rv;
    ngx_http_core_loc_conf_t        *clcf;
    ngx_http_confhaven_content_t    *ct, *other;
    ngx_http_confhaven_main_conf_t  *chmcf;

    rv = ngx_conf_set_flag_slot(cf, cmd, conf);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    if (*(ngx_flag_t *) (p + cmd->offset) != 1) {
        return NGX_CONF_OK;
    }

    /* cmd->post is taken: ngx_conf_set_flag_slot() reads it */

    for (ct = ngx_http_confhaven_contents; ct->name.len; ct++) {
        if (ct->offset == cmd->offset) {
            break;
        }
    }

    for (other = ngx_http_confhaven_contents; other->name.len; other++) {
        if (other != ct && *(ngx_flag_t *) (p + other->offset) == 1) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\" directive cannot be used with \"%V\" "
                               "in the same location", &cmd->name,
                               &other->name);
            return NGX_CONF_ERROR;
        }
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ct->handler;

    chmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_confhaven_module);

    if (ct->needs == NGX_HTTP_CONFHAVEN_NEEDS_DB) {
        chmcf->used = 1;

    } else if (ct->needs == NGX_HTTP_CONFHAVEN_NEEDS_MCP) {
        chmcf->mcp.used = 1;

    } else if (ct->needs == NGX_HTTP_CONFHAVEN_NEEDS_METRICS) {
        chmcf->metrics_used = 1;
    }

    return NGX_CONF_OK;
}


/*
 * confhaven_pg_server conninfo [replica]: the primary once, read replicas
 * as often as there are (ngx_http_confhaven_pg.c routes the reads).
 */

static char *
ngx_http_confhaven_pg_server(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_confhaven_main_conf_t *chmcf = conf;

    ngx_str_t                     *value;
    ngx_http_confhaven_pg_conf_t  *rcf;

    value = cf->args->elts;

    if (cf->args->nelts == 3
        && ngx_strcmp(value[2].data, "replica") != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\" in \"%V\" directive: "
                           "expected \"replica\"", &value[2], &cmd->name);
        return NGX_CONF_ERROR;
    }

    if (value[1].len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"%V\" directive: "
                           "expected a libpq connection string or a "
                           "postgresql:// URL", &value[1], &cmd->name);
        return NGX_CONF_ERROR;
    }

    if (cf->args->nelts == 2) {
        if (chmcf->pg.server.data) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\" directive is duplicate: one primary "
                               "server; mark read replicas with "
                               "\"replica\"", &cmd->name);
            return NGX_CONF_ERROR;
        }

        /* config strings are NUL-terminated: libpq can parse it later */
        chmcf->pg.server = value[1];

        return NGX_CONF_OK;
    }

    if (chmcf->pg.replicas == NULL) {
        chmcf->pg.replicas = ngx_array_create(cf->pool, 2,
                                         sizeof(ngx_http_confhaven_pg_conf_t));
        if (chmcf->pg.replicas == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    if (chmcf->pg.replicas->nelts == NGX_HTTP_CONFHAVEN_PG_MAX_REPLICAS) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "too many replicas in \"%V\": at most %d",
                           &cmd->name, NGX_HTTP_CONFHAVEN_PG_MAX_REPLICAS);
        return NGX_CONF_ERROR;
    }

    rcf = ngx_array_push(chmcf->pg.replicas);
    if (rcf == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(rcf, sizeof(ngx_http_confhaven_pg_conf_t));
    rcf->server = value[1];

    return NGX_CONF_OK;
}


static char *
ngx_http_confhaven_redis_server(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_confhaven_main_conf_t *chmcf = conf;

    ngx_str_t  *value;

    if (chmcf->redis_conf.url.data) {
        return "is duplicate";
    }

    value = cf->args->elts;
    chmcf->redis_conf.url = value[1];

    return ngx_http_confhaven_redis_parse_url(cf, &chmcf->redis_conf);
}


static char *
ngx_http_confhaven_secret_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    char  *p = conf;

    size_t      min;
    ngx_str_t  *field, *value;

    field = (ngx_str_t *) (p + cmd->offset);

    if (field->data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    /* an admin key must be worth guessing; a password is what it is */
    min = (cmd->type & NGX_HTTP_LOC_CONF) ? 16 : 1;

    if (ngx_http_confhaven_read_secret(cf, &value[1], field, min) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_confhaven_read_secret(ngx_conf_t *cf, ngx_str_t *name,
    ngx_str_t *secret, size_t min)
{
    u_char           *buf, *start, *end;
    ssize_t           n;
    ngx_fd_t          fd;
    ngx_file_info_t   fi;
    ngx_str_t         path;

    path = *name;

    if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) {
        return NGX_ERROR;
    }

    fd = ngx_open_file(path.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%s\" failed", path.data);
        return NGX_ERROR;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_fd_info_n " \"%s\" failed", path.data);
        ngx_close_file(fd);
        return NGX_ERROR;
    }

    if (ngx_file_size(&fi) > 4096) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "secret file \"%s\" is larger than 4k",
                           path.data);
        ngx_close_file(fd);
        return NGX_ERROR;
    }

    buf = ngx_pnalloc(cf->pool, 4097);
    if (buf == NULL) {
        ngx_close_file(fd);
        return NGX_ERROR;
    }

    n = ngx_read_fd(fd, buf, 4096);
    ngx_close_file(fd);

    if (n == -1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_read_fd_n " \"%s\" failed", path.data);
        return NGX_ERROR;
    }

    start = buf;
    end = buf + n;

    while (start < end && (*start == ' ' || *start == '\t'
                           || *start == '\r' || *start == '\n'))
    {
        start++;
    }

    while (end > start && (end[-1] == ' ' || end[-1] == '\t'
                           || end[-1] == '\r' || end[-1] == '\n'))
    {
        end--;
    }

    if ((size_t) (end - start) < min) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "secret file \"%s\" must hold at least %uz "
                           "characters", path.data, min);
        return NGX_ERROR;
    }

    *end = '\0';
    secret->data = start;
    secret->len = end - start;

    return NGX_OK;
}


static ngx_int_t
ngx_http_confhaven_init_process(ngx_cycle_t *cycle)
{
    ngx_http_confhaven_main_conf_t  *chmcf;

    chmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                                ngx_http_confhaven_module);
    if (chmcf == NULL) {
        return NGX_OK;
    }

    if (ngx_http_confhaven_otlp_init_process(cycle, &chmcf->otlp,
                                   ngx_http_confhaven_observe_otlp_metrics,
                                   chmcf)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (chmcf->pg.server.len == 0) {
        return ngx_http_confhaven_metrics_init_process(cycle,
                   chmcf->metrics_zone, ngx_http_confhaven_gauges, chmcf);
    }

    chmcf->pool = ngx_http_confhaven_pg_pool_create(cycle, &chmcf->pg);
    if (chmcf->pool == NULL) {
        return NGX_ERROR;
    }

    if (chmcf->redis_conf.url.len) {
        chmcf->redis = ngx_http_confhaven_redis_create(cycle,
                                                       &chmcf->redis_conf);
        if (chmcf->redis == NULL) {
            return NGX_ERROR;
        }
    }

    chmcf->cache = ngx_http_confhaven_cache_create(cycle, chmcf->pool,
                                                   chmcf->redis);
    if (chmcf->cache == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_confhaven_cache_local_init(chmcf->cache, cycle,
                                            &chmcf->redis_conf,
                                            chmcf->cache_local)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_confhaven_mcp_cluster_init_process(cycle, &chmcf->mcp,
                                                    &chmcf->redis_conf,
                                                    chmcf->redis)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_http_confhaven_transport_sse_init_process(cycle, chmcf);
    ngx_http_confhaven_invite_init_process(&chmcf->invite, chmcf->redis);
    ngx_http_confhaven_billing_init_process(&chmcf->billing);

    if (ngx_http_confhaven_events_init(cycle, &chmcf->events, chmcf->pool,
                                       &chmcf->pg)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_confhaven_metrics_init_process(cycle, chmcf->metrics_zone,
                                                   ngx_http_confhaven_gauges,
                                                   chmcf);
}


/* this worker's gauges in the metrics zone (every second, and scrapes) */

static void
ngx_http_confhaven_gauges(void *data)
{
    ngx_http_confhaven_main_conf_t *chmcf = data;

    const char                     *state;
    ngx_uint_t                      redis;
    ngx_http_confhaven_pg_stats_t   st;

    if (chmcf->pool) {
        ngx_http_confhaven_pg_pool_stats(chmcf->pool, &st);

        ngx_http_confhaven_metrics_gauge(NGX_HTTP_CONFHAVEN_GAUGE_PG_SIZE,
                                         st.size);
        ngx_http_confhaven_metrics_gauge(NGX_HTTP_CONFHAVEN_GAUGE_PG_BUSY,
                                         st.busy);
        ngx_http_confhaven_metrics_gauge(NGX_HTTP_CONFHAVEN_GAUGE_PG_IDLE,
                                         st.idle);
        ngx_http_confhaven_metrics_gauge(
                        NGX_HTTP_CONFHAVEN_GAUGE_PG_CONNECTING, st.connecting);
        ngx_http_confhaven_metrics_gauge(NGX_HTTP_CONFHAVEN_GAUGE_PG_QUEUED,
                                         st.queued);
        ngx_http_confhaven_metrics_gauge(NGX_HTTP_CONFHAVEN_GAUGE_PG_DOWN,
                                         st.down);
    }

    redis = NGX_HTTP_CONFHAVEN_METRICS_REDIS_NONE;

    if (chmcf->redis) {
        state = ngx_http_confhaven_redis_state(chmcf->redis);

        if (ngx_strcmp(state, "ok") == 0) {
            redis = NGX_HTTP_CONFHAVEN_METRICS_REDIS_OK;

        } else if (ngx_strcmp(state, "connecting") == 0) {
            redis = NGX_HTTP_CONFHAVEN_METRICS_REDIS_CONNECTING;

        } else {
            redis = NGX_HTTP_CONFHAVEN_METRICS_REDIS_UNAVAILABLE;
        }
    }

    ngx_http_confhaven_metrics_gauge(NGX_HTTP_CONFHAVEN_GAUGE_REDIS, redis);

    /* the local cache tier's subscriber, same states */
    redis = NGX_HTTP_CONFHAVEN_METRICS_REDIS_NONE;
    state = chmcf->cache ? ngx_http_confhaven_cache_subscriber_state(
                                                          chmcf->cache)
                         : NULL;

    if (state) {
        redis = (ngx_strcmp(state, "ok") == 0)
                ? NGX_HTTP_CONFHAVEN_METRICS_REDIS_OK
                : (ngx_strcmp(state, "connecting") == 0)
                  ? NGX_HTTP_CONFHAVEN_METRICS_REDIS_CONNECTING
                  : NGX_HTTP_CONFHAVEN_METRICS_REDIS_UNAVAILABLE;
    }

    ngx_http_confhaven_metrics_gauge(NGX_HTTP_CONFHAVEN_GAUGE_REDIS_SUBSCRIBER,
                                     redis);
}


static void
ngx_http_confhaven_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_confhaven_main_conf_t  *chmcf;

    ngx_http_confhaven_metrics_exit_process();
    ngx_http_confhaven_otlp_exit_process();

    chmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                                ngx_http_confhaven_module);
    if (chmcf == NULL || chmcf->pool == NULL) {
        return;
    }

    ngx_http_confhaven_mcp_cluster_exit_process(&chmcf->mcp);
    ngx_http_confhaven_cache_local_exit(chmcf->cache);

    ngx_http_confhaven_events_exit();

    if (chmcf->redis) {
        ngx_http_confhaven_redis_destroy(chmcf->redis);
        chmcf->redis = NULL;
    }

    ngx_http_confhaven_pg_pool_destroy(chmcf->pool);
    chmcf->pool = NULL;
}
