/* tests/soak/soak_pbw.h — a protobuf writer by hand, for the hostile client: protobuf-c
 * packs C strings with strlen, so a string holding a NUL, invalid UTF-8 or a length that
 * lies can only be written field by field. The buffer grows with realloc (a test client,
 * not the server's data path); a failed allocation aborts the hostile client. */
#ifndef FANOUT_TESTS_SOAK_PBW_H
#define FANOUT_TESTS_SOAK_PBW_H

#include <stddef.h>
#include <stdint.h>

struct pbw {
	uint8_t *p;
	size_t len, cap;
};

void pbw_reset(struct pbw *b);
void pbw_free(struct pbw *b);
void pbw_raw(struct pbw *b, const void *p, size_t n);
void pbw_varint(struct pbw *b, uint64_t v);
/* A varint field (wire type 0). */
void pbw_uint(struct pbw *b, uint32_t field, uint64_t v);
/* A length-delimited field (wire type 2) holding n bytes at p. */
void pbw_bytes(struct pbw *b, uint32_t field, const void *p, size_t n);
void pbw_str(struct pbw *b, uint32_t field, const char *s);
/* A length-delimited field holding the message in sub. */
void pbw_msg(struct pbw *b, uint32_t field, const struct pbw *sub);
/* out = varint(len of body) + body: one delimited frame. */
void pbw_frame(struct pbw *out, const struct pbw *body);

#endif
