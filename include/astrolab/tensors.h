/* AstroLab tensors: n-dimensional arrays over reference-counted storage, DLPack exchange, and the
 * TensorDict (named columns sharing a batch size) with the seed's four memory methods.
 *
 * Ownership model. An `al_tensor *` is a handle owned by whoever received it from a `_new`,
 * `_wrap`, view or `_get` call, and is freed with al_tensor_free. Handles are cheap: every view
 * (row slice, select, narrow) is a new handle sharing the same `al_storage`, whose bytes live
 * until the last handle (or DLPack export) referring to them goes. Storage bytes come from the
 * memory manager with the tag "tensor"; handles have the tag "al_tensor".
 *
 *     int64_t shape[1] = {n};
 *     al_tensor *ra = al_tensor_new(AL_DTYPE_FLOAT64, 1, shape, AL_CPU, &err);
 *     al_tensordict *td = al_tensordict_new(n, AL_CPU, &err);
 *     al_tensordict_set(td, "pos.ra", ra, 0, &err);   // td keeps its own view of ra's storage
 *     al_tensor_free(ra);                              // the bytes live on inside td
 *     al_tensordict_optimize_memory(td, NULL, &report);
 *     al_tensordict_free(td);
 *
 * Layout. Shapes have at most AL_TENSOR_MAX_DIMS dimensions. Strides count ELEMENTS (as DLPack
 * and PyTorch do) and are never negative; the offset of the first element into the storage
 * counts BYTES (as DLPack's byte_offset). Fixed-width strings hold `width` bytes per element,
 * padded with NUL bytes and not necessarily NUL-terminated (NumPy's "S<width>").
 *
 * Devices. A tensor lives on the CPU or on a CUDA device (<astrolab/cuda.h>): device storage
 * comes from the caching allocator (al_cuda_malloc) and goes back to it (al_cuda_free) when the
 * last handle or export goes, with the same reference counting as host storage. On CUDA
 * tensors these work as on the CPU: creation (zero-filled), views (view, narrow, slice_rows,
 * select: metadata only), layout accessors, al_tensor_copy (stays on its device: a device to
 * device copy), al_tensor_to (between any two devices), al_tensor_equal (through host copies),
 * DLPack (kDLCUDA), and every tensordict call except optimize. al_tensor_data gives the device
 * address, which the host must not dereference. Host-only, refused with AL_EUNSUPPORTED and a
 * WARNING on "astrolab.tensors" naming the call and the device: element get/set/fill,
 * al_tensor_to_dtype and al_tensordict_optimize_memory. Copies between devices are synchronous;
 * non-contiguous views are made contiguous on the way (on the host, for a device view). Device
 * memory that AstroLab's allocator does not own (a DLPack import from another library, a
 * wrapped pointer) can be viewed and exported again, but not copied: AL_EUNSUPPORTED.
 *
 * Threads. A tensor or tensordict may be read from several threads at once; changing one needs
 * the caller's locking. Storage reference counts are atomic, so handles sharing storage may be
 * created and freed on different threads, and a DLPack consumer may run its deleter anywhere.
 * al_force_comprehensive_cleanup (any thread) calls each tensordict's release function, which
 * drops its temporary entries: run it while no other thread is using those tensordicts. */
#ifndef ASTROLAB_TENSORS_H
#define ASTROLAB_TENSORS_H

#include <stdbool.h> /* bool */
#include <stddef.h>  /* size_t */
#include <stdint.h>  /* int64_t, uint64_t */

#include "astrolab/defs.h"  /* AL_API and attributes */
#include "astrolab/error.h" /* al_error, AL_E* */

