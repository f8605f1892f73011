#include "core/core.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

int64_t ct_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t ct_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void ct_time_iso8601(int64_t ms, char out[32])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char base[24];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, 32, "%.20s.%03dZ", base, (int)(ms % 1000));
}

void ct_time_http(int64_t ms, char out[40])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 40, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

int64_t ct_time_parse_http(const char *s)
{
    static const char *const fmts[] = {"%a, %d %b %Y %H:%M:%S GMT", "%A, %d-%b-%y %H:%M:%S GMT",
                                       "%a %b %e %H:%M:%S %Y"};
    for (size_t i = 0; i < CT_ARRAY_LEN(fmts); i++) {
        struct tm tm;
        memset(&tm, 0, sizeof tm);
        const char *end = strptime(s, fmts[i], &tm);
        if (end && *end == '\0')
            return (int64_t)timegm(&tm);
    }
    return -1;
}

/* Howard Hinnant's days_from_civil: days since 1970-01-01 of a proleptic
 * Gregorian date; month 1-12 (others are carried into the year first). */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    y += (m - 1) / 12;
    m = (m - 1) % 12 + 1;
    if (m <= 0) {
        m += 12;
        y--;
    }
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int64_t ct_time_utc(int year, int month, int day, int hour, int min, int sec)
{
    return days_from_civil(year, month, day) * 86400 + (int64_t)hour * 3600 + (int64_t)min * 60 +
           sec;
}
