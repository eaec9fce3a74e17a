// zo's side of bench/forward_bench.py: loads a model folder, runs Model::forward on a fixed random
// batch (B × T, all real tokens) `repeats` times after one warm-up (into the same logits vector), and prints one JSON line with the
// per-forward times, peak RSS and the bytes the weights and activations need. The Python script runs
// the PyTorch peer on the same folder and compares.
//
//   forward_bench MODEL_DIR B T REPEATS
#include "zo/util/error.hpp"
#include "zo/nn/model.hpp"

#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: forward_bench MODEL_DIR B T REPEATS\n");
    return 2;
  }
  try {
    const std::int64_t B = std::stoll(argv[2]), T = std::stoll(argv[3]);
    const int repeats = std::stoi(argv[4]);
    zo::nn::Model model = zo::nn::Model::load(argv[1]);
    const auto& c = model.config();
    // Token ids from a fixed linear congruential sequence: reproducible, no RNG state needed.
    std::vector<std::int32_t> tokens(std::size_t(B * T));
    std::uint64_t state = 12345;
    for (auto& t : tokens) {
      state = state * 6364136223846793005ull + 1442695040888963407ull;
      t = std::int32_t((state >> 33) % std::uint64_t(c.vocab_size));
    }
    const zo::nn::TokenBatch batch{B, T, tokens, {}};
    std::vector<double> seconds;
    double checksum = 0;
    std::vector<float> logits;  // reused: a training loop calls forward again and again
    for (int r = 0; r <= repeats; ++r) {
      const auto start = std::chrono::steady_clock::now();
      model.forward(batch, logits);
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (r > 0) seconds.push_back(s);
      checksum = logits[0] + logits[logits.size() / 2];
    }
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    const std::int64_t N = B * T, C = c.hidden_size;
    // What a forward must hold: the residual stream and six (N, C) buffers (norm, q, k, v, attention,
    // projection), the (N, F) FFN buffer, one batch row's (NH, T, T) scores, and the (N, V) logits.
    const std::int64_t activation_bytes =
        4 * (7 * N * C + N * c.ffn_dim + c.num_heads * T * T + N * c.vocab_size);
    std::string times;
    for (double s : seconds) {
      if (!times.empty()) times.push_back(',');
      times.append(std::to_string(s));
    }
    std::printf("{\"seconds\": [%s], \"peak_rss_bytes\": %ld, \"weight_bytes\": %zu, \"activation_bytes\": %ld, "
                "\"checksum\": %.6f}\n",
                times.c_str(), usage.ru_maxrss * 1024L, model.parameter_bytes(), long(activation_bytes), checksum);
  } catch (const zo::Error& e) {
    std::fprintf(stderr, "forward_bench: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
