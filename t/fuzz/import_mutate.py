#!/usr/bin/env python3
"""t/fuzz/import_mutate.py — mutation fuzzing of confhaven.import_schedule().

The three importers are PL/pgSQL (sql/functions/30_import.sql), out of
libFuzzer's reach, so this driver feeds them mutated schedules built from
the real samples (sql/samples/: Sessionize JSON, pretalx JSON, frab XML)
over libpq (ctypes, no Python binding needed) and checks every answer:

  - success, or an error with one of our validation SQLSTATEs (CH400,
    CH422): anything else (XX000, 22xxx, 23xxx, 42xxx ...) is a finding;
  - no hang: statement_timeout (default 30 s) firing (57014) is a finding;
  - no crash: a lost connection is a finding (the backend died);
  - no partial data: after a rejected file the conferences and sessions
    are exactly as before (a fingerprint of both tables).

Mutations are structure-aware (values of other types, empty, huge, odd
dates and times, ids, deleted and duplicated keys and elements, deep
nesting) with some raw byte edits; the samples are first cut to a few
sessions so that one import takes milliseconds, not seconds.

usage: import_mutate.py --dsn DSN [--time S] [--execs N] [--seed N]
                        [--findings DIR]
Exit status 1 when there was a finding (each is saved under --findings).
Inputs that once were findings, t/fuzz/corpus/sql_import/crash-*.json
({"params": [slug, name, timezone, location, website], "body": "..."}),
are replayed first, every run.
"""
import argparse
import copy
import ctypes
import ctypes.util
import json
import os
import random
import sys
import time
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLES = os.path.join(HERE, "..", "..", "sql", "samples")
CLEAN = {"CH400", "CH422"}

# ---------------------------------------------------------------- libpq

_pq = ctypes.CDLL(ctypes.util.find_library("pq") or "libpq.so.5")
_pq.PQconnectdb.restype = ctypes.c_void_p
_pq.PQconnectdb.argtypes = [ctypes.c_char_p]
_pq.PQstatus.argtypes = [ctypes.c_void_p]
_pq.PQerrorMessage.restype = ctypes.c_char_p
_pq.PQerrorMessage.argtypes = [ctypes.c_void_p]
_pq.PQfinish.argtypes = [ctypes.c_void_p]
_pq.PQexec.restype = ctypes.c_void_p
_pq.PQexec.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
_pq.PQexecParams.restype = ctypes.c_void_p
_pq.PQexecParams.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int,
                             ctypes.c_void_p, ctypes.POINTER(ctypes.c_char_p),
                             ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int]
_pq.PQresultStatus.argtypes = [ctypes.c_void_p]
_pq.PQresultErrorField.restype = ctypes.c_char_p
_pq.PQresultErrorField.argtypes = [ctypes.c_void_p, ctypes.c_int]
_pq.PQresultErrorMessage.restype = ctypes.c_char_p
_pq.PQresultErrorMessage.argtypes = [ctypes.c_void_p]
_pq.PQgetvalue.restype = ctypes.c_char_p
_pq.PQgetvalue.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
_pq.PQntuples.argtypes = [ctypes.c_void_p]
_pq.PQclear.argtypes = [ctypes.c_void_p]

CONNECTION_OK = 0
PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_FATAL_ERROR = 1, 2, 7
PG_DIAG_SQLSTATE = ord("C")


class Pg:
    def __init__(self, dsn, timeout_ms):
        self.dsn, self.timeout_ms, self.conn = dsn, timeout_ms, None
        self.connect()

    def connect(self):
        if self.conn:
            _pq.PQfinish(self.conn)
        self.conn = _pq.PQconnectdb(self.dsn.encode())
        if _pq.PQstatus(self.conn) != CONNECTION_OK:
            raise SystemExit("import_mutate: cannot connect: %s"
                             % _pq.PQerrorMessage(self.conn).decode())
        self.query("SET statement_timeout = %d" % self.timeout_ms)
        self.query("SET client_min_messages = warning")

    def alive(self):
        return _pq.PQstatus(self.conn) == CONNECTION_OK

    def query(self, sql, params=()):
        """(status, rows or None, sqlstate, message)"""
        n = len(params)
        arr = (ctypes.c_char_p * max(n, 1))()
        for i, p in enumerate(params):
            arr[i] = None if p is None else p.encode("utf-8",
                                                     "surrogateescape")
        res = _pq.PQexecParams(self.conn, sql.encode(), n, None, arr, None,
                               None, 0)
        if not res:
            return ("nores", None, None,
                    _pq.PQerrorMessage(self.conn).decode("utf-8", "replace"))
        try:
            st = _pq.PQresultStatus(res)
            if st == PGRES_TUPLES_OK:
                rows = [_pq.PQgetvalue(res, i, 0)
                        for i in range(_pq.PQntuples(res))]
                return ("ok", rows, None, None)
            if st == PGRES_COMMAND_OK:
                return ("ok", [], None, None)
            state = _pq.PQresultErrorField(res, PG_DIAG_SQLSTATE)
            msg = _pq.PQresultErrorMessage(res)
            return ("error", None, state.decode() if state else None,
                    msg.decode("utf-8", "replace") if msg else "")
        finally:
            _pq.PQclear(res)


