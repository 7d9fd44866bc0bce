#!/usr/bin/python3
"""Compares what the two interop subscribers decoded with each other and with what was
published.

  /usr/bin/python3 -B compare.py EXPECTED JS_OUT PY_OUT SYNTH_TOPIC SYNTH_COUNT

EXPECTED is publish.py's output; JS_OUT and PY_OUT are the canonical JSON lines of
`node subscribe.mjs --canon` and subscribe.py over the same topics; SYNTH_TOPIC holds
SYNTH_COUNT events from fanout-pub whose content only the two decoders are compared on.

Fails (exit 1) when a line is not canonical JSON, an event is decoded twice, the two
decoders saw different events or decoded any of them differently (to the byte), an event
published is missing or one nobody published is there, a server-set time is outside the
publishing window, or any decoded value differs from what was published.

Nothing is tolerated: exit 0 when everything round-trips, 1 otherwise.
"""

import json
import sys

import fanout_canon as fc

SERVER_TIME = "<server-time>"

# Values the hand-made events must hold, each checked in what was expected *and* in what
# both decoders printed, so a canonical form that lost something on both sides is caught.
MUST_APPEAR = [
    '"ask":"-0x0.0p+0"',                         # -0.0 (batch 1, kept as sent)
    '"price":"0x1.1ccf385ebc8a0p+1023"',         # 1e308
    '"bid":"0x0.0000000000001p-1022"',           # 5e-324
    '"price":"-0x1.fffffffffffffp+1023"',        # -DBL_MAX
    '"bid":"0x1.0000000000000p-1022"',           # DBL_MIN
    '"commission":"inf"', '"coordination_quality":"-inf"',
    '"timestamp_ns":"-9223372036854775808"', '"volume":"9223372036854775807"',
    '"timestamp_ns":"-1"', '"priority":4294967295',
    "Zürich", "東京", "🚀", '\\t', '\\u0001', '\u2028',
    '"_unknown":[{"field":99,"value":"1","wire_type":0}',
    '{"field":536870911,"value":"4294967295","wire_type":5}',
    '{"field":15,"value":"18446744073709551615","wire_type":0}',
    '"metadata":{"audit_required":false,"compliance_flags":[],"latency_sensitive":false,'
    '"source_service":"","venue":""}',            # present and empty
    '"event_id":"cc-Zürich/d-1"', '"routing_key":"AAPL.decision.buy"',
]


def fail_lines(errors, limit=20):
    for e in errors[:limit]:
        print("  " + e, file=sys.stderr)
    if len(errors) > limit:
        print("  ... and %d more" % (len(errors) - limit), file=sys.stderr)


def short(v, n=100):
    s = json.dumps(v, ensure_ascii=False)
    return s if len(s) <= n else s[:n] + "..."


