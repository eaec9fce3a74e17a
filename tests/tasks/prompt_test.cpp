// Built-in templates against prompt strings written by hand from MeZO's templates.py.
#include "zo/tasks/prompt.hpp"

#include "zo/util/error.hpp"

#include <gtest/gtest.h>

#include <string>

namespace {

std::string data(const std::string& name) { return std::string(ZO_SOURCE_DIR) + "/tests/data/tasks/" + name; }

std::vector<zo::tasks::Example> render(zo::tasks::TaskKind kind, const std::string& file) {
  const auto records = zo::tasks::read_jsonl(data(file));
  return zo::tasks::PromptTemplate::builtin(kind).render(records);
}

void expect_texts(const zo::tasks::Example& e, const std::string& context, const std::vector<std::string>& fulls, int gold) {
  EXPECT_EQ(e.context, context);
  ASSERT_EQ(e.continuations.size(), fulls.size());
  for (std::size_t c = 0; c < fulls.size(); ++c) EXPECT_EQ(e.full(c), fulls[c]) << "candidate " << c;
  EXPECT_EQ(e.gold, gold);
}

TEST(PromptTemplate, Sst2StripsTheSentenceAndAppendsTheLabelWordAfterASpace) {
  const auto ex = render(zo::tasks::TaskKind::sst2, "sst2.jsonl");
  ASSERT_EQ(ex.size(), 3u);
  expect_texts(ex[0], "a gripping, funny film It was",
               {"a gripping, funny film It was terrible", "a gripping, funny film It was great"}, 1);
  EXPECT_EQ(ex[0].continuations[1], " great");
  expect_texts(ex[1], "the plot goes nowhere It was",
               {"the plot goes nowhere It was terrible", "the plot goes nowhere It was great"}, 0);
  EXPECT_EQ(ex[2].context, "warm and wise It was");
  EXPECT_EQ(ex[2].gold, 1);  // "1" as a string
  EXPECT_NE(ex[2].where.find("sst2.jsonl:4"), std::string::npos);  // blank line 3 skipped, numbering kept
}

TEST(PromptTemplate, RteAsksYesOrNoAndMapsEntailmentToYes) {
  const auto ex = render(zo::tasks::TaskKind::rte, "rte.jsonl");
  ASSERT_EQ(ex.size(), 3u);
  const std::string c0 = "The cat sat on the mat.\nDoes this mean that \"A cat is sitting.\" is true? Yes or No?\n";
  expect_texts(ex[0], c0, {c0 + "Yes", c0 + "No"}, 0);
  EXPECT_EQ(ex[1].gold, 1);
  EXPECT_EQ(ex[2].gold, 1);  // numeric label 1 = not_entailment
}

TEST(PromptTemplate, CbHasThreeCandidatesYesNoMaybe) {
  const auto ex = render(zo::tasks::TaskKind::cb, "cb.jsonl");
  const std::string c0 = "Suppose It was clear he had left. Can we infer that \"he had left\"? Yes, No, or Maybe?\n";
  expect_texts(ex[0], c0, {c0 + "Yes", c0 + "No", c0 + "Maybe"}, 0);
  EXPECT_EQ(ex[1].gold, 2);  // neutral
  EXPECT_EQ(ex[2].gold, 1);  // contradiction
  EXPECT_EQ(zo::tasks::PromptTemplate::builtin(zo::tasks::TaskKind::cb).num_candidates(), 3u);
}

TEST(PromptTemplate, BoolqCapitalisesTheQuestionAddsAQuestionMarkAndPutsYesFirst) {
  const auto ex = render(zo::tasks::TaskKind::boolq, "boolq.jsonl");
  const std::string c0 = "The sky appears blue in daylight. Is the sky blue?\n";
  expect_texts(ex[0], c0, {c0 + "Yes", c0 + "No"}, 0);
  const std::string c1 = "Most fish swim. Can fish fly?\n";
  expect_texts(ex[1], c1, {c1 + "Yes", c1 + "No"}, 1);
}

TEST(PromptTemplate, WscReadsSpansFromTargetOrTopLevelAndLowerCasesThePronoun) {
  const auto ex = render(zo::tasks::TaskKind::wsc, "wsc.jsonl");
  const std::string c0 =
      "Mark told Pete many lies about himself. He believed them.\nIn the previous sentence, does the pronoun \"he\" "
      "refer to Pete? Yes or No?\n";
  expect_texts(ex[0], c0, {c0 + "No", c0 + "Yes"}, 1);
  const std::string c1 =
      "The trophy does not fit in the case because it is small.\nIn the previous sentence, does the pronoun \"it\" "
      "refer to The trophy? Yes or No?\n";
  expect_texts(ex[1], c1, {c1 + "No", c1 + "Yes"}, 0);
}

TEST(PromptTemplate, WicPutsTheWordFirstAndBothSentencesOnTheirOwnLines) {
  const auto ex = render(zo::tasks::TaskKind::wic, "wic.jsonl");
  const std::string c0 =
      "Does the word \"bank\" have the same meaning in these two sentences? Yes, No?\nHe sat on the bank of the "
      "river.\nThe bank raised its rates.\n";
  expect_texts(ex[0], c0, {c0 + "No", c0 + "Yes"}, 0);
  EXPECT_EQ(ex[1].gold, 1);
}

TEST(PromptTemplate, MultircQuotesTheAnswer) {
  const auto ex = render(zo::tasks::TaskKind::multirc, "multirc.jsonl");
  const std::string c0 =
      "Ann baked bread. Then she sold it.\nQuestion: What did Ann sell?\nI found this answer \"Bread\". Is that "
      "correct? Yes or No?\n";
  expect_texts(ex[0], c0, {c0 + "No", c0 + "Yes"}, 1);
  EXPECT_EQ(ex[1].gold, 0);
}

TEST(PromptTemplate, CopaDropsThePeriodJoinsWithBecauseOrSoAndLowerCasesTheChoiceExceptI) {
  const auto ex = render(zo::tasks::TaskKind::copa, "copa.jsonl");
  expect_texts(ex[0], "My body cast a shadow over the grass because",
               {"My body cast a shadow over the grass because the sun was rising.",
                "My body cast a shadow over the grass because the grass was cut."},
               0);
  EXPECT_EQ(ex[0].continuations[0], " the sun was rising.");
  expect_texts(ex[1], "The woman tolerated her friend's difficult behavior so",
               {"The woman tolerated her friend's difficult behavior so the woman knew her friend was going through a "
                "hard time.",
                "The woman tolerated her friend's difficult behavior so I felt sorry for her."},
               1);
}

TEST(PromptTemplate, CustomTemplateFillsPlaceholdersAndMapsLabelValues) {
  zo::tasks::CustomTemplate t{.format = "Review: {review} {{stars: {meta.stars}}} Sentiment:",
                       .label_words = {" bad", " good"},
                       .label_field = "y",
                       .label_values = {"neg", "pos"}};
  const auto tmpl = zo::tasks::PromptTemplate::custom(t);
  zo::tasks::Record r{.fields = nlohmann::json::parse(R"({"review": "Loved it", "meta": {"stars": 5}, "y": "pos"})"),
               .file = "mem.jsonl",
               .line = 7};
  const auto e = tmpl.render(r);
  expect_texts(e, "Review: Loved it {stars: 5} Sentiment:",
               {"Review: Loved it {stars: 5} Sentiment: bad", "Review: Loved it {stars: 5} Sentiment: good"}, 1);
  EXPECT_EQ(e.where, "mem.jsonl:7");
}

TEST(PromptTemplate, CustomTemplateDefaultLabelsAreClassNumbersAndBooleans) {
  const auto tmpl = zo::tasks::PromptTemplate::custom({.format = "{x}?", .label_words = {"No", "Yes"}});
  zo::tasks::Record a{.fields = nlohmann::json::parse(R"({"x": "q", "label": true})"), .file = "f", .line = 1};
  zo::tasks::Record b{.fields = nlohmann::json::parse(R"({"x": "q", "label": 0})"), .file = "f", .line = 2};
  EXPECT_EQ(tmpl.render(a).gold, 1);
  EXPECT_EQ(tmpl.render(b).gold, 0);
  EXPECT_EQ(tmpl.render(a).full(1), "q?Yes");
}

TEST(PromptTemplate, CustomTemplateFromJsonRejectsUnknownAndMissingFields) {
  EXPECT_THROW(zo::tasks::CustomTemplate::from_json(nlohmann::json::parse(R"({"label_words": ["a", "b"]})"), "cfg.json"), zo::Error);
  try {
    zo::tasks::CustomTemplate::from_json(nlohmann::json::parse(R"({"template": "{x}", "label_words": ["a","b"], "labels": 1})"),
                                  "cfg.json");
    FAIL() << "no error";
  } catch (const zo::Error& e) {
    EXPECT_NE(std::string(e.what()).find("cfg.json"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("'labels'"), std::string::npos);
  }
  EXPECT_THROW(zo::tasks::PromptTemplate::custom({.format = "{x", .label_words = {"a", "b"}}), zo::Error);
  EXPECT_THROW(zo::tasks::PromptTemplate::custom({.format = "x}", .label_words = {"a", "b"}}), zo::Error);
  EXPECT_THROW(zo::tasks::PromptTemplate::custom({.format = "{x}", .label_words = {"a"}}), zo::Error);
  EXPECT_THROW(zo::tasks::PromptTemplate::custom({.format = "{x}", .label_words = {"a", " "}}), zo::Error);
  EXPECT_THROW(zo::tasks::PromptTemplate::custom({.format = "{x}", .label_words = {"a", "b"}, .label_values = {"1"}}), zo::Error);
  const auto t = zo::tasks::CustomTemplate::from_json(
      nlohmann::json::parse(R"({"template": "{x}", "label_words": [" a", " b"], "label_values": [3, 4]})"), "cfg");
  EXPECT_EQ(t.label_values, (std::vector<std::string>{"3", "4"}));
}

TEST(PromptTemplate, MissingFieldNamesFileLineAndField) {
  const auto records = zo::tasks::read_jsonl(data("bad_field.jsonl"));
  const auto tmpl = zo::tasks::PromptTemplate::builtin(zo::tasks::TaskKind::sst2);
  try {
    tmpl.render(records);
    FAIL() << "no error";
  } catch (const zo::Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("bad_field.jsonl:3"), std::string::npos) << m;
    EXPECT_NE(m.find("field 'sentence'"), std::string::npos) << m;
    EXPECT_NE(m.find("missing"), std::string::npos) << m;
  }
}

TEST(PromptTemplate, LabelOutsideTheClassesNamesTheLabelAndTheValidOnes) {
  const auto records = zo::tasks::read_jsonl(data("bad_label.jsonl"));
  try {
    zo::tasks::PromptTemplate::builtin(zo::tasks::TaskKind::rte).render(records);
    FAIL() << "no error";
  } catch (const zo::Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("bad_label.jsonl:1"), std::string::npos) << m;
    EXPECT_NE(m.find("field 'label'"), std::string::npos) << m;
    EXPECT_NE(m.find("'maybe'"), std::string::npos) << m;
    EXPECT_NE(m.find("not_entailment"), std::string::npos) << m;
  }
}

