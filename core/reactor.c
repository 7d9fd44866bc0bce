/* core/reactor.c — the io_uring loop: setup with probed features, multishot accept and
 * receive into a provided-buffer ring, sendmsg for the layer above, and connection slot
 * lifetimes (a slot is reused only after every operation on it has completed). */
#include "core/reactor.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/epoch.h"
#include "core/mem.h"

#define REACTOR_SQ_ENTRIES 4096u
#define REACTOR_CQ_ENTRIES 16384u
#define REACTOR_CQE_BATCH  256u
#define REACTOR_CQE_MAX_PER_LOOP 8192u	/* bound the work between on_idle calls */

static inline uint64_t reactor_udata(enum reactor_op op, uint32_t slot)
{
	return (uint64_t)slot << 32 | (uint64_t)op;
}

/* A send's user data carries its grace generation's parity (bit 8; reactor_on_send). */
#define REACTOR_GRACE_BIT 8

/* A completion's op and slot, as reactor_udata put them. */
static inline enum reactor_op reactor_cqe_op(const struct io_uring_cqe *cqe)
{
	return (enum reactor_op)(io_uring_cqe_get_data64(cqe) & 0xff);
}

static inline uint32_t reactor_cqe_slot(const struct io_uring_cqe *cqe)
{
	return (uint32_t)(io_uring_cqe_get_data64(cqe) >> 32);
}

/* A free SQE; a full submission queue is normal: submit what is queued and retry. */
static struct io_uring_sqe *reactor_sqe(struct reactor *r)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);

	while (!sqe) {
		int rc = io_uring_submit(&r->ring);

		if (rc < 0 && rc != -EINTR && rc != -EBUSY && rc != -EAGAIN) {
			fprintf(stderr, "fanoutd: io_uring_submit: %s\n", strerror(-rc));
			abort();	/* the ring is unusable: nothing sensible remains */
		}
		sqe = io_uring_get_sqe(&r->ring);
	}
	return sqe;
}

static void reactor_arm_accept(struct reactor *r, enum reactor_listener_id id)
{
	struct io_uring_sqe *sqe = reactor_sqe(r);
	int fd = r->listen[id].fd;

	assert(fd >= 0);
	if (r->features.multishot_accept)
		io_uring_prep_multishot_accept(sqe, fd, NULL, NULL, SOCK_CLOEXEC);
	else
		io_uring_prep_accept(sqe, fd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data64(sqe, reactor_udata(REACTOR_OP_ACCEPT, id));
}

static void reactor_arm_recv(struct reactor *r, struct reactor_conn *c)
{
	struct io_uring_sqe *sqe = reactor_sqe(r);

	if (r->features.multishot_recv)
		io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
	else
		io_uring_prep_recv(sqe, c->fd, NULL, REACTOR_BUF_BYTES, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	c->recv_group = c->priority ? REACTOR_PRIO_BUF_GROUP : REACTOR_BUF_GROUP;
	sqe->buf_group = c->recv_group;
	io_uring_sqe_set_data64(sqe, reactor_udata(REACTOR_OP_RECV, c->slot));
	c->recv_armed = true;
	c->inflight++;
}

int reactor_send(struct reactor *r, struct reactor_conn *c, struct msghdr *msg, size_t bytes,
		 unsigned flags)
{
	struct io_uring_sqe *sqe;
	bool zc = c->zc && r->send_zc_bytes && bytes >= r->send_zc_bytes &&
		  !(flags & REACTOR_SEND_COPY);

	if (c->closing)
		return -EPIPE;
	assert(!c->sending);
	assert(!(flags & ~(REACTOR_SEND_COPY | REACTOR_SEND_REST)));
	if (zc && c->zc_notifs >= r->zc_inflight) {
		/* Only the rest of a short send gets here (callers wait for
		 * reactor_send_ready): copied, so pinned memory stays bounded. */
		zc = false;
		r->zc_copied++;
	}
	sqe = reactor_sqe(r);
	if (zc) {
		io_uring_prep_sendmsg_zc(sqe, c->fd, msg, MSG_NOSIGNAL);
		r->zc_sends++;
	} else {
		io_uring_prep_sendmsg(sqe, c->fd, msg, MSG_NOSIGNAL);
	}
	/* Its memory was gathered in this generation, or for a rest in the first part's
	 * (whose completion, in this same reap, has not let that generation end). */
	if (!(flags & REACTOR_SEND_REST))
		c->grace_parity = (uint8_t)(r->grace_gen & 1);
	io_uring_sqe_set_data64(sqe, reactor_udata(REACTOR_OP_SEND, c->slot) |
				(uint64_t)c->grace_parity << REACTOR_GRACE_BIT);
	r->grace_busy[c->grace_parity]++;	/* until its completion, or notification */
	c->sending = true;
	c->inflight++;
	return 0;
}

/* Takes c off the list of held-paused connections. */
static void reactor_held_unlist(struct reactor *r, struct reactor_conn *c)
{
	uint32_t last = r->held_paused_slots[--r->nheld_paused];

	assert(c->held_paused && r->held_paused_slots[c->held_pos] == c->slot);
	r->held_paused_slots[c->held_pos] = last;
	r->conns[last].held_pos = c->held_pos;
	c->held_paused = false;
}

/* Frees the slot once nothing is pending on it. */
static void reactor_release(struct reactor *r, struct reactor_conn *c)
{
	if (!c->in_use || !c->closing || c->inflight > 0)
		return;
	if (c->held_paused)
		reactor_held_unlist(r, c);
	close(c->fd);
	if (r->ops.on_close)
		r->ops.on_close(r->ops.ctx, c);
	c->in_use = false;
	c->user = NULL;
	c->fd = -1;
	r->free_slots[r->nfree++] = c->slot;
	r->nopen--;
	r->accept_resume_ns = 0;	/* a descriptor is free again: a paused accept may go on */
}

void reactor_close(struct reactor *r, struct reactor_conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	/* Ends the pending receive (EOF) and send (EPIPE); their completions free the slot. */
	shutdown(c->fd, SHUT_RDWR);
	reactor_release(r, c);
}

/* Whether a peer shares this host: loopback, or the address we were reached at. */
static bool reactor_peer_local(int fd)
{
	struct sockaddr_storage peer, self;
	socklen_t pl = sizeof(peer), sl = sizeof(self);

	if (getpeername(fd, (struct sockaddr *)&peer, &pl) < 0 ||
	    getsockname(fd, (struct sockaddr *)&self, &sl) < 0)
		return true;	/* unknown: the safe answer is "copy" */
	if (peer.ss_family == AF_INET) {
		const struct sockaddr_in *p = (const void *)&peer, *l = (const void *)&self;

		return (ntohl(p->sin_addr.s_addr) >> 24) == 127 ||
		       p->sin_addr.s_addr == l->sin_addr.s_addr;
	}
	if (peer.ss_family == AF_INET6) {
		const struct sockaddr_in6 *p = (const void *)&peer, *l = (const void *)&self;

		return IN6_IS_ADDR_LOOPBACK(&p->sin6_addr) ||
		       (IN6_IS_ADDR_V4MAPPED(&p->sin6_addr) && p->sin6_addr.s6_addr[12] == 127) ||
		       !memcmp(&p->sin6_addr, &l->sin6_addr, sizeof(p->sin6_addr));
	}
	return true;
}

/* TCP options for an accepted connection: no Nagle delay, and peers that vanish without a
 * FIN are found. */
static void reactor_tcp_options(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* A peer that vanished without a FIN (power, cable) is found within ~90 s even when
	 * it asked for no heartbeats: the kernel probes idle connections. */
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &(int){ REACTOR_KEEPIDLE_S }, sizeof(int));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &(int){ REACTOR_KEEPINTVL_S }, sizeof(int));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &(int){ REACTOR_KEEPCNT }, sizeof(int));
	/* Keepalive is silent while data is unacknowledged; this bounds that case too. */
	setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT,
		   &(unsigned){ (REACTOR_KEEPIDLE_S + REACTOR_KEEPINTVL_S * REACTOR_KEEPCNT) * 1000u },
		   sizeof(unsigned));
}

