/* tools/fanout_sub.c — fanout-sub: subscribes to a topic and prints each event as a JSON
 * line, or (--count) only counts them and measures end-to-end latency. Either way it
 * checks that offsets only grow within each partition. Frames are decoded into an arena
 * reset per frame, so the counting path does not allocate. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/clock.h"
#include "admin/path.h"
#include "tools/client.h"
#include "admin/event_json.h"
#include "tools/latency_hist.h"

/* The most partitions a topic has (core/topic.h TOPIC_PARTITIONS_MAX): --from's list. */
#define FROM_PARTITIONS_MAX 1024

#define CONNECT_TIMEOUT_MS 5000
#define HELLO_TIMEOUT_MS 5000
#define PATTERNS_MAX 64
/* Partitions tracked for offset order; an event beyond this is a protocol error. */
#define PARTITIONS_MAX 65536u
/* Decoding needs a few times the frame's bytes; a rare larger frame falls back to malloc. */
#define ARENA_BYTES (4u << 20)
/* Room for what the server adds to a published event (partition, offset, times). */
#define FRAME_SLACK_BYTES 4096u
#define PROGRESS_NS 1000000000LL
#define LOOP_WAIT_MS 1000
#define DISORDER_REPORTS_MAX 10
#define EXIT_USAGE 2
#define FILTER_VALUES_MAX 256	/* per repeatable filter flag */

static volatile sig_atomic_t g_signal;

/* One repeatable string condition of the filter (--symbol, --exchange, ...). */
struct sub_list {
	char *v[FILTER_VALUES_MAX];
	size_t n;
};

struct sub_opts {
	const char *connect, *topic;
	const char *patterns[PATTERNS_MAX];
	size_t npatterns;
	struct sub_list symbols, exchanges, currencies, actions, order_ids, portfolio_ids;
	Fanout__V1__DataType data_types[4];
	size_t ndata_types;
	Fanout__V1__Bound min_price, max_price, min_volume, min_confidence;
	bool has_min_price, has_max_price, has_min_volume, has_min_confidence;
	bool snapshot;
	Fanout__V1__StartPosition start;
	uint64_t start_offset, expect;
	uint64_t start_offsets[FROM_PARTITIONS_MAX];	/* --from A,B,...: partition p's */
	int64_t start_time_ns;				/* --from time:T */
	size_t nstart_offsets;
	double timeout_s;
	bool count, quiet, expect_set;
	const char *name;			/* --name: a durable subscription */
	Fanout__V1__SubscriptionType type;	/* --type */
	uint32_t ack_timeout_ms;		/* --ack-timeout */
};

#define REDO_RANGES 256u	/* Redelivery ranges remembered for the order check */

struct redo_range {
	uint32_t partition;
	uint64_t first, end;
};

struct sub {
	struct sub_opts o;
	struct client c;
	struct arena arena;
	struct latency_hist *interval, *total;	/* this second's latencies; all before it */
	uint64_t *next_min;	/* per partition: the smallest offset still in order */
	uint32_t n_partitions;
	uint64_t received, out_of_order, interval_received, redelivered;
	struct redo_range redo[REDO_RANGES];	/* the last Redeliveries (a ring) */
	uint32_t nredo;
	int64_t first_ns, last_ns, deadline_ns, next_progress_ns;	/* monotonic */
};

