// safetensors: the 8-byte header length, the JSON header, the tensors' offsets, dtypes and shapes,
// parsed from memory by SafeTensors::parse (the checks SafeTensors::open runs on a mapped file).
#include "fuzz_util.hpp"

#include "zo/nn/safetensors.hpp"
#include "zo/util/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const auto st = zo::nn::SafeTensors::parse({reinterpret_cast<const std::byte*>(data), size}, "fuzz.safetensors");
    std::uint64_t h = st.metadata().size();
    for (const zo::nn::TensorView& t : st.tensors()) {
      // A view must lie inside the input and hold exactly shape × dtype bytes.
      if (static_cast<const std::uint8_t*>(t.data) < data || static_cast<const std::uint8_t*>(t.data) + t.nbytes > data + size)
        __builtin_trap();
      if (std::uint64_t(t.numel()) * zo::size_of(t.dtype) != t.nbytes) __builtin_trap();
      h ^= zo::fuzz::touch(t.data, t.nbytes);
      if (st.at(t.name).data != t.data) __builtin_trap();  // names are unique
    }
    zo::fuzz::sink = h;
  } catch (const zo::Error&) {
  }
  return 0;
}
