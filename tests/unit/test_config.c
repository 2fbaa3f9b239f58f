/* Tests of the scenario parser: defaults, nested keys, every kind of error with its exact message
 * and 1-based line:col, did-you-mean, --set overrides, cross-key validation, cfg_load from a
 * file, JSON and Markdown renderings. Expected positions are counted by hand in the YAML below. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"

/* Parse text that must fail; returns the diagnostic. */
static cfg_diag parse_fail(const char *text)
{
    cfg c;
    cfg_diag d;
    assert_int_equal(cfg_parse_text(text, strlen(text), "t.yaml", &c, &d), FS_EINPUT);
    assert_string_equal(d.file, "t.yaml");
    return d;
}

static void parse_ok(const char *text, cfg *c)
{
    cfg_diag d;
    fs_err rc = cfg_parse_text(text, strlen(text), "t.yaml", c, &d);
    if (rc != FS_OK) cfg_diag_print(&d, stderr);
    assert_int_equal(rc, FS_OK);
}

static void expect_at(const cfg_diag *d, int line, int col, const char *msg, const char *hint)
{
    if (d->line != line || d->col != col || strcmp(d->msg, msg) != 0 ||
        (hint && strncmp(d->hint, hint, strlen(hint)) != 0))
        cfg_diag_print(d, stderr);
    assert_int_equal(d->line, line);
    assert_int_equal(d->col, col);
    assert_string_equal(d->msg, msg);
    if (hint) assert_true(strncmp(d->hint, hint, strlen(hint)) == 0);
}

static void test_defaults(void **state)
{
    (void)state;
    cfg c, p;
    cfg_defaults(&c);
    assert_string_equal(c.name, "");
    assert_true(c.seed == 1);
    assert_int_equal(c.threads, 0);
    assert_string_equal(c.data.dataset, "fashion-mnist");
    assert_string_equal(c.data.path, "datasets/fashion-mnist.h5");
    assert_int_equal(c.data.synthetic_clients, 30);
    assert_true(c.data.synthetic_alpha == 1.0 && c.data.synthetic_beta == 1.0);
    assert_int_equal(c.data.synthetic_dim, 60);
    assert_int_equal(c.data.synthetic_classes, 10);
    assert_true(c.data.synthetic_size_mean == 4.0 && c.data.synthetic_size_sigma == 2.0);
    assert_true(c.data.synthetic_test_fraction == 0.2);
    assert_string_equal(c.partition.kind, "dirichlet");
    assert_int_equal(c.partition.clients, 1000);
    assert_true(c.partition.alpha == 0.5);
    assert_int_equal(c.partition.min_size, 10);
    assert_string_equal(c.partition.quantity_dist, "powerlaw");
    assert_true(c.partition.quantity_exponent == 1.5 && c.partition.quantity_sigma == 1.0);
    assert_string_equal(c.model.name, "mlp");
    assert_int_equal(c.model.hidden.n, 2);
    assert_int_equal(c.model.hidden.v[0], 200);
    assert_int_equal(c.model.hidden.v[1], 200);
    assert_int_equal(c.train.epochs, 5);
    assert_int_equal(c.train.steps, 0);
    assert_int_equal(c.train.batch_size, 20);
    assert_true(c.train.lr == 0.05 && c.train.momentum == 0.0 && c.train.weight_decay == 0.0);
    assert_string_equal(c.algorithm.name, "fedavg");
    assert_true(c.algorithm.server_lr == 1.0);
    assert_int_equal(c.rounds.count, 50);
    assert_int_equal(c.rounds.clients_per_round, 50);
    assert_true(c.rounds.overcommit == 0.3 && c.rounds.deadline_s == 0.0);
    assert_true(c.devices.flops.median == 2e9 && c.devices.flops.sigma == 0.8);
    assert_true(c.network.down_bps.median == 20e6 && c.network.down_bps.sigma == 0.8);
    assert_true(c.network.up_bps.median == 5e6 && c.network.up_bps.sigma == 0.9);
    assert_true(c.network.latency_s.median == 0.05 && c.network.latency_s.sigma == 0.5);
    assert_string_equal(c.availability.mode, "always");
    assert_true(c.availability.p == 0.8 && c.dropout.p == 0.05);
    assert_int_equal(c.eval.every, 5);
    assert_int_equal(c.eval.test_samples, 0);
    assert_string_equal(c.output.db, "");

    /* Empty text, comments only, an explicit null document, `---`, {}: not a scenario (a run
     * of the defaults by mistake). */
    const char *empties[] = {"", "# nothing\n", "~\n", "---\n", "\n\n", "{}\n"};
    for (size_t i = 0; i < sizeof empties / sizeof *empties; i++) {
        cfg_diag d = parse_fail(empties[i]);
        assert_non_null(strstr(d.msg, "empty scenario"));
        assert_int_equal(d.line, 1);
    }
    /* Each default read as YAML (through --set) gives the same value as cfg_defaults. */
    cfg_defaults(&p);
    for (int i = 0; cfg_key_at(i); i++) {
        char kv[CFG_STR + 64];
        cfg_diag dd;
        snprintf(kv, sizeof kv, "%s=%s", cfg_key_at(i)->path, cfg_key_at(i)->def);
        assert_int_equal(cfg_apply_override(kv, 1, &p, &dd), FS_OK);
        memset(p.origin, 0, sizeof p.origin);
    }
    assert_memory_equal(&c, &p, sizeof c);

    /* The defaults alone are a valid run once the name comes from the file. */
    cfg_derive(&c, "scenarios/quickstart.yaml");
    assert_string_equal(c.name, "quickstart");
    cfg_diag d;
    assert_int_equal(cfg_validate(&c, "quickstart.yaml", &d), FS_OK);
}

