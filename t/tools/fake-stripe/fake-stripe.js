#!/usr/bin/env node
// fake-stripe.js — a stand-in for the Stripe API as
// ../shared/docs/INTEGRATIONS.md §3 describes it (§3.9 is the checklist):
// form-encoded requests with bracket paths, Bearer/Basic auth, the
// Stripe-Version header, idempotency replay, Stripe's error envelopes,
// Checkout Sessions, customers, portal sessions, subscriptions, events,
// fault injection (429, 5xx, slow answers), and webhooks it SENDS, signed
// with the official `stripe` package's generateTestHeaderString (checked
// at start against the test vector of §3.5 and against constructEvent).
//
//   node fake-stripe.js PORT CONFIG_JSON
//
// CONFIG_JSON: {"api_keys": ["sk_test_..."], "webhook_url": "http://...",
//   "webhook_secret": "whsec_...", "prices": {"price_pro_monthly":
//   {"lookup_key": "pro_monthly", "product": "prod_pro", "amount": 2900}}}
//
// Control API (test-only):
//   POST /_fake/config {"delivery": "in_order" | "reverse" | "duplicate_each"
//        | "stale_timestamp" | "bad_signature" | "rotated_secrets"
//        | "with_v0" | "hold", "api_version": "2025-03-31.basil" |
//        "2024-06-20", "portal_configured": true}
//   POST /_fake/faults {"method", "path": "regex", "times": N, "status",
//        "headers": {}, "body": {} | "preset", "delay_ms", "pass": false}
//        presets: rate_limit, lock_timeout, api_error, unavailable,
//        portal_not_configured
//   POST /_fake/checkout/{cs}/complete {"outcome": "paid" | "trial"}
//   POST /_fake/subscriptions/{id}/update {"price", "status",
//        "cancel_at_period_end"}
//   POST /_fake/subscriptions/{id}/cancel | fail_payment | recover
//   POST /_fake/events/{id}/redeliver {"delivery": ...}
//   POST /_fake/send {"event": {...} | "type": "...", "delivery": ...,
//        "count": N, "concurrency": C}     signed and sent (a storm)
//   POST /_fake/sign {"payload", "secret", "timestamp"} -> {"header"}
//   GET  /_fake/requests, /_fake/deliveries, /_fake/events, /_fake/stats
//   POST /_fake/reset
// Events made by the control routes are returned in their answers
// ({"events": [ids]}); with delivery "hold" they are only stored.
//
// Hosted pages (for a browser test): with "hosted_url" in CONFIG_JSON
// (this fake's own http://127.0.0.1:PORT), Checkout Session and portal
// URLs point here instead of checkout.stripe.com / billing.stripe.com:
//   GET  /c/pay/{cs}           a minimal "checkout" page (Pay, Cancel)
//   POST /c/pay/{cs}/complete  completes it as /_fake/checkout/{cs}/complete
//        does (the signed webhooks are delivered first), then 303 to
//        the session's success_url ({CHECKOUT_SESSION_ID} filled in)
//   GET  /p/session/{id}       a minimal portal page linking return_url
'use strict';

const http = require('http');
const crypto = require('crypto');
const Stripe = require('stripe');

const port = parseInt(process.argv[2], 10);
const cfg = Object.assign({
    api_keys: ['sk_test_confhaven_fake'],
    webhook_url: null,
    webhook_secret: 'whsec_confhaven_test',
    old_secret: 'whsec_confhaven_old',
    prices: {
        price_pro_monthly: { lookup_key: 'pro_monthly', product: 'prod_pro',
                             amount: 2900 },
        price_enterprise_monthly: { lookup_key: 'enterprise_monthly',
                                    product: 'prod_enterprise',
                                    amount: 29900 },
    },
}, process.argv[3] ? JSON.parse(process.argv[3]) : {});

const stripe = Stripe('sk_test_signing_only');

// the signature helper must agree with the documented test vector
(function selfCheck() {
    const payload = '{"id":"evt_test_webhook","object":"event","type":"customer.subscription.updated"}';
    const h = stripe.webhooks.generateTestHeaderString({
        payload, secret: 'whsec_test_secret', timestamp: 1700000000 });
    const want = 't=1700000000,v1=e2a326dfa8617f257978d00f4570357940592ecdef3d46afee7a9fc51607e32a';
    const mine = crypto.createHmac('sha256', 'whsec_test_secret')
        .update('1700000000.' + payload).digest('hex');
    if (h !== want || !want.endsWith(mine)) {
        console.error('fake-stripe: the stripe package signs differently: ' + h);
        process.exit(1);
    }
    stripe.webhooks.constructEvent(payload, h, 'whsec_test_secret', 1e10);
})();

