/* tests/perf/bench_cli_test.c — fanout-bench's interface (argv[1]; fanoutd: argv[2]):
 * --help, an error naming the flag (or the file and line) for every bad flag and bad
 * scenario file, and the shape of the JSON result and of the .hdr files of an
 * interleaved, repeated two-system run; and of a run with shm readers and a content
 * filter beside a peer (the peer's notes, the fanout-shm line, its .hdr file), and of
 * one with shm readers only. Every run's CPU: the server's (none for ZeroMQ) positive
 * and matching /proc/PID/stat, the publisher's and subscribers' positive, the figures
 * per event and per delivery their quotients; in the medians, the table and the
 * ratios to each peer. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "bench_exec.h"

static const char *bench, *fanoutd, *tmpdir;

static int teardown(void **state)
{
	(void)state;
	if (bexec_kill_children())
		fail_msg("fanout-bench left server processes running");
	return 0;
}

static void expect_rejected(const char *const *argv, const char *msg)
{
	struct bexec x;

	bexec_run(&x, argv);
	assert_int_equal(x.status, 2);
	assert_string_equal(x.out, "");
	if (!strstr(x.err, msg))
		fail_msg("stderr lacks \"%s\":\n%s", msg, x.err);
	if (!strstr(x.err, "try 'fanout-bench --help'"))
		fail_msg("stderr does not point to --help:\n%s", x.err);
	bexec_free(&x);
}

static void help(void **state)
{
	const char *argv[] = { bench, "--help", NULL };
	struct bexec x;

	(void)state;
	bexec_run(&x, argv);
	assert_int_equal(x.status, 0);
	assert_non_null(strstr(x.out, "usage: fanout-bench"));
	assert_non_null(strstr(x.out, "--scenario FILE"));
	assert_non_null(strstr(x.out, "--shm-readers R"));
	assert_non_null(strstr(x.out, "--shm-spin N"));
	assert_non_null(strstr(x.out, "--shm-ring-bytes N"));
	assert_non_null(strstr(x.out, "--filter-exchange LIST"));
	assert_non_null(strstr(x.out, "--filter-min-price X"));
	assert_non_null(strstr(x.out, "--pub-bad-event"));
	assert_non_null(strstr(x.out, "CPU: per run"));
	assert_string_equal(x.err, "");
	bexec_free(&x);
}

static void bad_flags(void **state)
{
	static const struct { const char *argv[7]; const char *msg; } cases[] = {
		{ { "--bogus", "1" }, "unknown option 'bogus'" },
		{ { "stray" }, "unexpected argument 'stray'" },
		{ { "--rate" }, "--rate needs a value" },
		{ { "--rate", "fast" }, "rate: expected a number in 0..1e+09, got 'fast'" },
		{ { "--subscribers", "1.5" }, "subscribers: expected a whole number" },
		{ { "--subscribers", "4097" }, "subscribers: expected a whole number in 0..4096" },
		{ { "--subscribers", "0" }, "subscribers: 0, and no --shm-readers" },
		{ { "--subscribers", "0", "--shm-readers", "1", "--system", "redis" },
		  "subscribers: 0 leaves redis nothing to run: shared-memory readers are fanout's" },
		{ { "--shm-readers", "17" }, "shm-readers: expected a whole number in 0..16, got '17'" },
		{ { "--shm-readers", "1", "--sub-symbols", "65" },
		  "shm-readers: a reader is one subscription, 64 patterns at most: sub-symbols (65)" },
		{ { "--shm-spin", "-1" }, "shm-spin: expected a whole number in 0..4294967295" },
		{ { "--shm-spin", "always" }, "shm-spin: or 'forever'" },
		{ { "--shm-ring-bytes", "4096" },
		  "shm-ring-bytes: expected a whole number in 65536..1073741824, got '4096'" },
		{ { "--filter-exchange", "LSE" }, "filter-exchange: unknown exchange 'LSE'" },
		{ { "--filter-exchange", "," }, "filter-exchange: no exchange named" },
		{ { "--filter-min-price", "cheap" }, "filter-min-price: expected a number" },
		{ { "--filter-min-price", "nan" }, "filter-min-price: expected a number" },
		{ { "--repeat", "65" }, "repeat: expected a whole number in 1..64" },
		{ { "--system", "kafka" }, "unknown system 'kafka'" },
		{ { "--systems", "," }, "systems: no system named" },
		{ { "--symbols", "5", "--sub-symbols", "6" }, "sub-symbols (6) is more than symbols (5)" },
		{ { "--hdr-out", "" }, "hdr-out: empty" },
		{ { "--stalled", "-1" }, "stalled: expected a whole number in 0..4096" },
		{ { "--fanout-max-lag-bytes", "1.5" }, "fanout-max-lag-bytes: expected a whole number" },
		{ { "--pub-bad-event", "-1" }, "pub-bad-event: expected a whole number in 0..999999999999" },
		{ { "--fanout-priority", "256" }, "fanout-priority: expected a whole number in 0..255" },
		{ { "--bulk-subscribers", "1001" },
		  "bulk-subscribers: expected a whole number in 0..1000" },
		{ { "--bulk-rate", "-5" }, "bulk-rate: expected a number in 0..1e+09" },
		{ { "--bulk-subscribers", "1", "--system", "nats" },
		  "bulk-subscribers and fanout-priority are fanout's only" },
		{ { "--fanout-priority", "3", "--systems", "fanout,redis" },
		  "bulk-subscribers and fanout-priority are fanout's only" },
		{ { "--latency-split", "--system", "nats" }, "--latency-split is fanout's only" },
		{ { "--fanout-shared", "fair" }, "fanout-shared: shared or key_shared, not 'fair'" },
		{ { "--fanout-shared", "shared", "--system", "nats" },
		  "--fanout-shared is fanout's only" },
		{ { "--fanout-shared", "key_shared", "--symbols", "10", "--sub-symbols", "5" },
		  "every subscriber taking every key" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *argv[9] = { bench };

		for (size_t k = 0; cases[i].argv[k]; k++)
			argv[k + 1] = cases[i].argv[k];
		expect_rejected(argv, cases[i].msg);
	}
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
}

static void bad_scenarios(void **state)
{
	static const struct { const char *text, *msg, *where; } cases[] = {
		{ "rate = 10\nsymbols 5\n", "expected 'key = value'", ":2:" },
		{ "# fine\nrate = fast\n", "rate: expected a number", ":2: bad line" },
		{ "colour = blue\n", "unknown option 'colour'", ":1: bad line" },
		{ "compare = maybe\n", "compare: expected yes or no", ":1: bad line" },
		{ "sub_symbols = 2.5\n", "sub-symbols: expected a whole number", ":1: bad line" },
		{ "scenario = SELF\n", "nested more than 4 deep", ":1: bad line" },
		{ "shm_readers = many\n", "shm-readers: expected a whole number", ":1: bad line" },
		{ "rate = 5\nfilter_exchange = NYSE, LSE\n", "unknown exchange 'LSE'", ":2: bad line" },
	};
	char path[128];

	(void)state;
	snprintf(path, sizeof(path), "%s/bad.ini", tmpdir);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *argv[] = { bench, "--scenario", path, NULL };
		char text[256], msg[256];

		if (!strcmp(cases[i].text, "scenario = SELF\n"))
			snprintf(text, sizeof(text), "scenario = %s\n", path);
		else
			snprintf(text, sizeof(text), "%s", cases[i].text);
		write_file(path, text);
		expect_rejected(argv, cases[i].msg);
		snprintf(msg, sizeof(msg), "%s%s", path, cases[i].where);
		expect_rejected(argv, msg);
	}
	{
		const char *argv[] = { bench, "--scenario", "/nonexistent/x.ini", NULL };

		expect_rejected(argv, "scenario /nonexistent/x.ini: No such file or directory");
	}
}

static void assert_number(json_t *o, const char *k)
{
	if (!json_is_number(json_object_get(o, k)))
		fail_msg("'%s' is missing or not a number", k);
}

/* A "latency_us" object: every percentile, in order, mean and stddev. */
static void check_latency(json_t *l, const char *what)
{
	static const char *const lat[] = { "p50", "p90", "p99", "p99_9", "p99_99", "max" };
	double prev = 0;

	for (size_t i = 0; i < sizeof(lat) / sizeof(*lat); i++) {
		double v;

		assert_number(l, lat[i]);
		v = json_number_value(json_object_get(l, lat[i]));
		if (v < prev)
			fail_msg("%s %s = %f is below the percentile before it", what, lat[i], v);
		prev = v;
	}
	assert_number(l, "mean");
	assert_number(l, "stddev");
}

