/* admin/audit.c — the distribution_audit trail (admin/audit.h). */
#include "admin/audit.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "admin/admin.h"
#include "admin/audit_file.h"
#include "admin/event_json.h"
#include "admin/live.h"
#include "admin/log.h"
#include "net/control.h"
#include "core/pattern.h"
#include "fanout.pb-c.h"
#include "ingest/wire_scan.h"
#include "net/audit.h"

static_assert(AUDIT_SUB_BYTES == ADMIN_ID_BYTES, "a subscription's REST id");
static_assert(AUDIT_EVENT_ID_BYTES == WIRE_ID_BYTES_MAX + 1, "an event id");
static_assert(AUDIT_KEY_BYTES >= PATTERN_BYTES_MAX + 1, "a routing key");

#define AUDIT_ACK_LOOKBACK 256u	/* rows an Ack looks back for an older one to replace */
#define AUDIT_COLLECT_ROUNDS 4	/* memory-fulls one chore takes in, spilling between */

static const char *const audit_status[] = { "", "delivered", "failed", "acked" };

int audit_init(struct audit_trail *t, const char *data_dir, uint64_t spill_max)
{
	struct stat sb;
	int n;

	memset(t, 0, sizeof(*t));
	t->spill_max = spill_max;
	n = snprintf(t->spill_path, sizeof(t->spill_path), "%s/%s", data_dir, AUDIT_SPILL_FILE);
	if (n < 0 || (size_t)n >= sizeof(t->spill_path))
		return -ENAMETOOLONG;
	t->rows = calloc(AUDIT_PENDING_MAX, sizeof(*t->rows));
	t->batch = calloc(AUDIT_FLUSH_ROWS, sizeof(*t->batch));
	if (!t->rows || !t->batch)
		return -ENOMEM;
	/* Rows spilled before a stop (or a crash) are the store's first work. */
	if (stat(t->spill_path, &sb) == 0 && sb.st_size > 0) {
		t->spill = fopen(t->spill_path, "a+");
		if (!t->spill)
			return -errno;
		t->spill_bytes = audit_file_whole_lines(t->spill, (uint64_t)sb.st_size);
	}
	return 0;
}

void audit_free(struct audit_trail *t)
{
	if (t->spill)
		fclose(t->spill);
	free(t->rows);
	free(t->batch);
	memset(t, 0, sizeof(*t));
}

static struct audit_row *audit_at(struct audit_trail *t, uint32_t i)
{
	return &t->rows[(t->head + i) % AUDIT_PENDING_MAX];
}

/* The event's id and routing key, from its frame in the log (the last one is kept: an
 * event delivered to many subscriptions is decoded once). Returns 0 or -1. */
static int audit_event(struct audit_trail *t, const struct audit_rec *rec,
		       struct audit_row *row, uint64_t *recv_ns)
{
	const struct log *log = rec->topic->part[rec->partition].log;
	Fanout__V1__ServerMessage *m;
	struct log_ref ref;

	if (t->last_topic != rec->topic || t->last_partition != rec->partition ||
	    t->last_offset != rec->offset) {
		if (!log || log_read(log, rec->offset, &ref) < 0 ||
		    !(m = event_frame_unpack(ref.frame, ref.len)))
			return -1;
		snprintf(t->last_event_id, sizeof(t->last_event_id), "%s", m->event->event_id);
		snprintf(t->last_key, sizeof(t->last_key), "%s", m->event->distribution ?
			 m->event->distribution->routing_key : "");
		fanout__v1__server_message__free_unpacked(m, NULL);
		t->last_topic = rec->topic;
		t->last_partition = rec->partition;
		t->last_offset = rec->offset;
		t->last_recv_ns = ref.entry->recv_ns;
	}
	memcpy(row->event_id, t->last_event_id, sizeof(row->event_id));
	memcpy(row->key, t->last_key, sizeof(row->key));
	*recv_ns = t->last_recv_ns;
	return 0;
}

/* An Ack replaces an older one of the same subscription and partition still held
 * (looking back a little): one UPDATE for a client that acks every event. */
