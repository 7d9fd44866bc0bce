/* tests/integration/idempotent_test.c — idempotent publish through a real server: a
 * producer (Hello.producer_id) that sends a batch again — after reading its ack, after
 * dropping the connection before the ack, after the server was SIGKILLed and restarted —
 * gets the first ack's offsets and the log holds each event once, stamped with the
 * producer, epoch, sequence and index; a server SIGKILLed at random moments while big
 * batches are in flight (over two reactors: some batches part-stored) loses nothing and
 * stores nothing twice once the producer has sent everything again; epochs fence older
 * connections; bad ids, sequence 0, a reused sequence with another size, a forgotten
 * sequence and a publisher-set stamp are refused; a batch refused for now holds the
 * later ones (OUT_OF_ORDER) until sent again; `fanout-pub --producer` rides out a
 * server SIGKILLed and restarted three times under it and stores every event once. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/integration/admin_util.h"

#define TOPIC "fills"
#define PARTS 4u
#define BATCH_MAX 600u

static int g_argc;
static char **g_argv;
static struct server g_srv;
static const char *const g_args[] = { "--topic", TOPIC ":4", "--reactors", "2", "--no-http",
				      NULL };

static int setup(void **state)
{
	(void)state;
	server_setup(&g_srv, g_argc, g_argv);
	server_start(&g_srv, g_args);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	server_teardown(&g_srv);
	unsetenv("FANOUT_TEST_KILL_AT_SEQUENCE");	/* a test that failed half-way */
	return 0;
}

/* Hello as producer id at epoch; returns the server's answer. */
static Fanout__V1__ServerMessage *hello_as(struct client *c, const char *id, uint64_t epoch)
{
	Fanout__V1__Hello h = FANOUT__V1__HELLO__INIT;
	Fanout__V1__ServerMessage *m = NULL;

	h.protocol_version = 1;
	h.client_name = "idempotent-test";
	h.producer_id = (char *)id;
	h.producer_epoch = epoch;
	if (client_hello_msg(c, &h, 10000, &m) < 0 && !m)
		fail_msg("hello as %s: no answer", id);
	return m;
}

/* A connection publishing as id at epoch (fails the test if refused). */
static void producer_connect(struct client *c, const char *id, uint64_t epoch)
{
	Fanout__V1__ServerMessage *m;

	server_connect(&g_srv, c);
	m = hello_as(c, id, epoch);
	if (m->body_case == FANOUT__V1__SERVER_MESSAGE__BODY_ERROR)
		fail_msg("hello as %s: error %d: %s", id, m->error->code, m->error->message);
	assert_int_equal(m->hello->producer_epoch, epoch);
	client_free_msg(m);
}

/* Sends batch seq of n events numbered from first (event ids "ev-<number>"). */
static void send_batch(struct client *c, uint64_t seq, uint32_t first, uint32_t n)
{
	static Fanout__V1__Event ev[BATCH_MAX];
	static Fanout__V1__Distribution dist[BATCH_MAX];
	static Fanout__V1__MarketData md[BATCH_MAX];
	static char bufs[BATCH_MAX][256];
	Fanout__V1__Event *ptrs[BATCH_MAX];

	assert_true(n <= BATCH_MAX);
	for (uint32_t i = 0; i < n; i++) {
		make_event(&ev[i], &dist[i], &md[i], bufs[i], TOPIC, first + i, 97);
		ptrs[i] = &ev[i];
	}
	assert_int_equal(client_publish(c, seq, ptrs, n), 0);
}

struct ack {
	bool have;
	uint32_t n;
	uint32_t part[BATCH_MAX];
	uint64_t off[BATCH_MAX];
};

/* Takes a PublishAck into a (or, when a already has one, checks it is the same). */
static void ack_take(struct ack *a, const Fanout__V1__PublishAck *pa)
{
	assert_int_equal(pa->n_offsets, pa->n_partitions);
	if (a->have) {
		assert_int_equal(pa->n_offsets, a->n);
		for (uint32_t i = 0; i < a->n; i++) {
			assert_int_equal(pa->partitions[i], a->part[i]);
			assert_int_equal(pa->offsets[i], a->off[i]);
		}
		return;
	}
	assert_true(pa->n_offsets <= BATCH_MAX);
	a->have = true;
	a->n = (uint32_t)pa->n_offsets;
	for (uint32_t i = 0; i < a->n; i++) {
		assert_true(pa->offsets[i] != UINT64_MAX);
		a->part[i] = pa->partitions[i];
		a->off[i] = pa->offsets[i];
	}
}

