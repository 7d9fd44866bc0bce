/* tests/integration/auth_test.c — who may do what over TCP, through a real server with
 * --auth required: a Hello without a valid token (none, malformed, a wrong secret, a
 * request before Hello) is refused alike and the connection closes; the bootstrap admin
 * token (a 0600 file the server makes) may do everything; a client token publishes and
 * subscribes exactly where its patterns allow (a batch with one forbidden event stores
 * nothing; an event a routing rule sends elsewhere needs rights on the target);
 * revoking a token cuts its live connections, changing its rights ends the
 * subscriptions it lost; rate and count limits hit exactly with RATE_LIMITED and a retry
 * time; repeated failures from one address are answered ever later; tokens never reach
 * the server's log; an insecure or badly kept configuration does not start. Tokens are
 * made through the REST API, as an operator would. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/clock.h"
#include "tests/integration/admin_util.h"
#include "tools/http_client.h"

#define TOPIC_MD   "market-data/equities"
#define TOPIC_FILL "execution/fills"

static int g_argc;
static char **g_argv;
static struct server g_srv;
static char g_admin[128];	/* the bootstrap token */

static void read_token(const char *path, char *out, size_t cap)
{
	FILE *f = fopen(path, "r");

	assert_non_null(f);
	assert_non_null(fgets(out, (int)cap, f));
	fclose(f);
	out[strcspn(out, "\n")] = '\0';
}

