/* perf/bench_pb.c — the two-field protobuf walk and the Filter of bench_pb.h. */
#include <errno.h>
#include <stdbool.h>

#include "perf/bench_pb.h"
#include "tools/synth.h"

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

/* Finds field `want` of wire type `wt`; leaves *p at its value. */
static bool find_field(const uint8_t **p, const uint8_t *end, unsigned want, unsigned wt)
{
	while (*p < end) {
		uint64_t tag, v;

		if (!varint(p, end, &tag))
			return false;
		if ((tag >> 3) == want && (tag & 7) == wt)
			return true;
		switch (tag & 7) {
		case 0: if (!varint(p, end, &v)) return false; break;
		case 1: *p += 8; break;
		case 2: if (!varint(p, end, &v) || v > (uint64_t)(end - *p)) return false;
			*p += v; break;
		case 5: *p += 4; break;
		default: return false;
		}
	}
	return false;
}

int bench_pb_event_seq(const uint8_t *body, size_t len, uint64_t *seq, int64_t *timestamp_ns)
{
	const uint8_t *p = body, *end = body + len, *ev_end, *q;
	uint64_t n, s = 0, ts = 0;

	/* ServerMessage.event = 1 (bytes); Event.event_id = 1 (bytes), timestamp_ns = 2. */
	if (!find_field(&p, end, 1, 2) || !varint(&p, end, &n) || n > (uint64_t)(end - p))
		return -EBADMSG;
	ev_end = p + n;
	q = p;
	if (!find_field(&q, ev_end, 1, 2) || !varint(&q, ev_end, &n) || n == 0 || n > 20 ||
	    n > (uint64_t)(ev_end - q))
		return -EBADMSG;
	for (uint64_t i = 0; i < n; i++) {
		if (q[i] < '0' || q[i] > '9')
			return -EBADMSG;
		s = s * 10 + (uint64_t)(q[i] - '0');
	}
	q = p;
	if (!find_field(&q, ev_end, 2, 0) || !varint(&q, ev_end, &ts))
		return -EBADMSG;
	*seq = s;
	*timestamp_ns = (int64_t)ts;
	return 0;
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
