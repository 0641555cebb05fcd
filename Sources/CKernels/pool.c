// The hot worker pool of llx_pool_run. Workers wait for a new job generation: they spin
// (pause) for up to spin_us after their last job, so the back-to-back matrix-vector products
// of a decode step find them awake, then sleep on a condition variable, so an idle llx does
// not hold the cores. One job runs at a time; a call made while one runs (from a task, or
// from another thread) runs its tasks inline.
#define _GNU_SOURCE
#include "CKernels.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#include <sched.h>
#if defined(__x86_64__)
#include <immintrin.h>
#define llx_pause() _mm_pause()
#else
#define llx_pause() do { } while (0)
#endif

#define LLX_MAX_WORKERS 255

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;   // job publication, sleeping
static pthread_cond_t pool_cond = PTHREAD_COND_INITIALIZER;
static pthread_mutex_t run_lock = PTHREAD_MUTEX_INITIALIZER;    // one job at a time
static int pool_workers = 0;
static _Atomic unsigned pool_gen = 0;
static _Atomic int pool_pending = 0;
static _Atomic int pool_spin_us = 2000;
static llx_task_fn job_fn;
static void *job_ctx;
static int job_nth;

typedef struct { int id; unsigned gen; } worker_arg;
static worker_arg worker_args[LLX_MAX_WORKERS + 1];

static inline uint64_t now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void *worker_main(void *p) {
    worker_arg *a = (worker_arg *)p;
    int id = a->id;
    unsigned seen = a->gen;
    for (;;) {
        uint64_t start = 0;
        unsigned spins = 0;
        unsigned g;
        while ((g = atomic_load_explicit(&pool_gen, memory_order_acquire)) == seen) {
            llx_pause();
            if ((++spins & 255) == 0) {
                uint64_t t = now_us();
                if (start == 0) start = t;
                else if (t - start > (uint64_t)atomic_load_explicit(&pool_spin_us, memory_order_relaxed)) {
                    pthread_mutex_lock(&pool_lock);
                    while (atomic_load_explicit(&pool_gen, memory_order_acquire) == seen)
                        pthread_cond_wait(&pool_cond, &pool_lock);
                    pthread_mutex_unlock(&pool_lock);
                    start = 0;
                }
            }
        }
        seen = g;
        llx_task_fn fn = job_fn;
        void *ctx = job_ctx;
        int nth = job_nth;
        if (id < nth) fn(ctx, id, nth);
        atomic_fetch_sub_explicit(&pool_pending, 1, memory_order_acq_rel);
    }
    return NULL;
}

void llx_pool_set_spin_us(int us) { atomic_store(&pool_spin_us, us < 0 ? 0 : us); }

void llx_pool_run(llx_task_fn fn, void *ctx, int nth) {
    if (nth > LLX_MAX_WORKERS + 1) nth = LLX_MAX_WORKERS + 1;
    if (nth <= 1 || pthread_mutex_trylock(&run_lock) != 0) {
        for (int i = 0; i < (nth < 1 ? 1 : nth); i++) fn(ctx, i, nth < 1 ? 1 : nth);
        return;
    }
    pthread_mutex_lock(&pool_lock);
    unsigned gen = atomic_load(&pool_gen);
    while (pool_workers < nth - 1) {
        int id = pool_workers + 1;
        worker_args[id].id = id;
        worker_args[id].gen = gen;
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        int rc = pthread_create(&t, &attr, worker_main, &worker_args[id]);
        pthread_attr_destroy(&attr);
        if (rc != 0) break;
        pool_workers++;
    }
    int workers = pool_workers;
    if (nth > workers + 1) nth = workers + 1;
    job_fn = fn;
    job_ctx = ctx;
    job_nth = nth;
    atomic_store_explicit(&pool_pending, workers, memory_order_relaxed);
    atomic_fetch_add_explicit(&pool_gen, 1, memory_order_release);
    pthread_cond_broadcast(&pool_cond);
    pthread_mutex_unlock(&pool_lock);
    fn(ctx, 0, nth);
    unsigned spins = 0;
    while (atomic_load_explicit(&pool_pending, memory_order_acquire) != 0) {
        llx_pause();
        if ((++spins & 4095) == 0) sched_yield();
    }
    pthread_mutex_unlock(&run_lock);
}
