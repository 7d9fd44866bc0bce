/* tests/integration/hash_test.c — hashes are never identity (issue 11, defect 6), through
 * a real fanoutd:
 *  - with FANOUT_TEST_HASH_BITS=0 every string hashes alike (the index proves it), and
 *    still each subscriber gets exactly its own key's events through every path: the
 *    exact-key index, the wildcard route cache, snapshots from the last-value table (also
 *    rebuilt after a restart);
 *  - the keyed hash differs between two data directories (their HASHKEY files, mode 0600)
 *    and is the same across restarts of one. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/keyhash.h"
#include "core/log.h"
#include "tests/integration/harness.h"

static int g_argc;
static char **g_argv;

#define TOPIC "coll"
#define ROUNDS 500u
static const char *const keys[] = { "AAA.x", "BBB.x", "CCC.y" };
#define NKEYS 3u

struct ev {
	Fanout__V1__Event e;
	Fanout__V1__Distribution d;
	Fanout__V1__MarketData md;
	char id[32];
};

static Fanout__V1__Event *key_event(struct ev *v, uint32_t seq, const char *key)
{
	fanout__v1__event__init(&v->e);
	fanout__v1__distribution__init(&v->d);
	fanout__v1__market_data__init(&v->md);
	snprintf(v->id, sizeof(v->id), "e%u", seq);
	v->e.event_id = v->id;
	v->d.topic = TOPIC;
	v->d.routing_key = (char *)key;
	v->e.distribution = &v->d;
	v->md.symbol = (char *)key;
	v->md.price = seq;
	v->e.payload_case = FANOUT__V1__EVENT__PAYLOAD_MARKET_DATA;
	v->e.market_data = &v->md;
	return &v->e;
}

/* Publishes ROUNDS rounds of one event per key, a batch per round. */
static void publish_rounds(struct client *pub, uint32_t first)
{
	struct ev v[NKEYS];
	Fanout__V1__Event *batch[NKEYS];

	for (uint32_t r = 0; r < ROUNDS; r++) {
		Fanout__V1__ServerMessage *m;

		for (uint32_t k = 0; k < NKEYS; k++)
			batch[k] = key_event(&v[k], first + r * NKEYS + k, keys[k]);
		assert_int_equal(client_publish(pub, r + 1, batch, NKEYS), 0);
		m = recv_msg(pub, 10000);
		if (m->body_case != FANOUT__V1__SERVER_MESSAGE__BODY_PUBLISH_ACK)
			fail_msg("publish: got message case %d", m->body_case);
		client_free_msg(m);
	}
}

static void subscribe(struct client *c, uint32_t id, const char *pattern, bool snapshot)
{
	Fanout__V1__Subscribe s = FANOUT__V1__SUBSCRIBE__INIT;
	Fanout__V1__ServerMessage *m = NULL;
	char *pats[1] = { (char *)pattern };

	s.subscription_id = id;
	s.topic = TOPIC;
	s.patterns = pattern ? pats : NULL;
	s.n_patterns = pattern ? 1 : 0;
	s.snapshot = snapshot;
	if (client_subscribe_msg(c, &s, &m) < 0)
		fail_msg("subscribe %s: %s", pattern ? pattern : "(all)",
			 m && m->error ? m->error->message : "no answer");
	client_free_msg(m);
}

/* Receives n events, each with routing key want, then nothing else (a Ping's Pong next). */
static void expect_only(struct client *c, uint32_t n, const char *want)
{
	for (uint32_t i = 0; i < n; i++) {
		Fanout__V1__ServerMessage *m = recv_msg(c, 10000);

		if (m->body_case != FANOUT__V1__SERVER_MESSAGE__BODY_EVENT)
			fail_msg("event %u of %u for %s: got message case %d", i, n, want,
				 m->body_case);
		if (strcmp(m->event->distribution->routing_key, want) != 0)
			fail_msg("a subscriber of %s was sent %s's event", want,
				 m->event->distribution->routing_key);
		client_free_msg(m);
	}
	ping_pong(c, 7);
}

static void start_colliding(struct server *srv)
{
	const char *args[] = { "--topic", TOPIC ":4", NULL };

	setenv(KEYHASH_TEST_ENV, "0", 1);
	server_start(srv, args);
	unsetenv(KEYHASH_TEST_ENV);
}

/* The key hash stored for offset base + i in partition p's segment base (the server
 * stopped: everything is on disk). */
static uint64_t stored_key_hash(const struct server *srv, const char *topic, uint32_t p,
				uint64_t base, uint64_t i)
{
	char path[512];
	uint64_t h = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/data/topics/%s/%u/%020llu.idx", srv->dir, topic, p,
		 (unsigned long long)base);
	f = fopen(path, "rb");
	assert_non_null(f);
	assert_int_equal(fseek(f, (long)(sizeof(struct log_index_header) +
					 i * sizeof(struct log_entry) +
					 offsetof(struct log_entry, key_hash)), SEEK_SET), 0);
	assert_int_equal(fread(&h, sizeof(h), 1, f), 1);
	fclose(f);
	return h;
}

