/* tests/integration/pubsub_test.c — publish and subscribe through a real fanoutd:
 * pattern subscriptions receive exactly their events in offset order; the log survives
 * a clean restart and a kill -9; partitions keep per-key order. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/pattern.h"
#include "tests/integration/harness.h"

static int g_argc;
static char **g_argv;

#define SYMBOLS 100u

/* What one subscriber expects: the event sequence numbers matching its pattern. */
struct expect {
	const char *pattern;	/* NULL = everything */
	uint32_t *seqs;
	uint32_t n;
};

static void expect_build(struct expect *x, uint32_t total)
{
	struct pattern p;
	const char *why;

	x->seqs = calloc(total, sizeof(*x->seqs));
	assert_non_null(x->seqs);
	x->n = 0;
	if (x->pattern)
		assert_int_equal(pattern_compile(&p, x->pattern, strlen(x->pattern), &why), 0);
	for (uint32_t seq = 0; seq < total; seq++) {
		Fanout__V1__Event e;
		Fanout__V1__Distribution d;
		Fanout__V1__MarketData md;
		char buf[256];

		make_event(&e, &d, &md, buf, "t", seq, SYMBOLS);
		if (!x->pattern || pattern_match(&p, d.routing_key, strlen(d.routing_key)))
			x->seqs[x->n++] = seq;
	}
}

/* Reads a subscription stream until every expected event arrived, checking each one. */
static void expect_stream(struct client *c, const struct expect *x, const char *topic)
{
	uint64_t last_offset = 0;

	for (uint32_t i = 0; i < x->n; i++) {
		Fanout__V1__ServerMessage *m = recv_msg(c, 10000);
		Fanout__V1__Event *e;
		char want[32];

		if (m->body_case != FANOUT__V1__SERVER_MESSAGE__BODY_EVENT)
			fail_msg("%s: message %u is case %d, not an event", x->pattern, i, m->body_case);
		e = m->event;
		snprintf(want, sizeof(want), "ev-%u", x->seqs[i]);
		if (strcmp(e->event_id, want) != 0)
			fail_msg("pattern %s: event %u is %s, expected %s", x->pattern, i,
				 e->event_id, want);
		assert_string_equal(e->distribution->topic, topic);
		if (i > 0 && e->distribution->offset <= last_offset)
			fail_msg("offsets out of order: %llu after %llu",
				 (unsigned long long)e->distribution->offset,
				 (unsigned long long)last_offset);
		last_offset = e->distribution->offset;
		assert_true(e->receive_time_ns > 0);
		client_free_msg(m);
	}
}

static void subscribe_ok(struct client *c, uint32_t id, const char *topic, const char *pattern,
			 Fanout__V1__StartPosition start)
{
	Fanout__V1__ServerMessage *r = NULL;
	const char *pats[1] = { pattern };
	int rc = client_subscribe(c, id, topic, pats, pattern ? 1 : 0, start, 0, &r);

	if (rc < 0)
		fail_msg("subscribe %s: %d %s", pattern ? pattern : "(all)", rc,
			 r && r->body_case == FANOUT__V1__SERVER_MESSAGE__BODY_ERROR ?
			 r->error->message : "");
	client_free_msg(r);
}

static void three_subscribers_get_exactly_their_events(void **state)
{
	struct server srv;
	struct client pub, sub[3];
	struct expect x[3] = { { NULL }, { "S00007.*.trade" }, { "*.NYSE.>" } };
	const uint32_t total = 100000;

	(void)state;
	server_setup(&srv, g_argc, g_argv);
	server_start(&srv, NULL);
	for (int i = 0; i < 3; i++) {
		expect_build(&x[i], total);
		server_connect(&srv, &sub[i]);
		subscribe_ok(&sub[i], 1, "md", x[i].pattern,
			     FANOUT__V1__START_POSITION__START_POSITION_LATEST);
	}
	assert_int_equal(x[1].n, total / SYMBOLS);
	assert_int_equal(x[2].n, total / 4);
	server_connect(&srv, &pub);
	publish_range(&pub, "md", 0, total, SYMBOLS, NULL);
	for (int i = 0; i < 3; i++) {
		expect_stream(&sub[i], &x[i], "md");
		client_close(&sub[i]);
		free(x[i].seqs);
	}
	client_close(&pub);
	assert_int_equal(WEXITSTATUS(server_stop(&srv, SIGTERM)), 0);
	server_teardown(&srv);
}

