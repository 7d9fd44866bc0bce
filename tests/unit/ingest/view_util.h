/* tests/unit/ingest/view_util.h — for tests that build events as protobuf-c structs: the
 * view ingest would make of one (packed, then read by the wire scan), and printable
 * copies of view strings. Header-only, test code. */
#ifndef FANOUT_TESTS_VIEW_UTIL_H
#define FANOUT_TESTS_VIEW_UTIL_H

#include <stdlib.h>
#include <string.h>

#include "fanout.pb-c.h"
#include "ingest/event_view.h"
#include "ingest/wire_scan.h"

/* Packs e into a new buffer (kept in *keep, the caller frees it) and scans it into *v.
 * Returns wire_scan_event's verdict (err set on -1). */
static inline int view_of(const Fanout__V1__Event *e, struct event_view *v, uint8_t **keep,
			  size_t index, struct publish_error *err)
{
	size_t len = protobuf_c_message_get_packed_size(&e->base);

	*keep = malloc(len + 1);
	if (!*keep)
		abort();
	protobuf_c_message_pack(&e->base, *keep);
	return wire_scan_event(*keep, len, v, index, err);
}

/* A NUL-terminated copy of s, valid until the eighth call after this one. */
static inline const char *vstr(struct wire_str s)
{
	static char bufs[8][512];
	static unsigned next;
	char *b = bufs[next++ % 8];
	size_t n = s.len < sizeof(bufs[0]) - 1 ? s.len : sizeof(bufs[0]) - 1;

	memcpy(b, s.p, n);
	b[n] = '\0';
	return b;
}

#endif
