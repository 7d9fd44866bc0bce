/* net/audit.c — the reactors' audit record queues. */
#include "net/audit.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "net/stats.h"

int audit_queue_init(struct audit_queue *q, uint32_t slots)
{
	memset(q, 0, sizeof(*q));
	if (slots < 2 || (slots & (slots - 1)))
		return -EINVAL;
	q->slots = calloc(slots, sizeof(*q->slots));
	if (!q->slots)
		return -ENOMEM;
	ck_ring_init(&q->ring, slots);
	return 0;
}

void audit_queue_free(struct audit_queue *q)
{
	free(q->slots);
	memset(q, 0, sizeof(*q));
}

uint32_t audit_queue_room(const struct audit_queue *q)
{
	/* ck_ring keeps one slot empty; the consumer only ever makes more room. */
	return q->slots ? ck_ring_capacity(&q->ring) - 1 - ck_ring_size(&q->ring) : 0;
}

bool audit_queue_push(struct audit_queue *q, const struct audit_rec *r)
{
	struct audit_rec copy = *r;

	if (q->slots && ck_ring_enqueue_spsc_audit(&q->ring, q->slots, &copy))
		return true;
	net_stat_add(&q->lost, 1);
	return false;
}

bool audit_queue_pop(struct audit_queue *q, struct audit_rec *r)
{
	return q->slots && ck_ring_dequeue_spsc_audit(&q->ring, q->slots, r);
}
