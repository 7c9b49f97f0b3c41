/* huffllm verify: the full integrity check of a .hlm file. */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "huffllm/format.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: huffllm verify IN.hlm [options]\n\n"
            "Checks IN.hlm completely: the structure of every section, every tile's CRC32C, a\n"
            "decode of every tile, the SHA-256 of every source file it restores, and the\n"
            "SHA-256 of the whole file in its trailer. A mismatch is reported with the tensor\n"
            "and tile it is in.\n\n"
            "  -q, --quiet   print nothing when the file is good\n"
            "  -h, --help    this help\n\n"
            "Exit status: 0 the file is intact, 1 it is not (or cannot be read), 2 usage.\n");
}

int hl_cmd_verify(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool quiet = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'q': quiet = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (argc - optind != 1) {
        fprintf(stderr, "huffllm verify: expected one IN.hlm, got %d\n", argc - optind);
        usage(stderr);
        return 2;
    }
    const char *in = argv[optind];
    double t0 = hl_now();
    hl_hlm_t *h = NULL;
    hl_error_t err;
    hl_error_clear(&err);
    int rc = hl_hlm_open(in, 0, &h, &err);
    if (rc == 0)
        rc = hl_hlm_verify(h, &err);
    if (rc != 0) {
        fprintf(stderr, "huffllm verify: %s\n", hl_error_msg(&err, rc));
        hl_hlm_close(h);
        return 1;
    }
    if (!quiet) {
        uint64_t tiles = 0;
        for (size_t i = 0; i < hl_hlm_n_tensors(h); i++)
            tiles += hl_hlm_tensor(h, i)->n_tiles;
        char hex[2 * HL_SHA256_LEN + 1];
        hl_hex(hl_hlm_digest(h), HL_SHA256_LEN, hex);
        printf("%s: OK (format %u, %zu tensors, %llu tiles, %llu bytes, sha256 %s, %.2f s)\n", in,
               hl_hlm_version(h), hl_hlm_n_tensors(h), (unsigned long long)tiles,
               (unsigned long long)hl_hlm_file_size(h), hex, hl_now() - t0);
    }
    hl_hlm_close(h);
    return 0;
}
