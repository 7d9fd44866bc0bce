/* tests/unit/core/headroom_test.c — core/headroom.c with real logs: every descriptor and
 * mapping a log holds is counted, and matches what the process holds (/proc/self); a
 * sealed segment keeps no descriptor and a closed log nothing; past the room
 * headroom_init leaves, a new segment is refused (-HEADROOM_MAPS) before mmap would fail
 * and a disk file before open would (-HEADROOM_FDS), and the log goes on once there is
 * room again. Each test runs in its own temporary directory; the limit tests run last
 * (headroom_init is process-wide). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/frame.h"
#include "core/headroom.h"
#include "core/log.h"
#include "tests/unit/tmp_tree.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define SEGMENT (64u << 10)
#define BODY 1000u	/* ~60 frames a segment */

static const struct log_config config = { .segment_bytes = SEGMENT };

struct fixture {
	char tmp[64], dir[128];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->tmp, sizeof(f->tmp), "/tmp/headroom_test.XXXXXX");
	if (!mkdtemp(f->tmp)) {
		free(f);
		return -1;
	}
	snprintf(f->dir, sizeof(f->dir), "%s/p0", f->tmp);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	int r = tmp_tree_remove(f->tmp);

	free(f);
	return r;
}

static int64_t proc_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int64_t n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n - 1;	/* the directory's own */
}