static void test_key_table(void **state)
{
    (void)state;
    int n = 0;
    for (; cfg_key_at(n); n++) {
        const cfg_key *k = cfg_key_at(n);
        assert_non_null(k->def);
        assert_non_null(k->doc);
        assert_true(strlen(k->doc) > 10);
        assert_null(strchr(k->doc, '|')); /* would break the Markdown table */
        assert_int_equal(cfg_key_index(k->path), n);
        if (k->type == CFG_T_ENUM) assert_non_null(k->choices);
        if (k->type != CFG_T_STRING && k->type != CFG_T_ENUM) assert_true(k->min <= k->max);
    }
    assert_true(n >= 48); /* keys are added by features; each is checked above */
    assert_true(n <= CFG_KEYS_MAX);
    assert_int_equal(cfg_key_count(), n);
    assert_null(cfg_key_at(-1));
    assert_int_equal(cfg_key_index("train.nope"), -1);
    assert_int_equal(cfg_key_index("train"), -1);
}

static void test_nested_values(void **state)
{
    (void)state;
    cfg c;
    parse_ok("name: study_1\n"
             "seed: 0x10\n"
             "data:\n"
             "  dataset: synthetic\n"
             "  synthetic_alpha: .5\n"
             "partition: {kind: natural, alpha: 1e-3}\n"
             "model:\n"
             "  name: mlp\n"
             "  hidden:\n"
             "    - 64\n"
             "    - 32\n"
             "    - 16\n"
             "train.lr: 0.25\n"
             "train:\n"
             "  steps: 1e3\n"
             "  momentum: 0.9\n"
             "devices:\n"
             "  flops: {median: 5e9, sigma: 0}\n"
             "network:\n"
             "  latency_s:\n"
             "    median: 0\n"
             "output:\n"
             "  db: 'out/x.db'\n"
             "eval:\n"
             "sweep:\n"
             "  train.lr: [0.1, 0.2]\n"
             "  whatever: {not: checked}\n",
             &c);
    assert_string_equal(c.name, "study_1");
    assert_true(c.seed == 16);
    assert_string_equal(c.data.dataset, "synthetic");
    assert_true(c.data.synthetic_alpha == 0.5);
    assert_string_equal(c.partition.kind, "natural");
    assert_true(c.partition.alpha == 1e-3);
    assert_int_equal(c.model.hidden.n, 3);
    assert_int_equal(c.model.hidden.v[2], 16);
    assert_true(c.train.lr == 0.25);
    assert_int_equal(c.train.steps, 1000);
    assert_true(c.train.momentum == 0.9);
    assert_true(c.devices.flops.median == 5e9 && c.devices.flops.sigma == 0.0);
    assert_true(c.network.latency_s.median == 0.0 && c.network.latency_s.sigma == 0.5);
    assert_string_equal(c.output.db, "out/x.db");
    /* Origins: train.lr at line 13 col 1, model.hidden key at 9:3, defaults at line 0. */
    int i = cfg_key_index("train.lr");
    assert_int_equal(c.origin[i].line, 13);
    assert_int_equal(c.origin[i].col, 1);
    i = cfg_key_index("model.hidden");
    assert_int_equal(c.origin[i].line, 9);
    assert_int_equal(c.origin[i].col, 3);
    assert_int_equal(c.origin[cfg_key_index("rounds.count")].line, 0);

    /* Synthetic data: kind natural and clients from synthetic_clients when not given. */
    cfg_derive(&c, "x.yaml");
    assert_int_equal(c.partition.clients, 30);
    assert_int_equal(c.rounds.clients_per_round, 30);
    cfg_diag d;
    assert_int_equal(cfg_validate(&c, "t.yaml", &d), FS_OK);

    /* Extremes of the 64-bit seed; an empty list. */
    parse_ok("seed: 18446744073709551615\nmodel: {name: logreg, hidden: []}\n", &c);
    assert_true(c.seed == UINT64_MAX);
    assert_int_equal(c.model.hidden.n, 0);
}

