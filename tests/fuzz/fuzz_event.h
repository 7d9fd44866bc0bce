/* tests/fuzz/fuzz_event.h — real event frames and partition logs for the targets that
 * need valid data to mutate (log_recovery, shm_reader). Uses core/ (frame, log). Aborts on
 * any failure: these build a target's fixed starting point. */
#ifndef FANOUT_TESTS_FUZZ_EVENT_H
#define FANOUT_TESTS_FUZZ_EVENT_H

#include <stdint.h>

#include "core/log.h"

#define FUZZ_EVENT_FRAME_MAX 8192u	/* the largest frame fuzz_event_frame writes */

/* Writes the delimited ServerMessage{event} of event i (market data on topic, at
 * partition/offset, with payload bytes of padding, at most 4096) into dst, which has
 * FUZZ_EVENT_FRAME_MAX bytes. Returns the frame's bytes. */
uint32_t fuzz_event_frame(uint8_t *dst, const char *topic, uint64_t i, uint32_t partition,
			  uint64_t offset, uint32_t payload);

/* Appends frame to log (reserve, copy, commit with recv_ns, publish). Returns its offset. */
uint64_t fuzz_log_append(struct log *log, const uint8_t *frame, uint32_t len, uint64_t recv_ns);

#endif
