/* shm/shm_log.h — read-only access to the server's partition logs (shm/FORMAT.md,
 * appendix) for a lapped reader's recovery: finds the segment holding an offset, maps its
 * .idx and .log read-only, and returns the frame. One mapped segment per partition is
 * kept (recovery reads offsets in order, so it is almost always the right one).
 * Not thread-safe: one per reader handle. Functions return 0 or -errno. */
#ifndef FANOUT_SHM_LOG_H
#define FANOUT_SHM_LOG_H

#include <stddef.h>
#include <stdint.h>

/* The on-disk constants, as core/log.h has them (tests/shm/layout_test.c compares). */
#define SHM_LOG_INDEX_MAGIC   0x5849544f4e414646ull	/* "FFANOTIX" */
#define SHM_LOG_INDEX_VERSION 3u
#define SHM_LOG_HEADER_BYTES  64u
#define SHM_LOG_ENTRY_BYTES   96u
#define SHM_LOG_NAME_DIGITS   20u
/* Field offsets in an index entry and header that recovery reads. */
#define SHM_LOG_ENTRY_POS     0u
#define SHM_LOG_ENTRY_LEN     4u
#define SHM_LOG_ENTRY_RECV_NS 16u
#define SHM_LOG_HDR_VERSION   8u
#define SHM_LOG_HDR_ENTRY_BYTES 12u
#define SHM_LOG_HDR_BASE      16u
#define SHM_LOG_HDR_LOG_BYTES 24u
#define SHM_LOG_HDR_CAPACITY  32u

struct shm_log;

/* A frame read back from a log: a pointer into a read-only mapping, valid until the next
 * shm_log_fetch for the same partition or shm_log_close. */
struct shm_log_frame {
	const uint8_t *frame;	/* varint prefix + ServerMessage body */
	uint32_t len;
	uint64_t recv_ns;
};

/* Prepares reading the logs of topic's partitions under data_dir. Maps nothing yet.
 * Returns 0, -EINVAL (partitions 0 or too many), -ENAMETOOLONG or -ENOMEM. */
int shm_log_open(struct shm_log **out, const char *data_dir, const char *topic,
		 uint32_t partitions);

void shm_log_close(struct shm_log *l);

/* Reads (partition, offset), expecting frame_len bytes (the journal's length), and checks
 * that the frame is an Event with that partition and offset. Returns 0; -ENOENT when the
 * log no longer (or never) holds the offset; -EUCLEAN when the files disagree with the
 * format or the journal; or another -errno from opening or mapping. why (whylen bytes)
 * says what happened, for the reader's error message. */
int shm_log_fetch(struct shm_log *l, uint32_t partition, uint64_t offset, uint32_t frame_len,
		  struct shm_log_frame *out, char *why, size_t whylen);

#endif
