/*
 * huffllm bench run: section 3 of BENCHMARKS.md. One model is loaded twice, compressed
 * (Huffman tiles decoded per product) and uncompressed (hl_model_opts_t.raw: the same engine
 * multiplying the raw bf16 weights where they lie), and generation is timed for each (threads, batch) row in the
 * order A B A B ... (A = compressed), each measurement `tokens` greedy steps of `batch`
 * sequences advancing together through hl_engine_step. Reported per row: medians of both
 * rates and of the paired ratio A/B (with its spread, the noise), by process CPU time and by
 * wall clock; the bytes each path streams per step; the physical limits from the machine
 * rates measured in the same run (bench_run_rates.c); and, from fresh child processes, the
 * resident memory of each loaded model.
 *
 * Both paths must generate the same tokens (the decode is lossless and the engine's
 * arithmetic does not depend on the path); the command fails if they do not.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench_run.h"
#include "huffllm/import.h"

#define HL__RUN_MAX_THREADS 256

typedef struct {
    unsigned batch[HL__BENCH_MAX_LIST], threads[HL__BENCH_MAX_LIST];
    size_t n_batch, n_threads;
    unsigned tokens, reps;
    uint64_t hot_bytes, read_bytes, rate_weights;
    bool wall_rates;
    hl_layout_t layout; /* of a SOURCE compressed for the run */
} run_opts_t;

/* One timed measurement of one path. */
typedef struct {
    double wall, cpu;        /* seconds: wall clock, process CPU */
    double wait;             /* seconds the calling thread waited for a CPU */
    double decode;           /* seconds in tile decode/widen, summed over workers */
    uint64_t weights, bytes; /* multiplied / read, per step */
} meas_t;

/* Everything of one (threads, batch) row. */
typedef struct {
    unsigned threads, batch;
    meas_t *m[2]; /* [path][rep] */
} row_t;

enum { P_COMP, P_RAW };
static const char *const path_name[2] = {"compressed", "uncompressed"};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: huffllm bench run MODEL.hlm|SOURCE [options]\n\n"
            "Generation tokens/s of the engine on the compressed model against the same\n"
            "engine on its uncompressed weights (BENCHMARKS.md section 3), measured side by\n"
            "side (A B A B ..., medians), with resident memory, bytes streamed per token and\n"
            "the physical limits from this machine's read bandwidth and each path's own rate\n"
            "at each batch, measured in the same run. SOURCE (any model `huffllm compress`\n"
            "reads) is compressed into a temporary .hlm first.\n\n"
            "  --batch LIST        sequences per step (default 1,8)\n"
            "  --threads LIST      engine threads (default 1,<online CPUs>)\n"
            "  --tokens N          steps per measurement (default 4)\n"
            "  --reps N            measurements per path and row (default 5)\n"
            "  --hot-buffer BYTES  per-worker hot buffer (K/M/G suffixes; default: the engine's)\n"
            "  --read-buffer BYTES buffer of the bandwidth measurement (default 1G)\n"
            "  --rate-weights N    weights of the largest matrices used for the paths' rates\n"
            "                      (default 67108864; all matrices if the model is smaller)\n"
            "  --layout L          auto|fast|compact: the layout SOURCE is compressed with\n"
            "                      (default auto; see huffllm compress --layout; a .hlm is run\n"
            "                      as it is)\n"
            "  --wall-rates        time the machine rates by the wall clock (default: CPU time\n"
            "                      of each thread)\n"
            "  -h, --help          this help\n");
}

/* ---- arguments ---- */

static int parse_uint(const char *s, unsigned max, unsigned *out)
{
    size_t n;
    unsigned v[1];
    if (strchr(s, ',') || hl__bench_parse_list(s, max, v, 1, &n))
        return HL_EINVAL;
    *out = v[0];
    return 0;
}

