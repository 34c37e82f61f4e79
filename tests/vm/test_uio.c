/*
 * test_uio.c - an edu device bound to uio_pci_generic inside the QEMU guest (vm/): its INTx as
 * level line uio:BDF/intx. uio_pci_generic masks INTx at the device (command register bit 10)
 * when it fires; irqd enables it again after the last answer, and a device still asserting
 * fires again.
 */
#include <stdio.h>
#include <string.h>

#include "tests/integration/harness.h"
#include "tests/vm/edu.h"

static struct edu dev;
static char line[64];

static void start(struct irqd_proc *p)
{
	static char config[128];
	edu_find(0, "uio_pci_generic", &dev);
	snprintf(config, sizeof(config), "device uio %s\n", dev.bdf);
	snprintf(line, sizeof(line), "uio:%s/intx", dev.bdf);
	irqd_start(p, 0, config);
}

/* Every raise is one occurrence; serviced and answered, the line is enabled again. */
static void test_uio_rounds(void **state)
{
	(void)state;
	enum { ROUNDS = 300 };
	struct irqd_proc p;
	start(&p);
	struct irqd_client *c = client(&p);
	struct irqd_line_desc d;
	assert_int_equal(irqd_line_lookup(c, line, &d), 0);
	assert_int_equal(d.trigger, IRQD_LEVEL);
	assert_string_equal(d.source, "uio");
	uint32_t h;
	assert_int_equal(irqd_attach(c, line, IRQD_ATTACH_SHARED, NULL, &h), 0);
	struct irqd_line_stats st;
	for (int r = 0; r < ROUNDS; r++) {
		edu_raise(&dev, 1);
		struct irqd_event ev[4];
		int n = irqd_wait(c, ev, 4, 10000);
		if (n != 1)
			fail_msg("round %d: %d events (%s)", r, n, irqd_last_error());
		assert_int_equal(edu_service(&dev), 1);
		assert_int_equal(irqd_answer(c, h, ev[0].occurrence, IRQD_HANDLED), 0);
		assert_true(WAIT_UNTIL(irqd_line_stats(c, line, &st) == 0 && !st.masked_now &&
					       st.handled == (uint64_t)r + 1, 10000));
	}
	assert_int_equal(st.raised, ROUNDS);
	printf("  %d INTx occurrences through UIO on %s: raised %llu, handled %llu\n", ROUNDS,
	       dev.bdf, (unsigned long long)st.raised, (unsigned long long)st.handled);
	irqd_disconnect(c);
	irqd_stop(&p);
}

/* NOT_MINE without servicing: irqd enables INTx again, the device still asserts, it fires
 * again; serviced, it stops. */
static void test_uio_refires(void **state)
{
	(void)state;
	struct irqd_proc p;
	start(&p);
	struct irqd_client *c = client(&p);
	uint32_t h;
	assert_int_equal(irqd_attach(c, line, IRQD_ATTACH_SHARED, NULL, &h), 0);
	edu_raise(&dev, 2);
	struct irqd_event ev[4];
	for (int i = 0; i < 3; i++) {
		assert_int_equal(irqd_wait(c, ev, 4, 10000), 1);
		assert_int_equal(irqd_answer(c, h, ev[0].occurrence, IRQD_NOT_MINE), 0);
	}
	assert_int_equal(irqd_wait(c, ev, 4, 10000), 1);
	assert_int_equal(edu_service(&dev), 2);
	assert_int_equal(irqd_answer(c, h, ev[0].occurrence, IRQD_HANDLED), 0);
	struct irqd_line_stats st;
	assert_true(WAIT_UNTIL(irqd_line_stats(c, line, &st) == 0 && st.handled == 1 &&
				       !st.masked_now, 10000));
	assert_int_equal(st.raised, 4);
	assert_int_equal(st.unhandled, 3);
	assert_int_equal(irqd_wait(c, ev, 4, 200), 0); /* quiet: a bounded look, not a wait */
	irqd_disconnect(c);
	irqd_stop(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_uio_rounds, harness_teardown),
		cmocka_unit_test_teardown(test_uio_refires, harness_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
