/* ingest/wire_scan.c — the PublishBatch wire scan (see wire_scan.h). The structure rules
 * mirror protobuf-c 1.4's protobuf_c_message_unpack: where this file says -1 for a
 * structure fault, protobuf-c fails the whole message too; where it says fallback,
 * protobuf-c decides. The schema is fanout.v1's (proto/fanout.proto); a field added
 * there needs a line here, or it is carried as an unknown field. */
#include "ingest/wire_scan.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/pattern.h"
#include "core/topic.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "fixed64/fixed32 fields are read with memcpy: little-endian hosts only"
#endif

enum { WT_VARINT = 0, WT_64 = 1, WT_LEN = 2, WT_32 = 5 };

/* One field as read off the wire. */
struct wf {
	uint32_t num;
	uint8_t wt;
	bool any;		/* varint: a 7-bit group is non-zero (protobuf-c's bool) */
	const uint8_t *start;	/* the tag's first byte */
	const uint8_t *end;	/* one past the field */
	const uint8_t *data;	/* wire type 2: the bytes after the length prefix */
	uint32_t len;		/* wire type 2: their count */
	uint64_t v;		/* wire types 0, 1, 5: the value (a varint's low 64 bits) */
};

/* A varint of at most max bytes at q; returns its length, or 0 when unterminated. */
static uint32_t wf_varint(const uint8_t *q, uint32_t max, uint64_t *v, bool *any)
{
	uint64_t x = 0;
	bool nz = false;

	if (max && q[0] < 0x80) {	/* most varints are one byte */
		*v = q[0];
		*any = q[0] != 0;
		return 1;
	}
	for (uint32_t i = 0; i < max; i++) {
		x |= (uint64_t)(q[i] & 0x7f) << (7 * i);	/* bits past 64 drop out */
		nz = nz || (q[i] & 0x7f);
		if (!(q[i] & 0x80)) {
			*v = x;
			*any = nz;
			return i + 1;
		}
	}
	return 0;
}

/* The tag at q (rem > 0 bytes): protobuf-c's parse_tag_and_wiretype. Returns its length,
 * or 0 when invalid (field number 0 in the first byte, or more than 5 bytes). */
static uint32_t wf_tag(const uint8_t *q, size_t rem, struct wf *f)
{
	uint32_t max = rem > 5 ? 5 : (uint32_t)rem, shift = 4, i;

	if ((q[0] & 0xf8) == 0)
		return 0;
	f->wt = q[0] & 7;
	f->num = (q[0] & 0x7fu) >> 3;
	if (!(q[0] & 0x80))
		return 1;
	for (i = 1; i < max && (q[i] & 0x80); i++, shift += 7)
		f->num |= (uint32_t)(q[i] & 0x7f) << shift;
	if (i == max)
		return 0;
	f->num |= (uint32_t)q[i] << shift;
	return i + 1;
}

/* Reads the field at *p (< end) and advances past it. Returns 0, or -1 where protobuf-c
 * fails: bad tag, unterminated varint, short fixed field, bad or overlong length prefix,
 * wire types 3, 4, 6, 7. */
static int wf_read(const uint8_t **p, const uint8_t *end, struct wf *f)
{
	const uint8_t *q = *p;
	size_t rem = (size_t)(end - q);
	uint32_t used = wf_tag(q, rem, f), n;
	uint64_t len;
	bool any;

	/* Field number 0 is not protobuf (a non-minimal tag can spell it; protobuf-c takes
	 * it, protoc's readers refuse it): a stored event must read everywhere. */
	if (used == 0 || f->num == 0)
		return -1;
	f->start = q;
	q += used;
	rem -= used;
	switch (f->wt) {
	case WT_VARINT:
		n = wf_varint(q, rem < 10 ? (uint32_t)rem : 10, &f->v, &f->any);
		if (n == 0)
			return -1;
		q += n;
		break;
	case WT_64:
		if (rem < 8)
			return -1;
		memcpy(&f->v, q, 8);
		q += 8;
		break;
	case WT_32: {
		uint32_t w;

		if (rem < 4)
			return -1;
		memcpy(&w, q, 4);
		f->v = w;
		q += 4;
		break;
	}
	case WT_LEN:
		n = wf_varint(q, rem < 5 ? (uint32_t)rem : 5, &len, &any);
		if (n == 0 || len > INT_MAX || len > rem - n)
			return -1;
		f->data = q + n;
		f->len = (uint32_t)len;
		q = f->data + len;
		break;
	default:
		return -1;
	}
	f->end = q;
	*p = q;
	return 0;
}

/* ---- UTF-8 -------------------------------------------------------------------------- */

