/* tests/fuzz/frame_fuzz.c — core/frame.c's delimited-frame reader, fed a byte stream in
 * fuzzer-chosen chunks the way a connection receives it.
 *
 * Input: a byte choosing the body limit, a 32-bit value for the varint round trip, a
 * count of chunk lengths and the lengths (bytes), then the stream (the last chunk is
 * whatever is left). After each chunk every complete frame is taken from a buffer
 * holding exactly the unconsumed bytes received so far.
 * Checks: frame_parse agrees with a reference decoder written here (length, prefix
 * bytes, "need more", -EBADMSG, -EMSGSIZE); every frame returned has the body length its
 * prefix says, at most the limit, its body inside the buffer right after the prefix;
 * bytes consumed never exceed bytes received; frame_prefix agrees with frame_parse; and
 * the frames and the final state are the same as when the stream arrives in one piece;
 * and frame_varint_put/frame_varint_size/frame_prefix round-trip the 32-bit value. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/frame.h"
#include "fuzz_util.h"

#define FRAME_FUZZ_CHUNKS_MAX 64u
#define FRAME_FUZZ_FRAMES_MAX 4096u

/* Where the stream ended up: the frames taken, the bytes consumed, and how it stopped
 * (0: waiting for more bytes, else frame_parse's error). */
struct frame_run {
	uint32_t nframes;
	uint32_t frame_pos[FRAME_FUZZ_FRAMES_MAX];	/* stream position of each frame */
	uint32_t frame_len[FRAME_FUZZ_FRAMES_MAX];	/* its body length */
	size_t consumed;
	int end;
};

/* The reference: the varint definition and frame.h's contract, written out independently
 * of core/frame.c. Returns the whole frame's bytes, 0 when more are needed, -EBADMSG (no
 * varint of at most 5 bytes) or -EMSGSIZE (a readable length past the limit, or one whose
 * frame would not fit a uint32: 2^32 - 1 and 35-bit values too). */
static long ref_parse(const uint8_t *p, size_t n, uint32_t max_body, uint32_t *body)
{
	size_t k, end = n < FRAME_PREFIX_MAX ? n : FRAME_PREFIX_MAX;
	uint64_t v = 0;

	for (k = 0; k < end && (p[k] & 0x80); k++)
		;
	if (k == end)	/* no final varint byte among the first min(n, 5) */
		return n >= FRAME_PREFIX_MAX ? -EBADMSG : 0;
	for (size_t i = 0; i <= k; i++)
		v += (uint64_t)(p[i] & 0x7f) << (7 * i);
	if (v > max_body || v > UINT32_MAX - FRAME_PREFIX_MAX)
		return -EMSGSIZE;
	*body = (uint32_t)v;
	return n - (k + 1) < v ? 0 : (long)(k + 1 + v);
}

/* Parses what is buffered: [pos, fed) of the stream, copied to a buffer of exactly that
 * size so that reading past it is an ASan error. Returns false once the stream failed. */
static bool frame_drain(const uint8_t *stream, size_t fed, uint32_t max_body,
			struct frame_run *run)
{
	for (;;) {
		size_t avail = fed - run->consumed;
		uint8_t *buf = malloc(avail);	/* malloc(0) too: any read of it is caught */
		struct frame_view v = { 0 };
		uint32_t ref_body = 0, total = 0;
		long ref;
		int rc, prc;

		FUZZ_CHECK(buf != NULL, "out of memory");
		memcpy(buf, stream + run->consumed, avail);
		rc = frame_parse(buf, avail, max_body, &v);
		ref = ref_parse(buf, avail, max_body, &ref_body);
		prc = frame_prefix(buf, avail, max_body, &total);
		FUZZ_CHECK(rc == ref, "frame_parse %d, reference %ld at %zu (%zu bytes buffered)",
			   rc, ref, run->consumed, avail);
		if (rc < 0)
			FUZZ_CHECK(prc == rc, "frame_prefix %d, frame_parse %d", prc, rc);
		else if (rc > 0)
			FUZZ_CHECK(prc == 1 && total == (uint32_t)rc,
				   "frame_prefix %d total %u, frame_parse %d", prc, total, rc);
		else
			FUZZ_CHECK(prc == 0 || (prc == 1 && total > avail),
				   "frame_prefix %d total %u with %zu bytes, frame_parse 0", prc,
				   total, avail);
		if (rc > 0) {
			size_t prefix = (size_t)rc - v.len;

			FUZZ_CHECK((size_t)rc <= avail, "frame of %d bytes from %zu", rc, avail);
			FUZZ_CHECK(v.len == ref_body && v.len <= max_body,
				   "body %u, prefix says %u, limit %u", v.len, ref_body, max_body);
			FUZZ_CHECK(prefix >= 1 && prefix <= FRAME_PREFIX_MAX && v.body == buf + prefix,
				   "body not right after a %zu-byte prefix", prefix);
			FUZZ_CHECK(frame_varint_size(v.len) <= prefix, "prefix shorter than minimal");
			if (run->nframes < FRAME_FUZZ_FRAMES_MAX) {
				run->frame_pos[run->nframes] = (uint32_t)run->consumed;
				run->frame_len[run->nframes] = v.len;
			}
			run->nframes++;
			run->consumed += (size_t)rc;
		}
		free(buf);
		FUZZ_CHECK(run->consumed <= fed, "consumed %zu of %zu", run->consumed, fed);
		if (rc < 0)
			run->end = rc;
		if (rc <= 0)
			return rc == 0;
	}
}

