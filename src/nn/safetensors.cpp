#include "zo/nn/safetensors.hpp"

#include "zo/util/error.hpp"
#include "zo/util/files.hpp"
#include "zo/util/json_depth.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <optional>
#include <set>

namespace zo::nn {

namespace {

// The safetensors reference implementation refuses headers above 100 MB; so do we, before parsing.
constexpr std::uint64_t max_header_bytes = 100'000'000;

// Storage names of the safetensors format. zo computes with F32, F16 and BF16 only; the others are
// recognised so that the error says "unsupported" rather than "unknown".
struct DTypeName {
  std::string_view name;
  bool supported;
  DType dtype;
  std::size_t bytes;
};
constexpr DTypeName dtype_names[] = {
    {"F32", true, DType::f32, 4},   {"F16", true, DType::f16, 2},   {"BF16", true, DType::bf16, 2},
    {"F64", false, DType::f32, 8},  {"I64", false, DType::f32, 8},  {"I32", false, DType::f32, 4},
    {"I16", false, DType::f32, 2},  {"I8", false, DType::f32, 1},   {"U64", false, DType::f32, 8},
    {"U32", false, DType::f32, 4},  {"U16", false, DType::f32, 2},  {"U8", false, DType::f32, 1},
    {"BOOL", false, DType::f32, 1}, {"F8_E4M3", false, DType::f32, 1}, {"F8_E5M2", false, DType::f32, 1},
};

// Bytes per element and the format's name for zo's storage types. Kept here (not in core's dtype.cpp)
// because these are the safetensors spellings.
std::size_t element_bytes(DType dtype) {
  switch (dtype) {
    case DType::f32: return 4;
    case DType::f16: return 2;
    case DType::bf16: return 2;
  }
  return 0;
}
std::string_view format_name(DType dtype) {
  switch (dtype) {
    case DType::f32: return "F32";
    case DType::f16: return "F16";
    case DType::bf16: return "BF16";
  }
  return "?";
}

std::string errno_text() { return std::strerror(errno); }

// Product of the dimensions, or nullopt on a negative dimension or an overflow of int64.
std::optional<std::int64_t> checked_numel(std::span<const std::int64_t> shape) {
  std::int64_t n = 1;
  for (std::int64_t d : shape) {
    if (d < 0) return std::nullopt;
    if (d != 0 && n > std::numeric_limits<std::int64_t>::max() / d) return std::nullopt;
    n *= d;
  }
  return n;
}

}  // namespace

std::int64_t TensorView::numel() const {
  std::int64_t n = 1;
  for (std::int64_t d : shape) n *= d;
  return n;
}

struct SafeTensors::Impl {
  std::filesystem::path path;
  void* mapping = nullptr;
  std::size_t mapped_bytes = 0;
  std::vector<TensorView> tensors;  // in data order
  std::map<std::string, std::string> metadata;

