#include "zo/tasks/dataset.hpp"

#include "zo/util/error.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>

namespace {

std::string data(const std::string& name) { return std::string(ZO_SOURCE_DIR) + "/tests/data/tasks/" + name; }

std::string error_of(auto&& f) {
  try {
    f();
  } catch (const zo::Error& e) {
    return e.what();
  }
  return "";
}

TEST(ReadJsonl, ReadsObjectsSkipsBlankLinesAndKeepsLineNumbers) {
  const auto records = zo::tasks::read_jsonl(data("sst2.jsonl"));
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0].line, 1);
  EXPECT_EQ(records[2].line, 4);
  EXPECT_EQ(records[1].text("sentence"), "the plot goes nowhere");
  EXPECT_EQ(records[2].where(), data("sst2.jsonl") + ":4");
}

TEST(ReadJsonl, BadJsonNamesFileAndLine) {
  const std::string m = error_of([] { zo::tasks::read_jsonl(data("bad_json.jsonl")); });
  EXPECT_NE(m.find("bad_json.jsonl:2: not valid JSON"), std::string::npos) << m;
}

TEST(ReadJsonl, MissingFileAndNonObjectLinesAreErrors) {
  EXPECT_NE(error_of([] { zo::tasks::read_jsonl(data("no_such.jsonl")); }).find("cannot open"), std::string::npos);
  const auto path = std::filesystem::temp_directory_path() / ("zo_dataset_test_array_" + std::to_string(::getpid()) + ".jsonl");
  std::ofstream(path) << "{\"a\": 1}\n[1, 2]\n";
  const std::string m = error_of([&] { zo::tasks::read_jsonl(path); });
  EXPECT_NE(m.find(":2: a record must be a JSON object (got array)"), std::string::npos) << m;
  std::filesystem::remove(path);
}

TEST(Record, DottedNamesDescendAndTypeErrorsNameTheField) {
  zo::tasks::Record r{.fields = nlohmann::json::parse(R"({"target": {"span1_text": "Pete"}, "n": 3})"), .file = "w.jsonl", .line = 9};
  EXPECT_EQ(r.text("target.span1_text"), "Pete");
  EXPECT_EQ(r.find("target.nope"), nullptr);
  EXPECT_EQ(r.find("n.x"), nullptr);
  EXPECT_EQ(error_of([&] { r.text("n"); }), "w.jsonl:9: field 'n': must be a string (got number)");
  EXPECT_EQ(error_of([&] { r.text("absent"); }), "w.jsonl:9: field 'absent': missing");
}

TEST(SeededPermutation, IsAPermutationAndAPureFunctionOfItsSeed) {
  const auto a = zo::tasks::seeded_permutation(1000, 42);
  const auto b = zo::tasks::seeded_permutation(1000, 42);
  const auto c = zo::tasks::seeded_permutation(1000, 43);
  const auto d = zo::tasks::seeded_permutation(1000, 42, 1);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_NE(a, d);
  std::vector<std::size_t> sorted = a;
  std::sort(sorted.begin(), sorted.end());
  for (std::size_t i = 0; i < sorted.size(); ++i) ASSERT_EQ(sorted[i], i);
  EXPECT_TRUE(zo::tasks::seeded_permutation(0, 1).empty());
  EXPECT_EQ(zo::tasks::seeded_permutation(1, 1), std::vector<std::size_t>{0});
}

TEST(SeededPermutation, EveryPositionIsEquallyLikely) {
  // Where element 0 lands over 4000 seeds, n = 8: chi-square with 7 degrees of freedom. The 0.999
  // quantile is 24.3; a correct shuffle exceeds it once in a thousand seeds sets, a biased one always.
  const std::size_t n = 8, trials = 4000;
  std::vector<double> counts(n, 0.0);
  for (std::uint64_t s = 0; s < trials; ++s) {
    const auto p = zo::tasks::seeded_permutation(n, s);
    counts[static_cast<std::size_t>(std::find(p.begin(), p.end(), 0) - p.begin())] += 1;
  }
  double chi2 = 0;
  const double expected = double(trials) / n;
  for (double c : counts) chi2 += (c - expected) * (c - expected) / expected;
  EXPECT_LT(chi2, 24.3);
}

TEST(SampleIndices, KeepsTheFirstKOfTheSeededPermutation) {
  std::vector<int> labels(50, 0);
  const auto perm = zo::tasks::seeded_permutation(50, 7);
  const auto s = zo::tasks::sample_indices(labels, {.k = 10, .per_class = false, .seed = 7});
  EXPECT_EQ(s, std::vector<std::size_t>(perm.begin(), perm.begin() + 10));
  EXPECT_EQ(zo::tasks::sample_indices(labels, {.k = 80, .per_class = false, .seed = 7}).size(), 50u);
  const auto all = zo::tasks::sample_indices(labels, {.k = 0, .per_class = false, .seed = 7});
  EXPECT_EQ(all.size(), 50u);
  EXPECT_EQ(all[3], 3u);
}

TEST(SampleIndices, PerClassTakesKOfEachClass) {
  std::vector<int> labels;
  for (int i = 0; i < 60; ++i) labels.push_back(i % 3);
  const auto s = zo::tasks::sample_indices(labels, {.k = 4, .per_class = true, .seed = 1});
  ASSERT_EQ(s.size(), 12u);
  std::vector<int> per(3, 0);
  for (auto i : s) ++per[static_cast<std::size_t>(labels[i])];
  EXPECT_EQ(per, (std::vector<int>{4, 4, 4}));
  EXPECT_EQ(std::set<std::size_t>(s.begin(), s.end()).size(), 12u);
}

TEST(SampleIndices, TooFewExamplesInAClassAndNegativeKAreErrors) {
  std::vector<int> labels{0, 0, 0, 1};
  const std::string m = error_of([&] { zo::tasks::sample_indices(labels, {.k = 2, .per_class = true, .seed = 0}); });
  EXPECT_NE(m.find("class 1 has 1 examples"), std::string::npos) << m;
  EXPECT_THROW(zo::tasks::sample_indices(labels, {.k = -1, .per_class = false, .seed = 0}), zo::Error);
  EXPECT_THROW(zo::tasks::sample_indices(labels, {.k = 0, .per_class = true, .seed = 0}), zo::Error);
}

}  // namespace
