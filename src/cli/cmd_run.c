/*
 * huffllm run: generates text from a .hlm model, streaming the continuation to stdout.
 * Weights stay Huffman-compressed in memory and are decoded tile by tile on worker threads
 * (or, with --raw, kept as their source dtype and widened tile by tile, for comparison).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/commands.h"
#include "huffllm/engine.h"

static void run_usage(FILE *out)
{
    fprintf(out,
            "usage: huffllm run MODEL.hlm [options]\n\n"
            "Generates text with the model, weights decoded from their compressed tiles.\n\n"
            "  -p, --prompt TEXT      prompt (default: empty; BOS is prepended when the\n"
            "                         tokenizer asks for it)\n"
            "  -n, --max-tokens N     tokens to generate at most (default 256)\n"
            "      --temp T           temperature, 0 = greedy (default 1.0)\n"
            "      --top-p P          nucleus sampling (default 0.9)\n"
            "      --top-k K          keep the K most likely tokens (default 0 = off)\n"
            "      --min-p P          drop tokens below P x the top probability (default 0)\n"
            "      --repeat-penalty R penalty on the last 64 tokens (default 1 = off)\n"
            "      --seed S           RNG seed (default: from the clock, printed)\n"
            "      --threads K        worker threads (default: online CPUs)\n"
            "      --ctx N            context length (default: the model's)\n"
            "      --raw              keep weights uncompressed in memory (comparison mode)\n"
            "      --hot-buffer BYTES per-worker hot buffer, suffix K or M allowed\n"
            "                         (default 256K, raised to the largest tile)\n"
            "      --verify           check the file digest and every tile CRC at load\n"
            "  -h, --help             this help\n\n"
            "Tokens/s and resident memory are printed to stderr.\n");
}

static int parse_u64(const char *s, const char *opt, uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    uint64_t mul = 1;
    if (end != s && (*end == 'k' || *end == 'K'))
        mul = 1024, end++;
    else if (end != s && (*end == 'm' || *end == 'M'))
        mul = 1024 * 1024, end++;
    uint64_t r;
    if (s[0] == '-' || end == s || *end || errno || !hl_mul_ok(v, mul, &r) || r > max) {
        fprintf(stderr, "huffllm run: %s: expected an integer in 0..%llu, got '%s'\n", opt,
                (unsigned long long)max, s);
        return -1;
    }
    *out = r;
    return 0;
}

static int parse_float(const char *s, const char *opt, float lo, float hi, float *out)
{
    char *end;
    errno = 0;
    float v = strtof(s, &end);
    if (end == s || *end || errno || !(v >= lo && v <= hi)) {
        fprintf(stderr, "huffllm run: %s: expected a number in [%g, %g], got '%s'\n", opt,
                (double)lo, (double)hi, s);
        return -1;
    }
    *out = v;
    return 0;
}

/* Resident set size of this process in bytes (VmRSS), 0 if unknown. */
static uint64_t resident_bytes(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return 0;
    char line[256];
    unsigned long long kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %llu kB", &kb) == 1)
            break;
    fclose(f);
    return (uint64_t)kb * 1024;
}

typedef struct {
    const char *model, *prompt;
    uint64_t max_tokens, threads, ctx, hot;
    hl_sampler_params_t sp;
    bool seed_given, raw, verify;
} run_args_t;

