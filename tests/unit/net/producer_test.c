/* tests/unit/net/producer_test.c — idempotent producers' records (net/producer.c): ids;
 * epochs and fencing generations; the verdict for each kind of batch (new, sent again
 * whole or part-stored, in flight, forgotten, another size, sequence 0, every record
 * busy); a batch that stored nothing lets its record go; past 96 records the oldest
 * are forgotten (raising the floor) whatever the batches' size, and a small producer's
 * file stays small; a full table forgets the producer idle longest; a second registry (a
 * restart) finds the records; a PENDING record a crash left is settled from stamped
 * frames in a real log, also after the clock stepped back and for a killed retry. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/arena.h"
#include "core/frame_key.h"
#include "ingest/publish.h"
#include "net/producer.h"
#include "tests/unit/tmp_tree.h"

struct fx {
	char dir[64];
	struct topic_table topics;
	struct topic *tp;
	struct producer_registry r;
	uint64_t known[PUBLISH_BATCH_MAX];
	uint32_t known_part[PUBLISH_BATCH_MAX];
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct log_config lc = { .segment_bytes = 8u << 20 };

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/producer_test.XXXXXX");
	if (!mkdtemp(f->dir) || topic_table_init(&f->topics, f->dir, &lc) < 0 ||
	    topic_create(&f->topics, "md", 2, 2, &f->tp) < 0 ||
	    producer_registry_open(&f->r, f->dir, &f->topics) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	producer_registry_close(&f->r);
	topic_table_close(&f->topics);
	tmp_tree_remove(f->dir);
	free(f);
	return 0;
}

static struct producer *attach(struct fx *f, const char *id, uint64_t epoch, uint64_t *gen)
{
	struct producer *p = NULL;
	uint64_t in_force;
	const char *why;

	assert_int_equal(producer_attach(&f->r, id, strlen(id), epoch, &p, gen, &in_force, &why),
			 0);
	assert_int_equal(in_force, epoch);
	return p;
}

/* producer_begin as the connection that attached last. */
static enum producer_verdict begin(struct producer *p, uint64_t epoch, uint64_t seq, uint32_t n,
				   int64_t recv_ns, uint64_t *known, uint32_t *known_part,
				   int *claim)
{
	return producer_begin(p, atomic_load(&p->gen), epoch, seq, n, recv_ns, known,
			      known_part, claim);
}

/* Records batch seq of n events at offsets base.. in partition 1. */
static void store(struct producer *p, uint64_t epoch, uint64_t seq, uint32_t n, uint64_t base)
{
	static uint64_t off[PUBLISH_BATCH_MAX];
	static uint32_t part[PUBLISH_BATCH_MAX];
	uint64_t known[4];
	uint32_t kp[4];
	int claim;

	assert_int_equal(begin(p, epoch, seq, n, 1, known, kp, &claim), PRODUCER_NEW);
	assert_true(claim >= 0);
	for (uint32_t i = 0; i < n; i++) {
		off[i] = base + i;
		part[i] = 1;
	}
	producer_record(p, claim, n, part, off);
}

static void test_ids(void **state)
{
	static const char *const bad[] = { "", ".", "..", "a b", "a/b", "é",
		"01234567890123456789012345678901234567890123456789012345678901234" };
	const char *why;

	(void)state;
	assert_int_equal(producer_id_check("md-gw_1.a", 9, &why), 0);
	assert_int_equal(producer_id_check("a..", 3, &why), 0);
	assert_int_equal(producer_id_check("...", 3, &why), -EINVAL);	/* hidden files */
	assert_int_equal(producer_id_check(".x", 2, &why), -EINVAL);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(producer_id_check(bad[i], strlen(bad[i]), &why), -EINVAL);
	assert_int_equal(producer_id_check("ab\0c", 4, &why), -EINVAL);
	assert_int_equal(producer_id_check("gw.state", 2, &why), 0);	/* a prefix */
}

