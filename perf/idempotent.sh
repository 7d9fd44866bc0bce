#!/usr/bin/env bash
# The cost of idempotent publish (issue 14, item 6): the same scenarios with fanout's
# publishers as plain and as idempotent producers (--fanout-idempotent: Hello.producer_id,
# every batch claimed and recorded, every event stamped), alternating round by round so
# the machine's drift falls on both alike; nats-server and redis-server in the same
# invocations for the ratios. Release build.
#
#   perf/idempotent.sh [OUT-PREFIX] [ROUNDS]   (default perf/results/idempotent, 2 rounds)
#
# Per round and mode: 1 -> 1 flat out (fanout_1to1_max, 2 s, medians of 3) and 1 -> 10 at
# 20,000 events/s (5 s, medians of 3). Writes OUT-PREFIX_<scenario>_<mode>_<round>.json
# and .log, and prints each run's table rows. Takes ~8 minutes with 2 rounds.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-perf/results/idempotent}
rounds=${2:-2}
[[ -d build-rel ]] || meson setup build-rel --buildtype=release -Dtests=false
ninja -C build-rel >/dev/null
bench=build-rel/perf/fanout-bench

run() {	# run LABEL MODE ROUND FLAGS...
  local label=$1 mode=$2 round=$3
  shift 3
  local f="${out}_${label}_${mode}_$round" extra=()
  [[ $mode == idempotent ]] && extra=(--fanout-idempotent)
  "$bench" --system fanout,nats,redis --repeat 3 "${extra[@]}" "$@" >"$f.json" 2>"$f.log"
  printf '%-6s %-10s round %s:\n' "$label" "$mode" "$round" >&2
  grep -A3 '^system' "$f.log" | tail -3 >&2 || true
}

for ((r = 1; r <= rounds; r++)); do
  for mode in plain idempotent; do
    run max "$mode" "$r" --scenario perf/scenarios/fanout_1to1_max.ini --duration 2
    run 1to10 "$mode" "$r" --subscribers 10 --rate 20000 --duration 5 --batch 64
  done
done