static void audit_ack_merge(struct audit_trail *t, struct audit_row *ack)
{
	uint32_t look = t->n < AUDIT_ACK_LOOKBACK ? t->n : AUDIT_ACK_LOOKBACK;

	for (uint32_t i = t->n; look-- > 0; i--) {
		struct audit_row *r = audit_at(t, i - 1);

		if (!r->ack || r->status == 0 || r->partition != ack->partition ||
		    strcmp(r->sub, ack->sub) != 0)
			continue;
		r->status = 0;	/* dead: the new one covers everything it did */
		if (r->offset > ack->offset)
			ack->offset = r->offset;
		return;
	}
}

/* Turns one reactor record into a held row. */
static void audit_add(struct admin *a, const struct audit_rec *rec)
{
	struct audit_trail *t = &a->audit;
	struct audit_row *row = audit_at(t, t->n);
	uint64_t recv_ns = 0;

	memset(row, 0, sizeof(*row));
	live_sub_id(a, rec->serial, row->sub);
	row->partition = rec->partition;
	row->offset = rec->offset;
	row->at_ns = rec->at_ns;
	row->status = rec->kind;
	row->delivery_ms = NAN;
	if (rec->kind == AUDIT_ACKED) {
		row->ack = true;
		audit_ack_merge(t, row);
		t->n++;
		return;
	}
	if (audit_event(t, rec, row, &recv_ns) < 0) {
		t->unreadable++;	/* gone from the log already: nothing to name it by */
		return;
	}
	snprintf(row->topic, sizeof(row->topic), "%s", rec->topic->name);
	store_uuid7(row->id, rec->at_ns);
	if (rec->kind == AUDIT_DELIVERED)
		row->delivery_ms = (double)(rec->at_ns - (int64_t)recv_ns) / 1e6;
	t->n++;
}

uint32_t audit_collect(struct admin *a)
{
	struct audit_trail *t = &a->audit;
	uint32_t got = 0;

	for (int round = 0; t->rows && round < AUDIT_COLLECT_ROUNDS; round++) {
		bool pressed = false;

		for (uint32_t r = 0; r < a->eng->n; r++) {
			struct audit_queue *q = &a->eng->audit[r];
			bool full = ck_ring_size(&q->ring) > AUDIT_QUEUE_SLOTS / 2;
			struct audit_rec rec;

			while (t->n < AUDIT_PENDING_MAX && audit_queue_pop(q, &rec)) {
				t->records++;
				got++;
				audit_add(a, &rec);
			}
			if (full)	/* its sends may wait for this room: now, not next turn */
				control_wake_reactor(a->eng, r);
			pressed = pressed || ck_ring_size(&q->ring) > AUDIT_QUEUE_SLOTS / 2;
		}
		if (t->n < AUDIT_PENDING_MAX)
			break;
		/* More than the memory holds. A burst the store can take is written now; a
		 * stream faster than the store (or no store) goes to the spill (an append) and
		 * the store catches up from there, so the reactors never wait on the store's
		 * pace — only, past --audit-spill-bytes, rows are dropped. */
		if (a->store.up && !t->spill && !pressed)
			audit_flush(a);
		else
			audit_spill(a);
	}
	return got;
}

/* ---- the store ---------------------------------------------------------------------- */

