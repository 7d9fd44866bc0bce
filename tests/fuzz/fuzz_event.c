/* tests/fuzz/fuzz_event.c — event frames and log appends for the fuzz targets. */
#include "fuzz_event.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/frame.h"
#include "fanout.pb-c.h"
#include "fuzz_util.h"

uint32_t fuzz_event_frame(uint8_t *dst, const char *topic, uint64_t i, uint32_t partition,
			  uint64_t offset, uint32_t payload)
{
	Fanout__V1__ServerMessage m = FANOUT__V1__SERVER_MESSAGE__INIT;
	Fanout__V1__Event ev = FANOUT__V1__EVENT__INIT;
	Fanout__V1__Distribution d = FANOUT__V1__DISTRIBUTION__INIT;
	Fanout__V1__MarketData md = FANOUT__V1__MARKET_DATA__INIT;
	char id[32], kind[4097];

	snprintf(id, sizeof(id), "e%" PRIu64, i);
	payload = payload < sizeof(kind) ? payload : (uint32_t)sizeof(kind) - 1;
	memset(kind, 'k', payload);
	kind[payload] = '\0';
	d.topic = (char *)topic;
	d.partition = partition;
	d.offset = offset;
	d.routing_key = "AAPL.NASDAQ.trade";
	md.symbol = "AAPL";
	md.exchange = "NASDAQ";
	md.price = 100.0 + (double)(i % 100);
	md.volume = (int64_t)i;
	md.kind = kind;
	ev.event_id = id;
	ev.timestamp_ns = (int64_t)i;
	ev.data_type = FANOUT__V1__DATA_TYPE__DATA_TYPE_MARKET_DATA;
	ev.distribution = &d;
	ev.payload_case = FANOUT__V1__EVENT__PAYLOAD_MARKET_DATA;
	ev.market_data = &md;
	m.body_case = FANOUT__V1__SERVER_MESSAGE__BODY_EVENT;
	m.event = &ev;
	FUZZ_CHECK(frame_packed_size(&m.base) <= FUZZ_EVENT_FRAME_MAX, "event frame too big");
	return (uint32_t)frame_pack(&m.base, dst);
}

uint64_t fuzz_log_append(struct log *log, const uint8_t *frame, uint32_t len, uint64_t recv_ns)
{
	struct log_fields f = { .recv_ns = recv_ns,
				.data_type = FANOUT__V1__DATA_TYPE__DATA_TYPE_MARKET_DATA };
	uint64_t offset;
	uint8_t *dst;
	int r = log_reserve(log, len, &dst, &offset);

	FUZZ_CHECK(r == 0, "log_reserve: %s", strerror(-r));
	memcpy(dst, frame, len);
	log_commit(log, &f);
	log_publish(log);
	return offset;
}
