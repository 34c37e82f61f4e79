/* omega0.c - the classic Omega0 calls on top of the irqd client API (see omega0.h). */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "irqd/client.h"
#include "omega0.h"

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct irqd_client *c;
	bool polling;                 /* one thread waits in irqd_wait for all */
	struct {
		uint32_t num;
		uint64_t pending;         /* interrupts not yet returned by a wait */
		uint64_t occurrence;      /* level occurrence owed an answer, 0 if none */
	} h[IRQD_SLOTS];
} O = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

/* The implicit connection; caller holds O.lock. */
static int conn(void)
{
	return O.c ? 0 : irqd_connect(NULL, &O.c);
}

static int handle_of(uint32_t num)
{
	for (int i = 0; i < IRQD_SLOTS; i++)
		if (O.h[i].num == num)
			return i;
	return -ENOENT;
}

int omega0_attach(omega0_irqdesc_t desc)
{
	if (desc.s.num == 0)
		return -EINVAL;
	char name[16];
	snprintf(name, sizeof(name), "#%u", desc.s.num - 1u);
	pthread_mutex_lock(&O.lock);
	uint32_t h;
	int r = conn();
	if (r == 0)
		r = irqd_attach(O.c, name, desc.s.shared ? IRQD_ATTACH_SHARED : IRQD_ATTACH_EXCLUSIVE,
				NULL, &h);
	if (r == 0) {
		O.h[h].num = desc.s.num;
		O.h[h].pending = O.h[h].occurrence = 0;
		r = (int)h;
	}
	pthread_mutex_unlock(&O.lock);
	return r;
}

int omega0_detach(omega0_irqdesc_t desc)
{
	pthread_mutex_lock(&O.lock);
	int h = O.c ? handle_of(desc.s.num) : -ENOENT;
	int r = h < 0 ? h : irqd_detach(O.c, (uint32_t)h);
	if (r == 0)
		O.h[h].num = 0;
	pthread_mutex_unlock(&O.lock);
	return r;
}

int omega0_pass(omega0_irqdesc_t desc, uint64_t *token)
{
	pthread_mutex_lock(&O.lock);
	int h = O.c ? handle_of(desc.s.num) : -ENOENT;
	int r = h < 0 ? h : irqd_pass(O.c, (uint32_t)h, token);
	pthread_mutex_unlock(&O.lock);
	return r;
}

int omega0_accept(uint64_t token)
{
	pthread_mutex_lock(&O.lock);
	uint32_t h;
	int r = conn();
	if (r == 0)
		r = irqd_accept(O.c, token, &h);
	if (r == 0) {
		O.h[h].num = (uint32_t)irqd_handle_line(O.c, h) + 1;
		O.h[h].pending = O.h[h].occurrence = 0;
		r = (int)h;
	}
	pthread_mutex_unlock(&O.lock);
	return r;
}

/* Wait for handle h's next interrupt; one thread polls irqd for everybody. Caller holds O.lock. */
static int wait_for(int h)
{
	while (O.h[h].pending == 0) {
		if (O.polling) {
			pthread_cond_wait(&O.cond, &O.lock);
			continue;
		}
		O.polling = true;
		pthread_mutex_unlock(&O.lock);
		struct irqd_event ev[64];
		int n = irqd_wait(O.c, ev, 64, -1);
		pthread_mutex_lock(&O.lock);
		O.polling = false;
		for (int i = 0; i < n; i++) {
			O.h[ev[i].handle].pending += ev[i].count;
			if (ev[i].occurrence)
				O.h[ev[i].handle].occurrence = ev[i].occurrence;
		}
		pthread_cond_broadcast(&O.cond);
		if (n < 0)
			return n;
	}
	O.h[h].pending--;
	return (int)O.h[h].num;
}

int omega0_request(int handle, omega0_request_t action)
{
	if (handle < 0 || handle >= IRQD_SLOTS)
		return -EINVAL;
	pthread_mutex_lock(&O.lock);
	int r = O.c && O.h[handle].num ? 0 : -EBADF;
	uint32_t h = (uint32_t)handle;
	if (r == 0 && action.s.mask)
		r = irqd_mask(O.c, h);
	if (r == 0 && action.s.unmask)
		r = irqd_unmask(O.c, h);
	/* consume, or the auto-consume of a wait: the owed occurrence is answered once */
	if (r == 0 && (action.s.consume || action.s.wait) && O.h[h].occurrence) {
		r = irqd_answer(O.c, h, O.h[h].occurrence, IRQD_HANDLED);
		O.h[h].occurrence = 0;
	}
	if (r == 0 && action.s.wait)
		r = wait_for(handle);
	pthread_mutex_unlock(&O.lock);
	return r;
}

static int next_from(const struct irqd_line_desc *prev)
{
	struct irqd_line_desc d;
	pthread_mutex_lock(&O.lock);
	int r = conn();
	if (r == 0)
		r = irqd_line_next(O.c, prev, &d);
	pthread_mutex_unlock(&O.lock);
	return r < 0 ? r : (int)d.id + 1;
}

int omega0_first(void)
{
	return next_from(NULL);
}

int omega0_next(int num)
{
	if (num <= 0)
		return -EINVAL;
	struct irqd_line_desc prev = { .id = (uint32_t)num - 1 };
	return next_from(&prev);
}
