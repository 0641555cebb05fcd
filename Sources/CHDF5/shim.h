// CHDF5 shim: the HDF5 C API. Swift cannot import the H5T_NATIVE_* macros (they call
// functions), so small inline accessors expose the ones llx uses.
#include <hdf5.h>
#include <stdlib.h>
#include <string.h>
static inline hid_t llx_h5t_native_float(void) { return H5T_NATIVE_FLOAT; }
static inline hid_t llx_h5t_native_double(void) { return H5T_NATIVE_DOUBLE; }
static inline hid_t llx_h5t_native_int32(void) { return H5T_NATIVE_INT32; }
static inline hid_t llx_h5t_native_int64(void) { return H5T_NATIVE_INT64; }
static inline hid_t llx_h5t_native_uint8(void) { return H5T_NATIVE_UINT8; }
static inline hid_t llx_h5t_native_uint16(void) { return H5T_NATIVE_UINT16; }
static inline hid_t llx_h5t_ieee_f32le(void) { return H5T_IEEE_F32LE; }
static inline hid_t llx_h5t_c_s1(void) { return H5T_C_S1; }
static inline hid_t llx_h5p_file_access(void) { return H5P_FILE_ACCESS; }
static inline hid_t llx_h5p_dataset_create(void) { return H5P_DATASET_CREATE; }
static inline hid_t llx_h5p_link_create(void) { return H5P_LINK_CREATE; }
static inline hid_t llx_h5p_attribute_create(void) { return H5P_ATTRIBUTE_CREATE; }
static inline hid_t llx_h5p_default(void) { return H5P_DEFAULT; }
static inline hid_t llx_h5s_all(void) { return H5S_ALL; }
static inline unsigned llx_h5f_acc_rdonly(void) { return H5F_ACC_RDONLY; }
static inline unsigned llx_h5f_acc_rdwr(void) { return H5F_ACC_RDWR; }
static inline unsigned llx_h5f_acc_trunc(void) { return H5F_ACC_TRUNC; }
static inline unsigned llx_h5f_acc_excl(void) { return H5F_ACC_EXCL; }

// Added by Checkpoint: more type/property accessors and helpers that hide the differences
// between HDF5 1.10 and 1.12+ (H5O_info_t vs H5O_info2_t, H5Dvlen_reclaim vs H5Treclaim).
static inline hid_t llx_h5e_default(void) { return H5E_DEFAULT; }
static inline size_t llx_h5t_variable(void) { return H5T_VARIABLE; }
static inline hid_t llx_h5t_ieee_f64le(void) { return H5T_IEEE_F64LE; }
static inline hid_t llx_h5t_std_i32le(void) { return H5T_STD_I32LE; }
static inline hid_t llx_h5t_std_i64le(void) { return H5T_STD_I64LE; }
static inline hid_t llx_h5t_std_u8le(void) { return H5T_STD_U8LE; }
static inline hid_t llx_h5t_std_u16le(void) { return H5T_STD_U16LE; }
static inline hid_t llx_h5p_group_create(void) { return H5P_GROUP_CREATE; }
static inline hid_t llx_h5p_file_create(void) { return H5P_FILE_CREATE; }
/// An IEEE binary16 little-endian float type, as h5py defines float16 (caller closes it).
static inline hid_t llx_h5t_make_f16le(void) {
    hid_t t = H5Tcopy(H5T_IEEE_F32LE);
    if (t < 0) return t;
    if (H5Tset_fields(t, 15, 10, 5, 0, 10) < 0 || H5Tset_size(t, 2) < 0 || H5Tset_ebias(t, 15) < 0) {
        H5Tclose(t);
        return -1;
    }
    return t;
}
/// Type of the object at `name` below `loc` (H5O_TYPE_GROUP, H5O_TYPE_DATASET, ...), -1 on error.
static inline int llx_h5_object_type(hid_t loc, const char *name) {
#if H5_VERSION_GE(1, 12, 0)
    H5O_info2_t info;
    if (H5Oget_info_by_name3(loc, name, &info, H5O_INFO_BASIC, H5P_DEFAULT) < 0) return -1;
#else
    H5O_info_t info;
    if (H5Oget_info_by_name2(loc, name, &info, H5O_INFO_BASIC, H5P_DEFAULT) < 0) return -1;
#endif
    return (int)info.type;
}
/// Frees the memory HDF5 allocated for variable-length data read into `buf`.
static inline herr_t llx_h5_reclaim(hid_t type, hid_t space, void *buf) {
#if H5_VERSION_GE(1, 12, 0)
    return H5Treclaim(type, space, H5P_DEFAULT, buf);
#else
    return H5Dvlen_reclaim(type, space, H5P_DEFAULT, buf);
#endif
}

