/* The checks decided by an algorithm's table entry (engine/check_algo.c): for every registered
 * algorithm, a refusal exactly when its properties (a second upload, a scalar upload, unit
 * weights, a fresh momentum buffer) rule the combination out, with the message and the key
 * position cfg_validate gave when it named scaffold, fednova and feddyn; and a sweep that
 * reaches such a run is refused at the swept key before any run starts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "config/config.h"
#include "config/sweep.h"
#include "engine/check_algo.h"
#include "fl/algorithm.h"

#define BASE                                                                                       \
    "name: t\n"                                                                                    \
    "data: {dataset: synthetic, synthetic_clients: 30}\n"                                          \
    "model: {name: logreg}\n"                                                                      \
    "rounds: {count: 2, clients_per_round: 10}\n"

/* BASE plus text with algorithm.name = algo (by --set #1); the result of both checks. */
static fs_err check(const char *text, const char *algo, cfg_diag *d)
{
    char yaml[1024], set[64];
    snprintf(yaml, sizeof yaml, "%s%s", BASE, text);
    snprintf(set, sizeof set, "algorithm.name=%s", algo);
    cfg c;
    assert_int_equal(cfg_parse_text(yaml, strlen(yaml), "a.yaml", &c, d), FS_OK);
    assert_int_equal(cfg_apply_override(set, 1, &c, d), FS_OK);
    cfg_derive(&c, "a.yaml");
    fs_err e = cfg_validate(&c, "a.yaml", d);
    return e ? e : sim_check_algorithm(&c, "a.yaml", d);
}

static void expect(fs_err e, const cfg_diag *d, int line, int col, const char *msg,
                   const char *hint)
{
    if (e != FS_EINPUT || d->line != line || d->col != col || strcmp(d->msg, msg) != 0)
        cfg_diag_print(d, stderr);
    assert_int_equal(e, FS_EINPUT);
    assert_string_equal(d->file, "a.yaml");
    assert_int_equal(d->line, line);
    assert_int_equal(d->col, col);
    assert_string_equal(d->msg, msg);
    assert_non_null(strstr(d->hint, hint));
}