static double number(json_t *o, const char *k)
{
	assert_number(o, k);
	return json_number_value(json_object_get(o, k));
}

/* v is q's figure: both null, or equal to within rounding. */
static void assert_quotient(json_t *cpu, const char *k, json_t *total, json_int_t n)
{
	json_t *v = json_object_get(cpu, k);

	if (json_is_null(total) || n == 0) {
		if (!json_is_null(v))
			fail_msg("cpu.%s should be null", k);
		return;
	}
	if (fabs(number(cpu, k) - (double)json_integer_value(total) / (double)n) > 1e-6 *
	    number(cpu, k) + 1e-9)
		fail_msg("cpu.%s = %f is not %lld / %lld", k, number(cpu, k),
			 (long long)json_integer_value(total), (long long)n);
}

/* A run's "cpu": a server's CPU (none for ZeroMQ) positive and within /proc/PID/stat's
 * ticks of its stat figure; the publisher's and (with TCP subscribers) the receive
 * threads' positive and within the bench process's; per event and per delivery their
 * quotients (the server's over every delivery of the run, shm readers' too). */
static void check_cpu(json_t *r, const char *sys, bool subscribers)
{
	json_t *cpu = json_object_get(r, "cpu"), *shm = json_object_get(r, "shm");
	json_int_t published = bexec_int(r, "published"), deliveries = bexec_int(r, "deliveries");
	json_int_t all = deliveries + (json_is_object(shm) ? bexec_int(shm, "deliveries") : 0);
	json_int_t pub, subs;

	if (!json_is_object(cpu))
		fail_msg("a %s run has no \"cpu\" object", sys);
	assert_true(number(cpu, "interval_s") >= number(r, "seconds"));
	if (!strcmp(sys, "zmq")) {
		assert_true(json_is_null(json_object_get(cpu, "server_ns")));
		assert_true(json_is_null(json_object_get(cpu, "server_stat_ns")));
	} else {
		json_int_t srv = bexec_int(cpu, "server_ns"), st = bexec_int(cpu, "server_stat_ns");

		assert_true(srv > 0);
		/* 10 ms ticks, truncated at both ends: within 2 of them, and 5 %. */
		if (llabs(st - srv) > 20000000 + srv / 20)
			fail_msg("%s: server CPU %lld ns, but /proc/PID/stat says %lld", sys,
				 (long long)srv, (long long)st);
	}
	pub = bexec_int(cpu, "publisher_ns");
	subs = bexec_int(cpu, "subscribers_ns");
	assert_true(pub > 0);
	assert_true(subscribers ? subs > 0 : subs == 0);
	/* Threads of the bench process, read a moment apart; and the process clock adds up
	 * the runtime of a thread running on another CPU only as of that CPU's last tick
	 * (up to 4 ms at HZ=250, more under ASan's load) while a thread's own clock is up to
	 * date: 20 ms of slack, far below a figure counted twice. */
	assert_true(bexec_int(cpu, "bench_process_ns") + 20000000 >= pub + subs);
	assert_quotient(cpu, "server_ns_per_event", json_object_get(cpu, "server_ns"), published);
	assert_quotient(cpu, "server_ns_per_delivery", json_object_get(cpu, "server_ns"), all);
	assert_quotient(cpu, "publisher_ns_per_event", json_object_get(cpu, "publisher_ns"),
			published);
	assert_quotient(cpu, "subscriber_ns_per_delivery", json_object_get(cpu, "subscribers_ns"),
			deliveries);
}

