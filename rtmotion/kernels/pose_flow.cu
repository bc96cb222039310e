// Pose flow (see rtmotion/kernels/flow_numpy.py for the definition; numpy is the oracle).
// One thread per output pixel: squared distance to every bone of pose B, softmax weights
// relative to the nearest bone, weighted sum of the bones' affine displacements, then the
// body/background blend.

#define MAX_BONES 64

extern "C" __global__ void pose_flow(
    const float* __restrict__ bone,   // B x N x 11: ax, ay, ux, uy, len (pose-B segment),
                                      //   ax_, bx_, cx_, ay_, by_, cy_ (displacement, centred coords)
    const float* __restrict__ bg,     // B x 2 background flow
    float* __restrict__ flow,         // B x H x W x 2
    int B, int N, int H, int W, float cx, float cy,
    float neg_k,                      // -1 / (2 s^2)
    float radius,                     // r, px
    float neg_kf)                     // -1 / (2 f^2)
{
    const int x = blockIdx.x * blockDim.x + threadIdx.x;
    const int y = blockIdx.y * blockDim.y + threadIdx.y;
    const int b = blockIdx.z;
    if (x >= W || y >= H || b >= B) return;
    const float* pb = bone + (long long)b * N * 11;
    const float fx = (float)x, fy = (float)y;
    float d2s[MAX_BONES];
    float dmin = 3.0e38f;
    const int n = N < MAX_BONES ? N : MAX_BONES;
    for (int i = 0; i < n; ++i) {
        const float* q = pb + (long long)i * 11;
        const float dx = fx - q[0], dy = fy - q[1];
        const float s = dx * q[2] + dy * q[3];
        const float cr = dx * q[3] - dy * q[2];
        const float e = s - fminf(fmaxf(s, 0.0f), q[4]);
        const float d2 = cr * cr + e * e;
        d2s[i] = d2;
        dmin = fminf(dmin, d2);
    }
    const float X = fx - cx, Y = fy - cy;
    float ws = 0.0f, sx = 0.0f, sy = 0.0f;
    for (int i = 0; i < n; ++i) {
        const float* q = pb + (long long)i * 11;
        const float w = expf(fmaxf((d2s[i] - dmin) * neg_k, -80.0f));
        ws += w;
        sx += w * (q[5] * X + q[6] * Y + q[7]);
        sy += w * (q[8] * X + q[9] * Y + q[10]);
    }
    const float bx = bg[2 * b], by = bg[2 * b + 1];
    float ox = bx, oy = by;
    if (n > 0 && ws > 0.0f) {
        const float ex = fmaxf(sqrtf(dmin) - radius, 0.0f);
        const float alpha = expf(fmaxf(ex * ex * neg_kf, -80.0f));
        ox = alpha * (sx / ws - bx) + bx;
        oy = alpha * (sy / ws - by) + by;
    }
    float* o = flow + (((long long)b * H + y) * W + x) * 2;
    o[0] = ox;
    o[1] = oy;
}
