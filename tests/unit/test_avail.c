/* Availability over virtual time and device profiles: hand-made traces answered exactly,
 * Markov on/off fractions and durations, the diurnal curve, determinism, tier mixtures. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "device/avail.h"
#include "device/device.h"

static char *write_tmp(const char *text)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/fedsim_avail_%d.csv", (int)getpid());
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

static void test_trace_exact(void **st)
{
    (void)st;
    /* trace client 7: [10, 20) and [15, 30) merge to [10, 30), then [50, 60); client 9: [0, 5) */
    char *p = write_tmp("client,start_s,end_s\n7,15,30\n7,10,20\n9,0,5\n7,50,60\n");
    av_model m;
    assert_int_equal(av_init(&m, AV_TRACE, 1, 4), FS_OK);
    assert_int_equal(av_load_trace(&m, p, 0), FS_OK);
    assert_int_equal(m.n_trace, 2);
    /* population client 0 -> trace client 7, client 1 -> 9, client 2 -> 7 */
    assert_false(av_is_online(&m, 0, 1, 9.99));
    assert_true(av_is_online(&m, 0, 1, 10));
    assert_true(av_is_online(&m, 0, 1, 29.99));
    assert_false(av_is_online(&m, 0, 1, 30));
    assert_true(av_next_offline(&m, 0, 1, 12) == 30);
    assert_true(av_next_online(&m, 0, 1, 31) == 50);
    assert_true(av_next_online(&m, 0, 1, 55) == 55);
    assert_true(isinf(av_next_online(&m, 0, 1, 61)));
    assert_true(av_is_online(&m, 1, 1, 0) && !av_is_online(&m, 1, 1, 5));
    assert_true(av_is_online(&m, 2, 1, 50));
    av_free(&m);
    /* repeated with a period of 100 s */
    assert_int_equal(av_init(&m, AV_TRACE, 1, 4), FS_OK);
    assert_int_equal(av_load_trace(&m, p, 100), FS_OK);
    assert_true(av_is_online(&m, 0, 1, 112));
    assert_true(av_next_offline(&m, 0, 1, 112) == 130);
    assert_true(av_next_online(&m, 0, 1, 165) == 210);
    av_free(&m);
    /* malformed line: file:line in the message */
    p = write_tmp("client,start_s,end_s\n1,5,3\n");
    assert_int_equal(av_init(&m, AV_TRACE, 1, 4), FS_OK);
    assert_int_equal(av_load_trace(&m, p, 0), FS_EINPUT);
    assert_non_null(strstr(fs_errmsg(), ":2:"));
    av_free(&m);
    unlink(p);
}

static void test_markov(void **st)
{
    (void)st;
    /* stationary online fraction mean_on / (mean_on + mean_off) = 1/3 */
    av_model m;
    const uint32_t N = 2000;
    assert_int_equal(av_init(&m, AV_MARKOV, 5, N), FS_OK);
    m.mean_on_s = 100;
    m.mean_off_s = 200;
    double frac = 0;
    int samples = 0;
    for (double t = 0; t < 2000; t += 250, samples++)
        for (uint32_t c = 0; c < N; c++) frac += av_is_online(&m, c, 0, t);
    frac /= (double)samples * N;
    assert_true(fabs(frac - 1.0 / 3) < 0.02);
    /* an online client stays online until av_next_offline, and is offline just after */
    int checked = 0;
    for (uint32_t c = 0; c < N && checked < 50; c++) {
        if (!av_is_online(&m, c, 0, 3000)) continue;
        double off = av_next_offline(&m, c, 0, 3000);
        assert_true(off > 3000);
        assert_true(av_is_online(&m, c, 0, 0.5 * (3000 + off)));
        assert_false(av_is_online(&m, c, 0, off + 1e-9));
        checked++;
    }
    assert_int_equal(checked, 50);
    /* mean on-duration: average over many on-periods of one long trajectory */
    double on_total = 0;
    int periods = 0;
    double t = 10000;
    for (uint32_t c = 0; c < 200; c++) {
        double tt = av_next_online(&m, c, 0, t);
        double off = av_next_offline(&m, c, 0, tt);
        on_total += off - tt;
        periods++;
    }
    assert_true(fabs(on_total / periods - 100) < 15); /* exponential, n = 200: sd ~7 */
    av_free(&m);
    /* deterministic: another model with the same seed answers the same */
    av_model a, b;
    av_init(&a, AV_MARKOV, 9, 10);
    av_init(&b, AV_MARKOV, 9, 10);
    a.mean_on_s = b.mean_on_s = 50;
    a.mean_off_s = b.mean_off_s = 50;
    for (double tt = 0; tt < 1000; tt += 7)
        for (uint32_t c = 0; c < 10; c++)
            assert_int_equal(av_is_online(&a, c, 0, tt), av_is_online(&b, c, 0, tt));
    av_free(&a);
    av_free(&b);
}

