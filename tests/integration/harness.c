/* tests/integration/harness.c — see harness.h. */
#include "tests/integration/harness.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"

#define HARNESS_READY_MS 10000
#define HARNESS_STOP_MS  10000

void server_setup(struct server *s, int argc, char **argv)
{
	memset(s, 0, sizeof(*s));
	s->binary = argc > 1 ? argv[1] : getenv("FANOUTD");
	if (!s->binary) {
		fprintf(stderr, "usage: %s PATH_TO_FANOUTD (or set FANOUTD)\n", argv[0]);
		exit(2);
	}
	strcpy(s->dir, "/tmp/fanout-it-XXXXXX");
	if (!mkdtemp(s->dir)) {
		perror("mkdtemp");
		exit(2);
	}
}

static void sleep_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

void server_start(struct server *s, const char *const *extra)
{
	char data[300], ready[300];
	const char *args[64];
	int n = 0;
	int64_t deadline;

	snprintf(data, sizeof(data), "%s/data", s->dir);
	snprintf(ready, sizeof(ready), "%s/ready", s->dir);
	unlink(ready);
	args[n++] = s->binary;
	args[n++] = "--listen";
	args[n++] = "127.0.0.1:0";
	args[n++] = "--data-dir";
	args[n++] = data;
	args[n++] = "--ready-file";
	args[n++] = ready;
	if (!s->verbose)
		args[n++] = "--quiet";
	/* Two reactors unless a test says otherwise (a later flag wins): events cross
	 * between reactors in every test, whatever fanoutd's default on this machine. */
	args[n++] = "--reactors";
	args[n++] = "2";
	args[n++] = "--http";	/* never the shared default port; extra may override */
	args[n++] = "127.0.0.1:0";
	for (int i = 0; extra && extra[i] && n < 63; i++)
		args[n++] = extra[i];
	args[n] = NULL;
	s->pid = fork();
	assert_true(s->pid >= 0);
	if (s->pid == 0) {
		/* Dies with the test: a failed assertion must not leave a server holding the
		 * test's output pipe open (meson would wait for it until the timeout). */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (s->nofile) {
			struct rlimit rl = { s->nofile, s->nofile };

			if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
				_exit(126);
		}
		execv(s->binary, (char *const *)args);
		perror("execv fanoutd");
		_exit(127);
	}
	deadline = clock_monotonic_ns() + (int64_t)HARNESS_READY_MS * 1000000;
	while (clock_monotonic_ns() < deadline) {
		FILE *f = fopen(ready, "r");
		int status;

		if (f) {
			char line[100];

			assert_non_null(fgets(s->addr, sizeof(s->addr), f));
			s->addr[strcspn(s->addr, "\n")] = '\0';
			s->http[0] = '\0';
			if (fgets(line, sizeof(line), f) && strncmp(line, "http ", 5) == 0)
				snprintf(s->http, sizeof(s->http), "%.*s", (int)strcspn(line + 5, "\n"),
					 line + 5);
			fclose(f);
			return;
		}
		if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
			s->pid = 0;
			fail_msg("fanoutd exited during start-up (status %d)", status);
		}
		sleep_ms(10);
	}
	fail_msg("fanoutd did not become ready in %d ms", HARNESS_READY_MS);
}

int server_stop(struct server *s, int sig)
{
	int64_t deadline = clock_monotonic_ns() + (int64_t)HARNESS_STOP_MS * 1000000;
	int status = -1;

	if (s->pid <= 0)
		return -1;
	kill(s->pid, sig);
	while (clock_monotonic_ns() < deadline) {
		if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
			s->pid = 0;
			return status;
		}
		sleep_ms(5);
	}
	kill(s->pid, SIGKILL);
	waitpid(s->pid, &status, 0);
	s->pid = 0;
	fail_msg("fanoutd did not exit within %d ms of signal %d", HARNESS_STOP_MS, sig);
	return status;
}