static void test_epochs_and_fencing(void **state)
{
	struct fx *f = *state;
	struct producer *p, *q;
	uint64_t g1, g2, in_force = 0, known[2];
	uint32_t kp[2];
	const char *why;
	int claim;

	p = attach(f, "gw", 3, &g1);
	q = attach(f, "gw", 3, &g2);	/* the same epoch takes over */
	assert_ptr_equal(p, q);
	assert_int_equal(producer_begin(p, g1, 3, 1, 1, 1, known, kp, &claim), PRODUCER_FENCED);
	assert_int_equal(claim, -1);
	assert_int_equal(producer_attach(&f->r, "gw", 2, 2, &q, &g1, &in_force, &why), -ESTALE);
	assert_int_equal(in_force, 3);
	/* A refused Hello fences no one. */
	assert_int_equal(producer_begin(p, g2, 3, 1, 1, 1, known, kp, &claim), PRODUCER_NEW);
	producer_record(p, claim, 0, kp, known);
	store(p, 3, 10, 2, 100);
	q = attach(f, "gw", 4, &g2);	/* a new epoch: sequences start again */
	store(q, 4, 1, 2, 200);
	assert_int_equal(producer_attach(&f->r, "g w", 3, 5, &q, &g2, &in_force, &why),
			 -EINVAL);
	assert_non_null(strstr(why, "A-Z"));
	for (int i = 0; i < 3; i++)
		producer_detach(&f->r, p);
}

/* Past PRODUCERS_MAX the producer idle longest is forgotten (file and all); none is
 * while every one has a connection or a batch in flight. */
static void test_table_full(void **state)
{
	struct fx *f = *state;
	struct producer *p[PRODUCERS_MAX], *q;
	uint64_t gen, in_force, known[1];
	uint32_t kp[1];
	const char *why;
	char id[32], path[128];
	int claim;

	for (uint32_t i = 0; i < PRODUCERS_MAX; i++) {
		snprintf(id, sizeof(id), "p%u", i);
		p[i] = attach(f, id, 1, &gen);
	}
	producer_detach(&f->r, p[11]);	/* idle, but not for long enough */
	assert_int_equal(producer_attach(&f->r, "late", 4, 1, &q, &gen, &in_force, &why),
			 -EMFILE);
	f->r.evict_idle_ns = 0;
	p[11] = attach(f, "p11", 1, &gen);
	assert_int_equal(producer_attach(&f->r, "late", 4, 1, &q, &gen, &in_force, &why),
			 -EMFILE);
	producer_detach(&f->r, p[3]);	/* idle, but a batch in flight */
	assert_int_equal(begin(p[3], 1, 1, 1, 1, known, kp, &claim), PRODUCER_NEW);
	assert_int_equal(producer_attach(&f->r, "late", 4, 1, &q, &gen, &in_force, &why),
			 -EMFILE);
	producer_detach(&f->r, p[9]);	/* idle: the one to go */
	producer_detach(&f->r, p[5]);	/* idle later */
	assert_int_equal(producer_attach(&f->r, "late", 4, 1, &q, &gen, &in_force, &why), 0);
	snprintf(path, sizeof(path), "%s/producers/p9.state", f->dir);
	assert_int_equal(access(path, F_OK), -1);
	snprintf(path, sizeof(path), "%s/producers/p5.state", f->dir);
	assert_int_equal(access(path, F_OK), 0);
	producer_record(p[3], claim, 0, kp, known);
}

