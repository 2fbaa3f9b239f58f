/* Tests of the sweep expander: expansion order and count of grid x zip x seeds, the overrides
 * and JSON of each run, nested and dotted key paths, run keys (what changes them and what does
 * not, and that a worker loading the file with the run's --set overrides gets the same key),
 * and every kind of sweep error with its exact file:line:col, counted by hand below. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/sweep.h"
#include "engine/check_algo.h"

#define BASE                                                                                       \
    "name: tiny\n"                                                                                 \
    "data: {dataset: synthetic, synthetic_clients: 30}\n"                                          \
    "model: {name: logreg}\n"                                                                      \
    "rounds: {count: 8, clients_per_round: 5}\n"

static void plan_ok(const char *text, const char *const *ov, int n_ov, sweep_plan *p)
{
    cfg_diag d;
    fs_err rc =
        sweep_parse_plan(text, strlen(text), "s.yaml", ov, n_ov, sim_check_algorithm, p, &d);
    if (rc != FS_OK) cfg_diag_print(&d, stderr);
    assert_int_equal(rc, FS_OK);
}

/* Parse text that must fail at line:col with msg (and a hint starting with hint). */
static void plan_fail(const char *text, int line, int col, const char *msg, const char *hint)
{
    sweep_plan p;
    cfg_diag d;
    assert_int_equal(
        sweep_parse_plan(text, strlen(text), "s.yaml", NULL, 0, sim_check_algorithm, &p, &d),
        FS_EINPUT);
    if (d.line != line || d.col != col || strcmp(d.msg, msg) != 0 ||
        (hint && strstr(d.hint, hint) == NULL))
        cfg_diag_print(&d, stderr);
    assert_string_equal(d.file, "s.yaml");
    assert_int_equal(d.line, line);
    assert_int_equal(d.col, col);
    assert_string_equal(d.msg, msg);
    if (hint) assert_non_null(strstr(d.hint, hint));
    assert_int_equal(p.n_runs, 0); /* nothing half-made is returned */
    assert_null(p.runs);
}

static void test_expansion_order(void **state)
{
    (void)state;
    sweep_plan p;
    plan_ok(BASE "sweep:\n"
                 "  grid:\n"
                 "    algorithm.name: [fedavg, fedsgd]\n"
                 "    partition.alpha: [0.1, 0.5]\n"
                 "  zip:\n"
                 "    - {train.lr: [0.1, 0.05], train.batch_size: [10, 20]}\n"
                 "  seeds: [1, 2, 3]\n",
            NULL, 0, &p);
    assert_int_equal(p.n_runs, 2 * 2 * 2 * 3);
    assert_string_equal(p.id, "tiny");
    assert_string_equal(p.db, "results/tiny.db");
    assert_int_equal(p.n_seeds, 3);
    assert_int_equal(p.n_keys, 4);
    assert_string_equal(p.keys[0], "algorithm.name");
    assert_string_equal(p.keys[1], "partition.alpha");
    assert_string_equal(p.keys[2], "train.lr");
    assert_string_equal(p.keys[3], "train.batch_size");
    /* first grid key slowest, seeds fastest */
    assert_string_equal(p.runs[0].label, "algorithm.name=fedavg partition.alpha=0.1 train.lr=0.1 "
                                         "train.batch_size=10 seed=1");
    assert_string_equal(p.runs[1].label, "algorithm.name=fedavg partition.alpha=0.1 train.lr=0.1 "
                                         "train.batch_size=10 seed=2");
    assert_string_equal(p.runs[3].label, "algorithm.name=fedavg partition.alpha=0.1 train.lr=0.05 "
                                         "train.batch_size=20 seed=1");
    assert_string_equal(p.runs[6].label, "algorithm.name=fedavg partition.alpha=0.5 train.lr=0.1 "
                                         "train.batch_size=10 seed=1");
    assert_string_equal(p.runs[23].label, "algorithm.name=fedsgd partition.alpha=0.5 "
                                          "train.lr=0.05 train.batch_size=20 seed=3");
    assert_int_equal(p.runs[23].index, 24);
    assert_int_equal(p.runs[23].n_sets, 5);
    assert_string_equal(p.runs[23].sets[0], "algorithm.name=fedsgd");
    assert_string_equal(p.runs[23].sets[4], "seed=3");
    assert_true(p.runs[23].seed == 3);
    assert_int_equal(p.runs[23].rounds, 8);
    /* resolved values, seed excluded, floats as in the stored params (%.17g, exact) */
    assert_string_equal(p.runs[0].swept_json,
                        "{\"algorithm.name\": \"fedavg\", "
                        "\"partition.alpha\": 0.10000000000000001, \"train.lr\": "
                        "0.10000000000000001, \"train.batch_size\": 10}");
    /* all keys distinct, 16 hex digits */
    for (int i = 0; i < p.n_runs; i++) {
        assert_int_equal(strlen(p.runs[i].key), SWEEP_KEY_LEN);
        assert_int_equal(strspn(p.runs[i].key, "0123456789abcdef"), SWEEP_KEY_LEN);
        for (int j = 0; j < i; j++) assert_string_not_equal(p.runs[i].key, p.runs[j].key);
    }
    sweep_free_plan(&p);
}

