// Counts heap allocations made by the calling thread, so a test can prove that a code path
// allocates nothing. Linked only into the test binary.
#pragma once
void malloc_counter_start(void);
/// Stops counting and returns the number of allocations since `malloc_counter_start`.
long malloc_counter_stop(void);
