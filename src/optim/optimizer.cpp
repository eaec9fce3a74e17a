// What every update rule shares: options, lazy per-param state, param groups, state_dict, and the
// one fused pass (or, for params in a backend's memory, the backend's pass over state kept there).
// The per-element equations live in rules/*.cpp.
#include "zo/optim/optimizer.hpp"

#include "rules/rule.hpp"
#include "zo/util/error.hpp"
#include "zo/util/regex_limits.hpp"
#include "zo/core/kernels.hpp"
#include "zo/optim/update_backend.hpp"

#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <regex>
#include <unordered_map>

namespace zo {

std::string_view to_string(OptimizerKind kind) {
  switch (kind) {
    case OptimizerKind::zo_sgd: return "zo-sgd";
    case OptimizerKind::zo_sign_sgd: return "zo-sign-sgd";
    case OptimizerKind::zo_sgd_sign: return "zo-sgd-sign";
    case OptimizerKind::zo_rmsprop: return "zo-rmsprop";
    case OptimizerKind::zo_adamm: return "zo-adamm";
    case OptimizerKind::r_adazo: return "r-adazo";
  }
  return "unknown";
}

OptimizerKind optimizer_kind_from_string(std::string_view name) {
  for (auto kind : {OptimizerKind::zo_sgd, OptimizerKind::zo_sign_sgd, OptimizerKind::zo_sgd_sign,
                    OptimizerKind::zo_rmsprop, OptimizerKind::zo_adamm, OptimizerKind::r_adazo}) {
    if (to_string(kind) == name) return kind;
  }
  fail("unknown optimizer '{}': expected one of zo-sgd, zo-sign-sgd, zo-sgd-sign, zo-rmsprop, zo-adamm, r-adazo",
       name);
}

std::string_view to_string(StateScope scope) {
  switch (scope) {
    case StateScope::all: return "all";
    case StateScope::active_block: return "active-block";
  }
  return "unknown";
}

StateScope state_scope_from_string(std::string_view name) {
  if (name == "all") return StateScope::all;
  if (name == "active-block") return StateScope::active_block;
  fail("unknown optimizer state scope '{}': expected one of all, active-block", name);
}

namespace {

std::regex compile(const std::string& pattern, std::string_view field) {
  check_pattern(pattern, fmt::format("optimizer option {}", field));
  try {
    return std::regex(pattern, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    fail("optimizer option {} = '{}': not a valid ECMAScript regex ({})", field, pattern, e.what());
  }
}

bool in_unit_interval(double x) { return x >= 0.0 && x < 1.0; }

}  // namespace

void OptimizerOptions::validate() const {
  if (!(std::isfinite(lr) && lr > 0.0)) fail("optimizer option lr = {}: must be finite and > 0", lr);
  if (!in_unit_interval(momentum)) fail("optimizer option momentum = {}: must be in [0, 1)", momentum);
  if (!(std::isfinite(weight_decay) && weight_decay >= 0.0))
    fail("optimizer option weight_decay = {}: must be finite and >= 0", weight_decay);
  if (!in_unit_interval(beta1)) fail("optimizer option beta1 = {}: must be in [0, 1)", beta1);
  if (!in_unit_interval(beta2)) fail("optimizer option beta2 = {}: must be in [0, 1)", beta2);
  if (!(std::isfinite(zeta) && zeta > 0.0)) fail("optimizer option zeta = {}: must be finite and > 0", zeta);
  if (!no_decay_pattern.empty()) compile(no_decay_pattern, "no_decay_pattern");
  for (std::size_t i = 0; i < groups.size(); ++i) {
    const ParamGroup& g = groups[i];
    if (g.pattern.empty()) fail("optimizer option groups[{}].pattern is empty: it must name params (a regex)", i);
    compile(g.pattern, fmt::format("groups[{}].pattern", i));
    if (!(std::isfinite(g.lr_scale) && g.lr_scale >= 0.0))
      fail("optimizer option groups[{}].lr_scale = {}: must be finite and >= 0", i, g.lr_scale);
    if (g.weight_decay && !(std::isfinite(*g.weight_decay) && *g.weight_decay >= 0.0))
      fail("optimizer option groups[{}].weight_decay = {}: must be finite and >= 0", i, *g.weight_decay);
  }
}

namespace {

const rules::Rule& rule_for(OptimizerKind kind) {
  switch (kind) {
    case OptimizerKind::zo_sgd: return rules::zo_sgd();
    case OptimizerKind::zo_sign_sgd: return rules::zo_sign_sgd();
    case OptimizerKind::zo_sgd_sign: return rules::zo_sgd_sign();
    case OptimizerKind::zo_rmsprop: return rules::zo_rmsprop();
    case OptimizerKind::zo_adamm: return rules::zo_adamm();
    case OptimizerKind::r_adazo: return rules::r_adazo();
  }
  fail("unknown optimizer kind {}", int(kind));
}

// Floats in a backend's memory, released with it.
class BackendFloats {
 public:
  BackendFloats(const Backend& backend, std::int64_t numel)
      : backend_(&backend), data_(backend.allocate_floats(numel)), numel_(numel) {}
  BackendFloats(BackendFloats&& o) noexcept : backend_(o.backend_), data_(o.data_), numel_(o.numel_) { o.data_ = nullptr; }
  BackendFloats& operator=(BackendFloats&&) = delete;
  BackendFloats(const BackendFloats&) = delete;
  ~BackendFloats() {
    if (data_ != nullptr) backend_->release_floats(data_);
  }
  const Backend* backend() const { return backend_; }
  float* data() const { return data_; }
  std::int64_t numel() const { return numel_; }
  std::vector<float> download() const {
    std::vector<float> host(static_cast<std::size_t>(numel_));
    backend_->download_floats(data_, numel_, host.data());
    return host;
  }