/* One element of "runs" of the scenario named scen: every field, its type, percentiles
 * in order, no loss, the CPU. */
static void check_run_of(json_t *r, const char *scen, const char *sys, json_int_t run)
{
	static const char *const ints[] = { "published", "expected_deliveries", "deliveries",
		"lost", "gaps", "out_of_order", "filtered_by_subscriber",
		"disconnected_subscribers" };
	static const char *const nums[] = { "seconds", "events_per_s_in", "deliveries_per_s_out",
		"bytes_per_delivery", "publish_bytes_per_event" };

	assert_string_equal(json_string_value(json_object_get(r, "system")), sys);
	assert_string_equal(json_string_value(json_object_get(r, "scenario")), scen);
	assert_int_equal(bexec_int(r, "run"), run);
	assert_true(json_is_string(json_object_get(r, "topology")));
	assert_true(json_is_null(json_object_get(r, "error")));
	for (size_t i = 0; i < sizeof(ints) / sizeof(*ints); i++)
		assert_true(bexec_int(r, ints[i]) >= 0);
	for (size_t i = 0; i < sizeof(nums) / sizeof(*nums); i++)
		assert_number(r, nums[i]);
	assert_true(bexec_int(r, "published") > 0);
	assert_int_equal(bexec_int(r, "deliveries"), bexec_int(r, "expected_deliveries"));
	assert_int_equal(bexec_int(r, "lost"), 0);
	check_latency(json_object_get(r, "latency_us"), sys);
	assert_non_null(json_object_get(r, "shm"));	/* null, or an object: see below */
	check_cpu(r, sys, bexec_int(r, "expected_deliveries") > 0);
}

