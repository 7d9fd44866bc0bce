/* tests/unit/core/reactor_test.c — the reactor's prioritised turns (reactor.prioritize)
 * over real loopback sockets: a priority connection's input is handled before input of
 * others that arrived first, each turn handles at most a share of the others' bytes
 * (REACTOR_BULK_TURN_BYTES, give or take one buffer), the rest comes in later turns in
 * order and whole, and without prioritising the same input is handled in arrival order
 * (the control: the test sees the difference); the mid-turn pass (reactor_ops.
 * on_priority) comes after the priority input and before the bulk's, and what it queues
 * is submitted before the bulk's input is handled; under a flood larger than the shared
 * receive buffers the flooding connection is paused past the cap and the priority one
 * never lacks a buffer (its own pool); a stopping reactor holds nothing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <liburing.h>

#include "core/reactor.h"

#define BULK_BYTES (384u << 10)	/* twelve shares: at least twelve turns */
#define TURNS_MAX 1000

struct seen {
	struct reactor_conn *conns[2];	/* in accept order: [0] bulk, [1] priority */
	uint32_t nconns;
	uint8_t *bulk;			/* what the bulk connection delivered, in order */
	size_t bulk_len;
	size_t bulk_before_prio;	/* bulk bytes handled before the priority input */
	size_t prio_len;
	size_t bulk_cap;
	uint32_t turn;			/* the flood test's turn counter */
	size_t turn_bulk, turn_bulk_max;	/* bulk bytes in this turn; most in one */
	struct reactor *r;
	uint32_t passes;		/* on_priority calls */
	size_t bulk_at_pass, prio_at_pass;	/* at the first one */
	int sq_at_bulk;			/* SQEs unsubmitted at the first bulk input after
					 * a pass; -1 before */
};

/* Queues a no-op (no completion unless it fails, which the reactor ignores as a late
 * cancel's): the reactor must submit it before the turn goes on to the bulk's input. */
static bool on_priority(void *ctx)
{
	struct seen *s = ctx;
	struct io_uring_sqe *sqe = io_uring_get_sqe(&s->r->ring);

	if (s->passes++ == 0) {
		s->bulk_at_pass = s->bulk_len;
		s->prio_at_pass = s->prio_len;
	}
	assert_non_null(sqe);
	io_uring_prep_nop(sqe);
	io_uring_sqe_set_data64(sqe, (uint64_t)REACTOR_OP_CANCEL |
				((uint64_t)REACTOR_SLOT_NONE << 32));
	sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
	return true;
}

static int on_open(void *ctx, struct reactor_conn *c)
{
	struct seen *s = ctx;

	assert_true(s->nconns < 2);
	s->conns[s->nconns++] = c;
	return 0;
}

static void on_data(void *ctx, struct reactor_conn *c, const uint8_t *p, size_t n)
{
	struct seen *s = ctx;

	if (c == s->conns[1]) {
		if (s->prio_len == 0)
			s->bulk_before_prio = s->bulk_len;
		s->prio_len += n;
		return;
	}
	assert_ptr_equal(c, s->conns[0]);
	if (s->passes > 0 && s->sq_at_bulk < 0)
		s->sq_at_bulk = (int)io_uring_sq_ready(&s->r->ring);
	assert_true(s->bulk_len + n <= s->bulk_cap);
	memcpy(s->bulk + s->bulk_len, p, n);
	s->bulk_len += n;
	s->turn_bulk += n;
}

static void on_close(void *ctx, struct reactor_conn *c)
{
	(void)ctx;
	(void)c;
}

static int connect_to(const char *bound)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	const char *colon = strrchr(bound, ':');
	int fd = socket(AF_INET, SOCK_STREAM, 0), big = 4 << 20;

	assert_non_null(colon);
	assert_true(fd >= 0);
	a.sin_port = htons((uint16_t)atoi(colon + 1));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

/* All of it into the socket now, or the test fails (never blocks: one thread). */
static void write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t k = send(fd, p, n, MSG_DONTWAIT);

		if (k <= 0)
			fail_msg("the socket took %zu bytes less than asked", n);
		p += k;
		n -= (size_t)k;
	}
}

static uint8_t pattern_byte(size_t i)
{
	return (uint8_t)(i * 7 + i / 251);
}

