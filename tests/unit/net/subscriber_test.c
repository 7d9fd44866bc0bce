/* tests/unit/net/subscriber_test.c — a routed subscription's ring: what sub_push takes,
 * and where sub_overflow resumes the scan in each partition (its oldest owed offset, not
 * a stale cursor); a snapshot of a topic without events; what a subscription is charged
 * (filter lists included); on a real two-partition topic in a temporary directory. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/keyhash.h"
#include "net/subscriber.h"

struct fixture {
	char dir[64];
	struct topic_table topics;
	struct topic *tp;
	struct arena arena;
	struct subscription sub;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct log_config lc = { .segment_bytes = LOG_SEGMENT_BYTES_MIN };
	const char *pats[1] = { "AAPL.NASDAQ.trade" };
	struct sub_request req = { .id = 1, .patterns = pats, .npatterns = 1,
				   .start = FANOUT__V1__START_POSITION__START_POSITION_LATEST };
	const char *why = "";

	if (!f)
		return -1;
	strcpy(f->dir, "/tmp/fanout-sub-test.XXXXXX");
	if (!mkdtemp(f->dir) || topic_table_init(&f->topics, f->dir, &lc) < 0 ||
	    topic_create(&f->topics, "t", 1, 2, &f->tp) < 0 || arena_init(&f->arena, 1 << 20) < 0)
		return -1;
	req.topic = f->tp;
	if (sub_init(&f->sub, &req, &f->arena, &why) != SUB_OK)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	sub_free(&f->sub);
	arena_free(&f->arena);
	topic_table_close(&f->topics);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static void exact_patterns_are_routed_with_a_ring(void **state)
{
	struct fixture *f = *state;
	struct subscription *s = &f->sub;

	assert_true(s->indexed);
	assert_false(s->wild);
	assert_non_null(s->ring);
	assert_true(s->scan);	/* from its start position to the tails first */
	assert_int_equal(sub_push(s, 0, 5), SUB_PUSH_IGNORED);	/* the scan covers it */
	s->scan = false;	/* as after a scan that reached the tails */
	s->cursors[0].offset = 4;
	assert_int_equal(sub_push(s, 0, 3), SUB_PUSH_IGNORED);	/* below the cursor: sent */
	assert_int_equal(sub_push(s, 0, 5), SUB_PUSH_QUEUED);
	/* It grows, keeping the order, up to SUB_RING_MAX; past that it is full. */
	for (uint32_t i = 1; i < SUB_RING_MAX; i++)
		assert_int_equal(sub_push(s, 1, 100 + i), SUB_PUSH_QUEUED);
	assert_int_equal(s->ring_cap, SUB_RING_MAX);
	assert_int_equal(sub_push(s, 1, 100 + SUB_RING_MAX), SUB_PUSH_FULL);
	assert_true(sub_pending(s));
	assert_int_equal(s->ring[s->ring_head & (s->ring_cap - 1)] & 0xffffffff, 5);
	assert_int_equal(s->ring[(s->ring_tail - 1) & (s->ring_cap - 1)] & 0xffffffff,
			 100 + SUB_RING_MAX - 1);
}

static void overflow_resumes_from_what_is_owed(void **state)
{
	struct fixture *f = *state;
	struct subscription *s = &f->sub;
	const uint64_t offered[2] = { 900, 800 };

	s->scan = false;
	s->cursors[0].offset = 10;	/* stale: partition 0's frames since were not its */
	s->cursors[1].offset = 50;
	assert_int_equal(sub_push(s, 1, 60), SUB_PUSH_QUEUED);	/* owed, unsent */
	assert_int_equal(sub_push(s, 1, 70), SUB_PUSH_QUEUED);
	sub_overflow(s, offered);
	assert_true(s->scan);
	assert_true(s->reseek);
	assert_int_equal(s->ring_head, s->ring_tail);
	assert_int_equal(s->cursors[0].offset, 900);	/* nothing owed below the router */
	assert_int_equal(s->cursors[1].offset, 60);	/* its oldest unsent offset */
	/* A cursor already past what was offered (a scan ran ahead) stays put. */
	s->scan = false;
	s->cursors[0].offset = 950;
	s->cursors[1].offset = 820;
	sub_overflow(s, offered);
	assert_int_equal(s->cursors[0].offset, 950);
	assert_int_equal(s->cursors[1].offset, 820);
}

/* Nothing to snapshot: no array was ever allocated, and none is sorted (qsort may not be
 * given NULL, even for no elements: UBSan's nonnull check; found by the session fuzzer). */