static void check_run(json_t *r, const char *sys, json_int_t run)
{
	check_run_of(r, "shape_test", sys, run);
	assert_true(json_is_null(json_object_get(r, "shm")));	/* no shm readers */
	assert_int_equal(bexec_int(r, "filtered_by_subscriber"), 0);	/* no filter */
	/* One stalled subscriber, never read: counted apart; 300 events do not get it cut. */
	assert_true(json_is_object(json_object_get(r, "stalled")));
	assert_int_equal(bexec_int(json_object_get(r, "stalled"), "count"), 1);
	assert_int_equal(bexec_int(json_object_get(r, "stalled"), "disconnected"), 0);
}

static void check_medians(json_t *meds, const char *line)
{
	static const char *const med[] = { "events_per_s_in", "deliveries_per_s_out", "lost",
		"stalled_disconnected", "filtered_by_subscriber", "p50", "p90", "p99", "p99_9",
		"p99_99", "max", "server_cpu_ns_per_event", "server_cpu_ns_per_delivery",
		"publisher_cpu_ns_per_event", "subscriber_cpu_ns_per_delivery" };
	json_t *m = json_object_get(meds, line);

	if (!json_is_object(m))
		fail_msg("no medians for %s", line);
	for (size_t i = 0; i < sizeof(med) / sizeof(*med); i++) {
		/* Stalled subscribers are TCP ones: the shm line has none to count; ZeroMQ has
		 * no server. */
		if ((!strcmp(line, "fanout-shm") && !strcmp(med[i], "stalled_disconnected")) ||
		    (!strcmp(line, "zmq") && !strncmp(med[i], "server_cpu", 10)))
			assert_true(json_is_null(json_object_get(m, med[i])));
		else
			assert_true(number(m, med[i]) >= 0);
	}
}

static void check_summary(json_t *s)
{
	json_t *meds = json_object_get(s, "medians"), *ratios = json_object_get(s, "ratios");

	assert_int_equal(json_object_size(meds), 2);
	check_medians(meds, "fanout");
	check_medians(meds, "zmq");
	assert_int_equal(json_object_size(ratios), 1);	/* fanout against each peer */
	assert_number(json_object_get(ratios, "zmq"), "deliveries_per_s");
	assert_number(json_object_get(ratios, "zmq"), "p50");
	assert_number(json_object_get(ratios, "zmq"), "p99");
	/* No server to compare fanoutd's CPU with. */
	assert_true(json_is_null(json_object_get(json_object_get(ratios, "zmq"),
						 "server_cpu_ns_per_event")));
	assert_true(json_is_null(json_object_get(json_object_get(ratios, "zmq"),
						 "server_cpu_ns_per_delivery")));
}

/* A .hdr file: header, rows, footer; its total count is every delivery its line's runs
 * made (their histograms merged). */
static void check_hdr_file(const char *path, json_int_t deliveries)
{
	char line[256];
	unsigned long long total = 0;
	int rows = 0;
	FILE *f = fopen(path, "r");

	if (!f)
		fail_msg("no %s", path);
	assert_non_null(fgets(line, sizeof(line), f));
	assert_non_null(strstr(line, "Value"));
	assert_non_null(strstr(line, "1/(1-Percentile)"));
	while (fgets(line, sizeof(line), f)) {
		double v, p;
		unsigned long long c;
		const char *t = strstr(line, "Total count    =");

		if (sscanf(line, "%lf %lf %llu", &v, &p, &c) == 3)
			rows++;
		if (t)
			total = strtoull(t + strlen("Total count    ="), NULL, 10);
	}
	fclose(f);
	assert_true(rows > 10);
	assert_int_equal(total, deliveries);
}

