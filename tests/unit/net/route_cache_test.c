/* tests/unit/net/route_cache_test.c — cached wildcard routes: answers per (log, key),
 * stale generations never returned, replacement, empty answers, and the bound. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "net/route_cache.h"

/* A key per hash for the tests that do not force collisions: "k<hash in hex>". Two
 * functions of h alone, so the order arguments are evaluated in does not matter. */
static const char *key_of(uint64_t h)
{
	static char buf[4][32];
	static unsigned next;
	char *b = buf[next++ % 4];

	snprintf(b, sizeof(buf[0]), "k%llx", (unsigned long long)h);
	return b;
}

static uint32_t key_len(uint64_t h)
{
	return (uint32_t)snprintf(NULL, 0, "k%llx", (unsigned long long)h);
}

#define K(h) key_of(h), key_len(h)

/* The cache only compares log addresses: distinct objects stand in for two logs. */
static char log_a, log_b;
#define LOG_A ((const struct log *)(const void *)&log_a)
#define LOG_B ((const struct log *)(const void *)&log_b)

static void answers_by_key_and_generation(void **state)
{
	struct route_cache rc;
	int s1, s2, s3;
	void *two[2] = { &s1, &s2 }, *one[1] = { &s3 };
	const struct route_answer *a;

	(void)state;
	assert_int_equal(route_cache_init(&rc), 0);
	assert_null(route_cache_get(&rc, LOG_A, 42, K(42), 1));
	assert_non_null(route_cache_put(&rc, LOG_A, 42, K(42), 1, two, 2));
	assert_non_null(route_cache_put(&rc, LOG_B, 42, K(42), 1, one, 1));	/* same key, other log */
	assert_non_null(route_cache_put(&rc, LOG_A, 7, K(7), 1, NULL, 0));	/* nobody wants 7 */
	a = route_cache_get(&rc, LOG_A, 42, K(42), 1);
	assert_non_null(a);
	assert_int_equal(a->n, 2);
	assert_ptr_equal(a->subs[0], &s1);
	assert_ptr_equal(a->subs[1], &s2);
	a = route_cache_get(&rc, LOG_B, 42, K(42), 1);
	assert_int_equal(a->n, 1);
	assert_ptr_equal(a->subs[0], &s3);
	a = route_cache_get(&rc, LOG_A, 7, K(7), 1);
	assert_non_null(a);
	assert_int_equal(a->n, 0);
	/* A subscription came or went: generation 2 answers nothing until recomputed. */
	assert_null(route_cache_get(&rc, LOG_A, 42, K(42), 2));
	assert_non_null(route_cache_put(&rc, LOG_A, 42, K(42), 2, one, 1));	/* replaces, frees */
	a = route_cache_get(&rc, LOG_A, 42, K(42), 2);
	assert_int_equal(a->n, 1);
	assert_ptr_equal(a->subs[0], &s3);
	assert_null(route_cache_get(&rc, LOG_A, 42, K(42), 1));
	assert_int_equal(rc.count, 3);
	/* Three answers, two subscription pointers, the keys "k2a" twice and "k7". */
	assert_int_equal(rc.bytes, 3 * sizeof(struct route_answer) + 2 * sizeof(void *) + 8);
	route_cache_free(&rc);	/* every answer freed: ASan's leak check holds us to it */
}

static void bounded_it_starts_over(void **state)
{
	struct route_cache rc;
	int s;
	void *one[1] = { &s };

	(void)state;
	assert_int_equal(route_cache_init(&rc), 0);
	for (uint64_t k = 0; k < ROUTE_CACHE_MAX; k++) {
		uint64_t h = k * 0x9e3779b97f4a7c15ull;

		assert_non_null(route_cache_put(&rc, LOG_A, h, K(h), 1, one, 1));
	}
	assert_int_equal(rc.count, ROUTE_CACHE_MAX);
	assert_int_equal(rc.resets, 0);
	assert_non_null(route_cache_get(&rc, LOG_A, 0, K(0), 1));
	assert_non_null(route_cache_put(&rc, LOG_A, UINT64_MAX, K(UINT64_MAX), 1, one, 1));	/* one more */
	assert_int_equal(rc.resets, 1);
	assert_int_equal(rc.count, 1);
	assert_null(route_cache_get(&rc, LOG_A, 0, K(0), 1));		/* forgotten */
	assert_non_null(route_cache_get(&rc, LOG_A, UINT64_MAX, K(UINT64_MAX), 1));	/* kept */
	route_cache_free(&rc);
}

/* Two keys forced to one hash: an answer is used only for the key it was computed for;
 * the other key's answer, computed then, replaces it. */
static void one_hash_two_keys(void **state)
{
	struct route_cache rc;
	int s1, s2;
	void *a1[1] = { &s1 }, *a2[1] = { &s2 };
	const struct route_answer *a;

	(void)state;
	assert_int_equal(route_cache_init(&rc), 0);
	assert_non_null(route_cache_put(&rc, LOG_A, 5, "AAPL.x", 6, 1, a1, 1));
	assert_null(route_cache_get(&rc, LOG_A, 5, "MSFT.x", 6, 1));	/* hash, not key */
	assert_null(route_cache_get(&rc, LOG_A, 5, "AAPL", 4, 1));
	a = route_cache_get(&rc, LOG_A, 5, "AAPL.x", 6, 1);
	assert_non_null(a);
	assert_ptr_equal(a->subs[0], &s1);
	assert_non_null(route_cache_put(&rc, LOG_A, 5, "MSFT.x", 6, 1, a2, 1));
	assert_null(route_cache_get(&rc, LOG_A, 5, "AAPL.x", 6, 1));	/* recomputed later */
	a = route_cache_get(&rc, LOG_A, 5, "MSFT.x", 6, 1);
	assert_ptr_equal(a->subs[0], &s2);
	assert_int_equal(rc.count, 1);
	route_cache_free(&rc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(answers_by_key_and_generation),
		cmocka_unit_test(bounded_it_starts_over),
		cmocka_unit_test(one_hash_two_keys),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
