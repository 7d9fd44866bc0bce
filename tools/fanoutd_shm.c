/* tools/fanoutd_shm.c — rings for subscriptions that ask for one (Subscribe.shm_ring_bytes)
 * on the Unix socket: each a pair of sealed memfds (shm/ring_memfd.h) whose descriptors
 * the session passes to the client, inside the server's budgets. */
#include "tools/fanoutd_shm.h"

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shm/ring_writer.h"
#include "tools/fanoutd_shm_sock.h"

#define FANOUTD_SHM_PREFIX "fanout-"
#define FANOUTD_SHM_READERS 64u
#define FANOUTD_SHM_SOCKET_NAME "shm.sock"
/* --shm-total-bytes 0: rings are memory (memfd pages, not a file system), so the default
 * is a share of it. /dev/shm, where the hot segments live, may take half of RAM by
 * default; a quarter for rings leaves the rest for those, the page cache and processes. */
#define FANOUTD_SHM_TOTAL_RAM_DIVISOR 4u

struct fanoutd_shm {
	const struct config *cfg;
	struct shm_sock_policy policy;
	_Atomic uint64_t seq;		/* makes names unique across a slot's reuse */
	_Atomic uint64_t used_bytes;	/* all open rings' memory */
	uint64_t total_bytes;		/* the bound on used_bytes */
	char data_dir[PATH_MAX];	/* absolute: readers run elsewhere */
	char socket_path[PATH_MAX];
};

/* One ring and what it holds of the budget. */
struct fanoutd_ring {
	struct fanoutd_shm *f;
	struct shm_ring_writer *w;
	uint64_t bytes;			/* counted in used_bytes */
	int64_t attach_by_ns;		/* CLOCK_MONOTONIC: removed if nobody came by then */
};

static struct fanoutd_shm fanoutd_shm;

static int64_t fanoutd_shm_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Takes bytes from the budget, or nothing when they do not fit. Any reactor. */
static bool fanoutd_shm_budget_take(struct fanoutd_shm *f, uint64_t bytes, uint64_t *used)
{
	uint64_t cur = atomic_load_explicit(&f->used_bytes, memory_order_relaxed);

	/* Relaxed: the counter guards nothing but itself; the CAS makes take-and-check one
	 * step, so reactors racing for the last bytes cannot both win. */
	do {
		*used = cur;
		if (bytes > f->total_bytes || cur > f->total_bytes - bytes)
			return false;
	} while (!atomic_compare_exchange_weak_explicit(&f->used_bytes, &cur, cur + bytes,
							memory_order_relaxed,
							memory_order_relaxed));
	return true;
}

static void fanoutd_shm_budget_give(struct fanoutd_shm *f, uint64_t bytes)
{
	uint64_t before = atomic_fetch_sub_explicit(&f->used_bytes, bytes, memory_order_relaxed);

	if (before < bytes)
		abort();	/* gave back more than was taken: the accounting is broken */
}

/* The bounds a ring asked for must stay within, before anything is made. Returns 0, or -1
 * with the reason (naming the flag) in err. */
static int fanoutd_shm_bounds(struct fanoutd_shm *f, const struct net_sink_req *req,
			      char *err, size_t errcap)
{
	const struct config *cfg = f->cfg;

	if (req->conn_rings >= cfg->shm_max_rings) {
		snprintf(err, errcap, "this connection has %u ring%s, the server allows %u per "
			 "connection (--shm-max-rings)", req->conn_rings,
			 req->conn_rings == 1 ? "" : "s", cfg->shm_max_rings);
		return -1;
	}
	if (req->bytes > cfg->shm_max_bytes) {
		snprintf(err, errcap, "%llu bytes asked for, the server allows at most %llu "
			 "(--shm-max-bytes)", (unsigned long long)req->bytes,
			 (unsigned long long)cfg->shm_max_bytes);
		return -1;
	}
	return 0;
}

