/* tests/shm/tail_test.c — fanout-shm-tail (argv[1]) on a real ring: JSON lines with the
 * events' fields, a gap line where a lapped reader lost events, the --count summary, and
 * clear errors for bad arguments and a file that is not a ring. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "tests/shm/shm_harness.h"

static const char *g_tool;

/* Runs the tool with args (a shell-quoted string), stdout into out (cap bytes), stderr
 * into err. Returns its exit status. */
static int run_tool(const char *args, char *out, size_t cap, char *err, size_t errcap)
{
	char cmd[PATH_MAX + 512], errfile[] = "/tmp/tail_test_err.XXXXXX";
	int fd = mkstemp(errfile), st;
	size_t n;
	FILE *p, *e;

	assert_true(fd >= 0);
	snprintf(cmd, sizeof(cmd), "%s %s 2>%s", g_tool, args, errfile);
	p = popen(cmd, "r");
	assert_non_null(p);
	n = fread(out, 1, cap - 1, p);
	out[n] = '\0';
	st = pclose(p);
	e = fdopen(fd, "r");
	n = fread(err, 1, errcap - 1, e);
	err[n] = '\0';
	fclose(e);
	unlink(errfile);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static void test_json_lines(void **state)
{
	struct pub_opts po = { .name = "tail", .ring_bytes = 1 << 20, .partitions = 2 };
	static char out[1 << 16], err[4096];
	char args[PATH_MAX + 128];
	struct pub p;
	char *line, *save;
	uint64_t i = 0;

	assert_int_equal(pub_open(&p, *state, &po), 0);
	assert_int_equal(pub_events(&p, 5), 0);
	snprintf(args, sizeof(args), "--ring %s --from first --expect 5 --timeout 20", p.path);
	assert_int_equal(run_tool(args, out, sizeof(out), err, sizeof(err)), 0);
	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save), i++) {
		json_t *j = json_loads(line, 0, NULL);
		char id[16];

		assert_non_null(j);
		snprintf(id, sizeof(id), "e%lu", (unsigned long)i);
		assert_string_equal(json_string_value(json_object_get(j, "event_id")), id);
		assert_int_equal(json_integer_value(json_object_get(json_object_get(j,
				 "distribution"), "offset")), i / 2);
		json_decref(j);
	}
	assert_int_equal(i, 5);
	assert_non_null(strstr(err, "reading"));
	pub_close(&p);
}

static void test_gap_line_and_count_summary(void **state)
{
	struct pub_opts po = { .name = "tail-gap", .ring_bytes = 64 << 10,
			       .journal_entries = 1024, .no_logs = true };
	static char out[1 << 16], err[4096];
	char args[PATH_MAX + 128];
	struct pub p;
	json_t *j;

	assert_int_equal(pub_open(&p, *state, &po), 0);
	assert_int_equal(pub_events(&p, 3000), 0);	/* the journal keeps the last 1024 */
	snprintf(args, sizeof(args), "--ring %s --from first --count --expect 100 --timeout 20 "
		 "--quiet", p.path);
	assert_int_equal(run_tool(args, out, sizeof(out), err, sizeof(err)), 0);
	/* First the journal gap, then one known-offset gap per event the ring lost (no log),
	 * then the summary. */
	assert_non_null(strstr(out, "{\"gap\":{\"lost\":1976,\"offsets_known\":false}}"));
	assert_non_null(strstr(out, "{\"gap\":{\"lost\":1,\"partition\":0,\"offset\":1976}}"));
	j = json_loads(strrchr(out, '{'), 0, NULL);	/* the summary: the last, flat object */
	assert_non_null(j);
	assert_int_equal(json_integer_value(json_object_get(j, "received")), 100);
	assert_non_null(json_object_get(j, "p99_us"));
	json_decref(j);
	pub_close(&p);
}

static void test_errors(void **state)
{
	struct shm_fixture *f = *state;
	static char out[4096], err[4096];
	char args[PATH_MAX + 128];

	assert_int_equal(run_tool("--from first", out, sizeof(out), err, sizeof(err)), 2);
	assert_non_null(strstr(err, "exactly one of --ring and --topic"));
	assert_int_equal(run_tool("--ring x --socket y", out, sizeof(out), err, sizeof(err)), 2);
	assert_non_null(strstr(err, "go with --topic, not --ring"));
	assert_int_equal(run_tool("--server 127.0.0.1:1 --topic t", out, sizeof(out), err,
				  sizeof(err)), 2);
	assert_non_null(strstr(err, "--server is gone"));
	assert_int_equal(run_tool("--ring x --from middle", out, sizeof(out), err, sizeof(err)), 2);
	assert_non_null(strstr(err, "expected first or latest"));
	snprintf(args, sizeof(args), "--ring %s", f->data_dir);	/* a directory */
	assert_int_equal(run_tool(args, out, sizeof(out), err, sizeof(err)), 1);
	assert_non_null(strstr(err, f->data_dir));
	snprintf(args, sizeof(args), "--topic t --socket %s/none.sock", f->data_dir);
	assert_int_equal(run_tool(args, out, sizeof(out), err, sizeof(err)), 1);
	assert_non_null(strstr(err, "No such file or directory"));
	assert_non_null(strstr(err, "is fanoutd running"));
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_json_lines, shm_fixture_setup,
						shm_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_gap_line_and_count_summary, shm_fixture_setup,
						shm_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_errors, shm_fixture_setup,
						shm_fixture_teardown),
	};

	if (argc != 2) {
		fprintf(stderr, "usage: %s FANOUT_SHM_TAIL\n", argv[0]);
		return 2;
	}
	g_tool = argv[1];
	return cmocka_run_group_tests(tests, NULL, NULL);
}
