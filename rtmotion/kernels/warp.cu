// Backward bilinear warp with edge clamp (grid_sample align_corners=True, padding "border").
// Output pixel (x, y) samples the input at (x + dx, y + dy), clamped to [0, W-1] x [0, H-1].

extern "C" __global__ void warp_bilinear(
    const float* __restrict__ img,    // B x C x H x W
    const float* __restrict__ flow,   // B x H x W x 2, pixels
    float* __restrict__ out,          // B x C x H x W
    int B, int C, int H, int W)
{
    const int x = blockIdx.x * blockDim.x + threadIdx.x;
    const int y = blockIdx.y * blockDim.y + threadIdx.y;
    const int b = blockIdx.z;
    if (x >= W || y >= H || b >= B) return;
    const float* f = flow + (((long long)b * H + y) * W + x) * 2;
    const float sx = fminf(fmaxf((float)x + f[0], 0.0f), (float)(W - 1));
    const float sy = fminf(fmaxf((float)y + f[1], 0.0f), (float)(H - 1));
    const int x0 = (int)floorf(sx), y0 = (int)floorf(sy);
    const int x1 = min(x0 + 1, W - 1), y1 = min(y0 + 1, H - 1);
    const float ax = sx - (float)x0, ay = sy - (float)y0;
    const long long plane = (long long)H * W;
    const long long i00 = (long long)y0 * W + x0, i01 = (long long)y0 * W + x1;
    const long long i10 = (long long)y1 * W + x0, i11 = (long long)y1 * W + x1;
    for (int c = 0; c < C; ++c) {
        const float* p = img + ((long long)b * C + c) * plane;
        const float top = p[i00] * (1.0f - ax) + p[i01] * ax;
        const float bot = p[i10] * (1.0f - ax) + p[i11] * ax;
        out[((long long)b * C + c) * plane + (long long)y * W + x] = top * (1.0f - ay) + bot * ay;
    }
}