/* The .hdr file of report line sys of a run with several lines. */
static void check_hdr(const char *prefix, const char *sys, json_int_t deliveries)
{
	char path[256];

	snprintf(path, sizeof(path), "%s.%s.hdr", prefix, sys);
	check_hdr_file(path, deliveries);
}

/* Runs fanout-bench; asserts exit 0 and one JSON document on stdout, which it returns
 * (owned by x). */
static json_t *run_json(struct bexec *x, const char *const *argv)
{
	bexec_run(x, argv);
	assert_int_equal(x->status, 0);
	if (!x->json)
		fail_msg("stdout is not one JSON document: %s", x->out);
	return x->json;
}

static const char shape_ini[] =
	"; fanout-bench scenario for the shape test: comments, a section, underscores\n"
	"[shape]\n"
	"name = shape_test\n"
	"systems = fanout, zmq\n"
	"repeat = 2\n"
	"rate = 1000\n"
	"duration = 0.3\n"
	"  symbols = 10   \n"
	"sub_symbols = 5\n"
	"subscribers = 2\n"
	"stalled = 1\n";

static void json_shape(void **state)
{
	char ini[128], prefix[128];
	const char *argv[] = { bench, "--fanoutd", fanoutd, "--quiet", "--scenario", ini,
			       "--hdr-out", prefix, NULL };
	const char *order[] = { "fanout", "zmq", "fanout", "zmq" };
	json_int_t delivered[2] = { 0, 0 };
	json_t *j, *cfg, *runs;
	struct bexec x;

	(void)state;
	snprintf(ini, sizeof(ini), "%s/shape.ini", tmpdir);
	snprintf(prefix, sizeof(prefix), "%s/shape", tmpdir);
	write_file(ini, shape_ini);
	j = run_json(&x, argv);
	assert_string_equal(json_string_value(json_object_get(j, "bench")), "fanout-bench");
	assert_string_equal(json_string_value(json_object_get(j, "scenario")), "shape_test");
	assert_int_equal(strlen(json_string_value(json_object_get(j, "date"))),
			 strlen("2026-01-01T00:00:00Z"));
	cfg = json_object_get(j, "config");
	assert_number(cfg, "rate");
	assert_number(cfg, "duration_s");
	assert_int_equal(bexec_int(cfg, "symbols"), 10);
	assert_int_equal(bexec_int(cfg, "sub_symbols"), 5);
	assert_int_equal(bexec_int(cfg, "subscribers"), 2);
	assert_int_equal(bexec_int(cfg, "repeat"), 2);
	assert_int_equal(bexec_int(cfg, "stalled"), 1);
	assert_true(json_is_null(json_object_get(cfg, "fanout_max_lag_bytes")));
	runs = json_object_get(j, "runs");
	assert_int_equal(json_array_size(runs), 4);	/* interleaved: fanout, zmq, fanout, zmq */
	for (size_t i = 0; i < 4; i++) {
		json_t *r = json_array_get(runs, i);

		check_run(r, order[i], (json_int_t)i / 2 + 1);
		delivered[i % 2] += bexec_int(r, "deliveries");
	}
	check_summary(json_object_get(j, "summary"));
	check_hdr(prefix, "fanout", delivered[0]);
	check_hdr(prefix, "zmq", delivered[1]);
	bexec_free(&x);
}

