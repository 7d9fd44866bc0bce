/* tests/integration/diskfull_test.c — a data directory whose file system fills up: a
 * 4 MiB tmpfs mounted for the test (root only; skipped otherwise), a file taking most of
 * it. Publishers get LOG_FULL, never a crash (no SIGBUS: the writer never writes through
 * a disk mapping); the server answers pings meanwhile; every acknowledged event is
 * delivered to a subscriber; once space is freed, publishing goes on; and after a
 * restart every acknowledged event is still there, once. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/integration/harness.h"

#define TOPIC "full"
#define BATCH 100u
#define FILLER_BYTES (3u << 20)

static int g_argc;
static char **g_argv;
static struct server g_srv;
static char g_mnt[300], g_filler[340], g_hot[300];

static const char *const g_args[] = { "--data-dir", g_mnt, "--hot-dir", g_hot,
				      "--max-frame-bytes", "65536", "--segment-bytes", "262144",
				      "--reactors", "1", NULL };

static int setup(void **state)
{
	int fd;

	(void)state;
	server_setup(&g_srv, g_argc, g_argv);
	snprintf(g_mnt, sizeof(g_mnt), "%s/mnt", g_srv.dir);
	snprintf(g_hot, sizeof(g_hot), "%s/hot", g_srv.dir);
	snprintf(g_filler, sizeof(g_filler), "%s/filler", g_mnt);
	if (mkdir(g_mnt, 0755) < 0 || mount("tmpfs", g_mnt, "tmpfs", 0, "size=4m") < 0)
		return -1;
	fd = open(g_filler, O_RDWR | O_CREAT, 0644);
	if (fd < 0 || posix_fallocate(fd, 0, FILLER_BYTES) != 0)
		return -1;
	close(fd);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	server_stop(&g_srv, SIGKILL);
	umount2(g_mnt, MNT_DETACH);
	server_teardown(&g_srv);
	return 0;
}

/* Publishes one batch of events [first, first + BATCH); returns the answer: 0 for the
 * ack (offsets into acked[]), or the Error's code. */
static int publish_one(struct client *c, uint64_t seq, uint32_t first, uint64_t *acked,
		       uint32_t *nacked)
{
	Fanout__V1__Event ev[BATCH], *ptrs[BATCH];
	Fanout__V1__Distribution dist[BATCH];
	Fanout__V1__MarketData md[BATCH];
	static char bufs[BATCH][256];
	Fanout__V1__ServerMessage *m;
	uint32_t got = 0;
	int code = 0;

	for (uint32_t i = 0; i < BATCH; i++) {
		make_event(&ev[i], &dist[i], &md[i], bufs[i], TOPIC, first + i, 50);
		ptrs[i] = &ev[i];
	}
	assert_int_equal(client_publish(c, seq, ptrs, BATCH), 0);
	for (;;) {	/* the ack (possibly partial), then an Error when one failed */
		m = recv_msg(c, 10000);
		if (m->body_case == FANOUT__V1__SERVER_MESSAGE__BODY_PUBLISH_ACK) {
			assert_int_equal(m->publish_ack->sequence, seq);
			for (size_t i = 0; i < m->publish_ack->n_offsets; i++)
				acked[(*nacked)++] = m->publish_ack->offsets[i];
			got += (uint32_t)m->publish_ack->n_offsets;
			client_free_msg(m);
			if (got == BATCH)	/* the whole batch: no Error follows */
				return 0;
			continue;
		}
		assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_ERROR);
		assert_int_equal(m->error->sequence, seq);
		code = m->error->code;
		client_free_msg(m);
		return code;
	}
}

/* Reads every event of the topic from the start: exactly the acknowledged offsets, in
 * order, each once. */
static void expect_exactly(const uint64_t *acked, uint32_t nacked)
{
	const char *none[1] = { NULL };
	Fanout__V1__ServerMessage *m;
	struct client sub;

	server_connect(&g_srv, &sub);
	assert_int_equal(client_subscribe(&sub, 1, TOPIC, none, 0,
					  FANOUT__V1__START_POSITION__START_POSITION_EARLIEST, 0,
					  &m), 0);
	client_free_msg(m);
	for (uint32_t i = 0; i < nacked; i++) {
		m = recv_msg(&sub, 10000);
		assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_EVENT);
		assert_int_equal(m->event->distribution->offset, acked[i]);
		client_free_msg(m);
	}
	ping_pong(&sub, 7);	/* and nothing more */
	client_close(&sub);
}

static void full_disk_gives_log_full_and_the_server_lives(void **state)
{
	static uint64_t acked[200000];
	uint32_t nacked = 0, first = 0, batches = 0;
	uint64_t seq = 0;
	struct client pub;
	int code = 0;

	(void)state;
	server_start(&g_srv, g_args);
	server_connect(&g_srv, &pub);
	/* 1 MiB of room: LOG_FULL within a few hundred batches of ~20 KB. */
	while (code == 0 && batches++ < 2000) {
		code = publish_one(&pub, ++seq, first, acked, &nacked);
		first += BATCH;
	}
	assert_int_equal(code, FANOUT__V1__ERROR_CODE__ERROR_CODE_LOG_FULL);
	assert_true(nacked > 0);
	ping_pong(&pub, 1);		/* alive, this connection too */
	expect_exactly(acked, nacked);	/* nothing acknowledged is lost */
	/* Room again: the executor's retry writes what waited, appends go on. */
	assert_int_equal(unlink(g_filler), 0);
	code = -1;
	for (int i = 0; i < 400 && code != 0; i++) {	/* 20 s: a busy machine */
		usleep(50 * 1000);
		code = publish_one(&pub, ++seq, first, acked, &nacked);
		first += BATCH;
	}
	assert_int_equal(code, 0);
	client_close(&pub);
	expect_exactly(acked, nacked);
	/* Everything acknowledged survives a restart (SIGKILL: from the hot files). */
	assert_true(WIFSIGNALED(server_stop(&g_srv, SIGKILL)));
	server_start(&g_srv, g_args);
	expect_exactly(acked, nacked);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(full_disk_gives_log_full_and_the_server_lives,
						setup, teardown),
	};

	g_argc = argc;
	g_argv = argv;
	if (geteuid() != 0) {
		fprintf(stderr, "diskfull: needs root to mount a small tmpfs; skipped\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