static int parse_args(int argc, char **argv, run_args_t *a)
{
    enum { O_TEMP = 256, O_TOPP, O_TOPK, O_MINP, O_REP, O_SEED, O_THREADS, O_CTX, O_RAW, O_HOT,
           O_VERIFY };
    static const struct option opts[] = {
        {"prompt", required_argument, NULL, 'p'},  {"max-tokens", required_argument, NULL, 'n'},
        {"temp", required_argument, NULL, O_TEMP}, {"top-p", required_argument, NULL, O_TOPP},
        {"top-k", required_argument, NULL, O_TOPK}, {"min-p", required_argument, NULL, O_MINP},
        {"repeat-penalty", required_argument, NULL, O_REP},
        {"seed", required_argument, NULL, O_SEED}, {"threads", required_argument, NULL, O_THREADS},
        {"ctx", required_argument, NULL, O_CTX},   {"raw", no_argument, NULL, O_RAW},
        {"hot-buffer", required_argument, NULL, O_HOT}, {"verify", no_argument, NULL, O_VERIFY},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
    };
    memset(a, 0, sizeof *a);
    a->prompt = "";
    a->max_tokens = 256;
    hl_sampler_params_default(&a->sp);
    a->sp.temperature = 1.0f;
    a->sp.top_p = 0.9f;
    uint64_t v;
    int c;
    optind = 1;
    opterr = 1;
    while ((c = getopt_long(argc, argv, "p:n:h", opts, NULL)) != -1) {
        switch (c) {
        case 'p': a->prompt = optarg; break;
        case 'n':
            if (parse_u64(optarg, "--max-tokens", UINT32_MAX, &a->max_tokens))
                return 2;
            break;
        case O_TEMP:
            if (parse_float(optarg, "--temp", 0.0f, 100.0f, &a->sp.temperature))
                return 2;
            break;
        case O_TOPP:
            if (parse_float(optarg, "--top-p", 1e-6f, 1.0f, &a->sp.top_p))
                return 2;
            break;
        case O_TOPK:
            if (parse_u64(optarg, "--top-k", INT32_MAX, &v))
                return 2;
            a->sp.top_k = (int32_t)v;
            break;
        case O_MINP:
            if (parse_float(optarg, "--min-p", 0.0f, 1.0f, &a->sp.min_p))
                return 2;
            break;
        case O_REP:
            if (parse_float(optarg, "--repeat-penalty", 1e-3f, 100.0f, &a->sp.repeat_penalty))
                return 2;
            break;
        case O_SEED:
            if (parse_u64(optarg, "--seed", UINT64_MAX, &a->sp.seed))
                return 2;
            a->seed_given = true;
            break;
        case O_THREADS:
            if (parse_u64(optarg, "--threads", 1024, &a->threads))
                return 2;
            break;
        case O_CTX:
            if (parse_u64(optarg, "--ctx", UINT32_MAX, &a->ctx))
                return 2;
            break;
        case O_HOT:
            if (parse_u64(optarg, "--hot-buffer", (uint64_t)1 << 34, &a->hot))
                return 2;
            break;
        case O_RAW: a->raw = true; break;
        case O_VERIFY: a->verify = true; break;
        case 'h': run_usage(stdout); return 0;
        default: run_usage(stderr); return 2;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "huffllm run: expected one MODEL.hlm argument\n");
        run_usage(stderr);
        return 2;
    }
    a->model = argv[optind];
    if (!a->seed_given)
        a->sp.seed = (uint64_t)time(NULL);
    return -1; /* go on */
}

/* Samples, prints and feeds tokens; @return tokens generated or a negative HL_E* code. */
static long generate(hl_engine_t *e, const hl_model_t *m, hl_seq_t *seq, hl_sampler_t *smp,
                     int32_t last_prompt, float *logits, uint64_t max_tokens, bool *ctx_full)
{
    const hl_tokenizer_t *tok = hl_model_tokenizer(m);
    hl_detok_t dt;
    hl_detok_init(&dt, tok);
    dt.prev = last_prompt; /* SentencePiece drops the space of the first piece after BOS */
    char out[512];
    long n = 0;
    *ctx_full = false;
    while ((uint64_t)n < max_tokens) {
        int32_t t = hl_sampler_sample(smp, logits, NULL, NULL, NULL, 0);
        hl_sampler_accept(smp, t);
        n++;
        if (hl_tokenizer_is_eog(tok, t))
            break;
        size_t k = hl_detok_push(&dt, t, out, sizeof out);
        fwrite(out, 1, k, stdout);
        fflush(stdout);
        if ((uint64_t)n == max_tokens)
            break;
        if (hl_seq_pos(seq) >= hl_seq_n_ctx(seq)) {
            *ctx_full = true;
            break;
        }
        hl_seq_t *seqs[1] = {seq};
        float *lg[1] = {logits};
        int rc = hl_engine_step(e, m, seqs, &t, 1, lg);
        if (rc)
            return rc;
    }
    size_t k = hl_detok_flush(&dt, out, sizeof out);
    fwrite(out, 1, k, stdout);
    fputc('\n', stdout);
    fflush(stdout);
    return n;
}