static void test_unknown_key(void **state)
{
    (void)state;
    cfg_diag d = parse_fail("name: x\npartition:\n  alpah: 0.3\n");
    expect_at(&d, 3, 3, "unknown key 'partition.alpah'", NULL);
    assert_string_equal(d.hint, "did you mean 'partition.alpha'?");

    d = parse_fail("trian: {lr: 1}\n");
    expect_at(&d, 1, 1, "unknown key 'trian'", NULL);
    assert_string_equal(d.hint, "did you mean 'train'?");

    d = parse_fail("partiton:\n  alpha: 2\n");
    assert_string_equal(d.hint, "did you mean 'partition'?");

    d = parse_fail("rounds:\n  clients_per_rnd: 3\n");
    assert_string_equal(d.hint, "did you mean 'rounds.clients_per_round'?");

    /* Right name, wrong section. */
    d = parse_fail("lr: 0.1\n");
    assert_string_equal(d.hint, "did you mean 'train.lr'?");
    d = parse_fail("train:\n  server_lr: 2\n");
    expect_at(&d, 2, 3, "unknown key 'train.server_lr'", "did you mean 'algorithm.server_lr'?");

    /* Nothing close: the keys of the section. */
    d = parse_fail("train:\n  epochs: 2\n  foo: 1\n");
    expect_at(&d, 3, 3, "unknown key 'train.foo'",
              "valid keys in 'train': epochs, steps, batch_size, lr, momentum, weight_decay");
    d = parse_fail("zzzzzz: 1\n");
    expect_at(&d, 1, 1, "unknown key 'zzzzzz'", "valid top-level keys: name, seed, threads, data,");
    d = parse_fail("devices:\n  flops:\n    mean: 3\n");
    expect_at(&d, 3, 5, "unknown key 'devices.flops.mean'", "did you mean 'devices.flops.median'?");
}

static void test_type_errors(void **state)
{
    (void)state;
    cfg_diag d = parse_fail("train:\n  lr: fast\n");
    expect_at(&d, 2, 7, "train.lr must be a number, got 'fast'",
              "train.lr is a number, allowed: 0 (exclusive) ... 100");

    d = parse_fail("train: {epochs: 1.5}\n");
    expect_at(&d, 1, 17, "train.epochs must be an integer, got '1.5'",
              "train.epochs is an integer, allowed: 0 ... 10000");

    d = parse_fail("rounds:\n  count: \"5\"\n");
    expect_at(&d, 2, 10, "rounds.count must be an integer, got the quoted string '5'", NULL);
    d = parse_fail("rounds: {count: '5'}\n");
    expect_at(&d, 1, 17, "rounds.count must be an integer, got the quoted string '5'", NULL);

    d = parse_fail("train:\n  lr:\n");
    expect_at(&d, 2, 6, "train.lr must be a number, got an empty value", NULL);

    /* A mapping where a value is expected, and a value where a section is expected. */
    d = parse_fail("train:\n  lr: {a: 1}\n");
    expect_at(&d, 2, 7, "train.lr must be a number, got a mapping", NULL);
    d = parse_fail("train:\n  lr: [1, 2]\n");
    expect_at(&d, 2, 7, "train.lr must be a number, got a list", NULL);
    d = parse_fail("name: x\ntrain: 5\n");
    expect_at(&d, 2, 8, "'train' is a section, not a single value (got a scalar)",
              "valid keys in 'train': epochs,");
    d = parse_fail("devices:\n  flops: 2e9\n");
    expect_at(&d, 2, 10, "'devices.flops' is a section, not a single value (got a scalar)",
              "valid keys in 'devices.flops': median, sigma");
    d = parse_fail("- a\n- b\n");
    expect_at(&d, 1, 1, "a scenario must be a mapping of keys, got a list", NULL);
    d = parse_fail("train: {lr: *x}\n");
    expect_at(&d, 1, 13, "train.lr must be a number, got an alias", "aliases");

    /* Lists. */
    d = parse_fail("model:\n  hidden: 200\n");
    expect_at(&d, 2, 11, "model.hidden must be a list of integers, got '200'", NULL);
    assert_non_null(strstr(d.hint, "write [200]"));
    d = parse_fail("model:\n  hidden: [64, x]\n");
    expect_at(&d, 2, 16, "model.hidden[1] must be an integer, got 'x'", NULL);
    d = parse_fail("model:\n  hidden: [64, 0]\n");
    expect_at(&d, 2, 16, "model.hidden[1] = 0 is out of range", "allowed: 1 ... 65536");
    d = parse_fail("model: {hidden: [1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]}\n");
    expect_at(&d, 1, 17, "model.hidden has 17 elements, too many", "at most 16");
}

