/* tests/integration/shm_test.c — shared-memory rings through a real fanoutd (two
 * reactors), asked for on its Unix socket and read by libfanout-shm in this process: a
 * ring subscription gets exactly its events, per key in order, from sealed memfds (no file
 * anywhere), removed when the subscription ends; over TCP a ring is refused naming the
 * socket; a ring too large, over the total budget or past the per-connection count, or
 * rings switched off, are refused with SHM_UNAVAILABLE naming the flag; a ring nobody
 * attaches to is removed after the attach timeout and its subscription ended; a reader
 * cannot shrink, grow, punch or write the ring it was given and the server goes on;
 * descriptors a client sends the server are never taken; fanout-shm-tail reads a ring it
 * asked for on the socket; a second server never takes over a live socket; a server killed with its ring mapped is seen dead by the reader, and the restarted server
 * replaces the stale socket and serves a new ring. (Peers of other users:
 * shm_peer_test.c.) */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/frame.h"
#include "shm/fanout_shm.h"
#include "tests/integration/harness.h"
#include "tools/http_client.h"

#define EVENTS  20000u
#define SYMBOLS 64u
#define WAIT_NS (10ll * 1000 * 1000 * 1000)
#define RING_BYTES (8u << 20)

static int g_argc;
static char **g_argv;

static uint32_t seq_of(const Fanout__V1__Event *e)
{
	return (uint32_t)strtoul(e->event_id + 3, NULL, 10);	/* "ev-<seq>" */
}

static void start(struct server *s, const char *const *more)
{
	const char *args[16] = { "--topic", "md:4" };
	int n = 2;

	for (int i = 0; more && more[i] && n < 15; i++)
		args[n++] = more[i];
	args[n] = NULL;
	server_start(s, args);
}

/* fanoutd's default socket for rings: DATA_DIR/shm.sock. */
static const char *sock_path(const struct server *s)
{
	static char path[300];

	snprintf(path, sizeof(path), "%s/data/shm.sock", s->dir);
	return path;
}

static int attach(struct server *s, struct fanout_shm **r, const char *const *pats, size_t n,
		  uint64_t bytes, char *err, size_t errlen)
{
	struct fanout_shm_attach_opts a = {
		.socket_path = sock_path(s), .topic = "md", .patterns = pats, .npatterns = n,
		.ring_bytes = bytes, .timeout_ms = 5000,
	};

	return fanout_shm_attach(r, &a, NULL, err, errlen);
}

/* Whether the server process maps a memfd of this name (its rings live nowhere else). */
static bool server_maps(const struct server *s, const char *memfd_name)
{
	char path[64], line[1024];
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)s->pid);
	f = fopen(path, "r");
	assert_non_null(f);
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, memfd_name) != NULL;
	fclose(f);
	return found;
}

/* Waits up to 2 s for the server to have let go of the memfd. */
static void expect_unmapped(const struct server *s, const char *memfd_name)
{
	for (int i = 0; i < 200 && server_maps(s, memfd_name); i++)
		usleep(10 * 1000);
	assert_false(server_maps(s, memfd_name));
}

/* Files in /dev/shm whose name starts with prefix. */
static unsigned dev_shm_files(const char *prefix)
{
	DIR *d = opendir("/dev/shm");
	struct dirent *e;
	unsigned n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		n += !strncmp(e->d_name, prefix, strlen(prefix));
	closedir(d);
	return n;
}

/* Symbols 0..7 by exact key, then every NYSE key by wildcard: 8 + 1 patterns. */
static bool wanted(uint32_t seq)
{
	uint32_t sym = seq % SYMBOLS;

	return sym < 8 || sym % 4 == 1;
}

