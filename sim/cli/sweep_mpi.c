/* The sweep over MPI ranks (see sweep_mpi.h). Messages on MPI_COMM_WORLD:
 *   0 -> r  int[2] {RUN, plan index} or {STOP, 0}                                 (TAG_CMD)
 *   r -> 0  int64[3] {plan index, fs_err, database bytes}, char[512] the error message, then the
 *           database file in pieces of at most 64 MiB                              (TAG_RES)
 * Rank 0 polls (MPI_Iprobe every 20 ms) instead of blocking, so it neither spins a core nor
 * misses a Ctrl-C. */
#include "cli/sweep_mpi.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/check_algo.h"
#include "engine/mpi_dist.h"
#include "engine/sim.h"
#include "store/import.h"
#include "store/query.h"
#include "util/log.h"

#define MSG_LEN 512
#define PIECE   (64L << 20)

static const char *tmp_dir(void)
{
    const char *t = getenv("TMPDIR");
    return t && t[0] ? t : "/tmp";
}

static void remove_db(const char *path)
{
    char p[1200];
    unlink(path);
    snprintf(p, sizeof p, "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", path);
    unlink(p);
}

#ifdef FEDSIM_MPI
#include <mpi.h>

enum { CMD_STOP = 0, CMD_RUN = 1 };
enum { TAG_CMD = 21, TAG_RES = 22 };

static char *g_told; /* (ranks) 1: the rank was sent STOP */

static void tell(int rank, int cmd, int run)
{
    int m[2] = {cmd, run};
    MPI_Send(m, 2, MPI_INT, rank, TAG_CMD, MPI_COMM_WORLD);
    if (cmd == CMD_STOP && g_told) g_told[rank] = 1;
}

void sweep_mpi_release(void)
{
    if (dist_size() < 2 || dist_rank() != 0) return;
    for (int r = 1; r < dist_size(); r++)
        if (!g_told || !g_told[r]) tell(r, CMD_STOP, 0);
    free(g_told);
    g_told = NULL;
}

/* One result from rank `from`: the header, the message and the database (written to path when
 * it has bytes). Returns the plan index; *code and *has_db set. */
