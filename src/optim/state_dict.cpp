// StateDict's binary form. Layout (little-endian):
//   "ZOSD"                      4 bytes magic
//   u32 version                 = 1
//   u32 n, n bytes              kind
//   u64 count                   scalars, each: u32 n, n bytes name, f64 value
//   u64 count                   tensors, each: u32 n, n bytes name, u64 elements, elements × f32
// Nothing may follow the last tensor.
#include "zo/util/error.hpp"
#include "zo/optim/optimizer.hpp"

#include <bit>
#include <cstring>

namespace zo {
namespace {

static_assert(std::endian::native == std::endian::little, "StateDict serialisation assumes a little-endian host");

constexpr char kMagic[4] = {'Z', 'O', 'S', 'D'};
constexpr std::uint32_t kVersion = 1;

template <class T>
void put(std::string& out, T value) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));
  out.append(bytes, sizeof(T));
}

void put_string(std::string& out, const std::string& s) {
  put(out, std::uint32_t(s.size()));
  out.append(s);
}

class Reader {
 public:
  explicit Reader(std::string_view bytes) : bytes_(bytes) {}

  template <class T>
  T get(std::string_view what) {
    need(sizeof(T), what);
    T value;
    std::memcpy(&value, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return value;
  }

  std::string get_string(std::string_view what) {
    const auto n = get<std::uint32_t>(what);
    need(n, what);
    std::string s(bytes_.substr(pos_, n));
    pos_ += n;
    return s;
  }

  void get_floats(std::vector<float>& out, std::uint64_t count, std::string_view what) {
    if (count > (bytes_.size() - pos_) / sizeof(float))
      fail("state dict: truncated: {} declares {} floats, {} bytes remain at byte {}", what, count,
           bytes_.size() - pos_, pos_);
    out.resize(std::size_t(count));
    if (count == 0) return;
    std::memcpy(out.data(), bytes_.data() + pos_, std::size_t(count) * sizeof(float));
    pos_ += std::size_t(count) * sizeof(float);
  }

  std::size_t pos() const { return pos_; }
  std::size_t remaining() const { return bytes_.size() - pos_; }

 private:
  void need(std::size_t n, std::string_view what) {
    if (n > bytes_.size() - pos_)
      fail("state dict: truncated at byte {} while reading {} ({} bytes needed, {} remain)", pos_, what, n,
           bytes_.size() - pos_);
  }
  std::string_view bytes_;
  std::size_t pos_ = 0;
};

}  // namespace

std::string StateDict::serialize() const {
  std::string out;
  out.append(kMagic, 4);
  put(out, kVersion);
  put_string(out, kind);
  put(out, std::uint64_t(scalars.size()));
  for (const auto& [name, value] : scalars) {
    put_string(out, name);
    put(out, value);
  }
  put(out, std::uint64_t(tensors.size()));
  for (const auto& [name, values] : tensors) {
    put_string(out, name);
    put(out, std::uint64_t(values.size()));
    if (!values.empty()) out.append(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float));
  }
  return out;
}

StateDict StateDict::deserialize(std::string_view bytes) {
  if (bytes.size() < 4 || std::memcmp(bytes.data(), kMagic, 4) != 0)
    fail("state dict: bad magic (expected \"ZOSD\"; {} bytes given)", bytes.size());
  Reader r(bytes.substr(4));
  const auto version = r.get<std::uint32_t>("the version");
  if (version != kVersion) fail("state dict: version {} is not supported (this build reads version {})", version, kVersion);
  StateDict out;
  out.kind = r.get_string("the optimizer kind");
  const auto n_scalars = r.get<std::uint64_t>("the scalar count");
  // Every entry takes at least 4 bytes: a count beyond that is corruption, not a reason to allocate.
  if (n_scalars > r.remaining() / 4) fail("state dict: corrupt scalar count {}", n_scalars);
  for (std::uint64_t i = 0; i < n_scalars; ++i) {
    std::string name = r.get_string("a scalar name");
    const auto value = r.get<double>(fmt::format("scalar '{}'", name));
    if (!out.scalars.emplace(std::move(name), value).second) fail("state dict: scalar entry {} is a duplicate", i);
  }
  const auto n_tensors = r.get<std::uint64_t>("the tensor count");
  if (n_tensors > r.remaining() / 4) fail("state dict: corrupt tensor count {}", n_tensors);
  for (std::uint64_t i = 0; i < n_tensors; ++i) {
    std::string name = r.get_string("a tensor name");
    const auto count = r.get<std::uint64_t>(fmt::format("the size of tensor '{}'", name));
    std::vector<float> values;
    r.get_floats(values, count, fmt::format("tensor '{}'", name));
    if (out.tensors.find(name) != out.tensors.end()) fail("state dict: tensor '{}' appears twice", name);
    out.tensors.emplace(std::move(name), std::move(values));
  }
  if (r.remaining() != 0) fail("state dict: {} unexpected bytes after the last tensor", r.remaining());
  return out;
}

}  // namespace zo