static int parse_args(int argc, char **argv, run_opts_t *o, const char **model)
{
    enum { O_BATCH = 256, O_THREADS, O_TOKENS, O_REPS, O_HOT, O_READ, O_RATEW, O_WALL, O_LAYOUT };
    static const struct option longopts[] = {
        {"batch", required_argument, NULL, O_BATCH},
        {"threads", required_argument, NULL, O_THREADS},
        {"tokens", required_argument, NULL, O_TOKENS},
        {"reps", required_argument, NULL, O_REPS},
        {"hot-buffer", required_argument, NULL, O_HOT},
        {"read-buffer", required_argument, NULL, O_READ},
        {"rate-weights", required_argument, NULL, O_RATEW},
        {"wall-rates", no_argument, NULL, O_WALL},
        {"layout", required_argument, NULL, O_LAYOUT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    memset(o, 0, sizeof *o);
    o->batch[0] = 1, o->batch[1] = 8, o->n_batch = 2;
    o->threads[0] = 1, o->n_threads = 1;
    if (ncpu > 1)
        o->threads[o->n_threads++] = (unsigned)HL_MIN(ncpu, (long)HL__RUN_MAX_THREADS);
    o->tokens = 4;
    o->reps = 5;
    o->read_bytes = (uint64_t)1 << 30;
    o->rate_weights = (uint64_t)1 << 26;
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        const char *what = NULL;
        switch (c) {
        case O_BATCH:
            if (hl__bench_parse_list(optarg, 4096, o->batch, HL__BENCH_MAX_LIST, &o->n_batch))
                what = "--batch: expected a comma-separated list of 1..4096";
            break;
        case O_THREADS:
            if (hl__bench_parse_list(optarg, HL__RUN_MAX_THREADS, o->threads,
                                     HL__BENCH_MAX_LIST, &o->n_threads))
                what = "--threads: expected a comma-separated list of 1..256";
            break;
        case O_TOKENS:
            if (parse_uint(optarg, 100000, &o->tokens))
                what = "--tokens: expected an integer 1..100000";
            break;
        case O_REPS:
            if (parse_uint(optarg, 1000, &o->reps))
                what = "--reps: expected an integer 1..1000";
            break;
        case O_HOT:
            if (hl__bench_parse_bytes(optarg, &o->hot_bytes))
                what = "--hot-buffer: expected a positive byte count (K, M, G suffixes)";
            break;
        case O_READ:
            if (hl__bench_parse_bytes(optarg, &o->read_bytes) || o->read_bytes < 4096)
                what = "--read-buffer: expected a byte count of at least 4096";
            break;
        case O_RATEW:
            if (hl__bench_parse_bytes(optarg, &o->rate_weights))
                what = "--rate-weights: expected a positive count (K, M, G suffixes)";
            break;
        case O_WALL:
            o->wall_rates = true;
            break;
        case O_LAYOUT:
            if (hl_layout_parse(optarg, &o->layout))
                what = "--layout: expected auto, fast or compact";
            break;
        case 'h':
            usage(stdout);
            return 1; /* not an error: the caller exits with 0 */
        default:
            fprintf(stderr, "huffllm bench run: unknown or incomplete option '%s'\n",
                    argv[optind - 1]);
            return 2;
        }
        if (what) {
            fprintf(stderr, "huffllm bench run: %s (got '%s')\n", what, optarg);
            return 2;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "huffllm bench run: expected one MODEL argument\n");
        usage(stderr);
        return 2;
    }
    *model = argv[optind];
    return 0;
}

/* ---- the machine and the command ---- */

static void print_machine(void)
{
    char line[512], cpu[256] = "unknown";
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        while (fgets(line, sizeof line, f))
            if (!strncmp(line, "model name", 10) && strchr(line, ':')) {
                snprintf(cpu, sizeof cpu, "%s", strchr(line, ':') + 2);
                cpu[strcspn(cpu, "\n")] = 0;
                break;
            }
        fclose(f);
    }
    printf("machine: nproc %ld, CPU %s\n", sysconf(_SC_NPROCESSORS_ONLN), cpu);
}

static void print_load(const char *when)
{
    double l[3];
    if (getloadavg(l, 3) == 3)
        printf("load average %s: %.2f %.2f %.2f\n", when, l[0], l[1], l[2]);
}

