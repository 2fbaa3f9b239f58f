/* Tests for sim/nn/lstm.c: finite-difference gradients through time w.r.t. every input and
 * parameter, the PyTorch nn.LSTM fixture (T=5, B=3, D=4, H=6, non-zero initial state),
 * accumulation, the forget-bias helper and the size/FLOP formulas. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "nn/lstm.h"
#include "nn_testutil.h"

typedef struct lstm_case {
    nn_lstm_dims d;
    size_t nx, nh, nout, nwih, nwhh, nb;
    float *x, *h0, *c0, *w_ih, *w_hh, *b_ih, *b_hh;        /* inputs and parameters */
    float *out, *cache, *ws, *r;                           /* forward state, dL/dout */
    float *dx, *dh0, *dc0, *dw_ih, *dw_hh, *db_ih, *db_hh; /* gradients */
} lstm_case;

static void lc_init(lstm_case *c, nn_lstm_dims d, int with_state, rng_t *rng)
{
    assert_int_equal(nn_lstm_check_dims(&d), FS_OK);
    memset(c, 0, sizeof *c);
    c->d = d;
    c->nx = (size_t)d.T * d.B * d.D;
    c->nh = (size_t)d.B * d.H;
    c->nout = (size_t)d.T * d.B * d.H;
    c->nwih = (size_t)4 * d.H * d.D;
    c->nwhh = (size_t)4 * d.H * d.H;
    c->nb = (size_t)4 * d.H;
    c->x = nn_tu_alloc(c->nx);
    c->w_ih = nn_tu_alloc(c->nwih);
    c->w_hh = nn_tu_alloc(c->nwhh);
    c->b_ih = nn_tu_alloc(c->nb);
    c->b_hh = nn_tu_alloc(c->nb);
    c->out = nn_tu_alloc(c->nout);
    c->r = nn_tu_alloc(c->nout);
    c->cache = nn_tu_alloc(nn_lstm_cache_size(&d));
    c->ws = nn_tu_alloc(nn_lstm_workspace_size(&d));
    c->dx = nn_tu_alloc(c->nx);
    c->dw_ih = nn_tu_alloc(c->nwih);
    c->dw_hh = nn_tu_alloc(c->nwhh);
    c->db_ih = nn_tu_alloc(c->nb);
    c->db_hh = nn_tu_alloc(c->nb);
    if (with_state) {
        c->h0 = nn_tu_alloc(c->nh);
        c->c0 = nn_tu_alloc(c->nh);
        c->dh0 = nn_tu_alloc(c->nh);
        c->dc0 = nn_tu_alloc(c->nh);
        nn_tu_fill_normal(c->h0, c->nh, 0.5f, rng);
        nn_tu_fill_normal(c->c0, c->nh, 0.5f, rng);
    }
    nn_tu_fill_normal(c->x, c->nx, 1.0f, rng);
    nn_tu_fill_normal(c->w_ih, c->nwih, 0.5f, rng);
    nn_tu_fill_normal(c->w_hh, c->nwhh, 0.5f, rng);
    nn_tu_fill_normal(c->b_ih, c->nb, 0.3f, rng);
    nn_tu_fill_normal(c->b_hh, c->nb, 0.3f, rng);
    nn_tu_fill_normal(c->r, c->nout, 1.0f, rng);
}

static void lc_free(lstm_case *c)
{
    float *all[] = {c->x,  c->h0, c->c0, c->w_ih, c->w_hh, c->b_ih,  c->b_hh,  c->out,   c->cache,
                    c->ws, c->r,  c->dx, c->dh0,  c->dc0,  c->dw_ih, c->dw_hh, c->db_ih, c->db_hh};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) free(all[i]);
}

static void lc_forward(lstm_case *c)
{
    nn_lstm_forward(c->out, c->cache, c->x, c->h0, c->c0, c->w_ih, c->w_hh, c->b_ih, c->b_hh,
                    &c->d);
}

static void lc_backward(lstm_case *c)
{
    nn_lstm_backward(c->dx, c->dh0, c->dc0, c->dw_ih, c->dw_hh, c->db_ih, c->db_hh, c->r, c->x,
                     c->h0, c->c0, c->out, c->cache, c->w_ih, c->w_hh, &c->d, c->ws);
}

