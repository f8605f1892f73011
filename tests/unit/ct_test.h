/* Minimal test harness: CHECK records failures and goes on; main ends with
 * CT_TEST_END, printing "N passed, N failed" (the plain closing line CI reads). */
#ifndef CT_TEST_H
#define CT_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int ct_test_pass, ct_test_fail;

#define CHECK(cond)                                                                              \
    do {                                                                                         \
        if (cond) {                                                                              \
            ct_test_pass++;                                                                      \
        } else {                                                                                 \
            ct_test_fail++;                                                                      \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);             \
        }                                                                                        \
    } while (0)

#define CHECK_STR(a, b)                                                                          \
    do {                                                                                         \
        const char *ct_a_ = (a), *ct_b_ = (b);                                                   \
        if (ct_a_ && ct_b_ && strcmp(ct_a_, ct_b_) == 0) {                                       \
            ct_test_pass++;                                                                      \
        } else {                                                                                 \
            ct_test_fail++;                                                                      \
            fprintf(stderr, "%s:%d: CHECK_STR failed: \"%s\" != \"%s\"\n", __FILE__, __LINE__,   \
                    ct_a_ ? ct_a_ : "(null)", ct_b_ ? ct_b_ : "(null)");                         \
        }                                                                                        \
    } while (0)

/* Removes a test's scratch directory; a failure is reported, not counted. */
static inline void ct_test_rmdir(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

#define CT_TEST_END()                                                                            \
    do {                                                                                         \
        printf("%d passed, %d failed\n", ct_test_pass, ct_test_fail);                            \
        return ct_test_fail ? 1 : 0;                                                             \
    } while (0)

#endif
