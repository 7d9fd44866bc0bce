/* core/pattern.h — routing keys and the patterns subscribers match them with, as NATS
 * subjects: dotted tokens ("AAPL.NASDAQ.trade"); in a pattern "*" matches one token and
 * ">" (last token only) one or more. Pure functions; any thread. */
#ifndef FANOUT_CORE_PATTERN_H
#define FANOUT_CORE_PATTERN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PATTERN_BYTES_MAX  255u	/* longest routing key or pattern */
#define PATTERN_TOKENS_MAX 32u	/* most tokens in a routing key or pattern */

struct pattern {
	char text[PATTERN_BYTES_MAX + 1];
	uint8_t ntokens;		/* tokens, the trailing ">" included */
	bool tail;			/* last token is ">" */
	bool exact;			/* no wildcard: matches one key, the text itself */
	uint8_t tok_off[PATTERN_TOKENS_MAX];
	uint8_t tok_len[PATTERN_TOKENS_MAX];
};

/* Checks a routing key: 1..PATTERN_BYTES_MAX bytes, at most PATTERN_TOKENS_MAX non-empty
 * tokens, no whitespace or control bytes, no "*" or ">" tokens. Returns 0, or -EINVAL
 * with *why set to a static reason. */
int pattern_key_check(const char *key, size_t len, const char **why);

/* Compiles text into *p. Returns 0, or -EINVAL with *why set to a static reason
 * (empty token, ">" not last, "*" inside a token, too long, ...). */
int pattern_compile(struct pattern *p, const char *text, size_t len, const char **why);

/* True when the routing key [key, key+len) matches p. The key need not be checked. */
bool pattern_match(const struct pattern *p, const char *key, size_t len);

#endif
