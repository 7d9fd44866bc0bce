/* core/headroom.c — descriptors and mappings held by logs against the process's limits
 * (core/headroom.h). */
#include "core/headroom.h"

#include <dirent.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define HEADROOM_MAP_COUNT_ENV "FANOUTD_MAX_MAP_COUNT"

static struct {
	_Atomic int64_t fds, maps;	/* held by logs */
	_Atomic bool on;		/* release: the fields below are set */
	struct headroom_view limits;	/* written once, by headroom_init */
} headroom;

void headroom_fds_add(int64_t n)
{
	/* Relaxed: a count, read only to compare with a limit that has slack. */
	atomic_fetch_add_explicit(&headroom.fds, n, memory_order_relaxed);
}

void headroom_maps_add(int64_t n)
{
	atomic_fetch_add_explicit(&headroom.maps, n, memory_order_relaxed);
}

int headroom_check(uint64_t fds, uint64_t maps)
{
	const struct headroom_view *l = &headroom.limits;

	if (!atomic_load_explicit(&headroom.on, memory_order_acquire))
		return 0;
	if (fds && atomic_load_explicit(&headroom.fds, memory_order_relaxed) + (int64_t)fds >
		   l->fd_room)
		return -HEADROOM_FDS;
	if (maps && atomic_load_explicit(&headroom.maps, memory_order_relaxed) + (int64_t)maps >
		    l->map_room)
		return -HEADROOM_MAPS;
	return 0;
}

const char *headroom_strerror(int rc)
{
	if (rc == -HEADROOM_FDS)
		return "the server's open-file limit (RLIMIT_NOFILE) leaves no room for more log "
		       "files (raise it: ulimit -n, LimitNOFILE=)";
	if (rc == -HEADROOM_MAPS)
		return "the kernel's limit on memory mappings (vm.max_map_count) leaves no room "
		       "for more log segments (raise it: sysctl vm.max_map_count)";
	return strerror(-rc);
}

/* Entries of /proc/self/fd (the directory's own descriptor not counted), or -errno. */
static int64_t headroom_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int64_t n = 0;

	if (!d)
		return -errno;
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n - 1;
}

/* Lines of /proc/self/maps (one per mapping), or -errno. */
static int64_t headroom_count_maps(void)
{
	FILE *f = fopen("/proc/self/maps", "re");
	int64_t n = 0;
	int c;

	if (!f)
		return -errno;
	while ((c = getc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

/* vm.max_map_count, or the test override. Returns 0 when neither can be read. */
static uint64_t headroom_max_map_count(void)
{
	const char *env = getenv(HEADROOM_MAP_COUNT_ENV);
	unsigned long long v = 0;
	FILE *f;

	if (env && *env)
		return strtoull(env, NULL, 10);
	f = fopen("/proc/sys/vm/max_map_count", "re");
	if (!f)
		return 0;
	if (fscanf(f, "%llu", &v) != 1)
		v = 0;
	fclose(f);
	return v;
}

static int64_t headroom_room(uint64_t limit, uint64_t reserved, uint64_t other)
{
	int64_t room = (int64_t)limit - (int64_t)reserved - (int64_t)other;

	return room > 0 ? room : 0;
}

int headroom_init(uint64_t reserved_fds, uint64_t reserved_maps)
{
	struct headroom_view *l = &headroom.limits;
	int64_t fds = headroom_count_fds(), maps = headroom_count_maps();
	struct rlimit rl;

	if (fds < 0 || maps < 0)
		return (int)(fds < 0 ? fds : maps);
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -errno;
	l->nofile = rl.rlim_cur == RLIM_INFINITY ? INT64_MAX / 2 : rl.rlim_cur;
	l->max_map_count = headroom_max_map_count();
	if (l->max_map_count == 0)
		return -ENOENT;
	fds -= atomic_load(&headroom.fds);
	maps -= atomic_load(&headroom.maps);
	l->other_fds = fds > 0 ? (uint64_t)fds : 0;
	l->other_maps = maps > 0 ? (uint64_t)maps : 0;
	l->reserved_fds = reserved_fds;
	l->reserved_maps = reserved_maps;
	l->fd_room = headroom_room(l->nofile, reserved_fds, l->other_fds);
	l->map_room = headroom_room(l->max_map_count, reserved_maps, l->other_maps);
	l->on = 1;
	atomic_store_explicit(&headroom.on, true, memory_order_release);
	return 0;
}

void headroom_get(struct headroom_view *v)
{
	if (atomic_load_explicit(&headroom.on, memory_order_acquire))
		*v = headroom.limits;
	else
		memset(v, 0, sizeof(*v));
	v->fds = atomic_load_explicit(&headroom.fds, memory_order_relaxed);
	v->maps = atomic_load_explicit(&headroom.maps, memory_order_relaxed);
}

void headroom_report(FILE *f)
{
	struct headroom_view v;
	int64_t fd_left, map_left;

	headroom_get(&v);
	if (!v.on)
		return;
	fd_left = v.fd_room > v.fds ? v.fd_room - v.fds : 0;
	map_left = v.map_room > v.maps ? v.map_room - v.maps : 0;
	fprintf(f, "fanoutd: limits: open files %" PRIu64 " (%" PRIu64 " kept for connections "
		"and the server, %" PRIu64 " in use elsewhere): logs hold %" PRId64 " and may "
		"open %" PRId64 " more, about %" PRId64 " partitions at %u each\n", v.nofile,
		v.reserved_fds, v.other_fds, v.fds, fd_left,
		fd_left / HEADROOM_PARTITION_FDS, HEADROOM_PARTITION_FDS);
	fprintf(f, "fanoutd: limits: memory mappings %" PRIu64 " (vm.max_map_count; %" PRIu64
		" kept for connections and the server, %" PRIu64 " in use elsewhere): logs hold "
		"%" PRId64 " (%" PRId64 " segments) and may map %" PRId64 " more: %" PRId64
		" segments, about %" PRId64 " partitions at %u each\n", v.max_map_count,
		v.reserved_maps, v.other_maps, v.maps, v.maps / 2, map_left, map_left / 2,
		map_left / HEADROOM_PARTITION_MAPS, HEADROOM_PARTITION_MAPS);
}
