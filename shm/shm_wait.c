/* shm/shm_wait.c — waiting for records: spin, then sleep on the ring's futex, with a
 * deadline; and noticing that no record will ever come (the writer closed the ring, died,
 * or, for an attached handle, the server ended the subscription). A reader always drains
 * what the writer published before it is told the writer is gone. */
#include "shm/shm_internal.h"

#include "shm/proc_ident.h"

#include <errno.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

/* How often a waiting reader checks /proc for the writer: a dead writer is noticed within
 * this, and a sleeping reader wakes this often at the least. */
#define ALIVE_CHECK_NS 100000000ull
/* Spins between clock reads while spinning (each read costs ~20 ns). */
#define SPINS_PER_CLOCK 1024u

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/* 0 while the writer may still write, else why it will not. Its liveness is looked at
 * before the ring's state: a writer that closed the ring and then exited between the two
 * loads would otherwise be reported dead, not closed. */
static int writer_gone(struct fanout_shm *r, uint64_t now)
{
	bool due = now >= r->next_alive_check_ns, dead = false;
	int rc;

	if (due) {
		r->next_alive_check_ns = now + ALIVE_CHECK_NS;
		dead = !shm_proc_alive(r->writer_pid, r->writer_start_ticks);
	}
	if (atomic_load_explicit(&r->h->state, memory_order_acquire) == SHM_STATE_CLOSED) {
		shm_reader_say(r, "%s: the writer closed the ring", r->path);
		return -FANOUT_SHM_E_CLOSED;
	}
	if (!due)
		return 0;
	if (dead) {
		shm_reader_say(r, "%s: the writer (pid %d) died", r->path, (int)r->writer_pid);
		return -FANOUT_SHM_E_WRITER_DEAD;
	}
	if (r->control_fd >= 0 && (rc = shm_control_check(r)) < 0)
		return rc;
	return 0;
}

/* A wait's checks: 1 when there is something to poll, an error when the writer is gone
 * and everything it published was read, else 0. */
static int wait_check(struct fanout_shm *r, uint64_t now)
{
	int rc;

	if (shm_reader_ready(r))
		return 1;
	rc = writer_gone(r, now);
	/* It may have published more just before it went: drain that first. */
	return rc < 0 && shm_reader_ready(r) ? 1 : rc;
}

static int spin_phase(struct fanout_shm *r, uint64_t deadline)
{
	for (uint64_t i = 1; r->spin == FANOUT_SHM_SPIN_FOREVER || i <= r->spin; i++) {
		cpu_relax();
		if (shm_reader_ready(r))
			return 1;
		if (i % SPINS_PER_CLOCK == 0) {
			uint64_t now = shm_now_ns();
			int rc = wait_check(r, now);

			if (rc)
				return rc;
			if (now >= deadline)
				return 0;
		}
	}
	return SHM_RETRY;
}

static void futex_wait(const _Atomic uint32_t *word, uint32_t expected, uint64_t ns)
{
	struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000u),
			       .tv_nsec = (long)(ns % 1000000000u) };

	/* Shared futex: the writer is another process. EAGAIN (the word moved), EINTR and
	 * ETIMEDOUT all mean "look again", which the caller does. */
	syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT, expected, &ts, NULL, 0);
}

static int sleep_phase(struct fanout_shm *r, uint64_t deadline)
{
	for (;;) {
		uint64_t now = shm_now_ns(), slice;
		uint32_t word;
		int rc = wait_check(r, now);

		if (rc)
			return rc;
		if (now >= deadline)
			return 0;
		slice = deadline - now < ALIVE_CHECK_NS ? deadline - now : ALIVE_CHECK_NS;
		/* Load the word before announcing the wait: a wake after this load changes it,
		 * and FUTEX_WAIT then returns at once. */
		word = atomic_load_explicit(&r->h->wake, memory_order_acquire);
		atomic_fetch_add_explicit(&r->area->waiters, 1, memory_order_seq_cst);
		atomic_store_explicit(&r->slot->flags, SHM_SLOT_SLEEPING, memory_order_relaxed);
		/* Dekker with shm_ring_wake: waiters is visible before write_pos is reread. */
		SHM_FENCE(memory_order_seq_cst);
		if (!shm_reader_ready(r))
			futex_wait(&r->h->wake, word, slice);
		atomic_store_explicit(&r->slot->flags, 0, memory_order_relaxed);
		atomic_fetch_sub_explicit(&r->area->waiters, 1, memory_order_seq_cst);
	}
}

int fanout_shm_wait(struct fanout_shm *r, int64_t timeout_ns)
{
	uint64_t now = shm_now_ns();
	uint64_t deadline = timeout_ns < 0 ? UINT64_MAX : now + (uint64_t)timeout_ns;
	int rc;

	atomic_store_explicit(&r->slot->heartbeat_ns, now, memory_order_relaxed);
	if ((rc = wait_check(r, now)) != 0)
		return rc;
	if (now >= deadline)
		return 0;
	rc = spin_phase(r, deadline);
	return rc == SHM_RETRY ? sleep_phase(r, deadline) : rc;
}

int fanout_shm_next(struct fanout_shm *r, struct fanout_shm_record *rec, int64_t timeout_ns)
{
	uint64_t deadline = timeout_ns < 0 ? UINT64_MAX : shm_now_ns() + (uint64_t)timeout_ns;

	for (;;) {
		uint64_t now;
		int rc = fanout_shm_poll(r, rec);

		if (rc != FANOUT_SHM_NONE)
			return rc;
		now = shm_now_ns();
		if (now >= deadline)
			return 0;
		rc = fanout_shm_wait(r, deadline == UINT64_MAX ? -1 : (int64_t)(deadline - now));
		if (rc <= 0)
			return rc;
	}
}

void fanout_shm_set_spin(struct fanout_shm *r, uint32_t spin_iterations)
{
	r->spin = spin_iterations;
}
