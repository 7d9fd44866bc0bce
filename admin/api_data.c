/* admin/api_data.c — the seeds' data API (api_data.h): market data latest and history
 * (raw events or OHLCV bars), decisions by instrument, an order's execution status, a
 * fill, and a portfolio's execution report. Every answer is found through the data index
 * (admin/dataidx.h) and costs what it returns: the key's postings in the window, the
 * frames they name, decoded once here; bars from their 1-minute buckets (memory, then
 * the store's market_bars for what memory no longer holds). */
#include "admin/api_data.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admin.h"
#include "admin/bars.h"
#include "admin/event_json.h"
#include "admin/router.h"
#include "core/clock.h"
#include "fanout.pb-c.h"

#define DATA_LIMIT_DEFAULT   1000u
#define DATA_LIMIT_MAX       10000u
#define DATA_DECISIONS_DEFAULT 100u
#define DATA_STORE_BARS_MAX  200000u	/* minute rows one history answer reads */
#define DATA_FILL_IDS_MAX    100u	/* fill ids listed in an order's status */
#define DATA_LATEST_TRIES    64u	/* postings of deleted topics skipped for "latest" */

/* One event a posting names, decoded (malloc; free with data_event_free). */
struct data_event {
	Fanout__V1__ServerMessage *m;
	const Fanout__V1__Event *e;
	struct topic *tp;
	uint32_t partition;
	uint64_t offset;
};

static int data_event_load(struct admin *a, uint64_t ref, struct data_event *out)
{
	struct log_ref lr;

	memset(out, 0, sizeof(*out));
	if (dataidx_read(&a->data, ref, &lr, &out->tp, &out->partition) < 0)
		return -ENOENT;
	out->m = event_frame_unpack(lr.frame, lr.len);
	if (!out->m)
		return -EBADMSG;
	out->e = out->m->event;
	out->offset = ref & ((1ull << DIDX_LOG_OFFSET_BITS) - 1);
	return 0;
}

static void data_event_free(struct data_event *ev)
{
	if (ev->m)
		fanout__v1__server_message__free_unpacked(ev->m, NULL);
	ev->m = NULL;
}

static json_t *data_time(int64_t ns)
{
	char buf[48];

	time_format(ns, buf, sizeof(buf));
	return json_string(buf);
}

/* The payload object of ev (market_data, coordination_decision or execution) with where
 * the event is and when: event_id, timestamp (RFC 3339, the event's time), timestamp_ns,
 * receive_time_ns, source, topic, partition, offset. */
static json_t *data_item(const struct data_event *ev, const char *payload)
{
	json_t *j = event_to_json(ev->e), *p;
	const Fanout__V1__Metadata *md = ev->e->metadata;

	if (!j)
		return NULL;
	p = json_object_get(j, payload);
	p = p ? json_incref(p) : json_object();
	json_decref(j);
	json_object_set_new(p, "event_id", json_string(ev->e->event_id));
	json_object_set_new(p, "timestamp", data_time(ev->e->timestamp_ns));
	json_object_set_new(p, "timestamp_ns", json_integer(ev->e->timestamp_ns));
	json_object_set_new(p, "receive_time_ns", json_integer(ev->e->receive_time_ns));
	json_object_set_new(p, "source", json_string(md && md->source_service ?
						       md->source_service : ""));
	json_object_set_new(p, "topic", json_string(ev->tp->name));
	json_object_set_new(p, "partition", json_integer(ev->partition));
	json_object_set_new(p, "offset", json_integer((json_int_t)ev->offset));
	return p;
}

/* Common to every data endpoint: the index is on and up to date. */
static int data_ready(struct admin_req *r, struct admin_reply *rep)
{
	if (!r->a->data.on) {
		admin_error(rep, 503, "DATA_INDEX_OFF", NULL, "the data API is off "
			    "(fanoutd --data-index-bytes 0)");
		return -1;
	}
	admin_data_catch_up(r->a);
	return 0;
}

static struct didx_key *data_key(struct admin_req *r, struct admin_reply *rep,
				 enum didx_kind kind, const char *name, const char *what)
{
	struct didx_key *k = dataidx_find(&r->a->data, kind, name, strlen(name));