/* Reads expect events from r, each wanted, per key in order, then nothing more. */
static void read_wanted(struct fanout_shm *r, uint32_t expect)
{
	uint32_t last[SYMBOLS] = { 0 }, got = 0;
	struct fanout_shm_record rec;

	while (got < expect) {
		Fanout__V1__ServerMessage *m;
		uint32_t seq;
		int rc = fanout_shm_next(r, &rec, WAIT_NS);

		if (rc <= 0)
			fail_msg("after %u of %u events: %d %s", got, expect, rc,
				 fanout_shm_errmsg(r));
		assert_int_equal(rc, FANOUT_SHM_EVENT);
		m = fanout_shm_decode(&rec, NULL);
		assert_non_null(m);
		assert_int_equal(fanout_shm_validate(r, &rec), 0);
		seq = seq_of(m->event);
		assert_true(wanted(seq));
		assert_int_equal(m->event->distribution->offset, rec.offset);
		assert_int_equal(m->event->distribution->partition, rec.partition);
		assert_true(last[seq % SYMBOLS] <= seq);	/* per key in order */
		last[seq % SYMBOLS] = seq + 1;
		fanout_shm_decode_free(m, NULL);
		got++;
	}
	assert_int_equal(fanout_shm_next(r, &rec, 200ll * 1000 * 1000), 0);	/* no more */
}

/* The delivery latency histogram's _count in /metrics (admin/latency.h). */
static double latency_count(const struct server *s)
{
	static const char want[] = "\nfanout_delivery_latency_seconds_count ";
	struct http_response r;
	const char *p;
	double v;

	assert_int_equal(http_request(s->http, "GET", "/metrics", NULL, NULL, 0, 5000, &r), 0);
	assert_int_equal(r.status, 200);
	p = strstr(r.body, want);
	if (!p)
		fail_msg("no fanout_delivery_latency_seconds_count in /metrics");
	v = atof(p + strlen(want));
	http_response_free(&r);
	return v;
}

static void ring_gets_exactly_its_events(void **state)
{
	static const char *const pats[] = {
		"S00000.NASDAQ.trade", "S00001.NYSE.trade", "S00002.ARCA.trade",
		"S00003.BATS.trade", "S00004.NASDAQ.trade", "S00005.NYSE.trade",
		"S00006.ARCA.trade", "S00007.BATS.trade", "*.NYSE.trade",
	};
	uint32_t expect = 0;
	struct fanout_shm_info info;
	struct fanout_shm *r = NULL;
	struct server s;
	struct client pub;
	struct stat st;
	char err[256], name[300], prefix[64];

	(void)state;
	server_setup(&s, g_argc, g_argv);
	start(&s, NULL);
	assert_int_equal(stat(sock_path(&s), &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);	/* the server's user only */
	if (attach(&s, &r, pats, 9, RING_BYTES, err, sizeof(err)) < 0)
		fail_msg("attach: %s", err);
	fanout_shm_get_info(r, &info);
	assert_memory_equal(info.path, "memfd:fanout-", 13);	/* no file: a sealed memfd */
	snprintf(name, sizeof(name), "%s", info.path);
	snprintf(prefix, sizeof(prefix), "fanout-%d-", (int)s.pid);
	assert_int_equal(dev_shm_files(prefix), 0);
	assert_true(server_maps(&s, name));
	for (uint32_t i = 0; i < EVENTS; i++)
		expect += wanted(i);
	server_connect(&s, &pub);
	publish_range(&pub, "md", 0, EVENTS, SYMBOLS, NULL);
	read_wanted(r, expect);
	/* Frames copied into a ring are deliveries the reactor times too: the first and
	 * one in 64 after (the only subscriber here). */
	assert_true(latency_count(&s) >= (double)(expect / 64));
	assert_true(latency_count(&s) <= (double)(expect / 64 + 4));
	fanout_shm_close(r);	/* ends the subscription: the server removes the ring */
	expect_unmapped(&s, name);
	client_close(&pub);
	assert_int_equal(WEXITSTATUS(server_stop(&s, SIGTERM)), 0);
	assert_int_equal(stat(sock_path(&s), &st), -1);	/* the socket goes with the server */
	server_teardown(&s);
}

/* A Subscribe asking for a ring of bytes, answered by one message (fails the test if it
 * is neither a SubscribeResult nor an Error). */
static Fanout__V1__ServerMessage *ask_ring(struct client *c, uint32_t id, uint64_t bytes)
{
	Fanout__V1__Subscribe sub = FANOUT__V1__SUBSCRIBE__INIT;
	Fanout__V1__ServerMessage *m;

	int rc;

	sub.subscription_id = id;
	sub.topic = "md";
	sub.shm_ring_bytes = bytes;
	rc = client_subscribe_msg(c, &sub, &m);
	assert_true(rc == 0 || rc == -EPROTO);
	assert_true(m->body_case == FANOUT__V1__SERVER_MESSAGE__BODY_SUBSCRIBED ||
		    m->body_case == FANOUT__V1__SERVER_MESSAGE__BODY_ERROR);
	return m;
}

static void expect_refused(Fanout__V1__ServerMessage *m, uint32_t id, const char *word1,
			   const char *word2)
{
	assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_ERROR);
	assert_int_equal(m->error->code, FANOUT__V1__ERROR_CODE__ERROR_CODE_SHM_UNAVAILABLE);
	assert_int_equal(m->error->subscription_id, id);
	assert_false(m->error->closing);
	if (!strstr(m->error->message, word1) || !strstr(m->error->message, word2))
		fail_msg("'%s' lacks '%s' or '%s'", m->error->message, word1, word2);
	client_free_msg(m);
}