static double lc_loss(void *ctx)
{
    lstm_case *c = ctx;
    lc_forward(c);
    return nn_tu_dot(c->out, c->r, c->nout);
}

static void gradcheck_lstm(nn_lstm_dims d, int with_state, uint64_t entity)
{
    rng_t rng;
    rng_init(&rng, 13, RNG_TEST, entity, 0);
    lstm_case c;
    lc_init(&c, d, with_state, &rng);
    lc_forward(&c);
    /* poison the workspace: backward must not read stale scratch */
    for (size_t i = 0; i < nn_lstm_workspace_size(&d); i++) c.ws[i] = NAN;
    lc_backward(&c);
    nn_tu_check_grad("lstm dx", lc_loss, &c, c.x, c.dx, c.nx, 3, &rng);
    nn_tu_check_grad("lstm dw_ih", lc_loss, &c, c.w_ih, c.dw_ih, c.nwih, 3, &rng);
    nn_tu_check_grad("lstm dw_hh", lc_loss, &c, c.w_hh, c.dw_hh, c.nwhh, 3, &rng);
    nn_tu_check_grad("lstm db_ih", lc_loss, &c, c.b_ih, c.db_ih, c.nb, 3, &rng);
    nn_tu_check_grad("lstm db_hh", lc_loss, &c, c.b_hh, c.db_hh, c.nb, 3, &rng);
    if (with_state) {
        nn_tu_check_grad("lstm dh0", lc_loss, &c, c.h0, c.dh0, c.nh, 3, &rng);
        nn_tu_check_grad("lstm dc0", lc_loss, &c, c.c0, c.dc0, c.nh, 3, &rng);
    }
    lc_free(&c);
}

static void test_gradcheck_bptt_with_state(void **state)
{
    gradcheck_lstm((nn_lstm_dims){.T = 6, .B = 3, .D = 4, .H = 5}, 1, 1);
}

static void test_gradcheck_bptt_zero_state(void **state)
{
    gradcheck_lstm((nn_lstm_dims){.T = 4, .B = 2, .D = 3, .H = 7}, 0, 2);
}

static void test_gradcheck_single_step(void **state)
{
    gradcheck_lstm((nn_lstm_dims){.T = 1, .B = 2, .D = 3, .H = 4}, 1, 3);
}

/* The last step's gradient must reach the first step's input (through time), and a second
 * backward adds the same amounts again. */
static void test_through_time_and_accumulation(void **state)
{
    rng_t rng;
    rng_init(&rng, 17, RNG_TEST, 4, 0);
    lstm_case c;
    nn_lstm_dims d = {.T = 5, .B = 2, .D = 3, .H = 4};
    lc_init(&c, d, 1, &rng);
    memset(c.r, 0, c.nout * sizeof(float));
    for (size_t k = 0; k < c.nh; k++) c.r[(size_t)(d.T - 1) * c.nh + k] = 1.0f; /* only h_T */
    lc_forward(&c);
    lc_backward(&c);
    double first_step = 0.0;
    for (int k = 0; k < d.B * d.D; k++) first_step += fabs(c.dx[k]);
    assert_true(first_step > 1e-6);
    float *grads[] = {c.dx, c.dh0, c.dc0, c.dw_ih, c.dw_hh, c.db_ih, c.db_hh};
    const size_t sizes[] = {c.nx, c.nh, c.nh, c.nwih, c.nwhh, c.nb, c.nb};
    float *once[7];
    for (int i = 0; i < 7; i++) {
        once[i] = nn_tu_alloc(sizes[i]);
        memcpy(once[i], grads[i], sizes[i] * sizeof(float));
    }
    lc_backward(&c);
    for (int i = 0; i < 7; i++) {
        for (size_t k = 0; k < sizes[i]; k++) assert_float_equal(grads[i][k], 2 * once[i][k], 1e-6);
        free(once[i]);
    }
    /* NULL gradients are skipped */
    nn_lstm_backward(NULL, NULL, NULL, NULL, NULL, NULL, NULL, c.r, c.x, c.h0, c.c0, c.out, c.cache,
                     c.w_ih, c.w_hh, &d, c.ws);
    lc_free(&c);
}

