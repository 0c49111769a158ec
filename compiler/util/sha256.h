/*
 * sha256.h: SHA-256 (FIPS 180-4), for content hashes: the NVRTC cache key,
 * the source hash that kernels.h records, and the documents `gptc data` keeps
 * out of training (textset.h). Incremental, so a key can be built from
 * several pieces without joining them first.
 */
#ifndef GPTC_SHA256_H
#define GPTC_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t h[8];
    uint64_t bytes;
    unsigned char block[64];
    size_t fill;
} Sha256;

void sha256_init(Sha256 *s);
void sha256_update(Sha256 *s, const void *data, size_t len);

/* Ends the message: s->h then holds the digest, as eight 32-bit words. */
void sha256_finish(Sha256 *s);

/* Ends the message and writes the digest as 64 lower-case hex digits and
 * a NUL. */
void sha256_hex(Sha256 *s, char hex[65]);

#endif
