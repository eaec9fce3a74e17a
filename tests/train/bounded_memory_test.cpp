// Bounded memory: no input makes a loader allocate for a size the file claims but does not back.
// Each loader runs on a small crafted file that claims a huge size — a 2^62-byte header, a shape or
// a count of 2^40, a config with 2^31 − 1 layers, a gzip stream that inflates far past its IDX
// header — in a forked child whose address space is capped (RLIMIT_AS) at what it uses plus 512 MiB.
// The loader must refuse the file with a zo::Error; a std::bad_alloc (an allocation from the claim)
// or a crash fails the test.
#include "../test_util.hpp"

#include "zo/core/params.hpp"
#include "zo/nn/model.hpp"
#include "zo/nn/safetensors.hpp"
#include "zo/nn/tokenizer.hpp"
#include "zo/optim/optimizer.hpp"
#include "zo/tasks/dataset.hpp"
#include "zo/tasks/idx.hpp"
#include "zo/train/checkpoint.hpp"
#include "zo/train/ledger.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <zlib.h>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <new>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kAddressSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kAddressSanitizer = true;
#else
constexpr bool kAddressSanitizer = false;
#endif
#else
constexpr bool kAddressSanitizer = false;
#endif

constexpr std::uint64_t kHeadroom = 512ull << 20;

enum Outcome { refused = 0, loaded = 1, out_of_memory = 2, other_exception = 3 };

std::uint64_t address_space_in_use() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.starts_with("VmSize:")) return std::stoull(line.substr(7)) * 1024;
  return 0;
}

