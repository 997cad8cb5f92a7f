
/*
 * Copyright (C) ConferenceHaven
 */


/*
 * MCP prompts.  plan_my_day(conference, date, interests) reads the day's
 * schedule in one query and returns a user message holding the request,
 * the attendee's interests and that schedule, so that the model can plan
 * without a round of tool calls (and knows which tools to use for more).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_confhaven_json.h"
#include "ngx_http_confhaven_mcp.h"
#include "ngx_http_confhaven_tools.h"


#define NGX_HTTP_CONFHAVEN_PROMPT_MAX_SESSIONS  150
#define NGX_HTTP_CONFHAVEN_PROMPT_MAX_INTERESTS 500


static ngx_int_t ngx_http_confhaven_mcp_prompt_arg(
    ngx_http_confhaven_mcp_call_t *call, json_t *args, const char *name,
    char **out);
static void ngx_http_confhaven_mcp_plan_got(
    ngx_http_confhaven_mcp_call_t *call, ngx_http_confhaven_op_call_t *oc);
static u_char *ngx_http_confhaven_mcp_plan_session(u_char *p, u_char *last,
    json_t *s);
static void ngx_http_confhaven_mcp_prompt_invalid(
    ngx_http_confhaven_mcp_call_t *call, const char *fmt, ...);


static const char  ngx_http_confhaven_mcp_plan_description[] =
    "Plan a day at a conference: the day's schedule with times, rooms, "
    "tracks, levels and speakers, and a request to pick one session per "
    "time slot that matches the attendee's interests, keeping breaks, "
    "with alternatives where the choice is close.";


void
ngx_http_confhaven_mcp_prompts_list(ngx_http_confhaven_mcp_call_t *call)
{
    json_t  *res, *prompt;

    if (ngx_http_confhaven_mcp_no_cursor(call) != NGX_OK) {
        return;
    }

    prompt = json_pack("{s:s, s:s, s:[{s:s, s:s, s:b}, {s:s, s:s, s:b},"
                       " {s:s, s:s, s:b}]}",
                       "name", "plan_my_day",
                       "description", ngx_http_confhaven_mcp_plan_description,
                       "arguments",
                       "name", "conference",
                       "description",
                       "The conference: a slug from list_conferences (e.g. "
                       "scottish-summit-2026) or its name",
                       "required", 1,
                       "name", "date",
                       "description",
                       "The day to plan, YYYY-MM-DD (default: the first "
                       "conference day not yet over)",
                       "required", 0,
                       "name", "interests",
                       "description",
                       "Topics, technologies or speakers the attendee "
                       "cares about, e.g. \"AI agents, Power Platform, "
                       "beginner friendly\"",
                       "required", 0);

    if (prompt && call->version >= NGX_HTTP_CONFHAVEN_MCP_V2025_06_18) {
        json_object_set_new(prompt, "title",
                            json_string("Plan my day at a conference"));
    }

    res = prompt ? json_pack("{s:[o]}", "prompts", prompt) : NULL;

    ngx_http_confhaven_mcp_cacheable(call, res,
                                     NGX_HTTP_CONFHAVEN_MCP_TTL_STATIC);
    ngx_http_confhaven_mcp_result(call, res);
}


void
ngx_http_confhaven_mcp_prompts_get(ngx_http_confhaven_mcp_call_t *call)
{
    char        *params[2], *interests;
    json_t      *name, *args;
    size_t       i;
    ngx_int_t    y, m, d;
    const char  *key;

    static ngx_int_t  mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31,
                                  30, 31 };

    name = call->params ? json_object_get(call->params, "name") : NULL;

    if (!json_is_string(name)
        || ngx_strcmp(json_string_value(name), "plan_my_day") != 0)
    {
        ngx_http_confhaven_mcp_error(call, NGX_HTTP_OK,
                                     NGX_HTTP_CONFHAVEN_MCP_INVALID_PARAMS,
                                     "Invalid params: unknown prompt; "
                                     "prompts/list names the prompts "
                                     "(plan_my_day)", NULL);
        return;
    }

    args = json_object_get(call->params, "arguments");

    if (args && !json_is_null(args) && !json_is_object(args)) {
        ngx_http_confhaven_mcp_prompt_invalid(call,
            "arguments must be an object of strings");
        return;
    }

    json_object_foreach(args, key, name) {
        if (ngx_strcmp(key, "conference") != 0
            && ngx_strcmp(key, "date") != 0
            && ngx_strcmp(key, "interests") != 0)
        {
            ngx_http_confhaven_mcp_prompt_invalid(call,
                "plan_my_day takes the arguments conference, date and "
                "interests");
            return;
        }
    }

    if (ngx_http_confhaven_mcp_prompt_arg(call, args, "conference",
                                          &params[0])
        != NGX_OK
        || ngx_http_confhaven_mcp_prompt_arg(call, args, "date", &params[1])
           != NGX_OK
        || ngx_http_confhaven_mcp_prompt_arg(call, args, "interests",
                                             &interests)
           != NGX_OK)
    {
        return;
    }

    if (params[0] == NULL) {
        ngx_http_confhaven_mcp_prompt_invalid(call,
            "plan_my_day needs the argument conference (a slug from "
            "list_conferences or resources/list, or the conference's "
            "name)");
        return;
    }

    if (params[1]) {
        for (i = 0; params[1][i]; i++) {
            if (i == 4 || i == 7
                ? params[1][i] != '-'
                : (params[1][i] < '0' || params[1][i] > '9'))
            {
                break;
            }
        }

        if (i != 10 || params[1][i] != '\0') {
            ngx_http_confhaven_mcp_prompt_invalid(call,
                "date must be a day as YYYY-MM-DD, e.g. 2026-10-02");
            return;
        }

        /* a day of the calendar: PostgreSQL's own words were the error */
        y = ngx_atoi((u_char *) params[1], 4);
        m = ngx_atoi((u_char *) params[1] + 5, 2);
        d = ngx_atoi((u_char *) params[1] + 8, 2);

        if (y < 1 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1]
            || (m == 2 && d == 29
                && (y % 4 != 0 || (y % 100 == 0 && y % 400 != 0))))
        {
            ngx_http_confhaven_mcp_prompt_invalid(call,
                "date %s is not a day of the calendar", params[1]);
            return;
        }
    }

    if (interests
        && ngx_strlen(interests) > NGX_HTTP_CONFHAVEN_PROMPT_MAX_INTERESTS)
    {
        ngx_http_confhaven_mcp_prompt_invalid(call,
            "interests is too long (at most 500 bytes)");
        return;
    }

    if (ngx_http_confhaven_mcp_query(call, &ngx_http_confhaven_op_day_plan,
                                     2, params,
                                     ngx_http_confhaven_mcp_plan_got)
        != NGX_OK)
    {
        ngx_http_confhaven_mcp_result(call, NULL);
    }
}


