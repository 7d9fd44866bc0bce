#!/usr/bin/env bash
# Zero-copy sends over a link with a 40 ms round trip: a subscriber in one network
# namespace reads a topic from fanoutd in another, through a link that delays every
# packet from the server by 40 ms (tc netem on a veth pair; where the kernel has no
# netem, delay_link carries the packets between two TUN devices with the same delay).
# 40 ms rather than 20: eight sends in flight must be bound by the round trip, not by
# what a sanitizer build of fanoutd can send (~17 MB/s here).
# Each zero-copy send's notification waits for the peer's ACK, so with one send in
# flight a connection carries one send (<= 256 KiB) per round trip; with several in
# flight it must carry several. The same events are read with --send-zc-inflight 1 and
# with the default (8), and the second must be at least MIN_RATIO times faster.
#
#   zc_delay_test.sh FANOUTD FANOUT_PUB FANOUT_SUB DELAY_LINK
#
# Exit 0 pass, 1 fail, 77 skip (not root, or no network namespaces, veth, netem or TUN).
# Namespaces, links and processes it made are removed on every exit.
set -uo pipefail

if (($# != 4)); then
  echo "usage: $0 FANOUTD FANOUT_PUB FANOUT_SUB DELAY_LINK" >&2
  exit 2
fi
FANOUTD=$(realpath "$1")
FANOUT_PUB=$(realpath "$2")
FANOUT_SUB=$(realpath "$3")
DELAY_LINK=$(realpath "$4")
COUNT=${ZC_DELAY_COUNT:-60000}	# ~11 MB of frames
DELAY_MS=${ZC_DELAY_MS:-40}
MIN_RATIO=${ZC_DELAY_MIN_RATIO:-3}
TAG=$$
NS_S=fzs$TAG	# the server's namespace
NS_C=fzc$TAG	# the subscriber's
NET=10.213.$((TAG % 250))
SERVER_IP=$NET.1
CLIENT_IP=$NET.2

skip() {
  echo "SKIP: $*" >&2
  exit 77
}
((EUID == 0)) || skip "needs root (network namespaces, links, qdiscs)"
command -v ip >/dev/null 2>&1 || skip "ip (iproute2) not found"

DIR=$(mktemp -d "${TMPDIR:-/tmp}/fanout-zcdelay.XXXXXX") || exit 1
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null
  done
  # Deleting a namespace deletes its links and their qdiscs.
  ip netns del "$NS_S" 2>/dev/null
  ip netns del "$NS_C" 2>/dev/null
  rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fail() {
  echo "FAIL: $*" >&2
  for f in "$DIR"/*.log; do
    [[ -s $f ]] || continue
    echo "--- $f (last 30 lines) ---" >&2
    tail -n 30 "$f" >&2
  done
  exit 1
}

ip netns add "$NS_S" 2>/dev/null || skip "cannot create network namespaces"
ip netns add "$NS_C" 2>/dev/null || skip "cannot create network namespaces"
ip -n "$NS_S" link set lo up
ip -n "$NS_C" link set lo up

# A veth pair with netem on the server's end; false when the kernel lacks either.
link_netem() {
  ip link add "fzva$TAG" netns "$NS_S" type veth peer name "fzvb$TAG" netns "$NS_C" \
    2>/dev/null || return 1
  if ! ip netns exec "$NS_S" tc qdisc add dev "fzva$TAG" root netem delay "${DELAY_MS}ms" \
      limit 100000 2>/dev/null; then
    ip -n "$NS_S" link del "fzva$TAG" 2>/dev/null
    return 1
  fi
  ip -n "$NS_S" addr add "$SERVER_IP/24" dev "fzva$TAG" &&
    ip -n "$NS_C" addr add "$CLIENT_IP/24" dev "fzvb$TAG" &&
    ip -n "$NS_S" link set "fzva$TAG" up && ip -n "$NS_C" link set "fzvb$TAG" up
}

# Two TUN devices and delay_link between them; false without /dev/net/tun.
link_tun() {
  [[ -c /dev/net/tun ]] || return 1
  "$DELAY_LINK" "$NS_S" "fzta$TAG" "$NS_C" "fztb$TAG" "$DELAY_MS" 0 \
    >"$DIR/delay_link.out" 2>"$DIR/delay_link.log" &
  PIDS+=($!)
  for _ in $(seq 50); do
    grep -q ready "$DIR/delay_link.out" 2>/dev/null && break
    sleep 0.1
  done
  grep -q ready "$DIR/delay_link.out" 2>/dev/null || return 1
  ip -n "$NS_S" addr add "$SERVER_IP" peer "$CLIENT_IP" dev "fzta$TAG" &&
    ip -n "$NS_C" addr add "$CLIENT_IP" peer "$SERVER_IP" dev "fztb$TAG" &&
    ip -n "$NS_S" link set "fzta$TAG" mtu 9000 up &&
    ip -n "$NS_C" link set "fztb$TAG" mtu 9000 up
}

if link_netem; then
  LINK="veth + netem delay ${DELAY_MS}ms"
elif link_tun; then
  LINK="TUN + delay_link ${DELAY_MS}ms (no sch_netem in this kernel)"
else
  skip "neither tc netem on a veth pair nor TUN devices are available"
fi
echo "link: $LINK"

# Starts fanoutd in the server's namespace with the given --send-zc-inflight.
SERVER_PID=
ADDR=
server_start() {
  rm -f "$DIR/ready"
  # Not on loopback: auth is required; the clients send the bootstrap token.
  ip netns exec "$NS_S" "$FANOUTD" --listen "$SERVER_IP:0" --data-dir "$DIR/data" \
    --ready-file "$DIR/ready" --reactors 1 --max-lag-bytes 0 --send-zc-inflight "$1" \
    --auth required --auth-bootstrap "$DIR/boot.token" >>"$DIR/fanoutd.log" 2>&1 &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  for _ in $(seq 100); do
    [[ -s $DIR/ready ]] && break
    kill -0 "$SERVER_PID" 2>/dev/null || fail "fanoutd exited at start-up"
    sleep 0.1
  done
  [[ -s $DIR/ready ]] || fail "fanoutd did not become ready"
  ADDR=$(head -n1 "$DIR/ready")
  FANOUT_TOKEN=$(cat "$DIR/boot.token")
  export FANOUT_TOKEN
}

server_stop() {
  kill -TERM "$SERVER_PID"
  wait "$SERVER_PID" 2>/dev/null || fail "fanoutd did not exit cleanly"
}

# Reads every event from the earliest offset across the link; prints events per second.
read_all() {
  local out
  out=$(ip netns exec "$NS_C" timeout 120 "$FANOUT_SUB" --connect "$ADDR" --topic zc \
    --from earliest --count --quiet --expect "$COUNT" --timeout 100 2>>"$DIR/sub.log") ||
    fail "subscriber did not get $COUNT events (--send-zc-inflight $1)"
  echo "$out" >>"$DIR/sub.log"
  sed -n 's/.*"events_per_s":\([0-9]*\).*/\1/p' <<<"$out"
}

server_start 1
# Published on the server's side of the link (a local peer: no delay, no zero-copy).
ip netns exec "$NS_S" "$FANOUT_PUB" --connect "$ADDR" --topic zc --count "$COUNT" \
  --quiet >"$DIR/pub.out" 2>"$DIR/pub.log" || fail "publishing failed"
FRAME_BYTES=$(sed -n 's/.*"avg_frame_bytes":\([0-9.]*\).*/\1/p' "$DIR/pub.out")
RATE1=$(read_all 1)
server_stop
grep -q "zero-copy sends" "$DIR/fanoutd.log" || fail "no send statistics in the log"
ZC1=$(grep -o "[0-9]* zero-copy sends" "$DIR/fanoutd.log" | tail -n1 | cut -d' ' -f1)
((ZC1 > 0)) || fail "no zero-copy sends with one in flight (is SENDMSG_ZC missing?)"

server_start 8
RATEN=$(read_all 8)
server_stop
ZCN=$(grep -o "[0-9]* zero-copy sends" "$DIR/fanoutd.log" | tail -n1 | cut -d' ' -f1)
((ZCN > 0)) || fail "no zero-copy sends with eight in flight"

awk -v r1="$RATE1" -v rn="$RATEN" -v fb="$FRAME_BYTES" -v rtt="$DELAY_MS" \
  -v ratio="$MIN_RATIO" -v link="$LINK" 'BEGIN {
  mb1 = r1 * fb / 1e6; mbn = rn * fb / 1e6
  printf "over %s: 1 in flight %d events/s (%.1f MB/s, %.2f x 256 KiB per %d ms), " \
         "8 in flight %d events/s (%.1f MB/s, %.2f x 256 KiB per round trip): %.1fx\n",
         link, r1, mb1, mb1 * 1e6 * rtt / 1000 / 262144, rtt, rn, mbn,
         mbn * 1e6 * rtt / 1000 / 262144, rn / r1
  exit !(rn >= ratio * r1)
}' || fail "8 sends in flight were not ${MIN_RATIO}x faster than 1 ($RATEN vs $RATE1 events/s)"
echo "PASS"
