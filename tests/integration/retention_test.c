/* tests/integration/retention_test.c — topic retention through a real server with 96 KiB
 * segments: by size, exactly the oldest whole sealed segments go (their files and
 * nothing else; the topic's stats say what is kept and what went), a subscriber from the
 * earliest starts at the new first offset, and a restart keeps the cut; by time, every
 * sealed segment goes once old, and a named subscription that had not acked them is told
 * of the gap (a Gap message, then the events after it); with --retention-mode
 * subscriptions_win they wait for the subscription's acks; bad policies are refused. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/integration/admin_util.h"

#define SEG 98304u

static int g_argc;
static char **g_argv;
static struct server g_srv;
static const char *const g_args[] = { "--segment-bytes", "98304", "--max-frame-bytes", "32768",
				      NULL };
static const char *const g_keep_args[] = { "--segment-bytes", "98304", "--max-frame-bytes",
					   "32768", "--retention-mode", "subscriptions_win",
					   NULL };

static int setup(void **state)
{
	(void)state;
	server_setup(&g_srv, g_argc, g_argv);
	server_start(&g_srv, g_args);
	return 0;
}

static int setup_keep(void **state)
{
	(void)state;
	server_setup(&g_srv, g_argc, g_argv);
	server_start(&g_srv, g_keep_args);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	server_teardown(&g_srv);
	return 0;
}

static void make_topic(const char *name, const char *policy)
{
	char body[256];

	snprintf(body, sizeof(body), "{\"topic_name\": \"%s\", \"partitions\": 1, "
		 "\"retention_policy\": \"%s\"}", name, policy);
	json_decref(api_expect(&g_srv, "POST", "/api/v1/topics", body, 201));
}

/* Partition 0's stats field (an integer). */
static long long part_stat(const char *topic, const char *field)
{
	char path[256];
	json_t *j, *v;
	long long n;

	snprintf(path, sizeof(path), "/api/v1/topics/%s/stats", topic);
	j = api_expect(&g_srv, "GET", path, NULL, 200);
	v = json_object_get(json_object_get(json_object_get(j, "partitions"), "0"), field);
	assert_true(json_is_integer(v));
	n = json_integer_value(v);
	json_decref(j);
	return n;
}

/* Polls partition 0's firstOffset until it passes above (bounded: 10 s). */
static long long wait_first_above(const char *topic, long long above)
{
	long long first = 0;

	for (int i = 0; i < 100 && (first = part_stat(topic, "firstOffset")) <= above; i++)
		admin_sleep_ms(100);
	return first;
}

/* The base offsets of the partition's segment files, sorted; returns how many. */
static uint32_t segment_files(const char *topic, uint64_t *bases, uint32_t cap)
{
	char dir[512];
	struct dirent *de;
	uint32_t n = 0;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/data/topics/%s/0", g_srv.dir, topic);
	d = opendir(dir);
	assert_non_null(d);
	while ((de = readdir(d))) {
		unsigned long long b;
		char ext[8];

		if (sscanf(de->d_name, "%20llu.%3s", &b, ext) == 2 && !strcmp(ext, "log")) {
			assert_true(n < cap);
			bases[n++] = b;
		}
	}
	closedir(d);
	for (uint32_t i = 1; i < n; i++)	/* insertion sort: a few dozen */
		for (uint32_t k = i; k > 0 && bases[k - 1] > bases[k]; k--) {
			uint64_t t = bases[k];

			bases[k] = bases[k - 1];
			bases[k - 1] = t;
		}
	return n;
}

/* The first event a subscriber from the earliest gets: its offset. */
static uint64_t earliest_offset(const char *topic)
{
	struct client c;
	Fanout__V1__ServerMessage *m;
	uint64_t o;

	server_connect(&g_srv, &c);
	assert_int_equal(client_subscribe(&c, 1, topic, NULL, 0,
					  FANOUT__V1__START_POSITION__START_POSITION_EARLIEST, 0,
					  NULL), 0);
	m = recv_msg(&c, 5000);
	assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_EVENT);
	o = m->event->distribution->offset;
	client_free_msg(m);
	client_close(&c);
	return o;
}

/* By size: the oldest whole segments go while the rest hold 128 KiB without them. */
static void size_retention_deletes_the_oldest_segments(void **state)
{
	uint64_t bases[256];
	uint32_t nfiles;
	long long first, storage, deleted, segs;
	struct client pub;

	(void)state;
	make_topic("sized", "128KB");
	server_connect(&g_srv, &pub);
	publish_range(&pub, "sized", 0, 6000, 50, NULL);	/* ~ 15 segments */
	client_close(&pub);
	first = wait_first_above("sized", 0);
	admin_sleep_ms(1500);	/* a pass more: nothing else goes */
	assert_int_equal(part_stat("sized", "firstOffset"), first);
	storage = part_stat("sized", "storageSize");
	deleted = part_stat("sized", "retentionDeletedEvents");
	segs = part_stat("sized", "segments");
	print_message("first offset %lld, %lld segments kept, storage %lld bytes\n", first, segs,
		      storage);
	assert_int_equal(deleted, first);	/* every event below first, nothing else */
	/* What is kept holds the bound; one segment less would not. */
	assert_true(storage >= 128 * 1024);
	assert_true(storage < 128 * 1024 + 2 * SEG);
	/* The files: the first kept segment starts at first; none below it. */
	nfiles = segment_files("sized", bases, 256);
	assert_int_equal(nfiles, (uint32_t)segs);
	assert_int_equal(bases[0], (uint64_t)first);
	assert_int_equal(earliest_offset("sized"), (uint64_t)first);
	/* A restart keeps the cut. */
	server_stop(&g_srv, SIGTERM);
	server_start(&g_srv, g_args);
	for (int i = 0; i < 50 && part_stat("sized", "nextOffset") == 0; i++)
		admin_sleep_ms(100);
	assert_int_equal(part_stat("sized", "firstOffset"), first);
	assert_int_equal(earliest_offset("sized"), (uint64_t)first);
}

