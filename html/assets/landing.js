/* Landing page: this server's MCP addresses, the conferences, and a
 * readable reference of the REST API drawn from /api/openapi.json. */
'use strict';

(function () {
    var el = CH.el;

    function origins() {
        document.querySelectorAll('.origin').forEach(function (n) {
            n.textContent = window.location.origin;
        });
        document.querySelectorAll('code[data-copy]').forEach(function (c) {
            var box = c.closest('.snippet');
            if (box) {
                box.appendChild(CH.copyButton(c, 'Copy'));
            }
        });
    }

    function conferences() {
        var box = document.getElementById('conferences');
        CH.getJSON('/api/conferences?include_past=true').then(function (r) {
            var today = new Date().toISOString().slice(0, 10);
            var list = el('ul', { class: 'conferences' });
            var past = function (c) {
                return c.end_date && c.end_date < today ? 1 : 0;
            };
            /* upcoming first (soonest first), then the past (latest first) */
            (r.conferences || []).slice().sort(function (a, b) {
                var d = past(a) - past(b);
                if (d) {
                    return d;
                }
                d = String(a.start_date || '').localeCompare(
                        String(b.start_date || ''));
                return past(a) ? -d : d;
            }).forEach(function (c) {
                var ended = past(c);
                list.appendChild(el('li', null,
                    el('a', { href: '/search?conference='
                                    + encodeURIComponent(c.slug)
                                    + (ended ? '&include_past=true' : ''),
                              text: c.name }),
                    ' \u2014 ' + [c.location,
                                  c.start_date === c.end_date
                                      ? c.start_date
                                      : (c.start_date || '?') + ' to '
                                        + (c.end_date || '?'),
                                  c.session_count + ' sessions']
                        .filter(Boolean).join(', '),
                    ended ? el('span', { class: 'muted', text: ' (past)' })
                         : null));
            });
            CH.clear(box).appendChild(list.firstChild
                ? list : el('p', { text: 'No conference is loaded yet.' }));
        }).catch(function (e) {
            CH.clear(box).appendChild(el('p', { class: 'notice error',
                text: 'Could not list the conferences: ' + e.message }));
        });
    }

    /* ---- OpenAPI */

    function resolve(doc, obj) {
        var seen = 0, parts, cur, i;
        while (obj && typeof obj.$ref === 'string' && seen++ < 10) {
            if (obj.$ref.slice(0, 2) !== '#/') {
                return obj;
            }
            parts = obj.$ref.slice(2).split('/');
            cur = doc;
            for (i = 0; i < parts.length && cur; i++) {
                cur = cur[parts[i].replace(/~1/g, '/').replace(/~0/g, '~')];
            }
            obj = cur;
        }
        return obj || {};
    }

    function typeOf(doc, schema) {
        var s = resolve(doc, schema || {}), t;
        if (schema && schema.$ref) {
            return schema.$ref.split('/').pop();
        }
        if (Array.isArray(s.type)) {
            t = s.type.join(' | ');
        } else {
            t = s.type || (s.allOf ? 'object' : '');
        }
        if (t === 'array' && s.items) {
            t = 'array of ' + typeOf(doc, s.items);
        }
        if (s.format) {
            t += ' (' + s.format + ')';
        }
        if (Array.isArray(s.enum)) {
            t += ': ' + s.enum.map(function (v) {
                return v === null ? 'null' : String(v);
            }).join(', ');
        }
        return t;
    }

    function paras(text) {
        return String(text || '').split(/\n\s*\n/).map(function (p) {
            return el('p', { text: p.trim() });
        });
    }

    function paramTable(doc, params) {
        var body = el('tbody');
        params.forEach(function (p0) {
            var p = resolve(doc, p0), s = p.schema || {};
            var extra = [];
            if (s.default !== undefined) {
                extra.push('default ' + JSON.stringify(s.default));
            }
            if (s.minimum !== undefined || s.maximum !== undefined) {
                extra.push((s.minimum !== undefined ? s.minimum : '') + '\u2013'
                           + (s.maximum !== undefined ? s.maximum : ''));
            }
            body.appendChild(el('tr', null,
                el('td', null, el('code', { text: p.name || '' }),
                   p.required ? ' (required)' : ''),
                el('td', { text: p['in'] || '' }),
                el('td', { text: typeOf(doc, p.schema)
                                 + (extra.length ? '; ' + extra.join('; ')
                                                 : '') }),
                el('td', { text: p.description || '' })));
        });
        return el('div', { class: 'table-wrap' }, el('table', null,
            el('caption', { class: 'visually-hidden', text: 'Parameters' }),
            el('thead', null, el('tr', null,
                el('th', { scope: 'col', text: 'Parameter' }),
                el('th', { scope: 'col', text: 'In' }),
                el('th', { scope: 'col', text: 'Type' }),
                el('th', { scope: 'col', text: 'Description' }))),
            body));
    }

    function responses(doc, resp) {
        var list = el('ul');
        Object.keys(resp || {}).forEach(function (code) {
            var r = resolve(doc, resp[code]), types = [];
            Object.keys(r.content || {}).forEach(function (ct) {
                var sch = r.content[ct].schema;
                types.push(ct + (sch ? ': ' + typeOf(doc, sch) : ''));
            });
            list.appendChild(el('li', null, el('strong', { text: code }),
                ' ' + (r.description || '')
                + (types.length ? ' \u2014 ' + types.join(', ') : '')));
        });
        return list;
    }

    function schemaSection(doc, name, s0) {
        var s = resolve(doc, s0), props = {}, req = {}, body = el('tbody');
        (s.allOf || [s]).forEach(function (part) {
            var p = resolve(doc, part);
            Object.keys(p.properties || {}).forEach(function (k) {
                props[k] = p.properties[k];
            });
            (p.required || []).forEach(function (k) { req[k] = true; });
        });
        Object.keys(props).forEach(function (k) {
            body.appendChild(el('tr', null,
                el('td', null, el('code', { text: k }),
                   req[k] ? ' (always)' : ''),
                el('td', { text: typeOf(doc, props[k]) }),
                el('td', { text: resolve(doc, props[k]).description || '' })));
        });
        return el('details', { class: 'op', id: 'schema-' + name },
            el('summary', null, el('code', { text: name })),
            s.description ? paras(s.description) : null,
            body.firstChild ? el('div', { class: 'table-wrap' },
                el('table', null,
                   el('caption', { class: 'visually-hidden',
                                   text: name + ' fields' }),
                   el('thead', null, el('tr', null,
                       el('th', { scope: 'col', text: 'Field' }),
                       el('th', { scope: 'col', text: 'Type' }),
                       el('th', { scope: 'col', text: 'Description' }))),
                   body)) : null);
    }

    function render(doc) {
        var out = el('div', { class: 'openapi' }), info = doc.info || {};
        var methods = ['get', 'post', 'put', 'patch', 'delete'];
        out.appendChild(el('p', null, el('strong', {
            text: (info.title || 'API') + ' ' + (info.version || '') })));
        if (info.description) {
            out.appendChild(el('div', null, paras(info.description)));
        }
        out.appendChild(el('h3', { text: 'Operations' }));
        Object.keys(doc.paths || {}).forEach(function (path) {
            var item = doc.paths[path];
            methods.forEach(function (m) {
                var op = item[m], params;
                if (!op) {
                    return;
                }
                params = (item.parameters || []).concat(op.parameters || []);
                out.appendChild(el('details', {
                        class: 'op',
                        id: 'op-' + (op.operationId || m + path) },
                    el('summary', null,
                       el('span', { class: 'method', text: m.toUpperCase() }),
                       ' ', el('code', { text: path }),
                       op.summary ? ' \u2014 ' + op.summary : ''),
                    op.description ? el('div', null, paras(op.description))
                                   : null,
                    params.length ? el('h4', { text: 'Parameters' }) : null,
                    params.length ? paramTable(doc, params) : null,
                    op.requestBody ? el('p', null, 'Request body: '
                        + Object.keys(resolve(doc, op.requestBody).content
                                      || {}).join(', ')) : null,
                    el('h4', { text: 'Responses' }),
                    responses(doc, op.responses)));
            });
        });
        if (doc.components && doc.components.schemas) {
            out.appendChild(el('h3', { text: 'Objects' }));
            Object.keys(doc.components.schemas).forEach(function (name) {
                out.appendChild(schemaSection(doc, name,
                                              doc.components.schemas[name]));
            });
        }
        return out;
    }

    function openapi() {
        var box = document.getElementById('openapi');
        CH.getJSON('/api/openapi.json').then(function (doc) {
            CH.clear(box).appendChild(render(doc));
        }).catch(function (e) {
            CH.clear(box).appendChild(el('p', { class: 'notice error',
                text: 'Could not read the OpenAPI document: ' + e.message }));
        });
    }

    origins();
    conferences();
    openapi();
})();
