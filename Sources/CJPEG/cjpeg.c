// CJPEG: libjpeg behind setjmp, so that Swift never sees a longjmp.
//
// libjpeg's error_exit must not return: ours longjmp()s back to cjpeg_decode, which turns the
// error into a return code and a message. Per-call state lives in a heap-allocated context (the
// pointer never changes after setjmp, so no local needs `volatile`). Nothing is printed: libjpeg's
// output_message is never reached, its warnings and trace messages go to on_message below.

#include "cjpeg.h"

#include <setjmp.h>
#include <stdio.h>  // jpeglib.h needs FILE
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>  // after jpeglib.h: its jconfig.h decides which messages exist

typedef struct decode_ctx {
    struct jpeg_error_mgr err;  // first member: libjpeg hands our callbacks a pointer to it
    jmp_buf jump;
    struct jpeg_decompress_struct info;
    int code;                   // CJPEG_ERR_* of the first error
    uint32_t precision;         // the data precision libjpeg refused
    char message[JMSG_LENGTH_MAX];
    uint8_t *samples;
} decode_ctx;

static void copy_message(char *dst, size_t dst_size, const char *src) {
    if (dst == NULL || dst_size == 0) return;
    size_t i = 0;
    for (; src != NULL && src[i] != '\0' && i + 1 < dst_size; i++) {
        char c = src[i];
        dst[i] = (c == '\n' || c == '\r' || c == '\t') ? ' ' : c;  // always one line
    }
    dst[i] = '\0';
}

static void fail(decode_ctx *ctx, int code) {
    if (ctx->code == CJPEG_OK) {
        ctx->code = code;
        (*ctx->err.format_message)((j_common_ptr)&ctx->info, ctx->message);
    }
    longjmp(ctx->jump, 1);
}

static void on_error(j_common_ptr cinfo) {
    decode_ctx *ctx = (decode_ctx *)cinfo->err;
    int code = CJPEG_ERR_CORRUPT;
    if (cinfo->err->msg_code == JERR_BAD_PRECISION) {
        code = CJPEG_ERR_PRECISION;
        ctx->precision = (uint32_t)cinfo->err->msg_parm.i[0];
    } else if (cinfo->err->msg_code == JERR_OUT_OF_MEMORY) {
        code = CJPEG_ERR_NO_MEMORY;
    }
    fail(ctx, code);
}

// Level -1 is a warning; libjpeg then goes on with invented data (grey blocks, a fake EOI). Where
// the warning says the entropy-coded data is damaged or missing, that would be a made-up image, so
// it fails instead. Other warnings (extra bytes before a marker, an odd JFIF version) are harmless.
static void on_message(j_common_ptr cinfo, int level) {
    if (level != -1) return;
    switch (cinfo->err->msg_code) {
    case JWRN_JPEG_EOF:
        fail((decode_ctx *)cinfo->err, CJPEG_ERR_TRUNCATED);
        break;
    case JWRN_HIT_MARKER:
    case JWRN_HUFF_BAD_CODE:
    case JWRN_ARITH_BAD_CODE:
    case JWRN_MUST_RESYNC:
        fail((decode_ctx *)cinfo->err, CJPEG_ERR_CORRUPT);
        break;
    default:
        break;
    }
}

// Everything libjpeg does for one decode; runs inside cjpeg_decode's setjmp region.
static int decode_into(decode_ctx *ctx, const unsigned char *data, size_t size, uint32_t width,
                       uint32_t height, uint32_t components, cjpeg_image *out) {
    struct jpeg_decompress_struct *info = &ctx->info;
    jpeg_mem_src(info, data, (unsigned long)size);
    jpeg_read_header(info, TRUE);
    out->width = info->image_width;
    out->height = info->image_height;
    out->components = (uint32_t)info->num_components;
    out->precision = (uint32_t)info->data_precision;
    if (out->width != width || out->height != height || out->components != components) {
        snprintf(ctx->message, sizeof ctx->message, "the JPEG frame header is %u x %u with %u components",
                 (unsigned)out->width, (unsigned)out->height, (unsigned)out->components);
        return CJPEG_ERR_MISMATCH;
    }
    // Output in the coded colour space: the DICOM Photometric Interpretation says what it is.
    info->out_color_space = info->jpeg_color_space;
    jpeg_start_decompress(info);
    if (info->output_width != width || info->output_height != height ||
        (uint32_t)info->output_components != components) {
        snprintf(ctx->message, sizeof ctx->message, "libjpeg would output %u x %u with %d components",
                 (unsigned)info->output_width, (unsigned)info->output_height, info->output_components);
        return CJPEG_ERR_MISMATCH;
    }
    const size_t row_bytes = (size_t)width * components;
    ctx->samples = (uint8_t *)malloc(row_bytes * height);
    if (ctx->samples == NULL) {
        copy_message(ctx->message, sizeof ctx->message, "out of memory for the decoded frame");
        return CJPEG_ERR_NO_MEMORY;
    }
    while (info->output_scanline < info->output_height) {
        JSAMPROW row = ctx->samples + (size_t)info->output_scanline * row_bytes;
        jpeg_read_scanlines(info, &row, 1);
    }
    jpeg_finish_decompress(info);
    return CJPEG_OK;
}

int cjpeg_decode(const unsigned char *data, size_t size, uint32_t width, uint32_t height,
                 uint32_t components, cjpeg_image *out, char *err, size_t err_size) {
    if (out == NULL) return CJPEG_ERR_CORRUPT;
    memset(out, 0, sizeof *out);
    decode_ctx *const ctx = (decode_ctx *)calloc(1, sizeof(decode_ctx));
    if (ctx == NULL) {
        copy_message(err, err_size, "out of memory");
        return CJPEG_ERR_NO_MEMORY;
    }
    ctx->info.err = jpeg_std_error(&ctx->err);
    ctx->err.error_exit = on_error;
    ctx->err.emit_message = on_message;
    int result = CJPEG_ERR_CORRUPT;  // not written between setjmp and a longjmp: stays valid
    if (setjmp(ctx->jump) == 0) {
        jpeg_create_decompress(&ctx->info);
        result = decode_into(ctx, data, size, width, height, components, out);
    } else {
        result = ctx->code;
        if (result == CJPEG_ERR_PRECISION) out->precision = ctx->precision;
    }
    jpeg_destroy_decompress(&ctx->info);
    if (result == CJPEG_OK) {
        out->samples = ctx->samples;
    } else {
        free(ctx->samples);
        copy_message(err, err_size, ctx->message);
    }
    free(ctx);
    return result;
}

void cjpeg_free(cjpeg_image *image) {
    if (image == NULL) return;
    free(image->samples);
    image->samples = NULL;
}