/* An accept that ended for good (no IORING_CQE_F_MORE): re-armed, or paused when the
 * process is out of descriptors. Returns false when paused. */
static bool reactor_accept_ended(struct reactor *r, enum reactor_listener_id id, int fd)
{
	if (fd == -EINVAL && r->features.multishot_accept) {
		fprintf(stderr, "fanoutd: multishot accept refused; using single-shot\n");
		r->features.multishot_accept = false;
	}
	if (fd == -EMFILE || fd == -ENFILE || fd == -ENOBUFS || fd == -ENOMEM) {
		/* Re-arming now would fail at once, forever: the backlog waits instead, and
		 * the accept resumes after a pause or when a connection closes. */
		if (r->accept_pauses++ % 100 == 0)
			fprintf(stderr, "fanoutd: accept: %s; new connections wait in the "
				"backlog (raise the open-file limit or lower --max-connections)\n",
				strerror(-fd));
		r->listen[id].paused = true;
		r->accept_resume_ns = clock_monotonic_ns() + REACTOR_ACCEPT_PAUSE_NS;
		return false;
	}
	reactor_arm_accept(r, id);
	return true;
}

static void reactor_on_accept(struct reactor *r, enum reactor_listener_id id,
			      struct io_uring_cqe *cqe)
{
	struct reactor_conn *c;
	bool local = id == REACTOR_LISTEN_LOCAL;
	int fd = cqe->res;

	if (!(cqe->flags & IORING_CQE_F_MORE) && r->accepting && !reactor_accept_ended(r, id, fd))
		return;
	if (fd < 0) {
		if (fd != -EINVAL && fd != -ECANCELED)
			fprintf(stderr, "fanoutd: accept: %s\n", strerror(-fd));
		return;
	}
	if (!r->accepting || r->nfree == 0) {
		r->refused++;
		close(fd);	/* at the connection bound: refuse rather than queue */
		return;
	}
	if (!local)
		reactor_tcp_options(fd);
	c = &r->conns[r->free_slots[--r->nfree]];
	*c = (struct reactor_conn){ .fd = fd, .slot = c->slot, .in_use = true, .local = local };
	c->zc = !local && r->features.send_zc && r->send_zc_bytes &&
		(r->zc_local || !reactor_peer_local(fd));
	r->nopen++;
	r->accepted++;
	if (r->ops.on_open && r->ops.on_open(r->ops.ctx, c) < 0) {
		c->closing = true;
		reactor_release(r, c);
		return;
	}
	reactor_arm_recv(r, c);
}

/* Provided buffer bid of pool group. */
static uint8_t *reactor_buf(struct reactor *r, uint8_t group, uint16_t bid)
{
	return (group == REACTOR_PRIO_BUF_GROUP ? r->prio_bufs : r->bufs) +
	       (size_t)bid * REACTOR_BUF_BYTES;
}

