#include "printf.h"

#include "serial.h"

/* Output goes to a buffer, or straight to the UART when buf is NULL (no length limit). */
struct out {
  char *buf;
  size_t size;
  size_t len; /* would-be length, like C's snprintf */
};

static void emit(struct out *o, char c) {
  if (!o->buf)
    serial_putc(c);
  else if (o->len + 1 < o->size)
    o->buf[o->len] = c;
  o->len++;
}

static void emit_number(struct out *o, uint64_t v, unsigned base, int negative, int width, char pad) {
  char digits[24];
  int n = 0;
  do {
    unsigned d = (unsigned)(v % base);
    digits[n++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
    v /= base;
  } while (v);
  int len = n + negative;
  if (negative && pad == '0') emit(o, '-');
  for (; width > len; width--) emit(o, pad);
  if (negative && pad != '0') emit(o, '-');
  while (n) emit(o, digits[--n]);
}

static size_t format(struct out *out, const char *fmt, va_list ap) {
  struct out o = *out;
  for (; *fmt; fmt++) {
    if (*fmt != '%') {
      emit(&o, *fmt);
      continue;
    }
    fmt++;
    char pad = ' ';
    int width = 0, longs = 0;
    if (*fmt == '0') pad = '0', fmt++;
    while (*fmt >= '0' && *fmt <= '9') width = width * 10 + (*fmt++ - '0');
    while (*fmt == 'l') longs++, fmt++;
    switch (*fmt) {
      case 'd': {
        int64_t v = longs ? va_arg(ap, long long) : va_arg(ap, int);
        uint64_t mag = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
        emit_number(&o, mag, 10, v < 0, width, pad);
        break;
      }
      case 'u':
      case 'x': {
        uint64_t v = longs ? va_arg(ap, unsigned long long) : va_arg(ap, unsigned);
        emit_number(&o, v, *fmt == 'u' ? 10 : 16, 0, width, pad);
        break;
      }
      case 'p':
        emit(&o, '0');
        emit(&o, 'x');
        emit_number(&o, (uintptr_t)va_arg(ap, void *), 16, 0, width, pad);
        break;
      case 'c':
        emit(&o, (char)va_arg(ap, int));
        break;
      case 's': {
        const char *s = va_arg(ap, const char *);
        if (!s) s = "(null)";
        int len = 0;
        while (s[len]) len++;
        for (; width > len; width--) emit(&o, ' ');
        while (*s) emit(&o, *s++);
        break;
      }
      case '%':
        emit(&o, '%');
        break;
      case '\0':
        fmt--; /* lone '%' at the end */
        break;
      default:
        emit(&o, '%');
        emit(&o, *fmt);
        break;
    }
  }
  return o.len;
}

int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap) {
  static char dummy;
  struct out o = {size ? buf : &dummy, size, 0};
  size_t len = format(&o, fmt, ap);
  if (size) buf[len < size ? len : size - 1] = '\0';
  return (int)len;
}

int snprintf(char *buf, size_t size, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, size, fmt, ap);
  va_end(ap);
  return n;
}

void printf(const char *fmt, ...) {
  struct out o = {NULL, 0, 0};
  va_list ap;
  va_start(ap, fmt);
  format(&o, fmt, ap);
  va_end(ap);
}

char *hex16(char *buf, uint64_t v) {
  snprintf(buf, 19, "0x%016llx", (unsigned long long)v);
  return buf;
}