static void expect_ring(Fanout__V1__ServerMessage *m, uint32_t id)
{
	if (m->body_case == FANOUT__V1__SERVER_MESSAGE__BODY_ERROR)
		fail_msg("ring %u refused: %s", id, m->error->message);
	assert_int_equal(m->subscribed->subscription_id, id);
	assert_int_equal(m->subscribed->shm_fds, 2);
	client_free_msg(m);
}

static void tcp_refused_naming_the_socket(void **state)
{
	struct server s;
	struct client c;

	(void)state;
	server_setup(&s, g_argc, g_argv);
	start(&s, NULL);
	server_connect(&s, &c);
	expect_refused(ask_ring(&c, 7, RING_BYTES), 7, sock_path(&s), "this connection is TCP");
	ping_pong(&c, 1);	/* the connection goes on */
	client_close(&c);
	server_teardown(&s);
}

static void rings_refused_with_a_reason(void **state)
{
	struct fanout_shm *r = NULL;
	struct server s;
	struct stat st;
	char err[512];

	(void)state;
	server_setup(&s, g_argc, g_argv);
	start(&s, (const char *const[]){ "--shm-max-bytes", "1048576", NULL });
	assert_int_equal(attach(&s, &r, NULL, 0, 2u << 20, err, sizeof(err)),
			 -FANOUT_SHM_E_SERVER);
	assert_non_null(strstr(err, "SHM_UNAVAILABLE"));
	assert_non_null(strstr(err, "--shm-max-bytes"));
	server_teardown(&s);

	server_setup(&s, g_argc, g_argv);
	start(&s, (const char *const[]){ "--no-shm", NULL });
	assert_int_equal(stat(sock_path(&s), &st), -1);	/* no socket at all */
	assert_int_equal(attach(&s, &r, NULL, 0, 0, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "--shm-socket"));
	server_teardown(&s);
}

/* Rings per connection, then the total: each refusal names its flag, and a ring's bytes
 * come back when it ends. An 8 MiB ring with its journal takes 12 MiB. */
