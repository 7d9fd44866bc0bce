/* tests/unit/admin/ws_accept_test.c — the handshake's answer (admin/ws_accept.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "admin/ws_accept.h"

/* RFC 6455 §1.3's own example. */
static void rfc_example(void **state)
{
	char out[WS_ACCEPT_BYTES];

	(void)state;
	assert_int_equal(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", out), 0);
	assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

static void bad_keys(void **state)
{
	char out[WS_ACCEPT_BYTES];

	(void)state;
	assert_int_equal(ws_accept_key(NULL, out), -1);
	assert_int_equal(ws_accept_key("", out), -1);
	assert_int_equal(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ=", out), -1);	/* 23 */
	assert_int_equal(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ===", out), -1);	/* 25 */
	assert_int_equal(ws_accept_key("dGhlIHNhbXBsZSBub25jZQAA", out), -1);	/* 18 bytes */
	assert_int_equal(ws_accept_key("dGhl!HNhbXBsZSBub25jZQ==", out), -1);	/* not base64 */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rfc_example),
		cmocka_unit_test(bad_keys),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