let state;
function reset() {
    state = {
        seq: 0,
        customers: new Map(),
        sessions: new Map(),
        portal: new Map(),
        subs: new Map(),
        invoices: new Map(),
        events: new Map(),
        eventOrder: [],
        idem: new Map(),
        inflight: new Set(),
        requests: [],
        deliveries: [],
        faults: [],
        delivery: 'in_order',
        api_version: '2025-03-31.basil',
        portal_configured: true,
        clock: Math.floor(Date.now() / 1000),
        sending: 0,
    };
}
reset();

function id(prefix) {
    state.seq++;
    return prefix + '_fake_' + String(state.seq).padStart(6, '0') + '_'
        + crypto.randomBytes(4).toString('hex');
}
function nowS() {
    // strictly increasing "created": one second resolution like Stripe's,
    // but never two events of one object with the same second
    const t = Math.floor(Date.now() / 1000);
    state.clock = Math.max(state.clock + 1, t);
    return state.clock;
}

// ------------------------------------------------------------- the wire

// "a%5Bb%5D%5B0%5D=1&a[c]=2" -> {a: {b: {0: "1"}, c: "2"}}
function parseForm(text) {
    const out = {};
    const flat = [];
    if (!text) return { obj: out, flat };
    for (const part of text.split('&')) {
        if (part === '') continue;
        const eq = part.indexOf('=');
        const rawK = eq < 0 ? part : part.slice(0, eq);
        const rawV = eq < 0 ? '' : part.slice(eq + 1);
        const k = decodeURIComponent(rawK.replace(/\+/g, ' '));
        const v = decodeURIComponent(rawV.replace(/\+/g, ' '));
        flat.push([k, v]);
        const m = /^([^\[\]]+)((?:\[[^\[\]]*\])*)$/.exec(k);
        if (!m) throw new Error('bad key ' + k);
        const path = [m[1]];
        if (m[2]) for (const seg of m[2].match(/\[([^\[\]]*)\]/g)) path.push(seg.slice(1, -1));
        let o = out;
        for (let i = 0; i < path.length - 1; i++) {
            if (typeof o[path[i]] !== 'object') o[path[i]] = {};
            o = o[path[i]];
        }
        o[path[path.length - 1]] = v;
    }
    return { obj: out, flat };
}

function canonical(flat) {
    return flat.map(([k, v]) => k + '=' + v).sort().join('&');
}

function err(status, e, headers) {
    return { status, body: { error: e }, headers: headers || {} };
}
const E = {
    noKey: () => err(401, { message: "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, or we can help at https://support.stripe.com/.", type: 'invalid_request_error' }),
    badKey: (k) => err(401, { message: 'Invalid API Key provided: ' + k.slice(0, 8) + '*'.repeat(Math.max(0, k.length - 12)) + k.slice(-4), type: 'invalid_request_error' }),
    missing: (p) => err(400, { code: 'parameter_missing', doc_url: 'https://stripe.com/docs/error-codes/parameter-missing', message: 'Missing required param: ' + p + '.', param: p, type: 'invalid_request_error' }),
    empty: (p) => err(400, { code: 'parameter_invalid_empty', doc_url: 'https://stripe.com/docs/error-codes/parameter-invalid-empty', message: "You passed an empty string for '" + p + "'. We assume empty values are an attempt to unset a parameter; however '" + p + "' cannot be unset. You should remove '" + p + "' from your request or supply a non-empty value.", param: p, type: 'invalid_request_error' }),
    invalid: (p, msg) => err(400, { code: 'parameter_invalid', message: msg, param: p, type: 'invalid_request_error' }),
    noSuch: (what, v, param, status) => err(status || 400, { code: 'resource_missing', doc_url: 'https://stripe.com/docs/error-codes/resource-missing', message: 'No such ' + what + ": '" + v + "'", param, type: 'invalid_request_error' }),
    route: (m, p) => err(404, { message: 'Unrecognized request URL (' + m + ': ' + p + ').', type: 'invalid_request_error' }),
    idem: (k) => err(400, { message: "Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '" + k + "' if you meant to execute a different request.", type: 'idempotency_error' }),
    inUse: () => err(409, { code: 'idempotency_key_in_use', message: 'There is currently another in-progress request using this idempotency key. Retry after a short delay.', type: 'invalid_request_error' }),
    version: (v) => err(400, { message: 'Invalid Stripe API version: ' + v, type: 'invalid_request_error' }),
    portal: () => err(400, { message: 'You can\u2019t create a portal session in test mode until you save your customer portal settings in test mode at https://dashboard.stripe.com/test/settings/billing/portal.', type: 'invalid_request_error' }),
};
const PRESETS = {
    rate_limit: { status: 429, headers: { 'Stripe-Rate-Limited-Reason': 'global-rate' }, body: { error: { code: 'rate_limit', message: 'Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.', type: 'invalid_request_error' } } },
    lock_timeout: { status: 429, body: { error: { code: 'lock_timeout', message: 'This object cannot be accessed right now because another API request or Stripe process is currently accessing it. If you see this error intermittently, retry the request. If you see this error frequently and are making multiple concurrent requests to a single object, make your requests serially or at a lower rate.', type: 'invalid_request_error' } } },
    api_error: { status: 500, headers: { 'Stripe-Should-Retry': 'true' }, body: { error: { message: 'An unknown error occurred', type: 'api_error' } } },
    portal_not_configured: { status: 400, body: E.portal().body },
    unavailable: { status: 503, body: { error: { message: 'Service unavailable', type: 'api_error' } } },
};

