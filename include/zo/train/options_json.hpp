// The optimisation options as JSON objects, for the ledger's config line, checkpoints and config
// files. Keys are the options' field names; enums are written with their to_string names. from_json
// accepts a subset of keys (missing keys keep their defaults) and rejects unknown keys, naming them
// with `where` (e.g. "run.json: direction").
#pragma once

#include "zo/core/direction.hpp"
#include "zo/optim/estimator.hpp"
#include "zo/optim/optimizer.hpp"
#include "zo/optim/schedule.hpp"

#include <nlohmann/json.hpp>

#include <string>

namespace zo {

nlohmann::json to_json(const DirectionOptions& o);
nlohmann::json to_json(const EstimatorOptions& o);
nlohmann::json to_json(const OptimizerOptions& o);
nlohmann::json to_json(const ScheduleOptions& o);

DirectionOptions direction_options_from_json(const nlohmann::json& j, const std::string& where);
EstimatorOptions estimator_options_from_json(const nlohmann::json& j, const std::string& where);
OptimizerOptions optimizer_options_from_json(const nlohmann::json& j, const std::string& where);
ScheduleOptions schedule_options_from_json(const nlohmann::json& j, const std::string& where);

}  // namespace zo
