/* Training a run's clients over MPI ranks (see mpi_dist.h for the protocol and its guarantee).
 * Wire format of one chunk, all on MPI_COMM_WORLD:
 *   broadcast  int[4] {DIST_CHUNK, round, n, new round}; on a new round the global model (np
 *              floats) and the server broadcast (np floats, SCAFFOLD); the n client ids;
 *   0 -> r     per client of r's share, in order: its state (fl_state_dim floats: np, or
 *              FedPer's and FedRep's packed personal layers) when the algorithm has one;
 *              with per-client momentum, each client's resume flag (int), then each client's
 *              momentum buffer (np floats);
 *   r -> 0     per client of r's share, in order: double[6] {n_samples, weight, weight2,
 *              train_loss, steps, scalar}, the update, the second upload (SCAFFOLD), the new
 *              state (fl_state_dim floats), the momentum buffer (np floats, when the algorithm
 *              has them).
 * The end of a run is the broadcast {DIST_STOP, 0, 0, 0}. */
#include "engine/mpi_dist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fl/client_state.h"
#include "util/log.h"

void dist_share(int n, int ranks, int r, int *lo, int *hi)
{
    *lo = (int)((long)n * r / ranks);
    *hi = (int)((long)n * (r + 1) / ranks);
}

int dist_launched(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (getenv(vars[i])) return 1;
    return 0;
}

#ifdef FEDSIM_MPI
#include <mpi.h>

enum { DIST_STOP = 0, DIST_CHUNK = 1 };
enum { TAG_TASK = 11, TAG_RES = 12 };
#define MSG_LEN 512

static int g_started, g_rank, g_size = 1;
static int g_last_round = -1, g_stopped = 1;
static dist_stats g_st;

fs_err dist_init(void)
{
    if (g_started || !dist_launched()) return FS_OK;
    int provided = 0;
    if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
        return fs_error(FS_EIO, "MPI_Init_thread failed");
    g_started = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    return FS_OK;
}

void dist_finalize(void)
{
    if (!g_started) return;
    MPI_Finalize();
    g_started = 0;
    g_rank = 0;
    g_size = 1;
}

int dist_rank(void)
{
    return g_rank;
}
int dist_size(void)
{
    return g_size;
}

fs_err dist_agree(fs_err e)
{
    if (!g_started || g_size == 1) return e;
    int code = (int)e;
    char msg[MSG_LEN] = "", host[MPI_MAX_PROCESSOR_NAME] = "?";
    int len = 0;
    MPI_Get_processor_name(host, &len);
    if (e) snprintf(msg, sizeof msg, "(host %s) %s", host, fs_errmsg());
    int *codes = g_rank == 0 ? calloc((size_t)g_size, sizeof *codes) : NULL;
    char *msgs = g_rank == 0 ? calloc((size_t)g_size, MSG_LEN) : NULL;
    if (g_rank == 0 && (!codes || !msgs)) FS_CHECK(!"out of memory in dist_agree");
    MPI_Gather(&code, 1, MPI_INT, codes, 1, MPI_INT, 0, MPI_COMM_WORLD);
    MPI_Gather(msg, MSG_LEN, MPI_CHAR, msgs, MSG_LEN, MPI_CHAR, 0, MPI_COMM_WORLD);
    if (g_rank == 0) {
        for (int r = 0; r < g_size && !code; r++) {
            if (!codes[r]) continue;
            code = codes[r];
            if (r == 0) break; /* rank 0's message is already the one */
            msgs[(size_t)r * MSG_LEN + MSG_LEN - 1] = '\0';
            fs_error((fs_err)code, "rank %d of %d: %s", r, g_size, msgs + (size_t)r * MSG_LEN);
        }
    }
    free(codes);
    free(msgs);
    MPI_Bcast(&code, 1, MPI_INT, 0, MPI_COMM_WORLD);
    return (fs_err)code;
}

/* Rank 0's MPI calls, timed (waiting for the other ranks counts). */
#define TIMED(call)                                                                                \
    do {                                                                                           \
        const double t0_ = time_now();                                                             \
        call;                                                                                      \
        g_st.mpi_s += time_now() - t0_;                                                            \
    } while (0)

