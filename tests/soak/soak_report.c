/* tests/soak/soak_report.c — see soak_report.h. */
#include "tests/soak/soak_report.h"

#include <stddef.h>
#include <stdio.h>

/* Sums one counter over the publishers or over the subscribers of one kind (-1: both). */
static uint64_t pub_sum(const struct soak_run *r, size_t field)
{
	uint64_t n = 0;

	for (uint32_t i = 0; i < r->cfg->pubs; i++)
		n += atomic_load((const _Atomic uint64_t *)((const char *)&r->sh->pub[i] + field));
	return n;
}

static uint64_t sub_sum(const struct soak_run *r, size_t field, int kind)
{
	uint64_t n = 0;

	for (uint32_t i = 0; i < r->cfg->subs + r->cfg->rings; i++)
		if (kind < 0 || r->sh->sub[i].kind == (uint32_t)kind)
			n += atomic_load((const _Atomic uint64_t *)
					 ((const char *)&r->sh->sub[i] + field));
	return n;
}

#define PUB(f)     pub_sum(r, offsetof(struct soak_pub, f))
#define SUB(f, k)  sub_sum(r, offsetof(struct soak_sub, f), k)

/* The counts that must be zero, with their names; under --inject, the ones a fault
 * allows, and the one it must show up in. */
struct must_zero {
	const char *name;
	uint64_t n;
	uint32_t allowed, required;	/* SOAK_INJECT_* */
};

static size_t failures(const struct soak_run *r, struct must_zero *z)
{
	const struct soak_verdict *v = &r->v;
	size_t n = 0;

	z[n++] = (struct must_zero){ "incomplete", r->incomplete };
	z[n++] = (struct must_zero){ "server_crashes", r->srv.crashed };
	z[n++] = (struct must_zero){ "server_start_failures", r->restart_failures };
	z[n++] = (struct must_zero){ "log_unreadable", r->log_unreadable };
	z[n++] = (struct must_zero){ "subscribers_never_started", r->v.never_started };
	z[n++] = (struct must_zero){ "losses", v->losses + v->acked_missing, SOAK_INJECT_LOSS, 0 };
	z[n++] = (struct must_zero){ "gaps", v->gaps, SOAK_INJECT_LOSS, SOAK_INJECT_LOSS };
	z[n++] = (struct must_zero){ "duplicates", SUB(dups, -1) + v->stored_duplicates,
				     SOAK_INJECT_DUP, SOAK_INJECT_DUP };
	z[n++] = (struct must_zero){ "order_violations", SUB(order, -1) + SUB(offset_order, -1) +
				     v->log_order,
				     SOAK_INJECT_ORDER, SOAK_INJECT_ORDER };
	z[n++] = (struct must_zero){ "content_errors", SUB(content, -1) + v->sub_content +
				     v->ack_mismatch + v->log_content };
	z[n++] = (struct must_zero){ "misrouted", SUB(misrouted, -1) + v->sub_unowed };
	z[n++] = (struct must_zero){ "resume_moved", SUB(resume_moved, -1) };
	z[n++] = (struct must_zero){ "subscriber_errors", SUB(errors, -1) };
	z[n++] = (struct must_zero){ "foreign_events", SUB(foreign, -1) + v->foreign };
	z[n++] = (struct must_zero){ "offset_density", v->density };
	z[n++] = (struct must_zero){ "unacked_at_end", v->unacked };
	z[n++] = (struct must_zero){ "publish_errors", PUB(errors) + PUB(bad_acks) };
	z[n++] = (struct must_zero){ "key_moves", PUB(key_moves) };
	z[n++] = (struct must_zero){ "ring_lost", SUB(shm_lost, 1) };
	z[n++] = (struct must_zero){ "hostile_accepted", atomic_load(&r->sh->hostile_accepted) };
	z[n++] = (struct must_zero){ "client_failures", r->client_failures };
	z[n++] = (struct must_zero){ "capacity_exceeded", SUB(capacity, -1) };
	z[n++] = (struct must_zero){ "drain_timeout", r->drain_timeout };
	z[n++] = (struct must_zero){ "catchup_timeout", r->catchup_timeout };
	return n;
}

static void print_config(const struct soak_run *r)
{
	const struct soak_cfg *c = r->cfg;

	printf("{\"seed\":%llu,\"seconds\":%.1f,\"publishers\":%u,\"subscribers\":%u,"
	       "\"ring_readers\":%u,\"partitions\":%u,\"reactors\":%u,\"rate_per_publisher\":%u,",
	       (unsigned long long)c->seed, c->duration_ms / 1000.0, c->pubs, c->subs, c->rings,
	       c->parts, c->reactors, c->rate);
}

