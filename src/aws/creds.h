/* creds.h — AWS credentials the way the AWS CLI and SDKs find them: the environment
 * (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN) first, then a profile of the
 * shared credentials file (AWS_SHARED_CREDENTIALS_FILE, default ~/.aws/credentials; profile
 * from the argument, else AWS_PROFILE, else "default").
 *
 * Secrets never appear in error messages; fp_aws_creds_clear() wipes them from memory.
 */
#ifndef FP_AWS_CREDS_H
#define FP_AWS_CREDS_H

#include "aws/sigv4.h"
#include "core/err.h"

/* Owns its strings; view through .c (an fp_aws_creds for fp_sigv4_sign()). */
typedef struct fp_aws_creds_owned {
    fp_aws_creds c;
    char source[96]; /* "environment" or "profile default in <file>" */
} fp_aws_creds_owned;

/* profile may be NULL. FP_ERR_CONFIG when no complete key pair is found, naming where it looked
 * (and which key was missing), never a value. */
fp_code fp_aws_creds_load(const char *profile, fp_aws_creds_owned *out, fp_err *err);
/* Wipes and frees the strings; safe on a zeroed or already cleared struct. */
void fp_aws_creds_clear(fp_aws_creds_owned *o);

#endif
