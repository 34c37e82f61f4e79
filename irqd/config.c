/* config.c - the configuration file parser (see config.h for the grammar). */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "util/sched_slice.h"

void config_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->socket_mode = 0600;
	cfg->socket_gid = (gid_t)-1;
	cfg->max_clients = 256;
	cfg->ack_deadline_ms = 1000;
	cfg->slice_us = SCHED_SLICE_MIN_US;
}

static int parse_u32(const char *s, int base, uint32_t max, uint32_t *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, base);
	if (errno || end == s || *end || s[0] == '-' || v > max)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

static int copy_name(char *dst, const char *src)
{
	if (!*src || strlen(src) >= IRQD_NAME_MAX)
		return -1;
	strcpy(dst, src);
	return 0;
}

#define FAIL(...)                                                          \
	do {                                                               \
		int n_ = snprintf(err, errlen, "line %u: ", lineno);       \
		if (n_ >= 0 && (size_t)n_ < errlen)                        \
			snprintf(err + n_, errlen - n_, __VA_ARGS__);      \
		return -EINVAL;                                            \
	} while (0)

static int parse_line(struct config *cfg, char **w, int nw, unsigned lineno, char *err,
		      size_t errlen)
{
	const char *k = w[0];
	uint32_t v;
	if (!strcmp(k, "socket")) {
		if (nw != 2 || strlen(w[1]) >= sizeof(cfg->socket))
			FAIL("socket takes one path shorter than %zu bytes", sizeof(cfg->socket));
		strcpy(cfg->socket, w[1]);
	} else if (!strcmp(k, "socket-mode")) {
		if (nw != 2 || parse_u32(w[1], 8, 0777, &cfg->socket_mode))
			FAIL("socket-mode takes an octal mode such as 0660");
	} else if (!strcmp(k, "socket-group")) {
		if (nw != 2)
			FAIL("socket-group takes a group name or number");
		if (!parse_u32(w[1], 10, UINT32_MAX - 1, &v)) {
			cfg->socket_gid = v;
		} else {
			struct group *g = getgrnam(w[1]);
			if (!g)
				FAIL("no such group '%s'", w[1]);
			cfg->socket_gid = g->gr_gid;
		}
	} else if (!strcmp(k, "max-clients")) {
		if (nw != 2 || parse_u32(w[1], 10, 65536, &cfg->max_clients) || !cfg->max_clients)
			FAIL("max-clients takes a number from 1 to 65536");
	} else if (!strcmp(k, "ack-deadline-ms")) {
		if (nw != 2 || parse_u32(w[1], 10, 3600000, &cfg->ack_deadline_ms) ||
		    !cfg->ack_deadline_ms)
			FAIL("ack-deadline-ms takes a number from 1 to 3600000");
	} else if (!strcmp(k, "sim-lines")) {
		if (nw != 2 || parse_u32(w[1], 10, IRQD_LINES_MAX / 2, &cfg->sim_lines))
			FAIL("sim-lines takes a number from 0 to %u", IRQD_LINES_MAX / 2);
	} else if (!strcmp(k, "rt-priority")) {
		if (nw != 2 || parse_u32(w[1], 10, 99, &cfg->rt_priority))
			FAIL("rt-priority takes a number from 0 (off) to 99");
	} else if (!strcmp(k, "slice-us")) {
		if (nw != 2 || parse_u32(w[1], 10, SCHED_SLICE_MAX_US, &cfg->slice_us) ||
		    (cfg->slice_us && cfg->slice_us < SCHED_SLICE_MIN_US))
			FAIL("slice-us takes 0 (the kernel's default) or a number from %u to %u",
			     SCHED_SLICE_MIN_US, SCHED_SLICE_MAX_US);
	} else if (!strcmp(k, "profile")) {
		if (nw != 2 || (strcmp(w[1], "on") && strcmp(w[1], "off")))
			FAIL("profile takes on or off");
		cfg->profile = !strcmp(w[1], "on");
	} else if (!strcmp(k, "device")) {
		if (nw < 3 || nw > 4 || (strcmp(w[1], "vfio") && strcmp(w[1], "uio")))
			FAIL("device takes vfio|uio BDF [irq=msix|msi|intx]");
		if (cfg->n_devices == CONFIG_MAX_DEVICES)
			FAIL("more than %u devices", CONFIG_MAX_DEVICES);
		struct config_device *d = &cfg->devices[cfg->n_devices];
		unsigned dom, bus, dev, fn;
		char end;
		if (sscanf(w[2], "%4x:%2x:%2x.%1x%c", &dom, &bus, &dev, &fn, &end) != 4 ||
		    strlen(w[2]) != 12 || dev > 31 || fn > 7)
			FAIL("'%s' is not a PCI address like 0000:00:03.0", w[2]);
		memset(d, 0, sizeof(*d));
		d->vfio = !strcmp(w[1], "vfio");
		snprintf(d->bdf, sizeof(d->bdf), "%04x:%02x:%02x.%x", dom, bus, dev, fn);
		if (nw == 4) {
			if (!d->vfio || strncmp(w[3], "irq=", 4) ||
			    (strcmp(w[3] + 4, "msix") && strcmp(w[3] + 4, "msi") &&
			     strcmp(w[3] + 4, "intx")))
				FAIL("unknown device option '%s' (vfio: irq=msix|msi|intx)", w[3]);
			snprintf(d->irq, sizeof(d->irq), "%s", w[3] + 4);
		}
		for (unsigned i = 0; i < cfg->n_devices; i++)
			if (!strcmp(cfg->devices[i].bdf, d->bdf))
				FAIL("device %s is named twice", d->bdf);
		cfg->n_devices++;
	} else if (!strcmp(k, "line")) {
		if (nw < 2)
			FAIL("line takes a name and options");
		struct config_line *cl = (struct config_line *)config_line(cfg, w[1]);
		if (!cl) {
			if (cfg->n_lines == CONFIG_MAX_LINES)
				FAIL("more than %u line directives", CONFIG_MAX_LINES);
			cl = &cfg->lines[cfg->n_lines];
			if (copy_name(cl->name, w[1]))
				FAIL("line name must be 1 to %u bytes", IRQD_NAME_MAX - 1);
			cl->level = true;
			cfg->n_lines++;
		}
		for (int i = 2; i < nw; i++) {
			if (!strcmp(w[i], "trigger=level"))
				cl->level = true;
			else if (!strcmp(w[i], "trigger=edge"))
				cl->level = false;
			else if (!strncmp(w[i], "ack-deadline-ms=", 16) &&
				 !parse_u32(w[i] + 16, 10, 3600000, &v) && v)
				cl->ack_deadline_ms = v;
			else
				FAIL("unknown line option '%s' (trigger=level|edge, ack-deadline-ms=N)",
				     w[i]);
		}
	} else if (!strcmp(k, "allow")) {
		if (nw < 3 || nw > 4 || (nw == 4 && strcmp(w[3], "admin")))
			FAIL("allow takes PATTERN WHO [admin]");
		if (cfg->n_rules == CONFIG_MAX_RULES)
			FAIL("more than %u allow rules", CONFIG_MAX_RULES);
		struct config_rule *r = &cfg->rules[cfg->n_rules];
		memset(r, 0, sizeof(*r));
		if (copy_name(r->pattern, w[1]))
			FAIL("pattern must be 1 to %u bytes", IRQD_NAME_MAX - 1);
		r->admin = nw == 4;
		const char *who = w[2];
		if (!strcmp(who, "any")) {
			r->who = WHO_ANY;
		} else if (!strncmp(who, "uid=", 4) && !parse_u32(who + 4, 10, UINT32_MAX - 1, &v)) {
			r->who = WHO_UID;
			r->id = v;
		} else if (!strncmp(who, "gid=", 4) && !parse_u32(who + 4, 10, UINT32_MAX - 1, &v)) {
			r->who = WHO_GID;
			r->id = v;
		} else if (!strncmp(who, "user=", 5)) {
			struct passwd *pw = getpwnam(who + 5);
			if (!pw)
				FAIL("no such user '%s'", who + 5);
			r->who = WHO_UID;
			r->id = pw->pw_uid;
		} else if (!strncmp(who, "group=", 6)) {
			struct group *g = getgrnam(who + 6);
			if (!g)
				FAIL("no such group '%s'", who + 6);
			r->who = WHO_GID;
			r->id = g->gr_gid;
		} else {
			FAIL("unknown WHO '%s' (any, uid=N, gid=N, user=NAME, group=NAME)", who);
		}
		cfg->n_rules++;
	} else {
		FAIL("unknown directive '%s'", k);
	}
	return 0;
}

