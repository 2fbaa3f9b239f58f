/* The scenario key table as a list of sections, each declared in its own file next to its
 * cross-key checks, and the lookups over it: a key by index or path, the sections, the keys with
 * a structure of their own (cfg_list_key), and cfg_validate, which runs every section's checks in
 * table order. A new scenario section is a new sec_*.c file with its keys and checks plus its
 * entry below. No global state: the tables are const. */
#include "config/config_int.h"
#include "config/personal.h"
#include "config/vertical.h"

#include <string.h>

/* sec_run.c */
extern const cfg_key cfg_keys_general[], cfg_keys_eval[], cfg_keys_checkpoint[], cfg_keys_output[];
fs_err cfg_check_general(const cfg *c, const char *file, cfg_diag *d);
/* sec_data.c */
extern const cfg_key cfg_keys_data[], cfg_keys_partition[];
fs_err cfg_check_data(const cfg *c, const char *file, cfg_diag *d);
/* sec_model.c */
extern const cfg_key cfg_keys_model[];
fs_err cfg_check_model(const cfg *c, const char *file, cfg_diag *d);
/* sec_train.c */
extern const cfg_key cfg_keys_train[], cfg_keys_algorithm[], cfg_keys_rounds[], cfg_keys_protocol[],
    cfg_keys_async[];
fs_err cfg_check_train(const cfg *c, const char *file, cfg_diag *d);
/* sec_systems.c */
extern const cfg_key cfg_keys_devices[], cfg_keys_network[], cfg_keys_availability[],
    cfg_keys_dropout[];
/* sec_privacy.c */
extern const cfg_key cfg_keys_privacy[];
fs_err cfg_check_privacy(const cfg *c, const char *file, cfg_diag *d);
/* vertical.c */
extern const cfg_key cfg_keys_vertical[];
/* sec_robust.c */
extern const cfg_key cfg_keys_adversary[], cfg_keys_aggregation[];
fs_err cfg_check_robust(const cfg *c, const char *file, cfg_diag *d);
/* sec_efficiency.c */
extern const cfg_key cfg_keys_compression[], cfg_keys_selection[];
fs_err cfg_efficiency_validate(const cfg *c, const char *file, cfg_diag *d);

/* In the order of the JSON of resolved parameters (run keys hash it: existing sections keep their
 * place) and of docs/scenario.md; cfg_validate runs the checks in this order. */
const cfg_section cfg_sections[] = {
    {cfg_keys_general, cfg_check_general},
    {cfg_keys_data, cfg_check_data},
    {cfg_keys_partition, NULL},
    {cfg_keys_model, cfg_check_model},
    {cfg_keys_train, cfg_check_train},
    {cfg_keys_algorithm, NULL},
    {cfg_keys_rounds, NULL},
    {cfg_keys_protocol, NULL},
    {cfg_keys_async, NULL},
    {cfg_keys_devices, NULL},
    {cfg_keys_network, NULL},
    {cfg_keys_availability, NULL},
    {cfg_keys_dropout, NULL},
    {cfg_keys_privacy, cfg_check_privacy},
    {cfg_keys_vertical, cfg_vertical_validate},
    {cfg_keys_eval, cfg_personal_validate},
    {cfg_keys_checkpoint, NULL},
    {cfg_keys_adversary, NULL},
    {cfg_keys_aggregation, cfg_check_robust},
    {cfg_keys_compression, cfg_efficiency_validate},
    {cfg_keys_selection, NULL},
    {cfg_keys_output, NULL},
};
const int cfg_n_sections = (int)(sizeof cfg_sections / sizeof cfg_sections[0]);

/* In the order of the JSON (model.layers before vertical.parties before model.freeze). */
const cfg_list_key *const cfg_list_keys[] = {&cfg_lk_layers, &cfg_lk_parties, &cfg_lk_freeze};
const int cfg_n_list_keys = (int)(sizeof cfg_list_keys / sizeof cfg_list_keys[0]);

const cfg_key *cfg_key_at(int i)
{
    if (i < 0) return NULL;
    for (int s = 0; s < cfg_n_sections; s++) {
        const cfg_key *k = cfg_sections[s].keys;
        for (; k->path; k++)
            if (i-- == 0) return k;
    }
    return NULL;
}

int cfg_key_count(void)
{
    int n = 0;
    for (int s = 0; s < cfg_n_sections; s++)
        for (const cfg_key *k = cfg_sections[s].keys; k->path; k++) n++;
    return n;
}

int cfg_key_index(const char *path)
{
    int i = 0;
    for (int s = 0; s < cfg_n_sections; s++)
        for (const cfg_key *k = cfg_sections[s].keys; k->path; k++, i++)
            if (strcmp(k->path, path) == 0) return i;
    return -1;
}

const cfg_list_key *cfg_list_key_find(const char *path)
{
    for (int i = 0; i < cfg_n_list_keys; i++)
        if (strcmp(cfg_list_keys[i]->path, path) == 0) return cfg_list_keys[i];
    return NULL;
}

const cfg_origin *cfg_list_origin(const cfg *c, const cfg_list_key *lk)
{
    return (const cfg_origin *)(const void *)((const char *)c + lk->origin);
}

bool cfg_is_section(const char *path)
{
    size_t n = strlen(path);
    if (n == 0) return true;
    const cfg_key *k;
    for (int i = 0; (k = cfg_key_at(i)); i++)
        if (strncmp(k->path, path, n) == 0 && k->path[n] == '.') return true;
    return false;
}

const char *cfg_last_component(const char *path)
{
    const char *dot = strrchr(path, '.');
    return dot ? dot + 1 : path;
}

void cfg_parent_of(const char *path, char *buf, size_t n)
{
    const char *dot = strrchr(path, '.');
    size_t len = dot ? (size_t)(dot - path) : 0;
    if (len >= n) len = n - 1;
    memcpy(buf, path, len);
    buf[len] = '\0';
}

bool cfg_explicit(const cfg *c, const char *path)
{
    return c->origin[cfg_key_index(path)].line > 0;
}

fs_err cfg_validate(const cfg *c, const char *file, cfg_diag *d)
{
    cfg_diag scratch;
    if (!d) d = &scratch;
    memset(d, 0, sizeof *d);
    for (int s = 0; s < cfg_n_sections; s++) {
        if (!cfg_sections[s].check) continue;
        fs_err e = cfg_sections[s].check(c, file, d);
        if (e) return e;
    }
    return FS_OK;
}
