/* core/frame.c — delimited frame codec. protobuf-c packs and unpacks the bodies; only the
 * varint length prefix, which protobuf-c does not expose, is coded here. */
#include "core/frame.h"

#include <errno.h>

size_t frame_varint_put(uint8_t *dst, uint32_t v)
{
	size_t i = 0;

	while (v >= 0x80) {
		dst[i++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	dst[i++] = (uint8_t)v;
	return i;
}

size_t frame_varint_size(uint32_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

/* Decodes the varint prefix: 1 with *body and *prefix set, 0 if incomplete, -errno. */
static int frame_prefix_decode(const uint8_t *p, size_t n, uint32_t max_body,
			       uint32_t *body, uint32_t *prefix)
{
	uint64_t len = 0;
	size_t i;

	for (i = 0; i < FRAME_PREFIX_MAX; i++) {
		if (i == n)
			return 0;
		len |= (uint64_t)(p[i] & 0x7f) << (7 * i);
		if (!(p[i] & 0x80))
			break;
	}
	if (i == FRAME_PREFIX_MAX)
		return -EBADMSG;	/* not a varint of at most 5 bytes */
	/* A readable length past the limit is too large, however large (2^32 - 1 too),
	 * and so is one whose frame would not fit a uint32. */
	if (len > max_body || len > UINT32_MAX - FRAME_PREFIX_MAX)
		return -EMSGSIZE;
	*body = (uint32_t)len;
	*prefix = (uint32_t)(i + 1);
	return 1;
}

int frame_prefix(const uint8_t *p, size_t n, uint32_t max_body, uint32_t *total)
{
	uint32_t body, prefix;
	int rc = frame_prefix_decode(p, n, max_body, &body, &prefix);

	if (rc > 0)
		*total = prefix + body;
	return rc;
}

int frame_parse(const uint8_t *p, size_t n, uint32_t max_body, struct frame_view *out)
{
	uint32_t body, prefix;
	int rc = frame_prefix_decode(p, n, max_body, &body, &prefix);

	if (rc <= 0)
		return rc;
	if (n - prefix < body)
		return 0;
	out->body = p + prefix;
	out->len = body;
	return (int)(prefix + body);
}

size_t frame_packed_size(const ProtobufCMessage *m)
{
	size_t body = protobuf_c_message_get_packed_size(m);

	return frame_varint_size((uint32_t)body) + body;
}

size_t frame_pack_sized(const ProtobufCMessage *m, size_t body, uint8_t *dst)
{
	size_t pre = frame_varint_put(dst, (uint32_t)body);

	return pre + protobuf_c_message_pack(m, dst + pre);
}

size_t frame_pack(const ProtobufCMessage *m, uint8_t *dst)
{
	return frame_pack_sized(m, protobuf_c_message_get_packed_size(m), dst);
}
