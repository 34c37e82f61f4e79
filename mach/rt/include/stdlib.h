/* Memory allocation (rt/malloc.c), number parsing and exit (rt/boot.c, rt/stdlib.c).
 * malloc is single-threaded: sizes up to 2 KiB come from power-of-two free lists carved
 * out of 64 KiB vm_allocate'd chunks (never returned to the kernel); larger blocks are
 * vm_allocate'd and vm_deallocate'd one by one. Blocks are 16-byte aligned. */
#ifndef MRT_STDLIB_H
#define MRT_STDLIB_H

#include <stddef.h>

void *malloc(size_t size);
void *calloc(size_t n, size_t size);
void *realloc(void *p, size_t size);
void free(void *p);

/* Decimal, 0x hex or 0 octal (base 0) or the given base; *end, when given, gets the first
 * character not parsed. No overflow detection. */
unsigned long strtoul(const char *s, char **end, int base);
long strtol(const char *s, char **end, int base);
int atoi(const char *s);

/* In-place sort (insertion sort for small arrays, heap sort above). */
void qsort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *));

/* Terminates the task (see mrt_task_exit in <mrt/boot.h>). */
_Noreturn void exit(int status);
_Noreturn void abort(void);

#endif
