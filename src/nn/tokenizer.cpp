// zo::nn::Tokenizer: reads a Hugging Face tokenizer.json and runs its pipeline the way the
// tokenizers library (Rust) does: added tokens are split out of the raw text, the rest is
// normalized, added tokens matching the normalized text are split out, the pre-tokenizer cuts
// words, the BPE model maps each word to ids, and the post-processor adds special tokens.
#include "zo/nn/tokenizer.hpp"

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "tokenizer_internal.hpp"
#include "tokenizer_unicode.hpp"
#include "zo/util/error.hpp"
#include "zo/util/files.hpp"
#include "zo/util/json_depth.hpp"

namespace zo::nn {

using json = nlohmann::json;
using namespace tokenizer_detail;

namespace {

enum class PrependScheme { kAlways, kFirst, kNever };

struct NormalizerStep {
  enum class Kind { kPrepend, kReplace } kind;
  std::string text;     // Prepend: what to prepend; Replace: the pattern
  std::string content;  // Replace: the replacement
};

struct PreTokenizerStep {
  enum class Kind { kByteLevel, kSplit, kMetaspace } kind;
  bool add_prefix_space = false;  // ByteLevel
  bool use_regex = true;          // ByteLevel
  SplitRegex regex = SplitRegex::kGpt2;
  char32_t replacement = U'\u2581';  // Metaspace
  PrependScheme prepend = PrependScheme::kAlways;
  bool split = true;  // Metaspace
};

// One post-processor that adds special tokens (TemplateProcessing, RobertaProcessing,
// BertProcessing): `single` lists the special-token ids to emit and, as an empty entry, where the
// sequence goes. ByteLevel post-processing only trims offsets, so it is not kept.
struct PostStep {
  std::vector<std::optional<std::vector<std::int32_t>>> single;
};

struct DecoderStep {
  enum class Kind { kByteLevel, kReplace, kByteFallback, kFuse, kStrip, kMetaspace } kind;
  std::string pattern;  // Replace
  std::string content;  // Replace
  char32_t strip_char = U' ';
  std::size_t strip_start = 0, strip_stop = 0;
  char32_t replacement = U'\u2581';  // Metaspace
  PrependScheme prepend = PrependScheme::kAlways;
};

struct AddedToken {
  std::string content;
  std::int32_t id = 0;
  bool single_word = false, lstrip = false, rstrip = false, normalized = false, special = false;
};

// Leftmost-longest matching of a set of strings (the added tokens), as tokenizers' Aho-Corasick
// automaton with MatchKind::LeftmostLongest finds them.
class Matcher {
 public:
  void add(const std::string& pattern, std::size_t token) {
    if (pattern.empty()) return;
    if (nodes_.empty()) nodes_.emplace_back();
    std::size_t node = 0;
    for (unsigned char c : pattern) {
      auto it = nodes_[node].next.find(c);
      if (it == nodes_[node].next.end()) {
        nodes_.emplace_back();
        it = nodes_[node].next.emplace(c, nodes_.size() - 1).first;
      }
      node = it->second;
    }
    nodes_[node].token = static_cast<std::int64_t>(token);
  }
  bool empty() const { return nodes_.empty(); }
  // The first match starting at or after `from`: (begin, end, token), or nothing.
  std::optional<std::tuple<std::size_t, std::size_t, std::size_t>> find(std::string_view s, std::size_t from) const {
    if (nodes_.empty()) return std::nullopt;
    for (std::size_t begin = from; begin < s.size(); ++begin) {
      std::size_t node = 0;
      std::optional<std::pair<std::size_t, std::size_t>> best;
      for (std::size_t i = begin; i < s.size(); ++i) {
        auto it = nodes_[node].next.find(static_cast<unsigned char>(s[i]));
        if (it == nodes_[node].next.end()) break;
        node = it->second;
        if (nodes_[node].token >= 0) best = {i + 1, static_cast<std::size_t>(nodes_[node].token)};
      }
      if (best) return std::make_tuple(begin, best->first, best->second);
    }
    return std::nullopt;
  }

 private:
  struct Node {
    std::unordered_map<unsigned char, std::size_t> next;
    std::int64_t token = -1;
  };
  std::vector<Node> nodes_;
};

// Field access that names the file and the JSON path in its errors.
class Reader {
 public:
  explicit Reader(std::string where) : where_(std::move(where)) {}
  const std::string& where() const { return where_; }

