/* tests/fuzz/filter_fuzz.c — core/filter.c: a fanout.v1.Filter unpacked from fuzzer bytes
 * with protobuf-c (as a Subscribe's filter arrives), compiled, then evaluated on index
 * entries built from the rest of the input, against a reference evaluator written here
 * from filter.h's contract that reads the message itself (lists searched linearly).
 *
 * Input: a 16-bit length, that many bytes of Filter message, then entries: per entry a
 * data type byte, one selector byte per hash field (0: no value; high bit: the hash of
 * one of the filter's strings; else a raw 64-bit hash from the input) and one per
 * price/volume (a bound of the filter, its neighbours, 0, -0, NaN, infinities or a raw
 * double from the input).
 * Checks: filter_compile accepts exactly the filters the reference finds valid (list and
 * string bounds, storable data types, finite bounds, min_price <= max_price), names a
 * reason when it refuses and leaves nothing to free; filter_match agrees with the
 * reference on every entry; a freed filter matches everything. */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "core/filter.h"
#include "core/keyhash.h"
#include "fuzz_util.h"

#define FILTER_FUZZ_ENTRIES_MAX 256u
#define FILTER_FUZZ_STRING_BYTES_MAX 255u

#define MD   FANOUT__V1__DATA_TYPE__DATA_TYPE_MARKET_DATA
#define DEC  FANOUT__V1__DATA_TYPE__DATA_TYPE_COORDINATION_DECISION
#define EXEC FANOUT__V1__DATA_TYPE__DATA_TYPE_EXECUTION

/* The message's six string lists, in one table. */
struct ref_list {
	char **v;
	size_t n;
};

static void ref_lists(const Fanout__V1__Filter *m, struct ref_list out[6])
{
	out[0] = (struct ref_list){ m->symbols, m->n_symbols };
	out[1] = (struct ref_list){ m->exchanges, m->n_exchanges };
	out[2] = (struct ref_list){ m->currencies, m->n_currencies };
	out[3] = (struct ref_list){ m->actions, m->n_actions };
	out[4] = (struct ref_list){ m->order_ids, m->n_order_ids };
	out[5] = (struct ref_list){ m->portfolio_ids, m->n_portfolio_ids };
}

static bool ref_bound_ok(const Fanout__V1__Bound *b)
{
	return !b || isfinite(b->value);
}

static bool ref_valid(const Fanout__V1__Filter *m)
{
	struct ref_list l[6];

	ref_lists(m, l);
	for (size_t i = 0; i < 6; i++) {
		if (l[i].n > FILTER_VALUES_MAX)
			return false;
		for (size_t k = 0; k < l[i].n; k++) {
			size_t len = strlen(l[i].v[k]);

			if (len == 0 || len > FILTER_FUZZ_STRING_BYTES_MAX)
				return false;
		}
	}
	if (m->n_data_types > FILTER_VALUES_MAX)
		return false;
	for (size_t i = 0; i < m->n_data_types; i++)
		if (m->data_types[i] != MD && m->data_types[i] != DEC && m->data_types[i] != EXEC)
			return false;
	if (!ref_bound_ok(m->min_price) || !ref_bound_ok(m->max_price) ||
	    !ref_bound_ok(m->min_volume) || !ref_bound_ok(m->min_confidence))
		return false;
	return !(m->min_price && m->max_price && m->min_price->value > m->max_price->value);
}

/* An empty list is no condition; else the event has the string (hash != 0) and it is one
 * of the list's, compared one by one. */
static bool ref_in(const struct ref_list *l, uint64_t h)
{
	if (l->n == 0)
		return true;
	for (size_t k = 0; h && k < l->n; k++)
		if (keyhash_bytes(l->v[k], strlen(l->v[k])) == h)
			return true;
	return false;
}

static bool ref_match(const Fanout__V1__Filter *m, const struct log_entry *e)
{
	struct ref_list l[6];
	bool md = e->data_type == MD, dec = e->data_type == DEC, ex = e->data_type == EXEC;
	bool type_ok = m->n_data_types == 0;

	ref_lists(m, l);
	if (!(l[0].n || l[1].n || l[2].n || l[3].n || l[4].n || l[5].n || m->n_data_types ||
	      m->min_price || m->max_price || m->min_volume || m->min_confidence))
		return true;	/* no condition at all */
	for (size_t i = 0; i < m->n_data_types; i++)
		type_ok |= (uint32_t)m->data_types[i] == e->data_type;
	if (!type_ok)
		return false;
	/* A condition on a field the event's type does not carry fails (filter.h). */
	if ((l[2].n && !md) || (l[3].n && !dec) || (l[4].n && !(dec || ex)) || (l[5].n && !ex) ||
	    ((m->min_price || m->max_price) && !(md || ex)) || (m->min_confidence && !dec) ||
	    (m->min_volume && !(md || dec || ex)))
		return false;
	if ((m->min_price && !(e->price >= m->min_price->value)) ||
	    (m->max_price && !(e->price <= m->max_price->value)) ||
	    (m->min_confidence && !(e->price >= m->min_confidence->value)) ||
	    (m->min_volume && !(e->volume >= m->min_volume->value)))
		return false;
	return ref_in(&l[0], e->symbol_hash) && ref_in(&l[1], e->venue_hash) &&
	       ref_in(&l[2], e->aux_hash) && ref_in(&l[3], e->aux_hash) &&
	       ref_in(&l[4], e->order_hash) && ref_in(&l[5], e->portfolio_hash);
}

