// HubClient::download: concurrent, resumable, verified file downloads.
// Each file streams into a temp file next to its destination while being
// hashed; a transient failure resumes with Range from the bytes already
// written (a 200 reply restarts from zero); only a file whose size and digest
// match is fsynced and renamed into place.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "hub_client_impl.hpp"
#include "kernel_lock/core/fs.hpp"
#include "kernel_lock/core/hash.hpp"
#include "kernel_lock/core/unique_fd.hpp"

namespace kernel_lock {
using namespace detail;
namespace {

using Fd = UniqueFd;

Error io_error(const std::string& what, const std::filesystem::path& path, int err) {
  return Error(ErrorCode::io, what + " " + path.string() + ": " + std::strerror(err));
}

struct FileDownload {
  const DownloadRequest* request = nullptr;
  DigestKind kind = DigestKind::git_sha1;
  std::filesystem::path temp;
  Fd fd;
  std::optional<Hasher> hasher;
  std::uint64_t received = 0;
  std::uint64_t received_at_attempt_start = 0;
  bool body_started = false;  // this attempt's 2xx body has delivered its first chunk
  bool overflow = false;
  bool committed = false;
  int integrity_failures = 0;
  std::string error_body;  // body of a non-2xx reply (for the error message)
  std::uint64_t* batch_done = nullptr;
  std::uint64_t batch_total = 0;
  const ProgressFn* progress = nullptr;

  ~FileDownload() {
    if (!temp.empty() && !committed) {
      std::error_code ec;
      std::filesystem::remove(temp, ec);
    }
  }

  void restart_hash() {
    hasher.emplace(kind == DigestKind::lfs_sha256 ? Hasher::Algorithm::sha256 : Hasher::Algorithm::sha1);
    if (kind == DigestKind::git_sha1) hasher->update("blob " + std::to_string(request->size) + std::string(1, '\0'));
  }

  void open() {
    if (fd.valid()) return;
    const auto& dest = request->destination;
    std::error_code ec;
    if (dest.has_parent_path()) std::filesystem::create_directories(dest.parent_path(), ec);
    if (ec) throw Error(ErrorCode::io, "cannot create directory " + dest.parent_path().string() + ": " + ec.message());
    temp = temp_path_for(dest);
    fd = Fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    if (!fd.valid()) throw io_error("cannot create", temp, errno);
    restart_hash();
  }

  void truncate() {
    if (::ftruncate(fd.get(), 0) != 0 || ::lseek(fd.get(), 0, SEEK_SET) != 0) throw io_error("cannot truncate", temp, errno);
    if (batch_done) *batch_done -= received;
    received = 0;
    overflow = false;
    restart_hash();
  }

  // Body sink; false aborts the transfer.
  bool on_body(long status, std::string_view chunk) {
    if (status < 200 || status >= 300) {
      if (error_body.size() < 4096) error_body.append(chunk.substr(0, 4096 - error_body.size()));
      return true;
    }
    if (!body_started) {
      body_started = true;
      // A 200 to a Range request ignored the Range: start again from zero.
      // Only the first chunk of an attempt decides this; a body arrives in
      // many chunks and later ones append.
      if (status == 200 && received > 0) {
        truncate();
        received_at_attempt_start = 0;
      }
    }
    if (received + chunk.size() > request->size) {
      overflow = true;
      return false;
    }
    const char* p = chunk.data();
    std::size_t left = chunk.size();
    while (left > 0) {
      auto n = ::write(fd.get(), p, left);
      if (n < 0) {
        if (errno == EINTR) continue;
        return false;
      }
      p += n;
      left -= static_cast<std::size_t>(n);
    }
    hasher->update(chunk);
    received += chunk.size();
    if (batch_done) {
      *batch_done += chunk.size();
      if (progress && *progress) (*progress)(*batch_done, batch_total);
    }
    return true;
  }

