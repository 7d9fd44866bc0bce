#!/usr/bin/env bash
# First throughput measurement: one publisher and one subscriber on one topic, over loopback.
#
#   perf/skeleton_throughput.sh [BUILD_DIR (default build)] [N events (default 2000000)] [RUNS (default 5)]
#
# Each run gets a fresh fanoutd and data dir: fanout-sub subscribes (from earliest, counting),
# 0.3 s later fanout-pub publishes N events and waits for every ack. Prints per-run rows and
# the medians (publisher events/s, subscriber events/s, p50/p99 latency) as markdown.
# Builds nothing: build first (`tools/run --help` or `ninja -C build`), ideally release.
# Env: TOPIC (bench), SETTLE_S (0.3), PUB_TIMEOUT_S (300), SUB_TIMEOUT_S (120),
#      FANOUTD_ARGS (extra fanoutd options), PUB_ARGS (extra fanout-pub options).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${1:-build}
N=${2:-2000000}
RUNS=${3:-5}
TOPIC=${TOPIC:-bench}
SETTLE_S=${SETTLE_S:-0.3}
PUB_TIMEOUT_S=${PUB_TIMEOUT_S:-300}
SUB_TIMEOUT_S=${SUB_TIMEOUT_S:-120}
read -r -a EXTRA_FANOUTD <<<"${FANOUTD_ARGS:-}"
read -r -a EXTRA_PUB <<<"${PUB_ARGS:-}"

[[ -d $BUILD ]] || BUILD="$ROOT/$BUILD"
FANOUTD="$BUILD/tools/fanoutd"
PUB="$BUILD/tools/fanout-pub"
SUB="$BUILD/tools/fanout-sub"
for b in "$FANOUTD" "$PUB" "$SUB"; do
  [[ -x $b ]] || { echo "not built: $b (build first: meson setup build --buildtype=release && ninja -C build)" >&2; exit 2; }
