/* Runs a one-input model.so on a scratch arena that nobody has written (malloc, not calloc), so
 * that valgrind's memcheck sees every read of scratch the generated code did not write first;
 * the outputs go to stdout byte by byte, so an output computed from such a read is an error too.
 * Then on 2 and 3 threads, each run on a fresh unwritten arena: a part of a split step must
 * write whatever of its temporaries it reads (the parts of a depthwise layer stage only their
 * band of rows). */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "model.h"

int main(void) {
    static float x[QCC_INPUT0_SIZE], y[QCC_OUTPUT0_SIZE];
    for (int i = 0; i < QCC_INPUT0_SIZE; i++) x[i] = (float)((i * 37) % 101) / 50.0f - 1.0f;
    const float *ins[] = {x};
    float *outs[] = {y};
    void *scratch = aligned_alloc(64, (qcc_scratch_size() + 63) / 64 * 64 + 64);
    int rc = qcc_run(ins, outs, scratch);
    if (write(1, y, sizeof y) != (ssize_t)sizeof y) return 2;
    free(scratch);
    for (size_t threads = 2; rc == 0 && threads <= 3; threads++) {
        scratch = aligned_alloc(64, (qcc_scratch_size_threads(threads) + 63) / 64 * 64 + 64);
        rc = qcc_run_threads(ins, outs, scratch, threads);
        if (write(1, y, sizeof y) != (ssize_t)sizeof y) return 2;
        free(scratch);
    }
    return rc;
}