FINGERPRINT = """
SELECT (SELECT count(*) || ':' || coalesce(sum(generation), 0) || ':' ||
               coalesce(md5(string_agg(c::text, '|' ORDER BY id)), '')
          FROM confhaven.conferences c) || '/' ||
       (SELECT count(*) || ':' || coalesce(sum(id), 0) || ':' ||
               coalesce(max(updated_at)::text, '')
          FROM confhaven.sessions)
"""

# ---------------------------------------------------------------- seeds


def shrink_json(v, rnd, keep):
    """arrays cut to at most keep elements (Sessionize keeps cross refs in
    ids, which may then dangle: that is a case worth testing too)"""
    if isinstance(v, list):
        return [shrink_json(x, rnd, keep) for x in v[:keep]]
    if isinstance(v, dict):
        return {k: shrink_json(x, rnd, keep) for k, x in v.items()}
    return v


def shrink_xml(root, keep):
    for parent in root.iter():
        kids = list(parent)
        tags = {}
        for k in kids:
            tags.setdefault(k.tag, []).append(k)
        for tag, same in tags.items():
            if tag in ("event", "room", "day", "person", "link",
                       "attachment") and len(same) > keep:
                for k in same[keep:]:
                    parent.remove(k)
    return root


def load_seeds():
    seeds = []
    with open(os.path.join(SAMPLES, "samples.tsv")) as f:
        header = f.readline().rstrip("\n").split("\t")
        for line in f:
            row = dict(zip(header, line.rstrip("\n").split("\t")))
            path = os.path.join(SAMPLES, row["file"])
            text = open(path, encoding="utf-8").read()
            if row["file"].endswith(".xml"):
                for keep in (1, 3):
                    root = shrink_xml(ET.fromstring(text), keep)
                    seeds.append(("xml", root, row))
            else:
                doc = json.loads(text)
                for keep in (1, 4):
                    seeds.append(("json", shrink_json(doc, None, keep), row))
    return seeds


# ---------------------------------------------------------------- mutations

