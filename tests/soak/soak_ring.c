/* tests/soak/soak_ring.c — see soak_ring.h. */
#include "tests/soak/soak_ring.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "shm/fanout_shm.h"
#include "tests/soak/soak_deliver.h"
#include "tests/soak/soak_event.h"
#include "tests/soak/soak_proc.h"
#include "tests/soak/soak_state.h"
#include "tests/soak/soak_sub.h"

#define RING_WAIT_NS   (200ll * 1000 * 1000)
#define RING_ATTACH_MS 2000
#define RING_SPIN      200u	/* a short spin, then sleep: the machine is shared */
#define RING_CAUGHT_UP 2000u	/* records behind in the ring: caught up enough to pause */

struct ring_reader {
	const struct soak_ctx *x;
	struct soak_sub *s;
	struct fanout_shm *r;
	struct fanout_shm_stats seen;	/* r's counters already added to s */
	struct soak_rng rng;
	int64_t pause_ns;
	double tokens;			/* a slow reader's reading budget */
	struct soak_stream_pos sp;	/* of the current handle */
	int64_t tokens_ns;
};

int64_t soak_ring_pause_max_ms(uint64_t events_per_s)
{
	/* The slow ring (soak_ring.h) holds ~13,000 soak records and journals 131,072: a
	 * pause of up to a quarter of the journal often laps the ring, never the journal. */
	int64_t ms = events_per_s ? (int64_t)(32768 * 1000 / events_per_s) : 20000;

	return ms > 20000 ? 20000 : ms;
}

/* Adds the handle's counters since the last flush to the shared record. */
static void flush_stats(struct ring_reader *rr)
{
	struct fanout_shm_stats st;
	struct soak_sub *s = rr->s;

	if (!rr->r)
		return;
	fanout_shm_get_stats(rr->r, &st);
	atomic_fetch_add(&s->shm_recovered, st.recovered - rr->seen.recovered);
	atomic_fetch_add(&s->shm_laps, st.laps - rr->seen.laps);
	atomic_fetch_add(&s->shm_torn, st.torn - rr->seen.torn);
	atomic_fetch_add(&s->shm_resume_dups, st.duplicates - rr->seen.duplicates);
	rr->seen = st;
}

/* Attaches to the server from each partition's next offset; old (may be NULL) is the
 * handle this one replaces. The one place that knows how a reader reaches fanoutd. */
static int ring_attach(struct ring_reader *rr, struct fanout_shm *old, char *err, size_t n)
{
	const struct soak_cfg *c = rr->x->cfg;
	size_t npats;
	const char *const *pats = soak_set(rr->s->set, &npats);
	uint64_t from[SOAK_PARTS_MAX];
	struct fanout_shm_attach_opts a = {
		.socket_path = c->shm_sock, .topic = SOAK_TOPIC, .patterns = pats, .npatterns = npats,
		.start = FANOUT__V1__START_POSITION__START_POSITION_OFFSET,
		.start_offsets = from, .nstart_offsets = c->parts,
		.ring_bytes = rr->s->slow ? SOAK_RING_BYTES_SLOW : SOAK_RING_BYTES,
		.client_name = "soak-ring", .timeout_ms = RING_ATTACH_MS, .resume = old,
	};
	struct fanout_shm_opts o;

	soak_resume_offsets(rr->x, rr->s, from);
	fanout_shm_opts_init(&o);
	o.spin_iterations = RING_SPIN;
	return fanout_shm_attach(&rr->r, &a, &o, err, n);
}

