/* admin/path.c — see path.h. */
#include "admin/path.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

/* True when s starts with shape: 'd' a digit, anything else itself. */
static bool time_shape(const char *s, const char *shape)
{
	for (; *shape; s++, shape++)
		if (*shape == 'd' ? !(*s >= '0' && *s <= '9') : *s != *shape)
			return false;
	return true;
}

int time_parse(const char *s, int64_t *ns)
{
	int y, mo, d, h = 0, mi = 0, sec = 0, n = 0, off = 0;
	int64_t frac = 0, scale = 100000000;
	struct tm tm = { 0 };
	const char *p;
	time_t t;

	if (!*s)
		return -EINVAL;
	/* Nanoseconds since the epoch: digits only (a leading '-' for before 1970). */
	p = s + (*s == '-');
	if (*p && strspn(p, "0123456789") == strlen(p)) {
		errno = 0;
		long long v = strtoll(s, NULL, 10);

		if (errno)
			return -EINVAL;
		*ns = v;
		return 0;
	}
	if (!time_shape(s, "dddd-dd-dd") || sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 ||
	    n != 10)
		return -EINVAL;
	p = s + n;
	if (*p == 'T' || *p == 't' || *p == ' ') {
		if (!time_shape(p + 1, "dd:dd:dd") ||
		    sscanf(p + 1, "%2d:%2d:%2d%n", &h, &mi, &sec, &n) != 3 || n != 8)
			return -EINVAL;
		p += 1 + n;
		if (*p == '.') {
			if (!(p[1] >= '0' && p[1] <= '9'))
				return -EINVAL;
			for (p++; *p >= '0' && *p <= '9'; p++) {
				frac += (*p - '0') * scale;
				scale /= 10;	/* digits past nanoseconds are ignored */
			}
		}
		if (*p == 'Z' || *p == 'z') {
			p++;
		} else if (*p == '+' || *p == '-' || *p == ' ') {
			/* ' ': a '+' a URL's query turned into a space (send %2B). */
			int oh, om;

			if (!time_shape(p + 1, "dd:dd") ||
			    sscanf(p + 1, "%2d:%2d%n", &oh, &om, &n) != 2 || n != 5 || oh > 23 ||
			    om > 59)
				return -EINVAL;
			off = (oh * 60 + om) * 60 * (*p == '-' ? -1 : 1);
			p += 1 + n;
		} else {
			return -EINVAL;	/* RFC 3339 wants the offset */
		}
	}
	/* A leap second (:60) is refused: POSIX time has none to put it in. */
	if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 59)
		return -EINVAL;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = timegm(&tm);
	if (tm.tm_mday != d || tm.tm_mon != mo - 1)
		return -EINVAL;	/* February 30th and the like */
	t -= off;
	if (t > INT64_MAX / 1000000000 - 1 || t < INT64_MIN / 1000000000 + 1)
		return -ERANGE;
	*ns = (int64_t)t * 1000000000 + frac;
	return 0;
}

void time_format(int64_t ns, char *buf, size_t cap)
{
	int64_t s = ns / 1000000000, f = ns % 1000000000;
	time_t t;
	struct tm tm;

	if (f < 0) {	/* floor before the epoch */
		f += 1000000000;
		s--;
	}
	t = (time_t)s;
	if (!gmtime_r(&t, &tm)) {
		snprintf(buf, cap, "%s", "");
		return;
	}
	snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%09dZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)f);
}
