// Sanitizer builds only (CMake adds this file to the binaries that run in a jail). A jailed process
// has no /proc: the sanitizer runtime cannot read ASAN_OPTIONS (it reads /proc/self/environ), and
// LeakSanitizer's exit-time check, which stops threads through /proc/<pid>/task, dies instead. So
// without /proc the leak check is off; the unjailed tests run the same code with it on.
#include <unistd.h>

extern "C" const char* __asan_default_options() {
  return ::access("/proc/self/task", R_OK) == 0 ? "" : "detect_leaks=0";
}
