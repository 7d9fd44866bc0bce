/* tests/unit/net/shared_test.c — a SHARED or KEY_SHARED subscription's dealer (net/
 * shared.c) on a real topic in a temporary directory: round robin in runs, the permits
 * and window bounds, individual acks moving the durable cursor, ack timeouts and a
 * consumer's going putting events back (counted), a filter's refusals acked at once,
 * KEY_SHARED's key ownership and its wait for a moved key's events in flight, and a
 * resume from the file. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/keyhash.h"
#include "core/log_hot.h"
#include "core/log_retain.h"
#include "net/named.h"
#include "net/shared.h"

struct fx {
	char dir[64];
	struct topic_table topics;
	struct topic *tp;
	struct named_registry r;
	struct named_sub *ns;
	_Atomic bool act[8];
};

static int setup_type(void **state, int type)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct log_config lc = { .segment_bytes = LOG_SEGMENT_BYTES_MIN };
	bool resumed, standby;
	const char *why;

	if (!f)
		return -1;
	strcpy(f->dir, "/tmp/fanout-shared-test.XXXXXX");
	if (!mkdtemp(f->dir) || topic_table_init(&f->topics, f->dir, &lc) < 0 ||
	    topic_create(&f->topics, "t", 1, 1, &f->tp) < 0)
		return -1;
	named_init(&f->r);
	if (named_attach(&f->r, f->tp, f->dir, "s", NAMED_AT_LEAST_ONCE, type,
			 (struct named_consumer){ .activate = &f->act[0] }, &f->ns, &resumed,
			 &standby, &why) < 0 || !f->ns->shared)
		return -1;
	shared_place(f->ns->shared, (const uint64_t[]){ 0 });
	*state = f;
	return 0;
}

static int setup_shared(void **state)
{
	return setup_type(state, NAMED_SHARED);
}

static int setup_key_shared(void **state)
{
	return setup_type(state, NAMED_KEY_SHARED);
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	named_detach(&f->r, f->ns, &f->act[0]);
	named_free(&f->r);
	topic_table_close(&f->topics);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

/* Appends n events of routing key "K<key>" (key < 0: "K<i>" for the i-th). */
static void append(struct fx *f, uint32_t n, int key)
{
	struct log *log = f->tp->part[0].log;

	for (uint32_t i = 0; i < n; i++) {
		char k[32];
		int kl = snprintf(k, sizeof(k), "K%d", key < 0 ? (int)i : key);
		struct log_fields fl = { .key_hash = keyhash_bytes(k, (size_t)kl) };
		uint8_t *dst;
		uint64_t at;

		assert_int_equal(log_reserve(log, 8, &dst, &at), 0);
		memset(dst, 0, 8);
		dst[0] = 7;
		log_commit(log, &fl);
	}
	log_publish(log);
}

static bool want_all(void *ctx, uint32_t p, uint64_t offset)
{
	(void)ctx, (void)p, (void)offset;
	return true;
}

static bool want_even(void *ctx, uint32_t p, uint64_t offset)
{
	(void)ctx, (void)p;
	return offset % 2 == 0;
}

/* A consumer as a session keeps it: its ring of taken events and what it sent. */
struct cons {
	int slot;
	uint64_t ring[4096];
	uint32_t head, tail, mark;
	struct shared_taken redo[256];
	uint32_t nredo;
};

static struct shared_sent sent_of(struct cons *c)
{
	struct shared_sent s = { .ring = c->ring, .mask = 4095, .from = c->mark, .to = c->head };

	c->mark = c->head;
	return s;
}

/* Takes up to max, as sent at once (the next call reports them). */
static uint32_t take(struct fx *f, struct cons *c, uint32_t max, int64_t now,
		     bool (*wants)(void *, uint32_t, uint64_t))
{
	uint64_t out[256], wake;
	struct shared_sent s = sent_of(c);
	uint32_t n = shared_take(f->ns->shared, c->slot, &s, out, max, c->redo, &c->nredo,
				 wants ? wants : want_all, NULL, now, &wake);

	for (uint32_t i = 0; i < n; i++)
		c->ring[c->tail++ & 4095] = out[i];
	c->head = c->tail;	/* gathered */
	return n;
}

static uint64_t off_at(const struct cons *c, uint32_t i)
{
	return c->ring[i & 4095] & ((1ull << SHARED_SHIFT) - 1);
}

