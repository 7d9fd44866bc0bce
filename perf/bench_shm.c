/* perf/bench_shm.c — fanout's shared-memory readers in fanout-bench (--shm-readers M).
 * Each attaches to the run's fanoutd with libfanout-shm, which gives it a subscription
 * and a ring of its own, and reads that ring on a thread of its own, polling
 * cfg->shm_spin times before it sleeps on the ring's futex. Reader j takes the keys
 * subscriber number subscribers + j would, as exact routing keys (or, when it takes every
 * one of more than BENCH_SHM_KEYS_MAX keys, no pattern: the same events in the one
 * subscription a reader has), with the content filter. An event counts once the library
 * says its bytes stayed intact (fanout_shm_validate), through bench_deliver as a TCP
 * subscriber's does: order and gaps per key, latency from the intended send time into
 * the reader's own histogram. One overwritten while read comes again from the partition
 * log and counts then. What the library reports lost (GAP records) is kept beside the
 * exact loss (owed - delivered); offsets must rise within a partition. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "perf/bench.h"
#include "perf/bench_cpu.h"
#include "perf/bench_pb.h"
#include "shm/fanout_shm.h"

#define SHM_WAIT_NS (50 * 1000000LL)	/* longest wait before looking at stop_rx again */
#define ATTACH_TIMEOUT_MS 10000

struct shm_reader {
	struct bench_thread t;		/* this reader alone: t.subs = &sp */
	struct bench_sub s, *sp;
	struct fanout_shm *h;
	uint64_t *part_next;		/* per partition: one past the highest offset seen */
	uint32_t nparts;
	uint64_t gap_records, lost_reported;
	bool bad_frame_said, started;
	pthread_t tid;
};

struct bench_shm {
	unsigned n;			/* readers attached (their handles to close) */
	struct shm_reader rd[BENCH_SHM_READERS_MAX];
};

/* Storage a reader owns, and its first owed event per key. Returns 0 or -ENOMEM. */
static int reader_init(struct bench_run *r, struct shm_reader *rd, unsigned j)
{
	const struct bench_cfg *c = r->cfg;
	unsigned id = c->subscribers + j;

	rd->s = (struct bench_sub){ .id = id, .fd = -1, .nkeys = c->sub_symbols,
		.key_base = (unsigned)(((uint64_t)id * c->sub_symbols) % c->symbols) };
	rd->sp = &rd->s;
	rd->t = (struct bench_thread){ .run = r, .idx = BENCH_THREADS_MAX + j, .nsubs = 1,
				       .subs = &rd->sp };
	rd->s.key_next = calloc(c->sub_symbols, sizeof(*rd->s.key_next));
	rd->t.hist = calloc(1, sizeof(*rd->t.hist));
	if (!rd->s.key_next || !rd->t.hist)
		return -ENOMEM;
	for (unsigned k = 0; k < c->sub_symbols; k++)
		rd->s.key_next[k] = bench_next_owed(c, (rd->s.key_base + k) % c->symbols);
	return 0;
}

static int reader_attach(struct bench_run *r, struct shm_reader *rd)
{
	const struct bench_cfg *c = r->cfg;
	char keys[BENCH_SHM_KEYS_MAX][48], err[256];
	const char *pats[BENCH_SHM_KEYS_MAX];
	struct bench_pb_filter fst;
	struct fanout_shm_opts o;
	struct fanout_shm_info info;
	struct fanout_shm_attach_opts a = {
		.socket_path = r->shm_socket, .topic = BENCH_TOPIC, .patterns = pats,
		.filter = bench_pb_filter(&c->filter, &fst), .ring_bytes = c->shm_ring_bytes,
		.client_name = "fanout-bench", .timeout_ms = ATTACH_TIMEOUT_MS,
	};
	int rc;

	if (c->sub_symbols < c->symbols || c->symbols <= BENCH_SHM_KEYS_MAX) {
		for (unsigned k = 0; k < c->sub_symbols; k++) {	/* <= 64: bench_cfg checks */
			bench_fanout_key(keys[k], sizeof(keys[k]), (rd->s.key_base + k) % c->symbols);
			pats[k] = keys[k];
		}
		a.npatterns = c->sub_symbols;
	}
	fanout_shm_opts_init(&o);
	o.spin_iterations = c->shm_spin;
	rc = fanout_shm_attach(&rd->h, &a, &o, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "fanout-bench: fanout shm reader %u: %s\n", rd->s.id, err);
		return rc > -FANOUT_SHM_E_MAGIC ? rc : -EPROTO;	/* errno, or the library's own */
	}
	fanout_shm_get_info(rd->h, &info);
	rd->nparts = info.partitions;
	rd->part_next = calloc(info.partitions ? info.partitions : 1, sizeof(*rd->part_next));
	return rd->part_next ? 0 : -ENOMEM;
}

int bench_shm_open(struct bench_run *r)
{
	r->shm = calloc(1, sizeof(*r->shm));
	if (!r->shm)
		return -ENOMEM;
	for (unsigned j = 0; j < r->cfg->shm_readers; j++) {
		struct shm_reader *rd = &r->shm->rd[j];
		int rc = reader_init(r, rd, j);

		r->shm->n = j + 1;	/* closed by bench_shm_close from here on */
		if (!rc)
			rc = reader_attach(r, rd);
		if (rc)
			return rc;
	}
	return 0;
}