/* Hands a provided buffer back to the kernel. */
static void reactor_recycle(struct reactor *r, uint8_t group, uint16_t bid)
{
	bool prio = group == REACTOR_PRIO_BUF_GROUP;
	struct io_uring_buf_ring *br = prio ? r->prio_br : r->br;

	io_uring_buf_ring_add(br, reactor_buf(r, group, bid), REACTOR_BUF_BYTES, bid,
			      io_uring_buf_ring_mask(prio ? REACTOR_PRIO_BUF_COUNT :
						     REACTOR_BUF_COUNT), 0);
	io_uring_buf_ring_advance(br, 1);
}

static void reactor_on_recv(struct reactor *r, struct reactor_conn *c, struct io_uring_cqe *cqe)
{
	bool more = cqe->flags & IORING_CQE_F_MORE;
	int res = cqe->res;

	if (cqe->flags & IORING_CQE_F_BUFFER) {
		uint16_t bid = (uint16_t)(cqe->flags >> IORING_CQE_BUFFER_SHIFT);

		/* recv_group is the arm's: a connection is armed again only after this arm's
		 * last completion, and held ones keep their order. */
		if (res > 0 && !c->closing)
			r->ops.on_data(r->ops.ctx, c, reactor_buf(r, c->recv_group, bid),
				       (size_t)res);
		reactor_recycle(r, c->recv_group, bid);
	}
	if (more)
		return;
	c->recv_armed = false;
	c->inflight--;
	if (res == -ENOBUFS && c->priority)
		r->prio_enobufs++;
	if (res == -EINVAL && r->features.multishot_recv && !c->closing) {
		fprintf(stderr, "fanoutd: multishot receive refused; using single-shot\n");
		r->features.multishot_recv = false;
		res = -ENOBUFS;	/* re-arm below */
	}
	if (c->closing)
		reactor_release(r, c);
	else if (res > 0 || res == -ENOBUFS || res == -ECANCELED) {
		if (!c->recv_paused && !c->held_paused)	/* a resume may have beaten the cancel */
			reactor_arm_recv(r, c);
	} else {
		reactor_close(r, c);	/* EOF or a socket error */
	}
}

/* Cancels c's armed receive: its final completion (ECANCELED) follows. The cancel is
 * submitted before this turn ends, so before the receive can complete for good and c be
 * armed again or its slot reused: it cannot hit another receive. */
static void reactor_cancel_recv(struct reactor *r, struct reactor_conn *c)
{
	struct io_uring_sqe *sqe = reactor_sqe(r);

	io_uring_prep_cancel64(sqe, reactor_udata(REACTOR_OP_RECV, c->slot), 0);
	io_uring_sqe_set_data64(sqe, reactor_udata(REACTOR_OP_CANCEL, REACTOR_SLOT_NONE));
	sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
}

void reactor_recv_pause(struct reactor *r, struct reactor_conn *c)
{
	if (c->recv_paused || c->closing)
		return;
	c->recv_paused = true;
	if (c->recv_armed)
		reactor_cancel_recv(r, c);
}

void reactor_set_priority(struct reactor *r, struct reactor_conn *c, bool priority)
{
	if (c->priority == priority)
		return;
	c->priority = priority;
	/* Its final completion (ECANCELED) arms it again, in the other pool. */
	if (c->recv_armed && !c->recv_paused && !c->held_paused && !c->closing &&
	    c->recv_group != (priority ? REACTOR_PRIO_BUF_GROUP : REACTOR_BUF_GROUP))
		reactor_cancel_recv(r, c);
}

void reactor_recv_resume(struct reactor *r, struct reactor_conn *c)
{
	if (!c->recv_paused || !r->accepting)
		return;	/* stopping: receives stay off (reactor_run) */
	c->recv_paused = false;
	if (!c->recv_armed && !c->closing && !c->held_paused)
		reactor_arm_recv(r, c);
}

static void reactor_arm_wake(struct reactor *r)
{
	struct io_uring_sqe *sqe = reactor_sqe(r);

	io_uring_prep_read(sqe, r->wake_fd, &r->wake_buf, sizeof(r->wake_buf), 0);
	io_uring_sqe_set_data64(sqe, reactor_udata(REACTOR_OP_WAKE, REACTOR_SLOT_NONE));
}

void reactor_wake(struct reactor *self, struct reactor *target)
{
	struct io_uring_sqe *sqe;

	assert(self != target);
	if (atomic_exchange(&target->wake_pending, 1))
		return;	/* one is on its way and target has not started its turn yet */
	self->wakes_sent++;
	if (target->wake_fd >= 0) {
		uint64_t one = 1;

		if (write(target->wake_fd, &one, sizeof(one)) != sizeof(one))
			atomic_store(&target->wake_pending, 0);	/* cannot happen to an eventfd */
		return;
	}
	sqe = reactor_sqe(self);
	io_uring_prep_msg_ring(sqe, target->ring.ring_fd, 0,
			       reactor_udata(REACTOR_OP_WAKE, REACTOR_SLOT_NONE), 0);
	io_uring_sqe_set_data64(sqe, reactor_udata(REACTOR_OP_MSG, target->id));
	sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
}

