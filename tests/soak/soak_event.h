/* tests/soak/soak_event.h — what the soak publishes and how anyone recognises it: event
 * ids "soak-<pub>-<seq>", each publisher's own routing keys "p<pub>.k<kk>.<kind>", the
 * key of every (pub, seq) (a pure function, so the checker recomputes it), fingerprints
 * of ids, and the subscribers' pattern sets with a matcher written here from the
 * protocol's words (proto/README.md: Subscribing), not the server's code. */
#ifndef FANOUT_TESTS_SOAK_EVENT_H
#define FANOUT_TESTS_SOAK_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fanout.pb-c.h"

#define SOAK_ID_MAX  48
#define SOAK_KEY_MAX 48
#define SOAK_SETS    6u

/* The key index of event seq of publisher pub (spread over SOAK_KEYS). */
uint32_t soak_key_index(uint32_t pub, uint64_t seq);

/* Writes publisher pub's key k into buf (SOAK_KEY_MAX bytes). */
void soak_key_name(char *buf, uint32_t pub, uint32_t k);

/* Parses "soak-<pub>-<seq>" (exactly; len bytes). Returns 0, or -1 for anything else. */
int soak_id_parse(const char *id, size_t len, uint32_t *pub, uint64_t *seq);

/* A fingerprint of an event id, never 0 (0 marks "nothing delivered here"). */
uint8_t soak_fp(const char *id, size_t len);

/* One event and the protobuf-c structures it points into. */
struct soak_event {
	Fanout__V1__Event e;
	Fanout__V1__Distribution d;
	Fanout__V1__MarketData md;
	Fanout__V1__ExecutionData ex;
	Fanout__V1__CoordinationDecision cd;
	Fanout__V1__Metadata meta;
	char id[SOAK_ID_MAX], key[SOAK_KEY_MAX], name[SOAK_KEY_MAX];
};

/* Fills ev as event seq of publisher pub: a market-data, execution or decision payload
 * by key, its seq also in the payload's volume or quantity, ~470 bytes of compliance
 * flags (records of ~640 bytes, so that a slow ring reader's pauses lap its ring while
 * the ring's journal still covers the lap: soak_ring.h). */
void soak_event_make(struct soak_event *ev, uint32_t pub, uint64_t seq);

/* True when a received event of (pub, seq) carries what soak_event_make put in it:
 * topic, key, payload kind and fields, metadata (partition and offset are the server's). */
bool soak_event_intact(const Fanout__V1__Event *e, uint32_t pub, uint64_t seq);

/* NATS-style match of a routing key against one pattern ('*' one token, '>' last: one
 * or more). */
bool soak_pattern_match(const char *pattern, const char *key);

/* Pattern set i (i < SOAK_SETS): its patterns and how many (0 = everything). */
const char *const *soak_set(uint32_t i, size_t *n);

/* True when key matches set i. */
bool soak_set_match(uint32_t i, const char *key);

#endif
