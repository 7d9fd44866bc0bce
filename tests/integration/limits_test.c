/* tests/integration/limits_test.c — topic creation is bounded through a real fanoutd:
 * per connection (a count and a rate), and by the process's descriptors and memory
 * mappings, each refusal an UNKNOWN_TOPIC naming the limit, given before the kernel
 * would fail an open or an mmap; existing topics and new connections carry on. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/integration/harness.h"

#define LIMITS_TOPICS_MAX 400	/* bounds every creation loop */

static int g_argc;
static char **g_argv;

/* Subscribes to topic (creating it); returns 0, or the Error's code with its message
 * checked to hold says. */
static int subscribe_to(struct client *c, uint32_t id, const char *topic, const char *says)
{
	Fanout__V1__ServerMessage *m = NULL;
	int rc = client_subscribe(c, id, topic, NULL, 0,
				  FANOUT__V1__START_POSITION__START_POSITION_LATEST, 0, &m);

	if (rc == 0) {
		client_free_msg(m);
		return 0;
	}
	assert_int_equal(rc, -EPROTO);
	assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_ERROR);
	if (says && !strstr(m->error->message, says))
		fail_msg("'%s' does not say '%s'", m->error->message, says);
	rc = m->error->code;
	client_free_msg(m);
	return rc;
}

/* Publishes one event to topic and returns 0 on its ack, or the Error's code (its
 * message holding says). */
static int publish_one(struct client *c, const char *topic, uint64_t seq, const char *says)
{
	Fanout__V1__Event ev, *ptr = &ev;
	Fanout__V1__Distribution d;
	Fanout__V1__MarketData md;
	Fanout__V1__ServerMessage *m;
	char buf[256];
	int rc = 0;

	make_event(&ev, &d, &md, buf, topic, (uint32_t)seq, 10);
	assert_int_equal(client_publish(c, seq, &ptr, 1), 0);
	m = recv_msg(c, 5000);
	if (m->body_case == FANOUT__V1__SERVER_MESSAGE__BODY_ERROR) {
		if (says && !strstr(m->error->message, says))
			fail_msg("'%s' does not say '%s'", m->error->message, says);
		rc = m->error->code;
	} else {
		assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_PUBLISH_ACK);
	}
	client_free_msg(m);
	return rc;
}

static void per_connection_count(void **state)
{
	struct server srv;
	struct client a, b;
	char topic[32];

	(void)state;
	server_setup(&srv, g_argc, g_argv);
	server_start(&srv, (const char *const[]){ "--max-topics-per-connection", "3",
						  "--topic-create-rate", "1000", NULL });
	server_connect(&srv, &a);
	server_connect(&srv, &b);
	for (int i = 0; i < 3; i++) {
		snprintf(topic, sizeof(topic), "a%d", i);
		assert_int_equal(publish_one(&a, topic, (uint64_t)i + 1, NULL), 0);
	}
	assert_int_equal(publish_one(&a, "a3", 9, "--max-topics-per-connection"),
			 FANOUT__V1__ERROR_CODE__ERROR_CODE_UNKNOWN_TOPIC);
	assert_int_equal(subscribe_to(&a, 1, "a4", "--max-topics-per-connection"),
			 FANOUT__V1__ERROR_CODE__ERROR_CODE_UNKNOWN_TOPIC);
	/* What exists stays usable by this connection; another connection has its own. */
	assert_int_equal(subscribe_to(&a, 2, "a0", NULL), 0);
	assert_int_equal(publish_one(&a, "a1", 10, NULL), 0);
	assert_int_equal(publish_one(&b, "a3", 1, NULL), 0);
	assert_int_equal(subscribe_to(&b, 1, "a3", NULL), 0);
	client_close(&a);
	client_close(&b);
	server_teardown(&srv);
}

static void per_connection_rate(void **state)
{
	struct server srv;
	struct client a;

	(void)state;
	server_setup(&srv, g_argc, g_argv);
	server_start(&srv, (const char *const[]){ "--max-topics-per-connection", "0",
						  "--topic-create-rate", "2", NULL });
	server_connect(&srv, &a);
	assert_int_equal(subscribe_to(&a, 1, "r1", NULL), 0);
	assert_int_equal(publish_one(&a, "r2", 1, NULL), 0);
	assert_int_equal(publish_one(&a, "r3", 2, "--topic-create-rate"),
			 FANOUT__V1__ERROR_CODE__ERROR_CODE_UNKNOWN_TOPIC);
	usleep(600 * 1000);	/* one creation every 500 ms */
	assert_int_equal(publish_one(&a, "r3", 3, NULL), 0);
	client_close(&a);
	server_teardown(&srv);
}

