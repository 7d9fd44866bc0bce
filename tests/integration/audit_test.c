/* tests/integration/audit_test.c — the distribution_audit trail through a real fanoutd:
 * events published with metadata.audit_required get one row per subscription they were
 * delivered to (and none for the others, nor for events without the flag), `acked` once
 * that subscriber's Ack covers them, `failed` for subscribers that were owed them and were
 * ended by the operator or vanished first; with the store unreachable the rows are kept in
 * the spill file and written once it is back (after a restart); a shared-memory ring's
 * deliveries recorded like a socket's. Runs on the embedded store,
 * or with argument "pg" on a fresh database of the real PostgreSQL tools/test starts (the
 * spill test needs it). argv[1] is fanoutd. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shm/fanout_shm.h"
#include "tests/integration/admin_util.h"

/* Each test its own topic: with PostgreSQL the store outlives a test's data directory. */
static const char *g_topic = "audit/exec";
#define NEV 12u		/* events of the first test; the odd ones audited */
#define NFILL 100000u	/* events ahead of the audited ones a stalled subscriber owes
			 * (~16 MB: more than its socket's buffers hold) */
#define NLATE 5u	/* audited events behind those */

static struct admin_mode g_mode;

static void start(struct server *s, bool setup, const char *pg_url)
{
	const char *args[8];
	int n = 0;

	if (setup)
		server_setup(s, g_mode.argc, g_mode.argv);
	if (pg_url) {
		args[n++] = "--pg-url";
		args[n++] = pg_url;
	}
	args[n] = NULL;
	server_start(s, args);
}

/* One execution event and the storage its fields point into. */
struct ev {
	Fanout__V1__Event e;
	Fanout__V1__Distribution d;
	Fanout__V1__Metadata md;
	Fanout__V1__ExecutionData ex;
	char id[32], key[32], order[16];
};

static void ev_exec(struct ev *v, const char *id, const char *order, bool audited)
{
	memset(v, 0, sizeof(*v));
	fanout__v1__event__init(&v->e);
	fanout__v1__distribution__init(&v->d);
	fanout__v1__metadata__init(&v->md);
	fanout__v1__execution_data__init(&v->ex);
	snprintf(v->id, sizeof(v->id), "%s", id);
	snprintf(v->order, sizeof(v->order), "%s", order);
	snprintf(v->key, sizeof(v->key), "AAPL.%s", order);
	v->e.event_id = v->id;
	v->e.timestamp_ns = 1764925200000000000ll;
	v->d.topic = (char *)g_topic;
	v->d.routing_key = v->key;
	v->e.distribution = &v->d;
	v->md.audit_required = audited;
	v->e.metadata = &v->md;
	v->ex.order_id = v->order;
	v->ex.instrument_id = (char *)"AAPL";
	v->ex.quantity = 10;
	v->ex.price = 101.5;
	v->e.data_type = FANOUT__V1__DATA_TYPE__DATA_TYPE_EXECUTION;
	v->e.payload_case = FANOUT__V1__EVENT__PAYLOAD_EXECUTION;
	v->e.execution = &v->ex;
}

/* Publishes n of them (harness publish_events). */
static void publish(struct client *c, struct ev *v, size_t n)
{
	publish_events(c, &v->e, sizeof(*v), n);
}

/* Creates g_topic with two partitions. */
static void create_topic(struct server *s)
{
	char body[200];

	snprintf(body, sizeof(body), "{\"topic_name\": \"%s\", \"partitions\": 2}", g_topic);
	json_decref(api_expect(s, "POST", "/api/v1/topics", body, 201));
}

static void subscribe(struct client *c, const char *pattern)
{
	Fanout__V1__ServerMessage *m;

	assert_int_equal(client_subscribe(c, 1, g_topic, pattern ? &pattern : NULL, pattern ? 1 : 0,
					  FANOUT__V1__START_POSITION__START_POSITION_LATEST, 0, &m),
			 0);
	client_free_msg(m);
}

/* Receives n events; records the highest offset seen per partition (of 2). */
static void receive(struct client *c, uint32_t n, uint64_t top[2])
{
	for (uint32_t i = 0; i < n; i++) {
		Fanout__V1__ServerMessage *m = recv_msg(c, 10000);
		const Fanout__V1__Distribution *d;

		if (m->body_case != FANOUT__V1__SERVER_MESSAGE__BODY_EVENT)
			fail_msg("event %u of %u: message case %d", i, n, m->body_case);
		d = m->event->distribution;
		if (top && d->partition < 2 && d->offset >= top[d->partition])
			top[d->partition] = d->offset;
		client_free_msg(m);
	}
}

static void ack(struct client *c, uint32_t partition, uint64_t offset)
{
	assert_int_equal(client_ack(c, 1, partition, offset), 0);
}

/* The REST ids of the topic's n live subscriptions, oldest first (the listing's order). */
static void sub_ids(struct server *s, char ids[][64], size_t n)
{
	char path[200];
	json_t *j, *items, *it;
	size_t i;

	/* g_topic is "audit/<name>": its '/' percent-encoded. */
	snprintf(path, sizeof(path), "/api/v1/subscriptions?topic=audit%%2F%s", g_topic + 6);
	j = api_expect(s, "GET", path, NULL, 200);
	items = json_object_get(j, "subscriptions");
	assert_int_equal(json_array_size(items), n);
	json_array_foreach(items, i, it)
		snprintf(ids[i], 64, "%s", json_string_value(json_object_get(it, "id")));
	json_decref(j);
}

/* The rows of event id (404: none) once they number want, polled (bounded): the admin
 * thread writes them in its own time. Returns the answer (owned) or NULL for 404. */
static json_t *rows_of(struct server *s, const char *id, size_t want)
{
	char path[160];
	json_t *j = NULL;

	snprintf(path, sizeof(path), "/api/v1/audit?event_id=%s", id);
	for (int i = 0; i < 100; i++) {
		int st = api(s, "GET", path, NULL, &j);

		if (st == 200 && json_array_size(json_object_get(j, "records")) >= want)
			return j;
		if (st != 200 && st != 404)
			fail_msg("GET %s: %d", path, st);
		json_decref(j);
		j = NULL;
		if (want == 0)
			return NULL;
		admin_sleep_ms(100);
	}
	fail_msg("event %s: fewer than %zu audit rows", id, want);
	return NULL;
}

/* The status of id's row for subscription sub ("" when it has none). */
static const char *status_for(const json_t *j, const char *sub)
{
	const json_t *it;
	size_t i;

	json_array_foreach(json_object_get(j, "records"), i, it)
		if (strcmp(json_string_value(json_object_get(it, "subscription_id")), sub) == 0)
			return json_string_value(json_object_get(it, "delivery_status"));
	return "";
}

/* Waits (bounded) until id's row for sub has status want. */
static void wait_status(struct server *s, const char *id, size_t rows, const char *sub,
			const char *want)
{
	for (int i = 0; i < 100; i++) {
		json_t *j = rows_of(s, id, rows);
		bool ok = strcmp(status_for(j, sub), want) == 0;

		json_decref(j);
		if (ok)
			return;
		admin_sleep_ms(100);
	}
	fail_msg("event %s: subscription %s never %s", id, sub, want);
}

static void rows_for_audited_events_only(void **state)
{
	struct server s;
	struct client all, one, pub;
	struct ev v[NEV];
	char ids[2][64];
	uint64_t top[2] = { 0, 0 };
	uint32_t to_one = 0;

	(void)state;
	g_topic = "audit/exec";
	start(&s, true, g_mode.pg ? g_mode.pg_url : NULL);
	create_topic(&s);
	server_connect(&s, &all);
	server_connect(&s, &one);
	server_connect(&s, &pub);
	subscribe(&all, NULL);
	subscribe(&one, "AAPL.O1");
	sub_ids(&s, ids, 2);
	for (uint32_t i = 0; i < NEV; i++) {
		char id[32];

		snprintf(id, sizeof(id), "ev-%u", i);
		ev_exec(&v[i], id, i % 3 == 0 ? "O1" : "O2", i % 2 == 1);
		to_one += i % 3 == 0;
	}
	publish(&pub, v, NEV);
	receive(&all, NEV, top);
	receive(&one, to_one, NULL);

	/* The audited ones first: once their rows are there, any for the others would be. */
	for (uint32_t n = 0; n < NEV; n++) {
		uint32_t i = n < NEV / 2 ? 2 * n + 1 : 2 * (n - NEV / 2);	/* odd, then even */
		bool audited = i % 2 == 1, both = i % 3 == 0;
		json_t *j = rows_of(&s, v[i].id, audited ? (both ? 2 : 1) : 0);
		const json_t *it;
		size_t k;

		if (!audited) {	/* no row: 404 */
			assert_null(j);
			continue;
		}
		assert_int_equal(json_integer_value(json_object_get(j, "count")), both ? 2 : 1);
		assert_string_equal(status_for(j, ids[0]), "delivered");
		assert_string_equal(status_for(j, ids[1]), both ? "delivered" : "");
		json_array_foreach(json_object_get(j, "records"), k, it) {
			assert_string_equal(json_string_value(json_object_get(it, "event_id")),
					    v[i].id);
			assert_string_equal(json_string_value(json_object_get(it, "topic_name")),
					    g_topic);
			assert_string_equal(json_string_value(json_object_get(it, "routing_key")),
					    v[i].key);
			assert_true(json_real_value(json_object_get(it, "delivery_time_ms")) >= 0);
			assert_true(json_real_value(json_object_get(it, "delivery_time_ms")) < 10000);
			assert_int_equal(json_integer_value(json_object_get(it, "retry_count")), 0);
		}
		json_decref(j);
	}
	api_error(&s, "GET", "/api/v1/audit?event_id=ev-0", NULL, 404, "NOT_FOUND", NULL);

	/* "all" acks everything it got on both partitions (on 0 with an offset far past the
	 * tail: what was sent is acked, and nothing in the store chokes on it): its rows
	 * become acked; "one" never acks, so its rows stay delivered. */
	ack(&all, 0, UINT64_MAX);
	ack(&all, 1, top[1]);
	for (uint32_t i = 1; i < NEV; i += 2)
		wait_status(&s, v[i].id, i % 3 == 0 ? 2 : 1, ids[0], "acked");
	{
		json_t *j = rows_of(&s, v[3].id, 2);

		assert_string_equal(status_for(j, ids[1]), "delivered");
		json_decref(j);
	}
	{	/* the trail goes on after that: a new event gets its rows */
		struct ev more;

		ev_exec(&more, "ev-more", "O1", true);
		publish(&pub, &more, 1);
		receive(&all, 1, NULL);
		receive(&one, 1, NULL);
		json_decref(rows_of(&s, "ev-more", 2));
	}
	api_error(&s, "GET", "/api/v1/audit", NULL, 400, "BAD_PARAMETER", "event_id");
	api_error(&s, "GET", "/api/v1/audit?event_id=x&limit=0", NULL, 400, "BAD_PARAMETER",
		  "limit");
	assert_true(api_metric(&s, "fanout_audit_rows_written_total") == 6 + 2 + 2);
	assert_true(api_metric(&s, "fanout_audit_rows_rejected_total") == 0);
	client_close(&all);
	client_close(&one);
	client_close(&pub);
	assert_int_equal(WEXITSTATUS(server_stop(&s, SIGTERM)), 0);
	/* The rows are in the store: read again after a restart. */
	start(&s, false, g_mode.pg ? g_mode.pg_url : NULL);
	{
		json_t *j = rows_of(&s, v[9].id, 2);

		assert_string_equal(status_for(j, ids[0]), "acked");
		json_decref(j);
	}
	assert_int_equal(WEXITSTATUS(server_stop(&s, SIGTERM)), 0);
	server_teardown(&s);
}

/* A subscriber whose socket takes (almost) nothing: it falls behind at once. */
static void stalled(struct server *s, struct client *c, const char *pattern)
{
	int small = 4096;

	server_connect(s, c);
	assert_int_equal(setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
	subscribe(c, pattern);
}

static void owed_events_fail_when_cut(void **state)
{
	struct server s;
	struct client live, gone, ended, keyed, pub;
	struct ev *v = calloc(NFILL + NLATE, sizeof(*v));
	char ids[4][64], path[160];
	const char *live_id = ids[0], *gone_id = ids[1], *ended_id = ids[2], *keyed_id = ids[3];
	json_t *j, *it;
	size_t i;

	(void)state;
	assert_non_null(v);
	g_topic = "audit/cut";
	start(&s, true, g_mode.pg ? g_mode.pg_url : NULL);
	create_topic(&s);
	server_connect(&s, &pub);
	server_connect(&s, &live);
	subscribe(&live, "AAPL.*");
	stalled(&s, &gone, NULL);
	stalled(&s, &ended, NULL);
	stalled(&s, &keyed, "AAPL.O7");	/* routed by its key (a ring of offsets) */
	sub_ids(&s, ids, 4);

	for (uint32_t k = 0; k < NFILL + NLATE; k++) {
		char id[32];

		snprintf(id, sizeof(id), "%s-%u", k < NFILL ? "fill" : "late", k);
		ev_exec(&v[k], id, "O7", k >= NFILL);
	}
	publish(&pub, v, NFILL + NLATE);
	receive(&live, NFILL + NLATE, NULL);
	/* Each audited event reached the live one; the stalled ones are far behind. */
	for (uint32_t k = NFILL; k < NFILL + NLATE; k++) {
		j = rows_of(&s, v[k].id, 1);
		assert_string_equal(status_for(j, live_id), "delivered");
		assert_string_equal(status_for(j, gone_id), "");
		json_decref(j);
	}
	/* Two vanish; the operator ends the third: all were owed the audited events. */
	client_close(&gone);
	client_close(&keyed);
	snprintf(path, sizeof(path), "/api/v1/subscriptions/%s", ended_id);
	assert_int_equal(api(&s, "DELETE", path, NULL, NULL) / 100, 2);
	for (uint32_t k = NFILL; k < NFILL + NLATE; k++) {
		wait_status(&s, v[k].id, 4, gone_id, "failed");
		j = rows_of(&s, v[k].id, 4);
		assert_int_equal(json_integer_value(json_object_get(j, "count")), 4);
		assert_string_equal(status_for(j, live_id), "delivered");
		assert_string_equal(status_for(j, ended_id), "failed");
		assert_string_equal(status_for(j, keyed_id), "failed");
		json_array_foreach(json_object_get(j, "records"), i, it)
			if (strcmp(json_string_value(json_object_get(it, "delivery_status")),
				   "failed") == 0)
				assert_true(json_is_null(json_object_get(it, "delivery_time_ms")));
		json_decref(j);
	}
	/* Nothing for the unaudited events, however they ended. */
	api_error(&s, "GET", "/api/v1/audit?event_id=fill-7", NULL, 404, "NOT_FOUND", NULL);
	client_close(&ended);
	client_close(&live);
	client_close(&pub);
	assert_int_equal(WEXITSTATUS(server_stop(&s, SIGTERM)), 0);
	server_teardown(&s);
	free(v);
}

/* The store unreachable: rows go to the spill file in the data directory and survive a
 * restart; with the store back they are written, in order (acks after their rows). */
static void spilled_while_store_is_down(void **state)
{
	struct server s;
	struct client sub, pub;
	struct ev v[4];
	char spill[400];
	struct stat sb;
	uint64_t top[2] = { 0, 0 };
	json_t *j;

	(void)state;
	if (!g_mode.pg)
		skip();	/* SQLite is a file: never down */
	g_topic = "audit/down";
	start(&s, true, "postgresql://127.0.0.1:1/nowhere?connect_timeout=1");
	server_connect(&s, &sub);
	server_connect(&s, &pub);
	{	/* the topic comes with the first publish (the store cannot create it) */
		struct ev first;

		ev_exec(&first, "warm", "O9", false);
		publish(&pub, &first, 1);
	}
	subscribe(&sub, NULL);
	for (uint32_t k = 0; k < 4; k++) {
		char id[32];

		snprintf(id, sizeof(id), "down-%u", k);
		ev_exec(&v[k], id, "O9", true);
	}
	publish(&pub, v, 4);
	receive(&sub, 4, top);
	ack(&sub, 0, top[0]);	/* one partition (the default) */
	for (int i = 0; i < 100 && api_metric(&s, "fanout_audit_rows_spilled_total") < 5; i++)
		admin_sleep_ms(100);
	assert_true(api_metric(&s, "fanout_audit_rows_spilled_total") == 5);	/* 4 + the ack */
	api_error(&s, "GET", "/api/v1/audit?event_id=down-0", NULL, 503, "STORE_UNAVAILABLE",
		  NULL);
	client_close(&sub);
	client_close(&pub);
	assert_int_equal(WEXITSTATUS(server_stop(&s, SIGTERM)), 0);
	snprintf(spill, sizeof(spill), "%s/data/audit-spill.jsonl", s.dir);
	assert_int_equal(stat(spill, &sb), 0);
	assert_true(sb.st_size > 0);
	{	/* a line a crash cut short at the end: not a row, and no harm */
		FILE *f = fopen(spill, "a");

		assert_non_null(f);
		fputs("{\"id\": \"0000", f);
		fclose(f);
	}

	start(&s, false, g_mode.pg_url);	/* the store is there now */
	for (uint32_t k = 0; k < 4; k++) {
		j = rows_of(&s, v[k].id, 1);
		assert_int_equal(json_integer_value(json_object_get(j, "count")), 1);
		assert_string_equal(json_string_value(json_object_get(
			json_array_get(json_object_get(j, "records"), 0), "delivery_status")), "acked");
		json_decref(j);
	}
	assert_int_equal(stat(spill, &sb), -1);	/* replayed, then removed */
	assert_int_equal(WEXITSTATUS(server_stop(&s, SIGTERM)), 0);
	server_teardown(&s);
}

/* The spill file never passes --audit-spill-bytes: past it rows are dropped, counted. */
static void spill_is_bounded(void **state)
{
	struct server s;
	struct client sub, pub;
	struct ev v[40];
	char spill[400];
	struct stat sb;

	(void)state;
	g_topic = "audit/bound";
	server_setup(&s, g_mode.argc, g_mode.argv);
	server_start(&s, (const char *const[]){ "--pg-url",
		"postgresql://127.0.0.1:1/nowhere?connect_timeout=1", "--audit-spill-bytes", "2000",
		NULL });
	server_connect(&s, &sub);
	server_connect(&s, &pub);
	ev_exec(&v[0], "bound-warm", "O8", false);
	publish(&pub, v, 1);	/* the topic */
	subscribe(&sub, NULL);
	for (uint32_t k = 0; k < 40; k++) {
		char id[32];

		snprintf(id, sizeof(id), "bound-%u", k);
		ev_exec(&v[k], id, "O8", true);
	}
	publish(&pub, v, 40);
	receive(&sub, 40, NULL);
	for (int i = 0; i < 100 && api_metric(&s, "fanout_audit_records_total") < 40; i++)
		admin_sleep_ms(100);
	json_decref(api_expect(&s, "GET", "/metrics", NULL, 200));	/* a chore ran since */
	admin_sleep_ms(300);
	assert_true(api_metric(&s, "fanout_audit_records_total") == 40);
	assert_true(api_metric(&s, "fanout_audit_rows_spilled_total") > 0);
	assert_true(api_metric(&s, "fanout_audit_dropped_rows_total") > 0);
	assert_true(api_metric(&s, "fanout_audit_rows_spilled_total") +
		    api_metric(&s, "fanout_audit_dropped_rows_total") == 40);
	snprintf(spill, sizeof(spill), "%s/data/audit-spill.jsonl", s.dir);
	assert_int_equal(stat(spill, &sb), 0);
	assert_true(sb.st_size > 0 && sb.st_size <= 2000);
	client_close(&sub);
	client_close(&pub);
	assert_int_equal(WEXITSTATUS(server_stop(&s, SIGTERM)), 0);
	server_teardown(&s);
}

/* A shared-memory ring subscriber: each audited event written into its ring is a row. */
static void ring_deliveries_are_recorded(void **state)
{
	struct server s;
	struct client pub;
	struct fanout_shm *ring = NULL;
	struct fanout_shm_record rec;
	char sock[300], err[256], ids[1][64];
	struct ev v[5];
	struct fanout_shm_attach_opts o = { .socket_path = sock, .ring_bytes = 1 << 20,
					    .timeout_ms = 5000 };

	(void)state;
	g_topic = "audit/ring";
	start(&s, true, g_mode.pg ? g_mode.pg_url : NULL);
	create_topic(&s);
	snprintf(sock, sizeof(sock), "%s/data/shm.sock", s.dir);
	o.topic = g_topic;
	if (fanout_shm_attach(&ring, &o, NULL, err, sizeof(err)) != 0)
		fail_msg("attach: %s", err);
	sub_ids(&s, ids, 1);
	server_connect(&s, &pub);
	for (uint32_t k = 0; k < 5; k++) {
		char id[32];

		snprintf(id, sizeof(id), "ring-%u", k);
		ev_exec(&v[k], id, k % 2 ? "O3" : "O4", k % 2 == 0);
	}
	publish(&pub, v, 5);
	for (uint32_t k = 0; k < 5; k++)
		assert_int_equal(fanout_shm_next(ring, &rec, 5000ll * 1000 * 1000), FANOUT_SHM_EVENT);
	for (uint32_t k = 0; k < 5; k++) {
		json_t *j = rows_of(&s, v[k].id, k % 2 == 0 ? 1 : 0);

		if (k % 2) {
			assert_null(j);
			continue;
		}
		assert_int_equal(json_integer_value(json_object_get(j, "count")), 1);
		assert_string_equal(status_for(j, ids[0]), "delivered");
		json_decref(j);
	}
	fanout_shm_close(ring);
	client_close(&pub);
	assert_int_equal(WEXITSTATUS(server_stop(&s, SIGTERM)), 0);
	server_teardown(&s);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rows_for_audited_events_only),
		cmocka_unit_test(owed_events_fail_when_cut),
		cmocka_unit_test(ring_deliveries_are_recorded),
		cmocka_unit_test(spill_is_bounded),
		cmocka_unit_test(spilled_while_store_is_down),
	};

	return admin_test_main(&g_mode, argc, argv, tests, sizeof(tests) / sizeof(tests[0]));
}
