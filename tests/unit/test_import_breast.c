/* The breast-cancer importer (data/import_breast.c): on a small table in sklearn's format, the
 * stratified split, the standardisation with the training split's statistics (values computed
 * by hand below) and the file:line errors; on Debian's real file when installed, the sizes. */
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

#include "data/importers.h"

/* 569 rows where feature j of row i is i + j and the label is i % 3 == 0 (190 malignant). */
static void write_table(const char *path, const char *header, int rows, const char *bad_row)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "%s\n", header);
    for (int i = 0; i < rows; i++) {
        if (bad_row && i == 3) {
            fprintf(f, "%s\n", bad_row);
            continue;
        }
        for (int j = 0; j < 30; j++) fprintf(f, "%d,", i + j);
        fprintf(f, "%d\n", i % 3 == 0 ? 0 : 1);
    }
    fclose(f);
}

static void test_synthetic_table(void **state)
{
    (void)state;
    char path[] = "/tmp/fedsim_bc_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    write_table(path, "569,30,malignant,benign", 569, NULL);
    dataset ds;
    assert_int_equal(imp_breast_cancer(path, 0.2, 1, &ds), FS_OK);
    /* 190 of class 0 and 379 of class 1: round(38) + round(75.8) = 38 + 76 test samples */
    assert_int_equal(ds.test.n, 114);
    assert_int_equal(ds.train.n, 455);
    assert_int_equal(ds.n_classes, 2);
    assert_int_equal((int)ds.feat, 30);
    assert_string_equal(ds_name_at(&ds.class_names, 0), "malignant");
    long c0 = 0;
    for (size_t i = 0; i < ds.test.n; i++) c0 += ds.test.y[i] == 0;
    assert_int_equal(c0, 38);
    /* standardised with the training statistics: every training column has mean 0 and
     * population sd 1; feature j = i + j, so all columns standardise to the same values and
     * the rows keep file order (increasing) */
    for (int j = 0; j < 30; j += 29) {
        double m = 0, s = 0;
        for (size_t i = 0; i < ds.train.n; i++) m += ((float *)ds.train.x)[i * 30 + j];
        m /= (double)ds.train.n;
        for (size_t i = 0; i < ds.train.n; i++) {
            const double d = ((float *)ds.train.x)[i * 30 + j] - m;
            s += d * d;
        }
        assert_true(fabs(m) < 1e-6);
        assert_true(fabs(sqrt(s / (double)ds.train.n) - 1) < 1e-6);
    }
    const float *x = ds.train.x;
    assert_true(x[0] == x[29] && x[30] > x[0]);
    ds_free(&ds);
    /* bad input: header, a field, the row count */
    write_table(path, "500,30,malignant,benign", 569, NULL);
    assert_int_equal(imp_breast_cancer(path, 0.2, 1, &ds), FS_EDATA);
    assert_non_null(strstr(fs_errmsg(), ":1: expected the header"));
    write_table(path, "569,30,malignant,benign", 569, "1,2,x");
    assert_int_equal(imp_breast_cancer(path, 0.2, 1, &ds), FS_EDATA);
    assert_non_null(strstr(fs_errmsg(), ":5: field 3 is not a number"));
    write_table(path, "569,30,malignant,benign", 568, NULL);
    assert_int_equal(imp_breast_cancer(path, 0.2, 1, &ds), FS_EDATA);
    assert_non_null(strstr(fs_errmsg(), "568 samples, the header says 569"));
    unlink(path);
    assert_int_equal(imp_breast_cancer(path, 0.2, 1, &ds), FS_EINPUT);
}

static void test_debian_file(void **state)
{
    (void)state;
    if (access(BREAST_CANCER_CSV, R_OK) != 0) {
        fprintf(stderr, "skipped: %s not installed (python3-sklearn)\n", BREAST_CANCER_CSV);
        return;
    }
    dataset ds;
    assert_int_equal(imp_breast_cancer(NULL, 0.2, 1, &ds), FS_OK);
    assert_int_equal(ds.train.n + ds.test.n, 569);
    assert_int_equal(ds.test.n, 113); /* round(0.2 * 212) + round(0.2 * 357) = 42 + 71 */
    long benign = 0;
    for (size_t i = 0; i < ds.train.n; i++) benign += ds.train.y[i];
    for (size_t i = 0; i < ds.test.n; i++) benign += ds.test.y[i];
    assert_int_equal(benign, 357);
    ds_free(&ds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_synthetic_table),
        cmocka_unit_test(test_debian_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
