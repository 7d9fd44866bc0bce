#!/usr/bin/env bash
# Plots fanout-bench results with gnuplot (gnuplot-nox):
#
#   perf/plot.sh RESULTS_DIR SCENARIO [OUT_DIR (default RESULTS_DIR)]
#
# Reads RESULTS_DIR/SCENARIO.<system>.hdr (from --hdr-out RESULTS_DIR/SCENARIO; <system>
# may be fanout-shm, fanout's shared-memory readers), or RESULTS_DIR/SCENARIO itself when
# the run had one report line, and RESULTS_DIR/SCENARIO.json (fanout-bench's stdout), and
# writes
#   OUT_DIR/SCENARIO-latency.png     latency (µs, log) by percentile, x = 1/(1-p) on a log
#                                    scale (10 = p90, 100 = p99, ...), one line per system
#   OUT_DIR/SCENARIO-throughput.png  median deliveries/s per system, as bars
# Plots only: fanout-bench itself does not need gnuplot. Exits 2 when gnuplot is missing
# or there is nothing to plot.
set -euo pipefail

USAGE="usage: perf/plot.sh RESULTS_DIR SCENARIO [OUT_DIR]"
DIR=${1:?$USAGE}
SC=${2:?$USAGE}
OUT=${3:-$DIR}
if ! command -v gnuplot >/dev/null 2>&1; then
  echo "perf/plot.sh: gnuplot is not installed, so no plots were made (the results in $DIR" \
    "are complete without them). Install the Debian package gnuplot-nox:" \
    "apt-get install gnuplot-nox" >&2
  exit 2
fi
if ! compgen -G "$DIR/$SC.*.hdr" >/dev/null && [[ ! -f $DIR/$SC && ! -s $DIR/$SC.json ]]; then
  echo "perf/plot.sh: nothing to plot: no $DIR/$SC.*.hdr (fanout-bench --hdr-out $DIR/$SC)" \
    "and no $DIR/$SC.json (its stdout)" >&2
  exit 2
fi
mkdir -p "$OUT"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/fanout-plot.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

plots=()
for f in "$DIR/$SC".*.hdr "$DIR/$SC"; do
  [[ -f $f ]] || continue
  sys=${f%.hdr}; sys=${sys##*.}
  if [[ $f == "$DIR/$SC" ]]; then   # one report line: named by the JSON's only medians
    sys=$(grep -o '"medians":{"[a-z-]*"' "$DIR/$SC.json" 2>/dev/null | sed 's/.*{"//; s/"$//' || true)
    sys=${sys:-$SC}
  fi
  # Only the table rows with all four columns (the p=1 row has no 1/(1-p)).
  awk 'NF == 4 && $1 ~ /^[0-9.]+$/ { print $4, $1 }' "$f" >"$TMP/$sys.dat"
  [[ -s $TMP/$sys.dat ]] && plots+=("'$TMP/$sys.dat' using 1:2 with lines lw 2 title '$sys'")
done
if ((${#plots[@]})); then
  joined=$(IFS=,; echo "${plots[*]}")
  gnuplot <<GP
set terminal pngcairo size 900,560 noenhanced
set output '$OUT/$SC-latency.png'
set title '$SC: end-to-end latency by percentile (intended send time -> receive)'
set logscale x
set logscale y
set xlabel 'percentile'
set ylabel 'latency (µs)'
set xtics ('50%%' 2, '90%%' 10, '99%%' 100, '99.9%%' 1000, '99.99%%' 10000, '99.999%%' 100000)
set grid
set key bottom right opaque box
plot $joined
GP
  echo "wrote $OUT/$SC-latency.png"
fi

if [[ -s $DIR/$SC.json ]]; then
  # The summary's medians, in the order fanout-bench writes them (no JSON tool needed).
  grep -o '"[a-z-]*":{"events_per_s_in":[-0-9.e+]*,"deliveries_per_s_out":[-0-9.e+]*' "$DIR/$SC.json" |
    sed 's/^"\([a-z-]*\)":{"events_per_s_in":\([^,]*\),"deliveries_per_s_out":\(.*\)/\1 \3 \2/' >"$TMP/tp.dat"
  gnuplot <<GP
set terminal pngcairo size 700,450 noenhanced
set output '$OUT/$SC-throughput.png'
set title '$SC: median deliveries/s (offered: see events/s in)'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set yrange [0:*]
set offsets 0, 0, graph 0.15, 0
set key below horizontal
set grid ytics
set ylabel 'deliveries/s'
plot '$TMP/tp.dat' using 2:xtic(1) title 'deliveries/s out', '' using 3 title 'events/s in'
GP
  echo "wrote $OUT/$SC-throughput.png"
fi
