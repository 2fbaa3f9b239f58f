/* fedsim sweep: run the expanded runs of a scenario's `sweep:` section in worker processes that
 * write into one shared SQLite database (WAL mode, busy timeout, one transaction per round).
 *
 * Owns: the worker pool (each worker is this binary's own `run` command, exec'd through
 * /proc/self/exe with the sweep's --set overrides, so a worker is exactly the run a user could
 * type), the sweep lock, resume, Ctrl-C handling and the progress display.
 * Guarantees:
 *  - nothing starts unless every run of the sweep expands and validates (exit 2 otherwise);
 *  - one sweep at a time per database: an flock on DB-sweep.lock, inherited by the workers, so a
 *    second `fedsim sweep` refuses while any worker of the first is alive;
 *  - resume: a run whose (sweep id, run key) has a completed row is skipped; failed, interrupted
 *    and never-started runs run again as a new row, and the old row gets superseded_by;
 *  - at exit no row of this sweep is left `running`: workers mark themselves interrupted on
 *    SIGINT/SIGTERM, and the parent marks the row of a worker that died without doing so;
 *  - workers die with the parent (PR_SET_PDEATHSIG), so no orphan keeps writing.
 * Exit status: 0 all runs completed, 1 some failed, 2 bad scenario or sweep, 130 interrupted. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "cli/cli.h"
#include "cli/sweep_mpi.h"
#include "config/sweep.h"
#include "engine/check_algo.h"
#include "engine/mpi_dist.h"
#include "store/query.h"
#include "util/log.h"

#define ERR_TAIL 2048

typedef struct sweep_args {
    const char *file;
    const char *db;
    const char *overrides[256];
    int n_overrides;
    int jobs, threads;
    int dry_run, commands, quiet;
} sweep_args;

typedef struct worker {
    pid_t pid;
    int run;            /* index into plan.runs */
    int fd;             /* read end of the worker's stderr */
    char err[ERR_TAIL]; /* the tail of what it wrote there */
    size_t err_len;
    double t0;
    int round;         /* last round seen in the database */
    int64_t id_before; /* max(runs.id) when it started: its row has a larger id */
} worker;

typedef struct sweep_state {
    const sweep_args *a;
    sweep_plan plan;
    const char *db;
    met_store store;
    int *todo; /* plan indices to run, in order */
    int n_todo, next;
    worker *w;
    int n_active;
    int n_skipped, n_done, n_failed, n_interrupted;
    long rounds_done; /* rounds of runs finished in this session */
    double t0;
    int tty, drawn; /* progress block lines on screen */
    char **short_label;
} sweep_state;

static volatile sig_atomic_t sweep_signals = 0;

static void on_sweep_signal(int sig)
{
    (void)sig;
    sweep_signals = sweep_signals + 1;
}

static int parse_count(const char *opt, const char *v, int lo, int hi, int *out)
{
    char *end;
    long n = strtol(v, &end, 10);
    if (*v == '\0' || *end || n < lo || n > hi) {
        char msg[128];
        snprintf(msg, sizeof msg, "%s takes a number %d..%d", opt, lo, hi);
        return cli_usage_error(msg);
    }
    *out = (int)n;
    return 0;
}

static int parse_args(int argc, char **argv, sweep_args *a)
{
    memset(a, 0, sizeof *a);
    a->jobs = 1;
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int rc = 0;
        if (strcmp(s, "--set") == 0 || strcmp(s, "-s") == 0) {
            if (!v) return cli_usage_error("--set needs key.path=value");
            if (a->n_overrides >= 128) return cli_usage_error("too many --set options");
            a->overrides[a->n_overrides++] = v;
            i++;
        } else if (strncmp(s, "--set=", 6) == 0) {
            if (a->n_overrides >= 128) return cli_usage_error("too many --set options");
            a->overrides[a->n_overrides++] = s + 6;
        } else if (strcmp(s, "--db") == 0) {
            if (!v) return cli_usage_error("--db needs a path");
            a->db = v;
            i++;
        } else if (strcmp(s, "--jobs") == 0) {
            if (!v) return cli_usage_error("--jobs needs a number of worker processes");
            rc = parse_count("--jobs", v, 1, 256, &a->jobs);
            i++;
        } else if (strncmp(s, "--jobs=", 7) == 0) {
            rc = parse_count("--jobs", s + 7, 1, 256, &a->jobs);
        } else if (strcmp(s, "--threads") == 0) {
            if (!v) return cli_usage_error("--threads needs a thread count");
            rc = parse_count("--threads", v, 1, 1024, &a->threads);
            i++;
        } else if (strcmp(s, "--dry-run") == 0 || strcmp(s, "-n") == 0) {
            a->dry_run = 1;
        } else if (strcmp(s, "--commands") == 0) {
            a->commands = a->dry_run = 1;
        } else if (strcmp(s, "--quiet") == 0 || strcmp(s, "-q") == 0) {
            a->quiet = 1;
        } else if (s[0] == '-') {
            char msg[300];
            snprintf(msg, sizeof msg,
                     "unknown option '%s' (sweep takes --jobs N, --threads T, "
                     "--db PATH, --set k=v, --dry-run, --commands, --quiet)",
                     s);
            return cli_usage_error(msg);
        } else if (!a->file) {
            a->file = s;
        } else {
            return cli_usage_error("only one scenario file");
        }
        if (rc) return rc;
    }
    if (!a->file) return cli_usage_error("sweep needs a scenario file with a sweep section");
    return 0;
}