static void print_counts(const struct soak_run *r)
{
	const struct soak_verdict *v = &r->v;
	const uint64_t *k = r->kills;

	printf("\"events_published\":%llu,\"events_acked\":%llu,\"events_sent\":%llu,"
	       "\"events_resent\":%llu,\"batches\":%llu,\"batches_sent\":%llu,"
	       "\"batches_resent\":%llu,",
	       (unsigned long long)PUB(next_seq), (unsigned long long)v->acked,
	       (unsigned long long)PUB(sent), (unsigned long long)PUB(resent),
	       (unsigned long long)PUB(batches), (unsigned long long)PUB(batches_sent),
	       (unsigned long long)PUB(batches_resent));
	printf("\"server_kills\":%llu,\"server_kills_during_recovery\":%llu,"
	       "\"server_sigterms\":%llu,\"server_restarts\":%llu,\"client_kills\":{\"publisher\":%llu,\"subscriber\":%llu,"
	       "\"ring_reader\":%llu,\"hostile\":%llu,\"total\":%llu},",
	       (unsigned long long)r->srv.kills, (unsigned long long)r->startup_kills,
	       (unsigned long long)r->terms, (unsigned long long)r->restarts, (unsigned long long)k[SOAK_STREAM_PUB],
	       (unsigned long long)k[SOAK_STREAM_SUB], (unsigned long long)k[SOAK_STREAM_RING],
	       (unsigned long long)k[SOAK_STREAM_HOSTILE],
	       (unsigned long long)(k[SOAK_STREAM_PUB] + k[SOAK_STREAM_SUB] +
				    k[SOAK_STREAM_RING] + k[SOAK_STREAM_HOSTILE]));
	printf("\"hostile\":{\"frames\":%llu,\"connections\":%llu,\"refused_as_required\":%llu,"
	       "\"stored_in_own_topic\":%llu,\"cut_resource_exhausted\":%llu,"
	       "\"cut_frame_deadline\":%llu,\"unmapped_rings\":%llu},",
	       (unsigned long long)atomic_load(&r->sh->hostile_frames),
	       (unsigned long long)atomic_load(&r->sh->hostile_connects),
	       (unsigned long long)atomic_load(&r->sh->hostile_refused),
	       (unsigned long long)atomic_load(&r->sh->hostile_stored),
	       (unsigned long long)atomic_load(&r->sh->hostile_cut_budget),
	       (unsigned long long)atomic_load(&r->sh->hostile_cut_deadline),
	       (unsigned long long)atomic_load(&r->sh->hostile_rings));
	printf("\"deliveries_checked\":%llu,\"tcp_deliveries\":%llu,\"ring_deliveries\":%llu,"
	       "\"owed_checked\":%llu,\"log_events\":%llu,\"resumes\":%llu,"
	       "\"resume_skipped\":%llu,\"ring_recovered\":%llu,"
	       "\"ring_laps\":%llu,\"ring_torn\":%llu,\"ring_resume_duplicates\":%llu,",
	       (unsigned long long)(v->delivered + v->log_events),
	       (unsigned long long)SUB(delivered, 0), (unsigned long long)SUB(delivered, 1),
	       (unsigned long long)v->owed, (unsigned long long)v->log_events,
	       (unsigned long long)SUB(connects, -1), (unsigned long long)SUB(skipped, -1),
	       (unsigned long long)SUB(shm_recovered, 1),
	       (unsigned long long)SUB(shm_laps, 1), (unsigned long long)SUB(shm_torn, 1),
	       (unsigned long long)SUB(shm_resume_dups, 1));
	printf("\"stored_resend_copies\":%llu,\"resend_duplicates_delivered\":%llu,"
	       "\"drain_ms\":%lld,\"catchup_ms\":%lld,",
	       (unsigned long long)v->stored_resend_copies,
	       (unsigned long long)SUB(resend_dups, -1), (long long)r->drain_ms,
	       (long long)r->catchup_ms);
}

bool soak_report(const struct soak_run *r)
{
	struct must_zero z[32];
	size_t n = failures(r, z);
	bool ok = true;

	uint32_t inj = r->cfg->inject;

	print_config(r);
	print_counts(r);
	for (size_t i = 0; i < n; i++) {
		bool bad = (z[i].n && !(z[i].allowed & inj)) || (!z[i].n && (z[i].required & inj));

		printf("\"%s\":%llu,", z[i].name, (unsigned long long)z[i].n);
		ok &= !bad;
		if (bad)
			fprintf(stderr, "soak: FAIL: %s = %llu%s\n", z[i].name,
				(unsigned long long)z[i].n, z[i].n ? "" : " (a fault was injected)");
	}
	printf("\"injected\":%u,\"ok\":%s}\n", inj, ok ? "true" : "false");
	fflush(stdout);
	if (inj && ok)
		fprintf(stderr, "soak: every injected fault was caught, and nothing else\n");
	if (r->v.losses)
		fprintf(stderr, "soak: first loss: subscriber %llu never got soak-%llu-%llu\n",
			(unsigned long long)r->v.first_loss_sub,
			(unsigned long long)r->v.first_loss_pub,
			(unsigned long long)r->v.first_loss_seq);
	fprintf(stderr, "soak: %s (seed %llu)\n", ok ? "PASS" : "FAIL",
		(unsigned long long)r->cfg->seed);
	return ok;
}
