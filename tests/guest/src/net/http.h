/* A one-request-per-connection HTTP/1.1 client over tcp.h: connect, send the request, read until the
 * headers and Content-Length bytes of body (or the server's FIN), close. */
#pragma once
#include <stdint.h>

#include "netif.h"

#define HTTP_RESPONSE_MAX 16384u

struct http_response {
  int status;          /* from the status line; 0 if there was none */
  const char *body;    /* NUL-terminated, inside the connection's buffer (valid until the next request) */
  uint32_t body_len;
  uint32_t retransmits;
};

/* `extra_headers` is "Name: value\r\n"... or "". 0 with *r filled, or -1 (n->err). */
int http_request(struct netif *n, uint32_t ip, uint16_t port, const char *method, const char *path,
                 const char *extra_headers, struct http_response *r);
