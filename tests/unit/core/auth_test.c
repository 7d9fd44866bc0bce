/* tests/unit/core/auth_test.c — tokens (shape, hash, constant-time verify), topic
 * patterns and permissions, the sorted set and its swap, rate limits (GCRA), the
 * per-address failure delay and the refusal ring. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "core/auth.h"

static void tokens_round_trip(void **state)
{
	char text[AUTH_TOKEN_LEN + 1], text2[AUTH_TOKEN_LEN + 1], id[AUTH_ID_LEN + 1],
		id2[AUTH_ID_LEN + 1], pid[AUTH_ID_LEN + 1];
	uint8_t hash[AUTH_HASH_BYTES], hash2[AUTH_HASH_BYTES], phash[AUTH_HASH_BYTES];

	(void)state;
	auth_token_generate(text, id, hash);
	auth_token_generate(text2, id2, hash2);
	assert_int_equal(strlen(text), AUTH_TOKEN_LEN);
	assert_true(strncmp(text, "fo_", 3) == 0 && strncmp(text + 3, id, AUTH_ID_LEN) == 0);
	assert_string_not_equal(text, text2);
	assert_int_equal(auth_token_parse(text, strlen(text), pid, phash), 0);
	assert_string_equal(pid, id);
	assert_memory_equal(phash, hash, AUTH_HASH_BYTES);
	/* Wrong shapes. */
	assert_int_equal(auth_token_parse(text, strlen(text) - 1, pid, phash), -EINVAL);
	text2[0] = 'x';
	assert_int_equal(auth_token_parse(text2, strlen(text2), pid, phash), -EINVAL);
	assert_int_equal(auth_token_parse("", 0, pid, phash), -EINVAL);
	memcpy(text2, text, sizeof(text));
	text2[5] = 'G';	/* not hex */
	assert_int_equal(auth_token_parse(text2, strlen(text2), pid, phash), -EINVAL);
	memcpy(text2, text, sizeof(text));
	text2[40] = '+';	/* not base64url */
	assert_int_equal(auth_token_parse(text2, strlen(text2), pid, phash), -EINVAL);
}

static void names_and_roles(void **state)
{
	enum auth_role r;

	(void)state;
	assert_true(auth_name_valid("desk-7.ops_1"));
	assert_false(auth_name_valid(""));
	assert_false(auth_name_valid("a b"));
	assert_false(auth_name_valid("x\xc3\xa9"));
	assert_int_equal(auth_role_parse("reader", &r), 0);
	assert_int_equal(r, AUTH_ROLE_READER);
	assert_int_equal(auth_role_parse("root", &r), -EINVAL);
	assert_string_equal(auth_role_name(AUTH_ROLE_ADMIN), "admin");
}

static void patterns(void **state)
{
	const char *why = NULL;

	(void)state;
	assert_int_equal(auth_pattern_check("market-data/>", &why), 0);
	assert_int_equal(auth_pattern_check("execution/fills", &why), 0);
	assert_int_equal(auth_pattern_check("*/fills", &why), 0);
	assert_int_equal(auth_pattern_check(">", &why), 0);
	assert_int_equal(auth_pattern_check("", &why), -EINVAL);
	assert_int_equal(auth_pattern_check("a//b", &why), -EINVAL);
	assert_int_equal(auth_pattern_check("a/", &why), -EINVAL);
	assert_int_equal(auth_pattern_check("market-*", &why), -EINVAL);
	assert_int_equal(auth_pattern_check(">/x", &why), -EINVAL);
	assert_int_equal(auth_pattern_check("a b", &why), -EINVAL);
	assert_non_null(why);

	assert_true(auth_pattern_match("market-data/>", "market-data/equities", 20));
	assert_true(auth_pattern_match("market-data/>", "market-data/a/b", 15));
	assert_false(auth_pattern_match("market-data/>", "market-data", 11));
	assert_false(auth_pattern_match("market-data/>", "market-datax/a", 14));
	assert_true(auth_pattern_match("execution/fills", "execution/fills", 15));
	assert_false(auth_pattern_match("execution/fills", "execution/fills2", 16));
	assert_false(auth_pattern_match("execution/fills", "execution", 9));
	assert_false(auth_pattern_match("execution", "execution/fills", 15));
	assert_true(auth_pattern_match("*/fills", "execution/fills", 15));
	assert_false(auth_pattern_match("*/fills", "a/b/fills", 9));
	assert_true(auth_pattern_match(">", "anything", 8));
	assert_true(auth_pattern_match("*", "trades", 6));
	assert_false(auth_pattern_match("*", "a/b", 3));
	/* The length bounds the name: bytes past it are not part of it. */
	assert_true(auth_pattern_match("orders", "orders/x", 6));
}