  [[noreturn]] void unsupported(const std::string& field, const json& value, std::string_view supported) const {
    fail("{}: field '{}' = {}: not supported (supported: {})", where_, field, value.dump(), supported);
  }
  [[noreturn]] void invalid(const std::string& field, std::string_view rule) const {
    fail("{}: field '{}': {}", where_, field, rule);
  }
  const json& at(const json& object, const std::string& path, const char* key) const {
    if (!object.is_object() || !object.contains(key)) invalid(path + "." + key, "missing");
    return object.at(key);
  }
  std::string string(const json& object, const std::string& path, const char* key) const {
    const json& v = at(object, path, key);
    if (!v.is_string()) invalid(path + "." + key, "must be a string, is " + v.dump());
    return v.get<std::string>();
  }
  bool boolean(const json& object, const std::string& path, const char* key, bool fallback) const {
    if (!object.contains(key) || object.at(key).is_null()) return fallback;
    const json& v = object.at(key);
    if (!v.is_boolean()) invalid(path + "." + key, "must be true or false, is " + v.dump());
    return v.get<bool>();
  }
  std::optional<std::string> optional_string(const json& object, const std::string& path, const char* key) const {
    if (!object.contains(key) || object.at(key).is_null()) return std::nullopt;
    return string(object, path, key);
  }
  char32_t single_char(const json& object, const std::string& path, const char* key) const {
    const std::string s = string(object, path, key);
    std::size_t i = 0;
    const char32_t c = s.empty() ? 0 : unicode::next_code_point(s, i);
    if (s.empty() || i != s.size()) invalid(path + "." + key, "must be one character, is '" + s + "'");
    return c;
  }
  std::string type(const json& object, const std::string& path) const { return string(object, path, "type"); }
  // A token id: an integer in [0, 2^31 − 1] (a float or a larger number is refused, never converted).
  std::int32_t token_id(const json& v, const std::string& path) const {
    const bool fits = v.is_number_unsigned() ? v.get<std::uint64_t>() <= 2147483647u
                                             : v.is_number_integer() && v.get<std::int64_t>() >= 0 &&
                                                   v.get<std::int64_t>() <= 2147483647;
    if (!fits) invalid(path, "a token id must be an integer in [0, 2147483647], is " + v.dump());
    return static_cast<std::int32_t>(v.get<std::int64_t>());
  }
  // {"String": "..."}; a {"Regex": ...} pattern is reported as unsupported.
  std::string string_pattern(const json& object, const std::string& path) const {
    const json& pattern = at(object, path, "pattern");
    if (pattern.is_object() && pattern.contains("String") && pattern.at("String").is_string()) {
      return pattern.at("String").get<std::string>();
    }
    unsupported(path + ".pattern", pattern, "{\"String\": ...}");
  }
  PrependScheme prepend_scheme(const json& object, const std::string& path) const {
    PrependScheme scheme = PrependScheme::kAlways;
    if (object.contains("prepend_scheme") && !object.at("prepend_scheme").is_null()) {
      const std::string s = string(object, path, "prepend_scheme");
      if (s == "always") {
        scheme = PrependScheme::kAlways;
      } else if (s == "first") {
        scheme = PrependScheme::kFirst;
      } else if (s == "never") {
        scheme = PrependScheme::kNever;
      } else {
        unsupported(path + ".prepend_scheme", object.at("prepend_scheme"), "always, first, never");
      }
    }
    if (!boolean(object, path, "add_prefix_space", true)) {
      if (scheme != PrependScheme::kNever && object.contains("prepend_scheme")) {
        invalid(path + ".add_prefix_space", "false contradicts prepend_scheme");
      }
      scheme = PrependScheme::kNever;
    }
    return scheme;
  }

 private:
  std::string where_;
};

void flatten(const Reader& r, const json& node, const std::string& path, const char* list_key,
             std::vector<std::pair<const json*, std::string>>& out) {
  if (node.is_null()) return;
  if (r.type(node, path) == "Sequence") {
    const json& items = r.at(node, path, list_key);
    if (!items.is_array()) r.invalid(path + "." + list_key, "must be an array");
    for (std::size_t i = 0; i < items.size(); ++i) {
      flatten(r, items[i], fmt::format("{}.{}[{}]", path, list_key, i), list_key, out);
    }
  } else {
    out.emplace_back(&node, path);
  }
}

void replace_all(std::string& s, std::string_view pattern, std::string_view content) {
  if (pattern.empty()) return;
  std::string out;
  std::size_t pos = 0;
  for (std::size_t hit; (hit = s.find(pattern, pos)) != std::string::npos; pos = hit + pattern.size()) {
    out.append(s, pos, hit - pos);
    out.append(content);
  }
  out.append(s, pos, std::string::npos);
  s = std::move(out);
}

std::string utf8_of(char32_t c) {
  std::string s;
  unicode::append_utf8(s, c);
  return s;
}

}  // namespace

struct Tokenizer::Impl {
  std::string where;
  std::vector<NormalizerStep> normalizers;
  std::vector<PreTokenizerStep> pre_tokenizers;
  std::optional<BpeModel> model;
  std::vector<AddedToken> added;  // in tokenizer.json order
  std::unordered_map<std::int32_t, std::size_t> added_by_id;
  StringMap<std::int32_t> added_by_content;
  std::unordered_set<std::string> special_contents;
  Matcher raw_matcher;         // added tokens with normalized = false
  Matcher normalized_matcher;  // added tokens with normalized = true, matched in normalized text
  std::vector<PostStep> post;
  std::vector<DecoderStep> decoders;
  bool has_decoder = false;
  std::int32_t max_id = -1;
  std::optional<std::int32_t> bos, eos, pad;

