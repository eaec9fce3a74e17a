#include "zo/train/options_json.hpp"

#include "zo/util/error.hpp"

#include <limits>
#include <set>
#include <type_traits>
#include <utility>

namespace zo {

namespace {

void check_keys(const nlohmann::json& j, const std::set<std::string>& valid, const std::string& where) {
  if (!j.is_object()) fail("{}: must be a JSON object", where);
  for (const auto& [key, value] : j.items()) {
    if (!valid.contains(key)) {
      std::string list;
      for (const auto& v : valid) list += (list.empty() ? "" : ", ") + v;
      fail("{}: unknown key '{}' (valid: {})", where, key, list);
    }
  }
}

template <class T>
void read(const nlohmann::json& j, const char* key, T& out, const std::string& where) {
  const auto it = j.find(key);
  if (it == j.end()) return;
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    // An integer T holds: a float (3.5, 1e30) or an out-of-range number is refused, never converted.
    const bool fits = it->is_number_unsigned()  ? it->get<std::uint64_t>() <= std::uint64_t(std::numeric_limits<T>::max())
                      : it->is_number_integer() ? std::in_range<T>(it->get<std::int64_t>())
                                                : false;
    if (!fits) fail("{}: key '{}': must be an integer in [{}, {}] ({})", where, key, std::numeric_limits<T>::min(),
                    std::numeric_limits<T>::max(), it->dump());
    out = it->is_number_unsigned() ? T(it->get<std::uint64_t>()) : T(it->get<std::int64_t>());
  } else {
    try {
      out = it->get<T>();
    } catch (const nlohmann::json::exception&) {
      fail("{}: key '{}': wrong type ({})", where, key, it->dump());
    }
  }
}

template <class E, class Parse>
void read_enum(const nlohmann::json& j, const char* key, E& out, Parse parse, const std::string& where) {
  const auto it = j.find(key);
  if (it == j.end()) return;
  if (!it->is_string()) fail("{}: key '{}': must be a string", where, key);
  try {
    out = parse(it->get<std::string>());
  } catch (const Error& e) {
    fail("{}: key '{}': {}", where, key, e.what());
  }
}

}  // namespace

nlohmann::json to_json(const DirectionOptions& o) {
  nlohmann::json j = {{"kind", to_string(o.kind)},   {"distribution", to_string(o.distribution)}, {"keep", o.keep},
          {"rank", o.rank},              {"order", to_string(o.order)},               {"blocks_per_step", o.blocks_per_step},
          {"block_weights", o.block_weights}};
  // Written only when it is not 1, so the runs, checkpoints and ledgers of granule 1 read as before it existed.
  if (o.granule != 1) j["granule"] = o.granule;
  return j;
}

nlohmann::json to_json(const EstimatorOptions& o) {
  return {{"eps", o.eps}, {"queries", o.queries}, {"difference", to_string(o.difference)}};
}

nlohmann::json to_json(const OptimizerOptions& o) {
  nlohmann::json groups = nlohmann::json::array();
  for (const ParamGroup& g : o.groups) {
    nlohmann::json entry = {{"pattern", g.pattern}, {"lr_scale", g.lr_scale}};
    if (g.weight_decay) entry["weight_decay"] = *g.weight_decay;
    groups.push_back(entry);
  }
  return {{"kind", to_string(o.kind)},
          {"lr", o.lr},
          {"momentum", o.momentum},
          {"weight_decay", o.weight_decay},
          {"no_decay_pattern", o.no_decay_pattern},
          {"beta1", o.beta1},
          {"beta2", o.beta2},
          {"zeta", o.zeta},
          {"amsgrad", o.amsgrad},
          {"bias_correction", o.bias_correction},
          {"zeta_outside_root", o.zeta_outside_root},
          {"state", to_string(o.state)},
          {"groups", groups}};
}

nlohmann::json to_json(const ScheduleOptions& o) {
  return {{"kind", to_string(o.kind)}, {"warmup_steps", o.warmup_steps}, {"lr_min_ratio", o.lr_min_ratio}};
}

DirectionOptions direction_options_from_json(const nlohmann::json& j, const std::string& where) {
  check_keys(j, {"kind", "distribution", "keep", "granule", "rank", "order", "blocks_per_step", "block_weights"}, where);
  DirectionOptions o;
  read_enum(j, "kind", o.kind, direction_kind_from_string, where);
  read_enum(j, "distribution", o.distribution, distribution_from_string, where);
  read(j, "keep", o.keep, where);
  read(j, "granule", o.granule, where);  // absent before granules: 1
  read(j, "rank", o.rank, where);
  read_enum(j, "order", o.order, block_order_from_string, where);
  read(j, "blocks_per_step", o.blocks_per_step, where);
  read(j, "block_weights", o.block_weights, where);
  return o;
}

EstimatorOptions estimator_options_from_json(const nlohmann::json& j, const std::string& where) {
  check_keys(j, {"eps", "queries", "difference"}, where);
  EstimatorOptions o;
  read(j, "eps", o.eps, where);
  read(j, "queries", o.queries, where);
  read_enum(j, "difference", o.difference, difference_from_string, where);
  return o;
}

OptimizerOptions optimizer_options_from_json(const nlohmann::json& j, const std::string& where) {
  check_keys(j,
             {"kind", "lr", "momentum", "weight_decay", "no_decay_pattern", "beta1", "beta2", "zeta", "amsgrad",
              "bias_correction", "zeta_outside_root", "state", "groups"},
             where);
  OptimizerOptions o;
  read_enum(j, "kind", o.kind, optimizer_kind_from_string, where);
  read(j, "lr", o.lr, where);
  read(j, "momentum", o.momentum, where);
  read(j, "weight_decay", o.weight_decay, where);
  read(j, "no_decay_pattern", o.no_decay_pattern, where);
  read(j, "beta1", o.beta1, where);
  read(j, "beta2", o.beta2, where);
  read(j, "zeta", o.zeta, where);
  read(j, "amsgrad", o.amsgrad, where);
  read(j, "bias_correction", o.bias_correction, where);
  read(j, "zeta_outside_root", o.zeta_outside_root, where);
  read_enum(j, "state", o.state, state_scope_from_string, where);
  if (const auto it = j.find("groups"); it != j.end()) {
    if (!it->is_array()) fail("{}: key 'groups': must be an array", where);
    for (std::size_t i = 0; i < it->size(); ++i) {
      const std::string w = fmt::format("{}: groups[{}]", where, i);
      const auto& g = (*it)[i];
      check_keys(g, {"pattern", "lr_scale", "weight_decay"}, w);
      ParamGroup group;
      read(g, "pattern", group.pattern, w);
      read(g, "lr_scale", group.lr_scale, w);
      if (g.contains("weight_decay")) {
        double wd = 0;
        read(g, "weight_decay", wd, w);
        group.weight_decay = wd;
      }
      o.groups.push_back(group);
    }
  }
  return o;
}

ScheduleOptions schedule_options_from_json(const nlohmann::json& j, const std::string& where) {
  check_keys(j, {"kind", "warmup_steps", "lr_min_ratio"}, where);
  ScheduleOptions o;
  read_enum(j, "kind", o.kind, schedule_kind_from_string, where);
  read(j, "warmup_steps", o.warmup_steps, where);
  read(j, "lr_min_ratio", o.lr_min_ratio, where);
  return o;
}

}  // namespace zo
