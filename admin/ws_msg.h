/* admin/ws_msg.h — the WebSocket streams' messages, the seed's WebSocketMessage:
 *   {"type": "subscribe"|"unsubscribe"|"data"|"error", "payload": ..., "timestamp": RFC 3339}
 * A client's subscribe payload:
 *   {"id": 1..2^31, "topic": "md", "patterns": ["AAPL.>"],
 *    "filters": {"symbols": [...], "exchanges", "currencies", "actions", "order_ids",
 *                "portfolio_ids": [...], "data_types": ["market_data", ...],
 *                "min_price", "max_price", "min_volume", "min_confidence": number},
 *    "start": "latest" | "earliest" | {"offset": N} | {"time": RFC 3339 or ns},
 *    "snapshot": true | false}
 * and an unsubscribe payload {"id": N}. Filters are core/filter.h's, compiled the same
 * way as the TCP protocol's. Errors name the field ("payload.filters.symbols[2]").
 * Pure functions over caller memory (jansson); any thread. */
#ifndef FANOUT_ADMIN_WS_MSG_H
#define FANOUT_ADMIN_WS_MSG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/filter.h"
#include "core/pattern.h"
#include "core/topic.h"

#define WS_PATTERNS_MAX 16u		/* routing-key patterns per subscription */
#define WS_SUB_ID_MAX   0x7fffffffu

enum ws_start { WS_START_LATEST, WS_START_EARLIEST, WS_START_OFFSET, WS_START_TIME };

/* A parsed subscribe. Owns its compiled filter (ws_sub_req_free). */
struct ws_sub_req {
	uint32_t id;				/* the client's name for it; 0 = none given */
	char topic[TOPIC_NAME_MAX + 1];		/* "" = every topic the caller may read */
	uint32_t npatterns;			/* 0 = every routing key */
	struct pattern patterns[WS_PATTERNS_MAX];
	struct filter filter;
	enum ws_start start;
	uint64_t start_offset;
	int64_t start_time_ns;
	bool snapshot;				/* the newest event of each matching key first */
};

/* What was wrong with a client's message: the field (dotted path) and why. */
struct ws_msg_error {
	char field[96];
	char message[256];
};

enum ws_msg_type { WS_MSG_SUBSCRIBE, WS_MSG_UNSUBSCRIBE };

struct ws_client_msg {
	enum ws_msg_type type;
	struct ws_sub_req sub;			/* WS_MSG_SUBSCRIBE */
	uint32_t unsub_id;			/* WS_MSG_UNSUBSCRIBE */
};

/* Parses a client's text message. preset (may be NULL) holds filters the endpoint sets
 * (its query parameters, the seed endpoint's data type): a key the payload's filters
 * lack is taken from it. Returns 0 (a subscribe's filter to free with ws_sub_req_free),
 * or -1 with err set (nothing to free). */
int ws_msg_parse(const char *text, size_t len, const json_t *preset,
		 struct ws_client_msg *out, struct ws_msg_error *err);

/* Parses a subscribe payload (an object), as ws_msg_parse does; prefix names it in
 * errors ("payload", or "query" for one built from query parameters). */
int ws_sub_parse(const json_t *payload, const json_t *preset, const char *prefix,
		 struct ws_sub_req *out, struct ws_msg_error *err);

void ws_sub_req_free(struct ws_sub_req *r);

/* A query parameter's value as a subscribe payload's key: lists split at ',', numbers
 * and the start position parsed. Returns 0 and sets key in payload, or -1 with err naming
 * the parameter. Unknown keys are -1. */
int ws_query_set(json_t *payload, const char *key, const char *value,
		 struct ws_msg_error *err);

/* The text of a server message {"type": type, "payload": payload (stolen), "timestamp":
 * now}: malloc'd, *len bytes (no NUL counted). NULL when out of memory. */
char *ws_msg_text(const char *type, json_t *payload, size_t *len);

/* An error message naming field (NULL: none) with code and message. */
char *ws_msg_error_text(const char *code, const char *field, const char *message, size_t *len);

/* The JSON text of a stored frame's event (event_json.h): malloc'd, *len bytes; NULL when
 * the frame holds no event or out of memory. */
char *ws_msg_event_text(const uint8_t *frame, uint32_t flen, size_t *len);

/* A data message around an event's JSON text (ws_msg_event_text's) for subscription id,
 * stamped ts (RFC 3339, at most 64 bytes): the shape ws_msg_data_text gives, without
 * encoding the event again, into buf (cap bytes, NUL-terminated). Returns 0 with *len
 * its bytes, or -ENOSPC with *len the bytes it needs (the NUL included). */
int ws_msg_data_wrap(char *buf, size_t cap, uint32_t id, const char *event, size_t elen,
		     const char *ts, size_t *len);

/* A data message for subscription id from a stored frame (the log's ServerMessage):
 * payload {"subscription": id, "event": <event_json.h's object>}. NULL when the frame
 * holds no event or out of memory. */
char *ws_msg_data_text(uint32_t id, const uint8_t *frame, uint32_t flen, size_t *len);

#endif