def diff(a, b, path=""):
    """[(path, a, b)] where two decoded JSON values differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                out.append((path + "." + k, a.get(k, "<absent>"), b.get(k, "<absent>")))
            else:
                out += diff(a[k], b[k], path + "." + k)
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        out = []
        for i, (x, y) in enumerate(zip(a, b)):
            out += diff(x, y, "%s[%d]" % (path, i))
        return out
    return [] if a == b and type(a) is type(b) else [(path or ".", a, b)]


def describe(v):
    """A value, and the double it stands for when it is a hex float."""
    if isinstance(v, str) and (v.startswith("0x") or v.startswith("-0x")):
        try:
            return "%s (%r)" % (v, float.fromhex(v))
        except ValueError:
            pass
    return short(v)


def where(key):
    """topic/partition offset N, a long topic name shortened."""
    t = key[0] if len(key[0] or "") <= 40 else "%s...(%d bytes)" % (key[0][:24],
                                                                   len(key[0].encode()))
    return "%s/%s offset %s" % (t, key[1], key[2])


def load(path, who, errors):
    out = {}
    with open(path, "rb") as f:
        text = f.read().decode("utf-8")
    # Split on "\n" only: a decoded string may hold U+2028 and the like, raw.
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for n, line in enumerate(lines, 1):
        try:
            d = json.loads(line)
        except ValueError as e:
            errors.append("%s line %d is not JSON (%s): %s" % (who, n, e, short(line)))
            continue
        if fc.dumps(d) != line:
            errors.append("%s line %d is not canonical JSON: %s" % (who, n, short(line)))
        dist = d.get("distribution") or {}
        key = (dist.get("topic"), dist.get("partition"), dist.get("offset"))
        if key in out:
            errors.append("%s: %s decoded twice" % (who, where(key)))
        out[key] = (line, d)
    return out


def main(argv):
    args = argv[1:]
    if len(args) != 5:
        print("usage: compare.py EXPECTED JS_OUT PY_OUT SYNTH_TOPIC SYNTH_COUNT",
              file=sys.stderr)
        return 2
    exp_path, js_path, py_path, synth_topic, synth_count = args
    synth_count = int(synth_count)
    errors = []

    with open(exp_path, encoding="utf-8") as f:
        recs = [json.loads(line) for line in f]
    t0, t1 = recs[0]["window_ns"]
    expected = {(r["topic"], r["partition"], str(r["offset"])): r for r in recs[1:]}
    js = load(js_path, "subscribe.mjs", errors)
    py = load(py_path, "subscribe.py", errors)

    # 1. JavaScript and Python: the same events, decoded to the same bytes.
    for key in sorted(set(js) | set(py), key=str):
        if key not in py:
            errors.append("only subscribe.mjs decoded %s" % where(key))
        elif key not in js:
            errors.append("only subscribe.py decoded %s" % where(key))
        elif js[key][0] != py[key][0]:
            d = diff(js[key][1], py[key][1])
            errors.append("%s decoded differently: %s" % (where(key), "; ".join(
                "%s js %s py %s" % (p, describe(a), describe(b)) for p, a, b in d[:5])))

    # 2. Everything published is there, once, as published; nothing else is.
    synth = [k for k in py if k[0] == synth_topic]
    if len(synth) != synth_count:
        errors.append("%d events on %s, want %d" % (len(synth), synth_topic, synth_count))
    for key in sorted(set(py) - set(expected), key=str):
        if key[0] != synth_topic:
            errors.append("an event nobody published: %s: %s"
                          % (where(key), short(py[key][0], 200)))
    for key, rec in sorted(expected.items(), key=lambda kv: str(kv[0])):
        if key not in py:
            errors.append("published event missing: %s: %s"
                          % (where(key), short(rec["canon"], 200)))
            continue
        got = json.loads(py[key][0])
        for field in rec["server_time"]:
            v = got.get(field)
            try:
                ok = t0 <= int(v) <= t1
            except (TypeError, ValueError):
                ok = False
            if not ok:
                errors.append("%s: %s %s outside the publishing window [%d, %d]"
                              % (where(key), field, v, t0, t1))
            got[field] = SERVER_TIME
        want = json.loads(rec["canon"])
        got_line = fc.dumps(got)
        if got_line == rec["canon"]:
            continue
        for path, w, g in diff(want, got):
            errors.append("%s (event_id %s)%s: published %s, decoded %s" % (
                where(key), short(want.get("event_id"), 40), path, describe(w), describe(g)))

    # 3. The hand-made values are really there (on both sides: lines 1. found equal).
    exp_text = "\n".join(r["canon"] for r in recs[1:])
    got_text = "\n".join(v[0] for k, v in py.items() if k in expected)
    for s in MUST_APPEAR:
        if s not in exp_text:
            errors.append("internal: publish.py's events lack %s" % s)
        elif s not in got_text:
            errors.append("no decoded event holds %s" % s)

    if errors:
        print("compare.py: FAIL: %d problem(s):" % len(errors), file=sys.stderr)
        fail_lines(errors)
        return 1
    print("compare.py: OK: %d events decoded identically by protobufjs and python3-protobuf "
          "(%d hand-made ones as published, %d from fanout-pub)"
          % (len(py), len(expected), len(synth)), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
