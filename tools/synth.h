/* tools/synth.h — synthetic market-data events for fanout-pub and fanout-bench: one
 * preallocated slot per event of a batch, refilled in place (no allocation per event).
 * Event i is symbol S%05u of (i mod symbols), keyed "<symbol>.<exchange>.trade" with the
 * exchange NASDAQ, NYSE, ARCA or BATS by symbol, and a price that moves with i. */
#ifndef FANOUT_TOOLS_SYNTH_H
#define FANOUT_TOOLS_SYNTH_H

#include <stddef.h>
#include <stdint.h>

#include "fanout.pb-c.h"

/* Every pointer of ev targets storage inside the slot. */
struct synth_slot {
	Fanout__V1__Event ev;
	Fanout__V1__Distribution dist;
	Fanout__V1__Metadata meta;
	Fanout__V1__MarketData md;
	char event_id[48];
	char symbol[16];
	char routing_key[48];
};

/* Wires a slot for topic (not copied) and source service (not copied). */
void synth_init(struct synth_slot *s, const char *topic, const char *source);

/* Fills symbol, routing key, exchange, price, bid, ask and volume for event i over
 * symbols symbols; event_id and timestamp are the caller's. */
void synth_fill(struct synth_slot *s, uint64_t i, unsigned symbols);

/* The exchange synth_fill gives a symbol. */
const char *synth_exchange(unsigned sym);

#endif
