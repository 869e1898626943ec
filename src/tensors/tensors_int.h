/* Internals of the tensors module shared between src/tensors/ files. Never installed. */
#ifndef ASTROLAB_TENSORS_INT_H
#define ASTROLAB_TENSORS_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "astrolab/log.h"
#include "astrolab/memory.h"
#include "astrolab/tensors.h"
#include "tensors/nindex_int.h"

#define ALI_TLOG "astrolab.tensors"
#define ALI_TENSOR_ALIGN 64 /* storage alignment: a cache line, enough for AVX-512 loads */

/* -------- Storage (storage.c): the bytes, shared by handles and DLPack exports. -------- */
struct al_storage {
    _Atomic long refcount; /* handles + exports; the last drop frees */
    void *data;            /* first byte */
    size_t nbytes;         /* bytes usable from data */
    al_device device;
    al_tensor_deleter deleter; /* NULL with owned: data is a tracked "tensor" block */
    void *deleter_ctx;
    bool owned; /* data came from the tracked allocator (CPU) or al_cuda_malloc (CUDA) */
    /* CUDA storage inside the caching allocator's memory, so that al_cuda_memcpy_* reach it;
     * false for device memory a DLPack producer or al_tensor_wrap caller owns elsewhere. */
    bool copyable;
};

/* Checks that `device` can hold tensors now: AL_OK, AL_EINVAL (bad type or index, naming the
 * device), AL_ECUDA_UNAVAILABLE (with the reason). */
int ali_device_check(al_device device, al_error *err);
static inline bool ali_device_eq(al_device a, al_device b)
{
    return a.type == b.type && (a.type == AL_DEVICE_CPU || a.index == b.index);
}

/* New owned storage of nbytes (zeroed when `zero`), tag "tensor". NULL with err filled. */
al_storage *ali_storage_new(size_t nbytes, bool zero, al_device device, al_error *err);
/* Storage over external memory; on failure nothing is taken. CUDA memory is marked copyable
 * when it lies inside one live block of the caching allocator. */
al_storage *ali_storage_wrap(void *data, size_t nbytes, al_device device, al_tensor_deleter deleter,
                             void *ctx, al_error *err);
void ali_storage_retain(al_storage *s);
void ali_storage_release(al_storage *s);

/* -------- Tensor handles (tensor.c). -------- */
struct al_tensor {
    al_storage *storage;
    al_dtype dtype;
    int ndim;
    size_t itemsize;
    size_t offset; /* bytes */
    int64_t shape[AL_TENSOR_MAX_DIMS];
    int64_t strides[AL_TENSOR_MAX_DIMS]; /* elements */
};

/* Checks dtype/width/ndim/shape and computes numel; AL_OK or an error (err filled). */
int ali_check_layout(al_dtype dtype, size_t width, int ndim, const int64_t *shape, size_t *itemsize,
                     int64_t *numel, al_error *err);
/* A handle over `storage` (retained on success) with C-order strides. */
al_tensor *ali_tensor_on(al_storage *storage, al_dtype dtype, size_t itemsize, int ndim,
                         const int64_t *shape, size_t offset, al_error *err);
/* New contiguous uninitialised tensor of the same shape as `like` with dtype/itemsize. */
al_tensor *ali_tensor_empty_like(const al_tensor *like, al_dtype dtype, size_t itemsize,
                                 al_error *err);
/* New contiguous uninitialised tensor of like's dtype and shape on `device`. */
al_tensor *ali_tensor_empty_on(const al_tensor *like, al_device device, al_error *err);
/* Byte address of the element at `index` (checked by the caller). */
char *ali_tensor_ptr(const al_tensor *t, const int64_t *index);

/* Walks every element in runs: fn(pa, pb, n, sa, sb, user) for n elements starting at pa (and
 * at pb in b, which has a's shape, or NULL), successive elements sa (sb) bytes apart. A
 * contiguous tensor is one run. A non-zero return stops the walk and is returned. */
