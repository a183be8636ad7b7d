/* Two models with different prefixes in one program, through their generated headers: each
 * runs, and each reports a misaligned scratch and a null pointer with its own codes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "alpha.h"
#include "beta.h"

static void *scratch_for(size_t size) {
    return aligned_alloc(64, (size + 63) / 64 * 64 + 64);
}

int main(void) {
    float x[ALPHA_INPUT0_SIZE], z[BETA_INPUT1_SIZE];
    float ya[ALPHA_OUTPUT0_SIZE], yb[BETA_OUTPUT0_SIZE], wb[BETA_OUTPUT1_SIZE];
    for (int i = 0; i < ALPHA_INPUT0_SIZE; i++) x[i] = (float)i;
    for (int i = 0; i < BETA_INPUT1_SIZE; i++) z[i] = 100.0f * (float)i;
    const float *ins_a[] = {x};
    float *outs_a[] = {ya};
    const float *ins_b[] = {x, z};
    float *outs_b[] = {yb, wb};
    char *sa = scratch_for(alpha_scratch_size());
    char *sb = scratch_for(beta_scratch_size());
    printf("alpha: %d inputs, %d outputs, scratch %zu (macro %d)\n", ALPHA_NUM_INPUTS,
           ALPHA_NUM_OUTPUTS, alpha_scratch_size(), ALPHA_SCRATCH_SIZE);
    printf("beta: %d inputs, %d outputs, scratch %zu (macro %d)\n", BETA_NUM_INPUTS,
           BETA_NUM_OUTPUTS, beta_scratch_size(), BETA_SCRATCH_SIZE);
    printf("alpha json starts %.40s\n", alpha_model_json());
    printf("alpha_run: %d\n", alpha_run(ins_a, outs_a, sa));
    printf("beta_run: %d\n", beta_run(ins_b, outs_b, sb));
    printf("ya:");
    for (int i = 0; i < ALPHA_OUTPUT0_SIZE; i++) printf(" %g", ya[i]);
    printf("\nwb:");
    for (int i = 0; i < BETA_OUTPUT1_SIZE; i++) printf(" %g", wb[i]);
    printf("\nmisaligned: %d %d (ALPHA_ERR_ALIGN = %d)\n", alpha_run(ins_a, outs_a, sa + 16),
           beta_run(ins_b, outs_b, sb + 8), ALPHA_ERR_ALIGN);
    const float *null_in[] = {x, NULL};
    printf("null: %d %d (BETA_ERR_NULL = %d)\n", alpha_run(NULL, outs_a, sa),
           beta_run(null_in, outs_b, sb), BETA_ERR_NULL);
    free(sa);
    free(sb);
    return 0;
}
