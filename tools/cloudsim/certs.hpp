#pragma once

#include <string>

/// Test certificates for cloudsim (--make-certs), made with OpenSSL's API.
namespace roamd::cloudsim {

/// Writes into `dir` (created if missing): ca.pem, a fresh self-signed test CA (its key is thrown away, so nothing
/// else can ever be signed by it), and server.pem/server.key (mode 0600), an EC P-256 server certificate signed by
/// that CA for the IP address `ip` and the DNS name `name` (subjectAltName), serverAuth, valid from an hour ago
/// for `days` days. "" on success, else what failed.
std::string make_certs(const std::string& dir, const std::string& ip, const std::string& name, int days = 365);

} // namespace roamd::cloudsim