/* Publishes, stops the server with sig, restarts it on the same data and reads from the
 * earliest offset: every acknowledged event is there, in order. */
static void survives_restart(int sig)
{
	struct server srv;
	struct client pub, sub;
	struct expect all = { NULL };
	const uint32_t total = 20000;
	uint64_t *offsets = calloc(total, sizeof(*offsets));
	const char *const small_segments[] = { "--segment-bytes", "262144",
						       "--max-frame-bytes", "65536", NULL };

	server_setup(&srv, g_argc, g_argv);
	server_start(&srv, small_segments);	/* forces several segment roll-overs */
	server_connect(&srv, &pub);
	publish_range(&pub, "restart", 0, total, SYMBOLS, offsets);
	for (uint32_t i = 0; i < total; i++)
		assert_int_equal(offsets[i], i);
	client_close(&pub);
	server_stop(&srv, sig);
	server_start(&srv, small_segments);
	expect_build(&all, total);
	server_connect(&srv, &sub);
	subscribe_ok(&sub, 7, "restart", NULL, FANOUT__V1__START_POSITION__START_POSITION_EARLIEST);
	expect_stream(&sub, &all, "restart");
	client_close(&sub);
	/* Appends continue after the recovered tail. */
	server_connect(&srv, &pub);
	publish_range(&pub, "restart", total, 10, SYMBOLS, offsets);
	assert_int_equal(offsets[0], total);
	client_close(&pub);
	free(all.seqs);
	free(offsets);
	server_teardown(&srv);
}

static void earliest_after_clean_restart(void **state)
{
	(void)state;
	survives_restart(SIGTERM);
}

static void earliest_after_kill_9(void **state)
{
	(void)state;
	survives_restart(SIGKILL);
}

/* A publisher that keeps sending while the server is told to stop; it counts the events
 * acknowledged before the connection ended. Runs on its own thread: no cmocka calls. */
struct busy_pub {
	struct client c;
	uint32_t acked;		/* events acknowledged, all with offset == their sequence */
	int rc;			/* how publishing ended; -EPROTO for a wrong ack */
	pthread_t thread;
};

static void *busy_pub_run(void *p)
{
	enum { BATCH = 100, WINDOW = 8 };
	static Fanout__V1__Event ev[BATCH];
	static Fanout__V1__Distribution d[BATCH];
	static Fanout__V1__MarketData md[BATCH];
	static char bufs[BATCH][256];
	Fanout__V1__Event *ptrs[BATCH];
	struct busy_pub *b = p;
	uint64_t batches = 0, answered = 0;

	for (;;) {
		Fanout__V1__ServerMessage *m = NULL;

		while (b->rc == 0 && batches - answered < WINDOW) {
			for (uint32_t i = 0; i < BATCH; i++) {
				make_event(&ev[i], &d[i], &md[i], bufs[i], "drain",
					   (uint32_t)(batches * BATCH + i), SYMBOLS);
				ptrs[i] = &ev[i];
			}
			b->rc = client_publish(&b->c, ++batches, ptrs, BATCH);
		}
		if (client_recv(&b->c, &m, 5000) < 0)
			return NULL;	/* the server closed: what was acked is what counts */
		if (m->body_case == FANOUT__V1__SERVER_MESSAGE__BODY_PUBLISH_ACK) {
			for (size_t i = 0; i < m->publish_ack->n_offsets; i++)
				if (m->publish_ack->offsets[i] != b->acked + i)
					b->rc = -EPROTO;
			b->acked += (uint32_t)m->publish_ack->n_offsets;
			answered++;
		}
		client_free_msg(m);
		if (b->rc == -EPROTO)
			return NULL;
	}
}

/* SIGTERM while a publisher is mid-stream: the server drains and exits 0, and every
 * event it acknowledged is in the log after a restart, in order. */