/* a string argument, blank as absent; NGX_DECLINED: answered */

static ngx_int_t
ngx_http_confhaven_mcp_prompt_arg(ngx_http_confhaven_mcp_call_t *call,
    json_t *args, const char *name, char **out)
{
    json_t      *v;
    size_t       i, len;
    const char  *s;

    *out = NULL;

    v = json_is_object(args) ? json_object_get(args, name) : NULL;

    if (v == NULL || json_is_null(v)) {
        return NGX_OK;
    }

    if (!json_is_string(v)) {
        ngx_http_confhaven_mcp_prompt_invalid(call,
            "prompt arguments are strings (%s is not)", name);
        return NGX_DECLINED;
    }

    s = json_string_value(v);
    len = json_string_length(v);

    for (i = 0; i < len; i++) {
        if ((u_char) s[i] < 0x20 && s[i] != '\t' && s[i] != '\n') {
            ngx_http_confhaven_mcp_prompt_invalid(call,
                "%s must not contain control characters", name);
            return NGX_DECLINED;
        }
    }

    while (len && (*s == ' ' || *s == '\t' || *s == '\n')) {
        s++;
        len--;
    }

    if (len) {
        *out = (char *) s;
    }

    return NGX_OK;
}


static void
ngx_http_confhaven_mcp_prompt_invalid(ngx_http_confhaven_mcp_call_t *call,
    const char *fmt, ...)
{
    u_char   *p, buf[1024];
    va_list   args;

    p = ngx_cpymem(buf, "Invalid params: ", sizeof("Invalid params: ") - 1);

    va_start(args, fmt);
    p = ngx_vslprintf(p, buf + sizeof(buf) - 1, fmt, args);
    va_end(args);

    *p = '\0';

    ngx_http_confhaven_mcp_error(call, NGX_HTTP_OK,
                                 NGX_HTTP_CONFHAVEN_MCP_INVALID_PARAMS,
                                 (char *) buf, NULL);
}


