/* core/reactor.h — one thread, one io_uring: its listening sockets (the TCP port and,
 * optionally, a Unix socket for peers on this host), their connections, and the sends and
 * receives on them. The reactor knows bytes, not protocol: the layer above supplies struct
 * reactor_ops and decides what the bytes mean and what to send.
 *
 * user_data of every SQE (one layout, here):
 *   bits  0..7   enum reactor_op, which completion handler runs
 *   bits  8..31  reserved, 0
 *   bits 32..63  connection slot; for REACTOR_OP_ACCEPT the listener (enum
 *                reactor_listener_id); REACTOR_SLOT_NONE for the rest
 *
 * Every function here must run on the reactor's own thread (_reactor contract) unless
 * it says otherwise. */
#ifndef FANOUT_CORE_REACTOR_H
#define FANOUT_CORE_REACTOR_H

#include <liburing.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#define REACTOR_SLOT_NONE   0xffffffffu
#define REACTOR_BUF_BYTES   (16u << 10)	/* one provided receive buffer */
#define REACTOR_BUF_COUNT   512u		/* buffers in the ring (power of two) */
#define REACTOR_BUF_GROUP   0
/* Priority connections (reactor_conn.priority) receive into a pool of their own, so no
 * amount of other input queued in buffers leaves them without one. */
#define REACTOR_PRIO_BUF_COUNT 64u	/* power of two */
#define REACTOR_PRIO_BUF_GROUP 1
/* While the layer above prioritises (reactor.prioritize): completions carried from one
 * turn to the next at most, and the received bytes of connections without priority
 * handled per turn, so that a turn — and a priority connection's wait — stays short. */
#define REACTOR_HELD_MAX    4096u
#define REACTOR_BULK_TURN_BYTES (32u << 10)
/* Held receives each pin one of the REACTOR_BUF_COUNT shared buffers: past this many, the
 * connections whose held receives hold buffers stop receiving until theirs are handled
 * (their input waits in the kernel, TCP pushing back) instead of draining the pool and
 * failing their receives with ENOBUFS turn after turn. A soft bound: a connection
 * resumed with much input queued may take many buffers at once. */
#define REACTOR_HELD_BUFS_MAX (REACTOR_BUF_COUNT / 4)
#define REACTOR_WAIT_NS     (100 * 1000 * 1000ll)	/* longest sleep: stop-flag latency */
#define REACTOR_KEEPIDLE_S  60	/* TCP keepalive: idle seconds before probing, */
#define REACTOR_KEEPINTVL_S 10	/* seconds between probes, */
#define REACTOR_KEEPCNT     3	/* unanswered probes before the kernel drops it */
#define REACTOR_ACCEPT_PAUSE_NS (100 * 1000 * 1000ll)	/* out of fds: retry accepts after */
/* Zero-copy sends per connection whose notification is awaited: each notification waits
 * for the peer's ACK, so one at a time would carry one send per round trip. */
#define REACTOR_ZC_INFLIGHT_DEFAULT 8u
#define REACTOR_ZC_INFLIGHT_MAX 16u

/* reactor_send flags */
#define REACTOR_SEND_COPY 0x1u	/* never zero-copy: msg points at memory the caller reuses
				 * as soon as on_sent runs */
#define REACTOR_SEND_REST 0x2u	/* the rest of the connection's last send (a short one):
				 * it reads memory gathered then, so it counts in that
				 * send's grace generation */

/* A reactor's listening sockets. */
enum reactor_listener_id {
	REACTOR_LISTEN_TCP = 0,		/* --listen: any peer the network lets in */
	REACTOR_LISTEN_LOCAL,		/* a Unix socket: peers on this host, credentials known */
	REACTOR_LISTENERS,
};

enum reactor_op {
	REACTOR_OP_ACCEPT = 1,
	REACTOR_OP_RECV,
	REACTOR_OP_SEND,
	REACTOR_OP_WAKE,	/* another reactor woke this one (MSG_RING CQE or eventfd read) */
	REACTOR_OP_MSG,		/* a MSG_RING this reactor sent failed */
	REACTOR_OP_CANCEL,	/* a receive cancel failed (it had completed already) */
	REACTOR_OP_MAX,
};

