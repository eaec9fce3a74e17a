// Writing a file so that a reader sees either the old file or the complete new one, never a part:
// write a temporary file beside it, fsync, then rename over the target (POSIX rename is atomic).
#pragma once

#include <filesystem>
#include <string_view>

namespace zo {

// Writes `bytes` to `path` atomically. Throws zo::Error naming the path and the system's reason (a
// missing folder, no permission, a full disk); no temporary file is left behind on failure.
void write_file_atomic(const std::filesystem::path& path, std::string_view bytes);

}  // namespace zo
