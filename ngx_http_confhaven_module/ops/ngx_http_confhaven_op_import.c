
/*
 * Copyright (C) ConferenceHaven
 */


/*
 * import: confhaven.import_schedule() reads a Sessionize, pretalx or frab
 * schedule and replaces the conference's sessions in one transaction;
 * then the cache forgets the conference (its tag) and the answers that
 * span conferences.  POST /api/admin/conferences/{slug}/import.
 *
 * organizer_import: the same import by an organizer's key, for one of its
 * conferences or a new slug (sql/functions/87_tiers.sql); the same
 * parameters, its key last.  POST /api/organizer/conferences/{slug}/import.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_http_confhaven_op.h"


static ngx_http_confhaven_op_param_t  ngx_http_confhaven_op_import_params[] = {

    { "conference", "slug", NGX_HTTP_CONFHAVEN_OP_TEXT, 0, 0, 63, NULL,
      "The conference's slug: 1 to 63 lowercase letters, digits and "
      "dashes.", NULL, NULL, NGX_HTTP_CONFHAVEN_OP_IN_PATH },

    { "name", NULL, NGX_HTTP_CONFHAVEN_OP_TEXT, 0, 0, 500, NULL,
      "The conference's name (needed for a new conference).", NULL, NULL,
      NGX_HTTP_CONFHAVEN_OP_IN_QUERY },

    { "timezone", NULL, NGX_HTTP_CONFHAVEN_OP_TEXT, 0, 0, 500, NULL,
      "IANA time zone, e.g. Europe/London (needed for a new conference).",
      NULL, NULL, NGX_HTTP_CONFHAVEN_OP_IN_QUERY },

    { "location", NULL, NGX_HTTP_CONFHAVEN_OP_TEXT, 0, 0, 500, NULL,
      "Where it takes place.", NULL, NULL, NGX_HTTP_CONFHAVEN_OP_IN_QUERY },

    { "website", NULL, NGX_HTTP_CONFHAVEN_OP_TEXT, 0, 0, 500, NULL,
      "The conference's web site.", NULL, NULL,
      NGX_HTTP_CONFHAVEN_OP_IN_QUERY },

    { "schedule", NULL, NGX_HTTP_CONFHAVEN_OP_RAW, 0, 0, 0, NULL,
      "The schedule file: Sessionize JSON, pretalx JSON or frab XML.",
      NULL, NULL, NGX_HTTP_CONFHAVEN_OP_IN_BODY },

    /* the organizer import's only */
    NGX_HTTP_CONFHAVEN_OP_KEY_PARAM
};


ngx_http_confhaven_op_t  ngx_http_confhaven_op_import = {
    ngx_string("import"),
    "SELECT r::text, r->'sessions'->>'total' "
    "FROM confhaven.import_schedule($1, $2, $3, $4, $5, $6) AS r",
    ngx_http_confhaven_op_import_params, 6,
    NGX_HTTP_CONFHAVEN_OP_NO_CACHE,
    0,
    1
};


ngx_http_confhaven_op_t  ngx_http_confhaven_op_organizer_import = {
    ngx_string("organizer_import"),
    "SELECT r::text, r->'sessions'->>'total' "
    "FROM confhaven.organizer_import($7, $1, $2, $3, $4, $5, $6) AS r",
    ngx_http_confhaven_op_import_params, 7,
    NGX_HTTP_CONFHAVEN_OP_NO_CACHE,
    0,
    1
};
