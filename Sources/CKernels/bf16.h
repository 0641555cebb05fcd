// bf16 conversions shared by the C kernels (not part of the public header).
#ifndef LLX_BF16_H
#define LLX_BF16_H

#include <stdint.h>
#include <string.h>

/// f32 -> bf16 bits, round to nearest even (torch's conversion); a NaN stays a quiet NaN.
/// Branch-free, so loops over it vectorize.
static inline uint16_t llx_bf16_bits(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    uint32_t quiet = (u >> 16) | 0x40u;
    return (uint16_t)(((u & 0x7fffffffu) > 0x7f800000u) ? quiet : rounded);
}

static inline float llx_bf16_value(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

#endif
