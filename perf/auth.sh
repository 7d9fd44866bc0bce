#!/usr/bin/env bash
# What authentication costs on the data path (issue 15): fanoutd with --auth off and
# with --auth required (--fanout-auth: every client sends the bootstrap token at Hello;
# each subscribe and every published event's topic is checked against its patterns),
# alternating round by round so the machine's drift falls on both alike. fanout only:
# the peers are not asked to authenticate (their 1 -> 10 beside fanout's is section 10).
# Release build.
#
#   perf/auth.sh [OUT-PREFIX] [ROUNDS]   (default perf/results/auth, 2 rounds)
#
# Per round and mode: 1 -> 10 at 20,000 events/s (5 s), 1 -> 1000 filtered (its
# scenario file) and 1 -> 10 flat out (2 s); medians of 3 each. Writes
# OUT-PREFIX_<scenario>_<mode>_<round>.json and .log and prints each run's row.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-perf/results/auth}
rounds=${2:-2}
[[ -d build-rel ]] || meson setup build-rel --buildtype=release -Dtests=false
ninja -C build-rel >/dev/null
bench=build-rel/perf/fanout-bench

run() {	# run LABEL MODE ROUND FLAGS...
  local label=$1 mode=$2 round=$3
  shift 3
  local f="${out}_${label}_${mode}_$round" extra=()
  [[ $mode == on ]] && extra=(--fanout-auth)
  "$bench" --system fanout --repeat 3 "${extra[@]}" "$@" >"$f.json" 2>"$f.log"
  printf '%-8s auth %-3s round %s: ' "$label" "$mode" "$round" >&2
  grep -A1 '^system' "$f.log" | tail -1 >&2 || true
}

for ((r = 1; r <= rounds; r++)); do
  for mode in off on; do
    run 1to10 "$mode" "$r" --subscribers 10 --rate 20000 --duration 5 --batch 64
    run 1to1000f "$mode" "$r" --scenario perf/scenarios/fanout_1to1000_filtered.ini
    run max "$mode" "$r" --subscribers 10 --rate 0 --duration 2 --batch 128
  done
done
