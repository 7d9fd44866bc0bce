/* perf/hash_bench.c — what the index hashes cost per published event: the strings a
 * market-data, an execution and a decision event hash at ingest (ingest/event_view.c),
 * hashed with the 64-bit FNV-1a fanout used before (unkeyed) and with keyhash_bytes
 * (libsodium's SipHash-2-4 under a 16-byte key). Single thread, warm caches, 2,000
 * distinct symbols so nothing is constant-folded; prints ns per event (the median of
 * --repeat runs). Usage: hash-bench [--events N] [--repeat R] */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/keyhash.h"

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
	       "\"siphash24_ns_per_hash\": %.1f, \"extra_ns_per_event\": %.1f, \"sink\": %llu}\n",
	       n, repeat, fnv, sip, per_hash, sip - fnv, (unsigned long long)(sink & 1));
	return 0;
}