static void usage(FILE *f)
{
	fprintf(f,
"usage: fanout-sub --topic T [options]\n"
"  --connect HOST:PORT       server (default 127.0.0.1:7400), or a Unix socket path\n"
"                            (fanoutd's --shm-socket speaks the same protocol)\n"
"  --topic T                 topic to subscribe to (required)\n"
"  --pattern P               routing-key pattern; repeat for more (default: everything)\n"
"  --from earliest|latest|OFFSET   where to start in every partition (default latest)\n"
"  --from time:T             in each partition, from the first event received at or\n"
"                            after T (RFC 3339; a date: its midnight UTC; or ns\n"
"                            since the epoch)\n"
"  --from OFF0,OFF1,...      partition p starts at OFFp (resuming where a consumer\n"
"                            stopped: 1 + the last offset it had from each)\n"
"  --snapshot                first the newest event of each matching key, then live\n"
"  --name NAME               a durable (named) subscription: resumed after its last\n"
"                            Ack; each event is acked once printed (or counted)\n"
"  --type exclusive|failover|shared|key_shared   how its consumers share it\n"
"                            (default exclusive; shared ones are acked one by one)\n"
"  --ack-timeout MS          shared, key_shared: an event unacked this long is sent\n"
"                            again (to this consumer or another)\n"
"Content filter (all given conditions must hold; list flags repeat):\n"
"  --symbol S, --exchange E, --currency C, --action A, --order-id ID,\n"
"  --portfolio-id ID (executions only)\n"
"  --data-type market_data|coordination_decision|execution\n"
"  --min-price X, --max-price X, --min-volume X, --min-confidence X\n"
"  --count                   print no events; a progress line a second on stderr and a\n"
"                            summary JSON line on stdout at exit\n"
"  --expect N                exit after N events (0 if in order, 1 if any out of order)\n"
"  --timeout SECONDS         stop after this long; with --expect, 1 if N did not arrive\n"
"  --quiet                   nothing on stderr but errors\n"
"The summary: received, seconds and events_per_s (first to last event), latency\n"
"percentiles in microseconds (now - event.timestamp_ns, CLOCK_REALTIME), out_of_order,\n"
"redelivered (events a Redelivery said are sent again).\n"
"Exit 1 on a server Error or a lost connection; 2 for bad arguments; 128+signal when\n"
"interrupted.\n");
}

