/* core/mem.c — prefaulted anonymous mappings. */
#include "core/mem.h"

#include <sys/mman.h>

void *mem_map(size_t bytes)
{
	/* MAP_POPULATE write-faults a private writable mapping: real pages, not the zero
	 * page, so the first store does not fault either. */
	void *p = mmap(NULL, bytes ? bytes : 1, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

void mem_unmap(void *p, size_t bytes)
{
	if (p)
		munmap(p, bytes ? bytes : 1);
}