  void parse(const json& root, const std::filesystem::path& path);
  void parse_special_ids(const std::filesystem::path& path);

  std::string normalize(std::string s) const;
  void split_added(const Piece& piece, const Matcher& matcher, std::vector<Piece>& out) const;
  void pre_tokenize(std::vector<Piece>& pieces) const;
  std::vector<std::int32_t> encode(std::string_view text, bool add_special_tokens) const;
  std::string decode(std::span<const std::int32_t> ids, bool skip_special_tokens) const;
  std::optional<std::int32_t> token_to_id(std::string_view token) const {
    if (auto it = added_by_content.find(token); it != added_by_content.end()) return it->second;
    return model->token_to_id(token);
  }
};

void Tokenizer::Impl::parse(const json& root, const std::filesystem::path& path) {
  Reader r(where);
  if (!root.is_object()) r.invalid("(root)", "must be an object");
  for (const char* key : {"truncation", "padding"}) {
    if (root.contains(key) && !root.at(key).is_null()) {
      r.unsupported(key, root.at(key), "null; zo encodes without truncation or padding");
    }
  }

  // Model.
  const json& m = r.at(root, "", "model");
  const std::string model_type = m.contains("type") ? r.type(m, "model") : (m.contains("merges") ? "BPE" : "");
  if (model_type != "BPE") r.unsupported("model.type", m.value("type", json()), "BPE");
  if (m.contains("dropout") && !m.at("dropout").is_null() && m.at("dropout").get<double>() != 0.0) {
    r.unsupported("model.dropout", m.at("dropout"), "null or 0");
  }
  StringMap<std::int32_t> vocab;
  const json& jv = r.at(m, "model", "vocab");
  if (!jv.is_object()) r.invalid("model.vocab", "must be an object of token: id");
  vocab.reserve(jv.size());
  for (auto it = jv.begin(); it != jv.end(); ++it) {
    vocab.emplace(it.key(), r.token_id(it.value(), "model.vocab." + it.key()));
  }
  std::vector<std::pair<std::string, std::string>> merges;
  const json& jm = r.at(m, "model", "merges");
  if (!jm.is_array()) r.invalid("model.merges", "must be an array");
  merges.reserve(jm.size());
  for (std::size_t i = 0; i < jm.size(); ++i) {
    const json& e = jm[i];
    if (e.is_string()) {
      const std::string s = e.get<std::string>();
      const std::size_t space = s.find(' ');
      if (space == std::string::npos) r.invalid(fmt::format("model.merges[{}]", i), "'" + s + "' is not 'a b'");
      merges.emplace_back(s.substr(0, space), s.substr(space + 1));
    } else if (e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string()) {
      merges.emplace_back(e[0].get<std::string>(), e[1].get<std::string>());
    } else {
      r.invalid(fmt::format("model.merges[{}]", i), "must be \"a b\" or [\"a\", \"b\"]");
    }
  }
  BpeModel::Options options;
  options.unk_token = r.optional_string(m, "model", "unk_token");
  options.continuing_subword_prefix = r.optional_string(m, "model", "continuing_subword_prefix").value_or("");
  options.end_of_word_suffix = r.optional_string(m, "model", "end_of_word_suffix").value_or("");
  options.fuse_unk = r.boolean(m, "model", "fuse_unk", false);
  options.byte_fallback = r.boolean(m, "model", "byte_fallback", false);
  options.ignore_merges = r.boolean(m, "model", "ignore_merges", false);
  model.emplace(std::move(vocab), merges, std::move(options), where);
  max_id = model->max_id();

  // Normalizer: Sequence, Prepend, Replace (string patterns).
  std::vector<std::pair<const json*, std::string>> steps;
  if (root.contains("normalizer")) flatten(r, root.at("normalizer"), "normalizer", "normalizers", steps);
  for (const auto& [node, p] : steps) {
    const std::string type = r.type(*node, p);
    if (type == "Prepend") {
      normalizers.push_back({NormalizerStep::Kind::kPrepend, r.string(*node, p, "prepend"), ""});
    } else if (type == "Replace") {
      normalizers.push_back({NormalizerStep::Kind::kReplace, r.string_pattern(*node, p), r.string(*node, p, "content")});
    } else {
      r.unsupported(p + ".type", node->at("type"), "Sequence, Prepend, Replace");
    }
  }

  // Pre-tokenizer: Sequence, ByteLevel, Split (GPT-2 / Llama-3 regex, Isolated), Metaspace.
  steps.clear();
  if (root.contains("pre_tokenizer")) flatten(r, root.at("pre_tokenizer"), "pre_tokenizer", "pretokenizers", steps);
  for (const auto& [node, p] : steps) {
    const std::string type = r.type(*node, p);
    PreTokenizerStep step{};
    if (type == "ByteLevel") {
      step.kind = PreTokenizerStep::Kind::kByteLevel;
      step.add_prefix_space = r.boolean(*node, p, "add_prefix_space", true);
      step.use_regex = r.boolean(*node, p, "use_regex", true);
    } else if (type == "Split") {
      step.kind = PreTokenizerStep::Kind::kSplit;
      const json& pattern = r.at(*node, p, "pattern");
      std::optional<SplitRegex> regex;
      if (pattern.is_object() && pattern.contains("Regex") && pattern.at("Regex").is_string()) {
        regex = split_regex_from_pattern(pattern.at("Regex").get<std::string>());
      }
      if (!regex) {
        r.unsupported(p + ".pattern", pattern,
                      fmt::format("{{\"Regex\": GPT-2's \"{}\" or Llama-3's \"{}\"}}", split_regex_pattern(SplitRegex::kGpt2),
                                  split_regex_pattern(SplitRegex::kLlama3)));
      }
      step.regex = *regex;
      if (r.string(*node, p, "behavior") != "Isolated") r.unsupported(p + ".behavior", node->at("behavior"), "Isolated");
      if (r.boolean(*node, p, "invert", false)) r.unsupported(p + ".invert", node->at("invert"), "false");
    } else if (type == "Metaspace") {
      step.kind = PreTokenizerStep::Kind::kMetaspace;
      step.replacement = r.single_char(*node, p, "replacement");
      step.prepend = r.prepend_scheme(*node, p);
      step.split = r.boolean(*node, p, "split", true);
    } else {
      r.unsupported(p + ".type", node->at("type"), "Sequence, ByteLevel, Split, Metaspace");
    }
    pre_tokenizers.push_back(step);
  }

  // Added tokens, with ids assigned as tokenizers' AddedVocabulary::add_tokens assigns them.
  if (root.contains("added_tokens") && !root.at("added_tokens").is_null()) {
    const json& list = root.at("added_tokens");
    if (!list.is_array()) r.invalid("added_tokens", "must be an array");
    // tokenizers (0.22) counts new ids from the model's vocabulary size, the added map being empty
    // when a file loads.
    std::int32_t next_id = static_cast<std::int32_t>(model->size());
    for (std::size_t i = 0; i < list.size(); ++i) {
      const std::string p = fmt::format("added_tokens[{}]", i);
      AddedToken t;
      t.content = r.string(list[i], p, "content");
      t.special = r.boolean(list[i], p, "special", false);
      t.single_word = r.boolean(list[i], p, "single_word", false);
      t.lstrip = r.boolean(list[i], p, "lstrip", false);
      t.rstrip = r.boolean(list[i], p, "rstrip", false);
      t.normalized = r.boolean(list[i], p, "normalized", !t.special);
      if (t.special && !t.content.empty()) special_contents.insert(t.content);
      if (t.content.empty()) continue;
      const bool repeated = std::any_of(added.begin(), added.end(), [&](const AddedToken& a) {
        return a.content == t.content && a.special == t.special && a.single_word == t.single_word &&
               a.lstrip == t.lstrip && a.rstrip == t.rstrip && a.normalized == t.normalized;
      });
      if (repeated) continue;
      if (auto existing = token_to_id(t.content)) {
        t.id = *existing;
      } else {
        t.id = next_id++;
      }
      added_by_content[t.content] = t.id;
      if (auto it = added_by_id.find(t.id); it != added_by_id.end()) {
        added[it->second] = t;
      } else {
        added_by_id.emplace(t.id, added.size());
        added.push_back(t);
      }
      max_id = std::max(max_id, t.id);
    }
  }
  for (std::size_t i = 0; i < added.size(); ++i) {
    if (added[i].normalized) {
      normalized_matcher.add(normalize(added[i].content), i);
    } else {
      raw_matcher.add(added[i].content, i);
    }
  }

  // Post-processor: TemplateProcessing, RobertaProcessing, BertProcessing, ByteLevel, Sequence.
  steps.clear();
  if (root.contains("post_processor")) flatten(r, root.at("post_processor"), "post_processor", "processors", steps);
  for (const auto& [node, p] : steps) {
    const std::string type = r.type(*node, p);
    PostStep step;
    if (type == "ByteLevel") continue;
    if (type == "TemplateProcessing") {
      const json& specials = r.at(*node, p, "special_tokens");
      const json& single = r.at(*node, p, "single");
      if (!single.is_array()) r.invalid(p + ".single", "must be an array");
      for (std::size_t i = 0; i < single.size(); ++i) {
        const std::string q = fmt::format("{}.single[{}]", p, i);
        if (single[i].contains("Sequence")) {
          const std::string id = r.string(single[i].at("Sequence"), q + ".Sequence", "id");
          if (id != "A") r.unsupported(q + ".Sequence.id", single[i].at("Sequence").at("id"), "A");
          step.single.emplace_back(std::nullopt);
        } else if (single[i].contains("SpecialToken")) {
          const std::string name = r.string(single[i].at("SpecialToken"), q + ".SpecialToken", "id");
          if (!specials.contains(name)) r.invalid(p + ".special_tokens", "has no entry '" + name + "'");
          const json& ids = r.at(specials.at(name), p + ".special_tokens." + name, "ids");
          if (!ids.is_array()) r.invalid(p + ".special_tokens." + name + ".ids", "must be an array");
          std::vector<std::int32_t> id_list;
          for (std::size_t k = 0; k < ids.size(); ++k)
            id_list.push_back(r.token_id(ids[k], fmt::format("{}.special_tokens.{}.ids[{}]", p, name, k)));
          step.single.emplace_back(std::move(id_list));
        } else {
          r.unsupported(q, single[i], "{\"Sequence\": ...} or {\"SpecialToken\": ...}");
        }
      }
    } else if (type == "RobertaProcessing" || type == "BertProcessing") {
      auto id_of = [&r, node = node, &p = p](const char* key) {
        const json& v = r.at(*node, p, key);
        if (!v.is_array() || v.size() != 2) r.invalid(p + "." + key, "must be [token, id]");
        return r.token_id(v[1], p + "." + key + "[1]");
      };
      step.single = {std::vector<std::int32_t>{id_of("cls")}, std::nullopt, std::vector<std::int32_t>{id_of("sep")}};
    } else {
      r.unsupported(p + ".type", node->at("type"), "Sequence, TemplateProcessing, RobertaProcessing, BertProcessing, ByteLevel");
    }
    post.push_back(std::move(step));
  }

  // Decoder: Sequence, ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace.
  steps.clear();
  has_decoder = root.contains("decoder") && !root.at("decoder").is_null();
  if (has_decoder) flatten(r, root.at("decoder"), "decoder", "decoders", steps);
  for (const auto& [node, p] : steps) {
    const std::string type = r.type(*node, p);
    DecoderStep step{};
    if (type == "ByteLevel") {
      step.kind = DecoderStep::Kind::kByteLevel;
    } else if (type == "Replace") {
      step.kind = DecoderStep::Kind::kReplace;
      step.pattern = r.string_pattern(*node, p);
      step.content = r.string(*node, p, "content");
    } else if (type == "ByteFallback") {
      step.kind = DecoderStep::Kind::kByteFallback;
    } else if (type == "Fuse") {
      step.kind = DecoderStep::Kind::kFuse;
    } else if (type == "Strip") {
      step.kind = DecoderStep::Kind::kStrip;
      step.strip_char = r.single_char(*node, p, "content");
      const json& start = r.at(*node, p, "start");
      const json& stop = r.at(*node, p, "stop");
      if (!start.is_number_unsigned() || !stop.is_number_unsigned()) r.invalid(p, "start and stop must be counts");
      step.strip_start = start.get<std::size_t>();
      step.strip_stop = stop.get<std::size_t>();
    } else if (type == "Metaspace") {
      step.kind = DecoderStep::Kind::kMetaspace;
      step.replacement = r.single_char(*node, p, "replacement");
      step.prepend = r.prepend_scheme(*node, p);
    } else {
      r.unsupported(p + ".type", node->at("type"), "Sequence, ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace");
    }
    decoders.push_back(step);
  }

  parse_special_ids(path);
}

// bos / eos / pad: from tokenizer_config.json beside tokenizer.json when there is one (as
// transformers reads them), else the first special token the post-processor prepends (bos) and
// the usual names.
void Tokenizer::Impl::parse_special_ids(const std::filesystem::path& path) {
  const std::filesystem::path config_path = path.parent_path() / "tokenizer_config.json";
  if (std::filesystem::exists(config_path)) {
    const std::string where_config = fmt::format("tokenizer config '{}'", config_path.string());
    json config;
    try {
      const std::string text = read_file(config_path, "tokenizer config");
      check_json_depth(text, where_config);
      config = json::parse(text);
    } catch (const json::exception& e) {
      fail("{}: not valid JSON: {}", where_config, e.what());
    }
    auto lookup = [&](const char* key) -> std::optional<std::int32_t> {
      if (!config.contains(key) || config.at(key).is_null()) return std::nullopt;
      const json& v = config.at(key);
      const json& content = v.is_object() && v.contains("content") ? v.at("content") : v;
      if (!content.is_string()) fail("{}: field '{}' = {}: must be a token string", where_config, key, v.dump());
      auto id = token_to_id(content.get<std::string>());
      if (!id) fail("{}: field '{}' = {}: no such token in '{}'", where_config, key, content.dump(), where);
      return id;
    };
    bos = lookup("bos_token");
    eos = lookup("eos_token");
    pad = lookup("pad_token");
    return;
  }
  auto first_present = [&](std::initializer_list<std::string_view> names) -> std::optional<std::int32_t> {
    for (std::string_view name : names) {
      if (auto id = token_to_id(name)) return id;
    }
    return std::nullopt;
  };
  for (const PostStep& step : post) {
    if (!step.single.empty() && step.single.front() && !step.single.front()->empty()) {
      bos = step.single.front()->front();
      break;
    }
  }
  if (!bos) bos = first_present({"<s>", "<|begin_of_text|>", "<|startoftext|>", "<|endoftext|>"});
  eos = first_present({"</s>", "<|end_of_text|>", "<|endoftext|>"});
  pad = first_present({"<pad>", "<|pad|>", "[PAD]"});
}

std::string Tokenizer::Impl::normalize(std::string s) const {
  for (const NormalizerStep& step : normalizers) {
    if (step.kind == NormalizerStep::Kind::kPrepend) {
      if (!s.empty()) s = step.text + s;
    } else {
      replace_all(s, step.text, step.content);
    }
  }
  return s;
}

// tokenizers' AddedVocabulary::find_matches + split_with_indices.
void Tokenizer::Impl::split_added(const Piece& piece, const Matcher& matcher, std::vector<Piece>& out) const {
  const std::string_view s = piece.text;
  auto emit = [&](std::size_t begin, std::size_t end, std::int32_t id) {
    if (end <= begin) return;  // empty splits are dropped
    out.push_back(Piece{std::string(s.substr(begin, end - begin)), id, piece.at_start && begin == 0});
  };
  std::size_t start_offset = 0;
  for (std::size_t from = 0; auto match = matcher.find(s, from);) {
    auto [begin, end, index] = *match;
    from = end;
    const AddedToken& token = added[index];
    std::size_t start = begin, stop = end;
    if (token.single_word) {
      std::size_t prev_start = 0;
      const bool start_space = start == 0 || !unicode::is_word(unicode::previous_code_point(s, start, prev_start));
      std::size_t next = stop;
      const bool stop_space = stop == s.size() || !unicode::is_word(unicode::next_code_point(s, next));
      if (!start_space || !stop_space) continue;
    }
    if (token.lstrip) {
      std::size_t new_start = start;
      while (new_start > 0) {
        std::size_t prev = 0;
        if (!unicode::is_whitespace(unicode::previous_code_point(s, new_start, prev))) break;
        new_start = prev;
      }
      start = std::max(new_start, start_offset);
    }
    if (token.rstrip) {
      while (stop < s.size()) {
        std::size_t next = stop;
        if (!unicode::is_whitespace(unicode::next_code_point(s, next))) break;
        stop = next;
      }
    }
    if (start_offset < start) emit(start_offset, start, -1);
    emit(start, stop, token.id);
    start_offset = stop;
  }
  if (start_offset < s.size()) emit(start_offset, s.size(), -1);
}

void Tokenizer::Impl::pre_tokenize(std::vector<Piece>& pieces) const {
  std::vector<Piece> next;
  for (const PreTokenizerStep& step : pre_tokenizers) {
    next.clear();
    next.reserve(pieces.size());
    for (Piece& piece : pieces) {
      if (piece.added_id >= 0) {
        next.push_back(std::move(piece));
        continue;
      }
      std::string text = std::move(piece.text);
      auto cut = [&](std::size_t begin, std::size_t end) {
        if (end > begin) next.push_back(Piece{text.substr(begin, end - begin), -1, piece.at_start && begin == 0});
      };
      switch (step.kind) {
        case PreTokenizerStep::Kind::kByteLevel: {
          if (step.add_prefix_space && text.front() != ' ') text = " " + text;
          if (step.use_regex) {
            for (auto [b, e] : find_split_matches(SplitRegex::kGpt2, text)) cut(b, e);
          } else {
            cut(0, text.size());
          }
          break;
        }
        case PreTokenizerStep::Kind::kSplit:
          for (auto [b, e] : find_split_matches(step.regex, text)) cut(b, e);
          break;
        case PreTokenizerStep::Kind::kMetaspace: {
          const std::string rep = utf8_of(step.replacement);
          replace_all(text, " ", rep);
          const bool starts = text.compare(0, rep.size(), rep) == 0;
          if (!starts && (step.prepend == PrependScheme::kAlways || (step.prepend == PrependScheme::kFirst && piece.at_start))) {
            text = rep + text;
          }
          if (!step.split) {
            cut(0, text.size());
            break;
          }
          // Split on each replacement character, merged with what follows it.
          std::size_t begin = 0;
          for (std::size_t hit = text.find(rep, 1); hit != std::string::npos; hit = text.find(rep, hit + rep.size())) {
            cut(begin, hit);
            begin = hit;
          }
          cut(begin, text.size());
          break;
        }
      }
    }
    if (step.kind == PreTokenizerStep::Kind::kByteLevel) {
      // ByteLevel then maps the bytes of every split that is not an added token.
      for (Piece& p : next) {
        if (p.added_id < 0) p.text = to_byte_level(p.text);
      }
    }
    pieces.swap(next);
  }
}

std::vector<std::int32_t> Tokenizer::Impl::encode(std::string_view text, bool add_special_tokens) const {
  if (!unicode::is_valid_utf8(text)) fail("Tokenizer::encode: the text is not valid UTF-8");
  // Added tokens in the raw text, then normalization and added tokens in the normalized text.
  std::vector<Piece> raw;
  split_added(Piece{std::string(text), -1, true}, raw_matcher, raw);
  std::vector<Piece> pieces;
  for (Piece& piece : raw) {
    if (piece.added_id >= 0) {
      pieces.push_back(std::move(piece));
      continue;
    }
    piece.text = normalize(std::move(piece.text));
    split_added(piece, normalized_matcher, pieces);
  }
  pre_tokenize(pieces);

  std::vector<std::int32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  for (const Piece& piece : pieces) {
    if (piece.added_id >= 0) {
      ids.push_back(piece.added_id);
    } else {
      model->tokenize(piece.text, ids);
    }
  }
  if (add_special_tokens) {
    for (const PostStep& step : post) {
      std::vector<std::int32_t> with;
      with.reserve(ids.size() + step.single.size());
      for (const auto& item : step.single) {
        if (item) {
          with.insert(with.end(), item->begin(), item->end());
        } else {
          with.insert(with.end(), ids.begin(), ids.end());
        }
      }
      ids.swap(with);
    }
  }
  return ids;
}

std::string Tokenizer::Impl::decode(std::span<const std::int32_t> ids, bool skip_special_tokens) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (std::int32_t id : ids) {
    const std::string* token = nullptr;
    if (auto it = added_by_id.find(id); it != added_by_id.end()) {
      token = &added[it->second].content;
    } else {
      token = model->id_to_token(id);
    }
    if (token == nullptr) continue;  // unknown ids are skipped, as tokenizers does
    if (skip_special_tokens && special_contents.count(*token)) continue;
    tokens.push_back(*token);
  }
  if (!has_decoder) {
    std::string out;
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      if (i > 0) out += ' ';
      out += tokens[i];
    }
    return out;
  }
  for (const DecoderStep& step : decoders) {
    switch (step.kind) {
      case DecoderStep::Kind::kByteLevel: {
        std::string bytes;
        for (const std::string& t : tokens) {
          std::string mapped;
          bool all = true;
          for (std::size_t i = 0; i < t.size();) {
            const int b = char_byte(unicode::next_code_point(t, i));
            if (b < 0) {
              all = false;
              break;
            }
            mapped += static_cast<char>(b);
          }
          bytes += all ? mapped : t;
        }
        tokens.assign(1, unicode::from_utf8_lossy(bytes));
        break;
      }
      case DecoderStep::Kind::kReplace:
        for (std::string& t : tokens) replace_all(t, step.pattern, step.content);
        break;
      case DecoderStep::Kind::kByteFallback: {
        std::vector<std::string> out;
        std::string pending;
        auto flush = [&] {
          if (pending.empty()) return;
          if (unicode::is_valid_utf8(pending)) {
            out.push_back(pending);
          } else {
            for (std::size_t i = 0; i < pending.size(); ++i) out.emplace_back("\xEF\xBF\xBD");
          }
          pending.clear();
        };
        for (std::string& t : tokens) {
          auto hex = [](char c) {
            return (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
          };
          if (t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>' && hex(t[3]) >= 0 && hex(t[4]) >= 0) {
            pending += static_cast<char>(hex(t[3]) * 16 + hex(t[4]));
          } else {
            flush();
            out.push_back(std::move(t));
          }
        }
        flush();
        tokens.swap(out);
        break;
      }
      case DecoderStep::Kind::kFuse: {
        std::string all;
        for (const std::string& t : tokens) all += t;
        tokens.assign(1, all);
        break;
      }
      case DecoderStep::Kind::kStrip:
        for (std::string& t : tokens) {
          std::vector<char32_t> cps;
          for (std::size_t i = 0; i < t.size();) cps.push_back(unicode::next_code_point(t, i));
          std::size_t start_cut = 0;
          while (start_cut < step.strip_start && start_cut < cps.size() && cps[start_cut] == step.strip_char) ++start_cut;
          std::size_t stop_cut = cps.size();
          for (std::size_t k = 0; k < step.strip_stop && stop_cut > start_cut && cps[stop_cut - 1] == step.strip_char; ++k) {
            --stop_cut;
          }
          std::string kept;
          for (std::size_t i = start_cut; i < stop_cut; ++i) unicode::append_utf8(kept, cps[i]);
          t = std::move(kept);
        }
        break;
      case DecoderStep::Kind::kMetaspace:
        for (std::size_t k = 0; k < tokens.size(); ++k) {
          std::string out;
          const std::string& t = tokens[k];
          for (std::size_t i = 0; i < t.size();) {
            const char32_t c = unicode::next_code_point(t, i);
            if (c != step.replacement) {
              unicode::append_utf8(out, c);
            } else if (k != 0 || step.prepend == PrependScheme::kNever) {
              out += ' ';
            }
          }
          tokens[k] = std::move(out);
        }
        break;
    }
  }
  std::string out;
  for (const std::string& t : tokens) out += t;
  return out;
}

