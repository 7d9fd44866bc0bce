/* admin/live.h — changes to the running server and questions to its reactors, for the
 * handlers and the sampler: subscriptions listed and ended through net/control.h,
 * topics created and deleted (with the drop protocol and deferred destruction), the
 * rule set rebuilt from the store and swapped in with the reactors' epoch machinery.
 * The admin thread only. */
#ifndef FANOUT_ADMIN_LIVE_H
#define FANOUT_ADMIN_LIVE_H

#include <stdbool.h>
#include <stdint.h>

#include "admin/admin.h"

/* Lists live subscriptions (of tp, or all with NULL) from every reactor, sorted by
 * serial, each with its id and rates against the last sample. *out is malloc'd.
 * *producers (may be NULL) receives how many connections last published to tp.
 * Returns 0, or -ETIMEDOUT / -EAGAIN / -ENOMEM when a reactor could not be asked (the
 * answers of the others are dropped). */
int live_subs(struct admin *a, const struct topic *tp, struct admin_sub_sample **out,
	      uint32_t *n, bool *truncated);

/* The REST id of a subscription ("<boot>-<serial>") into id (ADMIN_ID_BYTES). */
void live_sub_id(const struct admin *a, uint64_t serial, char *id);

/* The serial of an id of this run, or 0 when it is not one (another run's, or bad). */
uint64_t live_sub_serial(const struct admin *a, const char *id);

/* Ends subscription serial on whichever reactor has it (an Error SUBSCRIPTION_ENDED with
 * why). Returns 1 when ended, 0 when no reactor had it, or -errno. */
int live_sub_end(struct admin *a, uint64_t serial, const char *why);

/* True when some reactor reads tp (a subscription on it). Any time: log readers. */
bool live_topic_subscribed(const struct topic *tp);

/* Deletes a topic from the running server: unlinks it, waits a grace period, has every
 * reactor end its subscriptions (*ended counts them) and keeps it for live_drops_poll to
 * destroy once they all let go. Returns 0; -EBUSY when TOPIC_REMOVING_MAX removals are
 * pending; -ETIMEDOUT when a reactor did not answer (the drop goes on regardless); or
 * -errno from topic_remove. */
int live_topic_delete(struct admin *a, struct topic *tp, uint32_t *ended);

/* Destroys the removed topics every reactor has let go of. wait: at shutdown, after the
 * reactors stopped, destroy the rest too. */
void live_drops_poll(struct admin *a, bool all);

/* Rebuilds the rule set from the store and puts it in force on every reactor (the old
 * one freed after a grace period). Returns 0, or -1 with err (the store's error, or a
 * stored rule that no longer compiles: the rules in force stay). */
int live_rules_reload(struct admin *a, char *err, size_t cap);

/* Compiles the store's rules into a new set without installing it. Returns 0 with *out
 * (NULL-safe to free), or -1 with err. */
int live_rules_build(struct admin *a, struct rules_set **out, char *err, size_t cap);

#endif
