/*
 * A stand-in for librknnmrt.so, the RKNN mini runtime of the RV1103/RV1106, for
 * tests/test_npu.py. It is compiled by the test with the machine's gcc.
 *
 * The structures below are written from rknn_api.h of rknn-toolkit2 2.x (read from
 * airockchip/rknn_model_zoo, 3rdparty/rknpu2/include/rknn_api.h), independently of
 * the Python ones in device/rknn_api.py, so that a mistake on either side shows up as
 * a disagreement. Only what device/npu.py uses is implemented: rknn_init, rknn_query
 * (including RKNN_QUERY_SDK_VERSION), rknn_create_mem, rknn_set_io_mem, rknn_run,
 * rknn_destroy_mem, rknn_destroy.
 *
 * Its version: STANDIN_VERSION (default "2.3.2", the RV1103 runtime the project's models
 * are made for). RKNN_QUERY_SDK_VERSION answers it, and the file carries it as Rockchip's
 * runtime does ("librknnmrt version: 2.3.2 (...)", read by strings | grep), so the
 * preflight and the device find the same version. Build with another, e.g.
 * -DSTANDIN_VERSION='"1.6.0"', to play a board whose runtime does not match the model.
 *
 * What it checks, as a strict runtime would:
 *   - rknn_query's size argument equals sizeof the struct asked for;
 *   - the context handle comes back with all its bits (uint64_t off 32-bit ARM);
 *   - rknn_set_io_mem gets a buffer this library made (magic in priv_data, flags,
 *     fd, size and virt_addr as handed out) and an attribute equal to the native one
 *     it handed out for that tensor (found by name): dims, fmt, type, quantisation,
 *     w_stride, size_with_stride; and that the buffer holds size_with_stride bytes.
 * Any failure returns an RKNN_ERR_* code and leaves a message for standin_last_error().
 *
 * The "model" is a small blob (little-endian), not an RKNN file:
 *   header   "RKSTANDN", u32 version (1), u32 n_inputs, u32 n_outputs (1),
 *            u16 toolkit, u16 flags
 *   tensors  n_inputs + n_outputs descriptors of 72 bytes:
 *            char name[32], u32 fmt, u32 n_dims, u32 dims[4], u32 w_stride,
 *            u32 size_with_stride, i32 zp, f32 scale   (all tensors int8, affine)
 *   model    i32 divisor, i32 bias[n_out], i8 weight[n_out][n_in]
 * where n_in counts every input element in channel-last order, inputs one after the
 * other, and n_out the output's elements. rknn_run computes, in integers,
 *   acc[k] = bias[k] + sum_j weight[k][j] * (q_j - zp_j)
 *   q_out[k] = clamp(zp_out + acc[k] / divisor rounded half away from zero, -128, 127)
 * reading the inputs from, and writing the output to, the buffers in their native
 * layouts (NHWC and NCHW rows padded to w_stride; other ranks in C order). Bytes of
 * the output buffer past the data are set to 0x7f.
 *
 * toolkit is the version of the (pretend) rknn-toolkit2 that made the model, major << 8 |
 * minor (0: any). As on the board, rknn_init refuses a model made by a newer toolkit
 * than the runtime: "Invalid RKNN model version", RKNN_ERR_MODEL_INVALID. flags bit 0
 * marks a model with int16 layers (the hybrid one); a runtime built with
 * -DSTANDIN_NO_INT16 refuses it at rknn_init (RKNN_ERR_MODEL_INVALID), as an RV1103
 * runtime whose LSTM is int8 only might: the all-int8 model still loads.
 *
 * Build variants: -DSTANDIN_MOVE_FIELD moves size_with_stride in rknn_tensor_attr up
 * to just after size (a deliberately wrong layout the binding must fail against);
 * -DSTANDIN_LAYOUT_ONLY leaves only the type definitions (for a cross-compiler's
 * layout check, which needs no C library).
 */

#include <stddef.h>
#include <stdint.h>

#ifndef STANDIN_VERSION
#define STANDIN_VERSION "2.3.2"
#endif
/* The NPU kernel driver's version the stand-in reports (rknn_sdk_version.drv_version). */
#define STANDIN_DRIVER_VERSION "0.9.8"

#ifdef __arm__
typedef uint32_t rknn_context;
#else
typedef uint64_t rknn_context;
#endif