// Runs `load` in a child capped at its current address space + kHeadroom; returns its Outcome, or
// 128 + signal when it crashed.
int capped(const std::function<void()>& load) {
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    const rlim_t cap = address_space_in_use() + kHeadroom;
    const rlimit limit{cap, cap};
    if (::setrlimit(RLIMIT_AS, &limit) != 0) ::_exit(100);
    try {
      load();
      ::_exit(loaded);
    } catch (const zo::Error& e) {
      std::fprintf(stderr, "refused: %s\n", e.what());
      ::_exit(refused);
    } catch (const std::bad_alloc&) {
      ::_exit(out_of_memory);
    } catch (...) {
      ::_exit(other_exception);
    }
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void put(const fs::path& p, std::string_view bytes) {
  std::ofstream out(p, std::ios::binary);
  out.write(bytes.data(), std::streamsize(bytes.size()));
}

std::string le64(std::uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[std::size_t(i)] = char(v >> (8 * i));
  return s;
}

std::string safetensors(const std::string& header, std::string_view data = {}) { return le64(header.size()) + header + std::string(data); }

std::string be32(std::uint32_t v) { return {char(v >> 24), char(v >> 16), char(v >> 8), char(v)}; }

std::string gzip_member(std::string_view bytes) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&zs, uLong(bytes.size())) + 64, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
  zs.avail_in = uInt(bytes.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = uInt(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

class BoundedMemory : public ::testing::Test {
 protected:
  void SetUp() override {
    if (kAddressSanitizer) GTEST_SKIP() << "skipped: RLIMIT_AS cannot cap a process under AddressSanitizer";
    dir_ = zo::test::fresh_dir("zo_bounded_memory_");
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  void expect_refused(const std::string& what, const std::function<void()>& load) {
    const int r = capped(load);
    EXPECT_EQ(r, refused) << what << ": " << (r == loaded            ? "loaded"
                                              : r == out_of_memory   ? "ran out of memory (an allocation from the claimed size)"
                                              : r == other_exception ? "threw something other than zo::Error"
                                                                     : fmt::format("ended with status {}", r));
  }
  fs::path dir_;
};

TEST_F(BoundedMemory, TheCapStopsAnAllocationFromAClaim) {
  // The harness itself: a 2^40-byte allocation in the child is an out-of-memory outcome.
  EXPECT_EQ(capped([] { std::vector<char> v(std::size_t(1) << 40); }), out_of_memory);
  EXPECT_EQ(capped([] { std::vector<char> v(std::size_t(64) << 20, 1); }), loaded);
}

TEST_F(BoundedMemory, SafetensorsRefusesClaimedSizesBeforeAllocating) {
  const fs::path p = dir_ / "x.safetensors";
  put(p, le64(std::uint64_t(1) << 62) + "{}");
  expect_refused("a 2^62-byte header length", [&] { zo::nn::SafeTensors::open(p); });
  put(p, le64(99'000'000) + "{}");
  expect_refused("a 99 MB header length in a 10-byte file", [&] { zo::nn::SafeTensors::open(p); });
  put(p, safetensors(R"({"w":{"dtype":"F32","shape":[1099511627776,1099511627776],"data_offsets":[0,16]}})", std::string(16, '\0')));
  expect_refused("a 2^80-element shape", [&] { zo::nn::SafeTensors::open(p); });
  put(p, safetensors(R"({"w":{"dtype":"F32","shape":[1073741824,1024],"data_offsets":[0,4398046511104]}})", std::string(16, '\0')));
  expect_refused("a 4 TiB tensor in a small file", [&] { zo::nn::SafeTensors::open(p); });
}

TEST_F(BoundedMemory, ModelLoadRefusesAConfigClaimingHugeSizes) {
  const fs::path model = fs::path(ZO_SOURCE_DIR) / "tests/data/models/opt-tied";
  const nlohmann::json base = nlohmann::json::parse(zo::test::slurp(model / "config.json"));
  const fs::path d = dir_ / "model";
  fs::create_directories(d);
  fs::create_symlink(model / "model.safetensors", d / "model.safetensors");
  const std::vector<std::pair<std::string, nlohmann::json>> claims = {
      {"num_hidden_layers", 2147483647},        {"num_hidden_layers", std::int64_t(1) << 40},
      {"vocab_size", std::int64_t(1) << 40},    {"hidden_size", std::int64_t(1) << 40},
      {"ffn_dim", std::int64_t(1) << 40},       {"max_position_embeddings", 9223372036854775807ll},
      {"num_attention_heads", 2147483647},
  };
  for (const auto& [field, value] : claims) {
    nlohmann::json config = base;
    config[field] = value;
    put(d / "config.json", config.dump());
    expect_refused(fmt::format("config.json {} = {}", field, value.dump()), [&] { zo::nn::Model::load(d); });
  }
}

TEST_F(BoundedMemory, IdxRefusesAHeaderClaimAndAGzipBomb) {
  const fs::path p = dir_ / "x.idx";
  put(p, std::string("\0\0\x08\x03", 4) + be32(0xffffffffu) + be32(0xffffffffu) + be32(0x7fffffffu) + "data");
  expect_refused("IDX dimensions 2^32 × 2^32 × 2^31", [&] { zo::tasks::read_idx(p); });
  put(p, std::string("\0\0\x08\x02", 4) + be32(1u << 20) + be32(1u << 20) + "data");
  expect_refused("IDX dimensions 2^20 × 2^20 in 4 bytes", [&] { zo::tasks::read_idx(p); });
  // A gzip bomb: a header promising 100 bytes, then 1 GiB of zeros in 1024 gzip members of ~1 KiB.
  const std::string zeros(1 << 20, '\0');
  std::string bomb = gzip_member(std::string("\0\0\x08\x01", 4) + be32(100));
  const std::string member = gzip_member(zeros);
  for (int i = 0; i < 1024; ++i) bomb += member;
  ASSERT_LT(bomb.size(), 4u << 20);
  put(dir_ / "bomb.gz", bomb);
  expect_refused("a 1 GiB gzip stream behind a 100-byte IDX header", [&] { zo::tasks::read_idx(dir_ / "bomb.gz"); });
}

TEST_F(BoundedMemory, CheckpointAndOptimizerStateRefuseClaimedCounts) {
  // StateDict: counts of 2^62 entries and of 2^60 floats in a few bytes.
  std::string zosd = "ZOSD" + std::string("\1\0\0\0", 4) + std::string("\0\0\0\0", 4);
  expect_refused("2^62 scalars", [&] { zo::StateDict::deserialize(zosd + le64(std::uint64_t(1) << 62)); });
  const std::string one_tensor = zosd + le64(0) + le64(1) + std::string("\1\0\0\0", 4) + "t";
  expect_refused("a tensor of 2^60 floats", [&] { zo::StateDict::deserialize(one_tensor + le64(std::uint64_t(1) << 60)); });

  // load_checkpoint: a state.json that records 2^62-byte files.
  std::vector<float> w(4, 1.0f);
  zo::ParamSet set;
  set.add("w", zo::DType::f32, {4}, w.data());
  zo::StateDict sd;
  sd.kind = "zo-sgd";
  sd.scalars["t"] = 0;
  const fs::path ck = zo::write_checkpoint(dir_ / "ck", set, sd, zo::RunState{});
  nlohmann::json meta = nlohmann::json::parse(zo::test::slurp(ck / "state.json"));
  meta["files"]["params.safetensors"]["bytes"] = std::uint64_t(1) << 62;
  put(ck / "state.json", meta.dump());
  expect_refused("a checkpoint recording a 2^62-byte file", [&] { zo::load_checkpoint(ck, set); });
}

TEST_F(BoundedMemory, TokenizerLedgerAndTaskDataHoldOnlyWhatTheFileHolds) {
  // The largest token id does not size a table.
  const fs::path tok = dir_ / "tokenizer.json";
  put(tok, R"({"model":{"type":"BPE","vocab":{"a":2147483646,"b":0},"merges":[]},"added_tokens":[{"id":5,"content":"<s>","special":true}]})");
  EXPECT_EQ(capped([&] {
              const auto t = zo::nn::Tokenizer::from_file(tok);
              if (t.vocab_size() != 2147483647 || t.encode("ab", false).size() != 2) throw zo::Error("unexpected");
            }),
            loaded);
  // The ledger and JSONL readers hold the file; a row claiming a huge step is only a number.
  const fs::path ledger = dir_ / "ledger.tsv";
  put(ledger, "zo-ledger 1\nconfig {}\n9223372036854775807\t1\t1\t0.5\t1;2\t0.1\t-\t0\t00000000\n");
  expect_refused("a ledger row with a bad CRC", [&] { zo::read_ledger(ledger); });
  const fs::path jsonl = dir_ / "data.jsonl";
  put(jsonl, std::string(1 << 20, '[') + "\n");
  expect_refused("a JSONL line of 2^20 open brackets", [&] { zo::tasks::read_jsonl(jsonl); });
}

}  // namespace
