/*
 * client.c - a driver built outside the tree, against an installed libirqd found by pkg-config
 * only: it attaches a level line, plays the device, takes the occurrence, answers it, and checks
 * irqd's counters. Prints "client: ok" and exits 0 when all of it held.
 */
#include <stdio.h>
#include <stdlib.h>

#include <irqd/client.h>
#include <irqd/simdev.h>
#include <omega0.h>

static int fail(const char *what)
{
	fprintf(stderr, "client: %s: %s\n", what, irqd_last_error());
	return 1;
}

int main(int argc, char **argv)
{
	struct irqd_client *c;
	struct irqd_simdev *dev;
	uint32_t h;
	if (irqd_connect(argc > 1 ? argv[1] : NULL, &c) < 0)
		return fail("connect");
	if (irqd_simdev_open(c, "sim0", &dev) < 0)
		return fail("open the device of sim0");
	if (irqd_attach(c, "sim0", IRQD_ATTACH_SHARED, NULL, &h) < 0)
		return fail("attach sim0");
	struct irqd_line_stats before, st;
	if (irqd_line_stats(c, "sim0", &before) < 0)
		return fail("stats");
	if (irqd_simdev_raise(dev, 3) < 0)
		return fail("raise");
	struct irqd_event ev[4];
	int n = irqd_wait(c, ev, 4, 10000);
	if (n != 1 || ev[0].occurrence == 0)
		return fail("wait for the occurrence");
	uint64_t serviced = irqd_simdev_service(dev);
	if (irqd_answer(c, ev[0].handle, ev[0].occurrence, IRQD_HANDLED) < 0)
		return fail("answer");
	if (irqd_line_stats(c, "sim0", &st) < 0)
		return fail("stats");
	/* one occurrence for the three pending events, delivered to us, handled */
	if (serviced != 3 || st.raised - before.raised != 1 || st.delivered - before.delivered != 1 ||
	    st.handled - before.handled != 1) {
		fprintf(stderr, "client: serviced %llu, raised %llu, delivered %llu, handled %llu\n",
			(unsigned long long)serviced, (unsigned long long)(st.raised - before.raised),
			(unsigned long long)(st.delivered - before.delivered),
			(unsigned long long)(st.handled - before.handled));
		return 1;
	}
	if (omega0_first() != 1)   /* the classic API from the same library: sim0 is num 1 */
		return fail("omega0_first");
	irqd_simdev_close(dev);
	irqd_disconnect(c);
	printf("client: ok\n");
	return 0;
}
