/* tests/perf/bench_cpu_test.c — perf/bench_cpu.c: /proc/PID/stat's utime + stime agree
 * with the kernel's CPU clock of the same process (ours, with a command name built to
 * trip a naive parser, and a child's), a child's clock is readable from here while it
 * runs and not once it is gone, a thread's clock counts that thread only, and the
 * figures per event and per delivery. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "perf/bench.h"
#include "perf/bench_cpu.h"

#define MS 1000000LL

/* Spins on the CPU for about ms of this thread's CPU time. */
static void burn_ms(int64_t ms)
{
	int64_t end = bench_cpu_clock_ns(CLOCK_THREAD_CPUTIME_ID) + ms * MS;
	volatile uint64_t x = 0;

	while (bench_cpu_clock_ns(CLOCK_THREAD_CPUTIME_ID) < end)
		for (int i = 0; i < 10000; i++)
			x += (uint64_t)i;
}

/* /proc/PID/stat is in clock ticks, truncated: within two ticks and 2 % of the clock. */
static void assert_stat_near(int64_t stat_ns, int64_t clock_ns)
{
	int64_t tick = 1000000000 / sysconf(_SC_CLK_TCK);

	if (llabs(stat_ns - clock_ns) > 2 * tick + clock_ns / 50)
		fail_msg("/proc/PID/stat says %lld ns, the CPU clock %lld ns", (long long)stat_ns,
			 (long long)clock_ns);
}

static void own_stat_matches_clock(void **state)
{
	int64_t stat_ns;

	(void)state;
	/* The command name is field 2, in parentheses: these would shift a naive split. */
	assert_int_equal(prctl(PR_SET_NAME, "a) 1 2 (b"), 0);
	burn_ms(150);
	assert_int_equal(bench_cpu_stat_ns(getpid(), &stat_ns), 0);
	assert_true(stat_ns > 0);
	assert_stat_near(stat_ns, bench_cpu_clock_ns(CLOCK_PROCESS_CPUTIME_ID));
	assert_int_equal(bench_cpu_stat_ns(-5, &stat_ns), -ENOENT);
}

/* A child burns ~200 ms and waits: its clock says so from here, and so does its stat;
 * once it is reaped neither can be read. */
static void child_process_clock(void **state)
{
	int go[2], done[2], st;
	clockid_t c;
	int64_t ns, stat_ns;
	pid_t pid;
	char b;

	(void)state;
	assert_int_equal(pipe(go), 0);
	assert_int_equal(pipe(done), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		burn_ms(200);
		(void)!write(done[1], "x", 1);
		(void)!read(go[0], &b, 1);	/* until the parent has looked */
		_exit(0);
	}
	assert_int_equal(read(done[0], &b, 1), 1);
	assert_int_equal(bench_cpu_proc_clock(pid, &c), 0);
	ns = bench_cpu_clock_ns(c);
	assert_true(ns >= 200 * MS);
	assert_true(ns < 2000 * MS);
	assert_int_equal(bench_cpu_stat_ns(pid, &stat_ns), 0);
	assert_stat_near(stat_ns, ns);
	assert_int_equal(write(go[1], "x", 1), 1);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_int_equal(bench_cpu_clock_ns(c), -1);
	assert_int_equal(bench_cpu_stat_ns(pid, &stat_ns), -ENOENT);
	close(go[0]);
	close(go[1]);
	close(done[0]);
	close(done[1]);
}

/* Burns 120 ms, says so on done[1], then lives until go[0] is readable: a thread's clock
 * can be read only while the thread exists (fanout-bench reads before joining). */
static int burner_go[2], burner_done[2];

static void *burner(void *arg)
{
	char b;

	(void)arg;
	burn_ms(120);
	(void)!write(burner_done[1], "x", 1);
	(void)!read(burner_go[0], &b, 1);
	return NULL;
}

/* A thread's clock, read from another thread, is that thread's CPU only. */
static void thread_clock(void **state)
{
	int64_t before = bench_cpu_clock_ns(CLOCK_THREAD_CPUTIME_ID), ns;
	pthread_t t;
	clockid_t c;
	char b;

	(void)state;
	assert_int_equal(pipe(burner_go), 0);
	assert_int_equal(pipe(burner_done), 0);
	assert_int_equal(pthread_create(&t, NULL, burner, NULL), 0);
	assert_int_equal(pthread_getcpuclockid(t, &c), 0);
	assert_int_equal(read(burner_done[0], &b, 1), 1);
	ns = bench_cpu_clock_ns(c);
	assert_true(ns >= 120 * MS);
	assert_true(ns < 2000 * MS);
	assert_true(bench_cpu_clock_ns(CLOCK_THREAD_CPUTIME_ID) - before < 50 * MS);
	assert_int_equal(write(burner_go[1], "x", 1), 1);
	assert_int_equal(pthread_join(t, NULL), 0);
	for (int i = 0; i < 2; i++) {
		close(burner_go[i]);
		close(burner_done[i]);
	}
}

static void per_event_and_delivery(void **state)
{
	struct bench_result r = { .published = 1000, .delivered = 10000, .server_cpu_ns = 5000000,
				  .pub_cpu_ns = 2000000, .sub_cpu_ns = 3000000 };

	(void)state;
	bench_cpu_finish(&r, 20000);	/* the server's deliveries: TCP and shm */
	assert_true(r.server_ns_per_event == 5000);
	assert_true(r.server_ns_per_delivery == 250);
	assert_true(r.pub_ns_per_event == 2000);
	assert_true(r.sub_ns_per_delivery == 300);
	r.server_cpu_ns = -1;	/* ZeroMQ: no server */
	r.delivered = 0;
	bench_cpu_finish(&r, 0);
	assert_true(isnan(r.server_ns_per_event));
	assert_true(isnan(r.server_ns_per_delivery));
	assert_true(isnan(r.sub_ns_per_delivery));
	assert_true(r.pub_ns_per_event == 2000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(own_stat_matches_clock),
		cmocka_unit_test(child_process_clock),
		cmocka_unit_test(thread_clock),
		cmocka_unit_test(per_event_and_delivery),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
