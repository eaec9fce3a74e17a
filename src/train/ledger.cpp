#include "zo/train/ledger.hpp"

#include "zo/core/random.hpp"
#include "zo/util/error.hpp"
#include "zo/util/files.hpp"
#include "zo/util/json_depth.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <sstream>

namespace zo {

namespace {

constexpr std::string_view kMagic = "zo-ledger 1";
constexpr std::string_view kConfigPrefix = "config ";

std::uint32_t crc_of(std::string_view s) {
  return static_cast<std::uint32_t>(crc32(0L, reinterpret_cast<const Bytef*>(s.data()), static_cast<uInt>(s.size())));
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (true) {
    const std::size_t p = s.find(sep, start);
    out.push_back(s.substr(start, p == std::string_view::npos ? std::string_view::npos : p - start));
    if (p == std::string_view::npos) return out;
    start = p + 1;
  }
}

template <class T>
T parse_number(std::string_view s, const std::string& where, std::string_view field) {
  T value{};
  const char* end = s.data() + s.size();
  auto [ptr, ec] = std::from_chars(s.data(), end, value);
  if (ec != std::errc() || ptr != end || s.empty()) fail("{}: field '{}': '{}' is not a valid number", where, field, s);
  return value;
}

template <class T>
std::vector<T> parse_list(std::string_view s, const std::string& where, std::string_view field) {
  std::vector<T> out;
  if (s == "-") return out;
  for (std::string_view part : split(s, ';')) out.push_back(parse_number<T>(part, where, field));
  return out;
}

template <class T>
std::string join(const std::vector<T>& values) {
  if (values.empty()) return "-";
  std::string out;
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i) out.push_back(';');
    out.append(fmt::format("{}", values[i]));
  }
  return out;
}

LedgerRow parse_row(std::string_view line, const std::string& where) {
  const std::size_t last_tab = line.rfind('\t');
  if (last_tab == std::string_view::npos) fail("{}: not a ledger row (no tab-separated fields)", where);
  const std::string_view body = line.substr(0, last_tab);
  const std::string_view crc_text = line.substr(last_tab + 1);
  std::uint32_t crc = 0;
  auto [ptr, ec] = std::from_chars(crc_text.data(), crc_text.data() + crc_text.size(), crc, 16);
  if (ec != std::errc() || ptr != crc_text.data() + crc_text.size() || crc_text.size() != 8) {
    fail("{}: field 'crc': '{}' is not 8 hex digits", where, crc_text);
  }
  if (crc != crc_of(body)) fail("{}: CRC mismatch (the row is corrupt)", where);
  const auto f = split(body, '\t');
  if (f.size() != 8) fail("{}: {} fields, expected 9 (step seeds scales rhos losses lr blocks skipped crc)", where, f.size() + 1);
  LedgerRow row;
  row.step = parse_number<std::int64_t>(f[0], where, "step");
  const auto seeds = parse_list<std::uint64_t>(f[1], where, "seeds");
  const auto scales = parse_list<float>(f[2], where, "scales");
  const auto rhos = parse_list<double>(f[3], where, "rhos");
  if (seeds.size() != scales.size() || seeds.size() != rhos.size()) {
    fail("{}: {} seeds, {} scales and {} rhos: must be one each per probe", where, seeds.size(), scales.size(), rhos.size());
  }
  for (std::size_t k = 0; k < seeds.size(); ++k) row.probes.push_back({.draw = {.seed = seeds[k], .scale = scales[k]}, .rho = rhos[k]});
  row.losses = parse_list<double>(f[4], where, "losses");
  row.lr = parse_number<double>(f[5], where, "lr");
  row.blocks = parse_list<std::uint32_t>(f[6], where, "blocks");
  if (f[7] != "0" && f[7] != "1") fail("{}: field 'skipped': '{}' must be 0 or 1", where, f[7]);
  row.skipped = f[7] == "1";
  return row;
}

void write_all(int fd, std::string_view data, const std::filesystem::path& path) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("{}: write failed: {}", path.string(), std::strerror(errno));
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

void sync_fd(int fd, const std::filesystem::path& path) {
  if (::fsync(fd) != 0) fail("{}: fsync failed: {}", path.string(), std::strerror(errno));
}


}  // namespace

