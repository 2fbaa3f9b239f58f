/* CSV fields: RFC 4180 quoting (comma, quote, CR, LF), plus quotes around an empty field and
 * around leading or trailing blanks; inner spaces and plain text stay bare. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util/csv.h"

/* What csv_put_field writes for s. */
static void field(const char *s, char *out, size_t cap)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    assert_non_null(f);
    csv_put_field(f, s);
    assert_int_equal(fclose(f), 0);
    snprintf(out, cap, "%s", buf);
    free(buf);
}

static void test_fields(void **st)
{
    (void)st;
    static const char *const cases[][2] = {
        {"plain", "plain"},
        {"0.1", "0.1"},
        {"Ankle boot", "Ankle boot"}, /* inner space: bare */
        {"", "\"\""},                 /* empty: quoted, unlike a missing value */
        {" lead", "\" lead\""},       /* leading or trailing blank: quoted */
        {"trail ", "\"trail \""},
        {"\ttab", "\"\ttab\""},
        {"a,b", "\"a,b\""}, /* RFC 4180 */
        {"say \"hi\"", "\"say \"\"hi\"\"\""},
        {"\"", "\"\"\"\""},
        {"two\nlines", "\"two\nlines\""},
        {"cr\rhere", "\"cr\rhere\""},
        {"fewer than t masked inputs: 4", "fewer than t masked inputs: 4"},
    };
    char got[128];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        field(cases[i][0], got, sizeof got);
        assert_string_equal(got, cases[i][1]);
        assert_int_equal(csv_needs_quotes(cases[i][0]), strcmp(cases[i][0], cases[i][1]) != 0);
    }
}

/* A field read back by an RFC 4180 reader is the text written: undo the quoting. */
static void test_round_trip(void **st)
{
    (void)st;
    const char *texts[] = {"a\"\"b", ",", "\"start", "end\"", " ", "x, \"y\"\r\n"};
    char got[128], back[128];
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        field(texts[i], got, sizeof got);
        size_t n = strlen(got), k = 0;
        assert_true(n >= 2 && got[0] == '"' && got[n - 1] == '"');
        for (size_t j = 1; j + 1 < n; j++) {
            back[k++] = got[j];
            if (got[j] == '"') {
                assert_int_equal(got[j + 1], '"');
                j++;
            }
        }
        back[k] = '\0';
        assert_string_equal(back, texts[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