/* Removes the hot directory a data directory's HOT file names: a server killed with
 * segments in memory leaves it for its data directory's next start, which never comes
 * once the test removes the data directory (later servers keep such dirs: they cannot
 * tell a removed data directory from a moved one). */
static void remove_hot_dir(const char *data_dir)
{
	char path[700], hot[400] = "", cmd[500];
	FILE *f;

	if ((size_t)snprintf(path, sizeof(path), "%s/HOT", data_dir) >= sizeof(path))
		return;
	f = fopen(path, "r");
	if (!f)
		return;
	if (!fgets(hot, sizeof(hot), f))
		hot[0] = '\0';
	fclose(f);
	hot[strcspn(hot, "\n")] = '\0';
	/* Only a hot dir's shape: <parent>/fanout-<id>, nothing with a quote. */
	if (!strstr(hot, "/fanout-") || strchr(hot, '\''))
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", hot);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", hot);
}

/* Every data directory a test made in s->dir (data/, and others beside it). */
static void remove_hot_dirs(const struct server *s)
{
	char path[520];
	struct dirent *e;
	DIR *d = opendir(s->dir);

	if (!d)
		return;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", s->dir, e->d_name);
		remove_hot_dir(path);
	}
	closedir(d);
}

void server_teardown(struct server *s)
{
	char cmd[300];

	if (s->pid > 0)
		server_stop(s, SIGKILL);
	remove_hot_dirs(s);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", s->dir);
}

void server_connect(struct server *s, struct client *c)
{
	memset(c, 0, sizeof(*c));
	assert_int_equal(client_connect(c, s->addr, 5000), 0);
}

static const char *const harness_exchanges[] = { "NASDAQ", "NYSE", "ARCA", "BATS" };

void make_event(Fanout__V1__Event *e, Fanout__V1__Distribution *d, Fanout__V1__MarketData *md,
		char *buf, const char *topic, uint32_t seq, uint32_t symbols)
{
	uint32_t sym = seq % symbols;
	const char *ex = harness_exchanges[sym % 4];
	char *id = buf, *symbol = buf + 32, *key = buf + 64;

	fanout__v1__event__init(e);
	fanout__v1__distribution__init(d);
	fanout__v1__market_data__init(md);
	snprintf(id, 32, "ev-%u", seq);
	snprintf(symbol, 32, "S%05u", sym);
	snprintf(key, 128, "S%05u.%s.trade", sym, ex);
	e->event_id = id;
	e->timestamp_ns = clock_realtime_ns();
	d->topic = (char *)topic;
	d->routing_key = key;
	e->distribution = d;
	md->symbol = symbol;
	md->exchange = (char *)ex;
	md->price = 100.0 + sym;
	md->volume = seq;
	md->currency = "USD";
	e->payload_case = FANOUT__V1__EVENT__PAYLOAD_MARKET_DATA;
	e->market_data = md;
}

#define HARNESS_BATCH 100u

void publish_range(struct client *c, const char *topic, uint32_t first, uint32_t n,
		   uint32_t symbols, uint64_t *offsets)
{
	static Fanout__V1__Event ev[HARNESS_BATCH];
	static Fanout__V1__Distribution dist[HARNESS_BATCH];
	static Fanout__V1__MarketData md[HARNESS_BATCH];
	static char bufs[HARNESS_BATCH][256];
	Fanout__V1__Event *ptrs[HARNESS_BATCH];
	uint64_t seq = 0, acked = 0, sent = 0;

	while (acked < n) {
		/* Keep a bounded window of batches in flight. */
		while (sent < n && sent - acked < 20 * HARNESS_BATCH) {
			uint32_t k = n - sent < HARNESS_BATCH ? (uint32_t)(n - sent) : HARNESS_BATCH;

			for (uint32_t i = 0; i < k; i++) {
				make_event(&ev[i], &dist[i], &md[i], bufs[i], topic,
					   first + (uint32_t)sent + i, symbols);
				ptrs[i] = &ev[i];
			}
			assert_int_equal(client_publish(c, ++seq, ptrs, k), 0);
			sent += k;
		}
		Fanout__V1__ServerMessage *m = recv_msg(c, 10000);

		if (m->body_case == FANOUT__V1__SERVER_MESSAGE__BODY_ERROR)
			fail_msg("publish: error %d: %s", m->error->code, m->error->message);
		assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_PUBLISH_ACK);
		for (size_t i = 0; offsets && i < m->publish_ack->n_offsets; i++)
			offsets[acked + i] = m->publish_ack->offsets[i];
		acked += m->publish_ack->n_offsets;
		client_free_msg(m);
	}
}

