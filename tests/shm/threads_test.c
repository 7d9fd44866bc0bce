/* tests/shm/threads_test.c — the writer and three readers as threads of one process over
 * one mapping of the ring (shm_ring_base + shm_reader_open_mapped), so that
 * ThreadSanitizer, which tools/test runs this suite under, sees both sides of every
 * access at the same address: the release/acquire publication of records and journal
 * entries, the futex handshake, the slot updates. Readers spin forever, spin then sleep,
 * and only sleep. The ring is large enough that nobody is lapped (a lap is a deliberate
 * seqlock race, which lap_test.c covers across processes). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "shm/shm_internal.h"
#include "tests/shm/shm_harness.h"

#define EVENTS 20000u
#define READERS 3

struct reader_thread {
	struct fanout_shm *r;
	int rc;
};

static void *reader_run(void *arg)
{
	struct reader_thread *t = arg;
	struct read_tally tally = { 0 };

	t->rc = read_expect(t->r, 0, EVENTS, 2, 60ll * 1000000000, &tally);
	if (t->rc == 0 && (tally.recovered || tally.torn))
		t->rc = -1;
	return NULL;
}

static void test_threads_share_one_mapping(void **state)
{
	static const uint32_t spins[READERS] = { FANOUT_SHM_SPIN_FOREVER, 1000, 0 };
	struct pub_opts po = { .name = "threads", .ring_bytes = 16 << 20, .partitions = 2,
			       .no_logs = true };
	struct reader_thread t[READERS];
	pthread_t tid[READERS];
	struct pub p;
	char err[256];

	assert_int_equal(pub_open(&p, *state, &po), 0);
	for (int i = 0; i < READERS; i++) {
		struct fanout_shm_opts o;

		fanout_shm_opts_init(&o);
		o.start = FANOUT_SHM_START_FIRST;
		o.spin_iterations = spins[i];
		assert_int_equal(shm_reader_open_mapped(&t[i].r, shm_ring_base(p.w), p.path, &o,
							err, sizeof(err)), 0);
		assert_int_equal(pthread_create(&tid[i], NULL, reader_run, &t[i]), 0);
	}
	assert_int_equal(pub_events(&p, EVENTS), 0);
	for (int i = 0; i < READERS; i++) {
		assert_int_equal(pthread_join(tid[i], NULL), 0);
		assert_int_equal(t[i].rc, 0);
		fanout_shm_close(t[i].r);
	}
	pub_close(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_threads_share_one_mapping, shm_fixture_setup,
						shm_fixture_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