/* A run's "shm" object: every field, the readers' owed deliveries all delivered. */
static void check_shm(json_t *shm, json_int_t readers)
{
	static const char *const ints[] = { "expected_deliveries", "deliveries", "lost", "gaps",
		"out_of_order", "filtered_by_subscriber", "disconnected_readers", "gap_records",
		"lost_reported", "recovered", "laps", "torn" };

	if (!json_is_object(shm))
		fail_msg("a fanout run with shm readers has no \"shm\" object");
	assert_int_equal(bexec_int(shm, "readers"), readers);
	for (size_t i = 0; i < sizeof(ints) / sizeof(*ints); i++)
		assert_true(bexec_int(shm, ints[i]) >= 0);
	assert_number(shm, "deliveries_per_s_out");
	assert_number(shm, "bytes_per_delivery");
	assert_true(bexec_int(shm, "deliveries") > 0);
	assert_int_equal(bexec_int(shm, "deliveries"), bexec_int(shm, "expected_deliveries"));
	assert_int_equal(bexec_int(shm, "lost"), 0);
	assert_int_equal(bexec_int(shm, "lost_reported"), 0);
	assert_int_equal(bexec_int(shm, "filtered_by_subscriber"), 0);	/* fanoutd filtered */
	assert_int_equal(bexec_int(shm, "disconnected_readers"), 0);
	check_latency(json_object_get(shm, "latency_us"), "fanout-shm");
}

/* fanout with 1 TCP subscriber and 2 shm readers beside zmq, under a content filter:
 * the configuration says so, fanout's run carries its readers apart, zmq's subscriber
 * drops what the filter rejects (zmq cannot filter), fanout-shm is a line of its own
 * (medians, table, .hdr file), and stderr says what zmq runs without. */
static void json_shape_shm_filter(void **state)
{
	char prefix[128];
	const char *argv[] = { bench, "--fanoutd", fanoutd, "--quiet", "--name", "shm_shape",
		"--systems", "fanout,zmq", "--rate", "1000", "--duration", "0.3", "--symbols", "10",
		"--sub-symbols", "5", "--subscribers", "1", "--shm-readers", "2", "--shm-spin", "0",
		"--shm-ring-bytes", "1048576", "--filter-exchange", "NYSE,ARCA",
		"--filter-min-price", "21.5", "--hdr-out", prefix, NULL };
	json_t *cfg, *filter, *runs, *meds, *fan, *zmq;
	struct bexec x;

	(void)state;
	snprintf(prefix, sizeof(prefix), "%s/shmshape", tmpdir);
	cfg = json_object_get(run_json(&x, argv), "config");
	assert_int_equal(bexec_int(cfg, "shm_readers"), 2);
	assert_int_equal(bexec_int(cfg, "shm_spin"), 0);
	assert_int_equal(bexec_int(cfg, "shm_ring_bytes"), 1048576);
	filter = json_object_get(cfg, "filter");
	assert_true(json_is_object(filter));
	assert_int_equal(json_array_size(json_object_get(filter, "exchanges")), 2);
	assert_string_equal(json_string_value(json_array_get(json_object_get(filter, "exchanges"),
							     0)), "NYSE");
	assert_true(json_number_value(json_object_get(filter, "min_price")) == 21.5);
	runs = json_object_get(x.json, "runs");
	assert_int_equal(json_array_size(runs), 2);
	fan = json_array_get(runs, 0);
	zmq = json_array_get(runs, 1);
	check_run_of(fan, "shm_shape", "fanout", 1);
	check_run_of(zmq, "shm_shape", "zmq", 1);
	check_shm(json_object_get(fan, "shm"), 2);
	assert_true(json_is_null(json_object_get(zmq, "shm")));
	/* Subscriber 0 (and reader 2) take keys 0-4: NYSE and ARCA are symbols 1 and 2, and
	 * symbol 1 is 21.50 or more half the time. Reader 1 takes 5-9: symbols 5, 6 and 9. */
	assert_true(bexec_int(fan, "deliveries") > 0);
	assert_int_equal(bexec_int(fan, "filtered_by_subscriber"), 0);	/* fanoutd filtered */
	assert_true(bexec_int(zmq, "filtered_by_subscriber") > 0);	/* zmq could not */
	meds = json_object_get(json_object_get(x.json, "summary"), "medians");
	assert_int_equal(json_object_size(meds), 3);
	check_medians(meds, "fanout");
	check_medians(meds, "fanout-shm");
	check_medians(meds, "zmq");
	if (!strstr(x.err, "zmq run with the 1 TCP subscriber only") ||
	    !strstr(x.err, "zmq cannot filter by content") || !strstr(x.err, "\nfanout-shm "))
		fail_msg("stderr lacks the peer notes or the fanout-shm line:\n%s", x.err);
	check_hdr(prefix, "fanout", bexec_int(fan, "deliveries"));
	check_hdr(prefix, "fanout-shm", bexec_int(json_object_get(fan, "shm"), "deliveries"));
	check_hdr(prefix, "zmq", bexec_int(zmq, "deliveries"));
	bexec_free(&x);
}

