/* shm/wire.c — protobuf wire-format helpers for the consumer library (see wire.h). */
#include "shm/wire.h"

#include <stdbool.h>

/* protobuf wire types */
#define WT_VARINT 0u
#define WT_I64    1u
#define WT_LEN    2u
#define WT_I32    5u

/* ServerMessage.event, Event.distribution, Distribution.partition and .offset */
#define FIELD_SERVER_EVENT  1u
#define FIELD_EVENT_DIST    4u
#define FIELD_DIST_PARTITION 2u
#define FIELD_DIST_OFFSET   3u

int shm_wire_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	uint64_t x = 0;

	for (unsigned shift = 0; shift < 70 && *p < end; shift += 7) {
		uint8_t b = *(*p)++;

		x |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*v = x;
			return 0;
		}
	}
	return -1;
}

size_t shm_wire_varint_put(uint8_t *dst, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		dst[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	dst[n++] = (uint8_t)v;
	return n;
}

int shm_wire_prefix(const uint8_t *p, size_t n, uint32_t *prefix, uint32_t *body)
{
	const uint8_t *q = p, *end = p + (n < SHM_WIRE_PREFIX_MAX ? n : SHM_WIRE_PREFIX_MAX);
	uint64_t v;

	if (shm_wire_varint(&q, end, &v) < 0)
		return n < SHM_WIRE_PREFIX_MAX && (n == 0 || (p[n - 1] & 0x80)) ? 0 : -1;
	if (v > UINT32_MAX)
		return -1;
	*prefix = (uint32_t)(q - p);
	*body = (uint32_t)v;
	return 1;
}

/* Skips one field's value of wire type wt. */
static int skip_value(const uint8_t **p, const uint8_t *end, uint32_t wt)
{
	uint64_t v;

	switch (wt) {
	case WT_VARINT:
		return shm_wire_varint(p, end, &v);
	case WT_I64:
		if (end - *p < 8)
			return -1;
		*p += 8;
		return 0;
	case WT_I32:
		if (end - *p < 4)
			return -1;
		*p += 4;
		return 0;
	case WT_LEN:
		if (shm_wire_varint(p, end, &v) < 0 || v > (uint64_t)(end - *p))
			return -1;
		*p += v;
		return 0;
	default:	/* groups are not in fanout.proto */
		return -1;
	}
}

/* Finds the last occurrence of length-delimited field `field` in [p, end) (protobuf
 * merges repeated submessages; the last one's scalars win, and fanout frames carry one).
 * Returns 0 with [*sub, *sub_end), or -1. */
static int find_len_field(const uint8_t *p, const uint8_t *end, uint32_t field,
			  const uint8_t **sub, const uint8_t **sub_end)
{
	bool found = false;

	while (p < end) {
		uint64_t key, len;

		if (shm_wire_varint(&p, end, &key) < 0)
			return -1;
		if ((key >> 3) == field && (key & 7) == WT_LEN) {
			if (shm_wire_varint(&p, end, &len) < 0 || len > (uint64_t)(end - p))
				return -1;
			*sub = p;
			*sub_end = p + len;
			p += len;
			found = true;
		} else if (skip_value(&p, end, (uint32_t)(key & 7)) < 0) {
			return -1;
		}
	}
	return found ? 0 : -1;
}

int shm_wire_event_position(const uint8_t *body, size_t len, uint32_t *partition,
			    uint64_t *offset)
{
	const uint8_t *ev, *ev_end, *d, *d_end;

	if (find_len_field(body, body + len, FIELD_SERVER_EVENT, &ev, &ev_end) < 0 ||
	    find_len_field(ev, ev_end, FIELD_EVENT_DIST, &d, &d_end) < 0)
		return -1;
	*partition = 0;
	*offset = 0;
	while (d < d_end) {
		uint64_t key, v;

		if (shm_wire_varint(&d, d_end, &key) < 0)
			return -1;
		if ((key & 7) == WT_VARINT &&
		    ((key >> 3) == FIELD_DIST_PARTITION || (key >> 3) == FIELD_DIST_OFFSET)) {
			if (shm_wire_varint(&d, d_end, &v) < 0)
				return -1;
			if ((key >> 3) == FIELD_DIST_PARTITION)
				*partition = (uint32_t)v;
			else
				*offset = v;
		} else if (skip_value(&d, d_end, (uint32_t)(key & 7)) < 0) {
			return -1;
		}
	}
	return 0;
}
