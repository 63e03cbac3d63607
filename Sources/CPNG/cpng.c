// CPNG: libpng behind setjmp, so that Swift never sees a longjmp.
//
// libpng reports every error by calling an error callback that must not return: it longjmp()s back
// to the last setjmp(). Unwinding Swift frames that way is undefined behaviour, so every libpng
// call is made from this file, inside a setjmp() region, and turned into a return code + message.
// Per-call state lives in a heap-allocated context (the pointer never changes after setjmp, so no
// local needs `volatile`).

#include "cpng.h"

#include <png.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CPNG_MESSAGE_SIZE 256

// MARK: - shared helpers

static void copy_message(char *dst, size_t dst_size, const char *src) {
    if (dst == NULL || dst_size == 0) return;
    size_t i = 0;
    for (; src != NULL && src[i] != '\0' && i + 1 < dst_size; i++) {
        char c = src[i];
        dst[i] = (c == '\n' || c == '\r' || c == '\t') ? ' ' : c;  // always one line
    }
    dst[i] = '\0';
}

static void format_message(char *dst, size_t dst_size, const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    vsnprintf(dst, dst_size, fmt, args);
    va_end(args);
}

// MARK: - decoding

typedef struct decode_ctx {
    const unsigned char *data;
    size_t size;
    size_t pos;
    int code;                        // CPNG_ERR_* chosen by this file; 0 = libpng error (corrupt)
    char message[CPNG_MESSAGE_SIZE]; // first error
    char warning[CPNG_MESSAGE_SIZE]; // first warning, appended to an error for context
    int limit_exceeded;              // a warning said a user limit was exceeded
    png_bytep *rows;
    unsigned char *pixels;
} decode_ctx;

static void decode_error(png_structp png, png_const_charp msg) {
    decode_ctx *ctx = (decode_ctx *)png_get_error_ptr(png);
    if (ctx->message[0] == '\0') copy_message(ctx->message, sizeof ctx->message, msg);
    png_longjmp(png, 1);
}

static void decode_warning(png_structp png, png_const_charp msg) {
    decode_ctx *ctx = (decode_ctx *)png_get_error_ptr(png);
    if (msg != NULL && strstr(msg, "exceeds user limit") != NULL) ctx->limit_exceeded = 1;
    if (ctx->warning[0] == '\0') copy_message(ctx->warning, sizeof ctx->warning, msg);
}

static void decode_read(png_structp png, png_bytep dst, size_t length) {
    decode_ctx *ctx = (decode_ctx *)png_get_io_ptr(png);
    if (length > ctx->size - ctx->pos) {
        ctx->code = CPNG_ERR_TRUNCATED;
        char where[64] = "";
        const png_uint_32 state = png_get_io_state(png);
        const png_uint_32 type = png_get_io_chunk_type(png);
        char name[5] = {0};
        for (int i = 0; i < 4; i++) {
            const char c = (char)((type >> (24 - 8 * i)) & 0xFF);
            name[i] = ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')) ? c : '?';
        }
        if (state & PNG_IO_CHUNK_HDR) {
            if (type != 0) format_message(where, sizeof where, " (in the chunk header after %s)", name);
            else copy_message(where, sizeof where, " (in a chunk header)");
        } else if (state & PNG_IO_CHUNK_DATA) {
            format_message(where, sizeof where, " (in %s data)", name);
        } else if (state & PNG_IO_CHUNK_CRC) {
            format_message(where, sizeof where, " (in the %s CRC)", name);
        }
        format_message(ctx->message, sizeof ctx->message, "truncated PNG: file ends after %zu bytes%s",
                       ctx->size, where);
        png_error(png, "truncated");  // does not return
    }
    memcpy(dst, ctx->data + ctx->pos, length);
    ctx->pos += length;
}

// Everything libpng does for one decode. Runs inside cpng_decode's setjmp region: a libpng error
// longjmps straight back there. Checks of our own return through fail_with().
static int fail_with(decode_ctx *ctx) {
    if (ctx->code == 0) ctx->code = CPNG_ERR_CORRUPT;
    return ctx->code;
}

