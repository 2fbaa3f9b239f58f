/* Tests of the vertical section of a scenario (config/vertical.c): the parties list with its
 * normalised ranges and defaults, every data-free check with its message and 1-based
 * line:col (counted by hand in the YAML below), overrides, JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "config/vertical.h"

static const char head[] = "name: v\n"              /* 1 */
                           "federation: vertical\n" /* 2 */
                           "vertical:\n"            /* 3 */
                           "  parties:\n";          /* 4 */

/* Parse head + body and validate; returns the code, d the diagnostic. */
static fs_err load(const char *body, cfg *c, cfg_diag *d)
{
    char text[4096];
    snprintf(text, sizeof text, "%s%s", head, body);
    fs_err rc = cfg_parse_text(text, strlen(text), "t.yaml", c, d);
    if (rc == FS_OK) rc = cfg_validate(c, "t.yaml", d);
    return rc;
}

static void expect(const char *body, int line, int col, const char *msg)
{
    cfg c;
    cfg_diag d;
    memset(&d, 0, sizeof d);
    fs_err rc = load(body, &c, &d);
    if (rc != FS_EINPUT || d.line != line || d.col != col || !strstr(d.msg, msg))
        cfg_diag_print(&d, stderr);
    assert_int_equal(rc, FS_EINPUT);
    assert_string_equal(d.file, "t.yaml");
    assert_int_equal(d.line, line);
    assert_int_equal(d.col, col);
    assert_non_null(strstr(d.msg, msg));
    assert_true(d.hint[0] != '\0');
}

static void test_parse(void **state)
{
    (void)state;
    cfg c;
    cfg_diag d;
    fs_err rc = load("    - {name: bank, role: active, columns: \"0-9\", flops: 1e10}\n"
                     "    - name: shop\n"
                     "      columns: [10-20, 21, \" 22 - 29 \"]\n"
                     "      coverage: 0.8\n"
                     "      unique_ids: 40\n"
                     "      dropout: 0.1\n"
                     "    - {name: arbiter, role: coordinator, latency_s: 0}\n",
                     &c, &d);
    if (rc) cfg_diag_print(&d, stderr);
    assert_int_equal(rc, FS_OK);
    assert_int_equal(c.vertical.n_parties, 3);
    const cfg_party *p = c.vertical.parties;
    assert_string_equal(p[0].name, "bank");
    assert_string_equal(p[0].role, "active");
    assert_string_equal(p[0].columns, "0-9");
    assert_true(p[0].flops == 1e10);
    assert_true(p[0].latency_s < 0 && p[0].coverage == 1 && p[0].rejoin_s == 30);
    assert_string_equal(p[1].role, "passive");
    assert_string_equal(p[1].columns, "10-20,21,22-29");
    assert_true(p[1].coverage == 0.8 && p[1].unique_ids == 40 && p[1].dropout == 0.1);
    assert_int_equal(p[1].fline[CFG_PF_COLUMNS], 7);
    assert_int_equal(p[1].fcol[CFG_PF_COLUMNS], 16);
    assert_string_equal(p[2].role, "coordinator");
    assert_true(p[2].latency_s == 0);
    int lo[8], hi[8], n;
    assert_int_equal(cfg_ranges_parse(p[1].columns, lo, hi, 8, &n), FS_OK);
    assert_int_equal(n, 3);
    assert_true(lo[0] == 10 && hi[0] == 20 && lo[1] == 21 && hi[1] == 21 && hi[2] == 29);
    assert_int_equal(cfg_ranges_parse("3-1", lo, hi, 8, &n), FS_EINPUT);
    /* the parties are part of the resolved parameters (and so of the run key) */
    char *json = cfg_to_json(&c);
    assert_non_null(strstr(json, "\"vertical.parties\": [{\"name\": \"bank\", \"role\": "
                                 "\"active\", \"columns\": \"0-9\""));
    assert_non_null(strstr(json, "\"unique_ids\": 40"));
    free(json);
    /* an override replaces the list */
    cfg_diag d2;
    assert_int_equal(cfg_apply_override("vertical.parties=[{name: a, role: active, rows: 0-27, "
                                        "cols: 0-13}, {name: b, cols: 14-27}]",
                                        1, &c, &d2),
                     FS_OK);
    assert_int_equal(c.vertical.n_parties, 2);
    assert_string_equal(c.vertical.parties[1].cols, "14-27");
    assert_int_equal(c.vertical.parties[1].set_index, 1);
    assert_int_equal(cfg_validate(&c, "t.yaml", &d2), FS_OK);
}

