/* tools/fanout_shm_tail.c — fanout-shm-tail: reads a shared-memory ring (a ring file,
 * --ring, or one asked of fanoutd on its Unix socket, --topic [--socket]) through libfanout-shm and prints each event
 * as a JSON line, or (--count) only counts them and measures latency from the server's
 * receive time to now. Losses (a lapped reader past the journal, or the log's retention)
 * are printed in the stream where they happened. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/clock.h"
#include "shm/fanout_shm.h"
#include "admin/event_json.h"
#include "tools/latency_hist.h"

#define PATTERNS_MAX 64
#define ARENA_BYTES (4u << 20)	/* decoding a frame needs a few times its bytes */
#define PROGRESS_NS 1000000000LL
#define EXIT_USAGE 2

static volatile sig_atomic_t g_signal;

struct tail_opts {
	const char *ring, *socket, *topic;
	const char *patterns[PATTERNS_MAX];
	size_t npatterns;
	enum fanout_shm_start from;
	uint64_t ring_bytes, expect;
	double timeout_s;
	bool count, spin, quiet, expect_set;
};

struct tail {
	struct tail_opts o;
	struct fanout_shm *r;
	struct arena arena;
	struct latency_hist *interval, *total;
	uint64_t received, lost, interval_received;
	int64_t first_ns, last_ns, deadline_ns, next_progress_ns;
};

static void usage(FILE *f)
{
	fprintf(f,
"usage: fanout-shm-tail --topic T [--pattern P]... [--socket PATH] [options]\n"
"       fanout-shm-tail --ring PATH [options]\n"
"  --topic T, --pattern P  ask fanoutd for a ring of this subscription (Subscribe with\n"
"                        shm_ring_bytes) and read it; patterns repeat, none = everything\n"
"  --socket PATH         fanoutd's Unix socket for rings (its --shm-socket; default\n"
"                        " FANOUT_SHM_SOCKET_DEFAULT ")\n"
"  --ring PATH           read a ring file (one a program wrote with the ring writer;\n"
"                        fanoutd's rings are not files)\n"
"  --from first|latest   with --ring: from the ring's first record (what it no longer\n"
"                        holds comes back from the partition logs) or from now (default)\n"
"  --ring-bytes N        ring size to ask for (default 64 MiB)\n"
"  --spin                busy-spin instead of sleeping when idle (lowest latency, one core)\n"
"  --count               print no events: a progress line a second on stderr and a summary\n"
"                        JSON line on stdout at exit (rates, latency percentiles in us from\n"
"                        the server's receive time to the read, CLOCK_REALTIME)\n"
"  --expect N            exit after N events (1 if fewer arrived)\n"
"  --timeout SECONDS     stop after this long\n"
"  --quiet               nothing on stderr but errors\n"
"Lost events appear as {\"gap\":{...}} lines. Exit 0 when done or the ring was closed;\n"
"1 on an error, a dead writer or a missed --expect; 2 for bad arguments.\n");
}

static int parse_u64(const char *name, const char *s, uint64_t *out)
{
	char *end;

	errno = 0;
	*out = strtoull(s, &end, 10);
	if (s[0] == '-' || s[0] == '\0' || *end || errno) {
		fprintf(stderr, "fanout-shm-tail: %s: expected a non-negative integer, got '%s'\n",
			name, s);
		return -EINVAL;
	}
	return 0;
}