static int decode_into(png_structp png, png_infop info, decode_ctx *ctx, cpng_image *out) {
    png_set_read_fn(png, ctx, decode_read);
    png_set_sig_bytes(png, 8);
    png_set_user_limits(png, CPNG_MAX_SIDE, CPNG_MAX_SIDE);
    png_set_chunk_cache_max(png, 256);                  // ancillary chunks kept (sPLT, text, unknown)
    png_set_chunk_malloc_max(png, 8u * 1024u * 1024u);  // bound on one decompressed ancillary chunk
    // A CRC mismatch is an error in every chunk, ancillary ones included (libpng's default only
    // warns for those): a damaged file is rejected, as the Python reference (pypng) does.
    png_set_crc_action(png, PNG_CRC_DEFAULT, PNG_CRC_ERROR_QUIT);

    png_read_info(png, info);

    png_uint_32 width = 0, height = 0;
    int bit_depth = 0, color_type = 0, interlace = 0;
    png_get_IHDR(png, info, &width, &height, &bit_depth, &color_type, &interlace, NULL, NULL);
    if (width == 0 || height == 0 || width > CPNG_MAX_SIDE || height > CPNG_MAX_SIDE ||
        (uint64_t)width * height > CPNG_MAX_PIXELS) {
        ctx->code = CPNG_ERR_TOO_LARGE;
        format_message(ctx->message, sizeof ctx->message,
                       "image too large: %u x %u (limits: %u per side, 2^28 pixels)",
                       (unsigned)width, (unsigned)height, CPNG_MAX_SIDE);
        return fail_with(ctx);
    }

    // SPEC INPUT step 1. Alpha (an alpha channel, or tRNS via the palette expansion) is dropped.
    if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    png_set_strip_alpha(png);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (bit_depth == 16) png_set_swap(png);  // PNG is big-endian; hand back native uint16
#endif
    (void)png_set_interlace_handling(png);
    png_read_update_info(png, info);

    const png_byte channels = png_get_channels(png, info);
    const png_byte out_depth = png_get_bit_depth(png, info);
    const size_t row_bytes = png_get_rowbytes(png, info);
    if ((channels != 1 && channels != 3) || (out_depth != 8 && out_depth != 16) ||
        row_bytes != (size_t)width * channels * (out_depth / 8)) {
        format_message(ctx->message, sizeof ctx->message,
                       "unsupported PNG layout after transforms (colour type %d, %d bits -> %d channels, %d bits)",
                       color_type, bit_depth, channels, out_depth);
        return fail_with(ctx);
    }

    ctx->pixels = (unsigned char *)malloc(row_bytes * height);
    ctx->rows = (png_bytep *)malloc(sizeof(png_bytep) * height);
    if (ctx->pixels == NULL || ctx->rows == NULL) {
        ctx->code = CPNG_ERR_NO_MEMORY;
        format_message(ctx->message, sizeof ctx->message, "out of memory for a %u x %u image",
                       (unsigned)width, (unsigned)height);
        return fail_with(ctx);
    }
    for (png_uint_32 y = 0; y < height; y++) ctx->rows[y] = ctx->pixels + (size_t)y * row_bytes;

    png_read_image(png, ctx->rows);
    png_read_end(png, NULL);  // reads up to IEND: catches a truncated tail and CRC errors there

    out->width = width;
    out->height = height;
    out->channels = channels;
    out->bit_depth = out_depth;
    out->interlaced = interlace != PNG_INTERLACE_NONE;
    out->source_color_type = (uint32_t)color_type;
    out->source_bit_depth = (uint32_t)bit_depth;
    out->row_bytes = row_bytes;
    out->pixels = ctx->pixels;
    ctx->pixels = NULL;
    return CPNG_OK;
}

void cpng_free(cpng_image *image) {
    if (image == NULL) return;
    free(image->pixels);
    image->pixels = NULL;
}

