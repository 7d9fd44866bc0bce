/* tests/unit/core/epoch_test.c — deferred frees wait for readers: nothing deferred runs
 * while another thread is inside a section that began before it, and it runs once that
 * thread leaves; epoch_allocator's deferred blocks are freed (ASan sees leaks). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "core/epoch.h"

static _Atomic int reader_inside, reader_leave;
static int freed;

static void *reader(void *arg)
{
	(void)arg;
	assert_int_equal(epoch_register(), 0);
	epoch_enter();
	atomic_store(&reader_inside, 1);
	while (!atomic_load(&reader_leave))
		;
	epoch_exit();
	epoch_unregister();
	return NULL;
}

struct node {
	struct epoch_entry ent;	/* first: the callback gets it */
	int value;
};

static void node_free(struct epoch_entry *ent)
{
	struct node *n = (struct node *)(void *)ent;

	freed += n->value;
	free(n);
}

static void deferred_free_waits_for_a_reader(void **state)
{
	struct node *n = malloc(sizeof(*n));
	pthread_t th;

	(void)state;
	assert_non_null(n);
	n->value = 1;
	freed = 0;
	assert_int_equal(epoch_register(), 0);
	assert_int_equal(pthread_create(&th, NULL, reader, NULL), 0);
	while (!atomic_load(&reader_inside))
		;
	epoch_defer(&n->ent, node_free);
	assert_int_equal(epoch_pending(), 1);
	for (int i = 0; i < 100; i++)
		epoch_poll();
	assert_int_equal(freed, 0);		/* the reader may still hold it */
	atomic_store(&reader_leave, 1);
	pthread_join(th, NULL);
	epoch_synchronize();
	assert_int_equal(freed, 1);
	assert_int_equal(epoch_pending(), 0);
	epoch_unregister();
}

static void unregistered_thread_frees_at_once(void **state)
{
	struct node *n = malloc(sizeof(*n));

	(void)state;
	assert_non_null(n);
	n->value = 5;
	freed = 0;
	epoch_defer(&n->ent, node_free);	/* this thread is not registered */
	assert_int_equal(freed, 5);
}

static void allocator_defers_only_when_asked(void **state)
{
	void *a, *b;

	(void)state;
	assert_int_equal(epoch_register(), 0);
	a = epoch_allocator.malloc(100);
	b = epoch_allocator.malloc(100);
	assert_non_null(a);
	assert_non_null(b);
	epoch_allocator.free(a, 100, false);	/* at once */
	assert_int_equal(epoch_pending(), 0);
	epoch_allocator.free(b, 100, true);	/* after a grace period */
	assert_int_equal(epoch_pending(), 1);
	epoch_synchronize();
	assert_int_equal(epoch_pending(), 0);
	epoch_unregister();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(deferred_free_waits_for_a_reader),
		cmocka_unit_test(unregistered_thread_frees_at_once),
		cmocka_unit_test(allocator_defers_only_when_asked),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
