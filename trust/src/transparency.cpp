// Rekor v1: the signed entry timestamp, the RFC 6962 inclusion proof and the
// signed checkpoint (a transparency-dev signed note).
#include <algorithm>
#include <charconv>

#include "codec.hpp"
#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/hash.hpp"
#include "steps.hpp"

namespace kernel_lock::trust::detail {
namespace {

const LogKey& log_key_for(const TransparencyLogEntry& entry, const RootMaterial& root, VerifyStep step) {
  const LogKey* key = root.root().find_tlog(entry.log_id);
  if (!key) fail(step, "no transparency log in the trusted root has log ID " + to_hex(entry.log_id));
  return *key;
}

// RFC 8785 form of {body, integratedTime, logID, logIndex}: all values are ASCII
// (base64, hex, integers), so sorted keys and no whitespace is the canonical form.
std::string set_payload(const TransparencyLogEntry& entry) {
  return R"({"body":")" + base64_encode(entry.canonicalized_body) +
         R"(","integratedTime":)" + std::to_string(entry.integrated_time) + R"(,"logID":")" + to_hex(entry.log_id) +
         R"(","logIndex":)" + std::to_string(entry.log_index) + "}";
}

Bytes hash_children(std::span<const std::uint8_t> left, std::span<const std::uint8_t> right) {
  Bytes data;
  data.reserve(1 + left.size() + right.size());
  data.push_back(0x01);
  data.insert(data.end(), left.begin(), left.end());
  data.insert(data.end(), right.begin(), right.end());
  return sha256(data);
}

struct Note {
  std::string text;  // the signed part: every line up to the blank line, each ending in '\n'
  std::vector<std::string> lines;
  struct Signature {
    std::string name;
    Bytes hint_and_signature;
  };
  std::vector<Signature> signatures;
};

constexpr std::string_view kEmDash = "\xE2\x80\x94";
constexpr std::size_t kMaxNoteSignatures = 16;

Note::Signature parse_signature_line(std::string_view line) {
  if (line.substr(0, kEmDash.size()) != kEmDash || line.size() < kEmDash.size() + 1 ||
      line[kEmDash.size()] != ' ') {
    fail(VerifyStep::checkpoint, "malformed signature line in checkpoint");
  }
  line.remove_prefix(kEmDash.size() + 1);
  const auto space = line.find(' ');
  if (space == std::string_view::npos || space == 0) fail(VerifyStep::checkpoint, "malformed signature line");
  Note::Signature sig{std::string(line.substr(0, space)), {}};
  try {
    sig.hint_and_signature = base64_decode(line.substr(space + 1), "checkpoint signature", 4096);
  } catch (const Error& e) {
    fail(VerifyStep::checkpoint, e.message());
  }
  if (sig.hint_and_signature.size() < 5) fail(VerifyStep::checkpoint, "checkpoint signature too short");
  return sig;
}

Note parse_note(std::string_view envelope) {
  const auto split = envelope.find("\n\n");
  if (split == std::string_view::npos || envelope.find("\n\n", split + 1) != std::string_view::npos) {
    fail(VerifyStep::checkpoint, "checkpoint must contain exactly one blank line before its signatures");
  }
  Note note;
  note.text = std::string(envelope.substr(0, split + 1));
  std::string_view rest = envelope.substr(split + 2);
  if (rest.empty() || rest.back() != '\n') fail(VerifyStep::checkpoint, "checkpoint signatures must end in a newline");
  for (std::string_view text = note.text; !text.empty();) {
    const auto eol = text.find('\n');
    note.lines.emplace_back(text.substr(0, eol));
    text.remove_prefix(eol + 1);
  }
  while (!rest.empty()) {
    if (note.signatures.size() == kMaxNoteSignatures) fail(VerifyStep::checkpoint, "too many checkpoint signatures");
    const auto eol = rest.find('\n');
    note.signatures.push_back(parse_signature_line(rest.substr(0, eol)));
    rest.remove_prefix(eol + 1);
  }
  if (note.lines.size() < 3 || note.lines[0].empty()) fail(VerifyStep::checkpoint, "checkpoint has too few lines");
  return note;
}

}  // namespace