/* The next message must be the ack of seq; returns it. */
static Fanout__V1__ServerMessage *expect_ack(struct client *c, uint64_t seq)
{
	Fanout__V1__ServerMessage *m = recv_msg(c, 10000);

	if (m->body_case == FANOUT__V1__SERVER_MESSAGE__BODY_ERROR)
		fail_msg("batch %llu: error %d: %s", (unsigned long long)seq, m->error->code,
			 m->error->message);
	assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_PUBLISH_ACK);
	assert_int_equal(m->publish_ack->sequence, seq);
	return m;
}

/* The next message must be the ack of seq: taken into a. */
static void take_ack(struct client *c, uint64_t seq, struct ack *a)
{
	Fanout__V1__ServerMessage *m = expect_ack(c, seq);

	ack_take(a, m->publish_ack);
	client_free_msg(m);
}

/* Sends batch seq and takes its ack into a. */
static void send_acked(struct client *c, uint64_t seq, uint32_t first, uint32_t n,
		       struct ack *a)
{
	send_batch(c, seq, first, n);
	take_ack(c, seq, a);
}

/* Sends batch seq again until it is acked: an earlier connection may still be storing
 * it (SEQUENCE_IN_FLIGHT, bounded). */
static void resend_until_acked(struct client *c, uint64_t seq, uint32_t first, uint32_t n,
			       struct ack *a)
{
	for (int tries = 0; tries < 200; tries++) {
		Fanout__V1__ServerMessage *m;

		send_batch(c, seq, first, n);
		m = recv_msg(c, 10000);
		if (m->body_case == FANOUT__V1__SERVER_MESSAGE__BODY_PUBLISH_ACK) {
			assert_int_equal(m->publish_ack->sequence, seq);
			ack_take(a, m->publish_ack);
			client_free_msg(m);
			return;
		}
		assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_ERROR);
		if (m->error->code != FANOUT__V1__ERROR_CODE__ERROR_CODE_SEQUENCE_IN_FLIGHT)
			fail_msg("batch %llu: error %d: %s", (unsigned long long)seq,
				 m->error->code, m->error->message);
		client_free_msg(m);
		usleep(20000);
	}
	fail_msg("batch %llu stayed in flight", (unsigned long long)seq);
}

/* A connection subscribed to the whole topic from its first event. */
static void subscribe_earliest(struct client *c)
{
	Fanout__V1__ServerMessage *r = NULL;

	server_connect(&g_srv, c);
	assert_int_equal(client_subscribe(c, 1, TOPIC, NULL, 0,
					  FANOUT__V1__START_POSITION__START_POSITION_EARLIEST, 0,
					  &r), 0);
	client_free_msg(r);
}

/* Reads the whole topic from the start: seen[k] counts event number k, which must sit
 * where acks[] said (batch k / per, entry k % per) and carry its producer stamp. Returns
 * the events read. */
static uint32_t read_all(uint32_t total, uint32_t per, const struct ack *acks,
			 const char *producer, uint64_t epoch, uint8_t *seen)
{
	struct client c;
	uint32_t got = 0;

	subscribe_earliest(&c);
	memset(seen, 0, total);
	for (;;) {
		Fanout__V1__ServerMessage *m = NULL;
		const Fanout__V1__Event *e;
		uint32_t k, b, i;

		if (client_recv(&c, &m, got < total ? 10000 : 500) == -ETIMEDOUT)
			break;
		assert_non_null(m);
		assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_EVENT);
		e = m->event;
		assert_int_equal(sscanf(e->event_id, "ev-%u", &k), 1);
		assert_true(k < total);
		seen[k]++;
		got++;
		b = k / per;
		i = k % per;
		assert_non_null(e->producer);
		assert_string_equal(e->producer->producer_id, producer);
		assert_int_equal(e->producer->epoch, epoch);
		assert_int_equal(e->producer->sequence, b + 1);
		assert_int_equal(e->producer->index, i);
		if (acks && acks[b].have) {	/* where its ack said */
			assert_int_equal(e->distribution->partition, acks[b].part[i]);
			assert_int_equal(e->distribution->offset, acks[b].off[i]);
		}
		client_free_msg(m);
	}
	client_close(&c);
	return got;
}