static int parse_opt(struct tail_opts *o, int opt, const char *arg)
{
	char *end;

	switch (opt) {
	case 'r': o->ring = arg; return 0;
	case 'S': o->socket = arg; return 0;
	case 'O':
		fprintf(stderr, "fanout-shm-tail: --server is gone: rings are asked for on "
			"fanoutd's Unix socket (--socket PATH, default " FANOUT_SHM_SOCKET_DEFAULT
			")\n");
		return -EINVAL;
	case 't': o->topic = arg; return 0;
	case 'p':
		if (o->npatterns == PATTERNS_MAX) {
			fprintf(stderr, "fanout-shm-tail: at most %d --pattern\n", PATTERNS_MAX);
			return -EINVAL;
		}
		o->patterns[o->npatterns++] = arg;
		return 0;
	case 'f':
		if (strcmp(arg, "first") && strcmp(arg, "latest")) {
			fprintf(stderr, "fanout-shm-tail: --from: expected first or latest, got '%s'\n",
				arg);
			return -EINVAL;
		}
		o->from = arg[0] == 'f' ? FANOUT_SHM_START_FIRST : FANOUT_SHM_START_LATEST;
		return 0;
	case 'b': return parse_u64("--ring-bytes", arg, &o->ring_bytes);
	case 'e': o->expect_set = true; return parse_u64("--expect", arg, &o->expect);
	case 'T':
		errno = 0;
		o->timeout_s = strtod(arg, &end);
		if (arg[0] == '\0' || *end || errno || !(o->timeout_s > 0) || o->timeout_s > 1e9) {
			fprintf(stderr, "fanout-shm-tail: --timeout: expected seconds > 0, got '%s'\n",
				arg);
			return -EINVAL;
		}
		return 0;
	case 'n': o->count = true; return 0;
	case 's': o->spin = true; return 0;
	case 'q': o->quiet = true; return 0;
	case 'h': usage(stdout); exit(0);
	default: return -EINVAL;
	}
}