  ~Impl() {
    if (mapping != nullptr) ::munmap(mapping, mapped_bytes);
  }
};

SafeTensors::SafeTensors(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SafeTensors::SafeTensors(SafeTensors&&) noexcept = default;
SafeTensors& SafeTensors::operator=(SafeTensors&&) noexcept = default;
SafeTensors::~SafeTensors() = default;

const std::filesystem::path& SafeTensors::path() const { return impl_->path; }
std::span<const TensorView> SafeTensors::tensors() const { return impl_->tensors; }
const std::map<std::string, std::string>& SafeTensors::metadata() const { return impl_->metadata; }

const TensorView* SafeTensors::find(std::string_view name) const {
  for (const TensorView& t : impl_->tensors)
    if (t.name == name) return &t;
  return nullptr;
}

const TensorView& SafeTensors::at(std::string_view name) const {
  const TensorView* t = find(name);
  if (t == nullptr) fail("{}: no tensor named '{}'", impl_->path.string(), name);
  return *t;
}

SafeTensors SafeTensors::open(const std::filesystem::path& path) {
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  const std::string file = path.string();

  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("{}: cannot open safetensors file: {}", file, errno_text());
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    std::string why = errno_text();
    ::close(fd);
    fail("{}: cannot stat: {}", file, why);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    fail("{}: not a regular file", file);
  }
  const auto file_bytes = static_cast<std::uint64_t>(st.st_size);
  if (file_bytes < 8) {
    ::close(fd);
    fail("{}: {} bytes: too short for a safetensors file (needs an 8-byte header length)", file, file_bytes);
  }
  void* mapping = ::mmap(nullptr, file_bytes, PROT_READ, MAP_PRIVATE, fd, 0);
  std::string map_error = mapping == MAP_FAILED ? errno_text() : std::string();
  ::close(fd);  // the mapping keeps the file alive
  if (mapping == MAP_FAILED) fail("{}: cannot memory-map: {}", file, map_error);
  impl->mapping = mapping;
  impl->mapped_bytes = file_bytes;
  parse_into(*impl, static_cast<const unsigned char*>(mapping), file_bytes);
  return SafeTensors(std::move(impl));
}

SafeTensors SafeTensors::parse(std::span<const std::byte> bytes, const std::filesystem::path& name) {
  auto impl = std::make_unique<Impl>();
  impl->path = name;
  if (bytes.size() < 8)
    fail("{}: {} bytes: too short for a safetensors file (needs an 8-byte header length)", name.string(), bytes.size());
  parse_into(*impl, reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
  return SafeTensors(std::move(impl));
}

// The header and the tensors' places in [bytes, bytes + file_bytes) (file_bytes >= 8), checked as open()
// promises; impl.path names the file in errors.
void SafeTensors::parse_into(Impl& impl_ref, const unsigned char* bytes, std::uint64_t file_bytes) {
  Impl* impl = &impl_ref;
  const std::string file = impl->path.string();
  std::uint64_t header_bytes = 0;
  for (int i = 7; i >= 0; --i) header_bytes = (header_bytes << 8) | bytes[i];
  if (header_bytes > max_header_bytes)
    fail("{}: header length {} exceeds the format's limit of {} bytes", file, header_bytes, max_header_bytes);
  if (header_bytes > file_bytes - 8)
    fail("{}: header length {} runs past the end of the file ({} bytes)", file, header_bytes, file_bytes);

  const std::string_view header_text(reinterpret_cast<const char*>(bytes + 8), header_bytes);
  check_json_depth(header_text, file + ": header");
  nlohmann::ordered_json header;
  try {
    header = nlohmann::ordered_json::parse(header_text);
  } catch (const nlohmann::json::exception& e) {
    fail("{}: header is not valid JSON: {}", file, e.what());
  }
  if (!header.is_object()) fail("{}: header must be a JSON object, got {}", file, header.type_name());

  const unsigned char* buffer = bytes + 8 + header_bytes;
  const std::uint64_t buffer_bytes = file_bytes - 8 - header_bytes;
  struct Range {
    std::uint64_t begin, end;
    std::size_t index;
  };
  std::vector<Range> ranges;

  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      if (!entry.is_object()) fail("{}: '__metadata__' must be an object of strings", file);
      for (const auto& [key, value] : entry.items()) {
        if (!value.is_string())
          fail("{}: '__metadata__' entry '{}' must be a string, got {}", file, key, value.type_name());
        impl->metadata[key] = value.get<std::string>();
      }
      continue;
    }
    if (!entry.is_object()) fail("{}: tensor '{}': entry must be an object", file, name);
    for (const auto& [key, value] : entry.items())
      if (key != "dtype" && key != "shape" && key != "data_offsets")
        fail("{}: tensor '{}': unexpected field '{}'", file, name, key);

    TensorView view;
    view.name = name;

    auto dtype_it = entry.find("dtype");
    if (dtype_it == entry.end() || !dtype_it->is_string())
      fail("{}: tensor '{}': field 'dtype' missing or not a string", file, name);
    const std::string dtype_text = dtype_it->get<std::string>();
    const auto* known = std::find_if(std::begin(dtype_names), std::end(dtype_names),
                                     [&](const DTypeName& d) { return d.name == dtype_text; });
    if (known == std::end(dtype_names)) fail("{}: tensor '{}': unknown dtype '{}'", file, name, dtype_text);
    if (!known->supported)
      fail("{}: tensor '{}': dtype '{}' is not supported (zo reads F32, F16 and BF16)", file, name, dtype_text);
    view.dtype = known->dtype;

    auto shape_it = entry.find("shape");
    if (shape_it == entry.end() || !shape_it->is_array())
      fail("{}: tensor '{}': field 'shape' missing or not an array", file, name);
    for (const auto& d : *shape_it) {
      if (!d.is_number_integer() || d.get<std::int64_t>() < 0)
        fail("{}: tensor '{}': shape {} must hold non-negative integers", file, name, shape_it->dump());
      view.shape.push_back(d.get<std::int64_t>());
    }
    auto numel = checked_numel(view.shape);
    if (!numel) fail("{}: tensor '{}': shape {} overflows", file, name, shape_it->dump());

    auto offsets_it = entry.find("data_offsets");
    if (offsets_it == entry.end() || !offsets_it->is_array() || offsets_it->size() != 2 ||
        !(*offsets_it)[0].is_number_unsigned() || !(*offsets_it)[1].is_number_unsigned())
      fail("{}: tensor '{}': field 'data_offsets' must be [begin, end] with non-negative integers", file, name);
    const auto begin = (*offsets_it)[0].get<std::uint64_t>();
    const auto end = (*offsets_it)[1].get<std::uint64_t>();
    if (begin > end) fail("{}: tensor '{}': data_offsets [{}, {}] has begin > end", file, name, begin, end);
    if (end > buffer_bytes)
      fail("{}: tensor '{}': data_offsets [{}, {}] out of the data buffer ({} bytes)", file, name, begin, end,
           buffer_bytes);
    const std::uint64_t expected = std::uint64_t(*numel) * known->bytes;
    if (end - begin != expected)
      fail("{}: tensor '{}': data_offsets [{}, {}] hold {} bytes but shape {} × {} needs {}", file, name, begin,
           end, end - begin, shape_it->dump(), dtype_text, expected);
    view.data = buffer + begin;
    view.nbytes = static_cast<std::size_t>(expected);
    ranges.push_back({begin, end, impl->tensors.size()});
    impl->tensors.push_back(std::move(view));
  }

