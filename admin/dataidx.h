/* admin/dataidx.h — the REST data API's index: per symbol, instrument, order, fill and
 * portfolio, the events that name it, so that a look-up costs what it returns and never
 * scans a partition's log.
 *
 * The admin thread keeps it, behind the reactors: it tails every partition's sidecar
 * index (readable by any thread below the published tail), reading per event its
 * 96-byte entry — and the frame only for executions and for a key seen the first time
 * (its name) — and appends a posting (event time, where the event is) to that key's
 * list. Market-data trades (LOG_ENTRY_TRADE) also go into the symbol's 1-minute bars
 * (admin/bars.h), which the store persists (market_bars) once a second. The reactors
 * pay nothing; a query first catches up on what is pending (bounded), so an event
 * acknowledged before the request is in its answer.
 *
 * Keys are found by their keyed hash (core/keyhash.h: a per-data-directory secret, so no
 * client can make two names collide) and checked against the name kept with them.
 * Postings are kept sorted by event time, newest last; each key holds at most
 * DIDX_KEY_POSTINGS_MAX and the whole index at most its byte budget
 * (--data-index-bytes): past it a key's oldest postings give way, and a new key takes
 * the place of the least recently updated one (its bars are in the store; counted).
 * Events of a deleted topic are forgotten with it.
 *
 * The admin thread only. */
#ifndef FANOUT_ADMIN_DATAIDX_H
#define FANOUT_ADMIN_DATAIDX_H

#include <stdbool.h>
#include <stdint.h>
#include <ck_ht.h>

#include "admin/bars.h"
#include "core/arena.h"
#include "core/log.h"
#include "core/topic.h"

#define DIDX_NAME_MAX          128u		/* WIRE_ID_BYTES_MAX: names as sent */
#define DIDX_KEY_POSTINGS_MAX  (1u << 18)	/* events one key keeps */
#define DIDX_BARS_MAX          (7u * 1440u)	/* 1-minute buckets a symbol keeps in memory */
#define DIDX_BYTES_DEFAULT     (256ull << 20)
#define DIDX_STEP_EVENTS       8192u		/* events indexed per admin chore */
#define DIDX_CATCH_UP_EVENTS   (1u << 20)	/* at most this before answering a query, */
#define DIDX_CATCH_UP_MS       50		/* and for at most this long */
#define DIDX_FLUSH_ROWS        2000u		/* bar rows per store transaction */
#define DIDX_LOG_OFFSET_BITS   40u		/* a posting's offset; the log id above */

enum didx_kind {
	DIDX_SYMBOL,		/* market data by symbol */
	DIDX_INSTRUMENT,	/* decisions by instrument_id */
	DIDX_ORDER,		/* executions by order_id */
	DIDX_FILL,		/* executions by fill_id */
	DIDX_PORTFOLIO,		/* executions by portfolio_id */
	DIDX_KINDS
};

/* One event of a key: its event time and where it is (log id << 40 | offset). */
struct didx_posting {
	int64_t t_ns;
	uint64_t ref;
};

struct didx_key {
	char name[DIDX_NAME_MAX + 1];
	uint32_t first, n, cap;		/* postings v[first .. first+n) */
	struct didx_posting *v;
	struct bar_series bars;		/* DIDX_SYMBOL */
	struct didx_key *dirty_next;	/* on the flush list while bars are dirty */
	struct didx_key *cache_next;	/* on the cache list while Redis lacks its news */
	struct didx_key *lru_prev, *lru_next;	/* update order, newest first */
	uint64_t hash;			/* its keyed hash (the table's key) */
	uint8_t kind;			/* enum didx_kind */
	bool on_dirty, on_cache;
};

/* One partition being tailed. */
struct didx_log {
	struct topic *tp;		/* NULL once the topic is deleted */
	uint32_t partition;
	uint64_t done;			/* offsets below are indexed */
};

