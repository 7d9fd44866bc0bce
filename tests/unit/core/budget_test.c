/* tests/unit/core/budget_test.c — a reactor's memory budget: takes within the limit less
 * the reserve, refusals counted (nothing taken), the reserve for cut clients' Errors,
 * per-kind use, the peak. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/budget.h"

static void take_give_refuse(void **state)
{
	const uint64_t limit = BUDGET_BYTES_MIN, room = limit - BUDGET_RESERVE_BYTES;
	struct budget b;

	(void)state;
	budget_init(&b, limit);
	assert_true(budget_take(&b, BUDGET_INPUT, room - 100));
	assert_true(budget_take(&b, BUDGET_ANSWERS, 100));
	assert_true(budget_read(&b.used) == room);
	assert_false(budget_take(&b, BUDGET_SNAPSHOTS, 1));	/* only the reserve is left */
	assert_true(budget_read(&b.refused) == 1 && budget_read(&b.refused_bytes) == 1);
	assert_true(budget_read(&b.used_by[BUDGET_SNAPSHOTS]) == 0);
	/* A client being cut may take from the reserve, up to the limit and no further. */
	assert_true(budget_take_reserve(&b, BUDGET_ANSWERS, BUDGET_RESERVE_BYTES));
	assert_false(budget_take_reserve(&b, BUDGET_ANSWERS, 1));
	assert_true(budget_read(&b.used) == limit);
	budget_give(&b, BUDGET_ANSWERS, BUDGET_RESERVE_BYTES + 100);
	budget_give(&b, BUDGET_INPUT, room - 100);
	assert_true(budget_read(&b.used) == 0);
	assert_true(budget_read(&b.peak) == limit);
	for (int k = 0; k < BUDGET_KINDS; k++)
		assert_true(budget_read(&b.used_by[k]) == 0);
	/* A huge request never wraps the arithmetic into a yes. */
	assert_false(budget_take(&b, BUDGET_INPUT, UINT64_MAX));
	assert_true(budget_take(&b, BUDGET_RINGS, room));
	budget_give(&b, BUDGET_RINGS, room);
}

static void kinds_have_names(void **state)
{
	(void)state;
	assert_string_equal(budget_kind_name(BUDGET_INPUT), "input");
	assert_string_equal(budget_kind_name(BUDGET_SUBSCRIPTIONS), "subscriptions");
	for (int k = 0; k < BUDGET_KINDS; k++)
		assert_true(strlen(budget_kind_name((enum budget_kind)k)) > 0);
	budget_count(&(struct budget){ 0 }.deadline_cuts);	/* compiles for any counter */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(take_give_refuse),
		cmocka_unit_test(kinds_have_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
