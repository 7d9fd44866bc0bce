/* shm/ring_format.h — the shared-memory ring's layout, exactly as shm/FORMAT.md describes
 * it, shared by the writer (shm/ring_writer.c) and the consumer library. Every field that
 * crosses processes is checked here with static_assert: size, offset, and which cache line
 * it sits on (writer-written and reader-written fields never share one).
 *
 * Concurrency: the header identity is written once before magic (release); the writer
 * line is written only by the writer; each reader slot only by its owner; waiters by any
 * reader (atomic read-modify-write). */
#ifndef FANOUT_SHM_RING_FORMAT_H
#define FANOUT_SHM_RING_FORMAT_H

#include <assert.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define SHM_RING_MAGIC        0x4D485354554F4E46ull	/* "FNOUTSHM" little-endian */
#define SHM_RING_VERSION      1u
#define SHM_LINE_BYTES        64u
#define SHM_PAGE_BYTES        4096u
#define SHM_HEADER_BYTES      4096u
#define SHM_READER_AREA_BYTES 8192u
#define SHM_SLOTS_OFFSET      SHM_HEADER_BYTES
#define SHM_JOURNAL_OFFSET    (SHM_SLOTS_OFFSET + SHM_READER_AREA_BYTES)
#define SHM_SLOT_COUNT        64u
#define SHM_RECORD_ALIGN      64u
#define SHM_TOPIC_BYTES       256u
#define SHM_DATA_DIR_BYTES    1024u
#define SHM_CAPACITY_MIN      (64ull << 10)
#define SHM_CAPACITY_MAX      (64ull << 30)
#define SHM_JOURNAL_MIN       1024ull
#define SHM_JOURNAL_MAX       (1ull << 30)
/* Partitions a ring may name (TOPIC_PARTITIONS_MAX is 1024 today; room to grow). */
#define SHM_PARTITIONS_MAX    65536u

/* header.state */
#define SHM_STATE_OPEN   1u
#define SHM_STATE_CLOSED 2u

/* header.flags */
#define SHM_FLAG_MEMFD   0x1u	/* served as two sealed memfds (FORMAT.md), not a file */

/* slot.flags */
#define SHM_SLOT_SLEEPING 0x1u

struct shm_ring_header {
	/* Identity: written once, before magic. */
	_Atomic uint64_t magic;	/* stored last, with release order */
	uint32_t version;
	uint32_t header_bytes;
	uint64_t file_bytes;
	uint64_t capacity;
	uint64_t journal_entries;
	uint64_t slots_offset;
	uint64_t journal_offset;
	uint64_t data_offset;
	uint32_t record_align;
	uint32_t record_header_bytes;
	uint32_t journal_entry_bytes;
	uint32_t slot_count;
	uint32_t slot_bytes;
	uint32_t partitions;
	uint32_t writer_pid;
	uint32_t flags;
	uint64_t writer_start_ticks;
	uint64_t create_ns;
	uint8_t reserved0[16];
	char topic[SHM_TOPIC_BYTES];
	char data_dir[SHM_DATA_DIR_BYTES];
	uint8_t reserved1[640];
	/* The writer line: the only header bytes that change after creation. */
	alignas(SHM_LINE_BYTES) _Atomic uint64_t write_seq;
	_Atomic uint64_t write_pos;
	_Atomic uint64_t reserve_seq;
	_Atomic uint64_t reserve_pos;
	_Atomic uint32_t wake;
	_Atomic uint32_t state;
	uint8_t reserved2[24];
	uint8_t reserved3[SHM_HEADER_BYTES - 2112];
};

struct shm_reader_slot {
	_Atomic uint64_t owner;
	uint64_t start_ticks;
	_Atomic uint64_t seq;
	_Atomic uint64_t pos;
	_Atomic uint64_t heartbeat_ns;
	_Atomic uint64_t lost;
	_Atomic uint64_t recovered;
	uint32_t pid;
	_Atomic uint32_t flags;
};

struct shm_reader_area {
	alignas(SHM_LINE_BYTES) _Atomic uint32_t waiters;
	uint8_t reserved0[SHM_LINE_BYTES - 4];
	struct shm_reader_slot slots[SHM_SLOT_COUNT];
	uint8_t reserved1[SHM_READER_AREA_BYTES - SHM_LINE_BYTES * (1 + SHM_SLOT_COUNT)];
};

struct shm_journal_entry {
	uint64_t seq;
	uint64_t offset;
	uint64_t pos;
	uint32_t partition;
	uint32_t frame_len;
};

struct shm_record {
	uint32_t frame_len;	/* 0 = padding to the end of the lap */
	uint32_t partition;
	uint64_t seq;
	uint64_t offset;
	uint64_t recv_ns;
	/* frame_len bytes of frame follow */
};