static void expect_each_once(const uint8_t *seen, uint32_t total)
{
	for (uint32_t k = 0; k < total; k++)
		if (seen[k] != 1)
			fail_msg("event %u stored %u times", k, seen[k]);
}

/* Acked, sent again on the same and on a new connection, dropped before the ack and
 * sent again: the first offsets every time, each event stored once. */
static void test_resend_gets_first_offsets(void **state)
{
	static struct ack acks[3];
	uint8_t seen[300];
	struct client c;

	(void)state;
	memset(acks, 0, sizeof(acks));
	producer_connect(&c, "gateway-1", 1);
	send_acked(&c, 1, 0, 100, &acks[0]);
	send_acked(&c, 1, 0, 100, &acks[0]);	/* at once, same connection */
	send_acked(&c, 2, 100, 100, &acks[1]);
	send_batch(&c, 3, 200, 100);
	client_close(&c);	/* before its ack */

	producer_connect(&c, "gateway-1", 1);
	resend_until_acked(&c, 3, 200, 100, &acks[2]);
	resend_until_acked(&c, 1, 0, 100, &acks[0]);
	resend_until_acked(&c, 2, 100, 100, &acks[1]);
	client_close(&c);
	assert_int_equal(read_all(300, 100, acks, "gateway-1", 1, seen), 300);
	expect_each_once(seen, 300);
}

/* After a SIGKILL and a restart: a batch sent again is answered from the record. */
static void test_resend_after_restart(void **state)
{
	static struct ack acks[4];
	uint8_t seen[400];
	struct client c;

	(void)state;
	memset(acks, 0, sizeof(acks));
	producer_connect(&c, "gateway-2", 7);
	for (uint32_t b = 0; b < 3; b++)
		send_acked(&c, b + 1, b * 100, 100, &acks[b]);
	client_close(&c);
	server_stop(&g_srv, SIGKILL);
	server_start(&g_srv, g_args);
	producer_connect(&c, "gateway-2", 7);
	for (uint32_t b = 0; b < 3; b++)
		resend_until_acked(&c, b + 1, b * 100, 100, &acks[b]);
	resend_until_acked(&c, 4, 300, 100, &acks[3]);	/* new: stored */
	client_close(&c);
	assert_int_equal(read_all(400, 100, acks, "gateway-2", 7, seen), 400);
	expect_each_once(seen, 400);
}

#define KILL_BATCHES 24u
#define KILL_PER 500u
#define KILL_WINDOW 8u

/* Batches in flight when the server is SIGKILLed (some part-stored across the two
 * reactors' partitions): sent again after each restart until all are acked; every
 * event once, where its ack says. */
static void test_server_killed_mid_batches(void **state)
{
	static struct ack acks[KILL_BATCHES];
	static uint8_t seen[KILL_BATCHES * KILL_PER];
	uint32_t done = 0;
	struct client c;

	(void)state;
	memset(acks, 0, sizeof(acks));
	srand((unsigned)time(NULL));
	for (int round = 0; done < KILL_BATCHES && round < 40; round++) {
		bool kill_it = round < 8;
		uint32_t lo = done, hi = done + KILL_WINDOW < KILL_BATCHES ?
					 done + KILL_WINDOW : KILL_BATCHES;

		producer_connect(&c, "gateway-3", 1);
		for (uint32_t b = lo; b < hi; b++)
			send_batch(&c, b + 1, b * KILL_PER, KILL_PER);
		if (kill_it) {
			/* One ack read (its offsets are checked after the restarts), then the
			 * server dies while the others are in flight. */
			take_ack(&c, lo + 1, &acks[lo]);
			usleep((useconds_t)(rand() % 4000));
			server_stop(&g_srv, SIGKILL);
			client_close(&c);
			server_start(&g_srv, g_args);
			continue;
		}
		for (uint32_t b = lo; b < hi; b++)
			take_ack(&c, b + 1, &acks[b]);
		done = hi;
		client_close(&c);
	}
	assert_int_equal(done, KILL_BATCHES);
	assert_int_equal(read_all(KILL_BATCHES * KILL_PER, KILL_PER, acks, "gateway-3", 1, seen),
			 KILL_BATCHES * KILL_PER);
	expect_each_once(seen, KILL_BATCHES * KILL_PER);
}

