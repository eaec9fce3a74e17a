// The victim MLP: forward, loss and gradients against PyTorch (golden from make_victim_golden.py),
// backward against finite differences, safetensors round trip and load errors, and training.
#include "zo/tasks/victim.hpp"

#include "zo/util/error.hpp"
#include "zo/nn/safetensors.hpp"
#include "../test_util.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using zo::tasks::Mlp;

using zo::test::expect_error;

namespace {

fs::path temp_dir() { return zo::test::fresh_dir("zo_victim_test_"); }

// The formula weights of make_victim_golden.py.
Mlp formula_mlp(const std::vector<std::int64_t>& sizes) {
  Mlp m(sizes);
  for (int l = 1; l <= m.layers(); ++l) {
    const std::int64_t o = sizes[l], in = sizes[l - 1];
    auto w = m.weight(l);
    for (std::int64_t r = 0; r < o; ++r)
      for (std::int64_t c = 0; c < in; ++c)
        w[std::size_t(r * in + c)] = float(std::sin(0.37 * double(r) + 0.11 * double(c) + l) / std::sqrt(double(in)));
    auto b = m.bias(l);
    for (std::int64_t r = 0; r < o; ++r) b[std::size_t(r)] = float(0.1 * std::cos(0.5 * double(r) + l));
  }
  return m;
}

std::vector<float> formula_inputs(int n, int d) {
  std::vector<float> x(std::size_t(n * d));
  for (int r = 0; r < n; ++r)
    for (int c = 0; c < d; ++c) x[std::size_t(r * d + c)] = float(0.5 + 0.5 * std::sin(0.013 * c * (r + 1) + r));
  return x;
}

nlohmann::json golden() {
  std::ifstream in(fs::path(ZO_SOURCE_DIR) / "tests/tasks/data/victim_golden.json");
  EXPECT_TRUE(in) << "golden file missing";
  return nlohmann::json::parse(in);
}

}  // namespace

TEST(Victim, ForwardMatchesPyTorchOnFixedWeights) {
  const auto g = golden();
  const auto sizes = g.at("sizes").get<std::vector<std::int64_t>>();
  const Mlp m = formula_mlp(sizes);
  const auto x = formula_inputs(4, 784);
  std::vector<float> logits(40);
  m.forward(x.data(), 4, logits.data());
  const auto want = g.at("logits").get<std::vector<double>>();
  const auto want_lp = g.at("log_softmax").get<std::vector<double>>();
  ASSERT_EQ(want.size(), 40u);
  for (std::size_t i = 0; i < 40; ++i) EXPECT_NEAR(logits[i], want[i], 1e-5 + 1e-4 * std::abs(want[i])) << i;
  zo::tasks::log_softmax(logits.data(), 4, 10);
  for (std::size_t i = 0; i < 40; ++i) EXPECT_NEAR(logits[i], want_lp[i], 1e-5 + 1e-4 * std::abs(want_lp[i])) << i;
}

TEST(Victim, LossAndGradientMatchPyTorchAutograd) {
  const auto g = golden();
  const auto sizes = g.at("sizes").get<std::vector<std::int64_t>>();
  const Mlp m = formula_mlp(sizes);
  const auto x = formula_inputs(4, 784);
  std::vector<std::uint8_t> labels;
  for (int l : g.at("labels").get<std::vector<int>>()) labels.push_back(std::uint8_t(l));
  std::vector<float> grad(m.params().size());
  const double loss = m.loss_and_gradient(x.data(), labels.data(), 4, grad.data());
  EXPECT_NEAR(loss, g.at("loss").get<double>(), 1e-5);
  // Locate each tensor's gradient by its offset in the flat layout.
  Mlp shape_only(sizes);
  for (int l = 1; l <= m.layers(); ++l) {
    for (int kind = 0; kind < 2; ++kind) {
      const std::string name = kind == 0 ? "fc" + std::to_string(l) + ".weight" : "fc" + std::to_string(l) + ".bias";
      const auto view = kind == 0 ? shape_only.weight(l) : shape_only.bias(l);
      const float* gp = grad.data() + (view.data() - shape_only.params().data());
      const auto& gg = g.at("grad").at(name);
      double norm = 0.0;
      for (std::size_t i = 0; i < view.size(); ++i) norm += double(gp[i]) * gp[i];
      EXPECT_NEAR(std::sqrt(norm), gg.at("norm").get<double>(), 1e-4 * gg.at("norm").get<double>() + 1e-7) << name;
      const std::int64_t cols = kind == 0 ? sizes[l - 1] : 1;
      for (const auto& e : gg.at("entries")) {
        const std::int64_t r = e[0].get<std::int64_t>(), c = e[1].get<std::int64_t>();
        const double want = e[2].get<double>();
        EXPECT_NEAR(gp[r * cols + c], want, 1e-6 + 1e-4 * std::abs(want)) << name << "[" << r << "," << c << "]";
      }
    }
  }
}