  // The ranges must tile the buffer exactly: sorted by begin, each starts where the previous ended
  // and the last ends at the end of the file (the reference implementation's rule).
  std::stable_sort(ranges.begin(), ranges.end(), [](const Range& a, const Range& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  std::uint64_t cursor = 0;
  for (std::size_t i = 0; i < ranges.size(); ++i) {
    const Range& r = ranges[i];
    const std::string& name = impl->tensors[r.index].name;
    if (r.begin < cursor)
      fail("{}: tensor '{}': data_offsets [{}, {}] overlap the previous tensor '{}' (ends at {})", file, name,
           r.begin, r.end, impl->tensors[ranges[i - 1].index].name, cursor);
    if (r.begin > cursor)
      fail("{}: tensor '{}': data_offsets [{}, {}] leave a gap of {} bytes after offset {}", file, name, r.begin,
           r.end, r.begin - cursor, cursor);
    cursor = r.end;
  }
  if (cursor != buffer_bytes)
    fail("{}: the tensors cover {} bytes of a {}-byte data buffer (trailing bytes)", file, cursor, buffer_bytes);

  std::vector<TensorView> ordered;
  ordered.reserve(ranges.size());
  for (const Range& r : ranges) ordered.push_back(std::move(impl->tensors[r.index]));
  impl->tensors = std::move(ordered);
}

void write_safetensors(const std::filesystem::path& path, std::span<const TensorToWrite> tensors,
                       const std::map<std::string, std::string>& metadata) {
  const std::string file = path.string();
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json meta = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata) meta[k] = v;
    header["__metadata__"] = std::move(meta);
  }
  std::set<std::string_view> names;
  std::uint64_t offset = 0;
  for (const TensorToWrite& t : tensors) {
    if (t.name.empty() || t.name == "__metadata__")
      fail("{}: cannot write a tensor named '{}': reserved or empty name", file, t.name);
    if (!names.insert(t.name).second) fail("{}: duplicate tensor name '{}'", file, t.name);
    auto numel = checked_numel(t.shape);
    if (!numel) fail("{}: tensor '{}': shape has a negative dimension or overflows", file, t.name);
    const std::uint64_t nbytes = std::uint64_t(*numel) * element_bytes(t.dtype);
    if (nbytes > 0 && t.data == nullptr) fail("{}: tensor '{}': null data for {} bytes", file, t.name, nbytes);
    header[t.name] = {{"dtype", format_name(t.dtype)}, {"shape", t.shape}, {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
  }
  std::string text = header.dump();
  // Pad with spaces so that the data buffer starts 8-byte aligned, as the reference writer does.
  text.append((8 - text.size() % 8) % 8, ' ');
  unsigned char length[8];
  for (int i = 0; i < 8; ++i) length[i] = static_cast<unsigned char>(std::uint64_t(text.size()) >> (8 * i));

  AtomicFileWriter out(path);
  out.write(length, 8);
  out.write(text);
  for (const TensorToWrite& t : tensors) {
    const std::size_t nbytes = std::size_t(*checked_numel(t.shape)) * element_bytes(t.dtype);
    if (nbytes > 0) out.write(t.data, nbytes);
  }
  out.commit();
}

}  // namespace zo::nn