/* Starts a server with auth required and extra arguments (NULL-terminated, at most 8). */
static void start_auth(const char *const *extra)
{
	char boot[300];
	const char *args[24] = { "--auth", "required", "--auth-bootstrap", boot, "--topic",
				 TOPIC_MD ":2", "--topic", TOPIC_FILL, "--reactors", "2" };
	size_t n = 10;
	struct stat st;

	snprintf(boot, sizeof(boot), "%s/boot.token", g_srv.dir);
	for (size_t i = 0; extra && extra[i]; i++)
		args[n++] = extra[i];
	args[n] = NULL;
	server_start(&g_srv, args);
	assert_int_equal(stat(boot, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);	/* made by the server, for its user only */
	read_token(boot, g_admin, sizeof(g_admin));
	assert_int_equal(strlen(g_admin), 59);
}

static int setup(void **state)
{
	(void)state;
	server_setup(&g_srv, g_argc, g_argv);
	g_srv.verbose = getenv("AUTH_TEST_VERBOSE") != NULL;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	server_teardown(&g_srv);
	return 0;
}

/* A REST call with a bearer token, failing the test unless it answers want; returns the
 * body (owned). */
static json_t *api_expect_as(struct server *s, const char *token, const char *method,
			     const char *path, const char *body, int want)
{
	struct http_response r = { 0 };
	json_t *j;
	int rc = http_request_auth(s->http, token, method, path, body ? "application/json" : NULL,
				   body, body ? strlen(body) : 0, 10000, &r);

	if (rc < 0)
		fail_msg("%s %s: %s", method, path, strerror(-rc));
	if (r.status != want)
		fail_msg("%s %s: status %d, want %d: %s", method, path, r.status, want,
			 r.body ? r.body : "");
	j = json_loads(r.body ? r.body : "", 0, NULL);
	http_response_free(&r);
	return j;
}

/* Makes a token through REST as the bootstrap admin; returns its text (malloc'd) and,
 * when id is not NULL, its id. */
static char *token_new(const char *body, char *id, size_t idcap)
{
	json_t *j = api_expect_as(&g_srv, g_admin, "POST", "/api/v1/tokens", body, 201);
	const char *text = json_string_value(json_object_get(j, "token"));
	char *out;

	assert_non_null(text);
	out = strdup(text);
	if (id)
		snprintf(id, idcap, "%s", json_string_value(json_object_get(j, "id")));
	json_decref(j);
	return out;
}

/* Hello with token (NULL: none); returns the answer. */
static Fanout__V1__ServerMessage *hello_with(struct client *c, const char *token)
{
	Fanout__V1__Hello h = FANOUT__V1__HELLO__INIT;
	Fanout__V1__ServerMessage *m = NULL;

	h.protocol_version = 1;
	h.client_name = "auth-test";
	h.token = (char *)(token ? token : "");
	if (client_hello_msg(c, &h, 10000, &m) < 0 && !m)
		fail_msg("hello: no answer");
	return m;
}

/* A connection authenticated with token (fails the test if refused). */
static void connect_as(struct client *c, const char *token)
{
	Fanout__V1__ServerMessage *m;

	server_connect(&g_srv, c);
	m = hello_with(c, token);
	if (m->body_case != FANOUT__V1__SERVER_MESSAGE__BODY_HELLO)
		fail_msg("hello refused: %s", m->error ? m->error->message : "?");
	client_free_msg(m);
}

/* The next message is a closing Error of code; then the server closes. Returns its text
 * (static). */
static const char *expect_closed(struct client *c, Fanout__V1__ErrorCode code)
{
	static char text[400];
	Fanout__V1__ServerMessage *m = expect_error(c, code), *more = NULL;

	assert_true(m->error->closing);
	snprintf(text, sizeof(text), "%s", m->error->message);
	client_free_msg(m);
	assert_true(client_recv(c, &more, 5000) < 0);	/* end of stream */
	client_free_msg(more);
	return text;
}

/* Publishes one batch of events numbered [first, first+n) to topics[i % ntopics]; returns
 * the answer (an ack or an Error). */
static Fanout__V1__ServerMessage *publish_to(struct client *c, uint64_t seq,
					     const char *const *topics, size_t ntopics,
					     uint32_t first, uint32_t n)
{
	static Fanout__V1__Event ev[256];
	static Fanout__V1__Distribution dist[256];
	static Fanout__V1__MarketData md[256];
	static char bufs[256][256];
	Fanout__V1__Event *ptrs[256];

	assert_true(n <= 256);
	for (uint32_t i = 0; i < n; i++) {
		make_event(&ev[i], &dist[i], &md[i], bufs[i], topics[i % ntopics], first + i, 7);
		ptrs[i] = &ev[i];
	}
	assert_int_equal(client_publish(c, seq, ptrs, n), 0);
	return recv_msg(c, 5000);
}

/* Waits (bounded) until the admin audit holds at least n rows of action by actor, each
 * from 127.0.0.1 and refused. */
static void expect_audit(const char *action, const char *actor, size_t n)
{
	char path[160];
	size_t got = 0;

	snprintf(path, sizeof(path), "/api/v1/admin-audit?action=%s&actor=%s", action, actor);
	for (int tries = 0; tries < 100; tries++) {
		json_t *j = api_expect_as(&g_srv, g_admin, "GET", path, NULL, 200);
		json_t *rows = json_object_get(j, "records"), *row;
		size_t i;

		got = json_array_size(rows);
		json_array_foreach(rows, i, row) {
			assert_string_equal(json_string_value(json_object_get(row, "actor")), actor);
			assert_string_equal(json_string_value(json_object_get(row, "source")),
					    "127.0.0.1");
			assert_string_equal(json_string_value(json_object_get(row, "action")),
					    action);
			assert_string_equal(json_string_value(json_object_get(row, "outcome")),
					    "refused");
		}
		json_decref(j);
		if (got >= n)
			return;
		admin_sleep_ms(50);
	}
	fail_msg("admin audit: %zu rows of %s by %s, want %zu", got, action, actor, n);
}

static void expect_acked(Fanout__V1__ServerMessage *m, uint32_t n)
{
	if (m->body_case != FANOUT__V1__SERVER_MESSAGE__BODY_PUBLISH_ACK)
		fail_msg("publish: want an ack, got case %d: %s", m->body_case,
			 m->error ? m->error->message : "");
	assert_int_equal(m->publish_ack->n_offsets, n);
	client_free_msg(m);
}

/* The next event offset a fresh publish to topic's partition lands on, through the
 * admin token: how many events the topic holds (one partition topics). */
static uint64_t next_offset(const char *topic)
{
	struct client c;
	Fanout__V1__ServerMessage *m;
	uint64_t off;

	connect_as(&c, g_admin);
	m = publish_to(&c, 1, &topic, 1, 900000, 1);
	assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_PUBLISH_ACK);
	off = m->publish_ack->offsets[0];
	client_free_msg(m);
	client_close(&c);
	return off;
}