/* A hash field: none, one of the filter's strings, or raw. */
static uint64_t entry_hash(struct fuzz_in *in, const Fanout__V1__Filter *m)
{
	struct ref_list l[6];
	uint8_t sel = fuzz_u8(in);
	size_t total = 0, k;

	if (sel == 0)
		return 0;
	if (!(sel & 0x80))
		return fuzz_u64(in);
	ref_lists(m, l);
	for (size_t i = 0; i < 6; i++)
		total += l[i].n;
	if (total == 0)
		return keyhash_bytes("AAPL", 4);
	k = (sel & 0x7f) % total;
	for (size_t i = 0; i < 6; k -= l[i].n, i++)
		if (k < l[i].n)
			return keyhash_bytes(l[i].v[k], strlen(l[i].v[k]));
	return 0;
}

/* A price or volume: near a bound of the filter, a special value, or raw. */
static double entry_number(struct fuzz_in *in, const Fanout__V1__Filter *m)
{
	const Fanout__V1__Bound *b[4] = { m->min_price, m->max_price, m->min_volume,
					  m->min_confidence };
	uint8_t sel = fuzz_u8(in);
	uint64_t raw;
	double v;

	switch (sel % 8) {
	case 0: return 0.0;
	case 1: return -0.0;
	case 2: return NAN;
	case 3: return sel & 0x80 ? INFINITY : -INFINITY;
	case 4:
		raw = fuzz_u64(in);
		memcpy(&v, &raw, sizeof(v));
		return v;
	default:
		v = b[(sel >> 3) % 4] ? b[(sel >> 3) % 4]->value : 100.0;
		return sel % 8 == 5 ? v : nextafter(v, sel % 8 == 6 ? INFINITY : -INFINITY);
	}
}

static void entry_build(struct fuzz_in *in, const Fanout__V1__Filter *m, struct log_entry *e)
{
	uint8_t dt = fuzz_u8(in);

	memset(e, 0, sizeof(*e));
	e->data_type = dt < 0xf0 ? dt % 5 : dt;	/* mostly real types, now and then junk */
	e->symbol_hash = entry_hash(in, m);
	e->venue_hash = entry_hash(in, m);
	e->aux_hash = entry_hash(in, m);
	e->order_hash = entry_hash(in, m);
	e->portfolio_hash = entry_hash(in, m);
	e->price = entry_number(in, m);
	e->volume = entry_number(in, m);
}

static void filter_check_entries(struct fuzz_in *in, const Fanout__V1__Filter *m,
				 const struct filter *f)
{
	for (uint32_t i = 0; i < FILTER_FUZZ_ENTRIES_MAX && in->n; i++) {
		struct log_entry e;
		bool got, want;

		entry_build(in, m, &e);
		got = filter_match(f, &e);
		want = ref_match(m, &e);
		FUZZ_CHECK(got == want, "entry %u (type %u, price %g, volume %g): filter_match %d, "
			   "reference %d", i, e.data_type, e.price, e.volume, got, want);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct filter zero;
	struct fuzz_in in = { data, size };
	size_t len;
	const uint8_t *bytes = fuzz_take(&in, fuzz_u16(&in), &len);
	Fanout__V1__Filter *m = fanout__v1__filter__unpack(NULL, len, bytes);
	struct filter f;
	const char *why = NULL;
	struct log_entry any = { .data_type = MD };
	int rc;

	if (!m)
		return 0;	/* not a Filter: the session refuses it before compiling */
	rc = filter_compile(&f, m, &why);
	FUZZ_CHECK(rc == 0 || rc == -EINVAL, "filter_compile returned %d", rc);
	FUZZ_CHECK((rc == 0) == ref_valid(m), "filter_compile %s a filter the reference %s",
		   rc ? "refuses" : "accepts", rc ? "accepts" : "refuses");
	if (rc < 0) {
		FUZZ_CHECK(why != NULL && why[0], "refused without a reason");
		FUZZ_CHECK(memcmp(&f, &zero, sizeof(f)) == 0, "a refused filter holds something");
	} else {
		filter_check_entries(&in, m, &f);
		filter_free(&f);
		FUZZ_CHECK(filter_match(&f, &any), "a freed filter matches nothing");
	}
	fanout__v1__filter__free_unpacked(m, NULL);
	return 0;
}
