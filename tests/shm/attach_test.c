/* tests/shm/attach_test.c — shm/shm_attach.c against a stand-in for fanoutd: a real
 * listening Unix socket in a forked process that speaks the wire protocol (frames packed
 * and parsed with protobuf-c) and, when it accepts, makes a real ring of sealed memfds and
 * passes them with the SubscribeResult (SCM_RIGHTS), as fanoutd does. This checks the
 * client side of the conversation: the Subscribe it sends, the server's Error reaching the
 * caller, a server without ring support, descriptors missing or unsealed, reading the
 * ring, the end of the control connection, and a resumed reattach dropping what the old
 * reader had delivered. (fanoutd's side: tests/integration/shm_test.c.) */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/frame.h"
#include "fanout.pb-c.h"
#include "shm/wire.h"
#include "tests/shm/shm_harness.h"

#define READ_TIMEOUT_NS (30ll * 1000000000)

enum fake_mode {
	FAKE_ERROR,		/* an Error instead of a ring */
	FAKE_NO_RING,		/* a SubscribeResult without descriptors (shm_fds 0) */
	FAKE_FDS_MISSING,	/* shm_fds 2, none passed */
	FAKE_UNSEALED,		/* two memfds nobody sealed */
	FAKE_RING,
};

struct fake {
	const struct shm_fixture *f;
	enum fake_mode mode;
	int lfd;
	char name[32];
	uint64_t events;
	int start;			/* the Subscribe's start it must see */
	uint64_t start_offset;
	const uint64_t *start_offsets;	/* and the per-partition starts */
	size_t nstart_offsets;
	int done_fd;			/* read end: the test has read the ring */
};

/* One ClientMessage from a blocking socket, or NULL. */
static Fanout__V1__ClientMessage *recv_msg(int fd)
{
	uint8_t buf[4096];
	uint32_t prefix = 0, body = 0;
	size_t n = 0;

	while (n < sizeof(buf)) {
		if (read(fd, buf + n, 1) != 1)
			return NULL;
		n++;
		if (shm_wire_prefix(buf, n, &prefix, &body) != 0)
			break;
	}
	if (body > sizeof(buf) - n)
		return NULL;
	for (size_t got = 0; got < body;) {
		ssize_t r = read(fd, buf + n + got, body - got);

		if (r <= 0)
			return NULL;
		got += (size_t)r;
	}
	return fanout__v1__client_message__unpack(NULL, body, buf + n);
}