static void hello_needs_a_valid_token(void **state)
{
	char bad[128], msg_none[400], msg_bad[400];
	struct client c;
	Fanout__V1__ServerMessage *m;

	(void)state;
	start_auth(NULL);
	/* No token. */
	server_connect(&g_srv, &c);
	m = hello_with(&c, NULL);
	assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_ERROR);
	assert_int_equal(m->error->code, FANOUT__V1__ERROR_CODE__ERROR_CODE_UNAUTHENTICATED);
	assert_true(m->error->closing);
	snprintf(msg_none, sizeof(msg_none), "%s", m->error->message);
	client_free_msg(m);
	client_close(&c);
	/* The bootstrap token's id with a wrong secret: the same answer, word for word. */
	snprintf(bad, sizeof(bad), "%s", g_admin);
	bad[58] = bad[58] == 'A' ? 'B' : 'A';
	server_connect(&g_srv, &c);
	m = hello_with(&c, bad);
	assert_int_equal(m->error->code, FANOUT__V1__ERROR_CODE__ERROR_CODE_UNAUTHENTICATED);
	snprintf(msg_bad, sizeof(msg_bad), "%s", m->error->message);
	assert_string_equal(msg_none, msg_bad);
	client_free_msg(m);
	client_close(&c);
	/* Not a token's shape at all. */
	server_connect(&g_srv, &c);
	m = hello_with(&c, "hunter2");
	assert_int_equal(m->error->code, FANOUT__V1__ERROR_CODE__ERROR_CODE_UNAUTHENTICATED);
	assert_string_equal(m->error->message, msg_none);
	client_free_msg(m);
	client_close(&c);
	/* A subscribe before any Hello. */
	server_connect(&g_srv, &c);
	{
		Fanout__V1__ServerMessage *r = NULL;
		const char *const pats[] = { ">" };

		assert_int_equal(client_subscribe(&c, 1, TOPIC_MD, pats, 1,
						  FANOUT__V1__START_POSITION__START_POSITION_LATEST,
						  0, &r), -EPROTO);
		assert_int_equal(r->error->code,
				 FANOUT__V1__ERROR_CODE__ERROR_CODE_UNAUTHENTICATED);
		assert_true(r->error->closing);
		client_free_msg(r);
	}
	client_close(&c);
	/* A publish before any Hello: refused, nothing stored. */
	server_connect(&g_srv, &c);
	{
		const char *t = TOPIC_FILL;

		m = publish_to(&c, 1, &t, 1, 0, 3);
		assert_int_equal(m->error->code,
				 FANOUT__V1__ERROR_CODE__ERROR_CODE_UNAUTHENTICATED);
		client_free_msg(m);
	}
	client_close(&c);
	assert_int_equal(next_offset(TOPIC_FILL), 0);
	/* Three Hellos and two requests refused, each audited with no token's name. */
	expect_audit("tcp.hello", "anonymous", 3);
	expect_audit("tcp.request", "anonymous", 2);
}

static void bootstrap_admin_does_everything(void **state)
{
	struct client c;
	Fanout__V1__ServerMessage *m;
	const char *const pats[] = { ">" };

	(void)state;
	start_auth(NULL);
	server_connect(&g_srv, &c);
	m = hello_with(&c, g_admin);
	assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_HELLO);
	assert_string_equal(m->hello->token_name, "bootstrap");
	assert_string_equal(m->hello->role, "admin");
	client_free_msg(m);
	assert_int_equal(client_subscribe(&c, 1, TOPIC_FILL, pats, 1,
					  FANOUT__V1__START_POSITION__START_POSITION_EARLIEST, 0,
					  &m), 0);
	client_free_msg(m);
	publish_range(&c, TOPIC_FILL, 0, 10, 7, NULL);
	for (int got = 0; got < 10;) {
		m = recv_msg(&c, 5000);
		got += m->body_case == FANOUT__V1__SERVER_MESSAGE__BODY_EVENT;
		client_free_msg(m);
	}
	client_close(&c);
}

