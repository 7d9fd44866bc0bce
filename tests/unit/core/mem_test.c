/* tests/unit/core/mem_test.c — mem_map gives page-aligned, zeroed memory that is resident
 * before anything touches it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/mem.h"

static void mapped_memory_is_resident_and_zero(void **state)
{
	const size_t page = (size_t)sysconf(_SC_PAGESIZE), bytes = 64 * page + 100;
	size_t pages = (bytes + page - 1) / page;
	unsigned char *vec = malloc(pages);
	uint8_t *p = mem_map(bytes);

	(void)state;
	assert_non_null(vec);
	assert_non_null(p);
	assert_int_equal((uintptr_t)p % page, 0);
	assert_int_equal(mincore(p, bytes, vec), 0);
	for (size_t i = 0; i < pages; i++)
		assert_true(vec[i] & 1);	/* faulted in by the map, not by us */
	for (size_t i = 0; i < bytes; i += 997)
		assert_int_equal(p[i], 0);
	p[bytes - 1] = 1;		/* the rounded-up tail is ours too */
	mem_unmap(p, bytes);
	mem_unmap(NULL, 0);
	free(vec);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(mapped_memory_is_resident_and_zero),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
