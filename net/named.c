/* net/named.c — named subscriptions' durable cursors (see named.h). */
#include "net/named.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/clock.h"
#include "net/shared.h"

void named_init(struct named_registry *r)
{
	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->lock, NULL);
}

static void named_unmap(struct named_sub *ns)
{
	shared_free(ns->shared);
	if (ns->hdr)
		munmap(ns->hdr, ns->map_bytes);
	free(ns);
}

void named_free(struct named_registry *r)
{
	for (uint32_t i = 0; i < r->n; i++)
		named_unmap(r->subs[i]);
	r->n = 0;
	pthread_mutex_destroy(&r->lock);
}

int named_name_check(const char *name, const char **why)
{
	size_t n = strlen(name);

	if (n == 0 || n > NAMED_NAME_MAX) {
		*why = "a subscription name is 1..128 bytes";
		return -EINVAL;
	}
	if (strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") != n) {
		*why = "a subscription name is made of A-Z a-z 0-9 . _ -";
		return -EINVAL;
	}
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
		*why = "a subscription name is not . or ..";
		return -EINVAL;
	}
	return 0;
}

static const struct named_state *named_cur(const struct named_sub *ns, uint32_t p)
{
	const struct named_part_file *f = &ns->parts[p];

	return &f->copy[atomic_load_explicit(&f->cur, memory_order_relaxed) & 1];
}

/* The copy to write: the current one's contents in the other. Flip with named_commit. */
static struct named_state *named_next(struct named_sub *ns, uint32_t p)
{
	struct named_part_file *f = &ns->parts[p];
	uint32_t cur = atomic_load_explicit(&f->cur, memory_order_relaxed) & 1;

	f->copy[cur ^ 1] = f->copy[cur];
	return &f->copy[cur ^ 1];
}

static void named_commit(struct named_sub *ns, uint32_t p)
{
	struct named_part_file *f = &ns->parts[p];
	uint32_t cur = atomic_load_explicit(&f->cur, memory_order_relaxed) & 1;

	/* The copy's stores, then the flip: a process killed in between keeps the old. */
	atomic_store_explicit(&f->cur, cur ^ 1, memory_order_release);
}

/* A partition's state as the file may hold it: ranges rising past acked, counts >= 1. */
static bool named_state_ok(const struct named_state *st)
{
	uint64_t at = st->acked;

	if (st->nseg > NAMED_SEGS)
		return false;
	for (uint64_t i = 0; i < st->nseg; i++) {
		if (st->seg[i].end <= at || st->seg[i].count == 0)
			return false;
		at = st->seg[i].end;
	}
	return true;
}

/* A partition whose current copy is not valid (a power loss tore its page, which the
 * kernel may write back half): the other copy if it is, else the lower acked offset of
 * the two with no ranges (events are sent again, never skipped; counts restart). */
static void named_repair(struct named_sub *ns, const char *path, uint32_t p)
{
	struct named_part_file *f = &ns->parts[p];
	uint32_t cur = atomic_load_explicit(&f->cur, memory_order_relaxed) & 1;
	uint64_t a0 = f->copy[0].acked, a1 = f->copy[1].acked;
	bool other;

	if (named_state_ok(&f->copy[cur]) && (f->cur & ~1u) == 0)
		return;
	other = named_state_ok(&f->copy[cur ^ 1]);
	if (other) {
		atomic_store_explicit(&f->cur, cur ^ 1, memory_order_relaxed);
	} else {
		f->copy[0].acked = a0 < a1 ? a0 : a1;
		f->copy[0].nseg = 0;
		atomic_store_explicit(&f->cur, 0, memory_order_relaxed);
	}
	fprintf(stderr, "fanoutd: %s: partition %u's cursor was torn (a power loss?); it "
		"resumes at offset %llu%s\n", path, p,
		(unsigned long long)named_cur(ns, p)->acked,
		other ? ", from the state before its last update" :
		", with its delivery counts restarted");
}

/* Named subscriptions (files) in the topic's directory. */
static uint32_t named_count_files(const char *subdir)
{
	DIR *d = opendir(subdir);
	struct dirent *de;
	uint32_t n = 0;

	if (!d)
		return 0;
	while ((de = readdir(d)))
		if (strlen(de->d_name) > 4 && !strcmp(de->d_name + strlen(de->d_name) - 4, ".cur"))
			n++;
	closedir(d);
	return n;
}

