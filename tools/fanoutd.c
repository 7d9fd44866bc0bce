/* tools/fanoutd.c — the server: configuration, recovery of the data directory, the
 * command-side store and the admin plane (admin/), the reactors, signals, and an orderly
 * drain on SIGTERM/SIGINT. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "admin/admin.h"
#include "admin/ws.h"
#include "core/auth.h"
#include "core/config.h"
#include "core/epoch.h"
#include "core/executor.h"
#include "core/headroom.h"
#include "core/hotdir.h"
#include "core/keyhash.h"
#include "core/topic.h"
#include "fanout_version.h"
#include "ingest/route.h"
#include "ingest/rules_json.h"
#include "net/engine.h"
#include "net/mem_report.h"
#include "net/server.h"
#include "tools/fanoutd_log.h"
#include "tools/fanoutd_egress.h"
#include "tools/fanoutd_kafka.h"
#include "tools/fanoutd_shm.h"

#define FANOUTD_DRAIN_MS 2000
/* Descriptors beyond connections and logs: listeners, rings, eventfds, shared-memory
 * rings, the lock file, the admin port's HTTP; and its WebSocket streams. */
#define FANOUTD_SPARE_FDS (256u + WS_CONNECTIONS_MAX)

static volatile sig_atomic_t fanoutd_stop, fanoutd_reload;
static char fanoutd_hot_root[CONFIG_PATH_MAX + 64];	/* fanoutd_hot's */

static void fanoutd_on_signal(int sig)
{
	if (sig == SIGHUP)
		fanoutd_reload = 1;
	else
		fanoutd_stop = 1;
}

static int fanoutd_signals(void)
{
	struct sigaction sa = { .sa_handler = fanoutd_on_signal };

	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTERM, &sa, NULL) < 0 || sigaction(SIGINT, &sa, NULL) < 0 ||
	    sigaction(SIGHUP, &sa, NULL) < 0)
		return -errno;
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

/* Descriptors the logs of the topics clients may create and those declared would
 * hold in steady state (core/headroom.h). Recovered topics come on top. */
static rlim_t fanoutd_log_fds(const struct config *cfg)
{
	rlim_t parts = (rlim_t)cfg->max_topics * cfg->default_partitions;

	for (uint32_t i = 0; i < cfg->ntopics; i++)
		parts += cfg->topics[i].partitions;
	return parts * HEADROOM_PARTITION_FDS;
}

/* Every connection and every log file is a descriptor: raise the soft open-file limit
 * to cover --max-connections, the topics' logs and the rest, as far as the hard limit
 * allows. */
static void fanoutd_nofile(const struct config *cfg, uint32_t reactors)
{
	rlim_t want = (rlim_t)cfg->max_connections * reactors + FANOUTD_SPARE_FDS +
		      fanoutd_log_fds(cfg);
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	/* Logs hold descriptors too (a writing partition about 6: its hot segment, the next
	 * one, the disk files being written): take what the hard limit allows, well past
	 * the connections. */
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur >= want)
		return;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		fprintf(stderr, "fanoutd: cannot raise the open-file limit: %s\n", strerror(errno));
	if (rl.rlim_cur < want)
		fprintf(stderr, "fanoutd: open-file limit %llu is below --max-connections %u x %u "
			"reactors + %u + %llu for the logs of --max-topics %u; connections past "
			"it wait in the listen backlog, topics past it are refused\n",
			(unsigned long long)rl.rlim_cur, cfg->max_connections, reactors,
			FANOUTD_SPARE_FDS, (unsigned long long)fanoutd_log_fds(cfg),
			cfg->max_topics);
}

/* From here on logs are refused descriptors and mappings before the process would run
 * out (core/headroom.h): what connections and the rest of the server need is kept. */
