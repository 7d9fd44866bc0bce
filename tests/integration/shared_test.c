/* tests/integration/shared_test.c — SHARED and KEY_SHARED named subscriptions through a
 * real server with two reactors: SHARED deals events round robin over consumers on both
 * reactors, each acked individually, each event to one consumer; an event not acked
 * within ack_timeout_ms, or held by a consumer that goes, is sent again after a
 * Redelivery naming it with its count; KEY_SHARED sends every key to one consumer, and
 * a key moves to a consumer that joins only once its events in flight are acked; the
 * cursor survives a server SIGKILL; bad options are refused naming the field; and
 * consumers in separate processes SIGKILLed at random moments between them get every
 * event, per-key order held (KEY_SHARED), delivery counts never below what they got. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/integration/admin_util.h"

#define TOPIC "jobs"
#define PARTS 2u
#define MAXEV 8192u	/* offsets per partition a test tracks */
#define SYMBOLS 24u	/* routing keys */

static const int SHARED = FANOUT__V1__SUBSCRIPTION_TYPE__SUBSCRIPTION_TYPE_SHARED;
static const int KEY_SHARED = FANOUT__V1__SUBSCRIPTION_TYPE__SUBSCRIPTION_TYPE_KEY_SHARED;

static int g_argc;
static char **g_argv;
static struct server g_srv;
static const char *const g_args[] = { "--topic", TOPIC ":2", "--reactors", "2", "--no-http",
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
	return 0;
}

static Fanout__V1__ServerMessage *sub_msg(struct client *c, uint32_t id, const char *name,
					  int type, uint32_t ack_timeout_ms)
{
	Fanout__V1__Subscribe sb = FANOUT__V1__SUBSCRIBE__INIT;
	Fanout__V1__ServerMessage *m = NULL;
	int rc;

	sb.subscription_id = id;
	sb.topic = TOPIC;
	sb.subscription_name = (char *)name;
	sb.subscription_type = type;
	sb.ack_timeout_ms = ack_timeout_ms;
	sb.start = FANOUT__V1__START_POSITION__START_POSITION_EARLIEST;
	rc = client_subscribe_msg(c, &sb, &m);
	if (!m)
		fail_msg("subscribe %s: no answer (%s)", name, strerror(-rc));
	return m;
}

static void sub_ok(struct client *c, uint32_t id, const char *name, int type,
		   uint32_t ack_timeout_ms)
{
	Fanout__V1__ServerMessage *m = sub_msg(c, id, name, type, ack_timeout_ms);

	if (m->body_case == FANOUT__V1__SERVER_MESSAGE__BODY_ERROR)
		fail_msg("subscribe %s: error %d: %s", name, m->error->code, m->error->message);
	assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_SUBSCRIBED);
	assert_false(m->subscribed->standby);
	client_free_msg(m);
}

/* Acks [offset, offset + count) of partition p, individually (Ack.count). */
static int ack_range(struct client *c, uint32_t id, uint32_t p, uint64_t offset, uint64_t count)
{
	Fanout__V1__ClientMessage m = FANOUT__V1__CLIENT_MESSAGE__INIT;
	Fanout__V1__Ack a = FANOUT__V1__ACK__INIT;

	a.subscription_id = id;
	a.partition = p;
	a.offset = offset;
	a.count = count;
	m.body_case = FANOUT__V1__CLIENT_MESSAGE__BODY_ACK;
	m.ack = &a;
	return client_send(c, &m);
}

/* The reactor serving a connection (HelloResult.reactor). */
static uint32_t reactor_of(struct client *c)
{
	Fanout__V1__ServerMessage *m = NULL;
	uint32_t r;

	assert_int_equal(client_hello(c, "shared-test", 5000, &m), 0);
	r = m->hello->reactor;
	client_free_msg(m);
	return r;
}

