/* Partitioned survey loads (al_survey_options.csv_byte_start/stop, csv_types, null_masks,
 * al_survey_set_file_rows): the pieces <astrolab/mpi.h> builds on, tested without MPI. Parts
 * of a file, loaded one by one and concatenated, must equal the load of the whole file. */
#include "test.h"

#define tmp_path test_tmp_path

static const char *write_file(const char *name, const char *text)
{
    const char *p = tmp_path(name);
    FILE *f = fopen(p, "w");
    if (!f)
        return NULL;
    fputs(text, f);
    fclose(f);
    return p;
}

/* Quoted fields with newlines, commas and doubled quotes, a blank line, missing values. */
static const char csv_text[] = "id,name,val,flag\n"
                               "1,\"a\nb\",1.5,true\n"
                               "2,\"c,\"\"d\"\"\n\n\",NA,false\n"
                               "\n"
                               "3,plain,2,true\n"
                               "4,\"\n\",3.25,\n"
                               "5,\"x\ny\nz\",-4,false\n";

/* Offsets where records (or the blank line) start, after the header. */
static int record_starts(int64_t *out)
{
    int n = 0, in = 0;
    size_t len = strlen(csv_text);
    for (size_t i = 0; i < len; i++) {
        if (csv_text[i] == '"')
            in = !in;
        else if (csv_text[i] == '\n' && !in && i + 1 < len)
            out[n++] = (int64_t)i + 1;
    }
    return n; /* out[0] is the first record after the header */
}

/* True when the tensors of `a` then `b` hold, byte for byte, the tensor `key` of `whole`. */
static int concat_equal(const al_tensordict *whole, const al_tensordict *a, const al_tensordict *b,
                        const char *key)
{
    const al_tensor *w = al_tensordict_borrow(whole, key), *x = al_tensordict_borrow(a, key),
                    *y = al_tensordict_borrow(b, key);
    if (!w || !x || !y || al_tensor_dtype(w) != al_tensor_dtype(x) ||
        al_tensor_dtype(w) != al_tensor_dtype(y) ||
        al_tensor_itemsize(w) != al_tensor_itemsize(x) ||
        al_tensor_itemsize(w) != al_tensor_itemsize(y))
        return 0;
    uint64_t nx = al_tensor_nbytes(x), ny = al_tensor_nbytes(y);
    if (nx + ny != al_tensor_nbytes(w))
        return 0;
    const char *wd = al_tensor_data(w);
    return (!nx || memcmp(wd, al_tensor_data(x), nx) == 0) &&
           (!ny || memcmp(wd + nx, al_tensor_data(y), ny) == 0);
}

TEST(test_csv_byte_ranges_split_at_every_record_concatenate_to_the_whole)
{
    const char *path = write_file("quoted.csv", csv_text);
    al_error err;
    al_survey_options o;
    al_survey_options_init(&o);
    o.null_masks = 1;
    al_tensordict *whole = al_survey_load(path, &o, &err);
    CHECK(whole != NULL);
    CHECK_EQ_INT(al_tensordict_batch_size(whole), 5);
    /* The types each part must read as: the whole file's. */
    al_survey_csv_type types[4] = {{1, AL_DTYPE_INT64, 0},
                                   {1, AL_DTYPE_STRING,
                                    al_tensor_itemsize(al_tensordict_borrow(whole, "name"))},
                                   {1, AL_DTYPE_FLOAT64, 0},
                                   {1, AL_DTYPE_BOOL, 0}};
    o.csv_types = types;
    int64_t starts[16];
    int n = record_starts(starts);
    CHECK_EQ_INT(n, 6);
    for (int k = 0; k <= n && whole; k++) {
        int64_t cut = k < n ? starts[k] : (int64_t)strlen(csv_text);
        o.csv_byte_start = 0, o.csv_byte_stop = cut;
        al_tensordict *a = al_survey_load(path, &o, &err);
        o.csv_byte_start = cut, o.csv_byte_stop = -1;
        al_tensordict *b = al_survey_load(path, &o, &err);
        CHECK(a && b);
        if (a && b) {
            CHECK_EQ_INT(al_tensordict_len(a), al_tensordict_len(whole));
            CHECK_EQ_INT(al_tensordict_len(b), al_tensordict_len(whole));
            const char *keys[] = {"id", "name", "val", "flag", "_null.id", "_null.flag"};
            for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
                if (!concat_equal(whole, a, b, keys[i])) {
                    fprintf(stderr, "  cut at %lld: column %s differs\n", (long long)cut, keys[i]);
                    CHECK(0);
                }
        }
        al_survey_free(a);
        al_survey_free(b);
    }
    al_survey_free(whole);
}