static void print_command(int argc, char **argv)
{
    printf("command: huffllm bench");
    for (int i = 0; i < argc; i++)
        printf(strpbrk(argv[i], " \t'\"$") ? " '%s'" : " %s", argv[i]);
    printf("\n");
}

/* ---- the model file ---- */

static bool is_hlm(const char *path)
{
    static const char magic[8] = "HUFFLLM\x1a";
    char head[8];
    struct stat st;
    if (stat(path, &st) || !S_ISREG(st.st_mode))
        return false;
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    bool yes = fread(head, 1, sizeof head, f) == sizeof head && !memcmp(head, magic, 8);
    fclose(f);
    return yes;
}

/* Compresses a source model with the default writer options but `layout` into
 * tmp_dir/model.hlm. */
static int compress_source(const char *src_path, hl_layout_t layout, char *tmp_dir, char *out,
                           size_t out_len, hl_error_t *err)
{
    hl_source_t src;
    hl_import_opts_t iopts = {0};
    int rc = hl_import(src_path, &iopts, &src, err);
    if (rc)
        return rc;
    if (!mkdtemp(tmp_dir)) {
        hl_source_dispose(&src);
        return hl_error_set_errno(err, HL_EIO, errno, "bench run: temporary directory");
    }
    snprintf(out, out_len, "%s/model.hlm", tmp_dir);
    double t0 = hl_now();
    hl_write_opts_t wopts = {.layout = layout};
    rc = hl_hlm_write(&src, out, &wopts, err);
    hl_source_dispose(&src);
    if (!rc)
        printf("compressed %s into a temporary .hlm (layout %s) in %.1f s\n", src_path,
               hl_layout_name(layout), hl_now() - t0);
    return rc;
}

/* ---- timing one path ---- */

static double process_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int32_t argmax(const float *v, uint32_t n)
{
    uint32_t best = 0;
    for (uint32_t i = 1; i < n; i++)
        if (v[i] > v[best])
            best = i;
    return (int32_t)best;
}

/* The sequences, logits and generated tokens of one path in one row. */
typedef struct {
    const hl_model_t *m;
    hl_seq_t **seqs;
    float **logits;
    int32_t *tok;   /* batch: the next input of each sequence */
    int32_t *trace; /* tokens x batch: what was generated in the last measurement */
} gen_t;

static void gen_dispose(gen_t *g, unsigned batch)
{
    for (unsigned i = 0; i < batch; i++) {
        if (g->seqs)
            hl_seq_free(g->seqs[i]);
        if (g->logits)
            free(g->logits[i]);
    }
    free(g->seqs);
    free(g->logits);
    free(g->tok);
    free(g->trace);
    memset(g, 0, sizeof *g);
}

static int gen_init(gen_t *g, const hl_model_t *m, unsigned batch, unsigned tokens)
{
    uint32_t vocab = hl_model_hparams(m)->vocab_size;
    memset(g, 0, sizeof *g);
    g->m = m;
    g->seqs = calloc(batch, sizeof *g->seqs);
    g->logits = calloc(batch, sizeof *g->logits);
    g->tok = calloc(batch, sizeof *g->tok);
    g->trace = calloc((size_t)tokens * batch, sizeof *g->trace);
    if (!g->seqs || !g->logits || !g->tok || !g->trace)
        return HL_ENOMEM;
    for (unsigned i = 0; i < batch; i++) {
        int rc = hl_seq_create(m, tokens, &g->seqs[i]);
        if (rc)
            return rc;
        if (!(g->logits[i] = malloc((size_t)vocab * sizeof(float))))
            return HL_ENOMEM;
    }
    return 0;
}

/*
 * `tokens` greedy steps of all sequences from position 0, each sequence starting from its
 * own token (so the batch is not `batch` copies of one sequence). @return 0 or the engine's
 * error.
 */
