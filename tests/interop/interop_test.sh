#!/usr/bin/env bash
# Interop: fanout-pub publishes 5000 market-data events into a fresh fanoutd; a protobufjs
# client that knows only proto/fanout.proto subscribes from the earliest offset and checks
# every event (subscribe.mjs).
#
#   interop_test.sh FANOUTD FANOUT_PUB PROTO
#
# Exit 0 pass, 1 fail, 77 skip (node or tests/interop/node_modules missing: run
# `npm ci` in tests/interop, as tools/test does).
set -uo pipefail

if (($# != 3)); then
  echo "usage: $0 FANOUTD FANOUT_PUB PROTO" >&2
  exit 2
fi
FANOUTD=$(realpath "$1")
FANOUT_PUB=$(realpath "$2")
PROTO=$(realpath "$3")
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOPIC=interop
COUNT=${INTEROP_COUNT:-5000}

if ! command -v node >/dev/null 2>&1; then
  echo "SKIP: node not found (tools/test installs nodejs)" >&2
  exit 77
fi
if [[ ! -f $HERE/node_modules/protobufjs/package.json ]]; then
  echo "SKIP: $HERE/node_modules/protobufjs missing (run: cd tests/interop && npm ci)" >&2
  exit 77
fi

DIR=$(mktemp -d "${TMPDIR:-/tmp}/fanout-interop.XXXXXX") || exit 1
FANOUTD_PID=
cleanup() {
  if [[ -n $FANOUTD_PID ]] && kill -0 "$FANOUTD_PID" 2>/dev/null; then
    kill -TERM "$FANOUTD_PID" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$FANOUTD_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$FANOUTD_PID" 2>/dev/null
  fi
  [[ -n $FANOUTD_PID ]] && wait "$FANOUTD_PID" 2>/dev/null
  rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fail() {
  echo "FAIL: $*" >&2
  if [[ -s $DIR/fanoutd.log ]]; then
    echo "--- fanoutd log (last 80 lines) ---" >&2
    tail -n 80 "$DIR/fanoutd.log" >&2
  fi
  exit 1
}

"$FANOUTD" --listen 127.0.0.1:0 --data-dir "$DIR/data" --ready-file "$DIR/ready" \
  >"$DIR/fanoutd.log" 2>&1 &
FANOUTD_PID=$!

ADDR=
for _ in $(seq 100); do
  if [[ -s $DIR/ready ]]; then
    ADDR=$(head -n 1 "$DIR/ready" | tr -d '[:space:]')
    [[ $ADDR == *:* ]] && break
    ADDR=
  fi
  kill -0 "$FANOUTD_PID" 2>/dev/null || fail "fanoutd exited before it was ready"
  sleep 0.1
done
[[ -n $ADDR ]] || fail "fanoutd wrote no ready file ($DIR/ready) within 10 s"
echo "fanoutd listening on $ADDR"

# Bounded even if a binary hangs (the meson timeout would otherwise be the only stop).
bounded() {
  if command -v timeout >/dev/null 2>&1; then timeout -k 5 "$@"; else shift; "$@"; fi
}

PUB_OUT=$(bounded 60 "$FANOUT_PUB" --connect "$ADDR" --topic "$TOPIC" --count "$COUNT" --quiet)
rc=$?
echo "fanout-pub: $PUB_OUT"
((rc == 0)) || fail "fanout-pub exited $rc (not every event acked)"

(cd "$HERE" && bounded 60 node subscribe.mjs "$ADDR" "$TOPIC" "$COUNT" "$PROTO")
rc=$?
((rc == 0)) || fail "subscribe.mjs exited $rc"

kill -0 "$FANOUTD_PID" 2>/dev/null || fail "fanoutd died during the test"
kill -TERM "$FANOUTD_PID"
for _ in $(seq 100); do kill -0 "$FANOUTD_PID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$FANOUTD_PID" 2>/dev/null; then
  fail "fanoutd did not exit within 10 s of SIGTERM"
fi
wait "$FANOUTD_PID"
rc=$?
FANOUTD_PID=
((rc == 0)) || fail "fanoutd exited $rc after SIGTERM (want 0)"
echo "PASS: protobufjs read $COUNT events published by fanout-pub"
