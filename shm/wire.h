/* shm/wire.h — the few protobuf wire-format pieces the consumer library needs without
 * core/: varints, the delimited frame prefix, and finding an Event's partition and offset
 * in a ServerMessage without decoding it (to check that a frame read back from the log is
 * the one the journal named). Pure functions over caller memory; any thread. */
#ifndef FANOUT_SHM_WIRE_H
#define FANOUT_SHM_WIRE_H

#include <stddef.h>
#include <stdint.h>

/* A uint32 length needs at most 5 varint bytes. */
#define SHM_WIRE_PREFIX_MAX 5u

/* Reads a varint of at most 10 bytes from [*p, end). Returns 0 and advances *p, or -1
 * when it is cut short or too long. */
int shm_wire_varint(const uint8_t **p, const uint8_t *end, uint64_t *v);

/* Writes v as a varint into dst (room for 10 bytes); returns the bytes written. */
size_t shm_wire_varint_put(uint8_t *dst, uint64_t v);

/* Reads the length prefix of the frame at [p, p+n): 1 with *prefix (its bytes) and *body
 * (the body length) set, 0 when more bytes are needed, -1 when the prefix is not a varint
 * of at most SHM_WIRE_PREFIX_MAX bytes or says more than UINT32_MAX. */
int shm_wire_prefix(const uint8_t *p, size_t n, uint32_t *prefix, uint32_t *body);

/* Finds ServerMessage.event.distribution.{partition, offset} in a ServerMessage body.
 * Returns 0, or -1 when the body is not a well-formed ServerMessage carrying an Event
 * with a distribution. Absent scalars are 0, as protobuf says. */
int shm_wire_event_position(const uint8_t *body, size_t len, uint32_t *partition,
			    uint64_t *offset);

#endif
