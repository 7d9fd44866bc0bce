/* tests/integration/admin_util.h — the admin API from the tests: HTTP calls against a
 * harness server with JSON answers, error-shape checks, a fresh PostgreSQL database per
 * test (on the server tools/test starts: $FANOUT_TEST_PG_URL), and polling with bounds. */
#ifndef FANOUT_TESTS_ADMIN_UTIL_H
#define FANOUT_TESTS_ADMIN_UTIL_H

#include <jansson.h>
#include <stdbool.h>

#include "tests/integration/harness.h"

struct CMUnitTest;

/* Calls the server's admin API; *out (if not NULL) gets the parsed body (NULL if not
 * JSON). Returns the HTTP status; fails the test when the server cannot be reached. */
int api(struct server *s, const char *method, const char *path, const char *body, json_t **out);

/* api() with "Authorization: Bearer <token>" (token NULL: no header). */
int api_tok(struct server *s, const char *token, const char *method, const char *path,
	    const char *body, json_t **out);

/* api_tok, failing the test unless the status is want; returns the body (owned). */
json_t *api_tok_expect(struct server *s, const char *token, const char *method,
		       const char *path, const char *body, int want);

struct http_response;

/* The whole answer, headers too, into *r (free with http_response_free). Returns the
 * status; fails the test when the server cannot be reached. */
int api_tok_raw(struct server *s, const char *token, const char *method, const char *path,
		const char *body, struct http_response *r);

/* The same, failing the test unless the status is want; returns the body (owned). */
json_t *api_expect(struct server *s, const char *method, const char *path, const char *body,
		   int want);

/* Fails unless the call answers status with {"error": code, "field": field (NULL: null),
 * "message": non-empty}. */
void api_error(struct server *s, const char *method, const char *path, const char *body,
	       int status, const char *code, const char *field);

/* Sends a request with a Content-Type of our choosing (415 tests). Returns the status. */
int api_ctype(struct server *s, const char *method, const char *path, const char *ctype,
	      const char *body, size_t len, json_t **out);

/* Feeds /metrics text to `promtool check metrics` (fails the test on a complaint); says
 * so and returns when promtool is not installed (tools/test installs it). */
void metrics_promtool_check(const char *text);

/* A fresh database on $FANOUT_TEST_PG_URL's server: its URL into url (cap bytes) and
 * its name into db. Returns false when the variable is unset (the caller skips). */
bool pgtest_create(char *url, size_t cap, char *db, size_t dbcap);

/* Drops a database pgtest_create made (best effort). */
void pgtest_drop(const char *db);

/* Runs a query returning one integer on url (fails the test on error); -1 for NULL. */
long long pgtest_scalar(const char *url, const char *sql);

/* The value of one /metrics sample (its name with labels, as printed: "fanout_store_up"
 * or "fanout_store_up{backend=\"postgresql\"}"), or -1 when /metrics lacks it or does
 * not answer. */
double api_metric(struct server *s, const char *sample);

/* How an admin test runs: on the embedded store, or (argv[2] "pg") on a fresh database
 * of the PostgreSQL tools/test starts. argc/argv are what server_setup takes. */
struct admin_mode {
	int argc;
	char **argv;
	bool pg;
	char pg_url[512], pg_db[64];
};

/* The main of a test that runs on either store: fills *m, makes the database (exit 77
 * without $FANOUT_TEST_PG_URL), runs the n tests, drops it. Returns cmocka's result. */
int admin_test_main(struct admin_mode *m, int argc, char **argv,
		    const struct CMUnitTest *tests, size_t n);

/* Skips the test (exit 77 from main) with a reason on stderr. */
void admin_skip(const char *why) __attribute__((noreturn));

/* Sleeps ms milliseconds. */
void admin_sleep_ms(int ms);

#endif