static void ack(struct fx *f, struct cons *c, uint64_t offset, uint64_t count)
{
	struct shared_sent s = sent_of(c);

	(void)shared_ack(f->ns->shared, c->slot, &s, 0, offset, count, NULL, 0, 0);
}

static void deals_round_robin_in_runs(void **state)
{
	struct fx *f = *state;
	static struct cons c[3];

	for (int i = 0; i < 3; i++) {
		memset(&c[i], 0, sizeof(c[i]));
		c[i].slot = shared_join(f->ns->shared, 0, 0);
		assert_true(c[i].slot >= 0);
	}
	append(f, 6 * SHARED_RUN, -1);
	assert_int_equal(take(f, &c[0], 256, 0, NULL), 2 * SHARED_RUN);	/* deals all */
	assert_int_equal(take(f, &c[1], 256, 0, NULL), 2 * SHARED_RUN);
	assert_int_equal(take(f, &c[2], 256, 0, NULL), 2 * SHARED_RUN);
	for (int i = 0; i < 3; i++)	/* runs of consecutive offsets */
		for (uint32_t k = 1; k < SHARED_RUN; k++)
			assert_int_equal(off_at(&c[i], k), off_at(&c[i], 0) + k);
	/* Acked individually, out of order: the cursor moves past the acked front only. */
	{
		int j = off_at(&c[0], 0) == 0 ? 1 : 0;	/* one without offset 0 */

		ack(f, &c[j], off_at(&c[j], 0), SHARED_RUN);
		assert_int_equal(named_acked(f->ns, 0), 0);
	}
	for (int i = 0; i < 3; i++)
		for (uint32_t k = 0; k < 2 * SHARED_RUN; k++)
			ack(f, &c[i], off_at(&c[i], k), 1);
	assert_int_equal(named_acked(f->ns, 0), 6 * SHARED_RUN);
	assert_int_equal(shared_base(f->ns->shared, 0), 6 * SHARED_RUN);
	for (int i = 0; i < 3; i++)
		assert_int_equal(shared_held(f->ns->shared, c[i].slot), 0);
}

static void permits_and_window_bound_what_is_held(void **state)
{
	struct fx *f = *state;
	static struct cons a;
	uint32_t got = 0, n;

	memset(&a, 0, sizeof(a));
	a.slot = shared_join(f->ns->shared, 0, 0);
	append(f, SHARED_PERMITS + 100, -1);
	while ((n = take(f, &a, 256, 0, NULL)) > 0)
		got += n;
	assert_int_equal(got, SHARED_PERMITS);	/* no more until it acks */
	assert_int_equal(shared_held(f->ns->shared, a.slot), SHARED_PERMITS);
	ack(f, &a, 0, 100);	/* [0, 100) at once (Ack.count) */
	assert_int_equal(take(f, &a, 256, 0, NULL), 100);
	assert_int_equal(named_acked(f->ns, 0), 100);
	/* The window: one event never acked stops the partition SHARED_WINDOW after it. */
	ack(f, &a, 101, SHARED_PERMITS + 100);
	append(f, SHARED_WINDOW, -1);
	for (int i = 0; i < 200; i++) {
		uint32_t from = a.tail;

		if (take(f, &a, 256, 0, NULL) == 0)
			break;
		ack(f, &a, off_at(&a, from), off_at(&a, a.tail - 1) + 1 - off_at(&a, from));
	}
	assert_int_equal(named_acked(f->ns, 0), 100);
	assert_int_equal(off_at(&a, a.tail - 1), 100 + SHARED_WINDOW - 1);
}

