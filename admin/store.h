/* admin/store.h — the command-side store: the seeds' tables (topics, subscriptions,
 * routing_rules, distribution_stats, distribution_audit) in SQLite (embedded, a file in
 * the data directory: the default) or PostgreSQL (libpq, when configured), one schema
 * made by versioned migrations (admin/store_schema.c).
 *
 * SQL is written once for both: parameters are $1..$n and passed as text (NULL for SQL
 * NULL), and a few tokens are expanded per dialect before it runs:
 *   @ts(col)    the column as RFC 3339 UTC text ("2026-12-05T09:30:00.123Z")
 *   @json(col)  a JSON column as text
 *   @bool(col)  a boolean column as 0/1
 *   @now        the current time, stored the way @ts reads it
 * Booleans go in as '1'/'0', JSON as text, timestamps as RFC 3339 text.
 *
 * Availability: SQLite is opened at store_open. PostgreSQL connects without blocking:
 * store_poll drives the connection (libpq's async connect) and, once up, the migrations;
 * a query that finds the connection gone marks the store down, and store_poll reconnects
 * with backoff (STORE_BACKOFF_MIN_MS doubling to STORE_BACKOFF_MAX_MS). While down every
 * call returns STORE_UNAVAILABLE at once: nothing waits for a dead server.
 *
 * One thread (the admin thread) uses a store; nothing here is thread-safe. Calls that
 * fail return a negative enum store_rc and leave a message in st->err. */
#ifndef FANOUT_ADMIN_STORE_H
#define FANOUT_ADMIN_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STORE_ERR_BYTES      320u
#define STORE_SQL_BYTES      8192u	/* an expanded statement */
#define STORE_PARAMS_MAX     16u
#define STORE_BACKOFF_MIN_MS 250
#define STORE_BACKOFF_MAX_MS 5000
#define STORE_CONNECT_TIMEOUT_S 3	/* PostgreSQL connect_timeout */
#define STORE_STATEMENT_TIMEOUT_MS 5000	/* a slow server fails the call, not the thread */
#define STORE_SQLITE_FILE    "fanout.db"

enum store_kind { STORE_SQLITE, STORE_PG };

enum store_rc {
	STORE_OK = 0,
	STORE_ERR = -1,		/* a bug or a constraint the caller should have checked */
	STORE_UNAVAILABLE = -2,	/* no connection, or it broke: try again later (503) */
	STORE_CONFLICT = -3,	/* unique or foreign key violated (409) */
	STORE_NOT_FOUND = -4,	/* a row the call needed is not there (404) */
};

/* Rows as text: cells[row * ncols + col], NULL for SQL NULL. */
struct store_result {
	uint32_t nrows, ncols;
	char **cells;
	uint64_t changed;	/* rows an INSERT/UPDATE/DELETE touched */
};

struct store;

struct store_backend {
	/* Opens or starts opening. Returns STORE_OK when up, STORE_UNAVAILABLE while
	 * connecting or down (err set). */
	int (*connect)(struct store *st);
	/* Advances a connect in progress: STORE_OK once up, STORE_UNAVAILABLE meanwhile or
	 * after a failure (st->connecting false then). */
	int (*connect_poll)(struct store *st);
	int (*exec)(struct store *st, const char *sql, int nparams, const char *const *params,
		    struct store_result *res);
	void (*close)(struct store *st);
};

struct store {
	enum store_kind kind;
	const struct store_backend *be;
	void *db;			/* sqlite3 * or PGconn * */
	char target[512];		/* the SQLite path or PostgreSQL URL (secret: never logged) */
	char where[160];		/* what logs may show: the path, or host:port/db */
	char err[STORE_ERR_BYTES];
	bool up;			/* connected and migrated */
	bool connecting;		/* PostgreSQL: an async connect is under way */
	int connect_wait;		/* PostgreSQL: what the connect waits for (libpq's
					 * PostgresPollingStatusType) */
	bool quiet;			/* log nothing about availability (tests) */
	bool down_logged;		/* "unavailable" said once per outage */
	int backoff_ms;
	int64_t retry_ns;		/* CLOCK_MONOTONIC of the next connect attempt */
	uint32_t schema_version;	/* after migrations */
	uint64_t outages;		/* times it went down */
	/* Called once each time the store comes up (after migrations), on the thread that
	 * called store_poll or store_open. */
	void (*on_up)(void *ctx);
	void *on_up_ctx;
};

/* Prepares st for kind with target (SQLite: a file path; PostgreSQL: a URL or key=value
 * string) and tries to connect: SQLite opens and migrates at once; PostgreSQL starts
 * connecting (see store_poll). Returns STORE_OK when up, STORE_UNAVAILABLE when not
 * (yet), STORE_ERR when target is unusable. */
int store_open(struct store *st, enum store_kind kind, const char *target, bool quiet);

/* Drives reconnection and the connect in progress; runs migrations once connected. Call
 * often (every ~100 ms) from the store's thread; cheap when up. now_ns: CLOCK_MONOTONIC. */
void store_poll(struct store *st, int64_t now_ns);

/* Closes the connection. */
void store_close(struct store *st);

/* Expands the dialect tokens, runs sql with params and keeps rows in res (always safe
 * to store_result_free). Returns STORE_OK or a negative enum store_rc. */
int store_exec(struct store *st, const char *sql, int nparams, const char *const *params,
	       struct store_result *res);

/* store_exec without rows. */
int store_run(struct store *st, const char *sql, int nparams, const char *const *params);

int store_begin(struct store *st);
int store_commit(struct store *st);
void store_rollback(struct store *st);	/* best effort */

/* A cell, NULL for SQL NULL. */
static inline const char *store_cell(const struct store_result *r, uint32_t row, uint32_t col)
{
	return r->cells[row * r->ncols + col];
}

void store_result_free(struct store_result *r);

/* Parameters being assembled for a call: strings by reference ("" becomes NULL),
 * numbers formatted into the struct. */
struct store_args {
	const char *v[STORE_PARAMS_MAX];
	char num[STORE_PARAMS_MAX][24];
	int n;
};

void store_arg_str(struct store_args *a, const char *s);	/* "" or NULL: SQL NULL */
void store_arg_i64(struct store_args *a, int64_t x);
void store_arg_u64(struct store_args *a, uint64_t x);
void store_arg_bool(struct store_args *a, bool b);	/* '1' / '0' */

/* Copies a cell into dst (cap bytes, cut at the bound; "" for NULL). */
void store_copy(char *dst, size_t cap, const char *cell);

/* Expands the dialect tokens of sql into out (cap bytes). Returns 0 or -ENAMETOOLONG /
 * -EINVAL for a malformed token. Pure (unit-tested). */
int store_sql_expand(enum store_kind kind, const char *sql, char *out, size_t cap);

/* Marks the store down after a broken connection (logs once per outage). Backends. */
void store_mark_down(struct store *st, const char *why);

/* Sets st->err from a format. Returns rc. */
int store_fail(struct store *st, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Fills buf (37 bytes) with a random UUID v4. */
void store_uuid(char buf[37]);

/* A UUID v7 (RFC 9562: Unix ms, then random) for a row made at realtime_ns: rows made in
 * order land at the end of the key's index, not at random pages. */
void store_uuid7(char buf[37], int64_t realtime_ns);

/* Fills buf (>= 32 bytes) with the RFC 3339 UTC form of a CLOCK_REALTIME time. */
void store_time(int64_t realtime_ns, char *buf, size_t cap);

extern const struct store_backend store_sqlite_backend;
extern const struct store_backend store_pg_backend;

#endif