	if (!k)
		admin_error(rep, 404, "NOT_FOUND", NULL, "no %s '%.128s' in the data index", what,
			    name);
	return k;
}

/* ---- market data ----------------------------------------------------------------- */

json_t *data_latest_json(struct admin *a, const struct didx_key *k)
{
	for (uint32_t i = 0; i < k->n && i < DATA_LATEST_TRIES; i++) {
		struct data_event ev;
		json_t *item;

		if (data_event_load(a, k->v[k->first + k->n - 1 - i].ref, &ev) < 0)
			continue;	/* its topic was deleted */
		item = data_item(&ev, "market_data");
		data_event_free(&ev);
		if (!item)
			return NULL;
		return json_pack("{s:s, s:o, s:O, s:O}", "symbol", k->name, "data", item,
				 "timestamp", json_object_get(item, "timestamp"), "source",
				 json_object_get(item, "source"));
	}
	return NULL;
}

int api_md_latest(struct admin_req *r, struct admin_reply *rep)
{
	const char *sym = r->path.seg[3];
	struct didx_key *k;
	json_t *j;

	if (data_ready(r, rep) < 0 || !(k = data_key(r, rep, DIDX_SYMBOL, sym, "symbol")))
		return 0;
	j = data_latest_json(r->a, k);
	if (j)
		return admin_ok(rep, 200, j);
	return admin_error(rep, 404, "NOT_FOUND", NULL, "no event of symbol '%.128s' is still "
			   "in the log", sym);
}

/* The window: [start_time, end_time) in event time. */
static int data_window(struct admin_req *r, struct admin_reply *rep, const char *from,
		       const char *to, int64_t *start, int64_t *end)
{
	if (admin_query_time(r, from, INT64_MIN, start, rep) < 0 ||
	    admin_query_time(r, to, INT64_MAX, end, rep) < 0)
		return -1;
	if (*start > *end) {
		admin_error(rep, 400, "BAD_PARAMETER", to, "%s is before %s", to, from);
		return -1;
	}
	return 0;
}

/* Raw events of k in [start, end), from the cursor "T:K" (the K-th event at time T). */
static int md_history_raw(struct admin_req *r, struct admin_reply *rep, const char *sym,
			  const struct didx_key *k, int64_t start, int64_t end, uint32_t limit)
{
	char cur[64], next[64];
	int64_t t = start;
	uint32_t skip = 0, pos, hi, count = 0;
	json_t *arr = json_array();
	int rc = admin_query(r, "cursor", cur, sizeof(cur), rep);

	if (rc < 0) {
		json_decref(arr);
		return 0;
	}
	if (rc == 1) {
		long long ct;
		unsigned long cs;
		int n = 0;

		if (sscanf(cur, "%lld:%lu%n", &ct, &cs, &n) != 2 || cur[n] || cs > UINT32_MAX) {
			json_decref(arr);
			return admin_error(rep, 400, "BAD_PARAMETER", "cursor", "cursor is not one "
					   "this API gave (next_cursor)");
		}
		if (ct > t)
			t = ct;
		skip = ct >= start ? (uint32_t)cs : 0;
	}
	pos = dataidx_lower(k, t);
	pos = skip > k->n - pos ? k->n : pos + skip;
	hi = end == INT64_MAX ? k->n : dataidx_lower(k, end);
	for (; pos < hi && count < limit; pos++) {
		struct data_event ev;

		if (data_event_load(r->a, k->v[k->first + pos].ref, &ev) < 0)
			continue;
		json_array_append_new(arr, data_item(&ev, "market_data"));
		data_event_free(&ev);
		count++;
	}
	next[0] = '\0';
	if (pos < hi) {
		int64_t nt = k->v[k->first + pos].t_ns;

		snprintf(next, sizeof(next), "%lld:%u", (long long)nt, pos - dataidx_lower(k, nt));
	}
	return admin_ok(rep, 200, json_pack("{s:s, s:s, s:o, s:i, s:b, s:o, s:o}", "symbol", sym,
					    "interval", "raw", "data", arr, "count", (int)count,
					    "has_more", pos < hi, "next_cursor",
					    next[0] ? json_string(next) : json_null(),
					    "oldest_indexed", k->n ? data_time(k->v[k->first].t_ns)
								   : json_null()));
}