/* A reactor with two connections accepted: fds[0] the bulk's, fds[1] the priority
 * one's (its reactor_conn.priority set); s ready for up to cap bulk bytes. */
static void start(struct reactor *r, struct seen *s, size_t cap, int fds[2])
{
	struct reactor_config cfg = { .listen = "127.0.0.1:0", .max_conns = 4, .quiet = true,
				      .local_fd = -1 };
	struct reactor_ops ops = { .ctx = s, .on_open = on_open, .on_data = on_data,
				   .on_close = on_close, .on_priority = on_priority };
	char bound[80];

	memset(s, 0, sizeof(*s));
	s->r = r;
	s->sq_at_bulk = -1;
	s->bulk_cap = cap;
	s->bulk = malloc(cap);
	assert_non_null(s->bulk);
	assert_int_equal(reactor_init(r, &cfg, &ops, bound, sizeof(bound)), 0);
	fds[0] = connect_to(bound);
	for (int i = 0; i < TURNS_MAX && s->nconns < 1; i++)
		assert_int_equal(reactor_poll(r, 10 * 1000000ll), 0);
	fds[1] = connect_to(bound);
	for (int i = 0; i < TURNS_MAX && s->nconns < 2; i++)
		assert_int_equal(reactor_poll(r, 10 * 1000000ll), 0);
	assert_int_equal(s->nconns, 2);
	reactor_set_priority(r, s->conns[1], true);	/* its receive moves to its pool */
	for (int i = 0; i < 3; i++)
		assert_int_equal(reactor_poll(r, 1000000ll), 0);
	assert_int_equal(s->conns[1]->recv_group, REACTOR_PRIO_BUF_GROUP);
}

static void finish(struct reactor *r, struct seen *s, int fds[2])
{
	assert_int_equal(r->nheld, 0);
	assert_int_equal(r->nheld_paused, 0);
	for (size_t i = 0; i < s->bulk_len; i++)	/* whole and in order */
		if (s->bulk[i] != pattern_byte(i))
			fail_msg("bulk byte %zu differs", i);
	close(fds[0]);
	close(fds[1]);
	reactor_free(r);
	free(s->bulk);
}

/* Bulk input first, then a little on the priority connection, then turns until all of
 * it is handled. */
static void run(bool prioritize, struct seen *s)
{
	struct reactor r;
	uint8_t *pattern = malloc(BULK_BYTES);
	int fds[2];

	assert_non_null(pattern);
	for (size_t i = 0; i < BULK_BYTES; i++)
		pattern[i] = pattern_byte(i);
	start(&r, s, BULK_BYTES, fds);
	r.prioritize = prioritize;

	/* The bulk's completions posted (the kernel runs the receives' task work) but not
	 * handled, then the priority input behind them: arrival order is bulk first. */
	write_all(fds[0], pattern, BULK_BYTES);
	usleep(20000);
	assert_true(io_uring_get_events(&r.ring) >= 0);
	write_all(fds[1], (const uint8_t *)"urgent", 6);
	usleep(20000);
	assert_true(io_uring_get_events(&r.ring) >= 0);	/* posted too, behind the bulk */
	for (int i = 0; i < TURNS_MAX && (s->bulk_len < BULK_BYTES || s->prio_len < 6); i++) {
		s->turn_bulk = 0;
		assert_int_equal(reactor_poll(&r, 10 * 1000000ll), 0);
		if (s->turn_bulk > s->turn_bulk_max)
			s->turn_bulk_max = s->turn_bulk;
	}
	assert_int_equal(s->prio_len, 6);
	assert_int_equal(s->bulk_len, BULK_BYTES);
	finish(&r, s, fds);
	free(pattern);
}

static void priority_input_goes_first(void **state)
{
	struct seen s;

	(void)state;
	run(true, &s);
	assert_int_equal(s.bulk_before_prio, 0);
	/* The pass: after the priority input, before any bulk, its SQE submitted before the
	 * bulk's input was handled. */
	assert_true(s.passes >= 1);
	assert_int_equal(s.prio_at_pass, 6);
	assert_int_equal(s.bulk_at_pass, 0);
	assert_int_equal(s.sq_at_bulk, 0);
	/* A share per turn: the first receive past it is held (one buffer's slack). */
	assert_true(s.turn_bulk_max <= REACTOR_BULK_TURN_BYTES + REACTOR_BUF_BYTES);
}

