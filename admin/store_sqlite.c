/* admin/store_sqlite.c — the embedded store: one SQLite file in the data directory
 * (WAL journal, foreign keys on), statements prepared per call and parameters bound by
 * their $N names. */
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/store.h"

#define STORE_SQLITE_BUSY_MS 1000	/* another process holding the file: wait this long */

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
	 * crash (a power loss may lose the last transactions, as the partition logs may). */
	rc = sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
			  "PRAGMA foreign_keys=ON;", NULL, NULL, &msg);
	if (rc != SQLITE_OK) {
		store_fail(st, store_sqlite_rc(rc), "%s", msg ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
		sqlite3_close(db);
		return STORE_UNAVAILABLE;
	}
	st->db = db;
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

static int store_sqlite_exec(struct store *st, const char *sql, int nparams,
			     const char *const *params, struct store_result *res)
{
	sqlite3 *db = st->db;
	sqlite3_stmt *stmt = NULL;
	const char *tail = sql;
	int rc = SQLITE_OK, out = STORE_OK;

	/* A statement list (migrations) runs one statement at a time. */
	while (out == STORE_OK && tail && *tail) {
		rc = sqlite3_prepare_v2(db, tail, -1, &stmt, &tail);
		if (rc != SQLITE_OK)
			return store_fail(st, store_sqlite_rc(rc), "%s", sqlite3_errmsg(db));
		if (!stmt)
			break;	/* only whitespace or comments left */
		out = store_sqlite_bind(st, stmt, nparams, params);
		res->ncols = (uint32_t)sqlite3_column_count(stmt);
		while (out == STORE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW)
			out = store_sqlite_row(st, stmt, res);
		if (out == STORE_OK && rc != SQLITE_DONE)
			out = store_fail(st, store_sqlite_rc(sqlite3_extended_errcode(db)), "%s",
					 sqlite3_errmsg(db));
		sqlite3_finalize(stmt);
	}
	res->changed = (uint64_t)sqlite3_changes(db);
	if (out == STORE_UNAVAILABLE)
		store_mark_down(st, st->err);
	return out;
}

static void store_sqlite_close(struct store *st)
{
	sqlite3_close(st->db);
	st->db = NULL;
}

const struct store_backend store_sqlite_backend = {
	.connect = store_sqlite_connect,
	.connect_poll = store_sqlite_connect_poll,
	.exec = store_sqlite_exec,
	.close = store_sqlite_close,
};