static void sigterm_loses_nothing_acknowledged(void **state)
{
	static struct busy_pub b;
	struct expect all = { NULL };
	struct server srv;
	struct client sub;
	int status;

	(void)state;
	memset(&b, 0, sizeof(b));
	server_setup(&srv, g_argc, g_argv);
	server_start(&srv, NULL);
	server_connect(&srv, &b.c);
	assert_int_equal(pthread_create(&b.thread, NULL, busy_pub_run, &b), 0);
	usleep(300 * 1000);
	status = server_stop(&srv, SIGTERM);
	pthread_join(b.thread, NULL);
	client_close(&b.c);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_not_equal(b.rc, -EPROTO);
	printf("# %u events acknowledged before the SIGTERM drain\n", b.acked);
	assert_true(b.acked > 0);
	server_start(&srv, NULL);
	expect_build(&all, b.acked);
	server_connect(&srv, &sub);
	subscribe_ok(&sub, 1, "drain", NULL, FANOUT__V1__START_POSITION__START_POSITION_EARLIEST);
	expect_stream(&sub, &all, "drain");	/* offsets 0.. in order, each its own event */
	client_close(&sub);
	free(all.seqs);
	server_teardown(&srv);
}

static void partitions_keep_per_key_order(void **state)
{
	struct server srv;
	struct client pub, sub;
	const char *const four[] = { "--topic", "multi:4", NULL };
	const uint32_t total = 20000;
	uint64_t next_offset[4] = { 0 };
	int64_t last_volume[SYMBOLS];
	uint32_t seen_parts = 0;

	(void)state;
	memset(last_volume, 0xff, sizeof(last_volume));
	server_setup(&srv, g_argc, g_argv);
	server_start(&srv, four);
	server_connect(&srv, &sub);
	subscribe_ok(&sub, 1, "multi", NULL, FANOUT__V1__START_POSITION__START_POSITION_LATEST);
	server_connect(&srv, &pub);
	publish_range(&pub, "multi", 0, total, SYMBOLS, NULL);
	for (uint32_t i = 0; i < total; i++) {
		Fanout__V1__ServerMessage *m = recv_msg(&sub, 10000);
		Fanout__V1__Event *e = m->event;
		uint32_t p, sym;

		assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_EVENT);
		p = e->distribution->partition;
		assert_true(p < 4);
		seen_parts |= 1u << p;
		assert_int_equal(e->distribution->offset, next_offset[p]);	/* dense */
		next_offset[p]++;
		sym = (uint32_t)atoi(e->market_data->symbol + 1);
		assert_true(sym < SYMBOLS);
		assert_true(e->market_data->volume > last_volume[sym]);	/* per-key order */
		last_volume[sym] = e->market_data->volume;
		client_free_msg(m);
	}
	assert_int_equal(seen_parts, 0xf);	/* 100 keys spread over all 4 partitions */
	client_close(&sub);
	client_close(&pub);
	server_teardown(&srv);
}

/* Subscribes to "multi" from starts[p] in partition p (n of them) and start_offset in the
 * rest; returns the server's answer (an Error or the SubscribeResult). */
static Fanout__V1__ServerMessage *subscribe_from(struct client *c, uint32_t id, int start,
						 const uint64_t *starts, size_t n,
						 uint64_t start_offset)
{
	Fanout__V1__Subscribe sb = FANOUT__V1__SUBSCRIBE__INIT;
	Fanout__V1__ServerMessage *m = NULL;

	sb.subscription_id = id;
	sb.topic = (char *)"multi";
	sb.start = (Fanout__V1__StartPosition)start;
	sb.start_offsets = (uint64_t *)starts;
	sb.n_start_offsets = n;
	sb.start_offset = start_offset;
	(void)client_subscribe_msg(c, &sb, &m);
	assert_non_null(m);
	return m;
}

/* A consumer resumes where it stopped in each partition (Subscribe.start_offsets): every
 * partition starts at its own offset, the ones past the list at start_offset, each
 * clamped into its log; a list longer than the partitions, or with another start, gets
 * BAD_START and the connection goes on. */
