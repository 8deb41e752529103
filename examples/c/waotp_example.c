/* The reference flow in C: create a session, show its QR code (terminal and
 * PNG), wait until the phone has linked it, send an OTP with a company name,
 * read the code the user typed, verify it, print the statistics.
 *
 *   ./waotp_example --session shop --to 08123456789 [--company "PT. Contoh"]
 *                   [--data-dir ./waotp-data] [--qr-png qr.png]
 *                   [--endpoint ws://127.0.0.1:PORT/ws/chat]   (sandbox builds)
 *
 * Each raw QR payload is also printed on a line starting with `QR `. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "waotp.h"

static int fail(const char *what, waotp_status st) {
  char msg[512];
  size_t len = 0;
  waotp_last_error_message(msg, sizeof msg, &len);
  fprintf(stderr, "%s failed: %s (%s)\n", what, msg, waotp_status_code_name(st));
  return 1;
}

int main(int argc, char **argv) {
  const char *session = "my-session", *to = NULL, *company = "PT. Contoh";
  const char *data_dir = "./waotp-data", *png_path = "qr.png", *endpoint = NULL;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--session")) session = argv[i + 1];
    else if (!strcmp(argv[i], "--to")) to = argv[i + 1];
    else if (!strcmp(argv[i], "--company")) company = argv[i + 1];
    else if (!strcmp(argv[i], "--data-dir")) data_dir = argv[i + 1];
    else if (!strcmp(argv[i], "--qr-png")) png_path = argv[i + 1];
    else if (!strcmp(argv[i], "--endpoint")) endpoint = argv[i + 1];
  }
  if (!to) {
    fprintf(stderr, "usage: %s --to PHONE [--session ID] [--company NAME] ...\n", argv[0]);
    return 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);

  /* Options are a handle with one setter each, so new options never
   * change a struct this program was compiled against. */
  waotp_options *options = NULL;
  waotp_status st = waotp_options_new(&options);
  if (st != WAOTP_OK) return fail("options", st);
  if (data_dir && (st = waotp_options_set_data_dir(options, data_dir)) != WAOTP_OK) {
    waotp_options_free(&options);
    return fail("data dir", st);
  }
  if (endpoint && (st = waotp_options_set_endpoint(options, endpoint)) != WAOTP_OK) {
    waotp_options_free(&options);
    return fail("endpoint", st);
  }
  waotp_gateway *gw = NULL;
  st = waotp_gateway_open_with(options, &gw);
  waotp_options_free(&options); /* the gateway keeps what it needs */
  if (st != WAOTP_OK) return fail("open", st);

  char *id = NULL, *text = NULL;
  int rc = 1;
  if ((st = waotp_session_create(gw, session, &id)) != WAOTP_OK) { fail("create session", st); goto done; }

  /* Show the QR code unless the session is already linked. Every form of it
   * is fetched before the raw payload is printed: once the phone scans, the
   * session stops offering a QR code, so a PNG asked for after that line
   * could come too late. */
  st = waotp_session_qr(gw, session, WAOTP_QR_TERMINAL, 30000, &text);
  if (st == WAOTP_OK) {
    printf("Scan this with WhatsApp (Linked devices -> Link a device):\n%s\n", text);
    waotp_string_free(&text);
    waotp_bytes png = {0};
    if (waotp_session_qr_png(gw, session, 0, &png) == WAOTP_OK) {
      FILE *f = fopen(png_path, "wb");
      if (f) {
        fwrite(png.data, 1, png.len, f);
        fclose(f);
        printf("Saved the QR code as %s\n", png_path);
      }
      waotp_bytes_free(&png);
    }
    if (waotp_session_qr(gw, session, WAOTP_QR_RAW, 0, &text) == WAOTP_OK) {
      printf("QR %s\n", text);
      waotp_string_free(&text);
    }
  } else if (st != WAOTP_ALREADY_CONNECTED) {
    fail("QR code", st);
    goto done;
  }

  if ((st = waotp_session_wait_connected(gw, session, 120000, &text)) != WAOTP_OK) {
    fail("waiting for the connection", st);
    goto done;
  }
  printf("Connected: %s\n", text);
  waotp_string_free(&text);

  waotp_otp_request request = {0};
  request.company_name = company;
  if ((st = waotp_otp_send(gw, session, to, &request, &text)) != WAOTP_OK) { fail("send OTP", st); goto done; }
  printf("OTP sent: %s\n", text);
  waotp_string_free(&text);

  char line[64];
  for (int attempt = 0; attempt < 3; attempt++) {
    printf("Enter the code you received:\n");
    if (!fgets(line, sizeof line, stdin)) break;
    line[strcspn(line, "\r\n")] = 0;
    waotp_verify_result result;
    if ((st = waotp_otp_verify(gw, to, line, &result)) != WAOTP_OK) { fail("verify", st); goto done; }
    if (result.outcome == WAOTP_VERIFY_APPROVED) {
      printf("approved\n");
      rc = 0;
      break;
    }
    if (result.outcome == WAOTP_VERIFY_INVALID && result.attempts_left > 0) {
      printf("invalid code, %u attempt(s) left\n", result.attempts_left);
      continue;
    }
    printf("refused (outcome %d)\n", (int)result.outcome);
    break;
  }

  if (waotp_stats_get(gw, &text) == WAOTP_OK) {
    printf("Stats: %s\n", text);
    waotp_string_free(&text);
  }
done:
  waotp_string_free(&id);
  waotp_gateway_close(&gw);
  return rc;
}
