/* A one-line progress indicator on stderr for long work, drawn only on a terminal. Kept tiny
 * and free of library calls so every subcommand (demo now; survey loads and `run` later) can
 * use it. Redraws are throttled to 10 per second: a tight loop may call update on every row. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#define BAR_WIDTH 30
#define REDRAW_NS 100000000ull

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void draw(cli_progress *p)
{
    if (p->total) {
        uint64_t done = p->done < p->total ? p->done : p->total;
        int filled = (int)(done * BAR_WIDTH / p->total);
        char bar[BAR_WIDTH + 1];
        for (int i = 0; i < BAR_WIDTH; i++)
            bar[i] = i < filled ? '#' : '.';
        bar[BAR_WIDTH] = '\0';
        fprintf(stderr, "\r%s [%s] %3d%%", p->label, bar, (int)(done * 100 / p->total));
    } else {
        fprintf(stderr, "\r%s %llu", p->label, (unsigned long long)p->done);
    }
    fflush(stderr);
    p->drawn = true;
    p->last_draw = now_ns();
}

void cli_progress_begin(cli_progress *p, const char *label, uint64_t total)
{
    const char *off = getenv("ASTROLAB_NO_PROGRESS");
    *p = (cli_progress){.label = label ? label : "", .total = total};
    p->enabled = isatty(STDERR_FILENO) && !(off && *off && *off != '0');
    if (p->enabled)
        draw(p);
}

void cli_progress_update(cli_progress *p, uint64_t done)
{
    p->done = done;
    if (p->enabled && now_ns() - p->last_draw >= REDRAW_NS)
        draw(p);
}

void cli_progress_end(cli_progress *p)
{
    if (p->enabled && p->drawn) {
        fputs("\r\033[K", stderr); /* erase the line: the report that follows starts clean */
        fflush(stderr);
    }
    p->drawn = false;
}