static void fmt_dur(double s, char *buf, size_t cap)
{
    if (!isfinite(s) || s < 0)
        snprintf(buf, cap, "?");
    else if (s < 60)
        snprintf(buf, cap, "%.1fs", s);
    else if (s < 3600)
        snprintf(buf, cap, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
    else
        snprintf(buf, cap, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
}

/* Labels for the display: last key component unless two swept keys share it. */
static char **make_short_labels(const sweep_plan *p)
{
    char **out = calloc((size_t)p->n_runs, sizeof *out);
    if (!out) return NULL;
    for (int i = 0; i < p->n_runs; i++) {
        const sweep_run *r = &p->runs[i];
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);
        if (!f) break;
        for (int j = 0; j < r->n_sets; j++) {
            const char *kv = r->sets[j], *eq = strchr(kv, '=');
            size_t kl = (size_t)(eq - kv);
            const char *dot = NULL;
            for (const char *q = kv; q < eq; q++)
                if (*q == '.') dot = q;
            const char *last = dot ? dot + 1 : kv;
            int clash = 0;
            for (int k = 0; k < r->n_sets && !clash; k++) {
                if (k == j) continue;
                const char *o = r->sets[k], *oe = strchr(o, '=');
                const char *od = NULL;
                for (const char *q = o; q < oe; q++)
                    if (*q == '.') od = q;
                const char *ol = od ? od + 1 : o;
                clash = (size_t)(oe - ol) == (size_t)(eq - last) &&
                        strncmp(ol, last, (size_t)(eq - last)) == 0;
            }
            fprintf(f, "%s%.*s%s", j ? " " : "", clash ? (int)kl : (int)(eq - last),
                    clash ? kv : last, eq);
        }
        fclose(f);
        out[i] = buf;
    }
    return out;
}

/* ---------------------------------------------------------------------------------------------
 * Dry run
 * ------------------------------------------------------------------------------------------- */

static void shell_quote(FILE *f, const char *s)
{
    if (*s &&
        strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.,/=:@+") ==
            strlen(s)) {
        fputs(s, f);
        return;
    }
    fputc('\'', f);
    for (; *s; s++) {
        if (*s == '\'')
            fputs("'\\''", f);
        else
            fputc(*s, f);
    }
    fputc('\'', f);
}

static int dry_run(const sweep_args *a, const sweep_plan *p, const char *dbpath)
{
    /* the statuses of an existing database's runs; none if it cannot be read or has no sweeps */
    met_store db;
    int have_db = met_open_read(&db, dbpath) == FS_OK;
    if (have_db && !db.sweep_cols) {
        met_close(&db);
        have_db = 0;
    }
    printf("sweep '%s' (%s): %d runs into %s\n", p->id, a->file, p->n_runs, dbpath);
    printf("%5s  %-16s  %-11s  %s\n", "#", "run key", "status", "parameters");
    int done = 0;
    for (int i = 0; i < p->n_runs; i++) {
        const sweep_run *r = &p->runs[i];
        char st[32] = "";
        if (have_db) met_sweep_status(&db, p->id, r->key, st, sizeof st);
        if (strcmp(st, "completed") == 0) done++;
        printf("%5d  %s  %-11s  %s\n", r->index, r->key, st[0] ? st : "new", r->label);
    }
    printf("%d to run, %d completed (skipped)\n", p->n_runs - done, done);
    if (a->commands) {
        printf("\nequivalent commands:\n");
        for (int i = 0; i < p->n_runs; i++) {
            const sweep_run *r = &p->runs[i];
            printf("fedsim run ");
            shell_quote(stdout, a->file);
            for (int j = 0; j < a->n_overrides; j++) {
                printf(" --set ");
                shell_quote(stdout, a->overrides[j]);
            }
            for (int j = 0; j < r->n_sets; j++) {
                printf(" --set ");
                shell_quote(stdout, r->sets[j]);
            }
            printf(" --db ");
            shell_quote(stdout, dbpath);
            printf(" --sweep-id ");
            shell_quote(stdout, p->id);
            printf(" --swept ");
            shell_quote(stdout, r->swept_json);
            printf("\n");
        }
    }
    if (have_db) met_close(&db);
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Display
 * ------------------------------------------------------------------------------------------- */

static int term_width(void)
{
    struct winsize ws;
    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20) return ws.ws_col;
    return 100;
}

static void erase_block(sweep_state *s)
{
    if (s->tty && s->drawn > 0) fprintf(stderr, "\r\033[%dA\033[J", s->drawn);
    s->drawn = 0;
}

/* One line that stays (a finished run), above the progress block. */
static void say(sweep_state *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(sweep_state *s, const char *fmt, ...)
{
    if (s->a->quiet) return;
    erase_block(s);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* Rounds of the running rows of this sweep, for the display and the ETA. */
static void set_round(void *ctx, const char *run_key, int round)
{
    sweep_state *s = ctx;
    for (int i = 0; i < s->a->jobs; i++)
        if (s->w[i].pid > 0 && strcmp(s->plan.runs[s->w[i].run].key, run_key) == 0)
            s->w[i].round = round;
}

static void poll_rounds(sweep_state *s)
{
    met_sweep_progress(&s->store, s->plan.id, set_round, s); /* a busy database: next time */
}

static void draw_block(sweep_state *s)
{
    if (!s->tty || s->a->quiet) return;
    erase_block(s);
    poll_rounds(s);
    long now_rounds = s->rounds_done, left = 0;
    for (int i = 0; i < s->a->jobs; i++) {
        if (s->w[i].pid <= 0) continue;
        int total = s->plan.runs[s->w[i].run].rounds;
        now_rounds += s->w[i].round;
        left += total - s->w[i].round;
    }
    for (int i = s->next; i < s->n_todo; i++) left += s->plan.runs[s->todo[i]].rounds;
    double el = time_now() - s->t0;
    char eta[32], els[32];
    fmt_dur(now_rounds > 0 ? el / (double)now_rounds * (double)left : NAN, eta, sizeof eta);
    fmt_dur(el, els, sizeof els);
    int width = term_width() - 1;
    char line[1024];
    char failed[32] = "";
    if (s->n_failed) snprintf(failed, sizeof failed, ", %d failed", s->n_failed);
    snprintf(line, sizeof line,
             "sweep %s: %d/%d runs done, %d running, %d queued%s | %s elapsed | "
             "ETA %s",
             s->plan.id, s->n_skipped + s->n_done, s->plan.n_runs, s->n_active, s->n_todo - s->next,
             failed, els, eta);
    fprintf(stderr, "%.*s\n", width, line);
    s->drawn = 1;
    /* the runs in flight in run order (worker slots are reused out of order) */
    for (int next_run = -1;;) {
        const worker *w = NULL;
        for (int i = 0; i < s->a->jobs; i++)
            if (s->w[i].pid > 0 && s->w[i].run > next_run && (!w || s->w[i].run < w->run))
                w = &s->w[i];
        if (!w) break;
        next_run = w->run;
        const sweep_run *r = &s->plan.runs[w->run];
        char rd[32];
        if (w->round > 0)
            snprintf(rd, sizeof rd, "round %d/%d", w->round, r->rounds);
        else
            snprintf(rd, sizeof rd, "starting");
        snprintf(line, sizeof line, "  #%-4d %-14s %s", r->index, rd,
                 s->short_label && s->short_label[w->run] ? s->short_label[w->run] : r->label);
        fprintf(stderr, "%.*s\n", width, line);
        s->drawn++;
    }
    fflush(stderr);
}

/* ---------------------------------------------------------------------------------------------
 * Workers
 * ------------------------------------------------------------------------------------------- */

static int spawn(sweep_state *s, worker *w, int run)
{
    const sweep_args *a = s->a;
    const sweep_run *r = &s->plan.runs[run];
    int nprocs = (int)sysconf(_SC_NPROCESSORS_ONLN);
    int threads = a->threads > 0 ? a->threads : nprocs / a->jobs;
    if (threads < 1) threads = 1;
    char tbuf[16];
    snprintf(tbuf, sizeof tbuf, "%d", threads);
    int n = 0, cap = 16 + 2 * (a->n_overrides + r->n_sets);
    const char **argv = calloc((size_t)cap, sizeof *argv);
    if (!argv) return fs_error(FS_ENOMEM, "out of memory starting a worker");
    argv[n++] = "fedsim";
    argv[n++] = "run";
    argv[n++] = a->file;
    for (int i = 0; i < a->n_overrides; i++) argv[n++] = "--set", argv[n++] = a->overrides[i];
    for (int i = 0; i < r->n_sets; i++) argv[n++] = "--set", argv[n++] = r->sets[i];
    argv[n++] = "--db";
    argv[n++] = s->db;
    argv[n++] = "--quiet";
    argv[n++] = "-j";
    argv[n++] = tbuf;
    argv[n++] = "--sweep-id";
    argv[n++] = s->plan.id;
    argv[n++] = "--swept";
    argv[n++] = r->swept_json;
    argv[n] = NULL;

    memset(w, 0, sizeof *w);
    w->run = run;
    w->fd = -1;
    w->id_before = met_last_run_id(&s->store);
    int fds[2];
    if (pipe(fds) != 0) {
        free(argv);
        return fs_error(FS_EIO, "cannot create a pipe for a worker: %s", strerror(errno));
    }
    /* close-on-exec: a worker must not hold its siblings' pipes open */
    fcntl(fds[0], F_SETFD, FD_CLOEXEC);
    fcntl(fds[1], F_SETFD, FD_CLOEXEC);
    pid_t parent = getpid();
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        free(argv);
        return fs_error(FS_EIO, "cannot start a worker: %s", strerror(errno));
    }
    if (pid == 0) {
        /* the child: async-signal-safe calls only until exec */
        int nul = open("/dev/null", O_RDWR);
        if (nul >= 0) {
            dup2(nul, STDIN_FILENO);
            dup2(nul, STDOUT_FILENO);
            if (nul > STDERR_FILENO) close(nul);
        }
        dup2(fds[1], STDERR_FILENO);
#ifdef __linux__
        prctl(PR_SET_PDEATHSIG, SIGTERM);
#endif
        if (getppid() != parent) _exit(130); /* the parent died before the prctl */
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execv("/proc/self/exe", (char *const *)argv);
        static const char msg[] = "fedsim: error: cannot exec /proc/self/exe for a worker\n";
        ssize_t wr = write(STDERR_FILENO, msg, sizeof msg - 1);
        (void)wr;
        _exit(127);
    }
    free(argv);
    close(fds[1]);
    fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK);
    w->pid = pid;
    w->fd = fds[0];
    w->t0 = time_now();
    s->n_active++;
    return FS_OK;
}

static void drain(worker *w)
{
    char buf[4096];
    for (;;) {
        ssize_t n = read(w->fd, buf, sizeof buf);
        if (n <= 0) break;
        /* keep the last ERR_TAIL - 1 bytes */
        size_t add = (size_t)n;
        if (add >= ERR_TAIL - 1) {
            memcpy(w->err, buf + add - (ERR_TAIL - 1), ERR_TAIL - 1);
            w->err_len = ERR_TAIL - 1;
        } else {
            if (w->err_len + add > ERR_TAIL - 1) {
                size_t drop = w->err_len + add - (ERR_TAIL - 1);
                memmove(w->err, w->err + drop, w->err_len - drop);
                w->err_len -= drop;
            }
            memcpy(w->err + w->err_len, buf, add);
            w->err_len += add;
        }
        w->err[w->err_len] = '\0';
    }
}

/* The last non-empty line the worker wrote ("" if none), without the "fedsim: error: ". */
static const char *last_line(worker *w, char *out, size_t cap)
{
    size_t end = w->err_len;
    while (end > 0 && (w->err[end - 1] == '\n' || w->err[end - 1] == ' ')) end--;
    size_t start = end;
    while (start > 0 && w->err[start - 1] != '\n') start--;
    /* a hint line belongs to the error line above it: show the error */
    if (start > 0 && strncmp(w->err + start, "  hint:", 7) == 0) {
        end = start - 1;
        start = end;
        while (start > 0 && w->err[start - 1] != '\n') start--;
    }
    const char *p = w->err + start;
    if (strncmp(p, "fedsim: error: ", 15) == 0 && (size_t)(p - w->err) + 15 <= end) p += 15;
    snprintf(out, cap, "%.*s", (int)(w->err + end - p), p);
    return out;
}

/* A worker exited with wait status ws: find its row, settle its status, report. */
static void finish(sweep_state *s, worker *w, int ws)
{
    drain(w);
    close(w->fd);
    const sweep_run *r = &s->plan.runs[w->run];
    double wall = time_now() - w->t0;
    met_run_result res;
    met_sweep_find_run(&s->store, s->plan.id, r->key, w->id_before, &res); /* none: -1 */
    char *status = res.status, *error = res.error;
    const int rounds = res.rounds;
    const double acc = res.last_acc;
    int code = WIFEXITED(ws) ? WEXITSTATUS(ws) : -1;
    int sig = WIFSIGNALED(ws) ? WTERMSIG(ws) : 0;
    if (strcmp(status, "running") == 0) {
        /* died without closing its row (killed, crashed): settle it */
        int intr = sweep_signals > 0 && (sig == SIGINT || sig == SIGTERM || sig == SIGKILL);
        snprintf(status, sizeof res.status, "%s", intr ? "interrupted" : "failed");
        if (sig)
            snprintf(error, sizeof res.error, "worker killed by signal %d (%s)", sig,
                     strsignal(sig));
        else
            snprintf(error, sizeof res.error,
                     "worker exited with status %d without closing the run", code);
        met_run_settle(&s->store, res.id, status, error);
    } else if (!status[0]) {
        /* no row: it stopped before the run began (bad data, signal during set-up) */
        int intr = code == 130 || sig == SIGINT || sig == SIGTERM || sig == SIGKILL;
        snprintf(status, sizeof res.status, "%s", intr ? "interrupted" : "failed");
        char ll[400];
        last_line(w, ll, sizeof ll);
        if (sig)
            snprintf(error, sizeof res.error, "killed by signal %d before the run began", sig);
        else
            snprintf(error, sizeof res.error, "%s", ll[0] ? ll : "exited before the run began");
    }
    s->rounds_done += rounds;
    char wt[32];
    fmt_dur(wall, wt, sizeof wt);
    int k = s->n_skipped + s->n_done + s->n_failed + s->n_interrupted + 1;
    if (strcmp(status, "completed") == 0) {
        s->n_done++;
        char accs[32] = "";
        if (!isnan(acc)) snprintf(accs, sizeof accs, ", test acc %.2f%%", 100 * acc);
        say(s, "[%d/%d] done     #%d %s: %d rounds%s, %s", k, s->plan.n_runs, r->index, r->label,
            rounds, accs, wt);
    } else if (strcmp(status, "interrupted") == 0) {
        s->n_interrupted++;
        say(s, "[%d/%d] stopped  #%d %s: interrupted after %d rounds", k, s->plan.n_runs, r->index,
            r->label, rounds);
    } else {
        s->n_failed++;
        erase_block(s); /* failures are reported even with --quiet */
        fprintf(stderr, "[%d/%d] FAILED   #%d %s: %s\n", k, s->plan.n_runs, r->index, r->label,
                error);
    }
    w->pid = 0;
    w->fd = -1;
    s->n_active--;
}

static void signal_all(sweep_state *s, int sig)
{
    for (int i = 0; i < s->a->jobs; i++)
        if (s->w[i].pid > 0) kill(s->w[i].pid, sig);
}

/* Run the queue with a->jobs workers until done or stopped. */
static fs_err run_queue(sweep_state *s)
{
    const int J = s->a->jobs;
    int stopping = 0, killed = 0;
    double last_draw = 0;
    struct pollfd *pf = calloc((size_t)J, sizeof *pf);
    if (!pf) return fs_error(FS_ENOMEM, "out of memory");
    fs_err e = FS_OK;
    for (;;) {
        if (sweep_signals > 0 && !stopping) {
            stopping = 1;
            say(s, "fedsim: stopping: workers finish their round and mark their runs "
                   "interrupted (Ctrl-C again to kill them)");
            signal_all(s, SIGTERM);
        }
        if (sweep_signals > 1 && !killed) {
            killed = 1;
            signal_all(s, SIGKILL);
        }
        while (!stopping && !e && s->n_active < J && s->next < s->n_todo) {
            int slot = 0;
            while (s->w[slot].pid > 0) slot++;
            e = spawn(s, &s->w[slot], s->todo[s->next]);
            if (!e) s->next++;
        }
        if (s->n_active == 0 && (stopping || e || s->next >= s->n_todo)) break;
        int n = 0;
        for (int i = 0; i < J; i++)
            if (s->w[i].pid > 0 && s->w[i].fd >= 0) {
                pf[n].fd = s->w[i].fd;
                pf[n].events = POLLIN;
                n++;
            }
        poll(pf, (nfds_t)n, 200); /* EINTR on a signal: handled above */
        for (int i = 0; i < J; i++) {
            worker *w = &s->w[i];
            if (w->pid <= 0) continue;
            drain(w);
            int ws;
            pid_t p = waitpid(w->pid, &ws, WNOHANG);
            if (p == w->pid) finish(s, w, ws);
        }
        double now = time_now();
        if (now - last_draw > 0.25) {
            draw_block(s);
            last_draw = now;
        }
    }
    erase_block(s);
    free(pf);
    return e;
}

/* Rows left `running` by a sweep that was killed outright: with the lock held, no process of
 * this sweep can be running, so they are interrupted. Returns how many. */
static int settle_stale(sweep_state *s)
{
    int n = 0;
    met_sweep_settle_stale(&s->store, s->plan.id, "its process was gone when the sweep resumed",
                           &n);
    return n;
}

/* The sweep lock: an flock on path, which holds our pid. Not close-on-exec: the workers
 * inherit the open file and with it the lock. The file is removed when the sweep ends; a
 * process that opened it just before may then hold a lock on a removed file, so after locking
 * we check that path still names the file we locked, and retry if not.
 * Returns the fd, -2 if another process holds the lock, -1 on error (errno set). */
static int take_lock(const char *path)
{
    for (int tries = 0; tries < 100; tries++) {
        int fd = open(path, O_RDWR | O_CREAT, 0644);
        if (fd < 0) return -1;
        if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
            int busy = errno == EWOULDBLOCK;
            close(fd);
            return busy ? -2 : -1;
        }
        struct stat a, b;
        if (fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev &&
            a.st_ino == b.st_ino) {
            char pid[32];
            int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
            if (ftruncate(fd, 0) != 0 || write(fd, pid, (size_t)n) != n) pid[0] = '\0';
            return fd;
        }
        close(fd); /* removed or replaced meanwhile: lock the current file instead */
    }
    errno = EAGAIN;
    return -1;
}

