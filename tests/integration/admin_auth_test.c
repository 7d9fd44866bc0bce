/* tests/integration/admin_auth_test.c — the admin plane's side of authentication on a real
 * fanoutd over real HTTP: bearer tokens on every route but /healthz and /readyz (401 with
 * WWW-Authenticate), roles (403), the per-token REST rate limit (429 with Retry-After),
 * /api/v1/tokens (create, list, show, patch, revoke: in force at once), the token's text
 * shown once and nowhere else (answers, /metrics, the server's log), and the admin audit
 * of every change and refusal; then --auth off: everything open, tokens still managed.
 * On the embedded store, or with argument "pg" on a fresh PostgreSQL database. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/auth.h"
#include "tests/integration/admin_util.h"
#include "tools/http_client.h"

#define TOKENS_MAX 8

static struct admin_mode g_mode;

/* Every token text the test saw: none may show up where it should not. */
static char g_texts[TOKENS_MAX][AUTH_TOKEN_LEN + 1];
static int g_ntexts;

struct made {
	char id[AUTH_ID_LEN + 1];
	char text[AUTH_TOKEN_LEN + 1];
};

/* Starts fanoutd with extra flags, its stdout and stderr into log (when not NULL). */
static void start(struct server *s, const char *log, const char *const *extra)
{
	const char *args[16];
	int n = 0, out = -1, err = -1, fd = -1;

	server_setup(s, g_mode.argc, g_mode.argv);
	if (g_mode.pg) {
		args[n++] = "--pg-url";
		args[n++] = g_mode.pg_url;
	}
	for (int i = 0; extra && extra[i] && n < 15; i++)
		args[n++] = extra[i];
	args[n] = NULL;
	if (log) {	/* the child inherits them: its log lands in the file */
		fflush(stdout);
		fflush(stderr);
		fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		assert_true(fd >= 0);
		out = dup(1);
		err = dup(2);
		dup2(fd, 1);
		dup2(fd, 2);
	}
	server_start(s, args);
	if (log) {
		dup2(out, 1);
		dup2(err, 2);
		close(out);
		close(err);
		close(fd);
	}
}

static void stop(struct server *s)
{
	assert_int_equal(WEXITSTATUS(server_stop(s, SIGTERM)), 0);
	server_teardown(s);
}

static const char *str(const json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));

	return v ? v : "(absent)";
}

/* Fails when any token text the test knows is in text. */
static void assert_no_token_text(const char *where, const char *text)
{
	for (int i = 0; text && i < g_ntexts; i++)
		if (strstr(text, g_texts[i]))
			fail_msg("%s shows token text %d", where, i);
}

static void assert_no_token_json(const char *where, const json_t *j)
{
	char *text = json_dumps(j, JSON_COMPACT);

	assert_non_null(text);
	assert_no_token_text(where, text);
	free(text);
}

static void remember(const char *text)
{
	assert_true(g_ntexts < TOKENS_MAX);
	snprintf(g_texts[g_ntexts++], AUTH_TOKEN_LEN + 1, "%s", text);
}

/* The token the server wrote into path (it makes one when the file is absent). */
static void read_bootstrap(const char *path, struct made *m)
{
	FILE *f = fopen(path, "r");
	char line[256];

	assert_non_null(f);
	assert_non_null(fgets(line, sizeof(line), f));
	fclose(f);
	line[strcspn(line, "\r\n")] = '\0';
	assert_int_equal(strlen(line), AUTH_TOKEN_LEN);
	snprintf(m->text, sizeof(m->text), "%s", line);
	snprintf(m->id, sizeof(m->id), "%.*s", (int)AUTH_ID_LEN, line + 3);
	remember(m->text);
}

/* POST /api/v1/tokens with body as admin; the answer's id and text into m. */
static void create_token(struct server *s, const char *admin, const char *body, struct made *m)
{
	json_t *j = api_tok_expect(s, admin, "POST", "/api/v1/tokens", body, 201);

	assert_int_equal(strlen(str(j, "token")), AUTH_TOKEN_LEN);
	assert_int_equal(strlen(str(j, "id")), AUTH_ID_LEN);
	assert_true(json_is_true(json_object_get(j, "inForce")));
	assert_true(json_is_null(json_object_get(j, "revokedAt")));
	snprintf(m->id, sizeof(m->id), "%s", str(j, "id"));
	snprintf(m->text, sizeof(m->text), "%s", str(j, "token"));
	remember(m->text);
	json_decref(j);
}

