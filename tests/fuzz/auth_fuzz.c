/* tests/fuzz/auth_fuzz.c — core/auth.c's parsers against references written here from
 * auth.h's contract: topic patterns (check and match), token text, and verification.
 *
 * Input: a pattern (up to the first NUL), a topic name (up to the next NUL), then the
 * rest as a presented token.
 * Checks: auth_pattern_check accepts exactly the patterns the reference finds valid
 * (1..200 bytes of topic-name characters and wildcards, no empty segment, a wildcard only
 * as a whole segment, ">" last) and names a reason when it refuses; for a valid pattern,
 * auth_pattern_match agrees with a recursive segment matcher on the topic (any bytes);
 * auth_token_parse accepts exactly "fo_" + 12 lowercase hex + "_" + 43 base64url and
 * gives the id back; auth_verify finds a set's token for its own text and for nothing
 * else the fuzzer writes. */
#include <errno.h>
#include <string.h>

#include "core/auth.h"
#include "fuzz_util.h"

#define SEGS_MAX 256u

struct segs {
	const char *p[SEGS_MAX];
	size_t len[SEGS_MAX];
	size_t n;
};

/* Splits s[0..n) at '/' (empty segments kept). False when there are too many. */
static bool split(const char *s, size_t n, struct segs *out)
{
	size_t start = 0;

	out->n = 0;
	for (size_t i = 0; i <= n; i++) {
		if (i < n && s[i] != '/')
			continue;
		if (out->n == SEGS_MAX)
			return false;
		out->p[out->n] = s + start;
		out->len[out->n++] = i - start;
		start = i + 1;
	}
	return true;
}

static bool ref_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-' || c == '*' || c == '>';
}

static bool ref_valid(const char *pat, size_t n)
{
	struct segs s;

	if (n == 0 || n > AUTH_PATTERN_MAX || !split(pat, n, &s))
		return false;
	for (size_t i = 0; i < s.n; i++) {
		if (s.len[i] == 0)
			return false;
		for (size_t k = 0; k < s.len[i]; k++) {
			char c = s.p[i][k];

			if (!ref_char_ok(c) || ((c == '*' || c == '>') && s.len[i] != 1))
				return false;
		}
		if (s.p[i][0] == '>' && i + 1 != s.n)
			return false;
	}
	return true;
}

static bool ref_match(const struct segs *p, size_t pi, const struct segs *t, size_t ti)
{
	if (pi == p->n)
		return ti == t->n;
	if (p->len[pi] == 1 && p->p[pi][0] == '>')
		return ti < t->n && !(ti + 1 == t->n && t->len[ti] == 0);
	if (ti == t->n)
		return false;
	if (p->len[pi] == 1 && p->p[pi][0] == '*') {
		if (t->len[ti] == 0)
			return false;
	} else if (p->len[pi] != t->len[ti] || memcmp(p->p[pi], t->p[ti], t->len[ti]) != 0) {
		return false;
	}
	return ref_match(p, pi + 1, t, ti + 1);
}

static bool ref_token_shape(const char *s, size_t n)
{
	if (n != AUTH_TOKEN_LEN || memcmp(s, "fo_", 3) != 0 || s[15] != '_')
		return false;
	for (size_t i = 3; i < 15; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	for (size_t i = 16; i < n; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_'))
			return false;
	return true;
}

static struct auth g_auth;
static char g_text[AUTH_TOKEN_LEN + 1];

static void once(void)
{
	struct auth_token t = { .role = AUTH_ROLE_CLIENT };
	struct auth_set *set;

	FUZZ_CHECK(auth_init(&g_auth, true) == 0, "auth_init");
	auth_token_generate(g_text, t.id, t.hash);
	strcpy(t.name, "fuzz");
	set = auth_set_new();
	FUZZ_CHECK(set && auth_set_add(&g_auth, set, &t) == 0, "auth_set_add");
	auth_swap(&g_auth, set);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	const char *in = (const char *)data;
	const char *z1 = memchr(in, 0, size), *topic, *z2, *tok;
	char pat[AUTH_PATTERN_MAX + 64], id[AUTH_ID_LEN + 1];
	uint8_t hash[AUTH_HASH_BYTES];
	size_t plen, tlen, klen;
	const char *why = NULL;
	bool valid;

	if (!ready) {
		once();
		ready = true;
	}
	plen = z1 ? (size_t)(z1 - in) : size;
	topic = z1 ? z1 + 1 : in + size;
	z2 = memchr(topic, 0, (size_t)(in + size - topic));
	tlen = z2 ? (size_t)(z2 - topic) : (size_t)(in + size - topic);
	tok = z2 ? z2 + 1 : in + size;
	klen = (size_t)(in + size - tok);

	/* Patterns: auth_pattern_check takes a C string, so longer ones are cut (and a cut
	 * one over 200 bytes must still be refused). */
	if (plen >= sizeof(pat))
		plen = sizeof(pat) - 1;
	memcpy(pat, in, plen);
	pat[plen] = '\0';
	valid = ref_valid(pat, plen);
	FUZZ_CHECK((auth_pattern_check(pat, &why) == 0) == valid, "pattern '%s': check says %s",
		   pat, valid ? "invalid" : "valid");
	FUZZ_CHECK(valid || (why && why[0]), "a refusal without a reason");
	if (valid) {
		struct segs p, t;

		if (split(pat, plen, &p) && split(topic, tlen, &t))
			FUZZ_CHECK(auth_pattern_match(pat, topic, tlen) == ref_match(&p, 0, &t, 0),
				   "pattern '%s' on topic '%.*s': match disagrees", pat, (int)tlen,
				   topic);
	}

	/* Tokens. */
	valid = ref_token_shape(tok, klen);
	FUZZ_CHECK((auth_token_parse(tok, klen, id, hash) == 0) == valid,
		   "token of %zu bytes: parse disagrees", klen);
	if (valid)
		FUZZ_CHECK(memcmp(id, tok + 3, AUTH_ID_LEN) == 0 && id[AUTH_ID_LEN] == '\0',
			   "token id");
	FUZZ_CHECK((auth_verify(auth_current(&g_auth), tok, klen) != NULL) ==
		   (klen == AUTH_TOKEN_LEN && memcmp(tok, g_text, klen) == 0),
		   "verify accepted a token that is not the set's");
	FUZZ_CHECK(auth_verify(auth_current(&g_auth), g_text, AUTH_TOKEN_LEN) != NULL,
		   "verify refused the set's own token");
	return 0;
}
