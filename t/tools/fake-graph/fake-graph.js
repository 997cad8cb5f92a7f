#!/usr/bin/env node
// fake-graph.js — a stand-in for Microsoft Graph and the Microsoft identity
// platform token endpoint, as ../shared/docs/INTEGRATIONS.md §1.6 describes
// them (exact bodies, headers, transactionId de-duplication, fault
// injection, introspection).  Node core only (no npm packages).
//
//   node fake-graph.js PORT [CONFIG_JSON]
//
// CONFIG_JSON (all optional): {"tenant": "...", "client_id": "...",
//   "client_secret": "...", "mailboxes": ["sessions@conf.example.com"],
//   "no_permission": ["..."], "expires_in": 3599}
// Prints "fake-graph listening on PORT" when ready.
//
// Control API:
//   POST /_fake/faults   {"method": "POST", "path": "regex", "times": N,
//                         "status": 429, "headers": {...}, "body": "..."|{...},
//                         "delay_ms": 0, "pass": false}
//                        the next N matching requests get {status, headers,
//                        body} after delay_ms; with "pass": true they are
//                        only delayed and then handled normally.
//   POST /_fake/config   {"expires_in": 2} and the like
//   GET  /_fake/requests, /_fake/events, /_fake/mail, /_fake/stats
//   POST /_fake/reset
'use strict';

const http = require('http');
const crypto = require('crypto');

const port = parseInt(process.argv[2], 10);
const cfg = Object.assign({
    tenant: 'contoso.onmicrosoft.com',
    client_id: '535fb089-9ff3-47b6-9bfb-4f1264799865',
    client_secret: 'fake-secret',
    mailboxes: ['sessions@conf.example.com'],
    no_permission: [],
    expires_in: 3599,
    time_zones: ['UTC', 'W. Europe Standard Time', 'Pacific Standard Time',
                 'GMT Standard Time', 'Eastern Standard Time',
                 'Central Standard Time', 'AUS Eastern Standard Time'],
}, process.argv[3] ? JSON.parse(process.argv[3]) : {});

let state;
function reset() {
    state = {
        tokens: new Map(),       // token -> expiry (ms)
        tokens_issued: 0,
        events: [],              // created events
        byTxn: new Map(),        // mailbox|txn -> event
        mail: [],                // outbound invites / mails
        requests: [],
        faults: [],
        inflight: new Map(),
        peak: new Map(),
    };
}
reset();

const ODATA_CT = 'application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8';

function now() { return new Date(); }
function dateStr(d) { return d.toISOString().replace(/\.\d+Z$/, ''); }

function send(res, status, body, headers, ctx) {
    const h = Object.assign({
        'request-id': ctx.requestId,
        'client-request-id': ctx.clientRequestId,
        'Date': now().toUTCString(),
    }, headers || {});
    let data = '';
    if (body !== undefined && body !== null) {
        data = typeof body === 'string' ? body : JSON.stringify(body);
        if (!h['Content-Type']) h['Content-Type'] = ODATA_CT;
    }
    h['Content-Length'] = Buffer.byteLength(data);
    ctx.entry.status = status;
    res.writeHead(status, h);
    res.end(data);
}

function inner(ctx) {
    return { date: dateStr(now()), 'request-id': ctx.requestId,
             'client-request-id': ctx.clientRequestId };
}

function graphError(res, ctx, status, code, message, headers) {
    send(res, status, { error: { code, message, innerError: inner(ctx) } },
         Object.assign({ 'Content-Type': 'application/json' }, headers || {}), ctx);
}

