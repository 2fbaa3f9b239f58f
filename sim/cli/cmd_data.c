/* The `data` command: import outside data into the fedsim HDF5 layout, describe a dataset file,
 * and show what a partition of it looks like (`data stats`, from a dataset file plus partition
 * options, or from a scenario, through the same code path a run uses: sim_load_data and
 * sim_make_partition). Exit status 0, or 2 for bad arguments and bad data. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "data/dataset.h"
#include "data/importers.h"
#include "data/partition.h"
#include "data/stats.h"
#include "engine/check_algo.h"
#include "engine/sim.h"
#include "util/log.h"

#define DATA_USAGE                                                                                 \
    "data import fashion-mnist|kjv|breast-cancer|tff-h5|csv [options], data info FILE, "           \
    "data stats FILE|SCENARIO [options]"

/* Option value parsers: 0 on success, else an exit status (usage error printed). */
static int opt_double(const char *opt, const char *v, double lo, double hi, double *out)
{
    char *end;
    double d = strtod(v, &end);
    if (*end || end == v || !(d >= lo && d <= hi)) {
        char msg[200];
        snprintf(msg, sizeof msg, "%s takes a number in [%g, %g], not '%s'", opt, lo, hi, v);
        return cli_usage_error(msg);
    }
    *out = d;
    return 0;
}

static int opt_int(const char *opt, const char *v, long lo, long hi, long *out)
{
    char *end;
    long d = strtol(v, &end, 10);
    if (*end || end == v || d < lo || d > hi) {
        char msg[200];
        snprintf(msg, sizeof msg, "%s takes an integer in [%ld, %ld], not '%s'", opt, lo, hi, v);
        return cli_usage_error(msg);
    }
    *out = d;
    return 0;
}

/* Does argv[*i] name option opt (which takes a value)? Advances *i and sets *val. */
static int take(int argc, char **argv, int *i, const char *opt, const char **val, int *rc)
{
    if (strcmp(argv[*i], opt) != 0) return 0;
    if (*i + 1 >= argc) {
        char msg[120];
        snprintf(msg, sizeof msg, "%s needs a value", opt);
        *rc = cli_usage_error(msg);
        return 1;
    }
    *val = argv[++*i];
    return 1;
}

static int unknown_option(const char *what, const char *s)
{
    char msg[300];
    snprintf(msg, sizeof msg, "%s: unknown option '%s'", what, s);
    return cli_usage_error(msg);
}

static int save_and_report(fs_err e, dataset *ds, const char *out)
{
    if (!e) e = ds_save(out, ds);
    if (!e)
        printf("wrote %s: %zu train + %zu test samples, %d %s, %d natural clients (%s)\n", out,
               ds->train.n, ds->test.n, ds->n_classes,
               ds->task == DS_SEQUENCE ? "symbols" : "classes", ds->n_natural, ds->checksum);
    ds_free(ds);
    return e ? cli_fail(e) : 0;
}

static int import_fmnist(int argc, char **argv)
{
    const char *dir = FMNIST_DEFAULT_DIR, *out = "datasets/fashion-mnist.h5";
    for (int i = 0, rc = 0; i < argc; i++) {
        if (take(argc, argv, &i, "--dir", &dir, &rc) || take(argc, argv, &i, "--out", &out, &rc)) {
            if (rc) return rc;
            continue;
        }
        return unknown_option("data import fashion-mnist (--dir DIR --out FILE)", argv[i]);
    }
    dataset ds;
    return save_and_report(imp_fashion_mnist(dir, &ds), &ds, out);
}

static int import_kjv(int argc, char **argv)
{
    imp_kjv_opts o = {NULL, IMP_KJV_CHAPTERS, IMP_DEFAULT_SEQ_LEN, IMP_DEFAULT_TEST_FRACTION};
    const char *out = "datasets/kjv.h5", *v = NULL;
    for (int i = 0, rc = 0; i < argc; i++) {
        if (take(argc, argv, &i, "--out", &out, &rc) ||
            take(argc, argv, &i, "--text", &o.text_path, &rc)) {
            if (rc) return rc;
        } else if (take(argc, argv, &i, "--clients", &v, &rc)) {
            if (rc) return rc;
            if (strcmp(v, "chapters") == 0 || strcmp(v, "chapter") == 0)
                o.clients = IMP_KJV_CHAPTERS;
            else if (strcmp(v, "books") == 0 || strcmp(v, "book") == 0)
                o.clients = IMP_KJV_BOOKS;
            else
                return cli_usage_error("--clients takes chapters or books");
        } else if (take(argc, argv, &i, "--seq-len", &v, &rc)) {
            long t;
            if (rc || (rc = opt_int("--seq-len", v, 1, 100000, &t))) return rc;
            o.seq_len = (int)t;
        } else if (take(argc, argv, &i, "--test-fraction", &v, &rc)) {
            if (rc || (rc = opt_double("--test-fraction", v, 0, 0.99, &o.test_fraction))) return rc;
        } else {
            return unknown_option("data import kjv (--clients chapters|books --seq-len T "
                                  "--test-fraction F --text FILE --out FILE)",
                                  argv[i]);
        }
    }
    dataset ds;
    return save_and_report(imp_kjv(&o, &ds), &ds, out);
}

