/* tests/unit/net/interest_test.c — the exact-key interest table: add, find, remove,
 * duplicates, many subscriptions per key, keys kept apart per partition log. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/keyhash.h"
#include "net/interest.h"

/* The table only compares log addresses: distinct objects stand in for two logs. */
static char log_a, log_b;
#define LOG_A ((const struct log *)(const void *)&log_a)
#define LOG_B ((const struct log *)(const void *)&log_b)

static void add_find_remove(void **state)
{
	struct interest in;
	int s1, s2, s3;
	uint64_t k = keyhash_bytes("AAPL.NASDAQ.trade", 17), other = keyhash_bytes("MSFT", 4);
	const struct interest_list *l;

	(void)state;
	assert_int_equal(interest_init(&in), 0);
	assert_null(interest_find(&in, LOG_A, k));
	assert_int_equal(interest_add(&in, LOG_A, k, &s1), 0);
	assert_int_equal(interest_add(&in, LOG_A, k, &s2), 0);
	assert_int_equal(interest_add(&in, LOG_A, k, &s1), 0);	/* twice is once */
	assert_int_equal(interest_add(&in, LOG_B, k, &s3), 0);	/* same key, other log */
	assert_int_equal(in.keys, 2);
	l = interest_find(&in, LOG_A, k);
	assert_non_null(l);
	assert_int_equal(l->n, 2);
	assert_ptr_equal(l->subs[0], &s1);
	assert_ptr_equal(l->subs[1], &s2);
	l = interest_find(&in, LOG_B, k);
	assert_non_null(l);
	assert_int_equal(l->n, 1);
	assert_ptr_equal(l->subs[0], &s3);
	assert_null(interest_find(&in, LOG_A, other));
	interest_remove(&in, LOG_A, k, &s1);
	l = interest_find(&in, LOG_A, k);
	assert_int_equal(l->n, 1);
	assert_ptr_equal(l->subs[0], &s2);
	interest_remove(&in, LOG_A, k, &s1);	/* not there: nothing */
	interest_remove(&in, LOG_A, k, &s2);
	assert_null(interest_find(&in, LOG_A, k));
	assert_int_equal(in.keys, 1);
	interest_free(&in);
}

/* Lists grow past their first allocation, the table past its first size, and the keys
 * the table reserves (hash 0 and ~0) still work. */
static void many_keys_and_subscribers(void **state)
{
	enum { KEYS = 5000, SUBS = 37 };
	static int subs[SUBS];
	struct interest in;
	const struct interest_list *l;

	(void)state;
	assert_int_equal(interest_init(&in), 0);
	for (uint64_t k = 0; k < KEYS; k++)
		assert_int_equal(interest_add(&in, LOG_A, k * 0x9e3779b97f4a7c15ull, &subs[k % SUBS]), 0);
	for (int i = 0; i < SUBS; i++)
		assert_int_equal(interest_add(&in, LOG_B, 42, &subs[i]), 0);
	assert_int_equal(interest_add(&in, LOG_B, 0, &subs[0]), 0);
	assert_int_equal(interest_add(&in, LOG_B, UINT64_MAX, &subs[1]), 0);
	assert_int_equal(in.keys, KEYS + 3);
	for (uint64_t k = 0; k < KEYS; k++) {
		l = interest_find(&in, LOG_A, k * 0x9e3779b97f4a7c15ull);
		assert_non_null(l);
		assert_int_equal(l->n, 1);
		assert_ptr_equal(l->subs[0], &subs[k % SUBS]);
	}
	l = interest_find(&in, LOG_B, 42);
	assert_int_equal(l->n, SUBS);
	for (int i = 0; i < SUBS; i++)
		assert_ptr_equal(l->subs[i], &subs[i]);
	assert_ptr_equal(interest_find(&in, LOG_B, 0)->subs[0], &subs[0]);
	assert_ptr_equal(interest_find(&in, LOG_B, UINT64_MAX)->subs[0], &subs[1]);
	interest_free(&in);	/* frees every list: ASan's leak check holds us to it */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(add_find_remove),
		cmocka_unit_test(many_keys_and_subscribers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
