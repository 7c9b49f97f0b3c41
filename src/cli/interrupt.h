/*
 * Ctrl-C during compress/decompress: the handler only records the signal; the writers poll
 * the flag (hl_write_opts_t.cancel), remove their temporary files and return HL_ECANCELED,
 * and the command then dies by the same signal so that its parent sees why it stopped.
 */
#ifndef HL_CLI_INTERRUPT_H
#define HL_CLI_INTERRUPT_H

#include <signal.h>

/* The signal number received (SIGINT, SIGTERM, SIGHUP), or 0. The process's one signal flag. */
extern volatile sig_atomic_t hl_cli_interrupted;

/* Installs the handler for SIGINT, SIGTERM and SIGHUP. */
void hl_cli_catch_interrupts(void);

/* If a signal was caught: restores its default action and raises it (does not return). */
void hl_cli_reraise(void);

#endif
