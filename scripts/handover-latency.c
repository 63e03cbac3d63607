// How fast the two cores hand a cache line to each other: two threads ping-pong one atomic word
// 200,000 times, 15 times 0.3 s apart, and print the mean round trip of each run in ns. Every op
// on the worker pool hands its output (and the pool's own words) to the other core, so this is
// what 2-thread inference pays per hand-over. docs/SPEED.md "Stops 21-22" has what it measured.
//   cc -O2 -pthread scripts/handover-latency.c -o /tmp/handover-latency && /tmp/handover-latency
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

enum { trips = 200000, runs = 15 };
static _Atomic long turn __attribute__((aligned(64)));

static void wait_for(long value) {
    while (atomic_load_explicit(&turn, memory_order_acquire) != value) {
#if defined(__x86_64__)
        __builtin_ia32_pause();
#endif
    }
}

static void *partner(void *unused) {
    (void)unused;
    for (long i = 0; i < trips; i++) {
        wait_for(2 * i + 1);
        atomic_store_explicit(&turn, 2 * i + 2, memory_order_release);
    }
    return NULL;
}

static double seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(void) {
    for (int r = 0; r < runs; r++) {
        atomic_store(&turn, 0);
        pthread_t thread;
        if (pthread_create(&thread, NULL, partner, NULL) != 0) { perror("pthread_create"); return 1; }
        double begin = seconds();
        for (long i = 0; i < trips; i++) {
            atomic_store_explicit(&turn, 2 * i + 1, memory_order_release);
            wait_for(2 * i + 2);
        }
        double end = seconds();
        pthread_join(thread, NULL);
        printf("%.0f ", (end - begin) / trips * 1e9);
        fflush(stdout);
        struct timespec pause = {0, 300000000};
        nanosleep(&pause, NULL);
    }
    printf("ns a round trip\n");
    return 0;
}
