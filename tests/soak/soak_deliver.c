/* tests/soak/soak_deliver.c — see soak_deliver.h. */
#include "tests/soak/soak_deliver.h"

#include <string.h>

#include "tests/soak/soak_event.h"
#include "tests/soak/soak_proc.h"

static void bump(_Atomic uint64_t *c)
{
	atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

/* A first look at event e of (pub, seq): its bytes, the patterns, duplicates and order.
 * Only for deliveries not already half-recorded by a killed predecessor. */
static void judge(const struct soak_ctx *x, struct soak_sub *s, uint32_t pub, uint64_t seq,
		  const Fanout__V1__Event *e)
{
	uint32_t k = soak_key_index(pub, seq);
	uint64_t last = atomic_load_explicit(&s->last[pub][k], memory_order_relaxed);

	if (!soak_event_intact(e, pub, seq))
		bump(&s->content);
	if (!soak_set_match(s->set, e->distribution->routing_key))
		bump(&s->misrouted);
	if (soak_seen_get(x->cfg, s, pub, seq)) {
		/* A second copy is stored only when its publisher sent it more than once
		 * (a batch resent after a lost ack; no idempotent publish yet). */
		if (atomic_load_explicit(&x->sh->pub[pub].ev[seq].sends, memory_order_relaxed) >= 2)
			bump(&s->resend_dups);
		else
			bump(&s->dups);
	} else if (seq + 1 < last) {
		bump(&s->order);	/* a first copy behind a newer event of its key */
	}
	bump(&s->delivered);
}

/* The record itself, in crash-safe order (soak_deliver.h). */
static void record(const struct soak_ctx *x, struct soak_sub *s, uint32_t pub, uint64_t seq)
{
	uint32_t k = soak_key_index(pub, seq);

	soak_seen_set(x->cfg, s, pub, seq);
	if (atomic_load_explicit(&s->last[pub][k], memory_order_relaxed) < seq + 1)
		atomic_store_explicit(&s->last[pub][k], seq + 1, memory_order_relaxed);
}

void soak_deliver(const struct soak_ctx *x, struct soak_sub *s, struct soak_stream_pos *sp,
		  uint32_t part, uint64_t off, const Fanout__V1__Event *e)
{
	const struct soak_cfg *c = x->cfg;
	size_t id_len = strlen(e->event_id);
	uint8_t fp = soak_fp(e->event_id, id_len), *slot;
	uint32_t pub;
	uint64_t seq;
	int bad_id;
	bool replay;

	if (part >= c->parts) {
		bump(&s->misrouted);
		return;
	}
	if (sp->last[part] > off)
		bump(&s->offset_order);	/* went back on one stream */
	sp->last[part] = off + 1;
	if (off < atomic_load_explicit(&s->next[part], memory_order_relaxed)) {
		/* Resumed below this partition's own position: had it already, and it must
		 * be the same event as then. */
		bump(&s->skipped);
		slot = off < c->off_cap ? soak_fp_at(c, s, part, off) : NULL;
		if (slot && *slot && *slot != fp)
			bump(&s->content);
		return;
	}
	bad_id = soak_id_parse(e->event_id, id_len, &pub, &seq);
	if (off >= c->off_cap || (!bad_id && (pub >= c->pubs || seq >= c->seq_cap))) {
		bump(&s->capacity);
		return;
	}
	slot = soak_fp_at(c, s, part, off);
	replay = *slot != 0;
	if ((c->inject & SOAK_INJECT_LOSS) && x->idx == 0 && !replay &&
	    soak_mix((uint64_t)part << 48 ^ off) % 500 == 0) {
		/* Self-test: taken as if received, recorded nowhere. */
		atomic_store_explicit(&s->next[part], off + 1, memory_order_release);
		return;
	}
	if (replay && *slot != fp)
		bump(&s->content);	/* this offset held another event when we took it */
	if (bad_id) {
		if (!replay)
			bump(&s->foreign);
	} else if (!replay) {
		judge(x, s, pub, seq, e);
	}
	if (!replay)
		*slot = fp;
	if (!bad_id)
		record(x, s, pub, seq);
	atomic_store_explicit(&s->next[part], off + 1, memory_order_release);
}

bool soak_owes_key(const struct soak_sub *s, uint32_t pub, uint32_t k)
{
	char key[SOAK_KEY_MAX];

	soak_key_name(key, pub, k);
	return soak_set_match(s->set, key);
}

/* The partitions holding keys s takes; all of them while one of those keys has no ack. */
static uint32_t relevant_parts(const struct soak_ctx *x, const struct soak_sub *s)
{
	uint32_t all = (1u << x->cfg->parts) - 1, mask = 0;

	for (uint32_t pub = 0; pub < x->cfg->pubs; pub++) {
		for (uint32_t k = 0; k < SOAK_KEYS; k++) {
			int32_t p = atomic_load(&x->sh->pub[pub].key_part[k]);

			if (!soak_owes_key(s, pub, k))
				continue;
			if (p < 0 || (uint32_t)p >= x->cfg->parts)
				return all;
			mask |= 1u << p;
		}
	}
	return mask ? mask : all;
}

uint32_t soak_resume_offsets(const struct soak_ctx *x, const struct soak_sub *s,
			     uint64_t *starts)
{
	for (uint32_t p = 0; p < x->cfg->parts; p++)
		starts[p] = atomic_load_explicit(&s->next[p], memory_order_relaxed);
	return relevant_parts(x, s);
}

void soak_sub_begin(const struct soak_cfg *c, struct soak_sub *s, const uint64_t *starts)
{
	for (uint32_t p = 0; p < c->parts; p++) {
		s->start[p] = starts[p];
		atomic_store_explicit(&s->next[p], starts[p], memory_order_relaxed);
	}
	atomic_store_explicit(&s->started, 1, memory_order_release);
}