/* A field of a producer as the admin API shows it (settledAtStart, heldAtSequence). */
static json_int_t producer_field(const char *id, const char *field)
{
	char path[128];
	json_t *body;
	json_int_t n;

	snprintf(path, sizeof(path), "/api/v1/producers/%s", id);
	body = api_expect(&g_srv, "GET", path, NULL, 200);
	n = json_integer_value(json_object_get(body, field));
	json_decref(body);
	return n;
}

static json_int_t settled_at_start(const char *id)
{
	return producer_field(id, "settledAtStart");
}

/* The server killed (on purpose: FANOUT_TEST_KILL_AT_SEQUENCE) right after appending
 * its own share of batch 3, the other reactor's not yet: the record is settled from the
 * logs at start-up; sent again, the batch is completed. Then the same kill during that
 * retry (a record claimed again over what the first attempt stored). Each time every
 * event ends up stored once. */
static void test_killed_mid_batch(void **state)
{
	static struct ack acks[5];
	const char *const with_http[] = { "--topic", TOPIC ":4", "--reactors", "2", NULL };
	uint8_t seen[1000];
	struct client c;

	(void)state;
	memset(acks, 0, sizeof(acks));
	for (int round = 0; round < 2; round++) {
		server_stop(&g_srv, SIGTERM);
		setenv("FANOUT_TEST_KILL_AT_SEQUENCE", "3", 1);
		server_start(&g_srv, with_http);
		unsetenv("FANOUT_TEST_KILL_AT_SEQUENCE");
		producer_connect(&c, "gateway-8", 1);
		for (uint32_t b = 0; b < 5; b++)
			send_batch(&c, b + 1, b * 200, 200);
		/* Batches 1 and 2 may be acked before the kill; 3 never is. Read until the
		 * server is gone: closing first would reset the connection, and the server
		 * could lose batch 3's bytes unread (no kill, nothing to settle). */
		for (uint32_t b = 0; b < 8; b++) {
			Fanout__V1__ServerMessage *m = NULL;

			if (client_recv(&c, &m, 10000) < 0)
				break;
			if (m->body_case == FANOUT__V1__SERVER_MESSAGE__BODY_PUBLISH_ACK &&
			    m->publish_ack->sequence <= 2)
				ack_take(&acks[m->publish_ack->sequence - 1], m->publish_ack);
			client_free_msg(m);
		}
		client_close(&c);
		server_stop(&g_srv, SIGKILL);	/* dead already, unless batch 3 was all known */
		server_start(&g_srv, with_http);
		assert_true(round > 0 || settled_at_start("gateway-8") >= 1);
	}
	producer_connect(&c, "gateway-8", 1);
	for (uint32_t b = 0; b < 5; b++)
		resend_until_acked(&c, b + 1, b * 200, 200, &acks[b]);
	client_close(&c);
	assert_int_equal(read_all(1000, 200, acks, "gateway-8", 1, seen), 1000);
	expect_each_once(seen, 1000);
}

/* Expects an Error with code as the next message. */
static void expect_code(struct client *c, Fanout__V1__ErrorCode code)
{
	Fanout__V1__ServerMessage *m = recv_msg(c, 10000);

	if (m->body_case != FANOUT__V1__SERVER_MESSAGE__BODY_ERROR || m->error->code != code)
		fail_msg("expected error %d, got body %d (code %d: %s)", code, m->body_case,
			 m->body_case == FANOUT__V1__SERVER_MESSAGE__BODY_ERROR ?
			 (int)m->error->code : 0,
			 m->body_case == FANOUT__V1__SERVER_MESSAGE__BODY_ERROR ?
			 m->error->message : "");
	client_free_msg(m);
}

