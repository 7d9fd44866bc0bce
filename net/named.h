/* net/named.h — named (durable) subscriptions: a cursor per partition that outlives the
 * consumer's connection and the server process.
 *
 * Each named subscription of a topic is one file, DATA/topics/<topic>/subscriptions/
 * <name>.cur, mapped shared: a 64-byte header, then per partition a struct
 * named_part_file. Its active consumer's reactor writes it with plain stores into the
 * mapping (no system call per Ack or send): a killed process leaves every completed store
 * in the page cache, so the cursor survives the process; --fsync's executor does not
 * sync it (after a power loss a cursor may stand earlier than it was: events are sent
 * again, never skipped).
 *
 * Per partition the file holds where a resume starts (acked: the offset after the last
 * Ack) and which events after it were sent and how often, as up to NAMED_SEGS ranges
 * [previous end, end) sent count times. Each update writes the other of two copies and
 * then flips which one is current (one 4-byte store), so a process killed half-way leaves
 * the previous state whole.
 *
 * The registry (one per server) holds the named subscriptions that have a consumer
 * (mapped while it lasts) and their consumers: one for EXCLUSIVE, up to
 * NAMED_CONSUMERS_MAX for FAILOVER (the first active, the others standing by), SHARED
 * and KEY_SHARED (all active: net/shared.h deals them the events; its mutex orders
 * their writes of the file). Attach and
 * detach take its mutex (subscribe and unsubscribe only). A subscription is written by
 * the reactor of its active consumer alone; the mutex (and the take-over flag's
 * release/acquire) orders one consumer's writes before the next one's reads. A file is
 * made with its blocks allocated (no SIGBUS on a full disk at a later store), at most
 * NAMED_PER_TOPIC per topic. */
#ifndef FANOUT_NET_NAMED_H
#define FANOUT_NET_NAMED_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/topic.h"

#define NAMED_NAME_MAX 128u	/* bytes of a subscription name */
#define NAMED_SEGS     16u	/* sent-and-unacked ranges kept per partition */
#define NAMED_MAX      4096u	/* named subscriptions with a consumer at once, per server */
#define NAMED_PER_TOPIC 1024u	/* named subscriptions (files) a topic may have */
#define NAMED_MAGIC    0x4255534d414e4646ull	/* "FFNAMSUB" little-endian */
#define NAMED_VERSION  1u

enum named_delivery { NAMED_AT_LEAST_ONCE = 1, NAMED_AT_MOST_ONCE = 2 };

struct named_seg {
	uint64_t end;		/* events [previous end (or acked), end) ... */
	uint64_t count;		/* ... were sent this many times */
};

struct named_state {
	uint64_t acked;		/* where a resume starts: after the last Ack */
	uint64_t nseg;
	struct named_seg seg[NAMED_SEGS];
};

struct named_part_file {
	_Atomic uint32_t cur;	/* which copy is current (0 or 1) */
	uint32_t reserved;
	struct named_state copy[2];
};

struct named_header {
	uint64_t magic;		/* NAMED_MAGIC, written last when the file is made */
	uint32_t version;
	uint32_t partitions;
	uint32_t delivery;	/* enum named_delivery, fixed at creation */
	uint32_t started;	/* 1 once its first consumer placed the cursors; a file
				 * without it is made again (that Subscribe failed) */
	int64_t created_ns;	/* CLOCK_REALTIME */
	uint8_t reserved[32];
};

#define NAMED_CONSUMERS_MAX 64u	/* consumers of one FAILOVER, SHARED or KEY_SHARED
				 * subscription */

/* SubscriptionType's values. */
enum named_type { NAMED_EXCLUSIVE = 1, NAMED_SHARED = 2, NAMED_FAILOVER = 3, NAMED_KEY_SHARED = 4 };

struct shared_state;	/* net/shared.h */

/* A consumer: where to say it is the active one now, and its reactor. */
struct named_consumer {
	_Atomic bool *activate;
	uint32_t reactor;
};

struct named_sub {
	char name[NAMED_NAME_MAX + 1];
	const struct topic *topic;
	struct named_header *hdr;	/* the mapping */
	struct named_part_file *parts;	/* hdr->partitions entries */
	size_t map_bytes;
	/* Under the registry's mutex: the consumers, the first the active one (the only
	 * one sent events and writing the file), the others standing by in arrival order. */
	int type;			/* enum named_type of its consumers */
	struct shared_state *shared;	/* SHARED, KEY_SHARED: who is dealt what */
	uint32_t nconsumers;
	struct named_consumer consumers[NAMED_CONSUMERS_MAX];
};

