/* Tests of <astrolab/settings.h> and src/util/settings.c: the table lists every setting once,
 * each documented where it says; values come from the default, the environment or the API,
 * and refused environment values are reported and leave the default in force. */
#include <stdbool.h>
#include <stdlib.h>

#include "astrolab/diagnosis.h"
#include "astrolab/settings.h"
#include "log_capture.h"
#include "test.h"
#include "util/settings_int.h"

#define README ASTROLAB_TESTS_DIR "/../README.md"

/* The setting called `name`, or false. */
static bool find(const char *name, al_setting_info *out)
{
    for (int i = 0; i < al_setting_count(); i++)
        if (al_setting_get(i, out) == AL_OK && strcmp(out->name, name) == 0)
            return true;
    return false;
}

TEST(test_every_setting_is_named_once_with_meaning_and_documentation)
{
    int n = al_setting_count();
    CHECK(n >= 14);
    CHECK_EQ_INT(n, ALI_SET_COUNT);
    for (int i = 0; i < n; i++) {
        al_setting_info s;
        CHECK_EQ_INT(al_setting_get(i, &s), AL_OK);
        CHECK(strncmp(s.name, "ASTROLAB_", 9) == 0);
        CHECK(s.meaning && *s.meaning);
        CHECK(s.documented && *s.documented);
        CHECK(s.default_value != NULL);
        CHECK(s.source != NULL);
        for (int j = 0; j < i; j++) {
            al_setting_info t;
            CHECK_EQ_INT(al_setting_get(j, &t), AL_OK);
            CHECK(strcmp(s.name, t.name) != 0);
        }
    }
    al_setting_info s;
    CHECK_EQ_INT(al_setting_get(-1, &s), AL_EINVAL);
    CHECK_EQ_INT(al_setting_get(n, &s), AL_EINVAL);
    CHECK_EQ_INT(al_setting_get(0, NULL), AL_EINVAL);
}

TEST(test_settings_documented_in_the_readme_are_in_it)
{
    char *readme = test_slurp(README);
    CHECK(readme != NULL);
    if (!readme)
        return;
    for (int i = 0; i < al_setting_count(); i++) {
        al_setting_info s;
        CHECK_EQ_INT(al_setting_get(i, &s), AL_OK);
        if (strcmp(s.documented, "README.md") != 0)
            continue;
        char row[96];
        snprintf(row, sizeof row, "`%s`", s.name);
        if (!strstr(readme, row))
            printf("  %s is not in README.md\n", s.name);
        CHECK(strstr(readme, row) != NULL);
    }
    free(readme);
}

TEST(test_values_come_from_the_default_the_environment_or_the_api)
{
    al_diagnosis_thresholds saved;
    CHECK_EQ_INT(al_diagnosis_get_thresholds(&saved), AL_OK);
    al_setting_info s;

    unsetenv("ASTROLAB_MEMORY_WARN_MB");
    ali_settings_reload();
    CHECK(find("ASTROLAB_MEMORY_WARN_MB", &s));
    CHECK(strcmp(s.source, "default") == 0);
    CHECK(strcmp(s.value, "500") == 0);
    CHECK(strcmp(s.default_value, "500") == 0);

    setenv("ASTROLAB_MEMORY_WARN_MB", "100", 1);
    ali_settings_reload();
    CHECK(find("ASTROLAB_MEMORY_WARN_MB", &s));
    CHECK(strcmp(s.source, "environment") == 0);
    CHECK(strcmp(s.value, "100") == 0);
    CHECK_EQ_INT(ali_setting_int(ALI_SET_MEMORY_WARN_MB), 100);

    /* A refused value is reported once, and the default stays in force. */
    capture_only("astrolab.memory", AL_LOG_WARNING);
    setenv("ASTROLAB_MEMORY_WARN_MB", "lots", 1);
    ali_settings_reload();
    capture_end();
    CHECK_EQ_INT(log_warnings, 1);
    CHECK(captured("ASTROLAB_MEMORY_WARN_MB=\"lots\""));
    CHECK(find("ASTROLAB_MEMORY_WARN_MB", &s));
    CHECK(strcmp(s.source, "default") == 0);
    CHECK(strcmp(s.value, "500") == 0);
    CHECK_EQ_INT(ali_setting_int(ALI_SET_MEMORY_WARN_MB), 500);
    CHECK(ali_setting_text(ALI_SET_MEMORY_WARN_MB) == NULL);
    unsetenv("ASTROLAB_MEMORY_WARN_MB");
    ali_settings_reload();

    /* A choice is checked against its list, in any case. */
    setenv("ASTROLAB_CUDA_BACKEND", "SIM", 1);
    ali_settings_reload();
    CHECK(strcmp(ali_setting_choice(ALI_SET_CUDA_BACKEND), "SIM") == 0);
    capture_only("astrolab.cuda", AL_LOG_WARNING);
    setenv("ASTROLAB_CUDA_BACKEND", "gpu", 1);
    ali_settings_reload();
    capture_end();
    CHECK_EQ_INT(log_warnings, 1);
    CHECK(strcmp(ali_setting_choice(ALI_SET_CUDA_BACKEND), "auto") == 0);
    unsetenv("ASTROLAB_CUDA_BACKEND");
    ali_settings_reload();

    /* The API's value, in the setting's unit. */
    al_diagnosis_thresholds t = saved;
    t.memory_bytes = 64ull * 1024 * 1024;
    CHECK_EQ_INT(al_diagnosis_set_thresholds(&t), AL_OK);
    CHECK(find("ASTROLAB_MEMORY_WARN_MB", &s));
    CHECK(strcmp(s.source, "api") == 0);
    CHECK(strcmp(s.value, "64") == 0);
    CHECK_EQ_INT(al_diagnosis_set_thresholds(&saved), AL_OK);
}

TEST_MAIN()
