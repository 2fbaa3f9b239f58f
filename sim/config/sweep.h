/* Sweeps: the `sweep:` section of a scenario expanded into the list of runs it stands for, and
 * the run key that identifies a run by its resolved parameters.
 *
 * A run of a sweep is the base scenario plus one `--set key.path=value` override per swept key,
 * so every swept value goes through the same parsing and validation as a scenario value; an error
 * points at the value (or key) inside the sweep section as file:line:col. Expansion order: grid
 * keys in file order (the first varies slowest), then zip groups, then seeds (fastest).
 * See docs/sweeps.md. */
#ifndef FEDSIM_SWEEP_H
#define FEDSIM_SWEEP_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "util/err.h"

#define SWEEP_KEY_LEN  16 /* hex digits of a run key */
#define SWEEP_ID_MAX   64
#define SWEEP_RUNS_MAX 100000

typedef struct sweep_run {
    int index;  /* 1-based, in expansion order */
    int n_sets; /* the sweep's overrides for this run, "key.path=value" (seed last) */
    char **sets;
    char *swept_json; /* {"key.path": value, ...}: the swept keys but seed, resolved values */
    char *label;      /* "key.path=value ... seed=N", as written in the sweep section */
    uint64_t seed;
    int rounds;                  /* rounds.count of the run */
    char key[SWEEP_KEY_LEN + 1]; /* sweep_compute_key of the run's resolved scenario */
} sweep_run;

typedef struct sweep_plan {
    char id[SWEEP_ID_MAX]; /* sweep.name, or the scenario's name */
    char db[CFG_STR];      /* the base scenario's output.db, or results/<id>.db */
    int n_keys;            /* swept key paths, seed excluded, in file order */
    char **keys;
    int n_seeds; /* length of sweep.seeds (0: each run keeps its scenario's seed) */
    int n_runs;
    sweep_run *runs;
} sweep_plan;

/* A check of every expanded run after cfg_validate, by a layer above config (the engine's
 * sim_check_algorithm: what the algorithm table rules out); it fills d like cfg_validate. */
typedef fs_err (*sweep_check)(const cfg *c, const char *file, cfg_diag *d);

/* Read the scenario file at path, apply the user's overrides (as `fedsim run --set` would),
 * and expand its sweep section. Every expanded run is validated with cfg_validate and check
 * (NULL: none). On a bad scenario or sweep section returns FS_EINPUT with d filled
 * (file:line:col). */
fs_err sweep_load_plan(const char *path, const char *const *overrides, int n_overrides,
                       sweep_check check, sweep_plan *p, cfg_diag *d);

/* The same from the scenario text; path names the file in messages and derives the name. */
fs_err sweep_parse_plan(const char *text, size_t len, const char *path,
                        const char *const *overrides, int n_overrides, sweep_check check,
                        sweep_plan *p, cfg_diag *d);

void sweep_free_plan(sweep_plan *p);

/* The run key of a resolved scenario: 16 hex digits of a 64-bit hash of cfg_to_json with the
 * keys that cannot change results (name, threads, output.db) blanked. Same parameters, same
 * key, whatever the machine, thread count or database. */
fs_err sweep_compute_key(const cfg *c, char out[SWEEP_KEY_LEN + 1]);

#endif
