/* The astrolab command-line tool: the subcommand table, top-level options (--help, --version)
 * and dispatch. Each subcommand lives in its own tools/cmd_<name>.c; the helpers they share are
 * in cli_util.c and progress.c. */
#include <stdio.h>
#include <string.h>

#include "astrolab/astrolab.h"
#include "cli.h"

#define SURVEY_HELP                                                                                \
    "Loads a catalog (a FITS binary or ASCII table, or CSV) into a tensordict and:\n"              \
    "  info      lists its columns with dtype, shape, unit, role and missing values, the\n"        \
    "            rows, the survey recognised and memory_info\n"                                    \
    "  head      prints the first rows (-n ROWS, default 10; --columns a,b) as a table, or\n"      \
    "            with --json as {\"columns\": [...], \"rows\": [[...], ...]}, NaN as null\n"       \
    "  optimize  runs the lossless memory optimization and prints its report; -o OUT.fits\n"       \
    "            writes the optimized catalog back\n"                                              \
    "  --hdu N|NAME  the table HDU: N counts as CFITSIO's file.fits[N] (0 the primary), or\n"      \
    "                an EXTNAME; default the first table\n"                                        \
    "  --raw         FITS strings byte for byte (NULs and trailing blanks kept); optimize\n"       \
    "                always reads them so, to write every byte back\n"                             \
    "  --json        one JSON document on stdout"

static int help_command(int argc, char **argv);