/* Fails unless the call answers status with error code (and, for 401, WWW-Authenticate). */
static void refused(struct server *s, const char *token, const char *method, const char *path,
		    const char *body, int status, const char *code)
{
	struct http_response r;
	json_t *j;

	assert_int_equal(api_tok_raw(s, token, method, path, body, &r), status);
	j = json_loadb(r.body, r.len, 0, NULL);
	assert_string_equal(str(j, "error"), code);
	assert_true(json_is_null(json_object_get(j, "field")));
	if (status == 401)
		assert_non_null(strstr(r.www_authenticate, "Bearer"));
	json_decref(j);
	http_response_free(&r);
}

/* Missing, malformed and wrong tokens: 401 on each kind of route, no hint which. Kept
 * short: past AUTH_FAIL_FREE failures the answers come later and later. */
static void unauthenticated(struct server *s)
{
	char text[AUTH_TOKEN_LEN + 1], id[AUTH_ID_LEN + 1];
	uint8_t hash[AUTH_HASH_BYTES];
	struct http_response r;
	json_t *a, *b;

	auth_token_generate(text, id, hash);	/* the right shape, not the server's */
	refused(s, NULL, "GET", "/api/v1/topics", NULL, 401, "UNAUTHENTICATED");
	refused(s, "fo_nonsense", "POST", "/api/v1/topics", "{\"topic_name\": \"x\"}", 401,
		"UNAUTHENTICATED");
	refused(s, text, "GET", "/metrics", NULL, 401, "UNAUTHENTICATED");
	refused(s, text, "DELETE", "/api/v1/rules/r", NULL, 401, "UNAUTHENTICATED");
	refused(s, NULL, "GET", "/api/v1/tokens", NULL, 401, "UNAUTHENTICATED");
	refused(s, NULL, "GET", "/api/v1/nothing", NULL, 401, "UNAUTHENTICATED");
	/* Another scheme is no token either; the answers do not differ. */
	assert_int_equal(http_request(s->http, "GET", "/api/v1/stats", NULL, NULL, 0, 20000, &r),
			 0);
	assert_int_equal(r.status, 401);
	http_response_free(&r);
	api_tok(s, NULL, "GET", "/api/v1/admin-audit", NULL, &a);
	api_tok(s, text, "GET", "/api/v1/admin-audit", NULL, &b);
	assert_true(json_equal(a, b));
	json_decref(a);
	json_decref(b);
	/* Open without a token. */
	json_decref(api_tok_expect(s, NULL, "GET", "/healthz", NULL, 200));
	json_decref(api_tok_expect(s, NULL, "GET", "/readyz", NULL, 200));
}

static void bad_bodies(struct server *s, const char *admin)
{
	static const struct { const char *body, *field; } cases[] = {
		{ "{\"role\": \"reader\"}", "name" },
		{ "{\"name\": \"a b\"}", "name" },
		{ "{\"name\": \"x\", \"role\": \"boss\"}", "role" },
		{ "{\"name\": \"x\", \"colour\": 1}", "colour" },
		{ "{\"name\": \"x\", \"publish\": []}", "publish" },
		{ "{\"name\": \"x\", \"publish\": {\"maybe\": []}}", "publish.maybe" },
		{ "{\"name\": \"x\", \"publish\": {\"allow\": [\"a/>/b\"]}}", "publish.allow" },
		{ "{\"name\": \"x\", \"subscribe\": {\"deny\": [7]}}", "subscribe.deny" },
		{ "{\"name\": \"x\", \"limits\": {\"events_per_s\": -1}}", "limits.events_per_s" },
		{ "{\"name\": \"x\", \"limits\": {\"rest_per_s\": 4294967296}}", "limits.rest_per_s" },
		{ "{\"name\": \"x\", \"limits\": {\"speed\": 1}}", "limits.speed" },
	};
	json_t *j;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		j = api_tok_expect(s, admin, "POST", "/api/v1/tokens", cases[i].body, 400);
		assert_string_equal(str(j, "error"), "INVALID_FIELD");
		assert_string_equal(str(j, "field"), cases[i].field);
		json_decref(j);
	}
	j = api_tok_expect(s, admin, "POST", "/api/v1/tokens", "{\"name\": \"reader\"}", 409);
	assert_string_equal(str(j, "error"), "ALREADY_EXISTS");
	json_decref(j);
	j = api_tok_expect(s, admin, "POST", "/api/v1/tokens", "{\"name\": \"bootstrap\"}", 409);
	json_decref(j);
}