bool wire_utf8_ok(const uint8_t *p, size_t n)
{
	const uint64_t high = 0x8080808080808080ull, ones = 0x0101010101010101ull;
	uint8_t any = 0, nul = 0;
	size_t i = 0;

	/* The common case, a short ASCII string: no branch per byte. */
	if (n <= 32) {
		for (size_t k = 0; k < n; k++) {
			any |= p[k];
			nul |= (uint8_t)(p[k] == 0);
		}
		if (!(any & 0x80))
			return !nul;
	}
	while (i < n) {
		uint64_t w;
		uint8_t c = p[i], lo = 0x80, hi = 0xbf;
		uint32_t more;

		if (n - i >= 8) {	/* eight ASCII bytes, none of them NUL, at a time */
			memcpy(&w, p + i, 8);
			if (!(w & high) && !((w - ones) & ~w & high)) {
				i += 8;
				continue;
			}
		}
		if (c < 0x80) {
			if (c == 0)
				return false;
			i++;
			continue;
		}
		/* Unicode's table of well-formed sequences: no overlong forms, no
		 * surrogates, nothing past U+10FFFF. */
		if (c >= 0xc2 && c <= 0xdf)
			more = 1;
		else if (c >= 0xe0 && c <= 0xef)
			more = 2, lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
		else if (c >= 0xf0 && c <= 0xf4)
			more = 3, lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
		else
			return false;
		if (n - i <= more || p[i + 1] < lo || p[i + 1] > hi)
			return false;
		for (uint32_t k = 2; k <= more; k++)
			if ((p[i + k] & 0xc0) != 0x80)
				return false;
		i += more + 1;
	}
	return true;
}

/* ---- the scan ----------------------------------------------------------------------- */

struct scan {
	struct event_view *v;
	size_t index;			/* the event, for messages */
	const char *msg;		/* the message being scanned, NULL for Event */
	int dec;			/* in coordination_completed: the decision, else -1 */
	struct publish_error *err;
	bool *failed;			/* err holds the batch's first content error */
};

/* Records a content fault of a string (the batch's first wins); the scan goes on, since
 * a structure fault further on still takes precedence. */
static void ws_bad(struct scan *sc, const char *field, int rep, const char *why)
{
	char dec[48] = "", rep_s[24] = "";

	if (*sc->failed)
		return;
	*sc->failed = true;
	if (sc->dec >= 0)
		snprintf(dec, sizeof(dec), ".decisions[%d]", sc->dec);
	if (rep >= 0)
		snprintf(rep_s, sizeof(rep_s), "[%d]", rep);
	sc->err->code = FANOUT__V1__ERROR_CODE__ERROR_CODE_INVALID_EVENT;
	snprintf(sc->err->message, sizeof(sc->err->message), "events[%zu].%s%s%s%s%s: %s",
		 sc->index, sc->msg ? sc->msg : "", dec, sc->msg ? "." : "", field, rep_s, why);
}

/* A string field: wire type 2 (else a structure fault), UTF-8 without NUL (else a content
 * fault). out may be NULL. */
static int ws_str(struct scan *sc, const struct wf *f, struct wire_str *out, const char *field,
		  int rep)
{
	if (f->wt != WT_LEN)
		return -1;
	if (!wire_utf8_ok(f->data, f->len))
		ws_bad(sc, field, rep, memchr(f->data, 0, f->len) ? "contains a NUL byte" :
				       "is not valid UTF-8");
	if (out) {
		out->p = (const char *)f->data;
		out->len = f->len;
	}
	return 0;
}

static int ws_varint(const struct wf *f, uint64_t *out)
{
	if (f->wt != WT_VARINT)
		return -1;
	*out = f->v;
	return 0;
}

static int ws_double(const struct wf *f, double *out)
{
	if (f->wt != WT_64)
		return -1;
	memcpy(out, &f->v, sizeof(*out));	/* bit for bit: -0.0 stays -0.0 */
	return 0;
}

/* A bool: a varint (protobuf-c would read any wire type; what it would make of one is
 * not what the publisher meant: refused, naming the field). */
static void ws_bool(struct scan *sc, const struct wf *f, bool *out, const char *name)
{
	if (f->wt == WT_VARINT)
		*out = f->any;
	else
		ws_bad(sc, name, -1, "is a bool sent as something other than a varint");
}

/* Inside a coordination_completed (split at ingest by protobuf-c, which cannot write a
 * -0.0 double) a -0.0 is refused rather than stored as 0. */
static void ws_split_double(struct scan *sc, double d, const char *name)
{
	if (sc->dec >= 0 && d == 0.0 && signbit(d))
		ws_bad(sc, name, -1, "is -0.0, which the split into decisions cannot store "
		       "exactly; send 0");
}

/* A singular field given twice is legal protobuf (the later wins; messages merge), but
 * no producer writes it and readers disagree on the merge: refused, naming the field, so
 * what is stored is exactly what was meant. */
static void ws_once(struct scan *sc, uint32_t *seen, uint32_t num, const char *name)
{
	if (*seen & (1u << num))
		ws_bad(sc, name, -1, "given twice; send each field once");
	*seen |= 1u << num;
}

typedef int (*ws_msg_fn)(struct scan *sc, const uint8_t *p, const uint8_t *end);