/* Shm readers only: no TCP subscriber, so fanout-shm is the one line, and its .hdr file
 * is --hdr-out itself. */
static void json_shape_shm_only(void **state)
{
	char path[128];
	const char *argv[] = { bench, "--fanoutd", fanoutd, "--quiet", "--rate", "1000",
		"--duration", "0.3", "--symbols", "10", "--subscribers", "0", "--shm-readers", "1",
		"--hdr-out", path, NULL };
	json_t *r, *meds;
	struct bexec x;

	(void)state;
	snprintf(path, sizeof(path), "%s/shmonly.hdr", tmpdir);
	assert_int_equal(bexec_int(json_object_get(run_json(&x, argv), "config"), "subscribers"), 0);
	r = json_array_get(json_object_get(x.json, "runs"), 0);
	assert_int_equal(bexec_int(r, "expected_deliveries"), 0);
	check_shm(json_object_get(r, "shm"), 1);
	assert_int_equal(bexec_int(json_object_get(r, "shm"), "deliveries"),
			 bexec_int(r, "published"));
	meds = json_object_get(json_object_get(x.json, "summary"), "medians");
	assert_int_equal(json_object_size(meds), 1);
	check_medians(meds, "fanout-shm");
	check_hdr_file(path, bexec_int(json_object_get(r, "shm"), "deliveries"));
	bexec_free(&x);
}

/* A bulk load beside a priority topic: the topic made through the API with its priority
 * (a refusal fails the run), the bulk traffic reported apart and not counted. */
static void bulk_and_priority(void **state)
{
	const char *argv[] = { bench, "--fanoutd", fanoutd, "--quiet", "--rate", "1000",
		"--duration", "0.5", "--symbols", "10", "--subscribers", "1", "--bulk-subscribers",
		"2", "--bulk-rate", "20000", "--fanout-priority", "7", NULL };
	json_t *r, *cfg, *bulk, *meds;
	struct bexec x;

	(void)state;
	cfg = json_object_get(run_json(&x, argv), "config");
	assert_int_equal(bexec_int(cfg, "fanout_priority"), 7);
	assert_int_equal(bexec_int(cfg, "bulk_subscribers"), 2);
	r = json_array_get(json_object_get(x.json, "runs"), 0);
	assert_true(json_is_null(json_object_get(r, "error")));
	assert_int_equal(bexec_int(r, "deliveries"), bexec_int(r, "published"));
	bulk = json_object_get(r, "bulk");
	assert_true(json_number_value(json_object_get(bulk, "events_per_s_in")) > 1000);
	/* Two subscribers take all of it: about twice as many out as in. */
	assert_true(json_number_value(json_object_get(bulk, "deliveries_per_s_out")) >
		    json_number_value(json_object_get(bulk, "events_per_s_in")));
	meds = json_object_get(json_object_get(json_object_get(x.json, "summary"), "medians"),
			       "fanout");
	assert_true(json_number_value(json_object_get(meds, "bulk_events_per_s_in")) > 1000);
	if (!strstr(x.err, "bulk load beside it (topic bench-bulk, 2 subscribers"))
		fail_msg("no bulk line on stderr:\n%s", x.err);
	bexec_free(&x);
}

/* --latency-split: each run's split is there, every part of a delivery no longer than the
 * whole of it from the actual send (so no part's median above that median), from the
 * actual send no longer than from the intended time, the probe's figures ordered; the
 * medians' line and the probe's on stderr. */
