/* tests/unit/net/audit_test.c — a reactor's audit queue: sizes, room, order, the full
 * queue refusing (and counting) what it cannot take, room coming back as it is read. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>

#include "net/audit.h"
#include "net/stats.h"

static void sizes_are_powers_of_two(void **state)
{
	struct audit_queue q;

	(void)state;
	assert_int_equal(audit_queue_init(&q, 100), -EINVAL);
	assert_int_equal(audit_queue_init(&q, 1), -EINVAL);
	assert_int_equal(audit_queue_init(&q, 8), 0);
	assert_int_equal(audit_queue_room(&q), 7);	/* one slot stays empty */
	audit_queue_free(&q);
	assert_int_equal(audit_queue_room(&q), 0);	/* freed: takes nothing */
}

static void in_order_and_bounded(void **state)
{
	struct audit_queue q;
	struct audit_rec r = { .kind = AUDIT_DELIVERED }, out;

	(void)state;
	assert_int_equal(audit_queue_init(&q, 8), 0);
	for (uint64_t i = 0; i < 7; i++) {
		r.offset = i;
		assert_true(audit_queue_push(&q, &r));
	}
	assert_int_equal(audit_queue_room(&q), 0);
	r.offset = 99;
	assert_false(audit_queue_push(&q, &r));	/* full: counted, not queued */
	assert_int_equal(net_stat_get(&q.lost), 1);
	for (uint64_t i = 0; i < 3; i++) {
		assert_true(audit_queue_pop(&q, &out));
		assert_int_equal(out.offset, i);
		assert_int_equal(out.kind, AUDIT_DELIVERED);
	}
	assert_int_equal(audit_queue_room(&q), 3);
	for (uint64_t i = 7; i < 10; i++) {
		r.offset = i;
		assert_true(audit_queue_push(&q, &r));	/* wraps round */
	}
	for (uint64_t i = 3; i < 10; i++) {
		assert_true(audit_queue_pop(&q, &out));
		assert_int_equal(out.offset, i);
	}
	assert_false(audit_queue_pop(&q, &out));
	audit_queue_free(&q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sizes_are_powers_of_two),
		cmocka_unit_test(in_order_and_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
