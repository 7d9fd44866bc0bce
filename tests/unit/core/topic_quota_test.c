/* tests/unit/core/topic_quota_test.c — core/topic_quota.c: a burst of `rate` creations,
 * then one per 1/rate s; the per-connection count; undo gives back both. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/topic_quota.h"

#include <errno.h>
#include <string.h>

#define MS 1000000ll

static void burst_then_rate(void **state)
{
	struct topic_quota q;
	const char *why = NULL;
	int64_t t = 5000 * MS;

	(void)state;
	topic_quota_init(&q, 0, 4);	/* 4 a second: one per 250 ms */
	for (int i = 0; i < 4; i++)
		assert_int_equal(topic_quota_take(&q, t, &why), 0);
	assert_int_equal(topic_quota_take(&q, t, &why), -EAGAIN);
	assert_non_null(strstr(why, "--topic-create-rate"));
	assert_int_equal(topic_quota_take(&q, t + 249 * MS, &why), -EAGAIN);
	assert_int_equal(topic_quota_take(&q, t + 250 * MS, &why), 0);
	assert_int_equal(topic_quota_take(&q, t + 251 * MS, &why), -EAGAIN);
	/* Quiet for long: a whole burst again, not more. */
	t += 60000 * MS;
	for (int i = 0; i < 4; i++)
		assert_int_equal(topic_quota_take(&q, t, &why), 0);
	assert_int_equal(topic_quota_take(&q, t, &why), -EAGAIN);
	assert_int_equal(q.created, 9);
}

static void count_bound_and_undo(void **state)
{
	struct topic_quota q;
	const char *why = NULL;

	(void)state;
	topic_quota_init(&q, 2, 1000);
	assert_int_equal(topic_quota_take(&q, 0, &why), 0);
	assert_int_equal(topic_quota_take(&q, 0, &why), 0);
	assert_int_equal(topic_quota_take(&q, 0, &why), -EDQUOT);
	assert_non_null(strstr(why, "--max-topics-per-connection"));
	topic_quota_undo(&q);	/* the topic existed after all */
	assert_int_equal(topic_quota_take(&q, 0, &why), 0);
	assert_int_equal(q.created, 2);
	topic_quota_init(&q, 0, 0);	/* no bounds */
	for (int i = 0; i < 10000; i++)
		assert_int_equal(topic_quota_take(&q, 0, &why), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(burst_then_rate),
		cmocka_unit_test(count_bound_and_undo),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
