/* Attendee search: the REST search (/api/sessions) with every filter in
 * the address, results as you type (debounced, cached, stale requests
 * cancelled), facets, hints, paging and stars for the agenda. */
'use strict';

(function () {
    var el = CH.el;
    var FIELDS = ['q', 'conference', 'track', 'level', 'day', 'speaker',
                  'room', 'language', 'include_past', 'offset', 'limit'];
    var TEXT = ['q', 'speaker', 'room', 'track', 'day'];
    var LIMIT = 20;
    var DEBOUNCE_MS = 300;
    var CACHE_MAX = 60;

    var form = document.getElementById('search');
    var statusBox = document.getElementById('status');
    var hintsBox = document.getElementById('hints');
    var errorBox = document.getElementById('error');
    var resultsBox = document.getElementById('results');
    var facetsBox = document.getElementById('facets');
    var pagerBox = document.getElementById('pager');

    var cache = new Map();
    var inflight = null;
    var timer = null;
    var lastKey = null;
    var shown = [];

    function readURL() {
        var p = new URLSearchParams(window.location.search), st = {};
        FIELDS.forEach(function (f) {
            var v = p.get(f);
            if (v !== null && v !== '') {
                st[f] = v;
            }
        });
        return st;
    }

    function readForm(keepOffset) {
        var st = {};
        FIELDS.forEach(function (f) {
            var n = form.elements[f];
            if (!n) {
                return;
            }
            if (n.type === 'checkbox') {
                if (n.checked) {
                    st[f] = 'true';
                }
            } else if (n.value.trim() !== '') {
                st[f] = n.value.trim();
            }
        });
        if (keepOffset && current.offset) {
            st.offset = current.offset;
        }
        if (current.limit) {
            st.limit = current.limit;
        }
        return st;
    }

    function writeForm(st) {
        FIELDS.forEach(function (f) {
            var n = form.elements[f], opt;
            if (!n) {
                return;
            }
            if (n.type === 'checkbox') {
                n.checked = st[f] === 'true' || st[f] === '1';
            } else if (n.tagName === 'SELECT') {
                if (st[f] && !Array.prototype.some.call(n.options,
                        function (o) { return o.value === st[f]; }))
                {
                    n.appendChild(el('option', { value: st[f], text: st[f] }));
                }
                n.value = st[f] || '';
            } else {
                n.value = st[f] || '';
            }
        });
        if (['speaker', 'room', 'track', 'day', 'language', 'level']
                .some(function (f) { return st[f]; }))
        {
            document.getElementById('more').open = true;
        }
    }

    function query(st, base, withLimit) {
        var p = new URLSearchParams();
        FIELDS.forEach(function (f) {
            if (st[f] !== undefined && st[f] !== '') {
                p.set(f, st[f]);
            }
        });
        if (withLimit && !p.has('limit')) {
            p.set('limit', String(LIMIT));
        }
        var s = p.toString();
        return base + (s ? '?' + s : '');
    }

    var current = readURL();

    /* how: 'push' (a new history entry), 'replace' or 'none' */
    function run(st, how) {
        var key = query(st, '/api/sessions', true);
        var page = query(st, '/search', false);
        current = st;
        clearTimeout(timer);
        if (how === 'push' && page !== window.location.pathname
                                      + window.location.search)
        {
            history.pushState(st, '', page);
        } else if (how !== 'none') {
            history.replaceState(st, '', page);
        }
        if (key === lastKey) {
            return;
        }
        lastKey = key;
        if (inflight) {
            inflight.abort();
            inflight = null;
        }
        if (cache.has(key)) {
            render(st, cache.get(key));
            return;
        }
        statusBox.textContent = 'Searching\u2026';
        var ctl = new AbortController();
        inflight = ctl;
        CH.getJSON(key, ctl.signal).then(function (r) {
            if (cache.size >= CACHE_MAX) {
                cache.delete(cache.keys().next().value);
            }
            cache.set(key, r);
            if (inflight === ctl) {
                inflight = null;
                render(st, r);
            }
        }).catch(function (e) {
            if (e.name === 'AbortError') {
                return;
            }
            if (inflight === ctl) {
                inflight = null;
                lastKey = null;
                showError(e);
            }
        });
    }

    function schedule() {
        clearTimeout(timer);
        timer = setTimeout(function () { run(readForm(false), 'replace'); },
                           DEBOUNCE_MS);
    }

    function showError(e) {
        CH.clear(resultsBox);
        CH.clear(facetsBox);
        CH.clear(pagerBox);
        CH.clear(hintsBox);
        statusBox.textContent = 'The search failed.';
        CH.clear(errorBox).appendChild(el('p', { class: 'notice error',
                                                 text: e.message }));
    }

    /* «word» marks of the API as <mark>, everything as text */
    function marked(text) {
        var out = document.createDocumentFragment();
        String(text).split(/(\u00ab[^\u00bb]*\u00bb)/).forEach(function (part) {
            if (part.charAt(0) === '\u00ab'
                && part.charAt(part.length - 1) === '\u00bb')
            {
                out.appendChild(el('mark', { text: part.slice(1, -1) }));
            } else if (part) {
                out.appendChild(document.createTextNode(part));
            }
        });
        return out;
    }

    function correctedQuery(q, corr) {
        return q.split(/(\s+)/).map(function (w) {
            var bare = w.toLowerCase().replace(/^[-"(]+|[")]+$/g, '');
            if (Object.prototype.hasOwnProperty.call(corr, bare)) {
                return w.toLowerCase().replace(bare, corr[bare]);
            }
            return w;
        }).join('');
    }

    function set(changes) {
        var st = Object.assign({}, current, changes);
        Object.keys(st).forEach(function (k) {
            if (st[k] === '' || st[k] === null || st[k] === undefined) {
                delete st[k];
            }
        });
        if (!('offset' in changes)) {
            delete st.offset;
        }
        writeForm(st);
        run(st, 'push');
    }

    function hints(st, r) {
        var box = CH.clear(hintsBox), it = r.interpretation || {};
        var corr = it.corrected || {}, words = Object.keys(corr);
        var active = ['conference', 'track', 'level', 'day', 'speaker',
                      'room', 'language'].filter(function (f) {
                          return st[f];
                      });
        if (words.length && st.q) {
            var fixed = correctedQuery(st.q, corr);
            box.appendChild(el('p', null, 'Did you mean ',
                el('a', { href: query(Object.assign({}, st, { q: fixed,
                                                              offset: '' }),
                                      '/search'),
                          'data-q': fixed,
                          class: 'didyoumean',
                          onclick: function (ev) {
                              ev.preventDefault();
                              set({ q: ev.currentTarget.getAttribute('data-q') });
                          } },
                   el('strong', { text: fixed })),
                '? ' + (r.total ? 'The results include it.' : '')));
        }
        if (it.synonyms && Object.keys(it.synonyms).length) {
            box.appendChild(el('p', { class: 'muted' }, 'Also searched for: '
                + Object.keys(it.synonyms).map(function (w) {
                    return w + ' \u2192 ' + it.synonyms[w].join(', ');
                }).join('; ')));
        }
        if (it.ignored && it.ignored.length) {
            box.appendChild(el('p', { class: 'muted',
                text: 'Ignored: ' + it.ignored.join(', ') }));
        }
        if (it.conference_from_query) {
            box.appendChild(el('p', { class: 'muted',
                text: 'Searching in ' + it.conference_from_query
                      + ', named in your words.' }));
        }
        if (r.suggestion) {
            box.appendChild(el('p', { class: 'notice warn suggestion',
                                      text: r.suggestion }));
        }
        if (active.length || (!r.total && st.include_past !== 'true')) {
            var list = el('ul', { class: 'relax' });
            active.forEach(function (f) {
                var ch = {};
                ch[f] = '';
                list.appendChild(el('li', null, el('button', {
                    type: 'button', class: 'remove-filter',
                    'data-filter': f,
                    onclick: function () { set(ch); },
                    text: 'Remove ' + f + ': ' + st[f] })));
            });
            if (!r.total && st.include_past !== 'true') {
                list.appendChild(el('li', null, el('button', {
                    type: 'button', class: 'remove-filter',
                    onclick: function () { set({ include_past: 'true' }); },
                    text: 'Include sessions that have ended' })));
            }
            box.appendChild(el('div', { class: 'facets' },
                el('h2', { class: 'visually-hidden', text: 'Active filters' }),
                list));
        }
    }

    function facets(st, r) {
        var box = CH.clear(facetsBox), f = r.facets || {};
        [['track', 'Track'], ['level', 'Level'], ['day', 'Day']]
            .forEach(function (d) {
                var name = d[0], vals = (f[name] || []).filter(function (v) {
                    return v.value !== null;
                });
                if (!vals.length) {
                    return;
                }
                var list = el('ul');
                vals.forEach(function (v) {
                    var on = st[name] === v.value, ch = {};
                    ch[name] = on ? '' : v.value;
                    list.appendChild(el('li', null, el('button', {
                        type: 'button',
                        'aria-pressed': on ? 'true' : 'false',
                        'data-facet': name,
                        'data-value': v.value,
                        onclick: function () { set(ch); }
                    }, v.value + ' ', el('span', { class: 'count',
                                                   text: '(' + v.count + ')' }))));
                });
                box.appendChild(el('h2', { id: 'facet-' + name, text: d[1] }));
                box.appendChild(list);
            });
    }

    function clashNote(li, id) {
        var note = li.querySelector('.clash-note');
        var c = CH.agendaClashes(CH.agendaLoad())[id];
        CH.clear(note);
        if (c && CH.agendaHas(id)) {
            note.appendChild(el('span', { class: 'clash',
                text: '\u26a0 Clashes with ' + c.map(function (x) {
                    return '\u201c' + x.title + '\u201d';
                }).join(', ') }));
        }
    }

    function paintClashes() {
        resultsBox.querySelectorAll('li[data-id]').forEach(function (li) {
            clashNote(li, Number(li.getAttribute('data-id')));
        });
    }

    function item(s) {
        var meta = [s.speakers && s.speakers.length ? s.speakers.join(', ')
                                                     : null,
                    s.room, s.track, s.level, s.conference]
            .filter(Boolean).join(' \u00b7 ');
        var li = el('li', { 'data-id': s.id },
            el('article', null,
               el('h2', null, el('a', { href: '/session?id=' + s.id,
                                        text: s.title })),
               el('p', { class: 'meta', text: meta }),
               CH.times(s),
               (s.highlight || s.snippet)
                   ? el('p', { class: 'excerpt' },
                        s.highlight ? marked(s.highlight) : s.snippet)
                   : null,
               el('p', { class: 'actions' },
                  CH.starButton(s, paintClashes),
                  el('span', { class: 'clash-note', 'aria-live': 'polite' }))));
        clashNote(li, s.id);
        return li;
    }

    function pager(st, r) {
        var box = CH.clear(pagerBox);
        var off = r.offset || 0, lim = Number(st.limit) || LIMIT;
        var next = off + r.count < (r.total || 0) && off + lim <= 1000;
        if (!off && !next) {
            return;
        }
        box.appendChild(el('button', {
            type: 'button', id: 'prev', disabled: off === 0,
            onclick: function () {
                set({ offset: off - lim > 0 ? String(off - lim) : '' });
                document.getElementById('results-h').focus();
            },
            text: '\u2190 Previous' }));
        box.appendChild(el('span', { text: 'Page ' + (Math.floor(off / lim) + 1)
            + ' of ' + Math.max(1, Math.ceil((r.total || 0) / lim))
            + (r.total_capped ? '+' : '') }));
        box.appendChild(el('button', {
            type: 'button', id: 'next', disabled: !next,
            onclick: function () {
                set({ offset: String(off + lim) });
                document.getElementById('results-h').focus();
            },
            text: 'Next \u2192' }));
    }

    function render(st, r) {
        var off = r.offset || 0;
        CH.clear(errorBox);
        shown = r.sessions || [];
        if (!r.total) {
            statusBox.textContent = 'No sessions found.';
        } else {
            statusBox.textContent = r.total + (r.total_capped ? '+' : '')
                + (r.total === 1 ? ' session found' : ' sessions found')
                + (r.total > r.count ? ', showing ' + (off + 1) + '\u2013'
                                       + (off + r.count) : '')
                + '.';
        }
        hints(st, r);
        facets(st, r);
        CH.clear(resultsBox);
        shown.forEach(function (s) { resultsBox.appendChild(item(s)); });
        pager(st, r);
    }

    function conferences() {
        var sel = form.elements.conference;
        CH.getJSON('/api/conferences?include_past=true').then(function (r) {
            (r.conferences || []).forEach(function (c) {
                if (!Array.prototype.some.call(sel.options, function (o) {
                        return o.value === c.slug; }))
                {
                    sel.appendChild(el('option', { value: c.slug,
                                                   text: c.name }));
                }
            });
            if (current.conference) {
                sel.value = current.conference;
            }
        }).catch(function () { /* the select keeps "All conferences" */ });
    }

    /* events */
    form.addEventListener('submit', function (ev) {
        ev.preventDefault();
        run(readForm(false), 'push');
    });
    TEXT.forEach(function (f) {
        form.elements[f].addEventListener('input', schedule);
    });
    ['conference', 'level', 'language', 'include_past'].forEach(function (f) {
        form.elements[f].addEventListener('change', function () {
            run(readForm(false), 'push');
        });
    });
    window.addEventListener('popstate', function () {
        var st = readURL();
        writeForm(st);
        run(st, 'none');
    });
    document.addEventListener('agenda-changed', paintClashes);

    /* on a phone the facets start folded, under the search box */
    if (window.matchMedia) {
        var wide = window.matchMedia('(min-width: 52rem)');
        document.getElementById('facets-box').open = wide.matches;
        wide.addEventListener('change', function () {
            if (wide.matches) {
                document.getElementById('facets-box').open = true;
            }
        });
    }
    writeForm(current);
    conferences();
    run(current, 'none');
})();
