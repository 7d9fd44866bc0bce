/* tests/unit/core/frame_test.c — the delimited frame codec: fragmented, concatenated,
 * truncated, oversize and garbage input. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "core/frame.h"
#include "fanout.pb-c.h"

static void varint_round_trip(void **state)
{
	const uint32_t vals[] = { 0, 1, 127, 128, 300, 16383, 16384, 1u << 21, 1u << 28,
				  UINT32_MAX };
	uint8_t buf[FRAME_PREFIX_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		size_t n = frame_varint_put(buf, vals[i]);
		uint32_t total = 0;

		assert_int_equal(n, frame_varint_size(vals[i]));
		assert_true(n >= 1 && n <= FRAME_PREFIX_MAX);
		/* The prefix alone decodes to prefix + value when the limit allows it. */
		if (vals[i] <= UINT32_MAX - FRAME_PREFIX_MAX) {
			assert_int_equal(frame_prefix(buf, n, UINT32_MAX, &total), 1);
			assert_int_equal(total, n + vals[i]);
		}
	}
	assert_int_equal(frame_varint_put(buf, 300), 2);
	assert_int_equal(buf[0], 0xac);
	assert_int_equal(buf[1], 0x02);
}

/* A real ClientMessage frame, as a client would send it. */
static size_t make_ping_frame(uint8_t *buf, uint64_t nonce)
{
	Fanout__V1__ClientMessage m = FANOUT__V1__CLIENT_MESSAGE__INIT;
	Fanout__V1__Ping p = FANOUT__V1__PING__INIT;

	p.nonce = nonce;
	m.body_case = FANOUT__V1__CLIENT_MESSAGE__BODY_PING;
	m.ping = &p;
	assert_true(frame_packed_size(&m.base) < 64);
	return frame_pack(&m.base, buf);
}

static void concatenated_frames(void **state)
{
	uint8_t buf[256];
	size_t n = 0, at = 0;
	struct frame_view fv;
	uint64_t seen = 0;

	(void)state;
	for (uint64_t i = 1; i <= 5; i++)
		n += make_ping_frame(buf + n, i * 1000);
	while (at < n) {
		int rc = frame_parse(buf + at, n - at, 1024, &fv);
		Fanout__V1__ClientMessage *m;

		assert_true(rc > 0);
		m = fanout__v1__client_message__unpack(NULL, fv.len, fv.body);
		assert_non_null(m);
		assert_int_equal(m->ping->nonce, (seen + 1) * 1000);
		fanout__v1__client_message__free_unpacked(m, NULL);
		seen++;
		at += (size_t)rc;
	}
	assert_int_equal(seen, 5);
	assert_int_equal(at, n);
}

static void fragmented_frame(void **state)
{
	uint8_t body[3000], buf[3100];
	struct frame_view fv;
	size_t pre;

	(void)state;
	memset(body, 0x5a, sizeof(body));
	pre = frame_varint_put(buf, sizeof(body));
	memcpy(buf + pre, body, sizeof(body));
	/* Every strict prefix of the frame asks for more; the whole frame parses. */
	for (size_t cut = 0; cut < pre + sizeof(body); cut += (cut < 8 ? 1 : 97))
		assert_int_equal(frame_parse(buf, cut, 4096, &fv), 0);
	assert_int_equal(frame_parse(buf, pre + sizeof(body), 4096, &fv), (int)(pre + sizeof(body)));
	assert_int_equal(fv.len, sizeof(body));
	assert_ptr_equal(fv.body, buf + pre);
}

static void truncated_prefix(void **state)
{
	const uint8_t partial[] = { 0x80, 0x80 };
	struct frame_view fv;
	uint32_t total;

	(void)state;
	assert_int_equal(frame_parse(partial, sizeof(partial), 1024, &fv), 0);
	assert_int_equal(frame_prefix(partial, sizeof(partial), 1024, &total), 0);
	assert_int_equal(frame_parse(partial, 0, 1024, &fv), 0);
}

static void oversize_frame(void **state)
{
	uint8_t buf[8];
	struct frame_view fv;
	size_t n = frame_varint_put(buf, 1025);

	(void)state;
	assert_int_equal(frame_parse(buf, n, 1024, &fv), -EMSGSIZE);
	n = frame_varint_put(buf, 1024);
	assert_int_equal(frame_parse(buf, n, 1024, &fv), 0);	/* allowed, needs the body */
}

static void garbage_prefix(void **state)
{
	const uint8_t six_continuations[] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0x01 };
	const uint8_t too_big[] = { 0xff, 0xff, 0xff, 0xff, 0x1f };	/* > 2^32 */
	struct frame_view fv;

	(void)state;
	assert_int_equal(frame_parse(six_continuations, sizeof(six_continuations), UINT32_MAX, &fv),
			 -EBADMSG);
	/* A readable length is too large, not malformed, however large. */
	assert_int_equal(frame_parse(too_big, sizeof(too_big), UINT32_MAX, &fv), -EMSGSIZE);
}

static void garbage_body_is_not_a_message(void **state)
{
	/* Field 1 as a length-delimited field claiming 100 bytes it does not have. */
	const uint8_t body[] = { 0x0a, 0x64, 0x01 };

	(void)state;
	assert_null(fanout__v1__client_message__unpack(NULL, sizeof(body), body));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(varint_round_trip),
		cmocka_unit_test(concatenated_frames),
		cmocka_unit_test(fragmented_frame),
		cmocka_unit_test(truncated_prefix),
		cmocka_unit_test(oversize_frame),
		cmocka_unit_test(garbage_prefix),
		cmocka_unit_test(garbage_body_is_not_a_message),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
