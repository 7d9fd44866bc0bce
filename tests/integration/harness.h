/* tests/integration/harness.h — starting and stopping a real fanoutd for a test:
 * ephemeral port, temporary data directory, ready file. */
#ifndef FANOUT_TESTS_HARNESS_H
#define FANOUT_TESTS_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "fanout.pb-c.h"
#include "tools/client.h"

struct server {
	const char *binary;
	char dir[256];		/* temporary; holds data/ and the ready file */
	char addr[80];		/* HOST:PORT once started */
	char http[80];		/* the admin API's HOST:PORT once started ("" without) */
	pid_t pid;
	unsigned nofile;	/* when set before server_start: the server's open-file limit */
	bool verbose;		/* when set before server_start: info lines too (no --quiet) */
};

/* Sets the binary (argv[1] of the test, else $FANOUTD) and makes the temp dir. */
void server_setup(struct server *s, int argc, char **argv);

/* Starts fanoutd on s->dir/data with extra arguments (NULL-terminated list), waits for
 * its ready file (bounded), and fails the test on error. The admin API listens on an
 * ephemeral port (s->http) unless extra says otherwise (--http, --no-http). */
void server_start(struct server *s, const char *const *extra);

/* Sends sig (SIGTERM or SIGKILL) and waits (bounded) for exit; returns the wait status. */
int server_stop(struct server *s, int sig);

/* Stops the server if running (SIGKILL) and removes the temp dir, and the hot directory
 * of every data directory in it. */
void server_teardown(struct server *s);

/* Connects a client to the server (fails the test on error). */
void server_connect(struct server *s, struct client *c);

/* A synthetic market-data event; strings live in buf (>= 256 bytes). */
void make_event(Fanout__V1__Event *e, Fanout__V1__Distribution *d, Fanout__V1__MarketData *md,
		char *buf, const char *topic, uint32_t seq, uint32_t symbols);

/* Publishes events [first, first+n) to topic in batches and waits for every ack; fills
 * offsets[i - first] when offsets is not NULL. Fails the test on any Error. */
void publish_range(struct client *c, const char *topic, uint32_t first, uint32_t n,
		   uint32_t symbols, uint64_t *offsets);

/* Publishes n events the caller built, each the first member of its own struct: event
 * i at (const char *)first + i * stride. In batches of up to 256, each acked (its
 * sequence echoed) before the next; fails the test on any Error. */
void publish_events(struct client *c, const Fanout__V1__Event *first, size_t stride,
		    size_t n);

/* Receives the next message, skipping nothing; fails on timeout. */
Fanout__V1__ServerMessage *recv_msg(struct client *c, int timeout_ms);

/* Sends a Ping and expects its Pong as the very next message: nothing else was queued
 * for c (an event in between fails the test, naming its routing key). */
void ping_pong(struct client *c, uint64_t nonce);

/* Receives until an Error arrives (fails on timeout or events); returns it. */
Fanout__V1__ServerMessage *expect_error(struct client *c, Fanout__V1__ErrorCode code);

/* A process's anonymous resident memory in KiB (/proc/PID/status RssAnon): what the
 * server allocated, not its log pages. */
long server_rss_anon_kib(pid_t pid);

/* Runs args (args[0] a fanoutd, NULL-terminated) in a child that must exit by itself
 * within 5 s (else it is killed and the test fails); returns its exit status, or 128 +
 * the signal that ended it. */
int server_run_to_exit(const char *const *args);

#endif
