/* ingest/wire_scan.h — the ingest hot path's protobuf wire scan: one pass over a
 * PublishBatch's bytes that validates every event and fills an event_view per event,
 * without unpacking anything into heap structs (the one place fanout reads protobuf
 * without protobuf-c; tests/fuzz/publish_scan_fuzz.c checks it against protobuf-c).
 *
 * The scan accepts exactly the wire structure protobuf-c's unpack accepts (tags, wire
 * types per field, varints of at most 10 bytes, length prefixes of at most 5 bytes and
 * INT_MAX, unknown fields of wire types 0, 1, 2 and 5) and reads values as protobuf-c
 * does (a uint32 is the varint's low 32 bits, a bool any non-zero 7-bit group). On top of
 * that it refuses any string field, wherever it occurs, that holds a NUL byte or is not
 * valid UTF-8: proto3 readers in other languages reject such frames, and C readers would
 * silently cut them short.
 *
 * Shapes protobuf allows but no producer writes are refused, naming the field, rather
 * than stored as one reader or another would merge them: a singular field given twice,
 * two payloads, a bool sent as something other than a varint. Events whose fields the
 * server rewrites are out of field-number order are marked reorder: the caller puts
 * them in order (wire_reorder_event, same bytes) and scans that. A coordination_completed
 * is marked fallback: the caller splits it into decisions (protobuf-c: ingest/split.c);
 * a -0.0 double inside one is refused, protobuf-c could not write it.
 *
 * Pure functions over caller memory; any thread. */
#ifndef FANOUT_INGEST_WIRE_SCAN_H
#define FANOUT_INGEST_WIRE_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ingest/event_view.h"
#include "ingest/ingest_error.h"

/* Bounds on what one event may carry (proto/README.md lists them). */
#define WIRE_ID_BYTES_MAX 128u		/* identifiers and short strings */
#define WIRE_WORKFLOWS_MAX 32u		/* distribution.target_workflows */
#define WIRE_FLAGS_MAX 32u		/* metadata.compliance_flags */
#define WIRE_REASONING_MAX 64u		/* coordination_decision.reasoning */

struct wire_batch {
	uint64_t sequence;		/* PublishBatch.sequence (0 when absent) */
	uint32_t n;			/* events scanned into the views */
	uint32_t n_fallback;		/* of them marked fallback (split) */
	uint32_t n_reorder;		/* of them marked reorder */
	uint32_t n_completed;		/* of them coordination_completed */
};

/* Where a ClientMessage holds a PublishBatch. Returns 1 with *batch, *blen when the
 * message is exactly one PublishBatch field (what every encoder writes), else 0: the
 * caller unpacks it with protobuf-c (any other message, or an odd shape). */
int wire_client_publish(const uint8_t *msg, size_t len, const uint8_t **batch, size_t *blen);

/* The bytes of the last occurrence of ClientMessage field 5 (the PublishBatch protobuf-c
 * decodes from a message whose body is a publish). Returns 1, or 0 when there is none.
 * The message must be one protobuf-c accepted. */
int wire_client_last_publish(const uint8_t *msg, size_t len, const uint8_t **batch,
			     size_t *blen);

/* Scans a PublishBatch: sequence and up to max events into views[0..b->n). Every event's
 * structure is checked before any event's content, as protobuf-c would fail the whole
 * message first. Returns 0 when the wire is valid and every string clean (events may
 * still be marked fallback: views[i].fallback; the rest still need wire_check_event);
 * -1 with err: MALFORMED_FRAME (not a valid PublishBatch; b->sequence holds the
 * sequence if it came before the fault), INVALID_EVENT (more than max events, or a
 * string with a NUL byte or invalid UTF-8, naming the event and field). */
int wire_scan_batch(const uint8_t *p, size_t len, struct event_view *views, uint32_t max,
		    struct wire_batch *b, struct publish_error *err);

/* Scans one Event's bytes (a repacked one, from the fallback) into *v. index names the
 * event in messages. Returns 0, or -1 with err as wire_scan_batch. */
int wire_scan_event(const uint8_t *p, size_t len, struct event_view *v, size_t index,
		    struct publish_error *err);

/* Checks the content rules of an event the scan accepted (not fallback): event_id,
 * distribution with a valid topic and routing key, one payload with its required
 * identifiers, lengths, enum ranges, list bounds; data_type, when unspecified, becomes the
 * payload's. index names the event. Returns 0, or -1 with err (INVALID_EVENT or
 * INVALID_TOPIC). */
int wire_check_event(struct event_view *v, size_t index, struct publish_error *err);

/* Writes an Event's bytes with its fields, and its distribution's, in field-number order
 * (each field's bytes unchanged; repeated ones keep their order) into out (cap bytes).
 * *out_len receives the length, which is len. Returns 0, -E2BIG past 256 fields at a
 * level, -ENOSPC when cap < len, -EINVAL when the bytes do not parse. */
int wire_reorder_event(const uint8_t *p, size_t len, uint8_t *out, size_t cap, size_t *out_len);

/* True when [p, p+n) is valid UTF-8 without a NUL byte. */
bool wire_utf8_ok(const uint8_t *p, size_t n);

/* Checks every string field of a message of type desc (any message of the .proto:
 * control messages, which protobuf-c unpacks and would cut short at a NUL), at every
 * depth, by the message's descriptor. Returns 0 when all are clean (or the bytes do not
 * parse: protobuf-c then says so), 1 when one holds a NUL byte or invalid UTF-8, with
 * its path ("subscribe.filter.symbols[2]") and the reason in path (cap bytes). */
int wire_strings_check(const ProtobufCMessageDescriptor *desc, const uint8_t *p, size_t len,
		       char *path, size_t cap);

#endif
