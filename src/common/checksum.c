/* CRC32C (tile checksums) and SHA-256 (file identity, via libcrypto). */
#include "huffllm/common.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <cpuid.h>
#include <nmmintrin.h>
#endif

static uint32_t hl__crc32c_table[8][256];

static void hl__crc32c_init_table(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1)));
        hl__crc32c_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            hl__crc32c_table[t][i] = (hl__crc32c_table[t - 1][i] >> 8) ^
                                     hl__crc32c_table[0][hl__crc32c_table[t - 1][i] & 0xff];
}

/* Portable slicing-by-8. */
static uint32_t hl__crc32c_sw(uint32_t crc, const uint8_t *p, size_t len)
{
    while (len >= 8) {
        uint64_t v = hl_load_le64(p) ^ crc;
        crc = hl__crc32c_table[7][v & 0xff] ^ hl__crc32c_table[6][(v >> 8) & 0xff] ^
              hl__crc32c_table[5][(v >> 16) & 0xff] ^ hl__crc32c_table[4][(v >> 24) & 0xff] ^
              hl__crc32c_table[3][(v >> 32) & 0xff] ^ hl__crc32c_table[2][(v >> 40) & 0xff] ^
              hl__crc32c_table[1][(v >> 48) & 0xff] ^ hl__crc32c_table[0][v >> 56];
        p += 8;
        len -= 8;
    }
    while (len--)
        crc = (crc >> 8) ^ hl__crc32c_table[0][(crc ^ *p++) & 0xff];
    return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t hl__crc32c_hw(uint32_t crc, const uint8_t *p,
                                                                  size_t len)
{
    uint64_t c = crc;
    while (len >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c = _mm_crc32_u64(c, v);
        p += 8;
        len -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (len--)
        c32 = _mm_crc32_u8(c32, *p++);
    return c32;
}
#endif

typedef uint32_t (*hl__crc_fn)(uint32_t, const uint8_t *, size_t);

static hl__crc_fn hl__crc32c_pick(void)
{
    hl__crc32c_init_table();
#if defined(__x86_64__)
    unsigned a, b, c, d;
    if (getenv("HL_NO_SIMD") == NULL && __get_cpuid(1, &a, &b, &c, &d) && (c & bit_SSE4_2))
        return hl__crc32c_hw;
#endif
    return hl__crc32c_sw;
}

uint32_t hl_crc32c(uint32_t crc, const void *data, size_t len)
{
    /* Chosen once; a benign race picks the same function in every thread. */
    static hl__crc_fn fn;
    if (!fn)
        fn = hl__crc32c_pick();
    return ~fn(~crc, (const uint8_t *)data, len);
}

struct hl_sha256_s {
    EVP_MD_CTX *ctx;
};

hl_sha256_t *hl_sha256_create(void)
{
    hl_sha256_t *s = malloc(sizeof *s);
    if (!s)
        return NULL;
    s->ctx = EVP_MD_CTX_new();
    if (!s->ctx || EVP_DigestInit_ex(s->ctx, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(s->ctx);
        free(s);
        return NULL;
    }
    return s;
}

void hl_sha256_update(hl_sha256_t *s, const void *data, size_t len)
{
    EVP_DigestUpdate(s->ctx, data, len);
}

void hl_sha256_final(hl_sha256_t *s, uint8_t out[HL_SHA256_LEN])
{
    unsigned n = HL_SHA256_LEN;
    EVP_DigestFinal_ex(s->ctx, out, &n);
}

void hl_sha256_reset(hl_sha256_t *s) { EVP_DigestInit_ex(s->ctx, EVP_sha256(), NULL); }

void hl_sha256_free(hl_sha256_t *s)
{
    if (!s)
        return;
    EVP_MD_CTX_free(s->ctx);
    free(s);
}

void hl_sha256(const void *data, size_t len, uint8_t out[HL_SHA256_LEN])
{
    unsigned n = HL_SHA256_LEN;
    EVP_Digest(data, len, out, &n, EVP_sha256(), NULL);
}

void hl_hex(const uint8_t *bytes, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15];
    }
    out[2 * len] = '\0';
}

static int hl__hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int hl_unhex(const char *hex, uint8_t *out, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        int hi = hl__hexval(hex[2 * i]);
        int lo = hi < 0 ? -1 : hl__hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return HL_EFORMAT;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return hex[2 * len] == '\0' ? 0 : HL_EFORMAT;
}
