/* A stand-in for the code generator's object, until real models link: RUN_IMPL computes
 * y = 2x for input 0 and, with NZ > 0, w = x[i % NX] + z for input 1, going through the scratch
 * (filled whole first) so that a scratch too small or misplaced shows. OVERRUN makes it touch
 * one float outside a buffer, for the guard-page harness's own test:
 * 1 = read past the end of x, 2 = read before its start, 3 = write past the end of the scratch. */
#include <stdint.h>
#include <string.h>

#ifndef NZ
#define NZ 0
#endif
#ifndef OVERRUN
#define OVERRUN 0
#endif

int32_t RUN_IMPL(const float *const *inputs, float *const *outputs, void *scratch) {
    const float *x = inputs[0];
    float *t = scratch;
    memset(scratch, 0x5a, SCRATCH);
    for (int i = 0; i < NX; i++) t[i] = 2.0f * x[i];
#if OVERRUN == 1
    t[0] += x[NX];
#elif OVERRUN == 2
    t[0] += x[-1];
#elif OVERRUN == 3
    ((volatile unsigned char *)scratch)[SCRATCH] = 1;
#endif
    memcpy(outputs[0], t, NX * sizeof(float));
#if NZ > 0
    for (int i = 0; i < NZ; i++) outputs[1][i] = x[i % NX] + inputs[1][i];
#endif
    return 0;
}

/* The threaded entries' way in: the stand-in is one step of one unit, so its one part is the
 * whole run. */
void STEP_IMPL(const float *const *inputs, float *const *outputs, void *scratch, int64_t step,
               int64_t lo, int64_t hi, int64_t temp_shift) {
    (void)step, (void)lo, (void)hi, (void)temp_shift;
    RUN_IMPL(inputs, outputs, scratch);
}