static void test_range_and_enum(void **state)
{
    (void)state;
    cfg_diag d = parse_fail("rounds:\n  clients_per_round: 0\n");
    expect_at(&d, 2, 22, "rounds.clients_per_round = 0 is out of range", NULL);
    assert_string_equal(d.hint, "allowed: 1 ... 1000000");

    d = parse_fail("train: {lr: 0}\n");
    expect_at(&d, 1, 13, "train.lr = 0 is out of range", "allowed: 0 (exclusive) ... 100");
    d = parse_fail("train: {lr: 100.5}\n");
    expect_at(&d, 1, 13, "train.lr = 100.5 is out of range", NULL);
    d = parse_fail("train: {momentum: 1}\n");
    assert_string_equal(d.hint, "allowed: 0 ... 1 (exclusive)");
    d = parse_fail("dropout: {p: 1.5}\n");
    assert_string_equal(d.msg, "dropout.p = 1.5 is out of range");
    d = parse_fail("dropout: {p: .nan}\n");
    assert_string_equal(d.msg, "dropout.p = .nan is out of range");
    d = parse_fail("partition: {clients: 99999999999999999999999}\n");
    assert_string_equal(d.msg, "partition.clients = 99999999999999999999999 is out of range");
    d = parse_fail("seed: 18446744073709551616\n");
    assert_string_equal(d.hint, "allowed: 0 ... 18446744073709551615");
    d = parse_fail("seed: -1\n");
    assert_string_equal(d.msg, "seed = -1 is out of range");

    d = parse_fail("partition:\n  kind: dirichlett\n");
    expect_at(&d, 2, 9, "partition.kind = 'dirichlett' is not one of the choices", NULL);
    /* the choice list grows with features; its start and the suggestion are fixed */
    assert_true(strncmp(d.hint, "did you mean 'dirichlet'? choices: iid, dirichlet, ", 51) == 0);
    d = parse_fail("model: {name: resnet}\n");
    expect_at(&d, 1, 15, "model.name = 'resnet' is not one of the choices", NULL);
    assert_non_null(strstr(d.hint, "choices: logreg, mlp"));
    d = parse_fail("data:\n  dataset:\n");
    expect_at(&d, 2, 11, "data.dataset has no value", NULL);
    assert_non_null(strstr(d.hint, "choices: fashion-mnist, "));
}

static void test_duplicates_and_syntax(void **state)
{
    (void)state;
    cfg_diag d = parse_fail("train:\n  lr: 0.1\n  epochs: 2\n  lr: 0.2\n");
    expect_at(&d, 4, 3, "duplicate key 'train.lr'", NULL);
    assert_string_equal(d.hint, "first given at line 2, column 3");
    d = parse_fail("train: {lr: 1}\nname: x\ntrain: {epochs: 1}\n");
    expect_at(&d, 3, 1, "duplicate key 'train'", "first given at line 1, column 1");
    d = parse_fail("train.lr: 0.1\ntrain:\n  lr: 0.2\n");
    expect_at(&d, 3, 3, "duplicate key 'train.lr'", "first given at line 1, column 1");

    /* YAML syntax errors keep libfyaml's message and position. */
    d = parse_fail("train:\n\tlr: 1\n");
    assert_int_equal(d.line, 2);
    assert_int_equal(d.col, 1);
    assert_non_null(strstr(d.msg, "tab"));
    assert_string_equal(d.hint, "indent with spaces, not tabs");
    d = parse_fail("name: x\nmodel: {hidden: [1, 2]]}\n");
    assert_int_equal(d.line, 2);
    assert_int_equal(d.col, 23);
    assert_string_equal(d.msg, "mismatched flow sequence end");
    d = parse_fail("name: x\ntrain:\n  lr: 1\n epochs: 2\n");
    assert_int_equal(d.line, 4);
    assert_int_equal(d.col, 2);
    assert_non_null(strstr(d.msg, "indentation"));
    d = parse_fail("name: x\n---\nname: y\n");
    expect_at(&d, 3, 1, "a second YAML document ('---') in one scenario", NULL);
    d = parse_fail("name: 'open\n");
    assert_int_equal(d.line, 1);
    assert_true(d.col >= 7);
    assert_true(strlen(d.msg) > 0);
}

