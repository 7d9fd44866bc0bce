#!/usr/bin/env bash
# Interop, canonical: two independent protobuf implementations decode every stored frame
# identically, and as it was published.
#
#   canonical_test.sh FANOUTD FANOUT_PUB PROTO
#
# A fresh fanoutd (topic interop/canon declared with 3 partitions) takes
#   - INTEROP_CANON_COUNT (default 2000) synthetic market-data events from fanout-pub on
#     topic interop, and
#   - publish.py's hand-made events (every payload kind, a coordination_completed split into
#     decisions, lists at their limits, unknown fields, extreme numbers, -0.0, non-ASCII
#     text, 128-byte identifiers, a refused batch; see publish.py) on interop/canon and on
#     a topic with a 200-byte name.
# Then two subscribers read all three topics from the earliest offset and print one
# canonical JSON line per event (fanout_canon.py): subscribe.mjs --canon (protobufjs, from
# npm) and subscribe.py (Debian's python3-protobuf, with a module Debian's protoc generates
# from PROTO into a temporary directory). compare.py fails the test unless both printed the
# same bytes for every event, every published event is there once and decodes to what was
# published, and nothing else is there.
#
# Exit 0 pass, 1 fail, 77 skip (node, tests/interop/node_modules, python3-protobuf or
# protoc missing: tools/test installs them all). INTEROP_PYTHON picks the interpreter
# (default /usr/bin/python3, Debian's, which python3-protobuf installs into).
set -uo pipefail

if (($# != 3)); then
  echo "usage: $0 FANOUTD FANOUT_PUB PROTO" >&2
  exit 2
fi
FANOUTD=$(realpath "$1")
FANOUT_PUB=$(realpath "$2")
PROTO=$(realpath "$3")
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PY=${INTEROP_PYTHON:-/usr/bin/python3}
COUNT=${INTEROP_CANON_COUNT:-2000}
SYNTH=interop
TOPIC_A=interop/canon
TOPIC_B=interop/max-$(printf 'x%.0s' $(seq 188))   # 200 bytes: the longest topic name

if ! command -v node >/dev/null 2>&1; then
  echo "SKIP: node not found (tools/test installs nodejs)" >&2
  exit 77
fi
if [[ ! -f $HERE/node_modules/protobufjs/package.json ]]; then
  echo "SKIP: $HERE/node_modules/protobufjs missing (run: cd tests/interop && npm ci)" >&2
  exit 77
fi
if ! PB_WHERE=$("$PY" -c 'import google.protobuf as p, google.protobuf.json_format
print(p.__version__, p.__file__)' 2>/dev/null); then
  echo "SKIP: $PY cannot import google.protobuf (Debian package python3-protobuf)" >&2
  exit 77
fi
if ! command -v "${PROTOC:-protoc}" >/dev/null 2>&1; then
  echo "SKIP: protoc not found (Debian package protobuf-compiler)" >&2
  exit 77
fi
echo "python: $PY, protobuf $PB_WHERE; $("${PROTOC:-protoc}" --version); node $(node --version)"
((${#TOPIC_B} == 200)) || { echo "internal: topic B is ${#TOPIC_B} bytes" >&2; exit 99; }

# shellcheck source=tests/interop/common.sh
source "$HERE/common.sh"
export PYTHONDONTWRITEBYTECODE=1   # nothing written into the source tree

start_fanoutd "$FANOUTD" --topic "$TOPIC_A:3"

PUB_OUT=$(bounded 60 "$FANOUT_PUB" --connect "$ADDR" --topic "$SYNTH" --count "$COUNT" --quiet)
rc=$?
echo "fanout-pub: $PUB_OUT"
((rc == 0)) || fail "fanout-pub exited $rc (not every event acked)"

(cd "$HERE" && bounded 60 "$PY" -B publish.py "$ADDR" "$PROTO" "$TOPIC_A" "$TOPIC_B" \
  "$DIR/expected.jsonl")
rc=$?
((rc == 0)) || fail "publish.py exited $rc"
TOTAL=$((COUNT + $(wc -l <"$DIR/expected.jsonl") - 1))
TOPICS=$SYNTH,$TOPIC_A,$TOPIC_B

(cd "$HERE" && bounded 60 node subscribe.mjs --canon "$ADDR" "$TOPICS" "$TOTAL" "$PROTO" \
  >"$DIR/js.jsonl")
rc=$?
((rc == 0)) || fail "subscribe.mjs --canon exited $rc"
(cd "$HERE" && bounded 60 "$PY" -B subscribe.py "$ADDR" "$TOPICS" "$TOTAL" "$PROTO" \
  >"$DIR/py.jsonl")
rc=$?
((rc == 0)) || fail "subscribe.py exited $rc"

stop_fanoutd

(cd "$HERE" && "$PY" -B compare.py "$DIR/expected.jsonl" "$DIR/js.jsonl" \
  "$DIR/py.jsonl" "$SYNTH" "$COUNT")
rc=$?
((rc == 0)) || fail "compare.py exited $rc"
echo "PASS: protobufjs and python3-protobuf decoded all $TOTAL events identically, as published"
