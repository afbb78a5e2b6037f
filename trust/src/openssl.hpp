// Private: one small move-only owner per OpenSSL handle type, and the digest and
// key helpers the verification steps share. Never installed.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

namespace kernel_lock::trust::detail {

using Bytes = std::vector<std::uint8_t>;

// Owner<T, Free>: std::unique_ptr with the OpenSSL free function; move-only.
template <class T, void (*Free)(T*)>
struct OpenSslFree {
  void operator()(T* p) const noexcept { Free(p); }
};
template <class T, void (*Free)(T*)>
using Owner = std::unique_ptr<T, OpenSslFree<T, Free>>;

using X509Ptr = Owner<X509, X509_free>;
using PKeyPtr = Owner<EVP_PKEY, EVP_PKEY_free>;
using MdCtxPtr = Owner<EVP_MD_CTX, EVP_MD_CTX_free>;
using PKeyCtxPtr = Owner<EVP_PKEY_CTX, EVP_PKEY_CTX_free>;
using StorePtr = Owner<X509_STORE, X509_STORE_free>;
using StoreCtxPtr = Owner<X509_STORE_CTX, X509_STORE_CTX_free>;

inline void free_x509_stack(STACK_OF(X509) * s) noexcept { sk_X509_pop_free(s, X509_free); }
using X509StackPtr = Owner<STACK_OF(X509), free_x509_stack>;

// The most recent OpenSSL error as text ("" when none); clears the error queue.
std::string openssl_error();

// DER decoders: nullptr-free results or Error(invalid_input). The input size is
// checked (kMaxDerBytes) before OpenSSL sees it, and all bytes must be consumed.
inline constexpr std::size_t kMaxDerBytes = 64 * 1024;
X509Ptr parse_certificate_der(std::span<const std::uint8_t> der);
PKeyPtr parse_public_key_der(std::span<const std::uint8_t> der);
// The DER inside one PEM "CERTIFICATE" block, without decoding the certificate.
Bytes pem_certificate_der(std::string_view pem);

// Checks that `der` is one DER SEQUENCE with a definite length spanning all bytes
// (cheap; the full decode happens when the certificate is used). Throws
// Error(invalid_input) naming `what`.
void check_der_sequence(std::span<const std::uint8_t> der, const char* what);

Bytes certificate_public_key_der(X509* cert);  // the SubjectPublicKeyInfo as encoded in the certificate
Bytes public_key_der(EVP_PKEY* key);  // i2d_PUBKEY (SubjectPublicKeyInfo)

enum class Hash { sha256, sha512 };
Bytes digest(Hash hash, std::span<const std::uint8_t> data);
inline Bytes sha256(std::span<const std::uint8_t> data) { return digest(Hash::sha256, data); }
Bytes sha256(std::string_view data);

// Verifies `signature` over `message`: ECDSA and RSA PKCS#1 v1.5 with `hash` over
// the message, Ed25519 over the message itself (`hash` ignored). Returns false for
// a bad signature; never throws for bad input.
enum class SignatureHash { sha256, sha384, sha512 };
bool verify_message(EVP_PKEY* key, std::span<const std::uint8_t> message, std::span<const std::uint8_t> signature,
                    SignatureHash hash = SignatureHash::sha256);

// Decodes a trusted-root public key: DER SubjectPublicKeyInfo, or a PKCS#1
// RSAPublicKey when `key_details` is PKCS1_RSA_PKCS1V5. Throws Error(invalid_input).
PKeyPtr parse_log_public_key(std::span<const std::uint8_t> der, std::string_view key_details);
// The hash a log key signs with, from its keyDetails (P-384: SHA-384, P-521: SHA-512).
SignatureHash log_key_hash(std::string_view key_details) noexcept;

// Verifies `signature` over a precomputed SHA-256 `digest` (ECDSA or RSA PKCS#1 v1.5).
bool verify_prehashed_sha256(EVP_PKEY* key, std::span<const std::uint8_t> digest,
                             std::span<const std::uint8_t> signature);

inline std::span<const std::uint8_t> as_bytes(std::string_view s) noexcept {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

}  // namespace kernel_lock::trust::detail