static int audit_write_row(struct store *st, const struct audit_row *r)
{
	struct store_args q = { 0 };
	char at[40], ms[32] = "";

	if (r->ack) {
		if (r->status == 0)
			return STORE_OK;	/* replaced by a later Ack */
		store_time(r->at_ns, at, sizeof(at));
		store_arg_str(&q, at);
		store_arg_str(&q, r->sub);
		store_arg_u64(&q, r->partition);
		store_arg_u64(&q, r->offset);
		return store_run(st, "UPDATE distribution_audit SET delivery_status = 'acked',"
				 " acked_at = $1 WHERE subscription_id = $2 AND log_partition = $3"
				 " AND log_offset <= $4 AND delivery_status = 'delivered'", q.n, q.v);
	}
	if (!isnan(r->delivery_ms))
		snprintf(ms, sizeof(ms), "%.3f", r->delivery_ms);
	store_time(r->at_ns, at, sizeof(at));
	store_arg_str(&q, r->id);
	store_arg_str(&q, r->event_id);
	store_arg_str(&q, r->topic);
	store_arg_str(&q, r->key);
	store_arg_str(&q, audit_status[r->status]);
	store_arg_str(&q, ms);
	store_arg_str(&q, at);
	store_arg_str(&q, r->sub);
	store_arg_u64(&q, r->partition);
	store_arg_u64(&q, r->offset);
	return store_run(st, "INSERT INTO distribution_audit (id, event_id, topic_name,"
			 " routing_key, delivery_status, delivery_time_ms, retry_count, created_at,"
			 " subscription_id, log_partition, log_offset) VALUES ($1, $2, $3, $4, $5,"
			 " $6, 0, $7, $8, $9, $10) ON CONFLICT (id) DO NOTHING", q.n, q.v);
}

/* ---- the spill file ----------------------------------------------------------------- */

/* Drops the part of the spill file the store has had (audit_file_compact). */
static void audit_compact(struct audit_trail *t)
{
	FILE *f = audit_file_compact(t->spill, t->spill_path, t->spill_done, t->spill_bytes);

	if (!f)
		return;	/* kept as it was */
	t->spill = f;
	t->spill_bytes -= t->spill_done;
	t->spill_done = 0;
}

/* Appends every held row to the spill file (made at first need); rows that would make
 * it pass --audit-spill-bytes are dropped and counted. The held rows are gone either
 * way. */
void audit_spill(struct admin *a)
{
	struct audit_trail *t = &a->audit;
	uint64_t dropped = 0;

	if (t->n && !t->spill && t->spill_max)
		t->spill = fopen(t->spill_path, "a+");
	/* A stream read last must be positioned before it is written (C11 7.21.5.3). */
	if (t->spill && fseeko(t->spill, 0, SEEK_END) != 0) {
		fclose(t->spill);
		t->spill = NULL;
	}
	for (uint32_t i = 0; i < t->n; i++) {
		const struct audit_row *r = audit_at(t, i);
		json_t *j;
		char *line = NULL;
		size_t len;

		if (r->ack && r->status == 0)
			continue;
		j = audit_row_to_json(r);
		line = j ? json_dumps(j, JSON_COMPACT) : NULL;
		json_decref(j);
		len = line ? strlen(line) + 1 : 0;
		if (t->spill && t->spill_bytes + len > t->spill_max &&
		    t->spill_done >= t->spill_max / 4)
			audit_compact(t);	/* the store has had a good part: make room */
		if (!t->spill || !line || t->spill_bytes + len > t->spill_max ||
		    fprintf(t->spill, "%s\n", line) < 0) {
			dropped++;
		} else {
			t->spill_bytes += len;
			t->rows_spilled++;
		}
		free(line);
	}
	if (t->spill && (fflush(t->spill) != 0 || fdatasync(fileno(t->spill)) != 0)) {
		struct stat sb;

		/* The disk refused: what it holds, in whole lines, is what replays. */
		admin_log(ADMIN_LOG_ERROR, "audit: writing %s: %s", t->spill_path, strerror(errno));
		clearerr(t->spill);
		if (fstat(fileno(t->spill), &sb) == 0)
			t->spill_bytes = audit_file_whole_lines(t->spill, (uint64_t)sb.st_size);
	}
	t->head = (t->head + t->n) % AUDIT_PENDING_MAX;
	t->n = 0;
	t->rows_dropped += dropped;
	if (dropped && !t->drop_logged) {
		t->drop_logged = true;
		admin_log(ADMIN_LOG_ERROR, "audit: the store is unavailable and %s is full "
			  "(--audit-spill-bytes %llu) or cannot be written: audit rows are being "
			  "dropped (fanout_audit_dropped_rows_total)", t->spill_path,
			  (unsigned long long)t->spill_max);
	}
}