static void test_verdicts(void **state)
{
	struct fx *f = *state;
	struct producer *p;
	uint64_t gen, off[3] = { 7, UINT64_MAX, 9 };
	uint32_t part[3] = { 0, 0, 1 };
	int claim, again;

	p = attach(f, "gw", 1, &gen);
	assert_int_equal(begin(p, 1, 0, 3, 5, f->known, f->known_part, &claim),
			 PRODUCER_ZERO);
	assert_int_equal(claim, -1);
	assert_int_equal(begin(p, 1, 5, 3, 5, f->known, f->known_part, &claim),
			 PRODUCER_NEW);
	assert_true(claim >= 0);
	assert_int_equal(begin(p, 1, 5, 3, 6, f->known, f->known_part, &again),
			 PRODUCER_IN_FLIGHT);
	assert_int_equal(again, -1);
	producer_record(p, claim, 3, part, off);	/* entry 1 was not stored */
	assert_int_equal(begin(p, 1, 5, 4, 7, f->known, f->known_part, &again),
			 PRODUCER_OTHER_SIZE);
	assert_int_equal(begin(p, 1, 5, 3, 7, f->known, f->known_part, &again),
			 PRODUCER_RETRY);
	assert_true(again >= 0);	/* claimed again: entry 1 is stored now */
	assert_int_equal(f->known[0], 7);
	assert_int_equal(f->known[1], UINT64_MAX);
	assert_int_equal(f->known[2], 9);
	assert_int_equal(f->known_part[2], 1);
	/* That retry failed before storing anything (say its topic was disabled): what the
	 * first attempt stored is still known, whatever other records took meanwhile. */
	for (uint64_t s = 300; s < 325; s++)
		store(p, 1, s, PUBLISH_BATCH_MAX / 2, s);
	producer_record(p, again, 0, part, off);
	assert_int_equal(begin(p, 1, 5, 3, 7, f->known, f->known_part, &again),
			 PRODUCER_RETRY);
	assert_int_equal(f->known[0], 7);
	assert_int_equal(f->known[1], UINT64_MAX);
	assert_int_equal(f->known[2], 9);
	/* This one stopped (LOG_FULL) after its first two entries: merged with the rest. */
	off[1] = 12;
	producer_record(p, again, 2, part, off);
	assert_int_equal(begin(p, 1, 5, 3, 7, f->known, f->known_part, &again),
			 PRODUCER_RETRY);
	assert_int_equal(again, -1);
	assert_int_equal(f->known[1], 12);
	assert_int_equal(f->known[2], 9);
	assert_int_equal(f->known_part[2], 1);
	assert_int_equal(begin(p, 1, 5, 3, 8, f->known, f->known_part, &again),
			 PRODUCER_RETRY);
	assert_int_equal(again, -1);	/* all known: nothing to claim */
	assert_int_equal(f->known[1], 12);
	/* A batch that stored nothing lets its record go: sent again, it is new. */
	assert_int_equal(begin(p, 1, 1006, 2, 9, f->known, f->known_part, &claim),
			 PRODUCER_NEW);
	producer_record(p, claim, 0, part, off);
	assert_int_equal(begin(p, 1, 1006, 2, 9, f->known, f->known_part, &claim),
			 PRODUCER_NEW);
	producer_record(p, claim, 0, part, off);
	/* Every record in flight: busy. */
	for (uint32_t i = 0; i < PRODUCER_SLOTS; i++)
		assert_int_equal(begin(p, 1, 2000 + i, 1, 9, f->known, f->known_part,
						&claim), PRODUCER_NEW);
	assert_int_equal(begin(p, 1, 3999, 1, 9, f->known, f->known_part, &claim),
			 PRODUCER_BUSY);
}

static uint64_t held(struct fx *f)
{
	struct producer_info in;

	assert_int_equal(producer_info_at(&f->r, 0, &in), 0);
	return in.held;
}

/* A sequence refused for now holds the later ones (PRODUCER_HELD, nothing claimed),
 * not the earlier ones; claiming it again lets the hold go; the lowest such sequence
 * counts; a fenced connection cannot hold; a Hello lets the hold go. A part-stored
 * batch above the hold is not completed meanwhile, a wholly stored one is answered. */