/* The bars answer, written straight into one buffer: a day of 1-minute bars is 1,440
 * objects, which as a jansson tree cost several times the formatting (allocations, the
 * tree, the dump). Doubles as jansson writes them ("%.17g", a ".0" added to integers);
 * nothing here needs escaping but the symbol, which goes through jansson. */
static char *bars_render(const char *sym, const char *ivs, const struct bar *v, uint32_t n,
			 bool more, const char *cursor, const char *source, size_t *len)
{
	json_t *js = json_string(sym);
	char *esc = js ? json_dumps(js, JSON_ENCODE_ANY) : NULL;
	size_t cap = 256 + (esc ? strlen(esc) : 0) + (size_t)n * 384, at = 0;
	char *out = esc ? malloc(cap) : NULL;

	json_decref(js);
	if (!out) {
		free(esc);
		return NULL;
	}
	/* Once full, PUT writes nothing more (cap - at never wraps) and the answer is
	 * refused below; the sizes above make that unreachable. */
#define PUT(...) (at < cap ? (at += (size_t)snprintf(out + at, cap - at, __VA_ARGS__)) : at)
	PUT("{\"symbol\":%s,\"interval\":\"%s\",\"data\":[", esc, ivs);
	for (uint32_t i = 0; i < n; i++) {
		const struct bar *b = &v[i];
		const double d[6] = { b->open, b->high, b->low, b->close, b->volume,
				      b->volume > 0 ? b->notional / b->volume : 0 };
		static const char *const name[6] = { "open", "high", "low", "close", "volume",
						      "vwap" };
		char t[48];

		time_format(b->start_ns, t, sizeof(t));
		PUT("%s{\"start\":\"%s\",\"start_ns\":%lld", i ? "," : "", t,
		    (long long)b->start_ns);
		for (int k = 0; k < 6; k++) {
			char num[40];

			if ((k == 5 && b->volume <= 0) || !isfinite(d[k])) {
				PUT(",\"%s\":null", name[k]);	/* JSON has no NaN */
				if (k == 4)
					PUT(",\"trades\":%llu", (unsigned long long)b->trades);
				continue;
			}
			snprintf(num, sizeof(num), "%.17g", d[k]);
			if (strspn(num, "-0123456789") == strlen(num))
				strcat(num, ".0");	/* a real stays a real */
			PUT(",\"%s\":%s", name[k], num);
			if (k == 4)
				PUT(",\"trades\":%llu", (unsigned long long)b->trades);
		}
		PUT("}");
	}
	PUT("],\"count\":%u,\"has_more\":%s,\"next_cursor\":", n, more ? "true" : "false");
	if (more)
		PUT("\"%s\"", cursor);
	else
		PUT("null");
	PUT(",\"source\":\"%s\"}", source);
#undef PUT
	free(esc);
	if (at >= cap) {	/* cannot happen with the sizes above: refuse rather than cut */
		free(out);
		return NULL;
	}
	*len = at;
	return out;
}

/* OHLCV bars of interval iv over the 1-minute buckets in [start, end): the store's for
 * minutes before memory's first, then memory's. The cursor is the next bar's start. */
