// Tuning aid for kernels/rmsnorm (no torch): times rms_norm and
// fused_add_rms_norm for each dtype, shape and register-path block size
// (register-path shapes and cache hints) against a device-to-device copy of the same
// bytes, with CUDA events (median of 7 runs of back-to-back launches).
//   nvcc -O3 -std=c++17 -gencode=arch=compute_90a,code=sm_90a \
//     -Ikernels/rmsnorm/rmsnorm bench/rmsnorm_tune.cu -o rmsnorm_tune && ./rmsnorm_tune
// Prints a markdown table; "% copy" counts the bytes an ideal kernel moves.
#include "rmsnorm_kernels.cu"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <vector>

namespace {

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) {
    std::fprintf(stderr, "%s: %s\n", what, cudaGetErrorString(e));
    std::exit(1);
  }
}

// Median microseconds per call of `fn` over 7 runs of `iters` calls.
float time_us(const std::function<void()>& fn, int iters) {
  for (int i = 0; i < 3; ++i) fn();
  check(cudaDeviceSynchronize(), "warm-up");
  cudaEvent_t a, b;
  check(cudaEventCreate(&a), "event");
  check(cudaEventCreate(&b), "event");
  std::vector<float> t;
  for (int run = 0; run < 7; ++run) {
    check(cudaEventRecord(a), "record");
    for (int i = 0; i < iters; ++i) fn();
    check(cudaEventRecord(b), "record");
    check(cudaEventSynchronize(b), "sync");
    float ms = 0;
    check(cudaEventElapsedTime(&ms, a, b), "elapsed");
    t.push_back(ms * 1000.0f / static_cast<float>(iters));
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  std::sort(t.begin(), t.end());
  return t[3];
}

__global__ void fill(uint16_t* p, int64_t n, uint32_t seed) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    uint32_t h = static_cast<uint32_t>(i) * 2654435761u ^ seed;
    h ^= h >> 15;
    // Exponent bits kept in a moderate range for every dtype viewed as halves.
    p[i] = static_cast<uint16_t>((h & 0x83ffu) | 0x3800u);
  }
}

}  // namespace

int main() {
  const int64_t shapes[][2] = {{1, 4096}, {256, 4096}, {4096, 4096}, {4096, 8192}, {8192, 8192}, {16384, 4096},
                               {16384, 8192}};
  // {max_threads, min_items, streaming hints}
  const int targets[][3] = {{256, 2, 1}, {128, 4, 1}, {256, 4, 1}, {512, 2, 1}};
  const char* names[] = {"fp32", "fp16", "bf16"};
  const int sizes[] = {4, 2, 2};
  std::printf("| op | dtype | shape | copy GB/s |");
  for (const auto& t : targets) std::printf(" %d thr, %d+ items%s µs (%% copy) |", t[0], t[1], t[2] ? ", .cs" : "");
  std::printf("\n|---|---|---|---:|");
  for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); ++i) std::printf("---:|");
  std::printf("\n");
  for (int fused = 0; fused < 2; ++fused) {
    for (int d = 0; d < 3; ++d) {
      for (const auto& s : shapes) {
        const int64_t n = s[0] * s[1];
        const int64_t bytes = n * sizes[d];
        void *x, *y, *r, *w;
        check(cudaMalloc(&x, bytes), "malloc");
        check(cudaMalloc(&y, bytes), "malloc");
        check(cudaMalloc(&r, bytes), "malloc");
        check(cudaMalloc(&w, s[1] * sizes[d]), "malloc");
        fill<<<1024, 256>>>(static_cast<uint16_t*>(x), bytes / 2, 1);
        fill<<<1024, 256>>>(static_cast<uint16_t*>(r), bytes / 2, 2);
        fill<<<64, 256>>>(static_cast<uint16_t*>(w), s[1] * sizes[d] / 2, 3);
        const int64_t moved = (fused ? 4 : 2) * bytes;
        const int iters = static_cast<int>(std::max<int64_t>(10, std::min<int64_t>(2000, 50000000000LL / moved)));
        void *cs, *cd;  // a copy of moved/2 bytes reads and writes `moved` bytes in all
        check(cudaMalloc(&cs, moved / 2), "malloc");
        check(cudaMalloc(&cd, moved / 2), "malloc");
        check(cudaMemset(cs, 1, moved / 2), "memset");
        const float tc = time_us([&] { cudaMemcpyAsync(cd, cs, moved / 2, cudaMemcpyDeviceToDevice); }, iters);
        cudaFree(cs);
        cudaFree(cd);
        const double copy_gbps = static_cast<double>(moved) / (tc * 1e-6) / 1e9;
        std::printf("| %s | %s | %lldx%lld | %.0f |", fused ? "fused_add_rms_norm" : "rms_norm", names[d],
                    static_cast<long long>(s[0]), static_cast<long long>(s[1]), copy_gbps);
        for (const auto& t : targets) {
          auto fn = [&] {
            void* out = fused ? x : y;
            void* res = fused ? r : nullptr;
            cudaError_t e = cudaSuccess;
            if (d == 0) e = rmsnorm::launch<float>(out, x, res, w, s[0], s[1], 1e-6f, nullptr, t[0], t[1], t[2] != 0);
            if (d == 1) e = rmsnorm::launch<__half>(out, x, res, w, s[0], s[1], 1e-6f, nullptr, t[0], t[1], t[2] != 0);
            if (d == 2) e = rmsnorm::launch<__nv_bfloat16>(out, x, res, w, s[0], s[1], 1e-6f, nullptr, t[0], t[1], t[2] != 0);
            check(e, "launch");
          };
          const float us = time_us(fn, iters);
          std::printf(" %.1f (%.0f%%) |", us, 100.0 * (static_cast<double>(moved) / (us * 1e-6) / 1e9) / copy_gbps);
        }
        std::printf("\n");
        std::fflush(stdout);
        cudaFree(x);
        cudaFree(y);
        cudaFree(r);
        cudaFree(w);
      }
    }
  }
  return 0;
}
