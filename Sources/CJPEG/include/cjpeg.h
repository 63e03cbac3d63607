// CJPEG: the smallest possible C shim around libjpeg(-turbo), for DICOM's JPEG Baseline and
// Extended transfer syntaxes.
//
// Why it exists: libjpeg reports a fatal error by calling error_exit, which must not return; the
// only way out is a longjmp, and a longjmp across Swift frames is undefined behaviour. Every libjpeg
// call lives in cjpeg.c under a setjmp(), and errors come back as a return code plus one line.
#pragma once

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Return codes of cjpeg_decode.
enum {
    CJPEG_OK = 0,
    CJPEG_ERR_CORRUPT = 1,    // libjpeg refused the data (bad marker, bad Huffman code, no image, ...)
    CJPEG_ERR_TRUNCATED = 2,  // the data ends before the image does
    CJPEG_ERR_PRECISION = 3,  // sample precision other than 8 bits (out->precision says which)
    CJPEG_ERR_MISMATCH = 4,   // the frame header's size or component count differs from the caller's
    CJPEG_ERR_NO_MEMORY = 5,
};

/// A decoded frame. `samples` is malloc'd by cjpeg_decode and released by cjpeg_free.
typedef struct cjpeg_image {
    uint32_t width;       // from the frame header (SOF), also filled on CJPEG_ERR_MISMATCH
    uint32_t height;
    uint32_t components;
    uint32_t precision;   // 8 on success; the refused precision on CJPEG_ERR_PRECISION
    /// width * height * components bytes, row-major, components interleaved, in the colour space
    /// the components were coded in: no YCbCr -> RGB conversion (chroma is upsampled).
    uint8_t *samples;
} cjpeg_image;

/// Decodes one JPEG image held in memory, whose frame header must say `width` x `height` with
/// `components` components (checked before anything the size of the image is allocated).
/// Returns CJPEG_OK and fills *out, or a CJPEG_ERR_* code with out->samples NULL and a one-line,
/// NUL-terminated message in err (if err_size > 0). Nothing is printed.
int cjpeg_decode(const unsigned char *data, size_t size, uint32_t width, uint32_t height,
                 uint32_t components, cjpeg_image *out, char *err, size_t err_size);

/// Releases out->samples (safe on a zeroed or already freed image).
void cjpeg_free(cjpeg_image *image);

#ifdef __cplusplus
}
#endif
