/* tests/integration/reactors_test.c — fanoutd with two reactors. Publishers and
 * subscribers on different reactors: every event is delivered once to each subscription
 * that wants it, per key in order, whichever reactor owns its partition; the acks of
 * pipelined batches come back in order and before the answers behind them; a publisher
 * that vanishes with batches still being appended elsewhere harms nobody; the eventfd
 * wake-up path (kernels without MSG_RING) and zero-copy sends work the same. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/integration/harness.h"

#define EVENTS_PER_PUB 20000u
#define SYMBOLS        64u
#define BATCH          100u
#define WINDOW         20u	/* batches in flight per publisher */
#define CONNECT_TRIES  400	/* SO_REUSEPORT spreads connections at random */

static int g_argc;
static char **g_argv;

/* Connects until the kernel hands the connection to reactor `want`; fills *nreactors.
 * Returns 0, or -1 when it never did (not a cmocka assertion: threads call it too). */
static int connect_on(const char *addr, struct client *c, uint32_t want, uint32_t *nreactors)
{
	for (int i = 0; i < CONNECT_TRIES; i++) {
		Fanout__V1__ServerMessage *m = NULL;
		uint32_t got;

		if (client_connect(c, addr, 5000) < 0)
			return -1;
		if (client_hello(c, "reactors-test", 5000, &m) < 0) {
			client_free_msg(m);
			client_close(c);
			return -1;
		}
		got = m->hello->reactor;
		if (nreactors)
			*nreactors = m->hello->reactors;
		client_free_msg(m);
		if (got == want)
			return 0;
		client_close(c);
	}
	return -1;
}

static void connect_on_or_fail(struct server *s, struct client *c, uint32_t want)
{
	uint32_t n = 0;

	assert_int_equal(connect_on(s->addr, c, want, &n), 0);
	assert_int_equal(n, 2);
}

struct pub_job {
	const char *addr;
	const char *topic;
	uint32_t reactor;	/* to publish from */
	uint32_t first, n;	/* event seqs [first, first + n) */
	char why[160];		/* empty when everything was acked in order */
};

/* Publishes a job's events with WINDOW batches in flight; every ack must come in
 * sequence order with one offset per event. */
static void *pub_run(void *arg)
{
	struct pub_job *j = arg;
	static __thread Fanout__V1__Event ev[BATCH];
	static __thread Fanout__V1__Distribution dist[BATCH];
	static __thread Fanout__V1__MarketData md[BATCH];
	static __thread char bufs[BATCH][256];
	Fanout__V1__Event *ptrs[BATCH];
	uint64_t sent = 0, acked = 0, seq = 0, next_ack = 1;
	struct client c;

	if (connect_on(j->addr, &c, j->reactor, NULL) < 0) {
		snprintf(j->why, sizeof(j->why), "no connection on reactor %u", j->reactor);
		return NULL;
	}
	while (acked < j->n && !j->why[0]) {
		Fanout__V1__ServerMessage *m = NULL;

		while (sent < j->n && sent - acked < WINDOW * BATCH) {
			uint32_t k = j->n - sent < BATCH ? (uint32_t)(j->n - sent) : BATCH;

			for (uint32_t i = 0; i < k; i++) {
				make_event(&ev[i], &dist[i], &md[i], bufs[i], j->topic,
					   j->first + (uint32_t)sent + i, SYMBOLS);
				ptrs[i] = &ev[i];
			}
			if (client_publish(&c, ++seq, ptrs, k) < 0) {
				snprintf(j->why, sizeof(j->why), "publish send failed");
				break;
			}
			sent += k;
		}
		if (j->why[0] || client_recv(&c, &m, 10000) < 0) {
			if (!j->why[0])
				snprintf(j->why, sizeof(j->why), "no ack within 10 s");
			break;
		}
		if (m->body_case != FANOUT__V1__SERVER_MESSAGE__BODY_PUBLISH_ACK)
			snprintf(j->why, sizeof(j->why), "expected an ack, got body %d",
				 m->body_case);
		else if (m->publish_ack->sequence != next_ack++)
			snprintf(j->why, sizeof(j->why), "ack %llu out of order",
				 (unsigned long long)m->publish_ack->sequence);
		else
			acked += m->publish_ack->n_offsets;
		client_free_msg(m);
	}
	client_close(&c);
	return NULL;
}

static uint32_t seq_of(const Fanout__V1__Event *e)
{
	return (uint32_t)strtoul(e->event_id + 3, NULL, 10);	/* "ev-<seq>" */
}

