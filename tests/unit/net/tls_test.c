/* tests/unit/net/tls_test.c — a connection's TLS session on memory BIOs (net/tls.c),
 * against an OpenSSL client in the same process: the handshake, both directions, small
 * frames packed into full records, short sends accounted in plaintext only once all
 * their ciphertext is out, garbage and a closed session, and the context's errors. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "net/tls.h"
#include "tests/unit/tmp_tree.h"

struct fixture {
	char dir[64], cert[96], key[96], other_key[96];
	SSL_CTX *sctx, *cctx;
	SSL *cli;		/* the client: memory BIOs too */
	BIO *cin, *cout;	/* its input (server's ciphertext) and output */
	struct net_tls t;
	uint8_t scratch[NET_TLS_RECORD_BYTES], seal[NET_TLS_RECORD_BYTES];
	uint8_t got[1 << 18];	/* plaintext the server delivered */
	size_t ngot;
	int deliveries, stop_after;	/* deliver returns false after stop_after (0: never) */
};

static void write_key(const char *path, EVP_PKEY *pk)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL), 1);
	fclose(f);
}

/* A self-signed P-256 certificate with its key, and a second key that is not its. */
static void make_cert(struct fixture *fx)
{
	EVP_PKEY *pk = EVP_EC_gen("P-256"), *other = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *n;
	FILE *f;

	assert_non_null(pk);
	assert_non_null(other);
	assert_non_null(x);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, pk);
	n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"fanoutd", -1,
				   -1, 0);
	X509_set_issuer_name(x, n);
	assert_true(X509_sign(x, pk, EVP_sha256()) > 0);
	f = fopen(fx->cert, "w");
	assert_non_null(f);
	assert_int_equal(PEM_write_X509(f, x), 1);
	fclose(f);
	write_key(fx->key, pk);
	write_key(fx->other_key, other);
	X509_free(x);
	EVP_PKEY_free(pk);
	EVP_PKEY_free(other);
}

static bool deliver(void *arg, const uint8_t *p, size_t k)
{
	struct fixture *fx = arg;

	assert_true(fx->ngot + k <= sizeof(fx->got));
	memcpy(fx->got + fx->ngot, p, k);
	fx->ngot += k;
	fx->deliveries++;
	return fx->stop_after == 0 || fx->deliveries < fx->stop_after;
}

/* Client output into the server (its answer back into the client, all at once). */
static int to_server(struct fixture *fx)
{
	uint8_t buf[1 << 16];
	int n, rc = 0;

	while ((n = BIO_read(fx->cout, buf, sizeof(buf))) > 0) {
		rc = net_tls_recv(&fx->t, buf, (size_t)n, fx->scratch, sizeof(fx->scratch),
				  deliver, fx);
		if (rc < 0)
			return rc;
	}
	return rc;
}

/* Everything the server has to send, to the client, in one send. Returns the plaintext
 * bytes that send completed. */
static size_t to_client(struct fixture *fx)
{
	const uint8_t *p;
	long n = net_tls_next(&fx->t, &p);
	bool rest = true;
	size_t plain;

	assert_true(n >= 0);
	if (n == 0)
		return 0;
	assert_int_equal(BIO_write(fx->cin, p, (int)n), (int)n);
	plain = net_tls_sent(&fx->t, (size_t)n, &rest);
	assert_false(rest);
	return plain;
}

