/* admin/cache.c — see cache.h. hiredis in non-blocking mode without its event library:
 * commands are appended to its output buffer, the socket is written and read here. */
#include "admin/cache.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "admin/log.h"
#include "core/clock.h"

int cache_init(struct cache *k, const char *url, const char **why)
{
	const char *p = url, *at, *slash, *colon;
	size_t n;

	memset(k, 0, sizeof(*k));
	if (!url || !*url)
		return 0;
	*why = "--redis-url wants redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]";
	if (strncmp(p, "redis://", 8) != 0)
		return -EINVAL;
	p += 8;
	at = strrchr(p, '@');
	if (at) {	/* [USER]:PASSWORD@ (a user: Redis 6 ACLs) */
		const char *pw = memchr(p, ':', (size_t)(at - p));
		size_t un = pw ? (size_t)(pw - p) : 0;

		n = pw ? (size_t)(at - pw - 1) : 0;
		if (!pw || n >= sizeof(k->password) || un >= sizeof(k->user))
			return -EINVAL;
		memcpy(k->user, p, un);
		memcpy(k->password, pw + 1, n);
		p = at + 1;
	}
	slash = strchr(p, '/');
	n = slash ? (size_t)(slash - p) : strlen(p);
	colon = memchr(p, ':', n);
	k->port = 6379;
	if (colon) {
		char *end;
		long port = strtol(colon + 1, &end, 10);

		if (end != p + n || port < 1 || port > 65535)
			return -EINVAL;
		k->port = (int)port;
		n = (size_t)(colon - p);
	}
	if (n == 0 || n >= sizeof(k->host))
		return -EINVAL;
	memcpy(k->host, p, n);
	if (slash && slash[1]) {
		char *end;
		long db = strtol(slash + 1, &end, 10);

		if (*end || db < 0 || db > 1000000)
			return -EINVAL;
		k->db = (int)db;
	}
	snprintf(k->where, sizeof(k->where), "%s:%d/%d", k->host, k->port, k->db);
	k->on = true;
	k->backoff_ms = CACHE_BACKOFF_MIN_MS;
	return 0;
}

/* Drops the connection after a failure: said once per outage, retried with backoff. */
static void cache_down(struct cache *k, int64_t now, const char *why)
{
	if (!k->down_logged) {
		admin_log(ADMIN_LOG_WARN, "redis %s: %s; cache writes are dropped until it "
			  "answers (retrying)", k->where, why);
		k->down_logged = true;
		k->outages++;
	}
	if (k->c)
		redisFree(k->c);
	k->c = NULL;
	k->connected = false;
	k->dropped += k->awaiting;	/* their fate is unknown: counted as dropped */
	k->awaiting = 0;
	k->retry_ns = now + (int64_t)k->backoff_ms * 1000000;
	k->backoff_ms = k->backoff_ms * 2 > CACHE_BACKOFF_MAX_MS ? CACHE_BACKOFF_MAX_MS
								 : k->backoff_ms * 2;
}

static void cache_connect(struct cache *k, int64_t now)
{
	k->c = redisConnectNonBlock(k->host, k->port);
	if (!k->c || k->c->err) {
		cache_down(k, now, k->c ? k->c->errstr : "out of memory");
		return;
	}
	k->connect_ns = now;
	/* First in the buffer, so before any SET. */
	if (k->password[0] && k->user[0])
		redisAppendCommand(k->c, "AUTH %s %s", k->user, k->password), k->awaiting++;
	else if (k->password[0])
		redisAppendCommand(k->c, "AUTH %s", k->password), k->awaiting++;
	if (k->db)
		redisAppendCommand(k->c, "SELECT %d", k->db), k->awaiting++;
}

/* True once the non-blocking connect has completed; false meanwhile or on failure
 * (then the cache is down). */
static bool cache_connected(struct cache *k, int64_t now)
{
	struct pollfd pfd = { .fd = k->c->fd, .events = POLLOUT };
	int err = 0;
	socklen_t len = sizeof(err);

	if (k->connected)
		return true;
	if (poll(&pfd, 1, 0) <= 0) {
		if (now - k->connect_ns > (int64_t)CACHE_CONNECT_MS * 1000000)
			cache_down(k, now, "connect timed out");
		return false;
	}
	if (getsockopt(k->c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) {
		cache_down(k, now, strerror(err ? err : errno));
		return false;
	}
	k->connected = true;
	k->error_logged = false;
	k->reply_ns = now;
	if (k->down_logged)
		admin_log(ADMIN_LOG_INFO, "redis %s: connected again", k->where);
	k->down_logged = false;
	k->backoff_ms = CACHE_BACKOFF_MIN_MS;
	return true;
}

void cache_poll(struct cache *k, int64_t now)
{
	int done = 0;
	void *r;

	if (!k->on)
		return;
	if (!k->c) {
		if (now < k->retry_ns)
			return;
		cache_connect(k, now);
		if (!k->c)
			return;
	}
	if (!cache_connected(k, now))
		return;
	if (sdslen(k->c->obuf) && redisBufferWrite(k->c, &done) == REDIS_ERR) {
		cache_down(k, now, k->c->errstr);
		return;
	}
	/* Read even with nothing owed: an idle connection's EOF is seen at once. hiredis
	 * reads at most 16 KiB a call; a few calls a chore keep up with many replies. */
	for (int i = 0; i < 64; i++) {
		uint64_t before = k->awaiting;

		if (redisBufferRead(k->c) == REDIS_ERR) {
			cache_down(k, now, k->c->errstr);
			return;
		}
		while (k->awaiting && redisGetReplyFromReader(k->c, &r) == REDIS_OK && r) {
			if (((redisReply *)r)->type == REDIS_REPLY_ERROR) {
				/* Said once a connection: a wrong password or database
				 * fails every command alike. */
				if (!k->error_logged)
					admin_log(ADMIN_LOG_WARN, "redis %s: %.200s (further "
						  "errors only counted)", k->where,
						  ((redisReply *)r)->str);
				k->error_logged = true;
				k->errors++;
			}
			freeReplyObject(r);
			k->awaiting--;
		}
		if (k->awaiting == before)
			break;	/* nothing more came */
		k->reply_ns = now;
	}
	if (k->awaiting && now - k->reply_ns > (int64_t)CACHE_REPLY_MS * 1000000)
		cache_down(k, now, "no reply for 10 s (stalled)");
}

bool cache_set(struct cache *k, const char *key, const char *value, size_t len, int ttl_s)
{
	if (!k->on)
		return false;
	if (!k->c || sdslen(k->c->obuf) + len > CACHE_OUT_MAX) {
		k->dropped++;
		return false;
	}
	if (redisAppendCommand(k->c, "SET %s %b EX %d", key, value, len, ttl_s) != REDIS_OK) {
		k->dropped++;
		return false;
	}
	if (k->awaiting++ == 0)
		k->reply_ns = clock_monotonic_ns();	/* the stall clock starts now, not at
							 * the last reply before a quiet spell */
	k->sets++;
	return true;
}

bool cache_up(const struct cache *k)
{
	return k->c && k->connected;
}

bool cache_busy(const struct cache *k)
{
	return k->c && sdslen(k->c->obuf) > CACHE_OUT_MAX / 2;
}

void cache_free(struct cache *k)
{
	if (k->c)
		redisFree(k->c);
	k->c = NULL;
}
