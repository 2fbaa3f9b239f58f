/* Vector-width dispatch (see simd.h): the CPU's level is read once from libgcc's flags. */
#include "util/simd.h"

static int simd_cap = FS_SIMD_AVX512;

int fs_simd_cpu(void)
{
#if FS_SIMD_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2") &&
        __builtin_cpu_supports("fma"))
        return FS_SIMD_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return FS_SIMD_AVX2;
#endif
    return FS_SIMD_BASE;
}

int fs_simd_level(void)
{
    static int cpu = -1;
    if (cpu < 0) cpu = fs_simd_cpu(); /* idempotent: a race writes the same value */
    return cpu < simd_cap ? cpu : simd_cap;
}

void fs_simd_set_max(int level)
{
    simd_cap = level < FS_SIMD_BASE     ? FS_SIMD_BASE
               : level > FS_SIMD_AVX512 ? FS_SIMD_AVX512
                                        : level;
}

const char *fs_simd_name(int level)
{
    return level == FS_SIMD_AVX512 ? "AVX-512F" : level == FS_SIMD_AVX2 ? "AVX2" : "baseline";
}
