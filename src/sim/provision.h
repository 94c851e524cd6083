/* provision.h — device credentials for mosquitto: `fleetpipe sim provision`.
 *
 * Writes, into a directory: `passwd` (mosquitto's password file: PBKDF2-SHA512 hashes in its
 * "$7$" format, readable by mosquitto), `devices.secret` ("dev-000001:password" lines, mode
 * 0600, what `fleetpipe sim --credentials` reads), `bridge.secret` (the bridge account's
 * password, mode 0600) and `api.secret` (the Fleet API's command account, `fleetpipe serve
 * --mqtt-password-file`, mode 0600). Passwords are 128 random bits from getrandom(2), never derived
 * from the simulator's seed. The ACL (config/mosquitto/acl) is pattern-based and needs no
 * per-device lines.
 */
#ifndef FP_SIM_PROVISION_H
#define FP_SIM_PROVISION_H

#include <stdint.h>

#include "core/err.h"

#define FP_SIM_BRIDGE_USER "fleetpipe-bridge"
/* The Fleet API's account: config/mosquitto/acl lets it write fms/+/cmd and nothing else. */
#define FP_SIM_API_USER "fleetpipe-api"

/* Devices dev-<first_id>..dev-<first_id + vehicles - 1> plus the bridge and API accounts. The
 * directory is created if missing; existing files are replaced. */
fp_code fp_sim_provision(const char *dir, uint32_t first_id, uint32_t vehicles, fp_err *err);

/* Appends "<user>:$7$101$<salt>$<hash>" for password (no newline) to out. */
struct fp_buf;
void fp_sim_mosquitto_hash(const char *user, const char *password, struct fp_buf *out);

/* The first line of a secret file (bridge.secret, a --password-file), without its newline; a
 * fresh string, or NULL with err naming the file. */
char *fp_sim_read_secret(const char *path, fp_err *err);

typedef struct fp_sim_credentials fp_sim_credentials;
/* Loads "device_id:password" lines. Errors name the file and line. */
fp_sim_credentials *fp_sim_credentials_load(const char *path, fp_err *err);
/* The password of device_id, or NULL. */
const char *fp_sim_credentials_get(const fp_sim_credentials *c, const char *device_id);
void fp_sim_credentials_free(fp_sim_credentials *c);

#endif
