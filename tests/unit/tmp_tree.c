/* tests/unit/tmp_tree.c — removing a unit test's scratch directory with everything in it. */
#include "tests/unit/tmp_tree.h"

#include <ftw.h>
#include <stdio.h>
#include <sys/stat.h>

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int tmp_tree_remove(const char *dir)
{
	return nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}
