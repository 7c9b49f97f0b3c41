/* huffllm compress: a checkpoint (file or Hugging Face directory) -> a .hlm container. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/interrupt.h"
#include "cli/progress.h"
#include "cli/quant_opts.h"
#include "huffllm/format.h"
#include "huffllm/import.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: huffllm compress SRC [options]\n\n"
            "Compresses a model losslessly into a .hlm file: Huffman-coded weights in tiles,\n"
            "plus every byte needed to restore the source files exactly (huffllm decompress).\n"
            "SRC: a llama2.c checkpoint (.bin), a GGUF file, a .safetensors file, or a Hugging\n"
            "Face directory (config.json, *.safetensors, tokenizer.json, ...).\n\n"
            "  -o, --output FILE     output (default: SRC's base name with .hlm, in the current\n"
            "                        directory)\n"
            "  --tokenizer FILE      llama2.c tokenizer (default: tokenizer.bin / tok*.bin\n"
            "                        beside SRC)\n"
            "  --tile-weights N      target weights per tile, whole rows (default 65536)\n"
            "  --streams N           interleaved Huffman streams per tile, 1..16 (default 4)\n"
            "  --layout auto|fast|compact  how tensors are Huffman-coded: auto (default) takes\n"
            "                        the AVX-512 lane layout where it costs little size; fast\n"
            "                        takes it for every bf16/f16 tensor, with 7-bit codes where\n"
            "                        they fit (~0.7%% larger; small tensors up to ~4%%; decoded\n"
            "                        1.2-1.9x faster); compact never does (the smallest file)\n"
            "  --raw                 store every tensor uncompressed (for comparisons)\n"
            "  --quantize u8|u4|mix[:KL]  LOSSY EntroLLM mode: matrices quantized to\n"
            "                        uint8/uint4 codes (sym/asym by lower MSE), then\n"
            "                        Huffman-coded; 1-D tensors stay lossless. mix: layer-wise\n"
            "                        u8/u4 chosen by measured sensitivity until the summed KL\n"
            "                        is at most KL nats (default 0.01; docs/ENTROLLM.md).\n"
            "                        The file cannot be decompressed.\n"
            "  --group N             scale per N weights along a row: 0 (per tensor), 32, 64,\n"
            "                        128 (default: 32; rows that are not\n"
            "                        whole groups use a smaller group that fits, else 0)\n"
            "  --quantize-tensor REGEX=SPEC  per-tensor override (name or role; first match\n"
            "                        wins), SPEC u8|u4|u8g32|u4g64|u8g0|none; repeatable\n"
            "  -f, --force           overwrite an existing output file\n"
            "  -q, --quiet           no summary line (the progress bar shows only on a terminal)\n"
            "  -h, --help            this help\n\n"
            "The output is written to a temporary file and renamed when complete: a failure\n"
            "leaves nothing under the output name. Exit status: 0 ok, 1 failure, 2 usage.\n");
}

/* "dir/stories260K.bin" -> "stories260K.hlm"; "models/hf-dir/" -> "hf-dir.hlm". */
static char *default_output(const char *src, bool is_dir)
{
    size_t n = strlen(src);
    while (n > 1 && src[n - 1] == '/')
        n--;
    size_t b = n;
    while (b > 0 && src[b - 1] != '/')
        b--;
    size_t len = n - b;
    if (!is_dir)
        for (size_t i = n; i > b + 1; i--) /* drop the last extension, not a leading dot */
            if (src[i - 1] == '.') {
                len = i - 1 - b;
                break;
            }
    if (len == 0 || (len == 1 && src[b] == '.') || (len == 2 && !strncmp(src + b, "..", 2)))
        return NULL;
    char *out = malloc(len + 5);
    if (out) {
        memcpy(out, src + b, len);
        memcpy(out + len, ".hlm", 5);
    }
    return out;
}

static int parse_u64(const char *opt, const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-' || v < lo || v > hi) {
        fprintf(stderr, "huffllm compress: %s expects an integer in [%llu, %llu], got '%s'\n",
                opt, (unsigned long long)lo, (unsigned long long)hi, s);
        return -1;
    }
    *out = v;
    return 0;
}

static uint64_t source_bytes(const hl_source_t *src)
{
    uint64_t n = 0;
    for (size_t i = 0; i < src->n_files; i++)
        n += src->files[i].size;
    return n;
}

/* Records the directory name of a Hugging Face style source so that decompress can
 * recreate the directory. */
static int note_directory(hl_source_t *src, const char *path)
{
    char *dir = default_output(path, true);
    if (!dir)
        return 0;
    dir[strlen(dir) - 4] = '\0';
    if (!src->metadata)
        src->metadata = json_object();
    json_t *s = json_object_get(src->metadata, "source");
    if (!json_is_object(s)) {
        s = json_object();
        json_object_set_new(src->metadata, "source", s);
    }
    int rc = json_object_set_new(s, "directory", json_string(dir));
    free(dir);
    return rc;
}

