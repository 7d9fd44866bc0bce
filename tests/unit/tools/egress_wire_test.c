/* tests/unit/tools/egress_wire_test.c — tools/egress_wire.c: a stored event frame's
 * Event bytes, partition, offset and routing key, read off the wire as protobuf-c
 * packed them; other messages left to the caller; bad bytes refused. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "fanout.pb-c.h"
#include "tools/egress_wire.h"

/* Packs ServerMessage{event} with the given place into buf; returns its length. */
static size_t pack_event(uint8_t *buf, uint32_t partition, uint64_t offset, const char *key)
{
	Fanout__V1__ServerMessage m = FANOUT__V1__SERVER_MESSAGE__INIT;
	Fanout__V1__Event e = FANOUT__V1__EVENT__INIT;
	Fanout__V1__Distribution d = FANOUT__V1__DISTRIBUTION__INIT;
	Fanout__V1__Metadata md = FANOUT__V1__METADATA__INIT;

	e.event_id = "ev-1";
	e.timestamp_ns = 12345;
	md.venue = "NASDAQ";
	e.metadata = &md;	/* a field after distribution: skipped */
	d.topic = "market/ticks";
	d.partition = partition;
	d.offset = offset;
	d.routing_key = (char *)key;
	d.priority = 3;	/* after the key: skipped */
	e.distribution = &d;
	e.receive_time_ns = 99;
	m.body_case = FANOUT__V1__SERVER_MESSAGE__BODY_EVENT;
	m.event = &e;
	return fanout__v1__server_message__pack(&m, buf);
}

static void events_are_read_off_the_wire(void **state)
{
	uint8_t buf[512];
	size_t len = pack_event(buf, 3, 1ull << 40, "AAPL.NASDAQ.trade");
	struct egress_wire w;
	Fanout__V1__Event *e;

	(void)state;
	assert_int_equal(egress_wire_scan(buf, len, &w), 1);
	assert_int_equal(w.partition, 3);
	assert_int_equal(w.offset, 1ull << 40);
	assert_int_equal(w.key_len, strlen("AAPL.NASDAQ.trade"));
	assert_memory_equal(w.key, "AAPL.NASDAQ.trade", w.key_len);
	/* The value is the Event itself, whole. */
	e = fanout__v1__event__unpack(NULL, w.len, w.event);
	assert_non_null(e);
	assert_string_equal(e->event_id, "ev-1");
	assert_int_equal(e->distribution->offset, 1ull << 40);
	assert_int_equal(e->receive_time_ns, 99);
	assert_ptr_equal(w.event + w.len, buf + len);
	fanout__v1__event__free_unpacked(e, NULL);
	/* Partition and offset 0 are left out of the wire. */
	len = pack_event(buf, 0, 0, "K");
	assert_int_equal(egress_wire_scan(buf, len, &w), 1);
	assert_int_equal(w.partition, 0);
	assert_int_equal(w.offset, 0);
}

static void other_messages_and_bad_bytes(void **state)
{
	Fanout__V1__ServerMessage m = FANOUT__V1__SERVER_MESSAGE__INIT;
	Fanout__V1__Heartbeat hb = FANOUT__V1__HEARTBEAT__INIT;
	uint8_t buf[512];
	struct egress_wire w;
	size_t len;

	(void)state;
	m.body_case = FANOUT__V1__SERVER_MESSAGE__BODY_HEARTBEAT;
	m.heartbeat = &hb;
	len = fanout__v1__server_message__pack(&m, buf);
	assert_int_equal(egress_wire_scan(buf, len, &w), 0);
	len = pack_event(buf, 1, 7, "K.X");
	for (size_t cut = 1; cut < len; cut++)	/* every truncation is refused */
		assert_int_equal(egress_wire_scan(buf, cut, &w), -EPROTO);
	len = pack_event(buf, 1, 7, "");	/* no routing key on the wire */
	assert_int_equal(egress_wire_scan(buf, len, &w), -EPROTO);
	assert_int_equal(egress_wire_scan(buf, 0, &w), -EPROTO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(events_are_read_off_the_wire),
		cmocka_unit_test(other_messages_and_bad_bytes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
