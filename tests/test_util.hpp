// Helpers shared by the test programs: error-message checks and per-test scratch folders.
#pragma once

#include "zo/util/error.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

namespace zo::test {

// Runs f and expects a zo::Error whose message contains every one of `parts`.
template <class F>
void expect_error(F&& f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "no zo::Error thrown";
  } catch (const zo::Error& e) {
    const std::string m = e.what();
    for (const auto& part : parts) EXPECT_NE(m.find(part), std::string::npos) << "message: " << m << "\nlacks: " << part;
  }
}

// An empty folder <tmp>/<prefix><current test's name>, made afresh.
inline std::filesystem::path fresh_dir(const std::string& prefix) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::filesystem::path d = std::filesystem::temp_directory_path() / (prefix + info->name());
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d;
}

}  // namespace zo::test
