#include "zo/tasks/prompt.hpp"

#include "zo/util/error.hpp"

#include <algorithm>
#include <array>
#include <cctype>

namespace zo::tasks {

namespace {

constexpr std::array<std::pair<TaskKind, std::string_view>, 9> kNames{{{TaskKind::sst2, "sst2"},
                                                                       {TaskKind::rte, "rte"},
                                                                       {TaskKind::cb, "cb"},
                                                                       {TaskKind::boolq, "boolq"},
                                                                       {TaskKind::wsc, "wsc"},
                                                                       {TaskKind::wic, "wic"},
                                                                       {TaskKind::multirc, "multirc"},
                                                                       {TaskKind::copa, "copa"},
                                                                       {TaskKind::custom, "custom"}}};

// MeZO strips spaces (only spaces) at both ends of the context and of each verbalized prompt.
std::string strip_spaces(std::string_view s) {
  const std::size_t b = s.find_first_not_of(' ');
  if (b == std::string_view::npos) return {};
  const std::size_t e = s.find_last_not_of(' ');
  return std::string(s.substr(b, e - b + 1));
}

std::string rstrip_whitespace(std::string_view s) {
  std::size_t e = s.size();
  while (e > 0 && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(0, e));
}

// Python's str.strip(): every whitespace character at both ends.
std::string strip_whitespace(std::string_view s) {
  std::size_t b = 0;
  while (b < s.size() && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  return rstrip_whitespace(s.substr(b));
}

std::string lower_ascii(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// The label as text for comparison: strings as they are, other scalars as JSON writes them.
std::string label_text(const Record& record, std::string_view field) {
  const nlohmann::json* value = record.find(field);
  if (value == nullptr) record.fail_field(field, "missing");
  if (value->is_string()) return value->get<std::string>();
  if (value->is_boolean() || value->is_number_integer() || value->is_number_unsigned()) return value->dump();
  record.fail_field(field, fmt::format("must be a string, an integer or a boolean (got {})", value->dump()));
}

// Class index of the record's label: names[c] lists the spellings accepted for class c.
int class_of(const Record& record, std::string_view field, const std::vector<std::vector<std::string>>& names) {
  const std::string label = label_text(record, field);
  const std::string lowered = lower_ascii(label);
  for (std::size_t c = 0; c < names.size(); ++c) {
    for (const std::string& name : names[c]) {
      if (lowered == lower_ascii(name)) return static_cast<int>(c);
    }
  }
  std::string valid;
  for (const auto& spellings : names) {
    for (const auto& s : spellings) valid += (valid.empty() ? "" : ", ") + s;
  }
  record.fail_field(field, fmt::format("label '{}' is not one of the task's classes ({})", label, valid));
}

// Value of a placeholder: strings as they are, numbers and booleans as JSON writes them.
std::string field_text(const Record& record, std::string_view field) {
  const nlohmann::json* value = record.find(field);
  if (value == nullptr) record.fail_field(field, "missing");
  if (value->is_string()) return value->get<std::string>();
  if (value->is_number() || value->is_boolean()) return value->dump();
  record.fail_field(field, fmt::format("must be a string, a number or a boolean (got {})", value->dump()));
}

// Either the field itself or, as in the SuperGLUE release, under "target".
std::string span_text(const Record& record, std::string_view name) {
  if (record.find(name) != nullptr) return record.text(name);
  const std::string nested = fmt::format("target.{}", name);
  if (record.find(nested) != nullptr) return record.text(nested);
  record.fail_field(name, "missing (also looked for 'target." + std::string(name) + "')");
}

Example make_example(const Record& record, std::string_view context_raw,
                     const std::vector<std::string>& verbalized_raw, int gold) {
  Example example;
  example.context = strip_spaces(context_raw);
  example.gold = gold;
  example.where = record.where();
  for (const std::string& raw : verbalized_raw) {
    const std::string full = strip_spaces(raw);
    if (full.compare(0, example.context.size(), example.context) != 0 || full.size() == example.context.size()) {
      fail("{}: the verbalized prompt does not extend the context (internal template error)", record.where());
    }
    example.continuations.push_back(full.substr(example.context.size()));
  }
  return example;
}

std::vector<std::string> with_words(const std::string& context, const std::vector<std::string>& words) {
  std::vector<std::string> out;
  for (const std::string& w : words) out.push_back(context + w);
  return out;
}

// Parses a custom format into literal text and {field} names; odd entries are field names.
std::vector<std::string> split_format(std::string_view format) {
  std::vector<std::string> parts{""};
  for (std::size_t i = 0; i < format.size(); ++i) {
    const char c = format[i];
    if (c == '{' && i + 1 < format.size() && format[i + 1] == '{') {
      parts.back() += '{';
      ++i;
    } else if (c == '}' && i + 1 < format.size() && format[i + 1] == '}') {
      parts.back() += '}';
      ++i;
    } else if (c == '{') {
      const std::size_t close = format.find('}', i + 1);
      if (close == std::string_view::npos) fail("template field 'template': '{{' at offset {} is never closed", i);
      const std::string name(format.substr(i + 1, close - i - 1));
      if (name.empty() || name.find('{') != std::string::npos) {
        fail("template field 'template': placeholder at offset {} must name a field, like {{sentence}}", i);
      }
      parts.push_back(name);
      parts.emplace_back();
      i = close;
    } else if (c == '}') {
      fail("template field 'template': unmatched '}}' at offset {} (write '}}}}' for a literal brace)", i);
    } else {
      parts.back() += c;
    }
  }
  return parts;
}

Example render_builtin(TaskKind kind, const Record& r) {
  switch (kind) {
    case TaskKind::sst2: {
      const std::string text = strip_whitespace(r.text("sentence"));
      const int gold = class_of(r, "label", {{"0", "negative"}, {"1", "positive"}});
      const std::string context = text + " It was";
      return make_example(r, context, with_words(context + " ", {"terrible", "great"}), gold);
    }
    case TaskKind::rte: {
      const int gold = class_of(r, "label", {{"entailment", "0"}, {"not_entailment", "1"}});
      const std::string context = fmt::format("{}\nDoes this mean that \"{}\" is true? Yes or No?\n", r.text("premise"),
                                              r.text("hypothesis"));
      return make_example(r, context, with_words(context, {"Yes", "No"}), gold);
    }
    case TaskKind::cb: {
      const int gold = class_of(r, "label", {{"entailment", "0"}, {"contradiction", "1"}, {"neutral", "2"}});
      const std::string context = fmt::format("Suppose {} Can we infer that \"{}\"? Yes, No, or Maybe?\n",
                                              r.text("premise"), r.text("hypothesis"));
      return make_example(r, context, with_words(context, {"Yes", "No", "Maybe"}), gold);
    }
    case TaskKind::boolq: {
      const int gold = class_of(r, "label", {{"true", "1"}, {"false", "0"}});
      std::string question = r.text("question");
      if (question.empty()) r.fail_field("question", "must not be empty");
      if (question.back() != '?') question += '?';
      question[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(question[0])));
      const std::string context = fmt::format("{} {}\n", r.text("passage"), question);
      return make_example(r, context, with_words(context, {"Yes", "No"}), gold);
    }
    case TaskKind::wsc: {
      const int gold = class_of(r, "label", {{"false", "0"}, {"true", "1"}});
      const std::string context =
          fmt::format("{}\nIn the previous sentence, does the pronoun \"{}\" refer to {}? Yes or No?\n", r.text("text"),
                      lower_ascii(span_text(r, "span2_text")), span_text(r, "span1_text"));
      return make_example(r, context, with_words(context, {"No", "Yes"}), gold);
    }
    case TaskKind::wic: {
      const int gold = class_of(r, "label", {{"false", "0"}, {"true", "1"}});
      const std::string context =
          fmt::format("Does the word \"{}\" have the same meaning in these two sentences? Yes, No?\n{}\n{}\n",
                      r.text("word"), r.text("sentence1"), r.text("sentence2"));
      return make_example(r, context, with_words(context, {"No", "Yes"}), gold);
    }
    case TaskKind::multirc: {
      const int gold = class_of(r, "label", {{"0", "false"}, {"1", "true"}});
      const std::string context =
          fmt::format("{}\nQuestion: {}\nI found this answer \"{}\". Is that correct? Yes or No?\n", r.text("paragraph"),
                      r.text("question"), r.text("answer"));
      return make_example(r, context, with_words(context, {"No", "Yes"}), gold);
    }
    case TaskKind::copa: {
      const int gold = class_of(r, "label", {{"0"}, {"1"}});
      const std::string question = r.text("question");
      std::string conjunction;
      if (question == "effect") {
        conjunction = " so ";
      } else if (question == "cause") {
        conjunction = " because ";
      } else {
        r.fail_field("question", fmt::format("must be 'cause' or 'effect' (got '{}')", question));
      }
      std::string premise = rstrip_whitespace(r.text("premise"));
      if (!premise.empty() && premise.back() == '.') premise.pop_back();
      const std::string context = premise + conjunction;
      // MeZO's "correct" capitalisation: the choice's first word lower-cased unless it is "I".
      auto choice = [&](std::string_view field) {
        std::string c = r.text(field);
        const std::size_t space = c.find(' ');
        const std::string first = c.substr(0, space);
        if (first != "I") c = lower_ascii(first) + (space == std::string::npos ? "" : c.substr(space));
        return context + c;
      };
      return make_example(r, context, {choice("choice1"), choice("choice2")}, gold);
    }
    case TaskKind::custom:
      break;
  }
  fail("no built-in template for task '{}'", to_string(kind));
}

}  // namespace

std::string_view to_string(TaskKind kind) {
  for (const auto& [k, name] : kNames) {
    if (k == kind) return name;
  }
  return "unknown";
}

TaskKind task_kind_from_string(std::string_view name) {
  std::string lowered = lower_ascii(std::string(name));
  if (lowered == "sst-2") lowered = "sst2";
  for (const auto& [k, n] : kNames) {
    if (n == lowered) return k;
  }
  fail("unknown task '{}': valid tasks are sst2, rte, cb, boolq, wsc, wic, multirc, copa, custom", name);
}

void CustomTemplate::validate() const {
  if (format.empty()) fail("template field 'template': must not be empty");
  const std::vector<std::string> parts = split_format(format);
  if (label_words.size() < 2) fail("template field 'label_words': needs at least 2 words (got {})", label_words.size());
  for (std::size_t c = 0; c < label_words.size(); ++c) {
    if (strip_spaces(label_words[c]).empty()) fail("template field 'label_words'[{}]: must not be empty or only spaces", c);
  }
  if (label_field.empty()) fail("template field 'label_field': must not be empty");
  if (!label_values.empty() && label_values.size() != label_words.size()) {
    fail("template field 'label_values': {} values for {} label words (must be one per class)", label_values.size(),
         label_words.size());
  }
}

CustomTemplate CustomTemplate::from_json(const nlohmann::json& json, std::string_view where) {
  if (!json.is_object()) fail("{}: a custom template must be a JSON object", where);
  auto text = [&](const char* key, bool required) -> std::optional<std::string> {
    const auto it = json.find(key);
    if (it == json.end()) {
      if (required) fail("{}: template field '{}': missing", where, key);
      return std::nullopt;
    }
    if (!it->is_string()) fail("{}: template field '{}': must be a string", where, key);
    return it->get<std::string>();
  };
  auto strings = [&](const char* key, bool required) {
    std::vector<std::string> out;
    const auto it = json.find(key);
    if (it == json.end()) {
      if (required) fail("{}: template field '{}': missing", where, key);
      return out;
    }
    if (!it->is_array()) fail("{}: template field '{}': must be an array", where, key);
    for (std::size_t i = 0; i < it->size(); ++i) {
      const auto& v = (*it)[i];
      if (v.is_string()) {
        out.push_back(v.get<std::string>());
      } else if (v.is_number_integer() || v.is_boolean()) {
        out.push_back(v.dump());
      } else {
        fail("{}: template field '{}'[{}]: must be a string", where, key, i);
      }
    }
    return out;
  };
  for (const auto& [key, value] : json.items()) {
    if (key != "template" && key != "label_words" && key != "label_field" && key != "label_values") {
      fail("{}: unknown template field '{}' (valid: template, label_words, label_field, label_values)", where, key);
    }
  }
  CustomTemplate t;
  t.format = *text("template", true);
  t.label_words = strings("label_words", true);
  if (auto f = text("label_field", false)) t.label_field = *f;
  t.label_values = strings("label_values", false);
  try {
    t.validate();
  } catch (const Error& e) {
    fail("{}: {}", where, e.what());
  }
  return t;
}

PromptTemplate PromptTemplate::builtin(TaskKind kind) {
  if (kind == TaskKind::custom) fail("task 'custom' needs a template from the config file (no built-in one)");
  return PromptTemplate(kind, std::nullopt);
}

PromptTemplate PromptTemplate::custom(CustomTemplate custom) {
  custom.validate();
  return PromptTemplate(TaskKind::custom, std::move(custom));
}

std::size_t PromptTemplate::num_candidates() const {
  switch (kind_) {
    case TaskKind::cb:
      return 3;
    case TaskKind::custom:
      return custom_->label_words.size();
    default:
      return 2;
  }
}

Example PromptTemplate::render(const Record& record) const {
  if (kind_ != TaskKind::custom) return render_builtin(kind_, record);
  const CustomTemplate& t = *custom_;
  const std::vector<std::string> parts = split_format(t.format);
  std::string context;
  for (std::size_t i = 0; i < parts.size(); ++i) context += (i % 2 == 0) ? parts[i] : field_text(record, parts[i]);
  std::vector<std::vector<std::string>> names(t.label_words.size());
  for (std::size_t c = 0; c < names.size(); ++c) {
    if (!t.label_values.empty()) {
      names[c] = {t.label_values[c]};
    } else {
      names[c] = {std::to_string(c)};
      if (names.size() == 2) names[c].push_back(c == 0 ? "false" : "true");
    }
  }
  const int gold = class_of(record, t.label_field, names);
  return make_example(record, context, with_words(strip_spaces(context), t.label_words), gold);
}

std::vector<Example> PromptTemplate::render(std::span<const Record> records) const {
  std::vector<Example> out;
  out.reserve(records.size());
  for (const Record& r : records) out.push_back(render(r));
  return out;
}

}  // namespace zo::tasks
