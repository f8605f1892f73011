#include "core/core.h"

#include <pthread.h>
#include <stdio.h>

static ct_log_level log_level = CT_LOG_INFO;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void ct_log_set_level(ct_log_level lvl) { log_level = lvl; }

void ct_log(ct_log_level lvl, const char *fmt, ...)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    if (lvl < log_level)
        return;
    char ts[32];
    ct_time_iso8601(ct_now_ms(), ts);
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&log_lock);
    fprintf(stderr, "%s %s ", ts, names[lvl]);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    pthread_mutex_unlock(&log_lock);
    va_end(ap);
}
