/* tests/fuzz/pattern_fuzz.c — core/pattern.c: compiling arbitrary bytes as a subject
 * pattern and matching arbitrary bytes as a routing key, against a slow reference written
 * here from pattern.h's definition (dotted tokens; "*" one token, a last ">" one or more).
 *
 * Input: a 16-bit pattern length, the pattern's bytes, then the key's bytes.
 * Checks: pattern_compile and pattern_key_check accept exactly what the reference accepts
 * (with a reason when they refuse); a compiled pattern keeps the text, its token count
 * and its exact/tail flags; for every key the reference accepts, pattern_match agrees with
 * the reference matcher, and an exact pattern matches only its own text; pattern_match
 * never reads outside the key, checked or not (ASan: the key sits in a buffer of exactly
 * its length). */
#include <stdlib.h>
#include <string.h>

#include "core/pattern.h"
#include "fuzz_util.h"

/* A token as the reference sees it. */
struct ref_tok {
	const char *s;
	size_t len;
};

#define REF_TOKENS_MAX 512u

/* Splits [s, s+len) at every '.', empty tokens included. Returns the count. */
static size_t ref_split(const char *s, size_t len, struct ref_tok *t)
{
	size_t n = 0, start = 0;

	for (size_t i = 0; i <= len; i++) {
		if (i < len && s[i] != '.')
			continue;
		if (n < REF_TOKENS_MAX)
			t[n] = (struct ref_tok){ s + start, i - start };
		n++;
		start = i + 1;
	}
	return n;
}

static bool ref_is(const struct ref_tok *t, char c)
{
	return t->len == 1 && t->s[0] == c;
}

static bool ref_has(const struct ref_tok *t, char c)
{
	return memchr(t->s, c, t->len) != NULL;
}

/* What pattern.h requires of both keys and patterns. */
static bool ref_shape_ok(const char *s, size_t len, const struct ref_tok *t, size_t n)
{
	if (len == 0 || len > PATTERN_BYTES_MAX || n > PATTERN_TOKENS_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] == 0x7f)
			return false;
	for (size_t i = 0; i < n; i++)
		if (t[i].len == 0)
			return false;
	return true;
}

static bool ref_key_ok(const char *s, size_t len, const struct ref_tok *t, size_t n)
{
	if (!ref_shape_ok(s, len, t, n))
		return false;
	for (size_t i = 0; i < n; i++)
		if (ref_has(&t[i], '*') || ref_has(&t[i], '>'))
			return false;
	return true;
}

static bool ref_pattern_ok(const char *s, size_t len, const struct ref_tok *t, size_t n)
{
	if (!ref_shape_ok(s, len, t, n))
		return false;
	for (size_t i = 0; i < n; i++) {
		if ((ref_has(&t[i], '*') && !ref_is(&t[i], '*')) ||
		    (ref_has(&t[i], '>') && !ref_is(&t[i], '>')))
			return false;
		if (ref_is(&t[i], '>') && i + 1 != n)
			return false;
	}
	return true;
}

static bool ref_match(const struct ref_tok *p, size_t np, const struct ref_tok *k, size_t nk)
{
	bool tail = ref_is(&p[np - 1], '>');
	size_t fixed = tail ? np - 1 : np;

	if (tail ? nk < np : nk != np)
		return false;
	for (size_t i = 0; i < fixed; i++)
		if (!ref_is(&p[i], '*') &&
		    (p[i].len != k[i].len || memcmp(p[i].s, k[i].s, k[i].len) != 0))
			return false;
	return true;
}

/* Compiles text and compares with the reference; returns whether it compiled. */
static bool pattern_check_compile(struct pattern *p, const char *text, size_t len,
				  const struct ref_tok *t, size_t n)
{
	const char *why = NULL;
	bool ok = pattern_compile(p, text, len, &why) == 0;

	FUZZ_CHECK(ok == ref_pattern_ok(text, len, t, n), "pattern_compile %s, reference %s",
		   ok ? "accepts" : "refuses", ok ? "refuses" : "accepts");
	if (!ok) {
		FUZZ_CHECK(why != NULL && why[0], "refused without a reason");
		return false;
	}
	FUZZ_CHECK(memcmp(p->text, text, len) == 0 && p->text[len] == '\0', "text not kept");
	FUZZ_CHECK(p->ntokens == n, "%u tokens, reference %zu", p->ntokens, n);
	FUZZ_CHECK(p->tail == ref_is(&t[n - 1], '>'), "tail flag wrong");
	FUZZ_CHECK(p->exact == !(p->tail || memchr(text, '*', len)), "exact flag wrong");
	return true;
}

/* Matches key against p, the key in a buffer of exactly its length. */
static bool pattern_check_match(const struct pattern *p, const struct ref_tok *pt, size_t np,
				const char *key, size_t klen)
{
	struct ref_tok kt[REF_TOKENS_MAX];
	size_t nk = ref_split(key, klen, kt);
	const char *why = NULL;
	char *copy = malloc(klen);
	bool key_ok = ref_key_ok(key, klen, kt, nk), m;

	FUZZ_CHECK(copy != NULL, "out of memory");
	memcpy(copy, key, klen);
	FUZZ_CHECK((pattern_key_check(copy, klen, &why) == 0) == key_ok,
		   "pattern_key_check %s, reference %s", key_ok ? "refuses" : "accepts",
		   key_ok ? "accepts" : "refuses");
	FUZZ_CHECK(key_ok || (why != NULL && why[0]), "key refused without a reason");
	m = p ? pattern_match(p, copy, klen) : false;
	free(copy);
	if (!p || !key_ok)
		return m;
	FUZZ_CHECK(m == ref_match(pt, np, kt, nk), "pattern_match %d, reference %d", m, !m);
	if (p->exact)
		FUZZ_CHECK(m == (strlen(p->text) == klen && memcmp(p->text, key, klen) == 0),
			   "exact pattern %s a different key", m ? "matches" : "misses");
	return m;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	struct ref_tok pt[REF_TOKENS_MAX];
	struct pattern p;
	size_t plen, np;
	const char *text = (const char *)fuzz_take(&in, fuzz_u16(&in) % 320u, &plen);
	bool compiled;

	np = ref_split(text, plen, pt);
	compiled = pattern_check_compile(&p, text, plen, pt, np);
	pattern_check_match(compiled ? &p : NULL, pt, np, (const char *)in.p, in.n);
	/* A pattern without wildcards is also a key, and matches itself. */
	if (compiled && !memchr(text, '*', plen) && !memchr(text, '>', plen))
		FUZZ_CHECK(pattern_check_match(&p, pt, np, text, plen),
			   "a pattern without wildcards misses its own text");
	return 0;
}