 private:
  const Backend* backend_;
  float* data_;
  std::int64_t numel_;
};

class RuleOptimizer final : public Optimizer {
 public:
  RuleOptimizer(OptimizerOptions options, const rules::Rule& rule)
      : Optimizer(std::move(options)), rule_(rule), slot_names_(rule.slots(options_)) {
    if (!options_.no_decay_pattern.empty()) no_decay_ = compile(options_.no_decay_pattern, "no_decay_pattern");
    for (const ParamGroup& g : options_.groups) groups_.push_back(compile(g.pattern, "groups"));
  }

  void step(ParamSet& params, const Direction& direction, const Estimate& estimate, double lr) override;
  StateDict state_dict() const override;
  void load_state_dict(const StateDict& state, const ParamSet& params) override;
  std::int64_t state_bytes() const override;

 private:
  // A param's state lives in host memory (slots) or in a backend's (remote), never both.
  struct ParamState {
    std::int64_t t = 0;                     // updates this param has received
    std::vector<std::vector<float>> slots;  // one per slot name, numel each
    std::vector<BackendFloats> remote;      // the same, in a backend's memory
    std::int64_t numel() const {
      if (!remote.empty()) return remote[0].numel();
      return slots.empty() ? -1 : std::int64_t(slots[0].size());
    }
    void to_host() {
      if (remote.empty()) return;
      slots.clear();
      for (const BackendFloats& r : remote) slots.push_back(r.download());
      remote.clear();
    }
    // Moves (or makes, as zeros) the state of a param of numel elements into the backend's memory.
    void to_backend(const Backend& backend, std::size_t count, std::int64_t numel) {
      if (!remote.empty() && remote[0].backend() == &backend) return;
      to_host();
      for (std::size_t k = 0; k < count; ++k) {
        remote.emplace_back(backend, numel);
        if (k < slots.size()) backend.upload_floats(slots[k].data(), numel, remote.back().data());
      }
      slots.clear();
    }
  };
  struct Hyper {
    double lr_scale = 1.0;
    double weight_decay = 0.0;
  };
  // Per moving param, for the fused pass.
  struct Active {
    bool moving = false;
    float* state[3] = {};
    float lr = 0.0f;
    float weight_decay = 0.0f;
    float bias1 = 1.0f;
    float bias2 = 1.0f;
  };

  const Hyper& hyper(const std::string& name);
  // Everything step() refuses, checked before anything is written.
  void check(const ParamSet& params, const Estimate& estimate, double lr) const;
  void visit(const UpdateChunk& chunk) const;