/* One event record: decoded from a private copy, recorded once validated. */
static void ring_event(struct ring_reader *rr, const struct fanout_shm_record *rec)
{
	Fanout__V1__ServerMessage *m = fanout_shm_decode(rec, NULL);
	const Fanout__V1__Event *e = m && m->body_case == FANOUT__V1__SERVER_MESSAGE__BODY_EVENT ?
				     m->event : NULL;
	struct soak_sub *s = rr->s;

	if (fanout_shm_validate(rr->r, rec) < 0) {
		fanout_shm_decode_free(m, NULL);	/* overwritten meanwhile: it comes again */
		return;
	}
	if (!e || !e->distribution || !e->event_id || e->distribution->offset != rec->offset ||
	    e->distribution->partition != rec->partition ||
	    strcmp(e->distribution->topic, SOAK_TOPIC) != 0)
		atomic_fetch_add(&s->content, 1);
	else
		soak_deliver(rr->x, s, &rr->sp, rec->partition, rec->offset, e);
	fanout_shm_decode_free(m, NULL);
}

/* A slow reader reads at most twice the run's publishing rate, so that a backlog (after
 * a pause, or history after a restart) drains slowly while the writer fills the ring. */
static void throttle(struct ring_reader *rr)
{
	const struct soak_cfg *c = rr->x->cfg;
	double rate = 2.0 * c->rate * c->pubs;

	if (!rr->s->slow || atomic_load_explicit(&rr->x->sh->stop_new, memory_order_relaxed))
		return;
	while (rr->tokens < 1) {
		int64_t now = soak_now_ns();

		rr->tokens += (double)(now - rr->tokens_ns) * rate / 1e9;
		rr->tokens = rr->tokens > 64 ? 64 : rr->tokens;
		rr->tokens_ns = now;
		if (rr->tokens < 1)
			soak_sleep_ms(1);
	}
	rr->tokens -= 1;
}

/* After a verbose pause: how far behind it is now. */
static void say_lag(const struct ring_reader *rr)
{
	struct fanout_shm_stats st;
	struct fanout_shm_info info;

	fanout_shm_get_stats(rr->r, &st);
	fanout_shm_get_info(rr->r, &info);
	fprintf(stderr, "soak: ring reader %u: after the pause %llu records behind in a ring of "
		"%llu bytes (%llu laps so far)\n", rr->x->idx, (unsigned long long)st.lag_records,
		(unsigned long long)info.capacity, (unsigned long long)st.laps);
}

/* A pause, when it is time and the reader has caught up: its backlog stays within what
 * one pause adds, a quarter of its ring's journal at most (soak_ring_pause_max_ms), so
 * that a lap is recovered, never lost. Reading at twice the publishing rate, it drains a
 * pause's backlog in about as long as the pause took. */
static void maybe_pause(struct ring_reader *rr)
{
	const struct soak_cfg *c = rr->x->cfg;
	int64_t now = soak_now_ns(), ms;
	struct fanout_shm_stats st;

	/* No pauses once the drain began: it waits for every reader to catch up. */
	if (!rr->s->slow || now < rr->pause_ns ||
	    atomic_load_explicit(&rr->x->sh->stop_new, memory_order_relaxed))
		return;
	fanout_shm_get_stats(rr->r, &st);
	if (st.lag_records > RING_CAUGHT_UP) {
		rr->pause_ns = now + 1000000000;	/* not yet */
		return;
	}
	ms = (int64_t)soak_rng_range(&rr->rng, 1000,
				     (uint64_t)soak_ring_pause_max_ms((uint64_t)c->rate * c->pubs));
	if (c->verbose)
		fprintf(stderr, "soak: ring reader %u pauses %lld ms\n", rr->x->idx, (long long)ms);
	soak_pause(rr->x->sh, ms);
	if (c->verbose)
		say_lag(rr);
	rr->pause_ns = soak_now_ns() + (int64_t)soak_rng_range(&rr->rng, 3000, 8000) * 1000000;
}

/* An Error from the server to an honest reader (a refused attach, or one on the ring's
 * connection): the reader reattaches, and the soak fails (as for a TCP subscriber). */
static void server_error(struct ring_reader *rr, const char *where, const char *msg)
{
	atomic_fetch_add_explicit(&rr->s->errors, 1, memory_order_relaxed);
	fprintf(stderr, "soak: ring reader %u: server error %s: %s\n", rr->x->idx, where, msg);
}

