/* Progress bar for long CLI commands; see progress.h. */
#include "cli/progress.h"

#include <stdio.h>
#include <unistd.h>

void hl_cli_progress_init(hl_cli_progress_t *p)
{
    p->tty = isatty(STDERR_FILENO) == 1;
    p->drawn = false;
}

void hl_cli_progress_cb(void *ud, uint64_t done, uint64_t total, const char *what)
{
    hl_cli_progress_t *p = ud;
    if (!p->tty)
        return;
    int pct = total ? (int)(100.0 * (double)done / (double)total) : 100;
    char bar[31];
    int fill = pct * 30 / 100;
    for (int i = 0; i < 30; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[30] = '\0';
    fprintf(stderr, "\r[%s] %3d%% %.40s\033[K", bar, pct, what ? what : "");
    p->drawn = true;
}

void hl_cli_progress_clear(hl_cli_progress_t *p)
{
    if (p->drawn)
        fprintf(stderr, "\r\033[K");
    p->drawn = false;
}
