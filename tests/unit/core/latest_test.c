/* tests/unit/core/latest_test.c — the last-value table: newest offset per key, rebuilt
 * from a log's index, iteration. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/frame.h"
#include "core/latest.h"
#include "core/log.h"

static void put_get_replace(void **state)
{
	struct latest t;
	uint64_t off = 0;

	(void)state;
	assert_int_equal(latest_init(&t), 0);
	assert_false(latest_get(&t, 42, &off));
	assert_int_equal(latest_put(&t, 42, 7), 0);
	assert_int_equal(latest_put(&t, 43, 8), 0);
	assert_int_equal(latest_put(&t, 42, 9), 0);	/* newer event, same key */
	assert_true(latest_get(&t, 42, &off));
	assert_int_equal(off, 9);
	assert_true(latest_get(&t, 43, &off));
	assert_int_equal(off, 8);
	assert_int_equal(t.keys, 2);
	/* The hashes that collide with ck_ht's markers still work. */
	assert_int_equal(latest_put(&t, 0, 100), 0);
	assert_int_equal(latest_put(&t, UINT64_MAX, 101), 0);
	assert_true(latest_get(&t, 0, &off));
	assert_int_equal(off, 100);
	assert_true(latest_get(&t, UINT64_MAX, &off));
	assert_int_equal(off, 101);
	latest_free(&t);
}

static void many_keys_grow_the_table(void **state)
{
	struct latest t;
	uint64_t off;

	(void)state;
	assert_int_equal(latest_init(&t), 0);
	for (uint64_t i = 0; i < 100000; i++)
		assert_int_equal(latest_put(&t, 1000 + (i % 20000), i), 0);
	assert_int_equal(t.keys, 20000);
	for (uint64_t k = 0; k < 20000; k++) {
		assert_true(latest_get(&t, 1000 + k, &off));
		assert_int_equal(off, 80000 + k);	/* the last round wrote each key */
	}
	latest_free(&t);
}

struct each_ctx {
	uint64_t calls, offset_sum;
	uint64_t stop_after;
};

static bool each_fn(void *p, uint64_t key_hash, uint64_t offset)
{
	struct each_ctx *c = p;

	(void)key_hash;
	c->calls++;
	c->offset_sum += offset;
	return c->calls < c->stop_after;
}

static void each_visits_every_key_and_stops(void **state)
{
	struct latest t;
	struct each_ctx all = { .stop_after = UINT64_MAX }, some = { .stop_after = 3 };

	(void)state;
	assert_int_equal(latest_init(&t), 0);
	for (uint64_t k = 1; k <= 10; k++)
		assert_int_equal(latest_put(&t, k * 77, k), 0);
	assert_true(latest_each(&t, each_fn, &all));
	assert_int_equal(all.calls, 10);
	assert_int_equal(all.offset_sum, 55);
	assert_true(latest_each(&t, each_fn, &some));
	assert_int_equal(some.calls, 3);
	latest_free(&t);
}

struct grow_ctx {
	struct latest *t;
	uint64_t calls;
};

/* The writer (here, the callback itself) adds enough keys to grow the table. */
static bool grow_fn(void *p, uint64_t key_hash, uint64_t offset)
{
	struct grow_ctx *c = p;

	(void)key_hash;
	(void)offset;
	if (c->calls++ == 0)
		for (uint64_t k = 0; k < 50000; k++)
			assert_int_equal(latest_put(c->t, 1000000 + k, k), 0);
	return true;
}

/* A walk that raced a growth of the table says so: a snapshot walks again. */
static void each_reports_a_growth_under_it(void **state)
{
	struct latest t;
	struct grow_ctx c = { .t = &t };
	struct each_ctx all = { .stop_after = UINT64_MAX };

	(void)state;
	assert_int_equal(latest_init(&t), 0);
	for (uint64_t k = 1; k <= 10; k++)
		assert_int_equal(latest_put(&t, k * 77, k), 0);
	assert_false(latest_each(&t, grow_fn, &c));
	assert_true(latest_each(&t, each_fn, &all));	/* settled: a full, clean walk */
	assert_int_equal(all.calls, 50010);
	latest_free(&t);
}

static void rebuild_from_log_index(void **state)
{
	char dir[] = "/tmp/fanout-latest-XXXXXX", cmd[64];
	struct log_config lc = { .segment_bytes = LOG_SEGMENT_BYTES_MIN };
	struct log *log;
	struct latest t;
	uint64_t off;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(log_open(&log, dir, &lc), 0);
	for (uint64_t i = 0; i < 3000; i++) {	/* several segments of 64 KiB */
		struct log_fields f = { .key_hash = 500 + i % 37, .recv_ns = i };
		uint8_t *dst;
		uint64_t at;
		size_t n;

		assert_int_equal(log_reserve(log, 40, &dst, &at), 0);
		n = frame_varint_put(dst, 39);
		memset(dst + n, 'x', 40 - n);
		log_commit(log, &f);
	}
	log_publish(log);
	assert_int_equal(latest_init(&t), 0);
	assert_int_equal(latest_rebuild(&t, log), 0);
	assert_int_equal(t.keys, 37);
	for (uint64_t k = 0; k < 37; k++) {
		assert_true(latest_get(&t, 500 + k, &off));
		assert_int_equal(off % 37, k);
		assert_true(off >= 3000 - 37);
	}
	latest_free(&t);
	log_close(log);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(put_get_replace),
		cmocka_unit_test(many_keys_grow_the_table),
		cmocka_unit_test(each_visits_every_key_and_stops),
		cmocka_unit_test(each_reports_a_growth_under_it),
		cmocka_unit_test(rebuild_from_log_index),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
