/* sig.c — the stop flag behind SIGINT/SIGTERM. */
#include "cli/sig.h"

#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

static atomic_int stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    if (atomic_exchange(&stop_flag, 1))
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

bool fp_sig_stopping(void)
{
    return atomic_load(&stop_flag) != 0;
}

void fp_sig_request_stop(void)
{
    atomic_store(&stop_flag, 1);
}

void fp_sig_reset(void)
{
    atomic_store(&stop_flag, 0);
}