#define RKNN_MAX_DIMS 16
#define RKNN_MAX_NAME_LEN 256

typedef enum {
    RKNN_TENSOR_NCHW = 0,
    RKNN_TENSOR_NHWC = 1,
    RKNN_TENSOR_NC1HWC2 = 2,
    RKNN_TENSOR_UNDEFINED = 3
} rknn_tensor_format;

typedef enum {
    RKNN_TENSOR_FLOAT32 = 0,
    RKNN_TENSOR_FLOAT16 = 1,
    RKNN_TENSOR_INT8 = 2,
    RKNN_TENSOR_UINT8 = 3,
    RKNN_TENSOR_INT16 = 4
} rknn_tensor_type;

typedef enum {
    RKNN_TENSOR_QNT_NONE = 0,
    RKNN_TENSOR_QNT_DFP = 1,
    RKNN_TENSOR_QNT_AFFINE_ASYMMETRIC = 2
} rknn_tensor_qnt_type;

typedef struct {
    uint32_t n_input;
    uint32_t n_output;
} rknn_input_output_num;

typedef struct {
    uint32_t index;
    uint32_t n_dims;
    uint32_t dims[RKNN_MAX_DIMS];
    char name[RKNN_MAX_NAME_LEN];
    uint32_t n_elems;
    uint32_t size;
#ifdef STANDIN_MOVE_FIELD
    uint32_t size_with_stride; /* moved: NOT where rknn_api.h has it */
#endif
    rknn_tensor_format fmt;
    rknn_tensor_type type;
    rknn_tensor_qnt_type qnt_type;
    int8_t fl;
    int32_t zp;
    float scale;
    uint32_t w_stride;
#ifndef STANDIN_MOVE_FIELD
    uint32_t size_with_stride;
#endif
    uint8_t pass_through;
    uint32_t h_stride;
} rknn_tensor_attr;

typedef struct {
    void *virt_addr;
    uint64_t phys_addr;
    int32_t fd;
    int32_t offset;
    uint32_t size;
    uint32_t flags;
    void *priv_data;
} rknn_tensor_mem;

typedef struct {
    char api_version[256];
    char drv_version[256];
} rknn_sdk_version;

#ifndef STANDIN_LAYOUT_ONLY

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RKNN_SUCC 0
#define RKNN_ERR_FAIL -1
#define RKNN_ERR_PARAM_INVALID -5
#define RKNN_ERR_MODEL_INVALID -6
#define RKNN_ERR_CTX_INVALID -7
#define RKNN_ERR_INPUT_INVALID -8
#define RKNN_ERR_OUTPUT_INVALID -9

#define RKNN_QUERY_IN_OUT_NUM 0
#define RKNN_QUERY_INPUT_ATTR 1
#define RKNN_QUERY_OUTPUT_ATTR 2
#define RKNN_QUERY_SDK_VERSION 5
#define RKNN_QUERY_NATIVE_INPUT_ATTR 8
#define RKNN_QUERY_NATIVE_OUTPUT_ATTR 9
#define RKNN_QUERY_NATIVE_NHWC_INPUT_ATTR 10
#define RKNN_QUERY_NATIVE_NHWC_OUTPUT_ATTR 11

#define RKNN_TENSOR_MEMORY_FLAGS_ALLOC_INSIDE 1

#define MAX_TENSORS 8
#define MAX_CONTEXTS 16
#define MAX_MEMS 64
#define MAX_ELEMS (1u << 20)
#define DESC_BYTES 72
#define HEADER_BYTES 24
#define MEM_MAGIC 0x4d454d53u /* "SMEM" */
#define FLAG_INT16 1u          /* header flags: the model has int16 layers */

/* In the file, where strings | grep "librknnmrt version" finds it (as in Rockchip's). */
const char standin_version_string[] =
    "librknnmrt version: " STANDIN_VERSION " (stand-in, tests/rknn_standin)";
#define PHYS_BASE 0xa5a5a5a500000000ull

#ifdef __arm__
#define HANDLE_BASE 0xc7c70000u
#else
#define HANDLE_BASE 0xc7c7c7c700000000ull
#endif

typedef struct {
    char name[33];
    uint32_t fmt, n_dims, dims[4], w_stride, size_with_stride, n_elems, padded_bytes;
    int32_t zp;
    float scale;
} tensor_desc;

