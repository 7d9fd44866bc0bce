/* perf/bench.h — fanout-bench: one publisher, N subscribers, one system under test
 * (fanoutd, nats-server, redis-server pub/sub, or broker-less ZeroMQ PUB/SUB), and for
 * fanoutd M shared-memory readers besides (bench_shm.c).
 * The run engine (bench_run.c) owns threads and accounting; each system is a driver
 * (bench_<system>.c) with blocking set-up calls and a non-blocking receive call.
 * A run is driven from one thread; each receive thread (and each shm reader's thread)
 * owns its subscribers and its histogram, and shares only relaxed atomic counters for
 * the progress line. */
#ifndef FANOUT_PERF_BENCH_H
#define FANOUT_PERF_BENCH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <jansson.h>

#include "tools/latency_hist.h"

#define BENCH_SYSTEMS 4
#define BENCH_SUBS_MAX 4096u
#define BENCH_THREADS_MAX 16u
#define BENCH_SUB_BUF_BYTES (64u << 10)	/* receive buffer per subscriber: many frames */
/* --payload-bytes' range. It sized the peers' payloads before every system carried the
 * same encoded Event (perf/bench_event.h); now only parsed, so older scenarios still run. */
#define BENCH_PAYLOAD_MIN 16u
#define BENCH_PAYLOAD_MAX 65000u
#define BENCH_TOPIC "bench"
#define BENCH_BULK_TOPIC "bench-bulk"	/* --bulk-subscribers' topic (bench_bulk.c) */
#define BENCH_RUNS_MAX 64u		/* --repeat bound */
#define BENCH_SHM_READERS_MAX 16u	/* --shm-readers bound: a thread each */
#define BENCH_SHM_KEYS_MAX 64u		/* a reader is one subscription: 64 patterns */
#define BENCH_EXCHANGES 4u		/* the synthetic events' exchanges (tools/synth.h) */

enum bench_system { BENCH_FANOUT, BENCH_NATS, BENCH_REDIS, BENCH_ZMQ };
/* The report's lines: one per system, then fanout's shared-memory readers. */
#define BENCH_SHM_LINE BENCH_SYSTEMS
#define BENCH_LINES (BENCH_SYSTEMS + 1)

/* A content filter every subscriber gets (fanout: in its Subscribe or attach; peers:
 * applied by the subscriber to what it receives). Empty: every event passes. */
struct bench_filter {
	unsigned exchanges;		/* bit e: synth_exchange(e) passes; 0 = any exchange */
	bool has_min_price;
	double min_price;		/* passes when the event's price >= this */
};