static void audit_count_written(struct audit_trail *t, const struct audit_row *r)
{
	t->rows_written += !r->ack;
	t->acks_written += r->ack && r->status;
}

/* Writes rows in one transaction. A row the store refuses (STORE_ERR: a constraint, a
 * value out of range) must not block the trail for good: the batch is then written row
 * by row and the refused ones are counted and left out. Inserts are idempotent and acks
 * may be applied twice, so a batch cut short by an outage is simply written again. */
static int audit_commit(struct admin *a, const struct audit_row *const *rows, uint32_t n)
{
	struct store *st = &a->store;
	int rc = store_begin(st);

	for (uint32_t i = 0; rc == STORE_OK && i < n; i++)
		rc = audit_write_row(st, rows[i]);
	if (rc == STORE_OK && (rc = store_commit(st)) == STORE_OK)
		goto done;
	store_rollback(st);
	if (rc != STORE_ERR)
		return rc;
	a->audit.store_errors++;
	for (uint32_t i = 0; i < n; i++) {
		rc = audit_write_row(st, rows[i]);
		if (rc == STORE_OK) {
			audit_count_written(&a->audit, rows[i]);
		} else if (rc == STORE_ERR) {
			/* Logged once per batch (one written again after an outage may
			 * count a refusal twice). */
			if (a->audit.rows_rejected++ == a->audit.rejects_logged)
				admin_log(ADMIN_LOG_WARN, "audit: the store refused a row of event "
					  "'%s' (subscription %s): %s; rows like it are left out "
					  "(fanout_audit_rows_rejected_total)", rows[i]->event_id,
					  rows[i]->sub, st->err);
		} else {
			return rc;
		}
	}
	a->audit.rejects_logged = a->audit.rows_rejected;
	return STORE_OK;
done:
	for (uint32_t i = 0; i < n; i++)
		audit_count_written(&a->audit, rows[i]);
	return STORE_OK;
}

/* Writes up to AUDIT_FLUSH_ROWS spilled lines. Returns STORE_OK or the store's failure
 * (the spill stays where it was). */
static int audit_replay(struct admin *a)
{
	struct audit_trail *t = &a->audit;
	const struct audit_row *ptrs[AUDIT_FLUSH_ROWS];
	uint64_t at = t->spill_done;
	char *line = NULL;
	size_t cap = 0;
	uint32_t n = 0, bad = 0;
	int rc;

	if (fflush(t->spill) != 0 || fseeko(t->spill, (off_t)at, SEEK_SET) != 0)
		return STORE_ERR;
	while (n < AUDIT_FLUSH_ROWS && at < t->spill_bytes) {
		ssize_t len = getline(&line, &cap, t->spill);

		if (len < 0 && ferror(t->spill)) {	/* not the end: try again later */
			clearerr(t->spill);
			free(line);
			return STORE_ERR;
		}
		if (len <= 0 || line[len - 1] != '\n')
			break;	/* the end (audit_init cut a torn last line) */
		at += (uint64_t)len;
		if (audit_row_from_json(line, (size_t)len - 1, &t->batch[n]) < 0) {
			bad++;
			continue;
		}
		ptrs[n] = &t->batch[n];
		n++;
	}
	free(line);
	if (at == t->spill_done && n == 0)
		at = t->spill_bytes;	/* nothing readable is left */
	rc = audit_commit(a, ptrs, n);
	if (rc != STORE_OK)
		return rc;
	t->spill_done = at;
	t->unreadable += bad;
	if (t->spill_done >= t->spill_bytes) {	/* all in: start again empty */
		fclose(t->spill);
		t->spill = NULL;
		unlink(t->spill_path);
		t->spill_bytes = t->spill_done = 0;
		t->drop_logged = false;
	}
	return STORE_OK;
}

