/* admin/cache.h — the seeds' Redis cache (hiredis, --redis-url): JSON values under the
 * seeds' keys with their TTLs, written by the admin thread only, pipelined over one
 * non-blocking connection.
 *
 * Nothing waits for Redis. cache_set appends a SET to hiredis's output buffer and
 * returns; cache_poll (every admin chore) advances the connect, writes what the socket
 * takes and reads the replies that came. Past CACHE_OUT_MAX bytes unsent (Redis slow or
 * gone) a set is dropped and counted. A broken connection is closed, said once in the log
 * per outage, and retried with backoff (CACHE_BACKOFF_MIN_MS doubling to
 * CACHE_BACKOFF_MAX_MS); sets meanwhile are dropped and counted. The admin thread only. */
#ifndef FANOUT_ADMIN_CACHE_H
#define FANOUT_ADMIN_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CACHE_OUT_MAX        (8u << 20)	/* bytes of unsent commands */
#define CACHE_BACKOFF_MIN_MS 250
#define CACHE_BACKOFF_MAX_MS 5000
#define CACHE_CONNECT_MS     2000	/* a connect not done by then is retried */
#define CACHE_REPLY_MS       10000	/* replies owed and none for this long: down */
#define CACHE_URL_MAX        512u

/* The seeds' TTLs (seconds). */
#define CACHE_TTL_LATEST       60
#define CACHE_TTL_TOPIC_STATS  30
#define CACHE_TTL_SUBSCRIPTION 300
#define CACHE_TTL_ROUTING      900
#define CACHE_TTL_BACKPRESSURE 10
#define CACHE_TTL_EXEC_STATUS  3600
#define CACHE_TTL_FILLS        86400

struct redisContext;

struct cache {
	bool on;			/* a URL was given */
	char host[256], user[64], password[128];
	int port, db;
	char where[300];		/* host:port/db, for the log (no password) */
	struct redisContext *c;		/* NULL while down */
	bool connected;			/* the TCP connect completed */
	bool down_logged;
	bool error_logged;		/* an error reply was logged on this connection */
	int64_t connect_ns;		/* CLOCK_MONOTONIC the connect started */
	int64_t retry_ns;		/* of the next attempt while down */
	int64_t reply_ns;		/* the last reply (or the connect), for stalls */
	int backoff_ms;
	uint64_t awaiting;		/* replies owed */
	/* Counters (/metrics). */
	uint64_t sets, dropped, errors, outages;
};

/* Parses url (redis://[[user]:password@]host[:port][/db]) and starts connecting. Returns 0, or
 * -EINVAL with why set (a bad URL). An empty url leaves the cache off. */
int cache_init(struct cache *k, const char *url, const char **why);

/* Advances the connection: connects (with backoff while down), writes what is pending,
 * reads replies. now_ns: CLOCK_MONOTONIC. */
void cache_poll(struct cache *k, int64_t now_ns);

/* SET key value EX ttl_s, pipelined. Returns true when queued, false when dropped (down,
 * or too much unsent). */
bool cache_set(struct cache *k, const char *key, const char *value, size_t len, int ttl_s);

/* True when the connection is up. */
bool cache_up(const struct cache *k);

/* True when more sets would pile up unsent (over half of CACHE_OUT_MAX): the caller
 * keeps what it has for the next sample instead of having it dropped. */
bool cache_busy(const struct cache *k);

void cache_free(struct cache *k);

#endif
