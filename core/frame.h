/* core/frame.h — the delimited frame codec: a base-128 varint length, then that many
 * bytes of protobuf. Pure functions over caller memory; any thread may call them. */
#ifndef FANOUT_CORE_FRAME_H
#define FANOUT_CORE_FRAME_H

#include <stddef.h>
#include <stdint.h>
#include <protobuf-c/protobuf-c.h>

/* A uint32 length needs at most 5 varint bytes; a longer prefix is never valid here. */
#define FRAME_PREFIX_MAX 5u

/* Default and hard upper bound of one frame's body, in bytes. */
#define FRAME_BYTES_DEFAULT (1u << 20)
#define FRAME_BYTES_LIMIT   (64u << 20)

struct frame_view {
	const uint8_t *body;	/* the protobuf bytes, inside the caller's buffer */
	uint32_t len;		/* body length */
};

/* Writes v as a varint to dst (room for FRAME_PREFIX_MAX bytes). Returns bytes written. */
size_t frame_varint_put(uint8_t *dst, uint32_t v);

/* Bytes frame_varint_put would write for v. */
size_t frame_varint_size(uint32_t v);

/* Reads the length prefix at the start of [p, p+n). Returns 1 and sets *total to the
 * whole frame's bytes (prefix + body); 0 when the prefix is incomplete; -EBADMSG or
 * -EMSGSIZE as frame_parse. */
int frame_prefix(const uint8_t *p, size_t n, uint32_t max_body, uint32_t *total);

/* Parses one frame at the start of [p, p+n).
 * Returns the bytes the whole frame takes (prefix + body) and fills *out;
 * 0 when more bytes are needed; -EBADMSG when the prefix is not a varint of at most
 * FRAME_PREFIX_MAX bytes; -EMSGSIZE when the body would exceed max_body (or the frame
 * 2^32 - 1 bytes).
 * After either error the stream cannot be resynchronised. */
int frame_parse(const uint8_t *p, size_t n, uint32_t max_body, struct frame_view *out);

/* Bytes frame_pack needs for m: prefix plus packed message. */
size_t frame_packed_size(const ProtobufCMessage *m);

/* Packs m, prefixed with its length, into dst (frame_packed_size(m) bytes of room).
 * Returns the bytes written. */
size_t frame_pack(const ProtobufCMessage *m, uint8_t *dst);

/* As frame_pack, for a caller that already has the body size from
 * protobuf_c_message_get_packed_size (which walks the whole message). */
size_t frame_pack_sized(const ProtobufCMessage *m, size_t body, uint8_t *dst);

#endif