typedef struct {
    int used;
    uint32_t n_inputs, n_outputs, n_in_elems, n_out_elems;
    tensor_desc tensors[MAX_TENSORS]; /* inputs, then outputs */
    int32_t divisor;
    int32_t *bias;
    int8_t *weight;
    rknn_tensor_mem *bound[MAX_TENSORS];
} standin_ctx;

typedef struct {
    uint32_t magic;
    rknn_tensor_mem *mem;
    void *buffer;
    uint32_t size;
    int32_t fd;
    rknn_context owner;
} mem_priv;

static standin_ctx contexts[MAX_CONTEXTS];
static rknn_tensor_mem *mems[MAX_MEMS];
static int live_contexts, live_mems, runs, mems_made;
static char last_error[512];

static int fail(int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    fprintf(stderr, "rknn_standin: %s (returns %d)\n", last_error, code);
    return code;
}

/* ---- debug exports: the layout as this compiler sees it ------------------------ */

typedef struct {
    const char *strct, *field;
    int32_t offset, size;
} field_info;

#define FIELD(S, M) {#S, #M, (int32_t)offsetof(S, M), (int32_t)sizeof(((S *)0)->M)}

static const field_info fields[] = {
    FIELD(rknn_input_output_num, n_input),
    FIELD(rknn_input_output_num, n_output),
    FIELD(rknn_tensor_attr, index),
    FIELD(rknn_tensor_attr, n_dims),
    FIELD(rknn_tensor_attr, dims),
    FIELD(rknn_tensor_attr, name),
    FIELD(rknn_tensor_attr, n_elems),
    FIELD(rknn_tensor_attr, size),
    FIELD(rknn_tensor_attr, fmt),
    FIELD(rknn_tensor_attr, type),
    FIELD(rknn_tensor_attr, qnt_type),
    FIELD(rknn_tensor_attr, fl),
    FIELD(rknn_tensor_attr, zp),
    FIELD(rknn_tensor_attr, scale),
    FIELD(rknn_tensor_attr, w_stride),
    FIELD(rknn_tensor_attr, size_with_stride),
    FIELD(rknn_tensor_attr, pass_through),
    FIELD(rknn_tensor_attr, h_stride),
    FIELD(rknn_tensor_mem, virt_addr),
    FIELD(rknn_tensor_mem, phys_addr),
    FIELD(rknn_tensor_mem, fd),
    FIELD(rknn_tensor_mem, offset),
    FIELD(rknn_tensor_mem, size),
    FIELD(rknn_tensor_mem, flags),
    FIELD(rknn_tensor_mem, priv_data),
    FIELD(rknn_sdk_version, api_version),
    FIELD(rknn_sdk_version, drv_version),
};

int32_t standin_sizeof(const char *strct) {
    if (!strcmp(strct, "rknn_input_output_num")) return (int32_t)sizeof(rknn_input_output_num);
    if (!strcmp(strct, "rknn_tensor_attr")) return (int32_t)sizeof(rknn_tensor_attr);
    if (!strcmp(strct, "rknn_tensor_mem")) return (int32_t)sizeof(rknn_tensor_mem);
    if (!strcmp(strct, "rknn_sdk_version")) return (int32_t)sizeof(rknn_sdk_version);
    if (!strcmp(strct, "rknn_context")) return (int32_t)sizeof(rknn_context);
    return -1;
}

static const field_info *find_field(const char *strct, const char *field) {
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (!strcmp(fields[i].strct, strct) && !strcmp(fields[i].field, field)) return &fields[i];
    return NULL;
}

int32_t standin_offsetof(const char *strct, const char *field) {
    const field_info *f = find_field(strct, field);
    return f ? f->offset : -1;
}

int32_t standin_fieldsize(const char *strct, const char *field) {
    const field_info *f = find_field(strct, field);
    return f ? f->size : -1;
}

const char *standin_last_error(void) { return last_error; }
int standin_live_contexts(void) { return live_contexts; }
int standin_live_mems(void) { return live_mems; }
int standin_runs(void) { return runs; }

/* ---- model blob ------------------------------------------------------------------ */

static uint32_t rd_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int32_t rd_i32(const uint8_t *p) {
    uint32_t u = rd_u32(p);
    int32_t v;
    memcpy(&v, &u, sizeof v);
    return v;
}

static float rd_f32(const uint8_t *p) {
    uint32_t u = rd_u32(p);
    float v;
    memcpy(&v, &u, sizeof v);
    return v;
}

