/* edge_pool.c: the origin pool, a few threads that run the requests a
 * server loop thread must not (a remote origin's HEAD or GET on a cache
 * miss can take seconds; see edge_loop.c). A plain FIFO of opaque jobs
 * under one mutex: jobs are rare next to cache hits. */
#include "edge/edge_pool.h"

#include <pthread.h>
#include <stdlib.h>

#define POOL_MAX 16

typedef struct job {
    struct job *next;
    void *arg;
} job;

struct edge_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    job *head, *tail;
    int stopping;
    edge_pool_fn fn;
    int n;
    pthread_t th[POOL_MAX];
};

static void *worker(void *arg)
{
    edge_pool *p = arg;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (!p->head && !p->stopping)
            pthread_cond_wait(&p->cv, &p->mu);
        if (p->stopping) {
            pthread_mutex_unlock(&p->mu);
            return NULL;
        }
        job *j = p->head;
        p->head = j->next;
        if (!p->head)
            p->tail = NULL;
        pthread_mutex_unlock(&p->mu);
        void *a = j->arg;
        free(j);
        p->fn(a);
    }
}

edge_pool *edge_pool_start(int n, edge_pool_fn fn)
{
    edge_pool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->fn = fn;
    for (int i = 0; i < n && i < POOL_MAX; i++) {
        if (pthread_create(&p->th[i], NULL, worker, p))
            break;
        p->n++;
    }
    if (!p->n) {
        edge_pool_free(p);
        return NULL;
    }
    return p;
}

int edge_pool_submit(edge_pool *p, void *arg)
{
    job *j = p ? malloc(sizeof *j) : NULL;
    if (!j)
        return -1;
    j->next = NULL;
    j->arg = arg;
    pthread_mutex_lock(&p->mu);
    if (p->stopping) {
        pthread_mutex_unlock(&p->mu);
        free(j);
        return -1;
    }
    if (p->tail)
        p->tail->next = j;
    else
        p->head = j;
    p->tail = j;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return 0;
}

void edge_pool_stop(edge_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stopping = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n; i++)
        pthread_join(p->th[i], NULL);
    p->n = 0;
    pthread_mutex_lock(&p->mu);
    while (p->head) {
        job *j = p->head;
        p->head = j->next;
        free(j);
    }
    p->tail = NULL;
    pthread_mutex_unlock(&p->mu);
}

void edge_pool_free(edge_pool *p)
{
    if (!p)
        return;
    edge_pool_stop(p);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
}
