// Interposes glibc's allocation entry points in the test executable and forwards them to the
// __libc_* originals. Counting is per thread (Swift Testing runs tests in parallel), using
// thread-local storage of the executable, which itself never allocates.
#include <errno.h>
#include <stddef.h>
#include "malloc_counter.h"

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static _Thread_local int counting;
static _Thread_local long allocations;

static inline void count(void) { if (counting) allocations++; }

void malloc_counter_start(void) { allocations = 0; counting = 1; }
long malloc_counter_stop(void) { counting = 0; return allocations; }

void *malloc(size_t size) { count(); return __libc_malloc(size); }
void *calloc(size_t n, size_t size) { count(); return __libc_calloc(n, size); }
void *realloc(void *p, size_t size) { count(); return __libc_realloc(p, size); }
void *memalign(size_t alignment, size_t size) { count(); return __libc_memalign(alignment, size); }
void *aligned_alloc(size_t alignment, size_t size) { count(); return __libc_memalign(alignment, size); }
int posix_memalign(void **out, size_t alignment, size_t size) {
    count();
    void *p = __libc_memalign(alignment, size);
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}
