/* tests/unit/net/interest_test.c — the exact-key interest table: add, find, remove,
 * duplicates, many subscriptions per key, keys kept apart per partition log, and keys
 * forced to one hash kept apart by their bytes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "core/keyhash.h"
#include "net/interest.h"

/* The table only compares log addresses: distinct objects stand in for two logs. */
static char log_a, log_b;
#define LOG_A ((const struct log *)(const void *)&log_a)
#define LOG_B ((const struct log *)(const void *)&log_b)

#define KEY(s) keyhash_bytes(s, strlen(s)), s, (uint32_t)strlen(s)

static void add_find_remove(void **state)
{
	struct interest in;
	int s1, s2, s3;
	const struct interest_list *l;

	(void)state;
	assert_int_equal(interest_init(&in), 0);
	assert_null(interest_find(&in, LOG_A, KEY("AAPL.NASDAQ.trade")));
	assert_int_equal(interest_add(&in, LOG_A, KEY("AAPL.NASDAQ.trade"), &s1), 0);
	assert_int_equal(interest_add(&in, LOG_A, KEY("AAPL.NASDAQ.trade"), &s2), 0);
	assert_int_equal(interest_add(&in, LOG_A, KEY("AAPL.NASDAQ.trade"), &s1), 0);	/* once */
	assert_int_equal(interest_add(&in, LOG_B, KEY("AAPL.NASDAQ.trade"), &s3), 0);	/* other log */
	assert_int_equal(in.keys, 2);
	l = interest_find(&in, LOG_A, KEY("AAPL.NASDAQ.trade"));
	assert_non_null(l);
	assert_int_equal(l->n, 2);
	assert_ptr_equal(l->subs[0], &s1);
	assert_ptr_equal(l->subs[1], &s2);
	l = interest_find(&in, LOG_B, KEY("AAPL.NASDAQ.trade"));
	assert_non_null(l);
	assert_int_equal(l->n, 1);
	assert_ptr_equal(l->subs[0], &s3);
	assert_null(interest_find(&in, LOG_A, KEY("MSFT")));
	interest_remove(&in, LOG_A, KEY("AAPL.NASDAQ.trade"), &s1);
	l = interest_find(&in, LOG_A, KEY("AAPL.NASDAQ.trade"));
	assert_int_equal(l->n, 1);
	assert_ptr_equal(l->subs[0], &s2);
	interest_remove(&in, LOG_A, KEY("AAPL.NASDAQ.trade"), &s1);	/* not there: nothing */
	interest_remove(&in, LOG_A, KEY("AAPL.NASDAQ.trade"), &s2);
	assert_null(interest_find(&in, LOG_A, KEY("AAPL.NASDAQ.trade")));
	assert_int_equal(in.keys, 1);
	interest_free(&in);
}

/* Two keys given the same hash: the hash finds both, the bytes pick one; neither is
 * handed the other's subscriptions; removing one (head or not) keeps the other. */
static void one_hash_two_keys(void **state)
{
	struct interest in;
	int s1, s2, s3;
	const struct interest_list *l;
	const uint64_t h = 99;

	(void)state;
	assert_int_equal(interest_init(&in), 0);
	assert_int_equal(interest_add(&in, LOG_A, h, "AAPL", 4, &s1), 0);
	assert_int_equal(interest_add(&in, LOG_A, h, "MSFT", 4, &s2), 0);
	assert_int_equal(interest_add(&in, LOG_A, h, "MSFT", 4, &s3), 0);
	assert_int_equal(in.keys, 2);
	assert_non_null(interest_find_hash(&in, LOG_A, h));
	l = interest_find(&in, LOG_A, h, "AAPL", 4);
	assert_int_equal(l->n, 1);
	assert_ptr_equal(l->subs[0], &s1);
	l = interest_find(&in, LOG_A, h, "MSFT", 4);
	assert_int_equal(l->n, 2);
	assert_ptr_equal(l->subs[0], &s2);
	assert_null(interest_find(&in, LOG_A, h, "IBM", 3));	/* the hash, not the key */
	assert_null(interest_find(&in, LOG_A, h, "AAP", 3));
	interest_remove(&in, LOG_A, h, "AAPL", 4, &s1);	/* the chain's head goes */
	assert_null(interest_find(&in, LOG_A, h, "AAPL", 4));
	assert_int_equal(interest_find(&in, LOG_A, h, "MSFT", 4)->n, 2);
	assert_int_equal(interest_add(&in, LOG_A, h, "AAPL", 4, &s1), 0);
	interest_remove(&in, LOG_A, h, "AAPL", 4, &s1);	/* now not the head */
	interest_remove(&in, LOG_A, h, "MSFT", 4, &s2);
	interest_remove(&in, LOG_A, h, "MSFT", 4, &s3);
	assert_null(interest_find_hash(&in, LOG_A, h));
	assert_int_equal(in.keys, 0);
	assert_int_equal(in.bytes, 0);
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
	char key[32];

	(void)state;
	assert_int_equal(interest_init(&in), 0);
	for (uint32_t k = 0; k < KEYS; k++) {
		snprintf(key, sizeof(key), "S%05u.X.trade", k);
		assert_int_equal(interest_add(&in, LOG_A, KEY(key), &subs[k % SUBS]), 0);
	}
	for (int i = 0; i < SUBS; i++)
		assert_int_equal(interest_add(&in, LOG_B, 42, "k", 1, &subs[i]), 0);
	assert_int_equal(interest_add(&in, LOG_B, 0, "zero", 4, &subs[0]), 0);
	assert_int_equal(interest_add(&in, LOG_B, UINT64_MAX, "ones", 4, &subs[1]), 0);
	assert_int_equal(in.keys, KEYS + 3);
	for (uint32_t k = 0; k < KEYS; k++) {
		snprintf(key, sizeof(key), "S%05u.X.trade", k);
		l = interest_find(&in, LOG_A, KEY(key));
		assert_non_null(l);
		assert_int_equal(l->n, 1);
		assert_ptr_equal(l->subs[0], &subs[k % SUBS]);
	}
	l = interest_find(&in, LOG_B, 42, "k", 1);
	assert_int_equal(l->n, SUBS);
	for (int i = 0; i < SUBS; i++)
		assert_ptr_equal(l->subs[i], &subs[i]);
	assert_ptr_equal(interest_find(&in, LOG_B, 0, "zero", 4)->subs[0], &subs[0]);
	assert_ptr_equal(interest_find(&in, LOG_B, UINT64_MAX, "ones", 4)->subs[0], &subs[1]);
	interest_free(&in);	/* frees every list: ASan's leak check holds us to it */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(add_find_remove),
		cmocka_unit_test(one_hash_two_keys),
		cmocka_unit_test(many_keys_and_subscribers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