/* A subscriber: which events it wants, which it got, the last seq per (publisher, key). */
struct sub_check {
	struct client c;
	bool (*wants)(uint32_t seq);
	uint8_t *seen;		/* per seq */
	uint32_t last[2][SYMBOLS];	/* seq + 1 of the last event, per publisher and symbol */
	uint32_t got, expect;
	uint32_t dups, out_of_order;
};

static bool wants_all(uint32_t seq)
{
	(void)seq;
	return true;
}

static bool wants_exact(uint32_t seq)
{
	return seq % SYMBOLS < 8;	/* symbols 0..7, subscribed by exact key */
}

static bool wants_nyse(uint32_t seq)
{
	return seq % SYMBOLS % 4 == 1;	/* "*.NYSE.trade" */
}

static void check_init(struct sub_check *k, bool (*wants)(uint32_t), uint32_t total)
{
	memset(k, 0, sizeof(*k));
	k->wants = wants;
	k->seen = calloc(total, 1);
	assert_non_null(k->seen);
	for (uint32_t s = 0; s < total; s++)
		k->expect += wants(s);
}

/* Receives until k has everything it wants (or 20 s pass without progress). */
static void check_drain(struct sub_check *k, uint32_t total)
{
	while (k->got < k->expect) {
		Fanout__V1__ServerMessage *m = NULL;
		uint32_t seq, pub, sym;

		assert_int_equal(client_recv(&k->c, &m, 20000), 0);
		assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_EVENT);
		seq = seq_of(m->event);
		assert_true(seq < total);
		assert_true(k->wants(seq));
		pub = seq >= EVENTS_PER_PUB;
		sym = seq % SYMBOLS;
		if (k->seen[seq])
			k->dups++;
		k->seen[seq] = 1;
		if (k->last[pub][sym] > seq)
			k->out_of_order++;
		k->last[pub][sym] = seq + 1;
		k->got++;
		client_free_msg(m);
	}
	assert_int_equal(k->dups, 0);
	assert_int_equal(k->out_of_order, 0);
	ping_pong(&k->c, 77);	/* and nothing more than it wanted is on its way */
}

static void subscribe_or_fail(struct sub_check *k, const char *topic, const char *const *pats,
			      size_t n)
{
	Fanout__V1__ServerMessage *m = NULL;

	assert_int_equal(client_subscribe(&k->c, 1, topic, pats, n,
					  FANOUT__V1__START_POSITION__START_POSITION_LATEST, 0, &m),
			 0);
	client_free_msg(m);
}

/* Two publishers (one per reactor), four subscribers spread over both: each gets
 * exactly its events, once, per publisher and key in order. */
static void two_reactors_run(const char *send_zc_bytes)
{
	static const char *const exact[] = {
		"S00000.NASDAQ.trade", "S00001.NYSE.trade", "S00002.ARCA.trade",
		"S00003.BATS.trade", "S00004.NASDAQ.trade", "S00005.NYSE.trade",
		"S00006.ARCA.trade", "S00007.BATS.trade",
	};
	static const char *const nyse[] = { "*.NYSE.trade" };
	const char *const extra[] = { "--reactors", "2", "--topic", "md:4", "--send-zc-bytes",
				      send_zc_bytes, NULL };
	const uint32_t total = 2 * EVENTS_PER_PUB;
	struct sub_check subs[4];
	struct pub_job jobs[2];
	pthread_t th[2];
	struct server s;

	server_setup(&s, g_argc, g_argv);
	server_start(&s, extra);
	check_init(&subs[0], wants_all, total);
	check_init(&subs[1], wants_all, total);
	check_init(&subs[2], wants_exact, total);
	check_init(&subs[3], wants_nyse, total);
	for (int i = 0; i < 4; i++)
		connect_on_or_fail(&s, &subs[i].c, (uint32_t)i % 2);
	subscribe_or_fail(&subs[0], "md", NULL, 0);
	subscribe_or_fail(&subs[1], "md", NULL, 0);
	subscribe_or_fail(&subs[2], "md", exact, 8);
	subscribe_or_fail(&subs[3], "md", nyse, 1);
	for (uint32_t i = 0; i < 2; i++) {
		jobs[i] = (struct pub_job){ .addr = s.addr, .topic = "md", .reactor = i,
					    .first = i * EVENTS_PER_PUB, .n = EVENTS_PER_PUB };
		assert_int_equal(pthread_create(&th[i], NULL, pub_run, &jobs[i]), 0);
	}
	for (int i = 0; i < 4; i++)
		check_drain(&subs[i], total);
	for (int i = 0; i < 2; i++) {
		pthread_join(th[i], NULL);
		if (jobs[i].why[0])
			fail_msg("publisher on reactor %d: %s", i, jobs[i].why);
	}
	for (int i = 0; i < 4; i++) {
		client_close(&subs[i].c);
		free(subs[i].seen);
	}
	assert_int_equal(WEXITSTATUS(server_stop(&s, SIGTERM)), 0);
	server_teardown(&s);
}