void reactor_wake_from(struct io_uring *ring, struct reactor *t)
{
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;

	if (atomic_exchange(&t->wake_pending, 1))
		return;
	if (t->wake_fd >= 0) {
		uint64_t one = 1;

		if (write(t->wake_fd, &one, sizeof(one)) != sizeof(one))
			atomic_store(&t->wake_pending, 0);
		return;
	}
	if (!ring || !(sqe = io_uring_get_sqe(ring))) {
		atomic_store(&t->wake_pending, 0);
		return;
	}
	io_uring_prep_msg_ring(sqe, t->ring.ring_fd, 0,
			       reactor_udata(REACTOR_OP_WAKE, REACTOR_SLOT_NONE), 0);
	/* MSG_RING completes at once on our side: reap it so a failure is not taken for a
	 * wake-up in flight. */
	if (io_uring_submit_and_wait(ring, 1) < 1 || io_uring_peek_cqe(ring, &cqe) < 0) {
		atomic_store(&t->wake_pending, 0);
		return;
	}
	if (cqe->res < 0)
		atomic_store(&t->wake_pending, 0);
	io_uring_cqe_seen(ring, cqe);
}

/* Another reactor woke this one. Clearing the flag before on_idle looks at what it left
 * means a wake-up asked for after that look is sent, not skipped. */
static void reactor_on_wake(struct reactor *r, struct io_uring_cqe *cqe)
{
	r->wakes_received++;
	atomic_store(&r->wake_pending, 0);
	atomic_thread_fence(memory_order_seq_cst);	/* the flag, then what we were sent */
	if (r->wake_fd >= 0) {
		if (cqe->res < 0 && cqe->res != -EINTR && cqe->res != -ECANCELED)
			fprintf(stderr, "fanoutd: reactor %u: wake-up read: %s\n", r->id,
				strerror(-cqe->res));
		if (cqe->res != -ECANCELED)
			reactor_arm_wake(r);
	}
}

/* A send's completion (the bytes are queued: the next send may go) or, for a zero-copy
 * one, later its notification (the kernel no longer reads its memory). A send's
 * completion with F_MORE announces the notification; the SQE counts in inflight until it. */
static void reactor_on_send(struct reactor *r, struct reactor_conn *c, struct io_uring_cqe *cqe)
{
	/* The kernel is done with the send's memory: at its notification if one follows. */
	if (!(cqe->flags & IORING_CQE_F_MORE)) {
		uint32_t g = (uint32_t)(io_uring_cqe_get_data64(cqe) >> REACTOR_GRACE_BIT) & 1;

		assert(r->grace_busy[g] > 0);
		r->grace_busy[g]--;
	}
	if (cqe->flags & IORING_CQE_F_NOTIF) {
		assert(c->zc_notifs > 0 && c->inflight > 0);
		if (c->zc_notifs-- == r->zc_inflight)
			r->zc_full++;	/* the window was full: a send may have waited */
		c->inflight--;
		reactor_release(r, c);
		return;
	}
	assert(c->sending);
	c->sending = false;
	if (cqe->flags & IORING_CQE_F_MORE) {
		assert(c->zc_notifs < REACTOR_ZC_INFLIGHT_MAX);
		c->zc_notifs++;
	} else {
		c->inflight--;
	}
	if (!c->closing && r->ops.on_sent)
		r->ops.on_sent(r->ops.ctx, c, cqe->res);
	reactor_release(r, c);
}

static void reactor_dispatch(struct reactor *r, struct io_uring_cqe *cqe)
{
	enum reactor_op op = reactor_cqe_op(cqe);
	uint32_t slot = reactor_cqe_slot(cqe);
	struct reactor_conn *c = NULL;

	if (op == REACTOR_OP_RECV || op == REACTOR_OP_SEND) {
		assert(slot < r->max_conns && r->conns[slot].in_use);
		c = &r->conns[slot];
	}
	switch (op) {
	case REACTOR_OP_ACCEPT:
		assert(slot < REACTOR_LISTENERS && r->listen[slot].fd >= 0);
		reactor_on_accept(r, (enum reactor_listener_id)slot, cqe);
		break;
	case REACTOR_OP_RECV:
		reactor_on_recv(r, c, cqe);
		break;
	case REACTOR_OP_SEND:
		reactor_on_send(r, c, cqe);
		break;
	case REACTOR_OP_WAKE:
		reactor_on_wake(r, cqe);
		break;
	case REACTOR_OP_MSG:	/* only failures post (CQE_SKIP_SUCCESS) */
		fprintf(stderr, "fanoutd: reactor %u: MSG_RING wake-up of reactor %u failed: %s\n",
			r->id, slot, strerror(-cqe->res));
		if (r->peers)	/* the next wake-up is sent, not skipped as if this one were due */
			atomic_store(&r->peers[slot]->wake_pending, 0);
		break;
	case REACTOR_OP_CANCEL:	/* failed: the receive had ended already; nothing to do */
		break;
	default:
		assert(!"unknown op in user_data");
	}
}

/* Whether a completion is handled first while prioritising: a priority connection's,
 * or no connection's (accepts, wake-ups: cheap, and nothing to keep in order with). */
static bool reactor_cqe_first(const struct reactor *r, const struct io_uring_cqe *cqe)
{
	enum reactor_op op = reactor_cqe_op(cqe);

	if (op != REACTOR_OP_RECV && op != REACTOR_OP_SEND)
		return true;
	return r->conns[reactor_cqe_slot(cqe)].priority;
}

static struct reactor_conn *reactor_cqe_conn(struct reactor *r, const struct io_uring_cqe *cqe)
{
	return &r->conns[reactor_cqe_slot(cqe)];
}

