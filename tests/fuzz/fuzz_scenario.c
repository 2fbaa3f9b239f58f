/* libFuzzer harness of the scenario parser: any bytes through cfg_parse_text (the text check,
 * libfyaml, the key table), then cfg_derive and cfg_validate when they parse. Nothing may crash,
 * hang or leak, whatever the input (docs/fuzzing.md). Built by `make fuzz` with clang. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#include "fuzz_skip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (fuzz_skip(data, size)) return 0;
    char *text = malloc(size + 1); /* cfg_load hands the parser a NUL-terminated copy */
    if (!text) return 0;
    if (size) memcpy(text, data, size);
    text[size] = '\0';
    static cfg c;
    cfg_diag d;
    if (cfg_parse_text(text, size, "fuzz.yaml", &c, &d) == FS_OK) {
        cfg_derive(&c, "fuzz.yaml");
        cfg_validate(&c, "fuzz.yaml", &d);
        free(cfg_to_json(&c));
    }
    free(text);
    return 0;
}
