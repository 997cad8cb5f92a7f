#!/usr/bin/env node
// sdk-interop.mjs — the official TypeScript SDK client against ConferenceHaven.
//
//   node sdk-interop.mjs --base http://127.0.0.1:8000 [--sessions 20]
//                        [--transports sse,http-json,http-sse] [--concurrency 5]
//
// For each transport, --sessions times: connect (initialize), ping,
// tools/list, call every listed tool (list_conferences, search_sessions,
// get_session with an id the search returned), resources/list +
// resources/read of a conference and of a session through the template,
// prompts/list + prompts/get plan_my_day, then close (a DELETE of the
// session for Streamable HTTP).  Transports:
//   sse       SSEClientTransport against <base>/sse (legacy 2024-11-05 wire)
//   http-json StreamableHTTPClientTransport against <base>/mcp, the SDK's own
//             Accept (application/json, text/event-stream): JSON answers
//   http-sse  the same with Accept: text/event-stream, application/json (set
//             by a fetch wrapper): event-stream answers
// Every request carries X-Interop: <transport> and X-Interop-Session: <n>
// so the server's access log can show which worker served what.
//
// Prints one JSON document on stdout: {checks: [{name, ok, passed, total,
// failures: [..]}], stats: {...}}; exit 0 when every check passed.

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => {
    if (a.startsWith('--')) acc.push([a.slice(2), all[i + 1]]);
    return acc;
  }, []));

const base = args.base ?? 'http://127.0.0.1:8000';
const sessions = Number(args.sessions ?? 20);
const concurrency = Number(args.concurrency ?? 5);
const transports = (args.transports ?? 'sse,http-json,http-sse').split(',');
const TOOLS = ['get_session', 'list_conferences', 'search_sessions'];
const SLUG = 'scottish-summit-2026';

const checks = new Map();   // name -> {name, passed, total, failures}
const stats = {};

function record(name, ok, why) {
  let c = checks.get(name);
  if (!c) {
    c = { name, passed: 0, total: 0, failures: [] };
    checks.set(name, c);
  }
  c.total++;
  if (ok) c.passed++;
  else if (c.failures.length < 5) c.failures.push(String(why ?? 'failed'));
}

function fail(msg) { throw new Error(msg); }

// run one step: record its outcome; a throw is a failure with the message
async function step(name, fn) {
  try {
    const r = await fn();
    record(name, true);
    return r;
  } catch (e) {
    record(name, false, e?.stack?.split('\n').slice(0, 3).join(' | ') ?? e);
    return undefined;
  }
}

function textOf(result) {
  return (result?.content ?? []).filter((c) => c.type === 'text').map((c) => c.text).join('\n');
}

function toolOk(result, what) {
  if (!result) fail(`${what}: no result`);
  if (result.isError) fail(`${what}: isError: ${textOf(result)}`);
  if (!Array.isArray(result.content) || result.content.length === 0) fail(`${what}: no content`);
  if (typeof result.structuredContent !== 'object' || result.structuredContent === null) {
    fail(`${what}: no structuredContent`);
  }
  return result.structuredContent;
}

function makeTransport(kind, n, seen) {
  const headers = { 'X-Interop': kind, 'X-Interop-Session': String(n) };

  // watch (and for http-sse, set) what goes over the wire
  const fetchWrap = async (url, init = {}) => {
    const h = new Headers(init.headers ?? {});
    for (const [k, v] of Object.entries(headers)) h.set(k, v);
    const method = (init.method ?? 'GET').toUpperCase();
    if (kind === 'http-sse' && method === 'POST') {
      h.set('Accept', 'text/event-stream, application/json');
    }
    const res = await fetch(url, { ...init, headers: h });
    const ct = (res.headers.get('content-type') ?? '').split(';')[0].trim();
    const key = `${method} ${res.status} ${ct || '-'}`;
    seen[key] = (seen[key] ?? 0) + 1;
    // global counts: a legacy POST's 202 may arrive after its reply came on
    // the stream, i.e. after the session ended
    stats[`${kind} ${key}`] = (stats[`${kind} ${key}`] ?? 0) + 1;
    return res;
  };

  if (kind === 'sse') {
    return new SSEClientTransport(new URL('/sse', base), {
      requestInit: { headers },
      fetch: fetchWrap,
    });
  }
  return new StreamableHTTPClientTransport(new URL('/mcp', base), {
    requestInit: { headers },
    fetch: fetchWrap,
  });
}