/* Stops a connection's receives while its held ones pin too many of the shared buffers:
 * its input then waits in the socket (TCP pushes back) instead of failing receive after
 * receive with ENOBUFS. reactor_held_resume starts them again. */
static void reactor_held_pause(struct reactor *r, struct reactor_conn *c)
{
	if (c->held_paused || c->closing)
		return;
	c->held_paused = true;
	c->held_pos = r->nheld_paused;
	r->held_paused_slots[r->nheld_paused++] = c->slot;
	r->held_pauses++;
	if (c->recv_armed && !c->recv_paused)	/* else none pending, or its cancel sent */
		reactor_cancel_recv(r, c);
}

/* Starts the receives of held-paused connections that have nothing held any more. */
static void reactor_held_resume(struct reactor *r)
{
	/* Walking down: unlisting swaps the last entry, one already seen, into i. */
	for (uint32_t i = r->nheld_paused; i-- > 0;) {
		struct reactor_conn *c = &r->conns[r->held_paused_slots[i]];

		if (c->nheld > 0)
			continue;
		reactor_held_unlist(r, c);
		if (!c->recv_paused && !c->recv_armed && !c->closing && r->accepting)
			reactor_arm_recv(r, c);
	}
}

/* reactor_reap while prioritising (reactor.prioritize), or with completions held over:
 * takes every ready completion behind the held ones, sorts them by class before handling
 * any (handling one may change a connection's class; its completions must stay in
 * order), handles the first class, then the others' up to a turn's share of received
 * bytes, and holds the rest for the next turn: the receives past the share, and a
 * connection's sends behind its held receives (so a send's error is not handled before
 * input that came ahead of it). Returns how many were handled. */
static unsigned reactor_reap_prioritized(struct reactor *r)
{
	struct io_uring_cqe *cqes[REACTOR_CQE_BATCH];
	uint32_t n, first = 0, nlater = 0, i, bufs = 0;
	bool prio_in = false, bulk_in = false;
	/* Not prioritising any more (or draining): what was held goes now, in order. */
	uint64_t bytes = 0, share = r->prioritize && r->accepting ? REACTOR_BULK_TURN_BYTES :
				    UINT64_MAX;

	for (i = 0; i < r->nheld; i++)	/* taken out: counted again if held again */
		reactor_cqe_conn(r, &r->held[i])->nheld--;
	while (r->nheld < REACTOR_HELD_MAX) {
		uint32_t room = REACTOR_HELD_MAX - r->nheld;

		n = io_uring_peek_batch_cqe(&r->ring, cqes, room < REACTOR_CQE_BATCH ? room :
					    REACTOR_CQE_BATCH);
		if (n == 0)
			break;
		for (i = 0; i < n; i++)
			r->held[r->nheld++] = *cqes[i];
		io_uring_cq_advance(&r->ring, n);
	}
	for (i = 0; i < r->nheld; i++) {
		if (reactor_cqe_first(r, &r->held[i])) {
			r->held[first++] = r->held[i];	/* first <= i: in place */
		} else {
			bulk_in = bulk_in || (reactor_cqe_op(&r->held[i]) == REACTOR_OP_RECV &&
					      r->held[i].res > 0);
			r->later[nlater++] = r->held[i];
		}
	}
	for (i = 0; i < first; i++) {
		prio_in = prio_in || (reactor_cqe_op(&r->held[i]) == REACTOR_OP_RECV &&
				      r->held[i].res > 0);
		reactor_dispatch(r, &r->held[i]);
	}
	r->nheld = 0;
	/* Priority input with the others' input still to handle, while prioritising (not
	 * draining, not finishing a hold): its deliveries start now, ahead of that work,
	 * instead of at the end of the turn. */
	if (prio_in && bulk_in && share != UINT64_MAX && r->ops.on_priority &&
	    r->ops.on_priority(r->ops.ctx)) {
		r->priority_passes++;
		if (io_uring_sq_ready(&r->ring) > 0)
			(void)io_uring_submit(&r->ring);	/* a failure shows at the turn's */
	}
	for (i = 0; i < nlater; i++) {
		struct io_uring_cqe *cqe = &r->later[i];
		struct reactor_conn *c = reactor_cqe_conn(r, cqe);
		bool recv = reactor_cqe_op(cqe) == REACTOR_OP_RECV;

		/* Every receive from the first one held is held too, so each connection's
		 * stay in order. */
		if ((recv && bytes >= share) || c->nheld > 0) {
			r->held[r->nheld++] = *cqe;
			c->nheld++;
			bufs += recv && (cqe->flags & IORING_CQE_F_BUFFER);
			continue;
		}
		if (recv)
			bytes += cqe->res > 0 ? (uint64_t)cqe->res : 0;
		reactor_dispatch(r, cqe);
	}
	if (bufs > REACTOR_HELD_BUFS_MAX)
		for (i = 0; i < r->nheld; i++)
			if (r->held[i].flags & IORING_CQE_F_BUFFER)
				reactor_held_pause(r, reactor_cqe_conn(r, &r->held[i]));
	reactor_held_resume(r);
	return first + nlater - r->nheld;
}

