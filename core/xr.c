/* core/xr.c — the lanes between reactors. */
#include "core/xr.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static_assert((XR_LANE_SLOTS & (XR_LANE_SLOTS - 1)) == 0, "ck_ring wants a power of two");

int xr_mesh_init(struct xr_mesh *m, uint32_t n)
{
	memset(m, 0, sizeof(*m));
	if (n == 0 || n > XR_REACTORS_MAX)
		return -EINVAL;
	if (posix_memalign((void **)&m->lanes, 64, (size_t)n * n * sizeof(*m->lanes)))
		return -ENOMEM;
	memset(m->lanes, 0, (size_t)n * n * sizeof(*m->lanes));
	m->n = n;
	for (uint32_t i = 0; i < n * n; i++) {
		if (i / n == i % n)
			continue;	/* a reactor does not queue to itself */
		m->lanes[i].slots = calloc(XR_LANE_SLOTS, sizeof(*m->lanes[i].slots));
		if (!m->lanes[i].slots) {
			xr_mesh_free(m);
			return -ENOMEM;
		}
		ck_ring_init(&m->lanes[i].ring, XR_LANE_SLOTS);
	}
	return 0;
}

void xr_mesh_free(struct xr_mesh *m)
{
	for (uint32_t i = 0; m->lanes && i < m->n * m->n; i++)
		free(m->lanes[i].slots);
	free(m->lanes);
	memset(m, 0, sizeof(*m));
}

bool xr_send(struct xr_mesh *m, uint32_t from, uint32_t to, void *p)
{
	struct xr_lane *l = &m->lanes[from * m->n + to];

	assert(from < m->n && to < m->n && from != to);
	return ck_ring_enqueue_spsc(&l->ring, l->slots, p);
}

bool xr_recv(struct xr_mesh *m, uint32_t to, uint32_t from, void **p)
{
	struct xr_lane *l = &m->lanes[from * m->n + to];

	assert(from < m->n && to < m->n && from != to);
	return ck_ring_dequeue_spsc(&l->ring, l->slots, p);
}

uint32_t xr_pending(struct xr_mesh *m, uint32_t to)
{
	uint32_t n = 0;

	for (uint32_t from = 0; from < m->n; from++)
		if (from != to)
			n += ck_ring_size(&m->lanes[from * m->n + to].ring);
	return n;
}