/* Exactly rest_per_s calls go through at once; the next is 429 with Retry-After. */
static void rate_limited(struct server *s, const struct made *rl)
{
	struct http_response r;
	json_t *j;

	for (int i = 0; i < 5; i++)
		json_decref(api_tok_expect(s, rl->text, "GET", "/api/v1/topics", NULL, 200));
	assert_int_equal(api_tok_raw(s, rl->text, "GET", "/api/v1/topics", NULL, &r), 429);
	j = json_loadb(r.body, r.len, 0, NULL);
	assert_string_equal(str(j, "error"), "RATE_LIMITED");
	assert_true(json_integer_value(json_object_get(j, "retryAfterMs")) > 0);
	assert_true(atoi(r.retry_after) >= 1);
	json_decref(j);
	http_response_free(&r);
}

/* The admin audit holds a row of action with outcome and status, by actor. */
static void audit_has(struct server *s, const char *admin, const char *action,
		      const char *actor, const char *outcome, int status)
{
	char path[256];
	json_t *j, *row;
	size_t i;
	bool found = false;

	snprintf(path, sizeof(path), "/api/v1/admin-audit?limit=1000&action=%s", action);
	j = api_tok_expect(s, admin, "GET", path, NULL, 200);
	assert_no_token_json("the admin audit", j);
	json_array_foreach(json_object_get(j, "records"), i, row) {
		assert_string_equal(str(row, "action"), action);
		found = found || (strcmp(str(row, "actor"), actor) == 0 &&
				  strcmp(str(row, "outcome"), outcome) == 0 &&
				  json_integer_value(json_object_get(row, "status")) == status &&
				  strcmp(str(row, "source"), "127.0.0.1") == 0);
	}
	if (!found) {
		char *text = json_dumps(j, JSON_COMPACT);

		fail_msg("no %s row by %s (%s %d): %s", action, actor, outcome, status, text);
	}
	json_decref(j);
}

/* Roles, PATCH and revocation, each in force for the very next call. */
static void roles_patch_revoke(struct server *s, const struct made *boot, struct made *client,
			       const struct made *reader, const struct made *admin)
{
	json_t *j;
	char path[128];

	json_decref(api_tok_expect(s, reader->text, "GET", "/api/v1/topics", NULL, 200));
	refused(s, reader->text, "POST", "/api/v1/topics", "{\"topic_name\": \"r\"}", 403,
		"PERMISSION_DENIED");
	refused(s, reader->text, "GET", "/api/v1/tokens", NULL, 403, "PERMISSION_DENIED");
	refused(s, reader->text, "GET", "/api/v1/admin-audit", NULL, 403, "PERMISSION_DENIED");
	refused(s, client->text, "GET", "/api/v1/topics", NULL, 403, "PERMISSION_DENIED");
	refused(s, client->text, "GET", "/metrics", NULL, 403, "PERMISSION_DENIED");
	json_decref(api_tok_expect(s, admin->text, "POST", "/api/v1/topics",
				   "{\"topic_name\": \"made-by-admin\"}", 201));
	/* PATCH: the client becomes a reader, at once. */
	snprintf(path, sizeof(path), "/api/v1/tokens/%s", client->id);
	j = api_tok_expect(s, boot->text, "PATCH", path, "{\"role\": \"reader\", \"publish\": "
			   "{\"allow\": [\"market-data/>\"]}, \"limits\": {\"events_per_s\": 100}}",
			   200);
	assert_string_equal(str(j, "role"), "reader");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "limits"),
							    "events_per_s")), 100);
	assert_string_equal(json_string_value(json_array_get(json_object_get(
		json_object_get(j, "publish"), "allow"), 0)), "market-data/>");
	assert_no_token_json("the PATCH answer", j);
	json_decref(j);
	json_decref(api_tok_expect(s, client->text, "GET", "/api/v1/topics", NULL, 200));
	j = api_tok_expect(s, boot->text, "PATCH", path, "{\"name\": \"other\"}", 400);
	assert_string_equal(str(j, "field"), "name");
	json_decref(j);
	/* Revoke: 401 from then on; a second revoke is a conflict. */
	snprintf(path, sizeof(path), "/api/v1/tokens/%s", reader->id);
	j = api_tok_expect(s, boot->text, "DELETE", path, NULL, 200);
	assert_true(json_is_string(json_object_get(j, "revokedAt")));
	json_decref(j);
	refused(s, reader->text, "GET", "/api/v1/topics", NULL, 401, "UNAUTHENTICATED");
	json_decref(api_tok_expect(s, boot->text, "DELETE", path, NULL, 409));
	json_decref(api_tok_expect(s, boot->text, "PATCH", path, "{\"role\": \"admin\"}", 409));
	json_decref(api_tok_expect(s, boot->text, "GET", "/api/v1/tokens/000000000000", NULL,
				   404));
}

