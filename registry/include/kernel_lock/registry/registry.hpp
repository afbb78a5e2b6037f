// An OCI distribution-spec registry client (docs/oci.md, "Registry push/pull"):
// `kernel-lock push LAYOUT oci://HOST[:PORT]/REPO:TAG`, `pull`/`install oci://...`.
// It runs over the HTTP transport seam (hub/http.hpp), so unit tests drive it
// with an in-process fake registry. Never prints: progress goes to callbacks.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "kernel_lock/bundle/install.hpp"
#include "kernel_lock/oci/layout.hpp"

namespace kernel_lock {

class HttpTransport;  // kernel_lock/hub/http.hpp

// oci://HOST[:PORT]/REPO[:TAG|@sha256:HEX]
struct OciReference {
  std::string host;        // "host" or "host:port" as written ("[::1]:5000" for IPv6)
  std::string repository;  // lower-case path components [a-z0-9._-/]
  std::string tag;         // empty when `digest` is given
  std::string digest;      // "sha256:<hex>" or empty
  std::string reference() const { return digest.empty() ? tag : digest; }  // tag, else digest
  std::string to_string() const;  // oci://host/repo:tag (or @digest)
};

bool is_oci_reference(std::string_view text) noexcept;  // starts with "oci://"
// Parses an oci:// reference; no tag and no digest means tag "latest".
// Throws Error(usage) naming what is wrong.
OciReference parse_oci_reference(std::string_view text);
// True for 127.0.0.0/8, ::1 and localhost: plain http is allowed there without --insecure.
bool is_loopback_host(std::string_view host_port);

struct RegistryCredential {
  std::string username;
  std::string password;
};

// Credentials for `host` (as in OciReference::host) from a docker config:
// `credHelpers[host]`, then `auths[host]` (base64 "user:password" in `auth`, or
// `username`/`password`; keys may carry a scheme and a path), then `credsStore`.
// A helper runs as `docker-credential-<name> get` with the host on stdin.
// `config` is the file, or a directory holding config.json; empty:
// $DOCKER_CONFIG/config.json, else ~/.docker/config.json. A missing file or a
// missing helper gives nullopt. Throws Error(invalid_input) for a malformed
// file (size-limited, bounded JSON) or a bad `auth` value.
std::optional<RegistryCredential> docker_config_credential(std::string_view host, const std::filesystem::path& config = {});

struct RegistryOptions {
  // --username/--password-stdin; else the docker config is asked.
  std::optional<RegistryCredential> credential;
  std::filesystem::path docker_config;  // --docker-config (file or directory)
  bool insecure = false;                // plain http to a non-loopback host
  // https even for loopback / --insecure hosts (the CLI sets it with --ca-file:
  // a loopback registry behind TLS). Otherwise those speak plain http.
  bool force_https = false;
  int max_attempts = 5;                 // per request, for 408/429/5xx and transport errors
  std::chrono::milliseconds initial_backoff{200};  // doubled per attempt, plus jitter (hub/retry.hpp)
  std::chrono::milliseconds max_backoff{8000};
  std::chrono::milliseconds timeout{30000};        // connect timeout and stall limit
  // KERNEL_LOCK_OCI_RETRIES (attempts), KERNEL_LOCK_OCI_BACKOFF_MS (initial
  // backoff), KERNEL_LOCK_OCI_MAX_BACKOFF_MS; Throws Error(usage) for a bad value.
  static RegistryOptions from_environment();
};

// One step of a push or pull, for progress output.
struct RegistryEvent {
  enum class Kind { blob_skipped, blob_mounted, blob_bytes, blob_done, manifest_put, tagged, blob_fetched } kind;
  std::string digest;       // "sha256:..."
  std::uint64_t done = 0;   // bytes of this blob sent or received so far
  std::uint64_t total = 0;  // its size
};
using RegistryProgressFn = std::function<void(const RegistryEvent&)>;

struct PushOptions {
  std::uint64_t chunk_size = 0;  // 0: monolithic upload (POST then PUT ?digest=); else PATCH chunks
  std::string mount_from;        // cross-repository mount source repository
  std::string layout_tag;        // the layout's tag to push (empty: the only one)
  RegistryProgressFn progress;
};

struct PushSummary {
  std::size_t uploaded = 0, skipped = 0, mounted = 0, manifests = 0;
  std::uint64_t bytes_uploaded = 0;
  std::uint64_t resumed = 0;  // uploads continued from the server's Range after a failure
};

// Pushes the OCI layout directory `layout` (validated by read_oci_layout first)
// to `target`: every blob (HEAD first: present blobs are skipped; mounted from
// options.mount_from when the registry offers it, 201; else uploaded), then
// each kernel manifest by digest, then the lock's index under target.tag.
// Interrupted uploads resume from the Range the registry reports (404: start
// over). Throws Error(network) after retries, Error(not_found) naming the
// credentials to use for 401/403, Error(invalid_input) for a bad layout.
PushSummary push_oci_layout(HttpTransport& transport, const std::filesystem::path& layout, const OciReference& target,
                            const RegistryOptions& options, const PushOptions& push = {});

struct PullOptions {
  OciVariantFilter keep;  // unset: every variant
  RegistryProgressFn progress;
};

struct PullSummary {
  std::size_t blobs = 0;          // fetched (manifests, configs, layers)
  std::size_t layers_skipped = 0; // of variants not kept
  std::uint64_t bytes = 0;        // fetched
};

// Fetches `source` into the OCI layout directory `layout` (created; its
// index.json tags the lock's index source.reference()): the index, every
// manifest and config, and the layers of the kept variants only. Every blob is
// hashed while it streams and must match its digest and size (Error(integrity),
// nothing kept). Throws Error(not_found) for a missing tag (naming the tags the
// registry lists), Error(network), Error(invalid_input) for a reply that is not
// a kernel-lock artifact.
PullSummary pull_oci_layout(HttpTransport& transport, const OciReference& source, const std::filesystem::path& layout,
                            const RegistryOptions& options, const PullOptions& pull = {});

// `kernel-lock pull` / `install oci://`: pull_oci_layout into a temp dir inside
// the target cache, then read_oci_layout (kept variants only) and install_plan
// with `install` (lock hashes, signatures, staging, atomic publish). Nothing
// is installed when any check fails.
InstallSummary install_from_registry(HttpTransport& transport, const OciReference& source, const RegistryOptions& options,
                                     const PullOptions& pull, const InstallOptions& install, PullSummary* pulled = nullptr);

}  // namespace kernel_lock
