// `zo attack` and `zo train-victim` as a user runs them: a bad file gives exit status 1 and a message
// naming it, a bad option value exit status 2 and a message naming the flag; a small good run writes
// every output file. Uses small IDX files and a tiny
// victim made here (no dependence on the installed dataset).
#include "zo/tasks/victim.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <vector>

namespace fs = std::filesystem;

namespace {

const fs::path kZo = fs::path(ZO_BINARY_DIR) / "zo";

struct Run {
  int status = -1;
  std::string output;
};

Run run(const std::string& args) {
  Run r;
  std::ostringstream os;
  os << '\'' << kZo.string() << "' " << args << " 2>&1";
  const std::string cmd = os.str();
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf{};
  while (std::fgets(buf.data(), int(buf.size()), p)) r.output += buf.data();
  const int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

void write_idx(const fs::path& p, std::vector<std::uint32_t> dims, const std::vector<std::uint8_t>& data) {
  std::vector<std::uint8_t> b = {0, 0, 0x08, std::uint8_t(dims.size())};
  for (auto d : dims)
    for (int s = 24; s >= 0; s -= 8) b.push_back(std::uint8_t(d >> s));
  b.insert(b.end(), data.begin(), data.end());
  std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
}

// A folder with 20 test images (28×28) labelled with the tiny victim's own predictions, and that victim.
class AttackCli : public testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(kZo)) GTEST_SKIP() << kZo << " not built";
    dir_ = fs::temp_directory_path() / (std::string("zo_attack_cli_") +
                                        testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "data");
    zo::tasks::Mlp m({784, 8, 10});
    m.init(5);
    m.save(dir_ / "victim.safetensors");
    std::vector<std::uint8_t> pixels(20 * 784);
    for (std::size_t i = 0; i < pixels.size(); ++i) pixels[i] = std::uint8_t((i * 2654435761u) >> 24);
    std::vector<float> x(20 * 784), logits(200);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = float(pixels[i]) / 255.0f;
    m.forward(x.data(), 20, logits.data());
    std::vector<std::uint8_t> labels(20);
    for (int r = 0; r < 20; ++r)
      labels[std::size_t(r)] = std::uint8_t(std::max_element(logits.begin() + r * 10, logits.begin() + r * 10 + 10) -
                                            (logits.begin() + r * 10));
    write_idx(dir_ / "data/t10k-images-idx3-ubyte", {20, 28, 28}, pixels);
    write_idx(dir_ / "data/t10k-labels-idx1-ubyte", {20}, labels);
  }
  std::string base(const std::string& extra, const fs::path& victim = {}, const fs::path& data = {}) const {
    std::ostringstream os;
    os << "attack --victim '" << (victim.empty() ? dir_ / "victim.safetensors" : victim).string() << "' --data '"
       << (data.empty() ? dir_ / "data" : data).string()
       << "' --out '" << (dir_ / "out").string() << "' --threads 1 " << extra;
    return os.str();
  }
  fs::path dir_;
};

}  // namespace

TEST_F(AttackCli, SmallRunWritesEveryOutput) {
  const auto r = run(base("--images 2 --queries 45 --q 4 --optimizer zo-sgd,r-adazo-bcd@0.05 --examples 2"));
  ASSERT_EQ(r.status, 0) << r.output;
  for (const char* f : {"results.csv", "curves.csv", "curves.png", "success.png", "examples.png", "summary.md"})
    EXPECT_TRUE(fs::exists(dir_ / "out" / f)) << f;
  std::ifstream in(dir_ / "out/results.csv");
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line.rfind("image,label,optimizer,success,first_success_query", 0), 0u) << line;
  int rows = 0;
  while (std::getline(in, line)) ++rows;
  EXPECT_EQ(rows, 4);  // 2 images × 2 methods
  EXPECT_NE(r.output.find("| r-adazo-bcd@0.05 |"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("success rate"), std::string::npos);
}

TEST_F(AttackCli, MissingOrCorruptVictimIsNamed) {
  auto r = run(base("--images 1 --queries 10", dir_ / "nope.safetensors"));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("nope.safetensors"), std::string::npos) << r.output;
  std::ofstream(dir_ / "junk.safetensors") << "junk";
  r = run(base("--images 1 --queries 10", dir_ / "junk.safetensors"));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("junk.safetensors"), std::string::npos) << r.output;
}

TEST_F(AttackCli, VictimThatDoesNotFitTheImagesIsNamed) {
  zo::tasks::Mlp small({100, 4, 10});
  small.save(dir_ / "small.safetensors");
  const auto r = run(base("--images 1 --queries 10", dir_ / "small.safetensors"));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("small.safetensors takes 100 inputs"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("784 pixels"), std::string::npos) << r.output;
}

TEST_F(AttackCli, MissingOrCorruptDataIsNamed) {
  auto r = run(base("--images 1 --queries 10", {}, dir_ / "absent"));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("absent"), std::string::npos) << r.output;
  // Truncate the images file.
  fs::resize_file(dir_ / "data/t10k-images-idx3-ubyte", 1000);
  r = run(base("--images 1 --queries 10"));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("t10k-images-idx3-ubyte: truncated IDX data"), std::string::npos) << r.output;
}

TEST_F(AttackCli, BadBudgetImageCountAndOptimizerAreNamed) {
  // Option values: usage errors (exit 2) naming the flag.
  auto r = run(base("--images 1 --queries 0"));
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.output.find("option --queries = 0"), std::string::npos) << r.output;
  r = run(base("--images 0 --queries 10"));
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.output.find("option --images = 0"), std::string::npos) << r.output;
  r = run(base("--images 1 --queries 10 --optimizer zo-sgd,adam"));
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.output.find("option --optimizer = 'adam'"), std::string::npos) << r.output;
  r = run(base("--images 1 --queries 10 --box sphere"));
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.output.find("option --box = 'sphere'"), std::string::npos) << r.output;
  r = run(base("--images 1 --queries 10 --lr-grid 0.1,-1"));
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.output.find("option --lr-grid = 0.1,-1"), std::string::npos) << r.output;
  r = run(base("--images 1 --queries ten"));
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.output.find("option --queries = 'ten'"), std::string::npos) << r.output;
  // More images than the data holds: known only once the data is read (exit 1).
  r = run(base("--images 21 --queries 10"));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("images = 21"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("only 20"), std::string::npos) << r.output;
}

TEST_F(AttackCli, TrainVictimNamesMissingData) {
  const auto r = run("train-victim --data '" + (dir_ / "data").string() + "' --out '" + (dir_ / "v.safetensors").string() +
                     "' --epochs 1");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("train-images-idx3-ubyte"), std::string::npos) << r.output;
  const auto bad = run("train-victim --data '" + (dir_ / "data").string() + "' --epochs 0");
  EXPECT_EQ(bad.status, 1);
  EXPECT_NE(bad.output.find("epochs"), std::string::npos) << bad.output;
}