static void test_diag_print(void **state)
{
    (void)state;
    cfg_diag d = parse_fail("partition:\n  alpah: 0.3\n");
    char buf[1024] = {0};
    FILE *f = fmemopen(buf, sizeof buf - 1, "w");
    assert_non_null(f);
    cfg_diag_print(&d, f);
    fclose(f);
    assert_string_equal(buf, "t.yaml:2:3: error: unknown key 'partition.alpah'\n"
                             "  hint: did you mean 'partition.alpha'?\n");
    assert_string_equal(fs_errmsg(), "t.yaml:2:3: unknown key 'partition.alpah'");
}

static void test_overrides(void **state)
{
    (void)state;
    cfg c;
    cfg_diag d;
    cfg_defaults(&c);
    assert_int_equal(cfg_apply_override("train.lr=0.1", 1, &c, &d), FS_OK);
    assert_true(c.train.lr == 0.1);
    assert_int_equal(cfg_apply_override("model.hidden=[64,32]", 2, &c, &d), FS_OK);
    assert_int_equal(c.model.hidden.n, 2);
    assert_int_equal(c.model.hidden.v[0], 64);
    assert_int_equal(c.model.hidden.v[1], 32);
    assert_int_equal(cfg_apply_override("name=my run", 3, &c, &d), FS_OK);
    assert_string_equal(c.name, "my run");
    assert_int_equal(cfg_apply_override("output.db=", 4, &c, &d), FS_OK);
    assert_string_equal(c.output.db, "");
    assert_int_equal(cfg_apply_override(" rounds.count = 7", 5, &c, &d), FS_OK);
    assert_int_equal(c.rounds.count, 7);
    int i = cfg_key_index("model.hidden");
    assert_int_equal(c.origin[i].set_index, 2);
    assert_int_equal(c.origin[i].line, 2);

    assert_int_equal(cfg_apply_override("train.lr", 1, &c, &d), FS_EINPUT);
    assert_string_equal(d.file, "--set");
    expect_at(&d, 1, 1, "override 'train.lr' has no '='", "write key.path=value");
    assert_int_equal(cfg_apply_override("=3", 2, &c, &d), FS_EINPUT);
    expect_at(&d, 2, 1, "override '=3' has no key before '='", NULL);
    assert_int_equal(cfg_apply_override("partition.alpah=0.3", 3, &c, &d), FS_EINPUT);
    expect_at(&d, 3, 1, "unknown key 'partition.alpah'", "did you mean 'partition.alpha'?");
    /* col = column of the value within the argument ("train.lr=" is 9 characters). */
    assert_int_equal(cfg_apply_override("train.lr=fast", 4, &c, &d), FS_EINPUT);
    expect_at(&d, 4, 10, "train.lr must be a number, got 'fast'", NULL);
    assert_int_equal(cfg_apply_override("rounds.count=0", 5, &c, &d), FS_EINPUT);
    expect_at(&d, 5, 14, "rounds.count = 0 is out of range", "allowed: 1 ... 10000000");
    assert_int_equal(cfg_apply_override("model.hidden=[64, x]", 6, &c, &d), FS_EINPUT);
    expect_at(&d, 6, 19, "model.hidden[1] must be an integer, got 'x'", NULL);
    assert_int_equal(cfg_apply_override("train=3", 7, &c, &d), FS_EINPUT);
    expect_at(&d, 7, 1, "'train' is a section, not a single value", "valid keys in 'train':");
    assert_int_equal(cfg_apply_override("model.hidden=[64,32", 8, &c, &d), FS_EINPUT);
    assert_int_equal(d.line, 8);
    assert_true(d.col >= 14);
    /* Failures left the earlier values alone. */
    assert_true(c.train.lr == 0.1);
    assert_int_equal(c.rounds.count, 7);
}

