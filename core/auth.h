/* core/auth.h — who may do what: bearer tokens, their permissions and rate limits, the
 * table every reactor reads them from, and the record of refused attempts.
 *
 * A token's text is "fo_" + a 12-hex-digit id + "_" + 43 characters of base64url (32
 * random bytes): the id names it (in lists, logs and the audit), the whole text is the
 * secret. Only its BLAKE2b hash (libsodium crypto_generichash, 32 bytes) is kept; a
 * presented token is hashed and compared in constant time (sodium_memcmp). Tokens are
 * 256-bit random, so a fast unsalted hash is the right one (no password stretching).
 *
 * Topic patterns in permissions are topic names split at '/': "*" is one segment, ">"
 * (last only) one or more, anything else literal: "market-data/>", "execution/fills".
 * A topic is allowed when some allow pattern matches and no deny pattern does.
 *
 * Threads: the admin thread builds a whole new auth_set and swaps it in (auth_swap); the
 * reactors read the one in force inside their epoch sections (core/epoch.h) and keep
 * nothing of it across turns except the token id and the generation they checked. Per
 * token counters that outlive sets (connections, subscriptions, rate buckets) are in
 * auth_usage slots: a token in the set in force keeps its slot in the next set; a new id
 * gets a new slot. Slots are never freed or reused while the process runs (a connection
 * may hold one after its token went), so the ids a process ever puts in force are
 * bounded: AUTH_USAGE_MAX, ~48 MB of slots. The failure table and the refusal ring are
 * under a mutex: refusals are not the data path. */
#ifndef FANOUT_CORE_AUTH_H
#define FANOUT_CORE_AUTH_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/epoch.h"

#define AUTH_ID_LEN        12u	/* hex digits */
#define AUTH_TOKEN_LEN     59u	/* "fo_" + id + "_" + 43 */
#define AUTH_HASH_BYTES    32u
#define AUTH_NAME_MAX      64u	/* a token's name: 1..64 bytes of [A-Za-z0-9._-] */
#define AUTH_PATTERNS_MAX  32u	/* per list */
#define AUTH_PATTERN_MAX   200u	/* bytes, as a topic name */
#define AUTH_TOKENS_MAX    1024u	/* in force at once (~26 KB each with full lists) */
#define AUTH_USAGE_CHUNK   4096u	/* usage slots are allocated this many at a time */
#define AUTH_USAGE_MAX     (1u << 20)	/* token ids put in force over a process's life */
#define AUTH_FAIL_SLOTS    256u	/* source addresses whose failures are remembered */
#define AUTH_FAIL_FREE     5u	/* failures from one address before answers slow down */
#define AUTH_FAIL_WINDOW_NS (60ll * 1000000000)	/* failures older than this are forgotten */
#define AUTH_FAIL_DELAY_MAX_NS (5ll * 1000000000)	/* the slowest answer */
#define AUTH_REFUSALS_MAX  1024u	/* refusals waiting for the admin thread */
#define AUTH_BURST_NS      (1000ll * 1000000)	/* rate limits allow 1 s worth at once */

enum auth_role {
	AUTH_ROLE_CLIENT = 0,	/* TCP (and WebSocket) per its lists; no REST */
	AUTH_ROLE_READER = 1,	/* also read-only REST (GET) */
	AUTH_ROLE_ADMIN = 2,	/* also every REST call: topics, subscriptions, rules, tokens */
};

enum auth_action { AUTH_PUBLISH = 0, AUTH_SUBSCRIBE = 1 };

struct auth_list {
	uint32_t nallow, ndeny;
	char allow[AUTH_PATTERNS_MAX][AUTH_PATTERN_MAX + 1];
	char deny[AUTH_PATTERNS_MAX][AUTH_PATTERN_MAX + 1];
};

/* 0 = no bound. */
struct auth_limits {
	uint64_t events_per_s;		/* published events, per token and per connection */
	uint64_t bytes_per_s;		/* published batch bytes, the same */
	uint32_t subscriptions;		/* open at once, over the token's connections */
	uint32_t connections;		/* open at once with the token */
	uint32_t rest_per_s;		/* REST requests */
};

/* Per token state that outlives sets: found by id, never freed. */
struct auth_usage {
	char id[AUTH_ID_LEN + 1];
	_Atomic uint32_t connections, subscriptions;
	_Atomic int64_t events_tat, bytes_tat, rest_tat;	/* GCRA: theoretical arrival */
};

struct auth_token {
	char id[AUTH_ID_LEN + 1];
	char name[AUTH_NAME_MAX + 1];
	enum auth_role role;
	uint8_t hash[AUTH_HASH_BYTES];
	struct auth_list pub, sub;
	struct auth_limits limits;
	struct auth_usage *usage;	/* set by auth_set_add */
};

/* One immutable generation of the tokens in force, sorted by id. */
struct auth_set {
	uint32_t n, cap;
	struct auth_token *tokens;
	struct epoch_entry ent;
};

/* A refused attempt, for the admin audit. */
struct auth_refusal {
	int64_t at_ns;			/* CLOCK_REALTIME */
	char who[AUTH_ID_LEN + 1];	/* the token's id, "" when none was valid */
	char source[64];		/* the peer address */
	char action[32];		/* "hello", "publish", "subscribe", ... */
	char target[AUTH_PATTERN_MAX + 1];	/* a topic, or "" */
	char why[160];
};

struct auth_fail_slot {
	struct sockaddr_storage addr;	/* port ignored */
	uint32_t count;
	int64_t last_ns;
};

