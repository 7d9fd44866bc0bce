/* tools/fanoutd_shm.c — rings for subscriptions that ask for one (Subscribe.shm_ring_bytes). */
#include "tools/fanoutd_shm.h"

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "shm/ring_writer.h"

#define FANOUTD_SHM_PREFIX "fanout-"
#define FANOUTD_SHM_READERS 64u

struct fanoutd_shm {
	const struct config *cfg;
	bool set_group;
	gid_t group;
	_Atomic uint64_t seq;	/* makes names unique across a slot's reuse */
	char data_dir[PATH_MAX];	/* absolute: readers run elsewhere */
};

static struct fanoutd_shm fanoutd_shm;

static void *fanoutd_shm_open(void *ctx, const struct net_sink_req *req, const char **path,
			      char *err, size_t errcap)
{
	struct fanoutd_shm *f = ctx;
	const struct config *cfg = f->cfg;
	/* A record holds at most a quarter of the ring: the largest stored frame must fit
	 * (a client frame plus what the server adds, the slack segments keep for it too). */
	uint64_t min = 4ull * (cfg->max_frame_bytes + CONFIG_SEGMENT_SLACK);
	char name[128];
	struct shm_ring_opts o = {
		.dir = cfg->shm_dir, .name = name, .mode = 0600, .set_group = f->set_group,
		.group = f->group, .topic = req->topic, .partitions = req->partitions,
		.data_dir = f->data_dir,
	};
	struct shm_ring_writer *w = NULL;
	int rc;

	if (req->bytes > cfg->shm_max_bytes) {
		snprintf(err, errcap, "%llu bytes asked for, the server allows at most %llu "
			 "(--shm-max-bytes)", (unsigned long long)req->bytes,
			 (unsigned long long)cfg->shm_max_bytes);
		return NULL;
	}
	o.bytes = req->bytes < min ? min : req->bytes;
	if (f->set_group)
		o.mode = 0660;
	snprintf(name, sizeof(name), FANOUTD_SHM_PREFIX "%d-r%u-c%u-s%u-%llu", (int)getpid(),
		 req->reactor, req->conn, req->sub_id,
		 (unsigned long long)atomic_fetch_add(&f->seq, 1));
	rc = shm_ring_create(&w, &o, NULL, 0);
	if (rc < 0) {
		snprintf(err, errcap, "cannot create %s/%s: %s", cfg->shm_dir, name, strerror(-rc));
		return NULL;
	}
	*path = shm_ring_path(w);
	return w;
}

static int fanoutd_shm_write(void *sink, const uint8_t *frame, uint32_t len,
			     uint32_t partition, uint64_t offset, uint64_t recv_ns)
{
	return shm_ring_write(sink, frame, len, partition, offset, recv_ns);
}

static bool fanoutd_shm_attached(void *sink)
{
	return shm_ring_has_reader(sink);
}

static void fanoutd_shm_flush(void *sink)
{
	shm_ring_wake(sink);
}

static void fanoutd_shm_report(void *sink, char *buf, size_t cap)
{
	struct shm_reader_info info[FANOUTD_SHM_READERS];
	uint32_t n = shm_ring_readers(sink, info, FANOUTD_SHM_READERS);
	size_t used;

	used = (size_t)snprintf(buf, cap, "ring %s: %llu records written, %u reader%s",
				shm_ring_path(sink), (unsigned long long)shm_ring_written(sink),
				n, n == 1 ? "" : "s");
	for (uint32_t i = 0; i < n && used < cap; i++)
		used += (size_t)snprintf(buf + used, cap - used, "%s pid %d %s, %llu records "
					 "(%llu bytes) behind, %llu recovered, %llu lost",
					 i ? ";" : ":", (int)info[i].pid,
					 info[i].alive ? "alive" : "gone",
					 (unsigned long long)info[i].lag_records,
					 (unsigned long long)info[i].lag_bytes,
					 (unsigned long long)info[i].recovered,
					 (unsigned long long)info[i].lost);
}

static void fanoutd_shm_close(void *sink)
{
	shm_ring_destroy(sink);
}

static void fanoutd_shm_swept(void *ctx, const char *path, bool removed, const char *why)
{
	const struct config *cfg = ctx;

	if (removed && !cfg->quiet)
		fprintf(stderr, "fanoutd: removed stale ring %s (%s)\n", path, why);
}

int fanoutd_shm_init(struct net_sink_ops *ops, const struct config *cfg)
{
	int rc;

	memset(ops, 0, sizeof(*ops));
	fanoutd_shm.cfg = cfg;
	if (!realpath(cfg->data_dir, fanoutd_shm.data_dir)) {
		fprintf(stderr, "fanoutd: data dir %s: %s\n", cfg->data_dir, strerror(errno));
		return -errno;
	}
	if (cfg->shm_group[0]) {
		struct group *g = getgrnam(cfg->shm_group);

		if (!g) {
			fprintf(stderr, "fanoutd: --shm-group %s: no such group\n", cfg->shm_group);
			return -ENOENT;
		}
		fanoutd_shm.set_group = true;
		fanoutd_shm.group = g->gr_gid;
	}
	rc = shm_ring_sweep(cfg->shm_dir, FANOUTD_SHM_PREFIX, fanoutd_shm_swept, (void *)cfg);
	if (rc < 0) {
		fprintf(stderr, "fanoutd: --shm-dir %s: %s\n", cfg->shm_dir, strerror(-rc));
		return rc;
	}
	*ops = (struct net_sink_ops){
		.ctx = &fanoutd_shm, .data_dir = fanoutd_shm.data_dir, .open = fanoutd_shm_open,
		.write = fanoutd_shm_write, .attached = fanoutd_shm_attached,
		.flush = fanoutd_shm_flush,
		.report = fanoutd_shm_report, .close = fanoutd_shm_close,
	};
	return 0;
}