/* Creates topics with subscriptions (one per connection slot is plenty) until one is
 * refused; returns how many were made. The refusal must say says. */
static int create_until_refused(struct client *c, const char *says)
{
	char topic[32];
	int i, rc = 0;

	for (i = 0; i < LIMITS_TOPICS_MAX; i++) {
		snprintf(topic, sizeof(topic), "t%03d", i);
		rc = subscribe_to(c, (uint32_t)i + 1, topic, says);
		if (rc != 0)
			break;
	}
	if (rc != FANOUT__V1__ERROR_CODE__ERROR_CODE_UNKNOWN_TOPIC)
		fail_msg("%d topics made and no refusal naming '%s' (code %d)", i, says, rc);
	return i;
}

static const char *const bounded_args[] = {
	"--reactors", "1", "--max-connections", "16", "--max-subscriptions", "1000",
	"--max-topics-per-connection", "0", "--topic-create-rate", "1000000", NULL
};

/* An open-file limit just above what 16 connections and the server keep: a few topics
 * fit, the next is refused naming the limit, and connections still get in. */
static void descriptors_bound_topics(void **state)
{
	struct server srv;
	struct client a, more[8];
	int made;

	(void)state;
	server_setup(&srv, g_argc, g_argv);
	/* connections + the server's spare (256 and 1024 WebSocket streams) + a few topics */
	srv.nofile = 16 + 256 + 1024 + 48;
	server_start(&srv, bounded_args);
	server_connect(&srv, &a);
	made = create_until_refused(&a, "open-file limit");
	printf("# open-file limit %u: %d topics, then refused\n", srv.nofile, made);
	assert_true(made >= 1 && made < 40);
	for (int i = 0; i < 8; i++) {
		server_connect(&srv, &more[i]);
		ping_pong(&more[i], (uint64_t)i);
	}
	assert_int_equal(publish_one(&more[0], "t000", 1, NULL), 0);	/* a subscribes it */
	for (int i = 0; i < 8; i++)
		client_close(&more[i]);
	client_close(&a);
	server_teardown(&srv);
}

/* Mappings the server holds once serving, without topics. */
static long server_maps(const struct server *srv)
{
	char path[64];
	long n = 0;
	FILE *f;
	int c;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)srv->pid);
	f = fopen(path, "r");
	assert_non_null(f);
	while ((c = getc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

/* vm.max_map_count (as FANOUTD_MAX_MAP_COUNT: the system's is not touched) just above
 * what the server needs: topics are refused naming it, and what exists goes on. */
static void mappings_bound_topics(void **state)
{
	struct server srv;
	struct client a, b;
	char env[32];
	int made;

	(void)state;
	server_setup(&srv, g_argc, g_argv);
	server_start(&srv, bounded_args);
	/* Reserved: 2 per connection and 1024 (core/headroom.h); then room for ~10 topics. */
	snprintf(env, sizeof(env), "%ld", server_maps(&srv) + 16 * 2 + 1024 + 40);
	server_stop(&srv, SIGTERM);
	setenv("FANOUTD_MAX_MAP_COUNT", env, 1);
	server_start(&srv, bounded_args);
	unsetenv("FANOUTD_MAX_MAP_COUNT");
	server_connect(&srv, &a);
	made = create_until_refused(&a, "vm.max_map_count");
	printf("# max_map_count %s: %d topics, then refused\n", env, made);
	assert_true(made >= 10 && made < LIMITS_TOPICS_MAX);
	server_connect(&srv, &b);	/* a subscribes them: its own acks race the events */
	assert_int_equal(publish_one(&b, "t000", 1, NULL), 0);
	assert_int_equal(publish_one(&b, "t001", 2, NULL), 0);
	client_close(&b);
	client_close(&a);
	server_teardown(&srv);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(per_connection_count),
		cmocka_unit_test(per_connection_rate),
		cmocka_unit_test(descriptors_bound_topics),
		cmocka_unit_test(mappings_bound_topics),
	};

	g_argc = argc;
	g_argv = argv;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
