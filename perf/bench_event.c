/* perf/bench_event.c — the pre-encoded events of bench_event.h: templates packed by
 * protobuf-c from tools/synth.c's slots, their varying fields found by walking the packed
 * bytes (bench_pb_field), and per event a copy and fixed-width writes. */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/frame.h"
#include "perf/bench_event.h"
#include "perf/bench_pb.h"
#include "tools/synth.h"

#define TS_BYTES 9u		/* varint bytes of a timestamp in [2^56, 2^63) */
#define CHECK_SEQS 48u		/* events checked against protobuf-c per region at init */
#define SEQ_LIMIT UINT64_C(1000000000000)	/* 10^BENCH_EVENT_ID_DIGITS */
#define BUILD_SYMBOLS (BENCH_EVENT_SYMBOLS_MAX + 1)	/* templates' keys: 6 digits at most */

static_assert(BENCH_EVENT_BATCH_HEAD >= FRAME_PREFIX_MAX + 1 + FRAME_PREFIX_MAX + 1 + 10,
	      "room for a batch frame's headers");
static_assert(BENCH_EVENT_ID_DIGITS == 12, "SEQ_LIMIT is 10^BENCH_EVENT_ID_DIGITS");

/* v as n decimal digits, zero-padded (v < 10^n). */
static void put_digits(uint8_t *dst, uint64_t v, unsigned n)
{
	for (unsigned i = n; i-- > 0; v /= 10)
		dst[i] = (uint8_t)('0' + v % 10);
}

/* v as a varint of exactly n bytes: canonical when v needs n bytes, as callers ensure. */
static void put_varint_n(uint8_t *dst, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i + 1 < n; i++, v >>= 7)
		dst[i] = (uint8_t)(v | 0x80);
	dst[n - 1] = (uint8_t)v;
}

static size_t varint64_size(uint64_t v)
{
	size_t n = 1;

	for (; v >= 0x80; v >>= 7)
		n++;
	return n;
}

static size_t put_varint64(uint8_t *dst, uint64_t v)
{
	size_t n = varint64_size(v);

	put_varint_n(dst, v, (unsigned)n);
	return n;
}

/* A double as protobuf's fixed64: little endian whatever the host's order. */
static void put_f64(uint8_t *dst, double d)
{
	uint64_t b;

	memcpy(&b, &d, sizeof(b));
	for (unsigned i = 0; i < 8; i++)
		dst[i] = (uint8_t)(b >> (8 * i));
}

static unsigned key_of(const struct bench_events *e, uint64_t seq)
{
	return (unsigned)(seq % e->symbols);
}

static const struct bench_event_tpl *tpl_of(const struct bench_events *e, uint64_t seq)
{
	unsigned k = key_of(e, seq);

	/* tools/synth.c: exchange by symbol mod 4, "S%05u", volume 100 * (1 + seq mod 10). */
	return &e->tpl[k % BENCH_EXCHANGES][k >= 100000][seq % 10 != 0];
}

size_t bench_event_len(const struct bench_events *e, uint64_t seq)
{
	return tpl_of(e, seq)->len;
}

int bench_event_put(const struct bench_events *e, uint8_t *dst, uint64_t seq, int64_t ts)
{
	const struct bench_event_tpl *t = tpl_of(e, seq);
	unsigned k = key_of(e, seq);
	double price = bench_event_price(seq, e->symbols);

	if (seq >= SEQ_LIMIT || ts < BENCH_EVENT_TS_MIN)
		return -ERANGE;
	memcpy(dst, t->bytes, t->len);
	put_digits(dst + t->id_off, seq, BENCH_EVENT_ID_DIGITS);
	put_varint_n(dst + t->ts_off, (uint64_t)ts, TS_BYTES);
	put_digits(dst + t->key_sym_off, k, t->sym_digits);
	put_digits(dst + t->sym_off, k, t->sym_digits);
	/* The same arithmetic as synth_fill, so the same doubles. */
	put_f64(dst + t->price_off, price);
	put_f64(dst + t->bid_off, price - 0.01);
	put_f64(dst + t->ask_off, price + 0.01);
	put_varint_n(dst + t->vol_off, 100 * (1 + seq % 10), t->vol_bytes);
	if (seq == e->bad_seq)	/* test hook: an event fanoutd must refuse */
		dst[t->type_off] = FANOUT__V1__DATA_TYPE__DATA_TYPE_EXECUTION;
	return (int)t->len;
}

