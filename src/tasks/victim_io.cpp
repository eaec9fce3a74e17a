// Safetensors I/O of the victim MLP (victim.hpp): the architecture lives in the metadata, and loading
// holds metadata, tensor names, shapes and dtypes to each other.
#include "zo/util/error.hpp"
#include "zo/nn/safetensors.hpp"
#include "zo/tasks/victim.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <charconv>
#include <cstring>

namespace zo::tasks {

namespace {

std::vector<std::int64_t> parse_sizes(const std::string& file, const std::string& text) {
  std::vector<std::int64_t> sizes;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    const std::size_t comma = std::min(text.find(',', pos), text.size());
    std::int64_t v = 0;
    const char* b = text.data() + pos;
    const char* e = text.data() + comma;
    const auto r = std::from_chars(b, e, v);
    if (b == e || r.ec != std::errc() || r.ptr != e || v < 1)
      fail("{}: metadata 'zo.mlp.sizes' = \"{}\": expected comma-separated positive integers", file, text);
    sizes.push_back(v);
    pos = comma + 1;
  }
  if (sizes.size() < 2) fail("{}: metadata 'zo.mlp.sizes' = \"{}\": needs at least 2 sizes", file, text);
  return sizes;
}

}  // namespace

void Mlp::save(const std::filesystem::path& path, const std::map<std::string, std::string>& metadata) const {
  std::vector<std::string> names;
  std::vector<nn::TensorToWrite> tensors;
  for (int l = 1; l <= layers(); ++l) {
    tensors.push_back({fmt::format("fc{}.weight", l), DType::f32, {sizes_[l], sizes_[l - 1]}, weight(l).data()});
    tensors.push_back({fmt::format("fc{}.bias", l), DType::f32, {sizes_[l]}, bias(l).data()});
  }
  auto meta = metadata;
  meta["zo.model"] = "mlp";
  meta["zo.mlp.sizes"] = fmt::format("{}", fmt::join(sizes_, ","));
  meta["zo.mlp.activation"] = "relu";
  meta["zo.input"] = "pixels in [0,1]";
  nn::write_safetensors(path, tensors, meta);
}

Mlp Mlp::load(const std::filesystem::path& path, std::map<std::string, std::string>* metadata) {
  const auto st = nn::SafeTensors::open(path);
  const std::string file = path.string();
  const auto& meta = st.metadata();
  const auto model = meta.find("zo.model");
  if (model == meta.end()) fail("{}: metadata has no 'zo.model': not a victim written by `zo train-victim`", file);
  if (model->second != "mlp") fail("{}: metadata 'zo.model' = \"{}\": expected \"mlp\"", file, model->second);
  const auto act = meta.find("zo.mlp.activation");
  if (act != meta.end() && act->second != "relu")
    fail("{}: metadata 'zo.mlp.activation' = \"{}\": only \"relu\" is supported", file, act->second);
  const auto sizes_it = meta.find("zo.mlp.sizes");
  if (sizes_it == meta.end()) fail("{}: metadata has no 'zo.mlp.sizes'", file);
  Mlp m(parse_sizes(file, sizes_it->second));
  std::size_t expected = 0;
  for (int l = 1; l <= m.layers(); ++l) {
    for (int kind = 0; kind < 2; ++kind) {
      const std::string name = kind == 0 ? fmt::format("fc{}.weight", l) : fmt::format("fc{}.bias", l);
      const std::vector<std::int64_t> shape =
          kind == 0 ? std::vector<std::int64_t>{m.sizes_[l], m.sizes_[l - 1]} : std::vector<std::int64_t>{m.sizes_[l]};
      const nn::TensorView* t = st.find(name);
      if (!t) fail("{}: tensor '{}' missing (metadata sizes {} need it)", file, name, sizes_it->second);
      if (t->dtype != DType::f32) fail("{}: tensor '{}' has dtype {}, expected f32", file, name, to_string(t->dtype));
      if (t->shape != shape)
        fail("{}: tensor '{}' has shape [{}], but metadata sizes {} need [{}]", file, name, fmt::join(t->shape, ", "),
             sizes_it->second, fmt::join(shape, ", "));
      const auto dst = kind == 0 ? m.weight(l) : m.bias(l);
      std::memcpy(dst.data(), t->data, dst.size() * sizeof(float));
      ++expected;
    }
  }
  if (st.tensors().size() != expected) {
    for (const auto& t : st.tensors())
      if (t.name.rfind("fc", 0) != 0 || !m.params().data())
        fail("{}: unexpected tensor '{}' for an MLP of sizes {}", file, t.name, sizes_it->second);
    fail("{}: {} tensors, but metadata sizes {} describe {}", file, st.tensors().size(), sizes_it->second, expected);
  }
  if (metadata) *metadata = meta;
  return m;
}

}  // namespace zo::tasks
