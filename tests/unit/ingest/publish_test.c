/* tests/unit/ingest/publish_test.c — publishing across reactors, without threads: a
 * batch on reactor 0 appends its own partitions' events at once and encodes the others'
 * into the ticket; reactor 1 appends those with publish_remote_apply. The stored frames
 * must decode to the same events with the owner's offsets (the placeholder patched in
 * place), the ticket must carry every offset, and releasing it wakes the publisher. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/frame.h"
#include "core/log.h"
#include "core/topic.h"
#include "ingest/publish.h"

#define N 200u

struct fixture {
	char dir[64];
	struct topic_table topics;
	struct topic *tp;
	struct publish_ctx pub[2];	/* one per reactor */
	struct publish_ticket t;
	Fanout__V1__Event ev[N];
	Fanout__V1__Distribution dist[N];
	Fanout__V1__MarketData md[N];
	Fanout__V1__Event *ptrs[N];
	char keys[N][32], ids[N][32];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct log_config lc = { .segment_bytes = LOG_SEGMENT_BYTES_MIN };

	if (!f)
		return -1;
	strcpy(f->dir, "/tmp/fanout-publish-test.XXXXXX");
	if (!mkdtemp(f->dir) || topic_table_init(&f->topics, f->dir, &lc) < 0)
		return -1;
	f->topics.reactors = 2;
	if (topic_create(&f->topics, "md", 2, 4, &f->tp) < 0)
		return -1;
	for (uint32_t r = 0; r < 2; r++) {
		f->pub[r].topics = &f->topics;
		f->pub[r].self = r;
		f->pub[r].default_partitions = 1;
	}
	for (uint32_t i = 0; i < N; i++) {
		fanout__v1__event__init(&f->ev[i]);
		fanout__v1__distribution__init(&f->dist[i]);
		fanout__v1__market_data__init(&f->md[i]);
		snprintf(f->ids[i], sizeof(f->ids[i]), "ev-%u", i);
		snprintf(f->keys[i], sizeof(f->keys[i]), "K%u.X.trade", i % 37);
		f->ev[i].event_id = f->ids[i];
		f->ev[i].timestamp_ns = 1000 + i;
		f->dist[i].topic = "md";
		f->dist[i].routing_key = f->keys[i];
		f->ev[i].distribution = &f->dist[i];
		f->md[i].symbol = "K";
		f->md[i].price = 1.5 * i;
		f->md[i].volume = i;
		f->ev[i].payload_case = FANOUT__V1__EVENT__PAYLOAD_MARKET_DATA;
		f->ev[i].market_data = &f->md[i];
		f->ptrs[i] = &f->ev[i];
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	publish_ticket_free(&f->t);
	topic_table_close(&f->topics);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

/* Decodes the stored frame at (partition, offset). */
static Fanout__V1__ServerMessage *stored(struct fixture *f, uint32_t p, uint64_t offset)
{
	struct log_ref ref;
	struct frame_view fv;

	assert_int_equal(log_read(f->tp->part[p].log, offset, &ref), 0);
	assert_true(frame_parse(ref.frame, ref.len, ref.len, &fv) > 0);
	return fanout__v1__server_message__unpack(NULL, fv.len, fv.body);
}

static void remote_events_get_their_owners_offsets(void **state)
{
	struct fixture *f = *state;
	struct publish_error err;
	size_t appended = 0;
	uint32_t owned[2] = { 0 };
	int rc;

	for (uint32_t p = 0; p < 4; p++)
		owned[f->tp->part[p].owner]++;
	assert_int_equal(owned[0], 2);	/* the partitions go round both reactors */
	assert_int_equal(owned[1], 2);
	rc = publish_batch(&f->pub[0], f->ptrs, N, 5000, &f->t, &appended, &err);
	assert_int_equal(rc, 1);	/* some wait for reactor 1 */
	assert_int_equal(f->t.n, N);
	assert_true(f->t.nremote > 0 && f->t.nremote < N);
	assert_int_equal(atomic_load(&f->t.remaining), f->t.nremote);
	publish_flush(&f->pub[0]);
	/* Reactor 1 takes them in order, as the lane would deliver them. */
	for (uint32_t i = 0; i < f->t.nremote; i++)
		publish_remote_apply(&f->pub[1], &f->t.remote[i]);
	publish_flush(&f->pub[1]);
	assert_int_equal(f->pub[1].wake & 1, 0);	/* not yet released */
	publish_release(&f->pub[1]);
	assert_int_equal(atomic_load(&f->t.remaining), 0);
	assert_int_equal(f->pub[1].wake & 1, 1);	/* the publisher is woken */
	for (uint32_t i = 0; i < N; i++) {
		uint32_t p = f->t.partitions[i];
		Fanout__V1__ServerMessage *m;

		assert_true(f->t.offsets[i] != UINT64_MAX);
		m = stored(f, p, f->t.offsets[i]);
		assert_non_null(m);
		assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_EVENT);
		assert_string_equal(m->event->event_id, f->ids[i]);
		assert_string_equal(m->event->distribution->routing_key, f->keys[i]);
		assert_int_equal(m->event->distribution->partition, p);
		assert_int_equal(m->event->distribution->offset, f->t.offsets[i]);
		assert_int_equal(m->event->receive_time_ns, 5000);
		assert_true(m->event->market_data->price == 1.5 * i);
		fanout__v1__server_message__free_unpacked(m, NULL);
	}
	/* Dense offsets per partition: N events, no gaps, nothing else. */
	for (uint32_t p = 0; p < 4; p++) {
		uint64_t count = 0;

		for (uint32_t i = 0; i < N; i++)
			count += f->t.partitions[i] == p;
		assert_int_equal(log_tail(f->tp->part[p].log), count);
	}
	assert_int_equal(f->pub[0].events + f->pub[1].events, N);
}

