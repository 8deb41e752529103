/* Tests of the C ABI against the waotp-sim simulator. Run by
 * ffi/tests/c/run.py, which starts the simulator and passes its URLs in
 * WAOTP_SIM_WS and WAOTP_SIM_CONTROL. Prints one line per test and
 * `N passed, N failed`; exits non-zero if any failed. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../../include/waotp.h"
#include "simctl.h"

static const char *g_ws;
static const char *g_control;
static char g_tmp[256];
static int g_failed_checks;

/* Deadline of each wait for the simulator or a session (QR, pairing,
 * connecting, a message in an inbox). Generous on purpose: a loaded 2-core
 * machine running a debug build can take seconds to pair, and every wait
 * returns as soon as its condition holds. */
#define STEP_MS 60000

static void fail(const char *file, int line, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "    %s:%d: ", file, line);
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  g_failed_checks++;
}

static const char *last_error(void) {
  static __thread char buf[1024];
  size_t len = 0;
  if (waotp_last_error_message(buf, sizeof buf, &len) != WAOTP_OK) return "<no message>";
  return buf;
}

#define CHECK(cond, ...)                                            \
  do {                                                              \
    if (!(cond)) {                                                  \
      fail(__FILE__, __LINE__, "check failed: %s", #cond);          \
      fail(__FILE__, __LINE__, __VA_ARGS__);                        \
      return;                                                       \
    }                                                               \
  } while (0)

/* A call that must return `want`. */
#define EXPECT(call, want)                                                     \
  do {                                                                         \
    waotp_status got_ = (call);                                                \
    if (got_ != (want)) {                                                      \
      fail(__FILE__, __LINE__, "%s\n      returned %s (%d), want %s: %s", #call, \
           waotp_status_code_name(got_), (int)got_, waotp_status_code_name(want), \
           got_ == WAOTP_OK ? "" : last_error());                              \
      return;                                                                  \
    }                                                                          \
  } while (0)

#define OK(call) EXPECT(call, WAOTP_OK)

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sim_add_number(const char *phone, int registered) {
  char body[128];
  snprintf(body, sizeof body, "{\"phone\":\"%s\",\"registered\":%s}", phone,
           registered ? "true" : "false");
  if (sim_http(g_control, "POST", "/numbers", body, NULL) != 200)
    fail(__FILE__, __LINE__, "POST /numbers %s failed", phone);
}

/* Waits until the inbox of `phone` has a message with a `digits`-digit code. */
static int sim_wait_code(const char *phone, int digits, char *code) {
  char path[128];
  snprintf(path, sizeof path, "/inbox/%s", phone);
  long long deadline = now_ms() + STEP_MS;
  while (now_ms() < deadline) {
    char *body = NULL;
    int st = sim_http(g_control, "GET", path, NULL, &body);
    int found = st == 200 && body && sim_find_code(body, digits, code);
    free(body);
    if (found) return 1;
    usleep(20 * 1000); /* a bounded poll of the inbox, not a wait for time */
  }
  return 0;
}

/* `manual_clock`: OTP time moves only with waotp_test_clock_advance, so the
 * OTP limits (cooldown, windows) do not depend on how fast the machine is.
 * `no_limits`: no rate limits and no per-session pacing. */
static waotp_gateway *open_gateway(const char *name, bool manual_clock, bool no_limits) {
  char dir[512];
  snprintf(dir, sizeof dir, "%s/%s", g_tmp, name);
  waotp_options *o = NULL;
  waotp_gateway *gw = NULL;
  if (waotp_options_new(&o) != WAOTP_OK || waotp_options_set_data_dir(o, dir) != WAOTP_OK ||
      waotp_options_set_endpoint(o, g_ws) != WAOTP_OK ||
      waotp_options_set_manual_clock(o, manual_clock) != WAOTP_OK ||
      waotp_options_set_no_limits(o, no_limits) != WAOTP_OK ||
      waotp_gateway_open_with(o, &gw) != WAOTP_OK) {
    fprintf(stderr, "    open %s: %s\n", name, last_error());
    gw = NULL;
  }
  waotp_options_free(&o);
  return gw;
}

/* Creates `id` on `gw`, lets the simulated phone `phone` scan its QR code,
 * waits until connected. Returns 1 on success. */
static int link_session(waotp_gateway *gw, const char *id, const char *phone) {
  char *sid = NULL, *qr = NULL, *status = NULL;
  int ok = 0;
  if (waotp_session_create(gw, id, &sid) != WAOTP_OK) goto out;
  if (waotp_session_qr(gw, id, WAOTP_QR_RAW, STEP_MS, &qr) != WAOTP_OK) goto out;
  char body[2048];
  snprintf(body, sizeof body, "{\"qr\":\"%s\",\"phone\":\"%s\",\"name\":\"Test Phone\"}", qr, phone);
  if (sim_http(g_control, "POST", "/scan", body, NULL) != 200) goto out;
  if (waotp_session_wait_connected(gw, id, STEP_MS, &status) != WAOTP_OK) goto out;
  ok = strstr(status, "\"isConnected\":true") != NULL;
out:
  if (!ok) fprintf(stderr, "    linking %s failed: %s\n", id, last_error());
  waotp_string_free(&sid);
  waotp_string_free(&qr);
  waotp_string_free(&status);
  return ok;
}

/* Adds `phone` to the simulator as a registered account whose linking is
 * gated behind a passkey. */
static void sim_add_gated_number(const char *phone) {
  char body[128];
  snprintf(body, sizeof body, "{\"phone\":\"%s\",\"registered\":true,\"passkey\":true}", phone);
  if (sim_http(g_control, "POST", "/numbers", body, NULL) != 200)
    fail(__FILE__, __LINE__, "POST /numbers %s (passkey) failed", phone);
}

/* Lets the simulated phone `phone` scan the session's current QR code. */
static int scan_qr(waotp_gateway *gw, const char *id, const char *phone) {
  char *qr = NULL;
  if (waotp_session_qr(gw, id, WAOTP_QR_RAW, STEP_MS, &qr) != WAOTP_OK) {
    fprintf(stderr, "    no QR code for %s: %s\n", id, last_error());
    return 0;
  }
  char body[2048];
  snprintf(body, sizeof body, "{\"qr\":\"%s\",\"phone\":\"%s\",\"name\":\"Gated Phone\"}", qr, phone);
  waotp_string_free(&qr);
  int st = sim_http(g_control, "POST", "/scan", body, NULL);
  if (st != 200) fprintf(stderr, "    POST /scan for %s: HTTP %d\n", id, st);
  return st == 200;
}

/* Polls the session's status until its state is `passkey_required`; the
 * status JSON goes to `*status_out` (free with waotp_string_free). Returns
 * 1 on success, 0 at the deadline (the last status is printed). */
static int wait_passkey_required(waotp_gateway *gw, const char *id, char **status_out) {
  long long deadline = now_ms() + STEP_MS;
  char *s = NULL;
  while (now_ms() < deadline) {
    if (waotp_session_get_status(gw, id, &s) != WAOTP_OK) {
      fprintf(stderr, "    status of %s: %s\n", id, last_error());
      return 0;
    }
    if (strstr(s, "\"state\":\"passkey_required\"")) {
      *status_out = s;
      return 1;
    }
    waotp_string_free(&s);
    usleep(20 * 1000); /* a bounded poll of the state, not a wait for time */
  }
  if (waotp_session_get_status(gw, id, &s) == WAOTP_OK) {
    fprintf(stderr, "    %s never reached passkey_required within %d ms; last status: %s\n", id, STEP_MS, s);
    waotp_string_free(&s);
  }
  return 0;
}

/* The assertion the simulated passkey of `phone` makes for the pending
 * challenge, as the console snippet prints it (malloc'ed; NULL on failure).
 * `extra` adds fields to the request (`"corruptSignature":true`), or is "". */
static char *sim_passkey_assert(const char *phone, const char *extra) {
  char body[256];
  snprintf(body, sizeof body, "{\"phone\":\"%s\"%s%s}", phone, *extra ? "," : "", extra);
  char *assertion = NULL;
  int st = sim_http(g_control, "POST", "/passkey/assert", body, &assertion);
  if (st != 200) {
    fprintf(stderr, "    POST /passkey/assert %s: HTTP %d %s\n", body, st, assertion ? assertion : "");
    free(assertion);
    return NULL;
  }
  return assertion;
}

/* Shared by the tests after the flow: a manual-clock, no-limits gateway
 * with session "main" linked. */
static waotp_gateway *g_gw;

/* ------------------------------------------------------------------------ */

static void test_status_names_and_last_error(void) {
  CHECK(strcmp(waotp_status_code_name(WAOTP_OK), "OK") == 0, "OK");
  CHECK(strcmp(waotp_status_code_name(WAOTP_SESSION_NOT_FOUND), "SESSION_NOT_FOUND") == 0, "1");
  CHECK(strcmp(waotp_status_code_name(WAOTP_CLOSED), "CLOSED") == 0, "22");
  CHECK(strcmp(waotp_status_code_name(WAOTP_NULL_PARAMETER), "NULL_PARAMETER") == 0, "100");
  CHECK(strcmp(waotp_status_code_name(WAOTP_PANIC), "PANIC") == 0, "102");
  CHECK(strcmp(waotp_status_code_name(WAOTP_SANDBOX_ONLY), "SANDBOX_ONLY") == 0, "106");
  CHECK(WAOTP_SANDBOX_ONLY == 106 && WAOTP_CLOSED == 22 && WAOTP_AFTER_FORK == 104, "fixed numbers");
  CHECK(strcmp(waotp_status_code_name(12345), "UNKNOWN_STATUS") == 0, "unknown");
  CHECK(waotp_is_sandbox_build(), "tests run against a sandbox build");
  CHECK(strstr(waotp_version(), "SANDBOX") != NULL, "version says sandbox: %s", waotp_version());

  char *code = NULL;
  EXPECT(waotp_otp_generate(3, &code), WAOTP_INVALID_ARGUMENT);
  CHECK(code == NULL, "output untouched on failure");
  size_t len = 0;
  char small[8];
  OK(waotp_last_error_message(small, sizeof small, &len));
  CHECK(len > 7 && strlen(small) == 7, "truncated to cap-1: len=%zu '%s'", len, small);
  size_t len2 = 0;
  OK(waotp_last_error_message(NULL, 0, &len2));
  CHECK(len2 == len, "length query");
  EXPECT(waotp_last_error_message(NULL, 4, &len2), WAOTP_NULL_PARAMETER);
  EXPECT(waotp_last_error_message(small, sizeof small, NULL), WAOTP_NULL_PARAMETER);

  OK(waotp_otp_generate(8, &code));
  CHECK(strlen(code) == 8, "8 digits: %s", code);
  for (int i = 0; i < 8; i++) CHECK(code[i] >= '0' && code[i] <= '9', "digit");
  waotp_string_free(&code);
}

/* Every option of the handle: a good value is taken, a bad one refused with
 * its status (the handle keeps its value), then the gateway opens with all. */
static void test_options_handle(void) {
  waotp_options *o = NULL;
  OK(waotp_options_new(&o));
  char dir[512];
  snprintf(dir, sizeof dir, "%s/options", g_tmp);
  static const uint8_t secret[32] = "0123456789abcdef0123456789abcdef";
#define BAD(call, want)                          \
  do {                                           \
    EXPECT(call, want);                          \
    CHECK(last_error()[0] != '\0', "%s: a message", #call); \
  } while (0)
  OK(waotp_options_set_data_dir(o, dir));
  BAD(waotp_options_set_data_dir(o, ""), WAOTP_INVALID_ARGUMENT);
  BAD(waotp_options_set_data_dir(o, "\xff"), WAOTP_INVALID_UTF8);
  OK(waotp_options_set_endpoint(o, g_ws));
  BAD(waotp_options_set_endpoint(o, ""), WAOTP_INVALID_ARGUMENT);
  OK(waotp_options_set_default_country_code(o, 62));
  BAD(waotp_options_set_default_country_code(o, 0), WAOTP_INVALID_ARGUMENT);
  OK(waotp_options_set_otp_length(o, 8));
  BAD(waotp_options_set_otp_length(o, 3), WAOTP_INVALID_ARGUMENT);
  BAD(waotp_options_set_otp_length(o, 11), WAOTP_INVALID_ARGUMENT);
  OK(waotp_options_set_otp_ttl_ms(o, 60000));
  BAD(waotp_options_set_otp_ttl_ms(o, 999), WAOTP_INVALID_ARGUMENT);
  OK(waotp_options_set_otp_max_attempts(o, 5));
  BAD(waotp_options_set_otp_max_attempts(o, 0), WAOTP_INVALID_ARGUMENT);
  OK(waotp_options_set_otp_locale(o, "en"));
  BAD(waotp_options_set_otp_locale(o, "fr"), WAOTP_INVALID_ARGUMENT);
  OK(waotp_options_set_otp_secret(o, secret, sizeof secret));
  BAD(waotp_options_set_otp_secret(o, secret, 8), WAOTP_INVALID_ARGUMENT);
  BAD(waotp_options_set_otp_secret(o, NULL, 32), WAOTP_NULL_PARAMETER);
  OK(waotp_options_set_no_limits(o, false));
  OK(waotp_options_set_sends_per_recipient(o, 3, 60000));
  OK(waotp_options_set_sends_per_recipient(o, 0, 0)); /* off */
  BAD(waotp_options_set_sends_per_recipient(o, 3, 0), WAOTP_INVALID_ARGUMENT);
  OK(waotp_options_set_resend_cooldown_ms(o, 5000));
  OK(waotp_options_set_verifies_per_recipient(o, 10, 600000));
  BAD(waotp_options_set_verifies_per_recipient(o, 0, 1000), WAOTP_INVALID_ARGUMENT);
  OK(waotp_options_set_session_pacing(o, true, 100, 50, 5000));
  BAD(waotp_options_set_session_pacing(o, true, 5000, 0, 100), WAOTP_INVALID_ARGUMENT);
  OK(waotp_options_set_memory_store(o, true));
  OK(waotp_options_set_check_on_whatsapp(o, false));
  OK(waotp_options_set_on_whatsapp_cache_ttl_ms(o, 1000));
  OK(waotp_options_set_send_retry(o, 2, 100, 1000, 5000));
  BAD(waotp_options_set_send_retry(o, 0, 100, 1000, 5000), WAOTP_INVALID_ARGUMENT);
  BAD(waotp_options_set_send_retry(o, 2, 1000, 100, 5000), WAOTP_INVALID_ARGUMENT);
  BAD(waotp_options_set_redis_url(o, "http://localhost"), WAOTP_INVALID_ARGUMENT);
  OK(waotp_options_set_redis_key_prefix(o, "ctest:"));
  BAD(waotp_options_set_redis_key_prefix(o, ""), WAOTP_INVALID_ARGUMENT);
  OK(waotp_options_set_redis_lease_ttl_ms(o, 5000));
  BAD(waotp_options_set_redis_lease_ttl_ms(o, 100), WAOTP_INVALID_ARGUMENT);
  OK(waotp_options_set_otp_secret_in_redis(o, false));
  OK(waotp_options_set_new_chats_per_day(o, 500));
  BAD(waotp_options_set_new_chats_per_day(NULL, 500), WAOTP_NULL_PARAMETER);
  /* The test build has SQLCipher (the `sqlcipher` feature): the open below
   * makes an encrypted store. */
  OK(waotp_options_set_session_store_key(o, secret, 32));
  BAD(waotp_options_set_session_store_key(o, secret, 8), WAOTP_INVALID_ARGUMENT);
  BAD(waotp_options_set_session_store_key(o, NULL, 32), WAOTP_NULL_PARAMETER);
  OK(waotp_options_set_memory_bounds(o, 1000, 60000, 1000, 100));
  BAD(waotp_options_set_memory_bounds(o, 1000, 0, 1000, 100), WAOTP_INVALID_ARGUMENT);
  BAD(waotp_options_set_memory_bounds(o, 1000, 60000, 1000, 0), WAOTP_INVALID_ARGUMENT);
  OK(waotp_options_set_manual_clock(o, true));
  OK(waotp_options_set_whatsapp_version(o, 2, 3000, 1));
  BAD(waotp_options_set_whatsapp_version(o, 0, 0, 0), WAOTP_INVALID_ARGUMENT);
#undef BAD
  /* The handle kept the good values: it opens, with a manual clock, the
   * 8-digit codes and no on-WhatsApp check. */
  waotp_gateway *gw = NULL;
  OK(waotp_gateway_open_with(o, &gw));
  waotp_options_free(&o);
  CHECK(o == NULL, "free NULLs the handle");
  OK(waotp_test_clock_advance(gw, 1000));
  OK(waotp_gateway_close(&gw));
  /* A redis:// URL is taken by the setter (it is only used by the open).
   * Without an OTP secret the open refuses before it connects; with the
   * development flag it goes on, to find nothing listening on port 1. */
  OK(waotp_options_new(&o));
  char redis_dir[512];
  snprintf(redis_dir, sizeof redis_dir, "%s/redis-options", g_tmp);
  OK(waotp_options_set_data_dir(o, redis_dir));
  OK(waotp_options_set_endpoint(o, "ws://127.0.0.1:1/ws/chat"));
  OK(waotp_options_set_redis_url(o, "redis://127.0.0.1:1/0"));
  EXPECT(waotp_gateway_open_with(o, &gw), WAOTP_INVALID_ARGUMENT);
  OK(waotp_options_set_otp_secret_in_redis(o, true));
  waotp_status redis_down = waotp_gateway_open_with(o, &gw);
  CHECK(redis_down != WAOTP_OK && redis_down != WAOTP_INVALID_ARGUMENT,
        "with otp_secret_in_redis the open gets as far as connecting to Redis");
  CHECK(gw == NULL, "no gateway on failure");
  waotp_options_free(&o);
  /* NULL options: every default (a sandbox build then wants an endpoint). */
  EXPECT(waotp_gateway_open_with(NULL, &gw), WAOTP_ENDPOINT_NOT_ALLOWED);
  CHECK(gw == NULL, "no gateway on failure");
}

/* The deprecated struct-based open still works for callers built against it. */
static void test_endpoint_rules(void) {
  waotp_gateway_options o;
  OK(waotp_gateway_options_default(&o));
  char dir[512];
  snprintf(dir, sizeof dir, "%s/endpoint", g_tmp);
  o.data_dir = dir;
  waotp_gateway *gw = NULL;
  EXPECT(waotp_gateway_open(&o, &gw), WAOTP_ENDPOINT_NOT_ALLOWED); /* sandbox needs one */
  o.endpoint = "ws://example.com/ws/chat";
  EXPECT(waotp_gateway_open(&o, &gw), WAOTP_ENDPOINT_NOT_ALLOWED);
  CHECK(strstr(last_error(), "loopback") != NULL, "message says why: %s", last_error());
  CHECK(gw == NULL, "no gateway on failure");
  o.endpoint = g_ws;
  o.locale = "fr";
  EXPECT(waotp_gateway_open(&o, &gw), WAOTP_INVALID_ARGUMENT);
  o.locale = NULL;
  o.otp_length = 3;
  EXPECT(waotp_gateway_open(&o, &gw), WAOTP_INVALID_ARGUMENT);
  o.otp_length = 0;
  OK(waotp_gateway_open(&o, &gw));
  EXPECT(waotp_test_clock_advance(gw, 1000), WAOTP_INVALID_ARGUMENT); /* no manual clock */
  OK(waotp_gateway_close(&gw));
  CHECK(gw == NULL, "close NULLs the handle");
}

static void test_full_flow(void) {
  const char *phone_text = "6281200000001", *phone_otp = "6281200000002", *phone_out = "6281200000009";
  sim_add_number(phone_text, 1);
  sim_add_number(phone_otp, 1);
  sim_add_number(phone_out, 0);
  /* Default limits on a manual clock: the resend cooldown below holds
   * however long the sends take. */
  waotp_gateway *gw = open_gateway("flow", true, false);
  CHECK(gw != NULL, "gateway opens");

  char *id = NULL, *qr = NULL, *s = NULL;
  OK(waotp_session_create(gw, "shop", &id));
  CHECK(strcmp(id, "shop") == 0, "id %s", id);
  waotp_string_free(&id);
  OK(waotp_session_create(gw, NULL, &id)); /* generated id */
  CHECK(strncmp(id, "session_", 8) == 0, "generated id %s", id);
  OK(waotp_session_delete(gw, id));
  waotp_string_free(&id);

  OK(waotp_session_qr(gw, "shop", WAOTP_QR_RAW, STEP_MS, &qr));
  CHECK(strchr(qr, ',') != NULL, "raw payload: %s", qr);
  OK(waotp_session_qr(gw, "shop", WAOTP_QR_DATA_URL, 0, &s));
  CHECK(strncmp(s, "data:image/png;base64,iVBOR", 27) == 0, "data URL");
  waotp_string_free(&s);
  OK(waotp_session_qr(gw, "shop", WAOTP_QR_SVG, 0, &s));
  CHECK(strstr(s, "<svg") && strstr(s, "</svg>"), "svg");
  waotp_string_free(&s);
  OK(waotp_session_qr(gw, "shop", WAOTP_QR_TERMINAL, 0, &s));
  CHECK(strlen(s) > 100, "terminal rendering");
  waotp_string_free(&s);
  OK(waotp_session_qr(gw, "shop", WAOTP_QR_JSON, 0, &s));
  CHECK(strstr(s, "\"expiresAt\":") && strstr(s, "\"qr\":"), "json %s", s);
  waotp_string_free(&s);
  EXPECT(waotp_session_qr(gw, "shop", 99, 0, &s), WAOTP_INVALID_ARGUMENT);
  waotp_bytes png = {0};
  OK(waotp_session_qr_png(gw, "shop", 0, &png));
  CHECK(png.len > 100 && memcmp(png.data, "\x89PNG\r\n\x1a\n", 8) == 0, "png");
  waotp_bytes_free(&png);
  CHECK(png.data == NULL && png.len == 0, "bytes_free resets");

  OK(waotp_session_get_status(gw, "shop", &s));
  CHECK(strstr(s, "\"state\":\"awaiting_scan\"") && strstr(s, "\"sessionId\":\"shop\""), "%s", s);
  waotp_string_free(&s);

  char body[2048];
  snprintf(body, sizeof body, "{\"qr\":\"%s\",\"phone\":\"6281111111111\",\"name\":\"Shop\"}", qr);
  waotp_string_free(&qr);
  CHECK(sim_http(g_control, "POST", "/scan", body, NULL) == 200, "the phone scans");
  OK(waotp_session_wait_connected(gw, "shop", STEP_MS, &s));
  CHECK(strstr(s, "\"isConnected\":true") && strstr(s, "\"phone\":\"6281111111111\""), "%s", s);
  waotp_string_free(&s);
  EXPECT(waotp_session_qr(gw, "shop", WAOTP_QR_RAW, 0, &qr), WAOTP_ALREADY_CONNECTED);

  OK(waotp_session_list(gw, &s));
  CHECK(s[0] == '[' && strstr(s, "\"sessionId\":\"shop\""), "list %s", s);
  waotp_string_free(&s);

  bool on = false;
  OK(waotp_session_is_on_whatsapp(gw, "shop", phone_text, &on));
  CHECK(on, "registered number is on WhatsApp");
  OK(waotp_session_is_on_whatsapp(gw, "shop", phone_out, &on));
  CHECK(!on, "unregistered number is not");

  char *mid = NULL;
  OK(waotp_session_send_text(gw, "shop", phone_text, "Halo dari C", "key-1", &mid));
  char *mid2 = NULL;
  OK(waotp_session_send_text(gw, "shop", phone_text, "Halo dari C", "key-1", &mid2));
  CHECK(strcmp(mid, mid2) == 0, "idempotency key replays the message id");
  waotp_string_free(&mid2);
  OK(waotp_message_get_status(gw, mid, &s));
  CHECK(strstr(s, "\"messageId\":") && strstr(s, "\"status\":"), "%s", s);
  waotp_string_free(&s);
  waotp_string_free(&mid);

  /* The OTP, as a user gets it: from the recipient's inbox. */
  waotp_otp_request req = {0};
  req.company_name = "PT. Contoh";
  OK(waotp_otp_send(gw, "shop", "081200000002", &req, &s));
  CHECK(strstr(s, "\"verificationId\":") && strstr(s, "\"to\":\"6281200000002\""), "%s", s);
  CHECK(strstr(s, "\"otp\"") == NULL, "code not revealed by default: %s", s);
  waotp_string_free(&s);
  EXPECT(waotp_otp_send(gw, "shop", phone_otp, &req, &s), WAOTP_RATE_LIMITED); /* cooldown */
  CHECK(strstr(last_error(), "cooldown") != NULL, "the cooldown refused it: %s", last_error());
  uint64_t wait_ms = waotp_last_error_retry_after_ms();
  CHECK(wait_ms > 0 && wait_ms <= 10000, "the wait in ms: %llu", (unsigned long long)wait_ms);
  EXPECT(waotp_otp_send(gw, "shop", phone_out, &req, &s), WAOTP_NOT_ON_WHATSAPP);
  CHECK(waotp_last_error_retry_after_ms() == 0, "no wait after another error");
  char code[8];
  CHECK(sim_wait_code(phone_otp, 6, code), "the recipient got a 6-digit code");
  char *inbox = NULL;
  char path[64];
  snprintf(path, sizeof path, "/inbox/%s", phone_otp);
  sim_http(g_control, "GET", path, NULL, &inbox);
  int named = inbox && strstr(inbox, "PT. Contoh") != NULL;
  free(inbox);
  CHECK(named, "the message names the company");

  waotp_verify_result r;
  char wrong[8];
  snprintf(wrong, sizeof wrong, "%06d", (atoi(code) + 1) % 1000000);
  OK(waotp_otp_verify(gw, "081200000002", wrong, &r));
  CHECK(r.outcome == WAOTP_VERIFY_INVALID && r.attempts_left == 2, "wrong code: %d %u", r.outcome, r.attempts_left);
  OK(waotp_otp_verify(gw, "+62 812-0000-0002", code, &r));
  CHECK(r.outcome == WAOTP_VERIFY_APPROVED, "right code approved: %d", r.outcome);
  OK(waotp_otp_verify(gw, phone_otp, code, &r));
  CHECK(r.outcome == WAOTP_VERIFY_NOT_FOUND, "single use: %d", r.outcome);
  OK(waotp_otp_get_status(gw, phone_otp, &s));
  CHECK(strstr(s, "\"status\":\"approved\"") && !strstr(s, code), "%s", s);
  waotp_string_free(&s);

  OK(waotp_stats_get(gw, &s));
  CHECK(strstr(s, "\"otpIssued\":1") && strstr(s, "\"shop\":") && strstr(s, "\"successRate\":"), "%s", s);
  waotp_string_free(&s);
  OK(waotp_stats_prometheus(gw, &s));
  CHECK(strstr(s, "# TYPE") != NULL, "prometheus text");
  waotp_string_free(&s);

  /* Events were queued from open on: QR, connected, OTP sent, verified. */
  int saw_qr = 0, saw_connected = 0, saw_verified = 0;
  long long deadline = now_ms() + STEP_MS;
  while (!(saw_qr && saw_connected && saw_verified) && now_ms() < deadline) {
    waotp_status st = waotp_events_poll(gw, 1000, &s);
    if (st == WAOTP_TIMEOUT) continue;
    OK(st);
    saw_qr |= strstr(s, "\"type\":\"qr_updated\"") != NULL;
    saw_connected |= strstr(s, "\"type\":\"connected\"") != NULL && strstr(s, "\"sessionId\":\"shop\"");
    saw_verified |= strstr(s, "\"type\":\"otp_verified\"") != NULL;
    waotp_string_free(&s);
  }
  CHECK(saw_qr && saw_connected && saw_verified, "events: qr %d connected %d verified %d", saw_qr,
        saw_connected, saw_verified);

  OK(waotp_session_restart(gw, "shop"));
  OK(waotp_session_wait_connected(gw, "shop", STEP_MS, &s));
  waotp_string_free(&s);
  OK(waotp_session_logout(gw, "shop"));
  OK(waotp_session_get_status(gw, "shop", &s));
  CHECK(strstr(s, "\"state\":\"logged_out\"") != NULL, "%s", s);
  waotp_string_free(&s);
  OK(waotp_session_delete(gw, "shop"));
  EXPECT(waotp_session_get_status(gw, "shop", &s), WAOTP_SESSION_NOT_FOUND);
  OK(waotp_gateway_close(&gw));
}

/* A sender pool: two numbers with a quota of one new chat each carry one
 * code each; the third recipient gets WAOTP_ACCOUNT_LIMITED with the time
 * the quota comes back; the status JSON shows the number's health. */
static void test_sender_pool(void) {
  waotp_gateway *gw = open_gateway("pool", false, true);
  CHECK(gw != NULL, "open");
  const char *phones[2] = {"6282222222301", "6282222222302"};
  const char *ids[2] = {"pa", "pb"};
  for (int i = 0; i < 2; i++) {
    CHECK(link_session(gw, ids[i], phones[i]), "link %s", ids[i]);
    char path[128];
    snprintf(path, sizeof path, "/accounts/%s/limits", phones[i]);
    CHECK(sim_http(g_control, "POST", path, "{\"new_chat_quota\":1,\"cycle_secs\":600}", NULL) == 200,
          "quota for %s", phones[i]);
  }
  waotp_otp_request req = {0};
  req.company_name = "Toko Sehat";
  char *s = NULL;
  int through_a = 0, through_b = 0;
  char first_sender[64] = "";
  for (int i = 0; i < 2; i++) {
    char to[32];
    snprintf(to, sizeof to, "62812000003%02d", i);
    sim_add_number(to, 1);
    OK(waotp_otp_send_pool(gw, ids, 2, to, &req, &s));
    through_a += strstr(s, "\"sessionId\":\"pa\"") != NULL;
    through_b += strstr(s, "\"sessionId\":\"pb\"") != NULL;
    if (i == 0) snprintf(first_sender, sizeof first_sender, "\"sessionId\":\"%s\"",
                         strstr(s, "\"sessionId\":\"pa\"") ? "pa" : "pb");
    waotp_string_free(&s);
    char code[16];
    CHECK(sim_wait_code(to, 6, code), "the code reached %s", to);
  }
  CHECK(through_a == 1 && through_b == 1, "one code through each number: %d, %d", through_a, through_b);
  sim_add_number("6281200000399", 1);
  EXPECT(waotp_otp_send_pool(gw, NULL, 0, "6281200000399", &req, &s), WAOTP_ACCOUNT_LIMITED);
  uint64_t wait = waotp_last_error_retry_after_ms();
  CHECK(wait > 0 && wait <= 600000, "retry after %llu ms", (unsigned long long)wait);
  EXPECT(waotp_otp_send_pool(gw, NULL, 1, "6281200000399", &req, &s), WAOTP_INVALID_ARGUMENT);
  const char *unknown[1] = {"nope"};
  EXPECT(waotp_otp_send_pool(gw, unknown, 1, "6281200000399", &req, &s), WAOTP_SESSION_NOT_FOUND);
  EXPECT(waotp_otp_send_pool(gw, NULL, 0, NULL, &req, &s), WAOTP_NULL_PARAMETER);
  EXPECT(waotp_otp_send_pool(gw, NULL, 0, "6281200000399", &req, NULL), WAOTP_NULL_PARAMETER);
  /* A text through the pool: a known contact still gets it, from the
   * number that sent their code (a known contact once that code was
   * delivered); a new chat is refused up front. */
  long long deadline = now_ms() + STEP_MS;
  int delivered = 0;
  while (!delivered && now_ms() < deadline) {
    OK(waotp_otp_get_status(gw, "6281200000300", &s));
    delivered = strstr(s, "\"delivery\":\"delivered\"") || strstr(s, "\"delivery\":\"read\"");
    waotp_string_free(&s);
    if (!delivered) usleep(20 * 1000); /* a bounded poll of the delivery status */
  }
  CHECK(delivered, "the first code delivered within %d ms", STEP_MS);
  OK(waotp_send_text_pool(gw, NULL, 0, "6281200000300", "Pesanan Anda sudah dikirim", &s));
  CHECK(strstr(s, first_sender) != NULL, "the text went from %s: %s", first_sender, s);
  CHECK(strstr(s, "\"messageId\":\"") != NULL, "a message id in %s", s);
  waotp_string_free(&s);
  EXPECT(waotp_send_text_pool(gw, ids, 2, "6281200000399", "Halo", &s), WAOTP_ACCOUNT_LIMITED);
  EXPECT(waotp_send_text_pool(gw, NULL, 0, "6281200000399", NULL, &s), WAOTP_NULL_PARAMETER);
  EXPECT(waotp_send_text_pool(gw, unknown, 1, "6281200000300", "Halo", &s), WAOTP_SESSION_NOT_FOUND);
  char *status = NULL;
  OK(waotp_session_get_status(gw, "pa", &status));
  CHECK(strstr(status, "\"state\":\"new_chats_limited\"") != NULL, "health in %s", status);
  CHECK(strstr(status, "\"reason\":\"capped\"") != NULL, "reason in %s", status);
  waotp_string_free(&status);
  OK(waotp_gateway_close(&gw));
}

/* The string value of `"key":"…"` in `json` (no escapes expected), copied
 * into `out`. Returns 1 if found. */
static int json_text(const char *json, const char *key, char *out, size_t size) {
  char pattern[64];
  snprintf(pattern, sizeof pattern, "\"%s\":\"", key);
  const char *at = strstr(json, pattern);
  if (!at) return 0;
  at += strlen(pattern);
  const char *end = strchr(at, '"');
  if (!end || (size_t)(end - at) >= size) return 0;
  memcpy(out, at, (size_t)(end - at));
  out[end - at] = 0;
  return 1;
}

/* Inbound verification: the user sends the token from WhatsApp. A stranger
 * with the token is refused (the token stays valid), the expected number
 * approves it, and the status names the sender. */
static void test_inbound_verification(void) {
  waotp_gateway *gw = open_gateway("inbound", false, true);
  CHECK(gw != NULL, "open");
  const char *number = "6282222222401";
  CHECK(link_session(gw, "in", number), "link");
  sim_add_number("6281200000401", 1);
  sim_add_number("6281200000402", 1);
  waotp_inbound_request req = {0};
  req.expected_phone = "081200000401";
  char *s = NULL;
  OK(waotp_inbound_start(gw, NULL, 0, &req, &s));
  char id[64], text[128], link[256];
  CHECK(json_text(s, "verificationId", id, sizeof id), "%s", s);
  CHECK(json_text(s, "text", text, sizeof text), "%s", s);
  CHECK(json_text(s, "link", link, sizeof link), "%s", s);
  CHECK(strncmp(link, "https://wa.me/6282222222401?text=Kode%20masuk%3A%20", 51) == 0, "%s", link);
  CHECK(strstr(s, "\"qrCode\":\"data:image/png;base64,") != NULL, "%s", s);
  waotp_string_free(&s);

  char body[256];
  snprintf(body, sizeof body, "{\"from\":\"6281200000402\",\"to\":\"%s\",\"text\":\"%s\"}", number, text);
  CHECK(sim_http(g_control, "POST", "/send", body, NULL) == 200, "the stranger writes");
  snprintf(body, sizeof body, "{\"from\":\"6281200000401\",\"to\":\"%s\",\"text\":\"%s\"}", number, text);
  CHECK(sim_http(g_control, "POST", "/send", body, NULL) == 200, "the user writes");
  long long deadline = now_ms() + STEP_MS;
  int approved = 0;
  while (!approved && now_ms() < deadline) {
    OK(waotp_inbound_get_status(gw, id, &s));
    approved = strstr(s, "\"status\":\"approved\"") != NULL;
    if (!approved) {
      waotp_string_free(&s);
      usleep(20 * 1000); /* a bounded poll of the store */
    }
  }
  CHECK(approved, "approved within %d ms", STEP_MS);
  CHECK(strstr(s, "\"sender\":\"6281200000401\"") != NULL, "%s", s);
  CHECK(strstr(s, "\"attempts\":1") != NULL, "the stranger counted: %s", s);
  waotp_string_free(&s);
  OK(waotp_stats_get(gw, &s));
  CHECK(strstr(s, "\"approvedInbound\":1") != NULL, "the conversion figures: %s", s);
  waotp_string_free(&s);

  EXPECT(waotp_inbound_get_status(gw, "nope", &s), WAOTP_OTP_NOT_FOUND);
  req.template_text = "no token";
  EXPECT(waotp_inbound_start(gw, NULL, 0, &req, &s), WAOTP_INVALID_ARGUMENT);
  OK(waotp_inbound_start(gw, NULL, 0, NULL, &s));
  CHECK(json_text(s, "verificationId", id, sizeof id), "%s", s);
  waotp_string_free(&s);
  OK(waotp_inbound_cancel(gw, id, &s));
  CHECK(strstr(s, "\"status\":\"canceled\"") != NULL, "%s", s);
  waotp_string_free(&s);
  EXPECT(waotp_inbound_start(gw, NULL, 0, NULL, NULL), WAOTP_NULL_PARAMETER);
  OK(waotp_gateway_close(&gw));
}

static void test_pair_code(void) {
  char *code = NULL, *s = NULL, *id = NULL;
  OK(waotp_session_create(g_gw, "paired", &id));
  waotp_string_free(&id);
  OK(waotp_session_pair_code(g_gw, "paired", "6283333333333", &code));
  CHECK(strlen(code) == 8, "8-character code: %s", code);
  char body[256];
  snprintf(body, sizeof body, "{\"phone\":\"6283333333333\",\"code\":\"%s\"}", code);
  waotp_string_free(&code);
  CHECK(sim_http(g_control, "POST", "/pair-code", body, NULL) == 200, "the phone enters the code");
  OK(waotp_session_wait_connected(g_gw, "paired", STEP_MS, &s));
  CHECK(strstr(s, "\"phone\":\"6283333333333\"") != NULL, "%s", s);
  waotp_string_free(&s);
  OK(waotp_session_delete(g_gw, "paired"));
}

/* A passkey-gated account links: scan, state passkey_required with the
 * server's options and the console snippet, the simulated passkey's
 * assertion submitted, connected; the events say the same. */
static void test_passkey_link(void) {
  const char *phone = "6284400000001";
  sim_add_gated_number(phone);
  waotp_gateway *gw = open_gateway("passkey-link", false, true);
  CHECK(gw != NULL, "gateway opens");
  char *id = NULL, *s = NULL;
  OK(waotp_session_create(gw, "gated", &id));
  waotp_string_free(&id);
  CHECK(scan_qr(gw, "gated", phone), "the phone scans");
  CHECK(wait_passkey_required(gw, "gated", &s), "the session asks for a passkey");
  int shaped = strstr(s, "\"isConnected\":false") && strstr(s, "\"passkey\":{") &&
               strstr(s, "\"optionsJson\":\"") && strstr(s, "\"expiresAt\":") &&
               strstr(s, "navigator.credentials.get") && strstr(s, "\"confirmationCode\":");
  if (!shaped) fail(__FILE__, __LINE__, "status with the challenge: %s", s);
  waotp_string_free(&s);
  CHECK(shaped, "the challenge is in the status");

  char *assertion = sim_passkey_assert(phone, "");
  CHECK(assertion != NULL, "the simulated passkey signs the challenge");
  waotp_status st = waotp_session_submit_passkey(gw, "gated", assertion);
  if (st == WAOTP_OK) {
    /* Linked: the same (well-formed) answer again has no challenge to meet. */
    char *status = NULL;
    st = waotp_session_wait_connected(gw, "gated", STEP_MS, &status);
    waotp_string_free(&status);
    waotp_status again = st == WAOTP_OK ? waotp_session_submit_passkey(gw, "gated", assertion)
                                        : WAOTP_INVALID_ARGUMENT;
    if (again != WAOTP_INVALID_ARGUMENT)
      fail(__FILE__, __LINE__, "a second answer once connected: want INVALID_ARGUMENT, got %s",
           waotp_status_code_name(again));
  }
  free(assertion);
  EXPECT(st, WAOTP_OK);
  OK(waotp_session_get_status(gw, "gated", &s));
  int linked = strstr(s, "\"isConnected\":true") && strstr(s, "\"phone\":\"6284400000001\"") &&
               strstr(s, "\"passkey\":null");
  if (!linked) fail(__FILE__, __LINE__, "connected status: %s", s);
  waotp_string_free(&s);
  CHECK(linked, "linked to the gated account, no challenge left");

  /* Events were queued from open on: the request (with the options and the
   * snippet), the code the phone shows, the connection. */
  int saw_required = 0, saw_confirmation = 0, saw_connected = 0;
  long long deadline = now_ms() + STEP_MS;
  while (!(saw_required && saw_confirmation && saw_connected) && now_ms() < deadline) {
    st = waotp_events_poll(gw, 1000, &s);
    if (st == WAOTP_TIMEOUT) continue;
    OK(st);
    saw_required |= strstr(s, "\"type\":\"passkey_required\"") && strstr(s, "\"optionsJson\":\"") &&
                    strstr(s, "\"snippet\":\"") && strstr(s, "\"expiresAt\":") &&
                    strstr(s, "\"sessionId\":\"gated\"");
    saw_confirmation |= strstr(s, "\"type\":\"passkey_confirmation\"") && strstr(s, "\"code\":\"");
    saw_connected |= strstr(s, "\"type\":\"connected\"") != NULL;
    waotp_string_free(&s);
  }
  CHECK(saw_required && saw_confirmation && saw_connected,
        "events: passkey_required %d passkey_confirmation %d connected %d", saw_required,
        saw_confirmation, saw_connected);
  OK(waotp_gateway_close(&gw));
}

/* Refusals: malformed JSON and a connected session are INVALID_ARGUMENT and
 * leave the challenge pending; a corrupt signature is PASSKEY_REJECTED, with
 * a passkey_failed event, and linking starts again with a fresh QR code; a
 * stale challenge is PASSKEY_EXPIRED. */
static void test_passkey_refusals(void) {
  const char *phone = "6284400000002";
  sim_add_gated_number(phone);
  waotp_gateway *gw = open_gateway("passkey-refusals", false, true);
  CHECK(gw != NULL, "gateway opens");
  char *id = NULL, *s = NULL;
  OK(waotp_session_create(gw, "refused", &id));
  waotp_string_free(&id);
  EXPECT(waotp_session_submit_passkey(gw, "refused", "{}"), WAOTP_INVALID_ARGUMENT);
  CHECK(scan_qr(gw, "refused", phone), "the phone scans");
  CHECK(wait_passkey_required(gw, "refused", &s), "the session asks for a passkey");
  waotp_string_free(&s);

  EXPECT(waotp_session_submit_passkey(gw, "refused", "{\"id\": \"abc\", \"response\""), WAOTP_INVALID_ARGUMENT);
  EXPECT(waotp_session_submit_passkey(gw, "refused", "not json at all"), WAOTP_INVALID_ARGUMENT);
  EXPECT(waotp_session_submit_passkey(gw, "refused", "{\"type\":\"public-key\"}"), WAOTP_INVALID_ARGUMENT);
  CHECK(last_error()[0] != '\0', "a message says why");
  EXPECT(waotp_session_submit_passkey(gw, "refused", "\xff\xfe"), WAOTP_INVALID_UTF8);
  EXPECT(waotp_session_submit_passkey(gw, "nope", "{}"), WAOTP_SESSION_NOT_FOUND);
  OK(waotp_session_get_status(gw, "refused", &s));
  int pending = strstr(s, "\"state\":\"passkey_required\"") != NULL;
  waotp_string_free(&s);
  CHECK(pending, "malformed answers leave the challenge pending");

  char *bad = sim_passkey_assert(phone, "\"corruptSignature\":true");
  CHECK(bad != NULL, "a corrupt assertion");
  waotp_status st = waotp_session_submit_passkey(gw, "refused", bad);
  free(bad);
  EXPECT(st, WAOTP_PASSKEY_REJECTED);
  CHECK(strcmp(waotp_status_code_name(WAOTP_PASSKEY_REJECTED), "PASSKEY_REJECTED") == 0, "name");
  int saw_failed = 0;
  long long deadline = now_ms() + STEP_MS;
  while (!saw_failed && now_ms() < deadline) {
    st = waotp_events_poll(gw, 1000, &s);
    if (st == WAOTP_TIMEOUT) continue;
    OK(st);
    saw_failed = strstr(s, "\"type\":\"passkey_failed\"") && strstr(s, "\"code\":\"PASSKEY_REJECTED\"") &&
                 strstr(s, "\"reason\":\"");
    waotp_string_free(&s);
  }
  CHECK(saw_failed, "a passkey_failed event with PASSKEY_REJECTED");

  /* Linking starts again: a fresh QR code, a second scan, a second
   * challenge; this one goes stale before the answer arrives. */
  CHECK(scan_qr(gw, "refused", phone), "the phone scans the fresh QR code");
  CHECK(wait_passkey_required(gw, "refused", &s), "asks for a passkey again");
  waotp_string_free(&s);
  char *late = sim_passkey_assert(phone, "");
  CHECK(late != NULL, "an assertion");
  char body[128];
  snprintf(body, sizeof body, "{\"phone\":\"%s\"}", phone);
  int expired = sim_http(g_control, "POST", "/passkey/expire", body, NULL) == 200;
  if (expired) st = waotp_session_submit_passkey(gw, "refused", late);
  free(late);
  CHECK(expired, "POST /passkey/expire");
  EXPECT(st, WAOTP_PASSKEY_EXPIRED);
  CHECK(strcmp(waotp_status_code_name(WAOTP_PASSKEY_EXPIRED), "PASSKEY_EXPIRED") == 0, "name");
  CHECK(WAOTP_PASSKEY_REJECTED == 23 && WAOTP_PASSKEY_EXPIRED == 24, "fixed numbers");
  OK(waotp_gateway_close(&gw));
}

static void test_null_parameters(void) {
  waotp_gateway *gw = g_gw;
  char *s = NULL;
  bool b;
  waotp_bytes bytes = {0};
  waotp_verify_result r;
  waotp_otp_request req = {0};
#define NUL(call) EXPECT(call, WAOTP_NULL_PARAMETER)
  NUL(waotp_gateway_options_default(NULL));
  NUL(waotp_gateway_open(NULL, NULL));
  NUL(waotp_gateway_open_with(NULL, NULL));
  NUL(waotp_options_new(NULL));
  NUL(waotp_options_set_data_dir(NULL, "x"));
  NUL(waotp_options_set_otp_length(NULL, 6));
  NUL(waotp_options_set_manual_clock(NULL, false));
  NUL(waotp_options_set_whatsapp_version(NULL, 2, 3000, 1));
  {
    waotp_options *o = NULL;
    OK(waotp_options_new(&o));
    NUL(waotp_options_set_data_dir(o, NULL));
    NUL(waotp_options_set_endpoint(o, NULL));
    NUL(waotp_options_set_otp_locale(o, NULL));
    NUL(waotp_options_set_redis_url(o, NULL));
    NUL(waotp_options_set_redis_key_prefix(o, NULL));
    waotp_options_free(&o);
  }
  NUL(waotp_events_poll(NULL, 0, &s));
  NUL(waotp_events_poll(gw, 0, NULL));
  NUL(waotp_stats_get(NULL, &s));
  NUL(waotp_stats_get(gw, NULL));
  NUL(waotp_stats_prometheus(NULL, &s));
  NUL(waotp_stats_prometheus(gw, NULL));
  NUL(waotp_test_clock_advance(NULL, 1));
  NUL(waotp_session_create(NULL, "x", &s));
  NUL(waotp_session_create(gw, "x", NULL));
  NUL(waotp_session_list(NULL, &s));
  NUL(waotp_session_list(gw, NULL));
  NUL(waotp_session_get_status(NULL, "main", &s));
  NUL(waotp_session_get_status(gw, NULL, &s));
  NUL(waotp_session_get_status(gw, "main", NULL));
  NUL(waotp_session_qr(NULL, "main", 0, 0, &s));
  NUL(waotp_session_qr(gw, NULL, 0, 0, &s));
  NUL(waotp_session_qr(gw, "main", 0, 0, NULL));
  NUL(waotp_session_qr_png(NULL, "main", 0, &bytes));
  NUL(waotp_session_qr_png(gw, NULL, 0, &bytes));
  NUL(waotp_session_qr_png(gw, "main", 0, NULL));
  NUL(waotp_session_pair_code(NULL, "main", "62811", &s));
  NUL(waotp_session_pair_code(gw, NULL, "62811", &s));
  NUL(waotp_session_pair_code(gw, "main", NULL, &s));
  NUL(waotp_session_pair_code(gw, "main", "62811", NULL));
  NUL(waotp_session_submit_passkey(NULL, "main", "{}"));
  NUL(waotp_session_submit_passkey(gw, NULL, "{}"));
  NUL(waotp_session_submit_passkey(gw, "main", NULL));
  NUL(waotp_session_wait_connected(NULL, "main", 1, &s));
  NUL(waotp_session_wait_connected(gw, NULL, 1, &s));
  NUL(waotp_session_wait_connected(gw, "main", 1, NULL));
  NUL(waotp_session_restart(NULL, "main"));
  NUL(waotp_session_restart(gw, NULL));
  NUL(waotp_session_logout(NULL, "main"));
  NUL(waotp_session_logout(gw, NULL));
  NUL(waotp_session_delete(NULL, "main"));
  NUL(waotp_session_delete(gw, NULL));
  NUL(waotp_session_send_text(NULL, "main", "62811", "hi", NULL, &s));
  NUL(waotp_session_send_text(gw, NULL, "62811", "hi", NULL, &s));
  NUL(waotp_session_send_text(gw, "main", NULL, "hi", NULL, &s));
  NUL(waotp_session_send_text(gw, "main", "62811", NULL, NULL, &s));
  NUL(waotp_session_send_text(gw, "main", "62811", "hi", NULL, NULL));
  NUL(waotp_session_is_on_whatsapp(NULL, "main", "62811", &b));
  NUL(waotp_session_is_on_whatsapp(gw, NULL, "62811", &b));
  NUL(waotp_session_is_on_whatsapp(gw, "main", NULL, &b));
  NUL(waotp_session_is_on_whatsapp(gw, "main", "62811", NULL));
  NUL(waotp_message_get_status(NULL, "m", &s));
  NUL(waotp_message_get_status(gw, NULL, &s));
  NUL(waotp_message_get_status(gw, "m", NULL));
  NUL(waotp_otp_generate(6, NULL));
  NUL(waotp_otp_send(NULL, "main", "62811", &req, &s));
  NUL(waotp_otp_send(gw, NULL, "62811", &req, &s));
  NUL(waotp_otp_send(gw, "main", NULL, &req, &s));
  NUL(waotp_otp_send(gw, "main", "62811", &req, NULL));
  NUL(waotp_otp_verify(NULL, "62811", "123456", &r));
  NUL(waotp_otp_verify(gw, NULL, "123456", &r));
  NUL(waotp_otp_verify(gw, "62811", NULL, &r));
  NUL(waotp_otp_verify(gw, "62811", "123456", NULL));
  NUL(waotp_otp_cancel(NULL, "62811", &s));
  NUL(waotp_otp_cancel(gw, NULL, &s));
  NUL(waotp_otp_cancel(gw, "62811", NULL));
  NUL(waotp_otp_get_status(NULL, "62811", &s));
  NUL(waotp_otp_get_status(gw, NULL, &s));
  NUL(waotp_otp_get_status(gw, "62811", NULL));
#undef NUL
  CHECK(s == NULL && bytes.data == NULL, "no output written");
  CHECK(strstr(last_error(), "status_json_out") != NULL, "message names the argument: %s", last_error());
}

static void test_invalid_utf8(void) {
  const char *bad = "\xff\xfe\xfd";
  char *s = NULL;
  waotp_verify_result r;
  EXPECT(waotp_session_create(g_gw, bad, &s), WAOTP_INVALID_UTF8);
  EXPECT(waotp_session_get_status(g_gw, bad, &s), WAOTP_INVALID_UTF8);
  EXPECT(waotp_session_send_text(g_gw, "main", "6281200000010", bad, NULL, &s), WAOTP_INVALID_UTF8);
  EXPECT(waotp_otp_verify(g_gw, bad, "123456", &r), WAOTP_INVALID_UTF8);
  EXPECT(waotp_otp_verify(g_gw, "6281200000010", bad, &r), WAOTP_INVALID_UTF8);
  waotp_otp_request req = {0};
  req.company_name = bad;
  EXPECT(waotp_otp_send(g_gw, "main", "6281200000010", &req, &s), WAOTP_INVALID_UTF8);
  waotp_gateway_options o = {0};
  o.data_dir = bad;
  waotp_gateway *gw = NULL;
  EXPECT(waotp_gateway_open(&o, &gw), WAOTP_INVALID_UTF8);
  CHECK(strstr(last_error(), "UTF-8") != NULL, "%s", last_error());
  CHECK(s == NULL && gw == NULL, "no output written");
}

/* A small deterministic generator, so a failing case can be replayed. */
static uint32_t fuzz_next(uint32_t *state) {
  *state ^= *state << 13;
  *state ^= *state >> 17;
  *state ^= *state << 5;
  return *state;
}

/* Fills `buf` (NUL-terminated, `len` bytes before it) with printable ASCII
 * or with any non-NUL bytes. */
static void fuzz_string(uint32_t *state, char *buf, size_t len, bool printable) {
  for (size_t i = 0; i < len; i++) {
    uint32_t r = fuzz_next(state);
    buf[i] = printable ? (char)(' ' + r % 95) : (char)(1 + r % 255);
  }
  buf[len] = '\0';
}

static bool status_is_one_of(waotp_status st, const waotp_status *allowed, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (st == allowed[i]) return true;
  }
  return false;
}

/* waotp_otp_send and waotp_otp_verify with over-long and random arguments
 * (under ASan and UBSan): a status from the documented set every time, the
 * output untouched on error, no crash and no leak. */
static void test_over_long_and_random_arguments(void) {
  size_t big = 1 << 20;
  char *huge = malloc(big + 1);
  CHECK(huge != NULL, "malloc");
  if (!huge) return;
  memset(huge, '8', big);
  huge[big] = '\0';
  char *s = NULL;
  waotp_verify_result r;
  waotp_otp_request req = {0};
  req.company_name = "PT. Contoh";
  EXPECT(waotp_otp_send(g_gw, "nope", huge, &req, &s), WAOTP_INVALID_PHONE);
  EXPECT(waotp_otp_verify(g_gw, huge, "123456", &r), WAOTP_INVALID_PHONE);
  waotp_status st = waotp_otp_verify(g_gw, "6281200000011", huge, &r);
  CHECK(st == WAOTP_INVALID_ARGUMENT || (st == WAOTP_OK && r.outcome != WAOTP_VERIFY_APPROVED),
        "a 1 MiB code: %d", (int)st);
  free(huge);

  const waotp_status send_allowed[] = {WAOTP_INVALID_PHONE, WAOTP_SESSION_NOT_FOUND,
                                       WAOTP_INVALID_UTF8, WAOTP_INVALID_ARGUMENT};
  const waotp_status verify_allowed[] = {WAOTP_OK, WAOTP_INVALID_PHONE, WAOTP_INVALID_UTF8,
                                         WAOTP_INVALID_ARGUMENT, WAOTP_RATE_LIMITED};
  uint32_t state = 0x9e3779b9u;
  char to[80], code[40];
  for (int i = 0; i < 2000; i++) {
    bool printable = i % 2 == 0;
    fuzz_string(&state, to, fuzz_next(&state) % sizeof to, printable);
    fuzz_string(&state, code, fuzz_next(&state) % sizeof code, printable || i % 3 == 0);
    s = NULL;
    st = waotp_otp_send(g_gw, "nope", to, &req, &s);
    if (!status_is_one_of(st, send_allowed, sizeof send_allowed / sizeof send_allowed[0]) || s != NULL) {
      CHECK(false, "case %d: waotp_otp_send answered %d", i, (int)st);
      break;
    }
    st = waotp_otp_verify(g_gw, to, code, &r);
    if (!status_is_one_of(st, verify_allowed, sizeof verify_allowed / sizeof verify_allowed[0]) ||
        (st == WAOTP_OK && r.outcome == WAOTP_VERIFY_APPROVED)) {
      CHECK(false, "case %d: waotp_otp_verify answered %d", i, (int)st);
      break;
    }
  }
}

static void test_unknown_session(void) {
  char *s = NULL;
  waotp_bytes png = {0};
  bool b;
  waotp_otp_request req = {0};
  req.company_name = "PT. Contoh";
  EXPECT(waotp_session_get_status(g_gw, "nope", &s), WAOTP_SESSION_NOT_FOUND);
  CHECK(strstr(last_error(), "nope") != NULL, "%s", last_error());
  EXPECT(waotp_session_qr(g_gw, "nope", 0, 0, &s), WAOTP_SESSION_NOT_FOUND);
  EXPECT(waotp_session_qr_png(g_gw, "nope", 0, &png), WAOTP_SESSION_NOT_FOUND);
  EXPECT(waotp_session_pair_code(g_gw, "nope", "6281", &s), WAOTP_SESSION_NOT_FOUND);
  EXPECT(waotp_session_wait_connected(g_gw, "nope", 10, &s), WAOTP_SESSION_NOT_FOUND);
  EXPECT(waotp_session_submit_passkey(g_gw, "nope", "{}"), WAOTP_SESSION_NOT_FOUND);
  EXPECT(waotp_session_restart(g_gw, "nope"), WAOTP_SESSION_NOT_FOUND);
  EXPECT(waotp_session_logout(g_gw, "nope"), WAOTP_SESSION_NOT_FOUND);
  EXPECT(waotp_session_delete(g_gw, "nope"), WAOTP_SESSION_NOT_FOUND);
  EXPECT(waotp_session_send_text(g_gw, "nope", "6281200000010", "hi", NULL, &s), WAOTP_SESSION_NOT_FOUND);
  EXPECT(waotp_session_is_on_whatsapp(g_gw, "nope", "6281200000010", &b), WAOTP_SESSION_NOT_FOUND);
  EXPECT(waotp_otp_send(g_gw, "nope", "6281200000010", &req, &s), WAOTP_SESSION_NOT_FOUND);
  EXPECT(waotp_session_get_status(g_gw, "bad id!", &s), WAOTP_INVALID_SESSION_ID);
  EXPECT(waotp_session_create(g_gw, "bad id!", &s), WAOTP_INVALID_SESSION_ID);
  EXPECT(waotp_message_get_status(g_gw, "3EB0NOPE", &s), WAOTP_MESSAGE_NOT_FOUND);
  EXPECT(waotp_otp_get_status(g_gw, "6281299999999", &s), WAOTP_OTP_NOT_FOUND);
  EXPECT(waotp_otp_cancel(g_gw, "6281299999999", &s), WAOTP_OTP_NOT_FOUND);
  EXPECT(waotp_otp_get_status(g_gw, "not a phone", &s), WAOTP_INVALID_PHONE);
  CHECK(s == NULL, "no output written");
}

static void test_free_null_and_twice(void) {
  waotp_string_free(NULL);
  char *s = NULL;
  waotp_string_free(&s);
  OK(waotp_otp_generate(6, &s));
  waotp_string_free(&s);
  CHECK(s == NULL, "free NULLs the pointer");
  waotp_string_free(&s); /* the second free is a no-op */
  waotp_bytes_free(NULL);
  waotp_bytes b = {0};
  waotp_bytes_free(&b);
  waotp_bytes_free(&b);
  waotp_options_free(NULL);
  waotp_options *o = NULL;
  waotp_options_free(&o);
  OK(waotp_options_new(&o));
  waotp_options_free(&o);
  CHECK(o == NULL, "free NULLs the options");
  waotp_options_free(&o);
  waotp_gateway *gw = NULL;
  OK(waotp_gateway_close(NULL));
  OK(waotp_gateway_close(&gw));
  gw = open_gateway("twice", false, false);
  CHECK(gw != NULL, "opens");
  OK(waotp_gateway_close(&gw));
  OK(waotp_gateway_close(&gw));
  CHECK(gw == NULL, "closed");
}

static int send_revealed(waotp_gateway *gw, const char *to, char *code_out) {
  waotp_otp_request req = {0};
  req.company_name = "PT. Contoh";
  req.reveal_code = true;
  char *s = NULL;
  if (waotp_otp_send(gw, "main", to, &req, &s) != WAOTP_OK) {
    fprintf(stderr, "    send to %s: %s\n", to, last_error());
    return 0;
  }
  const char *p = strstr(s, "\"otp\":\"");
  int ok = p && sscanf(p + 7, "%6[0-9]", code_out) == 1;
  waotp_string_free(&s);
  return ok;
}

static void test_wrong_code_expiry_attempts(void) {
  const char *to = "6281200000020";
  sim_add_number(to, 1);
  char code[8];
  waotp_verify_result r;
  CHECK(send_revealed(g_gw, to, code), "sent");
  for (unsigned left = 2;; left--) {
    OK(waotp_otp_verify(g_gw, to, "abc", &r));
    CHECK(r.outcome == WAOTP_VERIFY_INVALID && r.attempts_left == left, "invalid, %u left: got %d %u", left,
          r.outcome, r.attempts_left);
    if (left == 0) break;
  }
  OK(waotp_otp_verify(g_gw, to, code, &r));
  CHECK(r.outcome == WAOTP_VERIFY_MAX_ATTEMPTS, "locked after 3 wrong codes: %d", r.outcome);
  char *s = NULL;
  OK(waotp_otp_get_status(g_gw, to, &s));
  CHECK(strstr(s, "\"status\":\"max_attempts_reached\"") != NULL, "%s", s);
  waotp_string_free(&s);

  CHECK(send_revealed(g_gw, to, code), "sent again");
  OK(waotp_test_clock_advance(g_gw, 301 * 1000));
  OK(waotp_otp_verify(g_gw, to, code, &r));
  CHECK(r.outcome == WAOTP_VERIFY_EXPIRED, "expired after 5 minutes: %d", r.outcome);

  CHECK(send_revealed(g_gw, to, code), "sent a third time");
  OK(waotp_otp_cancel(g_gw, to, &s));
  CHECK(strstr(s, "\"status\":\"canceled\"") != NULL, "%s", s);
  waotp_string_free(&s);
  OK(waotp_otp_verify(g_gw, to, code, &r));
  CHECK(r.outcome == WAOTP_VERIFY_NOT_FOUND, "canceled: %d", r.outcome);
}

struct worker {
  int index;
  int ok;
  char why[200];
};

static void *worker_main(void *arg) {
  struct worker *w = arg;
  char to[32], code[8];
  snprintf(to, sizeof to, "62812000001%02d", w->index);
  for (int round = 0; round < 3; round++) {
    if (!send_revealed(g_gw, to, code)) {
      snprintf(w->why, sizeof w->why, "send %d failed", round);
      return NULL;
    }
    waotp_verify_result r;
    if (waotp_otp_verify(g_gw, to, "000000x", &r) != WAOTP_OK || r.outcome != WAOTP_VERIFY_INVALID) {
      snprintf(w->why, sizeof w->why, "wrong code not refused");
      return NULL;
    }
    if (waotp_otp_verify(g_gw, to, code, &r) != WAOTP_OK || r.outcome != WAOTP_VERIFY_APPROVED) {
      snprintf(w->why, sizeof w->why, "code not approved: %d (%s)", r.outcome, last_error());
      return NULL;
    }
  }
  w->ok = 1;
  return NULL;
}

static void test_eight_threads(void) {
  enum { N = 8 };
  pthread_t t[N];
  struct worker w[N];
  for (int i = 0; i < N; i++) {
    char to[32];
    snprintf(to, sizeof to, "62812000001%02d", i);
    sim_add_number(to, 1);
  }
  for (int i = 0; i < N; i++) {
    memset(&w[i], 0, sizeof w[i]);
    w[i].index = i;
    CHECK(pthread_create(&t[i], NULL, worker_main, &w[i]) == 0, "thread starts");
  }
  for (int i = 0; i < N; i++) pthread_join(t[i], NULL);
  for (int i = 0; i < N; i++) CHECK(w[i].ok, "thread %d: %s", i, w[i].why);
  char *s = NULL;
  OK(waotp_stats_get(g_gw, &s));
  waotp_string_free(&s);
}

static void test_events_timeout(void) {
  /* A gateway without sessions has nothing to report. */
  waotp_gateway *gw = open_gateway("quiet", false, false);
  CHECK(gw != NULL, "opens");
  char *s = NULL;
  EXPECT(waotp_events_poll(gw, 0, &s), WAOTP_TIMEOUT);
  long long t0 = now_ms();
  EXPECT(waotp_events_poll(gw, 100, &s), WAOTP_TIMEOUT);
  CHECK(now_ms() - t0 >= 90, "waited for the timeout");
  CHECK(s == NULL, "no output");
  OK(waotp_gateway_close(&gw));
  EXPECT(waotp_events_poll(g_gw, 0, NULL), WAOTP_NULL_PARAMETER);
}

static void test_after_fork(void) {
  fflush(NULL);
  pid_t pid = fork();
  CHECK(pid >= 0, "fork");
  if (pid == 0) {
    waotp_verify_result r;
    char *s = NULL;
    int ok = waotp_otp_verify(g_gw, "6281200000001", "123456", &r) == WAOTP_AFTER_FORK &&
             waotp_session_list(g_gw, &s) == WAOTP_AFTER_FORK &&
             waotp_events_poll(g_gw, 10, &s) == WAOTP_AFTER_FORK;
    _exit(ok ? 0 : 1);
  }
  int status = 0;
  CHECK(waitpid(pid, &status, 0) == pid, "waitpid");
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child got WAOTP_AFTER_FORK (status %d)", status);
  char *s = NULL;
  OK(waotp_session_list(g_gw, &s)); /* the parent is unaffected */
  waotp_string_free(&s);
}

/* ------------------------------------------------------------------------ */

struct test {
  const char *name;
  void (*fn)(void);
  int needs_main;
};

static const struct test TESTS[] = {
    {"status names and last error", test_status_names_and_last_error, 0},
    {"the options handle: every option, bad values refused", test_options_handle, 0},
    {"endpoint rules and the deprecated options struct", test_endpoint_rules, 0},
    {"full flow: QR, connect, text, OTP, verify, stats, events, lifecycle", test_full_flow, 0},
    {"pairing code", test_pair_code, 1},
    {"a passkey-gated account links with the passkey's assertion", test_passkey_link, 0},
    {"passkey refusals: malformed, rejected (fresh QR), expired", test_passkey_refusals, 0},
    {"NULL for every pointer argument", test_null_parameters, 1},
    {"invalid UTF-8", test_invalid_utf8, 1},
    {"over-long and random arguments to waotp_otp_send and waotp_otp_verify", test_over_long_and_random_arguments, 1},
    {"unknown session and other not-found errors", test_unknown_session, 1},
    {"free(NULL) and double free", test_free_null_and_twice, 0},
    {"wrong code, too many attempts, expiry, cancel", test_wrong_code_expiry_attempts, 1},
    {"8 threads sending and verifying at once", test_eight_threads, 1},
    {"events poll timeout", test_events_timeout, 0},
    {"calls after fork fail instead of hanging", test_after_fork, 1},
    {"a sender pool: OTPs and texts, ACCOUNT_LIMITED, health in the status", test_sender_pool, 0},
    {"inbound verification: a stranger refused, the expected number approves", test_inbound_verification, 0},
};

int main(void) {
  g_ws = getenv("WAOTP_SIM_WS");
  g_control = getenv("WAOTP_SIM_CONTROL");
  if (!g_ws || !g_control) {
    fprintf(stderr, "set WAOTP_SIM_WS and WAOTP_SIM_CONTROL (ffi/tests/c/run.py does)\n");
    return 2;
  }
  /* A fresh directory per run, inside run.py's temporary directory (TMPDIR)
   * so that it goes even if this program crashes. */
  const char *base = getenv("TMPDIR");
  snprintf(g_tmp, sizeof g_tmp, "%s/waotp-ctest-XXXXXX", base && *base ? base : "/tmp");
  if (!mkdtemp(g_tmp)) return 2;
  setvbuf(stdout, NULL, _IOLBF, 0);

  int passed = 0, failed = 0;
  int main_ready = 0, main_tried = 0;
  for (size_t i = 0; i < sizeof TESTS / sizeof TESTS[0]; i++) {
    const struct test *t = &TESTS[i];
    if (t->needs_main && !main_tried) {
      main_tried = 1;
      g_gw = open_gateway("shared", true, true);
      main_ready = g_gw && link_session(g_gw, "main", "6282222222222");
    }
    if (t->needs_main && !main_ready) {
      printf("FAIL - %s: the shared gateway could not be linked\n", t->name);
      failed++;
      continue;
    }
    int before = g_failed_checks;
    t->fn();
    if (g_failed_checks == before) {
      printf("ok   - %s\n", t->name);
      passed++;
    } else {
      printf("FAIL - %s\n", t->name);
      failed++;
    }
  }
  if (g_gw && waotp_gateway_close(&g_gw) != WAOTP_OK) failed++;
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmp);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_tmp);
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