/* Handles the completions that are ready (bounded); returns how many. */
static unsigned reactor_reap(struct reactor *r)
{
	struct io_uring_cqe *cqes[REACTOR_CQE_BATCH];
	unsigned total = 0, n;

	if ((r->prioritize && r->accepting) || r->nheld || r->nheld_paused)
		return reactor_reap_prioritized(r);
	while (total < REACTOR_CQE_MAX_PER_LOOP &&
	       (n = io_uring_peek_batch_cqe(&r->ring, cqes, REACTOR_CQE_BATCH)) > 0) {
		for (unsigned i = 0; i < n; i++)
			reactor_dispatch(r, cqes[i]);
		io_uring_cq_advance(&r->ring, n);
		total += n;
	}
	return total;
}

/* Moves to the generation asked for; says the one before is over once its sends are. */
static void reactor_grace_step(struct reactor *r)
{
	uint64_t want = atomic_load_explicit(&r->grace_want, memory_order_acquire);

	if (want > r->grace_gen)
		r->grace_gen = want;	/* sends from now on count apart */
	if (r->grace_gen > atomic_load_explicit(&r->grace_done, memory_order_relaxed) &&
	    r->grace_busy[(r->grace_gen - 1) & 1] == 0)
		atomic_store_explicit(&r->grace_done, r->grace_gen, memory_order_release);
}

/* One turn: submit what is queued, wait up to wait_ns for a completion, handle them. */
static int reactor_turn(struct reactor *r, int64_t wait_ns)
{
	struct __kernel_timespec ts = { .tv_sec = wait_ns / 1000000000,
					.tv_nsec = wait_ns % 1000000000 };
	struct io_uring_cqe *cqe;
	int64_t t0 = clock_monotonic_ns();	/* admin stats: wait vs. work per turn */
	int rc;

	if (r->nheld > 0)	/* held completions are ready work: do not wait */
		ts = (struct __kernel_timespec){ 0, 0 };
	rc = io_uring_submit_and_wait_timeout(&r->ring, &cqe, 1, &ts, NULL);
	r->wait_ns += (uint64_t)(clock_monotonic_ns() - t0);
	r->turns++;
	if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EBUSY && rc != -EAGAIN)
		return rc;
	/* Shared tables are read inside a section per turn; never while asleep. */
	epoch_enter();
	reactor_grace_step(r);	/* before this turn reads a log's first offset */
	reactor_reap(r);
	for (int id = 0; id < REACTOR_LISTENERS; id++) {
		if (r->listen[id].paused && r->accepting &&
		    clock_monotonic_ns() >= r->accept_resume_ns) {
			r->listen[id].paused = false;
			reactor_arm_accept(r, (enum reactor_listener_id)id);
		}
	}
	r->busy = r->ops.on_idle && r->ops.on_idle(r->ops.ctx);
	r->busy = r->busy || r->nheld > 0;	/* held completions: the next turn, at once */
	epoch_exit();
	epoch_poll();
	return 0;
}

int reactor_run(struct reactor *r, volatile sig_atomic_t *stop)
{
	int rc = 0;

	r->stop = stop;
	while (!*stop) {
		rc = reactor_turn(r, r->busy ? 0 : REACTOR_WAIT_NS);
		if (rc < 0) {
			fprintf(stderr, "fanoutd: io_uring wait: %s\n", strerror(-rc));
			break;
		}
	}
	r->accepting = false;
	shutdown(r->listen[REACTOR_LISTEN_TCP].fd, SHUT_RDWR);	/* ends the pending accept */
	if (r->listen[REACTOR_LISTEN_LOCAL].fd >= 0) {
		/* Cancelled, not shut down: every reactor accepts on this one socket. */
		struct io_uring_sqe *sqe = reactor_sqe(r);

		io_uring_prep_cancel64(sqe, reactor_udata(REACTOR_OP_ACCEPT, REACTOR_LISTEN_LOCAL),
				       0);
		io_uring_sqe_set_data64(sqe, reactor_udata(REACTOR_OP_CANCEL, REACTOR_SLOT_NONE));
		sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
	}
	/* No new input while draining: what was accepted finishes, nothing new starts. */
	for (uint32_t i = 0; i < r->max_conns; i++)
		if (r->conns[i].in_use)
			reactor_recv_pause(r, &r->conns[i]);
	return rc;
}

int reactor_poll(struct reactor *r, int64_t wait_ns)
{
	return reactor_turn(r, wait_ns);
}

bool reactor_quiet(const struct reactor *r)
{
	if (r->holds > 0 || r->nheld > 0 || io_uring_sq_ready(&r->ring) > 0)
		return false;
	for (uint32_t i = 0; i < r->max_conns; i++) {
		const struct reactor_conn *c = &r->conns[i];

		if (c->in_use && (c->sending || c->zc_notifs || c->recv_armed))
			return false;
	}
	return true;
}

/* Splits "host:port" or "[v6]:port" and binds a listening TCP socket. Returns the fd or
 * -errno. */