/* Snapshots name each key's newest event only: an exact key, a wildcard, everything. */
static void check_snapshots(struct server *srv)
{
	struct client a, y, all;

	server_connect(srv, &a);
	server_connect(srv, &y);
	server_connect(srv, &all);
	subscribe(&a, 1, "AAA.x", true);
	expect_only(&a, 1, "AAA.x");
	subscribe(&y, 1, "*.y", true);
	expect_only(&y, 1, "CCC.y");
	subscribe(&all, 1, NULL, true);
	for (uint32_t k = 0; k < NKEYS; k++) {
		Fanout__V1__ServerMessage *m = recv_msg(&all, 10000);

		assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_EVENT);
		/* The newest of its key: the last round's. */
		assert_true(m->event->market_data->price >= (ROUNDS - 1) * NKEYS);
		assert_string_equal(m->event->distribution->routing_key,
				    keys[(uint32_t)m->event->market_data->price % NKEYS]);
		client_free_msg(m);
	}
	ping_pong(&all, 8);
	client_close(&a);
	client_close(&y);
	client_close(&all);
}

static void colliding_keys_never_cross(void **state)
{
	struct server srv;
	struct client pub, ex[2], wild[3];
	const char *wild_pat[3] = { "AAA.*", "BBB.>", "*.y" };
	uint32_t p = 0;

	(void)state;
	server_setup(&srv, g_argc, g_argv);
	start_colliding(&srv);
	for (int i = 0; i < 2; i++) {
		server_connect(&srv, &ex[i]);
		subscribe(&ex[i], 1, keys[i], false);	/* exact keys: the key index */
	}
	for (int i = 0; i < 3; i++) {
		server_connect(&srv, &wild[i]);
		subscribe(&wild[i], 1, wild_pat[i], false);	/* wildcards: the route cache */
	}
	server_connect(&srv, &pub);
	publish_rounds(&pub, 0);
	for (int i = 0; i < 2; i++)
		expect_only(&ex[i], ROUNDS, keys[i]);
	for (int i = 0; i < 3; i++)
		expect_only(&wild[i], ROUNDS, keys[i]);
	check_snapshots(&srv);
	client_close(&pub);
	for (int i = 0; i < 2; i++)
		client_close(&ex[i]);
	for (int i = 0; i < 3; i++)
		client_close(&wild[i]);
	/* After a restart the last-value table is rebuilt from the log: the same answers. */
	assert_int_equal(server_stop(&srv, SIGTERM), 0);
	start_colliding(&srv);
	check_snapshots(&srv);
	assert_int_equal(server_stop(&srv, SIGTERM), 0);
	/* The hook was in force: three keys, one stored hash, one partition. */
	for (p = 0; p < 4; p++) {
		char path[512];

		snprintf(path, sizeof(path), "%s/data/topics/" TOPIC "/%u/%020u.idx", srv.dir, p, 0u);
		if (access(path, F_OK) == 0 && stored_key_hash(&srv, TOPIC, p, 0, 0) != 0)
			break;
	}
	assert_true(p < 4);
	assert_true(stored_key_hash(&srv, TOPIC, p, 0, 0) == stored_key_hash(&srv, TOPIC, p, 0, 1));
	assert_true(stored_key_hash(&srv, TOPIC, p, 0, 1) == stored_key_hash(&srv, TOPIC, p, 0, 2));
	server_teardown(&srv);
}

/* Publishes one event of key "K.x" to a one-partition topic. */
static void publish_one(struct server *srv)
{
	struct client pub;
	struct ev v;
	Fanout__V1__Event *e = key_event(&v, 1, "K.x");
	Fanout__V1__ServerMessage *m;

	v.d.topic = "solo";
	server_connect(srv, &pub);
	assert_int_equal(client_publish(&pub, 1, &e, 1), 0);
	m = recv_msg(&pub, 10000);
	assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_PUBLISH_ACK);
	client_free_msg(m);
	client_close(&pub);
}

static void key_per_data_dir_stable_across_restarts(void **state)
{
	struct server a, b;
	char path[512];
	struct stat st;
	uint64_t ha, hb;

	(void)state;
	server_setup(&a, g_argc, g_argv);
	server_setup(&b, g_argc, g_argv);
	server_start(&a, NULL);
	server_start(&b, NULL);
	publish_one(&a);
	publish_one(&b);
	assert_int_equal(server_stop(&a, SIGTERM), 0);
	assert_int_equal(server_stop(&b, SIGTERM), 0);
	ha = stored_key_hash(&a, "solo", 0, 0, 0);
	hb = stored_key_hash(&b, "solo", 0, 0, 0);
	assert_true(ha != 0 && hb != 0);
	assert_true(ha != hb);	/* another data dir, another key */
	assert_true(ha != keyhash_bytes("K.x", 3));	/* and not the tools' fixed key */
	snprintf(path, sizeof(path), "%s/data/" KEYHASH_FILE, a.dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	server_start(&a, NULL);	/* restarted: the same key, the same hash */
	publish_one(&a);
	assert_int_equal(server_stop(&a, SIGTERM), 0);
	/* A restarted writer starts a new segment: offset 1 is the first of segment 1. */
	assert_true(stored_key_hash(&a, "solo", 0, 1, 0) == ha);
	server_teardown(&a);
	server_teardown(&b);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(colliding_keys_never_cross),
		cmocka_unit_test(key_per_data_dir_stable_across_restarts),
	};

	g_argc = argc;
	g_argv = argv;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