static void snapshot_of_an_empty_topic_is_empty(void **state)
{
	struct fixture *f = *state;
	struct subscription s = { 0 };
	struct sub_request req = { .id = 2, .topic = f->tp, .snapshot = true,
				   .start = FANOUT__V1__START_POSITION__START_POSITION_LATEST };
	const char *why = "";

	assert_int_equal(sub_init(&s, &req, &f->arena, &why), SUB_OK);
	assert_int_equal(s.nsnap, 0);
	assert_null(s.snap);
	sub_free(&s);
}

/* Appends a stored-event frame with routing key key and index flags to partition 0 and
 * records it in the partition's last-value table, as publish does. */
static void append_flagged(struct topic *tp, const char *key, uint8_t flags)
{
	struct log *log = tp->part[0].log;
	size_t k = strlen(key), n = 0;
	struct log_fields fl = { .key_hash = keyhash_bytes(key, k), .flags = flags,
				 .recv_ns = (uint64_t)clock_realtime_ns() };
	uint8_t body[200], *dst;
	uint64_t at;

	body[n++] = 0x0a;	/* ServerMessage.event */
	body[n++] = (uint8_t)(k + 4);
	body[n++] = 0x22;	/* Event.distribution */
	body[n++] = (uint8_t)(k + 2);
	body[n++] = 0x22;	/* Distribution.routing_key */
	body[n++] = (uint8_t)k;
	memcpy(body + n, key, k);
	n += k;
	assert_int_equal(log_reserve(log, (uint32_t)(1 + n), &dst, &at), 0);
	dst[0] = (uint8_t)n;
	memcpy(dst + 1, body, n);
	log_commit(log, &fl);
	log_publish(log);
	assert_int_equal(latest_put(&tp->part[0].latest, fl.key_hash, (const char *)dst + 7,
				    (uint32_t)k, at), 0);	/* after the 7 bytes above */
}

static void append_key(struct topic *tp, const char *key)
{
	append_flagged(tp, key, 0);
}

/* Each audit-required frame gathered leaves its record; a gather with no room for one
 * stops before it (audit_blocked) and the next takes it. */
static void audit_frames_are_recorded_and_bounded(void **state)
{
	struct fixture *f = *state;
	struct subscription *s = &f->sub;
	struct audit_rec rec[1];
	struct iovec iov[8];
	struct sub_gather g = { .iov = iov, .iov_max = 8, .bytes_max = 1 << 20,
				.arena = &f->arena, .audit = rec, .audit_max = 1 };

	s->stats.serial = 42;
	append_flagged(f->tp, "AAPL.NASDAQ.trade", LOG_ENTRY_AUDIT_REQUIRED);
	append_flagged(f->tp, "AAPL.NASDAQ.trade", 0);
	append_flagged(f->tp, "MSFT.NASDAQ.trade", LOG_ENTRY_AUDIT_REQUIRED);	/* not its */
	append_flagged(f->tp, "AAPL.NASDAQ.trade", LOG_ENTRY_AUDIT_REQUIRED);
	assert_int_equal(sub_gather(s, &g), 2);	/* 0 and 1; 3 waits for room */
	assert_true(g.audit_blocked);
	assert_int_equal(g.naudit, 1);
	assert_int_equal(rec[0].serial, 42);
	assert_int_equal(rec[0].partition, 0);
	assert_int_equal(rec[0].offset, 0);
	assert_int_equal(rec[0].kind, AUDIT_DELIVERED);
	assert_ptr_equal(rec[0].topic, f->tp);
	assert_int_equal(s->audit_sent, 1);
	g = (struct sub_gather){ .iov = iov, .iov_max = 8, .bytes_max = 1 << 20,
				 .arena = &f->arena, .audit = rec, .audit_max = 1 };
	assert_int_equal(sub_gather(s, &g), 1);
	assert_false(g.audit_blocked);
	assert_int_equal(g.naudit, 1);
	assert_int_equal(rec[0].offset, 3);
}

/* Live frames gathered are ticked for the reactor's latency sample (net/latency.h): the
 * first, then one in 64; frames received before the subscription began are not. */