static void publishers_and_subscribers_on_different_reactors(void **state)
{
	(void)state;
	two_reactors_run("65536");
}

static void eventfd_wakeups_without_msg_ring(void **state)
{
	(void)state;
	setenv("FANOUTD_NO_MSG_RING", "1", 1);	/* inherited by the server */
	two_reactors_run("65536");
	unsetenv("FANOUTD_NO_MSG_RING");
}

/* Zero-copy sends (forced for loopback peers, from 1 KiB): a send completes only at the
 * kernel's notification, and every frame still arrives once and in order. */
static void zero_copy_sends_deliver_intact(void **state)
{
	(void)state;
	setenv("FANOUTD_SEND_ZC_LOCAL", "1", 1);
	two_reactors_run("1024");
	unsetenv("FANOUTD_SEND_ZC_LOCAL");
}

/* Sends n batches of BATCH events without waiting. */
static void send_batches(struct client *c, const char *topic, uint32_t n)
{
	static Fanout__V1__Event ev[BATCH];
	static Fanout__V1__Distribution dist[BATCH];
	static Fanout__V1__MarketData md[BATCH];
	static char bufs[BATCH][256];
	Fanout__V1__Event *ptrs[BATCH];

	for (uint32_t b = 0; b < n; b++) {
		for (uint32_t i = 0; i < BATCH; i++) {
			make_event(&ev[i], &dist[i], &md[i], bufs[i], topic, b * BATCH + i,
				   SYMBOLS);
			ptrs[i] = &ev[i];
		}
		assert_int_equal(client_publish(c, b + 1, ptrs, BATCH), 0);
	}
}

/* Thirty batches, most events for the other reactor's partitions, then a Ping without
 * waiting: thirty acks in order, each with dense offsets per partition, then the Pong. */
static void pipelined_acks_keep_their_order(void **state)
{
	const char *const extra[] = { "--reactors", "2", "--topic", "md:4", NULL };
	uint64_t next[4] = { 0 };
	struct server s;
	struct client c;

	(void)state;
	server_setup(&s, g_argc, g_argv);
	server_start(&s, extra);
	connect_on_or_fail(&s, &c, 0);
	send_batches(&c, "md", 30);
	for (uint64_t b = 1; b <= 30; b++) {
		Fanout__V1__ServerMessage *m = recv_msg(&c, 10000);

		assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_PUBLISH_ACK);
		assert_int_equal(m->publish_ack->sequence, b);
		assert_int_equal(m->publish_ack->n_offsets, BATCH);
		for (size_t i = 0; i < BATCH; i++) {
			uint32_t p = m->publish_ack->partitions[i];

			assert_true(p < 4);
			assert_int_equal(m->publish_ack->offsets[i], next[p]);	/* dense */
			next[p]++;
		}
		client_free_msg(m);
	}
	ping_pong(&c, 5);
	client_close(&c);
	server_teardown(&s);
}

/* A frame that is a publish by its first bytes but a Ping by protobuf's rules (the last
 * oneof member wins) is answered as a Ping, after the acks ahead of it. */
static void merged_frame_answered_in_order(void **state)
{
	const char *const extra[] = { "--reactors", "2", "--topic", "md:4", NULL };
	Fanout__V1__ClientMessage a = FANOUT__V1__CLIENT_MESSAGE__INIT;
	Fanout__V1__ClientMessage b = FANOUT__V1__CLIENT_MESSAGE__INIT;
	Fanout__V1__PublishBatch pb = FANOUT__V1__PUBLISH_BATCH__INIT;
	Fanout__V1__Ping ping = FANOUT__V1__PING__INIT;
	uint8_t raw[512];
	size_t la, lb, n;
	struct server s;
	struct client c;

	(void)state;
	server_setup(&s, g_argc, g_argv);
	server_start(&s, extra);
	connect_on_or_fail(&s, &c, 0);
	send_batches(&c, "md", 30);
	pb.sequence = 99;
	a.body_case = FANOUT__V1__CLIENT_MESSAGE__BODY_PUBLISH;
	a.publish = &pb;
	ping.nonce = 9;
	b.body_case = FANOUT__V1__CLIENT_MESSAGE__BODY_PING;
	b.ping = &ping;
	la = fanout__v1__client_message__pack(&a, raw + 1);
	lb = fanout__v1__client_message__pack(&b, raw + 1 + la);
	assert_true(la + lb < 128);
	raw[0] = (uint8_t)(la + lb);	/* a one-byte varint prefix */
	n = 1 + la + lb;
	assert_int_equal(client_send_raw(&c, raw, n), 0);
	for (uint64_t seq = 1; seq <= 30; seq++) {
		Fanout__V1__ServerMessage *m = recv_msg(&c, 10000);

		assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_PUBLISH_ACK);
		assert_int_equal(m->publish_ack->sequence, seq);
		client_free_msg(m);
	}
	{
		Fanout__V1__ServerMessage *m = recv_msg(&c, 10000);

		assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_PONG);
		assert_int_equal(m->pong->nonce, 9);
		client_free_msg(m);
	}
	client_close(&c);
	server_teardown(&s);
}

