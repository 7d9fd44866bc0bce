/* admin/path.c — see path.h. */
#include "admin/path.h"

#include <stdarg.h>
#include <string.h>

static int path_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int path_decode(const char *in, size_t len, char *out, size_t cap)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		char c = in[i];

		if (c == '%') {
			int hi = i + 2 < len ? path_hex(in[i + 1]) : -1;
			int lo = i + 2 < len ? path_hex(in[i + 2]) : -1;

			if (hi < 0 || lo < 0 || (hi | lo) == 0)
				return -1;	/* truncated, not hex, or %00 */
			c = (char)(hi << 4 | lo);
			i += 2;
		}
		if (o + 1 >= cap)
			return -1;
		out[o++] = c;
	}
	out[o] = '\0';
	return (int)o;
}

int path_split(const char *url, struct path *p)
{
	const char *s = url;

	p->n = 0;
	while (*s && *s != '?') {
		const char *end = s;

		while (*end && *end != '/' && *end != '?')
			end++;
		if (end > s) {
			if (p->n == PATH_SEGMENTS_MAX ||
			    path_decode(s, (size_t)(end - s), p->seg[p->n], PATH_SEGMENT_BYTES) < 0)
				return -1;
			p->n++;
		}
		s = *end == '/' ? end + 1 : end;
	}
	return 0;
}

int path_is(const struct path *p, ...)
{
	va_list ap;
	const char *want;
	uint32_t i = 0;
	int ok = 1;

	va_start(ap, p);
	while ((want = va_arg(ap, const char *))) {
		if (i >= p->n || (strcmp(want, "*") != 0 && strcmp(want, p->seg[i]) != 0))
			ok = 0;
		i++;
	}
	va_end(ap);
	return ok && i == p->n;
}
