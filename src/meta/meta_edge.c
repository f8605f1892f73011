/* meta_edge.c: edge distributions (SQLite). */
#include "meta/meta_internal.h"

const char meta_edge_schema[] = "";
