/* admin/store_sqlite.c — the embedded store: one SQLite file in the data directory
 * (WAL journal, foreign keys on), parameters bound by their $N names. Single statements
 * stay prepared in a small cache (SQLITE_PREPARE_PERSISTENT): the admin thread runs the
 * same few statements every second, and parsing them each time is allocation churn in a
 * process whose data path is measured for memory growth. Statement lists (migrations)
 * are prepared and finalized as they run. */
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/store.h"

#define STORE_SQLITE_BUSY_MS 1000	/* another process holding the file: wait this long */
#define STORE_SQLITE_CACHE   32u	/* prepared statements kept (the store has ~30) */

struct store_sqlite_stmt {
	char *sql;			/* the expanded text: the key */
	sqlite3_stmt *stmt;
	uint64_t used;			/* for evicting the least recently used */
};

struct store_sqlite {
	sqlite3 *db;
	struct store_sqlite_stmt cache[STORE_SQLITE_CACHE];
	uint64_t clock;
};

/* SQLite's verdict as a store_rc: constraints the caller can report (409), the file
 * unusable (503), anything else a bug. */
static int store_sqlite_rc(int code)
{
	switch (code & 0xff) {
	case SQLITE_CONSTRAINT:
		return code == SQLITE_CONSTRAINT_UNIQUE || code == SQLITE_CONSTRAINT_PRIMARYKEY ||
			       code == SQLITE_CONSTRAINT_FOREIGNKEY
		       ? STORE_CONFLICT : STORE_ERR;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
	case SQLITE_IOERR:
	case SQLITE_FULL:
	case SQLITE_CANTOPEN:
	case SQLITE_READONLY:
	case SQLITE_NOMEM:
		return STORE_UNAVAILABLE;
	default:
		return STORE_ERR;
	}
}

static int store_sqlite_connect(struct store *st)
{
	sqlite3 *db = NULL;
	char *msg = NULL;
	int rc;

	snprintf(st->where, sizeof(st->where), "SQLite %.150s", st->target);
	rc = sqlite3_open_v2(st->target, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
			     SQLITE_OPEN_NOMUTEX, NULL);	/* one thread uses it */
	if (rc != SQLITE_OK) {
		store_fail(st, STORE_UNAVAILABLE, "%s", db ? sqlite3_errmsg(db) : "out of memory");
		sqlite3_close(db);
		return STORE_UNAVAILABLE;
	}
	sqlite3_extended_result_codes(db, 1);
	sqlite3_busy_timeout(db, STORE_SQLITE_BUSY_MS);
	/* WAL: readers never block the writer; NORMAL sync is durable across a process
	 * crash (a power loss may lose the last transactions, as the partition logs may).
	 * Pages through a mapping and a 64 MiB cache: the audit trail inserts rows into
	 * tables of millions, and a read() per page missed would be its cost. */
	rc = sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
			  "PRAGMA foreign_keys=ON; PRAGMA cache_size=-65536; "
			  "PRAGMA mmap_size=1073741824;", NULL, NULL, &msg);
	if (rc != SQLITE_OK) {
		store_fail(st, store_sqlite_rc(rc), "%s", msg ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
		sqlite3_close(db);
		return STORE_UNAVAILABLE;
	}
	st->db = calloc(1, sizeof(struct store_sqlite));
	if (!st->db) {
		sqlite3_close(db);
		return store_fail(st, STORE_UNAVAILABLE, "out of memory");
	}
	((struct store_sqlite *)st->db)->db = db;
	return STORE_OK;
}

static int store_sqlite_connect_poll(struct store *st)
{
	return store_sqlite_connect(st);
}

static int store_sqlite_bind(struct store *st, sqlite3_stmt *stmt, int nparams,
			     const char *const *params)
{
	for (int i = 0; i < nparams; i++) {
		char name[16];
		int idx, rc;

		snprintf(name, sizeof(name), "$%d", i + 1);
		idx = sqlite3_bind_parameter_index(stmt, name);
		if (idx == 0)
			continue;	/* the statement does not use it */
		rc = params[i] ? sqlite3_bind_text(stmt, idx, params[i], -1, SQLITE_STATIC)
			       : sqlite3_bind_null(stmt, idx);
		if (rc != SQLITE_OK)
			return store_fail(st, store_sqlite_rc(rc), "bind $%d: %s", i + 1,
					  sqlite3_errstr(rc));
	}
	return STORE_OK;
}

