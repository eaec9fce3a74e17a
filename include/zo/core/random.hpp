// zo's one invariant (docs/design.md): a perturbation is a pure function of its seed.
//
//   z[tensor t, element i] = Normal(Philox4x32-10(key = (lo32(seed), tensor_key(t)),
//                                                 counter = (lo32(i/4), hi32(i/4), hi32(seed), stream)))
//
// - The "block" of the invariant is the parameter tensor, identified by a 32-bit hash of its name
//   (tensor_key), not by its position: z for a named parameter is the same whatever order tensors
//   were registered in, however they are grouped into blocks, and on every device and rank.
// - Element i takes word i % 4 of the Philox output for counter i / 4. Normals come from Box-Muller
//   on word pairs (0,1) and (2,3); so z[i] depends on (seed, tensor, i, stream) only, never on the
//   chunk or thread that computes it.
// - `stream` separates independent uses of the same (seed, tensor): values, sparse masks, the U and V
//   factors of low-rank directions, selectors.
// - Rademacher signs are packed: element i's sign is bit i % 32 of word(i / 32) (one Philox word
//   gives 32 signs, one Philox call 128), still a pure function of (seed, tensor, stream, i).
// The math (log, sin, cos) uses zo's own float polynomials, not libm, so CPU and CUDA agree to float
// rounding and the loops vectorise.
#pragma once

#include <cstdint>
#include <string_view>

namespace zo {

// The version of the z streams that directions draw from (Gaussian, Rademacher, sparse masks).
// Checkpoints and ledgers record it; a run recorded under another version cannot be resumed or
// replayed, because its directions would differ.
//   1  one Philox word per Rademacher sign and per sparse keep/drop decision
//   2  32 Rademacher signs per word; sparse directions draw the kept coordinates by geometric gaps
//      (direction.hpp). Gaussian values are the same as in version 1.
inline constexpr int kZStreamVersion = 2;

// Throws zo::Error naming `where` and both versions unless recorded == kZStreamVersion.
void check_z_stream_version(int recorded, std::string_view where);

enum class Stream : std::uint32_t {
  value = 0,       // the direction's values z
  mask = 1,        // sparse keep/drop decisions
  low_rank_u = 2,  // U factor of a low-rank direction
  low_rank_v = 3,  // V factor of a low-rank direction
  selector = 4,    // block selection and other per-step choices
};

// Identifies a tensor in the invariant: FNV-1a 32-bit hash of its name.
std::uint32_t tensor_key(std::string_view name);

// A seed for (run seed, step, purpose): a pure function, used to draw each step's direction seeds.
std::uint64_t derive_seed(std::uint64_t run_seed, std::uint64_t step, std::uint32_t purpose = 0);

// Where a sequence of draws lives: (seed, tensor key, stream). Element i of the sequence is a pure
// function of (where, i).
struct RandomStream {
  std::uint64_t seed = 0;
  std::uint32_t tensor = 0;
  Stream stream = Stream::value;
};

// out[k] = draw for element (begin + k), k in [0, n). Any begin and n: results do not depend on them.
void fill_normal(const RandomStream& s, std::int64_t begin, std::int64_t n, float* out);      // N(0, 1)
// ±1, p = 1/2: out[k] = −1 when bit (i % 32) of word(i / 32) is set, else +1, i = begin + k.
void fill_rademacher(const RandomStream& s, std::int64_t begin, std::int64_t n, float* out);
void fill_uniform(const RandomStream& s, std::int64_t begin, std::int64_t n, float* out);     // U[0, 1)
// Geometric gaps with success probability p in (0, 1]: out[k] = min(floor(ℓ(u) · c), 2^24), where
// u = (word(begin + k) + 0.5)·2^-32, ℓ(u) = −2 ln u in zo's float log (the one the normals use) and
// c = float(1 / (−2 ln(1 − p))), i.e. floor(ln u / ln(1 − p)): P(gap >= g) = (1 − p)^g. p = 1 gives 0.
void fill_gaps(const RandomStream& s, std::int64_t begin, std::int64_t n, double p, std::uint32_t* out);
// Raw 32-bit words: out[k] = word (begin + k) % 4 of Philox(counter (begin + k) / 4).
void fill_bits(const RandomStream& s, std::int64_t begin, std::int64_t n, std::uint32_t* out);

// Single-element forms (scalar reference; the fill_* forms must agree with them bit for bit).
float normal_at(const RandomStream& s, std::int64_t i);
std::uint32_t bits_at(const RandomStream& s, std::int64_t i);

}  // namespace zo
