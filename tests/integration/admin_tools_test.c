/* tests/integration/admin_tools_test.c — fanoutctl and fanout-top against a running
 * fanoutd: every command, human and --json output, and the exit codes that say what
 * failed (0 done, 2 usage, 3 not found, 4 conflict, 5 refused, 6 unavailable, 7
 * unreachable). argv: fanoutd fanoutctl fanout-top. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/integration/admin_util.h"

static int g_argc;
static char **g_argv;
static const char *g_ctl, *g_top;
static char g_out[1 << 16];

/* Runs a tool with args (NULL-terminated), stdin from in_file (or /dev/null), stdout into
 * g_out. Returns its exit code. */
static int run(const char *in_file, const char *const *args)
{
	int fds[2], status;
	size_t len = 0;
	ssize_t r;
	pid_t pid;

	assert_int_equal(pipe(fds), 0);
	pid = fork();
	if (pid == 0) {
		int in = open(in_file ? in_file : "/dev/null", O_RDONLY);

		dup2(in, STDIN_FILENO);
		dup2(fds[1], STDOUT_FILENO);
		close(fds[0]);
		execv(args[0], (char *const *)args);
		_exit(127);
	}
	close(fds[1]);
	while (len + 1 < sizeof(g_out) && (r = read(fds[0], g_out + len, sizeof(g_out) - 1 - len)) > 0)
		len += (size_t)r;
	g_out[len] = '\0';
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

#define CTL(srv, ...) run(NULL, (const char *const[]){ g_ctl, "--server", (srv), __VA_ARGS__, NULL })

static void topics_and_rules(struct server *s)
{
	char rules[400];
	FILE *f;
	json_t *j;

	assert_int_equal(CTL(s->http, "topics", "create", "exec/fills", "--partitions", "2",
			     "--data-type", "execution", "--retention", "12h"), 0);
	assert_non_null(strstr(g_out, "exec/fills"));
	assert_int_equal(CTL(s->http, "topics", "create", "exec/fills"), 4);
	assert_int_equal(CTL(s->http, "topics", "create", "bad name"), 5);
	assert_int_equal(CTL(s->http, "topics", "ls"), 0);
	assert_non_null(strstr(g_out, "exec/fills"));
	assert_non_null(strstr(g_out, "12h"));
	assert_int_equal(CTL(s->http, "--json", "topics", "get", "exec/fills"), 0);
	j = json_loads(g_out, 0, NULL);
	assert_int_equal(json_integer_value(json_object_get(j, "partitions")), 2);
	json_decref(j);
	assert_int_equal(CTL(s->http, "topics", "get", "nope"), 3);
	assert_int_equal(CTL(s->http, "topics", "set", "exec/fills", "--disabled"), 0);
	assert_non_null(strstr(g_out, "enabled"));
	assert_int_equal(CTL(s->http, "topics", "set", "exec/fills", "--partitions", "9"), 4);
	snprintf(rules, sizeof(rules), "%s/rules.json", s->dir);
	f = fopen(rules, "w");
	fputs("[{\"name\": \"a\", \"source_topic\": \"in\", \"target_topic\": \"x\"},"
	      " {\"name\": \"b\", \"source_topic\": \"in2\", \"target_topic\": \"y\"}]", f);
	fclose(f);
	assert_int_equal(CTL(s->http, "rules", "add", rules), 0);
	assert_int_equal(CTL(s->http, "rules", "ls"), 0);
	assert_non_null(strstr(g_out, "in2"));
	assert_int_equal(CTL(s->http, "rules", "disable", "a"), 0);
	assert_int_equal(CTL(s->http, "--json", "rules", "ls"), 0);
	j = json_loads(g_out, 0, NULL);
	assert_int_equal(json_integer_value(json_object_get(j, "in_force_enabled")), 1);
	json_decref(j);
	assert_int_equal(CTL(s->http, "rules", "enable", "a"), 0);
	assert_int_equal(CTL(s->http, "rules", "rm", "a"), 0);
	assert_int_equal(CTL(s->http, "rules", "rm", "a"), 3);
	f = fopen(rules, "w");
	fputs("{\"name\": \"c\", \"target_topic\": \"t\", \"source_pattern\": \"x.>.y\"}", f);
	fclose(f);
	assert_int_equal(CTL(s->http, "rules", "add", rules), 5);
	assert_int_equal(run(rules, (const char *const[]){ g_ctl, "--server", s->http, "rules",
							    "add", "-", NULL }), 5);
}

static void subscriptions_and_stats(struct server *s)
{
	struct client c;
	Fanout__V1__ServerMessage *m;
	char id[64];
	json_t *j;

	server_connect(s, &c);
	assert_int_equal(client_subscribe(&c, 5, "exec/fills", NULL, 0,
					  FANOUT__V1__START_POSITION__START_POSITION_LATEST, 0, &m), 0);
	client_free_msg(m);
	assert_int_equal(CTL(s->http, "subs", "ls", "--topic", "exec/fills"), 0);
	assert_non_null(strstr(g_out, "exec/fills"));
	assert_int_equal(CTL(s->http, "--json", "subs", "ls"), 0);
	j = json_loads(g_out, 0, NULL);
	snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(
		json_array_get(json_object_get(j, "subscriptions"), 0), "id")));
	json_decref(j);
	assert_int_equal(CTL(s->http, "subs", "get", id), 0);
	assert_non_null(strstr(g_out, id));
	assert_int_equal(CTL(s->http, "stats"), 0);
	assert_non_null(strstr(g_out, "REACTOR"));
	assert_int_equal(CTL(s->http, "stats", "exec/fills"), 0);
	assert_non_null(strstr(g_out, "PARTITION"));
	assert_int_equal(run(NULL, (const char *const[]){ g_top, "--server", s->http, "--once",
							   NULL }), 0);
	assert_non_null(strstr(g_out, "TOPIC"));
	assert_int_equal(CTL(s->http, "topics", "rm", "exec/fills"), 4);	/* in use */
	assert_int_equal(CTL(s->http, "subs", "rm", id), 0);
	m = expect_error(&c, FANOUT__V1__ERROR_CODE__ERROR_CODE_SUBSCRIPTION_ENDED);
	client_free_msg(m);
	assert_int_equal(CTL(s->http, "subs", "get", "nope"), 3);
	assert_int_equal(CTL(s->http, "topics", "rm", "exec/fills", "--force"), 0);
	assert_int_equal(CTL(s->http, "topics", "get", "exec/fills"), 3);
	client_close(&c);
}