static void test_validate(void **state)
{
    (void)state;
    cfg c;
    cfg_diag d;
    parse_ok("name: v\npartition:\n  clients: 20\n", &c);
    cfg_derive(&c, "v.yaml");
    assert_int_equal(c.rounds.clients_per_round, 20); /* default capped */
    assert_int_equal(cfg_validate(&c, "v.yaml", &d), FS_OK);

    parse_ok("name: v\npartition:\n  clients: 20\nrounds:\n  clients_per_round: 30\n", &c);
    cfg_derive(&c, "v.yaml");
    assert_int_equal(cfg_validate(&c, "v.yaml", &d), FS_EINPUT);
    assert_string_equal(d.file, "v.yaml");
    expect_at(&d, 5, 3, "rounds.clients_per_round = 30 exceeds partition.clients = 20", NULL);

    /* The same from an override points at the --set argument. */
    parse_ok("name: v\npartition:\n  clients: 20\n", &c);
    assert_int_equal(cfg_apply_override("rounds.clients_per_round=30", 2, &c, &d), FS_OK);
    assert_int_equal(cfg_validate(&c, "v.yaml", &d), FS_EINPUT);
    assert_string_equal(d.file, "--set");
    assert_int_equal(d.line, 2);
    assert_int_equal(d.col, 1);

    parse_ok("name: v\ndata: {dataset: synthetic}\npartition: {kind: iid}\n", &c);
    cfg_derive(&c, "v.yaml");
    assert_int_equal(cfg_validate(&c, "v.yaml", &d), FS_EINPUT);
    expect_at(&d, 3, 13, "partition.kind = iid cannot be used with data.dataset = synthetic", NULL);

    parse_ok("name: v\ndata: {dataset: synthetic}\npartition: {clients: 100}\n", &c);
    cfg_derive(&c, "v.yaml");
    assert_int_equal(cfg_validate(&c, "v.yaml", &d), FS_EINPUT);
    expect_at(&d, 3, 13, "partition.clients = 100 but data.synthetic_clients = 30", NULL);

    parse_ok("name: v\npartition: {kind: natural}\n", &c);
    assert_int_equal(cfg_validate(&c, "v.yaml", &d), FS_EINPUT);
    expect_at(&d, 2, 13, "partition.kind = natural needs a dataset with natural clients", NULL);

    parse_ok("name: v\ntrain:\n  epochs: 0\n", &c);
    assert_int_equal(cfg_validate(&c, "v.yaml", &d), FS_EINPUT);
    expect_at(&d, 3, 3, "train.epochs = 0 with train.steps = 0: clients would not train", NULL);
    parse_ok("name: v\ntrain:\n  epochs: 0\n  steps: 10\n", &c);
    assert_int_equal(cfg_validate(&c, "v.yaml", &d), FS_OK);

    parse_ok("name: v\nmodel: {hidden: []}\n", &c);
    assert_int_equal(cfg_validate(&c, "v.yaml", &d), FS_EINPUT);
    assert_string_equal(d.msg, "model.hidden is empty but model.name = mlp");

    parse_ok("data: {dataset: file, path: ''}\n", &c);
    cfg_derive(&c, "dir/f.yml");
    assert_string_equal(c.name, "f");
    assert_int_equal(cfg_validate(&c, "f.yml", &d), FS_EINPUT);
    expect_at(&d, 1, 23, "data.path is empty but data.dataset = file reads a file", NULL);

    /* a secure-aggregation threshold above the share holders of a full round: caught here, not
     * in round 1 after the run row exists */
    parse_ok("name: v\nrounds: {clients_per_round: 10, overcommit: 0}\n"
             "privacy: {secagg: secagg, secagg_threshold: 11}\n",
             &c);
    assert_int_equal(cfg_validate(&c, "v.yaml", &d), FS_EINPUT);
    expect_at(&d, 3, 27,
              "privacy.secagg_threshold = 11 exceeds the 10 share holders of each client (the "
              "complete graph, up to 10 clients per round)",
              "use at most 10");
    parse_ok("name: v\nrounds: {clients_per_round: 10, overcommit: 0}\n"
             "privacy: {secagg: secagg, secagg_threshold: 10}\n",
             &c);
    assert_int_equal(cfg_validate(&c, "v.yaml", &d), FS_OK);
    parse_ok("name: v\nrounds: {clients_per_round: 10, overcommit: 0}\n"
             "privacy: {secagg: secagg_plus, secagg_neighbours: 4, secagg_threshold: 6}\n",
             &c);
    assert_int_equal(cfg_validate(&c, "v.yaml", &d), FS_EINPUT);
    assert_non_null(strstr(d.msg, "exceeds the 5 share holders"));

    /* No name anywhere: line 0, printed without a position. */
    parse_ok("seed: 1\n", &c);
    assert_int_equal(cfg_validate(&c, "n.yaml", &d), FS_EINPUT);
    expect_at(&d, 0, 0, "name is empty", NULL);
    char buf[512] = {0};
    FILE *f = fmemopen(buf, sizeof buf - 1, "w");
    cfg_diag_print(&d, f);
    fclose(f);
    assert_true(strncmp(buf, "n.yaml: error: name is empty\n  hint: ", 37) == 0);
}

/* Quoted strings with many '' escapes (libfyaml unescapes them into buffers of its own; a leak
 * of those was reported, 8-32 KiB per scenario): valid and rejected scenarios parse with every
 * buffer freed, which `make asan` (LeakSanitizer) checks */