static void permissions(void **state)
{
	struct auth_token t = { 0 };

	(void)state;
	strcpy(t.pub.allow[t.pub.nallow++], "market-data/>");
	strcpy(t.pub.deny[t.pub.ndeny++], "market-data/internal");
	strcpy(t.sub.allow[t.sub.nallow++], "execution/fills");
	assert_true(auth_allows(&t, AUTH_PUBLISH, "market-data/equities", 20));
	assert_false(auth_allows(&t, AUTH_PUBLISH, "market-data/internal", 20));
	assert_false(auth_allows(&t, AUTH_PUBLISH, "execution/fills", 15));
	assert_true(auth_allows(&t, AUTH_SUBSCRIBE, "execution/fills", 15));
	assert_false(auth_allows(&t, AUTH_SUBSCRIBE, "market-data/equities", 20));
	t.sub.nallow = 0;	/* nothing allowed is nothing */
	assert_false(auth_allows(&t, AUTH_SUBSCRIBE, "execution/fills", 15));
}

static void sets_sorted_verify_swap(void **state)
{
	struct auth a;
	struct auth_set *set;
	struct auth_token t = { 0 };
	char text[8][AUTH_TOKEN_LEN + 1];
	const struct auth_token *found;

	(void)state;
	assert_int_equal(auth_init(&a, true), 0);
	assert_int_equal(auth_current(&a)->n, 0);
	set = auth_set_new();
	assert_non_null(set);
	for (int i = 0; i < 8; i++) {
		auth_token_generate(text[i], t.id, t.hash);
		snprintf(t.name, sizeof(t.name), "t%d", i);
		assert_int_equal(auth_set_add(&a, set, &t), 0);
		assert_int_equal(auth_set_add(&a, set, &t), -EEXIST);
	}
	for (uint32_t i = 1; i < set->n; i++)
		assert_true(strcmp(set->tokens[i - 1].id, set->tokens[i].id) < 0);
	auth_swap(&a, set);
	assert_int_equal(atomic_load(&a.gen), 1);
	for (int i = 0; i < 8; i++) {
		char name[8];

		found = auth_verify(auth_current(&a), text[i], strlen(text[i]));
		assert_non_null(found);
		snprintf(name, sizeof(name), "t%d", i);
		assert_string_equal(found->name, name);
		assert_non_null(found->usage);
		assert_ptr_equal(auth_find(auth_current(&a), found->id), found);
	}
	/* The right id with a wrong secret, and a token never issued. */
	text[0][AUTH_TOKEN_LEN - 1] = text[0][AUTH_TOKEN_LEN - 1] == 'A' ? 'B' : 'A';
	assert_null(auth_verify(auth_current(&a), text[0], strlen(text[0])));
	auth_token_generate(text[1], t.id, t.hash);
	assert_null(auth_verify(auth_current(&a), text[1], strlen(text[1])));
	assert_null(auth_verify(auth_current(&a), "Bearer", 6));
	/* A token in a later set keeps its usage slot (its counters outlive sets). */
	{
		struct auth_set *next = auth_set_new();
		struct auth_usage *u = (struct auth_usage *)auth_current(&a)->tokens[3].usage;

		t = auth_current(&a)->tokens[3];
		atomic_store(&u->connections, 2);
		assert_int_equal(auth_set_add(&a, next, &t), 0);
		auth_swap(&a, next);	/* not registered: the old set is freed at once */
		assert_ptr_equal(auth_current(&a)->tokens[0].usage, u);
		assert_int_equal(atomic_load(&auth_current(&a)->tokens[0].usage->connections), 2);
	}
	auth_free(&a);
}

static void rates(void **state)
{
	_Atomic int64_t tat = 0;
	const int64_t t0 = 1000000000000ll;
	int64_t wait;
	int taken = 0;

	(void)state;
	/* 10 a second: a second's burst (10) goes at once, the 11th waits ~100 ms. */
	while (auth_rate_take(&tat, 10, 1, t0) == 0 && taken < 100)
		taken++;
	assert_int_equal(taken, 10);
	wait = auth_rate_take(&tat, 10, 1, t0);
	assert_true(wait > 99000000 && wait <= 100000000);
	assert_int_equal(auth_rate_take(&tat, 10, 1, t0 + wait), 0);
	assert_true(auth_rate_take(&tat, 10, 1, t0 + wait) > 0);
	/* Later, the bucket is full again. */
	assert_int_equal(auth_rate_take(&tat, 10, 10, t0 + 10ll * 1000000000), 0);
	/* A take larger than a second's worth fits an empty bucket, once. */
	tat = 0;
	assert_int_equal(auth_rate_take(&tat, 10, 50, t0), 0);
	assert_true(auth_rate_take(&tat, 10, 1, t0) > 0);
	assert_int_equal(auth_rate_take(&tat, 0, 1 << 20, t0), 0);	/* no bound */
}