/* Scans a sub-message field (wire type 2) with fn, msg naming it in messages. */
static int ws_sub(struct scan *sc, const struct wf *f, const char *msg, ws_msg_fn fn)
{
	const char *outer = sc->msg;
	int rc;

	if (f->wt != WT_LEN)
		return -1;
	sc->msg = msg;
	rc = fn(sc, f->data, f->data + f->len);
	sc->msg = outer;
	return rc;
}

/* PortfolioImpact: four doubles. */
static int ws_impact(struct scan *sc, const uint8_t *p, const uint8_t *end)
{
	static const char *const names[] = { "", "portfolio_impact.position_change",
		"portfolio_impact.weight_change", "portfolio_impact.risk_contribution_change",
		"portfolio_impact.correlation_impact" };
	uint32_t seen = 0;
	struct wf f;
	double d;

	while (p < end) {
		if (wf_read(&p, end, &f) < 0)
			return -1;
		if (f.num < 1 || f.num > 4)
			continue;
		ws_once(sc, &seen, f.num, names[f.num]);
		if (ws_double(&f, &d) < 0)
			return -1;
		ws_split_double(sc, d, names[f.num]);
	}
	return 0;
}

/* CoordinationSummary: three int64, then three doubles. */
static int ws_summary(struct scan *sc, const uint8_t *p, const uint8_t *end)
{
	static const char *const names[] = { "", "summary.total_signals_processed",
		"summary.decisions_generated", "summary.signals_rejected",
		"summary.portfolio_utilization", "summary.risk_budget_used",
		"summary.coordination_quality" };
	uint32_t seen = 0;
	uint64_t u = 0;
	double d;
	struct wf f;

	while (p < end) {
		if (wf_read(&p, end, &f) < 0)
			return -1;
		if (f.num < 1 || f.num > 6)
			continue;
		ws_once(sc, &seen, f.num, names[f.num]);
		if (f.num <= 3 ? ws_varint(&f, &u) < 0 : ws_double(&f, &d) < 0)
			return -1;
	}
	return 0;
}

static int ws_metadata(struct scan *sc, const uint8_t *p, const uint8_t *end)
{
	static const char *const names[] = { "", "source_service", "venue",
					     "latency_sensitive", "audit_required" };
	struct event_view *v = sc->v;
	uint32_t seen = 0;
	struct wf f;
	int rc = 0;

	while (p < end && rc == 0) {
		if (wf_read(&p, end, &f) < 0)
			return -1;
		if (f.num >= 1 && f.num <= 4)
			ws_once(sc, &seen, f.num, names[f.num]);
		switch (f.num) {
		case 1: rc = ws_str(sc, &f, &v->source_service, "source_service", -1); break;
		case 2: rc = ws_str(sc, &f, &v->meta_venue, "venue", -1); break;
		case 3: ws_bool(sc, &f, &v->latency_sensitive, names[3]); break;
		case 4: ws_bool(sc, &f, &v->audit_required, names[4]); break;
		case 5: rc = ws_str(sc, &f, NULL, "compliance_flags", (int)v->n_flags++); break;
		default: break;	/* unknown: kept as sent */
		}
	}
	return rc;
}

/* ProducerStamp: walked for its structure only (a publisher may not send one). */
static int ws_stamp(struct scan *sc, const uint8_t *p, const uint8_t *end)
{
	uint64_t u;
	struct wf f;

	while (p < end) {
		if (wf_read(&p, end, &f) < 0)
			return -1;
		if (f.num == 1 && ws_str(sc, &f, NULL, "producer_id", -1) < 0)
			return -1;
		if (f.num >= 2 && f.num <= 4 && ws_varint(&f, &u) < 0)
			return -1;
	}
	return 0;
}

static int ws_market(struct scan *sc, const uint8_t *p, const uint8_t *end)
{
	static const char *const names[] = { "", "symbol", "exchange", "timestamp_ns", "price",
		"volume", "bid", "ask", "bid_size", "ask_size", "currency", "kind" };
	struct event_view *v = sc->v;
	uint32_t seen = 0;
	uint64_t u = 0;
	double d;
	struct wf f;
	int rc = 0;

	while (p < end && rc == 0) {
		if (wf_read(&p, end, &f) < 0)
			return -1;
		if (f.num >= 1 && f.num <= 11)
			ws_once(sc, &seen, f.num, names[f.num]);
		switch (f.num) {
		case 1: rc = ws_str(sc, &f, &v->symbol, "symbol", -1); break;
		case 2: rc = ws_str(sc, &f, &v->exchange, "exchange", -1); break;
		case 4: rc = ws_double(&f, &v->price); break;
		case 5:
			rc = ws_varint(&f, &u);
			v->volume = (double)(int64_t)u;
			break;
		case 3: case 8: case 9: rc = ws_varint(&f, &u); break;
		case 6: case 7: rc = ws_double(&f, &d); break;
		case 10: rc = ws_str(sc, &f, &v->currency, "currency", -1); break;
		case 11: rc = ws_str(sc, &f, &v->kind, "kind", -1); break;
		default: break;
		}
	}
	return rc;
}