static void test_hold(void **state)
{
	struct fx *f = *state;
	struct producer *p;
	uint64_t gen, old, off[2] = { 40, UINT64_MAX };
	uint32_t part[2] = { 0, 0 };
	int claim;

	p = attach(f, "gw", 1, &gen);
	store(p, 1, 1, 2, 10);
	assert_int_equal(begin(p, 1, 8, 2, 1, f->known, f->known_part, &claim), PRODUCER_NEW);
	producer_record(p, claim, 2, part, off);	/* entry 1 not stored */
	store(p, 1, 9, 2, 50);
	producer_hold(p, gen, 1, 6);
	producer_hold(p, gen, 1, 5);
	producer_hold(p, gen, 1, 7);	/* the lowest holds */
	assert_int_equal(held(f), 5);
	assert_int_equal(begin(p, 1, 6, 2, 1, f->known, f->known_part, &claim), PRODUCER_HELD);
	assert_int_equal(claim, -1);
	assert_int_equal(begin(p, 1, 8, 2, 1, f->known, f->known_part, &claim), PRODUCER_HELD);
	assert_int_equal(claim, -1);	/* its missing entry waits too */
	assert_int_equal(begin(p, 1, 9, 2, 1, f->known, f->known_part, &claim),
			 PRODUCER_RETRY);	/* stored before: answered, stores nothing */
	assert_int_equal(claim, -1);
	store(p, 1, 3, 2, 20);	/* ahead of the hold: goes on */
	assert_int_equal(held(f), 5);
	store(p, 1, 5, 2, 30);	/* sent again: the hold goes */
	assert_int_equal(held(f), 0);
	store(p, 1, 6, 2, 60);
	/* A fenced connection's refusal holds nothing; a Hello lets a hold go. */
	old = gen;
	p = attach(f, "gw", 1, &gen);
	producer_hold(p, old, 1, 10);
	assert_int_equal(held(f), 0);
	producer_hold(p, gen, 1, 10);
	assert_int_equal(held(f), 10);
	p = attach(f, "gw", 1, &gen);
	assert_int_equal(held(f), 0);
	store(p, 1, 11, 2, 70);
	/* Held while in flight (SEQUENCE_IN_FLIGHT: an earlier connection stored it
	 * meanwhile): sent again, it is answered from its record and the hold goes. */
	producer_hold(p, gen, 1, 11);
	assert_int_equal(begin(p, 1, 12, 2, 1, f->known, f->known_part, &claim),
			 PRODUCER_HELD);
	assert_int_equal(begin(p, 1, 11, 2, 1, f->known, f->known_part, &claim),
			 PRODUCER_RETRY);
	assert_int_equal(claim, -1);
	assert_int_equal(held(f), 0);
	store(p, 1, 12, 2, 80);
	/* A sequence the producer forgot (it will be refused as too old) holds nothing; a
	 * held sequence answered for good (release) lets the hold go, another does not. */
	for (uint64_t q = 20; q < 20 + PRODUCER_SLOTS + 4; q++)
		store(p, 1, q, 1, 100 + q);
	producer_hold(p, gen, 1, 21);
	assert_int_equal(held(f), 0);
	assert_int_equal(begin(p, 1, 21, 1, 1, f->known, f->known_part, &claim),
			 PRODUCER_TOO_OLD);
	/* Held while in flight, then stored whole by the first send: the hold goes. */
	assert_int_equal(begin(p, 1, 200, 1, 1, f->known, f->known_part, &claim), PRODUCER_NEW);
	producer_hold(p, gen, 1, 200);
	assert_int_equal(held(f), 200);
	{
		uint64_t o = 7;
		uint32_t q = 0;

		producer_record(p, claim, 1, &q, &o);
	}
	assert_int_equal(held(f), 0);
	producer_hold(p, gen, 1, 300);
	producer_release(p, 1, 299);
	assert_int_equal(held(f), 300);
	producer_release(p, 1, 300);
	assert_int_equal(held(f), 0);
	for (int i = 0; i < 3; i++)
		producer_detach(&f->r, p);
}

/* Records past PRODUCER_SLOTS forget the oldest, whatever the batches' size: their
 * sequences are refused as too old, newer ones still answered. */
static void test_forgetting(void **state)
{
	struct fx *f = *state;
	struct producer *p;
	uint64_t gen;
	int claim;

	p = attach(f, "gw", 1, &gen);
	for (uint64_t s = 1; s <= PRODUCER_SLOTS + 4; s++)
		store(p, 1, s, 1, s);
	assert_int_equal(begin(p, 1, 4, 1, 9, f->known, f->known_part, &claim),
			 PRODUCER_TOO_OLD);
	assert_int_equal(begin(p, 1, 5, 1, 9, f->known, f->known_part, &claim),
			 PRODUCER_RETRY);
	assert_int_equal(f->known[0], 5);
	assert_int_equal(begin(p, 1, 3, 1, 9, f->known, f->known_part, &claim),
			 PRODUCER_TOO_OLD);
	/* 8192-event batches (96 KiB of offsets each): the newest 96 are all remembered,
	 * the first five forgotten. */
	for (uint64_t s = 2000; s < 2101; s++)
		store(p, 1, s, PUBLISH_BATCH_MAX, s * 100000);
	assert_int_equal(begin(p, 1, 2004, PUBLISH_BATCH_MAX, 9, f->known, f->known_part,
			       &claim), PRODUCER_TOO_OLD);
	for (uint64_t s = 2005; s < 2101; s++) {
		assert_int_equal(begin(p, 1, s, PUBLISH_BATCH_MAX, 9, f->known, f->known_part,
				       &claim), PRODUCER_RETRY);
		assert_int_equal(f->known[0], s * 100000ull);
		assert_int_equal(f->known[8191], s * 100000ull + 8191);
	}
	{	/* a small producer's file keeps few blocks: only what its batches need */
		char path[128];
		struct stat st;
		struct producer *q = attach(f, "small", 1, &gen);

		for (uint64_t s = 1; s <= 200; s++)
			store(q, 1, s, 10, s);
		snprintf(path, sizeof(path), "%s/producers/small.state", f->dir);
		assert_int_equal(stat(path, &st), 0);
		assert_true(st.st_blocks * 512 < 1024 * 1024);
	}
}