/* What consumers received. */
struct tally {
	uint32_t recv[PARTS][MAXEV];	/* times each event was received */
	uint32_t told[PARTS][MAXEV];	/* the last delivery_count a Redelivery said */
	int owner[PARTS][MAXEV];	/* the consumer that received it last */
	uint8_t key[PARTS][MAXEV];	/* its symbol */
	uint32_t disorder;		/* a key's offsets not rising at one consumer */
	uint32_t undercount;		/* a Redelivery's count below what was received */
};

/* Receives from c until quiet_ms pass with nothing (bounded by deadline_ms): events are
 * counted in t as consumer who, and acked at once when ack; a Redelivery is checked
 * against what was received. Returns events received. */
static uint64_t pump(struct client *c, int who, struct tally *t, bool ack, int quiet_ms,
		     uint64_t *last_key_off)
{
	uint64_t n = 0;

	for (;;) {
		Fanout__V1__ServerMessage *m = NULL;

		if (client_recv(c, &m, quiet_ms) < 0)
			return n;
		if (m->body_case == FANOUT__V1__SERVER_MESSAGE__BODY_REDELIVERY) {
			const Fanout__V1__Redelivery *r = m->redelivery;

			assert_true(r->partition < PARTS && r->end_offset > r->first_offset);
			assert_true(r->delivery_count >= 2);
			for (uint64_t o = r->first_offset; o < r->end_offset && o < MAXEV; o++) {
				if (t->recv[r->partition][o] > r->delivery_count - 1)
					t->undercount++;
				t->told[r->partition][o] = r->delivery_count;
			}
		} else if (m->body_case == FANOUT__V1__SERVER_MESSAGE__BODY_EVENT) {
			uint32_t p = m->event->distribution->partition;
			uint64_t o = m->event->distribution->offset;

			unsigned sym = 0;

			assert_true(p < PARTS && o < MAXEV);
			assert_int_equal(sscanf(m->event->distribution->routing_key, "S%u", &sym), 1);
			assert_true(sym < SYMBOLS);
			t->key[p][o] = (uint8_t)sym;
			if (last_key_off) {	/* per key (symbol), offsets rise here */
				if (last_key_off[sym] != UINT64_MAX && o <= last_key_off[sym] &&
				    t->told[p][o] == 0)
					t->disorder++;
				last_key_off[sym] = o;
			}
			t->recv[p][o]++;
			t->owner[p][o] = who;
			n++;
			if (ack)
				assert_int_equal(ack_range(c, 1, p, o, 1), 0);
		} else {
			fail_msg("unexpected message %d", m->body_case);
		}
		client_free_msg(m);
	}
}

/* Events published so far per partition, from the tally (dense from 0). */
static uint64_t received_distinct(const struct tally *t)
{
	uint64_t n = 0;

	for (uint32_t p = 0; p < PARTS; p++)
		for (uint64_t o = 0; o < MAXEV && t->recv[p][o]; o++)
			n++;
	return n;
}

/* SHARED: three consumers, on both reactors, each acking what it gets: every event to
 * exactly one, in near-equal shares (runs of 16, round robin). */
static void test_shared_round_robin(void **state)
{
	static struct tally t;
	struct client pub, c[3];
	uint64_t got[3] = { 0 }, total = 0;
	uint32_t reactors = 0;

	(void)state;
	memset(&t, 0, sizeof(t));
	/* The kernel spreads connections over the reactors as it likes: the third is
	 * connected again (bounded) until the three sit on both. */
	for (int i = 0; i < 3; i++) {
		uint32_t r;

		server_connect(&g_srv, &c[i]);
		r = reactor_of(&c[i]);
		for (int k = 0; i == 2 && reactors == 1u << r && k < 40; k++) {
			client_close(&c[i]);
			server_connect(&g_srv, &c[i]);
			r = reactor_of(&c[i]);
		}
		reactors |= 1u << r;
	}
	assert_int_equal(reactors, 3);	/* consumers on both reactors */
	for (int i = 0; i < 3; i++)
		sub_ok(&c[i], 1, "work", SHARED, 0);
	server_connect(&g_srv, &pub);
	publish_range(&pub, TOPIC, 0, 1200, SYMBOLS, NULL);
	for (int round = 0; round < 50 && total < 1200; round++)
		for (int i = 0; i < 3; i++) {
			uint64_t n = pump(&c[i], i, &t, true, 20, NULL);

			got[i] += n;
			total += n;
		}
	print_message("shares %llu %llu %llu\n", (unsigned long long)got[0],
		      (unsigned long long)got[1], (unsigned long long)got[2]);
	assert_int_equal(total, 1200);
	assert_int_equal(received_distinct(&t), 1200);	/* each exactly once */
	for (int i = 0; i < 3; i++)
		assert_true(got[i] >= 300 && got[i] <= 500);
	for (int i = 0; i < 3; i++) {
		ping_pong(&c[i], 7);	/* nothing more: all acked */
		client_close(&c[i]);
	}
	client_close(&pub);
}

