// source/pcap_api: libpcap is loaded at run time; a missing library gives a clear error (what is
// missing and which package has it), through PcapSource::open too.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "source/pcap_api.hpp"
#include "source/pcap_source.hpp"

namespace overflowd::source {
namespace {

TEST(PcapApi, MissingLibraryIsAClearError) {
  auto api = load_pcap_api("libpcap-not-installed.so.0");
  ASSERT_FALSE(api.has_value());
  EXPECT_NE(api.error().find("needs libpcap (Debian package libpcap0.8)"), std::string::npos) << api.error();
  EXPECT_NE(api.error().find("libpcap-not-installed.so.0"), std::string::npos) << api.error();  // dlerror's reason
}

TEST(PcapApi, LibraryWithoutTheFunctionsIsRefused) {
  auto api = load_pcap_api("libc.so.6");  // loads, but has no pcap_* function
  ASSERT_FALSE(api.has_value());
  EXPECT_NE(api.error().find("missing pcap_open_offline_with_tstamp_precision"), std::string::npos) << api.error();
}

TEST(PcapApi, TheInstalledLibraryLoads) {
  auto api = load_pcap_api(kLibpcapName);
  ASSERT_TRUE(api.has_value()) << api.error();
  EXPECT_NE(api->statustostr(PCAP_ERROR_NO_SUCH_DEVICE), nullptr);
}

// The process-wide loader reads OVERFLOWD_LIBPCAP once, on the first open: set here before any.
TEST(PcapApi, OpenWithoutLibpcapSaysSo) {
  ASSERT_EQ(::setenv("OVERFLOWD_LIBPCAP", "libpcap-not-installed.so.0", 1), 0);
  auto src = PcapSource::open(std::string("/nonexistent/capture.pcap"));
  ::unsetenv("OVERFLOWD_LIBPCAP");
  ASSERT_FALSE(src.has_value());
  EXPECT_NE(src.error().find("/nonexistent/capture.pcap: reading a capture needs libpcap"), std::string::npos) << src.error();
}

}  // namespace
}  // namespace overflowd::source