static void publish_and_subscribe_rights(void **state)
{
	struct client c;
	Fanout__V1__ServerMessage *m;
	const char *const pats[] = { ">" };
	const char *ok[] = { TOPIC_MD }, *mixed[] = { TOPIC_MD, TOPIC_FILL };
	char *tok, id[32];

	(void)state;
	start_auth(NULL);
	tok = token_new("{\"name\":\"desk\",\"role\":\"client\","
			"\"publish\":{\"allow\":[\"market-data/>\"],"
			"\"deny\":[\"market-data/internal\"]},"
			"\"subscribe\":{\"allow\":[\"execution/fills\"]}}", id, sizeof(id));
	connect_as(&c, tok);
	expect_acked(publish_to(&c, 1, ok, 1, 0, 5), 5);
	/* One forbidden event fails the whole batch, naming it; nothing of it is stored. */
	m = publish_to(&c, 2, mixed, 2, 5, 4);
	assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_ERROR);
	assert_int_equal(m->error->code, FANOUT__V1__ERROR_CODE__ERROR_CODE_PERMISSION_DENIED);
	assert_int_equal(m->error->sequence, 2);
	assert_non_null(strstr(m->error->message, "events[1]"));
	assert_non_null(strstr(m->error->message, TOPIC_FILL));
	assert_false(m->error->closing);
	client_free_msg(m);
	{
		const char *deny[] = { "market-data/internal" };

		m = publish_to(&c, 3, deny, 1, 9, 1);
		assert_int_equal(m->error->code,
				 FANOUT__V1__ERROR_CODE__ERROR_CODE_PERMISSION_DENIED);
		client_free_msg(m);
	}
	/* Subscribing: allowed where the patterns say, refused elsewhere; the connection
	 * stays open. */
	assert_int_equal(client_subscribe(&c, 1, TOPIC_FILL, pats, 1,
					  FANOUT__V1__START_POSITION__START_POSITION_LATEST, 0,
					  &m), 0);
	client_free_msg(m);
	assert_int_equal(client_subscribe(&c, 2, TOPIC_MD, pats, 1,
					  FANOUT__V1__START_POSITION__START_POSITION_EARLIEST, 0,
					  &m), -EPROTO);
	assert_int_equal(m->error->code, FANOUT__V1__ERROR_CODE__ERROR_CODE_PERMISSION_DENIED);
	assert_int_equal(m->error->subscription_id, 2);
	client_free_msg(m);
	ping_pong(&c, 7);
	client_close(&c);
	/* Only the 5 allowed events are in the topic's two partitions: the next 2 publishes
	 * land at offsets summing to what is there. */
	{
		struct client a;
		uint64_t held = 0;

		connect_as(&a, g_admin);
		assert_int_equal(client_subscribe(&a, 1, TOPIC_MD, pats, 1,
						  FANOUT__V1__START_POSITION__START_POSITION_EARLIEST,
						  0, &m), 0);
		client_free_msg(m);
		for (;;) {
			if (client_recv(&a, &m, 500) < 0)
				break;
			held += m->body_case == FANOUT__V1__SERVER_MESSAGE__BODY_EVENT;
			client_free_msg(m);
		}
		assert_int_equal(held, 5);
		client_close(&a);
	}
	/* Each refusal is in the admin audit: who (the token's id), from where, what. */
	expect_audit("tcp.publish", id, 2);
	expect_audit("tcp.subscribe", id, 1);
	free(tok);
}

static void rerouted_events_need_rights_on_the_target(void **state)
{
	char rules[300], arg[300];
	const char *extra[] = { "--rules", arg, NULL };
	const char *md[] = { TOPIC_MD };
	struct client c;
	Fanout__V1__ServerMessage *m;
	FILE *f;
	char *tok;

	(void)state;
	snprintf(rules, sizeof(rules), "%s/rules.json", g_srv.dir);
	snprintf(arg, sizeof(arg), "%s", rules);
	f = fopen(rules, "w");
	assert_non_null(f);
	fputs("[{\"name\":\"to-vault\",\"source_topic\":\"market-data/equities\","
	      "\"source_pattern\":\"*.NYSE.>\",\"target_topic\":\"vault/nyse\"}]\n", f);
	fclose(f);
	start_auth(extra);
	tok = token_new("{\"name\":\"feed\",\"publish\":{\"allow\":[\"market-data/>\"]}}",
			NULL, 0);
	connect_as(&c, tok);
	/* Event numbers 0..6 over 7 symbols on 4 exchanges: some are NYSE's. */
	m = publish_to(&c, 1, md, 1, 0, 7);
	assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_ERROR);
	assert_int_equal(m->error->code, FANOUT__V1__ERROR_CODE__ERROR_CODE_PERMISSION_DENIED);
	assert_non_null(strstr(m->error->message, "vault/nyse"));
	assert_non_null(strstr(m->error->message, "routing rule"));
	client_free_msg(m);
	client_close(&c);
	free(tok);
	/* With rights on the target too, the same batch goes through. */
	tok = token_new("{\"name\":\"feed2\",\"publish\":{\"allow\":[\"market-data/>\","
			"\"vault/*\"]}}", NULL, 0);
	connect_as(&c, tok);
	expect_acked(publish_to(&c, 1, md, 1, 0, 7), 7);
	client_close(&c);
	free(tok);
}

