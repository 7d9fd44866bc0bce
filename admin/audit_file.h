/* admin/audit_file.h — the audit trail's spill file (admin/audit.h) as lines on disk: a
 * row as one JSON line and back, cutting a file back to whole lines, and dropping the
 * part of it already written to the store. Pure file and JSON handling: no store, no
 * admin state; the admin thread only (unit-tested on their own). */
#ifndef FANOUT_ADMIN_AUDIT_FILE_H
#define FANOUT_ADMIN_AUDIT_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

struct audit_row;

/* The row as a JSON object (a new reference; NULL when out of memory). */
json_t *audit_row_to_json(const struct audit_row *r);

/* A line made by audit_row_to_json (len bytes, no newline) back into *r. Returns 0, or -1
 * for a line that is not one (torn, foreign, missing a field). */
int audit_row_from_json(const char *line, size_t len, struct audit_row *r);

/* Cuts f (size bytes long) back to its last newline: a line a crash or a failed write
 * cut short is not a row, and the next one must not be glued to it. A file that cannot
 * be read is left as it is. Returns the length kept. */
uint64_t audit_file_whole_lines(FILE *f, uint64_t size);

/* Replaces the file at path (open as f, size bytes) by its bytes from `from` on, written
 * to path.tmp, synced and renamed over it. Returns the new file, open for reading and
 * writing (seek to its end before appending; f is closed), or NULL when it could not be
 * done: f and the file are then as they were. */
FILE *audit_file_compact(FILE *f, const char *path, uint64_t from, uint64_t size);

#endif
