/* core/topic.h — the topic table: name -> topic (its partitions and their logs).
 * A Concurrency Kit hash table read by every reactor without locks (topic_find); the rare
 * writers (topic_create: start-up, first publish or subscribe) take a mutex, so the
 * table has one writer at a time, as ck_ht's SPMC mode asks. Arrays the table outgrows
 * are freed through core/epoch. Topics are never removed while the table is open, so a
 * found topic stays valid until topic_table_close.
 *
 * Each partition has an owner reactor, its only writer (DESIGN.md: Threads and
 * ownership): events for it published on another reactor cross to the owner. */
#ifndef FANOUT_CORE_TOPIC_H
#define FANOUT_CORE_TOPIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <ck_ht.h>

#include "core/latest.h"
#include "core/log.h"

#define TOPIC_NAME_MAX       200u
#define TOPIC_PARTITIONS_MAX 1024u

struct topic_partition {
	struct log *log;
	uint32_t owner;		/* the reactor that appends to it (0 with one reactor) */
	struct latest latest;	/* routing key -> newest offset, rebuilt at open */
	bool latest_ready;	/* latest was initialised (and must be freed) */
};

struct topic {
	char name[TOPIC_NAME_MAX + 1];
	uint32_t name_len;
	uint32_t partitions;
	struct topic_partition part[];	/* partitions entries */
};

struct topic_table {
	ck_ht_t ht;
	char data_dir[400];
	struct log_config log_config;
	uint32_t count;
	uint32_t max;		/* topic_create refuses new topics past this; 0 = no limit */
	uint32_t reactors;	/* partitions' owners are 0..reactors-1; set before any
				 * topic is created (1 after topic_table_init) */
	uint32_t latest_keys_max;	/* keys of each partition's last-value table; set
					 * before any topic is opened (LATEST_KEYS_DEFAULT) */
	pthread_mutex_t create_lock;	/* serialises writers */
};

/* Checks a topic name: 1..200 bytes of [A-Za-z0-9._/-], not starting with '/' or '.',
 * no "..". Returns 0 or -EINVAL with *why set to a static reason. */
int topic_name_check(const char *name, size_t len, const char **why);

/* Initialises an empty table whose logs live under data_dir/topics. Returns 0 or -errno. */
int topic_table_init(struct topic_table *t, const char *data_dir, const struct log_config *lc);

/* Opens every topic found under data_dir/topics (recovering its logs). Returns the number
 * of topics opened or -errno. Caller: the writer, at start-up. */
int topic_table_recover(struct topic_table *t);

/* Closes every topic's logs and frees the table. Caller: the writer, readers stopped. */
void topic_table_close(struct topic_table *t);

/* Looks a topic up. Returns it or NULL. Any thread. */
struct topic *topic_find(struct topic_table *t, const char *name, size_t len);

/* Creates a topic with its partition logs, or returns the existing one (*out either way).
 * Returns 0, -EINVAL for a bad name or partition count, -EEXIST when it exists with a
 * different partition count (*out is still set), -ENOSPC when the table holds max
 * topics, or -errno from the logs. Any thread (writers serialise on a mutex). */
int topic_create(struct topic_table *t, const char *name, size_t len, uint32_t partitions,
		 struct topic **out);

/* Sums the last-value tables of every partition (owner reactor: any, or only owner when
 * owner < reactors) into *out. Holds the writers' lock while it walks (no topic is made
 * meanwhile): not for a reactor. */
void topic_table_latest_totals(struct topic_table *t, uint32_t owner, struct latest_totals *out);

/* The partition for a routing key's hash: keys keep their order within a partition. */
static inline uint32_t topic_partition_for(const struct topic *tp, uint64_t key_hash)
{
	return (uint32_t)(key_hash % tp->partitions);
}

#endif
