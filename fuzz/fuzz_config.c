/*
 * fuzz_config.c - libFuzzer target: irqd's configuration parser on arbitrary text. It must
 * accept or reject with a one-line reason, never read outside the text, and leave a
 * configuration that holds together when it accepts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = 0;
	struct config cfg;
	config_defaults(&cfg);
	char err[320];
	err[0] = 0;
	int r = config_parse(&cfg, text, err, sizeof(err));
	if (r < 0 && (!err[0] || strchr(err, '\n') || !memchr(err, 0, sizeof(err))))
		abort();   /* a rejection always says why, in one line */
	if (r == 0 && (cfg.n_rules > CONFIG_MAX_RULES || cfg.n_lines > CONFIG_MAX_LINES ||
		       !memchr(cfg.socket, 0, sizeof(cfg.socket)) || cfg.rt_priority > 99))
		abort();
	for (unsigned i = 0; r == 0 && i < cfg.n_lines; i++)
		if (!memchr(cfg.lines[i].name, 0, sizeof(cfg.lines[i].name)) || !cfg.lines[i].name[0])
			abort();
	free(text);
	return 0;
}
