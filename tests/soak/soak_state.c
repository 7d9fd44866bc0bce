/* tests/soak/soak_state.c — mapping the shared state (soak_state.h). Every array is its
 * own MAP_NORESERVE mapping sized for the worst case of the run; only the pages a run
 * touches take memory. */
#include "tests/soak/soak_state.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "tests/soak/soak_proc.h"

static void *map_shared(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static size_t ev_bytes(const struct soak_cfg *c)
{
	return c->seq_cap * sizeof(struct soak_ev);
}

static size_t seen_bytes(const struct soak_cfg *c)
{
	return (SOAK_PUBS_MAX * c->seq_cap + 7) / 8;
}

static size_t fp_bytes(const struct soak_cfg *c)
{
	return (size_t)c->parts * c->off_cap;
}

struct soak_shared *soak_state_map(const struct soak_cfg *cfg)
{
	struct soak_shared *sh = map_shared(sizeof(*sh));

	if (!sh)
		return NULL;
	for (uint32_t i = 0; i < cfg->pubs; i++) {
		sh->pub[i].ev = map_shared(ev_bytes(cfg));
		if (!sh->pub[i].ev)
			goto err;
		for (uint32_t k = 0; k < SOAK_KEYS; k++)
			atomic_init(&sh->pub[i].key_part[k], -1);
	}
	for (uint32_t i = 0; i < cfg->subs + cfg->rings; i++) {
		sh->sub[i].seen = map_shared(seen_bytes(cfg));
		sh->sub[i].fp = map_shared(fp_bytes(cfg));
		if (!sh->sub[i].seen || !sh->sub[i].fp)
			goto err;
	}
	return sh;
err:
	soak_state_unmap(sh, cfg);
	errno = ENOMEM;
	return NULL;
}

void soak_state_unmap(struct soak_shared *sh, const struct soak_cfg *cfg)
{
	if (!sh)
		return;
	for (uint32_t i = 0; i < cfg->pubs; i++)
		if (sh->pub[i].ev)
			munmap(sh->pub[i].ev, ev_bytes(cfg));
	for (uint32_t i = 0; i < cfg->subs + cfg->rings; i++) {
		if (sh->sub[i].seen)
			munmap(sh->sub[i].seen, seen_bytes(cfg));
		if (sh->sub[i].fp)
			munmap(sh->sub[i].fp, fp_bytes(cfg));
	}
	munmap(sh, sizeof(*sh));
}

void soak_pause(const struct soak_shared *sh, int64_t ms)
{
	int64_t end = soak_now_ns() + ms * 1000000;

	while (soak_now_ns() < end && !atomic_load_explicit(&sh->stop_new, memory_order_relaxed) &&
	       !atomic_load_explicit(&sh->stop, memory_order_relaxed))
		soak_sleep_ms(50);
}