/* Sends m, with nfds descriptors attached to its first byte (SCM_RIGHTS). */
static int send_msg_fds(int fd, const Fanout__V1__ServerMessage *m, const int *fds,
			unsigned nfds)
{
	uint8_t buf[4096];
	union {
		struct cmsghdr align;
		char b[CMSG_SPACE(sizeof(int) * 2)];
	} ctl;
	struct iovec iov = { buf, frame_pack(&m->base, buf) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cm;

	if (nfds) {
		memset(&ctl, 0, sizeof(ctl));
		msg.msg_control = ctl.b;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
	}
	return sendmsg(fd, &msg, MSG_NOSIGNAL) == (ssize_t)iov.iov_len ? 0 : -1;
}

static int send_msg(int fd, const Fanout__V1__ServerMessage *m)
{
	return send_msg_fds(fd, m, NULL, 0);
}

/* Two memfds of a ring's sizes that nobody sealed: what a reader must refuse. */
static int unsealed_pair(int fds[2])
{
	fds[0] = memfd_create("unsealed-ring", MFD_CLOEXEC);
	fds[1] = memfd_create("unsealed-area", MFD_CLOEXEC);
	if (fds[0] < 0 || fds[1] < 0 || ftruncate(fds[0], 1 << 20) < 0 ||
	    ftruncate(fds[1], 8192) < 0)
		return -1;
	return 0;
}

static int send_error(int fd, Fanout__V1__ErrorCode code, const char *message)
{
	Fanout__V1__ServerMessage m = FANOUT__V1__SERVER_MESSAGE__INIT;
	Fanout__V1__Error e = FANOUT__V1__ERROR__INIT;

	e.code = code;
	e.message = (char *)message;
	m.body_case = FANOUT__V1__SERVER_MESSAGE__BODY_ERROR;
	m.error = &e;
	return send_msg(fd, &m);
}

/* What a Subscribe must carry in these tests; NULL when it does. */
static const char *subscribe_wrong(const struct fake *fk, const Fanout__V1__Subscribe *s)
{
	if (strcmp(s->topic, HARNESS_TOPIC) || s->n_patterns != 2 ||
	    strcmp(s->patterns[0], "AAPL.>") || strcmp(s->patterns[1], "MSFT.*.trade"))
		return "fake server: topic or patterns differ";
	if (s->shm_ring_bytes != (1u << 20))
		return "fake server: shm_ring_bytes differs";
	if ((int)s->start != fk->start || s->start_offset != fk->start_offset)
		return "fake server: start differs";
	if (s->n_start_offsets != fk->nstart_offsets)
		return "fake server: start_offsets differ";
	for (size_t i = 0; i < fk->nstart_offsets; i++)
		if (s->start_offsets[i] != fk->start_offsets[i])
			return "fake server: start_offsets differ";
	return NULL;
}

/* Waits for the client to hang up. */
static void drain(int cfd)
{
	uint8_t b;

	while (read(cfd, &b, 1) > 0)
		;
}

/* The answers that are not a working ring. */
static int answer_broken(const struct fake *fk, int cfd, Fanout__V1__ServerMessage *m)
{
	int fds[2] = { -1, -1 }, rc;

	if (fk->mode == FAKE_NO_RING)
		return send_msg(cfd, m);
	m->subscribed->shm_fds = 2;
	if (fk->mode == FAKE_FDS_MISSING)
		return send_msg(cfd, m);
	rc = unsealed_pair(fds) < 0 ? -1 : send_msg_fds(cfd, m, fds, 2);
	close(fds[0]);
	close(fds[1]);
	return rc;
}

static int answer_ring(const struct fake *fk, int cfd)
{
	Fanout__V1__ServerMessage m = FANOUT__V1__SERVER_MESSAGE__INIT;
	Fanout__V1__SubscribeResult res = FANOUT__V1__SUBSCRIBE_RESULT__INIT;
	struct pub_opts po = { .name = fk->name, .ring_bytes = 1 << 20, .no_logs = true,
			       .memfd = true };
	struct pub p;
	int fds[2];

	res.subscription_id = 1;
	res.topic = HARNESS_TOPIC;
	res.partitions = 1;
	m.body_case = FANOUT__V1__SERVER_MESSAGE__BODY_SUBSCRIBED;
	m.subscribed = &res;
	if (fk->mode != FAKE_RING) {
		int rc = answer_broken(fk, cfd, &m);

		drain(cfd);
		return rc;
	}
	if (pub_open(&p, fk->f, &po) < 0 || shm_ring_take_fds(p.w, &fds[0], &fds[1]) < 0)
		return send_error(cfd, FANOUT__V1__ERROR_CODE__ERROR_CODE_INTERNAL, "no ring");
	res.shm_fds = 2;
	res.data_dir = (char *)fk->f->data_dir;
	if (send_msg_fds(cfd, &m, fds, 2) < 0 || pub_events(&p, fk->events) < 0)
		return -1;
	close(fds[0]);	/* the client holds them now */
	close(fds[1]);
	/* The test reads everything, then the server ends the subscription by closing the
	 * connection (the ring is removed after, as fanoutd does). */
	if (pipe_wait(fk->done_fd, 30000) < 0)
		return -1;
	close(cfd);
	pub_close(&p);
	return 0;
}

static int fake_server(void *arg)
{
	const struct fake *fk = arg;
	Fanout__V1__ServerMessage m = FANOUT__V1__SERVER_MESSAGE__INIT;
	Fanout__V1__HelloResult hr = FANOUT__V1__HELLO_RESULT__INIT;
	Fanout__V1__ClientMessage *c;
	const char *wrong;
	int cfd = accept(fk->lfd, NULL, NULL), rc;

	if (cfd < 0 || !(c = recv_msg(cfd)) || c->body_case != FANOUT__V1__CLIENT_MESSAGE__BODY_HELLO)
		return 1;
	fanout__v1__client_message__free_unpacked(c, NULL);
	hr.protocol_version = 1;
	m.body_case = FANOUT__V1__SERVER_MESSAGE__BODY_HELLO;
	m.hello = &hr;
	if (send_msg(cfd, &m) < 0 || !(c = recv_msg(cfd)) ||
	    c->body_case != FANOUT__V1__CLIENT_MESSAGE__BODY_SUBSCRIBE)
		return 2;
	wrong = subscribe_wrong(fk, c->subscribe);
	fanout__v1__client_message__free_unpacked(c, NULL);
	if (wrong)
		rc = send_error(cfd, FANOUT__V1__ERROR_CODE__ERROR_CODE_INTERNAL, wrong);
	else if (fk->mode == FAKE_ERROR)
		rc = send_error(cfd, FANOUT__V1__ERROR_CODE__ERROR_CODE_UNKNOWN_TOPIC,
				"unknown topic 'md/equities'");
	else
		return answer_ring(fk, cfd) < 0 ? 3 : 0;
	drain(cfd);
	close(cfd);
	return rc < 0 ? 4 : 0;
}

/* Listens on a Unix socket in the fixture's ring directory; *path gets its path. */
static int listen_unix(const struct shm_fixture *f, char *path, size_t cap)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	snprintf(path, cap, "%s/fake.sock", f->ring_dir);
	unlink(path);
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 4), 0);
	return fd;
}

