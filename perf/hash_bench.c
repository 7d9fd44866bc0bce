/* perf/hash_bench.c — what "hashes are never identity" costs per published event:
 *  - the index hashes: the strings a market-data, an execution and a decision event hash
 *    at ingest (ingest/event_view.c), with the 64-bit FNV-1a fanout used before (unkeyed)
 *    and with keyhash_bytes (libsodium's SipHash-2-4 under a 16-byte key);
 *  - the byte compares where a hash matches: reading a stored frame's routing key
 *    (frame_key), the last-value table's put (hash, then the stored key compared), and
 *    the exact-key index's find by hash and bytes;
 * single thread, 2,000 distinct keys (and 200,000 for the table, out of cache); prints
 * one JSON line of ns per event (medians of --repeat runs).
 * Usage: hash-bench [--events N] [--repeat R] */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ck_direct.h"
#include "core/clock.h"
#include "core/frame.h"
#include "core/frame_key.h"
#include "core/keyhash.h"
#include "core/latest.h"
#include "core/log.h"
#include "fanout.pb-c.h"
#include "net/interest.h"

#define BENCH_SYMBOLS 2000u
#define BENCH_RUNS_MAX 31u

struct bench_event {
	char key[48], symbol[16], venue[8], aux[8], id[24];
	size_t key_len, symbol_len, venue_len, aux_len, id_len;
	int hashes;	/* 4 for market data (key, symbol, venue, currency), 5 otherwise */
};