async function oneSession(kind, n) {
  const seen = {};
  const transport = makeTransport(kind, n, seen);
  const client = new Client({ name: 'confhaven-sdk-interop', version: '1.0.0' },
                            { capabilities: {} });
  const p = `${kind}: `;
  const errors = [];
  client.onerror = (e) => errors.push(e?.message ?? String(e));

  const connected = await step(`${p}connect (initialize + initialized)`, async () => {
    await client.connect(transport);
    const v = client.getServerVersion();
    if (!v?.name) fail('no serverInfo');
    const caps = client.getServerCapabilities();
    for (const c of ['tools', 'resources', 'prompts']) {
      if (!caps?.[c]) fail(`capability ${c} missing: ${JSON.stringify(caps)}`);
    }
    if (kind !== 'sse' && !transport.sessionId) fail('no Mcp-Session-Id');
    return true;
  });
  if (!connected) {
    try { await client.close(); } catch { /* nothing */ }
    return;
  }

  await step(`${p}ping`, async () => { await client.ping(); });

  const tools = await step(`${p}tools/list`, async () => {
    const r = await client.listTools();
    const names = r.tools.map((t) => t.name).sort();
    for (const t of TOOLS) {
      if (!names.includes(t)) fail(`tool ${t} not listed: ${names.join(', ')}`);
    }
    for (const t of r.tools) {
      if (!t.description || !t.inputSchema || !t.outputSchema) fail(`tool ${t.name} incomplete`);
      // send_calendar_invite mails someone: the one tool that is not read-only
      const writes = t.name === 'send_calendar_invite';
      if (t.annotations?.readOnlyHint !== !writes) fail(`tool ${t.name}: readOnlyHint`);
    }
    return r.tools;
  });

  // the SDK validates structuredContent against each tool's outputSchema
  await step(`${p}tools/call list_conferences`, async () => {
    const sc = toolOk(await client.callTool({ name: 'list_conferences',
                                              arguments: { include_past: true } }),
                      'list_conferences');
    const slugs = JSON.stringify(sc);
    if (!slugs.includes(SLUG)) fail(`${SLUG} not listed`);
  });

  const sessionId = await step(`${p}tools/call search_sessions`, async () => {
    const r = await client.callTool({ name: 'search_sessions',
                                      arguments: { query: 'azure', conference: SLUG,
                                                   include_past: true, limit: 5 } });
    const sc = toolOk(r, 'search_sessions');
    const list = sc.sessions ?? sc.results;
    if (!Array.isArray(list) || list.length === 0) fail(`no sessions: ${textOf(r).slice(0, 200)}`);
    if (!Number.isInteger(list[0].id)) fail(`session without an integer id: ${JSON.stringify(list[0]).slice(0, 200)}`);
    return list[0].id;
  });

  await step(`${p}tools/call get_session`, async () => {
    if (!sessionId) fail('no session id from search_sessions');
    const sc = toolOk(await client.callTool({ name: 'get_session',
                                              arguments: { session_id: sessionId } }),
                      'get_session');
    if (sc.id !== sessionId) fail(`got session ${sc.id}, asked ${sessionId}`);
    if (!sc.title) fail('no title');
  });

  await step(`${p}tools/call every listed tool`, async () => {
    // a tool that appears in tools/list must work: call the others with {}
    // and accept a tool error (isError) but never a protocol error
    for (const t of tools ?? []) {
      if (TOOLS.includes(t.name)) continue;
      await client.callTool({ name: t.name, arguments: {} });
    }
  });

  await step(`${p}tools/call unknown tool: JSON-RPC error`, async () => {
    try {
      await client.callTool({ name: 'no_such_tool', arguments: {} });
    } catch (e) {
      if (e?.code === -32602) return;
      fail(`unexpected error ${e?.code}: ${e?.message}`);
    }
    fail('no error');
  });

  await step(`${p}tools/call bad arguments: tool error`, async () => {
    const r = await client.callTool({ name: 'search_sessions',
                                      arguments: { query: 'x', level: 'Expert' } });
    if (r.isError !== true) fail(`not isError: ${JSON.stringify(r).slice(0, 200)}`);
    if (!textOf(r)) fail('no message for the model');
  });

  await step(`${p}resources/list + read`, async () => {
    const r = await client.listResources();
    const res = r.resources.find((x) => x.uri === `confhaven://conferences/${SLUG}`);
    if (!res) fail(`confhaven://conferences/${SLUG} not listed`);
    const rd = await client.readResource({ uri: res.uri });
    const c = rd.contents?.[0];
    if (c?.uri !== res.uri || typeof c.text !== 'string') fail('bad contents');
    const doc = JSON.parse(c.text);
    if (doc.slug !== SLUG) fail(`read ${doc.slug}`);
  });

  await step(`${p}resources/templates/list + read a session`, async () => {
    const t = await client.listResourceTemplates();
    if (!t.resourceTemplates.some((x) => x.uriTemplate === 'confhaven://sessions/{id}')) {
      fail('no confhaven://sessions/{id} template');
    }
    if (!sessionId) fail('no session id from search_sessions');
    const rd = await client.readResource({ uri: `confhaven://sessions/${sessionId}` });
    const doc = JSON.parse(rd.contents?.[0]?.text ?? 'null');
    if (doc?.id !== sessionId) fail(`read session ${doc?.id}`);
  });

  await step(`${p}resources/read unknown: error`, async () => {
    try {
      await client.readResource({ uri: 'confhaven://conferences/no-such-conference' });
    } catch (e) {
      if (typeof e?.code === 'number') return;
      fail(`unexpected ${e}`);
    }
    fail('no error');
  });

  await step(`${p}prompts/list + get plan_my_day`, async () => {
    const l = await client.listPrompts();
    if (!l.prompts.some((x) => x.name === 'plan_my_day')) fail('plan_my_day not listed');
    const g = await client.getPrompt({ name: 'plan_my_day',
                                       arguments: { conference: SLUG, interests: 'azure, security' } });
    const m = g.messages?.[0];
    if (m?.role !== 'user' || m.content?.type !== 'text' || !m.content.text) fail('no user text message');
    if (!/azure/i.test(m.content.text)) fail('the interests are not in the prompt');
  });

  await step(`${p}completion/complete conference`, async () => {
    const r = await client.complete({ ref: { type: 'ref/prompt', name: 'plan_my_day' },
                                      argument: { name: 'conference', value: 'scot' } });
    if (!r.completion.values.includes(SLUG)) fail(`values ${JSON.stringify(r.completion.values)}`);
  });

  // SDK 1.32 treats a JSON-RPC *error* answered on a POST event stream as
  // "no response" and, after the server's retry (1 s), resumes with a GET +
  // Last-Event-ID; our server ends that resumed stream at once (its answer
  // was delivered), the SDK reconnects without Last-Event-ID, i.e. opens a
  // second standalone GET stream (1 s later), which we refuse with 409.  Give it
  // the time (2 x retry) so the outcome does not depend on the speed.
  if (kind === 'http-sse') await new Promise((r) => setTimeout(r, 2500));

  // (the SDK retries twice, then reports "Maximum reconnection attempts")
  const conflict = (m) => /Failed to (open|reconnect) SSE stream.*Conflict|Maximum reconnection attempts/.test(m);

  // a reply delivered twice or to the wrong stream shows up here ("unknown
  // message ID"), one never delivered as a timeout of its request above
  await step(`${p}no protocol or transport errors`, async () => {
    const other = errors.filter((m) => !conflict(m));
    if (other.length) fail(other.slice(0, 3).join(' | '));
  });

  if (kind === 'http-sse') {
    await step(`${p}no 409 when the SDK resumes after an error answer`, async () => {
      const c = errors.filter(conflict);
      if (c.length) fail(`${c.length} error(s): ${c[0]}`);
    });
  }

  await step(`${p}close`, async () => {
    if (kind !== 'sse') await transport.terminateSession();
    await client.close();
  });

  if (kind !== 'sse') {
    await step(`${p}answers came as ${kind === 'http-sse' ? 'text/event-stream' : 'application/json'}`,
      async () => {
        const want = kind === 'http-sse' ? 'text/event-stream' : 'application/json';
        const other = kind === 'http-sse' ? 'application/json' : 'text/event-stream';
        const got = Object.keys(seen).filter((k) => k.startsWith('POST 200 ')).join(', ');
        if (!Object.keys(seen).some((k) => k === `POST 200 ${want}`)) fail(`no POST answered ${want}: ${got}`);
        if (Object.keys(seen).some((k) => k === `POST 200 ${other}`)) fail(`some POSTs answered ${other}: ${got}`);
      });
  }
}

async function pool(n, worker) {
  let next = 0;
  const runners = Array.from({ length: Math.min(concurrency, n) }, async () => {
    while (next < n) {
      const i = next++;
      await worker(i);
    }
  });
  await Promise.all(runners);
}

const started = Date.now();
for (const kind of transports) {
  const t0 = Date.now();
  await pool(sessions, (i) => oneSession(kind, i));
  stats[`${kind} seconds`] = (Date.now() - t0) / 1000;
}
stats.seconds = (Date.now() - started) / 1000;

const out = [...checks.values()].map((c) => ({ ...c, ok: c.passed === c.total && c.total > 0 }));
process.stdout.write(JSON.stringify({ checks: out, stats }, null, 1) + '\n');
process.exit(out.every((c) => c.ok) ? 0 : 1);