/// Link names of a group in name order, as one malloc'ed buffer of NUL-terminated names
/// (*length = total bytes); NULL on error. The caller frees it with free().
typedef struct { char *buf; size_t len, cap; } llx_h5_names_t;
#if H5_VERSION_GE(1, 12, 0)
static herr_t llx_h5__collect(hid_t g, const char *name, const H5L_info2_t *info, void *data) {
#else
static herr_t llx_h5__collect(hid_t g, const char *name, const H5L_info_t *info, void *data) {
#endif
    (void)g; (void)info;
    llx_h5_names_t *n = (llx_h5_names_t *)data;
    size_t k = strlen(name) + 1;
    if (n->len + k > n->cap) {
        size_t cap = (n->cap + k) * 2;
        char *b = (char *)realloc(n->buf, cap);
        if (!b) return -1;
        n->buf = b;
        n->cap = cap;
    }
    memcpy(n->buf + n->len, name, k);
    n->len += k;
    return 0;
}
static inline char *llx_h5_list_links(hid_t group, size_t *length) {
    llx_h5_names_t n = {NULL, 0, 0};
    hsize_t idx = 0;
#if H5_VERSION_GE(1, 12, 0)
    herr_t r = H5Literate2(group, H5_INDEX_NAME, H5_ITER_INC, &idx, llx_h5__collect, &n);
#else
    herr_t r = H5Literate(group, H5_INDEX_NAME, H5_ITER_INC, &idx, llx_h5__collect, &n);
#endif
    if (r < 0) { free(n.buf); return NULL; }
    if (!n.buf) n.buf = (char *)malloc(1);
    *length = n.len;
    return n.buf;
}

// Trial read of a whole file, for a file whose llx seal no longer matches (damaged, or edited by
// another HDF5 tool): opens it, visits every object, reads every attribute and every dataset in
// full. Plain C only, so that it can run in a forked child (see Integrity.trialRead): a crash
// there costs the child, not the session. Returns 0 when everything read.
typedef struct { size_t max_data; int strict; } llx_h5_trial_opts;
// strict 0 (a file from another tool, checked for crashes only): an attribute or dataset too
// large to read or that HDF5 fails to read is passed over (the real read reports it); only a
// structure HDF5 cannot walk fails.
// The bytes an element takes in a read: the larger of its size in the file and in memory, since
// HDF5 converts through buffers of the larger (a damaged file type claiming hundreds of MB an
// element, converted to a small native type, had H5Dread calloc and clear that much).
static inline size_t llx_h5__elem_size(hid_t t, hid_t nt) {
    size_t a = t >= 0 ? H5Tget_size(t) : 0, b = nt >= 0 ? H5Tget_size(nt) : 0;
    return a == 0 || b == 0 ? 0 : (a > b ? a : b);
}
static herr_t llx_h5__read_attr(hid_t loc, const char *name, const H5A_info_t *info, void *data) {
    (void)info;
    const llx_h5_trial_opts *o = (const llx_h5_trial_opts *)data;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    if (a < 0) return -1;
    hid_t t = H5Aget_type(a), s = H5Aget_space(a), nt = t >= 0 ? H5Tget_native_type(t, H5T_DIR_DEFAULT) : -1;
    hssize_t n = s >= 0 ? H5Sget_simple_extent_npoints(s) : -1;
    size_t sz = llx_h5__elem_size(t, nt);
    herr_t r = o->strict ? -1 : 0;
    // at most 16 GB, and no more than a dataset may take (max_data)
    const size_t cap = o->max_data < ((size_t)1 << 34) ? o->max_data : ((size_t)1 << 34);
    if (n >= 0 && sz > 0 && (size_t)n < cap / sz) {
        void *buf = calloc((size_t)n + 1, sz);
        if (buf) { r = (H5Aread(a, nt, buf) < 0 && o->strict) ? -1 : 0; free(buf); }
    }
    if (nt >= 0) H5Tclose(nt);
    if (t >= 0) H5Tclose(t);
    if (s >= 0) H5Sclose(s);
    H5Aclose(a);
    return r;
}
static inline herr_t llx_h5__read_object(hid_t root, const char *name, const llx_h5_trial_opts *opts) {
    int type = llx_h5_object_type(root, name);
    if (type < 0) return -1;
    hid_t o = H5Oopen(root, name, H5P_DEFAULT);
    if (o < 0) return -1;
    hsize_t idx = 0;
    herr_t r = H5Aiterate2(o, H5_INDEX_NAME, H5_ITER_INC, &idx, llx_h5__read_attr, (void *)opts);
    if (r >= 0 && type == H5O_TYPE_DATASET) {
        hid_t t = H5Dget_type(o), s = H5Dget_space(o), nt = t >= 0 ? H5Tget_native_type(t, H5T_DIR_DEFAULT) : -1;
        hssize_t n = s >= 0 ? H5Sget_simple_extent_npoints(s) : -1;
        size_t sz = llx_h5__elem_size(t, nt);
        if (t < 0 || s < 0 || n < 0) r = -1;
        else if (sz > 0 && (size_t)n < opts->max_data / sz) {
            void *buf = malloc(((size_t)n + 1) * sz);
            r = buf ? ((H5Dread(o, nt, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0 && opts->strict) ? -1 : 0) : (opts->strict ? -1 : 0);
            free(buf);
        } else if (opts->strict) r = -1;   /* too large to check */
        if (nt >= 0) H5Tclose(nt);
        if (t >= 0) H5Tclose(t);
        if (s >= 0) H5Sclose(s);
    }
    H5Oclose(o);
    return r < 0 ? -1 : 0;
}
#if H5_VERSION_GE(1, 12, 0)
static herr_t llx_h5__visit(hid_t root, const char *name, const H5L_info2_t *info, void *data) {
#else
static herr_t llx_h5__visit(hid_t root, const char *name, const H5L_info_t *info, void *data) {
#endif
    if (info->type != H5L_TYPE_HARD) return 0;
    return llx_h5__read_object(root, name, (const llx_h5_trial_opts *)data) < 0 ? -1 : 0;
}
/// Datasets of up to max_data bytes are read in full (0: each dataset's type and shape only).
static inline int llx_h5_trial_read(const char *path, size_t max_data, int strict) {
    llx_h5_trial_opts opts = { max_data, strict };
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    if (H5Fis_hdf5(path) <= 0) return 1;
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return 1;
    hid_t root = H5Gopen2(f, "/", H5P_DEFAULT);
    if (root < 0) return 1;
    hsize_t idx = 0;
    if (H5Aiterate2(root, H5_INDEX_NAME, H5_ITER_INC, &idx, llx_h5__read_attr, &opts) < 0) return 1;
#if H5_VERSION_GE(1, 12, 0)
    herr_t r = H5Lvisit2(root, H5_INDEX_NAME, H5_ITER_INC, llx_h5__visit, &opts);
#else
    herr_t r = H5Lvisit(root, H5_INDEX_NAME, H5_ITER_INC, llx_h5__visit, &opts);
#endif
    if (r < 0) return 1;
    H5Gclose(root);
    return H5Fclose(f) < 0 ? 1 : 0;
}
/// The forked child of a trial read: its exit status (0: read). A damaged heap shows at the
/// next allocations (glibc checks its chunks there), made before exiting.
static inline int llx_h5_trial_child(const char *path, size_t max_data, int strict) {
    int r = llx_h5_trial_read(path, max_data, strict);
    for (int k = 0; k < 64; k++) { void *p = malloc((size_t)16 << (k % 16)); if (p) { ((volatile char *)p)[0] = 1; free(p); } }
    return r;
}
