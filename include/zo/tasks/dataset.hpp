// Labelled text data for prompt-based fine-tuning: JSONL files (one JSON object a line) with the
// field names of the public GLUE / SuperGLUE releases, and seeded sampling of k training examples.
//
// - read_jsonl keeps each record's origin (file, 1-based line) so that every later error about the
//   record (a missing field, a label outside the task's classes) names the file, line and field.
//   Blank lines are skipped; a line that is not a JSON object is a zo::Error naming file and line.
// - Sampling follows MeZO (Malladi et al. 2023): a fixed-size random sample of k examples drawn with a
//   seed (its `sample_subset`: the first k of a seeded permutation), or, as in MeZO's few-shot setting,
//   k examples per class. The permutation is zo's own (Philox, derive_seed), so the same seed gives the
//   same sample on every machine; it is not numpy's, so the drawn indices differ from MeZO's.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace zo::tasks {

// One JSON object from a JSONL file and where it came from.
struct Record {
  nlohmann::json fields;  // always an object
  std::string file;       // the path as given
  std::int64_t line = 0;  // 1-based line number

  // "file:line" — the prefix of every error about this record.
  std::string where() const;
  // The field `name` as a string; throws zo::Error "file:line: field 'name': missing" or "... must be a
  // string (got number)". Dotted names ("target.span1_text") descend into nested objects.
  std::string text(std::string_view name) const;
  // The raw field (nullptr when absent); dotted names descend into nested objects.
  const nlohmann::json* find(std::string_view name) const;
  // Throws zo::Error "file:line: field 'name': <rule>".
  [[noreturn]] void fail_field(std::string_view name, std::string_view rule) const;
};

// Reads every non-blank line of `path` as a JSON object. Throws zo::Error naming the file when it
// cannot be opened, and the file and line of a line that is not valid JSON or not an object.
std::vector<Record> read_jsonl(const std::filesystem::path& path);

// A uniformly random permutation of 0..n−1 drawn from `seed` (Fisher–Yates on Philox words, purpose
// `purpose` of derive_seed(seed, 0, purpose)): a pure function of (n, seed, purpose).
std::vector<std::size_t> seeded_permutation(std::size_t n, std::uint64_t seed, std::uint32_t purpose = 0);

struct SampleOptions {
  std::int64_t k = 0;      // examples to keep (per class when per_class); 0 = keep all, in file order
  bool per_class = false;  // MeZO's few-shot setting: k examples of each class
  std::uint64_t seed = 0;  // the sample is a pure function of (data, k, per_class, seed)
  void validate() const;   // throws zo::Error naming the field
};

// Indices into a data set of `labels.size()` examples (labels[i] = class of example i; only used when
// per_class). Without per_class: the first min(k, n) entries of seeded_permutation(n, seed). With
// per_class: walking that permutation, the first k examples of each class, in permutation order; a
// class with fewer than k examples is a zo::Error naming the class and its count. k = 0 returns
// 0..n−1 in order.
std::vector<std::size_t> sample_indices(std::span<const int> labels, const SampleOptions& options);

}  // namespace zo::tasks