static void bounds_refuse_with_the_flag(void **state)
{
	struct fanout_shm *r1 = NULL, *r2 = NULL;
	struct server s;
	struct client c;
	char err[512];

	(void)state;
	server_setup(&s, g_argc, g_argv);
	start(&s, (const char *const[]){ "--shm-max-rings", "2", "--shm-total-bytes", "33554432",
					 NULL });
	assert_int_equal(client_connect(&c, sock_path(&s), 5000), 0);
	expect_ring(ask_ring(&c, 1, RING_BYTES), 1);
	expect_ring(ask_ring(&c, 2, RING_BYTES), 2);
	expect_refused(ask_ring(&c, 3, RING_BYTES), 3, "2 rings", "--shm-max-rings");
	client_close(&c);	/* its two rings go, and their bytes come back */
	for (int i = 0; i < 100 && attach(&s, &r1, NULL, 0, RING_BYTES, err, sizeof(err)) < 0;
	     i++)
		usleep(20 * 1000);
	if (!r1)
		fail_msg("attach after the rings were closed: %s", err);
	if (attach(&s, &r2, NULL, 0, RING_BYTES, err, sizeof(err)) < 0)
		fail_msg("second attach: %s", err);
	assert_int_equal(attach(&s, &(struct fanout_shm *){ NULL }, NULL, 0, RING_BYTES, err,
				sizeof(err)), -FANOUT_SHM_E_SERVER);
	assert_non_null(strstr(err, "--shm-total-bytes"));
	assert_non_null(strstr(err, "does not fit"));
	fanout_shm_close(r1);
	fanout_shm_close(r2);
	server_teardown(&s);
}

/* A ring asked for and never mapped: removed after --shm-attach-timeout-ms, the client
 * told, the subscription gone, its bytes back in the budget. */
static void unattached_ring_removed(void **state)
{
	Fanout__V1__ServerMessage *m;
	struct fanout_shm *r = NULL;
	struct server s;
	struct client c;
	char err[512];

	(void)state;
	server_setup(&s, g_argc, g_argv);
	start(&s, (const char *const[]){ "--shm-attach-timeout-ms", "300", "--shm-total-bytes",
					 "16777216", NULL });
	assert_int_equal(client_connect(&c, sock_path(&s), 5000), 0);
	expect_ring(ask_ring(&c, 5, RING_BYTES), 5);	/* read(): the descriptors dropped */
	assert_int_equal(attach(&s, &r, NULL, 0, RING_BYTES, err, sizeof(err)),
			 -FANOUT_SHM_E_SERVER);	/* the budget holds one ring */
	m = expect_error(&c, FANOUT__V1__ERROR_CODE__ERROR_CODE_SHM_UNAVAILABLE);
	assert_int_equal(m->error->subscription_id, 5);
	assert_non_null(strstr(m->error->message, "within 300 ms (--shm-attach-timeout-ms)"));
	client_free_msg(m);
	{	/* the subscription is gone */
		Fanout__V1__ClientMessage cm = FANOUT__V1__CLIENT_MESSAGE__INIT;
		Fanout__V1__Unsubscribe u = FANOUT__V1__UNSUBSCRIBE__INIT;

		u.subscription_id = 5;
		cm.body_case = FANOUT__V1__CLIENT_MESSAGE__BODY_UNSUBSCRIBE;
		cm.unsubscribe = &u;
		assert_int_equal(client_send(&c, &cm), 0);
		client_free_msg(expect_error(&c,
			FANOUT__V1__ERROR_CODE__ERROR_CODE_UNKNOWN_SUBSCRIPTION));
	}
	if (attach(&s, &r, NULL, 0, RING_BYTES, err, sizeof(err)) < 0)	/* bytes back */
		fail_msg("attach after the timeout: %s", err);
	fanout_shm_close(r);
	client_close(&c);
	server_teardown(&s);
}

/* Reads one whole frame from c's socket with recvmsg, keeping the descriptors that come
 * with it (at most 2). Returns the message. */
static Fanout__V1__ServerMessage *recv_with_fds(struct client *c, int fds[2], unsigned *nfds)
{
	static uint8_t buf[1 << 16];
	size_t len = 0;
	struct frame_view fv;

	*nfds = 0;
	for (;;) {
		union {
			struct cmsghdr align;
			char b[CMSG_SPACE(sizeof(int) * 2)];
		} ctl;
		struct iovec iov = { buf + len, sizeof(buf) - len };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b,
				      .msg_controllen = sizeof(ctl.b) };
		ssize_t n = recvmsg(c->fd, &msg, MSG_CMSG_CLOEXEC);

		assert_true(n > 0);
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
			unsigned k = (unsigned)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));

			assert_int_equal(cm->cmsg_type, SCM_RIGHTS);
			assert_true(*nfds + k <= 2);
			memcpy(fds + *nfds, CMSG_DATA(cm), k * sizeof(int));
			*nfds += k;
		}
		len += (size_t)n;
		if (frame_parse(buf, len, 1u << 16, &fv) > 0)
			return fanout__v1__server_message__unpack(NULL, fv.len, fv.body);
	}
}