static void test_forms_and_values(void **state)
{
    (void)state;
    sweep_plan a, b;
    /* nested and dotted paths are the same sweep; a zip may be one mapping */
    plan_ok(BASE "sweep:\n  name: lr-study_2\n  grid: {train: {lr: [0.2, 1e-1]}}\n"
                 "  zip: {model.hidden: [[10], [20, 20]], model.name: [mlp, mlp]}\n",
            NULL, 0, &a);
    plan_ok(BASE "sweep:\n  name: lr-study_2\n  grid: {train.lr: [0.2, 0.1]}\n"
                 "  zip: [{model.hidden: [[10], [20, 20]], model.name: [mlp, mlp]}]\n",
            NULL, 0, &b);
    assert_int_equal(a.n_runs, 4);
    assert_int_equal(b.n_runs, 4);
    assert_string_equal(a.id, "lr-study_2");
    assert_string_equal(a.db, "results/lr-study_2.db");
    assert_int_equal(a.n_seeds, 0);
    for (int i = 0; i < 4; i++) assert_string_equal(a.runs[i].key, b.runs[i].key);
    assert_string_equal(a.runs[1].sets[1], "model.hidden=[20, 20]");
    assert_string_equal(a.runs[1].sets[0], "train.lr=0.2");
    assert_string_equal(a.runs[2].sets[0], "train.lr=1e-1");
    /* 1e-1 resolves to 0.1 in the JSON; lists stay lists */
    assert_string_equal(a.runs[3].swept_json,
                        "{\"train.lr\": 0.10000000000000001, \"model.hidden\": [20, 20], "
                        "\"model.name\": \"mlp\"}");
    assert_true(a.runs[0].seed == 1);
    sweep_free_plan(&a);
    sweep_free_plan(&b);

    /* quoted strings are passed on quoted; output.db names the database; user --set applies to
     * every run and the sweep's values win over it */
    const char *ov[] = {"rounds.count=3", "train.lr=0.9"};
    plan_ok(BASE "output: {db: out/x.db}\n"
                 "sweep:\n  grid:\n    data.path: ['a b.h5', \"c\\\"d.h5\"]\n"
                 "    train.lr: [0.3]\n",
            ov, 2, &a);
    assert_int_equal(a.n_runs, 2);
    assert_string_equal(a.db, "out/x.db");
    assert_string_equal(a.runs[0].sets[0], "data.path=\"a b.h5\"");
    assert_string_equal(a.runs[1].sets[0], "data.path=\"c\\\"d.h5\"");
    assert_string_equal(a.runs[1].swept_json,
                        "{\"data.path\": \"c\\\"d.h5\", \"train.lr\": 0.29999999999999999}");
    assert_int_equal(a.runs[0].rounds, 3);
    sweep_free_plan(&a);

    /* an empty sweep section is one run: the scenario itself */
    plan_ok(BASE "sweep:\n", NULL, 0, &a);
    assert_int_equal(a.n_runs, 1);
    assert_int_equal(a.runs[0].n_sets, 0);
    assert_string_equal(a.runs[0].swept_json, "{}");
    assert_string_equal(a.runs[0].label, "");
    cfg c;
    cfg_diag d;
    assert_int_equal(cfg_parse_text(BASE, strlen(BASE), "s.yaml", &c, &d), FS_OK);
    cfg_derive(&c, "s.yaml");
    char key[SWEEP_KEY_LEN + 1];
    assert_int_equal(sweep_compute_key(&c, key), FS_OK);
    assert_string_equal(a.runs[0].key, key);
    sweep_free_plan(&a);
}

/* One emitter writes a key's value: the swept values are the same text as the run's stored
 * params (%.17g: exact, and the text existing run keys were hashed from), pinned here. */