/* Opens (or makes) the file and maps it. */
static int named_map(struct named_sub *ns, const char *path, uint32_t partitions, int delivery,
		     bool *resumed, const char **why)
{
	size_t bytes = sizeof(struct named_header) + (size_t)partitions *
		       sizeof(struct named_part_file);
	struct stat st;
	void *p;
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640), r = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	*resumed = st.st_size != 0;
	/* Blocks allocated now: a store into the mapping never meets a full disk. */
	if (st.st_size == 0 && (r = -posix_fallocate(fd, 0, (off_t)bytes)) < 0) {
		(void)ftruncate(fd, 0);	/* a later attach makes it again */
		goto out;
	}
	if (st.st_size != 0 && (size_t)st.st_size != bytes) {
		*why = "its size is not what the topic's partitions make";
		r = -EUCLEAN;
		goto out;
	}
	p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		r = -errno;
		goto out;
	}
	ns->hdr = p;
	ns->parts = (struct named_part_file *)(ns->hdr + 1);
	ns->map_bytes = bytes;
	/* Made by a process killed before the end, or by a Subscribe that failed before
	 * its cursors were placed: made again. */
	if (*resumed && (ns->hdr->magic == 0 || (ns->hdr->magic == NAMED_MAGIC &&
						 ns->hdr->version == NAMED_VERSION &&
						 !ns->hdr->started))) {
		memset(p, 0, bytes);
		*resumed = false;
	}
	if (!*resumed) {
		ns->hdr->version = NAMED_VERSION;
		ns->hdr->partitions = partitions;
		ns->hdr->delivery = (uint32_t)delivery;
		ns->hdr->created_ns = clock_realtime_ns();
		atomic_thread_fence(memory_order_release);
		ns->hdr->magic = NAMED_MAGIC;	/* last: a file without it is made again */
		goto out;
	}
	if (ns->hdr->magic != NAMED_MAGIC || ns->hdr->version != NAMED_VERSION) {
		*why = "not a named subscription file of this version";
		r = -EUCLEAN;
	} else if (ns->hdr->partitions != partitions) {
		*why = "its partition count differs from the topic's";
		r = -EUCLEAN;
	} else {
		for (uint32_t q = 0; q < partitions; q++)
			named_repair(ns, path, q);
	}
out:
	close(fd);	/* the mapping stays */
	return r;
}

int named_attach(struct named_registry *r, const struct topic *tp, const char *dir,
		 const char *name, int delivery, int type, struct named_consumer c,
		 struct named_sub **out, bool *resumed, bool *standby, const char **why)
{
	char path[1400];
	struct named_sub *ns = NULL;
	struct stat st;
	int rc = 0;

	*why = "";
	*standby = false;
	pthread_mutex_lock(&r->lock);
	for (uint32_t i = 0; i < r->n; i++) {
		if (r->subs[i]->topic != tp || strcmp(r->subs[i]->name, name) != 0)
			continue;
		ns = r->subs[i];
		if (ns->type != type)
			rc = -EPROTOTYPE;
		else if (type == NAMED_EXCLUSIVE || ns->nconsumers == NAMED_CONSUMERS_MAX)
			rc = -EBUSY;
		if (rc == 0) {	/* FAILOVER: behind the active one; SHARED: one more */
			ns->consumers[ns->nconsumers++] = c;
			*standby = type == NAMED_FAILOVER;
			*resumed = true;
			*out = ns;
		}
		goto out;
	}
	if (r->n == NAMED_MAX) {
		rc = -EMFILE;
		goto out;
	}
	snprintf(path, sizeof(path), "%s/subscriptions", dir);
	if (mkdir(path, 0750) < 0 && errno != EEXIST) {
		rc = -errno;
		goto out;
	}
	snprintf(path, sizeof(path), "%s/subscriptions/%s.cur", dir, name);
	if (stat(path, &st) < 0) {	/* a new one: within the topic's bound */
		char sub[1400];

		snprintf(sub, sizeof(sub), "%s/subscriptions", dir);
		if (named_count_files(sub) >= NAMED_PER_TOPIC) {
			rc = -EDQUOT;
			goto out;
		}
	}
	ns = calloc(1, sizeof(*ns));
	if (!ns) {
		rc = -ENOMEM;
		goto out;
	}
	snprintf(ns->name, sizeof(ns->name), "%s", name);
	ns->topic = tp;
	ns->type = type;
	rc = named_map(ns, path, tp->partitions, delivery, resumed, why);
	if (rc == 0 && (type == NAMED_SHARED || type == NAMED_KEY_SHARED) &&
	    !(ns->shared = shared_new(ns, type == NAMED_KEY_SHARED, *resumed)))
		rc = -ENOMEM;
	if (rc < 0) {
		named_unmap(ns);
		goto out;
	}
	ns->consumers[ns->nconsumers++] = c;
	r->subs[r->n++] = ns;
	*out = ns;
out:
	pthread_mutex_unlock(&r->lock);
	return rc;
}

