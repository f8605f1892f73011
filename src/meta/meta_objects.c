/* meta_objects.c: buckets, objects, notifications, the event outbox. */
#include "meta/meta_internal.h"

const char meta_objects_schema[] = "";
