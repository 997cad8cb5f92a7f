#!/usr/bin/env python3
"""t/fuzz/seeds.py — writes the seed corpus t/fuzz/corpus/<target>/.

Real messages for every MCP method (each wire), REST request heads for
every route, Mcp-* headers with base64, Last-Event-ID and session ids.
Run it again after changing it; the files are committed.  Inputs that
once crashed a target live in t/fuzz/corpus/<target>/crash-* and stay.
"""
import base64
import hashlib
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")

MODERN = "2026-07-28"
META = {"io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {}}
SID = "0123456789abcdef0123456789abcdef"      # harness_zone.c: 2025-06-18
SID_OLD = "fedcba9876543210fedcba9876543210"  # 2024-11-05


def rpc(method, params=None, id=1):
    m = {"jsonrpc": "2.0", "id": id, "method": method}
    if params is not None:
        m["params"] = params
    return m


def messages():
    """(method, params) of every method, with typical and odd params."""
    init = {"protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "fuzz", "version": "1.0"}}
    return [
        ("initialize", init),
        ("initialize", dict(init, protocolVersion="2024-11-05")),
        ("initialize", dict(init, protocolVersion="2025-11-25")),
        ("ping", None),
        ("ping", {}),
        ("server/discover", {}),
        ("tools/list", {}),
        ("tools/list", {"cursor": "abc"}),
        ("tools/call", {"name": "search_sessions",
                        "arguments": {"query": "rust", "limit": 5}}),
        ("tools/call", {"name": "search_sessions",
                        "arguments": {"query": "kubernetes security",
                                      "conference": "scottish-summit-2026",
                                      "track": "Cloud", "level": "advanced",
                                      "limit": 50, "include_past": True,
                                      "speaker": "Ann", "room": "A1",
                                      "day": "2026-06-06",
                                      "starts_after": "09:00",
                                      "starts_before": "17:30",
                                      "language": "en", "offset": 20,
                                      "cursor": "MjA="}}),
        ("tools/call", {"name": "get_session",
                        "arguments": {"session_id": 42}}),
        ("tools/call", {"name": "get_session",
                        "arguments": {"session_id": "42"}}),
        ("tools/call", {"name": "list_conferences", "arguments": {}}),
        ("tools/call", {"name": "list_conferences",
                        "arguments": {"include_past": True}}),
        ("tools/call", {"name": "nope", "arguments": {}}),
        ("tools/call", {"name": 7}),
        ("resources/list", {}),
        ("resources/templates/list", {}),
        ("resources/read", {"uri": "confhaven://conferences/"
                                   "scottish-summit-2026"}),
        ("resources/read", {"uri": "confhaven://sessions/42"}),
        ("resources/read", {"uri": "confhaven://sessions/x%20y"}),
        ("prompts/list", {}),
        ("prompts/get", {"name": "plan_my_day",
                         "arguments": {"conference": "scottish-summit-2026",
                                       "date": "2026-06-06",
                                       "interests": "ai, testing"}}),
        ("completion/complete", {"ref": {"type": "ref/prompt",
                                         "name": "plan_my_day"},
                                 "argument": {"name": "conference",
                                              "value": "sco"}}),
        ("completion/complete", {"ref": {"type": "ref/resource",
                                         "uri": "confhaven://sessions/{id}"},
                                 "argument": {"name": "id", "value": "4"}}),
        ("logging/setLevel", {"level": "debug"}),
        ("logging/setLevel", {"level": "emergency"}),
        ("notifications/initialized", None),
        ("notifications/cancelled", {"requestId": 1, "reason": "x"}),
        ("resources/read", {"uri": "confhaven://sessions/42.ics"}),
        ("resources/read", {"uri": "confhaven://sessions/042.ics"}),
    ]


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def dumps(m):
    return json.dumps(m, separators=(",", ":"))


def mcp_message():
    t = "fuzz_mcp_message"
    for i, (method, params) in enumerate(messages()):
        m = rpc(method, params)
        if method.startswith("notifications/"):
            del m["id"]
        write(t, "%02d-%s" % (i, method.replace("/", "_")), dumps(m))
        p = dict(params or {})
        p["_meta"] = META
        write(t, "%02d-%s-modern" % (i, method.replace("/", "_")),
              dumps(rpc(method, p, id="req-%d" % i)))
    write(t, "batch", dumps([rpc("ping"), rpc("tools/list", {}, 2),
                             {"jsonrpc": "2.0", "method":
                              "notifications/initialized"}]))
    write(t, "response", dumps({"jsonrpc": "2.0", "id": 9, "result": {}}))
    write(t, "bad-jsonrpc", dumps({"jsonrpc": "1.0", "id": 1,
                                   "method": "ping"}))
    write(t, "bad-params", dumps({"jsonrpc": "2.0", "id": 1,
                                  "method": "ping", "params": [1]}))
    write(t, "bad-json", '{"jsonrpc":"2.0","id":1,"method":"pi')
    write(t, "bad-utf8", b'{"jsonrpc":"2.0","id":1,"method":"\xff"}')
    write(t, "traceparent", dumps(rpc("ping", {"_meta": {
        "traceparent":
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}})))


def head(lines, body=""):
    return "\n".join(lines) + "\n\n" + body


def b64(s):
    return "=?base64?" + base64.b64encode(s.encode()).decode() + "?="


def mcp_http():
    """fuzz_mcp_http: METHOD line, headers, empty line, body."""
    t = "fuzz_mcp_http"
    n = 0
    for method, params in messages():
        name = None
        if params and method in ("tools/call", "prompts/get"):
            name = params.get("name")
        elif params and method == "resources/read":
            name = params.get("uri")
        # 2026-07-28: stateless, Mcp-* headers mirror the body
        p = dict(params or {})
        p["_meta"] = META
        m = rpc(method, p, id=n)
        hs = ["POST /mcp", "Host: localhost",
              "Content-Type: application/json",
              "Accept: application/json, text/event-stream",
              "MCP-Protocol-Version: " + MODERN, "Mcp-Method: " + method]
        if isinstance(name, str):
            hs.append("Mcp-Name: " + name)
        args = (params or {}).get("arguments") or {}
        if method == "tools/call" and "conference" in args:
            hs.append("Mcp-Param-Conference: " + b64(args["conference"]))
        write(t, "%02d-modern-%s" % (n, method.replace("/", "_")),
              head(hs, dumps(m)))
        # 2025-06-18 in a session
        m = rpc(method, params, id=n)
        hs = ["POST /mcp", "Host: localhost",
              "Content-Type: application/json",
              "Accept: application/json, text/event-stream",
              "MCP-Protocol-Version: 2025-06-18"]
        if method != "initialize":
            hs.append("Mcp-Session-Id: " + SID)
        write(t, "%02d-session-%s" % (n, method.replace("/", "_")),
              head(hs, dumps(m)))
        n += 1
    write(t, "sse-accept", head(["POST /mcp", "Host: localhost",
                                 "Content-Type: application/json",
                                 "Accept: text/event-stream;q=1, "
                                 "application/json;q=0.5",
                                 "Mcp-Session-Id: " + SID_OLD],
                                dumps(rpc("ping"))))
    write(t, "batch", head(["POST /mcp", "Host: localhost",
                            "Content-Type: application/json",
                            "Accept: application/json",
                            "Mcp-Session-Id: " + SID],
                           dumps([rpc("ping"), rpc("tools/list", {}, 2)])))
    write(t, "delete", head(["DELETE /mcp", "Host: localhost",
                             "Mcp-Session-Id: " + SID]))
    write(t, "delete-unknown", head(["DELETE /mcp", "Host: localhost",
                                     "Mcp-Session-Id: " + "f" * 32]))
    write(t, "get-stream", head(["GET /mcp", "Host: localhost",
                                 "Accept: text/event-stream",
                                 "Mcp-Session-Id: " + SID]))
    write(t, "get-resume", head(["GET /mcp", "Host: localhost",
                                 "Accept: text/event-stream",
                                 "Mcp-Session-Id: " + SID,
                                 "Last-Event-ID: 1-3"]))
    write(t, "origin", head(["POST /mcp", "Host: evil.example:8080",
                             "Origin: http://evil.example",
                             "Content-Type: application/json"],
                            dumps(rpc("ping"))))
    write(t, "b64-bad", head(["POST /mcp", "Host: localhost",
                              "Content-Type: application/json",
                              "MCP-Protocol-Version: " + MODERN,
                              "Mcp-Method: =?base64?dG9vbHMvY2FsbA=?=",
                              "Mcp-Name: =?base64?c2VhcmNoX3Nlc3Npb25z?="],
                             dumps(rpc("tools/call",
                                       {"name": "search_sessions",
                                        "arguments": {"query": "x"},
                                        "_meta": META}))))
    write(t, "b64-int", head(["POST /mcp", "Host: localhost",
                              "Content-Type: application/json",
                              "MCP-Protocol-Version: " + MODERN,
                              "Mcp-Method: tools/call",
                              "Mcp-Name: search_sessions",
                              "Mcp-Param-Conference: 0000000000000000007"],
                             dumps(rpc("tools/call",
                                       {"name": "search_sessions",
                                        "arguments": {"conference": 7},
                                        "_meta": META}))))


def mcp_ids():
    """fuzz_mcp_ids: session id, Last-Event-ID, query string; one a line."""
    t = "fuzz_mcp_ids"
    inst = "a1b2c3d4"
    for i, (sid, lei, args) in enumerate([
            (SID, "1-1", "sessionId=" + SID),
            (SID_OLD, "0-0", "sessionId=" + SID_OLD),
            (SID, "12-345-" + inst, "x=1&sessionId=" + SID),
            (SID, "3-", "sessionId="),
            ("", "-", ""),
            ("x" * 31, "9223372036854775807-1", "sessionId=abc&sessionId=d"),
            ("x" * 33, "1-2-3", "sessionid=" + SID),
            (SID.upper(), "1-2-" + "z" * 40, "a=b"),
            ]):
        write(t, "%02d" % i, "%s\n%s\n%s" % (sid, lei, args))


def rest():
    """fuzz_rest_query: request line, headers, empty line, body."""
    t = "fuzz_rest_query"
    reqs = [
        "GET /health",
        "HEAD /health",
        "GET /api/conferences",
        "GET /api/conferences?include_past=true",
        "GET /api/conferences?include_past=No",
        "GET /api/conferences/scottish-summit-2026",
        "GET /api/conferences/",
        "GET /api/sessions?q=rust",
        "GET /api/sessions?q=kubernetes+security&conference="
        "scottish-summit-2026&track=Cloud&level=advanced&limit=050"
        "&include_past=1",
        "GET /api/sessions?q=%E2%9C%93&speaker=Ann&room=A1&day=2026-06-06"
        "&starts_after=09:00&starts_before=17%3A30&language=en&offset=20"
        "&cursor=MjA%3D",
        "GET /api/sessions?q=%ff",
        "GET /api/sessions?q=a&q=b",
        "GET /api/sessions?limit=99999999999999999999",
        "GET /api/sessions?nope=1",
        "GET /api/sessions?&&q&=x",
        "GET /api/sessions/42",
        "GET /api/sessions/0042",
        "GET /api/sessions/abc",
        "GET /api/swagger.json",
        "GET /api/openapi.json?x=1",
        "DELETE /api/sessions",
        "GET /nope",
        "GET /api/sessions/42.ics",
        "HEAD /api/sessions/0.ics",
        "GET /api/sessions/.ics",
        "GET /api/agendas",
        "GET /api/agendas/q4Xv0mT1r8Qw9JdZs3KpL6bY2nHc5GfA7eUiRoWxVtM",
        "GET /api/agendas/q4Xv0mT1r8Qw9JdZs3KpL6bY2nHc5GfA7eUiRoWxVtM.ics",
        "DELETE /api/agendas/a_b-c",
        "PATCH /api/agendas/x",
    ]
    for i, line in enumerate(reqs):
        write(t, "%02d" % i, line + "\n")
    sample = os.path.join(HERE, "..", "..", "sql", "samples",
                          "sessionize-all_global-azure-linz-2024.json")
    body = open(sample).read()[:2000] if os.path.exists(sample) else "{}"
    write(t, "import", head(["POST /api/admin/conferences/global-azure-linz-"
                             "2024/import?name=Global+Azure+Linz&timezone="
                             "Europe%2FVienna&location=Linz&website="
                             "https%3A%2F%2Fexample.org",
                             "X-API-Key: fuzz-admin-key",
                             "Content-Type: application/json"], body))
    write(t, "import-bearer", head(["POST /api/admin/conferences/x/import"
                                    "?name=X&timezone=UTC",
                                    "Authorization: Bearer fuzz-admin-key",
                                    "Content-Type: text/xml"],
                                   "<schedule/>"))
    write(t, "import-unauth", head(["POST /api/admin/conferences/x/import",
                                    "X-API-Key: wrong"]))
    write(t, "import-type", head(["POST /api/admin/conferences/x/import",
                                  "X-API-Key: fuzz-admin-key",
                                  "Content-Type: text/plain"]))
    write(t, "agenda-post", head(["POST /api/agendas",
                                  "Content-Type: application/json"],
                                 '{"session_ids": [42, "43"]}'))
    write(t, "agenda-put", head(["PUT /api/agendas/abc",
                                 "Content-Type: application/json"],
                                '{"session_ids": []}'))


def stripe_webhook():
    """fuzz_stripe_webhook: header line ({t}, {old}, {sig} filled in by the
    target), the answers line (seen|new, Stripe's status), the body."""
    t = "fuzz_stripe_webhook"

    def ev(type_, obj, id_="evt_1", created=1767225600):
        return dumps({"id": id_, "object": "event", "type": type_,
                      "created": created, "data": {"object": obj}})

    sub = {"id": "sub_1", "object": "subscription", "status": "active",
           "customer": "cus_1", "current_period_end": 1769904000,
           "cancel_at_period_end": False,
           "metadata": {"organizer_id": "7"},
           "items": {"data": [{"price": {"id": "price_pro",
                                         "lookup_key": "pro_monthly"}}]}}
    good = "t={t},v1={sig}"
    cases = {
        "checkout-new": (good, "new 200", ev(
            "checkout.session.completed",
            {"id": "cs_1", "object": "checkout.session",
             "client_reference_id": "7", "customer": "cus_1",
             "subscription": "sub_1"})),
        "sub-updated": (good, "new 200",
                        ev("customer.subscription.updated", sub)),
        "sub-deleted-404": (good, "new 404",
                            ev("customer.subscription.deleted", sub)),
        "sub-created-429": (good, "new 429",
                            ev("customer.subscription.created", sub)),
        "invoice-failed-500": (good, "new 500", ev(
            "invoice.payment_failed",
            {"id": "in_1", "object": "invoice", "customer": "cus_1",
             "parent": {"subscription_details": {
                 "subscription": "sub_1",
                 "metadata": {"organizer_id": "7"}}}})),
        "invoice-paid-old": (good, "new 200", ev(
            "invoice.paid", {"id": "in_2", "object": "invoice",
                             "customer": {"id": "cus_1"},
                             "subscription": {"id": "sub_1"}})),
        "checkout-no-sub": (good, "new 200", ev(
            "checkout.session.completed",
            {"id": "cs_2", "object": "checkout.session", "customer": "cus_2"})),
        "duplicate": (good, "seen 200",
                      ev("customer.subscription.updated", sub)),
        "unknown-type": (good, "new 200",
                         ev("payment_intent.created", {"id": "pi_1"})),
        "wrong-sig": ("t={t},v1=" + "0" * 64, "new 200",
                      ev("customer.subscription.updated", sub)),
        "stale": ("t={old},v1={sig}", "new 200",
                  ev("customer.subscription.updated", sub)),
        "multi-v1": ("t={t},v1=" + "ab" * 32 + ",v1={sig},v0=deadbeef",
                     "new 200", ev("customer.subscription.updated", sub)),
        "many-v1": ("t={t}," + ",".join(["v1=" + "cd" * 32] * 12)
                    + ",v1={sig}", "new 200",
                    ev("customer.subscription.updated", sub)),
        "spaces": (" t={t}, v1={sig} ,", "new 200",
                   ev("customer.subscription.updated", sub)),
        "garbage": ("garbage,==,t=,v1=,,", "new 200", ev("x", {})),
        "no-header": ("-", "new 200", ev("x", {})),
        "no-t": ("v1={sig}", "new 200", ev("x", {})),
        "t-not-number": ("t=12ab,v1={sig}", "new 200", ev("x", {})),
        "t-huge": ("t=99999999999999999999,v1={sig}", "new 200",
                   ev("x", {})),
        "huge-header": ("t={t},v1={sig}," + "v0=" + "f" * 5000, "new 200",
                        ev("x", {})),
        "dup-keys": (good, "new 200",
                     '{"id":"evt_a","id":"evt_b","type":"invoice.paid",'
                     '"type":"customer.subscription.updated",'
                     '"data":{"object":{"id":"sub_1"},"object":[]}}'),
        "deep": (good, "new 200",
                 '{"id":"evt_d","type":"customer.subscription.updated",'
                 '"data":{"object":' + "[" * 3000 + "]" * 3000 + "}}"),
        "deep-object": (good, "new 200",
                        '{"id":"evt_d","type":"customer.subscription.updated",'
                        '"data":{"object":{"items":{"data":[{"price":'
                        + '{"a":' * 1000 + "1" + "}" * 1000 + "}]}}}}"),
        "not-json": (good, "new 200", "not json at all"),
        "empty-body": (good, "new 200", ""),
        "array-body": (good, "new 200", "[1,2,3]"),
        "long-id": (good, "new 200", ev("x", {}, id_="evt_" + "x" * 300)),
        "wrong-types": (good, "new 200",
                        '{"id":17,"type":["a"],"created":"soon",'
                        '"data":"object"}'),
        "created-huge": (good, "new 200",
                         ev("customer.subscription.updated", sub,
                            created=2 ** 62)),
    }
    for name, (h, mode, body) in cases.items():
        write(t, name, (h + "\n" + mode + "\n").encode() + (
            body if isinstance(body, bytes) else body.encode()))
    # invalid UTF-8, a NUL, an escaped NUL: bytes, not text
    write(t, "bad-utf8", b"t={t},v1={sig}\nnew 200\n"
          b'{"id":"evt_\xff\xfe","type":"invoice.paid",'
          b'"data":{"object":{"customer":"cus_\xc3("}}}')
    write(t, "nul-body", b"t={t},v1={sig}\nnew 200\n"
          b'{"id":"evt_n","type":"x"}\x00{"more":1}')
    write(t, "escaped-nul", b"t={t},v1={sig}\nnew 200\n"
          b'{"id":"evt_\\u0000n","type":"invoice.paid","data":{}}')
    write(t, "overlong-utf8", b"t={t},v1={sig}\nnew 200\n"
          b'{"id":"evt_\xc0\xaf","type":"x","data":{}}')


def main():
    mcp_message()
    mcp_http()
    mcp_ids()
    rest()
    stripe_webhook()
    return 0


if __name__ == "__main__":
    sys.exit(main())