static void test_json_floats(void **state)
{
    (void)state;
    sweep_plan p;
    plan_ok(BASE "sweep:\n  grid:\n    train.lr: [0.1]\n    privacy.delta: [1e-5]\n"
                 "    devices.flops.median: [2e9]\n    rounds.overcommit: [0.5]\n"
                 "    availability.p: [0.7]\n",
            NULL, 0, &p);
    assert_int_equal(p.n_runs, 1);
    assert_string_equal(p.runs[0].swept_json,
                        "{\"train.lr\": 0.10000000000000001, \"privacy.delta\": "
                        "1.0000000000000001e-05, \"devices.flops.median\": 2000000000, "
                        "\"rounds.overcommit\": 0.5, \"availability.p\": 0.69999999999999996}");
    cfg c;
    cfg_diag d;
    assert_int_equal(cfg_parse_text(BASE, strlen(BASE), "s.yaml", &c, &d), FS_OK);
    for (int i = 0; i < p.runs[0].n_sets; i++)
        assert_int_equal(cfg_apply_override(p.runs[0].sets[i], i + 1, &c, &d), FS_OK);
    char *params = cfg_to_json(&c);
    assert_non_null(params);
    /* every "key": value of the swept JSON appears as such in the params */
    char *sw = strdup(p.runs[0].swept_json + 1);
    sw[strlen(sw) - 1] = '\0';
    for (char *save = NULL, *kv = strtok_r(sw, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
        while (*kv == ' ') kv++;
        assert_non_null(strstr(params, kv));
    }
    free(sw);
    free(params);
    sweep_free_plan(&p);
}

static void test_run_key(void **state)
{
    (void)state;
    cfg a, b;
    cfg_diag d;
    char ka[SWEEP_KEY_LEN + 1], kb[SWEEP_KEY_LEN + 1];
    assert_int_equal(cfg_parse_text(BASE, strlen(BASE), "s.yaml", &a, &d), FS_OK);
    memcpy(&b, &a, sizeof b);
    assert_int_equal(sweep_compute_key(&a, ka), FS_OK);
    /* name, threads, output.db and origins cannot change results: same key */
    snprintf(b.name, sizeof b.name, "other");
    b.threads = 7;
    snprintf(b.output.db, sizeof b.output.db, "x.db");
    memset(b.origin, 0, sizeof b.origin);
    assert_int_equal(sweep_compute_key(&b, kb), FS_OK);
    assert_string_equal(ka, kb);
    /* any parameter does */
    b.train.lr = 0.0500000001;
    assert_int_equal(sweep_compute_key(&b, kb), FS_OK);
    assert_string_not_equal(ka, kb);
    memcpy(&b, &a, sizeof b);
    b.seed = 2;
    assert_int_equal(sweep_compute_key(&b, kb), FS_OK);
    assert_string_not_equal(ka, kb);
}

/* A worker runs `fedsim run FILE --set <the run's sets>`: its key must be the planned key. */
static void test_key_matches_worker(void **state)
{
    (void)state;
    char path[] = "/tmp/test_sweep_XXXXXX.yaml";
    int fd = mkstemps(path, 5);
    assert_true(fd >= 0);
    const char *text = BASE "sweep:\n  grid: {train.lr: [0.1, 0.2], rounds.count: [2, 4]}\n"
                            "  seeds: [5, 6]\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    const char *user[] = {"eval.every=2"};
    sweep_plan p;
    cfg_diag d;
    fs_err rc = sweep_load_plan(path, user, 1, sim_check_algorithm, &p, &d);
    if (rc) cfg_diag_print(&d, stderr);
    assert_int_equal(rc, FS_OK);
    assert_int_equal(p.n_runs, 8);
    for (int i = 0; i < p.n_runs; i++) {
        const char *ov[8];
        int n = 0;
        ov[n++] = user[0];
        for (int j = 0; j < p.runs[i].n_sets; j++) ov[n++] = p.runs[i].sets[j];
        cfg c;
        assert_int_equal(cfg_load(path, ov, n, &c, &d, NULL), FS_OK);
        assert_int_equal(c.eval.every, 2);
        char key[SWEEP_KEY_LEN + 1];
        assert_int_equal(sweep_compute_key(&c, key), FS_OK);
        assert_string_equal(key, p.runs[i].key);
    }
    /* the name comes from the file name */
    assert_string_equal(p.id, "tiny");
    sweep_free_plan(&p);
    unlink(path);
    /* a missing file */
    assert_int_equal(sweep_load_plan("/nonexistent/x.yaml", NULL, 0, NULL, &p, &d), FS_EINPUT);
    assert_string_equal(d.file, "/nonexistent/x.yaml");
    assert_int_equal(d.line, 0);
}

static void test_errors(void **state)
{
    (void)state;
    /* syntax errors inside the sweep section free everything (make asan checks for leaks) */
    plan_fail(BASE "sweep:\n  grid:\n    train.lr: [0.1, 0.05]\n   algorithm.name: [fedavg]\n", 8,
              4, "invalid indentation in mapping", NULL);
    plan_fail(BASE "sweep:\n  grid:\n    train.lr: [0.1,\n  0.2]\n", 8, 3,
              "wrongly indented flow sequence", NULL);
    plan_fail(BASE "sweep:\n  grid:\n    train.lr: [0.1]\n  seeds: [1\n", 9, 1,
              "flow sequence without a closing bracket", NULL);
    plan_fail(BASE "sweep:\n  grid:\n    train.lr: [0.1]\n%\xa3", 8, 1,
              "a line starting with '%' that is not a %YAML or %TAG directive", NULL);
    /* BASE is 4 lines; the sweep section starts at line 5 */
    plan_fail(BASE "sweep:\n  grid:\n    train.lrr: [0.1]\n", 7, 5, "unknown key 'train.lrr'",
              "did you mean 'train.lr'?");
    plan_fail(BASE "sweep:\n  grid:\n    train: {lrr: [0.1]}\n", 7, 13, "unknown key 'train.lrr'",
              "did you mean 'train.lr'?");
    plan_fail(BASE "sweep:\n  grid:\n    train.lr: [0.1, fast]\n", 7, 21,
              "train.lr must be a number, got 'fast'", "allowed:");
    plan_fail(BASE "sweep:\n  grid:\n    train.lr: [\"0.1\"]\n", 7, 16,
              "train.lr must be a number, got the quoted string '0.1'", "without quotes");
    plan_fail(BASE "sweep:\n  grid:\n    rounds.count: [4, 0]\n", 7, 23,
              "rounds.count = 0 is out of range", "allowed: 1");
    plan_fail(BASE "sweep:\n  grid:\n    algorithm.name: [fedavg, fedsgdd]\n", 7, 30,
              "algorithm.name = 'fedsgdd' is not one of the choices", "did you mean 'fedsgd'?");
    plan_fail(BASE "sweep:\n  seeds: [1, -1]\n", 6, 14, "seed = -1 is out of range", NULL);
    plan_fail(BASE "sweep:\n  grid:\n    train.lr: 0.1\n", 7, 15,
              "sweep values of 'train.lr' must be a list, got a single value", "[a, b]");
    plan_fail(BASE "sweep:\n  grid:\n    train.lr: []\n", 7, 15,
              "sweep values of 'train.lr' are an empty list", NULL);
    plan_fail(BASE "sweep:\n  grid:\n    train.lr: [0.1, 0.2, 0.1]\n", 7, 26,
              "value 0.1 of 'train.lr' is listed twice", "first listed at line 7, column 16");
    plan_fail(BASE "sweep:\n  grid:\n    train.lr: [0.1]\n  zip:\n    - {train.lr: [0.2]}\n", 9, 8,
              "'train.lr' is swept twice", "first swept at line 7, column 5");
    plan_fail(BASE "sweep:\n  seeds: [1]\n  grid: {seed: [3]}\n", 6, 3, "'seed' is swept twice",
              "first swept at line 7");
    plan_fail(BASE "sweep:\n  zip:\n    - {train.lr: [0.1, 0.2], train.batch_size: [10]}\n", 7, 48,
              "zip group: 'train.batch_size' has 1 values but 'train.lr' has 2", "same length");
    plan_fail(BASE "sweep:\n  grdi: {train.lr: [0.1]}\n", 6, 3, "unknown key 'sweep.grdi'",
              "did you mean 'grid'?");
    plan_fail(BASE "sweep: [1, 2]\n", 5, 8, "sweep must be a mapping, got a list", NULL);
    plan_fail(BASE "sweep:\n  name: 'a b'\n", 6, 9, "sweep.name 'a b' is not a valid name", NULL);
    plan_fail(BASE, 0, 0, "no 'sweep' section: nothing to sweep", "docs/sweeps.md");
    /* cross-key validation of one expanded run: points at the swept key, names the run */
    plan_fail(BASE "sweep:\n  grid:\n    rounds.clients_per_round: [5, 50]\n", 7, 5,
              "rounds.clients_per_round = 50 exceeds partition.clients = 30",
              "(sweep run #2: rounds.clients_per_round=50)");
    /* two runs that resolve to the same parameters */
    plan_fail(BASE "sweep:\n  grid:\n    name: [a, b]\n", 0, 0,
              "sweep runs #1 and #2 have identical parameters", "no effect");
    /* the scenario's own errors come first, as in fedsim run */
    plan_fail("train:\n  lr: fast\nsweep:\n  seeds: [1]\n", 2, 7,
              "train.lr must be a number, got 'fast'", NULL);

    /* a bad user --set is reported as such */
    sweep_plan p;
    cfg_diag d;
    const char *ov[] = {"train.lrr=1"};
    const char *text = BASE "sweep:\n  seeds: [1]\n";
    assert_int_equal(
        sweep_parse_plan(text, strlen(text), "s.yaml", ov, 1, sim_check_algorithm, &p, &d),
        FS_EINPUT);
    assert_string_equal(d.file, "--set");
    assert_int_equal(d.line, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expansion_order), cmocka_unit_test(test_forms_and_values),
        cmocka_unit_test(test_run_key),         cmocka_unit_test(test_key_matches_worker),
        cmocka_unit_test(test_errors),          cmocka_unit_test(test_json_floats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
