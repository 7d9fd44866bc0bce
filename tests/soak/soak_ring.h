/* tests/soak/soak_ring.h — a co-located reader through libfanout-shm. The first time it
 * learns the log's tails over TCP (what it is owed from) and attaches from there, on
 * fanoutd's Unix socket for rings (--shm-socket: the ring comes as sealed memfds); when
 * the ring's writer dies (a server kill) it drains the ring, attaches to the restarted
 * server with START_POSITION_OFFSET at its smallest next offset and the old handle as
 * `resume` (shm/FORMAT.md: Reattaching after a server restart); after its own SIGKILL
 * its successor attaches the same way without the handle and skips what it had. Events
 * are decoded from a private copy and recorded only once fanout_shm_validate says the
 * bytes were intact. A slow reader, with a small ring, reads at twice the publishing rate
 * at most and pauses now and then, so that the writer laps it and the library recovers
 * the missed events from the partition logs. */
#ifndef FANOUT_TESTS_SOAK_RING_H
#define FANOUT_TESTS_SOAK_RING_H

#include <stdint.h>

#define SOAK_RING_BYTES      (16ull << 20)
/* The smallest: fanoutd makes it 4 x (largest frame + 64 KiB) rounded up to a power of
 * two, 8 MiB by default: ~13,000 soak records, a journal of 131,072. */
#define SOAK_RING_BYTES_SLOW (4ull << 20)

/* Client process entry (arg: struct soak_ctx *). Returns 0 when told to stop. */
int soak_ring_main(void *arg);

/* The longest pause a slow reader may take at this many events/s over the whole run:
 * what it adds stays well inside its ring's offset journal (a lap is recovered from the
 * log; a reader behind by more than the journal loses events, with offsets unknown). */
int64_t soak_ring_pause_max_ms(uint64_t events_per_s);

#endif
