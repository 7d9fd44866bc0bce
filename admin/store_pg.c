/* admin/store_pg.c — the PostgreSQL store through libpq: an asynchronous connect driven
 * by store_poll (the admin thread never sits in connect()), keepalives and a statement
 * timeout so a vanished or stuck server fails calls instead of holding the thread, and
 * errors sorted by SQLSTATE. */
#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/store.h"

/* Writes "PostgreSQL host:port/db" (never the password) into st->where. */
static void store_pg_where(struct store *st)
{
	const char *host = "localhost", *port = "5432", *db = "";
	PQconninfoOption *opts = PQconninfoParse(st->target, NULL);

	for (PQconninfoOption *o = opts; o && o->keyword; o++) {
		if (!o->val || !*o->val)
			continue;
		if (strcmp(o->keyword, "host") == 0)
			host = o->val;
		else if (strcmp(o->keyword, "port") == 0)
			port = o->val;
		else if (strcmp(o->keyword, "dbname") == 0)
			db = o->val;
	}
	snprintf(st->where, sizeof(st->where), "PostgreSQL %.60s:%.8s/%.60s", host, port, db);
	PQconninfoFree(opts);
}

static void store_pg_notice(void *arg, const char *message)
{
	(void)arg;
	(void)message;	/* NOTICEs (IF NOT EXISTS, ...) are not for the server log */
}

/* libpq's messages span lines: one line for logs and JSON, trailing space gone. */
static void store_pg_trim(struct store *st)
{
	size_t n, o = 0;

	for (n = 0; st->err[n]; n++) {
		char c = st->err[n] == '\n' || st->err[n] == '\t' ? ' ' : st->err[n];

		if (c == ' ' && (o == 0 || st->err[o - 1] == ' '))
			continue;
		st->err[o++] = c;
	}
	while (o > 0 && st->err[o - 1] == ' ')
		o--;
	st->err[o] = '\0';
}

static int store_pg_connect(struct store *st)
{
	char timeout[16], options[128];
	const char *keys[] = { "dbname", "connect_timeout", "keepalives", "keepalives_idle",
			       "keepalives_interval", "keepalives_count", "tcp_user_timeout",
			       "application_name", "options", NULL };
	const char *vals[] = { st->target, timeout, "1", "5", "2", "2", "5000", "fanoutd",
			       options, NULL };
	PGconn *conn;

	store_pg_where(st);
	snprintf(timeout, sizeof(timeout), "%d", STORE_CONNECT_TIMEOUT_S);
	snprintf(options, sizeof(options), "-c statement_timeout=%d -c TimeZone=UTC "
		 "-c client_min_messages=warning", STORE_STATEMENT_TIMEOUT_MS);
	/* expand_dbname: the URL (or key=value string) in dbname is parsed; the keys after
	 * it override what it says about timeouts. */
	conn = PQconnectStartParams(keys, vals, 1);
	if (!conn)
		return store_fail(st, STORE_UNAVAILABLE, "out of memory");
	if (PQstatus(conn) == CONNECTION_BAD) {
		store_fail(st, STORE_UNAVAILABLE, "%s", PQerrorMessage(conn));
		store_pg_trim(st);
		PQfinish(conn);
		return STORE_UNAVAILABLE;
	}
	PQsetNoticeProcessor(conn, store_pg_notice, NULL);
	st->db = conn;
	st->connecting = true;
	st->connect_wait = PGRES_POLLING_WRITING;	/* libpq: start by waiting to write */
	return store_fail(st, STORE_UNAVAILABLE, "connecting");
}

static int store_pg_connect_poll(struct store *st)
{
	PGconn *conn = st->db;
	struct pollfd pfd = { .fd = PQsocket(conn) };
	PostgresPollingStatusType ps;

	pfd.events = st->connect_wait == PGRES_POLLING_READING ? POLLIN : POLLOUT;
	if (pfd.fd >= 0 && poll(&pfd, 1, 0) == 0)
		return STORE_UNAVAILABLE;	/* not ready: the next poll looks again */
	ps = PQconnectPoll(conn);
	if (ps == PGRES_POLLING_READING || ps == PGRES_POLLING_WRITING) {
		st->connect_wait = ps;
		return STORE_UNAVAILABLE;
	}
	st->connecting = false;
	if (ps == PGRES_POLLING_OK)
		return STORE_OK;
	store_fail(st, STORE_UNAVAILABLE, "%s", PQerrorMessage(conn));
	store_pg_trim(st);
	PQfinish(conn);
	st->db = NULL;
	return STORE_UNAVAILABLE;
}

/* The store_rc for a failed result: the connection gone or the server going away is
 * unavailability; unique and foreign-key violations are conflicts. */
static int store_pg_rc(PGconn *conn, const PGresult *r)
{
	const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;

	if (PQstatus(conn) == CONNECTION_BAD || !state)
		return STORE_UNAVAILABLE;
	if (strcmp(state, "23505") == 0 || strcmp(state, "23503") == 0)
		return STORE_CONFLICT;
	/* 08: connection exceptions; 57: operator intervention (shutdown, statement
	 * timeout); 53: insufficient resources. */
	if (strncmp(state, "08", 2) == 0 || strncmp(state, "57", 2) == 0 ||
	    strncmp(state, "53", 2) == 0)
		return STORE_UNAVAILABLE;
	return STORE_ERR;
}

static int store_pg_rows(struct store *st, PGresult *r, struct store_result *res)
{
	uint32_t rows = (uint32_t)PQntuples(r), cols = (uint32_t)PQnfields(r);

	res->nrows = rows;
	res->ncols = cols;
	if ((uint64_t)rows * cols == 0)
		return STORE_OK;
	res->cells = calloc((size_t)rows * cols, sizeof(*res->cells));
	if (!res->cells) {
		res->nrows = 0;
		return store_fail(st, STORE_ERR, "out of memory");
	}
	for (uint32_t i = 0; i < rows; i++) {
		for (uint32_t c = 0; c < cols; c++) {
			char **cell = &res->cells[i * cols + c];

			if (PQgetisnull(r, (int)i, (int)c))
				continue;
			*cell = strdup(PQgetvalue(r, (int)i, (int)c));
			if (!*cell)
				return store_fail(st, STORE_ERR, "out of memory");
		}
	}
	return STORE_OK;
}

static int store_pg_exec(struct store *st, const char *sql, int nparams,
			 const char *const *params, struct store_result *res)
{
	PGconn *conn = st->db;
	/* Without parameters PQexec runs a statement list (migrations). */
	PGresult *r = nparams ? PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0)
			      : PQexec(conn, sql);
	ExecStatusType status = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
	int rc;

	if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) {
		const char *n = PQcmdTuples(r);

		res->changed = n && *n ? strtoull(n, NULL, 10) : 0;
		rc = store_pg_rows(st, r, res);
		PQclear(r);
		return rc;
	}
	rc = store_pg_rc(conn, r);
	store_fail(st, rc, "%s", r ? PQresultErrorMessage(r) : PQerrorMessage(conn));
	store_pg_trim(st);
	PQclear(r);
	if (rc == STORE_UNAVAILABLE)
		store_mark_down(st, st->err);
	return rc;
}

static void store_pg_close(struct store *st)
{
	if (st->db)
		PQfinish(st->db);
	st->db = NULL;
	st->connecting = false;
}

const struct store_backend store_pg_backend = {
	.connect = store_pg_connect,
	.connect_poll = store_pg_connect_poll,
	.exec = store_pg_exec,
	.close = store_pg_close,
};
