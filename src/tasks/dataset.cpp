#include "zo/tasks/dataset.hpp"

#include "zo/util/error.hpp"
#include "zo/util/json_depth.hpp"
#include "zo/core/random.hpp"

#include <algorithm>
#include <fstream>
#include <map>

namespace zo::tasks {

namespace {

std::string_view json_type_name(const nlohmann::json& j) {
  if (j.is_null()) return "null";
  if (j.is_boolean()) return "boolean";
  if (j.is_number()) return "number";
  if (j.is_string()) return "string";
  if (j.is_array()) return "array";
  return "object";
}

// Unbiased integer in [0, bound) from a 64-bit word (Lemire's multiply-shift with rejection).
std::uint64_t bounded(std::uint64_t bound, const RandomStream& stream, std::int64_t& counter) {
  while (true) {
    const std::uint64_t lo = bits_at(stream, counter++);
    const std::uint64_t hi = bits_at(stream, counter++);
    const std::uint64_t x = (hi << 32) | lo;
    const unsigned __int128 m = static_cast<unsigned __int128>(x) * bound;
    const std::uint64_t low = static_cast<std::uint64_t>(m);
    if (low >= bound || low >= (0 - bound) % bound) return static_cast<std::uint64_t>(m >> 64);
  }
}

}  // namespace

std::string Record::where() const { return fmt::format("{}:{}", file, line); }

const nlohmann::json* Record::find(std::string_view name) const {
  const nlohmann::json* node = &fields;
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = name.find('.', start);
    const std::string part(name.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start));
    if (!node->is_object()) return nullptr;
    const auto it = node->find(part);
    if (it == node->end()) return nullptr;
    node = &*it;
    if (dot == std::string_view::npos) return node;
    start = dot + 1;
  }
}

void Record::fail_field(std::string_view name, std::string_view rule) const {
  fail("{}: field '{}': {}", where(), name, rule);
}

std::string Record::text(std::string_view name) const {
  const nlohmann::json* value = find(name);
  if (value == nullptr) fail_field(name, "missing");
  if (!value->is_string()) fail_field(name, fmt::format("must be a string (got {})", json_type_name(*value)));
  return value->get<std::string>();
}

std::vector<Record> read_jsonl(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: cannot open the data file", path.string());
  std::vector<Record> records;
  std::string line;
  std::int64_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    Record record{.fields = {}, .file = path.string(), .line = number};
    check_json_depth(line, record.where());
    try {
      record.fields = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range for a number like 1e999
      fail("{}: not valid JSON ({})", record.where(), e.what());
    }
    if (!record.fields.is_object()) fail("{}: a record must be a JSON object (got {})", record.where(), json_type_name(record.fields));
    records.push_back(std::move(record));
  }
  if (in.bad()) fail("{}: read error after line {}", path.string(), number);
  return records;
}

std::vector<std::size_t> seeded_permutation(std::size_t n, std::uint64_t seed, std::uint32_t purpose) {
  std::vector<std::size_t> order(n);
  for (std::size_t i = 0; i < n; ++i) order[i] = i;
  const RandomStream stream{.seed = derive_seed(seed, 0, purpose), .tensor = 0, .stream = Stream::selector};
  std::int64_t counter = 0;
  for (std::size_t i = n; i > 1; --i) {
    const std::size_t j = static_cast<std::size_t>(bounded(i, stream, counter));
    std::swap(order[i - 1], order[j]);
  }
  return order;
}

void SampleOptions::validate() const {
  if (k < 0) fail("sample option 'k' = {}: must be >= 0 (0 keeps every example)", k);
  if (per_class && k == 0) fail("sample option 'per_class' needs 'k' >= 1 (got k = 0)");
}

std::vector<std::size_t> sample_indices(std::span<const int> labels, const SampleOptions& options) {
  options.validate();
  const std::size_t n = labels.size();
  if (options.k == 0) {
    std::vector<std::size_t> all(n);
    for (std::size_t i = 0; i < n; ++i) all[i] = i;
    return all;
  }
  const std::vector<std::size_t> order = seeded_permutation(n, options.seed);
  const std::size_t k = static_cast<std::size_t>(options.k);
  if (!options.per_class) return {order.begin(), order.begin() + static_cast<std::ptrdiff_t>(std::min(k, n))};
  std::map<int, std::size_t> taken, available;
  for (int label : labels) ++available[label];
  for (const auto& [label, count] : available) {
    if (count < k) fail("sample: class {} has {} examples, fewer than k = {} per class", label, count, k);
  }
  std::vector<std::size_t> picked;
  for (std::size_t i : order) {
    if (taken[labels[i]] < k) {
      ++taken[labels[i]];
      picked.push_back(i);
    }
  }
  return picked;
}

}  // namespace zo::tasks
