#!/usr/bin/env bash
# Syscalls, context switches and CPU of fanoutd per delivery, while fanout-bench runs a
# scenario: perf stat attached to the bench's fanoutd for a few seconds of steady state.
#
#   perf/syscalls.sh BENCH FANOUTD SECONDS -- BENCH-ARGS...
#   e.g. perf/syscalls.sh build-rel/perf/fanout-bench build-rel/tools/fanoutd 3 -- \
#          --systems fanout --rate 0 --subscribers 10 --symbols 5000 --duration 10
#
# Prints one JSON line: task_clock_ms, context_switches, syscalls, deliveries (from the
# bench's progress lines over the same seconds) and each per delivery. Needs perf (Debian
# linux-perf) and permission to attach (root here).
set -euo pipefail

BENCH=$1 FANOUTD=$2 SECS=$3
shift 3
[[ ${1:-} == -- ]] && shift
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

"$BENCH" --fanoutd "$FANOUTD" "$@" >"$out/bench.json" 2>"$out/bench.err" &
bench=$!
pid=
for _ in $(seq 100); do	# the bench's fanoutd, once it runs (10 s at most)
  pid=$(pgrep -P "$bench" -x fanoutd || true)
  [[ -n $pid ]] && grep -q "deliveries/s" "$out/bench.err" 2>/dev/null && break
  sleep 0.1
done
[[ -n $pid ]] || { echo "no fanoutd under the bench" >&2; kill "$bench"; exit 1; }
sleep 1	# past the start
before=$(grep -o 'out [0-9]*$' "$out/bench.err" | tail -1 | awk '{print $2}')
perf stat -x, -e task-clock,context-switches,raw_syscalls:sys_enter -p "$pid" \
  -o "$out/stat" -- sleep "$SECS" 2>/dev/null
after=$(grep -o 'out [0-9]*$' "$out/bench.err" | tail -1 | awk '{print $2}')
wait "$bench" || true
awk -F, -v d="$((after - before))" '
  /task-clock/ { tc = $1 } /context-switches/ { cs = $1 } /sys_enter/ { sc = $1 }
  END { if (d <= 0) d = 1;
        printf "{\"task_clock_ms\":%.1f,\"context_switches\":%d,\"syscalls\":%d,", tc, cs, sc;
        printf "\"deliveries\":%d,\"cpu_ns_per_delivery\":%.1f,", d, tc * 1e6 / d;
        printf "\"switches_per_1k_deliveries\":%.2f,\"syscalls_per_1k_deliveries\":%.2f}\n",
               cs * 1000 / d, sc * 1000 / d }' "$out/stat"