static int generate(hl_engine_t *e, gen_t *g, unsigned batch, unsigned tokens, meas_t *out)
{
    uint32_t vocab = hl_model_hparams(g->m)->vocab_size;
    for (unsigned i = 0; i < batch; i++) {
        hl_seq_reset(g->seqs[i]);
        g->tok[i] = (int32_t)((1 + 7919u * i) % vocab);
    }
    hl_engine_stats_t s0, s1;
    double wait0, wait1;
    bool sched = !hl__bench_sched_wait(&wait0);
    hl_engine_stats(e, &s0);
    double c0 = process_cpu(), t0 = hl_now();
    for (unsigned k = 0; k < tokens; k++) {
        int rc = hl_engine_step(e, g->m, g->seqs, g->tok, batch, g->logits);
        if (rc)
            return rc;
        for (unsigned i = 0; i < batch; i++)
            g->tok[i] = g->trace[(size_t)k * batch + i] = argmax(g->logits[i], vocab);
    }
    out->wall = hl_now() - t0;
    out->cpu = process_cpu() - c0;
    hl_engine_stats(e, &s1);
    sched = sched && !hl__bench_sched_wait(&wait1);
    out->wait = sched ? wait1 - wait0 : NAN;
    out->decode = s1.decode_seconds - s0.decode_seconds;
    uint64_t steps = s1.steps - s0.steps;
    out->weights = steps ? (s1.weights_decoded - s0.weights_decoded) / steps : 0;
    out->bytes = steps ? (s1.bytes_decoded - s0.bytes_decoded) / steps : 0;
    return 0;
}

/* One row: reps x (compressed, uncompressed), after one untimed measurement of each (page
 * faults of the first pass, buffer growth). Fails if the paths generate different tokens. */
static int measure_row(hl_engine_t *e, const hl_model_t *const models[2], const run_opts_t *o,
                       row_t *row, hl_error_t *err)
{
    gen_t g[2];
    memset(g, 0, sizeof g);
    int rc = 0;
    for (int p = 0; p < 2 && !rc; p++)
        if ((rc = gen_init(&g[p], models[p], row->batch, o->tokens)))
            hl_error_set(err, rc, "bench run: %u sequences of %u tokens: %s", row->batch,
                         o->tokens, hl_strerror(rc));
    size_t trace_bytes = (size_t)o->tokens * row->batch * sizeof(int32_t);
    for (unsigned r = 0; r <= o->reps && !rc; r++) {
        meas_t warm;
        for (int p = 0; p < 2 && !rc; p++)
            if ((rc = generate(e, &g[p], row->batch, o->tokens, r ? &row->m[p][r - 1] : &warm)))
                hl_error_set(err, rc, "bench run: %s model, %u threads, batch %u: %s",
                             path_name[p], row->threads, row->batch, hl_strerror(rc));
        if (!rc && memcmp(g[P_COMP].trace, g[P_RAW].trace, trace_bytes))
            rc = hl_error_set(err, HL_EINTERNAL,
                              "bench run: %u threads, batch %u: the compressed and the "
                              "uncompressed model generated different tokens",
                              row->threads, row->batch);
    }
    for (int p = 0; p < 2; p++)
        gen_dispose(&g[p], row->batch);
    return rc;
}

/* ---- tables ---- */

typedef double (*meas_fn)(const meas_t *m, const row_t *row, const run_opts_t *o);

static double rate_cpu(const meas_t *m, const row_t *row, const run_opts_t *o)
{
    return (double)o->tokens * row->batch * row->threads / m->cpu;
}

static double rate_wall(const meas_t *m, const row_t *row, const run_opts_t *o)
{
    return (double)o->tokens * row->batch / m->wall;
}

typedef struct {
    double comp, raw, ratio, ratio_lo, ratio_hi;
} row_rates_t;

/* Medians of both rates and of the ratio of each adjacent (A, B) pair. */
static void row_rates(const row_t *row, const run_opts_t *o, meas_fn f, double *tmp,
                      row_rates_t *out)
{
    double *ratio = tmp + o->reps;
    for (unsigned r = 0; r < o->reps; r++)
        ratio[r] = f(&row->m[P_COMP][r], row, o) / f(&row->m[P_RAW][r], row, o);
    hl__bench_minmax(ratio, o->reps, &out->ratio_lo, &out->ratio_hi);
    out->ratio = hl__bench_median(ratio, o->reps);
    for (int p = 0; p < 2; p++) {
        for (unsigned r = 0; r < o->reps; r++)
            tmp[r] = f(&row->m[p][r], row, o);
        *(p == P_COMP ? &out->comp : &out->raw) = hl__bench_median(tmp, o->reps);
    }
}

