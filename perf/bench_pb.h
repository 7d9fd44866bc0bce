/* perf/bench_pb.h — reads event_id (as a decimal sequence) and timestamp_ns out of a
 * ServerMessage{event} body by walking the protobuf wire format, without allocating.
 * Pure; any thread. */
#ifndef FANOUT_PERF_BENCH_PB_H
#define FANOUT_PERF_BENCH_PB_H

#include <stddef.h>
#include <stdint.h>

/* Returns 0 with *seq and *timestamp_ns, or -EBADMSG when body is not an event frame
 * with a decimal event_id. */
int bench_pb_event_seq(const uint8_t *body, size_t len, uint64_t *seq, int64_t *timestamp_ns);

#endif
