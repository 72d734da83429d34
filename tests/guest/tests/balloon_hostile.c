/* `balloon-hostile`: a driver that lies. Inflates PFNs beyond RAM and at 0xffffffff, the same PFN 256
 * times, an array far larger than any real one (a 1 MiB buffer), an array outside guest RAM, a reported
 * range that is not page-aligned. The device must answer each (used) without needing a reset, and memory
 * it was not given must keep its contents. */
#include "printf.h"
#include "selftest.h"
#include "str.h"
#include "virtio_balloon.h"

#define AREA (40ull << 20)

static struct vballoon bal;
static uint32_t pfns[VBALLOON_PFNS_MAX];

static const char *run(struct guest_ctx *ctx) {
  /* STATS_VQ too: QEMU always offers it, and the reporting queue comes after it when negotiated. */
  const uint64_t want = (1ull << VIRTIO_BALLOON_F_STATS_VQ) | (1ull << VIRTIO_BALLOON_F_REPORTING);
  const char *why = vballoon_open(&bal, ctx->boot, want, 5000);
  if (why) return why;
  volatile uint64_t *keep = (volatile uint64_t *)(uintptr_t)AREA;
  keep[0] = 0x5151;
  uint32_t cases = 0;
  const uint64_t ram_pages = ctx->ram_total_mib << 8;
  for (uint32_t i = 0; i < VBALLOON_PFNS_MAX; i++) pfns[i] = (uint32_t)(ram_pages + 1000 + i * 7);
  pfns[0] = 0xffffffffu;
  if ((why = vballoon_pages(&bal, 0, pfns, VBALLOON_PFNS_MAX))) return why;
  cases++;
  for (uint32_t i = 0; i < VBALLOON_PFNS_MAX; i++) pfns[i] = (uint32_t)((AREA >> 12) + 1);
  if ((why = vballoon_pages(&bal, 0, pfns, VBALLOON_PFNS_MAX))) return why;
  cases++;
  /* 1 MiB of PFNs, all 0xffffffff. */
  memset((void *)(uintptr_t)(AREA + (8ull << 20)), 0xff, 1u << 20);
  if ((why = vballoon_raw(&bal, 0, AREA + (8ull << 20), 1u << 20))) return why;
  cases++;
  if (bal.report_q >= 0) {
    const uint64_t odd[] = {AREA + 123};
    if ((why = vballoon_report(&bal, odd, 100, 1))) return why;
    cases++;
  }
  if (keep[0] != 0x5151) return "balloon-hostile: a page nobody gave was discarded";
  if (virtio_mmio_status(&bal.mmio) & VIRTIO_STATUS_NEEDS_RESET) return "balloon-hostile: device needs reset";
  /* A buffer outside RAM breaks the ring: the device must say so, not crash. */
  why = vballoon_raw(&bal, 0, ctx->ram_total_mib << 21, 4096);
  printf("balloon-hostile: outside-ram %s\n", why ? why : "answered");
  printf("balloon-hostile: ok cases=%u\n", cases);
  return 0;
}

SELFTEST("balloon-hostile", run);
