/* tests/unit/core/latest_test.c — the last-value table: newest offset per key (told apart
 * by bytes, also when hashes collide), the keys_max bound and its least-recently-updated
 * eviction, iteration (and a walk racing a growth), rebuilt from a log as the appends
 * made it. Hashes are passed in by the caller, so a test forces collisions by passing one
 * hash for several keys. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/frame.h"
#include "core/frame_key.h"
#include "core/keyhash.h"
#include "core/latest.h"
#include "core/log.h"

struct fixture {
	char dir[64];
	struct log *log;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct log_config lc = { .segment_bytes = LOG_SEGMENT_BYTES_MIN };

	snprintf(f->dir, sizeof(f->dir), "/tmp/fanout-latest-XXXXXX");
	if (!mkdtemp(f->dir) || log_open(&f->log, f->dir, &lc) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	log_close(f->log);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	free(f);
	return system(cmd) == 0 ? 0 : -1;
}

/* Appends a stored-event frame whose routing key is key (ServerMessage{event{
 * distribution{routing_key}}}, what frame_key reads) with key_hash in its entry, and
 * publishes it. Returns its offset. */
static uint64_t append_key(struct log *log, const char *key, uint64_t key_hash)
{
	uint8_t body[300], *dst;
	size_t k = strlen(key), n = 0;
	struct log_fields fl = { .key_hash = key_hash };
	uint64_t at;

	assert_true(k < 120);
	body[n++] = 0x0a;	/* ServerMessage.event */
	body[n++] = (uint8_t)(k + 4);
	body[n++] = 0x22;	/* Event.distribution */
	body[n++] = (uint8_t)(k + 2);
	body[n++] = 0x22;	/* Distribution.routing_key */
	body[n++] = (uint8_t)k;
	memcpy(body + n, key, k);
	n += k;
	assert_int_equal(log_reserve(log, (uint32_t)(1 + n), &dst, &at), 0);
	dst[0] = (uint8_t)n;
	memcpy(dst + 1, body, n);
	log_commit(log, &fl);
	log_publish(log);
	return at;
}

/* Appends key's event and records it in t as publish does. */
static uint64_t put(struct latest *t, const char *key, uint64_t key_hash)
{
	uint64_t at = append_key((struct log *)t->log, key, key_hash);
	struct log_ref ref;
	const char *k;
	uint32_t klen;

	assert_int_equal(log_read(t->log, at, &ref), 0);
	assert_int_equal(frame_key(ref.frame, ref.len, &k, &klen), 0);
	assert_int_equal(latest_put(t, key_hash, k, klen, at), 0);
	return at;
}

static uint64_t hk(const char *key)
{
	return keyhash_bytes(key, strlen(key));
}

/* The newest offset of key, or UINT64_MAX when the table does not hold it. */
static uint64_t get(struct latest *t, const char *key, uint64_t key_hash)
{
	uint64_t off;

	return latest_get(t, key_hash, key, (uint32_t)strlen(key), &off) ? off : UINT64_MAX;
}

static void put_get_replace(void **state)
{
	struct fixture *f = *state;
	struct latest t;
	uint64_t a, b;

	assert_int_equal(latest_init(&t, f->log, 1000), 0);
	assert_true(get(&t, "A.x", hk("A.x")) == UINT64_MAX);
	put(&t, "A.x", hk("A.x"));
	b = put(&t, "B.x", hk("B.x"));
	a = put(&t, "A.x", hk("A.x"));	/* newer event, same key */
	assert_true(get(&t, "A.x", hk("A.x")) == a);
	assert_true(get(&t, "B.x", hk("B.x")) == b);
	assert_int_equal(t.keys, 2);
	assert_int_equal(t.collisions, 0);
	/* The hashes that would be ck_ht's markers still work. */
	a = put(&t, "zero", 0);
	b = put(&t, "ones", UINT64_MAX);
	assert_true(get(&t, "zero", 0) == a);
	assert_true(get(&t, "ones", UINT64_MAX) == b);
	latest_free(&t);
}

/* Keys forced to one hash are told apart by their bytes: each keeps its own newest
 * offset, none answers for another; past LATEST_PROBES of them the least recently
 * updated gives its entry up. */
