/* ingest/event_encode.c — stored frames and acks from views (see event_encode.h). The
 * field numbers are fanout.v1's: ServerMessage.event 1, publish_ack 5; Event
 * timestamp_ns 2, data_type 3, distribution 4, receive_time_ns 6; Distribution topic 1,
 * partition 2, offset 3, routing_key 4; PublishAck sequence 1, partitions 2, offsets 3. */
#include "ingest/event_encode.h"

#include <assert.h>
#include <errno.h>
#include <string.h>

#include "core/crc32c.h"
#include "core/frame_key.h"

#define TAG(field, wt) ((uint8_t)((field) << 3 | (wt)))

static uint32_t enc_varint_size(uint64_t v)
{
	uint32_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static uint8_t *enc_varint(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

/* Adds a piece to the group being built. */
static void parts_add(struct event_parts *e, uint32_t *n, const void *p, uint32_t len)
{
	assert(*n < EVENT_PIECES_MAX);
	if (len == 0)
		return;
	e->ptr[*n] = p;
	e->len[(*n)++] = len;
}

static void parts_close(struct event_parts *e, uint32_t n, uint32_t g)
{
	uint32_t from = g ? e->end[g - 1] : 0, bytes = 0;

	for (uint32_t i = from; i < n; i++)
		bytes += e->len[i];
	e->end[g] = (uint8_t)n;
	e->glen[g] = bytes;
}

void event_parts_make(struct event_parts *e, const struct event_view *v, uint32_t partition,
		      int64_t recv_ns, const struct event_stamp *stamp, uint32_t index)
{
	uint8_t *g = e->gen, *mark;
	uint32_t n = 0;
	int64_t ts = v->timestamp_ns ? v->timestamp_ns : recv_ns;

	/* Event fields before the distribution: event_id as sent, timestamp, data_type. */
	parts_add(e, &n, v->bytes, v->pre_end);
	mark = g;
	if (ts != 0) {
		*g++ = TAG(2, 0);
		g = enc_varint(g, (uint64_t)ts);
	}
	*g++ = TAG(3, 0);	/* never 0: wire_check_event filled it */
	g = enc_varint(g, v->data_type);
	parts_add(e, &n, mark, (uint32_t)(g - mark));
	parts_close(e, n, 0);
	/* Distribution before the offset: topic, partition. */
	mark = g;
	*g++ = TAG(1, 2);
	g = enc_varint(g, v->topic.len);
	parts_add(e, &n, mark, (uint32_t)(g - mark));
	parts_add(e, &n, v->topic.p, v->topic.len);
	if (partition) {
		mark = g;
		*g++ = TAG(2, 0);
		g = enc_varint(g, partition);
		parts_add(e, &n, mark, (uint32_t)(g - mark));
	}
	parts_close(e, n, 1);
	/* Distribution after the offset: routing key, then what the publisher sent after it
	 * (target_workflows, priority, delivery_guarantee, unknown fields). */
	mark = g;
	*g++ = TAG(4, 2);
	g = enc_varint(g, v->routing_key.len);
	parts_add(e, &n, mark, (uint32_t)(g - mark));
	parts_add(e, &n, v->routing_key.p, v->routing_key.len);
	parts_add(e, &n, v->dist_tail, v->dist_tail_len);
	parts_close(e, n, 2);
	/* Event fields after the distribution: metadata as sent, receive time, the rest. */
	parts_add(e, &n, v->bytes + v->mid_start, v->mid_end - v->mid_start);
	mark = g;
	if (recv_ns != 0) {
		*g++ = TAG(6, 0);
		g = enc_varint(g, (uint64_t)recv_ns);
	}
	if (stamp) {	/* ProducerStamp: producer_id 1, epoch 2, sequence 3, index 4 */
		uint32_t inner = 1 + enc_varint_size(stamp->id_len) + stamp->id_len;

		inner += stamp->epoch ? 1 + enc_varint_size(stamp->epoch) : 0;
		inner += stamp->sequence ? 1 + enc_varint_size(stamp->sequence) : 0;
		inner += index ? 1 + enc_varint_size(index) : 0;
		*g++ = TAG(7, 2);
		g = enc_varint(g, inner);
		*g++ = TAG(1, 2);
		g = enc_varint(g, stamp->id_len);
		parts_add(e, &n, mark, (uint32_t)(g - mark));
		parts_add(e, &n, stamp->id, stamp->id_len);
		mark = g;
		if (stamp->epoch) {
			*g++ = TAG(2, 0);
			g = enc_varint(g, stamp->epoch);
		}
		if (stamp->sequence) {
			*g++ = TAG(3, 0);
			g = enc_varint(g, stamp->sequence);
		}
		if (index) {
			*g++ = TAG(4, 0);
			g = enc_varint(g, index);
		}
	}
	parts_add(e, &n, mark, (uint32_t)(g - mark));
	parts_add(e, &n, v->bytes + v->post_start, v->len - v->post_start);
	parts_close(e, n, 3);
	assert((size_t)(g - e->gen) <= sizeof(e->gen));
}

void event_parts_from_flat(struct event_parts *flat, const uint8_t *src,
			   const uint32_t glen[EVENT_GROUPS])
{
	for (uint32_t g = 0; g < EVENT_GROUPS; g++) {
		flat->ptr[g] = src;
		flat->len[g] = glen[g];
		flat->end[g] = (uint8_t)(g + 1);
		flat->glen[g] = glen[g];
		src += glen[g];
	}
}

void event_parts_flatten(const struct event_parts *e, uint8_t *dst, struct event_parts *flat)
{
	uint8_t *p = dst;

	for (uint32_t i = 0; i < e->end[EVENT_GROUPS - 1]; i++) {
		memcpy(p, e->ptr[i], e->len[i]);
		p += e->len[i];
	}
	event_parts_from_flat(flat, dst, e->glen);
}

/* The lengths the frame's prefixes carry at offset. */
struct frame_lens {
	uint32_t dist, event, body;
	uint64_t offset;
};

static void frame_lens(const struct event_parts *e, uint64_t offset, struct frame_lens *l)
{
	uint32_t off_bytes = offset ? 1 + enc_varint_size(offset) : 0;

	l->offset = offset;
	l->dist = e->glen[1] + off_bytes + e->glen[2];
	l->event = e->glen[0] + 1 + enc_varint_size(l->dist) + l->dist + e->glen[3];
	l->body = 1 + enc_varint_size(l->event) + l->event;
}

uint32_t event_frame_size(const struct event_parts *e, uint64_t offset)
{
	struct frame_lens l;

	frame_lens(e, offset, &l);
	return enc_varint_size(l.body) + l.body;
}

static uint8_t *group_write(const struct event_parts *e, uint32_t g, uint8_t *p)
{
	for (uint32_t i = g ? e->end[g - 1] : 0; i < e->end[g]; i++) {
		memcpy(p, e->ptr[i], e->len[i]);
		p += e->len[i];
	}
	return p;
}

uint32_t event_frame_write(const struct event_parts *e, uint64_t offset, uint8_t *dst,
			   uint32_t *crc)
{
	struct frame_lens l;
	uint8_t *p = dst;

	frame_lens(e, offset, &l);
	p = enc_varint(p, l.body);
	*p++ = TAG(1, 2);		/* ServerMessage.event */
	p = enc_varint(p, l.event);
	p = group_write(e, 0, p);
	*p++ = TAG(4, 2);		/* Event.distribution */
	p = enc_varint(p, l.dist);
	p = group_write(e, 1, p);
	if (offset) {
		*p++ = TAG(3, 0);	/* Distribution.offset */
		p = enc_varint(p, offset);
	}
	p = group_write(e, 2, p);
	p = group_write(e, 3, p);
	*crc = crc32c(0, dst, (size_t)(p - dst));	/* in cache: just written */
	return (uint32_t)(p - dst);
}

/* ---- reading a stored frame's key ---------------------------------------------------- */

void event_frame_key_at(const struct event_parts *e, uint64_t offset, const uint8_t *frame,
			const char **key, uint32_t *klen)
{
	struct frame_lens l;
	const uint8_t *p;
	uint32_t n = 0;

	frame_lens(e, offset, &l);
	/* Group 2 starts with the key: after the prefix, the event's tag and length, group
	 * 0, the distribution's tag and length, group 1 and the offset field. */
	p = frame + enc_varint_size(l.body) + 1 + enc_varint_size(l.event) + e->glen[0] + 1 +
	    enc_varint_size(l.dist) + e->glen[1] + (offset ? 1 + enc_varint_size(offset) : 0);
	assert(*p == TAG(4, 2));
	p++;
	for (uint32_t shift = 0; shift < 35; shift += 7) {	/* a key is < 2^32 bytes */
		n |= (uint32_t)(*p & 0x7f) << shift;
		if (!(*p++ & 0x80))
			break;
	}
	*key = (const char *)p;
	*klen = n;
}

int event_frame_key(const uint8_t *frame, uint32_t len, const char **key, uint32_t *klen)
{
	return frame_key(frame, len, key, klen);	/* core/: the last-value table reads it too */
}

/* ---- PublishAck ------------------------------------------------------------------------ */

struct ack_lens {
	size_t parts, offs, ack, body;
};

static void ack_lens(uint64_t sequence, uint32_t n, const uint32_t *partitions,
		     const uint64_t *offsets, struct ack_lens *l)
{
	l->parts = l->offs = 0;
	for (uint32_t i = 0; i < n; i++) {
		l->parts += enc_varint_size(partitions[i]);
		l->offs += enc_varint_size(offsets[i]);
	}
	l->ack = (sequence ? 1 + enc_varint_size(sequence) : 0) +
		 (n ? 2 + enc_varint_size(l->parts) + l->parts + enc_varint_size(l->offs) +
		  l->offs : 0);
	l->body = 1 + enc_varint_size(l->ack) + l->ack;
}

size_t ack_frame_size(uint64_t sequence, uint32_t n, const uint32_t *partitions,
		      const uint64_t *offsets)
{
	struct ack_lens l;

	ack_lens(sequence, n, partitions, offsets, &l);
	return enc_varint_size(l.body) + l.body;
}

size_t ack_frame_write(uint8_t *dst, uint64_t sequence, uint32_t n, const uint32_t *partitions,
		       const uint64_t *offsets)
{
	struct ack_lens l;
	uint8_t *p = dst;

	ack_lens(sequence, n, partitions, offsets, &l);
	p = enc_varint(p, l.body);
	*p++ = TAG(5, 2);		/* ServerMessage.publish_ack */
	p = enc_varint(p, l.ack);
	if (sequence) {
		*p++ = TAG(1, 0);
		p = enc_varint(p, sequence);
	}
	if (n) {
		*p++ = TAG(2, 2);
		p = enc_varint(p, l.parts);
		for (uint32_t i = 0; i < n; i++)
			p = enc_varint(p, partitions[i]);
		*p++ = TAG(3, 2);
		p = enc_varint(p, l.offs);
		for (uint32_t i = 0; i < n; i++)
			p = enc_varint(p, offsets[i]);
	}
	return (size_t)(p - dst);
}
