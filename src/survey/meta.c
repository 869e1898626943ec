/* Survey metadata beside a tensordict: the survey name, the file it came from, and per column
 * the unit, role and stored format. Tensordicts carry no strings, so a process-wide table maps
 * each tensordict (held by a weak reference, so a freed one is noticed) to its metadata. The
 * records are bookkeeping, allocated with the C library's malloc so that they never show up as
 * the caller's live blocks; each stale record (its tensordict freed) is dropped on the next
 * call that walks the table. Role names are in columns.c; the JSON form in info.c. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "survey/survey_int.h"
#include "util/grow_int.h"

typedef struct meta_rec {
    al_weak *weak;       /* the tensordict, weakly */
    const void *td;      /* its address, compared only while weak is alive */
    al_survey_meta meta; /* strings below are malloc'd; columns is a malloc'd array */
    al_survey_column *cols;
    size_t cap;
    ali_nindex index; /* cols by key (untracked, as the records) */
    struct meta_rec *next;
} meta_rec;

static struct {
    pthread_mutex_t lock; /* guards head and every record */
    meta_rec *head;
} table = {PTHREAD_MUTEX_INITIALIZER, NULL};

static void rec_free(meta_rec *r)
{
    al_weak_release(r->weak);
    free((char *)r->meta.survey);
    free((char *)r->meta.path);
    free((char *)r->meta.extname);
    for (size_t i = 0; i < r->meta.n_columns; i++) {
        free((char *)r->cols[i].name);
        free((char *)r->cols[i].unit);
        free((char *)r->cols[i].role);
        free((char *)r->cols[i].format);
        free((char *)r->cols[i].key);
    }
    ali_nindex_free(&r->index);
    free(r->cols);
    free(r);
}

/* Drops stale records and returns the live one of td, or NULL. Needs the lock. */
static meta_rec *find_locked(const void *td, bool unlink_it)
{
    meta_rec **pp = &table.head;
    meta_rec *found = NULL;
    while (*pp) {
        meta_rec *r = *pp;
        void *obj = al_weak_get(r->weak);
        if (!obj || (unlink_it && obj == td)) {
            *pp = r->next;
            if (obj)
                found = r;
            else
                rec_free(r);
            continue;
        }
        if (obj == td)
            found = r;
        pp = &r->next;
    }
    return found;
}

/* A new record for td (not yet linked), or NULL when out of memory. */
static meta_rec *rec_new(const al_tensordict *td)
{
    meta_rec *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->index.untracked = true;
    r->td = td;
    r->meta.survey = strdup("");
    r->meta.path = strdup("");
    r->meta.format = "";
    r->meta.extname = strdup("");
    r->meta.hdu = -1;
    r->weak = al_weak_ref((void *)td);
    if (!r->weak || !r->meta.survey || !r->meta.path || !r->meta.extname) {
        rec_free(r);
        return NULL;
    }
    return r;
}

static void link_locked(meta_rec *r)
{
    meta_rec *old = find_locked(r->td, true);
    if (old)
        rec_free(old);
    r->next = table.head;
    table.head = r;
}

/* The column record of key[0..) in r, or NULL. */
static al_survey_column *rec_find(const meta_rec *r, const char *key)
{
    uint64_t h = ali_name_hash(key, strlen(key), false);
    size_t cursor = 0, pos1;
    while ((pos1 = ali_nindex_next(&r->index, h, &cursor)))
        if (strcmp(r->cols[pos1 - 1].key, key) == 0)
            return &r->cols[pos1 - 1];
    return NULL;
}

/* The column record of `key` (or, failing that, of the direct entry literally named so), or
 * NULL. */
static al_survey_column *rec_lookup(const meta_rec *r, const char *key)
{
    al_survey_column *c = rec_find(r, key);
    size_t n = al_tensordict_key_escape(key, NULL, 0);
    if (c || n == strlen(key))
        return c;
    char small[256], *esc = n < sizeof small ? small : malloc(n + 1);
    if (esc) {
        al_tensordict_key_escape(key, esc, n + 1);
        c = rec_find(r, esc);
    }
    if (esc != small)
        free(esc);
    return c;
}

/* The column record of `key` in r, appended when absent; NULL when out of memory. */
static al_survey_column *rec_column(meta_rec *r, const char *key)
{
    al_survey_column *found = rec_lookup(r, key);
    if (found)
        return found;
    if (r->meta.n_columns == r->cap) {
        size_t cap = 0;
        al_survey_column *c = ali_grow_cap(r->cap, r->meta.n_columns + 1, 8, sizeof *c, &cap)
                                  ? realloc(r->cols, cap * sizeof *c)
                                  : NULL;
        if (!c)
            return NULL;
        r->cols = c;
        r->cap = cap;
        r->meta.columns = c;
    }
    if (ali_nindex_reserve(&r->index, r->meta.n_columns + 1) != AL_OK)
        return NULL;
    al_survey_column *c = &r->cols[r->meta.n_columns];
    memset(c, 0, sizeof *c);
    size_t n = al_tensordict_key_name(key, NULL, 0);
    char *name = malloc(n + 1);
    if (name)
        al_tensordict_key_name(key, name, n + 1);
    c->name = name;
    c->key = strdup(key);
    c->unit = strdup("");
    c->role = strdup("");
    c->format = strdup("");
    if (!c->name || !c->key || !c->unit || !c->role || !c->format) {
        free((char *)c->name);
        free((char *)c->key);
        free((char *)c->unit);
        free((char *)c->role);
        free((char *)c->format);
        return NULL;
    }
    ali_nindex_put(&r->index, ali_name_hash(key, strlen(key), false), r->meta.n_columns);
    r->meta.n_columns++;
    return c;
}