static void fanoutd_headroom(const struct config *cfg, uint32_t reactors)
{
	uint64_t conns = (uint64_t)cfg->max_connections * reactors;
	int rc = headroom_init(conns + FANOUTD_SPARE_FDS,
			       conns * HEADROOM_MAPS_PER_CONNECTION + HEADROOM_MAPS_SPARE);

	if (rc < 0)
		fprintf(stderr, "fanoutd: cannot read the process's limits (%s); descriptors "
			"and mappings of logs are not bounded\n", strerror(-rc));
}

/* Hot memory an idle partition holds: the first LOG_HOT_FIRST_BYTES of its .log and
 * index, in whole pages of the hot file system (2 MiB ones on a huge-page tmpfs). */
static uint64_t fanoutd_idle_partition_bytes(void)
{
	uint64_t page = hotdir_huge(fanoutd_hot_root) ? 2u << 20 : 4096u;
	uint64_t idx = sizeof(struct log_index_header) +
		       LOG_HOT_FIRST_BYTES / sizeof(struct log_entry) * sizeof(struct log_entry);

	return (LOG_HOT_FIRST_BYTES + page - 1) / page * page + (idx + page - 1) / page * page;
}

/* What --max-topics idle topics would hold of the hot file system; a warning past a
 * quarter of it (appends get LOG_FULL when it is full). */
static void fanoutd_say_hot_memory(const struct config *cfg)
{
	uint64_t idle = fanoutd_idle_partition_bytes(), fs = 0, worst;
	struct statvfs sv;

	if (statvfs(fanoutd_hot_root, &sv) == 0)
		fs = (uint64_t)sv.f_blocks * sv.f_frsize;
	worst = (uint64_t)cfg->max_topics * cfg->default_partitions * idle;
	if (!cfg->quiet)
		fprintf(stderr, "fanoutd: limits: hot memory: an idle partition holds %llu KiB; "
			"--max-topics %u x %u partition%s: up to %llu MiB of %s's %llu MiB\n",
			(unsigned long long)(idle >> 10), cfg->max_topics,
			cfg->default_partitions, cfg->default_partitions == 1 ? "" : "s",
			(unsigned long long)(worst >> 20), fanoutd_hot_root,
			(unsigned long long)(fs >> 20));
	if (fs && worst > fs / 4)
		fprintf(stderr, "fanoutd: warning: --max-topics %u idle topics could hold %llu "
			"MiB, over a quarter of the hot file system (%llu MiB); appends get "
			"LOG_FULL when it is full: lower --max-topics or grow %s\n",
			cfg->max_topics, (unsigned long long)(worst >> 20),
			(unsigned long long)(fs >> 20), fanoutd_hot_root);
}

/* What the limits allow, once the topics are open; a warning when they do not cover
 * --max-topics. */
static void fanoutd_say_limits(const struct config *cfg)
{
	struct headroom_view v;
	uint64_t parts = (uint64_t)cfg->max_topics * cfg->default_partitions;

	fanoutd_say_hot_memory(cfg);
	if (!cfg->quiet) {
		if (cfg->fsync_mode == LOG_FSYNC_INTERVAL)
			fprintf(stderr, "fanoutd: --fsync interval:%u: events are synced to disk "
				"within %u ms of being written\n", cfg->fsync_interval_ms,
				cfg->fsync_interval_ms);
		else
			fprintf(stderr, "fanoutd: --fsync %s\n", cfg->fsync_mode == LOG_FSYNC_BATCH ?
				"batch: a publish is acknowledged once its events are synced to disk" :
				"never: the kernel writes events to disk when it likes");
	}
	headroom_get(&v);
	if (!v.on)
		return;
	if (!cfg->quiet)
		headroom_report(stderr);
	if (v.fd_room - v.fds < (int64_t)(parts * HEADROOM_PARTITION_FDS) ||
	    v.map_room - v.maps < (int64_t)(parts * HEADROOM_PARTITION_MAPS))
		fprintf(stderr, "fanoutd: warning: the limits leave room for fewer than "
			"--max-topics %u topics of %u partition%s; topics past them are refused "
			"(UNKNOWN_TOPIC naming the limit)\n", cfg->max_topics,
			cfg->default_partitions, cfg->default_partitions == 1 ? "" : "s");
}

