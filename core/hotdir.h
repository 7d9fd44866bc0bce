/* core/hotdir.h — where a data directory's hot segments live (core/log.h): --hot-dir, or
 * by default HOTDIR_PARENT/fanout-<id>, id a random name kept in the data directory's ID
 * file. The hot directory's OWNER file names the data directory it serves (id and path),
 * so a hot directory is never used for another data directory, and one whose data
 * directory is gone (deleted, or replaced by another with a new id) holds nothing anyone
 * can recover: hotdir_sweep removes those. Start-up, main thread. */
#ifndef FANOUT_CORE_HOTDIR_H
#define FANOUT_CORE_HOTDIR_H

#include <stddef.h>

#define HOTDIR_PARENT "/dev/shm"
#define HOTDIR_PREFIX "fanout-"

/* Writes the hot root for data_dir into out (cap bytes): flag when not empty, else the
 * default; makes it and its OWNER file, refusing (-EEXIST, with a message on stderr) a
 * hot directory that serves another data directory, and writes its path to the data
 * directory's HOT file (what shared-memory readers read). Returns 0 or -errno. */
int hotdir_resolve(const char *data_dir, const char *flag, char *out, size_t cap);

/* Removes the default-place hot directories whose data directory is gone. Returns how
 * many were removed. */
int hotdir_sweep(void);

/* At a clean exit: removes root when no segment is left in it (all on disk). Returns
 * how many segment files are left (then root stays for the next start). */
int hotdir_release(const char *root);

#endif
