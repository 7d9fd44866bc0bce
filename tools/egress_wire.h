/* tools/egress_wire.h — what the Kafka egress (fanoutd_egress.c) needs of a stored
 * event frame, read off the wire: no decode and no allocation per event. A frame in the
 * log is a ServerMessage whose field 1 is the Event; of the Event, the egress wants its
 * bytes (the Kafka value, sent unchanged) and its distribution's partition (2), offset
 * (3) and routing key (4, the Kafka key). */
#ifndef FANOUT_TOOLS_EGRESS_WIRE_H
#define FANOUT_TOOLS_EGRESS_WIRE_H

#include <stddef.h>
#include <stdint.h>

struct egress_wire {
	const uint8_t *event;	/* the Event's bytes, inside the frame body */
	size_t len;
	uint32_t partition;	/* 0 when the wire leaves it out (proto3) */
	uint64_t offset;
	const char *key;	/* the routing key (not NUL-terminated) */
	size_t key_len;
};

/* Reads a ServerMessage body of len bytes at b into *w (pointing into b). Returns 1 for
 * an Event with a distribution and a routing key, 0 for another message (the caller
 * decodes it), -EPROTO for bytes that are not a valid message or an Event without a
 * routing key. Any thread; nothing is kept. */
int egress_wire_scan(const uint8_t *b, size_t len, struct egress_wire *w);

#endif
