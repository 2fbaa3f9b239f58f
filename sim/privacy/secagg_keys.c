/* Secure aggregation's key agreement and masks (see secagg_impl.h): X25519 session keys and
 * pairwise mask seeds (crypto_kx), the secrets' randomness, the share ciphertexts' associated
 * data, and the mask kernel that expands a seed with ChaCha20 and adds it to a vector. */
#include <string.h>

#include "privacy/secagg_impl.h"

void sa__secret_bytes(const sa_round *r, struct sa_client *c, uint8_t *out)
{
    if (r->p.system_random)
        randombytes_buf(out, KEY);
    else
        sa__draw_bytes(&c->rng, out, KEY);
}

void sa__draw_bytes(rng_t *g, uint8_t *out, size_t len)
{
    for (size_t i = 0; i < len; i += 8) {
        uint64_t v = rng_u64(g);
        for (size_t b = 0; b < 8 && i + b < len; b++) out[i + b] = (uint8_t)(v >> (8 * b));
    }
}

/* X25519 agreement between me and other with crypto_kx roles fixed by index order (the lower
 * index plays "client"), so that my tx key is the other's rx key and vice versa. */
int sa__kx_keys(int me, int other, const uint8_t *me_pk, const uint8_t *me_sk,
                const uint8_t *other_pk, uint8_t rx[KEY], uint8_t tx[KEY])
{
    if (me < other) return crypto_kx_client_session_keys(rx, tx, me_pk, me_sk, other_pk);
    return crypto_kx_server_session_keys(rx, tx, me_pk, me_sk, other_pk);
}

/* Pairwise mask seed s_{me,other}: the lower index's tx key (= the higher index's rx key). */
int sa__pair_seed(int me, int other, const uint8_t *me_pk, const uint8_t *me_sk,
                  const uint8_t *other_pk, uint8_t seed[KEY])
{
    uint8_t rx[KEY], tx[KEY];
    if (sa__kx_keys(me, other, me_pk, me_sk, other_pk, rx, tx) != 0) return -1;
    memcpy(seed, me < other ? tx : rx, KEY);
    sodium_memzero(rx, KEY);
    sodium_memzero(tx, KEY);
    return 0;
}

void sa__make_ad(uint8_t ad[AD_BYTES], uint64_t round, int from, int to)
{
    sa__put32(ad, (uint32_t)round);
    sa__put32(ad + 4, (uint32_t)(round >> 32));
    sa__put32(ad + 8, (uint32_t)from);
    sa__put32(ad + 12, (uint32_t)to);
}

/* The mask kernel: acc[lo..hi) += (or -=) words lo..hi-1 of the ChaCha20 (IETF, zero nonce)
 * keystream of key, read as little-endian uint32. lo must be a multiple of PRG_WORDS. Each
 * seed keys exactly one stream, so the fixed nonce is never reused under a key. */
void sa__prg_add(uint32_t *acc, size_t lo, size_t hi, const uint8_t key[KEY], int negate)
{
    static const uint8_t zeros[4 * PRG_WORDS];
    static const uint8_t nonce[crypto_stream_chacha20_ietf_NONCEBYTES];
    uint8_t buf[4 * PRG_WORDS];
    for (size_t w0 = lo; w0 < hi; w0 += PRG_WORDS) {
        size_t nw = hi - w0 < PRG_WORDS ? hi - w0 : PRG_WORDS;
        crypto_stream_chacha20_ietf_xor_ic(buf, zeros, 4 * nw, nonce, (uint32_t)(w0 / 16), key);
        uint32_t *a = acc + w0;
        if (negate)
            for (size_t j = 0; j < nw; j++) a[j] -= sa__get32(buf + 4 * j);
        else
            for (size_t j = 0; j < nw; j++) a[j] += sa__get32(buf + 4 * j);
    }
}
