/* Randomness sources of sim/crypto: libsodium's randombytes_buf, or a ChaCha20 keystream keyed
 * from an rng stream (simulation only). See crand.h. */
#include "crypto/crand.h"

#include <string.h>

#include <sodium.h>

#include "util/rng.h"

fs_err cr_init_system(cr_src *s)
{
    memset(s, 0, sizeof *s);
    if (sodium_init() < 0) return fs_error(FS_EINTERNAL, "crypto: libsodium failed to initialise");
    s->keyed = 0;
    return FS_OK;
}

fs_err cr_init_keyed(cr_src *s, uint64_t seed, uint64_t entity, uint64_t round)
{
    memset(s, 0, sizeof *s);
    if (sodium_init() < 0) return fs_error(FS_EINTERNAL, "crypto: libsodium failed to initialise");
    rng_t g;
    rng_init(&g, seed, RNG_CRYPTO, entity, round);
    for (int i = 0; i < 4; i++) {
        uint64_t v = rng_u64(&g);
        for (int b = 0; b < 8; b++) s->key[8 * i + b] = (uint8_t)(v >> (8 * b));
    }
    s->keyed = 1;
    s->block = 0;
    s->pos = sizeof s->buf;
    return FS_OK;
}

/* The next n keystream bytes: whole blocks straight into out, the rest through buf. */
static void keyed_bytes(cr_src *s, uint8_t *out, size_t n)
{
    static const uint8_t nonce[crypto_stream_chacha20_NONCEBYTES];
    while (n > 0) {
        if (s->pos == sizeof s->buf) {
            if (n >= sizeof s->buf) {
                size_t whole = n - n % sizeof s->buf;
                memset(out, 0, whole);
                crypto_stream_chacha20_xor_ic(out, out, whole, nonce, s->block, s->key);
                s->block += whole / sizeof s->buf;
                out += whole;
                n -= whole;
                continue;
            }
            memset(s->buf, 0, sizeof s->buf);
            crypto_stream_chacha20_xor_ic(s->buf, s->buf, sizeof s->buf, nonce, s->block++, s->key);
            s->pos = 0;
        }
        size_t take = sizeof s->buf - s->pos;
        if (take > n) take = n;
        memcpy(out, s->buf + s->pos, take);
        s->pos += (unsigned)take;
        out += take;
        n -= take;
    }
}

void cr_bytes(cr_src *s, void *out, size_t n)
{
    if (s->keyed)
        keyed_bytes(s, out, n);
    else
        randombytes_buf(out, n);
}

uint64_t cr_below(cr_src *s, uint64_t n)
{
    FS_CHECK(n > 0);
    uint64_t limit = UINT64_MAX - UINT64_MAX % n; /* accept [0, limit): a multiple of n values */
    for (;;) {
        uint8_t b[8];
        cr_bytes(s, b, sizeof b);
        uint64_t v = 0;
        for (int i = 0; i < 8; i++) v |= (uint64_t)b[i] << (8 * i);
        if (v < limit) return v % n;
    }
}

void cr_wipe(cr_src *s)
{
    sodium_memzero(s, sizeof *s);
}