struct bench_cfg {
	char scenario[64];
	unsigned systems_mask;		/* bit per enum bench_system */
	double rate;			/* events/s; 0 = flat out */
	double duration_s, drain_s;
	unsigned subscribers, symbols, sub_symbols, payload_bytes, threads, batch, repeat;
	/* Test hooks, each once at mid-run: receive thread 0 sleeps stall_ms; the publisher
	 * sleeps pub_stall_ms (then catches up on its schedule: coordinated omission). */
	unsigned stall_ms, pub_stall_ms;
	/* Test hook: event pub_bad_event goes out with a data_type that disagrees with its
	 * payload (every system carries it; fanoutd must refuse its batch, failing the run).
	 * UINT64_MAX: none. */
	uint64_t pub_bad_event;
	/* Extra subscribers per run that subscribe like the live ones and never read: not
	 * counted in deliveries or latency; whether the server cut them is reported. */
	unsigned stalled;
	double fanout_max_lag_bytes;	/* passed to fanoutd as --max-lag-bytes; < 0: its default */
	unsigned fanout_reactors;	/* passed to fanoutd as --reactors; 0: its default */
	uint64_t fanout_data_index_bytes;	/* fanoutd's --data-index-bytes (0: off) */
	char fanout_fsync[32];		/* fanoutd's --fsync; "": its default */
	bool fanout_named;		/* fanout's subscribers are named (durable) and ack */
	/* fanout only: every subscriber is a consumer of one SHARED (2) or KEY_SHARED (4)
	 * named subscription of every key (0: off): each event is delivered once, to one
	 * of them; deliveries are owed once per event. */
	int fanout_shared;
	bool fanout_idempotent;		/* fanout's publishers are idempotent producers */
	bool fanout_auth;		/* fanoutd with --auth required; clients send a token */
	bool fanout_tls;		/* fanoutd with --tls-cert: clients speak TLS */
	bool latency_split;		/* fanout: bench_deliver_split's histograms */
	/* fanout only: the measured topic's priority, set through the topics API before
	 * the run (-1: left at its default, 0); and a bulk load beside it (bench_bulk.c):
	 * a publisher flat out to BENCH_BULK_TOPIC, bulk_subscribers taking all of it. */
	int fanout_priority;
	unsigned bulk_subscribers;
	double bulk_rate;		/* the bulk publisher's events/s; 0: flat out */
	/* Every event carries metadata.audit_required: fanoutd keeps a distribution_audit
	 * row per delivery (the peers have no such thing and carry the same bytes). */
	bool audit;
	/* fanout only: readers of their own ring each (bench_shm.c); reader j takes the keys
	 * subscriber number subscribers + j would. */
	unsigned shm_readers;
	uint32_t shm_spin;		/* polls before sleeping; UINT32_MAX: never sleep */
	uint64_t shm_ring_bytes;
	struct bench_filter filter;
	const char *fanoutd, *hdr_out;
	bool quiet;
};

struct bench_sub {
	unsigned id, key_base;		/* takes keys key_base .. key_base+nkeys-1 (mod K) */
	unsigned nkeys;			/* cfg->sub_symbols; every key (K) when stalled */
	int fd;
	void *zsock;
	void *priv;			/* driver state (hiredis reader) */
	uint8_t *buf;
	size_t len;
	uint64_t *key_next;		/* per subscribed key: the next seq expected */
	uint64_t received, gaps, out_of_order, bytes;
	uint64_t filtered;		/* received, rejected by cfg->filter: not deliveries */
	bool dead, warm;
	bool stalled;			/* never read during the run (cfg->stalled) */
	void *monitor;			/* zmq, stalled only: its disconnect-event socket */
};

struct bench_run;
struct bench_events;

struct bench_thread {
	struct bench_run *run;
	unsigned idx, nsubs;
	struct bench_sub **subs;
	struct latency_hist *hist;
	/* fanout's TCP subscribers with --latency-split (else NULL): each delivery's latency
	 * split at the server's receive_time_ns, the publisher's actual send (run.sent_at;
	 * flat out, the intended time) -> server receive and server receive -> here; and
	 * actual send -> here whole. */
	struct latency_hist *hist_in, *hist_out, *hist_sent;
	double sum_us, sumsq_us;
	_Atomic uint64_t received;	/* relaxed: read by the progress line only */
	bool stalled;
	bool has_cpu_clock;		/* cpu_clock is its thread's (set once it runs) */
	clockid_t cpu_clock;
};

struct bench_pub {
	int fd;
	void *zsock, *priv;
	uint8_t *wbuf, *rbuf;
	size_t wcap, rlen;
	uint64_t outstanding;		/* batches or replies not yet acknowledged */
	uint64_t bytes;
};

