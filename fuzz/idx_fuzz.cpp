// IDX files (MNIST / Fashion-MNIST), plain or gzipped: tasks::read_idx, and read_idx_dataset with the
// input as the images file against a fixed labels file. Byte 0 picks the call; the rest is the file.
#include "fuzz_util.hpp"

#include "zo/tasks/idx.hpp"
#include "zo/util/error.hpp"

#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::filesystem::path& dir = zo::fuzz::scratch("idx");
  static const bool labels_written = [&] {
    // 3 labels: 00 00 08 01, count 3, then 0 1 2.
    zo::fuzz::put_file(dir / "labels", std::string_view("\x00\x00\x08\x01\x00\x00\x00\x03\x00\x01\x02", 11));
    return true;
  }();
  (void)labels_written;
  zo::fuzz::put_file(dir / "input", zo::fuzz::as_text(data + 1, size - 1));
  try {
    if (data[0] % 2 == 0) {
      const zo::tasks::IdxArray a = zo::tasks::read_idx(dir / "input", data[0] / 2 % 4);
      std::uint64_t n = 1;
      for (std::int64_t d : a.dims) n *= std::uint64_t(d);
      if (n != a.data.size()) __builtin_trap();
      zo::fuzz::sink = zo::fuzz::touch(a.data.data(), a.data.size());
    } else {
      const zo::tasks::ImageDataset d = zo::tasks::read_idx_dataset(dir / "input", dir / "labels", 1 + data[0] / 2 % 10);
      std::vector<float> image(std::size_t(d.pixels_per_image()));
      for (std::int64_t i = 0; i < d.count; ++i) d.image(i, image.data());
      zo::fuzz::sink = zo::fuzz::touch(image.data(), image.size() * sizeof(float));
    }
  } catch (const zo::Error&) {
  }
  return 0;
}
