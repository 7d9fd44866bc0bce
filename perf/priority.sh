#!/usr/bin/env bash
# Topic priority (issue 14, item 7): a 1 -> 1 stream at 10,000 events/s on topic "bench"
# while a bulk load on topic "bench-bulk" (its own publisher flat out, --bulk-subscribers
# taking all of it) saturates the same reactor (--fanout-reactors 1), with "bench" at
# priority 0 (as every topic by default) and at priority 10; and without the bulk load
# for reference, and with the bulk publisher paced at 1M events/s (below saturation:
# what the tail is without the reactor's queue). Modes alternate round by round so the
# machine's drift falls on both.
# Each run also splits its latency (--latency-split): how late the bench's publisher
# began each send, actual send -> server receive, server receive -> subscriber; and how
# late a bench thread's 1 ms sleeps ended meanwhile (the machine's own scheduling delay).
# fanout only: the peers have no priorities to compare (and no bulk load driver).
# Release build.
#
#   perf/priority.sh [OUT-PREFIX] [ROUNDS]   (default perf/results/priority, 2 rounds)
#
# Writes OUT-PREFIX_<load>_p<priority>_<round>.json and .log and prints each run's table
# row and bulk line. Takes ~7 minutes with 2 rounds.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-perf/results/priority}
rounds=${2:-2}
[[ -d build-rel ]] || meson setup build-rel --buildtype=release -Dtests=false
ninja -C build-rel >/dev/null
bench=build-rel/perf/fanout-bench

run() {	# run LOAD PRIORITY ROUND FLAGS...
  local load=$1 prio=$2 round=$3
  shift 3
  local f="${out}_${load}_p${prio}_$round"
  "$bench" --system fanout --fanout-reactors 1 --rate 10000 --duration 5 --subscribers 1 \
    --repeat 3 --fanout-priority "$prio" --latency-split "$@" >"$f.json" 2>"$f.log"
  printf '%-8s priority %-3s round %s:\n' "$load" "$prio" "$round" >&2
  grep -A1 '^system' "$f.log" | tail -1 >&2 || true
  grep '^bulk load' "$f.log" >&2 || true
  grep -E '^fanout latency split|^the machine meanwhile' "$f.log" >&2 || true
}

for ((r = 1; r <= rounds; r++)); do
  for prio in 0 10; do
    run alone "$prio" "$r"
    run bulk1 "$prio" "$r" --bulk-subscribers 1
    run bulk4 "$prio" "$r" --bulk-subscribers 4
    run paced "$prio" "$r" --bulk-subscribers 1 --bulk-rate 1000000
  done
done
