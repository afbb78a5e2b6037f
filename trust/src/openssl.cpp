#include "openssl.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "kernel_lock/core/error.hpp"

namespace kernel_lock::trust::detail {

std::string openssl_error() {
  std::string text;
  while (const unsigned long code = ERR_get_error()) {
    char buffer[256];
    ERR_error_string_n(code, buffer, sizeof buffer);
    if (!text.empty()) text += "; ";
    text += buffer;
  }
  return text;
}

namespace {

void check_der_size(std::span<const std::uint8_t> der, const char* what) {
  if (der.empty()) throw Error(ErrorCode::invalid_input, std::string(what) + ": empty DER");
  if (der.size() > kMaxDerBytes) {
    throw Error(ErrorCode::invalid_input, std::string(what) + ": DER larger than " + std::to_string(kMaxDerBytes));
  }
}

}  // namespace

X509Ptr parse_certificate_der(std::span<const std::uint8_t> der) {
  check_der_size(der, "certificate");
  const unsigned char* p = der.data();
  X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (!cert) throw Error(ErrorCode::invalid_input, "certificate: invalid DER: " + openssl_error());
  if (p != der.data() + der.size()) throw Error(ErrorCode::invalid_input, "certificate: trailing bytes after DER");
  return cert;
}

PKeyPtr parse_public_key_der(std::span<const std::uint8_t> der) {
  check_der_size(der, "public key");
  const unsigned char* p = der.data();
  PKeyPtr key(d2i_PUBKEY(nullptr, &p, static_cast<long>(der.size())));
  if (!key) throw Error(ErrorCode::invalid_input, "public key: invalid DER: " + openssl_error());
  if (p != der.data() + der.size()) throw Error(ErrorCode::invalid_input, "public key: trailing bytes after DER");
  return key;
}

Bytes pem_certificate_der(std::string_view pem) {
  if (pem.size() > 2 * kMaxDerBytes) throw Error(ErrorCode::invalid_input, "certificate PEM too large");
  Owner<BIO, BIO_free_all> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) throw Error(ErrorCode::generic, "BIO_new_mem_buf failed");
  char* name = nullptr;
  char* header = nullptr;
  unsigned char* data = nullptr;
  long len = 0;
  if (PEM_read_bio(bio.get(), &name, &header, &data, &len) != 1) {
    throw Error(ErrorCode::invalid_input, "certificate: invalid PEM: " + openssl_error());
  }
  const bool is_certificate = std::string_view(name) == "CERTIFICATE";
  Bytes der(data, data + len);
  OPENSSL_free(name);
  OPENSSL_free(header);
  OPENSSL_free(data);
  if (!is_certificate) throw Error(ErrorCode::invalid_input, "PEM block is not a CERTIFICATE");
  return der;
}

void check_der_sequence(std::span<const std::uint8_t> der, const char* what) {
  check_der_size(der, what);
  const auto bad = [&] { return Error(ErrorCode::invalid_input, std::string(what) + ": not a DER SEQUENCE"); };
  if (der.size() < 2 || der[0] != 0x30) throw bad();
  std::size_t length = der[1];
  std::size_t header = 2;
  if (length & 0x80) {
    const std::size_t count = length & 0x7F;
    if (count == 0 || count > 3 || der.size() < 2 + count) throw bad();
    length = 0;
    for (std::size_t i = 0; i < count; ++i) length = (length << 8) | der[2 + i];
    header += count;
  }
  if (header + length != der.size()) throw bad();
}

Bytes certificate_public_key_der(X509* cert) {
  unsigned char* out = nullptr;
  const int n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &out);
  if (n <= 0) throw Error(ErrorCode::generic, "i2d_X509_PUBKEY failed: " + openssl_error());
  Bytes der(out, out + n);
  OPENSSL_free(out);
  return der;
}

Bytes public_key_der(EVP_PKEY* key) {
  unsigned char* out = nullptr;
  const int n = i2d_PUBKEY(key, &out);
  if (n <= 0) throw Error(ErrorCode::generic, "i2d_PUBKEY failed: " + openssl_error());
  Bytes der(out, out + n);
  OPENSSL_free(out);
  return der;
}

Bytes digest(Hash hash, std::span<const std::uint8_t> data) {
  const EVP_MD* md = hash == Hash::sha256 ? EVP_sha256() : EVP_sha512();
  Bytes out(static_cast<std::size_t>(EVP_MD_get_size(md)));
  unsigned int n = 0;
  if (EVP_Digest(data.data(), data.size(), out.data(), &n, md, nullptr) != 1) {
    throw Error(ErrorCode::generic, "EVP_Digest failed: " + openssl_error());
  }
  return out;
}

Bytes sha256(std::string_view data) { return digest(Hash::sha256, as_bytes(data)); }

PKeyPtr parse_log_public_key(std::span<const std::uint8_t> der, std::string_view key_details) {
  if (key_details != "PKCS1_RSA_PKCS1V5") return parse_public_key_der(der);
  check_der_size(der, "public key");
  const unsigned char* p = der.data();
  PKeyPtr key(d2i_PublicKey(EVP_PKEY_RSA, nullptr, &p, static_cast<long>(der.size())));
  if (!key || p != der.data() + der.size()) {
    throw Error(ErrorCode::invalid_input, "public key: invalid PKCS#1 RSA DER: " + openssl_error());
  }
  return key;
}

SignatureHash log_key_hash(std::string_view key_details) noexcept {
  if (key_details == "PKIX_ECDSA_P384_SHA_384") return SignatureHash::sha384;
  if (key_details == "PKIX_ECDSA_P521_SHA_512") return SignatureHash::sha512;
  return SignatureHash::sha256;
}

bool verify_message(EVP_PKEY* key, std::span<const std::uint8_t> message, std::span<const std::uint8_t> signature,
                    SignatureHash hash) {
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx) throw Error(ErrorCode::generic, "EVP_MD_CTX_new failed");
  const int id = EVP_PKEY_get_base_id(key);
  const EVP_MD* md = hash == SignatureHash::sha384 ? EVP_sha384() : hash == SignatureHash::sha512 ? EVP_sha512() : EVP_sha256();
  if (id == EVP_PKEY_ED25519 || id == EVP_PKEY_ED448) md = nullptr;
  if (EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, key) != 1) {
    openssl_error();
    return false;
  }
  const int rc = EVP_DigestVerify(ctx.get(), signature.data(), signature.size(), message.data(), message.size());
  openssl_error();  // a failed verification leaves entries in the error queue
  return rc == 1;
}

bool verify_prehashed_sha256(EVP_PKEY* key, std::span<const std::uint8_t> digest_bytes,
                             std::span<const std::uint8_t> signature) {
  const int id = EVP_PKEY_get_base_id(key);
  if (id != EVP_PKEY_EC && id != EVP_PKEY_RSA) return false;
  PKeyCtxPtr ctx(EVP_PKEY_CTX_new(key, nullptr));
  if (!ctx) throw Error(ErrorCode::generic, "EVP_PKEY_CTX_new failed");
  bool ok = EVP_PKEY_verify_init(ctx.get()) == 1 && EVP_PKEY_CTX_set_signature_md(ctx.get(), EVP_sha256()) == 1;
  if (ok && id == EVP_PKEY_RSA) ok = EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PADDING) == 1;
  ok = ok && EVP_PKEY_verify(ctx.get(), signature.data(), signature.size(), digest_bytes.data(),
                             digest_bytes.size()) == 1;
  openssl_error();
  return ok;
}

}  // namespace kernel_lock::trust::detail