/* Subscribes a named (EXCLUSIVE) subscription; returns the SubscribeResult message. */
static Fanout__V1__ServerMessage *sub_named(struct client *c, const char *topic,
					    const char *name)
{
	Fanout__V1__Subscribe sb = FANOUT__V1__SUBSCRIBE__INIT;
	Fanout__V1__ServerMessage *m = NULL;

	sb.subscription_id = 1;
	sb.topic = (char *)topic;
	sb.subscription_name = (char *)name;
	sb.start = FANOUT__V1__START_POSITION__START_POSITION_EARLIEST;
	(void)client_subscribe_msg(c, &sb, &m);
	assert_non_null(m);
	assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_SUBSCRIBED);
	return m;
}

/* A named subscription is sent 20 events, acks through offset 9 and goes; many events later, the old segments. */
static void publish_past_a_named_cursor(const char *topic)
{
	struct client c, pub;

	server_connect(&g_srv, &pub);
	publish_range(&pub, topic, 0, 20, 50, NULL);
	server_connect(&g_srv, &c);
	client_free_msg(sub_named(&c, topic, "slow"));
	for (int i = 0; i < 20; i++)	/* all 20, but only 0..9 acked */
		client_free_msg(recv_msg(&c, 5000));
	assert_int_equal(client_ack(&c, 1, 0, 9), 0);
	ping_pong(&c, 1);
	client_close(&c);
	publish_range(&pub, topic, 20, 4000, 50, NULL);	/* ~ 10 segments */
	client_close(&pub);
}

/* By time (retention_wins): every sealed segment goes once its events are 2 s old, the
 * named subscription's unacked ones too; it is told: a Gap, then the events after. */
static void time_retention_tells_a_named_subscription_of_the_gap(void **state)
{
	struct client c;
	Fanout__V1__ServerMessage *m;
	long long first;

	(void)state;
	make_topic("timed", "2s");
	publish_past_a_named_cursor("timed");
	first = wait_first_above("timed", 10);
	assert_true(first > 10);
	assert_int_equal(part_stat("timed", "segments"), 1);	/* the writer's alone */
	server_connect(&g_srv, &c);
	m = sub_named(&c, "timed", "slow");
	assert_true(m->subscribed->resumed);
	assert_int_equal(m->subscribed->positions[0]->next_offset, (uint64_t)first);
	client_free_msg(m);
	m = recv_msg(&c, 5000);
	assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_GAP);
	assert_int_equal(m->gap->subscription_id, 1);
	assert_string_equal(m->gap->topic, "timed");
	assert_int_equal(m->gap->partition, 0);
	assert_int_equal(m->gap->first_offset, 10);	/* after its last ack */
	assert_int_equal(m->gap->end_offset, (uint64_t)first);
	client_free_msg(m);
	m = recv_msg(&c, 5000);
	assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_EVENT);
	assert_int_equal(m->event->distribution->offset, (uint64_t)first);
	client_free_msg(m);
	client_close(&c);
}

/* subscriptions_win: the segments the named subscription has not passed stay until it
 * acks; then they go. */
static void subscriptions_win_keeps_what_a_cursor_needs(void **state)
{
	struct client c;
	Fanout__V1__ServerMessage *m;
	uint64_t last = 0;

	(void)state;
	make_topic("kept", "2s");
	publish_past_a_named_cursor("kept");
	admin_sleep_ms(3500);	/* out of retention, and passes since */
	assert_true(part_stat("kept", "firstOffset") <= 10);	/* offset 10 is still there */
	assert_true(part_stat("kept", "segments") > 1);
	server_connect(&g_srv, &c);
	m = sub_named(&c, "kept", "slow");
	assert_int_equal(m->subscribed->positions[0]->next_offset, 10);
	client_free_msg(m);
	for (uint64_t i = 10; i < 4020; i++) {	/* every event, no gap */
		m = recv_msg(&c, 5000);
		assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_EVENT);
		assert_int_equal(m->event->distribution->offset, i);
		last = i;
		client_free_msg(m);
	}
	assert_int_equal(client_ack(&c, 1, 0, last), 0);
	ping_pong(&c, 2);
	assert_true(wait_first_above("kept", 10) > 10);	/* acked: they go */
	client_close(&c);
}

static void bad_policies_are_refused(void **state)
{
	static const char *const bad[] = { "forever", "0d", "7x", "7d,8d", "1GB,2MB", "7d,",
					   ",7d", "d", "99999999999999999999d",
					   "16777216TB" };
	char body[256];
	json_t *j;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(body, sizeof(body), "{\"topic_name\": \"b%zu\", \"retention_policy\": "
			 "\"%s\"}", i, bad[i]);
		api_error(&g_srv, "POST", "/api/v1/topics", body, 400, "INVALID_FIELD",
			  "retention_policy");
	}
	make_topic("good", "7d,20GB");
	j = api_expect(&g_srv, "PUT", "/api/v1/topics/good", "{\"retention_policy\": \"1h\"}",
		       200);
	json_decref(j);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(size_retention_deletes_the_oldest_segments, setup,
						teardown),
		cmocka_unit_test_setup_teardown(time_retention_tells_a_named_subscription_of_the_gap,
						setup, teardown),
		cmocka_unit_test_setup_teardown(subscriptions_win_keeps_what_a_cursor_needs,
						setup_keep, teardown),
		cmocka_unit_test_setup_teardown(bad_policies_are_refused, setup, teardown),
	};

	g_argc = argc;
	g_argv = argv;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