static int md_history_bars(struct admin_req *r, struct admin_reply *rep, const char *sym,
			   const struct didx_key *k, const char *ivs, int64_t iv, int64_t start,
			   int64_t end, uint32_t limit)
{
	struct admin *a = r->a;
	const struct bar_series *s = k ? &k->bars : NULL;
	int64_t mem_first = s && s->n ? s->v[0].start_ns : INT64_MAX;
	struct bar *mins = NULL, *stored = NULL, *out = NULL;
	uint32_t nstored = 0, nmins = 0, from, to, used, nout;
	bool from_store = false, more = false;
	char cur[32];
	int rc = admin_query(r, "cursor", cur, sizeof(cur), rep);

	if (rc < 0)
		return 0;
	if (rc == 1) {
		int64_t c;

		if (time_parse(cur, &c) < 0)
			return admin_error(rep, 400, "BAD_PARAMETER", "cursor", "cursor is not one "
					   "this API gave (next_cursor)");
		if (c > start)
			start = c;
	}
	if (start < mem_first && end > start) {
		rc = store_bars_range(&a->store, sym, start, end < mem_first ? end : mem_first,
				      DATA_STORE_BARS_MAX, &stored, &nstored);
		if (rc != STORE_OK && !k)
			return admin_store_error(rep, a, rc, "reading bars");
		if (nstored == DATA_STORE_BARS_MAX) {
			/* The bound cut the window: end it at the last whole bar. */
			end = bar_bucket(stored[nstored - 1].start_ns, iv);
			while (nstored && stored[nstored - 1].start_ns >= end)
				nstored--;
			more = true;
		}
	}
	if (!k && nstored == 0) {
		free(stored);
		return admin_error(rep, 404, "NOT_FOUND", NULL, "no symbol '%.128s' in the data "
				   "index or the stored bars", sym);
	}
	from = s ? bar_series_find(s, start) : 0;
	to = s ? (end == INT64_MAX ? s->n : bar_series_find(s, end)) : 0;
	mins = malloc(((size_t)nstored + (to > from ? to - from : 0) + 1) * sizeof(*mins));
	out = malloc((size_t)limit * sizeof(*out));
	if (!mins || !out) {
		free(stored);
		free(mins);
		free(out);
		return admin_error(rep, 500, "INTERNAL", NULL, "out of memory");
	}
	if (nstored) {
		memcpy(mins, stored, nstored * sizeof(*mins));
		from_store = true;
	}
	nmins = nstored;
	for (uint32_t i = from; i < to; i++)
		mins[nmins++] = s->v[i];
	free(stored);
	nout = bar_rollup(mins, nmins, iv, out, limit, &used);
	if (used < nmins)
		more = true;
	cur[0] = '\0';
	if (more)
		snprintf(cur, sizeof(cur), "%lld", (long long)(used < nmins ?
			 bar_bucket(mins[used].start_ns, iv) : end));
	rep->text = bars_render(sym, ivs, out, nout, more, cur, !from_store ? "log" :
				nmins > nstored ? "log+store" : "store", &rep->text_len);
	free(mins);
	free(out);
	if (!rep->text)
		return admin_error(rep, 500, "INTERNAL", NULL, "out of memory");
	rep->text_json = true;
	rep->status = 200;
	return 0;
}

int api_md_history(struct admin_req *r, struct admin_reply *rep)
{
	const char *sym = r->path.seg[3];
	char ivs[8];
	int64_t start, end, iv = 0;
	uint32_t limit;
	struct didx_key *k;
	int rc;

	if (data_ready(r, rep) < 0 ||
	    data_window(r, rep, "start_time", "end_time", &start, &end) < 0 ||
	    admin_query_u32(r, "limit", 1, DATA_LIMIT_MAX, DATA_LIMIT_DEFAULT, &limit, rep) < 0)
		return 0;
	rc = admin_query(r, "interval", ivs, sizeof(ivs), rep);
	if (rc < 0)
		return 0;
	if (rc == 1 && bar_interval_parse(ivs, &iv) < 0)
		return admin_error(rep, 400, "BAD_PARAMETER", "interval", "interval must be 1m, "
				   "5m, 1h or 1d (none: the raw events)");
	k = dataidx_find(&r->a->data, DIDX_SYMBOL, sym, strlen(sym));
	if (iv)
		return md_history_bars(r, rep, sym, k, ivs, iv, start, end, limit);
	if (!k)
		return admin_error(rep, 404, "NOT_FOUND", NULL, "no symbol '%.128s' in the data "
				   "index", sym);
	return md_history_raw(r, rep, sym, k, start, end, limit);
}

/* ---- decisions --------------------------------------------------------------------- */

