/* ConferenceHaven organizer dashboard (/organizer).
 *
 * The organizer's key is kept in sessionStorage (this tab only, gone when
 * it closes) and sent as an X-API-Key header; it never goes into an
 * address.  Everything the server sends back (conference names, queries
 * people typed, session titles, answers) is untrusted and only ever
 * becomes text nodes.  Endpoints a server may not have (import by the
 * organizer, billing) are said to be unavailable when they answer 404.
 */
'use strict';

(function () {

    var KEY = 'confhaven.organizer.key';
    var el = CH.el, clear = CH.clear;
    var $ = function (id) { return document.getElementById(id); };
    var me = null;

    function keyGet() {
        try {
            return window.sessionStorage.getItem(KEY) || '';
        } catch (e) {
            return '';
        }
    }

    function keySet(k) {
        try {
            if (k) {
                window.sessionStorage.setItem(KEY, k);
            } else {
                window.sessionStorage.removeItem(KEY);
            }
        } catch (e) { /* private mode: signed in for this page only */ }
    }

    var pageKey = keyGet();

    /* back from Stripe: /organizer?checkout=done|cancelled (the addresses
     * of confhaven_stripe_success_url / _cancel_url); read once, then the
     * query is dropped from the address so a reload does not repeat it */
    var returned = (/[?&]checkout=(done|cancelled)(&|$)/
                    .exec(window.location.search) || [])[1] || '';
    var waits = 0;
    if (returned && window.history && window.history.replaceState) {
        window.history.replaceState(null, '', window.location.pathname);
    }

    /* ---- the API, with the key in a header */

    function api(method, path, opts) {
        var h = { Accept: 'application/json' }, init;
        opts = opts || {};
        if (opts.key || pageKey) {
            h['X-API-Key'] = opts.key || pageKey;
        }
        if (opts.type) {
            h['Content-Type'] = opts.type;
        }
        init = { method: method, headers: h, cache: 'no-store',
                 credentials: 'omit' };
        if (opts.body !== undefined) {
            init.body = opts.body;
        }
        return fetch(path, init).then(function (r) {
            var type = r.headers.get('Content-Type') || '';
            var read = opts.blob ? r.blob()
                     : /json/.test(type) ? r.json().catch(function () {
                           return null; })
                     : r.text();
            return read.then(function (b) {
                return { status: r.status, ok: r.ok, body: b,
                         type: type, headers: r.headers };
            });
        }, function () {
            return { status: 0, ok: false, body: null };
        });
    }

    /* the message of an error answer, whichever envelope it uses:
     * {"error": {"code", "message", "hint"}} or {"error": "tier_limit",
     * "message": ..., "required_tier": "pro"} */
    function errorText(res) {
        var b = res.body, m = null;
        if (b && typeof b === 'object') {
            if (b.error && typeof b.error === 'object'
                && typeof b.error.message === 'string')
            {
                m = b.error.message;
                if (typeof b.error.hint === 'string') {
                    m += ' (' + b.error.hint + ')';
                }
            } else if (typeof b.message === 'string') {
                m = b.message;
            }
        }
        if (res.status === 0) {
            return 'The server could not be reached.';
        }
        return m || 'The server answered ' + res.status + '.';
    }

    function tierLimit(res) {
        var b = res.body;
        if (res.status !== 403 || !b || typeof b !== 'object') {
            return null;
        }
        if (b.error === 'tier_limit') {
            return b.required_tier || 'pro';
        }
        if (b.error && typeof b.error === 'object'
            && (b.error.code === 'tier_limit' || b.error.error === 'tier_limit'))
        {
            return b.error.required_tier || b.required_tier || 'pro';
        }
        return null;
    }

    function notice(box, kind, text, extra) {
        clear(box);
        if (text) {
            box.appendChild(el('p', { class: 'notice ' + kind }, text,
                               extra || null));
        }
    }

    /* an error in a section; a tier limit gets an upgrade button */
    function showError(box, res, what) {
        var tier = tierLimit(res), b;
        if (res.status === 404 && what) {
            notice(box, 'warn', what + ' is not available on this server.');
            return;
        }
        if (res.status === 401) {
            signOut('Your key was refused: ' + errorText(res));
            return;
        }
        if (tier) {
            b = el('button', { type: 'button', class: 'primary upgrade-inline',
                               text: 'Upgrade to ' + cap(tier) });
            b.addEventListener('click', function () { checkout(tier, box); });
            notice(box, 'warn', errorText(res) + ' ', b);
            return;
        }
        notice(box, 'error', errorText(res));
    }

    function cap(s) {
        s = String(s || '');
        return s.charAt(0).toUpperCase() + s.slice(1);
    }

    function date(s) {
        if (!s) {
            return '\u2014';
        }
        var d = new Date(s);
        return isNaN(d.getTime()) ? String(s)
                                  : d.toLocaleDateString(undefined, {
                                        year: 'numeric', month: 'short',
                                        day: 'numeric' });
    }

    /* ---- onboarding: the operator's steps, with this server's address */

    function onboarding() {
        var o = window.location.origin;
        $('step-create').textContent =
            'curl -X POST -H "Authorization: Bearer $ADMIN_KEY" \\\n  "'
            + o + '/api/admin/organizers?name=Your%20Organization"';
        $('step-link').textContent =
            'curl -X POST -H "Authorization: Bearer $ADMIN_KEY" \\\n  "'
            + o + '/api/admin/organizers/ID/conferences/your-conference-slug"';
        $('step-key').textContent =
            'curl -X POST -H "Authorization: Bearer $ADMIN_KEY" \\\n  "'
            + o + '/api/admin/organizers/ID/keys?label=dashboard"';
        ['step-create', 'step-link', 'step-key'].forEach(function (id) {
            var code = $(id), wrap = code.parentNode.parentNode;
            wrap.appendChild(CH.copyButton(code, 'Copy'));
        });
    }

    /* ---- sign in and out */

    function signIn(key, box) {
        notice(box, 'muted', 'Signing in\u2026');
        return api('GET', '/api/organizer', { key: key }).then(function (res) {
            if (!res.ok || !res.body || typeof res.body !== 'object') {
                notice(box, 'error', res.status === 401
                       ? 'That key was not accepted: ' + errorText(res)
                       : errorText(res));
                return false;
            }
            pageKey = key;
            keySet(key);
            notice(box, '', '');
            show(res.body);
            return true;
        });
    }

    function signOut(why) {
        pageKey = '';
        keySet('');
        me = null;
        $('dashboard').hidden = true;
        $('signin-box').hidden = false;
        $('onboarding').hidden = false;
        $('api-key').value = '';
        notice($('flash'), why ? 'warn' : 'ok', why || 'Signed out.');
    }

    /* ---- the dashboard */

    function show(org) {
        var sel = $('conference'), list = $('conferences'), prev = sel.value;
        me = org;
        $('signin-box').hidden = true;
        $('onboarding').hidden = true;
        $('dashboard').hidden = false;
        notice($('flash'), '', '');

        clear($('who')).appendChild(document.createTextNode(
            'Signed in as ' + (org.name || 'organizer #' + org.id)
            + ' \u00b7 plan: ' + cap(org.tier || 'free')));

        clear(list);
        clear(sel);
        (org.conferences || []).forEach(function (c) {
            list.appendChild(el('li', {},
                el('a', { href: '/search?conference='
                                + encodeURIComponent(c.slug),
                          text: c.name || c.slug }),
                ' ', el('code', { text: c.slug })));
            sel.appendChild(el('option', { value: c.slug,
                                           text: c.name || c.slug }));
        });
        if (!(org.conferences || []).length) {
            list.appendChild(el('li', { class: 'muted',
                text: 'No conference yet: the operator links yours to your '
                      + 'organizer (step 2 of the onboarding).' }));
        }
        if (prev && Array.prototype.some.call(sel.options, function (o) {
                return o.value === prev; }))
        {
            sel.value = prev;
        }

        billing(org);
        keys(org);
        analytics();
        evaluations();
        checkoutReturn(org);
    }

    /* after Checkout: the plan comes with Stripe's webhook, which may
     * arrive a moment after the organizer does; ask again for a while */
    function checkoutReturn(org) {
        var t = (org.billing && org.billing.tier) || org.tier || 'free';
        if (returned === 'cancelled') {
            notice($('flash'), 'warn', 'Checkout cancelled: nothing was '
                   + 'charged and your plan is unchanged.');
            returned = '';
        } else if (returned === 'done' && t !== 'free') {
            notice($('flash'), 'ok', 'Payment received: your plan is now '
                   + cap(t) + '.');
            returned = '';
        } else if (returned === 'done' && waits < 15) {
            notice($('flash'), 'muted', 'Payment received: waiting for '
                   + 'Stripe to confirm your new plan\u2026');
            waits++;
            window.setTimeout(refresh, 2000);
        } else if (returned === 'done') {
            notice($('flash'), 'warn', 'Stripe has not confirmed the '
                   + 'payment yet: reload this page in a minute.');
            returned = '';
        }
    }

    function conference() {
        return $('conference').value;
    }

    function analytics() {
        var c = conference(), box = $('analytics-status'),
            charts = $('charts'), totals = $('totals');
        clear(charts);
        clear(totals);
        if (!c) {
            notice(box, 'muted', 'No conference to show.');
            return;
        }
        notice(box, 'muted', 'Loading the analytics\u2026');
        api('GET', '/api/organizer/analytics?conference='
            + encodeURIComponent(c) + '&days=' + $('days').value)
        .then(function (res) {
            var a = res.body, t;
            if (!res.ok || !a || typeof a !== 'object') {
                showError(box, res, null);
                return;
            }
            notice(box, '', '');
            t = a.totals || {};
            [['Searches', t.searches], ['Found nothing', t.zero_result_searches],
             ['Session views', t.session_views], ['Invitations', t.invites]]
            .forEach(function (x) {
                totals.appendChild(el('div', { class: 'total' },
                    el('span', { class: 'n', text: x[1] || 0 }),
                    el('span', { class: 'what', text: x[0] })));
            });
            charts.appendChild(CHCharts.days('per-day',
                'Searches per day (darker: found nothing)',
                (a.searches_per_day || []).map(function (d) {
                    return { day: String(d.day), value: d.searches || 0,
                             extra: d.zero_result || 0 };
                }), ['searches', 'found nothing']));
            charts.appendChild(CHCharts.bars('zero',
                'Searches that found nothing',
                (a.zero_result_queries || []).map(function (q) {
                    return { label: String(q.query), value: q.count };
                }), 'Searches'));
            charts.appendChild(CHCharts.bars('top-sessions',
                'Top sessions (views)',
                (a.most_viewed || []).map(function (s) {
                    return { label: String(s.title || '#' + s.session_id),
                             value: s.count };
                }), 'Views'));
            charts.appendChild(CHCharts.bars('found-sessions',
                'Sessions found most often',
                (a.most_found || []).map(function (s) {
                    return { label: String(s.title || '#' + s.session_id),
                             value: s.count };
                }), 'Times found'));
            charts.appendChild(CHCharts.bars('assistants', 'Assistants used',
                (a.assistants || []).map(function (x) {
                    return { label: String(x.assistant), value: x.count };
                }), 'Requests'));
            charts.appendChild(CHCharts.bars('queries', 'Top searches',
                (a.top_queries || []).map(function (q) {
                    return { label: String(q.query), value: q.count };
                }), 'Searches'));
        });
    }

    function csv() {
        var c = conference(), box = $('csv-status');
        if (!c) {
            return;
        }
        notice(box, 'muted', 'Preparing the CSV\u2026');
        api('GET', '/api/organizer/analytics.csv?conference='
            + encodeURIComponent(c) + '&days=' + $('days').value,
            { blob: true })
        .then(function (res) {
            var url, a;
            if (!res.ok) {
                /* the error body came as a blob: read it for the message */
                return res.body.text().then(function (t) {
                    try { res.body = JSON.parse(t); } catch (e) { res.body = null; }
                    showError(box, res, null);
                });
            }
            url = URL.createObjectURL(res.body);
            a = el('a', { href: url, download: 'analytics-' + c + '-'
                          + $('days').value + 'd.csv' });
            document.body.appendChild(a);
            a.click();
            a.remove();
            setTimeout(function () { URL.revokeObjectURL(url); }, 10000);
            notice(box, 'ok', 'CSV downloaded.');
        });
    }

    /* ---- the review queue */

    function evaluations() {
        var c = conference(), box = $('review-status-line'),
            list = clear($('evaluations'));
        if (!c) {
            return;
        }
        notice(box, 'muted', 'Loading\u2026');
        api('GET', '/api/organizer/evaluations?conference='
            + encodeURIComponent(c) + '&status=' + $('review-status').value
            + '&limit=20')
        .then(function (res) {
            var items = res.body && res.body.evaluations;
            if (!res.ok || !Array.isArray(items)) {
                showError(box, res, 'The review queue');
                return;
            }
            notice(box, 'muted', items.length === 0 ? 'Nothing to review.'
                   : items.length + ' record' + (items.length === 1 ? '' : 's')
                     + ' shown.');
            items.forEach(function (e) { list.appendChild(record(e)); });
        });
    }

    function record(e) {
        var li = el('li', { class: 'evaluation', 'data-id': e.id }),
            status = el('p', { class: 'eval-status', role: 'status' }),
            label = el('select', { id: 'label-' + e.id }),
            resp = e.response && typeof e.response === 'object'
                   ? e.response.summary : e.response;
        label.appendChild(el('option', { value: '', text: 'No rating' }));
        [1, 2, 3, 4, 5].forEach(function (n) {
            label.appendChild(el('option', { value: String(n),
                                             text: n + (n === 1 ? ' (poor)'
                                                       : n === 5 ? ' (great)'
                                                       : '') }));
        });
        if (e.label) {
            label.value = String(e.label);
        }
        li.appendChild(el('h3', {}, el('span', { class: 'tool',
                                                 text: e.tool_name || 'tool' }),
                          ' \u00b7 ', date(e.created_at)));
        li.appendChild(el('p', { class: 'query' },
                          el('strong', { text: 'Asked: ' }),
                          e.user_query || '(no query)'));
        if (e.tool_parameters && typeof e.tool_parameters === 'object') {
            li.appendChild(el('p', { class: 'params muted',
                                     text: 'Arguments: '
                                           + JSON.stringify(e.tool_parameters) }));
        }
        li.appendChild(el('p', { class: 'response' },
                          el('strong', { text: e.is_error ? 'Error: '
                                                           : 'Answered: ' }),
                          String(resp || '').slice(0, 600)));
        var row = el('div', { class: 'review-actions' },
            el('label', { for: 'label-' + e.id, text: 'Rating' }), label);
        [['approved', 'Approve'], ['rejected', 'Reject']].forEach(function (x) {
            var b = el('button', { type: 'button', class: 'review-' + x[0],
                                   text: x[1],
                                   'aria-pressed': e.status === x[0]
                                                   ? 'true' : 'false' });
            b.addEventListener('click', function () {
                review(e, x[0], label.value, li, status);
            });
            row.appendChild(b);
        });
        li.appendChild(row);
        li.appendChild(status);
        return li;
    }

    function review(e, want, lbl, li, status) {
        var q = '?status=' + encodeURIComponent(want)
                + (lbl ? '&label=' + encodeURIComponent(lbl) : '');
        status.textContent = 'Saving\u2026';
        api('POST', '/api/organizer/evaluations/' + encodeURIComponent(e.id)
            + q).then(function (res) {
            if (!res.ok) {
                showError(status, res, null);
                return;
            }
            e.status = res.body && res.body.status || want;
            li.setAttribute('data-status', e.status);
            li.querySelectorAll('.review-actions button').forEach(function (b) {
                b.setAttribute('aria-pressed',
                    b.className === 'review-' + e.status ? 'true' : 'false');
            });
            status.textContent = 'Saved: ' + e.status
                + (res.body && res.body.label ? ', rated ' + res.body.label
                                              : '') + '.';
        });
    }

    /* ---- import by upload */

    function upload(ev) {
        var f = $('import-file').files[0], c = conference(),
            box = $('import-status'), q, type;
        ev.preventDefault();
        if (!c) {
            notice(box, 'error', 'Choose a conference first.');
            return;
        }
        if (!f) {
            notice(box, 'error', 'Choose a schedule file.');
            $('import-file').setAttribute('aria-invalid', 'true');
            $('import-file').focus();
            return;
        }
        $('import-file').removeAttribute('aria-invalid');
        q = [];
        if ($('import-name').value.trim()) {
            q.push('name=' + encodeURIComponent($('import-name').value.trim()));
        }
        if ($('import-tz').value.trim()) {
            q.push('timezone=' + encodeURIComponent($('import-tz').value.trim()));
        }
        type = /\.xml$/i.test(f.name) ? 'application/xml'
             : (f.type || 'application/json');
        notice(box, 'muted', 'Importing ' + f.name + '\u2026');
        api('POST', '/api/organizer/conferences/' + encodeURIComponent(c)
            + '/import' + (q.length ? '?' + q.join('&') : ''),
            { body: f, type: type })
        .then(function (res) {
            var b = res.body || {}, n;
            if (!res.ok) {
                showError(box, res, 'Importing by upload');
                return;
            }
            n = b.sessions !== undefined ? b.sessions
              : b.session_count !== undefined ? b.session_count
              : b.imported;
            notice(box, 'ok', 'Imported ' + f.name
                   + (n !== undefined ? ': ' + JSON.stringify(n)
                                        + ' sessions.' : '.'));
            refresh();
        });
    }

    /* ---- billing */

    function billing(org) {
        var dl = clear($('billing-facts')), b = org.billing || {},
            add = function (k, v) {
                dl.appendChild(el('dt', { text: k }));
                dl.appendChild(el('dd', { text: v }));
            };
        add('Plan', cap(b.tier || org.tier || 'free'));
        if (b.status === 'none') {
            /* no Stripe subscription: free, or a tier the operator gave */
            add('Subscription', (b.tier || org.tier || 'free') === 'free'
                ? 'none' : 'none (this plan was given by the operator)');
        } else if (b.status) {
            add('Status', String(b.status).replace(/_/g, ' '));
        }
        if (b.current_period_end || b.renews_at || b.renewal) {
            add(b.cancel_at_period_end ? 'Ends' : 'Renews',
                date(b.current_period_end || b.renews_at || b.renewal));
        }
        if (b.grace_until) {
            add('Payment grace until', date(b.grace_until));
        }
        $('upgrade').hidden = (b.tier || org.tier) === 'pro'
                              || (b.tier || org.tier) === 'enterprise';
    }

    function checkout(tier, box) {
        box = box || $('billing-status');
        notice(box, 'muted', 'Opening the checkout\u2026');
        api('POST', '/api/organizer/billing/checkout',
            { body: JSON.stringify({ tier: tier || 'pro' }),
              type: 'application/json' })
        .then(function (res) {
            var url = res.body && res.body.url;
            if (res.ok && typeof url === 'string' && /^https?:\/\//.test(url)) {
                notice(box, 'ok', 'Going to the checkout\u2026');
                window.location.assign(url);
                return;
            }
            billingError(box, res);
        });
    }

    function portal() {
        var box = $('billing-status');
        notice(box, 'muted', 'Opening the billing portal\u2026');
        api('POST', '/api/organizer/billing/portal',
            { body: '{}', type: 'application/json' })
        .then(function (res) {
            var url = res.body && res.body.url;
            if (res.ok && typeof url === 'string' && /^https?:\/\//.test(url)) {
                window.location.assign(url);
                return;
            }
            billingError(box, res);
        });
    }

    function billingError(box, res) {
        if (res.status === 404 || res.status === 405) {
            notice(box, 'warn', 'Billing is not available on this server.');
        } else if (res.status === 503) {
            notice(box, 'warn', errorText(res));
        } else if (res.ok) {
            notice(box, 'error', 'The server gave no checkout address.');
        } else {
            showError(box, res, null);
        }
    }

    /* ---- keys */

    function keys(org) {
        var rows = clear($('key-rows'));
        (org.keys || []).forEach(function (k) {
            rows.appendChild(el('tr', {},
                el('td', {}, el('code', { text: 'chk_' + k.prefix })),
                el('td', { text: k.label || '' }),
                el('td', { text: date(k.created_at) }),
                el('td', { text: date(k.last_used_at) }),
                el('td', { text: k.revoked_at ? 'revoked ' + date(k.revoked_at)
                                              : (pageKey.indexOf('chk_' + k.prefix + '_') === 0
                                                 ? 'active (this one)' : 'active') })));
        });
    }

    function rotate() {
        var box = $('rotate-status');
        notice(box, 'muted', 'Rotating\u2026');
        api('POST', '/api/organizer/keys/rotate').then(function (res) {
            var k = res.body && res.body.key;
            if (!res.ok || typeof k !== 'string') {
                showError(box, res, 'Key rotation');
                return;
            }
            pageKey = k;
            keySet(k);
            notice(box, 'ok', 'The old key is revoked; this tab now uses the '
                   + 'new one.');
            $('newkey').textContent = k;
            $('newkey-box').hidden = false;
            $('newkey-done').focus();
            refresh();
        });
    }

    function refresh() {
        return api('GET', '/api/organizer').then(function (res) {
            if (res.ok && res.body) {
                show(res.body);
            } else if (res.status === 401) {
                signOut('Your key was refused: ' + errorText(res));
            }
        });
    }

    /* ---- wiring */

    document.addEventListener('DOMContentLoaded', function () {
        var nk = $('newkey');
        $('newkey-box').insertBefore(CH.copyButton(nk, 'Copy key'),
                                     $('newkey-done'));
        onboarding();
        $('signin').addEventListener('submit', function (ev) {
            var k = $('api-key').value.trim();
            ev.preventDefault();
            if (!/^chk_[0-9a-f]{12}_[0-9a-f]{48}$/.test(k)) {
                $('api-key').setAttribute('aria-invalid', 'true');
                notice($('signin-status'), 'error', 'That does not look like '
                       + 'an organizer key: it is chk_ followed by 12 and '
                       + '48 hexadecimal digits.');
                return;
            }
            $('api-key').removeAttribute('aria-invalid');
            signIn(k, $('signin-status'));
        });
        $('signout').addEventListener('click', function () { signOut(); });
        $('conference').addEventListener('change', function () {
            analytics();
            evaluations();
        });
        $('days').addEventListener('change', analytics);
        $('csv').addEventListener('click', csv);
        $('review-status').addEventListener('change', evaluations);
        $('import-form').addEventListener('submit', upload);
        $('upgrade').addEventListener('click', function () { checkout('pro'); });
        $('portal').addEventListener('click', portal);
        $('rotate').addEventListener('click', rotate);
        $('newkey-done').addEventListener('click', function () {
            $('newkey').textContent = '';
            $('newkey-box').hidden = true;
        });
        if (pageKey) {
            signIn(pageKey, $('signin-status'));
        }
    });
})();
