/* The astrolab command-line tool: the subcommand table's entry type, exit codes, and the small
 * helpers the subcommands share (option errors, human sizes, JSON output, progress lines).
 * Only the CLI writes to stdout and stderr and chooses exit codes; the library never does. */
#ifndef ASTROLAB_CLI_H
#define ASTROLAB_CLI_H

#include <stdbool.h> /* bool */
#include <stddef.h>  /* size_t */
#include <stdint.h>  /* uint64_t */

#include <cjson/cJSON.h> /* cli_print_json */

#include "astrolab/defs.h" /* AL_PRINTF */

/* -------- Exit codes: the same for every subcommand. -------- */
enum {
    CLI_EXIT_OK = 0,      /* done */
    CLI_EXIT_FAILURE = 1, /* the work failed (I/O, out of memory, a self-check) */
    CLI_EXIT_USAGE = 2,   /* bad command line: unknown command or option, missing argument */
};

/* -------- Subcommands: one entry per command in astrolab.c's table. --------
 * `run` gets argv with argv[0] the subcommand's name ("status"); it parses its own options and
 * returns an exit code. `--help` of every subcommand prints `usage` and `help` on stdout. */
typedef struct cli_command {
    const char *name;    /* "status" */
    const char *usage;   /* arguments after the name: "[--json]" */
    const char *summary; /* one line for `astrolab --help` */
    const char *help;    /* the paragraph `astrolab NAME --help` prints below the usage line */
    int (*run)(int argc, char **argv);
} cli_command;

