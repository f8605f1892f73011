/* bench/transcode_plan.c: prints the ct_plan JSON that mc makes of a job
 * spec ({"settings": {...}} in wire camelCase) on stdin. Built and run by
 * `bench/transcode --check-plan` to show that the plan the bench feeds the
 * child is the one the worker would (linked against build/src/libct_mc.a). */
#include "mc/mc.h"

#include <stdio.h>
#include <stdlib.h>

int main(void)
{
    static char buf[1 << 20];
    static ct_plan plan;
    static ct_mc_dest dests[CT_PLAN_MAX_OUTPUTS];
    char bucket[64], key[1025], msg[512];
    size_t n = fread(buf, 1, sizeof buf - 1, stdin);
    buf[n] = '\0';
    if (ct_mc_job_plan(buf, &plan, bucket, key, dests, msg, sizeof msg) != CT_OK) {
        fprintf(stderr, "plan: %s\n", msg);
        return 1;
    }
    char *json = ct_plan_to_json(&plan);
    if (!json)
        return 1;
    puts(json);
    free(json);
    return 0;
}