std::string format_ledger_row(const LedgerRow& row) {
  std::vector<std::uint64_t> seeds;
  std::vector<float> scales;
  std::vector<double> rhos;
  for (const Probe& p : row.probes) {
    seeds.push_back(p.draw.seed);
    scales.push_back(p.draw.scale);
    rhos.push_back(p.rho);
  }
  const std::string body = fmt::format("{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}", row.step, join(seeds), join(scales), join(rhos),
                                       join(row.losses), row.lr, join(row.blocks), row.skipped ? 1 : 0);
  return fmt::format("{}\t{:08x}", body, crc_of(body));
}

int ledger_z_stream(const nlohmann::json& config, const std::string& where) {
  if (!config.is_object() || !config.contains("z_stream")) return 1;
  const nlohmann::json& v = config.at("z_stream");
  if (!v.is_number_integer() || v.get<std::int64_t>() < 1 || v.get<std::int64_t>() > 1000000)
    fail("{}: the config's 'z_stream' = {}: must be an integer >= 1", where, v.dump());
  return v.get<int>();
}

Ledger read_ledger(const std::filesystem::path& path) {
  const std::string text = read_file(path, "ledger");
  Ledger ledger;
  std::size_t pos = 0;
  std::int64_t line_number = 0;
  std::int64_t last_step = -1;
  while (pos < text.size()) {
    ++line_number;
    const std::size_t nl = text.find('\n', pos);
    const std::string where = fmt::format("{}:{}", path.string(), line_number);
    if (nl == std::string::npos) {
      // A kill between the start and the end of a row's write: drop it. The header lines are written
      // and synced before any row, so a truncated header is corruption.
      if (line_number <= 2) fail("{}: truncated ledger header", where);
      ledger.warning = fmt::format("{}: dropped a truncated last row ({} bytes, no line end): the run was interrupted "
                                   "while writing it",
                                   where, text.size() - pos);
      break;
    }
    const std::string_view line(text.data() + pos, nl - pos);
    if (line_number == 1) {
      if (line != kMagic) fail("{}: not a zo ledger (expected '{}' on the first line)", where, kMagic);
    } else if (line_number == 2) {
      if (!line.starts_with(kConfigPrefix)) fail("{}: expected 'config {{…}}' on the second line", where);
      check_json_depth(line.substr(kConfigPrefix.size()), where);
      try {
        ledger.config = nlohmann::json::parse(line.substr(kConfigPrefix.size()));
      } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range for a number like 1e999
        fail("{}: the config is not valid JSON ({})", where, e.what());
      }
      if (!ledger.config.is_object()) fail("{}: the config must be a JSON object", where);
    } else {
      LedgerRow row = parse_row(line, where);
      if (row.step <= last_step) fail("{}: step {} does not follow step {} (steps must increase)", where, row.step, last_step);
      last_step = row.step;
      ledger.rows.push_back(std::move(row));
    }
    pos = nl + 1;
    ledger.valid_bytes = pos;
  }
  if (line_number < 2) fail("{}: truncated ledger header", path.string());
  return ledger;
}

LedgerWriter::LedgerWriter(std::filesystem::path path, int fd, int fsync_every, std::int64_t rows, std::int64_t last_step)
    : path_(std::move(path)), fd_(fd), fsync_every_(fsync_every), rows_(rows), last_step_(last_step) {}

LedgerWriter::LedgerWriter(LedgerWriter&& o) noexcept
    : path_(std::move(o.path_)), fd_(o.fd_), fsync_every_(o.fsync_every_), unsynced_(o.unsynced_), rows_(o.rows_),
      last_step_(o.last_step_), warning_(std::move(o.warning_)) {
  o.fd_ = -1;
}

LedgerWriter& LedgerWriter::operator=(LedgerWriter&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) {
      ::fsync(fd_);
      ::close(fd_);
    }
    path_ = std::move(o.path_);
    fd_ = o.fd_;
    fsync_every_ = o.fsync_every_;
    unsynced_ = o.unsynced_;
    rows_ = o.rows_;
    last_step_ = o.last_step_;
    warning_ = std::move(o.warning_);
    o.fd_ = -1;
  }
  return *this;
}

