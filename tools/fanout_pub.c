/* tools/fanout_pub.c — fanout-pub: publishes synthetic market data, or the events of a
 * JSONL file, in PublishBatch frames with a bounded window of unacknowledged batches, and
 * reports what the server acknowledged as one JSON line. With --producer it is an
 * idempotent producer: a lost connection is made again and the unacknowledged batches
 * are sent again (the server stores each once). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/arena.h"
#include "core/clock.h"
#include "tools/client.h"
#include "tools/synth.h"
#include "admin/event_json.h"

#define CONNECT_TIMEOUT_MS 5000
#define HELLO_TIMEOUT_MS 5000
/* No acknowledgement for this long with batches in flight: the server is stuck. */
#define ACK_STALL_NS (30 * 1000000000LL)
/* Longest wait inside the loop, so progress lines and Ctrl-C stay responsive. */
#define LOOP_WAIT_MS 1000
#define PROGRESS_NS 1000000000LL
/* Holds one batch of file events; a batch that does not fit is cut short. */
#define FILE_ARENA_BYTES (16u << 20)
/* Room for the PublishBatch and ClientMessage headers around the events. */
#define BATCH_OVERHEAD_BYTES 32
#define EXIT_USAGE 2
/* --producer: a batch refused for now (SEQUENCE_IN_FLIGHT, OUT_OF_ORDER, LOG_FULL, ...)
 * is sent again after this long (or the server's retry_after_ms); connecting again is
 * tried this often. */
#define RESEND_NS (50 * 1000000LL)
#define RECONNECT_NS (200 * 1000000LL)

static volatile sig_atomic_t g_stop;

struct pub_opts {
	const char *connect, *topic, *file;
	uint64_t count;
	double duration_s, rate;
	unsigned symbols, batch, window;
	bool quiet, count_set;
	const char *producer;		/* --producer ID */
	uint64_t epoch;
	double retry_s;			/* --retry-seconds */
};

struct inflight {
	uint64_t sequence;
	uint32_t events;
	uint8_t *frame;			/* --producer: the batch's bytes, to send again */
	size_t len, cap;
	bool resend;			/* refused for now: to be sent again */
	int64_t refused_ns;		/* when it was first refused for now, 0 = never */
};

struct pub {
	struct pub_opts o;
	struct client c;
	uint32_t server_max_frame;
	int64_t start_mono_ns, start_real_ns, end_mono_ns;	/* end -1: no --duration */
	Fanout__V1__Event **events;	/* the batch being built */
	struct synth_slot *slots;	/* synthetic mode: o.batch of them */
	uint8_t *frame;			/* the packed batch */
	size_t frame_cap;
	FILE *in;			/* file mode */
	const char *in_name;
	unsigned long line;
	struct arena arena;
	json_t *pending;		/* a parsed line that did not fit the last batch */
	unsigned long pending_line;
	char *linebuf;
	size_t linecap;
	bool eof, server_error;
	bool bad_input;			/* the input or the options are wrong: exit 2 */
	long pid;
	struct inflight *inflight;	/* o.window slots */
	unsigned n_inflight;
	uint64_t next_sequence, published, acked, errors, bytes;
	int64_t last_ack_mono_ns, next_progress_ns;
	uint64_t progress_acked;
	int64_t resend_at_ns;		/* > 0: batches marked resend go then */
	uint64_t reconnects, resent;
};


