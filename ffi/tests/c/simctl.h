/* A tiny HTTP/1.1 client for the simulator's control API (loopback only),
 * so the C tests need no library beyond libc. */
#ifndef WAOTP_TEST_SIMCTL_H
#define WAOTP_TEST_SIMCTL_H

#include <stddef.h>

/* Sends `method path` with an optional JSON body to the control URL
 * (`http://127.0.0.1:PORT`). Returns the HTTP status (or -1) and, when
 * `body_out` is not NULL, the response body (malloc'ed, NUL-terminated).
 * A call that gets no answer within 120 s returns -1. */
int sim_http(const char *control_url, const char *method, const char *path,
             const char *json_body, char **body_out);

/* Finds the first run of exactly `digits` digits inside a `"text":"…"` value
 * of `json`, copies it into `out` (digits + 1 bytes). Returns 1 if found. */
int sim_find_code(const char *json, int digits, char *out);

#endif
