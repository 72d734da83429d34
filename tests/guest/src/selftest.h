/* Self-tests, picked by testguest.run=<name>. A test is one file that registers itself:
 *
 *   static const char *run(struct guest_ctx *ctx) { ...; return NULL or "why it failed"; }
 *   SELFTEST("blk-read", run);
 *
 * and is added to TESTGUEST_SOURCES in tests/guest/CMakeLists.txt. The linker script gathers the
 * registrations between __selftests_start and __selftests_end. */
#pragma once
#include <stdint.h>

#include "acpi.h"
#include "bootinfo.h"
#include "memtest.h"

/* Everything the guest found out while booting. */
struct guest_ctx {
  const struct boot_info *boot;
  const struct acpi_info *acpi;
  const struct memtest_result *memtest;
  uint64_t ram_total_mib;
  char fail_reason[128]; /* scratch space for a formatted failure message */
};

/* Returns NULL on success, or a one-line reason for the FAIL line. */
typedef const char *(*selftest_fn)(struct guest_ctx *ctx);

struct selftest {
  const char *name;
  selftest_fn run;
};

#define SELFTEST_CONCAT2(a, b) a##b
#define SELFTEST_CONCAT(a, b) SELFTEST_CONCAT2(a, b)
#define SELFTEST(test_name, fn)                                                                          \
  static const struct selftest SELFTEST_CONCAT(selftest_entry_, __LINE__)                               \
      __attribute__((used, section(".selftests." test_name), aligned(8))) = {test_name, fn}

/* NULL if no test has that name. */
const struct selftest *selftest_find(const char *name);