static int import_breast(int argc, char **argv)
{
    const char *path = BREAST_CANCER_CSV, *out = "datasets/breast_cancer.h5", *v = NULL;
    double frac = 0.2;
    long seed = 1;
    for (int i = 0, rc = 0; i < argc; i++) {
        if (take(argc, argv, &i, "--out", &out, &rc) || take(argc, argv, &i, "--csv", &path, &rc)) {
            if (rc) return rc;
        } else if (take(argc, argv, &i, "--seed", &v, &rc)) {
            if (rc || (rc = opt_int("--seed", v, 0, 2147483647L, &seed))) return rc;
        } else if (take(argc, argv, &i, "--test-fraction", &v, &rc)) {
            if (rc || (rc = opt_double("--test-fraction", v, 0.01, 0.9, &frac))) return rc;
        } else {
            return unknown_option("data import breast-cancer ([--csv FILE] [--test-fraction F] "
                                  "[--seed S] [--out FILE])",
                                  argv[i]);
        }
    }
    dataset ds;
    return save_and_report(imp_breast_cancer(path, frac, (uint64_t)seed, &ds), &ds, out);
}

static int import_tff(int argc, char **argv)
{
    imp_tff_opts o = {NULL, NULL, NULL, NULL, IMP_DEFAULT_TEST_FRACTION, IMP_DEFAULT_SEQ_LEN};
    const char *out = NULL, *v = NULL;
    for (int i = 0, rc = 0; i < argc; i++) {
        if (take(argc, argv, &i, "--out", &out, &rc) ||
            take(argc, argv, &i, "--train", &o.train_path, &rc) ||
            take(argc, argv, &i, "--test", &o.test_path, &rc) ||
            take(argc, argv, &i, "--x", &o.x_name, &rc) ||
            take(argc, argv, &i, "--y", &o.y_name, &rc)) {
            if (rc) return rc;
        } else if (take(argc, argv, &i, "--seq-len", &v, &rc)) {
            long t;
            if (rc || (rc = opt_int("--seq-len", v, 1, 100000, &t))) return rc;
            o.seq_len = (int)t;
        } else if (take(argc, argv, &i, "--test-fraction", &v, &rc)) {
            if (rc || (rc = opt_double("--test-fraction", v, 0, 0.99, &o.test_fraction))) return rc;
        } else if (argv[i][0] != '-' && !o.train_path) {
            o.train_path = argv[i];
        } else {
            return unknown_option("data import tff-h5 (--train FILE [--test FILE] [--x NAME] "
                                  "[--y NAME] [--test-fraction F] [--seq-len T] --out FILE)",
                                  argv[i]);
        }
    }
    if (!o.train_path || !out)
        return cli_usage_error("data import tff-h5 needs --train FILE and --out FILE");
    dataset ds;
    return save_and_report(imp_tff(&o, &ds), &ds, out);
}

static int import_csv(int argc, char **argv)
{
    imp_csv_opts o = {NULL, NULL, NULL, NULL, IMP_DEFAULT_TEST_FRACTION, 1, ','};
    const char *out = NULL, *v = NULL;
    for (int i = 0, rc = 0; i < argc; i++) {
        if (take(argc, argv, &i, "--out", &out, &rc) ||
            take(argc, argv, &i, "--file", &o.path, &rc) ||
            take(argc, argv, &i, "--test", &o.test_path, &rc) ||
            take(argc, argv, &i, "--label", &o.label, &rc) ||
            take(argc, argv, &i, "--client", &o.client, &rc)) {
            if (rc) return rc;
        } else if (take(argc, argv, &i, "--delim", &v, &rc)) {
            if (rc) return rc;
            if (strcmp(v, "tab") == 0 || strcmp(v, "\\t") == 0) v = "\t";
            if (strlen(v) != 1 || v[0] == '"' || v[0] == '\n')
                return cli_usage_error("--delim takes one character (or 'tab')");
            o.delim = v[0];
        } else if (take(argc, argv, &i, "--seed", &v, &rc)) {
            long s;
            if (rc || (rc = opt_int("--seed", v, 0, 2147483647L, &s))) return rc;
            o.seed = (uint64_t)s;
        } else if (take(argc, argv, &i, "--test-fraction", &v, &rc)) {
            if (rc || (rc = opt_double("--test-fraction", v, 0, 0.99, &o.test_fraction))) return rc;
        } else if (argv[i][0] != '-' && !o.path) {
            o.path = argv[i];
        } else {
            return unknown_option("data import csv (FILE --label COL [--client COL] [--test FILE] "
                                  "[--test-fraction F] [--seed S] [--delim C] --out FILE)",
                                  argv[i]);
        }
    }
    if (!o.path || !o.label || !out)
        return cli_usage_error("data import csv needs FILE, --label COLUMN and --out FILE");
    dataset ds;
    return save_and_report(imp_csv(&o, &ds), &ds, out);
}

