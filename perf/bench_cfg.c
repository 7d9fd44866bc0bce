/* perf/bench_cfg.c — fanout-bench's configuration: defaults, the command line and
 * scenario files (key = value lines whose keys are the long options without "--"), with
 * an error naming the flag or the file and line for anything it does not accept. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "perf/bench.h"
#include "shm/fanout_shm.h"
#include "tools/synth.h"

#define SCENARIO_DEPTH_MAX 4	/* scenario files may include others, not endlessly */
#define SCENARIO_LINE_MAX 512

const char *const bench_system_names[BENCH_SYSTEMS] = { "fanout", "nats", "redis", "zmq" };
const char *const bench_line_names[BENCH_LINES] = { "fanout", "nats", "redis", "zmq",
						    "fanout-shm" };

void bench_usage(FILE *f)
{
	fprintf(f,
"usage: fanout-bench [options]\n"
"Runs one publisher and N subscribers against fanoutd and/or nats-server, redis-server\n"
"pub/sub and ZeroMQ PUB/SUB (servers started on free loopback ports and stopped after).\n"
"Progress and a comparison table on stderr; JSON results on stdout.\n"
"\n"
"  --system fanout|nats|redis|zmq   system under test (default fanout)\n"
"  --systems LIST        comma-separated systems, run interleaved (fanout,nats,...)\n"
"  --compare             all four: --systems fanout,nats,redis,zmq\n"
"  --scenario FILE       key = value lines (perf/scenarios/*.ini); keys are these\n"
"                        options without '--'; later flags override the file\n"
"  --name NAME           scenario name in the results (default: the file's name)\n"
"  --rate N              events/s at fixed intended times (0 = flat out; default 10000)\n"
"  --duration S          publishing seconds (default 5)\n"
"  --drain S             longest wait for deliveries after publishing (default 10)\n"
"  --subscribers N       TCP subscribers (default 1; 0 with shm readers, fanout only)\n"
"  --threads N           receive threads of the TCP subscribers (default 2)\n"
"  --symbols K           keys published (default 100)\n"
"  --sub-symbols M       keys each subscriber takes, one pattern/subject/channel/prefix\n"
"                        each; subscriber i takes keys i*M .. i*M+M-1 mod K (default K)\n"
"  --shm-readers R       fanout only: R shared-memory readers (libfanout-shm), a ring and\n"
"                        a thread each, reader j taking subscriber N+j's keys (at most\n"
"                        %u keys, or all K: then one subscription to everything), at most\n"
"                        %u; reported apart, as the fanout-shm line. Peers run without\n"
"                        them (said on stderr); with no TCP subscribers they cannot run\n"
"                        (default 0)\n"
"  --shm-spin N          polls before a reader sleeps on its ring's futex: 0 sleeps at\n"
"                        once, 'forever' (%u) never sleeps (default %u,\n"
"                        the library's: ~50-100 µs)\n"
"  --shm-ring-bytes N    each reader's ring (default %llu; fanoutd allows up to 1 GiB)\n"
"  --filter-exchange LIST  content filter: events of these exchanges only (comma-\n"
"                        separated: NASDAQ, NYSE, ARCA, BATS; the synthetic events'\n"
"                        exchange goes by symbol)\n"
"  --filter-min-price X  content filter: events priced X or more (synthetic prices:\n"
"                        20 + symbol mod 480 + (seq mod 100)/100)\n"
"                        Filters apply to every subscriber: fanoutd filters for its TCP\n"
"                        subscribers and shm readers; a peer cannot filter by content,\n"
"                        so its subscribers receive every event of their keys and drop\n"
"                        the rest themselves (counted as filtered_by_subscriber, not as\n"
"                        deliveries). What each subscriber is owed counts the filter.\n"
"  --payload-bytes N     ignored: every system carries the same encoded Event (below);\n"
"                        still accepted so that older scenario files run\n"
"  --batch N             events per publish call (default 64)\n"
"  --stalled N           N more subscribers per run, each taking every key, that never\n"
"                        read: not counted; the results say how many the server cut\n"
"                        (default 0)\n"
"  --fanout-max-lag-bytes N  fanoutd's --max-lag-bytes (default: fanoutd's own)\n"
"  --fanout-reactors N       fanoutd's --reactors (default: fanoutd's own, one per CPU)\n"
"  --fanout-fsync MODE       fanoutd's --fsync: never, interval:MS or batch (default:\n"
"                            fanoutd's own, interval:100)\n"
"  --fanout-named            fanout's subscriptions are named (durable, EXCLUSIVE,\n"
"                            at-least-once): each subscriber acks every 64 events\n"
"  --fanout-shared TYPE      shared or key_shared: fanout's subscribers are the\n"
"                            consumers of one such named subscription of every key:\n"
"                            each event goes to one of them (owed once, not per\n"
"                            subscriber), acked in ranges every 64 events\n"
"  --fanout-idempotent       fanout's publishers are idempotent producers\n"
"                            (Hello.producer_id: each batch recorded, events stamped)\n"
"  --fanout-auth             fanoutd with --auth required: every client authenticates\n"
"                            (its bootstrap admin token) and each publish and\n"
"                            subscribe is checked against the token's patterns\n"
"  --fanout-tls              fanoutd with --tls-cert (a certificate the bench makes\n"
"                            with the openssl command): every client speaks TLS\n"
"  --fanout-priority P       fanout only: the measured topic's priority (0..255, set\n"
"                            through the topics API before the run; higher is served\n"
"                            first in each reactor turn)\n"
"  --bulk-subscribers N      fanout only: a bulk load beside the measured traffic: a\n"
"                            second publisher flat out to topic bench-bulk and N\n"
"                            subscribers taking all of it (not counted; its rates are\n"
"                            reported as bulk_in/bulk_out: events sent, its acks read\n"
"                            but not checked, and frames received). Server CPU then\n"
"                            covers both\n"
"  --bulk-rate N             the bulk publisher's events/s (default 0: flat out)\n"
"  --latency-split           fanout only: also split each TCP delivery's latency at\n"
"                            the server's receive time (the Event's receive_time_ns):\n"
"                            the publisher's lateness (with --rate), actual send ->\n"
"                            server receive -> subscriber, p50 and p99 of each, and a\n"
"                            probe thread's 1 ms sleeps' lateness (the machine's own\n"
"                            delay). Off by default: it costs a field read and three\n"
"                            histogram records per delivery, a store per event in the\n"
"                            publisher (the first 16M events) and the probe's 1,000\n"
"                            wake-ups a second, all in the bench's CPU figures\n"
"  --fanout-data-index-bytes N  fanoutd's --data-index-bytes (default 0: the REST data\n"
"                            API's index off, as the peers keep none; perf/RESULTS.md\n"
"                            §13 measures it on)\n"
"  --audit               every event asks for an audit trail (metadata.audit_required):\n"
"                        fanoutd writes a distribution_audit row per delivery; the\n"
"                        peers carry the same bytes and keep nothing\n"
"  --repeat R            runs per system, at most %u (default 1); tables give medians\n"
"  --hdr-out FILE        percentile distribution (HdrHistogram text format, µs);\n"
"                        with several systems FILE.<system>.hdr\n"
"  --fanoutd PATH        (default: tools/fanoutd of this build tree, else fanoutd\n"
"                        beside this program, else from PATH)\n"
"  --quiet               no progress lines\n"
"  --help                this text\n"
"Events: every system carries the same bytes, event seq's synthetic MarketData Event\n"
"(tools/synth.c) encoded once per layout and patched per event (sequence as a\n"
"12-digit event_id, intended time, key, price, volume): fanoutd in PublishBatch frames\n"
"(each ack counted; an Error fails the run), the peers as their opaque payload; every\n"
"subscriber reads event_id and timestamp_ns from it with the same wire walk.\n"
"CPU: per run, the server process's CPU (its kernel CPU clock; /proc/PID/stat's\n"
"utime+stime beside it), the publisher's and the receive threads' from the first\n"
"publish to the end of the drain (the publisher's to the end of its flush): per event\n"
"in and per delivery in the table, the JSON and fanout's ratios to each peer.\n"
"Test hooks: --stall-ms MS (receive thread 0 sleeps once, mid-run), --pub-stall-ms MS\n"
"(the publisher sleeps once, mid-run, then catches up on its schedule), --pub-bad-event\n"
"SEQ (event SEQ's data_type disagrees with its payload: fanoutd refuses its batch).\n",
		BENCH_SHM_KEYS_MAX, BENCH_SHM_READERS_MAX, UINT32_MAX, FANOUT_SHM_SPIN_DEFAULT,
		(unsigned long long)FANOUT_SHM_RING_BYTES_DEFAULT, BENCH_RUNS_MAX);
}