// --------------------------------------------------------------- objects

function priceObj(pid) {
    const p = cfg.prices[pid];
    return { id: pid, object: 'price', product: p.product, lookup_key: p.lookup_key,
             recurring: { interval: 'month', interval_count: 1 },
             unit_amount: p.amount, currency: 'usd' };
}

function subView(sub) {
    // the shape of the version asked for (§3.6: fields that moved)
    const item = { id: sub.item_id, object: 'subscription_item', quantity: 1,
                   price: priceObj(sub.price) };
    const s = { id: sub.id, object: 'subscription', customer: sub.customer,
                status: sub.status, cancel_at_period_end: sub.cancel_at_period_end,
                metadata: sub.metadata, created: sub.created,
                items: { object: 'list', has_more: false,
                         url: '/v1/subscription_items?subscription=' + sub.id,
                         data: [item] } };
    if (state.api_version >= '2025-03-31') {
        item.current_period_start = sub.period_start;
        item.current_period_end = sub.period_end;
    } else {
        s.current_period_start = sub.period_start;
        s.current_period_end = sub.period_end;
    }
    if (sub.status === 'canceled') s.ended_at = sub.ended_at;
    return s;
}

function invoiceView(inv) {
    const sub = state.subs.get(inv.subscription);
    const o = { id: inv.id, object: 'invoice', customer: inv.customer,
                status: inv.status, billing_reason: inv.billing_reason,
                attempt_count: inv.attempt_count, amount_due: inv.amount,
                hosted_invoice_url: 'https://invoice.stripe.com/i/' + inv.id };
    if (state.api_version >= '2025-03-31') {
        o.parent = { type: 'subscription_details',
                     subscription_details: { subscription: inv.subscription,
                                             metadata: sub ? sub.metadata : {} } };
    } else {
        o.subscription = inv.subscription;
        o.paid = inv.status === 'paid';
    }
    return o;
}

function makeEvent(type, object, previous) {
    const ev = { id: id('evt'), object: 'event', api_version: state.api_version,
                 created: nowS(), livemode: false, pending_webhooks: 1,
                 request: { id: null, idempotency_key: null }, type,
                 data: { object: JSON.parse(JSON.stringify(object)) } };
    if (previous) ev.data.previous_attributes = previous;
    state.events.set(ev.id, ev);
    state.eventOrder.push(ev.id);
    return ev;
}

// ------------------------------------------------------------- webhooks

function signedHeader(payload, mode, t) {
    const timestamp = mode === 'stale_timestamp' ? t - 301 : t;
    let h = stripe.webhooks.generateTestHeaderString({
        payload, secret: cfg.webhook_secret, timestamp });
    if (mode === 'bad_signature') {
        h = stripe.webhooks.generateTestHeaderString({
            payload, secret: 'whsec_not_the_endpoint_secret', timestamp });
    } else if (mode === 'rotated_secrets') {
        const old = stripe.webhooks.generateTestHeaderString({
            payload, secret: cfg.old_secret, timestamp });
        h = 't=' + timestamp + ',' + old.split(',')[1] + ',' + h.split(',')[1];
    } else if (mode === 'with_v0') {
        h += ',v0=' + crypto.randomBytes(32).toString('hex');
    }
    return h;
}