LedgerWriter::~LedgerWriter() {
  if (fd_ >= 0) {
    ::fsync(fd_);
    ::close(fd_);
  }
}

LedgerWriter LedgerWriter::create(const std::filesystem::path& path, const nlohmann::json& config, int fsync_every) {
  if (fsync_every < 1) fail("ledger option 'fsync_every' = {}: must be >= 1", fsync_every);
  if (!config.is_object()) fail("{}: the ledger config must be a JSON object", path.string());
  // The header goes to a temporary file first, which link(2) then names `path` (failing when it
  // exists): a kill at any moment leaves no ledger or one with its whole header, never a torn one.
  const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  std::string leaf = path.filename().string();
  leaf.insert(0, 1, '.');
  leaf.append(".tmp.XXXXXX");
  std::string tmp = (dir / leaf).string();
  int fd = ::mkstemp(tmp.data());
  if (fd < 0) fail("{}: cannot create the ledger: {}", path.string(), std::strerror(errno));
  try {
    if (::fchmod(fd, 0644) != 0) fail("{}: cannot create the ledger: chmod failed: {}", path.string(), std::strerror(errno));
    write_all(fd, fmt::format("{}\n{}{}\n", kMagic, kConfigPrefix, config.dump()), path);
    sync_fd(fd, path);
    if (::link(tmp.c_str(), path.c_str()) != 0) fail("{}: cannot create the ledger: {}", path.string(), std::strerror(errno));
  } catch (...) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  ::close(fd);
  ::unlink(tmp.c_str());
  fsync_directory(dir);
  fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd < 0) fail("{}: cannot open the ledger: {}", path.string(), std::strerror(errno));
  return LedgerWriter(path, fd, fsync_every, 0, -1);
}

LedgerWriter LedgerWriter::resume(const std::filesystem::path& path, const nlohmann::json& config, std::int64_t next_step,
                                  int fsync_every) {
  if (fsync_every < 1) fail("ledger option 'fsync_every' = {}: must be >= 1", fsync_every);
  const Ledger ledger = read_ledger(path);
  check_z_stream_version(ledger_z_stream(ledger.config, path.string()), path.string());
  if (ledger.config != config) {
    fail("{}: the ledger's config differs from this run's (resume with the same options)\n  ledger: {}\n  run:    {}",
         path.string(), ledger.config.dump(), config.dump());
  }
  std::uint64_t keep_bytes = 0;
  std::int64_t kept = 0, last_step = -1;
  {
    // Byte offset of the end of each kept row: re-derive from the formatted rows (they are canonical).
    std::ifstream in(path, std::ios::binary);
    std::string line;
    std::getline(in, line);
    keep_bytes += line.size() + 1;
    std::getline(in, line);
    keep_bytes += line.size() + 1;
    for (const LedgerRow& row : ledger.rows) {
      if (row.step >= next_step) break;
      std::getline(in, line);
      keep_bytes += line.size() + 1;
      ++kept;
      last_step = row.step;
    }
  }
  if (last_step != next_step - 1 && !(next_step == 0 && kept == 0)) {
    fail("{}: the ledger ends at step {} but the run resumes at step {}: rows are missing", path.string(), last_step,
         next_step);
  }
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd < 0) fail("{}: cannot open the ledger: {}", path.string(), std::strerror(errno));
  LedgerWriter writer(path, fd, fsync_every, kept, last_step);
  writer.warning_ = ledger.warning;
  if (::ftruncate(fd, static_cast<off_t>(keep_bytes)) != 0) {
    fail("{}: cannot truncate the ledger: {}", path.string(), std::strerror(errno));
  }
  sync_fd(fd, path);
  return writer;
}

void LedgerWriter::append(const LedgerRow& row) {
  if (fd_ < 0) fail("ledger: append on a closed writer");
  if (row.step <= last_step_) fail("{}: row for step {} after step {} (steps must increase)", path_.string(), row.step, last_step_);
  write_all(fd_, format_ledger_row(row) + "\n", path_);
  last_step_ = row.step;
  ++rows_;
  if (++unsynced_ >= fsync_every_) flush();
}

void LedgerWriter::flush() {
  if (fd_ < 0) return;
  sync_fd(fd_, path_);
  unsynced_ = 0;
}

}  // namespace zo