static void handshake(struct fixture *fx)
{
	for (int i = 0; i < 10 && !fx->t.established; i++) {
		ERR_clear_error();
		(void)SSL_do_handshake(fx->cli);
		assert_int_equal(to_server(fx), 0);
		(void)to_client(fx);
	}
	assert_true(fx->t.established);
	assert_int_equal(SSL_do_handshake(fx->cli), 1);
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	char why[160];

	assert_non_null(fx);
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/fanout-tls-test-XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	snprintf(fx->cert, sizeof(fx->cert), "%s/cert.pem", fx->dir);
	snprintf(fx->key, sizeof(fx->key), "%s/key.pem", fx->dir);
	snprintf(fx->other_key, sizeof(fx->other_key), "%s/other.pem", fx->dir);
	make_cert(fx);
	fx->sctx = net_tls_ctx_new(fx->cert, fx->key, why, sizeof(why));
	assert_non_null(fx->sctx);
	fx->cctx = SSL_CTX_new(TLS_client_method());
	assert_non_null(fx->cctx);
	assert_int_equal(SSL_CTX_load_verify_locations(fx->cctx, fx->cert, NULL), 1);
	SSL_CTX_set_verify(fx->cctx, SSL_VERIFY_PEER, NULL);
	fx->cli = SSL_new(fx->cctx);
	fx->cin = BIO_new(BIO_s_mem());
	fx->cout = BIO_new(BIO_s_mem());
	BIO_set_mem_eof_return(fx->cin, -1);
	SSL_set_bio(fx->cli, fx->cin, fx->cout);
	SSL_set_connect_state(fx->cli);
	assert_int_equal(net_tls_open(&fx->t, fx->sctx, 0), 0);
	assert_int_equal(fx->t.handshake_by_ns, NET_TLS_HANDSHAKE_NS);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	net_tls_close(&fx->t);
	SSL_free(fx->cli);
	SSL_CTX_free(fx->cctx);
	SSL_CTX_free(fx->sctx);
	assert_int_equal(tmp_tree_remove(fx->dir), 0);
	free(fx);
	return 0;
}

static void client_reads(struct fixture *fx, uint8_t *out, size_t want)
{
	size_t have = 0, k;

	while (have < want) {
		assert_int_equal(SSL_read_ex(fx->cli, out + have, want - have, &k), 1);
		have += k;
	}
}

static void handshake_then_both_ways(void **state)
{
	struct fixture *fx = *state;
	uint8_t back[64];
	struct iovec v = { .iov_base = "pong", .iov_len = 4 };
	size_t k;

	handshake(fx);
	assert_int_equal(SSL_write_ex(fx->cli, "ping", 4, &k), 1);
	assert_int_equal(to_server(fx), 0);
	assert_int_equal(fx->ngot, 4);
	assert_memory_equal(fx->got, "ping", 4);
	assert_int_equal(net_tls_seal(&fx->t, &v, 1, 4, fx->seal, sizeof(fx->seal)), 0);
	assert_int_equal(to_client(fx), 4);
	client_reads(fx, back, 4);
	assert_memory_equal(back, "pong", 4);
	assert_false(net_tls_pending(&fx->t));
	/* Buffers stay while sends go on; the second look without one gives them back. */
	net_tls_trim(&fx->t);
	assert_true(fx->t.out_cap > 0);
	net_tls_trim(&fx->t);
	assert_int_equal(fx->t.out_cap, 0);
	assert_int_equal(fx->t.next_cap, 0);
	assert_null(fx->t.out);
	assert_int_equal(net_tls_seal(&fx->t, &v, 1, 4, fx->seal, sizeof(fx->seal)), 0);
	assert_int_equal(to_client(fx), 4);	/* and sends go on after */
	client_reads(fx, back, 4);
	assert_memory_equal(back, "pong", 4);
}

/* 300 frames of 50 bytes go as one record (not 300), then a large iovec; a send the
 * kernel takes in three parts reports the plaintext once, at the last. */