TEST(PromptTemplate, WrongFieldTypeAndBadCopaQuestionAreErrors) {
  zo::tasks::Record r{.fields = nlohmann::json::parse(R"({"sentence": 3, "label": 1})"), .file = "f.jsonl", .line = 2};
  try {
    zo::tasks::PromptTemplate::builtin(zo::tasks::TaskKind::sst2).render(r);
    FAIL() << "no error";
  } catch (const zo::Error& e) {
    EXPECT_NE(std::string(e.what()).find("f.jsonl:2: field 'sentence': must be a string"), std::string::npos) << e.what();
  }
  zo::tasks::Record c{.fields = nlohmann::json::parse(R"({"premise": "a.", "choice1": "b", "choice2": "c", "question": "why", "label": 0})"),
               .file = "c.jsonl",
               .line = 1};
  EXPECT_THROW(zo::tasks::PromptTemplate::builtin(zo::tasks::TaskKind::copa).render(c), zo::Error);
}

TEST(TaskKind, NamesRoundTripAndUnknownNamesListTheValidOnes) {
  for (auto k : {zo::tasks::TaskKind::sst2, zo::tasks::TaskKind::rte, zo::tasks::TaskKind::cb, zo::tasks::TaskKind::boolq, zo::tasks::TaskKind::wsc,
                 zo::tasks::TaskKind::wic, zo::tasks::TaskKind::multirc, zo::tasks::TaskKind::copa, zo::tasks::TaskKind::custom}) {
    EXPECT_EQ(zo::tasks::task_kind_from_string(zo::tasks::to_string(k)), k);
  }
  EXPECT_EQ(zo::tasks::task_kind_from_string("SST-2"), zo::tasks::TaskKind::sst2);
  try {
    zo::tasks::task_kind_from_string("squad");
    FAIL();
  } catch (const zo::Error& e) {
    EXPECT_NE(std::string(e.what()).find("boolq"), std::string::npos);
  }
  EXPECT_THROW(zo::tasks::PromptTemplate::builtin(zo::tasks::TaskKind::custom), zo::Error);
}

}  // namespace