static void gathered_frames_are_sampled(void **state)
{
	struct fixture *f = *state;
	static struct net_latency lat;
	struct net_latency_snap *snap = calloc(1, sizeof(*snap));
	struct iovec iov[256];
	struct sub_gather g = { .iov = iov, .iov_max = 256, .bytes_max = 1 << 20,
				.arena = &f->arena, .audit_max = UINT32_MAX, .latency = &lat };

	assert_non_null(snap);
	net_latency_init(&lat);
	/* History — frames received before the subscription began (a replay, a resume) —
	 * is not timed: here it "began" after the first 65 frames. */
	for (int i = 0; i < 65; i++)
		append_key(f->tp, "AAPL.NASDAQ.trade");
	f->sub.live_from_ns = clock_realtime_ns() + 1;
	while (clock_realtime_ns() <= f->sub.live_from_ns)
		;
	for (int i = 0; i < 65; i++)
		append_key(f->tp, "AAPL.NASDAQ.trade");
	append_key(f->tp, "MSFT.NASDAQ.trade");	/* not its: not ticked */
	assert_int_equal(sub_gather(&f->sub, &g), 130);
	net_latency_read(&lat, snap);
	assert_int_equal(snap->count, 2);	/* live frames 1 and 65 (frames 66, 130) */
	assert_true(snap->max_ns < 60000000000ull);	/* their receive times were read */
	free(snap);
}

/* The priority class (sub_gather.latency_priority): a subscription at priority 0 never
 * ticks it; one at a priority ticks both, each on its own count. */
static void priority_frames_are_sampled_apart(void **state)
{
	struct fixture *f = *state;
	static struct net_latency all, prio;
	struct net_latency_snap *snap = calloc(1, sizeof(*snap));
	struct iovec iov[256];
	struct sub_gather g = { .iov = iov, .iov_max = 256, .bytes_max = 1 << 20,
				.arena = &f->arena, .audit_max = UINT32_MAX, .latency = &all,
				.latency_priority = &prio };

	assert_non_null(snap);
	net_latency_init(&all);
	net_latency_init(&prio);
	f->sub.live_from_ns = 0;	/* every frame live */
	for (int i = 0; i < 74; i++)
		append_key(f->tp, "AAPL.NASDAQ.trade");
	f->sub.priority = 0;	/* one frame (a byte's room): sampled in the whole only */
	g.bytes_max = 1;
	assert_int_equal(sub_gather(&f->sub, &g), 1);
	net_latency_read(&prio, snap);
	assert_int_equal(snap->count, 0);
	f->sub.priority = 7;	/* the other 73: 65 in the whole; 1 and 65 of them apart */
	g = (struct sub_gather){ .iov = iov, .iov_max = 256, .bytes_max = 1 << 20,
				 .arena = &f->arena, .audit_max = UINT32_MAX, .latency = &all,
				 .latency_priority = &prio };
	assert_int_equal(sub_gather(&f->sub, &g), 73);
	net_latency_read(&prio, snap);
	assert_int_equal(snap->count, 2);	/* its own count (on the whole's: 1) */
	net_latency_read(&all, snap);
	assert_int_equal(snap->count, 2);	/* frames 1 and 65 of the 74 */
	free(snap);
}

static void owed_collect(void *ctx, uint32_t p, uint64_t offset)
{
	uint64_t *v = ctx;

	assert_int_equal(p, 0);
	v[++v[0]] = offset;
}

/* An ended subscription owes exactly the audit-required events it wants between its
 * cursors and the ends; the walk is bounded per call and resumes. */
static void owed_audit_events_are_found(void **state)
{
	struct fixture *f = *state;
	struct subscription *s = &f->sub;
	uint64_t owed[8] = { 0 }, end[2] = { 4, 0 };

	append_flagged(f->tp, "AAPL.NASDAQ.trade", LOG_ENTRY_AUDIT_REQUIRED);
	append_flagged(f->tp, "MSFT.NASDAQ.trade", LOG_ENTRY_AUDIT_REQUIRED);	/* not its */
	append_flagged(f->tp, "AAPL.NASDAQ.trade", 0);				/* not audited */
	append_flagged(f->tp, "AAPL.NASDAQ.trade", LOG_ENTRY_AUDIT_REQUIRED);
	append_flagged(f->tp, "AAPL.NASDAQ.trade", LOG_ENTRY_AUDIT_REQUIRED);	/* past end */
	s->reseek = true;
	assert_false(sub_audit_owed(s, end, 2, &f->arena, owed_collect, owed));
	assert_int_equal(owed[0], 1);
	assert_int_equal(owed[1], 0);
	assert_true(sub_audit_owed(s, end, 100, &f->arena, owed_collect, owed));
	assert_int_equal(owed[0], 2);
	assert_int_equal(owed[2], 3);
	assert_int_equal(s->cursors[0].offset, 4);
}

/* Every allocation a subscription makes is taken from the budget first and given back
 * at sub_free: a subscription, its ring's growth (refused: it scans instead) and its
 * snapshot (refused: SUB_OVER_BUDGET, nothing kept). */