static void timeouts_and_leaving_put_events_back_counted(void **state)
{
	struct fx *f = *state;
	static struct cons a, b;
	const int64_t ms = 1000000;

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	a.slot = shared_join(f->ns->shared, 0, 50 * ms);
	append(f, 10, -1);
	assert_int_equal(take(f, &a, 256, 0, NULL), 10);
	assert_int_equal(a.nredo, 0);
	assert_int_equal(take(f, &a, 256, 10 * ms, NULL), 0);	/* sent at 10 ms */
	assert_int_equal(take(f, &a, 256, 59 * ms, NULL), 0);	/* not yet */
	assert_int_equal(take(f, &a, 256, 61 * ms, NULL), 10);	/* past 60 ms: again */
	assert_int_equal(a.nredo, 10);
	assert_int_equal(a.redo[0].count, 1);	/* sent once before */
	ack(f, &a, 0, 5);
	/* a goes: its 5 others go to b, sent twice before (the report at leaving counts). */
	b.slot = shared_join(f->ns->shared, 1, 0);
	{
		struct shared_sent s = sent_of(&a);
		uint64_t wake = shared_leave(f->ns->shared, a.slot, &s);

		assert_int_equal(wake, 1ull << 1);	/* b's reactor */
	}
	assert_int_equal(take(f, &b, 256, 0, NULL), 5);
	assert_int_equal(b.nredo, 5);
	for (uint32_t i = 0; i < 5; i++) {
		assert_int_equal(off_at(&b, i), 5 + i);	/* in offset order */
		assert_int_equal(b.redo[i].count, 2);
	}
}

static void filtered_events_are_acked_at_once(void **state)
{
	struct fx *f = *state;
	static struct cons a;

	memset(&a, 0, sizeof(a));
	a.slot = shared_join(f->ns->shared, 0, 0);
	append(f, 20, -1);
	assert_int_equal(take(f, &a, 256, 0, want_even), 10);
	ack(f, &a, 0, 1);
	assert_int_equal(named_acked(f->ns, 0), 2);	/* 1 was never its */
	assert_int_equal(shared_held(f->ns->shared, a.slot), 9);
}

/* A resumed subscription (its file, as after a restart) starts at its oldest unacked
 * event and sends [it, what was dealt) again, counted. */
static void resumes_from_the_file(void **state)
{
	struct fx *f = *state;
	static struct cons a;
	struct shared_state *again;

	memset(&a, 0, sizeof(a));
	a.slot = shared_join(f->ns->shared, 0, 0);
	append(f, 30, -1);
	assert_int_equal(take(f, &a, 256, 0, NULL), 30);
	ack(f, &a, 0, 10);
	ack(f, &a, 20, 5);	/* individually, above the front: sent again on resume */
	again = shared_new(f->ns, false, true);
	assert_non_null(again);
	assert_int_equal(again->part[0].base, 10);
	assert_int_equal(again->part[0].next, 30);
	assert_int_equal(again->part[0].pending, 20);
	assert_int_equal(again->part[0].win[15 % SHARED_WINDOW].count, 1);
	shared_free(again);
}

static void key_shared_keys_stay_and_move_after_acks(void **state)
{
	struct fx *f = *state;
	static struct cons a, b;
	bool a_has[64] = { 0 };
	uint32_t na, nb;

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	a.slot = shared_join(f->ns->shared, 0, 0);
	append(f, 64, -1);	/* keys K0..K63 */
	assert_int_equal(take(f, &a, 256, 0, NULL), 64);	/* all a's */
	for (uint32_t i = 0; i < 64; i++)
		a_has[off_at(&a, i)] = true;
	b.slot = shared_join(f->ns->shared, 0, 0);
	append(f, 64, -1);	/* the same keys again: offsets 64..127 */
	na = take(f, &a, 256, 0, NULL);
	nb = take(f, &b, 256, 0, NULL);
	assert_int_equal(nb, 0);	/* b's keys' events wait for a's acks (and the rest
					 * of the partition behind the first of them) */
	ack(f, &a, 0, 64 + na);
	na += take(f, &a, 256, 0, NULL);
	nb = take(f, &b, 256, 0, NULL);
	na += take(f, &a, 256, 0, NULL);
	assert_int_equal(na + nb, 64);
	assert_true(nb > 0 && na > 0);
	/* A key's second event went to its owner now; b's keys had their first at a. */
	for (uint32_t i = 0; i < nb; i++) {
		uint64_t o = off_at(&b, i);

		assert_true(o >= 64 && o < 128);
		assert_true(a_has[o - 64]);
	}
}

