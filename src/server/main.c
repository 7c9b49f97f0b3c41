/* huffllmd: the huffllm inference daemon (see conf/README-daemon.md). */
#include <config.h> /* PACKAGE_VERSION */

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/config.h"
#include "server/daemon.h"

#ifndef HL_SYSCONFDIR
#define HL_SYSCONFDIR "/etc"
#endif

static void usage(FILE *out)
{
    fprintf(out,
            "usage: huffllmd [--config FILE] [--check-config] [--listen ADDR] [--port N]\n"
            "\n"
            "Serves Huffman-compressed models over an OpenAI-style HTTP API.\n"
            "\n"
            "  -c, --config FILE   configuration file (default %s/huffllm/huffllmd.conf)\n"
            "      --check-config  validate the configuration, print a summary and exit\n"
            "                      (status 0 if valid, 1 if not)\n"
            "  -l, --listen ADDR   listen on this IPv4/IPv6 address instead of [server] listen\n"
            "  -p, --port N        listen on this port instead of [server] port (0: any free\n"
            "                      port; the bound port is logged as \"listening on ...\")\n"
            "  -h, --help          this text\n"
            "  -V, --version       print the version\n"
            "\n"
            "Signals: SIGHUP re-reads the config (an invalid one is refused and logged);\n"
            "SIGTERM/SIGINT stop accepting connections and let running generations finish\n"
            "for up to [server] shutdown_timeout seconds.\n",
            HL_SYSCONFDIR);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'}, {"check-config", no_argument, NULL, 'C'},
        {"listen", required_argument, NULL, 'l'}, {"port", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},         {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    hl_daemon_opts_t opts = {.config_path = HL_SYSCONFDIR "/huffllm/huffllmd.conf", .port = -1};
    bool check = false;
    int ch;
    while ((ch = getopt_long(argc, argv, "c:l:p:hV", longopts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            opts.config_path = optarg;
            break;
        case 'C':
            check = true;
            break;
        case 'l':
            opts.listen = optarg;
            break;
        case 'p': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end || v < 0 || v > 65535) {
                fprintf(stderr, "huffllmd: --port: expected 0 to 65535, got \"%s\"\n", optarg);
                return 2;
            }
            opts.port = (int)v;
            break;
        }
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("huffllmd %s\n", PACKAGE_VERSION);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "huffllmd: unexpected argument \"%s\"\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    hl_error_t err;
    hl_error_clear(&err);
    if (check) {
        hl_config_t *c = NULL;
        if (hl_config_load(opts.config_path, &c, &err) != 0) {
            fprintf(stderr, "huffllmd: %s\n", err.msg);
            return 1;
        }
        printf("%s: valid: listen %s port %u, %zu models, %zu API keys%s\n", c->path, c->listen,
               (unsigned)c->port, c->n_models, c->n_keys,
               c->upstream_url ? ", edge mode (upstream set)" : "");
        for (size_t i = 0; i < c->n_models; i++)
            printf("  model %s: %s (%llu bytes)%s\n", c->models[i].id, c->models[i].path,
                   (unsigned long long)c->models[i].file_size,
                   c->models[i].pinned ? ", pinned" : "");
        hl_config_free(c);
        return 0;
    }
    /* Writes to a closed socket must fail with EPIPE, not kill the daemon. */
    signal(SIGPIPE, SIG_IGN);
    hl_daemon_t *d = NULL;
    if (hl_daemon_create(&opts, &d, &err) != 0) {
        hl_log_error("%s", err.msg);
        return 1;
    }
    int status = hl_daemon_run(d);
    hl_daemon_free(d);
    return status;
}