/* A second registry over the same files (a restart) answers as the first did. */
static void test_reopen(void **state)
{
	struct fx *f = *state;
	struct producer *p;
	uint64_t gen, in_force;
	const char *why;
	int claim;

	p = attach(f, "gw", 9, &gen);
	store(p, 9, 41, 3, 500);
	producer_registry_close(&f->r);
	assert_int_equal(producer_registry_open(&f->r, f->dir, &f->topics), 0);
	assert_int_equal(f->r.n, 1);
	assert_int_equal(producer_attach(&f->r, "gw", 2, 8, &p, &gen, &in_force, &why), -ESTALE);
	p = attach(f, "gw", 9, &gen);
	assert_int_equal(begin(p, 9, 41, 3, 1, f->known, f->known_part, &claim),
			 PRODUCER_RETRY);
	assert_int_equal(f->known[2], 502);
	assert_int_equal(f->known_part[2], 1);
	/* A stray file in the directory: refused at open, naming it. */
	producer_registry_close(&f->r);
	{
		char path[128];
		FILE *x;

		snprintf(path, sizeof(path), "%s/producers/other.state", f->dir);
		x = fopen(path, "w");
		assert_non_null(x);
		fputs("not ours", x);
		fclose(x);
		assert_int_equal(producer_registry_open(&f->r, f->dir, &f->topics), -EUCLEAN);
		producer_registry_close(&f->r);
		unlink(path);
		/* One a killed server was making (a Hello's new producer): removed. */
		snprintf(path, sizeof(path), "%s/producers/gx.state.tmp", f->dir);
		x = fopen(path, "w");
		assert_non_null(x);
		fclose(x);
		assert_int_equal(producer_registry_open(&f->r, f->dir, &f->topics), 0);
		assert_int_equal(access(path, F_OK), -1);
		producer_registry_close(&f->r);
	}
	assert_int_equal(producer_registry_open(&f->r, f->dir, &f->topics), 0);
}

/* A crash between the claim and the record: the events appended so far are found by
 * their stamps at the next open; a retry then appends only the rest. */
#define T0 20000000000ll	/* a receive time (ns) */