void dist_run_begin(void)
{
    memset(&g_st, 0, sizeof g_st);
    g_last_round = -1;
    g_stopped = 0;
}

void dist_stats_get(dist_stats *st)
{
    *st = g_st;
}

void dist_stop(void)
{
    if (!g_started || g_size == 1 || g_rank != 0 || g_stopped) return;
    int hdr[4] = {DIST_STOP, 0, 0, 0};
    TIMED(MPI_Bcast(hdr, 4, MPI_INT, 0, MPI_COMM_WORLD));
    g_stopped = 1;
}

static void put_res(fl_client_result *r, double *h)
{
    h[0] = r->n_samples;
    h[1] = r->weight;
    h[2] = r->weight2;
    h[3] = r->train_loss;
    h[4] = (double)r->steps;
    h[5] = r->scalar;
}

static void get_res(fl_client_result *r, const double *h)
{
    r->n_samples = (uint32_t)h[0];
    r->weight = h[1];
    r->weight2 = h[2];
    r->train_loss = h[3];
    r->steps = (long)h[4];
    r->scalar = h[5];
}

fs_err dist_train_chunk(const dist_env *env, uint32_t round, const uint32_t *clients, int n,
                        fl_client_result *res, fl_cstate *cs, fl_cstate *opt_cs, fl_agg *agg)
{
    const fl_algorithm *a = env->a;
    const int np = (int)env->np, R = g_size;
    const int sd = (int)fl_state_dim(a, env->ctx.p, env->np); /* a state: packed, maybe */
    FS_CHECK(g_rank == 0 && !g_stopped && (size_t)np == env->np);
    FS_CHECK(env->keep_opt == (opt_cs != NULL));
    fl_round_ctx ctx = env->ctx;
    ctx.round = round;
    ctx.global = env->global;
    ctx.bcast = env->bcast;
    int hdr[4] = {DIST_CHUNK, (int)round, n, (int)round != g_last_round};
    TIMED(MPI_Bcast(hdr, 4, MPI_INT, 0, MPI_COMM_WORLD));
    if (hdr[3]) {
        TIMED(MPI_Bcast(env->global, np, MPI_FLOAT, 0, MPI_COMM_WORLD));
        if (env->bcast) TIMED(MPI_Bcast(env->bcast, np, MPI_FLOAT, 0, MPI_COMM_WORLD));
        g_st.bytes_sent += (double)(R - 1) * np * sizeof(float) * (env->bcast ? 2 : 1);
        g_last_round = (int)round;
    }
    TIMED(MPI_Bcast((void *)clients, n, MPI_UINT32_T, 0, MPI_COMM_WORLD));
    g_st.bytes_sent += (double)(R - 1) * (16 + n * sizeof(uint32_t));
    g_st.chunks++;
    /* the states of the whole chunk, loaded in the order fl_train_clients loads them */
    fs_err e = fl_train_load(a, clients, n, res, cs, opt_cs);
    /* a failed load still sends (zeros): the ranks wait for their share; e is returned after */
    for (int r = 1; r < R; r++) {
        int lo, hi;
        dist_share(n, R, r, &lo, &hi);
        for (int k = lo; k < hi && a->state_vecs; k++)
            TIMED(MPI_Send(res[k].state, sd, MPI_FLOAT, r, TAG_TASK, MPI_COMM_WORLD));
        if (env->keep_opt && hi > lo) {
            for (int k = lo; k < hi; k++)
                TIMED(MPI_Send(&res[k].opt_resume, 1, MPI_INT, r, TAG_TASK, MPI_COMM_WORLD));
            for (int k = lo; k < hi; k++)
                TIMED(MPI_Send(res[k].opt, np, MPI_FLOAT, r, TAG_TASK, MPI_COMM_WORLD));
        }
        g_st.bytes_sent += (double)(hi - lo) * sizeof(float) * (sd + (double)np * env->keep_opt);
    }
    int lo0, hi0;
    dist_share(n, R, 0, &lo0, &hi0);
    fl_train_run(a, &ctx, res, hi0, env->workers, env->threads, env->keep_opt);
    for (int r = 1; r < R; r++) {
        int lo, hi;
        dist_share(n, R, r, &lo, &hi);
        for (int k = lo; k < hi; k++) {
            double h[6];
            TIMED(MPI_Recv(h, 6, MPI_DOUBLE, r, TAG_RES, MPI_COMM_WORLD, MPI_STATUS_IGNORE));
            get_res(&res[k], h);
            TIMED(MPI_Recv(res[k].update, np, MPI_FLOAT, r, TAG_RES, MPI_COMM_WORLD,
                           MPI_STATUS_IGNORE));
            if (a->two_uploads)
                TIMED(MPI_Recv(res[k].update2, np, MPI_FLOAT, r, TAG_RES, MPI_COMM_WORLD,
                               MPI_STATUS_IGNORE));
            if (a->state_vecs)
                TIMED(MPI_Recv(res[k].state, sd, MPI_FLOAT, r, TAG_RES, MPI_COMM_WORLD,
                               MPI_STATUS_IGNORE));
            if (env->keep_opt)
                TIMED(MPI_Recv(res[k].opt, np, MPI_FLOAT, r, TAG_RES, MPI_COMM_WORLD,
                               MPI_STATUS_IGNORE));
        }
        g_st.bytes_recv +=
            (double)(hi - lo) *
            (6 * sizeof(double) +
             sizeof(float) * ((double)np * (1 + a->two_uploads + env->keep_opt) + sd));
    }
    if (e) return e;
    return fl_train_store(a, &ctx, res, n, cs, opt_cs, agg);
}

