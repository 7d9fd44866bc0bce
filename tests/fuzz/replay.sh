#!/usr/bin/env bash
# Replays a fuzz target's committed corpus once: every input in DIR, one run each (libFuzzer's
# file mode never writes to DIR). The fuzz suite's test for one target.
#
#   tests/fuzz/replay.sh BUILD/tests/fuzz/NAME_fuzz tests/fuzz/corpus/NAME
set -uo pipefail
bin=$1
dir=$2
shopt -s nullglob
inputs=("$dir"/*)
if ((${#inputs[@]} == 0)); then
  echo "no inputs in $dir: every target needs seeds in tests/fuzz/corpus/<name>/" >&2
  exit 1
fi
# -error_exitcode: libFuzzer's default, 77, is what meson calls a skip.
exec "$bin" -runs=1 -error_exitcode=1 "${inputs[@]}"