  const rules::Rule& rule_;
  std::vector<std::string> slot_names_;
  std::map<std::string, ParamState> state_;  // by param name
  std::int64_t t_ = 0;                       // steps applied
  std::optional<std::regex> no_decay_;
  std::vector<std::regex> groups_;
  std::unordered_map<std::string, Hyper> hyper_cache_;
  // Scratch reused across steps (no per-step allocation once sized).
  std::vector<Draw> draws_;
  std::vector<float> coef_;
  std::vector<Active> active_;
  std::vector<std::size_t> moving_;
  std::vector<ParamUpdate> rows_;
  PendingRestore restore_{};  // the estimate's, applied in visit
};

const RuleOptimizer::Hyper& RuleOptimizer::hyper(const std::string& name) {
  auto it = hyper_cache_.find(name);
  if (it != hyper_cache_.end()) return it->second;
  Hyper h;
  h.weight_decay = options_.weight_decay;
  if (no_decay_ && std::regex_search(name, *no_decay_)) h.weight_decay = 0.0;
  for (std::size_t i = 0; i < groups_.size(); ++i) {
    if (std::regex_search(name, groups_[i])) {
      h.lr_scale = options_.groups[i].lr_scale;
      if (options_.groups[i].weight_decay) h.weight_decay = *options_.groups[i].weight_decay;
      break;
    }
  }
  return hyper_cache_.emplace(name, h).first->second;
}

void RuleOptimizer::step(ParamSet& params, const Direction& direction, const Estimate& estimate, double lr) {
  try {
    check(params, estimate, lr);
  } catch (...) {
    // Refused: θ gets its pending restore alone, so that it is back at its values from before the step.
    Estimate rest = estimate;
    finish_restore(params, direction, rest);
    throw;
  }
  const UpdateBackend* backend = nullptr;
  if (params.backend() != nullptr) {
    backend = dynamic_cast<const UpdateBackend*>(params.backend());
    if (backend == nullptr) {
      Estimate rest = estimate;
      finish_restore(params, direction, rest);
      fail("{} step {}: the params' data is in {} memory, whose backend runs no update pass", to_string(options_.kind),
           estimate.step, params.backend()->name());
    }
  }
  const auto blocks = params.blocks();
  const auto all_params = params.params();
  active_.assign(all_params.size(), Active{});
  moving_.clear();
  for (std::uint32_t b : estimate.blocks) {
    for (std::size_t p : blocks[b].params) {
      if (!active_[p].moving) moving_.push_back(p);
      active_[p].moving = true;
    }
  }

  if (options_.state == StateScope::active_block) {
    for (auto it = state_.begin(); it != state_.end();) {
      const Param* p = params.find(it->first);
      const bool keep = p != nullptr && active_[std::size_t(p - all_params.data())].moving;
      it = keep ? std::next(it) : state_.erase(it);
    }
  }

  for (std::size_t p : moving_) {
    const Param& param = all_params[p];
    ParamState& s = state_[param.name];
    Active& a = active_[p];
    if (backend != nullptr) {
      s.to_backend(*backend, slot_names_.size(), param.numel);
      for (std::size_t k = 0; k < s.remote.size(); ++k) a.state[k] = s.remote[k].data();
    } else {
      s.to_host();
      if (s.slots.size() != slot_names_.size()) {
        s.slots.assign(slot_names_.size(), std::vector<float>(std::size_t(param.numel), 0.0f));
      }
      for (std::size_t k = 0; k < s.slots.size(); ++k) a.state[k] = s.slots[k].data();
    }
    ++s.t;
    const Hyper& h = hyper(param.name);
    a.lr = float(lr * h.lr_scale);
    a.weight_decay = float(h.weight_decay);
    if (options_.bias_correction) {
      a.bias1 = float(1.0 - std::pow(options_.beta1, double(s.t)));
      a.bias2 = float(1.0 - std::pow(options_.beta2, double(s.t)));
    }
  }
  ++t_;

  const std::size_t q = estimate.probes.size();
  draws_.resize(q);
  coef_.resize(q);
  for (std::size_t k = 0; k < q; ++k) {
    const double rho = estimate.probes[k].rho;
    draws_[k] = estimate.probes[k].draw;
    const double c = rule_.sign_of_rho ? double((rho > 0.0) - (rho < 0.0)) : rho;
    coef_[k] = float(c / double(q));
  }
  if (backend != nullptr) {
    rows_.clear();
    for (std::size_t p : moving_) {
      const Active& a = active_[p];
      ParamUpdate row;
      row.param = p;
      row.lr = a.lr;
      row.weight_decay = a.weight_decay;
      row.bias1 = a.bias1;
      row.bias2 = a.bias2;
      for (int k = 0; k < 3; ++k) row.state[k] = a.state[k];
      rows_.push_back(row);
    }
    backend->update(params, direction, estimate, options_, rows_);
    return;
  }
  restore_ = estimate.restore;
  fused_update(params, direction, estimate.blocks, draws_, [this](const UpdateChunk& chunk) { visit(chunk); });
}

void RuleOptimizer::check(const ParamSet& params, const Estimate& estimate, double lr) const {
  const std::string_view name = to_string(options_.kind);
  if (!estimate.finite)
    fail("{} step {}: the estimate is not finite (a loss evaluation was NaN or Inf); parameters left unchanged",
         name, estimate.step);
  if (estimate.probes.empty()) fail("{} step {}: the estimate has no probes", name, estimate.step);
  for (std::size_t k = 0; k < estimate.probes.size(); ++k) {
    const double rho = estimate.probes[k].rho;
    if (!std::isfinite(rho))
      fail("{} step {}: probe {} has rho = {}, not finite; parameters left unchanged", name, estimate.step, k, rho);
  }
  if (!(std::isfinite(lr) && lr >= 0.0)) fail("{} step {}: lr = {}: must be finite and >= 0", name, estimate.step, lr);
  const auto blocks = params.blocks();
  const auto all_params = params.params();
  for (std::uint32_t b : estimate.blocks) {
    if (b >= blocks.size())
      fail("{} step {}: block {} out of range (the params have {} blocks)", name, estimate.step, b, blocks.size());
  }
  if (estimate.restore.pending() && std::size_t(estimate.restore.probe) >= estimate.probes.size())
    fail("{} step {}: pending restore of probe {}, the estimate has {} probes", name, estimate.step,
         estimate.restore.probe, estimate.probes.size());
  for (std::uint32_t b : estimate.blocks) {
    for (std::size_t p : blocks[b].params) {
      auto it = state_.find(all_params[p].name);
      if (it != state_.end() && it->second.numel() >= 0 && it->second.numel() != all_params[p].numel)
        fail("{} state for parameter '{}' has {} elements, the parameter has {}", name, all_params[p].name,
             it->second.numel(), all_params[p].numel);
    }
  }
}

void RuleOptimizer::visit(const UpdateChunk& chunk) const {
  const Active& a = active_[chunk.param];
  if (!a.moving) return;
  float g[kChunk];
  const std::int64_t n = chunk.n;
  if (restore_.pending()) {
    // The estimator's last restore, θ += α·z, rounded as the perturb pass rounds it; the rule then
    // sees θ at its values from before the step. One read and one write of θ for both.
    const float* zr = chunk.z[std::size_t(restore_.probe)];
    const float alpha = restore_.alpha;
    float* theta = chunk.theta;
#ifdef __FMA__
    for (std::int64_t i = 0; i < n; ++i) theta[i] = std::fma(alpha, zr[i], theta[i]);
#else
    for (std::int64_t i = 0; i < n; ++i) theta[i] = theta[i] + alpha * zr[i];
#endif
  }
  const float* z0 = chunk.z[0];
  const float c0 = coef_[0];
  for (std::int64_t i = 0; i < n; ++i) g[i] = c0 * z0[i];
  for (std::size_t k = 1; k < chunk.z.size(); ++k) {
    const float* zk = chunk.z[k];
    const float ck = coef_[k];
    for (std::int64_t i = 0; i < n; ++i) g[i] = std::fma(ck, zk[i], g[i]);
  }
  if (a.weight_decay != 0.0f) {
    const float wd = a.weight_decay;
    for (std::int64_t i = 0; i < n; ++i) g[i] = std::fma(wd, chunk.theta[i], g[i]);
  }
  rules::Chunk c;
  c.theta = chunk.theta;
  c.g = g;
  c.n = n;
  for (std::size_t k = 0; k < slot_names_.size(); ++k) c.state[k] = a.state[k] + chunk.begin;
  c.lr = a.lr;
  c.bias1 = a.bias1;
  c.bias2 = a.bias2;
  c.options = &options_;
  rule_.apply(c);
}

StateDict RuleOptimizer::state_dict() const {
  StateDict out;
  out.kind = std::string(to_string(options_.kind));
  out.scalars["t"] = double(t_);
  for (const auto& [name, s] : state_) {
    out.scalars[name + "/t"] = double(s.t);
    for (std::size_t k = 0; k < s.slots.size(); ++k) out.tensors[name + "/" + slot_names_[k]] = s.slots[k];
    for (std::size_t k = 0; k < s.remote.size(); ++k) out.tensors[name + "/" + slot_names_[k]] = s.remote[k].download();
  }
  return out;
}

void RuleOptimizer::load_state_dict(const StateDict& state, const ParamSet& params) {
  const std::string_view kind = to_string(options_.kind);
  if (state.kind != kind) fail("state dict is for optimizer '{}', this optimizer is '{}'", state.kind, kind);
  std::map<std::string, ParamState> loaded;
  const auto split = [](const std::string& key) {
    const auto slash = key.rfind('/');
    if (slash == std::string::npos) return std::pair<std::string, std::string>{key, ""};
    return std::pair<std::string, std::string>{key.substr(0, slash), key.substr(slash + 1)};
  };
  for (const auto& [key, values] : state.tensors) {
    const auto [name, slot] = split(key);
    const Param* p = params.find(name);
    if (p == nullptr) fail("state dict tensor '{}': no parameter named '{}'", key, name);
    const auto it = std::find(slot_names_.begin(), slot_names_.end(), slot);
    if (it == slot_names_.end())
      fail("state dict tensor '{}': '{}' is not a state of {} (its states: {})", key, slot, kind,
           slot_names_.empty() ? std::string("none") : fmt::format("{}", fmt::join(slot_names_, ", ")));
    if (std::int64_t(values.size()) != p->numel)
      fail("state dict tensor '{}': {} elements, parameter '{}' has {}", key, values.size(), name, p->numel);
    ParamState& s = loaded[name];
    s.slots.resize(slot_names_.size());
    s.slots[std::size_t(it - slot_names_.begin())] = values;
  }
  double t = -1.0;
  for (const auto& [key, value] : state.scalars) {
    // A step count: a whole number a double holds exactly (and an int64 too), so that the conversion
    // below is defined.
    if (!(std::isfinite(value) && value >= 0.0 && value == std::floor(value) && value <= 9007199254740992.0))
      fail("state dict scalar '{}' = {}: must be a whole number in [0, 2^53]", key, value);
    if (key == "t") {
      t = value;
      continue;
    }
    const auto [name, field] = split(key);
    if (field != "t") fail("state dict scalar '{}': unknown (expected 't' or '<param>/t')", key);
    if (params.find(name) == nullptr) fail("state dict scalar '{}': no parameter named '{}'", key, name);
    if (slot_names_.empty()) {
      loaded[name];  // stateless rules keep only the count
    } else if (loaded.find(name) == loaded.end()) {
      fail("state dict scalar '{}': parameter '{}' has no state tensors", key, name);
    }
    loaded[name].t = std::int64_t(value);
  }
  if (t < 0.0) fail("state dict lacks the scalar 't' (steps applied)");
  for (auto& [name, s] : loaded) {
    for (std::size_t k = 0; k < slot_names_.size(); ++k) {
      if (s.slots[k].empty()) fail("state dict lacks tensor '{}/{}'", name, slot_names_[k]);
    }
    if (state.scalars.find(name + "/t") == state.scalars.end()) fail("state dict lacks scalar '{}/t'", name);
  }
  if (slot_names_.empty()) {
    for (auto& [name, s] : loaded) s.slots.clear();
  }
  state_ = std::move(loaded);
  t_ = std::int64_t(t);
}

std::int64_t RuleOptimizer::state_bytes() const {
  std::int64_t bytes = 0;
  for (const auto& [name, s] : state_) {
    for (const auto& slot : s.slots) bytes += std::int64_t(slot.size() * sizeof(float));
    for (const auto& slot : s.remote) bytes += slot.numel() * std::int64_t(sizeof(float));
  }
  return bytes;
}

}  // namespace

std::vector<std::string> state_slots(const OptimizerOptions& options) {
  options.validate();
  return rule_for(options.kind).slots(options);
}

std::unique_ptr<Optimizer> Optimizer::create(OptimizerOptions options) {
  options.validate();
  const rules::Rule& rule = rule_for(options.kind);
  return std::unique_ptr<Optimizer>(new RuleOptimizer(std::move(options), rule));
}

}  // namespace zo
