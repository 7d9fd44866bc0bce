#!/usr/bin/env bash
# WebSocket delivery beside TCP (issue 16): one publisher at RATE events/s for SECONDS to
# 10 and 1000 subscribers over WebSockets (JSON and binary, tests/ws/bench.mjs: Node `ws`
# clients in one process) and over TCP (fanout-bench's subscribers), each run against its
# own fanoutd. Prints one JSON line a run.
#   perf/ws.sh [BUILD_DIR] [RATE] [SECONDS]    (default build-dev 1000 5)
set -uo pipefail
BUILD=${1:-build-dev}
RATE=${2:-1000}
SECONDS_=${3:-5}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1
for n in 10 1000; do
  for f in json protobuf; do
    WS_N=$n WS_FORMAT=$f WS_RATE=$RATE WS_SECONDS=$SECONDS_ tests/ws/ws_test.sh bench \
      "$BUILD/tools/fanoutd" "$BUILD/tools/fanout-pub" proto/fanout.proto 2>/dev/null | grep '^{'
  done
  "$BUILD/perf/fanout-bench" --system fanout --subscribers "$n" --rate "$RATE" \
    --duration "$SECONDS_" --fanoutd "$BUILD/tools/fanoutd" 2>/dev/null |
    python3 -c 'import json, sys
r = json.load(sys.stdin)["runs"][0]
l = r["latency_us"]
print(json.dumps({"subscribers": r["expected_deliveries"] // max(1, r["published"]), "format": "tcp",
  "rate": round(r["events_per_s_in"]), "published": r["published"], "delivered": r["deliveries"],
  "deliveries_per_s": round(r["deliveries_per_s_out"]), "p50_ms": round(l["p50"] / 1000, 3),
  "p99_ms": round(l["p99"] / 1000, 3), "p999_ms": round(l["p99_9"] / 1000, 3),
  "max_ms": round(l["max"] / 1000, 3)}))'
done
