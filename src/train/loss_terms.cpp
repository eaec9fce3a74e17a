#include "zo/train/loss_terms.hpp"

#include "zo/util/error.hpp"

#include <cmath>
#include <limits>

namespace zo {

void LossTerms::append(const LossTerms& next) {
  values.insert(values.end(), next.values.begin(), next.values.end());
  counts.insert(counts.end(), next.counts.begin(), next.counts.end());
}

double LossTerms::reduce() const {
  std::int64_t total = 0;
  for (std::int64_t c : counts) {
    if (c < 0) fail("loss terms: an example has a count of {} (must be >= 0)", c);
    total += c;
  }
  if (std::size_t(total) != values.size()) fail("loss terms: the counts add up to {}, but there are {} values", total, values.size());
  if (total == 0) return std::numeric_limits<double>::quiet_NaN();
  double sum = 0.0;
  for (double v : values) sum += v;
  return sum / double(total);
}

std::vector<double> LossTerms::pack() const {
  std::vector<double> out;
  out.reserve(counts.size() + values.size());
  std::size_t at = 0;
  for (std::int64_t c : counts) {
    if (c < 0 || at + std::size_t(c) > values.size()) fail("loss terms: count {} overruns the {} values", c, values.size());
    out.push_back(double(c));
    out.insert(out.end(), values.begin() + std::ptrdiff_t(at), values.begin() + std::ptrdiff_t(at + std::size_t(c)));
    at += std::size_t(c);
  }
  return out;
}

LossTerms LossTerms::unpack(std::span<const double> packed) {
  LossTerms out;
  std::size_t at = 0;
  while (at < packed.size()) {
    const double c = packed[at];
    if (!(c >= 0.0) || c != std::floor(c) || at + 1 + std::size_t(c) > packed.size())
      fail("loss terms: malformed packed array at entry {} (count {})", at, c);
    out.counts.push_back(std::int64_t(c));
    out.values.insert(out.values.end(), packed.begin() + std::ptrdiff_t(at + 1), packed.begin() + std::ptrdiff_t(at + 1 + std::size_t(c)));
    at += 1 + std::size_t(c);
  }
  return out;
}

}  // namespace zo