// Mean cross-entropy of the MLP in double precision, by plain loops over m's parameters: the finite
// differences below are taken on it, so float rounding of the loss does not swamp them.
double loss_in_double(const Mlp& m, const std::vector<float>& x, const std::vector<std::uint8_t>& labels, int n) {
  double total = 0.0;
  for (int r = 0; r < n; ++r) {
    std::vector<double> a(x.begin() + r * m.inputs(), x.begin() + (r + 1) * m.inputs());
    for (int l = 1; l <= m.layers(); ++l) {
      const std::int64_t o = m.sizes()[l], in = m.sizes()[l - 1];
      std::vector<double> z(static_cast<std::size_t>(o));
      for (std::int64_t j = 0; j < o; ++j) {
        double s = m.bias(l)[std::size_t(j)];
        for (std::int64_t k = 0; k < in; ++k) s += double(m.weight(l)[std::size_t(j * in + k)]) * a[std::size_t(k)];
        z[std::size_t(j)] = l < m.layers() ? std::max(s, 0.0) : s;
      }
      a.swap(z);
    }
    double mx = a[0];
    for (double v : a) mx = std::max(mx, v);
    double se = 0.0;
    for (double v : a) se += std::exp(v - mx);
    total += mx + std::log(se) - a[labels[std::size_t(r)]];
  }
  return total / n;
}

TEST(Victim, BackwardMatchesCentralFiniteDifferences) {
  // Every parameter of a small net: backward's ĝ_i vs (L(θ + h e_i) − L(θ − h e_i)) / 2h, with L in
  // double precision. Worst relative error |fd − ĝ| / max(|fd| + |ĝ|, 1e-6) is reported and bounded.
  Mlp m({12, 9, 7, 5});
  m.init(3);
  const int n = 6;
  std::vector<float> x(std::size_t(n * 12));
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = float(0.5 + 0.5 * std::sin(0.7 * double(i) + 0.3));
  const std::vector<std::uint8_t> labels = {0, 1, 2, 3, 4, 2};
  std::vector<float> grad(m.params().size());
  const double loss = m.loss_and_gradient(x.data(), labels.data(), n, grad.data());
  EXPECT_NEAR(loss, loss_in_double(m, x, labels, n), 1e-5);
  // Perturb a double copy of the parameters by h; float params would round h away.
  const double h = 1e-4;
  double worst = 0.0;
  std::size_t worst_i = 0;
  for (std::size_t i = 0; i < grad.size(); ++i) {
    const float keep = m.params()[i];
    const float up_v = keep + float(h), down_v = keep - float(h);
    m.params()[i] = up_v;
    const double up = loss_in_double(m, x, labels, n);
    m.params()[i] = down_v;
    const double down = loss_in_double(m, x, labels, n);
    m.params()[i] = keep;
    const double fd = (up - down) / (double(up_v) - double(down_v));
    const double rel = std::abs(fd - grad[i]) / std::max(1e-6, std::abs(fd) + std::abs(double(grad[i])));
    if (rel > worst) {
      worst = rel;
      worst_i = i;
    }
  }
  RecordProperty("worst_relative_error", std::to_string(worst));
  std::printf("gradient check: %zu params, worst relative error %.3g (param %zu)\n", grad.size(), worst, worst_i);
  EXPECT_LT(worst, 1e-4) << "param " << worst_i;
}