static void per_partition_start_offsets(void **state)
{
	struct server srv;
	struct client pub, sub;
	const char *const four[] = { "--topic", "multi:4", NULL };
	const uint32_t total = 4000;
	uint64_t tail[4] = { 0 }, next[4], starts[3], offsets[4000], want = 0;
	const uint64_t too_many[5] = { 0 };
	Fanout__V1__ServerMessage *m;

	(void)state;
	server_setup(&srv, g_argc, g_argv);
	server_start(&srv, four);
	server_connect(&srv, &pub);
	server_connect(&srv, &sub);
	publish_range(&pub, "multi", 0, total, SYMBOLS, offsets);
	/* Which partition got how many: the tails, from a latest subscription's positions. */
	m = subscribe_from(&sub, 9, FANOUT__V1__START_POSITION__START_POSITION_LATEST, NULL, 0, 0);
	assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_SUBSCRIBED);
	assert_int_equal(m->subscribed->n_positions, 4);
	for (size_t i = 0; i < 4; i++) {
		uint32_t p = m->subscribed->positions[i]->partition;

		assert_true(p < 4);
		tail[p] = m->subscribed->positions[i]->next_offset;
		assert_true(tail[p] > 40);	/* 100 keys spread over 4 partitions */
	}
	client_free_msg(m);
	starts[0] = 7;
	starts[1] = tail[1] - 3;
	starts[2] = tail[2] + 1000;	/* past the end: clamped to the tail */
	m = subscribe_from(&sub, 1, FANOUT__V1__START_POSITION__START_POSITION_OFFSET, starts, 3,
			   11);
	assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_SUBSCRIBED);
	for (size_t i = 0; i < m->subscribed->n_positions; i++) {
		uint32_t p = m->subscribed->positions[i]->partition;
		uint64_t at = p < 2 ? starts[p] : p == 2 ? tail[2] : 11;

		assert_int_equal(m->subscribed->positions[i]->next_offset, at);
		next[p] = at;
		want += tail[p] - at;
	}
	client_free_msg(m);
	assert_int_equal(want, (tail[0] - 7) + 3 + (tail[3] - 11));
	for (uint64_t i = 0; i < want; i++) {
		uint32_t p;

		m = recv_msg(&sub, 10000);
		assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_EVENT);
		p = m->event->distribution->partition;
		assert_true(p < 4);
		assert_int_equal(m->event->distribution->offset, next[p]);	/* its own start */
		next[p]++;
		client_free_msg(m);
	}
	ping_pong(&sub, 1);	/* and nothing else */
	for (uint32_t p = 0; p < 4; p++)
		assert_int_equal(next[p], tail[p]);

	m = subscribe_from(&sub, 2, FANOUT__V1__START_POSITION__START_POSITION_OFFSET, too_many,
			   5, 0);
	assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_ERROR);
	assert_int_equal(m->error->code, FANOUT__V1__ERROR_CODE__ERROR_CODE_BAD_START);
	assert_int_equal(m->error->subscription_id, 2);
	assert_non_null(strstr(m->error->message, "more partitions than the topic has"));
	client_free_msg(m);
	m = subscribe_from(&sub, 3, FANOUT__V1__START_POSITION__START_POSITION_EARLIEST, starts,
			   2, 0);
	assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_ERROR);
	assert_int_equal(m->error->code, FANOUT__V1__ERROR_CODE__ERROR_CODE_BAD_START);
	assert_non_null(strstr(m->error->message, "START_POSITION_OFFSET"));
	client_free_msg(m);
	ping_pong(&sub, 2);	/* the connection goes on */
	client_close(&sub);
	client_close(&pub);
	server_teardown(&srv);
}

/* A Subscribe from a time (START_POSITION_TIMESTAMP) on topic "multi". */
static Fanout__V1__ServerMessage *subscribe_at(struct client *c, uint32_t id, int start,
					       int64_t t_ns)
{
	Fanout__V1__Subscribe sb = FANOUT__V1__SUBSCRIBE__INIT;
	Fanout__V1__ServerMessage *m = NULL;

	sb.subscription_id = id;
	sb.topic = (char *)"multi";
	sb.start = (Fanout__V1__StartPosition)start;
	sb.start_time_ns = t_ns;
	(void)client_subscribe_msg(c, &sb, &m);
	assert_non_null(m);
	return m;
}

/* Receives events ev-first .. ev-(first + n - 1), each exactly copies times (once per
 * subscription; any order across partitions), then nothing. */
