/* meta_jobs.c: queues, job templates, presets and jobs (SQLite). */
#include "meta/meta_internal.h"

const char meta_jobs_schema[] = "";