UnixTime verify_signed_entry_timestamp(const TransparencyLogEntry& entry, const RootMaterial& root) {
  const LogKey& log = log_key_for(entry, root, VerifyStep::signing_time);
  if (!log.valid_for.contains(entry.integrated_time)) {
    fail(VerifyStep::signing_time, "integratedTime " + std::to_string(entry.integrated_time) +
                                       " lies outside the validity window of log key " + to_hex(log.key_id));
  }
  EVP_PKEY* key = root.key_of(log, VerifyStep::signing_time);
  if (!verify_message(key, as_bytes(set_payload(entry)), entry.signed_entry_timestamp, log_key_hash(log.key_details))) {
    fail(VerifyStep::signing_time, "signed entry timestamp does not verify with the log key of " + log.base_url);
  }
  return entry.integrated_time;
}

void verify_inclusion_proof(const TransparencyLogEntry& entry) {
  const auto& proof = entry.inclusion_proof;
  if (proof.tree_size <= 0 || proof.log_index < 0 || proof.log_index >= proof.tree_size) {
    fail(VerifyStep::inclusion_proof, "log index " + std::to_string(proof.log_index) + " is not inside a tree of size " +
                                          std::to_string(proof.tree_size));
  }
  Bytes leaf{0x00};
  leaf.insert(leaf.end(), entry.canonicalized_body.begin(), entry.canonicalized_body.end());
  Bytes hash = sha256(leaf);
  // RFC 9162 section 2.1.3.2.
  auto fn = static_cast<std::uint64_t>(proof.log_index);
  auto sn = static_cast<std::uint64_t>(proof.tree_size - 1);
  for (const auto& sibling : proof.hashes) {
    if (sibling.size() != 32) fail(VerifyStep::inclusion_proof, "inclusion proof hash is not 32 bytes");
    if (sn == 0) fail(VerifyStep::inclusion_proof, "inclusion proof has too many hashes");
    if ((fn & 1) != 0 || fn == sn) {
      hash = hash_children(sibling, hash);
      while ((fn & 1) == 0 && fn != 0) {
        fn >>= 1;
        sn >>= 1;
      }
    } else {
      hash = hash_children(hash, sibling);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) fail(VerifyStep::inclusion_proof, "inclusion proof has too few hashes");
  if (hash != proof.root_hash) {
    fail(VerifyStep::inclusion_proof, "inclusion proof leads to root " + to_hex(hash) + ", not the bundle's root hash " +
                                          to_hex(proof.root_hash));
  }
}

void verify_checkpoint(const TransparencyLogEntry& entry, const RootMaterial& root) {
  const Note note = parse_note(entry.inclusion_proof.checkpoint);
  const LogKey& log = log_key_for(entry, root, VerifyStep::checkpoint);
  const auto it = std::find_if(note.signatures.begin(), note.signatures.end(), [&](const Note::Signature& s) {
    return std::equal(log.key_id.begin(), log.key_id.begin() + 4, s.hint_and_signature.begin());
  });
  if (it == note.signatures.end()) fail(VerifyStep::checkpoint, "checkpoint has no signature by log " + to_hex(log.key_id));
  EVP_PKEY* key = root.key_of(log, VerifyStep::checkpoint);
  const std::span<const std::uint8_t> signature(it->hint_and_signature.data() + 4, it->hint_and_signature.size() - 4);
  if (!verify_message(key, as_bytes(note.text), signature, log_key_hash(log.key_details))) {
    fail(VerifyStep::checkpoint, "checkpoint signature does not verify with the log key of " + log.base_url);
  }
  std::int64_t size = -1;
  const auto& size_line = note.lines[1];
  auto [end, ec] = std::from_chars(size_line.data(), size_line.data() + size_line.size(), size);
  if (ec != std::errc() || end != size_line.data() + size_line.size() || size != entry.inclusion_proof.tree_size) {
    fail(VerifyStep::checkpoint, "checkpoint tree size `" + size_line.substr(0, 30) + "` differs from the proof's " +
                                     std::to_string(entry.inclusion_proof.tree_size));
  }
  Bytes checkpoint_root;
  try {
    checkpoint_root = base64_decode(note.lines[2], "checkpoint root hash", 64);
  } catch (const Error& e) {
    fail(VerifyStep::checkpoint, e.message());
  }
  if (checkpoint_root != entry.inclusion_proof.root_hash) {
    fail(VerifyStep::checkpoint, "checkpoint root hash " + to_hex(checkpoint_root) + " differs from the proof's " +
                                     to_hex(entry.inclusion_proof.root_hash));
  }
}

}  // namespace kernel_lock::trust::detail
