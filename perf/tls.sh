#!/usr/bin/env bash
# What TLS on the TCP protocol costs (issue 15, item 6): fanoutd plain and with
# --tls-cert (fanout-bench --fanout-tls: a certificate the bench makes; the publisher
# and every subscriber speak TLS; records sealed and opened in the reactor, net/tls.c),
# alternating round by round so the machine's drift falls on both alike. fanout only:
# the peers' 1 -> 10 beside fanout's plain one is section 10. Release build.
#
#   perf/tls.sh [OUT-PREFIX] [ROUNDS]   (default perf/results/tls, 2 rounds)
#
# Per round and mode: 1 -> 10 at 20,000 events/s (5 s) and 1 -> 10 flat out (2 s);
# medians of 3 each. Writes OUT-PREFIX_<scenario>_<mode>_<round>.json and .log and
# prints each run's row.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-perf/results/tls}
rounds=${2:-2}
[[ -d build-rel ]] || meson setup build-rel --buildtype=release -Dtests=false
ninja -C build-rel >/dev/null
bench=build-rel/perf/fanout-bench

run() {	# run LABEL MODE ROUND FLAGS...
  local label=$1 mode=$2 round=$3
  shift 3
  local f="${out}_${label}_${mode}_$round" extra=()
  [[ $mode == tls ]] && extra=(--fanout-tls)
  "$bench" --system fanout --repeat 3 "${extra[@]}" "$@" >"$f.json" 2>"$f.log"
  printf '%-6s %-5s round %s: ' "$label" "$mode" "$round" >&2
  grep -A1 '^system' "$f.log" | tail -1 >&2 || true
}

for ((r = 1; r <= rounds; r++)); do
  for mode in plain tls; do
    run 1to10 "$mode" "$r" --subscribers 10 --rate 20000 --duration 5 --batch 64
    run max "$mode" "$r" --subscribers 10 --rate 0 --duration 2 --batch 128
  done
done