static int parse_num(const char *k, const char *v, double min, double max, bool integer,
		     double *out)
{
	char *end;
	double d = strtod(v, &end);

	if (!*v || *end || !(d >= min) || d > max || (integer && d != floor(d))) {
		if (integer)	/* 1073741824, not 1.07374e+09 */
			fprintf(stderr, "fanout-bench: %s: expected a whole number in %.0f..%.0f, "
				"got '%s'\n", k, min, max, v);
		else
			fprintf(stderr, "fanout-bench: %s: expected a number in %g..%g, got '%s'\n",
				k, min, max, v);
		return -EINVAL;
	}
	*out = d;
	return 0;
}

/* "" (a flag on the command line), yes/true/1 or no/false/0. */
static int parse_bool(const char *k, const char *v, bool *out)
{
	if (!*v || !strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "1")) {
		*out = true;
		return 0;
	}
	if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "0")) {
		*out = false;
		return 0;
	}
	fprintf(stderr, "fanout-bench: %s: expected yes or no, got '%s'\n", k, v);
	return -EINVAL;
}

/* A comma-separated list of names, name(0) .. name(n-1), as a bit mask (not empty). The
 * errors call one a `what` and list them as `hint`. */
static int parse_names(const char *k, const char *v, unsigned n, const char *(*name)(unsigned),
		       const char *what, const char *hint, unsigned *mask)
{
	char buf[128], *save = NULL;

	if (strlen(v) >= sizeof(buf)) {
		fprintf(stderr, "fanout-bench: %s: list too long\n", k);
		return -EINVAL;
	}
	snprintf(buf, sizeof(buf), "%s", v);
	*mask = 0;
	for (char *t = strtok_r(buf, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
		unsigned i = 0;

		while (i < n && strcmp(t, name(i)))
			i++;
		if (i == n) {
			fprintf(stderr, "fanout-bench: %s: unknown %s '%s' (%s)\n", k, what, t, hint);
			return -EINVAL;
		}
		*mask |= 1u << i;
	}
	if (!*mask) {
		fprintf(stderr, "fanout-bench: %s: no %s named\n", k, what);
		return -EINVAL;
	}
	return 0;
}

static const char *system_name(unsigned i)
{
	return bench_system_names[i];
}

static int parse_systems(struct bench_cfg *c, const char *k, const char *v)
{
	return parse_names(k, v, BENCH_SYSTEMS, system_name, "system", "fanout, nats, redis or zmq",
			   &c->systems_mask);
}

static int set_string(const char *k, const char *v, const char **dst)
{
	char *s;

	if (!*v) {
		fprintf(stderr, "fanout-bench: %s: empty\n", k);
		return -EINVAL;
	}
	s = strdup(v);
	if (!s)
		return -ENOMEM;
	free((char *)*dst);	/* only ever strdup'd here */
	*dst = s;
	return 0;
}

/* The options of the shm readers and the content filter. 1 when k is none of them. */
static int set_shm_filter_opt(struct bench_cfg *c, const char *k, const char *v)
{
	double d;

	if (!strcmp(k, "shm-spin")) {
		if (!strcmp(v, "forever")) {
			c->shm_spin = FANOUT_SHM_SPIN_FOREVER;
			return 0;
		}
		if (parse_num(k, v, 0, UINT32_MAX, true, &d)) {
			fprintf(stderr, "fanout-bench: %s: or 'forever'\n", k);
			return -EINVAL;
		}
		c->shm_spin = (uint32_t)d;
		return 0;
	}
	if (!strcmp(k, "shm-ring-bytes")) {
		if (parse_num(k, v, 65536, 1u << 30, true, &d))
			return -EINVAL;
		c->shm_ring_bytes = (uint64_t)d;
		return 0;
	}
	if (!strcmp(k, "filter-exchange"))	/* synth_exchange(e) is exchange e's name */
		return parse_names(k, v, BENCH_EXCHANGES, synth_exchange, "exchange",
				   "the synthetic events': NASDAQ, NYSE, ARCA or BATS",
				   &c->filter.exchanges);
	if (!strcmp(k, "filter-min-price")) {
		if (parse_num(k, v, -1e12, 1e12, false, &d))
			return -EINVAL;
		c->filter.has_min_price = true;
		c->filter.min_price = d;
		return 0;
	}
	return 1;
}

static int load_scenario(struct bench_cfg *c, const char *path, int depth);

/* Applies one option by name (without "--"); shared by argv and scenario files. */
static int set_opt(struct bench_cfg *c, const char *k, const char *v, int depth)
{
	const struct { const char *name; unsigned *u; double *d; double min, max; } nums[] = {
		{ "rate", NULL, &c->rate, 0, 1e9 },
		{ "duration", NULL, &c->duration_s, 0.01, 86400 },
		{ "drain", NULL, &c->drain_s, 0, 3600 },
		{ "subscribers", &c->subscribers, NULL, 0, BENCH_SUBS_MAX },
		{ "shm-readers", &c->shm_readers, NULL, 0, BENCH_SHM_READERS_MAX },
		{ "threads", &c->threads, NULL, 1, BENCH_THREADS_MAX },
		{ "symbols", &c->symbols, NULL, 1, 1000000 },
		{ "sub-symbols", &c->sub_symbols, NULL, 1, 1000000 },
		{ "payload-bytes", &c->payload_bytes, NULL, BENCH_PAYLOAD_MIN, BENCH_PAYLOAD_MAX },
		{ "batch", &c->batch, NULL, 1, 8192 },
		{ "repeat", &c->repeat, NULL, 1, BENCH_RUNS_MAX },
		{ "stalled", &c->stalled, NULL, 0, BENCH_SUBS_MAX },
		{ "stall-ms", &c->stall_ms, NULL, 0, 60000 },
		{ "pub-stall-ms", &c->pub_stall_ms, NULL, 0, 60000 },
	};
	bool on;
	double d;
	int rc;

	for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
		if (strcmp(k, nums[i].name))
			continue;
		if (parse_num(k, v, nums[i].min, nums[i].max, nums[i].u != NULL, &d))
			return -EINVAL;
		if (nums[i].u)
			*nums[i].u = (unsigned)d;
		else
			*nums[i].d = d;
		return 0;
	}
	if (!strcmp(k, "fanout-data-index-bytes")) {
		if (parse_num(k, v, 0, 1099511627776.0, true, &d))
			return -EINVAL;
		c->fanout_data_index_bytes = (uint64_t)d;
		return 0;
	}
	if (!strcmp(k, "fanout-fsync")) {	/* fanoutd checks the value */
		if (strlen(v) == 0 || strlen(v) >= sizeof(c->fanout_fsync)) {
			fprintf(stderr, "fanout-bench: --fanout-fsync: never, batch or interval:MS\n");
			return -EINVAL;
		}
		strcpy(c->fanout_fsync, v);
		return 0;
	}
	if (!strcmp(k, "fanout-reactors")) {
		if (parse_num(k, v, 0, 64, true, &d))
			return -EINVAL;
		c->fanout_reactors = (unsigned)d;
		return 0;
	}
	if (!strcmp(k, "pub-bad-event")) {	/* below 10^12: bench_event.h's ids */
		if (parse_num(k, v, 0, 999999999999.0, true, &d))
			return -EINVAL;
		c->pub_bad_event = (uint64_t)d;
		return 0;
	}
	if (!strcmp(k, "fanout-priority")) {
		if (parse_num(k, v, 0, 255, true, &d))
			return -EINVAL;
		c->fanout_priority = (int)d;
		return 0;
	}
	if (!strcmp(k, "bulk-subscribers")) {
		if (parse_num(k, v, 0, 1000, true, &d))
			return -EINVAL;
		c->bulk_subscribers = (unsigned)d;
		return 0;
	}
	if (!strcmp(k, "bulk-rate")) {
		if (parse_num(k, v, 0, 1e9, false, &d))
			return -EINVAL;
		c->bulk_rate = d;
		return 0;
	}
	if (!strcmp(k, "fanout-max-lag-bytes")) {
		if (parse_num(k, v, 0, 1e15, true, &d))
			return -EINVAL;
		c->fanout_max_lag_bytes = d;
		return 0;
	}
	if ((rc = set_shm_filter_opt(c, k, v)) <= 0)
		return rc;
	if (!strcmp(k, "system") || !strcmp(k, "systems"))
		return parse_systems(c, k, v);
	if (!strcmp(k, "compare")) {
		if (parse_bool(k, v, &on))
			return -EINVAL;
		return on ? parse_systems(c, k, "fanout,nats,redis,zmq") : 0;
	}
	if (!strcmp(k, "audit"))
		return parse_bool(k, v, &c->audit);
	if (!strcmp(k, "fanout-named"))
		return parse_bool(k, v, &c->fanout_named);
	if (!strcmp(k, "fanout-shared")) {
		if (!strcmp(v, "shared"))
			c->fanout_shared = 2;
		else if (!strcmp(v, "key_shared"))
			c->fanout_shared = 4;
		else {
			fprintf(stderr, "fanout-bench: --fanout-shared: shared or key_shared, not "
				"'%s'\n", v);
			return -EINVAL;
		}
		return 0;
	}
	if (!strcmp(k, "fanout-idempotent"))
		return parse_bool(k, v, &c->fanout_idempotent);
	if (!strcmp(k, "fanout-auth"))
		return parse_bool(k, v, &c->fanout_auth);
	if (!strcmp(k, "fanout-tls"))
		return parse_bool(k, v, &c->fanout_tls);
	if (!strcmp(k, "latency-split"))
		return parse_bool(k, v, &c->latency_split);
	if (!strcmp(k, "quiet"))
		return parse_bool(k, v, &c->quiet);
	if (!strcmp(k, "name")) {
		if (!*v || strlen(v) >= sizeof(c->scenario) || strpbrk(v, "/\"\\")) {
			fprintf(stderr, "fanout-bench: name: 1 to %zu characters, no / \" or \\\n",
				sizeof(c->scenario) - 1);
			return -EINVAL;
		}
		snprintf(c->scenario, sizeof(c->scenario), "%s", v);
		return 0;
	}
	if (!strcmp(k, "scenario"))
		return load_scenario(c, v, depth + 1);
	if (!strcmp(k, "hdr-out"))
		return set_string(k, v, &c->hdr_out);
	if (!strcmp(k, "fanoutd"))
		return set_string(k, v, &c->fanoutd);
	fprintf(stderr, "fanout-bench: unknown option '%s' (see --help)\n", k);
	return -EINVAL;
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && strchr(" \t\r\n", e[-1]))
		*--e = '\0';
	return s;
}