static int parse_u64(const char *name, const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (s[0] == '-' || s[0] == '\0' || *end || errno) {
		fprintf(stderr, "fanout-sub: %s: expected a non-negative integer, got '%s'\n", name, s);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

/* "A,B,C": one start offset per partition, from partition 0. */
static int parse_from_list(struct sub_opts *o, const char *s)
{
	char buf[32];

	o->nstart_offsets = 0;
	for (;;) {
		size_t n = strcspn(s, ",");

		if (n == 0 || n >= sizeof(buf) || o->nstart_offsets == FROM_PARTITIONS_MAX) {
			fprintf(stderr, "fanout-sub: --from: a list of up to %d offsets, one per "
				"partition, comma-separated\n", FROM_PARTITIONS_MAX);
			return -EINVAL;
		}
		memcpy(buf, s, n);
		buf[n] = '\0';
		if (parse_u64("--from (an offset in the list)", buf,
			      &o->start_offsets[o->nstart_offsets]) < 0)
			return -EINVAL;
		o->nstart_offsets++;
		if (s[n] == '\0')
			break;
		s += n + 1;
	}
	o->start = FANOUT__V1__START_POSITION__START_POSITION_OFFSET;
	return 0;
}

static int parse_from(struct sub_opts *o, const char *s)
{
	o->start_time_ns = 0;	/* the last --from wins whole */
	o->nstart_offsets = 0;
	if (strncmp(s, "time:", 5) == 0) {	/* RFC 3339, a date, or ns since the epoch */
		if (time_parse(s + 5, &o->start_time_ns) < 0 || o->start_time_ns <= 0) {
			fprintf(stderr, "fanout-sub: --from time:T: T is an RFC 3339 time "
				"(2026-12-05T09:30:00Z), a date or ns since the epoch\n");
			return -EINVAL;
		}
		o->start = FANOUT__V1__START_POSITION__START_POSITION_TIMESTAMP;
	} else if (strcmp(s, "earliest") == 0)
		o->start = FANOUT__V1__START_POSITION__START_POSITION_EARLIEST;
	else if (strcmp(s, "latest") == 0)
		o->start = FANOUT__V1__START_POSITION__START_POSITION_LATEST;
	else if (strchr(s, ','))
		return parse_from_list(o, s);
	else if (parse_u64("--from (earliest, latest or an offset)", s, &o->start_offset) == 0)
		o->start = FANOUT__V1__START_POSITION__START_POSITION_OFFSET;
	else
		return -EINVAL;
	return 0;
}

static int parse_timeout(struct sub_opts *o, const char *s)
{
	char *end;

	errno = 0;
	o->timeout_s = strtod(s, &end);
	if (s[0] == '\0' || *end || errno || !(o->timeout_s > 0) || o->timeout_s > 1e9) {
		fprintf(stderr, "fanout-sub: --timeout: expected seconds > 0, got '%s'\n", s);
		return -EINVAL;
	}
	return 0;
}

static int parse_list(struct sub_list *l, const char *flag, const char *arg)
{
	if (l->n == FILTER_VALUES_MAX) {
		fprintf(stderr, "fanout-sub: at most %d %s\n", FILTER_VALUES_MAX, flag);
		return -EINVAL;
	}
	l->v[l->n++] = (char *)arg;
	return 0;
}

static int parse_bound(Fanout__V1__Bound *b, bool *has, const char *flag, const char *arg)
{
	char *end;

	errno = 0;
	fanout__v1__bound__init(b);
	b->value = strtod(arg, &end);
	if (arg[0] == '\0' || *end || errno || !isfinite(b->value)) {
		fprintf(stderr, "fanout-sub: %s: expected a number, got '%s'\n", flag, arg);
		return -EINVAL;
	}
	*has = true;
	return 0;
}

static int parse_data_type(struct sub_opts *o, const char *arg)
{
	static const struct {
		const char *name;
		Fanout__V1__DataType t;
	} types[] = {
		{ "market_data", FANOUT__V1__DATA_TYPE__DATA_TYPE_MARKET_DATA },
		{ "coordination_decision", FANOUT__V1__DATA_TYPE__DATA_TYPE_COORDINATION_DECISION },
		{ "execution", FANOUT__V1__DATA_TYPE__DATA_TYPE_EXECUTION },
	};

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		if (strcmp(arg, types[i].name) != 0)
			continue;
		if (o->ndata_types == sizeof(o->data_types) / sizeof(o->data_types[0])) {
			fprintf(stderr, "fanout-sub: --data-type: at most %zu\n",
				sizeof(o->data_types) / sizeof(o->data_types[0]));
			return -EINVAL;
		}
		o->data_types[o->ndata_types++] = types[i].t;
		return 0;
	}
	fprintf(stderr, "fanout-sub: --data-type: expected market_data, coordination_decision "
		"or execution, got '%s'\n", arg);
	return -EINVAL;
}

static int parse_type(struct sub_opts *o, const char *arg)
{
	static const struct {
		const char *name;
		Fanout__V1__SubscriptionType t;
	} types[] = {
		{ "exclusive", FANOUT__V1__SUBSCRIPTION_TYPE__SUBSCRIPTION_TYPE_EXCLUSIVE },
		{ "failover", FANOUT__V1__SUBSCRIPTION_TYPE__SUBSCRIPTION_TYPE_FAILOVER },
		{ "shared", FANOUT__V1__SUBSCRIPTION_TYPE__SUBSCRIPTION_TYPE_SHARED },
		{ "key_shared", FANOUT__V1__SUBSCRIPTION_TYPE__SUBSCRIPTION_TYPE_KEY_SHARED },
	};

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strcmp(arg, types[i].name) == 0) {
			o->type = types[i].t;
			return 0;
		}
	fprintf(stderr, "fanout-sub: --type: expected exclusive, failover, shared or "
		"key_shared, got '%s'\n", arg);
	return -EINVAL;
}

