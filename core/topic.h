/* core/topic.h — the topic table: name -> topic (its partitions and their logs).
 * A Concurrency Kit hash table read by every reactor without locks (topic_find); the rare
 * writers (topic_create: start-up, first publish or subscribe; topic_remove: the admin
 * plane) take a mutex, so the table has one writer at a time, as ck_ht's SPMC mode asks.
 * Arrays the table outgrows are freed through core/epoch.
 *
 * Removal (the admin plane's DELETE) is the only way a topic goes before
 * topic_table_close: topic_remove unlinks it from the table and renames its directory
 * aside, so lookups stop finding it and a topic of the same name starts afresh; the
 * struct and its mapped logs stay valid until the remover calls topic_destroy, which it
 * does only after every reactor has let go of it (net/control.h) and a grace period.
 * Every other thread may therefore keep a found topic for the rest of its epoch section
 * (a reactor's turn), and a reactor beyond that only as long as the remover lets it.
 *
 * Each partition has an owner reactor, its only writer (DESIGN.md: Threads and
 * ownership): events for it published on another reactor cross to the owner. */
#ifndef FANOUT_CORE_TOPIC_H
#define FANOUT_CORE_TOPIC_H

#include <assert.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <ck_ht.h>

#include "core/latest.h"
#include "core/log.h"

#define TOPIC_NAME_MAX       200u
#define TOPIC_PARTITIONS_MAX 1024u
#define TOPIC_REMOVING_MAX   16u	/* removals waiting for topic_destroy */
#define TOPIC_DELETED_MARK   ".deleted"	/* in a removed topic's directory */

/* What one reactor delivered from one partition, counted as it gathers frames: a single
 * writer (that reactor) with relaxed stores, read by the admin plane with relaxed loads
 * (monotonic counters: a stale read is only an older value). One cache line each, so
 * reactors delivering from the same partition never share a line. */
struct topic_out {
	_Atomic uint64_t events;
	_Atomic uint64_t bytes;
	char pad[48];
};
static_assert(sizeof(struct topic_out) == 64, "one cache line per reactor");

struct topic_partition {
	struct log *log;	/* NULL when quarantined */
	uint32_t owner;		/* the reactor that appends to it (0 with one reactor) */
	struct latest latest;	/* routing key -> newest offset, rebuilt at open */
	bool latest_ready;	/* latest was initialised (and must be freed) */
	struct topic_out *out;	/* one per reactor (topic_table.reactors) */
	/* Set when its log failed its check at open (corruption before the tail): the
	 * partition is not served, its files are kept as found for an operator (README,
	 * "Quarantined partitions"). Set before the topic is in the table; never cleared. */
	const struct log_fault *quarantine;
	/* One past the offset of its newest audit-required event (LOG_ENTRY_AUDIT_REQUIRED):
	 * a subscription cut behind it may owe such events (net/audit.h). Written by the
	 * owner before it publishes the tail; at open, the tail (there may be some below). */
	_Atomic uint64_t audit_next;
	/* --kafka-ack kafka (net/egress_gate.h): offsets below it are in Kafka. Written by
	 * the egress thread alone (release, after the delivery reports), read by publishing
	 * reactors (acquire); 0 until the egress subscribed. */
	_Atomic uint64_t egress_next;
};

struct topic {
	char name[TOPIC_NAME_MAX + 1];
	uint32_t name_len;
	uint32_t partitions;
	uint32_t reactors;		/* entries of each partition's out */
	/* Set by the admin plane: publishes to the topic are refused (UNKNOWN_TOPIC) while
	 * it is; read once per topic per batch by publish (relaxed: a batch racing the
	 * change may go either way). */
	_Atomic bool disabled;
	/* Set by the admin plane (topics.priority): in each reactor turn, subscriptions of
	 * higher-priority topics are served first (net/server.c, net/session.c). 0..255,
	 * 0 by default. Relaxed: a turn racing the change may serve either way. */
	_Atomic uint8_t priority;
	/* Set by the admin plane (topics.retention_policy, admin/retention.h): whole sealed
	 * segments older than retention_ns, or past retention_bytes of newer ones, are
	 * deleted (0: no bound). 7 days and none until the admin plane says. */
	_Atomic int64_t retention_ns;
#define TOPIC_RETENTION_DEFAULT_NS (7ll * 24 * 3600 * 1000000000)	/* the seeds' "7d" */
	_Atomic uint64_t retention_bytes;
	/* net/egress_gate.h: 0 not looked at yet, 1 not an egress topic, 2 one (cached by
	 * the first reactor that asks; any may, all find the same: relaxed). egress_ready:
	 * the egress thread placed every partition's egress_next (release). */
	_Atomic uint8_t egress;
	_Atomic bool egress_ready;
	bool removed;			/* unlinked by topic_remove */
	uint32_t quarantined;		/* partitions with a quarantine */
	struct topic_partition part[];	/* partitions entries */
};

struct topic_table {
	ck_ht_t ht;
	char data_dir[400];
	struct log_config log_config;
	uint32_t count;
	uint32_t quarantined;	/* partitions quarantined, in every topic */
	uint32_t max;		/* topic_create refuses new topics past this; 0 = no limit */
	uint32_t reactors;	/* partitions' owners are 0..reactors-1; set before any
				 * topic is created (1 after topic_table_init) */
	uint32_t latest_keys_max;	/* keys of each partition's last-value table; set
					 * before any topic is opened (LATEST_KEYS_DEFAULT) */
	pthread_mutex_t create_lock;	/* serialises writers */
	/* Names of removed topics not yet destroyed (reserved: see topic_remove). Under
	 * create_lock. */
	char removing[TOPIC_REMOVING_MAX][TOPIC_NAME_MAX + 1];
	uint32_t nremoving;
};