static void test_errors(void **state)
{
    (void)state;
    /* overlapping feature groups: at the later party's columns */
    expect("    - {name: a, role: active, columns: \"0-9\"}\n"
           "    - {name: b, columns: \"5-7, 10-29\"}\n",
           6, 26, "features 5-7 of party 'b' also belong to party 'a'");
    /* overlapping pixel blocks (an empty axis is every row) */
    expect("    - {name: a, role: active, cols: \"0-14\"}\n"
           "    - {name: b, rows: \"0-3\", cols: \"14-27\"}\n",
           6, 23, "the pixel block of party 'b' overlaps party 'a''s");
    /* a data party without a feature group: at its entry */
    expect("    - {name: a, role: active, columns: \"0-9\"}\n"
           "    - {name: b}\n",
           6, 7, "vertical.parties[1] ('b') has no feature group");
    /* no party owns the labels: at the list */
    expect("    - {name: a, columns: \"0-9\"}\n"
           "    - {name: b, columns: \"10-29\"}\n",
           4, 3, "no party owns the labels");
    /* two active parties: at the second role */
    expect("    - {name: a, role: active, columns: \"0-9\"}\n"
           "    - {name: b, role: active, columns: \"10-29\"}\n",
           6, 23, "is a second active party");
    /* a coordinator for splitnn, a coordinator with data */
    expect("    - {name: a, role: active, columns: \"0-9\"}\n"
           "    - {name: b, columns: \"10-29\"}\n"
           "    - {name: c, role: coordinator}\n"
           "  algorithm: splitnn\n",
           7, 23, "is a coordinator but vertical.algorithm = splitnn");
    expect("    - {name: a, role: active, columns: \"0-9\"}\n"
           "    - {name: b, columns: \"10-29\"}\n"
           "    - {name: c, role: coordinator, columns: \"30\"}\n",
           7, 45, "is a coordinator with features");
    /* one data party only */
    expect("    - {name: a, role: active, columns: \"0-9\"}\n", 4, 3, "has 1 data party");
    /* key size: below 2048 (the key table's range), odd */
    expect("    - {name: a, role: active, columns: \"0-9\"}\n"
           "    - {name: b, columns: \"10-29\"}\n"
           "  key_bits: 1024\n",
           7, 13, "vertical.key_bits = 1024 is out of range");
    expect("    - {name: a, role: active, columns: \"0-9\"}\n"
           "    - {name: b, columns: \"10-29\"}\n"
           "  key_bits: 2049\n",
           7, 3, "vertical.key_bits = 2049 is odd");
    /* syntax of the entries */
    expect("    - {name: a, role: active, columns: \"0-9\"}\n"
           "    - {name: b, columns: \"9-3\"}\n",
           6, 26, "'9-3' is not a range like 0-9");
    expect("    - {name: a, role: active, columns: \"0-9\"}\n"
           "    - {name: b, colums: \"10-29\"}\n",
           6, 17, "unknown field 'colums'");
    expect("    - {name: a, role: boss, columns: \"0-9\"}\n", 5, 23,
           "role must be active, passive or coordinator");
    expect("    - {name: a, role: active, columns: \"0-9\"}\n"
           "    - {name: a, columns: \"10-29\"}\n",
           6, 14, "name 'a' is already used");
    expect("    - {name: a, role: active, columns: \"0-9\", coverage: 2}\n", 5, 57,
           "vertical.parties[0].coverage = 2 is out of range");
    expect("    - {name: a, role: active, columns: \"0-9\", columns: \"1\"}\n", 5, 47,
           "duplicate field 'columns'");
    expect("    name: a\n", 5, 5, "vertical.parties must be a list");
    /* federation = vertical without parties; parties with federation = horizontal */
    cfg c;
    cfg_diag d;
    const char *t = "name: v\nfederation: vertical\n";
    assert_int_equal(cfg_parse_text(t, strlen(t), "t.yaml", &c, &d), FS_OK);
    assert_int_equal(cfg_validate(&c, "t.yaml", &d), FS_EINPUT);
    assert_int_equal(d.line, 2);
    assert_non_null(strstr(d.msg, "federation = vertical needs vertical.parties"));
    t = "name: v\nvertical:\n  parties: [{name: a, role: active, columns: 0}, {name: b, "
        "columns: 1}]\n";
    assert_int_equal(cfg_parse_text(t, strlen(t), "t.yaml", &c, &d), FS_OK);
    assert_int_equal(cfg_validate(&c, "t.yaml", &d), FS_EINPUT);
    assert_int_equal(d.line, 3);
    assert_int_equal(d.col, 3);
    assert_non_null(strstr(d.msg, "federation = horizontal"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
