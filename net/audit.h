/* net/audit.h — what the reactors tell the admin plane about audit-required events
 * (metadata.audit_required: LOG_ENTRY_AUDIT_REQUIRED in the index): each one handed to a
 * subscription, each one a subscription was owed and never got, and each Ack that may
 * cover delivered ones. The admin thread turns them into distribution_audit rows
 * (admin/audit.h).
 *
 * One bounded single-producer single-consumer queue per reactor (Concurrency Kit's
 * ck_ring, records stored in place): the reactor pushes, the admin thread pops. A reactor
 * asks for room before it sends an audit-required frame (audit_queue_room) and sends no
 * more of them than there is room for, so a delivery is never without its record; a
 * failure or an ack that finds the queue full is counted in lost (the admin thread is
 * that far behind: /metrics shows it). */
#ifndef FANOUT_NET_AUDIT_H
#define FANOUT_NET_AUDIT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <ck_ring.h>

struct topic;

#define AUDIT_QUEUE_SLOTS 65536u	/* records per reactor (40 bytes each: 2.5 MiB) */

enum audit_kind {
	AUDIT_DELIVERED = 1,	/* the kernel took the frame (socket), or it is in the ring */
	AUDIT_FAILED = 2,	/* owed, never delivered: the connection or subscription was
				 * cut first, or the ring could not take it */
	AUDIT_ACKED = 3,	/* the subscription acked partition through offset */
};

struct audit_rec {
	uint64_t serial;		/* the subscription (net/stats.h) */
	const struct topic *topic;	/* alive until the admin thread has popped it: a
					 * topic's removal waits on its reactors first */
	uint64_t offset;		/* the event's (AUDIT_ACKED: the acked offset) */
	int64_t at_ns;			/* CLOCK_REALTIME of the delivery, failure or ack */
	uint32_t partition;
	uint8_t kind;			/* enum audit_kind */
};

CK_RING_PROTOTYPE(audit, audit_rec)

struct audit_queue {
	ck_ring_t ring;
	struct audit_rec *slots;
	_Atomic uint64_t lost;		/* the producer's count of records not queued */
};

/* Makes an empty queue of slots records (a power of two). Returns 0 or -errno. */
int audit_queue_init(struct audit_queue *q, uint32_t slots);
void audit_queue_free(struct audit_queue *q);

/* Records the producer may push now. Producer only. */
uint32_t audit_queue_room(const struct audit_queue *q);

/* Queues r; false (counted in lost) when full. Producer only. */
bool audit_queue_push(struct audit_queue *q, const struct audit_rec *r);

/* Takes the oldest record into *r; false when empty. Consumer only. */
bool audit_queue_pop(struct audit_queue *q, struct audit_rec *r);

#endif
