/* TSC frequency and busy-wait delays. */
#pragma once
#include <stdint.h>

/* kHz; from CPUID 0x15/0x16 when present, else measured against the PIT (channel 2, else 0), else a guess.
 * `source` (optional) names where it came from. Cached after the first call. */
uint64_t tsc_khz(const char **source);
void delay_ms(uint64_t ms);
