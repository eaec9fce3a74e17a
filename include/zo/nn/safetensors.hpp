// safetensors files (Hugging Face): an 8-byte little-endian header length N, N bytes of JSON
// {"name": {"dtype": "F32"|"F16"|"BF16"|…, "shape": [...], "data_offsets": [begin, end]}, …,
//  "__metadata__": {string: string}}, then the data buffer. Offsets are relative to the buffer.
//
// Reading memory-maps the file once; tensors are views into the mapping (never read twice, never
// copied). Every malformed header, offset, dtype or shape is a zo::Error naming the file and tensor.
// Writing goes to a temporary file in the same folder, fsyncs and renames: a reader never sees half a
// file.
#pragma once

#include "zo/core/dtype.hpp"

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace zo::nn {

struct TensorView {
  std::string name;
  DType dtype = DType::f32;
  std::vector<std::int64_t> shape;
  const void* data = nullptr;  // inside the mapping; valid while the SafeTensors lives
  std::size_t nbytes = 0;
  std::int64_t numel() const;
};

class SafeTensors {
 public:
  // Maps and validates `path`. Throws zo::Error naming the file (and tensor) on any defect: missing
  // file, short header, bad JSON, unknown or unsupported dtype, offsets out of the buffer, overlapping
  // or gapped ranges, a byte count that does not match shape × dtype.
  static SafeTensors open(const std::filesystem::path& path);
  // The same checks on a file's bytes held in memory (`name` names it in errors); open() maps the file
  // and parses it with this. The views point into `bytes`, which must outlive the result.
  static SafeTensors parse(std::span<const std::byte> bytes, const std::filesystem::path& name);

  SafeTensors(SafeTensors&&) noexcept;
  SafeTensors& operator=(SafeTensors&&) noexcept;
  ~SafeTensors();

  const std::filesystem::path& path() const;
  std::span<const TensorView> tensors() const;                 // in file order
  const TensorView* find(std::string_view name) const;         // nullptr when absent
  const TensorView& at(std::string_view name) const;           // throws zo::Error naming file and tensor
  const std::map<std::string, std::string>& metadata() const;  // "__metadata__"

 private:
  struct Impl;
  explicit SafeTensors(std::unique_ptr<Impl> impl);
  static void parse_into(Impl& impl, const unsigned char* bytes, std::uint64_t file_bytes);
  std::unique_ptr<Impl> impl_;
};

struct TensorToWrite {
  std::string name;
  DType dtype = DType::f32;
  std::vector<std::int64_t> shape;
  const void* data = nullptr;  // numel × size_of(dtype) bytes
};

// Writes the tensors (in the given order) and metadata atomically (temp file, fsync, rename).
// Throws zo::Error naming the path on an I/O failure or a duplicate name.
void write_safetensors(const std::filesystem::path& path, std::span<const TensorToWrite> tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace zo::nn
