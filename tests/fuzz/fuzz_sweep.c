/* libFuzzer harness of the sweep parser: any bytes through sweep_parse_plan (the scenario
 * parser, then the sweep section, its expansion and a cfg_validate of every run). Nothing may
 * crash, hang or leak, whatever the input (docs/fuzzing.md). Built by `make fuzz` with clang. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/sweep.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#include "fuzz_skip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (fuzz_skip(data, size)) return 0;
    char *text = malloc(size + 1);
    if (!text) return 0;
    if (size) memcpy(text, data, size);
    text[size] = '\0';
    sweep_plan p;
    cfg_diag d;
    if (sweep_parse_plan(text, size, "fuzz.yaml", NULL, 0, NULL, &p, &d) == FS_OK)
        sweep_free_plan(&p);
    free(text);
    return 0;
}
