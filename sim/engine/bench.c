/* Engine benchmarks (see bench.h).
 *  1. Event queue: a "hold" model (Jones 1986) on a heap of H pending events: pop the
 *     earliest, push one at now + Exp(1); events per second = (pushes + pops) / 2 / s.
 *  2. Schedule cost: the million-client scenario run with training switched off
 *     (sim_opts.schedule_only), so all that remains is availability, selection, device
 *     profiles, the event-driven round and the metrics rows; reported per client-round. */
#include "engine/bench.h"

#include <math.h>
#include <string.h>

#include "config/config.h"
#include "engine/evq.h"
#include "engine/sim.h"
#include "util/log.h"
#include "util/rng.h"

static double hold(size_t H, long ops)
{
    evq q;
    if (evq_init(&q, H + 1)) return NAN;
    rng_t r;
    rng_init(&r, 1, RNG_TEST, H, 0);
    for (size_t i = 0; i < H; i++) evq_push(&q, -log(rng_uniform_pos(&r)), 0, (uint32_t)i, 0, NULL);
    evq_event ev;
    double t0 = time_now();
    for (long i = 0; i < ops; i++) {
        evq_pop(&q, &ev);
        evq_push(&q, ev.time - log(rng_uniform_pos(&r)), 0, ev.client, 0, NULL);
    }
    double dt = time_now() - t0;
    evq_free(&q);
    return (double)ops / dt;
}

static const char *million =
    "name: bench-engine\n"
    "data: {dataset: synthetic, synthetic_clients: 1000000, synthetic_size_mean: 1.5,\n"
    "       synthetic_size_sigma: 0.5, synthetic_min_size: 5, synthetic_lazy: true}\n"
    "partition: {kind: natural, clients: 1000000}\n"
    "model: {name: logreg}\n"
    "train: {epochs: 5, batch_size: 5, lr: 0.05}\n"
    "rounds: {count: 20, clients_per_round: 1000, overcommit: 0.3, deadline_s: 600}\n"
    "devices: {model: tiers}\n"
    "availability: {mode: diurnal}\n"
    "dropout: {p: 0.05, hazard_per_s: 0.001}\n"
    "eval: {every: 1000}\n";

fs_err bench_engine(FILE *out)
{
    fprintf(out,
            "## engine\n\nevent queue (4-ary heap, hold model: pop + push at now + Exp(1)):\n\n");
    fprintf(out, "| pending events | events/s (one core) |\n|---:|---:|\n");
    const size_t sizes[] = {100, 10000, 1000000};
    for (int i = 0; i < 3; i++) {
        double eps = hold(sizes[i], 5000000);
        fprintf(out, "| %zu | %.2f M |\n", sizes[i], eps / 1e6);
    }
    cfg c;
    cfg_diag d;
    fs_err e = cfg_parse_text(million, strlen(million), "<bench>", &c, &d);
    if (e) return fs_error(e, "bench scenario: %s", d.msg);
    cfg_derive(&c, "bench-engine");
    enum log_level lv = log_get_level();
    log_set_level(LOG_WARN);
    sim_opts o = {
        .db_path = "/tmp/fedsim-bench-engine.db", .quiet = 1, .threads = 1, .schedule_only = 1};
    remove(o.db_path);
    sim_summary s;
    double t0 = time_now();
    e = sim_run(&c, &o, &s);
    double wall = time_now() - t0;
    log_set_level(lv);
    remove(o.db_path);
    if (e) return e;
    const double client_rounds = (double)s.rounds_done * 1300; /* selected per round */
    fprintf(out,
            "\nschedule only, 1,000,000 clients (lazy synthetic data), 1,300 selected per round, "
            "diurnal availability, tiers, dropouts and a failure hazard, %d rounds:\n\n"
            "| set-up + run (s) | rounds/s | engine us per client-round |\n|---:|---:|---:|\n"
            "| %.2f | %.1f | %.2f |\n\n",
            s.rounds_done, wall, s.rounds_done / s.wall_s, 1e6 * s.wall_s / client_rounds);
    return FS_OK;
}
