// CPNG: the smallest possible C shim around libpng.
//
// Why it exists: libpng reports every error by longjmp()-ing out of the failing call. A longjmp
// across Swift frames is undefined behaviour (no cleanup, no ARC releases), so Swift cannot call
// libpng directly. Every libpng call lives here, under a setjmp() in this file, and errors come
// back to Swift as a return code plus a one-line message.
#pragma once

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Return codes of cpng_decode / cpng_encode.
enum {
    CPNG_OK = 0,
    CPNG_ERR_ARGUMENT = 1,   // bad argument from the caller (NULL pointer, unsupported format)
    CPNG_ERR_EMPTY = 2,      // zero bytes of input
    CPNG_ERR_SIGNATURE = 3,  // input does not start with the 8-byte PNG signature
    CPNG_ERR_TRUNCATED = 4,  // input ended before the image (or IEND) was complete
    CPNG_ERR_CORRUPT = 5,    // libpng error: CRC mismatch, bad IHDR, bad zlib data, ...
    CPNG_ERR_TOO_LARGE = 6,  // width or height > 65535, or width*height > 2^28
    CPNG_ERR_NO_MEMORY = 7,  // allocation failed
};

/// Limits applied by the decoder (an error, never a huge allocation).
#define CPNG_MAX_SIDE 65535u
#define CPNG_MAX_PIXELS (1u << 28)

/// A decoded image. `pixels` is malloc'd by cpng_decode and released by cpng_free.
/// Samples are row-major, channel-interleaved, `row_bytes` per row without padding:
/// uint8_t per sample when bit_depth == 8, native-endian uint16_t when bit_depth == 16.
typedef struct cpng_image {
    uint32_t width;
    uint32_t height;
    uint32_t channels;    // 1 (gray) or 3 (RGB): alpha and tRNS are dropped, palettes expanded
    uint32_t bit_depth;   // 8 or 16: gray 1/2/4 bit is expanded to 8 (v * 255 / (2^bits - 1))
    uint32_t interlaced;  // 1 if the file was Adam7 interlaced (already de-interlaced here)
    uint32_t source_color_type;  // PNG colour type in the file (0, 2, 3, 4, 6)
    uint32_t source_bit_depth;   // bit depth in the file (1, 2, 4, 8, 16)
    size_t row_bytes;
    void *pixels;
} cpng_image;

/// Decodes a whole PNG held in memory. On success returns CPNG_OK and fills *out (free it with
/// cpng_free). On failure returns a CPNG_ERR_* code, leaves out->pixels NULL and copies a one-line,
/// NUL-terminated message into err (if err_size > 0).
int cpng_decode(const unsigned char *data, size_t size, cpng_image *out, char *err, size_t err_size);

/// Releases out->pixels (safe on a zeroed or already freed image).
void cpng_free(cpng_image *image);

/// PNG colour types accepted by cpng_encode (same numbers as the PNG specification).
enum {
    CPNG_COLOR_GRAY = 0,
    CPNG_COLOR_RGB = 2,
    CPNG_COLOR_PALETTE = 3,
    CPNG_COLOR_GRAY_ALPHA = 4,
    CPNG_COLOR_RGBA = 6,
};

/// What to encode. One uint16_t per sample (also for palette indices and 1/2/4-bit gray), row-major,
/// channel-interleaved; every value must fit in bit_depth bits.
typedef struct cpng_encode_params {
    uint32_t width;
    uint32_t height;
    uint32_t color_type;   // CPNG_COLOR_*
    uint32_t bit_depth;    // gray: 1,2,4,8,16; palette: 1,2,4,8; others: 8,16
    uint32_t interlaced;   // 0 = none, 1 = Adam7
    int compression_level; // 0..9, or -1 for libpng's default
    const uint16_t *samples;
    // Palette (CPNG_COLOR_PALETTE only): palette_count RGB triplets (1..256), and optionally
    // trans_count (0..palette_count) alpha values written as a tRNS chunk.
    const uint8_t *palette;
    uint32_t palette_count;
    const uint8_t *trans;
    uint32_t trans_count;
    // Optional tRNS "transparent colour" for gray (trans_color[0]) or RGB (trans_color[0..2]).
    uint32_t has_trans_color;
    uint16_t trans_color[3];
} cpng_encode_params;

/// Encodes to a malloc'd buffer (*out_data, *out_size); free it with cpng_free_buffer.
/// Returns CPNG_OK or a CPNG_ERR_* code with a message in err.
int cpng_encode(const cpng_encode_params *params, unsigned char **out_data, size_t *out_size,
                char *err, size_t err_size);

/// Releases a buffer returned by cpng_encode.
void cpng_free_buffer(void *buffer);

#ifdef __cplusplus
}
#endif
