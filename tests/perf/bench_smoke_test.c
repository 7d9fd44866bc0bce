/* tests/perf/bench_smoke_test.c — one system (argv[4]: fanout, nats, redis or zmq)
 * through fanout-bench (argv[1]) and that system's real server: every scenario file in
 * argv[2] (perf/scenarios) at a tiny size, a content filter (fanout: with shm readers
 * too), a flat-out run, a publisher stall, a receiver stall and (fanout) a stalled
 * subscriber cut past fanoutd's lag bound and shm readers that never sleep or always do.
 * Counts, not speed: every event each subscriber's (and shm reader's) keys and the
 * filter select is delivered once, in order, against an expected count computed here
 * event by event, independently of fanout-bench. The only latency checks are lower
 * bounds that a sleep guarantees. Every run reports CPU: the server's (ZeroMQ has none)
 * and the publisher's positive, and the subscribers' when they received anything.
 * fanoutd refusing an event fails the run loudly (--pub-bad-event); a peer, which takes
 * any bytes, delivers that event like any other. Exits 77 (skip) when the system's
 * server is not installed. */
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

/* The run's CPU: the server's positive for a system with a server, null for ZeroMQ; the
 * publisher's positive; the receive threads' positive once they received anything. */
static void assert_cpu(json_t *r)
{
	json_t *cpu = json_object_get(r, "cpu");

	if (!json_is_object(cpu))
		fail_msg("a run has no \"cpu\" object");
	if (!strcmp(sys, "zmq")) {
		assert_true(json_is_null(json_object_get(cpu, "server_ns")));
		assert_true(json_is_null(json_object_get(cpu, "server_ns_per_event")));
	} else {
		assert_true(bexec_int(cpu, "server_ns") > 0);
		assert_true(json_number_value(json_object_get(cpu, "server_ns_per_event")) > 0);
	}
	assert_true(bexec_int(cpu, "publisher_ns") > 0);
	if (bexec_int(r, "deliveries") > 0)
		assert_true(bexec_int(cpu, "subscribers_ns") > 0);
}

/* Runs fanout-bench for sys with the given extra arguments (NULL-terminated, at most
 * 25); asserts exit 0 and a single completed run, which it returns (owned by x). */
static json_t *run(struct bexec *x, const char *const *extra)
{
	const char *argv[32] = { bench, "--fanoutd", fanoutd, "--system", sys, "--quiet" };
	size_t n = 6;
	json_t *runs, *r;

	for (; *extra && n < 31; extra++)
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
	assert_cpu(r);
	return r;
}

/* Whether the synthetic event seq over k symbols passes the configuration's "filter":
 * symbol seq mod K, exchange NASDAQ, NYSE, ARCA, BATS by symbol mod 4, price 20 +
 * symbol mod 480 + (seq mod 100)/100 (tools/synth.c). Null filter: every event. */
static bool passes(json_t *filter, json_int_t seq, json_int_t k)
{
	static const char *const exchanges[] = { "NASDAQ", "NYSE", "ARCA", "BATS" };
	json_int_t sym = seq % k;
	json_t *ex = json_object_get(filter, "exchanges"), *min = json_object_get(filter, "min_price");
	double price = 20.0 + (double)(sym % 480) + (double)(seq % 100) / 100.0;
	bool in = json_array_size(ex) == 0;

	if (json_is_null(filter))
		return true;
	for (size_t i = 0; i < json_array_size(ex); i++)
		in |= !strcmp(json_string_value(json_array_get(ex, i)), exchanges[sym % 4]);
	return in && (json_is_null(min) || price >= json_number_value(min));
}

/* Deliveries a lossless run owes subscribers first .. first+n-1 (TCP subscribers, then
 * shm readers, numbered on): subscriber i takes keys i*M .. i*M+M-1 (mod K), event seq
 * has key seq mod K, and the filter (when `filtered`) must pass it. Counted event by
 * event, not by fanout-bench's formula. */
static json_int_t owed(json_t *cfg, json_int_t published, json_int_t first, json_int_t n,
		       bool filtered)
{
	json_int_t k = bexec_int(cfg, "symbols"), m = bexec_int(cfg, "sub_symbols"), total = 0;
	json_t *filter = filtered ? json_object_get(cfg, "filter") : json_null();

	for (json_int_t i = first; i < first + n; i++) {
		json_int_t base = (i * m) % k;

		for (json_int_t seq = 0; seq < published; seq++)
			total += (seq % k - base + k) % k < m && passes(filter, seq, k);
	}
	return total;
}

