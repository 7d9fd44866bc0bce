/* core/ck_direct.c — the allocator shared by the direct-mode ck_ht tables. */
#include "core/ck_direct.h"

#include <stdlib.h>

static void *ck_direct_malloc(size_t n)
{
	return malloc(n);
}

static void ck_direct_free(void *p, size_t n, bool defer)
{
	(void)n;
	(void)defer;
	free(p);
}

struct ck_malloc ck_direct_allocator = { .malloc = ck_direct_malloc, .free = ck_direct_free };