#ifdef __cplusplus
extern "C" {
#endif

/* -------- Data types and devices: plain values, thread-safe. -------- */
typedef enum al_dtype {
    AL_DTYPE_BOOL = 0, /* one byte, 0 or 1 */
    AL_DTYPE_INT8,
    AL_DTYPE_INT16,
    AL_DTYPE_INT32,
    AL_DTYPE_INT64,
    AL_DTYPE_UINT8,
    AL_DTYPE_UINT16,
    AL_DTYPE_UINT32,
    AL_DTYPE_UINT64,
    AL_DTYPE_FLOAT32,
    AL_DTYPE_FLOAT64,
    AL_DTYPE_STRING, /* fixed-width byte strings; the width is per tensor */
    AL_DTYPE_COUNT_, /* not a type: the number of types */
} al_dtype;

/* "bool", "int8" ... "uint64", "float32", "float64", "string"; "?" for a bad value. Static. */
AL_API const char *al_dtype_name(al_dtype dtype);
/* Bytes per element, or 0 for AL_DTYPE_STRING (its width is per tensor) and bad values. */
AL_API size_t al_dtype_size(al_dtype dtype);
/* The narrowest integer type, no wider than `from` (an integer dtype), that holds every value
 * in [min, max] (min counts only when negative): the same signedness as `from` first at each
 * width, then the other; `from` itself when none is narrower. The rule of optimize_memory's
 * integer narrowing, for callers that know a range from elsewhere (a whole MPI job's). */
AL_API al_dtype al_dtype_narrowest_int(al_dtype from, int64_t min, uint64_t max);
/* Parses a name written by al_dtype_name. Returns AL_OK and sets *out, or AL_EINVAL. */
AL_API AL_NODISCARD int al_dtype_parse(const char *name, al_dtype *out);

typedef enum al_device_type {
    AL_DEVICE_CPU = 0,  /* host memory */
    AL_DEVICE_CUDA = 1, /* a CUDA device of <astrolab/cuda.h>'s selected backend */
} al_device_type;

typedef struct al_device {
    al_device_type type; /* AL_DEVICE_CPU or AL_DEVICE_CUDA */
    int index;           /* device ordinal; 0 for the CPU */
} al_device;

/* The host device, as a compound literal. */
#define AL_CPU ((al_device){AL_DEVICE_CPU, 0})

/* Writes "cpu" or "cuda:N" into buf (len bytes, NUL-terminated, truncated); returns buf. */
AL_API char *al_device_name(al_device device, char *buf, size_t len);

/* -------- Tensors: see the ownership model at the top. -------- */
#define AL_TENSOR_MAX_DIMS 8

typedef struct al_tensor al_tensor;
typedef struct al_storage al_storage;

/* Called once when storage wrapped with al_tensor_wrap is no longer used by any handle. */
typedef void (*al_tensor_deleter)(void *data, void *ctx);

/* A new zero-filled, contiguous tensor of `dtype` (not AL_DTYPE_STRING) and shape[0..ndim-1]
 * (ndim 0 is a scalar) on `device`. Free with al_tensor_free. NULL on failure, with err filled:
 * AL_EINVAL (bad dtype, ndim, negative dimension, no such device), AL_EOVERFLOW, AL_ENOMEM, and
 * for CUDA AL_ECUDA_UNAVAILABLE, AL_ECUDA_OOM (the allocator's message: requested, allocated,
 * reserved, free and total bytes), AL_ECUDA. */
AL_API AL_NODISCARD al_tensor *al_tensor_new(al_dtype dtype, int ndim, const int64_t *shape,
                                             al_device device, al_error *err);
/* As al_tensor_new for fixed-width strings of `width` (>= 1) bytes, all empty. */
AL_API AL_NODISCARD al_tensor *al_tensor_new_string(int ndim, const int64_t *shape, size_t width,
                                                    al_device device, al_error *err);
/* A new contiguous CPU tensor holding a copy of `data`, laid out in C order. `width` is the
 * string width for AL_DTYPE_STRING and ignored otherwise. NULL on failure (err filled). */
AL_API AL_NODISCARD al_tensor *al_tensor_from_buffer(al_dtype dtype, size_t width, int ndim,
                                                     const int64_t *shape, const void *data,
                                                     al_error *err);
/* Takes ownership of external memory: a tensor over `data` without copying. `strides` (in
 * elements; may be NULL for C order) must keep every element inside the memory the caller
 * owns. deleter(data, ctx) runs exactly once when the last handle goes; `deleter` may be NULL
 * for memory that outlives every handle. On a CUDA device `data` is a device address; it can
 * be copied only when it is a block of al_cuda_malloc covering every element. On failure
 * nothing is taken and deleter is not run. */
AL_API AL_NODISCARD al_tensor *al_tensor_wrap(al_dtype dtype, size_t width, int ndim,
                                              const int64_t *shape, const int64_t *strides,
                                              void *data, al_device device,
                                              al_tensor_deleter deleter, void *ctx, al_error *err);
/* Frees the handle and drops its reference to the storage. NULL does nothing. */
AL_API void al_tensor_free(al_tensor *t);

/* Layout accessors; `t` must not be NULL. The shape and strides pointers are borrowed and
 * valid as long as the handle. */
AL_API al_dtype al_tensor_dtype(const al_tensor *t);
AL_API int al_tensor_ndim(const al_tensor *t);
AL_API const int64_t *al_tensor_shape(const al_tensor *t);
AL_API const int64_t *al_tensor_strides(const al_tensor *t); /* in elements */
AL_API size_t al_tensor_offset(const al_tensor *t);          /* bytes into the storage */
AL_API size_t al_tensor_itemsize(const al_tensor *t);        /* bytes; the width for strings */
AL_API int64_t al_tensor_numel(const al_tensor *t);
AL_API uint64_t al_tensor_nbytes(const al_tensor *t); /* numel * itemsize: the view's bytes */
AL_API al_device al_tensor_device(const al_tensor *t);
/* Address of the first element (storage data + offset). Borrowed, valid while the storage is. */
AL_API void *al_tensor_data(const al_tensor *t);
/* True when the elements are laid out densely in C order. */
AL_API int al_tensor_is_contiguous(const al_tensor *t);

/* The storage behind `t` (borrowed, as long as t) and what it is. */
AL_API const al_storage *al_tensor_storage(const al_tensor *t);
AL_API uint64_t al_storage_nbytes(const al_storage *s); /* bytes of the whole storage */
AL_API long al_storage_refcount(const al_storage *s);   /* handles and exports using it */
AL_API al_device al_storage_device(const al_storage *s);
/* True when a and b use the same storage. */
AL_API int al_tensor_shares_storage(const al_tensor *a, const al_tensor *b);

/* Views: each returns a new handle sharing t's storage (free it with al_tensor_free), or NULL
 * with err filled (AL_EINVAL names the bad dimension or range, AL_ENOMEM). */
/* The same view again. */
AL_API AL_NODISCARD al_tensor *al_tensor_view(const al_tensor *t, al_error *err);
/* Elements start..start+length-1 along `dim`. */
AL_API AL_NODISCARD al_tensor *al_tensor_narrow(const al_tensor *t, int dim, int64_t start,
                                                int64_t length, al_error *err);
/* Rows start..stop-1 (dimension 0); equivalent to al_tensor_narrow(t, 0, start, stop - start). */
AL_API AL_NODISCARD al_tensor *al_tensor_slice_rows(const al_tensor *t, int64_t start, int64_t stop,
                                                    al_error *err);
/* Index `index` along `dim`, which disappears: column j of a 2-D tensor is select(t, 1, j). */
AL_API AL_NODISCARD al_tensor *al_tensor_select(const al_tensor *t, int dim, int64_t index,
                                                al_error *err);

/* A new contiguous tensor with its own storage holding a copy of t's elements, on t's device
 * (device to device for CUDA). NULL on failure (err filled, as al_tensor_to). */
AL_API AL_NODISCARD al_tensor *al_tensor_copy(const al_tensor *t, al_error *err);
/* A new contiguous tensor on `device` holding a copy of t's elements, byte for byte: CPU to
 * CUDA, CUDA to CPU, CUDA to another (or the same) CUDA device. Unlike PyTorch's .to it always
 * copies, also to t's own device (al_tensor_view shares instead). A non-contiguous t is made
 * contiguous on the way: gathered on the host, a device view after fetching the bytes it spans
 * (temporary host memory: its span plus its bytes). Large copies are staged through pinned
 * memory by <astrolab/cuda.h>. Free with al_tensor_free. NULL on failure with err filled and
 * nothing allocated: AL_EINVAL (NULL, bad device), AL_ECUDA_UNAVAILABLE, AL_ECUDA_OOM, AL_ENOMEM,
 * AL_ECUDA (a failed copy), AL_EUNSUPPORTED (device memory not from AstroLab's allocator). */
AL_API AL_NODISCARD al_tensor *al_tensor_to(const al_tensor *t, al_device device, al_error *err);
/* Converts into a new contiguous tensor of `dtype`. Numeric to numeric only; every value must
 * be representable exactly, else AL_EOVERFLOW names the first index that is not. CPU tensors
 * only: AL_EUNSUPPORTED names the device of a CUDA tensor. */
AL_API AL_NODISCARD al_tensor *al_tensor_to_dtype(const al_tensor *t, al_dtype dtype,
                                                  al_error *err);

/* Element access. `index` holds ndim indices (NULL for a scalar). All return AL_OK, AL_EINVAL
 * (index out of range, NULL) or AL_ETYPE / AL_EOVERFLOW as each says. CPU tensors only: a CUDA
 * tensor gives AL_EUNSUPPORTED, with a WARNING on "astrolab.tensors" naming its device (this
 * goes for the fills below too). */
/* Any numeric or bool element as a double (uint64/int64 beyond 2^53 round). AL_ETYPE: string. */
AL_API AL_NODISCARD int al_tensor_get_double(const al_tensor *t, const int64_t *index, double *out);
/* Integers and bools exactly; floats only when integral and in range (else AL_EOVERFLOW);
 * uint64 above INT64_MAX gives AL_EOVERFLOW. AL_ETYPE: string. */
AL_API AL_NODISCARD int al_tensor_get_int64(const al_tensor *t, const int64_t *index, int64_t *out);
/* Copies a string element into buf (len >= width + 1 bytes, NUL-terminated) and sets *out_len
 * (may be NULL) to its length without padding. AL_ETYPE: not a string tensor. */
AL_API AL_NODISCARD int al_tensor_get_string(const al_tensor *t, const int64_t *index, char *buf,
                                             size_t len, size_t *out_len);
/* Stores a double: floats round to nearest; integers and bools only when v is integral and in
 * range (bool: 0 or 1), else AL_EOVERFLOW. */
AL_API AL_NODISCARD int al_tensor_set_double(al_tensor *t, const int64_t *index, double v);
/* Stores an integer: in range for integer types (else AL_EOVERFLOW); floats round. */
AL_API AL_NODISCARD int al_tensor_set_int64(al_tensor *t, const int64_t *index, int64_t v);
/* Stores `len` bytes of s, NUL-padded to the width; AL_EINVAL when len exceeds the width. */
AL_API AL_NODISCARD int al_tensor_set_string(al_tensor *t, const int64_t *index, const char *s,
                                             size_t len);
/* Sets every element, with al_tensor_set_double's / _int64's / _string's rules. */
AL_API AL_NODISCARD int al_tensor_fill_double(al_tensor *t, double v);
AL_API AL_NODISCARD int al_tensor_fill_int64(al_tensor *t, int64_t v);
AL_API AL_NODISCARD int al_tensor_fill_string(al_tensor *t, const char *s, size_t len);

typedef enum al_equal_mode {
    AL_EQUAL_VALUE = 0,     /* IEEE ==: NaN differs from everything, -0.0 equals 0.0 */
    AL_EQUAL_VALUE_NAN = 1, /* as VALUE, but NaN equals NaN */
    AL_EQUAL_BITWISE = 2,   /* identical bytes per element: -0.0 differs from 0.0 */
} al_equal_mode;

/* Sets *equal: true when a and b have the same dtype (and width), shape and elements under
 * `mode`. Layout (strides, offset, storage) and device do not matter. Returns AL_OK, AL_EINVAL
 * for a NULL argument, or, as a CUDA operand is copied to host memory first (its bytes, plus the
 * span of a strided view, for the length of the call), AL_ENOMEM, AL_ECUDA or AL_EUNSUPPORTED
 * (memory the allocator does not own) when that fails; *equal is written only on AL_OK. */
AL_API AL_NODISCARD int al_tensor_equal(const al_tensor *a, const al_tensor *b, al_equal_mode mode,
                                        bool *equal);

/* -------- DLPack: zero-copy exchange with NumPy, PyTorch, CuPy (<dlpack/dlpack.h>, 0.6).
 * Booleans travel as DLPack 0.8's kDLBool (code 6, 8 bits); strings cannot travel. Devices:
 * kDLCPU, and kDLCUDA with the device ordinal as device_id (data is the device pointer).
 * kDLCUDAHost, kDLCUDAManaged, ROCm and the rest are refused. -------- */
struct DLManagedTensor;

/* Exports t without copying, as kDLCPU or kDLCUDA. The result keeps t's storage (host or
 * device memory) alive until the consumer calls its deleter (exactly once, from any thread); t
 * may be freed before that. NULL with err filled: AL_ETYPE for string tensors, AL_ENOMEM. */
AL_API AL_NODISCARD struct DLManagedTensor *al_tensor_to_dlpack(const al_tensor *t, al_error *err);
/* Takes ownership of `m` on success: the tensor (and its views) use m's memory without copying,
 * and m->deleter(m) runs exactly once, when the last handle goes. A kDLCUDA tensor lands on
 * device {AL_DEVICE_CUDA, device_id}; it can be copied (al_tensor_to) only when its memory is a
 * block of AstroLab's allocator (an AstroLab export, or a producer using al_cuda_malloc). On
 * failure (NULL, err filled) the caller keeps m: AL_ETYPE for data types without an al_dtype
 * (bfloat16, float16, complex, lanes != 1), AL_EUNSUPPORTED for devices other than kDLCPU and
 * kDLCUDA (named), AL_EINVAL for ndim over 8, negative strides or dimensions, or a CUDA device
 * id that does not exist, AL_ECUDA_UNAVAILABLE for kDLCUDA without CUDA, AL_ENOMEM. */
AL_API AL_NODISCARD al_tensor *al_tensor_from_dlpack(struct DLManagedTensor *m, al_error *err);

/* -------- TensorDict: ordered named entries sharing a batch size. --------
 * Names and keys. An entry's name is any non-empty string, kept byte for byte ('.' included:
 * FITS and CSV columns such as "ANTENNA NO." keep their names). A key addresses an entry by
 * its path: "a.b" is entry "b" of the nested tensordict "a". Inside a key, '\' makes the next
 * byte literal, so "ANTENNA NO\." is the entry named "ANTENNA NO." and "a\\b" the one named
 * "a\b"; al_tensordict_key_escape writes a name as a key component. Every call that looks an
 * entry up (get, borrow, contains, remove, rename, flags) reads its key as a path first and,
 * when that names nothing, as the literal name of a direct entry: "ANTENNA NO." finds that
 * column too. al_tensordict_set and add_dict read keys as paths only (they create what the
 * path names). Each path component is non-empty; a '\' at the very end of a key stands for
 * itself. Lookups by name are O(1) expected: large tensordicts keep a hash index. Every tensor
 * entry has at least one dimension and its first dimension equals the batch size. Nested
 * tensordicts are owned by their parent (share its batch size and device) and are never freed by
 * the caller. Tensors given to the tensordict are borrowed: it keeps its own view of their storage.
 * A tensordict's device is fixed at creation: every tensor entry must be on it (a tensor of another
 * device is refused, never copied silently, as PyTorch's TensorDict does: move it with
 * al_tensor_to, or a whole tensordict with al_tensordict_to). Every root tensordict registers
 * itself weakly with al_register_for_cleanup (type "al_tensordict"): al_force_comprehensive_cleanup
 * then drops its temporary entries, nested ones included. A failed call changes nothing. */
typedef struct al_tensordict al_tensordict;

/* A batch size that the first inserted tensor sets (and that cleanup restores). */
#define AL_BATCH_UNSET (-1)

/* Entry flags. */
#define AL_ENTRY_TEMPORARY 1u /* dropped by clear_temp_tensors and by forced cleanup */

/* A new empty tensordict of `batch_size` rows (>= 0, or AL_BATCH_UNSET) on `device`. Free with
 * al_tensordict_free. NULL on failure (err filled: AL_EINVAL (also a CUDA device that does not
 * exist), AL_ECUDA_UNAVAILABLE, AL_ENOMEM). */
AL_API AL_NODISCARD al_tensordict *al_tensordict_new(int64_t batch_size, al_device device,
                                                     al_error *err);
/* Frees a root tensordict, its entries and its registration; NULL does nothing. A nested
 * tensordict (owned by its parent) is refused with an ERROR log and left alone. */
AL_API void al_tensordict_free(al_tensordict *td);

AL_API int64_t al_tensordict_batch_size(const al_tensordict *td); /* or AL_BATCH_UNSET */
AL_API al_device al_tensordict_device(const al_tensordict *td);
/* Number of direct entries (tensors and nested tensordicts). */
AL_API size_t al_tensordict_len(const al_tensordict *td);
/* True when `key` names an entry. */
AL_API int al_tensordict_contains(const al_tensordict *td, const char *key);

/* Sets entry `key` to a view of t with `flags` (AL_ENTRY_*), replacing an entry of that name in
 * place or appending one; missing parents in the path are created. AL_ESHAPE when t's first
 * dimension differs from the batch size (the message names the entry, expected and got),
 * AL_EINVAL for a bad key or a 0-d tensor, AL_EUNSUPPORTED for a tensor on another device than
 * the tensordict's (the message names the entry and both devices), AL_ENOMEM. */
AL_API AL_NODISCARD int al_tensordict_set(al_tensordict *td, const char *key, const al_tensor *t,
                                          unsigned flags, al_error *err);
/* The nested tensordict `key`, created (with missing parents) when absent. Borrowed: valid
 * until it or its parent is removed, cleaned up or freed. NULL on failure (err filled; AL_EINVAL
 * when `key` names a tensor). */
AL_API al_tensordict *al_tensordict_add_dict(al_tensordict *td, const char *key, unsigned flags,
                                             al_error *err);
/* A new handle on entry `key` (free it with al_tensor_free): a view of the stored tensor, or
 * for a dictionary-encoded string entry a decoded copy with the original strings. NULL on
 * failure: AL_ENOTFOUND, AL_EINVAL (a tensordict, not a tensor), AL_ENOMEM. */
AL_API AL_NODISCARD al_tensor *al_tensordict_get(const al_tensordict *td, const char *key,
                                                 al_error *err);
/* The stored tensor of `key`, borrowed until the entry changes; for a dictionary-encoded
 * entry, its codes. NULL when absent or not a tensor. */
AL_API const al_tensor *al_tensordict_borrow(const al_tensordict *td, const char *key);
/* For a dictionary-encoded entry: its codes (integers, the entry's shape) and its dictionary
 * (1-D strings; element codes[i] is dictionary[codes[i]]), borrowed until the entry changes.
 * Returns AL_OK, AL_ENOTFOUND, or AL_EINVAL when the entry is not encoded. */
AL_API AL_NODISCARD int al_tensordict_get_encoded(const al_tensordict *td, const char *key,
                                                  const al_tensor **codes,
                                                  const al_tensor **dictionary);
/* Sets entry `key` to dictionary-encoded strings, as al_tensordict_set sets a tensor: `codes`
 * (integers, the entry's shape, each in 0..n-1) and `dictionary` (n strings, 1-D), both on the
 * tensordict's device, kept as views. The pair reads back as al_tensordict_get_encoded gives
 * it, and al_tensordict_get decodes it. The dictionary's strings need not be distinct: two
 * codes may stand for equal strings, and each decodes as given. AL_EINVAL (the message names
 * the entry and the fault) for a NULL argument (named), codes that are not integers, a
 * dictionary that is not 1-D strings, a code outside the dictionary; otherwise what
 * al_tensordict_set returns. */
AL_API AL_NODISCARD int al_tensordict_set_encoded(al_tensordict *td, const char *key,
                                                  const al_tensor *codes,
                                                  const al_tensor *dictionary, unsigned flags,
                                                  al_error *err);
/* The nested tensordict `key` (borrowed, as for add_dict), or NULL. */
AL_API al_tensordict *al_tensordict_get_dict(const al_tensordict *td, const char *key);
/* Removes entry `key` (a nested tensordict with all it holds). AL_OK or AL_ENOTFOUND. */
AL_API AL_NODISCARD int al_tensordict_remove(al_tensordict *td, const char *key, al_error *err);
/* Renames entry `old_key` to `new_key` in the same parent, keeping its position. AL_ENOTFOUND,
 * AL_EINVAL (another parent, bad or taken name), AL_ENOMEM. */
AL_API AL_NODISCARD int al_tensordict_rename(al_tensordict *td, const char *old_key,
                                             const char *new_key, al_error *err);
/* The flags of entry `key` into *flags; AL_OK or AL_ENOTFOUND. */
AL_API AL_NODISCARD int al_tensordict_get_flags(const al_tensordict *td, const char *key,
                                                unsigned *flags);
/* Replaces the flags of entry `key`; AL_OK or AL_ENOTFOUND. */
AL_API AL_NODISCARD int al_tensordict_set_flags(al_tensordict *td, const char *key, unsigned flags);

/* One direct entry, as iteration sees it. Pointers are borrowed until the entry changes. */
typedef struct al_tensordict_entry {
    const char *name;            /* the entry's own name, as given (not escaped) */
    const al_tensor *tensor;     /* stored tensor (codes when encoded), or NULL for a tensordict */
    al_tensordict *dict;         /* nested tensordict, or NULL for a tensor */
    const al_tensor *dictionary; /* dictionary of an encoded string entry, else NULL */
    unsigned flags;              /* AL_ENTRY_* */
} al_tensordict_entry;

/* Fills *out with direct entry i (0 <= i < len), in insertion order. AL_OK or AL_EINVAL. */
AL_API AL_NODISCARD int al_tensordict_entry_at(const al_tensordict *td, size_t i,
                                               al_tensordict_entry *out);
/* Calls fn for every tensor entry in order, nested ones depth-first, with its key: the full
 * dotted path, each name escaped as al_tensordict_key_escape does (valid during the call; pass
 * it to al_tensordict_key_name for the text to show). A non-zero return from fn stops the walk;
 * *stopped (may be NULL) gets that value, or 0 when every entry was visited. The tensordict must
 * not change during the walk. Returns AL_OK, AL_EINVAL (td or fn NULL), or AL_ENOMEM when a
 * path cannot be built (the walk stops; *stopped is written only on AL_OK). */
typedef int (*al_tensordict_visit_fn)(const char *path, const al_tensordict_entry *entry,
                                      void *user);
AL_API AL_NODISCARD int al_tensordict_foreach(const al_tensordict *td, al_tensordict_visit_fn fn,
                                              void *user, int *stopped);

/* Writes `name` as one key component into buf (len bytes, NUL-terminated, truncated; buf may
 * be NULL when len is 0): a '\' before each '.' and '\'. Returns the length of the whole
 * component, as snprintf does: buf was too small when the result is >= len. */
AL_API size_t al_tensordict_key_escape(const char *name, char *buf, size_t len);
/* The text a key stands for, for display and for files (FITS TTYPEn, JSON "name"): its
 * components' names joined by '.', escapes removed ("ANTENNA NO\." gives "ANTENNA NO."; for a
 * direct entry it is the entry's name). Written into buf as al_tensordict_key_escape does, with
 * the same return. */
AL_API size_t al_tensordict_key_name(const char *key, char *buf, size_t len);

/* A new root tensordict (free it with al_tensordict_free) of rows start..stop-1: every tensor
 * is a view sharing storage, flags and nesting are kept. NULL on failure (err filled). */
AL_API AL_NODISCARD al_tensordict *al_tensordict_slice(const al_tensordict *td, int64_t start,
                                                       int64_t stop, al_error *err);

/* A new root tensordict on `device` (free it with al_tensordict_free) holding a copy of every
 * entry of td, nested tensordicts included, with the same names, order, flags and batch size:
 * each tensor copied as by al_tensor_to (always a copy, even to td's own device), encoded
 * string entries keeping their encoding. td may be nested: the copy is a root. Atomic: on
 * failure nothing is left allocated, host or device, and NULL is returned with err naming the
 * entry: codes as al_tensor_to. */
AL_API AL_NODISCARD al_tensordict *al_tensordict_to(const al_tensordict *td, al_device device,
                                                    al_error *err);

/* -------- The seed's memory methods. -------- */

/* Devices memory_info counts one by one; as AL_CUDA_MAX_DEVICES of <astrolab/cuda.h>. */
#define AL_TENSOR_MAX_CUDA_DEVICES 16

/* One row of memory_info: one per tensor entry, depth-first in order. */
typedef struct al_tensordict_meminfo_row {
    const char *name; /* full dotted path; lives in the info's allocation */
    al_dtype dtype;   /* logical type: AL_DTYPE_STRING for dictionary-encoded entries */
    int ndim;
    int64_t shape[AL_TENSOR_MAX_DIMS];
    uint64_t bytes;      /* storage bytes this entry keeps alive (codes + dictionary) */
    uint64_t view_bytes; /* numel * itemsize of the stored tensor(s) */
    al_device device;
    int shared;    /* another entry of this tensordict uses the same storage */
    int temporary; /* flagged AL_ENTRY_TEMPORARY (itself or a parent) */
    int encoded;   /* dictionary-encoded strings */
} al_tensordict_meminfo_row;

typedef struct al_tensordict_meminfo {
    uint64_t total_bytes;  /* distinct storage bytes: storage shared by entries counted once */
    double total_mb;       /* total_bytes in MiB */
    uint64_t n_tensors;    /* tensor entries, nested ones included */
    uint64_t cpu_bytes;    /* of total_bytes, on the CPU */
    uint64_t cuda_bytes;   /* of total_bytes, on CUDA devices */
    uint64_t shared_bytes; /* bytes of storage used by more than one entry, counted once */
    size_t n_rows;         /* rows in `rows` (== n_tensors) */
    al_tensordict_meminfo_row *rows; /* release with al_tensordict_memory_info_release */
    /* of cuda_bytes, per device ordinal (devices beyond the array are counted in cuda_bytes
     * only) */
    uint64_t cuda_device_bytes[AL_TENSOR_MAX_CUDA_DEVICES];
} al_tensordict_meminfo;

/* Fills *info from the entries' metadata (no element is read; O(entries)). Release the rows
 * with al_tensordict_memory_info_release. AL_OK, AL_EINVAL, or AL_ENOMEM (info untouched). */
AL_API AL_NODISCARD int al_tensordict_memory_info(const al_tensordict *td,
                                                  al_tensordict_meminfo *info);
/* Frees the rows of *info and zeroes it; NULL does nothing. */
AL_API void al_tensordict_memory_info_release(al_tensordict_meminfo *info);
/* The bytes of storage td's entries keep alive, into *bytes: memory_info's total_bytes (shared
 * storage counted once, every device), without its rows. AL_OK, AL_EINVAL, or AL_ENOMEM. */
AL_API AL_NODISCARD int al_tensordict_nbytes(const al_tensordict *td, uint64_t *bytes);
/* memory_info as JSON: {"total_bytes", "total_mb", "n_tensors", "shared_bytes", "devices":
 * {"cpu": bytes, and when there are any "cuda": bytes, "cuda:0": bytes, ... per device},
 * "entries": [{"name", "dtype", "shape", "bytes", "view_bytes", "device",
 * "shared", "temporary", "encoding"}]}. free() it; NULL on failure. */
AL_API AL_NODISCARD char *al_tensordict_memory_info_json(const al_tensordict *td);

/* Releases all tensor storage the tensordict holds now: every entry (tensors and nested
 * tensordicts) is removed, and the batch size returns to its value at creation. The tensordict
 * stays valid and registered, ready for reuse. Storage also used by outside handles lives on
 * until they go. Device storage goes back to the CUDA cache (al_cuda_free: the allocator's
 * allocated bytes drop; its reserved bytes stay until al_cuda_empty_cache). Returns the number of
 * entries removed (>= 0), or AL_EINVAL. Cannot fail otherwise. */
AL_API int al_tensordict_cleanup(al_tensordict *td);
/* Drops every entry flagged AL_ENTRY_TEMPORARY, nested ones included. Returns the number
 * dropped (>= 0) or AL_EINVAL. Allocates nothing, so it cannot fail otherwise. */
AL_API int al_tensordict_clear_temp_tensors(al_tensordict *td);

/* -------- optimize_memory. -------- */
enum {
    AL_OPTIMIZE_COMPACT = 1u << 0,      /* copy views that pin much larger storage */
    AL_OPTIMIZE_SHARE = 1u << 1,        /* identical columns share one storage */
    AL_OPTIMIZE_NARROW_INT = 1u << 2,   /* integers to the smallest type holding every value */
    AL_OPTIMIZE_NARROW_FLOAT = 1u << 3, /* float64 to float32 where every value round-trips */
    AL_OPTIMIZE_STRINGS = 1u << 4,      /* dictionary encoding, or a narrower string width */
    AL_OPTIMIZE_LOSSLESS = 0x1f,        /* all of the above: the default */
};

typedef struct al_optimize_options {
    unsigned passes;          /* AL_OPTIMIZE_* bits; AL_OPTIMIZE_LOSSLESS by default */
    int dry_run;              /* 1: report what would be done, change nothing */
    int lossy_float;          /* 1: float64 to float32 also where values change within tolerance */
    double tolerance;         /* lossy bound: |x - (double)(float)x| <= tolerance * |x| per value */
    double compact_ratio;     /* compact when storage bytes > ratio * bytes viewed (default 2) */
    uint64_t dict_max_unique; /* most distinct strings to encode (default 65536) */
} al_optimize_options;

/* Fills *opts with the defaults above. */
AL_API void al_optimize_options_init(al_optimize_options *opts);

/* What optimize did (or would do) to one entry; bits may combine. */
enum {
    AL_OPT_ACTION_NONE = 0,
    AL_OPT_ACTION_COMPACT = 1u << 0,
    AL_OPT_ACTION_SHARE = 1u << 1, /* now shares the storage of `shared_with` */
    AL_OPT_ACTION_NARROW_INT = 1u << 2,
    AL_OPT_ACTION_NARROW_FLOAT = 1u << 3, /* lossless float64 -> float32 */
    AL_OPT_ACTION_LOSSY_FLOAT = 1u << 4,  /* float64 -> float32 within the tolerance */
    AL_OPT_ACTION_DICT_ENCODE = 1u << 5,
    AL_OPT_ACTION_NARROW_STRING = 1u << 6, /* narrower fixed width */
};

typedef struct al_optimize_entry {
    const char *name;        /* full dotted path; lives in the report's allocation */
    unsigned action;         /* AL_OPT_ACTION_* bits */
    al_dtype dtype_before;   /* stored type before */
    al_dtype dtype_after;    /* stored type after (the codes' type when encoded) */
    uint64_t bytes_before;   /* storage bytes, each storage counted at its first entry */
    uint64_t bytes_after;    /* likewise, after */
    double max_rel_error;    /* largest relative change of a lossy narrowing, else 0 */
    const char *shared_with; /* path of the entry whose storage it shares, or NULL */
} al_optimize_entry;

typedef struct al_optimize_report {
    int dry_run;                /* the options' dry_run */
    uint64_t bytes_before;      /* distinct storage bytes before */
    uint64_t bytes_after;       /* after (or, dry run, what it would be) */
    uint64_t bytes_scanned;     /* element bytes read to decide */
    uint64_t duration_ns;       /* wall time */
    size_t n_entries;           /* one per tensor entry, depth-first */
    al_optimize_entry *entries; /* release with al_optimize_report_release */
} al_optimize_report;

/* Rewrites the entries to use less memory as `opts` (NULL: lossless defaults) allows. Values
 * read back through al_tensordict_get equal the originals (bitwise for floats, strings byte for
 * byte) unless lossy_float is set; stored types may narrow. Dictionary-encoded entries are
 * left alone. CPU tensordicts only: one on a CUDA device gives AL_EUNSUPPORTED (a WARNING on
 * "astrolab.tensors" names the device). `report` may be NULL. AL_OK; on failure (AL_EINVAL,
 * AL_ENOMEM, AL_EUNSUPPORTED) the tensordict is unchanged and report untouched. Peak memory: the
 * original plus the new storage of every changed entry, until the call returns. */
AL_API AL_NODISCARD int al_tensordict_optimize_memory(al_tensordict *td,
                                                      const al_optimize_options *opts,
                                                      al_optimize_report *report);
/* Frees the entries of *report and zeroes it; NULL does nothing. */
AL_API void al_optimize_report_release(al_optimize_report *report);
/* The report as JSON: {"dry_run", "bytes_before", "bytes_after", "bytes_saved",
 * "bytes_scanned", "duration_ns", "entries": [{"name", "action", "dtype_before", "dtype_after",
 * "bytes_before", "bytes_after", "max_rel_error", "shared_with"}]}, "action" being "none" or
 * names joined by '+' ("compact+narrow_int"). free() it; NULL on failure. */
AL_API AL_NODISCARD char *al_optimize_report_json(const al_optimize_report *report);

#ifdef __cplusplus
}
#endif
/* SPEC §3 places al_survey_load with the tensors: its header comes with this one. */
#include "astrolab/survey.h"

#endif /* ASTROLAB_TENSORS_H */
