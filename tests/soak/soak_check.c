/* tests/soak/soak_check.c — see soak_check.h. */
#include "tests/soak/soak_check.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/soak/soak_deliver.h"
#include "tests/soak/soak_event.h"
#include "tests/soak/soak_proc.h"
#include "tests/soak/soak_sub.h"
#include "tools/client.h"

#define CHECK_RECV_MS 15000	/* a restarted server on a busy machine, reading history */

static int log_alloc(const struct soak_cfg *c, struct soak_log *log, const uint64_t *tails)
{
	for (uint32_t p = 0; p < c->parts; p++) {
		log->n[p] = tails[p];
		log->id[p] = calloc(tails[p] + 1, sizeof(uint64_t));
		log->fp[p] = calloc(tails[p] + 1, 1);
		if (!log->id[p] || !log->fp[p])
			return -ENOMEM;
	}
	for (uint32_t i = 0; i < c->pubs; i++) {
		log->occ[i] = calloc(c->seq_cap, 1);
		if (!log->occ[i])
			return -ENOMEM;
	}
	return 0;
}

void soak_log_free(struct soak_log *log)
{
	for (uint32_t p = 0; p < SOAK_PARTS_MAX; p++) {
		free(log->id[p]);
		free(log->fp[p]);
	}
	for (uint32_t i = 0; i < SOAK_PUBS_MAX; i++)
		free(log->occ[i]);
	memset(log, 0, sizeof(*log));
}

/* One stored event at (p, o) of the log being read: identity, key, order, copies. */
static void log_event(const struct soak_cfg *c, const struct soak_shared *sh,
		      struct soak_log *log, struct soak_verdict *v, const Fanout__V1__Event *e,
		      uint64_t (*last)[SOAK_KEYS])
{
	uint32_t p = e->distribution->partition, pub, k;
	uint64_t o = e->distribution->offset, seq;
	size_t len = strlen(e->event_id);
	int32_t was;

	log->fp[p][o] = soak_fp(e->event_id, len);
	if (soak_id_parse(e->event_id, len, &pub, &seq) < 0 || pub >= c->pubs ||
	    seq >= c->seq_cap) {
		log->id[p][o] = SOAK_FOREIGN;
		v->foreign++;
		fprintf(stderr, "soak: check: a foreign event in the log at %u/%llu: '%s'\n", p,
			(unsigned long long)o, e->event_id);
		return;
	}
	log->id[p][o] = (uint64_t)pub << 48 | seq;
	k = soak_key_index(pub, seq);
	/* A key's partition is the one its acks named (none if it never had one). */
	was = atomic_load(&sh->pub[pub].key_part[k]);
	if (!soak_event_intact(e, pub, seq) || (was >= 0 && was != (int32_t)p))
		v->log_content++;
	if (log->occ[pub][seq] == 0 && seq + 1 < last[pub][k])
		v->log_order++;		/* a first copy behind a newer event of its key */
	if (log->occ[pub][seq] == 0 && last[pub][k] < seq + 1)
		last[pub][k] = seq + 1;
	if (log->occ[pub][seq] < UINT8_MAX)
		log->occ[pub][seq]++;
}

/* Checks a frame's place in the dense sequence of its partition and takes it. Returns 0,
 * or -EPROTO for an event that cannot be placed at all. */
static int log_take(const struct soak_cfg *c, const struct soak_shared *sh,
		    struct soak_log *log, struct soak_verdict *v, const Fanout__V1__Event *e,
		    uint64_t *expect, uint64_t (*last)[SOAK_KEYS])
{
	uint32_t p;
	uint64_t o;

	if (!e->distribution || !e->event_id || strcmp(e->distribution->topic, SOAK_TOPIC) != 0)
		return -EPROTO;
	p = e->distribution->partition;
	o = e->distribution->offset;
	if (p >= c->parts || o >= log->n[p])
		return -EPROTO;
	if (o != expect[p]) {
		v->density++;	/* an offset skipped or repeated */
		fprintf(stderr, "soak: check: partition %u: offset %llu where %llu was due\n", p,
			(unsigned long long)o, (unsigned long long)expect[p]);
	}
	expect[p] = o + 1;
	log_event(c, sh, log, v, e, last);
	v->log_events++;
	return 0;
}