struct bench_result {
	enum bench_system sys;
	int error;			/* 0, or -errno: the run did not complete */
	uint64_t published, expected, delivered, lost, gaps, out_of_order, dead_subs;
	uint64_t filtered;		/* received and dropped by the subscribers' own filter */
	uint64_t stalled, stalled_cut;	/* never-read subscribers; how many the server cut */
	double seconds, in_per_s, out_per_s, bytes_per_delivery, pub_bytes_per_event;
	double mean_us, stddev_us;
	uint64_t p_ns[6];		/* p50 p90 p99 p99.9 p99.99 max */
	struct latency_hist *hist;
	/* The shm readers' result (the fields above, readers for subscribers), or NULL: a
	 * peer, no readers, or a run that failed. Its own: */
	struct bench_result *shm;
	uint64_t gap_records, lost_reported;	/* the library's GAP records, their lost sum */
	uint64_t recovered, laps, torn;	/* fanout_shm_get_stats, summed over the readers */
	/* CPU time over the measured interval, ns (bench_run.c says which interval; -1 where
	 * there is none, as ZeroMQ's server, or it could not be read): the server process,
	 * the same from /proc/PID/stat (10 ms ticks), the publisher's thread, the receive
	 * threads (the shm result: its readers'), and the whole bench process. The shm result
	 * carries its run's server, publisher and process figures too. */
	int64_t server_cpu_ns, server_cpu_stat_ns, pub_cpu_ns, sub_cpu_ns, bench_cpu_ns;
	double cpu_seconds;
	/* bench_cpu_finish: server CPU per event published and per delivery (every delivery
	 * of the run, TCP and shm), publisher per event, receivers per their delivery; NAN
	 * where there is none. */
	double server_ns_per_event, server_ns_per_delivery, pub_ns_per_event, sub_ns_per_delivery;
	/* The bulk load's events/s in and deliveries/s out (cfg->bulk_subscribers), over
	 * its whole run (publish and drain); 0 without one. */
	double bulk_in_per_s, bulk_out_per_s;
	/* fanout's TCP subscribers, --latency-split: p50 and p99 (ns) of bench_thread's
	 * hist_in, hist_out and hist_sent; -1 where there are none (a peer, no delivery). */
	int64_t split_in_ns[2], split_out_ns[2];
	int64_t split_late_ns[2];	/* the publisher's lateness (bench_run.pub_late) */
	int64_t split_sent_ns[2];	/* from the actual send to the subscriber */
	int64_t probe_late_ns[4];	/* perf/bench_probe.h: p50 p99 p99.9 max, or -1 */
};

struct bench_driver {
	const char *name, *topology;
	/* Starts the server on a free loopback port, fills run->addr. Returns 0 or -errno. */
	int (*server_start)(struct bench_run *r);
	int (*pub_open)(struct bench_run *r, struct bench_pub *p);
	/* Sends events seq0..seq0+n-1 with their intended times; may block (backpressure). */
	int (*pub_send)(struct bench_run *r, struct bench_pub *p, uint64_t seq0, unsigned n,
			const int64_t *intended_ns);
	/* Waits until the server has taken everything sent. */
	int (*pub_flush)(struct bench_run *r, struct bench_pub *p);
	void (*pub_close)(struct bench_pub *p);
	/* Connects and subscribes, blocking; leaves s->fd non-blocking (or s->zsock). */
	int (*sub_open)(struct bench_run *r, struct bench_sub *s);
	/* Consumes what is readable, calling bench_deliver; -errno when the connection died. */
	int (*sub_read)(struct bench_thread *t, struct bench_sub *s);
	void (*sub_close)(struct bench_sub *s);
	/* After the run, for a subscriber never read (s->stalled): 1 if the server (for
	 * ZeroMQ, the publisher) disconnected it, 0 if it is still connected, or -errno.
	 * May read what is left on the socket; bounded in time. Main thread. */
	int (*sub_cut)(struct bench_run *r, struct bench_sub *s);
};

