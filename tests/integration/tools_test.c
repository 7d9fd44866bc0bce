/* tests/integration/tools_test.c — fanout-sub against a real fanoutd: its content-filter
 * and snapshot flags reach the server and select what it prints; bad flags exit 2.
 * argv[1] is fanoutd, argv[2] fanout-sub. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <jansson.h>

#include "tests/integration/harness.h"

static int g_argc;
static char **g_argv;
static const char *g_sub;	/* the fanout-sub binary */
static struct server g_srv;

/* Runs fanout-sub with args; returns its exit status, the symbols of the events it printed
 * in symbols[0..*n) (each up to 15 bytes). */
static int run_sub(const char *args, char symbols[][16], size_t cap, size_t *n)
{
	char cmd[1024], line[65536];
	FILE *p;
	int status;

	snprintf(cmd, sizeof(cmd), "%s --connect %s --quiet %s", g_sub, g_srv.addr, args);
	p = popen(cmd, "r");
	assert_non_null(p);
	*n = 0;
	while (fgets(line, sizeof(line), p)) {
		json_error_t err;
		json_t *j = json_loads(line, 0, &err), *sym;

		if (!j)
			fail_msg("fanout-sub printed a line that is not JSON: %s", line);
		sym = json_object_get(json_object_get(j, "market_data"), "symbol");
		assert_non_null(sym);
		assert_true(*n < cap);
		snprintf(symbols[(*n)++], 16, "%s", json_string_value(sym));
		json_decref(j);
	}
	status = pclose(p);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static int setup(void **state)
{
	const char *const two[] = { "--topic", "two:2", NULL };
	struct client pub;

	(void)state;
	server_setup(&g_srv, g_argc, g_argv);
	server_start(&g_srv, two);
	server_connect(&g_srv, &pub);
	publish_range(&pub, "md", 0, 200, 10, NULL);	/* S00000..S00009, 20 events each */
	publish_range(&pub, "two", 0, 200, 10, NULL);
	client_close(&pub);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	server_teardown(&g_srv);
	return 0;
}

static void filter_flags_select_events(void **state)
{
	static char syms[256][16];
	size_t n;

	(void)state;
	/* make_event: S00003 trades on BATS at price 103. */
	assert_int_equal(run_sub("--topic md --from earliest --symbol S00003 --symbol S00004 "
				 "--min-price 103.5 --expect 20 --timeout 10", syms, 256, &n), 0);
	assert_int_equal(n, 20);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(syms[i], "S00004");	/* S00003 is under the price bound */
	assert_int_equal(run_sub("--topic md --from earliest --exchange NYSE --data-type market_data "
				 "--expect 60 --timeout 10", syms, 256, &n), 0);
	assert_int_equal(n, 60);	/* S00001, S00005, S00009 are on NYSE */
	for (size_t i = 0; i < n; i++)
		assert_true(!strcmp(syms[i], "S00001") || !strcmp(syms[i], "S00005") ||
			    !strcmp(syms[i], "S00009"));
	/* Portfolios are for executions only: no market data passes. */
	assert_int_equal(run_sub("--topic md --from earliest --portfolio-id P1 --portfolio-id P2 "
				 "--timeout 1", syms, 256, &n), 0);
	assert_int_equal(n, 0);
}

static void snapshot_flag_gives_the_newest_per_key(void **state)
{
	static char syms[64][16];
	size_t n;

	(void)state;
	/* From the latest offset there is no live traffic: only the snapshot, one per key. */
	assert_int_equal(run_sub("--topic md --snapshot --pattern '*.*.trade' --exchange NYSE "
				 "--expect 3 --timeout 10", syms, 64, &n), 0);
	assert_int_equal(n, 3);
	assert_string_equal(syms[0], "S00001");	/* in offset order: 191, 195, 199 */
	assert_string_equal(syms[1], "S00005");
	assert_string_equal(syms[2], "S00009");
}

static void from_list_starts_each_partition(void **state)
{
	static char a[256][16], b[256][16];
	size_t na, nb;

	(void)state;
	/* "two" has 2 partitions, 200 events of 10 keys: from the start of one partition and
	 * past the end of the other, each run gets that partition's events only. */
	assert_int_equal(run_sub("--topic two --from 0,1000000 --timeout 2", a, 256, &na), 0);
	assert_int_equal(run_sub("--topic two --from 1000000,0 --timeout 2", b, 256, &nb), 0);
	assert_true(na > 0 && nb > 0);
	assert_int_equal(na + nb, 200);
	for (size_t i = 0; i < na; i++)	/* a key lives in one partition */
		for (size_t j = 0; j < nb; j++)
			assert_string_not_equal(a[i], b[j]);
	assert_int_equal(run_sub("--topic two --from 190, --timeout 2 2>/dev/null", a, 256, &na),
			 2);	/* an empty entry */
	assert_int_equal(run_sub("--topic two --from 190,x --timeout 2 2>/dev/null", a, 256, &na),
			 2);
	/* More partitions than the topic has: BAD_START from the server, exit 1. */
	assert_int_equal(run_sub("--topic two --from 0,0,0 --timeout 2 2>/dev/null", a, 256, &na),
			 1);
	assert_int_equal(na, 0);
}

static void from_time_starts_at_the_time(void **state)
{
	static char a[256][16];
	char args[128];
	size_t n;
	struct timespec now;

	(void)state;
	/* "two"'s 200 events were all received after 2000-01-01 and before now. */
	assert_int_equal(run_sub("--topic two --from time:2000-01-01 --timeout 2", a, 256, &n), 0);
	assert_int_equal(n, 200);
	clock_gettime(CLOCK_REALTIME, &now);
	snprintf(args, sizeof(args), "--topic two --from time:%lld --timeout 1",
		 (long long)now.tv_sec * 1000000000ll + now.tv_nsec);
	assert_int_equal(run_sub(args, a, 256, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(run_sub("--topic two --from time:yesterday --timeout 1 2>/dev/null", a,
				 256, &n), 2);
}

static void bad_filter_flags_exit_2(void **state)
{
	static char syms[4][16];
	size_t n;

	(void)state;
	assert_int_equal(run_sub("--topic md --min-price abc 2>/dev/null", syms, 4, &n), 2);
	assert_int_equal(run_sub("--topic md --data-type candles 2>/dev/null", syms, 4, &n), 2);
	/* A filter the server refuses: min above max gets BAD_FILTER, exit 1. */
	assert_int_equal(run_sub("--topic md --min-price 10 --max-price 5 --timeout 5 2>/dev/null",
				 syms, 4, &n), 1);
	assert_int_equal(n, 0);
	assert_int_equal(run_sub("--topic md --portfolio-id '' --timeout 5 2>/dev/null", syms, 4,
				 &n), 1);	/* an empty value: BAD_FILTER */
	assert_int_equal(n, 0);
}

/* --name: a durable subscription, each event acked once printed. SHARED: what one
 * consumer was sent and did not print (it stopped at --expect) goes to the next. */
static void name_flags_make_a_durable_shared_consumer(void **state)
{
	static char a[256][16], b[256][16];
	size_t na, nb;
	int per[10] = { 0 };

	(void)state;
	assert_int_equal(run_sub("--topic md --from earliest --name w --type shared --expect 50 "
				 "--timeout 10", a, 256, &na), 0);
	assert_int_equal(na, 50);
	assert_int_equal(run_sub("--topic md --name w --type shared --ack-timeout 5000 "
				 "--timeout 2", b, 256, &nb), 0);
	assert_int_equal(nb, 150);	/* the rest, each once: the first's 50 were acked */
	for (size_t i = 0; i < na; i++)
		per[atoi(a[i] + 1) % 10]++;
	for (size_t i = 0; i < nb; i++)
		per[atoi(b[i] + 1) % 10]++;
	for (int k = 0; k < 10; k++)
		assert_int_equal(per[k], 20);
	/* Everything acked: a third consumer gets nothing. */
	assert_int_equal(run_sub("--topic md --name w --type shared --timeout 1", b, 256, &nb), 0);
	assert_int_equal(nb, 0);
	assert_int_equal(run_sub("--topic md --type shared --timeout 1 2>/dev/null", b, 256, &nb),
			 2);	/* --type needs --name */
	assert_int_equal(run_sub("--topic md --name w --type fair --timeout 1 2>/dev/null", b,
				 256, &nb), 2);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(filter_flags_select_events),
		cmocka_unit_test(snapshot_flag_gives_the_newest_per_key),
		cmocka_unit_test(from_list_starts_each_partition),
		cmocka_unit_test(from_time_starts_at_the_time),
		cmocka_unit_test(bad_filter_flags_exit_2),
		cmocka_unit_test(name_flags_make_a_durable_shared_consumer),
	};

	if (argc < 3) {
		fprintf(stderr, "usage: %s FANOUTD FANOUT_SUB\n", argv[0]);
		return 2;
	}
	g_argc = argc;
	g_argv = argv;
	g_sub = argv[2];
	return cmocka_run_group_tests(tests, setup, teardown);
}