struct auth {
	bool required;			/* --auth required */
	const struct auth_set *_Atomic set;	/* never NULL once auth_init returned */
	_Atomic uint64_t gen;		/* bumped by every swap: sessions look again */
	pthread_mutex_t lock;		/* what follows */
	struct auth_usage *usage[AUTH_USAGE_MAX / AUTH_USAGE_CHUNK];	/* chunks */
	uint32_t nusage;		/* slots handed out */
	struct auth_fail_slot fails[AUTH_FAIL_SLOTS];
	struct auth_refusal *refusals;	/* a ring of AUTH_REFUSALS_MAX */
	uint32_t rhead, rn;
	uint64_t refusals_dropped;	/* the ring was full */
	_Atomic uint64_t failures;	/* bad tokens presented, since start */
};

/* Sets a up with an empty set. Returns 0 or -ENOMEM. */
int auth_init(struct auth *a, bool required);
void auth_free(struct auth *a);

/* ---- tokens ------------------------------------------------------------------------ */

/* Makes a new random token: its text (AUTH_TOKEN_LEN + 1 bytes), id and hash. */
void auth_token_generate(char text[AUTH_TOKEN_LEN + 1], char id[AUTH_ID_LEN + 1],
			 uint8_t hash[AUTH_HASH_BYTES]);

/* Reads a presented token's id and hash. Returns 0, or -EINVAL (not a token's shape). */
int auth_token_parse(const char *text, size_t len, char id[AUTH_ID_LEN + 1],
		     uint8_t hash[AUTH_HASH_BYTES]);

/* True when name is 1..AUTH_NAME_MAX bytes of [A-Za-z0-9._-]. */
bool auth_name_valid(const char *name);

/* "client" / "reader" / "admin". Returns 0 or -EINVAL. */
int auth_role_parse(const char *s, enum auth_role *role);
const char *auth_role_name(enum auth_role role);

/* Checks a topic pattern. Returns 0, or -EINVAL with *why set. */
int auth_pattern_check(const char *pattern, const char **why);

/* True when the pattern matches topic [name, name+len). */
bool auth_pattern_match(const char *pattern, const char *name, size_t len);

/* True when t may do act on the topic. */
bool auth_allows(const struct auth_token *t, enum auth_action act, const char *topic,
		 size_t len);

/* ---- sets -------------------------------------------------------------------------- */

/* A new empty set, or NULL. */
struct auth_set *auth_set_new(void);

/* Copies t into set: its usage slot is the one of the token with its id in the set in
 * force, else auth_swap gives it one. Returns 0, -EEXIST (its id is in the set), -ENOSPC
 * (AUTH_TOKENS_MAX in the set) or -ENOMEM. The thread that swaps, before auth_swap. */
int auth_set_add(struct auth *a, struct auth_set *set, const struct auth_token *t);

void auth_set_free(struct auth_set *set);

/* Puts next in force; the set it replaces is freed after a grace period (core/epoch).
 * Tokens new to it get usage slots first; one that cannot (AUTH_USAGE_MAX ids used up,
 * or no memory) is left out of it. Returns how many were. Bumps a->gen. Registered
 * threads (the admin thread), or before the reactors start. */
uint32_t auth_swap(struct auth *a, struct auth_set *next);

/* The set in force: inside an epoch section, or on the thread that swaps. */
static inline const struct auth_set *auth_current(struct auth *a)
{
	return atomic_load_explicit(&a->set, memory_order_acquire);
}

/* The token with this id in set, or NULL. */
const struct auth_token *auth_find(const struct auth_set *set, const char *id);

/* The token whose text this is, or NULL (unknown id or wrong secret: the caller cannot
 * tell which, nor can the client). */
const struct auth_token *auth_verify(const struct auth_set *set, const char *text, size_t len);

/* ---- rate limits --------------------------------------------------------------------- */

/* Takes n units from a bucket of per_s units a second (burst: AUTH_BURST_NS worth, at
 * least n) whose state is *tat. Returns 0, or how many ns to wait before n would fit
 * (nothing taken). per_s = 0: always 0. Lock-free (GCRA with compare-and-swap). */
int64_t auth_rate_take(_Atomic int64_t *tat, uint64_t per_s, uint64_t n, int64_t now_ns);

/* Gives back n units auth_rate_take took (a request refused by a later bucket). */
void auth_rate_give(_Atomic int64_t *tat, uint64_t per_s, uint64_t n);

/* Takes one from a counter bounded by max (0 = none). Returns true, or false when it
 * is at max (nothing taken). */
bool auth_count_take(_Atomic uint32_t *count, uint32_t max);
void auth_count_give(_Atomic uint32_t *count);

/* ---- failures and refusals ------------------------------------------------------- */

/* Records a bad token from addr; returns how long to hold the answer back: 0 for the
 * first AUTH_FAIL_FREE failures in a window, then doubling from 100 ms up to
 * AUTH_FAIL_DELAY_MAX_NS. Any thread. */
int64_t auth_fail(struct auth *a, const struct sockaddr_storage *addr, int64_t now_ns);

/* Failures remembered for addr now (tests, stats). */
uint32_t auth_fail_count(struct auth *a, const struct sockaddr_storage *addr, int64_t now_ns);

/* Queues a refusal for the audit (the oldest is dropped, and counted, when full). Any
 * thread. Strings are cut to fit. */
void auth_refuse(struct auth *a, const char *who, const char *source, const char *action,
		 const char *target, const char *why);

/* Moves up to max queued refusals to out; returns how many. The admin thread. */
uint32_t auth_refusals_take(struct auth *a, struct auth_refusal *out, uint32_t max);

/* Makes s safe for the audit (a store column, a JSON string): every byte that is not
 * part of a valid UTF-8 sequence, and every control character, becomes '?'. In place. */
void auth_text_clean(char *s);

/* Writes addr as text ("127.0.0.1", "[::1]") into buf. */
void auth_addr_text(const struct sockaddr_storage *addr, char *buf, size_t cap);

#endif