static void test_diurnal(void **st)
{
    (void)st;
    av_model m;
    const uint32_t N = 24 * 400;
    assert_int_equal(av_init(&m, AV_DIURNAL, 3, N), FS_OK);
    m.p_min = 0.1;
    m.p_max = 0.7;
    m.peak_hour = 2;
    m.slot_s = 900;
    /* over all time zones the expected online fraction is the curve's mean, 0.4 */
    double frac = 0;
    for (uint32_t c = 0; c < N; c++) frac += av_is_online(&m, c, 0, 3600 * 5 + 1);
    frac /= N;
    assert_true(fabs(frac - 0.4) < 0.03);
    /* one client over many days: online at its local peak far more than at its trough */
    double at_peak = 0, at_trough = 0;
    for (uint32_t c = 0; c < 200; c++) {
        /* find the client's time zone offset from its curve: sample every hour for 30 days */
        double by_hour[24] = {0};
        for (int d = 0; d < 30; d++)
            for (int h = 0; h < 24; h++)
                by_hour[h] += av_is_online(&m, c, 0, (d * 24 + h) * 3600.0 + 450);
        double mx = 0, mn = 1e9;
        for (int h = 0; h < 24; h++) mx = fmax(mx, by_hour[h]), mn = fmin(mn, by_hour[h]);
        at_peak += mx / 30;
        at_trough += mn / 30;
    }
    assert_true(at_peak / 200 > 0.6);
    assert_true(at_trough / 200 < 0.2);
    /* next_offline lands on a slot boundary where the client is offline */
    for (uint32_t c = 0; c < 100; c++) {
        double t = 12345;
        if (!av_is_online(&m, c, 0, t)) continue;
        double off = av_next_offline(&m, c, 0, t);
        assert_true(fmod(off, 900) == 0);
        assert_false(av_is_online(&m, c, 0, off));
        assert_true(av_is_online(&m, c, 0, off - 1));
    }
    av_free(&m);
}

static void test_bernoulli(void **st)
{
    (void)st;
    av_model m;
    av_init(&m, AV_BERNOULLI, 1, 10000);
    m.p = 0.3;
    int on = 0;
    for (uint32_t c = 0; c < 10000; c++) on += av_is_online(&m, c, 4, 0);
    assert_true(abs(on - 3000) < 200);
    /* within a round availability does not change */
    for (uint32_t c = 0; c < 100; c++)
        assert_int_equal(av_is_online(&m, c, 4, 0), av_is_online(&m, c, 4, 1e6));
    assert_true(isinf(av_next_offline(&m, 3, 4, 0)));
    av_free(&m);
}

static void test_tiers_and_trace(void **st)
{
    (void)st;
    dev_model d = {.mode = DEV_TIERS, .seed = 1};
    assert_int_equal(dev_load_tiers(&d, NULL), FS_OK);
    int n;
    const dev_tier *b = dev_builtin_tiers(&n);
    assert_int_equal(d.n_tiers, n);
    int count[8] = {0};
    double flops_by_tier[8] = {0};
    for (uint32_t c = 0; c < 20000; c++) {
        dev_profile p;
        dev_profile_of(&d, c, &p);
        count[p.tier]++;
        flops_by_tier[p.tier] += log(p.flops);
    }
    for (int k = 0; k < n; k++) {
        assert_true(fabs(count[k] / 20000.0 - b[k].weight) < 0.02);
        if (count[k] > 100) /* geometric mean near the tier's median */
            assert_true(fabs(flops_by_tier[k] / count[k] - log(b[k].flops.median)) < 0.15);
    }
    dev_free(&d);
    char *p =
        write_tmp("client,flops,down_bps,up_bps,latency_s\n0,1e9,1e7,1e6,0.1\n1,2e9,2e7,2e6,0.2\n");
    dev_model t = {.mode = DEV_TRACE};
    assert_int_equal(dev_load_trace(&t, p), FS_OK);
    dev_profile q;
    dev_profile_of(&t, 5, &q); /* cycled: 5 mod 2 = 1 */
    assert_true(q.flops == 2e9 && q.down_bps == 2e7 && q.up_bps == 2e6 && q.latency_s == 0.2);
    dev_free(&t);
    p = write_tmp("0,1e9,-1,1e6,0.1\n");
    assert_int_equal(dev_load_trace(&t, p), FS_EINPUT);
    assert_non_null(strstr(fs_errmsg(), ":1:"));
    unlink(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trace_exact),     cmocka_unit_test(test_markov),
        cmocka_unit_test(test_diurnal),         cmocka_unit_test(test_bernoulli),
        cmocka_unit_test(test_tiers_and_trace),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