static int receive(int from, const char *path, int *code, int *has_db, char *msg)
{
    int64_t h[3];
    MPI_Recv(h, 3, MPI_INT64_T, from, TAG_RES, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    MPI_Recv(msg, MSG_LEN, MPI_CHAR, from, TAG_RES, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    msg[MSG_LEN - 1] = '\0';
    *code = (int)h[1];
    *has_db = h[2] > 0;
    FILE *f = h[2] > 0 ? fopen(path, "wb") : NULL;
    char *buf = h[2] > 0 ? malloc(PIECE) : NULL;
    if (h[2] > 0 && !buf) MPI_Abort(MPI_COMM_WORLD, 1); /* cannot take it off the wire */
    int ok = h[2] == 0 || f;
    for (int64_t off = 0; off < h[2]; off += PIECE) {
        const int n = (int)(h[2] - off < PIECE ? h[2] - off : PIECE);
        MPI_Recv(buf, n, MPI_BYTE, from, TAG_RES, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        if (f && fwrite(buf, 1, (size_t)n, f) != (size_t)n) ok = 0;
    }
    if (f && fclose(f) != 0) ok = 0;
    free(buf);
    if (!ok) {
        *has_db = 0;
        if (!*code) *code = FS_EIO;
        snprintf(msg, MSG_LEN, "rank 0 could not write the run's database to %.300s: %s", path,
                 strerror(errno));
    }
    return (int)h[0];
}

fs_err sweep_mpi_queue(const sweep_plan *plan, met_store *st, const int *todo, int n_todo, int k0,
                       int quiet, volatile sig_atomic_t *stop, sweep_mpi_tally *t)
{
    const int R = dist_size();
    memset(t, 0, sizeof *t);
    free(g_told);
    g_told = calloc((size_t)R, 1);
    int *running = malloc((size_t)R * sizeof *running); /* plan index per rank, -1: idle */
    double *t0 = malloc((size_t)R * sizeof *t0);
    if (!g_told || !running || !t0) {
        free(running);
        free(t0);
        return fs_error(FS_ENOMEM, "out of memory");
    }
    char path[1100];
    snprintf(path, sizeof path, "%s/fedsim-import-%ld.db", tmp_dir(), (long)getpid());
    int active = 0, next = 0, warned = 0;
    fs_err e = FS_OK;
    for (int r = 1; r < R; r++) {
        running[r] = -1;
        if (next < n_todo) {
            running[r] = todo[next++];
            t0[r] = time_now();
            tell(r, CMD_RUN, running[r]);
            active++;
            if (!quiet)
                fprintf(stderr, "fedsim: rank %d runs #%d %s\n", r, plan->runs[running[r]].index,
                        plan->runs[running[r]].label);
        } else {
            tell(r, CMD_STOP, 0);
        }
    }
    t->started = next;
    while (active > 0) {
        if (stop && *stop && !warned) {
            warned = 1;
            fprintf(stderr,
                    "fedsim: stopping: no new runs; waiting for the %d run(s) in flight "
                    "(Ctrl-C again aborts them: they run again on resume)\n",
                    active);
        }
        if (stop && *stop > 1) MPI_Abort(MPI_COMM_WORLD, 130);
        int flag = 0;
        MPI_Status ms;
        MPI_Iprobe(MPI_ANY_SOURCE, TAG_RES, MPI_COMM_WORLD, &flag, &ms);
        if (!flag) {
            struct timespec ts = {0, 20 * 1000000L};
            nanosleep(&ts, NULL);
            continue;
        }
        const int r = ms.MPI_SOURCE;
        int code = 0, has_db = 0;
        char msg[MSG_LEN];
        const int idx = receive(r, path, &code, &has_db, msg);
        const sweep_run *run = &plan->runs[idx];
        active--;
        char status[32] = "failed", error[MSG_LEN];
        snprintf(error, sizeof error, "%s", msg);
        int rounds = 0;
        double acc = NAN;
        if (has_db && !e) {
            int64_t id;
            fs_err ei = met_import_runs(st, path, &id);
            if (ei) {
                e = ei; /* the database is broken: stop handing out runs */
                snprintf(error, sizeof error, "%s", fs_errmsg());
            } else if (id >= 0) {
                met_run_result res;
                met_run_result_of(st, id, &res);
                snprintf(status, sizeof status, "%s", res.status);
                snprintf(error, sizeof error, "%s", res.error);
                rounds = res.rounds;
                acc = res.last_acc;
            }
        }
        if (has_db) remove_db(path);
        const int k = k0 + t->done + t->failed + 1;
        char wt[32];
        snprintf(wt, sizeof wt, "%.1fs", time_now() - t0[r]);
        t->rounds += rounds;
        if (strcmp(status, "completed") == 0) {
            t->done++;
            char accs[32] = "";
            if (!isnan(acc)) snprintf(accs, sizeof accs, ", test acc %.2f%%", 100 * acc);
            if (!quiet)
                fprintf(stderr, "[%d/%d] done     #%d %s: %d rounds%s, %s (rank %d)\n", k,
                        plan->n_runs, run->index, run->label, rounds, accs, wt, r);
        } else {
            t->failed++;
            fprintf(stderr, "[%d/%d] FAILED   #%d %s (rank %d): %s\n", k, plan->n_runs, run->index,
                    run->label, r, error[0] ? error : status);
        }
        if (!e && !(stop && *stop) && next < n_todo) {
            running[r] = todo[next++];
            t0[r] = time_now();
            tell(r, CMD_RUN, running[r]);
            active++;
            t->started = next;
            if (!quiet)
                fprintf(stderr, "fedsim: rank %d runs #%d %s\n", r, plan->runs[running[r]].index,
                        plan->runs[running[r]].label);
        } else {
            running[r] = -1;
            tell(r, CMD_STOP, 0);
        }
    }
    free(running);
    free(t0);
    return e;
}

/* Run plan->runs[idx] into the private database tmpdb; msg gets the error. */
static fs_err run_one(const char *file, const char *const *overrides, int n_overrides,
                      const sweep_plan *plan, int idx, const char *db, int threads,
                      const char *tmpdb, char *msg)
{
    const sweep_run *r = &plan->runs[idx];
    const char **ovr = calloc((size_t)(n_overrides + r->n_sets + 1), sizeof *ovr);
    cfg *c = malloc(sizeof *c);
    if (!ovr || !c) {
        free(ovr);
        free(c);
        snprintf(msg, MSG_LEN, "out of memory");
        return FS_ENOMEM;
    }
    int n = 0;
    for (int i = 0; i < n_overrides; i++) ovr[n++] = overrides[i];
    for (int i = 0; i < r->n_sets; i++) ovr[n++] = r->sets[i];
    cfg_diag d;
    memset(&d, 0, sizeof d);
    char *text = NULL;
    fs_err e = cfg_load(file, ovr, n, c, &d, &text);
    if (!e) e = cfg_validate(c, file, &d);
    if (!e) e = sim_check_algorithm(c, file, &d);
    if (e) {
        snprintf(msg, MSG_LEN, "%s", d.msg[0] ? d.msg : fs_errmsg());
    } else {
        sim_opts o = {.db_path = tmpdb,
                      .scenario_text = text,
                      .quiet = 1,
                      .threads = threads,
                      .sweep_id = plan->id,
                      .swept_json = r->swept_json,
                      .ckpt_db = db};
        sim_summary sum;
        e = sim_run(c, &o, &sum);
        if (e) snprintf(msg, MSG_LEN, "%s", fs_errmsg());
    }
    free(text);
    free(ovr);
    free(c);
    return e;
}

int sweep_mpi_serve(const char *file, const char *const *overrides, int n_overrides,
                    const sweep_plan *plan, const char *db, int threads)
{
    log_set_level(LOG_ERROR);
    char tmpdb[1100];
    for (;;) {
        int m[2];
        MPI_Recv(m, 2, MPI_INT, 0, TAG_CMD, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        if (m[0] == CMD_STOP) break;
        const int idx = m[1];
        snprintf(tmpdb, sizeof tmpdb, "%s/fedsim-sweep-%ld-%d.db", tmp_dir(), (long)getpid(), idx);
        remove_db(tmpdb);
        char msg[MSG_LEN] = "";
        fs_err e = run_one(file, overrides, n_overrides, plan, idx, db, threads, tmpdb, msg);
        /* the finished database (closed by sim_run, its WAL folded in) */
        char *buf = NULL;
        long size = 0;
        FILE *f = fopen(tmpdb, "rb");
        if (f && fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) > 0 &&
            fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)size)) &&
            fread(buf, 1, (size_t)size, f) != (size_t)size) {
            free(buf);
            buf = NULL;
        }
        if (f) fclose(f);
        if (!buf) size = 0;
        if (size == 0 && !e) {
            e = FS_EIO;
            snprintf(msg, MSG_LEN, "rank %d could not read back its database %.300s", dist_rank(),
                     tmpdb);
        }
        int64_t h[3] = {idx, e, size};
        MPI_Send(h, 3, MPI_INT64_T, 0, TAG_RES, MPI_COMM_WORLD);
        MPI_Send(msg, MSG_LEN, MPI_CHAR, 0, TAG_RES, MPI_COMM_WORLD);
        for (long off = 0; off < size; off += PIECE)
            MPI_Send(buf + off, (int)(size - off < PIECE ? size - off : PIECE), MPI_BYTE, 0,
                     TAG_RES, MPI_COMM_WORLD);
        free(buf);
        remove_db(tmpdb);
    }
    return 0;
}

#else /* built without MPI: never more than one rank */

fs_err sweep_mpi_queue(const sweep_plan *plan, met_store *st, const int *todo, int n_todo, int k0,
                       int quiet, volatile sig_atomic_t *stop, sweep_mpi_tally *t)
{
    (void)plan, (void)st, (void)todo, (void)n_todo, (void)k0, (void)quiet, (void)stop;
    memset(t, 0, sizeof *t);
    return fs_error(FS_EINTERNAL, "sweep over MPI in a build without MPI");
}
void sweep_mpi_release(void) {}
int sweep_mpi_serve(const char *file, const char *const *overrides, int n_overrides,
                    const sweep_plan *plan, const char *db, int threads)
{
    (void)file, (void)overrides, (void)n_overrides, (void)plan, (void)db, (void)threads;
    (void)remove_db;
    (void)tmp_dir;
    return 1;
}

#endif
