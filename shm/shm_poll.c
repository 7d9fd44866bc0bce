/* shm/shm_poll.c — reading records: the ring path (a pointer into the ring, checked
 * seqlock-style against the writer's reservation), and the journal path a lapped reader
 * takes (each missed record read back from the partition log, or reported lost), in
 * sequence order. shm/FORMAT.md: "Reading" and "Recovery after a lap". */
#include "shm/shm_internal.h"

#include "shm/wire.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* True when nothing of [pos, pos + capacity) has been overwritten, nor is being: the
 * writer stores reserve_pos before touching a byte of the next lap. The acquire fence
 * orders every read of the record before this load (the seqlock's second check). */
static bool ring_intact(const struct fanout_shm *r, uint64_t pos)
{
	SHM_FENCE(memory_order_acquire);
	return atomic_load_explicit(&r->h->reserve_pos, memory_order_relaxed) <= pos + r->capacity;
}

/* The same for journal entry seq. */
static bool journal_intact(const struct fanout_shm *r, uint64_t seq)
{
	SHM_FENCE(memory_order_acquire);
	return atomic_load_explicit(&r->h->reserve_seq, memory_order_relaxed) <=
	       seq + r->journal_entries;
}

static void publish_progress(struct fanout_shm *r)
{
	atomic_store_explicit(&r->slot->seq, r->seq, memory_order_relaxed);
	atomic_store_explicit(&r->slot->pos, r->pos, memory_order_relaxed);
}

static void enter_journal(struct fanout_shm *r)
{
	r->journal_mode = true;
}

/* Fills body/body_len from frame; false when the prefix does not match the length. */
static bool rec_body(struct fanout_shm_record *rec)
{
	uint32_t prefix, body;

	if (shm_wire_prefix(rec->frame, rec->frame_len, &prefix, &body) != 1 ||
	    (uint64_t)prefix + body != rec->frame_len)
		return false;
	rec->body = rec->frame + prefix;
	rec->body_len = body;
	return true;
}

static int corrupt(struct fanout_shm *r, const char *what)
{
	shm_reader_say(r, "%s: record %" PRIu64 " at byte %" PRIu64 ": %s", r->path, r->seq,
		       r->pos, what);
	return -FANOUT_SHM_E_CORRUPT;
}

/* One step in ring mode. */
static int ring_step(struct fanout_shm *r, struct fanout_shm_record *rec)
{
	const struct shm_record *src = (const struct shm_record *)(r->data + (r->pos & r->mask));
	uint64_t wpos = r->wpos_seen;
	struct shm_record hdr;

	/* Bytes below a write_pos loaded with acquire are visible: reload only when there (or
	 * past it: a jump back from the journal or over padding). */
	if (r->pos >= wpos) {
		wpos = r->wpos_seen = atomic_load_explicit(&r->h->write_pos, memory_order_acquire);
		if (r->pos >= wpos)	/* nothing yet (past it: the position is on its way) */
			return FANOUT_SHM_NONE;
	}
	memcpy(&hdr, src, sizeof(hdr));
	/* One check after the read covers a lap before it too: reserve_pos only grows. */
	if (!ring_intact(r, r->pos)) {
		r->st.laps++;
		enter_journal(r);
		return SHM_RETRY;
	}
	if (hdr.seq != r->seq)
		return corrupt(r, "sequence out of step");
	if (hdr.frame_len == 0) {	/* padding: the record is at the next lap's start */
		r->pos = (r->pos | r->mask) + 1;
		return SHM_RETRY;
	}
	if (shm_record_bytes(hdr.frame_len) > r->record_max ||
	    r->pos + shm_record_bytes(hdr.frame_len) > wpos ||
	    (r->pos & r->mask) + shm_record_bytes(hdr.frame_len) > r->capacity)
		return corrupt(r, "length out of range");
	memset(rec, 0, sizeof(*rec));
	rec->frame = (const uint8_t *)(src + 1);
	rec->frame_len = hdr.frame_len;
	rec->partition = hdr.partition;
	rec->offset = hdr.offset;
	rec->recv_ns = hdr.recv_ns;
	rec->seq = hdr.seq;
	if (!rec_body(rec))
		return ring_intact(r, r->pos) ? corrupt(r, "frame prefix does not match its length")
					      : SHM_RETRY;
	r->pending = SHM_PENDING_RING;
	r->pending_next_pos = r->pos + shm_record_bytes(hdr.frame_len);
	return FANOUT_SHM_EVENT;
}

/* Reports the records whose journal entries were overwritten before this reader got to
 * them: the journal still holds [reserve_seq - journal_entries, ...). */
static int journal_gap(struct fanout_shm *r, struct fanout_shm_record *rec, uint64_t first)
{
	memset(rec, 0, sizeof(*rec));
	rec->seq = r->seq;
	rec->lost = first - r->seq;
	r->st.lost_unknown += rec->lost;
	atomic_fetch_add_explicit(&r->slot->lost, rec->lost, memory_order_relaxed);
	shm_reader_say(r, "%s: lapped past the journal: %" PRIu64 " events lost (sequences %"
		       PRIu64 "..%" PRIu64 "), offsets unknown", r->path, rec->lost, r->seq,
		       first - 1);
	r->seq = first;
	publish_progress(r);
	return FANOUT_SHM_GAP;
}

/* Reads record e from the log, or reports it lost (offset known). */
static int log_step(struct fanout_shm *r, const struct shm_journal_entry *e,
		    struct fanout_shm_record *rec)
{
	struct shm_log_frame f;
	char why[384] = "no data directory to recover from";
	int rc = r->log ? shm_log_fetch(r->log, e->partition, e->offset, e->frame_len, &f, why,
					sizeof(why)) : -ENOENT;

	memset(rec, 0, sizeof(*rec));
	rec->partition = e->partition;
	rec->offset = e->offset;
	rec->seq = e->seq;
	if (rc == 0) {
		rec->frame = f.frame;
		rec->frame_len = f.len;
		rec->recv_ns = f.recv_ns;
		rec->flags = FANOUT_SHM_RECOVERED;
		if (rec_body(rec)) {
			r->pending = SHM_PENDING_LOG;
			return FANOUT_SHM_EVENT;
		}
		snprintf(why, sizeof(why), "the log's frame prefix does not match its length");
	}
	rec->frame = NULL;
	rec->frame_len = 0;
	rec->flags = FANOUT_SHM_OFFSET_KNOWN;
	rec->lost = 1;
	r->st.lost_known++;
	atomic_fetch_add_explicit(&r->slot->lost, 1, memory_order_relaxed);
	shm_reader_say(r, "lost partition %" PRIu32 " offset %" PRIu64 ": %s", e->partition,
		       e->offset, why);
	r->seq++;
	publish_progress(r);
	return FANOUT_SHM_GAP;
}

/* One step in journal mode: the next missed record from the log, a gap, or back to the
 * ring once the next record is still there with room to spare. */
static int journal_step(struct fanout_shm *r, struct fanout_shm_record *rec)
{
	uint64_t wseq = atomic_load_explicit(&r->h->write_seq, memory_order_acquire);
	uint64_t rseq = atomic_load_explicit(&r->h->reserve_seq, memory_order_relaxed);
	struct shm_journal_entry e;

	if (r->seq >= wseq)
		return FANOUT_SHM_NONE;
	if (rseq > r->seq + r->journal_entries)
		return journal_gap(r, rec, rseq - r->journal_entries);
	memcpy(&e, &r->journal[r->seq & r->journal_mask], sizeof(e));
	if (!journal_intact(r, r->seq))
		return SHM_RETRY;	/* overwritten while read: the next step reports it */
	if (e.seq != r->seq || e.frame_len == 0)
		return corrupt(r, "journal entry out of step");
	/* A position from the shared file is used only inside the data area. */
	if (e.pos % SHM_RECORD_ALIGN != 0 ||
	    (r->mask & e.pos) + sizeof(struct shm_record) > r->capacity)
		return corrupt(r, "journal entry position out of range");
	if (e.pos >= atomic_load_explicit(&r->h->write_pos, memory_order_acquire))
		return FANOUT_SHM_NONE;	/* its write_pos is on its way (an older writer
					 * published the sequence first) */
	/* Back to the ring when the writer is at least capacity / 8 from this record: nearer
	 * than that, the reader would be lapped again at once. */
	if (e.pos + r->capacity >= atomic_load_explicit(&r->h->reserve_pos, memory_order_relaxed) +
				   r->capacity / 8) {
		r->journal_mode = false;
		r->pos = e.pos;
		return SHM_RETRY;
	}
	return log_step(r, &e, rec);
}

/* After a validated event: advance, count, publish progress. */
static void commit(struct fanout_shm *r)
{
	if (r->pending == SHM_PENDING_RING)
		r->pos = r->pending_next_pos;
	else
		r->st.recovered++, atomic_fetch_add_explicit(&r->slot->recovered, 1,
							      memory_order_relaxed);
	if (r->pending_partition < r->partitions &&
	    r->next_offset[r->pending_partition] <= r->pending_offset)
		r->next_offset[r->pending_partition] = r->pending_offset + 1;
	r->st.delivered++;
	r->seq++;
	r->pending = SHM_PENDING_NONE;
	publish_progress(r);
}

int fanout_shm_validate(struct fanout_shm *r, const struct fanout_shm_record *rec)
{
	(void)rec;	/* the handle knows its one outstanding record */
	if (r->pending == SHM_PENDING_NONE)
		return 0;
	if (r->pending == SHM_PENDING_RING && !ring_intact(r, r->pos)) {
		/* Torn: deliver the same sequence again, from the log. */
		r->pending = SHM_PENDING_NONE;
		r->st.torn++;
		enter_journal(r);
		shm_reader_say(r, "%s: record %" PRIu64 " was overwritten while in use", r->path,
			       r->seq);
		return -ESTALE;
	}
	commit(r);
	return 0;
}

/* True for an event a resumed reader had already delivered (fanout_shm_attach's resume). */
static bool duplicate(const struct fanout_shm *r, const struct fanout_shm_record *rec)
{
	return r->floor && rec->partition < r->partitions &&
	       rec->offset < r->floor[rec->partition];
}

int fanout_shm_poll(struct fanout_shm *r, struct fanout_shm_record *rec)
{
	int rc = SHM_RETRY;

	if (r->pending != SHM_PENDING_NONE)
		fanout_shm_validate(r, rec);
	for (int step = 0; step < SHM_POLL_STEPS_MAX; step++) {
		rc = r->journal_mode ? journal_step(r, rec) : ring_step(r, rec);
		if (rc == FANOUT_SHM_EVENT) {
			r->pending_partition = rec->partition;
			r->pending_offset = rec->offset;
			if (duplicate(r, rec)) {
				/* Dropped unread; a torn one comes back from the log. */
				if (fanout_shm_validate(r, rec) == 0) {
					r->st.delivered--;
					r->st.duplicates++;
				}
				continue;
			}
		}
		if (rc != SHM_RETRY)
			return rc;
	}
	return FANOUT_SHM_NONE;	/* bounded work per call; shm_reader_ready says there is more */
}

bool shm_reader_ready(const struct fanout_shm *r)
{
	if (r->journal_mode)
		return r->seq + (r->pending != SHM_PENDING_NONE) <
		       atomic_load_explicit(&r->h->write_seq, memory_order_acquire);
	return (r->pending == SHM_PENDING_RING ? r->pending_next_pos : r->pos) !=
	       atomic_load_explicit(&r->h->write_pos, memory_order_acquire);
}