function tokenError(res, ctx, status, error, code, description) {
    const trace = '00000000-0000-0000-0000-000000000001';
    const corr = '00000000-0000-0000-0000-000000000002';
    send(res, status, {
        error,
        error_description: `AADSTS${code}: ${description}\r\nTrace ID: ${trace}\r\nCorrelation ID: ${corr}\r\nTimestamp: 2026-03-01 12:00:00Z`,
        error_codes: [code],
        timestamp: '2026-03-01 12:00:00Z',
        trace_id: trace,
        correlation_id: corr,
        error_uri: `https://login.microsoftonline.com/error?code=${code}`,
    }, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' }, ctx);
}

function handleToken(req, res, ctx, tenant, body) {
    const form = new URLSearchParams(body);
    let id = form.get('client_id'), secret = form.get('client_secret');
    const auth = req.headers.authorization || '';
    if (auth.startsWith('Basic ')) {
        const [u, p] = Buffer.from(auth.slice(6), 'base64').toString().split(':');
        id = decodeURIComponent(u); secret = decodeURIComponent(p || '');
    }
    if (!form.get('grant_type') || !id || !form.get('scope')) {
        return tokenError(res, ctx, 400, 'invalid_request', 900144,
            "The request body must contain the following parameter: 'grant_type'.");
    }
    if (form.get('grant_type') !== 'client_credentials') {
        return tokenError(res, ctx, 400, 'unsupported_grant_type', 70003,
            'The app requested an unsupported grant type.');
    }
    if (tenant !== cfg.tenant) {
        return tokenError(res, ctx, 400, 'invalid_request', 90002,
            `Tenant '${tenant}' not found.`);
    }
    if (form.get('scope') !== 'https://graph.microsoft.com/.default') {
        return tokenError(res, ctx, 400, 'invalid_scope', 70011,
            `The provided value for the input parameter 'scope' is not valid. The scope ${form.get('scope')} is not valid.`);
    }
    if (id !== cfg.client_id) {
        return tokenError(res, ctx, 400, 'unauthorized_client', 700016,
            `Application with identifier '${id}' was not found in the directory '${tenant}'.`);
    }
    if (secret !== cfg.client_secret) {
        return tokenError(res, ctx, 401, 'invalid_client', 7000215,
            `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${id}'.`);
    }
    const token = 'fake.' + crypto.randomBytes(18).toString('base64url') + '.sig';
    state.tokens.set(token, Date.now() + cfg.expires_in * 1000);
    state.tokens_issued++;
    send(res, 200, { token_type: 'Bearer', expires_in: cfg.expires_in,
                     ext_expires_in: cfg.expires_in, access_token: token },
         { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' }, ctx);
}

function checkAuth(req, res, ctx) {
    const auth = req.headers.authorization || '';
    const m = /^Bearer (.+)$/.exec(auth);
    const exp = m ? state.tokens.get(m[1]) : undefined;
    if (exp === undefined || exp <= Date.now()) {
        graphError(res, ctx, 401, 'InvalidAuthenticationToken',
            m && exp !== undefined ? 'Access token has expired or is not yet valid.'
              : m ? 'CompactToken parsing failed with error code: 80049217'
                  : 'Access token is empty.',
            { 'WWW-Authenticate': 'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"' });
        return false;
    }
    return true;
}

const DT = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,7})?$/;

function fmt7(s) { return s.replace(/(\.\d+)?$/, '.0000000'); }

function handleCreate(req, res, ctx, upn, body) {
    const ct = req.headers['content-type'] || '';
    if (!/^application\/json/i.test(ct)) {
        return graphError(res, ctx, 415, 'UnsupportedMediaType', 'Content-Type must be application/json.');
    }
    let ev;
    try { ev = JSON.parse(body); } catch (e) {
        return graphError(res, ctx, 400, 'BadRequest', 'Unable to read JSON request payload.');
    }
    const mailbox = upn.toLowerCase();
    if (!cfg.mailboxes.map(x => x.toLowerCase()).includes(mailbox)) {
        return graphError(res, ctx, 404, 'ErrorInvalidUser', `The requested user '${upn}' is invalid.`);
    }
    if (cfg.no_permission.map(x => x.toLowerCase()).includes(mailbox)) {
        return graphError(res, ctx, 403, 'ErrorAccessDenied', 'Access is denied. Check credentials and try again.');
    }
    for (const k of ['start', 'end']) {
        const v = ev[k] || {};
        if (!cfg.time_zones.includes(v.timeZone)) {
            return graphError(res, ctx, 400, 'TimeZoneNotSupportedException',
                `A valid TimeZone value must be specified. The following TimeZone value is not supported: '${v.timeZone}'.`);
        }
        if (typeof v.dateTime !== 'string' || !DT.test(v.dateTime)) {
            return graphError(res, ctx, 400, 'ErrorPropertyValidationFailure', 'At least one property failed validation.');
        }
    }
    if (ev.start.timeZone === ev.end.timeZone && ev.end.dateTime <= ev.start.dateTime) {
        return graphError(res, ctx, 400, 'ErrorPropertyValidationFailure', 'At least one property failed validation.');
    }
    if (!Array.isArray(ev.attendees) || ev.attendees.length > 500) {
        return graphError(res, ctx, 400, 'ErrorPropertyValidationFailure', 'At least one property failed validation.');
    }
    const txnKey = ev.transactionId ? mailbox + '|' + String(ev.transactionId).toLowerCase() : null;
    if (txnKey && state.byTxn.has(txnKey)) {
        const orig = state.byTxn.get(txnKey);
        orig._replays++;
        return send(res, 201, publicEvent(orig), {}, ctx);
    }
    const id = 'AAMkAG' + crypto.randomBytes(24).toString('base64').replace(/\//g, '_');
    const created = now().toISOString().replace('Z', '0000Z');
    const e = {
        '@odata.context': `https://graph.microsoft.com/v1.0/$metadata#users('${upn}')/events/$entity`,
        '@odata.etag': 'W/"' + crypto.randomBytes(12).toString('base64') + '"',
        id,
        createdDateTime: created,
        lastModifiedDateTime: created,
        changeKey: crypto.randomBytes(12).toString('base64'),
        categories: [],
        transactionId: ev.transactionId ? String(ev.transactionId).toUpperCase() : undefined,
        originalStartTimeZone: ev.start.timeZone,
        originalEndTimeZone: ev.end.timeZone,
        iCalUId: '040000008200E00074C5B7101A82E00800000000' + crypto.randomBytes(28).toString('hex').toUpperCase(),
        reminderMinutesBeforeStart: 15,
        isReminderOn: true,
        hasAttachments: false,
        hideAttendees: !!ev.hideAttendees,
        subject: ev.subject,
        bodyPreview: ((ev.body || {}).content || '').slice(0, 255),
        importance: 'normal', sensitivity: 'normal', isAllDay: false,
        isCancelled: false, isDraft: false, isOrganizer: true,
        responseRequested: ev.responseRequested !== false,
        seriesMasterId: null, showAs: 'busy', type: 'singleInstance',
        webLink: `https://outlook.office365.com/owa/?itemid=${encodeURIComponent(id)}&exvsurl=1&path=/calendar/item`,
        onlineMeetingUrl: null,
        isOnlineMeeting: !!ev.isOnlineMeeting,
        onlineMeetingProvider: 'unknown', onlineMeeting: null,
        allowNewTimeProposals: ev.allowNewTimeProposals !== false,
        responseStatus: { response: 'organizer', time: '0001-01-01T00:00:00Z' },
        body: { contentType: ((ev.body || {}).contentType || 'text').toLowerCase(), content: (ev.body || {}).content || '' },
        // the fake only converts when both sides are UTC (the module sends UTC)
        start: { dateTime: fmt7(ev.start.dateTime), timeZone: ev.start.timeZone },
        end: { dateTime: fmt7(ev.end.dateTime), timeZone: ev.end.timeZone },
        location: Object.assign({ locationType: 'default', uniqueIdType: 'private' }, ev.location || {}),
        locations: ev.location ? [Object.assign({ locationType: 'default', uniqueIdType: 'unknown' }, ev.location)] : [],
        recurrence: null,
        attendees: ev.attendees.map(a => ({ type: a.type || 'required',
            status: { response: 'none', time: '0001-01-01T00:00:00Z' },
            emailAddress: a.emailAddress })),
        organizer: { emailAddress: { name: 'Sessions', address: upn } },
        _mailbox: mailbox, _replays: 0, _request: ev,
    };
    state.events.push(e);
    if (txnKey) state.byTxn.set(txnKey, e);
    for (const a of ev.attendees) {
        state.mail.push({ kind: 'invite', to: (a.emailAddress || {}).address, event: id, subject: ev.subject });
    }
    send(res, 201, publicEvent(e), {}, ctx);
}

function publicEvent(e) {
    const o = {};
    for (const k of Object.keys(e)) if (!k.startsWith('_') && e[k] !== undefined) o[k] = e[k];
    return o;
}

function handle(req, res, body, ctx) {
    const url = new URL(req.url, 'http://fake');
    const path = url.pathname;
    let m;

    if (path.startsWith('/_fake/')) {
        ctx.entry.control = true;
        if (path === '/_fake/reset' && req.method === 'POST') { reset(); return send(res, 204, null, {}, ctx); }
        if (path === '/_fake/faults' && req.method === 'POST') {
            const f = JSON.parse(body);
            f.times = f.times === undefined ? 1 : f.times;
            state.faults.push(f);
            return send(res, 201, { faults: state.faults.length }, { 'Content-Type': 'application/json' }, ctx);
        }
        if (path === '/_fake/config' && req.method === 'POST') {
            Object.assign(cfg, JSON.parse(body));
            return send(res, 200, cfg, { 'Content-Type': 'application/json' }, ctx);
        }
        if (path === '/_fake/requests') return send(res, 200, state.requests.filter(r => !r.control), { 'Content-Type': 'application/json' }, ctx);
        if (path === '/_fake/events') return send(res, 200, state.events.map(e => Object.assign(publicEvent(e), { _replays: e._replays, _request: e._request })), { 'Content-Type': 'application/json' }, ctx);
        if (path === '/_fake/mail') return send(res, 200, state.mail, { 'Content-Type': 'application/json' }, ctx);
        if (path === '/_fake/stats') return send(res, 200, {
            tokens_issued: state.tokens_issued, events: state.events.length,
            mail: state.mail.length, peak: Object.fromEntries(state.peak),
            faults_left: state.faults.filter(f => f.times > 0).length,
        }, { 'Content-Type': 'application/json' }, ctx);
        return send(res, 404, { error: 'no such control' }, { 'Content-Type': 'application/json' }, ctx);
    }

    if ((m = /^\/([^/]+)\/oauth2\/v2\.0\/token$/.exec(path)) && req.method === 'POST') {
        return handleToken(req, res, ctx, decodeURIComponent(m[1]), body);
    }

    if (!path.startsWith('/v1.0/')) {
        return graphError(res, ctx, 400, 'BadRequest', `Invalid version: ${path}`);
    }

    if (!checkAuth(req, res, ctx)) return;

    if ((m = /^\/v1\.0\/users\/([^/]+)\/(?:calendar\/)?events$/.exec(path)) && req.method === 'POST') {
        return handleCreate(req, res, ctx, decodeURIComponent(m[1]), body);
    }
    if ((m = /^\/v1\.0\/users\/([^/]+)\/events\/([^/]+)(\/cancel)?$/.exec(path))) {
        const e = state.events.find(x => x.id === decodeURIComponent(m[2]));
        if (!e) return graphError(res, ctx, 404, 'ErrorItemNotFound', 'The specified object was not found in the store.');
        if (m[3] && req.method === 'POST') { e.isCancelled = true; return send(res, 202, null, {}, ctx); }
        if (req.method === 'PATCH') { Object.assign(e, JSON.parse(body || '{}')); return send(res, 200, publicEvent(e), {}, ctx); }
        if (req.method === 'DELETE') { state.events.splice(state.events.indexOf(e), 1); return send(res, 204, null, {}, ctx); }
    }
    if ((m = /^\/v1\.0\/users\/([^/]+)\/sendMail$/.exec(path)) && req.method === 'POST') {
        if (/^text\/plain/i.test(req.headers['content-type'] || '')) {
            const raw = body.trim();
            if (!/^[A-Za-z0-9+/=\r\n]+$/.test(raw)) {
                return send(res, 400, { error: { code: 'ErrorMimeContentInvalidBase64String', message: 'Invalid base64 string for MIME content.' } }, { 'Content-Type': 'application/json' }, ctx);
            }
            state.mail.push({ kind: 'mime', mime: Buffer.from(raw, 'base64').toString() });
            return send(res, 202, null, {}, ctx);
        }
        let msg;
        try { msg = JSON.parse(body).message; } catch (e) { msg = null; }
        if (!msg || !Array.isArray(msg.toRecipients)) {
            return graphError(res, ctx, 400, 'ErrorInvalidRecipients', 'At least one recipient is not valid.');
        }
        state.mail.push({ kind: 'mail', to: msg.toRecipients.map(r => r.emailAddress.address),
            attachments: (msg.attachments || []).map(a => Buffer.from(a.contentBytes || '', 'base64').toString()) });
        return send(res, 202, null, {}, ctx);
    }
    return graphError(res, ctx, 400, 'BadRequest', `Resource not found for the segment '${path}'.`);
}

const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', c => chunks.push(c));
    req.on('end', () => {
        const body = Buffer.concat(chunks).toString();
        const ctx = {
            requestId: crypto.randomUUID(),
            clientRequestId: req.headers['client-request-id'] || null,
            entry: { method: req.method, path: req.url, at: Date.now(),
                     client_request_id: req.headers['client-request-id'] || null,
                     authorization: req.headers.authorization ? 'Bearer' : null,
                     traceparent: req.headers.traceparent || null,
                     tracestate: req.headers.tracestate || null,
                     header_names: Object.keys(req.headers),
                     body: req.url.startsWith('/_fake') ? undefined
                           : (req.url.includes('/token') ? '(form)' : body) },
        };
        if (!ctx.clientRequestId) ctx.clientRequestId = ctx.requestId;
        state.requests.push(ctx.entry);

        const mbox = (/^\/v1\.0\/users\/([^/]+)\//.exec(req.url) || [])[1];
        if (mbox) {
            const n = (state.inflight.get(mbox) || 0) + 1;
            state.inflight.set(mbox, n);
            state.peak.set(mbox, Math.max(n, state.peak.get(mbox) || 0));
            res.on('close', () => state.inflight.set(mbox, state.inflight.get(mbox) - 1));
        }

        let fault = null;
        if (!req.url.startsWith('/_fake/')) {
            fault = state.faults.find(f => f.times > 0
                && (!f.method || f.method === req.method)
                && (!f.path || new RegExp(f.path).test(req.url)));
            if (fault) fault.times--;
        }
        const go = () => {
            if (res.destroyed) { ctx.entry.status = 'gone'; if (!fault || !fault.pass) return; }
            if (fault && !fault.pass) {
                ctx.entry.fault = true;
                let b = fault.body;
                if (b && typeof b === 'object') {
                    b = JSON.parse(JSON.stringify(b).replace(/"@REQUEST_ID@"/g, JSON.stringify(ctx.requestId)));
                }
                return send(res, fault.status, b === undefined ? null : b, fault.headers || {}, ctx);
            }
            handle(req, res, body, ctx);
        };
        if (fault && fault.delay_ms) setTimeout(go, fault.delay_ms); else go();
    });
});
server.keepAliveTimeout = 30000;
server.listen(port, '127.0.0.1', () => console.log(`fake-graph listening on ${port}`));
process.on('SIGTERM', () => process.exit(0));
