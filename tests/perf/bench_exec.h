/* tests/perf/bench_exec.h — running fanout-bench from the bench suite's tests: with a
 * deadline, stdout (parsed as JSON) and stderr captured; and making sure no server it
 * started outlives a test. The test process makes itself the subreaper of its
 * descendants, so a server orphaned by a dead fanout-bench is re-parented to it and can
 * be found, waited for and, as a last resort, killed by pid. One thread. */
#ifndef FANOUT_TESTS_PERF_BENCH_EXEC_H
#define FANOUT_TESTS_PERF_BENCH_EXEC_H

#include <stdbool.h>
#include <sys/types.h>
#include <jansson.h>

#define BEXEC_TIMEOUT_S 120	/* no single fanout-bench run in these tests takes longer */

struct bexec {
	int status;		/* exit code; 128 + signal when killed */
	char *out, *err;	/* stdout and stderr, NUL-terminated */
	json_t *json;		/* stdout parsed, or NULL */
};

/* Once, first thing in main: become the subreaper of our descendants, and give them a
 * TMPDIR of their own, removed at exit (a killed fanout-bench cannot clean up). */
void bexec_init(void);

/* That directory, for the test's own files too. */
const char *bexec_tmpdir(void);

/* Runs fanout-bench with args (NULL-terminated; argv[0] is the program) and waits, up to
 * BEXEC_TIMEOUT_S (then SIGKILL, status 128 + 9). Fails the test when it cannot run it. */
void bexec_run(struct bexec *x, const char *const *argv);
void bexec_free(struct bexec *x);

/* Starts argv with stdout and stderr to /dev/null; returns its pid. */
pid_t bexec_spawn(const char *const *argv);

/* A child of parent whose command name (/proc comm) is comm, or any child when comm is
 * NULL, waiting up to timeout_ms for it to appear; -1 if none did. */
pid_t bexec_find_child(pid_t parent, const char *comm, int timeout_ms);

/* Waits up to timeout_ms for our child pid to exit and reaps it. Returns its status as
 * struct bexec's, or -1 if it is still running. */
int bexec_wait(pid_t pid, int timeout_ms);

/* SIGKILLs and reaps every child still alive (direct or re-parented); returns how many
 * there were. Call after each test: a leaked server is a failure, not a leftover. */
int bexec_kill_children(void);

/* Integer field k of object o; fails the test if it is missing or not an integer. */
json_int_t bexec_int(json_t *o, const char *k);

#endif