struct bench_run {
	const struct bench_cfg *cfg;
	const struct bench_driver *drv;
	char addr[64];
	char http[64];			/* fanout: its admin API's HOST:PORT */
	char shm_socket[160];		/* fanout: its Unix socket for rings (tmpdir/shm.sock) */
	int server_pid;
	char tmpdir[128];
	void *zctx;
	struct bench_sub *subs;
	struct bench_thread threads[BENCH_THREADS_MAX];
	_Atomic bool stop_rx;
	_Atomic uint64_t published;
	_Atomic unsigned warm;
	int64_t start_mono_ns;
	_Atomic int64_t stall_at_mono_ns;	/* 0 until publishing starts */
	/* --latency-split: how late each event's send began after its intended time (the
	 * publisher thread's only; read once it has joined). NULL otherwise. */
	struct latency_hist *pub_late;
	/* --latency-split with a --rate: when the publisher began sending each seq (realtime
	 * ns, 0 before), for the subscribers' latency from the actual send. */
	_Atomic int64_t *sent_at;
	uint64_t sent_cap;
	struct bench_shm *shm;		/* fanout's shm readers (bench_shm.c), or NULL */
	struct bench_bulk *bulk;	/* fanout's bulk load (bench_bulk.c), or NULL */
	const struct bench_events *events;	/* what every publisher sends (bench_event.h) */
	bool has_server_clock;		/* server_clock is server_pid's CPU clock */
	clockid_t server_clock;
};

extern const struct bench_driver bench_fanout_driver, bench_nats_driver,
	bench_redis_driver, bench_zmq_driver;

/* ---- bench_core.c: pure helpers (tested) ---- */

/* Events due by now_ns at rate/s from start_ns (rate > 0): floor(elapsed * rate) + 1. */
uint64_t bench_pace_due(int64_t start_ns, double rate, int64_t now_ns);
/* Intended send time of event seq. */
int64_t bench_pace_intended(int64_t start_ns, double rate, uint64_t seq);
/* Events of seq 0..published-1 that the subscriber takes. */
uint64_t bench_expected(uint64_t published, unsigned key_base, unsigned k, unsigned m);
/* The price fanout's synthetic event seq carries (tools/synth.c's formula; the fanout
 * driver asserts they agree on every event it publishes), and its exchange's index e
 * (synth_exchange(e) is its name). */
double bench_event_price(uint64_t seq, unsigned symbols);
unsigned bench_event_exchange(uint64_t seq, unsigned symbols);
bool bench_filter_empty(const struct bench_filter *f);
/* Whether event seq passes f. Peers' events stand for the same synthetic events. */
bool bench_filter_match(const struct bench_filter *f, uint64_t seq, unsigned symbols);
/* The first event at or after seq of seq's key that passes c->filter, or UINT64_MAX
 * when none ever will. */
uint64_t bench_next_owed(const struct bench_cfg *c, uint64_t seq);
/* What a subscriber taking keys key_base .. key_base+m-1 (mod K) is owed of events
 * 0..published-1: bench_expected, less what c->filter rejects. */
uint64_t bench_owed(const struct bench_cfg *c, uint64_t published, unsigned key_base,
		    unsigned m);
/* Accounts one delivery: dropped (s->filtered) when c->filter rejects it, else gap/order
 * by seq within its key (the order every system keeps), latency from the intended time.
 * Returns whether it was accounted as a delivery (false: filtered). */
bool bench_deliver(struct bench_thread *t, struct bench_sub *s, uint64_t seq,
		   int64_t intended_ns, int64_t now_ns);
/* Reads an encoded Event as every subscriber of every system does (bench_pb_event_fields:
 * seq and intended time) and accounts it with bench_deliver; wire_bytes (the message as
 * it arrived, framing included) count towards bytes per delivery. Returns 0, or -EBADMSG
 * when ev is not an event of ours. */
int bench_deliver_event(struct bench_thread *t, struct bench_sub *s, const uint8_t *ev,
			size_t len, uint64_t wire_bytes, int64_t now_ns);
/* Splits one delivery bench_deliver accounted at the server's receive time (fanout's
 * Event receive_time_ns) into t->hist_in, t->hist_out and (its actual send known:
 * run.sent_at) t->hist_sent, when the thread has them. */
