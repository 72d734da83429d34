/* A tiny printf: %s %c %d %u %x %p %%, length modifiers l/ll, flag '0' and a field width. */
#pragma once
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int snprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* snprintf that yields buf, for `return format_reason(err, sizeof err, "why %u", n);` (buf is used twice). */
#define format_reason(buf, size, ...) (snprintf((buf), (size), __VA_ARGS__), (const char *)(buf))
/* Prints to the serial console. */
void printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* "0x" + 16 lowercase hex digits into buf (at least 19 bytes); returns buf. */
char *hex16(char *buf, uint64_t v);
