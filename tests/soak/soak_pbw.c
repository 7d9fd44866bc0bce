/* tests/soak/soak_pbw.c — see soak_pbw.h. */
#include "tests/soak/soak_pbw.h"

#include <stdlib.h>
#include <string.h>

static void reserve(struct pbw *b, size_t n)
{
	size_t cap = b->cap ? b->cap : 256;
	uint8_t *p;

	if (b->len + n <= b->cap)
		return;
	while (cap < b->len + n)
		cap *= 2;
	p = realloc(b->p, cap);
	if (!p)
		abort();
	b->p = p;
	b->cap = cap;
}

void pbw_reset(struct pbw *b)
{
	b->len = 0;
}

void pbw_free(struct pbw *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

void pbw_raw(struct pbw *b, const void *p, size_t n)
{
	if (n == 0)
		return;
	reserve(b, n);
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

void pbw_varint(struct pbw *b, uint64_t v)
{
	reserve(b, 10);
	do {
		uint8_t c = v & 0x7f;

		v >>= 7;
		b->p[b->len++] = v ? c | 0x80 : c;
	} while (v);
}

void pbw_uint(struct pbw *b, uint32_t field, uint64_t v)
{
	pbw_varint(b, (uint64_t)field << 3);
	pbw_varint(b, v);
}

void pbw_bytes(struct pbw *b, uint32_t field, const void *p, size_t n)
{
	pbw_varint(b, (uint64_t)field << 3 | 2);
	pbw_varint(b, n);
	pbw_raw(b, p, n);
}

void pbw_str(struct pbw *b, uint32_t field, const char *s)
{
	pbw_bytes(b, field, s, strlen(s));
}

void pbw_msg(struct pbw *b, uint32_t field, const struct pbw *sub)
{
	pbw_bytes(b, field, sub->p, sub->len);
}

void pbw_frame(struct pbw *out, const struct pbw *body)
{
	pbw_varint(out, body->len);
	pbw_raw(out, body->p, body->len);
}
