// The victim of `zo attack`: a multilayer perceptron image classifier trained here with first-order
// methods (hand-written forward/backward, OpenBLAS sgemm), then queried by the attack through its
// forward pass only.
//
//   sizes {784, 256, 256, 10}:  x (N, 784) → Linear(784, 256) → ReLU → Linear(256, 256) → ReLU
//                               → Linear(256, 10) → logits (N, 10)
// Linear follows PyTorch: y = x Wᵀ + b with W of shape (out, in), so a torch.nn.Linear's weights load
// unchanged. Parameters are named "fc<l>.weight" (out, in) and "fc<l>.bias" (out), l = 1 … L, stored
// in one flat float32 buffer in that order (fc1.weight, fc1.bias, fc2.weight, …).
// Inputs are pixels in [0, 1] (pixel / 255), row-major 28×28 for Fashion-MNIST; no normalisation.
//
// Files: safetensors (zo::nn::write_safetensors) with metadata
//   "zo.model" = "mlp", "zo.mlp.sizes" = "784,256,256,10", "zo.mlp.activation" = "relu",
//   "zo.input" = "pixels in [0,1]", plus what the trainer adds (seed, epochs, test accuracy).
// Loading checks that the sizes in the metadata, the tensors present and their shapes and dtypes agree,
// and names the file and tensor when they do not.
#pragma once

#include "zo/tasks/idx.hpp"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <vector>

namespace zo::tasks {

class Mlp {
 public:
  // sizes: inputs, hidden widths…, classes; at least two entries, each >= 1. Parameters start at 0.
  explicit Mlp(std::vector<std::int64_t> sizes);

  const std::vector<std::int64_t>& sizes() const { return sizes_; }
  std::int64_t inputs() const { return sizes_.front(); }
  std::int64_t classes() const { return sizes_.back(); }
  int layers() const { return int(sizes_.size()) - 1; }  // Linear layers, L

  // Views into the flat buffer; l in [1, L].
  std::span<float> weight(int l);  // (sizes[l], sizes[l−1]) row-major
  std::span<float> bias(int l);    // (sizes[l])
  std::span<const float> weight(int l) const;
  std::span<const float> bias(int l) const;
  std::span<float> params() { return params_; }
  std::span<const float> params() const { return params_; }

  // PyTorch's default nn.Linear initialisation, drawn from zo's Philox with `seed`:
  // W, b ~ U(−1/√in, 1/√in).
  void init(std::uint64_t seed);

  // logits (n × classes) for x (n × inputs), row-major. Thread-safe: reads the parameters only.
  void forward(const float* x, std::int64_t n, float* logits) const;

  // Mean softmax cross-entropy over the n examples; grad (same layout as params(), overwritten) gets
  // its gradient. labels in [0, classes).
  double loss_and_gradient(const float* x, const std::uint8_t* labels, std::int64_t n, float* grad) const;

  // Safetensors I/O (see the file comment). save adds `metadata` to the architecture keys.
  void save(const std::filesystem::path& path, const std::map<std::string, std::string>& metadata = {}) const;
  static Mlp load(const std::filesystem::path& path, std::map<std::string, std::string>* metadata = nullptr);

 private:
  std::vector<std::int64_t> sizes_;
  std::vector<std::int64_t> offsets_;  // start of fc<l>.weight in params_, l = 1 … L
  std::vector<float> params_;
};

// Row-wise log-softmax of n × k values, in place (max-subtracted, float).
void log_softmax(float* values, std::int64_t n, std::int64_t k);

// Fraction of `data` the model classifies correctly (argmax of the logits), in batches.
double accuracy(const Mlp& model, const ImageDataset& data);

// First-order training of the victim: minibatch Adam (Kingma & Ba 2015, with bias correction) on the
// mean cross-entropy, learning rate cosine-decayed from lr to 0 over all steps, examples reshuffled each
// epoch from `seed`. The defaults reach about 89 % test accuracy on Fashion-MNIST (docs/attack.md).
struct VictimTrainOptions {
  std::vector<std::int64_t> hidden = {256, 256};  // hidden widths, each >= 1
  int epochs = 15;                                // >= 1
  std::int64_t batch = 128;                       // >= 1
  double lr = 1e-3;                               // Adam's η, > 0
  double beta1 = 0.9;                             // in [0, 1)
  double beta2 = 0.999;                           // in [0, 1)
  double adam_eps = 1e-8;                         // > 0
  double weight_decay = 0.0;                      // L2 added to the gradient of weights (not biases), >= 0
  std::uint64_t seed = 0;                         // init and shuffling
  void validate() const;                          // throws zo::Error naming the field
};

struct EpochReport {
  int epoch = 0;               // 1-based
  double train_loss = 0.0;     // mean minibatch loss over the epoch
  double test_accuracy = 0.0;  // NaN when no test set was given
  double seconds = 0.0;        // since training started
};

// Builds, initialises and trains an Mlp {pixels, hidden…, classes}. `test` may be null; `progress`
// (may be empty) is called after each epoch.
Mlp train_victim(const ImageDataset& train, const ImageDataset* test, const VictimTrainOptions& options,
                 const std::function<void(const EpochReport&)>& progress = {}, int classes = 10);

}  // namespace zo::tasks
