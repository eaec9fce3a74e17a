// A fine-tuned model is a complete model folder: `zo finetune`'s OUT/model holds the tokenizer and
// generation files of the base model (or the run's --tokenizer file as tokenizer.json) next to the
// weights, so `zo score` and `zo finetune` take it as --model as they take the base.
#include "zo/train/model_setup.hpp"

#include "../test_util.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
using zo::test::slurp;

const std::string kZo = std::string(ZO_BINARY_DIR) + "/zo";
const std::string kData = std::string(ZO_SOURCE_DIR) + "/tests/data/";
const std::string kTokenizer = kData + "tokenizers/bytelevel-1k/tokenizer.json";

void write(const fs::path& p, const std::string& text) { std::ofstream(p, std::ios::binary) << text; }

int run(const std::vector<std::string>& args, const fs::path& log) { return zo::test::run_program(args, log, log); }

std::vector<std::string> finetune(const fs::path& model, const fs::path& out, const std::vector<std::string>& extra) {
  std::vector<std::string> args{kZo,      "finetune", "--model", model.string(), "--task", "sst2", "--train",
                                kData + "tasks/sst2_train.jsonl", "--steps", "3", "--batch", "2", "--lr", "1e-3",
                                "--no-plots", "--out", out.string()};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

// `zo score` on a short text (the first 600 bytes of tests/data/text/heldout.txt) written beside the model.
std::vector<std::string> score(const fs::path& model) {
  const fs::path text = model.parent_path() / "text.txt";
  write(text, slurp(kData + "text/heldout.txt").substr(0, 600));
  return {kZo, "score", "--model", model.string(), "--text", text.string(), "--max-length", "32"};
}

// No temporary file of an atomic write is left in the folder.
void expect_no_temporaries(const fs::path& dir) {
  for (const auto& entry : fs::directory_iterator(dir))
    EXPECT_EQ(entry.path().filename().string().find(".tmp"), std::string::npos) << entry.path();
}

// Fine-tunes opt-tied (as ft_cli_test does, the tokenizer given with --tokenizer), then scores the
// exported folder and fine-tunes again from it, neither naming a tokenizer.
TEST(FinetuneExport, TheExportedFolderIsAModelScoreAndFinetuneTake) {
  const fs::path dir = zo::test::fresh_dir("zo_export_");
  const fs::path log = dir / "log.txt";
  for (const std::string mode : {"full", "lora"}) {
    const fs::path out = dir / mode;
    ASSERT_EQ(run(finetune(kData + "models/opt-tied", out, {"--mode", mode, "--tokenizer", kTokenizer}), log), 0) << slurp(log);
    const fs::path model = out / "model";
    for (const char* name : {"config.json", "model.safetensors", "tokenizer.json"})
      EXPECT_TRUE(fs::is_regular_file(model / name)) << mode << ": " << name;
    EXPECT_EQ(fs::exists(model / "adapters.safetensors"), mode == "lora");
    EXPECT_EQ(slurp(model / "tokenizer.json"), slurp(kTokenizer));
    expect_no_temporaries(model);

    EXPECT_EQ(run(score(model), log), 0) << mode << "\n" << slurp(log);
    EXPECT_EQ(run(finetune(model, dir / (mode + "-again"), {"--mode", mode}), log), 0) << mode << "\n" << slurp(log);
    EXPECT_TRUE(fs::is_regular_file(dir / (mode + "-again") / "model" / "tokenizer.json")) << mode;
  }
}

// A base folder without tokenizer.json, fine-tuned with --tokenizer FILE: FILE becomes the export's
// tokenizer.json, and the base's generation and tokenizer config files come along.
TEST(FinetuneExport, TheRunsTokenizerFileBecomesTokenizerJson) {
  const fs::path dir = zo::test::fresh_dir("zo_export_");
  const fs::path log = dir / "log.txt";
  const fs::path base = dir / "base";
  fs::create_directories(base);
  for (const char* name : {"config.json", "model.safetensors"}) fs::copy_file(kData + "models/opt-tied/" + name, base / name);
  write(base / "generation_config.json", R"({"bos_token_id": 2, "eos_token_id": 2})" "\n");
  write(base / "tokenizer_config.json", R"({"model_max_length": 64})" "\n");
  ASSERT_NE(run(score(base), log), 0);  // no tokenizer: the base itself cannot be scored without --tokenizer

  ASSERT_EQ(run(finetune(base, dir / "out", {"--tokenizer", kTokenizer}), log), 0) << slurp(log);
  const fs::path model = dir / "out" / "model";
  EXPECT_EQ(slurp(model / "tokenizer.json"), slurp(kTokenizer));
  EXPECT_EQ(slurp(model / "generation_config.json"), slurp(base / "generation_config.json"));
  EXPECT_EQ(slurp(model / "tokenizer_config.json"), slurp(base / "tokenizer_config.json"));
  EXPECT_EQ(run(score(model), log), 0) << slurp(log);
}

TEST(CopyModelFiles, CopiesWhatTheBaseFolderHolds) {
  const fs::path dir = zo::test::fresh_dir("zo_export_");
  const fs::path base = dir / "base", out = dir / "out";
  fs::create_directories(base);
  const std::vector<std::string> present = {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                                            "generation_config.json", "vocab.json", "merges.txt", "tokenizer.model"};
  for (const auto& name : present) write(base / name, "contents of " + name);
  write(base / "notes.txt", "not a model file");

  zo::copy_model_files(base, {}, out);
  for (const auto& name : present) EXPECT_EQ(slurp(out / name), "contents of " + name) << name;
  EXPECT_FALSE(fs::exists(out / "notes.txt"));
  EXPECT_FALSE(fs::exists(out / "added_tokens.json"));  // absent in the base: skipped
  expect_no_temporaries(out);

  // Again over the existing copies, and into the base folder itself: nothing changes.
  write(base / "generation_config.json", "new generation config");
  zo::copy_model_files(base, {}, out);
  EXPECT_EQ(slurp(out / "generation_config.json"), "new generation config");
  zo::copy_model_files(base, base / "tokenizer.json", base);
  for (const auto& name : present) EXPECT_TRUE(fs::is_regular_file(base / name)) << name;
  EXPECT_EQ(slurp(base / "tokenizer.json"), "contents of tokenizer.json");
  expect_no_temporaries(base);
}

TEST(CopyModelFiles, AnotherTokenizerReplacesTokenizerJsonAndDropsTheBasesVocabulary) {
  const fs::path dir = zo::test::fresh_dir("zo_export_");
  const fs::path base = dir / "base";
  fs::create_directories(base);
  for (const char* name : {"tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt"})
    write(base / name, std::string("base ") + name);
  write(dir / "other.json", "another tokenizer");
  write(dir / "same.json", "base tokenizer.json");

  zo::copy_model_files(base, dir / "other.json", dir / "other");
  EXPECT_EQ(slurp(dir / "other" / "tokenizer.json"), "another tokenizer");
  EXPECT_EQ(slurp(dir / "other" / "tokenizer_config.json"), "base tokenizer_config.json");
  EXPECT_FALSE(fs::exists(dir / "other" / "vocab.json"));
  EXPECT_FALSE(fs::exists(dir / "other" / "merges.txt"));

  // A copy of the base's own tokenizer.json elsewhere is the same tokenizer: the vocabulary comes along.
  zo::copy_model_files(base, dir / "same.json", dir / "same");
  EXPECT_EQ(slurp(dir / "same" / "vocab.json"), "base vocab.json");
  EXPECT_EQ(slurp(dir / "same" / "merges.txt"), "base merges.txt");

  zo::test::expect_error([&] { zo::copy_model_files(base, dir / "missing.json", dir / "x"); }, {"missing.json", "cannot open"});
}

}  // namespace
