// CSV logs (RFC 4180): a header and rows of text fields; fields holding a comma, a quote or a line
// break are quoted, quotes doubled. Numbers are formatted by the caller (format_number gives the
// shortest text that reads back to the same double, "nan" / "inf" / "-inf" for non-finite values).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace zo {

std::string format_number(double v);

class CsvTable {
 public:
  explicit CsvTable(std::vector<std::string> header);  // throws zo::Error on an empty header
  const std::vector<std::string>& header() const { return header_; }
  std::size_t rows() const { return rows_.size(); }
  // Throws zo::Error when the row's size differs from the header's.
  void add_row(std::vector<std::string> row);
  std::string str() const;                                 // the whole file, "\n" line ends
  void save(const std::filesystem::path& path) const;      // atomic (atomic_file.hpp)

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace zo
