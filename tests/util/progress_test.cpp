// Progress lines: content, ETA, redraw on a terminal vs. lines on a log.
#include "zo/util/progress.hpp"

#include "zo/util/error.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

namespace {

std::string read_all(std::FILE* f) {
  std::fflush(f);
  std::rewind(f);
  std::string s;
  char buf[512];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) s.append(buf, n);
  return s;
}

std::size_t count(const std::string& s, char c) {
  std::size_t n = 0;
  for (char x : s) n += x == c;
  return n;
}

TEST(FormatDuration, PicksAReadableUnit) {
  EXPECT_EQ(zo::format_duration(0.25), "250 ms");
  EXPECT_EQ(zo::format_duration(12.04), "12.0 s");
  EXPECT_EQ(zo::format_duration(185), "3 min 05 s");
  EXPECT_EQ(zo::format_duration(7620), "2 h 07 min");
  EXPECT_EQ(zo::format_duration(-1), "?");
}

TEST(Progress, LineShowsCountPercentStatusAndEta) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  zo::Progress p({.label = "bench", .total = 200, .unit = "steps", .stream = f, .tty = false,
                  .tty_interval_s = 0, .log_interval_s = 0});
  std::string line = p.line(50, "loss 1.5");
  EXPECT_NE(line.find("bench"), std::string::npos) << line;
  EXPECT_NE(line.find("steps 50/200 (25%)"), std::string::npos) << line;
  EXPECT_NE(line.find("loss 1.5"), std::string::npos) << line;
  EXPECT_NE(line.find("ETA"), std::string::npos) << line;
  EXPECT_EQ(p.line(200, "").find("ETA"), std::string::npos);  // nothing left to estimate
  std::fclose(f);
}

TEST(Progress, TheEtaCountsOnlyUnitsDoneHereAndTheirWorkTime) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  // A run resumed at step 40 of 100 that spent 10 s on its 10 steps (and minutes on an evaluation):
  // 50 steps left at 1 s each.
  zo::Progress p({.label = "", .total = 100, .start = 40, .unit = "steps", .stream = f, .tty = false});
  const std::string line = p.line(50, "", 10.0);
  EXPECT_NE(line.find("ETA 50.0 s"), std::string::npos) << line;
  EXPECT_EQ(p.line(40, "", 0.0).find("ETA"), std::string::npos);  // nothing done here yet: no estimate
  std::fclose(f);
}

TEST(Progress, WritesWholeLinesWhenNotATerminal) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  zo::Progress p({.label = "", .total = 3, .unit = "steps", .stream = f, .tty = false, .tty_interval_s = 0,
                  .log_interval_s = 0});
  p.update(1, "a");
  p.update(2, "b");
  p.finish("done");
  std::string out = read_all(f);
  EXPECT_EQ(count(out, '\n'), 3u) << out;
  EXPECT_EQ(count(out, '\r'), 0u) << out;
  EXPECT_NE(out.find("steps 3/3 (100%)  done"), std::string::npos) << out;
  std::fclose(f);
}

TEST(Progress, LogIntervalThrottlesLines) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  zo::Progress p({.label = "", .total = 100, .unit = "steps", .stream = f, .tty = false, .tty_interval_s = 0,
                  .log_interval_s = 3600});
  for (int i = 1; i <= 100; ++i) p.update(i);
  p.finish();
  std::string out = read_all(f);
  EXPECT_EQ(count(out, '\n'), 2u) << out;  // the first update and the final line
  std::fclose(f);
}

TEST(Progress, RedrawsInPlaceOnATerminal) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  zo::Progress p({.label = "", .total = 10, .unit = "steps", .stream = f, .tty = true, .tty_interval_s = 0,
                  .log_interval_s = 0});
  p.update(1, "a much longer status text");
  p.update(2, "b");
  p.finish();
  std::string out = read_all(f);
  EXPECT_EQ(count(out, '\r'), 3u) << out;
  EXPECT_EQ(count(out, '\n'), 1u) << out;
  std::fclose(f);
}

TEST(Progress, RejectsBadOptions) {
  zo::ProgressOptions o;
  o.total = -1;
  EXPECT_THROW(zo::Progress{o}, zo::Error);
  o.total = 10;
  o.log_interval_s = -1;
  EXPECT_THROW(zo::Progress{o}, zo::Error);
  o.log_interval_s = 1;
  o.stream = nullptr;
  EXPECT_THROW(zo::Progress{o}, zo::Error);
}

}  // namespace
