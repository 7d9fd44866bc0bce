/* tests/unit/core/xr_test.c — the cross-reactor lanes: bounds, a full lane refuses,
 * and a million pointers cross between two threads in order, none lost. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>

#include "core/xr.h"

#define CROSSINGS 1000000u

static void mesh_bounds(void **state)
{
	struct xr_mesh m;

	(void)state;
	assert_int_equal(xr_mesh_init(&m, 0), -EINVAL);
	assert_int_equal(xr_mesh_init(&m, XR_REACTORS_MAX + 1), -EINVAL);
	assert_int_equal(xr_mesh_init(&m, 3), 0);
	assert_int_equal(m.n, 3);
	xr_mesh_free(&m);
}

static void full_lane_refuses_then_drains_in_order(void **state)
{
	struct xr_mesh m;
	uintptr_t sent = 0, got = 0;
	void *p;

	(void)state;
	assert_int_equal(xr_mesh_init(&m, 2), 0);
	while (xr_send(&m, 0, 1, (void *)(sent + 1)))
		sent++;
	assert_int_equal(sent, XR_LANE_SLOTS - 1);	/* ck_ring keeps one slot free */
	assert_false(xr_recv(&m, 0, 1, &p));		/* the other direction is empty */
	while (xr_recv(&m, 1, 0, &p))
		assert_int_equal((uintptr_t)p, ++got);
	assert_int_equal(got, sent);
	assert_true(xr_send(&m, 0, 1, (void *)1));	/* room again */
	xr_mesh_free(&m);
}

static void *producer(void *arg)
{
	struct xr_mesh *m = arg;

	for (uintptr_t i = 1; i <= CROSSINGS;)
		if (xr_send(m, 0, 1, (void *)i))
			i++;
	return NULL;
}

static void threads_cross_in_order(void **state)
{
	struct xr_mesh m;
	pthread_t th;
	uintptr_t expect = 1;
	void *p;

	(void)state;
	assert_int_equal(xr_mesh_init(&m, 2), 0);
	assert_int_equal(pthread_create(&th, NULL, producer, &m), 0);
	while (expect <= CROSSINGS)
		if (xr_recv(&m, 1, 0, &p))
			assert_int_equal((uintptr_t)p, expect++);
	pthread_join(th, NULL);
	assert_false(xr_recv(&m, 1, 0, &p));
	xr_mesh_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(mesh_bounds),
		cmocka_unit_test(full_lane_refuses_then_drains_in_order),
		cmocka_unit_test(threads_cross_in_order),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
