// Task data: a JSONL file of records (tasks::read_jsonl) rendered by a built-in prompt template or a
// custom one (tasks::CustomTemplate::from_json), then sampled (tasks::sample_indices).
// Input: byte 0 picks the task (built-in, or custom) and the sampling; for a custom task the first
// line is the template's JSON object; the rest is the JSONL file.
#include "fuzz_util.hpp"

#include "zo/tasks/dataset.hpp"
#include "zo/tasks/prompt.hpp"
#include "zo/util/error.hpp"

#include <nlohmann/json.hpp>

#include <optional>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::filesystem::path& dir = zo::fuzz::scratch("dataset");
  constexpr zo::tasks::TaskKind kinds[] = {zo::tasks::TaskKind::sst2,  zo::tasks::TaskKind::rte,     zo::tasks::TaskKind::cb,
                                           zo::tasks::TaskKind::boolq, zo::tasks::TaskKind::wsc,     zo::tasks::TaskKind::wic,
                                           zo::tasks::TaskKind::multirc, zo::tasks::TaskKind::copa, zo::tasks::TaskKind::custom};
  const zo::tasks::TaskKind kind = kinds[data[0] % 9];
  const std::int64_t k = (data[0] >> 4) % 4;  // 0 keeps all
  const bool per_class = (data[0] & 0x08) != 0;
  std::string_view rest = zo::fuzz::as_text(data + 1, size - 1);
  std::optional<nlohmann::json> template_json;
  if (kind == zo::tasks::TaskKind::custom) {
    const std::size_t nl = rest.find('\n');
    const std::string_view line = rest.substr(0, nl);
    // The template comes from a JSON config file, which the command parses first.
    nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return 0;
    template_json = std::move(j);
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
  }
  zo::fuzz::put_file(dir / "data.jsonl", rest);
  try {
    const zo::tasks::PromptTemplate tmpl =
        template_json ? zo::tasks::PromptTemplate::custom(zo::tasks::CustomTemplate::from_json(*template_json, "template"))
                      : zo::tasks::PromptTemplate::builtin(kind);
    const std::vector<zo::tasks::Record> records = zo::tasks::read_jsonl(dir / "data.jsonl");
    std::vector<int> labels;
    std::uint64_t h = 0;
    for (const zo::tasks::Record& r : records) {
      const zo::tasks::Example e = tmpl.render(r);
      if (e.continuations.size() != tmpl.num_candidates() || e.gold < 0 || std::size_t(e.gold) >= e.continuations.size())
        __builtin_trap();
      for (std::size_t c = 0; c < e.continuations.size(); ++c) h ^= e.full(c).size();
      labels.push_back(e.gold);
    }
    for (std::size_t i : zo::tasks::sample_indices(labels, {.k = k, .per_class = per_class, .seed = size})) {
      if (i >= labels.size()) __builtin_trap();
      h += i;
    }
    zo::fuzz::sink = h;
  } catch (const zo::Error&) {
  }
  return 0;
}