static void usage(FILE *f)
{
	fprintf(f,
"usage: fanout-pub [options]\n"
"  --connect HOST:PORT   server (default 127.0.0.1:7400), or a Unix socket path\n"
"  --topic T             topic (default market-data); with --file, only fills events\n"
"                        that have no distribution.topic\n"
"  --count N             events to publish (default 100000; with --file or --duration,\n"
"                        no limit unless given)\n"
"  --duration SECONDS    stop publishing after this long\n"
"  --rate EVENTS_PER_S   pace events at fixed intended times (0 = flat out, default);\n"
"                        timestamp_ns is the intended time, so late events show as latency\n"
"  --symbols N           distinct synthetic symbols (default 100)\n"
"  --batch N             events per PublishBatch (default 64)\n"
"  --window N            batches in flight before waiting for acks (default 32)\n"
"  --file EVENTS.jsonl   publish these events, one JSON object a line ('-' = stdin);\n"
"                        timestamp_ns 0 or absent becomes the send time\n"
"  --quiet               no progress lines on stderr\n"
"  --producer ID[:EPOCH] publish as an idempotent producer (Hello.producer_id, epoch\n"
"                        default 0): when the connection is lost, connect again and\n"
"                        send the unacknowledged batches again; the server stores\n"
"                        each batch once and answers a repeat with its first offsets.\n"
"                        A batch refused for now (LOG_FULL, RATE_LIMITED, ...) is\n"
"                        sent again, in order, for up to --retry-seconds\n"
"                        A new run with the same ID must use a higher EPOCH (its\n"
"                        sequences start again at 1)\n"
"  --retry-seconds S     with --producer: how long to keep connecting again after a\n"
"                        loss, or sending a refused batch again (default 30)\n"
"Prints {\"published\",\"acked\",\"errors\",\"seconds\",\"events_per_s\",\"avg_frame_bytes\"}\n"
"(with --producer also \"reconnects\" and \"resent\", batches sent again)\n"
"as one JSON line (avg_frame_bytes: PublishBatch bytes on the wire per event).\n"
"Exit 0 iff every event was acked and no Error came; 1 otherwise; 2 for bad arguments\n"
"or input; 128+signal when interrupted (after the acks of what was sent).\n");
}

