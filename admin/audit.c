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
#include "admin/live.h"
#include "admin/log.h"
#include "core/frame.h"
#include "fanout.pb-c.h"
#include "net/audit.h"

#define AUDIT_ACK_LOOKBACK 256u	/* rows an Ack looks back for an older one to replace */

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
	if (!t->rows)
		return -ENOMEM;
	/* Rows spilled before a stop (or a crash) are the store's first work. */
	if (stat(t->spill_path, &sb) == 0 && sb.st_size > 0) {
		t->spill = fopen(t->spill_path, "a+");
		if (!t->spill)
			return -errno;
		t->spill_bytes = (uint64_t)sb.st_size;
	}
	return 0;
}

void audit_free(struct audit_trail *t)
{
	if (t->spill)
		fclose(t->spill);
	free(t->rows);
	memset(t, 0, sizeof(*t));
}

static struct audit_row *audit_at(struct audit_trail *t, uint32_t i)
{
	return &t->rows[(t->head + i) % AUDIT_PENDING_MAX];
}

/* The event's id and routing key, from its frame in the log. Returns 0 or -1. */
static int audit_event(const struct audit_rec *rec, struct audit_row *row, uint64_t *recv_ns)
{
	const struct log *log = rec->topic->part[rec->partition].log;
	Fanout__V1__ServerMessage *m;
	struct frame_view fv;
	struct log_ref ref;
	int rc = -1;

	if (!log || log_read(log, rec->offset, &ref) < 0 ||
	    frame_parse(ref.frame, ref.len, UINT32_MAX >> 1, &fv) <= 0)
		return -1;
	m = fanout__v1__server_message__unpack(NULL, fv.len, fv.body);
	if (m && m->body_case == FANOUT__V1__SERVER_MESSAGE__BODY_EVENT) {
		const Fanout__V1__Event *e = m->event;

		snprintf(row->event_id, sizeof(row->event_id), "%s", e->event_id);
		snprintf(row->key, sizeof(row->key), "%s",
			 e->distribution ? e->distribution->routing_key : "");
		*recv_ns = ref.entry->recv_ns;
		rc = 0;
	}
	if (m)
		fanout__v1__server_message__free_unpacked(m, NULL);
	return rc;
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
	if (audit_event(rec, row, &recv_ns) < 0) {
		t->unreadable++;	/* gone from the log already: nothing to name it by */
		return;
	}
	snprintf(row->topic, sizeof(row->topic), "%s", rec->topic->name);
	store_uuid(row->id);
	if (rec->kind == AUDIT_DELIVERED)
		row->delivery_ms = (double)(rec->at_ns - (int64_t)recv_ns) / 1e6;
	t->n++;
}

uint32_t audit_collect(struct admin *a)
{
	struct audit_trail *t = &a->audit;
	uint32_t got = 0;

	for (uint32_t r = 0; t->rows && r < a->eng->n; r++) {
		struct audit_rec rec;

		while (t->n < AUDIT_PENDING_MAX && audit_queue_pop(&a->eng->audit[r], &rec)) {
			t->records++;
			got++;
			audit_add(a, &rec);
		}
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

static json_t *audit_row_to_spill(const struct audit_row *r)
{
	if (r->ack)
		return json_pack("{s:b, s:s, s:i, s:I, s:I}", "ack", 1, "sub", r->sub,
				 "partition", (int)r->partition, "offset", (json_int_t)r->offset,
				 "at_ns", (json_int_t)r->at_ns);
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:I, s:I, s:i, s:f}", "id", r->id,
			 "event_id", r->event_id, "topic", r->topic, "key", r->key, "sub", r->sub,
			 "partition", (int)r->partition, "offset", (json_int_t)r->offset,
			 "at_ns", (json_int_t)r->at_ns, "status", (int)r->status,
			 "delivery_ms", isnan(r->delivery_ms) ? -1.0 : r->delivery_ms);
}

static void audit_copy(char *dst, size_t cap, const json_t *j, const char *key)
{
	const char *s = json_string_value(json_object_get(j, key));

	snprintf(dst, cap, "%s", s ? s : "");
}

/* A spilled line back into a row. Returns 0 or -1 (not one of ours). */
static int audit_row_from_spill(const char *line, size_t len, struct audit_row *r)
{
	json_t *j = json_loadb(line, len, 0, NULL);
	int rc = -1;

	memset(r, 0, sizeof(*r));
	if (!json_is_object(j))
		goto out;
	r->ack = json_is_true(json_object_get(j, "ack"));
	audit_copy(r->sub, sizeof(r->sub), j, "sub");
	r->partition = (uint32_t)json_integer_value(json_object_get(j, "partition"));
	r->offset = (uint64_t)json_integer_value(json_object_get(j, "offset"));
	r->at_ns = json_integer_value(json_object_get(j, "at_ns"));
	if (r->ack) {
		r->status = AUDIT_ACKED;
		rc = r->sub[0] ? 0 : -1;
		goto out;
	}
	audit_copy(r->id, sizeof(r->id), j, "id");
	audit_copy(r->event_id, sizeof(r->event_id), j, "event_id");
	audit_copy(r->topic, sizeof(r->topic), j, "topic");
	audit_copy(r->key, sizeof(r->key), j, "key");
	r->status = (uint8_t)json_integer_value(json_object_get(j, "status"));
	r->delivery_ms = json_number_value(json_object_get(j, "delivery_ms"));
	if (r->delivery_ms < 0)
		r->delivery_ms = NAN;
	if (r->id[0] && r->event_id[0] && r->topic[0] && r->key[0] && r->sub[0] &&
	    (r->status == AUDIT_DELIVERED || r->status == AUDIT_FAILED))
		rc = 0;
out:
	json_decref(j);
	return rc;
}