static void revoking_cuts_live_connections(void **state)
{
	struct client sub, pub;
	Fanout__V1__ServerMessage *m;
	const char *const pats[] = { ">" };
	char id[32], path[96];
	char *tok;
	const char *text;

	(void)state;
	start_auth(NULL);
	tok = token_new("{\"name\":\"watcher\",\"subscribe\":{\"allow\":[\"execution/>\"]},"
			"\"publish\":{\"allow\":[\"execution/>\"]}}", id, sizeof(id));
	connect_as(&sub, tok);
	assert_int_equal(client_subscribe(&sub, 1, TOPIC_FILL, pats, 1,
					  FANOUT__V1__START_POSITION__START_POSITION_LATEST, 0,
					  &m), 0);
	client_free_msg(m);
	connect_as(&pub, tok);
	snprintf(path, sizeof(path), "/api/v1/tokens/%s", id);
	json_decref(api_expect_as(&g_srv, g_admin, "DELETE", path, NULL, 200));
	text = expect_closed(&sub, FANOUT__V1__ERROR_CODE__ERROR_CODE_UNAUTHENTICATED);
	assert_non_null(strstr(text, "revoked"));
	assert_null(strstr(text, tok));
	expect_closed(&pub, FANOUT__V1__ERROR_CODE__ERROR_CODE_UNAUTHENTICATED);
	client_close(&sub);
	client_close(&pub);
	/* And it opens nothing any more. */
	server_connect(&g_srv, &sub);
	m = hello_with(&sub, tok);
	assert_int_equal(m->error->code, FANOUT__V1__ERROR_CODE__ERROR_CODE_UNAUTHENTICATED);
	client_free_msg(m);
	client_close(&sub);
	free(tok);
}

static void changed_rights_end_subscriptions(void **state)
{
	struct client c;
	Fanout__V1__ServerMessage *m;
	const char *const pats[] = { ">" };
	char id[32], path[96];
	char *tok;

	(void)state;
	start_auth(NULL);
	tok = token_new("{\"name\":\"ops\",\"subscribe\":{\"allow\":[\"execution/>\","
			"\"market-data/>\"]}}", id, sizeof(id));
	connect_as(&c, tok);
	assert_int_equal(client_subscribe(&c, 1, TOPIC_FILL, pats, 1,
					  FANOUT__V1__START_POSITION__START_POSITION_LATEST, 0,
					  &m), 0);
	client_free_msg(m);
	assert_int_equal(client_subscribe(&c, 2, TOPIC_MD, pats, 1,
					  FANOUT__V1__START_POSITION__START_POSITION_LATEST, 0,
					  &m), 0);
	client_free_msg(m);
	snprintf(path, sizeof(path), "/api/v1/tokens/%s", id);
	json_decref(api_expect_as(&g_srv, g_admin, "PATCH", path,
				  "{\"subscribe\":{\"allow\":[\"market-data/>\"]}}", 200));
	m = expect_error(&c, FANOUT__V1__ERROR_CODE__ERROR_CODE_PERMISSION_DENIED);
	assert_int_equal(m->error->subscription_id, 1);
	assert_false(m->error->closing);
	client_free_msg(m);
	ping_pong(&c, 3);	/* the connection and subscription 2 go on */
	{
		struct client a;

		connect_as(&a, g_admin);
		publish_range(&a, TOPIC_MD, 0, 3, 7, NULL);
		publish_range(&a, TOPIC_FILL, 0, 3, 7, NULL);
		client_close(&a);
	}
	for (int got = 0; got < 3;) {
		m = recv_msg(&c, 5000);
		if (m->body_case == FANOUT__V1__SERVER_MESSAGE__BODY_EVENT) {
			assert_string_equal(m->event->distribution->topic, TOPIC_MD);
			got++;
		}
		client_free_msg(m);
	}
	ping_pong(&c, 4);	/* nothing of execution/fills came */
	client_close(&c);
	free(tok);
}

/* A second Hello right after the token changed: answered from the set in force (the
 * role it has now), however soon after the change it comes. */
