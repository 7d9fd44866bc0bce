/* perf/bench_pb.c — the wire walks and the Filter of bench_pb.h. */
#include <errno.h>
#include <stdbool.h>

#include "perf/bench_pb.h"
#include "tools/synth.h"

#define EVENT_ID_DIGITS_MAX 20u	/* UINT64_MAX has 20 */

static bool varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	uint64_t x = 0;

	for (unsigned shift = 0; shift < 64 && *p < end; shift += 7) {
		uint8_t b = *(*p)++;

		x |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*v = x;
			return true;
		}
	}
	return false;
}

/* Steps *p over a value of wire type wt; false when it does not fit or wt is unknown. */
static bool skip(const uint8_t **p, const uint8_t *end, unsigned wt)
{
	uint64_t v;

	switch (wt) {
	case 0: return varint(p, end, &v);
	case 1: v = 8; break;
	case 2: if (!varint(p, end, &v)) return false; break;
	case 5: v = 4; break;
	default: return false;
	}
	if (v > (uint64_t)(end - *p))
		return false;
	*p += v;
	return true;
}

/* Finds field `want` of wire type `wt`; leaves *p at its value. 1 found, 0 not there,
 * -EBADMSG when the message does not parse before it. */
static int find_field(const uint8_t **p, const uint8_t *end, unsigned want, unsigned wt)
{
	while (*p < end) {
		uint64_t tag;

		if (!varint(p, end, &tag))
			return -EBADMSG;
		if ((tag >> 3) == want && (tag & 7) == wt)
			return 1;
		if (!skip(p, end, (unsigned)(tag & 7)))
			return -EBADMSG;
	}
	return 0;
}

/* A length-delimited field's value: [*p, *p + n) after the call. */
static bool find_bytes(const uint8_t **p, const uint8_t *end, unsigned want, uint64_t *n)
{
	return find_field(p, end, want, 2) == 1 && varint(p, end, n) &&
	       *n <= (uint64_t)(end - *p);
}

int bench_pb_event_fields(const uint8_t *ev, size_t len, uint64_t *seq, int64_t *timestamp_ns)
{
	const uint8_t *end = ev + len, *q = ev;
	uint64_t n, s = 0, ts = 0;

	/* Event.event_id = 1 (bytes), timestamp_ns = 2 (varint). */
	if (!find_bytes(&q, end, 1, &n) || n == 0 || n > EVENT_ID_DIGITS_MAX)
		return -EBADMSG;
	for (uint64_t i = 0; i < n; i++) {
		if (q[i] < '0' || q[i] > '9')
			return -EBADMSG;
		s = s * 10 + (uint64_t)(q[i] - '0');
	}
	q = ev;
	if (find_field(&q, end, 2, 0) != 1 || !varint(&q, end, &ts))
		return -EBADMSG;
	*seq = s;
	*timestamp_ns = (int64_t)ts;
	return 0;
}

int bench_pb_event_seq(const uint8_t *body, size_t len, uint64_t *seq, int64_t *timestamp_ns)
{
	const uint8_t *p = body;
	uint64_t n;

	/* ServerMessage.event = 1 (bytes). */
	if (!find_bytes(&p, body + len, 1, &n))
		return -EBADMSG;
	return bench_pb_event_fields(p, (size_t)n, seq, timestamp_ns);
}

int bench_pb_event_receive_time(const uint8_t *body, size_t len, int64_t *ns)
{
	const uint8_t *p = body, *end;
	uint64_t n, v;

	/* ServerMessage.event = 1 (bytes); Event.receive_time_ns = 6 (varint). */
	if (!find_bytes(&p, body + len, 1, &n))
		return -EBADMSG;
	end = p + n;
	if (find_field(&p, end, 6, 0) != 1 || !varint(&p, end, &v))
		return -ENOENT;
	*ns = (int64_t)v;
	return 0;
}

long bench_pb_field(const uint8_t *p, size_t len, unsigned field, unsigned wt, size_t *vlen)
{
	const uint8_t *q = p, *end = p + len, *v;
	uint64_t n;
	int rc = find_field(&q, end, field, wt);

	if (rc <= 0)
		return rc ? rc : -ENOENT;
	v = q;
	if (wt == 2) {
		if (!varint(&q, end, &n) || n > (uint64_t)(end - q))
			return -EBADMSG;
		v = q;
	} else if (!skip(&q, end, wt)) {
		return -EBADMSG;
	} else {
		n = (uint64_t)(q - v);
	}
	*vlen = (size_t)n;
	return (long)(v - p);
}

/* Entries of a repeated varint field: each byte without the continuation bit ends one. */
static uint64_t packed_count(const uint8_t *p, uint64_t n)
{
	uint64_t c = 0;

	for (uint64_t i = 0; i < n; i++)
		c += !(p[i] & 0x80);
	return c;
}

/* PublishAck: sequence = 1; offsets = 3, packed (proto3's default) or one tag each. */
static int read_ack(const uint8_t *p, const uint8_t *end, struct bench_pb_ack *ack)
{
	*ack = (struct bench_pb_ack){ 0 };
	while (p < end) {
		uint64_t tag, v;
		const uint8_t *val;

		if (!varint(&p, end, &tag))
			return -EBADMSG;
		val = p;
		if (!skip(&p, end, (unsigned)(tag & 7)))
			return -EBADMSG;
		if (tag == (1u << 3 | 0) && varint(&val, end, &v))
			ack->sequence = v;
		else if (tag == (3u << 3 | 0))
			ack->offsets++;
		else if (tag == (3u << 3 | 2) && varint(&val, end, &v))
			ack->offsets += packed_count(val, v);
	}
	return BENCH_PB_ACK;
}

int bench_pb_answer(const uint8_t *body, size_t len, struct bench_pb_ack *ack)
{
	const uint8_t *p = body, *end = body + len;
	uint64_t tag, n;

	/* A ServerMessage is one field of its oneof: publish_ack = 5, error = 7. */
	if (len == 0)
		return BENCH_PB_OTHER;
	if (!varint(&p, end, &tag))
		return -EBADMSG;
	if (tag == (5u << 3 | 2)) {
		if (!varint(&p, end, &n) || n > (uint64_t)(end - p))
			return -EBADMSG;
		return read_ack(p, p + n, ack);
	}
	return tag == (7u << 3 | 2) ? BENCH_PB_ERROR : BENCH_PB_OTHER;
}

Fanout__V1__Filter *bench_pb_filter(const struct bench_filter *f, struct bench_pb_filter *st)
{
	if (bench_filter_empty(f))
		return NULL;
	fanout__v1__filter__init(&st->msg);
	fanout__v1__bound__init(&st->min_price);
	for (unsigned e = 0; e < BENCH_EXCHANGES; e++)
		if (f->exchanges >> e & 1u)
			st->exchanges[st->msg.n_exchanges++] = (char *)synth_exchange(e);
	st->msg.exchanges = st->msg.n_exchanges ? st->exchanges : NULL;
	if (f->has_min_price) {
		st->min_price.value = f->min_price;
		st->msg.min_price = &st->min_price;
	}
	return &st->msg;
}
