/* sig.h — SIGINT/SIGTERM as the process's stop token (core/stop.h).
 *
 * fp_sig_install() makes the first SIGINT/SIGTERM request fp_sig_token(); commands pass that
 * token in the options of the module they run, which polls it. A second signal exits at once
 * with status 130, for when a clean stop hangs. Only src/cli uses this header.
 */
#ifndef FP_SIG_H
#define FP_SIG_H

#include "core/stop.h"

void fp_sig_install(void);
/* The process's stop token: requested by a signal, or by a command that runs phases. */
fp_stop *fp_sig_token(void);

#endif