static int is_strided(const tensor_desc *t) {
    return t->n_dims == 4 && (t->fmt == RKNN_TENSOR_NHWC || t->fmt == RKNN_TENSOR_NCHW);
}

static uint32_t row_stride(const tensor_desc *t) {
    uint32_t width = t->fmt == RKNN_TENSOR_NHWC ? t->dims[2] : t->dims[3];
    return t->w_stride ? t->w_stride : width;
}

/* Byte offset in the native buffer of the e-th element in channel-last order. */
static uint32_t native_offset(const tensor_desc *t, uint32_t e) {
    if (!is_strided(t)) return e;
    uint32_t ws = row_stride(t);
    if (t->fmt == RKNN_TENSOR_NHWC) {
        uint32_t H = t->dims[1], W = t->dims[2], C = t->dims[3];
        uint32_t c = e % C, w = (e / C) % W, h = (e / C / W) % H, n = e / C / W / H;
        return ((n * H + h) * ws + w) * C + c;
    }
    uint32_t C = t->dims[1], H = t->dims[2], W = t->dims[3];
    uint32_t c = e % C, w = (e / C) % W, h = (e / C / W) % H, n = e / C / W / H;
    return ((n * C + c) * H + h) * ws + w;
}

static int parse_tensor(const uint8_t *p, tensor_desc *t) {
    memset(t, 0, sizeof *t);
    memcpy(t->name, p, 32);
    t->name[32] = 0;
    t->fmt = rd_u32(p + 32);
    t->n_dims = rd_u32(p + 36);
    if (t->fmt > RKNN_TENSOR_UNDEFINED || t->fmt == RKNN_TENSOR_NC1HWC2) return 0;
    if (t->n_dims < 1 || t->n_dims > 4 || !t->name[0]) return 0;
    uint64_t n = 1;
    for (uint32_t i = 0; i < t->n_dims; i++) {
        t->dims[i] = rd_u32(p + 40 + 4 * i);
        if (t->dims[i] == 0) return 0;
        n *= t->dims[i];
    }
    if (n > MAX_ELEMS) return 0;
    t->n_elems = (uint32_t)n;
    t->w_stride = rd_u32(p + 56);
    t->size_with_stride = rd_u32(p + 60);
    t->zp = rd_i32(p + 64);
    t->scale = rd_f32(p + 68);
    if (t->zp < -128 || t->zp > 127 || !(t->scale > 0)) return 0;
    uint64_t padded = n;
    if (is_strided(t)) {
        uint32_t width = t->fmt == RKNN_TENSOR_NHWC ? t->dims[2] : t->dims[3];
        if (t->w_stride && t->w_stride < width) return 0;
        padded = n / width * row_stride(t);
    } else if (t->w_stride) {
        return 0;
    }
    if (padded > MAX_ELEMS) return 0;
    t->padded_bytes = (uint32_t)padded;
    if (t->size_with_stride == 0) t->size_with_stride = t->padded_bytes;
    return t->size_with_stride >= t->padded_bytes;
}

/* This runtime's major << 8 | minor, from STANDIN_VERSION. */
static uint32_t runtime_major_minor(void) {
    unsigned major = 0, minor = 0;
    const char *p = STANDIN_VERSION;
    while (*p >= '0' && *p <= '9') major = major * 10 + (unsigned)(*p++ - '0');
    if (*p == '.') p++;
    while (*p >= '0' && *p <= '9') minor = minor * 10 + (unsigned)(*p++ - '0');
    return major << 8 | minor;
}

