/* Tests of saving (src/survey/fits_write.c, fits_keep.c, src/util/outfile.c): an output file is
 * never damaged. A save over an existing file, the file it was loaded from included, leaves it
 * byte for byte as it was when the save is killed, runs out of disk or of memory, and keeps the
 * rest of the source (other HDUs, keywords) when it succeeds. A destination that is not a
 * regular file is refused untouched. */
#include <errno.h>
#include <fcntl.h>
#include <fitsio.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

/* -------- Files and their checksums -------- */

/* FNV-1a of the whole file, and its size; 0 when it cannot be read. */
static uint64_t file_sum(const char *path, off_t *size)
{
    if (size)
        *size = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    uint64_t h = 0xcbf29ce484222325ull;
    off_t n = 0;
    int c;
    while ((c = getc(f)) != EOF) {
        h = (h ^ (uint64_t)c) * 0x100000001b3ull;
        n++;
    }
    fclose(f);
    if (size)
        *size = n;
    return h;
}

/* Entries of directory `dir` whose names start with ".<base>.astrolab-" (temporary dirs). */
static int leftovers(const char *path)
{
    char cmd[1200];
    int n = snprintf(cmd, sizeof cmd,
                     "ls -A \"$(dirname '%s')\" | grep -c '^\\..*\\.astrolab-' >/dev/null", path);
    if (n < 0 || (size_t)n >= sizeof cmd) { /* a cut command would look in another folder */
        fprintf(stderr, "  leftovers: path too long: %s\n", path);
        return 1;
    }
    return system(cmd) == 0;
}

/* A catalog file of three HDUs: a primary with keywords, the table (rows of an int64 column
 * whose values fit in 16 bits, a float64 one that fits float32, a 16A name, with TDISP, a
 * column WCS keyword, COMMENT, HISTORY, a long string), and an image after it. */
