// Conditioning maps (see rtmotion/kernels/maps_numpy.py for the definition; numpy is the oracle).
// One thread per output pixel of one batch item; it walks the primitives in channel order and
// keeps a running maximum per channel, so channels shared by several primitives (face, hands)
// need no atomics.

extern "C" __global__ void pose_maps(
    const float* __restrict__ prim,     // B x P x 8: ax, ay, ux, uy, len, r2, neg_k, valid
    const int* __restrict__ channel,    // P, non-decreasing, covering 0..C-1
    float* __restrict__ out,            // B x C x H x W
    int B, int P, int C, int H, int W)
{
    const int x = blockIdx.x * blockDim.x + threadIdx.x;
    const int y = blockIdx.y * blockDim.y + threadIdx.y;
    const int b = blockIdx.z;
    if (x >= W || y >= H || b >= B || P <= 0) return;
    const float* pb = prim + (long long)b * P * 8;
    const long long plane = (long long)H * W;
    float* ob = out + (long long)b * C * plane + (long long)y * W + x;
    const float fx = (float)x, fy = (float)y;
    int cur = channel[0];
    float acc = 0.0f;
    for (int p = 0; p < P; ++p) {
        const int c = channel[p];
        if (c != cur) {
            ob[(long long)cur * plane] = acc;
            cur = c;
            acc = 0.0f;
        }
        const float* q = pb + (long long)p * 8;
        if (q[7] == 0.0f) continue;
        const float dx = fx - q[0], dy = fy - q[1];
        const float s = dx * q[2] + dy * q[3];           // along the segment
        const float cr = dx * q[3] - dy * q[2];          // across
        const float e = s - fminf(fmaxf(s, 0.0f), q[4]); // beyond the ends
        const float d2 = cr * cr + e * e;
        if (d2 <= q[5]) acc = fmaxf(acc, expf(d2 * q[6]));
    }
    ob[(long long)cur * plane] = acc;
}