int cpng_decode(const unsigned char *data, size_t size, cpng_image *out, char *err, size_t err_size) {
    if (err != NULL && err_size > 0) err[0] = '\0';
    if (out == NULL || (data == NULL && size > 0)) {
        copy_message(err, err_size, "invalid argument");
        return CPNG_ERR_ARGUMENT;
    }
    memset(out, 0, sizeof *out);
    if (size == 0) {
        copy_message(err, err_size, "empty file (0 bytes)");
        return CPNG_ERR_EMPTY;
    }
    if (size < 8 || png_sig_cmp((png_const_bytep)data, 0, 8) != 0) {
        // A prefix of the signature is a truncated PNG; anything else is not a PNG at all.
        if (size < 8 && png_sig_cmp((png_const_bytep)data, 0, size) == 0) {
            format_message(err, err_size, "truncated PNG: only %zu bytes of the 8-byte signature", size);
            return CPNG_ERR_TRUNCATED;
        }
        copy_message(err, err_size, "not a PNG file (bad signature)");
        return CPNG_ERR_SIGNATURE;
    }

    decode_ctx *const ctx = (decode_ctx *)calloc(1, sizeof(decode_ctx));
    if (ctx == NULL) {
        copy_message(err, err_size, "out of memory");
        return CPNG_ERR_NO_MEMORY;
    }
    ctx->data = data;
    ctx->size = size;
    ctx->pos = 8;

    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, ctx, decode_error, decode_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (png == NULL || info == NULL) {
        png_destroy_read_struct(png ? &png : NULL, NULL, NULL);
        free(ctx);
        copy_message(err, err_size, "out of memory (libpng structures)");
        return CPNG_ERR_NO_MEMORY;
    }

    int result = CPNG_ERR_CORRUPT;  // not written between setjmp and a longjmp: stays valid
    if (setjmp(png_jmpbuf(png)) == 0) {
        result = decode_into(png, info, ctx, out);
    }
    if (result == CPNG_OK) goto done;

    if (ctx->code == 0) ctx->code = ctx->limit_exceeded ? CPNG_ERR_TOO_LARGE : CPNG_ERR_CORRUPT;
    result = ctx->code;
    if (err != NULL && err_size > 0) {
        char full[2 * CPNG_MESSAGE_SIZE + 32];
        if (result == CPNG_ERR_CORRUPT || (result == CPNG_ERR_TOO_LARGE && ctx->limit_exceeded)) {
            const char *what = result == CPNG_ERR_CORRUPT ? "corrupt PNG" : "image too large";
            if (ctx->warning[0] != '\0' && strcmp(ctx->warning, ctx->message) != 0)
                snprintf(full, sizeof full, "%s: %s (%s)", what,
                         ctx->message[0] ? ctx->message : "libpng error", ctx->warning);
            else
                snprintf(full, sizeof full, "%s: %s", what, ctx->message[0] ? ctx->message : "libpng error");
        } else {
            snprintf(full, sizeof full, "%s", ctx->message);
        }
        copy_message(err, err_size, full);
    }

done:
    png_destroy_read_struct(&png, &info, NULL);
    free(ctx->rows);
    free(ctx->pixels);
    free(ctx);
    return result;
}

// MARK: - encoding

typedef struct encode_ctx {
    unsigned char *data;
    size_t size;
    size_t capacity;
    int code;
    char message[CPNG_MESSAGE_SIZE];
    unsigned char *packed;
    png_bytep *rows;
} encode_ctx;

static void encode_error(png_structp png, png_const_charp msg) {
    encode_ctx *ctx = (encode_ctx *)png_get_error_ptr(png);
    if (ctx->message[0] == '\0') copy_message(ctx->message, sizeof ctx->message, msg);
    png_longjmp(png, 1);
}

static void encode_warning(png_structp png, png_const_charp msg) {
    (void)png;
    (void)msg;  // nothing we write should warn; ignore
}

static void encode_write(png_structp png, png_bytep src, size_t length) {
    encode_ctx *ctx = (encode_ctx *)png_get_io_ptr(png);
    if (length > ctx->capacity - ctx->size) {
        size_t capacity = ctx->capacity ? ctx->capacity : 4096;
        while (capacity - ctx->size < length) {
            if (capacity > SIZE_MAX / 2) capacity = SIZE_MAX; else capacity *= 2;
        }
        unsigned char *grown = (unsigned char *)realloc(ctx->data, capacity);
        if (grown == NULL) {
            ctx->code = CPNG_ERR_NO_MEMORY;
            copy_message(ctx->message, sizeof ctx->message, "out of memory for the PNG output");
            png_error(png, "out of memory");
        }
        ctx->data = grown;
        ctx->capacity = capacity;
    }
    memcpy(ctx->data + ctx->size, src, length);
    ctx->size += length;
}

