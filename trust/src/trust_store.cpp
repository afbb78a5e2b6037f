#include "kernel_lock/trust/trust_store.hpp"

#include <sys/stat.h>

#include <charconv>
#include <chrono>
#include <cstdlib>
#include <system_error>

#include <nlohmann/json.hpp>

#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/fs.hpp"
#include "kernel_lock/core/hash.hpp"
#include "kernel_lock/core/json.hpp"

namespace kernel_lock::trust {
namespace {

namespace fs = std::filesystem;

constexpr const char* kRootFile = "trusted_root.json";
constexpr const char* kRecordFile = "captured.json";
constexpr std::size_t kMaxRecordBytes = 4096;
constexpr std::int64_t kSecondsPerDay = 86400;
constexpr const char* kRefreshHint =
    "on a connected machine, get a current trusted_root.json (`cosign trusted-root create`, or the one sigstore's "
    "TUF client keeps) and run `kernel-lock trust import trusted_root.json`, then rebuild the bundle with "
    "`kernel-lock bundle --trusted-root trusted_root.json`";

Error damaged(const fs::path& file, const std::string& why) {
  return Error(ErrorCode::invalid_input, file.string() + ": damaged trust store: " + why,
               "re-import the trusted root: `kernel-lock trust import trusted_root.json` (or install a bundle that "
               "carries one)");
}

UnixTime read_record(const fs::path& record_path, std::string& sha256) {
  nlohmann::json record;
  try {
    record = parse_json_bounded<nlohmann::json>(read_file_at_most(record_path, kMaxRecordBytes), record_path.string(),
                                                kMaxRecordBytes, "");
  } catch (const Error& e) {
    if (e.code() != ErrorCode::invalid_input) throw;
    throw damaged(record_path, e.message());
  }
  if (!record.is_object() || !record.contains("captured_at") || !record["captured_at"].is_string() ||
      !record.contains("sha256") || !record["sha256"].is_string())
    throw damaged(record_path, "expected {\"captured_at\": \"<RFC 3339>\", \"sha256\": \"<hex>\"}");
  sha256 = record["sha256"].get<std::string>();
  try {
    return parse_rfc3339(record["captured_at"].get<std::string>());
  } catch (const Error& e) {
    throw damaged(record_path, e.message());
  }
}

std::string record_json(const CapturedTrustRoot& root) {
  nlohmann::ordered_json record = nlohmann::ordered_json::object();
  record["captured_at"] = format_rfc3339(root.captured_at);
  record["sha256"] = root.sha256_hex();
  return record.dump(2) + "\n";
}

}  // namespace

std::string CapturedTrustRoot::sha256_hex() const { return kernel_lock::sha256_hex(json); }

fs::path trust_store_dir(const fs::path& cache_dir) { return cache_dir / kTrustStoreDirName; }

std::optional<CapturedTrustRoot> read_trust_store(const fs::path& cache_dir) {
  const auto dir = trust_store_dir(cache_dir);
  const auto record_path = dir / kRecordFile;
  const auto root_path = dir / kRootFile;
  std::error_code ec;
  const bool has_record = fs::exists(record_path, ec);
  const bool has_root = fs::exists(root_path, ec);
  if (!has_record && !has_root) return std::nullopt;
  if (!has_record) throw damaged(record_path, "missing (the trusted root next to it has no capture time)");
  if (!has_root) throw damaged(root_path, "missing (" + record_path.filename().string() + " refers to it)");
  CapturedTrustRoot root;
  std::string expected_sha256;
  root.captured_at = read_record(record_path, expected_sha256);
  root.json = read_file_at_most(root_path, kMaxTrustedRootBytes);
  root.origin = root_path;
  if (root.sha256_hex() != expected_sha256)
    throw damaged(root_path, "its sha256 is not the one " + record_path.filename().string() + " records");
  with_context(root_path.string(), [&] { (void)parse_trusted_root(root.json); });
  return root;
}

TrustStoreWrite write_trust_store(const fs::path& cache_dir, const CapturedTrustRoot& root, bool replace_newer) {
  with_context(root.origin.empty() ? std::string("trusted root") : root.origin.string(),
               [&] { (void)parse_trusted_root(root.json); });
  std::optional<CapturedTrustRoot> stored;
  try {
    stored = read_trust_store(cache_dir);
  } catch (const Error& e) {
    if (e.code() != ErrorCode::invalid_input) throw;  // a damaged store is replaced
  }
  if (stored && stored->json == root.json && stored->captured_at == root.captured_at) return TrustStoreWrite::unchanged;
  if (stored && stored->captured_at > root.captured_at && !replace_newer) return TrustStoreWrite::kept_newer;
  const auto dir = trust_store_dir(cache_dir);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw Error(ErrorCode::io, dir.string() + ": cannot create directory: " + ec.message());
  write_file_atomic(dir / kRootFile, root.json);
  write_file_atomic(dir / kRecordFile, record_json(root));
  return TrustStoreWrite::written;
}

CapturedTrustRoot read_trust_root_file(const fs::path& path, UnixTime captured_at) {
  CapturedTrustRoot root;
  root.json = read_file_at_most(path, kMaxTrustedRootBytes);
  root.captured_at = captured_at;
  root.origin = path;
  with_context(path.string(), [&] { (void)parse_trusted_root(root.json); });
  return root;
}

std::optional<CapturedTrustRoot> load_trust_root(const std::optional<fs::path>& explicit_file,
                                                 std::optional<UnixTime> captured_at, const fs::path& cache_dir) {
  if (!explicit_file) return read_trust_store(cache_dir);
  const fs::path& file = *explicit_file;
  return with_context("trusted root " + file.string(), [&] {
    return read_trust_root_file(file, captured_at ? *captured_at : file_modification_time(file));
  });
}

UnixTime system_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

UnixTime file_modification_time(const fs::path& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) {
    const auto code = errno == ENOENT ? ErrorCode::not_found : ErrorCode::io;
    throw Error(code, path.string() + ": " + std::generic_category().message(errno));
  }
  return static_cast<UnixTime>(info.st_mtim.tv_sec);
}

void check_trust_fresh(const CapturedTrustRoot& root, UnixTime now, std::int64_t max_age_days) {
  const auto age = now - root.captured_at;
  if (age <= max_age_days * kSecondsPerDay) return;
  throw Error(ErrorCode::stale_trust,
              "the Sigstore trusted root " + (root.origin.empty() ? std::string() : "(" + root.origin.string() + ") ") +
                  "was captured " + format_rfc3339(root.captured_at) + ", " + std::to_string(age / kSecondsPerDay) +
                  " days ago: older than the " + std::to_string(max_age_days) + "-day limit (" +
                  std::string(kTrustMaxAgeEnv) + ")",
              kRefreshHint);
}

std::int64_t trust_max_age_days_from_env() {
  const std::string name(kTrustMaxAgeEnv);
  const char* text = std::getenv(name.c_str());
  if (text == nullptr || *text == '\0') return kDefaultTrustMaxAgeDays;
  std::int64_t days = 0;
  const std::string_view view(text);
  const auto [end, ec] = std::from_chars(view.data(), view.data() + view.size(), days);
  if (ec != std::errc() || end != view.data() + view.size() || days <= 0 || days > 100000)
    throw Error(ErrorCode::usage, name + "=" + std::string(view) + ": expected a positive number of days",
                "unset it for the default of " + std::to_string(kDefaultTrustMaxAgeDays) + " days");
  return days;
}

}  // namespace kernel_lock::trust