static int ws_decision(struct scan *sc, const uint8_t *p, const uint8_t *end)
{
	static const char *const names[] = { "", "decision_id", "instrument_id", "action",
		"quantity", "confidence", "coordination_quality", "priority", "reasoning",
		"coordination_id", "portfolio_impact" };
	struct event_view *v = sc->v;
	uint32_t seen = 0;
	uint64_t u = 0;
	double d;
	struct wf f;
	int rc = 0;

	while (p < end && rc == 0) {
		if (wf_read(&p, end, &f) < 0)
			return -1;
		if (f.num >= 1 && f.num <= 10 && f.num != 8)
			ws_once(sc, &seen, f.num, names[f.num]);
		switch (f.num) {
		case 1: rc = ws_str(sc, &f, &v->decision_id, "decision_id", -1); break;
		case 2: rc = ws_str(sc, &f, &v->instrument_id, "instrument_id", -1); break;
		case 3: rc = ws_str(sc, &f, &v->action, "action", -1); break;
		case 4:
			rc = ws_varint(&f, &u);
			v->volume = (double)(int64_t)u;
			break;
		case 5:	/* confidence */
			rc = ws_double(&f, &v->price);
			ws_split_double(sc, v->price, names[5]);
			break;
		case 6:
			rc = ws_double(&f, &d);
			ws_split_double(sc, d, names[6]);
			break;
		case 7: rc = ws_varint(&f, &u); break;
		case 8: rc = ws_str(sc, &f, NULL, "reasoning", (int)v->n_reasoning++); break;
		case 9: rc = ws_str(sc, &f, NULL, "coordination_id", -1); break;
		case 10: rc = ws_sub(sc, &f, sc->msg, ws_impact); break;
		default: break;
		}
	}
	return rc;
}

static int ws_execution(struct scan *sc, const uint8_t *p, const uint8_t *end)
{
	static const char *const names[] = { "", "order_id", "fill_id", "instrument_id",
		"quantity", "price", "venue", "execution_time_ns", "commission",
		"execution_data_type", "portfolio_id" };
	struct event_view *v = sc->v;
	uint32_t seen = 0;
	uint64_t u = 0;
	double d;
	struct wf f;
	int rc = 0;

	while (p < end && rc == 0) {
		if (wf_read(&p, end, &f) < 0)
			return -1;
		if (f.num >= 1 && f.num <= 10)
			ws_once(sc, &seen, f.num, names[f.num]);
		switch (f.num) {
		case 1: rc = ws_str(sc, &f, &v->order_id, "order_id", -1); break;
		case 2: rc = ws_str(sc, &f, NULL, "fill_id", -1); break;
		case 3: rc = ws_str(sc, &f, &v->instrument_id, "instrument_id", -1); break;
		case 4: rc = ws_double(&f, &v->volume); break;	/* quantity */
		case 5: rc = ws_double(&f, &v->price); break;
		case 6: rc = ws_str(sc, &f, &v->exec_venue, "venue", -1); break;
		case 7: rc = ws_varint(&f, &u); break;
		case 8: rc = ws_double(&f, &d); break;
		case 9:
			rc = ws_varint(&f, &u);
			v->exec_data_type = (uint32_t)u;
			break;
		case 10: rc = ws_str(sc, &f, &v->portfolio_id, "portfolio_id", -1); break;
		default: break;
		}
	}
	return rc;
}

/* CoordinationCompleted: validated whole (its strings are stored once split), always
 * fallback. Its decisions are scanned into a throwaway view. */
static int ws_completed(struct scan *sc, const uint8_t *p, const uint8_t *end)
{
	struct event_view *v = sc->v, scratch;
	uint32_t seen = 0;
	struct wf f;
	int rc = 0, dec = 0;

	v->fallback = true;	/* split at ingest: the protobuf-c path */
	while (p < end && rc == 0) {
		if (wf_read(&p, end, &f) < 0)
			return -1;
		if (f.num == 1 || f.num == 3)
			ws_once(sc, &seen, f.num, f.num == 1 ? "coordination_id" : "summary");
		switch (f.num) {
		case 1: rc = ws_str(sc, &f, NULL, "coordination_id", -1); break;
		case 2:
			memset(&scratch, 0, sizeof(scratch));
			sc->v = &scratch;
			sc->dec = dec++;
			rc = ws_sub(sc, &f, "coordination_completed", ws_decision);
			sc->dec = -1;
			sc->v = v;
			break;
		case 3: rc = ws_sub(sc, &f, sc->msg, ws_summary); break;
		default: break;
		}
	}
	return rc;
}

static const char *const dist_names[] = { "", "topic", "partition", "offset", "routing_key",
					 "target_workflows", "priority", "delivery_guarantee" };

