#!/usr/bin/env bash
# The cost of --fsync (issue 14, item 5): fanoutd alone, the same scenario under each
# mode, the modes alternating round by round so the machine's drift falls on all of
# them alike. Release build; the data directory is on the bench's temporary directory
# (this machine: /tmp on the virtio disk, so fdatasync reaches a real device).
#
#   perf/fsync.sh [OUT-PREFIX] [ROUNDS]   (default perf/results/fsync, 2 rounds)
#
# Per round and mode: 1 -> 1 flat out (fanout_1to1_max, 2 s, medians of 3) and 1 -> 10
# at 20,000 events/s (5 s, medians of 3). Writes OUT-PREFIX_<scenario>_<mode>_<round>.json
# and .log, and prints each run's table row. Takes ~8 minutes with 2 rounds.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-perf/results/fsync}
rounds=${2:-2}
[[ -d build-rel ]] || meson setup build-rel --buildtype=release -Dtests=false
ninja -C build-rel >/dev/null
bench=build-rel/perf/fanout-bench

run() {	# run LABEL MODE ROUND FLAGS...
  local label=$1 mode=$2 round=$3
  shift 3
  local f="${out}_${label}_${mode/:/-}_$round"
  "$bench" --system fanout --fanout-fsync "$mode" --repeat 3 "$@" >"$f.json" 2>"$f.log"
  printf '%-10s %-13s round %s: ' "$label" "$mode" "$round" >&2
  grep -A1 '^system' "$f.log" | tail -1 >&2 || true
}

for ((r = 1; r <= rounds; r++)); do
  for mode in interval:100 batch never; do
    run max "$mode" "$r" --scenario perf/scenarios/fanout_1to1_max.ini --duration 2
    run 1to10 "$mode" "$r" --subscribers 10 --rate 20000 --duration 5 --batch 64
  done
done