done
[[ $N =~ ^[0-9]+$ && $RUNS =~ ^[0-9]+$ && $RUNS -ge 1 ]] || { echo "usage: $0 [BUILD_DIR] [N] [RUNS]" >&2; exit 2; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/fanout-perf.XXXXXX") || exit 1
PIDS=()
stop_all() {
  local p
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null
    wait "$p" 2>/dev/null
  done
  PIDS=()
}
cleanup() {
  stop_all
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Waits up to $2 seconds for pid $1 to exit; returns its status, 124 on timeout (then kills it).
wait_bounded() {
  local pid=$1 limit=$2 i
  for ((i = 0; i < limit * 10; i++)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      wait "$pid"
      return $?
    fi
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  return 124
}

# A number out of a flat one-line JSON object.
jnum() { sed -n "s/.*\"$2\":[[:space:]]*\([-0-9.eE+]*\).*/\1/p" <<<"$1" | head -n 1; }

# median [PRINTF_FORMAT]: the median of the numbers on stdin.
median() {
  sort -g | awk -v fmt="${1:-%.0f}" '{ v[NR] = $1 } END {
    if (NR == 0) { print "n/a"; exit }
    m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    printf fmt "\n", m }'
}

fmt() { [[ -n $1 ]] && printf "%.0f" "$1" || printf "n/a"; }

PUB_RATES=()
SUB_RATES=()
P50S=()
P99S=()
FAILED_RUNS=0
ROWS=()

for ((run = 1; run <= RUNS; run++)); do
  D="$TMP/run$run"
  mkdir -p "$D"
  "$FANOUTD" --listen 127.0.0.1:0 --data-dir "$D/data" --ready-file "$D/ready" --quiet \
    "${EXTRA_FANOUTD[@]}" >"$D/fanoutd.log" 2>&1 &
  FD_PID=$!
  PIDS=("$FD_PID")
  ADDR=
  for _ in $(seq 100); do
    [[ -s $D/ready ]] && ADDR=$(head -n 1 "$D/ready" | tr -d '[:space:]') && [[ $ADDR == *:* ]] && break
    ADDR=
    kill -0 "$FD_PID" 2>/dev/null || break
    sleep 0.1
  done
  if [[ -z $ADDR ]]; then
    echo "run $run: fanoutd not ready within 10 s; log:" >&2
    tail -n 20 "$D/fanoutd.log" >&2
    stop_all
    FAILED_RUNS=$((FAILED_RUNS + 1))
    continue
  fi

  "$SUB" --connect "$ADDR" --topic "$TOPIC" --from earliest --count --expect "$N" \
    --timeout "$SUB_TIMEOUT_S" >"$D/sub.json" 2>"$D/sub.err" &
  SUB_PID=$!
  PIDS+=("$SUB_PID")
  sleep "$SETTLE_S"

  "$PUB" --connect "$ADDR" --topic "$TOPIC" --count "$N" --quiet "${EXTRA_PUB[@]}" \
    >"$D/pub.json" 2>"$D/pub.err" &
  PUB_PID=$!
  PIDS+=("$PUB_PID")
  wait_bounded "$PUB_PID" "$PUB_TIMEOUT_S"
  pub_rc=$?
  wait_bounded "$SUB_PID" $((SUB_TIMEOUT_S + 10))
  sub_rc=$?
  stop_all

  pub=$(grep -m1 '^{' "$D/pub.json")
  sub=$(grep -m1 '^{' "$D/sub.json")
  pub_rate=$(jnum "$pub" events_per_s)
  acked=$(jnum "$pub" acked)
  sub_rate=$(jnum "$sub" events_per_s)
  received=$(jnum "$sub" received)
  p50=$(jnum "$sub" p50_us)
  p99=$(jnum "$sub" p99_us)
  p999=$(jnum "$sub" p999_us)
  max=$(jnum "$sub" max_us)
  ooo=$(jnum "$sub" out_of_order)
  note=ok
  if ((pub_rc != 0 || sub_rc != 0)) || [[ $acked != "$N" || $received != "$N" ]]; then
    note="FAILED (pub exit $pub_rc, sub exit $sub_rc)"
    FAILED_RUNS=$((FAILED_RUNS + 1))
    { echo "run $run: $note"; echo "pub: $pub"; tail -n 5 "$D/pub.err"; echo "sub: $sub"; tail -n 5 "$D/sub.err"
      echo "fanoutd log:"; tail -n 20 "$D/fanoutd.log"; } >&2
  fi
  echo "run $run: pub $pub" >&2
  echo "run $run: sub $sub" >&2
  ROWS+=("| $run | $(fmt "$pub_rate") | ${acked:-n/a} | ${received:-n/a} | $(fmt "$sub_rate") | ${p50:-n/a} | ${p99:-n/a} | ${p999:-n/a} | ${max:-n/a} | ${ooo:-n/a} | $note |")
  if [[ $note == ok ]]; then
    PUB_RATES+=("$pub_rate")
    SUB_RATES+=("$sub_rate")
    P50S+=("$p50")
    P99S+=("$p99")
  fi
done

echo
echo "### skeleton throughput: 1 publisher, 1 subscriber, topic '$TOPIC', $N events x $RUNS runs"
echo
echo "$(date -u +%Y-%m-%dT%H:%M:%SZ), $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '?'), $(nproc) cores, build dir $BUILD"
echo
echo "| run | pub events/s | acked | sub received | sub events/s | p50 µs | p99 µs | p99.9 µs | max µs | out of order | result |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
printf '%s\n' "${ROWS[@]}"
echo
ok_runs=${#PUB_RATES[@]}
echo "| median of $ok_runs good run(s) | value |"
echo "|---|---:|"
echo "| publisher events/s | $(printf '%s\n' "${PUB_RATES[@]}" | grep . | median) |"
echo "| subscriber events/s | $(printf '%s\n' "${SUB_RATES[@]}" | grep . | median) |"
echo "| p50 latency µs | $(printf '%s\n' "${P50S[@]}" | grep . | median %.1f) |"
echo "| p99 latency µs | $(printf '%s\n' "${P99S[@]}" | grep . | median %.1f) |"
((FAILED_RUNS == 0)) || { echo; echo "$FAILED_RUNS of $RUNS run(s) failed"; exit 1; }