int api_decisions(struct admin_req *r, struct admin_reply *rep)
{
	const char *sym = r->path.seg[4];
	int64_t since;
	uint32_t limit, lo, count = 0;
	struct didx_key *k;
	json_t *arr;

	if (data_ready(r, rep) < 0 ||
	    admin_query_u32(r, "limit", 1, DATA_LIMIT_MAX, DATA_DECISIONS_DEFAULT, &limit,
			    rep) < 0 ||
	    admin_query_time(r, "since", INT64_MIN, &since, rep) < 0 ||
	    !(k = data_key(r, rep, DIDX_INSTRUMENT, sym, "instrument")))
		return 0;
	arr = json_array();
	lo = dataidx_lower(k, since);
	for (uint32_t i = k->n; i > lo && count < limit; i--) {	/* newest first */
		struct data_event ev;

		if (data_event_load(r->a, k->v[k->first + i - 1].ref, &ev) < 0)
			continue;
		json_array_append_new(arr, data_item(&ev, "coordination_decision"));
		data_event_free(&ev);
		count++;
	}
	return admin_ok(rep, 200, json_pack("{s:s, s:o, s:i, s:o}", "symbol", sym, "decisions",
					    arr, "count", (int)count, "timestamp",
					    data_time(clock_realtime_ns())));
}

/* ---- executions -------------------------------------------------------------------- */

/* A fill seen in an order's or portfolio's events, copied out of its event (which is
 * freed at once: an answer holds one decoded event at a time): counted once per fill_id. */
struct data_fill {
	char *id, *venue;
	double qty, price, commission;
	uint32_t seq;			/* arrival order among the answer's events */
	json_t *item;			/* its execution item, when the caller wants them */
};

/* The fills found so far (grown by doubling; at most the key's postings). */
struct data_fills {
	struct data_fill *v;
	uint32_t n, cap;
	bool failed;			/* out of memory: the answer is a 500 */
};

static void data_fills_add(struct data_fills *f, const Fanout__V1__ExecutionData *x,
			   uint32_t seq, json_t *item)
{
	struct data_fill *d;

	if (f->n == f->cap) {
		uint32_t cap = f->cap ? f->cap * 2 : 16;
		struct data_fill *v = realloc(f->v, cap * sizeof(*v));

		if (!v) {
			f->failed = true;
			json_decref(item);
			return;
		}
		f->v = v;
		f->cap = cap;
	}
	d = &f->v[f->n];
	*d = (struct data_fill){ strdup(x->fill_id), strdup(x->venue ? x->venue : ""),
				 x->quantity, x->price, x->commission, seq, item };
	if (!d->id || !d->venue) {
		free(d->id);
		free(d->venue);
		json_decref(item);
		f->failed = true;
		return;
	}
	f->n++;
}

static void data_fills_free(struct data_fills *f)
{
	for (uint32_t i = 0; i < f->n; i++) {
		free(f->v[i].id);
		free(f->v[i].venue);
		json_decref(f->v[i].item);
	}
	free(f->v);
	memset(f, 0, sizeof(*f));
}

static int data_fill_cmp(const void *x, const void *y)
{
	const struct data_fill *a = x, *b = y;
	int c = strcmp(a->id, b->id);

	if (c == 0)	/* equal ids: the first to arrive first */
		c = a->seq < b->seq ? -1 : a->seq > b->seq;
	return c;
}

/* Sorts the fills by id and drops repeats (a publisher's retry), keeping the first to
 * arrive; then back in arrival order. */
static void data_fills_unique(struct data_fills *f)
{
	uint32_t k = 0;

	qsort(f->v, f->n, sizeof(f->v[0]), data_fill_cmp);
	for (uint32_t i = 0; i < f->n; i++) {
		if (k == 0 || strcmp(f->v[k - 1].id, f->v[i].id) != 0) {
			f->v[k++] = f->v[i];
			continue;
		}
		free(f->v[i].id);
		free(f->v[i].venue);
		json_decref(f->v[i].item);
	}
	f->n = k;
}

static const char *data_exec_type(int t)
{
	const ProtobufCEnumValue *v =
		protobuf_c_enum_descriptor_get_value(&fanout__v1__execution_data_type__descriptor,
						     t);

	return v ? v->name : "EXECUTION_DATA_TYPE_UNSPECIFIED";
}

/* What an order's newest event says, copied out of it. */
struct data_order_last {
	char venue[DIDX_NAME_MAX + 1], instrument[DIDX_NAME_MAX + 1];
	char event_id[DIDX_NAME_MAX + 1];
	int type;
	int64_t first_ns, last_ns;
};

static void data_copy(char *dst, size_t cap, const char *s)
{
	snprintf(dst, cap, "%s", s ? s : "");
}

