// zo::finetune as a library call, and its options declared once: the option list, the JSON config,
// validate() messages that name the option. (The whole job through the zo command:
// ft_cli_test.cpp; its results held bit for bit: tests/apps/golden_runs_test.cpp.)
#include "zo/train/finetune.hpp"
#include "zo/util/files.hpp"

#include "../test_util.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <set>

namespace {

namespace fs = std::filesystem;

const fs::path kData = fs::path(ZO_SOURCE_DIR) / "tests" / "data";

zo::FinetuneOptions small_run(const fs::path& out) {
  zo::FinetuneOptions o;
  o.model = (kData / "models/opt-tied").string();
  o.tokenizer = (kData / "tokenizers/bytelevel-1k/tokenizer.json").string();
  o.task = "sst2";
  o.train = (kData / "tasks/sst2_train.jsonl").string();
  o.eval = (kData / "tasks/sst2_eval.jsonl").string();
  o.steps = 6;
  o.batch = 4;
  o.lr = 1e-3;
  o.no_plots = true;
  o.out = out.string();
  return o;
}

TEST(Finetune, ALibraryCallTrainsEvaluatesAndWritesTheRun) {
  const fs::path dir = zo::test::fresh_dir("zo_finetune_");
  std::int64_t steps_seen = 0, evals_seen = 0;
  const zo::FinetuneResult r = zo::finetune(small_run(dir / "run"), {.on_step = [&](const zo::TrainStep&) { ++steps_seen; },
                                                                     .on_eval = [&](std::int64_t, const zo::Evaluation&) { ++evals_seen; }});
  EXPECT_EQ(r.summary.termination, zo::Termination::max_steps);
  EXPECT_EQ(r.summary.steps, 6);
  EXPECT_EQ(steps_seen, 6);
  EXPECT_EQ(evals_seen, 2);  // before the first step and after the last
  ASSERT_TRUE(r.first_eval && r.last_eval);
  EXPECT_EQ(r.last_eval->examples, 12);
  EXPECT_GT(r.trainable_parameters, 100000);
  EXPECT_GT(r.forward_passes, 12);
  for (const fs::path& f : r.files) EXPECT_TRUE(fs::exists(f)) << f;
  for (const char* f : {"model/model.safetensors", "model/config.json", "model/tokenizer.json", "ledger.tsv", "summary.json"})
    EXPECT_TRUE(fs::exists(dir / "run" / f)) << f;
  EXPECT_EQ(nlohmann::json::parse(zo::read_file(dir / "run" / "summary.json")), r.report);
  fs::remove_all(dir);
}

TEST(Finetune, EveryFieldIsAnOptionWithAUniqueNameAndHelp) {
  const auto& specs = zo::finetune_option_list().specs();
  std::set<std::string> names;
  for (const auto& s : specs) {
    EXPECT_TRUE(names.insert(s.name).second) << s.name;
    EXPECT_FALSE(s.help.empty()) << s.name;
    EXPECT_EQ(s.name.find('_'), std::string::npos) << s.name;  // flags and keys use dashes
  }
  // Every option round-trips through its text form: set(get(defaults)) leaves the defaults.
  const zo::FinetuneOptions defaults;
  zo::FinetuneOptions o;
  for (const auto& s : specs) {
    if (s.get(defaults).empty()) continue;  // an unset optional
    s.set(o, s.get(defaults));
    EXPECT_EQ(s.get(o), s.get(defaults)) << s.name;
  }
  EXPECT_EQ(specs.size(), 52u);  // one per field of FinetuneOptions but the custom template (config only)
}

TEST(Finetune, TheDocsListEveryOption) {
  const std::string docs = zo::read_file(fs::path(ZO_SOURCE_DIR) / "docs" / "finetune.md");
  for (const auto& s : zo::finetune_option_list().specs())
    EXPECT_NE(docs.find("`--" + s.name), std::string::npos) << "docs/finetune.md lacks --" << s.name;
}

TEST(Finetune, AConfigSetsOptionsByNameAndTheCommandLineWins) {
  zo::FinetuneOptions o;
  zo::apply_finetune_config(o,
                            {{"batch", 2}, {"per_class", true}, {"lr", "1e-4"}, {"data-seed", 9}, {"optimizer", "r-adazo"},
                             {"template", {{"prompt", "x"}}}},
                            "run.json", {"optimizer"});
  EXPECT_EQ(o.batch, 2);
  EXPECT_TRUE(o.per_class);
  EXPECT_EQ(o.lr, 1e-4);
  EXPECT_EQ(o.data_seed, 9u);
  EXPECT_EQ(o.optimizer, "zo-sgd");  // given on the command line: the config does not override it
  EXPECT_EQ(o.custom_template, nlohmann::json({{"prompt", "x"}}));
  zo::test::expect_error([&] { zo::apply_finetune_config(o, {{"bacth", 2}}, "run.json"); },
                         {"run.json", "key 'bacth'", "not an option of zo finetune"});
  zo::test::expect_error([&] { zo::apply_finetune_config(o, {{"steps", "many"}}, "run.json"); },
                         {"run.json", "key 'steps'", "option 'steps' = 'many'", "not an integer"});
  zo::test::expect_error([&] { zo::apply_finetune_config(o, {{"steps", {{"a", 1}}}}, "run.json"); }, {"key 'steps'", "must be"});
  zo::test::expect_error([&] { zo::apply_finetune_config(o, nlohmann::json::array(), "run.json"); }, {"run.json", "JSON object"});
}

TEST(Finetune, ValidateNamesTheOptionItsValueAndTheRule) {
  const zo::FinetuneOptions good = small_run("out");
  EXPECT_NO_THROW(good.validate());
  const auto expect = [&](auto change, std::vector<std::string> parts) {
    zo::FinetuneOptions o = good;
    change(o);
    zo::test::expect_error([&] { o.validate(); }, parts);
  };
  expect([](auto& o) { o.batch = 0; }, {"option 'batch' = 0", "must be >= 1"});
  expect([](auto& o) { o.lr = -1; }, {"option 'lr' = -1", "> 0"});
  expect([](auto& o) { o.optimizer = "adam"; }, {"option 'optimizer' = 'adam'", "r-adazo"});
  expect([](auto& o) { o.direction = "diagonal"; }, {"option 'direction' = 'diagonal'", "bcd"});
  expect([](auto& o) { o.keep = 0; }, {"option 'keep' = 0", "(0, 1]"});
  expect([](auto& o) { o.granule = 24; }, {"option 'granule' = 24", "power of 2 in [1, 64]"});
  expect([](auto& o) { o.model.clear(); }, {"option 'model': required"});
  expect([](auto& o) { o.task = "imdb"; }, {"option 'task' = 'imdb'"});
  expect([](auto& o) { o.beta2 = 1.0; }, {"option 'beta2' = 1", "[0, 1)"});
  expect([](auto& o) { o.steps = 0, o.eval.clear(); }, {"option 'steps' = 0", "option 'eval'"});
  expect([](auto& o) { o.custom_template = {{"prompt", "x"}}; }, {"option 'template' needs task custom"});
}

}  // namespace
