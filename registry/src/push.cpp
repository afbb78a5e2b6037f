// push_oci_layout: blobs first (HEAD, mount, monolithic or chunked upload with
// resume), then the kernel manifests by digest, then the lock's index by tag.
#include <set>

#include <nlohmann/json.hpp>

#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/fs.hpp"
#include "kernel_lock/core/json.hpp"
#include "kernel_lock/hub/retry.hpp"
#include "session.hpp"

namespace kernel_lock {
namespace fs = std::filesystem;
using nlohmann::json;
using registry_detail::kMaxJson;
using registry_detail::Session;
namespace {


struct LayoutBlob {
  std::string digest;  // sha256:<hex>
  std::uint64_t size = 0;
  std::string media_type;
  fs::path file;
};

LayoutBlob blob_of(const fs::path& root, const json& d) {
  const std::string digest = d.at("digest").get<std::string>();
  return {digest, d.at("size").get<std::uint64_t>(), d.at("mediaType").get<std::string>(),
          root / "blobs" / "sha256" / digest.substr(7)};
}

json read_json(const fs::path& p) { return parse_json_bounded<json>(read_file_at_most(p, kMaxJson), p.string(), kMaxJson, ""); }

// What a validated layout pushes: the file and config blobs, the kernel
// manifests, the lock's index (its tag: `tag`, or the only one).
struct PushList {
  std::vector<LayoutBlob> blobs, manifests;
  LayoutBlob index;
};

PushList list_layout(const fs::path& root, std::string_view tag) {
  PushList out;
  const json top = read_json(root / kOciIndexFile);
  for (const auto& m : top.at("manifests"))
    if (m.value("mediaType", "") == kOciIndexType &&
        (tag.empty() || m.value("annotations", json::object()).value(std::string(kOciRefNameAnnotation), "") == tag))
      out.index = blob_of(root, m);
  std::set<std::string> seen;
  auto add = [&](const LayoutBlob& b) {
    if (seen.insert(b.digest).second) out.blobs.push_back(b);
  };
  const json index = read_json(out.index.file);
  for (const auto& m : index.at("manifests")) {
    out.manifests.push_back(blob_of(root, m));
    const json manifest = read_json(out.manifests.back().file);
    add(blob_of(root, manifest.at("config")));
    for (const auto& layer : manifest.at("layers")) add(blob_of(root, layer));
  }
  return out;
}

std::string with_query(const std::string& url, const std::string& query) {
  return url + (url.find('?') == std::string::npos ? "?" : "&") + query;
}

class BlobPusher {
 public:
  BlobPusher(Session& s, const PushOptions& o, PushSummary& sum)
      : s_(s), o_(o), sum_(sum), scope_("repository:" + s.ref().repository + ":pull,push") {
    if (!o_.mount_from.empty()) mount_scope_ = scope_ + " repository:" + o_.mount_from + ":pull";
  }

  void push(const LayoutBlob& b) {
    const std::string what = "pushing blob " + b.digest + " to " + s_.ref().to_string();
    auto head = s_.send([&] { return request("HEAD", s_.repo_url() + "/blobs/" + b.digest); }, what, scope_);
    if (head.status == 200) {
      ++sum_.skipped;
      event(RegistryEvent::Kind::blob_skipped, b, b.size);
      return;
    }
    if (head.status != 404) throw s_.status_error(head, what + ": HEAD");
    if (start(b, what, !o_.mount_from.empty())) return;
    upload(b, what);
    ++sum_.uploaded;
    event(RegistryEvent::Kind::blob_done, b, b.size);
  }

 private:
  HttpRequest request(std::string method, std::string url) const {
    HttpRequest r;
    r.method = std::move(method);
    r.url = std::move(url);
    return r;
  }
  void event(RegistryEvent::Kind k, const LayoutBlob& b, std::uint64_t done) const {
    if (o_.progress) o_.progress(RegistryEvent{k, b.digest, done, b.size});
  }

  // POST an upload session (or a mount): true when the blob is now there (mounted).
  bool start(const LayoutBlob& b, const std::string& what, bool mount) {
    std::string url = s_.repo_url() + "/blobs/uploads/";
    if (mount) url += "?mount=" + b.digest + "&from=" + o_.mount_from;
    auto r = s_.send([&] { return request("POST", url); }, what + ": starting the upload", mount ? mount_scope_ : scope_);
    if (mount && r.status == 201) {
      ++sum_.mounted;
      event(RegistryEvent::Kind::blob_mounted, b, b.size);
      return true;
    }
    if (r.status != 202 || !r.header("location")) throw s_.status_error(r, what + ": starting the upload");
    location_ = resolve_redirect(url, *r.header("location"));
    if (location_.empty()) throw Error(ErrorCode::invalid_input, what + ": bad upload Location '" + *r.header("location") + "'");
    return false;
  }