static int ws_distribution(struct scan *sc, const uint8_t *p, const uint8_t *end)
{
	struct event_view *v = sc->v;
	const uint8_t *tail = NULL;
	uint32_t last = 0, seen = 0;
	uint64_t u = 0;
	struct wf f;
	int rc = 0;

	v->has_distribution = true;
	while (p < end && rc == 0) {
		if (wf_read(&p, end, &f) < 0)
			return -1;
		if (f.num >= 1 && f.num <= 4) {
			/* The fields the server writes: in order, before the kept tail; out of
			 * order they are put in order (publish_scan), each once. */
			ws_once(sc, &seen, f.num, dist_names[f.num]);
			if (tail || f.num <= last)
				v->reorder = true;
			last = f.num;
		} else if (!tail) {
			tail = f.start;
		}
		switch (f.num) {
		case 1: rc = ws_str(sc, &f, &v->topic, "topic", -1); break;
		case 2: case 3: rc = ws_varint(&f, &u); break;	/* the server's to set */
		case 4: rc = ws_str(sc, &f, &v->routing_key, "routing_key", -1); break;
		case 5: rc = ws_str(sc, &f, NULL, "target_workflows", (int)v->n_workflows++); break;
		case 6:
			ws_once(sc, &seen, 6, dist_names[6]);
			rc = ws_varint(&f, &u);
			v->priority = (uint32_t)u;
			break;
		case 7:
			ws_once(sc, &seen, 7, dist_names[7]);
			rc = ws_varint(&f, &u);
			v->delivery_guarantee = (uint32_t)u;
			break;
		default: break;
		}
	}
	v->dist_tail = tail ? tail : end;
	v->dist_tail_len = (uint32_t)(end - v->dist_tail);
	return rc;
}

/* Event fields 1..6 before any other: in order, once (the server rewrites 2, 3, 4, 6 in
 * place). Returns the field's scan result. */
static int ws_event_field(struct scan *sc, const struct wf *f)
{
	struct event_view *v = sc->v;
	uint64_t u = 0;

	switch (f->num) {
	case 1: return ws_str(sc, f, &v->event_id, "event_id", -1);
	case 2:
		if (ws_varint(f, &u) < 0)
			return -1;
		v->timestamp_ns = (int64_t)u;
		return 0;
	case 3:
		if (ws_varint(f, &u) < 0)
			return -1;
		v->data_type = (uint32_t)u;
		return 0;
	case 4:
		return ws_sub(sc, f, "distribution", ws_distribution);
	case 5:
		v->mid_start = (uint32_t)(f->start - v->bytes);
		v->mid_end = (uint32_t)(f->end - v->bytes);
		return ws_sub(sc, f, "metadata", ws_metadata);
	case 6:
		return ws_varint(f, &u);	/* the server's receive time replaces it */
	case 7:
		if (ws_sub(sc, f, "producer", ws_stamp) < 0)
			return -1;
		ws_bad(sc, "producer", -1, "is written by the server (Hello.producer_id); "
		       "leave it out");
		return 0;
	case EVENT_PAYLOAD_MARKET_DATA:
	case EVENT_PAYLOAD_DECISION:
	case EVENT_PAYLOAD_EXECUTION:
	case EVENT_PAYLOAD_COMPLETED:
		if (v->payload)	/* a oneof given twice: the last would win */
			ws_bad(sc, "payload", -1, "more than one payload; send one");
		v->payload = (uint8_t)f->num;
		return ws_sub(sc, f, f->num == 10 ? "market_data" : f->num == 11 ?
			      "coordination_decision" : f->num == 12 ? "execution" :
			      "coordination_completed", f->num == 10 ? ws_market :
			      f->num == 11 ? ws_decision : f->num == 12 ? ws_execution : ws_completed);
	default:
		return 0;	/* unknown: kept as sent */
	}
}

static const struct event_view ws_empty = {
	.event_id = { "", 0 }, .topic = { "", 0 }, .routing_key = { "", 0 },
	.source_service = { "", 0 }, .meta_venue = { "", 0 }, .symbol = { "", 0 },
	.exchange = { "", 0 }, .currency = { "", 0 }, .kind = { "", 0 },
	.instrument_id = { "", 0 }, .action = { "", 0 }, .decision_id = { "", 0 },
	.order_id = { "", 0 }, .exec_venue = { "", 0 }, .portfolio_id = { "", 0 },
};

/* Scans one Event and finds the regions the stored frame keeps. */
static int ws_event(struct scan *sc, const uint8_t *p, uint32_t len)
{
	struct event_view *v = sc->v;
	const uint8_t *q = p, *end = p + len;
	bool pre_done = false, post = false;
	uint32_t last = 0, seen = 0;
	struct wf f;

	*v = ws_empty;
	v->bytes = p;
	v->len = len;
	sc->msg = NULL;
	sc->dec = -1;
	while (q < end) {
		if (wf_read(&q, end, &f) < 0)
			return -1;
		if (f.num >= 1 && f.num <= 6) {
			static const char *const names[] = { "", "event_id", "timestamp_ns",
				"data_type", "distribution", "metadata", "receive_time_ns" };

			sc->msg = NULL;
			ws_once(sc, &seen, f.num, names[f.num]);
			/* The server rewrites 2, 3, 4 and 6 in place: out of order, the event is
			 * put in order first (publish_scan). */
			if (post || f.num <= last)
				v->reorder = true;
			last = f.num;
			if (f.num >= 2 && !pre_done) {
				v->pre_end = (uint32_t)(f.start - p);
				pre_done = true;
			}
		} else if (!post) {
			v->post_start = (uint32_t)(f.start - p);
			post = true;
		}
		if (ws_event_field(sc, &f) < 0)
			return -1;
	}
	if (!post)
		v->post_start = len;
	if (!pre_done)
		v->pre_end = v->post_start;
	if (!v->has_distribution)
		v->dist_tail = p;	/* not stored: refused by wire_check_event */
	return 0;
}