function post(url, payload, header) {
    return new Promise((resolve) => {
        const u = new URL(url);
        const req = http.request({ host: u.hostname, port: u.port, path: u.pathname + u.search,
                                   method: 'POST', agent: keepAlive,
                                   headers: { 'Content-Type': 'application/json; charset=utf-8',
                                              'User-Agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)',
                                              'Stripe-Signature': header,
                                              'Content-Length': Buffer.byteLength(payload) } },
            (res) => {
                let b = '';
                res.on('data', (c) => b += c);
                res.on('end', () => resolve({ status: res.statusCode, body: b }));
            });
        req.on('error', (e) => resolve({ status: 0, body: String(e) }));
        req.setTimeout(30000, () => req.destroy(new Error('timeout')));
        req.end(payload);
    });
}
const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 64 });

async function deliverOne(ev, mode) {
    if (!cfg.webhook_url) return;
    const payload = JSON.stringify(ev, null, 2);   // Stripe pretty-prints
    state.sending++;
    try {
        for (let attempt = 1; attempt <= 3; attempt++) {
            const t = Math.floor(Date.now() / 1000);
            const header = signedHeader(payload, mode, t);
            const r = await post(cfg.webhook_url, payload, header);
            let answer = null;
            try { answer = JSON.parse(r.body); } catch (e) { /* void */ }
            state.deliveries.push({ event: ev.id, type: ev.type, mode, attempt,
                                    status: r.status, answer, at: Date.now() });
            // a bad signature or stale timestamp is meant to be refused
            if ((r.status >= 200 && r.status < 300) || mode === 'bad_signature'
                || mode === 'stale_timestamp' || r.status === 400) break;
            await new Promise((ok) => setTimeout(ok, 100 * attempt));
        }
    } finally {
        state.sending--;
    }
}

async function deliver(events, mode) {
    mode = mode || state.delivery;
    if (mode === 'hold') return;
    let list = events.slice();
    if (mode === 'reverse') list.reverse();
    for (const ev of list) {
        await deliverOne(ev, mode === 'reverse' ? 'in_order' : mode);
        if (mode === 'duplicate_each') await deliverOne(ev, 'in_order');
    }
}

// ---------------------------------------------------------------- routes

function checkoutCreate(p, key) {
    if (p.mode === undefined) return E.missing('mode');
    if (!['payment', 'setup', 'subscription'].includes(p.mode))
        return E.invalid('mode', 'Invalid mode: must be one of payment, setup, or subscription');
    if (p.success_url === undefined) return E.missing('success_url');
    if (p.success_url === '') return E.empty('success_url');
    const items = p.line_items || {};
    if (!items['0']) return E.missing('line_items');
    const li = items['0'];
    if (li.price === undefined) return E.missing('line_items[0][price]');
    if (li.price === '') return E.empty('line_items[0][price]');
    if (!cfg.prices[li.price]) return E.noSuch('price', li.price, 'line_items[0][price]');
    if (!(parseInt(li.quantity || '0', 10) >= 1))
        return E.invalid('line_items[0][quantity]', 'Quantity must be at least 1.');
    if (p.customer !== undefined && p.customer_email !== undefined)
        return E.invalid('customer', 'You may only specify one of these parameters: customer, customer_email.');
    if (p.customer !== undefined) {
        if (p.customer === '') return E.empty('customer');
        if (!state.customers.has(p.customer)) return E.noSuch('customer', p.customer, 'customer');
    }
    for (const md of [p.metadata, (p.subscription_data || {}).metadata]) {
        if (!md) continue;
        const keys = Object.keys(md);
        if (keys.length > 50) return E.invalid('metadata', 'Invalid metadata: too many keys');
        for (const k of keys) {
            if (k.length > 40) return E.invalid('metadata', 'Invalid metadata: key too long');
            if (String(md[k]).length > 500) return E.invalid('metadata', 'Invalid metadata: value too long');
        }
    }
    const cs = {
        id: 'cs_test_' + crypto.randomBytes(16).toString('hex'), object: 'checkout.session',
        mode: p.mode, status: 'open', payment_status: 'unpaid', url: null,
        client_reference_id: p.client_reference_id || null,
        customer: p.customer || null, customer_email: p.customer_email || null,
        subscription: null, metadata: p.metadata || {},
        success_url: p.success_url, cancel_url: p.cancel_url || null,
        created: nowS(), expires_at: nowS() + 86400, livemode: false,
        currency: 'usd', amount_subtotal: cfg.prices[li.price].amount,
        amount_total: cfg.prices[li.price].amount, ui_mode: 'hosted', invoice: null,
        _price: li.price, _sub_metadata: (p.subscription_data || {}).metadata || {},
    };
    cs.url = cfg.hosted_url ? cfg.hosted_url + '/c/pay/' + cs.id
        : 'https://checkout.stripe.com/c/pay/' + cs.id + '#fidkdWxOYHwnPyd1blpxYHZxWjA0';
    state.sessions.set(cs.id, cs);
    return { status: 200, body: publicSession(cs) };
}

