#define _POSIX_C_SOURCE 200809L
#include "simctl.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define SIM_HTTP_TIMEOUT_S 120

static int write_all(int fd, const char *buf, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, buf, len);
    if (n <= 0) return -1;
    buf += n;
    len -= (size_t)n;
  }
  return 0;
}

int sim_http(const char *control_url, const char *method, const char *path,
             const char *json_body, char **body_out) {
  const char *host = strstr(control_url, "://");
  if (!host) return -1;
  host += 3;
  const char *colon = strchr(host, ':');
  if (!colon) return -1;
  int port = atoi(colon + 1);

  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  /* A stuck simulator fails this call (and its test) instead of hanging the
   * whole program; generous, since POST /scan lasts until the pairing ends. */
  struct timeval limit = {SIM_HTTP_TIMEOUT_S, 0};
  if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit) != 0 ||
      setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit) != 0) {
    close(fd);
    return -1;
  }
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons((unsigned short)port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  size_t body_len = json_body ? strlen(json_body) : 0;
  char head[512];
  int hn = snprintf(head, sizeof head,
                    "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                    "Content-Type: application/json\r\nContent-Length: %zu\r\n"
                    "Connection: close\r\n\r\n",
                    method, path, port, body_len);
  if (hn < 0 || (size_t)hn >= sizeof head || write_all(fd, head, (size_t)hn) != 0 ||
      (body_len && write_all(fd, json_body, body_len) != 0)) {
    close(fd);
    return -1;
  }
  size_t cap = 4096, len = 0;
  char *resp = malloc(cap);
  if (!resp) {
    close(fd);
    return -1;
  }
  for (;;) {
    if (cap - len < 1024) {
      char *bigger = realloc(resp, cap * 2);
      if (!bigger) {
        free(resp);
        close(fd);
        return -1;
      }
      resp = bigger;
      cap *= 2;
    }
    ssize_t n = read(fd, resp + len, cap - len - 1);
    if (n < 0) {
      free(resp);
      close(fd);
      return -1;
    }
    if (n == 0) break;
    len += (size_t)n;
  }
  close(fd);
  resp[len] = 0;
  int status = -1;
  if (sscanf(resp, "HTTP/1.%*d %d", &status) != 1) status = -1;
  if (body_out) {
    const char *body = strstr(resp, "\r\n\r\n");
    *body_out = strdup(body ? body + 4 : "");
  }
  free(resp);
  return status;
}

int sim_find_code(const char *json, int digits, char *out) {
  const char *p = json;
  while ((p = strstr(p, "\"text\":\"")) != NULL) {
    p += 8;
    const char *end = strchr(p, '"');
    if (!end) return 0;
    for (const char *q = p; q < end; q++) {
      if (!isdigit((unsigned char)*q) || (q > p && isdigit((unsigned char)q[-1]))) continue;
      int n = 0;
      while (q + n < end && isdigit((unsigned char)q[n])) n++;
      if (n == digits) {
        memcpy(out, q, (size_t)digits);
        out[digits] = 0;
        return 1;
      }
    }
    p = end;
  }
  return 0;
}
