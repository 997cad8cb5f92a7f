#!/usr/bin/env node
// fake-otlp.js — a stand-in for an OpenTelemetry collector's OTLP/HTTP
// receiver (POST /v1/traces, POST /v1/metrics).  Every export request is
// decoded with
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
//   GET  /_fake/stats   {requests, decoded, errors, content_types, spans,
//                       metric_exports, connections (that carried an
//                       export), hangups}
//   GET  /_fake/metrics {exports (count), pids (the resource's process.pid
//                       of every export, distinct), resource (the last's),
//                       metrics (the last export's): [{name, description,
//                       unit, type: sum|gauge|histogram, monotonic,
//                       temporality, points: [{attributes, start, time,
//                       value | count, sum, bucket_counts,
//                       explicit_bounds}]}]}
//   POST /_fake/mode    {"status": 503, "delay_ms": 3000}: how the next
//                       export requests are answered (status 200 = normal);
//                       "close": true answers with Connection: close;
//                       "hangup": N closes the connection of the next N
//                       export requests without an answer (nothing kept);
//                       "keepalive_ms": N closes idle connections after N ms
//   POST /_fake/reset
'use strict';

const http = require('http');
const path = require('path');

const root = require(path.join(__dirname, 'node_modules', '@opentelemetry',
    'otlp-transformer', 'build', 'src', 'generated', 'root.js'));
const v1 = root.opentelemetry.proto.collector.trace.v1;
const m1 = root.opentelemetry.proto.collector.metrics.v1;

const port = parseInt(process.argv[2], 10);

let state;
function reset() {
    state = { spans: [], requests: 0, decoded: 0, errors: [],
              content_types: {}, mode: { status: 200, delay_ms: 0 },
              connections: 0, hangups: 0,
              metric_exports: 0, pids: {}, metrics: [], resource: {} };
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

const str = v => (v === null || v === undefined) ? null : v.toString();

function point(p, type) {
    const o = { attributes: attrs(p.attributes),
                start: str(p.startTimeUnixNano), time: str(p.timeUnixNano) };
    if (type === 'histogram') {
        o.count = Number(str(p.count));
        o.sum = p.sum;
        o.bucket_counts = (p.bucketCounts || []).map(b => Number(str(b)));
        o.explicit_bounds = p.explicitBounds || [];
    } else if (p.value === 'asInt') {
        o.value = Number(str(p.asInt));
    } else if (p.value === 'asDouble') {
        o.value = p.asDouble;
    } else {
        o.value = null;
    }
    return o;
}

function recordMetrics(req) {
    state.metric_exports++;
    const out = [];
    for (const rm of req.resourceMetrics || []) {
        const resource = attrs(rm.resource && rm.resource.attributes);
        state.resource = resource;
        state.pids[resource['process.pid']] = 1;
        for (const sm of rm.scopeMetrics || []) {
            for (const m of sm.metrics || []) {
                const o = { name: m.name, description: m.description,
                            unit: m.unit, type: m.data, points: [] };
                const d = m[m.data];
                if (m.data === 'sum') {
                    o.monotonic = !!d.isMonotonic;
                    o.temporality = d.aggregationTemporality;
                } else if (m.data === 'histogram') {
                    o.temporality = d.aggregationTemporality;
                }
                for (const p of (d && d.dataPoints) || []) o.points.push(point(p, m.data));
                out.push(o);
            }
        }
    }
    state.metrics = out;
}

function send(res, status, body, type, close) {
    const h = { 'Content-Type': type || 'application/json' };
    if (close) h.Connection = 'close';
    res.writeHead(status, h);
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
            content_types: state.content_types, spans: state.spans.length,
            metric_exports: state.metric_exports,
            connections: state.connections, hangups: state.hangups }));
        if (req.url === '/_fake/metrics') return send(res, 200, JSON.stringify({
            exports: state.metric_exports, pids: Object.keys(state.pids),
            resource: state.resource, metrics: state.metrics }));
        if (req.url === '/_fake/reset') { reset(); return send(res, 200, '{}'); }
        if (req.url === '/_fake/mode') {
            Object.assign(state.mode, JSON.parse(body.toString() || '{}'));
            if (state.mode.keepalive_ms) server.keepAliveTimeout = state.mode.keepalive_ms;
            return send(res, 200, JSON.stringify(state.mode));
        }
        const kind = req.url === '/v1/traces' ? v1.ExportTraceServiceRequest
                   : req.url === '/v1/metrics' ? m1.ExportMetricsServiceRequest
                   : null;
        if (req.method !== 'POST' || kind === null) {
            return send(res, 404, '{}');
        }

        if (!req.socket.carried_export) {
            req.socket.carried_export = true;
            state.connections++;
        }
        if (state.mode.hangup > 0) {
            state.mode.hangup--;
            state.hangups++;
            return req.socket.destroy();
        }

        state.requests++;
        const ct = req.headers['content-type'] || '';
        state.content_types[ct] = (state.content_types[ct] || 0) + 1;

        const mode = Object.assign({}, state.mode);
        setTimeout(() => {
            if (mode.status !== 200) return send(res, mode.status, '{}', null, mode.close);
            let decoded;
            try {
                if (ct !== 'application/x-protobuf') throw new Error('content type ' + ct);
                decoded = kind.decode(body);
                const err = kind.verify(decoded);
                if (err) throw new Error(err);
            } catch (e) {
                state.errors.push(String(e && e.message || e));
                return send(res, 400, '{}', null, mode.close);
            }
            state.decoded++;
            const resp = kind === v1.ExportTraceServiceRequest
                ? v1.ExportTraceServiceResponse : m1.ExportMetricsServiceResponse;
            if (kind === v1.ExportTraceServiceRequest) record(decoded);
            else recordMetrics(decoded);
            const out = resp.encode(resp.create({})).finish();
            send(res, 200, Buffer.from(out), 'application/x-protobuf', mode.close);
        }, mode.delay_ms || 0);
    });
});

server.listen(port, '127.0.0.1', () => {
    console.log(`fake-otlp listening on ${port}`);
});