static int parse_model(const uint8_t *blob, uint32_t size, standin_ctx *m) {
    if (size < HEADER_BYTES || memcmp(blob, "RKSTANDN", 8) != 0)
        return fail(RKNN_ERR_MODEL_INVALID, "rknn_init: invalid RKNN_MAGIC (not a stand-in model)");
    if (rd_u32(blob + 8) != 1)
        return fail(RKNN_ERR_MODEL_INVALID, "rknn_init: model version %u", rd_u32(blob + 8));
    uint32_t toolkit = (uint32_t)blob[20] | (uint32_t)blob[21] << 8;
    uint32_t flags = (uint32_t)blob[22] | (uint32_t)blob[23] << 8;
    if (toolkit > runtime_major_minor())
        return fail(RKNN_ERR_MODEL_INVALID,
                    "rknn_init: Invalid RKNN model version: the model was made by toolkit "
                    "%u.%u, this runtime is " STANDIN_VERSION,
                    toolkit >> 8, toolkit & 0xffu);
#ifdef STANDIN_NO_INT16
    if (flags & FLAG_INT16)
        return fail(RKNN_ERR_MODEL_INVALID,
                    "rknn_init: the model has int16 layers, which this runtime does not run");
#else
    (void)flags;
#endif
    m->n_inputs = rd_u32(blob + 12);
    m->n_outputs = rd_u32(blob + 16);
    if (m->n_inputs < 1 || m->n_outputs != 1 || m->n_inputs + m->n_outputs > MAX_TENSORS)
        return fail(RKNN_ERR_MODEL_INVALID, "rknn_init: %u inputs, %u outputs", m->n_inputs,
                    m->n_outputs);
    uint32_t n_tensors = m->n_inputs + m->n_outputs;
    uint64_t need = HEADER_BYTES + (uint64_t)DESC_BYTES * n_tensors;
    if (size < need) return fail(RKNN_ERR_MODEL_INVALID, "rknn_init: model truncated");
    m->n_in_elems = 0;
    for (uint32_t i = 0; i < n_tensors; i++) {
        if (!parse_tensor(blob + HEADER_BYTES + DESC_BYTES * i, &m->tensors[i]))
            return fail(RKNN_ERR_MODEL_INVALID, "rknn_init: tensor %u is malformed", i);
        if (i < m->n_inputs) m->n_in_elems += m->tensors[i].n_elems;
    }
    m->n_out_elems = m->tensors[m->n_inputs].n_elems;
    const uint8_t *p = blob + need;
    need += 4 + 4ull * m->n_out_elems + (uint64_t)m->n_out_elems * m->n_in_elems;
    if (size != need)
        return fail(RKNN_ERR_MODEL_INVALID, "rknn_init: model is %u bytes, expected %llu", size,
                    (unsigned long long)need);
    m->divisor = rd_i32(p);
    if (m->divisor <= 0) return fail(RKNN_ERR_MODEL_INVALID, "rknn_init: divisor %d", m->divisor);
    m->bias = malloc(4u * m->n_out_elems);
    m->weight = malloc((size_t)m->n_out_elems * m->n_in_elems);
    if (!m->bias || !m->weight) return fail(RKNN_ERR_FAIL, "rknn_init: out of memory");
    for (uint32_t k = 0; k < m->n_out_elems; k++) m->bias[k] = rd_i32(p + 4 + 4 * k);
    memcpy(m->weight, p + 4 + 4 * m->n_out_elems, (size_t)m->n_out_elems * m->n_in_elems);
    return RKNN_SUCC;
}

static void free_model(standin_ctx *m) {
    free(m->bias);
    free(m->weight);
    memset(m, 0, sizeof *m);
}

static standin_ctx *lookup(rknn_context ctx) {
    if (ctx < HANDLE_BASE || ctx - HANDLE_BASE >= MAX_CONTEXTS) return NULL;
    standin_ctx *m = &contexts[ctx - HANDLE_BASE];
    return m->used ? m : NULL;
}

/* The attribute this runtime hands out for tensor i (native: the buffer's layout). */
static void fill_attr(const standin_ctx *m, uint32_t i, int native, rknn_tensor_attr *a) {
    const tensor_desc *t = &m->tensors[i];
    memset(a, 0, sizeof *a);
    a->index = i < m->n_inputs ? i : i - m->n_inputs;
    a->n_dims = t->n_dims;
    for (uint32_t d = 0; d < t->n_dims; d++) a->dims[d] = t->dims[d];
    memcpy(a->name, t->name, strlen(t->name) + 1);
    a->n_elems = t->n_elems;
    a->size = t->n_elems;
    a->fmt = (rknn_tensor_format)t->fmt;
    a->type = RKNN_TENSOR_INT8;
    a->qnt_type = RKNN_TENSOR_QNT_AFFINE_ASYMMETRIC;
    a->zp = t->zp;
    a->scale = t->scale;
    a->w_stride = native ? t->w_stride : 0;
    a->size_with_stride = native ? t->size_with_stride : t->n_elems;
}

/* ---- the API ------------------------------------------------------------------------ */