/* The shm readers of a fanout run, numbered after its TCP subscribers: all owed, once. */
static void assert_shm_lossless(json_t *cfg, json_t *r)
{
	json_int_t subs = bexec_int(cfg, "subscribers"), readers = bexec_int(cfg, "shm_readers");
	json_t *shm = json_object_get(r, "shm");

	if (!json_is_object(shm))
		fail_msg("a fanout run with %lld shm readers has no \"shm\" object",
			 (long long)readers);
	assert_int_equal(bexec_int(shm, "readers"), readers);
	assert_int_equal(bexec_int(shm, "expected_deliveries"),
			 owed(cfg, bexec_int(r, "published"), subs, readers, true));
	assert_int_equal(bexec_int(shm, "deliveries"), bexec_int(shm, "expected_deliveries"));
	assert_int_equal(bexec_int(shm, "lost"), 0);
	assert_int_equal(bexec_int(shm, "gaps"), 0);
	assert_int_equal(bexec_int(shm, "out_of_order"), 0);
	assert_int_equal(bexec_int(shm, "filtered_by_subscriber"), 0);	/* fanoutd filtered */
	assert_int_equal(bexec_int(shm, "disconnected_readers"), 0);
	assert_int_equal(bexec_int(shm, "gap_records"), 0);
	assert_int_equal(bexec_int(shm, "lost_reported"), 0);
}

static void assert_lossless(json_t *j, json_t *r)
{
	json_t *cfg = json_object_get(j, "config");
	json_int_t published = bexec_int(r, "published"), subs = bexec_int(cfg, "subscribers");
	json_t *stalled = json_object_get(r, "stalled");
	bool fanout = !strcmp(sys, "fanout");

	assert_true(published > 0);
	assert_int_equal(bexec_int(r, "expected_deliveries"), owed(cfg, published, 0, subs, true));
	assert_int_equal(bexec_int(r, "deliveries"), bexec_int(r, "expected_deliveries"));
	assert_int_equal(bexec_int(r, "lost"), 0);
	assert_int_equal(bexec_int(r, "gaps"), 0);
	assert_int_equal(bexec_int(r, "out_of_order"), 0);
	assert_int_equal(bexec_int(r, "disconnected_subscribers"), 0);
	/* fanoutd filters by content; a peer's subscribers drop the rest of their keys'. */
	assert_int_equal(bexec_int(r, "filtered_by_subscriber"),
			 fanout ? 0 : owed(cfg, published, 0, subs, false) -
				      bexec_int(r, "expected_deliveries"));
	if (fanout && bexec_int(cfg, "shm_readers") > 0)
		assert_shm_lossless(cfg, r);
	else
		assert_true(json_is_null(json_object_get(r, "shm")));	/* peers have none */
	/* Stalled subscribers are apart from the counts above: only reported. */
	if (!json_is_object(stalled))
		fail_msg("no \"stalled\" object in a run");
	assert_int_equal(bexec_int(stalled, "count"), bexec_int(cfg, "stalled"));
	assert_true(bexec_int(stalled, "disconnected") >= 0);
	assert_true(bexec_int(stalled, "disconnected") <= bexec_int(stalled, "count"));
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The value of "key = N" in a scenario file, or -1 when it has no such line. */
static long ini_value(const char *path, const char *key)
{
	char line[512];
	long v = -1;
	size_t klen = strlen(key);
	FILE *f = fopen(path, "r");

	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		const char *p = line + strspn(line, " \t");

		if (!strncmp(p, key, klen) && strchr(" \t=", p[klen])) {
			p += klen + strspn(p + klen, " \t");
			if (*p == '=')
				v = strtol(p + 1, NULL, 10);
		}
	}
	fclose(f);
	return v;
}

/* A peer refuses a scenario of shm readers only (they are fanout's), saying why. */
static void assert_refused_shm_only(const char *path)
{
	const char *argv[] = { bench, "--fanoutd", fanoutd, "--quiet", "--scenario", path,
			       "--system", sys, "--duration", "0.5", NULL };
	char msg[128];
	struct bexec x;

	bexec_run(&x, argv);
	snprintf(msg, sizeof(msg), "subscribers: 0 leaves %s nothing to run", sys);
	if (x.status != 2 || !strstr(x.err, msg))
		fail_msg("%s with %s: exit %d, not refused with \"%s\":\n%s", path, sys, x.status,
			 msg, x.err);
	bexec_free(&x);
}

/* Every scenario file, at 2,000 events/s for half a second, its other settings (its
 * subscribers, shm readers, keys and filters) as written. A peer runs a scenario with
 * shm readers without them, and refuses one with nothing but shm readers. */
