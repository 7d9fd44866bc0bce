/* net/server.c — glue between the reactor and the sessions: connection lifecycle, the
 * active list checked after every batch of completions, start-up and drain. */
#include "net/server.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"

/* Decoding space per frame: protobuf-c's structs for a frame take a few times its bytes. */
#define SERVER_ARENA_FACTOR 8u
#define SERVER_POLICE_NS (100 * 1000 * 1000ll)

void net_server_info(const struct net_server *srv, const char *fmt, ...)
{
	va_list ap;

	if (srv->cfg->quiet)
		return;
	va_start(ap, fmt);
	fputs("fanoutd: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

void net_server_activate(struct net_server *srv, struct session *s)
{
	if (s->active)
		return;
	s->active = true;
	s->active_pos = srv->nactive;
	srv->active[srv->nactive++] = s->conn->slot;
}

static void net_server_deactivate(struct net_server *srv, struct session *s)
{
	uint32_t last;

	if (!s->active)
		return;
	last = srv->active[--srv->nactive];
	srv->active[s->active_pos] = last;
	srv->sessions[last].active_pos = s->active_pos;
	s->active = false;
}

static int net_on_open(void *ctx, struct reactor_conn *c)
{
	struct net_server *srv = ctx;
	struct session *s = &srv->sessions[c->slot];

	if (session_open(s, srv, c) < 0)
		return -ENOMEM;
	c->user = s;
	return 0;
}

static void net_on_data(void *ctx, struct reactor_conn *c, const uint8_t *p, size_t n)
{
	(void)ctx;
	session_data(c->user, p, n);
}

static void net_on_sent(void *ctx, struct reactor_conn *c, int res)
{
	(void)ctx;
	session_sent(c->user, res);
}

static void net_on_close(void *ctx, struct reactor_conn *c)
{
	struct net_server *srv = ctx;
	struct session *s = c->user;

	if (!s)
		return;
	net_server_deactivate(srv, s);
	session_close(s);
}

/* After each batch of completions: make appended frames visible, then start the sends
 * they and the batch's answers call for (one pass, many frames per send). */
static void net_on_idle(void *ctx)
{
	struct net_server *srv = ctx;

	int64_t now = clock_monotonic_ns();

	publish_flush(&srv->publish);
	if (now >= srv->police_at_ns) {	/* bounded work: once per 100 ms, not per event */
		srv->police_at_ns = now + SERVER_POLICE_NS;
		for (uint32_t i = srv->nactive; i-- > 0;)
			session_police(&srv->sessions[srv->active[i]], now);
	}
	for (uint32_t i = srv->nactive; i-- > 0;) {
		struct session *s = &srv->sessions[srv->active[i]];

		if (!session_flush(s) && !s->conn->sending)
			net_server_deactivate(srv, s);
	}
}

int net_server_init(struct net_server *srv, struct topic_table *topics, const struct config *cfg)
{
	struct reactor_ops ops = {
		.ctx = srv, .on_open = net_on_open, .on_data = net_on_data,
		.on_sent = net_on_sent, .on_close = net_on_close, .on_idle = net_on_idle,
	};
	int rc;

	memset(srv, 0, sizeof(*srv));
	srv->topics = topics;
	srv->cfg = cfg;
	srv->publish.topics = topics;
	srv->publish.auto_create = cfg->auto_create;
	srv->publish.default_partitions = cfg->default_partitions;
	srv->sessions = calloc(cfg->max_connections, sizeof(*srv->sessions));
	srv->active = calloc(cfg->max_connections, sizeof(*srv->active));
	if (!srv->sessions || !srv->active)
		return -ENOMEM;
	rc = arena_init(&srv->arena, (size_t)cfg->max_frame_bytes * SERVER_ARENA_FACTOR);
	if (rc == 0)
		rc = arena_init(&srv->match_arena,
				(size_t)cfg->max_frame_bytes * SERVER_ARENA_FACTOR);
	if (rc < 0)
		return rc;
	return reactor_init(&srv->reactor, cfg->listen, cfg->max_connections, &ops,
			    srv->bound, sizeof(srv->bound));
}

int net_server_run(struct net_server *srv, volatile sig_atomic_t *stop, int drain_ms)
{
	int rc = reactor_run(&srv->reactor, stop);

	net_server_info(srv, "stopping: %u connections, draining pending sends",
			srv->reactor.nopen);
	reactor_drain(&srv->reactor, clock_monotonic_ns() + (int64_t)drain_ms * 1000000);
	return rc;
}

void net_server_free(struct net_server *srv)
{
	reactor_free(&srv->reactor);
	arena_free(&srv->arena);
	arena_free(&srv->match_arena);
	free(srv->sessions);
	free(srv->active);
}
