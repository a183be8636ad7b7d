/* Measures this machine's core clock and its int8 multiply-accumulate ceiling, one thread.
 *
 * Clock: a chain of dependent 64-bit adds (latency one cycle on every x86 core of the last
 * fifteen years), timed with the monotonic clock, so cycles = adds and GHz = adds / ns.
 * Ceilings: independent accumulator chains of the instruction sequences an int8 GEMM
 * micro-kernel is built from, operands in registers (no memory traffic), so the count is the
 * execution units' limit, not the caches':
 *   avx2_maddubs   vpmaddubsw (u8*s8 pairs -> s16) + vpmaddwd with ones (-> s32) + vpaddd,
 *                  32 MACs per 256-bit step: the usual AVX2 route (its pair sums can saturate)
 *   avx2_maddwd    vpmaddwd on 16-bit operands + vpaddd, 16 MACs per step: the exact route
 *   vnni_ymm/zmm   vpdpbusd on 256/512-bit registers (32/64 MACs), when the CPU has AVX512-VNNI
 *   sse_maddubs    the 128-bit AVX2 sequence (16 MACs), what Cranelift's x64 backend can emit
 * Prints one JSON object. Build: cc -O2 -mavx2 peak.c -o peak (VNNI code is enabled per
 * function and only run when cpuid says the CPU has it).
 */
#include <immintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Median of repeated measurements: the machine is shared, so single runs are noisy. */
static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}
static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return v[n / 2];
}

#define REPS 15

/* 16 dependent adds per iteration; the loop counter runs on another chain in parallel. */
static double adds_per_second(long iters) {
  uint64_t x = 1;
  double t0 = now_s();
  for (long i = 0; i < iters; i++) {
    __asm__ volatile(
        "add %0, %0\n\tadd %0, %0\n\tadd %0, %0\n\tadd %0, %0\n\t"
        "add %0, %0\n\tadd %0, %0\n\tadd %0, %0\n\tadd %0, %0\n\t"
        "add %0, %0\n\tadd %0, %0\n\tadd %0, %0\n\tadd %0, %0\n\t"
        "add %0, %0\n\tadd %0, %0\n\tadd %0, %0\n\tadd %0, %0\n\t"
        : "+r"(x));
  }
  double dt = now_s() - t0;
  __asm__ volatile("" ::"r"(x));
  return 16.0 * (double)iters / dt;
}

/* The empty asm with "+x" makes the compiler believe the operand changed, so the multiply
 * cannot be hoisted out of the loop, and costs no instruction. */
#define TOUCH(v) __asm__ volatile("" : "+v"(v))

/* Eight independent accumulators, named (not an array, which the compiler would keep in memory),
 * each fed by its own multiply: the dependency chains hide the instructions' latencies. */
#define EIGHT(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)
#define CHAINS 8

/* One kernel: T the vector type, ZERO its zero, STEP(acc) one accumulation into acc (using a,
 * b and ones), MACS the multiply-accumulates per STEP. */
#define KERNEL(NAME, ATTR, T, SETA, SETB, ONES, ZERO, STEP, MACS)                  \
  ATTR static double NAME(long iters) {                                          \
    T a = SETA, b = SETB, ones = ONES;                                           \
    (void)ones;                                                                  \
    EIGHT(DECL)                                                                  \
    double t0 = now_s();                                                         \
    for (long i = 0; i < iters; i++) {                                           \
      EIGHT(STEP)                                                                \
    }                                                                            \
    double dt = now_s() - t0;                                                    \
    EIGHT(SINK)                                                                  \
    return (double)(MACS) * CHAINS * (double)iters / dt;                         \
  }
#define DECL(c) __typeof__(a) acc##c = ZERO_VALUE;
#define SINK(c) __asm__ volatile("" ::"v"(acc##c));

#define ZERO_VALUE _mm256_setzero_si256()
#define S_AVX2_MADDUBS(c) \
  TOUCH(a);               \
  acc##c = _mm256_add_epi32(acc##c, _mm256_madd_epi16(_mm256_maddubs_epi16(a, b), ones));
KERNEL(avx2_maddubs, , __m256i, _mm256_set1_epi8(3), _mm256_set1_epi8(-2), _mm256_set1_epi16(1),
       ZERO_VALUE, S_AVX2_MADDUBS, 32)
#define S_AVX2_MADDWD(c) \
  TOUCH(a);              \
  acc##c = _mm256_add_epi32(acc##c, _mm256_madd_epi16(a, b));
KERNEL(avx2_maddwd, , __m256i, _mm256_set1_epi16(3), _mm256_set1_epi16(-2), _mm256_set1_epi16(1),
       ZERO_VALUE, S_AVX2_MADDWD, 16)
#define S_VNNI_YMM(c) \
  TOUCH(a);           \
  acc##c = _mm256_dpbusd_epi32(acc##c, a, b);
KERNEL(vnni_ymm, __attribute__((target("avx512f,avx512vl,avx512vnni"))), __m256i,
       _mm256_set1_epi8(3), _mm256_set1_epi8(-2), _mm256_set1_epi16(1), ZERO_VALUE, S_VNNI_YMM, 32)
#undef ZERO_VALUE

#define ZERO_VALUE _mm_setzero_si128()
#define S_SSE_MADDUBS(c) \
  TOUCH(a);              \
  acc##c = _mm_add_epi32(acc##c, _mm_madd_epi16(_mm_maddubs_epi16(a, b), ones));
KERNEL(sse_maddubs, , __m128i, _mm_set1_epi8(3), _mm_set1_epi8(-2), _mm_set1_epi16(1), ZERO_VALUE,
       S_SSE_MADDUBS, 16)
#undef ZERO_VALUE

#define ZERO_VALUE _mm512_setzero_si512()
#define S_VNNI_ZMM(c) \
  TOUCH(a);           \
  acc##c = _mm512_dpbusd_epi32(acc##c, a, b);
KERNEL(vnni_zmm, __attribute__((target("avx512f,avx512vnni"))), __m512i, _mm512_set1_epi8(3),
       _mm512_set1_epi8(-2), _mm512_set1_epi16(1), ZERO_VALUE, S_VNNI_ZMM, 64)
#undef ZERO_VALUE

static double best_of(double (*f)(long), long iters) {
  double v[REPS];
  f(iters / 4); /* warm-up: lets the core leave a low power state and wake the vector units */
  for (int r = 0; r < REPS; r++) v[r] = f(iters);
  return median(v, REPS);
}

int main(int argc, char **argv) {
  /* Each measurement runs ~20 ms (~2 ms with --quick). */
  long scale = (argc > 1 && strcmp(argv[1], "--quick") == 0) ? 1 : 10;
  double hz = best_of(adds_per_second, 250000L * scale);
  printf("{\"ghz\": %.4f", hz / 1e9);
  printf(", \"avx2_maddubs\": %.3f", best_of(avx2_maddubs, 50000L * scale) / hz);
  printf(", \"avx2_maddwd\": %.3f", best_of(avx2_maddwd, 50000L * scale) / hz);
  printf(", \"sse_maddubs\": %.3f", best_of(sse_maddubs, 50000L * scale) / hz);
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vl")) {
    printf(", \"vnni_ymm\": %.3f", best_of(vnni_ymm, 50000L * scale) / hz);
    printf(", \"vnni_zmm\": %.3f", best_of(vnni_zmm, 50000L * scale) / hz);
  }
  printf("}\n");
  return 0;
}
