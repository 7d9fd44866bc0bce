#!/usr/bin/python3
"""Interop subscriber in Python: Debian's python3-protobuf and a module Debian's protoc
generates from proto/fanout.proto at run time (into a temporary directory), nothing else
from this repository but fanout_canon.py beside it.

  /usr/bin/python3 -B subscribe.py HOST:PORT TOPIC[,TOPIC...] EXPECTED_COUNT PROTO_PATH

Sends ClientMessage{hello} and one ClientMessage{subscribe: START_POSITION_EARLIEST} per
topic (subscription ids 1, 2, ...) as delimited frames, expects a SubscribeResult for each,
then exactly EXPECTED_COUNT events in all, and prints one canonical JSON line per event
(fanout_canon.canon: every field decoded, doubles exact, unknown fields listed) on stdout,
in the order received. Checks as it reads: no event before its topic's SubscribeResult,
offsets dense and in order per (topic, partition) from the SubscribeResult's positions, no
unknown fields on the ServerMessage itself, no extra event within 300 ms of the last.
Exit 0 on success, 1 with a reason on stderr (also on timeout: INTEROP_TIMEOUT_S, default
30), 2 on bad usage.
"""

import os
import socket
import sys
import time

import fanout_canon as fc

LINGER_S = 0.3


def main(argv):
    if len(argv) != 5:
        print("usage: subscribe.py HOST:PORT TOPIC[,TOPIC...] EXPECTED_COUNT PROTO_PATH",
              file=sys.stderr)
        return 2
    addr, topics_arg, count_arg, proto = argv[1:]
    topics = [t for t in topics_arg.split(",") if t]
    expected = int(count_arg)
    timeout_s = float(os.environ.get("INTEROP_TIMEOUT_S", "30"))
    pb = fc.load_pb2(proto)
    received = 0

    def fail(why):
        print("subscribe.py: FAIL: %s (after %d events)" % (why, received), file=sys.stderr)
        sys.exit(1)

    if not topics or expected < 0:
        fail("no topics or a negative count")
    deadline = time.monotonic() + timeout_s
    sock = fc.connect(addr, timeout_s)
    sock.sendall(fc.delimited(pb.ClientMessage(
        hello=pb.Hello(protocol_version=1, client_name="interop-python"))))
    for i, t in enumerate(topics):
        sock.sendall(fc.delimited(pb.ClientMessage(subscribe=pb.Subscribe(
            subscription_id=i + 1, topic=t, start=pb.START_POSITION_EARLIEST))))

    subscribed = {}          # topic -> SubscribeResult
    next_offset = {}         # (topic, partition) -> next expected offset
    out = sys.stdout.buffer  # UTF-8 whatever the locale
    reader = fc.FrameReader(sock)
    finish_at = None
    try:
        frames = reader.frames()
        while True:
            now = time.monotonic()
            if finish_at is not None and now >= finish_at:
                break
            if now >= deadline:
                fail("timeout after %g s: got %d of %d events" % (timeout_s, received, expected))
            sock.settimeout(max(0.01, min(deadline, finish_at or deadline) - now))
            try:
                body = next(frames)
            except socket.timeout:
                frames = reader.frames()  # a generator that raised is finished: a new one
                continue
            except StopIteration:
                if finish_at is not None:
                    break
                fail("server closed the connection (subscribed to %d of %d topics)"
                     % (len(subscribed), len(topics)))
            msg = pb.ServerMessage()
            try:
                msg.ParseFromString(body)
            except Exception as e:  # DecodeError, RuntimeWarning from the C++ parser
                fail("frame of %d bytes does not decode: %s" % (len(body), e))
            if len(msg.UnknownFields()):
                fail("a ServerMessage with unknown fields: %s" % body.hex())
            kind = msg.WhichOneof("body")
            if kind == "hello":
                if subscribed:
                    fail("HelloResult after a SubscribeResult")
                if msg.hello.protocol_version != 1:
                    fail("hello.protocol_version %d, want 1" % msg.hello.protocol_version)
            elif kind == "subscribed":
                r = msg.subscribed
                if r.subscription_id < 1 or r.subscription_id > len(topics):
                    fail("SubscribeResult for subscription %d" % r.subscription_id)
                t = topics[r.subscription_id - 1]
                if t in subscribed:
                    fail("a second SubscribeResult for '%s'" % t)
                if r.topic and r.topic != t:
                    fail("subscribed.topic '%s', want '%s'" % (r.topic, t))
                if r.partitions < 1:
                    fail("subscribed.partitions %d for '%s'" % (r.partitions, t))
                subscribed[t] = r
                for p in range(r.partitions):
                    next_offset[(t, p)] = 0
                for pos in r.positions:
                    if pos.partition >= r.partitions:
                        fail("subscribed.positions names partition %d of %d"
                             % (pos.partition, r.partitions))
                    next_offset[(t, pos.partition)] = pos.next_offset
                if expected == 0 and len(subscribed) == len(topics):
                    finish_at = time.monotonic() + LINGER_S
            elif kind == "event":
                ev = msg.event
                where = "event #%d" % received
                d = ev.distribution
                if d.topic not in subscribed:
                    fail("%s on topic '%s' before its SubscribeResult" % (where, d.topic))
                key = (d.topic, d.partition)
                if key not in next_offset:
                    fail("%s: partition %d not in the topic's %d"
                         % (where, d.partition, subscribed[d.topic].partitions))
                if d.offset != next_offset[key]:
                    fail("%s: %s/%d offset %d, want %d (dense, in order)"
                         % (where, d.topic, d.partition, d.offset, next_offset[key]))
                next_offset[key] += 1
                if received >= expected:
                    fail("unexpected extra %s (expected exactly %d)" % (where, expected))
                out.write(fc.canon(ev).encode("utf-8") + b"\n")
                received += 1
                if received == expected and len(subscribed) == len(topics):
                    finish_at = time.monotonic() + LINGER_S
            elif kind == "error":
                fail("server error %d: %s" % (msg.error.code, msg.error.message))
            elif kind in ("pong", "heartbeat"):
                pass
            else:
                fail("unexpected ServerMessage body '%s'" % kind)
    finally:
        sock.close()
    out.flush()
    if len(subscribed) != len(topics):
        fail("subscribed to %d of %d topics" % (len(subscribed), len(topics)))
    print("subscribe.py: OK: %d events on %s, %d bytes" % (received, ",".join(topics),
                                                          reader.bytes_in), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