static void encode_flush(png_structp png) { (void)png; }

void cpng_free_buffer(void *buffer) { free(buffer); }

static int channels_of(uint32_t color_type) {
    switch (color_type) {
        case CPNG_COLOR_GRAY: return 1;
        case CPNG_COLOR_RGB: return 3;
        case CPNG_COLOR_PALETTE: return 1;
        case CPNG_COLOR_GRAY_ALPHA: return 2;
        case CPNG_COLOR_RGBA: return 4;
        default: return 0;
    }
}

static int depth_allowed(uint32_t color_type, uint32_t depth) {
    switch (color_type) {
        case CPNG_COLOR_GRAY: return depth == 1 || depth == 2 || depth == 4 || depth == 8 || depth == 16;
        case CPNG_COLOR_PALETTE: return depth == 1 || depth == 2 || depth == 4 || depth == 8;
        default: return depth == 8 || depth == 16;
    }
}

int cpng_encode(const cpng_encode_params *p, unsigned char **out_data, size_t *out_size,
                char *err, size_t err_size) {
    if (err != NULL && err_size > 0) err[0] = '\0';
    if (out_data == NULL || out_size == NULL || p == NULL || p->samples == NULL) {
        copy_message(err, err_size, "invalid argument (NULL pointer)");
        return CPNG_ERR_ARGUMENT;
    }
    *out_data = NULL;
    *out_size = 0;
    const int channels = channels_of(p->color_type);
    if (channels == 0 || !depth_allowed(p->color_type, p->bit_depth)) {
        format_message(err, err_size, "unsupported colour type %u with bit depth %u",
                       (unsigned)p->color_type, (unsigned)p->bit_depth);
        return CPNG_ERR_ARGUMENT;
    }
    if (p->width == 0 || p->height == 0 || p->width > CPNG_MAX_SIDE || p->height > CPNG_MAX_SIDE ||
        (uint64_t)p->width * p->height > CPNG_MAX_PIXELS) {
        format_message(err, err_size, "invalid image size %u x %u", (unsigned)p->width, (unsigned)p->height);
        return CPNG_ERR_TOO_LARGE;
    }
    if (p->interlaced > 1 || p->compression_level < -1 || p->compression_level > 9) {
        copy_message(err, err_size, "invalid interlace or compression level");
        return CPNG_ERR_ARGUMENT;
    }
    if (p->color_type == CPNG_COLOR_PALETTE) {
        if (p->palette == NULL || p->palette_count == 0 || p->palette_count > 256 ||
            p->palette_count > (1u << p->bit_depth) || p->trans_count > p->palette_count ||
            (p->trans_count > 0 && p->trans == NULL)) {
            copy_message(err, err_size, "invalid palette or palette transparency");
            return CPNG_ERR_ARGUMENT;
        }
    } else if (p->palette_count != 0 || p->trans_count != 0) {
        copy_message(err, err_size, "palette given for a non-palette colour type");
        return CPNG_ERR_ARGUMENT;
    }
    if (p->has_trans_color && p->color_type != CPNG_COLOR_GRAY && p->color_type != CPNG_COLOR_RGB) {
        copy_message(err, err_size, "a tRNS colour needs gray or RGB");
        return CPNG_ERR_ARGUMENT;
    }

    // Validate every sample and pack rows (MSB-first below 8 bits, big-endian at 16 bits).
    const uint32_t limit = p->color_type == CPNG_COLOR_PALETTE ? p->palette_count : (1u << p->bit_depth);
    const size_t samples_per_row = (size_t)p->width * (size_t)channels;
    const size_t row_bytes = (samples_per_row * p->bit_depth + 7) / 8;
    for (int c = 0; p->has_trans_color && c < (p->color_type == CPNG_COLOR_RGB ? 3 : 1); c++) {
        if (p->trans_color[c] >= (1u << p->bit_depth)) {
            copy_message(err, err_size, "tRNS colour does not fit the bit depth");
            return CPNG_ERR_ARGUMENT;
        }
    }

    encode_ctx *const ctx = (encode_ctx *)calloc(1, sizeof(encode_ctx));
    if (ctx == NULL) {
        copy_message(err, err_size, "out of memory");
        return CPNG_ERR_NO_MEMORY;
    }
    ctx->packed = (unsigned char *)calloc(row_bytes, p->height);
    ctx->rows = (png_bytep *)malloc(sizeof(png_bytep) * p->height);
    if (ctx->packed == NULL || ctx->rows == NULL) {
        free(ctx->packed);
        free(ctx->rows);
        free(ctx);
        copy_message(err, err_size, "out of memory");
        return CPNG_ERR_NO_MEMORY;
    }
    for (uint32_t y = 0; y < p->height; y++) {
        unsigned char *row = ctx->packed + (size_t)y * row_bytes;
        const uint16_t *src = p->samples + (size_t)y * samples_per_row;
        ctx->rows[y] = row;
        for (size_t i = 0; i < samples_per_row; i++) {
            const uint16_t v = src[i];
            if (v >= limit) {
                format_message(err, err_size, "sample %u at row %u, index %zu does not fit (limit %u)",
                               (unsigned)v, (unsigned)y, i, (unsigned)limit);
                free(ctx->packed);
                free(ctx->rows);
                free(ctx);
                return CPNG_ERR_ARGUMENT;
            }
            switch (p->bit_depth) {
                case 16: row[2 * i] = (unsigned char)(v >> 8); row[2 * i + 1] = (unsigned char)v; break;
                case 8: row[i] = (unsigned char)v; break;
                default: {
                    const size_t bit = i * p->bit_depth;
                    row[bit / 8] |= (unsigned char)(v << (8 - p->bit_depth - bit % 8));
                }
            }
        }
    }

    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, ctx, encode_error, encode_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (png == NULL || info == NULL) {
        png_destroy_write_struct(png ? &png : NULL, NULL);
        free(ctx->packed);
        free(ctx->rows);
        free(ctx);
        copy_message(err, err_size, "out of memory (libpng structures)");
        return CPNG_ERR_NO_MEMORY;
    }

    int result = CPNG_OK;
    if (setjmp(png_jmpbuf(png))) {
        if (ctx->code == 0) ctx->code = CPNG_ERR_CORRUPT;
        result = ctx->code;
        char full[CPNG_MESSAGE_SIZE + 32];
        snprintf(full, sizeof full, "PNG encoding failed: %s", ctx->message[0] ? ctx->message : "libpng error");
        copy_message(err, err_size, full);
        free(ctx->data);
        goto done;
    }

    png_set_write_fn(png, ctx, encode_write, encode_flush);
    if (p->compression_level >= 0) png_set_compression_level(png, p->compression_level);
    png_set_IHDR(png, info, p->width, p->height, (int)p->bit_depth, (int)p->color_type,
                 p->interlaced ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (p->color_type == CPNG_COLOR_PALETTE) {
        png_color palette[256];
        for (uint32_t i = 0; i < p->palette_count; i++) {
            palette[i].red = p->palette[3 * i];
            palette[i].green = p->palette[3 * i + 1];
            palette[i].blue = p->palette[3 * i + 2];
        }
        png_set_PLTE(png, info, palette, (int)p->palette_count);
        if (p->trans_count > 0) png_set_tRNS(png, info, p->trans, (int)p->trans_count, NULL);
    } else if (p->has_trans_color) {
        png_color_16 color;
        memset(&color, 0, sizeof color);
        color.gray = p->trans_color[0];
        color.red = p->trans_color[0];
        color.green = p->trans_color[1];
        color.blue = p->trans_color[2];
        png_set_tRNS(png, info, NULL, 0, &color);
    }
    png_write_info(png, info);
    png_write_image(png, ctx->rows);  // handles the Adam7 passes itself
    png_write_end(png, NULL);

    *out_data = ctx->data;
    *out_size = ctx->size;

done:
    png_destroy_write_struct(&png, &info);
    free(ctx->packed);
    free(ctx->rows);
    free(ctx);
    return result;
}
