/* admin/api_data.h — the seeds' data API's answers as JSON, for the REST handlers
 * (router.h) and the Redis cache (admin/cache_keys.c), which stores the same shapes.
 * The admin thread only. */
#ifndef FANOUT_ADMIN_API_DATA_H
#define FANOUT_ADMIN_API_DATA_H

#include <jansson.h>

#include "admin/dataidx.h"

struct admin;

/* GET /api/v1/market-data/{symbol}/latest's answer for symbol key k; NULL when none of
 * its events is still in the log (or out of memory). */
json_t *data_latest_json(struct admin *a, const struct didx_key *k);

/* GET /api/v1/execution/{order_id}/status's answer for order key k; with fills, also the
 * order's fills (each once, by fill_id) as an array of execution items. NULL when none of
 * its events is still in the log. */
json_t *data_status_json(struct admin *a, const struct didx_key *k, json_t **fills);

#endif
