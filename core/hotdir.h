/* core/hotdir.h — where a data directory's hot segments live (core/log.h):
 * <parent>/fanout-<id>, id a random name kept in the data directory's ID file, parent
 * --hot-dir or by default HOTDIR_HUGE when that is a tmpfs with huge pages, else
 * HOTDIR_PARENT. The hot directory's OWNER file names the data directory it serves (id
 * and path), so a hot directory is never used for another data directory, and one whose
 * data directory is gone (deleted, or replaced by another with a new id) holds nothing
 * anyone can recover: hotdir_sweep removes those. Start-up, main thread.
 *
 * Huge pages matter: a hot segment's pages are written once each, and on 4 KiB pages
 * every first write of a page costs a page-table change (microseconds under a hypervisor
 * that shadows page tables, perf/RESULTS.md); a tmpfs mounted with huge=within_size (or
 * always) maps 2 MiB at a time. */
#ifndef FANOUT_CORE_HOTDIR_H
#define FANOUT_CORE_HOTDIR_H

#include <stdbool.h>
#include <stddef.h>

#define HOTDIR_PARENT "/dev/shm"
#define HOTDIR_HUGE   "/run/fanout-hot"	/* tools/run mounts it (root) */
#define HOTDIR_PREFIX "fanout-"

/* The parent to use: flag when not empty, else HOTDIR_HUGE when it is a huge-page tmpfs,
 * else HOTDIR_PARENT. */
const char *hotdir_parent(const char *flag);

/* True when path is on a tmpfs mounted with huge=always or huge=within_size. */
bool hotdir_huge(const char *path);

/* Writes the hot root for data_dir, under parent, into out (cap bytes); makes it and its
 * OWNER file, refusing (-EEXIST, with a message on stderr) a hot directory that serves
 * another data directory, and writes its path to the data directory's HOT file (what
 * shared-memory readers read). Returns 0 or -errno. */
int hotdir_resolve(const char *data_dir, const char *parent, char *out, size_t cap);

/* Removes the hot directories under parent whose data directory is gone. Returns how
 * many were removed. */
int hotdir_sweep(const char *parent);

/* At a clean exit: removes root when no segment is left in it (all on disk), and drops
 * this process's lock on it (a later hotdir_resolve takes it again). Returns how many
 * segment files are left (then root stays, still locked, for the next start). */
int hotdir_release(const char *root);

#endif
