/* tests/soak/soak_state.h — the soak's configuration and what its processes share.
 *
 * The driver maps every shared structure (MAP_SHARED | MAP_ANONYMOUS) before it forks
 * anything, so each publisher, subscriber and ring reader writes its progress where a
 * SIGKILL cannot take it away: the next incarnation of that client resumes from it and
 * the checker reads it at the end. Each record has one writer (the client that owns it,
 * one process at a time); the driver reads. Counters and positions others read while the
 * writer runs are atomics; the bulk arrays (acks, bitmaps, fingerprints) are read only
 * once their writers have stopped, or, for an ack's send count, after the copy it
 * explains was received (a system call on both sides orders it). */
#ifndef FANOUT_TESTS_SOAK_STATE_H
#define FANOUT_TESTS_SOAK_STATE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SOAK_PUBS_MAX  8u
#define SOAK_SUBS_MAX  16u	/* TCP subscribers and ring readers together */
#define SOAK_PARTS_MAX 16u
#define SOAK_KEYS      16u	/* routing keys per publisher */
#define SOAK_TOPIC     "soak/events"	/* '/' on purpose: stored as %2F on disk */
#define SOAK_PATH_MAX  512

/* Faults the soak can inject into its own clients, to prove that its checks catch them
 * (--inject): a subscriber that drops events, a publisher that sends an acknowledged
 * batch again without counting it as a resend, a publisher that reverses a batch. */
#define SOAK_INJECT_LOSS  0x1u
#define SOAK_INJECT_DUP   0x2u
#define SOAK_INJECT_ORDER 0x4u

struct soak_cfg {
	const char *fanoutd;
	uint64_t seed;
	int64_t duration_ms;
	uint32_t pubs, subs, rings, parts, reactors;
	uint32_t rate;			/* new events per second, per publisher */
	uint64_t segment_bytes;		/* fanoutd's --segment-bytes: small, so segments roll
					 * (and are sealed and persisted) under the kills */
	uint32_t server_kill_min_ms, server_kill_max_ms;
	uint32_t client_kill_min_ms, client_kill_max_ms;
	bool hostile, keep, verbose;
	uint32_t inject;		/* SOAK_INJECT_*: a self-test run, not a soak */
	uint64_t seq_cap;		/* events a publisher may make */
	uint64_t off_cap;		/* offsets per partition the fingerprints can hold */
	char dir[SOAK_PATH_MAX];	/* temporary: data/, shm.sock, server.log, ready */
	char data[SOAK_PATH_MAX + 8];
	char shm_sock[SOAK_PATH_MAX + 16];	/* fanoutd's --shm-socket: rings are asked
						 * for there (never over TCP) */
	char addr[64];			/* 127.0.0.1:PORT, the same across restarts */
};

/* One event of a publisher, indexed by its sequence number. */
struct soak_ev {
	uint64_t offset;		/* where its (last) ack says it was stored */
	uint32_t partition;
	_Atomic uint8_t sends;		/* times put on the wire: raised before each send */
	_Atomic uint8_t acked;		/* written after offset and partition */
	uint16_t reserved;
};

struct soak_pub {
	_Atomic uint64_t next_seq;	/* events [0, next_seq) exist */
	_Atomic uint64_t low_unacked;	/* every event below is acknowledged */
	_Atomic uint64_t acked;		/* events acknowledged (each once) */
	_Atomic uint64_t sent;		/* events put on the wire, resends included */
	_Atomic uint64_t batches;	/* batches acknowledged */
	_Atomic uint64_t batches_sent;	/* batches put on the wire, resends included */
	_Atomic uint64_t resent;	/* events sent again after their ack was lost */
	_Atomic uint64_t batches_resent;	/* batches that carried such events */
	_Atomic uint64_t connects;
	_Atomic uint64_t errors;	/* Error answers to publishes (never expected) */
	_Atomic uint64_t bad_acks;	/* acks that do not fit their batch */
	_Atomic uint64_t key_moves;	/* a key acknowledged in a second partition */
	_Atomic int32_t key_part[SOAK_KEYS];	/* the partition a key's acks name; -1 none */
	_Atomic uint32_t drained;	/* stop_new seen and every event acknowledged */
	struct soak_ev *ev;		/* seq_cap entries */
};

/* A TCP subscriber (kind 0) or ring reader (kind 1): what it was owed from, how far it
 * got, what it saw. */