static void test_torch_lstm(void **state)
{
    int32_t *dm = nn_tu_fixture_int("lstm.dims", 4);
    nn_lstm_dims d = {dm[0], dm[1], dm[2], dm[3]};
    free(dm);
    assert_int_equal(d.T, 5);
    assert_int_equal(d.H, 6);
    const size_t nx = (size_t)d.T * d.B * d.D, nh = (size_t)d.B * d.H;
    const size_t nout = (size_t)d.T * nh, G = (size_t)4 * d.H;
    const char *names[] = {"x", "h0", "c0",  "w_ih", "w_hh",  "b_ih",  "b_hh",  "out",  "cn",
                           "r", "dx", "dh0", "dc0",  "dw_ih", "dw_hh", "db_ih", "db_hh"};
    const size_t sizes[] = {nx,   nh, nh, G * d.D, G * d.H, G,       G, nout, nh,
                            nout, nx, nh, nh,      G * d.D, G * d.H, G, G};
    enum { X, H0, C0, WIH, WHH, BIH, BHH, OUT, CN, R, DX, DH0, DC0, DWIH, DWHH, DBIH, DBHH, NF };
    float *f[NF];
    for (int i = 0; i < NF; i++) {
        char key[64];
        snprintf(key, sizeof key, "lstm.%s", names[i]);
        f[i] = nn_tu_fixture(key, sizes[i]);
    }
    float *out = nn_tu_alloc(nout), *cache = nn_tu_alloc(nn_lstm_cache_size(&d));
    float *ws = nn_tu_alloc(nn_lstm_workspace_size(&d));
    float *g[NF] = {0};
    for (int i = DX; i < NF; i++) g[i] = nn_tu_alloc(sizes[i]);
    nn_lstm_forward(out, cache, f[X], f[H0], f[C0], f[WIH], f[WHH], f[BIH], f[BHH], &d);
    nn_tu_assert_close("torch lstm out", out, f[OUT], nout, 1e-5, 1e-5);
    nn_tu_assert_close("torch lstm c_T", nn_lstm_cell_states(cache, &d) + (size_t)(d.T - 1) * nh,
                       f[CN], nh, 1e-5, 1e-5);
    nn_lstm_backward(g[DX], g[DH0], g[DC0], g[DWIH], g[DWHH], g[DBIH], g[DBHH], f[R], f[X], f[H0],
                     f[C0], out, cache, f[WIH], f[WHH], &d, ws);
    for (int i = DX; i < NF; i++) {
        char what[64];
        snprintf(what, sizeof what, "torch lstm %s", names[i]);
        nn_tu_assert_close(what, g[i], f[i], sizes[i], 1e-5, 1e-5);
    }
    for (int i = 0; i < NF; i++) {
        free(f[i]);
        free(g[i]);
    }
    free(out);
    free(cache);
    free(ws);
}

static void test_forget_bias_and_sizes(void **state)
{
    float b[4 * 3];
    for (int i = 0; i < 12; i++) b[i] = -7.0f;
    nn_lstm_set_forget_bias(b, 3, 1.0f);
    for (int i = 0; i < 12; i++) assert_float_equal(b[i], (i >= 3 && i < 6) ? 1.0f : -7.0f, 0);
    nn_lstm_dims d = {.T = 80, .B = 10, .D = 8, .H = 256};
    assert_int_equal(nn_lstm_cache_size(&d), 80u * 10 * 6 * 256);
    assert_int_equal(nn_lstm_workspace_size(&d), 80u * 10 * 4 * 256 + 2u * 10 * 256 + 4 * 256);
    assert_int_equal(nn_lstm_flops(&d), 2ull * 80 * 10 * 1024 * (8 + 256));
    nn_lstm_dims bad = {.T = 0, .B = 1, .D = 1, .H = 1};
    assert_int_equal(nn_lstm_check_dims(&bad), FS_EINPUT);
    fs_error_clear();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gradcheck_bptt_with_state),
        cmocka_unit_test(test_gradcheck_bptt_zero_state),
        cmocka_unit_test(test_gradcheck_single_step),
        cmocka_unit_test(test_through_time_and_accumulation),
        cmocka_unit_test(test_torch_lstm),
        cmocka_unit_test(test_forget_bias_and_sizes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