static int parse_args(int argc, char **argv, struct tail_opts *o)
{
	static const struct option longopts[] = {
		{ "ring", required_argument, NULL, 'r' }, { "socket", required_argument, NULL, 'S' },
		{ "server", required_argument, NULL, 'O' },
		{ "topic", required_argument, NULL, 't' }, { "pattern", required_argument, NULL, 'p' },
		{ "from", required_argument, NULL, 'f' },
		{ "ring-bytes", required_argument, NULL, 'b' },
		{ "expect", required_argument, NULL, 'e' }, { "timeout", required_argument, NULL, 'T' },
		{ "count", no_argument, NULL, 'n' }, { "spin", no_argument, NULL, 's' },
		{ "quiet", no_argument, NULL, 'q' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	memset(o, 0, sizeof(*o));
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1)
		if (parse_opt(o, opt, optarg))
			goto err;
	if (optind < argc) {
		fprintf(stderr, "fanout-shm-tail: unexpected argument '%s'\n", argv[optind]);
		goto err;
	}
	if (!o->ring == !o->topic) {
		fprintf(stderr, "fanout-shm-tail: give exactly one of --ring and --topic\n");
		goto err;
	}
	if (o->ring && (o->socket || o->npatterns || o->ring_bytes)) {
		fprintf(stderr, "fanout-shm-tail: --socket, --pattern and --ring-bytes go with "
			"--topic, not --ring\n");
		goto err;
	}
	return 0;
err:
	fprintf(stderr, "try 'fanout-shm-tail --help'\n");
	return -EINVAL;
}

static int tail_open(struct tail *t)
{
	struct fanout_shm_opts o;
	char err[512] = "";
	int rc;

	fanout_shm_opts_init(&o);
	o.start = t->o.from;
	if (t->o.spin)
		o.spin_iterations = FANOUT_SHM_SPIN_FOREVER;
	if (t->o.ring) {
		rc = fanout_shm_open(&t->r, t->o.ring, &o, err, sizeof(err));
	} else {
		struct fanout_shm_attach_opts a = {
			.socket_path = t->o.socket, .topic = t->o.topic, .patterns = t->o.patterns,
			.npatterns = t->o.npatterns, .ring_bytes = t->o.ring_bytes,
			.client_name = "fanout-shm-tail",
		};

		rc = fanout_shm_attach(&t->r, &a, &o, err, sizeof(err));
	}
	if (rc < 0) {
		fprintf(stderr, "fanout-shm-tail: %s\n", err[0] ? err : fanout_shm_strerror(rc));
		return rc;
	}
	if (!t->o.quiet) {
		struct fanout_shm_info i;

		fanout_shm_get_info(t->r, &i);
		fprintf(stderr, "fanout-shm-tail: reading %s (topic %s, %u partitions, %" PRIu64
			" bytes, slot %u%s%s)\n", i.path, i.topic, i.partitions, i.capacity, i.slot,
			i.data_dir[0] ? ", recovery from " : ", no recovery", i.data_dir);
	}
	return 0;
}

/* A JSON line for the event, or nothing when the record turns out overwritten (it comes
 * again from the log). */
static void print_event(struct tail *t, const struct fanout_shm_record *rec)
{
	Fanout__V1__ServerMessage *m = fanout_shm_decode(rec, &t->arena.pb);
	bool heap = false;
	json_t *j = NULL;

	if (!m && t->arena.failed) {	/* a frame too large for the arena: rare, so malloc */
		m = fanout_shm_decode(rec, NULL);
		heap = true;
	}
	if (m && m->body_case == FANOUT__V1__SERVER_MESSAGE__BODY_EVENT)
		j = event_to_json(m->event);
	if (fanout_shm_validate(t->r, rec) == 0) {
		if (j) {
			json_dumpf(j, stdout, JSON_COMPACT | JSON_REAL_PRECISION(15));
			fputc('\n', stdout);
		} else {
			fprintf(stderr, "fanout-shm-tail: partition %u offset %" PRIu64
				" is not a printable event\n", rec->partition, rec->offset);
		}
	}
	json_decref(j);
	if (heap)
		fanout_shm_decode_free(m, NULL);
	arena_reset(&t->arena);
}

static void on_gap(struct tail *t, const struct fanout_shm_record *rec)
{
	t->lost += rec->lost;
	if (rec->flags & FANOUT_SHM_OFFSET_KNOWN)
		printf("{\"gap\":{\"lost\":%" PRIu64 ",\"partition\":%u,\"offset\":%" PRIu64 "}}\n",
		       rec->lost, rec->partition, rec->offset);
	else
		printf("{\"gap\":{\"lost\":%" PRIu64 ",\"offsets_known\":false}}\n", rec->lost);
	if (!t->o.quiet)
		fprintf(stderr, "fanout-shm-tail: %s\n", fanout_shm_errmsg(t->r));
}

static void on_event(struct tail *t, const struct fanout_shm_record *rec)
{
	int64_t now = clock_monotonic_ns();

	if (t->o.count) {
		latency_hist_record(t->interval, clock_realtime_ns() - (int64_t)rec->recv_ns);
		if (fanout_shm_validate(t->r, rec) < 0)
			return;
	} else {
		print_event(t, rec);
	}
	if (t->received++ == 0)
		t->first_ns = now;
	t->last_ns = now;
	t->interval_received++;
}

static double us(uint64_t ns)
{
	return (double)ns / 1000.0;
}

static void tail_progress(struct tail *t, int64_t now)
{
	const struct latency_hist *h = t->interval;
	double dt = (double)(now - t->next_progress_ns + PROGRESS_NS) / 1e9;
	struct fanout_shm_stats st;

	fanout_shm_get_stats(t->r, &st);
	if (t->o.count && !t->o.quiet)
		fprintf(stderr, "fanout-shm-tail: %.0f events/s, latency us p50 %.1f p99 %.1f "
			"p99.9 %.1f max %.1f, lag %" PRIu64 " (total %" PRIu64 ", recovered %" PRIu64
			", lost %" PRIu64 ")\n", (double)t->interval_received / dt,
			us(latency_hist_percentile(h, 50)), us(latency_hist_percentile(h, 99)),
			us(latency_hist_percentile(h, 99.9)), us(latency_hist_max(h)), st.lag_records,
			t->received, st.recovered, t->lost);
	latency_hist_merge(t->total, t->interval);
	latency_hist_reset(t->interval);
	t->interval_received = 0;
	t->next_progress_ns = now + PROGRESS_NS;
}

static void tail_summary(struct tail *t)
{
	const struct latency_hist *h = t->total;
	double secs = (double)(t->last_ns - t->first_ns) / 1e9;
	struct fanout_shm_stats st;

	fanout_shm_get_stats(t->r, &st);
	latency_hist_merge(t->total, t->interval);
	printf("{\"received\":%" PRIu64 ",\"seconds\":%.3f,\"events_per_s\":%.0f,"
	       "\"p50_us\":%.2f,\"p99_us\":%.2f,\"p999_us\":%.2f,\"max_us\":%.2f,"
	       "\"recovered\":%" PRIu64 ",\"lost\":%" PRIu64 ",\"torn\":%" PRIu64 "}\n",
	       t->received, secs, secs > 0 ? (double)t->received / secs : 0.0,
	       us(latency_hist_percentile(h, 50)), us(latency_hist_percentile(h, 99)),
	       us(latency_hist_percentile(h, 99.9)), us(latency_hist_max(h)), st.recovered,
	       t->lost, st.torn);
}

/* Reads until --expect, the timeout, a signal, or the ring ends (its error). */
static int tail_run(struct tail *t)
{
	struct fanout_shm_record rec;

	t->next_progress_ns = clock_monotonic_ns() + PROGRESS_NS;
	while (!g_signal && (!t->o.expect_set || t->received < t->o.expect)) {
		int64_t now = clock_monotonic_ns(), wait_ns;
		int rc;

		if (now >= t->next_progress_ns)
			tail_progress(t, now);
		if (t->deadline_ns >= 0 && now >= t->deadline_ns)
			return -ETIMEDOUT;
		wait_ns = t->next_progress_ns - now;
		if (t->deadline_ns >= 0 && t->deadline_ns - now < wait_ns)
			wait_ns = t->deadline_ns - now;
		rc = fanout_shm_next(t->r, &rec, wait_ns);
		if (rc == FANOUT_SHM_EVENT)
			on_event(t, &rec);
		else if (rc == FANOUT_SHM_GAP)
			on_gap(t, &rec);
		else if (rc < 0)
			return rc;
		else if (!t->o.count)
			fflush(stdout);	/* idle: printed lines reach a pipe now, not per 4 KiB */
	}
	return 0;
}

static int tail_status(struct tail *t, int rc)
{
	bool met = !t->o.expect_set || t->received >= t->o.expect;

	if (rc < 0 && rc != -ETIMEDOUT)
		fprintf(stderr, "fanout-shm-tail: %s\n", fanout_shm_errmsg(t->r)[0] ?
			fanout_shm_errmsg(t->r) : fanout_shm_strerror(rc));
	if (!met)
		fprintf(stderr, "fanout-shm-tail: received %" PRIu64 " of %" PRIu64 " events\n",
			t->received, t->o.expect);
	if (t->o.count)
		tail_summary(t);
	fflush(stdout);
	if (g_signal)
		return 128 + g_signal;
	if (!met || (rc < 0 && rc != -ETIMEDOUT && rc != -FANOUT_SHM_E_CLOSED))
		return 1;
	return 0;
}

static void on_signal(int sig)
{
	g_signal = sig;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal, .sa_flags = SA_RESETHAND };
	struct tail t = { 0 };
	int status = 1;

	if (parse_args(argc, argv, &t.o))
		return EXIT_USAGE;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	t.interval = malloc(sizeof(*t.interval));
	t.total = malloc(sizeof(*t.total));
	if (!t.interval || !t.total || arena_init(&t.arena, ARENA_BYTES)) {
		fprintf(stderr, "fanout-shm-tail: out of memory\n");
		goto out;
	}
	latency_hist_reset(t.interval);
	latency_hist_reset(t.total);
	if (tail_open(&t) < 0)
		goto out;
	t.deadline_ns = t.o.timeout_s > 0 ? clock_monotonic_ns() + (int64_t)(t.o.timeout_s * 1e9)
					  : -1;
	status = tail_status(&t, tail_run(&t));
out:
	fanout_shm_close(t.r);
	arena_free(&t.arena);
	free(t.interval);
	free(t.total);
	return status;
}