/* extend is an rknn_init_extend *, unused (the binding passes NULL). */
int rknn_init(rknn_context *context, void *model, uint32_t size, uint32_t flag, void *extend) {
    (void)extend;
    if (!context || !model) return fail(RKNN_ERR_PARAM_INVALID, "rknn_init: NULL argument");
    if (size == 0)
        return fail(RKNN_ERR_PARAM_INVALID, "rknn_init: the stand-in takes the model in memory");
    if (flag != 0) return fail(RKNN_ERR_PARAM_INVALID, "rknn_init: unexpected flags %#x", flag);
    for (uint32_t s = 0; s < MAX_CONTEXTS; s++) {
        if (contexts[s].used) continue;
        standin_ctx *m = &contexts[s];
        memset(m, 0, sizeof *m);
        int ret = parse_model(model, size, m);
        if (ret != RKNN_SUCC) {
            free_model(m);
            return ret;
        }
        m->used = 1;
        live_contexts++;
        *context = HANDLE_BASE + s;
        return RKNN_SUCC;
    }
    return fail(RKNN_ERR_FAIL, "rknn_init: too many contexts");
}

int rknn_destroy(rknn_context ctx) {
    standin_ctx *m = lookup(ctx);
    if (!m) return fail(RKNN_ERR_CTX_INVALID, "rknn_destroy: unknown context %#llx",
                        (unsigned long long)ctx);
    free_model(m);
    live_contexts--;
    return RKNN_SUCC;
}

/* cmd is an rknn_query_cmd, an int-sized enum. */
int rknn_query(rknn_context ctx, int cmd, void *info, uint32_t size) {
    standin_ctx *m = lookup(ctx);
    if (!m) return fail(RKNN_ERR_CTX_INVALID, "rknn_query: unknown context %#llx",
                        (unsigned long long)ctx);
    if (!info) return fail(RKNN_ERR_PARAM_INVALID, "rknn_query: info is NULL");
    if (cmd == RKNN_QUERY_SDK_VERSION) {
        if (size != sizeof(rknn_sdk_version))
            return fail(RKNN_ERR_PARAM_INVALID,
                        "rknn_query(SDK_VERSION): size %u, sizeof(rknn_sdk_version) is %u", size,
                        (unsigned)sizeof(rknn_sdk_version));
        rknn_sdk_version *version = info;
        memset(version, 0, sizeof *version);
        snprintf(version->api_version, sizeof version->api_version, "%s (stand-in)",
                 STANDIN_VERSION);
        snprintf(version->drv_version, sizeof version->drv_version, "%s",
                 STANDIN_DRIVER_VERSION);
        return RKNN_SUCC;
    }
    if (cmd == RKNN_QUERY_IN_OUT_NUM) {
        if (size != sizeof(rknn_input_output_num))
            return fail(RKNN_ERR_PARAM_INVALID,
                        "rknn_query(IN_OUT_NUM): size %u, sizeof(rknn_input_output_num) is %u",
                        size, (unsigned)sizeof(rknn_input_output_num));
        rknn_input_output_num *num = info;
        num->n_input = m->n_inputs;
        num->n_output = m->n_outputs;
        return RKNN_SUCC;
    }
    int input = cmd == RKNN_QUERY_INPUT_ATTR || cmd == RKNN_QUERY_NATIVE_INPUT_ATTR ||
                cmd == RKNN_QUERY_NATIVE_NHWC_INPUT_ATTR;
    int output = cmd == RKNN_QUERY_OUTPUT_ATTR || cmd == RKNN_QUERY_NATIVE_OUTPUT_ATTR ||
                 cmd == RKNN_QUERY_NATIVE_NHWC_OUTPUT_ATTR;
    if (!input && !output)
        return fail(RKNN_ERR_PARAM_INVALID, "rknn_query: command %d not answered here", cmd);
    if (size != sizeof(rknn_tensor_attr))
        return fail(RKNN_ERR_PARAM_INVALID,
                    "rknn_query(%d): size %u, sizeof(rknn_tensor_attr) is %u", cmd, size,
                    (unsigned)sizeof(rknn_tensor_attr));
    rknn_tensor_attr *attr = info;
    uint32_t index = attr->index, count = input ? m->n_inputs : m->n_outputs;
    if (index >= count)
        return fail(RKNN_ERR_PARAM_INVALID, "rknn_query(%d): index %u of %u", cmd, index, count);
    int native = cmd != RKNN_QUERY_INPUT_ATTR && cmd != RKNN_QUERY_OUTPUT_ATTR;
    fill_attr(m, input ? index : m->n_inputs + index, native, attr);
    return RKNN_SUCC;
}