struct reactor_conn {
	int fd;
	uint32_t slot;
	uint32_t inflight;	/* SQEs submitted and not yet completed for good */
	bool recv_armed;	/* a (multishot) receive is pending */
	bool recv_paused;	/* the layer above holds enough input: no receive re-armed */
	bool zc;		/* the peer is on another host: large sends go zero-copy */
	/* Zero-copy sends whose bytes are queued but whose memory the kernel still holds:
	 * its notification comes once the peer has acknowledged them (a round trip). Up to
	 * reactor.zc_inflight of them; each also counts in inflight. */
	uint8_t zc_notifs;
	uint8_t grace_parity;	/* its last send's grace generation (& 1) */
	bool local;		/* accepted on the Unix socket (REACTOR_LISTEN_LOCAL): the
				 * peer is on this host; SO_PEERCRED names its user */
	bool sending;		/* a send is being queued by the kernel; one at a time, so
				 * bytes go out in order */
	bool closing;		/* shut down; the slot frees once inflight reaches 0 */
	bool in_use;
	bool priority;		/* set by the layer above: while reactor.prioritize, its
				 * completions are handled before the others' */
	bool held_paused;	/* receives stopped while its held ones pin buffers */
	uint8_t recv_group;	/* the buffer pool its armed receive takes from */
	uint32_t nheld;		/* its completions in reactor.held */
	uint32_t held_pos;	/* its place in reactor.held_paused_slots, if held_paused */
	void *user;		/* the upper layer's per-connection state */
};

struct reactor;

/* What the layer above does with connections. ctx is reactor_ops.ctx. */
struct reactor_ops {
	void *ctx;
	/* A connection was accepted. Return 0 to keep it, <0 to close it at once. */
	int (*on_open)(void *ctx, struct reactor_conn *c);
	/* Bytes arrived. They are valid only during the call: keep what is needed. */
	void (*on_data)(void *ctx, struct reactor_conn *c, const uint8_t *p, size_t n);
	/* A send finished: res is the bytes the kernel took (possibly fewer than asked) or
	 * -errno. The next send may start; memory a zero-copy send used stays in the
	 * kernel's hands until its notification (reactor_send). */
	void (*on_sent)(void *ctx, struct reactor_conn *c, int res);
	/* The connection is gone (peer closed, error, or reactor_close); free its state. */
	void (*on_close)(void *ctx, struct reactor_conn *c);
	/* Completions drained, about to wait: flush what the batch produced. */
	/* After each batch of completions. Returns true when work remains that no completion
	 * will announce: the next wait then only peeks. */
	bool (*on_idle)(void *ctx);
	/* Optional. While prioritising, mid-turn, in a turn with input from both classes:
	 * the priority connections' completions have been handled and the others' input is
	 * still to be. Returns whether it did anything (and may have queued sends); what is
	 * queued is submitted at once, so the priority connections' sends reach the kernel
	 * ahead of the others' work. */
	bool (*on_priority)(void *ctx);
};

/* Kernel features found at start-up (probed; fallbacks used where false). */
struct reactor_features {
	bool defer_taskrun;	/* SINGLE_ISSUER | DEFER_TASKRUN accepted */
	bool multishot_accept;
	bool multishot_recv;
	bool send_zc;		/* IORING_OP_SENDMSG_ZC known */
	bool msg_ring;		/* IORING_OP_MSG_RING known */
};

/* What a reactor is set up with. */
struct reactor_config {
	const char *listen;	/* "127.0.0.1:7400"; port 0 picks one */
	uint32_t max_conns;
	uint32_t id;		/* 0..n-1 among the process's reactors */
	bool reuseport;		/* SO_REUSEPORT: reactors share the port, the kernel
				 * spreads connections across them */
	bool quiet;		/* no start-up line about kernel features */
	uint32_t send_zc_bytes;	/* sends of at least this many bytes to peers on other
				 * hosts go zero-copy (SENDMSG_ZC); 0 = never */
	uint32_t send_zc_inflight;	/* zero-copy sends per connection awaiting their
					 * notification, 1..REACTOR_ZC_INFLIGHT_MAX
					 * (0 = REACTOR_ZC_INFLIGHT_DEFAULT) */
	int local_fd;		/* a listening AF_UNIX socket to accept on as well, or -1
				 * (set it: 0 is a descriptor). The reactor accepts on a
				 * duplicate, so every reactor may share one socket: the
				 * kernel hands each connection to one of them */
};

