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

# shellcheck source=tests/interop/common.sh
source "$HERE/common.sh"

start_fanoutd "$FANOUTD"

PUB_OUT=$(bounded 60 "$FANOUT_PUB" --connect "$ADDR" --topic "$TOPIC" --count "$COUNT" --quiet)
rc=$?
echo "fanout-pub: $PUB_OUT"
((rc == 0)) || fail "fanout-pub exited $rc (not every event acked)"

(cd "$HERE" && bounded 60 node subscribe.mjs "$ADDR" "$TOPIC" "$COUNT" "$PROTO")
rc=$?
((rc == 0)) || fail "subscribe.mjs exited $rc"

stop_fanoutd
echo "PASS: protobufjs read $COUNT events published by fanout-pub"
