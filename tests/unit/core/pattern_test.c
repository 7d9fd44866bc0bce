/* tests/unit/core/pattern_test.c — routing keys and patterns, table-driven. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "core/pattern.h"

struct match_case {
	const char *pattern;
	const char *key;
	bool match;
};

static const struct match_case match_cases[] = {
	{ "AAPL.NASDAQ.trade", "AAPL.NASDAQ.trade", true },
	{ "AAPL.NASDAQ.trade", "AAPL.NASDAQ.quote", false },
	{ "AAPL.NASDAQ.trade", "AAPL.NASDAQ", false },
	{ "AAPL.NASDAQ", "AAPL.NASDAQ.trade", false },
	{ "AAPL.*.trade", "AAPL.NYSE.trade", true },
	{ "AAPL.*.trade", "AAPL.NYSE.quote", false },
	{ "*.*.trade", "MSFT.ARCA.trade", true },
	{ "*", "AAPL", true },
	{ "*", "AAPL.NASDAQ", false },
	{ "AAPL.>", "AAPL.NASDAQ.trade", true },
	{ "AAPL.>", "AAPL.NASDAQ", true },
	{ "AAPL.>", "AAPL", false },
	{ ">", "AAPL", true },
	{ ">", "AAPL.NASDAQ.trade", true },
	{ "*.decision.buy", "AAPL.decision.buy", true },
	{ "*.decision.buy", "AAPL.decision.sell", false },
	{ "*.decision.>", "AAPL.decision.sell", true },
	{ "AAPL", "AAPLX", false },
	{ "AAPLX", "AAPL", false },
	{ "A.B", "A.BC", false },
	{ "*.B", "A.B.C", false },
};

static void patterns_match_as_nats_subjects(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(match_cases) / sizeof(match_cases[0]); i++) {
		const struct match_case *c = &match_cases[i];
		struct pattern p;
		const char *why = NULL;

		assert_int_equal(pattern_compile(&p, c->pattern, strlen(c->pattern), &why), 0);
		if (pattern_match(&p, c->key, strlen(c->key)) != c->match)
			fail_msg("pattern '%s' vs key '%s': expected %s", c->pattern, c->key,
				 c->match ? "match" : "no match");
	}
}

static const char *const bad_patterns[] = {
	"", ".", "A.", ".A", "A..B", "A.>.B", "A*.B", "A.>B", "A B", "A.\tB", ">.A",
	"a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w.x.y.z.0.1.2.3.4.5.6",
};

static void malformed_patterns_are_refused_with_a_reason(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_patterns) / sizeof(bad_patterns[0]); i++) {
		struct pattern p;
		const char *why = NULL;
		int rc = pattern_compile(&p, bad_patterns[i], strlen(bad_patterns[i]), &why);

		if (rc != -EINVAL)
			fail_msg("pattern '%s' was accepted", bad_patterns[i]);
		assert_non_null(why);
		assert_true(strlen(why) > 0);
	}
}

static void overlong_pattern_is_refused(void **state)
{
	char text[PATTERN_BYTES_MAX + 2];
	struct pattern p;
	const char *why = NULL;

	(void)state;
	memset(text, 'a', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	assert_int_equal(pattern_compile(&p, text, strlen(text), &why), -EINVAL);
	text[PATTERN_BYTES_MAX] = '\0';
	assert_int_equal(pattern_compile(&p, text, strlen(text), &why), 0);
	assert_true(pattern_match(&p, text, strlen(text)));
}

static void routing_keys_are_checked(void **state)
{
	const char *good[] = { "AAPL", "AAPL.NASDAQ.trade", "x-1.y_2.Z3" };
	const char *bad[] = { "", "AAPL.*", "AAPL.>", "A..B", "A.", "A B" };
	const char *why;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_int_equal(pattern_key_check(good[i], strlen(good[i]), &why), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		if (pattern_key_check(bad[i], strlen(bad[i]), &why) != -EINVAL)
			fail_msg("key '%s' was accepted", bad[i]);
		assert_non_null(why);
	}
}

static void exact_patterns_are_known(void **state)
{
	static const struct {
		const char *text;
		bool exact;
	} cases[] = {
		{ "AAPL.NASDAQ.trade", true }, { "AAPL", true }, { "AAPL.*.trade", false },
		{ "*", false }, { ">", false }, { "AAPL.>", false }, { "a.b.*", false },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct pattern p;
		const char *why;

		assert_int_equal(pattern_compile(&p, cases[i].text, strlen(cases[i].text), &why), 0);
		if (p.exact != cases[i].exact)
			fail_msg("'%s': exact is %d", cases[i].text, p.exact);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(patterns_match_as_nats_subjects),
		cmocka_unit_test(malformed_patterns_are_refused_with_a_reason),
		cmocka_unit_test(overlong_pattern_is_refused),
		cmocka_unit_test(routing_keys_are_checked),
		cmocka_unit_test(exact_patterns_are_known),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
