/* Attacks of malicious clients (see attack.h). Each update rule cites its paper. */
#include "fl/attack/attack.h"

#include <gsl/gsl_cdf.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const names[] = {"none",     "label_flip", "sign_flip", "gaussian", "scaling",
                                    "backdoor", "alie",       "ipm",       "min_max",  "min_sum"};

int atk_parse(const char *name)
{
    for (int i = 0; i < (int)(sizeof names / sizeof names[0]); i++)
        if (strcmp(names[i], name) == 0) return i;
    return -1;
}

const char *atk_name(atk_kind k)
{
    return names[k];
}

int atk_on_data(atk_kind k)
{
    return k == ATK_LABEL_FLIP || k == ATK_BACKDOOR;
}

int atk_omniscient(atk_kind k)
{
    return k == ATK_ALIE || k == ATK_IPM || k == ATK_MINMAX || k == ATK_MINSUM;
}

void atk_stamp(const atk_params *a, const dataset *ds, float *x, size_t b)
{
    const int C = ds->shape[0], H = ds->shape[1], W = ds->shape[2];
    const int t = a->trigger < H ? a->trigger : H, tw = a->trigger < W ? a->trigger : W;
    const float hi = ds->dtype == DS_U8 ? 255.0f * ds->x_scale : 1.0f;
    for (size_t s = 0; s < b; s++)
        for (int c = 0; c < C; c++)
            for (int i = 0; i < t; i++)
                for (int j = 0; j < tw; j++) {
                    const size_t at =
                        s * ds->feat + ((size_t)c * H + (H - t + i)) * W + (W - tw + j);
                    x[at] = (i + j) % 2 == 0 ? hi : 0.0f;
                }
}

void atk_poison_batch(const atk_params *a, const dataset *ds, float *x, int32_t *y, size_t b)
{
    if (a->kind == ATK_LABEL_FLIP) {
        /* label flipping (Biggio et al. 2012; Blades' "labelflipping": y -> C - 1 - y) */
        for (size_t s = 0; s < b; s++) y[s] = a->n_classes - 1 - y[s];
    } else if (a->kind == ATK_BACKDOOR) {
        /* Bagdasaryan et al., "How To Backdoor Federated Learning", AISTATS 2020, Sec. 4: the
         * attacker mixes triggered, relabelled samples into every batch of its training */
        const size_t np = (size_t)lround(a->poison_frac * (double)b);
        atk_stamp(a, ds, x, np);
        for (size_t s = 0; s < np; s++) y[s] = a->target;
    }
}

void atk_project(const atk_params *a, const float *global, float *params, size_t n)
{
    /* constrain-and-scale with a norm constraint (Bagdasaryan et al. 2020, Sec. 4; as projected
     * gradient descent in Sun et al. 2019 and Wang et al. 2020) */
    if (!(a->norm_bound > 0)) return;
    double s2 = 0;
    for (size_t i = 0; i < n; i++) {
        const double dl = (double)params[i] - (double)global[i];
        s2 += dl * dl;
    }
    const double nrm = sqrt(s2);
    if (nrm <= a->norm_bound) return;
    const double sc = a->norm_bound / nrm;
    for (size_t i = 0; i < n; i++)
        params[i] = (float)((double)global[i] + sc * ((double)params[i] - (double)global[i]));
}

void atk_own(const atk_params *a, float *u, size_t d, rng_t *r)
{
    switch (a->kind) {
    case ATK_SIGN_FLIP: /* Damaskinos et al. 2018; Blades' "signflipping": -u */
        for (size_t i = 0; i < d; i++) u[i] = (float)(-a->scale * (double)u[i]);
        break;
    case ATK_SCALING:  /* model replacement (Bagdasaryan et al. 2020, Sec. 4: gamma = n / eta) */
    case ATK_BACKDOOR: /* the backdoor's update, scaled when adversary.scale > 1 */
        if (a->scale != 1)
            for (size_t i = 0; i < d; i++) u[i] = (float)(a->scale * (double)u[i]);
        break;
    case ATK_GAUSSIAN: /* random updates (Blanchard et al. 2017, Sec. 6: Gaussian Byzantine) */
        for (size_t i = 0; i < d; i++) u[i] = (float)(a->sigma * rng_normal(r));
        break;
    default:
        break;
    }
}

double atk_alie_z(int n, int f)
{
    const int s = n / 2 + 1 - f;
    const double p = (double)(n - s) / n;
    if (p <= 0) return 0;
    if (p >= 1) return 0;
    return gsl_cdf_ugaussian_Pinv(p);
}

/* max_k ||x - b_k||^2 (min-max) or sum_k ||x - b_k||^2 (min-sum) */
static double spread(const double *x, const float *b, int nb, const uint8_t *use, size_t d, int sum)
{
    double r = 0;
    for (int k = 0; k < nb; k++) {
        if (use && !use[k]) continue;
        double s = 0;
        for (size_t i = 0; i < d; i++) {
            const double t = x[i] - (double)b[(size_t)k * d + i];
            s += t * t;
        }
        r = sum ? r + s : (s > r ? s : r);
    }
    return r;
}

