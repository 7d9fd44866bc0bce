#!/usr/bin/env bash
# WebSocket streams through a real fanoutd: starts one of its own (tests/interop/common.sh)
# with the admin API on an ephemeral port, runs the Node script NAME.mjs against it (the
# ws and protobufjs packages from tests/ws/node_modules: `npm ci` there, as tools/test
# does) and stops the server, which must exit 0.
#
#   ws_test.sh NAME FANOUTD FANOUT_PUB PROTO [fanoutd flags...]   (@DIR@: the test's directory)
#
# Exit 0 pass, 1 fail, 77 skip (no node or no node_modules, or the script says so).
set -uo pipefail

if (($# < 4)); then
  echo "usage: $0 NAME FANOUTD FANOUT_PUB PROTO [flags...]" >&2
  exit 2
fi
NAME=$1
FANOUTD=$(realpath "$2")
FANOUT_PUB=$(realpath "$3")
PROTO=$(realpath "$4")
shift 4
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

if ! command -v node >/dev/null 2>&1; then
  echo "SKIP: node not found (tools/test installs nodejs)" >&2
  exit 77
fi
if [[ ! -f $HERE/node_modules/ws/package.json || ! -f $HERE/node_modules/protobufjs/package.json ]]; then
  echo "SKIP: $HERE/node_modules missing (run: cd tests/ws && npm ci)" >&2
  exit 77
fi

# Under AddressSanitizer (the asan tree): a small quarantine, so that freed memory is not
# counted as the server's (ws/slow measures it).
export ASAN_OPTIONS="${ASAN_OPTIONS:-}${ASAN_OPTIONS:+:}quarantine_size_mb=8"

# shellcheck source=tests/interop/common.sh
source "$HERE/../interop/common.sh"

# The tls test's certificate (127.0.0.1), made here: @DIR@/cert.pem and @DIR@/key.pem.
if [[ $NAME == tls ]]; then
  command -v openssl >/dev/null 2>&1 || { echo "SKIP: no openssl" >&2; exit 77; }
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$DIR/key.pem" -out "$DIR/cert.pem" \
    -days 1 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1 ||
    fail "openssl could not make a certificate"
  chmod 600 "$DIR/key.pem"
fi

# @DIR@ in a flag is the test's directory (a bootstrap token's file, say).
flags=()
for f in "$@"; do flags+=("${f//@DIR@/$DIR}"); done
start_fanoutd "$FANOUTD" --http 127.0.0.1:0 "${flags[@]}"
HTTP=$(sed -n 's/^http //p' "$DIR/ready")
[[ -n $HTTP ]] || fail "no http line in the ready file"

# With --tls-cert the TCP port speaks TLS too: fanout-pub dials tls:// and trusts the
# test's certificate.
TCP=$ADDR
if [[ $NAME == tls ]]; then
  TCP="tls://$ADDR"
  export FANOUT_TLS_CA="$DIR/cert.pem"
fi
(cd "$HERE" && FANOUT_TCP=$TCP FANOUT_HTTP=$HTTP FANOUT_PUB=$FANOUT_PUB FANOUT_PROTO=$PROTO \
  FANOUT_DIR=$DIR FANOUTD_PID=$FANOUTD_PID bounded 240 node "$NAME.mjs")
rc=$?
if ((rc == 77)); then	# what it needs is missing (a browser): a skip, said by the script
  stop_fanoutd
  exit 77
fi
((rc == 0)) || fail "$NAME.mjs exited $rc"

stop_fanoutd
