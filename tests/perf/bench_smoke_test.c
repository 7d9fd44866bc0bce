/* tests/perf/bench_smoke_test.c — one system (argv[4]: fanout, nats, redis or zmq)
 * through fanout-bench (argv[1]) and that system's real server: every scenario file in
 * argv[2] (perf/scenarios) at a tiny size, a flat-out run, a publisher stall, a
 * receiver stall and (fanout) a stalled subscriber cut past fanoutd's lag bound. Counts, not speed: every event each subscriber's keys select is
 * delivered once, in order, against an expected count computed here independently of
 * fanout-bench. The only latency checks are lower bounds that a sleep guarantees.
 * Exits 77 (skip) when the system's server is not installed. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "bench_exec.h"

#define SCENARIOS_MAX 32

static const char *bench, *scen_dir, *fanoutd, *sys;

static int teardown(void **state)
{
	(void)state;
	if (bexec_kill_children())
		fail_msg("fanout-bench left server processes running");
	return 0;
}

/* Runs fanout-bench for sys with the given extra arguments (NULL-terminated, at most
 * 12); asserts exit 0 and a single completed run, which it returns (owned by x). */
static json_t *run(struct bexec *x, const char *const *extra)
{
	const char *argv[24] = { bench, "--fanoutd", fanoutd, "--system", sys, "--quiet" };
	size_t n = 6;
	json_t *runs, *r;

	for (; *extra && n < 23; extra++)
		argv[n++] = *extra;
	argv[n] = NULL;
	bexec_run(x, argv);
	assert_int_equal(x->status, 0);
	if (!x->json)
		fail_msg("stdout is not JSON: %s", x->out);
	runs = json_object_get(x->json, "runs");
	assert_int_equal(json_array_size(runs), 1);
	r = json_array_get(runs, 0);
	assert_string_equal(json_string_value(json_object_get(r, "system")), sys);
	assert_true(json_is_null(json_object_get(r, "error")));
	return r;
}

/* Deliveries a lossless run owes: subscriber i takes keys i*M .. i*M+M-1 (mod K) and
 * event seq has key seq mod K. Counted event by event, not by fanout-bench's formula. */
static json_int_t owed(json_t *cfg, json_int_t published)
{
	json_int_t n = bexec_int(cfg, "subscribers"), k = bexec_int(cfg, "symbols");
	json_int_t m = bexec_int(cfg, "sub_symbols"), total = 0;

	for (json_int_t i = 0; i < n; i++) {
		json_int_t base = (i * m) % k;

		for (json_int_t seq = 0; seq < published; seq++)
			total += (seq % k - base + k) % k < m;
	}
	return total;
}

static void assert_lossless(json_t *j, json_t *r)
{
	json_int_t published = bexec_int(r, "published");
	json_t *stalled = json_object_get(r, "stalled");

	assert_true(published > 0);
	assert_int_equal(bexec_int(r, "expected_deliveries"),
			 owed(json_object_get(j, "config"), published));
	assert_int_equal(bexec_int(r, "deliveries"), bexec_int(r, "expected_deliveries"));
	assert_int_equal(bexec_int(r, "lost"), 0);
	assert_int_equal(bexec_int(r, "gaps"), 0);
	assert_int_equal(bexec_int(r, "out_of_order"), 0);
	assert_int_equal(bexec_int(r, "disconnected_subscribers"), 0);
	/* Stalled subscribers are apart from the counts above: only reported. */
	if (!json_is_object(stalled))
		fail_msg("no \"stalled\" object in a run");
	assert_int_equal(bexec_int(stalled, "count"),
			 bexec_int(json_object_get(j, "config"), "stalled"));
	assert_true(bexec_int(stalled, "disconnected") >= 0);
	assert_true(bexec_int(stalled, "disconnected") <= bexec_int(stalled, "count"));
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every scenario file, at 2,000 events/s for half a second, its other settings (its
 * subscribers, keys and filters) as written. */
static void every_scenario(void **state)
{
	char *names[SCENARIOS_MAX];
	size_t n = 0, with_stalled = 0;
	struct dirent *e;
	DIR *d = opendir(scen_dir);

	(void)state;
	assert_non_null(d);
	while ((e = readdir(d)) && n < SCENARIOS_MAX) {
		size_t len = strlen(e->d_name);

		if (len > 4 && !strcmp(e->d_name + len - 4, ".ini"))
			names[n++] = strdup(e->d_name);
	}
	closedir(d);
	assert_true(n >= 7);	/* the fan-out scenarios, flat out, the soak, stalled */
	qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 0; i < n; i++) {
		char path[1024];
		const char *args[] = { "--scenario", path, "--system", sys, "--duration", "0.5",
				       "--rate", "2000", "--drain", "30", NULL };
		struct bexec x;
		json_t *r;

		snprintf(path, sizeof(path), "%s/%s", scen_dir, names[i]);
		r = run(&x, args);
		assert_lossless(x.json, r);
		if (bexec_int(json_object_get(x.json, "config"), "stalled") > 0) {
			/* ~70 KB owed to it: under every server's bound, so none cuts it. */
			with_stalled++;
			assert_int_equal(bexec_int(json_object_get(r, "stalled"), "disconnected"), 0);
		}
		bexec_free(&x);
		free(names[i]);
	}
	assert_true(with_stalled >= 1);	/* perf/scenarios/stalled.ini */
}