/* Median over the reps of path p of a field chosen by `which`. */
static double row_median(const row_t *row, int p, unsigned reps, double *tmp, int which)
{
    for (unsigned r = 0; r < reps; r++) {
        const meas_t *m = &row->m[p][r];
        tmp[r] = which == 0   ? (double)m->bytes
                 : which == 1 ? (double)m->weights
                 : which == 2 ? m->decode / (m->wall * row->threads)
                              : m->wait / m->wall;
    }
    return hl__bench_median(tmp, reps);
}

/* The machine rates of (threads, batch): rates[] is threads-major, as measure_rates fills it. */
static const hl__bench_rates_t *rates_for(const hl__bench_rates_t *rates, const run_opts_t *o,
                                          unsigned threads, unsigned batch)
{
    for (size_t i = 0; i < o->n_threads; i++)
        for (size_t j = 0; j < o->n_batch; j++)
            if (o->threads[i] == threads && o->batch[j] == batch)
                return &rates[i * o->n_batch + j];
    return NULL;
}

static void print_tables(const row_t *rows, size_t n_rows, const hl__bench_rates_t *rates,
                         const run_opts_t *o, double *tmp)
{
    printf("\ntokens/s: %u greedy steps per measurement, %u measurements per path, order "
           "A B A B ... (A compressed, B uncompressed), medians; ratio = A/B of each adjacent "
           "pair, median (min..max: the noise)\n",
           o->tokens, o->reps);
    printf("by CPU time: tokens x threads / process CPU seconds (the rate with `threads` "
           "cores to itself; for threads > 1 optimistic by the time workers wait at "
           "barriers); limits from the rates above (tokens/s), each the lower of two: the "
           "read bandwidth over the bytes a step streams (batch x read bandwidth / bytes per "
           "step) and the path's own rate at that batch (batch x threads x rate / weights per "
           "step), binds = which one is lower (bandw. or rate); gemv = threads x fp32 gemv rate "
           "/ weights per step (a bound for each sequence of the batch); reach = measured / "
           "limit (u. uncompressed, c. compressed); r.ceil = compressed limit / uncompressed "
           "limit, the best ratio these rates "
           "allow:\n");
    printf("%-4s %5s %11s %12s %7s %13s | %11s %-6s %11s %-6s %11s | %7s %7s %6s | %s\n",
           "thr", "batch", "compressed", "uncompressed", "ratio", "(min..max)", "lim uncomp",
           "binds", "lim comp", "binds", "lim gemv", "u.reach", "c.reach", "r.ceil",
           "workers' time in decode/widen (A, B)");
    for (size_t i = 0; i < n_rows; i++) {
        const row_t *row = &rows[i];
        row_rates_t rr;
        row_rates(row, o, rate_cpu, tmp, &rr);
        const hl__bench_rates_t *mr = rates_for(rates, o, row->threads, row->batch);
        hl__bench_limit_in_t in = {
            .threads = row->threads,
            .batch = row->batch,
            .bandwidth = mr->bandwidth,
            .decode_rate = mr->decode_rate,
            .raw_rate = mr->widen_rate,
            .sgemv_rate = mr->sgemv_rate,
            .weights_step = row_median(row, P_COMP, o->reps, tmp, 1),
            .raw_bytes_step = row_median(row, P_RAW, o->reps, tmp, 0),
            .comp_bytes_step = row_median(row, P_COMP, o->reps, tmp, 0),
        };
        hl__bench_limits_t lim;
        char range[40];
        snprintf(range, sizeof range, "(%.3f..%.3f)", rr.ratio_lo, rr.ratio_hi);
        printf("%-4u %5u %11.2f %12.2f %7.3f %13s | ", row->threads, row->batch, rr.comp,
               rr.raw, rr.ratio, range);
        if (hl__bench_limits(&in, &lim))
            printf("%11s %-6s %11s %-6s %11s | %7s %7s %6s | ", "-", "-", "-", "-", "-", "-", "-",
                   "-");
        else
            printf("%11.2f %-6s %11.2f %-6s %11.2f | %6.0f%% %6.0f%% %6.3f | ", lim.raw,
                   lim.raw_route_binds ? "rate" : "bandw.", lim.comp,
                   lim.decode_binds ? "rate" : "bandw.", lim.compute, 100 * rr.raw / lim.raw,
                   100 * rr.comp / lim.comp, lim.ratio);
        printf("%.0f%%, %.0f%%\n", 100 * row_median(row, P_COMP, o->reps, tmp, 2),
               100 * row_median(row, P_RAW, o->reps, tmp, 2));
    }
    printf("by wall clock (what a user of this machine saw, time waiting for a CPU "
           "included):\n");
    printf("%-4s %5s %11s %12s %7s %13s | %s\n", "thr", "batch", "compressed", "uncompressed",
           "ratio", "(min..max)", "share of the time the calling thread waited for a CPU (A, B)");
    for (size_t i = 0; i < n_rows; i++) {
        const row_t *row = &rows[i];
        row_rates_t rr;
        row_rates(row, o, rate_wall, tmp, &rr);
        char range[40];
        snprintf(range, sizeof range, "(%.3f..%.3f)", rr.ratio_lo, rr.ratio_hi);
        printf("%-4u %5u %11.2f %12.2f %7.3f %13s | ", row->threads, row->batch, rr.comp,
               rr.raw, rr.ratio, range);
        double wa = row_median(row, P_COMP, o->reps, tmp, 3);
        double wb = row_median(row, P_RAW, o->reps, tmp, 3);
        if (isnan(wa) || isnan(wb))
            printf("(no /proc/thread-self/schedstat)\n");
        else
            printf("%.0f%%, %.0f%%\n", 100 * wa, 100 * wb);
    }
}