/* Everything a holder of the descriptors could try to change their size or the records. */
static void try_to_damage(int ring, int area)
{
	struct stat st;
	char self[64];
	int again;

	assert_int_equal(fstat(ring, &st), 0);
	assert_int_equal(ftruncate(ring, 0), -1);
	assert_int_equal(errno, EPERM);
	assert_int_equal(ftruncate(ring, st.st_size / 2), -1);
	assert_int_equal(ftruncate(ring, st.st_size * 2), -1);
	assert_int_equal(ftruncate(area, 0), -1);
	assert_int_equal(errno, EPERM);
	assert_int_equal(fallocate(ring, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 1 << 20),
			 -1);
	assert_int_equal(fallocate(ring, 0, st.st_size, 4096), -1);	/* grow */
	assert_int_equal(pwrite(ring, "x", 1, 0), -1);
	assert_true(mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, ring, 0) == MAP_FAILED);
	assert_int_equal(fcntl(ring, F_ADD_SEALS, F_SEAL_WRITE), -1);	/* F_SEAL_SEAL */
	/* Reopened through /proc, read-write: the seals are the file's, not the fd's. */
	snprintf(self, sizeof(self), "/proc/self/fd/%d", ring);
	again = open(self, O_RDWR | O_CLOEXEC);
	if (again >= 0) {
		assert_int_equal(ftruncate(again, 0), -1);
		close(again);
	}
	assert_int_equal(fstat(ring, &st), 0);
	assert_true(st.st_size > 0);
}

static void reader_cannot_resize_its_ring(void **state)
{
	Fanout__V1__ServerMessage *m;
	struct fanout_shm *r = NULL;
	struct server s;
	struct client c, pub;
	int fds[2] = { -1, -1 };
	unsigned nfds;
	char err[512];

	(void)state;
	server_setup(&s, g_argc, g_argv);
	start(&s, NULL);
	assert_int_equal(client_connect(&c, sock_path(&s), 5000), 0);
	{	/* sent by hand: the answer is read with recvmsg, for its descriptors */
		Fanout__V1__ClientMessage cm = FANOUT__V1__CLIENT_MESSAGE__INIT;
		Fanout__V1__Subscribe sub = FANOUT__V1__SUBSCRIBE__INIT;

		sub.subscription_id = 1;
		sub.topic = "md";
		sub.shm_ring_bytes = RING_BYTES;
		cm.body_case = FANOUT__V1__CLIENT_MESSAGE__BODY_SUBSCRIBE;
		cm.subscribe = &sub;
		assert_int_equal(client_send(&c, &cm), 0);
	}
	m = recv_with_fds(&c, fds, &nfds);
	assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_SUBSCRIBED);
	assert_int_equal(m->subscribed->shm_fds, 2);
	assert_int_equal(nfds, 2);
	fanout__v1__server_message__free_unpacked(m, NULL);
	try_to_damage(fds[0], fds[1]);
	if (fanout_shm_open_fd(&r, fds[0], fds[1], NULL, err, sizeof(err)) < 0)
		fail_msg("open_fd: %s", err);
	close(fds[0]);
	close(fds[1]);
	server_connect(&s, &pub);	/* the server lives and writes the ring on */
	publish_range(&pub, "md", 0, 1000, SYMBOLS, NULL);
	for (uint32_t i = 0; i < 1000; i++) {
		struct fanout_shm_record rec;

		assert_int_equal(fanout_shm_next(r, &rec, WAIT_NS), FANOUT_SHM_EVENT);
		assert_int_equal(fanout_shm_validate(r, &rec), 0);
	}
	ping_pong(&pub, 2);
	assert_int_equal(kill(s.pid, 0), 0);
	fanout_shm_close(r);
	client_close(&c);
	client_close(&pub);
	assert_int_equal(WEXITSTATUS(server_stop(&s, SIGTERM)), 0);
	server_teardown(&s);
}

