/* perf/bench_pb.h — reads event_id (as a decimal sequence) and timestamp_ns out of a
 * ServerMessage{event} body by walking the protobuf wire format, without allocating; and
 * the bench's content filter as the protocol's Filter. Pure; any thread. */
#ifndef FANOUT_PERF_BENCH_PB_H
#define FANOUT_PERF_BENCH_PB_H

#include <stddef.h>
#include <stdint.h>

#include "fanout.pb-c.h"
#include "perf/bench.h"

/* Returns 0 with *seq and *timestamp_ns, or -EBADMSG when body is not an event frame
 * with a decimal event_id. */
int bench_pb_event_seq(const uint8_t *body, size_t len, uint64_t *seq, int64_t *timestamp_ns);

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
