/* admin/path.h — request paths and query strings, decoded by us, not by libmicrohttpd:
 * topic names hold '/', so a path is split on '/' first and each segment percent-decoded
 * after ("/api/v1/topics/execution%2Ffills/stats" is the topic "execution/fills" and the
 * resource "stats"). Pure functions; any thread. */
#ifndef FANOUT_ADMIN_PATH_H
#define FANOUT_ADMIN_PATH_H

#include <stddef.h>
#include <stdint.h>

#define PATH_SEGMENTS_MAX 8u
#define PATH_SEGMENT_BYTES 256u	/* a decoded segment (topic names are <= 200) */

struct path {
	uint32_t n;
	char seg[PATH_SEGMENTS_MAX][PATH_SEGMENT_BYTES];
};

/* Percent-decodes [in, in+len) into out (cap bytes, NUL-terminated). '+' stays '+'.
 * Returns the decoded length, or -1 for a bad escape, a decoded NUL, or no room. */
int path_decode(const char *in, size_t len, char *out, size_t cap);

/* Splits an (undecoded) URL path into decoded segments; empty segments (a trailing '/')
 * are dropped. Stops at '?'. Returns 0, or -1 for a bad escape or too many / too long
 * segments. */
int path_split(const char *url, struct path *p);

/* True when p is exactly the given segments (NULL-terminated list); "*" matches any one
 * segment. */
int path_is(const struct path *p, ...);

/* A time as a query gives it: nanoseconds since the epoch (digits, maybe a leading '-'),
 * a date (YYYY-MM-DD: its midnight UTC), or RFC 3339 (YYYY-MM-DDTHH:MM:SS[.frac] and Z
 * or +HH:MM). Returns 0, or -EINVAL / -ERANGE. */
int time_parse(const char *s, int64_t *ns);

/* ns since the epoch as RFC 3339 UTC with nanoseconds ("2026-12-05T09:30:00.000000001Z");
 * cap >= 32. */
void time_format(int64_t ns, char *buf, size_t cap);

#endif
