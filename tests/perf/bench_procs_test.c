/* tests/perf/bench_procs_test.c — fanout-bench (argv[1]; fanoutd: argv[2]) never leaves
 * a server behind: stopped by SIGTERM, it stops the server itself and exits 1
 * (interrupted); killed outright, the server gets SIGTERM from the kernel
 * (PR_SET_PDEATHSIG) and exits. For fanoutd and for every peer server installed. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "bench_exec.h"

#define SERVER_UP_MS 15000	/* fanout-bench starts its server within this */
#define EXIT_MS 20000		/* and stops it, on SIGTERM, within this */

static const char *bench, *fanoutd;
static const char *const systems[] = { "fanout", "nats", "redis" };

static int teardown(void **state)
{
	(void)state;
	if (bexec_kill_children())
		fail_msg("a server outlived fanout-bench");
	return 0;
}

static bool installed(const char *sys)
{
	char cmd[128];

	if (!strcmp(sys, "fanout"))
		return access(fanoutd, X_OK) == 0;
	snprintf(cmd, sizeof(cmd), "command -v %s-server >/dev/null 2>&1", sys);
	return system(cmd) == 0;
}

/* Starts a 60 s run of sys; returns fanout-bench's pid and its server's in *server. */
static pid_t start_long_run(const char *sys, pid_t *server)
{
	const char *argv[] = { bench, "--fanoutd", fanoutd, "--system", sys, "--rate", "1000",
			       "--duration", "60", "--quiet", NULL };
	pid_t pid = bexec_spawn(argv);

	*server = bexec_find_child(pid, NULL, SERVER_UP_MS);
	if (*server < 0) {
		kill(pid, SIGKILL);
		fail_msg("%s: fanout-bench started no server in %d ms", sys, SERVER_UP_MS);
	}
	usleep(300000);	/* into the publishing phase */
	return pid;
}

static void sigterm_stops_server(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(systems) / sizeof(*systems); i++) {
		pid_t server, pid;
		int st;

		if (!installed(systems[i]))
			continue;
		pid = start_long_run(systems[i], &server);
		assert_int_equal(kill(pid, SIGTERM), 0);
		st = bexec_wait(pid, EXIT_MS);
		if (st < 0)
			fail_msg("%s: fanout-bench still running %d ms after SIGTERM", systems[i],
				 EXIT_MS);
		assert_int_equal(st, 1);	/* interrupted: a run did not complete */
		fprintf(stderr, "# %s: SIGTERM: fanout-bench exit 1, server %d stopped\n",
			systems[i], (int)server);
		/* It reaped its server before exiting, or the server would be ours now. */
		assert_int_equal(waitpid(server, &st, WNOHANG), -1);
		assert_int_equal(errno, ECHILD);
		assert_true(kill(server, 0) == -1 && errno == ESRCH);
	}
}

static void sigkill_takes_server_down(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(systems) / sizeof(*systems); i++) {
		pid_t server, pid;

		if (!installed(systems[i]))
			continue;
		pid = start_long_run(systems[i], &server);
		assert_int_equal(kill(pid, SIGKILL), 0);
		assert_int_equal(bexec_wait(pid, EXIT_MS), 128 + SIGKILL);
		/* Orphaned, the server is re-parented to us (the subreaper) and must exit. */
		if (bexec_wait(server, EXIT_MS) < 0)
			fail_msg("%s: server %d still running %d ms after fanout-bench was killed",
				 systems[i], (int)server, EXIT_MS);
		fprintf(stderr, "# %s: SIGKILL: server %d exited\n", systems[i], (int)server);
	}
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(sigterm_stops_server, teardown),
		cmocka_unit_test_teardown(sigkill_takes_server_down, teardown),
	};

	if (argc != 3) {
		fprintf(stderr, "usage: %s FANOUT_BENCH FANOUTD\n", argv[0]);
		return 2;
	}
	bench = argv[1];
	fanoutd = argv[2];
	bexec_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