  void commit() {
    if (::fsync(fd.get()) != 0) throw io_error("cannot fsync", temp, errno);
    Fd closing(fd.release());
    if (::close(closing.release()) != 0) throw io_error("cannot close", temp, errno);
    std::error_code ec;
    std::filesystem::rename(temp, request->destination, ec);
    if (ec) throw Error(ErrorCode::io, "cannot rename " + temp.string() + " to " + request->destination.string() + ": " + ec.message());
    committed = true;
    fsync_directory(request->destination.parent_path());
  }
};

// What one download attempt's response means: retry (transient, truncated,
// resumable, a digest mismatch while attempts remain: re-downloaded from zero),
// finished (verified and committed), or an Error (HTTP error, integrity after
// max_attempts mismatches, a write failure).
Outcome handle_download_response(FileDownload& f, HttpResponse& resp, const std::string& what, int max_attempts,
                                 HubStats& stats) {
  const auto& req = *f.request;
  const bool progressed = f.received > f.received_at_attempt_start;
  if (f.overflow) {
    f.truncate();
    if (++f.integrity_failures >= max_attempts)
      throw Error(ErrorCode::integrity, what + ": the server sent more than the " + std::to_string(req.size) +
                                            " bytes the listing promised");
    return Outcome::retry("server sent more bytes than expected");
  }
  if (resp.aborted) throw Error(ErrorCode::io, what + ": cannot write " + f.temp.string() + ": " + std::strerror(errno));
  if (!resp.transport_failed() && resp.status == 416 && f.received > 0) {
    f.truncate();  // our offset is past the end: the partial bytes are suspect
    return Outcome::retry("HTTP 416 on resume");
  }
  if (resp.tls_rejected) throw http_error(resp, what, &req.repo, req.sha);
  if (resp.transport_failed() || is_transient_status(resp.status)) {
    auto o = Outcome::retry(resp.transport_failed() ? resp.error : "HTTP " + std::to_string(resp.status));
    if (!resp.transport_failed()) o.server_delay = server_retry_delay(resp);
    if (progressed && !is_transient_status(resp.status)) o.counts_as_attempt = false;  // data arrived: resume now
    return o;
  }
  if (resp.status < 200 || resp.status >= 300) {
    resp.body = f.error_body;
    throw http_error(resp, what, &req.repo, req.sha);
  }
  if (f.received < req.size) {
    // Connection closed cleanly but short (truncation without a length): resume.
    auto o = Outcome::retry("truncated: got " + std::to_string(f.received) + " of " + std::to_string(req.size) + " bytes");
    if (progressed) o.counts_as_attempt = false;
    return o;
  }
  auto actual = f.hasher->finish_hex();
  if (actual != req.digest) {
    const std::string kind_name(to_string(f.kind));
    f.truncate();
    // A load balancer with one bad node is a real case: a mismatch gets the same
    // bounded budget as other transient faults, each attempt from byte zero.
    if (++f.integrity_failures >= max_attempts)
      throw Error(ErrorCode::integrity,
                  what + ": content does not match the Hub listing in " + std::to_string(f.integrity_failures) +
                      " downloads\n  expected " + kind_name + " " + req.digest + "\n  actual   " + kind_name + " " + actual,
                  "the server or a proxy altered the file; nothing was written. Retry, or check HF_ENDPOINT/proxies");
    return Outcome::retry("digest mismatch (expected " + req.digest + ", got " + actual + ")");
  }
  f.commit();
  stats.bytes_downloaded += req.size;
  return Outcome::finished();
}

}  // namespace

void HubClient::download(const std::vector<DownloadRequest>& requests, const ProgressFn& progress) {
  if (requests.empty()) return;
  auto& transport = impl_->net("downloading " + requests.front().repo.repo_id + "/" + requests.front().path);
  std::uint64_t done = 0, total = 0;
  for (const auto& r : requests) total += r.size;
  std::vector<std::shared_ptr<FileDownload>> files;
  files.reserve(requests.size());
  Scheduler sched(transport, impl_->config, impl_->stats);
  for (const auto& r : requests) {
    check_repo_id(r.repo.repo_id, "Hub request");
    check_relative_path(r.path, "downloading from " + r.repo.repo_id);
    auto f = std::make_shared<FileDownload>();
    f->request = &r;
    try {
      f->kind = digest_kind_from_hex(r.digest);
    } catch (Error& e) {
      throw e.add_context("downloading " + r.repo.repo_id + "/" + r.path);
    }
    if (r.sha.size() != 40)
      throw Error(ErrorCode::invalid_input, "downloading " + r.repo.repo_id + "/" + r.path + ": revision '" + r.sha +
                                                "' is not a commit sha (downloads are pinned by commit)");
    f->batch_done = &done;
    f->batch_total = total;
    f->progress = &progress;
    files.push_back(f);
    auto call = std::make_shared<Call>();
    call->what = "downloading " + r.repo.repo_id + "/" + r.path + " at " + r.sha;
    auto* self = this;
    call->build = [self, f] {
      f->open();
      f->received_at_attempt_start = f->received;
      f->body_started = false;
      f->error_body.clear();
      HttpRequest req;
      req.url = self->resolve_url(f->request->repo, f->request->sha, f->request->path);
      req.timeout = self->impl_->config.download_timeout;
      req.headers.emplace_back("Accept-Encoding", "identity");  // hash the bytes as stored
      if (f->received > 0) req.range_from = f->received;
      self->impl_->add_credentials(req);
      req.on_body = [f](long status, std::string_view chunk) { return f->on_body(status, chunk); };
      return req;
    };
    call->handle = [self, f, what = call->what](HttpResponse& resp) -> Outcome {
      return handle_download_response(*f, resp, what, self->impl_->config.max_attempts, self->impl_->stats);
    };
    sched.submit(call);
  }
  sched.run();
}

}  // namespace kernel_lock