/* ---- the run ---- */

typedef struct {
    run_opts_t o;
    const char *model_arg;
    const char *path;
    char tmp_dir[300], tmp_path[320];
    hl_model_t *models[2];
    hl__bench_rater_t *rater;
    hl__bench_rates_t *rates; /* per (threads, batch), threads-major */
    row_t *rows;
    size_t n_rows;
    double *tmp; /* 2 x reps scratch for medians */
} run_t;

static void run_dispose(run_t *r)
{
    for (size_t i = 0; i < r->n_rows; i++)
        for (int p = 0; p < 2; p++)
            free(r->rows[i].m[p]);
    free(r->rows);
    free(r->rates);
    free(r->tmp);
    hl__bench_rater_free(r->rater);
    for (int p = 0; p < 2; p++)
        hl_model_free(r->models[p]);
    if (r->tmp_path[0]) {
        unlink(r->tmp_path);
        rmdir(r->tmp_dir);
    }
}

static int print_memory(run_t *r, hl_error_t *err)
{
    hl__bench_mem_t mem[2];
    for (int p = 0; p < 2; p++) {
        int rc = hl__bench_model_memory(r->path, p == P_RAW, &mem[p], err);
        if (rc)
            return rc;
    }
    printf("memory: resident set of a fresh process that loaded the model and ran one step "
           "(1 engine thread, 1 sequence), minus its resident set before the load; peak = "
           "its high-water mark, less the same:\n");
    for (int p = 0; p < 2; p++)
        printf("  %-12s  RSS %8.1f MiB  peak %8.1f MiB  load %.2f s\n", path_name[p],
               (double)mem[p].rss / (1 << 20), (double)mem[p].peak / (1 << 20),
               mem[p].load_seconds);
    return 0;
}

