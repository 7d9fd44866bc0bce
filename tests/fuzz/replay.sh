#!/usr/bin/env bash
# Replays a fuzz target's committed corpus once: every input in DIR, one run each (libFuzzer's
# file mode never writes to DIR). The fuzz suite's test for one target. Scratch files go to a
# directory removed afterwards, also after a crash.
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
base=/dev/shm
[[ -w $base ]] || base=${TMPDIR:-/tmp}
scratch=$(mktemp -d "$base/fanout-fuzz-replay.XXXXXX") || exit 1
trap 'rm -rf "$scratch"' EXIT
# -error_exitcode: libFuzzer's default, 77, is what meson calls a skip.
FANOUT_FUZZ_TMPDIR=$scratch "$bin" -runs=1 -error_exitcode=1 "${inputs[@]}"