static void
ngx_http_confhaven_mcp_plan_got(ngx_http_confhaven_mcp_call_t *call,
    ngx_http_confhaven_op_call_t *oc)
{
    u_char      *p, *last;
    size_t       size, i, n;
    json_t      *value, *sessions, *days, *res, *args, *total;
    ssize_t      bad;
    ngx_str_t    text;
    const char  *name, *date, *loc, *tz, *interests;

    if (ngx_http_confhaven_mcp_query_refused(oc)) {
        /* an unknown conference (with the valid slugs) or a bad date */
        ngx_http_confhaven_mcp_prompt_invalid(call, "%V.%s%V",
                                              &oc->fetch.message,
                                              oc->fetch.hint.len ? " " : "",
                                              &oc->fetch.hint);
        return;
    }

    value = ngx_http_confhaven_mcp_query_value(call, oc);
    if (value == NULL) {
        return;
    }

    name = ngx_http_confhaven_tools_str(value, "name");
    date = ngx_http_confhaven_tools_str(value, "date");
    loc = ngx_http_confhaven_tools_str(value, "location");
    tz = ngx_http_confhaven_tools_str(value, "timezone");
    sessions = json_object_get(value, "sessions");
    days = json_object_get(value, "days");
    total = json_object_get(value, "total");
    n = json_array_size(sessions);

    args = json_object_get(call->params, "arguments");
    interests = json_is_string(json_object_get(args, "interests"))
                ? json_string_value(json_object_get(args, "interests"))
                : NULL;

    if (interests && *interests == '\0') {
        interests = NULL;
    }

    size = 4096 + oc->fetch.value.len;

    text.data = ngx_pnalloc(call->r->pool, size);
    if (text.data == NULL) {
        ngx_http_confhaven_mcp_result(call, NULL);
        return;
    }

    p = text.data;
    last = p + size;

    p = ngx_slprintf(p, last, "I am attending %s", name ? name : "");

    if (loc) {
        p = ngx_slprintf(p, last, " in %s", loc);
    }

    if (date) {
        p = ngx_slprintf(p, last, " and want to plan my day on %s.", date);

    } else {
        p = ngx_slprintf(p, last, ", whose schedule has no dated sessions "
                         "yet.");
    }

    if (json_array_size(days)) {
        p = ngx_slprintf(p, last, " The conference days are");

        for (i = 0; i < json_array_size(days); i++) {
            p = ngx_slprintf(p, last, "%s %s", i ? "," : "",
                             json_string_value(json_array_get(days, i)));
        }

        p = ngx_slprintf(p, last, ".");
    }

    if (interests) {
        p = ngx_slprintf(p, last, "\n\nMy interests: %s", interests);
    }

    p = ngx_slprintf(p, last,
        "\n\nPlease plan my day: for each time slot pick at most one "
        "session, favouring the ones that match my interests (when none "
        "does, the most broadly useful one), and keep breaks and meals in "
        "the plan. For every pick give the time, the room and one sentence "
        "on why it fits; offer one alternative where the choice is close, "
        "and point out tight room changes. The numbers in square brackets "
        "are session ids: use the get_session tool for a session's "
        "abstract and search_sessions to look for more on a topic.\n");

    if (n == 0) {
        p = ngx_slprintf(p, last, "\nThere are no sessions on that day.\n");

    } else {
        p = ngx_slprintf(p, last, "\nSchedule of %s (local times, %s):\n",
                         date ? date : "", tz ? tz : "");

        for (i = 0; i < n; i++) {
            p = ngx_http_confhaven_mcp_plan_session(p, last,
                                                 json_array_get(sessions, i));
        }

        if (json_is_integer(total)
            && json_integer_value(total) > (json_int_t) n)
        {
            p = ngx_slprintf(p, last, "(the first %uz of %L sessions of the "
                             "day; search_sessions finds the others)\n", n,
                             (int64_t) json_integer_value(total));
        }
    }

    text.len = p - text.data;

    /* a line cut inside a UTF-8 sequence loses the partial character */
    bad = ngx_http_confhaven_json_utf8_invalid(text.data, text.len, 1);
    if (bad >= 0) {
        text.len = bad;
    }

    res = json_pack("{s:s+, s:[{s:s, s:{s:s, s:s%}}]}",
                    "description", "Plan a day at ", name ? name : "",
                    "messages",
                    "role", "user",
                    "content",
                    "type", "text",
                    "text", (char *) text.data, text.len);

    ngx_http_confhaven_mcp_result(call, res);
}


/* "09:00–09:45 [42] Title — Speakers · Room · track: T · Level" */

static u_char *
ngx_http_confhaven_mcp_plan_session(u_char *p, u_char *last, json_t *s)
{
    json_t      *id;
    const char  *v;

    v = ngx_http_confhaven_tools_str(s, "start");
    p = ngx_slprintf(p, last, "%s", v ? v : "--:--");

    v = ngx_http_confhaven_tools_str(s, "end");
    if (v) {
        p = ngx_slprintf(p, last, "–%s", v);
    }

    id = json_object_get(s, "id");
    v = ngx_http_confhaven_tools_str(s, "title");

    p = ngx_slprintf(p, last, " [%L] %s",
                     json_is_integer(id) ? (int64_t) json_integer_value(id)
                                         : 0,
                     v ? v : "(untitled)");

    v = ngx_http_confhaven_tools_str(s, "speakers");
    if (v) {
        p = ngx_slprintf(p, last, " — %s", v);
    }

    v = ngx_http_confhaven_tools_str(s, "room");
    if (v) {
        p = ngx_slprintf(p, last, " · %s", v);
    }

    v = ngx_http_confhaven_tools_str(s, "track");
    if (v) {
        p = ngx_slprintf(p, last, " · track: %s", v);
    }

    v = ngx_http_confhaven_tools_str(s, "level");
    if (v) {
        p = ngx_slprintf(p, last, " · %s", v);
    }

    if (json_is_true(json_object_get(s, "is_service"))) {
        p = ngx_slprintf(p, last, " (break)");
    }

    return ngx_slprintf(p, last, "\n");
}
