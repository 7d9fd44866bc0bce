/* tests/unit/net/named_test.c — named subscriptions' durable cursors (net/named.c): the
 * delivery-count ranges as events are sent, sent again and acked; their bound; the file
 * made, found again (also by a second registry, as after a restart), refused when it is
 * not ours; EXCLUSIVE attach; AT_MOST_ONCE; names. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net/named.h"
#include "tests/unit/tmp_tree.h"

/* The one consumer most tests attach as (EXCLUSIVE). */
static _Atomic bool g_act;
static bool g_standby;
#define C0 ((struct named_consumer){ .activate = &g_act, .reactor = 0 })

struct fx {
	char dir[64];
	struct topic *tp;
	struct named_registry r;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/named_test.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	f->tp = calloc(1, sizeof(*f->tp) + 2 * sizeof(f->tp->part[0]));
	strcpy(f->tp->name, "t");
	f->tp->partitions = 2;
	named_init(&f->r);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	named_free(&f->r);
	tmp_tree_remove(f->dir);
	free(f->tp);
	free(f);
	return 0;
}

static struct named_sub *attach(struct fx *f, const char *name, int delivery, bool *resumed)
{
	struct named_sub *ns = NULL;
	const char *why;

	assert_int_equal(named_attach(&f->r, f->tp, f->dir, name, delivery,
				      NAMED_EXCLUSIVE, C0, &ns, resumed, &g_standby, &why), 0);
	return ns;
}

/* The ranges of partition p as "first-end:count ..." for compact assertions. */
static const char *ranges(const struct named_sub *ns, uint32_t p)
{
	static char buf[512];
	struct named_redelivery r[NAMED_SEGS];
	uint32_t n = named_unacked(ns, p, r, NAMED_SEGS);
	size_t at = 0;

	buf[0] = '\0';
	for (uint32_t i = 0; i < n; i++)
		at += (size_t)snprintf(buf + at, sizeof(buf) - at, "%s%llu-%llu:%llu", i ? " " : "",
				       (unsigned long long)r[i].first,
				       (unsigned long long)r[i].end,
				       (unsigned long long)r[i].count);
	return buf;
}

/* Sent, sent again in part, acked: the counts follow each event. */
static void counts_follow_events(void **state)
{
	struct fx *f = *state;
	bool resumed;
	struct named_sub *ns = attach(f, "w", NAMED_AT_LEAST_ONCE, &resumed);

	assert_false(resumed);
	named_start(ns, 0, 10);
	named_sent(ns, 0, 10, 20);
	named_sent(ns, 0, 20, 30);	/* merged: same count */
	assert_string_equal(ranges(ns, 0), "10-30:1");
	named_sent(ns, 0, 10, 15);	/* a resume sent 10..14 again */
	assert_string_equal(ranges(ns, 0), "10-15:2 15-30:1");
	named_sent(ns, 0, 15, 35);	/* then on past the old end */
	assert_string_equal(ranges(ns, 0), "10-30:2 30-35:1");
	named_sent(ns, 0, 10, 12);
	assert_string_equal(ranges(ns, 0), "10-12:3 12-30:2 30-35:1");
	named_ack(ns, 0, 13);		/* through 12 */
	assert_int_equal(named_acked(ns, 0), 13);
	assert_string_equal(ranges(ns, 0), "13-30:2 30-35:1");
	named_ack(ns, 0, 12);		/* never back */
	assert_int_equal(named_acked(ns, 0), 13);
	named_ack(ns, 0, 1000);		/* never past what was sent */
	assert_int_equal(named_acked(ns, 0), 35);
	assert_string_equal(ranges(ns, 0), "");
	named_sent(ns, 0, 5, 40);	/* below the ack: only 35.. counts */
	assert_string_equal(ranges(ns, 0), "35-40:1");
	assert_string_equal(ranges(ns, 1), "");	/* partitions apart */
	named_detach(&f->r, ns, &g_act);
}

