/* A one-line progress bar on stderr for compress/decompress: drawn only when stderr is a
 * terminal, erased before the summary line. Its callback matches hl_write_opts_t.progress and
 * hl_restore_opts_t.progress. */
#ifndef HL_CLI_PROGRESS_H
#define HL_CLI_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    bool tty;
    bool drawn;
} hl_cli_progress_t;

/* Decides once whether a bar is drawn at all (stderr is a terminal). */
void hl_cli_progress_init(hl_cli_progress_t *p);
/* ud = hl_cli_progress_t*; `what` names the tensor or file being processed. */
void hl_cli_progress_cb(void *ud, uint64_t done, uint64_t total, const char *what);
/* Erases the bar if one was drawn. */
void hl_cli_progress_clear(hl_cli_progress_t *p);

#endif