rknn_tensor_mem *rknn_create_mem(rknn_context ctx, uint32_t size) {
    if (!lookup(ctx)) {
        fail(RKNN_ERR_CTX_INVALID, "rknn_create_mem: unknown context %#llx",
             (unsigned long long)ctx);
        return NULL;
    }
    if (size == 0 || size > 16 * MAX_ELEMS) {
        fail(RKNN_ERR_PARAM_INVALID, "rknn_create_mem: size %u", size);
        return NULL;
    }
    for (int s = 0; s < MAX_MEMS; s++) {
        if (mems[s]) continue;
        rknn_tensor_mem *mem = calloc(1, sizeof *mem);
        mem_priv *priv = calloc(1, sizeof *priv);
        void *buffer = calloc(1, size);
        if (!mem || !priv || !buffer) {
            free(mem);
            free(priv);
            free(buffer);
            fail(RKNN_ERR_FAIL, "rknn_create_mem: out of memory");
            return NULL;
        }
        mems_made++;
        priv->magic = MEM_MAGIC;
        priv->mem = mem;
        priv->buffer = buffer;
        priv->size = size;
        priv->fd = 100 + mems_made;
        priv->owner = ctx;
        mem->virt_addr = buffer;
        mem->phys_addr = PHYS_BASE + 0x10000ull * (uint64_t)mems_made;
        mem->fd = priv->fd;
        mem->offset = 0;
        mem->size = size;
        mem->flags = RKNN_TENSOR_MEMORY_FLAGS_ALLOC_INSIDE;
        mem->priv_data = priv;
        mems[s] = mem;
        live_mems++;
        return mem;
    }
    fail(RKNN_ERR_FAIL, "rknn_create_mem: too many buffers");
    return NULL;
}

/* Checks that mem is a live, intact buffer made for ctx; its slot goes to *slot. */
static int check_mem(const char *fn, rknn_context ctx, rknn_tensor_mem *mem, int *slot) {
    int s = 0;
    while (s < MAX_MEMS && (mem == NULL || mems[s] != mem)) s++;
    if (s == MAX_MEMS)
        return fail(RKNN_ERR_PARAM_INVALID, "%s: %p is not a live buffer of this runtime", fn,
                    (void *)mem);
    mem_priv *priv = mem->priv_data;
    if (!priv || priv->magic != MEM_MAGIC || priv->mem != mem)
        return fail(RKNN_ERR_PARAM_INVALID, "%s: priv_data of buffer %p was changed", fn,
                    (void *)mem);
    if (mem->virt_addr != priv->buffer || mem->size != priv->size || mem->fd != priv->fd ||
        mem->flags != RKNN_TENSOR_MEMORY_FLAGS_ALLOC_INSIDE || mem->offset != 0)
        return fail(RKNN_ERR_PARAM_INVALID, "%s: fields of buffer %p were changed", fn,
                    (void *)mem);
    if (priv->owner != ctx)
        return fail(RKNN_ERR_PARAM_INVALID, "%s: buffer %p belongs to another context", fn,
                    (void *)mem);
    if (slot) *slot = s;
    return RKNN_SUCC;
}

int rknn_destroy_mem(rknn_context ctx, rknn_tensor_mem *mem) {
    standin_ctx *m = lookup(ctx);
    if (!m) return fail(RKNN_ERR_CTX_INVALID, "rknn_destroy_mem: unknown context %#llx",
                        (unsigned long long)ctx);
    int s, ret = check_mem("rknn_destroy_mem", ctx, mem, &s);
    if (ret != RKNN_SUCC) return ret;
    for (int i = 0; i < MAX_TENSORS; i++)
        if (m->bound[i] == mem) m->bound[i] = NULL;
    mem_priv *priv = mem->priv_data;
    free(priv->buffer);
    free(priv);
    free(mem);
    mems[s] = NULL;
    live_mems--;
    return RKNN_SUCC;
}

#define SAME(field)                                                                        \
    if (attr->field != want.field)                                                         \
        return fail(RKNN_ERR_PARAM_INVALID,                                                \
                    "rknn_set_io_mem: tensor '%s': " #field " %lld, handed out %lld",      \
                    want.name, (long long)attr->field, (long long)want.field);

