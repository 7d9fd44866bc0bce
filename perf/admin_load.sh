#!/usr/bin/env bash
# The stream's latency with and without REST load on the admin API (issue 12's measure):
# fanout-bench streams a scenario through fanoutd (its admin API on the default
# 127.0.0.1:7480) R times alone (A) and R times while wrk polls a topic's stats (B),
# interleaved A, B, A, B, ...; prints one JSON line per run and the medians.
#
#   perf/admin_load.sh [REPEATS] [WRK-CONNECTIONS] [-- BENCH-ARGS...]
#   default: 5 repeats, 8 connections, --scenario perf/scenarios/fanout_1to10.ini
#
# wrk (Debian) starts 1.5 s into the stream and runs for the bench's duration less 2.5 s.
set -euo pipefail
cd "$(dirname "$0")/.."
reps=${1:-5} conns=${2:-8}
shift $(( $# > 2 ? 2 : $# ))
[[ ${1:-} == -- ]] && shift
args=("$@")
(( ${#args[@]} )) || args=(--scenario perf/scenarios/fanout_1to10.ini)
bench=build-rel/perf/fanout-bench
[[ -x $bench ]] || { meson setup build-rel --buildtype=release -Dtests=false; ninja -C build-rel; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
topic=bench

one() {	# one LABEL: a bench run, with wrk beside it when LABEL is B
  local label=$1 wrk_pid= rps=null wp99=null
  "$bench" "${args[@]}" >"$out/run.json" 2>"$out/run.err" &
  local b=$!
  if [[ $label == B ]]; then
    sleep 1.5
    wrk -t1 -c"$conns" -d2s --latency "http://127.0.0.1:7480/api/v1/topics/$topic/stats" \
      >"$out/wrk.txt" 2>&1 &
    wrk_pid=$!
  fi
  wait "$b"
  if [[ -n $wrk_pid ]]; then
    wait "$wrk_pid" || true
    rps=$(awk '/^Requests\/sec/ {print $2}' "$out/wrk.txt")
    wp99=$(awk '$1 == "99%" {print $2}' "$out/wrk.txt")
    wp99="\"$wp99\""
    grep -q "Non-2xx" "$out/wrk.txt" && { echo "wrk saw errors:" >&2; cat "$out/wrk.txt" >&2; }
  fi
  python3 - "$out/run.json" "$label" "$rps" "$wp99" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
r = [x for x in d["runs"] if x["system"] == "fanout"][0]
print(json.dumps({"load": sys.argv[2], "deliveries": r["deliveries"], "lost": r["lost"],
                  "p50_us": r["latency_us"]["p50"], "p99_us": r["latency_us"]["p99"],
                  "p99_9_us": r["latency_us"]["p99_9"],
                  "wrk_requests_per_s": json.loads(sys.argv[3]), "wrk_p99": json.loads(sys.argv[4])}))
PY
}

for i in $(seq "$reps"); do
  one A | tee -a "$out/lines"
  one B | tee -a "$out/lines"
done
python3 - "$out/lines" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
for load in "AB":
    rs = [r for r in rows if r["load"] == load]
    m = lambda k: statistics.median(r[k] for r in rs)
    line = {"load": load, "runs": len(rs), "median_p50_us": m("p50_us"),
            "median_p99_us": m("p99_us"), "median_p99_9_us": m("p99_9_us")}
    if load == "B":
        line["median_wrk_requests_per_s"] = statistics.median(float(r["wrk_requests_per_s"]) for r in rs)
    print(json.dumps(line))
PY
