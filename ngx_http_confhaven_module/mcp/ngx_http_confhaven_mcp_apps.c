
/*
 * Copyright (C) ConferenceHaven
 */


/*
 * MCP Apps (the io.modelcontextprotocol/ui extension, ext-apps spec
 * 2026-01-26): the session cards of search_sessions and get_session as a
 * ui:// resource (text/html;profile=mcp-app) that hosts render in a
 * sandboxed iframe, with "add to calendar" links to the .ics files.
 *
 * Only a client that announces the extension sees any of it: in
 * initialize (params.capabilities.extensions, kept with the session), or
 * on the 2026-07-28 wire in each request's _meta clientCapabilities.  For
 * it, and only for it: the extension in the server's capabilities,
 * _meta.ui.resourceUri on the two tools, the resource in resources/list,
 * and resources/read of it.  Every other client sees what it saw before
 * (the resource is "not found" for it).  The text results stay as they
 * are for everybody.
 *
 * The document has no inline script or style: it loads /assets/
 * mcp-app.js and mcp-app.css from this server (html/, served through
 * conf/confhaven-web.conf), the one origin its _meta.ui.csp declares
 * (resourceDomains; no connectDomains: the card talks only to its host).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_confhaven_mcp.h"


#define NGX_HTTP_CONFHAVEN_MCP_APPS_EXT   "io.modelcontextprotocol/ui"
#define NGX_HTTP_CONFHAVEN_MCP_APPS_MIME  "text/html;profile=mcp-app"
#define NGX_HTTP_CONFHAVEN_MCP_APPS_URI   "ui://confhaven/session-cards"


static ngx_uint_t ngx_http_confhaven_mcp_apps_announced(json_t *caps);
static void ngx_http_confhaven_mcp_apps_origin(
    ngx_http_confhaven_mcp_call_t *call, ngx_str_t *origin);
static json_t *ngx_http_confhaven_mcp_apps_meta(ngx_str_t *origin);


static const char  *ngx_http_confhaven_mcp_apps_tools_with_ui[] = {
    "search_sessions", "get_session", NULL
};


static const char  ngx_http_confhaven_mcp_apps_description[] =
    "Session cards for the results of search_sessions and get_session: "
    "title, time in the conference's zone and the user's own, room, "
    "speakers, track and level, the abstract of one session, and \"Add "
    "to calendar\" (.ics) links.";


/* the document: a Host of plain characters is all that goes in */

static const char  ngx_http_confhaven_mcp_apps_doc[] =
    "<!doctype html>\n"
    "<html lang=\"en\" data-origin=\"%V\">\n"
    "<head>\n"
    "<meta charset=\"utf-8\">\n"
    "<meta name=\"viewport\" content=\"width=device-width, "
    "initial-scale=1\">\n"
    "<title>ConferenceHaven sessions</title>\n"
    "<link rel=\"stylesheet\" href=\"%V/assets/mcp-app.css\">\n"
    "<script src=\"%V/assets/mcp-app.js\" defer></script>\n"
    "</head>\n"
    "<body>\n"
    "<main id=\"app\" aria-live=\"polite\">"
    "<p class=\"muted\">Loading the sessions&hellip;</p></main>\n"
    "</body>\n"
    "</html>\n";


/*
 * Does this call's client announce MCP Apps with our MIME type?  Decided
 * once per call: from initialize's capabilities, the 2026 request's
 * _meta, or what the session kept.
 */