int hl_cmd_run(int argc, char **argv)
{
    run_args_t a;
    int st = parse_args(argc, argv, &a);
    if (st >= 0)
        return st;

    hl_error_t err;
    hl_error_clear(&err);
    hl_model_t *m = NULL;
    hl_engine_t *e = NULL;
    hl_seq_t *seq = NULL;
    hl_sampler_t *smp = NULL;
    int32_t *ids = NULL;
    float *logits = NULL;
    int status = 1;

    double t0 = hl_now();
    hl_model_opts_t mo = {.raw = a.raw,
                          .verify_flags = a.verify ? HL_HLM_VERIFY_DIGEST | HL_HLM_VERIFY_TILES
                                                   : 0};
    int rc = hl_model_load(a.model, &mo, &m, &err);
    if (rc) {
        fprintf(stderr, "huffllm run: %s\n", hl_error_msg(&err, rc));
        goto out;
    }
    hl_engine_opts_t eo = {.n_threads = (unsigned)a.threads, .hot_buffer_bytes = (size_t)a.hot};
    if ((rc = hl_engine_create(&eo, &e, &err))) {
        fprintf(stderr, "huffllm run: %s\n", hl_error_msg(&err, rc));
        goto out;
    }
    const hl_hparams_t *hp = hl_model_hparams(m);
    const hl_tokenizer_t *tok = hl_model_tokenizer(m);
    if ((rc = hl_seq_create(m, (uint32_t)a.ctx, &seq)) ||
        (rc = hl_sampler_create(&a.sp, hp->vocab_size, &smp))) {
        fprintf(stderr, "huffllm run: cannot set up the sequence: %s\n", hl_strerror(rc));
        goto out;
    }
    double t_load = hl_now() - t0;

    size_t n_ids = 0;
    if ((rc = hl_tokenizer_encode(tok, a.prompt, strlen(a.prompt), hl_tokenizer_add_bos(tok),
                                  false, &ids, &n_ids))) {
        fprintf(stderr, "huffllm run: cannot tokenize the prompt: %s\n", hl_strerror(rc));
        goto out;
    }
    if (n_ids == 0) {
        fprintf(stderr, "huffllm run: the prompt is empty and the model has no BOS token to "
                        "start from; give a prompt with -p\n");
        goto out;
    }
    if (n_ids >= hl_seq_n_ctx(seq)) {
        fprintf(stderr, "huffllm run: the prompt has %zu tokens; the context holds %u\n", n_ids,
                hl_seq_n_ctx(seq));
        goto out;
    }
    if (!(logits = malloc((size_t)hp->vocab_size * sizeof *logits))) {
        fprintf(stderr, "huffllm run: out of memory\n");
        goto out;
    }
    for (size_t i = 0; i < n_ids; i++)
        hl_sampler_accept(smp, ids[i]);
    fputs(a.prompt, stdout);
    fflush(stdout);

    double t1 = hl_now();
    if ((rc = hl_engine_prefill(e, m, seq, ids, n_ids, logits))) {
        fprintf(stderr, "huffllm run: forward pass failed: %s\n", hl_strerror(rc));
        goto out;
    }
    double t2 = hl_now();
    bool ctx_full;
    long n_gen = generate(e, m, seq, smp, ids[n_ids - 1], logits, a.max_tokens, &ctx_full);
    double t3 = hl_now();
    if (n_gen < 0) {
        fprintf(stderr, "huffllm run: forward pass failed: %s\n", hl_strerror((int)n_gen));
        goto out;
    }
    if (ctx_full)
        fprintf(stderr, "huffllm run: stopped: the context of %u tokens is full\n",
                hl_seq_n_ctx(seq));

    hl_engine_stats_t es;
    hl_engine_stats(e, &es);
    double gen_s = t3 - t2;
    fprintf(stderr,
            "load %.3f s | prompt %zu tokens, %.1f tokens/s | generated %ld tokens, "
            "%.2f tokens/s\n"
            "%s weights%s: %.2f MiB in memory (%.2f MiB in their source dtype) | threads %u | "
            "hot buffer %zu KiB/worker | decode %.3f s over workers | resident %.2f MiB | "
            "seed %llu\n",
            t_load, n_ids, (t2 - t1) > 0 ? (double)n_ids / (t2 - t1) : 0.0, n_gen,
            gen_s > 0 ? (double)n_gen / gen_s : 0.0, a.raw ? "raw" : "compressed",
            hl_model_weights_mapped(m) ? " (decoded from the file's mapping)" : "",
            (double)hl_model_weight_bytes(m) / 1048576.0,
            (double)hl_model_raw_bytes(m) / 1048576.0, hl_engine_n_threads(e),
            hl_engine_hot_buffer_bytes(e) / 1024, es.decode_seconds,
            (double)resident_bytes() / 1048576.0, (unsigned long long)a.sp.seed);
    status = 0;
out:
    free(logits);
    free(ids);
    hl_sampler_free(smp);
    hl_seq_free(seq);
    hl_engine_free(e);
    hl_model_free(m);
    return status;
}