/* fanout only: a stalled subscriber is really there. It takes every key and never reads;
 * past fanoutd's --max-lag-bytes (1 MiB here) fanoutd sends SLOW_CONSUMER and closes it,
 * and the run must say so while the live subscriber loses nothing. ~7 MB are published:
 * more than the bound plus what the socket buffers of a non-reading client hold (~4 MB).
 * Without a stalled subscriber nothing would be cut and this fails. */
static void stalled_subscriber_is_cut(void **state)
{
	const char *args[] = { "--rate", "20000", "--duration", "2.5", "--symbols", "10",
			       "--stalled", "1", "--fanout-max-lag-bytes", "1048576",
			       "--drain", "30", NULL };
	struct bexec x;
	json_t *r, *stalled;

	(void)state;
	if (strcmp(sys, "fanout"))
		skip();
	r = run(&x, args);
	assert_lossless(x.json, r);
	stalled = json_object_get(r, "stalled");
	assert_int_equal(bexec_int(stalled, "count"), 1);
	if (bexec_int(stalled, "disconnected") != 1)
		fail_msg("fanoutd did not cut the stalled subscriber past 1 MiB of lag:\n%s", x.err);
	bexec_free(&x);
}

/* --rate 0: events stamped when sent. A broker may cut a subscriber that falls behind
 * (reported as disconnected); short of that, nothing may be lost. */
static void flat_out(void **state)
{
	const char *args[] = { "--rate", "0", "--duration", "0.2", "--symbols", "10",
			       "--drain", "30", NULL };
	struct bexec x;
	json_t *r;

	(void)state;
	r = run(&x, args);
	assert_true(bexec_int(r, "published") > 0);
	assert_int_equal(bexec_int(r, "deliveries") + bexec_int(r, "lost"),
			 bexec_int(r, "expected_deliveries"));
	if (bexec_int(r, "disconnected_subscribers") == 0)
		assert_int_equal(bexec_int(r, "lost"), 0);
	assert_int_equal(bexec_int(r, "out_of_order"), 0);
	bexec_free(&x);
}

/* Coordinated omission, end to end: at 1,000 events/s for 2 s the publisher sleeps
 * 400 ms mid-run, then catches up. The ~400 events due during the sleep go out late but
 * keep their intended send times, so ~10 % of latencies are 0-400 ms and the worst is
 * ~400 ms. A harness that stamped events when it sent them would report a few µs for
 * them and a p99 under 1 ms here. */
static void publisher_stall_is_latency(void **state)
{
	const char *args[] = { "--rate", "1000", "--duration", "2", "--pub-stall-ms", "400",
			       "--symbols", "10", "--drain", "30", NULL };
	struct bexec x;
	json_t *r, *lat;

	(void)state;
	r = run(&x, args);
	assert_lossless(x.json, r);
	lat = json_object_get(r, "latency_us");
	if (json_real_value(json_object_get(lat, "max")) < 350000 ||
	    json_real_value(json_object_get(lat, "p99")) < 100000)
		fail_msg("a 400 ms publisher stall shows as max %.0f µs, p99 %.0f µs",
			 json_real_value(json_object_get(lat, "max")),
			 json_real_value(json_object_get(lat, "p99")));
	bexec_free(&x);
}

/* Receive thread 0 (every subscriber: one here) sleeps 300 ms mid-run. The server holds
 * what arrives meanwhile and delivers it after: nothing lost, the stall in the latency. */
static void receiver_stall_is_latency(void **state)
{
	const char *args[] = { "--rate", "1000", "--duration", "1", "--stall-ms", "300",
			       "--symbols", "10", "--drain", "30", NULL };
	struct bexec x;
	json_t *r, *lat;

	(void)state;
	r = run(&x, args);
	assert_lossless(x.json, r);
	lat = json_object_get(r, "latency_us");
	if (json_real_value(json_object_get(lat, "max")) < 250000)
		fail_msg("a 300 ms receiver stall shows as max %.0f µs",
			 json_real_value(json_object_get(lat, "max")));
	bexec_free(&x);
}

static bool installed(const char *name)
{
	char cmd[128];

	if (!strcmp(name, "fanout"))
		return access(fanoutd, X_OK) == 0;
	if (!strcmp(name, "zmq"))
		return true;	/* a library fanout-bench links */
	snprintf(cmd, sizeof(cmd), "command -v %s-server >/dev/null 2>&1", name);
	return system(cmd) == 0;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(every_scenario, teardown),
		cmocka_unit_test_teardown(flat_out, teardown),
		cmocka_unit_test_teardown(publisher_stall_is_latency, teardown),
		cmocka_unit_test_teardown(receiver_stall_is_latency, teardown),
		cmocka_unit_test_teardown(stalled_subscriber_is_cut, teardown),
	};

	if (argc != 5) {
		fprintf(stderr, "usage: %s FANOUT_BENCH SCENARIO_DIR FANOUTD SYSTEM\n", argv[0]);
		return 2;
	}
	bench = argv[1];
	scen_dir = argv[2];
	fanoutd = argv[3];
	sys = argv[4];
	if (!installed(sys)) {
		fprintf(stderr, "%s is not installed (tools/test installs it): skip\n", sys);
		return 77;
	}
	bexec_init();
	return cmocka_run_group_tests_name(sys, tests, NULL, NULL);
}
