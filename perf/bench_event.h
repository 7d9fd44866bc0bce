/* perf/bench_event.h — the bytes every system carries: event seq's synthetic MarketData
 * Event (tools/synth.c's fields over the run's symbols; event_id the sequence as
 * BENCH_EVENT_ID_DIGITS zero-padded decimal digits; timestamp_ns its intended send time)
 * encoded as protobuf. A producer that already holds its protobuf sends it this way: the
 * events are packed once, by protobuf-c at start-up, into one template per layout (the
 * exchange's name, the symbol's digits and the volume's varint width decide where the
 * bytes fall), and each event is a copy of its template with the fields that vary written
 * at fixed offsets in fixed widths — sequence, intended time, key (symbol and routing
 * key), price, bid, ask, volume. Nothing is encoded per event and no byte moves.
 * fanout's publisher wraps the events in one ClientMessage{PublishBatch} frame
 * (bench_event_batch); the peers send each event's bytes as their opaque payload; every
 * subscriber reads them with bench_pb_event_fields.
 * bench_events_init runs on the main thread; the rest is pure, any thread. */
#ifndef FANOUT_PERF_BENCH_EVENT_H
#define FANOUT_PERF_BENCH_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "perf/bench.h"

/* event_id digits: 10^12 events fit (5.8 days at 2M/s); a larger seq is refused. */
#define BENCH_EVENT_ID_DIGITS 12u
/* timestamp_ns is always a 9-byte varint: ns since the epoch from 1972-04 to 2262. */
#define BENCH_EVENT_TS_MIN (INT64_C(1) << 56)
/* Room for one encoded event (~150 bytes; the longest key, NASDAQ's, with 6 digits). */
#define BENCH_EVENT_BYTES_MAX 256u
/* Symbols need at most 6 digits: cfg allows 1,000,000 keys (tools/synth: "S%05u"). */
#define BENCH_EVENT_SYMBOLS_MAX 1000000u
/* The source_service every event names (as fanout-pub's "fanout-bench" did). */
#define BENCH_EVENT_SOURCE "fanout-bench"
/* Room before the events of a batch for its frame's headers: length prefix (5),
 * ClientMessage.publish tag and length (1 + 5), PublishBatch.sequence (1 + 10). */
#define BENCH_EVENT_BATCH_HEAD 24u

/* One layout: its bytes as protobuf-c packed them, and where each varying field's value
 * starts. */
struct bench_event_tpl {
	uint8_t bytes[BENCH_EVENT_BYTES_MAX];
	uint16_t len;
	uint16_t id_off, ts_off, type_off, key_sym_off, sym_off, price_off, vol_off, bid_off,
		 ask_off;
	uint8_t sym_digits, vol_bytes;
};

struct bench_events {
	unsigned symbols;
	bool audit;		/* metadata.audit_required on every event */
	/* Test hook (cfg->pub_bad_event): this event's data_type disagrees with its payload,
	 * which fanoutd must refuse. UINT64_MAX: none. */
	uint64_t bad_seq;
	/* By exchange (key mod 4), symbol digits (5, 6), volume varint bytes (1, 2). */
	struct bench_event_tpl tpl[BENCH_EXCHANGES][2][2];
};

/* Packs the templates for symbols keys (1 .. BENCH_EVENT_SYMBOLS_MAX) with protobuf-c and
 * checks that patching gives protobuf-c's bytes for every one. Returns 0, -EINVAL for a
 * bad symbols, or -EPROTO (said on stderr) when the encoding is not what it expects. */
int bench_events_init(struct bench_events *e, unsigned symbols, uint64_t bad_seq, bool audit);

/* The encoded length of event seq. */
size_t bench_event_len(const struct bench_events *e, uint64_t seq);

/* Writes event seq, intended at ts, to dst (BENCH_EVENT_BYTES_MAX of room). Returns its
 * length, or -ERANGE when seq needs more than BENCH_EVENT_ID_DIGITS digits or ts is
 * below BENCH_EVENT_TS_MIN. */
int bench_event_put(const struct bench_events *e, uint8_t *dst, uint64_t seq, int64_t ts);

/* Bytes bench_event_batch needs for n events. */
size_t bench_event_batch_cap(unsigned n);

/* Builds the delimited frame ClientMessage{publish: PublishBatch{sequence, events seq0 ..
 * seq0+n-1 intended at ts[0..n-1]}} in buf (bench_event_batch_cap(n) bytes), as
 * protobuf-c would pack it. Returns the frame's length with *frame pointing into buf, or
 * -ERANGE as bench_event_put. */
long bench_event_batch(const struct bench_events *e, uint8_t *buf, uint64_t sequence,
		       uint64_t seq0, unsigned n, const int64_t *ts, const uint8_t **frame);

#endif