  // Sends [offset, size) (chunked: PATCHes, then the closing PUT); after a
  // failure asks the server where it stands and continues from there.
  void upload(const LayoutBlob& b, const std::string& what) {
    std::uint64_t offset = 0;
    int failures = 0;
    for (;;) {
      HttpResponse r = send_from(b, offset, what);
      if (r.status == 201) return;
      const bool transient = r.transient_transport_failure() || is_transient_status(r.status) || r.status == 416;
      if (!transient) throw s_.status_error(r, what);
      if (++failures >= s_.options().max_attempts)
        throw Error(ErrorCode::network, what + ": giving up after " + std::to_string(failures) + " attempts: " +
                                            (r.transport_failed() ? r.error : "HTTP " + std::to_string(r.status)),
                    "the registry " + s_.ref().host + " kept failing; check that it is up, or retry later");
      s_.wait_before_retry(failures, r);
      offset = resume_offset(b, what);
    }
  }

  HttpResponse send_from(const LayoutBlob& b, std::uint64_t& offset, const std::string& what) {
    const std::uint64_t chunk = o_.chunk_size ? o_.chunk_size : b.size;
    while (o_.chunk_size && offset < b.size) {
      const std::uint64_t end = std::min(b.size, offset + chunk);
      auto r = s_.send([&] {
        auto q = request("PATCH", location_);
        q.headers = {{"Content-Type", "application/octet-stream"},
                     {"Content-Range", std::to_string(offset) + "-" + std::to_string(end - 1)}};
        q.body_file = b.file.string(), q.body_offset = offset, q.body_length = end - offset;
        return q;
      }, what, scope_, false);
      if (r.status != 202) return r;
      if (auto loc = r.header("location")) location_ = resolve_redirect(location_, *loc);
      sum_.bytes_uploaded += end - offset;
      offset = end;
      event(RegistryEvent::Kind::blob_bytes, b, offset);
    }
    auto r = s_.send([&] {
      auto q = request("PUT", with_query(location_, "digest=" + b.digest));
      q.headers = {{"Content-Type", "application/octet-stream"}};
      if (offset < b.size) q.body_file = b.file.string(), q.body_offset = offset, q.body_length = b.size - offset;
      return q;
    }, what, scope_, false);
    if (r.status == 201 && offset < b.size) {
      sum_.bytes_uploaded += b.size - offset;
      offset = b.size;
    }
    return r;
  }

  // GET the upload session: its Range ("0-N") says how much arrived; 404: the
  // session is gone, start a new one from byte 0.
  std::uint64_t resume_offset(const LayoutBlob& b, const std::string& what) {
    auto r = s_.send([&] { return request("GET", location_); }, what + ": upload status", scope_);
    ++sum_.resumed;
    if (r.status == 404) {
      start(b, what, false);
      return 0;
    }
    if (r.status != 204 && r.status != 200) throw s_.status_error(r, what + ": upload status");
    if (auto loc = r.header("location")) location_ = resolve_redirect(location_, *loc);
    const auto range = r.header("range");
    if (!range) return 0;
    const auto dash = range->find('-');
    if (dash == std::string::npos) return 0;
    const std::uint64_t last = std::stoull(range->substr(dash + 1));
    return std::min<std::uint64_t>(last + 1, b.size);
  }

  Session& s_;
  const PushOptions& o_;
  PushSummary& sum_;
  std::string scope_, mount_scope_, location_;
};

void put_manifest(Session& s, const LayoutBlob& m, const std::string& reference, PushSummary& sum) {
  const std::string body = read_file_at_most(m.file, kMaxJson);
  const std::string what = "pushing manifest " + m.digest + " to " + s.ref().to_string();
  auto r = s.send([&] {
    HttpRequest q;
    q.method = "PUT";
    q.url = s.repo_url() + "/manifests/" + reference;
    q.headers = {{"Content-Type", m.media_type}};
    q.body = body;
    return q;
  }, what, "repository:" + s.ref().repository + ":pull,push");
  if (r.status != 201 && r.status != 200) throw s.status_error(r, what);
  ++sum.manifests;
}

}  // namespace

PushSummary push_oci_layout(HttpTransport& transport, const fs::path& layout, const OciReference& target,
                            const RegistryOptions& options, const PushOptions& push) {
  if (!target.digest.empty()) throw Error(ErrorCode::usage, "push needs a tag, not a digest: " + target.to_string());
  (void)read_oci_layout(layout, push.layout_tag);  // every check of the reader before a byte is sent
  const PushList list = list_layout(layout, push.layout_tag);
  Session session(transport, target, options);
  PushSummary sum;
  BlobPusher pusher(session, push, sum);
  for (const auto& b : list.blobs) pusher.push(b);
  for (const auto& m : list.manifests) {
    put_manifest(session, m, m.digest, sum);
    if (push.progress) push.progress(RegistryEvent{RegistryEvent::Kind::manifest_put, m.digest, m.size, m.size});
  }
  put_manifest(session, list.index, target.tag, sum);
  if (push.progress) push.progress(RegistryEvent{RegistryEvent::Kind::tagged, list.index.digest, list.index.size, list.index.size});
  return sum;
}

}  // namespace kernel_lock
