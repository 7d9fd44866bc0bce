/* tests/unit/admin/path_test.c — admin/path.c (paths and percent-decoding), and the other
 * pure helpers of the admin plane: store_sql_expand, metrics_escape, the tools' segment
 * encoder. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "admin/metrics.h"
#include "admin/path.h"
#include "admin/store.h"
#include "tools/http_client.h"

static void decode(void **state)
{
	char out[16];

	(void)state;
	assert_int_equal(path_decode("a%2Fb", 5, out, sizeof(out)), 3);
	assert_string_equal(out, "a/b");
	assert_int_equal(path_decode("a+b%20c", 7, out, sizeof(out)), 5);
	assert_string_equal(out, "a+b c");
	assert_int_equal(path_decode("%2f%2F", 6, out, sizeof(out)), 2);
	assert_int_equal(path_decode("%zz", 3, out, sizeof(out)), -1);	/* not hex */
	assert_int_equal(path_decode("ab%2", 4, out, sizeof(out)), -1);	/* truncated */
	assert_int_equal(path_decode("%00", 3, out, sizeof(out)), -1);	/* NUL */
	assert_int_equal(path_decode("0123456789abcdef", 16, out, sizeof(out)), -1);	/* room */
	assert_int_equal(path_decode("", 0, out, sizeof(out)), 0);
}

static void split(void **state)
{
	struct path p;

	(void)state;
	assert_int_equal(path_split("/api/v1/topics/execution%2Ffills/stats?x=1", &p), 0);
	assert_int_equal(p.n, 5);
	assert_string_equal(p.seg[3], "execution/fills");
	assert_string_equal(p.seg[4], "stats");
	assert_true(path_is(&p, "api", "v1", "topics", "*", "stats", NULL));
	assert_false(path_is(&p, "api", "v1", "topics", "*", NULL));
	assert_int_equal(path_split("/healthz/", &p), 0);	/* a trailing slash */
	assert_int_equal(p.n, 1);
	assert_int_equal(path_split("//a//b", &p), 0);
	assert_int_equal(p.n, 2);
	assert_int_equal(path_split("/", &p), 0);
	assert_int_equal(p.n, 0);
	assert_int_equal(path_split("/a/%G0", &p), -1);
	assert_int_equal(path_split("/1/2/3/4/5/6/7/8/9", &p), -1);	/* too many */
}

static void sql_expand(void **state)
{
	char out[512];

	(void)state;
	assert_int_equal(store_sql_expand(STORE_SQLITE, "SELECT @ts(created_at), @bool(enabled), "
					  "@json(c) FROM t WHERE x = $1 AND y < @now", out,
					  sizeof(out)), 0);
	assert_string_equal(out, "SELECT created_at, enabled, c FROM t WHERE x = $1 AND y < "
			    "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')");
	assert_int_equal(store_sql_expand(STORE_PG, "SELECT @ts(a), @bool(b), @json(c), @now",
					  out, sizeof(out)), 0);
	assert_string_equal(out, "SELECT to_char(a AT TIME ZONE 'UTC', "
			    "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), CAST(b AS INTEGER), "
			    "CAST(c AS TEXT), now()");
	assert_int_equal(store_sql_expand(STORE_PG, "@nope(x)", out, sizeof(out)), -EINVAL);
	assert_int_equal(store_sql_expand(STORE_PG, "@ts(x", out, sizeof(out)), -EINVAL);
	assert_int_equal(store_sql_expand(STORE_PG, "@ts(created_at)", out, 10), -ENAMETOOLONG);
}

static void escape_and_encode(void **state)
{
	char out[64];

	(void)state;
	metrics_escape("a\"b\\c\nd", out, sizeof(out));
	assert_string_equal(out, "a\\\"b\\\\c\\nd");
	metrics_escape("market-data/eq", out, sizeof(out));
	assert_string_equal(out, "market-data/eq");
	assert_true(metrics_escape("\"\"\"\"\"\"", out, 8) < 8);	/* bounded */
	assert_int_equal(http_encode_segment("execution/fills", out, sizeof(out)), 17);
	assert_string_equal(out, "execution%2Ffills");
	assert_int_equal(http_encode_segment("a b?", out, sizeof(out)), 8);
	assert_string_equal(out, "a%20b%3F");
	assert_int_equal(http_encode_segment("////", out, 8), -1);
}

static void times(void **state)
{
	int64_t t;
	char buf[48];

	(void)state;
	assert_int_equal(time_parse("1764925200000000001", &t), 0);
	assert_int_equal(t, 1764925200000000001ll);
	assert_int_equal(time_parse("-5", &t), 0);
	assert_int_equal(t, -5);
	assert_int_equal(time_parse("2025-12-05T09:00:00Z", &t), 0);
	assert_int_equal(t, 1764925200000000000ll);
	assert_int_equal(time_parse("2025-12-05T09:00:00.000000001Z", &t), 0);
	assert_int_equal(t, 1764925200000000001ll);
	assert_int_equal(time_parse("2025-12-05T10:30:00.5+01:30", &t), 0);
	assert_int_equal(t, 1764925200500000000ll);
	assert_int_equal(time_parse("2025-12-05", &t), 0);
	assert_int_equal(t, 1764892800000000000ll);
	assert_int_equal(time_parse("2025-12-05T09:00:00", &t), -EINVAL);	/* no offset */
	assert_int_equal(time_parse("2025-02-30T00:00:00Z", &t), -EINVAL);
	assert_int_equal(time_parse("2025-13-01", &t), -EINVAL);
	assert_int_equal(time_parse("2025-12-05T09:00:00Zx", &t), -EINVAL);
	assert_int_equal(time_parse("2025-12-05T09:00:00.Z", &t), -EINVAL);
	assert_int_equal(time_parse("99999999999999999999", &t), -EINVAL);
	assert_int_equal(time_parse("", &t), -EINVAL);
	assert_int_equal(time_parse("yesterday", &t), -EINVAL);
	assert_int_equal(time_parse("2026-+1-05", &t), -EINVAL);	/* digits only */
	assert_int_equal(time_parse("2025-12-05T23:59:60Z", &t), -EINVAL);	/* no leap second */
	assert_int_equal(time_parse("2025-12-05T12:00:60Z", &t), -EINVAL);
	assert_int_equal(time_parse("2025-12-05T10:30:00.5 01:30", &t), 0);	/* '+' as a URL's space */
	assert_int_equal(t, 1764925200500000000ll);
	time_format(1764925200000000001ll, buf, sizeof(buf));
	assert_string_equal(buf, "2025-12-05T09:00:00.000000001Z");
	time_format(-1, buf, sizeof(buf));
	assert_string_equal(buf, "1969-12-31T23:59:59.999999999Z");
	assert_int_equal(time_parse(buf, &t), 0);
	assert_int_equal(t, -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(decode),
		cmocka_unit_test(split),
		cmocka_unit_test(sql_expand),
		cmocka_unit_test(escape_and_encode),
		cmocka_unit_test(times),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