/* The soak topic's tails, retried while a restarted server comes up. */
static int tails_now(const struct soak_cfg *c, uint64_t *tails)
{
	int rc = -ETIMEDOUT;

	for (int i = 0; i < 100 && rc < 0 && !soak_interrupted; i++) {
		rc = soak_tails(c, tails);
		if (rc < 0)
			soak_sleep_ms(100);
	}
	return rc;
}

/* Subscribes from the earliest offset to everything; every position must be 0. */
static int subscribe_all(const struct soak_cfg *c, struct client *cl)
{
	Fanout__V1__ServerMessage *m = NULL;
	int rc = client_connect(cl, c->addr, 5000);

	if (rc == 0)
		rc = client_subscribe(cl, 1, SOAK_TOPIC, NULL, 0,
				      FANOUT__V1__START_POSITION__START_POSITION_EARLIEST, 0, &m);
	for (size_t i = 0; rc == 0 && i < m->subscribed->n_positions; i++)
		if (m->subscribed->positions[i]->next_offset != 0)
			rc = -EPROTO;	/* no retention in a soak: the log starts at 0 */
	client_free_msg(m);
	return rc;
}

int soak_log_read(const struct soak_cfg *c, const struct soak_shared *sh, struct soak_log *log,
		  struct soak_verdict *v)
{
	uint64_t tails[SOAK_PARTS_MAX], expect[SOAK_PARTS_MAX] = { 0 }, total = 0, got = 0;
	uint64_t last[SOAK_PUBS_MAX][SOAK_KEYS] = { { 0 } };
	struct client cl = { .fd = -1 };
	int rc = tails_now(c, tails);

	for (uint32_t p = 0; rc == 0 && p < c->parts; p++)
		total += tails[p];
	if (rc == 0)
		rc = log_alloc(c, log, tails);
	if (rc == 0)
		rc = subscribe_all(c, &cl);
	while (rc == 0 && got < total && !soak_interrupted) {
		Fanout__V1__ServerMessage *m = NULL;

		rc = client_recv(&cl, &m, CHECK_RECV_MS);
		if (rc == 0 && m->body_case == FANOUT__V1__SERVER_MESSAGE__BODY_EVENT) {
			rc = log_take(c, sh, log, v, m->event, expect, last);
			got++;
		} else if (rc == 0 && m->body_case == FANOUT__V1__SERVER_MESSAGE__BODY_ERROR) {
			fprintf(stderr, "soak: check: %s\n", m->error->message);
			rc = -EPROTO;
		}
		client_free_msg(m);
	}
	client_close(&cl);
	if (rc == 0 && got < total)
		rc = -EINTR;
	if (rc < 0)
		fprintf(stderr, "soak: check: reading the log back: %s (%llu of %llu events)\n",
			strerror(-rc), (unsigned long long)got, (unsigned long long)total);
	for (uint32_t p = 0; rc == 0 && p < c->parts; p++)
		if (expect[p] != tails[p])
			v->density++;
	return rc;
}

/* Every event a publisher made: acknowledged, stored where its ack says, as many copies
 * as its sends allow. */
static void check_pub(const struct soak_cfg *c, const struct soak_shared *sh,
		      const struct soak_log *log, struct soak_verdict *v, uint32_t pub)
{
	const struct soak_pub *pp = &sh->pub[pub];
	uint64_t n = atomic_load(&pp->next_seq);

	for (uint64_t seq = 0; seq < n && seq < c->seq_cap; seq++) {
		const struct soak_ev *e = &pp->ev[seq];
		uint8_t sends = atomic_load(&e->sends), occ = log->occ[pub][seq];

		if (occ > sends)
			v->stored_duplicates += occ - sends;
		else if (occ > 1)
			v->stored_resend_copies += occ - 1u;
		if (!atomic_load(&e->acked)) {
			v->unacked++;
			continue;
		}
		v->acked++;
		if (occ == 0) {
			if (v->acked_missing++ < 5)
				fprintf(stderr, "soak: check: acked event soak-%u-%llu (%u/%llu) "
					"is not in the log\n", pub, (unsigned long long)seq,
					e->partition, (unsigned long long)e->offset);
		} else if (e->partition >= c->parts || e->offset >= log->n[e->partition] ||
			   log->id[e->partition][e->offset] != ((uint64_t)pub << 48 | seq)) {
			v->ack_mismatch++;
		}
	}
}

/* Offsets subscriber s passed: each owed event there must have been delivered, each
 * delivery must be what the log holds there. */
