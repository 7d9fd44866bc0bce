/* admin/store.c — the dialect-neutral part of the store: token expansion, results,
 * transactions, availability and reconnection (see store.h). */
#include "admin/store.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "admin/log.h"
#include "admin/store_schema.h"
#include "core/clock.h"

int store_fail(struct store *st, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(st->err, sizeof(st->err), fmt, ap);
	va_end(ap);
	return rc;
}

/* Random bytes drawn 512 at a time: a row per audited delivery must not cost a system
 * call each. Per thread, so no lock; each byte handed out once. */
static void store_random(uint8_t *out, size_t n)
{
	static _Thread_local uint8_t pool[512];
	static _Thread_local size_t left;

	assert(n <= sizeof(pool));
	if (left < n) {
		size_t got = 0;

		while (got < sizeof(pool)) {	/* never fails once seeded; 512 bytes at most */
			ssize_t r = getrandom(pool + got, sizeof(pool) - got, 0);

			if (r > 0)
				got += (size_t)r;
		}
		left = sizeof(pool);
	}
	left -= n;
	memcpy(out, pool + left, n);
	memset(pool + left, 0, n);
}

static void store_uuid_text(const uint8_t b[16], char buf[37])
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	for (size_t i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			buf[o++] = '-';
		buf[o++] = hex[b[i] >> 4];
		buf[o++] = hex[b[i] & 15];
	}
	buf[o] = '\0';
}

void store_uuid(char buf[37])
{
	uint8_t b[16];

	store_random(b, sizeof(b));
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);	/* version 4 */
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);	/* variant 10 */
	store_uuid_text(b, buf);
}

void store_uuid7(char buf[37], int64_t realtime_ns)
{
	uint64_t ms = (uint64_t)(realtime_ns / 1000000);
	uint8_t b[16];

	store_random(b + 6, 10);
	for (int i = 0; i < 6; i++)	/* 48 bits of Unix ms, big-endian: sorts by time */
		b[i] = (uint8_t)(ms >> (40 - 8 * i));
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x70);	/* version 7 */
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);	/* variant 10 */
	store_uuid_text(b, buf);
}

void store_time(int64_t ns, char *buf, size_t cap)
{
	time_t s = (time_t)(ns / 1000000000);
	struct tm tm;

	gmtime_r(&s, &tm);
	snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 (int)(ns % 1000000000 / 1000000));
}

/* What one token becomes in a dialect; col is the token's argument. */
static int store_token(enum store_kind kind, const char *name, size_t nlen, const char *col,
		       size_t clen, char *out, size_t cap)
{
	int n;

#define IS(lit) (nlen == sizeof(lit) - 1 && memcmp(name, lit, nlen) == 0)
	if (IS("now"))
		n = snprintf(out, cap, "%s", kind == STORE_PG ? "now()" :
			     "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')");
	else if (IS("ts") && kind == STORE_PG)
		n = snprintf(out, cap, "to_char(%.*s AT TIME ZONE 'UTC', "
			     "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')", (int)clen, col);
	else if (IS("json") && kind == STORE_PG)
		n = snprintf(out, cap, "CAST(%.*s AS TEXT)", (int)clen, col);
	else if (IS("bool") && kind == STORE_PG)
		n = snprintf(out, cap, "CAST(%.*s AS INTEGER)", (int)clen, col);
	else if (IS("ts") || IS("json") || IS("bool"))
		n = snprintf(out, cap, "%.*s", (int)clen, col);	/* SQLite stores them so */
	else
		return -EINVAL;
#undef IS
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : n;
}

int store_sql_expand(enum store_kind kind, const char *sql, char *out, size_t cap)
{
	size_t o = 0;

	for (const char *p = sql; *p;) {
		const char *name, *col = "", *end;
		size_t nlen, clen = 0;
		int n;

		if (*p != '@') {
			if (o + 1 >= cap)
				return -ENAMETOOLONG;
			out[o++] = *p++;
			continue;
		}
		name = ++p;
		while ((*p >= 'a' && *p <= 'z'))
			p++;
		nlen = (size_t)(p - name);
		if (*p == '(') {
			col = ++p;
			end = strchr(p, ')');
			if (!end)
				return -EINVAL;
			clen = (size_t)(end - col);
			p = end + 1;
		}
		n = store_token(kind, name, nlen, col, clen, out + o, cap - o);
		if (n < 0)
			return n;
		o += (size_t)n;
	}
	if (o >= cap)
		return -ENAMETOOLONG;
	out[o] = '\0';
	return 0;
}

void store_result_free(struct store_result *r)
{
	if (r->cells)
		for (uint64_t i = 0; i < (uint64_t)r->nrows * r->ncols; i++)
			free(r->cells[i]);
	free(r->cells);
	memset(r, 0, sizeof(*r));
}

int store_exec(struct store *st, const char *sql, int nparams, const char *const *params,
	       struct store_result *res)
{
	char buf[STORE_SQL_BYTES];
	int rc;

	memset(res, 0, sizeof(*res));
	if (!st->up)
		return store_fail(st, STORE_UNAVAILABLE, "the store (%s) is unavailable",
				  st->where);
	rc = store_sql_expand(st->kind, sql, buf, sizeof(buf));
	if (rc < 0)
		return store_fail(st, STORE_ERR, "bad statement template");
	return st->be->exec(st, buf, nparams, params, res);
}