/* Reactors share their port with SO_REUSEPORT; another fanoutd must not join it, nor
 * append to the same data directory. */
static void second_server_is_refused(void **state)
{
	const char *const extra[] = { "--reactors", "2", NULL };
	char data[300], other[300];
	struct server s;

	(void)state;
	server_setup(&s, g_argc, g_argv);
	server_start(&s, extra);
	snprintf(data, sizeof(data), "%s/data", s.dir);
	snprintf(other, sizeof(other), "%s/other", s.dir);
	assert_int_equal(server_run_to_exit((const char *const[]){ s.binary, "--listen", "127.0.0.1:0",
		"--data-dir", data, "--quiet", NULL }), 1);	/* its data dir is locked */
	assert_int_equal(server_run_to_exit((const char *const[]){ s.binary, "--listen", s.addr,
		"--data-dir", other, "--reactors", "2", "--quiet", NULL }), 1);	/* its port */
	{
		struct client c;

		server_connect(&s, &c);
		ping_pong(&c, 1);	/* the first server is untouched */
		client_close(&c);
	}
	server_teardown(&s);
}

/* A publisher that leaves with batches still being appended by the other reactor: the
 * server goes on, and what it stored is consistent for the next reader. */
static void vanishing_publisher_harms_nobody(void **state)
{
	const char *const extra[] = { "--reactors", "2", "--topic", "md:4", NULL };
	struct server s;
	struct client c, sub;
	uint64_t offsets[1000];
	bool seen[1000] = { false };

	(void)state;
	server_setup(&s, g_argc, g_argv);
	server_start(&s, extra);
	for (int round = 0; round < 20; round++) {
		connect_on_or_fail(&s, &c, (uint32_t)round % 2);
		send_batches(&c, "md", 40);
		client_close(&c);	/* at once: batches are still crossing */
	}
	connect_on_or_fail(&s, &sub, 1);
	{
		Fanout__V1__ServerMessage *m = NULL;

		assert_int_equal(client_subscribe(&sub, 1, "md", NULL, 0,
						  FANOUT__V1__START_POSITION__START_POSITION_LATEST,
						  0, &m), 0);
		client_free_msg(m);
	}
	connect_on_or_fail(&s, &c, 0);
	publish_range(&c, "md", 900000, 1000, SYMBOLS, offsets);
	/* Batches of the vanished publishers may still be landing: their events may come
	 * first. The new publisher's must all come, each once. */
	for (uint32_t got = 0; got < 1000;) {
		Fanout__V1__ServerMessage *m = recv_msg(&sub, 10000);
		uint32_t k;

		assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_EVENT);
		if (seq_of(m->event) >= 900000) {
			k = seq_of(m->event) - 900000;
			assert_true(k < 1000 && !seen[k]);
			seen[k] = true;
			got++;
		}
		client_free_msg(m);
	}
	client_close(&c);
	client_close(&sub);
	assert_int_equal(WEXITSTATUS(server_stop(&s, SIGTERM)), 0);
	server_teardown(&s);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(publishers_and_subscribers_on_different_reactors),
		cmocka_unit_test(eventfd_wakeups_without_msg_ring),
		cmocka_unit_test(zero_copy_sends_deliver_intact),
		cmocka_unit_test(pipelined_acks_keep_their_order),
		cmocka_unit_test(vanishing_publisher_harms_nobody),
		cmocka_unit_test(merged_frame_answered_in_order),
		cmocka_unit_test(second_server_is_refused),
	};

	g_argc = argc;
	g_argv = argv;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
