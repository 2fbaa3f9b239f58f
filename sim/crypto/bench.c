/* Paillier and PSI micro-benchmarks on one thread (see bench.h). Randomness comes from
 * libsodium (the system source), as a deployment would draw it. */
#include "crypto/bench.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gmp.h>
#include <sodium.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "crypto/paillier.h"
#include "crypto/psi.h"

enum { BENCH_CTS = 1000 }; /* ciphertexts cycled through by the per-op loops */

static double cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

typedef struct bctx {
    const he_pub *pk;
    const he_key *key;
    const he_enc *enc;
    cr_src *rnd;
    he_ct *c;     /* BENCH_CTS ciphertexts */
    int64_t *w;   /* BENCH_CTS scalars */
    mpz_t m, got; /* a plaintext, a decryption */
    he_ct out;
    size_t i;
    fs_err rc;
} bctx;

typedef void (*bench_op)(bctx *);

static void op_encrypt(bctx *x)
{
    x->rc |= he_encrypt(x->enc, x->rnd, x->m, &x->out);
}

static void op_decrypt(bctx *x)
{
    x->rc |= he_decrypt(x->key, &x->c[x->i++ % BENCH_CTS], x->got);
}

static void op_add(bctx *x)
{
    size_t i = x->i++ % BENCH_CTS;
    he_add(x->pk, &x->c[i], &x->c[(i + 1) % BENCH_CTS], &x->out);
}

static void op_mul(bctx *x)
{
    size_t i = x->i++ % BENCH_CTS;
    x->rc |= he_mul_i64(x->pk, &x->c[i], x->w[i], &x->out);
}

static void op_mul_neg(bctx *x)
{
    size_t i = x->i++ % BENCH_CTS;
    x->rc |= he_mul_i64(x->pk, &x->c[i], -x->w[i], &x->out);
}

static void op_dot(bctx *x)
{
    x->rc |= he_dot_i64(x->pk, x->c, x->w, BENCH_CTS, &x->out);
}

/* Calls per second of thread CPU time, over at least `seconds` (after one warm-up call). */
static double rate(bench_op f, bctx *x, double seconds)
{
    f(x);
    long n = 0;
    double t0 = cpu_now(), t;
    do {
        f(x);
        n++;
        t = cpu_now() - t0;
    } while (t < seconds);
    return (double)n / t;
}

static void row(FILE *out, const char *what, double ops, double textbook, const char *note)
{
    fprintf(out, "  %-42s %10.0f %10.1f", what, ops, 1e6 / ops);
    if (textbook > 0)
        fprintf(out, " %7.1fx", ops / textbook);
    else
        fprintf(out, " %8s", "");
    fprintf(out, "  %s\n", note ? note : "");
}

static fs_err bench_bits(FILE *out, int bits, int keygens, double seconds)
{
    cr_src rnd;
    fs_err rc = cr_init_system(&rnd);
    if (rc) return rc;
    he_key *key = NULL;
    double kg_sum = 0, kg_min = 1e300, kg_max = 0;
    for (int i = 0; i < keygens; i++) {
        he_key *k;
        double t0 = cpu_now();
        rc = he_keygen(bits, &rnd, &k);
        double t = cpu_now() - t0;
        if (rc) {
            he_key_free(key);
            return rc;
        }
        kg_sum += t;
        kg_min = t < kg_min ? t : kg_min;
        kg_max = t > kg_max ? t : kg_max;
        if (!key)
            key = k;
        else
            he_key_free(k);
    }
    const he_pub *pk = he_key_pub(key);
    he_enc *tb = NULL, *pub = NULL, *own = NULL;
    double t0 = cpu_now();
    rc = he_enc_new(pk, &pub);
    double t_pub = cpu_now() - t0;
    t0 = cpu_now();
    if (!rc) rc = he_enc_new_key(key, &own);
    double t_own = cpu_now() - t0;
    if (!rc) rc = he_enc_new_textbook(pk, &tb);
    bctx x = {.pk = pk, .key = key, .rnd = &rnd};
    x.c = he_ct_array_new(BENCH_CTS);
    x.w = calloc(BENCH_CTS, sizeof *x.w);
    mpz_inits(x.m, x.got, NULL);
    he_ct_init(&x.out);
    if (!rc && (!x.c || !x.w)) rc = FS_ENOMEM;
    if (rc) goto done;
    /* scalars of 53 bits (a double's mantissa: a fixed-point weight), mixed signs */
    for (int i = 0; i < BENCH_CTS; i++) {
        uint64_t v;
        cr_bytes(&rnd, &v, sizeof v);
        x.w[i] = (int64_t)((v >> 11) | ((uint64_t)1 << 52));
    }
    rc = he_encode_f64(pk, -1234.56789, 40, x.m);
    for (int i = 0; i < BENCH_CTS && !rc; i++) rc = he_encrypt(own, &rnd, x.m, &x.c[i]);
    if (rc) goto done;

    fprintf(out,
            "Paillier |n| = %d (ciphertext %zu bytes): keygen %.2f s CPU, mean of %d (%.2f to "
            "%.2f)\n",
            bits, he_ct_bytes(pk), kg_sum / keygens, keygens, kg_min, kg_max);
    fprintf(out, "  %-42s %10s %10s %8s\n", "operation", "ops/s", "us/op", "speedup");
    char note[160];
    x.enc = tb;
    double textbook = rate(op_encrypt, &x, seconds);
    row(out, "encrypt, textbook r^n (python-paillier)", textbook, textbook, "1 powm mod n^2");
    x.enc = pub;
    snprintf(note, sizeof note, "table %.1f MB, built in %.2f s",
             (double)he_enc_table_bytes(pub) / 1e6, t_pub);
    row(out, "encrypt, public fixed base", rate(op_encrypt, &x, seconds), textbook, note);
    x.enc = own;
    snprintf(note, sizeof note, "tables %.1f MB, built in %.2f s",
             (double)he_enc_table_bytes(own) / 1e6, t_own);
    row(out, "encrypt, key holder CRT tables", rate(op_encrypt, &x, seconds), textbook, note);
    row(out, "decrypt, CRT (mpz_powm_sec)", rate(op_decrypt, &x, seconds), 0, NULL);
    row(out, "add (ciphertext x ciphertext)", rate(op_add, &x, seconds), 0, NULL);
    row(out, "scalar multiply, 53-bit k > 0", rate(op_mul, &x, seconds), 0, NULL);
    row(out, "scalar multiply, 53-bit k < 0", rate(op_mul_neg, &x, seconds), 0, "one inversion");
    for (int i = 0; i < BENCH_CTS; i += 2) x.w[i] = -x.w[i];
    double dot = rate(op_dot, &x, seconds) * BENCH_CTS;
    snprintf(note, sizeof note, "%d terms, mixed signs (bucket method)", (int)BENCH_CTS);
    row(out, "inner product, per term, 53-bit weights", dot, 0, note);
    if (x.rc) rc = fs_error(FS_EINTERNAL, "he bench: an operation failed");
done:
    he_ct_clear(&x.out);
    mpz_clears(x.m, x.got, NULL);
    he_ct_array_free(x.c, BENCH_CTS);
    free(x.w);
    he_enc_free(tb);
    he_enc_free(pub);
    he_enc_free(own);
    he_key_free(key);
    return rc;
}

