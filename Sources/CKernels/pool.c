// The hot worker pool of llx_pool_run. A job is `nchunks` independent chunks; the caller and the
// workers claim chunks from one atomic counter, so the caller never waits on a worker that has
// not started (on a shared, oversubscribed machine it simply runs every chunk itself) and
// uneven chunks balance. Workers wait for a new job generation: they spin (pause) for up to
// spin_us after their last job, so the back-to-back products of a decode step find them
// awake, then sleep on a condition variable, so an idle llx does not hold the cores.
// One job runs at a time; a call made while one runs (from a task, or from another thread)
// runs its chunks inline.
#define _GNU_SOURCE
#include "CKernels.h"
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
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
static _Atomic unsigned pool_gen = 0;            // bumped for every job
static _Atomic uint64_t pool_claim = 0;          // (generation << 32) | next unclaimed chunk
static _Atomic int pool_done = 0;                // chunks finished in the current job
static _Atomic int pool_spin_us = 2000;
static llx_task_fn job_fn;
static void *job_ctx;
static int job_chunks;

typedef struct { int id; unsigned gen; } worker_arg;
static worker_arg worker_args[LLX_MAX_WORKERS + 1];

static inline uint64_t now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

// Claims the next chunk of job `gen`; -1 when the job has moved on or has no chunk left. The
// claim word holds (generation << 32) | (chunk count << 16) | next chunk, so a worker that read
// a generation late can never claim past that job's own chunk count.
static inline int claim(unsigned gen) {
    uint64_t s = atomic_load_explicit(&pool_claim, memory_order_acquire);
    for (;;) {
        if ((unsigned)(s >> 32) != gen) return -1;
        int n = (int)((s >> 16) & 0xFFFF), next = (int)(s & 0xFFFF);
        if (next >= n) return -1;
        if (atomic_compare_exchange_weak_explicit(&pool_claim, &s, s + 1, memory_order_acq_rel, memory_order_acquire))
            return next;
    }
}

static void *worker_main(void *p) {
    worker_arg *a = (worker_arg *)p;
    unsigned seen = a->gen;
    for (;;) {
        uint64_t start = 0;
        unsigned spins = 0;
        unsigned g;
        while ((g = atomic_load_explicit(&pool_gen, memory_order_acquire)) == seen) {
            llx_pause();
            // Offer the core now and then: on a machine shared with other processes the caller
            // may be waiting for this very core, and a worker spinning out its time slice there
            // would hold back the job it waits for (a training step then ran slower on two
            // threads than on one). On an idle core sched_yield returns at once.
            if ((++spins & 15) == 0) sched_yield();
            if ((spins & 255) == 0) {
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
        // fn and ctx were written before generation g was published, and job g+1's are written
        // only once every chunk of g is done: a successful claim proves they are still g's.
        llx_task_fn fn = job_fn;
        void *ctx = job_ctx;
        int n = job_chunks;
        int c;
        while ((c = claim(g)) >= 0) {
            fn(ctx, c, n);
            atomic_fetch_add_explicit(&pool_done, 1, memory_order_acq_rel);
        }
    }
    return NULL;
}

void llx_pool_set_spin_us(int us) { atomic_store(&pool_spin_us, us < 0 ? 0 : us); }

void llx_pool_run(llx_task_fn fn, void *ctx, int nth, int nchunks) {
    if (nchunks < 1) return;
    if (nth > LLX_MAX_WORKERS + 1) nth = LLX_MAX_WORKERS + 1;
    // (the claim word holds 16-bit counts: more chunks than that run inline)
    if (nth <= 1 || nchunks == 1 || nchunks > 0xFFFF || pthread_mutex_trylock(&run_lock) != 0) {
        for (int i = 0; i < nchunks; i++) fn(ctx, i, nchunks);
        return;
    }
    pthread_mutex_lock(&pool_lock);
    unsigned gen = atomic_load(&pool_gen) + 1;
    while (pool_workers < nth - 1) {
        int id = pool_workers + 1;
        worker_args[id].id = id;
        worker_args[id].gen = gen - 1;
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        int rc = pthread_create(&t, &attr, worker_main, &worker_args[id]);
        pthread_attr_destroy(&attr);
        if (rc != 0) break;
        pool_workers++;
    }
    job_fn = fn;
    job_ctx = ctx;
    job_chunks = nchunks;
    atomic_store_explicit(&pool_done, 0, memory_order_relaxed);
    atomic_store_explicit(&pool_claim, ((uint64_t)gen << 32) | ((uint64_t)nchunks << 16), memory_order_release);
    atomic_store_explicit(&pool_gen, gen, memory_order_release);
    pthread_cond_broadcast(&pool_cond);
    pthread_mutex_unlock(&pool_lock);
    int c, mine = 0;
    while ((c = claim(gen)) >= 0) { fn(ctx, c, nchunks); mine++; }
    unsigned spins = 0;
    while (atomic_load_explicit(&pool_done, memory_order_acquire) + mine < nchunks) {
        llx_pause();
        if ((++spins & 15) == 0) sched_yield();
    }
    pthread_mutex_unlock(&run_lock);
}
