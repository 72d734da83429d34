/* `vsock-echo`: a vsock echo server and client in one polled loop.
 *   testguest.vsock_port=L     listen on port L and echo every byte back, until the peer shuts its side
 *   testguest.vsock_serve=K    pass once K such connections were served to the end (RST after our SHUTDOWN)
 *   testguest.vsock_connect=P  also open testguest.vsock_conns=C (default 1) connections to host port P, send
 *                              testguest.vsock_bytes=N (default 4096) pattern bytes on each and check they
 *                              come back (the host side echoes)
 *   testguest.vsock_reset=1    also wait for a transport reset event (after a snapshot restore)
 *   testguest.vsock_sink=1     throughput mode (bench/vsock_bench.py): accepted connections discard what
 *                              arrives instead of echoing; outgoing ones send constant bytes and expect
 *                              nothing back
 *   testguest.vsock_timeout_s=T  give up after T seconds (default 300)
 * Prints `vsock-echo: listening port=L` when ready, then `vsock-echo: ok served=.. connected=.. ...`. */
#include "cmdline.h"
#include "io.h"
#include "printf.h"
#include "selftest.h"
#include "str.h"
#include "tsc.h"
#include "virtio_vsock.h"

static struct vsock vs;
static uint64_t served, connected, echoed, verified_total;
static const char *failure;
static char fail_buf[160];
static int sink;

static uint8_t pattern(uint32_t id, uint32_t k) { return (uint8_t)(k * 31u + id * 7u + (k >> 8)); }

static void on_data(struct vsock *v, struct vsock_conn *c, const uint8_t *data, uint32_t len) {
  (void)v;
  if (sink) {
    c->fwd_cnt += len;  /* consumed at once; credit updates tell the peer */
    verified_total += len;
    return;
  }
  if (c->echo) {
    if (len > VSOCK_CONN_BUF - c->used) {
      failure = format_reason(fail_buf, sizeof fail_buf, "vsock-echo: peer sent %u bytes past our credit", len);
      return;
    }
    /* rep movsb: a byte loop costs thousands of host cycles per byte here */
    const uint32_t tail = (c->head + c->used) % VSOCK_CONN_BUF;
    const uint32_t first = len < VSOCK_CONN_BUF - tail ? len : VSOCK_CONN_BUF - tail;
    memcpy(c->buf + tail, data, first);
    memcpy(c->buf, data + first, len - first);
    c->used += len;
    return;
  }
  for (uint32_t i = 0; i < len; i++) {
    if (data[i] != pattern((uint32_t)c->id, c->verified + i)) {
      failure = format_reason(fail_buf, sizeof fail_buf, "vsock-echo: connection %d byte %u is 0x%02x, sent 0x%02x",
                              c->id, c->verified + i, data[i], pattern((uint32_t)c->id, c->verified + i));
      return;
    }
  }
  c->verified += len;
  c->fwd_cnt += len;  /* consumed at once */
  verified_total += len;
}

static void on_event(struct vsock *v, struct vsock_conn *c, uint16_t op) {
  (void)v;
  if (op != VSOCK_OP_RST) return;
  if (c->state == VSOCK_CLOSING) {
    if (c->echo) served++;
    else connected++;
  } else if (!c->echo) {
    failure = format_reason(fail_buf, sizeof fail_buf, "vsock-echo: connection %d to port %u reset after %u of its bytes",
                            c->id, c->peer_port, c->verified);
  }
}

static void on_reset(struct vsock *v) {
  (void)v;
  printf("vsock-echo: transport reset\n");
}

