/* ConferenceHaven web pages: shared helpers (no third-party code).
 *
 * Everything that comes from a schedule (titles, abstracts, speaker names,
 * rooms) is untrusted: it is only ever put into the page as text
 * (textContent, createTextNode, attribute values set through the DOM),
 * never parsed as HTML.  There is no innerHTML with data anywhere.
 */
'use strict';

var CH = (function () {

    /* el('a', {href: '/x', class: 'y'}, 'text', child, ...) */
    function el(tag, attrs) {
        var node = document.createElement(tag), k, i;
        attrs = attrs || {};
        for (k in attrs) {
            if (!Object.prototype.hasOwnProperty.call(attrs, k)
                || attrs[k] === null || attrs[k] === undefined
                || attrs[k] === false)
            {
                continue;
            }
            if (k === 'text') {
                node.textContent = attrs[k];
            } else if (k === 'class') {
                node.className = attrs[k];
            } else if (k.slice(0, 2) === 'on' && typeof attrs[k] === 'function') {
                node.addEventListener(k.slice(2), attrs[k]);
            } else {
                node.setAttribute(k, attrs[k] === true ? '' : String(attrs[k]));
            }
        }
        for (i = 2; i < arguments.length; i++) {
            add(node, arguments[i]);
        }
        return node;
    }

    /* a child: a node, text, or an array of them (nested too) */
    function add(node, c) {
        if (c === null || c === undefined || c === false) {
            return;
        }
        if (Array.isArray(c)) {
            c.forEach(function (x) { add(node, x); });
        } else if (typeof c === 'object') {
            node.appendChild(c);
        } else {
            node.appendChild(document.createTextNode(String(c)));
        }
    }

    function clear(node) {
        while (node.firstChild) {
            node.removeChild(node.firstChild);
        }
        return node;
    }

    /* The attendee's own time zone, e.g. "America/New_York". */
    var userZone = (function () {
        try {
            return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
        } catch (e) {
            return 'UTC';
        }
    })();

    var fmtCache = {};

    function formatter(zone, kind) {
        var key = zone + '|' + kind, opts;
        if (!fmtCache[key]) {
            opts = kind === 'day'
                ? { weekday: 'short', day: 'numeric', month: 'short',
                    year: 'numeric', timeZone: zone }
                : { hour: '2-digit', minute: '2-digit', timeZone: zone };
            try {
                fmtCache[key] = new Intl.DateTimeFormat(undefined, opts);
            } catch (e) {
                delete opts.timeZone;
                fmtCache[key] = new Intl.DateTimeFormat(undefined, opts);
            }
        }
        return fmtCache[key];
    }

    /* "Sat, 3 Oct 2026, 11:15 – 12:00" in the given zone */
    function span(start, end, zone) {
        var s = new Date(start), e = end ? new Date(end) : null, text;
        if (isNaN(s.getTime())) {
            return '';
        }
        text = formatter(zone, 'day').format(s) + ', '
               + formatter(zone, 'time').format(s);
        if (e && !isNaN(e.getTime())) {
            if (formatter(zone, 'day').format(e)
                !== formatter(zone, 'day').format(s))
            {
                text += ' \u2013 ' + formatter(zone, 'day').format(e) + ', '
                        + formatter(zone, 'time').format(e);
            } else {
                text += ' \u2013 ' + formatter(zone, 'time').format(e);
            }
        }
        return text;
    }

    /* Two lines: the conference's time, and the attendee's when it differs
     * (same instant, other zone). */
    function times(s) {
        var box = el('p', { class: 'times' }), conf, mine;
        if (!s.start) {
            box.appendChild(el('span', { text: 'Time not announced yet' }));
            return box;
        }
        conf = span(s.start, s.end, s.timezone);
        mine = span(s.start, s.end, userZone);
        box.appendChild(el('span', { class: 'time-conf' },
                           el('time', { datetime: s.start, text: conf }),
                           ' (' + s.timezone + ', conference time)'));
        if (s.timezone !== userZone) {
            box.appendChild(el('span', { class: 'time-mine' },
                               el('time', { datetime: s.start, text: mine }),
                               ' (' + userZone + ', your time)'));
        } else {
            box.appendChild(el('span', { class: 'time-mine',
                                         text: 'Same as your time zone' }));
        }
        return box;
    }

    /* ---- fetch JSON; errors carry the API's message */

    function apiError(status, body) {
        var msg = 'The server answered ' + status;
        if (body && body.error && typeof body.error.message === 'string') {
            msg = body.error.message;
            if (typeof body.error.hint === 'string') {
                msg += ' (' + body.error.hint + ')';
            }
        }
        var err = new Error(msg);
        err.status = status;
        err.body = body;
        return err;
    }

    function getJSON(url, signal) {
        return fetch(url, { signal: signal, headers: { Accept: 'application/json' } })
            .then(function (r) {
                return r.json().catch(function () { return null; })
                    .then(function (body) {
                        if (!r.ok) {
                            throw apiError(r.status, body);
                        }
                        return body;
                    });
            });
    }

    function postJSON(url, data) {
        return fetch(url, {
            method: 'POST',
            headers: { 'Content-Type': 'application/json',
                       Accept: 'application/json' },
            body: JSON.stringify(data)
        }).then(function (r) {
            return r.json().catch(function () { return null; })
                .then(function (body) {
                    return { status: r.status, ok: r.ok, body: body };
                });
        });
    }

    /* ---- the personal agenda: starred sessions in localStorage */

    var KEY = 'confhaven.agenda.v1';

    function agendaLoad() {
        var list;
        try {
            list = JSON.parse(window.localStorage.getItem(KEY) || '[]');
        } catch (e) {
            list = [];
        }
        return Array.isArray(list) ? list.filter(function (s) {
            return s && typeof s.id === 'number';
        }) : [];
    }

    function agendaSave(list) {
        try {
            window.localStorage.setItem(KEY, JSON.stringify(list));
        } catch (e) { /* private mode: the agenda lasts for the page */ }
        document.dispatchEvent(new CustomEvent('agenda-changed'));
        feedSync();
    }

    /* The subscribed feed (POST /api/agendas: {token, ics_url}) follows
     * the stars: each change is sent as PUT /api/agendas/{token}. */
    var FEED = 'confhaven.agenda.feed.v1', syncTimer = null;

    function feedLoad() {
        try {
            var f = JSON.parse(window.localStorage.getItem(FEED) || 'null');
            return f && typeof f.token === 'string'
                   && typeof f.ics_url === 'string' ? f : null;
        } catch (e) {
            return null;
        }
    }

    function feedSave(f) {
        try {
            if (f) {
                window.localStorage.setItem(FEED, JSON.stringify(
                    { token: f.token, ics_url: f.ics_url }));
            } else {
                window.localStorage.removeItem(FEED);
            }
        } catch (e) { /* kept for the page only */ }
    }

    function feedSync() {
        var f = feedLoad();
        if (!f) {
            return;
        }
        clearTimeout(syncTimer);
        syncTimer = setTimeout(function () {
            var ids = agendaLoad().map(function (s) { return s.id; });
            fetch('/api/agendas/' + encodeURIComponent(f.token), {
                method: 'PUT', keepalive: true,
                headers: { 'Content-Type': 'application/json',
                           Accept: 'application/json' },
                body: JSON.stringify({ session_ids: ids })
            }).then(function (r) {
                if (r.status === 404) {
                    feedSave(null);     /* deleted elsewhere */
                }
                document.dispatchEvent(new CustomEvent('feed-synced',
                    { detail: { status: r.status } }));
            }).catch(function () { /* the next change tries again */ });
        }, 500);
    }

    function agendaHas(id) {
        return agendaLoad().some(function (s) { return s.id === id; });
    }

    function agendaToggle(s) {
        var list = agendaLoad(), had = list.some(function (x) {
            return x.id === s.id;
        });
        if (had) {
            list = list.filter(function (x) { return x.id !== s.id; });
        } else {
            list.push({ id: s.id, title: s.title, start: s.start, end: s.end,
                        timezone: s.timezone, room: s.room,
                        conference: s.conference,
                        speakers: s.speakers || [] });
        }
        agendaSave(list);
        return !had;
    }

    /* id -> [sessions it overlaps] among the starred ones */
    function agendaClashes(list) {
        var out = {}, i, j, a, b, as, ae, bs, be;
        for (i = 0; i < list.length; i++) {
            for (j = i + 1; j < list.length; j++) {
                a = list[i];
                b = list[j];
                if (!a.start || !b.start) {
                    continue;
                }
                as = Date.parse(a.start);
                bs = Date.parse(b.start);
                ae = a.end ? Date.parse(a.end) : as;
                be = b.end ? Date.parse(b.end) : bs;
                if (as < be && bs < ae) {
                    (out[a.id] = out[a.id] || []).push(b);
                    (out[b.id] = out[b.id] || []).push(a);
                }
            }
        }
        return out;
    }

    /* A star button for a session (aria-pressed); onChange(starred). */
    function starButton(s, onChange) {
        var b = el('button', { type: 'button', class: 'star' });
        function paint() {
            var on = agendaHas(s.id);
            b.setAttribute('aria-pressed', on ? 'true' : 'false');
            b.textContent = on ? '\u2605 In my agenda' : '\u2606 Add to my agenda';
        }
        b.addEventListener('click', function () {
            var on = agendaToggle(s);
            paint();
            if (onChange) {
                onChange(on);
            }
        });
        paint();
        return b;
    }

    /* "My agenda (3)" in the header */
    function paintAgendaCount() {
        var n = agendaLoad().length;
        document.querySelectorAll('[data-agenda-count]').forEach(function (x) {
            x.textContent = n ? ' (' + n + ')' : '';
        });
    }

    document.addEventListener('agenda-changed', paintAgendaCount);
    window.addEventListener('storage', paintAgendaCount);
    document.addEventListener('DOMContentLoaded', paintAgendaCount);

    /* Copy the text of an element; a button shows what happened. */
    function copyButton(target, label) {
        var b = el('button', { type: 'button', class: 'copy',
                               text: label || 'Copy' });
        b.addEventListener('click', function () {
            var text = target.textContent;
            var done = function (ok) {
                b.textContent = ok ? 'Copied' : 'Select and copy';
                setTimeout(function () { b.textContent = label || 'Copy'; },
                           2000);
            };
            if (navigator.clipboard && window.isSecureContext) {
                navigator.clipboard.writeText(text).then(function () {
                    done(true);
                }, function () { selectText(target); done(false); });
            } else {
                selectText(target);
                done(false);
            }
        });
        return b;
    }

    function selectText(node) {
        var r = document.createRange(), sel = window.getSelection();
        r.selectNodeContents(node);
        sel.removeAllRanges();
        sel.addRange(r);
    }

    return {
        el: el, clear: clear, userZone: userZone, span: span, times: times,
        getJSON: getJSON, postJSON: postJSON,
        agendaLoad: agendaLoad, agendaSave: agendaSave, agendaHas: agendaHas,
        feedLoad: feedLoad, feedSave: feedSave,
        agendaToggle: agendaToggle, agendaClashes: agendaClashes,
        starButton: starButton, copyButton: copyButton
    };
})();