/* Every algorithm against every check: refused exactly by the properties. */
static void test_by_properties(void **state)
{
    (void)state;
    int n;
    const fl_algorithm *const *all = fl_all(&n);
    for (int i = 0; i < n; i++) {
        const fl_algorithm *a = all[i];
        const int second = a->two_uploads || a->sends_scalar;
        cfg_diag d;
        char msg[256];
        if (a->plain_sync) { /* refused with privacy, robust rules, async, at algorithm.name */
            static const char *const with[] = {
                "privacy: {mode: central}\n", "privacy: {secagg: secagg}\n",
                "aggregation: {rule: median}\n", "protocol: async\n"};
            for (size_t w = 0; w < sizeof with / sizeof with[0]; w++) {
                fs_err e = check(with[w], a->name, &d);
                assert_int_equal(e, FS_EINPUT);
                snprintf(msg, sizeof msg, "algorithm.name = %s does not run with", a->name);
                assert_non_null(strstr(d.msg, msg));
            }
            fs_err e = check("train: {optimizer_state: per_client, momentum: 0.9}\n", a->name, &d);
            assert_int_equal(e, a->personal_model ? FS_EINPUT : FS_OK);
            e = check("algorithm: {personal_layers: dense1}\n", a->name, &d);
            if (a->layer_split) {
                assert_int_equal(e, FS_OK);
            } else {
                snprintf(msg, sizeof msg,
                         "algorithm.personal_layers is set but algorithm.name = %s", a->name);
                expect(e, &d, 5, 13, msg, "fedper or fedrep");
            }
            continue;
        }
        fs_err e0 = check("algorithm: {personal_layers: dense1}\n", a->name, &d);
        snprintf(msg, sizeof msg, "algorithm.personal_layers is set but algorithm.name = %s",
                 a->name);
        expect(e0, &d, 5, 13, msg, "fedper or fedrep");
        fs_err e = check("privacy: {mode: central}\n", a->name, &d);
        if (second) {
            snprintf(msg, sizeof msg, "privacy.mode = central does not support algorithm.name = %s",
                     a->name);
            expect(e, &d, 5, 11, msg, "its second upload");
        } else {
            assert_int_equal(e, FS_OK);
        }
        e = check("privacy: {mode: central, weighting: samples}\n", a->name, &d);
        if (second) {
            assert_int_equal(e, FS_EINPUT);
        } else if (a->unit_weights) {
            snprintf(msg, sizeof msg,
                     "privacy.weighting = samples does not apply to %s (its weights are 1)",
                     a->name);
            expect(e, &d, 5, 26, msg, "use privacy.weighting: uniform");
        } else {
            assert_int_equal(e, FS_OK);
        }
        e = check("privacy: {secagg: secagg}\n", a->name, &d);
        if (a->sends_scalar) {
            snprintf(msg, sizeof msg, "privacy.secagg does not support algorithm.name = %s",
                     a->name);
            expect(e, &d, 5, 11, msg, "step count has no bound");
        } else {
            assert_int_equal(e, FS_OK);
        }
        e = check("aggregation: {rule: median}\n", a->name, &d);
        if (second) {
            snprintf(msg, sizeof msg, "aggregation.rule does not support algorithm.name = %s",
                     a->name);
            expect(e, &d, 5, 15, msg, "no robust counterpart");
        } else {
            assert_int_equal(e, FS_OK);
        }
        e = check("adversary: {attack: sign_flip, fraction: 0.2}\n", a->name, &d);
        if (second) {
            snprintf(msg, sizeof msg, "adversary.attack does not support algorithm.name = %s",
                     a->name);
            expect(e, &d, 5, 13, msg, "no robust counterpart");
        } else {
            assert_int_equal(e, FS_OK);
        }
        e = check("train: {optimizer_state: per_client}\n", a->name, &d);
        if (a->fresh_opt) {
            snprintf(msg, sizeof msg,
                     "train.optimizer_state = per_client does not support algorithm.name = %s",
                     a->name);
            expect(e, &d, 5, 9, msg, "fresh momentum buffer");
        } else {
            assert_int_equal(e, FS_OK);
        }
    }
    /* the table says what the names said */
    assert_true(fl_find("scaffold")->two_uploads && fl_find("fednova")->sends_scalar);
    assert_true(fl_find("fednova")->fresh_opt && fl_find("feddyn")->unit_weights);
    assert_false(fl_find("fedavg")->two_uploads || fl_find("fedavg")->sends_scalar ||
                 fl_find("fedavg")->fresh_opt || fl_find("fedavg")->unit_weights);
    assert_true(fl_find("qffl")->plain_sync && fl_find("ditto")->personal_model);
    assert_true(fl_find("fedper")->layer_split && fl_find("fedrep")->layer_split);
    assert_false(fl_find("fedavg")->plain_sync || fl_find("fedavg")->layer_split ||
                 fl_find("ditto")->layer_split);
}

/* A sweep that reaches such a run is refused before any run starts, at the key the message
 * names, with the run in the hint. */
static void test_sweep(void **state)
{
    (void)state;
    const char *text = BASE "privacy: {mode: central}\n"
                            "sweep:\n"
                            "  grid:\n"
                            "    algorithm.name: [fedavg, fednova]\n";
    sweep_plan p;
    cfg_diag d;
    assert_int_equal(
        sweep_parse_plan(text, strlen(text), "a.yaml", NULL, 0, sim_check_algorithm, &p, &d),
        FS_EINPUT);
    assert_int_equal(d.line, 5);
    assert_int_equal(d.col, 11);
    assert_string_equal(d.msg, "privacy.mode = central does not support algorithm.name = fednova");
    assert_non_null(strstr(d.hint, "(sweep run #2: algorithm.name=fednova)"));
    /* without the check the plan expands (config alone names no algorithm) */
    assert_int_equal(sweep_parse_plan(text, strlen(text), "a.yaml", NULL, 0, NULL, &p, &d), FS_OK);
    assert_int_equal(p.n_runs, 2);
    sweep_free_plan(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_by_properties),
        cmocka_unit_test(test_sweep),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
