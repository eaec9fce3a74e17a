#include "zo/tasks/idx.hpp"

#include "zo/util/error.hpp"

#include <zlib.h>

#include <array>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <optional>

namespace zo::tasks {

namespace {

std::uint32_t be32(const std::uint8_t* p) {
  return (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) | std::uint32_t(p[3]);
}

// What an IDX file's header promises once `prefix` holds the header (nothing while it is shorter):
// the bytes in all (header + data), or, for a malformed header, only the header's own bytes, read_idx
// then saying what is wrong with it.
struct Promise {
  std::uint64_t bytes = 0;
  bool malformed = false;
};
std::optional<Promise> promised_size(const std::vector<std::uint8_t>& prefix) {
  if (prefix.size() < 4) return std::nullopt;
  if (prefix[0] != 0 || prefix[1] != 0 || prefix[2] != 0x08 || prefix[3] == 0) return Promise{4, true};
  const std::size_t header = 4 + 4 * std::size_t(prefix[3]);
  if (prefix.size() < header) return std::nullopt;
  std::uint64_t total = 1;
  for (std::size_t i = 0; i < prefix[3]; ++i) {
    total *= be32(prefix.data() + 4 + 4 * i);
    if (total > std::uint64_t(std::numeric_limits<std::int64_t>::max()) / 2) return Promise{header, true};
  }
  return Promise{header + total, false};
}

// The whole file's bytes, gunzipped when it starts with the gzip magic. Inflating stops as soon as
// the output passes what the header promises, so that a small file cannot make the reader hold more
// than its header claims (a "gzip bomb"): memory follows the data the stream really holds.
std::vector<std::uint8_t> read_bytes(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) fail("{}: no such file", path.string());
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: cannot open", path.string());
  std::vector<std::uint8_t> raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) fail("{}: read error", path.string());
  if (raw.size() < 2 || raw[0] != 0x1f || raw[1] != 0x8b) return raw;

  // gzip: inflate with zlib (windowBits 15 + 32 = auto-detect gzip header); concatenated members are
  // decoded one after another, as gunzip does.
  std::vector<std::uint8_t> out;
  std::optional<Promise> promised;
  z_stream zs{};
  if (inflateInit2(&zs, 15 + 32) != Z_OK) fail("{}: zlib inflateInit failed", path.string());
  zs.next_in = raw.data();
  zs.avail_in = static_cast<uInt>(raw.size());
  std::array<std::uint8_t, 1 << 16> chunk{};
  int rc = Z_OK;
  while (true) {
    zs.next_out = chunk.data();
    zs.avail_out = chunk.size();
    rc = inflate(&zs, Z_NO_FLUSH);
    out.insert(out.end(), chunk.data(), chunk.data() + (chunk.size() - zs.avail_out));
    if (!promised) promised = promised_size(out);
    if (promised && out.size() > promised->bytes) {
      inflateEnd(&zs);
      out.resize(std::size_t(promised->bytes));
      if (promised->malformed) return out;  // read_idx reports the header
      fail("{}: IDX data longer than its header: header promises {} bytes, the gzip stream holds more", path.string(),
           promised->bytes - (4 + 4 * std::uint64_t(out[3])));
    }
    if (rc == Z_STREAM_END) {
      if (zs.avail_in == 0) break;
      if (inflateReset(&zs) != Z_OK) break;
      continue;
    }
    if (rc != Z_OK) break;
    if (zs.avail_in == 0 && zs.avail_out != 0) {
      rc = Z_BUF_ERROR;  // input exhausted before the end of the stream
      break;
    }
  }
  const std::string msg = zs.msg ? zs.msg : "";
  inflateEnd(&zs);
  if (rc != Z_STREAM_END) {
    if (rc == Z_BUF_ERROR) fail("{}: truncated gzip stream (ends before its end marker)", path.string());
    fail("{}: corrupt gzip stream ({})", path.string(), msg.empty() ? std::to_string(rc) : msg);
  }
  return out;
}

std::string_view dtype_name(std::uint8_t t) {
  switch (t) {
    case 0x08: return "unsigned byte";
    case 0x09: return "signed byte";
    case 0x0B: return "int16";
    case 0x0C: return "int32";
    case 0x0D: return "float32";
    case 0x0E: return "float64";
    default: return "unknown";
  }
}

}  // namespace