static void hello_again_after_a_change(void **state)
{
	struct client c;
	Fanout__V1__ServerMessage *m;
	char id[32], path[96];
	char *tok;

	(void)state;
	start_auth(NULL);
	tok = token_new("{\"name\":\"again\"}", id, sizeof(id));
	connect_as(&c, tok);
	snprintf(path, sizeof(path), "/api/v1/tokens/%s", id);
	for (int i = 0; i < 20; i++) {
		const char *role = i % 2 ? "client" : "reader";
		char body[64];

		snprintf(body, sizeof(body), "{\"role\":\"%s\"}", role);
		json_decref(api_expect_as(&g_srv, g_admin, "PATCH", path, body, 200));
		/* The old set's grace period passes on the admin thread's next turns. */
		for (int k = 0; k < 3; k++)
			json_decref(api_expect_as(&g_srv, g_admin, "GET", "/healthz", NULL, 200));
		m = hello_with(&c, i % 3 ? tok : NULL);	/* the same token, or none */
		assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_HELLO);
		assert_string_equal(m->hello->role, role);
		client_free_msg(m);
	}
	client_close(&c);
	free(tok);
}

/* Idempotent producers belong to their token: another token naming the same producer
 * neither fences it nor is answered from its batches. */
static void producers_belong_to_their_token(void **state)
{
	struct client a, b;
	Fanout__V1__ServerMessage *m;
	Fanout__V1__Hello h = FANOUT__V1__HELLO__INIT;
	const char *fill[] = { TOPIC_FILL };
	char *ta, *tb;
	uint64_t first;

	(void)state;
	start_auth(NULL);
	ta = token_new("{\"name\":\"feed-a\",\"publish\":{\"allow\":[\">\"]}}", NULL, 0);
	tb = token_new("{\"name\":\"feed-b\",\"publish\":{\"allow\":[\">\"]}}", NULL, 0);
	h.protocol_version = 1;
	h.producer_id = "feed";
	h.producer_epoch = 1;
	server_connect(&g_srv, &a);
	h.token = ta;
	assert_int_equal(client_hello_msg(&a, &h, 5000, &m), 0);
	client_free_msg(m);
	m = publish_to(&a, 1, fill, 1, 0, 3);
	assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_PUBLISH_ACK);
	first = m->publish_ack->offsets[0];
	client_free_msg(m);
	server_connect(&g_srv, &b);
	h.token = tb;
	h.producer_epoch = 9;	/* would fence a's if it were the same producer */
	assert_int_equal(client_hello_msg(&b, &h, 5000, &m), 0);
	client_free_msg(m);
	m = publish_to(&b, 1, fill, 1, 100, 3);	/* the same sequence: stored, not answered */
	assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_PUBLISH_ACK);
	assert_int_equal(m->publish_ack->offsets[0], first + 3);
	client_free_msg(m);
	expect_acked(publish_to(&a, 2, fill, 1, 3, 1), 1);	/* a is not fenced */
	client_close(&a);
	client_close(&b);
	free(ta);
	free(tb);
}

