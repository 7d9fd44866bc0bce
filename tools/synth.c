/* tools/synth.c — synthetic market-data slots. */
#include "tools/synth.h"

#include <stdio.h>

static const char *const synth_exchanges[] = { "NASDAQ", "NYSE", "ARCA", "BATS" };

const char *synth_exchange(unsigned sym)
{
	return synth_exchanges[sym % 4];
}

void synth_init(struct synth_slot *s, const char *topic, const char *source)
{
	fanout__v1__event__init(&s->ev);
	fanout__v1__distribution__init(&s->dist);
	fanout__v1__metadata__init(&s->meta);
	fanout__v1__market_data__init(&s->md);
	s->event_id[0] = s->symbol[0] = s->routing_key[0] = '\0';
	s->ev.event_id = s->event_id;
	s->ev.data_type = FANOUT__V1__DATA_TYPE__DATA_TYPE_MARKET_DATA;
	s->ev.distribution = &s->dist;
	s->ev.metadata = &s->meta;
	s->ev.payload_case = FANOUT__V1__EVENT__PAYLOAD_MARKET_DATA;
	s->ev.market_data = &s->md;
	s->dist.topic = (char *)topic;
	s->dist.routing_key = s->routing_key;
	s->meta.source_service = (char *)source;
	s->md.symbol = s->symbol;
	s->md.currency = "USD";
	s->md.kind = "trade";
}

void synth_fill(struct synth_slot *s, uint64_t i, unsigned symbols)
{
	unsigned sym = (unsigned)(i % symbols);
	double price = 20.0 + (double)(sym % 480) + (double)(i % 100) / 100.0;

	snprintf(s->symbol, sizeof(s->symbol), "S%05u", sym);
	snprintf(s->routing_key, sizeof(s->routing_key), "%s.%s.trade", s->symbol,
		 synth_exchange(sym));
	s->md.exchange = (char *)synth_exchange(sym);
	s->md.price = price;
	s->md.bid = price - 0.01;
	s->md.ask = price + 0.01;
	s->md.volume = (int64_t)(100 * (1 + i % 10));
}
