/* edge_pool.h: a small thread pool for work that may block (edge_pool.c),
 * used by the server loop for requests that read a remote origin.
 * Ownership: the pool never owns a job's argument; jobs still queued at
 * edge_pool_stop are dropped without running (their owner cleans up). */
#ifndef CT_EDGE_POOL_H
#define CT_EDGE_POOL_H

typedef struct edge_pool edge_pool;
typedef void (*edge_pool_fn)(void *arg);

/* n worker threads (at most 16) each running fn(arg) per job; NULL on failure. */
edge_pool *edge_pool_start(int n, edge_pool_fn fn);
/* Queues arg; 0, or -1 (no memory, or stopping: the job will not run). */
int edge_pool_submit(edge_pool *p, void *arg);
/* Waits for running jobs to end and drops the queued ones; later submits
 * fail. p stays valid (other threads may still submit) until edge_pool_free. */
void edge_pool_stop(edge_pool *p);
/* Stops p if needed and frees it; nothing may use p any more. */
void edge_pool_free(edge_pool *p);

#endif
