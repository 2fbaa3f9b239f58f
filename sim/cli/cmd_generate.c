/* `fedsim generate CHECKPOINT --prompt TEXT [--length N] [--temperature T] [--seed S]`: sample
 * text from a sequence-model checkpoint (char_lstm, or a custom model starting with an
 * embedding). The model is rebuilt for one step at a time with its LSTM state carried from
 * step to step, fed the prompt, then its own samples: next symbol ~ softmax(logits / T)
 * (T = 0: the most likely symbol). Draws come from the stream (seed, RNG_EVAL, 1, 0), so a
 * seed gives the same text every time. Prints the prompt followed by the generated text. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "nn/checkpoint.h"

/* Index of the next symbol: argmax at t = 0, else a draw from softmax(z / t). */
static int sample_symbol(const float *z, int V, double t, rng_t *r)
{
    int best = 0;
    for (int k = 1; k < V; k++)
        if (z[k] > z[best]) best = k;
    if (t <= 0) return best;
    double sum = 0, u;
    for (int k = 0; k < V; k++) sum += exp(((double)z[k] - z[best]) / t);
    u = rng_uniform(r) * sum;
    for (int k = 0; k < V; k++) {
        u -= exp(((double)z[k] - z[best]) / t);
        if (u < 0) return k;
    }
    return best;
}

static int parse_num(const char *opt, const char *v, double lo, double hi, double *out)
{
    char *end;
    double x = strtod(v, &end);
    if (*end || !(x >= lo && x <= hi)) {
        char msg[160];
        snprintf(msg, sizeof msg, "%s takes a number in [%g, %g], got '%s'", opt, lo, hi, v);
        return cli_usage_error(msg);
    }
    *out = x;
    return 0;
}

int cmd_generate(int argc, char **argv)
{
    const char *path = NULL, *prompt = NULL;
    double length = 200, temperature = 0.8, seed = 1;
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i];
        int rc = 0;
        if (strcmp(s, "--prompt") == 0 || strcmp(s, "--length") == 0 ||
            strcmp(s, "--temperature") == 0 || strcmp(s, "--seed") == 0) {
            if (i + 1 >= argc) {
                char msg[64];
                snprintf(msg, sizeof msg, "%s needs a value", s);
                return cli_usage_error(msg);
            }
            const char *v = argv[++i];
            if (strcmp(s, "--prompt") == 0)
                prompt = v;
            else if (strcmp(s, "--length") == 0)
                rc = parse_num(s, v, 0, 1e7, &length);
            else if (strcmp(s, "--temperature") == 0)
                rc = parse_num(s, v, 0, 100, &temperature);
            else
                rc = parse_num(s, v, 0, 9007199254740992.0, &seed);
            if (rc) return rc;
        } else if (s[0] == '-') {
            char msg[300];
            snprintf(msg, sizeof msg,
                     "unknown option '%s' (generate CHECKPOINT --prompt TEXT "
                     "[--length N] [--temperature T] [--seed S])",
                     s);
            return cli_usage_error(msg);
        } else if (!path) {
            path = s;
        } else {
            return cli_usage_error("generate takes one checkpoint");
        }
    }
    if (!path) return cli_usage_error("generate needs a checkpoint file (.h5)");
    if (!prompt || !prompt[0]) return cli_usage_error("generate needs --prompt TEXT (not empty)");
    const int one[3] = {1, 1, 1};
    nn_model *m = calloc(1, sizeof *m);
    if (!m) return cli_fail(fs_error(FS_ENOMEM, "out of memory"));
    float *p = NULL;
    nn_ckpt_meta meta;
    fs_err e = nn_ckpt_load_model(path, one, m, &p, &meta);
    if (!e && (!m->seq_len || !meta.vocab[0]))
        e = fs_error(FS_EINPUT,
                     "%s: model '%s' is not a text model with a vocabulary (generate needs a "
                     "char_lstm checkpoint)",
                     path, m->name);
    if (!e && (int)strlen(meta.vocab) != m->n_classes)
        e = fs_error(FS_EDATA, "%s: vocabulary of %zu symbols for %d outputs", path,
                     strlen(meta.vocab), m->n_classes);
    for (const char *c = prompt; !e && *c; c++)
        if (!strchr(meta.vocab, *c))
            e = fs_error(FS_EINPUT,
                         "the prompt's character '%c' is not in the model's vocabulary "
                         "\"%s\"",
                         *c, meta.vocab);
    nn_worker w;
    memset(&w, 0, sizeof w);
    if (!e) e = nn_worker_init(&w, m, 1);
    if (e) {
        nn_worker_free(&w);
        free(p);
        free(m);
        return cli_fail(e);
    }
    w.carry = 1;
    nn_worker_reset_state(&w);
    rng_t r;
    rng_init(&r, (uint64_t)seed, RNG_EVAL, 1, 0);
    fputs(prompt, stdout);
    const float *z = NULL;
    for (const char *c = prompt; *c; c++) {
        nn_input(&w)[0] = (float)(strchr(meta.vocab, *c) - meta.vocab);
        z = nn_infer(&w, p, 1);
    }
    for (long i = 0; i < (long)length; i++) {
        const int k = sample_symbol(z, m->n_classes, temperature, &r);
        putchar(meta.vocab[k]);
        nn_input(&w)[0] = (float)k;
        z = nn_infer(&w, p, 1);
    }
    putchar('\n');
    nn_worker_free(&w);
    free(p);
    free(m);
    return 0;
}