/* Retention cuts below what a consumer holds: its permits come back, dealing goes on. */
static void retention_cut_gives_permits_back(void **state)
{
	struct fx *f = *state;
	struct log *log = f->tp->part[0].log;
	static struct cons a;
	uint32_t got = 0, n;
	uint64_t first;

	memset(&a, 0, sizeof(a));
	a.slot = shared_join(f->ns->shared, 0, 0);
	append(f, 3000, -1);	/* 682 entries to a segment: 5 segments */
	while ((n = take(f, &a, 256, 0, NULL)) > 0)
		got += n;
	assert_int_equal(got, SHARED_PERMITS);	/* none acked: no more */
	assert_int_equal(log_persist_run(log, false), 0);
	assert_true(log_retire(log, 1000, 1) > 0);
	first = log_first(log);
	assert_true(first > 0 && first <= 1000);
	n = take(f, &a, 256, 0, NULL);	/* the cut's permits: as many dealt again */
	assert_int_equal(n, 256);
	assert_int_equal(off_at(&a, a.tail - n), SHARED_PERMITS);
	assert_int_equal(shared_base(f->ns->shared, 0), first);
	assert_int_equal(shared_held(f->ns->shared, a.slot), SHARED_PERMITS);
	/* Its 1,024 - first still held, and first more dealt: its queue holds them. */
	got = 0;
	while ((n = take(f, &a, 256, 0, NULL)) > 0)
		got += n;
	assert_int_equal(got, first - 256);
}

/* An Ack for an event dealt and not yet sent is ignored: it is still sent. */
static void acks_only_cover_sent_events(void **state)
{
	struct fx *f = *state;
	static struct cons a;

	memset(&a, 0, sizeof(a));
	a.slot = shared_join(f->ns->shared, 0, 0);
	append(f, 40, -1);
	assert_int_equal(take(f, &a, 10, 0, NULL), 10);	/* 0..9 taken, 10..39 queued */
	ack(f, &a, 0, 40);	/* 0..9 acked; the rest were not sent */
	assert_int_equal(named_acked(f->ns, 0), 10);
	assert_int_equal(shared_held(f->ns->shared, a.slot), 30);
	assert_int_equal(take(f, &a, 256, 0, NULL), 30);
	assert_int_equal(off_at(&a, 10), 10);
}

/* The file says what was sent past the oldest unacked event, as it is sent. */
static void the_file_follows_what_is_sent(void **state)
{
	struct fx *f = *state;
	static struct cons a;
	struct named_redelivery un[NAMED_SEGS];

	memset(&a, 0, sizeof(a));
	a.slot = shared_join(f->ns->shared, 0, 0);
	append(f, 50, -1);
	assert_int_equal(take(f, &a, 256, 0, NULL), 50);
	ack(f, &a, 0, 10);	/* reports the 50 sent, acks 0..9 */
	assert_int_equal(named_unacked(f->ns, 0, un, NAMED_SEGS), 1);
	assert_int_equal(un[0].first, 10);
	assert_int_equal(un[0].end, 50);
	assert_int_equal(un[0].count, 1);
}

/* A cursor acked past the log's end (a cut log) resumes at the end: what is appended
 * there next is dealt, not skipped. */
static void resumes_at_the_end_when_acked_past_it(void **state)
{
	struct fx *f = *state;
	struct shared_state *again;

	append(f, 50, -1);
	named_start(f->ns, 0, 100);
	again = shared_new(f->ns, false, true);
	assert_non_null(again);
	assert_int_equal(again->part[0].base, 50);
	assert_int_equal(again->part[0].next, 50);
	assert_int_equal(named_acked(f->ns, 0), 50);
	shared_free(again);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(deals_round_robin_in_runs, setup_shared, teardown),
		cmocka_unit_test_setup_teardown(permits_and_window_bound_what_is_held,
						setup_shared, teardown),
		cmocka_unit_test_setup_teardown(timeouts_and_leaving_put_events_back_counted,
						setup_shared, teardown),
		cmocka_unit_test_setup_teardown(filtered_events_are_acked_at_once, setup_shared,
						teardown),
		cmocka_unit_test_setup_teardown(resumes_from_the_file, setup_shared, teardown),
		cmocka_unit_test_setup_teardown(key_shared_keys_stay_and_move_after_acks,
						setup_key_shared, teardown),
		cmocka_unit_test_setup_teardown(retention_cut_gives_permits_back, setup_shared,
						teardown),
		cmocka_unit_test_setup_teardown(acks_only_cover_sent_events, setup_shared, teardown),
		cmocka_unit_test_setup_teardown(the_file_follows_what_is_sent, setup_shared,
						teardown),
		cmocka_unit_test_setup_teardown(resumes_at_the_end_when_acked_past_it, setup_shared,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
