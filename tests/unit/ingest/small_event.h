/* tests/unit/ingest/small_event.h — the small execution and market-data events the wire
 * scan and event_view tests start from. Header-only, test code. */
#ifndef FANOUT_TESTS_SMALL_EVENT_H
#define FANOUT_TESTS_SMALL_EVENT_H

#include <string.h>

#include "fanout.pb-c.h"

/* One event with the submessages these tests use (metadata set up, not attached). */
struct ev {
	Fanout__V1__Event e;
	Fanout__V1__Distribution d;
	Fanout__V1__Metadata m;
	Fanout__V1__MarketData md;
	Fanout__V1__ExecutionData ex;
};

static inline void ev_base(struct ev *v)
{
	memset(v, 0, sizeof(*v));
	fanout__v1__event__init(&v->e);
	fanout__v1__distribution__init(&v->d);
	fanout__v1__metadata__init(&v->m);
	fanout__v1__market_data__init(&v->md);
	fanout__v1__execution_data__init(&v->ex);
	v->e.event_id = "e-1";
	v->e.distribution = &v->d;
	v->d.topic = "t";
	v->d.routing_key = "A.b";
}

/* An execution of order O1 (instrument AAPL) for portfolio_id (NULL: none). */
static inline void ev_execution(struct ev *v, const char *portfolio_id)
{
	ev_base(v);
	v->e.payload_case = FANOUT__V1__EVENT__PAYLOAD_EXECUTION;
	v->e.execution = &v->ex;
	v->ex.order_id = "O1";
	v->ex.instrument_id = "AAPL";
	v->ex.portfolio_id = (char *)portfolio_id;
}

/* Market data for AAPL of kind (NULL: none). */
static inline void ev_market(struct ev *v, const char *kind)
{
	ev_base(v);
	v->e.payload_case = FANOUT__V1__EVENT__PAYLOAD_MARKET_DATA;
	v->e.market_data = &v->md;
	v->md.symbol = "AAPL";
	v->md.kind = (char *)kind;
}

#endif