/* Writes the bound address atomically (temp file + rename) so a reader never sees half:
 * "HOST:PORT" on the first line, "http HOST:PORT" on the second when the admin API is on. */
static int fanoutd_ready(const char *path, const char *bound, const char *http)
{
	char tmp[CONFIG_PATH_MAX + 8];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f)
		return -errno;
	fprintf(f, "%s\n", bound);
	if (http[0])
		fprintf(f, "http %s\n", http);
	if (fclose(f) != 0 || rename(tmp, path) < 0)
		return -errno;
	return 0;
}

/* One server per data directory: a second one would append to the same logs. The lock
 * (flock on DIR/LOCK, holding the pid) lives as long as the process. */
static int fanoutd_lock(const char *dir)
{
	char path[CONFIG_PATH_MAX + 8], pid[32] = "";
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/LOCK", dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0) {
		fprintf(stderr, "fanoutd: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		n = pread(fd, pid, sizeof(pid) - 1, 0);
		pid[n > 0 ? n : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		fprintf(stderr, "fanoutd: data dir %s is in use by another fanoutd%s%s%s\n", dir,
			pid[0] ? " (pid " : "", pid, pid[0] ? ")" : "");
		close(fd);
		return -1;
	}
	n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)n, 0) != n)
		fprintf(stderr, "fanoutd: %s: cannot record the pid: %s\n", path, strerror(errno));
	return 0;	/* fd stays open: the lock with it */
}


/* Finds (and makes) the hot directory: the segments being written live there, in memory
 * (core/log.h), and starts the executor that copies them to the data directory. */
static int fanoutd_hot(const struct config *cfg, struct executor *x)
{
	const char *parent = hotdir_parent(cfg->hot_dir);
	int rc, swept = hotdir_sweep(parent);

	if (swept && !cfg->quiet)
		fprintf(stderr, "fanoutd: removed %d hot dirs of data dirs that are gone\n", swept);
	rc = hotdir_resolve(cfg->data_dir, parent, fanoutd_hot_root, sizeof(fanoutd_hot_root));
	if (rc < 0) {
		fprintf(stderr, "fanoutd: hot dir under %s: %s (set --hot-dir to a directory on a "
			"memory file system)\n", parent, strerror(-rc));
		return -1;
	}
	if (!hotdir_huge(fanoutd_hot_root) && !cfg->quiet)
		fprintf(stderr, "fanoutd: %s is not a tmpfs with huge pages: every new page of "
			"the log costs a page-table change (as root: mkdir -p %s && mount -t tmpfs "
			"-o huge=within_size,mode=1777 fanout-hot %s; README, Configuration)\n",
			parent, HOTDIR_HUGE, HOTDIR_HUGE);
	rc = executor_start_fsync(x, cfg->fsync_mode, (int64_t)cfg->fsync_interval_ms * 1000000);
	if (rc < 0) {
		fprintf(stderr, "fanoutd: executor thread: %s\n", strerror(-rc));
		return -1;
	}
	if (!cfg->quiet)
		fprintf(stderr, "fanoutd: hot segments in %s\n", fanoutd_hot_root);
	return 0;
}