/* More ranges than NAMED_SEGS: neighbours merge, counts stated high, never low. */
static void ranges_bounded(void **state)
{
	struct fx *f = *state;
	bool resumed;
	struct named_sub *ns = attach(f, "b", NAMED_AT_LEAST_ONCE, &resumed);
	struct named_redelivery r[NAMED_SEGS];
	uint32_t n;

	named_start(ns, 0, 0);
	named_sent(ns, 0, 0, 100);
	for (uint64_t k = 1; k < 40; k++)	/* each resume sends a shorter prefix again */
		named_sent(ns, 0, 0, 100 - 2 * k);
	n = named_unacked(ns, 0, r, NAMED_SEGS);
	assert_true(n <= NAMED_SEGS);
	assert_int_equal(r[0].first, 0);
	assert_int_equal(r[n - 1].end, 100);
	for (uint32_t i = 0; i < n; i++)	/* event e was sent 1 + #{k: e < 100 - 2k} times */
		for (uint64_t e = r[i].first; e < r[i].end; e++) {
			uint64_t real = 1;

			for (uint64_t k = 1; k < 40; k++)
				real += e < 100 - 2 * k;
			assert_true(r[i].count >= real);
		}
	named_detach(&f->r, ns, &g_act);
}

/* The file outlives the registry: a second one (a restart) finds the cursor and counts;
 * EXCLUSIVE: a second attach is -EBUSY until detach. */
static void file_survives_and_is_exclusive(void **state)
{
	struct fx *f = *state;
	struct named_registry r2;
	struct named_sub *ns, *again = NULL;
	const char *why;
	bool resumed;

	ns = attach(f, "keep", NAMED_AT_LEAST_ONCE, &resumed);
	named_start(ns, 0, 0);
	named_start(ns, 1, 7);
	named_started(ns);
	named_sent(ns, 0, 0, 50);
	named_ack(ns, 0, 20);
	assert_int_equal(named_attach(&f->r, f->tp, f->dir, "keep", NAMED_AT_LEAST_ONCE,
				      NAMED_EXCLUSIVE, C0, &again, &resumed, &g_standby, &why), -EBUSY);
	named_detach(&f->r, ns, &g_act);
	assert_int_equal(f->r.n, 0);	/* the registry holds only those with a consumer */
	assert_int_equal(named_attach(&f->r, f->tp, f->dir, "keep", NAMED_AT_LEAST_ONCE,
				      NAMED_EXCLUSIVE, C0, &again, &resumed, &g_standby, &why), 0);
	assert_true(resumed);
	assert_int_equal(named_acked(again, 0), 20);
	named_detach(&f->r, again, &g_act);

	named_init(&r2);	/* as a restarted server */
	assert_int_equal(named_attach(&r2, f->tp, f->dir, "keep", NAMED_AT_MOST_ONCE,
				      NAMED_EXCLUSIVE, C0, &again, &resumed, &g_standby, &why), 0);
	assert_true(resumed);
	assert_int_equal(again->hdr->delivery, NAMED_AT_LEAST_ONCE);	/* kept its own */
	assert_int_equal(named_acked(again, 0), 20);
	assert_int_equal(named_acked(again, 1), 7);
	assert_string_equal(ranges(again, 0), "20-50:1");
	named_detach(&r2, again, &g_act);
	named_free(&r2);
}

/* A subscription whose first consumer never placed its cursors (its Subscribe failed)
 * is made again: not resumed, and with the delivery now asked for. */
static void unstarted_is_made_again(void **state)
{
	struct fx *f = *state;
	bool resumed;
	struct named_sub *ns = attach(f, "half", NAMED_AT_MOST_ONCE, &resumed);

	assert_false(resumed);
	named_detach(&f->r, ns, &g_act);
	ns = attach(f, "half", NAMED_AT_LEAST_ONCE, &resumed);
	assert_false(resumed);
	assert_int_equal(ns->hdr->delivery, NAMED_AT_LEAST_ONCE);
	named_start(ns, 0, 4);
	named_start(ns, 1, 4);
	named_started(ns);
	named_detach(&f->r, ns, &g_act);
	ns = attach(f, "half", NAMED_AT_MOST_ONCE, &resumed);
	assert_true(resumed);
	assert_int_equal(ns->hdr->delivery, NAMED_AT_LEAST_ONCE);
	named_detach(&f->r, ns, &g_act);
}

