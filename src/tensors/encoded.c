/* al_tensordict_set_encoded: a dictionary-encoded string entry made by the caller (the MPI
 * optimizer builds one dictionary for the whole job; a loader may read a categorical column
 * already encoded). The pair is checked here, once, so that every later decode can index the
 * dictionary without a bound check. */
#include "tensors_int.h"

/* First code outside 0..n-1 (idx gets its element number), or -1 when every code is inside. */
typedef struct range_ctx {
    al_dtype dtype;
    uint64_t n;
    int64_t seen;
    int64_t bad;
} range_ctx;

static int check_run(char *pa, char *pb, int64_t n, int64_t sa, int64_t sb, void *user)
{
    (void)pb, (void)sb;
    range_ctx *c = user;
    bool is_signed = ali_dtype_is_signed(c->dtype);
    for (int64_t i = 0; i < n; i++, c->seen++) {
        const char *p = pa + i * sa;
        if ((is_signed && ali_load_i64(p, c->dtype) < 0) || ali_load_u64(p, c->dtype) >= c->n) {
            c->bad = c->seen;
            return 1;
        }
    }
    return 0;
}

int al_tensordict_set_encoded(al_tensordict *td, const char *key, const al_tensor *codes,
                              const al_tensor *dictionary, unsigned flags, al_error *err)
{
    if (!td || !key || !codes || !dictionary)
        return al_error_set(err, AL_EINVAL, "al_tensordict_set_encoded: %s is NULL",
                            !td      ? "the tensordict"
                            : !key   ? "the key"
                            : !codes ? "codes"
                                     : "the dictionary");
    if (!ali_dtype_is_int(codes->dtype))
        return al_error_set(err, AL_EINVAL, "entry '%s': codes of type %s are not integers", key,
                            al_dtype_name(codes->dtype));
    if (dictionary->dtype != AL_DTYPE_STRING || dictionary->ndim != 1)
        return al_error_set(err, AL_EINVAL,
                            "entry '%s': the dictionary is a %d-d %s tensor, not 1-d strings", key,
                            dictionary->ndim, al_dtype_name(dictionary->dtype));
    if (!ali_device_eq(dictionary->storage->device, codes->storage->device))
        return al_error_set(err, AL_EUNSUPPORTED,
                            "entry '%s': the codes and the dictionary are on different devices",
                            key);
    al_storage ss;
    al_tensor host;
    int rc = ali_host_shadow(codes, &host, &ss, err);
    if (rc != AL_OK)
        return rc;
    range_ctx c = {codes->dtype, (uint64_t)dictionary->shape[0], 0, -1};
    ali_walk(&host, NULL, check_run, &c);
    ali_host_shadow_free(&ss);
    if (c.bad >= 0)
        return al_error_set(err, AL_EINVAL,
                            "entry '%s': code at element %lld is outside the dictionary of %lld "
                            "strings",
                            key, (long long)c.bad, (long long)dictionary->shape[0]);
    return ali_td_set(td, key, codes, dictionary, flags, err);
}
