/* tests/soak/soak_event.c — see soak_event.h. */
#include "tests/soak/soak_event.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "tests/soak/soak_proc.h"
#include "tests/soak/soak_state.h"

/* A key's payload kind: its last token, and which of the three payloads it carries. */
static const char *const soak_kinds[] = { "trade", "fill", "decision" };

uint32_t soak_key_index(uint32_t pub, uint64_t seq)
{
	return (uint32_t)(soak_mix(((uint64_t)pub << 56) ^ seq) % SOAK_KEYS);
}

void soak_key_name(char *buf, uint32_t pub, uint32_t k)
{
	snprintf(buf, SOAK_KEY_MAX, "p%u.k%02u.%s", pub, k, soak_kinds[k % 3]);
}

int soak_id_parse(const char *id, size_t len, uint32_t *pub, uint64_t *seq)
{
	char buf[SOAK_ID_MAX];
	unsigned p;
	uint64_t s;
	int n = 0;

	if (len < 8 || len >= sizeof(buf) || memcmp(id, "soak-", 5) != 0)
		return -1;
	memcpy(buf, id, len);
	buf[len] = '\0';
	if (sscanf(buf, "soak-%u-%" SCNu64 "%n", &p, &s, &n) != 2 || (size_t)n != len ||
	    p >= SOAK_PUBS_MAX)
		return -1;
	*pub = p;
	*seq = s;
	return 0;
}

uint8_t soak_fp(const char *id, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)id[i]) * 0x100000001b3ull;
	return (uint8_t)((soak_mix(h) & 0x7f) | 0x80);
}

#define PAD "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-0123456789"
static char *soak_flags[] = { "soak/" PAD PAD, "soak/" PAD "/" PAD, "soak/" PAD "." PAD };

void soak_event_make(struct soak_event *ev, uint32_t pub, uint64_t seq)
{
	uint32_t k = soak_key_index(pub, seq);

	fanout__v1__event__init(&ev->e);
	fanout__v1__distribution__init(&ev->d);
	snprintf(ev->id, sizeof(ev->id), "soak-%u-%" PRIu64, pub, seq);
	soak_key_name(ev->key, pub, k);
	snprintf(ev->name, sizeof(ev->name), "P%uK%02u", pub, k);
	ev->e.event_id = ev->id;
	ev->d.topic = SOAK_TOPIC;
	ev->d.routing_key = ev->key;
	ev->e.distribution = &ev->d;
	fanout__v1__metadata__init(&ev->meta);
	ev->meta.source_service = "fanout-soak";
	ev->meta.n_compliance_flags = 3;
	ev->meta.compliance_flags = soak_flags;
	ev->e.metadata = &ev->meta;
	switch (k % 3) {
	case 0:
		fanout__v1__market_data__init(&ev->md);
		ev->md.symbol = ev->name;
		ev->md.exchange = "SOAK";
		ev->md.price = 100.0 + k;
		ev->md.volume = (int64_t)seq;
		ev->e.payload_case = FANOUT__V1__EVENT__PAYLOAD_MARKET_DATA;
		ev->e.market_data = &ev->md;
		break;
	case 1:
		fanout__v1__execution_data__init(&ev->ex);
		ev->ex.order_id = ev->id;
		ev->ex.instrument_id = ev->name;
		ev->ex.quantity = (double)seq;
		ev->ex.venue = "SOAK";
		ev->e.payload_case = FANOUT__V1__EVENT__PAYLOAD_EXECUTION;
		ev->e.execution = &ev->ex;
		break;
	default:
		fanout__v1__coordination_decision__init(&ev->cd);
		ev->cd.decision_id = ev->id;
		ev->cd.instrument_id = ev->name;
		ev->cd.action = seq % 2 ? "buy" : "sell";
		ev->cd.quantity = (int64_t)seq;
		ev->e.payload_case = FANOUT__V1__EVENT__PAYLOAD_COORDINATION_DECISION;
		ev->e.coordination_decision = &ev->cd;
		break;
	}
}