static uint64_t fnv1a(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static void bench_fill(struct bench_event *e, uint32_t i)
{
	static const char *const venues[] = { "NASDAQ", "NYSE", "ARCA", "BATS" };
	uint32_t s = i % BENCH_SYMBOLS;

	snprintf(e->symbol, sizeof(e->symbol), "S%05u", s);
	snprintf(e->venue, sizeof(e->venue), "%s", venues[s % 4]);
	snprintf(e->key, sizeof(e->key), "%s.%s.%s", e->symbol, e->venue,
		 i % 3 == 0 ? "trade" : i % 3 == 1 ? "fill" : "decision.buy");
	snprintf(e->aux, sizeof(e->aux), "%s", i % 3 == 0 ? "USD" : "buy");
	snprintf(e->id, sizeof(e->id), "order-%012u", i);
	e->key_len = strlen(e->key);
	e->symbol_len = strlen(e->symbol);
	e->venue_len = strlen(e->venue);
	e->aux_len = strlen(e->aux);
	e->id_len = strlen(e->id);
	e->hashes = i % 3 == 0 ? 4 : 5;
}

typedef uint64_t bench_hash_fn(const void *p, size_t n);

/* One pass: every event's strings hashed as event_view_fields hashes them. */
static double bench_pass(bench_hash_fn *fn, const struct bench_event *ev, uint32_t n,
			 uint64_t *sink)
{
	int64_t t0 = clock_monotonic_ns();
	uint64_t acc = 0;

	for (uint32_t i = 0; i < n; i++) {
		const struct bench_event *e = &ev[i % BENCH_SYMBOLS];

		acc += fn(e->key, e->key_len) ^ fn(e->symbol, e->symbol_len) ^
		       fn(e->venue, e->venue_len) ^ fn(e->aux, e->aux_len);
		if (e->hashes == 5)
			acc += fn(e->id, e->id_len);
	}
	*sink += acc;
	return (double)(clock_monotonic_ns() - t0) / n;
}

static int bench_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double bench_median(bench_hash_fn *fn, const struct bench_event *ev, uint32_t n,
			   uint32_t repeat, uint64_t *sink)
{
	double runs[BENCH_RUNS_MAX];

	for (uint32_t r = 0; r < repeat; r++)
		runs[r] = bench_pass(fn, ev, n, sink);
	qsort(runs, repeat, sizeof(runs[0]), bench_cmp);
	return runs[repeat / 2];
}

/* ---- the byte compares ------------------------------------------------------------- */

struct bench_log {
	char dir[64];
	struct log *log;
	uint64_t *offsets;	/* of each key's frame */
	const char **key;	/* its routing key in the log (what publish hands the table) */
	uint32_t *klen;
	uint32_t keys;
};

/* A stored frame as ingest writes it (the fields before the routing key included). */
static size_t bench_frame(uint8_t *dst, const char *key, uint64_t offset)
{
	Fanout__V1__ServerMessage m = FANOUT__V1__SERVER_MESSAGE__INIT;
	Fanout__V1__Event e = FANOUT__V1__EVENT__INIT;
	Fanout__V1__Distribution d = FANOUT__V1__DISTRIBUTION__INIT;
	Fanout__V1__MarketData md = FANOUT__V1__MARKET_DATA__INIT;
	char id[32];

	snprintf(id, sizeof(id), "ev-%012llu", (unsigned long long)offset);
	e.event_id = id;
	e.timestamp_ns = 1700000000000000000ll;
	e.data_type = FANOUT__V1__DATA_TYPE__DATA_TYPE_MARKET_DATA;
	d.topic = "market-data";
	d.offset = offset;
	d.routing_key = (char *)key;
	e.distribution = &d;
	md.symbol = "S00042";
	md.exchange = "NASDAQ";
	md.price = 101.25;
	md.volume = 300;
	e.payload_case = FANOUT__V1__EVENT__PAYLOAD_MARKET_DATA;
	e.market_data = &md;
	m.body_case = FANOUT__V1__SERVER_MESSAGE__BODY_EVENT;
	m.event = &e;
	return frame_pack(&m.base, dst);
}

/* A log holding one frame per key, keys "S<n>.NASDAQ.trade". */
static int bench_log_make(struct bench_log *b, uint32_t keys)
{
	struct log_config lc = { .segment_bytes = 256ull << 20 };
	uint8_t frame[512], *dst;

	snprintf(b->dir, sizeof(b->dir), "/tmp/fanout-hash-bench-XXXXXX");
	b->keys = keys;
	b->offsets = calloc(keys, sizeof(*b->offsets));
	b->key = calloc(keys, sizeof(*b->key));
	b->klen = calloc(keys, sizeof(*b->klen));
	if (!b->offsets || !b->key || !b->klen || !mkdtemp(b->dir) ||
	    log_open(&b->log, b->dir, &lc) < 0)
		return -1;
	for (uint32_t i = 0; i < keys; i++) {
		char key[48];
		size_t n;

		snprintf(key, sizeof(key), "S%06u.NASDAQ.trade", i);
		n = bench_frame(frame, key, i);
		if (log_reserve(b->log, (uint32_t)n, &dst, &b->offsets[i]) < 0)
			return -1;
		memcpy(dst, frame, n);
		log_commit(b->log, &(struct log_fields){ .key_hash = keyhash_bytes(key, strlen(key)) });
		if (frame_key(dst, (uint32_t)n, &b->key[i], &b->klen[i]) < 0)
			return -1;
	}
	log_publish(b->log);
	return 0;
}

static void bench_log_free(struct bench_log *b)
{
	char cmd[128];

	log_close(b->log);
	free(b->offsets);
	free(b->key);
	free(b->klen);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", b->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "hash-bench: could not remove %s\n", b->dir);
}

enum bench_op { BENCH_READ, BENCH_FRAME_KEY, BENCH_LATEST_PUT, BENCH_OLD_PUT, BENCH_INTEREST };

/* What the last-value table's put was before: one ck_ht set by hash, no bytes. */
static void bench_old_put(ck_ht_t *ht, uint64_t key_hash, uint64_t offset)
{
	uintptr_t key = ck_direct_key(key_hash);
	ck_ht_entry_t e;
	ck_ht_hash_t h;

	ck_ht_hash_direct(&h, ht, key);
	ck_ht_entry_set_direct(&e, h, key, (uintptr_t)offset);
	if (!ck_ht_set_spmc(ht, h, &e))
		abort();
}

/* n operations over the log's frames in key order, cycling; ns per operation. */
static double bench_bytes_pass(struct bench_log *b, enum bench_op op, struct latest *t,
			       ck_ht_t *old, struct interest *in, uint32_t n, uint64_t *sink)
{
	int64_t t0 = clock_monotonic_ns();

	for (uint32_t i = 0; i < n; i++) {
		struct log_ref ref;
		const char *key;
		uint32_t klen;

		if (log_read(b->log, b->offsets[i % b->keys], &ref) < 0)
			abort();
		if (op == BENCH_READ) {
			*sink += ref.len;
		} else if (op == BENCH_OLD_PUT) {
			bench_old_put(old, ref.entry->key_hash, b->offsets[i % b->keys]);
		} else if (op == BENCH_FRAME_KEY) {
			*sink += frame_key(ref.frame, ref.len, &key, &klen) == 0 ? klen : 0;
		} else if (op == BENCH_LATEST_PUT) {
			*sink += latest_put(t, ref.entry->key_hash, b->key[i % b->keys],
					    b->klen[i % b->keys], b->offsets[i % b->keys]) == 0;
		} else {
			const struct interest_list *l = interest_find_hash(in, b->log,
									  ref.entry->key_hash);

			if (l && frame_key(ref.frame, ref.len, &key, &klen) == 0)
				l = interest_match(l, key, klen);
			*sink += l != NULL;
		}
	}
	return (double)(clock_monotonic_ns() - t0) / n;
}

static double bench_bytes(struct bench_log *b, enum bench_op op, uint32_t n, uint32_t repeat,
			  uint64_t *sink)
{
	double runs[BENCH_RUNS_MAX];
	struct interest in;
	struct latest t;
	ck_ht_t old;
	static int sub;

	if (latest_init(&t, b->log, b->keys) < 0 || interest_init(&in) < 0 ||
	    !ck_ht_init(&old, CK_HT_MODE_DIRECT, NULL, &ck_direct_allocator, 1024, 1))
		abort();
	for (uint32_t k = 0; k < b->keys; k += 2) {	/* every other key has a subscriber */
		char key[48];

		snprintf(key, sizeof(key), "S%06u.NASDAQ.trade", k);
		if (interest_add(&in, b->log, keyhash_bytes(key, strlen(key)), key,
				 (uint32_t)strlen(key), &sub) < 0)
			abort();
	}
	bench_bytes_pass(b, op, &t, &old, &in, b->keys, sink);	/* every key in the table */
	for (uint32_t r = 0; r < repeat; r++)
		runs[r] = bench_bytes_pass(b, op, &t, &old, &in, n, sink);
	ck_ht_destroy(&old);
	latest_free(&t);
	interest_free(&in);
	qsort(runs, repeat, sizeof(runs[0]), bench_cmp);
	return runs[repeat / 2];
}

int main(int argc, char **argv)
{
	static struct bench_event ev[BENCH_SYMBOLS];
	uint32_t n = 2000000, repeat = 7;
	uint64_t sink = 0;
	double fnv, sip, per_hash;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--events") == 0)
			n = (uint32_t)strtoul(argv[i + 1], NULL, 10);
		else if (strcmp(argv[i], "--repeat") == 0)
			repeat = (uint32_t)strtoul(argv[i + 1], NULL, 10);
	}
	if (n == 0 || repeat == 0 || repeat > BENCH_RUNS_MAX) {
		fprintf(stderr, "usage: hash-bench [--events N>0] [--repeat 1..31]\n");
		return 2;
	}
	for (uint32_t i = 0; i < BENCH_SYMBOLS; i++)
		bench_fill(&ev[i], i);
	bench_pass(keyhash_bytes, ev, n / 4 + 1, &sink);	/* warm up */
	fnv = bench_median(fnv1a, ev, n, repeat, &sink);
	sip = bench_median(keyhash_bytes, ev, n, repeat, &sink);
	per_hash = sip / (4.0 + 2.0 / 3.0);
	printf("{\"events\": %u, \"repeat\": %u, \"hashes_per_event\": 4.67, "
	       "\"fnv1a_ns_per_event\": %.1f, \"siphash24_ns_per_event\": %.1f, "
	       "\"siphash24_ns_per_hash\": %.1f, \"extra_ns_per_event\": %.1f",
	       n, repeat, fnv, sip, per_hash, sip - fnv);
	for (uint32_t keys = BENCH_SYMBOLS; keys <= 200000; keys *= 100) {
		struct bench_log b;

		if (bench_log_make(&b, keys) < 0) {
			fprintf(stderr, "hash-bench: cannot make a log in /tmp\n");
			return 1;
		}
		/* Each op reads its frame first (log_read): read_ns is that part alone. */
		printf(", \"keys_%u\": {\"read_ns\": %.1f, \"frame_key_ns\": %.1f, "
		       "\"latest_put_ns\": %.1f, \"old_latest_put_ns\": %.1f, "
		       "\"interest_find_ns\": %.1f}", keys,
		       bench_bytes(&b, BENCH_READ, n, repeat, &sink),
		       bench_bytes(&b, BENCH_FRAME_KEY, n, repeat, &sink),
		       bench_bytes(&b, BENCH_LATEST_PUT, n, repeat, &sink),
		       bench_bytes(&b, BENCH_OLD_PUT, n, repeat, &sink),
		       bench_bytes(&b, BENCH_INTEREST, n, repeat, &sink));
		bench_log_free(&b);
	}
	printf(", \"sink\": %llu}\n", (unsigned long long)(sink & 1));
	return 0;
}
