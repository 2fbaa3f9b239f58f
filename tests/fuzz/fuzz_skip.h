/* Inputs the harnesses leave out, each for a known bug owned elsewhere (docs/fuzzing.md).
 *
 * libfyaml 0.7.12 leaks its atom-iterator buffer (512 B to 4 KiB, from fy_token_get_text) for a
 * single-quoted scalar with a run of '' escapes (16 quotes in a row are enough). That leak is
 * fixed on its own branch; until it is merged, inputs with four quotes in a row are skipped so
 * the campaign can look for other leaks. Remove this once ytree.c no longer leaks there. */
#ifndef FEDSIM_FUZZ_SKIP_H
#define FEDSIM_FUZZ_SKIP_H

#include <stddef.h>
#include <stdint.h>

static int fuzz_skip(const uint8_t *data, size_t size)
{
    for (size_t i = 0, run = 0; i < size; i++)
        if ((run = data[i] == '\'' ? run + 1 : 0) == 4) return 1;
    return 0;
}

#endif
