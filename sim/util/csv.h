/* One CSV field as RFC 4180 writes it, for every CSV fedsim writes (`fedsim export`, the
 * partition matrix of `fedsim data stats --matrix`). A field is quoted ("..." with each " doubled)
 * when it holds a comma, a double quote, CR or LF (RFC 4180, 2.6-2.7), when it begins or ends
 * with a space or a tab (readers that trim unquoted whitespace keep it), and when it is empty
 * (so an empty text differs from a missing value, which fedsim writes as an empty unquoted
 * field). Anything else, spaces inside included, is written as it is. */
#ifndef FEDSIM_CSV_H
#define FEDSIM_CSV_H

#include <stdio.h>

/* 1 if s must be quoted by the rule above. */
int csv_needs_quotes(const char *s);
/* Write s as one field (no separator, no line end). */
void csv_put_field(FILE *f, const char *s);

#endif