static void test_quote_escapes(void **state)
{
    (void)state;
    static const char *const keys[] = {"name", "output.db", "checkpoint.dir", "algorithm.state_dir",
                                       "data.path"};
    char *text = malloc(64 * 1024), *at = text;
    assert_non_null(text);
    for (int k = 0; k < 5; k++) {
        const char *dot = strchr(keys[k], '.');
        if (dot)
            at += sprintf(at, "%.*s:\n  %s: '", (int)(dot - keys[k]), keys[k], dot + 1);
        else
            at += sprintf(at, "%s: '", keys[k]);
        for (int i = 0; i < 120; i++) at += sprintf(at, "a''");
        at += sprintf(at, "'\n");
    }
    cfg c;
    parse_ok(text, &c);
    assert_int_equal((int)strlen(c.name), 240);
    assert_int_equal(c.name[1], '\'');
    /* the same escapes in a string too long for its key: rejected, nothing kept */
    at = text + sprintf(text, "name: '");
    for (int i = 0; i < 8000; i++) at += sprintf(at, "a''");
    sprintf(at, "'\n");
    cfg_diag d = parse_fail(text);
    assert_non_null(strstr(d.msg, "name is too long"));
    free(text);
}

/* Text that is not a YAML scenario fails before the parser sees it, at the first bad byte
 * ('%' then 0xA3 made libfyaml 0.7.12 loop forever). */
static void test_hostile_text(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        size_t len;
        int line, col;
        const char *msg;
    } cases[] = {
        {"%\xa3", 2, 1, 1, "a line starting with '%'"},
        {"%\n", 2, 1, 1, "a line starting with '%'"},
        {"name: x\n%FOO bar\n", 17, 2, 1, "a line starting with '%'"},
        {"name: \xa3\n", 9, 1, 7, "invalid UTF-8 (byte 0xA3)"},
        {"name: \xc3\xa9\xc3\n", 11, 1, 8, "invalid UTF-8 (byte 0xC3)"},
        {"name: \xc0\xaf\n", 9, 1, 7, "invalid UTF-8 (byte 0xC0)"},          /* overlong */
        {"name: \xed\xa0\x80\n", 10, 1, 7, "invalid UTF-8 (byte 0xED)"},     /* surrogate */
        {"name: \xf4\x90\x80\x80\n", 11, 1, 7, "invalid UTF-8 (byte 0xF4)"}, /* > U+10FFFF */
        {"\0name: x\n", 9, 1, 1, "binary data (byte 0x00)"},
        {"name: x\n\x01", 9, 2, 1, "binary data (byte 0x01)"},
        {"\xff\xfen\0a\0", 6, 1, 1, "UTF-16"},
        {"n\0a\0m\0e\0", 8, 1, 1, "UTF-16"},
        /* explicit keys: libfyaml 0.7.12 crashes (SEGV in fy_parser_destroy) on some */
        {"? ?flops: \t?", 12, 1, 1, "an explicit '?' key"},
        {"x:\n  ? a:\t?", 12, 2, 3, "an explicit '?' key"},
        {"- ? a:\t?", 8, 1, 3, "an explicit '?' key"},
        {"a: [b, ? c]", 11, 1, 8, "an explicit '?' key"},
        {"\0n\0a\0m\0e", 8, 1, 1, "UTF-16"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        cfg c;
        cfg_diag d;
        assert_int_equal(cfg_parse_text(cases[i].text, cases[i].len, "t.yaml", &c, &d), FS_EINPUT);
        if (d.line != cases[i].line || d.col != cases[i].col ||
            strncmp(d.msg, cases[i].msg, strlen(cases[i].msg)) != 0)
            cfg_diag_print(&d, stderr);
        assert_int_equal(d.line, cases[i].line);
        assert_int_equal(d.col, cases[i].col);
        assert_true(strncmp(d.msg, cases[i].msg, strlen(cases[i].msg)) == 0);
    }
    /* What stays accepted: directives, a UTF-8 byte-order mark, multi-byte characters, CRLF. */
    cfg c;
    parse_ok("%YAML 1.2\n---\nname: x\n", &c);
    parse_ok("\xef\xbb\xbfname: x\n", &c);
    assert_string_equal(c.name, "x");
    parse_ok("name: \"what? ? yes\" # why? \nseed: 3\n", &c); /* '?' in values and comments */
    assert_string_equal(c.name, "what? ? yes");
    parse_ok("name: 'it''s ? x'\n", &c);
    assert_string_equal(c.name, "it's ? x");
    parse_ok("name: \"\xc3\xa9t\xc3\xa9 \xf0\x9f\x99\x82\"\r\nseed: 2\r\n", &c);
    assert_true(c.seed == 2);
}