typedef int (*ali_run_fn)(char *pa, char *pb, int64_t n, int64_t sa, int64_t sb, void *user);
int ali_walk(const al_tensor *a, const al_tensor *b, ali_run_fn fn, void *user);

/* Copies t's elements in C order into dst (numel * itemsize bytes). */
void ali_tensor_gather(const al_tensor *t, void *dst);
/* Converts t's numeric elements into a contiguous array of `dtype` at dst, without range
 * checks: the caller proved every value fits. */
void ali_tensor_convert_into(const al_tensor *t, al_dtype dtype, void *dst);

/* -------- Devices (device.c). -------- */
/* AL_EUNSUPPORTED when t is not on the CPU, with a WARNING on astrolab.tensors naming `op` and
 * the device: element loops read storage bytes on the host. */
int ali_require_cpu(const al_tensor *t, const char *op);
/* Copies t's elements in C order into host memory dst (al_tensor_nbytes(t) bytes), from any
 * device. AL_OK, AL_EUNSUPPORTED (device memory the allocator does not own), AL_ENOMEM, or
 * the copy's code (err filled). */
int ali_tensor_read_host(const al_tensor *t, void *dst, al_error *err);
/* A host view of t for element loops that must not allocate handles: t itself (shadow storage
 * unused) on the CPU, else a contiguous host copy in *ss's tracked buffer. Release with
 * ali_host_shadow_free(ss) in both cases. AL_OK or an error as ali_tensor_read_host's. */
int ali_host_shadow(const al_tensor *t, al_tensor *out, al_storage *ss, al_error *err);
void ali_host_shadow_free(al_storage *ss);

/* -------- Scalar helpers (dtype.c). -------- */
bool ali_dtype_is_int(al_dtype d); /* signed or unsigned integers (not bool) */
bool ali_dtype_is_signed(al_dtype d);
bool ali_dtype_is_float(al_dtype d);
/* Reads one element as int64 (integers and bool; uint64 bit pattern for uint64) or double. */
int64_t ali_load_i64(const void *p, al_dtype d);
uint64_t ali_load_u64(const void *p, al_dtype d);
double ali_load_f64(const void *p, al_dtype d);
/* Smallest and largest value of an integer dtype, as int64 / uint64 bounds. */
void ali_int_range(al_dtype d, int64_t *min, uint64_t *max);
/* Length of a fixed-width string without its NUL padding. */
size_t ali_str_len(const char *p, size_t width);

/* -------- Tensordict internals (tensordict.c). -------- */
typedef struct ali_entry {
    char *name;         /* own name, tracked */
    al_tensor *t;       /* tensor, or codes of an encoded entry; NULL for a nested dict */
    al_tensor *dict;    /* dictionary of an encoded string entry, else NULL */
    al_tensordict *sub; /* nested tensordict, or NULL */
    unsigned flags;
} ali_entry;

struct al_tensordict {
    ali_entry *entries; /* tracked array of cap */
    size_t n, cap;
    ali_nindex index;      /* entries by name, from ALI_TD_INDEX_MIN entries on; else empty */
    int64_t batch;         /* AL_BATCH_UNSET until set */
    int64_t batch_initial; /* restored by cleanup */
    al_device device;
    al_tensordict *parent; /* NULL for a root */
    al_handle handle;      /* cleanup registration of a root */
    _Atomic int busy;      /* >0 while a call holds entry pointers: the release fn waits */
};

/* Entries from which a tensordict keeps its name index: below it a scan is as fast. */
#define ALI_TD_INDEX_MIN 16
/* Rebuilds td's name index after entries were removed or renamed; never allocates. */
void ali_td_reindex(al_tensordict *td);

/* Marks td's root busy for the length of a call that holds entry pointers across allocations
 * (an allocation can cross the soft limit, whose cleanup would drop temporaries under us). */
