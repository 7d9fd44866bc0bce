/* net/engine.c — reactor threads: start-up hand-shake, pinning, NUMA placement. */
#include "net/engine.h"
#include "net/tls.h"

#include "core/executor.h"

#include <errno.h>
#include <numa.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/epoch.h"
#include "net/server.h"

uint32_t net_engine_count(const struct config *cfg)
{
	cpu_set_t set;
	int n;

	if (cfg->reactors)
		return cfg->reactors;
	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return 1;
	/* One CPU is left to the executor thread, the kernel's network work and clients on
	 * the same host: on 2 CPUs one reactor costs half the CPU per event two do
	 * (perf/RESULTS.md), every event then staying on one reactor. */
	n = CPU_COUNT(&set) - 1;
	return n < 1 ? 1 : n > (int)XR_REACTORS_MAX ? XR_REACTORS_MAX : (uint32_t)n;
}

/* The i-th CPU this process may run on (reactors wrap round when there are more). */
static int net_engine_cpu(uint32_t i)
{
	cpu_set_t set;
	int n, seen = 0;

	if (sched_getaffinity(0, sizeof(set), &set) < 0 || (n = CPU_COUNT(&set)) == 0)
		return -1;
	i %= (uint32_t)n;
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &set) && (uint32_t)seen++ == i)
			return c;
	return -1;
}

/* Pins the calling thread and makes its allocations come from its CPU's node, so the
 * reactor's rings, buffers and sessions (first touched here) are local. */
static void net_engine_place(struct net_engine_thread *t)
{
	cpu_set_t set;

	t->cpu = net_engine_cpu(t->id);
	t->node = -1;
	if (t->cpu >= 0) {
		CPU_ZERO(&set);
		CPU_SET(t->cpu, &set);
		if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set) != 0)
			t->cpu = -1;
	}
	if (numa_available() >= 0) {
		numa_set_localalloc();
		if (t->cpu >= 0)
			t->node = numa_node_of_cpu(t->cpu);
	}
}

static void net_engine_ready(struct net_engine *e)
{
	pthread_mutex_lock(&e->lock);
	e->ready++;
	pthread_cond_broadcast(&e->cond);
	pthread_mutex_unlock(&e->lock);
}

static void *net_engine_main(void *arg)
{
	struct net_engine_thread *t = arg;
	struct net_engine *e = t->eng;
	struct net_server *srv;
	bool go;

	net_engine_place(t);
	srv = calloc(1, sizeof(*srv));	/* on this thread: memory from its node */
	if (!srv) {
		t->rc = -ENOMEM;
		net_engine_ready(e);
		return NULL;
	}
	e->servers[t->id] = srv;
	t->rc = net_server_init(srv, e, t->id, t->id == 0 ? e->cfg->listen : e->bound,
				e->topics, e->cfg, net_engine_rules(e));
	if (t->rc == 0 && t->id == 0)
		memcpy(e->bound, srv->bound, sizeof(e->bound));
	if (t->rc == 0)
		net_server_info(srv, "reactor %u: cpu %d, numa node %d, listening on %s", t->id,
				t->cpu, t->node, srv->bound);
	net_engine_ready(e);
	pthread_mutex_lock(&e->lock);
	while (!e->go && !*e->stop)
		pthread_cond_wait(&e->cond, &e->lock);
	go = e->go;
	pthread_mutex_unlock(&e->lock);
	if (go && t->rc == 0) {
		t->rc = net_server_run(srv, e->stop, e->drain_ms);
		if (t->rc < 0)
			*e->stop = 1;	/* a reactor whose ring failed takes the server down */
	}
	epoch_unregister();
	return NULL;
}

/* Starts thread i and waits until it has initialised. Returns its init result. */
static int net_engine_spawn(struct net_engine *e, uint32_t i)
{
	struct net_engine_thread *t = &e->threads[i];
	int rc;

	*t = (struct net_engine_thread){ .eng = e, .id = i, .cpu = -1, .node = -1 };
	rc = pthread_create(&t->thread, NULL, net_engine_main, t);
	if (rc != 0)
		return -rc;
	t->started = true;
	pthread_mutex_lock(&e->lock);
	while (e->ready < i + 1)
		pthread_cond_wait(&e->cond, &e->lock);
	pthread_mutex_unlock(&e->lock);
	return t->rc;
}

