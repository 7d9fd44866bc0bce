/* core/frame_key.h — the routing key of a stored event frame, read by a wire walk: the
 * log's frames are ServerMessage{event} (ingest/event_encode.h writes them), and the key
 * is what the last-value table, the key index and the route cache compare where a hash
 * matches. Pure function over caller memory; any thread. */
#ifndef FANOUT_CORE_FRAME_KEY_H
#define FANOUT_CORE_FRAME_KEY_H

#include <stdint.h>

/* The routing key of a stored frame (prefix included, len bytes): walks ServerMessage
 * field 1 (event), Event field 4 (distribution), Distribution field 4, skipping what
 * comes before each, without decoding anything else. Returns 0 with *key (in the frame)
 * and *klen, or -EINVAL for a frame that holds no event key. The walk never reads outside
 * [frame, frame + len). */
int frame_key(const uint8_t *frame, uint32_t len, const char **key, uint32_t *klen);

/* An idempotent producer's stamp in a stored frame (Event.producer): the id points into
 * the frame. */
struct frame_stamp {
	const char *id;
	uint32_t id_len;
	uint64_t epoch, sequence, index;
};

/* Reads the stamp of a stored frame, walking as frame_key does. Returns 0, or -EINVAL
 * for a frame without one. */
int frame_stamp(const uint8_t *frame, uint32_t len, struct frame_stamp *out);

#endif