static void drop_lock(int fd, const char *path)
{
    unlink(path); /* while still holding the lock: see take_lock */
    close(fd);
}

/* Create the database's folder when it is missing (results/ on a fresh checkout). */
static void make_parent_dir(const char *path)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir) return;
    *slash = '\0';
    mkdir(dir, 0777);
}

/* Parse the arguments and read the plan; under mpirun every rank reads it and the ranks agree
 * on whether it loaded. Returns 1 when the sweep ends here, with its exit status in *rc. */
static int read_plan(int argc, char **argv, sweep_args *a, sweep_state *s, int *rc_out)
{
    const int mpi = dist_size() > 1, rank = dist_rank();
    if (rank != 0) cli_quiet_stderr(1);
    int rc = parse_args(argc, argv, a);
    cfg_diag d;
    fs_err e = rc ? FS_EINPUT
                  : sweep_load_plan(a->file, a->overrides, a->n_overrides, sim_check_algorithm,
                                    &s->plan, &d);
    if (e && !rc) {
        if (e == FS_EINPUT && d.msg[0])
            cfg_diag_print(&d, stderr);
        else
            fprintf(stderr, "fedsim: error: %s\n", fs_errmsg());
        rc = fs_exit_status(e);
    }
    if (rank != 0) cli_quiet_stderr(0);
    if (mpi) {
        if (e && rank != 0 && !rc)
            fs_error(e, "cannot read the sweep %s: %s", a->file, d.msg[0] ? d.msg : fs_errmsg());
        fs_err ea = dist_agree(e);
        if (ea && !e) {
            sweep_free_plan(&s->plan);
            *rc_out = rank == 0 ? cli_fail(ea) : fs_exit_status(ea);
            return 1;
        }
    }
    *rc_out = rc;
    return rc != 0;
}