TEST(test_csv_byte_start_inside_the_header_starts_at_the_first_record)
{
    const char *path = write_file("hdr.csv", csv_text);
    al_error err;
    al_survey_options o;
    al_survey_options_init(&o);
    o.csv_byte_start = 3;
    al_tensordict *td = al_survey_load(path, &o, &err);
    CHECK(td && al_tensordict_batch_size(td) == 5);
    al_survey_free(td);
    o.csv_byte_start = 0, o.csv_byte_stop = 5; /* ends inside the header: no rows */
    td = al_survey_load(path, &o, &err);
    CHECK(td && al_tensordict_batch_size(td) == 0);
    al_survey_free(td);
}

TEST(test_fixed_csv_types_are_kept_and_a_misfit_value_is_an_error)
{
    const char *path = write_file("fixed.csv", "a,b\n1,2\n3,x\n");
    al_error err;
    al_survey_options o;
    al_survey_options_init(&o);
    al_survey_csv_type t[2] = {{1, AL_DTYPE_STRING, 6}, {0, AL_DTYPE_BOOL, 0}};
    o.csv_types = t;
    al_tensordict *td = al_survey_load(path, &o, &err);
    CHECK(td != NULL);
    if (td) {
        const al_tensor *a = al_tensordict_borrow(td, "a");
        CHECK(al_tensor_dtype(a) == AL_DTYPE_STRING && al_tensor_itemsize(a) == 6);
        CHECK(al_tensor_dtype(al_tensordict_borrow(td, "b")) == AL_DTYPE_STRING);
    }
    al_survey_free(td);
    t[1] = (al_survey_csv_type){1, AL_DTYPE_INT64, 0};
    CHECK(al_survey_load(path, &o, &err) == NULL);
    CHECK_EQ_INT(err.code, AL_EFORMAT);
    t[1] = (al_survey_csv_type){1, AL_DTYPE_INT16, 0};
    CHECK(al_survey_load(path, &o, &err) == NULL);
    CHECK_EQ_INT(err.code, AL_EINVAL);
}

TEST(test_null_masks_appear_for_non_float_columns_only)
{
    const char *path = write_file("masks.csv", "i,f,s\n1,2.5,x\n2,3.5,y\n");
    al_error err;
    al_survey_options o;
    al_survey_options_init(&o);
    o.null_masks = 1;
    al_tensordict *td = al_survey_load(path, &o, &err);
    CHECK(td != NULL);
    if (td) {
        const al_tensor *m = al_survey_null_mask(td, "i");
        CHECK(m && al_tensor_numel(m) == 2 && ((const uint8_t *)al_tensor_data(m))[1] == 0);
        CHECK(al_survey_null_mask(td, "s") != NULL);
        CHECK(al_survey_null_mask(td, "f") == NULL);
        CHECK(al_survey_set_file_rows(td, 77) == AL_OK);
        CHECK_EQ_INT(al_survey_info(td)->file_rows, 77);
        CHECK(al_survey_set_file_rows(td, -1) == AL_EINVAL);
    }
    al_survey_free(td);
}

TEST(test_a_column_widened_to_string_in_a_byte_range_rereads_only_its_rows)
{
    const char *path = write_file("widen.csv", "a,b\n1,true\n2,false\n3,-0\n4,x\n");
    al_error err;
    al_survey_options o;
    al_survey_options_init(&o);
    o.csv_byte_start = 11; /* "2,false" */
    al_tensordict *td = al_survey_load(path, &o, &err);
    CHECK(td && al_tensordict_batch_size(td) == 3);
    const al_tensor *b = td ? al_tensordict_borrow(td, "b") : NULL;
    CHECK(b && al_tensor_dtype(b) == AL_DTYPE_STRING);
    const char *want[] = {"false", "-0", "x"};
    for (int64_t i = 0; b && i < 3; i++) {
        char buf[16];
        CHECK(al_tensor_get_string(b, &i, buf, sizeof buf, NULL) == AL_OK);
        CHECK_EQ_STR(buf, want[i]);
    }
    al_survey_free(td);
}

TEST(test_byte_ranges_of_a_fits_file_are_refused)
{
    const char *path = tmp_path("t.fits");
    al_error err;
    al_tensordict *td = al_survey_load(write_file("src.csv", "a\n1\n2\n"), NULL, &err);
    CHECK(td && al_survey_save_fits(td, path, NULL, &err) == AL_OK);
    al_survey_free(td);
    al_survey_options o;
    al_survey_options_init(&o);
    o.csv_byte_start = 10;
    CHECK(al_survey_load(path, &o, &err) == NULL);
    CHECK_EQ_INT(err.code, AL_EINVAL);
    o.csv_byte_start = 8, o.csv_byte_stop = 4;
    CHECK(al_survey_load(path, &o, &err) == NULL);
    CHECK_EQ_INT(err.code, AL_EINVAL);
}

TEST_MAIN()
