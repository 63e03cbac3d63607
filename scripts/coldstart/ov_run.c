/* Cold start of OpenVINO through its C API (libopenvino_c and the headers ship in the openvino wheel):
 * read the model, compile it for the CPU, run one inference, print the output.
 *   ov_run MODEL(.onnx|.xml) INPUT.f32 THREADS DIM... */
#include <stdio.h>
#include <stdlib.h>

#include <openvino/c/openvino.h>

static void check(ov_status_e status, const char *what) {
    if (status != OK) {
        fprintf(stderr, "ov_run: %s: %s\n", what, ov_get_last_err_msg());
        exit(1);
    }
}

int main(int argc, char **argv) {
    if (argc < 5 || argc > 4 + 8) {
        fprintf(stderr, "usage: ov_run MODEL INPUT.f32 THREADS DIM... (at most 8 dims)\n");
        return 2;
    }
    int64_t rank = argc - 4, dims[8];
    size_t count = 1;
    for (int64_t i = 0; i < rank; i++) count *= (size_t)(dims[i] = atoll(argv[4 + i]));
    float *input = malloc(count * sizeof(float));
    FILE *f = fopen(argv[2], "rb");
    if (!input || !f || fread(input, sizeof(float), count, f) != count) {
        fprintf(stderr, "ov_run: cannot read %zu floats from %s\n", count, argv[2]);
        return 1;
    }
    fclose(f);

    ov_core_t *core;
    check(ov_core_create(&core), "ov_core_create");
    ov_model_t *model;
    check(ov_core_read_model(core, argv[1], NULL, &model), "ov_core_read_model");
    ov_compiled_model_t *compiled;
    /* the settings of roentgen-peers: THREADS threads, latency mode, one stream */
    check(ov_core_compile_model(core, model, "CPU", 6, &compiled, ov_property_key_inference_num_threads, argv[3],
                                ov_property_key_hint_performance_mode, "LATENCY", ov_property_key_num_streams, "1"),
          "ov_core_compile_model");
    ov_infer_request_t *request;
    check(ov_compiled_model_create_infer_request(compiled, &request), "create_infer_request");

    ov_shape_t shape;
    check(ov_shape_create(rank, dims, &shape), "ov_shape_create");
    ov_tensor_t *in_tensor, *out_tensor;
    check(ov_tensor_create_from_host_ptr(F32, shape, input, &in_tensor), "ov_tensor_create_from_host_ptr");
    check(ov_infer_request_set_input_tensor_by_index(request, 0, in_tensor), "set_input_tensor");
    check(ov_infer_request_infer(request), "ov_infer_request_infer");
    check(ov_infer_request_get_output_tensor_by_index(request, 0, &out_tensor), "get_output_tensor");

    size_t out_count;
    float *out;
    check(ov_tensor_get_size(out_tensor, &out_count), "ov_tensor_get_size");
    check(ov_tensor_data(out_tensor, (void **)&out), "ov_tensor_data");
    for (size_t i = 0; i < out_count; i++) printf(i ? " %.9g" : "%.9g", out[i]);
    printf("\n");
    return 0;
}
