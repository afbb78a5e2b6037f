// `kernel-lock hash DIR`: the git_lfs_concat hash of a variant directory, the
// value kernel.lock records per variant (docs/formats.md, "Variant hash").
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "kernel_lock/cache/snapshot.hpp"
#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/hash.hpp"

namespace kernel_lock::cli {
namespace {

struct HashArgs {
  std::string dir;
  std::vector<std::string> lfs_globs;
  bool cache_links = false;
  bool json = false;
  bool files = false;
  unsigned jobs = 0;
};

int run_hash(const HashArgs& args) {
  if (args.cache_links && !args.lfs_globs.empty())
    throw Error(ErrorCode::usage, "--lfs and --cache-links exclude each other",
                "--cache-links takes each file's digest kind from its cache blob name");
  std::vector<std::string> globs = args.lfs_globs.empty() ? std::vector<std::string>{"*.so"} : args.lfs_globs;
  const auto result = with_context(
      "hashing " + args.dir,
      [&] {
        // --cache-links: the strict snapshot policy of the repository the directory is in.
        SnapshotOptions options{args.cache_links ? SnapshotPolicy::strict : SnapshotPolicy::plain, {}};
        if (args.cache_links) options.blobs = snapshot_repo_root(args.dir) / "blobs";
        options.follow_root_link = true;
        return hash_variant_directory(args.dir, options, lfs_glob_chooser(globs), args.jobs);
      },
      ErrorCode::io);

  if (args.json) {
    nlohmann::ordered_json out;
    out["path"] = args.dir;
    out["hash"] = result.hash;
    out["hash_type"] = "git_lfs_concat";
    auto files = nlohmann::ordered_json::array();
    for (const auto& f : result.files) {
      nlohmann::ordered_json entry;
      entry["path"] = f.path;
      entry["kind"] = std::string(to_string(f.kind));
      entry["digest"] = f.digest_hex;
      entry["size"] = f.size;
      files.push_back(std::move(entry));
    }
    out["files"] = std::move(files);
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  if (args.files) {
    for (const auto& f : result.files) {
      std::string kind(to_string(f.kind));
      kind.resize(8, ' ');
      std::string digest = f.digest_hex;
      digest.resize(64, ' ');
      std::cout << kind << "  " << digest << "  " << f.size << "  " << f.path << "\n";
    }
  }
  std::cout << result.hash << "\n";
  return 0;
}

}  // namespace

void add_hash_command(CLI::App& app, CliContext& ctx) {
  auto args = std::make_shared<HashArgs>();
  auto* cmd = app.add_subcommand("hash", "Print the git_lfs_concat hash of a variant directory (as kernel.lock records it)");
  cmd->footer(
      "Print the git_lfs_concat hash of a variant directory (build/<variant>/), the value kernel.lock\n"
      "records as \"hash\" for that variant.\n"
      "\n"
      "Every file below DIR is hashed, except *.pyc files and anything under a __pycache__ directory.\n"
      "Each file gets the digest the Hub names it by: the LFS sha256 of its content for LFS-stored files,\n"
      "the git blob sha1 (sha1 of \"blob <size>\\0\" + content) otherwise. The pairs (relative path with '/',\n"
      "raw digest bytes) are sorted bytewise by path and fed into one SHA-256: the result is\n"
      "sha256-<64 hex>. Symlinks to files are followed (HF cache snapshots are made of them); symlinks\n"
      "to directories, broken links and special files are errors.\n"
      "\n"
      "Which files are LFS: the Hub decides from .gitattributes and file type, which a directory on disk\n"
      "does not record. By default files matching *.so are taken as LFS; give --lfs to choose, or\n"
      "--cache-links for an HF cache snapshot, where each file links to blobs/<digest> and the blob name\n"
      "(40 or 64 hex) says which digest it is.");
  cmd->add_option("DIR", args->dir, "Variant directory to hash, e.g. build/torch211-cxx11-cu130-x86_64-linux")->required();
  cmd->add_option("--lfs", args->lfs_globs,
                  "Glob (fnmatch; '*' also matches '/') of files stored in LFS, matched against the relative path\n"
                  "and the basename; repeat for several. Default: *.so")
      ->type_name("GLOB");
  cmd->add_flag("--cache-links", args->cache_links,
                "DIR is in an HF cache snapshot: take each file's digest kind from the name of the blob its\n"
                "symlink points at, and check the content against that name (exit 6 on mismatch)");
  cmd->add_flag("--files", args->files, "Also list each file: digest kind (git-sha1|sha256), digest, size, path");
  cmd->add_flag("--json", args->json,
                "Print JSON: {path, hash, hash_type, files: [{path, kind, digest, size}]}");
  cmd->add_option("-j,--jobs", args->jobs, "Files hashed in parallel (default: all cores)");
  cmd->footer(cmd->get_footer() + "\n\n" +
      "Output: the hash alone on the last line (after the file list with --files).\n"
      "Exit codes: 0 ok, 2 usage, 3 invalid input (special file, bad cache link), 5 DIR or a link target\n"
      "missing, 6 cache blob name does not match content (--cache-links), 8 read error.");
  cmd->callback([args, &ctx] { ctx.action = [args] { return run_hash(*args); }; });
}

}  // namespace kernel_lock::cli