/* Checks a topic name: 1..200 bytes of [A-Za-z0-9._/-], not starting with '/' or '.',
 * no "..". Returns 0 or -EINVAL with *why set to a static reason. */
int topic_name_check(const char *name, size_t len, const char **why);

/* Writes the topic's directory (data_dir/topics/<name, '/' as %2F>) into buf. Returns 0
 * or -ENAMETOOLONG. Any thread. */
int topic_path(const struct topic_table *t, const struct topic *tp, char *buf, size_t cap);

/* Initialises an empty table whose logs live under data_dir/topics. Returns 0 or -errno. */
int topic_table_init(struct topic_table *t, const char *data_dir, const struct log_config *lc);

/* Opens every topic found under data_dir/topics (recovering its logs); directories of
 * removed topics (TOPIC_DELETED_MARK) are deleted instead. A partition whose log is
 * corrupt before its tail is quarantined (reported on stderr, kept, not served) and the
 * rest open. Returns the number of topics opened or -errno. Caller: the writer, at
 * start-up. */
int topic_table_recover(struct topic_table *t);

/* Closes every topic's logs and frees the table. Caller: the writer, readers stopped. */
void topic_table_close(struct topic_table *t);

/* Looks a topic up. Returns it or NULL. Any thread. */
struct topic *topic_find(struct topic_table *t, const char *name, size_t len);

/* Creates a topic with its partition logs, or returns the existing one (*out either way).
 * Returns 0, -EINVAL for a bad name or partition count, -EEXIST when it exists with a
 * different partition count (*out is still set), -ENOSPC when the table holds max
 * topics, -EBUSY while a removed topic of that name awaits topic_destroy, -HEADROOM_FDS
 * or -HEADROOM_MAPS when (max being set) its partitions would not fit the process's
 * limits (core/headroom.h), or -errno from the logs. Any thread (writers serialise on a
 * mutex). */
int topic_create(struct topic_table *t, const char *name, size_t len, uint32_t partitions,
		 struct topic **out);

/* Sums the last-value tables of every partition (owner reactor: any, or only owner when
 * owner < reactors) into *out. Holds the writers' lock while it walks (no topic is made
 * meanwhile): not for a reactor. */
void topic_table_latest_totals(struct topic_table *t, uint32_t owner, struct latest_totals *out);
/* Unlinks tp from the table so new lookups miss it, and marks its directory deleted (a
 * file named .deleted in it: a restart never recovers it, see topic_table_recover). Its
 * name stays reserved until topic_destroy: topic_create answers -EBUSY for it meanwhile,
 * so a new topic of that name never opens the files the old one still has mapped.
 * tp itself stays valid until topic_destroy. Returns 0; -ENOENT when tp is not in the
 * table; -EBUSY when TOPIC_REMOVING_MAX removals are pending already; -errno when the
 * marker cannot be written (nothing changed). Any thread; the remover alone calls
 * topic_destroy for tp. */
int topic_remove(struct topic_table *t, struct topic *tp);

/* Closes a removed topic's logs, deletes its directory (and its hot directory), frees it
 * and releases its name. Only once no thread can hold tp any more (the caller's
 * business: net/control.h's drop, a grace period, and executor_release for its logs).
 * Returns 0, or -errno from deleting the files (the memory and the name are released
 * either way; the marker keeps the files from being recovered). */
int topic_destroy(struct topic_table *t, struct topic *tp);

/* Copies up to cap topics into out, sorted by name, and returns how many there are in
 * all (may exceed cap). Takes the writers' mutex for the walk: a reactor creating a topic
 * meanwhile waits that long (microseconds per topic). The pointers stay valid as
 * topic_find's do. Any thread. */
uint32_t topic_table_list(struct topic_table *t, struct topic **out, uint32_t cap);

/* Counts a delivery of len bytes from partition p by reactor r. The reactor's thread. */
static inline void topic_out_count(struct topic_partition *part, uint32_t r, uint32_t len)
{
	struct topic_out *o = &part->out[r];

	/* Single writer: a plain add, published with relaxed stores (no lock prefix). */
	atomic_store_explicit(&o->events, atomic_load_explicit(&o->events, memory_order_relaxed) + 1,
			      memory_order_relaxed);
	atomic_store_explicit(&o->bytes,
			      atomic_load_explicit(&o->bytes, memory_order_relaxed) + len,
			      memory_order_relaxed);
}

/* True when the admin plane disabled publishing to tp. Any thread. */
static inline bool topic_disabled(const struct topic *tp)
{
	return atomic_load_explicit(&tp->disabled, memory_order_relaxed);
}

/* tp's priority: higher is served first. Any thread. */
static inline uint8_t topic_priority(const struct topic *tp)
{
	return atomic_load_explicit(&tp->priority, memory_order_relaxed);
}

/* The first quarantined partition of tp (its number in *p), or NULL when it has none.
 * Any thread. */
static inline const struct log_fault *topic_quarantined(const struct topic *tp, uint32_t *p)
{
	for (uint32_t i = 0; tp->quarantined && i < tp->partitions; i++) {
		if (tp->part[i].quarantine) {
			*p = i;
			return tp->part[i].quarantine;
		}
	}
	return NULL;
}

/* The partition for a routing key's hash: keys keep their order within a partition. */
static inline uint32_t topic_partition_for(const struct topic *tp, uint64_t key_hash)
{
	return (uint32_t)(key_hash % tp->partitions);
}

#endif
