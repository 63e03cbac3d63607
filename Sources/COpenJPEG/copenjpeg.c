// COpenJPEG: opj_decode on a memory buffer, messages captured instead of printed.

#include "copenjpeg.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Debian installs openjpeg.h under its version's folder (no pkg-config for a SwiftPM C target).
#include <openjpeg-2.5/openjpeg.h>

#define MESSAGE_SIZE 256

static void copy_message(char *dst, size_t dst_size, const char *src) {
    if (dst == NULL || dst_size == 0) return;
    size_t i = 0;
    for (; src != NULL && src[i] != '\0' && i + 1 < dst_size; i++) {
        char c = src[i];
        dst[i] = (c == '\n' || c == '\r' || c == '\t') ? ' ' : c;  // always one line
    }
    while (i > 0 && dst[i - 1] == ' ') i--;  // OpenJPEG ends its messages with a newline
    dst[i] = '\0';
}

static void format_message(char *dst, size_t dst_size, const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    vsnprintf(dst, dst_size, fmt, args);
    va_end(args);
}

// MARK: - the memory stream

typedef struct memory_stream {
    const unsigned char *data;
    size_t size;
    size_t pos;
} memory_stream;

static OPJ_SIZE_T stream_read(void *buffer, OPJ_SIZE_T count, void *user) {
    memory_stream *s = (memory_stream *)user;
    if (s->pos >= s->size) return (OPJ_SIZE_T)-1;  // OpenJPEG's end-of-stream
    const size_t n = count < s->size - s->pos ? count : s->size - s->pos;
    memcpy(buffer, s->data + s->pos, n);
    s->pos += n;
    return n;
}

static OPJ_OFF_T stream_skip(OPJ_OFF_T count, void *user) {
    memory_stream *s = (memory_stream *)user;
    if (count < 0 || (uint64_t)count > s->size - s->pos) return (OPJ_OFF_T)-1;
    s->pos += (size_t)count;
    return count;
}

static OPJ_BOOL stream_seek(OPJ_OFF_T offset, void *user) {
    memory_stream *s = (memory_stream *)user;
    if (offset < 0 || (uint64_t)offset > s->size) return OPJ_FALSE;
    s->pos = (size_t)offset;
    return OPJ_TRUE;
}

// MARK: - messages

// The first error is kept for the caller; warnings and progress information are dropped.
static void on_error(const char *message, void *user) {
    char *first = (char *)user;
    if (first[0] == '\0') copy_message(first, MESSAGE_SIZE, message);
}

static void on_ignored(const char *message, void *user) {
    (void)message;
    (void)user;
}

// MARK: - decoding

static const unsigned char j2k_magic[4] = {0xFF, 0x4F, 0xFF, 0x51};  // SOC, then SIZ
static const unsigned char jp2_magic[12] = {0, 0, 0, 0x0C, 'j', 'P', ' ', ' ', 0x0D, 0x0A, 0x87, 0x0A};

// Header (and after decoding, again the decoded components) against what the caller expects.
static int check_image(const opj_image_t *image, uint32_t width, uint32_t height, uint32_t components,
                       int decoded, copenjpeg_image *out, char *message) {
    out->width = image->x1 - image->x0;
    out->height = image->y1 - image->y0;
    out->components = image->numcomps;
    if (out->width != width || out->height != height || out->components != components) {
        format_message(message, MESSAGE_SIZE, "the JPEG 2000 header is %u x %u with %u components",
                       (unsigned)out->width, (unsigned)out->height, (unsigned)out->components);
        return COPENJPEG_ERR_MISMATCH;
    }
    const opj_image_comp_t *first = &image->comps[0];
    for (uint32_t c = 0; c < image->numcomps; c++) {
        const opj_image_comp_t *comp = &image->comps[c];
        if (comp->dx != 1 || comp->dy != 1) {
            format_message(message, MESSAGE_SIZE, "component %u is subsampled (%u x %u)", (unsigned)c,
                           (unsigned)comp->dx, (unsigned)comp->dy);
            return COPENJPEG_ERR_UNSUPPORTED;
        }
        if (comp->prec != first->prec || comp->sgnd != first->sgnd) {
            format_message(message, MESSAGE_SIZE, "component %u has %u-bit %s samples, component 0 %u-bit %s",
                           (unsigned)c, (unsigned)comp->prec, comp->sgnd ? "signed" : "unsigned",
                           (unsigned)first->prec, first->sgnd ? "signed" : "unsigned");
            return COPENJPEG_ERR_UNSUPPORTED;
        }
        if (decoded && (comp->w != width || comp->h != height || comp->data == NULL)) {
            format_message(message, MESSAGE_SIZE, "component %u decoded to %u x %u", (unsigned)c,
                           (unsigned)comp->w, (unsigned)comp->h);
            return COPENJPEG_ERR_MISMATCH;
        }
    }
    if (first->prec < 1 || first->prec > 31) {
        format_message(message, MESSAGE_SIZE, "%u-bit samples (1 to 31 are supported)", (unsigned)first->prec);
        return COPENJPEG_ERR_UNSUPPORTED;
    }
    out->precision = first->prec;
    out->is_signed = first->sgnd ? 1 : 0;
    return COPENJPEG_OK;
}

