/* Importers and the dataset store: the KJV import has 1,189 chapter clients and 66 book clients
 * and decodes back to the text (checked against an independent cleaning of the `bible` output
 * and pinned counts); a TensorFlow Federated HDF5 file written here keeps its client ids and
 * counts (numeric, uint8 channels-last and string snippets); CSV encoding (one-hot, label and
 * client numbering, test split); save/load round trips; corrupt, truncated and mismatched
 * inputs fail with FS_EDATA and a message naming the file and the problem. */
#include <hdf5.h>
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

#include "data/dataset.h"
#include "data/importers.h"
#include "data/partition.h"
#include "data/stats.h"
#include "util/log.h"

static char tmpdir[] = "/tmp/fedsim-test-datasets-XXXXXX";

static const char *tmp_path(const char *name)
{
    static _Thread_local char buf[8][512];
    static _Thread_local int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void assert_msg_has(const char *needle)
{
    if (!strstr(fs_errmsg(), needle)) fail_msg("message '%s' lacks '%s'", fs_errmsg(), needle);
}

/* ---------------------------------------------------------------- KJV */

static int have_bible(void)
{
    return system("command -v bible > /dev/null 2>&1") == 0;
}

/* Independent cleaning of the `bible -f` output: per chapter, the text after each reference,
 * whitespace squeezed, verses joined by one space. Returns the number of chapters; texts[c]
 * malloc'd. */
static int reference_chapters(char ***texts_out)
{
    FILE *f = popen("bible -f 'Gen1:1-Rev22:21'", "r");
    assert_non_null(f);
    char **texts = calloc(2000, sizeof *texts);
    size_t *len = calloc(2000, sizeof *len);
    int n = -1;
    char ref_prev[32] = "";
    static char line[1 << 16];
    while (fgets(line, sizeof line, f)) {
        char *sp = strchr(line, ' ');
        if (!sp) continue;
        *sp = '\0';
        char *colon = strchr(line, ':');
        assert_non_null(colon);
        *colon = '\0'; /* line = "Ge1" */
        if (strcmp(line, ref_prev) != 0) {
            n++;
            texts[n] = calloc(1, 1 << 16);
            snprintf(ref_prev, sizeof ref_prev, "%.31s", line);
        }
        char *t = texts[n];
        for (char *p = sp + 1; *p; p++) {
            int space = *p == ' ' || *p == '\n' || *p == '\t' || *p == '\r';
            if (space) {
                if (len[n] && t[len[n] - 1] != ' ') t[len[n]++] = ' ';
            } else {
                t[len[n]++] = *p;
            }
        }
        if (len[n] && t[len[n] - 1] != ' ') t[len[n]++] = ' '; /* verse separator */
    }
    pclose(f);
    for (int c = 0; c <= n; c++)
        while (len[c] && texts[c][len[c] - 1] == ' ') texts[c][--len[c]] = '\0';
    free(len);
    *texts_out = texts;
    return n + 1;
}

static void test_kjv(void **st)
{
    (void)st;
    if (!have_bible()) {
        print_message("bible-kjv is not installed (apt-get install bible-kjv): KJV test skipped\n");
        skip();
    }
    dataset ds;
    imp_kjv_opts o = {NULL, IMP_KJV_CHAPTERS, 80, 0.1};
    assert_int_equal(imp_kjv(&o, &ds), FS_OK);
    assert_int_equal(ds.n_natural, 1189);
    assert_int_equal(ds.task, DS_SEQUENCE);
    assert_int_equal(ds.n_classes, 63);
    assert_string_equal(ds.vocab, imp_kjv_vocab);
    assert_int_equal(ds.feat, 80);
    assert_int_equal(ds.y_len, 80);
    assert_string_equal(ds_name_at(&ds.client_names, 0), "Ge1");
    assert_string_equal(ds_name_at(&ds.client_names, 1188), "Rev22");
    assert_string_equal(ds.checksum, "crc32:cde2e57c"); /* of the 4,404,412 bytes bible prints */
    /* 4,136,658 cleaned characters in 52,299 windows of 80; the last floor(0.1 x windows) of
     * each chapter (4,694) are the test split (counted independently with Python) */
    assert_int_equal(ds.train.n, 47605);
    assert_int_equal(ds.test.n, 4694);

    /* round trip: each chapter's windows (train then test, in order) decode to its text */
    char **ref = NULL;
    int n_ref = reference_chapters(&ref);
    assert_int_equal(n_ref, 1189);
    size_t rtr = 0, rte = 0, total = 0;
    char *dec = malloc(1 << 17);
    for (int c = 0; c < 1189; c++) {
        size_t n = 0;
        for (int sp = 0; sp < 2; sp++) {
            const ds_split *s = sp ? &ds.test : &ds.train;
            size_t *r = sp ? &rte : &rtr;
            for (; *r < s->n && s->client[*r] == c; (*r)++) {
                const uint8_t *x = (const uint8_t *)s->x + *r * 80;
                const int32_t *y = s->y + *r * 80;
                for (int t = 0; t < 80; t++) {
                    dec[n + (size_t)t] = ds.vocab[x[t]];
                    if (t < 79) assert_int_equal(y[t], x[t + 1]); /* next-character targets */
                }
                n += 80;
            }
        }
        while (n && dec[n - 1] == ' ') n--;
        dec[n] = '\0';
        if (strcmp(dec, ref[c]) != 0) fail_msg("chapter %d does not round-trip", c);
        total += n;
        free(ref[c]);
    }
    free(ref);
    free(dec);
    assert_int_equal(rtr, ds.train.n);
    assert_int_equal(rte, ds.test.n);
    assert_int_equal(total, 4136658);

    /* save and load: identical arrays, names and vocabulary */
    const char *path = tmp_path("kjv.h5");
    assert_int_equal(ds_save(path, &ds), FS_OK);
    dataset back;
    assert_int_equal(ds_load(path, &back), FS_OK);
    assert_int_equal(back.n_natural, 1189);
    assert_string_equal(back.vocab, ds.vocab);
    assert_string_equal(ds_name_at(&back.client_names, 42), ds_name_at(&ds.client_names, 42));
    assert_memory_equal(back.train.x, ds.train.x, ds.train.n * 80);
    assert_memory_equal(back.test.y, ds.test.y, ds.test.n * 80 * sizeof(int32_t));
    assert_memory_equal(back.train.client, ds.train.client, ds.train.n * sizeof(int32_t));
    /* stats on the natural partition: 1,189 clients, every window placed */
    partition p;
    assert_int_equal(part_natural(back.train.client, back.train.n, 1189, &p), FS_OK);
    part_stats s;
    assert_int_equal(stats_partition(&p, back.train.y, 80, 63, back.train.n, &s, NULL), FS_OK);
    assert_int_equal(s.n_clients, 1189);
    assert_int_equal(s.n_placed, 47605);
    assert_int_equal(s.n_empty, 0);
    assert_true(s.mean_emd > 0 && s.mean_emd < 0.5); /* same language everywhere */
    part_free(&p);
    ds_free(&back);
    ds_free(&ds);

    /* books: 66 clients; the same windows */
    o.clients = IMP_KJV_BOOKS;
    assert_int_equal(imp_kjv(&o, &ds), FS_OK);
    assert_int_equal(ds.n_natural, 66);
    assert_string_equal(ds_name_at(&ds.client_names, 0), "Ge");
    assert_string_equal(ds_name_at(&ds.client_names, 65), "Rev");
    assert_int_equal(ds.train.n, 47605);
    assert_int_equal(ds.train.client[0], 0);
    assert_int_equal(ds.train.client[ds.train.n - 1], 65);
    ds_free(&ds);
}

static void test_kjv_text_file(void **st)
{
    (void)st;
    const char *path = tmp_path("verses.txt");
    write_text(path, "Ge1:1 In the  beginning.\nGe1:2 And  light.\nGe2:1 Thus\t the end.\n"
                     "Exo1:1 Now these.\n");
    dataset ds;
    imp_kjv_opts o = {path, IMP_KJV_CHAPTERS, 4, 0.5};
    assert_int_equal(imp_kjv(&o, &ds), FS_OK);
    assert_int_equal(ds.n_natural, 3);
    /* "In the beginning. And light." = 28 chars -> 7 windows of 4, 3 to test;
     * "Thus the end." = 13 -> 4 windows, 2 to test; "Now these." = 10 -> 3 windows, 1 test */
    assert_int_equal(ds.train.n, 4 + 2 + 2);
    assert_int_equal(ds.test.n, 3 + 2 + 1);
    char got[8];
    for (int t = 0; t < 4; t++) got[t] = ds.vocab[((uint8_t *)ds.test.x)[t]];
    got[4] = '\0';
    assert_string_equal(got, ". An"); /* window 4 of chapter 1: chars 16..19 */
    /* test row 4 = window 3 of chapter 2: char 12 "." then the padding */
    const uint8_t *x = (const uint8_t *)ds.test.x + 4 * 4;
    assert_int_equal(ds.vocab[x[0]], '.');
    assert_int_equal(ds.vocab[x[1]], ' ');
    assert_int_equal(ds.test.y[4 * 4], 0); /* the pad is the space, token 0 */
    ds_free(&ds);

    /* a missing verse, a foreign character, pretty-printed output: clean errors */
    write_text(path, "Ge1:1 In the beginning.\nGe1:3 And light.\n");
    assert_int_equal(imp_kjv(&o, &ds), FS_EDATA);
    assert_msg_has("line 2: Ge1:3 follows Ge1:1");
    write_text(path, "Ge1:1 In the beginning.\nGe1:2 And light \xc3\xa9.\n");
    assert_int_equal(imp_kjv(&o, &ds), FS_EDATA);
    assert_msg_has("line 2: character");
    write_text(path, "\nGenesis 1\n\n  1 In the beginning God\n");
    assert_int_equal(imp_kjv(&o, &ds), FS_EDATA);
    assert_msg_has("verses.txt: line 2: expected");
    o.text_path = tmp_path("no-such-file.txt");
    assert_int_equal(imp_kjv(&o, &ds), FS_EINPUT);
    assert_msg_has("no-such-file.txt");
}

/* ---------------------------------------------------------------- TFF HDF5 */

static void h5_floats(hid_t g, const char *name, int rank, const hsize_t *dims, const float *v)
{
    hid_t sp = H5Screate_simple(rank, dims, NULL);
    hid_t d = H5Dcreate2(g, name, H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
    H5Dclose(d);
    H5Sclose(sp);
}

static void h5_ints(hid_t g, const char *name, hsize_t n, const int32_t *v)
{
    hid_t sp = H5Screate_simple(1, &n, NULL);
    hid_t d = H5Dcreate2(g, name, H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(d, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
    H5Dclose(d);
    H5Sclose(sp);
}

/* EMNIST-like: client k has n[k] examples, pixel j of example i = 1000 k + 100 i + j / 100,
 * label (k + i) % 10. label_off changes client 0's label count (a mismatch). */
static void write_tff_emnist(const char *path, int n_cl, const char *const *names, const int *n,
                             int label_off)
{
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hid_t ex = H5Gcreate2(f, "examples", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    for (int k = 0; k < n_cl; k++) {
        hid_t g = H5Gcreate2(ex, names[k], H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        float *px = malloc((size_t)n[k] * 784 * sizeof *px);
        int32_t lab[64];
        for (int i = 0; i < n[k]; i++) {
            for (int j = 0; j < 784; j++) px[i * 784 + j] = 1000.0f * k + 100.0f * i + j / 100.0f;
            lab[i] = (k + i) % 10;
        }
        hsize_t dims[3] = {(hsize_t)n[k], 28, 28};
        h5_floats(g, "pixels", 3, dims, px);
        h5_ints(g, "label", (hsize_t)(n[k] + (k == 0 ? label_off : 0)), lab);
        free(px);
        H5Gclose(g);
    }
    H5Gclose(ex);
    H5Fclose(f);
}

static void test_tff_emnist(void **st)
{
    (void)st;
    /* created out of name order: the importer numbers clients by sorted name */
    const char *names[3] = {"f0002_01", "a_writer", "m9"};
    const int n[3] = {5, 3, 7};
    const char *path = tmp_path("emnist_train.h5");
    write_tff_emnist(path, 3, names, n, 0);
    dataset ds;
    imp_tff_opts o = {path, NULL, NULL, NULL, 0.4, 0};
    assert_int_equal(imp_tff(&o, &ds), FS_OK);
    assert_int_equal(ds.n_natural, 3);
    assert_string_equal(ds_name_at(&ds.client_names, 0), "a_writer");
    assert_string_equal(ds_name_at(&ds.client_names, 1), "f0002_01");
    assert_string_equal(ds_name_at(&ds.client_names, 2), "m9");
    assert_int_equal(ds.dtype, DS_F32);
    assert_int_equal(ds.shape[0], 1);
    assert_int_equal(ds.shape[1], 28);
    assert_int_equal(ds.shape[2], 28);
    assert_int_equal(ds.n_classes, 9); /* labels (k + i) % 10 reach 8 */
    /* floor(0.4 n) of each client's last examples to test: a 3 -> 1, f 5 -> 2, m 7 -> 2 */
    assert_int_equal(ds.train.n, 2 + 3 + 5);
    assert_int_equal(ds.test.n, 1 + 2 + 2);
    const int32_t want_tr[10] = {0, 0, 1, 1, 1, 2, 2, 2, 2, 2};
    assert_memory_equal(ds.train.client, want_tr, sizeof want_tr);
    const int32_t want_te[5] = {0, 1, 1, 2, 2};
    assert_memory_equal(ds.test.client, want_te, sizeof want_te);
    /* train row 2 = f0002_01 (written k = 0) example 0; test row 0 = a_writer (k = 1) ex. 2 */
    const float *x = ds.train.x;
    assert_float_equal(x[2 * 784 + 350], 0 + 0 + 3.5f, 1e-4);
    assert_int_equal(ds.train.y[2], 0);
    assert_float_equal(((const float *)ds.test.x)[10], 1000 + 200 + 0.1f, 1e-3);
    assert_int_equal(ds.test.y[0], 3);
    /* per-client counts through the natural partition */
    partition p;
    assert_int_equal(part_natural(ds.train.client, ds.train.n, 3, &p), FS_OK);
    assert_int_equal(part_size(&p, 0), 2);
    assert_int_equal(part_size(&p, 1), 3);
    assert_int_equal(part_size(&p, 2), 5);
    part_free(&p);
    ds_free(&ds);

    /* with a test file: its clients map onto the training clients by name */
    const char *tnames[2] = {"m9", "a_writer"};
    const int tn[2] = {1, 2};
    const char *tpath = tmp_path("emnist_test.h5");
    write_tff_emnist(tpath, 2, tnames, tn, 0);
    o.test_path = tpath;
    assert_int_equal(imp_tff(&o, &ds), FS_OK);
    assert_int_equal(ds.train.n, 15);
    assert_int_equal(ds.test.n, 3);
    const int32_t want_te2[3] = {0, 0, 2};
    assert_memory_equal(ds.test.client, want_te2, sizeof want_te2);
    assert_float_equal(((const float *)ds.test.x)[2 * 784], 0.0f, 1e-6); /* m9 written k = 0 */
    /* save/load keeps client names */
    const char *out = tmp_path("emnist.h5");
    assert_int_equal(ds_save(out, &ds), FS_OK);
    dataset back;
    assert_int_equal(ds_load(out, &back), FS_OK);
    assert_int_equal(back.n_natural, 3);
    assert_string_equal(ds_name_at(&back.client_names, 2), "m9");
    assert_memory_equal(back.train.x, ds.train.x, 15 * 784 * sizeof(float));
    ds_free(&back);
    ds_free(&ds);

    /* a test client unknown to the training file */
    const char *bad_names[1] = {"zz_new"};
    write_tff_emnist(tpath, 1, bad_names, tn, 0);
    assert_int_equal(imp_tff(&o, &ds), FS_EDATA);
    assert_msg_has("client zz_new is not in the training file");
    o.test_path = NULL;
    /* label count differs from example count */
    write_tff_emnist(path, 3, names, n, -1);
    assert_int_equal(imp_tff(&o, &ds), FS_EDATA);
    assert_msg_has("/examples/f0002_01: 5 examples of pixels but 4 labels");
}

static void test_tff_uint8_hwc(void **st)
{
    (void)st;
    /* CIFAR-like: image (n, H=2, W=3, C=2) uint8 -> stored (C, H, W) */
    const char *path = tmp_path("cifar.h5");
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hid_t ex = H5Gcreate2(f, "examples", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hid_t g = H5Gcreate2(ex, "0", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    uint8_t img[12];
    for (int i = 0; i < 12; i++) img[i] = (uint8_t)(10 * i); /* (h, w, c) -> 10 (6h + 2w + c) */
    hsize_t dims[4] = {1, 2, 3, 2};
    hid_t sp = H5Screate_simple(4, dims, NULL);
    hid_t d = H5Dcreate2(g, "image", H5T_STD_U8LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(d, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, img);
    H5Dclose(d);
    H5Sclose(sp);
    int32_t lab = 7;
    h5_ints(g, "label", 1, &lab);
    H5Gclose(g);
    H5Gclose(ex);
    H5Fclose(f);
    dataset ds;
    imp_tff_opts o = {path, NULL, NULL, NULL, 0, 0};
    assert_int_equal(imp_tff(&o, &ds), FS_OK);
    assert_int_equal(ds.dtype, DS_U8);
    assert_int_equal(ds.shape[0], 2);
    assert_int_equal(ds.shape[1], 2);
    assert_int_equal(ds.shape[2], 3);
    assert_int_equal(ds.n_classes, 8);
    const uint8_t *x = ds.train.x;
    for (int c = 0; c < 2; c++)
        for (int h = 0; h < 2; h++)
            for (int w = 0; w < 3; w++)
                assert_int_equal(x[(c * 2 + h) * 3 + w], 10 * (6 * h + 2 * w + c));
    ds_free(&ds);
}

static void test_tff_snippets(void **st)
{
    (void)st;
    /* Shakespeare-like: variable-length strings per client */
    const char *path = tmp_path("shakespeare.h5");
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hid_t ex = H5Gcreate2(f, "examples", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hid_t st_t = H5Tcopy(H5T_C_S1);
    H5Tset_size(st_t, H5T_VARIABLE);
    H5Tset_cset(st_t, H5T_CSET_UTF8);
    const char *roles[2] = {"THE_TRAGEDY_HAMLET", "ALL_S_WELL_KING"};
    const char *lines[2][2] = {{"to be, or not", "ay"}, {"hi", NULL}};
    const hsize_t nl[2] = {2, 1};
    for (int k = 0; k < 2; k++) {
        hid_t g = H5Gcreate2(ex, roles[k], H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        hid_t sp = H5Screate_simple(1, &nl[k], NULL);
        hid_t d = H5Dcreate2(g, "snippets", st_t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        H5Dwrite(d, st_t, H5S_ALL, H5S_ALL, H5P_DEFAULT, lines[k]);
        H5Dclose(d);
        H5Sclose(sp);
        H5Gclose(g);
    }
    H5Tclose(st_t);
    H5Gclose(ex);
    H5Fclose(f);
    dataset ds;
    imp_tff_opts o = {path, NULL, NULL, NULL, 0, 4};
    assert_int_equal(imp_tff(&o, &ds), FS_OK);
    assert_int_equal(ds.task, DS_SEQUENCE);
    assert_string_equal(ds.vocab, "\n ,abehinorty"); /* sorted bytes, newline always */
    assert_int_equal(ds.n_natural, 2);
    assert_string_equal(ds_name_at(&ds.client_names, 0), "ALL_S_WELL_KING");
    /* ALL_S_WELL_KING: "hi" -> 1 window; HAMLET: "to be, or not\nay" (16) -> 4 windows */
    assert_int_equal(ds.train.n, 5);
    char dec[32];
    size_t n = 0;
    for (size_t r = 1; r < 5; r++)
        for (int t = 0; t < 4; t++) dec[n++] = ds.vocab[((uint8_t *)ds.train.x)[r * 4 + t]];
    dec[n] = '\0';
    assert_string_equal(dec, "to be, or not\nay");
    assert_int_equal(ds.vocab[ds.train.y[4 * 4 + 3]], '\n'); /* the target after the text: pad */
    ds_free(&ds);
}

static void test_tff_corrupt(void **st)
{
    (void)st;
    dataset ds;
    imp_tff_opts o = {tmp_path("plain.h5"), NULL, NULL, NULL, 0, 0};
    hid_t f = H5Fcreate(o.train_path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    H5Fclose(f);
    assert_int_equal(imp_tff(&o, &ds), FS_EDATA);
    assert_msg_has("plain.h5: not a TensorFlow Federated file");
    /* truncated: the first 3 kB of a valid file */
    const char *names[1] = {"w"};
    const int n[1] = {40};
    const char *full = tmp_path("full.h5"), *cut = tmp_path("cut.h5");
    write_tff_emnist(full, 1, names, n, 0);
    FILE *in = fopen(full, "rb"), *out = fopen(cut, "wb");
    char buf[3000];
    size_t r = fread(buf, 1, sizeof buf, in);
    fwrite(buf, 1, r, out);
    fclose(in);
    fclose(out);
    o.train_path = cut;
    assert_int_equal(imp_tff(&o, &ds), FS_EDATA);
    assert_msg_has("cut.h5");
    o.train_path = tmp_path("absent.h5");
    assert_int_equal(imp_tff(&o, &ds), FS_EINPUT);
    assert_msg_has("absent.h5: cannot open");
}

/* ---------------------------------------------------------------- CSV */

static void test_csv(void **st)
{
    (void)st;
    const char *path = tmp_path("people.csv");
    write_text(path, "\xef\xbb\xbfuser,age,colour,income,bought\n"
                     "10,31,red,1.5,yes\n"
                     "2,40,\"blue, dark\",2.25,no\r\n"
                     "10,22,green,-3e2,yes\n"
                     "2,57,red,0,\"no\"\n"
                     "\n"
                     "7,18,green,1e-3,maybe");
    dataset ds;
    imp_csv_opts o = {path, NULL, "bought", "user", 0, 1, 0};
    assert_int_equal(imp_csv(&o, &ds), FS_OK);
    /* features: age, one-hot colour (blue dark, green, red), income */
    assert_int_equal(ds.feat, 5);
    assert_int_equal(ds.dtype, DS_F32);
    assert_int_equal(ds.train.n, 5);
    assert_int_equal(ds.test.n, 0);
    const float want[5][5] = {{31, 0, 0, 1, 1.5f},
                              {40, 1, 0, 0, 2.25f},
                              {22, 0, 1, 0, -300},
                              {57, 0, 0, 1, 0},
                              {18, 0, 1, 0, 0.001f}};
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 5; j++)
            assert_float_equal(((float *)ds.train.x)[i * 5 + j], want[i][j], 1e-6);
    /* labels are words: numbered in sorted order, kept as class names */
    assert_int_equal(ds.n_classes, 3);
    assert_string_equal(ds_name_at(&ds.class_names, 0), "maybe");
    assert_string_equal(ds_name_at(&ds.class_names, 2), "yes");
    const int32_t wy[5] = {2, 1, 2, 1, 0};
    assert_memory_equal(ds.train.y, wy, sizeof wy);
    /* clients are integers: numbered in numeric order 2, 7, 10 */
    assert_int_equal(ds.n_natural, 3);
    assert_string_equal(ds_name_at(&ds.client_names, 2), "10");
    const int32_t wc[5] = {2, 0, 2, 0, 1};
    assert_memory_equal(ds.train.client, wc, sizeof wc);
    ds_free(&ds);

    /* integer labels are kept; a random half of each client's rows go to test */
    write_text(path, "a,b,label\n1,2,0\n3,4,3\n5,6,0\n7,8,3\n9,10,3\n11,12,0\n");
    imp_csv_opts o2 = {path, NULL, "label", NULL, 0.5, 3, 0};
    assert_int_equal(imp_csv(&o2, &ds), FS_OK);
    assert_int_equal(ds.n_classes, 4);
    assert_int_equal(ds.train.n, 3);
    assert_int_equal(ds.test.n, 3);
    assert_null(ds.train.client);
    float sum = 0; /* train + test rows are the 6 rows: column a sums to 36 */
    for (int i = 0; i < 3; i++) sum += ((float *)ds.train.x)[i * 2] + ((float *)ds.test.x)[i * 2];
    assert_float_equal(sum, 36, 0);
    ds_free(&ds);

    /* errors name the file and line */
    write_text(path, "a,b,label\n1,2,0\n3,4\n");
    assert_int_equal(imp_csv(&o2, &ds), FS_EDATA);
    assert_msg_has("people.csv:3: 2 fields, but the header has 3");
    write_text(path, "a,b,label\n1,2,0\n3,,1\n");
    assert_int_equal(imp_csv(&o2, &ds), FS_EDATA);
    assert_msg_has("people.csv:3: column 'b' is empty");
    write_text(path, "a,b,label\n1,\"2,0\n");
    assert_int_equal(imp_csv(&o2, &ds), FS_EDATA);
    assert_msg_has("not closed");
    o2.label = "y";
    write_text(path, "a,b,label\n1,2,0\n");
    assert_int_equal(imp_csv(&o2, &ds), FS_EINPUT);
    assert_msg_has("no column named 'y'");
}

/* ---------------------------------------------------------------- store */

static void small_dataset(dataset *ds, size_t n)
{
    memset(ds, 0, sizeof *ds);
    snprintf(ds->name, sizeof ds->name, "small");
    snprintf(ds->source, sizeof ds->source, "test");
    snprintf(ds->import_date, sizeof ds->import_date, "2024-01-01");
    snprintf(ds->checksum, sizeof ds->checksum, "none");
    ds->dtype = DS_U8;
    ds->task = DS_CLASSIFY;
    ds->shape[0] = 1;
    ds->shape[1] = 8;
    ds->shape[2] = 8;
    ds->feat = 64;
    ds->y_len = 1;
    ds->n_classes = 3;
    ds->x_scale = 1.0f / 255;
    ds->n_natural = 4;
    assert_int_equal(ds_split_alloc(ds, &ds->train, n, 1), FS_OK);
    assert_int_equal(ds_split_alloc(ds, &ds->test, 10, 0), FS_OK);
    for (size_t i = 0; i < n * 64; i++) ((uint8_t *)ds->train.x)[i] = (uint8_t)(i * 31 % 251);
    for (size_t i = 0; i < n; i++) {
        ds->train.y[i] = (int32_t)(i % 3);
        ds->train.client[i] = (int32_t)(i % 4);
    }
    const char *names[4] = {"w", "x", "y", "z"};
    assert_int_equal(ds_names_set(&ds->client_names, 4, names), FS_OK);
}

/* Set a root attribute of an existing file. */
static void set_int_attr(const char *path, const char *name, int32_t v)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t a = H5Aopen(f, name, H5P_DEFAULT);
    H5Awrite(a, H5T_NATIVE_INT32, &v);
    H5Aclose(a);
    H5Fclose(f);
}

static void test_store_corrupt(void **st)
{
    (void)st;
    dataset ds, back;
    small_dataset(&ds, 2000); /* 128,000 bytes of x: chunked, compressed, checksummed */
    const char *path = tmp_path("small.h5");
    assert_int_equal(ds_save(path, &ds), FS_OK);
    assert_int_equal(ds_load(path, &back), FS_OK);
    assert_memory_equal(back.train.x, ds.train.x, 2000 * 64);
    assert_string_equal(ds_name_at(&back.client_names, 3), "z");
    ds_free(&back);

    /* truncated to half */
    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *bytes = malloc((size_t)size);
    assert_int_equal(fread(bytes, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    const char *cut = tmp_path("small-cut.h5");
    f = fopen(cut, "wb");
    fwrite(bytes, 1, (size_t)size / 2, f);
    fclose(f);
    assert_int_equal(ds_load(cut, &back), FS_EDATA);
    assert_msg_has("small-cut.h5");
    /* flipped bytes inside the first compressed chunk of /train/x: the checksum catches it */
    hid_t h = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t dx = H5Dopen2(h, "/train/x", H5P_DEFAULT);
    hsize_t chunk_off[2];
    unsigned filter_mask;
    haddr_t addr;
    hsize_t chunk_size;
    hid_t dsp = H5Dget_space(dx);
    assert_true(H5Dget_chunk_info(dx, dsp, 0, chunk_off, &filter_mask, &addr, &chunk_size) >= 0);
    H5Sclose(dsp);
    H5Dclose(dx);
    H5Fclose(h);
    assert_true(addr + chunk_size <= (haddr_t)size && chunk_size > 64);
    const char *flip = tmp_path("small-flip.h5");
    for (hsize_t i = addr + chunk_size / 2; i < addr + chunk_size / 2 + 16; i++) bytes[i] ^= 0x5a;
    f = fopen(flip, "wb");
    fwrite(bytes, 1, (size_t)size, f);
    fclose(f);
    assert_int_equal(ds_load(flip, &back), FS_EDATA);
    assert_msg_has("small-flip.h5");
    free(bytes);

    /* a newer format version */
    set_int_attr(path, "version", 99);
    assert_int_equal(ds_load(path, &back), FS_EDATA);
    assert_msg_has("format version 99");
    /* client ids beyond n_natural: layout[7] (n_natural) lowered to 3 */
    assert_int_equal(ds_save(path, &ds), FS_OK);
    h = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t a = H5Aopen(h, "layout", H5P_DEFAULT);
    int32_t lay[8];
    H5Aread(a, H5T_NATIVE_INT32, lay);
    lay[7] = 3;
    H5Awrite(a, H5T_NATIVE_INT32, lay);
    H5Aclose(a);
    H5Fclose(h);
    assert_int_equal(ds_load(path, &back), FS_EDATA);
    assert_msg_has("/train/client[3] = 3 is outside [0, 3)");
    /* a row count that disagrees with the arrays */
    assert_int_equal(ds_save(path, &ds), FS_OK);
    h = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t g = H5Gopen2(h, "train", H5P_DEFAULT);
    a = H5Aopen(g, "n", H5P_DEFAULT);
    uint64_t wrong = 1999;
    H5Awrite(a, H5T_NATIVE_UINT64, &wrong);
    H5Aclose(a);
    H5Gclose(g);
    H5Fclose(h);
    assert_int_equal(ds_load(path, &back), FS_EDATA);
    assert_msg_has("/train/x has shape (2000, 64), expected (1999, 64)");
    ds_free(&ds);
}

/* The recorded kind (name attribute) must match data.dataset fashion-mnist or kjv: a kjv
 * scenario pointing at the Fashion-MNIST file is refused naming both; file takes anything */
static void test_kind(void **st)
{
    (void)st;
    dataset ds;
    small_dataset(&ds, 40);
    snprintf(ds.name, sizeof ds.name, "fashion-mnist");
    const char *path = tmp_path("kind.h5");
    assert_int_equal(ds_save(path, &ds), FS_OK);
    ds_free(&ds);
    assert_int_equal(ds_check_kind(path, "fashion-mnist"), FS_OK);
    assert_int_equal(ds_check_kind(path, "file"), FS_OK);
    assert_int_equal(ds_check_kind(path, "kjv"), FS_EINPUT);
    assert_msg_has("data.dataset is kjv but");
    assert_msg_has("holds the dataset 'fashion-mnist'");
    /* missing or not a dataset: left to ds_load, which names the problem */
    assert_int_equal(ds_check_kind(tmp_path("none.h5"), "kjv"), FS_OK);
    write_text(tmp_path("junk.h5"), "not hdf5");
    assert_int_equal(ds_check_kind(tmp_path("junk.h5"), "fashion-mnist"), FS_OK);
}

static int setup(void **st)
{
    (void)st;
    if (!mkdtemp(tmpdir)) return -1;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL); /* the tests expect HDF5 errors */
    log_set_level(LOG_WARN);
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kjv),          cmocka_unit_test(test_kjv_text_file),
        cmocka_unit_test(test_tff_emnist),   cmocka_unit_test(test_tff_uint8_hwc),
        cmocka_unit_test(test_tff_snippets), cmocka_unit_test(test_tff_corrupt),
        cmocka_unit_test(test_csv),          cmocka_unit_test(test_store_corrupt),
        cmocka_unit_test(test_kind),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
