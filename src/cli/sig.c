/* sig.c — SIGINT/SIGTERM request the process's stop token; the handler only stores. */
#include "cli/sig.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

static fp_stop token = FP_STOP_INIT;

static void on_signal(int sig)
{
    (void)sig;
    if (atomic_exchange(&token.requested, 1))
        _exit(130);
}

void fp_sig_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

fp_stop *fp_sig_token(void)
{
    return &token;
}