ngx_uint_t
ngx_http_confhaven_mcp_apps_client(ngx_http_confhaven_mcp_call_t *call)
{
    json_t      *meta, *caps;
    ngx_uint_t   ext;

    if (call->apps_known) {
        return call->apps;
    }

    call->apps_known = 1;
    call->apps = 0;
    caps = NULL;

    if (call->modern) {
        meta = call->params ? json_object_get(call->params, "_meta") : NULL;
        caps = json_is_object(meta)
               ? json_object_get(meta,
                     "io.modelcontextprotocol/clientCapabilities")
               : NULL;

    } else if (call->method.len == sizeof("initialize") - 1
               && ngx_strncmp(call->method.data, "initialize",
                              call->method.len) == 0)
    {
        caps = call->params ? json_object_get(call->params, "capabilities")
                            : NULL;

    } else if (call->session.len && call->mcf) {
        ext = ngx_http_confhaven_mcp_session_extensions(&call->mcf->zone,
                                                        &call->session);
        call->apps = (ext & NGX_HTTP_CONFHAVEN_MCP_EXT_APPS) ? 1 : 0;
        return call->apps;
    }

    call->apps = ngx_http_confhaven_mcp_apps_announced(caps);

    return call->apps;
}


/* capabilities.extensions["io.modelcontextprotocol/ui"].mimeTypes has ours */

static ngx_uint_t
ngx_http_confhaven_mcp_apps_announced(json_t *caps)
{
    size_t   i;
    json_t  *ext, *ui, *types, *t;

    ext = json_is_object(caps) ? json_object_get(caps, "extensions") : NULL;
    ui = json_is_object(ext)
         ? json_object_get(ext, NGX_HTTP_CONFHAVEN_MCP_APPS_EXT) : NULL;
    types = json_is_object(ui) ? json_object_get(ui, "mimeTypes") : NULL;

    for (i = 0; i < json_array_size(types); i++) {
        t = json_array_get(types, i);

        if (json_is_string(t)
            && ngx_strcmp(json_string_value(t),
                          NGX_HTTP_CONFHAVEN_MCP_APPS_MIME) == 0)
        {
            return 1;
        }
    }

    return 0;
}


/* the server's capabilities (initialize, server/discover) say it too */

void
ngx_http_confhaven_mcp_apps_capabilities(ngx_http_confhaven_mcp_call_t *call,
    json_t *caps)
{
    if (!json_is_object(caps) || !ngx_http_confhaven_mcp_apps_client(call)) {
        return;
    }

    json_object_set_new(caps, "extensions",
                        json_pack("{s:{s:[s]}}",
                                  NGX_HTTP_CONFHAVEN_MCP_APPS_EXT,
                                  "mimeTypes",
                                  NGX_HTTP_CONFHAVEN_MCP_APPS_MIME));
}


/* tools/list: search_sessions and get_session name the cards */

void
ngx_http_confhaven_mcp_apps_tools(ngx_http_confhaven_mcp_call_t *call,
    json_t *tools)
{
    size_t        i;
    json_t       *tool, *name, *meta;
    const char  **n;

    if (tools == NULL || !ngx_http_confhaven_mcp_apps_client(call)) {
        return;
    }

    for (i = 0; i < json_array_size(tools); i++) {
        tool = json_array_get(tools, i);
        name = json_object_get(tool, "name");

        if (!json_is_string(name)) {
            continue;
        }

        for (n = ngx_http_confhaven_mcp_apps_tools_with_ui; *n; n++) {
            if (ngx_strcmp(json_string_value(name), *n) == 0) {
                break;
            }
        }

        if (*n == NULL) {
            continue;
        }

        meta = json_object_get(tool, "_meta");

        if (!json_is_object(meta)) {
            meta = json_object();
            if (meta == NULL
                || json_object_set_new(tool, "_meta", meta) != 0)
            {
                continue;
            }
        }

        json_object_set_new(meta, "ui",
                            json_pack("{s:s}", "resourceUri",
                                      NGX_HTTP_CONFHAVEN_MCP_APPS_URI));
    }
}


/* resources/list: the cards, after the conferences */

