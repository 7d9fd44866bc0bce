/* admin/event_json.h — fanout.v1.Event <-> JSON (jansson), for the REST data API, the CLIs
 * and tests.
 *
 * The mapping follows proto/fanout.proto field by field: keys are the .proto field
 * names (snake_case), 64-bit integers are JSON integers (not strings, unlike proto3's
 * canonical JSON), enums are their full proto names ("DATA_TYPE_MARKET_DATA"), and the
 * payload is exactly one of the keys "market_data", "coordination_decision", "execution".
 * It converts; it does not validate what the server validates (required fields, topic
 * syntax): a missing payload or topic converts fine, so tests can send invalid events.
 * Pure functions over caller memory; any thread may call them. */
#ifndef FANOUT_ADMIN_EVENT_JSON_H
#define FANOUT_ADMIN_EVENT_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "fanout.pb-c.h"

struct arena;

/* Decodes a stored frame (the log's delimited ServerMessage) that holds an Event (malloc:
 * free with fanout__v1__server_message__free_unpacked). NULL for anything else. */
Fanout__V1__ServerMessage *event_frame_unpack(const uint8_t *frame, size_t len);

/* Builds the JSON object for e. Every scalar, string and repeated field is present, even
 * when it holds its default (so `jq .distribution.offset` works for offset 0); a
 * submessage that is not set (metadata, distribution) is left out, and only the payload
 * that is set appears. A uint64 above INT64_MAX becomes a JSON real.
 * Returns a new reference, or NULL when out of memory or a string is not UTF-8. */
json_t *event_to_json(const Fanout__V1__Event *e);

/* Fills *out from the JSON object j. Strings, submessages and arrays are allocated in
 * the arena a, so *out lives until the arena is reset and must never be passed to
 * fanout__v1__event__free_unpacked. Accepted beyond event_to_json's output:
 *  - enums as the full name, the name without the enum's prefix in any case
 *    ("market_data", "at_least_once", "fill_notification"), or a defined number;
 *  - null for any field, meaning "not set";
 *  - doubles given as JSON integers;
 *  - no data_type: it is taken from the payload key, if one is present.
 * Unknown keys are an error. Returns 0; -EINVAL with a message naming the field
 * ("distribution.topic: expected string") in err (errlen bytes, always terminated); or
 * -ENOMEM when the arena is exhausted. After an error *out holds partial data. */
int event_from_json(const json_t *j, Fanout__V1__Event *out, struct arena *a,
		    char *err, size_t errlen);

#endif
