#!/usr/bin/env bash
# The data API under load while a stream flows (issue 13's measure): one fanoutd (release
# build), a day of 1-minute trades for symbol DAY published first (20 a minute, event
# times yesterday), then R rounds of: a RATE events/s stream (fanout-pub --rate, 100
# symbols) to one subscriber (fanout-sub --count: receive - event time, p50/p99) for
# SECONDS, alone (A) and while wrk polls /latest of a streaming symbol and a day of DAY's
# 1m bars (B), interleaved A, B, A, B, ... Prints one JSON line per run and the medians.
#
#   perf/data_load.sh [REPEATS] [RATE] [SECONDS]     default: 5 200000 8
#   DATA_INDEX=off perf/data_load.sh ...   the baseline: the data API off, stream alone (A)
set -euo pipefail
cd "$(dirname "$0")/.."
reps=${1:-5} rate=${2:-200000} secs=${3:-8}
bin=build-rel/tools
[[ -x $bin/fanoutd ]] || { meson setup build-rel --buildtype=release -Dtests=false; ninja -C build-rel; }
out=$(mktemp -d)
port=$((17400 + RANDOM % 500)) http=$((18400 + RANDOM % 500))
"$bin/fanoutd" --data-dir "$out/data" --listen 127.0.0.1:$port --http 127.0.0.1:$http \
  --no-shm --quiet $([[ ${DATA_INDEX:-on} == off ]] && echo --data-index-bytes 0) \
  >"$out/server.log" 2>&1 &
srv=$!
trap 'kill $srv 2>/dev/null; wait $srv 2>/dev/null; rm -rf "$(cat "$out/data/HOT" 2>/dev/null)" "$out"' EXIT
for _ in $(seq 100); do curl -sf --max-time 2 "http://127.0.0.1:$http/readyz" >/dev/null && break; sleep 0.1; done

day0=$(( ($(date +%s) / 86400 - 1) * 86400 ))	# yesterday 00:00 UTC
python3 - "$day0" >"$out/day.jsonl" <<'PY'
import json, sys
d0 = int(sys.argv[1]) * 10**9
for m in range(1440):
    for k in range(20):
        t = d0 + m * 60 * 10**9 + k * 3 * 10**9
        print(json.dumps({"event_id": f"day-{m}-{k}", "timestamp_ns": t,
            "distribution": {"topic": "day", "routing_key": "DAY.X.trade"},
            "market_data": {"symbol": "DAY", "price": 100 + (m * 7 + k) % 50 * 0.25,
                            "volume": 1 + k, "kind": "trade"}}))
PY
"$bin/fanout-pub" --connect 127.0.0.1:$port --file "$out/day.jsonl" --quiet >/dev/null
bars="http://127.0.0.1:$http/api/v1/market-data/DAY/history?interval=1m&limit=1440&start_time=$day0"000000000
[[ ${DATA_INDEX:-on} == off ]] ||
  curl -sf --max-time 10 "$bars" | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["count"]==1440, d["count"]'
latest="http://127.0.0.1:$http/api/v1/market-data/S00007/latest"

one() {	# one LABEL: a stream, with wrk beside it when LABEL is B
  local label=$1 lr=null lp=null br=null bp=null
  "$bin/fanout-sub" --connect 127.0.0.1:$port --topic md --count --quiet \
    --timeout $((secs + 3)) >"$out/sub.json" 2>"$out/sub.err" &
  local s=$!
  sleep 0.3
  "$bin/fanout-pub" --connect 127.0.0.1:$port --topic md --rate "$rate" --duration "$secs" \
    --quiet >"$out/pub.json" &
  local p=$!
  if [[ $label == B ]]; then
    sleep 1.5
    wrk -t1 -c4 -d$((secs - 3))s --latency "$latest" >"$out/wrk1.txt" 2>&1 &
    local w1=$!
    wrk -t1 -c4 -d$((secs - 3))s --latency "$bars" >"$out/wrk2.txt" 2>&1 &
    local w2=$!
    wait $w1 $w2 || true
    for f in wrk1 wrk2; do
      grep -q "Non-2xx" "$out/$f.txt" && { echo "wrk saw errors:" >&2; cat "$out/$f.txt" >&2; }
    done
    lr=$(awk '/^Requests\/sec/ {print $2}' "$out/wrk1.txt")
    lp="\"$(awk '$1 == "99%" {print $2}' "$out/wrk1.txt")\""
    br=$(awk '/^Requests\/sec/ {print $2}' "$out/wrk2.txt")
    bp="\"$(awk '$1 == "99%" {print $2}' "$out/wrk2.txt")\""
  fi
  wait $p
  wait $s || true
  python3 - "$out/sub.json" "$label" "$lr" "$lp" "$br" "$bp" <<'PY'
import json, sys
d = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
print(json.dumps({"load": sys.argv[2], "received": d["received"], "p50_us": d["p50_us"],
                  "p99_us": d["p99_us"], "latest_rps": json.loads(sys.argv[3]),
                  "latest_p99": json.loads(sys.argv[4]), "bars_rps": json.loads(sys.argv[5]),
                  "bars_p99": json.loads(sys.argv[6])}))
PY
}

for i in $(seq "$reps"); do
  one A | tee -a "$out/lines"
  [[ ${DATA_INDEX:-on} == off ]] || one B | tee -a "$out/lines"
done
curl -sf --max-time 10 "http://127.0.0.1:$http/metrics" | grep -E '^fanout_data_index_(events_total|behind_events|bytes|postings_dropped_total) ' || true
python3 - "$out/lines" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
for load in "AB":
    rs = [r for r in rows if r["load"] == load]
    if not rs:
        continue
    m = lambda k: statistics.median(r[k] for r in rs)
    line = {"load": load, "runs": len(rs), "median_p50_us": m("p50_us"),
            "median_p99_us": m("p99_us")}
    if load == "B":
        line["median_latest_rps"] = statistics.median(float(r["latest_rps"]) for r in rs)
        line["median_bars_rps"] = statistics.median(float(r["bars_rps"]) for r in rs)
        line["latest_p99"] = [r["latest_p99"] for r in rs]
        line["bars_p99"] = [r["bars_p99"] for r in rs]
    print(json.dumps(line))
PY
