/* tests/soak/soak_check.h — the verdict. After the run the driver restarts fanoutd once
 * more and reads the soak topic back whole, from the earliest offset, with a fresh
 * subscriber (soak_log_read); then every acknowledged event must be in the log exactly
 * once — more only when its publisher sent it more than once, counted apart — where its
 * ack said, offsets dense, per-key order kept, nothing foreign; and every subscriber and
 * ring reader must have been delivered every acknowledged event it was owed: matching
 * its patterns, at or after the offsets its first subscription started from (a killed
 * and resumed subscriber still owes everything after its last offset). Driver only, once
 * every client has stopped. */
#ifndef FANOUT_TESTS_SOAK_CHECK_H
#define FANOUT_TESTS_SOAK_CHECK_H

#include <stdint.h>

#include "tests/soak/soak_state.h"

#define SOAK_FOREIGN UINT64_MAX	/* a log entry no soak publisher made */

struct soak_log {
	uint64_t n[SOAK_PARTS_MAX];	/* events per partition (the tails) */
	uint64_t *id[SOAK_PARTS_MAX];	/* per offset: pub << 48 | seq, or SOAK_FOREIGN */
	uint8_t *fp[SOAK_PARTS_MAX];	/* per offset: soak_fp of its event id */
	uint8_t *occ[SOAK_PUBS_MAX];	/* per (pub, seq): copies in the log (saturating) */
};

struct soak_verdict {
	/* the log */
	uint64_t log_events, foreign, density, log_order, log_content;
	uint64_t stored_resend_copies;	/* extra copies of events sent more than once */
	uint64_t stored_duplicates;	/* more copies than sends: a real duplicate */
	/* the publishers */
	uint64_t acked, unacked, acked_missing, ack_mismatch;
	/* the subscribers and ring readers */
	uint64_t owed, delivered, losses, gaps, sub_content, sub_unowed;
	uint64_t never_started;		/* subscribers that never got a subscription */
	uint64_t first_loss_sub, first_loss_pub, first_loss_seq;	/* for the report */
};

/* Reads the soak topic whole from a running server into log (arrays allocated), checking
 * offsets dense and each event's key and topic. Returns 0, or -errno when it cannot
 * (server unreachable, stream ended early: then nothing may be concluded). */
int soak_log_read(const struct soak_cfg *c, const struct soak_shared *sh, struct soak_log *log,
		  struct soak_verdict *v);
void soak_log_free(struct soak_log *log);

/* Publishers' acks against the log, then subscribers' deliveries against both. */
void soak_check(const struct soak_cfg *c, const struct soak_shared *sh,
		const struct soak_log *log, struct soak_verdict *v);

/* For the drain: per partition, 1 + the highest offset of an acknowledged event
 * subscriber i is owed (0 where none). Publishers must have stopped. */
void soak_owed_high(const struct soak_cfg *c, const struct soak_shared *sh, uint32_t i,
		    uint64_t *high);

#endif