static int load_models(run_t *r, hl_error_t *err)
{
    for (int p = 0; p < 2; p++) {
        hl_model_opts_t mo = {.raw = p == P_RAW};
        int rc = hl_model_load(r->path, &mo, &r->models[p], err);
        if (rc)
            return rc;
    }
    const hl_model_t *m = r->models[P_COMP];
    const hl_hparams_t *hp = hl_model_hparams(m);
    printf("model: %u layers, dim %u, hidden %u, heads %u (kv %u), vocab %u; %.1f M "
           "parameters; weights in memory: compressed %.1f MB, uncompressed %.1f MB "
           "(%.2f bits/weight compressed)\n",
           hp->n_layers, hp->dim, hp->hidden_dim, hp->n_heads, hp->n_kv_heads, hp->vocab_size,
           (double)hl_model_n_params(m) / 1e6, (double)hl_model_weight_bytes(m) / 1e6,
           (double)hl_model_weight_bytes(r->models[P_RAW]) / 1e6,
           8.0 * (double)hl_model_weight_bytes(m) / (double)hl_model_n_params(m));
    return 0;
}

static int measure_rates(run_t *r, hl_error_t *err)
{
    unsigned max_t = 0, max_b = 0;
    for (size_t i = 0; i < r->o.n_threads; i++)
        max_t = HL_MAX(max_t, r->o.threads[i]);
    for (size_t i = 0; i < r->o.n_batch; i++)
        max_b = HL_MAX(max_b, r->o.batch[i]);
    int rc = hl__bench_rater_create(r->models[P_COMP], r->o.rate_weights, r->o.read_bytes,
                                    max_t, max_b, r->o.wall_rates, &r->rater, err);
    if (rc)
        return rc;
    char desc[512];
    hl__bench_rater_describe(r->rater, desc, sizeof desc);
    printf("\nmachine rates, medians of %u, measured in this run (%s; at each batch: "
           "compressed = decode + product of every weight by `batch` activations as the engine "
           "routes a tile, uncompressed = the raw path's product from the source bytes in "
           "RAM):\n",
           r->o.reps, desc);
    printf("%-7s %5s %12s %23s %25s %19s\n", "threads", "batch", "read GB/s",
           "compressed G w/s/thr", "uncompressed G w/s/thr", "gemv G w/s/thr");
    const run_opts_t *o = &r->o;
    double *v = calloc((size_t)o->reps * 4, sizeof *v);
    if (!v)
        return hl_error_set(err, HL_ENOMEM, "bench run: out of memory");
    for (size_t i = 0; i < o->n_threads * o->n_batch && !rc; i++) {
        unsigned t = o->threads[i / o->n_batch], b = o->batch[i % o->n_batch];
        for (unsigned k = 0; k < o->reps && !rc; k++) {
            hl__bench_rates_t one;
            if ((rc = hl__bench_rater_measure(r->rater, t, b, &one))) {
                hl_error_set(err, rc, "bench run: rates with %u threads at batch %u: %s", t, b,
                             hl_strerror(rc));
                break;
            }
            v[k] = one.bandwidth, v[o->reps + k] = one.decode_rate;
            v[2 * o->reps + k] = one.widen_rate, v[3 * o->reps + k] = one.sgemv_rate;
        }
        if (rc)
            break;
        hl__bench_rates_t *m = &r->rates[i];
        m->bandwidth = hl__bench_median(v, o->reps);
        m->decode_rate = hl__bench_median(v + o->reps, o->reps);
        m->widen_rate = hl__bench_median(v + 2 * o->reps, o->reps);
        m->sgemv_rate = hl__bench_median(v + 3 * o->reps, o->reps);
        printf("%-7u %5u %12.2f %23.3f %25.3f %19.3f\n", t, b, m->bandwidth / 1e9,
               m->decode_rate / 1e9, m->widen_rate / 1e9, m->sgemv_rate / 1e9);
    }
    free(v);
    return rc;
}