json_t *data_status_json(struct admin *a, const struct didx_key *k, json_t **fills_out)
{
	struct data_fills f = { 0 };
	struct data_order_last last = { 0 };
	uint32_t nev = 0;
	double qty = 0, notional = 0, commission = 0;
	json_t *ids, *j = NULL;

	if (fills_out)
		*fills_out = NULL;
	for (uint32_t i = 0; i < k->n && !f.failed; i++) {	/* oldest first */
		struct data_event ev;
		const Fanout__V1__ExecutionData *x;

		if (data_event_load(a, k->v[k->first + i].ref, &ev) < 0)
			continue;
		x = ev.e->execution;
		if (x) {
			if (!nev)
				last.first_ns = ev.e->timestamp_ns;
			last.last_ns = ev.e->timestamp_ns;
			last.type = x->execution_data_type;
			data_copy(last.event_id, sizeof(last.event_id), ev.e->event_id);
			if (x->venue && *x->venue)
				data_copy(last.venue, sizeof(last.venue), x->venue);
			if (x->instrument_id && *x->instrument_id)
				data_copy(last.instrument, sizeof(last.instrument),
					  x->instrument_id);
			if (x->fill_id && *x->fill_id)
				data_fills_add(&f, x, nev, fills_out ? data_item(&ev, "execution")
								     : NULL);
			nev++;
		}
		data_event_free(&ev);
	}
	if (!nev || f.failed)
		goto out;
	data_fills_unique(&f);
	ids = json_array();
	if (fills_out)
		*fills_out = json_array();
	for (uint32_t i = 0; i < f.n; i++) {
		qty += f.v[i].qty;
		notional += f.v[i].qty * f.v[i].price;
		commission += f.v[i].commission;
		if (i < DATA_FILL_IDS_MAX)
			json_array_append_new(ids, json_string(f.v[i].id));
		if (fills_out && f.v[i].item) {
			json_array_append_new(*fills_out, f.v[i].item);
			f.v[i].item = NULL;
		}
	}
	j = json_pack("{s:s, s:s, s:s, s:s, s:f, s:o, s:f, s:i, s:o, s:i, s:o, s:o, s:s}",
		      "order_id", k->name, "instrument_id", last.instrument, "venue", last.venue,
		      "status", data_exec_type(last.type), "filled_quantity", qty,
		      "average_price", qty > 0 ? json_real(notional / qty) : json_null(),
		      "commission", commission, "fills", (int)f.n, "fill_ids", ids,
		      "events", (int)nev, "first_update", data_time(last.first_ns),
		      "last_update", data_time(last.last_ns), "last_event_id", last.event_id);
out:
	data_fills_free(&f);
	return j;
}

int api_exec_status(struct admin_req *r, struct admin_reply *rep)
{
	const char *order = r->path.seg[3];
	struct didx_key *k;
	json_t *j;

	if (data_ready(r, rep) < 0 || !(k = data_key(r, rep, DIDX_ORDER, order, "order")))
		return 0;
	j = data_status_json(r->a, k, NULL);
	if (j)
		return admin_ok(rep, 200, j);
	return admin_error(rep, 404, "NOT_FOUND", NULL, "no event of order '%.128s' is still in "
			   "the log", order);
}

int api_exec_fill(struct admin_req *r, struct admin_reply *rep)
{
	const char *fill = r->path.seg[4];
	struct didx_key *k;

	if (data_ready(r, rep) < 0 || !(k = data_key(r, rep, DIDX_FILL, fill, "fill")))
		return 0;
	for (uint32_t i = 0; i < k->n; i++) {	/* the first report of the fill */
		struct data_event ev;
		json_t *item;

		if (data_event_load(r->a, k->v[k->first + i].ref, &ev) < 0)
			continue;
		item = data_item(&ev, "execution");
		json_object_set_new(item, "reports", json_integer(k->n));
		data_event_free(&ev);
		return admin_ok(rep, 200, item);
	}
	return admin_error(rep, 404, "NOT_FOUND", NULL, "no event of fill '%.128s' is still in "
			   "the log", fill);
}

