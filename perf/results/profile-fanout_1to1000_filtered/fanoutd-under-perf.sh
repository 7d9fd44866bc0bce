#!/usr/bin/env bash
'/tmp/bw/build/tools/fanoutd' "$@" &
fd=$!
perf record -e cpu-clock -g -p $fd -o '/work/main/perf/results/profile-fanout_1to1000_filtered/perf.data' 2>'/work/main/perf/results/profile-fanout_1to1000_filtered/perf-record.log' &
rec=$!
perf stat -e task-clock,context-switches,cpu-migrations -p $fd -o '/work/main/perf/results/profile-fanout_1to1000_filtered/perf-stat.txt' &
st=$!
stop() { kill -TERM $fd 2>/dev/null; wait $fd; kill -INT $rec $st 2>/dev/null; wait $rec $st; exit 0; }
trap stop TERM INT
wait $fd