/* One listening socket of a reactor. */
struct reactor_listener {
	int fd;				/* -1: none */
	bool paused;			/* out of file descriptors: re-armed at
					 * accept_resume_ns */
};

struct reactor {
	struct io_uring ring;
	uint32_t id;
	_Atomic int wake_pending;	/* a wake-up is on its way: others need not send one */
	int wake_fd;			/* eventfd when the kernel lacks MSG_RING, else -1 */
	uint64_t wake_buf;		/* the eventfd read's target */
	uint64_t wakes_sent, wakes_received;
	uint64_t turns, wait_ns;	/* loop turns; time inside io_uring_enter (admin stats) */
	struct reactor *const *peers;	/* every reactor by id (set before serving), to
					 * undo a wake-up whose MSG_RING failed */
	struct io_uring_buf_ring *br;
	uint8_t *bufs;			/* REACTOR_BUF_COUNT * REACTOR_BUF_BYTES */
	struct io_uring_buf_ring *prio_br;	/* the priority connections' pool */
	uint8_t *prio_bufs;		/* REACTOR_PRIO_BUF_COUNT * REACTOR_BUF_BYTES */
	struct reactor_listener listen[REACTOR_LISTENERS];
	bool accepting;
	int64_t accept_resume_ns;
	struct reactor_conn *conns;	/* max_conns slots, preallocated */
	uint32_t *free_slots;		/* stack of free slot numbers */
	uint32_t nfree, max_conns;
	uint32_t nopen;
	struct reactor_ops ops;
	struct reactor_features features;
	volatile sig_atomic_t *stop;	/* set by a signal handler: drain and leave */
	bool busy;			/* on_idle left work: do not sleep */
	/* Set by the layer above when some connections have priority: each turn handles
	 * theirs (and accepts and wake-ups) first, then the others' up to
	 * REACTOR_BULK_TURN_BYTES received, and carries the rest, in order, to the next
	 * turn (held). A connection's completions keep their order whatever its class. */
	bool prioritize;
	struct io_uring_cqe *held, *later;	/* REACTOR_HELD_MAX each, preallocated */
	uint32_t nheld;
	uint32_t *held_paused_slots;	/* the slots of connections with held_paused, each
					 * once (max_conns); a slot leaves it when freed */
	uint32_t nheld_paused;
	uint64_t held_pauses;		/* times a connection was held-paused (tests) */
	uint64_t priority_passes;	/* on_priority calls that did something (tests) */
	uint64_t prio_enobufs;		/* priority connections' receives ended for want
					 * of a buffer (tests: it stays 0) */
	uint32_t holds;			/* work the layer above waits on from other threads:
					 * reactor_drain goes on while non-zero */
	uint64_t accepted, refused, accept_pauses;
	uint32_t send_zc_bytes;		/* reactor_config's */
	uint32_t zc_inflight;		/* reactor_config's send_zc_inflight */
	bool zc_local;			/* tests: zero-copy to local peers too */
	/* Grace periods (core/log_retain.h: memory a send may still read): sends started
	 * in generation g count in grace_busy[g & 1] until the kernel is done with their
	 * memory (a zero-copy one: its notification). Another thread asks for generation
	 * grace_want; the reactor moves to it at its next turn and, once the sends of the
	 * one before have all finished, says so in grace_done. */
	uint64_t grace_gen;
	uint64_t grace_busy[2];
	_Atomic uint64_t grace_want, grace_done;
	uint64_t zc_sends, zc_copied;	/* zero-copy sends; sends copied at the in-flight
					 * bound (the rest of a short send) */
	uint64_t zc_full;		/* notifications that arrived with a connection's
					 * window full (its next send may have waited) */
};