int rknn_set_io_mem(rknn_context ctx, rknn_tensor_mem *mem, rknn_tensor_attr *attr) {
    standin_ctx *m = lookup(ctx);
    if (!m) return fail(RKNN_ERR_CTX_INVALID, "rknn_set_io_mem: unknown context %#llx",
                        (unsigned long long)ctx);
    if (!attr) return fail(RKNN_ERR_PARAM_INVALID, "rknn_set_io_mem: attr is NULL");
    int ret = check_mem("rknn_set_io_mem", ctx, mem, NULL);
    if (ret != RKNN_SUCC) return ret;
    if (!memchr(attr->name, 0, RKNN_MAX_NAME_LEN))
        return fail(RKNN_ERR_PARAM_INVALID, "rknn_set_io_mem: attr name is not terminated");
    uint32_t i = 0, n_tensors = m->n_inputs + m->n_outputs;
    while (i < n_tensors && strcmp(attr->name, m->tensors[i].name) != 0) i++;
    if (i == n_tensors)
        return fail(RKNN_ERR_PARAM_INVALID, "rknn_set_io_mem: no tensor named '%.64s'",
                    attr->name);
    rknn_tensor_attr want;
    fill_attr(m, i, 1, &want);
    SAME(index)
    SAME(n_dims)
    for (uint32_t d = 0; d < want.n_dims; d++) SAME(dims[d])
    SAME(n_elems)
    SAME(size)
    SAME(fmt)
    SAME(type)
    SAME(qnt_type)
    SAME(zp)
    SAME(w_stride)
    SAME(size_with_stride)
    SAME(pass_through)
    if (attr->scale != want.scale)
        return fail(RKNN_ERR_PARAM_INVALID, "rknn_set_io_mem: tensor '%s': scale %g, handed out %g",
                    want.name, attr->scale, want.scale);
    if (mem->size < want.size_with_stride)
        return fail(RKNN_ERR_PARAM_INVALID,
                    "rknn_set_io_mem: tensor '%s': buffer of %u bytes, size_with_stride is %u",
                    want.name, mem->size, want.size_with_stride);
    m->bound[i] = mem;
    return RKNN_SUCC;
}

static int32_t div_round_away(int64_t num, int64_t den) {
    int64_t q = (num >= 0 ? num + den / 2 : num - den / 2) / den;
    if (q > INT32_MAX) return INT32_MAX;
    if (q < INT32_MIN) return INT32_MIN;
    return (int32_t)q;
}

int rknn_run(rknn_context ctx, void *extend) {
    (void)extend;
    standin_ctx *m = lookup(ctx);
    if (!m) return fail(RKNN_ERR_CTX_INVALID, "rknn_run: unknown context %#llx",
                        (unsigned long long)ctx);
    uint32_t n_tensors = m->n_inputs + m->n_outputs;
    for (uint32_t i = 0; i < n_tensors; i++)
        if (!m->bound[i])
            return fail(i < m->n_inputs ? RKNN_ERR_INPUT_INVALID : RKNN_ERR_OUTPUT_INVALID,
                        "rknn_run: no buffer set for tensor '%s'", m->tensors[i].name);
    const tensor_desc *out = &m->tensors[m->n_inputs];
    int8_t *dst = m->bound[m->n_inputs]->virt_addr;
    memset(dst, 0x7f, m->bound[m->n_inputs]->size);
    for (uint32_t k = 0; k < m->n_out_elems; k++) {
        int64_t acc = m->bias[k];
        const int8_t *w = m->weight + (size_t)k * m->n_in_elems;
        for (uint32_t t = 0; t < m->n_inputs; t++) {
            const tensor_desc *in = &m->tensors[t];
            const int8_t *src = m->bound[t]->virt_addr;
            for (uint32_t e = 0; e < in->n_elems; e++)
                acc += (int64_t)w[e] * ((int64_t)src[native_offset(in, e)] - in->zp);
            w += in->n_elems;
        }
        int32_t q = out->zp + div_round_away(acc, m->divisor);
        dst[native_offset(out, k)] = (int8_t)(q < -128 ? -128 : q > 127 ? 127 : q);
    }
    runs++;
    return RKNN_SUCC;
}

#endif /* STANDIN_LAYOUT_ONLY */