/* Lists and shows: never a hash or a text. */
static void listing(struct server *s, const struct made *boot, const struct made *reader)
{
	char path[128], *text;
	json_t *j;

	j = api_tok_expect(s, boot->text, "GET", "/api/v1/tokens", NULL, 200);
	assert_int_equal(json_array_size(json_object_get(j, "tokens")), 3);	/* revoked out */
	assert_int_equal(json_array_size(json_object_get(j, "bootstrap")), 1);
	assert_string_equal(str(json_array_get(json_object_get(j, "bootstrap"), 0), "id"),
			    boot->id);
	assert_no_token_json("the token list", j);
	json_decref(j);
	j = api_tok_expect(s, boot->text, "GET", "/api/v1/tokens?includeRevoked=true", NULL, 200);
	assert_int_equal(json_array_size(json_object_get(j, "tokens")), 4);
	assert_no_token_json("the token list", j);
	text = json_dumps(j, 0);
	assert_null(strstr(text, "hash"));
	free(text);
	json_decref(j);
	snprintf(path, sizeof(path), "/api/v1/tokens/%s", reader->id);
	j = api_tok_expect(s, boot->text, "GET", path, NULL, 200);
	assert_string_equal(str(j, "name"), "reader");
	assert_true(json_is_false(json_object_get(j, "inForce")));
	assert_no_token_json("a token", j);
	json_decref(j);
}