/* Reads until the writer is gone or the run stops. Returns 0 to stop, 1 to reattach. */
static int ring_read(struct ring_reader *rr)
{
	struct fanout_shm_record rec;

	while (!atomic_load_explicit(&rr->x->sh->stop, memory_order_relaxed)) {
		int rc = fanout_shm_next(rr->r, &rec, RING_WAIT_NS);

		if (rc == FANOUT_SHM_EVENT) {
			ring_event(rr, &rec);
			throttle(rr);
		} else if (rc == FANOUT_SHM_GAP) {
			atomic_fetch_add(&rr->s->shm_lost, rec.lost);
			fprintf(stderr, "soak: ring reader %u: %llu events lost: %s\n", rr->x->idx,
				(unsigned long long)rec.lost, fanout_shm_errmsg(rr->r));
		} else if (rc == -FANOUT_SHM_E_SERVER) {
			flush_stats(rr);
			server_error(rr, "on its ring's connection", fanout_shm_errmsg(rr->r));
			return 1;
		} else if (rc < 0) {
			flush_stats(rr);
			if (rc != -FANOUT_SHM_E_WRITER_DEAD && rc != -FANOUT_SHM_E_CLOSED &&
			    rr->x->cfg->verbose)
				fprintf(stderr, "soak: ring reader %u: %s\n", rr->x->idx,
					fanout_shm_errmsg(rr->r));
			return 1;
		}
		if (rc <= 0)
			flush_stats(rr);
		maybe_pause(rr);
	}
	return 0;
}

/* Makes sure the reader knows what it is owed from (the log's tails, the first time). */
static int ring_begin(struct ring_reader *rr)
{
	uint64_t tails[SOAK_PARTS_MAX];

	if (atomic_load_explicit(&rr->s->started, memory_order_acquire))
		return 0;
	if (soak_tails(rr->x->cfg, tails) < 0)
		return -1;
	soak_sub_begin(rr->x->cfg, rr->s, tails);
	return 0;
}

int soak_ring_main(void *arg)
{
	static struct ring_reader rr;
	struct fanout_shm *old = NULL;
	char err[256];

	rr.x = arg;
	rr.s = &rr.x->sh->sub[rr.x->idx];
	soak_rng_seed(&rr.rng, rr.x->cfg->seed,
		      soak_stream(SOAK_STREAM_RING, rr.x->idx, rr.x->incarnation));
	rr.pause_ns = soak_now_ns() + 2000000000;
	while (!atomic_load_explicit(&rr.x->sh->stop, memory_order_relaxed)) {
		int rc = ring_begin(&rr) < 0 ? -1 : ring_attach(&rr, old, err, sizeof(err));

		if (rc < 0) {
			/* Anything but an Error: the server is down or starting (-ENOENT,
			 * -ECONNREFUSED, -ETIMEDOUT). */
			if (rc == -FANOUT_SHM_E_SERVER)
				server_error(&rr, "to its attach", err);
			soak_sleep_ms(100);
			continue;
		}
		if (rr.x->cfg->verbose)
			fprintf(stderr, "soak: ring reader %u attached%s\n", rr.x->idx,
				old ? " (resume)" : "");
		fanout_shm_close(old);
		old = NULL;
		memset(&rr.seen, 0, sizeof(rr.seen));
		memset(&rr.sp, 0, sizeof(rr.sp));
		/* The history a resume asks for reaches the ring first. */
		if (rr.pause_ns < soak_now_ns() + 2000000000)
			rr.pause_ns = soak_now_ns() + 2000000000;
		atomic_fetch_add(&rr.s->connects, 1);
		if (ring_read(&rr) == 0)
			break;
		old = rr.r;	/* drained; what it delivered is the next one's resume floor */
		rr.r = NULL;
	}
	flush_stats(&rr);
	fanout_shm_close(rr.r);
	fanout_shm_close(old);
	return 0;
}