/* Moves what a connection owes its peer; NULL or why not. */
static const char *step(struct vsock_conn *c, uint32_t total) {
  static uint8_t out[VSOCK_PKT_DATA];
  const char *why;
  if (c->state != VSOCK_OPEN) return 0;
  if (c->fwd_cnt - c->last_fwd_sent >= VSOCK_CONN_BUF / 2 &&
      (why = vsock_send(&vs, c, VSOCK_OP_CREDIT_UPDATE, 0, 0, 0)))
    return why;
  if (c->echo) {
    while (c->used > 0) {
      uint32_t n = vsock_peer_credit(c);
      if (n > c->used) n = c->used;
      if (n > VSOCK_CONN_BUF - c->head) n = VSOCK_CONN_BUF - c->head;
      if (n == 0) break;
      c->fwd_cnt += n;  /* the header tells the peer about the room these bytes leave */
      if ((why = vsock_send(&vs, c, VSOCK_OP_RW, 0, c->buf + c->head, n))) return why;
      c->head = (c->head + n) % VSOCK_CONN_BUF;
      c->used -= n;
      echoed += n;
    }
    if ((c->peer_shutdown & VSOCK_SHUTDOWN_SEND) && c->used == 0) {
      c->state = VSOCK_CLOSING;  /* we wait for the device's RST */
      return vsock_send(&vs, c, VSOCK_OP_SHUTDOWN, VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND, 0, 0);
    }
    return 0;
  }
  while (c->to_send > 0) {
    uint32_t n = vsock_peer_credit(c);
    if (n > c->to_send) n = c->to_send;
    if (n > VSOCK_PKT_DATA) n = VSOCK_PKT_DATA;
    if (n == 0) break;
    const uint32_t sent = total - c->to_send;
    if (!sink)
      for (uint32_t i = 0; i < n; i++) out[i] = pattern((uint32_t)c->id, sent + i);
    if ((why = vsock_send(&vs, c, VSOCK_OP_RW, 0, out, n))) return why;
    c->to_send -= n;
  }
  if (sink ? c->to_send == 0 : c->verified == total) {
    c->state = VSOCK_CLOSING;
    return vsock_send(&vs, c, VSOCK_OP_SHUTDOWN, VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND, 0, 0);
  }
  return 0;
}

static const char *run(struct guest_ctx *ctx) {
  const char *cl = ctx->boot->cmdline;
  uint64_t port = 0, serve = 0, connect = 0, conns = 1, bytes = 4096, want_reset = 0, timeout_s = 300, sink_mode = 0;
  if (cmdline_get_u64(cl, "testguest.vsock_port", &port) < 0 || cmdline_get_u64(cl, "testguest.vsock_serve", &serve) < 0 ||
      cmdline_get_u64(cl, "testguest.vsock_connect", &connect) < 0 ||
      cmdline_get_u64(cl, "testguest.vsock_conns", &conns) < 0 || cmdline_get_u64(cl, "testguest.vsock_bytes", &bytes) < 0 ||
      cmdline_get_u64(cl, "testguest.vsock_reset", &want_reset) < 0 ||
      cmdline_get_u64(cl, "testguest.vsock_timeout_s", &timeout_s) < 0 ||
      cmdline_get_u64(cl, "testguest.vsock_sink", &sink_mode) < 0)
    return "vsock-echo: malformed testguest.vsock_* value";
  sink = sink_mode != 0;
  if (conns > 64) return "vsock-echo: at most 64 outgoing connections";
  const char *why = vsock_open(&vs, ctx->boot, 60000);  /* per wait; generous: a loaded host stalls us */
  if (why) return why;
  const struct vsock_handlers h = {(uint32_t)port, on_data, on_event, on_reset};
  struct vsock_conn *out[64];
  if (connect) {
    for (uint64_t i = 0; i < conns; i++) {
      if (!(out[i] = vsock_connect(&vs, (uint32_t)connect))) return "vsock-echo: cannot open a connection";
      out[i]->id = (int)i;
      out[i]->to_send = (uint32_t)bytes;
    }
  }
  if (port) printf("vsock-echo: listening port=%u\n", (unsigned)port);
  const uint64_t deadline = rdtsc() + timeout_s * 1000ull * tsc_khz(0);
  for (;;) {
    if (vsock_poll(&vs, &h) < 0) return vs.err;
    if (failure) return failure;
    for (int i = 0; i < VSOCK_MAX_CONNS; i++) {
      struct vsock_conn *c = &vs.conns[i];
      if (c->state == VSOCK_FREE) continue;
      if ((why = step(c, (uint32_t)bytes))) return why;
    }
    if (served >= serve && connected >= (connect ? conns : 0) && vs.resets_seen >= want_reset) break;
    if (rdtsc() > deadline) {
      snprintf(ctx->fail_reason, sizeof ctx->fail_reason,
               "vsock-echo: timeout: served=%llu/%llu connected=%llu/%llu verified=%llu resets=%u",
               (unsigned long long)served, (unsigned long long)serve, (unsigned long long)connected,
               (unsigned long long)(connect ? conns : 0), (unsigned long long)verified_total, vs.resets_seen);
      return ctx->fail_reason;
    }
    cpu_relax();
  }
  printf("vsock-echo: ok served=%llu connected=%llu echoed=%llu verified=%llu resets=%u\n",
         (unsigned long long)served, (unsigned long long)connected, (unsigned long long)echoed,
         (unsigned long long)verified_total, vs.resets_seen);
  return 0;
}

SELFTEST("vsock-echo", run);