static const char *const patterns[] = { "AAPL.>", "MSFT.*.trade" };

static struct fanout_shm_attach_opts attach_opts(const char *path)
{
	return (struct fanout_shm_attach_opts){ .socket_path = path, .topic = HARNESS_TOPIC,
		.patterns = patterns, .npatterns = 2, .ring_bytes = 1 << 20, .timeout_ms = 10000 };
}

/* Attaching through a fake server in this mode fails with want, err holding both words. */
static void expect_refusal(const struct shm_fixture *f, enum fake_mode mode, int want,
			   const char *word1, const char *word2)
{
	struct fake fk = { .f = f, .mode = mode };
	struct fanout_shm_attach_opts a;
	struct fanout_shm *r = NULL;
	char path[128], err[512] = "";
	pid_t pid;

	fk.lfd = listen_unix(f, path, sizeof(path));
	pid = fork_child(fake_server, &fk);
	a = attach_opts(path);
	assert_int_equal(fanout_shm_attach(&r, &a, NULL, err, sizeof(err)), want);
	assert_null(r);
	assert_non_null(strstr(err, word1));
	assert_non_null(strstr(err, word2));
	assert_int_equal(wait_child(pid), 0);
	close(fk.lfd);
}

static void test_server_error_reaches_the_caller(void **state)
{
	expect_refusal(*state, FAKE_ERROR, -FANOUT_SHM_E_SERVER, "ERROR_CODE_UNKNOWN_TOPIC",
		       "unknown topic 'md/equities'");
}

static void test_server_without_rings(void **state)
{
	expect_refusal(*state, FAKE_NO_RING, -FANOUT_SHM_E_PROTOCOL, "without a ring's "
		       "descriptors", "does not deliver into shared-memory rings");
}

static void test_descriptors_missing(void **state)
{
	expect_refusal(*state, FAKE_FDS_MISSING, -FANOUT_SHM_E_PROTOCOL, "counts 2 descriptors",
		       "0 came");
}

/* Descriptors anyone could truncate under the reader are refused before they are mapped;
 * the library closes them (the fake server's check: nothing leaks into this process). */
static void test_unsealed_refused(void **state)
{
	int before = open("/dev/null", O_RDONLY | O_CLOEXEC), after;

	close(before);
	expect_refusal(*state, FAKE_UNSEALED, -FANOUT_SHM_E_UNSEALED, "not sealed",
		       "could truncate it");
	after = open("/dev/null", O_RDONLY | O_CLOEXEC);
	close(after);
	assert_int_equal(after, before);	/* the lowest free descriptor did not move */
}

/* Attaches through a fake server that delivers events 0 .. events - 1; reads from
 * `first` on, then sees the control connection end. */