/* A partition state torn by a power loss: the other copy if it holds, else the lower
 * acked offset without ranges; never refused. */
static void torn_state_repaired(void **state)
{
	struct fx *f = *state;
	bool resumed;
	struct named_sub *ns = attach(f, "torn", NAMED_AT_LEAST_ONCE, &resumed);
	struct named_part_file *pf;

	named_start(ns, 0, 10);
	named_start(ns, 1, 0);
	named_started(ns);
	named_sent(ns, 0, 10, 30);
	named_ack(ns, 0, 15);
	pf = &ns->parts[0];
	pf->copy[pf->cur].nseg = 99;	/* the current copy torn */
	named_detach(&f->r, ns, &g_act);
	ns = attach(f, "torn", NAMED_AT_LEAST_ONCE, &resumed);
	assert_true(resumed);
	assert_int_equal(named_acked(ns, 0), 10);	/* the copy before the ack */
	assert_string_equal(ranges(ns, 0), "10-30:1");
	pf = &ns->parts[0];
	pf->copy[0].nseg = 99;
	pf->copy[1].nseg = 99;	/* both torn */
	named_detach(&f->r, ns, &g_act);
	ns = attach(f, "torn", NAMED_AT_LEAST_ONCE, &resumed);
	assert_int_equal(named_acked(ns, 0), 10);
	assert_string_equal(ranges(ns, 0), "");
	named_detach(&f->r, ns, &g_act);
}

/* A file that is not one of ours, or made for another partition count: -EUCLEAN. */
static void foreign_file_refused(void **state)
{
	struct fx *f = *state;
	char path[256];
	struct named_sub *ns;
	const char *why;
	bool resumed;
	int fd;

	snprintf(path, sizeof(path), "%s/subscriptions", f->dir);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/subscriptions/junk.cur", f->dir);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "not a cursor", 12), 12);
	close(fd);
	assert_int_equal(named_attach(&f->r, f->tp, f->dir, "junk", NAMED_AT_LEAST_ONCE,
				      NAMED_EXCLUSIVE, C0, &ns, &resumed, &g_standby, &why), -EUCLEAN);
	assert_true(why[0]);
	ns = attach(f, "two", NAMED_AT_LEAST_ONCE, &resumed);
	named_detach(&f->r, ns, &g_act);
	named_free(&f->r);
	named_init(&f->r);
	f->tp->partitions = 1;	/* the same name, another partition count */
	assert_int_equal(named_attach(&f->r, f->tp, f->dir, "two", NAMED_AT_LEAST_ONCE,
				      NAMED_EXCLUSIVE, C0, &ns, &resumed, &g_standby, &why), -EUCLEAN);
	assert_non_null(strstr(why, "partition"));
	f->tp->partitions = 2;
}

/* AT_MOST_ONCE: sending moves the cursor; nothing is ever unacked. */
static void at_most_once(void **state)
{
	struct fx *f = *state;
	bool resumed;
	struct named_sub *ns = attach(f, "amo", NAMED_AT_MOST_ONCE, &resumed);

	named_start(ns, 0, 3);
	named_sent(ns, 0, 3, 9);
	assert_int_equal(named_acked(ns, 0), 9);
	assert_string_equal(ranges(ns, 0), "");
	named_detach(&f->r, ns, &g_act);
}

static void names(void **state)
{
	const char *why;
	char big[200];

	(void)state;
	assert_int_equal(named_name_check("order-router_1.v2", &why), 0);
	assert_int_equal(named_name_check("", &why), -EINVAL);
	assert_int_equal(named_name_check("..", &why), -EINVAL);
	assert_int_equal(named_name_check("a/b", &why), -EINVAL);
	assert_int_equal(named_name_check("a b", &why), -EINVAL);
	memset(big, 'a', 129);
	big[129] = '\0';
	assert_int_equal(named_name_check(big, &why), -EINVAL);
	big[128] = '\0';
	assert_int_equal(named_name_check(big, &why), 0);
}

/* A deleted topic's subscription still attached (it cannot be: its subscriptions end
 * first) is unlinked from the registry and freed by its detach. */
