#!/usr/bin/python3
"""Publishes the interop suite's hand-made events into a running fanoutd and writes what
each stored event must decode to.

  /usr/bin/python3 -B publish.py HOST:PORT PROTO_PATH TOPIC_A TOPIC_B EXPECTED_OUT

TOPIC_A should have several partitions (the test declares it with 3), TOPIC_B is the
200-byte topic name (the longest a topic may be). The events exercise everything a stored
frame can hold: the three stored payload kinds, a coordination_completed split into
decisions, metadata and distribution lists (at their 32-entry limits, reasoning at 64),
unknown fields (field numbers the .proto does not know, written raw) at every level,
negative and extreme integers, -0.0, infinities and extreme finite doubles (1e308,
-1.7976931348623157e308, 5e-324, 2.2250738585072014e-308), non-ASCII UTF-8 ("Zürich",
"東京", emoji), control characters, identifiers at exactly 128 bytes, a 255-byte 32-token
routing key, fields the server sets (sent with other values: they must be replaced).

Batch 1 is laid out canonically (the server's wire path keeps it as sent). Batch 2 has
fields out of order (an Event's and a Distribution's) and unknown fields between known
ones: the server puts them in order, bytes unchanged (a -0.0 stays -0.0). Batches 11, 12
and 13 must be refused by name (the same payload twice, metadata twice, a -0.0 inside a
coordination_completed: proto/README.md). Batch 3 holds two coordination_completed events
(one with no decisions, which stores nothing) around an ordinary one. Batch 4 must be
refused whole (an event_id of 129 bytes behind a good event); batch 5 follows it (offsets
stay dense).

What an event must decode to is protobuf's own reading of the bytes sent (Python's parse:
repeated messages merged, the last scalar wins, unknown fields kept), with the fields the
server sets replaced: distribution.partition and offset from the PublishAck, data_type from
the payload when 0, receive_time_ns (and timestamp_ns when 0) marked "<server-time>" for
compare.py to check against the publishing window; a decision split from
coordination_completed P is built as proto/README.md's table says. EXPECTED_OUT gets one
JSON object per line: {"window_ns": [t0, t1]} first, then per stored event, in ack order,
{"topic", "partition", "offset", "server_time": [fields], "canon": <canonical JSON
line>}.

Exit 0 when every batch was answered as intended, 1 otherwise.
"""

import json
import math
import struct
import sys
import time

import fanout_canon as fc

SERVER_TIME = "<server-time>"
INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1
U32_MAX = (1 << 32) - 1
U64_MAX = (1 << 64) - 1


# ---- raw wire pieces (for unknown fields and hand-made layouts) --------------------------

def tag(num, wt):
    return fc.varint(num << 3 | wt)


def f_varint(num, v):
    return tag(num, 0) + fc.varint(v & U64_MAX)


def f_len(num, b):
    if isinstance(b, str):
        b = b.encode("utf-8")
    elif not isinstance(b, (bytes, bytearray)):
        b = b.SerializeToString()
    return tag(num, 2) + fc.varint(len(b)) + bytes(b)


def f_fixed64(num, u):
    return tag(num, 1) + struct.pack("<Q", u)


def f_fixed32(num, u):
    return tag(num, 5) + struct.pack("<I", u)


def exact_bytes(prefix, n, fill="ü"):
    """A string of exactly n UTF-8 bytes: prefix, then fill repeated, then ASCII."""
    s = prefix
    while len((s + fill).encode()) <= n:
        s += fill
    s += "x" * (n - len(s.encode()))
    assert len(s.encode()) == n, (s, n)
    return s