/* Whether a descriptor of the server process is a memfd of this name. */
static bool server_holds(const struct server *s, const char *memfd_name)
{
	char dir[64], path[400], link[300];
	struct dirent *e;
	bool found = false;
	DIR *d;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)s->pid);
	d = opendir(dir);
	assert_non_null(d);
	while (!found && (e = readdir(d))) {
		ssize_t n;

		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		link[n > 0 ? n : 0] = '\0';
		found = strstr(link, memfd_name) != NULL;
	}
	closedir(d);
	return found;
}

/* A client passing descriptors to the server (SCM_RIGHTS with a Ping): the server never
 * takes them (its receives have no room for them: the kernel closes them) and answers. */
static void descriptors_sent_to_the_server_dropped(void **state)
{
	Fanout__V1__ClientMessage cm = FANOUT__V1__CLIENT_MESSAGE__INIT;
	Fanout__V1__Ping ping = FANOUT__V1__PING__INIT;
	Fanout__V1__ServerMessage *m;
	union {
		struct cmsghdr align;
		char b[CMSG_SPACE(sizeof(int))];
	} ctl;
	uint8_t buf[64];
	struct iovec iov = { buf, 0 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b,
			      .msg_controllen = sizeof(ctl.b) };
	struct cmsghdr *c;
	struct server s;
	struct client cl;
	int gift = memfd_create("client-gift", MFD_CLOEXEC);

	(void)state;
	assert_true(gift >= 0);
	server_setup(&s, g_argc, g_argv);
	start(&s, NULL);
	assert_int_equal(client_connect(&cl, sock_path(&s), 5000), 0);
	ping.nonce = 42;
	cm.body_case = FANOUT__V1__CLIENT_MESSAGE__BODY_PING;
	cm.ping = &ping;
	iov.iov_len = frame_pack(&cm.base, buf);
	memset(&ctl, 0, sizeof(ctl));
	c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &gift, sizeof(int));
	assert_int_equal(sendmsg(cl.fd, &msg, MSG_NOSIGNAL), (ssize_t)iov.iov_len);
	close(gift);
	m = recv_msg(&cl, 5000);
	assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_PONG);
	assert_int_equal(m->pong->nonce, 42);
	client_free_msg(m);
	assert_false(server_holds(&s, "client-gift"));
	client_close(&cl);
	server_teardown(&s);
}

/* Whether the hot directory data_dir/HOT names is still there. */
static bool hot_dir_left(const char *data_dir)
{
	char path[400], hot[400] = "";
	struct stat st;
	FILE *f;

	snprintf(path, sizeof(path), "%s/HOT", data_dir);
	f = fopen(path, "r");
	if (!f)
		return false;
	if (!fgets(hot, sizeof(hot), f))
		hot[0] = '\0';
	fclose(f);
	hot[strcspn(hot, "\n")] = '\0';
	return hot[0] && stat(hot, &st) == 0;
}

/* A socket another server listens on is never taken over, nor a file that is not a
 * socket; the first server's rings go on. */
static void socket_in_use_refused(void **state)
{
	struct fanout_shm *r = NULL;
	char other[300], file[300], err[256];
	struct server s;
	FILE *f;

	(void)state;
	server_setup(&s, g_argc, g_argv);
	start(&s, NULL);
	snprintf(other, sizeof(other), "%s/other", s.dir);
	assert_int_equal(server_run_to_exit((const char *const[]){ s.binary, "--listen", "127.0.0.1:0",
		"--data-dir", other, "--shm-socket", sock_path(&s), "--quiet", NULL }), 1);
	snprintf(file, sizeof(file), "%s/not-a-socket", s.dir);
	f = fopen(file, "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(server_run_to_exit((const char *const[]){ s.binary, "--listen", "127.0.0.1:0",
		"--data-dir", other, "--shm-socket", file, "--quiet", NULL }), 1);
	if (attach(&s, &r, NULL, 0, RING_BYTES, err, sizeof(err)) < 0)
		fail_msg("attach to the first server: %s", err);
	fanout_shm_close(r);
	assert_false(hot_dir_left(other));	/* the refused server cleaned up */
	server_teardown(&s);
}

