// Prompt templates for classification and multiple-choice tasks, following MeZO's
// (princeton-nlp/MeZO, large_models/templates.py and tasks.py; Malladi et al. 2023, Table 13).
//
// A template turns a record into an Example: a context (MeZO's `encode(sample)`, spaces stripped at
// both ends) and, per candidate, the continuation that follows it (MeZO's `verbalize(sample, c)`
// minus the context), plus the index of the gold candidate. context + continuation[c] is exactly
// MeZO's verbalized prompt for candidate c; the model is scored on the continuation's tokens.
//
// Built-in tasks (fields as in the GLUE / SuperGLUE JSONL releases):
//   sst2     sentence, label 0|1                     "<sentence> It was" + " terrible" | " great"
//   rte      premise, hypothesis, label entailment|not_entailment (or 0|1)
//            "<premise>\nDoes this mean that \"<hypothesis>\" is true? Yes or No?\n" + "Yes" | "No"
//   cb       premise, hypothesis, label entailment|contradiction|neutral (or 0|1|2)
//            "Suppose <premise> Can we infer that \"<hypothesis>\"? Yes, No, or Maybe?\n" + "Yes"|"No"|"Maybe"
//   boolq    question, passage, label true|false     "<passage> <Question>?\n" + "Yes" | "No"  (MeZO's
//            default BoolQ template, v3; the question gets a capital first letter and a final "?")
//   wsc      text, span1_text, span2_text (or target.span1_text, target.span2_text), label true|false
//            "<text>\nIn the previous sentence, does the pronoun \"<span2 lower-cased>\" refer to
//             <span1>? Yes or No?\n" + "No" | "Yes"
//   wic      word, sentence1, sentence2, label true|false
//            "Does the word \"<word>\" have the same meaning in these two sentences? Yes, No?\n
//             <sentence1>\n<sentence2>\n" + "No" | "Yes"
//   multirc  paragraph, question, answer, label 0|1 (the flattened form: one record per answer)
//            "<paragraph>\nQuestion: <question>\nI found this answer \"<answer>\". Is that correct?
//             Yes or No?\n" + "No" | "Yes"
//   copa     premise, choice1, choice2, question cause|effect, label 0|1
//            "<premise without its final '.'> because|so" + " <choice, first word lower-cased unless 'I'>"
// Labels may be JSON numbers, booleans, or the strings GLUE uses; the class order is MeZO's (for BoolQ
// "Yes" is candidate 0, as in MeZO's tasks.py).
//
// A custom template (from a config file) is a format string with {field} placeholders ({{ and }} for
// literal braces; dotted names reach nested fields) and one label word (continuation) per class.
#pragma once

#include "zo/tasks/dataset.hpp"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace zo::tasks {

enum class TaskKind { sst2, rte, cb, boolq, wsc, wic, multirc, copa, custom };
std::string_view to_string(TaskKind);  // "sst2", "rte", "cb", "boolq", "wsc", "wic", "multirc", "copa", "custom"
// Accepts those names in any case, and "sst-2"; throws zo::Error listing the valid names.
TaskKind task_kind_from_string(std::string_view);

struct Example {
  std::string context;                     // the prompt before any candidate
  std::vector<std::string> continuations;  // one per candidate; context + continuations[c] is the full text
  int gold = 0;                            // index of the correct candidate
  std::string where;                       // "file:line" of the record
  std::string full(std::size_t c) const { return context + continuations.at(c); }
};

// A user-defined template.
//   {"template": "{sentence} It was", "label_words": [" terrible", " great"],
//    "label_field": "label", "label_values": ["negative", "positive"]}
struct CustomTemplate {
  std::string format;                     // the context, with {field} placeholders
  std::vector<std::string> label_words;   // continuation per class (>= 2, non-empty each)
  std::string label_field = "label";      // the record's field holding the class
  // The label field's value per class, in class order, compared as text (numbers and booleans are
  // written as JSON writes them: 1, true). Empty: class c is the number c, and for two classes also
  // false (0) and true (1).
  std::vector<std::string> label_values{};

  void validate() const;  // throws zo::Error naming the field: format placeholders, label words
  // Reads the object above; throws zo::Error prefixed with `where` (e.g. the config file) naming the
  // field at fault.
  static CustomTemplate from_json(const nlohmann::json& json, std::string_view where);
};

class PromptTemplate {
 public:
  static PromptTemplate builtin(TaskKind kind);  // throws for TaskKind::custom
  static PromptTemplate custom(CustomTemplate custom);  // validates

  TaskKind kind() const { return kind_; }
  // Number of candidates every example of this task has (2 for COPA, 3 for CB, label words for custom).
  std::size_t num_candidates() const;

  // The example for one record. Throws zo::Error "file:line: field 'name': <rule>" for a missing field,
  // a field of the wrong type, or a label outside the task's classes.
  Example render(const Record& record) const;
  std::vector<Example> render(std::span<const Record> records) const;

 private:
  PromptTemplate(TaskKind kind, std::optional<CustomTemplate> custom) : kind_(kind), custom_(std::move(custom)) {}
  TaskKind kind_;
  std::optional<CustomTemplate> custom_;
};

}  // namespace zo::tasks