static fs_err bench_psi(FILE *out, double seconds, size_t nids)
{
    if (sodium_init() < 0) return fs_error(FS_EINTERNAL, "he bench: libsodium failed");
    uint8_t pt[PSI_POINT_BYTES], q[PSI_POINT_BYTES], s[crypto_core_ristretto255_SCALARBYTES];
    crypto_core_ristretto255_scalar_random(s);
    long n = 0;
    double t0 = cpu_now(), th, ts;
    do psi_hash_id(1, (uint64_t)n++, pt);
    while ((th = cpu_now() - t0) < seconds);
    double hash_rate = (double)n / th;
    n = 0;
    int bad = 0;
    t0 = cpu_now();
    do {
        bad |= crypto_scalarmult_ristretto255(q, s, pt);
        memcpy(pt, q, sizeof pt);
        n++;
    } while ((ts = cpu_now() - t0) < seconds);
    double mul_rate = (double)n / ts;
    if (bad) return fs_error(FS_EINTERNAL, "he bench: scalar multiplication failed");

    uint64_t *a = calloc(nids ? nids : 1, sizeof *a), *b = calloc(nids ? nids : 1, sizeof *b);
    if (!a || !b) {
        free(a);
        free(b);
        return FS_ENOMEM;
    }
    /* A holds the even IDs 0, 2, ...; B holds A's upper half and as many odd IDs */
    for (size_t i = 0; i < nids; i++) a[i] = 2 * (uint64_t)i;
    for (size_t i = 0; i < nids; i++)
        b[i] = i < nids / 2 ? a[nids - nids / 2 + i] : 2 * (uint64_t)i + 1;
    cr_src ra, rb;
    psi_result res;
    fs_err rc = cr_init_system(&ra);
    if (!rc) rc = cr_init_system(&rb);
    if (!rc) rc = psi_run(a, nids, b, nids, 1, &ra, &rb, &res);
    free(a);
    free(b);
    if (rc) return rc;
    fprintf(out,
            "PSI (DH over ristretto255): hash-to-group %.0f/s, scalar multiplication %.0f/s "
            "(%.1f us)\n",
            hash_rate, mul_rate, 1e6 / mul_rate);
    const psi_cost *c = &res.cost[0];
    fprintf(out,
            "  psi_run %zu x %zu IDs, %zu common: per party %.2f s CPU (%.0f IDs/s: one hash and "
            "two scalar multiplications per ID), %.2f MB sent, %llu scalar multiplications\n",
            nids, nids, res.count, c->cpu_s, (double)nids / c->cpu_s, (double)c->bytes_sent / 1e6,
            (unsigned long long)c->scalarmults);
    psi_result_free(&res);
    return FS_OK;
}

fs_err he_bench(FILE *out, const int *bits, int nbits, int keygens, double seconds, size_t psi_ids)
{
#ifdef _OPENMP
    int threads = omp_get_max_threads();
    omp_set_num_threads(1); /* per-core figures: psi_run would use every thread */
#endif
    char load[64] = "";
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (!fgets(load, sizeof load, f)) load[0] = '\0';
        fclose(f);
    }
    load[strcspn(load, " ")] = '\0';
    fprintf(out,
            "he bench: one thread, rates per second of the thread's CPU time; GMP %s, libsodium "
            "%s; load average %s\n",
            gmp_version, sodium_version_string(), load);
    fs_err rc = FS_OK;
    for (int i = 0; i < nbits && !rc; i++) {
        rc = bench_bits(out, bits[i], keygens, seconds);
        fflush(out);
    }
    if (!rc) rc = bench_psi(out, seconds, psi_ids);
#ifdef _OPENMP
    omp_set_num_threads(threads);
#endif
    return rc;
}
