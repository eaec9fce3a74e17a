// How close zo's forward pass runs to the machine's matrix-product speed, in one process:
//
//   1. sgemm alone: OpenBLAS sgemm on the exact products of one forward of MODEL_DIR's model at B × T
//      tokens (out (N, OC) = in (N, C) · wᵀ as ops::matmul calls it: Q, K, V, O and the two or three
//      feed-forward products of each layer, and the head), each distinct shape timed over REPEATS calls
//      after a warm-up, before and after step 2 (the faster counts); rate = their FLOPs per forward /
//      their time per forward.
//   2. zo's forward: Model::forward on a fixed batch, REPEATS times after a warm-up; rate = the counted
//      FLOPs of a forward (the products above plus causal attention's q·k and p·v) / the median time.
//   3. Where the time goes: one more forward with the operation profile on (zo/nn/op_profile.hpp), and
//      one ZO perturbation pass over every parameter (dense Gaussian z, zo::perturb; a MeZO step
//      makes several).
//
// Prints one JSON line; bench/forward_efficiency.py runs it at 4 × 128 and 16 × 128 and reports.
//
//   forward_efficiency_bench MODEL_DIR B T REPEATS
#include "zo/core/direction.hpp"
#include "zo/core/kernels.hpp"
#include "zo/core/random.hpp"
#include "zo/nn/blas.hpp"
#include "zo/nn/model.hpp"
#include "zo/nn/op_profile.hpp"
#include "zo/util/error.hpp"