ODD_STRINGS = [
    "", " ", "\t\n", "null", "0", "-1", "1e999", "NaN", "true", "[]", "{}",
    "2026-13-45T25:61:00", "2026-02-30T10:00:00", "0000-01-01T00:00:00",
    "99999-01-01T00:00:00", "2026-06-06T10:00:00+99:00", "2026-06-06",
    "2026-06-06T10:00:00Z", "10:00", "25:00", "-00:30", "P1D", "01:00:00:00",
    "99999999:00", "yesterday", "infinity", "-infinity", "epoch",
    "Europe/London", "Mars/Olympus", "UTC+5", "<b>x</b>", "<script>",
    "&amp;&lt;", "\u00e9\u4e2d\U0001f600", "\ufeff", "\u202e", "a\u0001b",
    "'; DROP TABLE confhaven.sessions; --", "%s%n", "\\", "\"",
    "x" * 5000, "\u00e9" * 3000,
]
ODD_VALUES = [None, True, False, 0, -1, 1, 2 ** 31, 2 ** 63, -2 ** 63,
              10 ** 30, 1.5, -0.0, 1e308, [], {}, [None], {"": None},
              [[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]


def odd_value(rnd):
    r = rnd.random()
    if r < 0.5:
        return rnd.choice(ODD_STRINGS)
    if r < 0.9:
        return copy.deepcopy(rnd.choice(ODD_VALUES))
    depth = rnd.randint(50, 3000)
    v = 1
    for _ in range(depth):
        v = [v] if rnd.random() < 0.5 else {"a": v}
    return v


def json_nodes(v, path=()):
    yield path, v
    if len(path) > 30:
        return
    if isinstance(v, dict):
        for k, x in v.items():
            yield from json_nodes(x, path + (k,))
    elif isinstance(v, list):
        for i, x in enumerate(v):
            yield from json_nodes(x, path + (i,))


def json_get(doc, path):
    for p in path:
        doc = doc[p]
    return doc


def mutate_json(doc, rnd):
    nodes = list(json_nodes(doc))
    for _ in range(rnd.randint(1, 4)):
        if not nodes:
            break
        path, _v = rnd.choice(nodes)
        if not path:
            continue
        parent = json_get(doc, path[:-1])
        key = path[-1]
        try:
            op = rnd.random()
            if op < 0.55:
                parent[key] = odd_value(rnd)
            elif op < 0.7:
                if isinstance(parent, dict):
                    del parent[key]
                else:
                    parent.pop(key)
            elif op < 0.8 and isinstance(parent, list):
                parent.append(copy.deepcopy(parent[key]))
            elif op < 0.9:
                v = parent[key]
                if isinstance(v, int) and not isinstance(v, bool):
                    parent[key] = str(v)
                elif isinstance(v, str) and v.isdigit():
                    parent[key] = int(v)
                elif isinstance(v, str):
                    parent[key] = v * rnd.randint(2, 50)
            else:
                # another node's value here: types mixed up across places
                _p2, v2 = rnd.choice(nodes)
                parent[key] = copy.deepcopy(v2)
        except (KeyError, IndexError, TypeError):
            pass
        nodes = list(json_nodes(doc))
    return json.dumps(doc, ensure_ascii=rnd.random() < 0.5)


def mutate_xml(root, rnd):
    elems = list(root.iter())
    for _ in range(rnd.randint(1, 4)):
        e = rnd.choice(elems)
        op = rnd.random()
        if op < 0.5:
            v = odd_value(rnd)
            e.text = v if isinstance(v, str) else json.dumps(v)
        elif op < 0.65:
            for parent in root.iter():
                if e in list(parent):
                    parent.remove(e)
                    break
        elif op < 0.75:
            for parent in root.iter():
                if e in list(parent):
                    parent.append(copy.deepcopy(e))
                    break
        elif op < 0.85:
            if e.attrib:
                k = rnd.choice(list(e.attrib))
                v = odd_value(rnd)
                e.set(k, v if isinstance(v, str) else json.dumps(v))
            else:
                e.set("id", rnd.choice(["", "-1", "x", "99999999999999999999"]))
        else:
            e.tail = rnd.choice(ODD_STRINGS)
        elems = list(root.iter())
    try:
        return ET.tostring(root, encoding="unicode")
    except ValueError:
        return "<schedule/>"


def mutate_bytes(text, rnd):
    b = bytearray(text.encode("utf-8", "surrogateescape"))
    for _ in range(rnd.randint(1, 8)):
        if not b:
            break
        i = rnd.randrange(len(b))
        op = rnd.random()
        if op < 0.3:
            b[i] = rnd.randrange(256)
        elif op < 0.5:
            del b[i:i + rnd.randint(1, 64)]
        elif op < 0.7:
            j = rnd.randrange(len(b))
            b[i:i] = b[j:j + rnd.randint(1, 256)]
        elif op < 0.85:
            b[i:i] = rnd.choice([b"\x00", b"\xff", b"\xc3", b"\\u0000",
                                 b"\\ud800", b"&#0;", b"]]>", b"<!--",
                                 b"<!DOCTYPE x [<!ENTITY a \"aaaa\">]>"])
        else:
            del b[i:]
    # the module sends only valid UTF-8 without NUL (400 otherwise, see
    # ngx_http_confhaven_rest_body()): so does this driver
    return bytes(b).replace(b"\x00", b"").decode("utf-8", "replace")


def mutate_params(row, rnd):
    slug = row["slug"]
    name, tz = row["name"], row["timezone"]
    loc, web = row.get("location") or None, row.get("website") or None
    if rnd.random() < 0.15:
        slug = rnd.choice(["", "-x", "A", "a" * 64, "x y", slug + "-2",
                           "\u00e9t\u00e9"])
    if rnd.random() < 0.2:
        name = rnd.choice(["", None, "x" * 3000, "<b>N</b>", "\u00e9\u4e2d"])
    if rnd.random() < 0.2:
        tz = rnd.choice(["", None, "UTC", "Mars/Olympus", "+05:00",
                         "Europe/Londo", "posix/Europe/London", "EST5EDT",
                         "x" * 300])
    if rnd.random() < 0.1:
        loc = rnd.choice(["", "x" * 3000])
    if rnd.random() < 0.1:
        web = rnd.choice(["", "javascript:alert(1)", "x" * 3000])
    return [slug, name, tz, loc, web]


# ---------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dsn", required=True)
    ap.add_argument("--time", type=float, default=300)
    ap.add_argument("--execs", type=int, default=0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--timeout-ms", type=int, default=30000)
    ap.add_argument("--findings", default=".")
    a = ap.parse_args()
    sys.setrecursionlimit(100000)

    rnd = random.Random(a.seed)
    seeds = load_seeds()
    pg = Pg(a.dsn, a.timeout_ms)
    os.makedirs(a.findings, exist_ok=True)

    stats = {"execs": 0, "ok": 0, "findings": 0}
    states = {}
    seen = set()
    slowest = 0.0
    start = time.time()

    def finding(kind, detail, body, params):
        key = (kind, detail[:80])
        stats["findings"] += 1
        if key in seen:
            return
        seen.add(key)
        n = len(seen)
        base = os.path.join(a.findings, "finding-%02d-%s" % (n, kind))
        with open(base + ".body", "w", encoding="utf-8",
                  errors="surrogateescape") as f:
            f.write(body)
        with open(base + ".txt", "w") as f:
            f.write("%s\nparams: %s\n%s\n" % (kind, json.dumps(params),
                                              detail))
        print("FINDING %s: %s (%s)" % (kind, detail.strip()[:300], base),
              file=sys.stderr, flush=True)

    def run(body, params):
        before = pg.query(FINGERPRINT)[1][0]
        t0 = time.time()
        st, rows, state, msg = pg.query(
            "SELECT confhaven.import_schedule($1, $2, $3, $4, $5, $6)::text",
            params + [body])
        stats["execs"] += 1

        if not pg.alive():
            finding("crash", msg or "connection lost", body, params)
            pg.connect()
            return time.time() - t0

        if st == "ok":
            stats["ok"] += 1
            try:
                res = json.loads(rows[0])
                assert "sessions" in res and "conference" in res
            except Exception as e:  # noqa: BLE001
                finding("bad-result", "%s: %r" % (e, rows[0][:200]), body,
                        params)
            return time.time() - t0

        states[state] = states.get(state, 0) + 1
        if state == "57014":
            finding("hang", msg, body, params)
        elif state not in CLEAN:
            finding(state or "nostate", msg, body, params)

        after = pg.query(FINGERPRINT)[1][0]
        if after != before:
            finding("partial", "tables changed after a rejected file: "
                    "%s -> %s" % (before, after), body, params)
        return time.time() - t0

    crashes = os.path.join(HERE, "corpus", "sql_import")
    for f in sorted(os.listdir(crashes)) if os.path.isdir(crashes) else []:
        if f.startswith("crash-") and f.endswith(".json"):
            c = json.load(open(os.path.join(crashes, f), encoding="utf-8"))
            slowest = max(slowest, run(c["body"], c["params"]))

    while True:
        if a.execs and stats["execs"] >= a.execs:
            break
        if not a.execs and time.time() - start >= a.time:
            break

        fmt, doc, row = rnd.choice(seeds)
        r = rnd.random()
        if fmt == "json":
            body = mutate_json(copy.deepcopy(doc), rnd) if r < 0.9 \
                else json.dumps(doc)
        else:
            body = mutate_xml(copy.deepcopy(doc), rnd) if r < 0.9 \
                else ET.tostring(doc, encoding="unicode")
        if rnd.random() < 0.15:
            body = mutate_bytes(body, rnd)
        params = mutate_params(row, rnd)

        slowest = max(slowest, run(body, params))

    elapsed = time.time() - start
    print("import_mutate: %d executions in %.0f s (%.1f/s), %d imported, "
          "rejected %s, slowest %.2f s, %d findings (%d distinct)"
          % (stats["execs"], elapsed, stats["execs"] / max(elapsed, 1e-9),
             stats["ok"], json.dumps(states, sort_keys=True), slowest,
             stats["findings"], len(seen)))
    return 1 if seen else 0


if __name__ == "__main__":
    sys.exit(main())
