/* tests/soak/soak_hostile.h — a hostile client, run beside the soak's honest ones:
 * random garbage, oversize and malformed length prefixes, truncated frames, batches to
 * the soak topic that carry a string with a NUL byte or invalid UTF-8 among valid events
 * (the whole batch must be refused: any of its events in the log is a failure), batches
 * over the 8,192-event limit, large valid batches and mutated frames to topics of its
 * own, subscribes with a NUL topic, bad patterns or an absurd ring, stalled subscribers,
 * half-sent frames (some left past fanoutd's frame deadline), subscriptions past the
 * limit with snapshots and filters at and past theirs, acks for nothing, Hellos of later
 * versions, bursts of pings, bursts of connections opened and dropped, and rings asked
 * for on the Unix socket and never mapped. One act in five goes over that Unix socket
 * instead of TCP. A batch that must be refused and is acknowledged counts in
 * hostile_accepted (a failure); being cut by a memory bound (RESOURCE_EXHAUSTED,
 * FRAME_DEADLINE) is allowed and counted; the server dying of any of it is seen by the
 * driver. */
#ifndef FANOUT_TESTS_SOAK_HOSTILE_H
#define FANOUT_TESTS_SOAK_HOSTILE_H

#define SOAK_HOSTILE_TOPIC_BIG "soak-hostile/big"
#define SOAK_HOSTILE_TOPIC_MUT "soak-hostile/mutated"

/* Client process entry (arg: struct soak_ctx *). Returns 0 when told to stop. */
int soak_hostile_main(void *arg);

#endif