/* Makes the ring, its bytes already taken from the budget. */
static struct fanoutd_ring *fanoutd_shm_make(struct fanoutd_shm *f, struct shm_ring_opts *o,
					     uint64_t bytes, int fds[2], char *err,
					     size_t errcap)
{
	struct fanoutd_ring *ring = calloc(1, sizeof(*ring));
	int rc = ring ? shm_ring_create(&ring->w, o, NULL, 0) : -ENOMEM;

	if (rc == 0 && (rc = shm_ring_take_fds(ring->w, &fds[0], &fds[1])) < 0)
		shm_ring_destroy(ring->w);
	if (rc < 0) {
		snprintf(err, errcap, "cannot create ring %s of %llu bytes: %s", o->name,
			 (unsigned long long)bytes, strerror(-rc));
		free(ring);
		return NULL;
	}
	ring->f = f;
	ring->bytes = bytes;
	ring->attach_by_ns = fanoutd_shm_now_ns() +
			     (int64_t)f->cfg->shm_attach_timeout_ms * 1000000;
	return ring;
}

static void *fanoutd_shm_open(void *ctx, const struct net_sink_req *req, const char **name,
			      int fds[2], char *err, size_t errcap)
{
	struct fanoutd_shm *f = ctx;
	const struct config *cfg = f->cfg;
	/* A record holds at most a quarter of the ring: the largest stored frame must fit
	 * (a client frame plus what the server adds, the slack segments keep for it too). */
	uint64_t min = 4ull * (cfg->max_frame_bytes + CONFIG_SEGMENT_SLACK), bytes, used;
	char rname[128];
	struct shm_ring_opts o = {
		.memfd = true, .name = rname, .topic = req->topic, .partitions = req->partitions,
		.data_dir = f->data_dir,
	};
	struct fanoutd_ring *ring;

	if (fanoutd_shm_bounds(f, req, err, errcap) < 0)
		return NULL;
	o.bytes = req->bytes < min ? min : req->bytes;
	snprintf(rname, sizeof(rname), FANOUTD_SHM_PREFIX "%d-r%u-c%u-s%u-%llu", (int)getpid(),
		 req->reactor, req->conn, req->sub_id,
		 (unsigned long long)atomic_fetch_add(&f->seq, 1));
	bytes = shm_ring_footprint(&o);
	if (!fanoutd_shm_budget_take(f, bytes, &used)) {
		snprintf(err, errcap, "a ring of %llu bytes does not fit: rings hold %llu of the "
			 "server's %llu bytes (--shm-total-bytes)", (unsigned long long)bytes,
			 (unsigned long long)used, (unsigned long long)f->total_bytes);
		return NULL;
	}
	ring = fanoutd_shm_make(f, &o, bytes, fds, err, errcap);
	if (!ring) {
		fanoutd_shm_budget_give(f, bytes);
		return NULL;
	}
	*name = shm_ring_path(ring->w);
	return ring;
}

static int fanoutd_shm_admit(void *ctx, int fd, char *err, size_t errcap)
{
	struct fanoutd_shm *f = ctx;

	return shm_sock_admit(fd, &f->policy, err, errcap);
}

static int fanoutd_shm_write(void *sink, const uint8_t *frame, uint32_t len,
			     uint32_t partition, uint64_t offset, uint64_t recv_ns)
{
	struct fanoutd_ring *ring = sink;

	return shm_ring_write(ring->w, frame, len, partition, offset, recv_ns);
}

static int fanoutd_shm_attached(void *sink)
{
	struct fanoutd_ring *ring = sink;

	if (shm_ring_has_reader(ring->w))
		return 1;
	return fanoutd_shm_now_ns() > ring->attach_by_ns ? -ETIMEDOUT : 0;
}

static void fanoutd_shm_flush(void *sink)
{
	struct fanoutd_ring *ring = sink;

	shm_ring_wake(ring->w);
}

static void fanoutd_shm_report(void *sink, char *buf, size_t cap)
{
	struct fanoutd_ring *ring = sink;
	struct shm_reader_info info[FANOUTD_SHM_READERS];
	uint32_t n = shm_ring_readers(ring->w, info, FANOUTD_SHM_READERS);
	size_t used;

	used = (size_t)snprintf(buf, cap, "ring %s: %llu records written, %u reader%s",
				shm_ring_path(ring->w),
				(unsigned long long)shm_ring_written(ring->w), n, n == 1 ? "" : "s");
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
	struct fanoutd_ring *ring = sink;

	shm_ring_destroy(ring->w);
	fanoutd_shm_budget_give(ring->f, ring->bytes);
	free(ring);
}

