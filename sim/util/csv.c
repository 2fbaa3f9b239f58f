/* CSV fields (see csv.h). */
#include "util/csv.h"

#include <string.h>

int csv_needs_quotes(const char *s)
{
    const size_t n = strlen(s);
    if (n == 0) return 1;
    if (strpbrk(s, ",\"\r\n")) return 1;
    return s[0] == ' ' || s[0] == '\t' || s[n - 1] == ' ' || s[n - 1] == '\t';
}

void csv_put_field(FILE *f, const char *s)
{
    if (!csv_needs_quotes(s)) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}
