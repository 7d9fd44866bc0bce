/* tests/unit/core/keyhash_test.c — the keyed hash: SipHash-2-4's published test vector,
 * the fixed test key, a data directory's own key (made once, mode 0600, the same after a
 * restart, different in another directory), and the refusals that protect stored hashes
 * (a missing key beside topics, a damaged key file). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/keyhash.h"

static const uint8_t test_key[KEYHASH_KEY_BYTES] = KEYHASH_TEST_KEY;

static void tmpdir(char *buf, size_t cap)
{
	snprintf(buf, cap, "/tmp/fanout-keyhash-XXXXXX");
	assert_non_null(mkdtemp(buf));
}

static void rmtree(const char *dir)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static uint64_t h(const char *s)
{
	return keyhash_bytes(s, strlen(s));
}

/* The reference SipHash-2-4 vector (Aumasson & Bernstein, appendix A): key 00..0f, the
 * 15-byte message 00..0e hashes to 0xa129ca6149be45e5. */
static void test_siphash_vector(void **state)
{
	uint8_t key[16], msg[15];

	(void)state;
	for (int i = 0; i < 16; i++)
		key[i] = (uint8_t)i;
	for (int i = 0; i < 15; i++)
		msg[i] = (uint8_t)i;
	keyhash_set_key(key);
	assert_true(keyhash_bytes(msg, sizeof(msg)) == 0xa129ca6149be45e5ull);
	keyhash_set_key(test_key);
}

static void test_nonzero_and_bits(void **state)
{
	(void)state;
	assert_true(h("AAPL") != 0 && h("") != 0);
	assert_true(h("AAPL") != h("MSFT"));
	keyhash_set_test_bits(0);	/* the hook tests use: everything collides */
	assert_true(h("AAPL") == h("MSFT"));
	assert_true(h("AAPL") != 0);
	keyhash_set_test_bits(64);
	assert_true(h("AAPL") != h("MSFT"));
}

static void test_dir_key(void **state)
{
	char a[64], b[64], path[128];
	uint64_t in_a, in_a_again, in_b, fixed;
	struct stat st;

	(void)state;
	keyhash_set_key(test_key);
	fixed = h("AAPL.NASDAQ.trade");
	tmpdir(a, sizeof(a));
	tmpdir(b, sizeof(b));
	assert_int_equal(keyhash_load_dir(a), 0);
	in_a = h("AAPL.NASDAQ.trade");
	snprintf(path, sizeof(path), "%s/" KEYHASH_FILE, a);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(st.st_size, 33);
	assert_int_equal(keyhash_load_dir(b), 0);
	in_b = h("AAPL.NASDAQ.trade");
	assert_int_equal(keyhash_load_dir(a), 0);	/* a restart of a */
	in_a_again = h("AAPL.NASDAQ.trade");
	assert_true(in_a == in_a_again);
	assert_true(in_a != in_b);
	assert_true(in_a != fixed && in_b != fixed);
	keyhash_set_key(test_key);
	rmtree(a);
	rmtree(b);
}

static void test_refusals(void **state)
{
	char d[64], path[160];
	FILE *f;

	(void)state;
	tmpdir(d, sizeof(d));
	/* Topics without their key: hashes in them cannot be reproduced, never made anew. */
	snprintf(path, sizeof(path), "%s/topics", d);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/topics/t", d);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(keyhash_load_dir(d), -ENOENT);
	snprintf(path, sizeof(path), "%s/" KEYHASH_FILE, d);
	assert_int_equal(access(path, F_OK), -1);
	/* A damaged key file. */
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("0123456789abcdef0123456789abcdeZ\n", f);
	fclose(f);
	assert_int_equal(keyhash_load_dir(d), -EINVAL);
	f = fopen(path, "w");
	fputs("0123456789abcdef\n", f);
	fclose(f);
	assert_int_equal(keyhash_load_dir(d), -EINVAL);
	/* A good one is used as it is, whatever the topics. */
	f = fopen(path, "w");
	fputs("000102030405060708090a0b0c0d0e0f\n", f);
	fclose(f);
	assert_int_equal(keyhash_load_dir(d), 0);
	{
		uint8_t msg[15];

		for (int i = 0; i < 15; i++)
			msg[i] = (uint8_t)i;
		assert_true(keyhash_bytes(msg, sizeof(msg)) == 0xa129ca6149be45e5ull);
	}
	keyhash_set_key(test_key);
	rmtree(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_siphash_vector),
		cmocka_unit_test(test_nonzero_and_bits),
		cmocka_unit_test(test_dir_key),
		cmocka_unit_test(test_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