static bool replace(const char **field, const char *value)
{
    char *v = strdup(value);
    if (!v)
        return false;
    free((char *)*field);
    *field = v;
    return true;
}

int ali_survey_meta_attach(const al_tensordict *td, const char *path, const ali_stable *t,
                           const al_survey_options *opts)
{
    meta_rec *r = rec_new(td);
    if (!r)
        return AL_ENOMEM;
    const char **names = calloc(t->n_cols + 1, sizeof *names);
    bool ok = names != NULL;
    for (size_t i = 0; ok && i < t->n_cols; i++)
        names[i] = t->cols[i].key;
    const char *survey = opts && opts->survey ? opts->survey : t->survey;
    if (ok && (!survey || !*survey))
        survey = ali_survey_guess(names, t->n_cols);
    if (!survey || !*survey)
        survey = t->origin;
    ok = ok && replace(&r->meta.survey, survey ? survey : "") && replace(&r->meta.path, path) &&
         replace(&r->meta.extname, t->extname ? t->extname : "");
    free(names);
    r->meta.format = t->format;
    r->meta.hdu = t->hdu;
    r->meta.file_rows = t->file_rows;
    for (size_t i = 0; ok && i < t->n_cols; i++) {
        const ali_scol *sc = &t->cols[i];
        al_survey_column *c = rec_column(r, sc->key);
        const char *role = t->roles && t->roles[i] ? t->roles[i] : NULL;
        if (!role && c)
            role = al_survey_role_of(c->name, NULL);
        ok = c && replace(&c->unit, sc->unit ? sc->unit : "") &&
             replace(&c->role, role ? role : "") &&
             replace(&c->format, sc->format ? sc->format : "");
        if (ok) {
            c->has_tnull = sc->has_tnull;
            c->tnull = sc->tnull;
        }
    }
    if (!ok) {
        rec_free(r);
        return AL_ENOMEM;
    }
    pthread_mutex_lock(&table.lock);
    link_locked(r);
    pthread_mutex_unlock(&table.lock);
    return AL_OK;
}

const al_survey_column *al_survey_column_find(const al_tensordict *td, const char *key)
{
    if (!td || !key)
        return NULL;
    pthread_mutex_lock(&table.lock);
    meta_rec *r = find_locked(td, false);
    const al_survey_column *c = r ? rec_lookup(r, key) : NULL;
    pthread_mutex_unlock(&table.lock);
    return c;
}

const al_survey_meta *al_survey_info(const al_tensordict *td)
{
    if (!td)
        return NULL;
    pthread_mutex_lock(&table.lock);
    meta_rec *r = find_locked(td, false);
    pthread_mutex_unlock(&table.lock);
    return r ? &r->meta : NULL;
}

/* The record of td, created (and linked) when absent; needs the lock. */
static meta_rec *get_or_create_locked(al_tensordict *td)
{
    meta_rec *r = find_locked(td, false);
    if (r)
        return r;
    r = rec_new(td);
    if (r) {
        r->next = table.head;
        table.head = r;
    }
    return r;
}

int al_survey_set_name(al_tensordict *td, const char *survey)
{
    if (!td || !survey)
        return AL_EINVAL;
    pthread_mutex_lock(&table.lock);
    meta_rec *r = get_or_create_locked(td);
    int rc = r && replace(&r->meta.survey, survey) ? AL_OK : AL_ENOMEM;
    pthread_mutex_unlock(&table.lock);
    return rc;
}

int al_survey_set_file_rows(al_tensordict *td, int64_t rows)
{
    if (!td || rows < 0)
        return AL_EINVAL;
    pthread_mutex_lock(&table.lock);
    meta_rec *r = get_or_create_locked(td);
    if (r)
        r->meta.file_rows = rows;
    pthread_mutex_unlock(&table.lock);
    return r ? AL_OK : AL_ENOMEM;
}

int al_survey_set_column(al_tensordict *td, const char *name, const char *unit, const char *role)
{
    if (!td || !name || !*name)
        return AL_EINVAL;
    pthread_mutex_lock(&table.lock);
    meta_rec *r = get_or_create_locked(td);
    al_survey_column *c = r ? rec_column(r, name) : NULL;
    int rc = c && (!unit || replace(&c->unit, unit)) && (!role || replace(&c->role, role))
                 ? AL_OK
                 : AL_ENOMEM;
    pthread_mutex_unlock(&table.lock);
    return rc;
}

void al_survey_free(al_tensordict *td)
{
    if (!td)
        return;
    pthread_mutex_lock(&table.lock);
    meta_rec *r = find_locked(td, true);
    pthread_mutex_unlock(&table.lock);
    if (r)
        rec_free(r);
    al_tensordict_free(td);
}