static void latency_split(void **state)
{
	const char *argv[] = { bench, "--fanoutd", fanoutd, "--quiet", "--system", "fanout",
		"--rate", "2000", "--duration", "0.5", "--symbols", "10", "--subscribers", "2",
		"--latency-split", NULL };
	static const char *const k[] = { "publisher_late_p50", "publisher_late_p99",
		"send_to_server_p50", "send_to_server_p99", "from_server_p50", "from_server_p99",
		"from_actual_send_p50", "from_actual_send_p99", "probe_late_p50", "probe_late_p99",
		"probe_late_p99_9", "probe_late_max" };
	json_t *r, *sp;
	struct bexec x;
	double whole;

	(void)state;
	r = json_array_get(json_object_get(run_json(&x, argv), "runs"), 0);
	assert_true(json_is_null(json_object_get(r, "error")));
	sp = json_object_get(r, "latency_split_us");
	if (!json_is_object(sp))
		fail_msg("no latency_split_us in the run");
	for (size_t i = 0; i < sizeof(k) / sizeof(*k); i++)
		if (!json_is_number(json_object_get(sp, k[i])) || number(sp, k[i]) < 0)
			fail_msg("latency_split_us.%s missing or negative", k[i]);
	/* Histogram precision: 1/1024 of a value, and 1 µs of rounding. */
	whole = number(sp, "from_actual_send_p50") * 1.001 + 1;
	assert_true(number(sp, "send_to_server_p50") <= whole);
	assert_true(number(sp, "from_server_p50") <= whole);
	assert_true(number(sp, "from_actual_send_p50") <=
		    number(json_object_get(r, "latency_us"), "p50") * 1.001 + 1);
	assert_true(number(sp, "from_actual_send_p50") > 0);
	assert_true(number(sp, "probe_late_p99") <= number(sp, "probe_late_p99_9"));
	assert_true(number(sp, "probe_late_p99_9") <= number(sp, "probe_late_max"));
	if (!strstr(x.err, "fanout latency split at the server's receive time") ||
	    !strstr(x.err, "the machine meanwhile: a bench thread's 1000 µs sleeps"))
		fail_msg("stderr lacks the split's lines:\n%s", x.err);
	bexec_free(&x);
}

/* fanout, redis and zmq in one run: the CPU ratios are the peer's median over fanout's
 * (> 1 favours fanout), the table has the CPU columns and a dash for ZeroMQ's server. */
static void cpu_ratios(void **state)
{
	const char *argv[] = { bench, "--fanoutd", fanoutd, "--quiet", "--systems",
		"fanout,redis,zmq", "--rate", "2000", "--duration", "0.3", "--symbols", "10", NULL };
	static const char *const k[2] = { "server_cpu_ns_per_event", "server_cpu_ns_per_delivery" };
	json_t *meds, *ratio;
	struct bexec x;

	(void)state;
	if (system("command -v redis-server >/dev/null 2>&1"))
		skip();
	meds = json_object_get(json_object_get(run_json(&x, argv), "summary"), "medians");
	ratio = json_object_get(json_object_get(json_object_get(x.json, "summary"), "ratios"),
				"redis");
	for (size_t i = 0; i < 2; i++) {
		double want = number(json_object_get(meds, "redis"), k[i]) /
			      number(json_object_get(meds, "fanout"), k[i]);

		if (fabs(number(ratio, k[i]) - want) > 1e-9 * want)
			fail_msg("ratio %s = %f, not redis/fanout = %f", k[i],
				 number(ratio, k[i]), want);
	}
	if (!strstr(x.err, "srv/event") || !strstr(x.err, "sub/deliv") ||
	    !strstr(x.err, "server CPU per event x") || !strstr(x.err, "server CPU — (no server)"))
		fail_msg("stderr lacks the CPU columns or ratios:\n%s", x.err);
	if (!strstr(strstr(x.err, "\nzmq "), "—"))
		fail_msg("the zmq line has no dash for its server's CPU:\n%s", x.err);
	bexec_free(&x);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(help),
		cmocka_unit_test(bad_flags),
		cmocka_unit_test(bad_scenarios),
		cmocka_unit_test_teardown(json_shape, teardown),
		cmocka_unit_test_teardown(json_shape_shm_filter, teardown),
		cmocka_unit_test_teardown(json_shape_shm_only, teardown),
		cmocka_unit_test_teardown(cpu_ratios, teardown),
		cmocka_unit_test_teardown(bulk_and_priority, teardown),
		cmocka_unit_test_teardown(latency_split, teardown),
	};

	if (argc != 3) {
		fprintf(stderr, "usage: %s FANOUT_BENCH FANOUTD\n", argv[0]);
		return 2;
	}
	bench = argv[1];
	fanoutd = argv[2];
	bexec_init();
	tmpdir = bexec_tmpdir();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