/* One "key = value" line (already trimmed, not a comment). */
static int scenario_line(struct bench_cfg *c, const char *path, int n, char *k, int depth)
{
	char *eq = strchr(k, '=');

	if (!eq) {
		fprintf(stderr, "fanout-bench: %s:%d: expected 'key = value'\n", path, n);
		return -EINVAL;
	}
	*eq = '\0';
	for (char *u = k; *u; u++)	/* sub_symbols and sub-symbols alike */
		if (*u == '_')
			*u = '-';
	if (set_opt(c, trim(k), trim(eq + 1), depth)) {
		fprintf(stderr, "fanout-bench: %s:%d: bad line (above)\n", path, n);
		return -EINVAL;
	}
	return 0;
}

static int load_scenario(struct bench_cfg *c, const char *path, int depth)
{
	const char *base = strrchr(path, '/');
	char line[SCENARIO_LINE_MAX];
	int rc = 0, n = 0;
	FILE *f;

	if (depth > SCENARIO_DEPTH_MAX) {
		fprintf(stderr, "fanout-bench: %s: scenarios nested more than %d deep\n", path,
			SCENARIO_DEPTH_MAX);
		return -ELOOP;
	}
	f = fopen(path, "r");
	if (!f) {
		rc = -errno;
		fprintf(stderr, "fanout-bench: scenario %s: %s\n", path, strerror(-rc));
		return rc;
	}
	snprintf(c->scenario, sizeof(c->scenario), "%s", base ? base + 1 : path);
	c->scenario[strcspn(c->scenario, ".")] = '\0';
	while (!rc && fgets(line, sizeof(line), f)) {
		char *k;

		n++;
		if (!strchr(line, '\n') && !feof(f)) {
			fprintf(stderr, "fanout-bench: %s:%d: line longer than %d bytes\n", path, n,
				SCENARIO_LINE_MAX - 2);
			rc = -EINVAL;
			break;
		}
		k = trim(line);
		if (*k && *k != '#' && *k != ';' && *k != '[')	/* [sections] are ignored */
			rc = scenario_line(c, path, n, k, depth);
	}
	if (!rc && ferror(f)) {
		fprintf(stderr, "fanout-bench: %s: read error\n", path);
		rc = -EIO;
	}
	fclose(f);
	return rc;
}