/* fanout-shm-tail (argv[2]) asks for its ring on the socket and prints every event. */
static void tail_over_the_socket(void **state)
{
	char cmd[1024], line[4096];
	struct server s;
	struct client pub;
	unsigned lines = 0;
	FILE *p;
	int st;

	(void)state;
	if (g_argc < 3)
		skip();
	server_setup(&s, g_argc, g_argv);
	start(&s, NULL);
	snprintf(cmd, sizeof(cmd), "%s --topic md --socket %s --expect 50 --timeout 20 --quiet",
		 g_argv[2], sock_path(&s));
	p = popen(cmd, "r");
	assert_non_null(p);
	for (int i = 0; i < 500 && !server_maps(&s, "memfd:fanout-"); i++)
		usleep(10 * 1000);	/* subscribed: what comes now is its */
	server_connect(&s, &pub);
	publish_range(&pub, "md", 0, 50, SYMBOLS, NULL);
	while (fgets(line, sizeof(line), p))
		lines += strstr(line, "\"event_id\"") != NULL;
	st = pclose(p);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_int_equal(lines, 50);
	client_close(&pub);
	server_teardown(&s);
}

static void killed_server_then_restart(void **state)
{
	struct fanout_shm *r = NULL, *r2 = NULL;
	struct fanout_shm_record rec;
	struct server s;
	struct client pub;
	struct stat st;
	char err[256];
	int rc;

	(void)state;
	server_setup(&s, g_argc, g_argv);
	start(&s, NULL);
	if (attach(&s, &r, NULL, 0, RING_BYTES, err, sizeof(err)) < 0)
		fail_msg("attach: %s", err);
	server_connect(&s, &pub);
	publish_range(&pub, "md", 0, 100, SYMBOLS, NULL);
	client_close(&pub);
	server_stop(&s, SIGKILL);	/* the ring lives on in the reader's mapping only */
	assert_int_equal(stat(sock_path(&s), &st), 0);	/* a stale socket stays behind */
	for (uint32_t got = 0;; got++) {	/* what was written is still read, then: dead */
		rc = fanout_shm_next(r, &rec, 5ll * 1000 * 1000 * 1000);
		if (rc != FANOUT_SHM_EVENT) {
			assert_int_equal(got, 100);
			break;
		}
	}
	assert_true(rc == -FANOUT_SHM_E_WRITER_DEAD || rc == -FANOUT_SHM_E_CLOSED ||
		    rc == -FANOUT_SHM_E_SERVER);
	fanout_shm_close(r);
	start(&s, NULL);	/* replaces the stale socket */
	if (attach(&s, &r2, NULL, 0, RING_BYTES, err, sizeof(err)) < 0)	/* reattach */
		fail_msg("attach after restart: %s", err);
	server_connect(&s, &pub);
	publish_range(&pub, "md", 1000, 10, SYMBOLS, NULL);
	for (int i = 0; i < 10; i++)
		assert_int_equal(fanout_shm_next(r2, &rec, 5ll * 1000 * 1000 * 1000),
				 FANOUT_SHM_EVENT);
	fanout_shm_close(r2);
	client_close(&pub);
	server_teardown(&s);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ring_gets_exactly_its_events),
		cmocka_unit_test(tcp_refused_naming_the_socket),
		cmocka_unit_test(rings_refused_with_a_reason),
		cmocka_unit_test(bounds_refuse_with_the_flag),
		cmocka_unit_test(unattached_ring_removed),
		cmocka_unit_test(reader_cannot_resize_its_ring),
		cmocka_unit_test(descriptors_sent_to_the_server_dropped),
		cmocka_unit_test(tail_over_the_socket),
		cmocka_unit_test(socket_in_use_refused),
		cmocka_unit_test(killed_server_then_restart),
	};

	g_argc = argc;
	g_argv = argv;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