void publish_events(struct client *c, const Fanout__V1__Event *first, size_t stride,
		    size_t n)
{
	static uint64_t seq = 1;
	Fanout__V1__Event *ptrs[256];

	for (size_t i = 0; i < n;) {
		size_t k = n - i < 256 ? n - i : 256;
		Fanout__V1__ServerMessage *m;

		for (size_t j = 0; j < k; j++)
			ptrs[j] = (Fanout__V1__Event *)((const char *)first + (i + j) * stride);
		assert_int_equal(client_publish(c, seq, ptrs, k), 0);
		m = recv_msg(c, 10000);
		if (m->body_case == FANOUT__V1__SERVER_MESSAGE__BODY_ERROR)
			fail_msg("publish: %s", m->error->message);
		assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_PUBLISH_ACK);
		assert_int_equal(m->publish_ack->sequence, seq);
		client_free_msg(m);
		seq++;
		i += k;
	}
}

Fanout__V1__ServerMessage *recv_msg(struct client *c, int timeout_ms)
{
	Fanout__V1__ServerMessage *m = NULL;
	int rc = client_recv(c, &m, timeout_ms);

	if (rc < 0)
		fail_msg("receive: %s", strerror(-rc));
	return m;
}

void ping_pong(struct client *c, uint64_t nonce)
{
	Fanout__V1__ClientMessage m = FANOUT__V1__CLIENT_MESSAGE__INIT;
	Fanout__V1__Ping p = FANOUT__V1__PING__INIT;
	Fanout__V1__ServerMessage *r;
	bool event;

	p.nonce = nonce;
	m.body_case = FANOUT__V1__CLIENT_MESSAGE__BODY_PING;
	m.ping = &p;
	assert_int_equal(client_send(c, &m), 0);
	r = recv_msg(c, 5000);
	event = r->body_case == FANOUT__V1__SERVER_MESSAGE__BODY_EVENT;
	if (r->body_case != FANOUT__V1__SERVER_MESSAGE__BODY_PONG)
		fail_msg("expected nothing more than a Pong, got message case %d%s%s",
			 r->body_case, event ? ": an event with key " : "",
			 event ? r->event->distribution->routing_key : "");
	assert_int_equal(r->pong->nonce, nonce);
	client_free_msg(r);
}

Fanout__V1__ServerMessage *expect_error(struct client *c, Fanout__V1__ErrorCode code)
{
	Fanout__V1__ServerMessage *m = recv_msg(c, 5000);

	if (m->body_case != FANOUT__V1__SERVER_MESSAGE__BODY_ERROR)
		fail_msg("expected an Error (code %d), got message case %d", code, m->body_case);
	if (m->error->code != code)
		fail_msg("expected error code %d, got %d: %s", code, m->error->code,
			 m->error->message);
	assert_true(strlen(m->error->message) > 0);
	return m;
}

long server_rss_anon_kib(pid_t pid)
{
	char path[64], line[256];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "RssAnon: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

int server_run_to_exit(const char *const *args)
{
	pid_t pid = fork();
	int st = 0;

	assert_true(pid >= 0);
	if (pid == 0) {
		execv(args[0], (char *const *)args);
		_exit(127);
	}
	for (int i = 0; i < 500; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		usleep(10 * 1000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	fail_msg("%s kept running (5 s)", args[0]);
	return -1;
}