static void rate_and_count_limits_hit_exactly(void **state)
{
	struct client c, c2, c3;
	Fanout__V1__ServerMessage *m;
	const char *const pats[] = { ">" };
	const char *fill[] = { TOPIC_FILL };
	uint64_t before;
	char *tok;

	(void)state;
	start_auth(NULL);
	tok = token_new("{\"name\":\"capped\",\"publish\":{\"allow\":[\">\"]},"
			"\"subscribe\":{\"allow\":[\">\"]},\"limits\":{\"events_per_s\":20,"
			"\"connections\":2,\"subscriptions\":2}}", NULL, 0);
	before = next_offset(TOPIC_FILL) + 1;
	connect_as(&c, tok);
	/* A second's worth at once, then nothing more for a while. */
	expect_acked(publish_to(&c, 1, fill, 1, 0, 20), 20);
	m = publish_to(&c, 2, fill, 1, 20, 1);
	assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_ERROR);
	assert_int_equal(m->error->code, FANOUT__V1__ERROR_CODE__ERROR_CODE_RATE_LIMITED);
	assert_int_equal(m->error->sequence, 2);
	assert_true(m->error->retry_after_ms >= 1 && m->error->retry_after_ms <= 50);
	assert_false(m->error->closing);
	admin_sleep_ms((int)m->error->retry_after_ms + 5);
	client_free_msg(m);
	expect_acked(publish_to(&c, 3, fill, 1, 20, 1), 1);
	assert_int_equal(next_offset(TOPIC_FILL), before + 21);	/* the refused one: not stored */
	/* Two connections, not three; the count goes down when one closes. */
	connect_as(&c2, tok);
	server_connect(&g_srv, &c3);
	m = hello_with(&c3, tok);
	assert_int_equal(m->error->code, FANOUT__V1__ERROR_CODE__ERROR_CODE_RATE_LIMITED);
	assert_true(m->error->closing);
	client_free_msg(m);
	client_close(&c3);
	client_close(&c2);
	for (int tries = 0;; tries++) {
		server_connect(&g_srv, &c3);
		m = hello_with(&c3, tok);
		if (m->body_case == FANOUT__V1__SERVER_MESSAGE__BODY_HELLO)
			break;
		assert_true(tries < 100);	/* the server saw c2 close within a second */
		client_free_msg(m);
		client_close(&c3);
		admin_sleep_ms(10);
	}
	client_free_msg(m);
	/* Two subscriptions over the token's connections, not three. */
	assert_int_equal(client_subscribe(&c, 1, TOPIC_FILL, pats, 1,
					  FANOUT__V1__START_POSITION__START_POSITION_LATEST, 0,
					  &m), 0);
	client_free_msg(m);
	assert_int_equal(client_subscribe(&c3, 1, TOPIC_MD, pats, 1,
					  FANOUT__V1__START_POSITION__START_POSITION_LATEST, 0,
					  &m), 0);
	client_free_msg(m);
	assert_int_equal(client_subscribe(&c, 2, TOPIC_MD, pats, 1,
					  FANOUT__V1__START_POSITION__START_POSITION_LATEST, 0,
					  &m), -EPROTO);
	assert_int_equal(m->error->code, FANOUT__V1__ERROR_CODE__ERROR_CODE_RATE_LIMITED);
	client_free_msg(m);
	{
		Fanout__V1__ClientMessage um = FANOUT__V1__CLIENT_MESSAGE__INIT;
		Fanout__V1__Unsubscribe u = FANOUT__V1__UNSUBSCRIBE__INIT;

		u.subscription_id = 1;
		um.body_case = FANOUT__V1__CLIENT_MESSAGE__BODY_UNSUBSCRIBE;
		um.unsubscribe = &u;
		assert_int_equal(client_send(&c3, &um), 0);
		m = recv_msg(&c3, 5000);
		assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_UNSUBSCRIBED);
		client_free_msg(m);
	}
	assert_int_equal(client_subscribe(&c, 2, TOPIC_MD, pats, 1,
					  FANOUT__V1__START_POSITION__START_POSITION_LATEST, 0,
					  &m), 0);
	client_free_msg(m);
	client_close(&c);
	client_close(&c3);
	free(tok);
}

static void repeated_failures_are_answered_later(void **state)
{
	char bad[128];
	int64_t took[8];

	(void)state;
	start_auth(NULL);
	snprintf(bad, sizeof(bad), "%s", g_admin);
	bad[58] = bad[58] == 'A' ? 'B' : 'A';
	for (int i = 0; i < 8; i++) {
		struct client c;
		Fanout__V1__ServerMessage *m;
		int64_t t0;

		server_connect(&g_srv, &c);
		t0 = clock_monotonic_ns();
		m = hello_with(&c, bad);
		took[i] = (clock_monotonic_ns() - t0) / 1000000;
		assert_int_equal(m->error->code,
				 FANOUT__V1__ERROR_CODE__ERROR_CODE_UNAUTHENTICATED);
		client_free_msg(m);
		client_close(&c);
	}
	for (int i = 0; i < 5; i++)
		assert_true(took[i] < 100);
	assert_true(took[5] >= 90);	/* 100 ms, answered by the 100 ms police pass */
	assert_true(took[6] >= 190);
	assert_true(took[7] >= 390);
	/* A good token from the same address is not held back. */
	{
		struct client c;
		int64_t t0 = clock_monotonic_ns();

		connect_as(&c, g_admin);
		assert_true(clock_monotonic_ns() - t0 < 90 * 1000000ll);
		client_close(&c);
	}
}