function publicSession(cs) {
    const o = {};
    for (const k of Object.keys(cs)) if (k[0] !== '_') o[k] = cs[k];
    return o;
}

function portalCreate(p) {
    if (p.customer === undefined) return E.missing('customer');
    if (p.customer === '') return E.empty('customer');
    if (!state.customers.has(p.customer)) return E.noSuch('customer', p.customer, 'customer');
    if (!state.portal_configured) return E.portal();
    const s = { id: 'bps_' + crypto.randomBytes(12).toString('hex'), object: 'billing_portal.session',
                configuration: 'bpc_fake', created: nowS(), customer: p.customer,
                livemode: false, locale: null, on_behalf_of: null,
                return_url: p.return_url || null, flow: null };
    s.url = (cfg.hosted_url ? cfg.hosted_url + '/p/session/'
             : 'https://billing.stripe.com/p/session/test_') + s.id;
    state.portal.set(s.id, s);
    return { status: 200, body: s };
}

function subUpdate(sub, p) {
    if (p.cancel_at_period_end !== undefined)
        sub.cancel_at_period_end = p.cancel_at_period_end === 'true';
    if (p.metadata) Object.assign(sub.metadata, p.metadata);
    return { status: 200, body: subView(sub) };
}

function api(method, path, p, key) {
    let m;
    if (method === 'POST' && path === '/v1/checkout/sessions') return checkoutCreate(p, key);
    if (method === 'GET' && (m = /^\/v1\/checkout\/sessions\/([^/]+)$/.exec(path))) {
        const cs = state.sessions.get(m[1]);
        return cs ? { status: 200, body: publicSession(cs) } : E.noSuch('checkout.session', m[1], 'id', 404);
    }
    if (method === 'POST' && path === '/v1/customers') {
        const c = { id: id('cus'), object: 'customer', email: p.email || null,
                    metadata: p.metadata || {}, created: nowS() };
        state.customers.set(c.id, c);
        return { status: 200, body: c };
    }
    if (method === 'GET' && (m = /^\/v1\/customers\/([^/]+)$/.exec(path))) {
        const c = state.customers.get(m[1]);
        return c ? { status: 200, body: c } : E.noSuch('customer', m[1], 'id', 404);
    }
    if (method === 'POST' && path === '/v1/billing_portal/sessions') return portalCreate(p);
    if ((m = /^\/v1\/subscriptions\/([^/]+)$/.exec(path))) {
        const sub = state.subs.get(decodeURIComponent(m[1]));
        if (!sub) return E.noSuch('subscription', decodeURIComponent(m[1]), 'id', 404);
        if (method === 'GET') return { status: 200, body: subView(sub) };
        if (method === 'POST') return subUpdate(sub, p);
    }
    if (method === 'GET' && (m = /^\/v1\/events\/([^/]+)$/.exec(path))) {
        const ev = state.events.get(m[1]);
        return ev ? { status: 200, body: ev } : E.noSuch('event', m[1], 'id', 404);
    }
    return E.route(method, path);
}

// ------------------------------------------------------------ simulation

function completeCheckout(cs, outcome) {
    const evs = [];
    let cus = cs.customer;
    if (!cus) {
        const c = { id: id('cus'), object: 'customer', email: cs.customer_email,
                    metadata: {}, created: nowS() };
        state.customers.set(c.id, c);
        cus = c.id;
        evs.push(makeEvent('customer.created', c));
    }
    const t = nowS();
    const sub = { id: id('sub'), item_id: id('si'), customer: cus, price: cs._price,
                  status: outcome === 'trial' ? 'trialing' : 'active',
                  cancel_at_period_end: false, metadata: Object.assign({}, cs._sub_metadata),
                  created: t, period_start: t, period_end: t + 30 * 86400 };
    state.subs.set(sub.id, sub);
    const inv = { id: id('in'), customer: cus, subscription: sub.id, status: 'paid',
                  billing_reason: 'subscription_create', attempt_count: 1,
                  amount: cfg.prices[sub.price].amount };
    state.invoices.set(inv.id, inv);
    cs.customer = cus;
    cs.subscription = sub.id;
    cs.status = 'complete';
    cs.payment_status = outcome === 'trial' ? 'no_payment_required' : 'paid';
    cs.url = null;
    cs.invoice = inv.id;
    evs.push(makeEvent('customer.subscription.created', subView(sub)));
    evs.push(makeEvent('invoice.paid', invoiceView(inv)));
    evs.push(makeEvent('checkout.session.completed', publicSession(cs)));
    return evs;
}