static int reactor_listen(const char *listen_at, bool reuseport, bool probe, char *bound,
			  size_t bound_cap)
{
	char host[128], port[16], hbuf[NI_MAXHOST], pbuf[NI_MAXSERV];
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE }, *ai;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	const char *colon = strrchr(listen_at, ':');
	int fd, one = 1, rc;
	size_t hl;

	if (!colon || (hl = (size_t)(colon - listen_at)) >= sizeof(host) || strlen(colon + 1) >= sizeof(port))
		return -EINVAL;
	memcpy(host, listen_at, hl);
	host[hl] = '\0';
	if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
		memmove(host, host + 1, hl - 2);
		host[hl - 2] = '\0';
	}
	strcpy(port, colon + 1);
	rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &ai);
	if (rc != 0) {
		fprintf(stderr, "fanoutd: --listen %s: %s\n", listen_at, gai_strerror(rc));
		return -EINVAL;
	}
	if (probe && strcmp(port, "0") != 0) {
		/* SO_REUSEPORT would let us share a port another process (a second fanoutd)
		 * listens on: a plain bind first finds out. The first reactor only. */
		fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			rc = -errno;
			goto out;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		rc = bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 ? -errno : 0;
		close(fd);
		if (rc < 0)
			goto out;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) {
		rc = -errno;
		close(fd);
		goto out;
	}
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 1024) < 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
		rc = -errno;
		close(fd);
		goto out;
	}
	getnameinfo((struct sockaddr *)&ss, sl, hbuf, sizeof(hbuf), pbuf, sizeof(pbuf),
		    NI_NUMERICHOST | NI_NUMERICSERV);
	snprintf(bound, bound_cap, ss.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", hbuf, pbuf);
	rc = fd;
out:
	freeaddrinfo(ai);
	return rc;
}

/* Sets the ring up with the flags we want, falling back where the kernel refuses. */
static int reactor_ring_init(struct reactor *r)
{
	struct io_uring_params p = {
		/* SINGLE_ISSUER: only this thread submits, so the kernel skips locking.
		 * DEFER_TASKRUN: completion work runs when we wait, not by interrupting us.
		 * SUBMIT_ALL: one bad SQE does not stop the rest of the batch.
		 * CQSIZE: multishot receives post many CQEs per SQE; a large CQ avoids
		 * overflow between two reaps. */
		.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
			 IORING_SETUP_SUBMIT_ALL | IORING_SETUP_CQSIZE,
		.cq_entries = REACTOR_CQ_ENTRIES,
	};
	int rc = io_uring_queue_init_params(REACTOR_SQ_ENTRIES, &r->ring, &p);

	r->features.defer_taskrun = rc == 0;
	if (rc == -EINVAL) {
		fprintf(stderr, "fanoutd: kernel refused DEFER_TASKRUN; plain io_uring setup\n");
		memset(&p, 0, sizeof(p));
		p.flags = IORING_SETUP_CQSIZE;
		p.cq_entries = REACTOR_CQ_ENTRIES;
		rc = io_uring_queue_init_params(REACTOR_SQ_ENTRIES, &r->ring, &p);
	}
	return rc;
}

/* Probes opcodes; multishot variants are also confirmed by their first completion. */
static int reactor_probe(struct reactor *r)
{
	struct io_uring_probe *probe = io_uring_get_probe_ring(&r->ring);

	if (!probe)
		return -ENOMEM;
	if (!io_uring_opcode_supported(probe, IORING_OP_SENDMSG) ||
	    !io_uring_opcode_supported(probe, IORING_OP_RECV) ||
	    !io_uring_opcode_supported(probe, IORING_OP_ACCEPT)) {
		io_uring_free_probe(probe);
		fprintf(stderr, "fanoutd: this kernel's io_uring lacks SENDMSG/RECV/ACCEPT\n");
		return -ENOSYS;
	}
	r->features.multishot_accept = true;
	r->features.multishot_recv = true;
	r->features.send_zc = io_uring_opcode_supported(probe, IORING_OP_SENDMSG_ZC);
	r->features.msg_ring = io_uring_opcode_supported(probe, IORING_OP_MSG_RING);
	if (getenv("FANOUTD_NO_MSG_RING"))	/* tests the fallback on kernels that have it */
		r->features.msg_ring = false;
	io_uring_free_probe(probe);
	return 0;
}

/* Makes and registers one pool of count receive buffers as buffer group group: a
 * provided-buffer ring (liburing 2.3 API). */
static int reactor_pool_init(struct reactor *r, uint16_t group, uint16_t count,
			     struct io_uring_buf_ring **br, uint8_t **bufs)
{
	struct io_uring_buf_reg reg = { .ring_entries = count, .bgid = group };
	size_t ring_bytes = count * sizeof(struct io_uring_buf);
	int rc;

	if (posix_memalign((void **)br, 4096, ring_bytes))
		return -ENOMEM;
	memset(*br, 0, ring_bytes);
	*bufs = mem_map((size_t)count * REACTOR_BUF_BYTES);
	if (!*bufs)
		return -ENOMEM;
	reg.ring_addr = (uint64_t)(uintptr_t)*br;
	rc = io_uring_register_buf_ring(&r->ring, &reg, 0);
	if (rc < 0) {
		fprintf(stderr, "fanoutd: provided buffer rings unsupported (%s); need Linux >= 5.19\n",
			strerror(-rc));
		return rc;
	}
	io_uring_buf_ring_init(*br);
	for (uint16_t i = 0; i < count; i++)
		io_uring_buf_ring_add(*br, *bufs + (size_t)i * REACTOR_BUF_BYTES,
				      REACTOR_BUF_BYTES, i, io_uring_buf_ring_mask(count), i);
	io_uring_buf_ring_advance(*br, count);
	return 0;
}

/* The shared pool receives draw from, and the priority connections' own. */
static int reactor_bufs_init(struct reactor *r)
{
	int rc = reactor_pool_init(r, REACTOR_BUF_GROUP, REACTOR_BUF_COUNT, &r->br, &r->bufs);

	return rc < 0 ? rc : reactor_pool_init(r, REACTOR_PRIO_BUF_GROUP, REACTOR_PRIO_BUF_COUNT,
						&r->prio_br, &r->prio_bufs);
}