static void tokens_never_reach_the_log(void **state)
{
	char log[300], line[1024], bad[128];
	int saved = dup(STDERR_FILENO), fd;
	struct client c;
	Fanout__V1__ServerMessage *m;
	char *tok;
	FILE *f;
	int lines = 0;

	(void)state;
	snprintf(log, sizeof(log), "%s/server.log", g_srv.dir);
	fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0 && saved >= 0);
	dup2(fd, STDERR_FILENO);	/* the server inherits it */
	close(fd);
	g_srv.verbose = true;
	start_auth(NULL);
	dup2(saved, STDERR_FILENO);
	close(saved);
	tok = token_new("{\"name\":\"quiet\",\"publish\":{\"allow\":[\"execution/>\"]}}", NULL,
			0);
	connect_as(&c, tok);
	{
		const char *md[] = { TOPIC_MD };

		m = publish_to(&c, 1, md, 1, 0, 1);	/* refused: logged? the token must not be */
		client_free_msg(m);
	}
	client_close(&c);
	snprintf(bad, sizeof(bad), "%s", tok);
	bad[40] = bad[40] == 'x' ? 'y' : 'x';
	server_connect(&g_srv, &c);
	m = hello_with(&c, bad);
	client_free_msg(m);
	client_close(&c);
	server_stop(&g_srv, SIGTERM);
	f = fopen(log, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		lines++;
		if (strstr(line, tok) || strstr(line, bad) || strstr(line, g_admin) ||
		    strstr(line, g_admin + 20))
			fail_msg("a token in the server's log: %s", line);
	}
	fclose(f);
	assert_true(lines > 2);	/* it did log: start-up, the closing Error, the farewell */
	free(tok);
}

static void insecure_or_badly_kept_setups_do_not_start(void **state)
{
	char boot[300];
	int fd;

	(void)state;
	{
		const char *args[] = { g_srv.binary, "--listen", "0.0.0.0:0", "--no-http",
				       "--data-dir", g_srv.dir, NULL };

		assert_int_equal(server_run_to_exit(args), 2);	/* --auth off, not loopback */
	}
	{
		const char *args[] = { g_srv.binary, "--http", "0.0.0.0:0", "--data-dir",
				       g_srv.dir, NULL };

		assert_int_equal(server_run_to_exit(args), 2);
	}
	snprintf(boot, sizeof(boot), "%s/loose.token", g_srv.dir);
	fd = open(boot, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	{
		const char *t = "fo_0123456789ab_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n";

		assert_int_equal(write(fd, t, strlen(t)), (ssize_t)strlen(t));
	}
	close(fd);
	assert_int_equal(chmod(boot, 0644), 0);
	{
		const char *args[] = { g_srv.binary, "--auth", "required", "--auth-bootstrap",
				       boot, "--listen", "127.0.0.1:0", "--no-http", "--data-dir",
				       g_srv.dir, NULL };

		assert_int_equal(server_run_to_exit(args), 1);	/* readable by others */
	}
	/* Auth required on every address is fine. */
	{
		const char *extra[] = { "--listen", "0.0.0.0:0", NULL };
		struct client c;

		start_auth(extra);
		connect_as(&c, g_admin);
		ping_pong(&c, 1);
		client_close(&c);
	}
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(hello_needs_a_valid_token, setup, teardown),
		cmocka_unit_test_setup_teardown(bootstrap_admin_does_everything, setup, teardown),
		cmocka_unit_test_setup_teardown(publish_and_subscribe_rights, setup, teardown),
		cmocka_unit_test_setup_teardown(rerouted_events_need_rights_on_the_target, setup,
						teardown),
		cmocka_unit_test_setup_teardown(revoking_cuts_live_connections, setup, teardown),
		cmocka_unit_test_setup_teardown(changed_rights_end_subscriptions, setup, teardown),
		cmocka_unit_test_setup_teardown(hello_again_after_a_change, setup, teardown),
		cmocka_unit_test_setup_teardown(producers_belong_to_their_token, setup, teardown),
		cmocka_unit_test_setup_teardown(rate_and_count_limits_hit_exactly, setup, teardown),
		cmocka_unit_test_setup_teardown(repeated_failures_are_answered_later, setup,
						teardown),
		cmocka_unit_test_setup_teardown(tokens_never_reach_the_log, setup, teardown),
		cmocka_unit_test_setup_teardown(insecure_or_badly_kept_setups_do_not_start, setup,
						teardown),
	};

	g_argc = argc;
	g_argv = argv;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
