// Frame conversions at the model's edges (definition: rtmotion/kernels/frames_numpy.py, the oracle).
// One thread per pixel of one batch item; each moves the pixel's 3 channels between the
// interleaved uint8 HWC layout and the planar float NCHW layout, so each is one pass over memory.
// The *_rn intrinsics keep each float32 operation separately rounded (no fused multiply-add),
// which makes the output bit for bit equal to torch's and numpy's.

extern "C" __global__ void frames_to_float(
    const unsigned char* __restrict__ src,   // B x H x W x 3, uint8 RGB
    float* __restrict__ dst,                 // B x 3 x H x W, float in [-1, 1]
    int B, int H, int W)
{
    const int x = blockIdx.x * blockDim.x + threadIdx.x;
    const int y = blockIdx.y * blockDim.y + threadIdx.y;
    const int b = blockIdx.z;
    if (x >= W || y >= H || b >= B) return;
    const long long plane = (long long)H * W;
    const long long pix = (long long)y * W + x;
    const unsigned char* s = src + ((long long)b * plane + pix) * 3;
    float* d = dst + (long long)b * 3 * plane + pix;
    for (int c = 0; c < 3; ++c) {
        d[c * plane] = __fsub_rn(__fdiv_rn((float)s[c], 127.5f), 1.0f);
    }
}

extern "C" __global__ void float_to_frames(
    const float* __restrict__ src,           // B x 3 x H x W, float in [-1, 1]
    unsigned char* __restrict__ dst,         // B x H x W x 3, uint8 RGB
    int B, int H, int W)
{
    const int x = blockIdx.x * blockDim.x + threadIdx.x;
    const int y = blockIdx.y * blockDim.y + threadIdx.y;
    const int b = blockIdx.z;
    if (x >= W || y >= H || b >= B) return;
    const long long plane = (long long)H * W;
    const long long pix = (long long)y * W + x;
    const float* s = src + (long long)b * 3 * plane + pix;
    unsigned char* d = dst + ((long long)b * plane + pix) * 3;
    for (int c = 0; c < 3; ++c) {
        float v = rintf(__fmul_rn(__fadd_rn(s[c * plane], 1.0f), 127.5f));  // ties to even
        v = isnan(v) ? 0.0f : fminf(fmaxf(v, 0.0f), 255.0f);
        d[c] = (unsigned char)v;
    }
}