static int cmd_data_import(int argc, char **argv)
{
    if (argc < 1)
        return cli_usage_error(
            "data import needs a source: fashion-mnist, kjv, breast-cancer, tff-h5, csv");
    const char *src = argv[0];
    if (strcmp(src, "fashion-mnist") == 0) return import_fmnist(argc - 1, argv + 1);
    if (strcmp(src, "kjv") == 0) return import_kjv(argc - 1, argv + 1);
    if (strcmp(src, "breast-cancer") == 0) return import_breast(argc - 1, argv + 1);
    if (strcmp(src, "tff-h5") == 0 || strcmp(src, "tff") == 0)
        return import_tff(argc - 1, argv + 1);
    if (strcmp(src, "csv") == 0) return import_csv(argc - 1, argv + 1);
    char msg[200];
    snprintf(msg, sizeof msg,
             "unknown source '%s' to import (fashion-mnist, kjv, breast-cancer, tff-h5, csv)", src);
    return cli_usage_error(msg);
}

static int cmd_data_info(int argc, char **argv)
{
    if (argc != 1) return cli_usage_error("data info FILE");
    dataset ds;
    fs_err e = ds_load(argv[0], &ds);
    if (e) return cli_fail(e);
    printf("%s: %s\n  source: %s\n  imported: %s  checksum: %s\n"
           "  sample shape: %d x %d x %d (%s), %d %s, %s\n"
           "  train: %zu samples, test: %zu samples, natural clients: %d\n",
           argv[0], ds.name, ds.source, ds.import_date, ds.checksum, ds.shape[0], ds.shape[1],
           ds.shape[2], ds.dtype == DS_U8 ? "uint8" : "float32", ds.n_classes,
           ds.task == DS_SEQUENCE ? "symbols" : "classes",
           ds.task == DS_CLASSIFY ? "classification" : "sequence (next symbol)", ds.train.n,
           ds.test.n, ds.n_natural);
    if (ds.vocab) {
        printf("  vocabulary: \"");
        for (const char *p = ds.vocab; *p; p++) printf(*p == '\n' ? "\\n" : "%c", *p);
        printf("\"\n");
    }
    if (ds.client_names.n > 0) {
        printf("  client names:");
        for (int i = 0; i < ds.client_names.n && i < 8; i++)
            printf(" %s", ds_name_at(&ds.client_names, i));
        printf("%s\n", ds.client_names.n > 8 ? " ..." : "");
    }
    if (ds.class_names.n > 0) {
        printf("  class names:");
        for (int i = 0; i < ds.class_names.n && i < 12; i++)
            printf(" %s", ds_name_at(&ds.class_names, i));
        printf("%s\n", ds.class_names.n > 12 ? " ..." : "");
    }
    ds_free(&ds);
    return 0;
}

static int has_suffix(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && strcmp(s + n - m, suf) == 0;
}