/* One line at start-up: what the kernel gave us and what we fall back from. */
static void reactor_say_features(const struct reactor *r)
{
	const struct reactor_features *f = &r->features;

	fprintf(stderr, "fanoutd: io_uring: SINGLE_ISSUER|DEFER_TASKRUN %s, multishot accept "
		"and receive %s, MSG_RING %s, SEND_ZC %s\n",
		f->defer_taskrun ? "on" : "refused (plain setup)",
		f->multishot_recv ? "on" : "absent (single-shot)",
		f->msg_ring ? "on (cross-reactor wake-ups)" : "absent (eventfd wake-ups)",
		!f->send_zc ? "absent (copying sends)" : r->send_zc_bytes ?
		"on for remote peers" : "off (--send-zc-bytes 0)");
}

int reactor_init(struct reactor *r, const struct reactor_config *cfg,
		 const struct reactor_ops *ops, char *bound, size_t bound_cap)
{
	uint32_t max_conns = cfg->max_conns;
	int rc;

	memset(r, 0, sizeof(*r));
	for (int id = 0; id < REACTOR_LISTENERS; id++)
		r->listen[id].fd = -1;
	r->wake_fd = -1;
	r->id = cfg->id;
	r->send_zc_bytes = cfg->send_zc_bytes;
	r->zc_inflight = cfg->send_zc_inflight ? cfg->send_zc_inflight : REACTOR_ZC_INFLIGHT_DEFAULT;
	if (r->zc_inflight > REACTOR_ZC_INFLIGHT_MAX)
		return -EINVAL;
	r->zc_local = getenv("FANOUTD_SEND_ZC_LOCAL") != NULL;	/* tests the path locally */
	rc = epoch_register();	/* this thread reads the shared tables */
	if (rc < 0)
		return rc;
	r->ops = *ops;
	r->max_conns = max_conns;
	r->conns = calloc(max_conns, sizeof(*r->conns));
	r->free_slots = calloc(max_conns, sizeof(*r->free_slots));
	r->held = calloc(REACTOR_HELD_MAX, sizeof(*r->held));
	r->later = calloc(REACTOR_HELD_MAX, sizeof(*r->later));
	r->held_paused_slots = calloc(max_conns, sizeof(*r->held_paused_slots));
	if (!r->conns || !r->free_slots || !r->held || !r->later || !r->held_paused_slots)
		return -ENOMEM;
	for (uint32_t i = 0; i < max_conns; i++) {
		r->conns[i].slot = i;
		r->conns[i].fd = -1;
		r->free_slots[i] = max_conns - 1 - i;
	}
	r->nfree = max_conns;
	rc = reactor_ring_init(r);
	if (rc < 0) {
		fprintf(stderr, "fanoutd: io_uring setup: %s\n", strerror(-rc));
		return rc;
	}
	rc = reactor_probe(r);
	if (rc < 0)
		return rc;
	rc = reactor_bufs_init(r);
	if (rc < 0)
		return rc;
	if (!r->features.msg_ring) {	/* blocking: io_uring polls it for us */
		r->wake_fd = eventfd(0, EFD_CLOEXEC);
		if (r->wake_fd < 0)
			return -errno;
		reactor_arm_wake(r);
	}
	if (r->id == 0 && !cfg->quiet)
		reactor_say_features(r);
	rc = reactor_listen(cfg->listen, cfg->reuseport, cfg->reuseport && cfg->id == 0, bound,
			    bound_cap);
	if (rc < 0) {
		fprintf(stderr, "fanoutd: cannot listen on %s: %s\n", cfg->listen, strerror(-rc));
		return rc;
	}
	r->listen[REACTOR_LISTEN_TCP].fd = rc;
	if (cfg->local_fd >= 0) {
		r->listen[REACTOR_LISTEN_LOCAL].fd = fcntl(cfg->local_fd, F_DUPFD_CLOEXEC, 0);
		if (r->listen[REACTOR_LISTEN_LOCAL].fd < 0)
			return -errno;
	}
	r->accepting = true;
	for (int id = 0; id < REACTOR_LISTENERS; id++)
		if (r->listen[id].fd >= 0)
			reactor_arm_accept(r, (enum reactor_listener_id)id);
	return 0;
}

void reactor_free(struct reactor *r)
{
	/* The ring goes first: its exit cancels pending sends, which point into the
	 * sessions that on_close frees below. */
	if (r->ring.ring_fd > 0)
		io_uring_queue_exit(&r->ring);
	for (uint32_t i = 0; r->conns && i < r->max_conns; i++) {
		struct reactor_conn *c = &r->conns[i];

		if (!c->in_use)
			continue;
		close(c->fd);
		if (r->ops.on_close)
			r->ops.on_close(r->ops.ctx, c);
		c->in_use = false;
	}
	for (int id = 0; id < REACTOR_LISTENERS; id++)
		if (r->listen[id].fd >= 0)
			close(r->listen[id].fd);
	if (r->wake_fd >= 0)
		close(r->wake_fd);
	mem_unmap(r->bufs, (size_t)REACTOR_BUF_COUNT * REACTOR_BUF_BYTES);
	free(r->br);
	mem_unmap(r->prio_bufs, (size_t)REACTOR_PRIO_BUF_COUNT * REACTOR_BUF_BYTES);
	free(r->prio_br);
	free(r->conns);
	free(r->free_slots);
	free(r->held);
	free(r->later);
	free(r->held_paused_slots);
	memset(r, 0, sizeof(*r));
}