/* Appends the current row to res as text cells. */
static int store_sqlite_row(struct store *st, sqlite3_stmt *stmt, struct store_result *res)
{
	uint32_t base = res->nrows * res->ncols;
	char **cells = realloc(res->cells, (size_t)(base + res->ncols) * sizeof(*cells));

	if (!cells)
		return store_fail(st, STORE_ERR, "out of memory");
	res->cells = cells;
	for (uint32_t c = 0; c < res->ncols; c++) {
		const unsigned char *v = sqlite3_column_text(stmt, (int)c);

		cells[base + c] = v ? strdup((const char *)v) : NULL;
		if (v && !cells[base + c]) {
			res->nrows++;	/* freed with the rest */
			return store_fail(st, STORE_ERR, "out of memory");
		}
	}
	res->nrows++;
	return STORE_OK;
}

/* The cached statement for sql, or NULL. */
static struct store_sqlite_stmt *store_sqlite_cached(struct store_sqlite *s, const char *sql)
{
	for (uint32_t i = 0; i < STORE_SQLITE_CACHE; i++)
		if (s->cache[i].sql && strcmp(s->cache[i].sql, sql) == 0)
			return &s->cache[i];
	return NULL;
}

/* Keeps stmt for sql in the least recently used slot. Without memory it is not kept
 * (the caller finalizes it: returns false). */
static bool store_sqlite_keep(struct store_sqlite *s, const char *sql, sqlite3_stmt *stmt)
{
	struct store_sqlite_stmt *slot = &s->cache[0];
	char *copy = strdup(sql);

	if (!copy)
		return false;
	for (uint32_t i = 1; i < STORE_SQLITE_CACHE; i++)
		if (s->cache[i].used < slot->used)
			slot = &s->cache[i];
	sqlite3_finalize(slot->stmt);
	free(slot->sql);
	*slot = (struct store_sqlite_stmt){ .sql = copy, .stmt = stmt, .used = ++s->clock };
	return true;
}

/* Binds, steps to the end and keeps the rows. Returns a store_rc. */
static int store_sqlite_run(struct store *st, sqlite3 *db, sqlite3_stmt *stmt, int nparams,
			    const char *const *params, struct store_result *res)
{
	int rc = SQLITE_OK, out = store_sqlite_bind(st, stmt, nparams, params);

	res->ncols = (uint32_t)sqlite3_column_count(stmt);
	while (out == STORE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW)
		out = store_sqlite_row(st, stmt, res);
	if (out == STORE_OK && rc != SQLITE_DONE)
		out = store_fail(st, store_sqlite_rc(sqlite3_extended_errcode(db)), "%s",
				 sqlite3_errmsg(db));
	return out;
}

static int store_sqlite_exec(struct store *st, const char *sql, int nparams,
			     const char *const *params, struct store_result *res)
{
	struct store_sqlite *s = st->db;
	struct store_sqlite_stmt *c = store_sqlite_cached(s, sql);
	sqlite3_stmt *stmt = NULL;
	const char *tail = sql;
	int rc, out = STORE_OK;

	if (c) {
		c->used = ++s->clock;
		out = store_sqlite_run(st, s->db, c->stmt, nparams, params, res);
		sqlite3_reset(c->stmt);
		sqlite3_clear_bindings(c->stmt);
	}
	/* Else one statement at a time (a list: migrations); a lone one is kept. */
	while (!c && out == STORE_OK && tail && *tail) {
		bool lone = tail == sql;

		rc = sqlite3_prepare_v3(s->db, tail, -1, SQLITE_PREPARE_PERSISTENT, &stmt, &tail);
		if (rc != SQLITE_OK)
			return store_fail(st, store_sqlite_rc(rc), "%s", sqlite3_errmsg(s->db));
		if (!stmt)
			break;	/* only whitespace or comments left */
		lone = lone && tail[strspn(tail, " \t\r\n;")] == '\0';
		out = store_sqlite_run(st, s->db, stmt, nparams, params, res);
		sqlite3_reset(stmt);
		sqlite3_clear_bindings(stmt);
		if (lone && out != STORE_UNAVAILABLE && store_sqlite_keep(s, sql, stmt))
			break;
		sqlite3_finalize(stmt);
	}
	res->changed = (uint64_t)sqlite3_changes(s->db);
	if (out == STORE_UNAVAILABLE)
		store_mark_down(st, st->err);
	return out;
}

static void store_sqlite_close(struct store *st)
{
	struct store_sqlite *s = st->db;

	if (!s)
		return;
	for (uint32_t i = 0; i < STORE_SQLITE_CACHE; i++) {
		sqlite3_finalize(s->cache[i].stmt);
		free(s->cache[i].sql);
	}
	sqlite3_close(s->db);
	free(s);
	st->db = NULL;
}

const struct store_backend store_sqlite_backend = {
	.connect = store_sqlite_connect,
	.connect_poll = store_sqlite_connect_poll,
	.exec = store_sqlite_exec,
	.close = store_sqlite_close,
};