int config_parse(struct config *cfg, const char *text, char *err, size_t errlen)
{
	unsigned lineno = 0;
	const char *p = text;
	if (errlen)
		err[0] = 0;
	while (*p) {
		lineno++;
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		char buf[512];
		if (len >= sizeof(buf))
			FAIL("longer than %zu bytes", sizeof(buf) - 1);
		memcpy(buf, p, len);
		buf[len] = 0;
		p += len + (eol ? 1 : 0);
		char *hash = strchr(buf, '#');
		if (hash)
			*hash = 0;
		char *w[8];
		int nw = 0;
		for (char *save, *t = strtok_r(buf, " \t\r", &save); t;
		     t = strtok_r(NULL, " \t\r", &save)) {
			if (nw == 8)
				FAIL("too many words");
			w[nw++] = t;
		}
		if (nw == 0)
			continue;
		int r = parse_line(cfg, w, nw, lineno, err, errlen);
		if (r)
			return r;
	}
	return 0;
}

int config_load(struct config *cfg, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -errno;
	}
	char *text = NULL;
	size_t cap = 0;
	ssize_t n = getdelim(&text, &cap, '\0', f);
	fclose(f);
	if (n < 0) {
		free(text);
		text = strdup("");
	}
	char inner[256];
	int r = config_parse(cfg, text ? text : "", inner, sizeof(inner));
	if (r)
		snprintf(err, errlen, "%s: %s", path, inner);
	free(text);
	return r;
}

const struct config_line *config_line(const struct config *cfg, const char *name)
{
	for (unsigned i = 0; i < cfg->n_lines; i++)
		if (!strcmp(cfg->lines[i].name, name))
			return &cfg->lines[i];
	return NULL;
}
