/* tests/integration/quarantine_test.c — a corrupt segment before the tail quarantines its
 * partition instead of stopping the server: the rest is served, publishing to it and
 * subscribing to its topic get PARTITION_QUARANTINED naming the file and offset, its files
 * are left as found; fanout-repair then cuts it at the corruption (keeping what it cuts)
 * and the next start serves it again from there.
 *
 *   integration_quarantine_test FANOUTD FANOUT_REPAIR */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/log.h"
#include "tests/integration/harness.h"

#define Q_EVENTS 3000u	/* over 3 segments of 128 KiB */
#define Q_BAD_ENTRY 100u	/* in the second segment */

static int g_argc;
static char **g_argv;

static const char *const q_args[] = { "--max-frame-bytes", "16384", "--segment-bytes",
				      "131072", "--topic", "bad", "--topic", "good", NULL };

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The .idx files of dir, sorted (base offsets are zero-padded): how many, into names. */
static int idx_files(const char *dir, char names[][32], int cap)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char *ptrs[16];
	char tmp[16][32];
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) && n < cap && n < 16) {
		if (strlen(de->d_name) != 24 || strcmp(de->d_name + 20, ".idx") != 0)
			continue;
		snprintf(tmp[n], sizeof(tmp[n]), "%s", de->d_name);
		ptrs[n] = tmp[n];
		n++;
	}
	closedir(d);
	qsort(ptrs, (size_t)n, sizeof(ptrs[0]), name_cmp);
	for (int i = 0; i < n; i++)
		memcpy(names[i], ptrs[i], 32);
	return n;
}

