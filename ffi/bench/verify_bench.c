/* The C side of the call-overhead benchmark: waotp_otp_verify on a
 * memory-store gateway, N calls, best of 5 rounds. benches/verify_overhead.rs
 * makes the same calls from Rust; ffi/bench/run prints both. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "waotp.h"

#define CALLS 1000000

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
  waotp_gateway_options o;
  waotp_gateway_options_default(&o);
  o.data_dir = argc > 1 ? argv[1] : "/tmp/waotp-c-bench";
  o.endpoint = argc > 2 ? argv[2] : NULL; /* sandbox builds need one; nothing connects */
  o.memory_store = true;
  o.no_limits = true;
  waotp_gateway *gw = NULL;
  if (waotp_gateway_open(&o, &gw) != WAOTP_OK) {
    char msg[256];
    size_t len;
    waotp_last_error_message(msg, sizeof msg, &len);
    fprintf(stderr, "open: %s\n", msg);
    return 1;
  }
  double best = 1e30;
  for (int round = 0; round < 5; round++) {
    double t0 = now_ns();
    for (int i = 0; i < CALLS; i++) {
      waotp_verify_result r;
      if (waotp_otp_verify(gw, "081234567890", "123456", &r) != WAOTP_OK) return 1;
    }
    double per = (now_ns() - t0) / CALLS;
    if (per < best) best = per;
  }
  printf("c waotp_otp_verify: %d calls, %.1f ns/call\n", CALLS, best);
  waotp_gateway_close(&gw);
  return 0;
}