static int ws_malformed(struct publish_error *err, size_t len, const char *what)
{
	err->code = FANOUT__V1__ERROR_CODE__ERROR_CODE_MALFORMED_FRAME;
	snprintf(err->message, sizeof(err->message), "publish batch of %zu bytes is not a "
		 "valid PublishBatch (%s)", len, what);
	return -1;
}

int wire_scan_event(const uint8_t *p, size_t len, struct event_view *v, size_t index,
		    struct publish_error *err)
{
	bool failed = false;
	struct scan sc = { .v = v, .index = index, .err = err, .failed = &failed };

	if (len > INT_MAX || ws_event(&sc, p, (uint32_t)len) < 0)
		return ws_malformed(err, len, "an event's fields do not parse");
	return failed ? -1 : 0;
}

int wire_scan_batch(const uint8_t *p, size_t len, struct event_view *views, uint32_t max,
		    struct wire_batch *b, struct publish_error *err)
{
	const uint8_t *q = p, *end = p + len;
	struct event_view spare;
	bool failed = false;
	struct scan sc = { .err = err, .failed = &failed };
	uint32_t n = 0;
	struct wf f;

	memset(b, 0, sizeof(*b));
	if (len > INT_MAX)
		return ws_malformed(err, len, "too large");
	while (q < end) {
		if (wf_read(&q, end, &f) < 0)
			return ws_malformed(err, len, "a field does not parse");
		if (f.num == 1) {
			if (ws_varint(&f, &b->sequence) < 0)
				return ws_malformed(err, len, "sequence is not a varint");
		} else if (f.num == 2) {
			if (f.wt != WT_LEN)
				return ws_malformed(err, len, "events is not a message");
			/* Past max, the rest is still checked for structure (a fault there
			 * decides), into a spare view. */
			sc.v = n < max ? &views[n] : &spare;
			sc.index = n;
			if (ws_event(&sc, f.data, f.len) < 0)
				return ws_malformed(err, len, "an event's fields do not parse");
			if (n < max) {
				b->n_fallback += views[n].fallback;
				b->n_reorder += views[n].reorder;
				b->n_completed += views[n].payload == EVENT_PAYLOAD_COMPLETED;
			}
			n++;
		}
	}
	b->n = n < max ? n : max;
	if (n > max) {
		err->code = FANOUT__V1__ERROR_CODE__ERROR_CODE_INVALID_EVENT;
		snprintf(err->message, sizeof(err->message),
			 "batch of %u events exceeds the limit of %u", n, max);
		return -1;
	}
	return failed ? -1 : 0;
}

/* ---- the ClientMessage around it ------------------------------------------------------ */

int wire_client_publish(const uint8_t *msg, size_t len, const uint8_t **batch, size_t *blen)
{
	const uint8_t *q = msg, *end = msg + len;
	struct wf f;

	/* The common case: one field, the publish, and nothing after it. */
	if (len == 0 || wf_read(&q, end, &f) < 0 || f.num != 5 || f.wt != WT_LEN || q != end)
		return 0;
	*batch = f.data;
	*blen = f.len;
	return 1;
}

int wire_client_last_publish(const uint8_t *msg, size_t len, const uint8_t **batch,
			     size_t *blen)
{
	const uint8_t *q = msg, *end = msg + len;
	int found = 0;
	struct wf f;

	while (q < end && wf_read(&q, end, &f) == 0) {
		if (f.num == 5 && f.wt == WT_LEN) {
			*batch = f.data;
			*blen = f.len;
			found = 1;
		}
	}
	return found;
}

/* ---- content rules -------------------------------------------------------------------- */

__attribute__((format(printf, 3, 4)))
static int wc_fail(struct publish_error *err, Fanout__V1__ErrorCode code, const char *fmt, ...)
{
	va_list ap;

	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return -1;
}

#define WC_BAD FANOUT__V1__ERROR_CODE__ERROR_CODE_INVALID_EVENT

/* An identifier: required (1..WIRE_ID_BYTES_MAX bytes) or, when !required, at most that. */
static int wc_id(struct wire_str s, bool required, size_t i, const char *name,
		 struct publish_error *err)
{
	if (required && s.len == 0)
		return wc_fail(err, WC_BAD, "events[%zu].%s: required, 1..%u bytes", i, name,
			       WIRE_ID_BYTES_MAX);
	if (s.len > WIRE_ID_BYTES_MAX)
		return wc_fail(err, WC_BAD, "events[%zu].%s: %u bytes, over the limit of %u", i,
			       name, s.len, WIRE_ID_BYTES_MAX);
	return 0;
}

