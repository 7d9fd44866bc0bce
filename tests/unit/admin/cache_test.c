/* tests/unit/admin/cache_test.c — the Redis cache's URL: host, port, database, password
 * and ACL user taken apart; every malformed form refused with the flag's shape. (The
 * connection itself is tested against a real redis-server: integration/data_cache.) */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "admin/cache.h"

static void urls(void **state)
{
	static const char *const bad[] = {
		"http://h:1", "redis://", "redis://h:0", "redis://h:65536", "redis://h:12x",
		"redis://h/x", "redis://h/-1", "redis://pw@h", "redis://:@", NULL,
	};
	struct cache k;
	const char *why = "";

	(void)state;
	assert_int_equal(cache_init(&k, "", &why), 0);
	assert_false(k.on);
	assert_int_equal(cache_init(&k, "redis://127.0.0.1", &why), 0);
	assert_true(k.on);
	assert_string_equal(k.host, "127.0.0.1");
	assert_int_equal(k.port, 6379);
	assert_int_equal(k.db, 0);
	assert_string_equal(k.password, "");
	assert_int_equal(cache_init(&k, "redis://:s3cret@cache.local:7000/4", &why), 0);
	assert_string_equal(k.host, "cache.local");
	assert_int_equal(k.port, 7000);
	assert_int_equal(k.db, 4);
	assert_string_equal(k.user, "");
	assert_string_equal(k.password, "s3cret");
	assert_null(strstr(k.where, "s3cret"));	/* what the log shows */
	assert_int_equal(cache_init(&k, "redis://fanout:p:w@h:1/", &why), 0);
	assert_string_equal(k.user, "fanout");
	assert_string_equal(k.password, "p:w");
	for (int i = 0; bad[i]; i++) {
		why = "";
		assert_int_equal(cache_init(&k, bad[i], &why), -EINVAL);
		assert_non_null(strstr(why, "redis://"));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = { cmocka_unit_test(urls) };

	return cmocka_run_group_tests(tests, NULL, NULL);
}
