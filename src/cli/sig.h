/* sig.h — SIGINT/SIGTERM as a stop flag for long-running commands.
 *
 * fp_sig_install() makes the first SIGINT/SIGTERM set the flag (threads poll fp_sig_stopping());
 * a second one exits at once with status 130, for when a clean stop hangs.
 */
#ifndef FP_SIG_H
#define FP_SIG_H

#include <stdbool.h>

void fp_sig_install(void);
bool fp_sig_stopping(void);
/* Sets the flag as a signal would (e.g. the demo stops its connector when done). */
void fp_sig_request_stop(void);
/* Clears the flag (a command that runs several phases). */
void fp_sig_reset(void);

#endif