/* A newer or equal epoch fences older connections; an older epoch is refused; a new
 * epoch starts its sequences again. */
static void test_epochs_fence(void **state)
{
	struct client a, b, old, next;
	Fanout__V1__ServerMessage *m;
	uint8_t seen[300];

	(void)state;
	producer_connect(&a, "gateway-4", 5);
	send_batch(&a, 1, 0, 100);
	client_free_msg(expect_ack(&a, 1));
	producer_connect(&b, "gateway-4", 5);	/* takes it over */
	send_batch(&a, 2, 100, 100);
	expect_code(&a, FANOUT__V1__ERROR_CODE__ERROR_CODE_PRODUCER_FENCED);
	client_close(&a);
	send_batch(&b, 2, 100, 100);
	client_free_msg(expect_ack(&b, 2));

	server_connect(&g_srv, &old);
	m = hello_as(&old, "gateway-4", 4);
	assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_ERROR);
	assert_int_equal(m->error->code, FANOUT__V1__ERROR_CODE__ERROR_CODE_PRODUCER_FENCED);
	assert_true(m->error->closing);
	assert_non_null(strstr(m->error->message, "epoch 5"));
	client_free_msg(m);
	client_close(&old);

	producer_connect(&next, "gateway-4", 6);
	send_batch(&b, 3, 200, 100);
	expect_code(&b, FANOUT__V1__ERROR_CODE__ERROR_CODE_PRODUCER_FENCED);
	client_close(&b);
	send_batch(&next, 1, 200, 100);	/* sequence 1 again: epoch 6's first batch */
	client_free_msg(expect_ack(&next, 1));
	client_close(&next);
	/* 300 events: epoch 5's two batches and epoch 6's one. */
	{
		struct client c;
		uint32_t got = 0, e6 = 0;

		subscribe_earliest(&c);
		memset(seen, 0, sizeof(seen));
		while (got < 300) {
			uint32_t k;

			m = recv_msg(&c, 10000);
			assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_EVENT);
			assert_int_equal(sscanf(m->event->event_id, "ev-%u", &k), 1);
			assert_true(k < 300);
			seen[k]++;
			e6 += m->event->producer->epoch == 6;
			got++;
			client_free_msg(m);
		}
		client_close(&c);
		expect_each_once(seen, 300);
		assert_int_equal(e6, 100);
	}
}

/* Refusals: bad ids, sequence 0, a stored sequence with another size, a forgotten
 * sequence, a stamp set by the publisher. */