static int measure_rows(run_t *r, hl_error_t *err)
{
    const run_opts_t *o = &r->o;
    r->rows = calloc(o->n_threads * o->n_batch, sizeof *r->rows);
    if (!r->rows)
        return hl_error_set(err, HL_ENOMEM, "bench run: out of memory");
    const hl_model_t *const models[2] = {r->models[P_COMP], r->models[P_RAW]};
    int rc = 0;
    for (size_t ti = 0; ti < o->n_threads && !rc; ti++) {
        hl_engine_opts_t eo = {.n_threads = o->threads[ti], .hot_buffer_bytes = o->hot_bytes};
        hl_engine_t *e;
        if ((rc = hl_engine_create(&eo, &e, err)))
            break;
        for (size_t bi = 0; bi < o->n_batch && !rc; bi++) {
            row_t *row = &r->rows[r->n_rows++];
            row->threads = o->threads[ti];
            row->batch = o->batch[bi];
            for (int p = 0; p < 2; p++)
                if (!(row->m[p] = calloc(o->reps, sizeof(meas_t))))
                    rc = hl_error_set(err, HL_ENOMEM, "bench run: out of memory");
            if (!rc)
                rc = measure_row(e, models, o, row, err);
            if (!rc) {
                fflush(stdout); /* progress on stderr after what stdout already has */
                fprintf(stderr, "bench run: %u threads, batch %u done\n", row->threads,
                        row->batch);
            }
        }
        if (!rc && ti == 0)
            printf("hot buffer per worker: %zu KiB\n", hl_engine_hot_buffer_bytes(e) >> 10);
        hl_engine_free(e);
    }
    return rc;
}

static void print_streamed(const run_t *r)
{
    const row_t *row = &r->rows[0];
    const meas_t *a = &row->m[P_COMP][0], *b = &row->m[P_RAW][0];
    printf("streamed per step (every weight matrix once, shared by the batch; per token = "
           "this / batch): %.1f M weights; compressed payload %.1f MB (%.2f bits/weight), "
           "uncompressed %.1f MB (%.2f bits/weight)\n",
           (double)a->weights / 1e6, (double)a->bytes / 1e6,
           8.0 * (double)a->bytes / (double)a->weights, (double)b->bytes / 1e6,
           8.0 * (double)b->bytes / (double)b->weights);
}

int hl__bench_run(int argc, char **argv)
{
    run_t r;
    memset(&r, 0, sizeof r);
    int rc = parse_args(argc, argv, &r.o, &r.model_arg);
    if (rc)
        return rc == 1 ? 0 : rc;
    hl_error_t err = {0};
    printf("\n-- 3. tokens per second: %s\n", r.model_arg);
    print_machine();
    print_command(argc, argv);
    print_load("at start");
    r.path = r.model_arg;
    if (!is_hlm(r.model_arg)) {
        const char *tmp = getenv("TMPDIR");
        snprintf(r.tmp_dir, sizeof r.tmp_dir, "%s/huffllm-bench-run-XXXXXX",
                 tmp && *tmp && strlen(tmp) < 256 ? tmp : "/tmp");
        rc = compress_source(r.model_arg, r.o.layout, r.tmp_dir, r.tmp_path, sizeof r.tmp_path,
                             &err);
        r.path = r.tmp_path;
    }
    r.rates = calloc(r.o.n_threads * r.o.n_batch, sizeof *r.rates);
    r.tmp = calloc(2 * (size_t)r.o.reps, sizeof *r.tmp);
    if (!rc && (!r.rates || !r.tmp))
        rc = hl_error_set(&err, HL_ENOMEM, "bench run: out of memory");
    /* memory first: the children are forked before this process starts any thread */
    if (!rc)
        rc = print_memory(&r, &err);
    if (!rc)
        rc = load_models(&r, &err);
    if (!rc)
        rc = measure_rates(&r, &err);
    if (!rc)
        rc = measure_rows(&r, &err);
    if (!rc) {
        print_streamed(&r);
        print_tables(r.rows, r.n_rows, r.rates, &r.o, r.tmp);
        printf("generated tokens: identical on both paths in every measurement\n");
        print_load("at end");
    }
    if (rc)
        fprintf(stderr, "huffllm bench run: %s\n", hl_error_msg(&err, rc));
    fflush(stdout);
    run_dispose(&r);
    return rc ? 1 : 0;
}