int named_type_of(struct named_registry *r, const struct topic *tp, const char *name)
{
	int type = 0;

	pthread_mutex_lock(&r->lock);
	for (uint32_t i = 0; i < r->n && !type; i++)
		if (r->subs[i]->topic == tp && strcmp(r->subs[i]->name, name) == 0)
			type = r->subs[i]->type;
	pthread_mutex_unlock(&r->lock);
	return type;
}

void named_started(struct named_sub *ns)
{
	atomic_thread_fence(memory_order_release);	/* the cursors, then the mark */
	ns->hdr->started = 1;
}

uint32_t named_detach(struct named_registry *r, struct named_sub *ns, _Atomic bool *activate)
{
	uint32_t woken = UINT32_MAX, i;
	bool last;

	pthread_mutex_lock(&r->lock);
	for (i = 0; i < ns->nconsumers && ns->consumers[i].activate != activate; i++)
		;
	if (i < ns->nconsumers) {
		memmove(&ns->consumers[i], &ns->consumers[i + 1],
			(ns->nconsumers - i - 1) * sizeof(ns->consumers[0]));
		ns->nconsumers--;
		if (i == 0 && ns->nconsumers && ns->type == NAMED_FAILOVER) {
			/* the active one went: the next takes over */
			atomic_store_explicit(ns->consumers[0].activate, true, memory_order_release);
			woken = ns->consumers[0].reactor;
		}
	}
	last = ns->nconsumers == 0;
	for (i = 0; last && i < r->n; i++)
		if (r->subs[i] == ns) {
			r->subs[i] = r->subs[--r->n];
			break;
		}
	pthread_mutex_unlock(&r->lock);
	if (last)
		named_unmap(ns);	/* the file holds it; the next consumer maps it again */
	return woken;
}

void named_forget_topic(struct named_registry *r, const struct topic *tp)
{
	pthread_mutex_lock(&r->lock);
	for (uint32_t i = r->n; i-- > 0;) {
		struct named_sub *ns = r->subs[i];

		if (ns->topic != tp)
			continue;
		/* Its subscription ends before the topic goes: cannot happen. Unlinked from
		 * the registry (a new topic at the same address is not it), left mapped. */
		fprintf(stderr, "fanoutd: named subscription %s of a deleted topic still has a "
			"consumer; its memory is kept\n", ns->name);
		r->subs[i] = r->subs[--r->n];
		ns->topic = NULL;
	}
	pthread_mutex_unlock(&r->lock);
}

uint64_t named_acked(const struct named_sub *ns, uint32_t p)
{
	return named_cur(ns, p)->acked;
}

void named_start(struct named_sub *ns, uint32_t p, uint64_t offset)
{
	struct named_state *st = named_next(ns, p);

	st->acked = offset;
	st->nseg = 0;
	named_commit(ns, p);
}

/* Where the ranges end (acked when there are none). */
static uint64_t named_end(const struct named_state *st)
{
	return st->nseg ? st->seg[st->nseg - 1].end : st->acked;
}

/* Appends [.., end) sent count times to the list being built, merged with an equal
 * neighbour. */
static void seg_push(struct named_seg *list, uint32_t *n, uint64_t end, uint64_t count)
{
	if (*n && list[*n - 1].count == count) {
		list[*n - 1].end = end;
		return;
	}
	list[*n] = (struct named_seg){ .end = end, .count = count };
	(*n)++;
}