def main(argv):
    if len(argv) != 6:
        print("usage: publish.py HOST:PORT PROTO_PATH TOPIC_A TOPIC_B EXPECTED_OUT",
              file=sys.stderr)
        return 2
    addr, proto, topic_a, topic_b, out_path = argv[1:]
    pb = fc.load_pb2(proto)

    def fail(why):
        print("publish.py: FAIL: %s" % why, file=sys.stderr)
        sys.exit(1)

    def with_unknown(msg, raw):
        """msg with raw (unknown fields) appended, as protobuf parses that."""
        m = type(msg)()
        m.ParseFromString(msg.SerializeToString() + raw)
        if not len(m.UnknownFields()):
            fail("internal: %s lost its unknown fields" % type(msg).__name__)
        return m

    # ---- batch 1: canonical layout (kept as sent by the server's wire path) ------------
    workflows = ["", "wf-α", "🚀", "東京-desk"] + ["wf-%02d" % i for i in range(28)]
    flags = ["MiFID_II", "RegNMS", "東証", ""] + ["flag-%02d" % i for i in range(28)]
    assert len(workflows) == 32 and len(flags) == 32

    e1 = pb.Event(
        event_id="md-1-Zürich-東京-🚀",
        timestamp_ns=-1,
        data_type=pb.DATA_TYPE_MARKET_DATA)
    e1.distribution.CopyFrom(with_unknown(pb.Distribution(
        topic=topic_a, routing_key="7203.東京.trade", target_workflows=workflows,
        priority=U32_MAX, delivery_guarantee=pb.DELIVERY_GUARANTEE_EXACTLY_ONCE),
        f_varint(15, U64_MAX) + f_len(16, b"\x00\xffraw")))
    e1.metadata.CopyFrom(with_unknown(pb.Metadata(
        source_service="svc-Zürich", venue="XTKS", latency_sensitive=True,
        audit_required=True, compliance_flags=flags),
        f_fixed32(20, 0xDEADBEEF)))
    e1.market_data.CopyFrom(with_unknown(pb.MarketData(
        symbol="7203", exchange="東京", timestamp_ns=INT64_MIN, price=1e308,
        volume=INT64_MAX, bid=5e-324, ask=-0.0, bid_size=-1, ask_size=INT64_MIN,
        currency="JPY", kind="trade"),
        f_fixed64(30, 0x8000000000000001) + f_varint(31, 0) + f_len(32, b"")))
    e1 = with_unknown(e1, f_varint(99, 1) + f_len(100, "Zürich 東京 🚀") +
                      f_fixed64(2047, 0) + f_fixed32(536870911, U32_MAX))

    key_tokens = ["ü%02d" % i for i in range(31)]
    key = ".".join(key_tokens) + "."
    key += exact_bytes("end-", 255 - len(key.encode()), "東")
    assert len(key.encode()) == 255 and key.count(".") == 31
    e2 = pb.Event(event_id=exact_bytes("id-2-ü-東-🚀-", 128))
    e2.distribution.topic = topic_a
    e2.distribution.routing_key = key
    e2.market_data.symbol = exact_bytes("Σ", 128, "Σ")
    e2.market_data.exchange = exact_bytes("東京", 128, "東")
    e2.market_data.currency = exact_bytes("€", 128, "€")
    e2.market_data.price = -1.7976931348623157e308
    e2.market_data.volume = -5
    e2.market_data.bid = 2.2250738585072014e-308
    e2.market_data.ask = -5e-324
    e2.market_data.kind = "tab\there\nnl\r\x01\x1f\x7f\u2028\u2029\"quoted\"\\back/slash"

    e3 = pb.Event(event_id="ex-3", timestamp_ns=1700000000000000000,
                  data_type=pb.DATA_TYPE_EXECUTION)
    e3.distribution.topic = topic_a
    e3.distribution.routing_key = "AAPL.fill.complete"
    e3.distribution.delivery_guarantee = pb.DELIVERY_GUARANTEE_AT_MOST_ONCE
    e3.metadata.SetInParent()  # present and empty
    e3.execution.CopyFrom(pb.ExecutionData(
        order_id=exact_bytes("o", 128, "o"), fill_id="fill-🚀", instrument_id="AAPL",
        quantity=-0.0, price=0.1, venue="NYSE", execution_time_ns=-123456789,
        commission=math.inf,
        execution_data_type=pb.EXECUTION_DATA_TYPE_VENUE_STATUS))

    reasoning = ["", "Zürich", "東京", "🚀🚀", "x" * 300] + ["r%02d" % i for i in range(59)]
    assert len(reasoning) == 64
    dec4 = pb.CoordinationDecision(
        decision_id=exact_bytes("d4-東京-", 128), instrument_id="ÄPFEL", action="sell",
        quantity=INT64_MIN, confidence=0.9999999999999999, coordination_quality=-math.inf,
        priority=U32_MAX, reasoning=reasoning, coordination_id=exact_bytes("c-", 128, "🚀"))
    dec4.portfolio_impact.CopyFrom(with_unknown(pb.PortfolioImpact(
        position_change=-0.0, weight_change=1e308, risk_contribution_change=-2.5,
        correlation_impact=5e-324), f_varint(9, 7)))
    e4 = pb.Event(event_id="dec-4", timestamp_ns=INT64_MAX)
    e4.distribution.topic = topic_b
    e4.distribution.routing_key = "ÄPFEL.decision.sell"
    e4.metadata.venue = "東京証券取引所"
    e4.coordination_decision.CopyFrom(with_unknown(dec4, f_len(40, "x")))

    batch1 = [e.SerializeToString() for e in (e1, e2, e3, e4)]

    # ---- batch 2: fields out of order (the server puts them in order, bytes unchanged) --
    dist5 = (f_len(4, "BTC.USD.trade") + f_len(1, topic_a) + f_varint(2, 7) +
             f_varint(3, 99) + f_len(5, "late-workflow") + f_len(5, "second-workflow") +
             f_varint(7, 2) + f_len(14, b"d") + f_varint(6, 3))
    md5 = (f_fixed64(4, struct.unpack("<Q", struct.pack("<d", -0.0))[0]) +
           f_fixed64(6, struct.unpack("<Q", struct.pack("<d", 1e308))[0]) +
           f_varint(5, -1) + f_len(10, "USD") +
           f_len(1, "BTC-USD"))                               # symbol last
    e5 = (f_len(1, "fb-5-東京") +
          f_varint(8, 42) +                                   # unknown, before the rest
          f_len(4, dist5) +
          f_varint(6, 12345) +                                # receive_time_ns: replaced
          f_varint(2, -42) +                                  # timestamp_ns after others
          f_varint(3, pb.DATA_TYPE_MARKET_DATA) +
          f_len(10, md5) +
          f_len(5, pb.Metadata(source_service="first", venue="Zürich",
                               compliance_flags=["a", "b"], latency_sensitive=True)) +
          f_fixed32(9, 1))                                    # unknown, at the end
    e6 = pb.Event(event_id="fb-6", timestamp_ns=5, data_type=pb.DATA_TYPE_EXECUTION)
    e6.distribution.topic = topic_b
    e6.distribution.routing_key = "MSFT.fill.partial"
    e6.distribution.target_workflows.extend(["🚀", ""])
    e6.execution.CopyFrom(with_unknown(pb.ExecutionData(
        order_id="o-6", quantity=-0.0, price=-1e-300, commission=-0.0,
        execution_data_type=pb.EXECUTION_DATA_TYPE_FILL_NOTIFICATION),
        f_len(50, "ünknown")))
    batch2 = [e5, with_unknown(e6, f_varint(77, U64_MAX)).SerializeToString()]

    # ---- refused: shapes protobuf allows but no producer writes (proto/README.md) -------
    # The same oneof member twice (protobuf would merge them).
    e11 = pb.Event(event_id="fb-11", timestamp_ns=11)
    e11.distribution.topic = topic_a
    e11.distribution.routing_key = "DUP.X.trade"
    e11 = (e11.SerializeToString() + f_len(10, pb.MarketData(symbol="DUP", bid=1.5)) +
           f_len(10, pb.MarketData(symbol="DUP", ask=2.5)))
    # Metadata given twice.
    e12 = (f_len(1, "fb-12") + f_varint(2, 12) +
           f_len(4, f_len(1, topic_a) + f_len(4, "DUP.Y.trade")) +
           f_len(5, f_varint(3, 1)) + f_len(10, f_len(1, "DUP")) + f_len(5, f_len(2, "V")))
    # A -0.0 inside a coordination_completed (the split into decisions cannot write it).
    p0 = pb.Event(event_id="cc-negzero")
    p0.distribution.topic = topic_a
    p0.coordination_completed.coordination_id = "run-negzero"
    p0.coordination_completed.decisions.append(pb.CoordinationDecision(
        decision_id="d", instrument_id="IBM", action="buy", confidence=1.0))
    p0 = p0.SerializeToString().replace(struct.pack("<d", 1.0), struct.pack("<d", -0.0))
    refused = [(11, [e11], "events[0].payload: more than one payload"),
               (12, [e12], "events[0].metadata: given twice"),
               (13, [p0], "decisions[0].confidence: is -0.0")]

    # ---- batch 3: coordination_completed, split into decision events -------------------
    p1 = pb.Event(event_id="cc-Zürich", timestamp_ns=1700000000123456789)
    p1.distribution.topic = topic_a
    p1.distribution.routing_key = "not.used"
    p1.distribution.target_workflows.extend(["risk", "東京-desk", ""])
    p1.distribution.priority = 7
    p1.distribution.delivery_guarantee = pb.DELIVERY_GUARANTEE_AT_LEAST_ONCE
    p1.metadata.CopyFrom(with_unknown(pb.Metadata(
        source_service="coordination-engine", latency_sensitive=True,
        compliance_flags=["MiFID_II", "🚀"]), f_len(52, "meta-ü")))
    cc = p1.coordination_completed
    cc.coordination_id = exact_bytes("run-東京-", 128)
    d1 = pb.CoordinationDecision(
        decision_id="d-1", instrument_id="AAPL", action="buy", quantity=100,
        confidence=0.875, coordination_quality=-1e-300, priority=1,
        reasoning=["momentum", "Zürich", ""])
    d1.portfolio_impact.CopyFrom(pb.PortfolioImpact(
        position_change=-1e308, weight_change=-5e-324, risk_contribution_change=5e-324,
        correlation_impact=-2.2250738585072014e-308))
    cc.decisions.append(with_unknown(d1, f_varint(70, 1) + f_len(71, "dec-ü")))
    cc.decisions.append(pb.CoordinationDecision(
        decision_id=exact_bytes("d-2-", 128 - len("cc-Zürich/".encode()), "🚀"),
        instrument_id=exact_bytes("東京", 128, "東"), action="sell", quantity=-3,
        confidence=5e-324, coordination_id="overwritten-by-the-parent's"))
    cc.decisions.append(pb.CoordinationDecision(
        decision_id="d-3", instrument_id="Zürich", action="hold"))
    cc.summary.CopyFrom(pb.CoordinationSummary(total_signals_processed=3,
                                               decisions_generated=3,
                                               portfolio_utilization=0.5))
    e7 = pb.Event(event_id="md-7", timestamp_ns=7)
    e7.distribution.topic = topic_b
    e7.distribution.routing_key = "7.b"
    e7.market_data.symbol = "7"
    e7.market_data.price = -0.0
    p2 = pb.Event(event_id="cc-empty", data_type=pb.DATA_TYPE_COORDINATION_COMPLETED)
    p2.distribution.topic = topic_a
    p2.coordination_completed.coordination_id = "run-empty"
    batch3 = [p1.SerializeToString(), e7.SerializeToString(), p2.SerializeToString()]

    # ---- batch 4: refused whole; batch 5 after it --------------------------------------
    e8 = pb.Event(event_id="never-stored")
    e8.distribution.topic = topic_a
    e8.distribution.routing_key = "never.stored"
    e8.market_data.symbol = "NEVER"
    e9 = pb.Event()
    e9.CopyFrom(e8)
    e9.event_id = exact_bytes("too-long-", 129)
    batch4 = [e8.SerializeToString(), e9.SerializeToString()]
    e10 = pb.Event(event_id="after-the-refusal", timestamp_ns=10)
    e10.distribution.topic = topic_a
    e10.distribution.routing_key = "7203.東京.trade"
    e10.market_data.symbol = "7203"
    e10.market_data.price = 2.5
    batch5 = [e10.SerializeToString()]

    # ---- what each stored event must decode to -----------------------------------------
    payload_type = {"market_data": pb.DATA_TYPE_MARKET_DATA,
                    "coordination_decision": pb.DATA_TYPE_COORDINATION_DECISION,
                    "execution": pb.DATA_TYPE_EXECUTION}

    def stored_of(raw):
        """The events one published event is stored as, before the server's fields."""
        ev = pb.Event()
        ev.ParseFromString(raw)
        if ev.WhichOneof("payload") != "coordination_completed":
            if ev.data_type == 0:
                ev.data_type = payload_type[ev.WhichOneof("payload")]
            return [ev]
        out = []
        for d in ev.coordination_completed.decisions:
            e = pb.Event(event_id=ev.event_id + "/" + d.decision_id,
                         timestamp_ns=ev.timestamp_ns,
                         data_type=pb.DATA_TYPE_COORDINATION_DECISION)
            e.distribution.topic = ev.distribution.topic
            e.distribution.routing_key = d.instrument_id + ".decision." + d.action
            e.distribution.target_workflows.extend(ev.distribution.target_workflows)
            e.distribution.priority = ev.distribution.priority
            e.distribution.delivery_guarantee = ev.distribution.delivery_guarantee
            if ev.HasField("metadata"):
                e.metadata.CopyFrom(ev.metadata)
            e.coordination_decision.CopyFrom(d)
            e.coordination_decision.coordination_id = ev.coordination_completed.coordination_id
            out.append(e)
        return out

    def expect(ev, part, off):
        """ev as stored at part/off: its canonical line and the fields the server timed."""
        ev.distribution.partition = part
        ev.distribution.offset = off
        d = fc.canon_dict(ev)
        server_time = ["receive_time_ns"]
        d["receive_time_ns"] = SERVER_TIME
        if ev.timestamp_ns == 0:
            d["timestamp_ns"] = SERVER_TIME
            server_time.append("timestamp_ns")
        return fc.dumps(d), server_time

    # ---- publish -----------------------------------------------------------------------
    t0 = time.time_ns()
    sock = fc.connect(addr, 30)
    reader = fc.FrameReader(sock)
    frames = reader.frames()

    def answer():
        for body in frames:
            m = pb.ServerMessage()
            m.ParseFromString(body)
            kind = m.WhichOneof("body")
            if kind in ("hello", "heartbeat", "pong"):
                continue
            return m
        fail("server closed the connection")

    sock.sendall(fc.delimited(pb.ClientMessage(
        hello=pb.Hello(protocol_version=1, client_name="interop-python-publisher"))))

    def publish(seq, events):
        body = f_varint(1, seq) + b"".join(f_len(2, e) for e in events)
        msg = f_len(5, body)  # ClientMessage.publish
        sock.sendall(fc.varint(len(msg)) + msg)
        return answer()

    expected = []
    for seq, batch in ((1, batch1), (2, batch2), (3, batch3), (5, batch5)):
        if seq == 3:
            for rseq, rbatch, why in refused:
                m = publish(rseq, rbatch)
                if m.WhichOneof("body") != "error" or \
                        m.error.code != pb.ERROR_CODE_INVALID_EVENT or why not in m.error.message:
                    fail("batch %d: %s, want INVALID_EVENT saying '%s'" % (
                        rseq, str(m).replace("\n", " "), why))
                print("publish.py: batch %d refused as it should be: %s" % (
                    rseq, m.error.message), file=sys.stderr)
        if seq == 5:
            m = publish(4, batch4)
            if m.WhichOneof("body") != "error":
                fail("batch 4 (an event_id of 129 bytes): %s, want an Error" % m)
            e = m.error
            if (e.code != pb.ERROR_CODE_INVALID_EVENT or e.sequence != 4 or e.closing or
                    "events[1].event_id: 129 bytes" not in e.message):
                fail("batch 4: Error %s, want INVALID_EVENT for events[1].event_id, "
                     "sequence 4, not closing" % str(e).replace("\n", " "))
            print("publish.py: batch 4 refused as it should be: %s" % e.message,
                  file=sys.stderr)
        m = publish(seq, batch)
        if m.WhichOneof("body") != "publish_ack":
            fail("batch %d: %s, want a PublishAck" % (seq, str(m).replace("\n", " ")))
        ack = m.publish_ack
        stored = [(raw, ev) for raw in batch for ev in stored_of(raw)]
        if ack.sequence != seq or len(ack.partitions) != len(stored) or \
                len(ack.offsets) != len(stored):
            fail("batch %d: ack %s for %d stored events" % (seq, str(ack).replace("\n", " "),
                                                            len(stored)))
        for (raw, ev), part, off in zip(stored, ack.partitions, ack.offsets):
            canon, server_time = expect(ev, part, off)
            expected.append({"topic": ev.distribution.topic, "partition": part,
                             "offset": off, "server_time": server_time, "canon": canon})
    t1 = time.time_ns()
    sock.close()

    with open(out_path, "w", encoding="utf-8") as f:
        f.write(json.dumps({"window_ns": [t0, t1]}) + "\n")
        for e in expected:
            f.write(json.dumps(e, ensure_ascii=False) + "\n")
    per_topic = {}
    for e in expected:
        per_topic[e["topic"]] = per_topic.get(e["topic"], 0) + 1
    print("publish.py: OK: %d events stored (%s)" % (
        len(expected), ", ".join("%d on %s" % (n, t[:40] + ("..." if len(t) > 40 else ""))
                                 for t, n in per_topic.items())), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
