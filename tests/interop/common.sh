# shellcheck shell=bash
# Shared by the interop suite's scripts (interop_test.sh, canonical_test.sh): a fanoutd of
# their own on an ephemeral loopback port in a temporary directory, stopped (and checked to
# exit 0 on SIGTERM) before they end, whatever happens.
#
#   DIR          the temporary directory (created here; removed at exit)
#   FAIL_RC      what fail exits with (default 1)
#   start_fanoutd FANOUTD [flags...]   sets FANOUTD_PID and ADDR (HOST:PORT)
#   stop_fanoutd                       SIGTERM, wait up to 10 s, fail unless it exits 0
#   bounded SECONDS CMD...             CMD under timeout(1) when there is one
#   fail MESSAGE                       says why, shows fanoutd's log, exits FAIL_RC

FAIL_RC=${FAIL_RC:-1}
FANOUTD_PID=
ADDR=
DIR=$(mktemp -d "${TMPDIR:-/tmp}/fanout-interop.XXXXXX") || exit 1

interop_cleanup() {
  if [[ -n $FANOUTD_PID ]] && kill -0 "$FANOUTD_PID" 2>/dev/null; then
    kill -TERM "$FANOUTD_PID" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$FANOUTD_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$FANOUTD_PID" 2>/dev/null
  fi
  [[ -n $FANOUTD_PID ]] && wait "$FANOUTD_PID" 2>/dev/null
  rm -rf "$DIR"
}
trap interop_cleanup EXIT
trap 'exit $FAIL_RC' INT TERM

fail() {
  echo "FAIL: $*" >&2
  if [[ -s $DIR/fanoutd.log ]]; then
    echo "--- fanoutd log (last 80 lines) ---" >&2
    tail -n 80 "$DIR/fanoutd.log" >&2
  fi
  exit "$FAIL_RC"
}

# Bounded even if a binary hangs (the meson timeout would otherwise be the only stop).
bounded() {
  if command -v timeout >/dev/null 2>&1; then timeout -k 5 "$@"; else shift; "$@"; fi
}

start_fanoutd() {
  local bin=$1
  shift
  "$bin" --listen 127.0.0.1:0 --data-dir "$DIR/data" --ready-file "$DIR/ready" "$@" \
    >"$DIR/fanoutd.log" 2>&1 &
  FANOUTD_PID=$!
  ADDR=
  for _ in $(seq 100); do
    if [[ -s $DIR/ready ]]; then
      ADDR=$(head -n 1 "$DIR/ready" | tr -d '[:space:]')
      [[ $ADDR == *:* ]] && break
      ADDR=
    fi
    kill -0 "$FANOUTD_PID" 2>/dev/null || fail "fanoutd exited before it was ready"
    sleep 0.1
  done
  [[ -n $ADDR ]] || fail "fanoutd wrote no ready file ($DIR/ready) within 10 s"
  echo "fanoutd listening on $ADDR"
}

stop_fanoutd() {
  local rc
  kill -0 "$FANOUTD_PID" 2>/dev/null || fail "fanoutd died during the test"
  kill -TERM "$FANOUTD_PID"
  for _ in $(seq 100); do kill -0 "$FANOUTD_PID" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$FANOUTD_PID" 2>/dev/null; then
    fail "fanoutd did not exit within 10 s of SIGTERM"
  fi
  wait "$FANOUTD_PID"
  rc=$?
  FANOUTD_PID=
  ((rc == 0)) || fail "fanoutd exited $rc after SIGTERM (want 0)"
}