/* Feeds stream in the given chunks (the rest of it last) and records what came out. */
static void frame_feed(const uint8_t *stream, size_t n, const uint8_t *cuts, size_t ncuts,
		       uint32_t max_body, struct frame_run *run)
{
	size_t fed = 0;

	memset(run, 0, sizeof(*run));
	for (size_t i = 0; i <= ncuts; i++) {
		size_t chunk = i < ncuts ? cuts[i] : n - fed;

		fed += chunk < n - fed ? chunk : n - fed;
		if (!frame_drain(stream, fed, max_body, run))
			return;
	}
}

static void varint_round_trip(uint32_t v)
{
	uint8_t buf[FRAME_PREFIX_MAX];
	size_t n = frame_varint_put(buf, v);
	uint32_t total = 0;

	FUZZ_CHECK(n == frame_varint_size(v) && n >= 1 && n <= FRAME_PREFIX_MAX,
		   "varint of %u: %zu bytes, size says %zu", v, n, frame_varint_size(v));
	if (v <= UINT32_MAX - FRAME_PREFIX_MAX)
		FUZZ_CHECK(frame_prefix(buf, n, UINT32_MAX, &total) == 1 && total == n + v,
			   "varint of %u does not decode back", v);
}

static uint32_t max_body_pick(struct fuzz_in *in)
{
	static const uint32_t limits[] = { 0, 1, 2, 127, 128, 300, 16383, 16384,
					   FRAME_BYTES_DEFAULT, FRAME_BYTES_LIMIT, UINT32_MAX };
	uint8_t c = fuzz_u8(in);

	return c < 0xf0 ? limits[c % (sizeof(limits) / sizeof(limits[0]))] : fuzz_u32(in);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct frame_run chunked, whole;
	struct fuzz_in in = { data, size };
	uint32_t max_body = max_body_pick(&in);
	uint32_t value = fuzz_u32(&in);
	size_t ncuts;
	const uint8_t *cuts = fuzz_take(&in, fuzz_u8(&in) % (FRAME_FUZZ_CHUNKS_MAX + 1), &ncuts);

	varint_round_trip(value);
	frame_feed(in.p, in.n, cuts, ncuts, max_body, &chunked);
	frame_feed(in.p, in.n, NULL, 0, max_body, &whole);
	FUZZ_CHECK(chunked.nframes == whole.nframes && chunked.consumed == whole.consumed &&
		   chunked.end == whole.end,
		   "in chunks: %u frames, %zu bytes, end %d; whole: %u frames, %zu bytes, end %d",
		   chunked.nframes, chunked.consumed, chunked.end, whole.nframes, whole.consumed,
		   whole.end);
	for (uint32_t i = 0; i < chunked.nframes && i < FRAME_FUZZ_FRAMES_MAX; i++)
		FUZZ_CHECK(chunked.frame_pos[i] == whole.frame_pos[i] &&
			   chunked.frame_len[i] == whole.frame_len[i], "frame %u differs", i);
	return 0;
}
