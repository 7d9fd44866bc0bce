/* tests/unit/core/hotdir_test.c — review tests for core/hotdir.c with core/log.c: a hot
 * directory serves exactly one data directory, and a killed server's hot segments are
 * found by the next start of that data directory (core/log.h: "an appended frame
 * survives the death of the process"). A kill is log_drop (hot files kept). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/frame.h"
#include "core/hotdir.h"
#include "core/log.h"
#include "tests/unit/tmp_tree.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

struct fx {
	char tmp[64];
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->tmp, sizeof(f->tmp), "/tmp/hotdir_test.XXXXXX");
	if (!mkdtemp(f->tmp)) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	tmp_tree_remove(f->tmp);
	free(f);
	return 0;
}

static void path_of(char *buf, size_t cap, const struct fx *f, const char *name)
{
	snprintf(buf, cap, "%s/%s", f->tmp, name);
}

/* One server's view: its data dir, its hot root, its one log. */
struct server {
	char data[256], root[PATH_MAX], logdir[512];
	struct log *log;
};

static void server_open(struct server *s, const char *data, const char *parent)
{
	struct log_config cfg = { .segment_bytes = 64u << 10 };

	snprintf(s->data, sizeof(s->data), "%s", data);
	mkdir(data, 0700);
	assert_int_equal(hotdir_resolve(data, parent, s->root, sizeof(s->root)), 0);
	snprintf(s->logdir, sizeof(s->logdir), "%s/topics/t/0", data);
	cfg.hot_root = s->root;
	cfg.data_root = data;
	assert_int_equal(log_open(&s->log, s->logdir, &cfg), 0);
}

/* Appends n frames whose bodies carry tag, and publishes them. */
static void server_append(struct server *s, uint32_t n, uint8_t tag)
{
	for (uint32_t i = 0; i < n; i++) {
		uint8_t frame[64], *dst;
		struct log_fields fl = { .recv_ns = tag };
		uint32_t len = (uint32_t)frame_varint_put(frame, 40);
		uint64_t off;

		memset(frame + len, tag, 40);
		len += 40;
		assert_int_equal(log_reserve(s->log, len, &dst, &off), 0);
		memcpy(dst, frame, len);
		log_commit(s->log, &fl);
	}
	log_publish(s->log);
}

/* The tag of the frame at offset, or -1. */
static int frame_tag(struct log *log, uint64_t offset)
{
	struct log_ref ref;

	if (log_read(log, offset, &ref) < 0)
		return -1;
	return ref.frame[ref.len - 1];
}

/* A data dir copied whole (cp -a, a backup restored beside the original) has the same ID
 * file. hotdir_resolve takes the copy for "its data dir moved", rewrites OWNER and hands
 * both servers the same hot directory. The copy's log_open then recovers the running
 * server's hot segments into the copy's data dir and unlinks them under it. */
static void test_copied_data_dir_gets_own_hot_dir(void **state)
{
	struct fx *f = *state;
	char parent[256], a[256], b[256], id_a[300], id_b[300], cmd[700], live_hot[PATH_MAX + 64];
	struct server sa, sb;
	bool before, after;
	uint64_t stolen;
	uint32_t seq;

	path_of(parent, sizeof(parent), f, "hot");
	path_of(a, sizeof(a), f, "a");
	path_of(b, sizeof(b), f, "b");
	mkdir(parent, 0700);
	server_open(&sa, a, parent);
	server_append(&sa, 10, 'A');	/* A is running: 10 frames in its hot segment */
	/* The file A's writer is appending to. */
	seq = sa.log->segs[atomic_load(&sa.log->nsegs) - 1]->hot_seq;
	snprintf(live_hot, sizeof(live_hot), "%s/topics/t/0/hot-%010u.idx", sa.root, seq);
	before = access(live_hot, F_OK) == 0;

	/* B: a copy of A's data dir, started beside it. */
	snprintf(id_a, sizeof(id_a), "%s/ID", a);
	snprintf(id_b, sizeof(id_b), "%s/ID", b);
	mkdir(b, 0700);
	snprintf(cmd, sizeof(cmd), "cp %s %s", id_a, id_b);
	assert_int_equal(system(cmd), 0);
	/* Refusing B (it would say which data dir the hot dir serves) is a fine answer. */
	if (hotdir_resolve(b, parent, sb.root, sizeof(sb.root)) < 0) {
		log_drop(sa.log);
		return;
	}
	server_open(&sb, b, parent);
	stolen = log_tail(sb.log);
	after = access(live_hot, F_OK) == 0;
	fprintf(stderr, "A's hot root %s\nB's hot root %s\nB recovered %lu frames it never "
		"wrote; A's active hot segment file %s: %s -> %s\n", sa.root, sb.root,
		(unsigned long)stolen, live_hot, before ? "present" : "absent",
		after ? "present" : "absent");
	log_close(sb.log);
	log_drop(sa.log);
	assert_string_not_equal(sa.root, sb.root);
	assert_int_equal(stolen, 0);
	assert_int_equal(after, before);
}

