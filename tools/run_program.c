/* What kind of program `astrolab run` was given, told before it runs: a dynamically linked ELF
 * (the preload library reaches its malloc), a statically linked one (it cannot: the program
 * runs untracked), or a script (the interpreter is what runs, and its report is the
 * interpreter's). Found as execvp finds it, along PATH. */
#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

/* The file execvp would run for `name`, into path; false when none is found. */
static bool find_program(const char *name, char *path, size_t len)
{
    if (strchr(name, '/')) {
        snprintf(path, len, "%s", name);
        return access(path, X_OK) == 0;
    }
    const char *dirs = getenv("PATH");
    dirs = dirs && *dirs ? dirs : "/usr/local/bin:/usr/bin:/bin";
    for (const char *d = dirs; *d;) {
        const char *end = strchr(d, ':');
        size_t n = end ? (size_t)(end - d) : strlen(d);
        snprintf(path, len, "%.*s/%s", (int)(n ? n : 1), n ? d : ".", name);
        if (access(path, X_OK) == 0)
            return true;
        d += n + (end ? 1 : 0);
    }
    return false;
}

/* Has the 64- or 32-bit ELF file f a PT_INTERP header (a dynamic loader)? -1: not ELF. */
static int has_interp(FILE *f)
{
    unsigned char id[EI_NIDENT];
    if (fseek(f, 0, SEEK_SET) != 0 || fread(id, 1, sizeof id, f) != sizeof id ||
        memcmp(id, ELFMAG, SELFMAG) != 0)
        return -1;
    bool wide = id[EI_CLASS] == ELFCLASS64;
    Elf64_Ehdr e64;
    Elf32_Ehdr e32;
    if (fseek(f, 0, SEEK_SET) != 0 ||
        (wide ? fread(&e64, sizeof e64, 1, f) : fread(&e32, sizeof e32, 1, f)) != 1)
        return -1;
    uint64_t off = wide ? e64.e_phoff : e32.e_phoff;
    unsigned num = wide ? e64.e_phnum : e32.e_phnum;
    for (unsigned i = 0; i < num && i < 4096; i++) {
        uint32_t type;
        long at = (long)(off + (uint64_t)i * (wide ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr)));
        if (fseek(f, at, SEEK_SET) != 0 || fread(&type, sizeof type, 1, f) != 1)
            return -1;
        if (type == PT_INTERP)
            return 1;
    }
    return 0;
}

run_program_kind run_program_inspect(const char *name, char *note, size_t len)
{
    char path[4096];
    note[0] = '\0';
    if (!find_program(name, path, sizeof path))
        return RUN_PROGRAM_UNKNOWN; /* execvp will say why */
    FILE *f = fopen(path, "rb");
    if (!f)
        return RUN_PROGRAM_UNKNOWN;
    char line[256] = "";
    int interp = has_interp(f);
    if (interp < 0 && fseek(f, 0, SEEK_SET) == 0 && fgets(line, sizeof line, f))
        line[strcspn(line, "\r\n")] = '\0';
    fclose(f);
    if (interp == 0) {
        snprintf(note, len,
                 "%s is statically linked: the preload library cannot reach its malloc, so it "
                 "runs untracked and writes no report",
                 name);
        return RUN_PROGRAM_STATIC;
    }
    if (interp < 0 && strncmp(line, "#!", 2) == 0) {
        const char *i = line + 2 + strspn(line + 2, " \t");
        snprintf(note, len, "%s is a script for %s: the report is that interpreter's", name,
                 *i ? i : "/bin/sh");
        return RUN_PROGRAM_SCRIPT;
    }
    return interp > 0 ? RUN_PROGRAM_DYNAMIC : RUN_PROGRAM_UNKNOWN;
}
