/* tests/unit/tmp_tree.h — removing a unit test's scratch directory with everything in it. */
#ifndef FANOUT_TESTS_UNIT_TMP_TREE_H
#define FANOUT_TESTS_UNIT_TMP_TREE_H

/* Removes dir and all below it (files, directories; links not followed). Returns 0, or
 * -1 when something could not be removed. */
int tmp_tree_remove(const char *dir);

#endif