int cmd_status(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_run(int argc, char **argv);

/* tools/run_program.c: the kind of program `run` was given, found along PATH as execvp does;
 * for static programs and scripts, `note` (len bytes) says what that means for the report. */
typedef enum run_program_kind {
    RUN_PROGRAM_UNKNOWN, /* not found, unreadable, or neither ELF nor script */
    RUN_PROGRAM_DYNAMIC, /* an ELF with a dynamic loader: tracked */
    RUN_PROGRAM_STATIC,  /* an ELF without one: untracked */
    RUN_PROGRAM_SCRIPT,  /* "#!": the interpreter runs */
} run_program_kind;
run_program_kind run_program_inspect(const char *name, char *note, size_t len);
/* tools/run_summary.c: the text summary of a run report, on stderr. */
void run_print_summary(const cJSON *doc, const char *program);
void run_print_children(const cJSON *doc, const char *program);
/* Names the --wrapper and --own values that matched nothing in the program or any process it
 * started (the reports' `unused_wrappers`, `unused_own`): a misspelt name does nothing. */
void run_print_unused(const cJSON *doc);
/* A number member of o (0 when absent). */
double run_num(const cJSON *o, const char *key);
int cmd_survey(int argc, char **argv);

int cmd_report(int argc, char **argv);

/* The table entry for `name`, or NULL. */
const cli_command *cli_find_command(const char *name);
/* Prints "usage: astrolab NAME USAGE" and the command's help to stdout. */
void cli_print_command_help(const cli_command *cmd);

/* -------- Option parsing shared by the subcommands. -------- */

/* Options every report command knows. */
typedef struct cli_common_opts {
    bool json; /* --json: one JSON document on stdout */
    bool help; /* -h, --help */
} cli_common_opts;

/* Parses argv (argv[0] the subcommand name) for --json and --help only; any other option or
 * argument is reported on stderr, naming it, with a hint. Returns CLI_EXIT_OK or
 * CLI_EXIT_USAGE. */
int cli_parse_common(int argc, char **argv, cli_common_opts *out);

/* Parses `text`, the value of option `opt` (for messages: "-n", "--hdu", "--ui port"), as a
 * decimal integer in min..max: digits only, with a leading '-' only when min < 0; no blanks,
 * '+', empty text or overflow. Every number on the command line goes through here. Returns
 * CLI_EXIT_OK with *out set, or CLI_EXIT_USAGE (reported for cmd, naming opt, text, range). */
int cli_parse_int(const char *cmd, const char *opt, const char *text, int64_t min, int64_t max,
                  int64_t *out);

/* Prints "astrolab CMD: MESSAGE" and "Try 'astrolab CMD --help'." on stderr and returns
 * CLI_EXIT_USAGE. `cmd` may be NULL for the top level. */
int cli_usage_error(const char *cmd, const char *fmt, ...) AL_PRINTF(2, 3);

/* Prints "astrolab CMD: error: MESSAGE" on stderr and returns CLI_EXIT_FAILURE. */
int cli_fail(const char *cmd, const char *fmt, ...) AL_PRINTF(2, 3);
/* Path of the preload library of `astrolab run`: $ASTROLAB_PRELOAD_LIB, beside this executable
 * (the build tree), the installed tree relative to this executable (a relocated install), or
 * the configured installed path. Returns 0, or -1 when none is readable. */
int cli_find_preload(char *out, size_t len);

/* Parses --ui's "PORT", "HOST:PORT" or "[V6]:PORT" into host (NULL: the default, loopback;
 * else a copy in `host`) and port. Returns CLI_EXIT_OK or CLI_EXIT_USAGE (reported for cmd). */
int cli_parse_ui_address(const char *cmd, const char *arg, char *host, size_t hostlen,
                         const char **host_out, uint16_t *port);

/* Writes the n bytes at text to stdout and flushes it. Returns CLI_EXIT_OK, or
 * CLI_EXIT_FAILURE (reported for cmd) when stdout cannot take them (a full disk, a closed pipe). */
int cli_write_stdout(const char *cmd, const char *text, size_t n);

/* Prints "  TEXT" and a newline on stdout, unless quiet (a --json run). */
void cli_note(bool quiet, const char *fmt, ...) AL_PRINTF(2, 3);

/* -------- Formatting. -------- */

/* "512 bytes", "1.5 KiB", "12 MiB" (al_format_bytes) into buf; returns buf. */
const char *cli_format_bytes(uint64_t bytes, char *buf, size_t len);
/* "1,234,567" (al_format_count) into buf; returns buf. */
const char *cli_format_count(uint64_t n, char *buf, size_t len);
/* "850 ns", "12.4 us", "3.21 ms", "1.52 s" into buf; returns buf. */
const char *cli_format_duration(uint64_t ns, char *buf, size_t len);

/* Prints `doc` indented, with a final newline, on stdout and deletes it, written as the library
 * writes its own (al_json_format: valid UTF-8, exact numbers read as doubles). Numbers the CLI
 * computes go in with cli_json_add_double, which cJSON would round. Nothing is written unless
 * all of it is ready. Returns CLI_EXIT_OK, or CLI_EXIT_FAILURE (reported) when doc is NULL,
 * printing runs out of memory or stdout cannot be written. */
int cli_print_json(const char *cmd, cJSON *doc);
/* As cli_print_json for a JSON report of the library (freed here with free()), indented. */
int cli_print_json_report(const char *cmd, char *json);
/* As cli_print_json for a document printed already (freed here with free()), written as it is:
 * for one whose numbers must not pass through a double. */
int cli_print_json_text(const char *cmd, char *text);
/* The JSON document in the file at path (a report of `astrolab run`), parsed; the caller
 * deletes it. NULL when the file cannot be read, is not JSON, or out of memory. */
cJSON *cli_read_json_file(const char *path);

/* Adds `text` (a JSON document produced by the library; freed here with free()) to `parent`
 * under `key`, as it is. Returns false when text is NULL or out of memory. */
bool cli_json_add_raw(cJSON *parent, const char *key, char *text);
/* Adds v under `key` in its shortest exact text (null when not finite); false when out of
 * memory. */
bool cli_json_add_double(cJSON *parent, const char *key, double v);

/* -------- Progress on a terminal (progress.c). --------
 * A one-line progress bar on stderr, redrawn at most every 100 ms, shown only when stderr is a
 * terminal (and ASTROLAB_NO_PROGRESS is unset), so pipes and logs never see it. */
typedef struct cli_progress {
    const char *label;  /* borrowed: must outlive the progress */
    uint64_t total;     /* units of work; 0: unknown (a counter instead of a bar) */
    uint64_t done;      /* units finished */
    uint64_t last_draw; /* monotonic ns of the last redraw */
    bool enabled;       /* stderr is a terminal */
    bool drawn;         /* something is on the line that end() must clear */
} cli_progress;

void cli_progress_begin(cli_progress *p, const char *label, uint64_t total);
/* Sets the units done so far and redraws when due. */
void cli_progress_update(cli_progress *p, uint64_t done);
/* Clears the line. */
void cli_progress_end(cli_progress *p);

#endif