static int wc_count(uint32_t n, uint32_t max, size_t i, const char *name,
		    struct publish_error *err)
{
	if (n <= max)
		return 0;
	return wc_fail(err, WC_BAD, "events[%zu].%s: %u entries, over the limit of %u", i, name,
		       n, max);
}

/* The payload's required fields and bounds; *want receives its DataType. */
static int wc_payload(const struct event_view *v, size_t i, uint32_t *want,
		      struct publish_error *err)
{
	switch (v->payload) {
	case EVENT_PAYLOAD_MARKET_DATA:
		*want = FANOUT__V1__DATA_TYPE__DATA_TYPE_MARKET_DATA;
		if (wc_id(v->symbol, true, i, "market_data.symbol", err) < 0 ||
		    wc_id(v->exchange, false, i, "market_data.exchange", err) < 0)
			return -1;
		return wc_id(v->currency, false, i, "market_data.currency", err);
	case EVENT_PAYLOAD_DECISION:
		*want = FANOUT__V1__DATA_TYPE__DATA_TYPE_COORDINATION_DECISION;
		if (wc_id(v->decision_id, true, i, "coordination_decision.decision_id", err) < 0 ||
		    wc_id(v->instrument_id, true, i, "coordination_decision.instrument_id",
			  err) < 0 ||
		    wc_id(v->action, false, i, "coordination_decision.action", err) < 0)
			return -1;
		return wc_count(v->n_reasoning, WIRE_REASONING_MAX, i,
				"coordination_decision.reasoning", err);
	case EVENT_PAYLOAD_EXECUTION:
		*want = FANOUT__V1__DATA_TYPE__DATA_TYPE_EXECUTION;
		if (wc_id(v->order_id, true, i, "execution.order_id", err) < 0 ||
		    wc_id(v->instrument_id, false, i, "execution.instrument_id", err) < 0 ||
		    wc_id(v->exec_venue, false, i, "execution.venue", err) < 0 ||
		    wc_id(v->portfolio_id, false, i, "execution.portfolio_id", err) < 0)
			return -1;
		if (v->exec_data_type > FANOUT__V1__EXECUTION_DATA_TYPE__EXECUTION_DATA_TYPE_VENUE_STATUS)
			return wc_fail(err, WC_BAD, "events[%zu].execution.execution_data_type: %u "
				       "is not an ExecutionDataType", i, v->exec_data_type);
		return 0;
	case EVENT_PAYLOAD_COMPLETED:
		return wc_fail(err, WC_BAD, "events[%zu].coordination_completed: is split into "
			       "its decisions at ingest, which this publish path does not do", i);
	default:
		return wc_fail(err, WC_BAD, "events[%zu]: a payload (market_data, "
			       "coordination_decision or execution) is required", i);
	}
}

int wire_check_event(struct event_view *v, size_t i, struct publish_error *err)
{
	uint32_t want = 0;
	const char *why;

	if (wc_id(v->event_id, true, i, "event_id", err) < 0)
		return -1;
	if (!v->has_distribution)
		return wc_fail(err, WC_BAD, "events[%zu].distribution: required", i);
	if (topic_name_check(v->topic.p, v->topic.len, &why) < 0)
		return wc_fail(err, FANOUT__V1__ERROR_CODE__ERROR_CODE_INVALID_TOPIC,
			       "events[%zu].distribution.topic '%.*s': %s", i,
			       (int)(v->topic.len > 200 ? 200 : v->topic.len), v->topic.p, why);
	if (pattern_key_check(v->routing_key.p, v->routing_key.len, &why) < 0)
		return wc_fail(err, WC_BAD, "events[%zu].distribution.routing_key '%.*s': %s", i,
			       (int)(v->routing_key.len > 255 ? 255 : v->routing_key.len),
			       v->routing_key.p, why);
	if (wc_payload(v, i, &want, err) < 0)
		return -1;
	if (v->data_type == 0)
		v->data_type = want;
	else if (v->data_type != want)
		return wc_fail(err, WC_BAD, "events[%zu].data_type: %d does not match the payload",
			       i, (int32_t)v->data_type);
	if (v->delivery_guarantee > FANOUT__V1__DELIVERY_GUARANTEE__DELIVERY_GUARANTEE_EXACTLY_ONCE)
		return wc_fail(err, WC_BAD, "events[%zu].distribution.delivery_guarantee: %u is "
			       "not a DeliveryGuarantee", i, v->delivery_guarantee);
	if (wc_count(v->n_workflows, WIRE_WORKFLOWS_MAX, i, "distribution.target_workflows",
		     err) < 0 ||
	    wc_count(v->n_flags, WIRE_FLAGS_MAX, i, "metadata.compliance_flags", err) < 0 ||
	    wc_id(v->meta_venue, false, i, "metadata.venue", err) < 0)
		return -1;
	return wc_id(v->source_service, false, i, "metadata.source_service", err);
}

/* ---- strings of control messages ------------------------------------------------------ */

#define WIRE_STRINGS_DEPTH 8	/* the .proto nests messages 4 deep at most */