function updateSub(sub, p) {
    const prev = {};
    if (p.price !== undefined && p.price !== sub.price) {
        prev.items = subView(sub).items;
        sub.price = p.price;
    }
    if (p.status !== undefined && p.status !== sub.status) {
        prev.status = sub.status;
        sub.status = p.status;
    }
    if (p.cancel_at_period_end !== undefined) {
        prev.cancel_at_period_end = sub.cancel_at_period_end;
        sub.cancel_at_period_end = !!p.cancel_at_period_end;
    }
    return makeEvent('customer.subscription.updated', subView(sub), prev);
}

function newInvoice(sub, status) {
    const inv = { id: id('in'), customer: sub.customer, subscription: sub.id, status,
                  billing_reason: 'subscription_cycle', attempt_count: 1,
                  amount: cfg.prices[sub.price].amount };
    state.invoices.set(inv.id, inv);
    return inv;
}

// --------------------------------------------------------- hosted pages

function esc(t) {
    return String(t == null ? '' : t).replace(/[&<>"']/g, (c) =>
        ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

function page(res, status, title, body, headers) {
    const html = '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        + '<meta name="viewport" content="width=device-width, initial-scale=1">'
        + '<title>' + esc(title) + '</title></head><body><main>'
        + '<h1>' + esc(title) + '</h1>' + body + '</main></body></html>\n';
    res.writeHead(status, Object.assign({ 'Content-Type': 'text/html; charset=utf-8',
        'Content-Length': Buffer.byteLength(html),
        'Content-Security-Policy': "default-src 'none'; form-action 'self' http: https:" },
        headers || {}));
    res.end(html);
}

async function hosted(req, res, path) {
    let m;
    if ((m = /^\/c\/pay\/([^/]+)$/.exec(path)) && req.method === 'GET') {
        const cs = state.sessions.get(m[1]);
        if (!cs) return page(res, 404, 'No such checkout', '<p>Unknown session.</p>');
        if (cs.status !== 'open') {
            return page(res, 409, 'Checkout already completed',
                        '<p><a href="' + esc(cs.success_url) + '">Back</a></p>');
        }
        const price = cfg.prices[cs._price];
        return page(res, 200, 'Test checkout',
            '<p>Subscribe to <strong>' + esc(price.product) + '</strong> ('
            + esc(cs._price) + '), USD ' + (price.amount / 100).toFixed(2)
            + ' a month. Test mode: no card is needed.</p>'
            + '<form method="post" action="/c/pay/' + esc(cs.id) + '/complete">'
            + '<button type="submit" id="pay">Pay and subscribe</button></form>'
            + (cs.cancel_url ? '<p><a id="cancel" href="' + esc(cs.cancel_url)
                                + '">Cancel</a></p>' : ''));
    }
    if ((m = /^\/c\/pay\/([^/]+)\/complete$/.exec(path)) && req.method === 'POST') {
        const cs = state.sessions.get(m[1]);
        if (!cs) return page(res, 404, 'No such checkout', '<p>Unknown session.</p>');
        if (cs.status !== 'open') return page(res, 409, 'Checkout already completed', '');
        const evs = completeCheckout(cs, 'paid');
        await deliver(evs);
        const to = cs.success_url.replace('{CHECKOUT_SESSION_ID}', cs.id);
        res.writeHead(303, { Location: to, 'Content-Length': 0 });
        return res.end();
    }
    if ((m = /^\/p\/session\/([^/]+)$/.exec(path)) && req.method === 'GET') {
        const s = state.portal.get(m[1]);
        if (!s) return page(res, 404, 'No such portal session', '<p>Unknown session.</p>');
        return page(res, 200, 'Test billing portal',
            '<p>Customer ' + esc(s.customer) + '.</p>'
            + (s.return_url ? '<p><a id="return" href="' + esc(s.return_url)
                               + '">Return to ConferenceHaven</a></p>' : ''));
    }
    return null;
}

// ------------------------------------------------------------- the server

function send(res, status, body, headers) {
    const b = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(status, Object.assign({ 'Content-Type': 'application/json',
                                          'Content-Length': Buffer.byteLength(b) },
                                        headers || {}));
    res.end(b);
}

function readBody(req) {
    return new Promise((resolve) => {
        let b = '';
        req.setEncoding('utf8');
        req.on('data', (c) => b += c);
        req.on('end', () => resolve(b));
    });
}

function auth(req) {
    const a = req.headers.authorization || '';
    let key = null;
    if (/^Bearer /i.test(a)) key = a.slice(7).trim();
    else if (/^Basic /i.test(a)) key = Buffer.from(a.slice(6), 'base64').toString().split(':')[0];
    if (!key) return { error: E.noKey() };
    if (!cfg.api_keys.includes(key)) return { error: E.badKey(key) };
    return { key };
}

async function control(req, res, path, text) {
    let m;
    const body = text ? JSON.parse(text) : {};
    if (path === '/_fake/reset') { reset(); return send(res, 200, { ok: true }); }
    if (path === '/_fake/config') {
        for (const k of ['delivery', 'api_version', 'portal_configured'])
            if (body[k] !== undefined) state[k] = body[k];
        return send(res, 200, { ok: true });
    }
    if (path === '/_fake/faults') {
        let f = Object.assign({ times: 1 }, body);
        if (typeof f.body === 'string' && PRESETS[f.body]) {
            const p = PRESETS[f.body];
            f = Object.assign({ status: p.status, headers: Object.assign({}, p.headers) },
                              f, { body: p.body });
            f.headers = Object.assign({}, p.headers || {}, body.headers || {});
        }
        f.re = new RegExp(f.path || '.');
        state.faults.push(f);
        return send(res, 200, { ok: true });
    }
    if (path === '/_fake/requests') return send(res, 200, state.requests);
    if (path === '/_fake/deliveries') return send(res, 200, state.deliveries);
    if (path === '/_fake/events') return send(res, 200, state.eventOrder.map((i) => state.events.get(i)));
    if (path === '/_fake/stats') {
        const by = {};
        for (const d of state.deliveries) by[d.status] = (by[d.status] || 0) + 1;
        return send(res, 200, { deliveries: state.deliveries.length, by_status: by,
                                sending: state.sending, requests: state.requests.length });
    }
    if (path === '/_fake/sign') {
        return send(res, 200, { header: stripe.webhooks.generateTestHeaderString({
            payload: body.payload, secret: body.secret || cfg.webhook_secret,
            timestamp: body.timestamp }) });
    }
    if ((m = /^\/_fake\/checkout\/([^/]+)\/complete$/.exec(path))) {
        const cs = state.sessions.get(m[1]);
        if (!cs) return send(res, 404, { error: 'no such session' });
        if (cs.status !== 'open') return send(res, 409, { error: 'session not open' });
        const evs = completeCheckout(cs, body.outcome || 'paid');
        await deliver(evs, body.delivery);
        return send(res, 200, { events: evs.map((e) => e.id), subscription: cs.subscription,
                                customer: cs.customer });
    }
    if ((m = /^\/_fake\/subscriptions\/([^/]+)\/(update|cancel|fail_payment|recover)$/.exec(path))) {
        const sub = state.subs.get(m[1]);
        if (!sub) return send(res, 404, { error: 'no such subscription' });
        const evs = [];
        if (m[2] === 'update') {
            evs.push(updateSub(sub, body));
        } else if (m[2] === 'cancel') {
            sub.status = 'canceled';
            sub.ended_at = nowS();
            evs.push(makeEvent('customer.subscription.deleted', subView(sub)));
        } else if (m[2] === 'fail_payment') {
            const inv = newInvoice(sub, 'open');
            sub.status = 'past_due';
            evs.push(makeEvent('invoice.payment_failed', invoiceView(inv)));
            evs.push(makeEvent('customer.subscription.updated', subView(sub), { status: 'active' }));
        } else {
            const inv = newInvoice(sub, 'paid');
            sub.status = 'active';
            evs.push(makeEvent('invoice.paid', invoiceView(inv)));
            evs.push(makeEvent('customer.subscription.updated', subView(sub), { status: 'past_due' }));
        }
        await deliver(evs, body.delivery);
        return send(res, 200, { events: evs.map((e) => e.id) });
    }
    if ((m = /^\/_fake\/events\/([^/]+)\/redeliver$/.exec(path))) {
        const ev = state.events.get(m[1]);
        if (!ev) return send(res, 404, { error: 'no such event' });
        const before = state.deliveries.length;
        await deliverOne(ev, body.delivery || 'in_order');
        return send(res, 200, { deliveries: state.deliveries.slice(before) });
    }
    if (path === '/_fake/send') {
        // an event of the test's making, or a storm of them
        const count = body.count || 1;
        const evs = [];
        for (let i = 0; i < count; i++) {
            const e = body.event ? JSON.parse(JSON.stringify(body.event))
                : { object: 'event', api_version: state.api_version, livemode: false,
                    pending_webhooks: 1, request: { id: null, idempotency_key: null },
                    type: body.type || 'customer.updated', data: { object: body.object || { id: 'cus_x', object: 'customer' } } };
            if (!e.id || count > 1) e.id = id('evt');
            if (!e.created) e.created = nowS();
            state.events.set(e.id, e);
            state.eventOrder.push(e.id);
            evs.push(e);
        }
        const mode = body.delivery || 'in_order';
        if (body.background) {
            const conc = body.concurrency || 8;
            let next = 0;
            const worker = async () => {
                while (next < evs.length) await deliverOne(evs[next++], mode);
            };
            for (let i = 0; i < conc; i++) worker();
            return send(res, 200, { events: evs.map((e) => e.id), background: true });
        }
        const before = state.deliveries.length;
        await deliver(evs, mode);
        return send(res, 200, { events: evs.map((e) => e.id),
                                deliveries: state.deliveries.slice(before) });
    }
    return send(res, 404, { error: 'no such control route ' + path });
}

const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, 'http://x');
    const path = url.pathname;
    const text = await readBody(req);
    try {
        if (path.startsWith('/_fake/')) return await control(req, res, path, text);
        if (cfg.hosted_url && (path.startsWith('/c/pay/') || path.startsWith('/p/session/'))) {
            if (await hosted(req, res, path) !== null) return;
        }

        const idemKey = req.headers['idempotency-key'];
        const version = req.headers['stripe-version'];
        const rec = { method: req.method, path, query: url.search, body: text,
                      idempotency_key: idemKey || null, stripe_version: version || null,
                      authorization: req.headers.authorization ? 'present' : null,
                      content_type: req.headers['content-type'] || null, at: Date.now(),
                      traceparent: req.headers.traceparent || null, tracestate: req.headers.tracestate || null };
        state.requests.push(rec);

        const headers = { 'Request-Id': 'req_' + crypto.randomBytes(7).toString('hex') };
        if (idemKey) headers['Idempotency-Key'] = idemKey;
        if (version) headers['Stripe-Version'] = version;

        // faults first: they stand for failures before execution begins
        const f = state.faults.find((x) => x.times > 0 && (!x.method || x.method === req.method)
                                           && x.re.test(path));
        if (f) {
            f.times--;
            rec.fault = f.status || 'pass';
            if (f.delay_ms) await new Promise((ok) => setTimeout(ok, f.delay_ms));
            if (!f.pass) {
                return send(res, f.status, f.body || {}, Object.assign(headers, f.headers || {}));
            }
        }

        const a = auth(req);
        if (a.error) return send(res, a.error.status, a.error.body, headers);
        if (version && !/^\d{4}-\d{2}-\d{2}(\.[a-z]+)?$/.test(version)) {
            const e = E.version(version);
            return send(res, e.status, e.body, headers);
        }

        let form;
        try {
            form = parseForm(req.method === 'GET' ? url.search.slice(1) : text);
        } catch (e) {
            const er = E.invalid(null, 'Invalid request: ' + e.message);
            return send(res, er.status, er.body, headers);
        }
        if (req.method === 'POST' && text && !/^application\/x-www-form-urlencoded/.test(req.headers['content-type'] || '')) {
            const er = E.invalid(null, 'Invalid request: the body must be form-encoded');
            return send(res, er.status, er.body, headers);
        }

        let idemSlot = null;
        if (req.method === 'POST' && idemKey) {
            const k = a.key + '\n' + idemKey;
            const canon = req.method + ' ' + path + '\n' + canonical(form.flat);
            const prior = state.idem.get(k);
            if (prior) {
                if (prior.canon !== canon) {
                    const e = E.idem(idemKey);
                    return send(res, e.status, e.body, headers);
                }
                rec.replayed = true;
                return send(res, prior.status, prior.body,
                            Object.assign(headers, { 'Idempotent-Replayed': 'true' }));
            }
            if (state.inflight.has(k)) {
                const e = E.inUse();
                return send(res, e.status, e.body, headers);
            }
            idemSlot = { k, canon };
            state.inflight.add(k);
        }

        const out = api(req.method, path, form.obj, a.key);
        const body = JSON.stringify(out.body);
        if (idemSlot) {
            state.inflight.delete(idemSlot.k);
            // validation failures are not saved (§3.3): they can be retried
            if (out.status === 200) state.idem.set(idemSlot.k, { canon: idemSlot.canon, status: out.status, body });
        }
        rec.status = out.status;
        return send(res, out.status, body, Object.assign(headers, out.headers || {}));
    } catch (e) {
        return send(res, 500, { error: { message: 'fake-stripe: ' + e.stack, type: 'api_error' } });
    }
});

server.keepAliveTimeout = 65000;
server.listen(port, '127.0.0.1', () => console.log('fake-stripe listening on ' + port));