/* Opens the data directory's topics and the topics declared on the command line. */
static int fanoutd_topics(struct topic_table *topics, const struct config *cfg,
			  uint32_t reactors, struct executor *x)
{
	struct log_config lc = {
		.segment_bytes = cfg->segment_bytes, .hot_root = fanoutd_hot_root,
		.data_root = cfg->data_dir, .executor = x, .fsync = cfg->fsync_mode,
	};
	struct topic *tp;
	int rc;

	if (mkdir(cfg->data_dir, 0750) < 0 && errno != EEXIST) {
		fprintf(stderr, "fanoutd: data dir %s: %s\n", cfg->data_dir, strerror(errno));
		return -1;
	}
	/* The hash key before any log: every index hash and partition depends on it. */
	if (fanoutd_lock(cfg->data_dir) < 0 || keyhash_load_dir(cfg->data_dir) < 0 ||
	    fanoutd_hot(cfg, x) < 0)
		return -1;
	rc = topic_table_init(topics, cfg->data_dir, &lc);
	topics->reactors = reactors;	/* partitions' owners, before any topic exists */
	topics->latest_keys_max = cfg->latest_keys_max;
	if (rc == 0)
		rc = topic_table_recover(topics);
	if (rc == -EPROTONOSUPPORT) {
		fprintf(stderr, "fanoutd: data dir %s was written by an older fanout (index "
			"format %u, unkeyed hashes); this one writes format %u and does not read "
			"it (see the log line above)\n", cfg->data_dir, LOG_INDEX_VERSION_FNV,
			LOG_INDEX_VERSION);
		return -1;
	}
	if (rc < 0) {
		fprintf(stderr, "fanoutd: recovering %s: %s\n", cfg->data_dir, strerror(-rc));
		return -1;
	}
	if (!cfg->quiet)
		fprintf(stderr, "fanoutd: data dir %s: %d topics recovered\n", cfg->data_dir, rc);

	if (topics->quarantined)	/* each named above; loud even with --quiet */
		fprintf(stderr, "fanoutd: WARNING: %u partition%s QUARANTINED (corrupt, named "
			"above): not served, files kept; every other partition is served. Repair: "
			"README.md, \"Quarantined partitions\"\n", topics->quarantined,
			topics->quarantined == 1 ? "" : "s");
	for (uint32_t i = 0; i < cfg->ntopics; i++) {
		const struct config_topic *t = &cfg->topics[i];

		rc = topic_create(topics, t->name, strlen(t->name), t->partitions, &tp);
		if (rc == -EEXIST) {
			fprintf(stderr, "fanoutd: topic %s exists with %u partitions, not %u\n",
				t->name, tp->partitions, t->partitions);
			return -1;
		}
		if (rc < 0) {
			fprintf(stderr, "fanoutd: topic %s: %s\n", t->name, strerror(-rc));
			return -1;
		}
	}
	topics->max = cfg->max_topics;	/* bounds what clients can create, not what exists */
	return 0;
}

/* Loads --rules (if given) into *out. A bad file is a configuration error: the caller
 * exits 2 before touching the data directory. */
static int fanoutd_rules(const struct config *cfg, struct rules_set **out)
{
	char err[CONFIG_PATH_MAX + RULES_ERROR_BYTES];
	int rc;

	*out = NULL;
	if (!cfg->rules_file[0])
		return 0;
	rc = rules_load_file(out, cfg->rules_file, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "fanoutd: --rules: %s\n", err);
		return -1;
	}
	if (!cfg->quiet)
		fprintf(stderr, "fanoutd: routing rules: %u loaded from %s (%u enabled)\n",
			(*out)->n, cfg->rules_file, (*out)->n_enabled);
	return 0;
}

/* Rules were read before the data directory was touched (a bad file exits 2 at once),
 * under the fixed key; their conditions hash strings, so once the data directory's key is
 * in force they are read again under it. Returns 0, or -1 (the file changed meanwhile). */
static int fanoutd_rules_rekey(const struct config *cfg, struct rules_set **rules)
{
	char err[CONFIG_PATH_MAX + RULES_ERROR_BYTES];
	struct rules_set *again;

	if (!*rules)
		return 0;
	if (rules_load_file(&again, cfg->rules_file, err, sizeof(err)) < 0) {
		fprintf(stderr, "fanoutd: --rules: %s\n", err);
		return -1;
	}
	rules_free(*rules);
	*rules = again;
	return 0;
}

/* With --no-auto-create, a rule whose target topic does not exist would reject every
 * batch it matches: refuse to start instead. */
