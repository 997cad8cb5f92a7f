#!/usr/bin/env node
// fake-otlp.js — a stand-in for an OpenTelemetry collector's OTLP/HTTP
// traces receiver (POST /v1/traces).  Every export request is decoded with
// the official OTLP schema (opentelemetry-proto, as generated into
// @opentelemetry/otlp-transformer, pinned in package.json) and its spans
// are kept for the test to read.  A request the schema cannot decode is
// answered 400 and counted.
//
//   node fake-otlp.js PORT
// Prints "fake-otlp listening on PORT" when ready.
//
// Control API:
//   GET  /_fake/spans   every span: {trace_id, span_id, parent_span_id
//                       (hex), name, kind, start, end (ns, strings),
//                       attributes {key: value}, status {code},
//                       resource {key: value}, scope}
//   GET  /_fake/stats   {requests, decoded, errors, content_types, spans}
//   POST /_fake/mode    {"status": 503, "delay_ms": 3000}: how the next
//                       export requests are answered (status 200 = normal)
//   POST /_fake/reset
'use strict';

const http = require('http');
const path = require('path');

const root = require(path.join(__dirname, 'node_modules', '@opentelemetry',
    'otlp-transformer', 'build', 'src', 'generated', 'root.js'));
const v1 = root.opentelemetry.proto.collector.trace.v1;

const port = parseInt(process.argv[2], 10);

let state;
function reset() {
    state = { spans: [], requests: 0, decoded: 0, errors: [],
              content_types: {}, mode: { status: 200, delay_ms: 0 } };
}
reset();

const hex = b => Buffer.from(b || []).toString('hex');

function anyValue(v) {
    if (v === null || v === undefined) return null;
    if (v.stringValue !== null && v.stringValue !== undefined) return v.stringValue;
    if (v.intValue !== null && v.intValue !== undefined) return Number(v.intValue.toString());
    if (v.boolValue !== null && v.boolValue !== undefined) return v.boolValue;
    if (v.doubleValue !== null && v.doubleValue !== undefined) return v.doubleValue;
    return null;
}

function attrs(list) {
    const o = {};
    for (const kv of list || []) o[kv.key] = anyValue(kv.value);
    return o;
}

function record(req) {
    for (const rs of req.resourceSpans || []) {
        const resource = attrs(rs.resource && rs.resource.attributes);
        for (const ss of rs.scopeSpans || []) {
            const scope = ss.scope ? ss.scope.name : null;
            for (const s of ss.spans || []) {
                state.spans.push({
                    trace_id: hex(s.traceId), span_id: hex(s.spanId),
                    parent_span_id: hex(s.parentSpanId),
                    trace_state: s.traceState || '',
                    name: s.name, kind: s.kind,
                    start: s.startTimeUnixNano.toString(),
                    end: s.endTimeUnixNano.toString(),
                    attributes: attrs(s.attributes),
                    dropped_attributes_count: s.droppedAttributesCount || 0,
                    status: { code: s.status ? s.status.code : 0 },
                    resource, scope,
                });
            }
        }
    }
}

function send(res, status, body, type) {
    res.writeHead(status, { 'Content-Type': type || 'application/json' });
    res.end(body);
}

const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', c => chunks.push(c));
    req.on('end', () => {
        const body = Buffer.concat(chunks);
        if (req.url === '/_fake/spans') return send(res, 200, JSON.stringify(state.spans));
        if (req.url === '/_fake/stats') return send(res, 200, JSON.stringify({
            requests: state.requests, decoded: state.decoded, errors: state.errors,
            content_types: state.content_types, spans: state.spans.length }));
        if (req.url === '/_fake/reset') { reset(); return send(res, 200, '{}'); }
        if (req.url === '/_fake/mode') {
            Object.assign(state.mode, JSON.parse(body.toString() || '{}'));
            return send(res, 200, JSON.stringify(state.mode));
        }
        if (req.method !== 'POST' || req.url !== '/v1/traces') {
            return send(res, 404, '{}');
        }

        state.requests++;
        const ct = req.headers['content-type'] || '';
        state.content_types[ct] = (state.content_types[ct] || 0) + 1;

        const mode = Object.assign({}, state.mode);
        setTimeout(() => {
            if (mode.status !== 200) return send(res, mode.status, '{}');
            let decoded;
            try {
                if (ct !== 'application/x-protobuf') throw new Error('content type ' + ct);
                decoded = v1.ExportTraceServiceRequest.decode(body);
                const err = v1.ExportTraceServiceRequest.verify(decoded);
                if (err) throw new Error(err);
            } catch (e) {
                state.errors.push(String(e && e.message || e));
                return send(res, 400, '{}');
            }
            state.decoded++;
            record(decoded);
            const out = v1.ExportTraceServiceResponse.encode(
                v1.ExportTraceServiceResponse.create({})).finish();
            send(res, 200, Buffer.from(out), 'application/x-protobuf');
        }, mode.delay_ms || 0);
    });
});

server.listen(port, '127.0.0.1', () => {
    console.log(`fake-otlp listening on ${port}`);
});