/* Flips a bit of entry i's crc in an .idx file; returns the file's bytes after it. */
static void corrupt_entry(const char *path, uint32_t i)
{
	FILE *f = fopen(path, "r+b");
	long at = (long)(sizeof(struct log_index_header) + i * sizeof(struct log_entry) +
			 offsetof(struct log_entry, crc));
	int c;

	assert_non_null(f);
	assert_int_equal(fseek(f, at, SEEK_SET), 0);
	c = getc(f);
	assert_true(c != EOF);
	assert_int_equal(fseek(f, at, SEEK_SET), 0);
	assert_int_equal(putc(c ^ 1, f), c ^ 1);
	assert_int_equal(fclose(f), 0);
}

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *p;
	long n;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	rewind(f);
	p = malloc((size_t)n);
	assert_non_null(p);
	assert_int_equal(fread(p, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return p;
}

/* Subscribes to topic from the earliest offset and receives n events, offsets 0..n-1. */
static void read_all(struct server *srv, const char *topic, uint64_t n)
{
	Fanout__V1__ServerMessage *m = NULL;
	struct client c;

	server_connect(srv, &c);
	assert_int_equal(client_subscribe(&c, 1, topic, NULL, 0,
					  FANOUT__V1__START_POSITION__START_POSITION_EARLIEST, 0,
					  &m), 0);
	client_free_msg(m);
	for (uint64_t i = 0; i < n; i++) {
		m = recv_msg(&c, 5000);
		assert_int_equal(m->body_case, FANOUT__V1__SERVER_MESSAGE__BODY_EVENT);
		assert_int_equal(m->event->distribution->offset, i);
		client_free_msg(m);
	}
	ping_pong(&c, 1);	/* and nothing more */
	client_close(&c);
}

static void run_repair(const char *data_dir)
{
	pid_t pid = fork();
	int status;

	assert_true(pid >= 0);
	if (pid == 0) {
		execl(g_argv[2], g_argv[2], "--data-dir", data_dir, "--topic", "bad",
		      "--partition", "0", "--apply", (char *)NULL);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* A batch for the quarantined partition is refused whole, naming the file. */
static void publish_refused(struct client *c, const char *bad_file)
{
	Fanout__V1__Event ev, *ptr = &ev;
	Fanout__V1__Distribution d;
	Fanout__V1__MarketData md;
	Fanout__V1__ServerMessage *m;
	char buf[256];

	make_event(&ev, &d, &md, buf, "bad", 1, 10);
	assert_int_equal(client_publish(c, 77, &ptr, 1), 0);
	m = expect_error(c, FANOUT__V1__ERROR_CODE__ERROR_CODE_PARTITION_QUARANTINED);
	assert_int_equal(m->error->sequence, 77);
	assert_non_null(strstr(m->error->message, bad_file));
	assert_non_null(strstr(m->error->message, "quarantined"));
	client_free_msg(m);
}

/* The server starts with the partition quarantined and refuses it, clearly. */
static void check_quarantined(struct server *srv, const char *bad_file, uint64_t bad_off)
{
	Fanout__V1__ServerMessage *m = NULL;
	char offset[32];
	struct client c;

	snprintf(offset, sizeof(offset), "%" PRIu64, bad_off);
	server_connect(srv, &c);
	publish_range(&c, "good", 100, 10, 10, NULL);	/* the rest is served */
	assert_int_equal(client_subscribe(&c, 1, "bad", NULL, 0,
					  FANOUT__V1__START_POSITION__START_POSITION_EARLIEST, 0,
					  &m), -EPROTO);
	assert_int_equal(m->error->code, FANOUT__V1__ERROR_CODE__ERROR_CODE_PARTITION_QUARANTINED);
	assert_non_null(strstr(m->error->message, bad_file));
	assert_non_null(strstr(m->error->message, offset));
	client_free_msg(m);
	publish_refused(&c, bad_file);
	client_close(&c);
	read_all(srv, "good", 110);
}

static void corrupt_partition_is_quarantined_then_repaired(void **state)
{
	struct server srv;
	struct client c;
	char data[300], dir[400], path[500], aside[400], names[8][32];
	uint64_t bad_off, offs[1];
	uint8_t *before, *after;
	size_t before_len, after_len;
	int n;

	(void)state;
	server_setup(&srv, g_argc, g_argv);
	server_start(&srv, q_args);
	server_connect(&srv, &c);
	publish_range(&c, "bad", 0, Q_EVENTS, 10, NULL);
	publish_range(&c, "good", 0, 100, 10, NULL);
	client_close(&c);
	assert_int_equal(server_stop(&srv, SIGTERM), 0);
	snprintf(data, sizeof(data), "%s/data", srv.dir);
	snprintf(dir, sizeof(dir), "%s/topics/bad/0", data);
	n = idx_files(dir, names, 8);
	assert_true(n >= 3);
	snprintf(path, sizeof(path), "%s/%s", dir, names[1]);
	bad_off = strtoull(names[1], NULL, 10) + Q_BAD_ENTRY;
	corrupt_entry(path, Q_BAD_ENTRY);
	before = slurp(path, &before_len);

	server_start(&srv, q_args);	/* it starts: the old server refused to */
	check_quarantined(&srv, names[1], bad_off);
	assert_int_equal(server_stop(&srv, SIGTERM), 0);
	after = slurp(path, &after_len);	/* kept as found */
	assert_int_equal(after_len, before_len);
	assert_memory_equal(after, before, before_len);
	assert_int_equal(idx_files(dir, names, 8), n);
	free(before);
	free(after);

	run_repair(data);
	snprintf(aside, sizeof(aside), "%s/quarantine/bad/0", data);
	assert_int_equal(access(aside, F_OK), 0);
	server_start(&srv, q_args);
	read_all(&srv, "bad", bad_off);	/* everything before the corruption */
	server_connect(&srv, &c);
	publish_range(&c, "bad", 0, 1, 10, offs);
	assert_int_equal(offs[0], bad_off);	/* appends go on from the cut */
	client_close(&c);
	server_teardown(&srv);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(corrupt_partition_is_quarantined_then_repaired),
	};

	if (argc < 3) {
		fprintf(stderr, "usage: %s FANOUTD FANOUT_REPAIR\n", argv[0]);
		return 2;
	}
	g_argc = argc;
	g_argv = argv;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