/* Event seq as the old path made it: a synth slot packed by protobuf-c, its event_id
 * fixed-width. Returns the length, or 0 when it does not fit in cap. */
static size_t pack_synth(uint8_t *dst, size_t cap, uint64_t seq, int64_t ts, unsigned symbols,
			 bool audit)
{
	struct synth_slot s;
	size_t n;

	synth_init(&s, BENCH_TOPIC, BENCH_EVENT_SOURCE);
	s.meta.audit_required = audit;
	synth_fill(&s, seq, symbols);
	put_digits((uint8_t *)s.event_id, seq, BENCH_EVENT_ID_DIGITS);
	s.event_id[BENCH_EVENT_ID_DIGITS] = '\0';
	s.ev.timestamp_ns = ts;
	n = protobuf_c_message_get_packed_size(&s.ev.base);
	return n <= cap ? protobuf_c_message_pack(&s.ev.base, dst) : 0;
}

/* The offset (from the template's start) of field `field` of wire type wt inside the
 * message at [t->bytes + at, + len); its value must be `want` bytes long (0: any).
 * *vlen, when given, gets its length. Returns the offset or -EPROTO. */
static long find(const struct bench_event_tpl *t, size_t at, size_t len, unsigned field,
		 unsigned wt, size_t want, size_t *vlen)
{
	size_t n;
	long off = bench_pb_field(t->bytes + at, len, field, wt, &n);

	if (off < 0 || (want && n != want))
		return -EPROTO;
	if (vlen)
		*vlen = n;
	return (long)at + off;
}

/* Finds where each varying field of t lies. Returns 0 or -EPROTO. */
static int locate(struct bench_event_tpl *t)
{
	size_t dn = 0, mn = 0;	/* set by find() when it succeeds */
	long o[10];

	/* Event: event_id 1, timestamp_ns 2, data_type 3, distribution 4, market_data 10. */
	o[0] = find(t, 0, t->len, 1, 2, BENCH_EVENT_ID_DIGITS, NULL);
	o[1] = find(t, 0, t->len, 2, 0, TS_BYTES, NULL);
	o[2] = find(t, 0, t->len, 3, 0, 1, NULL);
	o[3] = find(t, 0, t->len, 4, 2, 0, &dn);
	o[4] = find(t, 0, t->len, 10, 2, 0, &mn);
	if (o[0] < 0 || o[1] < 0 || o[2] < 0 || o[3] < 0 || o[4] < 0)
		return -EPROTO;
	/* Distribution.routing_key 4; MarketData symbol 1, price 4, volume 5, bid 6, ask 7. */
	o[5] = find(t, (size_t)o[3], dn, 4, 2, 0, NULL);
	o[6] = find(t, (size_t)o[4], mn, 1, 2, 1u + t->sym_digits, NULL);
	o[7] = find(t, (size_t)o[4], mn, 4, 1, 8, NULL);
	o[8] = find(t, (size_t)o[4], mn, 5, 0, t->vol_bytes, NULL);
	o[9] = find(t, (size_t)o[4], mn, 6, 1, 8, NULL);
	if (o[5] < 0 || o[6] < 0 || o[7] < 0 || o[8] < 0 || o[9] < 0)
		return -EPROTO;
	t->bid_off = (uint16_t)o[9];
	o[9] = find(t, (size_t)o[4], mn, 7, 1, 8, NULL);
	if (o[9] < 0)
		return -EPROTO;
	t->id_off = (uint16_t)o[0];
	t->ts_off = (uint16_t)o[1];
	t->type_off = (uint16_t)o[2];
	t->key_sym_off = (uint16_t)(o[5] + 1);	/* after "S" */
	t->sym_off = (uint16_t)(o[6] + 1);
	t->price_off = (uint16_t)o[7];
	t->vol_off = (uint16_t)o[8];
	t->ask_off = (uint16_t)o[9];
	return 0;
}

/* Packs the template of exchange x, symbol width w (0: 5 digits, 1: 6) and volume varint
 * width v (0: 1 byte, 1: 2) from an event that has them: symbol x (or 100000 + x) of
 * BUILD_SYMBOLS, which is prime to 10, so that some seq of that symbol has each volume. */
