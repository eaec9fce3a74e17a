// A batch loss as per-example terms, so that a batch split into pieces — micro-batches on one process,
// shards on the ranks of an MPI job — reduces to the same double, bit for bit, as the whole batch.
//
// Example i of a batch contributes counts[i] addends (its slice of `values`, in order) and counts[i]
// to the divisor:
//
//   loss = (((0 + v₀) + v₁) + … + v_{n−1}) / (Σ counts)      summed left to right in example order
//
// The lm loss gives an example one addend per option token (its cross-entropy) and a count of that
// many tokens: MeZO's token-averaged loss. The classification loss gives one addend (the example's
// cross-entropy over its candidates) and a count of 1. Pieces concatenated in the batch's example
// order (append) reduce exactly as the whole batch: the sum runs over the same addends in the same
// order whatever the split, which is the whole exactness argument of docs/distributed.md.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace zo {

struct LossTerms {
  std::vector<double> values{};        // every example's addends, example after example
  std::vector<std::int64_t> counts{};  // per example: its number of addends (>= 0)

  // Appends `next`'s examples after these.
  void append(const LossTerms& next);
  // The loss above; NaN when Σ counts = 0. Throws zo::Error when the counts do not add up to values.size().
  double reduce() const;
  // One flat array for an exchange of doubles: per example, its count then its addends.
  std::vector<double> pack() const;
  // The inverse of pack over the concatenation of packed pieces. Throws zo::Error on a malformed array.
  static LossTerms unpack(std::span<const double> packed);
};

}  // namespace zo
