/* Tests of <astrolab/error.h> and src/util/error.c: every code in the header is unique and has
 * its own text, and al_error records fill without allocating.
 *
 * The codes are read from the header's text, so that a code added there without text in
 * al_strerror's table, or given a value already taken (CFITSIO once had two 505s), fails here
 * without anyone updating a list. */
#include <ctype.h>
#include <stdbool.h>

#include "test.h"

#define ERROR_H ASTROLAB_TESTS_DIR "/../include/astrolab/error.h"
#define MAX_CODES 128

typedef struct code {
    char name[48];
    int value;
} code;

/* Reads every "AL_NAME = value," line of the header's enum into out; returns how many, or -1. */
static int read_codes(code *out, int max)
{
    FILE *f = fopen(ERROR_H, "r");
    if (!f) {
        perror(ERROR_H);
        return -1;
    }
    char line[256];
    int n = 0;
    bool in_enum = false;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "enum {", 6) == 0) {
            in_enum = true;
            continue;
        }
        if (in_enum && strncmp(line, "};", 2) == 0)
            break;
        const char *s = line;
        while (isspace((unsigned char)*s))
            s++;
        code c;
        char comma = 0;
        if (!in_enum || strncmp(s, "AL_", 3) != 0)
            continue;
        if (sscanf(s, "%47[A-Z0-9_] = %d%c", c.name, &c.value, &comma) != 3 || comma != ',') {
            fprintf(stderr, "  %s: not 'AL_NAME = value,': %s", ERROR_H, s);
            fclose(f);
            return -1;
        }
        if (n == max) {
            fclose(f);
            return -1;
        }
        out[n++] = c;
    }
    fclose(f);
    return n;
}

TEST(test_every_error_code_is_unique_and_has_its_own_text)
{
    code codes[MAX_CODES];
    int n = read_codes(codes, MAX_CODES);
    CHECK(n > 20); /* the header has 24 codes; fewer means the parse went wrong */
    for (int i = 0; i < n; i++) {
        const char *text = al_strerror(codes[i].value);
        CHECK(text != NULL && text[0] != '\0');
        if (text && strcmp(text, al_strerror(123456)) == 0) {
            fprintf(stderr, "  %s (%d) has no text in al_strerror\n", codes[i].name,
                    codes[i].value);
            CHECK(!"every code has text");
        }
        CHECK(codes[i].value <= 0);
        for (int j = 0; j < i; j++) {
            if (codes[j].value == codes[i].value) {
                fprintf(stderr, "  %s and %s are both %d\n", codes[j].name, codes[i].name,
                        codes[i].value);
                CHECK(!"codes are unique");
            }
            if (text && strcmp(al_strerror(codes[j].value), text) == 0 &&
                codes[j].value != codes[i].value) {
                fprintf(stderr, "  %s and %s share the text \"%s\"\n", codes[j].name, codes[i].name,
                        text);
                CHECK(!"texts are distinct");
            }
        }
    }
}

TEST(test_unknown_code_has_the_unknown_text)
{
    CHECK_EQ_STR(al_strerror(123456), "unknown error code");
    CHECK_EQ_STR(al_strerror(-99999), "unknown error code");
    CHECK_EQ_STR(al_strerror(AL_OK), "success");
}

TEST(test_error_set_fills_the_record_and_returns_the_code)
{
    al_error err;
    CHECK_EQ_INT(al_error_set(&err, AL_EFORMAT, "row %d, column %s", 3, "ra"), AL_EFORMAT);
    CHECK_EQ_INT(err.code, AL_EFORMAT);
    CHECK_EQ_STR(err.message, "row 3, column ra");
    CHECK_EQ_INT(al_error_set(NULL, AL_EIO, "ignored"), AL_EIO);
    char longer[2 * AL_ERROR_MESSAGE_LEN];
    memset(longer, 'x', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    al_error_set(&err, AL_EINVAL, "%s", longer); /* truncated, never overrun */
    CHECK_EQ_INT(strlen(err.message), AL_ERROR_MESSAGE_LEN - 1);
    al_error_clear(&err);
    CHECK_EQ_INT(err.code, AL_OK);
    CHECK_EQ_STR(err.message, "");
    al_error_clear(NULL);
}

TEST_MAIN()