/* An event not acked within ack_timeout_ms is sent again, after a Redelivery naming it
 * (delivery_count 2); acked, it is not sent again. */
static void test_ack_timeout(void **state)
{
	static struct tally t;
	struct client pub, c;
	uint64_t n;

	(void)state;
	memset(&t, 0, sizeof(t));
	server_connect(&g_srv, &c);
	sub_ok(&c, 1, "slow", SHARED, 150);
	server_connect(&g_srv, &pub);
	publish_range(&pub, TOPIC, 0, 60, SYMBOLS, NULL);
	n = pump(&c, 0, &t, false, 100, NULL);	/* no acks */
	assert_int_equal(n, 60);
	n = pump(&c, 0, &t, true, 1000, NULL);	/* sent again once 150 ms passed */
	assert_int_equal(n, 60);
	assert_int_equal(t.undercount, 0);
	for (uint32_t p = 0; p < PARTS; p++)
		for (uint64_t o = 0; o < MAXEV && t.recv[p][o]; o++) {
			assert_int_equal(t.recv[p][o], 2);
			assert_int_equal(t.told[p][o], 2);
		}
	assert_int_equal(pump(&c, 0, &t, true, 400, NULL), 0);	/* acked: done with */
	ping_pong(&c, 3);
	client_close(&c);
	client_close(&pub);
}

/* A consumer that goes with events unacked: another is sent them, marked. */
static void test_consumer_goes(void **state)
{
	static struct tally t;
	struct client pub, a, b;
	uint64_t na, nb;

	(void)state;
	memset(&t, 0, sizeof(t));
	server_connect(&g_srv, &a);
	server_connect(&g_srv, &b);
	sub_ok(&a, 1, "pair", SHARED, 0);
	sub_ok(&b, 1, "pair", SHARED, 0);
	server_connect(&g_srv, &pub);
	publish_range(&pub, TOPIC, 0, 400, SYMBOLS, NULL);
	na = pump(&a, 0, &t, false, 200, NULL);		/* a acks nothing */
	nb = pump(&b, 1, &t, true, 200, NULL);
	assert_int_equal(na + nb, 400);
	assert_true(na > 0 && nb > 0);
	client_close(&a);
	nb = pump(&b, 1, &t, true, 1000, NULL);		/* a's, again */
	assert_int_equal(nb, na);
	assert_int_equal(t.undercount, 0);
	for (uint32_t p = 0; p < PARTS; p++)
		for (uint64_t o = 0; o < MAXEV && t.recv[p][o]; o++) {
			assert_int_equal(t.owner[p][o], 1);
			assert_int_equal(t.told[p][o], t.recv[p][o] == 2 ? 2 : 0);
		}
	ping_pong(&b, 5);
	client_close(&b);
	client_close(&pub);
}

/* KEY_SHARED: each key to one consumer; a consumer that joins gets a key only after
 * the events of it in flight at the old owner are acked, and then every later one. */