static int fanoutd_rules_targets(struct topic_table *topics, const struct config *cfg,
				 const struct rules_set *rules)
{
	for (uint32_t i = 0; rules && !cfg->auto_create && i < rules->n_enabled; i++) {
		const struct rules_rule *r = &rules->rules[i];

		if (!topic_find(topics, r->target_topic, strlen(r->target_topic))) {
			fprintf(stderr, "fanoutd: --rules %s: rule '%s': target_topic '%s' "
				"does not exist and --no-auto-create is set (declare it with "
				"--topic)\n", cfg->rules_file, r->name, r->target_topic);
			return -1;
		}
	}
	return 0;
}

/* Stops what started, in order: the admin thread (it talks to the reactors), then the
 * reactors, then what the admin plane still holds. */
/* Writes a new admin token into path (mode 0600, a new file only). Returns 0 or -errno. */
static int fanoutd_bootstrap_make(const char *path, bool quiet)
{
	char text[AUTH_TOKEN_LEN + 1], id[AUTH_ID_LEN + 1], line[AUTH_TOKEN_LEN + 2];
	uint8_t hash[AUTH_HASH_BYTES];
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600), rc = 0;
	size_t len;

	if (fd < 0)
		return -errno;
	auth_token_generate(text, id, hash);
	len = (size_t)snprintf(line, sizeof(line), "%s\n", text);
	if (write(fd, line, len) != (ssize_t)len || fsync(fd) < 0)
		rc = -EIO;
	close(fd);
	explicit_bzero(text, sizeof(text));
	explicit_bzero(line, sizeof(line));
	if (rc == 0 && !quiet)
		fprintf(stderr, "fanoutd: wrote a new bootstrap admin token (id %s) to %s\n", id,
			path);
	return rc;
}

/* --auth-bootstrap FILE: the admin token in FILE (made when absent) is put in force. The
 * file must be a regular file of ours that nobody else may read. Returns 0, or -1 after
 * saying why. */