/* The partition in words, from the scenario keys that matter for its kind. */
static void describe_partition(const cfg *c, char *buf, size_t cap)
{
    const char *k = c->partition.kind;
    int n = 0;
    if (strcmp(k, "dirichlet") == 0)
        n = snprintf(buf, cap, "dirichlet (alpha %g, min_size %d)", c->partition.alpha,
                     c->partition.min_size);
    else if (strcmp(k, "shards") == 0)
        n = snprintf(buf, cap, "shards (%d per client, %s)", c->partition.labels_per_client,
                     c->partition.shard_assign);
    else if (strcmp(k, "labels") == 0)
        n = snprintf(buf, cap, "labels (#C=%d)", c->partition.labels_per_client);
    else if (strcmp(k, "quantity") == 0)
        n = snprintf(
            buf, cap, "quantity (%s %g)", c->partition.quantity_dist,
            strcmp(c->partition.quantity_dist, "powerlaw") == 0    ? c->partition.quantity_exponent
            : strcmp(c->partition.quantity_dist, "dirichlet") == 0 ? c->partition.quantity_alpha
                                                                   : c->partition.quantity_sigma);
    else
        n = snprintf(buf, cap, "%s", k);
    if (n < 0 || (size_t)n >= cap) return;
    if (strcmp(c->partition.feature_skew, "noise") == 0)
        n += snprintf(buf + n, cap - (size_t)n, " + noise (sigma %g)", c->partition.noise_sigma);
    else if (strcmp(c->partition.feature_skew, "rotation") == 0)
        n += snprintf(buf + n, cap - (size_t)n, " + rotation (%g deg)", c->partition.rotation_deg);
    if (n >= 0 && (size_t)n < cap && c->partition.local_test_fraction > 0)
        snprintf(buf + n, cap - (size_t)n, " + local test %g", c->partition.local_test_fraction);
}

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fprintf(f, "\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            fprintf(f, "\\u%04x", *s);
        else
            fputc(*s, f);
    }
    fputc('"', f);
}

/* The training labels; a lazily generated split (no train.y) is gathered in batches into a
 * malloc'd copy returned in *own. */
static fs_err train_labels(const dataset *ds, int32_t **own, const int32_t **y)
{
    *own = NULL;
    *y = ds->train.y;
    if (ds->train.y || ds->train.n == 0) return FS_OK;
    enum { BATCH = 256 };
    const size_t yl = (size_t)ds->y_len;
    int32_t *lab = FS_CALLOC(ds->train.n * yl, sizeof *lab);
    float *x = FS_CALLOC(BATCH * ds->feat, sizeof *x);
    if (!lab || !x) {
        free(lab);
        free(x);
        return FS_ENOMEM;
    }
    uint32_t idx[BATCH];
    for (size_t start = 0; start < ds->train.n; start += BATCH) {
        size_t b = ds->train.n - start < BATCH ? ds->train.n - start : BATCH;
        for (size_t i = 0; i < b; i++) idx[i] = (uint32_t)(start + i);
        ds_gather(ds, &ds->train, idx, b, x, lab + start * yl);
    }
    free(x);
    *own = lab;
    *y = lab;
    return FS_OK;
}

