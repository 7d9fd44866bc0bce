/* tools/egress_wire.c — see egress_wire.h. */
#include "tools/egress_wire.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

/* A protobuf varint at *p (before end) into *v. Returns false when it runs out. */
static bool wire_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	*v = 0;
	for (unsigned shift = 0; *p < end && shift < 64; shift += 7) {
		uint8_t b = *(*p)++;

		*v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return true;
	}
	return false;
}

/* Steps over a field of wire type wt at *p. Returns false on a bad one. */
static bool wire_skip(const uint8_t **p, const uint8_t *end, unsigned wt)
{
	uint64_t n;

	switch (wt) {
	case 0:
		return wire_varint(p, end, &n);
	case 1:
		n = 8;
		break;
	case 2:
		if (!wire_varint(p, end, &n))
			return false;
		break;
	case 5:
		n = 4;
		break;
	default:
		return false;
	}
	if (n > (uint64_t)(end - *p))
		return false;
	*p += n;
	return true;
}

int egress_wire_scan(const uint8_t *b, size_t len, struct egress_wire *w)
{
	const uint8_t *p = b, *end = b + len, *d = NULL, *dend = NULL;
	uint64_t tag, n, v;

	memset(w, 0, sizeof(*w));
	if (!wire_varint(&p, end, &tag))
		return -EPROTO;
	if (tag != ((1u << 3) | 2))
		return 0;
	if (!wire_varint(&p, end, &n) || n > (uint64_t)(end - p))
		return -EPROTO;
	w->event = p;
	w->len = (size_t)n;
	end = p + n;
	while (p < end && !d) {	/* Event: find distribution (4) */
		if (!wire_varint(&p, end, &tag))
			return -EPROTO;
		if (tag == ((4u << 3) | 2)) {
			if (!wire_varint(&p, end, &n) || n > (uint64_t)(end - p))
				return -EPROTO;
			d = p;
			dend = p + n;
		} else if (!wire_skip(&p, end, (unsigned)(tag & 7))) {
			return -EPROTO;
		}
	}
	for (p = d; d && p < dend;) {
		if (!wire_varint(&p, dend, &tag))
			return -EPROTO;
		if (tag == ((2u << 3) | 0) || tag == ((3u << 3) | 0)) {
			if (!wire_varint(&p, dend, &v))
				return -EPROTO;
			if (tag >> 3 == 2)	/* a 0 is left out of the wire: w's 0 stands */
				w->partition = (uint32_t)v;
			else
				w->offset = v;
		} else if (tag == ((4u << 3) | 2)) {
			if (!wire_varint(&p, dend, &n) || n > (uint64_t)(dend - p))
				return -EPROTO;
			w->key = (const char *)p;
			w->key_len = (size_t)n;
			p += n;
		} else if (!wire_skip(&p, dend, (unsigned)(tag & 7))) {
			return -EPROTO;
		}
	}
	return d && w->key ? 1 : -EPROTO;
}