static void test_refusals(void **state)
{
	static const char *const bad[] = { "has space", "..", "x/y",
		"0123456789012345678901234567890123456789012345678901234567890123456789" };
	struct client c;
	Fanout__V1__ServerMessage *m;

	(void)state;
	for (size_t i = 1; i < sizeof(bad) / sizeof(bad[0]); i++) {
		server_connect(&g_srv, &c);
		m = hello_as(&c, bad[i], 1);
		assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_ERROR);
		assert_int_equal(m->error->code, FANOUT__V1__ERROR_CODE__ERROR_CODE_BAD_PRODUCER);
		assert_true(m->error->closing);
		client_free_msg(m);
		client_close(&c);
	}
	server_connect(&g_srv, &c);	/* "" is no producer: a plain Hello */
	m = hello_as(&c, "", 1);
	assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_HELLO);
	assert_int_equal(m->hello->producer_epoch, 0);
	client_free_msg(m);
	client_close(&c);
	server_connect(&g_srv, &c);
	m = hello_as(&c, bad[0], 1);
	assert_int_equal(m->error->code, FANOUT__V1__ERROR_CODE__ERROR_CODE_BAD_PRODUCER);
	assert_non_null(strstr(m->error->message, "A-Z a-z 0-9"));
	client_free_msg(m);
	client_close(&c);

	producer_connect(&c, "gateway-5", 1);
	send_batch(&c, 0, 0, 10);
	expect_code(&c, FANOUT__V1__ERROR_CODE__ERROR_CODE_BAD_SEQUENCE);
	/* 100 one-event batches: the records keep the last 96, the first few are forgotten. */
	for (uint32_t b = 1; b <= 100; b++) {
		send_batch(&c, b, 1000 + b, 1);
		client_free_msg(expect_ack(&c, b));
	}
	send_batch(&c, 1, 1001, 1);
	expect_code(&c, FANOUT__V1__ERROR_CODE__ERROR_CODE_BAD_SEQUENCE);
	send_batch(&c, 50, 1050, 2);	/* remembered, with 1 event */
	expect_code(&c, FANOUT__V1__ERROR_CODE__ERROR_CODE_BAD_SEQUENCE);
	send_batch(&c, 50, 1050, 1);
	client_free_msg(expect_ack(&c, 50));
	{	/* a publisher's own stamp */
		Fanout__V1__Event e;
		Fanout__V1__Distribution d;
		Fanout__V1__MarketData md;
		Fanout__V1__ProducerStamp ps = FANOUT__V1__PRODUCER_STAMP__INIT;
		Fanout__V1__Event *p = &e;
		char buf[256];

		make_event(&e, &d, &md, buf, TOPIC, 1, 1);
		ps.producer_id = "gateway-5";
		ps.sequence = 101;
		e.producer = &ps;
		assert_int_equal(client_publish(&c, 101, &p, 1), 0);
		m = recv_msg(&c, 10000);
		assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_ERROR);
		assert_int_equal(m->error->code, FANOUT__V1__ERROR_CODE__ERROR_CODE_INVALID_EVENT);
		assert_non_null(strstr(m->error->message, "producer"));
		client_free_msg(m);
	}
	send_batch(&c, 101, 1101, 1);	/* refused wholly: the sequence is still free */
	client_free_msg(expect_ack(&c, 101));
	client_close(&c);
}

static uint64_t held_at(const char *id)
{
	return (uint64_t)producer_field(id, "heldAtSequence");
}

/* Order: a batch refused for now (here RATE_LIMITED) holds the producer's later ones —
 * a batch sent once the bucket has refilled, before the refused one is sent again, is
 * refused OUT_OF_ORDER and stores nothing — until it is sent again; then both are
 * stored, the refused one first in every partition. A new Hello lets the hold go. */
static void test_refused_batch_holds_later_ones(void **state)
{
	const char *const args[] = { "--topic", TOPIC ":4", "--reactors", "2",
				     "--max-conn-events-per-s", "100", NULL };
	struct ack a2 = { 0 }, a3 = { 0 };
	Fanout__V1__ServerMessage *m;
	struct client c, d;
	uint32_t retry_ms;

	(void)state;
	server_stop(&g_srv, SIGTERM);
	server_start(&g_srv, args);
	producer_connect(&c, "gateway-9", 1);
	send_batch(&c, 1, 0, 100);	/* the burst: a second's worth */
	client_free_msg(expect_ack(&c, 1));
	send_batch(&c, 2, 100, 60);
	m = expect_error(&c, FANOUT__V1__ERROR_CODE__ERROR_CODE_RATE_LIMITED);
	assert_int_equal(m->error->sequence, 2);
	retry_ms = m->error->retry_after_ms;
	assert_true(retry_ms > 0 && retry_ms <= 1000);
	client_free_msg(m);
	assert_int_equal(held_at("gateway-9"), 2);
	usleep((retry_ms + 50) * 1000);	/* batch 3 would fit now, batch 2 too */
	send_batch(&c, 3, 160, 10);
	m = expect_error(&c, FANOUT__V1__ERROR_CODE__ERROR_CODE_OUT_OF_ORDER);
	assert_int_equal(m->error->sequence, 3);
	assert_non_null(strstr(m->error->message, "batch 2 was refused for now"));
	client_free_msg(m);
	usleep(800 * 1000);	/* room for 70 events (a held batch was charged nothing) */
	send_batch(&c, 2, 100, 60);
	send_batch(&c, 3, 160, 10);
	m = expect_ack(&c, 2);
	ack_take(&a2, m->publish_ack);
	client_free_msg(m);
	m = expect_ack(&c, 3);
	ack_take(&a3, m->publish_ack);
	client_free_msg(m);
	assert_int_equal(held_at("gateway-9"), 0);
	for (uint32_t i = 0; i < a3.n; i++)
		for (uint32_t j = 0; j < a2.n; j++)
			if (a2.part[j] == a3.part[i])
				assert_true(a2.off[j] < a3.off[i]);
	/* Refused again, then a new connection (a new Hello) starts over. */
	send_batch(&c, 4, 170, 100);
	client_free_msg(expect_error(&c, FANOUT__V1__ERROR_CODE__ERROR_CODE_RATE_LIMITED));
	assert_int_equal(held_at("gateway-9"), 4);
	producer_connect(&d, "gateway-9", 1);
	assert_int_equal(held_at("gateway-9"), 0);
	usleep(1100 * 1000);
	send_batch(&d, 5, 270, 10);
	client_free_msg(expect_ack(&d, 5));
	client_close(&d);
	client_close(&c);
}