static int cmd_data_stats(int argc, char **argv)
{
    const char *file = NULL, *matrix_path = NULL, *v = NULL;
    const char *sets[256];
    char shorthand[8][300];
    int n_sets = 0, json = 0, n_short = 0;
    for (int i = 0, rc = 0; i < argc; i++) {
        if (take(argc, argv, &i, "--set", &v, &rc) || take(argc, argv, &i, "-s", &v, &rc)) {
            if (rc) return rc;
            if (n_sets >= 250) return cli_usage_error("too many --set options");
            sets[n_sets++] = v;
        } else if (strncmp(argv[i], "--set=", 6) == 0) {
            if (n_sets >= 250) return cli_usage_error("too many --set options");
            sets[n_sets++] = argv[i] + 6;
        } else if (take(argc, argv, &i, "--partition", &v, &rc) ||
                   take(argc, argv, &i, "--clients", &v, &rc)) {
            if (rc) return rc;
            if (n_sets >= 250 || n_short >= 8) return cli_usage_error("too many options");
            snprintf(shorthand[n_short], sizeof shorthand[0], "partition.%s=%s",
                     strcmp(argv[i - 1], "--partition") == 0 ? "kind" : "clients", v);
            sets[n_sets++] = shorthand[n_short++];
        } else if (take(argc, argv, &i, "--matrix", &matrix_path, &rc)) {
            if (rc) return rc;
        } else if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else if (argv[i][0] != '-' && !file) {
            file = argv[i];
        } else {
            return unknown_option("data stats (FILE|SCENARIO [--partition KIND] [--clients N] "
                                  "[--set key=value ...] [--json] [--matrix OUT.csv])",
                                  argv[i]);
        }
    }
    if (!file) return cli_usage_error("data stats needs a dataset file or a scenario");
    const int scenario = has_suffix(file, ".yaml") || has_suffix(file, ".yml");
    cfg c;
    cfg_diag d;
    memset(&d, 0, sizeof d);
    fs_err e = FS_OK;
    if (scenario) {
        e = cfg_load(file, sets, n_sets, &c, &d, NULL);
    } else {
        cfg_defaults(&c);
        snprintf(c.name, sizeof c.name, "stats");
        snprintf(c.data.dataset, sizeof c.data.dataset, "file");
        snprintf(c.data.path, sizeof c.data.path, "%s", file);
        for (int i = 0; !e && i < n_sets; i++) e = cfg_apply_override(sets[i], i + 1, &c, &d);
        if (!e) cfg_derive(&c, NULL);
    }
    if (!e) e = cfg_validate(&c, file, &d);
    if (!e) e = sim_check_algorithm(&c, file, &d);
    if (e) {
        if (e == FS_EINPUT && d.msg[0])
            cfg_diag_print(&d, stderr);
        else
            fprintf(stderr, "fedsim: error: %s\n", fs_errmsg());
        return fs_exit_status(e);
    }
    dataset ds;
    partition p;
    memset(&p, 0, sizeof p);
    uint64_t *matrix = NULL;
    e = sim_load_data(&c, &ds);
    if (e) return cli_fail(e);
    /* a bare dataset file with natural clients: natural unless a partition was asked for */
    const cfg_origin *ko = &c.origin[cfg_key_index("partition.kind")];
    if (!scenario && ko->line == 0 && ko->set_index == 0 && ds.n_natural > 0 && ds.train.client)
        snprintf(c.partition.kind, sizeof c.partition.kind, "natural");
    e = sim_make_partition(&c, &ds, &p);
    if (!e) {
        matrix = FS_CALLOC((size_t)p.n_clients * (size_t)ds.n_classes + 1, sizeof *matrix);
        if (!matrix) e = FS_ENOMEM;
    }
    part_stats st;
    int32_t *own_y = NULL;
    const int32_t *y = NULL;
    if (!e) e = train_labels(&ds, &own_y, &y);
    if (!e) e = stats_partition(&p, y, ds.y_len, ds.n_classes, ds.train.n, &st, matrix);
    free(own_y);
    const int natural = strcmp(c.partition.kind, "natural") == 0;
    if (!e && matrix_path) e = stats_write_matrix(matrix_path, &ds, &p, matrix, natural);
    if (e) {
        free(matrix);
        part_free(&p);
        ds_free(&ds);
        return cli_fail(e);
    }
    char desc[256];
    describe_partition(&c, desc, sizeof desc);
    const char *src = strcmp(c.data.dataset, "synthetic") == 0 ? "synthetic" : c.data.path;
    if (json) {
        printf("{\"source\": ");
        json_str(stdout, src);
        printf(", \"dataset\": ");
        json_str(stdout, ds.name);
        printf(", \"partition\": ");
        json_str(stdout, c.partition.kind);
        printf(", \"description\": ");
        json_str(stdout, desc);
        printf(", \"seed\": %llu, \"classes\": %d, \"stats\": ", (unsigned long long)c.seed,
               ds.n_classes);
        stats_print_json(stdout, &st, NULL);
        printf("}\n");
    } else {
        printf("%s (%s): partition %s, seed %llu\n", src, ds.name, desc,
               (unsigned long long)c.seed);
        printf("  clients             %u (%u without training samples)\n", st.n_clients,
               st.n_empty);
        printf("  samples             %zu of %zu placed; %zu in local test sets\n", st.n_placed,
               st.n_total, st.n_local_test);
        printf("  client size         min %g  q1 %g  median %g  q3 %g  max %g  (mean %.1f, sd "
               "%.1f)\n",
               st.size_min, st.size_q1, st.size_median, st.size_q3, st.size_max, st.size_mean,
               st.size_sd);
        printf("  %s per client  %.2f of %d (mean)\n",
               ds.task == DS_SEQUENCE ? "symbols" : "classes", st.mean_classes, ds.n_classes);
        printf("  label EMD           %.4f mean, %.4f max  (sum_k |p_c(k) - p(k)|: 0 iid, 2 "
               "disjoint)\n",
               st.mean_emd, st.max_emd);
        if (matrix_path)
            printf("  label x client matrix: %s (analysis/partition_plot.py %s out.png)\n",
                   matrix_path, matrix_path);
    }
    free(matrix);
    part_free(&p);
    ds_free(&ds);
    return 0;
}

int cmd_data(int argc, char **argv)
{
    if (argc < 1) return cli_usage_error("data needs a subcommand: " DATA_USAGE);
    if (strcmp(argv[0], "import") == 0) return cmd_data_import(argc - 1, argv + 1);
    if (strcmp(argv[0], "info") == 0) return cmd_data_info(argc - 1, argv + 1);
    if (strcmp(argv[0], "stats") == 0) return cmd_data_stats(argc - 1, argv + 1);
    return cli_usage_error("unknown data subcommand: " DATA_USAGE);
}