static void metrics_and_log_clean(struct server *s, const struct made *boot, const char *log)
{
	struct http_response r;
	FILE *f;
	char line[4096];

	assert_int_equal(api_tok_raw(s, boot->text, "GET", "/metrics", NULL, &r), 200);
	assert_no_token_text("/metrics", r.body);
	http_response_free(&r);
	stop(s);
	f = fopen(log, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		assert_no_token_text("the server's log", line);
	fclose(f);
}

static void auth_required(void **state)
{
	struct made boot, client, reader, admin, rl;
	struct server s;
	char file[300], log[300];

	(void)state;
	g_ntexts = 0;
	snprintf(log, sizeof(log), "/tmp/fanout-auth-log-%d", (int)getpid());
	snprintf(file, sizeof(file), "/tmp/fanout-auth-boot-%d", (int)getpid());
	unlink(file);	/* the server makes it */
	start(&s, log, (const char *const[]){ "--auth", "required", "--auth-bootstrap", file,
					      NULL });
	read_bootstrap(file, &boot);
	unauthenticated(&s);
	create_token(&s, boot.text, "{\"name\": \"client\"}", &client);
	create_token(&s, boot.text, "{\"name\": \"reader\", \"role\": \"reader\"}", &reader);
	create_token(&s, boot.text, "{\"name\": \"admin\", \"role\": \"admin\", \"subscribe\": "
		     "{\"deny\": [\"secret/>\"]}}", &admin);
	create_token(&s, admin.text, "{\"name\": \"limited\", \"role\": \"reader\", \"limits\": "
		     "{\"rest_per_s\": 5}}", &rl);
	bad_bodies(&s, admin.text);
	rate_limited(&s, &rl);
	roles_patch_revoke(&s, &boot, &client, &reader, &admin);
	listing(&s, &boot, &reader);
	audit_has(&s, boot.text, "token.create", boot.id, "ok", 201);
	audit_has(&s, boot.text, "token.create", admin.id, "failed", 400);
	audit_has(&s, boot.text, "token.update", boot.id, "ok", 200);
	audit_has(&s, boot.text, "token.revoke", boot.id, "ok", 200);
	audit_has(&s, boot.text, "topic.create", admin.id, "ok", 201);
	audit_has(&s, boot.text, "rest.refused", "anonymous", "refused", 401);
	audit_has(&s, boot.text, "rest.refused", reader.id, "refused", 403);
	audit_has(&s, boot.text, "rest.refused", rl.id, "refused", 429);
	metrics_and_log_clean(&s, &boot, log);
	unlink(log);
	unlink(file);
}

/* --auth off: every call open (a token, if sent, is not looked at), tokens managed. */
static void auth_off(void **state)
{
	struct server s;
	struct made m;
	json_t *j;

	(void)state;
	g_ntexts = 0;
	start(&s, NULL, (const char *const[]){ "--auth", "off", NULL });
	json_decref(api_tok_expect(&s, NULL, "GET", "/api/v1/topics", NULL, 200));
	json_decref(api_tok_expect(&s, NULL, "POST", "/api/v1/topics", "{\"topic_name\": \"t\"}",
				   201));
	json_decref(api_tok_expect(&s, "fo_whatever", "GET", "/metrics", NULL, 200));
	create_token(&s, NULL, "{\"name\": \"later\", \"role\": \"admin\"}", &m);
	j = api_tok_expect(&s, NULL, "GET", "/api/v1/tokens", NULL, 200);
	{	/* on PostgreSQL the earlier test's tokens are in the same database */
		json_t *t, *later = NULL;
		size_t i;

		json_array_foreach(json_object_get(j, "tokens"), i, t)
			if (strcmp(str(t, "name"), "later") == 0)
				later = t;
		assert_non_null(later);
		assert_string_equal(str(later, "createdBy"), "-");
	}
	assert_no_token_json("the token list", j);
	json_decref(j);
	audit_has(&s, NULL, "token.create", "-", "ok", 201);
	audit_has(&s, NULL, "topic.create", "-", "ok", 201);
	stop(&s);
}

/* Polls GET /api/v1/topics on s with token once a second (failures there are counted per
 * address: slow polls stay under the hold-back) until it answers want; fails after 12 s. */
static void poll_status(struct server *s, const char *token, int want)
{
	struct http_response r;
	int st = 0;

	for (int i = 0; i < 12; i++) {
		st = api_tok_raw(s, token, "GET", "/api/v1/topics", NULL, &r);
		http_response_free(&r);
		if (st == want)
			return;
		admin_sleep_ms(1000);
	}
	fail_msg("GET /api/v1/topics answered %d for 12 s, want %d", st, want);
}

/* Two servers on one PostgreSQL store: a token made on one works on the other, and its
 * revocation there reaches the other too (each looks at the store every 5 s). */
static void two_servers_share_tokens(void **state)
{
	struct made boot_a, boot_b, reader;
	struct server a, b;
	char fa[300], fb[300], path[96];

	(void)state;
	if (!g_mode.pg)
		skip();	/* SQLite is one server's own file */
	g_ntexts = 0;
	snprintf(fa, sizeof(fa), "/tmp/fanout-auth-boot-a-%d", (int)getpid());
	snprintf(fb, sizeof(fb), "/tmp/fanout-auth-boot-b-%d", (int)getpid());
	unlink(fa);
	unlink(fb);
	start(&a, NULL, (const char *const[]){ "--auth", "required", "--auth-bootstrap", fa,
					       NULL });
	start(&b, NULL, (const char *const[]){ "--auth", "required", "--auth-bootstrap", fb,
					       NULL });
	read_bootstrap(fa, &boot_a);
	read_bootstrap(fb, &boot_b);
	create_token(&a, boot_a.text, "{\"name\": \"shared-reader\", \"role\": \"reader\"}",
		     &reader);
	poll_status(&b, reader.text, 200);
	snprintf(path, sizeof(path), "/api/v1/tokens/%s", reader.id);
	json_decref(api_tok_expect(&a, boot_a.text, "DELETE", path, NULL, 200));
	poll_status(&b, reader.text, 401);
	stop(&a);
	stop(&b);
	unlink(fa);
	unlink(fb);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(auth_required),
		cmocka_unit_test(auth_off),
		cmocka_unit_test(two_servers_share_tokens),
	};

	return admin_test_main(&g_mode, argc, argv, tests, sizeof(tests) / sizeof(tests[0]));
}
