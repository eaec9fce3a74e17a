// zo train-victim: trains the MLP classifier that `zo attack` attacks (first-order, our own
// forward/backward), reports test accuracy per epoch, and saves it as safetensors.
#include "command.hpp"

#include "zo/util/error.hpp"
#include "zo/tasks/idx.hpp"
#include "zo/tasks/victim.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstdio>
#include <string>

namespace {

struct Args {
  std::string data{zo::tasks::kDebianFashionMnistDir};
  std::string out = "models/victim/fashion_mlp.safetensors";
  zo::tasks::VictimTrainOptions train;
};

void run(const Args& a) {
  a.train.validate();
  const auto train = zo::tasks::load_mnist_split(a.data, zo::tasks::Split::train);
  const auto test = zo::tasks::load_mnist_split(a.data, zo::tasks::Split::test);
  std::fprintf(stderr, "train-victim: %lld train / %lld test images of %lldx%lld, MLP %lld-%s-10, %d epochs, seed %llu\n",
               (long long)train.count, (long long)test.count, (long long)train.rows, (long long)train.cols,
               (long long)train.pixels_per_image(), fmt::format("{}", fmt::join(a.train.hidden, "-")).c_str(),
               a.train.epochs, (unsigned long long)a.train.seed);
  double last_acc = 0.0;
  const auto model = zo::tasks::train_victim(train, &test, a.train, [&](const zo::tasks::EpochReport& r) {
    last_acc = r.test_accuracy;
    std::fprintf(stderr, "epoch %2d  train loss %.4f  test accuracy %.4f  (%.1f s)\n", r.epoch, r.train_loss,
                 r.test_accuracy, r.seconds);
  });
  model.save(a.out, {{"zo.train.seed", std::to_string(a.train.seed)},
                     {"zo.train.epochs", std::to_string(a.train.epochs)},
                     {"zo.train.batch", std::to_string(a.train.batch)},
                     {"zo.train.lr", fmt::format("{}", a.train.lr)},
                     {"zo.train.optimizer", "adam, cosine decay"},
                     {"zo.test_accuracy", fmt::format("{:.4f}", last_acc)}});
  std::printf("test accuracy %.4f\nsaved %s\n", last_acc, a.out.c_str());
}

const bool registered = zo::app::register_command(
    {"train-victim", "Train the Fashion-MNIST MLP that `zo attack` attacks (first-order Adam) and save it",
     [](CLI::App& sub) {
       auto a = std::make_shared<Args>();
       sub.add_option("--data", a->data, "folder with the (gzipped) IDX files")->capture_default_str();
       sub.add_option("--out", a->out, "safetensors file to write")->capture_default_str();
       sub.add_option("--epochs", a->train.epochs, "passes over the training set")->capture_default_str();
       sub.add_option("--seed", a->train.seed, "seed of the initialisation and shuffling")->capture_default_str();
       sub.add_option("--batch", a->train.batch, "minibatch size")->capture_default_str();
       sub.add_option("--lr", a->train.lr, "Adam learning rate (cosine-decayed to 0)")->capture_default_str();
       sub.add_option("--hidden", a->train.hidden, "hidden layer widths")->delimiter(',')->capture_default_str();
       sub.add_option("--weight-decay", a->train.weight_decay, "L2 on weights")->capture_default_str();
       sub.callback([a] { run(*a); });
     }});

}  // namespace
