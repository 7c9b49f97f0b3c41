/* huffllm decompress: writes the source files of a .hlm back, byte for byte. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/interrupt.h"
#include "cli/progress.h"
#include "format/quant.h"
#include "huffllm/format.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: huffllm decompress IN.hlm [options]\n\n"
            "Restores the source files of IN.hlm byte for byte: the checkpoint and its companion\n"
            "files (tokenizer, config.json, ...). Each file's SHA-256 is checked against the one\n"
            "recorded at compression before the file gets its name.\n\n"
            "  -o, --output OUT  the checkpoint's path; companion files go beside it. For a model\n"
            "                    compressed from a directory, OUT names the directory.\n"
            "                    Default: the original names, beside IN.hlm (a directory model is\n"
            "                    recreated as a directory of its original name beside IN.hlm).\n"
            "  -f, --force       overwrite existing files\n"
            "  -q, --quiet       no summary line (the progress bar shows only on a terminal)\n"
            "  -h, --help        this help\n\n"
            "Exit status: 0 ok, 1 failure (nothing is left under a final name), 2 usage.\n");
}

/* Directory part of a path ("." when there is none). Caller frees. */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

static char *join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* The source directory name recorded by compress, if it is a plain name. */
static const char *source_directory(const hl_hlm_t *h)
{
    const char *d = json_string_value(
        json_object_get(json_object_get(hl_hlm_metadata(h), "source"), "directory"));
    if (!d || !d[0] || strchr(d, '/') || !strcmp(d, ".") || !strcmp(d, ".."))
        return NULL;
    return d;
}

int hl_cmd_decompress(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'},
        {"force", no_argument, NULL, 'f'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *out = NULL;
    hl_restore_opts_t ropts = {0};
    bool quiet = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:fqh", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'f': ropts.overwrite = true; break;
        case 'q': quiet = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (argc - optind != 1) {
        fprintf(stderr, "huffllm decompress: expected one IN.hlm, got %d\n", argc - optind);
        usage(stderr);
        return 2;
    }
    const char *in = argv[optind];
    double t0 = hl_now();
    hl_hlm_t *h = NULL;
    hl_error_t err;
    hl_error_clear(&err);
    int rc = hl_hlm_open(in, 0, &h, &err);
    if (rc != 0) {
        fprintf(stderr, "huffllm decompress: %s\n", hl_error_msg(&err, rc));
        return 1;
    }
    if (hl_hlm_is_lossy(h)) { /* EntroLLM mode: the weights were quantized */
        fprintf(stderr, "huffllm decompress: %s: lossy file: cannot restore the source (its "
                        "weights were quantized; see 'huffllm inspect')\n", in);
        hl_hlm_close(h);
        return 1;
    }
    const char *srcdir = source_directory(h);
    char *dir = NULL, *primary = NULL;
    bool made_dir = false;
    if (srcdir) {
        char *in_dir = dir_of(in);
        dir = out ? strdup(out) : (in_dir ? join(in_dir, srcdir) : NULL);
        free(in_dir);
        if (dir && mkdir(dir, 0755) == 0)
            made_dir = true;
        else if (dir && errno != EEXIST)
            rc = hl_error_set_errno(&err, HL_EIO, errno, "%s: cannot create directory", dir);
    } else if (out) {
        primary = strdup(out);
        dir = dir_of(out);
    } else {
        dir = dir_of(in);
    }
    if (rc == 0 && (!dir || (out && !srcdir && !primary)))
        rc = hl_error_set(&err, HL_ENOMEM, "out of memory");
    ropts.cancel = &hl_cli_interrupted;
    hl_cli_catch_interrupts();
    hl_cli_progress_t prog;
    hl_cli_progress_init(&prog);
    ropts.progress = hl_cli_progress_cb;
    ropts.progress_ud = &prog;
    if (rc == 0)
        rc = hl_hlm_restore(h, primary, dir, &ropts, &err);
    hl_cli_progress_clear(&prog);
    if (rc != 0) {
        fprintf(stderr, "huffllm decompress: %s\n", hl_error_msg(&err, rc));
        if (made_dir)
            rmdir(dir); /* leave nothing behind: it was empty before the failed restore */
    } else if (!quiet) {
        const json_t *files = json_object_get(json_object_get(hl_hlm_metadata(h), "source"),
                                              "files");
        json_int_t bytes = 0;
        size_t i;
        const json_t *f;
        const char *first = NULL; /* the checkpoint's original name */
        json_array_foreach(files, i, f) {
            bytes += json_integer_value(json_object_get(f, "size"));
            if (json_is_true(json_object_get(f, "primary")))
                first = json_string_value(json_object_get(f, "name"));
        }
        double secs = hl_now() - t0;
        fprintf(stderr, "%s: restored %zu file%s, %lld bytes in %.2f s -> %s%s%s\n", in,
                json_array_size(files), json_array_size(files) == 1 ? "" : "s",
                (long long)bytes, secs, primary ? primary : dir,
                !primary && first && !srcdir ? "/" : "", !primary && first && !srcdir ? first : "");
    }
    free(dir);
    free(primary);
    hl_hlm_close(h);
    if (rc != 0)
        hl_cli_reraise(); /* temporary files are gone: now die as the signal asked */
    return rc == 0 ? 0 : 1;
}