static bool str_eq(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

static bool payload_intact(const Fanout__V1__Event *e, const struct soak_event *w)
{
	if (e->payload_case != w->e.payload_case)
		return false;
	switch (e->payload_case) {
	case FANOUT__V1__EVENT__PAYLOAD_MARKET_DATA:
		return str_eq(e->market_data->symbol, w->md.symbol) &&
		       str_eq(e->market_data->exchange, w->md.exchange) &&
		       e->market_data->price == w->md.price && e->market_data->volume == w->md.volume;
	case FANOUT__V1__EVENT__PAYLOAD_EXECUTION:
		return str_eq(e->execution->order_id, w->ex.order_id) &&
		       str_eq(e->execution->instrument_id, w->ex.instrument_id) &&
		       e->execution->quantity == w->ex.quantity &&
		       str_eq(e->execution->venue, w->ex.venue);
	case FANOUT__V1__EVENT__PAYLOAD_COORDINATION_DECISION:
		return str_eq(e->coordination_decision->decision_id, w->cd.decision_id) &&
		       str_eq(e->coordination_decision->instrument_id, w->cd.instrument_id) &&
		       str_eq(e->coordination_decision->action, w->cd.action) &&
		       e->coordination_decision->quantity == w->cd.quantity;
	default:
		return false;
	}
}

bool soak_event_intact(const Fanout__V1__Event *e, uint32_t pub, uint64_t seq)
{
	struct soak_event w;
	const Fanout__V1__Metadata *m = e->metadata;

	soak_event_make(&w, pub, seq);
	if (!e->distribution || !str_eq(e->event_id, w.id) ||
	    !str_eq(e->distribution->topic, w.d.topic) ||
	    !str_eq(e->distribution->routing_key, w.key) || !payload_intact(e, &w) || !m ||
	    !str_eq(m->source_service, w.meta.source_service) ||
	    m->n_compliance_flags != w.meta.n_compliance_flags)
		return false;
	for (size_t i = 0; i < m->n_compliance_flags; i++)
		if (!str_eq(m->compliance_flags[i], w.meta.compliance_flags[i]))
			return false;
	return true;
}

/* Length of the token at s (up to '.' or the end). */
static size_t token_len(const char *s)
{
	return strcspn(s, ".");
}

bool soak_pattern_match(const char *pattern, const char *key)
{
	const char *p = pattern, *k = key;

	for (;;) {
		size_t pl = token_len(p), kl = token_len(k);

		if (pl == 1 && p[0] == '>')
			return kl > 0;	/* '>' is always last: one or more tokens left */
		if (!(pl == 1 && p[0] == '*') && (pl != kl || memcmp(p, k, pl) != 0))
			return false;
		p += pl;
		k += kl;
		if (!*p || !*k)
			return !*p && !*k;
		p++;
		k++;
	}
}

/* Keys are p<0..7>.k<00..15>.<trade|fill|decision by k % 3>: each set below takes a
 * different slice, exact keys and wildcards both. */
static const char *const set1[] = { "p0.>", "*.k01.*" };
static const char *const set2[] = { "p1.k00.trade", "p1.k03.trade", "p2.k07.fill",
				     "p0.k02.decision" };
static const char *const set3[] = { "*.*.trade" };
static const char *const set4[] = { "p2.*.fill", "p1.>" };
static const char *const set5[] = { "*.k05.>", "p0.k14.decision" };

static const struct {
	const char *const *p;
	size_t n;
} soak_sets[SOAK_SETS] = {
	{ NULL, 0 }, { set1, 2 }, { set2, 4 }, { set3, 1 }, { set4, 2 }, { set5, 2 },
};

const char *const *soak_set(uint32_t i, size_t *n)
{
	*n = soak_sets[i % SOAK_SETS].n;
	return soak_sets[i % SOAK_SETS].p;
}

bool soak_set_match(uint32_t i, const char *key)
{
	size_t n;
	const char *const *p = soak_set(i, &n);

	if (n == 0)
		return true;
	for (size_t j = 0; j < n; j++)
		if (soak_pattern_match(p[j], key))
			return true;
	return false;
}
