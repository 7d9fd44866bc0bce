#!/usr/bin/env bash
# 1 -> 10 with each kind of subscription (issue 14, item 2): anonymous, named EXCLUSIVE
# (--fanout-named: 10 durable subscriptions, each sent every event), and one SHARED or
# KEY_SHARED named subscription whose 10 consumers are dealt each event once
# (--fanout-shared). Modes alternate round by round so the machine's drift falls on all
# alike. fanout only: the peers have no such subscriptions (their 1 -> 10 beside fanout's
# anonymous one is section 10). Release build.
#
#   perf/shared.sh [OUT-PREFIX] [ROUNDS]   (default perf/results/shared, 2 rounds)
#
# Per round and mode: 20,000 events/s for 5 s and flat out for 2 s, medians of 3 each.
# Writes OUT-PREFIX_<scenario>_<mode>_<round>.json and .log and prints each run's row.
# Takes ~6 minutes with 2 rounds.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-perf/results/shared}
rounds=${2:-2}
[[ -d build-rel ]] || meson setup build-rel --buildtype=release -Dtests=false
ninja -C build-rel >/dev/null
bench=build-rel/perf/fanout-bench

run() {	# run LABEL MODE ROUND FLAGS...
  local label=$1 mode=$2 round=$3
  shift 3
  local f="${out}_${label}_${mode}_$round" extra=()
  case $mode in
    named) extra=(--fanout-named) ;;
    shared|key_shared) extra=(--fanout-shared "$mode") ;;
  esac
  "$bench" --system fanout --repeat 3 "${extra[@]}" "$@" >"$f.json" 2>"$f.log"
  printf '%-6s %-10s round %s:\n' "$label" "$mode" "$round" >&2
  grep -A1 '^system' "$f.log" | tail -1 >&2 || true
}

for ((r = 1; r <= rounds; r++)); do
  for mode in anonymous named shared key_shared; do
    run 1to10 "$mode" "$r" --subscribers 10 --rate 20000 --duration 5 --batch 64
    run max "$mode" "$r" --subscribers 10 --rate 0 --duration 2 --batch 128
  done
done
