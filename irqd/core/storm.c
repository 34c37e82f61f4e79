/* core/storm.c - the spurious-interrupt (storm) rule, after Linux kernel/irq/spurious.c. */
#include "core/line.h"

unsigned irqcore_storm_note(struct irqcore_line *l, bool handled, uint64_t now_ns)
{
	if (!handled) {
		l->n.unhandled++;
		/* A lone stray interrupt long after the previous one starts the count afresh. */
		if (l->last_unhandled_ns && now_ns - l->last_unhandled_ns > IRQCORE_STORM_QUIET_NS)
			l->storm_unhandled = 1;
		else
			l->storm_unhandled++;
		l->last_unhandled_ns = now_ns;
	}
	if (++l->storm_count < IRQCORE_STORM_WINDOW)
		return 0;
	bool storm = l->storm_unhandled > IRQCORE_STORM_UNHANDLED;
	l->storm_count = 0;
	l->storm_unhandled = 0;
	if (!storm)
		return 0;
	l->disabled = true;
	l->n.disables++;
	return IRQCORE_ACT_DISABLED;
}