static void frames_share_records_and_short_sends_count_once(void **state)
{
	struct fixture *fx = *state;
	static uint8_t frames[300][50], big[40000], back[300 * 50 + 40000];
	struct iovec v[301];
	const uint8_t *p;
	size_t total = sizeof(frames) + sizeof(big), plain;
	long n, part;
	bool rest;

	handshake(fx);
	for (int i = 0; i < 300; i++) {
		memset(frames[i], 'a' + i % 26, sizeof(frames[i]));
		v[i].iov_base = frames[i];
		v[i].iov_len = sizeof(frames[i]);
	}
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7);
	v[300].iov_base = big;
	v[300].iov_len = sizeof(big);
	assert_int_equal(net_tls_seal(&fx->t, v, 301, total, fx->seal, sizeof(fx->seal)), 0);
	n = net_tls_next(&fx->t, &p);
	/* Four records at most (15000 + 40000 bytes in 16 KiB records), each with a few
	 * dozen bytes of header and tag: one per frame would add some 7 KB. */
	assert_true(n > (long)total);
	assert_true(n < (long)total + 4 * 64);
	part = n / 3;
	assert_int_equal(BIO_write(fx->cin, p, (int)part), (int)part);
	assert_int_equal(net_tls_sent(&fx->t, (size_t)part, &rest), 0);
	assert_true(rest);
	assert_true(net_tls_pending(&fx->t));
	assert_int_equal(net_tls_next(&fx->t, &p), n - part);
	assert_int_equal(BIO_write(fx->cin, p, (int)part), (int)part);
	assert_int_equal(net_tls_sent(&fx->t, (size_t)part, &rest), 0);
	assert_true(rest);
	assert_int_equal(net_tls_next(&fx->t, &p), n - 2 * part);
	assert_int_equal(BIO_write(fx->cin, p, (int)(n - 2 * part)), (int)(n - 2 * part));
	plain = net_tls_sent(&fx->t, (size_t)(n - 2 * part), &rest);
	assert_int_equal(plain, total);
	assert_false(rest);
	client_reads(fx, back, total);
	assert_memory_equal(back, frames, sizeof(frames));
	assert_memory_equal(back + sizeof(frames), big, sizeof(big));
}

static void nothing_sealed_before_the_handshake(void **state)
{
	struct fixture *fx = *state;
	struct iovec v = { .iov_base = "early", .iov_len = 5 };
	const uint8_t *p;

	assert_int_equal(net_tls_seal(&fx->t, &v, 1, 5, fx->seal, sizeof(fx->seal)), -ENOTCONN);
	assert_int_equal(net_tls_next(&fx->t, &p), 0);
}

/* A plain client (protobuf, or HTTP) on the TLS port: refused with the reason, and
 * nothing more read from it. */
static void plain_bytes_fail_the_handshake(void **state)
{
	struct fixture *fx = *state;
	const char *junk = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";

	assert_int_equal(net_tls_recv(&fx->t, (const uint8_t *)junk, strlen(junk), fx->scratch,
				      sizeof(fx->scratch), deliver, fx), -EPROTO);
	assert_true(fx->t.failed);
	assert_non_null(strstr(fx->t.why, "handshake failed"));
	assert_int_equal(fx->ngot, 0);
	assert_int_equal(net_tls_recv(&fx->t, (const uint8_t *)"x", 1, fx->scratch,
				      sizeof(fx->scratch), deliver, fx), -EPROTO);
}

/* A record altered on the way is refused, never delivered. */
static void a_tampered_record_is_refused(void **state)
{
	struct fixture *fx = *state;
	uint8_t buf[256];
	size_t k;
	int n;

	handshake(fx);
	assert_int_equal(SSL_write_ex(fx->cli, "order 42 buy", 12, &k), 1);
	n = BIO_read(fx->cout, buf, sizeof(buf));
	assert_true(n > 12);
	buf[n - 3] ^= 0x40;
	assert_int_equal(net_tls_recv(&fx->t, buf, (size_t)n, fx->scratch, sizeof(fx->scratch),
				      deliver, fx), -EPROTO);
	assert_non_null(strstr(fx->t.why, "bad record"));
	assert_int_equal(fx->ngot, 0);
}

