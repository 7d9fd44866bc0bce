#!/usr/bin/env bash
# Profiles fanoutd under one fanout-bench scenario:
#
#   perf/profile.sh SCENARIO.ini [BUILD_DIR (default build)] [OUT_DIR (default perf/results/profile-<scenario>)]
#
# Runs `fanout-bench --scenario SCENARIO.ini --system fanout --repeat 1` with fanoutd wrapped
# (through fanout-bench --fanoutd) by a script that runs it under
#   perf record -e cpu-clock -g   (software clock: no hardware counters needed)
#   perf stat -e task-clock,context-switches,cpu-migrations
# and writes beside the results: bench.json, bench.log, perf.data, perf-report.txt (top
# call paths), perf-stat.txt. Hardware counters are not used; when perf itself is missing
# or not permitted (perf_event_paranoid), the benchmark still runs and the reports say why.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SCEN=${1:?usage: perf/profile.sh SCENARIO.ini [BUILD_DIR] [OUT_DIR]}
BUILD=${2:-build}
[[ -d $BUILD ]] || BUILD="$ROOT/$BUILD"
NAME=$(basename "$SCEN" .ini)
OUT=${3:-$ROOT/perf/results/profile-$NAME}
BENCH="$BUILD/perf/fanout-bench"
FANOUTD="$BUILD/tools/fanoutd"
for b in "$BENCH" "$FANOUTD"; do
  [[ -x $b ]] || { echo "not built: $b" >&2; exit 2; }
done
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

# fanout-bench stops fanoutd with SIGTERM by pid: the wrapper stops fanoutd, then the two
# perf processes attached to it (by pid), so perf writes its data.
WRAP="$OUT/fanoutd-under-perf.sh"
if command -v perf >/dev/null 2>&1 && perf stat -e task-clock true >/dev/null 2>&1; then
  cat >"$WRAP" <<W
#!/usr/bin/env bash
'$FANOUTD' "\$@" &
fd=\$!
perf record -e cpu-clock -g -p \$fd -o '$OUT/perf.data' 2>'$OUT/perf-record.log' &
rec=\$!
perf stat -e task-clock,context-switches,cpu-migrations -p \$fd -o '$OUT/perf-stat.txt' &
st=\$!
stop() { kill -TERM \$fd 2>/dev/null; wait \$fd; kill -INT \$rec \$st 2>/dev/null; wait \$rec \$st; exit 0; }
trap stop TERM INT
wait \$fd
W
  have_perf=1
else
  echo "perf missing or not permitted here (perf_event_paranoid=$(cat /proc/sys/kernel/perf_event_paranoid 2>/dev/null)); running without it" >&2
  printf '#!/usr/bin/env bash\nexec %q "$@"\n' "$FANOUTD" >"$WRAP"
  have_perf=0
fi
chmod +x "$WRAP"

"$BENCH" --scenario "$SCEN" --system fanout --repeat 1 --fanoutd "$WRAP" \
  --hdr-out "$OUT/latency.hdr" >"$OUT/bench.json" 2>"$OUT/bench.log"
rc=$?
sleep 1
if ((have_perf)) && [[ -s $OUT/perf.data ]]; then
  perf report -i "$OUT/perf.data" --stdio --no-children --percent-limit 1 \
    --sort symbol >"$OUT/perf-report.txt" 2>/dev/null
  perf report -i "$OUT/perf.data" --stdio --children --percent-limit 5 \
    >"$OUT/perf-report-callgraph.txt" 2>/dev/null
  echo "wrote $OUT/perf-stat.txt, $OUT/perf-report.txt, $OUT/perf-report-callgraph.txt" >&2
else
  echo "no perf data (perf missing or failed); benchmark results are in $OUT" >&2
fi
exit $rc
