/* Cold start of ONNX Runtime through its C API: create the session, run one inference, print the output.
 *   ort_run MODEL.onnx INPUT.f32 INPUT_NAME OUTPUT_NAME THREADS DIM...
 * The onnxruntime wheel ships libonnxruntime.so (the C API) but not its header, and no PyPI or Debian
 * package reachable here has onnxruntime_c_api.h. The C API is one table of function pointers whose
 * first 102 entries ("version 1") the header freezes ("DO NOT MODIFY ABOVE"), so the few used here
 * are declared at their frozen slots and the table is asked for with GetApi(1). A wrong slot would
 * crash or print other numbers: coldstart.py compares the output with the Python binding's. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct OrtStatus OrtStatus;
typedef struct OrtEnv OrtEnv;
typedef struct OrtSession OrtSession;
typedef struct OrtSessionOptions OrtSessionOptions;
typedef struct OrtMemoryInfo OrtMemoryInfo;
typedef struct OrtValue OrtValue;
typedef struct OrtTensorTypeAndShapeInfo OrtTensorTypeAndShapeInfo;

enum { ORT_LOGGING_LEVEL_WARNING = 2, ORT_SEQUENTIAL = 0, ORT_ENABLE_ALL = 99 };
enum { ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT = 1, OrtArenaAllocator = 1, OrtMemTypeDefault = 0 };

typedef struct OrtApiV1 {
    void *slots0_1[2];
    const char *(*GetErrorMessage)(const OrtStatus *status);                                       /* 2 */
    OrtStatus *(*CreateEnv)(int logging_level, const char *logid, OrtEnv **out);                   /* 3 */
    void *slots4_6[3];
    OrtStatus *(*CreateSession)(const OrtEnv *env, const char *model_path, const OrtSessionOptions *options,
                                OrtSession **out);                                                 /* 7 */
    void *slot8;
    OrtStatus *(*Run)(OrtSession *session, const void *run_options, const char *const *input_names,
                      const OrtValue *const *inputs, size_t input_count, const char *const *output_names,
                      size_t output_count, OrtValue **outputs);                                    /* 9 */
    OrtStatus *(*CreateSessionOptions)(OrtSessionOptions **out);                                   /* 10 */
    void *slots11_12[2];
    OrtStatus *(*SetSessionExecutionMode)(OrtSessionOptions *options, int mode);                   /* 13 */
    void *slots14_22[9];
    OrtStatus *(*SetSessionGraphOptimizationLevel)(OrtSessionOptions *options, int level);         /* 23 */
    OrtStatus *(*SetIntraOpNumThreads)(OrtSessionOptions *options, int threads);                   /* 24 */
    OrtStatus *(*SetInterOpNumThreads)(OrtSessionOptions *options, int threads);                   /* 25 */
    void *slots26_48[23];
    OrtStatus *(*CreateTensorWithDataAsOrtValue)(const OrtMemoryInfo *info, void *data, size_t data_bytes,
                                                 const int64_t *shape, size_t rank, int element_type,
                                                 OrtValue **out);                                  /* 49 */
    void *slot50;
    OrtStatus *(*GetTensorMutableData)(OrtValue *value, void **out);                               /* 51 */
    void *slots52_63[12];
    OrtStatus *(*GetTensorShapeElementCount)(const OrtTensorTypeAndShapeInfo *info, size_t *out);  /* 64 */
    OrtStatus *(*GetTensorTypeAndShape)(const OrtValue *value, OrtTensorTypeAndShapeInfo **out);   /* 65 */
    void *slots66_68[3];
    OrtStatus *(*CreateCpuMemoryInfo)(int allocator_type, int mem_type, OrtMemoryInfo **out);      /* 69 */
} OrtApiV1;

_Static_assert(offsetof(OrtApiV1, Run) == 9 * sizeof(void *), "slot of Run");
_Static_assert(offsetof(OrtApiV1, CreateTensorWithDataAsOrtValue) == 49 * sizeof(void *), "slot 49");
_Static_assert(offsetof(OrtApiV1, CreateCpuMemoryInfo) == 69 * sizeof(void *), "slot 69");

typedef struct OrtApiBase {
    const OrtApiV1 *(*GetApi)(uint32_t version);
    const char *(*GetVersionString)(void);
} OrtApiBase;

const OrtApiBase *OrtGetApiBase(void);

static const OrtApiV1 *ort;

static void check(OrtStatus *status, const char *what) {
    if (status) {
        fprintf(stderr, "ort_run: %s: %s\n", what, ort->GetErrorMessage(status));
        exit(1);
    }
}

int main(int argc, char **argv) {
    if (argc < 7 || argc > 6 + 8) {
        fprintf(stderr, "usage: ort_run MODEL INPUT.f32 INPUT_NAME OUTPUT_NAME THREADS DIM... (at most 8 dims)\n");
        return 2;
    }
    size_t rank = (size_t)(argc - 6), count = 1;
    int64_t shape[8];
    for (size_t i = 0; i < rank; i++) count *= (size_t)(shape[i] = atoll(argv[6 + i]));
    float *input = malloc(count * sizeof(float));
    FILE *f = fopen(argv[2], "rb");
    if (!input || !f || fread(input, sizeof(float), count, f) != count) {
        fprintf(stderr, "ort_run: cannot read %zu floats from %s\n", count, argv[2]);
        return 1;
    }
    fclose(f);

    ort = OrtGetApiBase()->GetApi(1);
    OrtEnv *env;
    check(ort->CreateEnv(ORT_LOGGING_LEVEL_WARNING, "coldstart", &env), "CreateEnv");
    OrtSessionOptions *options;
    check(ort->CreateSessionOptions(&options), "CreateSessionOptions");
    /* the settings of roentgen-peers: one inference at a time, THREADS threads inside each op */
    check(ort->SetIntraOpNumThreads(options, atoi(argv[5])), "SetIntraOpNumThreads");
    check(ort->SetInterOpNumThreads(options, 1), "SetInterOpNumThreads");
    check(ort->SetSessionExecutionMode(options, ORT_SEQUENTIAL), "SetSessionExecutionMode");
    check(ort->SetSessionGraphOptimizationLevel(options, ORT_ENABLE_ALL), "SetSessionGraphOptimizationLevel");
    OrtSession *session;
    check(ort->CreateSession(env, argv[1], options, &session), "CreateSession");

    OrtMemoryInfo *cpu;
    check(ort->CreateCpuMemoryInfo(OrtArenaAllocator, OrtMemTypeDefault, &cpu), "CreateCpuMemoryInfo");
    OrtValue *in_value, *out_value = NULL;
    check(ort->CreateTensorWithDataAsOrtValue(cpu, input, count * sizeof(float), shape, rank,
                                              ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT, &in_value), "CreateTensor");
    const char *in_name = argv[3], *out_name = argv[4];
    check(ort->Run(session, NULL, &in_name, (const OrtValue *const *)&in_value, 1, &out_name, 1, &out_value), "Run");

    OrtTensorTypeAndShapeInfo *out_info;
    size_t out_count;
    float *out;
    check(ort->GetTensorTypeAndShape(out_value, &out_info), "GetTensorTypeAndShape");
    check(ort->GetTensorShapeElementCount(out_info, &out_count), "GetTensorShapeElementCount");
    check(ort->GetTensorMutableData(out_value, (void **)&out), "GetTensorMutableData");
    for (size_t i = 0; i < out_count; i++) printf(i ? " %.9g" : "%.9g", out[i]);
    printf("\n");
    return 0;
}