struct named_registry {
	pthread_mutex_t lock;
	struct named_sub *subs[NAMED_MAX];
	uint32_t n;
};

/* A range a resumed consumer is sent again (SubscribeResult.redeliveries). */
struct named_redelivery {
	uint32_t partition;
	uint64_t first, end;
	uint64_t count;		/* times sent before */
};

void named_init(struct named_registry *r);

/* Unmaps and frees every named subscription (none attached). */
void named_free(struct named_registry *r);

/* Checks a subscription name: 1..NAMED_NAME_MAX bytes of [A-Za-z0-9._-], not "." or
 * "..". Returns 0 or -EINVAL with *why set. */
int named_name_check(const char *name, const char **why);

/* Attaches consumer c to topic tp's subscription called name, opening its file (dir:
 * the topic's directory) or making it (delivery then fixes its guarantee; a resumed one
 * keeps its own). *resumed says whether it existed (a consumer started it). type: enum
 * named_type. A FAILOVER consumer joining one that has consumers stands by (*standby):
 * it is told through *c.activate when it becomes the active one. A SHARED or KEY_SHARED
 * one has its ns->shared (the caller joins it). Returns 0, -EBUSY when
 * an EXCLUSIVE one has a consumer, or another NAMED_CONSUMERS_MAX, -EPROTOTYPE
 * when its consumers are of the other type, -EMFILE past NAMED_MAX attached, -EDQUOT
 * when the topic has NAMED_PER_TOPIC already, -EUCLEAN for a file that is not one of
 * ours or whose partition count differs from the topic's (*why says), or -errno
 * (-ENOSPC: the disk is full). A partition state torn by a power loss keeps its acked
 * offset and loses its ranges (logged). */
int named_attach(struct named_registry *r, const struct topic *tp, const char *dir,
		 const char *name, int delivery, int type, struct named_consumer c,
		 struct named_sub **out, bool *resumed, bool *standby, const char **why);

/* The type of the consumers of tp's subscription name now (enum named_type), 0 when it
 * has none (for an error message). */
int named_type_of(struct named_registry *r, const struct topic *tp, const char *name);

/* A new subscription's cursors are all placed (named_start): from now on it resumes. */
void named_started(struct named_sub *ns);

/* Consumer c (its activate pointer) is gone. When it was the active one and another
 * stands by, that one is made active (its flag set, under the mutex) and its reactor
 * returned, to be woken; else UINT32_MAX. The last consumer's going unmaps and frees
 * ns (the file holds it; the next consumer maps it again). */
uint32_t named_detach(struct named_registry *r, struct named_sub *ns, _Atomic bool *activate);

/* The topic is being deleted (its files go with its directory): none of its named
 * subscriptions may still be attached; one that is (it cannot be) is logged and left. */
void named_forget_topic(struct named_registry *r, const struct topic *tp);

/* Where partition p resumes. */
uint64_t named_acked(const struct named_sub *ns, uint32_t p);

/* A new subscription starts partition p at offset (nothing sent yet). */
void named_start(struct named_sub *ns, uint32_t p, uint64_t offset);

/* Events [from, to) of partition p were sent (queued to the consumer): each one's count
 * rises by one. AT_MOST_ONCE: the cursor moves to to. The attached consumer's reactor. */
void named_sent(struct named_sub *ns, uint32_t p, uint64_t from, uint64_t to);

/* The consumer acked partition p through offset - 1 (cumulative): the cursor moves to
 * offset, never back and never past what was sent. The attached consumer's reactor. */
void named_ack(struct named_sub *ns, uint32_t p, uint64_t offset);

/* SHARED, KEY_SHARED (net/shared.c): partition p's cursor is acked, and [acked, end)
 * was sent up to count times. */
void named_mark(struct named_sub *ns, uint32_t p, uint64_t acked, uint64_t end, uint64_t count);

/* The acked offset of partition p in the named subscription file open at fd (read, not
 * mapped: its current copy), for a topic of partitions partitions; 0 for a file that is
 * not one of ours or another topic's shape (its events are then kept), UINT64_MAX for
 * one never placed (no cursor). */
uint64_t named_file_acked(int fd, uint32_t partitions, uint32_t p);

/* Ranges of partition p sent and not acked, oldest first, up to max. */
uint32_t named_unacked(const struct named_sub *ns, uint32_t p, struct named_redelivery *out,
		       uint32_t max);

#endif
