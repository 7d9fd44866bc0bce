/* tests/unit/admin/node_test.c — admin/node.c: the node id, configured or
 * HOSTNAME:DATA_DIR (absolute, cleaned, its tail kept when too long). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin/node.h"

static void configured_wins(void **state)
{
	char id[101];

	(void)state;
	node_id_resolve("edge-1", "/nonexistent", id, sizeof(id));
	assert_string_equal(id, "edge-1");
}

static void default_is_host_and_absolute_dir(void **state)
{
	char id[101], host[256] = "", cwd[PATH_MAX], want[PATH_MAX + 300];

	(void)state;
	assert_int_equal(gethostname(host, sizeof(host) - 1), 0);
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	node_id_resolve("", ".", id, sizeof(id));
	snprintf(want, sizeof(want), "%s:%s", host, cwd);
	if (strlen(want) < sizeof(id) && !strpbrk(want, " \t"))
		assert_string_equal(id, want);
	assert_non_null(strchr(id, ':'));
}

static void cleaned_and_cut_to_the_tail(void **state)
{
	char id[101], dir[300];

	(void)state;
	memset(dir, 'd', sizeof(dir) - 1);
	dir[0] = '/';
	memcpy(dir + sizeof(dir) - 8, "/a b'c", 7);	/* 299 bytes, the tail odd */
	node_id_resolve("", dir, id, sizeof(id));
	assert_int_equal(strlen(id), 100);
	assert_string_equal(id + 94, "/a_b_c");
	for (const char *p = id; *p; p++)
		assert_non_null(strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				       "0123456789._:/@-", *p));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(configured_wins),
		cmocka_unit_test(default_is_host_and_absolute_dir),
		cmocka_unit_test(cleaned_and_cut_to_the_tail),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