/* Appends every held row to the spill file (made at first need); rows past
 * --audit-spill-bytes are dropped and counted. The held rows are gone either way. */
void audit_spill(struct admin *a)
{
	struct audit_trail *t = &a->audit;
	uint64_t dropped = 0;

	if (t->n && !t->spill && t->spill_max)
		t->spill = fopen(t->spill_path, "a+");
	for (uint32_t i = 0; i < t->n; i++) {
		const struct audit_row *r = audit_at(t, i);
		json_t *j;
		char *line = NULL;
		size_t len;

		if (r->ack && r->status == 0)
			continue;
		j = audit_row_to_spill(r);
		line = j ? json_dumps(j, JSON_COMPACT) : NULL;
		json_decref(j);
		len = line ? strlen(line) + 1 : 0;
		if (!t->spill || !line || t->spill_bytes + len > t->spill_max ||
		    fprintf(t->spill, "%s\n", line) < 0) {
			dropped++;
		} else {
			t->spill_bytes += len;
			t->rows_spilled++;
		}
		free(line);
	}
	if (t->spill && (fflush(t->spill) != 0 || fdatasync(fileno(t->spill)) != 0))
		admin_log(ADMIN_LOG_WARN, "audit: writing %s: %s", t->spill_path, strerror(errno));
	t->head = (t->head + t->n) % AUDIT_PENDING_MAX;
	t->n = 0;
	t->rows_dropped += dropped;
	if (dropped && !t->drop_logged) {
		t->drop_logged = true;
		admin_log(ADMIN_LOG_ERROR, "audit: the store is unavailable and %s is full "
			  "(--audit-spill-bytes %llu): audit rows are being dropped "
			  "(fanout_audit_dropped_rows_total)", t->spill_path,
			  (unsigned long long)t->spill_max);
	}
}

/* Writes up to AUDIT_FLUSH_ROWS spilled lines in one transaction. Returns STORE_OK or
 * the store's failure (the spill stays where it was). */
static int audit_replay(struct admin *a)
{
	struct audit_trail *t = &a->audit;
	struct store *st = &a->store;
	uint64_t at = t->spill_done;
	char *line = NULL;
	size_t cap = 0;
	uint32_t n = 0, rows = 0, acks = 0;
	int rc;

	if (fflush(t->spill) != 0 || fseeko(t->spill, (off_t)at, SEEK_SET) != 0)
		return STORE_ERR;
	rc = store_begin(st);
	while (rc == STORE_OK && n < AUDIT_FLUSH_ROWS) {
		ssize_t len = getline(&line, &cap, t->spill);
		struct audit_row r;

		if (len <= 0)
			break;
		at += (uint64_t)len;
		n++;
		if (line[len - 1] != '\n') {	/* a line cut short by a crash: past it */
			at -= (uint64_t)len;
			break;
		}
		if (audit_row_from_spill(line, (size_t)len - 1, &r) < 0) {
			t->unreadable++;
			continue;
		}
		rc = audit_write_row(st, &r);
		rows += !r.ack;
		acks += r.ack;
	}
	free(line);
	if (rc == STORE_OK)
		rc = store_commit(st);
	if (rc != STORE_OK) {
		store_rollback(st);
		return rc;
	}
	t->spill_done = at;
	t->rows_written += rows;
	t->acks_written += acks;
	if (t->spill_done >= t->spill_bytes || n == 0) {	/* all in: start again empty */
		fclose(t->spill);
		t->spill = NULL;
		unlink(t->spill_path);
		t->spill_bytes = t->spill_done = 0;
		t->drop_logged = false;
	}
	return STORE_OK;
}

/* Writes up to AUDIT_FLUSH_ROWS held rows in one transaction. */
static int audit_write(struct admin *a)
{
	struct audit_trail *t = &a->audit;
	uint32_t n = t->n < AUDIT_FLUSH_ROWS ? t->n : AUDIT_FLUSH_ROWS, rows = 0, acks = 0;
	int rc = store_begin(&a->store);

	for (uint32_t i = 0; rc == STORE_OK && i < n; i++) {
		const struct audit_row *r = audit_at(t, i);

		rc = audit_write_row(&a->store, r);
		rows += !r->ack;
		acks += r->ack && r->status;
	}
	if (rc == STORE_OK)
		rc = store_commit(&a->store);
	if (rc != STORE_OK) {
		store_rollback(&a->store);
		return rc;
	}
	t->head = (t->head + n) % AUDIT_PENDING_MAX;
	t->n -= n;
	t->rows_written += rows;
	t->acks_written += acks;
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
	if (rc != STORE_OK && rc != STORE_UNAVAILABLE)
		t->store_errors++;
	return t->n > 0 || (t->spill && a->store.up && rc == STORE_OK);
}

static bool audit_queued(const struct admin *a);

void audit_drain(struct admin *a)
{
	struct audit_trail *t = &a->audit;

	/* Bounded: the reactors may still be queueing (a drop's last sends). */
	for (int i = 0; t->rows && i < 64; i++) {
		audit_collect(a);
		if (!audit_queued(a))
			break;	/* every record is a row now (names copied) */
		audit_flush(a);
		if (t->n == AUDIT_PENDING_MAX)	/* the store took none: in order, to the spill */
			audit_spill(a);
	}
}

static bool audit_queued(const struct admin *a)
{
	for (uint32_t r = 0; r < a->eng->n; r++)
		if (ck_ring_size(&a->eng->audit[r].ring))
			return true;
	return false;
}

bool audit_idle(struct admin *a)
{
	return a->audit.n == 0 && !a->audit.spill && !audit_queued(a);
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