/* Who may have rings: the server's user, root, and --shm-group's members. */
static int fanoutd_shm_policy(struct fanoutd_shm *f, const struct config *cfg)
{
	f->policy.server_uid = geteuid();
	if (cfg->shm_group[0]) {
		struct group *g = getgrnam(cfg->shm_group);

		if (!g) {
			fprintf(stderr, "fanoutd: --shm-group %s: no such group\n", cfg->shm_group);
			return -ENOENT;
		}
		f->policy.set_group = true;
		f->policy.group = g->gr_gid;
		snprintf(f->policy.group_name, sizeof(f->policy.group_name), "%s", cfg->shm_group);
	}
	return 0;
}

/* --shm-total-bytes, or a quarter of physical memory. */
static uint64_t fanoutd_shm_total(const struct config *cfg)
{
	long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);

	if (cfg->shm_total_bytes)
		return cfg->shm_total_bytes;
	if (pages <= 0 || page <= 0)
		return 4ull << 30;	/* unknown memory: a fixed share of a small server */
	return (uint64_t)pages * (uint64_t)page / FANOUTD_SHM_TOTAL_RAM_DIVISOR;
}

/* --shm-socket, or DATA_DIR/shm.sock: absolute when that fits a socket address (clients
 * are told it), else as the data directory was given. */
static int fanoutd_shm_socket_path(struct fanoutd_shm *f, const struct config *cfg)
{
	size_t cap = sizeof(f->socket_path), addr_max = 107;	/* sun_path less its NUL */
	int n;

	if (cfg->shm_socket[0])
		n = snprintf(f->socket_path, cap, "%s", cfg->shm_socket);
	else if ((n = snprintf(f->socket_path, cap, "%s/" FANOUTD_SHM_SOCKET_NAME,
			       f->data_dir)) < 0 || (size_t)n > addr_max)
		n = snprintf(f->socket_path, cap, "%s/" FANOUTD_SHM_SOCKET_NAME, cfg->data_dir);
	if (n < 0 || (size_t)n >= cap) {
		fprintf(stderr, "fanoutd: --shm-socket: path too long\n");
		return -ENAMETOOLONG;
	}
	return 0;	/* shm_sock_listen says it if it does not fit a socket address */
}

const char *fanoutd_shm_socket(void)
{
	return fanoutd_shm.socket_path;
}

int fanoutd_shm_init(struct net_sink_ops *ops, const struct config *cfg)
{
	struct fanoutd_shm *f = &fanoutd_shm;
	int rc, fd;

	memset(ops, 0, sizeof(*ops));
	ops->listen_fd = -1;
	f->cfg = cfg;
	if (!realpath(cfg->data_dir, f->data_dir)) {
		fprintf(stderr, "fanoutd: data dir %s: %s\n", cfg->data_dir, strerror(errno));
		return -errno;
	}
	if ((rc = fanoutd_shm_policy(f, cfg)) < 0)
		return rc;
	if ((rc = fanoutd_shm_socket_path(f, cfg)) < 0)
		return rc;
	f->total_bytes = fanoutd_shm_total(cfg);
	if ((fd = shm_sock_listen(f->socket_path, &f->policy)) < 0)
		return fd;
	*ops = (struct net_sink_ops){
		.ctx = f, .data_dir = f->data_dir, .socket_path = f->socket_path, .listen_fd = fd,
		.admit = fanoutd_shm_admit, .open = fanoutd_shm_open, .write = fanoutd_shm_write,
		.attached = fanoutd_shm_attached, .flush = fanoutd_shm_flush,
		.report = fanoutd_shm_report, .close = fanoutd_shm_close,
	};
	if (!cfg->quiet)
		fprintf(stderr, "fanoutd: rings on %s (mode %s): up to %llu bytes each, %llu in "
			"all, %u per connection; removed when no reader attaches within %u ms\n",
			f->socket_path, f->policy.set_group ? "0660" : "0600",
			(unsigned long long)cfg->shm_max_bytes, (unsigned long long)f->total_bytes,
			cfg->shm_max_rings, cfg->shm_attach_timeout_ms);
	return 0;
}

void fanoutd_shm_fini(struct net_sink_ops *ops)
{
	if (!ops->ctx || ops->listen_fd < 0)	/* never initialised (--no-shm), or done */
		return;
	close(ops->listen_fd);
	ops->listen_fd = -1;
	unlink(fanoutd_shm.socket_path);
}