/* A worker rank's result slots, grown to the largest share seen. */
typedef struct slots {
    fl_client_result *res;
    float *buf;
    int cap, per; /* slots, vectors of np per slot (and a state of fl_state_dim) */
} slots;

static fs_err slots_grow(slots *s, int m, const dist_env *env)
{
    if (m <= s->cap) return FS_OK;
    const fl_algorithm *a = env->a;
    const size_t np = env->np, sd = fl_state_dim(a, env->ctx.p, np);
    const int per = 1 + a->two_uploads + env->keep_opt; /* vectors of np, and the state */
    const size_t slot = per * np + sd;
    free(s->res);
    free(s->buf);
    s->res = FS_CALLOC((size_t)m, sizeof *s->res);
    s->buf = FS_ALIGNED((size_t)m * slot, sizeof(float));
    if (!s->res || !s->buf) return FS_ENOMEM;
    s->cap = m;
    s->per = per;
    for (int k = 0; k < m; k++) {
        float *v = s->buf + (size_t)k * slot;
        s->res[k].update = v;
        v += np;
        if (a->two_uploads) s->res[k].update2 = v, v += np;
        if (env->keep_opt) s->res[k].opt = v, v += np;
        if (a->state_vecs) s->res[k].state = v;
    }
    return FS_OK;
}