/* Killed with frames only in hot memory; the next start picks another parent (--hot-dir
 * given or dropped, or the default changed because /run/fanout-hot is or is not a huge
 * tmpfs at that moment). DATA_DIR/HOT still names the old root when hotdir_resolve runs,
 * but it is overwritten without a look: the frames are not recovered, offsets 0.. are
 * given to new frames, and when the old parent is used again its stale segment is
 * copied over them. */
static void test_parent_change_after_kill(void **state)
{
	struct fx *f = *state;
	char p1[256], p2[256], data[256];
	struct server s;
	uint64_t recovered;
	int tag0_run3;

	path_of(p1, sizeof(p1), f, "hot1");
	path_of(p2, sizeof(p2), f, "hot2");
	path_of(data, sizeof(data), f, "data");
	mkdir(p1, 0700);
	mkdir(p2, 0700);
	/* Run 1: 10 frames, then kill -9 (no executor ran: all of them in hot memory). */
	server_open(&s, data, p1);
	server_append(&s, 10, '1');
	log_drop(s.log);
	/* Run 2, another parent. Refusing to start (naming the old root, whose segments
	 * are not on disk) is a fine answer too. */
	if (hotdir_resolve(data, p2, s.root, sizeof(s.root)) < 0)
		return;
	server_open(&s, data, p2);
	recovered = log_tail(s.log);
	if (recovered == 0)
		server_append(&s, 5, '2');	/* offsets 0..4 go to new frames */
	log_close(s.log);
	/* Run 3, the first parent again. */
	server_open(&s, data, p1);
	tag0_run3 = frame_tag(s.log, 0);
	fprintf(stderr, "run 2 recovered %lu of 10 frames; run 3 reads offset 0 as run %c's "
		"frame (tail %lu)\n", (unsigned long)recovered, tag0_run3 > 0 ? tag0_run3 : '?',
		(unsigned long)log_tail(s.log));
	log_close(s.log);
	assert_int_equal(recovered, 10);
}

/* A killed server's data dir is renamed (the rename hotdir_resolve itself supports: "its
 * data dir moved"); before it starts again, any other fanoutd starting on the machine
 * sweeps the parent: the OWNER path has no ID file, so the hot dir goes, with the only
 * copy of the frames the dead server acknowledged. */
static void test_sweep_keeps_moved_data_dir(void **state)
{
	struct fx *f = *state;
	char parent[256], data[256], moved[256];
	struct server s;
	uint64_t recovered;
	int swept;

	path_of(parent, sizeof(parent), f, "hot");
	path_of(data, sizeof(data), f, "data");
	path_of(moved, sizeof(moved), f, "data-moved");
	mkdir(parent, 0700);
	server_open(&s, data, parent);
	server_append(&s, 10, 'A');
	log_drop(s.log);			/* kill -9 */
	assert_int_equal(rename(data, moved), 0);
	swept = hotdir_sweep(parent);		/* another server starts */
	server_open(&s, moved, parent);
	recovered = log_tail(s.log);
	fprintf(stderr, "swept %d hot dirs; the moved data dir recovered %lu of 10 frames\n",
		swept, (unsigned long)recovered);
	log_close(s.log);
	assert_int_equal(recovered, 10);
}

/* A server stopped cleanly and started again in the same process (tests, fuzzers): the
 * release removed the hot dir and its OWNER, so the new OWNER must be locked again (the
 * old lock was on the removed file, and nothing else kept its descriptor open). */
static void test_restart_in_process_locks_again(void **state)
{
	struct fx *f = *state;
	char parent[256], data[256], root[PATH_MAX], owner[PATH_MAX + 16];
	int fd;

	path_of(parent, sizeof(parent), f, "hot");
	path_of(data, sizeof(data), f, "data");
	mkdir(parent, 0700);
	mkdir(data, 0700);
	assert_int_equal(hotdir_resolve(data, parent, root, sizeof(root)), 0);
	assert_int_equal(hotdir_release(root), 0);
	assert_int_equal(access(root, F_OK), -1);
	assert_int_equal(hotdir_resolve(data, parent, root, sizeof(root)), 0);
	snprintf(owner, sizeof(owner), "%s/OWNER", root);
	fd = open(owner, O_RDONLY | O_CLOEXEC);	/* another open file: another locker */
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), -1);
	assert_int_equal(errno, EWOULDBLOCK);
	close(fd);
	assert_int_equal(hotdir_release(root), 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_copied_data_dir_gets_own_hot_dir),
		T(test_parent_change_after_kill),
		T(test_sweep_keeps_moved_data_dir),
		T(test_restart_in_process_locks_again),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