static void check_sub_log(const struct soak_cfg *c, const struct soak_sub *s,
			  const struct soak_log *log, struct soak_verdict *v,
			  bool (*owes)[SOAK_KEYS])
{
	for (uint32_t p = 0; p < c->parts; p++) {
		uint64_t next = atomic_load(&s->next[p]);

		for (uint64_t o = s->start[p]; o < next && o < c->off_cap; o++) {
			uint8_t fp = *soak_fp_at(c, s, p, o);
			uint64_t id = o < log->n[p] ? log->id[p][o] : SOAK_FOREIGN;
			bool owed = id != SOAK_FOREIGN &&
				    owes[id >> 48][soak_key_index((uint32_t)(id >> 48),
								  id & 0xffffffffffffull)];

			if (o >= log->n[p]) {
				v->sub_content += fp != 0;	/* the log no longer has it */
			} else if (fp) {
				v->sub_content += fp != log->fp[p][o];
				v->sub_unowed += !owed && id != SOAK_FOREIGN;
			} else if (owed) {
				v->gaps++;	/* skipped inside what it had passed */
			}
		}
	}
}

/* Every acknowledged event subscriber i was owed, delivered (in some copy). */
static void check_sub_acks(const struct soak_cfg *c, const struct soak_shared *sh,
			   struct soak_verdict *v, uint32_t i, bool (*owes)[SOAK_KEYS])
{
	const struct soak_sub *s = &sh->sub[i];

	for (uint32_t pub = 0; pub < c->pubs; pub++) {
		const struct soak_pub *pp = &sh->pub[pub];
		uint64_t n = atomic_load(&pp->next_seq);

		for (uint64_t seq = 0; seq < n && seq < c->seq_cap; seq++) {
			const struct soak_ev *e = &pp->ev[seq];

			if (!atomic_load(&e->acked) || e->partition >= c->parts ||
			    e->offset < s->start[e->partition] ||
			    !owes[pub][soak_key_index(pub, seq)])
				continue;
			v->owed++;
			if (soak_seen_get(c, s, pub, seq))
				continue;
			if (v->losses++ == 0) {
				v->first_loss_sub = i;
				v->first_loss_pub = pub;
				v->first_loss_seq = seq;
			}
		}
	}
}

static void owes_table(const struct soak_sub *s, bool (*owes)[SOAK_KEYS])
{
	for (uint32_t pub = 0; pub < SOAK_PUBS_MAX; pub++)
		for (uint32_t k = 0; k < SOAK_KEYS; k++)
			owes[pub][k] = soak_owes_key(s, pub, k);
}

void soak_check(const struct soak_cfg *c, const struct soak_shared *sh,
		const struct soak_log *log, struct soak_verdict *v)
{
	bool owes[SOAK_PUBS_MAX][SOAK_KEYS];

	for (uint32_t pub = 0; pub < c->pubs; pub++)
		check_pub(c, sh, log, v, pub);
	for (uint32_t i = 0; i < c->subs + c->rings; i++) {
		const struct soak_sub *s = &sh->sub[i];

		v->delivered += atomic_load(&s->delivered);
		if (!atomic_load(&s->started)) {
			v->never_started++;	/* nothing it was owed could be checked */
			continue;
		}
		owes_table(s, owes);
		check_sub_log(c, s, log, v, owes);
		check_sub_acks(c, sh, v, i, owes);
	}
}

void soak_owed_high(const struct soak_cfg *c, const struct soak_shared *sh, uint32_t i,
		    uint64_t *high)
{
	const struct soak_sub *s = &sh->sub[i];
	bool owes[SOAK_PUBS_MAX][SOAK_KEYS];

	memset(high, 0, sizeof(uint64_t) * c->parts);
	owes_table(s, owes);
	for (uint32_t pub = 0; pub < c->pubs; pub++) {
		const struct soak_pub *pp = &sh->pub[pub];
		uint64_t n = atomic_load(&pp->next_seq);

		for (uint64_t seq = 0; seq < n && seq < c->seq_cap; seq++) {
			const struct soak_ev *e = &pp->ev[seq];

			if (atomic_load(&e->acked) && e->partition < c->parts &&
			    e->offset >= s->start[e->partition] &&
			    owes[pub][soak_key_index(pub, seq)] && high[e->partition] <= e->offset)
				high[e->partition] = e->offset + 1;
		}
	}
}