void bench_deliver_split(struct bench_thread *t, uint64_t seq, int64_t intended_ns,
			 int64_t server_ns, int64_t now_ns);
/* Adds subscriber s, owed `owed` deliveries, to res's counts. */
void bench_account_sub(struct bench_result *res, const struct bench_sub *s, uint64_t owed);
/* Adds thread t's histogram and sums to res (res->hist allocated). */
void bench_account_thread(struct bench_result *res, const struct bench_thread *t,
			  double *sum_us, double *sumsq_us);
/* The p50 and p99 of h into out (ns); -1 each when h is NULL or empty. */
void bench_p50_p99(const struct latency_hist *h, int64_t out[2]);
/* res->split_*: the n threads' split histograms merged (bench_deliver_split); -1s when
 * none recorded (left as they were when out of memory). Returns 0 or -ENOMEM. */
int bench_account_split(struct bench_result *res, const struct bench_thread *t, unsigned n);
/* Rates, means and percentiles of res once every subscriber and thread is in. */
void bench_account_finish(struct bench_result *res, double sum_us, double sumsq_us);
/* Frees what a result owns (its histograms and shm result); not res itself. */
void bench_result_free(struct bench_result *res);
/* Routing key / channel / subject name of key k. */
int bench_key_name(char *dst, size_t cap, unsigned k);
/* Fills the latency fields of res from its histogram. */
void bench_result_percentiles(struct bench_result *res);
/* Writes res->hist in HdrHistogram's percentile-distribution text format, in µs. */
int bench_hdr_write(const struct bench_result *res, const char *path);

/* ---- bench_proc.c: servers, temporary directories, sockets (main thread) ---- */
/* A loopback TCP port nobody listened on a moment ago, or -errno. */
int bench_free_port(void);
/* Creates r->tmpdir under $TMPDIR (default /tmp). Returns 0 or -errno (said on stderr). */
int bench_tmpdir(struct bench_run *r);
/* Removes dir and everything in it; says so on stderr when it cannot. */
void bench_rmtree(const char *dir);
/* Starts argv[0] (PATH searched) with stdout and stderr to log, in its own process group,
 * SIGTERMed if fanout-bench dies first. Returns the pid or -errno. */
int bench_spawn(char *const *argv, const char *log);
/* SIGTERM, up to 5 s, then SIGKILL; reaps it. No-op for pid <= 0. */
void bench_stop_pid(int pid);
/* Copies the end of a log file to stderr (start-up failures). */
void bench_log_tail(const char *path);
/* Starts a peer that takes its port on the command line: fills port_arg (16 bytes, an
 * element of argv) with a free port, up to 3 tries if another process takes it first;
 * logs to r->tmpdir. Sets r->addr "127.0.0.1:PORT" and r->server_pid. Returns 0 or
 * -errno, having said why on stderr (naming package when the program is missing). */
int bench_peer_start(struct bench_run *r, char *const *argv, char *port_arg,
		     const char *package);
/* A connected loopback socket (TCP_NODELAY, 10 s send/receive timeouts while it stays
 * blocking), or -errno. */
int bench_connect_tcp(int port);
int bench_set_nonblock(int fd);
/* Writes all of p, waiting for room on a full socket; -ETIMEDOUT after 10 s stuck. */
int bench_write_all(int fd, const void *p, size_t n);
/* sub_cut for a TCP subscriber (s->fd, non-blocking) never read during the run: reads and
 * discards what the server left queued until end of stream or a reset (1: it closed the
 * connection) or until nothing arrives for a moment (0), within a few seconds. */
int bench_tcp_cut(struct bench_run *r, struct bench_sub *s);

/* ---- bench_fanout.c ---- */
/* The routing key of key k ("S00007.BATS.trade"). */
void bench_fanout_key(char *dst, size_t cap, unsigned k);