/* Fields this server does not know travel with the event and come last in its encoding:
 * the placeholder is still found, and the stored frame keeps them. */
static void unknown_fields_cross_reactors(void **state)
{
	struct fixture *f = *state;
	static uint8_t ev_data[1] = { 7 }, dist_data[1] = { 9 };
	ProtobufCMessageUnknownField ev_unknown = {
		.tag = 99, .wire_type = PROTOBUF_C_WIRE_TYPE_VARINT, .len = 1, .data = ev_data,
	};
	ProtobufCMessageUnknownField dist_unknown = {
		.tag = 98, .wire_type = PROTOBUF_C_WIRE_TYPE_VARINT, .len = 1, .data = dist_data,
	};
	struct publish_error err;
	size_t appended = 0;

	for (uint32_t i = 0; i < N; i++) {
		f->ev[i].base.n_unknown_fields = 1;
		f->ev[i].base.unknown_fields = &ev_unknown;
		f->dist[i].base.n_unknown_fields = 1;
		f->dist[i].base.unknown_fields = &dist_unknown;
	}
	assert_int_equal(publish_batch(&f->pub[0], f->ptrs, N, 5000, &f->t, &appended, &err), 1);
	for (uint32_t i = 0; i < f->t.nremote; i++)
		publish_remote_apply(&f->pub[1], &f->t.remote[i]);
	publish_flush(&f->pub[0]);
	publish_flush(&f->pub[1]);
	publish_release(&f->pub[1]);
	for (uint32_t i = 0; i < N; i++) {
		Fanout__V1__ServerMessage *m = stored(f, f->t.partitions[i], f->t.offsets[i]);

		assert_non_null(m);
		assert_int_equal(m->event->distribution->offset, f->t.offsets[i]);
		assert_int_equal(m->event->base.n_unknown_fields, 1);
		assert_int_equal(m->event->base.unknown_fields[0].tag, 99);
		fanout__v1__server_message__free_unpacked(m, NULL);
	}
}

static void bad_batch_hands_nothing_over(void **state)
{
	struct fixture *f = *state;
	struct publish_error err;
	size_t appended = 0;

	f->dist[N - 1].routing_key = "";	/* invalid: the whole batch is refused */
	assert_int_equal(publish_batch(&f->pub[0], f->ptrs, N, 5000, &f->t, &appended, &err), -1);
	assert_int_equal(f->t.nremote, 0);
	assert_int_equal(appended, 0);
	for (uint32_t p = 0; p < 4; p++)
		assert_int_equal(log_tail(f->tp->part[p].log), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(remote_events_get_their_owners_offsets, setup,
						teardown),
		cmocka_unit_test_setup_teardown(unknown_fields_cross_reactors, setup, teardown),
		cmocka_unit_test_setup_teardown(bad_batch_hands_nothing_over, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
