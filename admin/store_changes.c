/* admin/store_changes.c — the store_changes counters (schema 7): how many writes the
 * shared tables have had, bumped by triggers, read by admin/watch.c. */
#include <stdlib.h>
#include <string.h>

#include "admin/store_tables.h"

int store_changes_read(struct store *st, struct store_changes *out)
{
	struct store_result r;
	int rc = store_exec(st, "SELECT name, serial FROM store_changes", 0, NULL, &r);

	memset(out, 0, sizeof(*out));
	for (uint32_t i = 0; rc == STORE_OK && i < r.nrows; i++) {
		const char *name = store_cell(&r, i, 0), *serial = store_cell(&r, i, 1);
		int64_t v = serial ? strtoll(serial, NULL, 10) : 0;

		if (name && strcmp(name, "topics") == 0)
			out->topics = v;
		else if (name && strcmp(name, "routing_rules") == 0)
			out->rules = v;
	}
	store_result_free(&r);
	return rc;
}