IdxArray read_idx(const std::filesystem::path& path, int expected_ndim) {
  const std::vector<std::uint8_t> bytes = read_bytes(path);
  const std::string name = path.string();
  if (bytes.size() < 4) fail("{}: {} bytes, too short for an IDX header (4-byte magic)", name, bytes.size());
  if (bytes[0] != 0 || bytes[1] != 0)
    fail("{}: bad IDX magic {:02x} {:02x} {:02x} {:02x}: the first two bytes must be 00 00", name, bytes[0], bytes[1],
         bytes[2], bytes[3]);
  const std::uint8_t dtype = bytes[2];
  if (dtype != 0x08)
    fail("{}: IDX dtype byte 0x{:02x} ({}): only 0x08 (unsigned byte) is supported", name, dtype, dtype_name(dtype));
  const int ndim = bytes[3];
  if (ndim < 1) fail("{}: IDX header has 0 dimensions", name);
  if (expected_ndim > 0 && ndim != expected_ndim)
    fail("{}: IDX header has {} dimensions, expected {}", name, ndim, expected_ndim);
  const std::size_t header = 4 + 4 * std::size_t(ndim);
  if (bytes.size() < header)
    fail("{}: truncated IDX header: {} bytes, {} dimensions need {}", name, bytes.size(), ndim, header);
  IdxArray a;
  a.dtype = dtype;
  std::uint64_t total = 1;
  for (int i = 0; i < ndim; ++i) {
    const std::uint32_t d = be32(bytes.data() + 4 + 4 * i);
    a.dims.push_back(d);
    total *= d;
    if (total > std::uint64_t(std::numeric_limits<std::int64_t>::max()) / 2)
      fail("{}: IDX dimensions overflow", name);
  }
  const std::uint64_t have = bytes.size() - header;
  if (have < total)
    fail("{}: truncated IDX data: header promises {} bytes, file holds {}", name, total, have);
  if (have > total)
    fail("{}: IDX data longer than its header: header promises {} bytes, file holds {}", name, total, have);
  a.data.assign(bytes.begin() + std::ptrdiff_t(header), bytes.end());
  return a;
}

void ImageDataset::image(std::int64_t i, float* out) const {
  if (i < 0 || i >= count) fail("image index {} outside [0, {})", i, count);
  const std::int64_t p = pixels_per_image();
  const std::uint8_t* src = pixels.data() + i * p;
  for (std::int64_t k = 0; k < p; ++k) out[k] = float(src[k]) * (1.0f / 255.0f);
}

ImageDataset read_idx_dataset(const std::filesystem::path& images, const std::filesystem::path& labels, int classes) {
  if (classes < 1 || classes > 256) fail("classes = {}: must be in [1, 256]", classes);
  IdxArray im = read_idx(images, 3);
  IdxArray lb = read_idx(labels, 1);
  if (im.dims[0] != lb.dims[0])
    fail("{} holds {} images but {} holds {} labels: the counts must match", images.string(), im.dims[0],
         labels.string(), lb.dims[0]);
  if (im.dims[1] < 1 || im.dims[2] < 1) fail("{}: image size {}×{} is empty", images.string(), im.dims[1], im.dims[2]);
  for (std::size_t i = 0; i < lb.data.size(); ++i)
    if (lb.data[i] >= classes)
      fail("{}: label {} at index {} is outside [0, {})", labels.string(), lb.data[i], i, classes);
  ImageDataset d;
  d.count = im.dims[0];
  d.rows = im.dims[1];
  d.cols = im.dims[2];
  d.pixels = std::move(im.data);
  d.labels = std::move(lb.data);
  return d;
}

std::string_view to_string(Split s) { return s == Split::train ? "train" : "test"; }

ImageDataset load_mnist_split(const std::filesystem::path& dir, Split split, int classes) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) fail("data folder {}: not a directory", dir.string());
  const std::string prefix = split == Split::train ? "train" : "t10k";
  auto pick = [&](const std::string& base) {
    const auto gz = dir / (base + ".gz");
    if (std::filesystem::exists(gz, ec)) return gz;
    const auto plain = dir / base;
    if (std::filesystem::exists(plain, ec)) return plain;
    fail("data folder {}: neither {} nor {} exists", dir.string(), gz.filename().string(), base);
  };
  const auto images = pick(prefix + "-images-idx3-ubyte");
  const auto labels = pick(prefix + "-labels-idx1-ubyte");
  return read_idx_dataset(images, labels, classes);
}

std::string_view fashion_mnist_class(int label) {
  static constexpr std::array<std::string_view, 10> names = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                             "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  if (label < 0 || label >= 10) fail("Fashion-MNIST label {} outside [0, 10)", label);
  return names[std::size_t(label)];
}

}  // namespace zo::tasks