int store_run(struct store *st, const char *sql, int nparams, const char *const *params)
{
	struct store_result r;
	int rc = store_exec(st, sql, nparams, params, &r);

	store_result_free(&r);
	return rc;
}

int store_begin(struct store *st)
{
	return store_run(st, "BEGIN", 0, NULL);
}

int store_commit(struct store *st)
{
	return store_run(st, "COMMIT", 0, NULL);
}

void store_rollback(struct store *st)
{
	char err[STORE_ERR_BYTES];

	memcpy(err, st->err, sizeof(err));	/* the caller reports the first failure */
	if (st->up)
		store_run(st, "ROLLBACK", 0, NULL);
	memcpy(st->err, err, sizeof(err));
}

void store_mark_down(struct store *st, const char *why)
{
	if (st->up)
		st->outages++;
	st->be->close(st);	/* a broken connection is not reused */
	st->up = false;
	st->backoff_ms = STORE_BACKOFF_MIN_MS;
	st->retry_ns = clock_monotonic_ns() + (int64_t)st->backoff_ms * 1000000;
	if (!st->down_logged && !st->quiet)
		admin_log(ADMIN_LOG_WARN, "store: %s unavailable (%s); management calls answer "
			  "503 and statistics rows are queued until it is back", st->where, why);
	st->down_logged = true;
}

/* Connected: bring the schema up to date, then the store is up. */
static void store_came_up(struct store *st)
{
	int rc = store_migrate(st);

	if (rc < 0) {
		if (!st->quiet)
			admin_log(ADMIN_LOG_ERROR, "store: %s: migrations failed: %s", st->where,
				  st->err);
		st->be->close(st);
		st->up = false;
		st->retry_ns = clock_monotonic_ns() + (int64_t)STORE_BACKOFF_MAX_MS * 1000000;
		return;
	}
	if (st->down_logged && !st->quiet)
		admin_log(ADMIN_LOG_INFO, "store: %s is back (schema version %u)", st->where,
			  st->schema_version);
	st->down_logged = false;
	st->backoff_ms = STORE_BACKOFF_MIN_MS;
	if (st->on_up)
		st->on_up(st->on_up_ctx);
}

int store_open(struct store *st, enum store_kind kind, const char *target, bool quiet)
{
	void (*on_up)(void *) = st->on_up;
	void *ctx = st->on_up_ctx;
	int rc;

	memset(st, 0, sizeof(*st));
	st->on_up = on_up;
	st->on_up_ctx = ctx;
	st->kind = kind;
	st->quiet = quiet;
	st->be = kind == STORE_PG ? &store_pg_backend : &store_sqlite_backend;
	if (strlen(target) >= sizeof(st->target))
		return store_fail(st, STORE_ERR, "store target is too long");
	strcpy(st->target, target);
	st->backoff_ms = STORE_BACKOFF_MIN_MS;
	rc = st->be->connect(st);
	if (rc == STORE_OK) {
		st->up = true;
		store_came_up(st);
		return st->up ? STORE_OK : STORE_UNAVAILABLE;
	}
	if (!st->connecting)
		store_mark_down(st, st->err);
	return rc;
}

void store_poll(struct store *st, int64_t now_ns)
{
	int rc;

	if (st->up)
		return;
	if (!st->connecting) {
		if (now_ns < st->retry_ns)
			return;
		rc = st->be->connect(st);
	} else {
		rc = st->be->connect_poll(st);
	}
	if (rc == STORE_OK) {
		st->up = true;
		store_came_up(st);
		return;
	}
	if (st->connecting)
		return;	/* still on its way */
	if (!st->down_logged && !st->quiet)
		admin_log(ADMIN_LOG_WARN, "store: %s unavailable (%s); retrying", st->where,
			  st->err);
	st->down_logged = true;
	st->retry_ns = now_ns + (int64_t)st->backoff_ms * 1000000;
	st->backoff_ms = st->backoff_ms * 2 > STORE_BACKOFF_MAX_MS ? STORE_BACKOFF_MAX_MS
								    : st->backoff_ms * 2;
}

void store_close(struct store *st)
{
	if (st->be)
		st->be->close(st);
	st->up = false;
	st->connecting = false;
}

void store_arg_str(struct store_args *a, const char *s)
{
	assert(a->n < (int)STORE_PARAMS_MAX);
	a->v[a->n++] = s && *s ? s : NULL;
}

void store_arg_i64(struct store_args *a, int64_t x)
{
	assert(a->n < (int)STORE_PARAMS_MAX);
	snprintf(a->num[a->n], sizeof(a->num[0]), "%lld", (long long)x);
	a->v[a->n] = a->num[a->n];
	a->n++;
}

void store_arg_u64(struct store_args *a, uint64_t x)
{
	assert(a->n < (int)STORE_PARAMS_MAX);
	snprintf(a->num[a->n], sizeof(a->num[0]), "%llu", (unsigned long long)x);
	a->v[a->n] = a->num[a->n];
	a->n++;
}

void store_arg_bool(struct store_args *a, bool b)
{
	assert(a->n < (int)STORE_PARAMS_MAX);
	a->v[a->n++] = b ? "1" : "0";
}

void store_copy(char *dst, size_t cap, const char *cell)
{
	snprintf(dst, cap, "%s", cell ? cell : "");
}