static void colliding_keys_stay_apart(void **state)
{
	struct fixture *f = *state;
	const uint64_t h = 0x1234;
	uint64_t at[LATEST_PROBES + 1];
	char key[LATEST_PROBES + 1][16];
	struct latest t;

	assert_int_equal(latest_init(&t, f->log, 1000), 0);
	for (uint32_t i = 0; i < LATEST_PROBES; i++) {
		snprintf(key[i], sizeof(key[i]), "K%u.same", i);
		at[i] = put(&t, key[i], h);
	}
	at[3] = put(&t, key[3], h);	/* updated: its own entry, not another's */
	assert_int_equal(t.keys, LATEST_PROBES);
	assert_true(t.collisions > 0);
	for (uint32_t i = 0; i < LATEST_PROBES; i++)
		assert_true(get(&t, key[i], h) == at[i]);
	assert_true(get(&t, "K99.same", h) == UINT64_MAX);	/* same hash, no such key */
	/* One more than the probes: K0 (the least recently updated of them) gives way. */
	snprintf(key[LATEST_PROBES], sizeof(key[0]), "K%u.same", LATEST_PROBES);
	at[LATEST_PROBES] = put(&t, key[LATEST_PROBES], h);
	assert_true(get(&t, key[0], h) == UINT64_MAX);
	assert_true(get(&t, key[LATEST_PROBES], h) == at[LATEST_PROBES]);
	for (uint32_t i = 1; i < LATEST_PROBES; i++)
		assert_true(get(&t, key[i], h) == at[i]);
	assert_int_equal(t.keys, LATEST_PROBES);
	latest_free(&t);
}

/* Keys longer than a node's head, equal in it, forced to one hash: the rest of their
 * bytes (read from the log) tells them apart. */
static void long_keys_equal_in_the_head(void **state)
{
	struct fixture *f = *state;
	const char *a = "a-prefix-of-exactly-24-bX.one", *b = "a-prefix-of-exactly-24-bX.two";
	struct latest t;
	uint64_t at_a, at_b;

	assert_int_equal(latest_init(&t, f->log, 10), 0);
	at_a = put(&t, a, 9);
	at_b = put(&t, b, 9);
	assert_int_equal(t.keys, 2);
	assert_true(get(&t, a, 9) == at_a);
	assert_true(get(&t, b, 9) == at_b);
	at_a = put(&t, a, 9);
	assert_int_equal(t.keys, 2);
	assert_true(get(&t, a, 9) == at_a);
	latest_free(&t);
}

/* Past keys_max the least recently updated key goes; a key updated again stays. */
static void bounded_least_recently_updated_goes(void **state)
{
	struct fixture *f = *state;
	struct latest t;
	char key[32];
	uint64_t a;

	assert_int_equal(latest_init(&t, f->log, 100), 0);
	a = put(&t, "keep", hk("keep"));
	for (uint32_t i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "k%u", i);
		put(&t, key, hk(key));
		if (i % 50 == 0)
			a = put(&t, "keep", hk("keep"));	/* recent enough to stay */
	}
	assert_int_equal(t.keys, 100);
	assert_true(t.evictions == 1000 + 1 - 100);
	assert_true(get(&t, "keep", hk("keep")) == a);
	for (uint32_t i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "k%u", i);
		if (i >= 1000 - 99)
			assert_true(get(&t, key, hk(key)) != UINT64_MAX);
		else
			assert_true(get(&t, key, hk(key)) == UINT64_MAX);
	}
	assert_true(t.bytes > 0 && t.bytes < 100 * 200);
	latest_free(&t);
}

/* Eviction inside a chain of colliding keys keeps the others findable. */
static void eviction_inside_a_collision_chain(void **state)
{
	struct fixture *f = *state;
	struct latest t;
	uint64_t b, c, d;

	assert_int_equal(latest_init(&t, f->log, 3), 0);
	put(&t, "A", 77);
	b = put(&t, "B", 77);
	c = put(&t, "C", 77);
	d = put(&t, "D", 78);	/* A, the oldest, goes: B or C moves into its place */
	assert_true(get(&t, "A", 77) == UINT64_MAX);
	assert_true(get(&t, "B", 77) == b);
	assert_true(get(&t, "C", 77) == c);
	assert_true(get(&t, "D", 78) == d);
	b = put(&t, "B", 77);
	put(&t, "E", 77);	/* C goes now */
	assert_true(get(&t, "C", 77) == UINT64_MAX);
	assert_true(get(&t, "B", 77) == b);
	assert_int_equal(t.keys, 3);
	latest_free(&t);
}