static int tpl_build(struct bench_event_tpl *t, unsigned x, unsigned w, unsigned v, bool audit)
{
	uint64_t seq = (w ? 100000 : 0) + x;	/* 100000 is a multiple of 4 */

	while ((seq % 10 != 0) != v)
		seq += BUILD_SYMBOLS;
	t->sym_digits = (uint8_t)(5 + w);
	t->vol_bytes = (uint8_t)(1 + v);
	t->len = (uint16_t)pack_synth(t->bytes, sizeof(t->bytes), seq, BENCH_EVENT_TS_MIN,
				      BUILD_SYMBOLS, audit);
	return t->len ? locate(t) : -EPROTO;
}

/* Events from seq0 on, patched and packed by protobuf-c, are the same bytes. */
static int check_from(const struct bench_events *e, uint64_t seq0)
{
	uint8_t a[BENCH_EVENT_BYTES_MAX], b[BENCH_EVENT_BYTES_MAX];

	for (uint64_t seq = seq0; seq < seq0 + CHECK_SEQS; seq++) {
		int64_t ts = BENCH_EVENT_TS_MIN + (int64_t)(seq * 7919);
		int n = bench_event_put(e, a, seq, ts);

		if (n < 0 || (size_t)n != pack_synth(b, sizeof(b), seq, ts, e->symbols, e->audit) ||
		    memcmp(a, b, (size_t)n))
			return -EPROTO;
	}
	return 0;
}

int bench_events_init(struct bench_events *e, unsigned symbols, uint64_t bad_seq, bool audit)
{
	int rc = 0;

	if (symbols == 0 || symbols > BENCH_EVENT_SYMBOLS_MAX)
		return -EINVAL;
	*e = (struct bench_events){ .symbols = symbols, .bad_seq = UINT64_MAX, .audit = audit };
	for (unsigned x = 0; x < BENCH_EXCHANGES && !rc; x++)
		for (unsigned w = 0; w < 2 && !rc; w++)
			for (unsigned v = 0; v < 2 && !rc; v++)
				rc = tpl_build(&e->tpl[x][w][v], x, w, v, audit);
	/* The first keys, the last ones, and sequences of 12 digits. */
	if (!rc)
		rc = check_from(e, 0) ?: check_from(e, symbols > CHECK_SEQS ? symbols - CHECK_SEQS : 0)
		     ?: check_from(e, SEQ_LIMIT - CHECK_SEQS);
	if (rc) {
		fprintf(stderr, "fanout-bench: the pre-encoded events do not match protobuf-c's "
			"encoding of tools/synth.c's events\n");
		return rc;
	}
	e->bad_seq = bad_seq;
	return 0;
}

size_t bench_event_batch_cap(unsigned n)
{
	/* Per event: its tag, a length of at most 2 varint bytes (< 16 KiB), the event. */
	return BENCH_EVENT_BATCH_HEAD + (size_t)n * (3 + BENCH_EVENT_BYTES_MAX);
}

long bench_event_batch(const struct bench_events *e, uint8_t *buf, uint64_t sequence,
		       uint64_t seq0, unsigned n, const int64_t *ts, const uint8_t **frame)
{
	uint8_t *p = buf + BENCH_EVENT_BATCH_HEAD, *h;
	size_t events, pb, cm, head;
	/* proto3: protobuf-c leaves a zero sequence out. */
	size_t seq_bytes = sequence ? 1 + varint64_size(sequence) : 0;

	for (unsigned k = 0; k < n; k++) {
		int len;

		*p++ = 2u << 3 | 2;	/* PublishBatch.events, length-delimited */
		p += frame_varint_put(p, (uint32_t)bench_event_len(e, seq0 + k));
		len = bench_event_put(e, p, seq0 + k, ts[k]);
		if (len < 0)
			return len;
		p += len;
	}
	events = (size_t)(p - (buf + BENCH_EVENT_BATCH_HEAD));
	pb = seq_bytes + events;
	cm = 1 + frame_varint_size((uint32_t)pb) + pb;
	head = frame_varint_size((uint32_t)cm) + 1 + frame_varint_size((uint32_t)pb) + seq_bytes;
	h = buf + BENCH_EVENT_BATCH_HEAD - head;
	*frame = h;
	h += frame_varint_put(h, (uint32_t)cm);
	*h++ = 5u << 3 | 2;	/* ClientMessage.publish */
	h += frame_varint_put(h, (uint32_t)pb);
	if (sequence) {
		*h++ = 1u << 3 | 0;	/* PublishBatch.sequence */
		h += put_varint64(h, sequence);
	}
	assert(h == buf + BENCH_EVENT_BATCH_HEAD);
	return (long)(head + events);
}
