/* Signal flag for interruptible commands; see interrupt.h. */
#include "cli/interrupt.h"

#include <string.h>

volatile sig_atomic_t hl_cli_interrupted;

static void on_signal(int sig)
{
    hl_cli_interrupted = sig;
}

void hl_cli_catch_interrupts(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}

void hl_cli_reraise(void)
{
    int sig = hl_cli_interrupted;
    if (!sig)
        return;
    signal(sig, SIG_DFL);
    raise(sig);
}
