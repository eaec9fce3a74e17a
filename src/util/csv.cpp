// CSV quoting and writing (csv.hpp).
#include "zo/util/csv.hpp"

#include "zo/util/error.hpp"
#include "zo/util/files.hpp"

#include <cmath>

namespace zo {

std::string format_number(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return fmt::format("{}", v);  // fmt's default: shortest round-trip representation
}

namespace {
void append_field(std::string& out, const std::string& field) {
  if (field.find_first_of(",\"\r\n") == std::string::npos) {
    out += field;
    return;
  }
  out += '"';
  for (char c : field) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
}

void append_row(std::string& out, const std::vector<std::string>& row) {
  for (std::size_t i = 0; i < row.size(); ++i) {
    if (i) out += ',';
    append_field(out, row[i]);
  }
  out += '\n';
}
}  // namespace

CsvTable::CsvTable(std::vector<std::string> header) : header_(std::move(header)) {
  if (header_.empty()) fail("CSV header is empty: give at least one column");
}

void CsvTable::add_row(std::vector<std::string> row) {
  if (row.size() != header_.size())
    fail("CSV row {} has {} fields but the header has {}", rows_.size() + 1, row.size(), header_.size());
  rows_.push_back(std::move(row));
}

std::string CsvTable::str() const {
  std::string out;
  append_row(out, header_);
  for (const auto& row : rows_) append_row(out, row);
  return out;
}

void CsvTable::save(const std::filesystem::path& path) const { write_file_atomic(path, str()); }

}  // namespace zo
