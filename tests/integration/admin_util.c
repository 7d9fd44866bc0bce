/* tests/integration/admin_util.c — see admin_util.h. */
#include "tests/integration/admin_util.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tools/http_client.h"

void admin_sleep_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

void admin_skip(const char *why)
{
	fprintf(stderr, "SKIP: %s\n", why);
	exit(77);
}

int api_ctype(struct server *s, const char *method, const char *path, const char *ctype,
	      const char *body, size_t len, json_t **out)
{
	struct http_response r;
	int rc;

	if (!s->http[0])
		fail_msg("the server has no admin API address");
	rc = http_request(s->http, method, path, ctype, body, len, 20000, &r);
	if (rc < 0)
		fail_msg("%s %s: %s", method, path, strerror(-rc));
	if (out)
		*out = json_loadb(r.body, r.len, 0, NULL);
	rc = r.status;
	http_response_free(&r);
	return rc;
}

int api_tok_raw(struct server *s, const char *token, const char *method, const char *path,
		const char *body, struct http_response *r)
{
	int rc;

	if (!s->http[0])
		fail_msg("the server has no admin API address");
	rc = http_request_auth(s->http, token, method, path, body ? "application/json" : NULL,
			       body, body ? strlen(body) : 0, 20000, r);
	if (rc < 0)
		fail_msg("%s %s: %s", method, path, strerror(-rc));
	return r->status;
}

int api_tok(struct server *s, const char *token, const char *method, const char *path,
	    const char *body, json_t **out)
{
	struct http_response r;
	int st = api_tok_raw(s, token, method, path, body, &r);

	if (out)
		*out = json_loadb(r.body, r.len, 0, NULL);
	http_response_free(&r);
	return st;
}

json_t *api_tok_expect(struct server *s, const char *token, const char *method,
		       const char *path, const char *body, int want)
{
	json_t *j = NULL;
	int st = api_tok(s, token, method, path, body, &j);

	if (st != want) {
		char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;

		fail_msg("%s %s: status %d, want %d: %s", method, path, st, want,
			 text ? text : "(no JSON)");
	}
	return j;
}

int api(struct server *s, const char *method, const char *path, const char *body, json_t **out)
{
	return api_ctype(s, method, path, body ? "application/json" : NULL, body,
			 body ? strlen(body) : 0, out);
}

json_t *api_expect(struct server *s, const char *method, const char *path, const char *body,
		   int want)
{
	json_t *j = NULL;
	int st = api(s, method, path, body, &j);

	if (st != want) {
		char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;

		fail_msg("%s %s: status %d, want %d: %s", method, path, st, want,
			 text ? text : "(no JSON)");
	}
	return j;
}

void api_error(struct server *s, const char *method, const char *path, const char *body,
	       int status, const char *code, const char *field)
{
	json_t *j = api_expect(s, method, path, body, status);
	const json_t *f = json_object_get(j, "field");
	const char *msg = json_string_value(json_object_get(j, "message"));

	assert_non_null(j);
	if (strcmp(json_string_value(json_object_get(j, "error")) ?: "", code) != 0)
		fail_msg("%s %s: error %s, want %s (%s)", method, path,
			 json_string_value(json_object_get(j, "error")), code, msg);
	assert_true(msg && *msg);
	if (field)
		assert_string_equal(json_string_value(f) ?: "(null)", field);
	else
		assert_true(json_is_null(f));
	json_decref(j);
}

static PGconn *pgtest_connect(const char *url)
{
	PGconn *c = PQconnectdb(url);

	if (PQstatus(c) != CONNECTION_OK)
		fail_msg("PostgreSQL %s: %s", url, PQerrorMessage(c));
	return c;
}

static void pgtest_exec(const char *url, const char *sql)
{
	PGconn *c = pgtest_connect(url);
	PGresult *r = PQexec(c, sql);

	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		fail_msg("%s: %s", sql, PQresultErrorMessage(r));
	PQclear(r);
	PQfinish(c);
}

int admin_test_main(struct admin_mode *m, int argc, char **argv,
		    const struct CMUnitTest *tests, size_t n)
{
	int rc;

	m->argc = argc > 1 ? 2 : argc;
	m->argv = argv;
	m->pg = argc > 2 && strcmp(argv[2], "pg") == 0;
	if (m->pg && !pgtest_create(m->pg_url, sizeof(m->pg_url), m->pg_db, sizeof(m->pg_db)))
		admin_skip("FANOUT_TEST_PG_URL is not set (tools/test sets it)");
	rc = _cmocka_run_group_tests(argv[0], tests, n, NULL, NULL);
	if (m->pg)
		pgtest_drop(m->pg_db);
	return rc;
}

bool pgtest_create(char *url, size_t cap, char *db, size_t dbcap)
{
	const char *base = getenv("FANOUT_TEST_PG_URL");
	char sql[200];
	const char *slash;

	if (!base || !*base)
		return false;
	snprintf(db, dbcap, "fanout_t_%d_%ld", (int)getpid(), (long)time(NULL) % 100000);
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", db);
	pgtest_exec(base, sql);
	slash = strrchr(base, '/');	/* postgresql://user@host:port/dbname */
	snprintf(url, cap, "%.*s/%s", (int)(slash - base), base, db);
	return true;
}

void pgtest_drop(const char *db)
{
	const char *base = getenv("FANOUT_TEST_PG_URL");
	char sql[200];
	PGconn *c;

	if (!base)
		return;
	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", db);
	c = PQconnectdb(base);
	PQclear(PQexec(c, sql));
	PQfinish(c);
}

long long pgtest_scalar(const char *url, const char *sql)
{
	PGconn *c = pgtest_connect(url);
	PGresult *r = PQexec(c, sql);
	long long v = -1;

	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
		fail_msg("%s: %s", sql, PQresultErrorMessage(r));
	if (!PQgetisnull(r, 0, 0))
		v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	PQfinish(c);
	return v;
}

double api_metric(struct server *s, const char *sample)
{
	struct http_response r;
	char line[256];
	const char *p;
	double v = -1;

	snprintf(line, sizeof(line), "\n%s ", sample);
	if (http_request(s->http, "GET", "/metrics", NULL, NULL, 0, 5000, &r) != 0)
		return -1;
	p = strstr(r.body, line);
	if (p)
		v = strtod(p + strlen(line), NULL);
	http_response_free(&r);
	return v;
}

void metrics_promtool_check(const char *text)
{
	FILE *p;

	if (system("command -v promtool >/dev/null 2>&1") != 0) {
		fprintf(stderr, "note: promtool not installed; the built-in strict checker ran\n");
		return;
	}
	p = popen("promtool check metrics", "w");
	assert_non_null(p);
	fputs(text, p);
	assert_int_equal(pclose(p), 0);
}