int hl_cmd_compress(int argc, char **argv)
{
    enum {
        OPT_TOKENIZER = 256,
        OPT_TILE,
        OPT_STREAMS,
        OPT_LAYOUT,
        OPT_RAW,
        OPT_QUANT,
        OPT_GROUP,
        OPT_QT
    };
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'},
        {"tokenizer", required_argument, NULL, OPT_TOKENIZER},
        {"tile-weights", required_argument, NULL, OPT_TILE},
        {"streams", required_argument, NULL, OPT_STREAMS},
        {"layout", required_argument, NULL, OPT_LAYOUT},
        {"raw", no_argument, NULL, OPT_RAW},
        {"quantize", required_argument, NULL, OPT_QUANT},
        {"group", required_argument, NULL, OPT_GROUP},
        {"quantize-tensor", required_argument, NULL, OPT_QT},
        {"force", no_argument, NULL, 'f'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *out_path = NULL;
    hl_import_opts_t iopts = {0};
    hl_write_opts_t wopts = {0};
    bool quiet = false;
    hl_cli_quant_t quant = {0};
    uint64_t v;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:fqh", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': out_path = optarg; break;
        case OPT_TOKENIZER: iopts.tokenizer_path = optarg; break;
        case OPT_TILE:
            if (parse_u64("--tile-weights", optarg, 1, 1ull << 30, &v))
                return 2;
            wopts.tile_weights = v;
            break;
        case OPT_STREAMS:
            if (parse_u64("--streams", optarg, 1, HL_TILE_MAX_STREAMS, &v))
                return 2;
            wopts.n_streams = (uint32_t)v;
            break;
        case OPT_LAYOUT:
            if (hl_layout_parse(optarg, &wopts.layout)) {
                fprintf(stderr, "huffllm compress: --layout: expected auto, fast or compact "
                                "(got '%s')\n", optarg);
                return 2;
            }
            break;
        case OPT_RAW: wopts.raw = true; break;
        case OPT_QUANT: if (hl_cli_quant_parse_mode(&quant, optarg)) goto usage_err; break;
        case OPT_GROUP: if (hl_cli_quant_parse_group(&quant, optarg)) goto usage_err; break;
        case OPT_QT: if (hl_cli_quant_parse_rule(&quant, optarg)) goto usage_err; break;
        case 'f': wopts.overwrite = true; break;
        case 'q': quiet = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); hl_cli_quant_done(&quant); return 2;
        }
    }
    if ((quant.group_set || quant.o.n_rules) && !quant.on) {
        fprintf(stderr, "huffllm compress: --group and --quantize-tensor need --quantize\n");
    usage_err:
        hl_cli_quant_done(&quant);
        return 2;
    }
    if (argc - optind != 1) {
        fprintf(stderr, "huffllm compress: expected one SRC, got %d\n", argc - optind);
        usage(stderr);
        return 2;
    }
    const char *src_path = argv[optind];
    struct stat st;
    if (stat(src_path, &st) != 0) {
        fprintf(stderr, "huffllm compress: %s: %s\n", src_path, strerror(errno));
        return 1;
    }
    bool is_dir = S_ISDIR(st.st_mode);
    /* A directory is named by its real path, so that "." or "models/hf/.." have a name. */
    char *real_dir = is_dir ? realpath(src_path, NULL) : NULL;
    const char *name_src = real_dir ? real_dir : src_path;
    char *def_out = NULL;
    if (!out_path) {
        if (!(def_out = default_output(name_src, is_dir))) {
            fprintf(stderr, "huffllm compress: cannot derive an output name from '%s'; use -o\n",
                    src_path);
            free(real_dir);
            return 2;
        }
        out_path = def_out;
    }
    double t0 = hl_now();
    hl_source_t src;
    hl_error_t err;
    hl_error_clear(&err);
    int rc = hl_import(src_path, &iopts, &src, &err);
    bool imported = rc == 0;
    if (rc == 0 && is_dir && note_directory(&src, name_src) != 0)
        rc = hl_error_set(&err, HL_ENOMEM, "out of memory");
    uint64_t in_bytes = rc == 0 ? source_bytes(&src) : 0; /* before quantization stages */
    if (rc == 0)
        rc = hl_cli_quant_apply(&quant, &src, out_path, argc, argv, &err);
    if (rc != 0) {
        fprintf(stderr, "huffllm compress: %s\n", hl_error_msg(&err, rc));
        if (imported)
            hl_source_dispose(&src);
        hl_cli_quant_done(&quant);
        free(def_out);
        free(real_dir);
        return 1;
    }
    hl_cli_progress_t prog;
    hl_cli_progress_init(&prog);
    wopts.progress = hl_cli_progress_cb;
    wopts.progress_ud = &prog;
    wopts.cancel = &hl_cli_interrupted;
    hl_cli_catch_interrupts();
    rc = hl_hlm_write(&src, out_path, &wopts, &err);
    hl_cli_progress_clear(&prog);
    hl_cli_quant_done(&quant);
    if (rc != 0) {
        const char *msg = hl_error_msg(&err, rc);
        if (strstr(msg, out_path)) /* file errors already name the output */
            fprintf(stderr, "huffllm compress: %s\n", msg);
        else
            fprintf(stderr, "huffllm compress: %s: %s\n", out_path, msg);
        hl_source_dispose(&src);
        free(def_out);
        free(real_dir);
        hl_cli_reraise(); /* the temporary file is gone: now die as the signal asked */
        return 1;
    }
    double secs = hl_now() - t0;
    if (!quiet && stat(out_path, &st) == 0) {
        uint64_t out_bytes = (uint64_t)st.st_size;
        fprintf(stderr, "%s: %zu file%s, %zu tensors, %llu -> %llu bytes (%.2f%%) in %.2f s "
                        "(%.1f MB/s) -> %s\n",
                src_path, src.n_files, src.n_files == 1 ? "" : "s", src.n_tensors,
                (unsigned long long)in_bytes, (unsigned long long)out_bytes,
                in_bytes ? 100.0 * (double)out_bytes / (double)in_bytes : 0.0, secs,
                secs > 0 ? (double)in_bytes / secs / 1e6 : 0.0, out_path);
    }
    hl_source_dispose(&src);
    free(def_out);
    free(real_dir);
    return 0;
}
