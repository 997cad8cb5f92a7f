
/*
 * Copyright (C) ConferenceHaven
 */


/*
 * Organizers: accounts, API keys, analytics of their own conferences and
 * the review of evaluation records (sql/functions/85_organizers.sql).
 * An organizer's operations take its key (OP_KEY: only its hash reaches
 * the database); the admin ones are behind the admin key, checked by the
 * front end.  REST: http/ngx_http_confhaven_rest_organizer.c; MCP: the
 * tool get_organizer_analytics.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_http_confhaven_op.h"


#define NGX_HTTP_CONFHAVEN_OP_ANALYTICS_TIMEOUT  20000


static const char  *ngx_http_confhaven_op_tiers[] = {
    "free", "pro", "enterprise", NULL
};

static const char  *ngx_http_confhaven_op_statuses[] = {
    "pending", "approved", "rejected", NULL
};


static ngx_http_confhaven_op_param_t  ngx_http_confhaven_op_create_params[] = {

    { "name", NULL, NGX_HTTP_CONFHAVEN_OP_TEXT, 0, 0, 200, NULL,
      "The organizer's name.", NULL, NULL, NGX_HTTP_CONFHAVEN_OP_IN_QUERY },

    { "tier", NULL, NGX_HTTP_CONFHAVEN_OP_FOLD, 0, 0, 20, "free",
      "Subscription tier.", ngx_http_confhaven_op_tiers, NULL,
      NGX_HTTP_CONFHAVEN_OP_IN_QUERY }
};


ngx_http_confhaven_op_t  ngx_http_confhaven_op_organizer_create = {
    ngx_string("organizer_create"),
    "SELECT r::text, 1, '' FROM confhaven.admin_create_organizer($1, $2) r",
    ngx_http_confhaven_op_create_params, 2,
    NGX_HTTP_CONFHAVEN_OP_NO_CACHE, 0, 0
};


static ngx_http_confhaven_op_param_t  ngx_http_confhaven_op_link_params[] = {

    { "organizer", "id", NGX_HTTP_CONFHAVEN_OP_ID, 1, 0, 0, NULL,
      "The organizer's id.", NULL, "organizer ids are positive integers",
      NGX_HTTP_CONFHAVEN_OP_IN_PATH },

    { "conference", NULL, NGX_HTTP_CONFHAVEN_OP_FOLD, 0, 0, 63, NULL,
      "The conference's slug.", NULL, NULL, NGX_HTTP_CONFHAVEN_OP_IN_PATH }
};


ngx_http_confhaven_op_t  ngx_http_confhaven_op_organizer_link = {
    ngx_string("organizer_link"),
    "SELECT r::text, 1, '' "
    "FROM confhaven.admin_link_conference($1::bigint, $2) r",
    ngx_http_confhaven_op_link_params, 2,
    NGX_HTTP_CONFHAVEN_OP_NO_CACHE, 0, 0
};


static ngx_http_confhaven_op_param_t  ngx_http_confhaven_op_issue_params[] = {

    { "organizer", "id", NGX_HTTP_CONFHAVEN_OP_ID, 1, 0, 0, NULL,
      "The organizer's id.", NULL, "organizer ids are positive integers",
      NGX_HTTP_CONFHAVEN_OP_IN_PATH },

    { "label", NULL, NGX_HTTP_CONFHAVEN_OP_TEXT, 0, 0, 200, NULL,
      "What the key is for, e.g. \"laptop\".", NULL, NULL,
      NGX_HTTP_CONFHAVEN_OP_IN_QUERY }
};


ngx_http_confhaven_op_t  ngx_http_confhaven_op_key_issue = {
    ngx_string("key_issue"),
    "SELECT r::text, 1, '' FROM confhaven.admin_issue_key($1::bigint, $2) r",
    ngx_http_confhaven_op_issue_params, 2,
    NGX_HTTP_CONFHAVEN_OP_NO_CACHE, 0, 0
};


static ngx_http_confhaven_op_param_t  ngx_http_confhaven_op_revoke_params[] = {

    { "organizer", "id", NGX_HTTP_CONFHAVEN_OP_ID, 1, 0, 0, NULL,
      "The organizer's id.", NULL, "organizer ids are positive integers",
      NGX_HTTP_CONFHAVEN_OP_IN_PATH },

    { "prefix", NULL, NGX_HTTP_CONFHAVEN_OP_FOLD, 0, 0, 40, NULL,
      "The key's prefix (the 12 hex digits after \"chk_\").", NULL, NULL,
      NGX_HTTP_CONFHAVEN_OP_IN_PATH }
};


ngx_http_confhaven_op_t  ngx_http_confhaven_op_key_revoke = {
    ngx_string("key_revoke"),
    "SELECT r::text, 1, '' FROM confhaven.admin_revoke_key($1::bigint, $2) r",
    ngx_http_confhaven_op_revoke_params, 2,
    NGX_HTTP_CONFHAVEN_OP_NO_CACHE, 0, 0
};


static ngx_http_confhaven_op_param_t  ngx_http_confhaven_op_whoami_params[] = {
    NGX_HTTP_CONFHAVEN_OP_KEY_PARAM
};


ngx_http_confhaven_op_t  ngx_http_confhaven_op_organizer_whoami = {
    ngx_string("organizer_whoami"),
    "SELECT r::text, 1, '' FROM confhaven.organizer_whoami($1) r",
    ngx_http_confhaven_op_whoami_params, 1,
    NGX_HTTP_CONFHAVEN_OP_NO_CACHE, 0, 0
};


static ngx_http_confhaven_op_param_t  ngx_http_confhaven_op_rotate_params[] = {

    NGX_HTTP_CONFHAVEN_OP_KEY_PARAM,

    { "label", NULL, NGX_HTTP_CONFHAVEN_OP_TEXT, 0, 0, 200, NULL,
      "A label for the new key (default: the old key's).", NULL, NULL,
      NGX_HTTP_CONFHAVEN_OP_IN_QUERY }
};


ngx_http_confhaven_op_t  ngx_http_confhaven_op_key_rotate = {
    ngx_string("key_rotate"),
    "SELECT r::text, 1, '' FROM confhaven.organizer_rotate_key($1, $2) r",
    ngx_http_confhaven_op_rotate_params, 2,
    NGX_HTTP_CONFHAVEN_OP_NO_CACHE, 0, 0
};


static ngx_http_confhaven_op_param_t
    ngx_http_confhaven_op_analytics_params[] =
{
    NGX_HTTP_CONFHAVEN_OP_KEY_PARAM,

    { "conference_id", "conference", NGX_HTTP_CONFHAVEN_OP_FOLD, 0, 0, 200,
      NULL,
      "One of your conferences: its slug (e.g. \"scottish-summit-2026\"), "
      "name or numeric id.", NULL,
      "GET /api/organizer lists the conferences your key can see",
      NGX_HTTP_CONFHAVEN_OP_IN_QUERY },

    { "days", NULL, NGX_HTTP_CONFHAVEN_OP_INT, 1, 730, 0, "30",
      "The window: the last N days (UTC), today included; your tier "
      "bounds it (free 30, pro 365, enterprise 730).", NULL,
      "the default is 30; GET /api/organizer shows your tier's "
      "analytics_days", NGX_HTTP_CONFHAVEN_OP_IN_QUERY }
};


ngx_http_confhaven_op_t  ngx_http_confhaven_op_organizer_analytics = {
    ngx_string("organizer_analytics"),
    "SELECT confhaven.organizer_analytics($1, $2, $3::integer, 'json'), 1, ''",
    ngx_http_confhaven_op_analytics_params, 3,
    NGX_HTTP_CONFHAVEN_OP_NO_CACHE,
    NGX_HTTP_CONFHAVEN_OP_ANALYTICS_TIMEOUT,
    0
};


ngx_http_confhaven_op_t  ngx_http_confhaven_op_organizer_analytics_csv = {
    ngx_string("organizer_analytics_csv"),
    "SELECT confhaven.organizer_analytics($1, $2, $3::integer, 'csv'), 1, ''",
    ngx_http_confhaven_op_analytics_params, 3,
    NGX_HTTP_CONFHAVEN_OP_NO_CACHE,
    NGX_HTTP_CONFHAVEN_OP_ANALYTICS_TIMEOUT,
    0
};


static ngx_http_confhaven_op_param_t  ngx_http_confhaven_op_evals_params[] = {

    NGX_HTTP_CONFHAVEN_OP_KEY_PARAM,

    { "conference", NULL, NGX_HTTP_CONFHAVEN_OP_FOLD, 0, 0, 200, NULL,
      "One of your conferences (slug, name or id).", NULL,
      "GET /api/organizer lists the conferences your key can see",
      NGX_HTTP_CONFHAVEN_OP_IN_QUERY },

    { "status", NULL, NGX_HTTP_CONFHAVEN_OP_FOLD, 0, 0, 20, NULL,
      "Only records with this review status.",
      ngx_http_confhaven_op_statuses, NULL, NGX_HTTP_CONFHAVEN_OP_IN_QUERY },

    { "limit", NULL, NGX_HTTP_CONFHAVEN_OP_INT, 1, 200, 0, "50",
      "Maximum number of records (newest first).", NULL, NULL,
      NGX_HTTP_CONFHAVEN_OP_IN_QUERY }
};


ngx_http_confhaven_op_t  ngx_http_confhaven_op_evaluations = {
    ngx_string("evaluations"),
    "SELECT r::text, json_array_length(r->'evaluations'), '' "
    "FROM confhaven.organizer_evaluations($1, $2, $3, $4::integer) r",
    ngx_http_confhaven_op_evals_params, 4,
    NGX_HTTP_CONFHAVEN_OP_NO_CACHE, 0, 0
};


static ngx_http_confhaven_op_param_t  ngx_http_confhaven_op_review_params[] = {

    NGX_HTTP_CONFHAVEN_OP_KEY_PARAM,

    { "id", NULL, NGX_HTTP_CONFHAVEN_OP_ID, 1, 0, 0, NULL,
      "The evaluation record's id.", NULL, "record ids are positive integers",
      NGX_HTTP_CONFHAVEN_OP_IN_PATH },

    { "status", NULL, NGX_HTTP_CONFHAVEN_OP_FOLD, 0, 0, 20, NULL,
      "The review: approved or rejected (or pending again).",
      ngx_http_confhaven_op_statuses, NULL, NGX_HTTP_CONFHAVEN_OP_IN_QUERY },

    { "label", NULL, NGX_HTTP_CONFHAVEN_OP_INT, 1, 5, 0, NULL,
      "A human label from 1 (bad) to 5 (excellent).", NULL,
      "labels go from 1 to 5", NGX_HTTP_CONFHAVEN_OP_IN_QUERY }
};


ngx_http_confhaven_op_t  ngx_http_confhaven_op_evaluation_review = {
    ngx_string("evaluation_review"),
    "SELECT r::text, 1, '' "
    "FROM confhaven.organizer_review($1, $2::bigint, $3, $4::integer) r",
    ngx_http_confhaven_op_review_params, 4,
    NGX_HTTP_CONFHAVEN_OP_NO_CACHE, 0, 0
};


static ngx_http_confhaven_op_param_t  ngx_http_confhaven_op_judge_params[] = {

    { "id", NULL, NGX_HTTP_CONFHAVEN_OP_ID, 1, 0, 0, NULL,
      "The evaluation record's id.", NULL, "record ids are positive integers",
      NGX_HTTP_CONFHAVEN_OP_IN_PATH },

    { "score", NULL, NGX_HTTP_CONFHAVEN_OP_TEXT, 0, 0, 20, NULL,
      "The automated judge's score, from 0 to 1.", NULL, "e.g. score=0.85",
      NGX_HTTP_CONFHAVEN_OP_IN_QUERY },

    { "note", NULL, NGX_HTTP_CONFHAVEN_OP_TEXT, 0, 0, 2000, NULL,
      "The judge's reasoning.", NULL, NULL, NGX_HTTP_CONFHAVEN_OP_IN_QUERY }
};


ngx_http_confhaven_op_t  ngx_http_confhaven_op_evaluation_judge = {
    ngx_string("evaluation_judge"),
    "SELECT r::text, 1, '' "
    "FROM confhaven.admin_judge($1::bigint, $2, $3) r",
    ngx_http_confhaven_op_judge_params, 3,
    NGX_HTTP_CONFHAVEN_OP_NO_CACHE, 0, 0
};


static ngx_http_confhaven_op_param_t  ngx_http_confhaven_op_tier_params[] = {

    { "organizer", "id", NGX_HTTP_CONFHAVEN_OP_ID, 1, 0, 0, NULL,
      "The organizer's id.", NULL, "organizer ids are positive integers",
      NGX_HTTP_CONFHAVEN_OP_IN_PATH },

    { "tier", NULL, NGX_HTTP_CONFHAVEN_OP_FOLD, 0, 0, 20, NULL,
      "The tier to give: free, pro or enterprise.",
      ngx_http_confhaven_op_tiers, "tiers are free, pro and enterprise",
      NGX_HTTP_CONFHAVEN_OP_IN_QUERY }
};


/* an operator's tier change (sql/functions/87_tiers.sql) */

ngx_http_confhaven_op_t  ngx_http_confhaven_op_organizer_tier = {
    ngx_string("organizer_tier"),
    "SELECT r::text, 1, '' FROM confhaven.admin_set_tier($1::bigint, $2) r",
    ngx_http_confhaven_op_tier_params, 2,
    NGX_HTTP_CONFHAVEN_OP_NO_CACHE, 0, 0
};