/* build/perf/fanout-bench runs build/tools/fanoutd; an installed one, fanoutd beside it. */
static const char *default_fanoutd(void)
{
	static char path[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 32);
	char *slash;

	if (n <= 0)
		return "fanoutd";
	path[n] = '\0';
	slash = strrchr(path, '/');
	if (!slash)
		return "fanoutd";
	if (slash - path >= 5 && !strncmp(slash - 5, "/perf", 5))
		strcpy(slash - 5, "/tools/fanoutd");
	else
		strcpy(slash + 1, "fanoutd");
	return access(path, X_OK) == 0 ? path : "fanoutd";
}

/* Subscribers, shm readers and the systems that run them. */
static int check_readers(const struct bench_cfg *c)
{
	unsigned peers = c->systems_mask & ~(1u << BENCH_FANOUT);

	if (!c->subscribers && !c->shm_readers) {
		fprintf(stderr, "fanout-bench: subscribers: 0, and no --shm-readers: nobody to "
			"deliver to\n");
		return -EINVAL;
	}
	if (!c->subscribers && peers) {
		fprintf(stderr, "fanout-bench: subscribers: 0 leaves %s nothing to run: "
			"shared-memory readers are fanout's only (give --subscribers, or "
			"--system fanout)\n", bench_system_names[__builtin_ctz(peers)]);
		return -EINVAL;
	}
	if (c->shm_readers && c->sub_symbols > BENCH_SHM_KEYS_MAX && c->sub_symbols < c->symbols) {
		fprintf(stderr, "fanout-bench: shm-readers: a reader is one subscription, %u patterns "
			"at most: sub-symbols (%u) must be at most %u, or all %u symbols\n",
			BENCH_SHM_KEYS_MAX, c->sub_symbols, BENCH_SHM_KEYS_MAX, c->symbols);
		return -EINVAL;
	}
	return 0;
}

