/* Run-time dispatch of element-wise loops to the machine's vector width (issue 17). A loop
 * body written once as an always-inline function is compiled three times by FS_SIMD_DISPATCH:
 * for AVX-512F, for AVX2 and for the baseline x86-64 (SSE2), and the public function calls
 * the widest one the CPU has, capped by fs_simd_set_max (tests run every path on the machine
 * they run on; benchmarks compare them). The rest of fedsim stays portable (NATIVE=0).
 * Only for element-wise loops over float or double marked `omp simd`: each element goes
 * through the same operations in the same order whatever the width, and C11 mode keeps the
 * compiler from contracting a * b + c into an FMA (-ffp-contract=off), so every path gives
 * the bits of the scalar loop (tests/unit/test_simd.c). Off x86-64 every level is the
 * portable build of the body. */
#ifndef FEDSIM_SIMD_H
#define FEDSIM_SIMD_H

enum { FS_SIMD_BASE = 0, FS_SIMD_AVX2 = 1, FS_SIMD_AVX512 = 2 };

/* The widest level the CPU supports (FS_SIMD_*; FS_SIMD_BASE off x86-64). */
int fs_simd_cpu(void);
/* The level the dispatched functions use: min(fs_simd_cpu(), the cap). */
int fs_simd_level(void);
/* Cap the level (FS_SIMD_AVX512 by default: no cap); for tests and benchmarks, set before any
 * parallel region. */
void fs_simd_set_max(int level);
/* "AVX-512F", "AVX2" or "baseline" */
const char *fs_simd_name(int level);

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define FS_SIMD_X86   1
#define FS_TGT_AVX512 __attribute__((target("avx512f,avx2,fma")))
#define FS_TGT_AVX2   __attribute__((target("avx2,fma")))
#else
#define FS_SIMD_X86 0
#define FS_TGT_AVX512
#define FS_TGT_AVX2
#endif
#define FS_SIMD_INLINE static inline __attribute__((always_inline))

/* void name params, dispatched to name##_body args (an FS_SIMD_INLINE function returning void)
 * compiled per level. */
#define FS_SIMD_DISPATCH(name, params, args)                                                       \
    FS_TGT_AVX512 static void name##_avx512 params                                                 \
    {                                                                                              \
        name##_body args;                                                                          \
    }                                                                                              \
    FS_TGT_AVX2 static void name##_avx2 params                                                     \
    {                                                                                              \
        name##_body args;                                                                          \
    }                                                                                              \
    static void name##_base params                                                                 \
    {                                                                                              \
        name##_body args;                                                                          \
    }                                                                                              \
    void name params                                                                               \
    {                                                                                              \
        const int level_ = fs_simd_level();                                                        \
        if (level_ == FS_SIMD_AVX512)                                                              \
            name##_avx512 args;                                                                    \
        else if (level_ == FS_SIMD_AVX2)                                                           \
            name##_avx2 args;                                                                      \
        else                                                                                       \
            name##_base args;                                                                      \
    }

#endif
