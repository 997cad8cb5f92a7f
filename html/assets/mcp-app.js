/* ConferenceHaven inside an assistant (MCP Apps, ext-apps 2026-01-26):
 * the session cards of search_sessions and get_session, rendered from
 * the tool result the host passes in (ui/notifications/tool-result).
 *
 * Loaded by the ui://confhaven/session-cards document (mcp_apps.c) from
 * this server; it talks only to its host, over postMessage JSON-RPC, and
 * asks the host to open links (ui/open-link) when it can.  Schedule text
 * is untrusted: it only ever becomes text nodes.
 */
'use strict';

(function () {

    var root = document.getElementById('app');
    var origin = document.documentElement.getAttribute('data-origin') || '';
    var host = window.parent;
    var nextId = 1;
    var pending = {};
    var hostCaps = {};
    var zone;

    if (!/^https?:\/\/[A-Za-z0-9.:\[\]-]+$/.test(origin)) {
        origin = '';
    }

    try {
        zone = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
    } catch (e) {
        zone = 'UTC';
    }

    function el(tag, cls, text) {
        var n = document.createElement(tag);
        if (cls) {
            n.className = cls;
        }
        if (text !== undefined && text !== null) {
            n.textContent = String(text);
        }
        return n;
    }

    function clear(n) {
        while (n.firstChild) {
            n.removeChild(n.firstChild);
        }
    }

    /* ---- JSON-RPC over postMessage with the host */

    function send(msg) {
        if (host && host !== window) {
            host.postMessage(msg, '*');
        }
    }

    function request(method, params) {
        var id = nextId++;
        send({ jsonrpc: '2.0', id: id, method: method, params: params });
        return new Promise(function (resolve, reject) {
            pending[id] = { resolve: resolve, reject: reject };
        });
    }

    function notify(method, params) {
        send({ jsonrpc: '2.0', method: method, params: params || {} });
    }

    window.addEventListener('message', function (ev) {
        var m = ev.data, p;
        if (ev.source !== host || !m || m.jsonrpc !== '2.0') {
            return;
        }
        if (m.id !== undefined && m.method === undefined) {
            p = pending[m.id];
            delete pending[m.id];
            if (p) {
                if (m.error) {
                    p.reject(new Error(m.error.message || 'error'));
                } else {
                    p.resolve(m.result || {});
                }
            }
            return;
        }
        switch (m.method) {
        case 'ui/notifications/tool-result':
            render(m.params || {});
            break;
        case 'ui/notifications/tool-cancelled':
            message('The search was cancelled.');
            break;
        case 'ui/notifications/host-context-changed':
            context(m.params || {});
            break;
        case 'ui/resource-teardown':
        case 'ping':
            send({ jsonrpc: '2.0', id: m.id, result: {} });
            break;
        default:
            if (m.id !== undefined) {
                send({ jsonrpc: '2.0', id: m.id, error: {
                    code: -32601, message: 'Method not found' } });
            }
        }
    });

    function context(c) {
        if (typeof c.timeZone === 'string' && c.timeZone) {
            zone = c.timeZone;
        }
        if (c.theme === 'dark' || c.theme === 'light') {
            document.documentElement.setAttribute('data-theme', c.theme);
        }
    }

    /* ---- rendering */

    function fmt(iso, tz, withDay) {
        var d = new Date(iso), o;
        if (isNaN(d.getTime())) {
            return '';
        }
        o = { hour: '2-digit', minute: '2-digit', timeZone: tz };
        if (withDay) {
            o.weekday = 'short';
            o.day = 'numeric';
            o.month = 'short';
        }
        try {
            return new Intl.DateTimeFormat(undefined, o).format(d);
        } catch (e) {
            delete o.timeZone;
            return new Intl.DateTimeFormat(undefined, o).format(d);
        }
    }

    function when(s) {
        var box = el('p', 'times'), t;
        if (!s.start) {
            box.appendChild(el('span', null, 'Time not announced yet'));
            return box;
        }
        t = fmt(s.start, s.timezone, true)
            + (s.end ? ' \u2013 ' + fmt(s.end, s.timezone, false) : '');
        box.appendChild(el('span', 'time-conf',
                           t + ' (' + s.timezone + ')'));
        if (s.timezone && s.timezone !== zone) {
            t = fmt(s.start, zone, true)
                + (s.end ? ' \u2013 ' + fmt(s.end, zone, false) : '');
            box.appendChild(el('span', 'time-mine',
                               t + ' (your time, ' + zone + ')'));
        }
        return box;
    }

    function link(href, text, cls) {
        var a = el('a', cls, text);
        a.href = href;
        a.target = '_blank';
        a.rel = 'noopener noreferrer';
        a.addEventListener('click', function (e) {
            if (!hostCaps.openLinks) {
                return;             /* the browser's own way */
            }
            e.preventDefault();
            request('ui/open-link', { url: href }).catch(function () {
                window.open(href, '_blank', 'noopener');
            });
        });
        return a;
    }

    function card(s, full) {
        var li = el(full ? 'article' : 'li', 'card'), meta = [], id;
        id = Number(s.id);
        li.appendChild(el(full ? 'h1' : 'h2', 'title', s.title || ''));
        li.appendChild(when(s));
        if (s.room) {
            meta.push('Room: ' + s.room);
        }
        if (s.track) {
            meta.push(s.track);
        }
        if (s.level) {
            meta.push(s.level);
        }
        if (meta.length) {
            li.appendChild(el('p', 'meta', meta.join(' \u00b7 ')));
        }
        if (Array.isArray(s.speakers) && s.speakers.length) {
            li.appendChild(el('p', 'speakers', s.speakers.join(', ')));
        }
        if (full && s.abstract) {
            s.abstract.split(/\n{2,}/).forEach(function (para) {
                li.appendChild(el('p', 'abstract', para));
            });
        } else if (s.snippet) {
            li.appendChild(el('p', 'snippet',
                              String(s.snippet).replace(/<\/?mark>/g, '')));
        }
        if (origin && id > 0) {
            var acts = el('p', 'actions');
            acts.appendChild(link(origin + '/api/sessions/' + id + '.ics',
                                  'Add to calendar (.ics)', 'ics'));
            acts.appendChild(document.createTextNode(' '));
            acts.appendChild(link(origin + '/sessions/' + id,
                                  'Session page', 'page'));
            li.appendChild(acts);
        }
        return li;
    }

    function message(text) {
        clear(root);
        root.appendChild(el('p', 'muted', text));
        resized();
    }

    function render(result) {
        var sc = result.structuredContent, list, text;
        clear(root);
        if (result.isError || !sc || typeof sc !== 'object') {
            text = (result.content || []).filter(function (c) {
                return c && c.type === 'text';
            }).map(function (c) { return c.text; }).join('\n');
            root.appendChild(el('p', result.isError ? 'error' : 'muted',
                                text || 'No sessions to show.'));
        } else if (Array.isArray(sc.sessions)) {
            root.appendChild(el('p', 'count',
                sc.sessions.length === 0 ? 'No sessions found.'
                : (sc.total || sc.sessions.length) + ' session'
                  + ((sc.total || sc.sessions.length) === 1 ? '' : 's')
                  + ' found'));
            list = el('ol', 'cards');
            sc.sessions.forEach(function (s) {
                if (s && typeof s === 'object') {
                    list.appendChild(card(s, false));
                }
            });
            root.appendChild(list);
        } else if (sc.title) {
            root.appendChild(card(sc, true));
        } else {
            root.appendChild(el('p', 'muted', 'No sessions to show.'));
        }
        resized();
    }

    var lastSize = '', ready = false;
    function resized() {
        if (!ready) {
            return;             /* nothing before ui/notifications/initialized */
        }
        var w = document.documentElement.scrollWidth,
            h = document.documentElement.scrollHeight, k = w + 'x' + h;
        if (k !== lastSize) {
            lastSize = k;
            notify('ui/notifications/size-changed', { width: w, height: h });
        }
    }
    if (window.ResizeObserver) {
        new ResizeObserver(resized).observe(document.documentElement);
    }

    /* ---- the handshake */

    request('ui/initialize', {
        appInfo: { name: 'confhaven-session-cards', version: '1.0.0' },
        appCapabilities: { availableDisplayModes: ['inline'] },
        protocolVersion: '2026-01-26'
    }).then(function (r) {
        hostCaps = r.hostCapabilities || {};
        context(r.hostContext || {});
        notify('ui/notifications/initialized', {});
        ready = true;
        resized();
    }).catch(function () {
        message('The assistant did not connect this card.');
    });
})();