/* Creates the ring, buffer ring and connection slots and starts listening on cfg->listen
 * (and accepting on cfg->local_fd when it is a descriptor). The bound address is written
 * to bound (>= 64 bytes) as "HOST:PORT". Returns 0 or -errno
 * with a message on stderr. Runs on the reactor's own thread: with SINGLE_ISSUER the
 * thread that creates the ring is the one that may submit to it. */
int reactor_init(struct reactor *r, const struct reactor_config *cfg,
		 const struct reactor_ops *ops, char *bound, size_t bound_cap);

/* Makes target run a turn soon (its on_idle then sees what self left for it): a
 * MSG_RING completion posted to target's ring, or an eventfd write where the kernel
 * lacks MSG_RING. At most one wake-up is in flight per target, however many reactors
 * ask. self's thread; target may be any reactor, not self. */
void reactor_wake(struct reactor *self, struct reactor *target);

/* reactor_wake from a thread that is no reactor (the admin plane's, the executor's),
 * through that thread's own ring (NULL: none could be made; the eventfd still works,
 * else target looks at its queues within its wait bound anyway). One caller per ring. */
void reactor_wake_from(struct io_uring *ring, struct reactor *target);

/* Stops receiving on c (the layer above holds enough unprocessed input); bytes already
 * on their way still arrive through on_data. Idempotent. */
void reactor_recv_pause(struct reactor *r, struct reactor_conn *c);

/* Receives on c again after reactor_recv_pause. Idempotent. */
void reactor_recv_resume(struct reactor *r, struct reactor_conn *c);

/* Runs until *stop becomes non-zero, then stops accepting and receiving and returns so
 * the caller can drain (reactor_poll). Returns 0 or -errno on a ring failure. */
int reactor_run(struct reactor *r, volatile sig_atomic_t *stop);

/* One turn of the loop (submit, wait up to wait_ns, handle completions, on_idle): for
 * draining at shutdown after reactor_run returned. Returns 0 or -errno. */
int reactor_poll(struct reactor *r, int64_t wait_ns);

/* Sets c's priority (reactor_conn.priority): its completions go first while the reactor
 * prioritises, and its receives take from the priority pool — an armed receive is
 * cancelled and armed again in the other pool. The reactor's thread. */
void reactor_set_priority(struct reactor *r, struct reactor_conn *c, bool priority);

/* True when nothing is in flight: no send, no receive (reactor_run ended them), nothing
 * the layer above holds. */
bool reactor_quiet(const struct reactor *r);

/* Closes everything and frees the reactor. */
void reactor_free(struct reactor *r);

/* Queues one sendmsg of msg (bytes long) on c; msg and its iovec array must stay valid
 * until on_sent. One send per connection is queued at a time (reactor_send_ready): on_sent
 * runs once the kernel has taken its bytes, in order. A peer on another host gets a
 * zero-copy send (SENDMSG_ZC) from send_zc_bytes up unless flags has REACTOR_SEND_COPY:
 * the memory the iovecs point at is then read by the kernel until the send's notification
 * (after the peer's ACK), long after on_sent, so it must be memory that does not change
 * (log frames); up to zc_inflight such sends wait for their notifications per connection
 * (beyond, reactor_send_ready is false; the rest of a short send is copied instead).
 * Loopback and same-host peers never get zero-copy: the kernel copies for them anyway.
 * Returns 0 or -errno. */
int reactor_send(struct reactor *r, struct reactor_conn *c, struct msghdr *msg, size_t bytes,
		 unsigned flags);

/* Whether the kernel may still read memory a send on c pointed at: one is being queued,
 * or a zero-copy one awaits its notification. */
static inline bool reactor_send_pending(const struct reactor_conn *c)
{
	return c->sending || c->zc_notifs > 0;
}

/* Whether a new send may start on c: none is being queued, and a zero-copy peer has a
 * notification slot free (a send made now may be zero-copy). */
static inline bool reactor_send_ready(const struct reactor *r, const struct reactor_conn *c)
{
	return !c->sending && (!c->zc || c->zc_notifs < r->zc_inflight);
}

/* Shuts c down: pending operations complete, then on_close runs and the slot is freed.
 * Idempotent. */
void reactor_close(struct reactor *r, struct reactor_conn *c);

#endif