/* The admin API lists producers: epoch, batches remembered, sequences; one by id; 404
 * for another. */
static void test_admin_lists_producers(void **state)
{
	const char *const with_http[] = { "--topic", TOPIC ":4", "--reactors", "2", NULL };
	struct client c;
	json_t *body, *p;

	(void)state;
	server_stop(&g_srv, SIGTERM);
	server_start(&g_srv, with_http);
	producer_connect(&c, "gateway-6", 3);
	for (uint32_t b = 1; b <= 3; b++) {
		send_batch(&c, b * 10, b * 100, 50);
		client_free_msg(expect_ack(&c, b * 10));
	}
	client_close(&c);
	body = api_expect(&g_srv, "GET", "/api/v1/producers", NULL, 200);
	assert_int_equal(json_integer_value(json_object_get(body, "count")), 1);
	p = json_array_get(json_object_get(body, "producers"), 0);
	assert_string_equal(json_string_value(json_object_get(p, "producerId")), "gateway-6");
	assert_int_equal(json_integer_value(json_object_get(p, "epoch")), 3);
	assert_int_equal(json_integer_value(json_object_get(p, "batchesRemembered")), 3);
	assert_int_equal(json_integer_value(json_object_get(p, "batchesInFlight")), 0);
	assert_int_equal(json_integer_value(json_object_get(p, "lastSequence")), 30);
	assert_int_equal(json_integer_value(json_object_get(p, "oldestRememberedSequence")), 10);
	json_decref(body);
	body = api_expect(&g_srv, "GET", "/api/v1/producers/gateway-6", NULL, 200);
	assert_int_equal(json_integer_value(json_object_get(body, "lastSequence")), 30);
	json_decref(body);
	api_error(&g_srv, "GET", "/api/v1/producers/gateway-7", NULL, 404, "NOT_FOUND", NULL);
	api_error(&g_srv, "POST", "/api/v1/producers", "{}", 405, "METHOD_NOT_ALLOWED", NULL);
}

/* fanout-pub --producer, paced over ~2 s, while the server is SIGKILLed and restarted
 * (same port) three times: it connects again and sends its unacknowledged batches again;
 * every event is stored once. */
/* Starts fanout-pub (g_argv[2]) with args against the server, its JSON summary to
 * g_srv.dir/pub.json. Returns its pid. */
static pid_t pub_spawn(const char *args)
{
	char cmd[1024];
	pid_t pid;

	snprintf(cmd, sizeof(cmd), "exec %s --connect %s --topic %s %s --quiet > %s/pub.json",
		 g_argv[2], g_srv.addr, TOPIC, args, g_srv.dir);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	return pid;
}

/* Waits up to 60 s for fanout-pub to exit 0 having published and had acked total events;
 * returns its summary's counter name (e.g. "reconnects"). */
static unsigned long long pub_finish(pid_t pid, unsigned long long total, const char *name)
{
	char path[400], json[512] = "", key[64];
	unsigned long long published = 0, acked = 0, v = 0;
	int status = -1;
	FILE *f;

	for (int i = 0; i < 600 && waitpid(pid, &status, WNOHANG) != pid; i++)
		usleep(100000);
	if (!WIFEXITED(status))
		kill(pid, SIGKILL);
	assert_true(WIFEXITED(status));
	snprintf(path, sizeof(path), "%s/pub.json", g_srv.dir);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(json, sizeof(json), f));
	fclose(f);
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(sscanf(json, "{\"published\":%llu,\"acked\":%llu", &published,
				&acked), 2);
	assert_int_equal(published, total);
	assert_int_equal(acked, total);
	snprintf(key, sizeof(key), "\"%s\":", name);
	assert_non_null(strstr(json, key));
	assert_int_equal(sscanf(strstr(json, key) + strlen(key), "%llu", &v), 1);
	return v;
}