/* The layout is the format: any change here is a new SHM_RING_VERSION. */
static_assert(sizeof(_Atomic uint64_t) == 8 && sizeof(_Atomic uint32_t) == 4,
	      "atomics are plain words in the file");
static_assert(offsetof(struct shm_ring_header, version) == 8, "header layout");
static_assert(offsetof(struct shm_ring_header, capacity) == 24, "header layout");
static_assert(offsetof(struct shm_ring_header, data_offset) == 56, "header layout");
static_assert(offsetof(struct shm_ring_header, record_align) == 64, "header layout");
static_assert(offsetof(struct shm_ring_header, writer_pid) == 88, "header layout");
static_assert(offsetof(struct shm_ring_header, writer_start_ticks) == 96, "header layout");
static_assert(offsetof(struct shm_ring_header, create_ns) == 104, "header layout");
static_assert(offsetof(struct shm_ring_header, topic) == 128, "header layout");
static_assert(offsetof(struct shm_ring_header, data_dir) == 384, "header layout");
static_assert(offsetof(struct shm_ring_header, write_seq) == 2048, "writer line");
static_assert(offsetof(struct shm_ring_header, write_pos) == 2056, "writer line");
static_assert(offsetof(struct shm_ring_header, reserve_seq) == 2064, "writer line");
static_assert(offsetof(struct shm_ring_header, reserve_pos) == 2072, "writer line");
static_assert(offsetof(struct shm_ring_header, wake) == 2080, "writer line");
static_assert(offsetof(struct shm_ring_header, state) == 2084, "writer line");
static_assert(offsetof(struct shm_ring_header, write_seq) % SHM_LINE_BYTES == 0 &&
	      offsetof(struct shm_ring_header, state) / SHM_LINE_BYTES ==
	      offsetof(struct shm_ring_header, write_seq) / SHM_LINE_BYTES,
	      "the writer line is one cache line of its own");
static_assert(sizeof(struct shm_ring_header) == SHM_HEADER_BYTES, "header is one page");

static_assert(sizeof(struct shm_reader_slot) == SHM_LINE_BYTES, "a slot is one cache line");
static_assert(offsetof(struct shm_reader_slot, heartbeat_ns) == 32, "slot layout");
static_assert(offsetof(struct shm_reader_slot, pid) == 56, "slot layout");
static_assert(offsetof(struct shm_reader_area, waiters) == 0, "reader area layout");
static_assert(offsetof(struct shm_reader_area, slots) == SHM_LINE_BYTES,
	      "waiters has a line of its own, slots start on the next");
static_assert(sizeof(struct shm_reader_area) == SHM_READER_AREA_BYTES, "reader area size");
static_assert(SHM_SLOTS_OFFSET % SHM_PAGE_BYTES == 0 && SHM_JOURNAL_OFFSET % SHM_PAGE_BYTES == 0,
	      "readers map the reader area read-write by itself: page aligned");

static_assert(sizeof(struct shm_journal_entry) == 32, "journal entry layout");
static_assert(offsetof(struct shm_journal_entry, partition) == 24, "journal entry layout");
static_assert(SHM_JOURNAL_MIN * sizeof(struct shm_journal_entry) % SHM_PAGE_BYTES == 0,
	      "the data area starts on a page");

static_assert(sizeof(struct shm_record) == 32, "record header layout");
static_assert(offsetof(struct shm_record, recv_ns) == 24, "record header layout");
static_assert(sizeof(struct shm_record) < SHM_RECORD_ALIGN,
	      "a padding header fits in any aligned gap at the end of a lap");

/* The seqlock's fences (FORMAT.md: "Writing one record", "Reading"). ThreadSanitizer does
 * not model standalone fences and GCC rejects them under it (-Wtsan): its builds get a
 * compiler barrier instead. They only run tests in which no record is overwritten while it
 * is read, so the fences order nothing TSan checks there, and on x86 (TSO), where they
 * run, acquire and release fences are compiler barriers anyway. */
#ifdef __SANITIZE_THREAD__
#define SHM_FENCE(order) atomic_signal_fence(order)
#else
#define SHM_FENCE(order) atomic_thread_fence(order)
#endif

/* Bytes a record with frame_len bytes of frame takes in the data area. */
static inline uint64_t shm_record_bytes(uint32_t frame_len)
{
	return ((uint64_t)sizeof(struct shm_record) + frame_len + SHM_RECORD_ALIGN - 1) &
	       ~(uint64_t)(SHM_RECORD_ALIGN - 1);
}

/* Largest record a ring of this capacity takes (shm/FORMAT.md: capacity / 4). */
static inline uint64_t shm_record_bytes_max(uint64_t capacity)
{
	return capacity / 4;
}

static inline uint64_t shm_data_offset(uint64_t journal_entries)
{
	return SHM_JOURNAL_OFFSET + journal_entries * sizeof(struct shm_journal_entry);
}

static inline int shm_is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

#endif
