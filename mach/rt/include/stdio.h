/* Formatted output to the kernel console (rt/printf.c, rt/console.c).
 * Conversions: %d %i %u %x %X %o %c %s %p %%, flags '-' '0' ' ' '+', width and precision
 * (also '*'), length modifiers hh h l ll z t j. No floating point (the runtime is built with
 * -mgeneral-regs-only). */
#ifndef MRT_STDIO_H
#define MRT_STDIO_H

#include <stdarg.h>
#include <stddef.h>

#define EOF (-1)

int printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int vprintf(const char *fmt, va_list ap);
int snprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int puts(const char *s);
int putchar(int c);

#endif
