/* core/mem.h — memory the hot path uses, mapped and faulted in at start-up. A page fault
 * in the receive or decode path costs microseconds; paying it once here also makes the
 * server's footprint fixed from the first event (which the slow-consumer test relies on). */
#ifndef FANOUT_CORE_MEM_H
#define FANOUT_CORE_MEM_H

#include <stddef.h>

/* Returns bytes (rounded up to whole pages) of zeroed, resident, page-aligned memory,
 * or NULL with errno set. Start-up only. */
void *mem_map(size_t bytes);

/* Releases what mem_map returned; NULL is ignored. */
void mem_unmap(void *p, size_t bytes);

#endif
