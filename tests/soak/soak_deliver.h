/* tests/soak/soak_deliver.h — what a subscriber or ring reader does with each event it
 * receives: checks it (per-partition offsets, per-key order, duplicates told apart from
 * copies a publisher resent after losing an ack, patterns, key) and records it where the
 * final check finds it. Runs in the client's process, on its own struct soak_sub.
 *
 * Crash safety: a record is written in an order that a SIGKILL between any two stores
 * leaves repairable: the offset's fingerprint first, then the seen bit and the key's
 * newest seq, then next[] last. A successor resumes at next[], so the event comes again;
 * its fingerprint is already there, and the record is completed without counting it
 * twice. */
#ifndef FANOUT_TESTS_SOAK_DELIVER_H
#define FANOUT_TESTS_SOAK_DELIVER_H

#include <stddef.h>
#include <stdint.h>

#include "fanout.pb-c.h"
#include "tests/soak/soak_state.h"

/* What one connection or ring handle has delivered so far: per partition, 1 + the last
 * offset (0 none). Offsets must rise on it, skipped ones included. */
struct soak_stream_pos {
	uint64_t last[SOAK_PARTS_MAX];
};

/* One event e delivered at (part, off), on stream sp. */
void soak_deliver(const struct soak_ctx *x, struct soak_sub *s, struct soak_stream_pos *sp,
		  uint32_t part, uint64_t off, const Fanout__V1__Event *e);

/* True when a subscriber's patterns take publisher pub's key k. */
bool soak_owes_key(const struct soak_sub *s, uint32_t pub, uint32_t k);

/* The start offsets for a resume: next[p] for every partition p (what lies below a
 * partition's own next[] was delivered already). Returns the bits of the partitions that
 * hold keys the subscriber takes: their logs end at or after next[p], so the server must
 * start them exactly there; the others hold nothing it is owed, so a start clamped to an
 * end before next[p] is fine. A key's partition is the one its publisher's acks named (a
 * key that moves fails the soak); while a key it takes has no ack yet, every partition
 * counts. */
uint32_t soak_resume_offsets(const struct soak_ctx *x, const struct soak_sub *s,
			     uint64_t *starts);

/* Records the first subscription's start positions (what the subscriber is owed from). */
void soak_sub_begin(const struct soak_cfg *c, struct soak_sub *s, const uint64_t *starts);

#endif
