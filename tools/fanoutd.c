/* tools/fanoutd.c — the server: configuration, recovery of the data directory, the
 * reactor, signals, and an orderly drain on SIGTERM/SIGINT. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/config.h"
#include "core/topic.h"
#include "fanout_version.h"
#include "net/server.h"

#define FANOUTD_DRAIN_MS 2000

static volatile sig_atomic_t fanoutd_stop;

static void fanoutd_on_signal(int sig)
{
	(void)sig;
	fanoutd_stop = 1;
}

static int fanoutd_signals(void)
{
	struct sigaction sa = { .sa_handler = fanoutd_on_signal };

	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTERM, &sa, NULL) < 0 || sigaction(SIGINT, &sa, NULL) < 0)
		return -errno;
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

/* Writes the bound address atomically (temp file + rename) so a reader never sees half. */
static int fanoutd_ready(const char *path, const char *bound)
{
	char tmp[CONFIG_PATH_MAX + 8];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f)
		return -errno;
	fprintf(f, "%s\n", bound);
	if (fclose(f) != 0 || rename(tmp, path) < 0)
		return -errno;
	return 0;
}

/* Opens the data directory's topics and the topics declared on the command line. */
static int fanoutd_topics(struct topic_table *topics, const struct config *cfg)
{
	struct log_config lc = { .segment_bytes = cfg->segment_bytes };
	struct topic *tp;
	int rc;

	if (mkdir(cfg->data_dir, 0750) < 0 && errno != EEXIST) {
		fprintf(stderr, "fanoutd: data dir %s: %s\n", cfg->data_dir, strerror(errno));
		return -1;
	}
	rc = topic_table_init(topics, cfg->data_dir, &lc);
	if (rc == 0)
		rc = topic_table_recover(topics);
	if (rc < 0) {
		fprintf(stderr, "fanoutd: recovering %s: %s\n", cfg->data_dir, strerror(-rc));
		return -1;
	}
	if (!cfg->quiet)
		fprintf(stderr, "fanoutd: data dir %s: %d topics recovered\n", cfg->data_dir, rc);
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
	return 0;
}

int main(int argc, char **argv)
{
	static struct config cfg;
	static struct topic_table topics;
	static struct net_server srv;
	int rc;

	config_defaults(&cfg);
	rc = config_parse_args(&cfg, argc, argv, stdout, stderr);
	if (rc != 0)
		return rc > 0 ? 0 : 2;
	if (fanoutd_signals() < 0 || fanoutd_topics(&topics, &cfg) < 0)
		return 1;
	rc = net_server_init(&srv, &topics, &cfg);
	if (rc < 0) {
		fprintf(stderr, "fanoutd: cannot start: %s\n", strerror(-rc));
		return 1;
	}
	if (!cfg.quiet)
		fprintf(stderr, "fanoutd %s: listening on %s (io_uring: defer_taskrun=%d "
			"multishot=%d send_zc=%d msg_ring=%d)\n", FANOUT_VERSION, srv.bound,
			srv.reactor.features.defer_taskrun, srv.reactor.features.multishot_recv,
			srv.reactor.features.send_zc, srv.reactor.features.msg_ring);
	if (cfg.ready_file[0] && fanoutd_ready(cfg.ready_file, srv.bound) < 0) {
		fprintf(stderr, "fanoutd: ready file %s: %s\n", cfg.ready_file, strerror(errno));
		return 1;
	}
	rc = net_server_run(&srv, &fanoutd_stop, FANOUTD_DRAIN_MS);
	if (!cfg.quiet)
		fprintf(stderr, "fanoutd: %llu events in %llu batches accepted, %llu batches "
			"rejected; bye\n", (unsigned long long)srv.publish.events,
			(unsigned long long)srv.publish.batches,
			(unsigned long long)srv.publish.rejected);
	net_server_free(&srv);
	topic_table_close(&topics);
	return rc < 0 ? 1 : 0;
}
