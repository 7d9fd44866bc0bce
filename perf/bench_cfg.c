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

#define SCENARIO_DEPTH_MAX 4	/* scenario files may include others, not endlessly */
#define SCENARIO_LINE_MAX 512

const char *const bench_system_names[BENCH_SYSTEMS] = { "fanout", "nats", "redis", "zmq" };

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
"  --subscribers N       (default 1)      --threads N  receive threads (default 2)\n"
"  --symbols K           keys published (default 100)\n"
"  --sub-symbols M       keys each subscriber takes, one pattern/subject/channel/prefix\n"
"                        each; subscriber i takes keys i*M .. i*M+M-1 mod K (default K)\n"
"  --payload-bytes N     peer payload bytes (default 100); fanout sends synthetic\n"
"                        MarketData events and reports its real frame bytes\n"
"  --batch N             events per publish call (default 64)\n"
"  --stalled N           N more subscribers per run, each taking every key, that never\n"
"                        read: not counted; the results say how many the server cut\n"
"                        (default 0)\n"
"  --fanout-max-lag-bytes N  fanoutd's --max-lag-bytes (default: fanoutd's own)\n"
"  --fanout-reactors N       fanoutd's --reactors (default: fanoutd's own, one per CPU)\n"
"  --repeat R            runs per system, at most %u (default 1); tables give medians\n"
"  --hdr-out FILE        percentile distribution (HdrHistogram text format, µs);\n"
"                        with several systems FILE.<system>.hdr\n"
"  --fanoutd PATH        (default: tools/fanoutd of this build tree, else fanoutd\n"
"                        beside this program, else from PATH)\n"
"  --quiet               no progress lines\n"
"  --help                this text\n"
"Test hooks: --stall-ms MS (receive thread 0 sleeps once, mid-run), --pub-stall-ms MS\n"
"(the publisher sleeps once, mid-run, then catches up on its schedule).\n",
		BENCH_RUNS_MAX);
}

static int parse_num(const char *k, const char *v, double min, double max, bool integer,
		     double *out)
{
	char *end;
	double d = strtod(v, &end);

	if (!*v || *end || !(d >= min) || d > max || (integer && d != floor(d))) {
		fprintf(stderr, "fanout-bench: %s: expected %s in %g..%g, got '%s'\n", k,
			integer ? "a whole number" : "a number", min, max, v);
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

static int parse_systems(struct bench_cfg *c, const char *k, const char *v)
{
	char buf[128], *save = NULL;
	unsigned mask = 0;

	if (strlen(v) >= sizeof(buf)) {
		fprintf(stderr, "fanout-bench: %s: list too long\n", k);
		return -EINVAL;
	}
	snprintf(buf, sizeof(buf), "%s", v);
	for (char *t = strtok_r(buf, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
		unsigned i = 0;

		while (i < BENCH_SYSTEMS && strcmp(t, bench_system_names[i]))
			i++;
		if (i == BENCH_SYSTEMS) {
			fprintf(stderr, "fanout-bench: %s: unknown system '%s' (fanout, nats, "
				"redis or zmq)\n", k, t);
			return -EINVAL;
		}
		mask |= 1u << i;
	}
	if (!mask) {
		fprintf(stderr, "fanout-bench: %s: no system named\n", k);
		return -EINVAL;
	}
	c->systems_mask = mask;
	return 0;
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

static int load_scenario(struct bench_cfg *c, const char *path, int depth);

/* Applies one option by name (without "--"); shared by argv and scenario files. */
static int set_opt(struct bench_cfg *c, const char *k, const char *v, int depth)
{
	const struct { const char *name; unsigned *u; double *d; double min, max; } nums[] = {
		{ "rate", NULL, &c->rate, 0, 1e9 },
		{ "duration", NULL, &c->duration_s, 0.01, 86400 },
		{ "drain", NULL, &c->drain_s, 0, 3600 },
		{ "subscribers", &c->subscribers, NULL, 1, BENCH_SUBS_MAX },
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
	if (!strcmp(k, "fanout-reactors")) {
		if (parse_num(k, v, 0, 64, true, &d))
			return -EINVAL;
		c->fanout_reactors = (unsigned)d;
		return 0;
	}
	if (!strcmp(k, "fanout-max-lag-bytes")) {
		if (parse_num(k, v, 0, 1e15, true, &d))
			return -EINVAL;
		c->fanout_max_lag_bytes = d;
		return 0;
	}
	if (!strcmp(k, "system") || !strcmp(k, "systems"))
		return parse_systems(c, k, v);
	if (!strcmp(k, "compare")) {
		if (parse_bool(k, v, &on))
			return -EINVAL;
		return on ? parse_systems(c, k, "fanout,nats,redis,zmq") : 0;
	}
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

static int check(struct bench_cfg *c)
{
	if (!c->sub_symbols)
		c->sub_symbols = c->symbols;
	if (c->sub_symbols > c->symbols) {
		fprintf(stderr, "fanout-bench: sub-symbols (%u) is more than symbols (%u)\n",
			c->sub_symbols, c->symbols);
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
				 .batch = 64, .repeat = 1, .fanout_max_lag_bytes = -1 };
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
		if (!strcmp(a, "--compare") || !strcmp(a, "--quiet")) {
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