static int parse_opt(struct sub_opts *o, int opt, const char *arg)
{
	switch (opt) {
	case 'S': return parse_list(&o->symbols, "--symbol", arg);
	case 'X': return parse_list(&o->exchanges, "--exchange", arg);
	case 'c': return parse_list(&o->currencies, "--currency", arg);
	case 'a': return parse_list(&o->actions, "--action", arg);
	case 'o': return parse_list(&o->order_ids, "--order-id", arg);
	case 'O': return parse_list(&o->portfolio_ids, "--portfolio-id", arg);
	case 'd': return parse_data_type(o, arg);
	case 'P': return parse_bound(&o->min_price, &o->has_min_price, "--min-price", arg);
	case 'Q': return parse_bound(&o->max_price, &o->has_max_price, "--max-price", arg);
	case 'V': return parse_bound(&o->min_volume, &o->has_min_volume, "--min-volume", arg);
	case 'F': return parse_bound(&o->min_confidence, &o->has_min_confidence,
				     "--min-confidence", arg);
	case 's': o->snapshot = true; return 0;
	case 'C': o->connect = arg; return 0;
	case 't': o->topic = arg; return 0;
	case 'p':
		if (o->npatterns == PATTERNS_MAX) {
			fprintf(stderr, "fanout-sub: at most %d --pattern\n", PATTERNS_MAX);
			return -EINVAL;
		}
		o->patterns[o->npatterns++] = arg;
		return 0;
	case 'f': return parse_from(o, arg);
	case 'n': o->count = true; return 0;
	case 'e': o->expect_set = true; return parse_u64("--expect", arg, &o->expect);
	case 'T': return parse_timeout(o, arg);
	case 'q': o->quiet = true; return 0;
	case 'N': o->name = arg; return 0;
	case 'y': return parse_type(o, arg);
	case 'A': {
		uint64_t v;

		if (parse_u64("--ack-timeout", arg, &v) < 0)
			return -EINVAL;
		if (v > UINT32_MAX) {
			fprintf(stderr, "fanout-sub: --ack-timeout: at most %u ms\n", UINT32_MAX);
			return -EINVAL;
		}
		o->ack_timeout_ms = (uint32_t)v;
		return 0;
	}
	case 'h': usage(stdout); exit(0);
	default: return -EINVAL;
	}
}

