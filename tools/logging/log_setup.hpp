#pragma once

#include <string>
#include <string_view>

#include <sys/types.h>

namespace roamd::logging {

/// Where log lines go.
enum class log_destination { standard_error, journal };

/// The journal's native-protocol socket, the one sd_journal_sendv writes to.
constexpr const char* journal_socket_path = "/run/systemd/journal/socket";

/// What the process can see when it picks a destination.
struct log_environment {
  std::string journal_stream;   ///< $JOURNAL_STREAM ("DEVICE:INODE"), empty when unset.
  bool stderr_open = false;     ///< fstat(2) of fd 2 succeeded; then the two fields below are valid.
  dev_t stderr_device = 0;
  ino_t stderr_inode = 0;
  bool journal_socket = false;  ///< journal_socket_path is a socket.
};

/// A destination and, when the configured one could not be had, the warning to log once.
struct log_choice {
  log_destination destination = log_destination::standard_error;
  std::string warning;
};

/// Tells whether systemd's JOURNAL_STREAM value ("DEVICE:INODE", both decimal; see systemd.exec(5)) names the
/// file with `device` and `inode`, i.e. whether stderr is still the stream systemd connected to the journal.
bool names_stream(std::string_view journal_stream, dev_t device, ino_t inode);

/// Picks where logs go for [daemon] log_target: "stderr"; "journald" (stderr with a warning when the journal's
/// socket is missing); "auto": the journal when stderr is the stream JOURNAL_STREAM names, else stderr.
log_choice choose_destination(std::string_view target, const log_environment& env);

/// Reads what choose_destination() needs from this process: JOURNAL_STREAM, fstat(2) of fd 2 and the socket.
log_environment current_environment();

/// Installs "roamd" as spdlog's default logger at `level` ("trace" ... "off") for `target` (see
/// choose_destination), then logs the choice's warning, if any. Lines on stderr carry colour codes only when
/// stderr is a terminal.
void setup(std::string_view level, std::string_view target);

} // namespace roamd::logging
