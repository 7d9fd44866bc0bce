/* tests/soak/soak_main.c — fanout-soak: a bounded chaos soak of a real fanoutd (issue 11,
 * "Chaos soak"). Publishers, TCP subscribers, shared-memory ring readers and a hostile
 * client run for a while against one fanoutd that is SIGKILLed and restarted on the same
 * data directory and port, while random clients are SIGKILLed and restarted too; then
 * the log is read back and every acknowledged event must have been stored once (copies
 * of resent batches counted apart) and delivered, in order, to every subscriber owed it.
 *
 *   fanout-soak FANOUTD [--seconds N | --minutes N] [--seed N] [options]   (--help)
 *
 * Prints the seed first, progress every 5 s on stderr, one JSON summary on stdout.
 * Exit 0 pass, 1 fail, 2 usage or set-up, 130 interrupted. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "tests/soak/soak_report.h"
#include "tests/soak/soak_run.h"

static const char usage_text[] =
	"usage: fanout-soak FANOUTD [options]\n"
	"  --seconds N             run the chaos this long (default 40), then drain and check\n"
	"  --minutes N             the same in minutes\n"
	"  --seed N                randomness (default: from the clock; printed at start)\n"
	"  --publishers N          1..8 (default 3)\n"
	"  --subscribers N         TCP subscribers (default 4)\n"
	"  --rings N               shared-memory ring readers (default 2; at most 16 clients of\n"
	"                          both kinds)\n"
	"  --partitions N          of the soak topic, 1..16 (default 4)\n"
	"  --reactors N            fanoutd's (default 2); each restart takes 1..N\n"
	"  --rate N                new events per second per publisher (default 400)\n"
	"  --segment-bytes N       fanoutd's log segments (default 2 MiB: ~3,500 soak events,\n"
	"                          so segments roll, are sealed and persisted under the kills)\n"
	"  --server-kill-ms A:B    SIGKILL fanoutd every A..B ms (default 3000:9000)\n"
	"  --client-kill-ms A:B    SIGKILL a random client every A..B ms (default 700:2500)\n"
	"  --no-hostile            without the hostile client\n"
	"  --keep                  keep the run's directory (data, server.log)\n"
	"  --verbose               say more on stderr\n"
	"  --inject LIST           self-test: loss,dup,order faults in the soak's own clients;\n"
	"                          passes only when each is caught and nothing else fails\n";

enum { OPT_SECONDS = 256, OPT_MINUTES, OPT_SEED, OPT_PUBS, OPT_SUBS, OPT_RINGS, OPT_PARTS,
       OPT_REACTORS, OPT_RATE, OPT_SEGMENT, OPT_SKILL, OPT_CKILL, OPT_NO_HOSTILE, OPT_KEEP, OPT_VERBOSE,
       OPT_INJECT, OPT_HELP };

static const struct option soak_opts[] = {
	{ "seconds", required_argument, NULL, OPT_SECONDS },
	{ "minutes", required_argument, NULL, OPT_MINUTES },
	{ "seed", required_argument, NULL, OPT_SEED },
	{ "publishers", required_argument, NULL, OPT_PUBS },
	{ "subscribers", required_argument, NULL, OPT_SUBS },
	{ "rings", required_argument, NULL, OPT_RINGS },
	{ "partitions", required_argument, NULL, OPT_PARTS },
	{ "reactors", required_argument, NULL, OPT_REACTORS },
	{ "rate", required_argument, NULL, OPT_RATE },
	{ "segment-bytes", required_argument, NULL, OPT_SEGMENT },
	{ "server-kill-ms", required_argument, NULL, OPT_SKILL },
	{ "client-kill-ms", required_argument, NULL, OPT_CKILL },
	{ "no-hostile", no_argument, NULL, OPT_NO_HOSTILE },
	{ "keep", no_argument, NULL, OPT_KEEP },
	{ "verbose", no_argument, NULL, OPT_VERBOSE },
	{ "inject", required_argument, NULL, OPT_INJECT },
	{ "help", no_argument, NULL, OPT_HELP },
	{ NULL, 0, NULL, 0 },
};

static int bad(const char *what, const char *arg)
{
	fprintf(stderr, "fanout-soak: %s: '%s'\n%s", what, arg, usage_text);
	return -1;
}

/* A whole number in [lo, hi]. */
static int num(const char *arg, uint64_t lo, uint64_t hi, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(arg, &end, 10);
	if (errno || end == arg || *end || arg[0] == '-' || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

static int num32(const char *arg, uint32_t lo, uint32_t hi, uint32_t *out)
{
	uint64_t v;

	if (num(arg, lo, hi, &v) < 0)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

/* "A:B" milliseconds, 1 <= A <= B. */
static int range(const char *arg, uint32_t *a, uint32_t *b)
{
	char buf[64], *colon;

	if (strlen(arg) >= sizeof(buf))
		return -1;
	strcpy(buf, arg);
	colon = strchr(buf, ':');
	if (!colon)
		return -1;
	*colon = '\0';
	if (num32(buf, 1, 3600000, a) < 0 || num32(colon + 1, 1, 3600000, b) < 0 || *a > *b)
		return -1;
	return 0;
}

/* "loss,dup,order" (any of them) into SOAK_INJECT_* bits. */
static int inject_list(const char *arg, uint32_t *out)
{
	static const struct {
		const char *name;
		uint32_t bit;
	} kinds[] = { { "loss", SOAK_INJECT_LOSS }, { "dup", SOAK_INJECT_DUP },
		      { "order", SOAK_INJECT_ORDER } };
	const char *p = arg;

	*out = 0;
	while (*p) {
		size_t n = strcspn(p, ","), i;

		for (i = 0; i < 3; i++)
			if (strlen(kinds[i].name) == n && strncmp(p, kinds[i].name, n) == 0)
				break;
		if (i == 3)
			return -1;
		*out |= kinds[i].bit;
		p += n + (p[n] == ',');
	}
	return *out ? 0 : -1;
}

static void cfg_defaults(struct soak_cfg *c)
{
	memset(c, 0, sizeof(*c));
	c->duration_ms = 40000;
	c->seed = soak_mix((uint64_t)soak_now_ns() ^ ((uint64_t)getpid() << 32)) % 1000000000000ull;
	c->pubs = 3;
	c->subs = 4;
	c->rings = 2;
	c->parts = 4;
	c->reactors = 2;
	c->rate = 400;
	c->segment_bytes = 2u << 20;
	c->server_kill_min_ms = 3000;
	c->server_kill_max_ms = 9000;
	c->client_kill_min_ms = 700;
	c->client_kill_max_ms = 2500;
	c->hostile = true;
}

/* One option into c. Returns 0, 1 for --help, -1 for a bad value. */
static int option(struct soak_cfg *c, int o, const char *a)
{
	uint64_t v;

	switch (o) {
	case OPT_SECONDS:
	case OPT_MINUTES:
		if (num(a, 1, 86400, &v) < 0)
			return bad("a duration of 1 s to a day", a);
		c->duration_ms = (int64_t)v * (o == OPT_MINUTES ? 60000 : 1000);
		return c->duration_ms > 86400000 ? bad("at most a day", a) : 0;
	case OPT_SEED:
		return num(a, 0, UINT64_MAX, &c->seed) < 0 ? bad("a seed", a) : 0;
	case OPT_PUBS:
		return num32(a, 1, SOAK_PUBS_MAX, &c->pubs) < 0 ? bad("publishers", a) : 0;
	case OPT_SUBS:
		return num32(a, 0, SOAK_SUBS_MAX, &c->subs) < 0 ? bad("subscribers", a) : 0;
	case OPT_RINGS:
		return num32(a, 0, SOAK_SUBS_MAX, &c->rings) < 0 ? bad("rings", a) : 0;
	case OPT_PARTS:
		return num32(a, 1, SOAK_PARTS_MAX, &c->parts) < 0 ? bad("partitions", a) : 0;
	case OPT_REACTORS:
		return num32(a, 1, 64, &c->reactors) < 0 ? bad("reactors", a) : 0;
	case OPT_RATE:
		return num32(a, 1, 1000000, &c->rate) < 0 ? bad("a rate", a) : 0;
	case OPT_SEGMENT:
		/* fanoutd checks the lower bound against its largest frame and says so. */
		return num(a, 65536, UINT32_MAX, &c->segment_bytes) < 0 ? bad("segment bytes", a) : 0;
	case OPT_SKILL:
		return range(a, &c->server_kill_min_ms, &c->server_kill_max_ms) < 0 ?
		       bad("MIN:MAX milliseconds", a) : 0;
	case OPT_CKILL:
		return range(a, &c->client_kill_min_ms, &c->client_kill_max_ms) < 0 ?
		       bad("MIN:MAX milliseconds", a) : 0;
	case OPT_NO_HOSTILE:
		c->hostile = false;
		return 0;
	case OPT_KEEP:
		c->keep = true;
		return 0;
	case OPT_VERBOSE:
		c->verbose = true;
		return 0;
	case OPT_INJECT:
		return inject_list(a, &c->inject) < 0 ? bad("faults: loss, dup, order", a) : 0;
	case OPT_HELP:
		fputs(usage_text, stdout);
		return 1;
	default:
		fputs(usage_text, stderr);
		return -1;
	}
}

static int parse_args(struct soak_cfg *c, int argc, char **argv)
{
	int o, rc;

	cfg_defaults(c);
	while ((o = getopt_long(argc, argv, "", soak_opts, NULL)) != -1)
		if ((rc = option(c, o, optarg)) != 0)
			return rc;
	if (optind != argc - 1) {
		fprintf(stderr, "fanout-soak: the fanoutd binary is the one argument\n%s",
			usage_text);
		return -1;
	}
	c->fanoutd = argv[optind];
	if (c->subs + c->rings > SOAK_SUBS_MAX)
		return bad("at most 16 subscribers and rings together", "--subscribers/--rings");
	/* Every event a publisher can make (its rate is a capped token bucket), and every
	 * offset a partition can reach (all keys in one partition, resent copies twice). */
	c->seq_cap = (uint64_t)c->rate * (uint64_t)(c->duration_ms / 1000 + 2) + 65536;
	c->off_cap = 2 * c->pubs * c->seq_cap;
	return 0;
}

/* A loopback port below the ephemeral range (so no client's own port can take it while
 * the server is down) that nothing listens on now; the server keeps it across restarts. */
static int pick_port(struct soak_cfg *c)
{
	struct soak_rng rng;

	soak_rng_seed(&rng, c->seed ^ (uint64_t)getpid(), 77);
	for (int i = 0; i < 200; i++) {
		struct sockaddr_in sa = { .sin_family = AF_INET,
					  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		uint16_t port = (uint16_t)soak_rng_range(&rng, 20000, 32000);
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1, rc;

		if (fd < 0)
			return -errno;
		sa.sin_port = htons(port);
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
		close(fd);
		if (rc == 0) {
			snprintf(c->addr, sizeof(c->addr), "127.0.0.1:%u", port);
			return 0;
		}
	}
	return -EADDRINUSE;
}

static int make_dirs(struct soak_cfg *c)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(c->dir, sizeof(c->dir), "%s/fanout-soak-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(c->dir))
		return -errno;
	snprintf(c->data, sizeof(c->data), "%s/data", c->dir);
	/* A killed server leaves it behind: the next start finds it stale and takes it over. */
	snprintf(c->shm_sock, sizeof(c->shm_sock), "%s/shm.sock", c->dir);
	if (strlen(c->shm_sock) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		fprintf(stderr, "soak: %s is too long for a Unix socket (set TMPDIR shorter)\n",
			c->shm_sock);
		rmdir(c->dir);
		return -ENAMETOOLONG;
	}
	return 0;
}

/* Removes the run's directory and the hot directory its data directory names (a killed
 * server leaves one under /run/fanout-hot or /dev/shm). */
static void remove_dirs(const struct soak_cfg *c)
{
	char path[SOAK_PATH_MAX + 16], hot[SOAK_PATH_MAX], cmd[3 * SOAK_PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/HOT", c->data);
	f = fopen(path, "r");
	if (f && fgets(hot, sizeof(hot), f) && strstr(hot, "/fanout-")) {
		hot[strcspn(hot, "\n")] = '\0';
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", hot);
		if (system(cmd) != 0)
			fprintf(stderr, "soak: could not remove %s\n", hot);
	}
	if (f)
		fclose(f);
	if (c->keep) {
		fprintf(stderr, "soak: kept %s\n", c->dir);
		return;
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", c->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "soak: could not remove %s\n", c->dir);
}

static void on_signal(int sig)
{
	(void)sig;
	soak_interrupted = 1;
}

static void signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

int main(int argc, char **argv)
{
	static struct soak_cfg cfg;
	static struct soak_run run;
	struct soak_shared *sh;
	int rc = parse_args(&cfg, argc, argv), status;
	char why[64];
	bool ok;

	if (rc)
		return rc > 0 ? 0 : 2;
	if (access(cfg.fanoutd, X_OK) < 0 || (rc = make_dirs(&cfg)) < 0 ||
	    (rc = pick_port(&cfg)) < 0) {
		fprintf(stderr, "fanout-soak: set-up: %s\n", strerror(rc < 0 ? -rc : errno));
		return 2;
	}
	sh = soak_state_map(&cfg);
	if (!sh) {
		fprintf(stderr, "fanout-soak: shared memory: %s\n", strerror(errno));
		remove_dirs(&cfg);
		return 2;
	}
	fprintf(stderr, "soak: seed %" PRIu64 ", %.0f s, %u publishers x %u events/s, %u "
		"subscribers, %u rings, %u partitions, fanoutd on %s, data in %s\n", cfg.seed,
		cfg.duration_ms / 1000.0, cfg.pubs, cfg.rate, cfg.subs, cfg.rings, cfg.parts,
		cfg.addr, cfg.dir);
	signals();
	soak_run_init(&run, &cfg, sh);
	soak_run(&run);
	soak_run_teardown(&run);
	ok = soak_report(&run);	/* an incomplete run reports what it saw, and fails */
	if (run.srv.crashed) {
		status = run.srv.crash_status;
		fprintf(stderr, "soak: fanoutd died by itself: %s\n",
			soak_status_str(status, why, sizeof(why)));
	}
	if (!ok)
		soak_server_log_tail(&run.srv, 40);
	soak_state_unmap(sh, &cfg);
	remove_dirs(&cfg);
	if (soak_interrupted)
		return 130;
	return ok ? 0 : 1;
}
