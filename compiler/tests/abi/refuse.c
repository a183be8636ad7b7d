/* A library built for a feature this CPU lacks, called from C: its run refuses with the CPU
 * code instead of executing an illegal instruction. */
#include <stdio.h>
#include <stdlib.h>
#include "wide.h"

int main(void) {
    float x[WIDE_INPUT0_SIZE] = {0}, y[WIDE_OUTPUT0_SIZE];
    const float *ins[] = {x};
    float *outs[] = {y};
    void *scratch = aligned_alloc(64, (WIDE_SCRATCH_SIZE + 63) / 64 * 64);
    int rc = wide_run(ins, outs, scratch);
    printf("wide_run: %d (WIDE_ERR_CPU = %d)\n", rc, WIDE_ERR_CPU);
    free(scratch);
    return rc == WIDE_ERR_CPU ? 0 : 1;
}
