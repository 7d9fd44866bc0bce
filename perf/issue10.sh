#!/usr/bin/env bash
# Issue 10's figures in one go: every scenario the issue names, fanout beside nats-server,
# redis-server and ZeroMQ in the same run (interleaved), medians of 5, then the syscall
# and context-switch counts of fanoutd per delivery. Release build; quiet machine please.
#
#   perf/issue10.sh [OUT-PREFIX]     (default perf/results/issue10_final)
#
# Writes OUT-PREFIX_SCENARIO.json (results) and .log (the table and progress) per scenario
# and OUT-PREFIX_syscalls.json. Takes ~15 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-perf/results/issue10_final}
[[ -d build-rel ]] || meson setup build-rel --buildtype=release -Dtests=false
ninja -C build-rel >/dev/null
bench=build-rel/perf/fanout-bench

run() {	# run SCENARIO [FLAGS...]
  local name=$1
  shift
  echo "== $name $*" >&2
  "$bench" --scenario "perf/scenarios/$name.ini" --repeat 5 "$@" \
    >"${out}_$name.json" 2>"${out}_$name.log"
  grep -A8 '^| system' "${out}_$name.log" | head -8 >&2 || true
}

# Flat out: 2 s of publishing per run keeps 20 runs per scenario within a few minutes.
run fanout_1to1_max --duration 2
run fanout_1to10_max --duration 2
# At fixed rates: the scenarios' own 5 s.
run fanout_1to1
run fanout_1to100
run fanout_1to1000_filtered

echo "== syscalls and switches per delivery, 1 -> 10 x 5,000 flat out" >&2
perf/syscalls.sh "$bench" build-rel/tools/fanoutd 3 -- --systems fanout --rate 0 \
  --subscribers 10 --symbols 5000 --duration 8 | tee "${out}_syscalls.json" >&2
