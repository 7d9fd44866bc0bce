# shellcheck shell=bash
# The one list of Debian packages fanout needs; sourced by tools/run and tools/test.
#
#   deps_install          build packages only
#   deps_install --test   build packages + what the tests run against (PostgreSQL, Redis,
#                         nats-server, Node, promtool from prometheus, python3-protobuf
#                         and protoc) and build with (clang and libFuzzer)
#   deps_install --bench  build packages + the peer servers fanout-bench compares against
#                         and gnuplot for perf/plot.sh
#
# Checks each package with dpkg-query, runs `apt-get update` once and only when something
# is missing, then installs the missing ones non-interactively.

FANOUT_BUILD_DEPS=(
  meson ninja-build pkg-config gcc
  liburing-dev libnuma-dev libck-dev
  protobuf-c-compiler libprotobuf-c-dev
  libcmocka-dev libjansson-dev systemtap-sdt-dev
  # SipHash-2-4 (crypto_shorthash): the keyed index hashes (core/keyhash.c).
  libsodium-dev
  # The admin plane: HTTP (libmicrohttpd), the embedded store (SQLite), PostgreSQL (libpq).
  libmicrohttpd-dev libsqlite3-dev libpq-dev
  # TLS (OpenSSL): the TCP port, tls:// and https:// clients; the tests' CA via openssl.
  libssl-dev openssl
  # Kafka ingest (--kafka-source); its tests run librdkafka's mock cluster.
  librdkafka-dev
  # fanout-bench's Redis reply parser and ZeroMQ peer; fanoutd links neither.
  libhiredis-dev libzmq3-dev
  # WebSocket framing for the admin plane's streams (admin/ws.h).
  # libgnutls28-dev: libmicrohttpd's TLS library, for wss:// frames (admin/ws_tls.h).
  libwslay-dev libgnutls28-dev
)
# The bench suite starts nats-server and redis-server (its smoke runs of every scenario);
# the interop suite's Python subscriber uses python3-protobuf and a module protoc generates.
# The fuzz suite: clang, its libFuzzer and sanitizer runtimes (libclang-rt-14-dev has
# -fsanitize=fuzzer), llvm-symbolizer (package llvm) for readable crash stacks.
# prometheus: its promtool checks /metrics in the admin plane's tests.
# chromium: the ws suite's dashboard test drives it headless (puppeteer-core from npm).
FANOUT_TEST_DEPS=(postgresql redis-server redis-tools nats-server prometheus
  python3-protobuf protobuf-compiler clang libclang-rt-14-dev llvm chromium)
# wrk: the admin API under load (perf/RESULTS.md).
FANOUT_BENCH_DEPS=(nats-server redis-server gnuplot-nox wrk)

_deps_apt_updated=0

deps_log() { printf '[deps] %s\n' "$*" >&2; }

# Prints the packages of "$@" that are not installed, one per line.
deps_missing() {
  local p status
  for p in "$@"; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) || status=
    [[ $status == "install ok installed" ]] || printf '%s\n' "$p"
  done
}

deps_install() {
  local want=("${FANOUT_BUILD_DEPS[@]}") missing=() sudo=()
  if [[ ${1:-} == --bench ]]; then
    want+=("${FANOUT_BENCH_DEPS[@]}")
  elif [[ ${1:-} == --test ]]; then
    want+=("${FANOUT_TEST_DEPS[@]}")
    # Node may come from Debian (nodejs + npm) or from elsewhere with npm bundled: look at
    # the commands, not the packages, so a bundled npm is not fought by Debian's.
    if ! command -v node >/dev/null 2>&1; then
      want+=(nodejs npm)
    elif ! command -v npm >/dev/null 2>&1; then
      want+=(npm)
    fi
  fi
  if ! command -v dpkg-query >/dev/null 2>&1; then
    deps_log "dpkg-query not found: not a Debian system; install these by hand: ${want[*]}"
    return 0
  fi
  mapfile -t missing < <(deps_missing "${want[@]}")
  ((${#missing[@]} == 0)) && return 0

  if ((EUID != 0)); then
    if command -v sudo >/dev/null 2>&1; then
      sudo=(sudo)
    else
      deps_log "missing packages: ${missing[*]} (not root and no sudo: install them and rerun)"
      return 1
    fi
  fi
  deps_log "installing: ${missing[*]}"
  if ((_deps_apt_updated == 0)); then
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q || {
      deps_log "apt-get update failed"
      return 1
    }
    _deps_apt_updated=1
  fi
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
    "${missing[@]}" || {
    deps_log "apt-get install failed for: ${missing[*]}"
    return 1
  }
}

# A tmpfs with huge pages for fanoutd's hot segments (core/hotdir.h): fanoutd uses
# /run/fanout-hot when it is one, else /dev/shm (4 KiB pages: every new page of the log
# costs a page-table change). Mounted here when root and not yet mounted; harmless to
# call again. Returns 0 when it is there afterwards.
deps_hot_mount() {
  local dir=/run/fanout-hot
  if grep -q " $dir .* tmpfs .*huge=\(always\|within_size\)" /proc/self/mountinfo 2>/dev/null; then
    return 0
  fi
  if ((EUID != 0)); then
    deps_log "not root: $dir not mounted; fanoutd keeps its hot segments in /dev/shm"
    return 1
  fi
  mkdir -p "$dir" &&
    mount -t tmpfs -o huge=within_size,mode=1777 fanout-hot "$dir" || {
    deps_log "could not mount a huge-page tmpfs at $dir; fanoutd uses /dev/shm"
    return 1
  }
}