/* Writes up to AUDIT_FLUSH_ROWS held rows. */
static int audit_write(struct admin *a)
{
	struct audit_trail *t = &a->audit;
	const struct audit_row *ptrs[AUDIT_FLUSH_ROWS];
	uint32_t n = t->n < AUDIT_FLUSH_ROWS ? t->n : AUDIT_FLUSH_ROWS;
	int rc;

	for (uint32_t i = 0; i < n; i++)
		ptrs[i] = audit_at(t, i);
	rc = audit_commit(a, ptrs, n);
	if (rc != STORE_OK)
		return rc;
	t->head = (t->head + n) % AUDIT_PENDING_MAX;
	t->n -= n;
	return STORE_OK;
}

bool audit_flush(struct admin *a)
{
	struct audit_trail *t = &a->audit;
	int rc = STORE_OK;

	if (!t->rows)
		return false;
	for (int i = 0; i < 4 && rc == STORE_OK && a->store.up && t->spill; i++)
		rc = audit_replay(a);
	if (t->spill || !a->store.up) {	/* behind the spill, or no store: in order there */
		if (t->n)
			audit_spill(a);
	} else {
		for (int i = 0; i < 4 && rc == STORE_OK && t->n; i++)
			rc = audit_write(a);
	}
	return t->n > 0 || (t->spill && a->store.up && rc == STORE_OK);
}

void audit_drain(struct admin *a)
{
	struct audit_trail *t = &a->audit;

	/* Exactly what is queued now, without the store (quick: a topic waits): every record
	 * becomes a row, its names copied; rows past the memory go to the spill file. */
	for (uint32_t r = 0; t->rows && r < a->eng->n; r++) {
		uint32_t n = ck_ring_size(&a->eng->audit[r].ring);
		struct audit_rec rec;

		while (n-- > 0 && audit_queue_pop(&a->eng->audit[r], &rec)) {
			if (t->n == AUDIT_PENDING_MAX)
				audit_spill(a);
			t->records++;
			audit_add(a, &rec);
		}
	}
	t->last_topic = NULL;	/* a topic may be freed next, and another made there */
}

int audit_rows_json(struct store *st, const char *event_id, uint32_t limit, json_t **out)
{
	struct store_args q = { 0 };
	struct store_result res;
	json_t *arr;
	int rc;

	*out = NULL;
	store_arg_str(&q, event_id);
	store_arg_u64(&q, limit);
	rc = store_exec(st, "SELECT id, event_id, topic_name, routing_key, delivery_status,"
			" delivery_time_ms, retry_count, @ts(created_at), subscription_id,"
			" log_partition, log_offset, @ts(acked_at) FROM distribution_audit"
			" WHERE event_id = $1 ORDER BY created_at, subscription_id LIMIT $2",
			q.n, q.v, &res);
	if (rc != STORE_OK) {
		store_result_free(&res);
		return rc;
	}
	arr = json_array();
	for (uint32_t i = 0; arr && i < res.nrows; i++) {
		const char *ms = store_cell(&res, i, 5), *acked = store_cell(&res, i, 11);
		const char *part = store_cell(&res, i, 9), *off = store_cell(&res, i, 10);
		json_t *row = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:I, s:s, s:s?, s:o, s:o,"
					" s:o}",
					"id", store_cell(&res, i, 0), "event_id", store_cell(&res, i, 1),
					"topic_name", store_cell(&res, i, 2),
					"routing_key", store_cell(&res, i, 3),
					"delivery_status", store_cell(&res, i, 4),
					"delivery_time_ms", ms ? json_real(strtod(ms, NULL)) : json_null(),
					"retry_count", (json_int_t)strtoll(store_cell(&res, i, 6), NULL, 10),
					"created_at", store_cell(&res, i, 7),
					"subscription_id", store_cell(&res, i, 8),
					"partition", part ? json_integer(strtoll(part, NULL, 10)) : json_null(),
					"offset", off ? json_integer(strtoll(off, NULL, 10)) : json_null(),
					"acked_at", acked ? json_string(acked) : json_null());

		if (!row || json_array_append_new(arr, row) < 0) {
			json_decref(arr);
			arr = NULL;
		}
	}
	store_result_free(&res);
	*out = arr;
	return arr ? STORE_OK : STORE_ERR;
}
