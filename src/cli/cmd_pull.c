/* huffllm pull: download a model from a huffllmd (or a cache in front of it), resumably. */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"
#include "huffllm/pull.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: huffllm pull URL_OR_HOST MODEL [options]\n\n"
            "Downloads MODEL.hlm from a huffllmd (GET /v1/models/MODEL/manifest and /blob),\n"
            "verifying every chunk's SHA-256 as it arrives and the whole file at the end.\n"
            "An interrupted pull resumes from its verified chunks when run again.\n\n"
            "  URL_OR_HOST       http://host:port[/prefix], or host[:port] (http assumed)\n"
            "  --dir DIR         destination directory (default: .); the file is DIR/MODEL.hlm\n"
            "  -o, --output FILE destination file (instead of --dir)\n"
            "  --key KEY         API key with the \"pull\" scope (default: $HUFFLLM_API_KEY)\n"
            "  --jobs N          chunks downloaded in parallel (default 4, max 64)\n"
            "  --retries N       attempts per chunk after the first (default 5)\n"
            "  --stall-timeout S retry a transfer slower than 1 KiB/s for S seconds (default 30)\n"
            "  --no-wait         fail instead of waiting when another pull of MODEL runs\n"
            "  -q, --quiet       no progress bar (it is shown only on a terminal anyway)\n"
            "  -h, --help        this help\n\n"
            "Exit status: 0 when DEST holds the verified file, 1 on failure, 2 on usage errors.\n");
}

static void human(double b, char *out, size_t n)
{
    const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int i = 0;
    while (b >= 1024 && i < 4) {
        b /= 1024;
        i++;
    }
    snprintf(out, n, i ? "%.1f %s" : "%.0f %s", b, u[i]);
}

typedef struct {
    bool tty;
    double t_start;
    uint64_t bytes_start; /* verified bytes when this run began (resume) */
    bool started;
} bar_t;

static void progress_cb(void *ud, const hl_pull_progress_t *p)
{
    bar_t *b = ud;
    if (!b->tty)
        return;
    if (!b->started) {
        b->started = true;
        b->t_start = hl_now();
        b->bytes_start = p->bytes_done;
    }
    /* Bytes still arriving count too, so the bar moves within a chunk; they are verified
     * (or refetched) before the pull can finish. */
    uint64_t shown = p->bytes_done + p->bytes_inflight;
    if (shown > p->bytes_total)
        shown = p->bytes_total;
    double el = hl_now() - b->t_start;
    double rate = el > 0.05 && shown > b->bytes_start ? (double)(shown - b->bytes_start) / el : 0;
    double pct = p->bytes_total ? 100.0 * (double)shown / (double)p->bytes_total : 100;
    char done[32], total[32], r[32], eta[32] = "--";
    human((double)shown, done, sizeof(done));
    human((double)p->bytes_total, total, sizeof(total));
    human(rate, r, sizeof(r));
    if (rate > 0) {
        double s = (double)(p->bytes_total - shown) / rate;
        snprintf(eta, sizeof(eta), "%dm%02ds", (int)(s / 60), (int)s % 60);
    }
    int width = 30, fill = (int)(pct / 100 * width);
    char bar[64];
    for (int i = 0; i < width; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[width] = 0;
    fprintf(stderr, "\r[%s] %5.1f%% %s / %s  %s/s  ETA %s", bar, pct, done, total, r, eta);
    if (p->chunk_failures || p->retries)
        fprintf(stderr, "  (%u bad chunks, %u retries)", p->chunk_failures, p->retries);
    fprintf(stderr, "\033[K");
    fflush(stderr);
}

int hl_cmd_pull(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"dir", required_argument, NULL, 'd'},
        {"output", required_argument, NULL, 'o'},
        {"key", required_argument, NULL, 'k'},
        {"jobs", required_argument, NULL, 'j'},
        {"retries", required_argument, NULL, 'r'},
        {"stall-timeout", required_argument, NULL, 's'},
        {"no-wait", no_argument, NULL, 'n'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    hl_pull_opts_t o = {0};
    bool quiet = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:qh", longopts, NULL)) != -1) {
        char *end = NULL;
        long v = 0;
        if (c == 'j' || c == 'r' || c == 's') {
            v = strtol(optarg, &end, 10);
            if (!*optarg || *end || v < 1 || v > 100000) {
                fprintf(stderr, "huffllm pull: --%s wants a positive integer, not '%s'\n",
                        c == 'j' ? "jobs" : c == 'r' ? "retries" : "stall-timeout", optarg);
                return 2;
            }
        }
        switch (c) {
        case 'd': o.dir = optarg; break;
        case 'o': o.dest = optarg; break;
        case 'k': o.key = optarg; break;
        case 'j': o.jobs = (unsigned)HL_MIN(v, 64); break;
        case 'r': o.max_retries = (unsigned)v; break;
        case 's': o.stall_timeout = v; break;
        case 'n': o.no_wait = true; break;
        case 'q': quiet = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (argc - optind != 2) {
        fprintf(stderr, "huffllm pull: expected URL_OR_HOST and MODEL\n");
        usage(stderr);
        return 2;
    }
    o.url = argv[optind];
    o.model = argv[optind + 1];
    if (!o.key)
        o.key = getenv("HUFFLLM_API_KEY");
    bar_t bar = {.tty = !quiet && isatty(STDERR_FILENO)};
    o.progress = progress_cb;
    o.progress_ud = &bar;

    hl_pull_result_t res;
    hl_error_t err;
    hl_error_clear(&err);
    int rc = hl_pull(&o, &res, &err);
    if (bar.started)
        fprintf(stderr, "\n");
    if (rc) {
        fprintf(stderr, "huffllm pull: %s\n", hl_error_msg(&err, rc));
        hl_pull_result_dispose(&res);
        return 1;
    }
    char hex[2 * HL_SHA256_LEN + 1], size[32], rate[32];
    hl_hex(res.sha256, HL_SHA256_LEN, hex);
    human((double)res.size, size, sizeof(size));
    if (res.already_present) {
        fprintf(stderr, "%s: already present and verified (%s, sha256 %s)\n", res.path, size,
                hex);
    } else {
        double el = res.final.elapsed > 0 ? res.final.elapsed : 1e-9;
        human((double)(res.size - res.bytes_reused) / el, rate, sizeof(rate));
        fprintf(stderr,
                "%s: %s verified in %.2f s (%s/s; %llu bytes on the wire, %llu reused from "
                "an earlier run, %u bad chunks refetched, %u retries), sha256 %s\n",
                res.path, size, res.seconds, rate, (unsigned long long)res.final.bytes_fetched,
                (unsigned long long)res.bytes_reused, res.final.chunk_failures,
                res.final.retries, hex);
    }
    hl_pull_result_dispose(&res);
    return 0;
}
