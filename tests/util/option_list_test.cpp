// OptionList: options declared once, set from text with errors that name the option.
#include "zo/util/option_list.hpp"

#include "../test_util.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace {

struct Inner {
  double eps = 1e-3;
};

struct Options {
  std::int64_t steps = 100;
  std::uint64_t seed = 0;
  double lr = 1e-3;
  bool resume = false;
  std::string name = "run";
  std::optional<std::uint64_t> data_seed;
  std::vector<double> grid;
  Inner inner;
};

zo::OptionList<Options> list() {
  zo::OptionList<Options> l;
  l.add("steps", &Options::steps, "training steps")
      .add("seed", &Options::seed, "run seed")
      .add("lr", &Options::lr, "learning rate")
      .flag("resume", &Options::resume, "continue")
      .add("name", &Options::name, "a name")
      .add("data-seed", &Options::data_seed, "sampling seed")
      .add("lr-grid", &Options::grid, "learning rates")
      .add_with("eps", [](Options& o) -> double& { return o.inner.eps; }, "ε");
  return l;
}

TEST(OptionList, SetsEveryKindFromTextAndFormatsItBack) {
  const auto l = list();
  Options o;
  l.find("steps")->set(o, "250");
  l.find("seed")->set(o, "18446744073709551615");
  l.find("lr")->set(o, "2.5e-4");
  l.find("resume")->set(o, "true");
  l.find("name")->set(o, "a b");
  l.find("data-seed")->set(o, "7");
  l.find("lr-grid")->set(o, "1e-3, 1e-2,0.1");
  l.find("eps")->set(o, "0.01");
  EXPECT_EQ(o.steps, 250);
  EXPECT_EQ(o.seed, 18446744073709551615ull);
  EXPECT_EQ(o.lr, 2.5e-4);
  EXPECT_TRUE(o.resume);
  EXPECT_EQ(o.name, "a b");
  EXPECT_EQ(o.data_seed, 7u);
  EXPECT_EQ(o.grid, (std::vector<double>{1e-3, 1e-2, 0.1}));
  EXPECT_EQ(o.inner.eps, 0.01);
  EXPECT_EQ(l.find("lr-grid")->get(o), "0.001,0.01,0.1");
  EXPECT_EQ(l.find("data-seed")->get(Options{}), "");
  EXPECT_EQ(l.find("steps")->type, "INT");
  EXPECT_EQ(l.find("seed")->type, "UINT");
  EXPECT_EQ(l.find("lr")->type, "NUMBER");
  EXPECT_EQ(l.find("lr-grid")->type, "LIST");
  EXPECT_TRUE(l.find("resume")->flag);
  EXPECT_TRUE(l.find("lr-grid")->list);
  EXPECT_EQ(l.find("nothing"), nullptr);
}

TEST(OptionList, BadTextNamesTheOptionAndTheValue) {
  const auto l = list();
  Options o;
  zo::test::expect_error([&] { l.find("steps")->set(o, "12x"); }, {"option 'steps' = '12x'", "not an integer"});
  zo::test::expect_error([&] { l.find("steps")->set(o, ""); }, {"option 'steps' = ''", "empty"});
  zo::test::expect_error([&] { l.find("seed")->set(o, "-1"); }, {"option 'seed' = '-1'", "non-negative"});
  zo::test::expect_error([&] { l.find("steps")->set(o, "99999999999999999999"); }, {"out of range"});
  zo::test::expect_error([&] { l.find("lr")->set(o, "fast"); }, {"option 'lr' = 'fast'", "not a number"});
  zo::test::expect_error([&] { l.find("resume")->set(o, "yes"); }, {"option 'resume' = 'yes'", "true or false"});
  zo::test::expect_error([&] { l.find("lr-grid")->set(o, "1e-3,,1"); }, {"option 'lr-grid'", "empty item"});
  EXPECT_EQ(o.steps, 100);  // nothing was set
}

}  // namespace