static void test_key_shared(void **state)
{
	static struct tally t;
	uint64_t lk[2][SYMBOLS];
	uint64_t a_max[SYMBOLS], b_min[SYMBOLS];
	uint32_t moved = 0;
	struct client pub, a, b;

	(void)state;
	memset(&t, 0, sizeof(t));
	memset(lk, 0xff, sizeof(lk));
	server_connect(&g_srv, &a);
	sub_ok(&a, 1, "keys", KEY_SHARED, 0);
	server_connect(&g_srv, &pub);
	publish_range(&pub, TOPIC, 0, 240, SYMBOLS, NULL);
	assert_int_equal(pump(&a, 0, &t, false, 200, lk[0]), 240);	/* a owns all; no acks */
	server_connect(&g_srv, &b);
	sub_ok(&b, 1, "keys", KEY_SHARED, 0);
	publish_range(&pub, TOPIC, 240, 240, SYMBOLS, NULL);
	/* a holds every key's events unacked: the keys that moved to b wait. */
	assert_int_equal(pump(&b, 1, &t, true, 300, lk[1]), 0);
	(void)pump(&a, 0, &t, false, 200, lk[0]);
	/* a acks everything it has: b gets the keys that moved, the rest stay a's. */
	for (uint32_t p = 0; p < PARTS; p++)
		for (uint64_t o = 0; o < MAXEV && t.recv[p][o]; o++)
			assert_int_equal(ack_range(&a, 1, p, o, 1), 0);
	for (int i = 0; i < 40 && received_distinct(&t) < 480; i++) {
		(void)pump(&b, 1, &t, true, 50, lk[1]);
		(void)pump(&a, 0, &t, true, 50, lk[0]);
	}
	assert_int_equal(received_distinct(&t), 480);
	assert_int_equal(t.disorder, 0);
	/* Each event once; each key's events at b all after its last at a. */
	memset(a_max, 0, sizeof(a_max));
	memset(b_min, 0xff, sizeof(b_min));
	for (uint32_t p = 0; p < PARTS; p++)
		for (uint64_t o = 0; o < MAXEV && t.recv[p][o]; o++) {
			uint32_t k = t.key[p][o];

			assert_int_equal(t.recv[p][o], 1);
			if (t.owner[p][o] == 0 && o + 1 > a_max[k])
				a_max[k] = o + 1;
			if (t.owner[p][o] == 1 && o < b_min[k])
				b_min[k] = o;
		}
	for (uint32_t k = 0; k < SYMBOLS; k++) {
		if (b_min[k] == UINT64_MAX)
			continue;
		moved++;
		assert_true(a_max[k] <= b_min[k]);
	}
	print_message("%u of %u keys moved to the second consumer\n", moved, SYMBOLS);
	assert_true(moved > 0 && moved < SYMBOLS);
	ping_pong(&a, 3);
	ping_pong(&b, 3);
	client_close(&a);
	client_close(&b);
	client_close(&pub);
}

/* The cursor survives a server SIGKILL: the resumed subscription sends what was not
 * acked (below the oldest unacked event: nothing again), marked sent before. */
static void test_restart(void **state)
{
	static struct tally t;
	struct client pub, c;
	uint64_t n, acked = 0;

	(void)state;
	memset(&t, 0, sizeof(t));
	server_connect(&g_srv, &pub);
	publish_range(&pub, TOPIC, 0, 100, SYMBOLS, NULL);
	client_close(&pub);
	server_connect(&g_srv, &c);
	sub_ok(&c, 1, "durable", SHARED, 0);
	assert_int_equal(pump(&c, 0, &t, false, 200, NULL), 100);
	for (uint32_t p = 0; p < PARTS; p++) {	/* the first half of each partition */
		uint64_t k = 0;

		while (k < MAXEV && t.recv[p][k])
			k++;
		assert_int_equal(ack_range(&c, 1, p, 0, k / 2), 0);
		acked += k / 2;
	}
	ping_pong(&c, 3);
	server_stop(&g_srv, SIGKILL);
	client_close(&c);
	server_start(&g_srv, g_args);
	server_connect(&g_srv, &c);
	sub_ok(&c, 1, "durable", SHARED, 0);
	n = pump(&c, 0, &t, true, 300, NULL);
	assert_int_equal(n, 100 - acked);
	assert_int_equal(t.undercount, 0);
	for (uint32_t p = 0; p < PARTS; p++)
		for (uint64_t o = 0; o < MAXEV && t.recv[p][o]; o++)
			assert_int_equal(t.told[p][o], t.recv[p][o] == 2 ? 2 : 0);
	client_close(&c);
}

