/* tests/integration/delay_link.c — a point-to-point link with a fixed one-way delay
 * between two network namespaces, for kernels without sch_netem: a TUN device in each
 * namespace, and this process carrying every packet from one to the other after the
 * delay (ACKs included, so TCP sees the round trip a netem qdisc would give).
 *
 *   delay_link NS_A DEV_A NS_B DEV_B DELAY_A_TO_B_MS DELAY_B_TO_A_MS
 *
 * Creates DEV_A in /run/netns/NS_A and DEV_B in /run/netns/NS_B (the caller sets their
 * addresses and brings them up), prints "ready" and carries packets until SIGTERM or
 * SIGINT. The devices are not persistent: they go when this process exits. Each
 * direction queues at most DL_SLOTS packets; a packet arriving at a full queue is
 * dropped, as on a real link. */
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define DL_SLOTS 4096u		/* packets queued per direction (power of two) */
#define DL_PACKET_MAX 16384u	/* the largest packet carried: set the MTU below */

struct dl_packet {
	int64_t due_ns;
	uint32_t len;
	uint8_t *bytes;
};

/* One direction: packets read from in_fd wait delay_ns, then go to out_fd in order. */
struct dl_queue {
	int in_fd, out_fd;
	int64_t delay_ns;
	struct dl_packet slot[DL_SLOTS];
	uint8_t *slab;		/* the slots' bytes */
	uint32_t head, tail;	/* free-running */
	uint64_t carried, dropped;
};

static volatile sig_atomic_t dl_stop;

static void dl_on_signal(int sig)
{
	(void)sig;
	dl_stop = 1;
}

static int64_t dl_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Opens a TUN device named dev in the namespace /run/netns/ns. Returns its fd or -1. */
static int dl_tun(const char *ns, const char *dev)
{
	char path[256];
	struct ifreq ifr = { .ifr_flags = IFF_TUN | IFF_NO_PI };
	int nsfd, fd;

	snprintf(path, sizeof(path), "/run/netns/%s", ns);
	nsfd = open(path, O_RDONLY | O_CLOEXEC);
	if (nsfd < 0 || setns(nsfd, CLONE_NEWNET) < 0) {
		fprintf(stderr, "delay_link: namespace %s: %s\n", ns, strerror(errno));
		return -1;
	}
	close(nsfd);
	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		fprintf(stderr, "delay_link: /dev/net/tun: %s\n", strerror(errno));
		return -1;
	}
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", dev);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		fprintf(stderr, "delay_link: TUNSETIFF %s: %s\n", dev, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* Reads every packet waiting on q->in_fd into the queue (bounded by the slots). */
static void dl_read(struct dl_queue *q, int64_t now_ns)
{
	static uint8_t spill[DL_PACKET_MAX];

	for (unsigned n = 0; n < DL_SLOTS; n++) {
		bool full = q->tail - q->head == DL_SLOTS;
		struct dl_packet *p = &q->slot[q->tail % DL_SLOTS];
		ssize_t r = read(q->in_fd, full ? spill : p->bytes, DL_PACKET_MAX);

		if (r <= 0)
			return;	/* EAGAIN: drained */
		if (full) {
			q->dropped++;
			continue;
		}
		p->len = (uint32_t)r;
		p->due_ns = now_ns + q->delay_ns;
		q->tail++;
	}
}

/* Writes the packets that are due. */
static void dl_write(struct dl_queue *q, int64_t now_ns)
{
	while (q->head != q->tail) {
		struct dl_packet *p = &q->slot[q->head % DL_SLOTS];

		if (p->due_ns > now_ns)
			return;
		if (write(q->out_fd, p->bytes, p->len) < 0 && errno == EAGAIN)
			return;	/* the device's queue is full: again on the next pass */
		q->head++;
		q->carried++;
	}
}

/* Nanoseconds until the first queued packet is due (-1: nothing queued). */
static int64_t dl_wait_ns(const struct dl_queue *q, int64_t now_ns)
{
	int64_t d;

	if (q->head == q->tail)
		return -1;
	d = q->slot[q->head % DL_SLOTS].due_ns - now_ns;
	return d < 0 ? 0 : d;
}

static int dl_queue_init(struct dl_queue *q, int in_fd, int out_fd, long delay_ms)
{
	memset(q, 0, sizeof(*q));
	q->in_fd = in_fd;
	q->out_fd = out_fd;
	q->delay_ns = (int64_t)delay_ms * 1000000;
	/* One slab: pages are touched only as packets use them. */
	q->slab = malloc((size_t)DL_SLOTS * DL_PACKET_MAX);
	if (!q->slab)
		return -1;
	for (unsigned i = 0; i < DL_SLOTS; i++)
		q->slot[i].bytes = q->slab + (size_t)i * DL_PACKET_MAX;
	return 0;
}

static void dl_run(struct dl_queue *ab, struct dl_queue *ba)
{
	struct pollfd pfd[2] = { { .fd = ab->in_fd, .events = POLLIN },
				 { .fd = ba->in_fd, .events = POLLIN } };

	while (!dl_stop) {
		int64_t now = dl_now_ns(), w1, w2, w;
		struct timespec ts;

		dl_write(ab, now);
		dl_write(ba, now);
		w1 = dl_wait_ns(ab, now);
		w2 = dl_wait_ns(ba, now);
		w = w1 < 0 ? w2 : w2 < 0 ? w1 : w1 < w2 ? w1 : w2;
		if (w < 0)
			w = 100 * 1000000;	/* idle: look at the stop flag now and then */
		ts = (struct timespec){ .tv_sec = w / 1000000000, .tv_nsec = w % 1000000000 };
		if (ppoll(pfd, 2, &ts, NULL) < 0 && errno != EINTR)
			break;
		now = dl_now_ns();
		if (pfd[0].revents & POLLIN)
			dl_read(ab, now);
		if (pfd[1].revents & POLLIN)
			dl_read(ba, now);
	}
}

int main(int argc, char **argv)
{
	static struct dl_queue ab, ba;
	struct sigaction sa = { .sa_handler = dl_on_signal };
	int a, b;

	if (argc != 7) {
		fprintf(stderr, "usage: delay_link NS_A DEV_A NS_B DEV_B A_TO_B_MS B_TO_A_MS\n");
		return 2;
	}
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	a = dl_tun(argv[1], argv[2]);
	b = a < 0 ? -1 : dl_tun(argv[3], argv[4]);
	if (b < 0)
		return 1;
	if (dl_queue_init(&ab, a, b, atol(argv[5])) < 0 ||
	    dl_queue_init(&ba, b, a, atol(argv[6])) < 0) {
		fprintf(stderr, "delay_link: out of memory\n");
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	dl_run(&ab, &ba);
	fprintf(stderr, "delay_link: carried %llu + %llu packets, dropped %llu + %llu\n",
		(unsigned long long)ab.carried, (unsigned long long)ba.carried,
		(unsigned long long)ab.dropped, (unsigned long long)ba.dropped);
	return 0;
}