static void subscriptions_live_within_the_budget(void **state)
{
	struct fixture *f = *state;
	const char *pats[1] = { "AAPL.NASDAQ.trade" };
	struct sub_request req = { .id = 2, .topic = f->tp, .patterns = pats, .npatterns = 1,
				   .start = FANOUT__V1__START_POSITION__START_POSITION_LATEST };
	struct subscription s;
	struct budget b;
	const char *why = "";
	char key[32];

	req.budget = &b;
	budget_init(&b, BUDGET_RESERVE_BYTES + sub_request_bytes(&req) - 1);
	assert_int_equal(sub_init(&s, &req, &f->arena, &why), SUB_OVER_BUDGET);
	assert_true(budget_read(&b.used) == 0 && budget_read(&b.refused) == 1);
	budget_init(&b, BUDGET_RESERVE_BYTES + sub_request_bytes(&req));
	assert_int_equal(sub_init(&s, &req, &f->arena, &why), SUB_OK);
	s.scan = false;
	for (uint32_t i = 0; i < SUB_RING; i++)
		assert_int_equal(sub_push(&s, 0, 10 + i), SUB_PUSH_QUEUED);
	assert_int_equal(sub_push(&s, 0, 10 + SUB_RING), SUB_PUSH_FULL);	/* no room to grow */
	assert_int_equal(s.ring_cap, SUB_RING);
	sub_free(&s);
	assert_true(budget_read(&b.used) == 0);
	/* A snapshot of 300 keys needs room for 512 entries; the budget has 256's. */
	for (uint32_t i = 0; i < 300; i++) {
		snprintf(key, sizeof(key), "K%u.x", i);
		append_key(f->tp, key);
	}
	req.npatterns = 0;
	req.snapshot = true;
	budget_init(&b, BUDGET_RESERVE_BYTES + sub_request_bytes(&req) +
			SUB_RING * sizeof(struct sub_snap));
	assert_int_equal(sub_init(&s, &req, &f->arena, &why), SUB_OVER_BUDGET);
	assert_non_null(strstr(why, "memory budget"));
	assert_true(budget_read(&b.used) == 0);
	budget_init(&b, BUDGET_RESERVE_BYTES + sub_request_bytes(&req) +
			2 * SUB_RING * sizeof(struct sub_snap));
	assert_int_equal(sub_init(&s, &req, &f->arena, &why), SUB_OK);
	assert_int_equal(s.nsnap, 300);
	assert_true(budget_read(&b.used_by[BUDGET_SNAPSHOTS]) == 2 * SUB_RING * sizeof(struct sub_snap));
	sub_free(&s);
	assert_true(budget_read(&b.used) == 0);
}

/* A filter is charged one hash per listed value, whichever list holds it. */
static void filter_lists_are_charged_per_value(void **state)
{
	struct fixture *f = *state;
	char *orders[] = { "O1", "O2", "O3" }, *portfolios[] = { "P1", "P2" };
	Fanout__V1__Filter filter = FANOUT__V1__FILTER__INIT;
	struct sub_request req = { .id = 2, .topic = f->tp,
				   .start = FANOUT__V1__START_POSITION__START_POSITION_LATEST };
	uint64_t none = sub_request_bytes(&req);

	req.filter = &filter;
	assert_true(sub_request_bytes(&req) == none);
	filter.n_order_ids = 3;
	filter.order_ids = orders;
	assert_true(sub_request_bytes(&req) == none + 3 * sizeof(uint64_t));
	filter.n_portfolio_ids = 2;
	filter.portfolio_ids = portfolios;
	assert_true(sub_request_bytes(&req) == none + 5 * sizeof(uint64_t));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(exact_patterns_are_routed_with_a_ring, setup,
						teardown),
		cmocka_unit_test_setup_teardown(overflow_resumes_from_what_is_owed, setup,
						teardown),
		cmocka_unit_test_setup_teardown(snapshot_of_an_empty_topic_is_empty, setup,
						teardown),
		cmocka_unit_test_setup_teardown(subscriptions_live_within_the_budget, setup,
						teardown),
		cmocka_unit_test_setup_teardown(audit_frames_are_recorded_and_bounded, setup,
						teardown),
		cmocka_unit_test_setup_teardown(owed_audit_events_are_found, setup, teardown),
		cmocka_unit_test_setup_teardown(priority_frames_are_sampled_apart, setup, teardown),
		cmocka_unit_test_setup_teardown(gathered_frames_are_sampled, setup, teardown),
		cmocka_unit_test_setup_teardown(filter_lists_are_charged_per_value, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