/* One event from the ring or the log. */
static void reader_event(struct shm_reader *rd, const struct fanout_shm_record *rec)
{
	uint64_t seq, wrong = rd->s.out_of_order;
	int64_t ts;
	int bad = bench_pb_event_seq(rec->body, rec->body_len, &seq, &ts);
	int64_t now = clock_realtime_ns();

	if (fanout_shm_validate(rd->h, rec) < 0)
		return;	/* overwritten while read: what was parsed is void; the log resends it */
	if (bad) {
		if (!rd->bad_frame_said)
			fprintf(stderr, "fanout-bench: shm reader %u: a record that is not an event\n",
				rd->s.id);
		rd->bad_frame_said = true;
		return;
	}
	rd->s.bytes += rec->frame_len;
	bench_deliver(&rd->t, &rd->s, seq, ts, now);
	if (rec->partition >= rd->nparts || rec->offset < rd->part_next[rec->partition]) {
		if (rd->s.out_of_order == wrong)	/* not already counted by its key's order */
			rd->s.out_of_order++;
	} else {
		rd->part_next[rec->partition] = rec->offset + 1;
	}
}

static void *reader_main(void *arg)
{
	struct shm_reader *rd = arg;
	struct bench_run *r = rd->t.run;

	/* Acquire: pairs with the release store that ends the run (as the TCP threads). */
	while (!atomic_load_explicit(&r->stop_rx, memory_order_acquire)) {
		struct fanout_shm_record rec;
		int rc = fanout_shm_next(rd->h, &rec, SHM_WAIT_NS);

		if (rc == FANOUT_SHM_EVENT) {
			reader_event(rd, &rec);
		} else if (rc == FANOUT_SHM_GAP) {
			rd->gap_records++;
			rd->lost_reported += rec.lost;
		} else if (rc < 0) {
			if (!atomic_load(&r->stop_rx))
				fprintf(stderr, "fanout-bench: fanout shm reader %u stopped: %s\n",
					rd->s.id, fanout_shm_errmsg(rd->h));
			rd->s.dead = true;
			break;
		}
	}
	return NULL;
}

int bench_shm_start(struct bench_run *r)
{
	for (unsigned j = 0; j < r->shm->n; j++) {
		struct shm_reader *rd = &r->shm->rd[j];
		int rc = -pthread_create(&rd->tid, NULL, reader_main, rd);

		if (rc)
			return rc;
		rd->started = true;
		rd->t.has_cpu_clock = pthread_getcpuclockid(rd->tid, &rd->t.cpu_clock) == 0;
	}
	return 0;
}

int64_t bench_shm_cpu_ns(struct bench_run *r)
{
	int64_t sum = 0;

	for (unsigned j = 0; r->shm && j < r->shm->n; j++) {
		const struct bench_thread *t = &r->shm->rd[j].t;
		int64_t ns = t->has_cpu_clock ? bench_cpu_clock_ns(t->cpu_clock) : -1;

		if (ns < 0)
			return -1;
		sum += ns;
	}
	return sum;
}

uint64_t bench_shm_received(struct bench_run *r)
{
	uint64_t n = 0;

	for (unsigned j = 0; r->shm && j < r->shm->n; j++)
		n += atomic_load_explicit(&r->shm->rd[j].t.received, memory_order_relaxed);
	return n;
}

uint64_t bench_shm_owed(struct bench_run *r, uint64_t published)
{
	uint64_t n = 0;

	for (unsigned j = 0; r->shm && j < r->shm->n; j++)
		n += bench_owed(r->cfg, published, r->shm->rd[j].s.key_base, r->cfg->sub_symbols);
	return n;
}

static void reader_join(struct shm_reader *rd)
{
	if (rd->started)
		pthread_join(rd->tid, NULL);
	rd->started = false;
}

void bench_shm_account(struct bench_run *r, struct bench_result *res)
{
	double sum = 0, sumsq = 0;

	for (unsigned j = 0; j < r->shm->n; j++) {
		struct shm_reader *rd = &r->shm->rd[j];
		struct fanout_shm_stats st;

		reader_join(rd);
		bench_account_sub(res, &rd->s, bench_owed(r->cfg, res->published, rd->s.key_base,
							  r->cfg->sub_symbols));
		bench_account_thread(res, &rd->t, &sum, &sumsq);
		fanout_shm_get_stats(rd->h, &st);
		res->recovered += st.recovered;
		res->laps += st.laps;
		res->torn += st.torn;
		res->gap_records += rd->gap_records;
		res->lost_reported += rd->lost_reported;
	}
	bench_account_finish(res, sum, sumsq);
}

void bench_shm_close(struct bench_run *r)
{
	for (unsigned j = 0; r->shm && j < r->shm->n; j++) {
		struct shm_reader *rd = &r->shm->rd[j];

		reader_join(rd);
		fanout_shm_close(rd->h);	/* NULL-safe; the server then removes the ring */
		free(rd->s.key_next);
		free(rd->part_next);
		free(rd->t.hist);
	}
	free(r->shm);
	r->shm = NULL;
}