double atk_craft_bytes(atk_kind k, size_t d)
{
    if (!atk_omniscient(k)) return 0;
    /* mu and sd; min-max and min-sum add the direction p, the candidate x and a row's copy */
    return (k == ATK_MINMAX || k == ATK_MINSUM ? 5.0 : 2.0) * (double)d * sizeof(double);
}

fs_err atk_craft(const atk_params *a, const float *b, int rows, const uint8_t *use, size_t d, int n,
                 int f, float *out)
{
    int nb = 0;
    for (int k = 0; k < rows; k++) nb += !use || use[k];
    FS_CHECK(nb > 0);
    double *mu = calloc(d, sizeof *mu), *sd = calloc(d, sizeof *sd), *x = NULL;
    if (!mu || !sd) {
        free(mu), free(sd);
        return fs_error(FS_ENOMEM, "out of memory crafting an attack");
    }
    for (int k = 0; k < rows; k++)
        if (!use || use[k])
            for (size_t i = 0; i < d; i++) mu[i] += (double)b[(size_t)k * d + i];
    for (size_t i = 0; i < d; i++) mu[i] /= nb;
    for (int k = 0; k < rows; k++)
        for (size_t i = 0; i < d && (!use || use[k]); i++) {
            const double t = (double)b[(size_t)k * d + i] - mu[i];
            sd[i] += t * t;
        }
    for (size_t i = 0; i < d; i++) sd[i] = sqrt(sd[i] / nb);
    fs_err e = FS_OK;
    if (a->kind == ATK_ALIE) {
        /* Baruch, Baruch and Goldberg, "A Little Is Enough: Circumventing Defenses For
         * Distributed Learning", NeurIPS 2019, Algorithm 3: mu_j - z sigma_j */
        const double z = a->z > 0 ? a->z : atk_alie_z(n, f);
        for (size_t i = 0; i < d; i++) out[i] = (float)(mu[i] - z * sd[i]);
    } else if (a->kind == ATK_IPM) {
        /* Xie, Koyejo and Gupta, "Fall of Empires: Breaking Byzantine-tolerant SGD by Inner
         * Product Manipulation", UAI 2020, Sec. 3: -epsilon times the mean of the benign */
        for (size_t i = 0; i < d; i++) out[i] = (float)(-a->epsilon * mu[i]);
    } else if (a->kind == ATK_MINMAX || a->kind == ATK_MINSUM) {
        /* Shejwalkar and Houmansadr, "Manipulating the Byzantine: Optimizing Model Poisoning
         * Attacks and Defenses for Federated Learning", NDSS 2021, Algorithm 1: x = mu + gamma p
         * with the largest gamma (binary search from 10, as the authors' code) such that x's
         * largest (min-max) or summed (min-sum) squared distance to the benign updates is at
         * most the largest such value among the benign updates themselves */
        const int sum = a->kind == ATK_MINSUM;
        double *p = calloc(d, sizeof *p);
        x = calloc(d, sizeof *x);
        if (!p || !x) {
            free(p);
            e = fs_error(FS_ENOMEM, "out of memory crafting an attack");
        } else {
            double nmu = 0;
            for (size_t i = 0; i < d; i++) nmu += mu[i] * mu[i];
            nmu = sqrt(nmu);
            for (size_t i = 0; i < d; i++)
                p[i] = a->perturbation == ATK_PERTURB_STD    ? -sd[i]
                       : a->perturbation == ATK_PERTURB_SIGN ? (mu[i] > 0 ? -1.0 : mu[i] < 0)
                                                             : (nmu > 0 ? -mu[i] / nmu : 0);
            double bound = 0, *bk = calloc(d, sizeof *bk);
            if (!bk) {
                free(p);
                e = fs_error(FS_ENOMEM, "out of memory crafting an attack");
            } else {
                for (int k = 0; k < rows; k++) {
                    if (use && !use[k]) continue;
                    for (size_t i = 0; i < d; i++) bk[i] = b[(size_t)k * d + i];
                    const double s = spread(bk, b, rows, use, d, sum);
                    bound = s > bound ? s : bound;
                }
                free(bk);
                double gamma = 10, step = gamma / 2, good = 0;
                while (step > 1e-5) {
                    for (size_t i = 0; i < d; i++) x[i] = mu[i] + gamma * p[i];
                    if (spread(x, b, rows, use, d, sum) <= bound) {
                        good = gamma;
                        gamma += step;
                    } else {
                        gamma -= step;
                    }
                    step /= 2;
                }
                for (size_t i = 0; i < d; i++) out[i] = (float)(mu[i] + good * p[i]);
                free(p);
            }
        }
    } else {
        e = fs_error(FS_EINTERNAL, "atk_craft: %s is not an omniscient attack", atk_name(a->kind));
    }
    free(mu), free(sd), free(x);
    return e;
}
