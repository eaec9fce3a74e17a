// IDX files (the MNIST / Fashion-MNIST format, LeCun et al.): a 4-byte magic 0x00 0x00 <dtype> <ndim>,
// ndim big-endian uint32 dimensions, then prod(dims) elements, row-major. Files may be gzipped (detected
// by the gzip magic 1f 8b, not by the name) or plain.
//
// zo reads the unsigned-byte dtype (0x08), the one MNIST-style image and label files use; any other
// dtype byte is an error that names it. Every defect — missing file, bad magic, unexpected ndim, a
// truncated or corrupt gzip stream, fewer or more data bytes than the header's dimensions promise,
// a label outside [0, classes), images and labels of different counts — is a zo::Error naming the file.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string_view>
#include <vector>

namespace zo::tasks {

struct IdxArray {
  std::uint8_t dtype = 0x08;           // the dtype byte (always 0x08 once read)
  std::vector<std::int64_t> dims;      // from the header
  std::vector<std::uint8_t> data;      // prod(dims) bytes, row-major
};

// Reads an unsigned-byte IDX file (plain or gzipped) and checks that it holds exactly the bytes its
// header promises. `expected_ndim` > 0 also checks the number of dimensions (3 for images, 1 for labels).
IdxArray read_idx(const std::filesystem::path& path, int expected_ndim = 0);

// Images (N × rows × cols bytes, 0 = white … 255 = black in Fashion-MNIST's convention) and their labels.
struct ImageDataset {
  std::int64_t count = 0;
  std::int64_t rows = 0;
  std::int64_t cols = 0;
  std::vector<std::uint8_t> pixels;  // count × rows × cols
  std::vector<std::uint8_t> labels;  // count, each in [0, classes)
  std::int64_t pixels_per_image() const { return rows * cols; }
  // Image i as floats in [0, 1] (pixel / 255), written to out[0 .. rows·cols).
  void image(std::int64_t i, float* out) const;
};

// Reads an images file and a labels file and checks them against each other (counts match, labels in
// [0, classes)). Errors name the file at fault.
ImageDataset read_idx_dataset(const std::filesystem::path& images, const std::filesystem::path& labels,
                              int classes = 10);

enum class Split { train, test };
std::string_view to_string(Split);  // "train", "test"

// The MNIST file names in `dir` for `split`: "<prefix>-images-idx3-ubyte" and "<prefix>-labels-idx1-ubyte"
// with prefix "train" or "t10k", each taken with ".gz" when that file exists, else plain. Throws
// zo::Error naming the folder and the names tried when neither exists.
ImageDataset load_mnist_split(const std::filesystem::path& dir, Split split, int classes = 10);

// Where Debian's dataset-fashion-mnist package installs the files.
inline constexpr std::string_view kDebianFashionMnistDir = "/usr/share/datasets/fashion-mnist";

// Fashion-MNIST's class names, index = label.
std::string_view fashion_mnist_class(int label);

}  // namespace zo::tasks
