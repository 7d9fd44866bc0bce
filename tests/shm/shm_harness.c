/* tests/shm/shm_harness.c — see shm_harness.h. */
#include "tests/shm/shm_harness.h"

#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/frame.h"
#include "fanout.pb-c.h"

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int shm_fixture_setup(void **state)
{
	struct shm_fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->ring_dir, sizeof(f->ring_dir), "/dev/shm/fanout-shm-test.XXXXXX");
	snprintf(f->data_dir, sizeof(f->data_dir), "/tmp/fanout-shm-data.XXXXXX");
	if (!mkdtemp(f->ring_dir) || !mkdtemp(f->data_dir)) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

int shm_fixture_teardown(void **state)
{
	struct shm_fixture *f = *state;
	int r = nftw(f->ring_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);

	r |= nftw(f->data_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return r;
}

uint32_t event_frame(uint8_t *dst, uint64_t i, uint32_t partition, uint64_t offset,
		     uint32_t payload)
{
	Fanout__V1__ServerMessage m = FANOUT__V1__SERVER_MESSAGE__INIT;
	Fanout__V1__Event ev = FANOUT__V1__EVENT__INIT;
	Fanout__V1__Distribution d = FANOUT__V1__DISTRIBUTION__INIT;
	Fanout__V1__MarketData md = FANOUT__V1__MARKET_DATA__INIT;
	char id[32], kind[HARNESS_FRAME_MAX / 2];

	snprintf(id, sizeof(id), "e%" PRIu64, i);
	if (payload >= sizeof(kind))
		payload = sizeof(kind) - 1;
	memset(kind, 'k', payload);
	kind[payload] = '\0';
	d.topic = HARNESS_TOPIC;
	d.partition = partition;
	d.offset = offset;
	d.routing_key = "AAPL.NASDAQ.trade";
	md.symbol = "AAPL";
	md.exchange = "NASDAQ";
	md.price = 100.0 + (double)(i % 100);
	md.volume = (int64_t)i;
	md.kind = kind;
	ev.event_id = id;
	ev.timestamp_ns = (int64_t)i;
	ev.data_type = FANOUT__V1__DATA_TYPE__DATA_TYPE_MARKET_DATA;
	ev.distribution = &d;
	ev.payload_case = FANOUT__V1__EVENT__PAYLOAD_MARKET_DATA;
	ev.market_data = &md;
	m.body_case = FANOUT__V1__SERVER_MESSAGE__BODY_EVENT;
	m.event = &ev;
	return (uint32_t)frame_pack(&m.base, dst);
}

int pub_open(struct pub *p, const struct shm_fixture *f, const struct pub_opts *o)
{
	struct log_config lc = { .segment_bytes = HARNESS_SEGMENT_BYTES };
	struct shm_ring_opts ro = {
		.memfd = o->memfd, .dir = f->ring_dir, .name = o->name, .bytes = o->ring_bytes,
		.journal_entries = o->journal_entries, .topic = HARNESS_TOPIC,
		.partitions = o->partitions ? o->partitions : 1,
		.data_dir = o->no_logs ? NULL : f->data_dir,
	};
	char dir[256];
	int r;

	memset(p, 0, sizeof(*p));
	p->partitions = ro.partitions;
	p->payload = o->payload ? o->payload : 100;
	if (p->partitions > HARNESS_PARTITIONS_MAX)
		return -EINVAL;
	for (uint32_t i = 0; !o->no_logs && i < p->partitions; i++) {
		/* core/topic.c's layout: data_dir/topics/<topic, '/' as %2F>/<partition> */
		snprintf(dir, sizeof(dir), "%s/topics/md%%2Fequities/%u", f->data_dir, i);
		if ((r = log_open(&p->logs[i], dir, &lc)) < 0)
			return r;
	}
	return shm_ring_create(&p->w, &ro, p->path, sizeof(p->path));
}

int pub_event(struct pub *p, bool wake)
{
	uint8_t frame[HARNESS_FRAME_MAX];
	uint32_t part = (uint32_t)(p->n % p->partitions);
	uint64_t off = p->n / p->partitions, got;
	uint32_t len = event_frame(frame, p->n, part, off, p->payload);
	struct log_fields fl = { .recv_ns = 1000000000ull + p->n };
	uint8_t *dst;
	int r;

	if (p->logs[part]) {
		/* The log first: a frame is in a ring only once it can be recovered. */
		if ((r = log_reserve(p->logs[part], len, &dst, &got)) < 0)
			return r;
		if (got != off)
			return -EPROTO;
		memcpy(dst, frame, len);
		log_commit(p->logs[part], &fl);
		log_publish(p->logs[part]);
	}
	/* What fanoutd's executor does now and then: sealed segments to disk. */
	for (uint32_t i = 0; p->n % 256 == 255 && i < p->partitions; i++)
		if (p->logs[i] && (r = log_persist(p->logs[i])) < 0)
			return r;
	if ((r = shm_ring_write(p->w, frame, len, part, off, fl.recv_ns)) < 0)
		return r;
	p->n++;
	if (wake)
		shm_ring_wake(p->w);
	return 0;
}

int pub_events(struct pub *p, uint64_t n)
{
	for (uint64_t k = 0; k < n; k++) {
		int r = pub_event(p, k % 64 == 63 || k + 1 == n);

		if (r < 0)
			return r;
	}
	return 0;
}

void pub_close(struct pub *p)
{
	shm_ring_destroy(p->w);
	p->w = NULL;
	for (uint32_t i = 0; i < p->partitions; i++)
		if (p->logs[i])
			log_close(p->logs[i]);
	memset(p->logs, 0, sizeof(p->logs));
}

int check_event(const struct fanout_shm_record *rec, uint64_t i, uint32_t partitions)
{
	Fanout__V1__ServerMessage *m;
	char id[32];
	int ok;

	if (rec->partition != i % partitions || rec->offset != i / partitions) {
		fprintf(stderr, "event %" PRIu64 ": got partition %u offset %" PRIu64 "\n", i,
			rec->partition, rec->offset);
		return -1;
	}
	m = fanout_shm_decode(rec, NULL);
	snprintf(id, sizeof(id), "e%" PRIu64, i);
	ok = m && m->body_case == FANOUT__V1__SERVER_MESSAGE__BODY_EVENT &&
	     strcmp(m->event->event_id, id) == 0 && m->event->distribution &&
	     m->event->distribution->offset == rec->offset &&
	     m->event->distribution->partition == rec->partition;
	fanout_shm_decode_free(m, NULL);
	if (!ok)
		fprintf(stderr, "event %" PRIu64 ": the frame is not event %s\n", i, id);
	return ok ? 0 : -1;
}

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int read_expect(struct fanout_shm *r, uint64_t first, uint64_t n, uint32_t partitions,
		int64_t timeout_ns, struct read_tally *t)
{
	int64_t deadline = mono_ns() + timeout_ns;
	struct fanout_shm_record rec;
	uint64_t i = first;

	while (i < first + n) {
		int64_t left = deadline - mono_ns();
		int rc = left > 0 ? fanout_shm_next(r, &rec, left) : 0;
		int bad;

		if (rc == FANOUT_SHM_GAP) {
			fprintf(stderr, "at event %" PRIu64 ": a gap of %" PRIu64 " (%s)\n", i,
				rec.lost, fanout_shm_errmsg(r));
			t->gaps++;
			t->lost += rec.lost;
			return -1;
		}
		if (rc != FANOUT_SHM_EVENT) {
			fprintf(stderr, "at event %" PRIu64 " of %" PRIu64 "..%" PRIu64 ": %s (%s)\n",
				i, first, first + n - 1, rc == 0 ? "timed out" : fanout_shm_strerror(rc),
				fanout_shm_errmsg(r));
			return -1;
		}
		bad = check_event(&rec, i, partitions);
		if (fanout_shm_validate(r, &rec) < 0) {
			t->torn++;	/* overwritten while checked: it comes again from the log */
			continue;
		}
		if (bad)
			return -1;
		t->recovered += (rec.flags & FANOUT_SHM_RECOVERED) != 0;
		t->events++;
		i++;
	}
	return 0;
}

pid_t fork_child(int (*fn)(void *), void *arg)
{
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid == 0)
		_exit(fn(arg));
	return pid;
}

int wait_child(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

void pipe_signal(int fd)
{
	char c = 1;

	while (write(fd, &c, 1) < 0 && errno == EINTR)
		;
}

int pipe_wait(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char c;

	if (poll(&p, 1, timeout_ms) != 1)
		return -1;
	return read(fd, &c, 1) == 1 ? 0 : -1;
}
