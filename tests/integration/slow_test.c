/* tests/integration/slow_test.c — slow consumers cannot hurt anyone: with one stalled
 * subscriber and 20 live ones under sustained load, the live ones receive everything, the
 * server's own memory (anonymous RSS) stays flat, and the stalled one is cut with
 * ERROR_CODE_SLOW_CONSUMER once it is past the lag bound. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/arena.h"
#include "tests/integration/harness.h"

static int g_argc;
static char **g_argv;

#define LIVE 20
/* Under AddressSanitizer the server's anonymous memory also holds the shadow of the log
 * pages it touches (1/8 of ~13 MB here); otherwise it should not move at all. */
#ifdef __SANITIZE_ADDRESS__
#define SLOW_GROWTH_LIMIT_KIB (4 * 1024)
#else
#define SLOW_GROWTH_LIMIT_KIB 1024
#endif
#define SYMBOLS 100u
/* PostgreSQL on a port nobody listens on: the server runs without a store; and without
 * the data API's index, which keeps ~16 bytes per event within its own budget (tested
 * in data_api_test): what is measured is the data path's memory. */
#define NO_STORE_ARGS "--pg-url", "postgresql://fanout@127.0.0.1:1/none", \
	"--data-index-bytes", "0"
#define NO_STORE (const char *const[]){ NO_STORE_ARGS, NULL }

struct reader {
	struct client c;
	uint32_t want;
	_Atomic uint32_t got;	/* read by the publisher's pacing */
	_Atomic int rc;
	pthread_t thread;
};

/* Reads want events in offset order (no cmocka calls off the main thread). Decodes into
 * an arena: twenty readers calling malloc per event would be the test's bottleneck. */
static void *reader_run(void *p)
{
	struct reader *r = p;
	struct arena a;

	if (arena_init(&a, 1 << 20) < 0) {
		r->rc = -ENOMEM;
		return NULL;
	}
	while (r->got < r->want) {
		Fanout__V1__ServerMessage *m;
		struct frame_view fv;

		r->rc = client_recv_frame(&r->c, &fv, 20000);
		if (r->rc < 0)
			break;
		arena_reset(&a);
		m = fanout__v1__server_message__unpack(&a.pb, fv.len, fv.body);
		if (!m || m->body_case != FANOUT__V1__SERVER_MESSAGE__BODY_EVENT ||
		    m->event->distribution->offset != r->got) {
			r->rc = -EPROTO;
			break;
		}
		r->got++;
	}
	arena_free(&a);
	return NULL;
}

static void subscribe_all(struct client *c)
{
	Fanout__V1__ServerMessage *m = NULL;
	const char *none[1] = { NULL };

	assert_int_equal(client_subscribe(c, 1, "load", none, 0,
					  FANOUT__V1__START_POSITION__START_POSITION_LATEST, 0, &m), 0);
	client_free_msg(m);
}

/* A subscriber that never reads. Its receive buffer keeps the kernel's default: shrinking
 * it on a connected socket collapses the window, and the later drain then crawls at the
 * sender's zero-window probe backoff (minutes), which is TCP, not the server. */
static void connect_stalled(struct server *srv, struct client *c)
{
	server_connect(srv, c);
	subscribe_all(c);
}

/* Publishes n events from first in steps, each once every live reader has all but a step
 * of what came before: on a loaded machine twenty reader threads can fall behind a
 * publisher flat out, and a live reader past --max-lag-bytes would be cut like the stalled
 * one. The pacing keeps the live ones within ~2 steps (~260 KB) and leaves the stalled one
 * to pile up alone. */
#define PACE_STEP 1000u
static void publish_paced(struct client *pub, struct reader *live, uint32_t first, uint32_t n)
{
	for (uint32_t done = 0; done < n;) {
		uint32_t step = n - done < PACE_STEP ? n - done : PACE_STEP;

		for (int i = 0; i < LIVE; i++)
			for (int waited = 0; live[i].rc == 0 &&
			     atomic_load(&live[i].got) + PACE_STEP < first + done; waited++) {
				if (waited == 60000)	/* 60 s: the reader itself fails the test */
					break;
				usleep(1000);
			}
		publish_range(pub, "load", first + done, step, SYMBOLS, NULL);
		done += step;
	}
}