/* Resume bookkeeping: queue every run without a completed row, in plan order. Returns how many
 * of the queued runs have a row already (failed or interrupted: they run again). */
static int plan_todo(sweep_state *s)
{
    int n_rerun = 0;
    for (int i = 0; i < s->plan.n_runs; i++) {
        char st[32];
        met_sweep_status(&s->store, s->plan.id, s->plan.runs[i].key, st, sizeof st);
        if (strcmp(st, "completed") == 0) {
            s->n_skipped++;
            continue;
        }
        if (st[0]) n_rerun++;
        s->todo[s->n_todo++] = i;
    }
    return n_rerun;
}

/* The opening lines: what will run, what was settled, what the database holds besides. */
static void announce(sweep_state *s, int mpi, int stale, int n_rerun)
{
    const sweep_args *a = s->a;
    /* rows of this sweep id whose key the sweep no longer expands to (the scenario changed) */
    int64_t n_keys_db = met_sweep_count_keys(&s->store, s->plan.id);
    int n_known = s->n_skipped + n_rerun;
    int nprocs = (int)sysconf(_SC_NPROCESSORS_ONLN);
    int threads = a->threads > 0 ? a->threads : nprocs / (a->jobs > 0 ? a->jobs : 1);
    if (a->quiet) return;
    fprintf(stderr,
            "fedsim: sweep '%s': %d runs into %s: %d completed earlier (skipped), %d "
            "to rerun (failed or interrupted), %d new; %d %s x %d threads\n",
            s->plan.id, s->plan.n_runs, s->db, s->n_skipped, n_rerun, s->n_todo - n_rerun,
            mpi ? dist_size() - 1 : a->jobs, mpi ? "MPI ranks" : "jobs", threads < 1 ? 1 : threads);
    if (stale > 0)
        fprintf(stderr,
                "fedsim: %d run(s) left 'running' by a killed sweep marked "
                "interrupted\n",
                stale);
    if (n_keys_db > n_known)
        fprintf(stderr,
                "fedsim: note: %s holds %" PRId64 " run(s) of sweep '%s' with parameters "
                "this file does not list (another subset of the same sweep, or the scenario "
                "changed); 'fedsim info' lists them\n",
                s->db, n_keys_db - n_known, s->plan.id);
}