Tokenizer Tokenizer::from_file(const std::filesystem::path& tokenizer_json) {
  auto impl = std::make_unique<Impl>();
  impl->where = fmt::format("tokenizer file '{}'", tokenizer_json.string());
  if (!std::filesystem::is_regular_file(tokenizer_json)) fail("{}: no such file", impl->where);
  json root;
  try {
    const std::string text = read_file(tokenizer_json, "tokenizer file");
    check_json_depth(text, impl->where);
    root = json::parse(text);
  } catch (const json::exception& e) {
    fail("{}: not valid JSON: {}", impl->where, e.what());
  }
  try {
    impl->parse(root, tokenizer_json);
  } catch (const json::exception& e) {
    fail("{}: unexpected JSON value: {}", impl->where, e.what());
  }
  return Tokenizer(std::move(impl));
}

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

std::vector<std::int32_t> Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  return impl_->encode(text, add_special_tokens);
}

std::string Tokenizer::decode(std::span<const std::int32_t> ids, bool skip_special_tokens) const {
  return impl_->decode(ids, skip_special_tokens);
}

std::int64_t Tokenizer::vocab_size() const { return static_cast<std::int64_t>(impl_->max_id) + 1; }
std::optional<std::int32_t> Tokenizer::token_to_id(std::string_view token) const { return impl_->token_to_id(token); }
std::optional<std::int32_t> Tokenizer::bos_id() const { return impl_->bos; }
std::optional<std::int32_t> Tokenizer::eos_id() const { return impl_->eos; }
std::optional<std::int32_t> Tokenizer::pad_id() const { return impl_->pad; }

}  // namespace zo::nn