static void test_load(void **state)
{
    (void)state;
    char path[] = "/tmp/fedsim_cfg_XXXXXX.yaml";
    int fd = mkstemps(path, 5);
    assert_true(fd >= 0);
    const char *text = "# a study\ntrain:\n  lr: 0.2\nrounds: {count: 3}\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    const char *sets[] = {"rounds.count=4", "train.momentum=0.5"};
    cfg c;
    cfg_diag d;
    char *got = NULL;
    assert_int_equal(cfg_load(path, sets, 2, &c, &d, &got), FS_OK);
    assert_string_equal(got, text);
    free(got);
    assert_true(c.train.lr == 0.2 && c.train.momentum == 0.5);
    assert_int_equal(c.rounds.count, 4);
    char want[64];
    const char *base = strrchr(path, '/') + 1;
    snprintf(want, sizeof want, "%.*s", (int)(strlen(base) - 5), base);
    assert_string_equal(c.name, want);

    const char *bad[] = {"train.lrr=1"};
    assert_int_equal(cfg_load(path, bad, 1, &c, &d, &got), FS_EINPUT);
    assert_null(got);
    expect_at(&d, 1, 1, "unknown key 'train.lrr'", "did you mean 'train.lr'?");
    unlink(path);

    assert_int_equal(cfg_load("/tmp/fedsim_no_such_dir/x.yaml", NULL, 0, &c, &d, NULL), FS_EINPUT);
    assert_string_equal(d.file, "/tmp/fedsim_no_such_dir/x.yaml");
    assert_int_equal(d.line, 0);
    assert_string_equal(d.msg, "cannot read the scenario: No such file or directory");
}

static void test_json(void **state)
{
    (void)state;
    cfg c;
    parse_ok("name: \"a \\\"q\\\" \\\\ b\\n\"\ntrain: {lr: 0.1}\nseed: 18446744073709551615\n", &c);
    char *j = cfg_to_json(&c);
    assert_non_null(j);
    assert_true(j[0] == '{' && j[strlen(j) - 1] == '}');
    for (int i = 0; cfg_key_at(i); i++) {
        char q[CFG_STR + 8];
        snprintf(q, sizeof q, "\"%s\": ", cfg_key_at(i)->path);
        assert_non_null(strstr(j, q));
    }
    assert_non_null(
        strstr(j, "{\"name\": \"a \\\"q\\\" \\\\ b\\n\", \"seed\": 18446744073709551615,"));
    assert_non_null(strstr(j, "\"train.lr\": 0.10000000000000001,"));
    assert_non_null(strstr(j, "\"model.hidden\": [200, 200],"));
    assert_non_null(strstr(j, "\"partition.kind\": \"dirichlet\","));
    assert_true(strstr(j, "\"output.db\": \"\",") || strstr(j, "\"output.db\": \"\"}"));
    /* %.17g round-trips every double exactly. */
    const char *p = strstr(j, "\"network.latency_s.median\": ") + 28;
    assert_true(strtod(p, NULL) == c.network.latency_s.median);
    /* Table order. */
    assert_true(strstr(j, "\"data.dataset\"") < strstr(j, "\"partition.kind\""));
    free(j);
}

static void test_markdown(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    cfg_print_markdown(f);
    fclose(f);
    for (int i = 0; cfg_key_at(i); i++) {
        char q[CFG_STR + 8];
        snprintf(q, sizeof q, "| `%s` |", cfg_key_at(i)->path);
        assert_non_null(strstr(buf, q));
    }
    const char *sections[] = {"## general", "## data",   "## partition", "## model",
                              "## train",   "## rounds", "## network",   "## output"};
    for (size_t i = 0; i < sizeof sections / sizeof *sections; i++)
        assert_non_null(strstr(buf, sections[i]));
    assert_non_null(strstr(buf, "| `train.lr` | number | `0.05` | 0 (exclusive) ... 100 |"));
    assert_non_null(
        strstr(buf, "| `partition.kind` | choice | `dirichlet` | `iid`, `dirichlet`, "));
    /* Every table row has exactly 6 pipes (5 columns). */
    int rows = 0;
    for (char *line = buf; line && *line;) {
        char *nl = strchr(line, '\n');
        if (line[0] == '|') {
            int pipes = 0;
            for (char *q = line; q < (nl ? nl : line + strlen(line)); q++) pipes += *q == '|';
            assert_int_equal(pipes, 6);
            rows++;
        }
        line = nl ? nl + 1 : NULL;
    }
    assert_true(rows > 48);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_key_table),
        cmocka_unit_test(test_nested_values),
        cmocka_unit_test(test_unknown_key),
        cmocka_unit_test(test_type_errors),
        cmocka_unit_test(test_range_and_enum),
        cmocka_unit_test(test_duplicates_and_syntax),
        cmocka_unit_test(test_diag_print),
        cmocka_unit_test(test_overrides),
        cmocka_unit_test(test_validate),
        cmocka_unit_test(test_quote_escapes),
        cmocka_unit_test(test_hostile_text),
        cmocka_unit_test(test_load),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_markdown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
