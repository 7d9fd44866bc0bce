/* core/crc32c.h — CRC-32C (Castagnoli) over bytes, used to detect torn or corrupt log
 * frames. Hardware instruction when the CPU has SSE4.2, a table otherwise. Any thread. */
#ifndef FANOUT_CORE_CRC32C_H
#define FANOUT_CORE_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* CRC-32C of [p, p+n), continuing from crc (pass 0 to start). crc32c("123456789") is
 * 0xe3069283. */
uint32_t crc32c(uint32_t crc, const void *p, size_t n);

#endif