/* The end_date: a bare date covers that whole day (*end is the next midnight). */
static int data_end_date(struct admin_req *r, struct admin_reply *rep, int64_t start,
			 int64_t *end)
{
	char buf[64];
	int rc = admin_query_time(r, "end_date", INT64_MAX, end, rep);

	if (rc < 0)
		return -1;
	if (start > *end) {
		admin_error(rep, 400, "BAD_PARAMETER", "end_date", "end_date is before "
			    "start_date");
		return -1;
	}
	if (rc == 1 && admin_query(r, "end_date", buf, sizeof(buf), rep) == 1 &&
	    strlen(buf) == 10 && buf[4] == '-')
		*end = *end > INT64_MAX - 86400ll * 1000000000 ? INT64_MAX
							       : *end + 86400ll * 1000000000;
	return 0;
}

int api_exec_report(struct admin_req *r, struct admin_reply *rep)
{
	const char *pf = r->path.seg[4];
	int64_t start, end;
	uint32_t limit, lo, hi, listed = 0, n = 0;
	double qty = 0, notional = 0, commission = 0;
	struct data_fills f = { 0 };
	struct didx_key *k;
	json_t *list, *venues, *j;

	if (data_ready(r, rep) < 0 ||
	    admin_query_time(r, "start_date", INT64_MIN, &start, rep) < 0 ||
	    data_end_date(r, rep, start, &end) < 0 ||
	    admin_query_u32(r, "limit", 1, DATA_LIMIT_MAX, DATA_LIMIT_DEFAULT, &limit, rep) < 0)
		return 0;
	if (!(k = data_key(r, rep, DIDX_PORTFOLIO, pf, "portfolio")))
		return 0;
	lo = dataidx_lower(k, start);
	hi = end == INT64_MAX ? k->n : dataidx_lower(k, end);
	list = json_array();
	for (uint32_t i = lo; i < hi && !f.failed; i++) {	/* one event at a time */
		struct data_event ev;
		const Fanout__V1__ExecutionData *x;

		if (data_event_load(r->a, k->v[k->first + i].ref, &ev) < 0)
			continue;
		x = ev.e->execution;
		if (x && x->fill_id && *x->fill_id)
			data_fills_add(&f, x, n, NULL);
		if (listed < limit) {
			json_array_append_new(list, data_item(&ev, "execution"));
			listed++;
		}
		data_event_free(&ev);
		n++;
	}
	if (f.failed) {
		json_decref(list);
		data_fills_free(&f);
		return admin_error(rep, 500, "INTERNAL", NULL, "out of memory");
	}
	data_fills_unique(&f);
	venues = json_object();
	for (uint32_t i = 0; i < f.n; i++) {
		const char *v = f.v[i].venue[0] ? f.v[i].venue : "unknown";
		json_t *vj = json_object_get(venues, v);

		if (!vj) {
			vj = json_pack("{s:f, s:f, s:f, s:i}", "quantity", 0.0, "notional", 0.0,
				       "commission", 0.0, "fills", 0);
			json_object_set_new(venues, v, vj);
		}
		json_object_set_new(vj, "quantity", json_real(json_real_value(
			json_object_get(vj, "quantity")) + f.v[i].qty));
		json_object_set_new(vj, "notional", json_real(json_real_value(
			json_object_get(vj, "notional")) + f.v[i].qty * f.v[i].price));
		json_object_set_new(vj, "commission", json_real(json_real_value(
			json_object_get(vj, "commission")) + f.v[i].commission));
		json_object_set_new(vj, "fills", json_integer(json_integer_value(
			json_object_get(vj, "fills")) + 1));
		qty += f.v[i].qty;
		notional += f.v[i].qty * f.v[i].price;
		commission += f.v[i].commission;
	}
	j = json_pack("{s:s, s:o, s:o, s:{s:i, s:i, s:f, s:f, s:f, s:o}, s:o, s:i, s:b}",
		      "portfolio_id", pf,
		      "start_date", start == INT64_MIN ? json_null() : data_time(start),
		      "end_date", end == INT64_MAX ? json_null() : data_time(end),
		      "totals", "executions", (int)n, "fills", (int)f.n, "quantity", qty,
		      "notional", notional, "commission", commission, "venues", venues,
		      "executions", list, "count", (int)listed, "has_more", listed < n);
	data_fills_free(&f);
	return admin_ok(rep, 200, j);
}
