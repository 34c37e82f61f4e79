/* A small single-threaded allocator on vm_allocate (see <stdlib.h>).
 * Every block has a 16-byte header holding its usable size; small blocks (<= 2 KiB) are
 * powers of two from 16 bytes and go back to a per-size free list; large ones are whole pages
 * of their own. vm_allocate'd memory is zero-filled, recycled blocks are not. */
#include <mach/mach_types.h>
#include <mrt/boot.h>
#include <mrt/traps.h>
#include <stdlib.h>
#include <string.h>

#define HDR 16
#define MIN_SHIFT 4		/* 16 bytes */
#define MAX_SHIFT 11		/* 2 KiB */
#define NCLASS (MAX_SHIFT - MIN_SHIFT + 1)
#define CHUNK (64 * 1024)
#define PAGE 4096ul

struct hdr {
	size_t size;		/* usable bytes */
	size_t pad;
};

static void *free_list[NCLASS];
static char *chunk_next, *chunk_end;

static void *pages(size_t size)
{
	vm_address_t a = 0;

	if (syscall_vm_allocate(mach_task_self(), &a, size, TRUE) != KERN_SUCCESS)
		return NULL;
	return (void *)a;
}

static int size_class(size_t size)
{
	int c = 0;

	while (((size_t)1 << (c + MIN_SHIFT)) < size)
		c++;
	return c;
}

void *malloc(size_t size)
{
	struct hdr *h;

	if (size > ((size_t)1 << MAX_SHIFT)) {
		size_t total = (size + HDR + PAGE - 1) & ~(PAGE - 1);
		if (total < size)
			return NULL;
		h = pages(total);
		if (h == NULL)
			return NULL;
		h->size = total - HDR;
		return (char *)h + HDR;
	}
	int c = size_class(size);
	size_t bsize = (size_t)1 << (c + MIN_SHIFT);
	if (free_list[c] != NULL) {
		void *p = free_list[c];
		free_list[c] = *(void **)p;
		return p;
	}
	if ((size_t)(chunk_end - chunk_next) < bsize + HDR) {
		char *ch = pages(CHUNK);
		if (ch == NULL)
			return NULL;
		chunk_next = ch;
		chunk_end = ch + CHUNK;
	}
	h = (struct hdr *)(void *)chunk_next;
	chunk_next += bsize + HDR;
	h->size = bsize;
	return (char *)h + HDR;
}

void free(void *p)
{
	struct hdr *h;

	if (p == NULL)
		return;
	h = (struct hdr *)(void *)((char *)p - HDR);
	if (h->size > ((size_t)1 << MAX_SHIFT)) {
		(void)syscall_vm_deallocate(mach_task_self(), (vm_address_t)h, h->size + HDR);
		return;
	}
	int c = size_class(h->size);
	*(void **)p = free_list[c];
	free_list[c] = p;
}

void *calloc(size_t n, size_t size)
{
	size_t total = n * size;
	void *p;

	if (size != 0 && total / size != n)
		return NULL;
	p = malloc(total);
	if (p != NULL)
		memset(p, 0, total);
	return p;
}

void *realloc(void *p, size_t size)
{
	void *q;
	size_t old;

	if (p == NULL)
		return malloc(size);
	if (size == 0) {
		free(p);
		return NULL;
	}
	old = ((struct hdr *)(void *)((char *)p - HDR))->size;
	if (size <= old)
		return p;
	q = malloc(size);
	if (q == NULL)
		return NULL;
	memcpy(q, p, old);
	free(p);
	return q;
}