static struct fanout_shm *attach_and_read(struct fake *fk, const struct fanout_shm *resume,
					  uint64_t first)
{
	struct fanout_shm_attach_opts a;
	struct fanout_shm_record rec;
	struct fanout_shm_info info;
	struct read_tally t = { 0 };
	struct fanout_shm *r = NULL;
	char path[128], err[512] = "";
	int done[2];
	pid_t pid;

	assert_int_equal(pipe(done), 0);
	fk->done_fd = done[0];
	fk->lfd = listen_unix(fk->f, path, sizeof(path));
	pid = fork_child(fake_server, fk);
	a = attach_opts(path);
	a.resume = resume;
	a.start = fk->start;
	a.start_offset = fk->start_offset;
	a.start_offsets = fk->start_offsets;
	a.nstart_offsets = fk->nstart_offsets;
	if (fanout_shm_attach(&r, &a, NULL, err, sizeof(err)) < 0) {
		fprintf(stderr, "attach: %s\n", err);
		fail();
	}
	fanout_shm_get_info(r, &info);
	assert_string_equal(info.data_dir, fk->f->data_dir);	/* from SubscribeResult */
	assert_non_null(strstr(info.path, fk->name));		/* memfd:<name> */
	assert_true(fanout_shm_control_fd(r) >= 0);
	assert_int_equal(read_expect(r, first, fk->events - first, 1, READ_TIMEOUT_NS, &t), 0);
	pipe_signal(done[1]);
	assert_int_equal(fanout_shm_next(r, &rec, READ_TIMEOUT_NS), -FANOUT_SHM_E_CLOSED);
	assert_non_null(strstr(fanout_shm_errmsg(r), "closed"));
	assert_int_equal(wait_child(pid), 0);
	close(fk->lfd);
	close(done[0]);
	close(done[1]);
	return r;
}

static void test_attach_read_and_resume(void **state)
{
	struct fake fk = { .f = *state, .mode = FAKE_RING, .name = "attach-1", .events = 50 };
	struct fanout_shm_stats st;
	struct fanout_shm *old, *r;
	uint64_t next[1];

	old = attach_and_read(&fk, NULL, 0);
	assert_int_equal(fanout_shm_next_offset(old, 0), 50);
	/* The server restarts; the new subscription starts at the old reader's next offset
	 * in partition 0 (start_offsets, as the server gets them), but this server (like a
	 * catch-up that starts earlier) delivers 0..79: 0..49 are dropped. */
	next[0] = fanout_shm_next_offset(old, 0);
	fk = (struct fake){ .f = *state, .mode = FAKE_RING, .name = "attach-2", .events = 80,
			    .start = 2, .start_offset = 0, .start_offsets = next,
			    .nstart_offsets = 1 };
	r = attach_and_read(&fk, old, 50);
	fanout_shm_get_stats(r, &st);
	assert_int_equal(st.duplicates, 50);
	assert_int_equal(st.delivered, 30);
	fanout_shm_close(old);
	fanout_shm_close(r);
}

static void test_connection_errors(void **state)
{
	const struct shm_fixture *f = *state;
	struct fanout_shm_attach_opts a;
	struct fanout_shm *r = NULL;
	char path[256], err[512] = "";
	int lfd;

	snprintf(path, sizeof(path), "%s/none.sock", f->ring_dir);
	a = attach_opts(path);
	assert_int_equal(fanout_shm_attach(&r, &a, NULL, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "is fanoutd running here"));
	lfd = listen_unix(f, path, sizeof(path));	/* a socket nobody listens on any more */
	close(lfd);
	a = attach_opts(path);
	assert_int_equal(fanout_shm_attach(&r, &a, NULL, err, sizeof(err)), -ECONNREFUSED);
	assert_non_null(strstr(err, "the server is gone"));
	memset(path, 'x', 200);
	path[200] = '\0';
	a = attach_opts(path);
	assert_int_equal(fanout_shm_attach(&r, &a, NULL, err, sizeof(err)), -ENAMETOOLONG);
	a = attach_opts(path);
	a.topic = NULL;
	assert_int_equal(fanout_shm_attach(&r, &a, NULL, err, sizeof(err)), -EINVAL);
	assert_null(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_server_error_reaches_the_caller,
						shm_fixture_setup, shm_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_server_without_rings, shm_fixture_setup,
						shm_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_descriptors_missing, shm_fixture_setup,
						shm_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_unsealed_refused, shm_fixture_setup,
						shm_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_attach_read_and_resume, shm_fixture_setup,
						shm_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_connection_errors, shm_fixture_setup,
						shm_fixture_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