static void run_load(struct server *srv, uint32_t total, struct client *stalled, long *growth)
{
	static struct reader live[LIVE];
	struct client pub;
	long before, after;

	connect_stalled(srv, stalled);
	for (int i = 0; i < LIVE; i++) {
		memset(&live[i], 0, sizeof(live[i]));
		server_connect(srv, &live[i].c);
		subscribe_all(&live[i].c);
		live[i].want = total;
		assert_int_equal(pthread_create(&live[i].thread, NULL, reader_run, &live[i]), 0);
	}
	server_connect(srv, &pub);
	/* Warm up first: receive buffers and answer buffers are touched once, then reused. */
	publish_paced(&pub, live, 0, total / 3);
	before = server_rss_anon_kib(srv->pid);
	publish_paced(&pub, live, total / 3, total - total / 3);
	for (int i = 0; i < LIVE; i++) {
		pthread_join(live[i].thread, NULL);
		if (live[i].rc < 0 || live[i].got != total)
			fail_msg("live subscriber %d: %u of %u events (rc %d)", i, live[i].got, total,
				 live[i].rc);
		client_close(&live[i].c);
	}
	after = server_rss_anon_kib(srv->pid);
	*growth = after - before;
	printf("# %u events to %d live subscribers: server anonymous RSS %ld -> %ld KiB\n",
	       total, LIVE, before, after);
	client_close(&pub);
}

static void stalled_subscriber_changes_nothing_for_others(void **state)
{
	struct server srv;
	struct client stalled;
	long growth;
	const uint32_t total = 150000;	/* ~20 MB of frames */

	(void)state;
	server_setup(&srv, g_argc, g_argv);
	/* Default bound (1 GiB): the stalled one stays. The data path's memory is measured:
	 * the admin plane's store is left unreachable so that its one-time bookkeeping (the
	 * subscriptions recorded in SQLite, which under ASan's quarantine shows as several
	 * MB at a moment that varies) is not counted. */
	server_start(&srv, NO_STORE);
	run_load(&srv, total, &stalled, &growth);
	/* ~13 MB were published after the warm-up: a queue per subscriber would hold all of
	 * it for the stalled one. */
	if (growth > SLOW_GROWTH_LIMIT_KIB)
		fail_msg("server anonymous memory grew by %ld KiB", growth);
	client_close(&stalled);
	server_teardown(&srv);
}

static void stalled_subscriber_is_cut_at_the_bound(void **state)
{
	struct server srv;
	struct client stalled;
	Fanout__V1__ServerMessage *m = NULL;
	long growth;
	int rc, events = 0;

	(void)state;
	server_setup(&srv, g_argc, g_argv);
	/* A long grace: the Error waits for this test to drain however slow the run was. */
	server_start(&srv, (const char *const[]){ "--max-lag-bytes", "1000000",
						  "--close-grace-ms", "120000", NO_STORE_ARGS, NULL });
	run_load(&srv, 60000, &stalled, &growth);	/* ~8 MB: far past 1 MB */
	usleep(300 * 1000);	/* a lag pass runs every 100 ms */
	/* Draining the stalled socket: some events, then the Error, then the end. */
	while ((rc = client_recv(&stalled, &m, 5000)) == 0 &&
	       m->body_case == FANOUT__V1__SERVER_MESSAGE__BODY_EVENT) {
		events++;
		client_free_msg(m);
		m = NULL;
	}
	assert_int_equal(rc, 0);
	assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_ERROR);
	assert_int_equal(m->error->code, FANOUT__V1__ERROR_CODE__ERROR_CODE_SLOW_CONSUMER);
	assert_true(m->error->closing);
	assert_int_equal(m->error->subscription_id, 1);
	assert_true(events < 60000);
	client_free_msg(m);
	assert_int_equal(client_recv(&stalled, &m, 5000), -ECONNRESET);
	client_close(&stalled);
	server_teardown(&srv);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(stalled_subscriber_changes_nothing_for_others),
		cmocka_unit_test(stalled_subscriber_is_cut_at_the_bound),
	};

	g_argc = argc;
	g_argv = argv;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
