/* The fedsim command. Parses the command line, turns library error codes into messages and
 * exit statuses (2: bad input or data, 1: other failures, 130: interrupted), and is the only
 * place that exits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "util/h5.h"

#ifndef FEDSIM_GIT_REV
#define FEDSIM_GIT_REV "unknown"
#endif

/* One row per command (each lives in sim/cli/) with its synopsis, which `fedsim help`,
 * `fedsim help COMMAND` and `fedsim COMMAND --help` print. */
static const struct {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *synopsis;
} commands[] = {
    {"run", cmd_run,
     "  run FILE [--set key.path=value ...] [--db PATH] [-j N] [--quiet]\n"
     "                       run a scenario; metrics go to SQLite (default\n"
     "                       results/<name>.db)\n"},
    {"validate", cmd_validate,
     "  validate FILE [--set ...]\n"
     "                       check a scenario without running it\n"},
    {"data", cmd_data,
     "  data import fashion-mnist [--dir DIR] [--out FILE]\n"
     "                       build datasets/fashion-mnist.h5 from Debian's\n"
     "                       dataset-fashion-mnist IDX files\n"
     "  data import kjv [--clients chapters|books] [--seq-len T] [--out FILE]\n"
     "                       the King James Bible (Debian's bible-kjv) as a\n"
     "                       next-character task -> datasets/kjv.h5\n"
     "  data import breast-cancer [--test-fraction F] [--seed S] [--out FILE]\n"
     "                       Wisconsin breast cancer from Debian's python3-sklearn\n"
     "                       -> datasets/breast_cancer.h5 (vertical learning)\n"
     "  data import tff-h5 --train FILE [--test FILE] --out FILE\n"
     "  data import csv FILE --label COL [--client COL] --out FILE\n"
     "                       TensorFlow Federated HDF5 files; your own tables\n"
     "  data info FILE       describe a dataset file\n"
     "  data stats FILE|SCENARIO [--partition KIND] [--clients N] [--set ...]\n"
     "           [--json] [--matrix OUT.csv]\n"
     "                       client sizes, classes per client, label EMD of a\n"
     "                       partition (docs/datasets.md)\n"},
    {"keys", cmd_keys, "  keys [--markdown]    every scenario key with type, default and range\n"},
    {"sweep", cmd_sweep,
     "  sweep FILE [--jobs N] [--threads T] [--db PATH] [--set ...] [--dry-run]\n"
     "                       run the grid x seeds of the file's sweep section in N\n"
     "                       worker processes into one database; resumable\n"},
    {"info", cmd_info,
     "  info DB [--all] [--sweep ID] [--target ACC]\n"
     "                       list the runs of a database: swept values, status,\n"
     "                       final metrics; time and bytes to a test accuracy\n"},
    {"export", cmd_export,
     "  export DB [--format csv] [--out FILE] [--all] [--sweep ID]\n"
     "                       rounds of the completed runs with their parameters\n"},
    {"train-central", cmd_train_central,
     "  train-central FILE [--epochs N] [--out FILE.h5] [--set ...] [--db PATH]\n"
     "                       train the scenario's model on the pooled data (the\n"
     "                       upper-bound baseline; a pretrained checkpoint)\n"},
    {"generate", cmd_generate,
     "  generate CHECKPOINT --prompt TEXT [--length N] [--temperature T] [--seed S]\n"
     "                       sample text from a char_lstm checkpoint\n"},
    {"bench", cmd_bench,
     "  bench kernels|engine|secagg|he|fl|all [--seconds S]\n"
     "        kernels: [--models a,b] [--batches 10,32] [--profile] [--conv direct|im2col]\n"
     "                 [--simd base|avx2|avx512]\n"
     "        fl: [--model M] [--batch B] [--threads T] [--clients N] [--per-round K]\n"
     "            [--rounds R] [--simd base|avx2|avx512] [--no-kernels]\n"
     "                       benchmarks (docs/performance.md); numbers only\n"},
    {"privacy", cmd_privacy,
     "  privacy --q Q --z Z --steps T --delta D [--conversion improved|classic]\n"
     "          [--orders default|int|LO-HI|list]\n"
     "                       epsilon of T steps of the Poisson-subsampled Gaussian\n"
     "                       mechanism (the DP accountant); --target-eps E instead\n"
     "                       of --z solves for z (docs/privacy.md)\n"},
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static const char tail[] =
    "  help [COMMAND]       this text, or one command's\n"
    "  version              print the version\n"
    "\n"
    "Exit status: 0 success, 2 bad scenario/argument/data, 1 other failure,\n"
    "130 interrupted. See README.md and docs/.\n";

static void usage(FILE *out)
{
    fputs("usage: fedsim COMMAND [ARGS]   (fedsim COMMAND --help: that command)\n\n", out);
    for (size_t i = 0; i < N_COMMANDS; i++) fputs(commands[i].synopsis, out);
    fputs(tail, out);
}

/* A command's own help: its synopsis and the exit statuses. */
static int command_help(size_t i)
{
    printf("usage:\n%s\n", commands[i].synopsis);
    puts("Exit status: 0 success, 2 bad scenario/argument/data, 1 other failure, 130 "
         "interrupted.\nEvery option and scenario key: README.md, docs/ (docs/scenario.md).");
    return 0;
}

/* --help or -h anywhere among a command's arguments (before a lone "--"). */
static int wants_help(int argc, char **argv)
{
    for (int i = 0; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) return 1;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    h5_silence(); /* HDF5 failures are reported as one line each, by fedsim */
    const char *cmd = argv[1];
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(cmd, commands[i].name) == 0)
            return wants_help(argc - 2, argv + 2) ? command_help(i)
                                                  : commands[i].fn(argc - 2, argv + 2);
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
#ifdef FEDSIM_MPI
        printf("fedsim 0.1.0 (%s, MPI)\n", FEDSIM_GIT_REV); /* mpirun -n R fedsim run|sweep */
#else
        printf("fedsim 0.1.0 (%s)\n", FEDSIM_GIT_REV);
#endif
        return 0;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        if (argc > 2) {
            for (size_t i = 0; i < N_COMMANDS; i++)
                if (strcmp(argv[2], commands[i].name) == 0) return command_help(i);
            fprintf(stderr, "fedsim: error: no command '%s' (fedsim help lists them)\n", argv[2]);
            return 2;
        }
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "fedsim: error: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