void
ngx_http_confhaven_mcp_apps_resources(ngx_http_confhaven_mcp_call_t *call,
    json_t *resources)
{
    json_t     *res;
    ngx_str_t   origin;

    if (resources == NULL || !ngx_http_confhaven_mcp_apps_client(call)) {
        return;
    }

    ngx_http_confhaven_mcp_apps_origin(call, &origin);

    res = json_pack("{s:s, s:s, s:s, s:s, s:o}",
                    "uri", NGX_HTTP_CONFHAVEN_MCP_APPS_URI,
                    "name", "session_cards",
                    "description", ngx_http_confhaven_mcp_apps_description,
                    "mimeType", NGX_HTTP_CONFHAVEN_MCP_APPS_MIME,
                    "_meta", ngx_http_confhaven_mcp_apps_meta(&origin));
    if (res == NULL) {
        return;
    }

    if (call->version >= NGX_HTTP_CONFHAVEN_MCP_V2025_06_18) {
        json_object_set_new(res, "title", json_string("Session cards"));
    }

    json_array_append_new(resources, res);
}


/*
 * resources/read of the cards: NGX_OK, answered; NGX_DECLINED: not this
 * resource, or a client that did not announce MCP Apps.
 */

ngx_int_t
ngx_http_confhaven_mcp_apps_read(ngx_http_confhaven_mcp_call_t *call,
    json_t *uri)
{
    u_char     *html, *p;
    size_t      len;
    json_t     *res;
    ngx_str_t   origin;

    if (!json_is_string(uri)
        || ngx_strcmp(json_string_value(uri), NGX_HTTP_CONFHAVEN_MCP_APPS_URI)
           != 0
        || !ngx_http_confhaven_mcp_apps_client(call))
    {
        return NGX_DECLINED;
    }

    ngx_http_confhaven_mcp_apps_origin(call, &origin);

    len = sizeof(ngx_http_confhaven_mcp_apps_doc) + 3 * origin.len;

    html = ngx_pnalloc(call->r->pool, len);
    if (html == NULL) {
        ngx_http_confhaven_mcp_result(call, NULL);
        return NGX_OK;
    }

    p = ngx_snprintf(html, len, ngx_http_confhaven_mcp_apps_doc, &origin,
                     &origin, &origin);

    res = json_pack("{s:[{s:s, s:s, s:s%, s:o}]}",
                    "contents",
                    "uri", NGX_HTTP_CONFHAVEN_MCP_APPS_URI,
                    "mimeType", NGX_HTTP_CONFHAVEN_MCP_APPS_MIME,
                    "text", (char *) html, (size_t) (p - html),
                    "_meta", ngx_http_confhaven_mcp_apps_meta(&origin));

    ngx_http_confhaven_mcp_cacheable_private(call, res,
                                             NGX_HTTP_CONFHAVEN_MCP_TTL_STATIC);
    ngx_http_confhaven_mcp_result(call, res);

    return NGX_OK;
}


/*
 * _meta.ui of the resource: the one origin the card loads its script and
 * stylesheet from, no network (connectDomains empty), a border
 */

static json_t *
ngx_http_confhaven_mcp_apps_meta(ngx_str_t *origin)
{
    json_t  *meta, *domains;

    domains = json_array();
    if (domains && origin->len) {
        json_array_append_new(domains,
                              json_stringn((char *) origin->data,
                                           origin->len));
    }

    meta = json_pack("{s:{s:{s:[], s:o}, s:b}}",
                     "ui",
                     "csp",
                     "connectDomains",
                     "resourceDomains", domains,
                     "prefersBorder", 1);

    return meta;
}


/*
 * "http(s)://host[:port]" as the client reaches us: confhaven_public_url,
 * else the request's scheme and Host (X-Forwarded-Proto only when the
 * location trusts it); empty when the Host is not a plain name, address
 * or port, so nothing odd goes into the document.
 */

static void
ngx_http_confhaven_mcp_apps_origin(ngx_http_confhaven_mcp_call_t *call,
    ngx_str_t *origin)
{
    ngx_http_confhaven_tools_public_origin(call->r, &call->conf->origin,
                                           origin);
}