static void every_scenario(void **state)
{
	char *names[SCENARIOS_MAX];
	size_t n = 0, with_stalled = 0, with_shm = 0;
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
	assert_true(n >= 9);	/* the fan-out scenarios, flat out, the soak, stalled, shm */
	qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 0; i < n; i++) {
		char path[1024];
		const char *args[] = { "--scenario", path, "--system", sys, "--duration", "0.5",
				       "--rate", "2000", "--drain", "30", NULL };
		struct bexec x;
		json_t *r, *cfg;

		snprintf(path, sizeof(path), "%s/%s", scen_dir, names[i]);
		with_shm += ini_value(path, "shm_readers") > 0;
		if (ini_value(path, "shm_readers") > 0 && ini_value(path, "subscribers") == 0 &&
		    strcmp(sys, "fanout")) {
			assert_refused_shm_only(path);
			free(names[i]);
			continue;
		}
		r = run(&x, args);
		assert_lossless(x.json, r);
		cfg = json_object_get(x.json, "config");
		if (bexec_int(cfg, "stalled") > 0) {
			/* ~70 KB owed to it: under every server's bound, so none cuts it. */
			with_stalled++;
			assert_int_equal(bexec_int(json_object_get(r, "stalled"), "disconnected"), 0);
		}
		bexec_free(&x);
		free(names[i]);
	}
	assert_true(with_stalled >= 1);	/* perf/scenarios/stalled.ini */
	assert_true(with_shm >= 2);	/* shm_1to1.ini, shm_1to4.ini */
}

/* A content filter (exchanges NYSE and ARCA, price 21.50 or more) on every subscriber:
 * each gets exactly the events of its keys that pass, and (fanout) so does each shm
 * reader. fanoutd filters; a peer's subscribers drop the rest themselves. The subscriber
 * takes keys 0-2, the readers 3-5 and 6-8 (numbered on: 0-2 and 3-5 would be owed more). */
static void content_filter(void **state)
{
	const char *args[] = { "--rate", "2000", "--duration", "0.5", "--symbols", "10",
			       "--sub-symbols", "3", "--subscribers", "1",
			       "--filter-exchange", "NYSE,ARCA", "--filter-min-price", "21.5",
			       "--drain", "30", NULL, NULL, NULL };
	struct bexec x;
	json_t *r, *cfg;

	(void)state;
	if (!strcmp(sys, "fanout")) {
		args[16] = "--shm-readers";
		args[17] = "2";
	}
	r = run(&x, args);
	assert_lossless(x.json, r);
	cfg = json_object_get(x.json, "config");
	/* The filter took something and left something. */
	assert_true(bexec_int(r, "deliveries") > 0);
	assert_true(bexec_int(r, "deliveries") <
		    owed(cfg, bexec_int(r, "published"), 0, bexec_int(cfg, "subscribers"), false));
	bexec_free(&x);
}

/* fanout only: shm readers that never sleep (busy-spin) and that sleep at once (the
 * writer's futex wake) both get every event, beside a TCP subscriber. */
static void shm_spin_modes(void **state)
{
	static const char *const spins[] = { "forever", "0" };

	(void)state;
	if (strcmp(sys, "fanout"))
		skip();
	for (size_t i = 0; i < 2; i++) {
		const char *args[] = { "--rate", "2000", "--duration", "0.5", "--symbols", "10",
				       "--shm-readers", "1", "--shm-spin", spins[i], "--drain", "30",
				       NULL };
		struct bexec x;
		json_t *r = run(&x, args);

		assert_lossless(x.json, r);
		assert_int_equal(bexec_int(json_object_get(r, "shm"), "deliveries"),
				 bexec_int(r, "published"));
		bexec_free(&x);
	}
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

/* Event 150 goes out with a data_type that disagrees with its payload. fanoutd refuses
 * its batch: the run fails, exit 1, saying which batch and why. A peer takes any bytes:
 * it delivers that event as every other, and the run completes. */
static void bad_event_fails_loudly(void **state)
{
	const char *argv[] = { bench, "--fanoutd", fanoutd, "--system", sys, "--quiet",
			       "--rate", "2000", "--duration", "0.3", "--symbols", "10",
			       "--pub-bad-event", "150", "--drain", "30", NULL };
	struct bexec x;
	json_t *r;

	(void)state;
	if (strcmp(sys, "fanout")) {
		r = run(&x, argv + 6);
		assert_lossless(x.json, r);
		bexec_free(&x);
		return;
	}
	bexec_run(&x, argv);
	if (x.status != 1 || !strstr(x.err, "fanoutd refused publish batch") ||
	    !strstr(x.err, "INVALID_EVENT"))
		fail_msg("a refused event: exit %d, stderr:\n%s", x.status, x.err);
	r = json_array_get(json_object_get(x.json, "runs"), 0);
	assert_true(json_is_string(json_object_get(r, "error")));
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
		cmocka_unit_test_teardown(content_filter, teardown),
		cmocka_unit_test_teardown(shm_spin_modes, teardown),
		cmocka_unit_test_teardown(flat_out, teardown),
		cmocka_unit_test_teardown(publisher_stall_is_latency, teardown),
		cmocka_unit_test_teardown(receiver_stall_is_latency, teardown),
		cmocka_unit_test_teardown(stalled_subscriber_is_cut, teardown),
		cmocka_unit_test_teardown(bad_event_fails_loudly, teardown),
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
