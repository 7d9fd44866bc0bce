/* admin/retention.h — topic retention (topics.retention_policy): parsing a policy, and
 * the admin thread's pass that deletes whole sealed segments out of it (core/
 * log_retain.h) and, once no send can still read them, releases their memory. */
#ifndef FANOUT_ADMIN_RETENTION_H
#define FANOUT_ADMIN_RETENTION_H

#include <stdbool.h>
#include <stdint.h>

#include "core/topic.h"

#define RETENTION_PASS_MS 1000	/* how often the pass runs */
#define RETENTION_POLICY_MAX 50	/* bytes of a policy (the column's bound) */

struct admin;

/* A policy: "infinite", or a time ("<N>s|m|h|d|w"), a size ("<N>KB|MB|GB|TB", powers of
 * 1024) or both, comma-separated ("7d,20GB"): a sealed segment goes once all its events
 * are older than the time, or once the newer ones hold the size without it. Into *ns and
 * *bytes (0: no bound). Returns 0, or -EINVAL with *why set. */
int retention_parse(const char *policy, int64_t *ns, uint64_t *bytes, const char **why);

/* Puts a valid policy in force for tp (reactors and the pass read it); an invalid one
 * leaves what was. */
void retention_apply(struct topic *tp, const char *policy);

/* The pass, when RETENTION_PASS_MS have passed since the last (admin thread). */
void retention_poll(struct admin *a, int64_t now_ns);

#endif