struct each_ctx {
	uint64_t calls, offset_sum;
	uint64_t stop_after;
};

static bool each_fn(void *p, uint64_t offset)
{
	struct each_ctx *c = p;

	c->calls++;
	c->offset_sum += offset;
	return c->calls < c->stop_after;
}

static void each_visits_every_key_and_stops(void **state)
{
	struct fixture *f = *state;
	struct each_ctx all = { .stop_after = UINT64_MAX }, some = { .stop_after = 3 };
	struct latest t;
	uint64_t sum = 0;
	char key[16];

	assert_int_equal(latest_init(&t, f->log, 1000), 0);
	for (uint32_t k = 0; k < 10; k++) {
		snprintf(key, sizeof(key), "e%u", k);
		sum += put(&t, key, k % 2);	/* colliding pairs too */
	}
	assert_true(latest_each(&t, each_fn, &all));
	assert_int_equal(all.calls, 10);
	assert_int_equal(all.offset_sum, sum);
	assert_true(latest_each(&t, each_fn, &some));
	assert_int_equal(some.calls, 3);
	latest_free(&t);
}

struct grow_ctx {
	struct latest *t;
	uint64_t calls;
};

/* The writer (here, the callback itself) adds enough keys to grow the table. */
static bool grow_fn(void *p, uint64_t offset)
{
	struct grow_ctx *c = p;
	char key[16];

	(void)offset;
	if (c->calls++ == 0)
		for (uint32_t k = 0; k < 5000; k++) {
			snprintf(key, sizeof(key), "g%u", k);
			put(c->t, key, hk(key));
		}
	return true;
}

/* A walk that raced a growth of the table says so: a snapshot walks again. */
static void each_reports_a_growth_under_it(void **state)
{
	struct fixture *f = *state;
	struct latest t;
	struct grow_ctx c = { .t = &t };
	struct each_ctx all = { .stop_after = UINT64_MAX };
	char key[16];

	assert_int_equal(latest_init(&t, f->log, 100000), 0);
	for (uint32_t k = 0; k < 10; k++) {
		snprintf(key, sizeof(key), "w%u", k);
		put(&t, key, hk(key));
	}
	assert_false(latest_each(&t, grow_fn, &c));
	assert_true(latest_each(&t, each_fn, &all));	/* settled: a full, clean walk */
	assert_int_equal(all.calls, 5010);
	latest_free(&t);
}

/* A table rebuilt from the log holds what the live one held: same keys, same offsets,
 * the same ones evicted (across several segments of 64 KiB). */
static void rebuild_matches_the_live_table(void **state)
{
	struct fixture *f = *state;
	struct latest live, again;
	char key[16];

	assert_int_equal(latest_init(&live, f->log, 500), 0);
	for (uint32_t i = 0; i < 6000; i++) {
		uint32_t k = (i * 7919u) % 800;

		snprintf(key, sizeof(key), "r%u", k);
		put(&live, key, k % 3 ? hk(key) : 5);	/* a third of the keys collide */
	}
	assert_int_equal(live.keys, 500);
	assert_int_equal(latest_init(&again, f->log, 500), 0);
	assert_int_equal(latest_rebuild(&again), 0);
	assert_int_equal(again.keys, 500);
	for (uint32_t k = 0; k < 800; k++) {
		uint64_t h;

		snprintf(key, sizeof(key), "r%u", k);
		h = k % 3 ? hk(key) : 5;
		assert_true(get(&live, key, h) == get(&again, key, h));
	}
	assert_true(live.evictions == again.evictions);
	latest_free(&live);
	latest_free(&again);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(put_get_replace),
		T(colliding_keys_stay_apart),
		T(long_keys_equal_in_the_head),
		T(bounded_least_recently_updated_goes),
		T(eviction_inside_a_collision_chain),
		T(each_visits_every_key_and_stops),
		T(each_reports_a_growth_under_it),
		T(rebuild_matches_the_live_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
