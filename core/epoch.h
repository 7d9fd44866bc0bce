/* core/epoch.h — safe memory reclamation for the tables every reactor reads without
 * locks (Concurrency Kit's ck_epoch). A thread that reads shared tables registers once
 * and brackets its reads in epoch_enter/epoch_exit; a reactor brackets each turn, so it
 * is never inside a section while it sleeps. Memory a writer unlinks (a table's old
 * array after it grows, a replaced rule set) is freed once every thread that might still
 * read it has left the section it was in.
 *
 * Tables whose memory must be reclaimed this way allocate through epoch_allocator: its
 * blocks carry their own ck_epoch entry, so a deferred free never allocates. */
#ifndef FANOUT_CORE_EPOCH_H
#define FANOUT_CORE_EPOCH_H

#include <stdbool.h>
#include <ck_malloc.h>

/* Registers the calling thread (once per thread; idempotent). Returns 0 or -ENOMEM. */
int epoch_register(void);

/* Runs every deferred free of the calling thread and unregisters it. The thread must be
 * outside a section, and the memory it deferred unreachable by then (readers stopped). */
void epoch_unregister(void);

/* Enters / leaves a read section. Not nested. Registered threads only. */
void epoch_enter(void);
void epoch_exit(void);

/* Frees what this thread deferred whose grace period has passed. Cheap when nothing is
 * pending. Call outside a section, once per turn. */
void epoch_poll(void);

/* Waits for a grace period (every section open now has closed), then frees what this
 * thread deferred. Outside a section. For rare writers (a rule reload). */
void epoch_synchronize(void);

/* Deferred frees this thread has pending. */
unsigned epoch_pending(void);

/* Frees fn(p) after the grace period when the calling thread is registered; at once
 * otherwise (start-up and shutdown, when no other thread reads). ent is the caller's
 * storage inside p's object (see epoch_allocator for blocks without room for one). */
struct epoch_entry;
void epoch_defer(struct epoch_entry *ent, void (*fn)(struct epoch_entry *ent));

/* ck_ht's allocator with epoch-deferred frees (the free callback's defer flag). */
extern struct ck_malloc epoch_allocator;

#include <ck_epoch.h>
struct epoch_entry {
	ck_epoch_entry_t ck;
	void (*fn)(struct epoch_entry *ent);
};

#endif
