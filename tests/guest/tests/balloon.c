/* `balloon`: touches testguest.balloon_touch_mib (64) MiB at 32 MiB with rep stosq, then for
 * testguest.balloon_secs (30) follows the device's target: inflating gives pages of the touched area (top
 * down), deflating takes them back and checks they read as zero (the host dropped them) and are writable.
 * Answers statistics requests. testguest.balloon_report_mib=R: after the touch, reports R MiB of it as free
 * (2 MiB ranges, free page reporting) after testguest.balloon_report_delay_ms. testguest.balloon_oom_mib=N: once the balloon reached a non-zero
 * target, the guest "needs" N MiB and takes them back itself, which only DEFLATE_ON_OOM allows. */
#include "cmdline.h"
#include "io.h"
#include "printf.h"
#include "selftest.h"
#include "str.h"
#include "tsc.h"
#include "virtio_balloon.h"

#define BASE (32ull << 20)
#define PAGE 4096ull
#define MAX_PAGES (192u * 256u) /* 192 MiB of balloon at most */

static struct vballoon bal;
static uint32_t given[MAX_PAGES]; /* PFNs in the balloon, in the order given */

static void stosq(uint64_t addr, uint64_t value, uint64_t bytes) {
  void *d = (void *)(uintptr_t)addr;
  uint64_t n = bytes / 8;
  __asm__ volatile("rep stosq" : "+D"(d), "+c"(n) : "a"(value) : "memory");
}

static uint64_t param(struct guest_ctx *ctx, const char *key, uint64_t def) {
  uint64_t v = def;
  cmdline_get_u64(ctx->boot->cmdline, key, &v);
  return v;
}

struct state {
  uint64_t touch, top_pfn;
  uint32_t actual, inflated, deflated, stats_sent, zero_bad;
  uint64_t ram;
};

static void send_stats(struct state *s) {
  const uint64_t used = s->touch - (uint64_t)s->actual * PAGE + (8ull << 20);
  const uint64_t free = s->ram > used ? s->ram - used : 0;
  const struct vballoon_stat st[] = {{0, 0}, {1, 0}, {2, 1}, {3, 1000 + s->stats_sent}, {4, free},
                                     {5, s->ram}, {6, free}, {7, 0}};
  vballoon_stats_post(&bal, st, sizeof st / sizeof st[0]);
  s->stats_sent++;
}

static const char *inflate(struct state *s, uint32_t n) {
  uint32_t pfns[VBALLOON_PFNS_MAX];
  for (uint32_t i = 0; i < n; i++) pfns[i] = given[s->actual + i] = (uint32_t)(s->top_pfn - (s->actual + i));
  const char *why = vballoon_pages(&bal, 0, pfns, n);
  if (why) return why;
  s->actual += n;
  s->inflated += n;
  vballoon_set_actual(&bal, s->actual);
  return 0;
}

static const char *deflate(struct state *s, uint32_t n) {
  const uint32_t *pfns = &given[s->actual - n];
  const char *why = vballoon_pages(&bal, 1, pfns, n);
  if (why) return why;
  for (uint32_t i = 0; i < n; i++) {
    volatile uint64_t *p = (volatile uint64_t *)(uintptr_t)((uint64_t)pfns[i] * PAGE);
    if (p[0] != 0 || p[511] != 0) s->zero_bad++; /* was 0xa5...: the host must have dropped it */
    p[0] = 0x1234;                               /* usable again */
    if (p[0] != 0x1234) s->zero_bad++;
  }
  s->actual -= n;
  s->deflated += n;
  vballoon_set_actual(&bal, s->actual);
  return 0;
}

