/* perf/bench_main.c — fanout-bench: runs the configured systems interleaved (fanout,
 * nats, redis, zmq, fanout, ...) for --repeat rounds, then prints the JSON result on
 * stdout and the comparison table on stderr. SIGINT/SIGTERM end the current run early,
 * stop its server and print what was measured. Exit 0 if every run completed, 1 if
 * one failed or was interrupted, 2 for a bad command line or scenario file. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "perf/bench.h"

static void on_signal(int sig)
{
	(void)sig;
	bench_request_stop();
}

static void setup_process(void)
{
	struct sigaction sa = { .sa_handler = on_signal };
	struct rlimit rl;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);	/* a peer that closes on us is an error return, not death */
	/* 1000 subscribers need the descriptors (ZeroMQ uses several per socket). */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl))
			fprintf(stderr, "fanout-bench: setrlimit(RLIMIT_NOFILE): %s\n", strerror(errno));
	}
}

static void print_json(const struct bench_cfg *c, json_t *runs, const struct bench_result *res,
		       unsigned n)
{
	char date[32];
	time_t now = time(NULL);
	json_t *out;

	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
	out = json_pack("{s:s, s:s, s:s, s:o, s:o, s:o}", "bench", "fanout-bench",
			"scenario", c->scenario, "date", date, "config", bench_cfg_json(c),
			"runs", runs, "summary", bench_summary_json(c, res, n));
	if (!out || json_dumpf(out, stdout, JSON_COMPACT) || fputc('\n', stdout) == EOF ||
	    fflush(stdout))
		fprintf(stderr, "fanout-bench: could not write the JSON result\n");
	json_decref(out);
}

int main(int argc, char **argv)
{
	static struct bench_result res[BENCH_RUNS_MAX * BENCH_SYSTEMS];
	static struct bench_cfg c;	/* static: what it points to stays reachable at exit */
	unsigned n = 0, failed = 0;
	json_t *runs;
	int rc = bench_cfg_parse(&c, argc, argv);

	if (rc) {
		if (rc < 0)
			fprintf(stderr, "try 'fanout-bench --help'\n");
		return rc < 0 ? 2 : 0;
	}
	runs = json_array();
	if (!runs)
		return 1;
	setup_process();
	bench_peer_notes(&c);
	for (unsigned rep = 0; rep < c.repeat && !bench_stopped(); rep++) {
		for (unsigned s = 0; s < BENCH_SYSTEMS && !bench_stopped(); s++) {
			if (!(c.systems_mask & (1u << s)))
				continue;
			if (!c.quiet)
				fprintf(stderr, "== %s: %s, run %u of %u\n", c.scenario,
					bench_system_names[s], rep + 1, c.repeat);
			if (bench_run_one(&c, s, &res[n]))
				failed++;
			json_array_append_new(runs, bench_run_json(&c, &res[n], rep + 1));
			n++;
		}
	}
	if (bench_stopped()) {
		fprintf(stderr, "fanout-bench: interrupted\n");
		failed++;
	}
	if (bench_write_hdrs(&c, res, n))
		failed++;
	print_json(&c, runs, res, n);
	for (unsigned i = 0; i < n; i++)
		bench_result_free(&res[i]);
	return failed ? 1 : 0;
}
