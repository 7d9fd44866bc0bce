/* perf/gather_bench.c — the cost of gathering log frames for a subscriber (net/subscriber.c
 * sub_gather, the per-delivery work of a reactor), with and without the delivery latency
 * sample (net/latency.h), on one real partition in a temporary directory:
 *
 *   gather-bench on|off [FRAMES (default 262144)]
 *
 * Appends FRAMES market-data-sized frames, then gathers them all from the start, 1024
 * iovecs a call, as a session's send does. Run it under
 *   valgrind --tool=callgrind --toggle-collect=sub_gather gather-bench on|off
 * for the instructions per frame inside sub_gather (exact and repeatable, unlike time on
 * a shared machine); alone it prints ns per frame. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/keyhash.h"
#include "net/subscriber.h"

#define GB_FRAME_BYTES 120u	/* fanout-pub's average stored frame */
#define GB_IOV 1024u

static int gb_append(struct topic *tp, uint32_t n)
{
	struct log *log = tp->part[0].log;
	static const char key[] = "S00042.NYSE.trade";

	for (uint32_t i = 0; i < n; i++) {
		struct log_fields fl = { .recv_ns = (uint64_t)clock_realtime_ns(),
					 .key_hash = keyhash_bytes(key, sizeof(key) - 1) };
		uint8_t *dst;
		uint64_t at;
		size_t k = sizeof(key) - 1, body = GB_FRAME_BYTES - 1;

		if (log_reserve(log, GB_FRAME_BYTES, &dst, &at) < 0)
			return -1;
		memset(dst, 0, GB_FRAME_BYTES);
		dst[0] = (uint8_t)body;	/* ServerMessage{event{distribution{routing_key}}} */
		dst[1] = 0x0a;
		dst[2] = (uint8_t)(body - 2);
		dst[3] = 0x22;
		dst[4] = (uint8_t)(k + 2);
		dst[5] = 0x22;
		dst[6] = (uint8_t)k;
		memcpy(dst + 7, key, k);
		dst[7 + k] = 0x7a;	/* padding: an unknown length-delimited field (15) */
		dst[8 + k] = (uint8_t)(body - 2 - (k + 4) - 2);
		log_commit(log, &fl);
	}
	log_publish(log);
	return 0;
}

int main(int argc, char **argv)
{
	bool on = argc > 1 && strcmp(argv[1], "on") == 0;
	uint32_t frames = argc > 2 ? (uint32_t)strtoul(argv[2], NULL, 10) : 262144u;
	struct log_config lc = { .segment_bytes = 64ull << 20 };
	struct sub_request req = { .id = 1,
				   .start = FANOUT__V1__START_POSITION__START_POSITION_EARLIEST };
	static struct net_latency lat;
	static struct iovec iov[GB_IOV];
	struct topic_table topics;
	struct subscription sub;
	struct arena arena;
	struct topic *tp;
	const char *why = "";
	char dir[] = "/tmp/fanout-gather-bench.XXXXXX", cmd[64];
	uint64_t got = 0;
	int64_t t0;

	if (argc < 2 || (!on && strcmp(argv[1], "off") != 0)) {
		fprintf(stderr, "usage: gather-bench on|off [FRAMES]\n");
		return 2;
	}
	if (!mkdtemp(dir) || topic_table_init(&topics, dir, &lc) < 0 ||
	    topic_create(&topics, "t", 1, 1, &tp) < 0 || arena_init(&arena, 1 << 20) < 0 ||
	    gb_append(tp, frames) < 0) {
		fprintf(stderr, "gather-bench: setup failed\n");
		return 1;
	}
	req.topic = tp;
	if (sub_init(&sub, &req, &arena, &why) != SUB_OK) {
		fprintf(stderr, "gather-bench: subscribe: %s\n", why);
		return 1;
	}
	net_latency_init(&lat);
	t0 = clock_monotonic_ns();
	while (got < frames) {
		struct sub_gather g = { .iov = iov, .iov_max = GB_IOV, .bytes_max = 1 << 30,
					.arena = &arena, .audit_max = UINT32_MAX,
					.latency = on ? &lat : NULL };
		uint32_t n = sub_gather(&sub, &g);

		if (n == 0 && !g.more)
			break;
		got += n;
	}
	printf("{\"latency\": %s, \"frames\": %llu, \"ns_per_frame\": %.1f}\n",
	       on ? "true" : "false", (unsigned long long)got,
	       (double)(clock_monotonic_ns() - t0) / (double)got);
	sub_free(&sub);
	arena_free(&arena);
	topic_table_close(&topics);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 && got == frames ? 0 : 1;
}