static void forget_topic(void **state)
{
	struct fx *f = *state;
	bool resumed;
	struct named_sub *ns = attach(f, "gone", NAMED_AT_LEAST_ONCE, &resumed);

	assert_int_equal(f->r.n, 1);
	named_forget_topic(&f->r, f->tp);
	assert_int_equal(f->r.n, 0);
	named_detach(&f->r, ns, &g_act);
	assert_int_equal(f->r.n, 0);
}

/* At most NAMED_PER_TOPIC files per topic: a new name past it is -EDQUOT; existing
 * ones still attach. */
static void per_topic_bound(void **state)
{
	struct fx *f = *state;
	struct named_sub *ns;
	const char *why;
	bool resumed;
	char name[32];

	for (uint32_t i = 0; i < NAMED_PER_TOPIC; i++) {
		snprintf(name, sizeof(name), "n%u", i);
		ns = attach(f, name, NAMED_AT_LEAST_ONCE, &resumed);
		named_detach(&f->r, ns, &g_act);
	}
	assert_int_equal(named_attach(&f->r, f->tp, f->dir, "one-more", NAMED_AT_LEAST_ONCE,
				      NAMED_EXCLUSIVE, C0, &ns, &resumed, &g_standby, &why), -EDQUOT);
	ns = attach(f, "n7", NAMED_AT_LEAST_ONCE, &resumed);
	named_detach(&f->r, ns, &g_act);
}

/* FAILOVER: the first consumer is active, the next stand by in order and take over
 * when the active one goes (its flag set, its reactor named); an EXCLUSIVE one is
 * refused while FAILOVER consumers are there, and the other way round; 16 at most. */
static void failover_order(void **state)
{
	struct fx *f = *state;
	static _Atomic bool act[NAMED_CONSUMERS_MAX + 1];
	struct named_sub *ns, *other;
	const char *why;
	bool resumed, standby;

	for (uint32_t i = 0; i < NAMED_CONSUMERS_MAX; i++) {
		struct named_consumer c = { .activate = &act[i], .reactor = 10 + i };

		assert_int_equal(named_attach(&f->r, f->tp, f->dir, "fo", NAMED_AT_LEAST_ONCE,
					      NAMED_FAILOVER, c, &ns, &resumed, &standby, &why), 0);
		assert_true(standby == (i > 0));
	}
	{
		struct named_consumer c = { .activate = &act[NAMED_CONSUMERS_MAX], .reactor = 1 };

		assert_int_equal(named_attach(&f->r, f->tp, f->dir, "fo", NAMED_AT_LEAST_ONCE,
					      NAMED_FAILOVER, c, &other, &resumed, &standby, &why),
				 -EBUSY);
		assert_int_equal(named_attach(&f->r, f->tp, f->dir, "fo", NAMED_AT_LEAST_ONCE,
					      NAMED_EXCLUSIVE, c, &other, &resumed, &standby, &why),
				 -EPROTOTYPE);
	}
	named_start(ns, 0, 0);
	named_start(ns, 1, 0);
	named_started(ns);
	named_sent(ns, 0, 0, 10);
	named_ack(ns, 0, 4);
	/* A standby leaving changes nothing; the active one leaving hands over. */
	assert_int_equal(named_detach(&f->r, ns, &act[3]), UINT32_MAX);
	assert_false(atomic_load(&act[1]));
	assert_int_equal(named_detach(&f->r, ns, &act[0]), 11);
	assert_true(atomic_load(&act[1]));
	assert_int_equal(named_acked(ns, 0), 4);	/* where the next one resumes */
	assert_int_equal(named_detach(&f->r, ns, &act[1]), 12);
	assert_true(atomic_load(&act[2]));
	for (uint32_t i = 2; i < NAMED_CONSUMERS_MAX; i++)
		if (i != 3)
			(void)named_detach(&f->r, ns, &act[i]);
	assert_int_equal(f->r.n, 0);	/* the last one gone: unmapped */
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(counts_follow_events), T(ranges_bounded), T(file_survives_and_is_exclusive),
		T(foreign_file_refused), T(at_most_once), T(names), T(forget_topic),
		T(unstarted_is_made_again), T(torn_state_repaired), T(per_topic_bound),
		T(failover_order),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
