/* admin/rules_io.h — routing rules between their three forms: rows of the store
 * (struct store_rule), the JSON objects of --rules files and of the REST API (the keys
 * of fanout.v1.RoutingRule, ingest/rules_json.h), and compiled sets. Validation is
 * ingest/rules_json.c's, so REST and --rules refuse the same rules with the same
 * messages. Control plane: allocates. */
#ifndef FANOUT_ADMIN_RULES_IO_H
#define FANOUT_ADMIN_RULES_IO_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "admin/store_tables.h"

/* A rule row as the rule object rules_from_json reads (no store-only keys). NULL on
 * ENOMEM or a stored conditions text that is not JSON. */
json_t *rules_io_rule(const struct store_rule *r);

/* The same with what the REST API shows besides: origin, created_at, updated_at. */
json_t *rules_io_rule_rest(const struct store_rule *r);

/* An array of rule objects for rows[0..n). NULL on failure. */
json_t *rules_io_array(const struct store_rule *rows, uint32_t n);

/* Validates one rule object as --rules would (compiling it alone) and fills *out (its
 * conditions re-dumped compactly; origin "api"). Returns 0, or -1 with err (the rules
 * compiler's message without the "rules[0] " prefix) and field (the key at fault, ""
 * when none is named), each errcap bytes. */
int rules_io_parse(const json_t *obj, struct store_rule *out, char *err, char *field,
		   size_t errcap);

/* Reads a --rules file into a JSON array and validates it as a set (rules_from_json).
 * Returns 0 with *arr, or -1 with err ("path: ..."). */
int rules_io_load_file(const char *path, json_t **arr, char *err, size_t cap);

#endif
