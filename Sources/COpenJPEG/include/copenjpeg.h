// COpenJPEG: the smallest possible C shim around OpenJPEG, for DICOM's JPEG 2000 transfer syntaxes.
//
// Why it exists: OpenJPEG reads through a stream of C callbacks and reports errors through message
// callbacks (by default printed to stderr). This file gives Swift one call on a memory buffer, with
// the messages captured instead of printed.
#pragma once

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Return codes of copenjpeg_decode.
enum {
    COPENJPEG_OK = 0,
    COPENJPEG_ERR_CORRUPT = 1,      // not a J2K codestream or JP2 file, or OpenJPEG refused it
    COPENJPEG_ERR_MISMATCH = 2,     // size or component count differs from the caller's
    COPENJPEG_ERR_UNSUPPORTED = 3,  // subsampled components, components of different precision, > 31 bits
    COPENJPEG_ERR_NO_MEMORY = 4,
};

/// A decoded image. `samples` is malloc'd by copenjpeg_decode and released by copenjpeg_free.
typedef struct copenjpeg_image {
    uint32_t width;       // from the image header (SIZ), also filled on COPENJPEG_ERR_MISMATCH
    uint32_t height;
    uint32_t components;
    uint32_t precision;   // bits per sample, the same for every component (1..31)
    uint32_t is_signed;   // 1 if the samples are two's complement
    uint32_t is_jp2;      // 1 for a JP2 file, 0 for a bare J2K codestream
    /// width * height samples per component, components one after another (planar). A reversible
    /// or irreversible multiple component transform is already undone (YBR_RCT / YBR_ICT -> RGB).
    int32_t *samples;
} copenjpeg_image;

/// Decodes a JPEG 2000 codestream (J2K) or JP2 file held in memory, whose header must say `width` x
/// `height` with `components` components (checked before the tiles are decoded). Returns
/// COPENJPEG_OK and fills *out, or a COPENJPEG_ERR_* code with out->samples NULL and a one-line,
/// NUL-terminated message in err (if err_size > 0). Nothing is printed.
int copenjpeg_decode(const unsigned char *data, size_t size, uint32_t width, uint32_t height,
                     uint32_t components, copenjpeg_image *out, char *err, size_t err_size);

/// Releases out->samples (safe on a zeroed or already freed image).
void copenjpeg_free(copenjpeg_image *image);

#ifdef __cplusplus
}
#endif