static void test_bad_options(void **state)
{
	static const struct {
		const char *name;
		int type;
		uint32_t timeout;
		const char *says;
	} cases[] = {
		{ "", 0, 100, "give subscription_name" },
		{ "s", 0, 100, "ack_timeout_ms is for SHARED" },
		{ "s", FANOUT__V1__SUBSCRIPTION_TYPE__SUBSCRIPTION_TYPE_FAILOVER, 100,
		  "ack_timeout_ms is for SHARED" },
		{ "s", 2, 5, "10..3600000" },
		{ "s", 4, 3600001, "10..3600000" },
	};
	struct client c, d;
	Fanout__V1__ServerMessage *m;

	(void)state;
	server_connect(&g_srv, &c);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		m = sub_msg(&c, 10 + (uint32_t)i, cases[i].name, cases[i].type, cases[i].timeout);
		assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_ERROR);
		assert_int_equal(m->error->code, FANOUT__V1__ERROR_CODE__ERROR_CODE_BAD_SUBSCRIPTION);
		if (!strstr(m->error->message, cases[i].says))
			fail_msg("case %zu: '%s' does not say '%s'", i, m->error->message,
				 cases[i].says);
		client_free_msg(m);
	}
	/* A consumer of another type is refused while SHARED ones are there, naming both. */
	sub_ok(&c, 1, "mixed", SHARED, 0);
	server_connect(&g_srv, &d);
	m = sub_msg(&d, 1, "mixed", KEY_SHARED, 0);
	assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_ERROR);
	assert_int_equal(m->error->code, FANOUT__V1__ERROR_CODE__ERROR_CODE_SUBSCRIPTION_BUSY);
	assert_non_null(strstr(m->error->message, "has SHARED consumers"));
	assert_non_null(strstr(m->error->message, "KEY_SHARED"));
	client_free_msg(m);
	ping_pong(&c, 1);
	ping_pong(&d, 1);
	client_close(&c);
	client_close(&d);
}

/* ---- consumers SIGKILLed at random moments ---------------------------------------- */

#define LOOP_EVENTS 3000u
#define LOOP_ROUNDS 8
#define LOOP_KIDS 3

/* A consumer process: acks each event it gets, but for every 5th (left to its death or
 * the ack timeout). Runs until killed. */
static void loop_consumer(struct tally *t, int type, int who)
{
	static uint64_t lk[SYMBOLS];
	struct client c;
	Fanout__V1__ServerMessage *m;

	memset(lk, 0xff, sizeof(lk));
	if (client_connect(&c, g_srv.addr, 5000) < 0)
		_exit(2);
	m = sub_msg(&c, 1, type == SHARED ? "loop-shared" : "loop-keys", type, 300);
	if (m->body_case != FANOUT__V1__SERVER_MESSAGE__BODY_SUBSCRIBED)
		_exit(3);
	client_free_msg(m);
	for (uint64_t n = 0;; n++) {
		uint32_t p;
		uint64_t o;

		if (client_recv(&c, &m, 60000) < 0)
			_exit(4);
		if (m->body_case == FANOUT__V1__SERVER_MESSAGE__BODY_REDELIVERY) {
			const Fanout__V1__Redelivery *r = m->redelivery;

			for (uint64_t k = r->first_offset; k < r->end_offset && k < MAXEV; k++) {
				if (__atomic_load_n(&t->recv[r->partition % PARTS][k],
						    __ATOMIC_SEQ_CST) > r->delivery_count - 1)
					__atomic_add_fetch(&t->undercount, 1, __ATOMIC_SEQ_CST);
				t->told[r->partition % PARTS][k] = r->delivery_count;
			}
			client_free_msg(m);
			continue;
		}
		if (m->body_case != FANOUT__V1__SERVER_MESSAGE__BODY_EVENT)
			_exit(5);
		p = m->event->distribution->partition;
		o = m->event->distribution->offset;
		if (p >= PARTS || o >= MAXEV)
			_exit(6);
		if (type == KEY_SHARED) {
			unsigned sym = 0;

			if (sscanf(m->event->distribution->routing_key, "S%u", &sym) != 1 ||
			    sym >= SYMBOLS)
				_exit(7);
			/* Per key, offsets rise at a consumer: an event sent again (after a
			 * timeout) is the one exception a timeout allows. */
			if (lk[sym] != UINT64_MAX && o <= lk[sym] && t->told[p][o] == 0)
				__atomic_add_fetch(&t->disorder, 1, __ATOMIC_SEQ_CST);
			lk[sym] = o;
		}
		client_free_msg(m);
		__atomic_add_fetch(&t->recv[p][o], 1, __ATOMIC_SEQ_CST);
		__atomic_store_n(&t->owner[p][o], who, __ATOMIC_SEQ_CST);
		if (n % 5 != 4)
			(void)ack_range(&c, 1, p, o, 1);
	}
}