static int check(struct bench_cfg *c)
{
	if (!c->sub_symbols)
		c->sub_symbols = c->symbols;
	if (c->sub_symbols > c->symbols) {
		fprintf(stderr, "fanout-bench: sub-symbols (%u) is more than symbols (%u)\n",
			c->sub_symbols, c->symbols);
		return -EINVAL;
	}
	if (check_readers(c))
		return -EINVAL;
	if (c->fanout_shared && (c->systems_mask != 1u << BENCH_FANOUT ||
				 c->sub_symbols != c->symbols || !bench_filter_empty(&c->filter) ||
				 c->shm_readers)) {
		fprintf(stderr, "fanout-bench: --fanout-shared is fanout's only, over TCP, with "
			"every subscriber taking every key and no filter\n");
		return -EINVAL;
	}
	if ((c->bulk_subscribers || c->fanout_priority >= 0) &&
	    c->systems_mask != 1u << BENCH_FANOUT) {
		fprintf(stderr, "fanout-bench: bulk-subscribers and fanout-priority are fanout's "
			"only: run them with --system fanout\n");
		return -EINVAL;
	}
	if (c->latency_split && c->systems_mask != 1u << BENCH_FANOUT) {
		fprintf(stderr, "fanout-bench: --latency-split is fanout's only (the split is at "
			"its events' receive_time_ns): run it with --system fanout\n");
		return -EINVAL;
	}
	if (c->threads > c->subscribers)
		c->threads = c->subscribers;
	if (!c->fanoutd)
		c->fanoutd = strdup(default_fanoutd());
	return c->fanoutd ? 0 : -ENOMEM;
}