static int parse_args(int argc, char **argv, struct sub_opts *o)
{
	static const struct option longopts[] = {
		{ "connect", required_argument, NULL, 'C' }, { "topic", required_argument, NULL, 't' },
		{ "pattern", required_argument, NULL, 'p' }, { "from", required_argument, NULL, 'f' },
		{ "count", no_argument, NULL, 'n' }, { "expect", required_argument, NULL, 'e' },
		{ "timeout", required_argument, NULL, 'T' }, { "quiet", no_argument, NULL, 'q' },
		{ "snapshot", no_argument, NULL, 's' }, { "symbol", required_argument, NULL, 'S' },
		{ "exchange", required_argument, NULL, 'X' },
		{ "currency", required_argument, NULL, 'c' },
		{ "action", required_argument, NULL, 'a' },
		{ "order-id", required_argument, NULL, 'o' },
		{ "portfolio-id", required_argument, NULL, 'O' },
		{ "data-type", required_argument, NULL, 'd' },
		{ "min-price", required_argument, NULL, 'P' },
		{ "max-price", required_argument, NULL, 'Q' },
		{ "min-volume", required_argument, NULL, 'V' },
		{ "min-confidence", required_argument, NULL, 'F' },
		{ "name", required_argument, NULL, 'N' }, { "type", required_argument, NULL, 'y' },
		{ "ack-timeout", required_argument, NULL, 'A' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	int opt;

	memset(o, 0, sizeof(*o));
	o->connect = "127.0.0.1:7400";
	o->start = FANOUT__V1__START_POSITION__START_POSITION_LATEST;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1)
		if (parse_opt(o, opt, optarg))
			goto err;
	if (optind < argc) {
		fprintf(stderr, "fanout-sub: unexpected argument '%s'\n", argv[optind]);
		goto err;
	}
	if (!o->topic) {
		fprintf(stderr, "fanout-sub: --topic is required\n");
		goto err;
	}
	if (!o->name && (o->type || o->ack_timeout_ms)) {
		fprintf(stderr, "fanout-sub: --type and --ack-timeout need --name\n");
		goto err;
	}
	return 0;
err:
	fprintf(stderr, "try 'fanout-sub --help'\n");
	return -EINVAL;
}

static void print_server_error(const Fanout__V1__Error *e)
{
	const ProtobufCEnumValue *v =
		protobuf_c_enum_descriptor_get_value(&fanout__v1__error_code__descriptor, (int)e->code);

	fprintf(stderr, "fanout-sub: server error %s: %s\n", v ? v->name : "ERROR_CODE_?",
		e->message);
}

/* Makes partition p trackable. The array is sized from SubscribeResult, so growing is
 * rare: only when the server sends a partition it did not announce. */
static int track_partition(struct sub *s, uint32_t p)
{
	uint32_t n = s->n_partitions;
	uint64_t *next;

	if (p < n)
		return 0;
	if (p >= PARTITIONS_MAX) {
		fprintf(stderr, "fanout-sub: event for partition %u (limit %u)\n", p, PARTITIONS_MAX);
		return -EPROTO;
	}
	next = realloc(s->next_min, (size_t)(p + 1) * sizeof(*next));
	if (!next)
		return -ENOMEM;
	memset(next + n, 0, (size_t)(p + 1 - n) * sizeof(*next));
	s->next_min = next;
	s->n_partitions = p + 1;
	return 0;
}

/* Offsets must grow within a partition; gaps are fine (patterns filter events out). */
static int check_order(struct sub *s, const Fanout__V1__Distribution *d)
{
	int rc = track_partition(s, d->partition);

	if (rc)
		return rc;
	if (d->offset >= s->next_min[d->partition]) {
		s->next_min[d->partition] = d->offset + 1;
		return 0;
	}
	for (uint32_t i = 0; i < s->nredo && i < REDO_RANGES; i++)	/* sent again: told so */
		if (s->redo[i].partition == d->partition && d->offset >= s->redo[i].first &&
		    d->offset < s->redo[i].end)
			return 0;
	if (s->out_of_order++ < DISORDER_REPORTS_MAX)
		fprintf(stderr, "fanout-sub: out of order: partition %u offset %" PRIu64
			" after %" PRIu64 "\n", d->partition, d->offset, s->next_min[d->partition] - 1);
	return 0;
}

static void print_event(const Fanout__V1__Event *ev)
{
	json_t *j = event_to_json(ev);

	if (!j) {
		fprintf(stderr, "fanout-sub: event %s cannot be shown as JSON (a string is not UTF-8)\n",
			ev->event_id);
		return;
	}
	json_dumpf(j, stdout, JSON_COMPACT | JSON_REAL_PRECISION(15));
	fputc('\n', stdout);
	json_decref(j);
}

static int on_event(struct sub *s, const Fanout__V1__Event *ev)
{
	int64_t now = clock_monotonic_ns();
	int rc = 0;

	latency_hist_record(s->interval, clock_realtime_ns() - ev->timestamp_ns);
	if (s->received++ == 0)
		s->first_ns = now;
	s->last_ns = now;
	s->interval_received++;
	if (ev->distribution)
		rc = check_order(s, ev->distribution);
	if (!s->o.count)
		print_event(ev);
	if (s->o.name && ev->distribution && rc == 0)	/* handled: acked (one by one when
							 * shared, cumulative else) */
		rc = client_ack(&s->c, 1, ev->distribution->partition, ev->distribution->offset);
	return rc;
}

/* SHARED: the events named are sent again (the order check lets them through). */
static void on_redelivery(struct sub *s, const Fanout__V1__Redelivery *r)
{
	s->redo[s->nredo++ % REDO_RANGES] = (struct redo_range){
		.partition = r->partition, .first = r->first_offset, .end = r->end_offset,
	};
	s->redelivered += r->end_offset - r->first_offset;
	if (!s->o.quiet)
		fprintf(stderr, "fanout-sub: partition %u offsets %" PRIu64 "..%" PRIu64
			" are sent again (delivery %u)\n", r->partition, r->first_offset,
			r->end_offset - 1, r->delivery_count);
}

/* Decodes and handles one frame. Returns 0, or -EPROTO after a server Error. */
static int on_frame(struct sub *s, const struct frame_view *v)
{
	Fanout__V1__ServerMessage *m;
	bool heap = false;
	int rc = 0;

	m = fanout__v1__server_message__unpack(&s->arena.pb, v->len, v->body);
	if (!m && s->arena.failed) {
		m = fanout__v1__server_message__unpack(NULL, v->len, v->body);
		heap = true;
	}
	if (!m) {
		fprintf(stderr, "fanout-sub: a %u-byte frame is not a ServerMessage\n", v->len);
		rc = -EPROTO;
		goto out;
	}
	switch (m->body_case) {
	case FANOUT__V1__SERVER_MESSAGE__BODY_EVENT:
		rc = on_event(s, m->event);
		break;
	case FANOUT__V1__SERVER_MESSAGE__BODY_ERROR:
		print_server_error(m->error);
		rc = -EPROTO;
		break;
	case FANOUT__V1__SERVER_MESSAGE__BODY_REDELIVERY:
		on_redelivery(s, m->redelivery);
		break;
	default:	/* Pong, and anything a later server adds */
		break;
	}
out:
	if (heap && m)
		fanout__v1__server_message__free_unpacked(m, NULL);
	arena_reset(&s->arena);
	return rc;
}

static int sub_hello(struct sub *s)
{
	Fanout__V1__ServerMessage *r;
	int rc = client_hello(&s->c, "fanout-sub", HELLO_TIMEOUT_MS, &r);

	if (!r) {
		fprintf(stderr, "fanout-sub: no HelloResult: %s\n", strerror(-rc));
		return rc;
	}
	if (rc == 0) {
		/* Events come back as published plus what the server adds. */
		uint64_t max = (uint64_t)r->hello->max_frame_bytes + FRAME_SLACK_BYTES;

		if (max > s->c.max_frame)
			s->c.max_frame = max < FRAME_BYTES_LIMIT ? (uint32_t)max : FRAME_BYTES_LIMIT;
	} else if (r->body_case == FANOUT__V1__SERVER_MESSAGE__BODY_ERROR) {
		print_server_error(r->error);
	} else {
		fprintf(stderr, "fanout-sub: unexpected reply to Hello\n");
	}
	client_free_msg(r);
	return rc;
}

/* The Subscribe the options ask for; req and f are the caller's storage. */
static Fanout__V1__Subscribe *sub_request(const struct sub_opts *o, Fanout__V1__Subscribe *req,
					  Fanout__V1__Filter *f)
{
	fanout__v1__subscribe__init(req);
	fanout__v1__filter__init(f);
	req->subscription_id = 1;
	req->topic = (char *)o->topic;
	req->n_patterns = o->npatterns;
	req->patterns = (char **)o->patterns;
	req->start = o->start;
	req->start_offset = o->start_offset;
	req->start_offsets = (uint64_t *)o->start_offsets;
	req->n_start_offsets = o->nstart_offsets;
	req->start_time_ns = o->start_time_ns;
	req->snapshot = o->snapshot;
	req->subscription_name = (char *)o->name;
	req->subscription_type = o->type;
	req->ack_timeout_ms = o->ack_timeout_ms;
	f->n_symbols = o->symbols.n;
	f->symbols = (char **)o->symbols.v;
	f->n_exchanges = o->exchanges.n;
	f->exchanges = (char **)o->exchanges.v;
	f->n_currencies = o->currencies.n;
	f->currencies = (char **)o->currencies.v;
	f->n_actions = o->actions.n;
	f->actions = (char **)o->actions.v;
	f->n_order_ids = o->order_ids.n;
	f->order_ids = (char **)o->order_ids.v;
	f->n_portfolio_ids = o->portfolio_ids.n;
	f->portfolio_ids = (char **)o->portfolio_ids.v;
	f->n_data_types = o->ndata_types;
	f->data_types = (Fanout__V1__DataType *)o->data_types;
	f->min_price = o->has_min_price ? (Fanout__V1__Bound *)&o->min_price : NULL;
	f->max_price = o->has_max_price ? (Fanout__V1__Bound *)&o->max_price : NULL;
	f->min_volume = o->has_min_volume ? (Fanout__V1__Bound *)&o->min_volume : NULL;
	f->min_confidence = o->has_min_confidence ? (Fanout__V1__Bound *)&o->min_confidence
						  : NULL;
	if (f->n_symbols || f->n_exchanges || f->n_currencies || f->n_actions ||
	    f->n_order_ids || f->n_portfolio_ids || f->n_data_types || f->min_price ||
	    f->max_price || f->min_volume || f->min_confidence)
		req->filter = f;
	return req;
}

/* Subscribes and seeds next_min from where the server says each partition starts (with
 * a snapshot, from 0: snapshot events come first, below those positions). */
static int sub_subscribe(struct sub *s)
{
	Fanout__V1__Subscribe req;
	Fanout__V1__Filter filter;
	Fanout__V1__ServerMessage *r = NULL;
	const Fanout__V1__SubscribeResult *res;
	int rc;

	rc = client_subscribe_msg(&s->c, sub_request(&s->o, &req, &filter), &r);
	if (rc == -EPROTO && r && r->body_case == FANOUT__V1__SERVER_MESSAGE__BODY_ERROR)
		print_server_error(r->error);
	else if (rc == -EPROTO)
		fprintf(stderr, "fanout-sub: unexpected reply to Subscribe\n");
	else if (rc)
		fprintf(stderr, "fanout-sub: subscribe: %s\n", strerror(-rc));
	if (rc)
		goto out;
	res = r->subscribed;
	rc = track_partition(s, res->partitions ? res->partitions - 1 : 0);
	for (size_t i = 0; rc == 0 && i < res->n_positions; i++) {
		rc = track_partition(s, res->positions[i]->partition);
		if (rc == 0 && !s->o.snapshot)
			s->next_min[res->positions[i]->partition] = res->positions[i]->next_offset;
	}
	if (rc == 0 && !s->o.quiet)
		fprintf(stderr, "fanout-sub: subscribed to %s (%u partitions)\n", res->topic,
			res->partitions);
out:
	client_free_msg(r);
	return rc;
}

static double us(uint64_t ns)
{
	return (double)ns / 1000.0;
}

/* Once a second: this second's rate and latencies, then fold them into the total. */
static void sub_progress(struct sub *s, int64_t now)
{
	const struct latency_hist *h = s->interval;
	double dt = (double)(now - s->next_progress_ns + PROGRESS_NS) / 1e9;

	if (s->o.count && !s->o.quiet)
		fprintf(stderr, "fanout-sub: %.0f events/s, latency us p50 %.1f p99 %.1f p99.9 %.1f "
			"max %.1f (total %" PRIu64 ", out of order %" PRIu64 ")\n",
			(double)s->interval_received / dt, us(latency_hist_percentile(h, 50)),
			us(latency_hist_percentile(h, 99)), us(latency_hist_percentile(h, 99.9)),
			us(latency_hist_max(h)), s->received, s->out_of_order);
	latency_hist_merge(s->total, s->interval);
	latency_hist_reset(s->interval);
	s->interval_received = 0;
	s->next_progress_ns = now + PROGRESS_NS;
}

static void sub_summary(struct sub *s)
{
	const struct latency_hist *h = s->total;
	double secs = (double)(s->last_ns - s->first_ns) / 1e9;

	latency_hist_merge(s->total, s->interval);
	latency_hist_reset(s->interval);
	printf("{\"received\":%" PRIu64 ",\"seconds\":%.3f,\"events_per_s\":%.0f,"
	       "\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,\"max_us\":%.1f,"
	       "\"out_of_order\":%" PRIu64 ",\"redelivered\":%" PRIu64 "}\n",
	       s->received, secs, secs > 0 ? (double)s->received / secs : 0.0,
	       us(latency_hist_percentile(h, 50)), us(latency_hist_percentile(h, 90)),
	       us(latency_hist_percentile(h, 99)), us(latency_hist_percentile(h, 99.9)),
	       us(latency_hist_max(h)), s->out_of_order, s->redelivered);
}

static bool sub_done(const struct sub *s)
{
	return g_signal || (s->o.expect_set && s->received >= s->o.expect);
}

/* Receives until --expect is met, the timeout passes (-ETIMEDOUT), a signal arrives, or
 * the connection fails (-errno). */
static int sub_run(struct sub *s)
{
	struct frame_view v;
	int64_t now, wait_ns;
	int rc;

	s->next_progress_ns = clock_monotonic_ns() + PROGRESS_NS;
	while (!sub_done(s)) {
		now = clock_monotonic_ns();
		if (now >= s->next_progress_ns)
			sub_progress(s, now);
		if (s->deadline_ns >= 0 && now >= s->deadline_ns)
			return -ETIMEDOUT;
		wait_ns = s->next_progress_ns - now;
		if (s->deadline_ns >= 0 && s->deadline_ns - now < wait_ns)
			wait_ns = s->deadline_ns - now;
		rc = client_recv_frame(&s->c, &v, (int)((wait_ns + 999999) / 1000000));
		if (rc == -ETIMEDOUT)
			continue;
		if (rc == 0)
			rc = on_frame(s, &v);
		if (rc)
			return rc;
		/* Printed events reach a pipe as soon as no more are waiting, not per 4 KiB. */
		if (!s->o.count && s->c.rpos == s->c.rlen)
			fflush(stdout);
	}
	return 0;
}

static void on_signal(int sig)
{
	g_signal = sig;
}

static int sub_setup(struct sub *s)
{
	struct sigaction sa = { .sa_handler = on_signal, .sa_flags = SA_RESETHAND };

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	s->interval = malloc(sizeof(*s->interval));
	s->total = malloc(sizeof(*s->total));
	if (!s->interval || !s->total || arena_init(&s->arena, ARENA_BYTES))
		return -ENOMEM;
	latency_hist_reset(s->interval);
	latency_hist_reset(s->total);
	return 0;
}

/* The exit status for how sub_run ended (rc), printing what a reader needs to know. */
static int sub_status(struct sub *s, int rc)
{
	bool expect_met = !s->o.expect_set || s->received >= s->o.expect;

	if (rc == -ECONNRESET)
		fprintf(stderr, "fanout-sub: the server closed the connection\n");
	else if (rc && rc != -ETIMEDOUT && rc != -EPROTO)
		fprintf(stderr, "fanout-sub: connection: %s\n", strerror(-rc));
	if (!expect_met)
		fprintf(stderr, "fanout-sub: received %" PRIu64 " of %" PRIu64 " events%s\n",
			s->received, s->o.expect, rc == -ETIMEDOUT ? " before the timeout" : "");
	if (s->o.count)
		sub_summary(s);
	fflush(stdout);
	if (g_signal)
		return 128 + g_signal;
	if (rc && rc != -ETIMEDOUT)
		return 1;
	if (!expect_met || (s->o.expect_set && s->out_of_order))
		return 1;
	return 0;
}

int main(int argc, char **argv)
{
	struct sub s = { 0 };
	int rc, status = 1;

	if (parse_args(argc, argv, &s.o))
		return EXIT_USAGE;
	if (sub_setup(&s)) {
		fprintf(stderr, "fanout-sub: out of memory\n");
		goto out;
	}
	rc = client_connect(&s.c, s.o.connect, CONNECT_TIMEOUT_MS);
	if (rc) {
		fprintf(stderr, "fanout-sub: connect %s: %s\n", s.o.connect,
			rc == -EINVAL ? "expected HOST:PORT or [IPv6]:PORT" : strerror(-rc));
		goto out;
	}
	rc = sub_hello(&s);
	if (rc == 0)
		rc = sub_subscribe(&s);
	if (rc)
		goto out;
	s.deadline_ns = s.o.timeout_s > 0 ?
			clock_monotonic_ns() + (int64_t)(s.o.timeout_s * 1e9) : -1;
	status = sub_status(&s, sub_run(&s));
out:
	client_close(&s.c);
	arena_free(&s.arena);
	free(s.interval);
	free(s.total);
	free(s.next_min);
	return status;
}