static int decode_with(opj_codec_t *codec, opj_stream_t *stream, uint32_t width, uint32_t height,
                       uint32_t components, copenjpeg_image *out, char *message) {
    opj_dparameters_t parameters;
    opj_set_default_decoder_parameters(&parameters);
    opj_image_t *image = NULL;
    if (!opj_setup_decoder(codec, &parameters) || !opj_read_header(stream, codec, &image)) {
        opj_image_destroy(image);
        return COPENJPEG_ERR_CORRUPT;
    }
    int result = check_image(image, width, height, components, 0, out, message);
    if (result == COPENJPEG_OK) {
        if (!opj_decode(codec, stream, image) || !opj_end_decompress(codec, stream)) {
            result = COPENJPEG_ERR_CORRUPT;
        } else {
            // A JP2 palette or channel definition can change the components: check them again.
            result = check_image(image, width, height, components, 1, out, message);
        }
    }
    if (result == COPENJPEG_OK) {
        const size_t plane = (size_t)width * height;
        out->samples = (int32_t *)malloc(plane * components * sizeof(int32_t));
        if (out->samples == NULL) {
            copy_message(message, MESSAGE_SIZE, "out of memory for the decoded image");
            result = COPENJPEG_ERR_NO_MEMORY;
        } else {
            for (uint32_t c = 0; c < components; c++) {
                memcpy(out->samples + c * plane, image->comps[c].data, plane * sizeof(int32_t));
            }
        }
    }
    opj_image_destroy(image);
    return result;
}

int copenjpeg_decode(const unsigned char *data, size_t size, uint32_t width, uint32_t height,
                     uint32_t components, copenjpeg_image *out, char *err, size_t err_size) {
    if (out == NULL) return COPENJPEG_ERR_CORRUPT;
    memset(out, 0, sizeof *out);
    char message[MESSAGE_SIZE] = "";
    OPJ_CODEC_FORMAT format;
    if (size >= sizeof jp2_magic && memcmp(data, jp2_magic, sizeof jp2_magic) == 0) {
        format = OPJ_CODEC_JP2;
        out->is_jp2 = 1;
    } else if (size >= sizeof j2k_magic && memcmp(data, j2k_magic, sizeof j2k_magic) == 0) {
        format = OPJ_CODEC_J2K;
    } else {
        copy_message(err, err_size, "not a JPEG 2000 codestream (no SOC and SIZ markers) or JP2 file");
        return COPENJPEG_ERR_CORRUPT;
    }
    opj_codec_t *codec = opj_create_decompress(format);
    memory_stream source = {data, size, 0};
    opj_stream_t *stream = opj_stream_default_create(OPJ_TRUE);
    int result = COPENJPEG_ERR_NO_MEMORY;
    if (codec != NULL && stream != NULL) {
        opj_set_error_handler(codec, on_error, message);
        opj_set_warning_handler(codec, on_ignored, NULL);
        opj_set_info_handler(codec, on_ignored, NULL);
        opj_stream_set_user_data(stream, &source, NULL);
        opj_stream_set_user_data_length(stream, size);
        opj_stream_set_read_function(stream, stream_read);
        opj_stream_set_skip_function(stream, stream_skip);
        opj_stream_set_seek_function(stream, stream_seek);
        result = decode_with(codec, stream, width, height, components, out, message);
    }
    if (stream != NULL) opj_stream_destroy(stream);
    if (codec != NULL) opj_destroy_codec(codec);
    if (result != COPENJPEG_OK) {
        if (message[0] == '\0') copy_message(message, MESSAGE_SIZE, result == COPENJPEG_ERR_NO_MEMORY ? "out of memory" : "OpenJPEG failed without a message");
        copy_message(err, err_size, message);
    }
    return result;
}

void copenjpeg_free(copenjpeg_image *image) {
    if (image == NULL) return;
    free(image->samples);
    image->samples = NULL;
}
