/* core/xr.h — cross-reactor messages: one bounded single-producer single-consumer queue
 * (Concurrency Kit's ck_ring) for every ordered pair of reactors, carrying pointers. The
 * sender is the only producer of its lanes and the receiver the only consumer, so no
 * locks; what a pointer points at is written before the enqueue (ck_ring's release) and
 * read after the dequeue (its acquire). Wake-ups are the reactor's (reactor_wake). */
#ifndef FANOUT_CORE_XR_H
#define FANOUT_CORE_XR_H

#include <stdbool.h>
#include <stdint.h>
#include <ck_ring.h>

#define XR_REACTORS_MAX 64u		/* as many as a log's reader bits */
#define XR_LANE_SLOTS   16384u		/* pointers per lane (power of two; one stays free) */

struct xr_lane {
	ck_ring_t ring;
	ck_ring_buffer_t *slots;
} __attribute__((aligned(64)));

struct xr_mesh {
	uint32_t n;			/* reactors */
	struct xr_lane *lanes;		/* n * n; lane [from * n + to], the diagonal unused */
};

/* Allocates the lanes for n reactors. Returns 0, -EINVAL (n out of range) or -ENOMEM. */
int xr_mesh_init(struct xr_mesh *m, uint32_t n);

void xr_mesh_free(struct xr_mesh *m);

/* Queues p from reactor `from` to reactor `to`. Returns false when the lane is full: the
 * sender keeps p and tries again on a later turn. from's thread. */
bool xr_send(struct xr_mesh *m, uint32_t from, uint32_t to, void *p);

/* Takes the next pointer `from` sent to `to`. Returns false when there is none. to's
 * thread. */
bool xr_recv(struct xr_mesh *m, uint32_t to, uint32_t from, void **p);

/* Pointers waiting for reactor `to` from every other reactor (a moment's view). */
uint32_t xr_pending(struct xr_mesh *m, uint32_t to);

#endif
