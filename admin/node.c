/* admin/node.c — see node.h. */
#include "admin/node.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void node_id_resolve(const char *configured, const char *data_dir, char *out, size_t cap)
{
	char host[256] = "localhost", path[PATH_MAX], id[sizeof(host) + PATH_MAX + 2];
	size_t n, from;

	if (configured[0]) {
		snprintf(out, cap, "%s", configured);
		return;
	}
	if (gethostname(host, sizeof(host) - 1) < 0 || !host[0])
		strcpy(host, "localhost");
	host[sizeof(host) - 1] = '\0';
	if (!realpath(data_dir, path))	/* not made yet: the path as given */
		snprintf(path, sizeof(path), "%s", data_dir);
	snprintf(id, sizeof(id), "%s:%s", host, path);
	for (char *p = id; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("._:/@-", *p))
			*p = '_';
	n = strlen(id);
	from = n >= cap ? n - (cap - 1) : 0;
	snprintf(out, cap, "%s", id + from);
}