/* Run the queue, with local workers or on the MPI ranks, with Ctrl-C caught for the while. */
static fs_err run_pool(sweep_state *s, int mpi)
{
    fs_err e;
    struct sigaction sa, old_int, old_term, old_pipe;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sweep_signal; /* no SA_RESTART: poll() returns at once */
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, &old_pipe);
    s->t0 = time_now();
    if (mpi) { /* runs on ranks 1..R-1, rows into s->store by rank 0 only (sweep_mpi.h) */
        sweep_mpi_tally t;
        e = sweep_mpi_queue(&s->plan, &s->store, s->todo, s->n_todo, s->n_skipped, s->a->quiet,
                            &sweep_signals, &t);
        s->next = t.started;
        s->n_done = t.done;
        s->n_failed = t.failed;
        s->rounds_done = t.rounds;
    } else {
        e = run_queue(s);
    }
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGPIPE, &old_pipe, NULL);
    return e;
}

/* The closing summary, and how to resume or what to look at next. */
static void summarize(const sweep_state *s)
{
    const sweep_args *a = s->a;
    if (!(!a->quiet || s->n_failed || sweep_signals)) return;
    char el[32];
    fmt_dur(time_now() - s->t0, el, sizeof el);
    int not_run = s->n_todo - s->next;
    fprintf(stderr,
            "fedsim: sweep '%s': %d/%d runs completed (%d now, %d earlier), %d failed, %d "
            "interrupted, %d not started; %s; %s\n",
            s->plan.id, s->n_done + s->n_skipped, s->plan.n_runs, s->n_done, s->n_skipped,
            s->n_failed, s->n_interrupted, not_run, el, s->db);
    if (s->n_done + s->n_skipped < s->plan.n_runs)
        fprintf(stderr, "  hint: run the same command again to resume: completed runs are "
                        "skipped, the others run again\n");
    else if (!a->quiet)
        fprintf(stderr, "  next: fedsim info %s; analysis/plot.py %s; analysis/table.py %s\n",
                s->db, s->db, s->db);
}