static int fanoutd_bootstrap(const struct config *cfg, struct auth *a)
{
	const char *path = cfg->auth_bootstrap;
	struct auth_token t = { .role = AUTH_ROLE_ADMIN };
	char buf[256];
	struct auth_set *set;
	struct stat st;
	ssize_t n;
	int fd, rc;

	if (!path[0]) {
		if (cfg->auth_required && !cfg->quiet)
			fprintf(stderr, "fanoutd: --auth required without --auth-bootstrap: only "
				"tokens already in the store are accepted\n");
		return 0;
	}
	if (access(path, F_OK) < 0 && errno == ENOENT && (rc = fanoutd_bootstrap_make(path, cfg->quiet)) < 0) {
		fprintf(stderr, "fanoutd: --auth-bootstrap %s: cannot create it: %s\n", path,
			strerror(-rc));
		return -1;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 || fstat(fd, &st) < 0) {
		fprintf(stderr, "fanoutd: --auth-bootstrap %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode) || (st.st_mode & 077) || st.st_uid != geteuid()) {
		fprintf(stderr, "fanoutd: --auth-bootstrap %s: must be a regular file owned by "
			"this user that no one else may read or write (chmod 600 %s); it is mode "
			"%03o, owner %u\n", path, path, (unsigned)(st.st_mode & 0777),
			(unsigned)st.st_uid);
		close(fd);
		return -1;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
		n--;
	if (n <= 0 || auth_token_parse(buf, (size_t)n, t.id, t.hash) < 0) {
		explicit_bzero(buf, sizeof(buf));
		fprintf(stderr, "fanoutd: --auth-bootstrap %s: does not hold a token (fo_ + 12 "
			"hex digits + _ + 43 base64url characters; delete the file to have a new "
			"one made)\n", path);
		return -1;
	}
	explicit_bzero(buf, sizeof(buf));
	strcpy(t.name, "bootstrap");
	strcpy(t.pub.allow[t.pub.nallow++], ">");
	strcpy(t.sub.allow[t.sub.nallow++], ">");
	set = auth_set_new();
	if (!set || auth_set_add(a, set, &t) < 0) {
		auth_set_free(set);
		fprintf(stderr, "fanoutd: out of memory for the bootstrap token\n");
		return -1;
	}
	if (auth_swap(a, set) > 0) {	/* a fresh table: cannot happen but for memory */
		fprintf(stderr, "fanoutd: out of memory for the bootstrap token\n");
		return -1;
	}
	return 0;
}

static int fanoutd_shutdown(struct admin *admin, struct net_engine *engine)
{
	int rc;

	admin_stop_thread(admin);
	rc = net_engine_wait(engine);
	admin_free(admin);
	return rc;
}

/* --pg-url, else $FANOUT_PG_URL; --redis-url, else $FANOUT_REDIS_URL (the flags and
 * the config file win). */
static void fanoutd_pg_env(struct config *cfg)
{
	const char *env = getenv("FANOUT_PG_URL");

	if (!cfg->pg_url[0] && env && *env)
		snprintf(cfg->pg_url, sizeof(cfg->pg_url), "%s", env);
	env = getenv("FANOUT_REDIS_URL");
	if (!cfg->redis_url[0] && env && *env)
		snprintf(cfg->redis_url, sizeof(cfg->redis_url), "%s", env);
}

int main(int argc, char **argv)
{
	static struct config cfg;
	static struct topic_table topics;
	static struct net_engine engine;
	static struct rules_set *rules;	/* static: reachable on every early exit */
	static struct net_sink_ops sinks;
	static struct admin admin;
	static struct executor executor;
	static struct fanoutd_kafka kafka;
	static struct fanoutd_egress egress;
	static const struct admin_ext kafka_ext = { .arg = &kafka,
		.metrics = fanoutd_kafka_metrics, .kafka = fanoutd_kafka_json };
	uint64_t events, batches, rejected;
	uint32_t reactors;
	int64_t mem_log_at;
	int rc;

	config_defaults(&cfg);
	rc = config_parse_args(&cfg, argc, argv, stdout, stderr);
	if (rc != 0)
		return rc > 0 ? 0 : 2;
	fanoutd_pg_env(&cfg);
	if (cfg.log_json && (rc = fanoutd_log_json_start()) < 0)
		fprintf(stderr, "fanoutd: --log-format json: %s; logging text\n", strerror(-rc));
	if (fanoutd_rules(&cfg, &rules) < 0)
		return 2;
	reactors = net_engine_count(&cfg);
	fanoutd_nofile(&cfg, reactors);
	fanoutd_headroom(&cfg, reactors);
	if (fanoutd_signals() < 0 || fanoutd_topics(&topics, &cfg, reactors, &executor) < 0) {
		executor_stop(&executor);
		return 1;
	}
	if (fanoutd_rules_rekey(&cfg, &rules) < 0 ||
	    fanoutd_rules_targets(&topics, &cfg, rules) < 0)
		return 2;
	if (!cfg.no_shm && fanoutd_shm_init(&sinks, &cfg) < 0) {
		executor_stop(&executor);	/* no hot directory left behind */
		topic_table_close(&topics);
		hotdir_release(fanoutd_hot_root);
		return 1;
	}
	/* The main thread reads the topic table in admin_prepare; no reactor runs yet. */
	if (epoch_register() < 0 || admin_prepare(&admin, &cfg, &topics, rules, &rules) < 0) {
		if (!cfg.no_shm)
			fanoutd_shm_fini(&sinks);	/* its socket removed */
		return 1;
	}
	rc = net_engine_start(&engine, reactors, &topics, &cfg, rules,
			      cfg.no_shm ? NULL : &sinks, &fanoutd_stop, FANOUTD_DRAIN_MS);
	if (rc < 0) {
		executor_stop(&executor);
		net_engine_free(&engine);
		fanoutd_shm_fini(&sinks);
		return 1;
	}
	if (fanoutd_bootstrap(&cfg, engine.auth) < 0 || admin_start(&admin, &engine) < 0) {
		fanoutd_stop = 1;
		fanoutd_shutdown(&admin, &engine);
		executor_stop(&executor);	/* it may wake the reactors: before they go */
		net_engine_free(&engine);
		fanoutd_shm_fini(&sinks);
		return 1;
	}
	if ((cfg.nkafka_egress &&
	     fanoutd_egress_start(&egress, &cfg, &engine, fanoutd_shm_socket()) < 0) ||
	    (cfg.nkafka && fanoutd_kafka_start(&kafka, &cfg, fanoutd_shm_socket()) < 0)) {
		fanoutd_stop = 1;
		fanoutd_egress_stop(&egress);
		fanoutd_shutdown(&admin, &engine);
		executor_stop(&executor);
		net_engine_free(&engine);
		fanoutd_shm_fini(&sinks);
		return 1;
	}
	if (cfg.nkafka)
		admin_extend(&admin, &kafka_ext);	/* /metrics and GET /api/v1/kafka */
	if (!cfg.quiet)
		fprintf(stderr, "fanoutd %s: listening on %s with %u reactor%s\n", FANOUT_VERSION,
			engine.bound, reactors, reactors == 1 ? "" : "s");
	fanoutd_say_limits(&cfg);
	if (cfg.tls_cert[0] && !cfg.quiet)
		fprintf(stderr, "fanoutd: TLS (--tls-cert) on the TCP protocol at %s%s; "
			"kernel TLS is not used (records are sealed in the reactors)\n",
			engine.bound, admin.http_bound[0] ? " and the admin API (HTTPS)" : "");
	if (cfg.ready_file[0] &&
	    (rc = fanoutd_ready(cfg.ready_file, engine.bound, admin.http_bound)) < 0) {
		fprintf(stderr, "fanoutd: ready file %s: %s\n", cfg.ready_file, strerror(-rc));
		fanoutd_stop = 1;
		fanoutd_kafka_stop(&kafka);
		fanoutd_egress_stop(&egress);
		fanoutd_shutdown(&admin, &engine);
		executor_stop(&executor);
		net_engine_free(&engine);
		fanoutd_shm_fini(&sinks);
		return 1;
	}
	mem_log_at = clock_monotonic_ns() + (int64_t)cfg.memory_log_ms * 1000000;
	while (!fanoutd_stop) {
		if (cfg.memory_log_ms && !cfg.quiet && clock_monotonic_ns() >= mem_log_at) {
			mem_report_log(&engine, &topics, stderr);
			mem_log_at = clock_monotonic_ns() + (int64_t)cfg.memory_log_ms * 1000000;
		}
		if (fanoutd_reload) {	/* the admin thread reads the file, through the store */
			fanoutd_reload = 0;
			admin_reload(&admin);
		}
		nanosleep(&(struct timespec){ .tv_nsec = 50 * 1000 * 1000 }, NULL);
	}
	fanoutd_kafka_stop(&kafka);	/* commits what is stored while the reactors drain */
	fanoutd_egress_stop(&egress);	/* acks what Kafka has; the rest goes next start */
	rc = fanoutd_shutdown(&admin, &engine);
	rules = (struct rules_set *)atomic_exchange(&engine.rules, NULL);	/* threads gone */
	epoch_unregister();
	net_engine_counts(&engine, &events, &batches, &rejected);
	if (!cfg.quiet)
		fprintf(stderr, "fanoutd: %llu events in %llu batches accepted, %llu batches "
			"rejected; bye\n", (unsigned long long)events, (unsigned long long)batches,
			(unsigned long long)rejected);
	executor_stop(&executor);	/* a last pass: what the reactors appended last */
	net_engine_free(&engine);
	fanoutd_shm_fini(&sinks);	/* rings closed with their sessions: the socket goes */
	rules_free(rules);
	topic_table_close(&topics);	/* the rest to disk; the hot files go */
	if (hotdir_release(fanoutd_hot_root) > 0)
		fprintf(stderr, "fanoutd: segments not yet on disk are kept in %s for the next "
			"start\n", fanoutd_hot_root);
	fanoutd_log_json_stop();
	return rc < 0 ? 1 : 0;
}