#include <cblas.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// (C, OC) → how many products of that shape one forward makes.
std::map<std::pair<std::int64_t, std::int64_t>, int> product_shapes(const zo::nn::ModelConfig& c) {
  std::map<std::pair<std::int64_t, std::int64_t>, int> shapes;
  const std::int64_t C = c.hidden_size, F = c.ffn_dim, L = c.num_layers;
  const std::int64_t QD = c.num_heads * c.head_dim, KD = c.num_kv_heads * c.head_dim;
  if (c.arch == zo::nn::Architecture::opt) {
    shapes[{C, C}] += int(4 * L);
    shapes[{C, F}] += int(L);
    shapes[{F, C}] += int(L);
  } else {
    shapes[{C, QD}] += int(L);
    shapes[{C, KD}] += int(2 * L);
    shapes[{QD, C}] += int(L);
    shapes[{C, F}] += int(2 * L);
    shapes[{F, C}] += int(L);
  }
  shapes[{C, c.vocab_size}] += 1;
  return shapes;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: forward_efficiency_bench MODEL_DIR B T REPEATS\n");
    return 2;
  }
  try {
    const std::int64_t B = std::stoll(argv[2]), T = std::stoll(argv[3]), N = B * T;
    const int repeats = std::max(1, std::stoi(argv[4]));
    zo::nn::Model model = zo::nn::Model::load(argv[1]);
    const auto& c = model.config();

    // 1. sgemm alone on the forward's shapes, timed before and after the forwards (the faster of the
    // two counts: the reference is the best sgemm does here).
    const auto shapes = product_shapes(c);
    std::map<std::pair<std::int64_t, std::int64_t>, double> per_call;
    auto time_products = [&] {
      for (const auto& [shape, count] : shapes) {
        const auto [C, OC] = shape;
        std::vector<float> in(static_cast<std::size_t>(N * C), 0.01f), w(static_cast<std::size_t>(OC * C), 0.02f),
            out(static_cast<std::size_t>(N * OC));
        auto product = [&] {
          cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(N), int(OC), int(C), 1.0f, in.data(), int(C),
                      w.data(), int(C), 0.0f, out.data(), int(OC));
        };
        product();
        const auto start = std::chrono::steady_clock::now();
        for (int r = 0; r < repeats; ++r) product();
        const double t = seconds_since(start) / repeats;
        per_call[shape] = per_call.count(shape) ? std::min(per_call[shape], t) : t;
      }
    };
    time_products();
    // Causal attention as ops::attention computes it: q·k and p·v over the t + 1 visible keys.
    const double attention_flops = 2.0 * double(B) * double(c.num_heads) * double(c.head_dim) * double(T) * double(T + 1);

    // 2. zo's forward.
    std::vector<std::int32_t> tokens(static_cast<std::size_t>(N));
    std::uint64_t state = 12345;  // a fixed linear congruential sequence of token ids
    for (auto& t : tokens) {
      state = state * 6364136223846793005ull + 1442695040888963407ull;
      t = std::int32_t((state >> 33) % std::uint64_t(c.vocab_size));
    }
    const zo::nn::TokenBatch batch{B, T, tokens, {}};
    std::vector<float> logits;
    model.forward(batch, logits);
    std::vector<double> seconds;
    for (int r = 0; r < repeats; ++r) {
      const auto start = std::chrono::steady_clock::now();
      model.forward(batch, logits);
      seconds.push_back(seconds_since(start));
    }

    time_products();
    double gemm_flops = 0, gemm_seconds = 0;
    std::string shape_json;
    for (const auto& [shape, count] : shapes) {
      const double flops = 2.0 * double(N) * double(shape.first) * double(shape.second);
      gemm_flops += count * flops;
      gemm_seconds += count * per_call[shape];
      shape_json += fmt::format("{}{{\"C\": {}, \"OC\": {}, \"count\": {}, \"gflops\": {:.2f}}}",
                                shape_json.empty() ? "" : ", ", shape.first, shape.second, count,
                                flops / per_call[shape] * 1e-9);
    }
    const double forward_flops = gemm_flops + attention_flops;

    // 3. Where the time goes.
    zo::nn::op_profile_start();
    const auto profiled_start = std::chrono::steady_clock::now();
    model.forward(batch, logits);
    const double profiled = seconds_since(profiled_start);
    const auto totals = zo::nn::op_profile_stop();
    std::string ops_json;
    for (const auto& t : totals)
      ops_json += fmt::format("{}{{\"op\": \"{}\", \"width\": {}, \"calls\": {}, \"seconds\": {:.6f}}}",
                              ops_json.empty() ? "" : ", ", t.op, t.width, t.calls, t.seconds);

    zo::ParamSet params = model.params();
    const zo::Direction direction({}, params);
    const auto blocks = direction.active_blocks(7, 0);
    double pass_seconds = 0;
    for (int r = 0; r <= 2; ++r) {
      const zo::Draw draw = direction.draw(params, blocks, zo::derive_seed(7, std::uint64_t(r)));
      const auto start = std::chrono::steady_clock::now();
      zo::perturb(params, direction, blocks, draw, r % 2 ? -1e-3f : 1e-3f);
      if (r > 0) pass_seconds += seconds_since(start) / 2;  // the first pass warms the pages
    }

    const double forward_s = median(seconds);
    std::printf(
        "{\"blas\": \"%s\", \"B\": %ld, \"T\": %ld, \"params\": %ld, \"gemm_gflop\": %.3f, \"attention_gflop\": %.3f, "
        "\"sgemm_seconds\": %.6f, \"sgemm_gflops\": %.2f, \"forward_seconds\": [%s], \"forward_median_s\": %.6f, "
        "\"forward_gflops\": %.2f, \"efficiency\": %.4f, \"profiled_forward_s\": %.6f, \"pass_seconds\": %.6f, "
        "\"shapes\": [%s], \"ops\": [%s]}\n",
        zo::nn::blas_core().c_str(), long(B), long(T), long(model.parameter_count()), gemm_flops * 1e-9,
        attention_flops * 1e-9, gemm_seconds, gemm_flops / gemm_seconds * 1e-9,
        fmt::format("{:.6f}", fmt::join(seconds, ", ")).c_str(), forward_s, forward_flops / forward_s * 1e-9,
        (forward_flops / forward_s) / (gemm_flops / gemm_seconds), profiled, pass_seconds, shape_json.c_str(),
        ops_json.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "forward_efficiency_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