al_tensordict *ali_td_enter(const al_tensordict *td);
void ali_td_leave(al_tensordict *root);
/* The registered release function of a root tensordict: drops its temporaries (cleanup.c). */
int ali_tensordict_release(void *obj);
/* Tensordict construction shared with tensordict_to.c (tensordict.c). */
al_tensordict *ali_td_alloc(al_tensordict *parent, int64_t batch, al_device device);
void ali_td_destroy(al_tensordict *td);
/* Appends an entry holding t (and dict) or sub, all taken on success; AL_OK or AL_ENOMEM. */
int ali_td_append(al_tensordict *td, const char *name, al_tensor *t, al_tensor *dict,
                  al_tensordict *sub, unsigned flags);
al_tensordict *ali_td_root(const al_tensordict *td);
/* al_tensordict_set, with `dict` (NULL: none) as the dictionary of encoded codes t; both are
 * taken as views. The caller has checked the pair (encoded.c). */
int ali_td_set(al_tensordict *td, const char *key, const al_tensor *t, const al_tensor *dict,
               unsigned flags, al_error *err);
/* A decoded string tensor of an encoded entry, on the entry's device (tensordict.c). */
al_tensor *ali_entry_decode(const ali_entry *e, al_error *err);
/* Frees an entry's contents (not the slot). */
void ali_entry_clear(ali_entry *e);
/* Depth-first list of tensor entries with their full paths: one tracked block holding the
 * array and, after it, the paths; free it with al_free. */
typedef struct ali_flat {
    ali_entry *e;
    al_tensordict *owner;
    const char *path; /* inside the same block */
    bool temporary;   /* itself or a parent flagged */
} ali_flat;
/* Builds the list; AL_OK or AL_ENOMEM with nothing allocated. *out is NULL for no entries. */
int ali_flatten(const al_tensordict *td, ali_flat **out, size_t *n);
/* Storage bytes an entry keeps alive (codes and dictionary). */
uint64_t ali_entry_storage_bytes(const ali_entry *e);

/* A small open-addressing set of pointers (memory_info, optimize), tracked memory. */
typedef struct ali_ptrset {
    const void **slots;
    size_t cap; /* a power of two */
} ali_ptrset;
int ali_ptrset_init(ali_ptrset *s, size_t expected);
/* The slot of p, inserted when absent (*added set to 1, else 0). Slots are stable. */
size_t ali_ptrset_slot(ali_ptrset *s, const void *p, int *added);
void ali_ptrset_free(ali_ptrset *s);

/* -------- optimize_memory kernels (optimize_scan.c). -------- */
/* The smallest integer type holding every value of integer tensor t (t's own type when none is
 * smaller); same signedness preferred at equal size. */
al_dtype ali_scan_int_target(const al_tensor *t);
/* True when every float64 value of t survives float64 -> float32 -> float64 bit for bit. */
bool ali_scan_f32_exact(const al_tensor *t);
/* True when every float64 value of t changes by at most tol * |x| through float32 (NaN and
 * infinities unchanged, no finite value overflowing); *max_rel gets the largest change. */
bool ali_scan_f32_within(const al_tensor *t, double tol, double *max_rel);

/* A hash table of fixed-width strings, pointing into the tensor that holds them. */
typedef struct ali_strtab {
    const char **keys; /* element addresses, NULL: empty slot */
    uint32_t *codes;   /* code of each slot */
    size_t cap;        /* power of two */
    size_t count;      /* distinct strings so far */
    size_t limit;      /* most distinct strings accepted */
    size_t width;
} ali_strtab;
int ali_strtab_init(ali_strtab *tab, size_t limit, size_t width);
void ali_strtab_free(ali_strtab *tab);
/* The code of the string at p (added when new); -1 when the table is at its limit. */
int64_t ali_strtab_code(ali_strtab *tab, const char *p);
/* Distinct strings in t (stopping past tab->limit: then -1) and the longest length; *binary
 * is set when a value has a NUL before its last non-NUL byte (bytes, not text). */
int64_t ali_scan_strings(const al_tensor *t, ali_strtab *tab, size_t *max_len, bool *binary);

#endif
