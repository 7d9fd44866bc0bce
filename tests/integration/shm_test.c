/* tests/integration/shm_test.c — shared-memory rings through a real fanoutd (two
 * reactors), read by libfanout-shm in this process: a ring subscription gets exactly its
 * events, per key in order, in a file only its owner may read, removed when the
 * subscription ends; a ring too large or rings switched off are refused with
 * SHM_UNAVAILABLE; a server killed with its ring mapped is seen dead by the reader, and
 * the restarted server sweeps the stale ring and serves a new one. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shm/fanout_shm.h"
#include "tests/integration/harness.h"

#define EVENTS  20000u
#define SYMBOLS 64u

static int g_argc;
static char **g_argv;

static uint32_t seq_of(const Fanout__V1__Event *e)
{
	return (uint32_t)strtoul(e->event_id + 3, NULL, 10);	/* "ev-<seq>" */
}

static void start(struct server *s, const char *const *more)
{
	static char shm_dir[300];
	const char *args[16] = { "--reactors", "2", "--topic", "md:4", "--shm-dir", shm_dir };
	int n = 6;

	snprintf(shm_dir, sizeof(shm_dir), "%s/shm", s->dir);
	mkdir(shm_dir, 0700);
	for (int i = 0; more && more[i] && n < 15; i++)
		args[n++] = more[i];
	args[n] = NULL;
	server_start(s, args);
}

static int attach(struct server *s, struct fanout_shm **r, const char *const *pats, size_t n,
		  uint64_t bytes, char *err, size_t errlen)
{
	struct fanout_shm_attach_opts a = {
		.server = s->addr, .topic = "md", .patterns = pats, .npatterns = n,
		.ring_bytes = bytes, .timeout_ms = 5000,
	};

	return fanout_shm_attach(r, &a, NULL, err, errlen);
}

/* Symbols 0..7 by exact key, then every NYSE key by wildcard: 8 + 1 patterns. */
static bool wanted(uint32_t seq)
{
	uint32_t sym = seq % SYMBOLS;

	return sym < 8 || sym % 4 == 1;
}

static void ring_gets_exactly_its_events(void **state)
{
	static const char *const pats[] = {
		"S00000.NASDAQ.trade", "S00001.NYSE.trade", "S00002.ARCA.trade",
		"S00003.BATS.trade", "S00004.NASDAQ.trade", "S00005.NYSE.trade",
		"S00006.ARCA.trade", "S00007.BATS.trade", "*.NYSE.trade",
	};
	uint32_t last[SYMBOLS] = { 0 }, expect = 0, got = 0;
	struct fanout_shm_info info;
	struct fanout_shm *r = NULL;
	struct server s;
	struct client pub;
	struct stat st;
	char err[256], path[512];

	(void)state;
	server_setup(&s, g_argc, g_argv);
	start(&s, NULL);
	if (attach(&s, &r, pats, 9, 8u << 20, err, sizeof(err)) < 0)
		fail_msg("attach: %s", err);
	fanout_shm_get_info(r, &info);
	snprintf(path, sizeof(path), "%s", info.path);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);	/* its owner only */
	for (uint32_t i = 0; i < EVENTS; i++)
		expect += wanted(i);
	server_connect(&s, &pub);
	publish_range(&pub, "md", 0, EVENTS, SYMBOLS, NULL);
	while (got < expect) {
		struct fanout_shm_record rec;
		Fanout__V1__ServerMessage *m;
		uint32_t seq;
		int rc = fanout_shm_next(r, &rec, 10ll * 1000 * 1000 * 1000);

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
	{	/* and nothing more */
		struct fanout_shm_record rec;

		assert_int_equal(fanout_shm_next(r, &rec, 200ll * 1000 * 1000), 0);
	}
	fanout_shm_close(r);	/* ends the subscription: the server removes the ring */
	for (int i = 0; i < 200 && stat(path, &st) == 0; i++)
		usleep(10 * 1000);
	assert_int_equal(stat(path, &st), -1);
	assert_int_equal(errno, ENOENT);
	client_close(&pub);
	assert_int_equal(WEXITSTATUS(server_stop(&s, SIGTERM)), 0);
	server_teardown(&s);
}

static void rings_refused_with_a_reason(void **state)
{
	struct fanout_shm *r = NULL;
	struct server s;
	char err[256];

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
	assert_int_equal(attach(&s, &r, NULL, 0, 0, err, sizeof(err)), -FANOUT_SHM_E_SERVER);
	assert_non_null(strstr(err, "rings are off"));
	server_teardown(&s);
}

static void killed_server_then_restart(void **state)
{
	struct fanout_shm *r = NULL, *r2 = NULL;
	struct fanout_shm_record rec;
	struct fanout_shm_info info;
	struct server s;
	struct client pub;
	struct stat st;
	char err[256], path[512];
	int rc;

	(void)state;
	server_setup(&s, g_argc, g_argv);
	start(&s, NULL);
	if (attach(&s, &r, NULL, 0, 8u << 20, err, sizeof(err)) < 0)
		fail_msg("attach: %s", err);
	fanout_shm_get_info(r, &info);
	snprintf(path, sizeof(path), "%s", info.path);
	server_connect(&s, &pub);
	publish_range(&pub, "md", 0, 100, SYMBOLS, NULL);
	client_close(&pub);
	server_stop(&s, SIGKILL);	/* the ring stays behind, mapped by the reader */
	assert_int_equal(stat(path, &st), 0);
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
	start(&s, NULL);	/* same --shm-dir: the stale ring is swept */
	assert_int_equal(stat(path, &st), -1);
	if (attach(&s, &r2, NULL, 0, 8u << 20, err, sizeof(err)) < 0)	/* reattach */
		fail_msg("attach after restart: %s", err);
	server_connect(&s, &pub);
	publish_range(&pub, "md", 1000, 10, SYMBOLS, NULL);
	for (int i = 0; i < 10; i++) {
		assert_int_equal(fanout_shm_next(r2, &rec, 5ll * 1000 * 1000 * 1000),
				 FANOUT_SHM_EVENT);
	}
	fanout_shm_close(r2);
	client_close(&pub);
	server_teardown(&s);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ring_gets_exactly_its_events),
		cmocka_unit_test(rings_refused_with_a_reason),
		cmocka_unit_test(killed_server_then_restart),
	};

	g_argc = argc;
	g_argv = argv;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
