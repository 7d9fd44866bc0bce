/* core/pattern.c — tokenising and matching routing keys against subject patterns. */
#include "core/pattern.h"

#include <errno.h>
#include <string.h>

/* Splits s into tokens. Returns the count, or -1 with *why set. */
static int pattern_tokenise(const char *s, size_t len, uint8_t *off, uint8_t *tlen,
			    const char **why)
{
	size_t start = 0;
	int n = 0;

	if (len == 0) {
		*why = "empty";
		return -1;
	}
	if (len > PATTERN_BYTES_MAX) {
		*why = "longer than 255 bytes";
		return -1;
	}
	for (size_t i = 0; i <= len; i++) {
		if (i < len && s[i] != '.') {
			unsigned char c = (unsigned char)s[i];

			if (c <= ' ' || c == 0x7f) {
				*why = "contains whitespace or a control byte";
				return -1;
			}
			continue;
		}
		if (i == start) {
			*why = "has an empty token";
			return -1;
		}
		if (n == (int)PATTERN_TOKENS_MAX) {
			*why = "has more than 32 tokens";
			return -1;
		}
		off[n] = (uint8_t)start;
		tlen[n] = (uint8_t)(i - start);
		n++;
		start = i + 1;
	}
	return n;
}

static bool pattern_token_has(const char *s, uint8_t len, char c)
{
	return memchr(s, c, len) != NULL;
}

int pattern_key_check(const char *key, size_t len, const char **why)
{
	bool wildcard = false, token = false;	/* in a token that has a byte */
	uint32_t tokens = 0;

	/* One pass, on the ingest hot path: the tokeniser's verdicts as pattern_tokenise
	 * gives them (the first by position), a wildcard only when there is none. */
	if (len == 0) {
		*why = "empty";
		return -EINVAL;
	}
	if (len > PATTERN_BYTES_MAX) {
		*why = "longer than 255 bytes";
		return -EINVAL;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)key[i];

		if (c == '.') {
			if (!token) {
				*why = "has an empty token";
				return -EINVAL;
			}
			token = false;
			continue;
		}
		if (c <= ' ' || c == 0x7f) {
			*why = "contains whitespace or a control byte";
			return -EINVAL;
		}
		if (!token && ++tokens > PATTERN_TOKENS_MAX) {
			*why = "has more than 32 tokens";
			return -EINVAL;
		}
		wildcard |= c == '*' || c == '>';
		token = true;
	}
	if (!token) {
		*why = "has an empty token";
		return -EINVAL;
	}
	if (wildcard) {
		*why = "contains a wildcard ('*' or '>')";
		return -EINVAL;
	}
	return 0;
}

int pattern_compile(struct pattern *p, const char *text, size_t len, const char **why)
{
	int n = pattern_tokenise(text, len, p->tok_off, p->tok_len, why);

	if (n < 0)
		return -EINVAL;
	for (int i = 0; i < n; i++) {
		const char *t = text + p->tok_off[i];
		uint8_t tl = p->tok_len[i];

		if ((pattern_token_has(t, tl, '*') && tl != 1) ||
		    (pattern_token_has(t, tl, '>') && tl != 1)) {
			*why = "'*' and '>' must be whole tokens";
			return -EINVAL;
		}
		if (t[0] == '>' && tl == 1 && i != n - 1) {
			*why = "'>' may only be the last token";
			return -EINVAL;
		}
	}
	memcpy(p->text, text, len);
	p->text[len] = '\0';
	p->ntokens = (uint8_t)n;
	p->tail = p->text[p->tok_off[n - 1]] == '>' && p->tok_len[n - 1] == 1;
	p->exact = !p->tail;
	for (int i = 0; i < n && p->exact; i++)
		p->exact = !(p->tok_len[i] == 1 && p->text[p->tok_off[i]] == '*');
	return 0;
}

bool pattern_match(const struct pattern *p, const char *key, size_t len)
{
	size_t pos = 0;
	unsigned fixed = p->ntokens - (p->tail ? 1u : 0u);

	for (unsigned i = 0; i < fixed; i++) {
		const char *t = p->text + p->tok_off[i];
		const char *dot;
		size_t kl;

		if (pos >= len)	/* the key has no token left for this one */
			return false;
		dot = memchr(key + pos, '.', len - pos);
		kl = dot ? (size_t)(dot - (key + pos)) : len - pos;
		if (!(p->tok_len[i] == 1 && t[0] == '*') &&
		    (kl != p->tok_len[i] || memcmp(t, key + pos, kl) != 0))
			return false;
		pos += kl + 1;	/* past the token and its dot (or one past the end) */
	}
	if (p->tail)
		return pos < len;	/* ">" needs at least one more token */
	return pos == len + 1;		/* every key token consumed, no more left */
}