static const char *run(struct guest_ctx *ctx) {
  struct state s = {0};
  s.ram = ctx->ram_total_mib << 20;
  s.touch = param(ctx, "testguest.balloon_touch_mib", 64) << 20;
  const uint64_t secs = param(ctx, "testguest.balloon_secs", 30);
  const uint64_t report_mib = param(ctx, "testguest.balloon_report_mib", 0);
  const uint64_t oom_mib = param(ctx, "testguest.balloon_oom_mib", 0);
  if (s.touch / PAGE > MAX_PAGES || BASE + s.touch > s.ram) return "balloon: touch area does not fit";
  const uint64_t want = (1ull << VIRTIO_BALLOON_F_STATS_VQ) | (1ull << VIRTIO_BALLOON_F_DEFLATE_ON_OOM) |
                        (1ull << VIRTIO_BALLOON_F_REPORTING);
  const char *why = vballoon_open(&bal, ctx->boot, want, 5000);
  if (why) return why;
  s.top_pfn = (BASE + s.touch) / PAGE - 1;
  stosq(BASE, 0xa5a5a5a5a5a5a5a5ull, s.touch);
  printf("balloon: touched=%llu MiB\n", (unsigned long long)(s.touch >> 20));
  send_stats(&s);

  if (report_mib) {
    delay_ms(param(ctx, "testguest.balloon_report_delay_ms", 0)); /* lets the host see the touched RSS */
    uint64_t addrs[32], done = 0;
    while (done < report_mib) {
      uint32_t n = 0;
      while (n < 32 && done < report_mib) addrs[n++] = BASE + (done << 20), done += 2;
      if ((why = vballoon_report(&bal, addrs, 2u << 20, n))) return why;
    }
    volatile uint64_t *p = (volatile uint64_t *)(uintptr_t)BASE;
    printf("balloon: reported=%llu MiB first_qword=0x%llx\n", (unsigned long long)done, (unsigned long long)p[0]);
  }

  const uint64_t khz = tsc_khz(0), end = rdtsc() + secs * 1000 * khz;
  int oom_done = 0;
  uint32_t last_printed = ~0u;
  while (rdtsc() < end) {
    if (vballoon_stats_requested(&bal)) send_stats(&s);
    uint32_t target = vballoon_target(&bal);
    if (target > s.touch / PAGE) target = (uint32_t)(s.touch / PAGE); /* we only give what we touched */
    if (target > s.actual && !oom_done) {
      uint32_t n = target - s.actual;
      if ((why = inflate(&s, n > VBALLOON_PFNS_MAX ? VBALLOON_PFNS_MAX : n))) return why;
      continue;
    }
    if (target < s.actual) {
      uint32_t n = s.actual - target;
      if ((why = deflate(&s, n > VBALLOON_PFNS_MAX ? VBALLOON_PFNS_MAX : n))) return why;
      continue;
    }
    if (s.actual != last_printed) {
      printf("balloon: actual=%u target=%u zero_bad=%u\n", s.actual, vballoon_target(&bal), s.zero_bad);
      last_printed = s.actual;
      if (oom_mib && s.actual > 0 && !oom_done) {
        oom_done = 1;
        if (!(bal.mmio.features & (1ull << VIRTIO_BALLOON_F_DEFLATE_ON_OOM))) {
          printf("balloon: oom no-deflate (DEFLATE_ON_OOM not offered)\n");
        } else {
          uint32_t need = (uint32_t)(oom_mib * 256), took = 0;
          while (took < need && s.actual > 0) {
            uint32_t n = need - took;
            if (n > VBALLOON_PFNS_MAX) n = VBALLOON_PFNS_MAX;
            if (n > s.actual) n = s.actual;
            if ((why = deflate(&s, n))) return why;
            took += n;
          }
          printf("balloon: oom deflated=%u actual=%u zero_bad=%u\n", took, s.actual, s.zero_bad);
          last_printed = s.actual;
        }
      }
    }
    delay_ms(5);
  }
  printf("balloon: ok inflated=%u deflated=%u stats_sent=%u zero_bad=%u\n", s.inflated, s.deflated, s.stats_sent,
         s.zero_bad);
  if (s.zero_bad) return "balloon: deflated pages did not read as zero";
  return 0;
}

SELFTEST("balloon", run);