static void without_priority_input_goes_in_arrival_order(void **state)
{
	struct seen s;

	(void)state;
	run(false, &s);
	assert_true(s.bulk_before_prio > REACTOR_BULK_TURN_BYTES + REACTOR_BUF_BYTES);
	assert_int_equal(s.passes, 0);
}

/* A flood far larger than the shared receive buffers: the bulk connection's held
 * receives would pin them all; past REACTOR_HELD_BUFS_MAX its receives stop until its
 * held ones are handled. A priority byte written every few turns, until the flood is all
 * handled, never finds its receive without a buffer (its own pool) and is handled within
 * two turns; the flood arrives whole and in order. */
static void held_receives_leave_buffers_for_priority(void **state)
{
	const size_t total = 16u << 20;
	struct reactor r;
	struct seen s;
	uint8_t chunk[64 << 10];
	size_t written = 0;
	uint32_t pings = 0, sent_turn = 0, progress_turn = 0;
	size_t last_len = 0;
	int fds[2];

	(void)state;
	start(&r, &s, total, fds);
	r.prioritize = true;
	assert_int_equal(fcntl(fds[0], F_SETFL, O_NONBLOCK), 0);
	for (s.turn = 1; s.turn < 100000 && (s.bulk_len < total || s.prio_len < pings);
	     s.turn++) {
		while (written < total) {	/* as much as the socket takes */
			size_t n = total - written < sizeof(chunk) ? total - written : sizeof(chunk);
			ssize_t k;

			for (size_t i = 0; i < n; i++)
				chunk[i] = pattern_byte(written + i);
			k = send(fds[0], chunk, n, MSG_DONTWAIT);
			if (k <= 0)
				break;
			written += (size_t)k;
		}
		if (s.prio_len == pings && s.turn % 4 == 0 && s.bulk_len < total) {
			write_all(fds[1], (const uint8_t *)"!", 1);
			pings++;
			sent_turn = s.turn;
		}
		assert_int_equal(reactor_poll(&r, 1000000ll), 0);
		if (s.prio_len < pings && s.turn > sent_turn + 2)
			fail_msg("priority byte %u written before turn %u not handled by turn %u "
				 "(%u receives held, %u connections paused)", pings, sent_turn,
				 s.turn, r.nheld, r.nheld_paused);
		if (s.bulk_len != last_len) {
			last_len = s.bulk_len;
			progress_turn = s.turn;
		} else if (s.turn > progress_turn + 500) {
			fail_msg("no bulk input handled for 500 turns at %zu of %zu bytes (armed %d, "
				 "held-paused %d, %u held)", s.bulk_len, total,
				 s.conns[0]->recv_armed, s.conns[0]->held_paused, s.conns[0]->nheld);
		}
	}
	assert_int_equal(s.bulk_len, total);
	assert_true(pings > 0);
	assert_true(r.held_pauses > 0);	/* the cap was reached */
	assert_int_equal(r.prio_enobufs, 0);
	finish(&r, &s, fds);
}

/* Stopping (reactor.accepting false, as reactor_run leaves it for the drain): nothing is
 * held any more, so the first turn after handles everything held and ready. */
static void draining_holds_nothing(void **state)
{
	struct reactor r;
	struct seen s;
	uint8_t *pattern = malloc(BULK_BYTES);
	int fds[2];

	(void)state;
	assert_non_null(pattern);
	for (size_t i = 0; i < BULK_BYTES; i++)
		pattern[i] = pattern_byte(i);
	start(&r, &s, BULK_BYTES, fds);
	r.prioritize = true;
	write_all(fds[0], pattern, BULK_BYTES);
	usleep(20000);
	assert_int_equal(reactor_poll(&r, 10 * 1000000ll), 0);
	assert_true(r.nheld > 0);	/* a share handled, the rest held */
	assert_true(s.bulk_len < BULK_BYTES);
	r.accepting = false;
	assert_int_equal(reactor_poll(&r, 10 * 1000000ll), 0);
	assert_int_equal(r.nheld, 0);
	assert_int_equal(s.bulk_len, BULK_BYTES);
	finish(&r, &s, fds);
	free(pattern);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(priority_input_goes_first),
		cmocka_unit_test(without_priority_input_goes_in_arrival_order),
		cmocka_unit_test(held_receives_leave_buffers_for_priority),
		cmocka_unit_test(draining_holds_nothing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