struct didx_topic {
	struct topic *tp;
	uint32_t first_log;		/* its partitions' ids: first_log + partition */
};

struct didx_counters {
	uint64_t events;		/* indexed */
	uint64_t postings_dropped;	/* oldest postings given way (per-key cap, budget) */
	uint64_t keys_refused;		/* new keys past the budget (none could give way) */
	uint64_t keys_evicted;		/* least recently updated keys dropped for new ones */
	uint64_t bars_dropped;		/* trades older than every bucket of a full series */
	uint64_t bars_unsaved;		/* dirty buckets pushed out before the store had them */
	uint64_t bars_written;		/* rows written to the store */
	uint64_t decode_errors;		/* frames that did not decode (a bug: counted) */
	uint64_t collisions;		/* names met under another name's keyed hash */
};

struct store;

struct dataidx {
	bool on;
	uint64_t budget, bytes;		/* memory: the bound and what keys, postings and
					 * bars take */
	ck_ht_t keys[DIDX_KINDS];	/* keyed hash -> struct didx_key */
	uint64_t nkeys[DIDX_KINDS];
	struct didx_log *logs;		/* by id */
	uint32_t nlogs, logs_cap;
	struct didx_topic *topics;	/* sorted by tp */
	uint32_t ntopics, topics_cap;
	struct didx_key *dirty, *dirty_tail;	/* symbols whose bars the store has not
						 * had, oldest first (FIFO: none starves) */
	bool cache_on;			/* keep cache_dirty (a Redis cache is configured) */
	struct didx_key *cache_dirty, *cache_tail;	/* symbols and orders with events
							 * Redis has not had, FIFO
							 * (admin/cache_keys.c) */
	struct didx_key *lru_head, *lru_tail;	/* every key, most recently updated first */
	uint32_t next_log;		/* where the next step starts (round robin) */
	uint64_t behind;		/* events pending at the last step */
	struct arena arena;		/* decoding frames */
	struct didx_counters c;
};

/* Sets the index up with a memory budget of bytes (0: off, every query answers 503).
 * Returns 0 or -ENOMEM. */
int dataidx_init(struct dataidx *d, uint64_t bytes);
void dataidx_free(struct dataidx *d);

/* Takes in the table's topics (new ones from their first offset; topics gone are
 * forgotten). Returns 0 or -ENOMEM. */
int dataidx_sync_topics(struct dataidx *d, struct topic_table *t);

/* A topic about to be deleted: its events are forgotten (postings skip them). */
void dataidx_topic_removed(struct dataidx *d, const struct topic *tp);

/* Indexes up to max pending events over the partitions. Returns how many are still
 * pending (0: caught up). */
uint64_t dataidx_step(struct dataidx *d, uint64_t max);

/* The key of kind named name (len bytes), or NULL. */
struct didx_key *dataidx_find(struct dataidx *d, enum didx_kind kind, const char *name,
			      size_t len);

/* Index of the first posting of k with t_ns >= t (k->n when none), relative to first. */
uint32_t dataidx_lower(const struct didx_key *k, int64_t t);

/* The frame a posting names, or -ENOENT when its topic was deleted or its offset has
 * left the log. Sets *tp and *partition. */
int dataidx_read(struct dataidx *d, uint64_t ref, struct log_ref *out, struct topic **tp,
		 uint32_t *partition);

/* Puts every symbol and order on the cache list (after Redis came back: what was
 * written before, or lost with the connection, is written again). */
void dataidx_cache_all(struct dataidx *d);

/* Takes the first key off the cache list (NULL when empty). */
struct didx_key *dataidx_cache_pop(struct dataidx *d);

/* Writes up to max dirty bar buckets to the store (market_bars) in one transaction.
 * Returns the rows written, or a negative enum store_rc (the buckets stay dirty). */
int dataidx_flush_bars(struct dataidx *d, struct store *st, uint32_t max);

#endif