static int ws_strings(const ProtobufCMessageDescriptor *desc, const uint8_t *p,
		      const uint8_t *end, char *path, size_t cap, size_t at, int depth)
{
	uint32_t counts[64] = { 0 };	/* repeated fields' entries seen, by field index */

	while (p < end) {
		const ProtobufCFieldDescriptor *fd;
		struct wf f;
		int n;

		if (wf_read(&p, end, &f) < 0)
			return 0;	/* protobuf-c reports the structure */
		fd = protobuf_c_message_descriptor_get_field(desc, f.num);
		if (!fd || f.wt != WT_LEN)
			continue;
		if (fd->type != PROTOBUF_C_TYPE_STRING && fd->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		n = snprintf(path + at, cap - at, "%s%s", at ? "." : "", fd->name);
		if (fd->label == PROTOBUF_C_LABEL_REPEATED && n >= 0 && at + (size_t)n < cap) {
			uint32_t i = (uint32_t)(fd - desc->fields);

			n += snprintf(path + at + n, cap - at - (size_t)n, "[%u]",
				      i < 64 ? counts[i]++ : 0);
		}
		if (n < 0 || at + (size_t)n >= cap)
			n = 0;
		if (fd->type == PROTOBUF_C_TYPE_STRING) {
			if (!wire_utf8_ok(f.data, f.len)) {
				snprintf(path + at + n, cap - at - (size_t)n, ": %s",
					 memchr(f.data, 0, f.len) ? "contains a NUL byte" :
					 "is not valid UTF-8");
				return 1;
			}
		} else if (depth < WIRE_STRINGS_DEPTH &&
			   ws_strings(fd->descriptor, f.data, f.data + f.len, path, cap,
				      at + (size_t)n, depth + 1)) {
			return 1;
		}
		path[at] = '\0';
	}
	return 0;
}

int wire_strings_check(const ProtobufCMessageDescriptor *desc, const uint8_t *p, size_t len,
		       char *path, size_t cap)
{
	if (cap == 0)
		return 0;
	path[0] = '\0';
	return ws_strings(desc, p, p + len, path, cap, 0, 0);
}

/* ---- putting an event's fields in order ------------------------------------------------ */

#define WIRE_REORDER_FIELDS 256u	/* fields of an Event (or its Distribution) reordered */

struct wire_span {
	uint32_t num;
	const uint8_t *start, *end;	/* the whole field, tag included */
	const uint8_t *data;		/* wire type 2: its bytes */
	uint32_t len;
};

static int span_cmp(const void *a, const void *b)
{
	const struct wire_span *x = a, *y = b;
	/* Field 0 (protobuf-c takes a non-minimal zero tag as an unknown field) sorts last:
	 * first, it would be a field before the server's, out of order again. */
	uint32_t xn = x->num - 1u, yn = y->num - 1u;

	if (xn != yn)
		return xn < yn ? -1 : 1;
	return x->start < y->start ? -1 : x->start > y->start;	/* stable */
}

/* Reads a message's fields into spans, sorted by field number (stable). */
static int reorder_spans(const uint8_t *p, const uint8_t *end, struct wire_span *spans,
			 uint32_t *n)
{
	struct wf f;

	*n = 0;
	while (p < end) {
		if (wf_read(&p, end, &f) < 0)
			return -EINVAL;
		if (*n == WIRE_REORDER_FIELDS)
			return -E2BIG;
		spans[(*n)++] = (struct wire_span){ .num = f.num, .start = f.start, .end = f.end,
						    .data = f.data, .len = f.len };
	}
	qsort(spans, *n, sizeof(*spans), span_cmp);
	return 0;
}

int wire_reorder_event(const uint8_t *p, size_t len, uint8_t *out, size_t cap, size_t *out_len)
{
	struct wire_span ev[WIRE_REORDER_FIELDS], dist[WIRE_REORDER_FIELDS];
	uint32_t n, m;
	uint8_t *o = out;
	int r;

	if (len > cap)
		return -ENOSPC;
	if ((r = reorder_spans(p, p + len, ev, &n)) < 0)
		return r;
	for (uint32_t i = 0; i < n; i++) {
		if (ev[i].num != 4 || (size_t)(ev[i].end - ev[i].start) < ev[i].len) {
			memcpy(o, ev[i].start, (size_t)(ev[i].end - ev[i].start));
			o += ev[i].end - ev[i].start;
			continue;
		}
		/* The distribution: its tag and length as sent (same bytes, reordered). */
		memcpy(o, ev[i].start, (size_t)(ev[i].data - ev[i].start));
		o += ev[i].data - ev[i].start;
		if ((r = reorder_spans(ev[i].data, ev[i].data + ev[i].len, dist, &m)) < 0)
			return r;
		for (uint32_t k = 0; k < m; k++) {
			memcpy(o, dist[k].start, (size_t)(dist[k].end - dist[k].start));
			o += dist[k].end - dist[k].start;
		}
	}
	assert((size_t)(o - out) == len);
	*out_len = (size_t)(o - out);
	return 0;
}
