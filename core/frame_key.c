/* core/frame_key.c — the routing key of a stored event frame (see frame_key.h). */
#include "core/frame_key.h"

#include <errno.h>

/* A varint at *p (< end); advances. Returns 0, or -1 when unterminated or too long. */
static int key_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	uint64_t x = 0;

	for (uint32_t i = 0; i < 10 && *p < end; i++) {
		uint8_t b = *(*p)++;

		x |= (uint64_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80)) {
			*v = x;
			return 0;
		}
	}
	return -1;
}

/* Finds length-delimited field `want` in [*p, end), narrowing [*p, *end) to its bytes.
 * Returns 0, or -1 when absent or malformed. */
static int key_field(const uint8_t **p, const uint8_t **end, uint64_t want)
{
	const uint8_t *q = *p, *e = *end;
	uint64_t tag, n;

	while (q < e) {
		if (key_varint(&q, e, &tag) < 0)
			return -1;
		switch (tag & 7) {
		case 0:
			if (key_varint(&q, e, &n) < 0)
				return -1;
			break;
		case 1:
		case 5:
			n = (tag & 7) == 1 ? 8 : 4;
			if (n > (uint64_t)(e - q))
				return -1;
			q += n;
			break;
		case 2:
			if (key_varint(&q, e, &n) < 0 || n > (uint64_t)(e - q))
				return -1;
			if ((tag >> 3) == want) {
				*p = q;
				*end = q + n;
				return 0;
			}
			q += n;
			break;
		default:
			return -1;
		}
	}
	return -1;
}

int frame_key(const uint8_t *frame, uint32_t len, const char **key, uint32_t *klen)
{
	const uint8_t *p = frame, *end = frame + len;
	uint64_t body;

	if (key_varint(&p, end, &body) < 0 || body != (uint64_t)(end - p) ||
	    key_field(&p, &end, 1) < 0 ||	/* ServerMessage.event */
	    key_field(&p, &end, 4) < 0 ||	/* Event.distribution */
	    key_field(&p, &end, 4) < 0)		/* Distribution.routing_key */
		return -EINVAL;
	*key = (const char *)p;
	*klen = (uint32_t)(end - p);
	return 0;
}

int frame_stamp(const uint8_t *frame, uint32_t len, struct frame_stamp *out)
{
	const uint8_t *p = frame, *end = frame + len;
	uint64_t body, tag, v;

	if (key_varint(&p, end, &body) < 0 || body != (uint64_t)(end - p) ||
	    key_field(&p, &end, 1) < 0 ||	/* ServerMessage.event */
	    key_field(&p, &end, 7) < 0)		/* Event.producer */
		return -EINVAL;
	*out = (struct frame_stamp){ .id = "" };
	while (p < end) {	/* ProducerStamp: id 1, epoch 2, sequence 3, index 4 */
		if (key_varint(&p, end, &tag) < 0)
			return -EINVAL;
		if ((tag & 7) == 2 && (tag >> 3) == 1) {
			if (key_varint(&p, end, &v) < 0 || v > (uint64_t)(end - p))
				return -EINVAL;
			out->id = (const char *)p;
			out->id_len = (uint32_t)v;
			p += v;
		} else if ((tag & 7) == 0) {
			if (key_varint(&p, end, &v) < 0)
				return -EINVAL;
			if ((tag >> 3) == 2)
				out->epoch = v;
			else if ((tag >> 3) == 3)
				out->sequence = v;
			else if ((tag >> 3) == 4)
				out->index = v;
		} else {
			return -EINVAL;	/* the server writes no other field */
		}
	}
	return 0;
}