int net_engine_start(struct net_engine *e, uint32_t n, struct topic_table *topics,
		     const struct config *cfg, const struct rules_set *rules,
		     const struct net_sink_ops *sinks, volatile sig_atomic_t *stop, int drain_ms)
{
	int rc;

	memset(e, 0, sizeof(*e));
	e->topics = topics;
	e->cfg = cfg;
	atomic_store(&e->rules, rules);
	e->sinks = sinks;
	e->stop = stop;
	e->drain_ms = drain_ms;
	e->admin_wake_fd = -1;
	pthread_mutex_init(&e->lock, NULL);
	pthread_cond_init(&e->cond, NULL);
	named_init(&e->named);
	if (auth_init(&e->auth_own, cfg->auth_required) < 0) {
		fprintf(stderr, "fanoutd: out of memory for the token table\n");
		return -ENOMEM;
	}
	e->auth = &e->auth_own;
	if (cfg->tls_cert[0]) {	/* TLS on the TCP port too, not only the admin API */
		char why[160];

		e->tls_ctx = net_tls_ctx_new(cfg->tls_cert, cfg->tls_key, why, sizeof(why));
		if (!e->tls_ctx) {
			fprintf(stderr, "fanoutd: TLS for --listen %s: %s\n", cfg->listen, why);
			return -EINVAL;
		}
	}
	rc = producer_registry_open(&e->producers, cfg->data_dir, topics);
	if (rc < 0) {
		fprintf(stderr, "fanoutd: cannot open the producer records in %s/producers: "
			"%s\n", cfg->data_dir, strerror(-rc));
		return rc;
	}
	e->producers_open = true;
	e->servers = calloc(n, sizeof(*e->servers));
	e->threads = calloc(n, sizeof(*e->threads));
	e->reactors = calloc(n, sizeof(*e->reactors));
	if (!e->servers || !e->threads || !e->reactors)
		return -ENOMEM;
	rc = xr_mesh_init(&e->mesh, n);
	if (rc == 0)
		rc = control_init(&e->control, n);
	if (rc == 0 && !(e->audit = calloc(n, sizeof(*e->audit))))
		rc = -ENOMEM;
	for (uint32_t i = 0; i < n && rc == 0; i++)
		rc = audit_queue_init(&e->audit[i], AUDIT_QUEUE_SLOTS);
	if (rc < 0)
		return rc;
	e->n = n;
	/* One at a time: reactor 0 picks the port (--listen with port 0), the rest join it
	 * with SO_REUSEPORT. */
	for (uint32_t i = 0; i < n && rc == 0; i++)
		rc = net_engine_spawn(e, i);
	for (uint32_t i = 0; i < n && rc == 0; i++) {
		e->reactors[i] = &e->servers[i]->reactor;
		e->servers[i]->reactor.peers = e->reactors;	/* published by the lock below */
	}
	if (rc == 0 && topics->log_config.executor)	/* --fsync batch wakes them */
		executor_set_reactors(topics->log_config.executor, e->reactors, n);
	pthread_mutex_lock(&e->lock);
	e->go = rc == 0;
	if (rc < 0)
		*e->stop = 1;	/* the started threads return without serving */
	pthread_cond_broadcast(&e->cond);
	pthread_mutex_unlock(&e->lock);
	if (rc < 0) {
		net_engine_wait(e);
		fprintf(stderr, "fanoutd: cannot start the reactors: %s\n", strerror(-rc));
	}
	return rc;
}

int net_engine_wait(struct net_engine *e)
{
	int rc = 0;

	for (uint32_t i = 0; i < e->n; i++) {
		if (!e->threads[i].started)
			continue;
		pthread_join(e->threads[i].thread, NULL);
		e->threads[i].started = false;
		if (rc == 0)
			rc = e->threads[i].rc;
	}
	/* fanoutd stops the admin thread first: what it abandoned in a queue is freed here. */
	if (e->control.q)
		control_drain(&e->control);
	return rc;
}

const struct rules_set *net_engine_swap_rules(struct net_engine *e,
					      const struct rules_set *next)
{
	const struct rules_set *old = atomic_exchange_explicit(&e->rules, next,
							      memory_order_acq_rel);

	epoch_synchronize();	/* every turn that may have loaded old has ended */
	return old;
}

void net_engine_counts(const struct net_engine *e, uint64_t *events, uint64_t *batches,
		       uint64_t *rejected)
{
	*events = *batches = *rejected = 0;
	for (uint32_t i = 0; i < e->n; i++) {
		if (!e->servers[i])
			continue;
		*events += e->servers[i]->publish.events;
		*batches += e->servers[i]->publish.batches;
		*rejected += e->servers[i]->publish.rejected;
	}
}

void net_engine_free(struct net_engine *e)
{
	for (uint32_t i = 0; e->servers && i < e->n; i++) {
		if (!e->servers[i])
			continue;
		net_server_free(e->servers[i]);
		free(e->servers[i]);
	}
	free(e->servers);
	free(e->threads);
	free(e->reactors);
	xr_mesh_free(&e->mesh);
	control_free(&e->control);
	for (uint32_t i = 0; e->audit && i < e->n; i++)
		audit_queue_free(&e->audit[i]);
	free(e->audit);
	named_free(&e->named);
	if (e->auth)
		auth_free(e->auth);
	if (e->tls_ctx)
		SSL_CTX_free(e->tls_ctx);
	if (e->producers_open)
		producer_registry_close(&e->producers);
	pthread_mutex_destroy(&e->lock);
	pthread_cond_destroy(&e->cond);
	memset(e, 0, sizeof(*e));
}
