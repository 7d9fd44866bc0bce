#!/usr/bin/env bash
# Fuzzes the libFuzzer targets of tests/fuzz for SECONDS each, one after the other, in a
# clang build tree (configured and built here when it is missing or stale). Each run first
# replays the target's committed corpus, then mutates it.
#
#   tests/fuzz/run.sh [--build DIR] [--no-build] [--merge] [SECONDS] [TARGET...]
#   tests/fuzz/run.sh --list
#
#   SECONDS      fuzzing time per target (default 60)
#   TARGET       frame, pattern, ... (default: every *_fuzz the build tree has)
#   --build DIR  the build tree (default build-fuzz)
#   --no-build   use DIR as it is (tools/test builds it first)
#   --merge      afterwards, copy into tests/fuzz/corpus/TARGET the fewest inputs that reach
#                the code the committed corpus does not (libFuzzer -merge=1 on edges only,
#                so the corpus stays small), ready to commit
#   --list       print the targets and exit
#
# Inputs found along the way are kept in DIR/fuzz/TARGET/corpus, so the next run goes on
# from there. A crash (or leak, timeout, out-of-memory) is saved as
# DIR/fuzz/TARGET/crash-* and printed with the command that reproduces it; commit it to
# tests/fuzz/corpus/TARGET/ with the fix so the fuzz suite replays it from then on.
# Scratch files go to a directory removed afterwards, also after a crash. Prints one line
# per target; exits 1 if any target failed.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=build-fuzz
BUILD_IT=1
MERGE=0
LIST=0
SECONDS_EACH=60
TARGETS=()

usage() { sed -n '2,/^set -uo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }

while (($#)); do
  case $1 in
    --build) BUILD=${2:?--build needs a directory}; shift 2 ;;
    --no-build) BUILD_IT=0; shift ;;
    --merge) MERGE=1; shift ;;
    --list) LIST=1; shift ;;
    -h | --help) usage; exit 0 ;;
    -*) echo "run.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    *)
      if [[ ${#TARGETS[@]} -eq 0 && $1 =~ ^[0-9]+$ ]]; then SECONDS_EACH=$1; else TARGETS+=("$1"); fi
      shift ;;
  esac
done
cd "$ROOT" || exit 2
[[ $BUILD == /* ]] || BUILD=$ROOT/$BUILD

if ((BUILD_IT)); then
  if [[ ! -f $BUILD/meson-private/coredata.dat ]]; then
    CC=clang meson setup "$BUILD" -Dfuzz=true -Dtests=false -Db_lundef=false >/dev/null ||
      { echo "run.sh: meson setup $BUILD failed" >&2; exit 2; }
  fi
  ninja -C "$BUILD" >/dev/null || { echo "run.sh: building $BUILD failed" >&2; exit 2; }
fi

if ((${#TARGETS[@]} == 0)); then
  for bin in "$BUILD"/tests/fuzz/*_fuzz; do
    [[ -x $bin ]] && TARGETS+=("$(basename "$bin" _fuzz)")
  done
fi
if ((${#TARGETS[@]} == 0)); then
  echo "run.sh: no fuzz targets in $BUILD/tests/fuzz (configured with -Dfuzz=true?)" >&2
  exit 2
fi
if ((LIST)); then
  printf '%s\n' "${TARGETS[@]}"
  exit 0
fi

# Smaller ASan quarantine than the 256 MB default: the machine is shared.
export ASAN_OPTIONS=${ASAN_OPTIONS:-quarantine_size_mb=64:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
SCRATCH=
trap '[[ -n $SCRATCH ]] && rm -rf "$SCRATCH"' EXIT
trap 'exit 130' INT TERM
base=/dev/shm
[[ -w $base ]] || base=${TMPDIR:-/tmp}

failed=0
for t in "${TARGETS[@]}"; do
  bin=$BUILD/tests/fuzz/${t}_fuzz
  seeds=$ROOT/tests/fuzz/corpus/$t
  work=$BUILD/fuzz/$t
  if [[ ! -x $bin ]]; then
    echo "fuzz $t: FAIL: no $bin"
    failed=1
    continue
  fi
  mkdir -p "$work/corpus" "$seeds"
  # Kept between runs, so it only grows: past 4000 inputs, keep those that cover it all.
  if (($(find "$work/corpus" -type f | wc -l) > 4000)); then
    rm -rf "$work/corpus.min" && mkdir "$work/corpus.min" &&
      FANOUT_FUZZ_TMPDIR=$base "$bin" -merge=1 "$work/corpus.min" "$work/corpus" >/dev/null 2>&1 &&
      rm -rf "$work/corpus" && mv "$work/corpus.min" "$work/corpus"
  fi
  args=(-max_total_time="$SECONDS_EACH" -timeout=25 -rss_limit_mb=2048 -print_final_stats=1
    -artifact_prefix="$work/")
  [[ -f $ROOT/tests/fuzz/$t.dict ]] && args+=(-dict="$ROOT/tests/fuzz/$t.dict")
  SCRATCH=$(mktemp -d "$base/fanout-fuzz-run.XXXXXX") || exit 2
  touch "$work/started"
  FANOUT_FUZZ_TMPDIR=$SCRATCH "$bin" "${args[@]}" "$work/corpus" "$seeds" >"$work/log" 2>&1
  rc=$?
  rm -rf "$SCRATCH"
  SCRATCH=
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log")
  cov=$(grep -Eo 'cov: [0-9]+' "$work/log" | tail -n 1)
  if ((rc == 0)); then
    echo "fuzz $t: ok: ${runs:-?} runs in ${SECONDS_EACH} s, ${cov:-cov: ?}, corpus $(find "$work/corpus" -type f | wc -l) inputs"
  else
    failed=1
    echo "fuzz $t: FAIL (exit $rc) after ${runs:-?} runs; the end of $work/log:"
    grep -v -E '^#[0-9]+ |^INFO: |NEW_FUNC' "$work/log" | tail -n 40 | sed 's/^/    /'
    while IFS= read -r crash; do
      echo "    saved: $crash"
      echo "    reproduce: FANOUT_FUZZ_VERBOSE=1 $bin $crash"
    done < <(find "$work" -maxdepth 1 -type f -newer "$work/started" \
      \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \))
  fi
  if ((MERGE)); then
    n0=$(find "$seeds" -type f | wc -l)
    # Edges only: hit counts and comparison operands would keep hundreds of inputs.
    FANOUT_FUZZ_TMPDIR=$base "$bin" -merge=1 -use_counters=0 -use_cmp=0 -use_value_profile=0 \
      "$seeds" "$work/corpus" >"$work/merge.log" 2>&1 ||
      { echo "fuzz $t: merge failed (see $work/merge.log)"; failed=1; continue; }
    echo "fuzz $t: merged $(($(find "$seeds" -type f | wc -l) - n0)) new inputs into" \
      "tests/fuzz/corpus/$t ($(find "$seeds" -type f -printf '%s\n' | awk '{ n += $1 } END { print n }') bytes)"
  fi
done
exit $failed