void named_sent(struct named_sub *ns, uint32_t p, uint64_t from, uint64_t to)
{
	struct named_seg list[NAMED_SEGS * 2 + 4];
	struct named_state *st;
	uint64_t start, end;
	uint32_t n = 0;

	if (ns->hdr->delivery == NAMED_AT_MOST_ONCE) {	/* sent is done with */
		if (to > named_cur(ns, p)->acked)
			named_start(ns, p, to);
		return;
	}
	st = named_next(ns, p);
	if (from < st->acked)
		from = st->acked;
	if (to <= from)
		return;	/* named_next's copy is dropped: cur still names the old */
	/* Split the ranges at from and to; those inside gain one sending. */
	start = st->acked;
	for (uint64_t i = 0; i < st->nseg; i++) {
		uint64_t s0 = start, s1 = st->seg[i].end, c = st->seg[i].count;

		if (from > s0 && from < s1) {
			seg_push(list, &n, from, c);
			s0 = from;
		}
		if (to > s0 && to < s1) {
			seg_push(list, &n, to, s0 >= from ? c + 1 : c);
			s0 = to;
		}
		seg_push(list, &n, s1, s0 >= from && s0 < to ? c + 1 : c);
		start = s1;
	}
	end = named_end(st);
	if (to > end)	/* sent for the first time (from is at most end: cursors move on) */
		seg_push(list, &n, to, 1);
	/* Too many ranges: the two neighbours whose counts differ least become one, with the
	 * higher count (a count may then be stated higher than it was, never lower). */
	while (n > NAMED_SEGS) {
		uint32_t best = 0;
		uint64_t diff = UINT64_MAX;

		for (uint32_t i = 0; i + 1 < n; i++) {
			uint64_t d = list[i].count > list[i + 1].count ?
				     list[i].count - list[i + 1].count :
				     list[i + 1].count - list[i].count;

			if (d < diff) {
				diff = d;
				best = i;
			}
		}
		if (list[best + 1].count < list[best].count)
			list[best + 1].count = list[best].count;
		memmove(&list[best], &list[best + 1], (n - best - 1) * sizeof(list[0]));
		n--;
	}
	memcpy(st->seg, list, n * sizeof(list[0]));
	st->nseg = n;
	named_commit(ns, p);
}

void named_ack(struct named_sub *ns, uint32_t p, uint64_t offset)
{
	const struct named_state *cur = named_cur(ns, p);
	struct named_state *st;
	uint32_t drop = 0;

	if (offset > named_end(cur))
		offset = named_end(cur);	/* never past what was sent */
	if (offset <= cur->acked)
		return;
	st = named_next(ns, p);
	while (drop < st->nseg && st->seg[drop].end <= offset)
		drop++;
	memmove(st->seg, st->seg + drop, (st->nseg - drop) * sizeof(st->seg[0]));
	st->nseg -= drop;
	st->acked = offset;
	named_commit(ns, p);
}

uint64_t named_file_acked(int fd, uint32_t partitions, uint32_t p)
{
	struct named_header h;
	struct named_part_file f;
	off_t at = (off_t)(sizeof(h) + (size_t)p * sizeof(f));

	if (pread(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h) || h.magic != NAMED_MAGIC ||
	    h.version != NAMED_VERSION || h.partitions != partitions || p >= partitions ||
	    pread(fd, &f, sizeof(f), at) != (ssize_t)sizeof(f))
		return 0;
	if (!h.started)	/* never placed (its Subscribe failed): no cursor yet */
		return UINT64_MAX;
	return f.copy[atomic_load_explicit(&f.cur, memory_order_relaxed) & 1].acked;
}

void named_mark(struct named_sub *ns, uint32_t p, uint64_t acked, uint64_t end, uint64_t count)
{
	struct named_state *st = named_next(ns, p);

	st->acked = acked;
	st->nseg = 0;
	if (end > acked && count) {
		st->seg[0] = (struct named_seg){ .end = end, .count = count };
		st->nseg = 1;
	}
	named_commit(ns, p);
}

uint32_t named_unacked(const struct named_sub *ns, uint32_t p, struct named_redelivery *out,
		       uint32_t max)
{
	const struct named_state *st = named_cur(ns, p);
	uint64_t start = st->acked;
	uint32_t n = 0;

	for (uint64_t i = 0; i < st->nseg && n < max; i++) {
		out[n++] = (struct named_redelivery){
			.partition = p, .first = start, .end = st->seg[i].end,
			.count = st->seg[i].count,
		};
		start = st->seg[i].end;
	}
	return n;
}
