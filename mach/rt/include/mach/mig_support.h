/* What MIG-generated user stubs expect from the C library (rt/mig.c). The runtime is
 * single-threaded: one reply port is cached and reused by every RPC. */
#ifndef _MACH_MIG_SUPPORT_H_
#define _MACH_MIG_SUPPORT_H_

#include <mach/std_types.h>
#include <mach/message.h>

/* The reply port of the next RPC (created on first use, then reused). */
mach_port_t mig_get_reply_port(void);
/* The stub is done with the reply port: keep it for the next RPC. */
void mig_put_reply_port(mach_port_t port);
/* The reply port is in an unknown state (an RPC failed half-way): destroy it; the next
 * mig_get_reply_port makes a fresh one. */
void mig_dealloc_reply_port(mach_port_t port);
/* Copies at most len bytes of src, always NUL-terminated when len > 0; returns the number of
 * bytes stored including the NUL (a MIG c_string's count). */
vm_size_t mig_strncpy(char *dst, const char *src, vm_size_t len);
/* Memory for out-of-line data: zero-filled pages of this task. */
void mig_allocate(vm_address_t *addr, vm_size_t size);
void mig_deallocate(vm_address_t addr, vm_size_t size);

/* Needed by stubs and declared by the C library on other systems. */
void *memcpy(void *dst, const void *src, __SIZE_TYPE__ n);

#endif
