/* admin/ws_accept.c — see ws_accept.h. */
#include "admin/ws_accept.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <string.h>

static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

int ws_accept_key(const char *key, char out[WS_ACCEPT_BYTES])
{
	unsigned char raw[18], digest[SHA_DIGEST_LENGTH];
	char both[24 + sizeof(ws_guid)];

	/* 16 bytes are 24 base64 characters, the last two "==": decodes to 18 with two
	 * padding bytes. */
	if (!key || strlen(key) != 24 || key[22] != '=' || key[23] != '=' ||
	    EVP_DecodeBlock(raw, (const unsigned char *)key, 24) != 18)
		return -1;
	memcpy(both, key, 24);
	memcpy(both + 24, ws_guid, sizeof(ws_guid));
	SHA1((const unsigned char *)both, 24 + sizeof(ws_guid) - 1, digest);
	/* 20 bytes: 28 characters and the NUL EVP_EncodeBlock writes. */
	return EVP_EncodeBlock((unsigned char *)out, digest, sizeof(digest)) == 28 ? 0 : -1;
}