static int parse_u64(const char *name, const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (s[0] == '-' || s[0] == '\0' || *end || errno || v < min || v > max) {
		fprintf(stderr, "fanout-pub: %s: expected an integer in %" PRIu64 "..%" PRIu64
			", got '%s'\n", name, min, max, s);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static int parse_double(const char *name, const char *s, double min, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (s[0] == '\0' || *end || errno || !(v >= min) || v > 1e15) {
		fprintf(stderr, "fanout-pub: %s: expected a number >= %g, got '%s'\n", name, min, s);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static int parse_opt(struct pub_opts *o, int opt, const char *arg)
{
	uint64_t v = 0;
	int rc = 0;

	switch (opt) {
	case 'C': o->connect = arg; break;
	case 't': o->topic = arg; break;
	case 'f': o->file = arg; break;
	case 'q': o->quiet = true; break;
	case 'n': rc = parse_u64("--count", arg, 0, UINT64_MAX, &o->count); o->count_set = true; break;
	case 'd': rc = parse_double("--duration", arg, 0.001, &o->duration_s); break;
	case 'r': rc = parse_double("--rate", arg, 0, &o->rate); break;
	case 's': rc = parse_u64("--symbols", arg, 1, 1000000, &v); o->symbols = (unsigned)v; break;
	case 'b': rc = parse_u64("--batch", arg, 1, 100000, &v); o->batch = (unsigned)v; break;
	case 'w': rc = parse_u64("--window", arg, 1, 4096, &v); o->window = (unsigned)v; break;
	case 'P': {
		const char *colon = strchr(arg, ':');

		o->producer = arg;
		if (colon) {	/* ID:EPOCH; the id is cut at the colon in main */
			rc = parse_u64("--producer's epoch", colon + 1, 0, UINT64_MAX, &o->epoch);
			if (colon == arg)
				rc = -EINVAL;
		}
		break;
	}
	case 'R': rc = parse_double("--retry-seconds", arg, 0, &o->retry_s); break;
	case 'h': usage(stdout); exit(0);
	default: rc = -EINVAL; break;
	}
	return rc;
}

static int parse_args(int argc, char **argv, struct pub_opts *o)
{
	static const struct option longopts[] = {
		{ "connect", required_argument, NULL, 'C' }, { "topic", required_argument, NULL, 't' },
		{ "count", required_argument, NULL, 'n' }, { "duration", required_argument, NULL, 'd' },
		{ "rate", required_argument, NULL, 'r' }, { "symbols", required_argument, NULL, 's' },
		{ "batch", required_argument, NULL, 'b' }, { "window", required_argument, NULL, 'w' },
		{ "file", required_argument, NULL, 'f' }, { "quiet", no_argument, NULL, 'q' },
		{ "producer", required_argument, NULL, 'P' },
		{ "retry-seconds", required_argument, NULL, 'R' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	int opt;

	*o = (struct pub_opts){ .connect = "127.0.0.1:7400", .topic = "market-data",
				.count = 100000, .symbols = 100, .batch = 64, .window = 32,
				.retry_s = 30 };
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1)
		if (parse_opt(o, opt, optarg))
			goto err;
	if (optind < argc) {
		fprintf(stderr, "fanout-pub: unexpected argument '%s'\n", argv[optind]);
		goto err;
	}
	/* A run bounded by time or by a file has no event limit unless asked for one. */
	if (!o->count_set && (o->duration_s > 0 || o->file))
		o->count = UINT64_MAX;
	return 0;
err:
	fprintf(stderr, "try 'fanout-pub --help'\n");
	return -EINVAL;
}

/* ---- synthetic events --------------------------------------------------------------- */

static int pub_synth_init(struct pub *p)
{
	p->slots = calloc(p->o.batch, sizeof(*p->slots));
	if (!p->slots)
		return -ENOMEM;
	for (unsigned k = 0; k < p->o.batch; k++) {
		synth_init(&p->slots[k], p->o.topic, "fanout-pub");
		p->events[k] = &p->slots[k].ev;
	}
	return 0;
}

/* Intended send time of event i, as an offset from the start. */
static int64_t intended_offset_ns(const struct pub *p, uint64_t i)
{
	return p->o.rate > 0 ? (int64_t)((double)i * 1e9 / p->o.rate) : 0;
}

static void pub_synth_fill(struct pub *p, struct synth_slot *s, uint64_t i)
{
	/* At a fixed rate the intended time, so queueing in this process counts as latency
	 * (no coordinated omission); flat out there is no schedule, so now. */
	s->ev.timestamp_ns = p->o.rate > 0 ? p->start_real_ns + intended_offset_ns(p, i)
					  : clock_realtime_ns();
	snprintf(s->event_id, sizeof(s->event_id), "%ld-%" PRIu64, p->pid, i);
	synth_fill(s, i, p->o.symbols);
}

/* ---- file events -------------------------------------------------------------------- */

/* Reads the next non-blank line as JSON. Returns 1 with *out, 0 at end of input, or
 * -EINVAL after printing where the input is wrong. */
static int file_next_json(struct pub *p, json_t **out, unsigned long *line)
{
	json_error_t jerr;
	ssize_t n;

	if (p->pending) {
		*out = p->pending;
		*line = p->pending_line;
		p->pending = NULL;
		return 1;
	}
	for (;;) {
		n = getline(&p->linebuf, &p->linecap, p->in);
		if (n < 0) {
			if (ferror(p->in)) {
				fprintf(stderr, "fanout-pub: %s: read error\n", p->in_name);
				p->bad_input = true;
				return -EIO;
			}
			return 0;
		}
		p->line++;
		if (strspn(p->linebuf, " \t\r\n") == (size_t)n)
			continue;
		*out = json_loadb(p->linebuf, (size_t)n, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
		*line = p->line;
		if (*out)
			return 1;
		fprintf(stderr, "fanout-pub: %s:%lu:%d: %s\n", p->in_name, p->line, jerr.column,
			jerr.text);
		p->bad_input = true;
		return -EINVAL;
	}
}

/* The defaults --help promises for file events: the topic and the send time. */
static int file_defaults(struct pub *p, Fanout__V1__Event *ev)
{
	if (!ev->distribution) {
		ev->distribution = arena_alloc(&p->arena, sizeof(*ev->distribution));
		if (!ev->distribution)
			return -ENOMEM;
		fanout__v1__distribution__init(ev->distribution);
	}
	if (!ev->distribution->topic || !ev->distribution->topic[0])
		ev->distribution->topic = (char *)p->o.topic;
	if (ev->timestamp_ns == 0)
		ev->timestamp_ns = clock_realtime_ns();
	return 0;
}

/* Converts one line into an event of the batch. Returns 1 when it was added, 0 when it
 * does not fit this batch (kept for the next), or -errno after printing why. */
static int file_add(struct pub *p, json_t *j, unsigned long line, size_t n, size_t *bytes)
{
	Fanout__V1__Event *ev = arena_alloc(&p->arena, sizeof(*ev));
	char err[256];
	size_t size;
	int rc = ev ? event_from_json(j, ev, &p->arena, err, sizeof(err)) : -ENOMEM;

	if (rc == 0)
		rc = file_defaults(p, ev);
	if (rc == -ENOMEM && n > 0)
		goto later;
	if (rc) {
		fprintf(stderr, "fanout-pub: %s:%lu: %s\n", p->in_name, line,
			rc == -ENOMEM ? "event too large" : err);
		p->bad_input = true;
		return -EINVAL;
	}
	/* A tag and a length varint frame each event inside the batch. */
	size = fanout__v1__event__get_packed_size(ev) + 1 + FRAME_PREFIX_MAX;
	if (n > 0 && *bytes + size > p->server_max_frame)
		goto later;
	*bytes += size;
	p->events[n] = ev;
	json_decref(j);
	return 1;
later:
	p->pending = j;
	p->pending_line = line;
	return 0;
}

/* Fills up to want events from the file. Returns how many, or -errno. */
static int file_fill(struct pub *p, size_t want)
{
	size_t n = 0, bytes = BATCH_OVERHEAD_BYTES;
	unsigned long line;
	json_t *j;
	int rc;

	arena_reset(&p->arena);
	while (n < want) {
		rc = file_next_json(p, &j, &line);
		if (rc == 0)
			p->eof = true;
		if (rc <= 0)
			return rc < 0 ? rc : (int)n;
		rc = file_add(p, j, line, n, &bytes);
		if (rc < 0) {
			json_decref(j);
			return rc;
		}
		if (rc == 0)
			break;
		n++;
	}
	return (int)n;
}

/* ---- the conversation --------------------------------------------------------------- */

static void print_server_error(const Fanout__V1__Error *e)
{
	const ProtobufCEnumValue *v =
		protobuf_c_enum_descriptor_get_value(&fanout__v1__error_code__descriptor, (int)e->code);

	fprintf(stderr, "fanout-pub: server error %s: %s (sequence %" PRIu64 "%s)\n",
		v ? v->name : "ERROR_CODE_?", e->message, e->sequence,
		e->closing ? ", connection closing" : "");
}

/* --producer: batch sequence was refused for now; it goes again (with what follows it:
 * the server holds those, OUT_OF_ORDER) after delay_ns. False when it is not in
 * flight, or has been refused for longer than --retry-seconds (then it is an error). */
static bool inflight_mark_resend(struct pub *p, uint64_t sequence, int64_t delay_ns)
{
	int64_t now = clock_monotonic_ns();

	for (unsigned k = 0; k < p->n_inflight; k++) {
		struct inflight *f = &p->inflight[k];

		if (f->sequence != sequence)
			continue;
		if (!f->refused_ns)
			f->refused_ns = now;
		else if (now - f->refused_ns > (int64_t)(p->o.retry_s * 1e9))
			return false;
		f->resend = true;
		if (p->resend_at_ns < now + delay_ns)
			p->resend_at_ns = now + delay_ns;
		p->last_ack_mono_ns = now;	/* an answer: the server is there */
		return true;
	}
	return false;
}

/* Whether an Error for a batch of a --producer means "send it again" (the server may
 * store it then; it holds the later ones meanwhile). */
static bool refused_for_now(Fanout__V1__ErrorCode code)
{
	switch (code) {
	case FANOUT__V1__ERROR_CODE__ERROR_CODE_SEQUENCE_IN_FLIGHT:
	case FANOUT__V1__ERROR_CODE__ERROR_CODE_OUT_OF_ORDER:
	case FANOUT__V1__ERROR_CODE__ERROR_CODE_LOG_FULL:
	case FANOUT__V1__ERROR_CODE__ERROR_CODE_RATE_LIMITED:
	case FANOUT__V1__ERROR_CODE__ERROR_CODE_RESOURCE_EXHAUSTED:
	case FANOUT__V1__ERROR_CODE__ERROR_CODE_INTERNAL:
		return true;
	default:
		return false;
	}
}

/* In-flight batches stay in sequence order (sent again in that order). */
static void inflight_remove(struct pub *p, uint64_t sequence, uint64_t acked_events)
{
	for (unsigned k = 0; k < p->n_inflight; k++) {
		struct inflight gone = p->inflight[k];

		if (gone.sequence != sequence)
			continue;
		if (acked_events != UINT64_MAX && acked_events != gone.events)
			fprintf(stderr, "fanout-pub: ack for batch %" PRIu64 " covers %" PRIu64
				" of its %u events\n", sequence, acked_events, gone.events);
		memmove(&p->inflight[k], &p->inflight[k + 1],
			(p->n_inflight - k - 1) * sizeof(p->inflight[0]));
		p->inflight[--p->n_inflight] = gone;	/* its buffer, for reuse */
		p->inflight[p->n_inflight].sequence = 0;
		return;
	}
	if (acked_events != UINT64_MAX)
		fprintf(stderr, "fanout-pub: ack for unknown batch %" PRIu64 "\n", sequence);
}

static void on_message(struct pub *p, const Fanout__V1__ServerMessage *m)
{
	switch (m->body_case) {
	case FANOUT__V1__SERVER_MESSAGE__BODY_PUBLISH_ACK: {
		const Fanout__V1__PublishAck *a = m->publish_ack;
		size_t stored = 0;

		for (size_t i = 0; i < a->n_offsets; i++)
			stored += a->offsets[i] != UINT64_MAX;
		/* Some events not appended (LOG_FULL follows): the producer's record keeps
		 * them missing, and sending the batch again stores just those. */
		if (p->o.producer && stored < a->n_offsets &&
		    inflight_mark_resend(p, a->sequence, RESEND_NS))
			break;
		p->acked += m->publish_ack->n_offsets;
		p->last_ack_mono_ns = clock_monotonic_ns();
		inflight_remove(p, m->publish_ack->sequence, m->publish_ack->n_offsets);
		break;
	}
	case FANOUT__V1__SERVER_MESSAGE__BODY_ERROR:
		if (p->o.producer && refused_for_now(m->error->code) &&
		    inflight_mark_resend(p, m->error->sequence,
					 m->error->retry_after_ms ?
					 (int64_t)m->error->retry_after_ms * 1000000 : RESEND_NS))
			break;	/* again shortly, in order */
		p->errors++;
		p->server_error = true;
		print_server_error(m->error);
		inflight_remove(p, m->error->sequence, UINT64_MAX);
		break;
	default:	/* HelloResult, Pong: nothing to do */
		break;
	}
}

/* Handles the next server message, waiting up to timeout_ms. -ETIMEDOUT is normal. */
static int pub_recv(struct pub *p, int timeout_ms)
{
	Fanout__V1__ServerMessage *m;
	int rc = client_recv(&p->c, &m, timeout_ms);

	if (rc)
		return rc;
	on_message(p, m);
	client_free_msg(m);
	return 0;
}

static int pub_hello(struct pub *p)
{
	Fanout__V1__Hello h = FANOUT__V1__HELLO__INIT;
	Fanout__V1__ServerMessage *r;
	int rc;

	h.protocol_version = 1;
	h.client_name = "fanout-pub";
	h.producer_id = (char *)(p->o.producer ? p->o.producer : "");
	h.producer_epoch = p->o.epoch;
	rc = client_hello_msg(&p->c, &h, HELLO_TIMEOUT_MS, &r);

	if (!r) {
		fprintf(stderr, "fanout-pub: no HelloResult: %s\n", strerror(-rc));
		return rc;
	}
	if (rc == 0) {
		if (r->hello->max_frame_bytes)
			p->server_max_frame = r->hello->max_frame_bytes;
	} else {
		if (r->body_case != FANOUT__V1__SERVER_MESSAGE__BODY_ERROR)
			fprintf(stderr, "fanout-pub: unexpected reply to Hello\n");
		on_message(p, r);
	}
	client_free_msg(r);
	return rc;
}

/* Packs events[0..n) as the next batch and sends it. */
static int pub_send(struct pub *p, size_t n)
{
	Fanout__V1__PublishBatch b = FANOUT__V1__PUBLISH_BATCH__INIT;
	Fanout__V1__ClientMessage m = FANOUT__V1__CLIENT_MESSAGE__INIT;
	size_t len;

	b.sequence = p->next_sequence++;
	b.n_events = n;
	b.events = p->events;
	m.body_case = FANOUT__V1__CLIENT_MESSAGE__BODY_PUBLISH;
	m.publish = &b;
	/* Packed here rather than by client_publish to count the bytes on the wire. */
	len = frame_packed_size(&m.base);
	if (len > (size_t)p->server_max_frame + FRAME_PREFIX_MAX) {
		fprintf(stderr, "fanout-pub: a batch of %zu events is %zu bytes, over the server's "
			"%u-byte frame limit; lower --batch\n", n, len, p->server_max_frame);
		p->bad_input = true;
		return -EINVAL;
	}
	if (len > p->frame_cap) {
		uint8_t *f = realloc(p->frame, len);

		if (!f)
			return -ENOMEM;
		p->frame = f;
		p->frame_cap = len;
	}
	frame_pack(&m.base, p->frame);
	if (p->o.producer) {	/* kept until acked: a lost connection sends it again */
		struct inflight *f = &p->inflight[p->n_inflight];

		if (len > f->cap) {
			uint8_t *g = realloc(f->frame, len);

			if (!g)
				return -ENOMEM;
			f->frame = g;
			f->cap = len;
		}
		memcpy(f->frame, p->frame, len);
		f->len = len;
	}
	p->inflight[p->n_inflight].sequence = b.sequence;
	p->inflight[p->n_inflight].events = (uint32_t)n;
	p->inflight[p->n_inflight].refused_ns = 0;
	p->inflight[p->n_inflight++].resend = false;
	p->published += n;
	p->bytes += len;
	return client_send_raw(&p->c, p->frame, len);
}

/* --producer: whether the batches refused for now go again: their delay is over and
 * every batch in flight has its answer (all are then marked: the server refused those
 * behind a refused one too), so none sent after one of them is answered after it is
 * sent again, and the resend keeps their order. */
static bool pub_resend_due(const struct pub *p, int64_t now)
{
	if (!p->resend_at_ns || now < p->resend_at_ns)
		return false;
	for (unsigned k = 0; k < p->n_inflight; k++)
		if (!p->inflight[k].resend)
			return false;
	return true;
}

/* --producer: sends the in-flight batches again, in order (all of them, or those
 * marked resend). */
static int pub_resend(struct pub *p, bool all)
{
	for (unsigned k = 0; k < p->n_inflight; k++) {
		struct inflight *f = &p->inflight[k];
		int rc;

		if (!all && !f->resend)
			continue;
		f->resend = false;
		rc = client_send_raw(&p->c, f->frame, f->len);
		if (rc)
			return rc;
		p->resent++;
	}
	p->resend_at_ns = 0;
	return 0;
}

/* How many events are due now (at most one batch); when none, *wait_ns until the next. */
static size_t pub_due(const struct pub *p, int64_t *wait_ns)
{
	uint64_t left = p->o.count - p->published, due;
	int64_t elapsed;

	*wait_ns = 0;
	if (p->o.rate <= 0)
		due = left;
	else {
		elapsed = clock_monotonic_ns() - p->start_mono_ns;
		/* Events 0..k are due when k / rate <= elapsed; never skip, so fall behind
		 * gracefully: everything overdue goes out in full batches. */
		due = (uint64_t)((double)elapsed * p->o.rate / 1e9) + 1;
		due = due > p->published ? due - p->published : 0;
		if (due > left)
			due = left;
		*wait_ns = p->start_mono_ns + intended_offset_ns(p, p->published) -
			   clock_monotonic_ns();
	}
	return due < p->o.batch ? (size_t)due : p->o.batch;
}

static bool pub_more(const struct pub *p)
{
	if (g_stop || p->server_error || p->eof || p->published >= p->o.count)
		return false;
	return p->end_mono_ns < 0 || clock_monotonic_ns() < p->end_mono_ns;
}

/* Builds and sends the next n due events. Returns 0 or -errno (-EINVAL: bad input). */
static int pub_send_due(struct pub *p, size_t n)
{
	int got;

	if (p->in) {
		got = file_fill(p, n);
		if (got <= 0)
			return got;
		n = (size_t)got;
	} else {
		for (size_t k = 0; k < n; k++)
			pub_synth_fill(p, &p->slots[k], p->published + k);
	}
	return pub_send(p, n);
}

static void pub_progress(struct pub *p, int64_t now)
{
	double dt = (double)(now - p->next_progress_ns + PROGRESS_NS) / 1e9;

	if (!p->o.quiet)
		fprintf(stderr, "fanout-pub: %" PRIu64 " published, %" PRIu64 " acked, %.0f events/s\n",
			p->published, p->acked, (double)(p->acked - p->progress_acked) / dt);
	p->progress_acked = p->acked;
	p->next_progress_ns = now + PROGRESS_NS;
}

/* Waits for the next message, or for the next event to fall due. */
static int pub_wait(struct pub *p, bool want_send, int64_t due_in_ns)
{
	int64_t now = clock_monotonic_ns();
	int ms = LOOP_WAIT_MS;
	struct timespec nap;
	int rc;

	if (want_send) {
		if (due_in_ns < 1000000) {
			/* Sub-millisecond: poll's resolution is too coarse. What has
			 * arrived is taken first (a refusal may stop the send). */
			while ((rc = pub_recv(p, 0)) == 0)
				;
			if (rc != -ETIMEDOUT)
				return rc;
			nap = (struct timespec){ 0, (long)(due_in_ns > 0 ? due_in_ns : 0) };
			nanosleep(&nap, NULL);
			return 0;
		}
		if (due_in_ns / 1000000 < ms)
			ms = (int)(due_in_ns / 1000000);
	}
	rc = pub_recv(p, ms);
	if (rc != -ETIMEDOUT)
		return rc;
	if (p->n_inflight && now - p->last_ack_mono_ns > ACK_STALL_NS) {
		fprintf(stderr, "fanout-pub: no answer for %lld s\n",
			(long long)(ACK_STALL_NS / 1000000000));
		return -ETIMEDOUT;
	}
	return 0;
}

static void pub_start(struct pub *p)
{
	p->start_mono_ns = clock_monotonic_ns();
	p->start_real_ns = clock_realtime_ns();
	p->last_ack_mono_ns = p->start_mono_ns;
	p->next_progress_ns = p->start_mono_ns + PROGRESS_NS;
	p->end_mono_ns = p->o.duration_s > 0 ? p->start_mono_ns + (int64_t)(p->o.duration_s * 1e9) : -1;
}

static int pub_run(struct pub *p)
{
	int64_t due_in_ns = 0;
	bool more, room;
	size_t n;
	int rc;

	for (;;) {
		int64_t now = clock_monotonic_ns();

		if (now >= p->next_progress_ns)
			pub_progress(p, now);
		if (pub_resend_due(p, now) && (rc = pub_resend(p, false)))
			return rc;
		if (p->server_error)
			return 0;	/* stop at the first Error; main reports it */
		more = pub_more(p);
		if (!more && p->n_inflight == 0)
			return 0;
		/* Nothing new while a batch waits to be sent again: the server remembers a
		 * producer's newest batches, and that one must stay among them. */
		room = more && p->n_inflight < p->o.window && !p->resend_at_ns;
		if (room && (n = pub_due(p, &due_in_ns)) > 0) {
			rc = pub_send_due(p, n);
			if (rc)
				return rc;
			/* Collect acks already here without a syscall per batch: the receive
			 * buffer is looked at first, the socket only when it is empty. */
			while ((rc = pub_recv(p, 0)) == 0)
				;
			if (rc != -ETIMEDOUT)
				return rc;
			continue;
		}
		if (p->resend_at_ns > now && (!room || due_in_ns > p->resend_at_ns - now)) {
			room = true;	/* wake for the resend (past it: answers awaited) */
			due_in_ns = p->resend_at_ns - now;
		}
		rc = pub_wait(p, room, due_in_ns);
		if (rc)
			return rc;
	}
}

/* --producer: the connection was lost (rc): connects again (for up to --retry-seconds),
 * says Hello as the same producer and sends every unacknowledged batch again. Returns 0,
 * or rc when giving up. */
static int pub_reconnect(struct pub *p, int rc)
{
	int64_t give_up = clock_monotonic_ns() + (int64_t)(p->o.retry_s * 1e9);

	fprintf(stderr, "fanout-pub: connection lost (%s) with %u batches unacknowledged; "
		"connecting again\n", strerror(-rc), p->n_inflight);
	for (;;) {
		struct timespec nap = { 0, RECONNECT_NS };

		client_close(&p->c);
		if (g_stop || clock_monotonic_ns() >= give_up)
			return rc;
		if (client_connect(&p->c, p->o.connect, CONNECT_TIMEOUT_MS) == 0 &&
		    pub_hello(p) == 0 && pub_resend(p, true) == 0) {
			p->reconnects++;
			p->last_ack_mono_ns = clock_monotonic_ns();
			return 0;
		}
		if (p->server_error)	/* Hello refused (fenced, bad id): final */
			return -EPROTO;
		nanosleep(&nap, NULL);
	}
}

static void pub_report(const struct pub *p)
{
	double s = (double)(clock_monotonic_ns() - p->start_mono_ns) / 1e9;

	printf("{\"published\":%" PRIu64 ",\"acked\":%" PRIu64 ",\"errors\":%" PRIu64
	       ",\"seconds\":%.3f,\"events_per_s\":%.0f,\"avg_frame_bytes\":%.1f",
	       p->published, p->acked, p->errors, s, s > 0 ? (double)p->acked / s : 0.0,
	       p->published ? (double)p->bytes / (double)p->published : 0.0);
	if (p->o.producer)
		printf(",\"reconnects\":%" PRIu64 ",\"resent\":%" PRIu64, p->reconnects,
		       p->resent);
	printf("}\n");
	fflush(stdout);
}

static void on_signal(int sig)
{
	g_stop = sig;
}

/* Allocates everything the run needs, so the run itself does not. */
static int pub_setup(struct pub *p)
{
	struct sigaction sa = { .sa_handler = on_signal, .sa_flags = SA_RESETHAND };

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	p->server_max_frame = FRAME_BYTES_DEFAULT;
	p->pid = (long)getpid();	/* not cached by glibc: a syscall per call */
	p->next_sequence = 1;	/* 0 would read as "no sequence" in an Error */
	p->events = calloc(p->o.batch, sizeof(*p->events));
	p->inflight = calloc(p->o.window, sizeof(*p->inflight));
	if (!p->events || !p->inflight)
		return -ENOMEM;
	if (!p->o.file)
		return pub_synth_init(p);
	p->in_name = strcmp(p->o.file, "-") ? p->o.file : "<stdin>";
	p->in = strcmp(p->o.file, "-") ? fopen(p->o.file, "r") : stdin;
	if (!p->in) {
		fprintf(stderr, "fanout-pub: %s: %s\n", p->o.file, strerror(errno));
		return -EINVAL;
	}
	return arena_init(&p->arena, FILE_ARENA_BYTES);
}

static void pub_teardown(struct pub *p)
{
	client_close(&p->c);
	if (p->in && p->in != stdin)
		fclose(p->in);
	json_decref(p->pending);
	arena_free(&p->arena);
	free(p->linebuf);
	free(p->frame);
	free(p->slots);
	free(p->events);
	for (unsigned k = 0; p->inflight && k < p->o.window; k++)
		free(p->inflight[k].frame);
	free(p->inflight);
}

int main(int argc, char **argv)
{
	struct pub p = { 0 };
	int rc, status = 1;

	p.c.fd = -1;
	if (parse_args(argc, argv, &p.o))
		return EXIT_USAGE;
	rc = pub_setup(&p);
	if (rc) {
		status = rc == -EINVAL ? EXIT_USAGE : 1;
		goto out;
	}
	rc = client_connect(&p.c, p.o.connect, CONNECT_TIMEOUT_MS);
	if (rc) {
		fprintf(stderr, "fanout-pub: connect %s: %s\n", p.o.connect,
			rc == -EINVAL ? "expected HOST:PORT or [IPv6]:PORT" : strerror(-rc));
		goto out;
	}
	if (p.o.producer)	/* ID[:EPOCH]: the id alone from here on */
		((char *)p.o.producer)[strcspn(p.o.producer, ":")] = '\0';
	rc = pub_hello(&p);
	if (rc == 0) {
		pub_start(&p);
		rc = pub_run(&p);
		/* A lost connection (not an Error, not a stall): again, as the producer. */
		while (rc && rc != -EPROTO && rc != -EINVAL && rc != -ETIMEDOUT && !p.bad_input &&
		       p.o.producer && !g_stop && (rc = pub_reconnect(&p, rc)) == 0)
			rc = pub_run(&p);
		if (p.bad_input) {
			status = EXIT_USAGE;	/* the message is printed */
			goto out;
		}
		if (rc && rc != -EPROTO)
			fprintf(stderr, "fanout-pub: connection: %s\n", strerror(-rc));
	}
	pub_report(&p);
	if (g_stop)
		status = 128 + g_stop;
	else if (rc == 0 && !p.server_error && p.acked == p.published)
		status = 0;
out:
	pub_teardown(&p);
	return status;
}
