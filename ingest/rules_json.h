/* ingest/rules_json.h — a routing rule set as JSON (what `fanoutd --rules FILE` reads):
 * an array of rule objects whose keys are fanout.v1.RoutingRule's field names, compiled
 * with rules_compile. Control plane only: everything here allocates.
 *
 *   [{"name": "nasdaq-trades", "source_topic": "market-data",
 *     "source_pattern": "*.NASDAQ.>", "target_topic": "nasdaq",
 *     "routing_key_template": "{symbol}.{exchange}.trade", "priority": 10,
 *     "conditions": {"symbols": ["AAPL", "MSFT"], "min_price": 100}}] */
#ifndef FANOUT_INGEST_RULES_JSON_H
#define FANOUT_INGEST_RULES_JSON_H

#include <stddef.h>
#include <jansson.h>

#include "ingest/rules.h"

#define RULES_FILE_BYTES_MAX (16u << 20)	/* rules_load_file refuses larger files */

/* Compiles a JSON array of rule objects. Keys are RoutingRule's field names; null means
 * "not set"; unknown keys are errors. "conditions" is a Filter object: "symbols",
 * "exchanges", "currencies", "actions", "order_ids" arrays of strings; "data_types" an
 * array of DataType names, full ("DATA_TYPE_MARKET_DATA") or short in any case
 * ("market_data"), or numbers; "min_price", "max_price", "min_volume", "min_confidence"
 * numbers (or {"value": number}). Unlike a proto3 message, a rule without "enabled" is
 * enabled (the seed table's default); a missing "priority" is 0.
 * Returns as rules_compile (*out NULL on error; the error names the first bad rule in
 * array order and its field). Control plane; any thread. */
int rules_from_json(struct rules_set **out, const json_t *rules, char *err, size_t errlen);

/* Reads path (a regular file of at most RULES_FILE_BYTES_MAX bytes) and compiles it as
 * rules_from_json. Returns 0; -errno when the file cannot be read (err "path: reason");
 * -EFBIG; -EINVAL with err "path:line:column: ..." for bad JSON or "path: rules[i]
 * 'name': field: ..." for a bad rule; -ENOMEM. Control plane; any thread. */
int rules_load_file(struct rules_set **out, const char *path, char *err, size_t errlen);

#endif