struct soak_sub {
	uint32_t kind;
	uint32_t set;			/* its pattern set (soak_event.h) */
	uint32_t slow;			/* pauses now and then: history catch-up, lapped rings */
	_Atomic uint32_t started;	/* start[] and next[] hold */
	uint64_t start[SOAK_PARTS_MAX];	/* owed every matching event from these offsets */
	_Atomic uint64_t next[SOAK_PARTS_MAX];	/* one past the last offset taken */
	_Atomic uint64_t last[SOAK_PUBS_MAX][SOAK_KEYS];	/* 1 + newest seq per key */
	_Atomic uint64_t delivered;	/* events checked and recorded */
	_Atomic uint64_t resend_dups;	/* a second copy of an event its publisher resent */
	_Atomic uint64_t dups;		/* a second copy of an event sent once */
	_Atomic uint64_t order;		/* a first copy older than one already seen, same key */
	_Atomic uint64_t misrouted;	/* outside its patterns, or a partition out of range */
	_Atomic uint64_t foreign;	/* an event no soak publisher made */
	_Atomic uint64_t content;	/* key, offset or bytes not what they must be */
	_Atomic uint64_t capacity;	/* beyond the arrays (the run is too long for them) */
	_Atomic uint64_t skipped;	/* below next[] after a resume: had it already */
	_Atomic uint64_t connects;	/* subscribes or attaches that succeeded */
	_Atomic uint64_t resume_moved;	/* a resume answered with another start than asked */
	_Atomic uint64_t offset_order;	/* an offset not above the last of its partition on
					 * the same connection or ring handle */
	_Atomic uint64_t errors;	/* Error messages from the server */
	_Atomic uint64_t shm_lost;	/* ring readers: events reported lost (GAP) */
	_Atomic uint64_t shm_recovered;	/* read back from the partition log after a lap */
	_Atomic uint64_t shm_laps, shm_torn, shm_resume_dups;
	uint8_t *seen;			/* SOAK_PUBS_MAX x seq_cap bits: seqs delivered */
	uint8_t *fp;			/* SOAK_PARTS_MAX x off_cap: fingerprint of what was
					 * delivered at each offset (0 = nothing) */
};

struct soak_shared {
	_Atomic uint32_t stop_new;	/* publishers: make nothing new, get everything acked */
	_Atomic uint32_t stop;		/* every client: exit now */
	_Atomic uint64_t hostile_frames;	/* frames and byte runs the hostile client sent */
	_Atomic uint64_t hostile_connects;
	_Atomic uint64_t hostile_refused;	/* answered with the Error it had to get */
	_Atomic uint64_t hostile_accepted;	/* a bad batch acknowledged: never allowed */
	_Atomic uint64_t hostile_stored;	/* valid oversize batches stored in its own topic */
	_Atomic uint64_t hostile_cut_budget;	/* RESOURCE_EXHAUSTED: over a memory bound */
	_Atomic uint64_t hostile_cut_deadline;	/* FRAME_DEADLINE: a frame it never finished */
	_Atomic uint64_t hostile_rings;		/* rings asked for on the Unix socket, never
						 * mapped (their descriptors dropped) */
	struct soak_pub pub[SOAK_PUBS_MAX];
	struct soak_sub sub[SOAK_SUBS_MAX];
};

/* What a client process is given: the run, the shared state, which client it is and how
 * many times that client has been started before (its random stream). */
struct soak_ctx {
	const struct soak_cfg *cfg;
	struct soak_shared *sh;
	uint32_t idx;
	uint32_t incarnation;
};

/* Maps the shared state for cfg (zeroed, key partitions -1). Returns NULL on failure
 * (errno set). Driver, before any fork. */
struct soak_shared *soak_state_map(const struct soak_cfg *cfg);
void soak_state_unmap(struct soak_shared *sh, const struct soak_cfg *cfg);

/* A slow client's pause: up to ms, cut short once the drain begins (stop_new). */
void soak_pause(const struct soak_shared *sh, int64_t ms);

/* Bit seq of publisher pub in a subscriber's seen bitmap. */
static inline bool soak_seen_get(const struct soak_cfg *c, const struct soak_sub *s,
				 uint32_t pub, uint64_t seq)
{
	uint64_t bit = (uint64_t)pub * c->seq_cap + seq;

	return s->seen[bit >> 3] & (1u << (bit & 7));
}

static inline void soak_seen_set(const struct soak_cfg *c, struct soak_sub *s, uint32_t pub,
				 uint64_t seq)
{
	uint64_t bit = (uint64_t)pub * c->seq_cap + seq;

	s->seen[bit >> 3] |= (uint8_t)(1u << (bit & 7));
}

static inline uint8_t *soak_fp_at(const struct soak_cfg *c, const struct soak_sub *s,
				  uint32_t part, uint64_t off)
{
	return &s->fp[(size_t)part * c->off_cap + off];
}

#endif