fs_err dist_serve(const dist_env *env)
{
    const fl_algorithm *a = env->a;
    const int np = (int)env->np, R = g_size, me = g_rank;
    const int sd = (int)fl_state_dim(a, env->ctx.p, env->np);
    FS_CHECK(g_started && me != 0 && (size_t)np == env->np);
    slots sl = {0};
    uint32_t *clients = NULL;
    int cl_cap = 0;
    fs_err e = FS_OK;
    for (;;) {
        int hdr[4];
        MPI_Bcast(hdr, 4, MPI_INT, 0, MPI_COMM_WORLD);
        if (hdr[0] == DIST_STOP) break;
        const int n = hdr[2];
        if (hdr[3]) {
            MPI_Bcast(env->global, np, MPI_FLOAT, 0, MPI_COMM_WORLD);
            if (env->bcast) MPI_Bcast(env->bcast, np, MPI_FLOAT, 0, MPI_COMM_WORLD);
        }
        if (n > cl_cap) {
            free(clients);
            clients = FS_CALLOC((size_t)n, sizeof *clients);
            cl_cap = clients ? n : 0;
        }
        /* out of memory here cannot be reported mid-protocol: stop the job */
        if (!clients) MPI_Abort(MPI_COMM_WORLD, 1);
        MPI_Bcast(clients, n, MPI_UINT32_T, 0, MPI_COMM_WORLD);
        int lo, hi;
        dist_share(n, R, me, &lo, &hi);
        const int m = hi - lo;
        if (m == 0) continue;
        if (slots_grow(&sl, m, env)) MPI_Abort(MPI_COMM_WORLD, 1);
        fl_client_result *res = sl.res;
        for (int k = 0; k < m; k++) {
            res[k].client = clients[lo + k];
            res[k].scalar = 0;
            res[k].opt_resume = 0;
            if (a->state_vecs)
                MPI_Recv(res[k].state, sd, MPI_FLOAT, 0, TAG_TASK, MPI_COMM_WORLD,
                         MPI_STATUS_IGNORE);
        }
        if (env->keep_opt) {
            for (int k = 0; k < m; k++)
                MPI_Recv(&res[k].opt_resume, 1, MPI_INT, 0, TAG_TASK, MPI_COMM_WORLD,
                         MPI_STATUS_IGNORE);
            for (int k = 0; k < m; k++) {
                MPI_Recv(res[k].opt, np, MPI_FLOAT, 0, TAG_TASK, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            }
        }
        fl_round_ctx ctx = env->ctx;
        ctx.round = (uint32_t)hdr[1];
        ctx.global = env->global;
        ctx.bcast = env->bcast;
        fl_train_run(a, &ctx, res, m, env->workers, env->threads, env->keep_opt);
        for (int k = 0; k < m; k++) {
            double h[6];
            put_res(&res[k], h);
            MPI_Send(h, 6, MPI_DOUBLE, 0, TAG_RES, MPI_COMM_WORLD);
            MPI_Send(res[k].update, np, MPI_FLOAT, 0, TAG_RES, MPI_COMM_WORLD);
            if (a->two_uploads) MPI_Send(res[k].update2, np, MPI_FLOAT, 0, TAG_RES, MPI_COMM_WORLD);
            if (a->state_vecs) MPI_Send(res[k].state, sd, MPI_FLOAT, 0, TAG_RES, MPI_COMM_WORLD);
            if (env->keep_opt) MPI_Send(res[k].opt, np, MPI_FLOAT, 0, TAG_RES, MPI_COMM_WORLD);
        }
    }
    free(clients);
    free(sl.res);
    free(sl.buf);
    return e;
}

#else /* built without MPI (MPI=0): one process */

fs_err dist_init(void)
{
    const char *n = getenv("OMPI_COMM_WORLD_SIZE");
    if (n && atoi(n) > 1)
        return fs_error(FS_EINPUT,
                        "this fedsim was built without MPI (MPI=0), so %s copies would "
                        "each run everything: rebuild with 'make MPI=1' (needs "
                        "libopenmpi-dev) or run without mpirun",
                        n);
    return FS_OK;
}
void dist_finalize(void) {}
int dist_rank(void)
{
    return 0;
}
int dist_size(void)
{
    return 1;
}
fs_err dist_agree(fs_err e)
{
    return e;
}
fs_err dist_train_chunk(const dist_env *env, uint32_t round, const uint32_t *clients, int n,
                        fl_client_result *res, fl_cstate *cs, fl_cstate *opt_cs, fl_agg *agg)
{
    fl_round_ctx ctx = env->ctx;
    ctx.round = round;
    ctx.global = env->global;
    ctx.bcast = env->bcast;
    return fl_train_clients(env->a, &ctx, clients, n, res, env->workers, env->threads, cs, opt_cs,
                            agg);
}
fs_err dist_serve(const dist_env *env)
{
    (void)env;
    return FS_OK;
}
void dist_stop(void) {}
void dist_run_begin(void) {}
void dist_stats_get(dist_stats *st)
{
    memset(st, 0, sizeof *st);
}

#endif
