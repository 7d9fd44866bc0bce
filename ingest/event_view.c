/* ingest/event_view.c — the sidecar index fields of an event, from its view. */
#include "ingest/event_view.h"

#include "core/keyhash.h"

static uint64_t view_hash(struct wire_str s)
{
	return s.len ? keyhash_bytes(s.p, s.len) : 0;
}

/* The venue filters match on: the market's exchange, the execution's venue, else the
 * metadata's venue. */
static struct wire_str view_venue(const struct event_view *v)
{
	if (v->payload == EVENT_PAYLOAD_MARKET_DATA && v->exchange.len)
		return v->exchange;
	if (v->payload == EVENT_PAYLOAD_EXECUTION && v->exec_venue.len)
		return v->exec_venue;
	return v->meta_venue;
}

void event_view_fields(const struct event_view *v, int64_t recv_ns, struct log_fields *f)
{
	memset(f, 0, sizeof(*f));
	f->recv_ns = (uint64_t)recv_ns;
	f->event_ns = v->timestamp_ns ? v->timestamp_ns : recv_ns;
	f->priority = v->priority > 255 ? 255 : (uint8_t)v->priority;
	f->key_hash = view_hash(v->routing_key);
	f->venue_hash = view_hash(view_venue(v));
	f->data_type = (uint8_t)v->data_type;
	f->flags = (v->latency_sensitive ? LOG_ENTRY_LATENCY_SENSITIVE : 0) |
		   (v->audit_required ? LOG_ENTRY_AUDIT_REQUIRED : 0);
	f->price = v->price;
	f->volume = v->volume;
	switch (v->payload) {
	case EVENT_PAYLOAD_MARKET_DATA:
		f->symbol_hash = view_hash(v->symbol);
		f->aux_hash = view_hash(v->currency);
		/* Exactly "trade", no case folding: the admin plane builds OHLCV bars from
		 * the entries flagged here without decoding a frame. */
		if (wire_str_eq(v->kind, "trade", 5))
			f->flags |= LOG_ENTRY_TRADE;
		break;
	case EVENT_PAYLOAD_DECISION:
		f->symbol_hash = view_hash(v->instrument_id);
		f->aux_hash = view_hash(v->action);
		f->order_hash = view_hash(v->decision_id);
		break;
	case EVENT_PAYLOAD_EXECUTION:
		f->symbol_hash = view_hash(v->instrument_id);
		f->order_hash = view_hash(v->order_id);
		f->portfolio_hash = view_hash(v->portfolio_id);
		break;
	default:
		break;
	}
}