int bench_cfg_parse(struct bench_cfg *c, int argc, char **argv)
{
	*c = (struct bench_cfg){ .systems_mask = 1, .rate = 10000, .duration_s = 5, .drain_s = 10,
				 .subscribers = 1, .threads = 2, .symbols = 100, .payload_bytes = 100,
				 .batch = 64, .repeat = 1, .fanout_max_lag_bytes = -1,
				 .fanout_priority = -1, .pub_bad_event = UINT64_MAX,
				 .shm_spin = FANOUT_SHM_SPIN_DEFAULT,
				 .shm_ring_bytes = FANOUT_SHM_RING_BYTES_DEFAULT };
	snprintf(c->scenario, sizeof(c->scenario), "adhoc");
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			bench_usage(stdout);
			return 1;
		}
		if (strncmp(a, "--", 2) || !a[2]) {
			fprintf(stderr, "fanout-bench: unexpected argument '%s'\n", a);
			return -EINVAL;
		}
		if (!strcmp(a, "--compare") || !strcmp(a, "--quiet") || !strcmp(a, "--audit") ||
		    !strcmp(a, "--fanout-named") || !strcmp(a, "--fanout-idempotent") ||
		    !strcmp(a, "--fanout-auth") || !strcmp(a, "--fanout-tls") ||
		    !strcmp(a, "--latency-split")) {
			if (set_opt(c, a + 2, "", 0))
				return -EINVAL;
			continue;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "fanout-bench: %s needs a value\n", a);
			return -EINVAL;
		}
		if (set_opt(c, a + 2, argv[++i], 0))
			return -EINVAL;
	}
	return check(c);
}