static const char *write_catalog(const char *name, long rows)
{
    const char *path = test_tmp_path(name);
    unlink(path);
    fitsfile *f = NULL;
    int st = 0;
    fits_create_diskfile(&f, (char *)path, &st);
    long naxes0[1] = {0};
    fits_create_img(f, 8, 0, naxes0, &st);
    fits_write_key_str(f, "TELESCOP", "HIPPARCOS", "provenance", &st);
    fits_write_key_str(f, "OBSERVER", "test suite", NULL, &st);
    char *ttype[] = {"id", "flux", "name"};
    char *tform[] = {"1K", "1D", "16A"};
    char *tunit[] = {"", "Jy", ""};
    fits_create_tbl(f, BINARY_TBL, rows, 3, ttype, tform, tunit, "STARS", &st);
    fits_write_key_str(f, "TDISP2", "F10.4", "display of flux", &st);
    fits_write_key_str(f, "TUCD1", "meta.id", NULL, &st);
    fits_write_key_dbl(f, "EQUINOX", 2000.0, -6, "WCS equinox", &st);
    fits_write_key_longstr(f, "PROVNOTE",
                           "a provenance note far longer than one card can hold, so that "
                           "CFITSIO continues it on CONTINUE cards after the first one",
                           NULL, &st);
    fits_write_comment(f, "comment kept by optimize", &st);
    fits_write_history(f, "history kept by optimize", &st);
    long long *id = malloc((size_t)rows * sizeof *id);
    double *flux = malloc((size_t)rows * sizeof *flux);
    char **names = malloc((size_t)rows * sizeof *names);
    for (long r = 0; r < rows; r++) {
        id[r] = r * 300 % 30000;
        flux[r] = (double)(r % 1000) * 0.5;
        names[r] = r % 2 ? "Vega" : "Altair";
    }
    fits_write_col(f, TLONGLONG, 1, 1, 1, rows, id, &st);
    fits_write_col(f, TDOUBLE, 2, 1, 1, rows, flux, &st);
    fits_write_col(f, TSTRING, 3, 1, 1, rows, names, &st);
    long naxes[2] = {4, 3};
    short img[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    fits_create_img(f, SHORT_IMG, 2, naxes, &st);
    fits_write_key_str(f, "EXTNAME", "IMAGE", NULL, &st);
    fits_write_img(f, TSHORT, 1, 12, img, &st);
    fits_close_file(f, &st);
    free(id);
    free(flux);
    free(names);
    CHECK_EQ_INT(st, 0);
    return path;
}

/* The bytes of HDU `hdu` (1-based) of `path`, header and data, as a checksum. */
static uint64_t hdu_sum(const char *path, int hdu)
{
    fitsfile *f = NULL;
    int st = 0, type;
    LONGLONG head = 0, data = 0, end = 0;
    fits_open_diskfile(&f, (char *)path, READONLY, &st);
    fits_movabs_hdu(f, hdu, &type, &st);
    fits_get_hduaddrll(f, &head, &data, &end, &st);
    fits_close_file(f, &st);
    if (st)
        return 0;
    FILE *fp = fopen(path, "rb");
    uint64_t h = 0xcbf29ce484222325ull;
    fseeko(fp, (off_t)head, SEEK_SET);
    for (LONGLONG i = head; i < end; i++)
        h = (h ^ (uint64_t)getc(fp)) * 0x100000001b3ull;
    fclose(fp);
    return h;
}

static bool has_key(const char *path, int hdu, const char *key, char *value, size_t len)
{
    fitsfile *f = NULL;
    int st = 0, type;
    char card[FLEN_CARD] = "";
    fits_open_diskfile(&f, (char *)path, READONLY, &st);
    fits_movabs_hdu(f, hdu, &type, &st);
    fits_read_card(f, (char *)key, card, &st);
    int cst = 0;
    fits_close_file(f, &cst);
    fits_clear_errmsg();
    if (value)
        snprintf(value, len, "%s", card);
    return st == 0;
}

static int num_hdus(const char *path)
{
    fitsfile *f = NULL;
    int st = 0, n = 0;
    fits_open_diskfile(&f, (char *)path, READONLY, &st);
    fits_get_num_hdus(f, &n, &st);
    fits_close_file(f, &st);
    return st ? -1 : n;
}

static al_tensordict *load_optimized(const char *path)
{
    al_error err = {0};
    al_tensordict *td = al_survey_load(path, NULL, &err);
    CHECK(td != NULL);
    if (!td) {
        fprintf(stderr, "  load %s: %s\n", path, err.message);
        return NULL;
    }
    CHECK_EQ_INT(al_tensordict_optimize_memory(td, NULL, NULL), AL_OK);
    return td;
}

static const al_survey_save_options keep = {.overwrite = 1, .keep_source = 1};

/* -------- Keeping the rest of the source -------- */

TEST(test_save_over_source_keeps_other_hdus_and_keywords)
{
    const char *path = write_catalog("keep.fits", 100);
    uint64_t primary = hdu_sum(path, 1), image = hdu_sum(path, 3);
    al_tensordict *td = load_optimized(path);
    if (!td)
        return;
    CHECK_EQ_INT(al_tensor_dtype(al_tensordict_borrow(td, "id")), AL_DTYPE_INT16);
    al_error err = {0};
    CHECK_EQ_INT(al_survey_save_fits(td, path, &keep, &err), AL_OK);
    al_survey_free(td);
    CHECK_EQ_INT(num_hdus(path), 3);
    CHECK(hdu_sum(path, 1) == primary);
    CHECK(hdu_sum(path, 3) == image);
    char card[FLEN_CARD];
    CHECK(has_key(path, 2, "EXTNAME", card, sizeof card) && strstr(card, "STARS"));
    CHECK(has_key(path, 2, "TDISP2", card, sizeof card) && strstr(card, "F10.4"));
    CHECK(has_key(path, 2, "TUCD1", NULL, 0));
    CHECK(has_key(path, 2, "EQUINOX", NULL, 0));
    CHECK(has_key(path, 2, "PROVNOTE", NULL, 0));
    CHECK(has_key(path, 2, "TUNIT2", card, sizeof card) && strstr(card, "Jy"));
    CHECK(!has_key(path, 2, "SURVEY", NULL, 0)); /* not in the source: not invented */
    CHECK(has_key(path, 2, "TFORM1", card, sizeof card) && strstr(card, "1I"));
    /* The long string and the free text came along whole. */
    fitsfile *f = NULL;
    int st = 0, type;
    char *longstr = NULL;
    fits_open_diskfile(&f, (char *)path, READONLY, &st);
    fits_movabs_hdu(f, 2, &type, &st);
    fits_read_key_longstr(f, "PROVNOTE", &longstr, NULL, &st);
    CHECK(longstr && strstr(longstr, "CONTINUE cards after the first one"));
    fits_free_memory(longstr, &st);
    int nkeys = 0, comments = 0, history = 0;
    fits_get_hdrspace(f, &nkeys, NULL, &st);
    for (int i = 1; i <= nkeys; i++) {
        fits_read_record(f, i, card, &st);
        comments += strstr(card, "COMMENT comment kept by optimize") == card;
        history += strstr(card, "HISTORY history kept by optimize") == card;
    }
    fits_close_file(f, &st);
    CHECK_EQ_INT(comments, 1);
    CHECK_EQ_INT(history, 1);
    /* And the table reads back with its values. */
    td = al_survey_load(path, NULL, &err);
    CHECK(td != NULL);
    if (td) {
        CHECK_EQ_INT(al_tensordict_batch_size(td), 100);
        const al_tensor *id = al_tensordict_borrow(td, "id");
        CHECK(id && ((const int16_t *)al_tensor_data(id))[99] == 29700);
        al_survey_free(td);
    }
}

TEST(test_save_keeps_the_rest_of_a_gzipped_source)
{
    /* A compressed source's bytes are not the FITS file's: its HDUs go through CFITSIO. */
    const char *path = write_catalog("zipped.fits", 20);
    char cmd[1200], gz[600];
    snprintf(gz, sizeof gz, "%s.gz", path);
    snprintf(cmd, sizeof cmd, "gzip -c '%s' > '%s'", path, gz);
    CHECK_EQ_INT(system(cmd), 0);
    al_tensordict *td = load_optimized(gz);
    if (!td)
        return;
    const char *out = test_tmp_path("unzipped.fits");
    al_error err = {0};
    CHECK_EQ_INT(al_survey_save_fits(td, out, &keep, &err), AL_OK);
    al_survey_free(td);
    CHECK_EQ_INT(num_hdus(out), 3);
    CHECK(has_key(out, 1, "TELESCOP", NULL, 0));
    CHECK(has_key(out, 2, "TDISP2", NULL, 0) && has_key(out, 2, "PROVNOTE", NULL, 0));
    CHECK(has_key(out, 3, "EXTNAME", NULL, 0));
}

TEST(test_save_column_keywords_follow_their_column)
{
    const char *path = write_catalog("renumber.fits", 10);
    al_survey_options o;
    al_survey_options_init(&o);
    o.columns = (const char *[]){"flux", "id", NULL}; /* flux becomes column 1 */
    al_error err = {0};
    al_tensordict *td = al_survey_load(path, &o, &err);
    CHECK(td != NULL);
    if (!td)
        return;
    const char *out = test_tmp_path("renumbered.fits");
    CHECK_EQ_INT(al_survey_save_fits(td, out, &keep, &err), AL_OK);
    al_survey_free(td);
    char card[FLEN_CARD];
    CHECK(has_key(out, 2, "TDISP1", card, sizeof card) && strstr(card, "F10.4"));
    CHECK(!has_key(out, 2, "TDISP2", NULL, 0));
    CHECK(has_key(out, 2, "TUCD2", card, sizeof card) && strstr(card, "meta.id"));
    CHECK(!has_key(out, 2, "TUCD1", NULL, 0));
    CHECK(!has_key(out, 2, "TFORM3", NULL, 0)); /* the dropped name column left nothing */
}

/* The CSV `text` written as `name`, loaded; NULL (checked) when it does not load. */
static al_tensordict *load_csv(const char *name, const char *text)
{
    const char *csv = test_tmp_path(name);
    FILE *f = fopen(csv, "w");
    CHECK(f != NULL);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
    al_error err = {0};
    al_tensordict *td = al_survey_load(csv, NULL, &err);
    CHECK(td != NULL);
    return td;
}

TEST(test_save_keep_source_of_csv_is_refused)
{
    al_tensordict *td = load_csv("k.csv", "a,b\n1,2\n");
    if (!td)
        return;
    al_error err = {0};
    CHECK_EQ_INT(al_survey_save_fits(td, test_tmp_path("k.fits"), &keep, &err), AL_EINVAL);
    CHECK(strstr(err.message, "not loaded from a FITS table") != NULL);
    al_survey_free(td);
}

TEST(test_save_writes_names_byte_for_byte_and_refuses_long_ones)
{
    al_tensordict *td = load_csv("names.csv", "ANTENNA NO.,a\\b,x\n1,2,3\n");
    if (!td)
        return;
    al_error err = {0};
    const char *out = test_tmp_path("names.fits");
    CHECK_EQ_INT(al_survey_save_fits(td, out, NULL, &err), AL_OK);
    al_survey_free(td);
    char card[FLEN_CARD];
    CHECK(has_key(out, 2, "TTYPE1", card, sizeof card) && strstr(card, "'ANTENNA NO.'"));
    CHECK(has_key(out, 2, "TTYPE2", card, sizeof card) && strstr(card, "'a\\b "));
    /* A name longer than a FITS string holds is refused, not cut. */
    char long_name[80];
    snprintf(long_name, sizeof long_name, "%070d,b\n1,2\n", 0);
    if (!(td = load_csv("long.csv", long_name)))
        return;
    CHECK_EQ_INT(al_survey_save_fits(td, out, NULL, &err), AL_EINVAL);
    CHECK(strstr(err.message, "at most 68 characters") != NULL);
    al_survey_free(td);
    CHECK(has_key(out, 2, "TTYPE1", card, sizeof card) && strstr(card, "'ANTENNA NO.'"));
}

/* -------- The destination is never damaged -------- */

/* A save that cannot even start leaves `path` as it was, with no temporary left behind. */
static void check_refused(const char *path, const char *expect)
{
    const char *src = write_catalog("refuse-src.fits", 5);
    al_error err = {0};
    al_tensordict *td = al_survey_load(src, NULL, &err);
    CHECK(td != NULL);
    if (!td)
        return;
    struct stat before, after;
    CHECK_EQ_INT(lstat(path, &before), 0);
    int rc = al_survey_save_fits(td, path, NULL, &err);
    al_survey_free(td);
    CHECK(rc != AL_OK);
    CHECK(strstr(err.message, expect) != NULL);
    if (!strstr(err.message, expect))
        fprintf(stderr, "  %s: got '%s'\n", path, err.message);
    CHECK_EQ_INT(lstat(path, &after), 0);
    CHECK(before.st_ino == after.st_ino && before.st_mode == after.st_mode);
    CHECK(!leftovers(path));
}

TEST(test_save_refuses_a_destination_that_is_not_a_regular_file)
{
    const char *fifo = test_tmp_path("out.fifo");
    CHECK_EQ_INT(mkfifo(fifo, 0600), 0);
    check_refused(fifo, "is a FIFO, not a regular file");
    const char *target = test_tmp_path("target.fits");
    FILE *f = fopen(target, "w");
    fputs("precious", f);
    fclose(f);
    const char *link = test_tmp_path("link.fits");
    CHECK_EQ_INT(symlink(target, link), 0);
    check_refused(link, "is a symbolic link");
    CHECK(file_sum(target, NULL) != 0);
    const char *dir = test_tmp_path("adir.fits");
    CHECK_EQ_INT(mkdir(dir, 0700), 0);
    check_refused(dir, "is a directory");
    check_refused("/dev/null", "is a character device");
}

TEST(test_save_refuses_compressed_names_and_keeps_mode)
{
    const char *src = write_catalog("mode-src.fits", 5);
    al_error err = {0};
    al_tensordict *td = al_survey_load(src, NULL, &err);
    CHECK(td != NULL);
    if (!td)
        return;
    CHECK_EQ_INT(al_survey_save_fits(td, test_tmp_path("x.fits.gz"), NULL, &err), AL_EUNSUPPORTED);
    CHECK(strstr(err.message, "compress") != NULL);
    const char *out = test_tmp_path("mode.fits");
    FILE *f = fopen(out, "w");
    fclose(f);
    CHECK_EQ_INT(chmod(out, 0640), 0);
    CHECK_EQ_INT(al_survey_save_fits(td, out, NULL, &err), AL_OK);
    struct stat sb;
    CHECK_EQ_INT(stat(out, &sb), 0);
    CHECK_EQ_INT(sb.st_mode & 0777, 0640);
    CHECK(!leftovers(out));
    al_survey_save_options no = {.overwrite = 0};
    CHECK_EQ_INT(al_survey_save_fits(td, out, &no, &err), AL_EIO);
    CHECK(strstr(err.message, "exists") != NULL);
    al_survey_free(td);
}

TEST(test_save_in_place_under_every_allocation_failure_leaves_the_file)
{
    const char *path = write_catalog("fault.fits", 50);
    off_t size0 = 0;
    uint64_t sum0 = file_sum(path, &size0);
    al_tensordict *td = load_optimized(path);
    if (!td)
        return;
    uint64_t live = test_live_blocks();
    bool saved = false;
    for (uint64_t n = 1; n < 2000 && !saved; n++) {
        al_error err = {0};
        al_memory_fail_after(n, 0);
        int rc = al_survey_save_fits(td, path, &keep, &err);
        al_memory_fail_after(0, 0);
        if (rc == AL_OK) {
            saved = true;
            break;
        }
        CHECK_EQ_INT(rc, AL_ENOMEM);
        off_t size = 0;
        CHECK(file_sum(path, &size) == sum0 && size == size0);
        CHECK_EQ_INT(test_live_blocks(), live);
        CHECK(!leftovers(path));
    }
    CHECK(saved);
    CHECK_EQ_INT(num_hdus(path), 3);
    CHECK(has_key(path, 2, "TDISP2", NULL, 0) && has_key(path, 2, "PROVNOTE", NULL, 0));
    al_survey_free(td);
}

/* A table big enough that its save takes a while: rows of a 1 KiB string. */
static al_tensordict *big_table(int64_t rows)
{
    al_error err = {0};
    al_tensordict *td = al_tensordict_new(rows, AL_CPU, &err);
    al_tensor *t = al_tensor_new_string(1, (int64_t[]){rows}, 1024, AL_CPU, &err);
    if (!td || !t) {
        al_tensor_free(t);
        al_tensordict_free(td);
        return NULL;
    }
    memset(al_tensor_data(t), 'x', (size_t)rows * 1024);
    CHECK_EQ_INT(al_tensordict_set(td, "blob", t, 0, &err), AL_OK);
    al_tensor_free(t);
    return td;
}

/* Writes a small FITS file at `path` to stand for the user's old output. */
static uint64_t old_output(const char *path, off_t *size)
{
    const char *src = write_catalog("old-src.fits", 20);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", src, path);
    CHECK_EQ_INT(system(cmd), 0);
    return file_sum(path, size);
}

TEST(test_save_killed_mid_write_leaves_the_old_file)
{
    const char *path = test_tmp_path("killed.fits");
    off_t size0 = 0;
    uint64_t sum0 = old_output(path, &size0);
    for (int attempt = 0; attempt < 3; attempt++) {
        pid_t pid = fork();
        if (pid == 0) {
            al_tensordict *td = big_table(400000); /* 400 MiB to write */
            al_error err;
            _exit(td && al_survey_save_fits(td, path, NULL, &err) == AL_OK ? 0 : 1);
        }
        /* Kill it once its temporary file has grown past 1 MiB. */
        bool killed = false;
        for (int i = 0; i < 3000 && !killed; i++) {
            char cmd[1200];
            snprintf(cmd, sizeof cmd,
                     "find \"$(dirname '%s')\" -path '*.astrolab-*' -type f -size +1M | grep -q .",
                     path);
            if (system(cmd) == 0) {
                kill(pid, SIGKILL);
                killed = true;
            } else {
                usleep(10000);
            }
        }
        int status;
        waitpid(pid, &status, 0);
        CHECK(killed && WIFSIGNALED(status));
        off_t size = 0;
        CHECK(file_sum(path, &size) == sum0 && size == size0);
        char cmd[1200];
        snprintf(cmd, sizeof cmd, "rm -rf \"$(dirname '%s')\"/.killed.fits.astrolab-*", path);
        CHECK_EQ_INT(system(cmd), 0);
    }
}

/* In a child: RLIMIT_FSIZE stands in for a full disk (EFBIG) where no small file system can
 * be mounted; with a mount namespace, a real 2 MiB tmpfs gives ENOSPC. */
static int full_disk_child(const char *dir, bool tmpfs)
{
    if (tmpfs) {
        if (unshare(CLONE_NEWNS) != 0 || mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
            mount("tmpfs", dir, "tmpfs", 0, "size=2m") != 0)
            return 77;
    } else {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {1 << 20, 1 << 20};
        if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
            return 77;
    }
    char path[1200];
    snprintf(path, sizeof path, "%s/full.fits", dir);
    FILE *f = fopen(path, "w");
    if (!f)
        return 2;
    fputs("the old output, which must survive", f);
    fclose(f);
    uint64_t sum0 = file_sum(path, NULL);
    al_tensordict *td = big_table(4096); /* 4 MiB */
    al_error err = {0};
    int rc = td ? al_survey_save_fits(td, path, NULL, &err) : -1;
    al_tensordict_free(td);
    const char *reason = tmpfs ? "No space left on device" : "File too large";
    if (rc != AL_EIO || !strstr(err.message, reason)) {
        fprintf(stderr, "  full disk: rc %d, '%s'\n", rc, err.message);
        return 3;
    }
    if (file_sum(path, NULL) != sum0 || leftovers(path))
        return 4;
    return 0;
}

TEST(test_save_on_a_full_disk_says_so_and_keeps_the_old_file)
{
    const char *dir = test_tmp_path("small");
    CHECK_EQ_INT(mkdir(dir, 0700), 0);
    for (int tmpfs = 0; tmpfs < 2; tmpfs++) {
        pid_t pid = fork();
        if (pid == 0)
            _exit(full_disk_child(dir, tmpfs));
        int status;
        waitpid(pid, &status, 0);
        int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        if (code == 77 && tmpfs) {
            fprintf(stderr, "  (no mount namespace here: the tmpfs case did not run)\n");
            continue;
        }
        CHECK_EQ_INT(code, 0);
    }
}

TEST(test_leak_report_file_is_replaced_whole)
{
    const char *path = test_tmp_path("leaks.json");
    FILE *f = fopen(path, "w");
    fputs("old report", f);
    fclose(f);
    struct stat before, after;
    CHECK_EQ_INT(stat(path, &before), 0);
    CHECK_EQ_INT(al_leak_report(path), AL_OK);
    CHECK_EQ_INT(stat(path, &after), 0);
    CHECK(before.st_ino != after.st_ino); /* a new file renamed into place */
    char buf[64] = "";
    f = fopen(path, "r");
    CHECK(f && fgets(buf, sizeof buf, f) && buf[0] == '{');
    if (f)
        fclose(f);
    CHECK(!leftovers(path));
    const char *fifo = test_tmp_path("leaks.fifo");
    CHECK_EQ_INT(mkfifo(fifo, 0600), 0);
    CHECK_EQ_INT(al_leak_report(fifo), AL_EIO); /* refused, not opened (which would block) */
}

/* -------- Real files -------- */

/* Keyword names of HDU `hdu` of `path` without the structural ones, one per line. */
static int keyword_names(const char *path, int hdu, char names[][FLEN_KEYWORD], int max)
{
    fitsfile *f = NULL;
    int st = 0, type, nkeys = 0, n = 0;
    fits_open_diskfile(&f, (char *)path, READONLY, &st);
    fits_movabs_hdu(f, hdu, &type, &st);
    fits_get_hdrspace(f, &nkeys, NULL, &st);
    for (int i = 1; !st && i <= nkeys && n < max; i++) {
        char card[FLEN_CARD], k[FLEN_KEYWORD];
        int len;
        fits_read_record(f, i, card, &st);
        fits_get_keyname(card, k, &len, &st);
        static const char *const skip[] = {"XTENSION", "BITPIX", "NAXIS", "PCOUNT", "GCOUNT",
                                           "TFIELDS",  "TFORM",  "TTYPE", "TUNIT",  "TSCAL",
                                           "TZERO",    "TNULL",  "TDIM",  "TBCOL",  "CHECKSUM",
                                           "DATASUM",  "THEAP"};
        bool structural = false;
        for (size_t j = 0; j < sizeof skip / sizeof skip[0]; j++)
            structural |= strncmp(k, skip[j], strlen(skip[j])) == 0;
        if (!structural)
            snprintf(names[n++], FLEN_KEYWORD, "%s", k);
    }
    fits_close_file(f, &st);
    return st ? -1 : n;
}

/* Optimizes the first table of a copy of `src` in place, keeping the source; every other HDU
 * must keep its bytes and the table every keyword that is not the table's structure. */
static void check_real_file(const char *src)
{
    const char *path = test_copy_installed(src, "real.fits");
    if (!path)
        return;
    al_tensordict *td = load_optimized(path);
    if (!td)
        return;
    int hdu = al_survey_info(td)->hdu + 1, n = num_hdus(path);
    uint64_t sums[32] = {0};
    for (int h = 1; h <= n && h < 32; h++)
        sums[h] = h == hdu ? 0 : hdu_sum(path, h);
    static char before[1000][FLEN_KEYWORD], after[1000][FLEN_KEYWORD];
    int nb = keyword_names(path, hdu, before, 1000);
    al_error err = {0};
    CHECK_EQ_INT(al_survey_save_fits(td, path, &keep, &err), AL_OK);
    al_survey_free(td);
    CHECK_EQ_INT(num_hdus(path), n);
    for (int h = 1; h <= n && h < 32; h++)
        if (h != hdu && hdu_sum(path, h) != sums[h]) {
            fprintf(stderr, "  %s: HDU %d changed\n", src, h - 1);
            CHECK(false);
        }
    int na = keyword_names(path, hdu, after, 1000);
    for (int i = 0; i < nb; i++) {
        bool found = false;
        for (int j = 0; j < na && !found; j++)
            found = strcmp(before[i], after[j]) == 0;
        if (!found) {
            fprintf(stderr, "  %s: keyword %s lost\n", src, before[i]);
            CHECK(false);
        }
    }
    int st = 0, type, hok = 0, dok = 0;
    fitsfile *f = NULL;
    fits_open_diskfile(&f, (char *)path, READONLY, &st);
    fits_movabs_hdu(f, hdu, &type, &st);
    fits_verify_chksum(f, &dok, &hok, &st); /* 0: no checksum; 1: good; -1: wrong */
    fits_close_file(f, &st);
    CHECK(hok >= 0 && dok >= 0);
}

TEST(test_save_over_real_files_keeps_them)
{
    const char *astropy = "/usr/lib/python3/dist-packages/astropy/io/fits/tests/data/";
    const char *files[] = {"chandra_time.fits", "checksum.fits", "tdim.fits", "btable.fits",
                           "table.fits"};
    char path[512];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s%s", astropy, files[i]);
        check_real_file(path);
    }
    check_real_file("/usr/share/astrometry/index-tycho2-16.littleendian.fits");
}

int main(int argc, char **argv) { return test_main(argc, argv); }