TEST(Victim, InitIsAPureFunctionOfTheSeedAndWithinPyTorchsBound) {
  Mlp a({784, 32, 10}), b({784, 32, 10}), c({784, 32, 10});
  a.init(7);
  b.init(7);
  c.init(8);
  EXPECT_TRUE(std::equal(a.params().begin(), a.params().end(), b.params().begin()));
  EXPECT_FALSE(std::equal(a.params().begin(), a.params().end(), c.params().begin()));
  const float bound1 = 1.0f / std::sqrt(784.0f);
  double mean = 0.0, sq = 0.0;
  for (float w : a.weight(1)) {
    EXPECT_LE(std::abs(w), bound1);
    mean += w;
    sq += double(w) * w;
  }
  const double n = double(a.weight(1).size());
  EXPECT_NEAR(mean / n, 0.0, 0.02 * bound1);
  EXPECT_NEAR(sq / n, bound1 * bound1 / 3.0, 0.05 * bound1 * bound1 / 3.0);  // variance of U(−b, b)
  for (float w : a.bias(2)) EXPECT_LE(std::abs(w), 1.0f / std::sqrt(32.0f));
}

TEST(Victim, ConstructorRejectsBadSizes) {
  expect_error([] { Mlp({784}); }, {"at least 2"});
  expect_error([] { Mlp({784, 0, 10}); }, {"sizes[1] = 0"});
}

TEST(Victim, SaveThenLoadRoundTripsParamsAndMetadata) {
  const auto d = temp_dir();
  Mlp m({20, 8, 3});
  m.init(1);
  m.save(d / "v.safetensors", {{"zo.test_accuracy", "0.5"}});
  std::map<std::string, std::string> meta;
  const Mlp back = Mlp::load(d / "v.safetensors", &meta);
  EXPECT_EQ(back.sizes(), m.sizes());
  EXPECT_TRUE(std::equal(m.params().begin(), m.params().end(), back.params().begin()));
  EXPECT_EQ(meta.at("zo.mlp.sizes"), "20,8,3");
  EXPECT_EQ(meta.at("zo.test_accuracy"), "0.5");
  // The file is plain safetensors with PyTorch's Linear layout.
  const auto st = zo::nn::SafeTensors::open(d / "v.safetensors");
  EXPECT_EQ(st.at("fc1.weight").shape, (std::vector<std::int64_t>{8, 20}));
  EXPECT_EQ(st.at("fc2.bias").shape, (std::vector<std::int64_t>{3}));
}

