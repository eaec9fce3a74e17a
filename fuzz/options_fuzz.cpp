// Options JSON: a `zo finetune` config file (apply_finetune_config, then the validation and the
// trainer options the run derives), and the optimisation options objects the ledger's config line
// and checkpoints hold (options_json.hpp), each validated as a run validates them.
#include "fuzz_util.hpp"

#include "zo/train/finetune.hpp"
#include "zo/train/options_json.hpp"
#include "zo/util/error.hpp"

#include <nlohmann/json.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // The command parses the file first; a file that is not JSON never reaches the options.
  const nlohmann::json j = nlohmann::json::parse(zo::fuzz::as_text(data, size), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return 0;
  try {
    zo::FinetuneOptions o;
    zo::apply_finetune_config(o, j, "config.json", {"out"});
    const zo::TrainerOptions t = o.trainer_options();
    t.direction.validate(4);
    zo::fuzz::sink = std::uint64_t(t.steps);
  } catch (const zo::Error&) {
  }
  if (!j.is_object()) return 0;
  try {
    if (const auto it = j.find("direction"); it != j.end()) zo::direction_options_from_json(*it, "direction").validate(4);
  } catch (const zo::Error&) {
  }
  try {
    if (const auto it = j.find("estimator"); it != j.end()) zo::estimator_options_from_json(*it, "estimator").validate();
  } catch (const zo::Error&) {
  }
  try {
    if (const auto it = j.find("optimizer"); it != j.end()) zo::optimizer_options_from_json(*it, "optimizer").validate();
  } catch (const zo::Error&) {
  }
  try {
    if (const auto it = j.find("schedule"); it != j.end()) zo::schedule_options_from_json(*it, "schedule").validate();
  } catch (const zo::Error&) {
  }
  return 0;
}