static void expect_wave(struct client *c, uint32_t first, uint32_t n, uint32_t copies,
			uint64_t nonce)
{
	uint8_t *seen = calloc(n, 1);

	assert_non_null(seen);
	for (uint32_t i = 0; i < n * copies; i++) {	/* n * copies events, none over: each */
		Fanout__V1__ServerMessage *m = recv_msg(c, 10000);
		uint32_t seq;

		assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_EVENT);
		seq = (uint32_t)strtoul(m->event->event_id + 3, NULL, 10);	/* "ev-<seq>" */
		if (seq < first || seq >= first + n)
			fail_msg("event %u: not of wave %u..%u", seq, first, first + n - 1);
		if (++seen[seq - first] > copies)
			fail_msg("event %u more than %u times", seq, copies);
		client_free_msg(m);
	}
	free(seen);
	ping_pong(c, nonce);
}

static int64_t realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* From a time: in every partition, the first event received at or after it (a binary
 * search of the index): a wave published after the time and nothing before, the same
 * after a restart; a time past every event is the live stream; a time missing, or given
 * with another start position, is BAD_START and the connection goes on. */
static void start_at_a_time(void **state)
{
	struct server srv;
	struct client pub, sub;
	const char *const four[] = { "--topic", "multi:4", NULL };
	Fanout__V1__ServerMessage *m;
	int64_t t_mid, t_end;

	(void)state;
	server_setup(&srv, g_argc, g_argv);
	server_start(&srv, four);
	server_connect(&srv, &pub);
	publish_range(&pub, "multi", 0, 3000, SYMBOLS, NULL);	/* before */
	usleep(20000);
	t_mid = realtime_ns();
	usleep(20000);
	publish_range(&pub, "multi", 3000, 2000, SYMBOLS, NULL);	/* after */
	usleep(20000);
	t_end = realtime_ns();
	server_connect(&srv, &sub);
	m = subscribe_at(&sub, 1, FANOUT__V1__START_POSITION__START_POSITION_TIMESTAMP, t_mid);
	assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_SUBSCRIBED);
	client_free_msg(m);
	expect_wave(&sub, 3000, 2000, 1, 1);
	m = subscribe_at(&sub, 2, FANOUT__V1__START_POSITION__START_POSITION_TIMESTAMP, t_end);
	assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_SUBSCRIBED);
	client_free_msg(m);
	ping_pong(&sub, 2);	/* past every event: nothing yet */
	publish_range(&pub, "multi", 5000, 10, SYMBOLS, NULL);
	expect_wave(&sub, 5000, 10, 2, 3);	/* each of the ten, to both subscriptions */
	m = subscribe_at(&sub, 3, FANOUT__V1__START_POSITION__START_POSITION_TIMESTAMP, 0);
	assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_ERROR);
	assert_int_equal(m->error->code, FANOUT__V1__ERROR_CODE__ERROR_CODE_BAD_START);
	assert_non_null(strstr(m->error->message, "start_time_ns"));
	client_free_msg(m);
	m = subscribe_at(&sub, 4, FANOUT__V1__START_POSITION__START_POSITION_LATEST, t_mid);
	assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_ERROR);
	assert_int_equal(m->error->code, FANOUT__V1__ERROR_CODE__ERROR_CODE_BAD_START);
	assert_non_null(strstr(m->error->message, "START_POSITION_TIMESTAMP"));
	client_free_msg(m);
	ping_pong(&sub, 4);	/* the connection goes on */
	client_close(&sub);
	client_close(&pub);
	assert_int_equal(WEXITSTATUS(server_stop(&srv, SIGTERM)), 0);
	/* The receive times are in the index on disk: the same answer after a restart. */
	server_start(&srv, four);
	server_connect(&srv, &sub);
	m = subscribe_at(&sub, 1, FANOUT__V1__START_POSITION__START_POSITION_TIMESTAMP, t_mid);
	assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_SUBSCRIBED);
	client_free_msg(m);
	expect_wave(&sub, 3000, 2010, 1, 5);
	client_close(&sub);
	server_teardown(&srv);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(three_subscribers_get_exactly_their_events),
		cmocka_unit_test(earliest_after_clean_restart),
		cmocka_unit_test(earliest_after_kill_9),
		cmocka_unit_test(sigterm_loses_nothing_acknowledged),
		cmocka_unit_test(partitions_keep_per_key_order),
		cmocka_unit_test(per_partition_start_offsets),
		cmocka_unit_test(start_at_a_time),
	};

	g_argc = argc;
	g_argv = argv;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
