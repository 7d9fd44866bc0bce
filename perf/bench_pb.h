/* perf/bench_pb.h — the protobuf wire walks of fanout-bench, none allocating: the one
 * parse every subscriber of every system makes of an event (event_id as a decimal
 * sequence and timestamp_ns, from the encoded Event, or from fanout's ServerMessage{event}
 * around it); where a field's value lies (for perf/bench_event.c's templates); what a
 * ServerMessage answering a publish says (fanout's publisher counts its acks); and the
 * bench's content filter as the protocol's Filter. Pure; any thread. */
#ifndef FANOUT_PERF_BENCH_PB_H
#define FANOUT_PERF_BENCH_PB_H

#include <stddef.h>
#include <stdint.h>

#include "fanout.pb-c.h"
#include "perf/bench.h"

/* Reads event_id (1 to 20 decimal digits, leading zeros allowed) and timestamp_ns of an
 * encoded Event. Returns 0, or -EBADMSG when ev is not one with a decimal event_id. */
int bench_pb_event_fields(const uint8_t *ev, size_t len, uint64_t *seq, int64_t *timestamp_ns);

/* The same for the Event inside a ServerMessage{event} body (fanout's frames). */
int bench_pb_event_seq(const uint8_t *body, size_t len, uint64_t *seq, int64_t *timestamp_ns);

/* The server's receive_time_ns of the Event inside a ServerMessage{event} body. Returns 0,
 * -ENOENT when it has none, -EBADMSG when it does not parse. */
int bench_pb_event_receive_time(const uint8_t *body, size_t len, int64_t *ns);

/* Where the value of the first field `field` of wire type `wt` of the message [p, p+len)
 * starts: after its tag, and for wire type 2 after its length too, which *vlen gets
 * (wire type 0: the varint's bytes; 1: 8; 5: 4). Returns the offset, or -ENOENT when the
 * message has no such field, -EBADMSG when it does not parse. */
long bench_pb_field(const uint8_t *p, size_t len, unsigned field, unsigned wt, size_t *vlen);

/* What a ServerMessage answering a publish is. */
enum bench_pb_answer_kind {
	BENCH_PB_ACK,		/* a PublishAck: sequence and how many events it stored */
	BENCH_PB_ERROR,		/* an Error: decode it (rare) for its code and message */
	BENCH_PB_OTHER,		/* anything else (a Heartbeat, say) */
};

struct bench_pb_ack {
	uint64_t sequence;	/* the PublishBatch.sequence acknowledged */
	uint64_t offsets;	/* entries of PublishAck.offsets: one per stored event */
};

/* Reads a ServerMessage body: its kind (>= 0), with *ack filled for BENCH_PB_ACK (the
 * offsets counted packed or not), or -EBADMSG. */
int bench_pb_answer(const uint8_t *body, size_t len, struct bench_pb_ack *ack);

/* Storage for bench_pb_filter's message. */
struct bench_pb_filter {
	Fanout__V1__Filter msg;
	Fanout__V1__Bound min_price;
	char *exchanges[BENCH_EXCHANGES];
};

/* f as a fanout.v1.Filter built in *st (the result points into it, and at static
 * strings), or NULL when f is empty (no Filter: everything passes). */
Fanout__V1__Filter *bench_pb_filter(const struct bench_filter *f, struct bench_pb_filter *st);

#endif
