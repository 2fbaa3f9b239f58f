/* Helpers shared by the tests/unit/test_nn_*.c files (header only; include after cmocka.h):
 * random fills from keyed streams, a directional finite-difference gradient check (kann's
 * kad_check_grad idea), closeness assertions and the PyTorch fixture reader for
 * tests/fixtures/nn_torch.txt (written by tests/fixtures/make_nn_fixtures.py).
 *
 * Gradient check. For a scalar loss L(p) computed by the layer's float forward and reduced
 * in double, and a random direction u ~ N(0, I):
 *   numeric  = L(p + eps u) - L(p - eps u)          (two float forwards)
 *   analytic = sum_i g_i * ((p_i + eps u_i) - (p_i - eps u_i))
 * using the perturbations as actually rounded to float, so the only errors left are the
 * Taylor term, O(eps^2) relative, and the float rounding of the two forwards, about
 * 1e-7 * sum|terms of L| / (2 eps |dL/du|). Measured on the LSTM (worst of 20 directions,
 * T=1 and T=6): eps 1e-4: 6e-2, 1e-3: 5e-3, 3e-3: 2.4e-4, 1e-2: 1.4e-3. So eps = 3e-3,
 * where both error sources are ~1e-4, and a tolerance NN_TU_GRAD_RTOL = 1e-2, 40x above
 * that noise, while one wrong gradient entry, a missing accumulation or a transposed
 * weight gives an O(0.1..1) error in the projection. Non-smooth layers keep every input
 * farther from a kink (ReLU at 0, a max-pool tie) than any perturbation eps |u_i| < 0.02,
 * so their finite differences are exact up to rounding.
 * Build with -DNN_TU_VERBOSE to print the measured errors. */
#ifndef FEDSIM_TEST_NN_TESTUTIL_H
#define FEDSIM_TEST_NN_TESTUTIL_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/rng.h"

#define NN_TU_EPS       3e-3f
#define NN_TU_GRAD_RTOL 1e-2
#define NN_TU_FIXTURES  "tests/fixtures/nn_torch.txt"

static inline void nn_tu_fill_normal(float *x, size_t n, float scale, rng_t *r)
{
    for (size_t i = 0; i < n; i++) x[i] = (float)(scale * rng_normal(r));
}

static inline float *nn_tu_alloc(size_t n)
{
    float *p = calloc(n ? n : 1, sizeof(float));
    assert_non_null(p);
    return p;
}

/* sum_i r_i * y_i in double: the scalar loss whose dL/dy is r. */
static inline double nn_tu_dot(const float *y, const float *r, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)y[i] * r[i];
    return s;
}

typedef double (*nn_tu_loss_fn)(void *ctx);

/* Relative error of the analytic gradient g (n) of loss(ctx) w.r.t. the n floats at p,
 * along one random direction (see the file comment). p is restored before returning. */
static inline double nn_tu_grad_rel_err(nn_tu_loss_fn loss, void *ctx, float *p, const float *g,
                                        size_t n, float eps, rng_t *r)
{
    float *save = nn_tu_alloc(n), *plus = nn_tu_alloc(n), *minus = nn_tu_alloc(n);
    memcpy(save, p, n * sizeof(float));
    double analytic = 0.0;
    for (size_t i = 0; i < n; i++) {
        float u = (float)rng_normal(r);
        plus[i] = p[i] + eps * u;
        minus[i] = p[i] - eps * u;
        analytic += (double)g[i] * ((double)plus[i] - (double)minus[i]);
    }
    memcpy(p, plus, n * sizeof(float));
    double lp = loss(ctx);
    memcpy(p, minus, n * sizeof(float));
    double lm = loss(ctx);
    memcpy(p, save, n * sizeof(float));
    free(save);
    free(plus);
    free(minus);
    double numeric = lp - lm;
    double den = fmax(fabs(numeric), fabs(analytic));
    return den > 0.0 ? fabs(numeric - analytic) / den : 0.0;
}

/* Check along `dirs` directions, failing with the worst error above NN_TU_GRAD_RTOL. */
static inline void nn_tu_check_grad(const char *what, nn_tu_loss_fn loss, void *ctx, float *p,
                                    const float *g, size_t n, int dirs, rng_t *r)
{
    double worst = 0.0;
    for (int k = 0; k < dirs; k++) {
        double e = nn_tu_grad_rel_err(loss, ctx, p, g, n, NN_TU_EPS, r);
        if (e > worst) worst = e;
    }
#ifdef NN_TU_VERBOSE
    print_message("gradcheck %-16s worst relative error %.2e over %d directions\n", what, worst,
                  dirs);
#endif
    if (!(worst < NN_TU_GRAD_RTOL)) fail_msg("gradcheck %s: relative error %.3g", what, worst);
}

/* Every |a_i - ref_i| <= atol + rtol |ref_i|, else fail naming the first bad index. */
static inline void nn_tu_assert_close(const char *what, const float *a, const float *ref, size_t n,
                                      double rtol, double atol)
{
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        double diff = fabs((double)a[i] - ref[i]);
        if (!(diff <= atol + rtol * fabs((double)ref[i])))
            fail_msg("%s[%zu]: got %.9g, expected %.9g (diff %.3g)", what, i, a[i], ref[i], diff);
        if (diff > worst) worst = diff;
    }
#ifdef NN_TU_VERBOSE
    print_message("close %-22s max |diff| %.2e over %zu values\n", what, worst, n);
#else
    (void)worst;
#endif
}

/* |a - b| <= tol in double (cmocka 1.1.5 has no assert_double_equal). */
static inline void nn_tu_assert_near(const char *what, double a, double b, double tol)
{
    if (!(fabs(a - b) <= tol)) fail_msg("%s: got %.17g, expected %.17g", what, a, b);
}

/* The float array `name` from the fixture file, malloc'd (free it); its length must be n. */
static inline float *nn_tu_fixture(const char *name, size_t n)
{
    FILE *f = fopen(NN_TU_FIXTURES, "r");
    if (!f) fail_msg("cannot open %s (run the tests from the repository root)", NN_TU_FIXTURES);
    char line[4096];
    float *out = NULL;
    while (fgets(line, sizeof line, f)) {
        char key[128];
        size_t cnt;
        if (line[0] == '#' || sscanf(line, "%127s %zu", key, &cnt) != 2 || strcmp(key, name))
            continue;
        if (cnt != n) {
            fclose(f);
            fail_msg("fixture %s has %zu values, expected %zu", name, cnt, n);
        }
        out = nn_tu_alloc(n);
        for (size_t i = 0; i < n; i++) {
            char tok[64];
            if (fscanf(f, "%63s", tok) != 1) {
                free(out);
                fclose(f);
                fail_msg("fixture %s truncated at %zu", name, i);
            }
            out[i] = strtof(tok, NULL);
        }
        break;
    }
    fclose(f);
    if (!out) fail_msg("fixture %s not found in %s", name, NN_TU_FIXTURES);
    return out;
}

/* Integer fixture (dims, labels), malloc'd; its length must be n. */
static inline int32_t *nn_tu_fixture_int(const char *name, size_t n)
{
    float *v = nn_tu_fixture(name, n);
    int32_t *out = calloc(n ? n : 1, sizeof(int32_t));
    assert_non_null(out);
    for (size_t i = 0; i < n; i++) out[i] = (int32_t)lrintf(v[i]);
    free(v);
    return out;
}

#endif