static int64_t proc_maps(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	int64_t n = 0;
	int c;

	assert_non_null(f);
	while ((c = getc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

/* Appends one frame; returns log_reserve's result. */
static int append(struct log *log)
{
	static uint8_t body[BODY];
	uint32_t pre = (uint32_t)frame_varint_size(BODY);
	struct log_fields fields = { .recv_ns = 1 };
	uint64_t off;
	uint8_t *dst;
	int rc = log_reserve(log, pre + BODY, &dst, &off);

	if (rc < 0)
		return rc;
	frame_varint_put(dst, BODY);
	memset(body, (int)(off % 250) + 1, sizeof(body));
	memcpy(dst + pre, body, BODY);
	log_commit(log, &fields);
	log_publish(log);
	return 0;
}

static int64_t held_fds(void)
{
	struct headroom_view v;

	headroom_get(&v);
	return v.fds;
}

static int64_t held_maps(void)
{
	struct headroom_view v;

	headroom_get(&v);
	return v.maps;
}

/* What the segments say they hold, prepared one included. */
static void count_segments(struct log *log, int64_t *fds, int64_t *maps)
{
	uint32_t n = atomic_load(&log->nsegs);
	struct log_segment *prepared = atomic_load(&log->prepared);

	*fds = *maps = 0;
	for (uint32_t i = 0; i <= n; i++) {
		struct log_segment *seg = i < n ? log->segs[i] : prepared;

		if (!seg)
			continue;
		*fds += (seg->log_fd >= 0) + (seg->idx_fd >= 0) + (seg->hot_log_fd >= 0) +
			(seg->hot_idx_fd >= 0);
		*maps += 2;
	}
}

static void counts_follow_the_log(void **state)
{
	struct fixture *f = *state;
	int64_t fds0 = proc_fds(), maps0 = proc_maps(), fds, maps;
	struct log *log;
	uint32_t n;

	assert_int_equal(held_fds(), 0);
	assert_int_equal(held_maps(), 0);
	assert_int_equal(log_open(&log, f->dir, &config), 0);
	for (int i = 0; i < 300; i++) {	/* five segments or so, copied as they go */
		assert_int_equal(append(log), 0);
		if (i % 20 == 19)
			assert_int_equal(log_persist(log), 0);
	}
	assert_int_equal(log_persist(log), 0);
	n = atomic_load(&log->nsegs);
	assert_true(n >= 4);
	for (uint32_t i = 0; i + 1 < n; i++) {	/* sealed, on disk: no descriptors */
		const struct log_segment *seg = log->segs[i];

		assert_false(atomic_load(&seg->hot));
		assert_int_equal(seg->log_fd, -1);
		assert_int_equal(seg->idx_fd, -1);
		assert_int_equal(seg->hot_log_fd, -1);
		assert_int_equal(seg->hot_idx_fd, -1);
	}
	count_segments(log, &fds, &maps);
	assert_true(fds <= 6);	/* the active segment's hot and disk files, the next's */
	assert_int_equal(held_fds(), fds);
	assert_int_equal(held_maps(), maps);
	/* And what the process holds agrees (a sanitizer's allocator maps memory too). */
	assert_int_equal(proc_fds() - fds0, fds);
	assert_true(proc_maps() - maps0 >= maps);
	log_close(log);
	assert_int_equal(held_fds(), 0);
	assert_int_equal(held_maps(), 0);
	assert_int_equal(proc_fds(), fds0);
}

/* An idle log holds one segment: the next is made once the active one is half full. */
static void idle_log_holds_one_segment(void **state)
{
	struct fixture *f = *state;
	struct log *log;

	assert_int_equal(log_open(&log, f->dir, &config), 0);
	assert_int_equal(append(log), 0);
	assert_int_equal(log_persist(log), 0);
	assert_null(atomic_load(&log->prepared));
	assert_int_equal(held_maps(), 2);
	assert_int_equal(held_fds(), 4);	/* hot and disk files of the active one */
	for (int i = 0; i < 40; i++)	/* past half of a ~60-frame segment */
		assert_int_equal(append(log), 0);
	assert_int_equal(log_persist(log), 0);
	assert_non_null(atomic_load(&log->prepared));
	assert_int_equal(held_maps(), 4);
	log_close(log);
}

/* Sets vm.max_map_count (FANOUTD_MAX_MAP_COUNT) so that logs have about room mappings
 * left, and headroom_init. */
static void set_map_room(int64_t room)
{
	struct headroom_view v;
	char env[32];
	int64_t limit = proc_maps() + room;

	for (int i = 0; i < 3; i++) {
		snprintf(env, sizeof(env), "%lld", (long long)limit);
		setenv("FANOUTD_MAX_MAP_COUNT", env, 1);
		assert_int_equal(headroom_init(0, 0), 0);
		headroom_get(&v);
		if (v.map_room - v.maps == room)
			return;
		limit += room - (v.map_room - v.maps);
	}
}

/* Room for three segments' mappings: the next is refused, the log stays readable and
 * takes frames again once room is back. */
static void mappings_refused_before_the_kernel(void **state)
{
	struct fixture *f = *state;
	struct log *log, *other;
	struct headroom_view v;
	int rc = 0, frames = 0;

	/* A sanitizer's allocator maps memory as it goes: aim, then read what init left. */
	set_map_room(6);
	headroom_get(&v);
	assert_true(v.map_room >= 4);
	assert_int_equal(log_open(&log, f->dir, &config), 0);
	while (frames < 1000 && (rc = append(log)) == 0)
		frames++;
	assert_int_equal(rc, -HEADROOM_MAPS);
	assert_int_equal(atomic_load(&log->nsegs), v.map_room / 2);
	assert_int_equal(held_maps(), v.map_room / 2 * 2);
	assert_non_null(strstr(headroom_strerror(rc), "vm.max_map_count"));
	assert_int_equal(log_open(&other, f->tmp, &config), -HEADROOM_MAPS);
	/* More room: the same log goes on. */
	set_map_room(100);
	assert_int_equal(append(log), 0);
	log_close(log);
	assert_int_equal(held_maps(), 0);
	unsetenv("FANOUTD_MAX_MAP_COUNT");
}

/* Room for three descriptors: the active segment's two hot files and one disk file; the
 * copy to disk is refused (-HEADROOM_FDS, not EMFILE from open), appends then get
 * -ENOSPC (LOG_FULL), and a pass with room copies everything. */
static void descriptors_refused_before_the_kernel(void **state)
{
	struct fixture *f = *state;
	struct rlimit rl, low;
	struct log *log;

	unsetenv("FANOUTD_MAX_MAP_COUNT");	/* the system's */
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	low = (struct rlimit){ .rlim_cur = (rlim_t)proc_fds() + 3, .rlim_max = rl.rlim_max };
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	assert_int_equal(headroom_init(0, 0), 0);
	assert_int_equal(log_open(&log, f->dir, &config), 0);
	assert_int_equal(append(log), 0);
	assert_int_equal(log_persist(log), -HEADROOM_FDS);
	assert_int_equal(held_fds(), 2);	/* the disk file it opened is closed again */
	assert_int_equal(append(log), -ENOSPC);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
	assert_int_equal(headroom_init(0, 0), 0);
	assert_int_equal(log_persist(log), 0);
	assert_int_equal(log_persisted(log), 1);
	assert_int_equal(append(log), 0);
	log_close(log);
	assert_int_equal(held_fds(), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(counts_follow_the_log, setup, teardown),
		cmocka_unit_test_setup_teardown(idle_log_holds_one_segment, setup, teardown),
		cmocka_unit_test_setup_teardown(mappings_refused_before_the_kernel, setup,
						teardown),
		cmocka_unit_test_setup_teardown(descriptors_refused_before_the_kernel, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