/* ---- bench_shm.c: fanout's shared-memory readers (fanout runs with cfg->shm_readers) */
/* Attaches every reader to r->addr's fanoutd (each its own subscription and ring), after
 * the TCP subscribers. Returns 0 or -errno, having said why on stderr. Main thread. */
int bench_shm_open(struct bench_run *r);
/* Starts a thread per reader; each reads until r->stop_rx. Returns 0 or -errno. */
int bench_shm_start(struct bench_run *r);
/* The readers' threads' CPU time so far (ns), or -1 when one cannot be read. Main thread. */
int64_t bench_shm_cpu_ns(struct bench_run *r);
/* Deliveries so far (relaxed: the progress line and the drain). Any thread. */
uint64_t bench_shm_received(struct bench_run *r);
/* What the readers are owed of events 0..published-1. */
uint64_t bench_shm_owed(struct bench_run *r, uint64_t published);
/* Joins the threads (after r->stop_rx) and fills *res as account() does for TCP, plus the
 * library's counts. res->hist is allocated by the caller. */
void bench_shm_account(struct bench_run *r, struct bench_result *res);
/* Joins what still runs, detaches (fanoutd removes the rings), frees. NULL r->shm: no-op. */
void bench_shm_close(struct bench_run *r);

/* ---- bench_bulk.c: fanout's bulk load (cfg->bulk_subscribers) ---- */
/* Connects the bulk publisher and subscribers to r->addr and starts their threads.
 * Returns 0 or -errno, having said why on stderr. Main thread. */
int bench_bulk_start(struct bench_run *r);
/* Stops the threads and puts the bulk rates in res (when not NULL). Main thread. */
void bench_bulk_stop(struct bench_run *r, struct bench_result *res);
/* Stops what still runs, closes, frees. NULL r->bulk: no-op. */
void bench_bulk_close(struct bench_run *r);

/* ---- bench_run.c ---- */
/* One run of one system, from start-up to stopped server; fills *res (res->hist is
 * allocated; the caller frees it). Returns 0 or res->error (-errno). Main thread. */
int bench_run_one(const struct bench_cfg *cfg, enum bench_system sys, struct bench_result *res);
/* Ends the current run early (publishing and draining stop) and makes bench_stopped()
 * true. Async-signal-safe: for SIGINT/SIGTERM handlers. */
void bench_request_stop(void);
bool bench_stopped(void);

/* ---- bench_cfg.c: command line and scenario files ---- */
extern const char *const bench_system_names[BENCH_SYSTEMS];
/* Each report line's name: the systems', then "fanout-shm". */
extern const char *const bench_line_names[BENCH_LINES];
void bench_usage(FILE *f);
/* Fills *c from defaults, then argv (scenario files applied where --scenario appears, so
 * later flags override them). Returns 0, 1 after --help (usage printed on stdout), or
 * -EINVAL having said what is wrong on stderr. */
int bench_cfg_parse(struct bench_cfg *c, int argc, char **argv);

/* ---- bench_report.c: results ---- */
/* One run as a JSON object (the "runs" array of the output). */
json_t *bench_run_json(const struct bench_cfg *c, const struct bench_result *r, unsigned run);
/* Medians per system over the good runs and fanout's ratios to each peer, as JSON; also
 * prints them as a table on stderr. */
json_t *bench_summary_json(const struct bench_cfg *c, const struct bench_result *res,
			   unsigned n);
/* The note on stderr before the runs when cfg has shm readers or a content filter and
 * peers run too: what the peers run without, or do themselves. */
void bench_peer_notes(const struct bench_cfg *c);
/* The configuration part of the output. */
json_t *bench_cfg_json(const struct bench_cfg *c);
/* Writes c->hdr_out (one report line) or c->hdr_out.<line>.hdr (several: a system's name,
 * or fanout-shm for fanout's shm readers): each line's runs merged. Returns 0 or -errno
 * of the first file that could not be written. */
int bench_write_hdrs(const struct bench_cfg *c, const struct bench_result *res, unsigned n);

#endif