/* Reads the topic from the earliest event: every one of fanout-pub's total events once,
 * stamped with producer, and (in_order) each partition's in publishing order. */
static void expect_pub_events(uint32_t total, uint8_t *seen, const char *producer,
			      bool in_order)
{
	long last[PARTS];
	struct client c;
	uint32_t got = 0;

	for (uint32_t p = 0; p < PARTS; p++)
		last[p] = -1;
	subscribe_earliest(&c);
	for (;;) {
		Fanout__V1__ServerMessage *m = NULL;
		long who;
		unsigned k;

		if (client_recv(&c, &m, got < total ? 10000 : 500) == -ETIMEDOUT)
			break;
		assert_non_null(m);
		assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_EVENT);
		assert_int_equal(sscanf(m->event->event_id, "%ld-%u", &who, &k), 2);
		assert_true(k < total);
		assert_non_null(m->event->producer);
		assert_string_equal(m->event->producer->producer_id, producer);
		assert_true(m->event->distribution->partition < PARTS);
		if (in_order) {
			assert_true((long)k > last[m->event->distribution->partition]);
			last[m->event->distribution->partition] = k;
		}
		seen[k]++;
		got++;
		client_free_msg(m);
	}
	client_close(&c);
	assert_int_equal(got, total);
	expect_each_once(seen, total);
}

static void test_fanout_pub_rides_out_kills(void **state)
{
	enum { TOTAL = 40000 };
	static uint8_t seen[TOTAL];
	char addr[80];
	const char *const fixed[] = { "--topic", TOPIC ":4", "--reactors", "2", "--no-http",
				      "--listen", addr, NULL };
	pid_t pid;

	(void)state;
	if (g_argc < 3)
		skip();
	snprintf(addr, sizeof(addr), "%s", g_srv.addr);
	pid = pub_spawn("--producer cli-pub:1 --count 40000 --rate 20000 --batch 400 "
			"--window 8");
	for (int k = 0; k < 3; k++) {
		usleep(250000 + (useconds_t)(rand() % 200000));
		server_stop(&g_srv, SIGKILL);
		server_start(&g_srv, fixed);
		assert_string_equal(g_srv.addr, addr);
	}
	assert_true(pub_finish(pid, TOTAL, "reconnects") >= 1);
	expect_pub_events(TOTAL, seen, "cli-pub", false);
}

/* fanout-pub --producer, unpaced, against a connection limit of 2,000 events/s: its
 * batches are refused for now (RATE_LIMITED, then OUT_OF_ORDER behind them) and sent
 * again; it exits 0, and every event is stored once, each partition in order. */
static void test_fanout_pub_rides_out_refusals(void **state)
{
	enum { TOTAL = 6000 };
	static uint8_t seen[TOTAL];
	const char *const args[] = { "--topic", TOPIC ":4", "--reactors", "2", "--no-http",
				     "--max-conn-events-per-s", "2000", NULL };
	pid_t pid;

	(void)state;
	if (g_argc < 3)
		skip();
	server_stop(&g_srv, SIGTERM);
	server_start(&g_srv, args);
	pid = pub_spawn("--producer cli-pub2:1 --count 6000 --batch 200 --window 8");
	assert_true(pub_finish(pid, TOTAL, "resent") >= 1);
	expect_pub_events(TOTAL, seen, "cli-pub2", true);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_resend_gets_first_offsets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resend_after_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_killed_mid_batches, setup, teardown),
		cmocka_unit_test_setup_teardown(test_killed_mid_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_epochs_fence, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fanout_pub_rides_out_kills, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fanout_pub_rides_out_refusals, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_admin_lists_producers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused_batch_holds_later_ones, setup,
						teardown),
	};

	g_argc = argc;
	g_argv = argv;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