static int sweep_main(int argc, char **argv)
{
    /* mpirun (sweep_mpi.h): every rank reads the plan, only rank 0 prints */
    const int mpi = dist_size() > 1, rank = dist_rank();
    sweep_args a;
    sweep_state s;
    memset(&s, 0, sizeof s);
    s.a = &a;
    int rc;
    if (read_plan(argc, argv, &a, &s, &rc)) return rc;
    s.db = a.db ? a.db : s.plan.db;
    if (mpi && rank != 0) { /* a worker rank: rank 0 hands out the runs */
        rc = a.dry_run
                 ? 0
                 : sweep_mpi_serve(a.file, a.overrides, a.n_overrides, &s.plan, s.db, a.threads);
        sweep_free_plan(&s.plan);
        return rc;
    }
    if (a.dry_run) {
        rc = dry_run(&a, &s.plan, s.db);
        sweep_free_plan(&s.plan);
        return rc;
    }
    if (a.jobs > s.plan.n_runs) a.jobs = s.plan.n_runs;

    make_parent_dir(s.db);
    char lockpath[PATH_MAX];
    snprintf(lockpath, sizeof lockpath, "%s-sweep.lock", s.db);
    int lock = take_lock(lockpath);
    if (lock < 0) {
        if (lock == -2)
            fprintf(stderr,
                    "fedsim: error: another fedsim sweep (or one of its workers) is writing %s\n"
                    "  hint: wait for it to finish, or stop it with Ctrl-C; it holds %s\n",
                    s.db, lockpath);
        else
            fprintf(stderr, "fedsim: error: cannot create %s: %s\n", lockpath, strerror(errno));
        sweep_free_plan(&s.plan);
        return lock == -2 ? 1 : 2; /* a folder we cannot write: a path the user can fix */
    }

    fs_err e = met_open(&s.store, s.db);
    if (e) {
        drop_lock(lock, lockpath);
        sweep_free_plan(&s.plan);
        return cli_fail(e == FS_EIO ? FS_EINPUT : e); /* a path the user can fix: exit 2 */
    }
    int stale = settle_stale(&s);
    s.todo = calloc((size_t)s.plan.n_runs, sizeof *s.todo);
    s.w = calloc((size_t)(a.jobs > 0 ? a.jobs : 1), sizeof *s.w);
    s.short_label = make_short_labels(&s.plan);
    if (!s.todo || !s.w) {
        e = fs_error(FS_ENOMEM, "out of memory");
        goto out;
    }
    int n_rerun = plan_todo(&s);
    s.tty = isatty(STDERR_FILENO) && !a.quiet;
    announce(&s, mpi, stale, n_rerun);
    if (s.n_todo == 0) {
        if (!a.quiet) fprintf(stderr, "fedsim: nothing to do: every run is completed\n");
        goto out;
    }
    e = run_pool(&s, mpi);
    summarize(&s);
out:;
    int interrupted = sweep_signals > 0;
    sweep_signals = 0;
    met_close(&s.store);
    drop_lock(lock, lockpath);
    if (s.short_label)
        for (int i = 0; i < s.plan.n_runs; i++) free(s.short_label[i]);
    free(s.short_label);
    free(s.todo);
    free(s.w);
    sweep_free_plan(&s.plan);
    if (e) return cli_fail(e);
    if (interrupted) return 130;
    return s.n_failed > 0 || s.n_interrupted > 0 ? 1 : 0;
}

int cmd_sweep(int argc, char **argv)
{
    fs_err e = dist_init();
    if (e) {
        const char *r = getenv("OMPI_COMM_WORLD_RANK");
        return r && atoi(r) != 0 ? fs_exit_status(e) : cli_fail(e);
    }
    if (dist_launched() && dist_size() == 1) {
        /* mpirun -n 1: the ordinary sweep; its `fedsim run` workers must not think they were
         * started by mpirun */
        dist_finalize();
        unsetenv("OMPI_COMM_WORLD_SIZE");
        unsetenv("PMIX_RANK");
        unsetenv("PMI_RANK");
    }
    const int rc = sweep_main(argc, argv);
    sweep_mpi_release(); /* every path of rank 0 lets the worker ranks go */
    dist_finalize();
    return rc;
}