static void fanoutctl_against_a_running_server(void **state)
{
	struct server s;

	(void)state;
	server_setup(&s, g_argc, g_argv);
	server_start(&s, NULL);
	topics_and_rules(&s);
	subscriptions_and_stats(&s);
	assert_int_equal(CTL(s.http, "topics"), 2);
	assert_int_equal(CTL(s.http, "frobnicate"), 2);
	assert_int_equal(CTL("127.0.0.1:1", "topics", "ls"), 7);
	assert_int_equal(run(NULL, (const char *const[]){ g_top, "--server", "127.0.0.1:1",
							   "--once", NULL }), 1);
	assert_int_equal(WEXITSTATUS(server_stop(&s, SIGTERM)), 0);
	server_teardown(&s);
	/* The store away: 6. */
	server_setup(&s, g_argc, g_argv);
	server_start(&s, (const char *const[]){ "--pg-url", "postgresql://postgres@127.0.0.1:1/x",
						NULL });
	assert_int_equal(CTL(s.http, "topics", "ls"), 6);
	assert_int_equal(WEXITSTATUS(server_stop(&s, SIGTERM)), 0);
	server_teardown(&s);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(fanoutctl_against_a_running_server),
	};

	if (argc < 4) {
		fprintf(stderr, "usage: %s FANOUTD FANOUTCTL FANOUT_TOP\n", argv[0]);
		return 2;
	}
	g_argc = 2;
	g_argv = argv;
	g_ctl = argv[2];
	g_top = argv[3];
	return cmocka_run_group_tests(tests, NULL, NULL);
}