/* deliver saying stop (the connection is closing) stops the decrypting. */
static void a_closing_connection_gets_no_more(void **state)
{
	struct fixture *fx = *state;
	size_t k;

	handshake(fx);
	assert_int_equal(SSL_write_ex(fx->cli, "one", 3, &k), 1);
	assert_int_equal(SSL_write_ex(fx->cli, "two", 3, &k), 1);
	fx->stop_after = 1;
	assert_int_equal(to_server(fx), 0);
	assert_int_equal(fx->deliveries, 1);
	assert_memory_equal(fx->got, "one", 3);
}

static void close_notify_ends_the_session(void **state)
{
	struct fixture *fx = *state;

	handshake(fx);
	(void)SSL_shutdown(fx->cli);
	assert_int_equal(to_server(fx), -ECONNRESET);
}

/* A peer asking for key update after key update is cut: each costs key work here. */
static void key_update_floods_are_cut(void **state)
{
	struct fixture *fx = *state;
	int rc = 0, i;

	handshake(fx);
	for (i = 0; i < 100 && rc == 0; i++) {
		assert_int_equal(SSL_key_update(fx->cli, SSL_KEY_UPDATE_REQUESTED), 1);
		assert_int_equal(SSL_do_handshake(fx->cli), 1);
		rc = to_server(fx);
		(void)to_client(fx);	/* the peer reads our answers */
	}
	assert_int_equal(rc, -EPROTO);
	assert_true(i > (int)NET_TLS_POST_HANDSHAKE_MAX);
	assert_non_null(strstr(fx->t.why, "post-handshake"));
}

/* A peer that asks for answers and never reads them (our send stays in flight) is cut
 * once they pile up, even when it asks slowly. */
static void unread_answers_are_bounded(void **state)
{
	struct fixture *fx = *state;
	int rc = 0, i;

	handshake(fx);
	for (i = 0; i < 5000 && rc == 0; i++) {
		assert_int_equal(SSL_key_update(fx->cli, SSL_KEY_UPDATE_REQUESTED), 1);
		assert_int_equal(SSL_do_handshake(fx->cli), 1);
		rc = to_server(fx);
		net_tls_trim(&fx->t);	/* a new period each time: slow enough */
	}
	assert_int_equal(rc, -EPROTO);
	assert_non_null(strstr(fx->t.why, "pile up"));
	assert_true(fx->t.next_len <= NET_TLS_UNSOLICITED_MAX + 1024);
}

static void contexts_name_what_is_wrong(void **state)
{
	struct fixture *fx = *state;
	char why[160], missing[128];
	SSL_CTX *c;

	snprintf(missing, sizeof(missing), "%s/none.pem", fx->dir);
	c = net_tls_ctx_new(missing, fx->key, why, sizeof(why));
	assert_null(c);
	assert_non_null(strstr(why, "--tls-cert"));
	c = net_tls_ctx_new(fx->cert, missing, why, sizeof(why));
	assert_null(c);
	assert_non_null(strstr(why, "--tls-key"));
	c = net_tls_ctx_new(fx->cert, fx->other_key, why, sizeof(why));
	assert_null(c);
	assert_non_null(strstr(why, "--tls-key"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(handshake_then_both_ways, setup, teardown),
		cmocka_unit_test_setup_teardown(frames_share_records_and_short_sends_count_once,
						setup, teardown),
		cmocka_unit_test_setup_teardown(nothing_sealed_before_the_handshake, setup,
						teardown),
		cmocka_unit_test_setup_teardown(plain_bytes_fail_the_handshake, setup, teardown),
		cmocka_unit_test_setup_teardown(a_tampered_record_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(a_closing_connection_gets_no_more, setup,
						teardown),
		cmocka_unit_test_setup_teardown(close_notify_ends_the_session, setup, teardown),
		cmocka_unit_test_setup_teardown(key_update_floods_are_cut, setup, teardown),
		cmocka_unit_test_setup_teardown(unread_answers_are_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(contexts_name_what_is_wrong, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