/* Every command listed here works; a new one is one line here plus its tools/cmd_<name>.c. */
static const cli_command commands[] = {
    {"status", "[--json]", "show process and machine memory, CPUs, OS and library versions",
     "Prints the process's resident set size and its peak, the machine's RAM total and\n"
     "available, the CPU count, host, OS and the versions of the linked libraries.\n"
     "  --json    one JSON object: host, os, cpus, ram_total_bytes, ram_available_bytes,\n"
     "            rss_bytes, peak_rss_bytes, versions, cuda",
     cmd_status},
    {"demo", "[--json] [--ui [HOST:]PORT]",
     "run a catalog workload through the memory manager and report it",
     "Builds a synthetic Gaia-like star catalog in named scopes, selects from it, cross-matches\n"
     "it with a deliberate leak that its scope reclaims, builds a registered cache that a\n"
     "forced cleanup releases, and ends with the diagnosis of its own run. Each stage prints\n"
     "the memory statistics and its scope report. Deterministic: a fixed-seed generator.\n"
     "  --json    one JSON document with every stage\n"
     "  --ui [HOST:]PORT  serve the live dashboard (127.0.0.1 unless HOST is given; PORT 0:\n"
     "            any free port) while it runs, print its URL with the action token on\n"
     "            stderr, and keep it up after the run until interrupted (Ctrl-C)",
     cmd_demo},
    {"run",
     "[--report FILE.json] [--ui [HOST:]PORT] [--error-exitcode N] [--fail-after N] "
     "[--wrapper NAME] [--own OBJECT] [--folded FILE] [--pprof FILE] [--html FILE] "
     "[--suppressions FILE] [--sample-bytes N] [--stacks all|sampled] -- PROGRAM ARGS...",
     "run an unmodified program with its malloc family tracked; report leaks at exit",
     "Runs PROGRAM with the preload library routing malloc, calloc, realloc, free,\n"
     "posix_memalign, aligned_alloc, memalign, valloc, pvalloc, malloc_usable_size, strdup and\n"
     "strndup through the memory manager. At exit prints the statistics, the peak, the blocks\n"
     "still live grouped by call site (function, file:line; largest first) and the\n"
     "recommendations, on stderr. The exit status is the program's (128+N when killed by\n"
     "signal N). SIGTERM, SIGHUP, SIGINT and SIGQUIT sent to astrolab go on to PROGRAM.\n"
     "ASTROLAB_FAIL_AFTER in the environment is not passed on (use --fail-after).\n"
     "  --report FILE.json    also keep the JSON report: stats, leaks, recommendations (the\n"
     "                        path is fixed before PROGRAM starts; an old FILE is replaced\n"
     "                        only by a complete new report); under MPI (mpirun, srun) each\n"
     "                        rank writes FILE.<rank>.json: see 'astrolab report merge'\n"
     "  --ui [HOST:]PORT      serve the live dashboard from inside PROGRAM while it runs: the\n"
     "                        address is bound before PROGRAM starts and handed to it (PORT 0:\n"
     "                        a free one, printed in the URL); HOST defaults to 127.0.0.1\n"
     "  --error-exitcode N    exit N (1-255) when misuses were caught (double or invalid\n"
     "                        frees, overwritten guards), as valgrind's option does\n"
     "  --fail-after N        make PROGRAM's N-th allocation fail (fault injection)\n"
     "  --wrapper NAME        treat function NAME as an allocation wrapper (repeatable): its\n"
     "                        allocations are filed under its caller, as those of wrappers\n"
     "                        found automatically (small functions named *alloc*, *strdup*)\n"
     "  --own OBJECT          count frames in OBJECT (a library: libastrometry.so.0, or a\n"
     "                        LeakSanitizer pattern such as ^libastrometry) as the program's\n"
     "                        own (repeatable): its leaks are then listed, not summarized\n"
     "  --folded FILE         write the stacks live at the peak as folded stacks with their\n"
     "                        bytes (flamegraph.pl, speedscope)\n"
     "  --pprof FILE          write a gzipped pprof profile: alloc_objects, alloc_space,\n"
     "                        inuse_objects, inuse_space (go tool pprof, speedscope)\n"
     "  --html FILE           write one self-contained page (opens offline): flame graphs of\n"
     "                        the peak, the leaks and all allocations, the timeline, the tables\n"
     "  --suppressions FILE   LeakSanitizer's leak:PATTERN lines (repeatable): leaks they match\n"
     "                        are marked suppressed and summarized, as are those made\n"
     "                        entirely inside other libraries; the program's own are listed\n"
     "  --sample-bytes N      the full call stack of one allocation in every N bytes on average\n"
     "                        (byte-weighted Poisson sample, default 524288), scaled back to\n"
     "                        estimates marked as such; ASTROLAB_SAMPLE_SEED fixes the seed\n"
     "  --stacks all          the stack of every allocation, exact (unwinds each: slower);\n"
     "                        --stacks sampled is the default (--sample-bytes)\n"
     "Options take their value as the next argument or after '=' (--report=r.json); the\n"
     "files named must differ from one another.",
     cmd_run},
    {"report", "merge FILES... [--json]",
     "merge the per-rank reports of an MPI job into one view of the job",
     "Reads the reports 'astrolab run --report r.json' wrote under mpirun or srun, one per\n"
     "rank (r.<rank>.json), and prints the job's view: the rank with the highest peak, every\n"
     "leaked site (file:line, function) with its bytes and the ranks holding it, leaks on\n"
     "every rank told apart from leaks on some ranks, and recommendations naming ranks.\n"
     "  --json    one JSON object, the shape of al_mpi_diagnosis_json: ranks, peak_rank,\n"
     "            peak_bytes, per_rank, sites (with ranks and on_every_rank), recommendations",
     cmd_report},
    {"survey", "info|head|optimize FILE [--hdu N|NAME] [--json]",
     "show, print or optimize a FITS or CSV star catalog", SURVEY_HELP, cmd_survey},
    {"help", "[COMMAND]", "show this help, or a command's",
     "Without COMMAND, lists the commands; with one, prints its usage and options, as\n"
     "'astrolab COMMAND --help' does.",
     help_command},
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

const cli_command *cli_find_command(const char *name)
{
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

void cli_print_command_help(const cli_command *cmd)
{
    printf("usage: astrolab %s %s\n\n%s\n\n%s\n", cmd->name, cmd->usage, cmd->summary, cmd->help);
}

/* The command table is two columns, names and summaries; the usage lines, too long for a
 * column (run's is 60 characters), are in each command's own --help. */
static void print_usage(FILE *f)
{
    fprintf(f, "usage: astrolab [--help] [--version] COMMAND [ARGS...]\n\n"
               "AstroLab: one memory manager for astronomy and other data-heavy C programs.\n\n"
               "Commands:\n");
    int width = 0;
    for (size_t i = 0; i < N_COMMANDS; i++)
        if ((int)strlen(commands[i].name) > width)
            width = (int)strlen(commands[i].name);
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(f, "  %-*s  %s\n", width, commands[i].name, commands[i].summary);
    fprintf(f, "\nOptions:\n"
               "  -h, --help     show this help and exit\n"
               "  -V, --version  show the version and the linked libraries' versions and exit\n"
               "\nRun 'astrolab COMMAND --help' for a command's options.\n"
               "Exit status: 0 success, 1 failure, 2 bad command line.\n");
}

static int print_version(void)
{
    char libs[512];
    printf("astrolab %s\nlibraries: %s\n", al_version(), al_library_versions(libs, sizeof libs));
    return CLI_EXIT_OK;
}

/* `astrolab help [COMMAND]`; argv[0] is "help". */
static int help_command(int argc, char **argv)
{
    if (argc < 2) {
        print_usage(stdout);
        return CLI_EXIT_OK;
    }
    if (argc > 2)
        return cli_usage_error("help", "too many arguments: '%s'", argv[2]);
    const char *name = argv[1];
    if (strcmp(name, "-h") == 0 || strcmp(name, "--help") == 0)
        name = "help";
    const cli_command *cmd = cli_find_command(name);
    if (!cmd)
        return cli_usage_error(NULL, "unknown command '%s'", name);
    cli_print_command_help(cmd);
    return CLI_EXIT_OK;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        print_usage(stderr);
        return CLI_EXIT_USAGE;
    }
    const char *first = argv[1];
    if (strcmp(first, "-h") == 0 || strcmp(first, "--help") == 0)
        return help_command(1, argv + 1);
    if (strcmp(first, "-V") == 0 || strcmp(first, "--version") == 0)
        return print_version();
    if (first[0] == '-')
        return cli_usage_error(NULL, "unknown option '%s'", first);
    const cli_command *cmd = cli_find_command(first);
    if (!cmd)
        return cli_usage_error(NULL, "unknown command '%s'", first);
    return cmd->run(argc - 1, argv + 1);
}
