/*
 * crc64.c: CRC-64/XZ by slicing-by-8 (see crc64.h).
 *
 * Table 0 is the classic byte-at-a-time table; table j advances a byte
 * through j further zero bytes, so eight bytes are folded in with eight
 * independent look-ups instead of a serial chain of eight.
 */
#include "runtime/util/crc64.h"

#include <pthread.h>

#define CRC64_POLY 0xc96c5795d7870f42ULL /* ECMA-182, bit-reflected */

static uint64_t table[8][256];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void build_tables(void) {
    for (int i = 0; i < 256; i++) {
        uint64_t c = (uint64_t)i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ CRC64_POLY : c >> 1;
        table[0][i] = c;
    }
    for (int i = 0; i < 256; i++)
        for (int j = 1; j < 8; j++)
            table[j][i] = (table[j - 1][i] >> 8) ^ table[0][table[j - 1][i] & 0xff];
}

/* Loads 8 bytes as a little-endian word whatever the host's byte order,
 * because the slicing below folds the lowest-addressed byte first. */
static uint64_t load_le64(const unsigned char *p) {
    /* Spelled out so that compilers turn it into one load on x86 and ARM. */
    return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 |
           (uint64_t)p[3] << 24 | (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 |
           (uint64_t)p[6] << 48 | (uint64_t)p[7] << 56;
}

uint64_t crc64_update(uint64_t crc, const void *data, size_t n) {
    /* Once per process, and safe if two threads checksum at once. */
    pthread_once(&table_once, build_tables);
    const unsigned char *p = data;
    crc = ~crc;
    for (; n >= 8; n -= 8, p += 8) {
        uint64_t w = load_le64(p) ^ crc;
        crc = table[7][w & 0xff] ^ table[6][(w >> 8) & 0xff] ^
              table[5][(w >> 16) & 0xff] ^ table[4][(w >> 24) & 0xff] ^
              table[3][(w >> 32) & 0xff] ^ table[2][(w >> 40) & 0xff] ^
              table[1][(w >> 48) & 0xff] ^ table[0][w >> 56];
    }
    for (; n > 0; n--, p++) crc = table[0][(crc ^ *p) & 0xff] ^ (crc >> 8);
    return ~crc;
}