TEST(Victim, LoadErrorsNameTheFileAndTensor) {
  const auto d = temp_dir();
  expect_error([&] { Mlp::load(d / "missing.safetensors"); }, {"missing.safetensors"});
  std::vector<float> w(8 * 20, 0.1f), b(8, 0.0f), w2(3 * 8), b2(3);
  using T = zo::nn::TensorToWrite;
  const std::vector<T> good = {{"fc1.weight", zo::DType::f32, {8, 20}, w.data()},
                               {"fc1.bias", zo::DType::f32, {8}, b.data()},
                               {"fc2.weight", zo::DType::f32, {3, 8}, w2.data()},
                               {"fc2.bias", zo::DType::f32, {3}, b2.data()}};
  const std::map<std::string, std::string> meta = {{"zo.model", "mlp"}, {"zo.mlp.sizes", "20,8,3"}};
  // Shape in the data disagrees with the metadata.
  auto meta_bad = meta;
  meta_bad["zo.mlp.sizes"] = "20,9,3";
  zo::nn::write_safetensors(d / "shape.safetensors", good, meta_bad);
  expect_error([&] { Mlp::load(d / "shape.safetensors"); }, {"shape.safetensors", "fc1.weight", "[8, 20]", "[9, 20]"});
  // A tensor the metadata needs is absent.
  zo::nn::write_safetensors(d / "absent.safetensors", std::span(good).first(3), meta);
  expect_error([&] { Mlp::load(d / "absent.safetensors"); }, {"absent.safetensors", "fc2.bias", "missing"});
  // No architecture metadata, or a bad one.
  zo::nn::write_safetensors(d / "nometa.safetensors", good, {});
  expect_error([&] { Mlp::load(d / "nometa.safetensors"); }, {"nometa.safetensors", "zo.model"});
  auto meta_text = meta;
  meta_text["zo.mlp.sizes"] = "20,x,3";
  zo::nn::write_safetensors(d / "text.safetensors", good, meta_text);
  expect_error([&] { Mlp::load(d / "text.safetensors"); }, {"text.safetensors", "20,x,3"});
  // An extra tensor.
  auto extra = good;
  extra.push_back({"fc3.weight", zo::DType::f32, {3}, b2.data()});
  zo::nn::write_safetensors(d / "extra.safetensors", extra, meta);
  expect_error([&] { Mlp::load(d / "extra.safetensors"); }, {"extra.safetensors", "5 tensors"});
  // A file that is not safetensors at all.
  std::ofstream(d / "junk.safetensors") << "not a safetensors file";
  expect_error([&] { Mlp::load(d / "junk.safetensors"); }, {"junk.safetensors"});
}

TEST(Victim, AccuracyRejectsImagesOfTheWrongSize) {
  Mlp m({784, 4, 10});
  zo::tasks::ImageDataset d;
  d.count = 1;
  d.rows = 5;
  d.cols = 5;
  d.pixels.assign(25, 0);
  d.labels.assign(1, 0);
  expect_error([&] { zo::tasks::accuracy(m, d); }, {"784 inputs", "25 pixels"});
}

TEST(Victim, TrainingLearnsASeparableProblem) {
  // Two classes told apart by which half of a 4×4 image is bright.
  zo::tasks::ImageDataset d;
  d.rows = 4;
  d.cols = 4;
  d.count = 400;
  for (int i = 0; i < d.count; ++i) {
    const int label = i % 2;
    for (int p = 0; p < 16; ++p) {
      const bool bright = (p < 8) == (label == 0);
      d.pixels.push_back(std::uint8_t((bright ? 150 : 40) + (i * 37 + p * 11) % 60));
    }
    d.labels.push_back(std::uint8_t(label));
  }
  zo::tasks::VictimTrainOptions o;
  o.hidden = {8};
  o.epochs = 5;
  o.batch = 32;
  o.lr = 1e-2;
  int epochs_seen = 0;
  const Mlp m = zo::tasks::train_victim(d, &d, o, [&](const zo::tasks::EpochReport& r) { epochs_seen = r.epoch; }, 2);
  EXPECT_EQ(epochs_seen, 5);
  EXPECT_EQ(m.sizes(), (std::vector<std::int64_t>{16, 8, 2}));
  EXPECT_GT(zo::tasks::accuracy(m, d), 0.95);
  // Same seed, same model.
  const Mlp again = zo::tasks::train_victim(d, nullptr, o, {}, 2);
  EXPECT_TRUE(std::equal(m.params().begin(), m.params().end(), again.params().begin()));
}

TEST(Victim, TrainOptionsValidateNamesTheField) {
  zo::tasks::VictimTrainOptions o;
  o.epochs = 0;
  expect_error([&] { o.validate(); }, {"epochs", "0"});
  o = {};
  o.lr = -1;
  expect_error([&] { o.validate(); }, {"lr", "-1"});
  o = {};
  o.hidden = {256, 0};
  expect_error([&] { o.validate(); }, {"hidden[1]"});
}