static void counts(void **state)
{
	_Atomic uint32_t c = 0;

	(void)state;
	assert_true(auth_count_take(&c, 2));
	assert_true(auth_count_take(&c, 2));
	assert_false(auth_count_take(&c, 2));
	auth_count_give(&c);
	assert_true(auth_count_take(&c, 2));
	assert_true(auth_count_take(&c, 0));	/* no bound */
	assert_int_equal(atomic_load(&c), 3);
}

static void failures_slow_down(void **state)
{
	struct auth a;
	struct sockaddr_in x = { .sin_family = AF_INET }, y = { .sin_family = AF_INET };
	struct sockaddr_storage sx = { 0 }, sy = { 0 };
	const int64_t t0 = 1000000000000ll;
	char buf[64];

	(void)state;
	inet_pton(AF_INET, "10.0.0.1", &x.sin_addr);
	inet_pton(AF_INET, "10.0.0.2", &y.sin_addr);
	x.sin_port = htons(1);
	memcpy(&sx, &x, sizeof(x));
	memcpy(&sy, &y, sizeof(y));
	assert_int_equal(auth_init(&a, true), 0);
	for (uint32_t i = 0; i < AUTH_FAIL_FREE; i++)
		assert_int_equal(auth_fail(&a, &sx, t0), 0);
	assert_int_equal(auth_fail(&a, &sx, t0), 100000000);
	assert_int_equal(auth_fail(&a, &sx, t0), 200000000);
	((struct sockaddr_in *)&sx)->sin_port = htons(2);	/* another port, same host */
	assert_int_equal(auth_fail(&a, &sx, t0), 400000000);
	for (int i = 0; i < 10; i++)
		auth_fail(&a, &sx, t0);
	assert_int_equal(auth_fail(&a, &sx, t0), AUTH_FAIL_DELAY_MAX_NS);
	assert_int_equal(auth_fail(&a, &sy, t0), 0);	/* another host is not slowed */
	assert_int_equal(auth_fail_count(&a, &sy, t0), 1);
	/* Forgotten after the window. */
	assert_int_equal(auth_fail_count(&a, &sx, t0 + AUTH_FAIL_WINDOW_NS + 1), 0);
	assert_int_equal(auth_fail(&a, &sx, t0 + AUTH_FAIL_WINDOW_NS + 2), 0);
	auth_addr_text(&sx, buf, sizeof(buf));
	assert_string_equal(buf, "10.0.0.1");
	auth_free(&a);
}

static void refusals_ring(void **state)
{
	struct auth a;
	static struct auth_refusal out[AUTH_REFUSALS_MAX];
	char target[16];

	(void)state;
	assert_int_equal(auth_init(&a, true), 0);
	for (uint32_t i = 0; i < AUTH_REFUSALS_MAX + 3; i++) {
		snprintf(target, sizeof(target), "t%u", i);
		auth_refuse(&a, "abc", "127.0.0.1", "publish", target, "denied");
	}
	assert_int_equal(a.refusals_dropped, 3);
	assert_int_equal(auth_refusals_take(&a, out, 2), 2);
	assert_string_equal(out[0].target, "t3");	/* the oldest three went */
	assert_string_equal(out[1].target, "t4");
	assert_int_equal(auth_refusals_take(&a, out, AUTH_REFUSALS_MAX), AUTH_REFUSALS_MAX - 2);
	assert_int_equal(auth_refusals_take(&a, out, 1), 0);
	assert_true(out[0].at_ns > 0);
	auth_free(&a);
}

static void text_clean(void **state)
{
	char a[] = "ok caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80";
	char b[] = "x\xff\xc3(\xe2\x82\x01\xed\xa0\x80\xc0\xaf\xf4\x90\x80\x80y";
	char c[] = "tab\there\x7f\x01";
	char d[] = "cut \xe2\x82";	/* a sequence cut short by snprintf */
	char e[] = "\xf8\x88\x80|\xff\x80\x80|\xf5\x80\x80\x80";	/* no lead byte */

	(void)state;
	auth_text_clean(a);
	assert_string_equal(a, "ok caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
	auth_text_clean(b);	/* bad byte, short, bad continuation, surrogate, overlong, > U+10FFFF */
	assert_string_equal(b, "x??" "(????????????y");
	auth_text_clean(c);
	assert_string_equal(c, "tab?here??");
	auth_text_clean(d);
	assert_string_equal(d, "cut ??");
	auth_text_clean(e);
	assert_string_equal(e, "???|???|????");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(tokens_round_trip),
		cmocka_unit_test(names_and_roles),
		cmocka_unit_test(patterns),
		cmocka_unit_test(permissions),
		cmocka_unit_test(sets_sorted_verify_swap),
		cmocka_unit_test(rates),
		cmocka_unit_test(counts),
		cmocka_unit_test(failures_slow_down),
		cmocka_unit_test(refusals_ring),
		cmocka_unit_test(text_clean),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