static void consumers_killed(int type)
{
	struct tally *t = mmap(NULL, sizeof(*t), PROT_READ | PROT_WRITE,
			       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct client pub;
	uint64_t published = 0, got = 0;
	pid_t kids[LOOP_KIDS];
	uint32_t seed = (uint32_t)time(NULL);
	int who = 0;

	assert_true(t != MAP_FAILED);
	print_message("seed %u\n", seed);
	srand(seed);
	server_connect(&g_srv, &pub);
	for (int k = 0; k < LOOP_KIDS; k++) {
		kids[k] = fork();
		assert_true(kids[k] >= 0);
		if (kids[k] == 0)
			loop_consumer(t, type, who);
		who++;
	}
	for (int round = 0; round < LOOP_ROUNDS; round++) {
		int k = rand() % LOOP_KIDS, status;

		publish_range(&pub, TOPIC, (uint32_t)published, LOOP_EVENTS / LOOP_ROUNDS, SYMBOLS,
			      NULL);
		published += LOOP_EVENTS / LOOP_ROUNDS;
		usleep(20000 + (useconds_t)(rand() % 200) * 1000);	/* 20..220 ms */
		kill(kids[k], SIGKILL);
		assert_int_equal(waitpid(kids[k], &status, 0), kids[k]);
		assert_true(WIFSIGNALED(status));	/* killed, not failed */
		kids[k] = fork();
		assert_true(kids[k] >= 0);
		if (kids[k] == 0)
			loop_consumer(t, type, who);
		who++;
	}
	/* Everything reaches some consumer: the unacked ones by the ack timeout. */
	for (int i = 0; i < 200 && (got = received_distinct(t)) < published; i++)
		usleep(50000);
	for (int k = 0; k < LOOP_KIDS; k++) {
		int status;

		kill(kids[k], SIGKILL);
		assert_int_equal(waitpid(kids[k], &status, 0), kids[k]);
		assert_true(WIFSIGNALED(status));
	}
	{
		uint64_t twice = 0;

		for (uint32_t p = 0; p < PARTS; p++)
			for (uint64_t o = 0; o < MAXEV && t->recv[p][o]; o++)
				twice += t->recv[p][o] > 1;
		print_message("%llu of %llu events received, %llu more than once\n",
			      (unsigned long long)got, (unsigned long long)published,
			      (unsigned long long)twice);
	}
	assert_int_equal(got, published);
	assert_int_equal(t->undercount, 0);
	assert_int_equal(t->disorder, 0);
	client_close(&pub);
	munmap(t, sizeof(*t));
}

static void test_shared_consumers_killed(void **state)
{
	(void)state;
	consumers_killed(SHARED);
}

static void test_key_shared_consumers_killed(void **state)
{
	(void)state;
	consumers_killed(KEY_SHARED);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_shared_round_robin, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ack_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_consumer_goes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_key_shared, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_options, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shared_consumers_killed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_key_shared_consumers_killed, setup, teardown),
	};

	g_argc = argc;
	g_argv = argv;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