static void test_settle_from_log(void **state)
{
	struct fx *f = *state;
	Fanout__V1__Event ev[3], *ptrs[3];
	Fanout__V1__Distribution dist[3];
	Fanout__V1__MarketData md[3];
	Fanout__V1__PublishBatch pb = FANOUT__V1__PUBLISH_BATCH__INIT;
	struct publish_ctx pub = { 0 };
	struct publish_ticket t = { 0 };
	struct publish_error err;
	struct arena arena;
	struct event_stamp stamp = { .id = "gw", .id_len = 2, .epoch = 2, .sequence = 8 };
	struct producer *p;
	uint8_t wire[4096];
	char ids[3][16], keys[3][16];
	uint64_t gen, seq;
	size_t len, appended;
	int claim;

	for (uint32_t i = 0; i < 3; i++) {
		fanout__v1__event__init(&ev[i]);
		fanout__v1__distribution__init(&dist[i]);
		fanout__v1__market_data__init(&md[i]);
		snprintf(ids[i], sizeof(ids[i]), "ev-%u", i);
		snprintf(keys[i], sizeof(keys[i]), "K%u.X.trade", i);
		ev[i].event_id = ids[i];
		dist[i].topic = "md";
		dist[i].routing_key = keys[i];
		ev[i].distribution = &dist[i];
		md[i].symbol = "K";
		ev[i].payload_case = FANOUT__V1__EVENT__PAYLOAD_MARKET_DATA;
		ev[i].market_data = &md[i];
		ptrs[i] = &ev[i];
	}
	assert_int_equal(arena_init(&arena, 8u << 20), 0);
	assert_int_equal(publish_init(&pub, 1u << 20, &arena), 0);
	pub.topics = &f->topics;
	pub.default_partitions = 1;
	p = attach(f, "gw", 2, &gen);
	assert_int_equal(begin(p, 2, 8, 3, T0, f->known, f->known_part, &claim),
			 PRODUCER_NEW);
	/* The crash came after two of the three events: they are all the log has. */
	pb.sequence = 8;
	pb.n_events = 2;
	pb.events = ptrs;
	len = protobuf_c_message_pack(&pb.base, wire);
	pub.stamp = &stamp;
	assert_int_equal(publish_bytes(&pub, wire, len, T0, &t, &appended, &seq, &err), 0);
	publish_flush(&pub);
	{	/* then a plain batch the clock says came 5 s earlier (stepped back) */
		struct publish_ticket t2 = { 0 };

		pb.sequence = 9;
		pb.n_events = 1;
		pb.events = &ptrs[2];
		len = protobuf_c_message_pack(&pb.base, wire);
		pub.stamp = NULL;
		assert_int_equal(publish_bytes(&pub, wire, len, T0 - 5000000000ll, &t2, &appended,
					       &seq, &err), 0);
		publish_flush(&pub);
		publish_ticket_free(&t2);
	}
	{	/* the stamp, as stored */
		struct log_ref ref;
		struct frame_stamp st;

		assert_int_equal(log_read(f->tp->part[t.partitions[1]].log, t.offsets[1], &ref), 0);
		assert_true(ref.entry->flags & LOG_ENTRY_PRODUCER);
		assert_int_equal(frame_stamp(ref.frame, ref.len, &st), 0);
		assert_int_equal(st.id_len, 2);
		assert_memory_equal(st.id, "gw", 2);
		assert_int_equal(st.epoch, 2);
		assert_int_equal(st.sequence, 8);
		assert_int_equal(st.index, 1);
	}
	producer_registry_close(&f->r);	/* no record: the crash */
	assert_int_equal(producer_registry_open(&f->r, f->dir, &f->topics), 0);
	assert_int_equal(f->r.n, 1);
	assert_int_equal(f->r.p[0]->settled, 1);
	assert_int_equal(f->r.p[0]->settled_events, 2);
	p = attach(f, "gw", 2, &gen);
	assert_int_equal(begin(p, 2, 8, 3, T0 + 1000, f->known, f->known_part, &claim),
			 PRODUCER_RETRY);
	assert_true(claim >= 0);
	assert_int_equal(f->known[0], t.offsets[0]);
	assert_int_equal(f->known_part[0], t.partitions[0]);
	assert_int_equal(f->known[1], t.offsets[1]);
	assert_int_equal(f->known[2], UINT64_MAX);
	/* The retry is killed before its record is written: the next start settles it
	 * from the logs, merged into what the first attempt stored. */
	producer_registry_close(&f->r);
	assert_int_equal(producer_registry_open(&f->r, f->dir, &f->topics), 0);
	assert_int_equal(f->r.p[0]->settled, 1);
	p = attach(f, "gw", 2, &gen);
	assert_int_equal(begin(p, 2, 8, 3, T0 + 2000, f->known, f->known_part, &claim),
			 PRODUCER_RETRY);
	assert_int_equal(f->known[0], t.offsets[0]);
	assert_int_equal(f->known[1], t.offsets[1]);
	assert_int_equal(f->known[2], UINT64_MAX);
	publish_ticket_free(&t);
	publish_free(&pub);
	arena_free(&arena);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ids),
		cmocka_unit_test_setup_teardown(test_epochs_and_fencing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_verdicts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forgetting, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hold, setup, teardown),
		cmocka_unit_test_setup_teardown(test_table_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_settle_from_log, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
