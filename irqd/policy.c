/* policy.c - who may attach which line (peer credentials from SO_PEERCRED/SO_PEERGROUPS). */
#include <fnmatch.h>

#include "config.h"

bool policy_allows(const struct config *cfg, uid_t self, uid_t uid, const gid_t *gids,
		   int ngids, const char *line, bool admin)
{
	if (uid == 0 || uid == self)
		return true;
	for (unsigned i = 0; i < cfg->n_rules; i++) {
		const struct config_rule *r = &cfg->rules[i];
		if ((admin && !r->admin) || fnmatch(r->pattern, line, 0))
			continue;
		if (r->who == WHO_ANY || (r->who == WHO_UID && r->id == uid))
			return true;
		if (r->who == WHO_GID)
			for (int g = 0; g < ngids; g++)
				if (gids[g] == r->id)
					return true;
	}
	return false;
}
