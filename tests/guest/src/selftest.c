#include "selftest.h"

#include "str.h"

extern const struct selftest __selftests_start[], __selftests_end[];

const struct selftest *selftest_find(const char *name) {
  for (const struct selftest *t = __selftests_start; t < __selftests_end; t++)
    if (streq(t->name, name)) return t;
  return 0;
}
